//! Triggers: a filter on the change feed + a target (HTTP URL, NATS subject) + a delivery
//! policy, with the semantics of a Lambda event source mapping over DynamoDB Streams, minus its
//! known pain (docs/triggers.md is the user's reference).
//!
//! ## A trigger is a reader of the change log
//! Each trigger runs PARALLELISM partition tasks ([`dispatch`]). Partition `i` reads the log
//! like any reader (`changes::subscribe::scan_where`: borrowed records, no shard lock, the
//! writers never wait for it) and keeps the records that pass the filter and whose key hashes
//! (CRC-32, stable across restarts) to `i`, so one key's changes always go through the same
//! partition, one batch at a time, in log order. Memory is one batch per partition.
//! A trigger never sees the records of its own dead-letter key (which would loop).
//!
//! ## Checkpoints and at-least-once delivery
//! Each partition's position (`next`: the first offset not yet done) moves only after the
//! whole batch before it is done — every record delivered or dead-lettered. Positions and
//! definitions live in `<dir>/triggers.json`, rewritten atomically (temporary file, fsync,
//! rename) by the same background flusher as `groups.json`, at most every 200 ms, and at
//! shutdown; CREATE, DROP, PAUSE and RESUME write it before they reply. A file rather than records in the log: a checkpoint changes with every batch, and
//! writing it to the log would make every trigger a writer of the log it reads (and wake every
//! other reader). After a restart or a SIGKILL a partition resumes from its saved position, so
//! the batches of the last window are delivered again: duplicates, never gaps. Functions
//! de-duplicate with the CloudEvents `id` (`<epoch>:<offset>`), stable across retries and
//! restarts. If the log's epoch changed (its history was lost), positions past its end move
//! back to the end. A position older than the log's retention skips to the earliest record
//! (counted as `trimmed`; the records are gone, there is nothing to dead-letter).
//!
//! ## Delivery policy
//! A batch is up to BATCHSIZE records (and about 4 MiB), gathered for at most WINDOW ms. A
//! failed send is retried after exponential backoff with jitter, at most RETRIES times per
//! record; then the record goes to the DEADLETTER stream (one `XADD` entry per record, through
//! the ordinary command path so it is in the change log, with origin `trigger`) or, without
//! one, is dropped and counted. With BISECT (the default) a batch that fails with a function
//! error or is rejected is split in two and each half sent on its own, which isolates a poison
//! record in log2(BATCHSIZE) sends without spending retries; a partial batch response retries
//! only the records named and the later records of the same keys (to keep per-key order).
//! Records older than MAXAGE are dead-lettered instead of sent. So a poison record holds its
//! partition for at most RETRIES backoffs (about 6 s with the defaults), never hours.
//! PAUSE abandons the batch in progress (it is sent again after RESUME, at-least-once); DROP
//! stops the tasks and forgets the position. `REDRIVE` sends dead-letter entries again with
//! the same policy and deletes them from the stream once they are done.
//!
//! ## Definitions from the config file
//! `trigger <name> <target> [options]` lines (config option `trigger`, repeatable) define
//! triggers at start-up: a new one starts at its START, an existing one keeps its position and
//! takes the file's definition. A trigger dropped with TRIGGER DROP but still in the file comes
//! back at the next start.

pub mod dispatch;
pub mod http;
pub mod nats;
pub mod payload;
pub mod spec;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::commands::args::Cursor;
use crate::error::{self, CmdError, CmdResult};
use crate::protocol::resp::{Args, Out};
use crate::server::Server;
pub use spec::Spec;

pub const MAX_TRIGGERS: usize = 1000;
pub const MAX_NAME: usize = 256;
const FILE: &str = "triggers.json";

/// How a send ended (targets classify their transport's answers into these).
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// The function took the batch; it reported these offsets failed (empty: all succeeded).
    Done { failed: Vec<u64> },
    /// The function failed on this batch (5xx, timeout): retried, and bisected.
    FunctionError(String),
    /// The function could not be reached or asked to slow down: the batch is retried as is.
    Unavailable(String),
    /// The function rejected the batch (a 4xx): not retried; bisected to find the culprit.
    Rejected(String),
}

/// One batch on its way, whatever the target: the body and what the request headers say
/// (HTTP headers, or NATS message headers with the same names).
pub struct Outgoing<'a> {
    pub body: Vec<u8>,
    pub content_type: &'static str,
    pub trigger: &'a [u8],
    pub secret: Option<&'a [u8]>,
    /// The highest attempt of a record in the batch (1 on a first send).
    pub attempt: u32,
    pub timeout: std::time::Duration,
}

impl Outgoing<'_> {
    /// `Content-Type`, `X-Eddy-Trigger`, `X-Eddy-Attempt` and, with a secret,
    /// `X-Eddy-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![
            ("Content-Type", self.content_type.to_string()),
            // A name is any bytes; a header value is printable ASCII.
            (
                "X-Eddy-Trigger",
                self.trigger
                    .iter()
                    .map(|&b| {
                        if (0x20..0x7f).contains(&b) {
                            b as char
                        } else {
                            '?'
                        }
                    })
                    .collect(),
            ),
            ("X-Eddy-Attempt", self.attempt.to_string()),
        ];
        if let Some(s) = self.secret {
            h.push(("X-Eddy-Signature", http::signature(s, &self.body)));
        }
        h
    }
}

/// Counters for TRIGGER INFO/LIST and INFO `triggers`.
#[derive(Default)]
pub struct Stats {
    /// Records delivered (a function took them).
    pub delivered: AtomicU64,
    /// Sends that failed.
    pub failed: AtomicU64,
    /// Records sent again after a failure.
    pub retried: AtomicU64,
    pub dead_lettered: AtomicU64,
    /// Records given up without a DEADLETTER key.
    pub dropped: AtomicU64,
    /// Records in a send right now.
    pub in_flight: AtomicU64,
    pub batches: AtomicU64,
    /// Offsets skipped because retention trimmed them before the trigger got there.
    pub trimmed: AtomicU64,
    pub last_error: Mutex<Option<(u64, String)>>,
}

pub struct Trigger {
    pub name: Vec<u8>,
    pub spec: Spec,
    pub created_ms: u64,
    pub paused: AtomicBool,
    pub dropped: AtomicBool,
    /// Its tasks were started (once: a CREATE may race with the start-up's `start_all`).
    pub(crate) started: AtomicBool,
    /// A REDRIVE is running (two would deliver the same entries twice).
    pub(crate) redriving: AtomicBool,
    /// Per partition: the first offset not yet done.
    pub next: Box<[AtomicU64]>,
    pub stats: Stats,
    /// Pinged on PAUSE, RESUME and DROP.
    wake: Notify,
}

impl Trigger {
    fn new(name: Vec<u8>, spec: Spec, next: &[u64], created_ms: u64) -> Trigger {
        let p = spec.parallelism;
        let next = (0..p)
            .map(|i| AtomicU64::new(next.get(i).or(next.first()).copied().unwrap_or(1)))
            .collect();
        Trigger {
            name,
            spec,
            created_ms,
            paused: AtomicBool::new(false),
            dropped: AtomicBool::new(false),
            started: AtomicBool::new(false),
            redriving: AtomicBool::new(false),
            next,
            stats: Stats::default(),
            wake: Notify::new(),
        }
    }

    /// Should the tasks stop what they are doing (pause, drop, shutdown)?
    pub fn stopped(&self, srv: &Server) -> bool {
        self.paused.load(Ordering::Acquire)
            || self.dropped.load(Ordering::Acquire)
            || srv.shutting_down()
    }

    /// Completes once the trigger is paused, dropped or the server shuts down.
    pub async fn interrupted(&self, srv: &Server) {
        loop {
            let n = self.wake.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.stopped(srv) {
                return;
            }
            tokio::select! {
                _ = n => {}
                _ = srv.wait_shutdown() => return,
            }
        }
    }

    /// Completes once the trigger is no longer paused (or is dropped, or the server stops).
    pub async fn resumed(&self, srv: &Server) {
        loop {
            let n = self.wake.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if !self.paused.load(Ordering::Acquire)
                || self.dropped.load(Ordering::Acquire)
                || srv.shutting_down()
            {
                return;
            }
            tokio::select! {
                _ = n => {}
                _ = srv.wait_shutdown() => return,
            }
        }
    }

    pub fn note_error(&self, e: &str) {
        *self.stats.last_error.lock() = Some((crate::util::now_ms(), e.to_string()));
    }

    /// The oldest position over the partitions.
    pub fn position(&self) -> u64 {
        self.next
            .iter()
            .map(|n| n.load(Ordering::Acquire))
            .min()
            .unwrap_or(1)
    }

    fn state(&self) -> &'static str {
        if self.paused.load(Ordering::Acquire) {
            "paused"
        } else {
            "running"
        }
    }
}

/// The triggers of a server (`Server::triggers`).
pub struct Registry {
    map: Mutex<BTreeMap<Vec<u8>, Arc<Trigger>>>,
    dirty: AtomicBool,
    /// Serialises writers of the file (the flusher and commands that save at once).
    save: Mutex<()>,
    /// For CloudEvents `source`.
    pub host: String,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            map: Mutex::new(BTreeMap::new()),
            dirty: AtomicBool::new(false),
            save: Mutex::new(()),
            host: crate::util::hostname(),
        }
    }
}

impl Registry {
    pub fn mark_dirty(&self) {
        crate::changes::groups::set_dirty(&self.dirty);
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    pub fn get(&self, name: &[u8]) -> CmdResult<Arc<Trigger>> {
        self.map
            .lock()
            .get(name)
            .cloned()
            .ok_or(CmdError::from(error::TRIGGER_NONE))
    }

    pub fn all(&self) -> Vec<Arc<Trigger>> {
        self.map.lock().values().cloned().collect()
    }
}

/// Creates a trigger starting at offset `from` and starts its tasks (when `srv` is given; at
/// start-up they start once loading is over).
pub fn create(
    srv: &Server,
    me: Option<&Arc<Server>>,
    name: &[u8],
    spec: Spec,
    from: u64,
) -> CmdResult {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(error::TRIGGER_NAME.into());
    }
    let first = srv.log.first_offset();
    if from < first {
        return Err(error::changes_trimmed(from, first));
    }
    let t = {
        let mut map = srv.triggers.map.lock();
        if map.contains_key(name) {
            return Err(error::TRIGGER_EXISTS.into());
        }
        if map.len() >= MAX_TRIGGERS {
            return Err(error::TRIGGER_TOO_MANY.into());
        }
        let t = Arc::new(Trigger::new(
            name.to_vec(),
            spec,
            &[from],
            crate::util::now_ms(),
        ));
        map.insert(name.to_vec(), t.clone());
        t
    };
    save_now(srv);
    if let Some(me) = me {
        dispatch::start(me, &t);
    }
    Ok(())
}

/// Removes a trigger and stops its tasks; false if there was none.
pub fn drop_trigger(srv: &Server, name: &[u8]) -> bool {
    let Some(t) = srv.triggers.map.lock().remove(name) else {
        return false;
    };
    t.dropped.store(true, Ordering::Release);
    t.wake.notify_waiters();
    save_now(srv);
    true
}

/// PAUSE (`true`) or RESUME; returns whether the state changed.
pub fn set_paused(srv: &Server, name: &[u8], paused: bool) -> CmdResult<bool> {
    let t = srv.triggers.get(name)?;
    let was = t.paused.swap(paused, Ordering::AcqRel);
    t.wake.notify_waiters();
    save_now(srv);
    Ok(was != paused)
}

/// Starts every trigger's tasks (at start-up, once loading is over).
pub fn start_all(srv: &Arc<Server>) {
    for t in srv.triggers.all() {
        dispatch::start(srv, &t);
    }
}

/// Calls `f` with `words` as command arguments (config lines and saved definitions go through
/// the same parser as TRIGGER CREATE).
pub(crate) fn with_args<R>(words: &[Vec<u8>], f: impl FnOnce(Args) -> R) -> R {
    let mut base = Vec::new();
    let mut ranges = Vec::with_capacity(words.len());
    for w in words {
        let s = base.len();
        base.extend_from_slice(w);
        ranges.push((s, base.len()));
    }
    f(Args::new(&base, &ranges))
}

// ---------------------------------------------------------------------------------------------
// Reporting

/// Offsets and seconds the trigger is behind the end of the log: records after its (oldest
/// partition's) position, and the age of the first of them.
pub fn lag(srv: &Server, t: &Trigger) -> (u64, u64) {
    lag_from(srv, t.position())
}

/// Offsets and seconds a reader at `pos` is behind the end of the log (the NATS bridge's lag
/// too).
pub fn lag_from(srv: &Server, pos: u64) -> (u64, u64) {
    let last = srv.log.last_offset();
    let offsets = (last + 1).saturating_sub(pos);
    if offsets == 0 {
        return (0, 0);
    }
    let ts = srv
        .log
        .read(pos, 1)
        .ok()
        .and_then(|v| v.first().map(|e| e.ts))
        .unwrap_or(0);
    let secs = if ts == 0 {
        0
    } else {
        crate::util::now_ms().saturating_sub(ts) / 1000
    };
    (offsets, secs)
}

/// Counters by name, shared by TRIGGER INFO, INFO `triggers` and `/metrics`.
pub fn counters(t: &Trigger) -> [(&'static str, u64); 8] {
    let s = &t.stats;
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    [
        ("delivered", l(&s.delivered)),
        ("failed", l(&s.failed)),
        ("retried", l(&s.retried)),
        ("dead-lettered", l(&s.dead_lettered)),
        ("dropped", l(&s.dropped)),
        ("in-flight", l(&s.in_flight)),
        ("batches", l(&s.batches)),
        ("trimmed", l(&s.trimmed)),
    ]
}

/// One trigger as a map (TRIGGER INFO, and each element of TRIGGER LIST).
pub fn write_info(srv: &Server, t: &Trigger, out: &mut Out) {
    let (lag_off, lag_s) = lag(srv, t);
    let c = counters(t);
    let last_error = t.stats.last_error.lock().clone();
    out.map(8 + c.len() + 2);
    out.bulk(b"name");
    out.bulk(&t.name);
    out.bulk(b"target");
    out.bulk(t.spec.url.as_bytes());
    out.bulk(b"state");
    out.bulk(t.state().as_bytes());
    out.bulk(b"definition");
    let d = t.spec.describe(false);
    out.array(d.len());
    for a in &d {
        out.bulk(a);
    }
    out.bulk(b"position");
    out.int(t.position() as i64);
    out.bulk(b"partitions");
    out.array(t.next.len());
    for n in t.next.iter() {
        out.int(n.load(Ordering::Acquire) as i64);
    }
    write_progress(out, (lag_off, lag_s), &c, last_error);
}

/// The last fields of TRIGGER INFO and BRIDGE INFO: `lag-offsets`, `lag-seconds`, the
/// counters, `last-error` and `last-error-ms` (3 + counters map entries).
pub fn write_progress(
    out: &mut Out,
    lag: (u64, u64),
    counters: &[(&str, u64)],
    last_error: Option<(u64, String)>,
) {
    out.bulk(b"lag-offsets");
    out.int(lag.0 as i64);
    out.bulk(b"lag-seconds");
    out.int(lag.1 as i64);
    for (k, v) in counters {
        out.bulk(k.as_bytes());
        out.int(*v as i64);
    }
    out.bulk(b"last-error");
    match &last_error {
        Some((_, e)) => out.bulk(e.as_bytes()),
        None => out.null(),
    }
    out.bulk(b"last-error-ms");
    out.int(last_error.map_or(0, |e| e.0) as i64);
}

/// INFO `triggers` lines.
pub fn info(srv: &Server, kv: &mut dyn FnMut(&str, String)) {
    let all = srv.triggers.all();
    kv("triggers", all.len().to_string());
    for t in all {
        let (lag_off, lag_s) = lag(srv, &t);
        let mut line = format!("state={}", t.state());
        for (k, v) in counters(&t) {
            line.push_str(&format!(",{}={v}", k.replace('-', "_")));
        }
        line.push_str(&format!(
            ",position={},lag_offsets={lag_off},lag_seconds={lag_s}",
            t.position()
        ));
        kv(
            &format!("trigger_{}", crate::changes::groups::info_name(&t.name)),
            line,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Persistence

#[derive(Serialize, Deserialize)]
struct FileData {
    version: u32,
    epoch: String,
    triggers: Vec<TriggerData>,
}

/// Binary fields are base64.
#[derive(Serialize, Deserialize)]
struct TriggerData {
    name: String,
    /// `TRIGGER CREATE` arguments after the name, secret included.
    definition: Vec<String>,
    paused: bool,
    next: Vec<u64>,
    created_ms: u64,
    delivered: u64,
    failed: u64,
    retried: u64,
    dead_lettered: u64,
    dropped: u64,
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

fn path_of(srv: &Server) -> PathBuf {
    PathBuf::from(srv.config.get("dir")).join(FILE)
}

/// Writes `triggers.json` at once: a definition change (CREATE, DROP, PAUSE, RESUME) is
/// durable when the command replies, not 200 ms later.
fn save_now(srv: &Server) {
    srv.triggers.mark_dirty();
    save_if_dirty(srv);
}

/// Writes `triggers.json` now if anything changed since the last write (the positions move
/// with every batch, so a running trigger is always dirty).
pub fn save_if_dirty(srv: &Server) {
    let reg = &srv.triggers;
    let _one_writer = reg.save.lock();
    if !reg.dirty.swap(false, Ordering::AcqRel) {
        return;
    }
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let data = FileData {
        version: 1,
        epoch: srv.log.epoch(),
        triggers: reg
            .all()
            .iter()
            .map(|t| TriggerData {
                name: b64(&t.name),
                definition: t.spec.describe(true).iter().map(|a| b64(a)).collect(),
                paused: t.paused.load(Ordering::Acquire),
                next: t.next.iter().map(|n| n.load(Ordering::Acquire)).collect(),
                created_ms: t.created_ms,
                delivered: l(&t.stats.delivered),
                failed: l(&t.stats.failed),
                retried: l(&t.stats.retried),
                dead_lettered: l(&t.stats.dead_lettered),
                dropped: l(&t.stats.dropped),
            })
            .collect(),
    };
    let res = serde_json::to_vec_pretty(&data)
        .map_err(std::io::Error::other)
        .and_then(|b| crate::changes::groups::write_atomically(&path_of(srv), &b));
    if let Err(e) = res {
        tracing::error!(error = %e, "can't write {FILE}; will retry");
        reg.mark_dirty();
    }
}

/// Parses a definition (`target [options]` words) into a spec and its START.
fn parse_definition(words: &[Vec<u8>], ndbs: usize) -> CmdResult<(Spec, Option<Vec<u8>>)> {
    with_args(words, |a| {
        Spec::parse(&mut Cursor::new(a, 0), ndbs, 0).map(|(s, st)| (s, st.map(<[u8]>::to_vec)))
    })
}

/// Loads `<dir>/triggers.json` and the config file's `trigger` lines (at start-up, after
/// recovery). Tasks start later ([`start_all`]).
pub fn load(srv: &Server) -> Result<usize, String> {
    let path = path_of(srv);
    let ndbs = srv.keyspace.ndbs();
    let end = srv.log.last_offset() + 1;
    let first = srv.log.first_offset();
    let mut map = BTreeMap::new();
    match std::fs::read(&path) {
        Ok(bytes) => {
            let data: FileData = serde_json::from_slice(&bytes)
                .map_err(|e| format!("'{}' is not a valid triggers file: {e}", path.display()))?;
            if data.epoch != srv.log.epoch() {
                tracing::warn!(
                    "the change log's epoch changed since {FILE} was written: trigger positions \
                     past the end of the log move back to its end"
                );
            }
            let bad = |what: &str| format!("'{}': bad {what}", path.display());
            for td in data.triggers {
                let name = unb64(&td.name).ok_or_else(|| bad("trigger name"))?;
                let words = td
                    .definition
                    .iter()
                    .map(|w| unb64(w))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| bad("definition"))?;
                let (spec, _) = parse_definition(&words, ndbs)
                    .map_err(|e| format!("{}: {}", bad("definition"), e.as_str()))?;
                let next: Vec<u64> = td.next.iter().map(|&n| n.min(end)).collect();
                let t = Trigger::new(name.clone(), spec, &next, td.created_ms);
                t.paused.store(td.paused, Ordering::Release);
                let s = &t.stats;
                s.delivered.store(td.delivered, Ordering::Relaxed);
                s.failed.store(td.failed, Ordering::Relaxed);
                s.retried.store(td.retried, Ordering::Relaxed);
                s.dead_lettered.store(td.dead_lettered, Ordering::Relaxed);
                s.dropped.store(td.dropped, Ordering::Relaxed);
                map.insert(name, Arc::new(t));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("can't read '{}': {e}", path.display())),
    }
    for line in srv.config.get("trigger").lines() {
        let words = crate::protocol::split::split_args(line.as_bytes())
            .ok_or_else(|| format!("config option 'trigger': bad line '{line}'"))?;
        let Some((name, def)) = words.split_first() else {
            continue;
        };
        let (spec, start) = parse_definition(def, ndbs)
            .map_err(|e| format!("config option 'trigger' {line}: {}", e.as_str()))?;
        match map.get(name) {
            Some(old) if old.spec == spec => {}
            Some(old) => {
                // Keep the position; a different PARALLELISM restarts every partition from
                // the oldest one (redelivery, never a gap).
                let pos: Vec<u64> = if old.spec.parallelism == spec.parallelism {
                    old.next.iter().map(|n| n.load(Ordering::Acquire)).collect()
                } else {
                    vec![old.position()]
                };
                let t = Trigger::new(name.clone(), spec, &pos, old.created_ms);
                t.paused
                    .store(old.paused.load(Ordering::Acquire), Ordering::Release);
                map.insert(name.clone(), Arc::new(t));
            }
            None => {
                let from = match start {
                    Some(s) => crate::changes::subscribe::parse_start(&srv.log, &s)
                        .map_err(|e| format!("config option 'trigger' {line}: {}", e.as_str()))?,
                    None => end,
                };
                let t = Trigger::new(
                    name.clone(),
                    spec,
                    &[from.max(first)],
                    crate::util::now_ms(),
                );
                map.insert(name.clone(), Arc::new(t));
            }
        }
    }
    let n = map.len();
    *srv.triggers.map.lock() = map;
    srv.triggers.mark_dirty();
    Ok(n)
}

/// Validates a config-file `trigger` line and merges it into the option's current value (one
/// definition per line; a later line for the same name replaces the earlier one).
pub fn config_merge(current: &str, line: &str) -> Result<String, String> {
    let words = crate::protocol::split::split_args(line.as_bytes())
        .ok_or_else(|| "unbalanced quotes".to_string())?;
    let Some((name, def)) = words.split_first() else {
        return Ok(current.to_string());
    };
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(error::TRIGGER_NAME.trim_start_matches("ERR ").into());
    }
    parse_definition(def, 1024).map_err(|e| e.as_str().trim_start_matches("ERR ").to_string())?;
    let mut lines: Vec<&str> = current
        .lines()
        .filter(|l| {
            crate::protocol::split::split_args(l.as_bytes())
                .and_then(|w| w.first().cloned())
                .as_deref()
                != Some(name.as_slice())
        })
        .collect();
    lines.push(line.trim());
    Ok(lines.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lines_merge_by_name_and_rewrite_one_per_line() {
        let v = config_merge("", "a http://h/1 BATCHSIZE 2").unwrap();
        let v = config_merge(&v, "b http://h/2").unwrap();
        let v = config_merge(&v, "a http://h/3").unwrap();
        assert_eq!(v, "b http://h/2\na http://h/3");
        assert!(config_merge(&v, "c ftp://x").is_err());
        assert!(config_merge(&v, "c http://h BATCHSIZE 0").is_err());
        let c = crate::config::Config::defaults();
        c.load_text("trigger a http://h/1\ntrigger b http://h/2 MATCH k*\n")
            .unwrap();
        assert_eq!(c.get("trigger"), "a http://h/1\nb http://h/2 MATCH k*");
        let out = c.rewrite_text("");
        assert!(
            out.contains("trigger a http://h/1\ntrigger b http://h/2 MATCH k*\n"),
            "{out}"
        );
    }
}
