//! Small pieces shared by every family: number parsing and formatting with Redis's rules, glob
//! matching as `stringmatchlen`, the clock, and allocation accounting.

pub mod alloc;
pub mod glob;
pub mod num;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

static START: OnceLock<Instant> = OnceLock::new();
/// Wall-clock nanoseconds since the Unix epoch at `START`, re-anchored by [`reanchor`].
static WALL_AT_START_NS: AtomicU64 = AtomicU64::new(0);

fn start() -> Instant {
    *START.get_or_init(|| {
        let i = Instant::now();
        let w = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        WALL_AT_START_NS.store(w, Ordering::Relaxed);
        i
    })
}

/// One clock reading giving both a monotonic instant (for durations) and wall-clock ms (for
/// TTLs and timestamps): the command path reads the clock once instead of twice.
pub fn clock() -> (Instant, u64) {
    let s = start();
    let i = Instant::now();
    let ns = WALL_AT_START_NS.load(Ordering::Relaxed) + i.duration_since(s).as_nanos() as u64;
    (i, ns / 1_000_000)
}

/// Re-reads the wall clock so [`clock`] follows adjustments of the system time; called by the
/// periodic task.
pub fn reanchor() {
    let s = start();
    let i = Instant::now();
    let w = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    WALL_AT_START_NS.store(
        w.saturating_sub(i.duration_since(s).as_nanos() as u64),
        Ordering::Relaxed,
    );
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Microseconds since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
