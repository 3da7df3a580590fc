//! The hash type, and [`Pack`], the compact byte-packed list both hashes and sets use while they
//! are small.
//!
//! ## Representations
//! A hash starts as a [`Pack`] of alternating fields and values (Redis's `listpack`: one
//! allocation, about two bytes of overhead per string, linear search) and becomes a
//! [`Dict`] (`hashtable`) once it holds more than `hash-max-listpack-entries` fields or a field or
//! value longer than `hash-max-listpack-value` bytes. It never converts back, as in Redis.
//!
//! Small hashes are the common case and the memory target (a 100-field hash costs about 8 bytes
//! per field/value pair here against Redis's 10), which is why the compact form is a byte buffer
//! and not a vector of strings (48 bytes a pair before the strings' own heap).
//!
//! ## Scanning
//! HSCAN over a `Pack` returns everything in one call with cursor 0, as Redis does for a listpack.
//! Over a `Dict` the cursor is the number of entries still to visit, walking from the end of the
//! dense entry vector towards 0; removal is `swap_remove`, so every field present for the whole
//! scan is returned at least once (see the keyspace module docs).

use super::dict::Dict;
use super::encoding::{write_len, write_string};
use super::value::{Collection, Key, Str};

/// RDB type of a hash written as plain strings (`RDB_TYPE_HASH`).
pub const RDB_TYPE_HASH: u8 = 4;
/// RDB type of Redis 7's compact hash: a listpack of alternating fields and values.
pub const RDB_TYPE_HASH_LISTPACK: u8 = 16;

/// Thresholds for the compact form (`hash-max-listpack-entries`, `hash-max-listpack-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    pub entries: usize,
    pub value: usize,
}

impl HashLimits {
    pub const DEFAULT: HashLimits = HashLimits {
        entries: 128,
        value: 64,
    };

    /// The limits configured now.
    pub fn current(hot: &crate::config::Hot) -> HashLimits {
        HashLimits {
            entries: hot
                .hash_max_listpack_entries
                .load(std::sync::atomic::Ordering::Relaxed) as usize,
            value: hot
                .hash_max_listpack_value
                .load(std::sync::atomic::Ordering::Relaxed) as usize,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pack

/// A sequence of binary strings in one buffer, each a LEB128 length followed by its bytes, in
/// insertion order. The buffer is kept at its exact size: the allocator's size classes make the
/// per-insert `realloc` cheap (usually in place), and small collections waste nothing.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Pack {
    buf: Vec<u8>,
    n: u32,
}

impl std::fmt::Debug for Pack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(String::from_utf8_lossy))
            .finish()
    }
}

fn varint_len(n: usize) -> usize {
    let mut n = n >> 7;
    let mut k = 1;
    while n > 0 {
        n >>= 7;
        k += 1;
    }
    k
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

impl Pack {
    /// Number of strings.
    #[inline]
    pub fn len(&self) -> usize {
        self.n as usize
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// The string starting at byte `off` and the offset after it.
    #[inline]
    fn entry(&self, off: usize) -> Option<(&[u8], usize)> {
        let mut len = 0usize;
        let mut shift = 0;
        let mut i = off;
        loop {
            let b = *self.buf.get(i)?;
            i += 1;
            len |= ((b & 0x7f) as usize) << shift;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 56 {
                return None;
            }
        }
        let end = i.checked_add(len)?;
        Some((self.buf.get(i..end)?, end))
    }

    pub fn iter(&self) -> PackIter<'_> {
        PackIter { p: self, off: 0 }
    }

    /// Appends strings at the end.
    pub fn push_all(&mut self, items: &[&[u8]]) {
        let need: usize = items.iter().map(|s| varint_len(s.len()) + s.len()).sum();
        self.buf.reserve_exact(need);
        for s in items {
            put_varint(&mut self.buf, s.len());
            self.buf.extend_from_slice(s);
        }
        self.n += items.len() as u32;
    }

    /// Byte offset and index of the first string equal to `s` among those at positions
    /// `k*stride` (stride 2 searches a hash's fields).
    pub fn find(&self, s: &[u8], stride: usize) -> Option<(usize, usize)> {
        let mut off = 0;
        let mut idx = 0;
        while let Some((e, next)) = self.entry(off) {
            if idx % stride == 0 && e == s {
                return Some((off, idx));
            }
            off = next;
            idx += 1;
        }
        None
    }

    /// Removes `count` consecutive strings starting at byte `off`.
    pub fn remove_at(&mut self, off: usize, count: usize) {
        let mut end = off;
        let mut k = 0;
        while k < count {
            match self.entry(end) {
                Some((_, next)) => end = next,
                None => break,
            }
            k += 1;
        }
        self.buf.drain(off..end);
        self.n -= k as u32;
        if self.buf.capacity() > self.buf.len() + self.buf.len() / 4 + 16 {
            self.buf.shrink_to_fit();
        }
    }

    /// Replaces the string at byte `off` with `s`.
    pub fn replace_at(&mut self, off: usize, s: &[u8]) {
        let Some((_, end)) = self.entry(off) else {
            return;
        };
        let mut enc: smallvec::SmallVec<[u8; 10]> = smallvec::SmallVec::new();
        let mut n = s.len();
        while n >= 0x80 {
            enc.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        enc.push(n as u8);
        let new_len = enc.len() + s.len();
        if new_len > end - off {
            self.buf.reserve_exact(new_len - (end - off));
        }
        self.buf
            .splice(off..end, enc.iter().copied().chain(s.iter().copied()));
    }

    /// The string after the one at `off` (a hash's value after its field).
    pub fn next_after(&self, off: usize) -> Option<(&[u8], usize)> {
        let (_, next) = self.entry(off)?;
        let (v, _) = self.entry(next)?;
        Some((v, next))
    }
}

pub struct PackIter<'a> {
    p: &'a Pack,
    off: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = &'a [u8];
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        let (e, next) = self.p.entry(self.off)?;
        self.off = next;
        Some(e)
    }
}

// ---------------------------------------------------------------------------------------------
// Hash

pub enum Hash {
    Pack(Pack),
    /// Boxed so the common compact form keeps the handle small.
    Table(Box<Dict<Str>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Pack(Pack::default())
    }
}

impl Clone for Hash {
    fn clone(&self) -> Self {
        match self {
            Hash::Pack(p) => Hash::Pack(p.clone()),
            Hash::Table(d) => {
                let mut t = Dict::default();
                for (k, v) in d.iter() {
                    t.insert(k.clone(), v.clone());
                }
                Hash::Table(Box::new(t))
            }
        }
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.iter()
                    .map(|(k, v)| (String::from_utf8_lossy(k), String::from_utf8_lossy(v))),
            )
            .finish()
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

pub enum HashIter<'a> {
    Pack(PackIter<'a>),
    Table(&'a Dict<Str>, usize),
}

impl<'a> Iterator for HashIter<'a> {
    type Item = (&'a [u8], &'a [u8]);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match self {
            HashIter::Pack(it) => Some((it.next()?, it.next()?)),
            HashIter::Table(d, i) => {
                let (k, v) = d.get_index(*i)?;
                *i += 1;
                Some((k.as_slice(), v.as_slice()))
            }
        }
    }
}

impl Hash {
    pub fn is_table(&self) -> bool {
        matches!(self, Hash::Table(_))
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Pack(p) => {
                let (off, _) = p.find(field, 2)?;
                p.next_after(off).map(|(v, _)| v)
            }
            Hash::Table(d) => d.get(field).map(|v| v.as_slice()),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(p) => p.find(field, 2).is_some(),
            Hash::Table(d) => d.contains_key(field),
        }
    }

    /// Sets `field` to `value`; true if the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8], lim: HashLimits) -> bool {
        if let Hash::Pack(p) = self {
            if field.len() <= lim.value && value.len() <= lim.value {
                if let Some((off, _)) = p.find(field, 2) {
                    if let Some((_, voff)) = p.next_after(off) {
                        p.replace_at(voff, value);
                    }
                    return false;
                }
                if p.len() / 2 < lim.entries {
                    p.push_all(&[field, value]);
                    return true;
                }
            }
            self.convert_to_table();
        }
        match self {
            Hash::Table(d) => match d.get_mut(field) {
                Some(v) => {
                    *v = Str::from_slice(value);
                    false
                }
                None => {
                    d.insert(Key::from_slice(field), Str::from_slice(value));
                    true
                }
            },
            Hash::Pack(_) => false,
        }
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pack(p) => match p.find(field, 2) {
                Some((off, _)) => {
                    p.remove_at(off, 2);
                    true
                }
                None => false,
            },
            Hash::Table(d) => d.swap_remove(field).is_some(),
        }
    }

    fn convert_to_table(&mut self) {
        if let Hash::Pack(p) = self {
            let mut d: Dict<Str> = Dict::default();
            for (k, v) in HashIter::Pack(p.iter()) {
                d.insert(Key::from_slice(k), Str::from_slice(v));
            }
            *self = Hash::Table(Box::new(d));
        }
    }

    /// Builds a hash from pairs (RESTORE), choosing the representation by the limits.
    pub fn from_pairs(pairs: Vec<(Vec<u8>, Vec<u8>)>, lim: HashLimits) -> Hash {
        let mut h = Hash::default();
        if pairs.len() > lim.entries {
            h.convert_to_table();
        }
        for (k, v) in &pairs {
            h.set(k, v, lim);
        }
        h
    }

    pub fn iter(&self) -> HashIter<'_> {
        match self {
            Hash::Pack(p) => HashIter::Pack(p.iter()),
            Hash::Table(d) => HashIter::Table(d, 0),
        }
    }

    /// The pair at dense index `i` of the table form (O(1)); `None` for the compact form.
    pub fn table_pair(&self, i: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Table(d) => d.get_index(i).map(|(k, v)| (k.as_slice(), v.as_slice())),
            Hash::Pack(_) => None,
        }
    }

    /// Visits up to `count` entries from `cursor` (see the module docs); returns the next cursor.
    pub fn scan<'s>(
        &'s self,
        cursor: u64,
        count: usize,
        mut f: impl FnMut(&'s [u8], &'s [u8]),
    ) -> u64 {
        match self {
            Hash::Pack(_) => {
                for (k, v) in self.iter() {
                    f(k, v);
                }
                0
            }
            Hash::Table(d) => {
                let len = d.len() as u64;
                let mut pos = if cursor == 0 { len } else { cursor.min(len) };
                let mut visited = 0;
                while pos > 0 && visited < count {
                    pos -= 1;
                    visited += 1;
                    if let Some((k, v)) = d.get_index(pos as usize) {
                        f(k, v);
                    }
                }
                pos
            }
        }
    }
}

impl Collection for Hash {
    fn len(&self) -> usize {
        match self {
            Hash::Pack(p) => p.len() / 2,
            Hash::Table(d) => d.len(),
        }
    }
    fn encoding(&self) -> &'static str {
        match self {
            Hash::Pack(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }
    fn heap_size(&self) -> usize {
        match self {
            Hash::Pack(p) => p.bytes(),
            // O(1) on purpose: this runs on every write (change images); strings longer than
            // the inline 16 bytes are not counted.
            Hash::Table(d) => d.capacity() * (2 * std::mem::size_of::<Str>() + 5),
        }
    }
    fn rdb_encode(&self, out: &mut Vec<u8>) {
        out.push(RDB_TYPE_HASH);
        write_len(out, self.len() as u64);
        for (k, v) in self.iter() {
            write_string(out, k);
            write_string(out, v);
        }
    }
}

/// Reads an `RDB_TYPE_HASH` body (after the type byte). Every length is checked against the
/// bytes actually left, so a forged count cannot make it allocate.
pub fn rdb_decode(r: &mut super::encoding::Reader, lim: HashLimits) -> Option<super::value::Value> {
    let n = usize::try_from(r.length()?).ok()?;
    if n == 0 {
        return None;
    }
    let mut pairs = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        pairs.push((r.string()?, r.string()?));
    }
    from_rdb_pairs(pairs, lim)
}

/// Reads an `RDB_TYPE_HASH_LISTPACK` body (what Redis 7 DUMPs for a small hash).
pub fn rdb_decode_listpack(
    r: &mut super::encoding::Reader,
    lim: HashLimits,
) -> Option<super::value::Value> {
    let el = super::encoding::listpack_elements(r)?;
    if el.len() % 2 != 0 {
        return None;
    }
    let mut it = el.into_iter();
    let mut pairs = Vec::new();
    while let (Some(f), Some(v)) = (it.next(), it.next()) {
        pairs.push((f, v));
    }
    from_rdb_pairs(pairs, lim)
}

/// A hash from decoded pairs; `None` if a field repeats (a corrupt payload, as Redis judges it).
fn from_rdb_pairs(pairs: Vec<(Vec<u8>, Vec<u8>)>, lim: HashLimits) -> Option<super::value::Value> {
    let n = pairs.len();
    let h = Hash::from_pairs(pairs, lim);
    if h.len() != n {
        return None;
    }
    Some(super::value::Value::Hash(
        Box::new(h),
        super::value::Meta::now(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_set_replace_remove() {
        let lim = HashLimits::DEFAULT;
        let mut h = Hash::default();
        assert!(h.set(b"a", b"1", lim));
        assert!(h.set(b"b", b"2", lim));
        assert!(!h.set(b"a", &[b'x'; 200][..60], lim));
        assert_eq!(h.get(b"a"), Some(&[b'x'; 60][..]));
        assert_eq!(h.get(b"b"), Some(&b"2"[..]));
        // A field name equal to a value must not match the value.
        assert!(h.set(b"2", b"v", lim));
        assert_eq!(h.get(b"2"), Some(&b"v"[..]));
        assert!(h.remove(b"a"));
        assert!(!h.remove(b"a"));
        assert_eq!(h.len(), 2);
        assert_eq!(h.encoding(), "listpack");
        assert!(!h.set(b"b", &[b'y'; 65], lim));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"b"), Some(&[b'y'; 65][..]));
        assert_eq!(h.get(b"2"), Some(&b"v"[..]));
    }

    #[test]
    fn converts_past_the_entry_limit_and_scans_everything() {
        let lim = HashLimits {
            entries: 4,
            value: 64,
        };
        let mut h = Hash::default();
        for i in 0..4 {
            h.set(format!("f{i}").as_bytes(), b"v", lim);
        }
        assert_eq!(h.encoding(), "listpack");
        h.set(b"f4", b"v", lim);
        assert_eq!(h.encoding(), "hashtable");
        let mut seen = Vec::new();
        let mut c = 0;
        loop {
            c = h.scan(c, 2, |k, _| seen.push(k.to_vec()));
            if c == 0 {
                break;
            }
        }
        seen.sort();
        assert_eq!(seen.len(), 5);
    }

    #[test]
    fn long_strings_use_multi_byte_lengths() {
        let lim = HashLimits {
            entries: 128,
            value: 100_000,
        };
        let mut h = Hash::default();
        let big = vec![b'z'; 20_000];
        h.set(b"k", &big, lim);
        h.set(b"k2", b"small", lim);
        assert_eq!(h.get(b"k"), Some(big.as_slice()));
        h.set(b"k", b"s", lim);
        assert_eq!(h.get(b"k"), Some(&b"s"[..]));
        assert_eq!(h.get(b"k2"), Some(&b"small"[..]));
    }
}
