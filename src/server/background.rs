//! The runtime the change log's push readers run on, at a lower OS priority than clients:
//! CHANGES SUBSCRIBE subscriptions, trigger partitions and redrives, and the NATS bridge's
//! change publisher.
//!
//! Tokio has no task priorities. A reader that has a backlog reads the log, encodes and sends
//! as fast as the CPU lets it, and on the runtime that serves clients it took the writers'
//! CPU: a trigger posting to a local function cost them 35–50% of their throughput
//! (`examples/trigger_bench.rs`), one tailing subscriber about a third
//! (`examples/feed_tail_impact.py`). These readers follow a durable log, so they can afford to
//! wait: they run here, on `changes-reader-threads` threads whose nice value is raised by
//! `changes-reader-nice`. When clients keep every core busy the kernel runs them first; the
//! readers fall behind, in order, and catch up once the burst ends (a subscriber's push queue
//! and its catch-up reads keep its memory bounded, `changes::subscribe`). When a core is free
//! the niceness changes nothing. It is the idea of Redis's `bio_cpulist` (background work kept
//! off the main thread's CPU) and of PostgreSQL's autovacuum cost delay (maintenance yields to
//! queries), as a priority. Connections themselves (socket reads and writes, the RESP or
//! WebSocket framing of pushes) stay on the client runtime.
//!
//! The runtime is created at the first spawn, with the values the server started with, and is
//! never dropped (a runtime cannot be dropped from async code); its threads end with the
//! process. Tasks on it watch `Server::shutting_down` or their connection, like every task of
//! the server.

use std::future::Future;
use std::sync::OnceLock;

use crate::config::Config;

/// `changes-reader-threads` and `changes-reader-nice`, set at start-up ([`configure`]).
static SETTINGS: OnceLock<(usize, libc::c_int)> = OnceLock::new();
static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();

/// Records the server's settings for the runtime (called once by `server::run`; the runtime
/// itself starts with the first spawn).
pub fn configure(config: &Config) {
    let threads = config.get_i64("changes-reader-threads").max(1) as usize;
    let nice = config.get_i64("changes-reader-nice").clamp(0, 19) as libc::c_int;
    let _ = SETTINGS.set((threads, nice));
}

/// Spawns `fut` on the background runtime, or on the current one if there is none (not
/// configured, or it could not be built).
pub fn spawn<F>(fut: F) -> tokio::task::JoinHandle<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let rt = RUNTIME.get_or_init(|| SETTINGS.get().and_then(|&(t, n)| build(t, n)));
    match rt {
        Some(rt) => rt.spawn(fut),
        None => tokio::spawn(fut),
    }
}

fn build(threads: usize, nice: libc::c_int) -> Option<tokio::runtime::Runtime> {
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("eddy-reader")
        .on_thread_start(move || lower_priority(nice))
        .enable_all()
        .build();
    match built {
        Ok(rt) => Some(rt),
        Err(e) => {
            tracing::warn!(error = %e, "can't start the change readers' runtime; they share the client runtime");
            None
        }
    }
}

/// Raises the calling thread's nice value by `by` (Linux priorities are per thread).
fn lower_priority(by: libc::c_int) {
    if by == 0 {
        return;
    }
    // SAFETY: plain system calls on the calling thread; errors are reported, not relied on.
    let rc = unsafe {
        let tid = libc::gettid() as libc::id_t;
        let now = libc::getpriority(libc::PRIO_PROCESS, tid);
        libc::setpriority(libc::PRIO_PROCESS, tid, now.saturating_add(by).min(19))
    };
    if rc != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "can't lower the change readers' priority");
    }
}
