//! The server: shared state, listeners, and shutdown.
//!
//! [`Server`] is shared by every connection task behind an `Arc`. The keyspace, the change log and
//! the client registry each have their own locks; `world` is the one lock above them all: every
//! batch of commands and every background writer holds it shared, and whole-keyspace operations
//! (FLUSHALL, SWAPDB, and later EXEC and scripts) hold it exclusively, which gives them isolation
//! without any per-key bookkeeping on the hot path.

pub mod clients;
pub mod conn;
pub mod session;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::changes::log::ChangeLog;
use crate::config::Config;
use crate::keyspace::Keyspace;
use clients::Clients;

/// Server-wide counters for INFO stats.
#[derive(Default)]
pub struct Stats {
    pub connections_received: AtomicU64,
    pub commands_processed: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    pub errors: AtomicU64,
}

pub struct Server {
    pub config: Config,
    pub keyspace: Keyspace,
    pub log: ChangeLog,
    pub world: RwLock<()>,
    pub clients: Clients,
    pub stats: Stats,
    pub started: Instant,
    pub started_unix: u64,
    pub run_id: String,
    pub active_expire: AtomicBool,
    pub lastsave: AtomicU64,
    pub port: AtomicU64,
    shutdown: AtomicBool,
    shutdown_notify: Notify,
}

fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut r = rand::rng();
    (0..n)
        .map(|_| format!("{:x}", r.random_range(0..16u8)))
        .collect()
}

impl Server {
    pub fn new(config: Config) -> Server {
        let ndbs = config.get_i64("databases").max(1) as usize;
        let shards = config.get_i64("keyspace-shards").max(1) as usize;
        let log_mem = config.get_i64("changes-memory-bytes").max(0) as usize;
        let now = crate::util::now_ms();
        Server {
            keyspace: Keyspace::new(shards, ndbs),
            log: ChangeLog::new(random_hex(32), log_mem.max(1 << 20)),
            world: RwLock::new(()),
            clients: Clients::new(),
            stats: Stats::default(),
            started: Instant::now(),
            started_unix: now / 1000,
            run_id: random_hex(40),
            active_expire: AtomicBool::new(true),
            lastsave: AtomicU64::new(now / 1000),
            port: AtomicU64::new(config.get_i64("port") as u64),
            shutdown: AtomicBool::new(false),
            shutdown_notify: Notify::new(),
            config,
        }
    }

    pub fn auth_required(&self) -> bool {
        self.config.hot.requirepass_set.load(Ordering::Relaxed)
    }

    pub fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
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
        self.log
            .set_max_bytes(self.config.hot.changes_memory_bytes.load(Ordering::Relaxed) as usize);
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

/// Binds the listeners, then serves until SHUTDOWN or a signal.
pub async fn run(config: Config) -> anyhow_lite::Result<()> {
    let dir = config.get("dir");
    std::fs::create_dir_all(&dir).map_err(|e| format!("can't create dir '{dir}': {e}"))?;
    let port = config.get_i64("port") as u16;
    let binds: Vec<String> = config
        .get("bind")
        .split_whitespace()
        .map(|s| s.trim_start_matches('-').to_string())
        .collect();
    let mut listeners = Vec::new();
    for b in &binds {
        let l = TcpListener::bind((b.as_str(), port))
            .await
            .map_err(|e| format!("can't bind {b}:{port}: {e}"))?;
        listeners.push(l);
    }
    let srv = Arc::new(Server::new(config));
    if let Some(l) = listeners.first() {
        if let Ok(a) = l.local_addr() {
            srv.port.store(a.port() as u64, Ordering::Relaxed);
        }
    }
    for l in &listeners {
        if let Ok(a) = l.local_addr() {
            tracing::info!(addr = %a, "Ready to accept connections tcp");
        }
    }
    tokio::spawn(crate::keyspace::expiry::run(srv.clone()));
    for l in listeners {
        tokio::spawn(accept_loop(srv.clone(), l));
    }
    let s2 = srv.clone();
    tokio::spawn(async move {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("received shutdown signal");
        s2.request_shutdown();
    });
    srv.wait_shutdown().await;
    tracing::info!("Eddy is now ready to exit, bye bye...");
    Ok(())
}

async fn accept_loop(srv: Arc<Server>, l: TcpListener) {
    loop {
        let (sock, addr) = tokio::select! {
            r = l.accept() => match r {
                Ok(x) => x,
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
        tokio::spawn(conn::serve(srv.clone(), sock, addr));
    }
}

/// A tiny error alias so `run` can use `?` on string errors without another crate.
pub mod anyhow_lite {
    pub type Result<T> = std::result::Result<T, String>;
}
