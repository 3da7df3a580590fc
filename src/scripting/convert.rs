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

use mlua::{ffi, Table, Value};

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

/// Pushes a command's reply (`buf`, one complete reply) onto the Lua stack of `l` as one value.
///
/// This runs inside `redis.call`, a raw C function (see `engine::lua_redis_call`), so it speaks
/// the C API directly: going through `mlua` values cost a registry reference per string.
///
/// # Safety
/// `l` is a live Lua state inside a C function call; the caller has no pending drops that a
/// Lua memory error (a `longjmp`) could skip beyond a leak.
pub unsafe fn push_reply(l: *mut ffi::lua_State, buf: &[u8]) -> Result<(), &'static str> {
    push(l, buf, 0, 0).map(|_| ())
}

fn line(buf: &[u8], pos: usize) -> Result<(&[u8], usize), &'static str> {
    let rest = buf.get(pos..).unwrap_or(&[]);
    match memchr::memmem::find(rest, b"\r\n") {
        Some(i) => Ok((&rest[..i], pos + i + 2)),
        None => Err("incomplete reply"),
    }
}

fn number(s: &[u8]) -> Result<i64, &'static str> {
    crate::protocol::resp::parse_i64(s).ok_or("bad reply length")
}

/// Pushes `s` as a Lua string.
pub(super) unsafe fn push_str(l: *mut ffi::lua_State, s: &[u8]) {
    ffi::lua_pushlstring(l, s.as_ptr().cast(), s.len());
}

/// Wraps the value on top of the stack in a table `{name = value}`.
pub(super) unsafe fn wrap(l: *mut ffi::lua_State, name: &str) {
    ffi::lua_createtable(l, 0, 1);
    push_str(l, name.as_bytes());
    ffi::lua_pushvalue(l, -3);
    ffi::lua_rawset(l, -3);
    ffi::lua_replace(l, -2);
}

/// Pushes the reply at `pos`; returns where the next one starts. Map keys that convert to nil
/// (RESP3 null) are left out, as Lua tables cannot hold them.
unsafe fn push(
    l: *mut ffi::lua_State,
    buf: &[u8],
    pos: usize,
    depth: usize,
) -> Result<usize, &'static str> {
    if depth > MAX_DEPTH || ffi::lua_checkstack(l, 4) == 0 {
        return Err("reply nested too deeply");
    }
    let tag = buf.get(pos).copied().unwrap_or(0);
    let (s, next) = line(buf, pos + 1)?;
    match tag {
        b'+' | b'-' | b'(' => {
            push_str(l, s);
            wrap(
                l,
                match tag {
                    b'+' => "ok",
                    b'-' => "err",
                    _ => "big_number",
                },
            );
            Ok(next)
        }
        b':' => {
            ffi::lua_pushnumber(l, number(s)? as f64);
            Ok(next)
        }
        b'$' | b'=' => {
            let n = number(s)?;
            if n < 0 {
                ffi::lua_pushboolean(l, 0);
                return Ok(next);
            }
            let end = next.saturating_add(n as usize);
            let body = buf.get(next..end).ok_or("incomplete reply")?;
            if tag == b'=' {
                let (fmt, text) = if body.len() >= 4 {
                    body.split_at(4)
                } else {
                    (&b"txt:"[..], body)
                };
                ffi::lua_createtable(l, 0, 2);
                push_str(l, b"format");
                push_str(l, &fmt[..3]);
                ffi::lua_rawset(l, -3);
                push_str(l, b"string");
                push_str(l, text);
                ffi::lua_rawset(l, -3);
                wrap(l, "verbatim_string");
            } else {
                push_str(l, body);
            }
            Ok(end + 2)
        }
        b'*' | b'>' | b'~' | b'%' | b'|' => {
            let n = number(s)?;
            if n < 0 {
                ffi::lua_pushboolean(l, 0);
                return Ok(next);
            }
            let hint = n.min(1024) as i32;
            let mut p = next;
            match tag {
                b'%' | b'|' | b'~' => {
                    ffi::lua_createtable(l, 0, hint);
                    for _ in 0..n {
                        p = push(l, buf, p, depth + 1)?;
                        if tag == b'~' {
                            ffi::lua_pushboolean(l, 1);
                        } else {
                            p = push(l, buf, p, depth + 1)?;
                        }
                        if ffi::lua_type(l, -2) == ffi::LUA_TNIL {
                            ffi::lua_pop(l, 2);
                        } else {
                            ffi::lua_rawset(l, -3);
                        }
                    }
                    match tag {
                        // Attributes annotate the reply that follows; scripts see only it.
                        b'|' => {
                            ffi::lua_pop(l, 1);
                            return push(l, buf, p, depth + 1);
                        }
                        b'~' => wrap(l, "set"),
                        _ => wrap(l, "map"),
                    }
                }
                _ => {
                    ffi::lua_createtable(l, hint, 0);
                    for i in 0..n {
                        p = push(l, buf, p, depth + 1)?;
                        ffi::lua_rawseti(l, -2, i + 1);
                    }
                }
            }
            Ok(p)
        }
        b'_' => {
            ffi::lua_pushnil(l);
            Ok(next)
        }
        b'#' => {
            ffi::lua_pushboolean(l, (s == b"t") as i32);
            Ok(next)
        }
        b',' => {
            let d = match s {
                b"inf" => f64::INFINITY,
                b"-inf" => f64::NEG_INFINITY,
                b"nan" => f64::NAN,
                _ => parse_f64(s).unwrap_or(0.0),
            };
            ffi::lua_pushnumber(l, d);
            wrap(l, "double");
            Ok(next)
        }
        _ => Err("unknown reply type"),
    }
}
