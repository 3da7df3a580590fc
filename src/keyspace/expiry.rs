//! Active expiry: a background cycle that samples keys with a TTL and deletes the expired ones,
//! so a key that is never read again still goes away (and its memory with it).
//!
//! As Redis's `activeExpireCycle`: every tick (10 per second, `hz`) each shard's databases with
//! volatile keys are sampled 20 keys at a time; sampling repeats on a database while more than a
//! quarter of the sample was expired, bounded by a time budget per tick so a burst of expiries
//! never stalls writers. Each deletion is recorded as `expired` with origin `expiry`. Shards are
//! locked one at a time and briefly, under the shared world lock like any other writer.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

use crate::changes::Who;
use crate::server::Server;

const SAMPLE: usize = 20;
/// Share of a tick the cycle may spend (Redis: 25% of CPU at hz 10).
const BUDGET: Duration = Duration::from_millis(25);

/// Runs the cycle until the server shuts down.
pub async fn run(srv: Arc<Server>) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rng = rand::rngs::SmallRng::from_os_rng();
    loop {
        tick.tick().await;
        crate::keyspace::value::tick_clock();
        crate::util::reanchor();
        srv.rates.sample(&srv);
        if srv.shutting_down() {
            return;
        }
        // A follower leaves expiry and eviction to its primary (`server::follow`), as a Redis
        // replica does (`replica-ignore-maxmemory yes`).
        if srv.keyspace.follower.load(Ordering::Relaxed) {
            continue;
        }
        crate::keyspace::evict::background(&srv);
        // CLIENT PAUSE freezes the dataset, as Redis's pause does for expiry.
        if !srv.active_expire.load(Ordering::Relaxed) || srv.pause.is_paused() {
            continue;
        }
        cycle(&srv, &mut rng);
    }
}

/// One pass over every shard; returns how many keys were deleted.
pub fn cycle(srv: &Server, rng: &mut impl Rng) -> usize {
    let start = Instant::now();
    let mut deleted = 0;
    // Not while a script runs: it may run long, and this must not hold a thread meanwhile.
    let Some(_world) = srv.world_read(0) else {
        return 0;
    };
    let ks = &srv.keyspace;
    for shard in 0..ks.nshards() {
        for db in 0..ks.ndbs() {
            loop {
                let now = crate::util::now_ms();
                let (expired_in_sample, sampled) = sample_once(srv, shard, db, now, rng);
                deleted += expired_in_sample;
                if sampled == 0 || expired_in_sample * 4 <= sampled || start.elapsed() > BUDGET {
                    break;
                }
            }
        }
        if start.elapsed() > BUDGET {
            break;
        }
    }
    let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    crate::commands::latency::sample_if_needed(srv, "expire-cycle", ns);
    deleted
}

fn sample_once(
    srv: &Server,
    shard: usize,
    db: usize,
    now: u64,
    rng: &mut impl Rng,
) -> (usize, usize) {
    let ks = &srv.keyspace;
    // Pick expired keys under the shard lock, then delete them through a normal `Locked` so the
    // deletion is recorded exactly as a lazy expiry would be.
    let (victims, sampled) = ks.with_shard(shard, |sh| {
        let d = &mut sh.dbs[db];
        let n = d.expires.len();
        if n == 0 {
            return (Vec::new(), 0);
        }
        let mut v = Vec::new();
        for _ in 0..SAMPLE.min(n) {
            let i = rng.random_range(0..n);
            if let Some((k, &at)) = d.expires.get_index(i) {
                if at <= now {
                    v.push(k.to_vec());
                }
            }
        }
        if d.keys.capacity() > 1024 && d.keys.len() * 4 < d.keys.capacity() {
            d.keys.shrink_to_fit();
            d.expires.shrink_to_fit();
        }
        v.sort_unstable();
        v.dedup();
        (v, SAMPLE.min(n))
    });
    let mut n = 0;
    for k in &victims {
        let mut l = ks.lock(&srv.log, Who::EXPIRY, db, now, &[k.as_slice()]);
        if l.expire_if_needed(db, k) {
            n += 1;
        }
    }
    (n, sampled)
}
