//! Sets: membership, random members, moves, the algebra (SINTER/SUNION/SDIFF and their STORE
//! forms, SINTERCARD) and SSCAN.
//!
//! Recorded effects (DESIGN.md, "Record what happened"):
//! * SADD records `SADD key <the members it added>` (event `sadd`); SREM records `SREM key <the
//!   members it removed>` (event `srem`);
//! * SPOP records what it popped as `SREM key <members>` (event `spop`); SRANDMEMBER writes
//!   nothing;
//! * SMOVE records `SREM src m` (event `srem`) on the source and, if the member was new there,
//!   `SADD dst m` (event `sadd`) on the destination;
//! * SINTERSTORE/SUNIONSTORE/SDIFFSTORE record the resulting set: `DEL dst` (event `del`) if the
//!   destination existed, then `SADD dst <members>` (event `sinterstore`/`sunionstore`/
//!   `sdiffstore`, change `insert`); an empty result only deletes the destination.
//!
//! A set that becomes empty is deleted; that is recorded as a second record, `DEL key` (event
//! `del`, change `remove`, type `none`), after the one of the command that emptied it — the same
//! pair of keyspace notifications Redis sends. Writes that change nothing record nothing.

use smallvec::SmallVec;

use super::args::{int, is, non_negative};
use super::hashes::{parse_cursor, random_count, scan_options, scan_reply};
use super::{cmd, flag::*, CommandSpec, Ctx};
use crate::changes::ChangeKind;
use crate::error::{self, CmdResult};
use crate::keyspace::set::{IntSet, Set, SetLimits};
use crate::keyspace::value::{Collection, Meta, Value, ValueType};
use crate::keyspace::Locked;
use crate::protocol::resp::Args;
use crate::util::glob::glob_match;

const S: &[&str] = &["set"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), S, "set", sadd,
        "Adds one or more members to a set. Creates the key if it doesn't exist.", "key member [member ...]", "1.0.0",
        "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
    cmd!("srem", -3, WRITE | FAST, (1, 1, 1), S, "set", srem,
        "Removes one or more members from a set. Deletes the set if the last member was removed.",
        "key member [member ...]", "1.0.0", "O(N) where N is the number of members to be removed."),
    cmd!("smembers", 2, READONLY, (1, 1, 1), S, "set", smembers,
        "Returns all members of a set.", "key", "1.0.0", "O(N) where N is the set cardinality."),
    cmd!("sismember", 3, READONLY | FAST, (1, 1, 1), S, "set", sismember,
        "Determines whether a member belongs to a set.", "key member", "1.0.0", "O(1)"),
    cmd!("smismember", -3, READONLY | FAST, (1, 1, 1), S, "set", smismember,
        "Determines whether multiple members belong to a set.", "key member [member ...]", "6.2.0",
        "O(N) where N is the number of elements being checked for membership"),
    cmd!("scard", 2, READONLY | FAST, (1, 1, 1), S, "set", scard,
        "Returns the number of members in a set.", "key", "1.0.0", "O(1)"),
    cmd!("spop", -2, WRITE | FAST, (1, 1, 1), S, "set", spop,
        "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.",
        "key [count]", "1.0.0",
        "Without the count argument O(1), otherwise O(N) where N is the value of the passed count."),
    cmd!("srandmember", -2, READONLY, (1, 1, 1), S, "set", srandmember,
        "Get one or multiple random members from a set", "key [count]", "1.0.0",
        "Without the count argument O(1), otherwise O(N) where N is the absolute value of the passed count."),
    cmd!("smove", 4, WRITE | FAST, (1, 2, 1), S, "set", smove,
        "Moves a member from one set to another.", "source destination member", "1.0.0", "O(1)"),
    cmd!("sinter", -2, READONLY, (1, -1, 1), S, "set", sinter,
        "Returns the intersect of multiple sets.", "key [key ...]", "1.0.0",
        "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
    cmd!("sintercard", -3, READONLY | MOVABLE_KEYS, (0, 0, 0), S, "set", sintercard,
        "Returns the number of members of the intersect of multiple sets.", "numkeys key [key ...] [LIMIT limit]", "7.0.0",
        "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
    cmd!("sinterstore", -3, WRITE | DENYOOM, (1, -1, 1), S, "set", sinterstore,
        "Stores the intersect of multiple sets in a key.", "destination key [key ...]", "1.0.0",
        "O(N*M) worst case where N is the cardinality of the smallest set and M is the number of sets."),
    cmd!("sunion", -2, READONLY, (1, -1, 1), S, "set", sunion,
        "Returns the union of multiple sets.", "key [key ...]", "1.0.0",
        "O(N) where N is the total number of elements in all given sets."),
    cmd!("sunionstore", -3, WRITE | DENYOOM, (1, -1, 1), S, "set", sunionstore,
        "Stores the union of multiple sets in a key.", "destination key [key ...]", "1.0.0",
        "O(N) where N is the total number of elements in all given sets."),
    cmd!("sdiff", -2, READONLY, (1, -1, 1), S, "set", sdiff,
        "Returns the difference of multiple sets.", "key [key ...]", "1.0.0",
        "O(N) where N is the total number of elements in all given sets."),
    cmd!("sdiffstore", -3, WRITE | DENYOOM, (1, -1, 1), S, "set", sdiffstore,
        "Stores the difference of multiple sets in a key.", "destination key [key ...]", "1.0.0",
        "O(N) where N is the total number of elements in all given sets."),
    cmd!("sscan", -3, READONLY, (1, 1, 1), S, "set", sscan,
        "Iterates over members of a set.", "key cursor [MATCH pattern] [COUNT count]", "2.0.0",
        "O(1) for every call. O(N) for a complete iteration, including enough command calls for the cursor to return back to 0. N is the number of elements inside the collection."),
];

/// The compact-form thresholds currently configured.
fn limits(ctx: &Ctx) -> SetLimits {
    SetLimits::current(&ctx.srv.config.hot)
}

/// The set at `key` for reading: `Ok(None)` if missing, WRONGTYPE for other types.
fn read<'l>(l: &'l mut Locked, key: &[u8]) -> CmdResult<Option<&'l mut Set>> {
    match l.get(key) {
        None => Ok(None),
        Some(Value::Set(s, _)) => Ok(Some(s)),
        Some(_) => Err(error::WRONGTYPE.into()),
    }
}

/// Like [`read`] without counting a keyspace hit or miss (the write path).
fn peek<'l>(l: &'l mut Locked, key: &[u8]) -> CmdResult<Option<&'l mut Set>> {
    match l.peek(key) {
        None => Ok(None),
        Some(Value::Set(s, _)) => Ok(Some(s)),
        Some(_) => Err(error::WRONGTYPE.into()),
    }
}

fn sadd(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let lim = limits(ctx);
    let mut l = ctx.lock1(key);
    let existed = peek(&mut l, key)?.is_some();
    if !existed {
        let s = Set::for_first(a.get(2), a.len() - 2, lim);
        l.put(key, Value::Set(s, Meta::now()), false);
    }
    let Some(set) = peek(&mut l, key)? else {
        return Ok(());
    };
    let mut rec: SmallVec<[&[u8]; 8]> = SmallVec::with_capacity(a.len());
    rec.push(b"SADD");
    rec.push(key);
    for m in a.iter().skip(2) {
        if set.insert(m, lim) {
            rec.push(m);
        }
    }
    let added = rec.len() - 2;
    if added > 0 {
        l.record(
            key,
            "sadd",
            ChangeKind::upsert(existed),
            ValueType::Set,
            &rec,
        );
    }
    drop(l);
    ctx.out.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let mut l = ctx.lock1(key);
    let Some(set) = peek(&mut l, key)? else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    let mut rec: SmallVec<[&[u8]; 8]> = SmallVec::new();
    rec.push(b"SREM");
    rec.push(key);
    for m in a.iter().skip(2) {
        if set.remove(m) {
            rec.push(m);
        }
    }
    let n = rec.len() - 2;
    if n > 0 {
        l.record(key, "srem", ChangeKind::Modify, ValueType::Set, &rec);
        l.delete_if_empty(key);
    }
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn smembers(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    match read(&mut l, a.get(1))? {
        Some(s) => {
            let out = &mut *ctx.out;
            out.set(s.len());
            s.for_each(|m| out.bulk(m));
        }
        None => ctx.out.set(0),
    }
    Ok(())
}

fn sismember(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let yes = read(&mut l, a.get(1))?.is_some_and(|s| s.contains(a.get(2)));
    drop(l);
    ctx.out.int(yes as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let s = read(&mut l, a.get(1))?;
    ctx.out.array(a.len() - 2);
    for m in a.iter().skip(2) {
        let yes = s.as_ref().is_some_and(|s| s.contains(m));
        ctx.out.int(yes as i64);
    }
    Ok(())
}

fn scard(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let n = read(&mut l, a.get(1))?.map_or(0, |s| s.len());
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn spop(ctx: &mut Ctx, a: Args) -> CmdResult {
    use rand::Rng;
    let key = a.get(1);
    let count = match a.len() {
        2 => None,
        3 => Some(
            int(a.get(2))
                .ok()
                .filter(|n| *n >= 0)
                .ok_or(crate::error::CmdError::from(error::COUNT_POSITIVE))? as usize,
        ),
        _ => return Err(error::SYNTAX.into()),
    };
    let mut l = ctx.lock1(key);
    let Some(set) = peek(&mut l, key)? else {
        drop(l);
        match count {
            None => ctx.out.null(),
            Some(_) => ctx.out.set(0),
        }
        return Ok(());
    };
    let len = set.len();
    let n = count.unwrap_or(1).min(len);
    let mut rng = rand::rng();
    let mut popped: Vec<Vec<u8>> = Vec::with_capacity(n);
    if n == len {
        set.for_each(|m| popped.push(m.to_vec()));
    } else {
        for _ in 0..n {
            let i = rng.random_range(0..set.len());
            if let Some(m) = set.nth(i).map(|m| m.to_vec()) {
                set.remove(&m);
                popped.push(m);
            }
        }
    }
    if n > 0 {
        let mut rec: Vec<&[u8]> = Vec::with_capacity(n + 2);
        rec.push(b"SREM");
        rec.push(key);
        rec.extend(popped.iter().map(Vec::as_slice));
        if n == len {
            l.remove(key);
            l.record(key, "spop", ChangeKind::Modify, ValueType::Set, &rec);
            l.record(
                key,
                "del",
                ChangeKind::Remove,
                ValueType::None,
                &[b"DEL", key],
            );
        } else {
            l.record(key, "spop", ChangeKind::Modify, ValueType::Set, &rec);
        }
    }
    drop(l);
    match count {
        None => match popped.first() {
            Some(m) => ctx.out.bulk(m),
            None => ctx.out.null(),
        },
        Some(_) => {
            ctx.out.set(popped.len());
            for m in &popped {
                ctx.out.bulk(m);
            }
        }
    }
    Ok(())
}

fn srandmember(ctx: &mut Ctx, a: Args) -> CmdResult {
    use rand::Rng;
    let key = a.get(1);
    let count = match a.len() {
        2 => None,
        3 => Some(random_count(a.get(2), false)?),
        _ => return Err(error::SYNTAX.into()),
    };
    let mut l = ctx.lock1(key);
    let Some(set) = read(&mut l, key)? else {
        drop(l);
        match count {
            None => ctx.out.null(),
            Some(_) => ctx.out.array(0),
        }
        return Ok(());
    };
    let len = set.len();
    let mut rng = rand::rng();
    let mut buf = itoa::Buffer::new();
    let Some((n, distinct)) = count else {
        if let Some(m) = set.nth(rng.random_range(0..len)) {
            ctx.out.bulk(m.bytes(&mut buf));
        }
        return Ok(());
    };
    let out = &mut *ctx.out;
    if distinct && n >= len {
        out.array(len);
        set.for_each(|m| out.bulk(m));
        return Ok(());
    }
    // Indexable view: the listpack form is walked once, the others index in O(1).
    let all = matches!(set, Set::Pack(_)).then(|| set.members());
    let nth = |i: usize| match &all {
        Some(v) => v.get(i).copied(),
        None => set.nth(i),
    };
    let picks: Vec<usize> = if distinct {
        rand::seq::index::sample(&mut rng, len, n).into_vec()
    } else {
        (0..n).map(|_| rng.random_range(0..len)).collect()
    };
    out.array(picks.len());
    for i in picks {
        match nth(i) {
            Some(m) => out.bulk(m.bytes(&mut buf)),
            None => out.null(),
        }
    }
    Ok(())
}

fn smove(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (src, dst, m) = (a.get(1), a.get(2), a.get(3));
    let lim = limits(ctx);
    let mut l = ctx.lock(&[src, dst]);
    if peek(&mut l, src)?.is_none() {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    }
    let dst_exists = peek(&mut l, dst)?.is_some();
    if src == dst {
        let yes = peek(&mut l, src)?.is_some_and(|s| s.contains(m));
        drop(l);
        ctx.out.int(yes as i64);
        return Ok(());
    }
    if !peek(&mut l, src)?.is_some_and(|s| s.remove(m)) {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    }
    l.record(
        src,
        "srem",
        ChangeKind::Modify,
        ValueType::Set,
        &[b"SREM", src, m],
    );
    l.delete_if_empty(src);
    if !dst_exists {
        let s = Set::for_first(m, 1, lim);
        l.put(dst, Value::Set(s, Meta::now()), false);
    }
    if peek(&mut l, dst)?.is_some_and(|s| s.insert(m, lim)) {
        l.record(
            dst,
            "sadd",
            ChangeKind::upsert(dst_exists),
            ValueType::Set,
            &[b"SADD", dst, m],
        );
    }
    drop(l);
    ctx.out.int(1);
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Computes an intersection, union or difference of the sets at `keys` (missing keys are empty
/// sets; any other type is WRONGTYPE, checked for every key before anything else). Returns the
/// members, or `None` for the empty result. `limit` stops an intersection early (SINTERCARD).
fn compute(l: &mut Locked, keys: &[&[u8]], op: Op, limit: usize) -> CmdResult<Vec<Vec<u8>>> {
    let mut sizes: SmallVec<[usize; 8]> = SmallVec::with_capacity(keys.len());
    for k in keys {
        sizes.push(read(l, k)?.map_or(0, |s| s.len()));
    }
    let mut out: Vec<Vec<u8>> = Vec::new();
    match op {
        Op::Inter => {
            if sizes.contains(&0) {
                return Ok(out);
            }
            // Walk the smallest set and keep what every other set holds.
            let (small, _) = sizes
                .iter()
                .enumerate()
                .min_by_key(|(_, n)| **n)
                .unwrap_or((0, &0));
            if let Some(s) = read(l, keys[small])? {
                s.for_each(|m| out.push(m.to_vec()));
            }
            for (i, k) in keys.iter().enumerate() {
                if i == small || keys[small] == *k {
                    continue;
                }
                if let Some(s) = read(l, k)? {
                    out.retain(|m| s.contains(m));
                }
            }
            if limit > 0 {
                out.truncate(limit);
            }
        }
        Op::Union => {
            let mut acc: Set = Set::Table(Box::default());
            let lim = SetLimits {
                intset_entries: 0,
                listpack_entries: 0,
                listpack_value: 0,
            };
            for k in keys {
                if let Some(s) = read(l, k)? {
                    s.for_each(|m| {
                        if acc.insert(m, lim) {
                            out.push(m.to_vec());
                        }
                    });
                }
            }
        }
        Op::Diff => {
            if sizes.first().is_none_or(|n| *n == 0) {
                return Ok(out);
            }
            if let Some(s) = read(l, keys[0])? {
                s.for_each(|m| out.push(m.to_vec()));
            }
            for k in &keys[1..] {
                if out.is_empty() {
                    break;
                }
                if *k == keys[0] {
                    out.clear();
                    break;
                }
                if let Some(s) = read(l, k)? {
                    out.retain(|m| !s.contains(m));
                }
            }
        }
    }
    Ok(out)
}

fn algebra(ctx: &mut Ctx, a: Args, op: Op) -> CmdResult {
    let keys: Vec<&[u8]> = a.iter().skip(1).collect();
    let mut l = ctx.lock(&keys);
    let members = compute(&mut l, &keys, op, 0)?;
    drop(l);
    ctx.out.set(members.len());
    for m in &members {
        ctx.out.bulk(m);
    }
    Ok(())
}

fn sinter(ctx: &mut Ctx, a: Args) -> CmdResult {
    algebra(ctx, a, Op::Inter)
}

fn sunion(ctx: &mut Ctx, a: Args) -> CmdResult {
    algebra(ctx, a, Op::Union)
}

fn sdiff(ctx: &mut Ctx, a: Args) -> CmdResult {
    algebra(ctx, a, Op::Diff)
}

fn sintercard(ctx: &mut Ctx, a: Args) -> CmdResult {
    let numkeys = int(a.get(1))
        .ok()
        .filter(|n| *n > 0)
        .ok_or(crate::error::CmdError::from(error::NUMKEYS_POSITIVE))? as u64;
    if numkeys > (a.len() - 2) as u64 {
        return Err(error::NUMKEYS_TOO_MANY.into());
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < a.len() {
        if is(a.get(i), "LIMIT") && i + 1 < a.len() {
            limit = non_negative(a.get(i + 1), error::LIMIT_NEGATIVE)?;
            i += 2;
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    let keys: Vec<&[u8]> = a.iter().skip(2).take(numkeys).collect();
    let mut l = ctx.lock(&keys);
    let n = compute(&mut l, &keys, Op::Inter, limit)?.len();
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn store(ctx: &mut Ctx, a: Args, op: Op, event: &str) -> CmdResult {
    let dst = a.get(1);
    let lim = limits(ctx);
    let keys: Vec<&[u8]> = a.iter().skip(1).collect();
    let mut l = ctx.lock(&keys);
    let members = compute(&mut l, &keys[1..], op, 0)?;
    let existed = l.peek(dst).is_some();
    if existed {
        l.remove(dst);
        l.record(
            dst,
            "del",
            ChangeKind::Remove,
            ValueType::None,
            &[b"DEL", dst],
        );
    }
    if !members.is_empty() {
        // Built as Redis builds it: from an empty intset, converting as members arrive.
        let mut s = Set::Ints(IntSet::default());
        for m in &members {
            s.insert(m, lim);
        }
        l.put(dst, Value::Set(s, Meta::now()), false);
        let mut rec: Vec<&[u8]> = Vec::with_capacity(members.len() + 2);
        rec.push(b"SADD");
        rec.push(dst);
        rec.extend(members.iter().map(Vec::as_slice));
        l.record(dst, event, ChangeKind::Insert, ValueType::Set, &rec);
    }
    drop(l);
    ctx.out.int(members.len() as i64);
    Ok(())
}

fn sinterstore(ctx: &mut Ctx, a: Args) -> CmdResult {
    store(ctx, a, Op::Inter, "sinterstore")
}

fn sunionstore(ctx: &mut Ctx, a: Args) -> CmdResult {
    store(ctx, a, Op::Union, "sunionstore")
}

fn sdiffstore(ctx: &mut Ctx, a: Args) -> CmdResult {
    store(ctx, a, Op::Diff, "sdiffstore")
}

fn sscan(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let cursor = parse_cursor(a.get(2))?;
    let mut l = ctx.lock1(key);
    let Some(s) = read(&mut l, key)? else {
        drop(l);
        scan_reply(ctx, 0, &[]);
        return Ok(());
    };
    let (pat, count) = scan_options(&a, 3)?;
    let mut items: Vec<Vec<u8>> = Vec::new();
    let next = s.scan(cursor, count, |m| {
        if pat.is_none_or(|p| glob_match(p, m, false)) {
            items.push(m.to_vec());
        }
    });
    let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
    scan_reply(ctx, next, &refs);
    Ok(())
}
