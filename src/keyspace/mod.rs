//! The keyspace: databases split into shards by key hash, each shard behind its own mutex.
//!
//! ## Layout
//! `Keyspace` owns `N` shards (a power of two); a key lives in shard `hash(key) & (N-1)` in every
//! database, so a shard holds its slice of all 16 (`databases`) databases. Each database slice
//! ([`Db`]) is an insertion-ordered hash map ([`dict::Dict`]) of keys to values plus a second map of absolute
//! expiry times for the keys that have one (as Redis's `expires` dict).
//!
//! Insertion order matters: removal is `swap_remove` (the last entry moves into the hole), so
//! walking a map from its end towards index 0 — what SCAN does — returns every key that was
//! present for the whole walk at least once, whatever is inserted or removed meanwhile. It also
//! gives O(1) random sampling for RANDOMKEY and the active expiry cycle.
//!
//! ## Locking contract
//! * A command locks the shards of its keys through [`Keyspace::lock`], in ascending shard order
//!   (so two multi-key commands cannot deadlock), runs synchronously, and releases them. Never
//!   `.await` while a [`Locked`] is alive.
//! * Changes are recorded into the `Locked`'s recorder as they are applied; when the `Locked` is
//!   dropped they are committed to the change log *before* the shard locks are released, so the
//!   log's order for any one key is the order in which changes were applied.
//! * Whole-keyspace operations (FLUSHALL, SWAPDB, EXEC) take the server's world lock
//!   exclusively (see `server::Server::world`); everything else holds it shared.
//! * While an EXEC runs, a dropped `Locked` hands its changes to the transaction instead of
//!   committing them, and WATCHed keys are touched from the records at drop (see [`txn`]).
//! * With keyspace notifications on, the commit also publishes them, still under the shard
//!   locks (`pubsub::notify`); the lock order is shard locks, then the notification order lock,
//!   then the log mutex or the pub/sub registries' locks.
//!
//! ## Holding a shard across a batch
//! A pipelined batch often sends one key many commands in a row (a queue, a counter, a sorted
//! set). Locking and unlocking its shard per command made two I/O threads hand the shard back and
//! forth — a futex wake per command and the key's data bouncing between cores; one hot sorted set
//! ran at half the speed of a single thread. So while a connection runs a batch
//! ([`BatchScope`]), a `Locked` of one shard is not unlocked on drop: its changes are committed as
//! usual, and the mutex stays held by this thread ([`HELD`]). The next command of the batch that
//! needs the same shard takes it over without touching the mutex; any other locking on this
//! thread first releases it, and the batch releases it at its end, so the lock order and the
//! "never `.await` holding a shard" rule are unchanged. Other threads wait at most one batch.

pub mod blocking;
pub mod dict;
pub mod digest;
pub mod encoding;
pub mod evict;
pub mod expiry;
pub mod geo;
pub mod hash;
pub mod hll;
pub mod list;
pub mod set;
pub mod stream;
pub mod stream_group;
pub mod stream_rdb;
pub mod txn;
pub mod value;
pub mod zset;

use std::hash::BuildHasher;

use parking_lot::{Mutex, MutexGuard};
use smallvec::SmallVec;

use crate::changes::log::ChangeLog;
use crate::changes::log::Images;
use crate::changes::{ChangeKind, Recorder, Who};
use crate::error::{CmdResult, WRONGTYPE};
use crate::persistence::snapshot::SnapJob;
use value::{Key, Str, Value, ValueType};

pub type Hasher = foldhash::fast::FixedState;
pub type Map<V> = dict::Dict<V>;

thread_local! {
    /// The shard this thread keeps locked between commands of a batch: (keyspace address, shard
    /// index); the address 0 means none. Only set while a [`BatchScope`] is alive.
    static HELD: std::cell::Cell<(usize, usize)> = const { std::cell::Cell::new((0, 0)) };
    /// Whether a batch is running on this thread (dropped `Locked`s may keep their shard).
    static BATCHING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// While alive, single-shard locks taken on this thread stay held between commands (see the
/// module docs). Dropping it releases the held shard.
pub struct BatchScope<'a> {
    ks: &'a Keyspace,
}

impl<'a> BatchScope<'a> {
    pub fn new(ks: &'a Keyspace) -> Self {
        BATCHING.with(|b| b.set(true));
        BatchScope { ks }
    }

    /// Releases the held shard now (before waiting on anything, or an exclusive section).
    pub fn release(&self) {
        self.ks.release_held();
    }
}

impl Drop for BatchScope<'_> {
    fn drop(&mut self) {
        self.ks.release_held();
        BATCHING.with(|b| b.set(false));
    }
}

/// One database's slice within a shard.
#[derive(Default)]
pub struct Db {
    pub keys: Map<Value>,
    pub expires: Map<u64>,
}

impl Db {
    pub fn len(&self) -> usize {
        self.keys.len()
    }
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
    pub fn is_expired(&self, key: &[u8], now: u64) -> bool {
        !self.expires.is_empty() && self.expires.get(key).is_some_and(|&at| at <= now)
    }
    /// Removes a key and its TTL; the caller records the change.
    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        let v = self.keys.swap_remove(key)?;
        if !self.expires.is_empty() {
            self.expires.swap_remove(key);
        }
        Some(v)
    }
}

/// Per-shard counters, summed for INFO (kept under the shard lock: no shared atomics).
#[derive(Default, Clone, Copy)]
pub struct ShardStats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
    pub evicted: u64,
}

/// How long a thread spins on a busy shard before it sleeps on it.
const SHARD_SPIN: std::time::Duration = std::time::Duration::from_micros(20);
/// A shard whose [`SpinScore`] reached this is waited for without spinning.
const SPIN_SKIP: u8 = 4;
/// What a spin that ended in sleeping anyway adds to the score.
const SPIN_MISS: u8 = 3;

/// Per shard, how often spinning on it failed lately. Spinning pays when the holder lets go
/// within [`SHARD_SPIN`] (a pipelined batch of RPUSHes holds a shard for a few microseconds),
/// and wastes a core the clients could use when it does not (a batch of 16 ZADDs into a large
/// sorted set holds it longer: a fixed 5 µs spin cut ZADD's CPU per request by a sixth and
/// raised RPUSH's by as much). A miss raises the score, a successful spin or a wait without
/// spinning lowers it, so a shard held long is spun on about once in four waits, to notice
/// when its holders turn quick again.
#[derive(Default)]
struct SpinScore(std::sync::atomic::AtomicU8);

/// Locks a shard, spinning for up to [`SHARD_SPIN`] first (`util::spin_for`) unless its
/// [`SpinScore`] says spinning on it has been failing: a holder keeps it for one batch, and
/// two I/O threads on one hot key otherwise took turns in the futex.
fn lock_spinning<'a>(m: &'a Mutex<Shard>, score: &SpinScore) -> MutexGuard<'a, Shard> {
    use std::sync::atomic::Ordering::Relaxed;
    if let Some(g) = m.try_lock() {
        return g;
    }
    // Racy read-modify-writes are fine: the score is a hint.
    let s = score.0.load(Relaxed);
    if s >= SPIN_SKIP {
        score.0.store(s - 1, Relaxed);
        return m.lock();
    }
    match crate::util::spin_for(SHARD_SPIN, || m.try_lock()) {
        Some(g) => {
            score.0.store(s.saturating_sub(1), Relaxed);
            g
        }
        None => {
            score.0.store(s + SPIN_MISS, Relaxed);
            m.lock()
        }
    }
}

pub struct Shard {
    pub dbs: Vec<Db>,
    pub stats: ShardStats,
    /// A snapshot is running and has not serialised this shard yet: serialise before changing.
    pub snap_pending: bool,
    /// Clients blocked on keys of this shard (BLPOP and friends), see `blocking`.
    pub waiters: blocking::Waiters,
}

pub struct Keyspace {
    shards: Box<[Mutex<Shard>]>,
    /// One per shard (same index).
    spin: Box<[SpinScore]>,
    mask: usize,
    hasher: Hasher,
    ndbs: usize,
    /// Set while a snapshot runs, so `lock` checks shards for copy-on-write only then.
    snapping: std::sync::atomic::AtomicBool,
    snap_job: Mutex<Option<std::sync::Arc<SnapJob>>>,
    /// `changes-images`: record old/new value images with each change.
    pub images: std::sync::atomic::AtomicBool,
    /// Following a primary (`server::follow`): expiry is the primary's (see `expire_if_needed`)
    /// and writes are checked against `replica-read-only` (`server::replication`).
    pub follower: std::sync::atomic::AtomicBool,
    /// `changes-image-max-bytes`: larger values are recorded without images.
    pub image_max: std::sync::atomic::AtomicUsize,
    /// Blocked clients by id.
    pub blocked: blocking::Registry,
    /// Pub/sub, for the keyspace notifications published when changes commit.
    pub pubsub: std::sync::Arc<crate::pubsub::PubSub>,
    /// WATCHed keys (shared with the watching sessions, which unregister when they go away).
    pub watches: std::sync::Arc<txn::Registry>,
}

impl Keyspace {
    pub fn new(nshards: usize, ndbs: usize) -> Self {
        let n = nshards.next_power_of_two().max(1);
        Keyspace {
            shards: (0..n)
                .map(|_| {
                    Mutex::new(Shard {
                        dbs: (0..ndbs).map(|_| Db::default()).collect(),
                        stats: ShardStats::default(),
                        snap_pending: false,
                        waiters: blocking::Waiters::default(),
                    })
                })
                .collect(),
            spin: (0..n).map(|_| SpinScore::default()).collect(),
            mask: n - 1,
            hasher: Hasher::with_seed(0x6564_6479),
            ndbs,
            snapping: std::sync::atomic::AtomicBool::new(false),
            snap_job: Mutex::new(None),
            images: std::sync::atomic::AtomicBool::new(false),
            follower: std::sync::atomic::AtomicBool::new(false),
            image_max: std::sync::atomic::AtomicUsize::new(4096),
            blocked: blocking::Registry::default(),
            pubsub: std::sync::Arc::new(crate::pubsub::PubSub::new()),
            watches: std::sync::Arc::new(txn::Registry::new(n)),
        }
    }

    /// Marks every shard pending for `job` (caller holds the world lock exclusively).
    pub fn begin_snapshot(&self, job: std::sync::Arc<SnapJob>) {
        self.release_held();
        for s in self.shards.iter() {
            s.lock().snap_pending = true;
        }
        *self.snap_job.lock() = Some(job);
        self.snapping
            .store(true, std::sync::atomic::Ordering::Release);
    }

    pub fn end_snapshot(&self) {
        self.snapping
            .store(false, std::sync::atomic::Ordering::Release);
        *self.snap_job.lock() = None;
    }

    /// Copy-on-write: serialises the pending shards among `guards` for the running snapshot.
    #[cold]
    fn snapshot_shards(&self, guards: &mut [(usize, MutexGuard<'_, Shard>)]) {
        let Some(job) = self.snap_job.lock().clone() else {
            return;
        };
        for (i, g) in guards.iter_mut() {
            if g.snap_pending {
                let mut body = Vec::new();
                job.serialize(g, &mut body);
                g.snap_pending = false;
                job.blocks.lock().push((*i, body));
            }
        }
    }

    pub fn ndbs(&self) -> usize {
        self.ndbs
    }

    pub fn nshards(&self) -> usize {
        self.shards.len()
    }

    /// Unlocks the shard this thread holds between batch commands, if any.
    #[inline]
    pub fn release_held(&self) {
        let (ks, i) = HELD.with(|h| h.get());
        if ks != 0 {
            debug_assert_eq!(ks, self as *const Keyspace as usize);
            HELD.with(|h| h.set((0, 0)));
            // SAFETY: this thread locked shard `i` and leaked its guard when it stored HELD.
            unsafe { self.shards[i].force_unlock() };
        }
    }

    /// Takes over the held shard if it is `i`; otherwise releases whatever is held.
    #[inline]
    fn take_held(&self, i: usize) -> Option<MutexGuard<'_, Shard>> {
        let (ks, held) = HELD.with(|h| h.get());
        if ks == 0 {
            return None;
        }
        if ks == self as *const Keyspace as usize && held == i {
            HELD.with(|h| h.set((0, 0)));
            // SAFETY: this thread holds shard `i` locked (its guard was leaked into HELD).
            return Some(unsafe { self.shards[i].make_guard_unchecked() });
        }
        self.release_held();
        None
    }

    #[inline]
    pub fn shard_of(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) as usize) & self.mask
    }

    /// Locks the shards owning `keys` (ascending order, each once).
    pub fn lock<'a>(
        &'a self,
        log: &'a ChangeLog,
        who: Who,
        db: usize,
        now: u64,
        keys: &[&[u8]],
    ) -> Locked<'a> {
        // Pushes rather than `collect()`: SmallVec's generic `extend` is inlined here or not
        // depending on how the crate splits into codegen units, and out of line it cost about
        // 75 instructions per command (measured with callgrind on a pipelined SET/GET/INCR run).
        let mut idx: SmallVec<[usize; 4]> = SmallVec::new();
        for k in keys {
            idx.push(self.shard_of(k));
        }
        idx.sort_unstable();
        idx.dedup();
        let held = match idx.as_slice() {
            [i] => self.take_held(*i),
            _ => {
                self.release_held();
                None
            }
        };
        let mut guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 2]> = SmallVec::new();
        match held {
            Some(g) => guards.push((idx[0], g)),
            None => {
                for &i in &idx {
                    guards.push((i, lock_spinning(&self.shards[i], &self.spin[i])));
                }
            }
        }
        if self.snapping.load(std::sync::atomic::Ordering::Acquire) {
            self.snapshot_shards(&mut guards);
        }
        Locked {
            ks: self,
            log,
            guards,
            db,
            now,
            who,
            rec: Recorder::cached(),
            enabled: true,
            images: self.images.load(std::sync::atomic::Ordering::Relaxed),
            old: SmallVec::new(),
            ready: Vec::new(),
            track: None,
            touch: true,
        }
    }

    /// Locks every shard, in order (for whole-keyspace operations and scans of all keys).
    pub fn lock_all<'a>(&'a self, log: &'a ChangeLog, who: Who, db: usize, now: u64) -> Locked<'a> {
        self.release_held();
        let mut guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 2]> = self
            .shards
            .iter()
            .enumerate()
            .map(|(i, s)| (i, s.lock()))
            .collect();
        if self.snapping.load(std::sync::atomic::Ordering::Acquire) {
            self.snapshot_shards(&mut guards);
        }
        Locked {
            ks: self,
            log,
            guards,
            db,
            now,
            who,
            rec: Recorder::cached(),
            enabled: true,
            images: self.images.load(std::sync::atomic::Ordering::Relaxed),
            old: SmallVec::new(),
            ready: Vec::new(),
            track: None,
            touch: true,
        }
    }

    /// Runs `f` on one shard (for per-shard walks: SCAN, KEYS, DBSIZE, the expiry cycle).
    pub fn with_shard<R>(&self, i: usize, f: impl FnOnce(&mut Shard) -> R) -> R {
        self.release_held();
        f(&mut self.shards[i].lock())
    }

    /// Sum of per-shard statistics.
    pub fn stats(&self) -> ShardStats {
        self.release_held();
        let mut t = ShardStats::default();
        for s in self.shards.iter() {
            let g = s.lock();
            t.hits += g.stats.hits;
            t.misses += g.stats.misses;
            t.expired += g.stats.expired;
            t.evicted += g.stats.evicted;
        }
        t
    }

    pub fn reset_stats(&self) {
        self.release_held();
        for s in self.shards.iter() {
            s.lock().stats = ShardStats::default();
        }
    }

    /// (keys, keys with expiry) per database.
    pub fn db_sizes(&self) -> Vec<(usize, usize)> {
        self.release_held();
        let mut v = vec![(0, 0); self.ndbs];
        for s in self.shards.iter() {
            let g = s.lock();
            for (i, db) in g.dbs.iter().enumerate() {
                v[i].0 += db.keys.len();
                v[i].1 += db.expires.len();
            }
        }
        v
    }
}

/// (db, key, the key's value before this command changed it, RDB-encoded when recorded).
type OldImage = (usize, Key, Option<Vec<u8>>);

/// The RDB encoding of `v` for a change record, if images are `on` and it is within
/// `changes-image-max-bytes`.
fn image_of(ks: &Keyspace, on: bool, v: &Value) -> Option<Vec<u8>> {
    if !on {
        return None;
    }
    let max = ks.image_max.load(std::sync::atomic::Ordering::Relaxed);
    // `elements` is O(1); measuring a large collection is not, and this runs on every write.
    if v.elements() > max || v.heap_size() > max {
        return None;
    }
    let mut out = Vec::new();
    encoding::encode_value(v, &mut out);
    (out.len() <= max + 16).then_some(out)
}

/// Shards locked for one command, with the changes it records. Dropping it commits the changes
/// to the log, then releases the locks.
pub struct Locked<'a> {
    ks: &'a Keyspace,
    log: &'a ChangeLog,
    guards: SmallVec<[(usize, MutexGuard<'a, Shard>); 2]>,
    pub db: usize,
    pub now: u64,
    pub who: Who,
    pub rec: Recorder,
    /// False while replaying the log at start-up: the changes are already in it.
    pub enabled: bool,
    /// Record value images (see `changes::log`).
    images: bool,
    /// Old images captured before the first change to each key in this command.
    old: SmallVec<[OldImage; 1]>,
    /// Keys (db, key) with blocked clients that this command may have fed; served on drop.
    pub ready: Vec<(usize, Key)>,
    /// Keys a tracking client's read-only command read, remembered on drop (`pubsub::tracking`).
    pub track: Option<crate::pubsub::tracking::Reads>,
    /// Reads update the access clock (LRU/LFU); off for a client in CLIENT NO-TOUCH mode.
    pub touch: bool,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        if !self.ready.is_empty() {
            if txn::capturing() {
                // Inside EXEC: blocked clients are served once the transaction is committed.
                txn::defer_ready(&mut self.ready);
            } else {
                blocking::serve_ready(self);
            }
        }
        if !self.rec.is_empty() && self.enabled {
            if self.ks.watches.active() {
                self.touch_watches();
            }
            // Client-side caching: one atomic load when nobody tracks (`pubsub::tracking`).
            if self.ks.pubsub.tracking.active() {
                let current = self.who.client_id;
                crate::pubsub::tracking::invalidate(&self.ks.pubsub, &self.rec.buf, current);
            }
            if txn::capturing() {
                txn::absorb(&mut self.rec);
            } else {
                // Keyspace notifications: one atomic load when they are off (`pubsub::notify`).
                let notify = crate::pubsub::notify::wanted(&self.ks.pubsub);
                if notify != 0 {
                    crate::pubsub::notify::commit_and_notify(
                        &self.ks.pubsub,
                        self.log,
                        &mut self.rec,
                        self.now,
                        notify,
                    );
                } else {
                    self.log.commit(&mut self.rec, self.now);
                }
            }
        }
        Recorder::recycle(std::mem::take(&mut self.rec));
        if let Some(reads) = self.track.take() {
            crate::pubsub::tracking::remember(&self.ks.pubsub, reads);
        }
        if self.guards.len() == 1 && BATCHING.with(|b| b.get()) {
            // A `Locked` dropped while another was alive on this thread: keep only the newest.
            self.ks.release_held();
            if let Some((i, g)) = self.guards.pop() {
                // Keep the shard for the batch's next command (see the module docs).
                MutexGuard::leak(g);
                HELD.with(|h| h.set((self.ks as *const Keyspace as usize, i)));
            }
        }
    }
}

impl<'a> Locked<'a> {
    /// Marks the clients WATCHing the keys this command changed (still under its shard locks).
    #[cold]
    fn touch_watches(&self) {
        let (ks, now) = (self.ks, self.now);
        let guards = &self.guards;
        ks.watches.touch(
            &self.rec.buf,
            |k| ks.shard_of(k),
            |db, k| {
                let i = ks.shard_of(k);
                let (_, g) = guards.iter().find(|(gi, _)| *gi == i)?;
                let d = g.dbs.get(db)?;
                d.keys.contains_key(k).then(|| d.is_expired(k, now))
            },
        );
    }

    #[inline]
    fn shard(&mut self, key: &[u8]) -> &mut Shard {
        // Most commands hold one shard: answering without hashing the key again saves a hash
        // per call, and a write calls this four to six times.
        if self.guards.len() == 1 {
            debug_assert_eq!(self.guards[0].0, self.ks.shard_of(key));
            return &mut self.guards[0].1;
        }
        self.shard_of_many(key)
    }

    fn shard_of_many(&mut self, key: &[u8]) -> &mut Shard {
        let i = self.ks.shard_of(key);
        let pos = self
            .guards
            .iter()
            .position(|(gi, _)| *gi == i)
            .expect("key's shard was not locked by this command");
        &mut self.guards[pos].1
    }

    /// The locked shards, for commands that walk all of them.
    pub fn shards_mut(&mut self) -> impl Iterator<Item = &mut Shard> + use<'_, 'a> {
        self.guards.iter_mut().map(|(_, g)| &mut **g)
    }

    pub fn db_mut(&mut self, db: usize, key: &[u8]) -> &mut Db {
        &mut self.shard(key).dbs[db]
    }

    /// Whether `key` in `db` is past its TTL and so absent for this command. A primary deletes
    /// it, recording `expired`. A follower (`server::follow`) leaves expiry to its primary, as
    /// a Redis replica does: the key is hidden from its clients until the primary's `DEL`
    /// arrives, and stays live for the primary's own commands, which may still change it (they
    /// ran before the deadline there; applying them a little later here must not diverge).
    fn expire_if_needed(&mut self, db: usize, key: &[u8]) -> bool {
        let now = self.now;
        if !self.shard(key).dbs[db].is_expired(key, now) {
            return false;
        }
        self.expire_cold(db, key)
    }

    #[cold]
    fn expire_cold(&mut self, db: usize, key: &[u8]) -> bool {
        if self.ks.follower.load(std::sync::atomic::Ordering::Relaxed) {
            return self.who.origin != crate::changes::Origin::Replication;
        }
        self.shard(key).stats.expired += 1;
        self.remove_by_server(db, key, Who::EXPIRY, "expired");
        true
    }

    /// Deletes `key` in `db` to free memory under `maxmemory` (`keyspace::evict`), recording
    /// `evicted` with origin `eviction` as Redis notifies it.
    pub fn evict(&mut self, db: usize, key: &[u8]) {
        if self.remove_by_server(db, key, Who::EVICTION, "evicted") {
            self.shard(key).stats.evicted += 1;
        }
    }

    /// Removes `key` on the server's own account (expiry, eviction) and records `event` as
    /// `DEL key` with `who`'s origin; a removed stream ends the waits of its XREADGROUP
    /// clients. False if there was no such key.
    fn remove_by_server(&mut self, db: usize, key: &[u8], who: Who, event: &str) -> bool {
        let sh = self.shard(key);
        let Some(v) = sh.dbs[db].remove(key) else {
            return false;
        };
        if matches!(v, Value::Stream(..)) && sh.waiters.watched(key) {
            self.mark_ready(db, key);
        }
        let old = self.image_of(&v);
        self.rec.record_with(
            who,
            db,
            key,
            event,
            ChangeKind::Remove,
            ValueType::None,
            &[b"DEL", key],
            Images {
                old: old.as_deref(),
                ..Images::default()
            },
        );
        true
    }

    /// The live value of `key` in database `db` (expired keys are deleted first).
    pub fn get_in(&mut self, db: usize, key: &[u8]) -> Option<&mut Value> {
        if self.expire_if_needed(db, key) {
            return None;
        }
        self.shard(key).dbs[db].keys.get_mut(key)
    }

    /// The live value of `key` in the current database, counting a hit or miss.
    pub fn get(&mut self, key: &[u8]) -> Option<&mut Value> {
        let db = self.db;
        let gone = self.expire_if_needed(db, key);
        let touch = self.touch;
        let sh = self.shard(key);
        match sh.dbs[db].keys.get_mut(key).filter(|_| !gone) {
            Some(v) => {
                sh.stats.hits += 1;
                if touch {
                    v.touch();
                }
                Some(v)
            }
            None => {
                sh.stats.misses += 1;
                None
            }
        }
    }

    /// Like [`Locked::get`] without touching statistics or the access clock.
    pub fn peek(&mut self, key: &[u8]) -> Option<&mut Value> {
        let db = self.db;
        self.get_in(db, key)
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        self.peek(key).is_some()
    }

    /// The string at `key`: `Ok(None)` if missing, WRONGTYPE for other types.
    pub fn get_str(&mut self, key: &[u8]) -> CmdResult<Option<&mut Str>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Str(s, _)) => Ok(Some(s)),
            Some(_) => Err(WRONGTYPE.into()),
        }
    }

    /// Deletes `key` if it holds an emptied collection (Redis never keeps an empty one) and
    /// records the deletion as `DEL key`. True if it did.
    pub fn delete_if_empty(&mut self, key: &[u8]) -> bool {
        let empty = matches!(self.peek(key), Some(v) if v.vtype() != ValueType::String && v.elements() == 0);
        if empty {
            self.remove(key);
            self.record(
                key,
                "del",
                ChangeKind::Remove,
                ValueType::None,
                &[b"DEL", key],
            );
        }
        empty
    }

    /// Marks the string at `key` as modified in place (APPEND, SETRANGE), which `OBJECT
    /// ENCODING` reports as `raw`, as Redis's `dbUnshareStringValue` does.
    pub fn mark_raw(&mut self, key: &[u8]) {
        if let Some(v) = self.peek(key) {
            v.meta_mut().set_raw();
        }
    }

    /// Stores `value` at `key` in the current database. Keeps the TTL if `keep_ttl`, else clears
    /// it. Returns whether the key existed.
    pub fn put(&mut self, key: &[u8], value: Value, keep_ttl: bool) -> bool {
        let db = self.db;
        self.put_in(db, key, value, keep_ttl)
    }

    pub fn put_in(&mut self, db: usize, key: &[u8], value: Value, keep_ttl: bool) -> bool {
        self.expire_if_needed(db, key);
        self.capture_in(db, key);
        let feeds = matches!(value, Value::List(..) | Value::ZSet(..) | Value::Stream(..));
        let sh = self.shard(key);
        // Replacing a stream ends the waits of its XREADGROUP clients (Redis's
        // `signalDeletedKeyAsReady`), so a stream overwritten by anything counts too.
        let watched = sh.waiters.watched(key)
            && (feeds || matches!(sh.dbs[db].keys.get(key), Some(Value::Stream(..))));
        let d = &mut sh.dbs[db];
        if !keep_ttl && !d.expires.is_empty() {
            d.expires.swap_remove(key);
        }
        let existed = match d.keys.get_mut(key) {
            Some(slot) => {
                let mut value = value;
                // Under LFU an overwritten key keeps its access counter (Redis's dbOverwrite).
                value.meta_mut().inherit_lfu(slot.meta());
                *slot = value;
                true
            }
            None => {
                d.keys.insert_new(Key::from_slice(key), value);
                false
            }
        };
        if watched {
            self.mark_ready(db, key);
        }
        existed
    }

    /// Marks `key` in `db` as possibly feeding blocked clients, if any wait on it: they are
    /// served when this `Locked` is dropped (see `blocking`).
    #[inline]
    pub fn signal_ready(&mut self, db: usize, key: &[u8]) {
        if self.shard(key).waiters.watched(key) {
            self.mark_ready(db, key);
        }
    }

    fn mark_ready(&mut self, db: usize, key: &[u8]) {
        if !self
            .ready
            .iter()
            .any(|(d, k)| *d == db && k.as_slice() == key)
        {
            self.ready.push((db, Key::from_slice(key)));
        }
    }

    /// The waiters of the (locked) shard owning `key`.
    pub fn waiters_of(&mut self, key: &[u8]) -> &mut blocking::Waiters {
        &mut self.shard(key).waiters
    }

    /// Adds the shard of `key` to the locked set without waiting (a lock taken out of order
    /// must never block). False if another command holds it.
    pub fn try_lock_key(&mut self, key: &[u8]) -> bool {
        let i = self.ks.shard_of(key);
        if self.guards.iter().any(|(gi, _)| *gi == i) {
            return true;
        }
        let Some(g) = self.ks.shards[i].try_lock() else {
            return false;
        };
        let mut one = [(i, g)];
        if self.ks.snapping.load(std::sync::atomic::Ordering::Acquire) {
            self.ks.snapshot_shards(&mut one);
        }
        let [entry] = one;
        self.guards.push(entry);
        true
    }

    /// Removes `key` from the current database (no recording).
    pub fn remove(&mut self, key: &[u8]) -> Option<Value> {
        let db = self.db;
        self.remove_in(db, key)
    }

    pub fn remove_in(&mut self, db: usize, key: &[u8]) -> Option<Value> {
        self.expire_if_needed(db, key);
        self.capture_in(db, key);
        let sh = self.shard(key);
        let v = sh.dbs[db].remove(key);
        if matches!(v, Some(Value::Stream(..))) && sh.waiters.watched(key) {
            // A deleted stream ends the waits of its XREADGROUP clients.
            self.mark_ready(db, key);
        }
        v
    }

    /// Absolute expiry (ms) of a live key.
    pub fn ttl_of(&mut self, key: &[u8]) -> Option<u64> {
        let db = self.db;
        self.ttl_in(db, key)
    }

    pub fn ttl_in(&mut self, db: usize, key: &[u8]) -> Option<u64> {
        let d = &self.shard(key).dbs[db];
        if d.expires.is_empty() {
            return None;
        }
        d.expires.get(key).copied()
    }

    /// Sets the absolute expiry of an existing key in `db`.
    pub fn set_ttl_in(&mut self, db: usize, key: &[u8], at: u64) {
        let d = &mut self.shard(key).dbs[db];
        if let Some(e) = d.expires.get_mut(key) {
            *e = at;
        } else {
            d.expires.insert(Key::from_slice(key), at);
        }
    }

    pub fn set_ttl(&mut self, key: &[u8], at: u64) {
        let db = self.db;
        self.set_ttl_in(db, key, at)
    }

    /// Removes the expiry of `key`; true if it had one.
    pub fn persist(&mut self, key: &[u8]) -> bool {
        let db = self.db;
        let d = &mut self.shard(key).dbs[db];
        !d.expires.is_empty() && d.expires.swap_remove(key).is_some()
    }

    /// Records a change made by this command's caller in the current database.
    pub fn record(
        &mut self,
        key: &[u8],
        event: &str,
        change: ChangeKind,
        vtype: ValueType,
        args: &[&[u8]],
    ) {
        let db = self.db;
        self.record_in(db, key, event, change, vtype, args);
    }

    fn image_of(&self, v: &Value) -> Option<Vec<u8>> {
        image_of(self.ks, self.images, v)
    }

    /// Captures the value of `key` before this command changes it in place (collections
    /// mutated through `get`), so its change record can carry the old image. `put`/`remove`
    /// capture by themselves.
    pub fn capture_old(&mut self, key: &[u8]) {
        let db = self.db;
        self.expire_if_needed(db, key);
        self.capture_in(db, key);
    }

    fn capture_in(&mut self, db: usize, key: &[u8]) {
        if !self.images
            || self
                .old
                .iter()
                .any(|(d, k, _)| *d == db && k.as_slice() == key)
        {
            return;
        }
        let (ks, on) = (self.ks, self.images);
        let img = self.shard(key).dbs[db]
            .keys
            .get(key)
            .and_then(|v| image_of(ks, on, v));
        self.old.push((db, Key::from_slice(key), img));
    }

    /// Records a change in another database (MOVE, COPY ... DB).
    #[allow(clippy::too_many_arguments)]
    pub fn record_in(
        &mut self,
        db: usize,
        key: &[u8],
        event: &str,
        change: ChangeKind,
        vtype: ValueType,
        args: &[&[u8]],
    ) {
        let who = self.who;
        if !self.images {
            self.rec.record(who, db, key, event, change, vtype, args);
            return;
        }
        let old = self
            .old
            .iter()
            .position(|(d, k, _)| *d == db && k.as_slice() == key)
            .and_then(|i| self.old.swap_remove(i).2);
        let mut new_is_set_arg = false;
        let mut new = None;
        if vtype != ValueType::None {
            let ks = self.ks;
            match self.shard(key).dbs[db].keys.get(key) {
                Some(Value::Str(s, _))
                    if args.len() >= 3 && args[0] == b"SET" && args[2] == s.as_slice() =>
                {
                    new_is_set_arg = true;
                }
                Some(v) => new = image_of(ks, true, v),
                None => {}
            }
        }
        self.rec.record_with(
            who,
            db,
            key,
            event,
            change,
            vtype,
            args,
            Images {
                old: old.as_deref(),
                new: new.as_deref(),
                new_is_set_arg,
            },
        );
    }
}
