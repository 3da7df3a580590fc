//! Value serialisation in Redis's RDB object encoding, shared by DUMP/RESTORE and snapshots.
//!
//! A serialised value is an RDB type byte followed by that type's RDB body, so a DUMP payload
//! from Redis restores in Eddy and back. A DUMP payload is `value | u16 RDB version | u64
//! CRC-64/Jones`, both little-endian, the checksum over everything before it; a payload whose
//! version is newer than we understand or whose checksum does not match is rejected before it
//! is decoded. Strings are written with Redis's integer encoding where it applies and read in
//! every form Redis writes (length-prefixed, integer, LZF-compressed). Each family adds its
//! type's body here beside the others.

use crc::{Crc, CRC_64_REDIS};

use super::value::{Meta, Str, Value};
use crate::util::num::parse_i64;

const RDB_TYPE_STRING: u8 = 0;
/// The RDB version written (Redis 7.0's); payloads up to [`RDB_VERSION_MAX`] are read.
pub const RDB_VERSION: u16 = 10;
pub const RDB_VERSION_MAX: u16 = 12;
/// CRC-64/Jones, Redis's checksum of DUMP payloads and RDB files.
pub const CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_REDIS);

const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

/// RDB length encoding.
pub fn write_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// An RDB string: integer-encoded when it is a short canonical integer, as Redis writes it.
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() <= 11 {
        if let Some(v) = parse_i64(s) {
            if let Ok(b) = i8::try_from(v) {
                out.push(0xC0 | ENC_INT8);
                out.push(b as u8);
                return;
            } else if let Ok(w) = i16::try_from(v) {
                out.push(0xC0 | ENC_INT16);
                out.extend_from_slice(&w.to_le_bytes());
                return;
            } else if let Ok(d) = i32::try_from(v) {
                out.push(0xC0 | ENC_INT32);
                out.extend_from_slice(&d.to_le_bytes());
                return;
            }
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// A cursor over RDB bytes; every read is bounds-checked.
pub struct Reader<'a> {
    b: &'a [u8],
    pub pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }

    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }

    pub fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    /// A length, or `Err(encoding)` for the special string encodings.
    fn len_or_enc(&mut self) -> Option<Result<u64, u8>> {
        let first = self.u8()?;
        Some(match first >> 6 {
            0 => Ok((first & 0x3f) as u64),
            1 => Ok((((first & 0x3f) as u64) << 8) | self.u8()? as u64),
            2 => match first {
                0x80 => Ok(u32::from_be_bytes(self.take(4)?.try_into().ok()?) as u64),
                0x81 => Ok(u64::from_be_bytes(self.take(8)?.try_into().ok()?)),
                _ => return None,
            },
            _ => Err(first & 0x3f),
        })
    }

    pub fn length(&mut self) -> Option<u64> {
        self.len_or_enc()?.ok()
    }

    pub fn string(&mut self) -> Option<Vec<u8>> {
        match self.len_or_enc()? {
            Ok(n) => Some(self.take(usize::try_from(n).ok()?)?.to_vec()),
            Err(ENC_INT8) => Some((self.u8()? as i8).to_string().into_bytes()),
            Err(ENC_INT16) => Some(
                i16::from_le_bytes(self.take(2)?.try_into().ok()?)
                    .to_string()
                    .into_bytes(),
            ),
            Err(ENC_INT32) => Some(
                i32::from_le_bytes(self.take(4)?.try_into().ok()?)
                    .to_string()
                    .into_bytes(),
            ),
            Err(ENC_LZF) => {
                let clen = usize::try_from(self.length()?).ok()?;
                let len = usize::try_from(self.length()?).ok()?;
                lzf_decompress(self.take(clen)?, len)
            }
            Err(_) => None,
        }
    }
}

/// LZF decompression (the format Redis compresses RDB strings with). `None` on any malformed
/// input, including output that would not have exactly `len` bytes.
fn lzf_decompress(input: &[u8], len: usize) -> Option<Vec<u8>> {
    // A client controls `len`; the output can be at most ~264 bytes per input byte.
    if len > input.len().saturating_mul(264) {
        return None;
    }
    let mut out = Vec::with_capacity(len);
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            let run = ctrl + 1;
            out.extend_from_slice(input.get(i..i + run)?);
            i += run;
        } else {
            let mut n = ctrl >> 5;
            if n == 7 {
                n += *input.get(i)? as usize;
                i += 1;
            }
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            let start = out.len().checked_sub(back)?;
            for k in 0..n + 2 {
                let b = out[start + k];
                out.push(b);
            }
        }
        if out.len() > len {
            return None;
        }
    }
    (out.len() == len).then_some(out)
}

pub fn encode_value(v: &Value, out: &mut Vec<u8>) {
    use super::value::Collection;
    match v {
        Value::Str(s, _) => {
            out.push(RDB_TYPE_STRING);
            write_string(out, s);
        }
        Value::List(c, _) => c.rdb_encode(out),
        Value::Hash(c, _) => c.rdb_encode(out),
        Value::Set(c, _) => c.rdb_encode(out),
        Value::ZSet(c, _) => c.rdb_encode(out),
        Value::Stream(c, _) => c.rdb_encode(out),
    }
}

/// Calls `f` with each element of a Redis listpack blob, in order (integers as their decimal
/// text, as Redis returns them); `None` if the blob is malformed. Redis 7 writes small hashes,
/// sorted sets, sets (7.2) and list nodes as listpacks, so RESTORE of their DUMP reads this.
pub fn listpack_for_each(b: &[u8], mut f: impl FnMut(&[u8])) -> Option<()> {
    let total = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) as usize;
    if total != b.len() {
        return None;
    }
    let mut at = 6;
    let mut num = itoa::Buffer::new();
    loop {
        let c = *b.get(at)?;
        if c == 0xFF {
            return (at + 1 == b.len()).then_some(());
        }
        let (hdr, len, int): (usize, usize, Option<i64>) = if c & 0x80 == 0 {
            (1, 0, Some((c & 0x7f) as i64))
        } else if c & 0xC0 == 0x80 {
            (1, (c & 0x3f) as usize, None)
        } else if c & 0xE0 == 0xC0 {
            let v = (((c & 0x1f) as u16) << 8) | *b.get(at + 1)? as u16;
            // 13-bit two's complement.
            let v = ((v << 3) as i16 >> 3) as i64;
            (2, 0, Some(v))
        } else if c & 0xF0 == 0xE0 {
            (
                2,
                (((c & 0x0f) as usize) << 8) | *b.get(at + 1)? as usize,
                None,
            )
        } else {
            match c {
                0xF0 => (
                    5,
                    u32::from_le_bytes(b.get(at + 1..at + 5)?.try_into().ok()?) as usize,
                    None,
                ),
                0xF1 => (
                    3,
                    0,
                    Some(i16::from_le_bytes(b.get(at + 1..at + 3)?.try_into().ok()?) as i64),
                ),
                0xF2 => {
                    let s = b.get(at + 1..at + 4)?;
                    let v = i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8;
                    (4, 0, Some(v as i64))
                }
                0xF3 => (
                    5,
                    0,
                    Some(i32::from_le_bytes(b.get(at + 1..at + 5)?.try_into().ok()?) as i64),
                ),
                0xF4 => (
                    9,
                    0,
                    Some(i64::from_le_bytes(b.get(at + 1..at + 9)?.try_into().ok()?)),
                ),
                _ => return None,
            }
        };
        let data_end = at.checked_add(hdr)?.checked_add(len)?;
        match int {
            Some(v) => f(num.format(v).as_bytes()),
            None => f(b.get(at + hdr..data_end)?),
        }
        at = data_end.checked_add(backlen_size(hdr + len))?;
    }
}

/// Bytes of a listpack entry's back-length for an entry of `l` bytes (Redis's
/// `lpEncodeBacklen`: 7 bits a byte, the boundaries one below the powers of 128).
fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2097150 => 3,
        2097151..=268435454 => 4,
        _ => 5,
    }
}

/// Builds a listpack blob as Redis lays it out (`listpack.c`): a 6-byte header (total bytes,
/// element count), the elements, 0xFF. Integers take the smallest integer encoding; strings are
/// written as strings (Redis reads them back byte for byte).
pub struct ListpackWriter {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackWriter {
    fn default() -> Self {
        ListpackWriter {
            buf: vec![0; 6],
            count: 0,
        }
    }
}

impl ListpackWriter {
    fn backlen(&mut self, start: usize) {
        let l = self.buf.len() - start;
        let n = backlen_size(l);
        // Most significant 7-bit group first; every byte but the first has the high bit set.
        for i in (0..n).rev() {
            let b = ((l >> (7 * i)) & 0x7f) as u8;
            self.buf.push(if i == n - 1 { b } else { b | 0x80 });
        }
        self.count += 1;
    }

    pub fn int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u16) & 0x1fff;
            self.buf
                .extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
        } else if let Ok(x) = i16::try_from(v) {
            self.buf.push(0xF1);
            self.buf.extend_from_slice(&x.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            self.buf.push(0xF2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(x) = i32::try_from(v) {
            self.buf.push(0xF3);
            self.buf.extend_from_slice(&x.to_le_bytes());
        } else {
            self.buf.push(0xF4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.backlen(start);
    }

    pub fn str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let n = s.len();
        if n < 64 {
            self.buf.push(0x80 | n as u8);
        } else if n < 4096 {
            self.buf
                .extend_from_slice(&[0xE0 | (n >> 8) as u8, n as u8]);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(n as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.backlen(start);
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&total.to_le_bytes());
        // Redis stores 65535 when the count does not fit, meaning "count them".
        let count = u16::try_from(self.count).unwrap_or(u16::MAX);
        self.buf[4..6].copy_from_slice(&count.to_le_bytes());
        self.buf
    }
}

/// The elements of a listpack blob read as an RDB string; `None` if malformed or empty.
pub fn listpack_elements(r: &mut Reader) -> Option<Vec<Vec<u8>>> {
    let blob = r.string()?;
    let mut v = Vec::new();
    listpack_for_each(&blob, |e| v.push(e.to_vec()))?;
    (!v.is_empty()).then_some(v)
}

/// The compact-form limits decoded collections are built under. Loading converts by the limits
/// in force, as Redis's loaders do: with `zset-max-listpack-entries 0` a snapshot's or a
/// RESTORE payload's sorted set lands as a skiplist, and a set of 200 integers as a hashtable
/// under `set-max-intset-entries 100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub hash: super::hash::HashLimits,
    pub set: super::set::SetLimits,
    pub zset: super::zset::ZLimits,
    pub list: super::list::Fill,
}

impl Limits {
    /// Redis's defaults (what a value is built with when no server is at hand).
    pub const DEFAULT: Limits = Limits {
        hash: super::hash::HashLimits::DEFAULT,
        set: super::set::SetLimits::DEFAULT,
        zset: super::zset::ZLimits::DEFAULT,
        list: super::list::Fill::DEFAULT,
    };

    /// The limits configured now.
    pub fn current(hot: &crate::config::Hot) -> Limits {
        Limits {
            hash: super::hash::HashLimits::current(hot),
            set: super::set::SetLimits::current(hot),
            zset: super::zset::ZLimits::current(hot),
            list: super::list::Fill::current(hot),
        }
    }
}

/// Decodes one value from the reader.
pub fn decode_value(r: &mut Reader, lim: &Limits) -> Option<Value> {
    let t = r.u8()?;
    decode_body(t, r, lim)
}

/// Whether [`decode_body`] knows RDB type `t` (every type Redis 7 writes but modules').
pub fn decodable(t: u8) -> bool {
    use super::{hash, list, set, stream, stream_rdb, zset};
    [
        RDB_TYPE_STRING,
        hash::RDB_TYPE_HASH,
        hash::RDB_TYPE_HASH_LISTPACK,
        set::RDB_TYPE_SET,
        set::RDB_TYPE_SET_LISTPACK,
        set::RDB_TYPE_SET_INTSET,
        zset::RDB_TYPE_ZSET_2,
        zset::RDB_TYPE_ZSET,
        zset::RDB_TYPE_ZSET_LISTPACK,
        list::RDB_TYPE_LIST,
        list::RDB_TYPE_LIST_QUICKLIST_2,
        stream::RDB_TYPE_STREAM_EDDY,
        stream::RDB_TYPE_STREAM_EDDY_GROUPS,
        stream_rdb::RDB_TYPE_STREAM_LISTPACKS,
        stream_rdb::RDB_TYPE_STREAM_LISTPACKS_2,
        stream_rdb::RDB_TYPE_STREAM_LISTPACKS_3,
    ]
    .contains(&t)
}

/// Decodes the body of a value of RDB type `t` (an RDB file puts the key between the type
/// byte and the body: `server::follow` reads it so). Keep [`decodable`] in step.
pub fn decode_body(t: u8, r: &mut Reader, lim: &Limits) -> Option<Value> {
    match t {
        RDB_TYPE_STRING => Some(Value::Str(Str::from_vec(r.string()?), Meta::now())),
        // Hashes and sets (keyspace::hash, keyspace::set).
        super::hash::RDB_TYPE_HASH => super::hash::rdb_decode(r, lim.hash),
        super::hash::RDB_TYPE_HASH_LISTPACK => super::hash::rdb_decode_listpack(r, lim.hash),
        super::set::RDB_TYPE_SET => super::set::rdb_decode(r, lim.set),
        super::set::RDB_TYPE_SET_LISTPACK => super::set::rdb_decode_listpack(r, lim.set),
        super::set::RDB_TYPE_SET_INTSET => super::set::rdb_decode_intset(r, lim.set),
        // Sorted sets (keyspace::zset).
        super::zset::RDB_TYPE_ZSET_2 => super::zset::rdb_decode(r, true, lim.zset),
        super::zset::RDB_TYPE_ZSET => super::zset::rdb_decode(r, false, lim.zset),
        super::zset::RDB_TYPE_ZSET_LISTPACK => super::zset::rdb_decode_listpack(r, lim.zset),
        // Lists (keyspace::list): what Eddy writes, and Redis 7's quicklist of listpacks.
        super::list::RDB_TYPE_LIST => super::list::rdb_decode(r, false, lim.list),
        super::list::RDB_TYPE_LIST_QUICKLIST_2 => super::list::rdb_decode(r, true, lim.list),
        // Streams (keyspace::stream): Eddy's own body, not a Redis type.
        super::stream::RDB_TYPE_STREAM_EDDY => super::stream::rdb_decode(r, false),
        super::stream::RDB_TYPE_STREAM_EDDY_GROUPS => super::stream::rdb_decode(r, true),
        t @ (super::stream_rdb::RDB_TYPE_STREAM_LISTPACKS
        | super::stream_rdb::RDB_TYPE_STREAM_LISTPACKS_2
        | super::stream_rdb::RDB_TYPE_STREAM_LISTPACKS_3) => super::stream_rdb::decode(r, t),
        _ => None,
    }
}

pub fn dump(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(v, &mut out);
    seal(out)
}

/// Appends a DUMP payload's trailer (RDB version, CRC-64) to `body`; FUNCTION DUMP uses it too.
pub fn seal(mut body: Vec<u8>) -> Vec<u8> {
    body.extend_from_slice(&RDB_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&body);
    body.extend_from_slice(&crc.to_le_bytes());
    body
}

/// Why a payload was refused, mapping to Redis's two RESTORE errors.
#[derive(Debug, PartialEq, Eq)]
pub enum RestoreError {
    VersionOrChecksum,
    BadData,
}

/// Checks a payload's trailer and returns its body.
pub fn unseal(p: &[u8]) -> Result<&[u8], RestoreError> {
    if p.len() < 10 {
        return Err(RestoreError::VersionOrChecksum);
    }
    let (body, tail) = p.split_at(p.len() - 10);
    let ver = u16::from_le_bytes([tail[0], tail[1]]);
    let crc = u64::from_le_bytes(tail[2..10].try_into().map_err(|_| RestoreError::BadData)?);
    if ver > RDB_VERSION_MAX || CRC64.checksum(&p[..p.len() - 8]) != crc {
        return Err(RestoreError::VersionOrChecksum);
    }
    Ok(body)
}

pub fn undump(p: &[u8], lim: &Limits) -> Result<Value, RestoreError> {
    let body = unseal(p)?;
    let mut r = Reader::new(body);
    match decode_value(&mut r, lim) {
        Some(v) if r.pos == body.len() => Ok(v),
        _ => Err(RestoreError::BadData),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn undump(p: &[u8]) -> Result<Value, RestoreError> {
        super::undump(p, &Limits::DEFAULT)
    }

    fn s(v: &Value) -> &[u8] {
        match v {
            Value::Str(s, _) => s,
            _ => panic!("not a string"),
        }
    }

    fn hex(h: &str) -> Vec<u8> {
        (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap_or(0))
            .collect()
    }

    /// Payloads from Redis 7.0.15's DUMP of small collections (listpack encodings).
    #[test]
    fn listpacks_written_here_read_back_at_every_encoding_boundary() {
        let ints: Vec<i64> = vec![
            0,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
            i16::MIN as i64,
            i16::MAX as i64 + 1,
            -(1 << 23),
            (1 << 23) - 1,
            1 << 23,
            i32::MIN as i64,
            i32::MAX as i64 + 1,
            i64::MIN,
            i64::MAX,
        ];
        // String lengths around each header size and each back-length size (an entry of
        // 127/128 and 16382/16383 bytes: Redis moves to the next size one below 128^k).
        let lens = [0, 63, 64, 125, 126, 4095, 4096, 16378, 16379, 16380, 70000];
        let mut w = ListpackWriter::default();
        for &v in &ints {
            w.int(v);
        }
        for &n in &lens {
            w.str(&vec![b'x'; n]);
        }
        let blob = w.finish();
        let mut got = Vec::new();
        listpack_for_each(&blob, |e| got.push(e.to_vec())).expect("well-formed");
        let want: Vec<Vec<u8>> = ints
            .iter()
            .map(|v| v.to_string().into_bytes())
            .chain(lens.iter().map(|&n| vec![b'x'; n]))
            .collect();
        assert_eq!(got, want);
        assert_eq!(
            u16::from_le_bytes([blob[4], blob[5]]) as usize,
            ints.len() + lens.len()
        );
    }

    #[test]
    fn restores_redis_listpack_dumps() {
        // HSET h f1 v1 f2 12345 big -7
        let h = undump(&hex(
            "101f1f0000000600826631038276310382663203f13930038362696704dff902ff0a004df141a918bc8d85",
        ));
        match h {
            Ok(Value::Hash(h, _)) => {
                assert_eq!(super::super::value::Collection::len(&*h), 3);
                assert_eq!(h.get(b"f1"), Some(&b"v1"[..]));
                assert_eq!(h.get(b"f2"), Some(&b"12345"[..]));
                assert_eq!(h.get(b"big"), Some(&b"-7"[..]));
            }
            other => panic!("not a hash: {other:?}"),
        }
        // ZADD z 1.5 a 2 b -3 c 1e10 d
        let z = undump(&hex(
            "1127270000000800816302dffd0281610283312e35048162020201816402f400e40b540200000009ff0a00f89d70e2275ecb5a",
        ));
        match z {
            Ok(Value::ZSet(z, _)) => {
                let mut v = Vec::new();
                z.for_each(|m, s| v.push((m.to_vec(), s)));
                assert_eq!(
                    v,
                    vec![
                        (b"c".to_vec(), -3.0),
                        (b"a".to_vec(), 1.5),
                        (b"b".to_vec(), 2.0),
                        (b"d".to_vec(), 1e10)
                    ]
                );
            }
            other => panic!("not a zset: {other:?}"),
        }
        // A corrupted listpack is refused, not guessed at.
        let mut bad = hex("101f1f0000000600826631038276310382663203f13930038362696704dff902ff");
        bad[8] = 0xF9;
        bad.extend_from_slice(&RDB_VERSION.to_le_bytes());
        let crc = CRC64.checksum(&bad);
        bad.extend_from_slice(&crc.to_le_bytes());
        assert_eq!(undump(&bad).err(), Some(RestoreError::BadData));
    }

    #[test]
    fn dump_matches_redis_bytes_and_round_trips() {
        // DUMP of "hello" from Redis 7.0.15.
        let redis = b"\x00\x05hello\x0a\x00\x63\x72\xdf\x76\x65\x34\x20\x0a";
        assert_eq!(dump(&Value::string(b"hello")), redis.to_vec());
        assert_eq!(s(&undump(redis).unwrap()), b"hello");
        for v in [
            &b"12"[..],
            b"-300",
            b"70000",
            b"12345678901",
            b"x\x00y",
            b"",
        ] {
            assert_eq!(s(&undump(&dump(&Value::string(v))).unwrap()), v);
        }
    }

    #[test]
    fn tampered_payloads_are_rejected() {
        let mut p = dump(&Value::string(b"hello world"));
        p[3] ^= 0xff;
        assert_eq!(undump(&p), Err(RestoreError::VersionOrChecksum));
        assert_eq!(undump(b"short"), Err(RestoreError::VersionOrChecksum));
    }

    #[test]
    fn restores_an_lzf_compressed_payload_from_redis() {
        // DUMP from Redis 7.0.15 of 57 'a's, which it stores LZF-compressed.
        let redis = b"\x00\xc3\x09\x39\x01\x61\x61\xe0\x2c\x00\x01\x61\x61\x0a\x00\x79\xb7\x59\x6d\x03\x58\xa7\x74";
        assert_eq!(s(&undump(redis).unwrap()), vec![b'a'; 57].as_slice());
    }

    #[test]
    fn lzf_strings_decode() {
        // "aaaaaaaaaa": literal 'a', then a back-reference of length 9 at distance 1.
        let c = [0x00, b'a', 0xE0, 0x00, 0x00];
        assert_eq!(lzf_decompress(&c, 10).unwrap(), b"aaaaaaaaaa".to_vec());
        assert!(lzf_decompress(&c, 11).is_none());
        assert!(lzf_decompress(&[0xE0, 0x05, 0x00], 9).is_none());
    }
}
