//! Start-up recovery: load the newest snapshot, then replay the log records after its offset.
//!
//! Replay runs each record's recorded effect (its `args`) through the command table with
//! recording switched off (the records are already in the log) and with the record's own
//! timestamp as the command's `now`, so TTL checks see the time the change was made. Records
//! without args are companions of another record and are skipped.
//!
//! Damage: a torn last record (a write cut short by a crash) is truncated with a warning. Any
//! other damage — a bad checksum before the end, an offset gap, a bad header — stops start-up
//! with an error naming the file and byte position, unless `changes-load-corrupt yes`, which
//! keeps the records before the damage, discards the rest and starts a new epoch (the history
//! after that point is lost, so cursors from before cannot resume silently).

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use super::snapshot;
use crate::changes::disk::{reopen_segment, DiskLog};
use crate::changes::writer::Current;
use crate::changes::ChangeEvent;
use crate::commands::{self, Ctx};
use crate::protocol::resp::{Args, Out};
use crate::server::session::Session;
use crate::server::Server;

/// Replays one record. Returns false if the command failed (logged).
pub fn replay(srv: &Server, sess: &mut Session, ev: &ChangeEvent, out: &mut Out) -> bool {
    if ev.args.is_empty() {
        return true;
    }
    let mut base = Vec::with_capacity(ev.args.iter().map(|a| a.len()).sum());
    let mut ranges = Vec::with_capacity(ev.args.len());
    for a in &ev.args {
        let s = base.len();
        base.extend_from_slice(a);
        ranges.push((s, base.len()));
    }
    let args = Args::new(&base, &ranges);
    sess.db = ev.db as usize;
    let r = match commands::resolve(&args, &mut commands::LastName::default()) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(offset = ev.offset, error = %e.as_str(), "log record names no command");
            return false;
        }
    };
    out.buf.clear();
    let mut ctx = Ctx {
        srv,
        sess,
        out,
        now: ev.ts,
    };
    match (r.spec.handler)(&mut ctx, args) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(offset = ev.offset, error = %e.as_str(), "replaying a log record failed");
            false
        }
    }
}

/// DEBUG LOADAOF: rebuilds the (emptied) keyspace from what is on disk, as a restart would: the
/// snapshot, then every log record after it. The caller holds the world lock exclusively, so
/// nothing commits meanwhile; this first waits for the writer to have written (under
/// `appendfsync always`, fsynced) every committed record, so it reads back all of them.
pub fn reload_from_disk(srv: &Server) -> Result<u64, String> {
    let end = srv.log.last_offset();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while srv.log.readable() < end {
        if std::time::Instant::now() > deadline {
            return Err("the change log writer did not catch up within 10 s".into());
        }
        srv.log.wake_writer();
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let dir = PathBuf::from(srv.config.get("dir"));
    let snap = snapshot::load(srv, &dir.join(super::SNAPSHOT_FILE), true)?;
    let mut next = snap.map_or(0, |s| s.offset) + 1;
    let info = srv
        .clients
        .register(srv.clients.next_id(), "replay".into(), String::new());
    let id = info.id;
    let mut sess = Session::new(info, true);
    sess.replaying = true;
    let mut out = Out::new(false);
    let mut replayed = 0u64;
    let mut evs = Vec::new();
    let read = loop {
        if next > end {
            break Ok(());
        }
        evs.clear();
        if let Err(crate::changes::log::ReadError::Trimmed { earliest }) =
            srv.log.read_with(next, 1024, |ev| evs.push(ev.to_event()))
        {
            break Err(format!(
                "the change log starts at offset {earliest} but the snapshot covers only up to {}",
                next - 1
            ));
        }
        let Some(last) = evs.last().map(|e| e.offset) else {
            break Ok(());
        };
        for ev in evs.iter().filter(|e| e.offset <= end) {
            replay(srv, &mut sess, ev, &mut out);
            replayed += 1;
        }
        next = last + 1;
    };
    srv.clients.unregister(id);
    read.map(|()| replayed)
}

/// A transaction being read (records sharing a `tx_id`, `tx_n` of them): held back until its
/// last record is read, so replay applies all of it or, at a torn end, none.
struct Open {
    id: u64,
    n: u32,
    /// Records of it read so far, including those a snapshot covers.
    seen: u32,
    /// Some of it is covered by the snapshot (taken inside the EXEC): it can't be reverted.
    covered: bool,
    /// Segment index and byte position of its first record (where to cut if it is incomplete).
    seg: usize,
    pos: u64,
    evs: Vec<ChangeEvent>,
}

/// Replays a held-back transaction (complete, or followed by other records, which only a
/// damaged log could produce: applying what is there is then the best effort).
fn flush(open: &mut Option<Open>, apply: &mut impl FnMut(&ChangeEvent)) {
    if let Some(o) = open.take() {
        o.evs.iter().for_each(apply);
    }
}

/// Loads the snapshot and replays `segments`. Returns the segment the writer continues.
pub fn recover(srv: &Server, segments: Vec<PathBuf>) -> Result<Option<Current>, String> {
    let dir = PathBuf::from(srv.config.get("dir"));
    let t0 = std::time::Instant::now();
    let snap = snapshot::load(srv, &dir.join(super::SNAPSHOT_FILE), true)?;
    let (mut last, mut last_ts, mut next_tx) = match &snap {
        Some(s) => {
            tracing::info!(keys = s.keys, offset = s.offset, "snapshot loaded");
            srv.persist
                .snapshot_offset
                .store(s.offset, Ordering::Relaxed);
            (s.offset, s.ts, s.next_tx)
        }
        None => (0, 0, 1),
    };
    let snap_offset = last;
    let info = srv.clients.register(0, "replay".into(), String::new());
    let mut sess = Session::new(info, true);
    sess.replaying = true;
    let mut out = Out::new(false);
    let mut replayed = 0u64;
    let mut current = None;
    let Some(disk) = srv.log.disk.as_ref() else {
        srv.clients.unregister(0);
        srv.log.restore_position(last, last_ts, next_tx);
        return Ok(None);
    };
    let n = segments.len();
    let mut metas = Vec::new();
    let mut open: Option<Open> = None;
    let mut apply = |e: &ChangeEvent| {
        replay(srv, &mut sess, e, &mut out);
        replayed += 1;
    };
    let load_corrupt = srv.config.get_bool("changes-load-corrupt");
    for (i, path) in segments.iter().enumerate() {
        let is_last = i + 1 == n;
        let expect = metas
            .last()
            .map(|m: &crate::changes::disk::SegMeta| m.last + 1);
        let scan = DiskLog::scan(path, expect, |pos, _, ev| {
            if ev.tx_id >= next_tx {
                next_tx = ev.tx_id + 1;
            }
            let covered = ev.offset <= snap_offset;
            // A transaction's records are applied once all of them are read: a log cut inside
            // one must not leave half an EXEC applied (see `Open`).
            if ev.tx_id != 0 && ev.tx_n > 1 {
                if open.as_ref().is_none_or(|o| o.id != ev.tx_id) {
                    flush(&mut open, &mut apply);
                    open = Some(Open {
                        id: ev.tx_id,
                        n: ev.tx_n,
                        seen: 0,
                        covered: false,
                        seg: i,
                        pos,
                        evs: Vec::new(),
                    });
                }
                if let Some(o) = open.as_mut() {
                    o.seen += 1;
                    if covered {
                        // A snapshot taken inside an EXEC already holds this record's effect.
                        o.covered = true;
                    } else {
                        o.evs.push(ev.clone());
                    }
                    if o.seen >= o.n {
                        flush(&mut open, &mut apply);
                    }
                }
                return;
            }
            flush(&mut open, &mut apply);
            if !covered {
                apply(ev);
            }
        })
        .map_err(|e| format!("{}: {e}", path.display()))?;
        let mut damage = scan.corrupt.clone();
        if damage.is_none() && scan.trailing > 0 && !is_last {
            damage = Some(format!(
                "{}: truncated record at byte {} in a segment that is not the last",
                path.display(),
                scan.valid_end
            ));
        }
        if let Some(prev) = expect {
            if scan.meta.last >= scan.meta.first && scan.meta.first != prev {
                damage = Some(format!(
                    "{}: starts at offset {} but the previous segment ends at {}",
                    path.display(),
                    scan.meta.first,
                    prev - 1
                ));
            }
        }
        if scan.meta.last >= scan.meta.first {
            last = last.max(scan.meta.last);
            last_ts = last_ts.max(scan.meta.last_ts);
        }
        match damage {
            Some(msg) if !load_corrupt => {
                return Err(format!(
                    "the change log is damaged: {msg}. Start with --changes-load-corrupt yes to keep the records before it and discard the rest (the log gets a new epoch)"
                ));
            }
            Some(msg) => {
                tracing::warn!(damage = %msg, "discarding the change log after the damage (changes-load-corrupt yes)");
                let reopened = reopen_segment(&scan.meta, scan.valid_end)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                for later in &segments[i + 1..] {
                    let _ = std::fs::remove_file(later);
                }
                let mut meta = scan.meta;
                meta.bytes = scan.valid_end;
                metas.push(meta);
                current = Some(reopened);
                let epoch = super::new_epoch();
                super::write_epoch(&dir, &epoch).map_err(|e| e.to_string())?;
                srv.log.set_epoch(epoch);
                break;
            }
            None => {
                if scan.trailing > 0 {
                    tracing::warn!(
                        file = %path.display(),
                        at = scan.valid_end,
                        bytes = scan.trailing,
                        "truncating a torn record at the end of the change log"
                    );
                }
                if is_last {
                    current = Some(
                        reopen_segment(&scan.meta, scan.valid_end)
                            .map_err(|e| format!("{}: {e}", path.display()))?,
                    );
                }
                let mut meta = scan.meta;
                meta.bytes = scan.valid_end;
                metas.push(meta);
            }
        }
    }
    if open.as_ref().is_some_and(|o| o.covered) {
        // The snapshot already holds part of it: apply the rest rather than half-revert.
        flush(&mut open, &mut apply);
    }
    if let Some(o) = open.take() {
        // The log ends inside a transaction (a crash mid-write): revert it, as Redis reverts
        // an incomplete MULTI/EXEC at the end of its AOF.
        let first = o.evs.first().map(|e| e.offset).unwrap_or(last + 1);
        tracing::warn!(
            tx = o.id,
            records = o.evs.len(),
            of = o.n,
            offset = first,
            "reverting an incomplete transaction at the end of the change log"
        );
        for later in segments.iter().skip(o.seg + 1) {
            let _ = std::fs::remove_file(later);
        }
        metas.truncate(o.seg + 1);
        if let Some(meta) = metas.get_mut(o.seg) {
            let reopened =
                reopen_segment(meta, o.pos).map_err(|e| format!("{}: {e}", meta.path.display()))?;
            meta.bytes = o.pos;
            meta.last = first - 1;
            meta.index.retain(|&(off, _)| off < first);
            current = Some(reopened);
        }
        last = first - 1;
    }
    srv.clients.unregister(0);
    if let Some(first) = metas.first() {
        if first.first > snap_offset + 1 && first.last >= first.first {
            return Err(format!(
                "the change log starts at offset {} but the snapshot covers only up to {}: records are missing",
                first.first, snap_offset
            ));
        }
    }
    *disk.segs.lock() = metas;
    srv.log.restore_position(last, last_ts, next_tx);
    srv.persist
        .loaded_records
        .store(replayed, Ordering::Relaxed);
    tracing::info!(
        records = replayed,
        last_offset = last,
        ms = t0.elapsed().as_millis() as u64,
        "change log replayed"
    );
    Ok(current)
}
