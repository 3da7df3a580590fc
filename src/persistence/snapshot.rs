//! Snapshots: a point-in-time image of the keyspace at a log offset, taken while serving.
//!
//! ## Consistency without fork
//! Starting a snapshot (under the exclusive world lock, so no command is half-way) marks every
//! shard "pending" and notes the log offset N. From then on, whoever locks a pending shard first
//! serialises it before touching it: a writer does so inside `Keyspace::lock` (copy-on-write at
//! shard granularity), and the saver thread walks the remaining shards. Every shard is therefore
//! serialised exactly as it was at N, and writers pay only for the shards they touch, once.
//!
//! ## File format (`snapshot.eddy`, written to a temporary file, fsynced, then renamed)
//! ```text
//! "EDDYSNP1" | u64 offset N | u64 ts of N | u64 next tx id | u8 len + epoch
//! blocks: u8 1 | u32 shard | u64 body length | body | u32 CRC-32 of body
//!   body: entries of  u16 db | key (RDB string) | u64 expire-at ms (0 = none) | value (RDB)
//! functions (if any library is loaded): u8 2 | u64 length | FUNCTION DUMP payload | u32 CRC-32
//! end:    u8 0xFF | u32 number of key blocks
//! ```
//! Values use the RDB encoding of `keyspace::encoding`, each type's body written by its module.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::keyspace::encoding::{decode_value, encode_value, write_string, Limits, Reader};
use crate::keyspace::value::Key;
use crate::keyspace::Shard;
use crate::server::Server;

const MAGIC: &[u8; 8] = b"EDDYSNP1";

/// A snapshot in progress: shards serialised by writers wait here for the saver.
pub struct SnapJob {
    pub offset: u64,
    pub ts: u64,
    pub next_tx: u64,
    pub blocks: Mutex<Vec<(usize, Vec<u8>)>>,
    /// The function libraries as of N (a FUNCTION DUMP payload), if any.
    pub functions: Option<Vec<u8>>,
    /// How shards are serialised: for the snapshot file, or as an RDB file for a replica.
    pub format: Format,
}

/// What a snapshot's shard bodies are written as.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    /// This module's block bodies, for `snapshot.eddy`.
    Eddy,
    /// RDB key entries (`persistence::rdb`), for a replica's full synchronisation.
    Rdb,
}

impl SnapJob {
    /// Serialises one shard in the job's format (the saver, and writers copying on write).
    pub fn serialize(&self, sh: &Shard, out: &mut Vec<u8>) {
        match self.format {
            Format::Eddy => serialize_shard(sh, out),
            Format::Rdb => super::rdb::serialize_shard(sh, out),
        }
    }
}

/// Serialises one shard (every database) into `out`.
pub fn serialize_shard(sh: &Shard, out: &mut Vec<u8>) {
    for (db, d) in sh.dbs.iter().enumerate() {
        for (k, v) in d.keys.iter() {
            out.extend_from_slice(&(db as u16).to_le_bytes());
            write_string(out, k);
            let exp = if d.expires.is_empty() {
                0
            } else {
                d.expires.get(k).copied().unwrap_or(0)
            };
            out.extend_from_slice(&exp.to_le_bytes());
            encode_value(v, out);
        }
    }
}

/// Starts a snapshot. Must be called with the world lock held exclusively. Returns `None` if
/// one is already running.
pub fn start(srv: &Server) -> Option<Arc<SnapJob>> {
    start_as(srv, Format::Eddy)
}

/// [`start`] for a snapshot written in `format`. Only one snapshot runs at a time, whatever its
/// format: the keyspace's copy-on-write marks serve one job.
pub fn start_as(srv: &Server, format: Format) -> Option<Arc<SnapJob>> {
    if srv.persist.bgsave_in_progress.swap(true, Ordering::AcqRel) {
        return None;
    }
    // Inside EXEC (BGSAVE queued in MULTI) the keyspace already holds the transaction's
    // changes so far, which commit after it: they count as covered (`keyspace::txn`).
    let job = Arc::new(SnapJob {
        offset: crate::keyspace::txn::applied_offset(&srv.log),
        ts: crate::util::now_ms(),
        next_tx: crate::keyspace::txn::next_tx(&srv.log),
        blocks: Mutex::new(Vec::new()),
        functions: srv
            .scripts
            .has_functions()
            .then(|| srv.scripts.function_dump()),
        format,
    });
    srv.persist
        .bgsave_started_ms
        .store(crate::util::now_ms(), Ordering::Relaxed);
    srv.keyspace.begin_snapshot(job.clone());
    Some(job)
}

/// Runs a started snapshot to completion: serialises the shards no writer has touched, writes
/// and installs the file. Blocking; run it on its own thread.
pub fn finish(srv: &Server, job: Arc<SnapJob>) -> std::io::Result<()> {
    let t0 = std::time::Instant::now();
    let res = write_file(srv, &job);
    srv.keyspace.end_snapshot();
    match &res {
        Ok(()) => {
            srv.persist
                .snapshot_offset
                .store(job.offset, Ordering::Relaxed);
            srv.lastsave
                .store(crate::util::now_ms() / 1000, Ordering::Relaxed);
            srv.persist.last_bgsave_ok.store(true, Ordering::Relaxed);
            srv.persist.saves.fetch_add(1, Ordering::Relaxed);
            tracing::info!(offset = job.offset, "snapshot saved");
        }
        Err(e) => {
            srv.persist.last_bgsave_ok.store(false, Ordering::Relaxed);
            tracing::error!(error = %e, "snapshot failed");
        }
    }
    srv.persist
        .last_bgsave_secs
        .store(t0.elapsed().as_secs(), Ordering::Relaxed);
    srv.persist
        .bgsave_in_progress
        .store(false, Ordering::Release);
    res
}

/// Serialises every shard still pending and hands each body to `put`, with the bodies writers
/// serialised before touching their shards: every shard's state as of the job's offset, once.
/// The keyspace is never locked while `put` runs.
pub fn walk_shards(
    srv: &Server,
    job: &SnapJob,
    mut put: impl FnMut(usize, &[u8]) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let ks = &srv.keyspace;
    let mut body = Vec::new();
    for i in 0..ks.nshards() {
        body.clear();
        let mine = ks.with_shard(i, |sh| {
            if sh.snap_pending {
                job.serialize(sh, &mut body);
                sh.snap_pending = false;
                true
            } else {
                false
            }
        });
        if mine {
            put(i, &body)?;
        }
        let done: Vec<(usize, Vec<u8>)> = std::mem::take(&mut *job.blocks.lock());
        for (s, b) in done {
            put(s, &b)?;
        }
    }
    for (s, b) in std::mem::take(&mut *job.blocks.lock()) {
        put(s, &b)?;
    }
    Ok(())
}

/// The file a snapshot is written to before it is renamed into place.
fn temp_file(srv: &Server) -> std::path::PathBuf {
    std::path::PathBuf::from(srv.config.get("dir")).join(format!("{}.tmp", super::SNAPSHOT_FILE))
}

/// Removes a snapshot being written, for an exit that does not wait for it (Redis's
/// `rdbRemoveTempFile`).
pub fn remove_partial(srv: &Server) {
    let _ = std::fs::remove_file(temp_file(srv));
}

fn write_file(srv: &Server, job: &SnapJob) -> std::io::Result<()> {
    let dir = std::path::PathBuf::from(srv.config.get("dir"));
    let tmp = temp_file(srv);
    let mut w = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
    w.write_all(MAGIC)?;
    w.write_all(&job.offset.to_le_bytes())?;
    w.write_all(&job.ts.to_le_bytes())?;
    w.write_all(&job.next_tx.to_le_bytes())?;
    let epoch = srv.log.epoch();
    let eb = &epoch.as_bytes()[..epoch.len().min(255)];
    w.write_all(&[eb.len() as u8])?;
    w.write_all(eb)?;
    let mut written = 0u32;
    let mut put = |w: &mut BufWriter<File>, shard: usize, body: &[u8]| -> std::io::Result<()> {
        if body.is_empty() {
            return Ok(());
        }
        w.write_all(&[1])?;
        w.write_all(&(shard as u32).to_le_bytes())?;
        w.write_all(&(body.len() as u64).to_le_bytes())?;
        w.write_all(body)?;
        w.write_all(&crc32fast::hash(body).to_le_bytes())?;
        written += 1;
        Ok(())
    };
    walk_shards(srv, job, |shard, body| put(&mut w, shard, body))?;
    if let Some(f) = &job.functions {
        w.write_all(&[2])?;
        w.write_all(&(f.len() as u64).to_le_bytes())?;
        w.write_all(f)?;
        w.write_all(&crc32fast::hash(f).to_le_bytes())?;
    }
    w.write_all(&[0xFF])?;
    w.write_all(&written.to_le_bytes())?;
    let f = w.into_inner().map_err(|e| e.into_error())?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(super::SNAPSHOT_FILE))?;
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// A block body: u64 length, the body, its CRC-32. None if truncated or the checksum is wrong.
fn checked<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    let len = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
    let body = r.take(usize::try_from(len).ok()?)?;
    let crc = u32::from_le_bytes(r.take(4)?.try_into().ok()?);
    (crc32fast::hash(body) == crc).then_some(body)
}

/// What a loaded snapshot covered.
pub struct Loaded {
    pub offset: u64,
    pub ts: u64,
    pub next_tx: u64,
    pub epoch: String,
    pub keys: u64,
}

/// Loads `path` into the keyspace. A key or function library already there is replaced when
/// `merge`, and is an error otherwise (DEBUG RELOAD NOFLUSH without MERGE). Errors name the
/// file and what is wrong.
pub fn load(srv: &Server, path: &Path, merge: bool) -> Result<Option<Loaded>, String> {
    let name = path.display().to_string();
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{name}: {e}")),
    };
    let mut data = Vec::new();
    f.read_to_end(&mut data)
        .map_err(|e| format!("{name}: {e}"))?;
    let bad = |what: &str, at: usize| format!("{name}: {what} at byte {at}");
    let mut r = Reader::new(&data);
    if r.take(8) != Some(&MAGIC[..]) {
        return Err(bad("not an Eddy snapshot", 0));
    }
    let u64_at =
        |r: &mut Reader| -> Option<u64> { Some(u64::from_le_bytes(r.take(8)?.try_into().ok()?)) };
    let (Some(offset), Some(ts), Some(next_tx)) = (u64_at(&mut r), u64_at(&mut r), u64_at(&mut r))
    else {
        return Err(bad("truncated header", r.pos));
    };
    let elen = r.u8().ok_or_else(|| bad("truncated header", r.pos))? as usize;
    let epoch =
        String::from_utf8_lossy(r.take(elen).ok_or_else(|| bad("truncated header", r.pos))?)
            .into_owned();
    let ks = &srv.keyspace;
    let lim = Limits::current(&srv.config.hot);
    let mut keys = 0u64;
    let mut blocks = 0u32;
    loop {
        let at = r.pos;
        match r.u8() {
            Some(1) => {}
            Some(2) => {
                let body = checked(&mut r).ok_or_else(|| bad("bad functions block", at))?;
                use crate::scripting::functions::Policy;
                let policy = if merge {
                    Policy::Replace
                } else {
                    Policy::Append
                };
                srv.scripts
                    .function_restore(body, policy)
                    .map_err(|e| bad(&format!("functions: {}", e.as_str()), at))?;
                continue;
            }
            Some(0xFF) => {
                let n = r
                    .take(4)
                    .and_then(|b| b.try_into().ok())
                    .map(u32::from_le_bytes)
                    .ok_or_else(|| bad("truncated trailer", at))?;
                if n != blocks {
                    return Err(bad("block count mismatch", at));
                }
                break;
            }
            _ => return Err(bad("bad block tag (file truncated or corrupt)", at)),
        }
        let _shard = r.take(4).ok_or_else(|| bad("truncated block", at))?;
        let body =
            checked(&mut r).ok_or_else(|| bad("truncated block or checksum mismatch", at))?;
        let mut br = Reader::new(body);
        while br.pos < body.len() {
            let eat = at + br.pos;
            let db = br
                .take(2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
                .ok_or_else(|| bad("truncated entry", eat))?;
            let key = br.string().ok_or_else(|| bad("bad key", eat))?;
            let exp = u64_at(&mut br).ok_or_else(|| bad("truncated entry", eat))?;
            let val = decode_value(&mut br, &lim).ok_or_else(|| bad("bad value", eat))?;
            if db >= ks.ndbs() {
                return Err(bad("database index beyond `databases`", eat));
            }
            let si = ks.shard_of(&key);
            let fresh = ks.with_shard(si, |sh| {
                let d = &mut sh.dbs[db];
                if d.keys.contains_key(&key[..]) {
                    if !merge {
                        return false;
                    }
                    d.expires.swap_remove(&key[..]);
                }
                if exp != 0 {
                    d.expires.insert(Key::from_slice(&key), exp);
                }
                d.keys.insert(Key::from_vec(key), val);
                true
            });
            if !fresh {
                return Err(bad("a key that is already in the keyspace", eat));
            }
            keys += 1;
        }
        blocks += 1;
    }
    Ok(Some(Loaded {
        offset,
        ts,
        next_tx,
        epoch,
        keys,
    }))
}

/// Takes a snapshot now, blocking until it is on disk (SAVE, shutdown). `Err` if one is
/// already running.
pub fn save_now(srv: &Server) -> Result<(), String> {
    let job = {
        let _w = srv.world.write();
        start(srv)
    };
    match job {
        Some(job) => finish(srv, job).map_err(|e| e.to_string()),
        None => Err("Background save already in progress".into()),
    }
}

/// Starts a background snapshot on its own thread; false if one is running. The caller must
/// hold the world lock exclusively (BGSAVE is an exclusive command) or call [`bgsave_now`].
pub fn bgsave_locked(srv: &Arc<Server>) -> bool {
    let Some(job) = start(srv) else {
        return false;
    };
    let s = srv.clone();
    std::thread::Builder::new()
        .name("eddy-snapshot".into())
        .spawn(move || {
            let _ = finish(&s, job);
        })
        .is_ok()
}

/// Like [`bgsave_locked`], taking the world lock itself.
pub fn bgsave_now(srv: &Arc<Server>) -> bool {
    let _w = srv.world.write();
    bgsave_locked(srv)
}

/// The `save` rules (`<seconds> <changes>` pairs): a background snapshot starts when, for some
/// pair, that many seconds passed since the last save and at least that many changes happened.
pub async fn save_rules(srv: Arc<Server>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        if srv.shutting_down() {
            return;
        }
        let rules: Vec<u64> = srv
            .config
            .get("save")
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect();
        let changes = srv
            .log
            .last_offset()
            .saturating_sub(srv.persist.snapshot_offset.load(Ordering::Relaxed));
        let since =
            (crate::util::now_ms() / 1000).saturating_sub(srv.lastsave.load(Ordering::Relaxed));
        let due = rules
            .chunks(2)
            .any(|p| p.len() == 2 && changes >= p[1].max(1) && since >= p[0]);
        if due && !srv.persist.bgsave_in_progress.load(Ordering::Acquire) {
            let s = srv.clone();
            let _ = tokio::task::spawn_blocking(move || bgsave_now(&s)).await;
        }
    }
}
