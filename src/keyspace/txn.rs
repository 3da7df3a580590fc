//! What MULTI/EXEC needs from the keyspace: the registry of WATCHed keys, and the capture that
//! turns one EXEC's changes into one commit.
//!
//! ## Watches
//! Redis marks a watching client dirty from `signalModifiedKey`, called by every write command.
//! Eddy already records every effective change with its db and key, so the watches are touched
//! from the records when a [`Locked`](super::Locked) is dropped, still under the shard locks of
//! the keys it changed: no command family has code for WATCH, and expiry (lazy or active),
//! eviction and blocked-client hand-offs are covered like any other write. WATCH registers a key
//! under that key's shard lock too, so a change is either before the WATCH (not seen) or after
//! it (seen), never lost in between. Without watchers the cost is one atomic load per commit
//! ([`Registry::active`]).
//!
//! Redis 7's corner cases follow `multi.c`:
//! * A key already logically expired when WATCHed (still stored, TTL passed) is flagged; its
//!   deletion by expiry is then no change, and EXEC does not count it as expired. Any other
//!   watched key that is expired when EXEC runs makes EXEC fail (checked by the caller).
//! * FLUSHDB/FLUSHALL/SWAPDB records carry no key: they touch only watched keys that existed
//!   (Redis's `touchAllWatchedKeysInDb`), so each entry remembers whether its key was stored
//!   when watched. A clean entry's key has not changed since, so that is still its state.
//!
//! Lock order: shard locks, then a registry slot's mutex (innermost; nothing is locked under it).
//!
//! ## Capture
//! While an EXEC runs (alone: it holds the world lock exclusively), the `Locked`s of its queued
//! commands do not commit: they hand their records to this thread's capture, which EXEC commits
//! once at the end — one transaction id, consecutive offsets, nothing interleaved. Keys that
//! would wake blocked clients are served after that commit, as Redis serves them after EXEC.
//! The capture is a thread-local flag checked only by `Locked`s that recorded something.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use smallvec::SmallVec;

use super::value::{Key, ValueType};
use super::Keyspace;
use crate::changes::log::{for_each_uncommitted, ChangeLog};
use crate::changes::{Recorder, Who};

/// A watching client's "CAS dirty" flag: set when a key it watches changes.
pub type DirtyFlag = Arc<AtomicBool>;

struct Entry {
    client: u64,
    dirty: DirtyFlag,
    db: usize,
    /// The key was stored (possibly expired) — what FLUSHDB/SWAPDB compare with.
    existed: bool,
    /// The key was stored but already expired when watched (Redis's `wk->expired`).
    expired: bool,
}

type Slot = HashMap<Key, SmallVec<[Entry; 1]>>;

/// Watched keys → watching clients, in slots by the key's shard index.
pub struct Registry {
    slots: Box<[Mutex<Slot>]>,
    /// Entries in all slots: zero means no commit has anything to look up.
    count: AtomicUsize,
}

impl Registry {
    pub fn new(nslots: usize) -> Self {
        Registry {
            slots: (0..nslots.max(1))
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            count: AtomicUsize::new(0),
        }
    }

    /// Whether anyone watches anything. Relaxed suffices: a WATCH registers under the shard
    /// lock the writer takes next, so the mutex orders the two.
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    fn slot(&self, i: usize) -> &Mutex<Slot> {
        &self.slots[i % self.slots.len()]
    }

    /// Registers `client` as watching `key` in `db` (the caller holds the key's shard lock).
    #[allow(clippy::too_many_arguments)]
    pub fn watch(
        &self,
        slot: usize,
        db: usize,
        key: &[u8],
        client: u64,
        dirty: &DirtyFlag,
        existed: bool,
        expired: bool,
    ) {
        let mut s = self.slot(slot).lock();
        s.entry(Key::from_slice(key)).or_default().push(Entry {
            client,
            dirty: dirty.clone(),
            db,
            existed,
            expired,
        });
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn unwatch(&self, slot: usize, db: usize, key: &[u8], client: u64) {
        let mut s = self.slot(slot).lock();
        let Some(v) = s.get_mut(key) else {
            return;
        };
        let before = v.len();
        v.retain(|e| !(e.client == client && e.db == db));
        let removed = before - v.len();
        if v.is_empty() {
            s.remove(key);
        }
        self.count.fetch_sub(removed, Ordering::Relaxed);
    }

    /// Whether `client`'s entry for `key` was already expired when watched.
    pub fn watched_expired(&self, slot: usize, db: usize, key: &[u8], client: u64) -> bool {
        let s = self.slot(slot).lock();
        s.get(key).is_some_and(|v| {
            v.iter()
                .any(|e| e.client == client && e.db == db && e.expired)
        })
    }

    /// Marks the watchers of every key the records in `buf` changed (see the module docs).
    /// `slot_of` gives a key's slot; `stored(db, key)` says whether the key is stored now and,
    /// if so, whether it is expired — only asked for SWAPDB, whose records carry no key.
    pub fn touch(
        &self,
        buf: &[u8],
        slot_of: impl Fn(&[u8]) -> usize,
        stored: impl Fn(usize, &[u8]) -> Option<bool>,
    ) {
        for_each_uncommitted(buf, |r| {
            let db = r.db as usize;
            if !r.key.is_empty() {
                let mut s = self.slot(slot_of(r.key)).lock();
                let Some(v) = s.get_mut(r.key) else {
                    return;
                };
                for e in v.iter_mut().filter(|e| e.db == db) {
                    if e.expired && r.vtype == ValueType::None {
                        // The expired key is gone now: logically nothing changed.
                        e.expired = false;
                        e.existed = false;
                        continue;
                    }
                    e.dirty.store(true, Ordering::Release);
                }
                return;
            }
            match r.event {
                "flushall" => self.touch_all(|_| true, |_, _| None),
                "flushdb" => self.touch_all(|d| d == db, |_, _| None),
                "swapdb" => {
                    let n = |i| {
                        let a = std::str::from_utf8(r.args.get(i)?).ok()?;
                        usize::try_from(a.parse::<i64>().ok()?).ok()
                    };
                    if let (Some(x), Some(y)) = (n(1), n(2)) {
                        if x != y {
                            self.touch_all(|d| d == x || d == y, &stored);
                        }
                    }
                }
                _ => {}
            }
        });
    }

    /// Redis's `touchAllWatchedKeysInDb` for the databases `dbs` accepts, after the fact:
    /// `now(db, key)` is what the database holds now (nothing after a flush; the other
    /// database's former key after a swap).
    fn touch_all(&self, dbs: impl Fn(usize) -> bool, now: impl Fn(usize, &[u8]) -> Option<bool>) {
        for slot in self.slots.iter() {
            let mut s = slot.lock();
            for (key, v) in s.iter_mut() {
                for e in v.iter_mut().filter(|e| dbs(e.db)) {
                    if e.dirty.load(Ordering::Relaxed) {
                        continue;
                    }
                    let replaced = now(e.db, key);
                    if e.existed || replaced.is_some() {
                        let clean = if e.expired {
                            // Gone, or replaced by a key that is expired too.
                            replaced.is_none() || replaced == Some(true)
                        } else {
                            // Nothing there, replaced by an already expired key.
                            !e.existed && replaced == Some(true)
                        };
                        if !clean {
                            e.dirty.store(true, Ordering::Release);
                            continue;
                        }
                    }
                    e.existed = replaced.is_some();
                    e.expired = replaced == Some(true);
                }
            }
        }
    }
}

// -------------------------------------------------------------------------------------------
// Capture

#[derive(Default)]
struct Captured {
    rec: Recorder,
    /// Where each `Locked`'s records start in `rec` (notifications are derived per command).
    parts: Vec<usize>,
    /// Keys that may feed blocked clients, served after the commit.
    ready: Vec<(usize, Key)>,
}

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static CAPTURED: RefCell<Captured> = RefCell::new(Captured::default());
}

/// Whether an EXEC is capturing this thread's changes.
#[inline]
pub fn capturing() -> bool {
    CAPTURING.with(|c| c.get())
}

/// The log offset the keyspace's state corresponds to: the last committed offset, plus, inside
/// an EXEC, the changes captured so far (they are applied, and commit at the next offsets:
/// nothing else commits while EXEC holds the world lock). Snapshots taken inside EXEC
/// (BGSAVE, CHANGES SNAPSHOT) must claim this offset, or replaying the log after them would
/// apply those changes twice.
pub fn applied_offset(log: &ChangeLog) -> u64 {
    log.last_offset() + pending()
}

/// The next transaction id not yet taken, counting the one the running EXEC will take.
pub fn next_tx(log: &ChangeLog) -> u64 {
    log.next_tx() + u64::from(pending() > 0)
}

/// Records captured by this thread's running EXEC (0 outside EXEC).
fn pending() -> u64 {
    if !capturing() {
        return 0;
    }
    CAPTURED.with(|c| u64::from(c.borrow().rec.count))
}

/// Takes a `Locked`'s records into the capture.
pub(super) fn absorb(rec: &mut Recorder) {
    CAPTURED.with(|c| {
        let mut c = c.borrow_mut();
        let at = c.rec.buf.len();
        c.parts.push(at);
        c.rec.buf.extend_from_slice(&rec.buf);
        c.rec.count += rec.count;
    });
    rec.clear();
}

/// Takes a `Locked`'s ready keys, to serve their blocked clients after the commit.
pub(super) fn defer_ready(ready: &mut Vec<(usize, Key)>) {
    CAPTURED.with(|c| {
        let mut c = c.borrow_mut();
        for (db, k) in ready.drain(..) {
            if !c.ready.iter().any(|(d, x)| *d == db && *x == k) {
                c.ready.push((db, k));
            }
        }
    });
}

/// Captures this thread's changes until [`Capture::finish`] (or drop, which commits too: the
/// changes are applied, so they must reach the log even if a command panicked).
pub struct Capture<'a> {
    ks: &'a Keyspace,
    log: &'a ChangeLog,
    who: Who,
    now: u64,
    done: bool,
}

/// Starts capturing (an EXEC, with the world lock held exclusively).
pub fn begin<'a>(ks: &'a Keyspace, log: &'a ChangeLog, who: Who, now: u64) -> Capture<'a> {
    CAPTURED.with(|c| {
        let mut c = c.borrow_mut();
        c.rec.clear();
        c.parts.clear();
        c.ready.clear();
    });
    CAPTURING.with(|c| c.set(true));
    Capture {
        ks,
        log,
        who,
        now,
        done: false,
    }
}

impl Capture<'_> {
    /// Commits the captured changes as one transaction (with their keyspace notifications),
    /// then serves blocked clients the transaction fed. Returns the last offset committed.
    pub fn finish(mut self) -> u64 {
        self.end()
    }

    fn end(&mut self) -> u64 {
        if self.done {
            return 0;
        }
        self.done = true;
        CAPTURING.with(|c| c.set(false));
        let (mut rec, parts, ready) = CAPTURED.with(|c| {
            let mut c = c.borrow_mut();
            (
                std::mem::take(&mut c.rec),
                std::mem::take(&mut c.parts),
                std::mem::take(&mut c.ready),
            )
        });
        let mut last = 0;
        if !rec.is_empty() {
            let notify = crate::pubsub::notify::wanted(&self.ks.pubsub);
            last = if notify != 0 {
                crate::pubsub::notify::commit_tx_and_notify(
                    &self.ks.pubsub,
                    self.log,
                    &mut rec,
                    self.now,
                    notify,
                    &parts,
                )
            } else {
                self.log.commit_tx(&mut rec, self.now)
            };
        }
        for (db, key) in ready {
            let mut l = self
                .ks
                .lock(self.log, self.who, db, self.now, &[key.as_slice()]);
            l.ready.push((db, key));
        }
        // Keep the buffers for the next EXEC on this thread, unless one grew large.
        CAPTURED.with(|c| {
            let mut c = c.borrow_mut();
            if rec.buf.capacity() <= 1 << 20 {
                rec.clear();
                c.rec = rec;
            }
            if parts.capacity() <= 1 << 14 {
                c.parts = parts;
                c.parts.clear();
            }
        });
        last
    }
}

impl Drop for Capture<'_> {
    fn drop(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::{ChangeKind, Who};

    fn rec(f: impl FnOnce(&mut Recorder)) -> Recorder {
        let mut r = Recorder::default();
        f(&mut r);
        r
    }

    fn flag() -> DirtyFlag {
        Arc::new(AtomicBool::new(false))
    }

    const W: Who = Who {
        origin: crate::changes::Origin::Client,
        client_id: 9,
    };

    #[test]
    fn a_change_marks_only_the_watchers_of_that_key_and_db() {
        let reg = Registry::new(4);
        let (a, b, c) = (flag(), flag(), flag());
        reg.watch(0, 0, b"k", 1, &a, true, false);
        reg.watch(0, 1, b"k", 2, &b, true, false);
        reg.watch(0, 0, b"other", 3, &c, true, false);
        assert!(reg.active());
        let r = rec(|r| {
            r.record(
                W,
                0,
                b"k",
                "set",
                ChangeKind::Modify,
                ValueType::String,
                &[b"SET", b"k", b"v"],
            )
        });
        reg.touch(&r.buf, |_| 0, |_, _| None);
        assert!(a.load(Ordering::Relaxed));
        assert!(!b.load(Ordering::Relaxed));
        assert!(!c.load(Ordering::Relaxed));
        reg.unwatch(0, 0, b"k", 1);
        reg.unwatch(0, 1, b"k", 2);
        reg.unwatch(0, 0, b"other", 3);
        assert!(!reg.active());
    }

    #[test]
    fn flushes_touch_only_keys_that_existed_and_expired_keys_going_away_is_no_change() {
        let reg = Registry::new(2);
        let (present, absent, expired) = (flag(), flag(), flag());
        reg.watch(0, 0, b"p", 1, &present, true, false);
        reg.watch(1, 0, b"a", 2, &absent, false, false);
        reg.watch(1, 0, b"x", 3, &expired, true, true);
        let r = rec(|r| {
            r.record(
                W,
                0,
                b"",
                "flushall",
                ChangeKind::Remove,
                ValueType::None,
                &[b"FLUSHALL"],
            )
        });
        reg.touch(&r.buf, |_| 0, |_, _| None);
        assert!(present.load(Ordering::Relaxed));
        assert!(!absent.load(Ordering::Relaxed));
        assert!(!expired.load(Ordering::Relaxed));
        // The expired key's entry now says "not stored": a later SET is a change.
        let r = rec(|r| {
            r.record(
                W,
                0,
                b"x",
                "set",
                ChangeKind::Insert,
                ValueType::String,
                &[b"SET", b"x", b"1"],
            )
        });
        reg.touch(&r.buf, |_| 1, |_, _| None);
        assert!(expired.load(Ordering::Relaxed));
    }

    #[test]
    fn swapdb_touches_keys_present_on_either_side() {
        let reg = Registry::new(1);
        let (in_a, in_b, neither) = (flag(), flag(), flag());
        reg.watch(0, 0, b"a", 1, &in_a, true, false);
        reg.watch(0, 0, b"b", 2, &in_b, false, false);
        reg.watch(0, 0, b"n", 3, &neither, false, false);
        let r = rec(|r| {
            r.record(
                W,
                0,
                b"",
                "swapdb",
                ChangeKind::Modify,
                ValueType::None,
                &[b"SWAPDB", b"0", b"1"],
            )
        });
        // After the swap, db 0 holds what db 1 held: only "b".
        reg.touch(
            &r.buf,
            |_| 0,
            |db, k| (db == 0 && k == b"b").then_some(false),
        );
        assert!(in_a.load(Ordering::Relaxed));
        assert!(in_b.load(Ordering::Relaxed));
        assert!(!neither.load(Ordering::Relaxed));
    }
}
