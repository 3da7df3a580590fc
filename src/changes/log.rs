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
//! [u32 len, bytes]   old image (RDB value encoding), when flags & 1
//! [u32 len, bytes]   new image (RDB value encoding), when flags & 2
//! ```
//! Flag 4 says the new image is the value argument of a `SET` effect (args[2]) and is not
//! stored twice; flag 8 says the key is `args[1]` (most effects) and its bytes are not stored
//! in the key field (key_len is 0). Images are recorded when `changes-images yes` and the value's size is within
//! `changes-image-max-bytes`; readers choose per feed whether to receive them.
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
//!
//! ## What readers see
//! Offsets are never reused within an epoch, so a reader must never be served a record that a
//! crash can take back: after recovery that offset would name a different change. With a disk
//! log, readers (every path through [`ChangeLog::read_with`] and [`ChangeLog::wait_for`]:
//! CHANGES READ/SUBSCRIBE, consumer groups, `__changes__`, triggers, the NATS bridge) see only
//! records up to [`ChangeLog::readable`]: those the writer has written to the segment file
//! (the page cache survives a process crash), or under `appendfsync always` fsynced. A power
//! loss can still take back written records under `everysec`/`no`; start-up then changes the
//! epoch (`persistence`). Without a disk log memory is the only copy, every start is a new
//! epoch, and readers see records as soon as they are committed.
//!
//! The writer wakes waiting readers once per pass (not per record): commits with a disk log
//! notify nobody. A connection that reads the log first waits for what was committed before
//! its command to become readable (`server::conn`), so a client still reads its own writes.
//! [`ChangeLog::last_offset`] stays the committed end: INFO and lag figures report it.
//!
//! ## The in-memory tail is a cache for live readers
//! With a disk log, memory holds the records the writer has not written yet plus, while some
//! reader reads, up to `changes-memory-bytes` of recent history so tailing readers never touch
//! the disk. When no reader has read for [`READER_IDLE_MS`], the tail shrinks to the segment
//! being filled, and once writes stop and the writer has written it, that segment goes too
//! ([`ChangeLog::trim_idle`]): a server nobody tails pays no resident memory for its history
//! (the disk and the page cache hold it). The first reader to come back reads from disk, and
//! its reads there count as reads too: otherwise each writer pass would trim what it wrote
//! before the reader got to it, and a reader once behind the tail would stay on the disk.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::util::pages::{PageBuf, PageU32s};

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
/// The client id, after `tx_n`.
const OFF_CLIENT: usize = 36;
/// The flags byte; origin, change and type are the three bytes before it, db the two after.
const OFF_FLAGS: usize = 47;
/// Bytes every record starts with: the header, the db and the event name's length.
const FIXED: usize = OFF_FLAGS + 4;

fn le32(h: &[u8; FIXED], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&h[at..at + 4]);
    u32::from_le_bytes(w)
}

fn le64(h: &[u8; FIXED], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&h[at..at + 8]);
    u64::from_le_bytes(w)
}

/// An event name as a `str`. The server writes only ASCII names, checked in a few
/// instructions, where `from_utf8` cost a call and its setup per record; other bytes (a damaged
/// record) fall back to the full check and read as "" if invalid.
fn event_name(b: &[u8]) -> &str {
    if b.is_ascii() {
        // SAFETY: ASCII bytes are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(b) }
    } else {
        std::str::from_utf8(b).unwrap_or("")
    }
}

/// An in-memory segment is sealed once it reaches this size. Small enough that the segment being
/// filled costs little resident memory; large enough that trimming is rare.
const SEGMENT_BYTES: usize = 64 << 10;
/// A segment's allocation: room for the commit that takes it past [`SEGMENT_BYTES`].
const SEGMENT_CAPACITY: usize = SEGMENT_BYTES + 4096;
/// The smallest record: the fixed header, the key's length and the argument count. A segment's
/// index is sized for a segment of these, so it never grows.
const MIN_RECORD: usize = FIXED + 8;
/// Emptied segments kept for reuse during a burst: a writer pass can trim a few at once. A
/// spare exists only in place of a segment that was live, so they never raise the peak.
const SPARE_SEGMENTS: usize = 4;
/// With a disk log, the in-memory tail beyond unwritten records is kept only while some reader
/// read from memory within this many milliseconds.
pub const READER_IDLE_MS: u64 = 10_000;

/// Value images attached to a record (RDB-encoded values).
#[derive(Default, Clone, Copy)]
pub struct Images<'a> {
    pub old: Option<&'a [u8]>,
    pub new: Option<&'a [u8]>,
    /// The new value is `args[2]` of a SET effect.
    pub new_is_set_arg: bool,
}

const F_OLD: u8 = 1;
const F_NEW: u8 = 2;
const F_NEW_SET_ARG: u8 = 4;
const F_KEY_IS_ARG1: u8 = 8;

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
    img: Images,
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
    let key_is_arg1 = !key.is_empty() && args.get(1).is_some_and(|a| *a == key);
    let flags = if img.old.is_some() { F_OLD } else { 0 }
        | if img.new.is_some() { F_NEW } else { 0 }
        | if img.new_is_set_arg { F_NEW_SET_ARG } else { 0 }
        | if key_is_arg1 { F_KEY_IS_ARG1 } else { 0 };
    let key: &[u8] = if key_is_arg1 { b"" } else { key };
    buf.push(flags);
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
    for im in [img.old, img.new].into_iter().flatten() {
        buf.extend_from_slice(&(im.len() as u32).to_le_bytes());
        buf.extend_from_slice(im);
    }
    let len = (buf.len() - start - 4) as u32;
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
}

/// The arguments of an event, borrowed: still encoded in a record, or from a decoded event.
#[derive(Clone, Copy, Debug)]
pub enum ArgsRef<'a> {
    /// `n` arguments, each `[u32 len, bytes]`, back to back.
    Raw {
        b: &'a [u8],
        n: usize,
    },
    Owned(&'a [Vec<u8>]),
}

impl<'a> ArgsRef<'a> {
    pub fn len(&self) -> usize {
        match self {
            ArgsRef::Raw { n, .. } => *n,
            ArgsRef::Owned(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> ArgsIter<'a> {
        match *self {
            ArgsRef::Raw { b, n } => ArgsIter::Raw(Reader { b, p: 0 }, n),
            ArgsRef::Owned(v) => ArgsIter::Owned(v.iter()),
        }
    }

    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.iter().nth(i)
    }
}

pub enum ArgsIter<'a> {
    Raw(Reader<'a>, usize),
    Owned(std::slice::Iter<'a, Vec<u8>>),
}

impl<'a> Iterator for ArgsIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            ArgsIter::Raw(r, left) => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                let l = r.u32()? as usize;
                r.take(l)
            }
            ArgsIter::Owned(it) => it.next().map(|v| v.as_slice()),
        }
    }
}

/// A change event borrowed from a record's bytes (or from a decoded [`ChangeEvent`]): what
/// filters test and what readers encode, with no allocation per event.
#[derive(Clone, Copy, Debug)]
pub struct EventRef<'a> {
    pub offset: u64,
    pub ts: u64,
    pub tx_id: u64,
    pub tx_n: u32,
    pub client_id: u64,
    pub origin: Origin,
    pub change: ChangeKind,
    pub vtype: ValueType,
    pub db: u32,
    pub event: &'a str,
    pub key: &'a [u8],
    pub args: ArgsRef<'a>,
    /// The recorded old image (RDB value encoding).
    pub old: Option<&'a [u8]>,
    /// The recorded new image (RDB value encoding).
    pub new: Option<&'a [u8]>,
    /// The new value is `args[2]` of a `SET` effect (stored once, see the record format).
    pub new_is_set_arg: bool,
}

impl EventRef<'_> {
    /// An owned copy.
    pub fn to_event(&self) -> ChangeEvent {
        let new = if self.new_is_set_arg {
            self.args.get(2).map(|v| {
                let mut enc = Vec::with_capacity(v.len() + 6);
                enc.push(0);
                crate::keyspace::encoding::write_string(&mut enc, v);
                enc
            })
        } else {
            self.new.map(<[u8]>::to_vec)
        };
        ChangeEvent {
            offset: self.offset,
            ts: self.ts,
            tx_id: self.tx_id,
            tx_n: self.tx_n,
            client_id: self.client_id,
            origin: self.origin,
            change: self.change,
            vtype: self.vtype,
            db: self.db,
            event: self.event.to_owned(),
            key: self.key.to_vec(),
            args: self.args.iter().map(<[u8]>::to_vec).collect(),
            old: self.old.map(<[u8]>::to_vec),
            new,
        }
    }
}

impl ChangeEvent {
    /// A borrowed view of this event.
    pub fn as_ref(&self) -> EventRef<'_> {
        EventRef {
            offset: self.offset,
            ts: self.ts,
            tx_id: self.tx_id,
            tx_n: self.tx_n,
            client_id: self.client_id,
            origin: self.origin,
            change: self.change,
            vtype: self.vtype,
            db: self.db,
            event: &self.event,
            key: &self.key,
            args: ArgsRef::Owned(&self.args),
            old: self.old.as_deref(),
            new: self.new.as_deref(),
            new_is_set_arg: false,
        }
    }
}

/// Decodes the record at the start of `b`; returns it and its total size. `None` when the bytes
/// are short or the checksum does not match.
pub fn decode_record(b: &[u8]) -> Option<(ChangeEvent, usize)> {
    decode_view(b, true).map(|(v, n)| (v.to_event(), n))
}

/// Decodes the record at the start of `b` without copying. The checksum is verified when
/// `verify` (bytes read back from disk); records from the in-memory tail were written by this
/// process and are trusted.
pub fn decode_view(b: &[u8], verify: bool) -> Option<(EventRef<'_>, usize)> {
    // The fixed fields are read at constant offsets of a fixed-size prefix, so they cost no
    // bounds checks: a tailing subscriber decodes every record the writers commit.
    let h: &[u8; FIXED] = b.get(..FIXED)?.try_into().ok()?;
    let total = 4 + le32(h, 0) as usize;
    if b.len() < total || total < FIXED + 8 {
        return None;
    }
    if verify && crc32fast::hash(&b[OFF_OFFSET..total]) != le32(h, OFF_CRC) {
        return None;
    }
    let flags = h[OFF_FLAGS];
    let mut r = Reader {
        b: &b[..total],
        p: FIXED,
    };
    let event = event_name(r.take(h[FIXED - 1] as usize)?);
    let klen = r.u32()? as usize;
    let mut key = r.take(klen)?;
    let nargs = r.u32()? as usize;
    let args_start = r.p;
    for i in 0..nargs {
        let l = r.u32()? as usize;
        let a = r.take(l)?;
        if i == 1 && flags & F_KEY_IS_ARG1 != 0 {
            key = a;
        }
    }
    if flags & F_KEY_IS_ARG1 != 0 && nargs < 2 {
        return None;
    }
    let args = ArgsRef::Raw {
        b: &r.b[args_start..r.p],
        n: nargs,
    };
    let mut image = |bit: u8| -> Option<Option<&[u8]>> {
        if flags & bit == 0 {
            return Some(None);
        }
        let l = r.u32()? as usize;
        Some(Some(r.take(l)?))
    };
    let old = image(F_OLD)?;
    let new = image(F_NEW)?;
    Some((
        EventRef {
            offset: le64(h, OFF_OFFSET),
            ts: le64(h, OFF_TS),
            tx_id: le64(h, OFF_TXID),
            tx_n: le32(h, OFF_TXN),
            client_id: le64(h, OFF_CLIENT),
            origin: Origin::from_u8(h[OFF_FLAGS - 3]),
            change: ChangeKind::from_u8(h[OFF_FLAGS - 2]),
            vtype: ValueType::from_u8(h[OFF_FLAGS - 1]),
            db: u16::from_le_bytes([h[OFF_FLAGS + 1], h[OFF_FLAGS + 2]]) as u32,
            event,
            key,
            args,
            old,
            new,
            new_is_set_arg: flags & F_NEW_SET_ARG != 0,
        },
        total,
    ))
}

pub struct Reader<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.p..self.p.checked_add(n)?)?;
        self.p += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}

struct Segment {
    first: u64,
    /// In a mapping of its own (`util::pages`): segments come and go with write bursts.
    data: PageBuf,
    /// Start of each record in `data`; record `first + i` starts at `starts[i]`. Mapped like
    /// `data`, for the same reason.
    starts: PageU32s,
}

struct Inner {
    next: u64,
    last_ts: u64,
    next_tx: u64,
    segments: VecDeque<Segment>,
    bytes: usize,
    /// Segments trimmed during a burst, emptied, for the next ones to reuse (at most
    /// [`SPARE_SEGMENTS`]). Allocating a fresh 68 KiB block per segment (below malloc's mmap
    /// threshold) interleaved the log's blocks with the keyspace's allocations in the writers'
    /// heap, and each freed block left a hole that small allocations split: loading 1,000 sets
    /// of 100 members allocated 75 segments and peaked at 1.5 MB allocated for 0.67 MB kept.
    spare: Vec<Segment>,
}

impl Inner {
    /// Offset of the oldest record in memory (the next offset when memory holds none).
    fn first(&self) -> u64 {
        self.segments.front().map_or(self.next, |s| s.first)
    }
}

/// Why a read could not start where asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The cursor is older than what the log still holds.
    Trimmed { earliest: u64 },
}

/// Counts a task waiting for durability while it waits (see `set_durable`).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The lead of a group-commit round ([`ChangeLog::lead_round`]).
pub struct RoundLead<'a>(&'a ChangeLog);

impl Drop for RoundLead<'_> {
    fn drop(&mut self) {
        // SeqCst here and in `durable_or`: either this sees the waiter counted, or the waiter
        // sees the lead ended.
        self.0.round_leader.store(false, Ordering::SeqCst);
        // Clients that committed after the round's fsync began (or all of them, if the leader
        // went away before syncing) are still waiting: one of them leads the next round.
        if self.0.durable_waiters.load(Ordering::SeqCst) > 0 {
            self.0.durable_notify.notify_waiters();
        }
    }
}

/// How the writer thread waits between passes, which decides which commits wake it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum WriterSleep {
    /// Writing a pass.
    Awake,
    /// Between ticks while records keep coming: the tick picks up what commits meanwhile, so
    /// a commit wakes the writer only for a reader waiting for it.
    Tick,
    /// No records came for a while: the writer waits for the next commit, which wakes it.
    /// An idle server does not tick.
    Asleep,
}

/// The log. See the module docs for the record format and the locking contract.
pub struct ChangeLog {
    inner: Mutex<Inner>,
    notify: Notify,
    epoch: parking_lot::RwLock<String>,
    max_bytes: AtomicUsize,
    committed: AtomicU64,
    waiters: AtomicUsize,
    /// When a reader last read from the in-memory tail (ms since the epoch).
    last_mem_read_ms: AtomicU64,
    /// The disk log, when `appendonly yes`.
    pub disk: Option<super::disk::DiskLog>,
    /// Highest offset written to the disk segment (page cache).
    written: AtomicU64,
    /// Highest offset known to be on stable storage.
    durable: AtomicU64,
    durable_notify: Notify,
    durable_waiters: AtomicUsize,
    /// Wakes the writer thread; the mutex orders a wake against the writer's going to sleep.
    wake: (Mutex<()>, parking_lot::Condvar),
    /// A wake is requested (work may be pending) and the writer has not taken it yet. Later
    /// requests skip the mutex: under `always` every client of a round asks.
    wake_pending: std::sync::atomic::AtomicBool,
    /// How the writer sleeps, which decides which commits wake it ([`WriterSleep`]).
    writer_sleep: std::sync::atomic::AtomicU8,
    /// `always`: a connection leads the current group-commit round (`writer::wait_durable_round`);
    /// the round's other clients wait for it rather than waking the writer.
    round_leader: std::sync::atomic::AtomicBool,
    fsync_always: std::sync::atomic::AtomicBool,
    /// Consumer groups and registered readers of this log.
    pub groups: super::groups::Registry,
}

thread_local! {
    /// The last offset this thread committed since the connection loop last asked: lets the
    /// loop hold a batch's replies until they are durable under `appendfsync always`.
    static LAST_COMMIT: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

thread_local! {
    /// A reader's copy buffer, reused across reads on this thread.
    static READ_SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

thread_local! {
    /// The highest offset a reply of this thread's batch names or reflects (a snapshot's
    /// offset, a `latest` cursor): the connection loop holds the replies until it is readable.
    static EXPOSED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Returns and clears the last offset committed by this thread.
pub fn take_thread_commit() -> u64 {
    LAST_COMMIT.with(|c| c.replace(0))
}

/// Notes that a reply of this thread's batch names `offset` (see [`take_thread_exposed`]).
pub fn expose(offset: u64) {
    EXPOSED.with(|c| c.set(c.get().max(offset)));
}

/// Returns and clears the highest offset this thread's replies named since the last call.
pub fn take_thread_exposed() -> u64 {
    EXPOSED.with(|c| c.replace(0))
}

impl ChangeLog {
    pub fn new(epoch: String, max_bytes: usize) -> Self {
        Self::with_disk(epoch, max_bytes, None)
    }

    pub fn with_disk(epoch: String, max_bytes: usize, disk: Option<super::disk::DiskLog>) -> Self {
        ChangeLog {
            inner: Mutex::new(Inner {
                next: 1,
                last_ts: 0,
                next_tx: 1,
                segments: VecDeque::new(),
                spare: Vec::new(),
                bytes: 0,
            }),
            notify: Notify::new(),
            epoch: parking_lot::RwLock::new(epoch),
            max_bytes: AtomicUsize::new(max_bytes),
            committed: AtomicU64::new(0),
            waiters: AtomicUsize::new(0),
            last_mem_read_ms: AtomicU64::new(0),
            disk,
            written: AtomicU64::new(0),
            durable: AtomicU64::new(0),
            durable_notify: Notify::new(),
            durable_waiters: AtomicUsize::new(0),
            wake: (Mutex::new(()), parking_lot::Condvar::new()),
            wake_pending: std::sync::atomic::AtomicBool::new(false),
            round_leader: std::sync::atomic::AtomicBool::new(false),
            writer_sleep: std::sync::atomic::AtomicU8::new(WriterSleep::Awake as u8),
            fsync_always: std::sync::atomic::AtomicBool::new(false),
            groups: Default::default(),
        }
    }

    /// Sets where the log continues after recovery: the last offset and timestamp on disk (or in
    /// the snapshot) and the next transaction id.
    pub fn restore_position(&self, last: u64, last_ts: u64, next_tx: u64) {
        let mut g = self.inner.lock();
        g.next = last + 1;
        g.last_ts = last_ts;
        g.next_tx = next_tx.max(1);
        drop(g);
        self.committed.store(last, Ordering::Release);
        self.written.store(last, Ordering::Release);
        self.durable.store(last, Ordering::Release);
    }

    pub fn set_fsync_always(&self, on: bool) {
        self.fsync_always.store(on, Ordering::Relaxed);
    }

    pub fn fsync_always(&self) -> bool {
        self.disk.is_some() && self.fsync_always.load(Ordering::Relaxed)
    }

    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Acquire)
    }

    /// The highest offset readers may be served (see the module docs): the committed end
    /// without a disk log, else what a process crash (`written`) or, under `appendfsync
    /// always`, a power loss (`durable`) cannot take back.
    pub fn readable(&self) -> u64 {
        if self.disk.is_none() {
            self.committed.load(Ordering::Acquire)
        } else if self.fsync_always.load(Ordering::Relaxed) {
            self.durable()
        } else {
            self.written()
        }
    }

    /// Wakes the readers waiting in [`ChangeLog::wait_for`], if any.
    fn wake_readers(&self) {
        // Pairs with the fence in `wait_for`: either the waiter sees the new offset or this
        // sees the waiter (a plain release store / acquire load may both miss).
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.waiters.load(Ordering::Relaxed) > 0 {
            self.notify.notify_waiters();
        }
    }

    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// Called by the writer after its bytes reached the file (and, when `synced`, the disk).
    /// One call per writer pass, so readers are woken once per pass.
    pub fn mark_written(&self, last: u64, synced: bool) {
        self.written.store(last, Ordering::Release);
        if synced {
            self.set_durable(last);
        }
        self.wake_readers();
    }

    pub fn mark_durable(&self, last: u64) {
        self.set_durable(last);
        // Under `always` durability is what makes records readable.
        if self.fsync_always.load(Ordering::Relaxed) {
            self.wake_readers();
        }
    }

    fn set_durable(&self, last: u64) {
        self.durable.fetch_max(last, Ordering::AcqRel);
        if self.durable_waiters.load(Ordering::Acquire) > 0 {
            self.durable_notify.notify_waiters();
        }
    }

    /// Takes the lead of the group-commit round, unless another task leads it. Dropping the
    /// guard ends the lead and wakes the waiting clients, so one of them leads the next round.
    pub fn lead_round(&self) -> Option<RoundLead<'_>> {
        (!self.round_leader.swap(true, Ordering::AcqRel)).then_some(RoundLead(self))
    }

    /// Waits, without waking the writer, until `offset` is durable (true) or no task leads the
    /// round any more (false: the caller takes the lead).
    pub async fn wait_round(&self, offset: u64) -> bool {
        self.durable_or(offset, || self.round_leader.load(Ordering::SeqCst))
            .await
    }

    /// Waits until `offset` is durable (or the log has no disk).
    pub async fn wait_durable(&self, offset: u64) {
        if self.disk.is_none() {
            return;
        }
        self.durable_or(offset, || {
            self.wake_writer();
            true
        })
        .await;
    }

    /// Waits until `offset` is durable (true), calling `keep_waiting` each time it is not; stops
    /// (false) when that returns false. The task is counted and registered before each check, so
    /// a `set_durable` or a round's end in between wakes it.
    async fn durable_or(&self, offset: u64, mut keep_waiting: impl FnMut() -> bool) -> bool {
        // SeqCst: pairs with `RoundLead::drop` (see there).
        self.durable_waiters.fetch_add(1, Ordering::SeqCst);
        let _w = Waiting(&self.durable_waiters);
        loop {
            let n = self.durable_notify.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.durable() >= offset {
                return true;
            }
            if !keep_waiting() {
                return false;
            }
            n.await;
        }
    }

    /// Waits until `offset` is readable, asking the writer to pass now rather than at its next
    /// tick (a client reading the log waits for the writes it may have seen acknowledged).
    pub async fn wait_readable(&self, offset: u64) {
        if self.readable() >= offset {
            return;
        }
        self.wake_writer();
        self.wait_for(offset, None).await;
    }

    /// Wakes the writer thread.
    pub fn wake_writer(&self) {
        if self.wake_pending.swap(true, Ordering::SeqCst) {
            return;
        }
        let _g = self.wake.0.lock();
        self.wake.1.notify_one();
    }

    /// Writer side: waits until woken or `timeout` passes. Between ticks (`sleep` is
    /// [`WriterSleep::Tick`]) it does not wait while readers wait for records already committed:
    /// commits made while the writer was busy did not wake it. Asleep
    /// ([`WriterSleep::Asleep`]) it does not wait while any committed record is unwritten.
    pub fn writer_wait(&self, timeout: std::time::Duration, sleep: WriterSleep) {
        let mut g = self.wake.0.lock();
        if !self.wake_pending.load(Ordering::SeqCst) {
            self.writer_sleep.store(sleep as u8, Ordering::Relaxed);
            // Pairs with the fence in `commit_group`: either that commit sees how the writer
            // sleeps and wakes it if it must, or this sees its offset.
            std::sync::atomic::fence(Ordering::SeqCst);
            let pending = match sleep {
                WriterSleep::Asleep => self.committed.load(Ordering::Acquire) > self.written(),
                _ => self.readers_wait_for_unwritten(),
            };
            if !pending {
                self.wake.1.wait_for(&mut g, timeout);
            }
            self.writer_sleep
                .store(WriterSleep::Awake as u8, Ordering::Relaxed);
        }
        // Taken before the pass copies: a request that saw it set committed before this point,
        // so the pass covers its records; any later request wakes the writer again.
        self.wake_pending.store(false, Ordering::SeqCst);
    }

    /// True when some reader waits and committed records are not written yet.
    fn readers_wait_for_unwritten(&self) -> bool {
        self.readers_wait() && self.committed.load(Ordering::Acquire) > self.written()
    }

    /// True when some reader waits for the log (the writer then paces its passes).
    pub fn readers_wait(&self) -> bool {
        self.waiters.load(Ordering::Relaxed) > 0
    }

    /// Copies committed records with offsets >= `from` (at most about `max` bytes, whole
    /// records) into `out`; returns the last offset copied and its timestamp.
    pub fn copy_from(&self, from: u64, max: usize, out: &mut PageBuf) -> Option<(u64, u64)> {
        let g = self.inner.lock();
        let si = g.segments.iter().rposition(|s| s.first <= from)?;
        let mut last = None;
        for seg in g.segments.iter().skip(si) {
            let skip = from.saturating_sub(seg.first) as usize;
            let Some(&start) = seg.starts.get(skip) else {
                continue;
            };
            let start = start as usize;
            let avail = seg.data.len() - start;
            let mut end = seg.data.len();
            let n = seg.starts.len() - skip;
            if out.len() + avail > max && !out.is_empty() {
                break;
            }
            if avail > max {
                // Take whole records up to about `max`.
                end = start;
                for &p in &seg.starts[skip..] {
                    if p as usize - start > max && end > start {
                        break;
                    }
                    end = p as usize;
                }
                if end == start {
                    end = seg.data.len();
                }
                // Never end inside a group (a group is committed at once, within one segment):
                // what a pass writes becomes readable, and recovery reverts a group cut short,
                // which would take back offsets a reader saw.
                let mut i = seg.starts.partition_point(|&p| (p as usize) < end);
                while i > skip && i < seg.starts.len() {
                    let tx = |k: usize| {
                        let at = seg.starts[k] as usize + OFF_TXID;
                        seg.data
                            .get(at..at + 8)
                            .and_then(|b| b.try_into().ok())
                            .map(u64::from_le_bytes)
                            .unwrap_or(0)
                    };
                    let t = tx(i);
                    if t == 0 || t != tx(i - 1) {
                        break;
                    }
                    i += 1;
                }
                end = seg
                    .starts
                    .get(i)
                    .map(|&p| p as usize)
                    .unwrap_or(seg.data.len());
            }
            out.extend_from_slice(&seg.data[start..end]);
            let copied = seg.starts[skip..]
                .iter()
                .take_while(|&&p| (p as usize) < end)
                .count();
            let last_off = seg.first + (skip + copied) as u64 - 1;
            let last_start = seg.starts[skip + copied - 1] as usize;
            let ts = u64::from_le_bytes(
                seg.data[last_start + OFF_TS..last_start + OFF_TS + 8]
                    .try_into()
                    .unwrap_or_default(),
            );
            last = Some((last_off, ts));
            if copied < n {
                break;
            }
        }
        last
    }

    pub fn epoch(&self) -> String {
        self.epoch.read().clone()
    }

    /// A new history (after a forced repair).
    pub fn set_epoch(&self, e: String) {
        *self.epoch.write() = e;
    }

    pub fn set_max_bytes(&self, n: usize) {
        self.max_bytes
            .store(n.max(SEGMENT_BYTES), Ordering::Relaxed);
    }

    /// Commits the recorder's records (a group shares a transaction id when there are several)
    /// and clears it. Returns the offset of the last record, or 0 if there was nothing to commit.
    pub fn commit(&self, rec: &mut Recorder, ts: u64) -> u64 {
        self.commit_group(rec, ts, false)
    }

    /// Like [`ChangeLog::commit`], but the records are one transaction (MULTI/EXEC) even when
    /// there is only one, so a reader can tell an EXEC's lone change from a plain write.
    pub fn commit_tx(&self, rec: &mut Recorder, ts: u64) -> u64 {
        self.commit_group(rec, ts, true)
    }

    fn commit_group(&self, rec: &mut Recorder, ts: u64, always_tx: bool) -> u64 {
        if rec.count == 0 {
            return 0;
        }
        let max = self.max_bytes.load(Ordering::Relaxed);
        let mut g = self.inner.lock();
        let inner = &mut *g;
        // Timestamps never go backwards in the log, so a time-based start position can search.
        let ts = ts.max(inner.last_ts);
        inner.last_ts = ts;
        let tx = if rec.count > 1 || always_tx {
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
            let first = inner.next;
            let seg = match inner.spare.pop() {
                Some(mut s) => {
                    s.first = first;
                    s
                }
                None => Segment {
                    first,
                    data: PageBuf::with_capacity(SEGMENT_CAPACITY),
                    starts: PageU32s::with_capacity(SEGMENT_CAPACITY / MIN_RECORD),
                },
            };
            inner.segments.push_back(seg);
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
        self.trim_locked(inner, max, ts, 1);
        drop(g);
        rec.clear();
        LAST_COMMIT.with(|c| c.set(last));
        self.committed.store(last, Ordering::Release);
        // With a disk log the record is not readable yet: the writer wakes readers after its
        // pass, so a reader waiting on a ticking writer wakes it rather than wait for its tick
        // (up to 2 ms of delivery latency under `everysec`), and a writer asleep after a quiet
        // spell is always woken. Under load the writer paces its passes (`changes::writer`,
        // `READER_PASS_GAP`) and is not idle between them, so commits do not wake it one by
        // one. Without a disk log, readers wake now (Notify takes a mutex, so only if one
        // waits).
        // Under `always` the clients waiting for durability write the log themselves, once per
        // round rather than per commit (`writer::wait_durable_round`).
        if self.disk.is_some() {
            std::sync::atomic::fence(Ordering::SeqCst);
            let sleep = self.writer_sleep.load(Ordering::Relaxed);
            if sleep == WriterSleep::Asleep as u8
                || (sleep == WriterSleep::Tick as u8 && self.readers_wait())
            {
                self.wake_writer();
            }
        }
        if self.disk.is_none() {
            self.wake_readers();
        }
        last
    }

    /// Drops the oldest in-memory segments beyond the memory budget, keeping at least `keep`
    /// (the one being filled, while commits come). With a disk log only what the writer already
    /// wrote may go (memory then caches the tail the disk also holds).
    fn trim_locked(&self, inner: &mut Inner, max: usize, now_ms: u64, keep: usize) {
        let (written, max) = if self.disk.is_some() {
            let idle = now_ms.saturating_sub(self.last_mem_read_ms.load(Ordering::Relaxed));
            let max = if idle > READER_IDLE_MS { 0 } else { max };
            (self.written.load(Ordering::Acquire), max)
        } else {
            (u64::MAX, max)
        };
        while inner.bytes > max && inner.segments.len() > keep {
            let end = inner.segments.get(1).map_or(inner.next, |s| s.first);
            if end > written.saturating_add(1) {
                break;
            }
            if let Some(mut old) = inner.segments.pop_front() {
                inner.bytes -= old.data.len();
                // Kept only during a burst (an idle log holds no memory) and only at its
                // usual size (a segment that took a large record gave its memory back).
                if keep > 0
                    && inner.spare.len() < SPARE_SEGMENTS
                    && old.data.capacity() <= SEGMENT_CAPACITY
                {
                    old.data.clear();
                    old.starts.clear();
                    inner.spare.push(old);
                }
            }
        }
        if keep == 0 {
            inner.spare = Vec::new();
        }
    }

    /// Trims the in-memory tail after the writer has written more of it (commits trim as they
    /// go, but after a burst the writer finishes last).
    pub fn trim(&self) {
        self.trim_keeping(1);
    }

    /// Called by the writer when writes stop: with no reader on the in-memory tail, even the
    /// segment being filled goes (the next commit starts a new one), so an idle server holds no
    /// change-log memory. During a burst the segment stays, so commits do not allocate a
    /// segment per writer pass.
    pub fn trim_idle(&self) {
        self.trim_keeping(0);
    }

    fn trim_keeping(&self, keep: usize) {
        let max = self.max_bytes.load(Ordering::Relaxed);
        let mut g = self.inner.lock();
        self.trim_locked(&mut g, max, crate::util::now_ms(), keep);
    }

    /// Offset of the newest committed record (0 when the log is empty). With a disk log readers
    /// may not be served it yet: their end is [`ChangeLog::readable`].
    pub fn last_offset(&self) -> u64 {
        self.committed.load(Ordering::Acquire)
    }

    /// Offset of the oldest record still held (the next offset when empty). With a disk log
    /// the disk is authoritative: memory only caches its tail, and retention trims the disk.
    pub fn first_offset(&self) -> u64 {
        let mem = self.inner.lock().first();
        match self.disk.as_ref().and_then(|d| d.first_offset()) {
            Some(d) => d,
            None => mem,
        }
    }

    /// The next transaction id (for snapshots).
    pub fn next_tx(&self) -> u64 {
        self.inner.lock().next_tx
    }

    /// Marks that a reader reads from the in-memory tail, so the tail is kept for it. A store
    /// only when the coarse clock moved, so tailing readers don't bounce the cache line.
    pub fn touch_reader(&self) {
        let now = crate::util::now_ms();
        if now.saturating_sub(self.last_mem_read_ms.load(Ordering::Relaxed)) > 100 {
            self.last_mem_read_ms.store(now, Ordering::Relaxed);
        }
    }

    /// Bytes the in-memory tail holds: its records, and the spare segments kept for reuse
    /// (memory the log holds, not the dataset: eviction leaves both out).
    pub fn memory_bytes(&self) -> usize {
        let g = self.inner.lock();
        g.bytes + g.spare.iter().map(|s| s.data.capacity()).sum::<usize>()
    }

    /// Up to `count` records with offset >= `from`, from memory or, for older offsets, from
    /// the disk segments.
    pub fn read(&self, from: u64, count: usize) -> Result<Vec<ChangeEvent>, ReadError> {
        let mut out = Vec::new();
        self.read_with(from, count, |ev| out.push(ev.to_event()))?;
        Ok(out)
    }

    /// Calls `f` for up to `count` records with offset >= `from` (see [`ChangeLog::read`]),
    /// borrowed: a tailing reader decodes nothing into owned events.
    pub fn read_with(
        &self,
        from: u64,
        count: usize,
        mut f: impl FnMut(&EventRef<'_>),
    ) -> Result<(), ReadError> {
        let from = from.max(1);
        if self.disk.is_some() {
            let earliest = self.first_offset();
            if from < earliest {
                return Err(ReadError::Trimmed { earliest });
            }
        }
        // Nothing past the readable end, from memory or disk (see the module docs).
        let end = self.readable();
        if from > end {
            return Ok(());
        }
        let count = count.min((end - from + 1).try_into().unwrap_or(usize::MAX));
        // Copy the raw records under the lock (a memcpy) and decode them after releasing it:
        // writers commit under the same lock, so a reader must hold it as briefly as possible.
        // The check that `from` is still in memory is made under the same lock, so a trim (a
        // commit's, or the writer's `trim_idle`) cannot come between it and the copy.
        let mut raw = READ_SPARE.with(|s| s.take());
        raw.clear();
        let mem_first = {
            let g = self.inner.lock();
            let first = g.first();
            if from >= first {
                // Segments are few (memory / segment size); a scan from the back finds the start.
                let si = g.segments.iter().rposition(|s| s.first <= from);
                let mut left = count;
                for seg in g.segments.iter().skip(si.unwrap_or(g.segments.len())) {
                    let skip = from.saturating_sub(seg.first) as usize;
                    let Some(&start) = seg.starts.get(skip) else {
                        continue;
                    };
                    let n = (seg.starts.len() - skip).min(left);
                    let end = seg
                        .starts
                        .get(skip + n)
                        .map(|&e| e as usize)
                        .unwrap_or(seg.data.len());
                    raw.extend_from_slice(&seg.data[start as usize..end]);
                    left -= n;
                    if left == 0 {
                        break;
                    }
                }
            }
            first
        };
        if from < mem_first {
            READ_SPARE.with(|s| s.set(raw));
            let earliest = self.first_offset();
            if from < earliest {
                return Err(ReadError::Trimmed { earliest });
            }
            if let Some(d) = &self.disk {
                match d.read_with(from, count, &mut f) {
                    Ok(n) if n > 0 => {
                        // A reader behind the tail keeps it too, or it could never reach it:
                        // with nobody reading memory, each pass trims what the writer wrote.
                        self.touch_reader();
                        return Ok(());
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "reading the change log from disk"),
                }
            }
            return Err(ReadError::Trimmed {
                earliest: mem_first,
            });
        }
        self.touch_reader();
        let mut p = 0;
        let mut n = 0;
        while p < raw.len() && n < count {
            match decode_view(&raw[p..], false) {
                Some((ev, used)) => {
                    f(&ev);
                    n += 1;
                    p += used;
                }
                None => break,
            }
        }
        if raw.capacity() <= 1 << 20 {
            READ_SPARE.with(|s| s.set(raw));
        }
        Ok(())
    }

    /// Waits until a record with offset >= `from` is readable or `deadline` passes.
    pub async fn wait_for(&self, from: u64, deadline: Option<tokio::time::Instant>) {
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let _w = Waiting(&self.waiters);
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            // Pairs with the fence in `wake_readers` (no lost wake-up).
            std::sync::atomic::fence(Ordering::SeqCst);
            if self.readable() >= from {
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

/// Calls `f` with each record of a recorder's buffer (encoded, not yet committed: offsets,
/// timestamps and checksums are still zero), in order. Keyspace notifications derive from these.
pub fn for_each_uncommitted<'a>(buf: &'a [u8], mut f: impl FnMut(&EventRef<'a>)) {
    let mut p = 0;
    while let Some((ev, used)) = buf.get(p..).and_then(|b| decode_view(b, false)) {
        f(&ev);
        p += used;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(n: usize) -> Recorder {
        let mut r = Recorder::default();
        for i in 0..n {
            r.record_set(7, format!("k{i}").as_bytes(), b"v");
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
    fn trimmed_segments_are_reused_without_their_old_records() {
        let log = ChangeLog::new("e".into(), 0);
        for i in 0..20_000 {
            let mut r = Recorder::default();
            r.record_set(7, format!("k{i}").as_bytes(), b"v");
            log.commit(&mut r, 1);
        }
        // Each new segment took the one trimmed before it, and that one waits for the next.
        assert_eq!(log.inner.lock().spare.len(), 1);
        let first = log.first_offset();
        assert!(first > 1);
        let evs = log.read(first, 100_000).unwrap();
        assert_eq!(evs.len() as u64, 20_000 - first + 1);
        for e in &evs {
            assert_eq!(e.args[1], format!("k{}", e.offset - 1).as_bytes());
        }
        // Idle, the log keeps no spare.
        log.trim_idle();
        assert!(log.inner.lock().spare.is_empty());
    }

    #[test]
    fn images_round_trip_and_set_values_are_not_stored_twice() {
        let log = ChangeLog::new("e".into(), 1 << 30);
        let mut r = Recorder::default();
        let old = b"\x00\x03old";
        r.record_with(
            Who::client(1),
            0,
            b"k",
            "set",
            ChangeKind::Modify,
            ValueType::String,
            &[b"SET", b"k", b"new"],
            Images {
                old: Some(old),
                new: None,
                new_is_set_arg: true,
            },
        );
        log.commit(&mut r, 1);
        let ev = &log.read(1, 1).unwrap()[0];
        assert_eq!(ev.old.as_deref(), Some(&old[..]));
        assert_eq!(ev.new.as_deref(), Some(&b"\x00\x03new"[..]));
    }

    /// A log with a disk log in a fresh directory (see [`remove_disk`]).
    fn disk_log(tag: &str) -> ChangeLog {
        let dir = std::env::temp_dir().join(format!("eddy-log-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let (disk, _) = super::super::disk::DiskLog::open(dir).unwrap_or_else(|e| panic!("{e}"));
        ChangeLog::with_disk("e".into(), 1 << 30, Some(disk))
    }

    fn remove_disk(log: &ChangeLog) {
        if let Some(d) = &log.disk {
            let _ = std::fs::remove_dir_all(&d.dir);
        }
    }

    fn offsets(log: &ChangeLog) -> Vec<u64> {
        log.read(1, 100)
            .unwrap_or_else(|_| panic!("trimmed"))
            .iter()
            .map(|e| e.offset)
            .collect()
    }

    #[test]
    fn with_a_disk_log_readers_see_only_written_records_or_durable_ones_under_always() {
        let log = disk_log("readable");
        log.commit(&mut rec(3), 1);
        assert_eq!(log.last_offset(), 3);
        assert_eq!(offsets(&log), Vec::<u64>::new(), "nothing written yet");
        log.mark_written(2, false);
        assert_eq!(offsets(&log), vec![1, 2]);
        log.set_fsync_always(true);
        assert_eq!(
            offsets(&log),
            Vec::<u64>::new(),
            "always: nothing durable yet"
        );
        log.mark_durable(1);
        assert_eq!(offsets(&log), vec![1]);
        remove_disk(&log);
        // Without a disk log committed records are readable at once.
        let mem = ChangeLog::new("e".into(), 1 << 30);
        mem.commit(&mut rec(2), 1);
        assert_eq!(offsets(&mem), vec![1, 2]);
    }

    #[tokio::test]
    async fn a_waiting_reader_wakes_when_the_writer_marks_records_written() {
        let log = std::sync::Arc::new(disk_log("wake"));
        log.commit(&mut rec(1), 1);
        let l2 = log.clone();
        let waiter = tokio::spawn(async move { l2.wait_for(1, None).await });
        tokio::task::yield_now().await;
        assert!(
            !waiter.is_finished(),
            "a commit alone does not make a record readable"
        );
        log.mark_written(1, false);
        tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .unwrap_or_else(|_| panic!("the reader was not woken"))
            .unwrap_or_else(|e| panic!("{e}"));
        remove_disk(&log);
    }

    #[test]
    fn a_writer_pass_never_ends_inside_a_group() {
        let log = ChangeLog::new("e".into(), 1 << 30);
        log.commit(&mut rec(1), 1);
        log.commit(&mut rec(500), 1);
        log.commit(&mut rec(1), 1);
        let mut buf = PageBuf::default();
        // A pass of about 1 KiB would stop a few records into the group: it takes all of it.
        assert_eq!(log.copy_from(1, 1024, &mut buf).map(|x| x.0), Some(501));
        buf.clear();
        assert_eq!(log.copy_from(502, 1024, &mut buf).map(|x| x.0), Some(502));
    }

    #[test]
    fn corrupt_record_fails_its_checksum() {
        let log = ChangeLog::new("e".into(), 1 << 30);
        log.commit(&mut rec(1), 1);
        let g = log.inner.lock();
        let mut bytes = g.segments[0].data.to_vec();
        assert!(decode_record(&bytes).is_some());
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(decode_record(&bytes).is_none());
    }

    #[test]
    fn every_field_decodes_and_every_truncation_is_refused() {
        let log = ChangeLog::new("e".into(), 1 << 30);
        log.commit(&mut rec(1), 1);
        let mut r = Recorder::default();
        r.record_with(
            Who::client(0x0102_0304_0506),
            513,
            b"other",
            "hset",
            ChangeKind::Modify,
            ValueType::Hash,
            &[b"HSET", b"k", b"f", b"v"],
            Images::default(),
        );
        r.record_with(
            Who::client(9),
            2,
            b"k",
            "lpush",
            ChangeKind::Insert,
            ValueType::List,
            &[b"LPUSH", b"k", b"a"],
            Images::default(),
        );
        log.commit(&mut r, 1);
        let g = log.inner.lock();
        let data = &g.segments[0].data;
        let second = g.segments[0].starts[1] as usize;
        let (ev, n) = decode_view(&data[second..], true).unwrap();
        assert_eq!(n, g.segments[0].starts[2] as usize - second);
        assert_eq!((ev.offset, ev.tx_n, ev.client_id), (2, 2, 0x0102_0304_0506));
        assert!(ev.tx_id > 0 && ev.ts > 0);
        assert_eq!(
            (ev.origin, ev.change, ev.vtype),
            (Origin::Client, ChangeKind::Modify, ValueType::Hash)
        );
        assert_eq!((ev.db, ev.event, ev.key), (513, "hset", &b"other"[..]));
        assert_eq!(
            ev.args.iter().collect::<Vec<_>>(),
            [&b"HSET"[..], b"k", b"f", b"v"]
        );
        // The key stored as the effect's second argument.
        let (ev, _) = decode_view(&data[g.segments[0].starts[2] as usize..], true).unwrap();
        assert_eq!(
            (ev.db, ev.event, ev.key, ev.vtype),
            (2, "lpush", &b"k"[..], ValueType::List)
        );
        for cut in 0..n {
            assert!(
                decode_view(&data[second..second + cut], false).is_none(),
                "{cut}"
            );
        }
        // A record that says its key is the second argument but has one argument.
        let mut one = Vec::new();
        encode_record(
            &mut one,
            Who::client(1),
            0,
            b"k",
            "del",
            ChangeKind::Remove,
            ValueType::None,
            &[b"DEL", b"k"],
            Images::default(),
        );
        assert_eq!(decode_view(&one, false).unwrap().0.key, b"k");
        // The record ends with the argument count, then (length, "DEL") and (length, "k"):
        // say one argument and drop the last.
        let nargs_at = one.len() - (4 + 3) - (4 + 1) - 4;
        one[nargs_at..nargs_at + 4].copy_from_slice(&1u32.to_le_bytes());
        let total = one.len() - 4 - 1;
        one[..4].copy_from_slice(&((total - 4) as u32).to_le_bytes());
        one.truncate(total);
        assert!(decode_view(&one, false).is_none());
    }
}
