//! HyperLogLog: PFADD, PFCOUNT, PFMERGE (and PFSELFTEST, PFDEBUG) over string values in Redis's
//! exact format (`keyspace::hll`), so counts and bytes are Redis's for the same inputs.
//!
//! Recorded effects (DESIGN.md, "Record what happened"):
//! * PFADD records itself, `PFADD key element...` (event `pfadd`), when it changed a register or
//!   created the key: the registers are a pure function of the elements, so the replay is exact
//!   and far smaller than the value. (Whether a replayed sparse value is promoted to dense follows
//!   `hll-sparse-max-bytes` at replay time, as with Redis's AOF and replicas; the registers and
//!   the count never differ.)
//! * PFMERGE records the resulting value, `SET dest <bytes> [KEEPTTL]` (event `pfadd`, the event
//!   Redis emits for it), always, as Redis always propagates and notifies it.
//! * PFCOUNT of one key writes the cached cardinality into the value when it was stale; Redis
//!   then propagates `PFCOUNT key` to its AOF and replicas (no keyspace notification), so Eddy
//!   records `PFCOUNT key` (event `pfcount`, which emits no notification): replaying it writes
//!   the same cache bytes, and a restarted server or a replica holds byte-identical values.
//!   PFCOUNT of several keys writes nothing.
//! * PFDEBUG TODENSE, and GETREG of a sparse value, convert it to dense; Redis propagates the
//!   command without notifying, so Eddy records `PFDEBUG TODENSE key` (event `pfdebug`, no
//!   notification), which replays to the same bytes.
//!
//! PFSELFTEST and PFDEBUG are Redis's debugging commands, with its replies: PFSELFTEST runs the
//! checks of `keyspace::hll::selftest` (it adds ten million elements, as Redis's does, holding
//! the server for 0.16 s in a release build here, where Redis takes 0.32 s), PFDEBUG
//! `GETREG | DECODE | ENCODING | TODENSE key` shows or converts one value.

use super::args::is;
use super::{cmd, flag::*, CommandSpec, Ctx};
use crate::changes::ChangeKind;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::hll::{self, REGISTERS};
use crate::keyspace::value::{Meta, Value, ValueType};
use crate::protocol::resp::Args;

const H: &[&str] = &["hyperloglog"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("pfadd", -2, WRITE | DENYOOM | FAST, (1, 1, 1), H, "hyperloglog", pfadd,
        "Adds the specified elements to the specified HyperLogLog.",
        "key [element [element ...]]", "2.8.9", "O(1) to add every element."),
    cmd!("pfcount", -2, READONLY, (1, -1, 1), H, "hyperloglog", pfcount,
        "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).",
        "key [key ...]", "2.8.9",
        "O(1) with a very small average constant time when called with a single key. O(N) with N being the number of keys, and much bigger constant times, when called with multiple keys."),
    cmd!("pfmerge", -2, WRITE | DENYOOM, (1, -1, 1), H, "hyperloglog", pfmerge,
        "Merge N different HyperLogLogs into a single one.",
        "destkey [sourcekey [sourcekey ...]]", "2.8.9",
        "O(N) to merge N HyperLogLogs, but with high constant times."),
    cmd!("pfselftest", 1, ADMIN, (0, 0, 0), &["hyperloglog", "slow"], "hyperloglog", pfselftest,
        "An internal command for testing HyperLogLog values.", "", "2.8.9", "N/A"),
    cmd!("pfdebug", 3, WRITE | DENYOOM | ADMIN, (2, 2, 1), &["hyperloglog", "slow"], "hyperloglog",
        pfdebug, "Internal commands for debugging HyperLogLog values.", "subcommand key", "2.8.9",
        "N/A"),
];

fn sparse_max(ctx: &Ctx) -> usize {
    ctx.srv
        .config
        .hot
        .hll_sparse_max_bytes
        .load(std::sync::atomic::Ordering::Relaxed) as usize
}

/// A string value modified in place, which Redis reports as encoding `raw`.
fn raw_meta() -> Meta {
    let mut m = Meta::now();
    m.set_raw();
    m
}

fn pfadd(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let max = sparse_max(ctx);
    let elements = a.iter().skip(2);
    let mut l = ctx.lock1(key);
    l.capture_old(key);
    let (changed, existed) = match l.get_str(key)? {
        Some(s) => (hll::add(s, elements, max)?, true),
        None => {
            let mut s = hll::new_hll();
            hll::add(&mut s, elements, max)?;
            // Creating the key counts as a change even with no elements, as in Redis.
            hll::invalidate_cache(&mut s);
            l.put(key, Value::Str(s, raw_meta()), false);
            (true, false)
        }
    };
    if changed {
        l.mark_raw(key);
        let mut rec: Vec<&[u8]> = Vec::with_capacity(a.len());
        rec.push(b"PFADD");
        rec.extend(a.iter().skip(1));
        l.record(
            key,
            "pfadd",
            ChangeKind::upsert(existed),
            ValueType::String,
            &rec,
        );
    }
    drop(l);
    ctx.out.int(changed as i64);
    Ok(())
}

fn pfcount(ctx: &mut Ctx, a: Args) -> CmdResult {
    if a.len() > 2 {
        let keys: Vec<&[u8]> = a.iter().skip(1).collect();
        let mut max = Box::new([0u8; REGISTERS]);
        let mut l = ctx.lock(&keys);
        for k in &keys {
            if let Some(s) = l.get_str(k)? {
                hll::merge_into(&mut max, s)?;
            }
        }
        drop(l);
        ctx.out.int(hll::count_registers(&max) as i64);
        return Ok(());
    }
    let key = a.get(1);
    let mut l = ctx.lock1(key);
    l.capture_old(key);
    let (n, refreshed) = match l.get_str(key)? {
        Some(s) => hll::count(s)?,
        None => (0, false),
    };
    if refreshed {
        l.mark_raw(key);
        l.record(
            key,
            "pfcount",
            ChangeKind::Modify,
            ValueType::String,
            &[b"PFCOUNT", key],
        );
    }
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn pfmerge(ctx: &mut Ctx, a: Args) -> CmdResult {
    let dest = a.get(1);
    let max_bytes = sparse_max(ctx);
    let keys: Vec<&[u8]> = a.iter().skip(1).collect();
    let mut max = Box::new([0u8; REGISTERS]);
    let mut dense = false;
    let mut l = ctx.lock(&keys);
    // The destination is the first source, as in Redis.
    for k in &keys {
        if let Some(s) = l.get_str(k)? {
            hll::check(s)?;
            dense |= hll::is_dense(s);
            hll::merge_into(&mut max, s)?;
        }
    }
    l.capture_old(dest);
    let existed = match l.get_str(dest)? {
        Some(s) => {
            hll::store_merged(s, &max, dense, max_bytes)?;
            true
        }
        None => {
            let mut s = hll::new_hll();
            hll::store_merged(&mut s, &max, dense, max_bytes)?;
            l.put(dest, Value::Str(s, raw_meta()), false);
            false
        }
    };
    l.mark_raw(dest);
    let keep_ttl = l.ttl_of(dest).is_some();
    if let Some(Value::Str(s, _)) = l.peek(dest).cloned() {
        let args: &[&[u8]] = if keep_ttl {
            &[b"SET", dest, &s, b"KEEPTTL"]
        } else {
            &[b"SET", dest, &s]
        };
        l.record(
            dest,
            "pfadd",
            ChangeKind::upsert(existed),
            ValueType::String,
            args,
        );
    }
    drop(l);
    ctx.out.ok();
    Ok(())
}

fn pfselftest(ctx: &mut Ctx, _a: Args) -> CmdResult {
    hll::selftest(sparse_max(ctx), &mut rand::rng()).map_err(CmdError::owned)?;
    ctx.out.ok();
    Ok(())
}

fn pfdebug(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (sub, key) = (a.get(1), a.get(2));
    let mut l = ctx.lock1(key);
    let Some(s) = l.get_str(key)? else {
        return Err(error::PFDEBUG_NO_KEY.into());
    };
    let dense = hll::check(s)? == hll::DENSE;
    if is(sub, "encoding") {
        drop(l);
        ctx.out.simple(if dense { "dense" } else { "sparse" });
    } else if is(sub, "decode") {
        if dense {
            return Err(error::PFDEBUG_NOT_SPARSE.into());
        }
        let text = hll::decode_sparse(s);
        drop(l);
        ctx.out.bulk(text.as_bytes());
    } else if is(sub, "getreg") || is(sub, "todense") {
        if !dense {
            l.capture_old(key);
            if let Some(s) = l.get_str(key)? {
                hll::make_dense(s)?;
            }
            l.mark_raw(key);
            l.record(
                key,
                "pfdebug",
                ChangeKind::Modify,
                ValueType::String,
                &[b"PFDEBUG", b"TODENSE", key],
            );
        }
        if is(sub, "todense") {
            drop(l);
            ctx.out.int(i64::from(!dense));
        } else {
            // The registers, as PFCOUNT of several keys reads them (into zeros, they are the
            // value's own).
            let mut regs = Box::new([0u8; REGISTERS]);
            if let Some(s) = l.get_str(key)? {
                hll::merge_into(&mut regs, s)?;
            }
            drop(l);
            ctx.out.array(REGISTERS);
            for &r in regs.iter() {
                ctx.out.int(i64::from(r));
            }
        }
    } else {
        return Err(error::pfdebug_unknown(sub));
    }
    Ok(())
}
