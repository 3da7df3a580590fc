//! `cjson.decode` as Redis's bundled lua-cjson 2.1.0 (`deps/lua/src/lua_cjson.c`) decodes:
//! what it accepts, the Lua values it returns and its exact error messages.
//!
//! Hand-written (a tokenizer and a recursive descent parser, its recursion kept on the heap)
//! because `serde_json` differs from lua-cjson wherever a script can notice: its error texts,
//! its recursion limit of 128 (lua-cjson allows 1000 levels) and its number grammar (lua-cjson
//! reads numbers with C's `strtod`, so with Redis's default `decode_invalid_numbers` it takes
//! `0x1F`, `+1`, `01`, `1.`, `inf`, `-nan`...).
//!
//! What lua-cjson does, and so what this does:
//! * The input ends at its first NUL byte, as a C string would (`[1]\0junk` is `{1}`); an input
//!   of two or more bytes with a NUL among its first two is refused as UTF-16/UTF-32.
//! * Tokens: `{ } [ ] : ,`, strings, numbers, `true`, `false`, `null`; whitespace is space, tab,
//!   CR and LF only. A byte that starts nothing is an `invalid token`.
//! * Numbers: whatever `strtod` reads from a token that starts with `-` or a digit (or, with
//!   invalid numbers allowed, `+`, `inf`, `nan` in any case); reading nothing is an `invalid
//!   number`, and what `strtod` leaves unread is the next token (`1e` is 1 then `e`).
//!   Every number becomes a Lua number (a double).
//! * Strings: bytes are taken as they are (control characters and invalid UTF-8 included);
//!   escapes are `\" \\ \/ \b \f \n \r \t \uXXXX`, a surrogate pair giving one 4-byte UTF-8
//!   character and a lone surrogate an `invalid unicode escape code`.
//! * `null` is `cjson.null` (a NULL light userdata), arrays are tables from index 1, objects are
//!   tables (a repeated key keeps its last value).
//! * Errors: `Expected <what> but found <token> at character <n>`, `n` the 1-based position of
//!   the token (of the backslash for a bad escape); `Found too many nested data structures (<d>)
//!   at character <n>` past `decode_max_depth` (1000), `n` the position just after the bracket.
//!
//! [`Config`] has lua-cjson's two decoding settings, Redis's defaults in [`REDIS`]; `libs.rs`
//! keeps the settings that `cjson.decode_max_depth`/`cjson.decode_invalid_numbers` change.

use mlua::{LightUserData, Lua, Table, Value};

use super::engine::rt;
use crate::util::num::strtod_prefix;

/// lua-cjson's decoding settings (`cjson.decode_max_depth`, `cjson.decode_invalid_numbers`).
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// How many arrays/objects may be open at once.
    pub max_depth: usize,
    /// Whether numbers beyond JSON's grammar (hex, `inf`, `nan`, a leading `+` or `0`) are read.
    pub invalid_numbers: bool,
}

/// Redis's build: lua-cjson's defaults (`DISABLE_INVALID_NUMBERS` is not defined).
pub const REDIS: Config = Config {
    max_depth: 1000,
    invalid_numbers: true,
};

/// The kinds of token; the names are lua-cjson's, which its errors print.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    ObjBegin,
    ObjEnd,
    ArrBegin,
    ArrEnd,
    /// Its bytes are in [`Parser::buf`].
    Str,
    Number(f64),
    Boolean(bool),
    Null,
    Colon,
    Comma,
    End,
    /// A malformed token; lua-cjson prints the reason in place of a token name.
    Error(&'static str),
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ObjBegin => "T_OBJ_BEGIN",
            Kind::ObjEnd => "T_OBJ_END",
            Kind::ArrBegin => "T_ARR_BEGIN",
            Kind::ArrEnd => "T_ARR_END",
            Kind::Str => "T_STRING",
            Kind::Number(_) => "T_NUMBER",
            Kind::Boolean(_) => "T_BOOLEAN",
            Kind::Null => "T_NULL",
            Kind::Colon => "T_COLON",
            Kind::Comma => "T_COMMA",
            Kind::End => "T_END",
            Kind::Error(why) => why,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Token {
    kind: Kind,
    /// 0-based offset of the token's first byte; for a malformed string, of the bad escape's
    /// backslash or of the end.
    at: usize,
}

/// Decodes `input` into a Lua value, or raises lua-cjson's error as a Lua runtime error.
pub fn decode(lua: &Lua, input: &[u8], cfg: Config) -> mlua::Result<Value> {
    if input.len() >= 2 && (input[0] == 0 || input[1] == 0) {
        return Err(rt("JSON parser does not support UTF-16 or UTF-32"));
    }
    let mut p = Parser {
        s: input,
        pos: 0,
        buf: Vec::new(),
        cfg,
    };
    let v = p.document(lua)?;
    let tok = p.next_token();
    if tok.kind != Kind::End {
        return Err(unexpected("the end", tok));
    }
    Ok(v)
}

fn unexpected(what: &str, tok: Token) -> mlua::Error {
    rt(&format!(
        "Expected {what} but found {} at character {}",
        tok.kind.name(),
        tok.at + 1
    ))
}

fn null() -> Value {
    Value::LightUserData(LightUserData(std::ptr::null_mut()))
}

struct Parser<'a> {
    s: &'a [u8],
    /// The next byte to read.
    pos: usize,
    /// The contents of the last string token.
    buf: Vec<u8>,
    cfg: Config,
}

impl Parser<'_> {
    /// The byte at `i`, 0 past the end (lua-cjson reads a NUL-terminated string).
    fn byte(&self, i: usize) -> u8 {
        self.s.get(i).copied().unwrap_or(0)
    }

    fn next_token(&mut self) -> Token {
        while matches!(self.byte(self.pos), b' ' | b'\t' | b'\n' | b'\r') {
            self.pos += 1;
        }
        let at = self.pos;
        let token = |kind| Token { kind, at };
        let single = match self.byte(at) {
            b'{' => Some(Kind::ObjBegin),
            b'}' => Some(Kind::ObjEnd),
            b'[' => Some(Kind::ArrBegin),
            b']' => Some(Kind::ArrEnd),
            b':' => Some(Kind::Colon),
            b',' => Some(Kind::Comma),
            _ => None,
        };
        if let Some(kind) = single {
            self.pos += 1;
            return token(kind);
        }
        match self.byte(at) {
            // The end of the input (or an embedded NUL): the position stays.
            0 => token(Kind::End),
            b'"' => self.string(),
            b'-' | b'0'..=b'9' => {
                if !self.cfg.invalid_numbers && self.invalid_number() {
                    return token(Kind::Error("invalid number"));
                }
                self.number()
            }
            b't' | b'f' | b'n' | b'i' | b'I' | b'N' | b'+' => {
                let rest = self.s.get(at..).unwrap_or_default();
                let word = [
                    (&b"true"[..], Kind::Boolean(true)),
                    (b"false", Kind::Boolean(false)),
                    (b"null", Kind::Null),
                ]
                .into_iter()
                .find(|(w, _)| rest.starts_with(w));
                if let Some((w, kind)) = word {
                    self.pos += w.len();
                    return token(kind);
                }
                // Only what is known not to be JSON goes to strtod, so that other words are
                // invalid tokens rather than invalid numbers.
                if self.cfg.invalid_numbers && self.invalid_number() {
                    return self.number();
                }
                token(Kind::Error("invalid token"))
            }
            _ => token(Kind::Error("invalid token")),
        }
    }

    /// lua-cjson's `json_is_invalid_number`: whether the number at `pos` is outside JSON's
    /// grammar in a way `strtod` would still read (a leading `+` or zero, hex, inf, nan).
    fn invalid_number(&self) -> bool {
        let mut p = self.pos;
        match self.byte(p) {
            b'+' => return true,
            b'-' => p += 1,
            _ => {}
        }
        let c = self.byte(p);
        if c == b'0' {
            let c2 = self.byte(p + 1);
            return c2 | 0x20 == b'x' || c2.is_ascii_digit();
        }
        // C compares a signed char: bytes from 0x80 count as "below '9'", an ordinary number.
        if c <= b'9' || c >= 0x80 {
            return false;
        }
        let word = |w: &[u8]| (0..3).all(|i| self.byte(p + i).eq_ignore_ascii_case(&w[i]));
        word(b"inf") || word(b"nan")
    }

    fn number(&mut self) -> Token {
        let at = self.pos;
        match strtod_prefix(self.s.get(at..).unwrap_or_default()) {
            Some((n, len)) => {
                self.pos += len;
                Token {
                    kind: Kind::Number(n),
                    at,
                }
            }
            None => Token {
                kind: Kind::Error("invalid number"),
                at,
            },
        }
    }

    /// A string token from its opening quote at `pos`; its bytes go to `buf`.
    fn string(&mut self) -> Token {
        let at = self.pos;
        let fail = |why, at| Token {
            kind: Kind::Error(why),
            at,
        };
        self.buf.clear();
        self.pos += 1;
        loop {
            let c = self.byte(self.pos);
            match c {
                b'"' => break,
                0 => return fail("unexpected end of string", self.pos),
                b'\\' => {
                    let plain = match self.byte(self.pos + 1) {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'u' => {
                            if !self.unicode_escape() {
                                return fail("invalid unicode escape code", self.pos);
                            }
                            continue;
                        }
                        _ => return fail("invalid escape code", self.pos),
                    };
                    self.buf.push(plain);
                    self.pos += 2;
                }
                _ => {
                    self.buf.push(c);
                    self.pos += 1;
                }
            }
        }
        self.pos += 1;
        Token {
            kind: Kind::Str,
            at,
        }
    }

    /// Four hex digits at `i`, or None.
    fn hex4(&self, i: usize) -> Option<u32> {
        (0..4).try_fold(0u32, |acc, k| {
            let d = char::from(self.byte(i + k)).to_digit(16)?;
            Some(acc << 4 | d)
        })
    }

    /// `\uXXXX` (or a surrogate pair `\uD8xx\uDCxx`) at `pos`, appended to `buf` as UTF-8;
    /// `pos` moves past it. False if malformed (`pos` stays on the backslash).
    fn unicode_escape(&mut self) -> bool {
        let Some(mut cp) = self.hex4(self.pos + 2) else {
            return false;
        };
        let mut len = 6;
        if cp & 0xF800 == 0xD800 {
            // A surrogate: it must be a high one followed by an escaped low one.
            if cp & 0x400 != 0
                || self.byte(self.pos + 6) != b'\\'
                || self.byte(self.pos + 7) != b'u'
            {
                return false;
            }
            let Some(low) = self.hex4(self.pos + 8) else {
                return false;
            };
            if low & 0xFC00 != 0xDC00 {
                return false;
            }
            cp = (((cp & 0x3FF) << 10) | (low & 0x3FF)) + 0x10000;
            len = 12;
        }
        // Every value left is a scalar value (surrogates were paired above).
        let Some(ch) = char::from_u32(cp) else {
            return false;
        };
        let mut utf8 = [0u8; 4];
        self.buf
            .extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
        self.pos += len;
        true
    }

    /// The whole value: lua-cjson's recursive descent, with the open arrays and objects on a
    /// heap stack instead of the call stack (in a debug build a recursive parser takes 3-4 KiB
    /// of stack a level, and 1000 levels overflow a thread's stack). Tokens are read in the
    /// same order as lua-cjson reads them, so the same token is blamed for the same error.
    fn document(&mut self, lua: &Lua) -> mlua::Result<Value> {
        let mut open: Vec<Open> = Vec::new();
        let mut tok = self.next_token();
        loop {
            // A value starts at `tok`: a scalar, or a container that may end at once.
            let mut v = match tok.kind {
                Kind::Str => Value::String(lua.create_string(&self.buf)?),
                Kind::Number(n) => Value::Number(n),
                Kind::Boolean(b) => Value::Boolean(b),
                Kind::Null => null(),
                Kind::ObjBegin | Kind::ArrBegin => {
                    let object = tok.kind == Kind::ObjBegin;
                    self.descend(open.len())?;
                    let t = lua.create_table()?;
                    tok = self.next_token();
                    if tok.kind == if object { Kind::ObjEnd } else { Kind::ArrEnd } {
                        Value::Table(t)
                    } else if object {
                        let key = self.key(tok)?;
                        open.push(Open::Object(t, key));
                        tok = self.next_token();
                        continue;
                    } else {
                        open.push(Open::Array(t, 1));
                        continue;
                    }
                }
                _ => return Err(unexpected("value", tok)),
            };
            // Store it in its container; a container that ends with it is the next one to
            // store, until one goes on with a comma (the next value) or none is open.
            loop {
                let Some(top) = open.last_mut() else {
                    return Ok(v);
                };
                let (end, what) = match top {
                    Open::Array(t, i) => {
                        t.raw_set(*i, v)?;
                        *i += 1;
                        (Kind::ArrEnd, "comma or array end")
                    }
                    Open::Object(t, key) => {
                        t.raw_set(lua.create_string(&*key)?, v)?;
                        (Kind::ObjEnd, "comma or object end")
                    }
                };
                tok = self.next_token();
                if tok.kind == end {
                    v = match open.pop() {
                        Some(Open::Array(t, _) | Open::Object(t, _)) => Value::Table(t),
                        None => Value::Nil,
                    };
                    continue;
                }
                if tok.kind != Kind::Comma {
                    return Err(unexpected(what, tok));
                }
                tok = self.next_token();
                if let Some(Open::Object(_, key)) = open.last_mut() {
                    *key = self.key(tok)?;
                    tok = self.next_token();
                }
                break;
            }
        }
    }

    /// Entering an array or object (its bracket just read) inside `depth` others.
    fn descend(&self, depth: usize) -> mlua::Result<()> {
        if depth + 1 > self.cfg.max_depth {
            return Err(rt(&format!(
                "Found too many nested data structures ({}) at character {}",
                depth + 1,
                self.pos
            )));
        }
        Ok(())
    }

    /// An object's key (`tok`) and the colon after it; the key's bytes leave `buf`, which the
    /// value may need for strings of its own.
    fn key(&mut self, tok: Token) -> mlua::Result<Vec<u8>> {
        if tok.kind != Kind::Str {
            return Err(unexpected("object key string", tok));
        }
        let key = std::mem::take(&mut self.buf);
        let colon = self.next_token();
        if colon.kind != Kind::Colon {
            return Err(unexpected("colon", colon));
        }
        Ok(key)
    }
}

/// An array or object being read: the table, and the next index or the current key.
enum Open {
    Array(Table, i64),
    Object(Table, Vec<u8>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &[u8], cfg: Config) -> Result<String, String> {
        let lua = Lua::new();
        let v = decode(&lua, input, cfg).map_err(|e| match e {
            mlua::Error::RuntimeError(m) => m,
            other => other.to_string(),
        })?;
        lua.globals().set("v", v).unwrap();
        // A canonical rendering: sorted keys, %q strings, %.17g numbers.
        let show: String = lua
            .load(
                r#"
                local function d(v)
                  if type(v) == 'table' then
                    local keys = {}
                    for k in pairs(v) do keys[#keys + 1] = k end
                    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
                    local out = {}
                    for _, k in ipairs(keys) do out[#out + 1] = d(k) .. '=' .. d(v[k]) end
                    return '{' .. table.concat(out, ',') .. '}'
                  elseif type(v) == 'string' then return string.format('%q', v)
                  elseif type(v) == 'number' then return string.format('%.17g', v)
                  elseif type(v) == 'userdata' then return 'null'
                  else return tostring(v) end
                end
                return d(v)
                "#,
            )
            .eval()
            .unwrap();
        Ok(show)
    }

    #[test]
    fn values_and_errors() {
        let ok = |input: &[u8], want: &str| {
            assert_eq!(run(input, REDIS), Ok(want.to_string()), "{input:?}");
        };
        ok(b" [1, 2 ,3] ", "{1=1,2=2,3=3}");
        ok(
            b"[1,[2,[3]],{\"a\":{\"b\":null}}]",
            "{1=1,2={1=2,2={1=3}},3={\"a\"={\"b\"=null}}}",
        );
        ok(b"{\"a\":1,\"a\":2}", "{\"a\"=2}");
        ok(b"[null,true,false]", "{1=null,2=true,3=false}");
        ok(
            b"\"\\ud83d\\ude00\\u00e9\\u0000\"",
            "\"\u{1F600}\u{e9}\\000\"",
        );
        ok(
            b"\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"",
            "\"/\u{8}\u{c}\\\n\\r\t\\\"\\\\\"",
        );
        ok(b"[1]\0junk", "{1=1}");
        ok(b"[0x10, +1, inf]", "{1=16,2=1,3=inf}");
        let err = |input: &[u8], want: &str| {
            assert_eq!(run(input, REDIS), Err(want.to_string()), "{input:?}");
        };
        err(b"", "Expected value but found T_END at character 1");
        err(b" ", "Expected value but found T_END at character 2");
        err(
            b"f3",
            "Expected value but found invalid token at character 1",
        );
        err(
            b"\xff",
            "Expected value but found invalid token at character 1",
        );
        err(b"[1,]", "Expected value but found T_ARR_END at character 4");
        err(
            b"{\"a\":1,}",
            "Expected object key string but found T_OBJ_END at character 8",
        );
        err(
            b"{\"a\" 1}",
            "Expected colon but found T_NUMBER at character 6",
        );
        err(
            b"{\"a\":1 \"b\":2}",
            "Expected comma or object end but found T_STRING at character 8",
        );
        err(
            b"[1 2]",
            "Expected comma or array end but found T_NUMBER at character 4",
        );
        err(
            b"\"abc",
            "Expected value but found unexpected end of string at character 5",
        );
        err(
            b"\"a\0b\"",
            "Expected value but found unexpected end of string at character 3",
        );
        err(
            b"\"ab\0\"",
            "Expected value but found unexpected end of string at character 4",
        );
        err(
            b"\"a\\qb\"",
            "Expected value but found invalid escape code at character 3",
        );
        err(
            b"\"abc\\",
            "Expected value but found invalid escape code at character 5",
        );
        err(
            b"\"\\ud83d\"",
            "Expected value but found invalid unicode escape code at character 2",
        );
        err(
            b"\"\\ude00\"",
            "Expected value but found invalid unicode escape code at character 2",
        );
        err(
            b"\"\\uD800\\u",
            "Expected value but found invalid unicode escape code at character 2",
        );
        err(
            b"-",
            "Expected value but found invalid number at character 1",
        );
        err(
            b"[1]x",
            "Expected the end but found invalid token at character 4",
        );
        err(b"1 2", "Expected the end but found T_NUMBER at character 3");
        err(
            b"nanx",
            "Expected the end but found invalid token at character 4",
        );
        err(
            b"tru",
            "Expected value but found invalid token at character 1",
        );
        err(b"\0\0", "JSON parser does not support UTF-16 or UTF-32");
        err(b"\0", "Expected value but found T_END at character 1");
    }

    #[test]
    fn settings() {
        let strict = Config {
            max_depth: 3,
            invalid_numbers: false,
        };
        assert_eq!(run(b"[[[1]]]", strict), Ok("{1={1={1=1}}}".into()));
        assert_eq!(
            run(b"[[[[1]]]]", strict),
            Err("Found too many nested data structures (4) at character 4".into())
        );
        assert_eq!(
            run(b" [ {\"a\": [ [", strict),
            Err("Found too many nested data structures (4) at character 12".into())
        );
        // As Redis answers after `cjson.decode_invalid_numbers(false)`: what starts like a
        // number is an invalid number, the rest invalid tokens.
        for (s, what) in [
            ("0x10", "number"),
            ("01", "number"),
            ("-01", "number"),
            ("-inf", "number"),
            ("-x", "number"),
            ("+1", "token"),
            ("inf", "token"),
            ("nan", "token"),
            ("NaN", "token"),
            ("Infinity", "token"),
            ("in", "token"),
        ] {
            assert_eq!(
                run(s.as_bytes(), strict),
                Err(format!(
                    "Expected value but found invalid {what} at character 1"
                )),
                "{s}"
            );
        }
        assert_eq!(run(b"-0.5e1", strict), Ok("-5".into()));
    }

    /// 1000 levels take no more stack than one.
    #[test]
    fn deep_nesting_in_a_small_stack() {
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(|| {
                let deep = |open: &str, close: &str, n: usize| {
                    format!("{}1{}", open.repeat(n), close.repeat(n)).into_bytes()
                };
                let lua = Lua::new();
                assert!(decode(&lua, &deep("[", "]", 1000), REDIS).is_ok());
                assert!(decode(&lua, &deep("{\"k\":", "}", 1000), REDIS).is_ok());
                let e = decode(&lua, &deep("[", "]", 1001), REDIS).unwrap_err();
                assert!(
                    matches!(&e, mlua::Error::RuntimeError(m)
                        if m == "Found too many nested data structures (1001) at character 1001"),
                    "{e}"
                );
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
