//! The libraries Redis ships with its Lua: `cjson`, `cmsgpack`, `bit`, `struct`, and the
//! deterministic `math.random`.
//!
//! Written for byte-exact output in the common cases rather than completeness:
//! * `cjson.encode` formats numbers with `%.14g`, escapes `/` as lua-cjson does, treats an empty
//!   table as an object and refuses excessively sparse arrays; `cjson.decode` is lua-cjson's
//!   decoder (`cjson.rs`: its grammar, values and error texts). The `encode_*`/`decode_*`
//!   settings are accepted and ignored.
//! * `cmsgpack.pack` chooses the smallest encoding for integers, float32 when exact, `str8/16/32`
//!   for strings, arrays for tables with keys 1..n; `unpack` returns every object,
//!   `unpack_one`/`unpack_limit` some of them after the next offset.
//! * `bit` is LuaBitOp (32-bit results); `struct` covers `< > = ! x b B h H i I l L T f d s c`
//!   (alignment `!` is accepted and ignored).
//! * `math.random` is Redis's `rand48`, reseeded before each script.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use mlua::{LightUserData, Lua, Table, Value, Variadic};

use super::engine::rt;
use crate::util::num::fmt_g;

/// `rand48`'s state after `srand48(0)`.
pub const RAND48_SEED: u64 = 0x330E;
const MAX_NESTING: usize = 1000;

fn rand48_next(state: &AtomicU64) -> i32 {
    let x = state.load(Ordering::Relaxed);
    let x = (x.wrapping_mul(0x5DEECE66D).wrapping_add(0xB)) & ((1u64 << 48) - 1);
    state.store(x, Ordering::Relaxed);
    (x >> 17) as i32
}

/// Installs the libraries and Redis's replacements of standard functions into `g`.
pub fn install(lua: &Lua, g: &Table, rand: Arc<AtomicU64>) -> mlua::Result<()> {
    let math: Table = g.get("math")?;
    let r = rand.clone();
    math.set(
        "random",
        lua.create_function(move |_, v: Variadic<f64>| {
            let x = rand48_next(&r);
            let f = f64::from(x % i32::MAX) / f64::from(i32::MAX);
            match v.len() {
                0 => Ok(f),
                1 => {
                    let u = v[0].floor();
                    if u < 1.0 {
                        return Err(rt("bad argument #1 to 'random' (interval is empty)"));
                    }
                    Ok((f * u).floor() + 1.0)
                }
                2 => {
                    let (l, u) = (v[0].floor(), v[1].floor());
                    if l > u {
                        return Err(rt("bad argument #2 to 'random' (interval is empty)"));
                    }
                    Ok((f * (u - l + 1.0)).floor() + l)
                }
                _ => Err(rt("wrong number of arguments")),
            }
        })?,
    )?;
    math.set(
        "randomseed",
        lua.create_function(move |_, seed: f64| {
            let s = seed as i64 as i32 as u32 as u64;
            rand.store((s << 16) | 0x330E, Ordering::Relaxed);
            Ok(())
        })?,
    )?;
    g.set("bit", bit(lua)?)?;
    g.set("cjson", cjson(lua)?)?;
    g.set("cmsgpack", cmsgpack(lua)?)?;
    g.set("struct", structlib(lua)?)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// bit

fn tobit(v: &Value, i: usize, name: &str) -> mlua::Result<i32> {
    let d = match v {
        Value::Integer(n) => *n as f64,
        Value::Number(n) => *n,
        Value::String(s) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .ok_or_else(|| {
                rt(&format!(
                    "bad argument #{i} to '{name}' (number expected, got string)"
                ))
            })?,
        other => {
            return Err(rt(&format!(
                "bad argument #{i} to '{name}' (number expected, got {})",
                other.type_name()
            )))
        }
    };
    Ok(d.round_ties_even() as i64 as u32 as i32)
}

fn bit(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    type Op = fn(i32, i32) -> i32;
    let folds: [(&str, Op); 3] = [
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ];
    for (name, op) in folds {
        t.set(
            name,
            lua.create_function(move |_, v: Variadic<Value>| {
                let mut acc = tobit(v.first().unwrap_or(&Value::Nil), 1, name)?;
                for (i, x) in v.iter().enumerate().skip(1) {
                    acc = op(acc, tobit(x, i + 1, name)?);
                }
                Ok(acc)
            })?,
        )?;
    }
    let shifts: [(&str, Op); 5] = [
        ("lshift", |a, n| ((a as u32) << (n & 31)) as i32),
        ("rshift", |a, n| ((a as u32) >> (n & 31)) as i32),
        ("arshift", |a, n| a >> (n & 31)),
        ("rol", |a, n| (a as u32).rotate_left((n & 31) as u32) as i32),
        ("ror", |a, n| {
            (a as u32).rotate_right((n & 31) as u32) as i32
        }),
    ];
    for (name, op) in shifts {
        t.set(
            name,
            lua.create_function(move |_, (a, n): (Value, Value)| {
                Ok(op(tobit(&a, 1, name)?, tobit(&n, 2, name)?))
            })?,
        )?;
    }
    t.set(
        "tobit",
        lua.create_function(|_, a: Value| tobit(&a, 1, "tobit"))?,
    )?;
    t.set(
        "bnot",
        lua.create_function(|_, a: Value| Ok(!tobit(&a, 1, "bnot")?))?,
    )?;
    t.set(
        "bswap",
        lua.create_function(|_, a: Value| Ok(tobit(&a, 1, "bswap")?.swap_bytes()))?,
    )?;
    t.set(
        "tohex",
        lua.create_function(|_, (a, n): (Value, Option<Value>)| {
            let x = tobit(&a, 1, "tohex")? as u32;
            let n = match n {
                Some(v) => tobit(&v, 2, "tohex")?,
                None => 8,
            };
            let upper = n < 0;
            let w = n.unsigned_abs().min(8) as usize;
            let s = if upper {
                format!("{x:08X}")
            } else {
                format!("{x:08x}")
            };
            Ok(s[8 - w..].to_string())
        })?,
    )?;
    Ok(t)
}

// ---------------------------------------------------------------------------------------------
// cjson

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

/// lua-cjson's settings, which its `cjson.*` setters change for every later script in the same
/// Lua state, as in Redis (SCRIPT FLUSH starts a new state there, and resets them here:
/// [`reset_cjson`]).
#[derive(Clone, Copy)]
struct JsonSettings {
    decode: super::cjson::Config,
    encode_max_depth: i64,
    precision: i32,
    sparse_convert: bool,
    sparse_ratio: i64,
    sparse_safe: i64,
    /// `encode_invalid_numbers`: 0 off (an error), 1 on (`inf`, `nan`), 2 `null`.
    invalid_numbers: u8,
    keep_buffer: bool,
}

const JSON_DEFAULTS: JsonSettings = JsonSettings {
    decode: super::cjson::REDIS,
    encode_max_depth: 1000,
    precision: 14,
    sparse_convert: false,
    sparse_ratio: 2,
    sparse_safe: 10,
    invalid_numbers: 0,
    keep_buffer: true,
};

type JsonCell = std::cell::Cell<JsonSettings>;

fn settings(lua: &Lua) -> JsonSettings {
    lua.app_data_ref::<JsonCell>()
        .map_or(JSON_DEFAULTS, |c| c.get())
}

fn update(lua: &Lua, f: impl FnOnce(&mut JsonSettings)) {
    if let Some(c) = lua.app_data_ref::<JsonCell>() {
        let mut s = c.get();
        f(&mut s);
        c.set(s);
    }
}

/// Puts lua-cjson's settings back to their defaults (SCRIPT FLUSH).
pub fn reset_cjson(lua: &Lua) {
    lua.set_app_data::<JsonCell>(std::cell::Cell::new(JSON_DEFAULTS));
}

/// lua-cjson's `json_arg_init`: at most `max` arguments.
fn cfg_args(args: &Variadic<Value>, max: usize, name: &str) -> mlua::Result<()> {
    if args.len() > max {
        return Err(rt(&format!(
            "bad argument #{} to '{name}' (found too many arguments)",
            max + 1
        )));
    }
    Ok(())
}

/// lua-cjson's `json_integer_option`: argument `i` (1-based), if given and not nil, must be an
/// integer (numbers truncate, numeric strings convert) within `min..=max`.
fn cfg_int(
    args: &Variadic<Value>,
    i: usize,
    name: &str,
    min: i64,
    max: i64,
) -> mlua::Result<Option<i64>> {
    let n = match args.get(i - 1) {
        None | Some(Value::Nil) => return Ok(None),
        Some(Value::Integer(n)) => *n,
        Some(Value::Number(d)) => *d as i64,
        Some(Value::String(s)) => {
            match s.to_str().ok().and_then(|t| t.trim().parse::<f64>().ok()) {
                Some(d) => d as i64,
                None => {
                    return Err(rt(&format!(
                        "bad argument #{i} to '{name}' (number expected, got string)"
                    )))
                }
            }
        }
        Some(other) => {
            return Err(rt(&format!(
                "bad argument #{i} to '{name}' (number expected, got {})",
                other.type_name()
            )))
        }
    };
    if !(min..=max).contains(&n) {
        // lua-cjson names argument 1 whichever was out of range.
        return Err(rt(&format!(
            "bad argument #1 to '{name}' (expected integer between {min} and {max})"
        )));
    }
    Ok(Some(n))
}

/// lua-cjson's `json_enum_option`: argument `i`, if given and not nil, is a boolean or one of
/// `options` (by name); returns its index (`true` is `on`, 1).
fn cfg_enum(
    args: &Variadic<Value>,
    i: usize,
    name: &str,
    options: &[&str],
) -> mlua::Result<Option<u8>> {
    let word = match args.get(i - 1) {
        None | Some(Value::Nil) => return Ok(None),
        Some(Value::Boolean(b)) => return Ok(Some(u8::from(*b))),
        Some(Value::String(s)) => s.to_string_lossy(),
        Some(Value::Integer(n)) => n.to_string(),
        Some(Value::Number(d)) => fmt_g(*d, 14),
        Some(other) => {
            return Err(rt(&format!(
                "bad argument #{i} to '{name}' (string expected, got {})",
                other.type_name()
            )))
        }
    };
    match options.iter().position(|o| *o == word) {
        Some(p) => Ok(Some(p as u8)),
        None => Err(rt(&format!(
            "bad argument #{i} to '{name}' (invalid option '{word}')"
        ))),
    }
}

/// What a setter returns for an on/off setting (or `null` for `encode_invalid_numbers`).
fn enum_value(lua: &Lua, v: u8, options: &[&str]) -> mlua::Result<Value> {
    Ok(match v {
        0 | 1 => Value::Boolean(v == 1),
        n => Value::String(lua.create_string(options[n as usize])?),
    })
}

const ON_OFF: &[&str] = &["off", "on"];
const INVALID_NUMBERS: &[&str] = &["off", "on", "null"];

fn cjson(lua: &Lua) -> mlua::Result<Table> {
    reset_cjson(lua);
    let t = lua.create_table()?;
    t.set(
        "encode",
        lua.create_function(|lua, v: Value| {
            let mut out = Vec::new();
            json_encode(&v, &mut out, 0, &settings(lua))?;
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.set(
        "decode",
        lua.create_function(|lua, args: Variadic<Value>| {
            // lua-cjson's argument checks: exactly one argument, a string or a number.
            if args.len() != 1 {
                return Err(rt("bad argument #1 to 'decode' (expected 1 argument)"));
            }
            let arg = args.into_iter().next().unwrap_or(Value::Nil);
            let s = match arg {
                Value::String(s) => s,
                Value::Integer(_) | Value::Number(_) => lua
                    .coerce_string(arg)?
                    .ok_or_else(|| rt("bad argument #1 to 'decode' (string expected)"))?,
                other => {
                    let got = match other {
                        Value::LightUserData(_) => "userdata",
                        ref v => v.type_name(),
                    };
                    return Err(rt(&format!(
                        "bad argument #1 to 'decode' (string expected, got {got})"
                    )));
                }
            };
            super::cjson::decode(lua, &s.as_bytes(), settings(lua).decode)
        })?,
    )?;
    t.set("null", null())?;
    type Setter = fn(&Lua, Variadic<Value>) -> mlua::Result<Variadic<Value>>;
    let setters: [(&str, Setter); 7] = [
        ("encode_keep_buffer", |lua, a| {
            cfg_args(&a, 1, "encode_keep_buffer")?;
            if let Some(v) = cfg_enum(&a, 1, "encode_keep_buffer", ON_OFF)? {
                update(lua, |s| s.keep_buffer = v == 1);
            }
            let v = u8::from(settings(lua).keep_buffer);
            Ok(Variadic::from_iter([enum_value(lua, v, ON_OFF)?]))
        }),
        ("encode_max_depth", |lua, a| {
            cfg_args(&a, 1, "encode_max_depth")?;
            if let Some(n) = cfg_int(&a, 1, "encode_max_depth", 1, i32::MAX.into())? {
                update(lua, |s| s.encode_max_depth = n);
            }
            Ok(Variadic::from_iter([Value::Integer(
                settings(lua).encode_max_depth,
            )]))
        }),
        ("decode_max_depth", |lua, a| {
            cfg_args(&a, 1, "decode_max_depth")?;
            if let Some(n) = cfg_int(&a, 1, "decode_max_depth", 1, i32::MAX.into())? {
                update(lua, |s| s.decode.max_depth = n as usize);
            }
            Ok(Variadic::from_iter([Value::Integer(
                settings(lua).decode.max_depth as i64,
            )]))
        }),
        ("encode_number_precision", |lua, a| {
            cfg_args(&a, 1, "encode_number_precision")?;
            if let Some(n) = cfg_int(&a, 1, "encode_number_precision", 1, 14)? {
                update(lua, |s| s.precision = n as i32);
            }
            Ok(Variadic::from_iter([Value::Integer(
                settings(lua).precision.into(),
            )]))
        }),
        ("encode_sparse_array", |lua, a| {
            const NAME: &str = "encode_sparse_array";
            cfg_args(&a, 3, NAME)?;
            let convert = cfg_enum(&a, 1, NAME, ON_OFF)?;
            let ratio = cfg_int(&a, 2, NAME, 0, i32::MAX.into())?;
            let safe = cfg_int(&a, 3, NAME, 0, i32::MAX.into())?;
            update(lua, |s| {
                s.sparse_convert = convert.map_or(s.sparse_convert, |v| v == 1);
                s.sparse_ratio = ratio.unwrap_or(s.sparse_ratio);
                s.sparse_safe = safe.unwrap_or(s.sparse_safe);
            });
            let s = settings(lua);
            Ok(Variadic::from_iter([
                Value::Boolean(s.sparse_convert),
                Value::Integer(s.sparse_ratio),
                Value::Integer(s.sparse_safe),
            ]))
        }),
        ("encode_invalid_numbers", |lua, a| {
            cfg_args(&a, 1, "encode_invalid_numbers")?;
            if let Some(v) = cfg_enum(&a, 1, "encode_invalid_numbers", INVALID_NUMBERS)? {
                update(lua, |s| s.invalid_numbers = v);
            }
            let v = settings(lua).invalid_numbers;
            Ok(Variadic::from_iter([enum_value(lua, v, INVALID_NUMBERS)?]))
        }),
        ("decode_invalid_numbers", |lua, a| {
            cfg_args(&a, 1, "decode_invalid_numbers")?;
            if let Some(v) = cfg_enum(&a, 1, "decode_invalid_numbers", ON_OFF)? {
                update(lua, |s| s.decode.invalid_numbers = v == 1);
            }
            let v = u8::from(settings(lua).decode.invalid_numbers);
            Ok(Variadic::from_iter([enum_value(lua, v, ON_OFF)?]))
        }),
    ];
    for (name, f) in setters {
        t.set(name, lua.create_function(f)?)?;
    }
    Ok(t)
}

fn json_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &c in s {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            c if c < 0x20 || c == 0x7f => {
                out.extend_from_slice(format!("\\u{c:04x}").as_bytes());
            }
            c => out.push(c),
        }
    }
    out.push(b'"');
}

fn json_number(d: f64, out: &mut Vec<u8>, cfg: &JsonSettings) -> mlua::Result<()> {
    match cfg.invalid_numbers {
        _ if d.is_finite() => {}
        0 => return Err(rt("Cannot serialise number: must not be NaN or Inf")),
        // lua-cjson writes NaN itself: printf may say `-nan`.
        1 if d.is_nan() => {
            out.extend_from_slice(b"nan");
            return Ok(());
        }
        1 => {}
        _ => {
            out.extend_from_slice(b"null");
            return Ok(());
        }
    }
    out.extend_from_slice(fmt_g(d, cfg.precision).as_bytes());
    Ok(())
}

/// The length of `t` if it is an array as lua-cjson sees one (positive integer keys, not
/// excessively sparse); None for an object (an empty table is one).
fn array_len(t: &Table, cfg: &JsonSettings) -> mlua::Result<Option<usize>> {
    let (mut max, mut items) = (0usize, 0usize);
    for p in t.pairs::<Value, Value>() {
        let (k, _) = p?;
        let n = match k {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(d) if d >= 1.0 && d.fract() == 0.0 => d as usize,
            _ => return Ok(None),
        };
        max = max.max(n);
        items += 1;
    }
    if items == 0 {
        return Ok(None);
    }
    if cfg.sparse_ratio > 0
        && max as i64 > items as i64 * cfg.sparse_ratio
        && max as i64 > cfg.sparse_safe
    {
        if cfg.sparse_convert {
            return Ok(None);
        }
        return Err(rt("Cannot serialise table: excessively sparse array"));
    }
    Ok(Some(max))
}

fn json_encode(v: &Value, out: &mut Vec<u8>, depth: usize, cfg: &JsonSettings) -> mlua::Result<()> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => json_number(*i as f64, out, cfg)?,
        Value::Number(d) => json_number(*d, out, cfg)?,
        Value::String(s) => json_string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth as i64 >= cfg.encode_max_depth {
                return Err(rt(&format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                )));
            }
            if let Some(n) = array_len(t, cfg)? {
                out.push(b'[');
                for i in 1..=n {
                    if i > 1 {
                        out.push(b',');
                    }
                    json_encode(&t.raw_get::<Value>(i)?, out, depth + 1, cfg)?;
                }
                out.push(b']');
            } else {
                out.push(b'{');
                let mut first = true;
                for p in t.pairs::<Value, Value>() {
                    let (k, v) = p?;
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    match &k {
                        Value::String(s) => json_string(&s.as_bytes(), out),
                        Value::Integer(i) => {
                            json_string(fmt_g(*i as f64, cfg.precision).as_bytes(), out)
                        }
                        Value::Number(d) => json_string(fmt_g(*d, cfg.precision).as_bytes(), out),
                        other => {
                            return Err(rt(&format!(
                                "Cannot serialise {}: table key must be a number or string",
                                other.type_name()
                            )))
                        }
                    }
                    out.push(b':');
                    json_encode(&v, out, depth + 1, cfg)?;
                }
                out.push(b'}');
            }
        }
        other => {
            return Err(rt(&format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            )))
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// cmsgpack

/// lua-cmsgpack's nesting limit: deeper tables encode as nil.
const MSGPACK_NESTING: usize = 16;

fn cmsgpack(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|_, v: Variadic<Value>| {
            if v.is_empty() {
                return Err(rt("MessagePack pack needs input."));
            }
            let mut out = Vec::new();
            for x in v.iter() {
                mp_encode(x, &mut out, 0)?;
            }
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(|lua, s: mlua::String| mp_unpack(lua, &s.as_bytes(), 0, 0))?,
    )?;
    t.set(
        "unpack_one",
        lua.create_function(|lua, (s, offset): (mlua::String, Option<i64>)| {
            mp_unpack(lua, &s.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    t.set(
        "unpack_limit",
        lua.create_function(
            |lua, (s, limit, offset): (mlua::String, Option<i64>, Option<i64>)| {
                mp_unpack(lua, &s.as_bytes(), limit.unwrap_or(0), offset.unwrap_or(0))
            },
        )?,
    )?;
    Ok(t)
}

/// lua-cmsgpack's `mp_unpack_full`: up to `limit` objects from `offset` (both 0: all of them,
/// returned alone); otherwise the next offset (-1 at the end) comes first.
fn mp_unpack(lua: &Lua, b: &[u8], limit: i64, offset: i64) -> mlua::Result<Variadic<Value>> {
    let all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        // lua-cmsgpack prints the input length as the limit.
        return Err(rt(&format!(
            "Invalid request to unpack with offset of {offset} and limit of {}.",
            b.len()
        )));
    }
    let start = usize::try_from(offset).unwrap_or(usize::MAX);
    if start > b.len() {
        return Err(rt(&format!(
            "Start offset {offset} greater than input length {}.",
            b.len()
        )));
    }
    let mut pos = start;
    let mut vals = Vec::new();
    while pos < b.len() && (all || (vals.len() as i64) < limit) {
        let (v, p) = mp_decode(lua, b, pos, 0)?;
        vals.push(v);
        pos = p;
    }
    if !all {
        let next = if pos >= b.len() { -1 } else { pos as i64 };
        vals.insert(0, Value::Integer(next));
    }
    Ok(Variadic::from_iter(vals))
}

fn mp_int(i: i64, out: &mut Vec<u8>) {
    if i >= 0 {
        let u = i as u64;
        if u < 128 {
            out.push(u as u8);
        } else if u <= 0xff {
            out.extend_from_slice(&[0xcc, u as u8]);
        } else if u <= 0xffff {
            out.push(0xcd);
            out.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= 0xffff_ffff {
            out.push(0xce);
            out.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&u.to_be_bytes());
        }
    } else if i >= -32 {
        out.push(i as i8 as u8);
    } else if i >= -128 {
        out.extend_from_slice(&[0xd0, i as i8 as u8]);
    } else if i >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(i as i16).to_be_bytes());
    } else if i >= -(1 << 31) {
        out.push(0xd2);
        out.extend_from_slice(&(i as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&i.to_be_bytes());
    }
}

fn mp_len(n: usize, fix: u8, fix_max: usize, tags: [u8; 3], out: &mut Vec<u8>) {
    if n < fix_max {
        out.push(fix | n as u8);
    } else if tags[0] != 0 && n <= 0xff {
        out.extend_from_slice(&[tags[0], n as u8]);
    } else if n <= 0xffff {
        out.push(tags[1]);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else {
        out.push(tags[2]);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    }
}

fn mp_encode(v: &Value, out: &mut Vec<u8>, depth: usize) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(i) => mp_int(*i, out),
        Value::Number(d) => {
            if d.fract() == 0.0 && d.abs() < 9.2e18 {
                mp_int(*d as i64, out);
            } else if f64::from(*d as f32) == *d {
                out.push(0xca);
                out.extend_from_slice(&(*d as f32).to_be_bytes());
            } else {
                out.push(0xcb);
                out.extend_from_slice(&d.to_be_bytes());
            }
        }
        Value::String(s) => {
            let b = s.as_bytes();
            mp_len(b.len(), 0xa0, 32, [0xd9, 0xda, 0xdb], out);
            out.extend_from_slice(&b);
        }
        Value::Table(t) if depth < MSGPACK_NESTING => {
            let mut max = 0usize;
            let mut count = 0usize;
            let mut array = true;
            for p in t.pairs::<Value, Value>() {
                let (k, _) = p?;
                count += 1;
                match k {
                    Value::Integer(i) if i >= 1 => max = max.max(i as usize),
                    _ => array = false,
                }
            }
            if array && max == count {
                mp_len(count, 0x90, 16, [0, 0xdc, 0xdd], out);
                for i in 1..=count {
                    mp_encode(&t.raw_get::<Value>(i)?, out, depth + 1)?;
                }
            } else {
                mp_len(count, 0x80, 16, [0, 0xde, 0xdf], out);
                for p in t.pairs::<Value, Value>() {
                    let (k, v) = p?;
                    mp_encode(&k, out, depth + 1)?;
                    mp_encode(&v, out, depth + 1)?;
                }
            }
        }
        _ => out.push(0xc0),
    }
    Ok(())
}

fn take(b: &[u8], pos: usize, n: usize) -> mlua::Result<&[u8]> {
    b.get(pos..pos.saturating_add(n))
        .ok_or_else(|| rt("Missing bytes in input."))
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x))
}

fn mp_decode(lua: &Lua, b: &[u8], pos: usize, depth: usize) -> mlua::Result<(Value, usize)> {
    if depth > MAX_NESTING {
        return Err(rt("MessagePack nesting too deep"));
    }
    let tag = take(b, pos, 1)?[0];
    let p = pos + 1;
    let int = |n: usize| -> mlua::Result<(u64, usize)> { Ok((be(take(b, p, n)?), p + n)) };
    let string = |n: usize, at: usize| -> mlua::Result<(Value, usize)> {
        Ok((Value::String(lua.create_string(take(b, at, n)?)?), at + n))
    };
    let seq = |n: usize, at: usize, map: bool| -> mlua::Result<(Value, usize)> {
        let t = lua.create_table()?;
        let mut q = at;
        for i in 0..n {
            if map {
                let (k, q2) = mp_decode(lua, b, q, depth + 1)?;
                let (v, q3) = mp_decode(lua, b, q2, depth + 1)?;
                q = q3;
                if !k.is_nil() {
                    t.raw_set(k, v)?;
                }
            } else {
                let (v, q2) = mp_decode(lua, b, q, depth + 1)?;
                q = q2;
                t.raw_set(i + 1, v)?;
            }
        }
        Ok((Value::Table(t), q))
    };
    Ok(match tag {
        0x00..=0x7f => (Value::Integer(i64::from(tag)), p),
        0xe0..=0xff => (Value::Integer(i64::from(tag as i8)), p),
        0x80..=0x8f => seq(usize::from(tag & 0x0f), p, true)?,
        0x90..=0x9f => seq(usize::from(tag & 0x0f), p, false)?,
        0xa0..=0xbf => string(usize::from(tag & 0x1f), p)?,
        0xc0 => (Value::Nil, p),
        0xc2 => (Value::Boolean(false), p),
        0xc3 => (Value::Boolean(true), p),
        0xc4 | 0xd9 => string(be(take(b, p, 1)?) as usize, p + 1)?,
        0xc5 | 0xda => string(be(take(b, p, 2)?) as usize, p + 2)?,
        0xc6 | 0xdb => string(be(take(b, p, 4)?) as usize, p + 4)?,
        0xca => {
            let (u, q) = int(4)?;
            (Value::Number(f64::from(f32::from_bits(u as u32))), q)
        }
        0xcb => {
            let (u, q) = int(8)?;
            (Value::Number(f64::from_bits(u)), q)
        }
        0xcc => int(1).map(|(u, q)| (Value::Integer(u as i64), q))?,
        0xcd => int(2).map(|(u, q)| (Value::Integer(u as i64), q))?,
        0xce => int(4).map(|(u, q)| (Value::Integer(u as i64), q))?,
        0xcf => int(8).map(|(u, q)| (Value::Number(u as f64), q))?,
        0xd0 => int(1).map(|(u, q)| (Value::Integer(i64::from(u as u8 as i8)), q))?,
        0xd1 => int(2).map(|(u, q)| (Value::Integer(i64::from(u as u16 as i16)), q))?,
        0xd2 => int(4).map(|(u, q)| (Value::Integer(i64::from(u as u32 as i32)), q))?,
        0xd3 => int(8).map(|(u, q)| (Value::Integer(u as i64), q))?,
        0xdc => seq(be(take(b, p, 2)?) as usize, p + 2, false)?,
        0xdd => seq(be(take(b, p, 4)?) as usize, p + 4, false)?,
        0xde => seq(be(take(b, p, 2)?) as usize, p + 2, true)?,
        0xdf => seq(be(take(b, p, 4)?) as usize, p + 4, true)?,
        _ => return Err(rt("Bad data format in input.")),
    })
}

// ---------------------------------------------------------------------------------------------
// struct

/// One item of a `struct` format: its letter and size.
struct Item {
    op: u8,
    size: usize,
}

fn parse_format(fmt: &[u8]) -> mlua::Result<(bool, Vec<Item>)> {
    let mut little = cfg!(target_endian = "little");
    let mut items = Vec::new();
    let mut i = 0;
    while i < fmt.len() {
        let op = fmt[i];
        i += 1;
        let start = i;
        while i < fmt.len() && fmt[i].is_ascii_digit() && i - start < 9 {
            i += 1;
        }
        let n: Option<usize> = std::str::from_utf8(&fmt[start..i])
            .ok()
            .and_then(|s| s.parse().ok());
        let size = match op {
            b'<' => {
                little = true;
                continue;
            }
            b'>' => {
                little = false;
                continue;
            }
            b'=' => {
                little = cfg!(target_endian = "little");
                continue;
            }
            b'!' | b' ' => continue,
            b'x' | b'b' | b'B' => 1,
            b'h' | b'H' => 2,
            b'l' | b'L' | b'T' | b'd' => 8,
            b'f' => 4,
            b'i' | b'I' => {
                let s = n.unwrap_or(4);
                if !(1..=8).contains(&s) {
                    return Err(rt(&format!("integral size {s} is larger than limit of 8")));
                }
                s
            }
            b'c' => n.unwrap_or(1),
            b's' => 0,
            _ => return Err(rt(&format!("invalid format option '{}'", op as char))),
        };
        items.push(Item { op, size });
    }
    Ok((little, items))
}

fn num(v: Option<&Value>, i: usize) -> mlua::Result<f64> {
    match v {
        Some(Value::Integer(n)) => Ok(*n as f64),
        Some(Value::Number(n)) => Ok(*n),
        Some(Value::String(s)) => s
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .ok_or_else(|| {
                rt(&format!(
                    "bad argument #{i} to 'pack' (number expected, got string)"
                ))
            }),
        _ => Err(rt(&format!(
            "bad argument #{i} to 'pack' (number expected)"
        ))),
    }
}

fn put_int(x: i64, size: usize, little: bool, out: &mut Vec<u8>) {
    let bytes = x.to_le_bytes();
    let b = &bytes[..size.min(8)];
    if little {
        out.extend_from_slice(b);
    } else {
        out.extend(b.iter().rev());
    }
}

fn structlib(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    t.set(
        "pack",
        lua.create_function(|_, (fmt, args): (mlua::String, Variadic<Value>)| {
            let (little, items) = parse_format(&fmt.as_bytes())?;
            let mut out = Vec::new();
            let mut a = 0usize;
            for it in items {
                let arg = args.get(a);
                match it.op {
                    b'x' => {
                        out.push(0);
                        continue;
                    }
                    b'f' => {
                        let v = (num(arg, a + 2)? as f32).to_bits();
                        put_int(i64::from(v), 4, little, &mut out);
                    }
                    b'd' => put_int(num(arg, a + 2)?.to_bits() as i64, 8, little, &mut out),
                    b'c' | b's' => {
                        let Some(Value::String(s)) = arg else {
                            return Err(rt(&format!(
                                "bad argument #{} to 'pack' (string expected)",
                                a + 2
                            )));
                        };
                        let s = s.as_bytes();
                        if it.op == b's' {
                            out.extend_from_slice(&s);
                            out.push(0);
                        } else {
                            let n = if it.size == 0 { s.len() } else { it.size };
                            if s.len() < n {
                                return Err(rt("string too short"));
                            }
                            out.extend_from_slice(&s[..n]);
                        }
                    }
                    _ => put_int(num(arg, a + 2)? as i64, it.size, little, &mut out),
                }
                a += 1;
            }
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.set(
        "unpack",
        lua.create_function(
            |lua, (fmt, data, init): (mlua::String, mlua::String, Option<i64>)| {
                let (little, items) = parse_format(&fmt.as_bytes())?;
                let d = data.as_bytes();
                let mut pos = (init.unwrap_or(1).max(1) - 1) as usize;
                let mut vals: Vec<Value> = Vec::new();
                for it in items {
                    if it.op == b's' {
                        let rest = d.get(pos..).unwrap_or(&[]);
                        let end = memchr::memchr(0, rest)
                            .ok_or_else(|| rt("unfinished string in data"))?;
                        vals.push(Value::String(lua.create_string(&rest[..end])?));
                        pos += end + 1;
                        continue;
                    }
                    let mut size = it.size;
                    if it.op == b'c' && size == 0 {
                        size = match vals.last() {
                            Some(Value::Integer(n)) => *n as usize,
                            Some(Value::Number(n)) => *n as usize,
                            _ => return Err(rt("format 'c0' needs a previous size")),
                        };
                    }
                    let b = d
                        .get(pos..pos.saturating_add(size))
                        .ok_or_else(|| rt("data string too short"))?;
                    pos += size;
                    let raw = if little {
                        b.iter().rev().fold(0u64, |a, &x| (a << 8) | u64::from(x))
                    } else {
                        be(b)
                    };
                    let signed = |raw: u64| -> i64 {
                        let shift = 64 - 8 * size as u32;
                        ((raw << shift) as i64) >> shift
                    };
                    match it.op {
                        b'x' => {}
                        b'c' => vals.push(Value::String(lua.create_string(b)?)),
                        b'f' => vals.push(Value::Number(f64::from(f32::from_bits(raw as u32)))),
                        b'd' => vals.push(Value::Number(f64::from_bits(raw))),
                        b'b' | b'h' | b'l' | b'i' => vals.push(Value::Number(signed(raw) as f64)),
                        _ => vals.push(Value::Number(raw as f64)),
                    }
                }
                vals.push(Value::Integer(pos as i64 + 1));
                Ok(Variadic::from_iter(vals))
            },
        )?,
    )?;
    t.set(
        "size",
        lua.create_function(|_, fmt: mlua::String| {
            let (_, items) = parse_format(&fmt.as_bytes())?;
            if items.iter().any(|i| i.op == b's') {
                return Err(rt("options 's' has no fixed size"));
            }
            Ok(items.iter().map(|i| i.size).sum::<usize>())
        })?,
    )?;
    Ok(t)
}
