//! MONITOR: every command the server runs, as Redis prints it, pushed to monitoring connections.
//!
//! ## What is shown, and when
//! As in Redis 7, a command is shown once it has run (so its database is the one it left selected:
//! `SELECT 1` shows as `[1 ...]`), whatever its outcome, and not at all if it was refused before
//! running (unknown command, arity, NOAUTH, LOADING, pub/sub context, a paused client still
//! waiting). Commands flagged `admin` or `skip_monitor` are never shown (CONFIG, DEBUG, CLIENT
//! LIST/KILL, MONITOR itself, ...), nor is QUIT. AUTH, HELLO and MIGRATE replace the credentials
//! they parsed with `(redacted)`: the handlers mark the argument positions ([`redact`]) exactly
//! where Redis's `redactClientCommandArgument` would, so what is hidden depends on how far parsing
//! got, as in Redis. The commands of a MULTI/EXEC are shown when EXEC runs them (each goes through
//! the dispatcher), followed by EXEC itself — the order Redis 7 prints. A script command (EVAL,
//! EVALSHA, FCALL and their `_RO` forms) is shown before it runs, and the commands the script
//! calls as the script client's: address `lua` ([`as_script`]), as Redis shows them.
//!
//! A line is `+<unix seconds>.<microseconds> [<db> <ip:port>] "arg" "arg" ...` with Redis's
//! `sdscatrepr` escaping. A monitor sees its own commands too, after their replies.
//!
//! ## Delivery
//! Lines go through the monitor's pub/sub queue (see the parent module): the command that
//! produced a line never waits for a monitor. The queue's bytes count against the `pubsub` class
//! of `client-output-buffer-limit` (32 MB hard, 8 MB for 60 s soft by default); a monitor that
//! falls further behind is disconnected, as a slow subscriber is. (Redis counts a monitor as a
//! `normal` client, unlimited by default; Eddy does not let a stalled monitor grow memory without
//! bound.)
//!
//! ## Cost
//! With no monitor connected, the only cost is one atomic load per batch of commands
//! ([`Monitors::active`], read by the connection loop): the dispatcher's hook is skipped on a
//! per-batch flag. With monitors, each shown command is formatted once and its bytes shared by
//! every monitor's queue.
//!
//! A monitor connection may keep sending commands that do not touch the keyspace (PING, QUIT,
//! RESET ends monitoring); reads, writes and PUBLISH get Redis's
//! `Replica can't interact with the keyspace` (a monitor is a replica in Redis). Monitors are
//! never paused by CLIENT PAUSE and never disconnected by `timeout`.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use super::{PubSub, Subscriber};
use crate::commands::{flag, Ctx, Resolved};
use crate::protocol::resp::Args;

/// The error a monitor gets for a command that touches the keyspace.
pub const REPLICA_KEYSPACE: &str = "ERR Replica can't interact with the keyspace";

/// The connections in MONITOR mode.
#[derive(Default)]
pub struct Monitors {
    count: AtomicUsize,
    list: RwLock<Vec<Arc<Subscriber>>>,
}

impl Monitors {
    /// Whether anybody monitors: the connection loop's one load per batch.
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Acquire) > 0
    }

    pub(super) fn add(&self, s: &Arc<Subscriber>) {
        let mut l = self.list.write();
        l.push(s.clone());
        self.count.store(l.len(), Ordering::Release);
    }

    pub(super) fn remove(&self, id: u64) {
        let mut l = self.list.write();
        l.retain(|s| s.id != id);
        self.count.store(l.len(), Ordering::Release);
    }
}

thread_local! {
    /// Argument positions the running AUTH/HELLO/MIGRATE redacted (bit i = argument i).
    static REDACTED: Cell<u64> = const { Cell::new(0) };
    /// A script's `redis.call` is running on this thread ([`as_script`]).
    static IN_SCRIPT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, a command a script called: monitors show it with the address `lua`, as Redis shows
/// its script client's commands.
pub fn as_script<R>(f: impl FnOnce() -> R) -> R {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            IN_SCRIPT.with(|c| c.set(false));
        }
    }
    IN_SCRIPT.with(|c| c.set(true));
    let _reset = Reset;
    f()
}

/// Starts a command that may redact arguments (AUTH, HELLO, MIGRATE): forgets earlier marks.
pub fn redact_reset() {
    REDACTED.with(|r| r.set(0));
}

/// Marks argument `i` of the running command to be shown as `(redacted)`.
pub fn redact(i: usize) {
    if i < 64 {
        REDACTED.with(|r| r.set(r.get() | 1 << i));
    }
}

/// Appends `arg` quoted and escaped as Redis's `sdscatrepr`.
pub fn repr(out: &mut Vec<u8>, arg: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &c in arg {
        match c {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', c]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(&[
                b'\\',
                b'x',
                HEX[(c >> 4) as usize],
                HEX[(c & 15) as usize],
            ]),
        }
    }
    out.push(b'"');
}

/// One MONITOR line, CRLF included. `redacted` has bit i set for each hidden argument.
pub fn line(unix_us: u64, db: usize, addr: &str, args: Args, redacted: u64) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(48 + addr.len() + args.iter().map(|a| a.len() + 3).sum::<usize>());
    let mut b = itoa::Buffer::new();
    out.push(b'+');
    out.extend_from_slice(b.format(unix_us / 1_000_000).as_bytes());
    out.push(b'.');
    let us = unix_us % 1_000_000;
    let us = b.format(us).as_bytes();
    out.extend(std::iter::repeat_n(b'0', 6 - us.len()));
    out.extend_from_slice(us);
    out.extend_from_slice(b" [");
    out.extend_from_slice(b.format(db).as_bytes());
    out.push(b' ');
    out.extend_from_slice(addr.as_bytes());
    out.extend_from_slice(b"] ");
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if i < 64 && redacted & (1 << i) != 0 {
            repr(&mut out, b"(redacted)");
        } else {
            repr(&mut out, a);
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Whether this connection is a monitor.
pub fn is_monitor(ctx: &Ctx) -> bool {
    ctx.sess.pubsub.as_ref().is_some_and(|p| p.is_monitor())
}

/// Whether a monitor must be refused `r` (reads, writes, PUBLISH: Redis's check on replicas).
pub fn refused(ctx: &Ctx, r: &Resolved) -> bool {
    is_monitor(ctx)
        && (r.spec.flags & flag::READONLY != 0 || crate::server::pause::may_replicate(r.spec))
}

/// Shows a script command (EVAL, EVALSHA, FCALL and their `_RO` forms) before it runs, as
/// Redis does: they are `skip_monitor` for the dispatcher, and their line comes before those of
/// the commands the script calls (even when the script then fails or is not found).
pub fn feed_script(ctx: &mut Ctx, args: Args) {
    if ctx.sess.monitors_seen && ctx.srv.pubsub.monitors.active() {
        show(ctx, args, 0);
    }
}

/// Shows a command that has just run to every monitor (the dispatcher calls this only in a
/// batch that saw a monitor). The caller's own line goes after its reply, as in Redis.
pub fn feed(ctx: &mut Ctx, r: &Resolved, args: Args) {
    if r.spec.flags & (flag::SKIP_MONITOR | flag::ADMIN) != 0 {
        return;
    }
    if !ctx.srv.pubsub.monitors.active() {
        return;
    }
    let full = &crate::commands::table().full_names[r.id];
    if full == "quit" {
        // Redis 7.0 answers QUIT before dispatching it: monitors never see it.
        return;
    }
    let redacted = if full == "auth" || full == "hello" || full == "migrate" {
        REDACTED.with(|c| c.replace(0))
    } else {
        0
    };
    show(ctx, args, redacted);
}

fn show(ctx: &mut Ctx, args: Args, redacted: u64) {
    let ps: &PubSub = &ctx.srv.pubsub;
    let addr = if IN_SCRIPT.with(Cell::get) {
        "lua"
    } else {
        ctx.sess.info.addr.as_str()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0);
    let text = Bytes::from(line(now, ctx.sess.db, addr, args, redacted));
    let me = ctx.sess.id;
    for m in ps.monitors.list.read().iter() {
        if m.id == me {
            super::after_reply(me, &text);
        } else {
            m.deliver(ps, &text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args_of<'a>(base: &'a [u8], ranges: &'a [(usize, usize)]) -> Args<'a> {
        Args::new(base, ranges)
    }

    #[test]
    fn lines_escape_like_sdscatrepr() {
        let base = b"SETa\\b\t\r\x07\x08\x7f\"\n\x00\xc3\xa9";
        let ranges = [(0, 3), (3, 6), (6, 13), (13, base.len())];
        let l = line(
            1_700_000_000_000_042,
            3,
            "127.0.0.1:5",
            args_of(base, &ranges),
            0,
        );
        assert_eq!(
            String::from_utf8(l).unwrap(),
            "+1700000000.000042 [3 127.0.0.1:5] \"SET\" \"a\\\\b\" \"\\t\\r\\a\\b\\x7f\\\"\\n\" \
             \"\\x00\\xc3\\xa9\"\r\n"
        );
    }

    #[test]
    fn redacted_arguments_are_replaced() {
        let base = b"AUTHuserpass";
        let ranges = [(0, 4), (4, 8), (8, 12)];
        let l = line(1_000_000, 0, "[::1]:9", args_of(base, &ranges), 0b110);
        assert_eq!(
            String::from_utf8(l).unwrap(),
            "+1.000000 [0 [::1]:9] \"AUTH\" \"(redacted)\" \"(redacted)\"\r\n"
        );
    }
}
