//! The set type.
//!
//! ## Representations
//! * [`IntSet`] (`intset`): every member is a canonical 64-bit integer; a sorted array of
//!   2-, 4- or 8-byte little-endian integers, the narrowest width that holds them all (so a set
//!   of small numbers costs 2 bytes a member). Up to `set-max-intset-entries` members.
//! * [`Pack`] (`listpack`, as Redis 7.2 names it): small sets of strings, members in insertion
//!   order, up to `set-max-listpack-entries` members of at most `set-max-listpack-value` bytes.
//! * [`Dict`] (`hashtable`): everything else.
//!
//! Conversions follow Redis 7.2's rules: a new set starts as an intset if its first member is an
//! integer (else listpack or hashtable by the expected size); an intset that receives a string
//! becomes a listpack if the result fits its limits, else a hashtable; an intset or listpack that
//! outgrows its limits becomes a hashtable. Sets never convert back.
//!
//! Redis 7.0 has no listpack sets (small string sets are `hashtable` there); Eddy keeps the 7.2
//! compact form and its option names because it halves the memory of small string sets.
//!
//! ## Layout
//! Small integer sets are the common case (Redis's benchmark of 100-member sets costs it about
//! 3 bytes a member), so their per-key overhead is what counts:
//! * A [`Set`] is a 24-byte handle held inline in the keyspace's `Value` (which stays 32 bytes),
//!   not behind a `Box`: a boxed handle cost a 48-byte malloc chunk per set, about half a byte per
//!   member of a 100-member intset.
//! * An intset's members are one `Box<[u8]>` of exactly `len * width` bytes. A `Vec` would need a
//!   third word for its capacity and a byte for the width would push the handle to 32 bytes; the
//!   width instead sits in a [`Width`] enum whose unused values give `Set` a niche for its tag.
//!   Each insert reallocates by one member (`reserve_exact`; Box <-> Vec is free when capacity
//!   equals length), as Redis's `intsetResize` does, so nothing is held spare.
//! * The listpack and hashtable forms are boxed to keep the handle at 24 bytes; a listpack set
//!   pays for that box (as it did for the old boxed handle), an intset does not.
//!
//! SSCAN over an intset or listpack returns everything with cursor 0; over a hashtable the cursor
//! walks the dense entry vector from its end (see `keyspace::hash`).

use super::dict::Dict;
use super::encoding::{write_len, write_string};
use super::hash::Pack;
use super::value::{Collection, Key};
use crate::util::num::parse_i64;

/// RDB type of a set written as plain strings (`RDB_TYPE_SET`).
pub const RDB_TYPE_SET: u8 = 2;
/// RDB type of an intset blob (`RDB_TYPE_SET_INTSET`).
pub const RDB_TYPE_SET_INTSET: u8 = 11;
/// RDB type of Redis 7.2's compact set of strings: a listpack of members.
pub const RDB_TYPE_SET_LISTPACK: u8 = 20;

/// Thresholds for the compact forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetLimits {
    pub intset_entries: usize,
    pub listpack_entries: usize,
    pub listpack_value: usize,
}

impl SetLimits {
    pub const DEFAULT: SetLimits = SetLimits {
        intset_entries: 512,
        listpack_entries: 128,
        listpack_value: 64,
    };

    /// The limits configured now.
    pub fn current(hot: &crate::config::Hot) -> SetLimits {
        use std::sync::atomic::Ordering::Relaxed;
        SetLimits {
            intset_entries: hot.set_max_intset_entries.load(Relaxed) as usize,
            listpack_entries: hot.set_max_listpack_entries.load(Relaxed) as usize,
            listpack_value: hot.set_max_listpack_value.load(Relaxed) as usize,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// IntSet

/// A sorted array of integers stored at one width (2, 4 or 8 bytes, little-endian).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct IntSet {
    /// Exactly `len * width` bytes: no spare capacity (see the module docs).
    buf: Box<[u8]>,
    width: Width,
}

/// An enum rather than a `u8` so its unused values are a niche: [`Set`] keeps its tag there and
/// stays 24 bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
#[repr(u8)]
enum Width {
    #[default]
    W2 = 2,
    W4 = 4,
    W8 = 8,
}

fn width_of(v: i64) -> Width {
    if i16::try_from(v).is_ok() {
        Width::W2
    } else if i32::try_from(v).is_ok() {
        Width::W4
    } else {
        Width::W8
    }
}

impl IntSet {
    #[inline]
    fn w(&self) -> usize {
        self.width as usize
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len() / self.w()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<i64> {
        let w = self.w();
        let b = self.buf.get(i * w..i * w + w)?;
        Some(match w {
            2 => i16::from_le_bytes([b[0], b[1]]) as i64,
            4 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
            _ => i64::from_le_bytes(b.try_into().ok()?),
        })
    }

    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get(mid) {
                Some(x) if x < v => lo = mid + 1,
                Some(x) if x > v => hi = mid,
                Some(_) => return Ok(mid),
                None => break,
            }
        }
        Err(lo)
    }

    pub fn contains(&self, v: i64) -> bool {
        self.search(v).is_ok()
    }

    fn write_at(buf: &mut [u8], w: usize, i: usize, v: i64) {
        if let Some(dst) = buf.get_mut(i * w..i * w + w) {
            match w {
                2 => dst.copy_from_slice(&(v as i16).to_le_bytes()),
                4 => dst.copy_from_slice(&(v as i32).to_le_bytes()),
                _ => dst.copy_from_slice(&v.to_le_bytes()),
            }
        }
    }

    /// Inserts `v`; true if it was not there.
    pub fn insert(&mut self, v: i64) -> bool {
        let need = width_of(v);
        if need > self.width {
            // Widening: `v` is outside the old range, so it is not there yet.
            let nw = need as usize;
            let mut buf = vec![0u8; (self.len() + 1) * nw];
            let mut i = 0;
            if v < 0 {
                Self::write_at(&mut buf, nw, 0, v);
                i = 1;
            }
            for x in self.iter() {
                Self::write_at(&mut buf, nw, i, x);
                i += 1;
            }
            if v >= 0 {
                Self::write_at(&mut buf, nw, i, v);
            }
            self.buf = buf.into_boxed_slice();
            self.width = need;
            return true;
        }
        match self.search(v) {
            Ok(_) => false,
            Err(pos) => {
                let w = self.w();
                // Box -> Vec -> Box is free when, as here, the capacity is exactly the length;
                // the only allocator call is the `reserve_exact` realloc.
                let mut buf = std::mem::take(&mut self.buf).into_vec();
                buf.reserve_exact(w);
                let at = pos * w;
                buf.splice(at..at, std::iter::repeat_n(0u8, w));
                Self::write_at(&mut buf, w, pos, v);
                self.buf = buf.into_boxed_slice();
                true
            }
        }
    }

    pub fn remove(&mut self, v: i64) -> bool {
        match self.search(v) {
            Ok(pos) => {
                let w = self.w();
                let mut buf = std::mem::take(&mut self.buf).into_vec();
                buf.drain(pos * w..pos * w + w);
                // Shrinks in place (glibc splits the chunk), as Redis's intsetResize does.
                self.buf = buf.into_boxed_slice();
                true
            }
            Err(_) => false,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Heap bytes held: the buffer, which has no spare capacity.
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Parses Redis's intset blob (RDB type 11): u32 width, u32 count, then the integers.
    pub fn from_blob(b: &[u8]) -> Option<IntSet> {
        let width = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?);
        let n = u32::from_le_bytes(b.get(4..8)?.try_into().ok()?) as usize;
        let width = match width {
            2 => Width::W2,
            4 => Width::W4,
            8 => Width::W8,
            _ => return None,
        };
        let body = b.get(8..)?;
        if body.len() != n.checked_mul(width as usize)? {
            return None;
        }
        let s = IntSet {
            buf: body.into(),
            width,
        };
        // Must be strictly ascending, or lookups would be wrong.
        let mut prev: Option<i64> = None;
        for v in s.iter() {
            if prev.is_some_and(|p| p >= v) {
                return None;
            }
            prev = Some(v);
        }
        Some(s)
    }
}

// ---------------------------------------------------------------------------------------------
// Set

/// 24 bytes, so it lives inline in [`Value`](super::value::Value): see the module docs.
pub enum Set {
    Ints(IntSet),
    Pack(Box<Pack>),
    Table(Box<Dict<()>>),
}

/// One member, as the representations hold it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// The member's bytes, formatting an integer into `buf`.
    #[inline]
    pub fn bytes<'b>(&'b self, buf: &'b mut itoa::Buffer) -> &'b [u8] {
        match self {
            Member::Int(v) => buf.format(*v).as_bytes(),
            Member::Bytes(b) => b,
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes(&mut itoa::Buffer::new()).to_vec()
    }
}

impl Default for Set {
    fn default() -> Self {
        Set::Ints(IntSet::default())
    }
}

impl Clone for Set {
    fn clone(&self) -> Self {
        match self {
            Set::Ints(s) => Set::Ints(s.clone()),
            Set::Pack(p) => Set::Pack(p.clone()),
            Set::Table(d) => {
                let mut t = Dict::default();
                for (k, _) in d.iter() {
                    t.insert(k.clone(), ());
                }
                Set::Table(Box::new(t))
            }
        }
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut v = Vec::new();
        self.for_each(|m| v.push(String::from_utf8_lossy(m).into_owned()));
        f.debug_set().entries(v).finish()
    }
}

impl PartialEq for Set {
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let mut all = true;
        self.for_each(|m| all &= other.contains(m));
        all
    }
}

impl Set {
    /// An empty set shaped for `first` and about `size_hint` members (Redis's `setTypeCreate`).
    pub fn for_first(first: &[u8], size_hint: usize, lim: SetLimits) -> Set {
        if parse_i64(first).is_some() && size_hint <= lim.intset_entries {
            Set::Ints(IntSet::default())
        } else if size_hint <= lim.listpack_entries {
            Set::Pack(Box::default())
        } else {
            Set::Table(Box::default())
        }
    }

    pub fn contains(&self, m: &[u8]) -> bool {
        match self {
            Set::Ints(s) => parse_i64(m).is_some_and(|v| s.contains(v)),
            Set::Pack(p) => p.find(m, 1).is_some(),
            Set::Table(d) => d.contains_key(m),
        }
    }

    /// Adds `m`; true if it is new.
    pub fn insert(&mut self, m: &[u8], lim: SetLimits) -> bool {
        match self {
            Set::Ints(s) => {
                if let Some(v) = parse_i64(m) {
                    if s.contains(v) {
                        return false;
                    }
                    s.insert(v);
                    if s.len() > lim.intset_entries {
                        self.convert_to_table();
                    }
                    return true;
                }
                // A string joins: listpack if everything fits, else hashtable.
                let n = s.len();
                let widest = [s.get(0), n.checked_sub(1).and_then(|i| s.get(i))]
                    .into_iter()
                    .flatten()
                    .map(|v| itoa::Buffer::new().format(v).len())
                    .max()
                    .unwrap_or(0);
                if n < lim.listpack_entries
                    && m.len() <= lim.listpack_value
                    && widest <= lim.listpack_value
                {
                    let mut p = Pack::default();
                    let mut b = itoa::Buffer::new();
                    for v in s.iter() {
                        p.push_all(&[b.format(v).as_bytes()]);
                    }
                    p.push_all(&[m]);
                    *self = Set::Pack(Box::new(p));
                } else {
                    self.convert_to_table();
                    if let Set::Table(d) = self {
                        d.insert(Key::from_slice(m), ());
                    }
                }
                true
            }
            Set::Pack(p) => {
                if p.find(m, 1).is_some() {
                    return false;
                }
                if p.len() < lim.listpack_entries && m.len() <= lim.listpack_value {
                    p.push_all(&[m]);
                    return true;
                }
                self.convert_to_table();
                if let Set::Table(d) = self {
                    d.insert(Key::from_slice(m), ());
                }
                true
            }
            Set::Table(d) => {
                if d.contains_key(m) {
                    return false;
                }
                d.insert(Key::from_slice(m), ());
                true
            }
        }
    }

    pub fn remove(&mut self, m: &[u8]) -> bool {
        match self {
            Set::Ints(s) => parse_i64(m).is_some_and(|v| s.remove(v)),
            Set::Pack(p) => match p.find(m, 1) {
                Some((off, _)) => {
                    p.remove_at(off, 1);
                    true
                }
                None => false,
            },
            Set::Table(d) => d.swap_remove(m).is_some(),
        }
    }

    fn convert_to_table(&mut self) {
        let mut d: Dict<()> = Dict::default();
        self.for_each(|m| {
            d.insert(Key::from_slice(m), ());
        });
        *self = Set::Table(Box::new(d));
    }

    /// Calls `f` with every member's bytes (integers formatted on the stack).
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        match self {
            Set::Ints(s) => {
                let mut b = itoa::Buffer::new();
                for v in s.iter() {
                    f(b.format(v).as_bytes());
                }
            }
            Set::Pack(p) => p.iter().for_each(f),
            Set::Table(d) => d.iter().for_each(|(k, _)| f(k)),
        }
    }

    /// Every member, in representation order (O(n) once; indexable afterwards).
    pub fn members(&self) -> Vec<Member<'_>> {
        match self {
            Set::Ints(s) => s.iter().map(Member::Int).collect(),
            Set::Pack(p) => p.iter().map(Member::Bytes).collect(),
            Set::Table(d) => d.iter().map(|(k, _)| Member::Bytes(k)).collect(),
        }
    }

    /// The member at position `i`: O(1) for intset and hashtable, O(n) for listpack.
    pub fn nth(&self, i: usize) -> Option<Member<'_>> {
        match self {
            Set::Ints(s) => s.get(i).map(Member::Int),
            Set::Pack(p) => p.iter().nth(i).map(Member::Bytes),
            Set::Table(d) => d.get_index(i).map(|(k, _)| Member::Bytes(k)),
        }
    }

    /// Visits up to `count` members from `cursor` (see the module docs); returns the next cursor.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8])) -> u64 {
        match self {
            Set::Table(d) => {
                let len = d.len() as u64;
                let mut pos = if cursor == 0 { len } else { cursor.min(len) };
                let mut visited = 0;
                while pos > 0 && visited < count {
                    pos -= 1;
                    visited += 1;
                    if let Some((k, _)) = d.get_index(pos as usize) {
                        f(k);
                    }
                }
                pos
            }
            _ => {
                self.for_each(f);
                0
            }
        }
    }
}

impl Collection for Set {
    fn len(&self) -> usize {
        match self {
            Set::Ints(s) => s.len(),
            Set::Pack(p) => p.len(),
            Set::Table(d) => d.len(),
        }
    }
    fn encoding(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Pack(_) => "listpack",
            Set::Table(_) => "hashtable",
        }
    }
    fn heap_size(&self) -> usize {
        match self {
            Set::Ints(s) => s.bytes(),
            Set::Pack(p) => std::mem::size_of::<Pack>() + p.bytes(),
            // O(1) on purpose: this runs on every write (change images); members longer than
            // the inline 16 bytes are not counted.
            Set::Table(d) => {
                std::mem::size_of::<Dict<()>>() + d.capacity() * (std::mem::size_of::<Key>() + 5)
            }
        }
    }
    fn rdb_encode(&self, out: &mut Vec<u8>) {
        out.push(RDB_TYPE_SET);
        write_len(out, self.len() as u64);
        self.for_each(|m| write_string(out, m));
    }
}

/// Reads an `RDB_TYPE_SET` body (after the type byte); duplicates or an empty set are bad data.
pub fn rdb_decode(r: &mut super::encoding::Reader, lim: SetLimits) -> Option<super::value::Value> {
    let n = usize::try_from(r.length()?).ok()?;
    if n == 0 {
        return None;
    }
    let mut members = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        members.push(r.string()?);
    }
    from_rdb_members(members, lim)
}

/// Reads an `RDB_TYPE_SET_LISTPACK` body (what Redis 7.2 DUMPs for a small set of strings).
pub fn rdb_decode_listpack(
    r: &mut super::encoding::Reader,
    lim: SetLimits,
) -> Option<super::value::Value> {
    from_rdb_members(super::encoding::listpack_elements(r)?, lim)
}

/// A set from decoded members; `None` if a member repeats (a corrupt payload).
fn from_rdb_members(members: Vec<Vec<u8>>, lim: SetLimits) -> Option<super::value::Value> {
    let first = members.first()?;
    let mut s = Set::for_first(first, members.len(), lim);
    for m in &members {
        if !s.insert(m, lim) {
            return None;
        }
    }
    Some(super::value::Value::Set(s, super::value::Meta::now()))
}

/// Reads an `RDB_TYPE_SET_INTSET` body: an RDB string holding Redis's intset blob.
pub fn rdb_decode_intset(
    r: &mut super::encoding::Reader,
    lim: SetLimits,
) -> Option<super::value::Value> {
    let blob = r.string()?;
    let is = IntSet::from_blob(&blob)?;
    if is.is_empty() {
        return None;
    }
    let mut s = Set::Ints(is);
    if s.len() > lim.intset_entries {
        s.convert_to_table();
    }
    Some(super::value::Value::Set(s, super::value::Meta::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intset_widens_and_stays_sorted() {
        let mut s = IntSet::default();
        for v in [5, -3, 100, 40000, -5_000_000_000, 7] {
            assert!(s.insert(v));
        }
        assert!(!s.insert(7));
        assert_eq!(s.width, Width::W8);
        assert_eq!(s.bytes(), 6 * 8);
        let v: Vec<i64> = s.iter().collect();
        assert_eq!(v, [-5_000_000_000, -3, 5, 7, 100, 40000]);
        assert!(s.remove(100));
        assert!(!s.contains(100));
        assert!(s.contains(40000));
    }

    #[test]
    fn intset_matches_a_model_and_holds_no_spare_bytes() {
        let mut s = IntSet::default();
        let mut model = std::collections::BTreeSet::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for step in 0..4000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Small values first, then some that need 4 bytes, then 8, in both signs.
            let v = match (x % 8, step / 1000) {
                (0, 1..) => -((x >> 40) as i64),
                (1, 2..) => (x >> 8) as i64,
                _ => (x >> 8) as i64 % 300 - 150,
            };
            if step % 3 == 2 {
                assert_eq!(s.remove(v), model.remove(&v));
            } else {
                assert_eq!(s.insert(v), model.insert(v));
            }
            assert_eq!(s.bytes(), s.len() * s.w());
        }
        assert!(s.iter().eq(model.iter().copied()));
        assert_eq!(s.width, Width::W8);
    }

    #[test]
    fn conversions_follow_redis_rules() {
        let lim = SetLimits {
            intset_entries: 4,
            listpack_entries: 6,
            listpack_value: 8,
        };
        let mut s = Set::for_first(b"1", 1, lim);
        for m in ["1", "2", "3"] {
            s.insert(m.as_bytes(), lim);
        }
        assert_eq!(s.encoding(), "intset");
        s.insert(b"x", lim);
        assert_eq!(s.encoding(), "listpack");
        assert!(s.contains(b"2") && s.contains(b"x"));
        s.insert(b"a-long-member", lim);
        assert_eq!(s.encoding(), "hashtable");
        assert_eq!(s.len(), 5);

        let mut t = Set::for_first(b"1", 1, lim);
        for i in 0..5 {
            t.insert(i.to_string().as_bytes(), lim);
        }
        assert_eq!(t.encoding(), "hashtable");
        assert!(t.contains(b"4"));
        // "01" is not a canonical integer: it is a string member.
        let mut u = Set::for_first(b"1", 1, lim);
        u.insert(b"1", lim);
        assert!(!u.contains(b"01"));
        u.insert(b"01", lim);
        assert_eq!(u.encoding(), "listpack");
        assert_eq!(u.len(), 2);
    }
}
