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
//! queries), as a priority. Connections themselves (socket reads, the RESP or WebSocket framing
//! of pushes) stay on the client runtime, with one exception: a TCP or Unix-socket connection
//! writes a backlog of change pushes of [`OFFLOAD_MIN`] bytes or more through [`write_now`],
//! which makes the system call here while the connection's task waits for it. On the client
//! runtime those writes were 5.6% of the I/O thread's time under `redis-benchmark -t set -P 16`
//! with one tailing subscriber (perf), time taken from every client (a loopback send also runs
//! the receiving side's TCP processing and wakes the subscriber); with them here, what a
//! tailing subscriber adds to the I/O thread's CPU per SET fell from 8.6% to 4.0% (4
//! alternating pairs of runs).
//!
//! The runtime is created at the first spawn, with the values the server started with, and is
//! never dropped (a runtime cannot be dropped from async code); its threads end with the
//! process. Tasks on it watch `Server::shutting_down` or their connection, like every task of
//! the server.

use std::future::Future;
use std::io::{IoSlice, Write};
use std::os::fd::BorrowedFd;
use std::sync::OnceLock;

use bytes::Bytes;

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

/// Push writes of at least this many bytes go through [`write_now`]; smaller ones cost less
/// than the hop.
pub const OFFLOAD_MIN: usize = 16 * 1024;

/// Writes as much of `bufs` as the socket `fd` takes without waiting, on this runtime, and
/// returns how many bytes that was; the caller writes the rest (0 when the socket was full or
/// the runtime is not running). The caller awaits it, so it is still the socket's only writer,
/// and the write is non-blocking (tokio sockets are), so the wait is short. The job writes
/// through a duplicate of the descriptor: a caller dropped meanwhile (its connection killed)
/// may close the socket, and its number could then name another connection's.
pub async fn write_now(fd: BorrowedFd<'_>, bufs: &[Bytes]) -> usize {
    let Some(Some(rt)) = RUNTIME.get() else {
        return 0;
    };
    let Ok(fd) = fd.try_clone_to_owned() else {
        return 0;
    };
    let bufs = bufs.to_vec();
    let (tx, rx) = tokio::sync::oneshot::channel();
    rt.spawn(async move {
        let _ = tx.send(write_nonblocking(&std::fs::File::from(fd), &bufs));
    });
    rx.await.unwrap_or(0)
}

/// Gathers `bufs` into writes until they are all written or the socket would block (or fails:
/// the caller's own write then reports the error).
fn write_nonblocking(file: &std::fs::File, bufs: &[Bytes]) -> usize {
    let mut slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
    let mut rest = &mut slices[..];
    let mut written = 0;
    while !rest.is_empty() {
        // Linux takes at most 1024 buffers in one write (IOV_MAX).
        let n = rest.len().min(1024);
        match (&*file).write_vectored(&rest[..n]) {
            Ok(0) => break,
            Ok(k) => {
                written += k;
                IoSlice::advance_slices(&mut rest, k);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    written
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
