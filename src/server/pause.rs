//! CLIENT PAUSE and CLIENT UNPAUSE, and the write pauses of a shutdown waiting for replicas and of
//! a failover.
//!
//! A pause has a mode (WRITE or ALL) and an end time, per [`Purpose`], as in Redis 7: a new
//! pause for a purpose keeps the stricter mode and the later end of the two, and ending one
//! purpose's pause (CLIENT UNPAUSE; SHUTDOWN ABORT) leaves the others' in force. What
//! applies is the strictest mode among the purposes still running, until the latest end among
//! those with that mode (Redis's `updateClientPauseTypeAndEndTime`); when it ends, a milder
//! pause that outlasts it takes over. A
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

/// Who paused: each has its own pause, and ends only its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// CLIENT PAUSE / CLIENT UNPAUSE.
    Client = 0,
    /// SHUTDOWN waiting for lagging replicas (`server::shutdown`).
    Shutdown = 1,
    /// FAILOVER, until the primary role has passed on or the failover is aborted
    /// (`server::failover`).
    Failover = 2,
}

/// Mode and end (Unix ms) of each purpose's pause; `NONE` when it has none.
type Slots = [(u8, i64); 3];

#[derive(Default)]
pub struct Pause {
    /// NONE, WRITE or ALL: what applies; may stay set after `end_ms` passed until someone looks.
    mode: AtomicU8,
    /// Unix ms at which what applies ends (then [`Pause::current`] looks again).
    end_ms: AtomicI64,
    /// Each purpose's pause; the lock also serialises changes, so `mode` and `end_ms` move
    /// together.
    slots: Mutex<Slots>,
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

    /// The mode in effect now; moves on from a pause whose time has passed.
    pub fn current(&self) -> u8 {
        let m = self.mode();
        if m == NONE {
            return NONE;
        }
        let now = crate::util::now_ms() as i64;
        if now < self.end_ms.load(Ordering::Acquire) {
            return m;
        }
        let mut slots = self.slots.lock();
        self.settle(&mut slots, now);
        self.mode()
    }

    /// Drops the pauses that ended by `now` and publishes what applies from the rest.
    fn settle(&self, slots: &mut Slots, now: i64) {
        let (mut mode, mut end) = (NONE, 0);
        for slot in slots.iter_mut() {
            if slot.0 != NONE && now >= slot.1 {
                *slot = (NONE, 0);
            }
            if slot.0 > mode || (slot.0 == mode && slot.0 != NONE && slot.1 > end) {
                (mode, end) = *slot;
            }
        }
        self.end_ms.store(end, Ordering::Release);
        self.mode.store(mode, Ordering::Release);
    }

    /// Whether anything is paused (for background work that a pause freezes).
    pub fn is_paused(&self) -> bool {
        self.current() != NONE
    }

    /// Pauses for `purpose` until `end_ms` (absolute: Redis adds CLIENT PAUSE's timeout to the
    /// clock without an overflow check, so an absurd timeout ends in the past).
    pub fn pause(&self, purpose: Purpose, end_ms: i64, mode: u8) {
        let mut slots = self.slots.lock();
        let now = crate::util::now_ms() as i64;
        // An expired pause does not lend its mode to the new one.
        self.settle(&mut slots, now);
        let slot = &mut slots[purpose as usize];
        *slot = (slot.0.max(mode), slot.1.max(end_ms));
        self.settle(&mut slots, now);
        self.changed.notify_waiters();
    }

    /// Ends `purpose`'s pause (CLIENT UNPAUSE; an aborted shutdown).
    pub fn unpause(&self, purpose: Purpose) {
        let mut slots = self.slots.lock();
        slots[purpose as usize] = (NONE, 0);
        self.settle(&mut slots, crate::util::now_ms() as i64);
        self.changed.notify_waiters();
    }

    /// Waits until the pause in effect is milder than when the wait began, or over. A pause
    /// becomes milder only when a purpose's pause ends, so the caller then checks its command
    /// again: a read that ALL held back runs under a WRITE pause that remains; a write waits on.
    pub async fn wait(&self) {
        let held = self.current();
        loop {
            let n = self.changed.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.current() < held {
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

/// Whether a command is one a WRITE pause holds back (Redis's `is_may_replicate_command`: the
/// writes, and the commands Redis 7.0 flags `CMD_MAY_REPLICATE`; PFCOUNT may rewrite its
/// key's cached count). EXEC is decided by its queue, by the caller.
pub fn may_replicate(spec: &CommandSpec) -> bool {
    spec.flags & flag::WRITE != 0
        || matches!(
            spec.name,
            "pfcount" | "publish" | "spublish" | "eval" | "evalsha" | "fcall"
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

/// Whether the pause in effect holds back `spec` (called with `args`) on this connection
/// (monitors never wait). A script or function that declares `no-writes` is not held by a
/// write pause, as in Redis.
pub fn holds(
    srv: &crate::server::Server,
    sess: &crate::server::session::Session,
    spec: &CommandSpec,
    args: &crate::protocol::resp::Args,
) -> bool {
    let mode = srv.pause.current();
    mode != NONE
        && !sess.info.monitor.load(Ordering::Relaxed)
        && !sess.from_primary()
        && applies(mode, spec, sess.tx.queued_any(may_replicate))
        && (mode == ALL || !srv.scripts.call_flags(spec.name, args).no_writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_pause_keeps_the_stricter_mode_and_the_later_end() {
        let p = Pause::default();
        let now = crate::util::now_ms() as i64;
        assert_eq!(p.current(), NONE);
        p.pause(Purpose::Client, now + 60_000, WRITE);
        assert_eq!(p.current(), WRITE);
        p.pause(Purpose::Client, now + 1_000, ALL);
        assert_eq!(p.current(), ALL);
        assert_eq!(p.end_ms.load(Ordering::Relaxed), now + 60_000);
        p.unpause(Purpose::Client);
        assert_eq!(p.current(), NONE);
        // Already over: nothing is paused, and the stale mode is cleared on first look.
        p.pause(Purpose::Client, now - 1, ALL);
        assert_eq!(p.current(), NONE);
        assert_eq!(p.mode(), NONE);
    }

    #[test]
    fn each_purpose_ends_only_its_own_pause() {
        let p = Pause::default();
        let now = crate::util::now_ms() as i64;
        p.pause(Purpose::Client, now + 60_000, ALL);
        p.pause(Purpose::Shutdown, now + 90_000, WRITE);
        // The strictest applies, until its own end.
        assert_eq!(p.current(), ALL);
        assert_eq!(p.end_ms.load(Ordering::Relaxed), now + 60_000);
        // An aborted shutdown leaves the client's pause.
        p.unpause(Purpose::Shutdown);
        assert_eq!(p.current(), ALL);
        p.pause(Purpose::Shutdown, now + 90_000, WRITE);
        // CLIENT UNPAUSE leaves the shutdown's.
        p.unpause(Purpose::Client);
        assert_eq!(p.current(), WRITE);
        assert_eq!(p.end_ms.load(Ordering::Relaxed), now + 90_000);
        // When the strictest one's time is up, a milder one that outlasts it takes over.
        p.pause(Purpose::Client, now - 1, ALL);
        assert_eq!(p.current(), WRITE);
        p.unpause(Purpose::Shutdown);
        assert_eq!(p.current(), NONE);
    }

    #[tokio::test]
    async fn waiters_wake_on_unpause_and_on_the_deadline() {
        let p = std::sync::Arc::new(Pause::default());
        let now = crate::util::now_ms() as i64;
        p.pause(Purpose::Client, now + 60_000, ALL);
        let p2 = p.clone();
        let w = tokio::spawn(async move { p2.wait().await });
        tokio::task::yield_now().await;
        assert!(!w.is_finished());
        p.unpause(Purpose::Client);
        tokio::time::timeout(std::time::Duration::from_secs(5), w)
            .await
            .expect("woken by UNPAUSE")
            .expect("task");
        p.pause(Purpose::Client, crate::util::now_ms() as i64 + 50, WRITE);
        tokio::time::timeout(std::time::Duration::from_secs(5), p.wait())
            .await
            .expect("ends by itself");
        // Held by ALL, woken when only a WRITE pause is left (the caller looks again).
        p.pause(
            Purpose::Shutdown,
            crate::util::now_ms() as i64 + 60_000,
            WRITE,
        );
        p.pause(Purpose::Client, crate::util::now_ms() as i64 + 50, ALL);
        tokio::time::timeout(std::time::Duration::from_secs(5), p.wait())
            .await
            .expect("woken when ALL ends");
        assert_eq!(p.current(), WRITE);
    }
}
