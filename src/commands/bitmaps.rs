//! Bitmaps: bit-level commands on string values (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD, BITFIELD_RO), with Redis 7's argument order, range rules and error strings.
//!
//! Bit 0 is the most significant bit of the first byte. Offsets are bounded by
//! `proto-max-bulk-len` (512 MB by default, so bits 0..2^32-1), as in Redis.
//!
//! Recorded effects (DESIGN.md, "Record what happened"), only when the bytes change (a new key,
//! a grown string or a flipped bit; Redis 7.2+ skips its notification the same way):
//! * SETBIT records itself with its normalized offset and bit: `SETBIT k off bit` (`setbit`).
//! * BITFIELD records the values it actually wrote, as `BITFIELD k SET <type> <off> <value>...`
//!   with absolute offsets and the computed values, so INCRBY and the OVERFLOW modes replay
//!   exactly (`setbit`). When the string grew beyond what those SETs reach (a FAIL-skipped op
//!   still grows it, as in Redis), a leading `SET u1 <last bit> 0` restores the length.
//! * BITOP records the resulting value as `SET dest <bytes>` (`set`), or `DEL dest` (`del`) when
//!   the result is empty and the destination existed.

use super::args::is;
use super::{cmd, flag::*, CommandSpec, Ctx};
use crate::changes::ChangeKind;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::value::{str_grow_zeroed, Meta, Str, Value, ValueType};
use crate::keyspace::Locked;
use crate::protocol::resp::Args;
use crate::util::num::parse_i64;

const B: &[&str] = &["bitmap"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("setbit", 4, WRITE | DENYOOM, (1, 1, 1), B, "bitmap", setbit,
        "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.",
        "key offset value", "2.2.0", "O(1)"),
    cmd!("getbit", 3, READONLY | FAST, (1, 1, 1), B, "bitmap", getbit,
        "Returns a bit value by offset.", "key offset", "2.2.0", "O(1)"),
    cmd!("bitcount", -2, READONLY, (1, 1, 1), B, "bitmap", bitcount,
        "Counts the number of set bits (population counting) in a string.",
        "key [start end [BYTE | BIT]]", "2.6.0", "O(N)"),
    cmd!("bitpos", -3, READONLY, (1, 1, 1), B, "bitmap", bitpos,
        "Finds the first set (1) or clear (0) bit in a string.",
        "key bit [start [end [BYTE | BIT]]]", "2.8.7", "O(N)"),
    cmd!("bitop", -4, WRITE | DENYOOM, (2, -1, 1), B, "bitmap", bitop,
        "Performs bitwise operations on multiple strings, and stores the result.",
        "<AND | OR | XOR | NOT> destkey key [key ...]", "2.6.0", "O(N)"),
    cmd!("bitfield", -2, WRITE | DENYOOM, (1, 1, 1), B, "bitmap", bitfield,
        "Performs arbitrary bitfield integer operations on strings.",
        "key [GET encoding offset | [OVERFLOW <WRAP | SAT | FAIL>] <SET encoding offset value | INCRBY encoding offset increment> [GET encoding offset | [OVERFLOW <WRAP | SAT | FAIL>] <SET encoding offset value | INCRBY encoding offset increment> ...]]",
        "3.2.0", "O(1) for each subcommand specified"),
    cmd!("bitfield_ro", -2, READONLY | FAST, (1, 1, 1), B, "bitmap", bitfield_ro,
        "Performs arbitrary read-only bitfield integer operations on strings.",
        "key [GET encoding offset [GET encoding offset ...]]", "6.0.0", "O(1) for each subcommand specified"),
];

fn max_len(ctx: &Ctx) -> u64 {
    ctx.srv
        .config
        .hot
        .proto_max_bulk_len
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// Parses a bit offset (`#N` counts in units of `bits` when `hash_bits` is given), bounded by
/// `proto-max-bulk-len` bytes as Redis's `getBitOffsetFromArgument`.
fn bit_offset(raw: &[u8], hash_bits: Option<u32>, max: u64) -> CmdResult<u64> {
    let (digits, mul) = match (hash_bits, raw.split_first()) {
        (Some(b), Some((b'#', rest))) => (rest, b as i64),
        _ => (raw, 1),
    };
    let n = parse_i64(digits)
        .and_then(|n| n.checked_mul(mul))
        .filter(|&n| n >= 0 && (n as u64 >> 3) < max)
        .ok_or(CmdError::from(error::BIT_OFFSET))?;
    Ok(n as u64)
}

/// The string at `key` for writing: no hit/miss statistics (Redis's `lookupKeyWrite`).
fn write_str<'l>(l: &'l mut Locked, key: &[u8]) -> CmdResult<Option<&'l mut Str>> {
    match l.peek(key) {
        None => Ok(None),
        Some(Value::Str(s, _)) => Ok(Some(s)),
        Some(_) => Err(error::WRONGTYPE.into()),
    }
}

/// Makes `key` a string of at least `len` bytes (zero-padded), creating it if missing.
/// Returns (existed, old length).
fn grow_to(l: &mut Locked, key: &[u8], len: usize) -> CmdResult<(bool, usize)> {
    l.capture_old(key);
    if let Some(s) = write_str(l, key)? {
        let old = s.len();
        if old < len {
            str_grow_zeroed(s, len);
        }
        l.mark_raw(key);
        return Ok((true, old));
    }
    let mut meta = Meta::now();
    meta.set_raw();
    l.put(key, Value::Str(Str::from_elem(0, len), meta), false);
    Ok((false, 0))
}

fn get_bit(s: &[u8], off: u64) -> u8 {
    s.get((off >> 3) as usize)
        .map_or(0, |b| (b >> (7 - (off & 7))) & 1)
}

fn set_bit(s: &mut [u8], off: u64, on: u8) {
    if let Some(b) = s.get_mut((off >> 3) as usize) {
        let shift = 7 - (off & 7);
        *b = (*b & !(1 << shift)) | ((on & 1) << shift);
    }
}

fn setbit(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let off = bit_offset(a.get(2), None, max_len(ctx))?;
    let on = parse_i64(a.get(3))
        .filter(|v| v & !1 == 0)
        .ok_or(CmdError::from(error::BIT_VALUE))? as u8;
    let byte = (off >> 3) as usize;
    let mut l = ctx.lock1(key);
    let (existed, old_len) = grow_to(&mut l, key, byte + 1)?;
    let Some(s) = write_str(&mut l, key)? else {
        return Err(error::WRONGTYPE.into());
    };
    let old = get_bit(s, off);
    let grew = !existed || s.len() > old_len;
    if grew || old != on {
        set_bit(s, off, on);
        let mut b = itoa::Buffer::new();
        let offs = b.format(off);
        let bit: &[u8] = if on == 1 { b"1" } else { b"0" };
        l.record(
            key,
            "setbit",
            ChangeKind::upsert(existed),
            ValueType::String,
            &[b"SETBIT", key, offs.as_bytes(), bit],
        );
    }
    drop(l);
    ctx.out.int(old as i64);
    Ok(())
}

fn getbit(ctx: &mut Ctx, a: Args) -> CmdResult {
    let off = bit_offset(a.get(2), None, max_len(ctx))?;
    let mut l = ctx.lock1(a.get(1));
    let bit = l.get_str(a.get(1))?.map_or(0, |s| get_bit(s, off));
    drop(l);
    ctx.out.int(bit as i64);
    Ok(())
}

/// Counts set bits with 64-bit popcounts.
fn popcount(s: &[u8]) -> u64 {
    let mut chunks = s.chunks_exact(8);
    let mut n = 0u64;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        n += u64::from_ne_bytes(w).count_ones() as u64;
    }
    n + chunks
        .remainder()
        .iter()
        .map(|b| b.count_ones() as u64)
        .sum::<u64>()
}

/// BYTE/BIT unit argument: true for BIT.
fn unit(raw: &[u8]) -> CmdResult<bool> {
    if is(raw, "BIT") {
        Ok(true)
    } else if is(raw, "BYTE") {
        Ok(false)
    } else {
        Err(error::SYNTAX.into())
    }
}

/// Resolves Redis's inclusive range over `total` units (negative counts from the end).
fn resolve(mut start: i64, mut end: i64, total: i64) -> Option<(u64, u64)> {
    if start < 0 {
        start = start.saturating_add(total);
    }
    if end < 0 {
        end = end.saturating_add(total);
    }
    start = start.max(0);
    end = end.max(0);
    if end >= total {
        end = total - 1;
    }
    (start <= end).then_some((start as u64, end as u64))
}

fn bitcount(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let mut l = ctx.lock1(key);
    // Redis 7.0 looks the key up before it reads the range.
    let Some(s) = l.get_str(key)? else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    let n = match a.len() {
        2 => popcount(s),
        4 | 5 => {
            let start = super::args::int(a.get(2))?;
            let end = super::args::int(a.get(3))?;
            let bits = if a.len() == 5 { unit(a.get(4))? } else { false };
            if start < 0 && end < 0 && start > end {
                0
            } else {
                let total = if bits {
                    s.len() as i64 * 8
                } else {
                    s.len() as i64
                };
                match resolve(start, end, total) {
                    None => 0,
                    Some((x, y)) if !bits => popcount(&s[x as usize..=y as usize]),
                    Some((x, y)) => count_bits(s, x, y),
                }
            }
        }
        _ => return Err(error::SYNTAX.into()),
    };
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

/// Set bits between bit offsets `x` and `y` inclusive (both within `s`).
fn count_bits(s: &[u8], x: u64, y: u64) -> u64 {
    let (sb, eb) = ((x >> 3) as usize, (y >> 3) as usize);
    let n = popcount(&s[sb..=eb]);
    let before = !(0xFFu8 >> (x & 7));
    let after = 0xFFu8.checked_shr((y & 7) as u32 + 1).unwrap_or(0);
    n - (s[sb] & before).count_ones() as u64 - (s[eb] & after).count_ones() as u64
}

/// First bit equal to `want` between bit offsets `from` and `to` inclusive.
fn find_bit(s: &[u8], want: u8, from: u64, to: u64) -> Option<u64> {
    let skip = if want == 1 { 0u8 } else { 0xFF };
    let mut i = from;
    while i <= to {
        if i & 7 == 0 && i + 7 <= to {
            let first = (i >> 3) as usize;
            let end = ((to + 1) >> 3) as usize;
            match s[first..end].iter().position(|&b| b != skip) {
                Some(p) => {
                    let b = s[first + p] ^ skip;
                    return Some((first + p) as u64 * 8 + b.leading_zeros() as u64);
                }
                None => {
                    i = end as u64 * 8;
                    continue;
                }
            }
        }
        if get_bit(s, i) == want {
            return Some(i);
        }
        i += 1;
    }
    None
}

fn bitpos(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let bit = super::args::int(a.get(2))?;
    if bit != 0 && bit != 1 {
        return Err(error::BIT_ARG.into());
    }
    let want = bit as u8;
    let mut l = ctx.lock1(key);
    let Some(s) = l.get_str(key)? else {
        drop(l);
        ctx.out.int(if want == 1 { -1 } else { 0 });
        return Ok(());
    };
    let len = s.len() as i64;
    let (range, end_given) = match a.len() {
        3 => (
            resolve(0, len - 1, len).map(|(x, y)| (x * 8, y * 8 + 7)),
            false,
        ),
        4..=6 => {
            let start = super::args::int(a.get(3))?;
            let bits = if a.len() == 6 { unit(a.get(5))? } else { false };
            let end_given = a.len() >= 5;
            let end = if end_given {
                super::args::int(a.get(4))?
            } else {
                len - 1
            };
            let range = if bits {
                resolve(start, end, len * 8)
            } else {
                resolve(start, end, len).map(|(x, y)| (x * 8, y * 8 + 7))
            };
            (range, end_given)
        }
        _ => return Err(error::SYNTAX.into()),
    };
    let pos = match range {
        None => -1,
        Some((x, y)) => match find_bit(s, want, x, y) {
            Some(p) => p as i64,
            // Without an explicit end the string is zero-padded to the right.
            None if want == 0 && !end_given => y as i64 + 1,
            None => -1,
        },
    };
    drop(l);
    ctx.out.int(pos);
    Ok(())
}

#[derive(Clone, Copy, PartialEq)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

fn bitop(ctx: &mut Ctx, a: Args) -> CmdResult {
    let name = a.get(1);
    let op = if is(name, "AND") {
        BitOp::And
    } else if is(name, "OR") {
        BitOp::Or
    } else if is(name, "XOR") {
        BitOp::Xor
    } else if is(name, "NOT") {
        BitOp::Not
    } else {
        return Err(error::SYNTAX.into());
    };
    if op == BitOp::Not && a.len() != 4 {
        return Err(error::BITOP_NOT_ONE.into());
    }
    let dst = a.get(2);
    let keys: Vec<&[u8]> = a.iter().skip(2).collect();
    let mut l = ctx.lock(&keys);
    let mut res: Vec<u8> = Vec::new();
    for (i, k) in keys[1..].iter().enumerate() {
        let src: &[u8] = match l.get_str(k)? {
            Some(s) => &s[..],
            None => &[],
        };
        if i == 0 {
            res = src.to_vec();
            if op == BitOp::Not {
                res.iter_mut().for_each(|b| *b = !*b);
            }
            continue;
        }
        if src.len() > res.len() {
            res.resize(src.len(), 0);
        }
        match op {
            BitOp::And => {
                for (r, s) in res.iter_mut().zip(src.iter()) {
                    *r &= s;
                }
                res[src.len()..].iter_mut().for_each(|r| *r = 0);
            }
            BitOp::Or => res.iter_mut().zip(src).for_each(|(r, s)| *r |= s),
            BitOp::Xor => res.iter_mut().zip(src).for_each(|(r, s)| *r ^= s),
            BitOp::Not => {}
        }
    }
    if !res.is_empty() {
        let mut meta = Meta::now();
        meta.set_raw();
        let existed = l.put(dst, Value::Str(Str::from_slice(&res), meta), false);
        l.record(
            dst,
            "set",
            ChangeKind::upsert(existed),
            ValueType::String,
            &[b"SET", dst, &res],
        );
    } else if l.peek(dst).is_some() {
        l.remove(dst);
        l.record(
            dst,
            "del",
            ChangeKind::Remove,
            ValueType::None,
            &[b"DEL", dst],
        );
    }
    drop(l);
    ctx.out.int(res.len() as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// BITFIELD

#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

#[derive(Clone, Copy, PartialEq)]
enum OpKind {
    Get,
    Set,
    Incr,
}

#[derive(Clone, Copy)]
struct FieldOp {
    kind: OpKind,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

/// Parses `i<1..64>` / `u<1..63>`.
fn field_type(raw: &[u8]) -> CmdResult<(bool, u32)> {
    let err = || CmdError::from(error::BITFIELD_TYPE);
    let (signed, rest) = match raw.split_first() {
        Some((b'i', r)) => (true, r),
        Some((b'u', r)) => (false, r),
        _ => return Err(err()),
    };
    let bits = parse_i64(rest).ok_or_else(err)?;
    if bits < 1 || (signed && bits > 64) || (!signed && bits > 63) {
        return Err(err());
    }
    Ok((signed, bits as u32))
}

fn get_unsigned(s: &[u8], off: u64, bits: u32) -> u64 {
    (0..bits as u64).fold(0u64, |v, j| (v << 1) | get_bit(s, off + j) as u64)
}

fn get_signed(s: &[u8], off: u64, bits: u32) -> i64 {
    let mut v = get_unsigned(s, off, bits);
    if bits < 64 && v & (1u64 << (bits - 1)) != 0 {
        v |= u64::MAX << bits;
    }
    v as i64
}

fn set_unsigned(s: &mut [u8], off: u64, bits: u32, v: u64) {
    for j in 0..bits as u64 {
        let bit = ((v >> (bits as u64 - 1 - j)) & 1) as u8;
        set_bit(s, off + j, bit);
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: `Some(result)` on overflow (the wrapped or
/// saturated value; meaningless for FAIL).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> Option<u64> {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Wrap { wrap() } else { max })
    } else if incr < 0 && incr < minincr {
        Some(if ow == Overflow::Wrap { wrap() } else { 0 })
    } else {
        None
    }
}

/// Redis's `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> Option<i64> {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        Some(if ow == Overflow::Wrap { wrap() } else { max })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        Some(if ow == Overflow::Wrap { wrap() } else { min })
    } else {
        None
    }
}

fn parse_field_ops(a: &Args, max: u64) -> CmdResult<Vec<FieldOp>> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < a.len() {
        let rem = a.len() - j - 1;
        let sub = a.get(j);
        let kind = if is(sub, "GET") && rem >= 2 {
            OpKind::Get
        } else if is(sub, "SET") && rem >= 3 {
            OpKind::Set
        } else if is(sub, "INCRBY") && rem >= 3 {
            OpKind::Incr
        } else if is(sub, "OVERFLOW") && rem >= 1 {
            let t = a.get(j + 1);
            overflow = if is(t, "WRAP") {
                Overflow::Wrap
            } else if is(t, "SAT") {
                Overflow::Sat
            } else if is(t, "FAIL") {
                Overflow::Fail
            } else {
                return Err(error::BITFIELD_OVERFLOW.into());
            };
            j += 2;
            continue;
        } else {
            return Err(error::SYNTAX.into());
        };
        let (signed, bits) = field_type(a.get(j + 1))?;
        let offset = bit_offset(a.get(j + 2), Some(bits), max)?;
        let value = if kind == OpKind::Get {
            0
        } else {
            super::args::int(a.get(j + 3))?
        };
        ops.push(FieldOp {
            kind,
            signed,
            bits,
            offset,
            value,
            overflow,
        });
        j += if kind == OpKind::Get { 3 } else { 4 };
    }
    Ok(ops)
}

fn bitfield(ctx: &mut Ctx, a: Args) -> CmdResult {
    bitfield_generic(ctx, a, false)
}

fn bitfield_ro(ctx: &mut Ctx, a: Args) -> CmdResult {
    bitfield_generic(ctx, a, true)
}

/// One reply of a BITFIELD op: a value, or null when OVERFLOW FAIL skipped it.
type FieldReply = Option<i64>;

fn bitfield_generic(ctx: &mut Ctx, a: Args, ro: bool) -> CmdResult {
    let key = a.get(1);
    let ops = parse_field_ops(&a, max_len(ctx))?;
    let highest = ops
        .iter()
        .filter(|o| o.kind != OpKind::Get)
        .map(|o| o.offset + o.bits as u64 - 1)
        .max();
    let mut l = ctx.lock1(key);
    let mut replies: Vec<FieldReply> = Vec::with_capacity(ops.len());
    let Some(highest) = highest else {
        // Only GETs: a read (a missing key reads as zeros).
        let s: &[u8] = match l.get_str(key)? {
            Some(s) => &s[..],
            None => &[],
        };
        for o in &ops {
            replies.push(Some(if o.signed {
                get_signed(s, o.offset, o.bits)
            } else {
                get_unsigned(s, o.offset, o.bits) as i64
            }));
        }
        drop(l);
        write_replies(ctx, &replies);
        return Ok(());
    };
    if ro {
        return Err(error::BITFIELD_RO_GET_ONLY.into());
    }
    let new_len = (highest >> 3) as usize + 1;
    let (existed, old_len) = grow_to(&mut l, key, new_len)?;
    let Some(s) = write_str(&mut l, key)? else {
        return Err(error::WRONGTYPE.into());
    };
    let grown_len = s.len();
    // (signed, bits, offset, new value) of every write that changed bits.
    let mut writes: Vec<(bool, u32, u64, i64)> = Vec::new();
    for o in &ops {
        if o.kind == OpKind::Get {
            replies.push(Some(if o.signed {
                get_signed(s, o.offset, o.bits)
            } else {
                get_unsigned(s, o.offset, o.bits) as i64
            }));
            continue;
        }
        let (old, new, ret, overflowed) = if o.signed {
            let old = get_signed(s, o.offset, o.bits);
            let (new, ov, ret_new) = if o.kind == OpKind::Incr {
                let ov = signed_overflow(old, o.value, o.bits, o.overflow);
                (ov.unwrap_or(old.wrapping_add(o.value)), ov.is_some(), true)
            } else {
                let ov = signed_overflow(o.value, 0, o.bits, o.overflow);
                (ov.unwrap_or(o.value), ov.is_some(), false)
            };
            (old as u64, new as u64, if ret_new { new } else { old }, ov)
        } else {
            let old = get_unsigned(s, o.offset, o.bits);
            let (new, ov, ret_new) = if o.kind == OpKind::Incr {
                let ov = unsigned_overflow(old, o.value, o.bits, o.overflow);
                (
                    ov.unwrap_or(old.wrapping_add(o.value as u64)),
                    ov.is_some(),
                    true,
                )
            } else {
                let ov = unsigned_overflow(o.value as u64, 0, o.bits, o.overflow);
                (ov.unwrap_or(o.value as u64), ov.is_some(), false)
            };
            (old, new, if ret_new { new as i64 } else { old as i64 }, ov)
        };
        if overflowed && o.overflow == Overflow::Fail {
            replies.push(None);
            continue;
        }
        replies.push(Some(ret));
        let mask = u64::MAX.checked_shl(o.bits).map_or(u64::MAX, |m| !m);
        set_unsigned(s, o.offset, o.bits, new & mask);
        if old & mask != new & mask {
            writes.push((o.signed, o.bits, o.offset, new as i64));
        }
    }
    let grew = !existed || grown_len > old_len;
    if grew || !writes.is_empty() {
        let reach = writes
            .iter()
            .map(|w| ((w.2 + w.1 as u64 - 1) >> 3) as usize + 1)
            .max()
            .unwrap_or(0);
        let mut text: Vec<String> = Vec::with_capacity(writes.len() * 3 + 3);
        if grew && reach < grown_len {
            text.push("u1".into());
            text.push((grown_len as u64 * 8 - 1).to_string());
            text.push("0".into());
        }
        for (signed, bits, off, v) in &writes {
            text.push(format!("{}{bits}", if *signed { 'i' } else { 'u' }));
            text.push(off.to_string());
            text.push(if *signed {
                v.to_string()
            } else {
                (*v as u64).to_string()
            });
        }
        let mut args: Vec<&[u8]> = Vec::with_capacity(2 + text.len() / 3 * 4);
        args.push(b"BITFIELD");
        args.push(key);
        for t in text.chunks(3) {
            args.push(b"SET");
            args.extend(t.iter().map(|x| x.as_bytes()));
        }
        l.record(
            key,
            "setbit",
            ChangeKind::upsert(existed),
            ValueType::String,
            &args,
        );
    }
    drop(l);
    write_replies(ctx, &replies);
    Ok(())
}

fn write_replies(ctx: &mut Ctx, replies: &[FieldReply]) {
    ctx.out.array(replies.len());
    for r in replies {
        match r {
            Some(v) => ctx.out.int(*v),
            None => ctx.out.null(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn popcount_counts_all_bits() {
        let s: Vec<u8> = (0..=255u8).collect();
        let want: u64 = s.iter().map(|b| b.count_ones() as u64).sum();
        assert_eq!(popcount(&s), want);
        assert_eq!(
            popcount(&s[3..13]),
            s[3..13].iter().map(|b| b.count_ones() as u64).sum::<u64>()
        );
    }

    #[test]
    fn count_bits_masks_partial_edges() {
        let s = b"foobar";
        assert_eq!(count_bits(s, 0, 47), popcount(s));
        assert_eq!(count_bits(s, 1, 1), 1);
        assert_eq!(
            count_bits(s, 5, 30),
            (5..=30).map(|i| get_bit(s, i) as u64).sum::<u64>()
        );
    }

    #[test]
    fn find_bit_scans_across_bytes() {
        let s = [0u8, 0, 0, 0x10, 0xFF];
        assert_eq!(find_bit(&s, 1, 0, 39), Some(27));
        assert_eq!(find_bit(&s, 1, 28, 31), None);
        assert_eq!(find_bit(&s, 0, 32, 39), None);
        assert_eq!(find_bit(&s, 0, 27, 39), Some(28));
    }

    #[test]
    fn overflow_rules_match_redis() {
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Wrap), Some(-128));
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Sat), Some(127));
        assert_eq!(signed_overflow(-128, -1, 8, Overflow::Sat), Some(-128));
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            Some(i64::MIN)
        );
        assert_eq!(signed_overflow(5, 1, 8, Overflow::Wrap), None);
        assert_eq!(unsigned_overflow(255, 1, 8, Overflow::Wrap), Some(0));
        assert_eq!(unsigned_overflow(0, -1, 8, Overflow::Sat), Some(0));
        assert_eq!(unsigned_overflow(u64::MAX, 0, 8, Overflow::Wrap), Some(255));
        assert_eq!(unsigned_overflow(300, 0, 8, Overflow::Sat), Some(255));
    }

    #[test]
    fn field_types_and_offsets_are_validated() {
        assert!(field_type(b"i64").is_ok());
        assert!(field_type(b"u64").is_err());
        assert!(field_type(b"u0").is_err());
        assert!(field_type(b"I8").is_err());
        assert_eq!(bit_offset(b"#3", Some(8), 1 << 29), Ok(24));
        assert!(bit_offset(b"#3", None, 1 << 29).is_err());
        assert_eq!(bit_offset(b"4294967295", None, 1 << 29), Ok(4294967295));
        assert!(bit_offset(b"4294967296", None, 1 << 29).is_err());
        assert!(bit_offset(b"#9223372036854775807", Some(64), 1 << 29).is_err());
    }
}
