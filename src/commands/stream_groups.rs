//! Stream reads and consumer groups: XREAD, XREADGROUP (both with BLOCK), XGROUP, XACK,
//! XPENDING, XCLAIM, XAUTOCLAIM, XINFO.
//!
//! Handlers parse their arguments, then act through the methods of
//! [`Group`](crate::keyspace::stream_group::Group) and [`Stream`]; the group state lives with
//! the stream (see `keyspace::stream_group`). Blocking reads register a waiter
//! (`keyspace::blocking`, [`Op::XRead`] / [`Op::XReadGroup`]); XADD wakes them and
//! [`serve_blocked`] reads for them with the same code a non-blocking read uses.
//!
//! Consumers follow Redis 7.0: XINFO CONSUMERS reports `name`, `pending`, `idle` (7.2's
//! `inactive` and `active-time` are not kept). XINFO STREAM's `radix-tree-keys` is the number
//! of Redis-style nodes the stream's entries fall in (`keyspace::stream`); `radix-tree-nodes`,
//! the radix tree's own count, is reported as keys + 1.
//!
//! ## Recorded effects (exact replay)
//! Group state changes are recorded as commands that set the resulting state explicitly, as
//! Redis propagates them to replicas:
//! * a consumer created by XREADGROUP, XCLAIM or XAUTOCLAIM: `XGROUP CREATECONSUMER key group
//!   consumer` (event `xgroup-createconsumer`, as Redis notifies it);
//! * entries made pending or delivered again: `XCLAIM key group consumer 0 <ids> TIME <ms>
//!   RETRYCOUNT <n> FORCE JUSTID`, one record per run of entries sharing delivery time and count;
//! * a group's cursor moved by a read (or XCLAIM's LASTID): `XGROUP SETID key group <id>
//!   ENTRIESREAD <n|-1>`;
//! * pending entries dropped because their entry was deleted (XCLAIM, XAUTOCLAIM): `XACK key group
//!   <ids>`; XACK records the IDs it acknowledged;
//! * XGROUP CREATE records `$` resolved and its ENTRIESREAD explicit (MKSTREAM kept when it
//!   created the key); the other XGROUP subcommands record themselves.
//!
//! The records of XREADGROUP, XCLAIM, XAUTOCLAIM and XACK carry events named after the command
//! (`xreadgroup`, `xclaim`, `xautoclaim`, `xack`), which emit no keyspace notification, as in
//! Redis. A consumer's `seen-time` refreshed by a read that changes nothing else is not recorded.

use std::collections::BTreeMap;

use super::args::is;
use super::streams::{
    err, int, interval_end, interval_start, read, strict_id, write_entry, INVALID_ID,
};
use super::{cmd, feed_stream, flag::*, CommandSpec, Ctx};
use crate::changes::{ChangeKind, Who};
use crate::error::{self, CmdResult};
use crate::keyspace::blocking::{Op, Waiter};
use crate::keyspace::stream::{Stream, StreamId};
use crate::keyspace::stream_group::{ClaimRule, Claimed, Group, AUTOCLAIM_ATTEMPTS};
use crate::keyspace::value::{Key, Meta, Value, ValueType};
use crate::keyspace::Locked;
use crate::protocol::resp::{Args, Out};
use crate::util::num::parse_i64;

const X: &[&str] = &["stream"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("xreadgroup", -7, WRITE | BLOCKING | MOVABLE_KEYS, (0, 0, 0), X, "stream", xreadgroup,
        "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.",
        "GROUP group consumer [COUNT count] [BLOCK milliseconds] [NOACK] STREAMS key [key ...] id [id ...]",
        "5.0.0", "For each stream mentioned: O(M) with M the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREADGROUP blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data."),
    cmd!("xack", -4, WRITE | FAST, (1, 1, 1), X, "stream", xack,
        "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.",
        "key group id [id ...]", "5.0.0", "O(1) for each message ID processed."),
    cmd!("xpending", -3, READONLY, (1, 1, 1), X, "stream", xpending,
        "Returns the information and entries from a stream consumer group's pending entries list.",
        "key group [[IDLE min-idle-time] start end count [consumer]]", "5.0.0",
        "O(N) with N being the number of elements returned, so asking for a small fixed number of entries per call is O(1). O(M), where M is the total number of entries scanned when used with the IDLE filter. When the command returns just the summary and the list of consumers is small, it runs in O(1) time; otherwise, an additional O(N) time for iterating every consumer."),
    cmd!("xclaim", -6, WRITE | FAST, (1, 1, 1), X, "stream", xclaim,
        "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.",
        "key group consumer min-idle-time id [id ...] [IDLE ms] [TIME unix-time-milliseconds] [RETRYCOUNT count] [FORCE] [JUSTID] [LASTID lastid]",
        "5.0.0", "O(log N) with N being the number of messages in the PEL of the consumer group."),
    cmd!("xautoclaim", -6, WRITE | FAST, (1, 1, 1), X, "stream", xautoclaim,
        "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.",
        "key group consumer min-idle-time start [COUNT count] [JUSTID]", "6.2.0",
        "O(1) if COUNT is small."),
    CommandSpec {
        name: "xgroup",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: &["slow"],
        group: "stream",
        summary: "A container for consumer groups commands.",
        syntax: "",
        since: "5.0.0",
        complexity: "Depends on subcommand.",
        handler: super::container,
        subcommands: &[
            cmd!("create", -5, WRITE | DENYOOM, (2, 2, 1), X, "stream", xgroup_create,
                "Creates a consumer group.",
                "key group <id | $> [MKSTREAM] [ENTRIESREAD entries-read]", "5.0.0", "O(1)"),
            cmd!("setid", -5, WRITE, (2, 2, 1), X, "stream", xgroup_setid,
                "Sets the last-delivered ID of a consumer group.",
                "key group <id | $> [ENTRIESREAD entries-read]", "5.0.0", "O(1)"),
            cmd!("destroy", 4, WRITE, (2, 2, 1), X, "stream", xgroup_destroy,
                "Destroys a consumer group.", "key group", "5.0.0",
                "O(N) where N is the number of entries in the group's pending entries list (PEL)."),
            cmd!("createconsumer", 5, WRITE | DENYOOM, (2, 2, 1), X, "stream", xgroup_createconsumer,
                "Creates a consumer in a consumer group.", "key group consumer", "6.2.0", "O(1)"),
            cmd!("delconsumer", 5, WRITE, (2, 2, 1), X, "stream", xgroup_delconsumer,
                "Deletes a consumer from a consumer group.", "key group consumer", "5.0.0", "O(1)"),
            cmd!("help", 2, LOADING | STALE, (0, 0, 0), X, "stream", xgroup_help,
                "Returns helpful text about the different subcommands.", "", "5.0.0", "O(1)"),
        ],
    },
    CommandSpec {
        name: "xinfo",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: &["slow"],
        group: "stream",
        summary: "A container for stream introspection commands.",
        syntax: "",
        since: "5.0.0",
        complexity: "Depends on subcommand.",
        handler: super::container,
        subcommands: &[
            cmd!("consumers", 4, READONLY, (2, 2, 1), X, "stream", xinfo_consumers,
                "Returns a list of the consumers in a consumer group.", "key group", "5.0.0", "O(1)"),
            cmd!("groups", 3, READONLY, (2, 2, 1), X, "stream", xinfo_groups,
                "Returns a list of the consumer groups of a stream.", "key", "5.0.0", "O(1)"),
            cmd!("stream", -3, READONLY, (2, 2, 1), X, "stream", xinfo_stream,
                "Returns information about a stream.", "key [FULL [COUNT count]]", "5.0.0",
                "O(1)"),
            cmd!("help", 2, LOADING | STALE, (0, 0, 0), X, "stream", xinfo_help,
                "Returns helpful text about the different subcommands.", "", "5.0.0", "O(1)"),
        ],
    },
];

/// An entry copied out of a stream; `None` fields: the entry was deleted (history reads).
type Entry = (StreamId, Option<Box<[u8]>>);

fn copy_range(s: &Stream, after: StreamId, count: usize) -> Vec<Entry> {
    let Some(start) = after.incr() else {
        return Vec::new();
    };
    s.range(start, StreamId::MAX, false)
        .take(if count == 0 { usize::MAX } else { count })
        .map(|(id, p)| (id, Some(p.into())))
        .collect()
}

/// The reply of XREAD/XREADGROUP: per key `[key, [entries]]`, a map in RESP3.
fn write_read_reply(out: &mut Out, found: &[(&[u8], Vec<Entry>)]) {
    let resp3 = out.resp3;
    if resp3 {
        out.map(found.len());
    } else {
        out.array(found.len());
    }
    for (key, items) in found {
        if !resp3 {
            out.array(2);
        }
        out.bulk(key);
        out.array(items.len());
        for (id, p) in items {
            match p {
                Some(p) => write_entry(out, *id, p),
                None => {
                    out.array(2);
                    out.bulk(&id.to_bytes());
                    out.null_array();
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Recording

fn entries_read_arg(n: Option<u64>) -> String {
    n.map_or_else(|| "-1".to_string(), |n| n.to_string())
}

/// Records pending entries' resulting state (see the module docs), one XCLAIM per run of
/// entries with the same delivery time and count.
fn record_pending(
    l: &mut Locked,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    items: &[(StreamId, u64, u64)],
    event: &str,
) {
    let mut i = 0;
    while let Some(&(_, time, count)) = items.get(i) {
        let run = items[i..]
            .iter()
            .take_while(|(_, t, c)| *t == time && *c == count)
            .count();
        let ids: Vec<Vec<u8>> = items[i..i + run].iter().map(|x| x.0.to_bytes()).collect();
        let (t, c) = (time.to_string(), count.to_string());
        let mut rec: Vec<&[u8]> = vec![b"XCLAIM", key, group, consumer, b"0"];
        rec.extend(ids.iter().map(|v| &v[..]));
        rec.extend_from_slice(&[
            b"TIME",
            t.as_bytes(),
            b"RETRYCOUNT",
            c.as_bytes(),
            b"FORCE",
            b"JUSTID",
        ]);
        l.record(key, event, ChangeKind::Modify, ValueType::Stream, &rec);
        i += run;
    }
}

fn record_setid(
    l: &mut Locked,
    key: &[u8],
    group: &[u8],
    last: StreamId,
    er: Option<u64>,
    event: &str,
) {
    let (id, n) = (last.to_bytes(), entries_read_arg(er));
    l.record(
        key,
        event,
        ChangeKind::Modify,
        ValueType::Stream,
        &[
            b"XGROUP",
            b"SETID",
            key,
            group,
            &id,
            b"ENTRIESREAD",
            n.as_bytes(),
        ],
    );
}

fn record_acks(l: &mut Locked, key: &[u8], group: &[u8], ids: &[StreamId], event: &str) {
    if ids.is_empty() {
        return;
    }
    let ids: Vec<Vec<u8>> = ids.iter().map(|id| id.to_bytes()).collect();
    let mut rec: Vec<&[u8]> = vec![b"XACK", key, group];
    rec.extend(ids.iter().map(|v| &v[..]));
    l.record(key, event, ChangeKind::Modify, ValueType::Stream, &rec);
}

fn record_new_consumer(l: &mut Locked, key: &[u8], group: &[u8], consumer: &[u8]) {
    l.record(
        key,
        "xgroup-createconsumer",
        ChangeKind::Modify,
        ValueType::Stream,
        &[b"XGROUP", b"CREATECONSUMER", key, group, consumer],
    );
}

// ---------------------------------------------------------------------------------------------
// Group reads (shared by XREADGROUP and the blocked clients it leaves)

/// The stream at `key` in `l`'s database, if it is one.
fn stream_mut<'l>(l: &'l mut Locked, key: &[u8]) -> Option<&'l mut Stream> {
    match l.get(key) {
        Some(Value::Stream(s, _)) => Some(s),
        _ => None,
    }
}

/// Changes group `group` of the stream at `key` through `f` (the old image captured first);
/// `None` if there is no such stream or group.
fn change_group<R>(
    l: &mut Locked,
    key: &[u8],
    group: &[u8],
    f: impl FnOnce(&Stream, &mut Group) -> R,
) -> Option<R> {
    l.capture_old(key);
    stream_mut(l, key)?.with_group(group, f)
}

/// XREADGROUP on one stream whose group exists, for `consumer`: `>` delivers up to `count` new
/// entries; an ID delivers again the consumer's pending entries after it (deleted ones come
/// back without fields). Records what changed. The consumer is created (or its seen-time
/// refreshed) only when the read is served, as in Redis 7.0: a `>` read that finds nothing new,
/// and so blocks or answers nil, leaves the group as it was.
fn read_group(
    l: &mut Locked,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    from: From,
    count: usize,
    noack: bool,
) -> Vec<Entry> {
    let now = l.now;
    let r = change_group(l, key, group, |s, g| {
        let mut pending = Vec::new();
        let mut moved = None;
        let fresh = match from {
            From::New => copy_range(s, g.last_id, count),
            From::After(_) => Vec::new(),
        };
        if matches!(from, From::New) && fresh.is_empty() {
            return (false, fresh, pending, moved);
        }
        let created = g.seen(consumer, now);
        let items = match from {
            From::New => {
                let items = fresh;
                for (id, _) in &items {
                    s.advance(g, *id);
                    if !noack {
                        g.set_pending(*id, consumer, now, 1);
                        pending.push((*id, now, 1));
                    }
                }
                if !items.is_empty() {
                    moved = Some((g.last_id, g.entries_read));
                }
                items
            }
            From::After(after) => {
                let mut items = Vec::new();
                for id in g.consumer_pending_after(consumer, after, count) {
                    let p = s.get(id);
                    if p.is_some() {
                        if let Some(n) = g.redeliver(id, now) {
                            pending.push((id, n.delivery_time, n.delivery_count));
                        }
                    }
                    items.push((id, p.map(Box::from)));
                }
                items
            }
        };
        (created, items, pending, moved)
    });
    let Some((created, items, pending, moved)) = r else {
        return Vec::new();
    };
    if created {
        record_new_consumer(l, key, group, consumer);
    }
    if let Some((last, er)) = moved {
        record_setid(l, key, group, last, er, "xreadgroup");
    }
    record_pending(l, key, group, consumer, &pending, "xreadgroup");
    items
}

// ---------------------------------------------------------------------------------------------
// XREAD / XREADGROUP

/// Parsed XREAD / XREADGROUP arguments (IDs are resolved per key under the lock, as Redis
/// checks each key's type and group before its ID).
struct ReadArgs<'a> {
    count: usize,
    /// Milliseconds to wait (0: forever), if BLOCK was given.
    block: Option<u64>,
    group: Option<(&'a [u8], &'a [u8])>,
    noack: bool,
    keys: Vec<&'a [u8]>,
    ids: Vec<&'a [u8]>,
}

fn parse_read<'a>(a: &Args<'a>, grouped: bool) -> CmdResult<ReadArgs<'a>> {
    let mut r = ReadArgs {
        count: 0,
        block: None,
        group: None,
        noack: false,
        keys: Vec::new(),
        ids: Vec::new(),
    };
    let mut streams_at = None;
    let mut i = 1;
    while i < a.len() {
        let opt = a.get(i);
        let more = a.len() - 1 - i;
        if is(opt, "BLOCK") && more > 0 {
            match parse_i64(a.get(i + 1)) {
                None => return Err(err(error::XREAD_TIMEOUT)),
                Some(t) if t < 0 => return Err(err(error::TIMEOUT_NEG)),
                Some(t) => r.block = Some(t as u64),
            }
            i += 2;
        } else if is(opt, "COUNT") && more > 0 {
            r.count = usize::try_from(int(a.get(i + 1))?.max(0)).unwrap_or(usize::MAX);
            i += 2;
        } else if is(opt, "STREAMS") && more > 0 {
            streams_at = Some(i + 1);
            break;
        } else if is(opt, "GROUP") && more >= 2 {
            if !grouped {
                return Err(err(error::XREAD_GROUP_OPT));
            }
            r.group = Some((a.get(i + 1), a.get(i + 2)));
            i += 3;
        } else if is(opt, "NOACK") {
            if !grouped {
                return Err(err(error::XREAD_NOACK_OPT));
            }
            r.noack = true;
            i += 1;
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    let Some(p) = streams_at else {
        return Err(error::SYNTAX.into());
    };
    let rest = a.len() - p;
    if !rest.is_multiple_of(2) {
        return Err(err(error::XREAD_UNBALANCED));
    }
    if grouped && r.group.is_none() {
        return Err(err(error::XREADGROUP_NO_GROUP));
    }
    let n = rest / 2;
    r.keys = (p..p + n).map(|j| a.get(j)).collect();
    r.ids = (p + n..a.len()).map(|j| a.get(j)).collect();
    Ok(r)
}

/// Where one key of a read starts.
#[derive(Clone, Copy)]
enum From {
    /// After this ID (XREAD, or a XREADGROUP history read).
    After(StreamId),
    /// XREADGROUP `>`.
    New,
}

pub(super) fn xread(ctx: &mut Ctx, a: Args) -> CmdResult {
    read_cmd(ctx, a, false)
}

fn xreadgroup(ctx: &mut Ctx, a: Args) -> CmdResult {
    read_cmd(ctx, a, true)
}

/// A read's start ID for one key: `None` for `$` (resolved by the caller) and `>` in XREADGROUP.
fn parse_from(raw: &[u8], grouped: bool) -> CmdResult<Option<From>> {
    match raw {
        b"$" if grouped => Err(err(error::XREADGROUP_DOLLAR)),
        b"$" => Ok(None),
        b">" if !grouped => Err(err(error::XREAD_GREATER)),
        b">" => Ok(Some(From::New)),
        id => Ok(Some(From::After(strict_id(id)?))),
    }
}

/// XREAD / XREADGROUP of the change feed (`feed_stream`), which must be the only key.
fn feed_read(ctx: &mut Ctx, r: &ReadArgs, grouped: bool) -> CmdResult {
    let ([_], [raw]) = (r.keys.as_slice(), r.ids.as_slice()) else {
        return Err(err(error::FEED_NOT_ALONE));
    };
    let pos = match parse_from(raw, grouped)? {
        Some(From::After(id)) => Some(id),
        None | Some(From::New) => None,
    };
    match r.group {
        Some((g, c)) => feed_stream::xreadgroup(ctx, g, c, pos, r.count, r.block, r.noack),
        None => feed_stream::xread(ctx, pos, r.count, r.block),
    }
}

fn read_cmd(ctx: &mut Ctx, a: Args, grouped: bool) -> CmdResult {
    let r = parse_read(&a, grouped)?;
    if r.keys.iter().any(|k| feed_stream::is_feed(k)) {
        return feed_read(ctx, &r, grouped);
    }
    let mut l = ctx.lock(&r.keys);
    // Check every key (type, group, ID) before reading any.
    let mut from: Vec<From> = Vec::with_capacity(r.keys.len());
    for (key, raw) in r.keys.iter().zip(&r.ids) {
        let s = read(&mut l, key)?;
        if let Some((g, _)) = r.group {
            if !s.as_ref().is_some_and(|s| s.groups.contains_key(g)) {
                return Err(error::nogroup_key_or_group(key, g, true));
            }
        }
        let f = match parse_from(raw, grouped)? {
            Some(f) => f,
            None => From::After(s.map_or(StreamId::MIN, |s| s.last_id)),
        };
        from.push(f);
    }
    let mut found: Vec<(&[u8], Vec<Entry>)> = Vec::new();
    let mut history = false;
    for (k, key) in r.keys.iter().enumerate() {
        let Some(&f) = from.get(k) else {
            continue;
        };
        let items = match (r.group, f) {
            (None, From::After(id)) => match read(&mut l, key)? {
                Some(s) => copy_range(s, id, r.count),
                None => continue,
            },
            (Some((g, c)), From::New) => read_group(&mut l, key, g, c, f, r.count, r.noack),
            (Some((g, c)), From::After(_)) => {
                history = true;
                found.push((key, read_group(&mut l, key, g, c, f, r.count, r.noack)));
                continue;
            }
            (None, From::New) => continue,
        };
        if !items.is_empty() {
            found.push((key, items));
        }
    }
    if found.is_empty() && !history {
        if let Some(ms) = r.block {
            block(ctx, l, &r, &from, ms);
            return Ok(());
        }
        drop(l);
        ctx.out.null_array();
        return Ok(());
    }
    drop(l);
    write_read_reply(ctx.out, &found);
    Ok(())
}

/// Registers a blocked XREAD / XREADGROUP (all of whose keys read new entries).
fn block(ctx: &mut Ctx, l: Locked, r: &ReadArgs, from: &[From], ms: u64) {
    let mut keys: Vec<&[u8]> = Vec::with_capacity(r.keys.len());
    let mut after: Vec<StreamId> = Vec::with_capacity(r.keys.len());
    for (key, f) in r.keys.iter().zip(from) {
        if keys.contains(key) {
            continue;
        }
        keys.push(key);
        if let From::After(id) = f {
            after.push(*id);
        }
    }
    let op = match r.group {
        Some((g, c)) => Op::XReadGroup {
            group: Key::from_slice(g),
            consumer: Key::from_slice(c),
            count: r.count,
            noack: r.noack,
        },
        None => Op::XRead {
            after,
            count: r.count,
        },
    };
    super::lists::block(ctx, l, &keys, op, ms);
}

/// Serves a blocked XREAD / XREADGROUP from `key` (locked in `l`, which has just been written):
/// writes its reply to `o` and returns true, or false if it must go on waiting.
pub fn serve_blocked(l: &mut Locked, w: &Waiter, key: &[u8], o: &mut Out) -> bool {
    // Read and record as the blocked client, in its database.
    let saved = (l.who, l.db);
    (l.who, l.db) = (Who::client(w.client), w.db);
    let served = serve_as_waiter(l, w, key, o);
    (l.who, l.db) = saved;
    served
}

fn serve_as_waiter(l: &mut Locked, w: &Waiter, key: &[u8], o: &mut Out) -> bool {
    let items = match &w.op {
        Op::XRead { after, count } => {
            let Some(id) = w
                .keys
                .iter()
                .position(|k| k.as_slice() == key)
                .and_then(|i| after.get(i))
            else {
                return false;
            };
            match stream_mut(l, key) {
                Some(s) => copy_range(s, *id, *count),
                None => return false,
            }
        }
        Op::XReadGroup {
            group,
            consumer,
            count,
            noack,
        } => {
            match l.get(key) {
                Some(Value::Stream(s, _)) if !s.groups.contains_key(group.as_slice()) => {
                    o.error(error::XGROUP_DELETED);
                    return true;
                }
                Some(Value::Stream(..)) => {}
                _ => {
                    o.error(error::XSTREAM_DELETED);
                    return true;
                }
            }
            read_group(l, key, group, consumer, From::New, *count, *noack)
        }
        _ => return false,
    };
    if items.is_empty() {
        return false;
    }
    write_read_reply(o, &[(key, items)]);
    true
}

// ---------------------------------------------------------------------------------------------
// XACK, XPENDING, XCLAIM, XAUTOCLAIM

/// The stream at `key` and its group `group`, or the NOGROUP error of XCLAIM/XPENDING.
fn stream_with_group<'l>(l: &'l mut Locked, key: &[u8], group: &[u8]) -> CmdResult<&'l mut Stream> {
    match read(l, key)? {
        Some(s) if s.groups.contains_key(group) => Ok(s),
        _ => Err(error::nogroup_key_or_group(key, group, false)),
    }
}

fn xack(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, group) = (a.get(1), a.get(2));
    if feed_stream::is_feed(key) {
        return feed_stream::xack(ctx, group, &ack_ids(&a)?);
    }
    let mut l = ctx.lock1(key);
    let has = read(&mut l, key)?.is_some_and(|s| s.groups.contains_key(group));
    if !has {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    }
    let ids = ack_ids(&a)?;
    l.capture_old(key);
    let acked: Vec<StreamId> = match stream_mut(&mut l, key).and_then(|s| s.groups.get_mut(group)) {
        Some(g) => ids.into_iter().filter(|id| g.ack(*id)).collect(),
        None => Vec::new(),
    };
    record_acks(&mut l, key, group, &acked, "xack");
    drop(l);
    ctx.out.int(acked.len() as i64);
    Ok(())
}

fn ack_ids(a: &Args) -> CmdResult<Vec<StreamId>> {
    a.iter().skip(3).map(strict_id).collect()
}

fn xpending(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, group) = (a.get(1), a.get(2));
    let argc = a.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(error::SYNTAX.into());
    }
    // (start, end, count, consumer, min idle) of the extended form.
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0i64;
        if is(a.get(3), "IDLE") {
            min_idle = int(a.get(4))?;
            if argc < 8 {
                return Err(error::SYNTAX.into());
            }
            at = 5;
        }
        let count = int(a.get(at + 2))?.max(0);
        let start = interval_start(a.get(at))?;
        let end = interval_end(a.get(at + 1))?;
        // Anything after the consumer is ignored, as Redis does.
        let consumer = (at + 3 < argc).then(|| a.get(at + 3));
        range = Some((start, end, count, consumer, min_idle.max(0) as u64));
    }
    if feed_stream::is_feed(key) {
        return match range {
            None => feed_stream::xpending_summary(ctx, group),
            Some((start, end, count, consumer, min_idle)) => {
                let count = usize::try_from(count).unwrap_or(usize::MAX);
                feed_stream::xpending_range(ctx, group, min_idle, start, end, count, consumer)
            }
        };
    }
    let now = ctx.now;
    let mut l = ctx.lock1(key);
    let s = stream_with_group(&mut l, key, group)?;
    let Some(g) = s.groups.get(group) else {
        return Err(error::nogroup_key_or_group(key, group, false));
    };
    let out = &mut *ctx.out;
    match range {
        None => {
            let (n, bounds, per) = g.summary();
            out.array(4);
            out.int(n as i64);
            match bounds {
                None => {
                    out.null();
                    out.null();
                    out.null_array();
                }
                Some((lo, hi)) => {
                    out.bulk(&lo.to_bytes());
                    out.bulk(&hi.to_bytes());
                    out.array(per.len());
                    for (c, k) in per {
                        out.array(2);
                        out.bulk(c);
                        out.bulk_int(k as i64);
                    }
                }
            }
        }
        Some((start, end, count, consumer, min_idle)) => {
            let count = usize::try_from(count).unwrap_or(usize::MAX);
            let items = g.pending_range(start, end, count, consumer, min_idle, now);
            out.array(items.len());
            for (id, n) in items {
                out.array(4);
                out.bulk(&id.to_bytes());
                out.bulk(&n.consumer);
                out.int(now.saturating_sub(n.delivery_time) as i64);
                out.int(n.delivery_count as i64);
            }
        }
    }
    drop(l);
    Ok(())
}

/// Records a claim's effects (see the module docs).
fn record_claim(
    l: &mut Locked,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    c: &Claimed,
    event: &str,
) {
    if c.created {
        record_new_consumer(l, key, group, consumer);
    }
    record_acks(l, key, group, &c.deleted, event);
    record_pending(l, key, group, consumer, &c.taken, event);
}

/// Writes claimed entries: IDs (JUSTID) or whole entries.
fn write_claimed(out: &mut Out, s: &Stream, taken: &[(StreamId, u64, u64)], justid: bool) {
    out.array(taken.len());
    for (id, _, _) in taken {
        match (justid, s.get(*id)) {
            (false, Some(p)) => write_entry(out, *id, p),
            (false, None) => out.null(),
            (true, _) => out.bulk(&id.to_bytes()),
        }
    }
}

/// XCLAIM's and XAUTOCLAIM's first steps: the key and group must exist, then the minimum idle
/// time (negative counts as 0) must parse.
fn claim_start<'a>(
    ctx: &Ctx<'a>,
    a: &Args,
    bad_idle: &'static str,
) -> CmdResult<(Locked<'a>, u64)> {
    let (key, group) = (a.get(1), a.get(2));
    let mut l = ctx.lock1(key);
    stream_with_group(&mut l, key, group)?;
    Ok((l, min_idle_arg(a.get(4), bad_idle)?))
}

fn min_idle_arg(b: &[u8], bad_idle: &'static str) -> CmdResult<u64> {
    let min_idle = parse_i64(b).ok_or_else(|| err(bad_idle))?;
    Ok(min_idle.max(0) as u64)
}

/// XCLAIM's IDs and options.
struct XClaimArgs {
    ids: Vec<StreamId>,
    time: Option<i64>,
    retry: Option<i64>,
    force: bool,
    justid: bool,
    last_id: StreamId,
}

fn xclaim_args(a: &Args, now: u64) -> CmdResult<XClaimArgs> {
    let mut j = 5;
    let mut ids = Vec::new();
    while j < a.len() {
        match StreamId::parse(a.get(j), 0) {
            Some(id) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let mut c = XClaimArgs {
        ids,
        time: None,
        retry: None,
        force: false,
        justid: false,
        last_id: StreamId::MIN,
    };
    while j < a.len() {
        let opt = a.get(j);
        let more = j + 1 < a.len();
        if is(opt, "FORCE") {
            c.force = true;
        } else if is(opt, "JUSTID") {
            c.justid = true;
        } else if is(opt, "IDLE") && more {
            j += 1;
            let idle = parse_i64(a.get(j)).ok_or_else(|| err(error::XCLAIM_IDLE))?;
            c.time = Some((now as i64).saturating_sub(idle));
        } else if is(opt, "TIME") && more {
            j += 1;
            c.time = Some(parse_i64(a.get(j)).ok_or_else(|| err(error::XCLAIM_TIME))?);
        } else if is(opt, "RETRYCOUNT") && more {
            j += 1;
            c.retry = Some(parse_i64(a.get(j)).ok_or_else(|| err(error::XCLAIM_RETRYCOUNT))?);
        } else if is(opt, "LASTID") && more {
            j += 1;
            c.last_id = strict_id(a.get(j))?;
        } else {
            return Err(error::xclaim_option(opt));
        }
        j += 1;
    }
    Ok(c)
}

fn xclaim(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, group, consumer) = (a.get(1), a.get(2), a.get(3));
    let now = ctx.now;
    if feed_stream::is_feed(key) {
        let min_idle = min_idle_arg(a.get(4), error::XCLAIM_MIN_IDLE)?;
        let c = xclaim_args(&a, now)?;
        if c.time.is_some() || c.retry.is_some() || c.force || c.last_id != StreamId::MIN {
            return Err(err(error::FEED_CLAIM_OPTIONS));
        }
        return feed_stream::xclaim(ctx, group, consumer, min_idle, &c.ids, c.justid);
    }
    let (mut l, min_idle) = claim_start(ctx, &a, error::XCLAIM_MIN_IDLE)?;
    let XClaimArgs {
        ids,
        time,
        retry,
        force,
        justid,
        last_id,
    } = xclaim_args(&a, now)?;
    // A bogus delivery time becomes now rather than an error (clients compute it from their
    // own clocks), as in Redis.
    let time = match time {
        Some(t) if t >= 0 && (t as u64) <= now => t as u64,
        _ => now,
    };
    let rule = ClaimRule {
        min_idle,
        now,
        time,
        // A negative count is kept by Redis as a huge unsigned one; 0 is the sane reading.
        retry: retry.map(|n| n.max(0) as u64),
        justid,
        force,
    };
    let r = change_group(&mut l, key, group, |s, g| {
        let mut c = Claimed::default();
        let moved = last_id > g.last_id;
        if moved {
            g.last_id = last_id;
        }
        for id in &ids {
            g.claim(*id, s.get(*id).is_some(), consumer, &rule, &mut c);
        }
        (c, moved.then_some((g.last_id, g.entries_read)))
    });
    let Some((c, moved)) = r else {
        return Err(error::nogroup_key_or_group(key, group, false));
    };
    if let Some(s) = stream_mut(&mut l, key) {
        write_claimed(ctx.out, s, &c.taken, justid);
    }
    if let Some((last, er)) = moved {
        record_setid(&mut l, key, group, last, er, "xclaim");
    }
    record_claim(&mut l, key, group, consumer, &c, "xclaim");
    drop(l);
    Ok(())
}

/// XAUTOCLAIM's start, COUNT (default 100) and JUSTID.
fn xautoclaim_args(a: &Args) -> CmdResult<(StreamId, u64, bool)> {
    let start = interval_start(a.get(5))?;
    let mut count: u64 = 100;
    let mut justid = false;
    let mut j = 6;
    while j < a.len() {
        if is(a.get(j), "COUNT") && j + 1 < a.len() {
            // Redis's bound: its buffers hold `count` IDs of 16 bytes or 10 attempts each.
            let max = i64::MAX / AUTOCLAIM_ATTEMPTS.max(16) as i64;
            count = match parse_i64(a.get(j + 1)) {
                Some(n) if (1..=max).contains(&n) => n as u64,
                _ => return Err(err(error::XAUTOCLAIM_COUNT)),
            };
            j += 2;
        } else if is(a.get(j), "JUSTID") {
            justid = true;
            j += 1;
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    Ok((start, count, justid))
}

fn xautoclaim(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, group, consumer) = (a.get(1), a.get(2), a.get(3));
    let now = ctx.now;
    if feed_stream::is_feed(key) {
        let min_idle = min_idle_arg(a.get(4), error::XAUTOCLAIM_MIN_IDLE)?;
        let (start, count, justid) = xautoclaim_args(&a)?;
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        return feed_stream::xautoclaim(ctx, group, consumer, min_idle, start, count, justid);
    }
    // Every argument is checked before the key, as Redis reports syntax errors first.
    let min_idle = min_idle_arg(a.get(4), error::XAUTOCLAIM_MIN_IDLE)?;
    let (start, count, justid) = xautoclaim_args(&a)?;
    let mut l = ctx.lock1(key);
    stream_with_group(&mut l, key, group)?;
    let rule = ClaimRule {
        min_idle,
        now,
        time: now,
        retry: None,
        justid,
        force: false,
    };
    let r = change_group(&mut l, key, group, |s, g| {
        let mut c = Claimed::default();
        let cursor = g.autoclaim(
            start,
            count,
            |id| s.get(id).is_some(),
            consumer,
            &rule,
            &mut c,
        );
        (c, cursor)
    });
    let Some((c, cursor)) = r else {
        return Err(error::nogroup_key_or_group(key, group, false));
    };
    ctx.out.array(3);
    ctx.out.bulk(&cursor.to_bytes());
    if let Some(s) = stream_mut(&mut l, key) {
        write_claimed(ctx.out, s, &c.taken, justid);
    }
    ctx.out.array(c.deleted.len());
    for id in &c.deleted {
        ctx.out.bulk(&id.to_bytes());
    }
    record_claim(&mut l, key, group, consumer, &c, "xautoclaim");
    drop(l);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XGROUP

/// `ENTRIESREAD n` (n >= 0 or -1): `Some(None)` for -1.
fn entries_read(b: &[u8]) -> CmdResult<Option<u64>> {
    let n = int(b)?;
    match n {
        -1 => Ok(None),
        n if n >= 0 => Ok(Some(n as u64)),
        _ => Err(err(error::ENTRIESREAD_RANGE)),
    }
}

/// A group ID argument: `$` (the stream's last ID) or an ID (`-`/`+` allowed, as Redis's
/// non-strict parse).
fn group_id(b: &[u8], s: Option<&Stream>) -> CmdResult<StreamId> {
    match b {
        b"$" => Ok(s.map_or(StreamId::MIN, |s| s.last_id)),
        b"-" => Ok(StreamId::MIN),
        b"+" => Ok(StreamId::MAX),
        _ => strict_id(b),
    }
}

/// CREATE's ID: as [`group_id`], but Redis parses it strictly, so `-` and `+` are refused.
fn create_id(b: &[u8], s: Option<&Stream>) -> CmdResult<StreamId> {
    match b {
        b"-" | b"+" => Err(err(INVALID_ID)),
        _ => group_id(b, s),
    }
}

/// A group ID for the change feed: `None` for `$`.
fn feed_group_id(b: &[u8]) -> CmdResult<Option<StreamId>> {
    match b {
        b"$" => Ok(None),
        b => group_id(b, None).map(Some),
    }
}

/// The stream an XGROUP subcommand works on: it must exist.
fn xgroup_stream<'l>(l: &'l mut Locked, key: &[u8]) -> CmdResult<&'l mut Stream> {
    read(l, key)?.ok_or_else(|| err(error::XGROUP_NO_KEY))
}

/// The options after CREATE's and SETID's ID, read as Redis reads them: left to right, before
/// the key is looked up, the first bad one answering (MKSTREAM is CREATE's only). Returns
/// (MKSTREAM, ENTRIESREAD).
fn xgroup_options(a: &Args, create: bool) -> CmdResult<(bool, Option<u64>)> {
    let (mut mkstream, mut er) = (false, None);
    let mut i = 5;
    while i < a.len() {
        if create && is(a.get(i), "MKSTREAM") {
            mkstream = true;
            i += 1;
        } else if is(a.get(i), "ENTRIESREAD") && i + 1 < a.len() {
            er = entries_read(a.get(i + 1))?;
            i += 2;
        } else {
            return Err(error::subcommand_syntax(a.get(1), "xgroup"));
        }
    }
    Ok((mkstream, er))
}

fn xgroup_create(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, group) = (a.get(2), a.get(3));
    let (mkstream, er) = xgroup_options(&a, true)?;
    // Repeated options pass the loop; Redis then refuses more than 8 arguments, after the key
    // checks.
    let count_ok = a.len() <= 8;
    if feed_stream::is_feed(key) {
        if !count_ok {
            return Err(error::subcommand_syntax(a.get(1), "xgroup"));
        }
        return feed_stream::xgroup_create(ctx, group, feed_group_id(a.get(4))?, false);
    }
    let mut l = ctx.lock1(key);
    let existed = match read(&mut l, key)? {
        Some(_) => true,
        None if mkstream => false,
        None => return Err(err(error::XGROUP_NO_KEY)),
    };
    if !count_ok {
        return Err(error::subcommand_syntax(a.get(1), "xgroup"));
    }
    let id = create_id(a.get(4), read(&mut l, key)?.map(|s| &*s))?;
    if existed {
        if read(&mut l, key)?.is_some_and(|s| s.groups.contains_key(group)) {
            return Err(err(error::BUSYGROUP));
        }
        l.capture_old(key);
    } else {
        l.put(key, Value::Stream(Box::default(), Meta::now()), false);
    }
    if let Some(s) = stream_mut(&mut l, key) {
        s.groups.insert(Key::from_slice(group), Group::new(id, er));
    }
    let (idb, n) = (id.to_bytes(), entries_read_arg(er));
    let mut rec: Vec<&[u8]> = vec![b"XGROUP", b"CREATE", key, group, &idb];
    if !existed {
        rec.push(b"MKSTREAM");
    }
    rec.extend_from_slice(&[b"ENTRIESREAD", n.as_bytes()]);
    l.record(
        key,
        "xgroup-create",
        ChangeKind::upsert(existed),
        ValueType::Stream,
        &rec,
    );
    drop(l);
    ctx.out.ok();
    Ok(())
}

fn xgroup_setid(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, group) = (a.get(2), a.get(3));
    let (_, er) = xgroup_options(&a, false)?;
    // As for CREATE: the count is checked after the key and the group.
    let count_ok = matches!(a.len(), 5 | 7);
    if feed_stream::is_feed(key) {
        if !count_ok {
            return Err(error::subcommand_syntax(a.get(1), "xgroup"));
        }
        return feed_stream::xgroup_create(ctx, group, feed_group_id(a.get(4))?, true);
    }
    let mut l = ctx.lock1(key);
    let s = xgroup_stream(&mut l, key)?;
    if !s.groups.contains_key(group) {
        return Err(error::nogroup_for_key(group, key));
    }
    if !count_ok {
        return Err(error::subcommand_syntax(a.get(1), "xgroup"));
    }
    let id = group_id(a.get(4), Some(s))?;
    l.capture_old(key);
    if let Some(g) = stream_mut(&mut l, key).and_then(|s| s.groups.get_mut(group)) {
        g.last_id = id;
        g.entries_read = er;
    }
    record_setid(&mut l, key, group, id, er, "xgroup-setid");
    drop(l);
    ctx.out.ok();
    Ok(())
}

fn xgroup_destroy(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, group) = (a.get(2), a.get(3));
    if feed_stream::is_feed(key) {
        return feed_stream::xgroup_destroy(ctx, group);
    }
    let mut l = ctx.lock1(key);
    if !xgroup_stream(&mut l, key)?.groups.contains_key(group) {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    }
    l.capture_old(key);
    if let Some(s) = stream_mut(&mut l, key) {
        s.groups.remove(group);
    }
    l.record(
        key,
        "xgroup-destroy",
        ChangeKind::Modify,
        ValueType::Stream,
        &[b"XGROUP", b"DESTROY", key, group],
    );
    // XREADGROUP clients blocked on the group get NOGROUP.
    let db = l.db;
    l.signal_ready(db, key);
    drop(l);
    ctx.out.int(1);
    Ok(())
}

/// The group of an XGROUP CREATECONSUMER / DELCONSUMER: key and group must exist.
fn xgroup_group<'l>(l: &'l mut Locked, key: &[u8], group: &[u8]) -> CmdResult<&'l mut Group> {
    xgroup_stream(l, key)?
        .groups
        .get_mut(group)
        .ok_or_else(|| error::nogroup_for_key(group, key))
}

fn xgroup_createconsumer(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, group, consumer) = (a.get(2), a.get(3), a.get(4));
    if feed_stream::is_feed(key) {
        return feed_stream::xgroup_consumer(ctx, group, consumer, true);
    }
    let now = ctx.now;
    let mut l = ctx.lock1(key);
    xgroup_group(&mut l, key, group)?;
    l.capture_old(key);
    let created = xgroup_group(&mut l, key, group)?.create_consumer(consumer, now);
    if created {
        record_new_consumer(&mut l, key, group, consumer);
    }
    drop(l);
    ctx.out.int(created as i64);
    Ok(())
}

fn xgroup_delconsumer(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, group, consumer) = (a.get(2), a.get(3), a.get(4));
    if feed_stream::is_feed(key) {
        return feed_stream::xgroup_consumer(ctx, group, consumer, false);
    }
    let mut l = ctx.lock1(key);
    if xgroup_group(&mut l, key, group)?
        .consumer(consumer)
        .is_none()
    {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    }
    l.capture_old(key);
    let pending = xgroup_group(&mut l, key, group)?
        .delete_consumer(consumer)
        .unwrap_or(0);
    l.record(
        key,
        "xgroup-delconsumer",
        ChangeKind::Modify,
        ValueType::Stream,
        &[b"XGROUP", b"DELCONSUMER", key, group, consumer],
    );
    drop(l);
    ctx.out.int(pending as i64);
    Ok(())
}

fn help(out: &mut Out, lines: &[&str]) {
    out.array(lines.len());
    for l in lines {
        out.simple(l);
    }
}

fn xgroup_help(ctx: &mut Ctx, _a: Args) -> CmdResult {
    help(
        ctx.out,
        &[
            "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CREATE <key> <groupname> <id|$> [option]",
            "    Create a new consumer group. Options are:",
            "    * MKSTREAM",
            "      Create the empty stream if it does not exist.",
            "    * ENTRIESREAD entries_read",
            "      Set the group's entries_read counter (internal use).",
            "CREATECONSUMER <key> <groupname> <consumer>",
            "    Create a new consumer in the specified group.",
            "DELCONSUMER <key> <groupname> <consumer>",
            "    Remove the specified consumer.",
            "DESTROY <key> <groupname>",
            "    Remove the specified group.",
            "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
            "    Set the current group ID and entries_read counter.",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// XINFO

fn xinfo_help(ctx: &mut Ctx, _a: Args) -> CmdResult {
    help(
        ctx.out,
        &[
            "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "CONSUMERS <key> <groupname>",
            "    Show consumers of <groupname>.",
            "GROUPS <key>",
            "    Show the stream consumer groups.",
            "STREAM <key> [FULL [COUNT <count>]",
            "    Show information about the stream.",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
}

/// The stream XINFO reports on: it must exist.
fn xinfo_target<'l>(l: &'l mut Locked, key: &[u8]) -> CmdResult<&'l mut Stream> {
    read(l, key)?.ok_or_else(|| err(error::NO_SUCH_KEY))
}

fn xinfo_consumers(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, group) = (a.get(2), a.get(3));
    if feed_stream::is_feed(key) {
        return feed_stream::xinfo_consumers(ctx, group);
    }
    let now = ctx.now;
    let mut l = ctx.lock1(key);
    let s = xinfo_target(&mut l, key)?;
    let g = s
        .groups
        .get(group)
        .ok_or_else(|| error::nogroup_for_key(group, key))?;
    let out = &mut *ctx.out;
    out.array(g.consumers().len());
    for (name, c) in g.consumers() {
        out.map(3);
        out.bulk_str("name");
        out.bulk(name);
        out.bulk_str("pending");
        out.int(c.pending.len() as i64);
        out.bulk_str("idle");
        out.int(now.saturating_sub(c.seen_time) as i64);
    }
    drop(l);
    Ok(())
}

fn write_opt_int(out: &mut Out, v: Option<i64>) {
    match v {
        Some(n) => out.int(n),
        None => out.null(),
    }
}

/// A group's `last-delivered-id`, `entries-read` and `lag` fields (XINFO GROUPS and FULL).
fn write_group_cursor(out: &mut Out, s: &Stream, g: &Group) {
    out.bulk_str("last-delivered-id");
    out.bulk(&g.last_id.to_bytes());
    out.bulk_str("entries-read");
    write_opt_int(out, g.entries_read.map(|n| n as i64));
    out.bulk_str("lag");
    write_opt_int(out, s.lag(g));
}

fn xinfo_groups(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(2);
    if feed_stream::is_feed(key) {
        return feed_stream::xinfo_groups(ctx);
    }
    let mut l = ctx.lock1(key);
    let s = xinfo_target(&mut l, key)?;
    let out = &mut *ctx.out;
    out.array(s.groups.len());
    for (name, g) in &s.groups {
        out.map(6);
        out.bulk_str("name");
        out.bulk(name);
        out.bulk_str("consumers");
        out.int(g.consumers().len() as i64);
        out.bulk_str("pending");
        out.int(g.pel().len() as i64);
        write_group_cursor(out, s, g);
    }
    drop(l);
    Ok(())
}

fn xinfo_stream(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(2);
    let full = match a.len() {
        3 => None,
        4 | 6 if is(a.get(3), "FULL") => {
            if a.len() == 6 {
                if !is(a.get(4), "COUNT") {
                    return Err(error::subcommand_syntax(a.get(1), "xinfo"));
                }
                let n = int(a.get(5))?;
                Some(if n < 0 { 10 } else { n as usize })
            } else {
                Some(10)
            }
        }
        _ => return Err(error::subcommand_syntax(a.get(1), "xinfo")),
    };
    if feed_stream::is_feed(key) {
        if full.is_some() {
            return Err(err(error::FEED_XINFO_FULL));
        }
        return feed_stream::xinfo_stream(ctx);
    }
    let mut l = ctx.lock1(key);
    let s = xinfo_target(&mut l, key)?;
    let out = &mut *ctx.out;
    let len = s.len_entries();
    let tree_keys = s.node_count();
    out.map(if full.is_some() { 9 } else { 10 });
    out.bulk_str("length");
    out.int(len as i64);
    out.bulk_str("radix-tree-keys");
    out.int(tree_keys as i64);
    out.bulk_str("radix-tree-nodes");
    out.int(tree_keys as i64 + 1);
    out.bulk_str("last-generated-id");
    out.bulk(&s.last_id.to_bytes());
    out.bulk_str("max-deleted-entry-id");
    out.bulk(&s.max_deleted.to_bytes());
    out.bulk_str("entries-added");
    out.int(s.entries_added as i64);
    out.bulk_str("recorded-first-entry-id");
    out.bulk(&s.first_id().to_bytes());
    match full {
        None => {
            out.bulk_str("groups");
            out.int(s.groups.len() as i64);
            for (name, first) in [("first-entry", true), ("last-entry", false)] {
                out.bulk_str(name);
                let e = if first {
                    s.range(StreamId::MIN, StreamId::MAX, false).next()
                } else {
                    s.range(StreamId::MIN, StreamId::MAX, true).next()
                };
                match e {
                    Some((id, p)) => write_entry(out, id, p),
                    None => out.null(),
                }
            }
        }
        Some(count) => {
            let take = if count == 0 { usize::MAX } else { count };
            let entries: Vec<(StreamId, &[u8])> = s
                .range(StreamId::MIN, StreamId::MAX, false)
                .take(take)
                .collect();
            out.bulk_str("entries");
            out.array(entries.len());
            for (id, p) in entries {
                write_entry(out, id, p);
            }
            out.bulk_str("groups");
            out.array(s.groups.len());
            for (name, g) in &s.groups {
                write_group_full(out, s, name, g, take);
            }
        }
    }
    drop(l);
    Ok(())
}

fn write_group_full(out: &mut Out, s: &Stream, name: &[u8], g: &Group, take: usize) {
    out.map(7);
    out.bulk_str("name");
    out.bulk(name);
    write_group_cursor(out, s, g);
    out.bulk_str("pel-count");
    out.int(g.pel().len() as i64);
    out.bulk_str("pending");
    let pel: Vec<_> = g.pel().iter().take(take).collect();
    out.array(pel.len());
    for (id, n) in pel {
        out.array(4);
        out.bulk(&id.to_bytes());
        out.bulk(&n.consumer);
        out.int(n.delivery_time as i64);
        out.int(n.delivery_count as i64);
    }
    out.bulk_str("consumers");
    out.array(g.consumers().len());
    let by_id: &BTreeMap<StreamId, _> = g.pel();
    for (cname, c) in g.consumers() {
        out.map(4);
        out.bulk_str("name");
        out.bulk(cname);
        out.bulk_str("seen-time");
        out.int(c.seen_time as i64);
        out.bulk_str("pel-count");
        out.int(c.pending.len() as i64);
        out.bulk_str("pending");
        let mine: Vec<_> = c
            .pending
            .iter()
            .take(take)
            .filter_map(|id| by_id.get(id).map(|n| (id, n)))
            .collect();
        out.array(mine.len());
        for (id, n) in mine {
            out.array(3);
            out.bulk(&id.to_bytes());
            out.int(n.delivery_time as i64);
            out.int(n.delivery_count as i64);
        }
    }
}
