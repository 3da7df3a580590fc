//! Streams: XADD, XLEN, XRANGE/XREVRANGE, XDEL, XTRIM, XSETID. Reads (XREAD, XREADGROUP) and
//! consumer groups (XGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO) are in
//! [`stream_groups`](super::stream_groups).
//!
//! ## Approximate trimming (`~`)
//! Redis trims with `~` whole radix-tree nodes only (`stream-node-max-entries` and `-bytes`
//! each), so it may trim fewer entries than `=` would. Eddy keeps the same node boundaries
//! beside its entries (`keyspace::stream`, "Nodes") and trims by them as Redis's `streamTrim`
//! does, LIMIT included (default: 100 nodes' worth; 0 meaning none), so the length left is
//! Redis's.
//!
//! Recorded effects (DESIGN.md, "Record what happened"):
//! * XADD records `XADD key <id> f v ...` (event `xadd`) with the generated ID made explicit and
//!   without trim options; if it trimmed, a second record `XTRIM key MINID = <first remaining
//!   id>` (or `XTRIM key MAXLEN = 0` when nothing remains), event `xtrim`. Both forms are exact
//!   whatever the trim strategy was, and cost one record however many entries went.
//! * XTRIM records the same exact form (only when it removed something).
//! * XDEL records `XDEL key <the ids it removed>` (event `xdel`).
//! * XSETID records itself, arguments as given (event `xsetid`).
//!
//! A stream that becomes empty is kept, as in Redis.

use std::sync::atomic::Ordering;

use super::args::is;
use super::{cmd, feed_stream, flag::*, CommandSpec, Ctx};
use crate::changes::ChangeKind;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::stream::{pack, unpack, NodeLimits, Stream, StreamId, TrimSpec};
use crate::keyspace::value::{Meta, Value, ValueType};
use crate::keyspace::Locked;
use crate::protocol::resp::{Args, Out};
use crate::util::num::parse_i64;

const X: &[&str] = &["stream"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("xadd", -5, WRITE | DENYOOM | FAST, (1, 1, 1), X, "stream", xadd,
        "Appends a new message to a stream. Creates the key if it doesn't exist.",
        "key [NOMKSTREAM] [<MAXLEN | MINID> [= | ~] threshold [LIMIT count]] <* | id> field value [field value ...]",
        "5.0.0", "O(1) when adding a new entry, O(N) when trimming where N being the number of entries evicted."),
    cmd!("xlen", 2, READONLY | FAST, (1, 1, 1), X, "stream", xlen,
        "Return the number of messages in a stream.", "key", "5.0.0", "O(1)"),
    cmd!("xrange", -4, READONLY, (1, 1, 1), X, "stream", xrange,
        "Returns the messages from a stream within a range of IDs.", "key start end [COUNT count]",
        "5.0.0", "O(N) with N being the number of elements being returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1)."),
    cmd!("xrevrange", -4, READONLY, (1, 1, 1), X, "stream", xrevrange,
        "Returns the messages from a stream within a range of IDs in reverse order.",
        "key end start [COUNT count]", "5.0.0",
        "O(N) with N being the number of elements returned. If N is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1)."),
    cmd!("xdel", -3, WRITE | FAST, (1, 1, 1), X, "stream", xdel,
        "Returns the number of messages after removing them from a stream.", "key id [id ...]",
        "5.0.0", "O(1) for each single item to delete in the stream, regardless of the stream size."),
    cmd!("xtrim", -4, WRITE, (1, 1, 1), X, "stream", xtrim,
        "Deletes messages from the beginning of a stream.",
        "key <MAXLEN | MINID> [= | ~] threshold [LIMIT count]", "5.0.0",
        "O(N), with N being the number of evicted entries. Constant times are very small however, since entries are organized in macro nodes containing multiple entries that can be released with a single deallocation."),
    cmd!("xsetid", -3, WRITE | DENYOOM | FAST, (1, 1, 1), X, "stream", xsetid,
        "An internal command for replicating stream values.",
        "key last-id [ENTRIESADDED entries-added] [MAXDELETEDID max-deleted-id]", "5.0.0", "O(1)"),
    cmd!("xread", -4, READONLY | BLOCKING | MOVABLE_KEYS, (0, 0, 0), X, "stream", super::stream_groups::xread,
        "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.",
        "[COUNT count] [BLOCK milliseconds] STREAMS key [key ...] id [id ...]", "5.0.0",
        "For each stream mentioned: O(M) with M being the number of elements returned. If M is constant (e.g. always asking for the first 10 elements with COUNT), you can consider it O(1). On the other side when XREAD blocks, XADD will pay the O(N) time in order to serve the N clients blocked on the stream getting new data."),
];

pub(super) const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
const NOT_GREATER: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";
/// The node limits in force (`stream-node-max-*`).
fn node_limits(ctx: &Ctx) -> NodeLimits {
    let h = &ctx.srv.config.hot;
    NodeLimits {
        entries: h.stream_node_max_entries.load(Ordering::Relaxed),
        bytes: h.stream_node_max_bytes.load(Ordering::Relaxed),
    }
}

pub(super) fn err(s: &'static str) -> CmdError {
    s.into()
}

pub(super) fn strict_id(b: &[u8]) -> CmdResult<StreamId> {
    StreamId::parse(b, 0).ok_or_else(|| err(INVALID_ID))
}

pub(super) fn int(b: &[u8]) -> CmdResult<i64> {
    parse_i64(b).ok_or_else(|| err(error::NOT_INTEGER))
}

/// The stream at `key`: `Ok(None)` if missing, WRONGTYPE for other types.
pub(super) fn read<'l>(l: &'l mut Locked, key: &[u8]) -> CmdResult<Option<&'l mut Stream>> {
    match l.get(key) {
        None => Ok(None),
        Some(Value::Stream(s, _)) => Ok(Some(s)),
        Some(_) => Err(error::WRONGTYPE.into()),
    }
}

pub(super) fn write_entry(out: &mut Out, id: StreamId, packed: &[u8]) {
    out.array(2);
    out.bulk(&id.to_bytes());
    out.array(unpack(packed).count());
    for s in unpack(packed) {
        out.bulk(s);
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Strategy {
    None,
    MaxLen(u64),
    MinId(StreamId),
}

/// Trim options shared by XADD and XTRIM.
struct Trim {
    strategy: Strategy,
    approx: bool,
    limit: Option<u64>,
}

impl Trim {
    /// Parses one trim option at `a[*i]` if it is one; `Ok(false)` if it is not.
    fn parse_opt(&mut self, a: &Args, i: &mut usize) -> CmdResult<bool> {
        let opt = a.get(*i);
        let more = a.len() - 1 - *i;
        let maxlen = is(opt, "MAXLEN");
        if (maxlen || is(opt, "MINID")) && more > 0 {
            if self.strategy != Strategy::None {
                return Err(err(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            let next = a.get(*i + 1);
            if more >= 2 && (next == b"~" || next == b"=") {
                self.approx = next == b"~";
                *i += 1;
            }
            *i += 1;
            let v = a.get(*i);
            self.strategy = if maxlen {
                let n = int(v)?;
                if n < 0 {
                    return Err(err("ERR The MAXLEN argument must be >= 0."));
                }
                Strategy::MaxLen(n as u64)
            } else {
                Strategy::MinId(strict_id(v)?)
            };
            Ok(true)
        } else if is(opt, "LIMIT") && more > 0 {
            *i += 1;
            let n = int(a.get(*i))?;
            if n < 0 {
                return Err(err("ERR The LIMIT argument must be >= 0."));
            }
            self.limit = Some(n as u64);
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn check(&self) -> CmdResult<()> {
        if self.limit.is_some() && self.strategy == Strategy::None {
            return Err(err(
                "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
            ));
        }
        if self.limit.is_some() && !self.approx {
            return Err(err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
        Ok(())
    }

    /// Trims `s` by Redis's node rules (`Stream::trim`); returns how many entries were removed.
    /// Without LIMIT, `~` does at most 100 nodes' worth of work, as Redis bounds it.
    fn apply(&self, s: &mut Stream, nodes: NodeLimits) -> usize {
        let (maxlen, minid) = match self.strategy {
            Strategy::None => return 0,
            Strategy::MaxLen(n) => (Some(usize::try_from(n).unwrap_or(usize::MAX)), None),
            Strategy::MinId(id) => (None, Some(id)),
        };
        let limit = match self.limit {
            Some(l) => usize::try_from(l).unwrap_or(usize::MAX),
            None if self.approx => match 100 * nodes.entries.min(1 << 40) {
                0 => 10_000,
                n => n.min(1_000_000) as usize,
            },
            None => 0,
        };
        s.trim(TrimSpec {
            maxlen,
            minid,
            approx: self.approx,
            limit,
        })
    }
}

/// Records the exact form of a trim that removed entries.
fn record_trim(l: &mut Locked, key: &[u8], s_first: Option<StreamId>) {
    match s_first {
        Some(id) => {
            let id = id.to_bytes();
            l.record(
                key,
                "xtrim",
                ChangeKind::Modify,
                ValueType::Stream,
                &[b"XTRIM", key, b"MINID", b"=", &id],
            );
        }
        None => l.record(
            key,
            "xtrim",
            ChangeKind::Modify,
            ValueType::Stream,
            &[b"XTRIM", key, b"MAXLEN", b"=", b"0"],
        ),
    }
}

fn first_if_any(s: &Stream) -> Option<StreamId> {
    (s.len_entries() > 0).then(|| s.first_id())
}

fn xadd(ctx: &mut Ctx, a: Args) -> CmdResult {
    let nodes = node_limits(ctx);
    let key = a.get(1);
    let mut trim = Trim {
        strategy: Strategy::None,
        approx: false,
        limit: None,
    };
    let mut nomk = false;
    // The ID: None for `*`, Some((id, seq_given)).
    let mut id_arg: Option<(StreamId, bool)> = None;
    let mut i = 2;
    while i < a.len() {
        let opt = a.get(i);
        if opt == b"*" {
            break;
        } else if trim.parse_opt(&a, &mut i)? {
        } else if is(opt, "NOMKSTREAM") {
            nomk = true;
        } else {
            let text = crate::keyspace::stream::id_text(opt).unwrap_or(opt);
            let parsed = match text.strip_suffix(b"-*") {
                Some(ms) if !ms.contains(&b'-') => StreamId::parse(ms, 0).map(|id| (id, false)),
                _ => StreamId::parse(opt, 0).map(|id| (id, true)),
            };
            id_arg = Some(parsed.ok_or_else(|| err(INVALID_ID))?);
            break;
        }
        i += 1;
    }
    let fields = a.len().saturating_sub(i + 1);
    if fields < 2 || fields % 2 == 1 {
        return Err(error::wrong_arity("xadd"));
    }
    trim.check()?;
    if let Some((id, true)) = id_arg {
        if id == StreamId::MIN {
            return Err(err("ERR The ID specified in XADD must be greater than 0-0"));
        }
    }
    let mut l = ctx.lock1(key);
    let existed = match l.peek(key) {
        None if nomk => {
            drop(l);
            ctx.out.null();
            return Ok(());
        }
        None => false,
        Some(Value::Stream(..)) => true,
        Some(_) => return Err(error::WRONGTYPE.into()),
    };
    // Validate the ID before creating anything.
    let last = match l.peek(key) {
        Some(Value::Stream(s, _)) => s.last_id,
        _ => StreamId::MIN,
    };
    if last == StreamId::MAX {
        return Err(err(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let id = match id_arg {
        None => {
            let now = ctx.now;
            if now > last.ms {
                StreamId::new(now, 0)
            } else {
                last.incr().ok_or_else(|| err(NOT_GREATER))?
            }
        }
        Some((id, true)) => {
            if id <= last {
                return Err(err(NOT_GREATER));
            }
            id
        }
        Some((id, false)) => {
            if id.ms < last.ms {
                return Err(err(NOT_GREATER));
            } else if id.ms == last.ms {
                if last.seq == u64::MAX {
                    return Err(err(NOT_GREATER));
                }
                StreamId::new(id.ms, last.seq + 1)
            } else {
                StreamId::new(id.ms, 0)
            }
        }
    };
    if existed {
        l.capture_old(key);
    } else {
        l.put(key, Value::Stream(Box::default(), Meta::now()), false);
    }
    let Some(Value::Stream(s, _)) = l.peek(key) else {
        return Err(error::WRONGTYPE.into());
    };
    s.append(id, pack(a.iter().skip(i + 1)), nodes);
    let removed = trim.apply(s, nodes);
    // The first ID is a walk down the entry tree: only a trim records it.
    let first = if removed > 0 { first_if_any(s) } else { None };
    let idb = id.to_bytes();
    let mut rec: Vec<&[u8]> = Vec::with_capacity(a.len());
    rec.extend_from_slice(&[b"XADD", key, &idb]);
    rec.extend(a.iter().skip(i + 1));
    l.record(
        key,
        "xadd",
        ChangeKind::upsert(existed),
        ValueType::Stream,
        &rec,
    );
    if removed > 0 {
        record_trim(&mut l, key, first);
    }
    // Blocked XREAD/XREADGROUP clients are served when `l` is dropped.
    let db = l.db;
    l.signal_ready(db, key);
    drop(l);
    ctx.out.bulk(&idb);
    Ok(())
}

fn xlen(ctx: &mut Ctx, a: Args) -> CmdResult {
    if feed_stream::is_feed(a.get(1)) {
        return feed_stream::xlen(ctx);
    }
    let mut l = ctx.lock1(a.get(1));
    let n = read(&mut l, a.get(1))?.map_or(0, |s| s.len_entries());
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

/// An XRANGE bound: `-`, `+`, `(id` or an ID, incomplete IDs completed by `missing_seq`.
fn interval_id(b: &[u8], missing_seq: u64) -> CmdResult<(StreamId, bool)> {
    if b.len() > 1 && b[0] == b'(' {
        return Ok((
            StreamId::parse(&b[1..], missing_seq).ok_or_else(|| err(INVALID_ID))?,
            true,
        ));
    }
    match crate::keyspace::stream::id_text(b).unwrap_or(b) {
        b"-" => Ok((StreamId::MIN, false)),
        b"+" => Ok((StreamId::MAX, false)),
        _ => Ok((
            StreamId::parse(b, missing_seq).ok_or_else(|| err(INVALID_ID))?,
            false,
        )),
    }
}

/// A range start: `-`, an ID (missing sequence 0), or `(id` (exclusive).
pub(super) fn interval_start(b: &[u8]) -> CmdResult<StreamId> {
    match interval_id(b, 0)? {
        (id, false) => Ok(id),
        (id, true) => id
            .incr()
            .ok_or_else(|| err("ERR invalid start ID for the interval")),
    }
}

/// A range end: `+`, an ID (missing sequence the maximum), or `(id` (exclusive).
pub(super) fn interval_end(b: &[u8]) -> CmdResult<StreamId> {
    match interval_id(b, u64::MAX)? {
        (id, false) => Ok(id),
        (id, true) => id
            .decr()
            .ok_or_else(|| err("ERR invalid end ID for the interval")),
    }
}

fn range(ctx: &mut Ctx, a: Args, rev: bool) -> CmdResult {
    let (sa, ea) = if rev {
        (a.get(3), a.get(2))
    } else {
        (a.get(2), a.get(3))
    };
    let start = interval_start(sa)?;
    let end = interval_end(ea)?;
    let mut count: Option<usize> = None;
    let mut j = 4;
    while j < a.len() {
        if is(a.get(j), "COUNT") && j + 1 < a.len() {
            count = Some(int(a.get(j + 1))?.max(0) as usize);
            j += 2;
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    if feed_stream::is_feed(a.get(1)) {
        return feed_stream::range(ctx, start, end, count, rev);
    }
    let mut l = ctx.lock1(a.get(1));
    let Some(s) = read(&mut l, a.get(1))? else {
        drop(l);
        ctx.out.array(0);
        return Ok(());
    };
    if count == Some(0) {
        drop(l);
        ctx.out.null_array();
        return Ok(());
    }
    let items: Vec<(StreamId, &[u8])> = s
        .range(start, end, rev)
        .take(count.unwrap_or(usize::MAX))
        .collect();
    ctx.out.array(items.len());
    for (id, p) in items {
        write_entry(ctx.out, id, p);
    }
    Ok(())
}

fn xrange(ctx: &mut Ctx, a: Args) -> CmdResult {
    range(ctx, a, false)
}

fn xrevrange(ctx: &mut Ctx, a: Args) -> CmdResult {
    range(ctx, a, true)
}

fn xdel(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let mut l = ctx.lock1(key);
    let mut removed: Vec<Vec<u8>> = Vec::new();
    // Redis looks the key up (a missing one deletes nothing) before it parses the IDs.
    if read(&mut l, key)?.is_some() {
        let ids = a
            .iter()
            .skip(2)
            .map(strict_id)
            .collect::<CmdResult<Vec<_>>>()?;
        l.capture_old(key);
        if let Some(s) = read(&mut l, key)? {
            removed = ids
                .into_iter()
                .filter(|&id| s.remove(id))
                .map(StreamId::to_bytes)
                .collect();
        }
        if !removed.is_empty() {
            let mut rec: Vec<&[u8]> = vec![b"XDEL", key];
            rec.extend(removed.iter().map(|v| &v[..]));
            l.record(key, "xdel", ChangeKind::Modify, ValueType::Stream, &rec);
        }
    }
    drop(l);
    ctx.out.int(removed.len() as i64);
    Ok(())
}

fn xtrim(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let nodes = node_limits(ctx);
    let mut trim = Trim {
        strategy: Strategy::None,
        approx: false,
        limit: None,
    };
    let mut i = 2;
    while i < a.len() {
        if !trim.parse_opt(&a, &mut i)? {
            return Err(error::SYNTAX.into());
        }
        i += 1;
    }
    trim.check()?;
    if trim.strategy == Strategy::None {
        return Err(error::SYNTAX.into());
    }
    let mut l = ctx.lock1(key);
    if matches!(l.peek(key), Some(Value::Stream(..))) {
        l.capture_old(key);
    }
    let Some(s) = read(&mut l, key)? else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    let removed = trim.apply(s, nodes);
    if removed > 0 {
        let first = first_if_any(s);
        record_trim(&mut l, key, first);
    }
    drop(l);
    ctx.out.int(removed as i64);
    Ok(())
}

fn xsetid(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let id = strict_id(a.get(2))?;
    let mut entries_added: Option<u64> = None;
    let mut max_deleted: Option<StreamId> = None;
    let mut i = 3;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if is(a.get(i), "ENTRIESADDED") && more > 0 {
            let n = int(a.get(i + 1))?;
            if n < 0 {
                return Err(err("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if is(a.get(i), "MAXDELETEDID") && more > 0 {
            let m = strict_id(a.get(i + 1))?;
            if id < m {
                return Err(err(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            max_deleted = Some(m);
        } else {
            return Err(error::SYNTAX.into());
        }
        i += 2;
    }
    let mut l = ctx.lock1(key);
    let s = match l.peek(key) {
        None => return Err(err(error::NO_SUCH_KEY)),
        Some(Value::Stream(s, _)) => s,
        Some(_) => return Err(error::WRONGTYPE.into()),
    };
    if s.len_entries() > 0 {
        if id < s.last_entry_id() {
            return Err(err(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
        if entries_added.is_some_and(|n| (s.len_entries() as u64) > n) {
            return Err(err(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    l.capture_old(key);
    let Some(Value::Stream(s, _)) = l.peek(key) else {
        return Err(error::WRONGTYPE.into());
    };
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if let Some(m) = max_deleted {
        s.max_deleted = m;
    }
    let mut rec: Vec<&[u8]> = vec![b"XSETID"];
    rec.extend(a.iter().skip(1));
    l.record(key, "xsetid", ChangeKind::Modify, ValueType::Stream, &rec);
    drop(l);
    ctx.out.ok();
    Ok(())
}
