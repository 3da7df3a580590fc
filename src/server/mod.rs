//! The server: shared state, listeners, and shutdown.
//!
//! [`Server`] is shared by every connection task behind an `Arc`. The keyspace, the change log and
//! the client registry each have their own locks; `world` is the one lock above them all: every
//! batch of commands and every background writer holds it shared, and whole-keyspace operations
//! (FLUSHALL, SWAPDB, EXEC, scripts) hold it exclusively, which gives them isolation
//! without any per-key bookkeeping on the hot path.

pub mod background;
pub mod clients;
pub mod conn;
pub mod door;
pub mod failover;
pub mod follow;
pub mod pause;
pub mod rates;
pub mod replication;
pub mod session;
pub mod shutdown;
pub mod supervise;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::changes::log::ChangeLog;
use crate::config::Config;
use crate::keyspace::Keyspace;
use clients::Clients;

/// How long a wait for the world lock lasts before checking again whether a script holds it (a
/// script announces itself only once it holds the lock).
const WORLD_RETRY: Duration = Duration::from_millis(2);
/// How long a thread may wait on the lock for a script that has just started, before the
/// connection waits asynchronously instead: a bound on how long a worker can be held up.
const SCRIPT_WAIT: Duration = Duration::from_micros(200);
/// The first part of that wait, spent spinning (`util::spin_for`): a young script usually ends
/// within it.
const SCRIPT_SPIN: Duration = Duration::from_micros(30);

/// Server-wide counters for INFO stats.
#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// Bytes read from this server's primary and written to its replicas.
    pub net_repl_input_bytes: AtomicU64,
    pub net_repl_output_bytes: AtomicU64,
    /// Socket reads and writes of client connections (INFO's `total_reads_processed`, ...).
    pub reads_processed: AtomicU64,
    pub writes_processed: AtomicU64,
    /// Error replies by their code, the error's first word (INFO errorstats); their sum is
    /// `total_error_replies`.
    pub error_codes: parking_lot::Mutex<std::collections::BTreeMap<Box<str>, u64>>,
}

impl Stats {
    /// An error reply `e` (without its `-`), counted by its code, the first word (Redis's
    /// `afterErrorReply`: `ERR` when the line has no space).
    #[cold]
    pub fn error_reply(&self, e: &str) {
        let code = e.split_once(' ').map_or("ERR", |(code, _)| code);
        let mut codes = self.error_codes.lock();
        match codes.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                codes.insert(code.into(), 1);
            }
        }
    }

    /// Error replies since the start or CONFIG RESETSTAT (INFO `total_error_replies`).
    pub fn error_replies(&self) -> u64 {
        self.error_codes.lock().values().sum()
    }

    /// A client connection's read of `n` bytes.
    #[inline]
    pub fn read(&self, n: usize) {
        self.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed);
        self.reads_processed.fetch_add(1, Ordering::Relaxed);
    }

    /// A client connection's write of `n` bytes.
    #[inline]
    pub fn wrote(&self, n: usize) {
        self.net_output_bytes.fetch_add(n as u64, Ordering::Relaxed);
        self.writes_processed.fetch_add(1, Ordering::Relaxed);
    }

    /// `n` bytes read from this server's primary (its image or stream).
    pub fn repl_read(&self, n: usize) {
        self.net_repl_input_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
    }

    /// `n` bytes written to a replica.
    pub fn repl_wrote(&self, n: usize) {
        self.net_repl_output_bytes
            .fetch_add(n as u64, Ordering::Relaxed);
    }
}

pub struct Server {
    /// Users and their permissions (`acl`).
    pub acl: crate::acl::Acl,
    /// True until recovery has finished: commands without the `loading` flag get LOADING.
    pub loading: AtomicBool,
    pub persist: crate::persistence::PersistState,
    /// What SHUTDOWN asked for: 0 default (snapshot if `save` rules exist), 1 NOSAVE, 2 SAVE.
    pub shutdown_save: std::sync::atomic::AtomicU8,
    pub config: Config,
    pub keyspace: Keyspace,
    pub log: ChangeLog,
    /// Triggers (`triggers`): change-log readers delivering to functions.
    pub triggers: crate::triggers::Registry,
    /// The NATS bridge (`bridge`), set at start-up when `nats-url` is set.
    pub bridge: std::sync::OnceLock<Arc<crate::bridge::Bridge>>,
    /// Channels, patterns, keyspace notifications (the keyspace holds the same `Arc`, to
    /// notify at commit).
    pub pubsub: Arc<crate::pubsub::PubSub>,
    pub world: RwLock<()>,
    /// Lua scripts: the interpreter, its cache, and the running script others must wait for.
    pub scripts: crate::scripting::Scripting,
    pub clients: Clients,
    /// CLIENT PAUSE state, checked once per batch.
    pub pause: pause::Pause,
    /// SLOWLOG's entries.
    pub slowlog: crate::commands::slowlog::SlowLog,
    /// The latency monitor's events (LATENCY LATEST/HISTORY/...).
    pub latency: crate::commands::latency::Monitor,
    /// Redis replicas following this server (`replication`).
    pub replicas: replication::Replicas,
    /// The Redis primary this server follows, if any (`follow`).
    pub upstream: follow::Upstream,
    /// Change-feed pushes encoded once for subscriptions that ask for the same thing.
    pub feed_shares: crate::changes::subscribe::Shares,
    pub stats: Stats,
    /// INFO's instantaneous rates, sampled every 100 ms.
    pub rates: rates::Rates,
    pub started: Instant,
    pub started_unix: u64,
    pub run_id: String,
    pub active_expire: AtomicBool,
    pub lastsave: AtomicU64,
    pub port: AtomicU64,
    shutdown: AtomicBool,
    /// A SHUTDOWN waiting for lagging replicas (`shutdown`).
    pub shutdown_wait: shutdown::Shutdown,
    /// A FAILOVER under way (`failover`).
    pub failover: failover::Failover,
    shutdown_notify: Notify,
    /// A handle to this server's own `Arc`, for commands that start background work.
    me: parking_lot::Mutex<std::sync::Weak<Server>>,
}

/// The in-memory tail of the change log: `changes-memory-bytes`, or 16 MiB when 0 (the default).
/// With a disk log memory only caches what tailing readers are about to read (older records
/// come from the segments), and only while some reader reads (`changes::log`, "The in-memory
/// tail"); without one it is all the history there is. 16 MiB rather than less: change-feed
/// readers run at a lower priority than clients, and with the cores busy one was left behind a
/// 1 MiB tail (about 11 ms of pipelined SETs) several hundred times in a 3-second run, each time
/// reading the records back from the segment files.
fn log_memory(config: &Config) -> usize {
    match config.get_i64("changes-memory-bytes").max(0) as usize {
        0 => 16 << 20,
        n => n,
    }
}

/// `n` random hexadecimal digits (the run id, ACL GENPASS).
pub fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut r = rand::rng();
    (0..n)
        .map(|_| format!("{:x}", r.random_range(0..16u8)))
        .collect()
}

impl Server {
    /// A server with no persistence attached (tests, tools).
    pub fn new(config: Config) -> Server {
        Self::with_log(config, crate::persistence::new_epoch(), None)
    }

    pub fn with_log(
        config: Config,
        epoch: String,
        disk: Option<crate::changes::disk::DiskLog>,
    ) -> Server {
        let ndbs = config.get_i64("databases").max(1) as usize;
        let shards = config.get_i64("keyspace-shards").max(1) as usize;
        let log_mem = log_memory(&config);
        let now = crate::util::now_ms();
        let keyspace = Keyspace::new(shards, ndbs);
        let pubsub = keyspace.pubsub.clone();
        pubsub.configure(&config);
        Server {
            acl: crate::acl::Acl::new(config.get("requirepass").as_str()),
            loading: AtomicBool::new(false),
            persist: Default::default(),
            shutdown_save: std::sync::atomic::AtomicU8::new(0),
            keyspace,
            pubsub,
            log: ChangeLog::with_disk(epoch, log_mem.max(1 << 20), disk),
            triggers: Default::default(),
            bridge: Default::default(),
            world: RwLock::new(()),
            scripts: Default::default(),
            clients: Clients::new(),
            pause: pause::Pause::default(),
            slowlog: Default::default(),
            latency: Default::default(),
            replicas: Default::default(),
            upstream: Default::default(),
            feed_shares: Default::default(),
            stats: Stats::default(),
            rates: rates::Rates::default(),
            started: Instant::now(),
            started_unix: now / 1000,
            run_id: random_hex(40),
            active_expire: AtomicBool::new(true),
            lastsave: AtomicU64::new(now / 1000),
            port: AtomicU64::new(config.get_i64("port") as u64),
            shutdown: AtomicBool::new(false),
            shutdown_wait: Default::default(),
            failover: Default::default(),
            shutdown_notify: Notify::new(),
            me: parking_lot::Mutex::new(std::sync::Weak::new()),
            config,
        }
    }

    /// Registers the `Arc` this server lives in (see [`Server::me`]).
    pub fn set_me(self: &Arc<Self>) {
        *self.me.lock() = Arc::downgrade(self);
    }

    pub fn me(&self) -> Option<Arc<Server>> {
        self.me.lock().upgrade()
    }

    pub fn auth_required(&self) -> bool {
        self.acl.login_required()
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// The world lock, shared, for client `me` (0 for background work) — or None while another
    /// client's script runs: waiting for a script must not hold a thread (see `scripting`).
    pub fn world_read(&self, me: u64) -> Option<parking_lot::RwLockReadGuard<'_, ()>> {
        self.world_unless_script(me, |t| match t {
            Some(t) => self.world.try_read_for(t),
            None => self.world.try_read(),
        })
    }

    /// [`Server::world_read`], exclusively.
    pub fn world_write(&self, me: u64) -> Option<parking_lot::RwLockWriteGuard<'_, ()>> {
        self.world_unless_script(me, |t| match t {
            Some(t) => self.world.try_write_for(t),
            None => self.world.try_write(),
        })
    }

    fn world_unless_script<G>(
        &self,
        me: u64,
        take: impl Fn(Option<Duration>) -> Option<G>,
    ) -> Option<G> {
        loop {
            if self.scripts.run.blocks(me) {
                // The script holds the lock for its whole run, so holding it means it ended.
                if self.scripts.run.young() {
                    if let Some(g) = crate::util::spin_for(SCRIPT_SPIN, || take(None)) {
                        return Some(g);
                    }
                    if let Some(g) = take(Some(SCRIPT_WAIT)) {
                        return Some(g);
                    }
                }
                if self.scripts.run.blocks(me) {
                    return None;
                }
                continue;
            }
            if let Some(g) = take(Some(WORLD_RETRY)) {
                return Some(g);
            }
        }
    }

    pub fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        self.shutdown_notify.notify_waiters();
        for c in self.clients.all() {
            c.kill();
        }
    }

    /// Re-reads options that live outside the config registry after CONFIG SET.
    pub fn apply_config(&self) {
        self.acl.set_requirepass(&self.config.get("requirepass"));
        crate::keyspace::value::configure_lfu(
            self.config.get("maxmemory-policy").ends_with("-lfu"),
            self.config
                .get_i64("lfu-log-factor")
                .clamp(0, u32::MAX as i64) as u32,
            self.config
                .get_i64("lfu-decay-time")
                .clamp(0, u32::MAX as i64) as u32,
        );
        self.pubsub.configure(&self.config);
        self.log.set_max_bytes(log_memory(&self.config));
        let always = self.config.get("appendfsync") == "always";
        if !always {
            // Recorded before readers may see unsynced records (`persistence`).
            if let Some(run) = self.persist.run.get() {
                run.weakened();
            }
        }
        self.log.set_fsync_always(always);
        self.keyspace
            .images
            .store(self.config.get_bool("changes-images"), Ordering::Relaxed);
        self.keyspace.image_max.store(
            self.config.get_i64("changes-image-max-bytes").max(0) as usize,
            Ordering::Relaxed,
        );
    }

    pub async fn wait_shutdown(&self) {
        loop {
            let n = self.shutdown_notify.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.shutting_down() {
                return;
            }
            n.await;
        }
    }
}

/// Opens the data directory, binds the listeners, recovers (clients get LOADING meanwhile),
/// then serves until SHUTDOWN or a signal, and shuts down cleanly (snapshot by `save` rules or
/// SHUTDOWN SAVE, log drained and fsynced).
pub async fn run(config: Config) -> anyhow_lite::Result<()> {
    background::configure(&config);
    let primary = follow::Target::from_config(&config.get("replicaof"))?;
    let dir = config.get("dir");
    std::fs::create_dir_all(&dir).map_err(|e| format!("can't create dir '{dir}': {e}"))?;
    let dirp = std::path::PathBuf::from(&dir);
    let aof = config.get_bool("appendonly");
    let (disk, segments) = if aof {
        let (d, segs) = crate::changes::disk::DiskLog::open(dirp.join("changes"))
            .map_err(|e| format!("can't open the change log in '{dir}': {e}"))?;
        (Some(d), segs)
    } else {
        (None, Vec::new())
    };
    // Without a disk log the history is not kept across restarts: a new epoch each start.
    // With one, a power loss may have taken back records readers saw (`persistence`).
    let boot = crate::persistence::boot_id();
    let lost = aof && crate::persistence::power_loss_since_last_run(&dirp, boot.as_deref());
    if lost {
        tracing::warn!(
            "the last run did not shut down cleanly and the machine restarted since: records \
             written but not fsynced may be lost, so the change log starts a new epoch \
             (readers resuming with the old one must start again from a snapshot)"
        );
    }
    let epoch = crate::persistence::load_or_create_epoch(&dirp, aof && !lost)
        .map_err(|e| format!("can't write the epoch file in '{dir}': {e}"))?;
    let run = if aof {
        let always = config.get("appendfsync") == "always";
        Some(
            crate::persistence::Run::start(&dirp, boot, always)
                .map_err(|e| format!("can't write the run file in '{dir}': {e}"))?,
        )
    } else {
        None
    };
    let port = config.get_i64("port") as u16;
    // `-addr`: bind it if it exists (Redis's "optional" address, as in `bind 127.0.0.1 -::1`).
    let binds: Vec<(String, bool)> = config
        .get("bind")
        .split_whitespace()
        .map(|s| (s.trim_start_matches('-').to_string(), s.starts_with('-')))
        .collect();
    let backlog = config.get_i64("tcp-backlog").clamp(0, u32::MAX.into()) as u32;
    warn_somaxconn(backlog);
    let mut listeners = Vec::new();
    let mut bound = Vec::new();
    for (b, optional) in &binds {
        match listen(b, port, backlog).await {
            Ok(l) => {
                listeners.push(l);
                bound.push(b.clone());
            }
            Err(e) if *optional => {
                tracing::warn!(addr = %b, error = %e, "optional address not bound");
            }
            Err(e) => return Err(format!("can't bind {b}:{port}: {e}")),
        }
    }
    let binds = bound;
    let unix_path = config.get("unixsocket");
    let unix = if unix_path.is_empty() {
        None
    } else {
        Some(listen_unix(&unix_path, &config.get("unixsocketperm"))?)
    };
    // The other front doors, on their own ports (0: that door is off, as `port 0` in Redis).
    let mut doors = Vec::new();
    for (name, opt) in [("msgpack", "msgpack-port"), ("http", "http-port")] {
        let p = config.get_i64(opt) as u16;
        if p == 0 {
            continue;
        }
        for b in &binds {
            let l = listen(b, p, backlog)
                .await
                .map_err(|e| format!("can't bind {b}:{p} ({opt}): {e}"))?;
            doors.push((name, l));
        }
    }
    let srv = Arc::new(Server::with_log(config, epoch, disk));
    if let Some(run) = run {
        let _ = srv.persist.run.set(run);
    }
    srv.set_me();
    srv.apply_config();
    let aclfile = srv.config.get("aclfile");
    if !aclfile.is_empty() {
        srv.acl
            .load_file(&aclfile)
            .map_err(|e| format!("Aborting Eddy startup because of ACL errors: {e}"))?;
    }
    srv.loading.store(true, Ordering::Release);
    srv.persist
        .loading_started_ms
        .store(crate::util::now_ms(), Ordering::Relaxed);
    if let Some(l) = listeners.first() {
        if let Ok(a) = l.local_addr() {
            srv.port.store(a.port() as u64, Ordering::Relaxed);
        }
    }
    let addrs: Vec<std::net::SocketAddr> = listeners
        .iter()
        .filter_map(|l| l.local_addr().ok())
        .collect();
    for l in listeners {
        tokio::spawn(accept_loop::<door::Resp>(srv.clone(), l));
    }
    if let Some(l) = unix {
        tokio::spawn(unix_accept_loop(srv.clone(), l, unix_path.clone()));
    }
    let mut door_addrs = Vec::new();
    for (name, l) in doors {
        if let Ok(a) = l.local_addr() {
            door_addrs.push((name, a));
        }
        match name {
            "msgpack" => tokio::spawn(accept_loop::<door::MsgPack>(srv.clone(), l)),
            _ => tokio::spawn(crate::http::serve(srv.clone(), l)),
        };
    }
    crate::util::alloc::mark_startup();
    let s2 = srv.clone();
    let current =
        tokio::task::spawn_blocking(move || crate::persistence::recovery::recover(&s2, segments))
            .await
            .map_err(|e| format!("recovery panicked: {e}"))??;
    let writer = crate::changes::writer::spawn(srv.clone(), current);
    match crate::changes::groups::load(&srv) {
        Ok(n) if n > 0 => tracing::info!(groups = n, "change feed consumer groups loaded"),
        Ok(_) => {}
        Err(e) => return Err(e),
    }
    match crate::triggers::load(&srv) {
        Ok(n) if n > 0 => tracing::info!(triggers = n, "triggers loaded"),
        Ok(_) => {}
        Err(e) => return Err(e),
    }
    crate::bridge::load(&srv)?;
    // A configured primary makes this server a replica from its first command (writes
    // refused), as Redis is one from its configuration.
    let replica = primary.is_some();
    if replica {
        srv.keyspace.follower.store(true, Ordering::Release);
    }
    // Everything a client can ask about (keys, log position, groups) is loaded before LOADING
    // ends.
    srv.loading.store(false, Ordering::Release);
    if replica {
        follow::follow(&srv, primary);
    }
    tracing::info!("DB loaded from disk");
    // As in Redis, this line comes once the data is loaded (clients connecting earlier get
    // LOADING); tools and tests wait for it.
    for a in &addrs {
        tracing::info!(addr = %a, "Ready to accept connections tcp");
    }
    if !unix_path.is_empty() {
        tracing::info!(path = %unix_path, "Ready to accept connections unix");
    }
    for (name, a) in &door_addrs {
        tracing::info!(addr = %a, "Ready to accept connections {name}");
    }
    supervise::ready(replica);
    tokio::spawn(crate::changes::groups::flusher(srv.clone()));
    crate::triggers::start_all(&srv);
    crate::bridge::start(&srv);
    tokio::spawn(crate::keyspace::expiry::run(srv.clone()));
    tokio::spawn(clients::trim_idle_buffers(srv.clone()));
    tokio::spawn(crate::persistence::snapshot::save_rules(srv.clone()));
    let s2 = srv.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        // As SHUTDOWN: lagging replicas are waited for, and SHUTDOWN ABORT cancels; the next
        // signal tries again.
        loop {
            let option = tokio::select! {
                _ = term.recv() => "shutdown-on-sigterm",
                _ = int.recv() => "shutdown-on-sigint",
            };
            tracing::info!("received shutdown signal");
            let (save, now) = shutdown::signal_flags(&s2, option);
            let run = shutdown::run(&s2, save, now);
            tokio::pin!(run);
            // As in Redis, a SIGINT while a signalled shutdown is under way (waiting for
            // replicas, saving the final snapshot) ends the process at once, uncleanly: the
            // next start recovers from the log as after a crash.
            let stopping = loop {
                tokio::select! {
                    r = &mut run => break r,
                    Some(()) = int.recv() => insist(&s2),
                    _ = term.recv() => {}
                }
            };
            if stopping {
                if int.recv().await.is_some() {
                    insist(&s2);
                }
                return;
            }
            tracing::warn!("shutdown aborted; the server carries on");
        }
    });
    srv.wait_shutdown().await;
    // The link to a primary stops between two batches of its stream first, so the snapshot and
    // the log hold exactly what the position says was applied.
    let position = follow::stopped(&srv).await;
    let save = match srv.shutdown_save.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => !srv.config.get("save").trim().is_empty(),
    };
    if save {
        tracing::info!("saving the final snapshot before exiting");
        let s2 = srv.clone();
        let _ =
            tokio::task::spawn_blocking(move || crate::persistence::snapshot::save_now(&s2)).await;
    }
    crate::changes::groups::save_if_dirty(&srv);
    crate::triggers::save_if_dirty(&srv);
    crate::bridge::save_if_dirty(&srv);
    srv.log.wake_writer();
    if let Ok(Ok(())) = tokio::task::spawn_blocking(move || writer.join()).await {
        // The writer drained and fsynced the log before it returned.
        if let Some(run) = srv.persist.run.get() {
            run.stopped_cleanly();
        }
        if let Some(p) = position {
            follow::save_position(&srv, p);
        }
    }
    if !unix_path.is_empty() {
        tracing::info!("Removing the unix socket file.");
        let _ = std::fs::remove_file(&unix_path);
    }
    tracing::info!("Eddy is now ready to exit, bye bye...");
    Ok(())
}

/// A second SIGINT during a signalled shutdown (Redis's words and exit status).
fn insist(srv: &Server) -> ! {
    tracing::warn!("You insist... exiting now.");
    crate::persistence::snapshot::remove_partial(srv);
    std::process::exit(1);
}

/// Binds `host:port` and listens with `tcp-backlog` as the accept queue's length, as Redis
/// does (tokio's `TcpListener::bind` always asks for 1024). Like `bind`, it tries each address
/// the host resolves to until one works.
async fn listen(host: &str, port: u16, backlog: u32) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host((host, port)).await? {
        let sock = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // What std's and tokio's `bind` set on Unix: a restart binds while old connections
        // linger in TIME_WAIT.
        sock.set_reuseaddr(true)?;
        match sock.bind(addr).and_then(|()| sock.listen(backlog)) {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "no address to bind")
    }))
}

/// Redis's start-up warning when the kernel caps the accept queue below `tcp-backlog`.
fn warn_somaxconn(backlog: u32) {
    let Ok(text) = std::fs::read_to_string("/proc/sys/net/core/somaxconn") else {
        return;
    };
    if let Ok(max) = text.trim().parse::<u32>() {
        if max < backlog {
            tracing::warn!(
                "The TCP backlog setting of {backlog} cannot be enforced because \
                 /proc/sys/net/core/somaxconn is set to the lower value of {max}."
            );
        }
    }
}

/// Takes connections from `accept` and hands each to `serve`, until the server shuts down; a
/// failed accept (out of descriptors, say) is logged and tried again shortly.
async fn accept_each<S, F: std::future::Future<Output = std::io::Result<S>>>(
    srv: &Server,
    mut accept: impl FnMut() -> F,
    mut serve: impl FnMut(S),
) {
    loop {
        let s = tokio::select! {
            r = accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = srv.wait_shutdown() => return,
        };
        srv.stats
            .connections_received
            .fetch_add(1, Ordering::Relaxed);
        serve(s);
    }
}

/// Accepts the connections of a TCP front door (RESP or MessagePack).
async fn accept_loop<C: door::Codec>(srv: Arc<Server>, l: TcpListener) {
    accept_each(
        &srv,
        || l.accept(),
        |(sock, addr)| {
            let _ = sock.set_nodelay(true);
            keepalive(&sock, srv.config.get_i64("tcp-keepalive"));
            let laddr = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
            let local = clients::is_loopback_ip(addr.ip());
            tokio::spawn(conn::serve::<_, C>(
                srv.clone(),
                sock,
                addr.to_string(),
                laddr,
                local,
            ));
        },
    )
    .await
}

/// `unixsocket`: binds `path` (a file left there by an earlier run is removed first, as Redis
/// does) with `unixsocketperm`'s mode (octal; 0 leaves the umask's).
fn listen_unix(path: &str, perm: &str) -> Result<tokio::net::UnixListener, String> {
    let mode = u32::from_str_radix(perm, 8)
        .ok()
        .filter(|m| *m <= 0o777)
        .ok_or_else(|| format!("unixsocketperm: '{perm}' is not an octal mode"))?;
    let _ = std::fs::remove_file(path);
    let l = tokio::net::UnixListener::bind(path)
        .map_err(|e| format!("can't bind the Unix socket '{path}': {e}"))?;
    if mode != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("can't set the mode of '{path}': {e}"))?;
    }
    Ok(l)
}

/// Accepts the connections of the Unix socket (RESP; a peer there is on this host). Their
/// address, as in Redis's CLIENT LIST, is the socket's path.
async fn unix_accept_loop(srv: Arc<Server>, l: tokio::net::UnixListener, path: String) {
    let addr = format!("{path}:0");
    accept_each(
        &srv,
        || l.accept(),
        |(sock, _)| {
            tokio::spawn(conn::serve::<_, door::Resp>(
                srv.clone(),
                sock,
                addr.clone(),
                addr.clone(),
                true,
            ));
        },
    )
    .await
}

/// `tcp-keepalive` as Redis's `anetKeepAlive` sets it: probes after `secs` idle, then every
/// third of that, 3 of them, so a client that vanished without a FIN is found and its
/// connection (and subscriptions) freed. 0 leaves keepalive off.
fn keepalive(sock: &tokio::net::TcpStream, secs: i64) {
    if secs <= 0 {
        return;
    }
    let idle = std::time::Duration::from_secs(secs as u64);
    let ka = socket2::TcpKeepalive::new()
        .with_time(idle)
        .with_interval((idle / 3).max(std::time::Duration::from_secs(1)))
        .with_retries(3);
    if let Err(e) = socket2::SockRef::from(sock).set_tcp_keepalive(&ka) {
        tracing::debug!(error = %e, "can't set TCP keepalive");
    }
}

/// A tiny error alias so `run` can use `?` on string errors without another crate.
pub mod anyhow_lite {
    pub type Result<T> = std::result::Result<T, String>;
}
