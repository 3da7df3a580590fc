//! Streams in Redis's RDB encoding, so a stream DUMP from Redis restores in Eddy and back, and
//! snapshots hold streams the way Redis's RDB files do.
//!
//! ## Layout (`rdb.c`, `t_stream.c`)
//! A stream body is: the number of radix-tree nodes, then per node its key (the node's master
//! ID, 16 bytes: ms and seq big-endian) and a listpack of entries; the entry count; the last ID;
//! (type 19 and later) the first ID, the largest deleted ID and `entries_added`; then the
//! consumer groups: name, last ID, (19+) `entries_read` (u64::MAX for Redis's -1), the PEL as
//! `count (raw 16-byte ID, 8-byte little-endian delivery time, delivery count)*`, and the
//! consumers as `count (name, 8-byte seen time, (21) 8-byte active time, count raw-ID*)*`.
//!
//! A node's listpack starts with a master entry: live count, deleted count, the master field
//! names (count, then names) and a 0. Each entry follows as `flags, ms-diff, seq-diff`, then its
//! values alone when its field names are the master's (flag SAMEFIELDS), else `count (field
//! value)*`, then the number of listpack elements the entry took (for reverse walks). Diffs are
//! from the master ID, with wrapping arithmetic as Redis's unsigned subtraction gives.
//!
//! Eddy writes type 19 (Redis 7.0's, which RDB version 10 payloads carry) with nodes cut as
//! Redis's defaults cut them (100 entries or about 4 KiB) and reads types 15, 19 and 21. What
//! Eddy does not keep (a 7.2 consumer's active time) is read and dropped.

use super::encoding::{listpack_for_each, write_len, write_string, ListpackWriter, Reader};
use super::stream::{unpack, Stream, StreamId};
use super::stream_group::Group;
use super::value::{Key, Meta, Value};
use crate::util::num::parse_i64;

/// Redis 5's stream type: no first ID, tombstone or counters.
pub const RDB_TYPE_STREAM_LISTPACKS: u8 = 15;
/// Redis 7.0's: adds the first ID, the largest deleted ID, `entries_added`, `entries_read`.
pub const RDB_TYPE_STREAM_LISTPACKS_2: u8 = 19;
/// Redis 7.2's: adds each consumer's active time.
pub const RDB_TYPE_STREAM_LISTPACKS_3: u8 = 21;

const FLAG_DELETED: i64 = 1;
const FLAG_SAMEFIELDS: i64 = 2;
/// Redis's `stream-node-max-entries` and `stream-node-max-bytes` defaults.
const NODE_MAX_ENTRIES: usize = 100;
const NODE_MAX_BYTES: usize = 4096;

/// A stream ID as Redis writes it raw: ms then seq, big-endian.
pub fn write_raw_id(out: &mut Vec<u8>, id: StreamId) {
    out.extend_from_slice(&id.ms.to_be_bytes());
    out.extend_from_slice(&id.seq.to_be_bytes());
}

pub fn read_raw_id(r: &mut Reader) -> Option<StreamId> {
    let b = r.take(16)?;
    Some(StreamId::new(
        u64::from_be_bytes(b[..8].try_into().ok()?),
        u64::from_be_bytes(b[8..].try_into().ok()?),
    ))
}

/// Redis's `rdbSaveMillisecondTime`: 8 bytes, little-endian.
pub fn write_ms_time(out: &mut Vec<u8>, t: u64) {
    out.extend_from_slice(&t.to_le_bytes());
}

pub fn read_ms_time(r: &mut Reader) -> Option<u64> {
    Some(u64::from_le_bytes(r.take(8)?.try_into().ok()?))
}

/// Writes `s` as type 19 (type byte included).
pub fn encode(s: &Stream, out: &mut Vec<u8>) {
    out.push(RDB_TYPE_STREAM_LISTPACKS_2);
    let entries: Vec<(StreamId, Vec<&[u8]>)> = s
        .range(StreamId::MIN, StreamId::MAX, false)
        .map(|(id, p)| (id, unpack(p).collect()))
        .collect();
    let mut nodes: Vec<(StreamId, Vec<u8>)> = Vec::new();
    let mut at = 0;
    while at < entries.len() {
        let (master, first) = &entries[at];
        let master_fields: Vec<&[u8]> = first.iter().step_by(2).copied().collect();
        // The master entry's count is the node's entry count, known only once the node is cut.
        let mut end = at;
        let mut size = 0;
        while end < entries.len() && end - at < NODE_MAX_ENTRIES && size < NODE_MAX_BYTES {
            size += entries[end].1.iter().map(|x| x.len() + 2).sum::<usize>() + 4;
            end += 1;
        }
        let mut lp = ListpackWriter::default();
        lp.int((end - at) as i64);
        lp.int(0);
        lp.int(master_fields.len() as i64);
        for f in &master_fields {
            lp.str(f);
        }
        lp.int(0);
        for (id, items) in &entries[at..end] {
            let fields: Vec<&[u8]> = items.iter().step_by(2).copied().collect();
            let same = fields == master_fields;
            let n = fields.len() as i64;
            lp.int(if same { FLAG_SAMEFIELDS } else { 0 });
            lp.int(id.ms.wrapping_sub(master.ms) as i64);
            lp.int(id.seq.wrapping_sub(master.seq) as i64);
            if same {
                for v in items.iter().skip(1).step_by(2) {
                    lp.str(v);
                }
                lp.int(n + 3);
            } else {
                lp.int(n);
                for x in items {
                    lp.str(x);
                }
                lp.int(2 * n + 4);
            }
        }
        nodes.push((*master, lp.finish()));
        at = end;
    }
    write_len(out, nodes.len() as u64);
    for (master, lp) in &nodes {
        let mut key = Vec::with_capacity(16);
        write_raw_id(&mut key, *master);
        write_string(out, &key);
        write_string(out, lp);
    }
    let first = s.first_id();
    for n in [
        s.len_entries() as u64,
        s.last_id.ms,
        s.last_id.seq,
        first.ms,
        first.seq,
        s.max_deleted.ms,
        s.max_deleted.seq,
        s.entries_added,
    ] {
        write_len(out, n);
    }
    write_len(out, s.groups.len() as u64);
    for (name, g) in &s.groups {
        g.encode_redis(name, out);
    }
}

/// An integer element of a stream listpack (Redis stores them as integers; their text here).
fn int(e: &[u8]) -> Option<i64> {
    parse_i64(e)
}

/// Reads the entries of one node's listpack into `s`; `None` if malformed.
fn decode_node(master: StreamId, lp: &[u8], s: &mut Stream) -> Option<()> {
    let mut el: Vec<Vec<u8>> = Vec::new();
    listpack_for_each(lp, |e| el.push(e.to_vec()))?;
    let mut it = el.iter();
    let mut next = || it.next().map(|v| v.as_slice());
    let live = int(next()?)?;
    let deleted = int(next()?)?;
    let nf = usize::try_from(int(next()?)?).ok()?;
    let mut master_fields = Vec::with_capacity(nf.min(1024));
    for _ in 0..nf {
        master_fields.push(next()?);
    }
    if int(next()?)? != 0 {
        return None;
    }
    let (mut seen_live, mut seen_deleted) = (0i64, 0i64);
    while let Some(flags) = next() {
        let flags = int(flags)?;
        let id = StreamId::new(
            master.ms.wrapping_add(int(next()?)? as u64),
            master.seq.wrapping_add(int(next()?)? as u64),
        );
        let mut items: Vec<&[u8]> = Vec::new();
        let elements = if flags & FLAG_SAMEFIELDS != 0 {
            for f in &master_fields {
                items.push(f);
                items.push(next()?);
            }
            master_fields.len() + 3
        } else {
            let n = usize::try_from(int(next()?)?).ok()?;
            let pairs = n.checked_mul(2)?;
            for _ in 0..pairs {
                items.push(next()?);
            }
            pairs.checked_add(4)?
        };
        if usize::try_from(int(next()?)?).ok()? != elements {
            return None;
        }
        if flags & FLAG_DELETED != 0 {
            seen_deleted += 1;
            continue;
        }
        seen_live += 1;
        if items.is_empty() || s.last_entry_id() >= id && s.len_entries() > 0 {
            return None;
        }
        s.insert_packed(id, items.into_iter());
    }
    (seen_live == live && seen_deleted == deleted).then_some(())
}

/// Reads a type 15, 19 or 21 body; `None` if malformed (a node key that is not an ID, a bad
/// listpack, IDs out of order or past the last ID, a count that disagrees, a PEL entry without
/// an owner).
pub fn decode(r: &mut Reader, ty: u8) -> Option<Value> {
    let mut s = Stream::default();
    let nodes = r.length()?;
    for _ in 0..nodes {
        let key = r.string()?;
        if key.len() != 16 {
            return None;
        }
        let master = read_raw_id(&mut Reader::new(&key))?;
        let lp = r.string()?;
        decode_node(master, &lp, &mut s)?;
    }
    if r.length()? != s.len_entries() as u64 {
        return None;
    }
    s.last_id = StreamId::new(r.length()?, r.length()?);
    if s.len_entries() > 0 && s.last_entry_id() > s.last_id {
        return None;
    }
    if ty >= RDB_TYPE_STREAM_LISTPACKS_2 {
        // The first ID is the first entry's, which the entries already give.
        r.length()?;
        r.length()?;
        s.max_deleted = StreamId::new(r.length()?, r.length()?);
        s.entries_added = r.length()?;
    } else {
        s.entries_added = s.len_entries() as u64;
    }
    let groups = r.length()?;
    for _ in 0..groups {
        let (name, mut g): (Key, Group) = Group::decode_redis(r, ty)?;
        if ty < RDB_TYPE_STREAM_LISTPACKS_2 {
            // Redis 6 kept no read counter; Redis 7 estimates it when it loads one, so the
            // group's lag is known where the stream's history allows.
            g.entries_read = s.estimate_entries_read(g.last_id);
        }
        s.groups.insert(name, g);
    }
    Some(Value::Stream(Box::new(s), Meta::now()))
}

#[cfg(test)]
mod tests {
    use super::super::encoding::{decode_value, encode_value, Limits};
    use super::super::stream::{pack, NodeLimits};
    use super::*;

    fn sample() -> Vec<u8> {
        let mut s = Stream::default();
        for i in 1..=120u64 {
            let v = i.to_string();
            let items: Vec<&[u8]> = if i % 5 == 0 {
                vec![b"x", v.as_bytes(), b"y", b"-7"]
            } else {
                vec![b"n", v.as_bytes()]
            };
            s.append(
                StreamId::new(i, i % 3),
                pack(items.into_iter()),
                NodeLimits::DEFAULT,
            );
        }
        s.last_id = StreamId::new(121, 0);
        let mut g = Group::new(StreamId::new(3, 0), Some(3));
        g.create_consumer(b"a", 5);
        g.create_consumer(b"b", 6);
        g.set_pending(StreamId::new(1, 1), b"a", 10, 1);
        g.set_pending(StreamId::new(2, 2), b"b", 20, 2);
        s.groups.insert(Key::from_slice(b"g"), g);
        let mut out = Vec::new();
        encode_value(&Value::Stream(Box::new(s), Meta::now()), &mut out);
        out
    }

    #[test]
    fn a_stream_round_trips_through_several_nodes() {
        let b = sample();
        assert_eq!(b[0], RDB_TYPE_STREAM_LISTPACKS_2);
        let Some(Value::Stream(s, _)) = decode_value(&mut Reader::new(&b), &Limits::DEFAULT) else {
            panic!("did not decode");
        };
        assert_eq!(s.len_entries(), 120);
        let mut again = Vec::new();
        encode_value(&Value::Stream(s, Meta::now()), &mut again);
        assert_eq!(again, b);
    }

    /// A Redis 6 body (type 15) has no group read counters: each is estimated from the
    /// stream, as Redis 7 does on load, so XINFO can report the lag.
    #[test]
    fn a_redis_6_group_gets_its_read_counter_estimated() {
        use super::super::encoding::{write_len, write_string};
        let mut s = Stream::default();
        for ms in [5, 6] {
            s.append(
                StreamId::new(ms, 0),
                pack([&b"f"[..], b"v"].into_iter()),
                NodeLimits::DEFAULT,
            );
        }
        s.last_id = StreamId::new(6, 0);
        let mut b = Vec::new();
        encode(&s, &mut b);
        // Type 19's fields after the last ID (first ID, largest deleted ID, entries added) and
        // its group count go; type 15 has groups right after the last ID.
        let mut tail = Vec::new();
        for n in [5, 0, 0, 0, 2, 0] {
            write_len(&mut tail, n);
        }
        assert!(b.ends_with(&tail));
        b.truncate(b.len() - tail.len());
        b[0] = RDB_TYPE_STREAM_LISTPACKS;
        write_len(&mut b, 3);
        for (name, ms) in [(&b"at-first"[..], 5), (b"before", 0), (b"at-last", 6)] {
            write_string(&mut b, name);
            write_len(&mut b, ms);
            write_len(&mut b, 0);
            write_len(&mut b, 0);
            write_len(&mut b, 0);
        }
        let Some(Value::Stream(s, _)) = decode_value(&mut Reader::new(&b), &Limits::DEFAULT) else {
            panic!("did not decode");
        };
        let read = |g: &[u8]| s.groups.get(g).map(|g| g.entries_read);
        assert_eq!(read(b"at-first"), Some(Some(1)));
        assert_eq!(read(b"before"), Some(Some(0)));
        assert_eq!(read(b"at-last"), Some(Some(2)));
    }

    #[test]
    fn mangled_stream_bodies_are_refused_or_read_never_a_panic() {
        let b = sample();
        for cut in 0..b.len() {
            let _ = decode_value(&mut Reader::new(&b[..cut]), &Limits::DEFAULT);
        }
        for at in 0..b.len() {
            for x in [0x00, 0x7f, 0x80, 0xc0, 0xf4, 0xff] {
                let mut m = b.clone();
                m[at] ^= x;
                let _ = decode_value(&mut Reader::new(&m), &Limits::DEFAULT);
            }
        }
    }
}
