//! Blocked clients: BLPOP/BRPOP/BLMOVE/BRPOPLPUSH/BLMPOP waiters, and the hand-off that serves
//! them.
//!
//! ## Design
//! * Each shard keeps a [`Waiters`] registry: key → FIFO of [`Waiter`]s (of any database; a
//!   waiter carries its db). A blocking command that finds no data registers one `Arc<Waiter>` in
//!   the queue of each of its keys while it still holds those keys' shard locks (so no push can
//!   slip between its check and its registration), then sets `Action::Block` and writes no reply.
//!   The connection loop awaits the waiter's one-shot channel, its deadline, a kill, or the client
//!   closing its socket.
//! * A write that may feed a waiter marks the key *ready* on its [`Locked`](super::Locked):
//!   pushes call `signal_ready`, and `put_in` does it for any list stored over a watched key
//!   (RENAME, COPY, MOVE, RESTORE, ... — Redis's `signalKeyAsReady` in `dbAdd`). When the `Locked`
//!   is dropped, *before* its changes are committed and its locks released, [`serve_ready`] serves
//!   each ready key: the oldest live waiter of that key's database takes its elements in the same
//!   step, the pop is recorded as a change attributed to the blocked client (`LPOP k`,
//!   `LPOP k n`, `LMOVE src dst RIGHT LEFT`; the block itself is never recorded), and the encoded
//!   reply is sent on its channel. Pushing into a BLMOVE destination marks that key ready in turn,
//!   so chains of BLMOVE waiters are served in the same step.
//! * A waiter is served at most once: `done` is claimed with an atomic swap, always under the lock
//!   of a shard the waiter is queued in; entries in other keys' queues become stale and are
//!   dropped when met, and the connection removes them when it finishes (multi-key waiters only).
//! * Nothing is lost: a waiter whose client went away (receiver dropped) is skipped; if the send
//!   fails anyway, the popped elements are pushed back where they came from before anything is
//!   recorded. On timeout, CLIENT UNBLOCK or disconnect, the connection claims the waiter under
//!   the locks of all its keys; if it loses that race the reply is already in its channel (the
//!   server sends while holding the lock the connection then acquires) and is used instead. As in
//!   Redis, a reply handed to a client that disconnects afterwards is that client's.
//! * BLMOVE whose destination lives in a shard the serving command did not lock: the server
//!   `try_lock`s that shard (never waits: waiting out of order could deadlock). If it is busy, the
//!   waiter stays first in line and is told to *retry*: its connection locks the source keys and
//!   the destination together (in order) and serves the keys again, so FIFO order and the
//!   atomicity of the move are both kept.
//! * A registry of blocked clients by id ([`Registry`]) serves CLIENT UNBLOCK and INFO's
//!   `blocked_clients`.
//!
//! Sorted-set pops (BZPOPMIN/BZPOPMAX/BZMPOP) are [`Op::ZPop`], served from sorted sets by the
//! same loop; sorted-set writes that add members (ZADD, ZINCRBY, the *STORE commands) call
//! `signal_ready`.
//!
//! Stream reads (XREAD and XREADGROUP with BLOCK) are [`Op::XRead`] and [`Op::XReadGroup`]. XADD
//! signals its key; so do deleting or replacing a stream (`Locked::remove_in`/`put_in`) and
//! XGROUP DESTROY, which end the waits of XREADGROUP clients with Redis's errors. Unlike pops,
//! serving an XREAD takes nothing away, so every XREAD waiter of the key with something newer
//! than its ID is served in the same step; XREADGROUP waiters are served oldest first while the
//! group has undelivered entries, each delivery moving the group's cursor, so no two get the
//! same entry. The reading itself is `commands::stream_groups::serve_blocked`.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::{oneshot, Notify};

use super::list::{Fill, List};
use super::stream::StreamId;
use super::value::{Collection, Key, Meta, Value, ValueType};
use super::Locked;
use crate::changes::{ChangeKind, Who};
use crate::protocol::resp::Out;

/// What a waiter does when served.
#[derive(Debug, Clone)]
pub enum Op {
    /// BLPOP / BRPOP: one element; reply `[key, element]`.
    Pop { left: bool },
    /// BLMPOP: up to `count` elements; reply `[key, [elements]]`.
    MPop { left: bool, count: usize },
    /// BLMOVE / BRPOPLPUSH: one element moved to `dst`; reply the element.
    Move {
        dst: Key,
        from_left: bool,
        to_left: bool,
    },
    /// BZPOPMIN / BZPOPMAX (`multi` false: one member, reply `[key, member, score]`) and BZMPOP
    /// (`multi`: up to `count`, reply `[key, [[member, score], ...]]`); served by sorted sets.
    ZPop {
        min: bool,
        count: usize,
        multi: bool,
    },
    /// XREAD BLOCK: entries after `after[i]` of `keys[i]` (the waiter's keys, in order), at most
    /// `count` (0: all); reply `[[key, [entries]]]` (a map in RESP3).
    XRead { after: Vec<StreamId>, count: usize },
    /// XREADGROUP BLOCK with `>`: new entries of `group`, delivered to `consumer`.
    XReadGroup {
        group: Key,
        consumer: Key,
        count: usize,
        noack: bool,
    },
}

pub struct Waiter {
    pub client: u64,
    pub db: usize,
    /// Distinct keys waited on.
    pub keys: Vec<Key>,
    pub op: Op,
    pub resp3: bool,
    /// The node bound to use when pushing (BLMOVE's destination).
    pub fill: Fill,
    done: AtomicBool,
    tx: Mutex<Option<oneshot::Sender<Vec<u8>>>>,
    /// Woken when the server could not lock a BLMOVE destination: serve again with it locked.
    pub retry: Notify,
    /// For a keyless waiter served by a task of its own: woken when something else (CLIENT
    /// UNBLOCK, the client leaving) ended the wait, so the task stops.
    ended: Notify,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter")
            .field("client", &self.client)
            .field("db", &self.db)
            .field("op", &self.op)
            .finish()
    }
}

impl Waiter {
    pub fn new(
        client: u64,
        db: usize,
        keys: Vec<Key>,
        op: Op,
        resp3: bool,
        fill: Fill,
    ) -> (Arc<Waiter>, oneshot::Receiver<Vec<u8>>) {
        let (tx, rx) = oneshot::channel();
        let w = Waiter {
            client,
            db,
            keys,
            op,
            resp3,
            fill,
            done: AtomicBool::new(false),
            tx: Mutex::new(Some(tx)),
            retry: Notify::new(),
            ended: Notify::new(),
        };
        (Arc::new(w), rx)
    }

    /// Delivers a reply from the task serving a keyless wait (CHANGES READ ... BLOCK), unless
    /// the wait was already ended; true if delivered.
    pub fn reply(&self, reply: Vec<u8>) -> bool {
        self.claim() && self.send(reply)
    }

    /// Resolves once the wait has been ended (served, unblocked, cancelled).
    pub async fn ended(&self) {
        loop {
            let n = self.ended.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.is_done() {
                return;
            }
            n.await;
        }
    }

    /// Claims the waiter; true for the one caller that gets it.
    fn claim(&self) -> bool {
        !self.done.swap(true, Ordering::AcqRel)
    }

    fn unclaim(&self) {
        self.done.store(false, Ordering::Release);
    }

    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    fn gone(&self) -> bool {
        self.tx.lock().as_ref().is_none_or(|t| t.is_closed())
    }

    fn send(&self, reply: Vec<u8>) -> bool {
        match self.tx.lock().take() {
            Some(tx) => tx.send(reply).is_ok(),
            None => false,
        }
    }

    fn out(&self) -> Out {
        Out {
            buf: Vec::with_capacity(64),
            resp3: self.resp3,
        }
    }
}

/// One shard's waiters, by key.
#[derive(Default)]
pub struct Waiters {
    map: HashMap<Key, VecDeque<Arc<Waiter>>>,
    /// Some waiter is (or was, until the registry empties) a stream read: only then does
    /// serving a key look for them, so list pops do not pay for streams.
    streams: bool,
}

impl Waiters {
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn watched(&self, key: &[u8]) -> bool {
        !self.map.is_empty() && self.map.contains_key(key)
    }

    pub fn add(&mut self, key: &[u8], w: Arc<Waiter>) {
        self.streams |= is_stream_read(&w.op);
        self.map
            .entry(Key::from_slice(key))
            .or_default()
            .push_back(w);
    }

    /// (db, key) of every key a client in one of `dbs` waits on: after SWAPDB those keys may
    /// hold data now, so they are served as if written (Redis's `scanDatabaseForReadyKeys`).
    pub fn waited_in(&self, dbs: &[usize]) -> Vec<(usize, Key)> {
        let mut out = Vec::new();
        for (key, q) in &self.map {
            for w in q {
                if dbs.contains(&w.db) && !out.iter().any(|(d, k)| *d == w.db && k == key) {
                    out.push((w.db, key.clone()));
                }
            }
        }
        out
    }

    pub fn remove(&mut self, key: &[u8], w: &Arc<Waiter>) {
        if let Some(q) = self.map.get_mut(key) {
            q.retain(|x| !Arc::ptr_eq(x, w));
            if q.is_empty() {
                self.map.remove(key);
                self.streams &= !self.map.is_empty();
            }
        }
    }

    /// Every live waiter of `db` on `key` whose operation `wants` accepts, oldest first,
    /// dropping stale entries met on the way.
    fn all_live(&mut self, db: usize, key: &[u8], wants: impl Fn(&Op) -> bool) -> Vec<Arc<Waiter>> {
        let Some(q) = self.map.get_mut(key) else {
            return Vec::new();
        };
        q.retain(|w| !w.is_done() && !w.gone());
        let found = q
            .iter()
            .filter(|w| w.db == db && wants(&w.op))
            .cloned()
            .collect();
        if q.is_empty() {
            self.map.remove(key);
            self.streams &= !self.map.is_empty();
        }
        found
    }

    /// The oldest live waiter of `db` on `key` whose operation `wants` accepts, dropping stale
    /// entries met on the way.
    fn first_live(
        &mut self,
        db: usize,
        key: &[u8],
        wants: impl Fn(&Op) -> bool,
    ) -> Option<Arc<Waiter>> {
        let q = self.map.get_mut(key)?;
        let mut i = 0;
        let found = loop {
            let Some(w) = q.get(i) else {
                break None;
            };
            if w.is_done() || w.gone() {
                q.remove(i);
                continue;
            }
            if w.db == db && wants(&w.op) {
                break Some(w.clone());
            }
            i += 1;
        };
        if q.is_empty() {
            self.map.remove(key);
            self.streams &= !self.map.is_empty();
        }
        found
    }
}

/// Blocked clients by id (CLIENT UNBLOCK, INFO `blocked_clients`).
#[derive(Default)]
pub struct Registry {
    map: Mutex<HashMap<u64, Arc<Waiter>>>,
}

impl Registry {
    pub fn insert(&self, w: Arc<Waiter>) {
        self.map.lock().insert(w.client, w);
    }
    pub fn remove(&self, client: u64) {
        self.map.lock().remove(&client);
    }
    pub fn get(&self, client: u64) -> Option<Arc<Waiter>> {
        self.map.lock().get(&client).cloned()
    }
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Serves every key marked ready on `l` (called from `Locked`'s drop, locks still held).
pub fn serve_ready(l: &mut Locked) {
    let mut i = 0;
    while i < l.ready.len() {
        let (db, key) = l.ready[i].clone();
        serve_key(l, db, &key);
        i += 1;
    }
    l.ready.clear();
}

fn is_stream_read(op: &Op) -> bool {
    matches!(op, Op::XRead { .. } | Op::XReadGroup { .. })
}

/// Serves the stream readers waiting on `key` (see the module docs).
fn serve_streams(l: &mut Locked, db: usize, key: &[u8]) {
    for w in l.waiters_of(key).all_live(db, key, is_stream_read) {
        if !w.claim() {
            continue;
        }
        let mut o = w.out();
        if crate::commands::stream_groups::serve_blocked(l, &w, key, &mut o) {
            l.waiters_of(key).remove(key, &w);
            // A reader that left meanwhile loses nothing an XREAD could take; entries an
            // XREADGROUP delivered stay pending in the group, claimable like any others.
            w.send(o.buf);
        } else {
            w.unclaim();
        }
    }
}

fn serve_key(l: &mut Locked, db: usize, key: &[u8]) {
    // First, so a stream replaced by a list or sorted set still ends its XREADGROUP waits.
    if l.waiters_of(key).streams {
        serve_streams(l, db, key);
    }
    loop {
        // A list feeds the list pops, a sorted set the BZPOP family; waiters for the other type
        // are passed over, as Redis does.
        let (zset, avail) = match l.get_in(db, key) {
            Some(Value::List(li, _)) => (false, li.len()),
            Some(Value::ZSet(z, _)) => (true, z.len()),
            _ => return,
        };
        if avail == 0 {
            return;
        }
        let wants = |op: &Op| !is_stream_read(op) && matches!(op, Op::ZPop { .. }) == zset;
        let Some(w) = l.waiters_of(key).first_live(db, key, wants) else {
            return;
        };
        if let Op::Move { dst, .. } = &w.op {
            if !l.try_lock_key(dst) {
                // Keep FIFO: this waiter stays first; its connection serves again with `dst`.
                w.retry.notify_one();
                return;
            }
        }
        if !w.claim() {
            l.waiters_of(key).remove(key, &w);
            continue;
        }
        l.waiters_of(key).remove(key, &w);
        let served = match &w.op {
            Op::Pop { left } => pop_to(l, &w, db, key, *left, 1, false, avail),
            Op::MPop { left, count } => pop_to(l, &w, db, key, *left, *count, true, avail),
            Op::Move {
                dst,
                from_left,
                to_left,
            } => move_to(l, &w, db, key, dst, *from_left, *to_left),
            Op::ZPop { min, count, multi } => zpop_to(l, &w, db, key, *min, *count, *multi),
            Op::XRead { .. } | Op::XReadGroup { .. } => false,
        };
        if !served {
            // Not delivered (the client went away): the next waiter may take it.
            continue;
        }
    }
}

fn side(left: bool) -> &'static [u8] {
    if left {
        b"LEFT"
    } else {
        b"RIGHT"
    }
}

/// Pops up to `count` elements of `key` for `w`; records and replies. False if not delivered.
#[allow(clippy::too_many_arguments)]
fn pop_to(
    l: &mut Locked,
    w: &Waiter,
    db: usize,
    key: &[u8],
    left: bool,
    count: usize,
    multi: bool,
    avail: usize,
) -> bool {
    let n = count.min(avail);
    let Some(Value::List(li, _)) = l.get_in(db, key) else {
        w.unclaim();
        return false;
    };
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        match li.pop(left) {
            Some(x) => items.push(x),
            None => break,
        }
    }
    let mut o = w.out();
    o.array(2);
    o.bulk(key);
    if multi {
        o.array(items.len());
        for x in &items {
            o.bulk(x);
        }
    } else if let Some(x) = items.first() {
        o.bulk(x);
    }
    if !w.send(o.buf) {
        for x in items.iter().rev() {
            li.push(x, left, w.fill);
        }
        return false;
    }
    let emptied = li.is_empty();
    if emptied {
        l.remove_in(db, key);
    }
    let who = Who::client(w.client);
    let (cmd, ev): (&[u8], &str) = if left {
        (b"LPOP", "lpop")
    } else {
        (b"RPOP", "rpop")
    };
    let (kind, vt) = after(emptied);
    let mut b = itoa::Buffer::new();
    if multi {
        let cnt = b.format(items.len());
        l.rec
            .record(who, db, key, ev, kind, vt, &[cmd, key, cnt.as_bytes()]);
    } else {
        l.rec.record(who, db, key, ev, kind, vt, &[cmd, key]);
    }
    if emptied {
        l.rec.record(
            who,
            db,
            key,
            "del",
            ChangeKind::Remove,
            ValueType::None,
            &[],
        );
    }
    true
}

/// Pops up to `count` of the lowest (`min`) or highest members of the sorted set `key` for `w`;
/// records `ZPOPMIN|ZPOPMAX key <n>` and the deletion of an emptied set (as `commands::zsets`
/// does) and replies. False if not delivered (the members are put back).
fn zpop_to(
    l: &mut Locked,
    w: &Waiter,
    db: usize,
    key: &[u8],
    min: bool,
    count: usize,
    multi: bool,
) -> bool {
    let Some(Value::ZSet(z, _)) = l.get_in(db, key) else {
        w.unclaim();
        return false;
    };
    let popped = z.remove_range(0, count, !min);
    let Some((m, s)) = popped.first() else {
        w.unclaim();
        return false;
    };
    let mut o = w.out();
    if multi {
        crate::commands::zsets::reply_mpop(&mut o, key, &popped);
    } else {
        o.array(3);
        o.bulk(key);
        o.bulk(m);
        o.double(*s);
    }
    if !w.send(o.buf) {
        for (m, s) in &popped {
            z.add_new(m, *s, super::zset::ZLimits::DEFAULT);
        }
        return false;
    }
    let emptied = z.is_empty();
    if emptied {
        l.remove_in(db, key);
    }
    let who = Who::client(w.client);
    let (cmd, ev): (&[u8], &str) = if min {
        (b"ZPOPMIN", "zpopmin")
    } else {
        (b"ZPOPMAX", "zpopmax")
    };
    let mut b = itoa::Buffer::new();
    let cnt = b.format(popped.len());
    l.rec.record(
        who,
        db,
        key,
        ev,
        ChangeKind::Modify,
        ValueType::ZSet,
        &[cmd, key, cnt.as_bytes()],
    );
    if emptied {
        l.rec.record(
            who,
            db,
            key,
            "del",
            ChangeKind::Remove,
            ValueType::None,
            &[b"DEL", key],
        );
    }
    true
}

/// (change kind, type after) of a pop that did or did not empty the list.
pub fn after(emptied: bool) -> (ChangeKind, ValueType) {
    if emptied {
        (ChangeKind::Remove, ValueType::None)
    } else {
        (ChangeKind::Modify, ValueType::List)
    }
}

fn move_to(
    l: &mut Locked,
    w: &Waiter,
    db: usize,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
) -> bool {
    // Redis checks the destination's type when serving: a wrong type ends the wait with
    // WRONGTYPE and the element stays where it was.
    let dst_state = match l.get_in(db, dst) {
        None => Some(false),
        Some(Value::List(..)) => Some(true),
        Some(_) => None,
    };
    let Some(dst_existed) = dst_state else {
        let mut o = w.out();
        o.error(crate::error::WRONGTYPE);
        w.send(o.buf);
        return true;
    };
    let Some(Value::List(li, _)) = l.get_in(db, src) else {
        w.unclaim();
        return false;
    };
    let Some(x) = li.pop(from_left) else {
        w.unclaim();
        return false;
    };
    let mut o = w.out();
    o.bulk(&x);
    if !w.send(o.buf) {
        li.push(&x, from_left, w.fill);
        return false;
    }
    // Rotating a list onto itself never empties it.
    let emptied = li.is_empty() && src != dst;
    if emptied {
        l.remove_in(db, src);
    }
    push_into(l, db, dst, &x, to_left, w.fill);
    let who = Who::client(w.client);
    record_move(
        l,
        who,
        db,
        src,
        dst,
        from_left,
        to_left,
        emptied,
        dst_existed || src == dst,
    );
    true
}

/// Pushes one element onto `key` (creating the list), marking the key ready.
pub fn push_into(l: &mut Locked, db: usize, key: &[u8], x: &[u8], left: bool, fill: Fill) {
    match l.get_in(db, key) {
        Some(Value::List(li, _)) => li.push(x, left, fill),
        _ => {
            let mut li = List::new();
            li.push(x, left, fill);
            l.put_in(db, key, Value::List(Box::new(li), Meta::now()), false);
        }
    }
    l.signal_ready(db, key);
}

/// Records an LMOVE: the pop on `src` carries the effect, the push on `dst` and the deletion of
/// an emptied `src` are companions.
#[allow(clippy::too_many_arguments)]
pub fn record_move(
    l: &mut Locked,
    who: Who,
    db: usize,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
    src_emptied: bool,
    dst_existed: bool,
) {
    let (kind, vt) = after(src_emptied);
    let ev = if from_left { "lpop" } else { "rpop" };
    l.rec.record(
        who,
        db,
        src,
        ev,
        kind,
        vt,
        &[b"LMOVE", src, dst, side(from_left), side(to_left)],
    );
    let ev = if to_left { "lpush" } else { "rpush" };
    l.rec.record(
        who,
        db,
        dst,
        ev,
        ChangeKind::upsert(dst_existed),
        ValueType::List,
        &[],
    );
    if src_emptied {
        l.rec.record(
            who,
            db,
            src,
            "del",
            ChangeKind::Remove,
            ValueType::None,
            &[],
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The connection's side

fn keys_of(w: &Waiter) -> Vec<&[u8]> {
    w.keys.iter().map(|k| k.as_slice()).collect()
}

/// Registers `w` in the queues of its keys (the caller holds their shards) and in the registry.
pub fn register(l: &mut Locked, registry: &Registry, w: &Arc<Waiter>) {
    for k in &w.keys {
        l.waiters_of(k).add(k, w.clone());
    }
    registry.insert(w.clone());
}

/// Ends a wait that was not served: claims the waiter under the locks of all its keys and takes
/// it out of their queues. False if it had been served meanwhile (its reply is in its channel).
pub fn cancel(srv: &crate::server::Server, w: &Arc<Waiter>) -> bool {
    let keys = keys_of(w);
    let mut l = srv.keyspace.lock(
        &srv.log,
        Who::client(w.client),
        w.db,
        crate::util::now_ms(),
        &keys,
    );
    let won = w.claim();
    for k in &keys {
        l.waiters_of(k).remove(k, w);
    }
    w.ended.notify_waiters();
    won
}

/// After a served wait: drops the waiter's stale entries in its other keys' queues and its
/// registry entry.
pub fn finish(srv: &crate::server::Server, w: &Arc<Waiter>) {
    if w.keys.len() > 1 {
        let keys = keys_of(w);
        let mut l = srv.keyspace.lock(
            &srv.log,
            Who::client(w.client),
            w.db,
            crate::util::now_ms(),
            &keys,
        );
        for k in &keys {
            l.waiters_of(k).remove(k, w);
        }
    }
    srv.keyspace.blocked.remove(w.client);
    w.ended.notify_waiters();
}

/// Serves `w`'s keys again with its BLMOVE destination locked too (see the module docs).
pub fn retry(srv: &crate::server::Server, w: &Arc<Waiter>) {
    // This serves (and records) outside any batch: like any writer it holds the world lock
    // shared, so it never lands in the middle of an EXEC.
    let _world = srv.world.read();
    let mut keys = keys_of(w);
    if let Op::Move { dst, .. } = &w.op {
        keys.push(dst);
    }
    let mut l = srv.keyspace.lock(
        &srv.log,
        Who::client(w.client),
        w.db,
        crate::util::now_ms(),
        &keys,
    );
    for k in &w.keys {
        l.signal_ready(w.db, k);
    }
}

/// CLIENT UNBLOCK: ends client `id`'s wait with a timeout (null) or an error reply. True if it
/// was blocked and is now unblocked. The reply is sent under the locks, so a connection that
/// then loses the claim finds it in its channel.
pub fn unblock(srv: &crate::server::Server, id: u64, error: bool) -> bool {
    let Some(w) = srv.keyspace.blocked.get(id) else {
        return false;
    };
    let keys = keys_of(&w);
    let mut l = srv.keyspace.lock(
        &srv.log,
        Who::client(w.client),
        w.db,
        crate::util::now_ms(),
        &keys,
    );
    if !w.claim() {
        return false;
    }
    for k in &keys {
        l.waiters_of(k).remove(k, &w);
    }
    let mut o = w.out();
    if error {
        o.error(crate::error::UNBLOCKED);
    } else {
        o.null_array();
    }
    w.send(o.buf);
    w.ended.notify_waiters();
    true
}

/// Whether `reply` is what [`timeout_reply`] gives (a null array in either protocol): no
/// served command answers that.
pub fn is_timeout_reply(reply: &[u8]) -> bool {
    reply == b"*-1\r\n" || reply == b"_\r\n"
}

/// The reply to a wait that timed out.
pub fn timeout_reply(w: &Waiter) -> Vec<u8> {
    let mut o = w.out();
    o.null_array();
    o.buf
}
