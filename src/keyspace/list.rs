//! The list type: a deque of packed nodes, Redis's quicklist in spirit.
//!
//! A node ([`Pack`]) is one contiguous byte buffer of entries, each written as
//! `varint(len) · bytes · reversed varint(len)` — the trailing copy of the length lets a node be
//! walked from either end, as a listpack's back-length does. A 3-byte element costs 5 bytes, as
//! in a Redis listpack, instead of a 24-byte string handle per element. A list holds its nodes in
//! a `VecDeque`; a small list is a single node (one allocation beside the deque's one slot), a
//! large one grows node by node, each node bounded by `list-max-listpack-size` (negative: bytes
//! per node, -2 = 8 KiB; positive: entries per node, still capped at 8 KiB as Redis caps it). An
//! element larger than the bound gets a node of its own.
//!
//! Pushes and pops touch only the end nodes, and within a node neither moves the other entries:
//! a node keeps a gap before its first entry, so the head end is as cheap as the tail (see
//! [`Pack`]). Positional edits (LSET, LINSERT, LREM) rebuild the one node they touch (bounded
//! work) and split it if it grew past the bound. Redis 7.0 reports every list as `quicklist` in
//! `OBJECT ENCODING`, and so does this type.
//!
//! RDB: lists are written as `RDB_TYPE_LIST` (a length, then each element as an RDB string), which
//! Redis 7.0 restores; Redis's own `RDB_TYPE_LIST_QUICKLIST_2` (listpack nodes) is read too, so a
//! DUMP taken from Redis restores here.

use std::collections::VecDeque;

use super::encoding::{write_len, write_string, Reader};
use super::value::{Collection, Str};

pub const RDB_TYPE_LIST: u8 = 1;
pub const RDB_TYPE_LIST_QUICKLIST_2: u8 = 18;

/// Redis's cap on a node's bytes when the fill is a count (`SIZE_SAFETY_LIMIT`).
const SAFETY_LIMIT: usize = 8192;

/// The node bound from `list-max-listpack-size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fill(pub i64);

impl Default for Fill {
    fn default() -> Self {
        Fill::DEFAULT
    }
}

impl Fill {
    /// `list-max-listpack-size`'s default: nodes of up to 8 KiB.
    pub const DEFAULT: Fill = Fill(-2);

    /// The bound configured now.
    pub fn current(hot: &crate::config::Hot) -> Fill {
        Fill(
            hot.list_max_listpack_size
                .load(std::sync::atomic::Ordering::Relaxed),
        )
    }

    fn allows(self, node: &Pack, entry: usize) -> bool {
        if node.n == 0 {
            return true;
        }
        let bytes = node.used() + entry;
        match self.0 {
            f if f >= 0 => (node.n as i64) < f.max(1) && bytes <= SAFETY_LIMIT,
            f => bytes <= max_bytes(f),
        }
    }

    fn too_big(self, node: &Pack) -> bool {
        node.n > 1
            && match self.0 {
                f if f >= 0 => node.n as i64 > f.max(1) || node.used() > SAFETY_LIMIT,
                f => node.used() > max_bytes(f),
            }
    }
}

fn max_bytes(f: i64) -> usize {
    match f {
        -1 => 4096,
        -2 => 8192,
        -3 => 16384,
        -4 => 32768,
        _ => 65536,
    }
}

// ---------------------------------------------------------------------------------------------
// Varints

fn varint_len(n: usize) -> usize {
    let mut n = n >> 7;
    let mut k = 1;
    while n > 0 {
        n >>= 7;
        k += 1;
    }
    k
}

/// An entry's length prefix (`len` as a forward varint); its suffix is the same bytes reversed.
fn len_prefix(len: usize) -> ([u8; 10], usize) {
    let mut b = [0u8; 10];
    let (mut n, mut k) = (len, 0);
    while n >= 0x80 {
        b[k] = (n as u8 & 0x7f) | 0x80;
        n >>= 7;
        k += 1;
    }
    b[k] = n as u8;
    (b, k + 1)
}

/// Reads a forward varint at `at`: (value, bytes used).
#[inline]
fn read_fwd(b: &[u8], at: usize) -> (usize, usize) {
    let mut v = 0usize;
    let mut i = 0;
    while let Some(&c) = b.get(at + i) {
        v |= ((c & 0x7f) as usize) << (7 * i);
        i += 1;
        if c & 0x80 == 0 {
            break;
        }
    }
    (v, i)
}

/// Reads a back varint ending just before `end`: (value, bytes used).
#[inline]
fn read_back(b: &[u8], end: usize) -> (usize, usize) {
    let mut v = 0usize;
    let mut i = 0;
    while i < end {
        let c = b[end - 1 - i];
        v |= ((c & 0x7f) as usize) << (7 * i);
        i += 1;
        if c & 0x80 == 0 {
            break;
        }
    }
    (v, i)
}

fn entry_size(len: usize) -> usize {
    2 * varint_len(len) + len
}

fn write_entry(out: &mut Vec<u8>, x: &[u8]) {
    let at = out.len();
    out.resize(at + entry_size(x.len()), 0);
    fill_entry(&mut out[at..], x);
}

/// Writes `x` as an entry into `e`, which is exactly [`entry_size`] long.
#[inline]
fn fill_entry(e: &mut [u8], x: &[u8]) {
    let n = x.len();
    if n < 0x80 {
        // One length byte at each end: what nearly every element of a queue gets.
        e[0] = n as u8;
        e[1..=n].copy_from_slice(x);
        e[n + 1] = n as u8;
        return;
    }
    let (p, h) = len_prefix(n);
    e[..h].copy_from_slice(&p[..h]);
    e[h..h + x.len()].copy_from_slice(x);
    for (d, s) in e[h + x.len()..].iter_mut().zip(p[..h].iter().rev()) {
        *d = *s;
    }
}

// ---------------------------------------------------------------------------------------------
// Pack: one node

/// One node: `n` entries packed in `buf[head..]`.
///
/// The bytes before `head` are a gap at the front, so a push at the head of the list writes
/// into the gap and a pop there moves `head`: neither moves the node's other bytes. With the
/// entries kept from byte 0, as a listpack keeps them, an LPUSH or LPOP moved the whole node
/// (4 KiB on average at the default 8 KiB bound) and that copy was the largest single cost of a
/// pipelined LPUSH. The gap is made when a front push finds none, an eighth of the node's size
/// as the back grows by an eighth, and dropped when the back grows or the node is rebuilt.
#[derive(Debug, Clone, Default)]
struct Pack {
    buf: Vec<u8>,
    head: u32,
    n: u32,
}

impl PartialEq for Pack {
    fn eq(&self, other: &Pack) -> bool {
        self.n == other.n && self.data() == other.data()
    }
}

/// Bytes malloc hands out for a request of at least `n` (glibc serves n bytes from a 16-byte
/// aligned chunk of n + 8): growing to this wastes nothing the allocator would not.
fn alloc_size(n: usize) -> usize {
    (n + 8).next_multiple_of(16) - 8
}

impl Pack {
    fn len(&self) -> usize {
        self.n as usize
    }

    /// The entries' bytes.
    #[inline]
    fn data(&self) -> &[u8] {
        &self.buf[self.head as usize..]
    }

    /// Bytes the entries take (what the node bound counts).
    #[inline]
    fn used(&self) -> usize {
        self.buf.len() - self.head as usize
    }

    /// Makes room for `extra` more bytes at the back. A node grows by an eighth at a time
    /// (rounded to what malloc hands out): amortised O(1) copies per push, as a `Vec`'s
    /// doubling gives, but with at most an eighth spare, where doubling from a node's first
    /// entry left a 100-element list of 3-byte items in 640 bytes for its 500 (Redis reallocates
    /// a listpack to size). A front gap is given back first: popped bytes are reused before the
    /// node grows.
    fn reserve(&mut self, extra: usize) {
        let need = self.buf.len() + extra;
        let cap = self.buf.capacity();
        if need <= cap {
            return;
        }
        if self.head > 0 {
            let used = self.used();
            self.buf.copy_within(self.head as usize.., 0);
            self.buf.truncate(used);
            self.head = 0;
            if used + extra <= cap {
                return;
            }
        }
        let len = self.buf.len();
        let want = alloc_size((len + extra).max(cap + cap / 8));
        self.buf.reserve_exact(want - len);
    }

    fn push_back(&mut self, x: &[u8]) {
        self.reserve(entry_size(x.len()));
        write_entry(&mut self.buf, x);
        self.n += 1;
    }

    fn push_front(&mut self, x: &[u8]) {
        let sz = entry_size(x.len());
        if (self.head as usize) < sz {
            // Rebuild with a gap of an eighth of the node (at least this entry).
            let used = self.used();
            let total = alloc_size((used + sz).max(used + used / 8));
            let mut b = Vec::with_capacity(total);
            b.resize(total - used, 0);
            b.extend_from_slice(self.data());
            self.head = (total - used) as u32;
            self.buf = b;
        }
        let at = self.head as usize - sz;
        fill_entry(&mut self.buf[at..at + sz], x);
        self.head = at as u32;
        self.n += 1;
    }

    /// (data start, data end, end) of the entry at offset `at` of [`Pack::data`].
    #[inline]
    fn entry_at(&self, at: usize) -> (usize, usize, usize) {
        let (len, h) = read_fwd(self.data(), at);
        (at + h, at + h + len, at + 2 * h + len)
    }

    /// (entry start, data start, data end) of the entry ending at offset `end` of the data.
    #[inline]
    fn entry_before(&self, end: usize) -> (usize, usize, usize) {
        let (len, h) = read_back(self.data(), end);
        let de = end - h;
        (de - len - h, de - len, de)
    }

    fn pop_front(&mut self) -> Option<Str> {
        if self.n == 0 {
            return None;
        }
        let (ds, de, end) = self.entry_at(0);
        let v = Str::from_slice(&self.data()[ds..de]);
        self.head += end as u32;
        self.n -= 1;
        Some(v)
    }

    fn pop_back(&mut self) -> Option<Str> {
        if self.n == 0 {
            return None;
        }
        let (start, ds, de) = self.entry_before(self.used());
        let v = Str::from_slice(&self.data()[ds..de]);
        self.buf.truncate(self.head as usize + start);
        self.n -= 1;
        Some(v)
    }

    fn iter(&self) -> PackIter<'_> {
        PackIter {
            p: self,
            front: 0,
            back: self.used(),
            left: self.n as usize,
        }
    }

    /// Data offset of entry `i` (i <= n), walking from the nearer end.
    fn offset_of(&self, i: usize) -> usize {
        let n = self.len();
        if i <= n / 2 {
            let mut at = 0;
            for _ in 0..i {
                at = self.entry_at(at).2;
            }
            at
        } else {
            let mut end = self.used();
            for _ in i..n {
                end = self.entry_before(end).0;
            }
            end
        }
    }

    fn get(&self, i: usize) -> &[u8] {
        let (ds, de, _) = self.entry_at(self.offset_of(i));
        &self.data()[ds..de]
    }

    /// Replaces entry `i` with `x`.
    fn replace(&mut self, i: usize, x: &[u8]) {
        let at = self.offset_of(i);
        let end = self.entry_at(at).2;
        let mut e = Vec::with_capacity(entry_size(x.len()));
        write_entry(&mut e, x);
        let h = self.head as usize;
        self.buf.splice(h + at..h + end, e);
    }

    /// Inserts `x` so that it becomes entry `i`.
    fn insert(&mut self, i: usize, x: &[u8]) {
        let at = self.offset_of(i);
        let mut e = Vec::with_capacity(entry_size(x.len()));
        write_entry(&mut e, x);
        self.reserve(e.len());
        let h = self.head as usize;
        self.buf.splice(h + at..h + at, e);
        self.n += 1;
    }

    /// Removes the first `k` entries.
    fn drop_front(&mut self, k: usize) {
        let k = k.min(self.len());
        self.head += self.offset_of(k) as u32;
        self.n -= k as u32;
    }

    /// Removes the last `k` entries.
    fn drop_back(&mut self, k: usize) {
        let k = k.min(self.len());
        let at = self.offset_of(self.len() - k);
        self.buf.truncate(self.head as usize + at);
        self.n -= k as u32;
    }

    /// Removes up to `limit` entries equal to `x`, scanning from the tail if `from_tail`.
    fn remove_matching(&mut self, x: &[u8], limit: usize, from_tail: bool) -> usize {
        let d = self.data();
        // Byte ranges of the matches, in scan order.
        let mut hits: Vec<(usize, usize)> = Vec::new();
        if from_tail {
            let mut end = d.len();
            while end > 0 && hits.len() < limit {
                let (s, ds, de) = self.entry_before(end);
                if &d[ds..de] == x {
                    hits.push((s, end));
                }
                end = s;
            }
            hits.reverse();
        } else {
            let mut at = 0;
            while at < d.len() && hits.len() < limit {
                let (ds, de, e) = self.entry_at(at);
                if &d[ds..de] == x {
                    hits.push((at, e));
                }
                at = e;
            }
        }
        if hits.is_empty() {
            return 0;
        }
        let mut out = Vec::with_capacity(d.len());
        let mut prev = 0;
        for &(s, e) in &hits {
            out.extend_from_slice(&d[prev..s]);
            prev = e;
        }
        out.extend_from_slice(&d[prev..]);
        self.buf = out;
        self.head = 0;
        self.n -= hits.len() as u32;
        hits.len()
    }

    /// Splits off the second half of the entries into a new node.
    fn split(&mut self) -> Pack {
        let keep = self.len() / 2;
        let at = self.offset_of(keep);
        let tail = Pack {
            buf: self.data()[at..].to_vec(),
            head: 0,
            n: self.n - keep as u32,
        };
        self.buf.truncate(self.head as usize + at);
        self.buf.shrink_to_fit();
        self.n = keep as u32;
        tail
    }
}

/// Entries of one node, from either end.
struct PackIter<'a> {
    p: &'a Pack,
    front: usize,
    back: usize,
    left: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = &'a [u8];
    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        let (ds, de, e) = self.p.entry_at(self.front);
        self.front = e;
        self.left -= 1;
        Some(&self.p.data()[ds..de])
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for PackIter<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let (s, ds, de) = self.p.entry_before(self.back);
        self.back = s;
        self.left -= 1;
        Some(&self.p.data()[ds..de])
    }
}

// ---------------------------------------------------------------------------------------------
// List

#[derive(Debug, Clone, PartialEq, Default)]
pub struct List {
    nodes: VecDeque<Pack>,
    len: usize,
}

impl List {
    pub fn new() -> List {
        List {
            nodes: VecDeque::with_capacity(1),
            len: 0,
        }
    }

    pub fn push(&mut self, x: &[u8], front: bool, fill: Fill) {
        let sz = entry_size(x.len());
        let node = if front {
            self.nodes.front_mut()
        } else {
            self.nodes.back_mut()
        };
        match node {
            Some(n) if fill.allows(n, sz) => {
                if front {
                    n.push_front(x)
                } else {
                    n.push_back(x)
                }
            }
            _ => {
                let mut p = Pack {
                    buf: Vec::with_capacity(sz),
                    ..Pack::default()
                };
                p.push_back(x);
                if front {
                    self.nodes.push_front(p);
                } else {
                    self.nodes.push_back(p);
                }
            }
        }
        self.len += 1;
    }

    pub fn pop(&mut self, front: bool) -> Option<Str> {
        let v = if front {
            let n = self.nodes.front_mut()?;
            let v = n.pop_front();
            if n.n == 0 {
                self.nodes.pop_front();
            }
            v
        } else {
            let n = self.nodes.back_mut()?;
            let v = n.pop_back();
            if n.n == 0 {
                self.nodes.pop_back();
            }
            v
        }?;
        self.len -= 1;
        Some(v)
    }

    /// (node index, index within the node) of element `i < len`.
    fn locate(&self, i: usize) -> (usize, usize) {
        if i < self.len / 2 {
            let mut rest = i;
            for (ni, n) in self.nodes.iter().enumerate() {
                if rest < n.len() {
                    return (ni, rest);
                }
                rest -= n.len();
            }
        } else {
            let mut end = self.len;
            for (ni, n) in self.nodes.iter().enumerate().rev() {
                let start = end - n.len();
                if i >= start {
                    return (ni, i - start);
                }
                end = start;
            }
        }
        (self.nodes.len(), 0)
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let (ni, j) = self.locate(i);
        Some(self.nodes.get(ni)?.get(j))
    }

    /// Replaces element `i`; false if out of range.
    pub fn set(&mut self, i: usize, x: &[u8], fill: Fill) -> bool {
        if i >= self.len {
            return false;
        }
        let (ni, j) = self.locate(i);
        let Some(n) = self.nodes.get_mut(ni) else {
            return false;
        };
        n.replace(j, x);
        self.fix(ni, fill);
        true
    }

    /// Inserts `x` before or after the first element equal to `pivot`; false if none is.
    pub fn insert(&mut self, pivot: &[u8], x: &[u8], after: bool, fill: Fill) -> bool {
        let mut found = None;
        'outer: for (ni, n) in self.nodes.iter().enumerate() {
            for (j, e) in n.iter().enumerate() {
                if e == pivot {
                    found = Some((ni, j));
                    break 'outer;
                }
            }
        }
        let Some((ni, j)) = found else {
            return false;
        };
        let Some(n) = self.nodes.get_mut(ni) else {
            return false;
        };
        n.insert(j + after as usize, x);
        self.len += 1;
        self.fix(ni, fill);
        true
    }

    /// Splits node `ni` while it exceeds the bound.
    fn fix(&mut self, ni: usize, fill: Fill) {
        let mut i = ni;
        while let Some(n) = self.nodes.get_mut(i) {
            if !fill.too_big(n) {
                break;
            }
            let tail = n.split();
            self.nodes.insert(i + 1, tail);
            // The first half may still be too big (a count fill far below the node's size).
            if !self.nodes.get(i).is_some_and(|n| fill.too_big(n)) {
                i += 1;
            }
        }
    }

    /// LREM: removes up to |count| elements equal to `x` (all if 0), from the tail if count < 0.
    pub fn remove(&mut self, x: &[u8], count: i64) -> usize {
        let mut left = if count == 0 {
            usize::MAX
        } else {
            count.unsigned_abs().min(usize::MAX as u64) as usize
        };
        let from_tail = count < 0;
        let mut removed = 0;
        let n = self.nodes.len();
        for k in 0..n {
            if left == 0 {
                break;
            }
            let ni = if from_tail { n - 1 - k } else { k };
            if let Some(node) = self.nodes.get_mut(ni) {
                let r = node.remove_matching(x, left, from_tail);
                left -= r;
                removed += r;
            }
        }
        if removed > 0 {
            self.nodes.retain(|p| p.n > 0);
            self.len -= removed;
        }
        removed
    }

    /// Keeps elements `[start, end)` only.
    pub fn trim(&mut self, start: usize, end: usize) {
        let end = end.min(self.len);
        if start >= end {
            self.nodes.clear();
            self.len = 0;
            return;
        }
        let mut front = start;
        let mut back = self.len - end;
        self.len = end - start;
        while front > 0 {
            let Some(n) = self.nodes.front_mut() else {
                break;
            };
            if n.len() <= front {
                front -= n.len();
                self.nodes.pop_front();
            } else {
                n.drop_front(front);
                front = 0;
            }
        }
        while back > 0 {
            let Some(n) = self.nodes.back_mut() else {
                break;
            };
            if n.len() <= back {
                back -= n.len();
                self.nodes.pop_back();
            } else {
                n.drop_back(back);
                back = 0;
            }
        }
    }

    /// The number of nodes and the bytes their entries take (DEBUG OBJECT's quicklist figures).
    pub fn node_stats(&self) -> (usize, usize) {
        let bytes = self.nodes.iter().map(|p| p.data().len()).sum();
        (self.nodes.len(), bytes)
    }

    /// Every element, head to tail (reversible).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + '_ {
        self.nodes.iter().flat_map(Pack::iter)
    }

    /// Elements `[start, start + count)`, head to tail, starting at the right node.
    pub fn range(&self, start: usize, count: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (ni, j) = if start < self.len {
            self.locate(start)
        } else {
            (self.nodes.len(), 0)
        };
        self.nodes
            .range(ni.min(self.nodes.len())..)
            .flat_map(Pack::iter)
            .skip(j)
            .take(count)
    }

    /// Builds a list from elements (RDB loading, tests).
    pub fn from_iter<'a>(items: impl IntoIterator<Item = &'a [u8]>, fill: Fill) -> List {
        let mut l = List::new();
        for x in items {
            l.push(x, false, fill);
        }
        l
    }

    /// Reads an `RDB_TYPE_LIST` body.
    pub fn rdb_decode_list(r: &mut Reader, fill: Fill) -> Option<List> {
        let n = r.length()?;
        let mut l = List::new();
        for _ in 0..n {
            let s = r.string()?;
            l.push(&s, false, fill);
        }
        (l.len > 0).then_some(l)
    }

    /// Reads an `RDB_TYPE_LIST_QUICKLIST_2` body (Redis 7's: plain or listpack nodes).
    pub fn rdb_decode_quicklist2(r: &mut Reader, fill: Fill) -> Option<List> {
        let nodes = r.length()?;
        let mut l = List::new();
        for _ in 0..nodes {
            let container = r.length()?;
            let blob = r.string()?;
            match container {
                1 => l.push(&blob, false, fill),
                2 => decode_listpack(&blob, &mut l, fill)?,
                _ => return None,
            }
        }
        (l.len > 0).then_some(l)
    }
}

/// Decodes a list body of type `RDB_TYPE_LIST` or (`quicklist2`) `RDB_TYPE_LIST_QUICKLIST_2`.
pub fn rdb_decode(r: &mut Reader, quicklist2: bool, fill: Fill) -> Option<super::value::Value> {
    let l = if quicklist2 {
        List::rdb_decode_quicklist2(r, fill)?
    } else {
        List::rdb_decode_list(r, fill)?
    };
    Some(super::value::Value::List(
        Box::new(l),
        super::value::Meta::now(),
    ))
}

/// Appends the elements of a Redis listpack to `l`; `None` if it is malformed.
fn decode_listpack(b: &[u8], l: &mut List, fill: Fill) -> Option<()> {
    super::encoding::listpack_for_each(b, |e| l.push(e, false, fill))
}

impl Collection for List {
    fn len(&self) -> usize {
        self.len
    }
    fn encoding(&self) -> &'static str {
        "quicklist"
    }
    fn heap_size(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Pack>()
            + self.nodes.iter().map(|p| p.buf.capacity()).sum::<usize>()
    }
    fn rdb_encode(&self, out: &mut Vec<u8>) {
        out.push(RDB_TYPE_LIST);
        write_len(out, self.len as u64);
        for x in self.iter() {
            write_string(out, x);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(l: &List) -> Vec<Vec<u8>> {
        l.iter().map(|x| x.to_vec()).collect()
    }

    #[test]
    fn a_node_holds_at_most_an_eighth_spare() {
        for front in [false, true] {
            let mut l = List::new();
            for i in 0..100 {
                l.push(format!("{i:03}").as_bytes(), front, Fill::default());
                let p = &l.nodes[0];
                assert!(
                    p.buf.capacity() <= p.used() + p.used() / 8 + 16,
                    "{} bytes held for {}",
                    p.buf.capacity(),
                    p.used()
                );
            }
            assert_eq!(l.nodes.len(), 1);
            assert_eq!(l.nodes[0].used(), 500);
        }
    }

    #[test]
    fn a_queue_through_one_node_reuses_the_bytes_popped_at_the_front() {
        let mut l = List::new();
        for i in 0..10 {
            l.push(format!("{i:03}").as_bytes(), false, Fill::default());
        }
        for i in 10..100_000 {
            l.push(format!("{i:06}").as_bytes(), false, Fill::default());
            assert_eq!(
                l.pop(true).map(|v| v.len()),
                Some(if i < 20 { 3 } else { 6 })
            );
        }
        assert_eq!(l.nodes.len(), 1);
        assert_eq!(l.len(), 10);
        assert!(
            l.nodes[0].buf.capacity() <= 160,
            "{}",
            l.nodes[0].buf.capacity()
        );
    }

    #[test]
    fn a_stack_at_the_head_writes_into_the_gap() {
        let mut l = List::new();
        for i in 0..200 {
            l.push(format!("{i:03}").as_bytes(), true, Fill::default());
        }
        let buf = l.nodes[0].buf.as_ptr();
        let cap = l.nodes[0].buf.capacity();
        // Pops and pushes that stay within the gap neither copy nor reallocate the node.
        for _ in 0..1000 {
            assert_eq!(l.pop(true).as_deref(), Some(&b"199"[..]));
            l.push(b"199", true, Fill::default());
        }
        assert_eq!(
            (l.nodes[0].buf.as_ptr(), l.nodes[0].buf.capacity()),
            (buf, cap)
        );
        let all: Vec<Vec<u8>> = model(&l);
        assert_eq!(all.len(), 200);
        assert_eq!(all[0], b"199");
        assert_eq!(all[199], b"000");
    }

    #[test]
    fn varints_round_trip_both_ways() {
        for n in [0usize, 1, 127, 128, 300, 16383, 16384, 1 << 30] {
            let (p, h) = len_prefix(n);
            let f = &p[..h];
            assert_eq!(read_fwd(f, 0), (n, h));
            let b: Vec<u8> = f.iter().rev().copied().collect();
            assert_eq!(read_back(&b, b.len()), (n, h));
            assert_eq!(h, varint_len(n));
        }
    }

    #[test]
    fn pushes_pops_and_positions_match_a_deque() {
        for fill in [Fill(-2), Fill(3), Fill(1), Fill(-1)] {
            let mut l = List::new();
            let mut m: VecDeque<Vec<u8>> = VecDeque::new();
            let mut seed = 7u64;
            for step in 0..3000 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let len = (seed % 300) as usize;
                let x = vec![b'a' + (step % 26) as u8; len];
                match seed % 9 {
                    0 | 1 => {
                        l.push(&x, true, fill);
                        m.push_front(x);
                    }
                    2 | 3 => {
                        l.push(&x, false, fill);
                        m.push_back(x);
                    }
                    4 => assert_eq!(l.pop(true).map(|s| s.to_vec()), m.pop_front()),
                    5 => assert_eq!(l.pop(false).map(|s| s.to_vec()), m.pop_back()),
                    6 if !m.is_empty() => {
                        let i = (seed >> 8) as usize % m.len();
                        assert!(l.set(i, &x, fill));
                        m[i] = x;
                    }
                    7 if !m.is_empty() => {
                        let i = (seed >> 8) as usize % m.len();
                        let pivot = m[i].clone();
                        let at = m.iter().position(|e| *e == pivot).unwrap();
                        assert!(l.insert(&pivot, &x, true, fill));
                        m.insert(at + 1, x);
                    }
                    _ if !m.is_empty() => {
                        let i = (seed >> 8) as usize % m.len();
                        assert_eq!(l.get(i), Some(m[i].as_slice()));
                    }
                    _ => {}
                }
                assert_eq!(l.len, m.len());
            }
            assert_eq!(model(&l), m.iter().cloned().collect::<Vec<_>>());
            let rev: Vec<Vec<u8>> = l.iter().rev().map(|x| x.to_vec()).collect();
            assert_eq!(rev, m.iter().rev().cloned().collect::<Vec<_>>());
            let r: Vec<Vec<u8>> = l.range(5, 20).map(|x| x.to_vec()).collect();
            assert_eq!(r, m.iter().skip(5).take(20).cloned().collect::<Vec<_>>());
        }
    }

    #[test]
    fn remove_and_trim() {
        let items: Vec<Vec<u8>> = (0..500)
            .map(|i| format!("{}", i % 7).into_bytes())
            .collect();
        let mut l = List::from_iter(items.iter().map(|v| v.as_slice()), Fill(5));
        assert_eq!(l.remove(b"3", 2), 2);
        assert_eq!(l.remove(b"3", -1), 1);
        assert_eq!(l.remove(b"4", 0), 71);
        let mut m: Vec<Vec<u8>> = items.clone();
        let mut k = 0;
        m.retain(|x| {
            if x == b"3" && k < 2 {
                k += 1;
                return false;
            }
            true
        });
        let last = m.iter().rposition(|x| x == b"3").unwrap();
        m.remove(last);
        m.retain(|x| x != b"4");
        assert_eq!(model(&l), m);
        l.trim(10, 100);
        assert_eq!(model(&l), m[10..100].to_vec());
        l.trim(50, 10);
        assert_eq!(l.len, 0);
    }

    #[test]
    fn small_elements_cost_what_a_listpack_costs() {
        let mut l = List::new();
        for i in 0..100 {
            l.push(format!("{i:03}").as_bytes(), false, Fill::default());
        }
        assert_eq!(l.nodes.len(), 1);
        assert_eq!(l.nodes[0].used(), 500);
    }
}
