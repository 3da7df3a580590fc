//! Following a Redis primary: `REPLICAOF host port` (or `replicaof` in the config) makes Eddy
//! a replica of a Redis server, so an existing Redis deployment gets Eddy's durable, replayable
//! change feed, its triggers and its NATS bridge without changing a client: every change the
//! primary makes reaches Eddy's log as an event with origin `replication`.
//!
//! ## The link
//! The handshake is a Redis replica's: `PING`, `AUTH [masteruser] masterauth` when set,
//! `REPLCONF listening-port <port>`, `REPLCONF capa eof capa psync2`, then `PSYNC`:
//! * `PSYNC ? -1` the first time. The primary answers `+FULLRESYNC <replid> <offset>` and sends
//!   an RDB image (`$<length>`, or `$EOF:<mark>` … `<mark>` when it streams it diskless). The
//!   image is applied as it arrives (entries are parsed from a window of the bytes read, so
//!   memory holds one read and one entry, not the image; an entry cut by a read is parsed again
//!   when more has come), as commands through the ordinary command path with origin
//!   `replication`: `SELECT` per database, `RESTORE key <deadline> <payload> REPLACE ABSTTL` per
//!   key (the payload is the RDB entry's own bytes, sealed as DUMP seals them, so RESTORE's
//!   decoders and checks serve both) and `FUNCTION LOAD REPLACE` per library. So the log
//!   records the image like any other writes: a restart replays it, Eddy's own replicas and
//!   feed readers receive it. Meanwhile other clients get `LOADING`.
//! * Where Redis flushes before loading, the follower compares ([`Diff`]): entries equal to what
//!   it holds are skipped, and what the image lacks is deleted at the end (`DEL`,
//!   `FUNCTION DELETE`). A restart after a crash or a link back after the primary's backlog moved
//!   on then records only what changed meanwhile, instead of a FLUSHALL and every key again for
//!   every feed reader and trigger.
//! * `PSYNC <replid> <offset+1>` after the link drops: `+CONTINUE` carries on from the next byte
//!   without an image. The session (its database, an open MULTI) lives across the reconnection,
//!   so a transaction cut by the drop completes when its EXEC arrives.
//! * After a clean shutdown the restart continues too, as a Redis replica does from the
//!   replication ID and offset it keeps in its RDB file: the shutdown stops the link between two
//!   batches of the stream and writes `<dir>/primary.json` (the primary, its replication ID, the
//!   offset applied, the database selected, and the change log's epoch and last offset once the
//!   log is drained). The next start reads and removes the file; if the log ends exactly there
//!   (nothing was written since, nothing was lost) and the primary is the same, the first PSYNC
//!   names that position, and the primary sends only what the follower missed while it was down
//!   (if its backlog still holds it; otherwise a full synchronisation as above). A crash, an
//!   open MULTI at the stop or a stop during an image leaves no file.
//!
//! Then the primary streams its writes as commands (effects: `PXAT` deadlines, a script's
//! writes inside MULTI/EXEC), which run through the same path; their replies are discarded.
//! The replica acknowledges its offset (bytes of stream applied) with `REPLCONF ACK <offset>`
//! every second and whenever the primary asks (`REPLCONF GETACK`), so WAIT on the primary counts
//! Eddy. A link silent for `repl-timeout` seconds, a closed connection or `CLIENT KILL TYPE
//! master` drops the link; it is tried again a second later with PSYNC.
//!
//! ## While following
//! * With `replica-read-only yes` (the default) other clients' writes get Redis's `READONLY`
//!   error; reads are served, stale while the link is down, as with Redis's
//!   `replica-serve-stale-data yes`.
//! * As a Redis replica, the follower does not expire or evict keys itself: a key past its TTL
//!   is hidden from clients (reads answer as if it were gone) until the primary's `DEL` for it
//!   arrives, which the feed records as `del` with origin `replication`. The primary's own
//!   commands still see the key: they ran before the deadline there, and the stream is applied a
//!   little later here, so deleting it here first would make the two differ.
//! * INFO replication and ROLE report `role:slave` with Redis's fields. `REPLICAOF NO ONE` stops
//!   following and keeps the data; writes are accepted again.
//! * `PSYNC <the stream's ID> <offset> FAILOVER` from the primary (a Redis or Eddy primary
//!   running FAILOVER) stops following the same way ([`promote`]), and the primary continues
//!   as this server's replica from where the stream ended. This server running FAILOVER follows
//!   its replica ([`demote`]) from the position of the stream it sent it (`server::failover`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::clients::ClientInfo;
use super::session::{Action, Session};
use super::Server;
use crate::changes::Origin;
use crate::persistence::rdb::{Item, Parser, Step};
use crate::protocol::resp::{ArgBuf, Out};

/// Commands built from the image are applied in chunks of about this many bytes (between them
/// the worker serves other connections their `LOADING`).
const LOAD_CHUNK: usize = 1 << 20;
/// The longest line the primary sends during the handshake.
const MAX_LINE: usize = 64 * 1024;
/// How long to wait before connecting again after the link drops.
const RETRY: Duration = Duration::from_secs(1);
/// The most the image reader takes from the socket in one go.
const READY_MAX: usize = 4 << 20;
/// How often the replica acknowledges its offset.
const ACK_EVERY: Duration = Duration::from_secs(1);
/// Where a clean shutdown leaves the follower's position (see the module docs).
const POSITION_FILE: &str = "primary.json";
/// How long a shutdown waits for a streaming link to stop between two batches.
const STOP_WAIT: Duration = Duration::from_secs(3);

/// The primary to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

impl Target {
    /// `host port`, as REPLICAOF and the `replicaof` option give it.
    pub fn parse(host: &[u8], port: &[u8]) -> Result<Target, &'static str> {
        let port = crate::util::num::parse_i64(port)
            .filter(|p| (0..=65535).contains(p))
            .ok_or("ERR Invalid master port")?;
        Ok(Target {
            host: String::from_utf8_lossy(host).into_owned(),
            port: port as u16,
        })
    }

    /// The `replicaof` option: empty, or `host port`.
    pub fn from_config(v: &str) -> Result<Option<Target>, String> {
        let words: Vec<&str> = v.split_whitespace().collect();
        match words.as_slice() {
            [] => Ok(None),
            [host, port] => Target::parse(host.as_bytes(), port.as_bytes())
                .map(Some)
                .map_err(|e| format!("replicaof: {}", e.trim_start_matches("ERR "))),
            _ => Err(format!("replicaof: expected 'host port', got '{v}'")),
        }
    }
}

/// Logs an error one of the primary's commands got here (Redis logs it as "== CRITICAL =="):
/// the follower may now differ from its primary. At most a line a second; the rest are counted.
#[cold]
pub fn primary_command_failed(args: &crate::protocol::resp::Args, err: &str) {
    static NEXT_MS: AtomicU64 = AtomicU64::new(0);
    static SUPPRESSED: AtomicU64 = AtomicU64::new(0);
    let now = crate::util::now_ms();
    let next = NEXT_MS.load(Ordering::Relaxed);
    if now < next
        || NEXT_MS
            .compare_exchange(next, now + 1000, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    tracing::error!(
        command = %String::from_utf8_lossy(args.get(0)),
        error = err,
        suppressed = SUPPRESSED.swap(0, Ordering::Relaxed),
        "a command from the primary failed here: this replica may now differ from it"
    );
}

/// The link's state, as ROLE names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    Connect,
    Connecting,
    Sync,
    Connected,
}

impl LinkState {
    pub fn name(self) -> &'static str {
        match self {
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Sync => "sync",
            LinkState::Connected => "connected",
        }
    }
}

/// What INFO and ROLE show of the link.
#[derive(Debug, Clone)]
pub struct Status {
    pub target: Target,
    pub state: LinkState,
    /// The primary's replication ID and the offset applied (-1 before the first sync).
    pub replid: String,
    pub offset: i64,
    pub last_io: Option<Instant>,
    pub down_since: Instant,
    /// The image being read: its length when announced, and the bytes read so far.
    pub sync_total: Option<u64>,
    pub sync_read: u64,
}

/// This server's primary, if it follows one.
pub struct Upstream {
    status: Mutex<Option<Status>>,
    /// Bumped by every REPLICAOF; a link whose generation is no longer current stops.
    generation: watch::Sender<u64>,
    /// The current link's task, which ends with its position when the server shuts down.
    task: Mutex<Option<JoinHandle<Option<Position>>>>,
}

impl Default for Upstream {
    fn default() -> Self {
        Upstream {
            status: Mutex::new(None),
            generation: watch::channel(0).0,
            task: Mutex::new(None),
        }
    }
}

/// Where the follower stopped in the primary's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    host: String,
    port: u16,
    replid: String,
    /// The primary's offset of the last byte applied.
    offset: i64,
    /// The database the stream had selected.
    db: usize,
}

/// What `primary.json` holds (see the module docs): the position, and the change log's epoch
/// and last offset when it was written, which say whether the data is still what it was then.
#[derive(Serialize, Deserialize)]
struct Saved {
    #[serde(flatten)]
    at: Position,
    epoch: String,
    log_end: u64,
}

/// At shutdown, once the server is stopping: waits briefly for the link task to end, and
/// returns where it stopped (None if it did not end in time or stopped where it cannot
/// continue). Written by [`save_position`] once the log is drained.
pub async fn stopped(srv: &Server) -> Option<Position> {
    let task = srv.upstream.task.lock().take()?;
    tokio::time::timeout(STOP_WAIT, task).await.ok()?.ok()?
}

/// Completes when the server shuts down, unless the link is streaming. A stream stops between
/// two batches on the kill every client gets, so the position it reaches can be kept; a link
/// that is connecting or loading an image holds no position (a FULLRESYNC clears it) and is
/// simply dropped, so the shutdown does not wait for a handshake or an image.
async fn shutdown_unless_streaming(srv: &Server) {
    srv.wait_shutdown().await;
    if srv
        .upstream
        .status()
        .is_some_and(|s| s.state == LinkState::Connected)
    {
        std::future::pending::<()>().await;
    }
}

/// Writes `primary.json` with the log's end as it is now (called once it is drained).
pub fn save_position(srv: &Server, p: Position) {
    let saved = Saved {
        at: p,
        epoch: srv.log.epoch(),
        log_end: srv.log.last_offset(),
    };
    let p = &saved.at;
    let res = serde_json::to_vec(&saved)
        .map_err(std::io::Error::other)
        .and_then(|b| crate::changes::groups::write_atomically(&position_path(srv), &b));
    match res {
        Ok(()) => tracing::info!(replid = %p.replid, offset = p.offset,
            "replication position saved: the restart continues from it"),
        Err(e) => tracing::warn!(error = %e, "replication position not saved"),
    }
}

fn position_path(srv: &Server) -> std::path::PathBuf {
    std::path::PathBuf::from(srv.config.get("dir")).join(POSITION_FILE)
}

/// The saved position if it still describes this data and `target` (and removes the file: a
/// position is used once, by the first link after the start).
fn take_position(srv: &Server, target: &Target) -> Option<Position> {
    let path = position_path(srv);
    let bytes = std::fs::read(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    let saved: Saved = serde_json::from_slice(&bytes).ok()?;
    let p = saved.at;
    let fits = p.host == target.host
        && p.port == target.port
        && saved.epoch == srv.log.epoch()
        && saved.log_end == srv.log.last_offset()
        && p.db < srv.keyspace.ndbs();
    if !fits {
        tracing::info!("the saved replication position does not match the data: full sync");
    }
    fits.then_some(p)
}

impl Upstream {
    /// The link's status while following.
    pub fn status(&self) -> Option<Status> {
        self.status.lock().clone()
    }

    /// Whether the stream from the primary flows (false while connecting or loading an image).
    pub fn link_up(&self) -> bool {
        self.status
            .lock()
            .as_ref()
            .is_some_and(|s| s.state == LinkState::Connected)
    }

    fn update(&self, gen: u64, f: impl FnOnce(&mut Status)) {
        if *self.generation.borrow() != gen {
            return;
        }
        if let Some(s) = self.status.lock().as_mut() {
            f(s);
        }
    }
}

/// REPLICAOF: follow `target`, or stop following (`None`). Returns false when already
/// following that primary (Redis then answers "+OK Already connected to specified master").
pub fn follow(srv: &Arc<Server>, target: Option<Target>) -> bool {
    link(srv, target, |t| take_position(srv, t))
}

/// FAILOVER's hand-over (`failover`): follow `target`, continuing the stream this server sent
/// it from `at` (its ID and length) with `PSYNC ... FAILOVER`, which makes it the primary.
pub fn demote(srv: &Arc<Server>, target: Target, at: Option<(String, i64)>) {
    let from = at.map(|(replid, offset)| Position {
        host: target.host.clone(),
        port: target.port,
        replid,
        offset,
        // The new primary's stream selects its database before its first write.
        db: 0,
    });
    link(srv, Some(target), |_| from);
}

/// PSYNC FAILOVER from the primary this server follows: stops following (as REPLICAOF NO ONE),
/// and returns where its stream ended: (ID, offset applied, the next log offset). Writes stay
/// refused until the link has stopped, so everything the log holds before that offset came
/// from the primary.
pub async fn promote(srv: &Arc<Server>) -> Option<(String, u64, u64)> {
    let task = srv.upstream.task.lock().take();
    srv.upstream.generation.send_modify(|g| *g += 1);
    let stopped = match task {
        Some(t) => tokio::time::timeout(STOP_WAIT, t)
            .await
            .ok()
            .and_then(|r| r.ok())
            .flatten(),
        None => None,
    };
    let next = srv.log.last_offset() + 1;
    link(srv, None, |_| None);
    let p = stopped?;
    Some((p.replid, u64::try_from(p.offset).ok()?, next))
}

/// Follows `target` from the position `from` gives for it (if any), or stops following.
fn link(
    srv: &Arc<Server>,
    target: Option<Target>,
    from: impl FnOnce(&Target) -> Option<Position>,
) -> bool {
    let up = &srv.upstream;
    let mut status = up.status.lock();
    if status.as_ref().map(|s| &s.target) == target.as_ref() && target.is_some() {
        return false;
    }
    // CONFIG GET replicaof (and CONFIG REWRITE) show the current primary, as Redis's do.
    let value = target
        .as_ref()
        .map_or(String::new(), |t| format!("{} {}", t.host, t.port));
    if let Err(e) = srv.config.set("replicaof", &value) {
        tracing::warn!(error = %e, "replicaof not recorded in the configuration");
    }
    let mut gen = 0;
    up.generation.send_modify(|g| {
        *g += 1;
        gen = *g;
    });
    match target {
        None => {
            if let Some(s) = status.take() {
                tracing::info!(host = %s.target.host, port = s.target.port,
                    "MASTER MODE enabled: no longer following the primary");
            }
            srv.keyspace.follower.store(false, Ordering::Release);
            // The link task ends on its own; its position is of no use now.
            up.task.lock().take();
        }
        Some(t) => {
            tracing::info!(host = %t.host, port = t.port, "following a Redis primary (REPLICAOF)");
            *status = Some(Status {
                target: t.clone(),
                state: LinkState::Connect,
                replid: String::new(),
                offset: -1,
                last_io: None,
                down_since: Instant::now(),
                sync_total: None,
                sync_read: 0,
            });
            srv.keyspace.follower.store(true, Ordering::Release);
            let from = from(&t);
            *up.task.lock() = Some(tokio::spawn(run(srv.clone(), t, gen, from)));
        }
    }
    true
}

/// The link task: connects, synchronises and applies the stream, again and again until a
/// REPLICAOF replaces it, a PSYNC FAILOVER promotes this server or the server shuts down (then
/// it returns where it stopped). `from`: the position a clean shutdown saved, or the one a
/// FAILOVER hands over from.
async fn run(
    srv: Arc<Server>,
    target: Target,
    gen: u64,
    from: Option<Position>,
) -> Option<Position> {
    let mut rx = srv.upstream.generation.subscribe();
    let mut link = Link {
        sess: None,
        resume: from.as_ref().map(|p| (p.replid.clone(), p.offset)),
        db: from.map_or(0, |p| p.db),
    };
    loop {
        if *rx.borrow_and_update() != gen {
            // Replaced (REPLICAOF) or promoted (PSYNC FAILOVER, which continues from here).
            return link.position(&target);
        }
        if srv.shutting_down() {
            return link.position(&target);
        }
        srv.upstream
            .update(gen, |s| s.state = LinkState::Connecting);
        let r = tokio::select! {
            r = link.session(&srv, &target, gen) => r,
            _ = rx.changed() => Ok(()),
            _ = shutdown_unless_streaming(&srv) => Ok(()),
        };
        if let Err(e) = r {
            tracing::warn!(host = %target.host, port = target.port, error = %e,
                "link with the primary lost");
        }
        srv.upstream.update(gen, |s| {
            if s.state == LinkState::Connected {
                s.down_since = Instant::now();
            }
            s.state = LinkState::Connect;
            s.sync_total = None;
        });
        if *rx.borrow() != gen {
            // The change that ended the session was seen there: end now, not a retry later.
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(RETRY) => {}
            _ = rx.changed() => {}
            _ = srv.wait_shutdown() => {}
        }
    }
}

/// What survives a dropped connection: the session the stream runs in, and where to resume.
struct Link {
    sess: Option<Session>,
    resume: Option<(String, i64)>,
    /// The database to select when a restart continues (the session is new then).
    db: usize,
}

impl Link {
    /// Where the stream stands, if a restart can continue from there: between two batches, with
    /// no transaction open (its queued commands would be lost).
    fn position(&self, target: &Target) -> Option<Position> {
        let (replid, offset) = self.resume.clone()?;
        let sess = self.sess.as_ref()?;
        (!sess.tx.in_multi()).then(|| Position {
            host: target.host.clone(),
            port: target.port,
            replid,
            offset,
            db: sess.db,
        })
    }

    async fn session(
        &mut self,
        srv: &Arc<Server>,
        target: &Target,
        gen: u64,
    ) -> Result<(), String> {
        let timeout =
            Duration::from_secs(srv.config.hot.repl_timeout.load(Ordering::Relaxed).max(1));
        let addr = (target.host.as_str(), target.port);
        let mut sock = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| "timed out connecting".to_string())?
            .map_err(|e| format!("connecting: {e}"))?;
        let _ = sock.set_nodelay(true);
        let peer = sock.peer_addr().map(|a| a.to_string()).unwrap_or_default();
        let local = sock.local_addr().map(|a| a.to_string()).unwrap_or_default();
        let mut io = LineIo {
            sock: &mut sock,
            stats: &srv.stats,
            counting: false,
            buf: BytesMut::with_capacity(64 * 1024),
            timeout,
        };
        io.handshake(srv).await?;
        let (id, next) = match &self.resume {
            Some((id, off)) => (id.clone(), (off + 1).to_string()),
            None => ("?".into(), "-1".into()),
        };
        let mut psync: Vec<&[u8]> = vec![b"PSYNC", id.as_bytes(), next.as_bytes()];
        let failover = srv.failover.in_progress();
        if failover {
            psync.push(b"FAILOVER");
        }
        let reply = io.ask(&psync).await?;
        // What came after the reply line is the image's or the stream's.
        io.counting = true;
        io.count(io.buf.len());
        let words: Vec<&str> = reply.split_ascii_whitespace().collect();
        if failover {
            if reply.starts_with("+FULLRESYNC") || reply.starts_with("+CONTINUE") {
                super::failover::finished(srv);
            } else {
                super::failover::abort(srv, "Failover target rejected psync request");
                return Err(format!("the failover target refused PSYNC: {reply}"));
            }
        }
        let info = srv.clients.register(srv.clients.next_id(), peer, local);
        info.master.store(true, Ordering::Relaxed);
        let _registered = Registered(srv, info.id);
        let (replid, offset) = match words.as_slice() {
            ["+FULLRESYNC", id, off] => {
                let off: i64 = off.parse().map_err(|_| format!("bad reply: {reply}"))?;
                // Until the image is applied there is no position to continue from.
                (self.resume, self.sess) = (None, None);
                srv.upstream.update(gen, |s| s.state = LinkState::Sync);
                let mut sess = new_session(info.clone());
                load_image(&mut io, srv, gen, &mut sess).await?;
                tracing::info!("MASTER <-> REPLICA sync: finished with success");
                super::supervise::synced(false);
                self.sess = Some(sess);
                (id.to_string(), off)
            }
            ["+CONTINUE", rest @ ..] if self.resume.is_some() => {
                let (id, off) = self.resume.clone().unwrap_or_default();
                tracing::info!("MASTER <-> REPLICA sync: partial resynchronisation accepted");
                super::supervise::synced(true);
                let db = self.db;
                // After a restart the session is new, in the database the stream had selected.
                let sess = self.sess.get_or_insert_with(|| {
                    let mut s = new_session(info.clone());
                    s.db = db;
                    s
                });
                sess.id = info.id;
                sess.info = info.clone();
                (rest.first().map_or(id, |s| s.to_string()), off)
            }
            _ => return Err(format!("the primary refused PSYNC: {reply}")),
        };
        let LineIo { buf, .. } = io;
        self.resume = Some((replid.clone(), offset));
        srv.upstream.update(gen, |s| {
            s.state = LinkState::Connected;
            s.replid = replid;
            s.offset = offset;
            s.last_io = Some(Instant::now());
            s.sync_total = None;
        });
        let sess = self.sess.as_mut().expect("set by either sync");
        stream(srv, &mut sock, buf, sess, &mut self.resume, gen, timeout).await
    }
}

/// The link's entry in CLIENT LIST (flag `M`, type `master`), while it is connected.
struct Registered<'a>(&'a Server, u64);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.clients.unregister(self.1);
    }
}

/// The session the primary's commands run in: recorded with origin `replication`, held to no
/// ACL user, replies discarded.
fn new_session(info: Arc<ClientInfo>) -> Session {
    let mut sess = Session::new(info, true);
    sess.origin = Origin::Replication;
    sess
}

/// The connection during the handshake and the image: lines and counted reads.
struct LineIo<'a> {
    sock: &'a mut TcpStream,
    /// Counts what is read once the handshake is over (INFO's `total_net_repl_input_bytes`:
    /// the image and the stream, as Redis counts).
    stats: &'a super::Stats,
    counting: bool,
    buf: BytesMut,
    timeout: Duration,
}

impl LineIo<'_> {
    async fn fill(&mut self) -> Result<(), String> {
        match tokio::time::timeout(self.timeout, self.sock.read_buf(&mut self.buf)).await {
            Err(_) => Err("timed out reading from the primary".into()),
            Ok(Err(e)) => Err(format!("reading from the primary: {e}")),
            Ok(Ok(0)) => Err("the primary closed the connection".into()),
            Ok(Ok(n)) => {
                self.count(n);
                Ok(())
            }
        }
    }

    fn count(&self, n: usize) {
        if self.counting {
            self.stats.repl_read(n);
        }
    }

    /// Adds what the socket holds already (up to [`READY_MAX`] bytes), without waiting: an
    /// entry that continues is parsed again once per batch of reads, not once per read.
    fn fill_ready(&mut self) {
        while self.buf.len() < READY_MAX {
            self.buf.reserve(64 * 1024);
            match self.sock.try_read_buf(&mut self.buf) {
                Ok(n) if n > 0 => self.count(n),
                _ => return,
            }
        }
    }

    /// The next non-empty line (the primary sends bare newlines as keep-alives).
    async fn line(&mut self) -> Result<String, String> {
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf) {
                let line = self.buf.split_to(i + 1);
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                if !text.is_empty() {
                    return Ok(text);
                }
                continue;
            }
            if self.buf.len() > MAX_LINE {
                return Err("the primary sent an over-long line".into());
            }
            self.fill().await?;
        }
    }

    async fn ask(&mut self, args: &[&[u8]]) -> Result<String, String> {
        let mut frame = Vec::new();
        resp_command(&mut frame, args.iter().copied());
        tokio::time::timeout(self.timeout, self.sock.write_all(&frame))
            .await
            .map_err(|_| "timed out writing to the primary".to_string())?
            .map_err(|e| format!("writing to the primary: {e}"))?;
        self.line().await
    }

    async fn handshake(&mut self, srv: &Server) -> Result<(), String> {
        let pong = self.ask(&[b"PING"]).await?;
        if pong.starts_with('-') && !pong.starts_with("-NOAUTH") {
            return Err(format!("the primary answered PING with {pong}"));
        }
        let pass = srv.config.get("masterauth");
        if !pass.is_empty() {
            let user = srv.config.get("masteruser");
            let mut auth: Vec<&[u8]> = vec![b"AUTH"];
            if !user.is_empty() {
                auth.push(user.as_bytes());
            }
            auth.push(pass.as_bytes());
            let r = self.ask(&auth).await?;
            if r.starts_with('-') {
                return Err(format!("the primary refused AUTH: {r}"));
            }
        }
        let port = match srv.config.get("replica-announce-port").as_str() {
            "0" => srv.port.load(Ordering::Relaxed).to_string(),
            announced => announced.to_string(),
        };
        // Older primaries refuse these; the replication works without them.
        self.ask(&[b"REPLCONF", b"listening-port", port.as_bytes()])
            .await?;
        let ip = srv.config.get("replica-announce-ip");
        if !ip.is_empty() {
            self.ask(&[b"REPLCONF", b"ip-address", ip.as_bytes()])
                .await?;
        }
        self.ask(&[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"])
            .await?;
        Ok(())
    }
}

/// Appends a command as a RESP array of bulk strings.
fn resp_command<'a>(out: &mut Vec<u8>, args: impl ExactSizeIterator<Item = &'a [u8]>) {
    super::replication::command(out, args.len(), args);
}

/// Runs the complete commands at the start of `buf` in the primary's session, discarding
/// their replies. Returns the bytes consumed; `Err` on a protocol error.
async fn apply(
    srv: &Server,
    sess: &mut Session,
    ab: &mut ArgBuf,
    buf: &[u8],
) -> Result<usize, String> {
    let mut out = Out::new(false);
    let mut off = 0;
    loop {
        let super::conn::Ran {
            consumed,
            more,
            fatal,
            ..
        } = super::conn::run_batch(srv, sess, &mut super::door::Resp, ab, &buf[off..], &mut out);
        off += consumed;
        out.buf.clear();
        if fatal {
            return Err("protocol error in the primary's stream".into());
        }
        match sess.action.take() {
            Some(Action::ScriptWait) => super::conn::wait_script_forever(srv, sess.id).await,
            // A paused or fenced command did not run: run it now.
            Some(Action::Pause) | Some(Action::LogFence(_)) => sess.log_fenced = true,
            // Nothing else applies to the primary's commands (they are effects, not requests).
            Some(_) => {}
            None if !more => return Ok(off),
            None => {}
        }
        if off >= buf.len() {
            return Ok(off);
        }
    }
}

/// Reads the image after `+FULLRESYNC` and applies it as it arrives: `$<length>` and that many
/// bytes, or `$EOF:<mark>`, the bytes and the 40-byte mark. The keyspace and functions end as
/// the primary's, changed only where they differ ([`Diff`]). Entries are parsed from a window
/// of what has been read, so memory holds one read and the entry being parsed, never the whole
/// image; what follows the image stays in the connection's buffer (the stream).
async fn load_image(
    io: &mut LineIo<'_>,
    srv: &Server,
    gen: u64,
    sess: &mut Session,
) -> Result<(), String> {
    let head = io.line().await?;
    let spec = head
        .strip_prefix('$')
        .ok_or_else(|| format!("expected the image, got {head}"))?;
    let (mut left, mark) = match spec.strip_prefix("EOF:") {
        Some(m) if m.len() == 40 => (None, Some(m.as_bytes().to_vec())),
        Some(_) => return Err(format!("bad image mark: {head}")),
        None => {
            let len = spec
                .parse::<usize>()
                .map_err(|_| format!("bad image length: {head}"))?;
            (Some(len), None)
        }
    };
    let total = left.map(|l| l as u64);
    struct Loading<'a>(&'a Server);
    impl Drop for Loading<'_> {
        fn drop(&mut self) {
            self.0.loading.store(false, Ordering::Release);
        }
    }
    srv.loading.store(true, Ordering::Release);
    let _loading = Loading(srv);
    let mut ab = ArgBuf::default();
    let mut cmds = Vec::with_capacity(LOAD_CHUNK + 64 * 1024);
    let mut diff = Diff::start(srv);
    let mut parser = Parser::default();
    let (mut win, mut pos, mut read, mut keys) = (Vec::<u8>::new(), 0, 0u64, 0u64);
    loop {
        match parser.next(&win[pos..], read - (win.len() - pos) as u64)? {
            Step::Short => {
                // The entry continues in bytes not read yet, if the image has more.
                if left == Some(0) {
                    return Err("the primary's image is damaged (it ends inside an entry)".into());
                }
                win.drain(..pos);
                pos = 0;
                if io.buf.is_empty() {
                    io.fill().await?;
                    io.fill_ready();
                }
                let take = left.map_or(io.buf.len(), |l| l.min(io.buf.len()));
                win.extend_from_slice(&io.buf[..take]);
                io.buf.advance(take);
                if let Some(l) = left.as_mut() {
                    *l -= take;
                }
                read += take as u64;
                srv.upstream.update(gen, |s| {
                    s.sync_read = read;
                    s.sync_total = total;
                    s.last_io = Some(Instant::now());
                });
            }
            Step::Skip(used) => {
                parser.crc.update(&win[pos..pos + used]);
                pos += used;
            }
            Step::End { body, sum } => {
                parser.crc.update(&win[pos..pos + body]);
                if sum != 0 && sum != parser.crc.clone().finalize() {
                    return Err("the primary's image is damaged (checksum mismatch)".into());
                }
                pos += body + 8;
                break;
            }
            Step::Item(item, used) => {
                if diff.changes(srv, &item) {
                    item.command(&mut cmds);
                }
                keys += matches!(item, Item::Key { .. }) as u64;
                parser.crc.update(&win[pos..pos + used]);
                pos += used;
                if cmds.len() >= LOAD_CHUNK {
                    apply_all(srv, sess, &mut ab, &cmds).await?;
                    cmds.clear();
                    // Other connections get their LOADING replies between chunks.
                    tokio::task::yield_now().await;
                }
            }
        }
    }
    // After the image: nothing (`$<length>`), or the mark and then the stream (`$EOF:`).
    let extra = win.len() - pos;
    let mut rest = BytesMut::from(&win[pos..]);
    rest.extend_from_slice(&io.buf);
    io.buf = rest;
    match (mark, left) {
        (Some(mark), _) => {
            while io.buf.len() < 40 {
                io.fill().await?;
            }
            if io.buf[..40] != mark[..] {
                return Err("the primary's image does not end with its mark".into());
            }
            io.buf.advance(40);
        }
        (None, Some(0)) if extra == 0 => {}
        (None, _) => return Err("the primary's image is longer than announced".into()),
    }
    // What the image lacks goes: the keys, then the libraries.
    let deleted = diff.old.iter().map(|d| d.len() as u64).sum::<u64>();
    for (db, old) in diff.old.iter().enumerate().filter(|(_, o)| !o.is_empty()) {
        let n = db.to_string();
        resp_command(&mut cmds, [&b"SELECT"[..], n.as_bytes()].into_iter());
        let stale: Vec<&[u8]> = old.iter().map(|(k, _)| k.as_slice()).collect();
        for some in stale.chunks(256) {
            let del = std::iter::once(&b"DEL"[..]).chain(some.iter().copied());
            super::replication::command(&mut cmds, some.len() + 1, del);
            if cmds.len() >= LOAD_CHUNK {
                apply_all(srv, sess, &mut ab, &cmds).await?;
                cmds.clear();
            }
        }
    }
    for name in diff.libs.keys() {
        resp_command(
            &mut cmds,
            [&b"FUNCTION"[..], b"DELETE", name.as_bytes()].into_iter(),
        );
    }
    apply_all(srv, sess, &mut ab, &cmds).await?;
    tracing::info!(
        keys,
        unchanged = diff.unchanged,
        deleted,
        bytes = read,
        "MASTER <-> REPLICA sync: image applied"
    );
    Ok(())
}

/// What a full synchronisation has to change. Redis flushes everything and loads the image;
/// the follower compares the image with what it holds instead: a key whose value and deadline
/// are the same is left alone, and the keys (and libraries) the image lacks are deleted at the
/// end. The data ends the same, but a follower that restarts, or whose link comes back after the
/// primary's backlog moved on, writes (so its feed, triggers and bridge carry) only what
/// changed meanwhile, not a FLUSHALL and every key again. It costs a copy of the keys held when
/// the image starts (about 30 bytes a key beyond the key's own bytes), dropped when it ends.
struct Diff {
    /// Per database, the keys held before the image and not met in it yet.
    old: Vec<crate::keyspace::Map<()>>,
    /// The libraries held before the image and not met in it yet: name → code.
    libs: std::collections::HashMap<String, Vec<u8>>,
    /// The database the image's entries are in.
    db: usize,
    unchanged: u64,
}

impl Diff {
    fn start(srv: &Server) -> Diff {
        let ks = &srv.keyspace;
        // Sized at once: grown by doubling, the copy would cost up to twice as much at its peak.
        let mut old: Vec<crate::keyspace::Map<()>> = ks
            .db_sizes()
            .into_iter()
            .map(|(n, _)| crate::keyspace::Map::with_capacity(n))
            .collect();
        for i in 0..ks.nshards() {
            ks.with_shard(i, |s| {
                for (keys, db) in old.iter_mut().zip(&s.dbs) {
                    for (k, _) in db.keys.iter() {
                        keys.insert_new(k.clone(), ());
                    }
                }
            });
        }
        Diff {
            old,
            libs: srv.scripts.library_codes().into_iter().collect(),
            db: 0,
            unchanged: 0,
        }
    }

    /// Whether the entry changes anything (its command must run).
    fn changes(&mut self, srv: &Server, item: &Item<'_>) -> bool {
        let same = match item {
            Item::Select(n) => {
                self.db = usize::try_from(*n).unwrap_or(usize::MAX);
                return true;
            }
            Item::Function(code) => crate::scripting::functions::library_name(code)
                .and_then(|name| self.libs.remove(&name))
                .is_some_and(|had| had == *code),
            Item::Key {
                key,
                value,
                expire_at,
                ..
            } => {
                let held = self
                    .old
                    .get_mut(self.db)
                    .and_then(|o| o.swap_remove(key))
                    .is_some();
                let ks = &srv.keyspace;
                held && ks.with_shard(ks.shard_of(key), |s| {
                    let db = &s.dbs[self.db];
                    db.keys.get(key).is_some_and(|v| v.same_data(value))
                        && db.expires.get(key).copied() == *expire_at
                })
            }
        };
        self.unchanged += same as u64;
        !same
    }
}

async fn apply_all(
    srv: &Server,
    sess: &mut Session,
    ab: &mut ArgBuf,
    cmds: &[u8],
) -> Result<(), String> {
    let mut off = 0;
    while off < cmds.len() {
        let n = apply(srv, sess, ab, &cmds[off..]).await?;
        if n == 0 {
            return Err("a command built from the image did not parse".into());
        }
        off += n;
    }
    Ok(())
}

/// Applies the primary's stream until the link drops or a REPLICAOF replaces it.
async fn stream(
    srv: &Server,
    sock: &mut TcpStream,
    mut buf: BytesMut,
    sess: &mut Session,
    resume: &mut Option<(String, i64)>,
    gen: u64,
    timeout: Duration,
) -> Result<(), String> {
    let mut ab = ArgBuf::default();
    let info = sess.info.clone();
    let mut acks = tokio::time::interval(ACK_EVERY);
    let mut offset = resume.as_ref().map_or(0, |r| r.1);
    // The first acknowledgement tells a diskless primary the image is loaded: the stream starts
    // then.
    send_ack(sock, offset).await?;
    loop {
        if !buf.is_empty() {
            let n = match apply(srv, sess, &mut ab, &buf).await {
                Ok(n) => n,
                Err(e) => {
                    // Part of the batch may have run: the offset no longer says what was
                    // applied, so the next link synchronises in full.
                    *resume = None;
                    return Err(e);
                }
            };
            buf.advance(n);
            offset += n as i64;
            if let Some(r) = resume.as_mut() {
                r.1 = offset;
            }
            srv.upstream.update(gen, |s| {
                s.offset = offset;
                s.last_io = Some(Instant::now());
            });
            if std::mem::take(&mut sess.replconf.getack) {
                send_ack(sock, offset).await?;
            }
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        tokio::select! {
            r = tokio::time::timeout(timeout, sock.read_buf(&mut buf)) => match r {
                Err(_) => return Err("no data from the primary within repl-timeout".into()),
                Ok(Err(e)) => return Err(format!("reading from the primary: {e}")),
                Ok(Ok(0)) => return Err("the primary closed the connection".into()),
                Ok(Ok(n)) => srv.stats.repl_read(n),
            },
            _ = acks.tick() => send_ack(sock, offset).await?,
            _ = info.kill.notified() => return Err("the link was killed (CLIENT KILL)".into()),
        }
        if info.killed.load(Ordering::Acquire) {
            return Err("the link was killed (CLIENT KILL)".into());
        }
    }
}

async fn send_ack(sock: &mut TcpStream, offset: i64) -> Result<(), String> {
    let mut frame = Vec::new();
    let off = offset.to_string();
    resp_command(
        &mut frame,
        [&b"REPLCONF"[..], b"ACK", off.as_bytes()].into_iter(),
    );
    sock.write_all(&frame)
        .await
        .map_err(|e| format!("writing to the primary: {e}"))
}

impl Item<'_> {
    /// Appends the command that applies the entry.
    fn command(&self, cmds: &mut Vec<u8>) {
        match self {
            Item::Select(n) => {
                let n = n.to_string();
                resp_command(cmds, [&b"SELECT"[..], n.as_bytes()].into_iter());
            }
            Item::Function(code) => {
                resp_command(
                    cmds,
                    [&b"FUNCTION"[..], b"LOAD", b"REPLACE", code].into_iter(),
                );
            }
            Item::Key {
                key,
                payload,
                expire_at,
                idle,
                freq,
                ..
            } => {
                let at = expire_at.unwrap_or(0).to_string();
                let mut args: Vec<&[u8]> = vec![
                    b"RESTORE",
                    key,
                    at.as_bytes(),
                    payload,
                    b"REPLACE",
                    b"ABSTTL",
                ];
                let extra;
                if let Some(f) = freq {
                    extra = f.to_string();
                    args.extend([&b"FREQ"[..], extra.as_bytes()]);
                } else if let Some(i) = idle {
                    extra = i.to_string();
                    args.extend([&b"IDLETIME"[..], extra.as_bytes()]);
                }
                resp_command(cmds, args.into_iter());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::encoding::CRC64;
    use crate::persistence::rdb::{
        OPCODE_AUX, OPCODE_EOF, OPCODE_EXPIRETIME_MS, OPCODE_MODULE_AUX, OPCODE_RESIZEDB,
        OPCODE_SELECTDB,
    };

    #[test]
    fn target_ports_are_checked_as_redis_does() {
        assert_eq!(
            Target::parse(b"localhost", b"6379"),
            Ok(Target {
                host: "localhost".into(),
                port: 6379
            })
        );
        assert_eq!(
            Target::parse(b"h", b"65536"),
            Err("ERR Invalid master port")
        );
        assert_eq!(Target::parse(b"h", b"x"), Err("ERR Invalid master port"));
    }

    fn image() -> Vec<u8> {
        let mut body = b"REDIS0010".to_vec();
        body.extend_from_slice(&[OPCODE_AUX, 3]);
        body.extend_from_slice(b"ver");
        body.extend_from_slice(&[5]);
        body.extend_from_slice(b"7.0.0");
        body.extend_from_slice(&[OPCODE_SELECTDB, 2, OPCODE_RESIZEDB, 1, 1]);
        body.push(OPCODE_EXPIRETIME_MS);
        body.extend_from_slice(&1_900_000_000_000u64.to_le_bytes());
        body.extend_from_slice(&[0, 1, b'k', 2, b'v', b'1']);
        body.push(OPCODE_EOF);
        let crc = CRC64.checksum(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    }

    /// Parses `image` handed over `chunk` bytes at a time, as `load_image` does: the commands
    /// it would run, or the error.
    fn parse_in_chunks(image: &[u8], chunk: usize) -> Result<Vec<u8>, String> {
        let (mut parser, mut cmds) = (Parser::default(), Vec::new());
        let (mut win, mut pos, mut fed) = (Vec::new(), 0, 0);
        loop {
            match parser.next(&win[pos..], (fed - (win.len() - pos)) as u64)? {
                Step::Short => {
                    if fed == image.len() {
                        return Err("truncated".into());
                    }
                    win.drain(..pos);
                    pos = 0;
                    let n = chunk.min(image.len() - fed);
                    win.extend_from_slice(&image[fed..fed + n]);
                    fed += n;
                }
                Step::Skip(used) => {
                    parser.crc.update(&win[pos..pos + used]);
                    pos += used;
                }
                Step::Item(item, used) => {
                    item.command(&mut cmds);
                    parser.crc.update(&win[pos..pos + used]);
                    pos += used;
                }
                Step::End { body, sum } => {
                    parser.crc.update(&win[pos..pos + body]);
                    if sum != parser.crc.clone().finalize() {
                        return Err("checksum mismatch".into());
                    }
                    return Ok(cmds);
                }
            }
        }
    }

    #[test]
    fn an_rdb_image_parses_the_same_however_it_arrives() {
        let whole = parse_in_chunks(&image(), usize::MAX).unwrap();
        let text = String::from_utf8_lossy(&whole).to_string();
        assert!(text.starts_with("*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*6\r\n$7\r\nRESTORE\r\n$1\r\nk\r\n$13\r\n1900000000000\r\n"), "{text:?}");
        assert!(
            text.ends_with("$7\r\nREPLACE\r\n$6\r\nABSTTL\r\n"),
            "{text:?}"
        );
        for chunk in [1, 2, 7, 16] {
            assert_eq!(
                parse_in_chunks(&image(), chunk).unwrap(),
                whole,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn a_damaged_or_truncated_image_is_refused() {
        let mut bad = image();
        bad[30] ^= 1;
        assert!(parse_in_chunks(&bad, 5).is_err());
        let good = image();
        assert_eq!(
            parse_in_chunks(&good[..good.len() - 3], 4),
            Err("truncated".to_string())
        );
        let mut module = good[..9].to_vec();
        module.extend_from_slice(&[OPCODE_MODULE_AUX, 0]);
        let e = parse_in_chunks(&module, 100).unwrap_err();
        assert!(e.contains("module"), "{e}");
        let mut unknown = good[..9].to_vec();
        unknown.extend_from_slice(&[7, 1, b'k']);
        let e = parse_in_chunks(&unknown, 100).unwrap_err();
        assert!(e.contains("RDB type 7 at byte 9"), "{e}");
    }
}
