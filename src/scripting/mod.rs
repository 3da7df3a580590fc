//! Lua scripting (EVAL, EVALSHA, SCRIPT ...) with Redis 7's semantics.
//!
//! One Lua 5.1 interpreter per server (`mlua`, built from source), created on first use and
//! guarded by a mutex; scripts run one at a time anyway, because a script runs as an exclusive
//! command (the world lock held exclusively, like EXEC), which is what makes it atomic: no other
//! command runs between its `redis.call`s. Its writes are captured like an EXEC's
//! (`keyspace::txn`) and committed as one transaction, so the change log holds the effects,
//! never the script, and replay never runs Lua.
//!
//! While a script runs, other connections must not block a thread on the world lock: they see
//! [`RunState`] (the running client's id) and wait asynchronously for the script to end or to
//! pass `busy-reply-threshold`; from then on they get `BUSY` for everything but the `allow_busy`
//! commands (SCRIPT KILL, SHUTDOWN NOSAVE, ...), which run without the world lock. Since most
//! scripts take microseconds, a connection that meets a script that has just started first waits
//! on the lock itself for a bounded moment ([`RunState::young`]), which is far cheaper than
//! parking the connection and waking it again. A script starts inline on its worker and hands
//! the worker to another thread only once it runs long (see `engine::blocking`).
//! A count hook in the interpreter notices the threshold and SCRIPT KILL.
//!
//! The sandbox: scripts see the globals through an environment table that refuses new globals
//! and reads of missing ones (Redis's wording), without `os`, `io`, `loadfile`, `dofile`;
//! `math.random` restarts from the same seed at every run. Conversions between Lua values and
//! RESP replies follow Redis's documented table (`convert.rs`); `libs.rs` has `cjson`, `bit`,
//! `struct` and `cmsgpack`.

mod cjson;
mod convert;
mod engine;
pub mod functions;
mod libs;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

pub use engine::{sha1hex, ScriptFlags};

/// What other connections see of the running script.
pub struct RunState {
    /// The running script's client id; 0 when none runs.
    owner: AtomicU64,
    /// When it started, in ms since `epoch`.
    started: AtomicU64,
    epoch: Instant,
    /// `busy-reply-threshold` for this run, in ms.
    threshold: AtomicU64,
    /// Past the threshold: others get BUSY.
    busy: AtomicBool,
    kill: AtomicBool,
    /// It ran a write command: SCRIPT KILL refuses (UNKILLABLE).
    wrote: AtomicBool,
    /// The running script is a function (FCALL): BUSY and KILL name FUNCTION KILL.
    function: AtomicBool,
    /// While the script runs on its worker (`engine::blocking`): the run time (ms) at which the
    /// hook next hands the worker off; `u64::MAX` otherwise.
    handoff_at: AtomicU64,
    /// Bumped when a script ends or turns busy; waiting connections watch it.
    changed: tokio::sync::watch::Sender<u64>,
    /// The running script's name and command (FUNCTION STATS).
    current: Mutex<(String, Vec<Vec<u8>>)>,
    /// While a library loads: when its code must stop (ms since `epoch`), else 0.
    load_deadline: AtomicU64,
}

/// What the hook raises once SCRIPT KILL asked.
const KILLED: &str = "ERR Script killed by user with SCRIPT KILL...";
/// How long a library's code may run while FUNCTION LOAD loads it (Redis's limit).
const LOAD_TIME_LIMIT_MS: u64 = 500;
const LOAD_TIMEOUT: &str = "FUNCTION LOAD timeout";

impl RunState {
    fn new() -> Self {
        RunState {
            owner: AtomicU64::new(0),
            started: AtomicU64::new(0),
            epoch: Instant::now(),
            threshold: AtomicU64::new(5000),
            busy: AtomicBool::new(false),
            kill: AtomicBool::new(false),
            wrote: AtomicBool::new(false),
            function: AtomicBool::new(false),
            handoff_at: AtomicU64::new(u64::MAX),
            changed: tokio::sync::watch::channel(0).0,
            current: Mutex::new((String::new(), Vec::new())),
            load_deadline: AtomicU64::new(0),
        }
    }

    fn ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Whether a script of another client than `me` is running (so `me` must not take the
    /// world lock). One atomic load.
    #[inline]
    pub fn blocks(&self, me: u64) -> bool {
        let o = self.owner.load(Ordering::Acquire);
        o != 0 && o != me
    }

    fn set_inline(&self, on: bool) {
        let at = if on { engine::INLINE_MS } else { u64::MAX };
        self.handoff_at.store(at, Ordering::Relaxed);
    }

    /// A script runs and started less than a millisecond ago: worth waiting for on the lock.
    pub fn young(&self) -> bool {
        self.owner.load(Ordering::Acquire) != 0
            && !self.busy.load(Ordering::Acquire)
            && self
                .ms()
                .saturating_sub(self.started.load(Ordering::Relaxed))
                < 1
    }

    /// A script is running and has passed `busy-reply-threshold`.
    pub fn busy(&self) -> bool {
        self.owner.load(Ordering::Acquire) != 0 && self.busy.load(Ordering::Acquire)
    }

    /// The BUSY error for the running script.
    pub fn busy_error(&self) -> &'static str {
        if self.function.load(Ordering::Relaxed) {
            crate::error::BUSY_FUNCTION
        } else {
            crate::error::BUSY_SCRIPT
        }
    }

    /// A receiver for the end of the running script. Check [`RunState::blocks`] after this, not
    /// before: `end` wakes only subscribed receivers.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        let rx = self.changed.subscribe();
        // Pairs with the fence in `end`: either `end` sees this receiver, or the caller's next
        // `blocks` sees the script gone.
        std::sync::atomic::fence(Ordering::SeqCst);
        rx
    }

    fn bump(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    fn begin(
        &self,
        owner: u64,
        threshold_ms: u64,
        function: bool,
        name: &str,
        command: &crate::protocol::resp::Args,
    ) {
        // Reuses the buffers of the last run: a small script should not pay an allocation per
        // argument for a name only FUNCTION STATS reads.
        let mut cur = self.current.lock();
        cur.0.clear();
        cur.0.push_str(name);
        cur.1.resize_with(command.len(), Vec::new);
        for (slot, a) in cur.1.iter_mut().zip(command.iter()) {
            slot.clear();
            slot.extend_from_slice(a);
        }
        drop(cur);
        self.started.store(self.ms(), Ordering::Relaxed);
        self.threshold.store(threshold_ms, Ordering::Relaxed);
        self.busy.store(false, Ordering::Relaxed);
        self.kill.store(false, Ordering::Relaxed);
        self.wrote.store(false, Ordering::Relaxed);
        self.function.store(function, Ordering::Relaxed);
        self.owner.store(owner, Ordering::Release);
    }

    fn end(&self) {
        self.busy.store(false, Ordering::Release);
        self.owner.store(0, Ordering::Release);
        // Connections that met the script wait for this, busy or not. A bump takes the watch's
        // lock: skipped when nobody waits, as for most short scripts (see `subscribe`).
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.changed.receiver_count() > 0 {
            self.bump();
        }
    }

    /// The interpreter's periodic check: turns busy past the threshold. Some(error) stops the
    /// code running: SCRIPT KILL, or a library that loads for too long.
    fn tick(&self) -> Option<&'static str> {
        if self.owner.load(Ordering::Acquire) == 0 {
            let deadline = self.load_deadline.load(Ordering::Relaxed);
            return (deadline != 0 && self.ms() > deadline).then_some(LOAD_TIMEOUT);
        }
        let elapsed = self
            .ms()
            .saturating_sub(self.started.load(Ordering::Relaxed));
        if elapsed >= self.handoff_at.load(Ordering::Relaxed) {
            engine::hand_off_worker();
            // A hand-off fails when no thread took the worker within the wait (a loaded
            // machine): the worker, its queued tasks and maybe the I/O driver would then stay
            // behind the script for good, and other clients would get neither BUSY nor a reply.
            // So it is tried again now and then; once it worked, a try costs only its wait.
            self.handoff_at
                .store(elapsed + engine::HANDOFF_RETRY_MS, Ordering::Relaxed);
        }
        if elapsed >= self.threshold.load(Ordering::Relaxed) && !self.busy.load(Ordering::Relaxed) {
            self.busy.store(true, Ordering::Release);
            self.bump();
        }
        self.kill.load(Ordering::Acquire).then_some(KILLED)
    }

    /// Bounds the loading of a library (FUNCTION LOAD runs its code) until [`Self::loaded`].
    fn loading(&self) {
        self.load_deadline
            .store(self.ms() + LOAD_TIME_LIMIT_MS, Ordering::Relaxed);
    }

    fn loaded(&self) {
        self.load_deadline.store(0, Ordering::Relaxed);
    }

    /// SCRIPT KILL / FUNCTION KILL: `function` says which of the two asked.
    pub fn kill(&self, function: bool) -> Result<(), &'static str> {
        if self.owner.load(Ordering::Acquire) == 0 {
            return Err(crate::error::NOTBUSY);
        }
        if self.wrote.load(Ordering::Acquire) {
            return Err(crate::error::UNKILLABLE);
        }
        if self.function.load(Ordering::Relaxed) != function {
            return Err(if function {
                crate::error::KILL_NOT_FUNCTION
            } else {
                crate::error::KILL_NOT_SCRIPT
            });
        }
        self.kill.store(true, Ordering::Release);
        Ok(())
    }

    /// The running script's name, command and running time in ms (FUNCTION STATS).
    pub fn running(&self) -> Option<(String, Vec<Vec<u8>>, u64)> {
        if self.owner.load(Ordering::Acquire) == 0 {
            return None;
        }
        let (name, cmd) = self.current.lock().clone();
        let ms = self
            .ms()
            .saturating_sub(self.started.load(Ordering::Relaxed));
        Some((name, cmd, ms))
    }

    fn mark_write(&self) {
        self.wrote.store(true, Ordering::Release);
    }

    fn wrote(&self) -> bool {
        self.wrote.load(Ordering::Acquire)
    }
}

/// The server's scripting state: the interpreter (created on first use) and the run state.
pub struct Scripting {
    engine: Mutex<Option<engine::Engine>>,
    pub run: Arc<RunState>,
    /// Figures INFO and FUNCTION STATS read without the interpreter's lock (a running script
    /// holds it), as of the last use of the interpreter.
    pub stats: Stats,
}

#[derive(Default)]
pub struct Stats {
    pub lua_bytes: AtomicU64,
    pub scripts: AtomicU64,
    pub libraries: AtomicU64,
    pub functions: AtomicU64,
}

impl Stats {
    fn note(&self, e: &engine::Engine) {
        let (libs, funcs) = e.counts();
        self.lua_bytes
            .store(e.lua.used_memory() as u64, Ordering::Relaxed);
        self.scripts.store(e.cached() as u64, Ordering::Relaxed);
        self.libraries.store(libs as u64, Ordering::Relaxed);
        self.functions.store(funcs as u64, Ordering::Relaxed);
    }
}

impl Default for Scripting {
    fn default() -> Self {
        Scripting {
            engine: Mutex::new(None),
            run: Arc::new(RunState::new()),
            stats: Stats::default(),
        }
    }
}

impl Scripting {
    /// Runs `f` with the interpreter, creating it first if needed.
    fn with<R>(
        &self,
        f: impl FnOnce(&mut engine::Engine) -> Result<R, crate::error::CmdError>,
    ) -> Result<R, crate::error::CmdError> {
        let mut g = self.engine.lock();
        if g.is_none() {
            *g = Some(
                engine::Engine::new(self.run.clone())
                    .map_err(|e| crate::error::CmdError::owned(format!("ERR {e}")))?,
            );
        }
        let Some(e) = g.as_mut() else {
            return Err(crate::error::SYNTAX.into());
        };
        let r = f(e);
        self.stats.note(e);
        r
    }

    /// SCRIPT FLUSH: forgets every script (functions stay).
    pub fn flush(&self) {
        if let Some(e) = self.engine.lock().as_mut() {
            e.flush_scripts();
            self.stats.note(e);
        }
    }

    /// SCRIPT LOAD: compiles and caches `body`, returning its SHA1.
    pub fn load(&self, body: &[u8]) -> Result<String, crate::error::CmdError> {
        self.with(|e| e.load(body).map(|s| s.0))
    }

    /// The flags the script or function that the command `name` (with its arguments `a`) would
    /// run declares, as Redis derives a call's command flags from them: an EVAL, EVALSHA or
    /// FCALL whose script declares `no-writes` neither writes (a write pause lets it run) nor
    /// is refused when memory is over `maxmemory`; one with flags but neither `no-writes` nor
    /// `allow-oom` is refused then. Other commands, an unknown script or function, a bad
    /// shebang, or an interpreter busy on another thread give the flags of a script without a
    /// shebang (it may write; the command itself then says what is wrong).
    pub fn call_flags(&self, name: &str, a: &crate::protocol::resp::Args) -> engine::ScriptFlags {
        let in_engine = |f: &dyn Fn(&engine::Engine) -> Option<engine::ScriptFlags>| {
            self.engine.try_lock().and_then(|g| g.as_ref().and_then(f))
        };
        let flags = match name {
            "eval" | "eval_ro" => engine::shebang(a.get(1)).ok().map(|s| s.flags),
            "evalsha" | "evalsha_ro" => in_engine(&|e| e.flags_of(a.get(1))),
            "fcall" | "fcall_ro" => in_engine(&|e| {
                let (_, f) = e.find(std::str::from_utf8(a.get(1)).ok()?)?;
                Some(f.script_flags())
            }),
            _ => None,
        };
        flags.unwrap_or_default()
    }

    /// SCRIPT EXISTS for one SHA1.
    pub fn exists(&self, sha: &[u8]) -> bool {
        let g = self.engine.lock();
        g.as_ref().is_some_and(|e| e.exists(sha))
    }
}

pub use engine::{eval, EvalKind};
