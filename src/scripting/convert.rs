//! Lua values ↔ RESP replies, as Redis documents the conversion.
//!
//! RESP → Lua (a command's reply inside a script): integer → number, bulk → string, array →
//! table, null bulk/array → false, status → `{ok=...}`, error → `{err=...}`; with
//! `redis.setresp(3)` also map → `{map={...}}`, set → `{set={member=true}}`, null → nil, boolean
//! → boolean, double → `{double=n}`, big number → `{big_number=s}`, verbatim →
//! `{verbatim_string={format=..., string=...}}`.
//!
//! Lua → RESP (the script's result, in the caller's protocol): number → integer (truncated),
//! string → bulk, table → array (up to the first nil) unless it has an `err`, `ok`, `double`,
//! `big_number`, `map`, `set` or `verbatim_string` field; nil → null; true → 1 and false → null,
//! or after `redis.setresp(3)` booleans (`#t`/`#f`, or 1/0 to a RESP2 caller).

use mlua::{Lua, Table, Value};

use crate::protocol::resp::Out;
use crate::util::num::parse_f64;

/// Nesting beyond this is refused (a table that contains itself would never end).
const MAX_DEPTH: usize = 1000;

fn one_line(s: &[u8]) -> String {
    String::from_utf8_lossy(s).replace(['\r', '\n'], " ")
}

/// Writes the Lua value `v` as a reply to the script's caller. Booleans follow the script's
/// protocol (`redis.setresp`), as in Redis: under RESP2 true is 1 and false is null.
pub fn reply(v: &Value, out: &mut Out, script_resp3: bool, depth: usize) {
    if depth > MAX_DEPTH {
        out.error("ERR reached lua stack limit");
        return;
    }
    match v {
        Value::String(s) => out.bulk(&s.as_bytes()),
        Value::Boolean(b) => {
            if script_resp3 {
                out.boolean(*b);
            } else if *b {
                out.int(1);
            } else {
                out.null();
            }
        }
        Value::Integer(i) => out.int(*i),
        Value::Number(n) => out.int(to_integer(*n)),
        Value::Table(t) => table(t, out, script_resp3, depth),
        _ => out.null(),
    }
}

/// Redis's `(long long)` cast of a Lua number: out of range and NaN give what x86 gives,
/// the smallest integer (Rust's `as` would saturate).
fn to_integer(n: f64) -> i64 {
    // 2^63: the first double beyond i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

fn field(t: &Table, name: &str) -> Value {
    t.raw_get::<Value>(name).unwrap_or(Value::Nil)
}

fn table(t: &Table, out: &mut Out, r3: bool, depth: usize) {
    if let Value::String(e) = field(t, "err") {
        out.error(&String::from_utf8_lossy(&e.as_bytes()));
        return;
    }
    if let Value::String(s) = field(t, "ok") {
        out.simple(&one_line(&s.as_bytes()));
        return;
    }
    match field(t, "double") {
        Value::Number(d) => return out.double(d),
        Value::Integer(i) => return out.double(i as f64),
        _ => {}
    }
    if let Value::String(s) = field(t, "big_number") {
        out.big_number(&one_line(&s.as_bytes()));
        return;
    }
    if let Value::Table(m) = field(t, "map") {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().filter_map(Result::ok).collect();
        out.map(pairs.len());
        for (k, v) in &pairs {
            reply(k, out, r3, depth + 1);
            reply(v, out, r3, depth + 1);
        }
        return;
    }
    if let Value::Table(s) = field(t, "set") {
        let keys: Vec<Value> = s
            .pairs::<Value, Value>()
            .filter_map(|p| p.ok().map(|(k, _)| k))
            .collect();
        out.set(keys.len());
        for k in &keys {
            reply(k, out, r3, depth + 1);
        }
        return;
    }
    if let Value::Table(vs) = field(t, "verbatim_string") {
        if let (Value::String(fmt), Value::String(s)) = (field(&vs, "format"), field(&vs, "string"))
        {
            let (fmt, s) = (fmt.as_bytes(), s.as_bytes());
            if out.resp3 && fmt.len() == 3 {
                out.raw(format!("={}\r\n", s.len() + 4).as_bytes());
                out.raw(&fmt);
                out.raw(b":");
                out.raw(&s);
                out.raw(b"\r\n");
            } else {
                out.bulk(&s);
            }
            return;
        }
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(v),
        }
    }
    out.array(items.len());
    for v in &items {
        reply(v, out, r3, depth + 1);
    }
}

/// Converts a command's reply (`buf`, one complete reply) to a Lua value.
pub fn from_reply(lua: &Lua, buf: &[u8]) -> mlua::Result<Value> {
    Ok(parse(lua, buf, 0, 0)?.0)
}

fn line(buf: &[u8], pos: usize) -> mlua::Result<(&[u8], usize)> {
    let rest = buf.get(pos..).unwrap_or(&[]);
    match memchr::memmem::find(rest, b"\r\n") {
        Some(i) => Ok((&rest[..i], pos + i + 2)),
        None => Err(super::engine::rt("incomplete reply")),
    }
}

fn number(s: &[u8]) -> mlua::Result<i64> {
    crate::protocol::resp::parse_i64(s).ok_or_else(|| super::engine::rt("bad reply length"))
}

fn single(lua: &Lua, name: &str, v: impl mlua::IntoLua) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set(name, v)?;
    Ok(Value::Table(t))
}

fn parse(lua: &Lua, buf: &[u8], pos: usize, depth: usize) -> mlua::Result<(Value, usize)> {
    if depth > MAX_DEPTH {
        return Err(super::engine::rt("reply nested too deeply"));
    }
    let tag = buf.get(pos).copied().unwrap_or(0);
    let (l, next) = line(buf, pos + 1)?;
    Ok(match tag {
        b'+' => (single(lua, "ok", lua.create_string(l)?)?, next),
        b'-' => (single(lua, "err", lua.create_string(l)?)?, next),
        b':' => (Value::Integer(number(l)?), next),
        b'$' | b'=' => {
            let n = number(l)?;
            if n < 0 {
                return Ok((Value::Boolean(false), next));
            }
            let end = next + n as usize;
            let body = buf
                .get(next..end)
                .ok_or_else(|| super::engine::rt("incomplete reply"))?;
            if tag == b'=' {
                let (fmt, s) = if body.len() >= 4 {
                    body.split_at(4)
                } else {
                    (&b"txt:"[..], body)
                };
                let vs = lua.create_table()?;
                vs.raw_set("format", lua.create_string(&fmt[..3])?)?;
                vs.raw_set("string", lua.create_string(s)?)?;
                (single(lua, "verbatim_string", vs)?, end + 2)
            } else {
                (Value::String(lua.create_string(body)?), end + 2)
            }
        }
        b'*' | b'>' | b'~' | b'%' | b'|' => {
            let n = number(l)?;
            if n < 0 {
                return Ok((Value::Boolean(false), next));
            }
            let t = lua.create_table()?;
            let mut p = next;
            match tag {
                b'%' | b'|' => {
                    for _ in 0..n {
                        let (k, q) = parse(lua, buf, p, depth + 1)?;
                        let (v, q) = parse(lua, buf, q, depth + 1)?;
                        p = q;
                        if !k.is_nil() {
                            t.raw_set(k, v)?;
                        }
                    }
                    if tag == b'|' {
                        // Attributes annotate the reply that follows; scripts see only it.
                        return parse(lua, buf, p, depth + 1);
                    }
                    (single(lua, "map", t)?, p)
                }
                b'~' => {
                    for _ in 0..n {
                        let (k, q) = parse(lua, buf, p, depth + 1)?;
                        p = q;
                        if !k.is_nil() {
                            t.raw_set(k, true)?;
                        }
                    }
                    (single(lua, "set", t)?, p)
                }
                _ => {
                    for i in 0..n {
                        let (v, q) = parse(lua, buf, p, depth + 1)?;
                        p = q;
                        t.raw_set(i + 1, v)?;
                    }
                    (Value::Table(t), p)
                }
            }
        }
        b'_' => (Value::Nil, next),
        b'#' => (Value::Boolean(l == b"t"), next),
        b',' => {
            let d = match l {
                b"inf" => f64::INFINITY,
                b"-inf" => f64::NEG_INFINITY,
                b"nan" => f64::NAN,
                _ => parse_f64(l).unwrap_or(0.0),
            };
            (single(lua, "double", d)?, next)
        }
        b'(' => (single(lua, "big_number", lua.create_string(l)?)?, next),
        _ => return Err(super::engine::rt("unknown reply type")),
    })
}
