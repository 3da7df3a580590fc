//! Lists and task queues: pushes, pops, ranges, positional edits, LMOVE/LMPOP, and the blocking
//! pops (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP) served through `keyspace::blocking`.
//!
//! Recorded effects: pushes record `LPUSH`/`RPUSH k e...` (the X variants too, the key having
//! existed), event `lpush`/`rpush`; pops record the count actually popped (`LPOP k` for a single
//! pop, `LPOP k n` otherwise; LMPOP and BLMPOP as LPOP/RPOP of their key); LMOVE and RPOPLPUSH
//! record `LMOVE src dst FROM TO` on the source (`lpop`/`rpop`) with a companion `lpush`/`rpush`
//! on the destination; LSET, LINSERT, LREM, LTRIM record themselves (`lset`, `linsert`, `lrem`,
//! `ltrim`). A blocking pop records the pop it finally performed, attributed to the blocked client,
//! never the block. When a write empties a list its key is deleted: the record carrying the effect
//! has change `remove` and type `none`, and a companion `del` record (no args, as Redis's `del`
//! notification) follows it. Writes that change nothing record nothing.

use std::sync::Arc;

use smallvec::SmallVec;

use super::args::{count, int, is, non_negative, Cursor};
use super::{cmd, flag::*, CommandSpec, Ctx};
use crate::changes::ChangeKind;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::blocking::{self, after, record_move, Op, Waiter};
use crate::keyspace::list::{Fill, List};
use crate::keyspace::value::{Collection, Key, Meta, Value, ValueType};
use crate::keyspace::Locked;
use crate::protocol::resp::Args;
use crate::server::session::{Action, Blocked};

const L: &[&str] = &["list"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), L, "list", lpush,
        "Prepend one or multiple elements to a list", "key element [element ...]", "1.0.0",
        "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
    cmd!("rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), L, "list", rpush,
        "Append one or multiple elements to a list", "key element [element ...]", "1.0.0",
        "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
    cmd!("lpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), L, "list", lpushx,
        "Prepend an element to a list, only if the list exists", "key element [element ...]", "2.2.0",
        "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
    cmd!("rpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), L, "list", rpushx,
        "Append an element to a list, only if the list exists", "key element [element ...]", "2.2.0",
        "O(1) for each element added, so O(N) to add N elements when the command is called with multiple arguments."),
    cmd!("lpop", -2, WRITE | FAST, (1, 1, 1), L, "list", lpop,
        "Remove and get the first elements in a list", "key [count]", "1.0.0",
        "O(N) where N is the number of elements returned"),
    cmd!("rpop", -2, WRITE | FAST, (1, 1, 1), L, "list", rpop,
        "Remove and get the last elements in a list", "key [count]", "1.0.0",
        "O(N) where N is the number of elements returned"),
    cmd!("llen", 2, READONLY | FAST, (1, 1, 1), L, "list", llen,
        "Get the length of a list", "key", "1.0.0", "O(1)"),
    cmd!("lrange", 4, READONLY, (1, 1, 1), L, "list", lrange,
        "Get a range of elements from a list", "key start stop", "1.0.0",
        "O(S+N) where S is the distance of start offset from HEAD for small lists, from nearest end (HEAD or TAIL) for large lists; and N is the number of elements in the specified range."),
    cmd!("lindex", 3, READONLY, (1, 1, 1), L, "list", lindex,
        "Get an element from a list by its index", "key index", "1.0.0",
        "O(N) where N is the number of elements to traverse to get to the element at index. This makes asking for the first or the last element of the list O(1)."),
    cmd!("lset", 4, WRITE | DENYOOM, (1, 1, 1), L, "list", lset,
        "Set the value of an element in a list by its index", "key index element", "1.0.0",
        "O(N) where N is the length of the list. Setting either the first or the last element of the list is O(1)."),
    cmd!("linsert", 5, WRITE | DENYOOM, (1, 1, 1), L, "list", linsert,
        "Insert an element before or after another element in a list", "key <BEFORE | AFTER> pivot element", "2.2.0",
        "O(N) where N is the number of elements to traverse before seeing the value pivot. This means that inserting somewhere on the left end on the list (head) can be considered O(1) and inserting somewhere on the right end (tail) is O(N)."),
    cmd!("lrem", 4, WRITE, (1, 1, 1), L, "list", lrem,
        "Remove elements from a list", "key count element", "1.0.0",
        "O(N+M) where N is the length of the list and M is the number of elements removed."),
    cmd!("ltrim", 4, WRITE, (1, 1, 1), L, "list", ltrim,
        "Trim a list to the specified range", "key start stop", "1.0.0",
        "O(N) where N is the number of elements to be removed by the operation."),
    cmd!("lpos", -3, READONLY, (1, 1, 1), L, "list", lpos,
        "Return the index of matching elements on a list", "key element [RANK rank] [COUNT num-matches] [MAXLEN len]", "6.0.6",
        "O(N) where N is the number of elements in the list, for the average case. When searching for elements near the head or the tail of the list, or when the MAXLEN option is provided, the command may run in constant time."),
    cmd!("lmove", 5, WRITE | DENYOOM, (1, 2, 1), L, "list", lmove,
        "Pop an element from a list, push it to another list and return it", "source destination <LEFT | RIGHT> <LEFT | RIGHT>", "6.2.0", "O(1)"),
    cmd!("rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), L, "list", rpoplpush,
        "Remove the last element in a list, prepend it to another list and return it", "source destination", "1.2.0", "O(1)"),
    cmd!("lmpop", -4, WRITE | MOVABLE_KEYS, (0, 0, 0), L, "list", lmpop,
        "Pop elements from a list", "numkeys key [key ...] <LEFT | RIGHT> [COUNT count]", "7.0.0",
        "O(N+M) where N is the number of provided keys and M is the number of elements returned."),
    cmd!("blpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), L, "list", blpop,
        "Remove and get the first element in a list, or block until one is available", "key [key ...] timeout", "2.0.0",
        "O(N) where N is the number of provided keys."),
    cmd!("brpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), L, "list", brpop,
        "Remove and get the last element in a list, or block until one is available", "key [key ...] timeout", "2.0.0",
        "O(N) where N is the number of provided keys."),
    cmd!("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), L, "list", blmove,
        "Pop an element from a list, push it to another list and return it; or block until one is available", "source destination <LEFT | RIGHT> <LEFT | RIGHT> timeout", "6.2.0", "O(1)"),
    cmd!("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), L, "list", brpoplpush,
        "Pop an element from a list, push it to another list and return it; or block until one is available", "source destination timeout", "2.2.0", "O(1)"),
    cmd!("blmpop", -5, WRITE | BLOCKING | MOVABLE_KEYS, (0, 0, 0), L, "list", blmpop,
        "Pop elements from a list, or block until one is available", "timeout numkeys key [key ...] <LEFT | RIGHT> [COUNT count]", "7.0.0",
        "O(N+M) where N is the number of provided keys and M is the number of elements returned."),
];

fn fill(ctx: &Ctx) -> Fill {
    Fill::current(&ctx.srv.config.hot)
}

/// The list at `key` for reading: `Ok(None)` if missing, WRONGTYPE for other types.
fn read_list<'l>(l: &'l mut Locked, key: &[u8]) -> CmdResult<Option<&'l mut List>> {
    match l.get(key) {
        None => Ok(None),
        Some(Value::List(li, _)) => Ok(Some(li)),
        Some(_) => Err(error::WRONGTYPE.into()),
    }
}

/// The list at `key` for writing (no hit/miss statistics, as Redis's `lookupKeyWrite`).
fn write_list<'l>(l: &'l mut Locked, key: &[u8]) -> CmdResult<Option<&'l mut List>> {
    match l.peek(key) {
        None => Ok(None),
        Some(Value::List(li, _)) => Ok(Some(li)),
        Some(_) => Err(error::WRONGTYPE.into()),
    }
}

/// Deletes `key` after a write emptied its list, recording the companion `del`.
fn delete_emptied(l: &mut Locked, key: &[u8]) {
    l.remove(key);
    l.record(key, "del", ChangeKind::Remove, ValueType::None, &[]);
}

fn side_arg(a: &[u8]) -> CmdResult<bool> {
    if is(a, "LEFT") {
        Ok(true)
    } else if is(a, "RIGHT") {
        Ok(false)
    } else {
        Err(error::SYNTAX.into())
    }
}

// ---------------------------------------------------------------------------------------------
// Pushes and pops

fn push_generic(ctx: &mut Ctx, a: Args, left: bool, only_existing: bool) -> CmdResult {
    let key = a.get(1);
    let fill = fill(ctx);
    let db = ctx.sess.db;
    let mut l = ctx.lock1(key);
    let elems = a.from(2);
    let (len, existed) = match write_list(&mut l, key)? {
        Some(li) => {
            for x in elems.iter() {
                li.push(x, left, fill);
            }
            (li.len(), true)
        }
        None if only_existing => {
            drop(l);
            ctx.out.int(0);
            return Ok(());
        }
        None => {
            let mut li = List::new();
            for x in elems.iter() {
                li.push(x, left, fill);
            }
            let n = li.len();
            l.put(key, Value::List(Box::new(li), Meta::now()), false);
            (n, false)
        }
    };
    l.signal_ready(db, key);
    let (cmd, ev): (&[u8], &str) = if left {
        (b"LPUSH", "lpush")
    } else {
        (b"RPUSH", "rpush")
    };
    let mut args: SmallVec<[&[u8]; 8]> = SmallVec::with_capacity(a.len());
    args.push(cmd);
    // Pushes one by one: `extend` over a skipping iterator is not inlined here and cost about
    // a hundred instructions per push.
    for i in 1..a.len() {
        args.push(a.get(i));
    }
    l.record(key, ev, ChangeKind::upsert(existed), ValueType::List, &args);
    drop(l);
    ctx.out.int(len as i64);
    Ok(())
}

fn lpush(ctx: &mut Ctx, a: Args) -> CmdResult {
    push_generic(ctx, a, true, false)
}

fn rpush(ctx: &mut Ctx, a: Args) -> CmdResult {
    push_generic(ctx, a, false, false)
}

fn lpushx(ctx: &mut Ctx, a: Args) -> CmdResult {
    push_generic(ctx, a, true, true)
}

fn rpushx(ctx: &mut Ctx, a: Args) -> CmdResult {
    push_generic(ctx, a, false, true)
}

/// Records a pop of `n` elements from `key` (`LPOP k` when `single`), deleting an emptied key.
fn record_pop(l: &mut Locked, key: &[u8], left: bool, n: usize, single: bool, emptied: bool) {
    let (cmd, ev): (&[u8], &str) = if left {
        (b"LPOP", "lpop")
    } else {
        (b"RPOP", "rpop")
    };
    let (kind, vt) = after(emptied);
    if emptied {
        l.remove(key);
    }
    if single {
        l.record(key, ev, kind, vt, &[cmd, key]);
    } else {
        let mut b = itoa::Buffer::new();
        l.record(key, ev, kind, vt, &[cmd, key, b.format(n).as_bytes()]);
    }
    if emptied {
        l.record(key, "del", ChangeKind::Remove, ValueType::None, &[]);
    }
}

fn pop_generic(ctx: &mut Ctx, a: Args, left: bool) -> CmdResult {
    if a.len() > 3 {
        return Err(error::wrong_arity(if left { "lpop" } else { "rpop" }));
    }
    let key = a.get(1);
    let count = if a.len() == 3 {
        Some(count(a.get(2))? as u64)
    } else {
        None
    };
    let mut l = ctx.lock1(key);
    let Some(li) = write_list(&mut l, key)? else {
        drop(l);
        match count {
            Some(_) => ctx.out.null_array(),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    match count {
        None => {
            let Some(x) = li.pop(left) else {
                drop(l);
                ctx.out.null();
                return Ok(());
            };
            let emptied = li.is_empty();
            record_pop(&mut l, key, left, 1, true, emptied);
            drop(l);
            ctx.out.bulk(&x);
        }
        Some(0) => {
            drop(l);
            ctx.out.array(0);
        }
        Some(n) => {
            let n = (n.min(usize::MAX as u64) as usize).min(li.len());
            ctx.out.array(n);
            for _ in 0..n {
                if let Some(x) = li.pop(left) {
                    ctx.out.bulk(&x);
                }
            }
            let emptied = li.is_empty();
            record_pop(&mut l, key, left, n, false, emptied);
        }
    }
    Ok(())
}

fn lpop(ctx: &mut Ctx, a: Args) -> CmdResult {
    pop_generic(ctx, a, true)
}

fn rpop(ctx: &mut Ctx, a: Args) -> CmdResult {
    pop_generic(ctx, a, false)
}

// ---------------------------------------------------------------------------------------------
// Reads

fn llen(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let n = read_list(&mut l, a.get(1))?.map_or(0, |li| li.len());
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

/// Redis's range normalisation: `Some((start, count))`, or None for an empty range.
fn range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if start < 0 { start + len } else { start };
    let mut e = if end < 0 { end + len } else { end };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, (e - s + 1) as usize))
}

fn lrange(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (start, end) = (int(a.get(2))?, int(a.get(3))?);
    let mut l = ctx.lock1(a.get(1));
    let Some(li) = read_list(&mut l, a.get(1))? else {
        drop(l);
        ctx.out.array(0);
        return Ok(());
    };
    match range(start, end, li.len()) {
        None => ctx.out.array(0),
        Some((s, n)) => {
            ctx.out.array(n);
            for x in li.range(s, n) {
                ctx.out.bulk(x);
            }
        }
    }
    Ok(())
}

/// An index from either end, or None if out of range.
fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { i.checked_add(len as i64)? } else { i };
    (i >= 0 && (i as u64) < len as u64).then_some(i as usize)
}

fn lindex(ctx: &mut Ctx, a: Args) -> CmdResult {
    // Redis looks the key up before it parses the index.
    let mut l = ctx.lock1(a.get(1));
    let Some(li) = read_list(&mut l, a.get(1))? else {
        drop(l);
        ctx.out.null();
        return Ok(());
    };
    let i = int(a.get(2))?;
    match index(i, li.len()).and_then(|i| li.get(i)) {
        Some(x) => ctx.out.bulk(x),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lpos(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, elem) = (a.get(1), a.get(2));
    let (mut rank, mut count, mut maxlen) = (1i64, None::<i64>, 0i64);
    let mut c = Cursor::new(a, 3);
    while let Some(opt) = c.next_arg() {
        if !c.has_more() {
            return Err(error::SYNTAX.into());
        }
        if is(opt, "RANK") {
            rank = c.i64()?;
            if rank == 0 {
                return Err(error::LPOS_RANK_ZERO.into());
            }
        } else if is(opt, "COUNT") {
            count = Some(non_negative(c.value()?, error::LPOS_COUNT_NEGATIVE)? as i64);
        } else if is(opt, "MAXLEN") {
            maxlen = non_negative(c.value()?, error::LPOS_MAXLEN_NEGATIVE)? as i64;
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    let mut l = ctx.lock1(key);
    let Some(li) = read_list(&mut l, key)? else {
        drop(l);
        match count {
            Some(_) => ctx.out.array(0),
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let len = li.len();
    let want = match count {
        None => 1,
        Some(0) => usize::MAX,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let mut skip = rank.unsigned_abs() - 1;
    let limit = if maxlen == 0 {
        usize::MAX
    } else {
        maxlen as usize
    };
    let mut hits: SmallVec<[usize; 8]> = SmallVec::new();
    let mut scan = |i: usize, x: &[u8]| -> bool {
        if x == elem {
            if skip > 0 {
                skip -= 1;
            } else {
                hits.push(i);
                if hits.len() >= want {
                    return false;
                }
            }
        }
        true
    };
    if rank > 0 {
        for (i, x) in li.iter().enumerate().take(limit) {
            if !scan(i, x) {
                break;
            }
        }
    } else {
        for (k, x) in li.iter().rev().enumerate().take(limit) {
            if !scan(len - 1 - k, x) {
                break;
            }
        }
    }
    drop(l);
    match count {
        Some(_) => {
            ctx.out.array(hits.len());
            for i in hits {
                ctx.out.int(i as i64);
            }
        }
        None => match hits.first() {
            Some(&i) => ctx.out.int(i as i64),
            None => ctx.out.null(),
        },
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Positional edits

fn lset(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, elem) = (a.get(1), a.get(3));
    let fill = fill(ctx);
    let mut l = ctx.lock1(key);
    let Some(li) = write_list(&mut l, key)? else {
        return Err(error::NO_SUCH_KEY.into());
    };
    let i = int(a.get(2))?;
    let Some(at) = index(i, li.len()) else {
        return Err(error::OUT_OF_RANGE.into());
    };
    li.set(at, elem, fill);
    l.record(
        key,
        "lset",
        ChangeKind::Modify,
        ValueType::List,
        &[b"LSET", key, a.get(2), elem],
    );
    drop(l);
    ctx.out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, pivot, elem) = (a.get(1), a.get(3), a.get(4));
    let after = if is(a.get(2), "AFTER") {
        true
    } else if is(a.get(2), "BEFORE") {
        false
    } else {
        return Err(error::SYNTAX.into());
    };
    let fill = fill(ctx);
    let mut l = ctx.lock1(key);
    let Some(li) = write_list(&mut l, key)? else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    if !li.insert(pivot, elem, after, fill) {
        drop(l);
        ctx.out.int(-1);
        return Ok(());
    }
    let n = li.len();
    l.record(
        key,
        "linsert",
        ChangeKind::Modify,
        ValueType::List,
        &[
            b"LINSERT",
            key,
            if after { b"AFTER" } else { b"BEFORE" },
            pivot,
            elem,
        ],
    );
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn lrem(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, elem) = (a.get(1), a.get(3));
    let count = int(a.get(2))?;
    let mut l = ctx.lock1(key);
    let Some(li) = write_list(&mut l, key)? else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    let removed = li.remove(elem, count);
    if removed > 0 {
        let emptied = li.is_empty();
        let (kind, vt) = after(emptied);
        l.record(key, "lrem", kind, vt, &[b"LREM", key, a.get(2), elem]);
        if emptied {
            delete_emptied(&mut l, key);
        }
    }
    drop(l);
    ctx.out.int(removed as i64);
    Ok(())
}

fn ltrim(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let (start, end) = (int(a.get(2))?, int(a.get(3))?);
    let mut l = ctx.lock1(key);
    if let Some(li) = write_list(&mut l, key)? {
        let len = li.len();
        let (s, n) = range(start, end, len).unwrap_or((0, 0));
        if n < len {
            li.trim(s, s + n);
            let emptied = li.is_empty();
            let (kind, vt) = after(emptied);
            l.record(key, "ltrim", kind, vt, &[b"LTRIM", key, a.get(2), a.get(3)]);
            if emptied {
                delete_emptied(&mut l, key);
            }
        }
    }
    drop(l);
    ctx.out.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// LMOVE and LMPOP

/// LMOVE in the caller's locks (`src` and `dst` locked). `Ok(None)` if `src` is missing.
fn lmove_locked(
    l: &mut Locked,
    db: usize,
    src: &[u8],
    dst: &[u8],
    from_left: bool,
    to_left: bool,
    fill: Fill,
) -> CmdResult<Option<Key>> {
    if write_list(l, src)?.is_none() {
        return Ok(None);
    }
    let dst_existed = write_list(l, dst)?.is_some();
    let Some(li) = write_list(l, src)? else {
        return Ok(None);
    };
    let Some(x) = li.pop(from_left) else {
        return Ok(None);
    };
    // Rotating a list onto itself never empties it.
    let emptied = li.is_empty() && src != dst;
    if emptied {
        l.remove(src);
    }
    blocking::push_into(l, db, dst, &x, to_left, fill);
    let who = l.who;
    record_move(
        l,
        who,
        db,
        src,
        dst,
        from_left,
        to_left,
        emptied,
        dst_existed || src == dst,
    );
    Ok(Some(x))
}

fn lmove_generic(ctx: &mut Ctx, src: &[u8], dst: &[u8], from: bool, to: bool) -> CmdResult {
    let fill = fill(ctx);
    let db = ctx.sess.db;
    let mut l = ctx.lock(&[src, dst]);
    let moved = lmove_locked(&mut l, db, src, dst, from, to, fill)?;
    drop(l);
    match moved {
        Some(x) => ctx.out.bulk(&x),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lmove(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (from, to) = (side_arg(a.get(3))?, side_arg(a.get(4))?);
    lmove_generic(ctx, a.get(1), a.get(2), from, to)
}

fn rpoplpush(ctx: &mut Ctx, a: Args) -> CmdResult {
    lmove_generic(ctx, a.get(1), a.get(2), false, true)
}

/// Parsed `numkeys key... LEFT|RIGHT [COUNT n]` starting at `at`.
struct MPop<'a> {
    keys: SmallVec<[&'a [u8]; 4]>,
    left: bool,
    count: usize,
}

fn parse_mpop<'a>(a: Args<'a>, at: usize) -> CmdResult<MPop<'a>> {
    let n = int(a.get(at)).map_err(|_| CmdError::from(error::LIST_NUMKEYS))?;
    if n <= 0 {
        return Err(error::LIST_NUMKEYS.into());
    }
    let n = n as u64;
    if n >= (a.len() - at - 1) as u64 {
        return Err(error::SYNTAX.into());
    }
    let n = n as usize;
    let keys: SmallVec<[&[u8]; 4]> = (at + 1..at + 1 + n).map(|i| a.get(i)).collect();
    let left = side_arg(a.get(at + 1 + n))?;
    let mut c = Cursor::new(a, at + 2 + n);
    let mut count = None;
    while let Some(opt) = c.next_arg() {
        if is(opt, "COUNT") && count.is_none() && c.has_more() {
            let v = int(c.value()?).map_err(|_| CmdError::from(error::LIST_COUNT))?;
            if v <= 0 {
                return Err(error::LIST_COUNT.into());
            }
            count = Some(usize::try_from(v).unwrap_or(usize::MAX));
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    Ok(MPop {
        keys,
        left,
        count: count.unwrap_or(1),
    })
}

/// Pops from the first non-empty list of `m.keys` (locked); writes `[key, [elements]]`. False if
/// every list was empty (nothing written).
fn mpop_locked(ctx: &mut Ctx, l: &mut Locked, m: &MPop) -> CmdResult<bool> {
    for &k in &m.keys {
        let Some(li) = write_list(l, k)? else {
            continue;
        };
        let n = m.count.min(li.len());
        ctx.out.array(2);
        ctx.out.bulk(k);
        ctx.out.array(n);
        for _ in 0..n {
            if let Some(x) = li.pop(m.left) {
                ctx.out.bulk(&x);
            }
        }
        let emptied = li.is_empty();
        record_pop(l, k, m.left, n, false, emptied);
        return Ok(true);
    }
    Ok(false)
}

fn lmpop(ctx: &mut Ctx, a: Args) -> CmdResult {
    let m = parse_mpop(a, 1)?;
    let mut l = ctx.lock(&m.keys);
    if !mpop_locked(ctx, &mut l, &m)? {
        drop(l);
        ctx.out.null_array();
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Blocking pops

/// Parses a blocking timeout (seconds, decimals allowed) into ms; 0 means forever. Mirrors
/// Redis's `getTimeoutFromObjectOrReply`, including its C conversion of huge values.
///
/// The ms are rounded up, as Redis does since 7.0.8 (`ceill`): a timeout under one ms waits one
/// ms rather than becoming 0 (forever). BullMQ relies on it: against 7.0.8+ its workers block
/// on the queue's marker with BZPOPMIN timeouts down to 0.001 s (`canBlockFor1Ms`), and a
/// timeout truncated to 0 would block a worker until the next job instead of waking it for a
/// delayed one. (Redis computes in `long double`, so for a few inputs its ms are one more.)
pub(crate) fn timeout_ms(raw: &[u8], now: u64) -> CmdResult<u64> {
    let f = crate::util::num::parse_f64(raw)
        .filter(|_| !raw.starts_with(b"+") || raw.len() > 1)
        .ok_or_else(|| CmdError::from(error::TIMEOUT_NOT_FLOAT))?;
    let ms = (f * 1000.0).ceil();
    // C's (long long) cast of an out-of-range double yields LLONG_MIN on the platforms Redis
    // runs on: "negative".
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&ms) {
        return Err(error::TIMEOUT_NEG.into());
    }
    let t = ms as i64;
    if t < 0 {
        return Err(error::TIMEOUT_NEG.into());
    }
    if t > 0 && t > i64::MAX - now as i64 {
        return Err(error::TIMEOUT_NOT_FLOAT.into());
    }
    Ok(t as u64)
}

/// Registers a waiter on `keys` (locked in `l`) and tells the connection to block.
pub(crate) fn block(ctx: &mut Ctx, mut l: Locked, keys: &[&[u8]], op: Op, ms: u64) {
    let mut uniq: Vec<Key> = Vec::with_capacity(keys.len());
    for k in keys {
        if !uniq.iter().any(|u| u.as_slice() == *k) {
            uniq.push(Key::from_slice(k));
        }
    }
    let (w, rx) = Waiter::new(
        ctx.sess.id,
        ctx.sess.db,
        uniq,
        op,
        ctx.sess.resp3,
        fill(ctx),
    );
    blocking::register(&mut l, &ctx.srv.keyspace.blocked, &w);
    drop(l);
    let deadline = if ms == 0 {
        None
    } else {
        tokio::time::Instant::now().checked_add(std::time::Duration::from_millis(ms))
    };
    ctx.sess.action = Some(Action::Block(Blocked {
        waiter: Arc::clone(&w),
        rx,
        deadline,
        slow: None,
    }));
}

fn bpop_generic(ctx: &mut Ctx, a: Args, left: bool) -> CmdResult {
    let ms = timeout_ms(a.get(a.len() - 1), ctx.now)?;
    let keys: SmallVec<[&[u8]; 4]> = (1..a.len() - 1).map(|i| a.get(i)).collect();
    let mut l = ctx.lock(&keys);
    for &k in &keys {
        let Some(li) = write_list(&mut l, k)? else {
            continue;
        };
        let Some(x) = li.pop(left) else {
            continue;
        };
        let emptied = li.is_empty();
        record_pop(&mut l, k, left, 1, true, emptied);
        drop(l);
        ctx.out.array(2);
        ctx.out.bulk(k);
        ctx.out.bulk(&x);
        return Ok(());
    }
    block(ctx, l, &keys, Op::Pop { left }, ms);
    Ok(())
}

fn blpop(ctx: &mut Ctx, a: Args) -> CmdResult {
    bpop_generic(ctx, a, true)
}

fn brpop(ctx: &mut Ctx, a: Args) -> CmdResult {
    bpop_generic(ctx, a, false)
}

fn blmove_generic(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    from: bool,
    to: bool,
    raw_timeout: &[u8],
) -> CmdResult {
    let ms = timeout_ms(raw_timeout, ctx.now)?;
    let fill = fill(ctx);
    let db = ctx.sess.db;
    let mut l = ctx.lock(&[src, dst]);
    if write_list(&mut l, src)?.is_some() {
        let moved = lmove_locked(&mut l, db, src, dst, from, to, fill)?;
        drop(l);
        match moved {
            Some(x) => ctx.out.bulk(&x),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let op = Op::Move {
        dst: Key::from_slice(dst),
        from_left: from,
        to_left: to,
    };
    block(ctx, l, &[src], op, ms);
    Ok(())
}

fn blmove(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (from, to) = (side_arg(a.get(3))?, side_arg(a.get(4))?);
    blmove_generic(ctx, a.get(1), a.get(2), from, to, a.get(5))
}

fn brpoplpush(ctx: &mut Ctx, a: Args) -> CmdResult {
    blmove_generic(ctx, a.get(1), a.get(2), false, true, a.get(3))
}

fn blmpop(ctx: &mut Ctx, a: Args) -> CmdResult {
    let m = parse_mpop(a, 2)?;
    let ms = timeout_ms(a.get(1), ctx.now)?;
    let mut l = ctx.lock(&m.keys);
    if mpop_locked(ctx, &mut l, &m)? {
        return Ok(());
    }
    let op = Op::MPop {
        left: m.left,
        count: m.count,
    };
    block(ctx, l, &m.keys, op, ms);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_redis() {
        assert_eq!(range(0, -1, 5), Some((0, 5)));
        assert_eq!(range(-100, 100, 5), Some((0, 5)));
        assert_eq!(range(3, 1, 5), None);
        assert_eq!(range(5, 10, 5), None);
        assert_eq!(range(-2, -1, 5), Some((3, 2)));
        assert_eq!(range(i64::MIN, i64::MAX, 5), Some((0, 5)));
    }

    #[test]
    fn timeouts_follow_redis() {
        let now = 1_700_000_000_000;
        assert_eq!(timeout_ms(b"0", now), Ok(0));
        assert_eq!(timeout_ms(b"0.0001", now), Ok(1));
        assert_eq!(timeout_ms(b"0.0005", now), Ok(1));
        assert_eq!(timeout_ms(b"1e-3", now), Ok(1));
        assert_eq!(timeout_ms(b"1.0005", now), Ok(1001));
        assert_eq!(timeout_ms(b"-0", now), Ok(0));
        assert_eq!(timeout_ms(b"1.5", now), Ok(1500));
        assert_eq!(timeout_ms(b"-1", now), Err(error::TIMEOUT_NEG.into()));
        assert_eq!(timeout_ms(b"inf", now), Err(error::TIMEOUT_NEG.into()));
        assert_eq!(timeout_ms(b"1e300", now), Err(error::TIMEOUT_NEG.into()));
        assert_eq!(
            timeout_ms(b"abc", now),
            Err(error::TIMEOUT_NOT_FLOAT.into())
        );
        assert_eq!(
            timeout_ms(b"9000000000000000", now),
            Ok(9_000_000_000_000_000_000)
        );
    }
}
