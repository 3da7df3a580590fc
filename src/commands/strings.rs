//! Strings: GET/SET and friends, counters, ranges, LCS.
//!
//! Recorded effects (DESIGN.md, "Record what happened"): every SET-like write records `SET k v`
//! with an absolute `PXAT` when it sets a TTL (or `KEEPTTL` when it keeps one); counters record
//! the resulting value as `SET k <n> KEEPTTL`, so a float increment replays bit-exactly; APPEND
//! and SETRANGE record themselves (they are deterministic and far smaller than the result).

use super::args::{int, is, Cursor};
use super::{cmd, flag::*, CommandSpec, Ctx};
use crate::changes::ChangeKind;
use crate::error::{self, CmdResult};
use crate::keyspace::value::{str_grow_zeroed, str_reserve, Str, Value, ValueType};
use crate::keyspace::Locked;
use crate::protocol::resp::Args;
use crate::util::num::{parse_i64, LongDouble};

const S: &[&str] = &["string"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("get", 2, READONLY | FAST, (1, 1, 1), S, "string", get,
        "Returns the string value of a key.", "key", "1.0.0", "O(1)"),
    cmd!("set", -3, WRITE | DENYOOM, (1, 1, 1), S, "string", set,
        "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.",
        "key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]",
        "1.0.0", "O(1)"),
    cmd!("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), S, "string", setnx,
        "Set the string value of a key only when the key doesn't exist.", "key value", "1.0.0", "O(1)"),
    cmd!("setex", 4, WRITE | DENYOOM, (1, 1, 1), S, "string", setex,
        "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.",
        "key seconds value", "2.0.0", "O(1)"),
    cmd!("psetex", 4, WRITE | DENYOOM, (1, 1, 1), S, "string", psetex,
        "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.",
        "key milliseconds value", "2.6.0", "O(1)"),
    cmd!("mget", -2, READONLY | FAST, (1, -1, 1), S, "string", mget,
        "Atomically returns the string values of one or more keys.", "key [key ...]", "1.0.0", "O(N) where N is the number of keys to retrieve."),
    cmd!("mset", -3, WRITE | DENYOOM, (1, -1, 2), S, "string", mset,
        "Atomically creates or modifies the string values of one or more keys.",
        "key value [key value ...]", "1.0.1", "O(N) where N is the number of keys to set."),
    cmd!("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), S, "string", msetnx,
        "Atomically modifies the string values of one or more keys only when all keys don't exist.",
        "key value [key value ...]", "1.0.1", "O(N) where N is the number of keys to set."),
    cmd!("getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), S, "string", getset,
        "Returns the previous string value of a key after setting it to a new value.", "key value", "1.0.0", "O(1)"),
    cmd!("getdel", 2, WRITE | FAST, (1, 1, 1), S, "string", getdel,
        "Returns the string value of a key after deleting the key.", "key", "6.2.0", "O(1)"),
    cmd!("getex", -2, WRITE | FAST, (1, 1, 1), S, "string", getex,
        "Returns the string value of a key after setting its expiration time.",
        "key [EX seconds | PX milliseconds | EXAT unix-time-seconds | PXAT unix-time-milliseconds | PERSIST]",
        "6.2.0", "O(1)"),
    cmd!("append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), S, "string", append,
        "Appends a string to the value of a key. Creates the key if it doesn't exist.", "key value", "2.0.0", "O(1)"),
    cmd!("strlen", 2, READONLY | FAST, (1, 1, 1), S, "string", strlen,
        "Returns the length of a string value.", "key", "2.2.0", "O(1)"),
    cmd!("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), S, "string", incr,
        "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "key", "1.0.0", "O(1)"),
    cmd!("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), S, "string", decr,
        "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", "key", "1.0.0", "O(1)"),
    cmd!("incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), S, "string", incrby,
        "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "key increment", "1.0.0", "O(1)"),
    cmd!("decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), S, "string", decrby,
        "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", "key decrement", "1.0.0", "O(1)"),
    cmd!("incrbyfloat", 3, WRITE | DENYOOM | FAST, (1, 1, 1), S, "string", incrbyfloat,
        "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", "key increment", "2.6.0", "O(1)"),
    cmd!("getrange", 4, READONLY, (1, 1, 1), S, "string", getrange,
        "Returns a substring of the string stored at a key.", "key start end", "2.4.0", "O(N) where N is the length of the returned string."),
    cmd!("substr", 4, READONLY, (1, 1, 1), S, "string", getrange,
        "Returns a substring from a string value.", "key start end", "1.0.0", "O(N) where N is the length of the returned string."),
    cmd!("setrange", 4, WRITE | DENYOOM, (1, 1, 1), S, "string", setrange,
        "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", "key offset value", "2.2.0", "O(1), not counting the time taken to copy the new string in place."),
    cmd!("lcs", -3, READONLY, (1, 2, 1), S, "string", lcs,
        "Finds the longest common substring.", "key1 key2 [LEN] [IDX] [MINMATCHLEN min-match-len] [WITHMATCHLEN]", "7.0.0", "O(N*M) where N and M are the lengths of s1 and s2, respectively"),
];

fn get(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    match l.get_str(a.get(1))? {
        Some(s) => ctx.out.bulk(s),
        None => ctx.out.null(),
    }
    Ok(())
}

/// When a write sets a key's expiry.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ttl {
    /// Clear any TTL (a plain SET).
    Clear,
    Keep,
    /// Absolute ms.
    At(u64),
}

/// Parses an EX/PX/EXAT/PXAT amount into an absolute time, with Redis's validation.
fn expire_at(unit_ms: bool, absolute: bool, raw: &[u8], now: u64, cmd: &str) -> CmdResult<u64> {
    let n = int(raw)?;
    if n <= 0 {
        return Err(error::invalid_expire(cmd));
    }
    let ms = if unit_ms {
        n
    } else {
        n.checked_mul(1000)
            .ok_or_else(|| error::invalid_expire(cmd))?
    };
    let at = if absolute {
        ms
    } else {
        ms.checked_add(now as i64)
            .ok_or_else(|| error::invalid_expire(cmd))?
    };
    Ok(at as u64)
}

/// Stores a string and records it as `SET k v [PXAT t | KEEPTTL]`.
fn write_string(l: &mut Locked, key: &[u8], val: &[u8], ttl: Ttl, event: &str) -> bool {
    let existed = l.put(key, Value::string(val), ttl == Ttl::Keep);
    let mut buf = itoa::Buffer::new();
    match ttl {
        Ttl::At(at) => {
            l.set_ttl(key, at);
            let t = buf.format(at);
            l.record(
                key,
                event,
                ChangeKind::upsert(existed),
                ValueType::String,
                &[b"SET", key, val, b"PXAT", t.as_bytes()],
            );
        }
        Ttl::Keep if l.ttl_of(key).is_some() => {
            l.record(
                key,
                event,
                ChangeKind::upsert(existed),
                ValueType::String,
                &[b"SET", key, val, b"KEEPTTL"],
            );
        }
        _ => {
            l.record(
                key,
                event,
                ChangeKind::upsert(existed),
                ValueType::String,
                &[b"SET", key, val],
            );
        }
    }
    existed
}

fn set(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, val) = (a.get(1), a.get(2));
    let mut c = Cursor::new(a, 3);
    let (mut nx, mut xx, mut want_get) = (false, false, false);
    let mut ttl = Ttl::Clear;
    // The time is parsed after every option is known to be valid, as Redis does: a syntax error
    // anywhere wins over a bad number.
    let mut timed: Option<(bool, bool, &[u8])> = None;
    let mut ttl_set = false;
    while let Some(opt) = c.next_arg() {
        if is(opt, "NX") && !xx {
            nx = true;
        } else if is(opt, "XX") && !nx {
            xx = true;
        } else if is(opt, "GET") {
            want_get = true;
        } else if is(opt, "KEEPTTL") && !ttl_set {
            ttl = Ttl::Keep;
            ttl_set = true;
        } else if !ttl_set && (is(opt, "EX") || is(opt, "PX") || is(opt, "EXAT") || is(opt, "PXAT"))
        {
            let ms = is(opt, "PX") || is(opt, "PXAT");
            let abs = is(opt, "EXAT") || is(opt, "PXAT");
            let raw = c.next_arg().ok_or(error::CmdError::from(error::SYNTAX))?;
            timed = Some((ms, abs, raw));
            ttl_set = true;
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    if let Some((ms, abs, raw)) = timed {
        ttl = Ttl::At(expire_at(ms, abs, raw, ctx.now, "set")?);
    }
    let mut l = ctx.lock1(key);
    let old: Option<Str> = if want_get {
        l.get_str(key)?.map(|s| s.clone())
    } else {
        None
    };
    // A plain SET needs no lookup of its own: `put` finds the key (and expires it) anyway.
    let exists = if want_get {
        old.is_some()
    } else {
        (nx || xx) && l.exists(key)
    };
    if (nx && exists) || (xx && !exists) {
        drop(l);
        if want_get {
            match old {
                Some(o) => ctx.out.bulk(&o),
                None => ctx.out.null(),
            }
        } else {
            ctx.out.null();
        }
        return Ok(());
    }
    write_string(&mut l, key, val, ttl, "set");
    drop(l);
    if want_get {
        match old {
            Some(o) => ctx.out.bulk(&o),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.ok();
    }
    Ok(())
}

fn setnx(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let set = set_if_absent(&mut l, a.get(1), a.get(2));
    ctx.out.int(i64::from(set));
    Ok(())
}

/// Sets `key` to the string `val` unless it exists (SETNX, DEBUG POPULATE); whether it did.
pub(crate) fn set_if_absent(l: &mut Locked, key: &[u8], val: &[u8]) -> bool {
    if l.exists(key) {
        return false;
    }
    write_string(l, key, val, Ttl::Clear, "set");
    true
}

fn setex_generic(ctx: &mut Ctx, a: Args, ms: bool, name: &str) -> CmdResult {
    let at = expire_at(ms, false, a.get(2), ctx.now, name)?;
    let mut l = ctx.lock1(a.get(1));
    write_string(&mut l, a.get(1), a.get(3), Ttl::At(at), "set");
    drop(l);
    ctx.out.ok();
    Ok(())
}

fn setex(ctx: &mut Ctx, a: Args) -> CmdResult {
    setex_generic(ctx, a, false, "setex")
}

fn psetex(ctx: &mut Ctx, a: Args) -> CmdResult {
    setex_generic(ctx, a, true, "psetex")
}

fn mget(ctx: &mut Ctx, a: Args) -> CmdResult {
    let keys: Vec<&[u8]> = a.iter().skip(1).collect();
    let mut l = ctx.lock(&keys);
    ctx.out.array(keys.len());
    for k in keys {
        match l.get(k) {
            Some(Value::Str(s, _)) => ctx.out.bulk(s),
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

fn mset_generic(ctx: &mut Ctx, a: Args, nx: bool) -> CmdResult<bool> {
    if a.len().is_multiple_of(2) {
        return Err(error::wrong_arity(if nx { "msetnx" } else { "mset" }));
    }
    let keys: Vec<&[u8]> = a.iter().skip(1).step_by(2).collect();
    let mut l = ctx.lock(&keys);
    if nx && keys.iter().any(|k| l.exists(k)) {
        return Ok(false);
    }
    let mut i = 1;
    while i + 1 < a.len() {
        write_string(&mut l, a.get(i), a.get(i + 1), Ttl::Clear, "set");
        i += 2;
    }
    Ok(true)
}

fn mset(ctx: &mut Ctx, a: Args) -> CmdResult {
    mset_generic(ctx, a, false)?;
    ctx.out.ok();
    Ok(())
}

fn msetnx(ctx: &mut Ctx, a: Args) -> CmdResult {
    let done = mset_generic(ctx, a, true)?;
    ctx.out.int(done as i64);
    Ok(())
}

fn getset(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let old = l.get_str(a.get(1))?.map(|s| s.clone());
    write_string(&mut l, a.get(1), a.get(2), Ttl::Clear, "set");
    drop(l);
    match old {
        Some(o) => ctx.out.bulk(&o),
        None => ctx.out.null(),
    }
    Ok(())
}

fn getdel(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let mut l = ctx.lock1(key);
    if l.get_str(key)?.is_none() {
        drop(l);
        ctx.out.null();
        return Ok(());
    }
    if let Some(Value::Str(s, _)) = l.remove(key) {
        l.record(
            key,
            "del",
            ChangeKind::Remove,
            ValueType::None,
            &[b"DEL", key],
        );
        drop(l);
        ctx.out.bulk(&s);
    }
    Ok(())
}

fn getex(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let mut c = Cursor::new(a, 2);
    // None: leave the TTL; Some(None): PERSIST; Some(Some(t)): set it. The time is checked only
    // once the key is found to hold a string, as Redis does.
    let mut change: Option<Option<(bool, bool, &[u8])>> = None;
    while let Some(opt) = c.next_arg() {
        if change.is_some() {
            return Err(error::SYNTAX.into());
        }
        if is(opt, "PERSIST") {
            change = Some(None);
        } else if is(opt, "EX") || is(opt, "PX") || is(opt, "EXAT") || is(opt, "PXAT") {
            let ms = is(opt, "PX") || is(opt, "PXAT");
            let abs = is(opt, "EXAT") || is(opt, "PXAT");
            change = Some(Some((ms, abs, c.value()?)));
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    let mut l = ctx.lock1(key);
    let Some(val) = l.get_str(key)?.map(|s| s.clone()) else {
        drop(l);
        ctx.out.null();
        return Ok(());
    };
    let change = match change {
        Some(Some((ms, abs, raw))) => Some(Some(expire_at(ms, abs, raw, ctx.now, "getex")?)),
        Some(None) => Some(None),
        None => None,
    };
    match change {
        None => {}
        Some(None) if l.persist(key) => {
            l.record(
                key,
                "persist",
                ChangeKind::Modify,
                ValueType::String,
                &[b"PERSIST", key],
            );
        }
        Some(None) => {}
        Some(Some(at)) if at <= ctx.now => {
            l.remove(key);
            l.record(
                key,
                "del",
                ChangeKind::Remove,
                ValueType::None,
                &[b"DEL", key],
            );
        }
        Some(Some(at)) => {
            l.set_ttl(key, at);
            let mut b = itoa::Buffer::new();
            l.record(
                key,
                "expire",
                ChangeKind::Modify,
                ValueType::String,
                &[b"PEXPIREAT", key, b.format(at).as_bytes()],
            );
        }
    }
    drop(l);
    ctx.out.bulk(&val);
    Ok(())
}

fn max_len(ctx: &Ctx) -> usize {
    ctx.srv
        .config
        .hot
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed) as usize
}

fn append(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, piece) = (a.get(1), a.get(2));
    let max = max_len(ctx);
    let mut l = ctx.lock1(key);
    l.capture_old(key);
    let len = match l.get_str(key)? {
        Some(s) => {
            if s.len() + piece.len() > max {
                return Err(error::STRING_TOO_LONG.into());
            }
            str_reserve(s, s.len() + piece.len());
            s.extend_from_slice(piece);
            let n = s.len();
            l.mark_raw(key);
            l.record(
                key,
                "append",
                ChangeKind::Modify,
                ValueType::String,
                &[b"APPEND", key, piece],
            );
            n
        }
        None => {
            l.put(key, Value::string(piece), false);
            l.record(
                key,
                "append",
                ChangeKind::Insert,
                ValueType::String,
                &[b"APPEND", key, piece],
            );
            piece.len()
        }
    };
    drop(l);
    ctx.out.int(len as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let n = l.get_str(a.get(1))?.map(|s| s.len()).unwrap_or(0);
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

/// Adds `delta` to the integer at `key`, recording the resulting value.
fn incr_by(ctx: &mut Ctx, key: &[u8], delta: i64) -> CmdResult {
    let mut l = ctx.lock1(key);
    let add = |cur: i64| {
        cur.checked_add(delta)
            .ok_or(crate::error::CmdError::from(error::INCR_OVERFLOW))
    };
    let mut b = itoa::Buffer::new();
    l.capture_old(key);
    // An existing counter is rewritten where it lies (as Redis updates an integer object in
    // place): one lookup, where reading it and then storing a new value took two.
    let (new, existed) = match l.get(key) {
        Some(Value::Str(s, m)) => {
            let new = add(parse_i64(s).ok_or(error::NOT_INTEGER)?)?;
            s.clear();
            s.extend_from_slice(b.format(new).as_bytes());
            m.clear_raw();
            (new, true)
        }
        Some(_) => return Err(error::WRONGTYPE.into()),
        None => {
            let new = add(0)?;
            l.put(key, Value::string(b.format(new).as_bytes()), true);
            (new, false)
        }
    };
    let text = b.format(new).as_bytes();
    let ttl = l.ttl_of(key).is_some();
    let args: &[&[u8]] = if ttl {
        &[b"SET", key, text, b"KEEPTTL"]
    } else {
        &[b"SET", key, text]
    };
    l.record(
        key,
        "incrby",
        ChangeKind::upsert(existed),
        ValueType::String,
        args,
    );
    drop(l);
    ctx.out.int(new);
    Ok(())
}

fn incr(ctx: &mut Ctx, a: Args) -> CmdResult {
    incr_by(ctx, a.get(1), 1)
}

fn decr(ctx: &mut Ctx, a: Args) -> CmdResult {
    incr_by(ctx, a.get(1), -1)
}

fn incrby(ctx: &mut Ctx, a: Args) -> CmdResult {
    let d = int(a.get(2))?;
    incr_by(ctx, a.get(1), d)
}

fn decrby(ctx: &mut Ctx, a: Args) -> CmdResult {
    let d = int(a.get(2))?;
    if d == i64::MIN {
        return Err("ERR decrement would overflow".into());
    }
    incr_by(ctx, a.get(1), -d)
}

fn incrbyfloat(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let not_float = || crate::error::CmdError::from(error::NOT_FLOAT);
    // Redis checks the key's type and value before the increment.
    let mut l = ctx.lock1(key);
    let (cur, existed) = match l.get_str(key)? {
        Some(s) => (LongDouble::parse(s).ok_or_else(not_float)?, true),
        None => (LongDouble::ZERO, false),
    };
    let delta = LongDouble::parse(a.get(2)).ok_or_else(not_float)?;
    let text = cur.add_text(&delta).ok_or(error::INCR_NAN)?;
    l.put(key, Value::string(&text), true);
    let ttl = l.ttl_of(key).is_some();
    let args: &[&[u8]] = if ttl {
        &[b"SET", key, &text, b"KEEPTTL"]
    } else {
        &[b"SET", key, &text]
    };
    l.record(
        key,
        "incrbyfloat",
        ChangeKind::upsert(existed),
        ValueType::String,
        args,
    );
    drop(l);
    ctx.out.bulk(&text);
    Ok(())
}

/// Resolves Redis's inclusive, possibly negative range over `len` items; None when empty.
pub fn clamp_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    if start < 0 && end < 0 && start > end {
        return None;
    }
    let mut s = if start < 0 { len + start } else { start };
    let mut e = if end < 0 { len + end } else { end };
    s = s.max(0);
    e = e.max(0);
    if e >= len {
        e = len - 1;
    }
    if len == 0 || s > e {
        return None;
    }
    Some((s as usize, e as usize))
}

fn getrange(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (start, end) = (int(a.get(2))?, int(a.get(3))?);
    let mut l = ctx.lock1(a.get(1));
    match l.get_str(a.get(1))? {
        Some(s) => match clamp_range(start, end, s.len()) {
            Some((x, y)) => ctx.out.bulk(&s[x..=y]),
            None => ctx.out.bulk(b""),
        },
        None => ctx.out.bulk(b""),
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (key, piece) = (a.get(1), a.get(3));
    let off = int(a.get(2))?;
    if off < 0 {
        return Err(error::OFFSET_RANGE.into());
    }
    let off = off as usize;
    let max = max_len(ctx);
    let mut l = ctx.lock1(key);
    if !piece.is_empty() {
        l.capture_old(key);
    }
    let existing = l.get_str(key)?;
    let existed = existing.is_some();
    let cur_len = existing.as_ref().map(|s| s.len()).unwrap_or(0);
    if piece.is_empty() {
        drop(l);
        ctx.out.int(cur_len as i64);
        return Ok(());
    }
    if off.saturating_add(piece.len()) > max {
        return Err(error::STRING_TOO_LONG.into());
    }
    let new_len = match existing {
        Some(s) => {
            if s.len() < off + piece.len() {
                str_grow_zeroed(s, off + piece.len());
            }
            s[off..off + piece.len()].copy_from_slice(piece);
            let n = s.len();
            l.mark_raw(key);
            n
        }
        None => {
            let mut s = Str::from_elem(0, off + piece.len());
            s[off..].copy_from_slice(piece);
            let n = s.len();
            let mut meta = crate::keyspace::value::Meta::now();
            meta.set_raw();
            l.put(key, Value::Str(s, meta), false);
            n
        }
    };
    l.record(
        key,
        "setrange",
        ChangeKind::upsert(existed),
        ValueType::String,
        &[b"SETRANGE", key, a.get(2), piece],
    );
    drop(l);
    ctx.out.int(new_len as i64);
    Ok(())
}

fn lcs(ctx: &mut Ctx, a: Args) -> CmdResult {
    // Redis checks the keys' types (with its own error) before the options.
    let (k1, k2) = (a.get(1), a.get(2));
    let mut l = ctx.lock(&[k1, k2]);
    let not_strings =
        |_| crate::error::CmdError::from("ERR The specified keys must contain string values");
    let s1 = l.get_str(k1).map_err(not_strings)?.map(|s| s.to_vec());
    let s2 = l.get_str(k2).map_err(not_strings)?.map(|s| s.to_vec());
    drop(l);
    let (s1, s2) = (s1.unwrap_or_default(), s2.unwrap_or_default());
    let (mut want_len, mut want_idx, mut with_len) = (false, false, false);
    let mut min_len: i64 = 0;
    let mut c = Cursor::new(a, 3);
    while let Some(opt) = c.next_arg() {
        if is(opt, "LEN") {
            want_len = true;
        } else if is(opt, "IDX") {
            want_idx = true;
        } else if is(opt, "WITHMATCHLEN") {
            with_len = true;
        } else if is(opt, "MINMATCHLEN") {
            min_len = c.i64()?.max(0);
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    if want_len && want_idx {
        return Err("ERR If you want both the length and indexes, please just use IDX.".into());
    }
    let cells = (s1.len() as u64 + 1) * (s2.len() as u64 + 1);
    if cells * 4 > max_len(ctx) as u64 {
        return Err(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len".into(),
        );
    }
    let (n, m) = (s1.len(), s2.len());
    // dp[i][j] = LCS length of s1[..i] and s2[..j], row-major.
    let w = m + 1;
    let mut dp = vec![0u32; (n + 1) * w];
    for i in 1..=n {
        for j in 1..=m {
            dp[i * w + j] = if s1[i - 1] == s2[j - 1] {
                dp[(i - 1) * w + j - 1] + 1
            } else {
                dp[(i - 1) * w + j].max(dp[i * w + j - 1])
            };
        }
    }
    let total = dp[n * w + m] as usize;
    let mut result = vec![0u8; total];
    // (range in key1, range in key2, length), inclusive ranges.
    type Match = ((usize, usize), (usize, usize), usize);
    let mut matches: Vec<Match> = Vec::new();
    let (mut i, mut j, mut idx) = (n, m, total);
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (n, 0, 0, 0);
    while i > 0 && j > 0 {
        let mut emit = false;
        if s1[i - 1] == s2[j - 1] {
            result[idx - 1] = s1[i - 1];
            if a_start == n {
                a_start = i - 1;
                a_end = i - 1;
                b_start = j - 1;
                b_end = j - 1;
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if dp[(i - 1) * w + j] > dp[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != n {
                emit = true;
            }
        }
        if emit {
            let mlen = a_end - a_start + 1;
            if min_len == 0 || mlen as i64 >= min_len {
                matches.push(((a_start, a_end), (b_start, b_end), mlen));
            }
            a_start = n;
        }
    }
    let out = &mut *ctx.out;
    if want_idx {
        out.map(2);
        out.bulk(b"matches");
        out.array(matches.len());
        for (ra, rb, mlen) in &matches {
            out.array(if with_len { 3 } else { 2 });
            for r in [ra, rb] {
                out.array(2);
                out.int(r.0 as i64);
                out.int(r.1 as i64);
            }
            if with_len {
                out.int(*mlen as i64);
            }
        }
        out.bulk(b"len");
        out.int(total as i64);
    } else if want_len {
        out.int(total as i64);
    } else {
        out.bulk(&result);
    }
    Ok(())
}
