//! Shutting down with replicas attached, as Redis 7 does: SHUTDOWN (and SIGTERM, SIGINT) first
//! waits for lagging replicas, so a planned restart or failover loses nothing they had not yet
//! received.
//!
//! When an online replica has not acknowledged the whole log, writes are paused (as `CLIENT PAUSE
//! WRITE`: reads go on; the pause is the shutdown's own, `server::pause::Purpose`), every replica
//! is asked for an acknowledgement, and the shutdown waits until none lags or `shutdown-timeout`
//! seconds pass (0: never wait), then proceeds either way. `SHUTDOWN NOW` skips the wait. Meanwhile
//! `SHUTDOWN ABORT` from another client cancels it: the pause ends, and every SHUTDOWN that was
//! waiting gets Redis's `ERR Errors trying to SHUTDOWN. Check logs.`; a SHUTDOWN that arrives
//! during the wait joins it.
//!
//! `shutdown-on-sigterm` and `shutdown-on-sigint` give the signals SHUTDOWN's flags
//! (`default`, or any of `save`/`nosave`, `now`, `force`), as in Redis. A SIGINT while a
//! signalled shutdown is under way exits at once with status 1 ("You insist... exiting now.",
//! `server::insist`); the next start recovers from the log as after a crash.
//!
//! Redis names the lagging replicas in its log, as here. Unlike Redis, a failed final snapshot
//! does not stop the exit (so FORCE changes nothing): with `appendonly yes` the log already
//! holds every write, and the snapshot only shortens the next start.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::watch;

use super::Server;

/// A shutdown in progress: its outcome (None while waiting; Some(true): go on, Some(false):
/// aborted) for every SHUTDOWN that waits on it.
#[derive(Default)]
pub struct Shutdown {
    waiting: Mutex<Option<Arc<watch::Sender<Option<bool>>>>>,
}

impl Shutdown {
    /// SHUTDOWN ABORT: whether a shutdown was waiting (it is cancelled).
    pub fn abort(&self) -> bool {
        match self.waiting.lock().take() {
            Some(tx) => {
                tx.send_replace(Some(false));
                true
            }
            None => false,
        }
    }
}

/// Stops the server (`save` as SHUTDOWN's SAVE/NOSAVE; None: as `save` is configured), after
/// waiting for lagging replicas unless `now`. Returns false when SHUTDOWN ABORT cancelled it;
/// otherwise the server is stopping. Dropped while it waits (its client went away), it
/// stops the server at once, as Redis carries on with a shutdown whose client left.
pub async fn run(srv: &Server, save: Option<bool>, now: bool) -> bool {
    // As Redis, when a shutdown begins, even one SHUTDOWN ABORT later cancels.
    super::supervise::notify("STOPPING=1\n");
    let secs: u64 = srv.config.get("shutdown-timeout").parse().unwrap_or(10);
    let reps = &srv.replicas;
    /// What the state says to do.
    enum Role {
        Join(watch::Receiver<Option<bool>>),
        Stop,
        Lead(Arc<watch::Sender<Option<bool>>>, u64),
    }
    let role = {
        let mut w = srv.shutdown_wait.waiting.lock();
        match w.as_ref() {
            // Another SHUTDOWN is waiting: this one ends as that one does.
            Some(tx) if !now => Role::Join(tx.subscribe()),
            _ => {
                // SHUTDOWN NOW ends a waiting shutdown too: it stops now.
                if let Some(tx) = w.take() {
                    tx.send_replace(Some(true));
                }
                let offset = crate::keyspace::txn::applied_offset(&srv.log);
                if now || secs == 0 || reps.lagging_entries(offset).is_empty() {
                    Role::Stop
                } else {
                    let tx = Arc::new(watch::Sender::new(None));
                    *w = Some(tx.clone());
                    Role::Lead(tx, offset)
                }
            }
        }
    };
    match role {
        Role::Stop => {
            stop(srv, save);
            true
        }
        Role::Lead(tx, offset) => Leader { srv, tx, save }.wait(offset, secs).await,
        Role::Join(mut rx) => loop {
            if let Some(go) = *rx.borrow_and_update() {
                return go;
            }
            if rx.changed().await.is_err() {
                return true;
            }
        },
    }
}

fn stop(srv: &Server, save: Option<bool>) {
    let v = match save {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    };
    srv.shutdown_save
        .store(v, std::sync::atomic::Ordering::Relaxed);
    srv.request_shutdown();
}

/// The SHUTDOWN that waits; the others wait on its outcome.
struct Leader<'a> {
    srv: &'a Server,
    tx: Arc<watch::Sender<Option<bool>>>,
    save: Option<bool>,
}

impl Leader<'_> {
    async fn wait(self, offset: u64, secs: u64) -> bool {
        let (srv, reps) = (self.srv, &self.srv.replicas);
        let until = crate::util::now_ms() as i64 + secs as i64 * 1000;
        srv.pause
            .pause(super::pause::Purpose::Shutdown, until, super::pause::WRITE);
        tracing::info!("Waiting for replicas before shutting down.");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        let mut rx = self.tx.subscribe();
        let waited = async {
            // Writes already running when the pause began may still commit: wait for the
            // log's end as it stands when each wait ends, until it stops moving.
            let mut offset = offset;
            loop {
                let caught_up =
                    tokio::time::timeout_at(deadline, reps.wait_caught_up(offset)).await;
                let end = crate::keyspace::txn::applied_offset(&srv.log);
                if caught_up.is_err() || end == offset {
                    return offset;
                }
                offset = end;
            }
        };
        tokio::select! {
            offset = waited => {
                for (ip, port, acked) in reps.lagging_entries(offset) {
                    tracing::warn!("Lagging replica {ip}:{port} reported offset {acked}.");
                }
                true
            }
            // SHUTDOWN ABORT, or SHUTDOWN NOW.
            _ = rx.changed() => rx.borrow().unwrap_or(false),
        }
        // Drop resolves: stop, unless aborted.
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut w = self.srv.shutdown_wait.waiting.lock();
        if !w.as_ref().is_some_and(|t| Arc::ptr_eq(t, &self.tx)) {
            // SHUTDOWN ABORT took it (the pause ends), or SHUTDOWN NOW (which stops).
            drop(w);
            if *self.tx.borrow() == Some(false) {
                self.srv.pause.unpause(super::pause::Purpose::Shutdown);
            }
            return;
        }
        *w = None;
        drop(w);
        self.tx.send_replace(Some(true));
        stop(self.srv, self.save);
    }
}

/// The flags `shutdown-on-sigterm` / `shutdown-on-sigint` accept, in the order Redis lists them.
const FLAGS: [&str; 5] = ["default", "save", "nosave", "now", "force"];

/// Validates a `shutdown-on-sig*` value: `default` or flags, canonically ordered.
pub fn canonical_flags(v: &str) -> Result<String, String> {
    let mut on = [false; 5];
    for w in v.split_whitespace() {
        let i = FLAGS
            .iter()
            .position(|f| f.eq_ignore_ascii_case(w))
            .ok_or_else(|| {
                format!(
                    "argument(s) must be one of the following: {}",
                    FLAGS.join(", ")
                )
            })?;
        on[i] = true;
    }
    if on[1] && on[2] {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
    }
    let set: Vec<&str> = (1..FLAGS.len())
        .filter(|&i| on[i])
        .map(|i| FLAGS[i])
        .collect();
    Ok(if set.is_empty() {
        "default".into()
    } else {
        set.join(" ")
    })
}

/// A signal's shutdown as its option says: (SAVE/NOSAVE, NOW).
pub fn signal_flags(srv: &Server, option: &str) -> (Option<bool>, bool) {
    let v = srv.config.get(option);
    let has = |f: &str| v.split_whitespace().any(|w| w == f);
    let save = if has("save") {
        Some(true)
    } else if has("nosave") {
        Some(false)
    } else {
        None
    };
    (save, has("now"))
}

#[cfg(test)]
mod tests {
    use super::canonical_flags;

    #[test]
    fn signal_options_take_shutdowns_flags_as_redis_does() {
        assert_eq!(canonical_flags("default").as_deref(), Ok("default"));
        assert_eq!(canonical_flags("NOW nosave").as_deref(), Ok("nosave now"));
        assert_eq!(canonical_flags("default force").as_deref(), Ok("force"));
        assert_eq!(
            canonical_flags("save nosave").unwrap_err(),
            "shutdown options SAVE and NOSAVE can't be used simultaneously"
        );
        assert_eq!(
            canonical_flags("later").unwrap_err(),
            "argument(s) must be one of the following: default, save, nosave, now, force"
        );
    }
}
