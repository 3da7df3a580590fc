//! The log writer thread: moves committed records from the in-memory tail to the disk segments
//! and fsyncs them by `appendfsync` (see `changes::disk` for the policy and its guarantees).
//!
//! It is an OS thread, not a task: `write` and `fsync` block, and a slow disk must never stall
//! the runtime that serves clients. Whoever holds the disk log's [`Tail`] writes a pass; that is
//! this thread, except under `appendfsync always`, where one of the clients waiting for their
//! writes to be durable leads the round: it lets every running client commit, then writes and
//! fsyncs for all of them ([`wait_durable_round`]). That client waits for the disk anyway, and
//! handing the pass to this thread cost two thread wake-ups per fsync.
//!
//! Passes are what make records readable (`changes::log`, "What readers see"): each pass
//! ends with one `mark_written` (and under `always` the fsync before it), which wakes the
//! readers waiting for the log; a pass never ends inside a group of records (MULTI/EXEC,
//! multi-key commands), because recovery reverts a group cut short.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::disk::{create_segment, SegMeta};
use super::log::WriterSleep;
use crate::server::Server;
use crate::util::pages::PageBuf;

/// Bytes copied from memory per pass (a pass is one `write`; 64 KiB writes already saturate
/// the disk).
const PASS_BYTES: usize = 64 << 10;
/// Under `always`, at most this many bytes are written between two fsyncs.
const SYNC_BATCH_BYTES: usize = 1 << 20;
/// While readers wait (not under `always`), passes start at most this often. A reader is
/// served only what a pass wrote, so an idle writer is woken by the commit a reader waits for;
/// at a high write rate that was a futex wake, a small `write` and a reader wake-up per commit
/// batch, a third more server CPU per write with one subscriber tailing. Pacing makes one pass
/// (and one reader wake-up) cover every commit of the interval, for at most this much delivery
/// latency; a commit after a quieter interval still wakes the writer at once. A pass costs the
/// readers about the same whatever it carries (a wake-up of each reader, of its connection and
/// of its client), so the gap sets the readers' overhead. With one subscriber tailing a million
/// pipelined SETs on two cores (3 alternating runs each), 200 µs cost 49–62k context switches
/// and 0.7–1.0 s of extra server CPU, 1 ms 33–36k and 0.2–0.5 s; the machine's noise hides
/// part of that in the throughput drop (`examples/feed_tail_impact.py`).
const READER_PASS_GAP: Duration = Duration::from_millis(1);
/// How long the writer sleeps between passes while records keep coming (not under `always`):
/// commits do not wake it, the tick collects them (`ChangeLog::commit_group`).
const TICK: Duration = Duration::from_millis(2);
/// After this many passes in a row found nothing, the writer sleeps until a commit wakes it
/// (or its housekeeping, or an `everysec` sync, is due) instead of ticking: an idle server
/// woke about 480 times a second for empty passes. A writer asleep costs the next commit a
/// wake-up; a few empty ticks first keep that to the first commit after a quiet spell.
const EMPTY_PASSES_TO_SLEEP: u32 = 5;
/// After a burst, what it freed goes back to the OS at most this often (bursts in a row would
/// otherwise trim the heap between each).
const RELEASE_GAP: Duration = Duration::from_millis(100);
/// `appendfsync everysec`: written records are synced this long after the last sync.
const EVERYSEC: Duration = Duration::from_secs(1);
/// Retention, memory release and the fsync policy are looked at this often.
const HOUSEKEEPING: Duration = Duration::from_secs(1);
/// Sparse index spacing (bytes) within a segment.
const INDEX_EVERY: u64 = 64 * 1024;

/// The segment being appended to.
pub struct Current {
    pub file: File,
    /// The file's length: its records, then zeros written ahead of them (`changes::disk`,
    /// "Files").
    pub end: u64,
}

impl Current {
    /// Writes zeros ahead of the records so the file reaches past `upto`, [`PAD_BYTES`] at a
    /// time (or a segment, if smaller). Records then overwrite blocks the file already has, and
    /// an fsync of them is a data flush; an append also changes the file's size and block map,
    /// which costs every fsync a journal commit as well. With 1,700-byte writes, each followed
    /// by `fdatasync`, on this ext4: 174-179 µs per sync appending, 105-111 µs into zeros.
    fn pad_past(&mut self, upto: u64, seg_bytes: u64) -> std::io::Result<()> {
        if upto <= self.end {
            return Ok(());
        }
        let n = PAD_BYTES.min(seg_bytes).max(upto - self.end);
        let zeros = zero_source();
        let mut done = 0;
        while done < n {
            let k = (n - done).min(zeros.len() as u64) as usize;
            self.file.write_all_at(&zeros[..k], self.end + done)?;
            done += k as u64;
        }
        self.end += n;
        Ok(())
    }

    /// Cuts the zeros off after the records (`records_end`) and syncs: a sealed segment, and
    /// the last one after a clean stop, ends with its last record.
    fn seal(&self, records_end: u64) -> std::io::Result<()> {
        if self.end > records_end {
            self.file.set_len(records_end)?;
        }
        self.file.sync_data()
    }
}

/// Where the records of the segment being written end: the size its listing counts (the file
/// goes on with zeros), or, before it is listed, the file's end.
fn records_end(disk: &super::disk::DiskLog, c: &Current) -> u64 {
    disk.segs.lock().last().map_or(c.end, |m| m.bytes)
}

/// How far ahead of its records the segment being written is filled with zeros.
const PAD_BYTES: u64 = 1 << 20;

/// [`PAD_BYTES`] of zeros to write from, resident in no one's memory: a read-only anonymous
/// mapping, whose pages all read as the kernel's shared zero page. A zeroed heap buffer was
/// memory the allocator kept: a 1 MiB `calloc`, once freed, raised glibc's mmap threshold, and
/// later ones came from the arena, written with zeros and left resident.
fn zero_source() -> &'static [u8] {
    static ZEROS: std::sync::OnceLock<&'static [u8]> = std::sync::OnceLock::new();
    ZEROS.get_or_init(|| {
        let len = PAD_BYTES as usize;
        // SAFETY: a new private anonymous mapping, asked for with no address, file or flags
        // that could alias anything; it is never written (PROT_READ) nor unmapped, so the
        // slice over it is valid for the life of the process.
        unsafe {
            let p = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                return Box::leak(vec![0u8; 64 << 10].into_boxed_slice());
            }
            std::slice::from_raw_parts(p as *const u8, len)
        }
    })
}

/// What a pass needs: the segment being appended to and the copy buffer. It lives in the disk
/// log behind a mutex; whoever holds it is the log's one writer for that pass (this thread, or
/// under `always` a client's connection task, see [`wait_durable_round`]).
#[derive(Default)]
pub struct Tail {
    current: Option<Current>,
    /// The pass's copy of its records, in a mapping of its own (`util::pages`), made on the
    /// first pass of a burst and dropped when the burst ends.
    buf: PageBuf,
    /// `changes-segment-bytes`, read when the writer starts.
    seg_bytes: u64,
}

/// Starts the writer; `current` is the last segment left open by recovery, if any.
pub fn spawn(srv: Arc<Server>, current: Option<Current>) -> std::thread::JoinHandle<()> {
    if let Some(disk) = srv.log.disk.as_ref() {
        let mut t = disk.tail.lock();
        t.current = current;
        t.seg_bytes = srv.config.get_i64("changes-segment-bytes").max(1 << 16) as u64;
    }
    std::thread::Builder::new()
        .name("eddy-log-writer".into())
        .spawn(move || run(&srv))
        .unwrap_or_else(|e| panic!("can't start the log writer thread: {e}"))
}

fn policy(srv: &Server) -> u8 {
    match srv.config.get("appendfsync").as_str() {
        "always" => 2,
        "everysec" => 1,
        _ => 0,
    }
}

/// Appends the next committed records after `written` (at most [`PASS_BYTES`]) to the
/// segment; returns the last offset appended, whether committed records remain and the bytes
/// written, or None when nothing was pending. The caller marks them written while it still
/// holds the tail, so the next pass starts after them.
fn write_pass(
    log: &super::log::ChangeLog,
    disk: &super::disk::DiskLog,
    t: &mut Tail,
) -> std::io::Result<Option<(u64, bool, usize)>> {
    let Tail {
        current,
        buf,
        seg_bytes,
    } = t;
    buf.clear();
    let from = log.written() + 1;
    if buf.capacity() == 0 && from <= log.last_offset() {
        // Room for a pass and the record that takes it past PASS_BYTES.
        *buf = PageBuf::with_capacity(PASS_BYTES + (1 << 16));
    }
    let Some((last, last_ts)) = log.copy_from(from, PASS_BYTES, buf) else {
        return Ok(None);
    };
    append(disk, current, *seg_bytes, from, last, last_ts, buf)?;
    let n = buf.len();
    if buf.capacity() > 2 * PASS_BYTES {
        // A large record grew it: give that back now.
        *buf = PageBuf::default();
    }
    Ok(Some((last, !copied_all(log, last), n)))
}

/// Group commit under `appendfsync always`, awaited by a connection task whose batch committed
/// `offset`, before it replies: Redis's event loop writes and fsyncs its AOF buffer once per
/// round, after it has read and run every ready client, before it replies to any.
///
/// The first client of a round to get here leads it (`ChangeLog::lead_round`); the others wait
/// for the leader without waking anyone. The leader yields (tokio polls it again once every
/// ready task has run and the I/O driver was polled) until a tick passes with no new commit,
/// at most [`ROUND_TICKS`] times, so the round takes in every client that is running; then it
/// writes and fsyncs everything committed so far on its own thread ([`sync_inline`]).
///
/// Measured (`redis-benchmark -c 50 -t set`, AOF `always` on both): one yield per round gave
/// 17-18 writes per fsync against Redis's 19-28, and four ticks 25-29; handing the sync to the
/// writer thread gave 11-17, because the writer started its fsync at a round's first commit.
pub async fn wait_durable_round(srv: &Server, offset: u64) {
    let log = &srv.log;
    if log.disk.is_none() {
        // Nothing is ever synced without a disk log (`always` is never set then).
        return;
    }
    loop {
        if log.durable() >= offset {
            return;
        }
        let Some(lead) = log.lead_round() else {
            if log.wait_round(offset).await {
                return;
            }
            continue;
        };
        let mut seen = log.last_offset();
        for _ in 0..ROUND_TICKS {
            tokio::task::yield_now().await;
            let now = log.last_offset();
            if now == seen {
                break;
            }
            seen = now;
        }
        let synced = sync_inline(srv, offset);
        drop(lead);
        if !synced {
            // The tail is busy or failing: the writer thread (which `wait_durable` wakes) syncs.
            log.wait_durable(offset).await;
            return;
        }
    }
}

/// The most scheduler ticks a group-commit round waits for more clients to commit. Each tick
/// costs the round's clients latency, and each fsync saved pays back CPU. Against Redis's
/// `always` (SET, 50 clients, six alternating rounds per setting) the median throughput ratio
/// was 0.81-0.82 with 1 tick, 0.95 with 2 or 3, 0.84-1.01 with 4 (1 tick beside it: 0.81), and
/// 0.96 with 8.
const ROUND_TICKS: usize = 4;

/// Writes and fsyncs everything committed so far, on the calling thread, unless `offset` is
/// durable already; false if it could not (another thread holds the tail, the writer has not
/// started, a write failed). This blocks the worker for a write and an fsync, as Redis blocks its
/// event loop; the worker's other clients wait for it, and under `always` they wait for an fsync
/// anyway.
fn sync_inline(srv: &Server, offset: u64) -> bool {
    let log = &srv.log;
    let Some(disk) = log.disk.as_ref() else {
        return true;
    };
    let Some(mut t) = disk.tail.try_lock() else {
        return false;
    };
    if log.durable() >= offset {
        return true;
    }
    // Before the writer starts (recovery still holds the last segment) there is nothing to do.
    if t.seg_bytes == 0 {
        return false;
    }
    // Bounded: commits made meanwhile on other threads wait for the next round.
    let target = log.last_offset();
    let mut last = log.written();
    loop {
        match write_pass(log, disk, &mut t) {
            Ok(Some((l, more, _))) => {
                last = l;
                if !more || l >= target {
                    break;
                }
                log.mark_written(l, false);
            }
            Ok(None) => break,
            Err(e) => {
                tracing::error!(error = %e, "writing the change log failed");
                return false;
            }
        }
    }
    fsync(srv, &t.current);
    log.mark_written(last, true);
    true
}

fn run(srv: &Server) {
    let log = &srv.log;
    let Some(disk) = log.disk.as_ref() else {
        return;
    };
    let mut last_sync = Instant::now();
    let mut last_housekeeping = Instant::now();
    let mut dirty = false;
    let mut pol = policy(srv);
    log.set_fsync_always(pol == 2);
    // True when the last pass left records behind: the next pass starts at once.
    let mut more = false;
    let mut busy = false;
    let mut last_release = Instant::now();
    let mut unsynced = 0usize;
    let mut last_pass = Instant::now();
    let mut empty_passes = 0u32;
    loop {
        let stopping = srv.shutting_down();
        if !stopping && !more {
            if pol != 2 && log.readers_wait() {
                if let Some(rest) = READER_PASS_GAP.checked_sub(last_pass.elapsed()) {
                    std::thread::sleep(rest);
                }
            }
            if pol == 2 {
                // Clients write their own rounds; the writer only tidies up.
                log.writer_wait(Duration::from_millis(100), WriterSleep::Tick);
            } else if empty_passes >= EMPTY_PASSES_TO_SLEEP {
                let mut until = last_housekeeping + HOUSEKEEPING;
                if dirty && pol == 1 {
                    until = until.min(last_sync + EVERYSEC);
                }
                if busy {
                    // The burst's memory goes back once its release is due (below).
                    until = until.min(last_release + RELEASE_GAP);
                }
                let timeout = until.saturating_duration_since(Instant::now());
                log.writer_wait(timeout.max(TICK), WriterSleep::Asleep);
            } else {
                log.writer_wait(TICK, WriterSleep::Tick);
            }
        }
        let mut t = disk.tail.lock();
        match write_pass(log, disk, &mut t) {
            Err(e) => {
                drop(t);
                tracing::error!(error = %e, "writing the change log failed; retrying");
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            Ok(Some((last, m, n))) => {
                last_pass = Instant::now();
                empty_passes = 0;
                more = m;
                unsynced += n;
                // `always`: one fsync covers every record written so far, so passes that leave
                // records behind write on and sync once at the end (bounded, so a flood still
                // gets its acknowledgements).
                let sync = (pol == 2 && (!more || unsynced >= SYNC_BATCH_BYTES)) || stopping;
                if sync {
                    unsynced = 0;
                    last_sync = fsync(srv, &t.current);
                }
                log.mark_written(last, sync);
                drop(t);
                log.trim();
                dirty = !sync;
                busy = true;
            }
            Ok(None) => {
                drop(t);
                more = false;
                empty_passes = empty_passes.saturating_add(1);
                // A burst just ended: give back what it freed (the tail it held, reply
                // buffers) promptly rather than at the next housekeeping tick.
                if busy && last_release.elapsed() >= RELEASE_GAP {
                    busy = false;
                    // The copy buffer too: its pages stay resident while it is mapped.
                    disk.tail.lock().buf = PageBuf::default();
                    log.trim_idle();
                    last_release = Instant::now();
                    crate::util::alloc::release_freed(256 << 10);
                }
            }
        }
        // `always` leaves nothing dirty: records written under `everysec` just before a switch
        // to `always` are readable only once durable, so they are synced now, not at the next
        // write.
        let due = match pol {
            2 => !more,
            1 => last_sync.elapsed() >= EVERYSEC,
            _ => false,
        };
        if dirty && (due || stopping) {
            let t = disk.tail.lock();
            last_sync = fsync(srv, &t.current);
            log.mark_durable(log.written());
            dirty = false;
        }
        if pol == 0 && dirty {
            // `appendfsync no`: the OS decides; report what was handed to it.
            log.mark_durable(log.written());
            dirty = false;
        }
        if stopping && log.written() >= log.last_offset() && !dirty {
            // The zeros ahead of the records go, so every segment a clean stop leaves ends
            // with its last record; and the sync is what a clean stop promises under `no`,
            // where nothing was forced yet (`persistence`, the RUN file).
            let t = disk.tail.lock();
            if let Some(c) = t.current.as_ref() {
                if let Err(e) = c.seal(records_end(disk, c)) {
                    tracing::error!(error = %e, "closing the change log failed");
                }
            }
            return;
        }
        if last_housekeeping.elapsed() >= HOUSEKEEPING {
            last_housekeeping = Instant::now();
            // Also here, for passes the writer did not make (`always`: clients write their
            // rounds); under steady writes this frees at most one segment a second.
            log.trim_idle();
            crate::util::alloc::release_freed(256 << 10);
            pol = policy(srv);
            log.set_fsync_always(pol == 2);
            let cfg = &srv.config;
            disk.apply_retention(
                crate::util::now_ms(),
                cfg.get_i64("changes-retention-ms").max(0) as u64,
                cfg.get_i64("changes-retention-bytes").max(0) as u64,
                srv.persist.snapshot_offset.load(Ordering::Relaxed),
            );
        }
    }
}

/// Syncs the current segment's data to disk and notes when (INFO's last fsync); returns the time.
fn fsync(srv: &Server, current: &Option<Current>) -> Instant {
    if let Some(c) = current {
        if let Err(e) = c.file.sync_data() {
            tracing::error!(error = %e, "fsync of the change log failed");
        }
    }
    srv.persist
        .last_fsync_ms
        .store(crate::util::now_ms(), Ordering::Relaxed);
    Instant::now()
}

fn copied_all(log: &super::log::ChangeLog, last: u64) -> bool {
    last >= log.last_offset()
}

/// Appends whole records (`buf`, offsets `from..=last`) to the current segment, starting a new
/// segment first when the current one is full.
fn append(
    disk: &super::disk::DiskLog,
    current: &mut Option<Current>,
    seg_bytes: u64,
    from: u64,
    last: u64,
    last_ts: u64,
    buf: &[u8],
) -> std::io::Result<()> {
    // Where the current segment's records end, unless a new segment is due.
    let open_end = {
        let segs = disk.segs.lock();
        match (segs.last(), current.is_some()) {
            (Some(m), true) if m.bytes < seg_bytes || m.last < m.first => Some(m.bytes),
            _ => None,
        }
    };
    let at = match open_end {
        Some(at) => at,
        None => {
            if let Some(c) = current.take() {
                c.seal(records_end(disk, &c))?;
            }
            let (file, meta) = create_segment(&disk.dir, from)?;
            let at = meta.bytes;
            disk.segs.lock().push(meta);
            *current = Some(Current { file, end: at });
            at
        }
    };
    let Some(c) = current.as_mut() else {
        return Ok(());
    };
    c.pad_past(at + buf.len() as u64, seg_bytes)?;
    c.file.write_all(buf)?;
    let mut segs = disk.segs.lock();
    if let Some(m) = segs.last_mut() {
        index_records(m, buf, from);
        m.last = last;
        m.last_ts = last_ts;
    }
    Ok(())
}

/// Adds sparse index entries for the records in `buf` (first offset `from`), appended at the
/// end of segment `m`, and advances its size.
fn index_records(m: &mut SegMeta, buf: &[u8], from: u64) {
    let mut p = 0usize;
    let mut off = from;
    let mut last_indexed = m.index.last().map(|&(_, pos)| pos).unwrap_or(0);
    while p + 4 <= buf.len() {
        let len = u32::from_le_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]) as usize;
        let pos = m.bytes + p as u64;
        if m.index.is_empty() || pos - last_indexed >= INDEX_EVERY {
            m.index.push((off, pos));
            last_indexed = pos;
        }
        p += 4 + len;
        off += 1;
    }
    m.bytes += buf.len() as u64;
}
