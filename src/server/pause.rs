//! CLIENT PAUSE and CLIENT UNPAUSE.
//!
//! A pause has a mode (WRITE or ALL) and an end time. As in Redis's `pauseClients`, a new pause
//! keeps the stricter mode and the later end of the two, and UNPAUSE ends it at once. A
//! connection checks the pause before each command of a batch, but reads its state only once
//! per batch ([`Pause::mode`], one atomic load); a command the pause applies to is not started:
//! the batch stops there, the replies of the commands before it are written, and the
//! connection task awaits the end of the pause ([`Pause::wait`]: a `Notify` raced with the
//! deadline, never a blocked worker thread), then runs the command and the rest of its input.
//! Commands already running when the pause starts finish; so do the rest of a batch that had
//! already read the state (the pause applies from that connection's next batch).
//!
//! What a pause applies to, from Redis 7.0's `processCommand`: in ALL mode every command; in
//! WRITE mode the commands that may change data or propagate — those flagged `write`, plus
//! PUBLISH and SPUBLISH (Redis's `may_replicate`; EVAL, FCALL and PFCOUNT too, which Eddy does not
//! have), and EXEC. Redis holds an EXEC only if a queued command is one of those; the queue's
//! contents are private to `commands::transactions`, so here any non-empty EXEC is held (a
//! read-only transaction waits too; never the reverse). Commands queued inside MULTI are paused
//! as they arrive, as in Redis. Monitors (replicas in Redis) are never paused.
//!
//! While paused, the active expiry cycle deletes nothing (Redis pauses expiry and eviction so a
//! failover sees a frozen dataset). Unlike Redis, a key that a read finds expired during a pause
//! is still deleted (and its change recorded).

use std::sync::atomic::{AtomicI64, AtomicU8, AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::commands::{flag, CommandSpec};

pub const NONE: u8 = 0;
pub const WRITE: u8 = 1;
pub const ALL: u8 = 2;

#[derive(Default)]
pub struct Pause {
    /// NONE, WRITE or ALL; may stay set after `end_ms` passed until someone looks.
    mode: AtomicU8,
    /// Unix ms at which the pause ends.
    end_ms: AtomicI64,
    /// Serialises changes, so `mode` and `end_ms` move together.
    lock: Mutex<()>,
    /// Woken on UNPAUSE and on every change.
    changed: Notify,
    /// Connections waiting for the pause to end (INFO `blocked_clients` counts them).
    pub waiting: AtomicUsize,
}

impl Pause {
    /// The pause mode as last set (NONE almost always): the connection's one load per batch.
    #[inline]
    pub fn mode(&self) -> u8 {
        self.mode.load(Ordering::Acquire)
    }

    /// The mode in effect now; clears a pause whose time has passed.
    pub fn current(&self) -> u8 {
        let m = self.mode();
        if m == NONE {
            return NONE;
        }
        let now = crate::util::now_ms() as i64;
        if now < self.end_ms.load(Ordering::Acquire) {
            return m;
        }
        let _g = self.lock.lock();
        if now >= self.end_ms.load(Ordering::Acquire) {
            self.mode.store(NONE, Ordering::Release);
        }
        self.mode()
    }

    /// Whether anything is paused (for background work that a pause freezes).
    pub fn is_paused(&self) -> bool {
        self.current() != NONE
    }

    /// CLIENT PAUSE: `end_ms` is the absolute end (Redis adds the timeout to the clock without
    /// an overflow check, so an absurd timeout ends in the past).
    pub fn pause(&self, end_ms: i64, mode: u8) {
        let _g = self.lock.lock();
        // An expired pause does not lend its mode to the new one.
        let cur = if crate::util::now_ms() as i64 >= self.end_ms.load(Ordering::Acquire) {
            NONE
        } else {
            self.mode()
        };
        self.mode.store(cur.max(mode), Ordering::Release);
        self.end_ms.fetch_max(end_ms, Ordering::AcqRel);
        self.changed.notify_waiters();
    }

    /// CLIENT UNPAUSE.
    pub fn unpause(&self) {
        let _g = self.lock.lock();
        self.mode.store(NONE, Ordering::Release);
        self.end_ms.store(0, Ordering::Release);
        self.changed.notify_waiters();
    }

    /// Waits until nothing is paused (a pause only becomes stricter or longer until it ends, so
    /// a command it held back stays held back until then).
    pub async fn wait(&self) {
        loop {
            let n = self.changed.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.current() == NONE {
                return;
            }
            let left = self.end_ms.load(Ordering::Acquire) - crate::util::now_ms() as i64;
            let left = std::time::Duration::from_millis(left.clamp(1, i64::MAX) as u64);
            tokio::select! {
                _ = n => {}
                _ = tokio::time::sleep(left) => {}
            }
        }
    }
}

/// Whether a command is one a WRITE pause holds back (Redis's `is_may_replicate_command`, for
/// the commands Eddy has). EXEC is decided by its queue, by the caller.
pub fn may_replicate(spec: &CommandSpec) -> bool {
    spec.flags & flag::WRITE != 0
        || matches!(
            spec.name,
            "publish" | "spublish" | "eval" | "evalsha" | "fcall"
        )
}

/// Whether a pause in `mode` holds back `spec` (`queued_writes`: for EXEC, whether its queue
/// holds a command that [`may_replicate`]).
pub fn applies(mode: u8, spec: &CommandSpec, queued_writes: bool) -> bool {
    match mode {
        ALL => true,
        WRITE => may_replicate(spec) || (spec.name == "exec" && queued_writes),
        _ => false,
    }
}

/// Whether the pause in effect holds back `spec` on this connection (monitors never wait).
pub fn holds(
    srv: &crate::server::Server,
    sess: &crate::server::session::Session,
    spec: &CommandSpec,
) -> bool {
    let mode = srv.pause.current();
    mode != NONE
        && !sess.info.monitor.load(Ordering::Relaxed)
        && !sess.from_primary()
        && applies(mode, spec, sess.tx.queued_any(may_replicate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_pause_keeps_the_stricter_mode_and_the_later_end() {
        let p = Pause::default();
        let now = crate::util::now_ms() as i64;
        assert_eq!(p.current(), NONE);
        p.pause(now + 60_000, WRITE);
        assert_eq!(p.current(), WRITE);
        p.pause(now + 1_000, ALL);
        assert_eq!(p.current(), ALL);
        assert_eq!(p.end_ms.load(Ordering::Relaxed), now + 60_000);
        p.unpause();
        assert_eq!(p.current(), NONE);
        // Already over: nothing is paused, and the stale mode is cleared on first look.
        p.pause(now - 1, ALL);
        assert_eq!(p.mode(), ALL);
        assert_eq!(p.current(), NONE);
        assert_eq!(p.mode(), NONE);
    }

    #[tokio::test]
    async fn waiters_wake_on_unpause_and_on_the_deadline() {
        let p = std::sync::Arc::new(Pause::default());
        let now = crate::util::now_ms() as i64;
        p.pause(now + 60_000, ALL);
        let p2 = p.clone();
        let w = tokio::spawn(async move { p2.wait().await });
        tokio::task::yield_now().await;
        assert!(!w.is_finished());
        p.unpause();
        tokio::time::timeout(std::time::Duration::from_secs(5), w)
            .await
            .expect("woken by UNPAUSE")
            .expect("task");
        p.pause(crate::util::now_ms() as i64 + 50, WRITE);
        tokio::time::timeout(std::time::Duration::from_secs(5), p.wait())
            .await
            .expect("ends by itself");
    }
}
