//! MessagePack without I/O: a writer for replies and pushes (from the [`Value`] that
//! [`super::value`] reads back from RESP), and a reader for requests.
//!
//! Used by the MessagePack TCP front door (`docs/msgpack.md`: frames of a 4-byte big-endian
//! length and one value) and by binary frames on the WebSocket (`docs/websocket.md`). Only the
//! subset a request needs is decoded (nil, booleans, integers, floats, str, bin, arrays, maps;
//! ext values are skipped); every length is checked against the bytes present, so a hostile
//! frame is an error, never a panic or an allocation it controls.

use super::resp::{ArgBuf, Limits};
use super::value::Value;
use super::BadRequest;

// ---------------------------------------------------------------------------------------------
// Writing

pub fn nil(out: &mut Vec<u8>) {
    out.push(0xc0);
}

pub fn boolean(out: &mut Vec<u8>, b: bool) {
    out.push(if b { 0xc3 } else { 0xc2 });
}

/// An integer in its shortest form.
pub fn int(out: &mut Vec<u8>, n: i64) {
    if (0..=0x7f).contains(&n) {
        out.push(n as u8);
    } else if (-32..0).contains(&n) {
        out.push(n as i8 as u8);
    } else if n >= 0 {
        let n = n as u64;
        if n <= u8::MAX as u64 {
            out.extend_from_slice(&[0xcc, n as u8]);
        } else if n <= u16::MAX as u64 {
            out.push(0xcd);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= u32::MAX as u64 {
            out.push(0xce);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            out.push(0xcf);
            out.extend_from_slice(&n.to_be_bytes());
        }
    } else if n >= i8::MIN as i64 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= i16::MIN as i64 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= i32::MIN as i64 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

pub fn float(out: &mut Vec<u8>, d: f64) {
    out.push(0xcb);
    out.extend_from_slice(&d.to_bits().to_be_bytes());
}

/// A length header in the fix/8/16/32 family whose markers are given.
fn header(out: &mut Vec<u8>, n: usize, fix: Option<(u8, usize)>, m8: Option<u8>, m16: u8, m32: u8) {
    match fix {
        Some((base, max)) if n <= max => out.push(base | n as u8),
        _ => match m8 {
            Some(m) if n <= u8::MAX as usize => out.extend_from_slice(&[m, n as u8]),
            _ if n <= u16::MAX as usize => {
                out.push(m16);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            _ => {
                out.push(m32);
                out.extend_from_slice(&(n.min(u32::MAX as usize) as u32).to_be_bytes());
            }
        },
    }
}

pub fn str(out: &mut Vec<u8>, s: &[u8]) {
    header(out, s.len(), Some((0xa0, 31)), Some(0xd9), 0xda, 0xdb);
    out.extend_from_slice(s);
}

pub fn bin(out: &mut Vec<u8>, b: &[u8]) {
    header(out, b.len(), None, Some(0xc4), 0xc5, 0xc6);
    out.extend_from_slice(b);
}

pub fn array(out: &mut Vec<u8>, n: usize) {
    header(out, n, Some((0x90, 15)), None, 0xdc, 0xdd);
}

pub fn map(out: &mut Vec<u8>, n: usize) {
    header(out, n, Some((0x80, 15)), None, 0xde, 0xdf);
}

/// Bytes as `str` when they are UTF-8 (what most values are, and what clients decode to text),
/// else as `bin`.
pub fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    if std::str::from_utf8(b).is_ok() {
        str(out, b);
    } else {
        bin(out, b);
    }
}

/// A reply value; see the table in `docs/websocket.md`.
pub fn value(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Simple(s) | Value::Bulk(s) => bytes(out, s),
        Value::Big(s) => str(out, s),
        Value::Error(e) => {
            map(out, 1);
            str(out, b"$error");
            bytes(out, e);
        }
        Value::Int(n) => int(out, *n),
        Value::Double(d) => float(out, *d),
        Value::Bool(b) => boolean(out, *b),
        Value::Null => nil(out),
        Value::Array(items) | Value::Push(items) => {
            array(out, items.len());
            for i in items {
                value(out, i);
            }
        }
        Value::Map(pairs) => {
            map(out, pairs.len());
            for (k, v) in pairs {
                value(out, k);
                value(out, v);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

/// One decoded item. Aggregates give their count; their elements follow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Item {
    Nil,
    Bool(bool),
    Int(i64),
    /// An unsigned integer above `i64::MAX`.
    Uint(u64),
    Float(f64),
    /// `str` / `bin`: the range of their bytes in the reader's buffer.
    Str(usize, usize),
    Bin(usize, usize),
    Array(usize),
    Map(usize),
    /// An ext value (skipped whole).
    Ext,
}

/// A cursor over MessagePack bytes.
pub struct Reader<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

/// Nesting allowed when skipping a value.
const MAX_DEPTH: usize = 32;

pub const TRUNCATED: &str = "truncated MessagePack value";
const BAD_MARKER: &str = "invalid MessagePack marker 0xc1";

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], &'static str> {
        let end = self.pos.checked_add(n).ok_or(TRUNCATED)?;
        let b = self.buf.get(self.pos..end).ok_or(TRUNCATED)?;
        self.pos = end;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> Result<u64, &'static str> {
        Ok(self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | b as u64))
    }

    fn span(&mut self, n: usize, is_str: bool) -> Result<Item, &'static str> {
        let start = self.pos;
        self.take(n)?;
        Ok(if is_str {
            Item::Str(start, self.pos)
        } else {
            Item::Bin(start, self.pos)
        })
    }

    /// A count of elements, each at least one byte: more than the bytes left is truncated.
    fn count(&self, n: usize) -> Result<usize, &'static str> {
        if n > self.buf.len().saturating_sub(self.pos) {
            return Err(TRUNCATED);
        }
        Ok(n)
    }

    pub fn item(&mut self) -> Result<Item, &'static str> {
        let m = *self.take(1)?.first().ok_or(TRUNCATED)?;
        Ok(match m {
            0x00..=0x7f => Item::Int(m as i64),
            0x80..=0x8f => Item::Map(self.count((m & 0x0f) as usize * 2)? / 2),
            0x90..=0x9f => Item::Array(self.count((m & 0x0f) as usize)?),
            0xa0..=0xbf => self.span((m & 0x1f) as usize, true)?,
            0xc0 => Item::Nil,
            0xc1 => return Err(BAD_MARKER),
            0xc2 => Item::Bool(false),
            0xc3 => Item::Bool(true),
            0xc4 => {
                let n = self.be(1)? as usize;
                self.span(n, false)?
            }
            0xc5 => {
                let n = self.be(2)? as usize;
                self.span(n, false)?
            }
            0xc6 => {
                let n = self.be(4)? as usize;
                self.span(n, false)?
            }
            0xc7..=0xc9 => {
                let n = self.be([1, 2, 4][(m - 0xc7) as usize])? as usize;
                self.take(1 + n)?;
                Item::Ext
            }
            0xca => Item::Float(f32::from_bits(self.be(4)? as u32) as f64),
            0xcb => Item::Float(f64::from_bits(self.be(8)?)),
            0xcc => Item::Int(self.be(1)? as i64),
            0xcd => Item::Int(self.be(2)? as i64),
            0xce => Item::Int(self.be(4)? as i64),
            0xcf => {
                let n = self.be(8)?;
                i64::try_from(n).map_or(Item::Uint(n), Item::Int)
            }
            0xd0 => Item::Int(self.be(1)? as u8 as i8 as i64),
            0xd1 => Item::Int(self.be(2)? as u16 as i16 as i64),
            0xd2 => Item::Int(self.be(4)? as u32 as i32 as i64),
            0xd3 => Item::Int(self.be(8)? as i64),
            0xd4..=0xd8 => {
                self.take(1 + (1usize << (m - 0xd4)))?;
                Item::Ext
            }
            0xd9 => {
                let n = self.be(1)? as usize;
                self.span(n, true)?
            }
            0xda => {
                let n = self.be(2)? as usize;
                self.span(n, true)?
            }
            0xdb => {
                let n = self.be(4)? as usize;
                self.span(n, true)?
            }
            0xdc => Item::Array(self.be(2).and_then(|n| self.count(n as usize))?),
            0xdd => Item::Array(self.be(4).and_then(|n| self.count(n as usize))?),
            0xde => Item::Map(self.be(2).and_then(|n| self.count(n as usize * 2))? / 2),
            0xdf => Item::Map(self.be(4).and_then(|n| self.count(n as usize * 2))? / 2),
            0xe0..=0xff => Item::Int(m as i8 as i64),
        })
    }

    /// Skips one whole value (with its elements).
    pub fn skip(&mut self) -> Result<(), &'static str> {
        self.skip_depth(0)
    }

    fn skip_depth(&mut self, depth: usize) -> Result<(), &'static str> {
        if depth > MAX_DEPTH {
            return Err("MessagePack value nested too deeply");
        }
        match self.item()? {
            Item::Array(n) => (0..n).try_for_each(|_| self.skip_depth(depth + 1)),
            Item::Map(n) => (0..2 * n).try_for_each(|_| self.skip_depth(depth + 1)),
            _ => Ok(()),
        }
    }

    /// The bytes of one whole value, skipped.
    pub fn raw(&mut self) -> Result<&'a [u8], &'static str> {
        let start = self.pos;
        self.skip()?;
        Ok(&self.buf[start..self.pos])
    }
}

// ---------------------------------------------------------------------------------------------
// Requests

pub const BAD_ARRAY_REQUEST: &str =
    "a request must be an array [id, command, argument...] of an integer id and str or bin arguments";
pub const BAD_MAP_REQUEST: &str =
    "a request must be a map {\"id\": ..., \"cmd\": [str | bin | int | float, ...]} with a non-empty cmd";

/// Decodes a MessagePack TCP request, `[id, "CMD", arg...]`, from `buf[start..end]`: the raw
/// bytes of the id (an integer) into `id`, the arguments into `ab` as ranges of `buf` (no copy).
/// `id` is left empty when the request has none that can be read.
pub fn parse_array_request(
    buf: &[u8],
    start: usize,
    end: usize,
    ab: &mut ArgBuf,
    id: &mut Vec<u8>,
    lim: &Limits,
) -> Result<(), BadRequest> {
    id.clear();
    ab.begin(false);
    let frame = buf.get(..end).ok_or(BadRequest::new(TRUNCATED))?;
    let mut r = Reader {
        buf: frame,
        pos: start,
    };
    let n = match r.item().map_err(BadRequest::new)? {
        Item::Array(n) if n >= 2 => n,
        _ => return Err(BadRequest::new(BAD_ARRAY_REQUEST)),
    };
    let id_start = r.pos;
    match r.item().map_err(BadRequest::new)? {
        Item::Int(_) | Item::Uint(_) => id.extend_from_slice(&frame[id_start..r.pos]),
        _ => return Err(BadRequest::new(BAD_ARRAY_REQUEST)),
    }
    for _ in 1..n {
        match r.item().map_err(BadRequest::new)? {
            Item::Str(s, e) | Item::Bin(s, e) => {
                ab.check_limits(e - s, lim).map_err(BadRequest::fatal)?;
                ab.push_range(s, e);
            }
            _ => return Err(BadRequest::new(BAD_ARRAY_REQUEST)),
        }
    }
    if r.pos != end {
        return Err(BadRequest::new(
            "trailing bytes after the request in the frame",
        ));
    }
    Ok(())
}

/// Decodes a WebSocket MessagePack request, `{"id": any, "cmd": [...]}`: the raw bytes of the
/// id into `id` (`nil` when absent), the arguments into `ab` (copied: integers and floats become
/// their decimal text, as JSON numbers do).
pub fn parse_map_request(
    payload: &[u8],
    ab: &mut ArgBuf,
    id: &mut Vec<u8>,
    lim: &Limits,
) -> Result<(), BadRequest> {
    id.clear();
    id.push(0xc0);
    ab.begin(true);
    let mut r = Reader::new(payload);
    let Item::Map(n) = r.item().map_err(BadRequest::new)? else {
        return Err(BadRequest::new(BAD_MAP_REQUEST));
    };
    let mut cmd = None;
    for _ in 0..n {
        let key = match r.item().map_err(BadRequest::new)? {
            Item::Str(s, e) | Item::Bin(s, e) => &payload[s..e],
            _ => b"",
        };
        match key {
            b"id" => {
                let raw = r.raw().map_err(BadRequest::new)?;
                id.clear();
                id.extend_from_slice(raw);
            }
            b"cmd" => {
                let Item::Array(n) = r.item().map_err(BadRequest::new)? else {
                    return Err(BadRequest::new(BAD_MAP_REQUEST));
                };
                cmd = Some((r.pos, n));
                for _ in 0..n {
                    r.skip().map_err(BadRequest::new)?;
                }
            }
            _ => r.skip().map_err(BadRequest::new)?,
        }
    }
    let Some((pos, n)) = cmd.filter(|c| c.1 > 0) else {
        return Err(BadRequest::new(BAD_MAP_REQUEST));
    };
    let mut r = Reader { buf: payload, pos };
    let mut text = itoa::Buffer::new();
    for _ in 0..n {
        let float;
        let b: &[u8] = match r.item().map_err(BadRequest::new)? {
            Item::Str(s, e) | Item::Bin(s, e) => &payload[s..e],
            Item::Int(i) => text.format(i).as_bytes(),
            Item::Uint(u) => text.format(u).as_bytes(),
            Item::Float(f) => {
                float = crate::util::num::fmt_double(f);
                float.as_bytes()
            }
            _ => return Err(BadRequest::new(BAD_MAP_REQUEST)),
        };
        super::push_arg(ab, b, lim)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_in_their_shortest_form() {
        for n in [
            0,
            1,
            127,
            128,
            255,
            256,
            65535,
            65536,
            u32::MAX as i64 + 1,
            i64::MAX,
            -1,
            -32,
            -33,
            -128,
            -129,
            -32768,
            -32769,
            i32::MIN as i64 - 1,
            i64::MIN,
        ] {
            let mut b = Vec::new();
            int(&mut b, n);
            let mut r = Reader::new(&b);
            assert_eq!(r.item(), Ok(Item::Int(n)), "{n}");
            assert_eq!(r.pos, b.len());
        }
        let max = [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        assert_eq!(Reader::new(&max).item(), Ok(Item::Uint(u64::MAX)));
    }

    #[test]
    fn strings_and_aggregates_round_trip() {
        let mut b = Vec::new();
        array(&mut b, 3);
        str(&mut b, &[b'x'; 40]);
        bin(&mut b, &[0xff, 0]);
        map(&mut b, 1);
        nil(&mut b);
        boolean(&mut b, true);
        let mut r = Reader::new(&b);
        assert_eq!(r.item(), Ok(Item::Array(3)));
        assert_eq!(r.item(), Ok(Item::Str(3, 43)));
        assert_eq!(r.item(), Ok(Item::Bin(45, 47)));
        assert_eq!(r.raw().map(|s| s.len()), Ok(3));
        assert_eq!(r.pos, b.len());
    }

    #[test]
    fn hostile_lengths_are_errors() {
        for bad in [
            &[0xdb, 0xff, 0xff, 0xff, 0xff][..],
            &[0xdd, 0xff, 0xff, 0xff, 0xff],
            &[0xdf, 0x7f, 0xff, 0xff, 0xff],
            &[0xc6, 0, 0, 0, 9, 1],
            &[0xc1],
            &[],
        ] {
            assert!(Reader::new(bad).item().is_err(), "{bad:?}");
        }
        let deep = [0x91u8; 100];
        assert!(Reader::new(&deep).skip().is_err());
    }

    const LIM: Limits = Limits {
        max_bulk: 100,
        max_frame: 1 << 20,
        authenticated: true,
    };

    #[test]
    fn array_requests_are_ranges_of_the_frame() {
        let mut b = vec![0, 0, 0, 0];
        array(&mut b, 3);
        int(&mut b, 300);
        str(&mut b, b"GET");
        bin(&mut b, &[0xff]);
        let (mut ab, mut id) = (ArgBuf::default(), Vec::new());
        parse_array_request(&b, 4, b.len(), &mut ab, &mut id, &LIM).unwrap();
        assert_eq!(id, [0xcd, 1, 44]);
        assert_eq!(ab.args(&b).to_vec(), vec![b"GET".to_vec(), vec![0xff]]);
        // A string id, a nested array, trailing bytes: errors the connection survives.
        for bad in [
            &[0x92, 0xa1, b'x', 0xa1, b'y'][..],
            &[0x92, 1, 0x90],
            &[0x92, 1, 0xa0, 0],
        ] {
            let e = parse_array_request(bad, 0, bad.len(), &mut ab, &mut id, &LIM).unwrap_err();
            assert!(!e.fatal, "{bad:?}");
        }
    }

    #[test]
    fn map_requests_take_numbers_as_text() {
        let mut b = Vec::new();
        map(&mut b, 2);
        str(&mut b, b"cmd");
        array(&mut b, 3);
        str(&mut b, b"EXPIRE");
        bin(&mut b, b"k");
        int(&mut b, 60);
        str(&mut b, b"id");
        str(&mut b, b"req-1");
        let (mut ab, mut id) = (ArgBuf::default(), Vec::new());
        parse_map_request(&b, &mut ab, &mut id, &LIM).unwrap();
        assert_eq!(id, b"\xa5req-1");
        assert_eq!(
            ab.args(&[]).to_vec(),
            vec![b"EXPIRE".to_vec(), b"k".to_vec(), b"60".to_vec()]
        );
    }
}
