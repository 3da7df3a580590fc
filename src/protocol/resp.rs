//! RESP2/RESP3: request parsing straight from the connection's buffer, and reply encoding.
//!
//! Parsing never copies a multibulk argument: [`ArgBuf`] holds byte ranges into the frame, which
//! the connection keeps in its read buffer until the command has run. The parser is resumable: a
//! frame split across reads is continued where it stopped rather than re-scanned, so a large
//! multibulk arriving in pieces costs linear time. Limits and error texts follow Redis's
//! `processMultibulkBuffer` / `processInlineBuffer`: a protocol error is answered with
//! `-ERR Protocol error: ...` and the connection is closed by the caller.

use std::borrow::Cow;

use crate::util::num::fmt_double;

/// Longest line Redis accepts for an inline command or a `*`/`$` header (PROTO_INLINE_MAX_SIZE).
pub const INLINE_MAX: usize = 64 * 1024;
/// Largest bulk an unauthenticated client may send.
pub const UNAUTH_BULK_MAX: usize = 16 * 1024;
/// Largest multibulk count an unauthenticated client may send.
pub const UNAUTH_MBULK_MAX: i64 = 10;

/// Parser limits that depend on config and on the connection's authentication state.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_bulk: usize,
    /// Largest request frame of the length-prefixed front doors (`client-query-buffer-limit`).
    pub max_frame: usize,
    pub authenticated: bool,
}

/// The arguments of the command being parsed: ranges into the frame (multibulk) or into an owned
/// scratch buffer (inline), plus the resumable parser state.
#[derive(Default, Debug)]
pub struct ArgBuf {
    ranges: Vec<(usize, usize)>,
    scratch: Vec<u8>,
    inline: bool,
    /// Multibulk count once the `*N` header has been read.
    expected: Option<usize>,
    /// Where parsing of the current frame continues (relative to the frame start).
    pos: usize,
}

/// Result of trying to parse one frame from the start of the buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command of `consumed` bytes; its arguments are in the [`ArgBuf`].
    Command { consumed: usize },
    /// Bytes that carry no command (empty line, `*0`): skip them.
    Skip { consumed: usize },
    /// Need more bytes; `hint` is how many more are known to be needed at least.
    Incomplete { hint: usize },
}

impl ArgBuf {
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Gives back the capacity the arguments of past commands left (a parse in progress keeps
    /// its arguments).
    pub fn shrink(&mut self) {
        self.ranges.shrink_to_fit();
        self.scratch.shrink_to_fit();
    }

    /// The arguments as slices of `frame` (the buffer that [`parse`] was given).
    pub fn args<'a>(&'a self, frame: &'a [u8]) -> Args<'a> {
        Args {
            base: if self.inline { &self.scratch } else { frame },
            ranges: &self.ranges,
        }
    }

    /// Starts a request whose arguments a caller adds one by one (the front doors that do not
    /// speak RESP): ranges into the frame, or, with `owned`, copies (decoded JSON strings).
    pub fn begin(&mut self, owned: bool) {
        self.reset();
        self.inline = owned;
    }

    /// An argument at `start..end` of the frame (see [`ArgBuf::begin`]).
    pub fn push_range(&mut self, start: usize, end: usize) {
        self.ranges.push((start, end));
    }

    /// An argument copied in (see [`ArgBuf::begin`]).
    pub fn push_owned(&mut self, b: &[u8]) {
        let s = self.scratch.len();
        self.scratch.extend_from_slice(b);
        self.ranges.push((s, self.scratch.len()));
    }

    /// Checks the next argument, of `len` bytes, against the limits RESP enforces
    /// (`proto-max-bulk-len`; 10 arguments of 16 KB before authentication), with RESP's error
    /// texts.
    pub fn check_limits(&self, len: usize, lim: &Limits) -> Result<(), Cow<'static, str>> {
        if !lim.authenticated {
            if self.ranges.len() >= UNAUTH_MBULK_MAX as usize {
                return Err(Cow::Borrowed("unauthenticated multibulk length"));
            }
            if len > UNAUTH_BULK_MAX {
                return Err(Cow::Borrowed("unauthenticated bulk length"));
            }
        }
        if len > lim.max_bulk {
            return Err(Cow::Borrowed("invalid bulk length"));
        }
        Ok(())
    }

    fn reset(&mut self) {
        self.ranges.clear();
        self.scratch.clear();
        self.inline = false;
        self.expected = None;
        self.pos = 0;
    }

    /// Parses one frame from the start of `buf`. Call again with the same `buf` prefix (plus more
    /// bytes) after `Incomplete`. Protocol errors return the message after `Protocol error: `.
    pub fn parse(&mut self, buf: &[u8], lim: &Limits) -> Result<Parsed, Cow<'static, str>> {
        if self.expected.is_none() && self.pos == 0 {
            self.reset();
            let Some(&first) = buf.first() else {
                return Ok(Parsed::Incomplete { hint: 1 });
            };
            if first != b'*' {
                return self.parse_inline(buf);
            }
        }
        if self.expected.is_none() {
            let (n, cr) = match short_len(buf, b'*') {
                Some((n, cr)) => (n as i64, cr),
                None => {
                    let Some(cr) = line_end(buf, "too big mbulk count string")? else {
                        return Ok(Parsed::Incomplete { hint: 1 });
                    };
                    match parse_i64(&buf[1..cr]) {
                        Some(n) if n <= i32::MAX as i64 => (n, cr),
                        _ => return Err(Cow::Borrowed("invalid multibulk length")),
                    }
                }
            };
            if n > UNAUTH_MBULK_MAX && !lim.authenticated {
                return Err(Cow::Borrowed("unauthenticated multibulk length"));
            }
            if n <= 0 {
                self.reset();
                return Ok(Parsed::Skip { consumed: cr + 2 });
            }
            self.expected = Some(n as usize);
            self.pos = cr + 2;
            self.ranges.reserve((n as usize).min(1024));
        }
        let expected = self.expected.unwrap_or(0);
        while self.ranges.len() < expected {
            let rest = &buf[self.pos.min(buf.len())..];
            let (len, cr) = match short_len(rest, b'$').filter(|&(l, _)| l <= lim.max_bulk) {
                Some(found) => found,
                None => {
                    let Some(cr) = line_end(rest, "too big bulk count string")? else {
                        return Ok(Parsed::Incomplete { hint: 1 });
                    };
                    if rest[0] != b'$' {
                        return Err(format!("expected '$', got '{}'", rest[0] as char).into());
                    }
                    let len = match parse_i64(&rest[1..cr]) {
                        Some(l) if l >= 0 && (l as u64) <= lim.max_bulk as u64 => l as usize,
                        _ => return Err(Cow::Borrowed("invalid bulk length")),
                    };
                    if len > UNAUTH_BULK_MAX && !lim.authenticated {
                        return Err(Cow::Borrowed("unauthenticated bulk length"));
                    }
                    (len, cr)
                }
            };
            let start = self.pos + cr + 2;
            let end = start + len;
            if end + 2 > buf.len() {
                return Ok(Parsed::Incomplete {
                    hint: end + 2 - buf.len(),
                });
            }
            self.ranges.push((start, end));
            self.pos = end + 2;
        }
        let consumed = self.pos;
        self.expected = None;
        self.pos = 0;
        Ok(Parsed::Command { consumed })
    }

    fn parse_inline(&mut self, buf: &[u8]) -> Result<Parsed, Cow<'static, str>> {
        // Redis looks for the newline with `strchr`, so a NUL before it hides it: the request
        // stays incomplete until it passes the inline limit.
        let nl = memchr::memchr2(b'\n', 0, buf).filter(|&i| buf[i] == b'\n');
        let Some(nl) = nl else {
            if buf.len() > INLINE_MAX {
                return Err(Cow::Borrowed("too big inline request"));
            }
            return Ok(Parsed::Incomplete { hint: 1 });
        };
        let mut line = &buf[..nl];
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        let Some(parts) = super::split::split_args(line) else {
            return Err(Cow::Borrowed("unbalanced quotes in request"));
        };
        if parts.is_empty() {
            return Ok(Parsed::Skip { consumed: nl + 1 });
        }
        self.inline = true;
        for p in parts {
            let s = self.scratch.len();
            self.scratch.extend_from_slice(&p);
            self.ranges.push((s, self.scratch.len()));
        }
        Ok(Parsed::Command { consumed: nl + 1 })
    }
}

/// A command's arguments, `args[0]` being the command name.
#[derive(Clone, Copy)]
pub struct Args<'a> {
    base: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Args<'a> {
    /// Arguments as `ranges` into `base`.
    pub fn new(base: &'a [u8], ranges: &'a [(usize, usize)]) -> Self {
        Args { base, ranges }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.ranges.len()
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
    /// Argument `i`; callers index within the arity the command table has already checked.
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        match self.ranges.get(i) {
            Some(&(s, e)) => &self.base[s..e],
            None => &[],
        }
    }
    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        let base = self.base;
        self.ranges.iter().map(move |&(s, e)| &base[s..e])
    }
    /// Arguments from `i` on.
    pub fn from(&self, i: usize) -> Args<'a> {
        Args {
            base: self.base,
            ranges: self.ranges.get(i..).unwrap_or(&[]),
        }
    }
    /// The first `n` arguments (all of them if fewer).
    pub fn first(&self, n: usize) -> Args<'a> {
        Args {
            base: self.base,
            ranges: &self.ranges[..n.min(self.ranges.len())],
        }
    }
    pub fn to_vec(&self) -> Vec<Vec<u8>> {
        self.iter().map(|a| a.to_vec()).collect()
    }
}

/// Where the length line at the start of `buf` ends (the index of its `\r`), once its `\n` has
/// arrived too; None while it is incomplete. A line longer than Redis's inline limit is the
/// error `too_big`.
fn line_end(buf: &[u8], too_big: &'static str) -> Result<Option<usize>, Cow<'static, str>> {
    match memchr::memchr(b'\r', buf) {
        Some(cr) => Ok((cr + 1 < buf.len()).then_some(cr)),
        None if buf.len() > INLINE_MAX => Err(Cow::Borrowed(too_big)),
        None => Ok(None),
    }
}

/// The length lines every client sends for a short request, `kind` (`*` or `$`) and one to
/// four digits (no leading zero) then `\r`, whose `\n` has arrived: (length, index of the
/// `\r`). Four digits stay below the limits for clients that have not authenticated
/// ([`UNAUTH_BULK_MAX`]), so only `max_bulk` is left to check. Anything else (a long or
/// malformed line, one not complete yet) gets `None` and the general path ([`line_end`], then
/// the checks `string2ll` makes); for the four short lines of a typical request that search and
/// check were a tenth of the command's instructions.
#[inline]
fn short_len(rest: &[u8], kind: u8) -> Option<(usize, usize)> {
    const _: () = assert!(9999 < UNAUTH_BULK_MAX);
    let line = rest.get(..6)?;
    if line[0] != kind || line[1] == b'0' {
        return None;
    }
    let mut len = 0usize;
    for (i, &c) in line.iter().enumerate().skip(1) {
        match c {
            b'0'..=b'9' => len = len * 10 + (c - b'0') as usize,
            b'\r' if i > 1 => return (rest.len() > i + 1).then_some((len, i)),
            _ => return None,
        }
    }
    None
}

/// Strict Redis `string2ll`: optional `-`, digits, no leading zeros (except `0`), no spaces.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// The reply writer. Handlers call these methods; RESP2/RESP3 differences live only here.
#[derive(Debug, Default)]
pub struct Out {
    pub buf: Vec<u8>,
    pub resp3: bool,
}

impl Out {
    pub fn new(resp3: bool) -> Self {
        Out {
            buf: Vec::with_capacity(16 * 1024),
            resp3,
        }
    }

    /// `tag`, the decimal `n`, CRLF. Lengths and counts below 100 (most of them) are written as
    /// one fixed-size store with no digit loop and no `memcpy` call: every reply and every pushed
    /// change event goes through here several times.
    #[inline]
    fn header(&mut self, tag: u8, n: i64) {
        if (0..10).contains(&n) {
            self.buf
                .extend_from_slice(&[tag, b'0' + n as u8, b'\r', b'\n']);
        } else if (10..100).contains(&n) {
            let (t, u) = (n as u8 / 10, n as u8 % 10);
            self.buf
                .extend_from_slice(&[tag, b'0' + t, b'0' + u, b'\r', b'\n']);
        } else {
            self.header_long(tag, n);
        }
    }

    #[inline(never)]
    fn header_long(&mut self, tag: u8, n: i64) {
        let mut digits = itoa::Buffer::new();
        let d = digits.format(n).as_bytes();
        self.buf.reserve(d.len() + 3);
        self.buf.push(tag);
        self.buf.extend_from_slice(d);
        self.buf.extend_from_slice(b"\r\n");
    }

    #[inline]
    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }
    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }
    /// `e` is the whole error text including its code (`ERR ...`).
    pub fn error(&mut self, e: &str) {
        self.buf.push(b'-');
        // An error line cannot contain CR/LF. Redis (addReplyErrorFormat) trims them from both
        // ends, then replaces the ones left inside with spaces.
        let e = e.trim_matches(['\r', '\n']);
        self.buf.extend(
            e.bytes()
                .map(|c| if c == b'\r' || c == b'\n' { b' ' } else { c }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }
    #[inline]
    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }
    #[inline]
    pub fn bulk(&mut self, b: &[u8]) {
        self.header(b'$', b.len() as i64);
        self.buf.extend_from_slice(b);
        self.buf.extend_from_slice(b"\r\n");
    }
    /// Bytes already in RESP form (constant field names encoded once).
    #[inline]
    pub fn raw(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }
    pub fn bulk_str(&mut self, s: &str) {
        self.bulk(s.as_bytes());
    }
    pub fn bulk_int(&mut self, n: i64) {
        self.bulk(itoa::Buffer::new().format(n).as_bytes());
    }
    /// A missing value: `$-1` in RESP2, `_` in RESP3.
    #[inline]
    pub fn null(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"$-1\r\n" });
    }
    /// A missing aggregate: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        self.buf
            .extend_from_slice(if self.resp3 { b"_\r\n" } else { b"*-1\r\n" });
    }
    #[inline]
    pub fn array(&mut self, n: usize) {
        self.header(b'*', n as i64);
    }
    /// A map of `n` pairs: `%n` in RESP3, a flat array of 2n in RESP2.
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.header(b'%', n as i64);
        } else {
            self.header(b'*', 2 * n as i64);
        }
    }
    pub fn set(&mut self, n: usize) {
        self.header(if self.resp3 { b'~' } else { b'*' }, n as i64);
    }
    pub fn push(&mut self, n: usize) {
        self.header(if self.resp3 { b'>' } else { b'*' }, n as i64);
    }
    pub fn double(&mut self, d: f64) {
        let s = fmt_double(d);
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }
    /// Text meant for humans (INFO, CLIENT LIST): a verbatim string in RESP3, bulk in RESP2.
    pub fn verbatim(&mut self, s: &str) {
        if self.resp3 {
            self.header(b'=', s.len() as i64 + 4);
            self.buf.extend_from_slice(b"txt:");
            self.buf.extend_from_slice(s.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(s.as_bytes());
        }
    }
    pub fn big_number(&mut self, digits: &str) {
        if self.resp3 {
            self.buf.push(b'(');
            self.buf.extend_from_slice(digits.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(digits.as_bytes());
        }
    }
    pub fn bulks<'b>(&mut self, items: impl ExactSizeIterator<Item = &'b [u8]>) {
        self.array(items.len());
        for i in items {
            self.bulk(i);
        }
    }
    /// Where the writer stands, to undo a partial reply with [`Out::truncate`].
    pub fn mark(&self) -> usize {
        self.buf.len()
    }
    pub fn truncate(&mut self, mark: usize) {
        self.buf.truncate(mark);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIM: Limits = Limits {
        max_bulk: 512 * 1024 * 1024,
        max_frame: 1 << 30,
        authenticated: true,
    };

    fn parse_all(input: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut ab = ArgBuf::default();
        let mut off = 0;
        let mut out = vec![];
        loop {
            match ab.parse(&input[off..], &LIM).unwrap() {
                Parsed::Command { consumed } => {
                    out.push(ab.args(&input[off..]).to_vec());
                    off += consumed;
                }
                Parsed::Skip { consumed } => off += consumed,
                Parsed::Incomplete { .. } => return out,
            }
        }
    }

    #[test]
    fn integer_headers_match_decimal_formatting_at_every_width() {
        let mut values = vec![0, i64::MIN, i64::MAX, i64::MIN + 1];
        let mut p = 1i64;
        for _ in 0..18 {
            for v in [p - 1, p, p + 1] {
                values.extend([v, -v]);
            }
            p *= 10;
        }
        for v in values {
            let mut out = Out::new(false);
            out.buf.extend_from_slice(b"x");
            out.int(v);
            out.bulk(b"ab");
            assert_eq!(out.buf, format!("x:{v}\r\n$2\r\nab\r\n").as_bytes(), "{v}");
        }
    }

    #[test]
    fn parses_pipelined_multibulk_and_inline() {
        let cmds = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(cmds.len(), 3);
        assert_eq!(cmds[0], vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(cmds[1], vec![b"PING".to_vec()]);
    }

    #[test]
    fn resumes_a_frame_split_at_every_byte() {
        let frame = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        for cut in 1..frame.len() {
            let mut ab = ArgBuf::default();
            assert!(matches!(
                ab.parse(&frame[..cut], &LIM).unwrap(),
                Parsed::Incomplete { .. }
            ));
            assert_eq!(
                ab.parse(frame, &LIM).unwrap(),
                Parsed::Command {
                    consumed: frame.len()
                }
            );
            assert_eq!(ab.args(frame).get(2), b"value");
        }
    }

    #[test]
    fn rejects_bad_lengths() {
        let mut ab = ArgBuf::default();
        assert_eq!(
            ab.parse(b"*1\r\n$-5\r\n", &LIM),
            Err(Cow::Borrowed("invalid bulk length"))
        );
        let mut ab = ArgBuf::default();
        assert_eq!(
            ab.parse(b"*x\r\n", &LIM),
            Err(Cow::Borrowed("invalid multibulk length"))
        );
        let mut ab = ArgBuf::default();
        let lim = Limits {
            max_bulk: 100,
            max_frame: 1 << 30,
            authenticated: true,
        };
        assert_eq!(
            ab.parse(b"*1\r\n$101\r\n", &lim),
            Err(Cow::Borrowed("invalid bulk length"))
        );
        let mut ab = ArgBuf::default();
        assert_eq!(
            ab.parse(b"*1\r\n+OK\r\n", &LIM),
            Err("expected '$', got '+'".into())
        );
        // The same checks when the whole argument has arrived (the short-line path).
        let mut big = b"*1\r\n$101\r\n".to_vec();
        big.extend_from_slice(&[b'x'; 101]);
        big.extend_from_slice(b"\r\n");
        for (frame, lim) in [
            (&big[..], &lim),
            (&b"*1\r\n$03\r\nabc\r\n"[..], &LIM),
            (&b"*1\r\n$3x\r\nabc\r\n"[..], &LIM),
            (&b"*1\r\n$\r\nabc\r\n"[..], &LIM),
            (&b"*1\r\n$-1\r\nabc\r\n"[..], &LIM),
        ] {
            let mut ab = ArgBuf::default();
            assert_eq!(
                ab.parse(frame, lim),
                Err(Cow::Borrowed("invalid bulk length"))
            );
        }
    }

    #[test]
    fn the_short_length_path_agrees_with_string2ll_on_every_small_line() {
        // Every line of up to six symbols from an alphabet of digits and troublemakers: where
        // the short path answers, it must be the general path's answer (the first `\r`, and
        // the strict integer before it).
        let alphabet = b"0190-+ a\r\n";
        let mut line = Vec::new();
        for len in 0..=6u32 {
            for mut code in 0..alphabet.len().pow(len) {
                line.clear();
                line.push(b'$');
                for _ in 0..len {
                    line.push(alphabet[code % alphabet.len()]);
                    code /= alphabet.len();
                }
                line.extend_from_slice(b"\r\nxxxx");
                if let Some((n, cr)) = short_len(&line, b'$') {
                    let first_cr = memchr::memchr(b'\r', &line).unwrap();
                    assert_eq!(cr, first_cr, "{line:?}");
                    assert_eq!(parse_i64(&line[1..cr]), Some(n as i64), "{line:?}");
                }
            }
        }
    }

    #[test]
    fn lengths_of_every_width_parse() {
        for n in [
            0usize,
            1,
            9,
            10,
            99,
            100,
            9999,
            10000,
            99999,
            100000,
            1 << 20,
        ] {
            let mut frame = format!("*2\r\n$1\r\nx\r\n${n}\r\n").into_bytes();
            frame.resize(frame.len() + n, b'v');
            frame.extend_from_slice(b"\r\n");
            let cmds = parse_all(&frame);
            assert_eq!(cmds.len(), 1, "{n}");
            assert_eq!(cmds[0][1].len(), n);
        }
    }

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"01"), None);
        assert_eq!(parse_i64(b"-0"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b"+1"), None);
    }
}
