//! FAILOVER: handing the primary role to a replica without losing a write, as Redis 6.2+ does,
//! with a Redis or an Eddy on either side.
//!
//! `FAILOVER [TO host port [FORCE]] [TIMEOUT ms]` on the primary (the command and its checks
//! are in `commands::replication`):
//! 1. *waiting-for-sync*: writes are paused (as `CLIENT PAUSE WRITE`, under the failover's own
//!    `pause::Purpose`, so CLIENT UNPAUSE does not end it), replicas are asked for an
//!    acknowledgement, and streams send no PING (it would move the offsets being compared).
//!    The failover waits until a replica (the one named by `TO`, or any) has applied the whole
//!    log and acknowledged every byte of its stream.
//! 2. *failover-in-progress*: the primary drops its replicas' connections, then follows the
//!    chosen one (`follow::demote`) with `PSYNC <its stream's ID> <bytes sent + 1> FAILOVER`.
//!    The replica, on that PSYNC, stops following and becomes a primary (`follow::promote`),
//!    and answers `+CONTINUE` since it applied exactly those bytes: the old primary keeps its
//!    data and follows the new one from there, without an image. (A `+FULLRESYNC`, which a
//!    forced failover to a replica that had not caught up gets, also completes the failover.)
//! 3. Writes resume (as a replica the old primary then refuses them with `READONLY`).
//!
//! `TIMEOUT` ends the wait of step 1: the failover is aborted, or with `FORCE` goes on to the
//! named replica anyway. `FAILOVER ABORT` ends it at step 1 or 2 (at step 2 the server stops
//! following and is a primary again); so does a target that refuses the PSYNC. Step 2 retries
//! a target it cannot reach, as Redis does, until it answers or the failover is aborted. INFO
//! replication's `master_failover_state` names the step.
//!
//! Unlike Redis, which finds a caught-up replica from its once-a-second cron, the wait here
//! asks the replicas for an acknowledgement (`REPLCONF GETACK`) and hands over on the one that
//! answers it.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::follow::Target;
use super::pause::{Purpose, WRITE};
use super::Server;

const NONE: u8 = 0;
const WAITING: u8 = 1;
const IN_PROGRESS: u8 = 2;

/// How long the demotion waits for the replicas' streams to stop (they stop at their next
/// await; this only bounds a stuck socket write).
const DISCONNECT_WAIT: Duration = Duration::from_secs(5);

/// The failover in progress, if any.
#[derive(Default)]
pub struct Failover {
    /// NONE, WAITING or IN_PROGRESS: the step, for checks that take no lock. It changes only
    /// with `plan` locked, so a step's work (starting to follow, stopping) and the step change
    /// cannot interleave with an abort.
    state: AtomicU8,
    plan: Mutex<Plan>,
    /// Woken when the failover ends (ABORT), so the wait stops.
    ended: Notify,
}

/// What FAILOVER asked for.
#[derive(Default, Clone)]
struct Plan {
    /// `TO host port`, or the replica chosen once caught up.
    target: Option<Target>,
    force: bool,
    /// Unix ms at which the wait ends (TIMEOUT).
    end_ms: Option<i64>,
}

impl Plan {
    fn describe(&self) -> String {
        self.target
            .as_ref()
            .map_or_else(|| "any replica".into(), Target::to_string)
    }
}

impl Failover {
    /// Whether a failover is under way (either step).
    pub fn active(&self) -> bool {
        self.state.load(Ordering::Acquire) != NONE
    }

    /// Whether the primary role is being handed over (step 2).
    pub fn in_progress(&self) -> bool {
        self.state.load(Ordering::Acquire) == IN_PROGRESS
    }

    /// INFO replication's `master_failover_state`.
    pub fn state_name(&self) -> &'static str {
        match self.state.load(Ordering::Acquire) {
            WAITING => "waiting-for-sync",
            IN_PROGRESS => "failover-in-progress",
            _ => "no-failover",
        }
    }
}

/// Starts a failover that FAILOVER's checks allowed: pauses writes and waits, in the
/// background, for a replica to catch up. False if another one started meanwhile.
pub fn start(
    srv: &Arc<Server>,
    target: Option<Target>,
    force: bool,
    timeout_ms: Option<i64>,
) -> bool {
    let f = &srv.failover;
    let mut plan = f.plan.lock();
    if f.active() {
        return false;
    }
    let now = crate::util::now_ms() as i64;
    *plan = Plan {
        target,
        force,
        end_ms: timeout_ms.map(|t| now.saturating_add(t)),
    };
    f.state.store(WAITING, Ordering::Release);
    srv.pause.pause(Purpose::Failover, i64::MAX, WRITE);
    tracing::info!(target = %plan.describe(), "FAILOVER requested");
    tokio::spawn(wait_for_sync(srv.clone()));
    true
}

/// Ends the failover where it stands (FAILOVER ABORT, a timeout, a refusing target): a server
/// that already follows the target stops following it, and writes resume.
pub fn abort(srv: &Arc<Server>, why: &str) {
    let f = &srv.failover;
    let mut plan = f.plan.lock();
    if !f.active() {
        return;
    }
    tracing::info!(target = %plan.describe(), reason = why, "FAILOVER aborted");
    if f.in_progress() {
        super::follow::follow(srv, None);
    }
    clear(srv, &mut plan);
}

/// The target accepted the PSYNC: this server is its replica now, and writes resume (to be
/// refused as a replica's).
pub fn finished(srv: &Server) {
    let mut plan = srv.failover.plan.lock();
    if srv.failover.in_progress() {
        tracing::info!(target = %plan.describe(), "FAILOVER completed");
        clear(srv, &mut plan);
    }
}

fn clear(srv: &Server, plan: &mut Plan) {
    *plan = Plan::default();
    srv.failover.state.store(NONE, Ordering::Release);
    srv.pause.unpause(Purpose::Failover);
    srv.failover.ended.notify_waiters();
}

/// Step 1: waits until a replica has caught up (or the timeout), then hands over.
async fn wait_for_sync(srv: Arc<Server>) {
    let (reps, f) = (&srv.replicas, &srv.failover);
    let mut asked = None;
    loop {
        let ended = f.ended.notified();
        let acked = reps.changed();
        tokio::pin!(ended, acked);
        ended.as_mut().enable();
        acked.as_mut().enable();
        if f.state.load(Ordering::Acquire) != WAITING {
            return;
        }
        let plan = f.plan.lock().clone();
        let now = crate::util::now_ms() as i64;
        if plan.end_ms.is_some_and(|end| now >= end) {
            match plan.target.clone() {
                Some(t) if plan.force => {
                    tracing::info!(target = %plan.describe(),
                        "FAILOVER time out exceeded, failing over");
                    // Whatever the replica applied: the PSYNC names this server's position,
                    // and the target answers with a full synchronisation if it lacks some.
                    let chosen = reps.find(&t.host, i64::from(t.port)).map(|(r, _)| r);
                    hand_over(&srv, t, chosen).await;
                }
                _ => abort(&srv, "Replica never caught up before timeout"),
            }
            return;
        }
        // Writes that were running when the pause began may still commit: the log's end is
        // read afresh each time.
        let end = crate::keyspace::txn::applied_offset(&srv.log);
        let ready = match &plan.target {
            // The named replica may have gone away; it may come back.
            Some(t) => reps
                .find(&t.host, i64::from(t.port))
                .and_then(|(r, _)| reps.caught_up(Some(&r), end)),
            None => reps.caught_up(None, end),
        };
        if let Some(rep) = ready {
            let t = Target {
                host: plan
                    .target
                    .as_ref()
                    .map_or_else(|| rep.ip().to_string(), |t| t.host.clone()),
                port: rep.port(),
            };
            tracing::info!(target = %t, "FAILOVER target is synced, failing over");
            hand_over(&srv, t, Some(rep)).await;
            return;
        }
        // Once per end: each stream asks once it has carried it, and the answer covers it.
        if asked != Some(end) {
            reps.ask_acks(end);
            asked = Some(end);
        }
        let left = plan.end_ms.map_or(Duration::from_secs(3600), |end| {
            Duration::from_millis((end - now).max(1) as u64)
        });
        tokio::select! {
            _ = ended => {}
            _ = acked => {}
            _ = tokio::time::sleep(left) => {}
        }
    }
}

/// Step 2: drops the replicas' connections and follows `target`, naming the position of the
/// stream it was sent (`rep`: its replica entry, if it is one).
async fn hand_over(
    srv: &Arc<Server>,
    target: Target,
    rep: Option<Arc<super::replication::Replica>>,
) {
    let f = &srv.failover;
    {
        let mut plan = f.plan.lock();
        if f.state.load(Ordering::Acquire) != WAITING {
            return;
        }
        plan.target = Some(target.clone());
        f.state.store(IN_PROGRESS, Ordering::Release);
    }
    srv.replicas
        .disconnect_all(&srv.clients, DISCONNECT_WAIT)
        .await;
    let _plan = f.plan.lock();
    if !f.in_progress() {
        return;
    }
    // Read once its stream has stopped: every byte it was sent, and nothing more will be.
    let at = rep.map(|r| (r.replid().to_string(), r.sent() as i64));
    super::follow::demote(srv, target, at);
}
