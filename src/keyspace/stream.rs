//! The stream type: entries ordered by ID, each a list of field/value pairs, plus Redis 7's
//! metadata (last generated ID, `entries_added`, `max_deleted_entry_id`).
//!
//! ## Representation
//! Entries live in a `BTreeMap<StreamId, Box<[u8]>>`; an entry's pairs are packed into one
//! buffer (each string a LEB128 length then its bytes), so an entry costs one allocation. The
//! first ID is the map's first key. Unlike other collections a stream may exist empty (XDEL and
//! XTRIM never delete the key), as in Redis.
//!
//! ## Nodes
//! Redis keeps a stream's entries in radix-tree nodes of up to `stream-node-max-entries`
//! entries and `stream-node-max-bytes` bytes, and `~` trimming removes whole nodes only, so the
//! length an XADD or XTRIM with `~` leaves depends on where nodes begin. Eddy keeps the same
//! boundaries beside its map ([`Nodes`]: per node its last ID and its live and total entry
//! counts, 24 bytes a node) and trims by them as Redis's `streamTrim` does, so `MAXLEN ~`,
//! `MINID ~` and `LIMIT` leave the lengths Redis leaves. A node's bytes are counted from Eddy's
//! packed entries, a close stand-in for Redis's listpack sizes.
//!
//! ## Snapshot / DUMP encoding
//! Streams are written in Redis's RDB encoding (type 19, see
//! [`stream_rdb`](super::stream_rdb)), so a stream DUMP restores in Redis and back. Snapshots
//! from earlier Eddy versions used Eddy's own body under type byte [`RDB_TYPE_STREAM_EDDY`] (64,
//! unused by Redis): entry count, then per entry `ms seq npairs (field value)*` (lengths and
//! strings in RDB form), then the last ID, `entries_added` and `max_deleted_entry_id`;
//! [`RDB_TYPE_STREAM_EDDY_GROUPS`] (65) adds the groups (layout in
//! [`stream_group`](super::stream_group)). Those are still read.

use std::collections::BTreeMap;

use super::encoding::Reader;
use super::stream_group::Group;
use super::value::{Collection, Key, Meta, Value};

/// Eddy's RDB type byte for a stream (not a Redis type).
pub const RDB_TYPE_STREAM_EDDY: u8 = 64;
/// Eddy's RDB type byte for a stream followed by its consumer groups.
pub const RDB_TYPE_STREAM_EDDY_GROUPS: u8 = 65;

/// A stream entry ID: milliseconds and sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, `None` at the maximum.
    pub fn incr(self) -> Option<StreamId> {
        if self.seq < u64::MAX {
            Some(StreamId::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(StreamId::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The previous ID, `None` at 0-0.
    pub fn decr(self) -> Option<StreamId> {
        if self.seq > 0 {
            Some(StreamId::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(StreamId::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    /// `ms-seq` text.
    pub fn to_bytes(self) -> Vec<u8> {
        // Every XADD writes one (reply and change record): itoa, not the formatter.
        let (mut a, mut b) = (itoa::Buffer::new(), itoa::Buffer::new());
        let (ms, seq) = (a.format(self.ms).as_bytes(), b.format(self.seq).as_bytes());
        let mut v = Vec::with_capacity(ms.len() + 1 + seq.len());
        v.extend_from_slice(ms);
        v.push(b'-');
        v.extend_from_slice(seq);
        v
    }

    /// Parses `ms` or `ms-seq` (no `-`/`+`/`*`); a missing sequence is `missing_seq`.
    pub fn parse(b: &[u8], missing_seq: u64) -> Option<StreamId> {
        let b = id_text(b)?;
        // As Redis's string2ull (strtoull): leading blanks and a `+` are accepted.
        let num = |s: &[u8]| -> Option<u64> {
            let start = s.iter().position(|c| !b" \t\n\r\x0b\x0c".contains(c))?;
            let s = &s[start..];
            let s = s.strip_prefix(b"+").unwrap_or(s);
            if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(s).ok()?.parse().ok()
        };
        match b.iter().position(|&c| c == b'-') {
            None => Some(StreamId::new(num(b)?, missing_seq)),
            Some(i) => Some(StreamId::new(num(&b[..i])?, num(&b[i + 1..])?)),
        }
    }
}

/// An ID argument as Redis reads it: copied into a 128-byte C buffer (longer is invalid), so it
/// ends at its first NUL byte (`2\0junk` is ID 2).
pub fn id_text(b: &[u8]) -> Option<&[u8]> {
    if b.len() > 127 {
        return None;
    }
    Some(b.split(|&c| c == 0).next().unwrap_or(b))
}

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_varint(b: &[u8], at: &mut usize) -> usize {
    let mut n = 0usize;
    let mut shift = 0;
    loop {
        let c = b[*at];
        *at += 1;
        n |= ((c & 0x7f) as usize) << shift;
        if c & 0x80 == 0 {
            return n;
        }
        shift += 7;
    }
}

/// Packs strings into one buffer.
pub fn pack<'a>(items: impl Iterator<Item = &'a [u8]>) -> Box<[u8]> {
    let mut out = Vec::new();
    for s in items {
        put_varint(&mut out, s.len());
        out.extend_from_slice(s);
    }
    out.into_boxed_slice()
}

/// The strings of a packed entry.
pub fn unpack(b: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= b.len() {
            return None;
        }
        let n = get_varint(b, &mut at);
        let s = &b[at..at + n];
        at += n;
        Some(s)
    })
}

/// Where a node ends and how full it may grow (the `stream-node-max-*` settings).
#[derive(Debug, Clone, Copy)]
pub struct NodeLimits {
    /// 0: no limit.
    pub entries: u64,
    /// 0: no limit.
    pub bytes: u64,
}

impl NodeLimits {
    pub const DEFAULT: NodeLimits = NodeLimits {
        entries: 100,
        bytes: 4096,
    };
}

/// One of Redis's radix-tree nodes, as far as trimming needs it.
#[derive(Debug, Clone, Copy)]
struct Node {
    /// The ID of the last entry appended to it (deleted or not).
    last: StreamId,
    /// Entries not deleted.
    live: u32,
    /// Entries appended to it, deleted or not (a node takes no more once full).
    total: u32,
    bytes: u32,
}

/// The node boundaries of a stream (module docs). Not part of its value: two streams with the
/// same entries are equal (and print alike) however their nodes fell.
#[derive(Clone, Default)]
struct Nodes(std::collections::VecDeque<Node>);

impl PartialEq for Nodes {
    fn eq(&self, _: &Nodes) -> bool {
        true
    }
}

impl std::fmt::Debug for Nodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("..")
    }
}

impl Nodes {
    fn push(&mut self, id: StreamId, bytes: usize, lim: NodeLimits) {
        let bytes = u32::try_from(bytes).unwrap_or(u32::MAX);
        match self.0.back_mut() {
            Some(n)
                if (lim.entries == 0 || u64::from(n.total) < lim.entries)
                    && (lim.bytes == 0 || u64::from(n.bytes) + u64::from(bytes) < lim.bytes) =>
            {
                n.last = id;
                n.live += 1;
                n.total += 1;
                n.bytes = n.bytes.saturating_add(bytes);
            }
            _ => self.0.push_back(Node {
                last: id,
                live: 1,
                total: 1,
                bytes,
            }),
        }
    }

    /// An entry was deleted: a node left with none goes, as Redis frees it.
    fn removed(&mut self, id: StreamId) {
        let i = self.0.partition_point(|n| n.last < id);
        if let Some(n) = self.0.get_mut(i) {
            n.live = n.live.saturating_sub(1);
            if n.live == 0 {
                self.0.remove(i);
            }
        }
    }
}

/// How to trim a stream (XADD's and XTRIM's options).
#[derive(Debug, Clone, Copy)]
pub struct TrimSpec {
    /// Keep at most this many entries ...
    pub maxlen: Option<usize>,
    /// ... or none below this ID.
    pub minid: Option<StreamId>,
    /// `~`: whole nodes only.
    pub approx: bool,
    /// At most this many entries removed (0: no bound).
    pub limit: usize,
}

/// A stream.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stream {
    entries: BTreeMap<StreamId, Box<[u8]>>,
    nodes: Nodes,
    pub last_id: StreamId,
    pub entries_added: u64,
    pub max_deleted: StreamId,
    /// Consumer groups by name (XINFO lists them in this order, as Redis's radix tree does).
    pub groups: BTreeMap<Key, Group>,
    bytes: usize,
}

impl Stream {
    /// Number of entries.
    pub fn len_entries(&self) -> usize {
        self.entries.len()
    }

    pub fn first_id(&self) -> StreamId {
        self.entries
            .first_key_value()
            .map_or(StreamId::MIN, |(k, _)| *k)
    }

    /// The last entry's ID (0-0 if empty).
    pub fn last_entry_id(&self) -> StreamId {
        self.entries
            .last_key_value()
            .map_or(StreamId::MIN, |(k, _)| *k)
    }

    /// Appends an entry with `id` (the caller checked `id > last_id`), in the last node if
    /// `lim` lets it grow.
    pub fn append(&mut self, id: StreamId, packed: Box<[u8]>, lim: NodeLimits) {
        self.bytes += packed.len() + 48;
        self.nodes.push(id, packed.len() + 4, lim);
        self.entries.insert(id, packed);
        self.last_id = id;
        self.entries_added += 1;
    }

    pub fn remove(&mut self, id: StreamId) -> bool {
        match self.entries.remove(&id) {
            Some(p) => {
                self.bytes -= p.len() + 48;
                self.nodes.removed(id);
                if id > self.max_deleted {
                    self.max_deleted = id;
                }
                true
            }
            None => false,
        }
    }

    /// Trims as Redis's `streamTrim` does: whole nodes from the front while the length stays
    /// at least `maxlen` (or while a node's last ID is below `minid`) and `limit` allows; then,
    /// unless `approx`, entries of the next node one by one. XTRIM does not move
    /// `max_deleted_entry_id`, as in Redis. Returns how many entries were removed.
    pub fn trim(&mut self, t: TrimSpec) -> usize {
        let mut removed = 0;
        while let Some(&node) = self.nodes.0.front() {
            let len = self.entries.len();
            if t.maxlen.is_some_and(|m| len <= m) {
                break;
            }
            let live = node.live as usize;
            if t.limit != 0 && removed + live > t.limit {
                break;
            }
            let whole = match (t.maxlen, t.minid) {
                (Some(m), _) => len - live >= m,
                (None, Some(id)) => node.last < id,
                (None, None) => false,
            };
            if whole {
                removed += self.drop_front(live, None);
                self.nodes.0.pop_front();
                continue;
            }
            if !t.approx {
                let n = match t.maxlen {
                    Some(m) => len - m,
                    None => live,
                };
                let k = self.drop_front(n, t.minid);
                removed += k;
                if let Some(front) = self.nodes.0.front_mut() {
                    front.live -= k as u32;
                }
            }
            break;
        }
        removed
    }

    /// Removes up to `n` entries from the start, only those below `below` if given.
    fn drop_front(&mut self, n: usize, below: Option<StreamId>) -> usize {
        let mut k = 0;
        while k < n {
            let Some(e) = self.entries.first_entry() else {
                break;
            };
            if below.is_some_and(|b| *e.key() >= b) {
                break;
            }
            let p = e.remove();
            self.bytes -= p.len() + 48;
            k += 1;
        }
        k
    }

    /// Radix-tree nodes, as XINFO STREAM reports them.
    pub fn node_count(&self) -> usize {
        self.nodes.0.len()
    }

    /// The packed fields of entry `id`, if it exists.
    pub fn get(&self, id: StreamId) -> Option<&[u8]> {
        self.entries.get(&id).map(|p| &p[..])
    }

    /// Whether a deleted entry may lie at or after `start` (Redis's `streamRangeHasTombstones`
    /// with an open end): the group read counters are not exact past one.
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.entries.is_empty() || self.max_deleted == StreamId::MIN {
            return false;
        }
        if self.first_id() > self.max_deleted {
            return false;
        }
        start <= self.max_deleted
    }

    /// The logical read counter of `id` if it can be known (Redis's
    /// `streamEstimateDistanceFromFirstEverEntry`).
    pub fn estimate_entries_read(&self, id: StreamId) -> Option<u64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        if self.entries.is_empty() && id <= self.last_id {
            return Some(self.entries_added);
        }
        if id == self.last_id {
            return Some(self.entries_added);
        } else if id > self.last_id {
            return None;
        }
        let first = self.first_id();
        if self.max_deleted == StreamId::MIN || self.max_deleted < first {
            let len = self.entries.len() as u64;
            if id < first {
                return Some(self.entries_added.saturating_sub(len));
            } else if id == first {
                return Some(self.entries_added.saturating_sub(len) + 1);
            }
        }
        None
    }

    /// A group's lag (XINFO), `None` when it cannot be known.
    pub fn lag(&self, g: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let read = match g.entries_read {
            Some(n) if !self.has_tombstones_from(g.last_id) => n,
            _ => self.estimate_entries_read(g.last_id)?,
        };
        Some(self.entries_added as i64 - read as i64)
    }

    /// Runs `f` on group `name` with the stream beside it (`None` if there is no such group).
    pub fn with_group<R>(
        &mut self,
        name: &[u8],
        f: impl FnOnce(&Stream, &mut Group) -> R,
    ) -> Option<R> {
        let (k, mut g) = self.groups.remove_entry(name)?;
        let r = f(self, &mut g);
        self.groups.insert(k, g);
        Some(r)
    }

    /// Moves `g`'s cursor to `id` after delivering it, keeping its read counter as Redis does.
    pub fn advance(&self, g: &mut Group, id: StreamId) {
        if id <= g.last_id {
            return;
        }
        match g.entries_read {
            Some(n) if !self.has_tombstones_from(id) => g.entries_read = Some(n + 1),
            _ if self.entries_added > 0 => g.entries_read = self.estimate_entries_read(id),
            _ => {}
        }
        g.last_id = id;
    }

    /// Adds a decoded entry (field, value, ...) at `id`; the decoders check the order.
    pub(super) fn insert_packed<'a>(
        &mut self,
        id: StreamId,
        items: impl Iterator<Item = &'a [u8]>,
    ) {
        let packed = pack(items);
        self.bytes += packed.len() + 48;
        self.nodes.push(id, packed.len() + 4, NodeLimits::DEFAULT);
        self.entries.insert(id, packed);
    }

    /// Entries in `[start, end]`, forward or reverse.
    pub fn range(
        &self,
        start: StreamId,
        end: StreamId,
        rev: bool,
    ) -> Box<dyn Iterator<Item = (StreamId, &[u8])> + '_> {
        if start > end {
            return Box::new(std::iter::empty());
        }
        let it = self.entries.range(start..=end).map(|(k, v)| (*k, &v[..]));
        if rev {
            Box::new(it.rev())
        } else {
            Box::new(it)
        }
    }
}

impl Collection for Stream {
    fn len(&self) -> usize {
        self.entries.len()
    }
    fn encoding(&self) -> &'static str {
        "stream"
    }
    fn heap_size(&self) -> usize {
        self.bytes + self.groups.values().map(Group::heap_size).sum::<usize>()
    }
    fn rdb_encode(&self, out: &mut Vec<u8>) {
        super::stream_rdb::encode(self, out);
    }
}

/// Reads an [`RDB_TYPE_STREAM_EDDY`] body (with its groups if `groups`, type
/// [`RDB_TYPE_STREAM_EDDY_GROUPS`]); `None` if malformed (IDs out of order, an entry without
/// pairs or with an odd count, a last ID below the last entry, a bad group).
pub fn rdb_decode(r: &mut Reader, groups: bool) -> Option<Value> {
    let n = r.length()?;
    let mut s = Stream::default();
    let mut prev: Option<StreamId> = None;
    for _ in 0..n {
        let id = StreamId::new(r.length()?, r.length()?);
        if prev.is_some_and(|p| p >= id) {
            return None;
        }
        prev = Some(id);
        let k = r.length()?;
        if k == 0 || k % 2 != 0 {
            return None;
        }
        let mut items = Vec::new();
        for _ in 0..k {
            items.push(r.string()?);
        }
        s.insert_packed(id, items.iter().map(|v| &v[..]));
    }
    s.last_id = StreamId::new(r.length()?, r.length()?);
    s.entries_added = r.length()?;
    s.max_deleted = StreamId::new(r.length()?, r.length()?);
    if prev.is_some_and(|p| p > s.last_id) {
        return None;
    }
    if groups {
        let n = r.length()?;
        for _ in 0..n {
            let (name, g) = Group::decode(r)?;
            s.groups.insert(name, g);
        }
    }
    Some(Value::Stream(Box::new(s), Meta::now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_round_trips() {
        let mut s = Stream::default();
        s.append(
            StreamId::new(5, 1),
            pack([&b"f"[..], b"v"].into_iter()),
            NodeLimits::DEFAULT,
        );
        s.append(
            StreamId::new(7, 0),
            pack([&b"a"[..], b"123", b"b", b""].into_iter()),
            NodeLimits::DEFAULT,
        );
        s.remove(StreamId::new(5, 1));
        s.last_id = StreamId::new(9, 9);
        let v = Value::Stream(Box::new(s), Meta::now());
        let mut out = Vec::new();
        super::super::encoding::encode_value(&v, &mut out);
        let back = super::super::encoding::decode_value(
            &mut Reader::new(&out),
            &super::super::encoding::Limits::DEFAULT,
        )
        .unwrap();
        assert_eq!(
            format!("{:?}", back).split("Meta").next(),
            format!("{:?}", v).split("Meta").next()
        );
        assert_eq!(
            StreamId::parse(b"5", u64::MAX),
            Some(StreamId::new(5, u64::MAX))
        );
        assert_eq!(StreamId::parse(b"5-", 0), None);
        assert_eq!(StreamId::parse(b"-1", 0), None);
        assert_eq!(StreamId::parse(b"+5-007", 0), Some(StreamId::new(5, 7)));
        assert_eq!(StreamId::parse(b"18446744073709551616", 0), None);
    }

    #[test]
    fn snapshots_of_earlier_versions_still_load() {
        use super::super::encoding::{decode_value, write_len, write_string, Limits};
        // Type 64: one entry 1-1 {a: b}, last ID 1-2, entries_added 2, max deleted 1-2.
        let mut b = vec![RDB_TYPE_STREAM_EDDY];
        for n in [1, 1, 1, 2] {
            write_len(&mut b, n);
        }
        write_string(&mut b, b"a");
        write_string(&mut b, b"b");
        for n in [1, 2, 2, 1, 2] {
            write_len(&mut b, n);
        }
        let Some(Value::Stream(s, _)) = decode_value(&mut Reader::new(&b), &Limits::DEFAULT) else {
            panic!("type 64 did not load");
        };
        assert_eq!(s.len_entries(), 1);
        assert_eq!(
            (s.last_id, s.entries_added, s.max_deleted),
            (StreamId::new(1, 2), 2, StreamId::new(1, 2))
        );
    }
}
