//! Transactions: MULTI EXEC DISCARD WATCH UNWATCH, with Redis 7's semantics.
//!
//! Between MULTI and EXEC the dispatcher hands every command but the few Redis runs at once
//! (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET) to [`queue`], which copies its arguments and
//! replies `+QUEUED`. Errors found while queueing (unknown command, arity, a `no_multi` command,
//! a refused command) are replied at once and doom the transaction: EXEC then replies
//! `EXECABORT`. Errors while EXEC runs are just replies in its array; nothing is rolled back.
//!
//! EXEC is an exclusive command: it holds the world lock exclusively, so no other client runs
//! while the queued commands do (Redis's isolation), and their changes are captured
//! (`keyspace::txn`) and committed once at the end — one transaction id (`tx`) and count
//! (`tx-n`) on consecutive offsets of the change log. Blocking commands behave as if their
//! timeout expired at once (Redis's `CLIENT_DENY_BLOCKING`), and clients blocked on keys the
//! transaction pushed to are served after it.
//!
//! WATCH registers the keys in the keyspace's watch registry; commits mark the watchers of the
//! keys they change (see `keyspace::txn` for how every kind of change, expiry and FLUSHALL
//! included, is covered). EXEC fails with a null reply if the session's flag was set or a
//! watched key has expired since it was watched. EXEC, DISCARD, UNWATCH, RESET and closing the
//! connection unwatch everything (dropping [`TxState`]'s watch state does it).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use super::{cmd, flag::*, table, CommandSpec, Ctx, Resolved};
use crate::changes::Who;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::blocking::{self, Op};
use crate::keyspace::txn::{self, DirtyFlag, Registry};
use crate::keyspace::value::Key;
use crate::protocol::resp::{Args, Out};
use crate::server::session::{Action, Session};
use crate::server::Server;

const T: &[&str] = &["transaction"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "multi",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        T,
        "transactions",
        multi,
        "Starts a transaction.",
        "",
        "1.2.0",
        "O(1)"
    ),
    cmd!(
        "exec",
        1,
        NOSCRIPT | LOADING | STALE | SKIP_SLOWLOG | EXCLUSIVE,
        (0, 0, 0),
        T,
        "transactions",
        exec,
        "Executes all commands in a transaction.",
        "",
        "1.2.0",
        "Depends on commands in the transaction"
    ),
    cmd!(
        "discard",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        T,
        "transactions",
        discard,
        "Discards a transaction.",
        "",
        "2.0.0",
        "O(N), when N is the number of queued commands"
    ),
    cmd!(
        "watch",
        -2,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (1, -1, 1),
        T,
        "transactions",
        watch,
        "Monitors changes to keys to determine the execution of a transaction.",
        "key [key ...]",
        "2.2.0",
        "O(1) for every key."
    ),
    cmd!(
        "unwatch",
        1,
        NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY,
        (0, 0, 0),
        T,
        "transactions",
        unwatch,
        "Forgets about watched keys of a transaction.",
        "",
        "2.2.0",
        "O(1)"
    ),
];

/// A session's transaction state: the MULTI queue and the WATCHed keys.
#[derive(Default)]
pub struct TxState {
    /// Some between MULTI and EXEC/DISCARD.
    queue: Option<Box<Queue>>,
    /// Some from the first WATCH until EXEC, DISCARD, UNWATCH or RESET; dropping it unwatches.
    watch: Option<Box<Watching>>,
}

/// The commands queued since MULTI, their arguments copied back to back.
#[derive(Default)]
struct Queue {
    bytes: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    /// (command id, its first range, the end of its ranges).
    cmds: Vec<(usize, usize, usize)>,
    /// A command was refused while queueing (Redis's `CLIENT_DIRTY_EXEC`): EXEC aborts.
    failed: bool,
}

/// A session's watched keys and its "a watched key changed" flag (Redis's `CLIENT_DIRTY_CAS`).
struct Watching {
    reg: Arc<Registry>,
    client: u64,
    dirty: DirtyFlag,
    /// (db, registry slot, key).
    keys: Vec<(usize, usize, Key)>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        for (db, slot, key) in &self.keys {
            self.reg.unwatch(*slot, *db, key, self.client);
        }
    }
}

impl Watching {
    fn dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    /// Redis's `isWatchedKeyExpired`: a watched key, alive when watched, has expired since
    /// (whether or not anything deleted it yet; a deletion would have set the flag).
    fn any_expired(&self, ctx: &Ctx) -> bool {
        let srv = ctx.srv;
        self.keys.iter().any(|(db, slot, key)| {
            let mut l = srv
                .keyspace
                .lock(&srv.log, ctx.who(), *db, ctx.now, &[key.as_slice()]);
            l.db_mut(*db, key).is_expired(key, ctx.now)
                && !self.reg.watched_expired(*slot, *db, key, self.client)
        })
    }
}

impl TxState {
    /// Between MULTI and EXEC/DISCARD.
    #[inline]
    pub fn in_multi(&self) -> bool {
        self.queue.is_some()
    }

    /// Whether a queued command has all of `flags` (EXEC of a transaction that may grow memory
    /// is refused under `maxmemory`, as Redis refuses it).
    pub fn queued_with(&self, flags: u32) -> bool {
        let t = super::table();
        self.queue.as_ref().is_some_and(|q| {
            q.cmds
                .iter()
                .any(|&(id, _, _)| t.specs[id].flags & flags == flags)
        })
    }

    /// A command was refused while queueing (Redis's `flagTransaction`): EXEC will abort.
    pub fn flag(&mut self) {
        if let Some(q) = self.queue.as_mut() {
            q.failed = true;
        }
    }

    /// Queued commands, or -1 outside MULTI (CLIENT LIST's `multi=`).
    pub fn queued(&self) -> i64 {
        self.queue.as_ref().map_or(-1, |q| q.cmds.len() as i64)
    }

    /// Whether a queued command satisfies `f`: Redis decides on the union of the queued
    /// commands' flags (e.g. CLIENT PAUSE WRITE holds EXEC back only if its queue may write).
    pub fn queued_any(&self, f: impl Fn(&'static CommandSpec) -> bool) -> bool {
        let t = table();
        self.queue
            .as_ref()
            .is_some_and(|q| q.cmds.iter().any(|&(id, _, _)| f(t.specs[id])))
    }

    /// Leaves MULTI and unwatches everything (DISCARD, RESET, an aborted EXEC).
    pub fn discard(&mut self) {
        self.queue = None;
        self.watch = None;
    }
}

/// Commands that run at once inside MULTI instead of being queued (Redis's `processCommand`).
fn runs_in_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// The dispatcher's hook while the session is in MULTI: queues the command (or refuses a
/// `no_multi` one, dooming the transaction) and returns true; false for the commands that run
/// at once.
pub fn queue(ctx: &mut Ctx, r: &Resolved, args: &Args) -> bool {
    let t = table();
    if runs_in_multi(&t.full_names[r.id]) {
        return false;
    }
    let Some(q) = ctx.sess.tx.queue.as_mut() else {
        return false;
    };
    if r.spec.flags & NO_MULTI != 0 {
        q.failed = true;
        t.stats[r.id].rejected.fetch_add(1, Ordering::Relaxed);
        ctx.out.error(error::NOT_IN_MULTI);
        return true;
    }
    let first = q.ranges.len();
    for a in args.iter() {
        let s = q.bytes.len();
        q.bytes.extend_from_slice(a);
        q.ranges.push((s, q.bytes.len()));
    }
    q.cmds.push((r.id, first, q.ranges.len()));
    ctx.out.simple("QUEUED");
    true
}

/// Replies to a command that could not be resolved (unknown, wrong arity) or was refused
/// before it ran (another client's script is busy). Inside MULTI this
/// dooms the transaction. An EXEC refused this way, in MULTI or not, replies `EXECABORT` and
/// discards the transaction and the watched keys at once (Redis's `rejectCommand`).
pub fn rejected(srv: &Server, sess: &mut Session, args: &Args, e: &CmdError, out: &mut Out) {
    if sess.from_primary() {
        crate::server::follow::primary_command_failed(args, e.as_str());
    }
    let abort;
    let e = if args.get(0).eq_ignore_ascii_case(b"exec") {
        sess.tx.discard();
        abort = error::exec_abort(e.as_str());
        abort.as_str()
    } else {
        sess.tx.flag();
        e.as_str()
    };
    srv.stats.error_reply(e);
    out.error(e);
}

fn multi(ctx: &mut Ctx, _a: Args) -> CmdResult {
    if ctx.sess.tx.in_multi() {
        return Err(error::MULTI_NESTED.into());
    }
    ctx.sess.tx.queue = Some(Box::default());
    ctx.out.ok();
    Ok(())
}

fn discard(ctx: &mut Ctx, _a: Args) -> CmdResult {
    if !ctx.sess.tx.in_multi() {
        return Err(error::DISCARD_WITHOUT_MULTI.into());
    }
    ctx.sess.tx.discard();
    ctx.out.ok();
    Ok(())
}

fn watch(ctx: &mut Ctx, a: Args) -> CmdResult {
    if ctx.sess.tx.in_multi() {
        return Err(error::WATCH_IN_MULTI.into());
    }
    let srv = ctx.srv;
    let (db, client, now) = (ctx.sess.db, ctx.sess.id, ctx.now);
    let w = ctx.sess.tx.watch.get_or_insert_with(|| {
        Box::new(Watching {
            reg: srv.keyspace.watches.clone(),
            client,
            dirty: Arc::new(AtomicBool::new(false)),
            keys: Vec::new(),
        })
    });
    // Once a watched key changed, EXEC fails whatever else is watched.
    if !w.dirty() {
        for key in a.iter().skip(1) {
            if w.keys
                .iter()
                .any(|(d, _, k)| *d == db && k.as_slice() == key)
            {
                continue;
            }
            let slot = srv.keyspace.shard_of(key);
            // Registered under the key's shard lock: a change commits either before (and is
            // not seen) or after (and marks this client).
            let mut l = srv
                .keyspace
                .lock(&srv.log, Who::client(client), db, now, &[key]);
            let d = l.db_mut(db, key);
            let existed = d.keys.contains_key(key);
            let expired = existed && d.is_expired(key, now);
            w.reg
                .watch(slot, db, key, client, &w.dirty, existed, expired);
            drop(l);
            w.keys.push((db, slot, Key::from_slice(key)));
        }
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx, _a: Args) -> CmdResult {
    ctx.sess.tx.watch = None;
    ctx.out.ok();
    Ok(())
}

fn exec(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let Some(q) = ctx.sess.tx.queue.take() else {
        return Err(error::EXEC_WITHOUT_MULTI.into());
    };
    // EXEC unwatches in every case, before its commands run (their own writes must not count).
    let watch = ctx.sess.tx.watch.take();
    if q.failed {
        return Err(error::EXECABORT.into());
    }
    if watch
        .as_ref()
        .is_some_and(|w| w.dirty() || w.any_expired(ctx))
    {
        ctx.out.null_array();
        return Ok(());
    }
    drop(watch);
    run_queued(ctx, &q);
    Ok(())
}

/// Runs the queued commands with their changes captured into one commit.
fn run_queued(ctx: &mut Ctx, q: &Queue) {
    let t = table();
    let srv = ctx.srv;
    ctx.out.array(q.cmds.len());
    let capture = txn::begin(&srv.keyspace, &srv.log, ctx.who(), ctx.now);
    let mut clock = Instant::now();
    for &(id, from, to) in &q.cmds {
        let r = Resolved {
            id,
            spec: t.specs[id],
        };
        let args = Args::new(&q.bytes, q.ranges.get(from..to).unwrap_or(&[]));
        // The rules may have changed since the command was queued: each is checked again.
        if let Some(d) = super::acl_refused(ctx, id, args, super::AclContext::Exec) {
            ctx.out.error(&d.exec_error());
            continue;
        }
        super::logged_call(ctx, &r, args, &mut clock);
        // HELLO inside the transaction switches the protocol of the replies after it.
        ctx.out.resp3 = ctx.sess.resp3;
        if matches!(ctx.sess.action, Some(Action::Block(_))) {
            no_block(ctx);
        }
    }
    capture.finish();
}

/// A blocking command found no data inside EXEC (or a script): as in Redis it does not wait but replies as if
/// its timeout had expired (BLMOVE and BRPOPLPUSH with a null bulk, the others a null array).
pub(crate) fn no_block(ctx: &mut Ctx) {
    let Some(Action::Block(mut b)) = ctx.sess.action.take() else {
        return;
    };
    let srv = ctx.srv;
    if blocking::cancel(srv, &b.waiter) {
        match b.waiter.op {
            Op::Move { .. } => ctx.out.null(),
            _ => ctx.out.null_array(),
        }
    } else if let Ok(reply) = b.rx.try_recv() {
        // Served meanwhile (nothing else runs during EXEC, so this is defensive).
        ctx.out.buf.extend_from_slice(&reply);
    } else {
        ctx.out.null_array();
    }
    blocking::finish(srv, &b.waiter);
}
