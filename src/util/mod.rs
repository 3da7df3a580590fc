//! Small pieces shared by every family: number parsing and formatting with Redis's rules, glob
//! matching as `stringmatchlen`, C-string reading as Redis's C code sees client bytes, the clock,
//! allocation accounting, and spinning for a lock.

pub mod alloc;
pub mod glob;
pub mod num;
pub mod pages;

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

/// `b` up to its first NUL: what Redis's C code sees when it reads client bytes as a C string
/// (`%s`, `strtod`, `sdssplitargs`).
pub fn c_str(b: &[u8]) -> &[u8] {
    &b[..memchr::memchr(0, b).unwrap_or(b.len())]
}

/// `bytes` as lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// C's `isspace` in the "C" locale, which (unlike Rust's `is_ascii_whitespace`) includes the
/// vertical tab.
pub fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// Calls `attempt` until it succeeds or `limit` has passed, pausing the CPU between tries
/// without sleeping. The hot locks (a shard, the world lock behind a young script) are held for
/// microseconds: a waiter that slept in the futex made the holder pay a wake-up system call and
/// both threads a context switch on every hand-off.
pub fn spin_for<T>(
    limit: std::time::Duration,
    mut attempt: impl FnMut() -> Option<T>,
) -> Option<T> {
    if let Some(v) = attempt() {
        return Some(v);
    }
    let start = Instant::now();
    loop {
        for _ in 0..32 {
            std::hint::spin_loop();
        }
        if let Some(v) = attempt() {
            return Some(v);
        }
        if start.elapsed() >= limit {
            return None;
        }
    }
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

/// Appends Unix milliseconds as RFC 3339 UTC with milliseconds (`2024-11-28T11:12:25.123Z`) to
/// `out`, for CloudEvents `time` (one per record, so no string of its own). Civil date from
/// days since the epoch (Howard Hinnant's algorithm).
pub fn write_rfc3339(out: &mut Vec<u8>, ms: u64) {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let digits = |out: &mut Vec<u8>, v: u64, width: u32| {
        for i in (0..width).rev() {
            out.push(b'0' + (v / 10u64.pow(i) % 10) as u8);
        }
    };
    let y = y.max(0) as u64;
    digits(out, y, if y >= 10_000 { y.ilog10() + 1 } else { 4 });
    out.push(b'-');
    digits(out, m as u64, 2);
    out.push(b'-');
    digits(out, d as u64, 2);
    out.push(b'T');
    digits(out, rem / 3600, 2);
    out.push(b':');
    digits(out, rem % 3600 / 60, 2);
    out.push(b':');
    digits(out, rem % 60, 2);
    out.push(b'.');
    digits(out, ms % 1000, 3);
    out.push(b'Z');
}

/// This machine's host name (for CloudEvents `source`), `localhost` if it has none.
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL either way.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let n = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..n]) {
        Ok(s) if rc == 0 && !s.is_empty() => s.to_string(),
        _ => "localhost".to_string(),
    }
}

#[cfg(test)]
mod time_tests {
    fn rfc3339(ms: u64) -> String {
        let mut out = Vec::new();
        super::write_rfc3339(&mut out, ms);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn rfc3339_formats_utc_millis() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_732_792_345_123), "2024-11-28T11:12:25.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339(253_402_300_800_001), "10000-01-01T00:00:00.001Z");
    }
}
