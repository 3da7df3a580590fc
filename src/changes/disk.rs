//! The change log on disk: segment files, the writer thread, scanning for recovery and catch-up
//! reads, and retention.
//!
//! ## Files
//! `<dir>/changes/<first offset, 20 digits>.log`. A segment starts with a 16-byte header
//! (`EDDYLOG1` + the u64 little-endian first offset) followed by records in exactly the in-memory
//! format documented in `changes::log` (length, CRC-32, fields). A segment is sealed once it
//! reaches `changes-segment-bytes`; the next one starts at the next offset.
//!
//! The segment being written is followed by up to 1 MiB of zeros (`changes::writer::Current`):
//! the writer fills the file with zeros ahead of its records and then writes the records over
//! them, so syncing a record flushes data only. An append would also change the file's size
//! and block map, and every fsync would then wait for a journal commit as well (on this ext4,
//! 105-111 µs per `fdatasync` into zeros against 174-179 appending; SET at 50 clients with
//! `appendfsync always` on both, 0.91-0.98 × Redis before, 1.05-1.25 × after). Sealing a
//! segment, and a clean stop, cut the zeros off, so at rest every segment ends with its last
//! record; sizes reported (`INFO changes`, retention) count records only.
//!
//! ## Recovery: a torn tail or damage
//! A scan reads records until the first bytes that are not the next record, then looks at
//! what follows them ([`after_bad_record`]). Only zeros: the writer's zeros, left by a crash; the
//! records end there. A record that checks out (offset at or after the one expected): the bad
//! bytes are damage in the middle of the log, and start-up stops naming the file and byte
//! (`changes-load-corrupt yes` starts from the last good record instead). Anything else: a
//! write cut short by a crash, truncated with a warning. A crash can leave any part of an
//! unsynced write on disk (the blocks were allocated beforehand, so nothing orders them), which
//! is why the tear is told by what follows it rather than by the file's end. The rare crash
//! that kept a later block of an unsynced write and lost an earlier one reads as damage; with
//! `appendfsync always` no acknowledged record is in such a write.
//!
//! ## Writing and durability
//! One writer thread follows the in-memory log: it copies the records committed since its last
//! pass, appends them to the current segment with one `write`, and fsyncs by `appendfsync`:
//! `always` fsyncs after every pass and only then publishes the durable offset — clients that
//! wrote wait for it before their replies go out. Under `always` the pass is normally written by
//! one of those clients' connection tasks, the round's leader, once the scheduler has run every
//! client that was ready, so one fsync covers the round, as in Redis's event loop (group commit,
//! `changes::writer::wait_durable_round`); `everysec` fsyncs at most once a second; `no` leaves
//! it to the OS. Under `everysec`/`no` the writer passes every couple of milliseconds while
//! records keep coming (and the first commit after a quiet spell wakes it), so a process crash
//! (SIGKILL) loses at most that window and a power cut at most ~1 s. Readers never
//! see that window: they are served only written records (durable ones under `always`, see
//! `changes::log`), and a power cut that may have lost written records changes the epoch at the
//! next start (`persistence`).
//!
//! ## Retention
//! A sealed segment is deleted when it is covered by a snapshot (all its offsets ≤ the snapshot's)
//! and it is older than `changes-retention-ms` or the total exceeds `changes-retention-bytes`.
//! Readers asking for an offset before the first segment get an explicit error naming the
//! earliest offset.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::log::{decode_record, decode_view, EventRef};
use super::writer::Current;
use super::ChangeEvent;

pub const HEADER: &[u8; 8] = b"EDDYLOG1";
const HEADER_LEN: u64 = 16;
/// A sparse index entry is kept every this many bytes of a segment.
const INDEX_EVERY: u64 = 64 * 1024;
/// Bytes a catch-up read asks the file for at a time.
const READ_CHUNK: usize = 64 << 10;

thread_local! {
    /// A catch-up reader's file buffer, reused across reads on this thread.
    static DISK_SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Largest record accepted when scanning (a record holds at most a few bulk arguments of
/// `proto-max-bulk-len`); anything larger is corruption.
pub const MAX_RECORD: usize = 1 << 31;

#[derive(Debug, Clone)]
pub struct SegMeta {
    pub first: u64,
    /// Last offset in the segment (first - 1 when empty).
    pub last: u64,
    pub bytes: u64,
    pub last_ts: u64,
    pub path: PathBuf,
    /// (offset, byte position) of some records, for seeking.
    pub index: Vec<(u64, u64)>,
}

pub struct DiskLog {
    pub dir: PathBuf,
    pub segs: Mutex<Vec<SegMeta>>,
    /// The segment being appended to; whoever holds it writes (`changes::writer`).
    pub tail: Mutex<super::writer::Tail>,
    /// Where recent catch-up reads stopped inside a segment: (next offset, byte position of its
    /// record). A reader that goes on from there starts at its record; from the sparse index it
    /// would read and skip up to [`INDEX_EVERY`] bytes of records first, for every batch.
    /// Segments are only ever appended to while the server runs, so a position stays right; it
    /// is checked against the record found there all the same.
    resume: Mutex<[(u64, u64); RESUME_SLOTS]>,
    /// Reads served from the segment files (`INFO changes`: `changes_disk_reads`).
    reads: AtomicU64,
}

/// Catch-up readers whose next position is remembered (a few triggers or subscribers behind
/// the in-memory tail at once; more share the slots and sometimes start from the index).
const RESUME_SLOTS: usize = 8;

pub fn segment_path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:020}.log"))
}

/// What a scan of one segment found.
pub struct Scan {
    pub meta: SegMeta,
    /// Byte position where valid records end.
    pub valid_end: u64,
    /// Set when the bytes after `valid_end` are not a torn tail: a record that is complete but
    /// fails its checksum, or an offset gap.
    pub corrupt: Option<String>,
    /// Bytes after `valid_end` (a torn tail when `corrupt` is None).
    pub trailing: u64,
}

impl DiskLog {
    /// Lists existing segments (sorted) without reading them.
    pub fn open(dir: PathBuf) -> std::io::Result<(DiskLog, Vec<PathBuf>)> {
        fs::create_dir_all(&dir)?;
        let mut files: Vec<(u64, PathBuf)> = Vec::new();
        for e in fs::read_dir(&dir)? {
            let p = e?.path();
            let Some(name) = p.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some(num) = name.strip_suffix(".log") {
                if let Ok(first) = num.parse::<u64>() {
                    files.push((first, p));
                }
            }
        }
        files.sort();
        Ok((
            DiskLog {
                dir,
                segs: Mutex::new(Vec::new()),
                tail: Mutex::new(Default::default()),
                resume: Mutex::new([(0, 0); RESUME_SLOTS]),
                reads: AtomicU64::new(0),
            },
            files.into_iter().map(|(_, p)| p).collect(),
        ))
    }

    /// Reads a segment record by record, calling `f` for each valid one, and reports where the
    /// valid part ends and what follows it.
    pub fn scan(
        path: &Path,
        expect_first: Option<u64>,
        mut f: impl FnMut(u64, &[u8], &ChangeEvent),
    ) -> std::io::Result<Scan> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut r = BufReader::with_capacity(1 << 20, file);
        let mut hdr = [0u8; 16];
        let name = path.display().to_string();
        if len < HEADER_LEN || r.read_exact(&mut hdr).is_err() || &hdr[..8] != HEADER {
            return Ok(Scan {
                meta: empty_meta(path, expect_first.unwrap_or(0)),
                valid_end: 0,
                corrupt: (len >= HEADER_LEN).then(|| format!("{name}: bad segment header")),
                trailing: len,
            });
        }
        let first = u64::from_le_bytes(hdr[8..16].try_into().unwrap_or_default());
        let mut meta = empty_meta(path, first);
        let mut pos = HEADER_LEN;
        let mut expected = first;
        let mut buf: Vec<u8> = Vec::new();
        let mut last_index = 0u64;
        loop {
            if pos == len {
                return Ok(Scan {
                    meta,
                    valid_end: pos,
                    corrupt: None,
                    trailing: 0,
                });
            }
            let mut lb = [0u8; 4];
            let short = len - pos < 4 || r.read_exact(&mut lb).is_err();
            let rlen = u32::from_le_bytes(lb) as usize;
            // Why the bytes at `pos` are not the next record, if they are not; what that means
            // depends on what follows them (`after_bad_record`).
            let bad = if short {
                Some("partial record")
            } else if rlen == 0 {
                Some("zero-length record")
            } else if (rlen as u64) > len - pos - 4 {
                Some("record longer than the file")
            } else if rlen > MAX_RECORD {
                Some("oversized record")
            } else {
                None
            };
            let checked = match bad {
                Some(why) => Err(why),
                None => {
                    buf.clear();
                    buf.extend_from_slice(&lb);
                    buf.resize(4 + rlen, 0);
                    r.read_exact(&mut buf[4..])?;
                    decode_record(&buf).ok_or("checksum mismatch")
                }
            };
            let why = match checked {
                Ok((ev, _)) if ev.offset == expected => {
                    f(pos, &buf, &ev);
                    if meta.index.is_empty() || pos - last_index >= INDEX_EVERY {
                        meta.index.push((ev.offset, pos));
                        last_index = pos;
                    }
                    meta.last = ev.offset;
                    meta.last_ts = ev.ts;
                    expected += 1;
                    pos += 4 + rlen as u64;
                    meta.bytes = pos;
                    continue;
                }
                Ok((ev, _)) => {
                    // A record that checks out but is out of sequence is never a torn write.
                    return Ok(Scan {
                        meta,
                        valid_end: pos,
                        corrupt: Some(format!(
                            "{name}: offset {} at byte {pos} where {expected} was expected",
                            ev.offset
                        )),
                        trailing: len - pos,
                    });
                }
                Err(why) => why,
            };
            let (corrupt, trailing) = match after_bad_record(r.get_ref(), pos, len, expected)? {
                After::Zeros => (None, 0),
                After::Torn => (None, len - pos),
                After::Records => (Some(format!("{name}: {why} at byte {pos}")), len - pos),
            };
            return Ok(Scan {
                meta,
                valid_end: pos,
                corrupt,
                trailing,
            });
        }
    }

    /// Calls `f` for up to `count` records with offset >= `from`, borrowed from a reused read
    /// buffer; returns how many. A reader that fell behind the in-memory tail (a trigger with a
    /// backlog, a catch-up subscriber) reads here batch after batch, so a read allocates
    /// nothing per record and reads the file in chunks at positions (`pread`), starting from
    /// the sparse index entry before `from`.
    pub fn read_with(
        &self,
        from: u64,
        count: usize,
        mut f: impl FnMut(&EventRef<'_>),
    ) -> std::io::Result<usize> {
        let mut buf = DISK_SPARE.with(|s| s.take());
        let r = self.read_into(&mut buf, from, count, &mut f);
        if buf.capacity() <= 1 << 20 {
            DISK_SPARE.with(|s| s.set(buf));
        }
        if matches!(r, Ok(n) if n > 0) {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        r
    }

    /// How many reads the segment files served (a reader behind the in-memory tail).
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// The byte position remembered for the record at `offset`, taken out of its slot.
    fn take_resume(&self, offset: u64) -> Option<u64> {
        let mut slots = self.resume.lock();
        let slot = slots.iter_mut().find(|(o, _)| *o == offset && offset > 0)?;
        let pos = slot.1;
        *slot = (0, 0);
        Some(pos)
    }

    /// Remembers that the record at `offset` starts at byte `pos` of its segment, in a free
    /// slot or else in place of the lowest offset (the reader furthest behind).
    fn keep_resume(&self, offset: u64, pos: u64) {
        let mut slots = self.resume.lock();
        if let Some(slot) = slots.iter_mut().min_by_key(|(o, _)| *o) {
            *slot = (offset, pos);
        }
    }

    fn read_into(
        &self,
        buf: &mut Vec<u8>,
        from: u64,
        count: usize,
        f: &mut impl FnMut(&EventRef<'_>),
    ) -> std::io::Result<usize> {
        let mut n = 0;
        let mut at = from;
        while n < count {
            // Only what this read needs from the segment list (not its index).
            let found = {
                let segs = self.segs.lock();
                segs.iter()
                    .find(|s| s.last >= at && s.last >= s.first)
                    .map(|s| {
                        let start = s
                            .index
                            .iter()
                            .rev()
                            .find(|(o, _)| *o <= at)
                            .map_or(HEADER_LEN, |&(_, p)| p);
                        (s.path.clone(), start, s.bytes, s.last)
                    })
            };
            let Some((path, start, end, seg_last)) = found else {
                break;
            };
            let file = File::open(&path)?;
            let resume = self.take_resume(at).filter(|&r| r > start && r < end);
            // `buf` holds the file's bytes from `base`; `p` is where the next record starts.
            buf.clear();
            let mut base = resume.unwrap_or(start);
            let mut p = 0usize;
            let mut check_resume = resume.is_some();
            while n < count {
                let have = buf.len() - p;
                if check_resume && have >= 16 {
                    check_resume = false;
                    if buf[p + 8..p + 16] != at.to_le_bytes() {
                        // Not the record expected there: read from the index entry instead.
                        buf.clear();
                        base = start;
                        continue;
                    }
                }
                let need = if have >= 4 {
                    4 + u32::from_le_bytes([buf[p], buf[p + 1], buf[p + 2], buf[p + 3]]) as usize
                } else {
                    4
                };
                if have >= need {
                    let rec = &buf[p..p + need];
                    // Records before `at` (from the index entry on) are skipped unverified.
                    let off = rec
                        .get(8..16)
                        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()));
                    if off >= at {
                        if let Some((ev, _)) = decode_view(rec, true) {
                            at = ev.offset + 1;
                            n += 1;
                            f(&ev);
                        }
                    }
                    p += need;
                    continue;
                }
                let filled = base + buf.len() as u64;
                if need - 4 > MAX_RECORD || filled >= end {
                    break;
                }
                buf.drain(..p);
                base += p as u64;
                p = 0;
                let want = ((need - buf.len()).max(READ_CHUNK) as u64).min(end - filled) as usize;
                let old = buf.len();
                buf.resize(old + want, 0);
                let got = file.read_at(&mut buf[old..], filled)?;
                if got == 0 {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                buf.truncate(old + got);
            }
            if n == count && at <= seg_last {
                self.keep_resume(at, base + p as u64);
                break;
            }
            // The segment is done (or unreadable past this point): go on after it.
            at = at.max(seg_last + 1);
        }
        Ok(n)
    }

    pub fn first_offset(&self) -> Option<u64> {
        self.segs
            .lock()
            .iter()
            .find(|s| s.last >= s.first)
            .map(|s| s.first)
    }

    pub fn bytes(&self) -> u64 {
        self.segs.lock().iter().map(|s| s.bytes).sum()
    }

    /// Deletes sealed segments covered by `snapshot_offset` that are older than `max_age_ms`
    /// (relative to `now`) or beyond `max_bytes` in total (0 = no size limit).
    pub fn apply_retention(&self, now: u64, max_age_ms: u64, max_bytes: u64, snapshot_offset: u64) {
        let mut segs = self.segs.lock();
        let mut total: u64 = segs.iter().map(|s| s.bytes).sum();
        while segs.len() > 1 {
            let s = &segs[0];
            let covered = s.last <= snapshot_offset;
            let old = now.saturating_sub(s.last_ts) > max_age_ms;
            let big = max_bytes > 0 && total > max_bytes;
            if !(covered && (old || big)) {
                break;
            }
            if let Err(e) = fs::remove_file(&s.path) {
                tracing::warn!(path = %s.path.display(), error = %e, "can't delete log segment");
                break;
            }
            tracing::info!(path = %s.path.display(), "log segment deleted by retention");
            total -= s.bytes;
            segs.remove(0);
        }
    }
}

fn empty_meta(path: &Path, first: u64) -> SegMeta {
    SegMeta {
        first,
        last: first.saturating_sub(1),
        bytes: HEADER_LEN,
        last_ts: 0,
        path: path.to_path_buf(),
        index: Vec::new(),
    }
}

/// What follows the first bytes of a segment that are not the next record (at `pos`).
enum After {
    /// Only zeros: the padding the writer keeps ahead of its records (see "Files"), left by a
    /// crash. The records end cleanly at `pos`.
    Zeros,
    /// Something that is not a record, nor followed by one: a write cut short by a crash.
    Torn,
    /// A record that checks out, with an offset at or after the one expected at `pos`: the
    /// bytes at `pos` are damage in the middle of the log.
    Records,
}

/// Tells a torn tail from damage in the middle. With the segment preallocated in zeros, a
/// crash can leave any part of an unsynced write on disk, so neither the file's end nor a bad
/// checksum on the last record marks the tear; what does is that nothing valid follows it. The
/// search looks at every byte position (a record's length and offset fields must be plausible
/// before its checksum is computed), so it is linear in the bytes after `pos`; it runs only
/// when a segment does not end cleanly.
fn after_bad_record(file: &File, pos: u64, len: u64, expected: u64) -> std::io::Result<After> {
    const WINDOW: u64 = 1 << 20;
    // A record is at least 16 bytes after its length field, so at most this many follow.
    let max_offset = expected.saturating_add((len - pos) / 16);
    let mut win = Vec::new();
    let mut rec = Vec::new();
    let mut zeros = true;
    let mut base = pos;
    while base < len {
        // Each window also holds the next window's first 15 bytes, so a header that straddles
        // two windows is seen whole.
        let n = (len - base).min(WINDOW + 15) as usize;
        win.resize(n, 0);
        file.read_exact_at(&mut win, base)?;
        zeros = zeros && win.iter().all(|&b| b == 0);
        let starts = n.min(WINDOW as usize);
        for q in 0..starts {
            let at = base + q as u64;
            let Some(h) = win.get(q..q + 16) else {
                break;
            };
            let rlen = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as u64;
            let off = u64::from_le_bytes(h[8..16].try_into().unwrap_or_default());
            if at == pos || rlen < 16 || rlen > len - at - 4 || off < expected || off > max_offset {
                continue;
            }
            rec.resize(4 + rlen as usize, 0);
            file.read_exact_at(&mut rec, at)?;
            if decode_record(&rec).is_some_and(|(ev, _)| ev.offset == off) {
                return Ok(After::Records);
            }
        }
        base += WINDOW;
    }
    Ok(if zeros { After::Zeros } else { After::Torn })
}

/// Creates a new empty segment starting at `first`.
pub fn create_segment(dir: &Path, first: u64) -> std::io::Result<(File, SegMeta)> {
    let path = segment_path(dir, first);
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(&path)?;
    f.write_all(HEADER)?;
    f.write_all(&first.to_le_bytes())?;
    f.sync_all()?;
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok((f, empty_meta(&path, first)))
}

/// Opens an existing segment for appending at `valid_end` (truncating anything after it, the
/// zeros a crash left included).
pub fn reopen_segment(meta: &SegMeta, valid_end: u64) -> std::io::Result<Current> {
    let mut file = OpenOptions::new().write(true).open(&meta.path)?;
    file.set_len(valid_end)?;
    file.seek(SeekFrom::Start(valid_end))?;
    Ok(Current {
        file,
        end: valid_end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::log::ChangeLog;
    use crate::changes::Recorder;

    /// A segment of `n` records written the way the writer writes them, registered in a fresh
    /// disk log.
    fn disk_with(tag: &str, n: usize) -> DiskLog {
        let dir = std::env::temp_dir().join(format!("eddy-disk-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (disk, _) = DiskLog::open(dir.clone()).unwrap_or_else(|e| panic!("{e}"));
        let (bytes, _) = segment_bytes(n);
        let path = segment_path(&dir, 1);
        fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{e}"));
        let scan = DiskLog::scan(&path, Some(1), |_, _, _| {}).unwrap_or_else(|e| panic!("{e}"));
        assert!(scan.corrupt.is_none());
        disk.segs.lock().push(scan.meta);
        disk
    }

    /// A segment's bytes holding records 1..=n, and each record's (start, length).
    fn segment_bytes(n: usize) -> (Vec<u8>, Vec<(usize, usize)>) {
        let log = ChangeLog::new("e".into(), 1 << 30);
        let mut r = Recorder::default();
        for i in 0..n {
            r.record_set(1, format!("key:{i}").as_bytes(), &[b'v'; 100]);
        }
        log.commit(&mut r, 1);
        let mut bytes = HEADER.to_vec();
        bytes.extend_from_slice(&1u64.to_le_bytes());
        let mut tail = crate::util::pages::PageBuf::default();
        assert!(log.copy_from(1, usize::MAX, &mut tail).is_some());
        bytes.extend_from_slice(&tail);
        let mut recs = Vec::new();
        let mut p = HEADER_LEN as usize;
        while p < bytes.len() {
            let len =
                4 + u32::from_le_bytes(bytes[p..p + 4].try_into().unwrap_or_default()) as usize;
            recs.push((p, len));
            p += len;
        }
        assert_eq!(recs.len(), n);
        (bytes, recs)
    }

    fn scan_of(tag: &str, bytes: &[u8]) -> Scan {
        let path = std::env::temp_dir().join(format!("eddy-scan-{tag}-{}.log", std::process::id()));
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("{e}"));
        let scan = DiskLog::scan(&path, Some(1), |_, _, _| {}).unwrap_or_else(|e| panic!("{e}"));
        let _ = fs::remove_file(&path);
        scan
    }

    #[test]
    fn zeros_end_a_segment_and_only_records_after_damage_make_it_corruption() {
        let (good, recs) = segment_bytes(50);
        let end = good.len() as u64;
        let (last_start, last_len) = recs[49];
        let with = |mut b: Vec<u8>, tail: &[u8]| {
            b.extend_from_slice(tail);
            b
        };
        // The writer's zeros ahead of the records, left by a crash: a clean end, nothing torn.
        for zeros in [3, 5000, (1 << 20) + 7] {
            let s = scan_of("zeros", &with(good.clone(), &vec![0; zeros]));
            assert_eq!((s.valid_end, s.trailing, s.meta.last), (end, 0, 50));
            assert!(s.corrupt.is_none());
        }
        // A last record cut short or damaged, then zeros or stray bytes: torn, truncated.
        let torn = [
            with(good[..last_start + 30].to_vec(), &[0; 4000]),
            {
                let mut b = with(good.clone(), &[0; 4000]);
                b[last_start + last_len - 1] ^= 0x5A;
                b
            },
            with(good.clone(), &[0x37, 0xA5, 0x01, 0, 0, 9]),
        ];
        for (i, b) in torn.iter().enumerate() {
            let s = scan_of("torn", b);
            assert!(s.corrupt.is_none(), "case {i}: {:?}", s.corrupt);
            assert!(s.trailing > 0, "case {i}");
            let want = if i == 2 {
                (end, 50)
            } else {
                (last_start as u64, 49)
            };
            assert_eq!((s.valid_end, s.meta.last), want, "case {i}");
        }
        // Damage followed by a record that checks out is in the middle of the log, also when
        // the damage is zeros (a page of an unsynced write lost while a later one was kept).
        let (p30, l30) = recs[29];
        let mut flipped = with(good.clone(), &[0; 100]);
        flipped[p30 + l30 - 1] ^= 0x5A;
        let mut hole = good.clone();
        hole[p30..p30 + l30].fill(0);
        for (b, why) in [(flipped, "checksum mismatch"), (hole, "zero-length record")] {
            let s = scan_of("middle", &b);
            let msg = s.corrupt.unwrap_or_default();
            assert!(msg.ends_with(&format!("{why} at byte {p30}")), "{msg}");
            assert_eq!((s.valid_end, s.meta.last), (p30 as u64, 29));
        }
        // The search reads 1 MiB at a time: the one record after the damage, its header
        // starting 5 bytes before a window's end, is still found (each window holds the next
        // one's first 15 bytes).
        let mut far = good[..last_start].to_vec();
        far.extend(std::iter::repeat_n(0x37, (1 << 20) - 5));
        far.extend_from_slice(&good[last_start..]);
        let s = scan_of("far", &far);
        let msg = s.corrupt.unwrap_or_default();
        let want = format!("record longer than the file at byte {last_start}");
        assert!(msg.ends_with(&want), "{msg}");
    }

    fn batch(disk: &DiskLog, from: u64, count: usize) -> Vec<u64> {
        let mut got = Vec::new();
        disk.read_with(from, count, |ev| got.push(ev.offset))
            .unwrap_or_else(|e| panic!("{e}"));
        got
    }

    #[test]
    fn a_catch_up_reader_goes_on_where_its_last_batch_stopped() {
        // About 2,000 records of ~150 bytes: several sparse index entries apart.
        let disk = disk_with("resume", 2000);
        let mut next = 1;
        while next <= 2000 {
            let got = batch(&disk, next, 300);
            let want: Vec<u64> = (next..(next + 300).min(2001)).collect();
            assert_eq!(got, want);
            next += got.len() as u64;
            if next <= 2000 {
                // The batch left the position of the next record behind...
                let pos = disk.take_resume(next).expect("a resume position");
                let mut lenb = [0u8; 16];
                File::open(segment_path(&disk.dir, 1))
                    .and_then(|f| f.read_exact_at(&mut lenb, pos))
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(lenb[8..16], next.to_le_bytes(), "it names that record");
                disk.keep_resume(next, pos);
            }
        }
        // A position that does not hold the record asked for is not trusted: the read starts
        // from the index entry before it instead, and still returns exactly what was asked.
        assert_eq!(batch(&disk, 1200, 300).len(), 300);
        let pos = disk.take_resume(1500).expect("a resume position");
        disk.keep_resume(1500, pos + 1);
        assert_eq!(batch(&disk, 1500, 3), vec![1500, 1501, 1502]);
        disk.keep_resume(1200, 5_000_000);
        assert_eq!(batch(&disk, 1200, 2), vec![1200, 1201]);
        assert!(disk.reads() >= 9);
        let _ = fs::remove_dir_all(&disk.dir);
    }
}
