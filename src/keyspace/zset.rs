//! The sorted set type.
//!
//! ## Representations
//! * [`Pack`] (`listpack`): small sorted sets in one byte buffer, entries kept in (score, member)
//!   order, each a score followed by a LEB128 member length and the member bytes. A score that is
//!   an integer below 2^53 in magnitude (the common case: counters, timestamps) is a zig-zag
//!   LEB128 varint of one to eight bytes; any other score is a tag byte and the 8-byte IEEE
//!   double. Lookups are linear, as in Redis's listpack, which is what makes 100 members cost
//!   about as much as Redis (~6 bytes an entry here for a 3-byte member, against Redis's 7).
//!   The buffer is kept at its exact size: the allocator's size classes make the per-insert
//!   `realloc` cheap, and a small set wastes nothing.
//! * [`Skip`] (`skiplist`): Redis's design — a skiplist with spans ordered by (score, member),
//!   which gives rank, by-rank and by-score/lex range lookups in O(log n), plus a hash table
//!   from member to node for O(1) score lookup. Nodes are blocks in one arena (32-bit links,
//!   freed blocks reused) holding score and links together, member bytes apart (see [`Skip`]).
//!
//! A sorted set starts as a `Pack` unless the command creating it already brings more than
//! `zset-max-listpack-entries` pairs or a member longer than `zset-max-listpack-value` bytes
//! (Redis's `zsetTypeCreate`), becomes a `Skip` when an insert would exceed either limit, and
//! never converts back (as in Redis 7.0, except for results built whole by the *STORE commands,
//! which pick their representation by size).
//!
//! ## Order
//! Elements are ordered by score, then by member bytes; scores are never NaN. `-0` and `0`
//! compare equal (as C's `<` does) but `-0` is kept as written.
//!
//! ## Scanning
//! ZSCAN over a `Pack` returns everything with cursor 0 (as Redis does for a listpack). Over a
//! `Skip` the cursor is a member slot index: a node never moves while it is in the set, so every
//! member present for the whole scan is returned at least once.

use std::cmp::Ordering;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use smallvec::SmallVec;

use super::encoding::{write_len, write_string, Reader};
use super::value::{Collection, Meta, Str, Value};

/// RDB type of a sorted set with scores as strings (`RDB_TYPE_ZSET`, read only).
pub const RDB_TYPE_ZSET: u8 = 3;
/// RDB type of a sorted set with binary scores (`RDB_TYPE_ZSET_2`), what Eddy writes.
pub const RDB_TYPE_ZSET_2: u8 = 5;
/// RDB type of Redis 7's compact sorted set: a listpack of alternating members and scores.
pub const RDB_TYPE_ZSET_LISTPACK: u8 = 17;

/// Thresholds for the compact form (`zset-max-listpack-entries`, `zset-max-listpack-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZLimits {
    pub entries: usize,
    pub value: usize,
}

impl ZLimits {
    pub const DEFAULT: ZLimits = ZLimits {
        entries: 128,
        value: 64,
    };

    /// The limits configured now.
    pub fn current(hot: &crate::config::Hot) -> ZLimits {
        use std::sync::atomic::Ordering::Relaxed;
        ZLimits {
            entries: hot.zset_max_listpack_entries.load(Relaxed) as usize,
            value: hot.zset_max_listpack_value.load(Relaxed) as usize,
        }
    }
}

/// Total order of (score, member) pairs.
#[inline]
pub fn cmp_entry(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> Ordering {
    if s1 < s2 {
        Ordering::Less
    } else if s1 > s2 {
        Ordering::Greater
    } else {
        m1.cmp(m2)
    }
}

/// A member's place, from [`ZSet::locate`]: a skiplist node's block (NIL in the compact form,
/// where a change looks the member up again in the one small buffer).
#[derive(Clone, Copy)]
pub struct Located(u32);

// ---------------------------------------------------------------------------------------------
// Pack

const FLOAT_TAG: u8 = 0x01;
/// Integral scores below this magnitude are stored as varints (every such value is exact).
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

fn put_varint(out: &mut SmallVec<[u8; 96]>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

#[inline]
fn get_varint(b: &[u8], pos: &mut usize) -> u64 {
    let mut v = 0u64;
    let mut shift = 0;
    while let Some(&c) = b.get(*pos) {
        *pos += 1;
        v |= ((c & 0x7f) as u64) << shift;
        if c & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    v
}

fn encode_entry(score: f64, member: &[u8]) -> SmallVec<[u8; 96]> {
    let mut e = SmallVec::new();
    // `-0` is stored as the integer 0, as Redis's listpack does (a skiplist keeps the sign).
    if score.fract() == 0.0 && score.abs() < EXACT_INT {
        let i = score as i64;
        let z = ((i << 1) ^ (i >> 63)) as u64;
        // The low bit of the first byte is 0 for an integer, 1 for the float tag.
        put_varint(&mut e, z << 1);
    } else {
        e.push(FLOAT_TAG);
        e.extend_from_slice(&score.to_le_bytes());
    }
    put_varint(&mut e, member.len() as u64);
    e.extend_from_slice(member);
    e
}

/// Decodes the entry at `pos`: (score, member start, member end = next entry).
#[inline]
fn decode_entry(b: &[u8], pos: usize) -> (f64, usize, usize) {
    let mut p = pos;
    let score = if b.get(p) == Some(&FLOAT_TAG) {
        let mut raw = [0u8; 8];
        if let Some(s) = b.get(p + 1..p + 9) {
            raw.copy_from_slice(s);
        }
        p += 9;
        f64::from_le_bytes(raw)
    } else {
        let z = get_varint(b, &mut p) >> 1;
        (((z >> 1) as i64) ^ -((z & 1) as i64)) as f64
    };
    let len = get_varint(b, &mut p) as usize;
    (score, p, (p + len).min(b.len()))
}

/// Small sorted sets: entries in order in one exact-size buffer (see the module docs).
#[derive(Clone, Default, PartialEq)]
pub struct Pack {
    buf: Vec<u8>,
    n: u32,
}

/// Forward iterator over a [`Pack`]'s (member, score) pairs.
pub struct PackIter<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for PackIter<'a> {
    type Item = (&'a [u8], f64);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.b.len() {
            return None;
        }
        let (s, ms, me) = decode_entry(self.b, self.pos);
        self.pos = me;
        Some((&self.b[ms..me], s))
    }
}

impl Pack {
    pub fn len(&self) -> usize {
        self.n as usize
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    pub fn iter(&self) -> PackIter<'_> {
        PackIter {
            b: &self.buf,
            pos: 0,
        }
    }

    /// (entry start, entry end, score) of `member`.
    fn find(&self, member: &[u8]) -> Option<(usize, usize, f64)> {
        let b = &self.buf;
        let mut pos = 0;
        while pos < b.len() {
            let (s, ms, me) = decode_entry(b, pos);
            if &b[ms..me] == member {
                return Some((pos, me, s));
            }
            pos = me;
        }
        None
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        self.find(member).map(|f| f.2)
    }

    /// Inserts a member known to be absent, at its place in the order.
    fn insert(&mut self, score: f64, member: &[u8]) {
        let b = &self.buf;
        let mut pos = 0;
        while pos < b.len() {
            let (s, ms, me) = decode_entry(b, pos);
            if cmp_entry(s, &b[ms..me], score, member) == Ordering::Greater {
                break;
            }
            pos = me;
        }
        let e = encode_entry(score, member);
        self.buf.reserve_exact(e.len());
        self.buf.splice(pos..pos, e.iter().copied());
        self.n += 1;
    }

    /// Appends an entry that sorts after every other (building from sorted input).
    fn push_back(&mut self, score: f64, member: &[u8]) {
        let e = encode_entry(score, member);
        self.buf.extend_from_slice(&e);
        self.n += 1;
    }

    fn remove_span(&mut self, start: usize, end: usize, count: u32) {
        self.buf.drain(start..end);
        self.n -= count;
        if self.buf.capacity() - self.buf.len() > 64 {
            self.buf.shrink_to_fit();
        }
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (start, end, s) = self.find(member)?;
        self.remove_span(start, end, 1);
        Some(s)
    }

    /// Byte offset of the entry with rank `r` (or the end).
    fn offset_of(&self, r: usize) -> usize {
        let mut pos = 0;
        for _ in 0..r {
            if pos >= self.buf.len() {
                break;
            }
            pos = decode_entry(&self.buf, pos).2;
        }
        pos
    }
}

// ---------------------------------------------------------------------------------------------
// Skip

const MAX_LEVEL: usize = 32;
const NIL: u32 = u32::MAX;
/// The head node's block is the first in the arena.
const HEAD: u32 = 0;
/// Words before a block's links: the score, then (slot, height).
const BLOCK_HEADER: usize = 2;

#[derive(Clone, Copy, Debug)]
struct Level {
    /// Block of the next node on this level.
    next: u32,
    /// Number of level-0 steps this link skips.
    span: u32,
}

impl Level {
    #[inline]
    fn pack(self) -> u64 {
        (self.next as u64) | ((self.span as u64) << 32)
    }
    #[inline]
    fn unpack(w: u64) -> Level {
        Level {
            next: w as u32,
            span: (w >> 32) as u32,
        }
    }
}

type Hasher = foldhash::fast::FixedState;

#[inline]
fn hash(m: &[u8]) -> u64 {
    Hasher::with_seed(0x7a73_6574).hash_one(m)
}

/// Large sorted sets: skiplist with spans + member index (see the module docs).
///
/// Every node is one variable-sized block in a single arena of 8-byte words — its score, its
/// slot and height, then its links — as Redis allocates a node with its levels inline, and
/// links hold block positions. A search step reads one link and the next node's score, which sit
/// in the same block, so it costs one cache miss where separate arrays cost two; a node of
/// height 1 takes 24 bytes. Member bytes live apart (`slots`) and are read only when two
/// scores tie; the member index maps to slots, and a slot holds its member, its block and the
/// previous node's block. They share one entry because a ZADD reads all three for the same
/// member (the index compares the member, then goes to the block and checks the neighbours):
/// as three arrays they were three cache misses.
#[derive(Clone)]
pub struct Skip {
    arena: Vec<u64>,
    slots: Vec<Slot>,
    /// Free slots.
    free: Vec<u32>,
    /// Free blocks, by height.
    free_blocks: Vec<Vec<u32>>,
    map: HashTable<u32>,
    tail: u32,
    level: usize,
    len: usize,
    rng: u64,
}

/// A member's entry (see [`Skip`]).
#[derive(Clone)]
struct Slot {
    member: Str,
    /// Its node's block (NIL for a free slot).
    block: u32,
    /// The previous node's block (NIL for the first).
    back: u32,
}

impl Default for Skip {
    fn default() -> Self {
        Skip::new()
    }
}

impl Skip {
    pub fn new() -> Skip {
        let mut arena = vec![0f64.to_bits(), (MAX_LEVEL as u64) << 32];
        arena.extend(std::iter::repeat_n(
            Level { next: NIL, span: 0 }.pack(),
            MAX_LEVEL,
        ));
        Skip {
            arena,
            slots: Vec::new(),
            free: Vec::new(),
            free_blocks: Vec::new(),
            map: HashTable::new(),
            tail: NIL,
            level: 1,
            len: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    #[inline]
    fn lvl(&self, x: u32, i: usize) -> Level {
        Level::unpack(self.arena[x as usize + BLOCK_HEADER + i])
    }

    #[inline]
    fn set_lvl(&mut self, x: u32, i: usize, l: Level) {
        self.arena[x as usize + BLOCK_HEADER + i] = l.pack();
    }

    #[inline]
    fn add_span(&mut self, x: u32, i: usize, d: i64) {
        let mut l = self.lvl(x, i);
        l.span = (l.span as i64 + d) as u32;
        self.set_lvl(x, i, l);
    }

    #[inline]
    fn next(&self, x: u32, l: usize) -> u32 {
        self.lvl(x, l).next
    }

    #[inline]
    fn slot(&self, x: u32) -> usize {
        self.arena[x as usize + 1] as u32 as usize
    }

    #[inline]
    fn height(&self, x: u32) -> usize {
        (self.arena[x as usize + 1] >> 32) as usize
    }

    #[inline]
    fn member(&self, x: u32) -> &[u8] {
        &self.slots[self.slot(x)].member
    }

    #[inline]
    fn score_of(&self, x: u32) -> f64 {
        f64::from_bits(self.arena[x as usize])
    }

    #[inline]
    fn set_score_of(&mut self, x: u32, s: f64) {
        self.arena[x as usize] = s.to_bits();
    }

    #[inline]
    fn back_of(&self, x: u32) -> u32 {
        self.slots[self.slot(x)].back
    }

    fn random_level(&mut self) -> usize {
        let mut lvl = 1;
        loop {
            // xorshift64*: a per-set generator is enough for level choice.
            self.rng ^= self.rng >> 12;
            self.rng ^= self.rng << 25;
            self.rng ^= self.rng >> 27;
            let r = self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 32;
            // Each step up with probability 1/4, as Redis's ZSKIPLIST_P.
            if r & 3 != 0 || lvl >= MAX_LEVEL {
                return lvl;
            }
            lvl += 1;
        }
    }

    /// The block of `m`'s node.
    fn find(&self, m: &[u8]) -> Option<u32> {
        let slots = &self.slots;
        self.map
            .find(hash(m), |&i| slots[i as usize].member.as_slice() == m)
            .map(|&slot| slots[slot as usize].block)
    }

    fn score(&self, m: &[u8]) -> Option<f64> {
        self.find(m).map(|x| self.score_of(x))
    }

    /// Is node `n` ordered before (score, member)?
    #[inline]
    fn before(&self, n: u32, score: f64, member: &[u8]) -> bool {
        let s = self.score_of(n);
        s < score || (s == score && self.member(n) < member)
    }

    /// For (score, member): the last node before it on each level and that node's rank.
    fn search(&self, score: f64, member: &[u8]) -> ([u32; MAX_LEVEL], [u32; MAX_LEVEL]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let l = self.lvl(x, i);
                if l.next == NIL || !self.before(l.next, score, member) {
                    break;
                }
                rank[i] += l.span;
                x = l.next;
            }
            update[i] = x;
        }
        (update, rank)
    }

    /// Links an allocated node at its place (its height is already chosen).
    fn link(&mut self, x: u32) {
        let lvl = self.height(x);
        let (mut update, mut rank) = {
            let score = self.score_of(x);
            self.search(score, self.member(x))
        };
        if lvl > self.level {
            for i in self.level..lvl {
                rank[i] = 0;
                update[i] = HEAD;
                let n = self.lvl(HEAD, i).next;
                self.set_lvl(
                    HEAD,
                    i,
                    Level {
                        next: n,
                        span: self.len as u32,
                    },
                );
            }
            self.level = lvl;
        }
        for i in 0..lvl {
            let u = update[i];
            let ul = self.lvl(u, i);
            self.set_lvl(
                x,
                i,
                Level {
                    next: ul.next,
                    span: ul.span - (rank[0] - rank[i]),
                },
            );
            self.set_lvl(
                u,
                i,
                Level {
                    next: x,
                    span: (rank[0] - rank[i]) + 1,
                },
            );
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(lvl) {
            self.add_span(u, i, 1);
        }
        let slot = self.slot(x);
        self.slots[slot].back = if update[0] == HEAD { NIL } else { update[0] };
        let nx = self.next(x, 0);
        if nx != NIL {
            let ns = self.slot(nx);
            self.slots[ns].back = x;
        } else {
            self.tail = x;
        }
        self.len += 1;
    }

    /// Unlinks node `x` from the list (it stays allocated and indexed).
    fn unlink(&mut self, x: u32) {
        let (update, _) = {
            let score = self.score_of(x);
            self.search(score, self.member(x))
        };
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let ul = self.lvl(u, i);
            if ul.next == x {
                let xl = self.lvl(x, i);
                self.set_lvl(
                    u,
                    i,
                    Level {
                        next: xl.next,
                        span: ul.span + xl.span - 1,
                    },
                );
            } else {
                self.add_span(u, i, -1);
            }
        }
        let nx = self.next(x, 0);
        let back = self.back_of(x);
        if nx != NIL {
            let ns = self.slot(nx);
            self.slots[ns].back = back;
        } else {
            self.tail = back;
        }
        while self.level > 1 && self.next(HEAD, self.level - 1) == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    fn insert_new(&mut self, member: &[u8], score: f64) {
        let h = self.random_level();
        let slot = match self.free.pop() {
            Some(i) => {
                self.slots[i as usize].member = Str::from_slice(member);
                i
            }
            None => {
                self.slots.push(Slot {
                    member: Str::from_slice(member),
                    block: NIL,
                    back: NIL,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let x = match self.free_blocks.get_mut(h).and_then(|f| f.pop()) {
            Some(x) => x,
            None => {
                let x = self.arena.len() as u32;
                self.arena.resize(
                    self.arena.len() + BLOCK_HEADER + h,
                    Level { next: NIL, span: 0 }.pack(),
                );
                x
            }
        };
        self.arena[x as usize] = score.to_bits();
        self.arena[x as usize + 1] = slot as u64 | ((h as u64) << 32);
        self.slots[slot as usize].block = x;
        self.link(x);
        let slots = &self.slots;
        self.map
            .insert_unique(hash(member), slot, |&i| hash(&slots[i as usize].member));
    }

    fn set_score(&mut self, member: &[u8], score: f64) {
        if let Some(x) = self.find(member) {
            self.set_score_of_node(x, member, score);
        }
    }

    /// Moves node `x` (holding `member`) to `score`.
    fn set_score_of_node(&mut self, x: u32, member: &[u8], score: f64) {
        let back = self.back_of(x);
        let nx = self.next(x, 0);
        // Still in order with its neighbours: update in place, as zslUpdateScore does.
        let after_back = back == NIL || self.before(back, score, member);
        let before_next = nx == NIL || {
            let (s, m) = (self.score_of(nx), self.member(nx));
            score < s || (score == s && member < m)
        };
        if after_back && before_next {
            self.set_score_of(x, score);
            return;
        }
        self.unlink(x);
        self.set_score_of(x, score);
        self.link(x);
    }

    fn remove_node(&mut self, x: u32) -> f64 {
        self.unlink(x);
        let slot = self.slot(x);
        let h = hash(&self.slots[slot].member);
        if let Ok(e) = self.map.find_entry(h, |&i| i as usize == slot) {
            e.remove();
        }
        let height = self.height(x);
        if self.free_blocks.len() <= height {
            self.free_blocks.resize_with(height + 1, Vec::new);
        }
        self.free_blocks[height].push(x);
        self.slots[slot].block = NIL;
        self.slots[slot].member = Str::new();
        self.free.push(slot as u32);
        self.score_of(x)
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let x = self.find(member)?;
        Some(self.remove_node(x))
    }

    /// 0-based rank of the node.
    fn rank_of(&self, idx: u32) -> usize {
        let (score, member) = (self.score_of(idx), self.member(idx));
        let mut rank = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lvl(x, i);
                if l.next == NIL {
                    break;
                }
                let (s, m) = (self.score_of(l.next), self.member(l.next));
                if cmp_entry(s, m, score, member) == Ordering::Greater {
                    break;
                }
                rank += l.span as usize;
                x = l.next;
            }
            if x == idx {
                return rank - 1;
            }
        }
        rank.saturating_sub(1)
    }

    /// Node with 0-based rank `r`.
    fn at(&self, r: usize) -> u32 {
        let target = r + 1;
        let mut traversed = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lvl(x, i);
                if l.next == NIL || traversed + l.span as usize > target {
                    break;
                }
                traversed += l.span as usize;
                x = l.next;
            }
            if traversed == target {
                return x;
            }
        }
        NIL
    }

    /// Number of leading elements for which `pred` holds (`pred` must be monotone).
    fn count_while(&self, pred: &impl Fn(f64, &[u8]) -> bool) -> usize {
        let mut rank = 0usize;
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let l = self.lvl(x, i);
                if l.next == NIL {
                    break;
                }
                if !pred(self.score_of(l.next), self.member(l.next)) {
                    break;
                }
                rank += l.span as usize;
                x = l.next;
            }
        }
        rank
    }

    /// Bytes held on the heap (for MEMORY USAGE).
    fn heap_size(&self) -> usize {
        let spilled: usize = self
            .slots
            .iter()
            .filter(|s| s.member.spilled())
            .map(|s| s.member.capacity())
            .sum();
        std::mem::size_of::<Skip>()
            + self.arena.capacity() * 8
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.free.capacity() * 4
            + self
                .free_blocks
                .iter()
                .map(|f| f.capacity() * 4)
                .sum::<usize>()
            + self.map.capacity() * 5
            + spilled
    }
}

// ---------------------------------------------------------------------------------------------
// ZSet

/// A sorted set in one of its two representations.
#[derive(Clone)]
pub enum ZSet {
    Pack(Pack),
    Skip(Box<Skip>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Pack(Pack::default())
    }
}

impl ZSet {
    /// An empty set for a command about to add `pairs` members, the longest `max_len` bytes.
    pub fn new(pairs: usize, max_len: usize, lim: ZLimits) -> ZSet {
        if pairs > lim.entries || max_len > lim.value {
            ZSet::Skip(Box::default())
        } else {
            ZSet::Pack(Pack::default())
        }
    }

    /// Builds a set from pairs sorted by (score, member) with unique members, choosing the
    /// representation by size.
    pub fn from_sorted(pairs: &[(Str, f64)], lim: ZLimits) -> ZSet {
        let max_len = pairs.iter().map(|p| p.0.len()).max().unwrap_or(0);
        if pairs.len() <= lim.entries && max_len <= lim.value {
            let mut p = Pack::default();
            let bytes: usize = pairs.iter().map(|(m, _)| m.len() + 4).sum();
            p.buf.reserve_exact(bytes);
            for (m, s) in pairs {
                p.push_back(*s, m);
            }
            p.buf.shrink_to_fit();
            ZSet::Pack(p)
        } else {
            let mut s = Skip::new();
            for (m, sc) in pairs {
                s.insert_new(m, *sc);
            }
            ZSet::Skip(Box::new(s))
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Pack(p) => p.len(),
            ZSet::Skip(s) => s.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(p) => p.score(member),
            ZSet::Skip(s) => s.score(member),
        }
    }

    fn convert(&mut self) {
        if let ZSet::Pack(p) = self {
            let mut s = Skip::new();
            for (m, sc) in p.iter() {
                s.insert_new(m, sc);
            }
            *self = ZSet::Skip(Box::new(s));
        }
    }

    /// Adds a member known to be absent, converting to a skiplist past the limits.
    pub fn add_new(&mut self, member: &[u8], score: f64, lim: ZLimits) {
        if let ZSet::Pack(p) = self {
            if p.len() + 1 > lim.entries || member.len() > lim.value {
                self.convert();
            }
        }
        match self {
            ZSet::Pack(p) => p.insert(score, member),
            ZSet::Skip(s) => s.insert_new(member, score),
        }
    }

    /// Changes the score of a member known to be present.
    pub fn set_score(&mut self, member: &[u8], score: f64) {
        match self {
            ZSet::Pack(p) => {
                if p.remove(member).is_some() {
                    p.insert(score, member);
                }
            }
            ZSet::Skip(s) => s.set_score(member, score),
        }
    }

    /// `member`'s score and where it sits, for [`ZSet::set_score_at`]: ZADD on a member that is
    /// present reads its score and then changes it, and in a large set the second hash lookup
    /// (a cache miss on the member's bytes) was a tenth of the command's CPU.
    pub fn locate(&self, member: &[u8]) -> Option<(f64, Located)> {
        match self {
            ZSet::Pack(p) => p.score(member).map(|s| (s, Located(NIL))),
            ZSet::Skip(s) => s.find(member).map(|x| (s.score_of(x), Located(x))),
        }
    }

    /// Changes the score of the member [`ZSet::locate`] found, with no change to the set since.
    pub fn set_score_at(&mut self, at: Located, member: &[u8], score: f64) {
        match self {
            ZSet::Skip(s) if at.0 != NIL => s.set_score_of_node(at.0, member, score),
            _ => self.set_score(member, score),
        }
    }

    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Pack(p) => p.remove(member),
            ZSet::Skip(s) => s.remove(member),
        }
    }

    /// 0-based rank (ascending) and score of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match self {
            ZSet::Pack(p) => p
                .iter()
                .enumerate()
                .find(|(_, (m, _))| *m == member)
                .map(|(i, (_, s))| (i, s)),
            ZSet::Skip(s) => {
                let idx = s.find(member)?;
                Some((s.rank_of(idx), s.score_of(idx)))
            }
        }
    }

    /// Number of leading elements (in ascending order) for which `pred(score, member)` holds;
    /// `pred` must hold for a prefix of the order (a range bound).
    pub fn count_while(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Pack(p) => p.iter().take_while(|(m, s)| pred(*s, m)).count(),
            ZSet::Skip(s) => s.count_while(&pred),
        }
    }

    /// The element with 0-based ascending rank `r`.
    pub fn get(&self, r: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Pack(p) => p.iter().nth(r),
            ZSet::Skip(s) => {
                if r >= s.len {
                    return None;
                }
                let x = s.at(r);
                Some((s.member(x), s.score_of(x)))
            }
        }
    }

    /// Calls `f` for up to `n` elements starting at rank `start`, counted from the lowest score
    /// (or from the highest if `rev`, walking downwards).
    pub fn for_range<'s>(
        &'s self,
        start: usize,
        n: usize,
        rev: bool,
        mut f: impl FnMut(&'s [u8], f64),
    ) {
        let len = self.len();
        if start >= len || n == 0 {
            return;
        }
        let n = n.min(len - start);
        match self {
            ZSet::Pack(p) => {
                if !rev {
                    let off = p.offset_of(start);
                    let it = PackIter {
                        b: &p.buf,
                        pos: off,
                    };
                    for (m, s) in it.take(n) {
                        f(m, s);
                    }
                } else {
                    let first = len - start - n;
                    let off = p.offset_of(first);
                    let it = PackIter {
                        b: &p.buf,
                        pos: off,
                    };
                    let items: SmallVec<[(&[u8], f64); 32]> = it.take(n).collect();
                    for (m, s) in items.into_iter().rev() {
                        f(m, s);
                    }
                }
            }
            ZSet::Skip(s) => {
                let r = if rev { len - 1 - start } else { start };
                let mut x = s.at(r);
                for _ in 0..n {
                    if x == NIL {
                        break;
                    }
                    f(s.member(x), s.score_of(x));
                    x = if rev { s.back_of(x) } else { s.next(x, 0) };
                }
            }
        }
    }

    /// Every element in ascending order.
    pub fn for_each<'s>(&'s self, f: impl FnMut(&'s [u8], f64)) {
        self.for_range(0, self.len(), false, f)
    }

    /// Removes `n` elements starting at rank `start` (ascending, or descending if `rev`);
    /// returns them in the order they were visited.
    pub fn remove_range(&mut self, start: usize, n: usize, rev: bool) -> Vec<(Str, f64)> {
        let mut out: Vec<(Str, f64)> = Vec::with_capacity(n.min(self.len()));
        self.for_range(start, n, rev, |m, s| out.push((Str::from_slice(m), s)));
        if out.is_empty() {
            return out;
        }
        match self {
            ZSet::Pack(p) => {
                // The visited elements are contiguous in the buffer: drop them in one splice.
                let len = p.len();
                let first = if rev { len - start - out.len() } else { start };
                let a = p.offset_of(first);
                let b = p.offset_of(first + out.len());
                p.remove_span(a, b, out.len() as u32);
            }
            ZSet::Skip(s) => {
                for (m, _) in &out {
                    s.remove(m);
                }
            }
        }
        out
    }

    /// One ZSCAN step from `cursor`; returns the next cursor (0 when done).
    pub fn scan<'s>(&'s self, cursor: u64, count: usize, mut f: impl FnMut(&'s [u8], f64)) -> u64 {
        match self {
            ZSet::Pack(p) => {
                for (m, s) in p.iter() {
                    f(m, s);
                }
                0
            }
            ZSet::Skip(s) => {
                let mut i = cursor as usize;
                let mut visited = 0;
                while i < s.slots.len() && visited < count {
                    let x = s.slots[i].block;
                    if x != NIL {
                        f(s.member(x), s.score_of(x));
                        visited += 1;
                    }
                    i += 1;
                }
                if i >= s.slots.len() {
                    0
                } else {
                    i as u64
                }
            }
        }
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        if self.len() != other.len() {
            return false;
        }
        let mut a: Vec<(Str, f64)> = Vec::with_capacity(self.len());
        self.for_each(|m, s| a.push((Str::from_slice(m), s)));
        let mut i = 0;
        let mut same = true;
        other.for_each(|m, s| {
            same &= a
                .get(i)
                .is_some_and(|(am, as_)| am.as_slice() == m && *as_ == s);
            i += 1;
        });
        same
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut v: Vec<(String, f64)> = Vec::new();
        self.for_each(|m, s| v.push((String::from_utf8_lossy(m).into_owned(), s)));
        f.debug_struct("ZSet")
            .field("encoding", &self.encoding())
            .field("entries", &v)
            .finish()
    }
}

impl Collection for ZSet {
    fn len(&self) -> usize {
        ZSet::len(self)
    }
    fn encoding(&self) -> &'static str {
        match self {
            ZSet::Pack(_) => "listpack",
            ZSet::Skip(_) => "skiplist",
        }
    }
    fn heap_size(&self) -> usize {
        match self {
            ZSet::Pack(p) => p.buf.capacity(),
            ZSet::Skip(s) => s.heap_size(),
        }
    }
    /// `RDB_TYPE_ZSET_2`: the length, then each member as an RDB string and its score as an
    /// 8-byte little-endian double (what Redis 7.0 writes for a skiplist and reads for any size).
    fn rdb_encode(&self, out: &mut Vec<u8>) {
        out.push(RDB_TYPE_ZSET_2);
        write_len(out, self.len() as u64);
        self.for_each(|m, s| {
            write_string(out, m);
            out.extend_from_slice(&s.to_le_bytes());
        });
    }
}

/// Reads an `RDB_TYPE_ZSET_2` (binary scores) or `RDB_TYPE_ZSET` (scores as short strings)
/// body. Duplicate members and NaN scores are refused, as Redis refuses them.
pub fn rdb_decode(r: &mut Reader, binary: bool, lim: ZLimits) -> Option<Value> {
    let n = usize::try_from(r.length()?).ok()?;
    if n == 0 {
        return None;
    }
    let mut pairs: Vec<(Str, f64)> = Vec::with_capacity(n.min(1 << 16));
    for _ in 0..n {
        let m = Str::from_vec(r.string()?);
        let score = if binary {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(r.take(8)?);
            f64::from_le_bytes(raw)
        } else {
            match r.u8()? {
                253 => f64::NAN,
                254 => f64::INFINITY,
                255 => f64::NEG_INFINITY,
                len => {
                    let t = std::str::from_utf8(r.take(len as usize)?).ok()?;
                    t.parse().ok()?
                }
            }
        };
        if score.is_nan() {
            return None;
        }
        pairs.push((m, score));
    }
    from_rdb_pairs(pairs, lim)
}

/// Reads an `RDB_TYPE_ZSET_LISTPACK` body (what Redis 7 DUMPs for a small sorted set): members
/// and scores alternate, scores as integers or decimal text.
pub fn rdb_decode_listpack(r: &mut Reader, lim: ZLimits) -> Option<Value> {
    let el = super::encoding::listpack_elements(r)?;
    if el.len() % 2 != 0 {
        return None;
    }
    let mut pairs = Vec::with_capacity(el.len() / 2);
    let mut it = el.into_iter();
    while let (Some(m), Some(s)) = (it.next(), it.next()) {
        let score: f64 = std::str::from_utf8(&s).ok()?.parse().ok()?;
        if score.is_nan() {
            return None;
        }
        pairs.push((Str::from_vec(m), score));
    }
    from_rdb_pairs(pairs, lim)
}

/// A sorted set from decoded pairs in any order; `None` if a member repeats.
fn from_rdb_pairs(mut pairs: Vec<(Str, f64)>, lim: ZLimits) -> Option<Value> {
    pairs.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
    // Equal members sort next to each other only when their scores are equal; check properly.
    let mut seen: hashbrown::HashSet<&[u8], Hasher> =
        hashbrown::HashSet::with_hasher(Hasher::with_seed(1));
    for (m, _) in &pairs {
        if !seen.insert(m.as_slice()) {
            return None;
        }
    }
    drop(seen);
    let z = ZSet::from_sorted(&pairs, lim);
    Some(Value::ZSet(Box::new(z), Meta::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> ZLimits {
        ZLimits::DEFAULT
    }

    fn collect(z: &ZSet) -> Vec<(Vec<u8>, f64)> {
        let mut v = Vec::new();
        z.for_each(|m, s| v.push((m.to_vec(), s)));
        v
    }

    #[test]
    fn pack_scores_round_trip() {
        let mut p = Pack::default();
        let scores = [
            0.0,
            -0.0,
            1.0,
            -1.0,
            127.0,
            1e15,
            -9_007_199_254_740_991.0,
            1.5,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e300,
        ];
        for (i, s) in scores.iter().enumerate() {
            p.insert(*s, format!("m{i}").as_bytes());
        }
        for (i, s) in scores.iter().enumerate() {
            let got = p.score(format!("m{i}").as_bytes()).unwrap();
            let want = if *s == 0.0 { 0.0 } else { *s };
            assert_eq!(got.to_bits(), want.to_bits(), "{s}");
        }
        let v: Vec<f64> = p.iter().map(|(_, s)| s).collect();
        let mut sorted = v.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        assert_eq!(v, sorted);
    }

    /// Both representations agree with a sorted model under random operations.
    #[test]
    fn skiplist_and_pack_match_a_model() {
        let mut seed = 42u64;
        let mut rnd = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut small = ZSet::Pack(Pack::default());
        let mut big = ZSet::Skip(Box::default());
        let mut model: Vec<(Vec<u8>, f64)> = Vec::new();
        let big_lim = ZLimits {
            entries: usize::MAX,
            value: usize::MAX,
        };
        for _ in 0..5000 {
            let m = format!("m{}", rnd(300)).into_bytes();
            let s = rnd(50) as f64 - 25.0;
            match rnd(3) {
                0 | 1 => {
                    let pos = model.iter().position(|(mm, _)| *mm == m);
                    match pos {
                        Some(i) => {
                            model[i].1 = s;
                            small.set_score(&m, s);
                            let (_, at) = big.locate(&m).expect("present");
                            big.set_score_at(at, &m, s);
                        }
                        None => {
                            model.push((m.clone(), s));
                            small.add_new(&m, s, big_lim);
                            big.add_new(&m, s, big_lim);
                        }
                    }
                }
                _ => {
                    let want = model
                        .iter()
                        .position(|(mm, _)| *mm == m)
                        .map(|i| model.remove(i).1);
                    assert_eq!(small.remove(&m), want);
                    assert_eq!(big.remove(&m), want);
                }
            }
            model.sort_by(|a, b| cmp_entry(a.1, &a.0, b.1, &b.0));
        }
        assert_eq!(collect(&small), model);
        assert_eq!(collect(&big), model);
        for (i, (m, s)) in model.iter().enumerate() {
            assert_eq!(big.rank(m), Some((i, *s)));
            assert_eq!(small.rank(m), Some((i, *s)));
            assert_eq!(big.get(i).map(|(mm, _)| mm.to_vec()), Some(m.clone()));
        }
        let below = model.iter().filter(|(_, s)| *s < 3.0).count();
        assert_eq!(big.count_while(|s, _| s < 3.0), below);
        assert_eq!(small.count_while(|s, _| s < 3.0), below);
        let mut rev = Vec::new();
        big.for_range(2, 5, true, |m, _| rev.push(m.to_vec()));
        let want: Vec<Vec<u8>> = model
            .iter()
            .rev()
            .skip(2)
            .take(5)
            .map(|p| p.0.clone())
            .collect();
        assert_eq!(rev, want);
        let mut rev2 = Vec::new();
        small.for_range(2, 5, true, |m, _| rev2.push(m.to_vec()));
        assert_eq!(rev2, want);
        assert_eq!(small, big);
    }

    #[test]
    fn converts_past_the_limits() {
        let mut z = ZSet::new(1, 1, lim());
        for i in 0..128 {
            z.add_new(format!("{i}").as_bytes(), i as f64, lim());
        }
        assert_eq!(z.encoding(), "listpack");
        z.add_new(b"x", 1.0, lim());
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(z.len(), 129);
        let mut z = ZSet::new(1, 1, lim());
        z.add_new(&[b'a'; 65], 1.0, lim());
        assert_eq!(z.encoding(), "skiplist");
    }

    #[test]
    fn rdb_round_trip() {
        let mut z = ZSet::new(1, 1, lim());
        z.add_new(b"a", 1.5, lim());
        z.add_new(b"12", -3.0, lim());
        let mut out = Vec::new();
        z.rdb_encode(&mut out);
        let mut r = Reader::new(&out[1..]);
        match rdb_decode(&mut r, true, lim()) {
            Some(Value::ZSet(d, _)) => assert_eq!(*d, z),
            other => panic!("{other:?}"),
        }
    }
}
