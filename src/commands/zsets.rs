//! Sorted sets: ZADD and friends, ranks and ranges by rank, score and lex, pops (blocking ones
//! included), set algebra (ZUNION/ZINTER/ZDIFF and their STORE forms), random members and ZSCAN.
//!
//! Scores are parsed as Redis does: member scores, increments and weights strictly (`inf`,
//! `-inf` allowed, `nan` refused with `ERR value is not a valid float`); range bounds like
//! `strtod` (an optional `(` for an exclusive bound). Scores are replied as doubles: `%.17g`
//! bulk strings in RESP2, RESP3 doubles (`Out::double`); ZSCAN sends them as bulk strings in
//! both, as Redis 7.0 does.
//!
//! ## Recorded effects
//! * ZADD records `ZADD key <score> <member> ...` with the pairs it added or changed, scores as
//!   given (they parse back to the same double); event `zadd`.
//! * ZADD INCR and ZINCRBY record the resulting score, `ZADD key <score> <member>`; event `zincr`.
//! * ZREM records `ZREM key <members removed>`; event `zrem`.
//! * ZPOPMIN/ZPOPMAX/ZMPOP and the blocking BZPOPMIN/BZPOPMAX/BZMPOP record `ZPOPMIN|ZPOPMAX
//!   key <n popped>`: popping the n lowest or highest is deterministic given the set; event
//!   `zpopmin`/`zpopmax`. A blocked pop served by a later write is recorded by that write's step
//!   (`keyspace::blocking`), attributed to the blocked client; the block itself records nothing.
//! * ZREMRANGEBYSCORE/BYLEX record themselves as given; ZREMRANGEBYRANK records the absolute
//!   ranks it removed (`ZREMRANGEBYRANK key <first> <last>`); events `zremrangeby*`.
//! * ZRANGESTORE/ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE record the result itself, so a consumer of
//!   the destination key needs nothing else: `ZADD dst <score> <member> ...` for every member
//!   (scores `%.17g`, which round-trips exactly), event `zrangestore`/`zunionstore`/...,
//!   preceded by `DEL dst` (event `del`) when the destination existed, so replaying gives the
//!   stored set and not a merge.
//! * A sorted set left empty is deleted: after the command's own record comes `DEL key`
//!   (event `del`, change `remove`), as Redis notifies `zrem` then `del`.
//!
//! Writes that change nothing record nothing.

use smallvec::SmallVec;

use super::args::{count, float, int, is, non_negative};
use super::{cmd, flag::*, CommandSpec, Ctx};
use crate::changes::ChangeKind;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::blocking::Op as WaitOp;
use crate::keyspace::set::Set;
use crate::keyspace::value::{Collection, Meta, Str, Value, ValueType};
use crate::keyspace::zset::{cmp_entry, ZLimits, ZSet};
use crate::keyspace::{Locked, Shard};
use crate::protocol::resp::{Args, Out};
use crate::util::glob::glob_match;
use crate::util::num::{fmt_double, parse_f64};

const Z: &[&str] = &["sortedset"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), Z, "sorted_set", zadd,
        "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.",
        "key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]",
        "1.2.0", "O(log(N)) for each item added, where N is the number of elements in the sorted set."),
    cmd!("zincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), Z, "sorted_set", zincrby,
        "Increments the score of a member in a sorted set.", "key increment member",
        "1.2.0", "O(log(N)) where N is the number of elements in the sorted set."),
    cmd!("zrem", -3, WRITE | FAST, (1, 1, 1), Z, "sorted_set", zrem,
        "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.",
        "key member [member ...]", "1.2.0",
        "O(M*log(N)) with N being the number of elements in the sorted set and M the number of elements to be removed."),
    cmd!("zcard", 2, READONLY | FAST, (1, 1, 1), Z, "sorted_set", zcard,
        "Returns the number of members in a sorted set.", "key", "1.2.0", "O(1)"),
    cmd!("zscore", 3, READONLY | FAST, (1, 1, 1), Z, "sorted_set", zscore,
        "Returns the score of a member in a sorted set.", "key member", "1.2.0", "O(1)"),
    cmd!("zmscore", -3, READONLY | FAST, (1, 1, 1), Z, "sorted_set", zmscore,
        "Returns the score of one or more members in a sorted set.", "key member [member ...]",
        "6.2.0", "O(N) where N is the number of members being requested."),
    cmd!("zrank", -3, READONLY | FAST, (1, 1, 1), Z, "sorted_set", zrank,
        "Returns the index of a member in a sorted set ordered by ascending scores.",
        "key member [WITHSCORE]", "2.0.0", "O(log(N))"),
    cmd!("zrevrank", -3, READONLY | FAST, (1, 1, 1), Z, "sorted_set", zrevrank,
        "Returns the index of a member in a sorted set ordered by descending scores.",
        "key member [WITHSCORE]", "2.0.0", "O(log(N))"),
    cmd!("zrange", -4, READONLY, (1, 1, 1), Z, "sorted_set", zrange,
        "Returns members in a sorted set within a range of indexes.",
        "key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]", "1.2.0",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."),
    cmd!("zrangestore", -5, WRITE | DENYOOM, (1, 2, 1), Z, "sorted_set", zrangestore,
        "Stores a range of members from sorted set in a key.",
        "dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]", "6.2.0",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements stored into the destination key."),
    cmd!("zrevrange", -4, READONLY, (1, 1, 1), Z, "sorted_set", zrevrange,
        "Returns members in a sorted set within a range of indexes in reverse order.",
        "key start stop [WITHSCORES]", "1.2.0",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements returned."),
    cmd!("zrangebyscore", -4, READONLY, (1, 1, 1), Z, "sorted_set", zrangebyscore,
        "Returns members in a sorted set within a range of scores.",
        "key min max [WITHSCORES] [LIMIT offset count]", "1.0.5",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned."),
    cmd!("zrevrangebyscore", -4, READONLY, (1, 1, 1), Z, "sorted_set", zrevrangebyscore,
        "Returns members in a sorted set within a range of scores in reverse order.",
        "key max min [WITHSCORES] [LIMIT offset count]", "2.2.0",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned."),
    cmd!("zrangebylex", -4, READONLY, (1, 1, 1), Z, "sorted_set", zrangebylex,
        "Returns members in a sorted set within a lexicographical range.",
        "key min max [LIMIT offset count]", "2.8.9",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned."),
    cmd!("zrevrangebylex", -4, READONLY, (1, 1, 1), Z, "sorted_set", zrevrangebylex,
        "Returns members in a sorted set within a lexicographical range in reverse order.",
        "key max min [LIMIT offset count]", "2.8.9",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements being returned."),
    cmd!("zcount", 4, READONLY | FAST, (1, 1, 1), Z, "sorted_set", zcount,
        "Returns the count of members in a sorted set that have scores within a range.",
        "key min max", "2.0.0", "O(log(N)) with N being the number of elements in the sorted set."),
    cmd!("zlexcount", 4, READONLY | FAST, (1, 1, 1), Z, "sorted_set", zlexcount,
        "Returns the number of members in a sorted set within a lexicographical range.",
        "key min max", "2.8.9", "O(log(N)) with N being the number of elements in the sorted set."),
    cmd!("zpopmin", -2, WRITE | FAST, (1, 1, 1), Z, "sorted_set", zpopmin,
        "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        "key [count]", "5.0.0",
        "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."),
    cmd!("zpopmax", -2, WRITE | FAST, (1, 1, 1), Z, "sorted_set", zpopmax,
        "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.",
        "key [count]", "5.0.0",
        "O(log(N)*M) with N being the number of elements in the sorted set, and M being the number of elements popped."),
    cmd!("zmpop", -4, WRITE | MOVABLE_KEYS, (0, 0, 0), Z, "sorted_set", zmpop,
        "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.",
        "numkeys key [key ...] <MIN | MAX> [COUNT count]", "7.0.0",
        "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped."),
    cmd!("zremrangebyrank", 4, WRITE, (1, 1, 1), Z, "sorted_set", zremrangebyrank,
        "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.",
        "key start stop", "2.0.0",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."),
    cmd!("zremrangebyscore", 4, WRITE, (1, 1, 1), Z, "sorted_set", zremrangebyscore,
        "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.",
        "key min max", "1.2.0",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."),
    cmd!("zremrangebylex", 4, WRITE, (1, 1, 1), Z, "sorted_set", zremrangebylex,
        "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.",
        "key min max", "2.8.9",
        "O(log(N)+M) with N being the number of elements in the sorted set and M the number of elements removed by the operation."),
    cmd!("zunion", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), Z, "sorted_set", zunion,
        "Returns the union of multiple sorted sets.",
        "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]",
        "6.2.0", "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."),
    cmd!("zunionstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, (1, 1, 1), Z, "sorted_set", zunionstore,
        "Stores the union of multiple sorted sets in a key.",
        "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]",
        "2.0.0", "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and M being the number of elements in the resulting sorted set."),
    cmd!("zinter", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), Z, "sorted_set", zinter,
        "Returns the intersect of multiple sorted sets.",
        "numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>] [WITHSCORES]",
        "6.2.0", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."),
    cmd!("zinterstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, (1, 1, 1), Z, "sorted_set", zinterstore,
        "Stores the intersect of multiple sorted sets in a key.",
        "destination numkeys key [key ...] [WEIGHTS weight [weight ...]] [AGGREGATE <SUM | MIN | MAX>]",
        "2.0.0", "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K being the number of input sorted sets and M being the number of elements in the resulting sorted set."),
    cmd!("zintercard", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), Z, "sorted_set", zintercard,
        "Returns the number of members of the intersect of multiple sorted sets.",
        "numkeys key [key ...] [LIMIT limit]", "7.0.0",
        "O(N*K) worst case with N being the smallest input sorted set, K being the number of input sorted sets."),
    cmd!("zdiff", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), Z, "sorted_set", zdiff,
        "Returns the difference between multiple sorted sets.",
        "numkeys key [key ...] [WITHSCORES]", "6.2.0",
        "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."),
    cmd!("zdiffstore", -4, WRITE | DENYOOM | MOVABLE_KEYS, (1, 1, 1), Z, "sorted_set", zdiffstore,
        "Stores the difference of multiple sorted sets in a key.",
        "destination numkeys key [key ...]", "6.2.0",
        "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the sets, N is the size of the first set, and K is the size of the result set."),
    cmd!("bzpopmin", -3, WRITE | NOSCRIPT | FAST | BLOCKING, (1, -2, 1), Z, "sorted_set", bzpopmin,
        "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        "key [key ...] timeout", "5.0.0", "O(log(N)) with N being the number of elements in the sorted set."),
    cmd!("bzpopmax", -3, WRITE | NOSCRIPT | FAST | BLOCKING, (1, -2, 1), Z, "sorted_set", bzpopmax,
        "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.",
        "key [key ...] timeout", "5.0.0", "O(log(N)) with N being the number of elements in the sorted set."),
    cmd!("bzmpop", -5, WRITE | BLOCKING | MOVABLE_KEYS, (0, 0, 0), Z, "sorted_set", bzmpop,
        "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.",
        "timeout numkeys key [key ...] <MIN | MAX> [COUNT count]", "7.0.0",
        "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of elements in the sorted set, and M being the number of elements popped."),
    cmd!("zrandmember", -2, READONLY, (1, 1, 1), Z, "sorted_set", zrandmember,
        "Returns one or more random members from a sorted set.",
        "key [count [WITHSCORES]]", "6.2.0",
        "O(N) where N is the number of members returned"),
    cmd!("zscan", -3, READONLY, (1, 1, 1), Z, "sorted_set", zscan,
        "Iterates over members and scores of a sorted set.",
        "key cursor [MATCH pattern] [COUNT count]", "2.8.0",
        "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection."),
];

// ---------------------------------------------------------------------------------------------
// Helpers

pub(crate) fn limits(ctx: &Ctx) -> ZLimits {
    ZLimits::current(&ctx.srv.config.hot)
}

/// The sorted set at `key` (counting a hit or miss): `Ok(None)` if missing, WRONGTYPE for
/// other types.
pub(crate) fn zget<'l>(l: &'l mut Locked<'_>, key: &[u8]) -> CmdResult<Option<&'l mut ZSet>> {
    match l.get(key) {
        None => Ok(None),
        Some(Value::ZSet(z, _)) => Ok(Some(z)),
        Some(_) => Err(error::WRONGTYPE.into()),
    }
}

/// Like [`zget`] without touching statistics, for a second look within one command.
fn zpeek<'l>(l: &'l mut Locked<'_>, key: &[u8]) -> Option<&'l mut ZSet> {
    match l.peek(key) {
        Some(Value::ZSet(z, _)) => Some(z),
        _ => None,
    }
}

/// Header of `n` (member, score) pairs: RESP3 an array of `n` pairs (each opened by
/// [`pair`]), RESP2 a flat array of 2n (Redis 7's WITHSCORES shape); without scores, an array
/// of `n` members.
fn pairs_header(out: &mut Out, n: usize, withscores: bool) {
    if withscores && !out.resp3 {
        out.array(2 * n);
    } else {
        out.array(n);
    }
}

fn pair(out: &mut Out, member: &[u8], score: f64, withscores: bool) {
    if withscores {
        if out.resp3 {
            out.array(2);
        }
        out.bulk(member);
        out.double(score);
    } else {
        out.bulk(member);
    }
}

/// A score range bound: value and exclusivity.
#[derive(Clone, Copy, Debug)]
struct ScoreBound {
    v: f64,
    ex: bool,
}

/// Parses a bound the way Redis's `zslParseRange` does with `strtod`: an optional `(`, leading
/// blanks allowed, the empty string reads as 0, NaN refused.
fn score_bound(a: &[u8]) -> Option<ScoreBound> {
    let (ex, body) = match a.first() {
        Some(b'(') => (true, &a[1..]),
        _ => (false, a),
    };
    // Unlike most float arguments, a range bound may be out of range (it reads as ±inf or 0).
    let v = crate::util::num::strtod_c(body)?.v;
    if v.is_nan() {
        return None;
    }
    Some(ScoreBound { v, ex })
}

fn score_range(min: &[u8], max: &[u8]) -> CmdResult<(ScoreBound, ScoreBound)> {
    match (score_bound(min), score_bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(error::MINMAX_NOT_FLOAT.into()),
    }
}

/// A lex range bound (`-`, `+`, `[x`, `(x`).
#[derive(Clone, Copy, Debug)]
enum LexBound<'a> {
    Min,
    Max,
    Incl(&'a [u8]),
    Excl(&'a [u8]),
}

fn lex_bound(a: &[u8]) -> Option<LexBound<'_>> {
    match a {
        b"-" => Some(LexBound::Min),
        b"+" => Some(LexBound::Max),
        [b'[', rest @ ..] => Some(LexBound::Incl(rest)),
        [b'(', rest @ ..] => Some(LexBound::Excl(rest)),
        _ => None,
    }
}

fn lex_range<'a>(min: &'a [u8], max: &'a [u8]) -> CmdResult<(LexBound<'a>, LexBound<'a>)> {
    match (lex_bound(min), lex_bound(max)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(error::MINMAX_NOT_LEX.into()),
    }
}

/// What a range command selects.
#[derive(Clone, Copy, Debug)]
enum Sel<'a> {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound<'a>, LexBound<'a>),
}

/// Elements in the range, as ascending ranks `[lo, hi)`.
fn bounds_of(z: &ZSet, sel: &Sel) -> (usize, usize) {
    let (lo, hi) = match *sel {
        Sel::Rank(..) => (0, z.len()),
        Sel::Score(min, max) => (
            z.count_while(|s, _| if min.ex { s <= min.v } else { s < min.v }),
            z.count_while(|s, _| if max.ex { s < max.v } else { s <= max.v }),
        ),
        Sel::Lex(min, max) => (
            z.count_while(|_, m| match min {
                LexBound::Min => false,
                LexBound::Max => true,
                LexBound::Incl(x) => m < x,
                LexBound::Excl(x) => m <= x,
            }),
            z.count_while(|_, m| match max {
                LexBound::Min => false,
                LexBound::Max => true,
                LexBound::Incl(x) => m <= x,
                LexBound::Excl(x) => m < x,
            }),
        ),
    };
    (lo, hi.max(lo))
}

/// (first rank in the walking direction, count) of a selection with LIMIT offset/count
/// (Redis: a negative offset selects nothing, a negative count means all).
fn select(z: &ZSet, sel: &Sel, rev: bool, offset: i64, limit: i64) -> (usize, usize) {
    let len = z.len() as i64;
    if let Sel::Rank(start, end) = *sel {
        let mut s = if start < 0 {
            start.saturating_add(len)
        } else {
            start
        };
        let mut e = if end < 0 {
            end.saturating_add(len)
        } else {
            end
        };
        if s < 0 {
            s = 0;
        }
        if s > e || s >= len {
            return (0, 0);
        }
        if e >= len {
            e = len - 1;
        }
        return (s as usize, (e - s + 1) as usize);
    }
    let (lo, hi) = bounds_of(z, sel);
    let n = hi - lo;
    let first = if rev { z.len() - hi } else { lo };
    if offset < 0 || offset as u64 >= n as u64 {
        return (0, 0);
    }
    let off = offset as usize;
    let mut cnt = n - off;
    if limit >= 0 {
        cnt = cnt.min(limit as usize);
    }
    (first + off, cnt)
}

/// Replaces `dst` with the sorted pairs (or deletes it if there are none), recording the result
/// (see the module docs). Returns the stored cardinality.
pub(crate) fn store_result(
    l: &mut Locked,
    dst: &[u8],
    pairs: &[(Str, f64)],
    event: &str,
    lim: ZLimits,
) -> usize {
    if l.exists(dst) {
        l.remove(dst);
        l.record(
            dst,
            "del",
            ChangeKind::Remove,
            ValueType::None,
            &[b"DEL", dst],
        );
    }
    if pairs.is_empty() {
        return 0;
    }
    let z = ZSet::from_sorted(pairs, lim);
    l.put(dst, Value::ZSet(Box::new(z), Meta::now()), false);
    let db = l.db;
    l.signal_ready(db, dst);
    let scores: Vec<String> = pairs.iter().map(|p| fmt_double(p.1)).collect();
    let mut args: Vec<&[u8]> = Vec::with_capacity(2 + 2 * pairs.len());
    args.push(b"ZADD");
    args.push(dst);
    for ((m, _), s) in pairs.iter().zip(&scores) {
        args.push(s.as_bytes());
        args.push(m);
    }
    l.record(dst, event, ChangeKind::Insert, ValueType::ZSet, &args);
    pairs.len()
}

// ---------------------------------------------------------------------------------------------
// ZADD, ZINCRBY, ZREM

fn zadd(ctx: &mut Ctx, a: Args) -> CmdResult {
    zadd_generic(ctx, a, false)
}

fn zincrby(ctx: &mut Ctx, a: Args) -> CmdResult {
    zadd_generic(ctx, a, true)
}

pub(crate) fn zadd_generic(ctx: &mut Ctx, a: Args, zincrby: bool) -> CmdResult {
    let key = a.get(1);
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, zincrby);
    let mut i = 2;
    while i < a.len() {
        let o = a.get(i);
        if is(o, "NX") {
            nx = true;
        } else if is(o, "XX") {
            xx = true;
        } else if is(o, "CH") {
            ch = true;
        } else if is(o, "INCR") {
            incr = true;
        } else if is(o, "GT") {
            gt = true;
        } else if is(o, "LT") {
            lt = true;
        } else {
            break;
        }
        i += 1;
    }
    let elements = a.len() - i;
    if elements == 0 || elements % 2 == 1 {
        return Err(error::SYNTAX.into());
    }
    let npairs = elements / 2;
    if nx && xx {
        return Err(error::ZADD_NX_XX.into());
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(error::ZADD_GT_LT_NX.into());
    }
    if incr && npairs > 1 {
        return Err(error::ZADD_INCR_PAIR.into());
    }
    let mut scores: SmallVec<[f64; 8]> = SmallVec::with_capacity(npairs);
    for j in 0..npairs {
        scores.push(float(a.get(i + 2 * j))?);
    }
    let lim = limits(ctx);
    let mut l = ctx.lock1(key);
    let existed = match l.get(key) {
        None => false,
        Some(Value::ZSet(..)) => true,
        Some(_) => return Err(error::WRONGTYPE.into()),
    };
    if !existed {
        if xx {
            drop(l);
            if incr {
                ctx.out.null();
            } else {
                ctx.out.int(0);
            }
            return Ok(());
        }
        let max_len = (0..npairs)
            .map(|j| a.get(i + 2 * j + 1).len())
            .max()
            .unwrap_or(0);
        let z = ZSet::new(npairs, max_len, lim);
        l.put(key, Value::ZSet(Box::new(z), Meta::now()), false);
    }
    let Some(z) = zpeek(&mut l, key) else {
        return Err(error::WRONGTYPE.into());
    };
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last = 0.0;
    let mut changed: SmallVec<[usize; 8]> = SmallVec::new();
    let mut nan = false;
    for (j, &score) in scores.iter().enumerate() {
        let m = a.get(i + 2 * j + 1);
        let mut s = score;
        match z.locate(m) {
            Some((cur, at)) => {
                if nx {
                    continue;
                }
                if incr {
                    s += cur;
                    if s.is_nan() {
                        nan = true;
                        break;
                    }
                }
                if (lt && s >= cur) || (gt && s <= cur) {
                    continue;
                }
                processed += 1;
                last = s;
                if s != cur {
                    z.set_score_at(at, m, s);
                    updated += 1;
                    changed.push(j);
                }
            }
            None => {
                if xx {
                    continue;
                }
                z.add_new(m, s, lim);
                added += 1;
                processed += 1;
                last = s;
                changed.push(j);
            }
        }
    }
    let empty = z.is_empty();
    if !changed.is_empty() {
        let text;
        let mut args: SmallVec<[&[u8]; 8]> = SmallVec::new();
        args.push(b"ZADD");
        args.push(key);
        if incr {
            // The increment's result, so a replay does not depend on the prior score.
            text = fmt_double(last);
            args.push(text.as_bytes());
            args.push(a.get(i + 1));
        } else {
            for &j in &changed {
                args.push(a.get(i + 2 * j));
                args.push(a.get(i + 2 * j + 1));
            }
        }
        let event = if incr { "zincr" } else { "zadd" };
        let db = l.db;
        l.signal_ready(db, key);
        l.record(
            key,
            event,
            ChangeKind::upsert(existed),
            ValueType::ZSet,
            &args,
        );
    } else if !existed && empty {
        // Created for nothing (every pair was a no-op): leave no empty key behind.
        l.remove(key);
    }
    drop(l);
    if nan {
        return Err(error::SCORE_NAN.into());
    }
    if incr {
        if processed > 0 {
            ctx.out.double(last);
        } else {
            ctx.out.null();
        }
    } else {
        ctx.out.int(if ch { added + updated } else { added });
    }
    Ok(())
}

fn zrem(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let mut l = ctx.lock1(key);
    let Some(z) = zget(&mut l, key)? else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    let mut args: SmallVec<[&[u8]; 8]> = SmallVec::new();
    args.push(b"ZREM");
    args.push(key);
    for m in a.iter().skip(2) {
        if z.remove(m).is_some() {
            args.push(m);
        }
    }
    let removed = args.len() - 2;
    if removed > 0 {
        l.record(key, "zrem", ChangeKind::Modify, ValueType::ZSet, &args);
        l.delete_if_empty(key);
    }
    drop(l);
    ctx.out.int(removed as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Point reads

fn zcard(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let n = zget(&mut l, a.get(1))?.map_or(0, |z| z.len());
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let s = zget(&mut l, a.get(1))?.and_then(|z| z.score(a.get(2)));
    drop(l);
    match s {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let z = zget(&mut l, a.get(1))?;
    ctx.out.array(a.len() - 2);
    for m in a.iter().skip(2) {
        match z.as_ref().and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx, a: Args) -> CmdResult {
    zrank_generic(ctx, a, false)
}

fn zrevrank(ctx: &mut Ctx, a: Args) -> CmdResult {
    zrank_generic(ctx, a, true)
}

fn zrank_generic(ctx: &mut Ctx, a: Args, rev: bool) -> CmdResult {
    if a.len() > 4 {
        return Err(error::SYNTAX.into());
    }
    let withscore = a.len() == 4;
    if withscore && !is(a.get(3), "WITHSCORE") {
        return Err(error::SYNTAX.into());
    }
    let mut l = ctx.lock1(a.get(1));
    let found = zget(&mut l, a.get(1))?.and_then(|z| {
        let len = z.len();
        z.rank(a.get(2))
            .map(|(r, s)| (if rev { len - 1 - r } else { r }, s))
    });
    drop(l);
    match found {
        Some((r, s)) => {
            if withscore {
                ctx.out.array(2);
                ctx.out.int(r as i64);
                ctx.out.double(s);
            } else {
                ctx.out.int(r as i64);
            }
        }
        None if withscore => ctx.out.null_array(),
        None => ctx.out.null(),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Ranges

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum By {
    Auto,
    Rank,
    Score,
    Lex,
}

fn zrange(ctx: &mut Ctx, a: Args) -> CmdResult {
    zrange_generic(ctx, a, false, By::Auto, None)
}

fn zrangestore(ctx: &mut Ctx, a: Args) -> CmdResult {
    zrange_generic(ctx, a, true, By::Auto, None)
}

fn zrevrange(ctx: &mut Ctx, a: Args) -> CmdResult {
    zrange_generic(ctx, a, false, By::Rank, Some(true))
}

fn zrangebyscore(ctx: &mut Ctx, a: Args) -> CmdResult {
    zrange_generic(ctx, a, false, By::Score, Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx, a: Args) -> CmdResult {
    zrange_generic(ctx, a, false, By::Score, Some(true))
}

fn zrangebylex(ctx: &mut Ctx, a: Args) -> CmdResult {
    zrange_generic(ctx, a, false, By::Lex, Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx, a: Args) -> CmdResult {
    zrange_generic(ctx, a, false, By::Lex, Some(true))
}

/// Redis's `zrangeGenericCommand`: option parsing with the same precedence and errors for
/// ZRANGE, ZRANGESTORE and the legacy range commands (whose kind and direction are fixed).
fn zrange_generic(
    ctx: &mut Ctx,
    a: Args,
    store: bool,
    fixed_by: By,
    fixed_rev: Option<bool>,
) -> CmdResult {
    let src_i = if store { 2 } else { 1 };
    let (mut min_i, mut max_i) = (src_i + 1, src_i + 2);
    let mut by = fixed_by;
    let mut rev = fixed_rev.unwrap_or(false);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut j = src_i + 3;
    while j < a.len() {
        let o = a.get(j);
        let left = a.len() - j - 1;
        if !store && is(o, "WITHSCORES") {
            withscores = true;
        } else if is(o, "LIMIT") && left >= 2 {
            offset = int(a.get(j + 1))?;
            limit = int(a.get(j + 2))?;
            j += 2;
        } else if fixed_rev.is_none() && is(o, "REV") {
            rev = true;
        } else if fixed_by == By::Auto && is(o, "BYLEX") {
            by = By::Lex;
        } else if fixed_by == By::Auto && is(o, "BYSCORE") {
            by = By::Score;
        } else {
            return Err(error::SYNTAX.into());
        }
        j += 1;
    }
    if by == By::Auto {
        by = By::Rank;
    }
    if limit != -1 && by == By::Rank {
        return Err(error::ZRANGE_LIMIT.into());
    }
    if withscores && by == By::Lex {
        return Err(error::ZRANGE_BYLEX_WITHSCORES.into());
    }
    if rev && by != By::Rank {
        std::mem::swap(&mut min_i, &mut max_i);
    }
    let sel = match by {
        By::Score => {
            let (lo, hi) = score_range(a.get(min_i), a.get(max_i))?;
            Sel::Score(lo, hi)
        }
        By::Lex => {
            let (lo, hi) = lex_range(a.get(min_i), a.get(max_i))?;
            Sel::Lex(lo, hi)
        }
        _ => Sel::Rank(int(a.get(min_i))?, int(a.get(max_i))?),
    };
    let src = a.get(src_i);
    if store {
        let dst = a.get(1);
        let lim = limits(ctx);
        let mut l = ctx.lock(&[dst, src]);
        let mut pairs: Vec<(Str, f64)> = Vec::new();
        if let Some(z) = zget(&mut l, src)? {
            let (start, n) = select(z, &sel, rev, offset, limit);
            pairs.reserve(n);
            z.for_range(start, n, rev, |m, s| pairs.push((Str::from_slice(m), s)));
        }
        if rev {
            pairs.reverse();
        }
        let n = store_result(&mut l, dst, &pairs, "zrangestore", lim);
        drop(l);
        ctx.out.int(n as i64);
        return Ok(());
    }
    let mut l = ctx.lock1(src);
    let Some(z) = zget(&mut l, src)? else {
        drop(l);
        ctx.out.array(0);
        return Ok(());
    };
    let (start, n) = select(z, &sel, rev, offset, limit);
    let out = &mut *ctx.out;
    pairs_header(out, n, withscores);
    z.for_range(start, n, rev, |m, s| pair(out, m, s, withscores));
    Ok(())
}

fn zcount(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (lo, hi) = score_range(a.get(2), a.get(3))?;
    count_generic(ctx, a, Sel::Score(lo, hi))
}

fn zlexcount(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (lo, hi) = lex_range(a.get(2), a.get(3))?;
    count_generic(ctx, a, Sel::Lex(lo, hi))
}

fn count_generic(ctx: &mut Ctx, a: Args, sel: Sel) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let n = zget(&mut l, a.get(1))?.map_or(0, |z| {
        let (lo, hi) = bounds_of(z, &sel);
        hi - lo
    });
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Removal by range

fn zremrangebyrank(ctx: &mut Ctx, a: Args) -> CmdResult {
    let sel = Sel::Rank(int(a.get(2))?, int(a.get(3))?);
    zremrange_generic(ctx, a, sel, "zremrangebyrank")
}

fn zremrangebyscore(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (lo, hi) = score_range(a.get(2), a.get(3))?;
    zremrange_generic(ctx, a, Sel::Score(lo, hi), "zremrangebyscore")
}

fn zremrangebylex(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (lo, hi) = lex_range(a.get(2), a.get(3))?;
    zremrange_generic(ctx, a, Sel::Lex(lo, hi), "zremrangebylex")
}

fn zremrange_generic(ctx: &mut Ctx, a: Args, sel: Sel, event: &str) -> CmdResult {
    let key = a.get(1);
    let mut l = ctx.lock1(key);
    let Some(z) = zget(&mut l, key)? else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    let (start, n) = select(z, &sel, false, 0, -1);
    let removed = z.remove_range(start, n, false).len();
    if removed > 0 {
        if let Sel::Rank(..) = sel {
            let mut b1 = itoa::Buffer::new();
            let mut b2 = itoa::Buffer::new();
            let first = b1.format(start);
            let last = b2.format(start + removed - 1);
            l.record(
                key,
                event,
                ChangeKind::Modify,
                ValueType::ZSet,
                &[b"ZREMRANGEBYRANK", key, first.as_bytes(), last.as_bytes()],
            );
        } else {
            let args: SmallVec<[&[u8]; 4]> = a.iter().collect();
            l.record(key, event, ChangeKind::Modify, ValueType::ZSet, &args);
        }
        l.delete_if_empty(key);
    }
    drop(l);
    ctx.out.int(removed as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Pops

/// Pops up to `n` of the lowest (`min`) or highest members of the sorted set at `key` (which
/// must be one), recording `ZPOPMIN|ZPOPMAX key <n popped>` and the deletion of an emptied key.
pub(crate) fn pop_recorded(l: &mut Locked, key: &[u8], min: bool, n: usize) -> Vec<(Str, f64)> {
    let Some(z) = zpeek(l, key) else {
        return Vec::new();
    };
    let popped = z.remove_range(0, n, !min);
    if !popped.is_empty() {
        let mut b = itoa::Buffer::new();
        let cnt = b.format(popped.len());
        let (event, name): (&str, &[u8]) = if min {
            ("zpopmin", b"ZPOPMIN")
        } else {
            ("zpopmax", b"ZPOPMAX")
        };
        l.record(
            key,
            event,
            ChangeKind::Modify,
            ValueType::ZSet,
            &[name, key, cnt.as_bytes()],
        );
        l.delete_if_empty(key);
    }
    popped
}

fn zpopmin(ctx: &mut Ctx, a: Args) -> CmdResult {
    zpop_generic(ctx, a, true)
}

fn zpopmax(ctx: &mut Ctx, a: Args) -> CmdResult {
    zpop_generic(ctx, a, false)
}

fn zpop_generic(ctx: &mut Ctx, a: Args, min: bool) -> CmdResult {
    if a.len() > 3 {
        return Err(error::SYNTAX.into());
    }
    let n = if a.len() == 3 {
        Some(count(a.get(2))?)
    } else {
        None
    };
    let key = a.get(1);
    let mut l = ctx.lock1(key);
    if zget(&mut l, key)?.is_none() || n == Some(0) {
        drop(l);
        ctx.out.array(0);
        return Ok(());
    }
    let popped = pop_recorded(&mut l, key, min, n.unwrap_or(1));
    drop(l);
    match n {
        // Without a count: one flat [member, score] in both protocols.
        None => {
            ctx.out.array(2 * popped.len());
            for (m, s) in &popped {
                ctx.out.bulk(m);
                ctx.out.double(*s);
            }
        }
        Some(_) => {
            pairs_header(ctx.out, popped.len(), true);
            for (m, s) in &popped {
                pair(ctx.out, m, *s, true);
            }
        }
    }
    Ok(())
}

/// Parsed `numkeys key... MIN|MAX [COUNT n]` of ZMPOP/BZMPOP, starting at `numkeys`.
pub(crate) struct MpopArgs<'a> {
    pub keys: Vec<&'a [u8]>,
    pub min: bool,
    pub count: usize,
}

pub(crate) fn parse_mpop<'a>(a: &Args<'a>, nk_i: usize) -> CmdResult<MpopArgs<'a>> {
    let numkeys = int(a.get(nk_i)).map_err(|_| CmdError::from(error::ZSET_NUMKEYS))?;
    if numkeys < 1 {
        return Err(error::ZSET_NUMKEYS.into());
    }
    let where_i = (nk_i as u64)
        .saturating_add(numkeys as u64)
        .saturating_add(1);
    if where_i >= a.len() as u64 {
        return Err(error::SYNTAX.into());
    }
    let where_i = where_i as usize;
    let w = a.get(where_i);
    let min = if is(w, "MIN") {
        true
    } else if is(w, "MAX") {
        false
    } else {
        return Err(error::SYNTAX.into());
    };
    let mut cnt: Option<usize> = None;
    let mut j = where_i + 1;
    while j < a.len() {
        if cnt.is_none() && is(a.get(j), "COUNT") && j + 1 < a.len() {
            let v = int(a.get(j + 1)).map_err(|_| CmdError::from(error::ZSET_COUNT))?;
            if v < 1 {
                return Err(error::ZSET_COUNT.into());
            }
            cnt = Some(v as usize);
            j += 2;
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    Ok(MpopArgs {
        keys: (nk_i + 1..where_i).map(|i| a.get(i)).collect(),
        min,
        count: cnt.unwrap_or(1),
    })
}

/// Replies `[key, [[member, score], ...]]` (nested in both protocols, as Redis's ZMPOP).
pub(crate) fn reply_mpop(out: &mut Out, key: &[u8], popped: &[(Str, f64)]) {
    out.array(2);
    out.bulk(key);
    out.array(popped.len());
    for (m, s) in popped {
        out.array(2);
        out.bulk(m);
        out.double(*s);
    }
}

fn zmpop(ctx: &mut Ctx, a: Args) -> CmdResult {
    let p = parse_mpop(&a, 1)?;
    let mut l = ctx.lock(&p.keys);
    for k in &p.keys {
        if zget(&mut l, k)?.is_some() {
            let popped = pop_recorded(&mut l, k, p.min, p.count);
            drop(l);
            reply_mpop(ctx.out, k, &popped);
            return Ok(());
        }
    }
    drop(l);
    ctx.out.null_array();
    Ok(())
}

fn bzpopmin(ctx: &mut Ctx, a: Args) -> CmdResult {
    bzpop_generic(ctx, a, true)
}

fn bzpopmax(ctx: &mut Ctx, a: Args) -> CmdResult {
    bzpop_generic(ctx, a, false)
}

/// BZPOPMIN/BZPOPMAX: pop from the first non-empty key, else block (see `keyspace::blocking`;
/// a served wait is recorded as the pop, `ZPOPMIN|ZPOPMAX key 1`).
fn bzpop_generic(ctx: &mut Ctx, a: Args, min: bool) -> CmdResult {
    let ms = super::lists::timeout_ms(a.get(a.len() - 1), ctx.now)?;
    let keys: SmallVec<[&[u8]; 4]> = (1..a.len() - 1).map(|i| a.get(i)).collect();
    let mut l = ctx.lock(&keys);
    for &k in &keys {
        if zget(&mut l, k)?.is_none() {
            continue;
        }
        let popped = pop_recorded(&mut l, k, min, 1);
        drop(l);
        if let Some((m, s)) = popped.first() {
            ctx.out.array(3);
            ctx.out.bulk(k);
            ctx.out.bulk(m);
            ctx.out.double(*s);
        } else {
            ctx.out.null_array();
        }
        return Ok(());
    }
    let op = WaitOp::ZPop {
        min,
        count: 1,
        multi: false,
    };
    super::lists::block(ctx, l, &keys, op, ms);
    Ok(())
}

fn bzmpop(ctx: &mut Ctx, a: Args) -> CmdResult {
    let p = parse_mpop(&a, 2)?;
    let ms = super::lists::timeout_ms(a.get(1), ctx.now)?;
    let mut l = ctx.lock(&p.keys);
    for k in &p.keys {
        if zget(&mut l, k)?.is_some() {
            let popped = pop_recorded(&mut l, k, p.min, p.count);
            drop(l);
            reply_mpop(ctx.out, k, &popped);
            return Ok(());
        }
    }
    let op = WaitOp::ZPop {
        min: p.min,
        count: p.count,
        multi: true,
    };
    super::lists::block(ctx, l, &p.keys, op, ms);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Set algebra

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Agg {
    Sum,
    Min,
    Max,
}

#[inline]
fn aggregate(target: &mut f64, v: f64, agg: Agg) {
    match agg {
        Agg::Sum => {
            *target += v;
            // inf + -inf: Redis's convention is 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Agg::Min => {
            if v < *target {
                *target = v;
            }
        }
        Agg::Max => {
            if v > *target {
                *target = v;
            }
        }
    }
}

/// An input of the set algebra: a sorted set, a plain set (every score 1), or nothing.
#[derive(Clone, Copy)]
enum Src<'v> {
    None,
    Z(&'v ZSet),
    S(&'v Set),
}

impl Src<'_> {
    fn len(&self) -> usize {
        match self {
            Src::None => 0,
            Src::Z(z) => z.len(),
            Src::S(s) => s.len(),
        }
    }
    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Src::None => {}
            Src::Z(z) => z.for_each(f),
            Src::S(s) => s.for_each(|m| f(m, 1.0)),
        }
    }
    fn find(&self, m: &[u8]) -> Option<f64> {
        match self {
            Src::None => None,
            Src::Z(z) => z.score(m),
            Src::S(s) => s.contains(m).then_some(1.0),
        }
    }
}

/// Read-only views of several keys at once (the locked shards are borrowed together, which
/// `Locked::get` cannot do). `locked` must be exactly the keys the `Locked` was created with;
/// the caller has already looked every key up (so expired ones are gone).
fn views<'s>(
    l: &'s mut Locked,
    ctx_ks: &crate::keyspace::Keyspace,
    db: usize,
    locked: &[&[u8]],
    keys: &[&[u8]],
) -> Vec<Src<'s>> {
    // Locked holds the shards of `locked`, in ascending shard order, each once.
    let mut idx: SmallVec<[usize; 8]> = locked.iter().map(|k| ctx_ks.shard_of(k)).collect();
    idx.sort_unstable();
    idx.dedup();
    let shards: SmallVec<[&Shard; 8]> = l.shards_mut().map(|s| &*s).collect();
    keys.iter()
        .map(|k| {
            let pos = idx.binary_search(&ctx_ks.shard_of(k)).ok();
            match pos
                .and_then(|p| shards.get(p))
                .and_then(|sh| sh.dbs.get(db))
                .and_then(|d| d.keys.get(k))
            {
                Some(Value::ZSet(z, _)) => Src::Z(z),
                Some(Value::Set(s, _)) => Src::S(s),
                _ => Src::None,
            }
        })
        .collect()
}

fn zunion(ctx: &mut Ctx, a: Args) -> CmdResult {
    setop_generic(ctx, a, Op::Union, false, false, "zunion")
}
fn zunionstore(ctx: &mut Ctx, a: Args) -> CmdResult {
    setop_generic(ctx, a, Op::Union, true, false, "zunionstore")
}
fn zinter(ctx: &mut Ctx, a: Args) -> CmdResult {
    setop_generic(ctx, a, Op::Inter, false, false, "zinter")
}
fn zinterstore(ctx: &mut Ctx, a: Args) -> CmdResult {
    setop_generic(ctx, a, Op::Inter, true, false, "zinterstore")
}
fn zintercard(ctx: &mut Ctx, a: Args) -> CmdResult {
    setop_generic(ctx, a, Op::Inter, false, true, "zintercard")
}
fn zdiff(ctx: &mut Ctx, a: Args) -> CmdResult {
    setop_generic(ctx, a, Op::Diff, false, false, "zdiff")
}
fn zdiffstore(ctx: &mut Ctx, a: Args) -> CmdResult {
    setop_generic(ctx, a, Op::Diff, true, false, "zdiffstore")
}

/// Redis's `zunionInterDiffGenericCommand`: keys are type-checked before the options are
/// parsed, as there.
fn setop_generic(
    ctx: &mut Ctx,
    a: Args,
    op: Op,
    store: bool,
    card_only: bool,
    name: &str,
) -> CmdResult {
    let nk_i = if store { 2 } else { 1 };
    let setnum = int(a.get(nk_i))?;
    if setnum < 1 {
        return Err(error::zset_no_keys(name));
    }
    if setnum as u64 > (a.len() - nk_i - 1) as u64 {
        return Err(error::SYNTAX.into());
    }
    let n = setnum as usize;
    let keys: Vec<&[u8]> = (nk_i + 1..nk_i + 1 + n).map(|i| a.get(i)).collect();
    let mut locked = keys.clone();
    if store {
        locked.push(a.get(1));
    }
    let lim = limits(ctx);
    let (db, ks) = (ctx.sess.db, &ctx.srv.keyspace);
    let mut l = ctx.lock(&locked);
    for k in &keys {
        match l.get(k) {
            None | Some(Value::ZSet(..)) | Some(Value::Set(..)) => {}
            Some(_) => return Err(error::WRONGTYPE.into()),
        }
    }
    let mut weights: SmallVec<[f64; 8]> = SmallVec::from_elem(1.0, n);
    let mut agg = Agg::Sum;
    let mut withscores = false;
    let mut limit = 0usize;
    let mut j = nk_i + 1 + n;
    while j < a.len() {
        let remaining = a.len() - j;
        let o = a.get(j);
        if op != Op::Diff && !card_only && remaining > n && is(o, "WEIGHTS") {
            j += 1;
            for w in weights.iter_mut() {
                *w = parse_f64(a.get(j)).ok_or(CmdError::from(error::WEIGHT_NOT_FLOAT))?;
                j += 1;
            }
        } else if op != Op::Diff && !card_only && remaining >= 2 && is(o, "AGGREGATE") {
            let v = a.get(j + 1);
            agg = if is(v, "SUM") {
                Agg::Sum
            } else if is(v, "MIN") {
                Agg::Min
            } else if is(v, "MAX") {
                Agg::Max
            } else {
                return Err(error::SYNTAX.into());
            };
            j += 2;
        } else if !store && !card_only && is(o, "WITHSCORES") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && is(o, "LIMIT") {
            limit = non_negative(a.get(j + 1), error::ZSET_LIMIT_NEGATIVE)?;
            j += 2;
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    let srcs = views(&mut l, ks, db, &locked, &keys);
    let mut result: Vec<(Str, f64)> = Vec::new();
    let mut card = 0usize;
    match op {
        Op::Union => {
            let mut acc: hashbrown::HashMap<Str, f64, foldhash::fast::RandomState> =
                hashbrown::HashMap::default();
            for (src, &w) in srcs.iter().zip(&weights) {
                src.for_each(|m, s| {
                    let mut v = w * s;
                    if v.is_nan() {
                        v = 0.0;
                    }
                    match acc.get_mut(m) {
                        Some(t) => aggregate(t, v, agg),
                        None => {
                            acc.insert(Str::from_slice(m), v);
                        }
                    }
                });
            }
            result = acc.into_iter().collect();
        }
        Op::Inter => {
            // Smallest input first (a stable sort, as glibc's qsort is on these sizes).
            let mut order: SmallVec<[usize; 8]> = (0..n).collect();
            order.sort_by_key(|&i| srcs[i].len());
            let first = order[0];
            if srcs.iter().all(|s| s.len() > 0) {
                let mut done = false;
                srcs[first].for_each(|m, s| {
                    if done {
                        return;
                    }
                    let mut score = weights[first] * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for &o in &order[1..] {
                        match srcs[o].find(m) {
                            Some(v) => aggregate(&mut score, v * weights[o], agg),
                            None => return,
                        }
                    }
                    if card_only {
                        card += 1;
                        done = limit > 0 && card >= limit;
                    } else {
                        result.push((Str::from_slice(m), score));
                    }
                });
            }
        }
        Op::Diff => {
            srcs[0].for_each(|m, s| {
                if srcs[1..].iter().all(|o| o.find(m).is_none()) {
                    result.push((Str::from_slice(m), s));
                }
            });
        }
    }
    drop(srcs);
    if card_only {
        drop(l);
        ctx.out.int(card as i64);
        return Ok(());
    }
    result.sort_by(|x, y| cmp_entry(x.1, &x.0, y.1, &y.0));
    if store {
        let event = match op {
            Op::Union => "zunionstore",
            Op::Inter => "zinterstore",
            Op::Diff => "zdiffstore",
        };
        let stored = store_result(&mut l, a.get(1), &result, event, lim);
        drop(l);
        ctx.out.int(stored as i64);
        return Ok(());
    }
    drop(l);
    pairs_header(ctx.out, result.len(), withscores);
    for (m, s) in &result {
        pair(ctx.out, m, *s, withscores);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN

/// Bound on the reply of ZRANDMEMBER with a negative count (which may repeat members), so a
/// client cannot make the server build an unbounded reply.
const MAX_RANDOM_REPEATS: u64 = 1 << 24;

fn zrandmember(ctx: &mut Ctx, a: Args) -> CmdResult {
    use rand::Rng;
    if a.len() > 4 {
        return Err(error::SYNTAX.into());
    }
    let key = a.get(1);
    if a.len() == 2 {
        let mut l = ctx.lock1(key);
        let Some(z) = zget(&mut l, key)? else {
            drop(l);
            ctx.out.null();
            return Ok(());
        };
        let r = rand::rng().random_range(0..z.len());
        if let Some((m, _)) = z.get(r) {
            ctx.out.bulk(m);
        } else {
            ctx.out.null();
        }
        return Ok(());
    }
    let c = int(a.get(2))?;
    let withscores = a.len() == 4;
    if withscores && !is(a.get(3), "WITHSCORES") {
        return Err(error::SYNTAX.into());
    }
    if c == i64::MIN {
        return Err(error::ZSET_RANDOM_RANGE.into());
    }
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&c) {
        return Err(error::ZSET_VALUE_RANGE.into());
    }
    if c < 0 && c.unsigned_abs() > MAX_RANDOM_REPEATS {
        return Err(error::ZSET_VALUE_RANGE.into());
    }
    let mut l = ctx.lock1(key);
    let Some(z) = zget(&mut l, key)? else {
        drop(l);
        ctx.out.array(0);
        return Ok(());
    };
    let z: &ZSet = z;
    let len = z.len();
    let mut rng = rand::rng();
    let out = &mut *ctx.out;
    if c == 0 {
        out.array(0);
        return Ok(());
    }
    // A packed set is decoded once so each pick is O(1).
    let flat: Vec<(&[u8], f64)> = match z {
        ZSet::Pack(p) => p.iter().collect(),
        ZSet::Skip(_) => Vec::new(),
    };
    let at = |r: usize| -> Option<(&[u8], f64)> {
        if flat.is_empty() {
            z.get(r)
        } else {
            flat.get(r).copied()
        }
    };
    if c < 0 {
        let n = c.unsigned_abs() as usize;
        pairs_header(out, n, withscores);
        for _ in 0..n {
            if let Some((m, s)) = at(rng.random_range(0..len)) {
                pair(out, m, s, withscores);
            }
        }
        return Ok(());
    }
    let n = c as usize;
    if n >= len {
        pairs_header(out, len, withscores);
        z.for_each(|m, s| pair(out, m, s, withscores));
        return Ok(());
    }
    // Distinct ranks: a partial shuffle when most are wanted, rejection sampling otherwise.
    let ranks: Vec<usize> = if n * 3 > len {
        let mut all: Vec<usize> = (0..len).collect();
        for i in 0..n {
            let k = rng.random_range(i..len);
            all.swap(i, k);
        }
        all.truncate(n);
        all
    } else {
        let mut seen: hashbrown::HashSet<usize, foldhash::fast::RandomState> =
            hashbrown::HashSet::default();
        let mut v = Vec::with_capacity(n);
        while v.len() < n {
            let r = rng.random_range(0..len);
            if seen.insert(r) {
                v.push(r);
            }
        }
        v
    };
    pairs_header(out, ranks.len(), withscores);
    for r in ranks {
        if let Some((m, s)) = at(r) {
            pair(out, m, s, withscores);
        }
    }
    Ok(())
}

fn zscan(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let cursor: u64 = std::str::from_utf8(a.get(2))
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(CmdError::from(error::ZSET_INVALID_CURSOR))?;
    let mut pat: Option<&[u8]> = None;
    let mut cnt = 10usize;
    let mut j = 3;
    while j < a.len() {
        let o = a.get(j);
        if is(o, "MATCH") && j + 1 < a.len() {
            pat = Some(a.get(j + 1));
        } else if is(o, "COUNT") && j + 1 < a.len() {
            let v = int(a.get(j + 1))?;
            if v < 1 {
                return Err(error::SYNTAX.into());
            }
            cnt = v as usize;
        } else {
            return Err(error::SYNTAX.into());
        }
        j += 2;
    }
    let pat = pat.filter(|p| *p != b"*");
    let mut l = ctx.lock1(key);
    let Some(z) = zget(&mut l, key)? else {
        drop(l);
        ctx.out.array(2);
        ctx.out.bulk(b"0");
        ctx.out.array(0);
        return Ok(());
    };
    let mut found: Vec<(&[u8], f64)> = Vec::new();
    let next = z.scan(cursor, cnt, |m, s| {
        if pat.is_none_or(|p| glob_match(p, m, false)) {
            found.push((m, s));
        }
    });
    let out = &mut *ctx.out;
    out.array(2);
    out.bulk(itoa::Buffer::new().format(next).as_bytes());
    out.array(found.len() * 2);
    for (m, s) in found {
        out.bulk(m);
        out.bulk(fmt_double(s).as_bytes());
    }
    Ok(())
}
