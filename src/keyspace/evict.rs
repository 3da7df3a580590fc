//! Eviction under `maxmemory`: before a command runs, keys are deleted by
//! `maxmemory-policy` until the memory the dataset uses is back under the limit; when that is
//! not possible (`noeviction`, or no key the policy may take), commands that can grow memory
//! are refused with Redis's `-OOM` error (`commands::execute`).
//!
//! As in Redis, the figure compared with `maxmemory` is the allocator's live byte count (INFO
//! `used_memory`) minus what the server holds for its change log rather than for the dataset:
//! the log's in-memory tail and the shared push rings play the part of Redis's AOF buffer and
//! replica output buffers, which Redis also leaves out (INFO `mem_not_counted_for_evict`).
//!
//! Victims are chosen Redis's way, by sampling: `maxmemory-samples` keys of each database of a
//! random shard (the keyspace's dense key vectors make a random pick O(1)), and the best of
//! the sample by the policy: the longest idle for `*-lru`, the lowest access counter for
//! `*-lfu` (`keyspace::value::Meta`), the nearest expiry for `volatile-ttl`, any for
//! `*-random`. Each deletion is a change like any other: recorded as
//! `evicted` with origin `eviction` (the change feed, the `evicted` keyspace notification,
//! client-side caching invalidation) and counted in INFO's `evicted_keys`.
//!
//! One call evicts for at most [`TIME_LIMIT`], as Redis bounds an eviction pass
//! (`maxmemory-eviction-tenacity`); a command that finds memory still over the limit after
//! such a pass runs, and the next command evicts more. Between commands the server's periodic
//! task goes on ([`background`], as Redis's eviction time event), so a limit lowered by CONFIG
//! SET is reached without traffic too.

use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::changes::Who;
use crate::server::Server;

/// The longest one call spends evicting (Redis's default tenacity gives about 500 µs).
const TIME_LIMIT: Duration = Duration::from_micros(500);

/// `maxmemory-policy`, in the order of the option's values (`config`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Policy {
    NoEviction,
    AllKeysLru,
    AllKeysLfu,
    AllKeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
}

impl Policy {
    fn from_index(i: u32) -> Policy {
        match i {
            1 => Policy::AllKeysLru,
            2 => Policy::AllKeysLfu,
            3 => Policy::AllKeysRandom,
            4 => Policy::VolatileLru,
            5 => Policy::VolatileLfu,
            6 => Policy::VolatileRandom,
            7 => Policy::VolatileTtl,
            _ => Policy::NoEviction,
        }
    }

    /// How much the policy wants a sampled key gone (the highest score goes): its idle
    /// seconds, its rarity, how soon it expires (`at`, for volatile keys), or nothing.
    fn score(self, clock: u32, v: Option<&crate::keyspace::value::Value>, at: Option<u64>) -> u64 {
        match self {
            Policy::AllKeysRandom | Policy::VolatileRandom | Policy::NoEviction => 0,
            Policy::VolatileTtl => u64::MAX - at.unwrap_or(u64::MAX),
            Policy::AllKeysLfu | Policy::VolatileLfu => rarity(v),
            Policy::AllKeysLru | Policy::VolatileLru => idle(clock, v),
        }
    }

    fn volatile(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }
}

thread_local! {
    static RNG: RefCell<rand::rngs::SmallRng> = RefCell::new(rand::rngs::SmallRng::from_os_rng());
}

/// Memory left out of what is compared with `maxmemory` (INFO's `mem_not_counted_for_evict`).
pub fn not_counted(srv: &Server) -> u64 {
    (srv.log.memory_bytes() + srv.feed_shares.bytes()) as u64
}

/// Memory counted against `maxmemory`.
pub fn counted(srv: &Server) -> u64 {
    crate::util::alloc::used().saturating_sub(not_counted(srv))
}

/// Whether Redis would share the object of a small integer value (`OBJ_SHARED_INTEGERS`): not
/// when a limit is set under an LRU or LFU policy, whose per-object access data a shared
/// object cannot keep.
pub fn shares_integers(srv: &Server) -> bool {
    let policy = Policy::from_index(srv.config.hot.maxmemory_policy.load(Ordering::Relaxed));
    limit(srv).is_none()
        || !matches!(
            policy,
            Policy::AllKeysLru | Policy::AllKeysLfu | Policy::VolatileLru | Policy::VolatileLfu
        )
}

/// The limit, or None when there is none.
#[inline]
pub fn limit(srv: &Server) -> Option<u64> {
    let max = srv.config.hot.maxmemory.load(Ordering::Relaxed);
    (max != 0).then_some(max)
}

/// Evicts until the dataset is under `maxmemory` (or [`TIME_LIMIT`] passes). False when it is
/// over the limit and nothing may be evicted: the caller refuses commands that grow memory.
pub fn perform(srv: &Server, max: u64) -> bool {
    // The common case in one atomic load: the uncounted parts only matter when over.
    if crate::util::alloc::used() <= max || counted(srv) <= max {
        return true;
    }
    let policy = Policy::from_index(srv.config.hot.maxmemory_policy.load(Ordering::Relaxed));
    if policy == Policy::NoEviction {
        return false;
    }
    let samples = srv
        .config
        .hot
        .maxmemory_samples
        .load(Ordering::Relaxed)
        .max(1) as usize;
    let start = Instant::now();
    while counted(srv) > max {
        let Some((db, key)) = RNG.with(|r| pick(srv, policy, samples, &mut r.borrow_mut())) else {
            return false;
        };
        let now = crate::util::now_ms();
        let mut l = srv.keyspace.lock(&srv.log, Who::EVICTION, db, now, &[&key]);
        l.evict(db, &key);
        drop(l);
        crate::util::alloc::publish();
        if start.elapsed() > TIME_LIMIT {
            break;
        }
    }
    true
}

/// The periodic pass: while memory is over the limit, evicts for up to [`BACKGROUND_LIMIT`]
/// per tick (not while a script runs or clients are paused, as Redis).
pub fn background(srv: &Server) {
    let Some(max) = limit(srv) else {
        return;
    };
    if srv.pause.is_paused() {
        return;
    }
    let Some(_world) = srv.world_read(0) else {
        return;
    };
    let start = Instant::now();
    while start.elapsed() < BACKGROUND_LIMIT && counted(srv) > max {
        if !perform(srv, max) {
            return;
        }
    }
}

/// The most a periodic pass spends: it runs on a client thread, so it stays short (commands
/// evict too, each for up to [`TIME_LIMIT`]).
const BACKGROUND_LIMIT: Duration = Duration::from_millis(5);

/// The best victim of a sample drawn from one shard with candidates (trying the shards from a
/// random one on), or None when no shard has a key the policy may take.
fn pick(
    srv: &Server,
    policy: Policy,
    samples: usize,
    rng: &mut impl Rng,
) -> Option<(usize, Vec<u8>)> {
    let ks = &srv.keyspace;
    let n = ks.nshards();
    let first = rng.random_range(0..n);
    let clock = crate::keyspace::value::clock();
    for step in 0..n {
        let shard = (first + step) % n;
        let best = ks.with_shard(shard, |sh| {
            // (score, db, key): the highest score goes.
            let mut best: Option<(u64, usize, Vec<u8>)> = None;
            for (db, d) in sh.dbs.iter().enumerate() {
                let len = if policy.volatile() {
                    d.expires.len()
                } else {
                    d.keys.len()
                };
                for _ in 0..samples.min(len) {
                    let i = rng.random_range(0..len);
                    let (key, v, at) = if policy.volatile() {
                        let Some((k, &at)) = d.expires.get_index(i) else {
                            continue;
                        };
                        (k, d.keys.get(k.as_slice()), Some(at))
                    } else {
                        let Some((k, v)) = d.keys.get_index(i) else {
                            continue;
                        };
                        (k, Some(v), None)
                    };
                    let score = policy.score(clock, v, at);
                    if best.as_ref().is_none_or(|(s, _, _)| score > *s) {
                        best = Some((score, db, key.to_vec()));
                    }
                }
            }
            best
        });
        if let Some((_, db, key)) = best {
            return Some((db, key));
        }
    }
    None
}

/// How rarely the value is used: 255 minus its decayed access counter (LFU policies).
fn rarity(v: Option<&crate::keyspace::value::Value>) -> u64 {
    v.map_or(0, |v| 255 - u64::from(v.freq()))
}

/// Seconds since the value was last accessed, on the wrapping access clock.
fn idle(clock: u32, v: Option<&crate::keyspace::value::Value>) -> u64 {
    v.map_or(0, |v| u64::from(clock.wrapping_sub(v.access_clock())))
}
