//! The change feed seen as a stream: the reserved key `__changes__` exposes the whole change log
//! to the standard stream commands, so a consumer written for Redis streams (an XREAD loop, an
//! XREADGROUP/XACK worker) consumes Eddy's changes unchanged.
//!
//! ## Mapping
//! * **Entry ids** are `<offset>-0`: one entry per log record, in log order, so ids map one to one
//!   to offsets and `XREAD ... <last id>` resumes exactly after the last record seen. An id with a
//!   non-zero sequence sorts after `<offset>-0` and before `<offset+1>-0`.
//! * **Fields** are the change event's (docs/changes.md), all as bulk strings: `offset ts db key
//!   type event change origin client tx tx-n args`. `args` is a JSON array of the effect's
//!   arguments; an argument that is not UTF-8 is an object `{"base64": "..."}`.
//! * **Groups** are the change feed's consumer groups (`changes::groups`): a group created with
//!   XGROUP is listed by `CHANGES GROUP LIST` and can be read with `CHANGES GROUP READ`, and the
//!   reverse; pending entries, delivery counts, MAXDELIVERIES dead letters and persistence are
//!   theirs. XGROUP CREATE gives a group with no filter.
//! * **The key is the same in every database** and is read-only: XADD, XDEL, XTRIM, XSETID, and
//!   any write command naming it as a key get [`error::FEED_READ_ONLY`]. Non-stream commands do not see it
//!   (TYPE says `none`, EXISTS 0).
//!
//! ## Differences from a Redis stream
//! * A reply carries at most [`MAX_COUNT`] entries; without COUNT, XRANGE/XREVRANGE/XREAD stop
//!   there (page with the last id, as for any stream).
//! * XCLAIM takes JUSTID only (not IDLE, TIME, RETRYCOUNT, FORCE, LASTID), and a claim always
//!   counts as a delivery (it can dead-letter an entry past the group's MAXDELIVERIES).
//! * `ENTRIESREAD` is accepted and ignored; `entries-read` is the group's cursor.
//! * XINFO STREAM FULL is not supported; the radix-tree fields are 0.
//! * XREAD/XREADGROUP cannot mix this key with ordinary streams in one call.

use std::sync::Arc;

use super::changes::write_dead_letter;
use super::{CommandSpec, Ctx};
use crate::changes::filter::Filter;
use crate::changes::groups;
use crate::changes::log::{EventRef, ReadError};
use crate::changes::subscribe::{self, EncodeEvents};
use crate::changes::ChangeEvent;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::stream::StreamId;
use crate::protocol::resp::{Args, Out};

/// The reserved key.
pub const KEY: &[u8] = b"__changes__";
/// Most entries one reply carries.
pub const MAX_COUNT: usize = 10_000;

pub fn is_feed(key: &[u8]) -> bool {
    key == KEY
}

/// First offset strictly after `id`.
fn after(id: StreamId) -> u64 {
    id.ms.saturating_add(1)
}

/// First offset at or after `id`.
fn at_or_after(id: StreamId) -> u64 {
    if id.seq == 0 {
        id.ms
    } else {
        id.ms.saturating_add(1)
    }
}

/// The offset `id` names, if it names one.
fn exact(id: StreamId) -> Option<u64> {
    (id.seq == 0).then_some(id.ms)
}

fn write_id(out: &mut Out, offset: u64) {
    let mut b = itoa::Buffer::new();
    let s = b.format(offset);
    let mut id = Vec::with_capacity(s.len() + 2);
    id.extend_from_slice(s.as_bytes());
    id.extend_from_slice(b"-0");
    out.bulk(&id);
}

fn args_json(ev: &EventRef<'_>) -> Vec<u8> {
    use base64::Engine;
    let items: Vec<serde_json::Value> = ev
        .args
        .iter()
        .map(|a| match std::str::from_utf8(a) {
            Ok(s) => serde_json::Value::String(s.to_string()),
            Err(_) => serde_json::json!({
                "base64": base64::engine::general_purpose::STANDARD.encode(a)
            }),
        })
        .collect();
    serde_json::to_vec(&items).unwrap_or_default()
}

/// One entry: `[id, [field, value, ...]]`.
fn write_entry(out: &mut Out, ev: &EventRef<'_>) {
    out.array(2);
    write_id(out, ev.offset);
    out.array(24);
    let ints = [
        ("offset", ev.offset),
        ("ts", ev.ts),
        ("db", u64::from(ev.db)),
    ];
    for (f, v) in ints {
        out.bulk_str(f);
        out.bulk_int(v as i64);
    }
    out.bulk_str("key");
    out.bulk(ev.key);
    for (f, v) in [
        ("type", ev.vtype.name()),
        ("event", ev.event),
        ("change", ev.change.name()),
        ("origin", ev.origin.name()),
    ] {
        out.bulk_str(f);
        out.bulk_str(v);
    }
    for (f, v) in [
        ("client", ev.client_id),
        ("tx", ev.tx_id),
        ("tx-n", u64::from(ev.tx_n)),
    ] {
        out.bulk_str(f);
        out.bulk_int(v as i64);
    }
    out.bulk_str("args");
    out.bulk(&args_json(ev));
}

fn write_entries(out: &mut Out, evs: &[ChangeEvent]) {
    out.array(evs.len());
    for ev in evs {
        write_entry(out, &ev.as_ref());
    }
}

/// XREAD / XREADGROUP's reply for this one key: `{key: entries}` (RESP2 `[[key, entries]]`).
fn write_read_reply(out: &mut Out, evs: &[ChangeEvent]) {
    if out.resp3 {
        out.map(1);
    } else {
        out.array(1);
        out.array(2);
    }
    out.bulk(KEY);
    write_entries(out, evs);
}

fn read_reply(resp3: bool) -> EncodeEvents {
    Box::new(move |evs| {
        let mut out = Out::new(resp3);
        write_read_reply(&mut out, evs);
        out.buf
    })
}

fn trimmed(from: u64, e: ReadError) -> CmdError {
    match e {
        ReadError::Trimmed { earliest } => error::changes_trimmed(from, earliest),
    }
}

fn count_or_max(count: usize) -> usize {
    if count == 0 {
        MAX_COUNT
    } else {
        count.min(MAX_COUNT)
    }
}

/// XLEN: the records the log holds.
pub fn xlen(ctx: &mut Ctx) -> CmdResult {
    let log = &ctx.srv.log;
    let (first, last) = (log.first_offset().max(1), log.readable());
    ctx.out.int((last + 1).saturating_sub(first) as i64);
    Ok(())
}

/// XRANGE / XREVRANGE with inclusive bounds (`(` already applied).
pub fn range(
    ctx: &mut Ctx,
    start: StreamId,
    end: StreamId,
    count: Option<usize>,
    rev: bool,
) -> CmdResult {
    if count == Some(0) {
        ctx.out.null_array();
        return Ok(());
    }
    let log = &ctx.srv.log;
    let lo = at_or_after(start).max(log.first_offset()).max(1);
    let hi = end.ms.min(log.readable());
    if lo > hi || start > end {
        ctx.out.array(0);
        return Ok(());
    }
    let n = count.map_or(MAX_COUNT, count_or_max) as u64;
    // Offsets are dense, so a reverse page starts `n - 1` below its top.
    let from = if rev {
        hi.saturating_sub(n - 1).max(lo)
    } else {
        lo
    };
    let want = (hi - from + 1).min(n) as usize;
    let mut evs = log.read(from, want).map_err(|e| trimmed(from, e))?;
    evs.retain(|e| e.offset <= hi);
    if rev {
        evs.reverse();
    }
    write_entries(ctx.out, &evs);
    Ok(())
}

/// XREAD of this key alone; `after` is `None` for `$`. `block` is BLOCK's ms (0 = forever).
pub fn xread(
    ctx: &mut Ctx,
    after_id: Option<StreamId>,
    count: usize,
    block: Option<u64>,
) -> CmdResult {
    let log = &ctx.srv.log;
    let from = match after_id {
        None => log.last_offset() + 1,
        // Entries after an id older than retention: what is left, as for a trimmed stream.
        Some(id) => after(id).max(log.first_offset()),
    };
    let count = count_or_max(count);
    let found =
        subscribe::scan(log, from, &Filter::default(), count).map_err(|e| trimmed(from, e))?;
    if found.events.is_empty() {
        if let Some(ms) = block {
            let srv = super::changes::background(ctx)?;
            let w = super::changes::block_on(ctx);
            subscribe::spawn_blocking_read(
                srv,
                found.next,
                Filter::default(),
                count,
                read_reply(ctx.sess.resp3),
                ctx.sess.resp3,
                super::changes::deadline(ms),
                w,
            );
            return Ok(());
        }
        ctx.out.null_array();
        return Ok(());
    }
    write_read_reply(ctx.out, &found.events);
    Ok(())
}

fn nogroup_read(group: &[u8]) -> CmdError {
    error::nogroup_key_or_group(KEY, group, true)
}

/// NOGROUP of XPENDING, XCLAIM, XAUTOCLAIM.
fn nogroup(group: &[u8]) -> CmdError {
    error::nogroup_key_or_group(KEY, group, false)
}

/// NOGROUP of XGROUP and XINFO CONSUMERS.
fn nogroup_for(group: &[u8]) -> CmdError {
    error::nogroup_for_key(group, KEY)
}

/// Maps the feed groups' NOGROUP to the stream command's wording.
fn or_nogroup<T>(r: CmdResult<T>, e: impl FnOnce() -> CmdError) -> CmdResult<T> {
    r.map_err(|x| {
        if x.as_str() == error::CHANGES_NOGROUP {
            e()
        } else {
            x
        }
    })
}

/// XREADGROUP of this key alone. `pos` is `None` for `>`, else re-reads the consumer's pending
/// entries after that id.
#[allow(clippy::too_many_arguments)]
pub fn xreadgroup(
    ctx: &mut Ctx,
    group: &[u8],
    consumer: &[u8],
    pos: Option<StreamId>,
    count: usize,
    block: Option<u64>,
    noack: bool,
) -> CmdResult {
    let count = count_or_max(count);
    let log = &ctx.srv.log;
    let Some(id) = pos else {
        let evs = or_nogroup(groups::read(log, group, consumer, count, ctx.now), || {
            nogroup_read(group)
        })?;
        if evs.is_empty() {
            if let Some(ms) = block {
                let srv = super::changes::background(ctx)?;
                let w = super::changes::block_on(ctx);
                let resp3 = ctx.sess.resp3;
                let encode: EncodeEvents = if noack {
                    let (srv2, g) = (srv.clone(), group.to_vec());
                    Box::new(move |evs| {
                        ack_all(&srv2, &g, evs);
                        read_reply(resp3)(evs)
                    })
                } else {
                    read_reply(resp3)
                };
                if let Err(e) = groups::spawn_blocking_read(
                    srv,
                    group.to_vec(),
                    consumer.to_vec(),
                    count,
                    encode,
                    resp3,
                    super::changes::deadline(ms),
                    w,
                ) {
                    ctx.sess.action = None;
                    ctx.srv.keyspace.blocked.remove(ctx.sess.id);
                    return or_nogroup(Err(e), || nogroup_read(group));
                }
                return Ok(());
            }
            ctx.out.null_array();
            return Ok(());
        }
        if noack {
            let _ = groups::ack(&log.groups, group, &offsets_of(&evs));
        }
        write_read_reply(ctx.out, &evs);
        return Ok(());
    };
    // History: this consumer's pending entries after `id`, each counted as a delivery again.
    let from = after(id);
    let now = ctx.now;
    let pending: Vec<u64> = or_nogroup(
        groups::with_group(&log.groups, group, |g| {
            let offs: Vec<u64> = g
                .pending
                .range(from..)
                .filter(|(_, p)| p.consumer == consumer)
                .map(|(&o, _)| o)
                .take(count)
                .collect();
            for o in &offs {
                if let Some(p) = g.pending.get_mut(o) {
                    p.delivered_ms = now;
                    p.deliveries = p.deliveries.saturating_add(1);
                }
            }
            let changed = !offs.is_empty();
            (offs, changed)
        }),
        || nogroup_read(group),
    )?;
    if ctx.out.resp3 {
        ctx.out.map(1);
    } else {
        ctx.out.array(1);
        ctx.out.array(2);
    }
    ctx.out.bulk(KEY);
    ctx.out.array(pending.len());
    for off in pending {
        // A record gone from the log (retention) is `[id, nil]`, as a deleted stream entry.
        match log.read(off, 1).ok().and_then(|v| v.into_iter().next()) {
            Some(ev) if ev.offset == off => write_entry(ctx.out, &ev.as_ref()),
            _ => {
                ctx.out.array(2);
                write_id(ctx.out, off);
                ctx.out.null_array();
            }
        }
    }
    Ok(())
}

fn offsets_of(evs: &[ChangeEvent]) -> Vec<u64> {
    evs.iter().map(|e| e.offset).collect()
}

fn ack_all(srv: &Arc<crate::server::Server>, group: &[u8], evs: &[ChangeEvent]) {
    let _ = groups::ack(&srv.log.groups, group, &offsets_of(evs));
}

/// XACK: ids that name no record are not pending.
pub fn xack(ctx: &mut Ctx, group: &[u8], ids: &[StreamId]) -> CmdResult {
    let offs: Vec<u64> = ids.iter().filter_map(|&i| exact(i)).collect();
    // Redis answers 0 for a missing group.
    let n = groups::ack(&ctx.srv.log.groups, group, &offs).unwrap_or(0);
    ctx.out.int(n as i64);
    Ok(())
}

/// XGROUP CREATE / SETID: `id` is `None` for `$`.
pub fn xgroup_create(ctx: &mut Ctx, group: &[u8], id: Option<StreamId>, setid: bool) -> CmdResult {
    let log = &ctx.srv.log;
    let next = match id {
        None => {
            let at = log.last_offset();
            // The group's cursor names `at`: the reply waits until it is readable.
            crate::changes::log::expose(at);
            at + 1
        }
        Some(id) => after(id).max(log.first_offset()).max(1),
    };
    if setid {
        or_nogroup(groups::seek(log, group, next), || nogroup_for(group))?;
    } else {
        groups::create(log, group, next, Filter::default(), 0, None)?;
    }
    ctx.out.ok();
    Ok(())
}

pub fn xgroup_destroy(ctx: &mut Ctx, group: &[u8]) -> CmdResult {
    let n = groups::destroy(&ctx.srv.log.groups, group);
    ctx.out.int(n as i64);
    Ok(())
}

/// XGROUP CREATECONSUMER (1 if created) / DELCONSUMER (its pending entries, now dropped).
pub fn xgroup_consumer(ctx: &mut Ctx, group: &[u8], consumer: &[u8], create: bool) -> CmdResult {
    let now = ctx.now;
    let n: CmdResult<i64> = or_nogroup(
        groups::with_group(&ctx.srv.log.groups, group, |g| {
            if create {
                if g.consumers.contains_key(consumer) {
                    return (Ok(0), false);
                }
                if g.consumers.len() >= groups::MAX_CONSUMERS {
                    return (Err(error::CHANGES_TOO_MANY_CONSUMERS.into()), false);
                }
                g.consumers.insert(consumer.to_vec(), now);
                (Ok(1), true)
            } else {
                if g.consumers.remove(consumer).is_none() {
                    return (Ok(0), false);
                }
                let before = g.pending.len();
                g.pending.retain(|_, p| p.consumer != consumer);
                (Ok((before - g.pending.len()) as i64), true)
            }
        }),
        || nogroup_for(group),
    )?;
    ctx.out.int(n?);
    Ok(())
}

/// Pending entries per consumer, in one pass over the group's pending list.
fn pending_per_consumer(g: &groups::Group) -> std::collections::BTreeMap<&[u8], u64> {
    let mut per = std::collections::BTreeMap::new();
    for p in g.pending.values() {
        *per.entry(p.consumer.as_slice()).or_default() += 1;
    }
    per
}

/// XPENDING summary: `[count, min id, max id, [[consumer, count], ...]]`.
pub fn xpending_summary(ctx: &mut Ctx, group: &[u8]) -> CmdResult {
    let (n, lo, hi, per) = or_nogroup(
        groups::with_group(&ctx.srv.log.groups, group, |g| {
            let per: Vec<(Vec<u8>, u64)> = pending_per_consumer(g)
                .into_iter()
                .map(|(c, n)| (c.to_vec(), n))
                .collect();
            let lo = g.pending.keys().next().copied();
            let hi = g.pending.keys().next_back().copied();
            ((g.pending.len(), lo, hi, per), false)
        }),
        || nogroup(group),
    )?;
    let out = &mut *ctx.out;
    out.array(4);
    out.int(n as i64);
    match (lo, hi) {
        (Some(lo), Some(hi)) => {
            write_id(out, lo);
            write_id(out, hi);
            out.array(per.len());
            for (c, k) in per {
                out.array(2);
                out.bulk(&c);
                out.bulk_int(k as i64);
            }
        }
        _ => {
            out.null();
            out.null();
            out.null_array();
        }
    }
    Ok(())
}

/// XPENDING's extended form: `[[id, consumer, idle, deliveries], ...]`.
pub fn xpending_range(
    ctx: &mut Ctx,
    group: &[u8],
    min_idle: u64,
    start: StreamId,
    end: StreamId,
    count: usize,
    consumer: Option<&[u8]>,
) -> CmdResult {
    let now = ctx.now;
    let (lo, hi) = (at_or_after(start), end.ms);
    let rows = or_nogroup(
        groups::pending(
            &ctx.srv.log.groups,
            group,
            lo..=hi,
            min_idle,
            consumer,
            count.min(MAX_COUNT),
            now,
        ),
        || nogroup(group),
    )?;
    ctx.out.array(rows.len());
    for (o, c, idle, n) in rows {
        ctx.out.array(4);
        write_id(ctx.out, o);
        ctx.out.bulk(&c);
        ctx.out.int(idle as i64);
        ctx.out.int(i64::from(n));
    }
    Ok(())
}

/// Claims `offs` for `consumer`, writes dead letters, and replies with the entries (or ids).
/// Returns the offsets neither returned nor dead-lettered (their records are gone).
fn claim_and_reply(
    ctx: &mut Ctx,
    group: &[u8],
    consumer: &[u8],
    min_idle: u64,
    offs: &[u64],
    justid: bool,
) -> CmdResult<Vec<u64>> {
    let epoch = ctx.srv.log.epoch();
    let c = or_nogroup(
        groups::claim(
            &ctx.srv.log,
            &epoch,
            group,
            consumer,
            min_idle,
            offs,
            ctx.now,
        ),
        || nogroup(group),
    )?;
    for d in &c.dead {
        write_dead_letter(ctx, d);
    }
    if justid {
        ctx.out.array(c.events.len());
        for ev in &c.events {
            write_id(ctx.out, ev.offset);
        }
    } else {
        write_entries(ctx.out, &c.events);
    }
    let handled: std::collections::HashSet<u64> = c
        .events
        .iter()
        .map(|e| e.offset)
        .chain(c.dead.iter().map(|d| d.offset))
        .collect();
    Ok(offs
        .iter()
        .copied()
        .filter(|o| !handled.contains(o))
        .collect())
}

/// XCLAIM (JUSTID only among the options).
pub fn xclaim(
    ctx: &mut Ctx,
    group: &[u8],
    consumer: &[u8],
    min_idle: u64,
    ids: &[StreamId],
    justid: bool,
) -> CmdResult {
    let offs: Vec<u64> = ids.iter().filter_map(|&i| exact(i)).collect();
    claim_and_reply(ctx, group, consumer, min_idle, &offs, justid)?;
    Ok(())
}

/// XAUTOCLAIM: `[next cursor, entries, deleted ids]`, scanning at most `count * 10` pending
/// entries from `start`, as Redis.
pub fn xautoclaim(
    ctx: &mut Ctx,
    group: &[u8],
    consumer: &[u8],
    min_idle: u64,
    start: StreamId,
    count: usize,
    justid: bool,
) -> CmdResult {
    let count = count.min(MAX_COUNT);
    let now = ctx.now;
    let from = at_or_after(start);
    let (offs, next) = or_nogroup(
        groups::with_group(&ctx.srv.log.groups, group, |g| {
            let mut offs = Vec::new();
            let mut next = None;
            for (scanned, (&o, p)) in g.pending.range(from..).enumerate() {
                if scanned >= count.saturating_mul(10) || offs.len() >= count {
                    next = Some(o);
                    break;
                }
                if now.saturating_sub(p.delivered_ms) >= min_idle {
                    offs.push(o);
                }
            }
            ((offs, next), false)
        }),
        || nogroup(group),
    )?;
    ctx.out.array(3);
    match next {
        Some(o) => write_id(ctx.out, o),
        None => ctx.out.bulk(b"0-0"),
    }
    let gone = claim_and_reply(ctx, group, consumer, min_idle, &offs, justid)?;
    ctx.out.array(gone.len());
    for o in gone {
        write_id(ctx.out, o);
    }
    Ok(())
}

/// XINFO STREAM (not FULL).
pub fn xinfo_stream(ctx: &mut Ctx) -> CmdResult {
    let log = &ctx.srv.log;
    let (first, last) = (log.first_offset().max(1), log.readable());
    let len = (last + 1).saturating_sub(first);
    let ngroups = groups::names(&log.groups).len();
    let edge = |o: u64| -> Option<ChangeEvent> {
        if len == 0 {
            return None;
        }
        log.read(o, 1).ok()?.into_iter().next()
    };
    let (fe, le) = (edge(first), edge(last));
    let out = &mut *ctx.out;
    out.map(10);
    out.bulk_str("length");
    out.int(len as i64);
    out.bulk_str("radix-tree-keys");
    out.int(0);
    out.bulk_str("radix-tree-nodes");
    out.int(0);
    out.bulk_str("last-generated-id");
    write_id(out, last);
    out.bulk_str("max-deleted-entry-id");
    write_id(out, first.saturating_sub(1));
    out.bulk_str("entries-added");
    out.int(last as i64);
    out.bulk_str("recorded-first-entry-id");
    write_id(out, if len == 0 { 0 } else { first });
    out.bulk_str("groups");
    out.int(ngroups as i64);
    for (name, e) in [("first-entry", fe), ("last-entry", le)] {
        out.bulk_str(name);
        match e {
            Some(ev) => write_entry(out, &ev.as_ref()),
            None => out.null(),
        }
    }
    Ok(())
}

/// XINFO GROUPS.
pub fn xinfo_groups(ctx: &mut Ctx) -> CmdResult {
    let log = &ctx.srv.log;
    let last = log.last_offset();
    let names = groups::names(&log.groups);
    let mut rows = Vec::with_capacity(names.len());
    for n in names {
        if let Ok(r) = groups::with_group(&log.groups, &n, |g| {
            ((g.consumers.len(), g.pending.len(), g.next), false)
        }) {
            rows.push((n, r));
        }
    }
    let out = &mut *ctx.out;
    out.array(rows.len());
    for (name, (consumers, pending, next)) in rows {
        let read = next.saturating_sub(1);
        out.map(6);
        out.bulk_str("name");
        out.bulk(&name);
        out.bulk_str("consumers");
        out.int(consumers as i64);
        out.bulk_str("pending");
        out.int(pending as i64);
        out.bulk_str("last-delivered-id");
        write_id(out, read);
        out.bulk_str("entries-read");
        out.int(read as i64);
        out.bulk_str("lag");
        out.int(last.saturating_sub(read) as i64);
    }
    Ok(())
}

/// XINFO CONSUMERS.
pub fn xinfo_consumers(ctx: &mut Ctx, group: &[u8]) -> CmdResult {
    let now = ctx.now;
    let rows = or_nogroup(
        groups::with_group(&ctx.srv.log.groups, group, |g| {
            let per = pending_per_consumer(g);
            let rows: Vec<(Vec<u8>, u64, u64)> = g
                .consumers
                .iter()
                .map(|(c, &seen)| {
                    let n = per.get(c.as_slice()).copied().unwrap_or(0);
                    (c.clone(), n, now.saturating_sub(seen))
                })
                .collect();
            (rows, false)
        }),
        || nogroup_for(group),
    )?;
    ctx.out.array(rows.len());
    for (c, pending, idle) in rows {
        ctx.out.map(3);
        ctx.out.bulk_str("name");
        ctx.out.bulk(&c);
        ctx.out.bulk_str("pending");
        ctx.out.int(pending as i64);
        ctx.out.bulk_str("idle");
        ctx.out.int(idle as i64);
    }
    Ok(())
}

/// Whether a write command names the key where it must be refused: every write but the stream
/// commands this module serves (XREADGROUP, XACK, XCLAIM, XAUTOCLAIM, XGROUP).
pub fn write_refused(spec: &CommandSpec, args: &Args) -> bool {
    names_key(spec, args)
        && (spec.group != "stream" || matches!(spec.name, "xadd" | "xdel" | "xtrim" | "xsetid"))
}

/// Whether a write command is one of this module's group operations on the key (which change
/// only the server's own consumer-group state, never the keyspace).
pub fn group_op(spec: &CommandSpec, args: &Args) -> bool {
    spec.group == "stream" && names_key(spec, args) && !write_refused(spec, args)
}

fn names_key(spec: &CommandSpec, args: &Args) -> bool {
    if spec.name == "xreadgroup" {
        // Movable keys: the first half of what follows STREAMS.
        let all: Vec<&[u8]> = args.iter().collect();
        return all
            .iter()
            .position(|a| a.eq_ignore_ascii_case(b"STREAMS"))
            .is_some_and(|i| {
                let rest = &all[i + 1..];
                rest[..rest.len() / 2].contains(&KEY)
            });
    }
    let (first, last, step) = spec.keys;
    if first <= 0 || step <= 0 {
        return false;
    }
    let argc = args.len() as i32;
    let last = if last < 0 { argc + last } else { last }.min(argc - 1);
    // A plain loop: every write asks this, and `step_by` over a range cost twice as much.
    let mut i = first;
    while i <= last {
        if args.get(i as usize) == KEY {
            return true;
        }
        i += step;
    }
    false
}
