//! Stream consumer groups: the group's cursor (`last_id`, `entries_read`), its pending entries
//! list (PEL) and its consumers, with the state operations XGROUP, XREADGROUP, XACK, XCLAIM and
//! XAUTOCLAIM perform.
//!
//! ## Model (as Redis 7)
//! * A group's PEL maps an entry ID to a [`Nack`]: the consumer that owns it, the time of its
//!   last delivery and its delivery count. Each [`Consumer`] keeps the set of IDs it owns, so
//!   both views stay in step: every mutation goes through the methods here.
//! * `entries_read` is the group's logical read counter (`None` is Redis's invalid `-1`); it
//!   gives XINFO's `lag`. The stream-side facts it needs (tombstones, first/last IDs, entries
//!   added) are [`Stream`] methods, so the group type itself knows no entry storage.
//!
//! The handlers (`commands::stream_groups`) parse arguments and call these methods; a group
//! backed by something other than a stream key (the change log) can offer the same methods.
//!
//! ## Encoding
//! Groups are written inside a stream's Redis RDB body ([`Group::encode_redis`], layout in
//! [`stream_rdb`](super::stream_rdb)). Snapshots of earlier Eddy versions appended groups to
//! Eddy's own stream body (type byte
//! [`RDB_TYPE_STREAM_EDDY_GROUPS`](super::stream::RDB_TYPE_STREAM_EDDY_GROUPS)): group count,
//! then per group `name last_ms last_seq entries_read+1` (0 = invalid), the PEL as `count (ms
//! seq delivery_time delivery_count consumer)*`, then the consumers as `count (name seen_time)*`;
//! [`Group::decode`] still reads them. Either way a consumer's own pending set and the PEL's
//! owners must agree, or the body is malformed.

use std::collections::{BTreeMap, BTreeSet};

use super::encoding::{write_len, write_string, Reader};
use super::stream::StreamId;
use super::stream_rdb::{read_ms_time, read_raw_id, write_ms_time, write_raw_id};
use super::stream_rdb::{RDB_TYPE_STREAM_LISTPACKS_2, RDB_TYPE_STREAM_LISTPACKS_3};
use super::value::Key;

/// One pending entry: who owns it, when it was last delivered, how many times.
#[derive(Debug, Clone, PartialEq)]
pub struct Nack {
    pub consumer: Key,
    pub delivery_time: u64,
    pub delivery_count: u64,
}

/// A consumer: when it was last seen and the entries it owns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Consumer {
    pub seen_time: u64,
    pub pending: BTreeSet<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Group {
    pub last_id: StreamId,
    /// Redis's `entries_read`; `None` where Redis keeps -1 (unknown).
    pub entries_read: Option<u64>,
    pel: BTreeMap<StreamId, Nack>,
    consumers: BTreeMap<Key, Consumer>,
}

/// How a claim treats each entry: XCLAIM's options (XAUTOCLAIM uses a subset).
pub struct ClaimRule {
    /// Entries idle less than this (ms) are left alone.
    pub min_idle: u64,
    pub now: u64,
    /// The delivery time given to claimed entries.
    pub time: u64,
    /// The delivery count given to claimed entries; `None`: one more (unless `justid`).
    pub retry: Option<u64>,
    pub justid: bool,
    /// Claim an entry that is not pending (it must still exist).
    pub force: bool,
}

/// What a claim did: entries now owned by the claimer (ID, delivery time, count), pending
/// entries dropped because their entry was deleted, whether the consumer was created.
#[derive(Debug, Default)]
pub struct Claimed {
    pub taken: Vec<(StreamId, u64, u64)>,
    pub deleted: Vec<StreamId>,
    pub created: bool,
}

/// XPENDING's summary: count, smallest and greatest pending ID, and per consumer its count.
pub type Summary<'a> = (usize, Option<(StreamId, StreamId)>, Vec<(&'a [u8], usize)>);

/// XAUTOCLAIM examines at most this many PEL entries per entry it may claim, as Redis does.
pub const AUTOCLAIM_ATTEMPTS: u64 = 10;

/// Bytes a PEL entry or consumer roughly costs (for MEMORY USAGE / used_memory).
const NACK_COST: usize = 64;

impl Group {
    pub fn new(last_id: StreamId, entries_read: Option<u64>) -> Group {
        Group {
            last_id,
            entries_read,
            ..Group::default()
        }
    }

    pub fn pel(&self) -> &BTreeMap<StreamId, Nack> {
        &self.pel
    }

    pub fn consumers(&self) -> &BTreeMap<Key, Consumer> {
        &self.consumers
    }

    pub fn consumer(&self, name: &[u8]) -> Option<&Consumer> {
        self.consumers.get(name)
    }

    pub fn heap_size(&self) -> usize {
        self.pel.len() * NACK_COST * 2 + self.consumers.len() * NACK_COST
    }

    /// Creates consumer `name` (seen now) if missing; true if created (XGROUP CREATECONSUMER).
    pub fn create_consumer(&mut self, name: &[u8], now: u64) -> bool {
        if self.consumers.contains_key(name) {
            return false;
        }
        self.consumers.insert(
            Key::from_slice(name),
            Consumer {
                seen_time: now,
                pending: BTreeSet::new(),
            },
        );
        true
    }

    /// Looks up consumer `name` as a read or claim does: created if missing, seen now. True if
    /// it was created.
    pub fn seen(&mut self, name: &[u8], now: u64) -> bool {
        match self.consumers.get_mut(name) {
            Some(c) => {
                c.seen_time = now;
                false
            }
            None => self.create_consumer(name, now),
        }
    }

    /// Deletes consumer `name` and its pending entries; the number it had pending, `None` if
    /// there was no such consumer.
    pub fn delete_consumer(&mut self, name: &[u8]) -> Option<usize> {
        let c = self.consumers.remove(name)?;
        for id in &c.pending {
            self.pel.remove(id);
        }
        Some(c.pending.len())
    }

    /// Makes `id` pending for `consumer` (which must exist) with the given delivery time and
    /// count, moving it from its previous owner.
    pub fn set_pending(&mut self, id: StreamId, consumer: &[u8], time: u64, count: u64) {
        let prev = self.pel.insert(
            id,
            Nack {
                consumer: Key::from_slice(consumer),
                delivery_time: time,
                delivery_count: count,
            },
        );
        if let Some(p) = prev {
            if p.consumer.as_slice() != consumer {
                if let Some(c) = self.consumers.get_mut(p.consumer.as_slice()) {
                    c.pending.remove(&id);
                }
            }
        }
        if let Some(c) = self.consumers.get_mut(consumer) {
            c.pending.insert(id);
        }
    }

    /// Removes `id` from the PEL (XACK, or a pending entry found deleted); true if it was there.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(n) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(c) = self.consumers.get_mut(n.consumer.as_slice()) {
            c.pending.remove(&id);
        }
        true
    }

    /// Another delivery of a pending entry to its owner (XREADGROUP with an explicit ID).
    pub fn redeliver(&mut self, id: StreamId, now: u64) -> Option<&Nack> {
        let n = self.pel.get_mut(&id)?;
        n.delivery_time = now;
        n.delivery_count = n.delivery_count.saturating_add(1);
        Some(n)
    }

    /// The pending entries of `consumer` after `after` (exclusive), at most `count` (0: all).
    pub fn consumer_pending_after(
        &self,
        consumer: &[u8],
        after: StreamId,
        count: usize,
    ) -> Vec<StreamId> {
        let Some(c) = self.consumers.get(consumer) else {
            return Vec::new();
        };
        let Some(start) = after.incr() else {
            return Vec::new();
        };
        c.pending
            .range(start..)
            .take(if count == 0 { usize::MAX } else { count })
            .copied()
            .collect()
    }

    /// XPENDING's summary: count, smallest and greatest ID, and per consumer its count.
    pub fn summary(&self) -> Summary<'_> {
        let bounds = match (self.pel.first_key_value(), self.pel.last_key_value()) {
            (Some((a, _)), Some((b, _))) => Some((*a, *b)),
            _ => None,
        };
        let per: Vec<(&[u8], usize)> = self
            .consumers
            .iter()
            .filter(|(_, c)| !c.pending.is_empty())
            .map(|(k, c)| (k.as_slice(), c.pending.len()))
            .collect();
        (self.pel.len(), bounds, per)
    }

    /// Pending entries in `[start, end]`, optionally of one consumer and idle at least
    /// `min_idle` ms, at most `count`.
    pub fn pending_range(
        &self,
        start: StreamId,
        end: StreamId,
        count: usize,
        consumer: Option<&[u8]>,
        min_idle: u64,
        now: u64,
    ) -> Vec<(StreamId, &Nack)> {
        if start > end || count == 0 {
            return Vec::new();
        }
        let idle_ok = |n: &Nack| min_idle == 0 || now.saturating_sub(n.delivery_time) >= min_idle;
        match consumer {
            None => self
                .pel
                .range(start..=end)
                .filter(|(_, n)| idle_ok(n))
                .take(count)
                .map(|(id, n)| (*id, n))
                .collect(),
            Some(c) => {
                let Some(c) = self.consumers.get(c) else {
                    return Vec::new();
                };
                c.pending
                    .range(start..=end)
                    .filter_map(|id| self.pel.get(id).map(|n| (*id, n)))
                    .filter(|(_, n)| idle_ok(n))
                    .take(count)
                    .collect()
            }
        }
    }

    pub fn nack(&self, id: StreamId) -> Option<&Nack> {
        self.pel.get(&id)
    }

    /// Claims `id` for `consumer` if `rule` allows (`exists`: the entry is still in the stream),
    /// in Redis's order: a deleted entry leaves the PEL; then FORCE; then the idle check. True
    /// if the entry was taken or dropped (what XAUTOCLAIM's COUNT counts).
    pub fn claim(
        &mut self,
        id: StreamId,
        exists: bool,
        consumer: &[u8],
        rule: &ClaimRule,
        c: &mut Claimed,
    ) -> bool {
        if !exists {
            let dropped = self.ack(id);
            if dropped {
                c.deleted.push(id);
            }
            return dropped;
        }
        let prev = match self.pel.get(&id) {
            Some(n) => {
                if rule.min_idle > 0 && rule.now.saturating_sub(n.delivery_time) < rule.min_idle {
                    return false;
                }
                n.delivery_count
            }
            // A NACK made by FORCE is new: idle 0, so any minimum idle time skips it.
            None if rule.force && rule.min_idle == 0 => 1,
            None => return false,
        };
        if self.seen(consumer, rule.now) {
            c.created = true;
        }
        let count = match rule.retry {
            Some(n) => n,
            None if rule.justid => prev,
            None => prev.saturating_add(1),
        };
        self.set_pending(id, consumer, rule.time, count);
        c.taken.push((id, rule.time, count));
        true
    }

    /// XAUTOCLAIM: claims pending entries from `start` on until `count` were taken or dropped,
    /// examining at most `count` × [`AUTOCLAIM_ATTEMPTS`] entries. Returns the cursor for the
    /// next call: the next pending ID, 0-0 once the scan reached the end.
    pub fn autoclaim(
        &mut self,
        start: StreamId,
        count: u64,
        exists: impl Fn(StreamId) -> bool,
        consumer: &[u8],
        rule: &ClaimRule,
        c: &mut Claimed,
    ) -> StreamId {
        let first_from = |g: &Group, from: Option<StreamId>| {
            from.and_then(|f| g.pel.range(f..).next().map(|(id, _)| *id))
        };
        let mut attempts = count.saturating_mul(AUTOCLAIM_ATTEMPTS);
        let mut left = count;
        let mut next = Some(start);
        while attempts > 0 && left > 0 {
            let Some(id) = first_from(self, next) else {
                next = None;
                break;
            };
            attempts -= 1;
            if self.claim(id, exists(id), consumer, rule, c) {
                left -= 1;
            }
            next = id.incr();
        }
        first_from(self, next).unwrap_or(StreamId::MIN)
    }

    /// Writes this group as Redis does (layout in [`stream_rdb`](super::stream_rdb)).
    pub fn encode_redis(&self, name: &[u8], out: &mut Vec<u8>) {
        write_string(out, name);
        write_len(out, self.last_id.ms);
        write_len(out, self.last_id.seq);
        write_len(out, self.entries_read.unwrap_or(u64::MAX));
        write_len(out, self.pel.len() as u64);
        for (id, n) in &self.pel {
            write_raw_id(out, *id);
            write_ms_time(out, n.delivery_time);
            write_len(out, n.delivery_count);
        }
        write_len(out, self.consumers.len() as u64);
        for (k, c) in &self.consumers {
            write_string(out, k);
            write_ms_time(out, c.seen_time);
            write_len(out, c.pending.len() as u64);
            for id in &c.pending {
                write_raw_id(out, *id);
            }
        }
    }

    /// Reads one group of a Redis stream body of type `ty` (15, 19 or 21); `None` if malformed:
    /// a consumer owning an ID the group's PEL lacks, or a PEL entry nobody owns.
    pub fn decode_redis(r: &mut Reader, ty: u8) -> Option<(Key, Group)> {
        let name = Key::from_vec(r.string()?);
        let last_id = StreamId::new(r.length()?, r.length()?);
        let er = if ty >= RDB_TYPE_STREAM_LISTPACKS_2 {
            Some(r.length()?).filter(|&n| n != u64::MAX)
        } else {
            None
        };
        let mut g = Group::new(last_id, er);
        let npel = r.length()?;
        for _ in 0..npel {
            let id = read_raw_id(r)?;
            let delivery_time = read_ms_time(r)?;
            let delivery_count = r.length()?;
            g.pel.insert(
                id,
                Nack {
                    consumer: Key::default(),
                    delivery_time,
                    delivery_count,
                },
            );
        }
        let mut owned = BTreeSet::new();
        let nc = r.length()?;
        for _ in 0..nc {
            let k = Key::from_vec(r.string()?);
            let seen_time = read_ms_time(r)?;
            if ty >= RDB_TYPE_STREAM_LISTPACKS_3 {
                read_ms_time(r)?;
            }
            let mut pending = BTreeSet::new();
            for _ in 0..r.length()? {
                let id = read_raw_id(r)?;
                // Each ID of the PEL is owned by exactly one consumer.
                if !owned.insert(id) {
                    return None;
                }
                g.pel.get_mut(&id)?.consumer = k.clone();
                pending.insert(id);
            }
            if g.consumers
                .insert(k, Consumer { seen_time, pending })
                .is_some()
            {
                return None;
            }
        }
        (owned.len() as u64 == npel).then_some((name, g))
    }

    /// Reads one group of an earlier Eddy snapshot (type 65, layout in the module docs); `None`
    /// if malformed.
    pub fn decode(r: &mut Reader) -> Option<(Key, Group)> {
        let name = Key::from_vec(r.string()?);
        let last_id = StreamId::new(r.length()?, r.length()?);
        let er = r.length()?;
        let mut g = Group::new(last_id, er.checked_sub(1));
        let npel = r.length()?;
        for _ in 0..npel {
            let id = StreamId::new(r.length()?, r.length()?);
            let (time, count) = (r.length()?, r.length()?);
            let consumer = Key::from_vec(r.string()?);
            g.pel.insert(
                id,
                Nack {
                    consumer,
                    delivery_time: time,
                    delivery_count: count,
                },
            );
        }
        let nc = r.length()?;
        for _ in 0..nc {
            let k = Key::from_vec(r.string()?);
            let seen_time = r.length()?;
            g.consumers.insert(
                k,
                Consumer {
                    seen_time,
                    pending: BTreeSet::new(),
                },
            );
        }
        for (id, n) in &g.pel {
            g.consumers
                .get_mut(n.consumer.as_slice())?
                .pending
                .insert(*id);
        }
        Some((name, g))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_moves_between_consumers_and_round_trips() {
        let mut g = Group::new(StreamId::new(1, 0), Some(1));
        g.create_consumer(b"a", 5);
        g.seen(b"b", 6);
        g.set_pending(StreamId::new(1, 0), b"a", 10, 1);
        g.set_pending(StreamId::new(2, 0), b"a", 10, 1);
        g.set_pending(StreamId::new(1, 0), b"b", 20, 3);
        assert_eq!(g.consumer(b"a").unwrap().pending.len(), 1);
        assert_eq!(g.consumer(b"b").unwrap().pending.len(), 1);
        let (n, bounds, per) = g.summary();
        assert_eq!(n, 2);
        assert_eq!(bounds, Some((StreamId::new(1, 0), StreamId::new(2, 0))));
        assert_eq!(per, vec![(&b"a"[..], 1), (&b"b"[..], 1)]);
        let mut out = Vec::new();
        g.encode_redis(b"grp", &mut out);
        let (name, back) = Group::decode_redis(&mut Reader::new(&out), 19).unwrap();
        assert_eq!(name.as_slice(), b"grp");
        assert_eq!(back, g);
        assert!(g.ack(StreamId::new(2, 0)));
        assert!(!g.ack(StreamId::new(2, 0)));
        assert_eq!(g.delete_consumer(b"b"), Some(1));
        assert_eq!(g.pel().len(), 0);
    }

    /// A group body in Redis's layout, built by hand: PEL IDs, then consumers with the IDs
    /// they claim to own.
    fn redis_group(pel: &[u64], consumers: &[(&str, &[u64])]) -> Vec<u8> {
        let mut out = Vec::new();
        write_string(&mut out, b"g");
        for n in [9, 0, u64::MAX, pel.len() as u64] {
            write_len(&mut out, n);
        }
        for &ms in pel {
            write_raw_id(&mut out, StreamId::new(ms, 0));
            write_ms_time(&mut out, 1000);
            write_len(&mut out, 1);
        }
        write_len(&mut out, consumers.len() as u64);
        for (name, owns) in consumers {
            write_string(&mut out, name.as_bytes());
            write_ms_time(&mut out, 2000);
            write_len(&mut out, owns.len() as u64);
            for &ms in *owns {
                write_raw_id(&mut out, StreamId::new(ms, 0));
            }
        }
        out
    }

    #[test]
    fn a_redis_group_body_must_give_every_pending_entry_one_owner() {
        let decode = |b: Vec<u8>| Group::decode_redis(&mut Reader::new(&b), 19);
        let (_, g) = decode(redis_group(&[1, 2], &[("a", &[1]), ("", &[2])])).expect("valid");
        assert_eq!(g.entries_read, None, "u64::MAX is Redis's -1");
        assert_eq!(
            g.consumer(b"").unwrap().pending.len(),
            1,
            "an empty name is a name"
        );
        assert!(
            decode(redis_group(&[1, 2], &[("a", &[1])])).is_none(),
            "2 has no owner"
        );
        assert!(
            decode(redis_group(&[1], &[("a", &[1]), ("b", &[1])])).is_none(),
            "two owners"
        );
        assert!(
            decode(redis_group(&[1], &[("a", &[1, 3])])).is_none(),
            "3 is not pending"
        );
        assert!(
            decode(redis_group(&[1], &[("a", &[1]), ("a", &[])])).is_none(),
            "same name"
        );
        let mut cut = redis_group(&[1], &[("a", &[1])]);
        cut.pop();
        assert!(decode(cut).is_none(), "truncated");
    }

    #[test]
    fn autoclaim_drops_deleted_entries_and_returns_the_next_cursor() {
        let id = |n| StreamId::new(n, 0);
        let mut g = Group::new(id(5), None);
        g.create_consumer(b"a", 0);
        for n in 1..=5 {
            g.set_pending(id(n), b"a", 100, 1);
        }
        let rule = ClaimRule {
            min_idle: 50,
            now: 200,
            time: 200,
            retry: None,
            justid: false,
            force: false,
        };
        let mut c = Claimed::default();
        // Entry 2 is gone from the stream; entry 4 was delivered too recently.
        g.set_pending(id(4), b"a", 190, 1);
        let cursor = g.autoclaim(id(0), 3, |i| i != id(2), b"b", &rule, &mut c);
        assert!(c.created);
        assert_eq!(c.deleted, [id(2)]);
        assert_eq!(c.taken, [(id(1), 200, 2), (id(3), 200, 2)]);
        assert_eq!(cursor, id(4));
        let cursor = g.autoclaim(cursor, 3, |_| true, b"b", &rule, &mut c);
        assert_eq!(cursor, StreamId::MIN);
        assert_eq!(c.taken.last(), Some(&(id(5), 200, 2)));
        assert_eq!(g.consumer(b"a").unwrap().pending.len(), 1);
    }
}
