//! Hashes: HSET and friends, counters, HSCAN, HRANDFIELD.
//!
//! Recorded effects (DESIGN.md, "Record what happened"):
//! * HSET/HMSET/HSETNX record `HSET key f v [f v ...]` (event `hset`), the pairs as given;
//! * HINCRBY/HINCRBYFLOAT record the resulting value as `HSET key f <value>` (events `hincrby`,
//!   `hincrbyfloat`), so a float increment replays bit-exactly;
//! * HDEL records `HDEL key <the fields it removed>` (event `hdel`).
//!
//! A hash that becomes empty is deleted; that is recorded as a second record, `DEL key` (event
//! `del`, change `remove`, type `none`), after the one of the command that emptied it — the same
//! pair of keyspace notifications Redis sends. Writes that change nothing record nothing.

use smallvec::SmallVec;

use super::args::{int, is, Cursor};
use super::{cmd, flag::*, CommandSpec, Ctx};
use crate::changes::ChangeKind;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::hash::{Hash, HashLimits};
use crate::keyspace::value::{Collection, Meta, Value, ValueType};
use crate::keyspace::Locked;
use crate::protocol::resp::Args;
use crate::util::glob::glob_match;
use crate::util::num::{parse_i64, LongDouble};

const H: &[&str] = &["hash"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("hset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), H, "hash", hset,
        "Creates or modifies the value of a field in a hash.", "key field value [field value ...]", "2.0.0",
        "O(1) for each field/value pair added, so O(N) to add N field/value pairs when the command is called with multiple field/value pairs."),
    cmd!("hsetnx", 4, WRITE | DENYOOM | FAST, (1, 1, 1), H, "hash", hsetnx,
        "Sets the value of a field in a hash only when the field doesn't exist.", "key field value", "2.0.0", "O(1)"),
    cmd!("hget", 3, READONLY | FAST, (1, 1, 1), H, "hash", hget,
        "Returns the value of a field in a hash.", "key field", "2.0.0", "O(1)"),
    cmd!("hmget", -3, READONLY | FAST, (1, 1, 1), H, "hash", hmget,
        "Returns the values of all fields in a hash.", "key field [field ...]", "2.0.0",
        "O(N) where N is the number of fields being requested."),
    cmd!("hmset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), H, "hash", hmset,
        "Sets the values of multiple fields.", "key field value [field value ...]", "2.0.0",
        "O(N) where N is the number of fields being set."),
    cmd!("hdel", -3, WRITE | FAST, (1, 1, 1), H, "hash", hdel,
        "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.",
        "key field [field ...]", "2.0.0", "O(N) where N is the number of fields to be removed."),
    cmd!("hlen", 2, READONLY | FAST, (1, 1, 1), H, "hash", hlen,
        "Returns the number of fields in a hash.", "key", "2.0.0", "O(1)"),
    cmd!("hstrlen", 3, READONLY | FAST, (1, 1, 1), H, "hash", hstrlen,
        "Returns the length of the value of a field.", "key field", "3.2.0", "O(1)"),
    cmd!("hexists", 3, READONLY | FAST, (1, 1, 1), H, "hash", hexists,
        "Determines whether a field exists in a hash.", "key field", "2.0.0", "O(1)"),
    cmd!("hkeys", 2, READONLY, (1, 1, 1), H, "hash", hkeys,
        "Returns all fields in a hash.", "key", "2.0.0", "O(N) where N is the size of the hash."),
    cmd!("hvals", 2, READONLY, (1, 1, 1), H, "hash", hvals,
        "Returns all values in a hash.", "key", "2.0.0", "O(N) where N is the size of the hash."),
    cmd!("hgetall", 2, READONLY, (1, 1, 1), H, "hash", hgetall,
        "Returns all fields and values in a hash.", "key", "2.0.0", "O(N) where N is the size of the hash."),
    cmd!("hincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), H, "hash", hincrby,
        "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.",
        "key field increment", "2.0.0", "O(1)"),
    cmd!("hincrbyfloat", 4, WRITE | DENYOOM | FAST, (1, 1, 1), H, "hash", hincrbyfloat,
        "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.",
        "key field increment", "2.6.0", "O(1)"),
    cmd!("hscan", -3, READONLY, (1, 1, 1), H, "hash", hscan,
        "Iterates over fields and values of a hash.", "key cursor [MATCH pattern] [COUNT count]", "2.8.0",
        "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection."),
    cmd!("hrandfield", -2, READONLY, (1, 1, 1), H, "hash", hrandfield,
        "Returns one or more random fields from a hash.", "key [count [WITHVALUES]]", "6.2.0",
        "O(N) where N is the number of fields returned"),
];

/// The compact-form thresholds currently configured.
fn limits(ctx: &Ctx) -> HashLimits {
    HashLimits::current(&ctx.srv.config.hot)
}

/// The hash at `key` for reading: `Ok(None)` if missing, WRONGTYPE for other types.
fn read<'l>(l: &'l mut Locked, key: &[u8]) -> CmdResult<Option<&'l mut Hash>> {
    match l.get(key) {
        None => Ok(None),
        Some(Value::Hash(h, _)) => Ok(Some(h)),
        Some(_) => Err(error::WRONGTYPE.into()),
    }
}

/// The hash at `key` for writing, created empty if missing. Returns whether it existed.
fn write<'l>(l: &'l mut Locked, key: &[u8]) -> CmdResult<(&'l mut Hash, bool)> {
    let existed = match l.peek(key) {
        None => false,
        Some(Value::Hash(..)) => true,
        Some(_) => return Err(error::WRONGTYPE.into()),
    };
    if existed {
        // The change record carries the hash as it was (when images are on).
        l.capture_old(key);
    } else {
        l.put(key, Value::Hash(Box::default(), Meta::now()), false);
    }
    match l.peek(key) {
        Some(Value::Hash(h, _)) => Ok((h, existed)),
        _ => Err(error::WRONGTYPE.into()),
    }
}

/// Sets the pairs of `a` from index 2; returns how many fields were new.
fn set_pairs(ctx: &mut Ctx, a: &Args) -> CmdResult<usize> {
    let key = a.get(1);
    let lim = limits(ctx);
    let mut l = ctx.lock1(key);
    let (h, existed) = write(&mut l, key)?;
    let mut added = 0;
    let mut i = 2;
    while i + 1 < a.len() {
        added += h.set(a.get(i), a.get(i + 1), lim) as usize;
        i += 2;
    }
    let mut rec: SmallVec<[&[u8]; 8]> = SmallVec::with_capacity(a.len());
    rec.push(b"HSET");
    rec.extend(a.iter().skip(1));
    l.record(
        key,
        "hset",
        ChangeKind::upsert(existed),
        ValueType::Hash,
        &rec,
    );
    Ok(added)
}

fn hset(ctx: &mut Ctx, a: Args) -> CmdResult {
    if !a.len().is_multiple_of(2) {
        return Err(error::wrong_arity("hset"));
    }
    let n = set_pairs(ctx, &a)?;
    ctx.out.int(n as i64);
    Ok(())
}

fn hmset(ctx: &mut Ctx, a: Args) -> CmdResult {
    if !a.len().is_multiple_of(2) {
        return Err(error::wrong_arity("hmset"));
    }
    set_pairs(ctx, &a)?;
    ctx.out.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, f, v) = (a.get(1), a.get(2), a.get(3));
    let lim = limits(ctx);
    let mut l = ctx.lock1(key);
    if read(&mut l, key)?.is_some_and(|h| h.contains(f)) {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    }
    let (h, existed) = write(&mut l, key)?;
    h.set(f, v, lim);
    l.record(
        key,
        "hset",
        ChangeKind::upsert(existed),
        ValueType::Hash,
        &[b"HSET", key, f, v],
    );
    drop(l);
    ctx.out.int(1);
    Ok(())
}

fn hget(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    match read(&mut l, a.get(1))?.and_then(|h| h.get(a.get(2))) {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let h = read(&mut l, a.get(1))?;
    ctx.out.array(a.len() - 2);
    for f in a.iter().skip(2) {
        match h.as_ref().and_then(|h| h.get(f)) {
            Some(v) => ctx.out.bulk(v),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn hdel(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let mut l = ctx.lock1(key);
    if matches!(l.peek(key), Some(Value::Hash(..))) {
        l.capture_old(key);
    }
    let Some(h) = read(&mut l, key)? else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    let mut removed: SmallVec<[&[u8]; 8]> = SmallVec::new();
    removed.push(b"HDEL");
    removed.push(key);
    for f in a.iter().skip(2) {
        if h.remove(f) {
            removed.push(f);
        }
    }
    let n = removed.len() - 2;
    if n > 0 {
        l.record(key, "hdel", ChangeKind::Modify, ValueType::Hash, &removed);
        l.delete_if_empty(key);
    }
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn hlen(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let n = read(&mut l, a.get(1))?.map_or(0, |h| h.len());
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let n = read(&mut l, a.get(1))?
        .and_then(|h| h.get(a.get(2)).map(|v| v.len()))
        .unwrap_or(0);
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let yes = read(&mut l, a.get(1))?.is_some_and(|h| h.contains(a.get(2)));
    drop(l);
    ctx.out.int(yes as i64);
    Ok(())
}

/// HKEYS / HVALS / HGETALL.
fn getall(ctx: &mut Ctx, a: Args, keys: bool, vals: bool) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let h = read(&mut l, a.get(1))?;
    let n = h.as_ref().map_or(0, |h| h.len());
    if keys && vals {
        ctx.out.map(n);
    } else {
        ctx.out.array(n);
    }
    if let Some(h) = h {
        for (k, v) in h.iter() {
            if keys {
                ctx.out.bulk(k);
            }
            if vals {
                ctx.out.bulk(v);
            }
        }
    }
    Ok(())
}

fn hkeys(ctx: &mut Ctx, a: Args) -> CmdResult {
    getall(ctx, a, true, false)
}

fn hvals(ctx: &mut Ctx, a: Args) -> CmdResult {
    getall(ctx, a, false, true)
}

fn hgetall(ctx: &mut Ctx, a: Args) -> CmdResult {
    getall(ctx, a, true, true)
}

fn hincrby(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, f) = (a.get(1), a.get(2));
    let delta = int(a.get(3))?;
    let lim = limits(ctx);
    let mut l = ctx.lock1(key);
    let cur = match read(&mut l, key)?.and_then(|h| h.get(f)) {
        Some(v) => parse_i64(v).ok_or(CmdError::from(error::HASH_NOT_INTEGER))?,
        None => 0,
    };
    let new = cur
        .checked_add(delta)
        .ok_or(CmdError::from(error::INCR_OVERFLOW))?;
    let mut b = itoa::Buffer::new();
    let text = b.format(new).as_bytes();
    let (hash, existed) = write(&mut l, key)?;
    hash.set(f, text, lim);
    l.record(
        key,
        "hincrby",
        ChangeKind::upsert(existed),
        ValueType::Hash,
        &[b"HSET", key, f, text],
    );
    drop(l);
    ctx.out.int(new);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, f) = (a.get(1), a.get(2));
    let delta = LongDouble::parse(a.get(3)).ok_or(CmdError::from(error::NOT_FLOAT))?;
    if !delta.is_finite() {
        return Err(error::NAN_OR_INFINITY.into());
    }
    let lim = limits(ctx);
    let mut l = ctx.lock1(key);
    let cur = match read(&mut l, key)?.and_then(|h| h.get(f)) {
        Some(v) => LongDouble::parse(v).ok_or(CmdError::from(error::HASH_NOT_FLOAT))?,
        None => LongDouble::ZERO,
    };
    let text = cur.add_text(&delta).ok_or(error::INCR_NAN)?;
    let (hash, existed) = write(&mut l, key)?;
    hash.set(f, &text, lim);
    l.record(
        key,
        "hincrbyfloat",
        ChangeKind::upsert(existed),
        ValueType::Hash,
        &[b"HSET", key, f, &text],
    );
    drop(l);
    ctx.out.bulk(&text);
    Ok(())
}

/// A SCAN-family cursor (`ERR invalid cursor` unless an unsigned decimal).
/// Like C's `strtoul`, a sign is accepted and a negative value wraps.
pub(super) fn parse_cursor(raw: &[u8]) -> CmdResult<u64> {
    let (neg, digits) = match raw.first() {
        Some(b'-') => (true, &raw[1..]),
        Some(b'+') => (false, &raw[1..]),
        _ => (false, raw),
    };
    let v: u64 = std::str::from_utf8(digits)
        .ok()
        .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| CmdError::from(error::INVALID_CURSOR))?;
    Ok(if neg { v.wrapping_neg() } else { v })
}

/// HSCAN/SSCAN/ZSCAN options after the cursor: (MATCH pattern, COUNT).
pub(super) fn scan_options<'a>(a: &Args<'a>, from: usize) -> CmdResult<(Option<&'a [u8]>, usize)> {
    let mut pat: Option<&[u8]> = None;
    let mut count = 10usize;
    let mut c = Cursor::new(a.from(0), from);
    while let Some(opt) = c.next_arg() {
        if is(opt, "MATCH") && c.has_more() {
            pat = Some(c.value()?);
        } else if is(opt, "COUNT") && c.has_more() {
            let n = c.i64()?;
            if n < 1 {
                return Err(error::SYNTAX.into());
            }
            count = n as usize;
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    Ok((pat.filter(|p| *p != b"*"), count))
}

/// Writes a scan reply: the cursor and a flat array of `items`.
pub(super) fn scan_reply(ctx: &mut Ctx, cursor: u64, items: &[&[u8]]) {
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(cursor).as_bytes());
    ctx.out.array(items.len());
    for i in items {
        ctx.out.bulk(i);
    }
}

fn hscan(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let cursor = parse_cursor(a.get(2))?;
    let mut l = ctx.lock1(key);
    let Some(h) = read(&mut l, key)? else {
        drop(l);
        scan_reply(ctx, 0, &[]);
        return Ok(());
    };
    let (pat, count) = scan_options(&a, 3)?;
    let mut items: Vec<&[u8]> = Vec::new();
    let next = h.scan(cursor, count, |k, v| {
        if pat.is_none_or(|p| glob_match(p, k, false)) {
            items.push(k);
            items.push(v);
        }
    });
    scan_reply(ctx, next, &items);
    Ok(())
}

/// Largest |count| a random-member command answers in one reply: the reply is built in memory,
/// so a client must not be able to ask for an unbounded one.
pub(super) const MAX_RANDOM_COUNT: u64 = 1 << 24;

/// Parses a HRANDFIELD/SRANDMEMBER count: (|count|, distinct). Redis's own range check comes
/// first; a negative count past [`MAX_RANDOM_COUNT`] is refused (Redis would try to build it).
pub(super) fn random_count(raw: &[u8], withvalues: bool) -> CmdResult<(usize, bool)> {
    let n = int(raw)?;
    if n == i64::MIN {
        return Err(error::LONG_RANGE.into());
    }
    if withvalues && n < -(i64::MAX / 2) {
        return Err(error::VALUE_RANGE.into());
    }
    let abs = n.unsigned_abs();
    if n < 0 && abs > MAX_RANDOM_COUNT {
        return Err(error::RANDOM_COUNT_TOO_LARGE.into());
    }
    Ok((abs as usize, n >= 0))
}

fn hrandfield(ctx: &mut Ctx, a: Args) -> CmdResult {
    use rand::Rng;
    let key = a.get(1);
    let with_count = a.len() >= 3;
    let mut count = (1, true);
    let mut withvalues = false;
    if with_count {
        match a.len() {
            3 => {}
            4 if is(a.get(3), "WITHVALUES") => withvalues = true,
            _ => return Err(error::SYNTAX.into()),
        }
        count = random_count(a.get(2), withvalues)?;
    }
    let mut l = ctx.lock1(key);
    let Some(h) = read(&mut l, key)? else {
        drop(l);
        if with_count {
            ctx.out.array(0);
        } else {
            ctx.out.null();
        }
        return Ok(());
    };
    let mut rng = rand::rng();
    // The compact form is indexed once; the table form is indexable as it is.
    let packed: Vec<(&[u8], &[u8])> = if h.is_table() {
        Vec::new()
    } else {
        h.iter().collect()
    };
    let len = h.len();
    let at = |i: usize| -> (&[u8], &[u8]) {
        if h.is_table() {
            h.table_pair(i).unwrap_or((b"", b""))
        } else {
            packed.get(i).copied().unwrap_or((b"", b""))
        }
    };
    if !with_count {
        let (k, _) = at(rng.random_range(0..len));
        ctx.out.bulk(k);
        return Ok(());
    }
    let (n, distinct) = count;
    let picks: Vec<usize> = if !distinct {
        (0..n).map(|_| rng.random_range(0..len)).collect()
    } else if n >= len {
        (0..len).collect()
    } else {
        rand::seq::index::sample(&mut rng, len, n).into_vec()
    };
    let out = &mut *ctx.out;
    if withvalues && out.resp3 {
        out.array(picks.len());
        for i in picks {
            let (k, v) = at(i);
            out.array(2);
            out.bulk(k);
            out.bulk(v);
        }
    } else {
        out.array(picks.len() * if withvalues { 2 } else { 1 });
        for i in picks {
            let (k, v) = at(i);
            out.bulk(k);
            if withvalues {
                out.bulk(v);
            }
        }
    }
    Ok(())
}
