//! The delivery loop of one trigger partition, the retry/bisect/dead-letter policy every send
//! goes through (live batches and REDRIVE alike), and the internal session dead letters are
//! written through. The module docs of `triggers` give the semantics; this file keeps them.
//!
//! Concurrency: a partition task holds no lock across an `.await`; it reads the log with
//! `scan_where` (the log mutex for a memcpy) and writes dead letters through `exec_one` (a
//! shard lock for the XADD, like any client). PAUSE, DROP and shutdown interrupt it at every
//! await ([`Trigger::interrupted`]).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::payload::{self, Rec};
use super::spec::Target;
use super::{Sent, Trigger};
use crate::changes::log::ReadError;
use crate::changes::subscribe::scan_map;
use crate::changes::Origin;
use crate::server::background;
use crate::server::session::Session;
use crate::server::Server;

/// A batch stops growing past about this many bytes (Lambda's payload limit is 6 MB).
const MAX_BATCH_BYTES: usize = 4 << 20;

/// Spawns a trigger's partition tasks, unless they run already.
pub fn start(srv: &Arc<Server>, t: &Arc<Trigger>) {
    if t.started.swap(true, Ordering::AcqRel) {
        return;
    }
    for part in 0..t.next.len() {
        drop(background::spawn(run_partition(
            srv.clone(),
            t.clone(),
            part,
        )));
    }
}

async fn run_partition(srv: Arc<Server>, t: Arc<Trigger>, part: usize) {
    loop {
        if t.dropped.load(Ordering::Acquire) || srv.shutting_down() {
            return;
        }
        if t.paused.load(Ordering::Acquire) {
            t.resumed(&srv).await;
            continue;
        }
        let next = t.next[part].load(Ordering::Acquire);
        tokio::select! {
            _ = srv.log.wait_for(next, None) => {}
            _ = t.interrupted(&srv) => continue,
        }
        let Some((recs, upto)) = collect(&srv, &t, part, next).await else {
            continue;
        };
        if !recs.is_empty() {
            t.stats.batches.fetch_add(1, Ordering::Relaxed);
            if !deliver(&srv, &t, recs).await {
                continue;
            }
        }
        if t.next[part].swap(upto, Ordering::AcqRel) != upto {
            srv.triggers.mark_dirty();
        }
    }
}

/// Does partition `part` of `t` take the record of `key` in `db`?
fn owns(t: &Trigger, part: usize, db: u32, key: &[u8]) -> bool {
    if let Some((dl_db, dl)) = &t.spec.dead_letter {
        if *dl_db == db && dl.as_slice() == key {
            return false;
        }
    }
    let n = t.next.len();
    n == 1 || crc32fast::hash(key) as usize % n == part
}

/// Gathers the next batch of partition `part` from `from`: up to BATCHSIZE records (and about
/// [`MAX_BATCH_BYTES`]), waiting up to WINDOW ms for more once the first one is there. Returns
/// the records and the position after them; None if interrupted.
async fn collect(srv: &Server, t: &Trigger, part: usize, from: u64) -> Option<(Vec<Rec>, u64)> {
    let spec = &t.spec;
    let epoch: std::sync::Arc<str> = srv.log.epoch().into();
    let mut recs: Vec<Rec> = Vec::new();
    let mut bytes = 0;
    let mut next = from;
    let mut deadline: Option<Instant> = None;
    loop {
        let want = spec.batch_size - recs.len();
        match scan_map(&srv.log, next, want, false, |ev| {
            (spec.filter.matches(ev) && owns(t, part, ev.db, ev.key))
                .then(|| Rec::from_event(ev, &epoch, spec.images))
        }) {
            Ok((found, after)) => {
                next = after;
                for r in found {
                    if !recs.is_empty() && bytes + r.size > MAX_BATCH_BYTES {
                        // This record starts the next batch.
                        next = r.offset;
                        return Some((recs, next));
                    }
                    bytes += r.size;
                    recs.push(r);
                }
            }
            Err(ReadError::Trimmed { earliest }) => {
                tracing::warn!(
                    trigger = %String::from_utf8_lossy(&t.name),
                    from = next,
                    earliest,
                    "the change log no longer holds the trigger's position; skipping to the earliest record"
                );
                t.stats
                    .trimmed
                    .fetch_add(earliest.saturating_sub(next), Ordering::Relaxed);
                next = earliest;
                continue;
            }
        }
        if recs.is_empty() || recs.len() >= spec.batch_size || spec.window_ms == 0 {
            return Some((recs, next));
        }
        let d =
            *deadline.get_or_insert_with(|| Instant::now() + Duration::from_millis(spec.window_ms));
        if Instant::now() >= d {
            return Some((recs, next));
        }
        tokio::select! {
            _ = srv.log.wait_for(next, Some(d)) => {}
            _ = t.interrupted(srv) => return None,
        }
    }
}

/// Sends one batch to the target.
async fn send(srv: &Server, t: &Trigger, recs: &[Rec]) -> Sent {
    let spec = &t.spec;
    let (body, content_type) = payload::body(spec.format, &srv.triggers.host, recs);
    let attempt = recs.iter().map(|r| r.attempts).max().unwrap_or(1);
    let out = super::Outgoing {
        body,
        content_type,
        trigger: &t.name,
        secret: spec.secret.as_deref(),
        attempt,
        timeout: Duration::from_millis(spec.timeout_ms),
    };
    match &spec.target {
        Target::Http(url) => super::http::send(url, out).await,
        Target::Nats { server, subject } => super::nats::send(server, subject, out).await,
    }
}

/// Splits a batch after a partial failure: the records named in `failed` and every later
/// record of the same keys (so a key's changes stay in order) are returned to retry, the rest
/// count as delivered. `Err` gives the batch back when an offset is not in it.
fn split_failed(batch: Vec<Rec>, failed: &[u64]) -> Result<(usize, Vec<Rec>), Vec<Rec>> {
    if failed.iter().any(|f| !batch.iter().any(|r| r.offset == *f)) {
        return Err(batch);
    }
    let mut keys: Vec<&[u8]> = Vec::new();
    let mut retry_idx = Vec::new();
    for (i, r) in batch.iter().enumerate() {
        if failed.contains(&r.offset) || keys.contains(&r.key.as_slice()) {
            keys.push(&r.key);
            retry_idx.push(i);
        }
    }
    let ok = batch.len() - retry_idx.len();
    let retry = batch
        .into_iter()
        .enumerate()
        .filter(|(i, _)| retry_idx.binary_search(i).is_ok())
        .map(|(_, r)| r)
        .collect();
    Ok((ok, retry))
}

/// Delivers `recs` under the trigger's policy until every record is delivered, dead-lettered
/// or dropped. Returns false if interrupted (pause, drop, shutdown) first: the caller then
/// does not move its position, and the batch is sent again later.
pub async fn deliver(srv: &Server, t: &Trigger, recs: Vec<Rec>) -> bool {
    let spec = &t.spec;
    let stats = &t.stats;
    let mut queue: VecDeque<Vec<Rec>> = VecDeque::from([recs]);
    while let Some(mut batch) = queue.pop_front() {
        if spec.max_age_ms > 0 {
            let now = crate::util::now_ms();
            let (old, fresh): (Vec<Rec>, Vec<Rec>) = batch
                .into_iter()
                .partition(|r| now.saturating_sub(r.ts) > spec.max_age_ms);
            if !dead_letter(srv, t, &old, "the record is older than MAXAGE").await {
                return false;
            }
            batch = fresh;
        }
        if batch.is_empty() {
            continue;
        }
        if t.stopped(srv) {
            return false;
        }
        for r in batch.iter_mut() {
            r.attempts += 1;
        }
        let n = batch.len() as u64;
        stats.in_flight.fetch_add(n, Ordering::Relaxed);
        let sent = tokio::select! {
            s = send(srv, t, &batch) => Some(s),
            _ = t.interrupted(srv) => None,
        };
        stats.in_flight.fetch_sub(n, Ordering::Relaxed);
        let Some(sent) = sent else {
            return false;
        };
        // (records to handle, why, may bisect, may retry)
        let (failed, why, bisectable, retryable) = match sent {
            Sent::Done { failed } if failed.is_empty() => {
                stats.delivered.fetch_add(n, Ordering::Relaxed);
                continue;
            }
            Sent::Done { failed } => match split_failed(batch, &failed) {
                Ok((ok, retry)) => {
                    stats.delivered.fetch_add(ok as u64, Ordering::Relaxed);
                    let why = "the function reported the record failed".to_string();
                    (retry, why, false, true)
                }
                Err(batch) => {
                    let why = "the function reported a record that is not in the batch";
                    (batch, why.to_string(), true, true)
                }
            },
            Sent::FunctionError(e) => (batch, e, true, true),
            Sent::Unavailable(e) => (batch, e, false, true),
            Sent::Rejected(e) => (batch, e, true, false),
        };
        stats.failed.fetch_add(1, Ordering::Relaxed);
        t.note_error(&why);
        if spec.bisect && bisectable && failed.len() > 1 {
            let mut first = failed;
            let second = first.split_off(first.len() / 2);
            queue.push_front(second);
            queue.push_front(first);
            continue;
        }
        let (give_up, mut retry): (Vec<Rec>, Vec<Rec>) = failed
            .into_iter()
            .partition(|r| !retryable || r.retries >= spec.retries);
        if !dead_letter(srv, t, &give_up, &why).await {
            return false;
        }
        if !retry.is_empty() {
            let n = retry.iter().map(|r| r.retries).max().unwrap_or(0) + 1;
            for r in retry.iter_mut() {
                r.retries += 1;
            }
            stats
                .retried
                .fetch_add(retry.len() as u64, Ordering::Relaxed);
            if !pause(srv, t, spec.backoff(n)).await {
                return false;
            }
            queue.push_front(retry);
        }
    }
    true
}

/// Sleeps `d` unless interrupted first (false).
async fn pause(srv: &Server, t: &Trigger, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = t.interrupted(srv) => false,
    }
}

/// Gives up on `recs`: one entry each in the DEADLETTER stream (retrying the write until it
/// succeeds, since the position must not pass a record that is neither delivered nor
/// recorded, and returning once the entries are durable), or dropped and counted without one.
/// False if interrupted.
async fn dead_letter(srv: &Server, t: &Trigger, recs: &[Rec], reason: &str) -> bool {
    if recs.is_empty() {
        return true;
    }
    let Some((db, key)) = &t.spec.dead_letter else {
        t.stats
            .dropped
            .fetch_add(recs.len() as u64, Ordering::Relaxed);
        tracing::warn!(
            trigger = %String::from_utf8_lossy(&t.name),
            first = recs.first().map_or(0, |r| r.offset),
            n = recs.len(),
            reason,
            "dropping records the function did not take (the trigger has no DEADLETTER key)"
        );
        return true;
    };
    for r in recs {
        let (attempts, offset, id) = (r.attempts.to_string(), r.offset.to_string(), r.id());
        let argv: [&[u8]; 15] = [
            b"XADD",
            key,
            b"*",
            b"trigger",
            &t.name,
            b"reason",
            reason.as_bytes(),
            b"attempts",
            attempts.as_bytes(),
            b"offset",
            offset.as_bytes(),
            b"id",
            id.as_bytes(),
            b"event",
            &r.data,
        ];
        let mut n = 0;
        while let Err(e) = internal(srv, *db, &argv) {
            n += 1;
            tracing::warn!(trigger = %String::from_utf8_lossy(&t.name), error = %e,
                "writing a dead letter failed; retrying");
            if !pause(srv, t, t.spec.backoff(n)).await {
                return false;
            }
        }
        t.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }
    // The position will pass these records: their entries must be as durable as the position
    // (appendfsync), or a crash could lose both the delivery and the dead letter.
    tokio::select! {
        _ = srv.log.wait_durable(srv.log.last_offset()) => true,
        _ = t.interrupted(srv) => false,
    }
}

/// Runs one command through the ordinary command path in database `db`, recorded with origin
/// `trigger`. `Err` with the error reply, or when CLIENT PAUSE held the command back.
pub fn internal(srv: &Server, db: u32, argv: &[&[u8]]) -> Result<Vec<u8>, String> {
    let info = srv
        .clients
        .register(srv.clients.next_id(), "trigger".into(), String::new());
    // Not a connection: it must not show in CLIENT LIST or count against maxclients.
    srv.clients.unregister(info.id);
    let mut sess = Session::new(info, true);
    sess.origin = Origin::Trigger;
    sess.db = (db as usize).min(srv.keyspace.ndbs().saturating_sub(1));
    let out = crate::server::conn::exec_one(srv, &mut sess, argv);
    if sess.action.is_some() {
        return Err("the server is paused (CLIENT PAUSE)".into());
    }
    if out.first() == Some(&b'-') {
        return Err(String::from_utf8_lossy(&out[1..]).trim_end().to_string());
    }
    Ok(out)
}

/// REDRIVE: sends `entries` (dead-letter stream IDs and their records) again under the
/// trigger's policy, BATCHSIZE at a time, and deletes each batch's entries from the stream once
/// it is done (records that fail again are new entries by then). While the trigger is paused
/// the redrive waits; DROP and shutdown end it, and the entries not yet done stay in the
/// stream. One redrive per trigger at a time: false if one is running.
pub fn spawn_redrive(srv: Arc<Server>, t: Arc<Trigger>, entries: Vec<(Vec<u8>, Rec)>) -> bool {
    if t.redriving.swap(true, Ordering::AcqRel) {
        return false;
    }
    drop(background::spawn(async move {
        redrive(&srv, &t, entries).await;
        t.redriving.store(false, Ordering::Release);
    }));
    true
}

async fn redrive(srv: &Server, t: &Trigger, mut entries: Vec<(Vec<u8>, Rec)>) {
    let Some((db, key)) = t.spec.dead_letter.clone() else {
        return;
    };
    while !entries.is_empty() {
        let rest = entries.split_off(t.spec.batch_size.min(entries.len()));
        let (ids, recs): (Vec<Vec<u8>>, Vec<Rec>) = entries.into_iter().unzip();
        entries = rest;
        loop {
            if t.dropped.load(Ordering::Acquire) || srv.shutting_down() {
                return;
            }
            if t.paused.load(Ordering::Acquire) {
                t.resumed(srv).await;
                continue;
            }
            if deliver(srv, t, recs.clone()).await {
                break;
            }
        }
        let mut argv: Vec<&[u8]> = vec![b"XDEL", &key];
        argv.extend(ids.iter().map(Vec::as_slice));
        if let Err(e) = internal(srv, db, &argv) {
            tracing::warn!(trigger = %String::from_utf8_lossy(&t.name), error = %e,
                "removing redriven dead letters failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(offset: u64, key: &str) -> Rec {
        Rec {
            offset,
            key: key.as_bytes().to_vec(),
            ts: 0,
            db: 0,
            epoch: "ep".into(),
            event: "set".into(),
            change: "modify".into(),
            binary: false,
            data: b"{}".to_vec(),
            attempts: 1,
            retries: 0,
            size: 0,
        }
    }

    #[test]
    fn partial_failure_retries_the_failed_and_later_records_of_their_keys() {
        let batch = vec![
            rec(1, "a"),
            rec(2, "b"),
            rec(3, "a"),
            rec(4, "c"),
            rec(5, "b"),
        ];
        let (ok, retry) = split_failed(batch, &[1]).unwrap_or_else(|_| panic!("rejected"));
        assert_eq!(ok, 3);
        let offs: Vec<u64> = retry.iter().map(|r| r.offset).collect();
        assert_eq!(offs, vec![1, 3]);
        let batch = vec![rec(1, "a"), rec(2, "b")];
        assert!(split_failed(batch, &[9]).is_err());
    }
}
