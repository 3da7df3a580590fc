//! The NATS bridge (docs/nats.md is the user's reference): with `nats-url` set, the change
//! feed is published to NATS subjects, optionally into a JetStream stream, and chosen NATS
//! subjects and pub/sub channels are bridged both ways.
//!
//! ## A reader of the log
//! The bridge reads the change log like a trigger (`changes::subscribe::scan_where`: no shard
//! lock, the write path never waits for NATS) from its position `next` (the first offset not
//! yet published), keeps the records that pass its filter (`nats-bridge-match`,
//! `nats-bridge-events`, `nats-bridge-type`, `nats-bridge-db`: the options of
//! [`changes::filter::Filter`](crate::changes::filter::Filter)) and publishes each as its
//! event JSON (`changes::groups::event_json`) to the subject [`subject::change_subject`]
//! gives, with a `Nats-Msg-Id` header `<epoch>:<offset>`.
//!
//! ## Checkpoint and at-least-once
//! The position moves past a batch only once NATS confirmed all of it: with
//! `nats-bridge-jetstream <stream>`, the stream's publish acks (the stream is created if
//! missing, on `<prefix>.>`; the message id de-duplicates what a retry sends again within the
//! stream's duplicate window); without JetStream, a flush (the server has the messages; core
//! NATS keeps nothing for absent subscribers). Nothing is handed to the client while it is
//! disconnected; a failed batch is sent again after a backoff, from the position. The
//! position lives in `<dir>/bridge.json`, rewritten atomically by the flusher of
//! `groups.json` and `triggers.json` (at most every 200 ms, and at shutdown), so after a NATS
//! restart or an Eddy restart the bridge resumes from it: duplicates, never gaps. Without a
//! file the bridge starts at the end of the log.
//!
//! ## Channels
//! `nats-bridge-subscribe` subjects (NATS wildcards) are delivered to the pub/sub channel of
//! the same name, as a PUBLISH would; PUBLISHes on channels matching a
//! `nats-bridge-publish` glob are forwarded to the subject of the same name through a bounded
//! queue (a full queue drops and counts: PUBLISH never waits for NATS). A message that came
//! from NATS never goes back: it is delivered to subscribers directly, not through PUBLISH,
//! and the connection is `no_echo`, so the server does not return our own messages either.

mod run;
pub mod subject;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::changes::filter::Filter;
use crate::commands::args::Cursor;
use crate::config::Config;
use crate::protocol::resp::Out;
use crate::server::Server;

const FILE: &str = "bridge.json";
/// Messages waiting to be forwarded from channels to NATS, at most.
const OUT_QUEUE: usize = 4096;
/// ... and their bytes.
const OUT_QUEUE_BYTES: usize = 64 << 20;

/// The bridge's options, read once at start-up.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub url: String,
    pub prefix: String,
    /// Publish the change feed (`nats-bridge-changes`).
    pub changes: bool,
    pub filter: Filter,
    pub jetstream: Option<String>,
    /// NATS subject patterns delivered to channels.
    pub subscribe: Vec<String>,
    /// Channel globs forwarded to NATS.
    pub publish: Vec<Vec<u8>>,
}

impl Options {
    /// The bridge options of `c`; None when `nats-url` is empty (the bridge is off).
    pub fn from_config(c: &Config, ndbs: usize) -> Result<Option<Options>, String> {
        let url = c.get("nats-url").trim().to_string();
        if url.is_empty() {
            return Ok(None);
        }
        let prefix = c.get("nats-bridge-prefix");
        if !subject::valid_subject(&prefix) {
            return Err(format!(
                "nats-bridge-prefix '{prefix}' is not a NATS subject (tokens of printable ASCII, no wildcards)"
            ));
        }
        let mut filter = Filter::default();
        for (opt, word) in [
            ("nats-bridge-match", "MATCH"),
            ("nats-bridge-events", "EVENTS"),
            ("nats-bridge-type", "TYPE"),
            ("nats-bridge-db", "DB"),
        ] {
            let v = c.get(opt);
            if v.is_empty() {
                continue;
            }
            let words = [word.as_bytes().to_vec(), v.into_bytes()];
            crate::triggers::with_args(&words, |a| {
                let mut cur = Cursor::new(a, 1);
                filter.parse_option(word.as_bytes(), &mut cur, ndbs)
            })
            .map_err(|e| format!("{opt}: {}", e.as_str().trim_start_matches("ERR ")))?;
        }
        let jetstream = Some(c.get("nats-bridge-jetstream"))
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.bytes()
                    .all(|b| b.is_ascii_graphic() && !b".*>/\\".contains(&b))
                {
                    Ok(s)
                } else {
                    Err(format!("nats-bridge-jetstream: '{s}' is not a stream name"))
                }
            })
            .transpose()?;
        let subscribe: Vec<String> = c
            .get("nats-bridge-subscribe")
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if let Some(bad) = subscribe.iter().find(|s| !subject::valid_pattern(s)) {
            return Err(format!(
                "nats-bridge-subscribe: '{bad}' is not a NATS subject pattern"
            ));
        }
        let publish = c
            .get("nats-bridge-publish")
            .split_whitespace()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        Ok(Some(Options {
            url,
            prefix,
            changes: c.get_bool("nats-bridge-changes"),
            filter,
            jetstream,
            subscribe,
            publish,
        }))
    }
}

/// Counters for BRIDGE INFO, INFO `bridge` and `/metrics`.
#[derive(Default)]
pub struct Stats {
    /// Change events handed to NATS (again after a retry).
    pub published: AtomicU64,
    /// Change events NATS confirmed (JetStream acks, or a flush without JetStream).
    pub acked: AtomicU64,
    /// Change events whose publish failed (each is retried).
    pub failed: AtomicU64,
    /// Change events published again after a failure.
    pub retried: AtomicU64,
    /// Change events in a publish right now.
    pub in_flight: AtomicU64,
    /// Events published without their arguments, too large for the server's max_payload.
    pub truncated: AtomicU64,
    /// Offsets skipped because retention trimmed them before the bridge got there.
    pub trimmed: AtomicU64,
    /// NATS messages delivered to channels.
    pub channel_in: AtomicU64,
    /// PUBLISHes forwarded to NATS.
    pub channel_out: AtomicU64,
    /// PUBLISHes not forwarded: queue full, too large, or the channel is not a subject.
    pub channel_dropped: AtomicU64,
    pub last_error: Mutex<Option<(u64, String)>>,
}

/// The bridge of a server (`Server::bridge`, set at start-up when `nats-url` is set).
pub struct Bridge {
    pub opts: Options,
    /// The first offset not yet published.
    pub next: AtomicU64,
    pub stats: Stats,
    dirty: AtomicBool,
    save: Mutex<()>,
    /// Set once the first connection succeeded (async-nats reconnects it on its own).
    client: Mutex<Option<async_nats::Client>>,
    out_tx: tokio::sync::mpsc::Sender<(Bytes, Bytes)>,
    out_rx: Mutex<Option<tokio::sync::mpsc::Receiver<(Bytes, Bytes)>>>,
    out_bytes: AtomicUsize,
}

impl Bridge {
    fn new(opts: Options, next: u64) -> Bridge {
        let (out_tx, out_rx) = tokio::sync::mpsc::channel(OUT_QUEUE);
        Bridge {
            opts,
            next: AtomicU64::new(next),
            stats: Stats::default(),
            dirty: AtomicBool::new(true),
            save: Mutex::new(()),
            client: Mutex::new(None),
            out_tx,
            out_rx: Mutex::new(Some(out_rx)),
            out_bytes: AtomicUsize::new(0),
        }
    }

    fn set_next(&self, n: u64) {
        if self.next.swap(n, Ordering::AcqRel) != n {
            crate::changes::groups::set_dirty(&self.dirty);
        }
    }

    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    fn note_error(&self, e: &str) {
        tracing::warn!(error = %e, "NATS bridge");
        *self.stats.last_error.lock() = Some((crate::util::now_ms(), e.to_string()));
    }

    /// `connected`, `disconnected`, or `connecting` (before the first connection).
    pub fn state(&self) -> &'static str {
        match self.client.lock().as_ref().map(|c| c.connection_state()) {
            Some(async_nats::connection::State::Connected) => "connected",
            Some(_) => "disconnected",
            None => "connecting",
        }
    }

    pub fn connected(&self) -> bool {
        self.state() == "connected"
    }
}

/// Forwards a PUBLISH to NATS when its channel matches a `nats-bridge-publish` glob (called by
/// the PUBLISH command; never waits).
pub fn on_publish(srv: &Server, channel: &[u8], msg: &[u8]) {
    let Some(b) = srv.bridge.get() else {
        return;
    };
    if !b
        .opts
        .publish
        .iter()
        .any(|p| crate::util::glob::glob_match(p, channel, false))
    {
        return;
    }
    let size = channel.len() + msg.len();
    let ok = std::str::from_utf8(channel).is_ok_and(subject::valid_subject)
        && b.out_bytes.load(Ordering::Relaxed) + size <= OUT_QUEUE_BYTES
        && b.out_tx
            .try_send((Bytes::copy_from_slice(channel), Bytes::copy_from_slice(msg)))
            .is_ok();
    if ok {
        b.out_bytes.fetch_add(size, Ordering::Relaxed);
    } else {
        b.stats.channel_dropped.fetch_add(1, Ordering::Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting

/// Counters by name, shared by BRIDGE INFO, INFO `bridge` and `/metrics`.
pub fn counters(b: &Bridge) -> [(&'static str, u64); 10] {
    let s = &b.stats;
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    [
        ("published", l(&s.published)),
        ("acked", l(&s.acked)),
        ("failed", l(&s.failed)),
        ("retried", l(&s.retried)),
        ("in-flight", l(&s.in_flight)),
        ("truncated", l(&s.truncated)),
        ("trimmed", l(&s.trimmed)),
        ("channel-in", l(&s.channel_in)),
        ("channel-out", l(&s.channel_out)),
        ("channel-dropped", l(&s.channel_dropped)),
    ]
}

/// Offsets and seconds the bridge is behind the end of the log.
/// (0, 0) with `nats-bridge-changes no`: the position then waits, like a paused trigger's.
pub fn lag(srv: &Server, b: &Bridge) -> (u64, u64) {
    if !b.opts.changes {
        return (0, 0);
    }
    crate::triggers::lag_from(srv, b.next.load(Ordering::Acquire))
}

/// BRIDGE INFO: a map (`enabled` 0 and nothing else when the bridge is off).
pub fn write_info(srv: &Server, out: &mut Out) {
    let Some(b) = srv.bridge.get() else {
        out.map(1);
        out.bulk(b"enabled");
        out.int(0);
        return;
    };
    let (lag_off, lag_s) = lag(srv, b);
    let c = counters(b);
    let last_error = b.stats.last_error.lock().clone();
    out.map(9 + c.len() + 2);
    out.bulk(b"enabled");
    out.int(1);
    out.bulk(b"url");
    out.bulk(b.opts.url.as_bytes());
    out.bulk(b"state");
    out.bulk(b.state().as_bytes());
    out.bulk(b"connected");
    out.int(b.connected() as i64);
    out.bulk(b"prefix");
    out.bulk(b.opts.prefix.as_bytes());
    out.bulk(b"jetstream");
    match &b.opts.jetstream {
        Some(s) => out.bulk(s.as_bytes()),
        None => out.null(),
    }
    out.bulk(b"position");
    out.int(b.next.load(Ordering::Acquire) as i64);
    crate::triggers::write_progress(out, (lag_off, lag_s), &c, last_error);
}

/// INFO `bridge` lines.
pub fn info(srv: &Server, kv: &mut dyn FnMut(&str, String)) {
    let Some(b) = srv.bridge.get() else {
        kv("bridge_enabled", "0".into());
        return;
    };
    let (lag_off, lag_s) = lag(srv, b);
    kv("bridge_enabled", "1".into());
    kv("bridge_state", b.state().into());
    kv("bridge_connected", (b.connected() as u8).to_string());
    kv(
        "bridge_position",
        b.next.load(Ordering::Acquire).to_string(),
    );
    kv("bridge_lag_offsets", lag_off.to_string());
    kv("bridge_lag_seconds", lag_s.to_string());
    for (k, v) in counters(b) {
        kv(&format!("bridge_{}", k.replace('-', "_")), v.to_string());
    }
}

// ---------------------------------------------------------------------------------------------
// Start-up and persistence

#[derive(Serialize, Deserialize)]
struct FileData {
    version: u32,
    epoch: String,
    next: u64,
    published: u64,
    acked: u64,
    failed: u64,
}

fn path_of(srv: &Server) -> PathBuf {
    PathBuf::from(srv.config.get("dir")).join(FILE)
}

/// Reads the options and `<dir>/bridge.json` (at start-up, after recovery); sets
/// `Server::bridge` when `nats-url` is set.
pub fn load(srv: &Server) -> Result<(), String> {
    let Some(opts) = Options::from_config(&srv.config, srv.keyspace.ndbs())? else {
        return Ok(());
    };
    let end = srv.log.last_offset() + 1;
    let path = path_of(srv);
    let b = match std::fs::read(&path) {
        Ok(bytes) => {
            let d: FileData = serde_json::from_slice(&bytes)
                .map_err(|e| format!("'{}' is not a valid bridge file: {e}", path.display()))?;
            if d.epoch != srv.log.epoch() {
                tracing::warn!(
                    "the change log's epoch changed since {FILE} was written: a bridge position \
                     past the end of the log moves back to its end"
                );
            }
            let b = Bridge::new(opts, d.next.min(end));
            b.stats.published.store(d.published, Ordering::Relaxed);
            b.stats.acked.store(d.acked, Ordering::Relaxed);
            b.stats.failed.store(d.failed, Ordering::Relaxed);
            b
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Bridge::new(opts, end),
        Err(e) => return Err(format!("can't read '{}': {e}", path.display())),
    };
    let _ = srv.bridge.set(Arc::new(b));
    Ok(())
}

/// Writes `bridge.json` if the position or counters moved since the last write.
pub fn save_if_dirty(srv: &Server) {
    let Some(b) = srv.bridge.get() else {
        return;
    };
    if !b.opts.changes {
        // The saved position waits for the next run that publishes changes.
        return;
    }
    let _one_writer = b.save.lock();
    if !b.dirty.swap(false, Ordering::AcqRel) {
        return;
    }
    let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let d = FileData {
        version: 1,
        epoch: srv.log.epoch(),
        next: b.next.load(Ordering::Acquire),
        published: l(&b.stats.published),
        acked: l(&b.stats.acked),
        failed: l(&b.stats.failed),
    };
    let res = serde_json::to_vec_pretty(&d)
        .map_err(std::io::Error::other)
        .and_then(|bytes| crate::changes::groups::write_atomically(&path_of(srv), &bytes));
    if let Err(e) = res {
        tracing::error!(error = %e, "can't write {FILE}; will retry");
        crate::changes::groups::set_dirty(&b.dirty);
    }
}

/// Whether the flusher has bridge work.
pub fn is_dirty(srv: &Server) -> bool {
    srv.bridge.get().is_some_and(|b| b.is_dirty())
}

/// Starts the bridge's tasks (once loading is over).
pub fn start(srv: &Arc<Server>) {
    if let Some(b) = srv.bridge.get() {
        tokio::spawn(run::run(srv.clone(), b.clone()));
    }
}
