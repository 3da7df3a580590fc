//! Allocation accounting: how many bytes the process has allocated and not freed.
//!
//! INFO's `used_memory` is, in Redis, the allocator's count of live bytes — not RSS, which also
//! holds freed-but-retained pages, thread stacks and the binary. [`Counting`] wraps the global
//! allocator to keep that count. Each thread accumulates its own delta and publishes it to one
//! shared atomic only when it moves by [`FLUSH`] bytes, so the hot path touches no shared cache
//! line; the published figure is therefore accurate to about `FLUSH` bytes per thread.
//!
//! [`release_freed`] hands memory freed after a burst back to the OS. glibc's malloc keeps freed
//! chunks inside its heaps resident until they are reused; Redis's jemalloc purges such pages in
//! the background. The log writer thread calls it once a second, and it calls `malloc_trim` only
//! when the live count fell well below its recent high-water mark, so a steady load pays nothing.

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A thread publishes its pending delta once it reaches this many bytes either way.
const FLUSH: i64 = 64 * 1024;

static USED: AtomicI64 = AtomicI64::new(0);
static PEAK: AtomicU64 = AtomicU64::new(0);
/// The highest count since [`release_freed`] last ran.
static WINDOW_PEAK: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static PENDING: Cell<i64> = const { Cell::new(0) };
}

#[inline]
fn account(delta: i64) {
    // `try_with`: during thread teardown the slot may be gone; publish directly then.
    let flushed = PENDING.try_with(|p| {
        let v = p.get() + delta;
        if (-FLUSH..=FLUSH).contains(&v) {
            p.set(v);
            None
        } else {
            p.set(0);
            Some(v)
        }
    });
    let publish = match flushed {
        Ok(None) => return,
        Ok(Some(v)) => v,
        Err(_) => delta,
    };
    let now = USED.fetch_add(publish, Ordering::Relaxed) + publish;
    if now > 0 && now as u64 > WINDOW_PEAK.load(Ordering::Relaxed) {
        WINDOW_PEAK.fetch_max(now as u64, Ordering::Relaxed);
        PEAK.fetch_max(now as u64, Ordering::Relaxed);
    }
}

/// Counts bytes mapped outside the allocator ([`crate::util::pages`]) as allocated (negative:
/// unmapped), so `used_memory` and `maxmemory` see the change log's tail wherever it lives.
pub fn count_mapped(delta: i64) {
    account(delta);
}

/// Publishes this thread's pending delta now, so [`used`] shows what the thread just freed
/// (eviction deletes keys until the count is under `maxmemory`).
pub fn publish() {
    if let Ok(v) = PENDING.try_with(|p| p.replace(0)) {
        if v != 0 {
            USED.fetch_add(v, Ordering::Relaxed);
        }
    }
}

/// Returns freed heap memory to the OS when at least `min_freed` bytes were freed since the
/// recent high-water mark. Returns whether it trimmed.
pub fn release_freed(min_freed: u64) -> bool {
    let now = used();
    let high = WINDOW_PEAK.swap(now, Ordering::Relaxed);
    if now == 0 || high < now + min_freed {
        return false;
    }
    purge()
}

/// The live count once the server is set up, before it loads data (MEMORY STATS'
/// `startup.allocated`, Redis's `used_memory_startup`).
static STARTUP: AtomicU64 = AtomicU64::new(0);

/// Records the current live count as the start-up figure.
pub fn mark_startup() {
    STARTUP.store(used(), Ordering::Relaxed);
}

/// See [`mark_startup`].
pub fn startup() -> u64 {
    STARTUP.load(Ordering::Relaxed)
}

/// Hands every freed page back to the OS now (MEMORY PURGE, and [`release_freed`] after a
/// burst). Returns whether the allocator can do that here.
pub fn purge() -> bool {
    WINDOW_PEAK.store(used(), Ordering::Relaxed);
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only walks and trims the allocator's own free lists.
        unsafe { libc::malloc_trim(0) };
        true
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// Live bytes allocated through [`Counting`] (0 when the binary doesn't use it, e.g. in tests).
pub fn used() -> u64 {
    USED.load(Ordering::Relaxed).max(0) as u64
}

/// The highest [`used`] seen.
pub fn peak() -> u64 {
    PEAK.load(Ordering::Relaxed)
}

/// A global allocator that counts live bytes, delegating to `A`.
pub struct Counting<A>(pub A);

// SAFETY: every method delegates to `A` with the caller's arguments unchanged; the counting has no
// effect on the memory returned.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            account(layout.size() as i64);
        }
        p
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            account(layout.size() as i64);
        }
        p
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { self.0.dealloc(ptr, layout) };
        account(-(layout.size() as i64));
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            account(new_size as i64 - layout.size() as i64);
        }
        p
    }
}
