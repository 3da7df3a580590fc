//! Consumer groups over the change log (at-least-once delivery), their persistence, and the
//! registry of readers that INFO reports lag for.
//!
//! ## Model
//! A group has a filter, a cursor `next` (the first offset not yet examined for delivery) and a
//! pending-entries list (PEL): offset → (consumer, time of last delivery, delivery count). A
//! group read delivers the next matching events to one consumer and records them as pending
//! with delivery count 1; `ACK` removes them; `CLAIM` hands entries idle for at least N ms to
//! another consumer and increments their count. When a claim would take an entry's count past
//! the group's `MAXDELIVERIES`, the entry leaves the PEL and becomes a *dead letter*: the caller
//! writes it (as JSON, see [`event_json`]) to the group's `DEADLETTER` key, an ordinary list any
//! client can read. Without a `DEADLETTER` key such entries are dropped and counted.
//!
//! Groups never hold the log back: retention applies as to any reader, and a group whose cursor
//! fell behind it gets the TRIMMED error (naming the earliest offset) until it is moved with
//! `CHANGES GROUP SEEK`. A claimed entry whose record was trimmed leaves the PEL.
//!
//! ## Limits
//! At most [`MAX_GROUPS`] groups, [`MAX_CONSUMERS`] consumers per group, [`MAX_PENDING`] pending
//! entries per group (a read that would pass it gets an error asking for ACKs), names up to
//! [`MAX_NAME`] bytes.
//!
//! ## Persistence
//! Groups live in memory and in `<dir>/groups.json`. A background task rewrites the file when
//! something changed, at most every [`FLUSH_EVERY`], atomically (temporary file, fsync, rename,
//! fsync of the directory), and once more at shutdown; it is loaded at start-up after recovery.
//! After a crash, the changes of the last window (at most ~200 ms: deliveries, acks, claims) are
//! lost, so entries acked in that window may be delivered again — which at-least-once delivery
//! allows; consumers de-duplicate by offset. The file records the log's epoch: if it differs at
//! load (the history was lost) the PELs are dropped, and cursors past the end of the log are
//! moved back to its end.
//!
//! ## Locking
//! The registry mutex is held only to find a group; each group has its own mutex, held while a
//! read scans the log for it (so two consumers of one group never receive the same entry). No
//! group lock is held while a dead letter is written to the keyspace.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::filter::Filter;
use super::log::{ChangeLog, ReadError};
use super::subscribe::scan;
use super::ChangeEvent;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::value::ValueType;
use crate::protocol::resp::Out;
use crate::server::Server;

pub const MAX_GROUPS: usize = 1000;
pub const MAX_CONSUMERS: usize = 10_000;
pub const MAX_PENDING: usize = 1_000_000;
pub const MAX_NAME: usize = 256;
pub const FLUSH_EVERY: Duration = Duration::from_millis(200);
const FILE: &str = "groups.json";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub consumer: Vec<u8>,
    /// Wall-clock ms of the last delivery (idle time survives a restart).
    pub delivered_ms: u64,
    pub deliveries: u32,
}

#[derive(Debug)]
pub struct Group {
    pub name: Vec<u8>,
    pub filter: Filter,
    pub next: u64,
    /// 0 = unlimited.
    pub max_deliveries: u32,
    /// (db, key) dead letters are pushed to.
    pub dead_letter: Option<(u32, Vec<u8>)>,
    pub pending: BTreeMap<u64, Pending>,
    /// Consumer name → wall-clock ms last seen.
    pub consumers: BTreeMap<Vec<u8>, u64>,
    pub delivered: u64,
    pub acked: u64,
    pub dead_lettered: u64,
    destroyed: bool,
}

/// An entry that exceeded MAXDELIVERIES, for the caller to write to the dead-letter key.
#[derive(Debug)]
pub struct DeadLetter {
    pub db: u32,
    pub key: Vec<u8>,
    /// The event as JSON, with the group, consumer and delivery count added.
    pub json: Vec<u8>,
    pub offset: u64,
}

/// The consumer groups and readers of one change log (owned by `ChangeLog::groups`).
#[derive(Default)]
pub struct Registry {
    groups: Mutex<BTreeMap<Vec<u8>, Arc<Mutex<Group>>>>,
    /// Subscriptions by name → last offset delivered.
    readers: Mutex<BTreeMap<String, Arc<AtomicU64>>>,
    dirty: AtomicBool,
}

fn mark_dirty(reg: &Registry) {
    set_dirty(&reg.dirty);
}

/// Wakes the [`flusher`] (a permit is kept when it is not waiting yet).
static FLUSH: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Sets the dirty flag of one of the files the [`flusher`] writes (groups, triggers, the NATS
/// bridge's position), and wakes it when the flag goes from clear to set: once per write of
/// the file, not per change.
pub fn set_dirty(flag: &AtomicBool) {
    if !flag.swap(true, Ordering::AcqRel) {
        FLUSH.notify_one();
    }
}

pub fn register_reader(reg: &Registry, name: &str, pos: Arc<AtomicU64>) {
    reg.readers.lock().insert(name.to_string(), pos);
}

pub fn unregister_reader(reg: &Registry, name: &str) {
    reg.readers.lock().remove(name);
}

fn get(reg: &Registry, name: &[u8]) -> CmdResult<Arc<Mutex<Group>>> {
    reg.groups
        .lock()
        .get(name)
        .cloned()
        .ok_or(CmdError::from(error::CHANGES_NOGROUP))
}

fn check_name(n: &[u8]) -> CmdResult {
    if n.len() > MAX_NAME {
        return Err(error::CHANGES_NAME_TOO_LONG.into());
    }
    Ok(())
}

/// Creates a group whose cursor starts at `next`.
pub fn create(
    log: &ChangeLog,
    name: &[u8],
    next: u64,
    filter: Filter,
    max_deliveries: u32,
    dead_letter: Option<(u32, Vec<u8>)>,
) -> CmdResult {
    check_name(name)?;
    let first = log.first_offset();
    if next < first {
        return Err(error::changes_trimmed(next, first));
    }
    let mut groups = log.groups.groups.lock();
    if groups.contains_key(name) {
        return Err(error::CHANGES_BUSYGROUP.into());
    }
    if groups.len() >= MAX_GROUPS {
        return Err(error::CHANGES_TOO_MANY_GROUPS.into());
    }
    groups.insert(
        name.to_vec(),
        Arc::new(Mutex::new(Group {
            name: name.to_vec(),
            filter,
            next,
            max_deliveries,
            dead_letter,
            pending: BTreeMap::new(),
            consumers: BTreeMap::new(),
            delivered: 0,
            acked: 0,
            dead_lettered: 0,
            destroyed: false,
        })),
    );
    mark_dirty(&log.groups);
    Ok(())
}

/// Removes a group; false if there was none.
pub fn destroy(reg: &Registry, name: &[u8]) -> bool {
    let g = reg.groups.lock().remove(name);
    match g {
        Some(g) => {
            g.lock().destroyed = true;
            mark_dirty(reg);
            true
        }
        None => false,
    }
}

/// Runs `f` on group `name` under its lock (for the stream view of the feed, which reports and
/// edits consumers and pending entries in XINFO/XPENDING/XGROUP shapes); `f` says whether it
/// changed something that must be persisted.
pub fn with_group<R>(
    reg: &Registry,
    name: &[u8],
    f: impl FnOnce(&mut Group) -> (R, bool),
) -> CmdResult<R> {
    let g = get(reg, name)?;
    let (r, changed) = f(&mut g.lock());
    if changed {
        mark_dirty(reg);
    }
    Ok(r)
}

/// The groups' names, in order.
pub fn names(reg: &Registry) -> Vec<Vec<u8>> {
    reg.groups.lock().keys().cloned().collect()
}

/// Moves a group's cursor (its pending entries stay).
pub fn seek(log: &ChangeLog, name: &[u8], next: u64) -> CmdResult {
    let first = log.first_offset();
    if next < first {
        return Err(error::changes_trimmed(next, first));
    }
    let g = get(&log.groups, name)?;
    g.lock().next = next;
    mark_dirty(&log.groups);
    Ok(())
}

/// Writes `CHANGES GROUP LIST`'s reply: one map per group.
pub fn list(log: &ChangeLog, out: &mut Out) {
    let groups: Vec<Arc<Mutex<Group>>> = log.groups.groups.lock().values().cloned().collect();
    let last = log.last_offset();
    out.array(groups.len());
    for g in groups {
        let g = g.lock();
        out.map(11);
        out.bulk(b"name");
        out.bulk(&g.name);
        out.bulk(b"next-offset");
        out.int(g.next as i64);
        out.bulk(b"lag");
        out.int(last.saturating_sub(g.next.saturating_sub(1)) as i64);
        out.bulk(b"pending");
        out.int(g.pending.len() as i64);
        out.bulk(b"consumers");
        out.int(g.consumers.len() as i64);
        out.bulk(b"filter");
        let f = g.filter.describe();
        out.array(f.len());
        for a in &f {
            out.bulk(a);
        }
        out.bulk(b"max-deliveries");
        out.int(g.max_deliveries as i64);
        out.bulk(b"dead-letter");
        match &g.dead_letter {
            Some((_, k)) => out.bulk(k),
            None => out.null(),
        }
        out.bulk(b"delivered");
        out.int(g.delivered as i64);
        out.bulk(b"acked");
        out.int(g.acked as i64);
        out.bulk(b"dead-lettered");
        out.int(g.dead_lettered as i64);
    }
}

/// Delivers up to `count` new matching events of group `g` to `consumer`, recording them as
/// pending. An empty result means nothing new matched (the cursor still moved past what was
/// examined).
fn deliver(
    log: &ChangeLog,
    g: &mut Group,
    consumer: &[u8],
    count: usize,
    now: u64,
) -> CmdResult<Vec<ChangeEvent>> {
    if g.destroyed {
        return Err(error::CHANGES_NOGROUP.into());
    }
    if !g.consumers.contains_key(consumer) && g.consumers.len() >= MAX_CONSUMERS {
        return Err(error::CHANGES_TOO_MANY_CONSUMERS.into());
    }
    g.consumers.insert(consumer.to_vec(), now);
    let room = MAX_PENDING.saturating_sub(g.pending.len());
    if room == 0 {
        return Err(error::CHANGES_PENDING_FULL.into());
    }
    let found = scan(log, g.next, &g.filter, count.min(room)).map_err(|e| match e {
        ReadError::Trimmed { earliest } => error::changes_trimmed(g.next, earliest),
    })?;
    if found.next != g.next || !found.events.is_empty() {
        mark_dirty(&log.groups);
    }
    g.next = found.next;
    for ev in &found.events {
        g.pending.insert(
            ev.offset,
            Pending {
                consumer: consumer.to_vec(),
                delivered_ms: now,
                deliveries: 1,
            },
        );
    }
    g.delivered += found.events.len() as u64;
    Ok(found.events)
}

/// `CHANGES GROUP READ` without blocking.
pub fn read(
    log: &ChangeLog,
    group: &[u8],
    consumer: &[u8],
    count: usize,
    now: u64,
) -> CmdResult<Vec<ChangeEvent>> {
    check_name(consumer)?;
    let g = get(&log.groups, group)?;
    let mut g = g.lock();
    deliver(log, &mut g, consumer, count, now)
}

/// `CHANGES GROUP READ ... BLOCK`: waits for new matching events (or `deadline`), delivers
/// them and replies through `w`. If the wait ended meanwhile, the entries stay
/// pending for another consumer to claim (at-least-once).
#[allow(clippy::too_many_arguments)]
pub fn spawn_blocking_read(
    srv: Arc<Server>,
    group: Vec<u8>,
    consumer: Vec<u8>,
    count: usize,
    encode: super::subscribe::EncodeEvents,
    resp3: bool,
    deadline: Option<Instant>,
    w: Arc<crate::keyspace::blocking::Waiter>,
) -> CmdResult {
    let g = get(&srv.log.groups, &group)?;
    let from = g.lock().next;
    super::subscribe::spawn_blocked(srv, from, encode, resp3, deadline, w, move |log, _| {
        let mut gl = g.lock();
        let evs = deliver(log, &mut gl, &consumer, count, crate::util::now_ms())?;
        Ok((evs, gl.next))
    });
    Ok(())
}

/// Removes acknowledged entries; returns how many were pending.
pub fn ack(reg: &Registry, group: &[u8], offsets: &[u64]) -> CmdResult<usize> {
    let g = get(reg, group)?;
    let mut g = g.lock();
    let n = offsets
        .iter()
        .filter(|o| g.pending.remove(o).is_some())
        .count();
    g.acked += n as u64;
    if n > 0 {
        mark_dirty(reg);
    }
    Ok(n)
}

/// One row of `CHANGES PENDING`: (offset, consumer, idle ms, deliveries).
pub type PendingRow = (u64, Vec<u8>, u64, u32);

/// Pending entries with offsets in `offsets`, idle for at least `min_idle` ms, of `consumer`
/// if given, oldest offset first, at most `count`.
#[allow(clippy::too_many_arguments)]
pub fn pending(
    reg: &Registry,
    group: &[u8],
    offsets: std::ops::RangeInclusive<u64>,
    min_idle: u64,
    consumer: Option<&[u8]>,
    count: usize,
    now: u64,
) -> CmdResult<Vec<PendingRow>> {
    let g = get(reg, group)?;
    let g = g.lock();
    if offsets.is_empty() {
        return Ok(Vec::new());
    }
    Ok(g.pending
        .range(offsets)
        .filter(|(_, p)| consumer.is_none_or(|c| c == p.consumer.as_slice()))
        .map(|(&o, p)| {
            (
                o,
                p.consumer.clone(),
                now.saturating_sub(p.delivered_ms),
                p.deliveries,
            )
        })
        .filter(|r| r.2 >= min_idle)
        .take(count)
        .collect())
}

/// What a claim did.
#[derive(Debug, Default)]
pub struct Claimed {
    /// Re-delivered to the claiming consumer, in the order asked.
    pub events: Vec<ChangeEvent>,
    pub dead: Vec<DeadLetter>,
}

/// Hands the listed entries idle for at least `min_idle` ms to `consumer` (delivery count + 1);
/// entries that would exceed MAXDELIVERIES become dead letters. Offsets not pending or not idle
/// enough are skipped, as XCLAIM does.
pub fn claim(
    log: &ChangeLog,
    epoch: &str,
    group: &[u8],
    consumer: &[u8],
    min_idle: u64,
    offsets: &[u64],
    now: u64,
) -> CmdResult<Claimed> {
    check_name(consumer)?;
    let g = get(&log.groups, group)?;
    let mut g = g.lock();
    if !g.consumers.contains_key(consumer) && g.consumers.len() >= MAX_CONSUMERS {
        return Err(error::CHANGES_TOO_MANY_CONSUMERS.into());
    }
    g.consumers.insert(consumer.to_vec(), now);
    let mut res = Claimed::default();
    for &off in offsets {
        let Some(p) = g.pending.get(&off) else {
            continue;
        };
        if now.saturating_sub(p.delivered_ms) < min_idle {
            continue;
        }
        let ev = match log.read(off, 1) {
            Ok(v) => v.into_iter().next().filter(|e| e.offset == off),
            Err(_) => None,
        };
        let Some(ev) = ev else {
            // The record is gone (retention): nothing left to deliver.
            g.pending.remove(&off);
            mark_dirty(&log.groups);
            continue;
        };
        let deliveries = p.deliveries.saturating_add(1);
        mark_dirty(&log.groups);
        if g.max_deliveries > 0 && deliveries > g.max_deliveries {
            let old = g
                .pending
                .remove(&off)
                .map(|p| p.consumer)
                .unwrap_or_default();
            g.dead_lettered += 1;
            if let Some((db, key)) = &g.dead_letter {
                let mut j = event_json(&ev, epoch);
                if let serde_json::Value::Object(m) = &mut j {
                    m.insert("group".into(), text_or_b64(&g.name));
                    m.insert("consumer".into(), text_or_b64(&old));
                    m.insert("deliveries".into(), (deliveries - 1).into());
                }
                res.dead.push(DeadLetter {
                    db: *db,
                    key: key.clone(),
                    json: serde_json::to_vec(&j).unwrap_or_default(),
                    offset: off,
                });
            }
            continue;
        }
        g.pending.insert(
            off,
            Pending {
                consumer: consumer.to_vec(),
                delivered_ms: now,
                deliveries,
            },
        );
        res.events.push(ev);
    }
    Ok(res)
}

/// One reader of the log, for INFO and the metrics: a consumer group or a subscription.
pub struct ReaderStat {
    /// `group_<name>` or `sub_<client id>` (safe for an INFO field).
    pub name: String,
    /// The last offset examined (group) or delivered (subscription).
    pub offset: u64,
    /// Records the log holds after `offset`.
    pub lag: u64,
    /// Groups only: (pending entries, consumers).
    pub group: Option<(usize, usize)>,
}

/// Every reader of the log, groups first.
pub fn readers(log: &ChangeLog) -> Vec<ReaderStat> {
    let last = log.last_offset();
    let groups: Vec<Arc<Mutex<Group>>> = log.groups.groups.lock().values().cloned().collect();
    let mut v = Vec::with_capacity(groups.len());
    for g in groups {
        let g = g.lock();
        let off = g.next.saturating_sub(1);
        v.push(ReaderStat {
            name: format!("group_{}", info_name(&g.name)),
            offset: off,
            lag: last.saturating_sub(off),
            group: Some((g.pending.len(), g.consumers.len())),
        });
    }
    let subs: Vec<(String, u64)> = log
        .groups
        .readers
        .lock()
        .iter()
        .map(|(n, p)| (n.clone(), p.load(Ordering::Relaxed)))
        .collect();
    for (n, off) in subs {
        v.push(ReaderStat {
            name: n,
            offset: off,
            lag: last.saturating_sub(off),
            group: None,
        });
    }
    v
}

/// INFO `changes` lines: one per group and per subscription.
pub fn info(log: &ChangeLog, kv: &mut dyn FnMut(&str, String)) {
    for r in readers(log) {
        let mut line = format!("offset={},lag={}", r.offset, r.lag);
        if let Some((pending, consumers)) = r.group {
            line.push_str(&format!(",pending={pending},consumers={consumers}"));
        }
        kv(&format!("reader_{}", r.name), line);
    }
}

/// A name safe for an INFO field (`field:value` lines).
pub(crate) fn info_name(n: &[u8]) -> String {
    n.iter()
        .map(|&c| {
            if c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.' {
                c as char
            } else {
                '_'
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// JSON

/// The event as JSON (DESIGN.md "The change event"). Keys and arguments that are not UTF-8 are
/// base64 (standard alphabet, padded), and then `"base64": true` is set.
pub fn event_json(ev: &ChangeEvent, epoch: &str) -> serde_json::Value {
    event_json_images(ev, epoch, super::filter::Images::Keys)
}

/// [`event_json`] with the value images the reader asked for, as `old` / `new` (see
/// [`write_image_json`]) — what triggers deliver.
pub fn event_json_images(
    ev: &ChangeEvent,
    epoch: &str,
    images: super::filter::Images,
) -> serde_json::Value {
    let mut out = Vec::with_capacity(256);
    write_event_json(&mut out, &ev.as_ref(), epoch, images);
    serde_json::from_slice(&out).unwrap_or(serde_json::Value::Null)
}

/// Writes the event's JSON text: the one encoder of that form. Triggers write it straight
/// into a batch body, where building a `serde_json::Value` per event (a sorted map of a dozen
/// allocated strings) cost more than the rest of the delivery; [`event_json`] parses it back
/// for the readers that edit the object. Fields come in the order serde_json's map writes them
/// (sorted), so both routes print the same text (a hash image's fields excepted: they come in
/// the hash's order).
pub fn write_event_json(
    out: &mut Vec<u8>,
    ev: &super::log::EventRef<'_>,
    epoch: &str,
    images: super::filter::Images,
) {
    let binary = is_binary(ev);
    let text = |out: &mut Vec<u8>, b: &[u8]| json_str(out, &text_form(b, binary));
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"{\"args\":[");
    for (i, a) in ev.args.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        text(out, a);
    }
    out.push(b']');
    if binary {
        out.extend_from_slice(b",\"base64\":true");
    }
    out.extend_from_slice(b",\"change\":");
    json_str(out, ev.change.name());
    if ev.origin == super::Origin::Client {
        out.extend_from_slice(b",\"client\":{\"id\":");
        out.extend_from_slice(num.format(ev.client_id).as_bytes());
        out.push(b'}');
    }
    out.extend_from_slice(b",\"db\":");
    out.extend_from_slice(num.format(ev.db).as_bytes());
    out.extend_from_slice(b",\"epoch\":");
    json_str(out, epoch);
    out.extend_from_slice(b",\"event\":");
    json_str(out, ev.event);
    out.extend_from_slice(b",\"key\":");
    text(out, ev.key);
    if let Some(img) = images.new_image(ev) {
        out.extend_from_slice(b",\"new\":");
        write_image_json(out, img);
    }
    out.extend_from_slice(b",\"offset\":");
    out.extend_from_slice(num.format(ev.offset).as_bytes());
    if let Some(img) = images.old_image(ev) {
        out.extend_from_slice(b",\"old\":");
        write_image_json(out, img);
    }
    out.extend_from_slice(b",\"origin\":");
    json_str(out, ev.origin.name());
    out.extend_from_slice(b",\"ts\":");
    out.extend_from_slice(num.format(ev.ts).as_bytes());
    if ev.tx_id != 0 {
        out.extend_from_slice(b",\"tx\":{\"id\":");
        out.extend_from_slice(num.format(ev.tx_id).as_bytes());
        out.extend_from_slice(b",\"n\":");
        out.extend_from_slice(num.format(ev.tx_n).as_bytes());
        out.push(b'}');
    }
    out.extend_from_slice(b",\"type\":");
    json_str(out, ev.vtype.name());
    out.push(b'}');
}

/// Whether the event's JSON gives its key and arguments as base64 (`"base64": true`): some are
/// not UTF-8.
pub fn is_binary(ev: &super::log::EventRef<'_>) -> bool {
    std::str::from_utf8(ev.key).is_err() || ev.args.iter().any(|a| std::str::from_utf8(a).is_err())
}

/// A key or argument as the event's JSON gives it: base64 when the event [`is_binary`].
pub fn text_form(b: &[u8], binary: bool) -> std::borrow::Cow<'_, str> {
    if binary {
        b64(b).into()
    } else {
        String::from_utf8_lossy(b)
    }
}

/// A JSON string literal, escaped as serde_json escapes it.
pub fn json_str(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A value image as JSON: a string is a string, a hash an object of its fields; any other type
/// is `{"$dump": <base64 of its DUMP payload>}`. Bytes that are not UTF-8 are
/// `{"$base64": "..."}` (hash fields rarely start with `$`, so the forms stay apart).
pub fn write_image_json(out: &mut Vec<u8>, img: super::filter::Image) {
    use crate::keyspace::value::Value;
    let enc = match img {
        super::filter::Image::Raw(v) => return bytes_json(out, v),
        super::filter::Image::Encoded(e) => e,
    };
    match ChangeEvent::image_value(enc) {
        Some(Value::Str(s, _)) => bytes_json(out, &s),
        Some(Value::Hash(h, _)) => {
            out.push(b'{');
            for (i, (f, v)) in h.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(out, &String::from_utf8_lossy(f));
                out.push(b':');
                bytes_json(out, v);
            }
            out.push(b'}');
        }
        _ => {
            out.extend_from_slice(b"{\"$dump\":");
            json_str(out, &b64(enc));
            out.push(b'}');
        }
    }
}

fn bytes_json(out: &mut Vec<u8>, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => json_str(out, s),
        Err(_) => {
            out.extend_from_slice(b"{\"$base64\":");
            json_str(out, &b64(b));
            out.push(b'}');
        }
    }
}

fn text_or_b64(b: &[u8]) -> serde_json::Value {
    match std::str::from_utf8(b) {
        Ok(s) => serde_json::Value::String(s.to_string()),
        Err(_) => serde_json::Value::String(format!("base64:{}", b64(b))),
    }
}

fn b64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

fn unb64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

// ---------------------------------------------------------------------------------------------
// Persistence

#[derive(Serialize, Deserialize)]
struct FileData {
    version: u32,
    epoch: String,
    groups: Vec<GroupData>,
}

/// Binary fields are base64.
#[derive(Serialize, Deserialize)]
struct GroupData {
    name: String,
    next: u64,
    #[serde(rename = "match")]
    pattern: Option<String>,
    events: Vec<String>,
    types: Vec<String>,
    db: Option<u32>,
    max_deliveries: u32,
    dead_letter_db: u32,
    dead_letter: Option<String>,
    consumers: Vec<(String, u64)>,
    pending: Vec<(u64, String, u64, u32)>,
    delivered: u64,
    acked: u64,
    dead_lettered: u64,
}

fn path_of(srv: &Server) -> PathBuf {
    PathBuf::from(srv.config.get("dir")).join(FILE)
}

/// `end` is the readable end plus one: a cursor saved past it (a group created at `$` while
/// records were committed but not yet written) is saved as `end`, so after a crash that loses
/// those records the group does not skip the new records that reuse their offsets.
fn to_data(reg: &Registry, epoch: String, end: u64) -> FileData {
    let groups: Vec<Arc<Mutex<Group>>> = reg.groups.lock().values().cloned().collect();
    FileData {
        version: 1,
        epoch,
        groups: groups
            .iter()
            .map(|g| {
                let g = g.lock();
                GroupData {
                    name: b64(&g.name),
                    next: g.next.min(end),
                    pattern: g.filter.pattern.as_deref().map(b64),
                    events: g.filter.events.clone(),
                    types: g
                        .filter
                        .types
                        .iter()
                        .map(|t| t.name().to_string())
                        .collect(),
                    db: g.filter.db,
                    max_deliveries: g.max_deliveries,
                    dead_letter_db: g.dead_letter.as_ref().map(|d| d.0).unwrap_or(0),
                    dead_letter: g.dead_letter.as_ref().map(|d| b64(&d.1)),
                    consumers: g.consumers.iter().map(|(c, t)| (b64(c), *t)).collect(),
                    pending: g
                        .pending
                        .iter()
                        .map(|(o, p)| (*o, b64(&p.consumer), p.delivered_ms, p.deliveries))
                        .collect(),
                    delivered: g.delivered,
                    acked: g.acked,
                    dead_lettered: g.dead_lettered,
                }
            })
            .collect(),
    }
}

pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Writes the groups file now if anything changed since the last write.
pub fn save_if_dirty(srv: &Server) {
    let reg = &srv.log.groups;
    if !reg.dirty.swap(false, Ordering::AcqRel) {
        return;
    }
    let data = to_data(reg, srv.log.epoch(), srv.log.readable() + 1);
    let res = serde_json::to_vec_pretty(&data)
        .map_err(std::io::Error::other)
        .and_then(|b| write_atomically(&path_of(srv), &b));
    if let Err(e) = res {
        tracing::error!(error = %e, "can't write {FILE}; will retry");
        mark_dirty(reg);
    }
}

/// The background writer: rewrites the groups file (and `triggers.json`, `bridge.json`) when
/// dirty, at most every [`FLUSH_EVERY`]. It waits to be asked ([`set_dirty`]) rather than
/// polling the flags: an idle server's client thread woke about ten times a second for it
/// (a 200 ms timer, and the timer wheel's cascade before each). The shutdown writes whatever is
/// still dirty.
pub async fn flusher(srv: Arc<Server>) {
    loop {
        tokio::select! {
            _ = FLUSH.notified() => {}
            _ = srv.wait_shutdown() => return,
        }
        // Changes come in streams (acknowledgements, trigger positions): one write covers
        // what the interval brings.
        tokio::select! {
            _ = tokio::time::sleep(FLUSH_EVERY) => {}
            _ = srv.wait_shutdown() => return,
        }
        // Trigger positions and definitions (`triggers.json`) and the NATS bridge's position
        // (`bridge.json`) follow the same policy.
        if srv.log.groups.dirty.load(Ordering::Acquire)
            || srv.triggers.is_dirty()
            || crate::bridge::is_dirty(&srv)
        {
            let s = srv.clone();
            let _ = tokio::task::spawn_blocking(move || {
                save_if_dirty(&s);
                crate::triggers::save_if_dirty(&s);
                crate::bridge::save_if_dirty(&s);
            })
            .await;
        }
    }
}

/// Loads `<dir>/groups.json` if present (at start-up, after recovery).
pub fn load(srv: &Server) -> Result<usize, String> {
    let path = path_of(srv);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(format!("can't read '{}': {e}", path.display())),
    };
    let data: FileData = serde_json::from_slice(&bytes)
        .map_err(|e| format!("'{}' is not a valid groups file: {e}", path.display()))?;
    let same_history = data.epoch == srv.log.epoch();
    if !same_history {
        tracing::warn!(
            "the change log's epoch changed since {FILE} was written: consumer groups keep their \
             filters but their pending entries are dropped"
        );
    }
    let end = srv.log.last_offset() + 1;
    let bad = |what: &str| format!("'{}': bad {what}", path.display());
    let mut groups = srv.log.groups.groups.lock();
    groups.clear();
    for gd in data.groups {
        let name = unb64(&gd.name).ok_or_else(|| bad("group name"))?;
        let mut types = Vec::new();
        for t in &gd.types {
            types.push(if t == "none" {
                ValueType::None
            } else {
                ValueType::parse(t.as_bytes()).ok_or_else(|| bad("type"))?
            });
        }
        let filter = Filter {
            pattern: match &gd.pattern {
                Some(p) => Some(unb64(p).ok_or_else(|| bad("pattern"))?),
                None => None,
            },
            events: gd.events,
            types,
            db: gd.db,
        };
        let dead_letter = match &gd.dead_letter {
            Some(k) => Some((
                gd.dead_letter_db,
                unb64(k).ok_or_else(|| bad("dead-letter key"))?,
            )),
            None => None,
        };
        let mut consumers = BTreeMap::new();
        for (c, t) in gd.consumers {
            consumers.insert(unb64(&c).ok_or_else(|| bad("consumer"))?, t);
        }
        let mut pending = BTreeMap::new();
        if same_history {
            for (o, c, t, n) in gd.pending {
                let consumer = unb64(&c).ok_or_else(|| bad("consumer"))?;
                pending.insert(
                    o,
                    Pending {
                        consumer,
                        delivered_ms: t,
                        deliveries: n,
                    },
                );
            }
        }
        groups.insert(
            name.clone(),
            Arc::new(Mutex::new(Group {
                name,
                filter,
                next: gd.next.min(end),
                max_deliveries: gd.max_deliveries,
                dead_letter,
                pending,
                consumers,
                delivered: gd.delivered,
                acked: gd.acked,
                dead_lettered: gd.dead_lettered,
                destroyed: false,
            })),
        );
    }
    Ok(groups.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_events_are_base64_in_json() {
        let ev = ChangeEvent {
            offset: 5,
            ts: 9,
            tx_id: 0,
            tx_n: 0,
            client_id: 3,
            origin: super::super::Origin::Client,
            change: super::super::ChangeKind::Insert,
            vtype: ValueType::String,
            db: 0,
            event: "set".into(),
            key: vec![0xff],
            args: vec![b"SET".to_vec(), vec![0xff], b"v".to_vec()],
            old: None,
            new: None,
        };
        let j = event_json(&ev, "ep");
        assert_eq!(j["key"], "/w==");
        assert_eq!(j["base64"], true);
        assert_eq!(j["client"]["id"], 3);
        assert_eq!(j["args"][0], "U0VU");
    }

    #[test]
    fn the_event_text_is_what_serde_json_prints_for_the_same_event() {
        let ev = ChangeEvent {
            offset: 12,
            ts: 1_732_792_345_123,
            tx_id: 4,
            tx_n: 2,
            client_id: 0,
            origin: super::super::Origin::Expiry,
            change: super::super::ChangeKind::Modify,
            vtype: ValueType::String,
            db: 3,
            event: "set".into(),
            key: "k\"\n\u{e9}".as_bytes().to_vec(),
            args: vec![b"SET".to_vec(), b"k".to_vec(), b"v\\1".to_vec()],
            old: None,
            new: None,
        };
        for images in [
            super::super::filter::Images::Keys,
            super::super::filter::Images::New,
        ] {
            let mut text = Vec::new();
            write_event_json(&mut text, &ev.as_ref(), "e\"p", images);
            let parsed: serde_json::Value = serde_json::from_slice(&text).expect("valid JSON");
            assert_eq!(serde_json::to_vec(&parsed).unwrap(), text);
            assert_eq!(parsed["tx"]["n"], 2);
            assert_eq!(parsed["key"], "k\"\n\u{e9}");
        }
    }
}
