//! Persistence: snapshots and recovery. The change log itself (`changes::disk`) is the
//! append-only file; a snapshot records the log offset it covers, and recovery loads the newest
//! snapshot and replays the log after it.
//!
//! Files under `dir`: `EPOCH` (the identity of this log's history), `RUN` (how the last run
//! ended, see below), `snapshot.eddy` (the newest snapshot), `changes/*.log` (the log
//! segments).
//!
//! ## Power loss changes the epoch
//! Readers are served records once they are written to the segment file (`changes::log`): a
//! process crash cannot take those back, but a power loss can take back what was not fsynced
//! yet (up to ~1 s under `appendfsync everysec`, more under `no`). Recovery would then hand
//! their offsets to new changes, under the same epoch, and a reader's cursor would point at a
//! different record. So a run records in `RUN` the machine's boot id, the weakest `appendfsync`
//! it ran with, and, once it stopped cleanly (SHUTDOWN, SIGTERM: the log drained and fsynced),
//! that it did. At start-up, a last run that did not stop cleanly, under a different boot id
//! (the machine restarted in between), that did not run under `always` throughout (under
//! `always` readers only saw fsynced records) means history may be lost: the log keeps what
//! survived but gets a new epoch, so resuming readers get the explicit EPOCH error. A crash
//! without a reboot keeps the epoch. The boot id comes from `/proc/sys/kernel/random/boot_id`;
//! where there is none (not Linux) nothing is decided. `EDDY_BOOT_ID_FILE` names another file
//! to read it from: for tests only, to simulate a reboot.

pub mod rdb;
pub mod recovery;
pub mod snapshot;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;

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
    /// Snapshots saved since start (INFO's `rdb_saves`).
    pub saves: AtomicU64,
    /// This run's `RUN` file (with a disk log).
    pub run: OnceLock<Run>,
}

pub const EPOCH_FILE: &str = "EPOCH";
pub const SNAPSHOT_FILE: &str = "snapshot.eddy";
pub const RUN_FILE: &str = "RUN";
/// Test-only: the file the boot id is read from instead of the kernel's (see the module docs).
pub const BOOT_ID_ENV: &str = "EDDY_BOOT_ID_FILE";
const BOOT_ID_FILE: &str = "/proc/sys/kernel/random/boot_id";

/// The machine's boot id, if it has one.
pub fn boot_id() -> Option<String> {
    let path = std::env::var_os(BOOT_ID_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(BOOT_ID_FILE));
    let id = std::fs::read_to_string(path).ok()?.trim().to_string();
    (!id.is_empty()).then_some(id)
}

/// What `RUN` says about a run.
#[derive(Debug, Default, PartialEq, Eq)]
struct RunRecord {
    boot: Option<String>,
    /// It ran with `appendfsync always` throughout.
    always: bool,
    clean: bool,
}

impl RunRecord {
    fn parse(text: &str) -> RunRecord {
        let mut r = RunRecord::default();
        for line in text.lines() {
            match line.split_once(' ') {
                Some(("boot", v)) if v != "-" => r.boot = Some(v.to_string()),
                Some(("appendfsync", v)) => r.always = v == "always",
                Some(("state", v)) => r.clean = v == "clean",
                _ => {}
            }
        }
        r
    }

    fn text(&self) -> String {
        format!(
            "boot {}\nappendfsync {}\nstate {}\n",
            self.boot.as_deref().unwrap_or("-"),
            if self.always { "always" } else { "weaker" },
            if self.clean { "clean" } else { "running" }
        )
    }
}

/// Whether the last run in `dir` may have lost records readers saw: it did not stop cleanly,
/// the machine restarted since (`boot` differs from the recorded boot id; both known), and it
/// did not run under `appendfsync always` throughout. No `RUN` file (a new directory, or one
/// from a version without it) decides nothing.
pub fn power_loss_since_last_run(dir: &Path, boot: Option<&str>) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(RUN_FILE)) else {
        return false;
    };
    let last = RunRecord::parse(&text);
    match (last.boot.as_deref(), boot) {
        (Some(was), Some(now)) => !last.clean && !last.always && was != now,
        _ => false,
    }
}

/// This run's entry in `RUN`.
pub struct Run {
    dir: PathBuf,
    boot: Option<String>,
    always: AtomicBool,
}

impl Run {
    /// Records that a run started (not clean until [`Run::stopped_cleanly`]), durably: the
    /// decision at the next start depends on it.
    pub fn start(dir: &Path, boot: Option<String>, always: bool) -> std::io::Result<Run> {
        let run = Run {
            dir: dir.to_path_buf(),
            boot,
            always: AtomicBool::new(always),
        };
        run.write(false)?;
        Ok(run)
    }

    /// `appendfsync` is now weaker than `always`: records as much before readers may see
    /// unsynced records (callers do this before switching the log).
    pub fn weakened(&self) {
        if self.always.swap(false, Ordering::AcqRel) {
            if let Err(e) = self.write(false) {
                tracing::warn!(error = %e, "can't update the {RUN_FILE} file");
            }
        }
    }

    /// The log is drained and fsynced: nothing a reader saw can be lost.
    pub fn stopped_cleanly(&self) {
        if let Err(e) = self.write(true) {
            tracing::warn!(error = %e, "can't update the {RUN_FILE} file");
        }
    }

    fn write(&self, clean: bool) -> std::io::Result<()> {
        let rec = RunRecord {
            boot: self.boot.clone(),
            always: self.always.load(Ordering::Acquire),
            clean,
        };
        write_durably(&self.dir, RUN_FILE, rec.text().as_bytes())
    }
}

/// Replaces `dir/name` with `bytes` atomically and durably (temporary file, fsync, rename,
/// fsync of the directory).
fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = dir.join(format!("{name}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, dir.join(name))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

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

/// Durably: a new epoch must be on disk before anything that relies on it (the `RUN` file of
/// the run that decided it, records of the new history).
pub fn write_epoch(dir: &Path, epoch: &str) -> std::io::Result<()> {
    write_durably(dir, EPOCH_FILE, format!("{epoch}\n").as_bytes())
}

pub fn new_epoch() -> String {
    use rand::Rng;
    let mut r = rand::rng();
    (0..32)
        .map(|_| format!("{:x}", r.random_range(0..16u8)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("eddy-run-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
        d
    }

    #[test]
    fn only_an_unclean_stop_then_a_reboot_under_a_weak_fsync_loses_history() {
        let d = dir("decide");
        // No RUN file: nothing to decide.
        assert!(!power_loss_since_last_run(&d, Some("b1")));
        let run = Run::start(&d, Some("b1".into()), false).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !power_loss_since_last_run(&d, Some("b1")),
            "crash, no reboot"
        );
        assert!(power_loss_since_last_run(&d, Some("b2")), "crash, reboot");
        assert!(!power_loss_since_last_run(&d, None), "boot id unknown");
        run.stopped_cleanly();
        assert!(
            !power_loss_since_last_run(&d, Some("b2")),
            "clean stop, reboot"
        );
        let run = Run::start(&d, Some("b1".into()), true).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !power_loss_since_last_run(&d, Some("b2")),
            "always: readers saw synced only"
        );
        run.weakened();
        assert!(
            power_loss_since_last_run(&d, Some("b2")),
            "switched away from always"
        );
        let _ = Run::start(&d, None, false).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !power_loss_since_last_run(&d, Some("b2")),
            "last boot id unknown"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
