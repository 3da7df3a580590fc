//! The runtime that trigger deliveries run on, at a lower OS priority than client traffic.
//!
//! Tokio has no task priorities: a trigger with a backlog reads the log, encodes batches and
//! sends them as fast as the CPU lets it, and on the runtime that serves clients it took a third
//! of the writers' throughput on a busy machine (`examples/trigger_bench.rs`). A trigger reads a
//! durable log, so it can afford to wait: its partition tasks (and REDRIVE) run here, on
//! `trigger-threads` threads whose nice value is raised by `trigger-nice`. When clients keep
//! every core busy the kernel runs them first and triggers fall behind, still in order, and
//! catch up once the burst ends; when a core is free, the niceness changes nothing. It is the
//! idea of Redis's `bio_cpulist` (background work kept off the main thread's CPU) and of
//! PostgreSQL's autovacuum cost delay (maintenance yields to queries), as a priority.
//!
//! The runtime is created at the first spawn, with the values the server started with, and is
//! never dropped (a runtime cannot be dropped from async code); its threads end with the
//! process. Tasks on it watch `Server::shutting_down` like every task of the server.

use std::future::Future;
use std::sync::OnceLock;

use crate::config::Config;

static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();

/// Spawns `fut` on the background runtime, or on the current one if it could not be built.
pub fn spawn<F>(config: &Config, fut: F)
where
    F: Future<Output = ()> + Send + 'static,
{
    let rt = RUNTIME.get_or_init(|| build(config));
    match rt {
        Some(rt) => drop(rt.spawn(fut)),
        None => drop(tokio::spawn(fut)),
    }
}

fn build(config: &Config) -> Option<tokio::runtime::Runtime> {
    let threads = config.get_i64("trigger-threads").max(1) as usize;
    let nice = config.get_i64("trigger-nice").clamp(0, 19) as libc::c_int;
    let built = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("eddy-trigger")
        .on_thread_start(move || lower_priority(nice))
        .enable_all()
        .build();
    match built {
        Ok(rt) => Some(rt),
        Err(e) => {
            tracing::warn!(error = %e, "can't start the trigger runtime; triggers share the client runtime");
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
        tracing::debug!(error = %std::io::Error::last_os_error(), "can't lower the trigger threads' priority");
    }
}
