//! The change log: one ordered sequence of records with strictly increasing offsets.
//!
//! ## Record format (little-endian)
//! ```text
//! u32 len        bytes after this field
//! u32 crc32      CRC-32 (IEEE) of the bytes after this field
//! u64 offset     assigned at commit; consecutive, never reused
//! u64 ts         ms since the Unix epoch, assigned at commit
//! u64 tx_id      0 unless the record belongs to a group (MULTI/EXEC, multi-key commands)
//! u32 tx_n       number of records in the group (0 when tx_id is 0)
//! u64 client_id  0 unless origin is client
//! u8  origin     Origin
//! u8  change     ChangeKind
//! u8  type       ValueType after the change
//! u8  flags      reserved (0)
//! u16 db
//! u8  event_len, event bytes (the keyspace-event verb: set, del, expired, ...)
//! u32 key_len, key bytes
//! u32 nargs, then per argument: u32 len, bytes   (the deterministic effect; may be empty)
//! ```
//! The same bytes are what the durable log writes to disk segments, so committing a record is a
//! copy into the current in-memory segment plus header fields. Readers decode from the segments
//! and never hold a shard lock.
//!
//! ## Concurrency
//! `commit` is called while the caller still holds the shard lock(s) of the keys it changed, and
//! takes the log's own mutex only for the copy: the log mutex is always the innermost lock.
//! Readers take the log mutex briefly to copy out the records they want. Memory is bounded by
//! `changes-memory-bytes`: the oldest in-memory segments are dropped first, and a reader whose
//! cursor fell behind them gets an explicit error naming the earliest offset still available.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use super::{ChangeEvent, ChangeKind, Origin, Recorder, Who};
use crate::keyspace::value::ValueType;

/// Byte offset of the fields the log fills at commit, from the record start.
const OFF_CRC: usize = 4;
const OFF_OFFSET: usize = 8;
const OFF_TS: usize = 16;
const OFF_TXID: usize = 24;
const OFF_TXN: usize = 32;
/// Size of the header up to and including the db field.
const HEADER: usize = 48;
/// An in-memory segment is sealed once it reaches this size.
const SEGMENT_BYTES: usize = 1 << 20;

/// Appends one record with zeroed commit-time fields to `buf`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_record(
    buf: &mut Vec<u8>,
    who: Who,
    db: usize,
    key: &[u8],
    event: &str,
    change: ChangeKind,
    vtype: ValueType,
    args: &[&[u8]],
) {
    let start = buf.len();
    let body: usize = HEADER
        + 1
        + event.len().min(255)
        + 4
        + key.len()
        + 4
        + args.iter().map(|a| 4 + a.len()).sum::<usize>();
    buf.reserve(body);
    buf.extend_from_slice(&0u32.to_le_bytes()); // len, patched below
    buf.extend_from_slice(&[0u8; 28]); // crc, offset, ts, tx_id (filled at commit)
    buf.extend_from_slice(&0u32.to_le_bytes()); // tx_n
    buf.extend_from_slice(&who.client_id.to_le_bytes());
    buf.push(who.origin as u8);
    buf.push(change as u8);
    buf.push(vtype as u8);
    buf.push(0);
    buf.extend_from_slice(&(db as u16).to_le_bytes());
    let ev = &event.as_bytes()[..event.len().min(255)];
    buf.push(ev.len() as u8);
    buf.extend_from_slice(ev);
    buf.extend_from_slice(&(key.len() as u32).to_le_bytes());
    buf.extend_from_slice(key);
    buf.extend_from_slice(&(args.len() as u32).to_le_bytes());
    for a in args {
        buf.extend_from_slice(&(a.len() as u32).to_le_bytes());
        buf.extend_from_slice(a);
    }
    let len = (buf.len() - start - 4) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// Decodes the record at the start of `b`; returns it and its total size. `None` when the bytes
/// are short or the checksum does not match.
pub fn decode_record(b: &[u8]) -> Option<(ChangeEvent, usize)> {
    let mut r = Reader { b, p: 0 };
    let len = r.u32()? as usize;
    let total = 4 + len;
    if b.len() < total || len < HEADER - 4 {
        return None;
    }
    let crc = r.u32()?;
    if crc32fast::hash(&b[OFF_OFFSET..total]) != crc {
        return None;
    }
    let offset = r.u64()?;
    let ts = r.u64()?;
    let tx_id = r.u64()?;
    let tx_n = r.u32()?;
    let client_id = r.u64()?;
    let origin = Origin::from_u8(r.u8()?);
    let change = ChangeKind::from_u8(r.u8()?);
    let vtype = ValueType::from_u8(r.u8()?);
    let _flags = r.u8()?;
    let db = r.u16()? as u32;
    let evlen = r.u8()? as usize;
    let event = String::from_utf8_lossy(r.take(evlen)?).into_owned();
    let klen = r.u32()? as usize;
    let key = r.take(klen)?.to_vec();
    let nargs = r.u32()? as usize;
    let mut args = Vec::with_capacity(nargs.min(1024));
    for _ in 0..nargs {
        let l = r.u32()? as usize;
        args.push(r.take(l)?.to_vec());
    }
    Some((
        ChangeEvent {
            offset,
            ts,
            tx_id,
            tx_n,
            client_id,
            origin,
            change,
            vtype,
            db,
            event,
            key,
            args,
        },
        total,
    ))
}

struct Reader<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.p..self.p.checked_add(n)?)?;
        self.p += n;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

struct Segment {
    first: u64,
    data: Vec<u8>,
    /// Start of each record in `data`; record `first + i` starts at `starts[i]`.
    starts: Vec<u32>,
}

struct Inner {
    next: u64,
    last_ts: u64,
    next_tx: u64,
    segments: VecDeque<Segment>,
    bytes: usize,
}

/// Why a read could not start where asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The cursor is older than what the log still holds.
    Trimmed { earliest: u64 },
}

/// The log. See the module docs for the record format and the locking contract.
pub struct ChangeLog {
    inner: Mutex<Inner>,
    notify: Notify,
    epoch: String,
    max_bytes: AtomicUsize,
    committed: AtomicU64,
    waiters: AtomicUsize,
}

impl ChangeLog {
    pub fn new(epoch: String, max_bytes: usize) -> Self {
        ChangeLog {
            inner: Mutex::new(Inner {
                next: 1,
                last_ts: 0,
                next_tx: 1,
                segments: VecDeque::new(),
                bytes: 0,
            }),
            notify: Notify::new(),
            epoch,
            max_bytes: AtomicUsize::new(max_bytes),
            committed: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
        }
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    pub fn set_max_bytes(&self, n: usize) {
        self.max_bytes
            .store(n.max(SEGMENT_BYTES), Ordering::Relaxed);
    }

    /// Commits the recorder's records (a group shares a transaction id when there are several)
    /// and clears it. Returns the offset of the last record, or 0 if there was nothing to commit.
    pub fn commit(&self, rec: &mut Recorder, ts: u64) -> u64 {
        if rec.count == 0 {
            return 0;
        }
        let max = self.max_bytes.load(Ordering::Relaxed);
        let mut g = self.inner.lock();
        let inner = &mut *g;
        // Timestamps never go backwards in the log, so a time-based start position can search.
        let ts = ts.max(inner.last_ts);
        inner.last_ts = ts;
        let tx = if rec.count > 1 {
            inner.next_tx += 1;
            inner.next_tx - 1
        } else {
            0
        };
        let need_new = match inner.segments.back() {
            Some(s) => s.data.len() >= SEGMENT_BYTES,
            None => true,
        };
        if need_new {
            inner.segments.push_back(Segment {
                first: inner.next,
                data: Vec::with_capacity(SEGMENT_BYTES + 4096),
                starts: Vec::with_capacity(8192),
            });
        }
        let seg = match inner.segments.back_mut() {
            Some(s) => s,
            None => return 0,
        };
        let mut p = 0;
        let src = &rec.buf;
        while p + 4 <= src.len() {
            let len = u32::from_le_bytes([src[p], src[p + 1], src[p + 2], src[p + 3]]) as usize;
            let end = p + 4 + len;
            let at = seg.data.len();
            seg.starts.push(at as u32);
            seg.data.extend_from_slice(&src[p..end]);
            let r = &mut seg.data[at..at + 4 + len];
            r[OFF_OFFSET..OFF_OFFSET + 8].copy_from_slice(&inner.next.to_le_bytes());
            r[OFF_TS..OFF_TS + 8].copy_from_slice(&ts.to_le_bytes());
            r[OFF_TXID..OFF_TXID + 8].copy_from_slice(&tx.to_le_bytes());
            let n = if tx != 0 { rec.count } else { 0 };
            r[OFF_TXN..OFF_TXN + 4].copy_from_slice(&n.to_le_bytes());
            let crc = crc32fast::hash(&r[OFF_OFFSET..]);
            r[OFF_CRC..OFF_CRC + 4].copy_from_slice(&crc.to_le_bytes());
            inner.bytes += 4 + len;
            inner.next += 1;
            p = end;
        }
        let last = inner.next - 1;
        while inner.bytes > max && inner.segments.len() > 1 {
            if let Some(old) = inner.segments.pop_front() {
                inner.bytes -= old.data.len();
            }
        }
        drop(g);
        rec.clear();
        self.committed.store(last, Ordering::Release);
        // Notify takes a mutex even with nobody waiting; writers skip it unless a reader waits.
        if self.waiters.load(Ordering::Acquire) > 0 {
            self.notify.notify_waiters();
        }
        last
    }

    /// Offset of the newest record (0 when the log is empty).
    pub fn last_offset(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Offset of the oldest record still held (the next offset when empty).
    pub fn first_offset(&self) -> u64 {
        let g = self.inner.lock();
        g.segments.front().map(|s| s.first).unwrap_or(g.next)
    }

    pub fn memory_bytes(&self) -> usize {
        self.inner.lock().bytes
    }

    /// Up to `count` records with offset >= `from`.
    pub fn read(&self, from: u64, count: usize) -> Result<Vec<ChangeEvent>, ReadError> {
        let mut out = Vec::new();
        let g = self.inner.lock();
        let earliest = g.segments.front().map(|s| s.first).unwrap_or(g.next);
        let from = from.max(1);
        if from < earliest {
            return Err(ReadError::Trimmed { earliest });
        }
        // Segments are few (memory / 1 MiB); a linear scan from the back finds the start.
        let Some(si) = g.segments.iter().rposition(|s| s.first <= from) else {
            return Ok(out);
        };
        for seg in g.segments.iter().skip(si) {
            let skip = from.saturating_sub(seg.first) as usize;
            for &start in seg.starts.iter().skip(skip) {
                if out.len() >= count {
                    return Ok(out);
                }
                if let Some((ev, _)) = decode_record(&seg.data[start as usize..]) {
                    out.push(ev);
                }
            }
        }
        Ok(out)
    }

    /// Waits until a record with offset >= `from` exists or `deadline` passes.
    pub async fn wait_for(&self, from: u64, deadline: Option<tokio::time::Instant>) {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.waiters.fetch_add(1, Ordering::AcqRel);
        let _w = Waiting(&self.waiters);
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.last_offset() >= from {
                return;
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, notified).await.is_err() {
                        return;
                    }
                }
                None => notified.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: usize) -> Recorder {
        let mut r = Recorder::default();
        for i in 0..n {
            let k = format!("k{i}");
            r.record(
                Who::client(7),
                0,
                k.as_bytes(),
                "set",
                ChangeKind::Insert,
                ValueType::String,
                &[b"SET", k.as_bytes(), b"v"],
            );
        }
        r
    }

    #[test]
    fn commits_in_order_with_consecutive_offsets() {
        let log = ChangeLog::new("e".into(), 1 << 30);
        assert_eq!(log.commit(&mut rec(1), 1), 1);
        assert_eq!(log.commit(&mut rec(3), 1), 4);
        let evs = log.read(0, 100).unwrap();
        assert_eq!(evs.len(), 4);
        assert_eq!(
            evs.iter().map(|e| e.offset).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(evs[0].tx_id, 0);
        assert_eq!(evs[1].tx_n, 3);
        assert_eq!(evs[1].tx_id, evs[3].tx_id);
        assert_eq!(evs[2].args[1], b"k1");
        assert_eq!(evs[2].client_id, 7);
        assert_eq!(log.read(3, 1).unwrap()[0].offset, 3);
    }

    #[test]
    fn trimmed_cursor_is_an_explicit_error() {
        let log = ChangeLog::new("e".into(), 0);
        for _ in 0..20_000 {
            log.commit(&mut rec(1), 1);
        }
        let first = log.first_offset();
        assert!(first > 1);
        assert_eq!(log.read(1, 10), Err(ReadError::Trimmed { earliest: first }));
        assert_eq!(log.read(first, 1).unwrap()[0].offset, first);
    }

    #[test]
    fn corrupt_record_fails_its_checksum() {
        let log = ChangeLog::new("e".into(), 1 << 30);
        log.commit(&mut rec(1), 1);
        let g = log.inner.lock();
        let mut bytes = g.segments[0].data.clone();
        assert!(decode_record(&bytes).is_some());
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(decode_record(&bytes).is_none());
    }
}
