//! SLOWLOG GET/LEN/RESET/HELP: the commands that ran for at least `slowlog-log-slower-than`
//! microseconds (−1 turns the log off, 0 logs everything), newest first, at most
//! `slowlog-max-len` of them. Entries, replies and limits are Redis's (`slowlog.c`): at most 32
//! arguments (the last one then says how many more there were), each cut to 128 bytes, the
//! client's address and name, and ids that RESET does not restart.
//!
//! [`record`] runs after every command a client, a transaction or a script runs (as in Redis,
//! a script's commands are logged as its script client's, address `?:0`), but does work only
//! past the threshold: one relaxed load otherwise. Commands flagged `SKIP_SLOWLOG` (EXEC, whose
//! commands are logged one by one) are not logged, and passwords and users' rules (AUTH,
//! HELLO's AUTH, MIGRATE's, ACL SETUSER, CONFIG SET of a password) show as `(redacted)`, as in
//! Redis.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::args::is;
use super::{cmd, flag::*, CommandSpec, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::protocol::resp::Args;

/// Arguments kept per entry (`SLOWLOG_ENTRY_MAX_ARGC`).
const MAX_ARGS: usize = 32;
/// Bytes kept per argument (`SLOWLOG_ENTRY_MAX_STRING`).
const MAX_ARG_BYTES: usize = 128;

const ADMIN_ACL: &[&str] = &["admin", "slow", "dangerous"];

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "slowlog",
    arity: -2,
    flags: 0,
    keys: (0, 0, 0),
    acl: &["slow"],
    group: "server",
    summary: "A container for slow log commands.",
    syntax: "",
    since: "2.2.12",
    complexity: "Depends on subcommand.",
    handler: super::container,
    subcommands: &[
        cmd!(
            "get",
            -2,
            ADMIN | LOADING | STALE,
            (0, 0, 0),
            ADMIN_ACL,
            "server",
            slowlog_get,
            "Returns the slow log's entries.",
            "[count]",
            "2.2.12",
            "O(N) where N is the number of entries returned"
        ),
        cmd!(
            "len",
            2,
            ADMIN | LOADING | STALE,
            (0, 0, 0),
            ADMIN_ACL,
            "server",
            slowlog_len,
            "Returns the number of entries in the slow log.",
            "",
            "2.2.12",
            "O(1)"
        ),
        cmd!(
            "reset",
            2,
            ADMIN | LOADING | STALE,
            (0, 0, 0),
            ADMIN_ACL,
            "server",
            slowlog_reset,
            "Clears all entries from the slow log.",
            "",
            "2.2.12",
            "O(N) where N is the number of entries in the slowlog"
        ),
        cmd!(
            "help",
            2,
            LOADING | STALE,
            (0, 0, 0),
            &["slow"],
            "server",
            slowlog_help,
            "Show helpful text about the different subcommands",
            "",
            "6.2.0",
            "O(1)"
        ),
    ],
}];

/// One logged command.
#[derive(Debug)]
pub struct Entry {
    id: u64,
    unix_secs: u64,
    micros: u64,
    args: Vec<Vec<u8>>,
    addr: String,
    name: Vec<u8>,
}

/// The log: newest entry first.
#[derive(Default)]
pub struct SlowLog {
    inner: Mutex<Log>,
}

#[derive(Default)]
struct Log {
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// Who ran a logged command: the client, or a script it ran (Redis's script client).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    Client,
    Script,
}

/// Logs the command in `args` that ran for `micros`, if the threshold says so.
pub fn record(ctx: &Ctx, spec: &CommandSpec, args: &Args, micros: u64, caller: Caller) {
    // Checked before the entry is built: most commands are not logged.
    if !slow_enough(ctx.srv, micros) {
        return;
    }
    if let Some(e) = entry(ctx, spec, args, caller) {
        push(ctx.srv, e, micros);
    }
}

/// Whether a command that ran `micros` goes in the log (`slowlog-log-slower-than`; negative:
/// the log is off).
fn slow_enough(srv: &crate::server::Server, micros: u64) -> bool {
    let limit = srv
        .config
        .hot
        .slowlog_log_slower_than
        .load(Ordering::Relaxed);
    u64::try_from(limit).is_ok_and(|l| micros >= l)
}

/// The log's entry for a command, time not yet known: `None` when the log is off or the command
/// is exempt. A blocking command keeps its entry while it waits (`session::Blocked`), and it is
/// pushed when the command is served, as Redis logs it then.
pub fn entry(ctx: &Ctx, spec: &CommandSpec, args: &Args, caller: Caller) -> Option<Entry> {
    let hot = &ctx.srv.config.hot;
    if hot.slowlog_log_slower_than.load(Ordering::Relaxed) < 0 || spec.flags & SKIP_SLOWLOG != 0 {
        return None;
    }
    let redacted = redacted(args);
    let n = args.len().min(MAX_ARGS);
    let kept = (0..n)
        .map(|j| {
            if n != args.len() && j == n - 1 {
                format!("... ({} more arguments)", args.len() - n + 1).into_bytes()
            } else if redacted & (1 << j) != 0 {
                b"(redacted)".to_vec()
            } else {
                let a = args.get(j);
                let mut v = a[..a.len().min(MAX_ARG_BYTES)].to_vec();
                if a.len() > MAX_ARG_BYTES {
                    v.extend(format!("... ({} more bytes)", a.len() - MAX_ARG_BYTES).bytes());
                }
                v
            }
        })
        .collect();
    Some(Entry {
        id: 0, // set under the lock
        unix_secs: 0,
        micros: 0,
        args: kept,
        addr: match caller {
            Caller::Client => ctx.sess.info.addr.clone(),
            Caller::Script => "?:0".into(),
        },
        name: match caller {
            Caller::Client => ctx.sess.info.name.lock().clone(),
            Caller::Script => Vec::new(),
        },
    })
}

/// Logs `entry` if `micros` reaches `slowlog-log-slower-than`.
pub fn push(srv: &crate::server::Server, mut entry: Entry, micros: u64) {
    if !slow_enough(srv, micros) {
        return;
    }
    let hot = &srv.config.hot;
    entry.micros = micros;
    entry.unix_secs = crate::util::now_ms() / 1000;
    let max = hot.slowlog_max_len.load(Ordering::Relaxed) as usize;
    let mut log = srv.slowlog.inner.lock();
    entry.id = log.next_id;
    log.next_id += 1;
    log.entries.push_front(entry);
    log.entries.truncate(max);
}

/// The arguments Redis hides from the log (bit j: argument j, below [`MAX_ARGS`]): AUTH's,
/// HELLO's after AUTH, MIGRATE's credentials, all of ACL SETUSER's, and the values of the
/// password settings CONFIG SET sets (Redis's `redactClientCommandArgument`).
fn redacted(args: &Args) -> u64 {
    let from = |i: usize| u64::MAX.checked_shl(i as u32).unwrap_or(0);
    let name = args.get(0);
    let arg_is = |i: usize, s: &str| i < args.len() && is(args.get(i), s);
    if is(name, "auth") {
        from(1)
    } else if is(name, "hello") {
        (2..args.len())
            .find(|&i| arg_is(i, "auth"))
            .map_or(0, |i| from(i + 1))
    } else if is(name, "migrate") {
        // From the target's credentials on (keys after them too: never less than Redis hides).
        (6..args.len())
            .find(|&i| arg_is(i, "auth") || arg_is(i, "auth2"))
            .map_or(0, |i| from(i + 1))
    } else if is(name, "acl") && arg_is(1, "setuser") {
        from(2)
    } else if is(name, "config") && arg_is(1, "set") {
        (2..args.len().min(MAX_ARGS))
            .step_by(2)
            .filter(|&i| {
                ["requirepass", "masterauth", "masteruser"]
                    .iter()
                    .any(|s| arg_is(i, s))
            })
            .fold(0, |bits, i| bits | 1 << (i + 1))
    } else {
        0
    }
}

fn slowlog_get(ctx: &mut Ctx, a: Args) -> CmdResult {
    if a.len() > 3 {
        return Err(crate::error::subcommand_syntax(a.get(1), "slowlog"));
    }
    let count = if a.len() > 2 {
        const ERR: &str = "ERR count should be greater than or equal to -1";
        match crate::util::num::parse_i64(a.get(2)) {
            Some(-1) => usize::MAX,
            Some(n) if n >= 0 => n as usize,
            _ => return Err(CmdError::from(ERR)),
        }
    } else {
        10
    };
    let log = ctx.srv.slowlog.inner.lock();
    let shown = log.entries.len().min(count);
    ctx.out.array(shown);
    for e in log.entries.iter().take(shown) {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.unix_secs as i64);
        ctx.out.int(e.micros as i64);
        ctx.out.array(e.args.len());
        for arg in &e.args {
            ctx.out.bulk(arg);
        }
        ctx.out.bulk(e.addr.as_bytes());
        ctx.out.bulk(&e.name);
    }
    Ok(())
}

fn slowlog_len(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let n = ctx.srv.slowlog.inner.lock().entries.len();
    ctx.out.int(n as i64);
    Ok(())
}

fn slowlog_reset(ctx: &mut Ctx, _a: Args) -> CmdResult {
    ctx.srv.slowlog.inner.lock().entries.clear();
    ctx.out.ok();
    Ok(())
}

fn slowlog_help(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let lines = [
        "GET [<count>]",
        "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
        "    Entries are made of:",
        "    id, timestamp, time in microseconds, arguments array, client IP and port,",
        "    client name",
        "LEN",
        "    Return the length of the slowlog.",
        "RESET",
        "    Reset the slowlog.",
    ];
    super::subcommand_help(ctx, "SLOWLOG", &lines);
    Ok(())
}
