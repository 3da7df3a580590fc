//! Persistence: snapshots and recovery. The change log itself (`changes::disk`) is the
//! append-only file; a snapshot records the log offset it covers, and recovery loads the newest
//! snapshot and replays the log after it.
//!
//! Files under `dir`: `EPOCH` (the identity of this log's history), `snapshot.eddy` (the newest
//! snapshot), `changes/*.log` (the log segments).

pub mod recovery;
pub mod snapshot;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64};

/// Persistence state shown by INFO persistence and used by retention and save rules.
#[derive(Default)]
pub struct PersistState {
    /// Log offset covered by the newest snapshot on disk.
    pub snapshot_offset: AtomicU64,
    pub bgsave_in_progress: AtomicBool,
    pub last_bgsave_ok: AtomicBool,
    pub last_bgsave_secs: AtomicU64,
    pub bgsave_started_ms: AtomicU64,
    pub last_fsync_ms: AtomicU64,
    pub loading_started_ms: AtomicU64,
    pub loaded_records: AtomicU64,
}

pub const EPOCH_FILE: &str = "EPOCH";
pub const SNAPSHOT_FILE: &str = "snapshot.eddy";

/// Reads the epoch of the data in `dir`, creating a new one for a new directory (or for a
/// directory whose log history was lost: no log and `appendonly no`).
pub fn load_or_create_epoch(dir: &Path, keep: bool) -> std::io::Result<String> {
    let p = dir.join(EPOCH_FILE);
    if keep {
        if let Ok(s) = std::fs::read_to_string(&p) {
            let s = s.trim().to_string();
            if !s.is_empty() {
                return Ok(s);
            }
        }
    }
    let e = new_epoch();
    write_epoch(dir, &e)?;
    Ok(e)
}

pub fn write_epoch(dir: &Path, epoch: &str) -> std::io::Result<()> {
    let tmp = dir.join("EPOCH.tmp");
    std::fs::write(&tmp, format!("{epoch}\n"))?;
    std::fs::rename(&tmp, dir.join(EPOCH_FILE))
}

pub fn new_epoch() -> String {
    use rand::Rng;
    let mut r = rand::rng();
    (0..32)
        .map(|_| format!("{:x}", r.random_range(0..16u8)))
        .collect()
}
