//! Serving Redis replicas: `redis-server --replicaof <eddy>` (or any tool that speaks the
//! replication protocol: `redis-cli --rdb`, `redis-cli --replica`, migration tools) follows an
//! Eddy primary as it follows a Redis one.
//!
//! ## How a replica is fed
//! The replica's handshake (PING, AUTH, `REPLCONF listening-port|capa|rdb-only`) is ordinary
//! commands. `PSYNC` (or the older `SYNC`) turns the connection over to [`serve`]:
//! 1. `+FULLRESYNC <replid> 0` (PSYNC only; see below for `+CONTINUE`), then, until the
//!    snapshot starts, a newline a second (the replica reads them as keep-alives, as Redis's
//!    do);
//! 2. the image: an RDB file (`persistence::rdb`) of the keyspace as of log offset N, built
//!    from a snapshot job without stopping the server. A replica that said `capa eof` (every
//!    Redis since 2.8.18, and redis-cli) gets it as it is built, between `$EOF:<mark>` and the
//!    mark, so the server holds a few 64 KiB pieces of it, never the whole; others get
//!    `$<length>` and the whole file;
//! 3. the stream: every change-log record after N with arguments, as the command it recorded
//!    (effects, not requests: `PXAT` deadlines, INCRBYFLOAT as SET, a script's writes), with
//!    `SELECT` when the database changes and `MULTI`/`EXEC` around a transaction's records, so
//!    the replica never shows half of one. An idle stream carries a `PING` every
//!    `repl-ping-replica-period` seconds (10).
//!
//! The log is the replication backlog: the stream is read from it like any feed reader's
//! cursor (memory, then the disk segments), so a replica that falls behind catches up from the
//! log without slowing writers, and one that falls behind the log's retention is dropped and
//! must synchronise again.
//!
//! A `capa eof` replica finds the image's end mark at the end of one of its reads, so nothing
//! may follow the mark until it has loaded the image: as a Redis primary does, the stream
//! starts on the replica's first `REPLCONF ACK` (sent once it has loaded the image). Without
//! that, a write right after the mark hid it and the replica read the stream as image.
//!
//! ## Partial resynchronisation
//! Each full synchronisation starts a stream with a new replication ID. When a stream stops,
//! the server remembers (for the last 16 streams) how many bytes it wrote and which log record
//! comes next. `PSYNC <id> <offset>` from a replica that applied exactly those bytes (its
//! offset is the count plus one) continues the stream (`+CONTINUE <id>`), provided the log
//! still holds that record. A replica that applied less (bytes lost in flight, a transaction
//! cut short: Redis replicas only count a MULTI once its EXEC is applied) gets a full
//! synchronisation, as does any other ID. INFO stats counts `sync_full`, `sync_partial_ok`
//! and `sync_partial_err`. INFO's `master_replid` stays the server's run ID: with one stream
//! per replica there is no single replication ID. A follower promoted by `PSYNC ... FAILOVER`
//! remembers the stream it followed in the same way (its ID, the bytes applied, the log's next
//! record), so the old primary continues it as a replica (`server::failover`).

//! ## Offsets and WAIT
//! A replica's replication offset counts the stream's bytes from the `FULLRESYNC` offset (0).
//! Redis's WAIT needs to know which writes a replica has applied: each write to the replica
//! leaves a checkpoint (stream bytes → log offset reached), and `REPLCONF ACK <bytes>` from the
//! replica turns the checkpoints it covers into the log offset it has applied. WAIT counts the
//! replicas whose applied offset reaches the last committed one when it was called (a little
//! stricter than Redis, which waits for the caller's own last write), asking them with
//! `REPLCONF GETACK *` when it must wait.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::sync::Notify;

use super::door::Transport;
use super::session::Session;
use super::Server;
use crate::changes::log::{EventRef, ReadError};
use crate::protocol::resp::{ArgBuf, Limits, Parsed};

/// Records read from the log per step.
const BATCH: usize = 1024;
/// Checkpoints kept per replica between two acknowledgements; further ones merge into the
/// newest (acknowledgements then resolve a little later, never too early).
const CHECKPOINTS: usize = 1024;
/// The largest request a replica sends (`REPLCONF ACK <offset>`), with room to spare.
const MAX_REQUEST: usize = 64 * 1024;
const REPLICA_LIMITS: Limits = Limits {
    max_bulk: MAX_REQUEST,
    max_frame: MAX_REQUEST,
    authenticated: true,
};

/// What a replica told us in its handshake (`REPLCONF`), kept in its session.
#[derive(Debug, Clone, Default)]
pub struct ReplConf {
    /// `listening-port`: shown in INFO replication and ROLE.
    pub port: u16,
    /// `ip-address` (a replica's `replica-announce-ip`): shown, and matched by FAILOVER TO,
    /// instead of the connection's address, as in Redis.
    pub ip: Option<String>,
    /// `rdb-only 1`: the client wants the image and no stream (`redis-cli --rdb`).
    pub rdb_only: bool,
    /// `capa eof`: it reads an image of unknown length, sent as it is built.
    pub eof: bool,
    /// `rdb-filter-only <filters>`: the image leaves out the keys, and the function libraries
    /// unless `functions` is listed (`redis-cli --functions-rdb`, `--replica`).
    pub filtered: Option<FilterOnly>,
    /// `GETACK` from the primary this server follows: acknowledge once the batch is applied
    /// (`follow`).
    pub getack: bool,
}

/// What `REPLCONF rdb-filter-only` keeps.
#[derive(Debug, Clone, Copy, Default)]
pub struct FilterOnly {
    pub functions: bool,
}

/// A replica's synchronisation state, as INFO replication names it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
enum State {
    /// The image is being built.
    WaitBgsave = 0,
    /// The image is being sent.
    SendBulk = 1,
    /// The stream is flowing.
    Online = 2,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::WaitBgsave => "wait_bgsave",
            State::SendBulk => "send_bulk",
            State::Online => "online",
        }
    }
}

/// One connected replica.
pub struct Replica {
    pub client_id: u64,
    /// The replication ID this stream is known by (a new one per full synchronisation).
    replid: String,
    ip: String,
    port: u16,
    state: AtomicU8,
    /// Stream bytes written to it (its offset once it has applied them).
    sent: AtomicU64,
    /// Stream bytes it acknowledged.
    acked: AtomicU64,
    /// The log offset its acknowledgement covers.
    applied: AtomicU64,
    last_ack_ms: AtomicU64,
    /// WAIT asks for an acknowledgement of the log up to `getack_at` (0: none asked).
    getack: Notify,
    getack_at: AtomicU64,
    /// (stream bytes, log offset reached at those bytes), oldest first, not yet acknowledged.
    checkpoints: Mutex<VecDeque<(u64, u64)>>,
    /// The log offset the stream reads next, as of `sent` (updated together after each write).
    next: AtomicU64,
}

impl Replica {
    fn new(client_id: u64, replid: String, ip: String, port: u16) -> Replica {
        Replica {
            client_id,
            replid,
            ip,
            port,
            state: AtomicU8::new(State::WaitBgsave as u8),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            applied: AtomicU64::new(0),
            last_ack_ms: AtomicU64::new(0),
            getack: Notify::new(),
            getack_at: AtomicU64::new(0),
            checkpoints: Mutex::new(VecDeque::new()),
            next: AtomicU64::new(0),
        }
    }

    pub fn ip(&self) -> &str {
        &self.ip
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn replid(&self) -> &str {
        &self.replid
    }

    /// Stream bytes written to it.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    fn state(&self) -> State {
        match self.state.load(Ordering::Relaxed) {
            0 => State::WaitBgsave,
            1 => State::SendBulk,
            _ => State::Online,
        }
    }

    fn checkpoint(&self, bytes: u64, log: u64) {
        let mut c = self.checkpoints.lock();
        if c.len() >= CHECKPOINTS {
            if let Some(last) = c.back_mut() {
                *last = (bytes, log);
                return;
            }
        }
        c.push_back((bytes, log));
    }

    /// `REPLCONF ACK <bytes>`: the replica applied the stream up to `bytes`.
    fn ack(&self, bytes: u64) {
        self.acked.fetch_max(bytes, Ordering::Relaxed);
        self.last_ack_ms
            .store(crate::util::now_ms(), Ordering::Relaxed);
        let mut c = self.checkpoints.lock();
        while let Some(&(b, log)) = c.front() {
            if b > bytes {
                break;
            }
            self.applied.fetch_max(log, Ordering::Release);
            c.pop_front();
        }
    }
}

/// The connected replicas (INFO replication, ROLE, WAIT).
#[derive(Default)]
pub struct Replicas {
    list: Mutex<Vec<Arc<Replica>>>,
    /// Woken by every acknowledgement (WAIT waits on it).
    acked: Notify,
    /// The largest offset written to any replica (INFO's `master_repl_offset`).
    high: AtomicU64,
    /// Where recently disconnected streams stopped, for partial resynchronisation.
    resumable: Mutex<VecDeque<Resume>>,
    /// INFO stats' `sync_full`, `sync_partial_ok`, `sync_partial_err`.
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
}

/// Where a stream stopped: after `bytes` of stream `replid`, the next log record to send.
struct Resume {
    replid: String,
    bytes: u64,
    next: u64,
}

/// Stopped streams remembered for partial resynchronisation.
const RESUMABLE: usize = 16;

impl Replicas {
    pub fn len(&self) -> usize {
        self.list.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.lock().is_empty()
    }

    /// Counts `n` more stream bytes written to `rep`; returns its offset now.
    fn note_sent(&self, rep: &Replica, n: usize) -> u64 {
        let now = rep.sent.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        self.high.fetch_max(now, Ordering::Relaxed);
        now
    }

    fn add(&self, r: Arc<Replica>) {
        self.list.lock().push(r);
    }

    /// Unregisters a replica; an online stream is remembered where it stopped.
    fn remove(&self, rep: &Replica) {
        self.list.lock().retain(|r| r.client_id != rep.client_id);
        // A SHUTDOWN or FAILOVER waiting for this replica waits no longer.
        self.acked.notify_waiters();
        if rep.state() == State::Online {
            self.remember(
                rep.replid.clone(),
                rep.sent.load(Ordering::Relaxed),
                rep.next.load(Ordering::Relaxed),
            );
        }
    }

    /// Remembers that after `bytes` of stream `replid` the next log record to send is `next`:
    /// a replica that applied exactly those bytes continues from there.
    pub fn remember(&self, replid: String, bytes: u64, next: u64) {
        let mut q = self.resumable.lock();
        if q.len() >= RESUMABLE {
            q.pop_front();
        }
        q.push_back(Resume {
            replid,
            bytes,
            next,
        });
    }

    /// The log offset to continue stream `replid` from for a replica that applied exactly
    /// `bytes` of it: everything that stream wrote. Anything else (bytes lost in flight, a
    /// transaction cut short, another server's ID) needs a full synchronisation.
    fn take_resume(&self, replid: &[u8], bytes: u64) -> Option<u64> {
        let mut q = self.resumable.lock();
        let i = q
            .iter()
            .position(|r| r.replid.as_bytes() == replid && r.bytes == bytes)?;
        q.remove(i).map(|r| r.next)
    }

    /// Replicas that applied every change up to log offset `offset`.
    pub fn count_applied(&self, offset: u64) -> usize {
        self.list
            .lock()
            .iter()
            .filter(|r| r.applied.load(Ordering::Acquire) >= offset)
            .count()
    }

    /// Returns once `want` replicas applied up to `offset` (WAIT; the caller bounds the time).
    /// Replicas acknowledge once a second on their own; here each is asked as soon as its
    /// stream has carried `offset` (asked earlier, its answer could not cover it).
    pub async fn wait_applied(&self, offset: u64, want: usize) {
        self.wait_acks(offset, || self.count_applied(offset) >= want)
            .await
    }

    /// Returns once no online replica lags behind `offset` (SHUTDOWN; the caller bounds the
    /// time).
    pub async fn wait_caught_up(&self, offset: u64) {
        self.wait_acks(offset, || self.lagging_entries(offset).is_empty())
            .await
    }

    /// Asks every replica to acknowledge `offset` once its stream carried it, then waits for
    /// acknowledgements until `done`.
    async fn wait_acks(&self, offset: u64, done: impl Fn() -> bool) {
        self.ask_acks(offset);
        self.wait_until(done).await
    }

    /// Returns once `done`, looking again after every acknowledgement and disconnection.
    async fn wait_until(&self, done: impl Fn() -> bool) {
        loop {
            let woken = self.acked.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if done() {
                return;
            }
            woken.await;
        }
    }

    /// Online replicas that have not applied the log up to `offset`, as (ip, port,
    /// acknowledged stream offset): what SHUTDOWN waits for, as Redis waits for the replicas
    /// whose acknowledged offset is behind its own.
    pub fn lagging_entries(&self, offset: u64) -> Vec<(String, u16, u64)> {
        self.list
            .lock()
            .iter()
            .filter(|r| r.state() == State::Online && r.applied.load(Ordering::Acquire) < offset)
            .map(|r| (r.ip.clone(), r.port, r.acked.load(Ordering::Relaxed)))
            .collect()
    }

    /// INFO replication's `slave<i>` fields: `ip=..,port=..,state=..,offset=..,lag=..` (lag:
    /// seconds since the replica's last acknowledgement).
    pub fn info_fields(&self) -> Vec<(String, String)> {
        let now = crate::util::now_ms();
        self.list
            .lock()
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let last = r.last_ack_ms.load(Ordering::Relaxed);
                let lag = if last == 0 {
                    0
                } else {
                    now.saturating_sub(last) / 1000
                };
                let v = format!(
                    "ip={},port={},state={},offset={},lag={lag}",
                    r.ip,
                    r.port,
                    r.state().name(),
                    r.acked.load(Ordering::Relaxed),
                );
                (format!("slave{i}"), v)
            })
            .collect()
    }

    /// Online replicas that acknowledged within the last `max_lag` seconds
    /// (`min-replicas-max-lag`).
    pub fn good(&self, max_lag: u64) -> usize {
        let now = crate::util::now_ms();
        self.list
            .lock()
            .iter()
            .filter(|r| {
                r.state() == State::Online
                    && now.saturating_sub(r.last_ack_ms.load(Ordering::Relaxed)) / 1000 <= max_lag
            })
            .count()
    }

    /// The replica at `host` (its address, compared as Redis compares it: ignoring case) and
    /// listening `port`, and whether it is online (FAILOVER TO).
    pub fn find(&self, host: &str, port: i64) -> Option<(Arc<Replica>, bool)> {
        self.list
            .lock()
            .iter()
            .find(|r| r.ip.eq_ignore_ascii_case(host) && i64::from(r.port) == port)
            .map(|r| (r.clone(), r.state() == State::Online))
    }

    /// A replica that has applied the log up to `offset` and acknowledged every byte of its
    /// stream, so that its offset is exactly the stream's: the one given, or the first found
    /// (FAILOVER hands over to it).
    pub fn caught_up(&self, only: Option<&Replica>, offset: u64) -> Option<Arc<Replica>> {
        self.list
            .lock()
            .iter()
            .filter(|r| only.is_none_or(|o| o.client_id == r.client_id))
            .find(|r| {
                r.state() == State::Online
                    && r.applied.load(Ordering::Acquire) >= offset
                    && r.acked.load(Ordering::Relaxed) == r.sent.load(Ordering::Relaxed)
            })
            .cloned()
    }

    /// Asks every replica to acknowledge the log up to `offset` once its stream carried it.
    pub fn ask_acks(&self, offset: u64) {
        for r in self.list.lock().iter() {
            r.getack_at.fetch_max(offset, Ordering::AcqRel);
            r.getack.notify_one();
        }
    }

    /// Completes on the next acknowledgement or disconnection.
    pub fn changed(&self) -> tokio::sync::futures::Notified<'_> {
        self.acked.notified()
    }

    /// Drops every replica's connection (a primary that becomes a replica, as Redis's
    /// `disconnectSlaves`); returns once their streams have stopped, or after `limit`.
    pub async fn disconnect_all(&self, clients: &super::clients::Clients, limit: Duration) {
        for r in self.list.lock().iter() {
            if let Some(c) = clients.get(r.client_id) {
                c.kill();
            }
        }
        let stopped = self.wait_until(|| self.is_empty());
        let _ = tokio::time::timeout(limit, stopped).await;
    }

    /// ROLE's replica entries: (ip, port, acknowledged offset).
    pub fn role_entries(&self) -> Vec<(String, u16, u64)> {
        self.list
            .lock()
            .iter()
            .filter(|r| r.state() == State::Online)
            .map(|r| (r.ip.clone(), r.port, r.acked.load(Ordering::Relaxed)))
            .collect()
    }

    /// The replication offset: the most stream bytes written to a replica (0 until one
    /// connects, as in Redis, which keeps no backlog before its first replica).
    pub fn repl_offset(&self) -> u64 {
        self.high.load(Ordering::Relaxed)
    }
}

/// Whether a command must be refused, as Redis's `processCommand` refuses it: a write (for
/// EXEC: when its transaction holds one) with `READONLY` while this server follows a primary
/// with `replica-read-only yes` (`follow`), or with `NOREPLICAS` when `min-replicas-to-write`
/// asks for more good replicas than there are; any command but a `stale` one with
/// `MASTERDOWN` while the link to the primary is down and `replica-serve-stale-data` is `no`.
/// Off (two loads) while none applies.
#[inline]
pub fn write_refused(
    ctx: &crate::commands::Ctx,
    spec: &crate::commands::CommandSpec,
    args: &crate::protocol::resp::Args,
) -> Option<&'static str> {
    let hot = &ctx.srv.config.hot;
    let want = hot.min_replicas_to_write.load(Ordering::Relaxed);
    if want == 0 && !ctx.srv.keyspace.follower.load(Ordering::Relaxed) {
        return None;
    }
    refused_cold(ctx, spec, args, want)
}

#[cold]
fn refused_cold(
    ctx: &crate::commands::Ctx,
    spec: &crate::commands::CommandSpec,
    args: &crate::protocol::resp::Args,
    want: u64,
) -> Option<&'static str> {
    // Start-up replay and the primary's own stream are never refused.
    if ctx.sess.replaying || ctx.sess.from_primary() {
        return None;
    }
    use crate::commands::flag::{STALE, WRITE};
    let writes = spec.flags & WRITE != 0 || (spec.name == "exec" && ctx.sess.tx.queued_with(WRITE));
    let hot = &ctx.srv.config.hot;
    let follower = ctx.srv.keyspace.follower.load(Ordering::Relaxed);
    if writes {
        // A follower's change feed is its own: consumer groups read `__changes__` there too.
        if follower
            && hot.replica_read_only.load(Ordering::Relaxed)
            && !crate::commands::feed_stream::group_op(spec, args)
        {
            return Some(crate::error::READONLY_REPLICA);
        }
        let lag = hot.min_replicas_max_lag.load(Ordering::Relaxed);
        if want > 0 && lag > 0 && (ctx.srv.replicas.good(lag) as u64) < want {
            return Some(crate::error::NOREPLICAS);
        }
    }
    // `replica-serve-stale-data no`: while the link is down only `stale` commands run (for
    // EXEC: only if everything queued is one).
    let stale_denied = || {
        spec.flags & STALE == 0
            || (spec.name == "exec" && ctx.sess.tx.queued_any(|s| s.flags & STALE == 0))
    };
    (follower
        && !hot.replica_serve_stale_data.load(Ordering::Relaxed)
        && stale_denied()
        && !ctx.srv.upstream.link_up())
    .then_some(crate::error::MASTERDOWN)
}

/// Unregisters the replica when its connection ends, however it ends.
struct Registered<'a>(&'a Server, Arc<Replica>);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.replicas.remove(&self.1);
    }
}

/// What a replica asked for: `PSYNC <replid> <offset>` (`continue_from` holds the two unless
/// the ID is `?`), or `SYNC` (`psync` false). `failover`: `PSYNC ... FAILOVER` from the
/// primary this server follows, which makes this server the primary (`failover`).
#[derive(Debug)]
pub struct SyncRequest {
    pub psync: bool,
    pub continue_from: Option<(Vec<u8>, i64)>,
    pub failover: bool,
}

/// Serves a replica after its `PSYNC` or `SYNC` until it disconnects or falls behind the log.
/// `inbuf` holds whatever it sent after that command.
pub async fn serve<T: Transport>(
    srv: &Server,
    sock: &mut T,
    sess: &mut Session,
    inbuf: &mut BytesMut,
    req: SyncRequest,
    mut killed: super::conn::Killed<'_, '_>,
) {
    let Some(me) = srv.me() else {
        return;
    };
    let conf = sess.replconf.clone();
    let ip = conf.ip.clone().unwrap_or_else(|| {
        sess.info
            .addr
            .rsplit_once(':')
            .map_or(sess.info.addr.as_str(), |(h, _)| h)
            .trim_matches(['[', ']'])
            .to_string()
    });
    sess.info.replica.store(true, Ordering::Relaxed);
    let reps = &srv.replicas;
    if req.failover {
        tracing::info!(client = %sess.info.addr, "MASTER MODE enabled (failover request)");
        // The old primary continues as a replica from where its stream to this server ended.
        if let Some((replid, applied, next)) = super::follow::promote(&me).await {
            reps.remember(replid, applied, next);
        }
    }
    // PSYNC <id> <offset>: the replica applied offset - 1 bytes of stream <id>.
    let resume = req.continue_from.as_ref().and_then(|(id, off)| {
        let applied = u64::try_from(off.checked_sub(1)?).ok()?;
        let next = reps.take_resume(id, applied)?;
        let id = String::from_utf8_lossy(id).into_owned();
        (next >= srv.log.first_offset()).then_some((id, applied, next))
    });
    if req.continue_from.is_some() && resume.is_none() {
        reps.sync_partial_err.fetch_add(1, Ordering::Relaxed);
    }
    let replid = resume
        .as_ref()
        .map_or_else(|| super::random_hex(40), |(id, _, _)| id.clone());
    let rep = Arc::new(Replica::new(sess.id, replid, ip, conf.port));
    if !conf.rdb_only {
        reps.add(rep.clone());
    }
    let _registered = Registered(srv, rep.clone());
    let from = if let Some((_, bytes, next)) = resume {
        reps.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
        tracing::info!(replica = %sess.info.addr, next, "partial resynchronisation accepted");
        let line = format!("+CONTINUE {}\r\n", rep.replid);
        if write(srv, sock, line.as_bytes(), &mut killed)
            .await
            .is_err()
        {
            return;
        }
        rep.sent.store(bytes, Ordering::Relaxed);
        reps.high.fetch_max(bytes, Ordering::Relaxed);
        next
    } else {
        reps.sync_full.fetch_add(1, Ordering::Relaxed);
        tracing::info!(replica = %sess.info.addr, "replica asks for a full synchronisation");
        if req.psync {
            let line = format!("+FULLRESYNC {} 0\r\n", rep.replid);
            if write(srv, sock, line.as_bytes(), &mut killed)
                .await
                .is_err()
            {
                return;
            }
        }
        let parts = crate::persistence::rdb::Parts {
            keys: conf.filtered.is_none(),
            functions: conf.filtered.is_none_or(|f| f.functions),
        };
        let Some(offset) = send_image(sock, me, parts, conf.eof, &rep, &mut killed).await else {
            return;
        };
        tracing::info!(replica = %sess.info.addr, offset, "replica synchronised; streaming changes");
        if conf.rdb_only {
            // Nothing more to send; wait for the client to close.
            let _ = tokio::select! {
                r = sock.read_buf(inbuf) => r.map(|_| ()),
                _ = &mut killed => Ok(()),
            };
            return;
        }
        // Redis replicas find the EOF mark at the end of one read: bytes right behind it would
        // hide it. As a Redis primary does, the stream starts on the replica's first ACK,
        // which it sends once the image is loaded.
        if conf.eof && !first_ack(srv, sock, inbuf, &rep, &mut killed).await {
            return;
        }
        offset + 1
    };
    rep.next.store(from, Ordering::Relaxed);
    rep.checkpoint(rep.sent.load(Ordering::Relaxed), from - 1);
    // The acknowledgement clock starts now (INFO's lag, `repl-timeout`).
    rep.last_ack_ms
        .store(crate::util::now_ms(), Ordering::Relaxed);
    rep.state.store(State::Online as u8, Ordering::Relaxed);
    stream(srv, sock, inbuf, &rep, from, req.psync, killed).await;
    tracing::info!(replica = %sess.info.addr, "replica disconnected");
}

/// `repl-timeout`: how long a replica may stay silent.
fn repl_timeout(srv: &Server) -> Duration {
    Duration::from_secs(srv.config.hot.repl_timeout.load(Ordering::Relaxed).max(1))
}

/// Waits for the replica's first `REPLCONF ACK` (at most `repl-timeout`). False: it closed,
/// was killed, sent garbage or stayed silent.
async fn first_ack<T: Transport>(
    srv: &Server,
    sock: &mut T,
    inbuf: &mut BytesMut,
    rep: &Replica,
    killed: &mut super::conn::Killed<'_, '_>,
) -> bool {
    let deadline = tokio::time::Instant::now() + repl_timeout(srv);
    let mut ab = ArgBuf::default();
    while rep.last_ack_ms.load(Ordering::Relaxed) == 0 {
        tokio::select! {
            n = sock.read_buf(inbuf) => match n {
                Ok(n) if n > 0 => {
                    if !acks(srv, rep, inbuf, &mut ab, &REPLICA_LIMITS) {
                        return false;
                    }
                }
                _ => return false,
            },
            _ = tokio::time::sleep_until(deadline) => return false,
            _ = killed.as_mut() => return false,
        }
    }
    true
}

/// A piece of the image on its way from the thread building it.
enum Piece {
    /// The snapshot began; it covers the log up to this offset.
    Start(u64),
    Data(Vec<u8>),
}

/// Builds the RDB image on a blocking thread and sends it: with `eof` (the replica said `capa
/// eof`) as it is built, between `$EOF:<mark>` and the mark, so memory holds a few pieces of it;
/// otherwise whole, after `$<length>`. Until the snapshot begins (a BGSAVE may be running) a
/// newline a second keeps the replica waiting. Returns the offset the image covers, or None if
/// the connection ended.
async fn send_image<T: Transport>(
    sock: &mut T,
    srv: Arc<Server>,
    parts: crate::persistence::rdb::Parts,
    eof: bool,
    rep: &Replica,
    killed: &mut super::conn::Killed<'_, '_>,
) -> Option<u64> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Piece>(4);
    let builder_srv = srv.clone();
    let builder = tokio::task::spawn_blocking(move || {
        crate::persistence::rdb::build(
            &builder_srv,
            parts,
            |o| drop(tx.blocking_send(Piece::Start(o))),
            |piece| tx.blocking_send(Piece::Data(piece.to_vec())).is_ok(),
        )
    });
    let mut keepalive = tokio::time::interval(Duration::from_secs(1));
    keepalive.tick().await;
    let offset = loop {
        tokio::select! {
            m = rx.recv() => match m {
                Some(Piece::Start(o)) => break o,
                _ => return None,
            },
            _ = keepalive.tick() => write(&srv, sock, b"\n", killed).await.ok()?,
            _ = killed.as_mut() => return None,
        }
    };
    rep.state.store(State::SendBulk as u8, Ordering::Relaxed);
    let mark = eof.then(|| super::random_hex(40));
    let mut whole = Vec::new();
    if let Some(m) = &mark {
        write(&srv, sock, format!("$EOF:{m}\r\n").as_bytes(), killed)
            .await
            .ok()?;
    }
    loop {
        let piece = tokio::select! {
            m = rx.recv() => m,
            _ = killed.as_mut() => return None,
        };
        match piece {
            Some(Piece::Data(d)) if mark.is_some() => write(&srv, sock, &d, killed).await.ok()?,
            Some(Piece::Data(d)) => whole.extend_from_slice(&d),
            Some(Piece::Start(_)) => {}
            None => break,
        }
    }
    // A builder that died mid-way leaves a truncated image: drop the replica (it retries).
    builder.await.ok()?;
    match &mark {
        Some(m) => write(&srv, sock, m.as_bytes(), killed).await.ok()?,
        None => {
            write(
                &srv,
                sock,
                format!("${}\r\n", whole.len()).as_bytes(),
                killed,
            )
            .await
            .ok()?;
            write(&srv, sock, &whole, killed).await.ok()?;
        }
    }
    Some(offset)
}

/// Where the stream is: the database the replica has selected and the transaction being sent.
#[derive(Default)]
struct StreamState {
    db: Option<u32>,
    tx_id: u64,
    tx_left: u32,
    in_multi: bool,
}

/// Appends `args` as a RESP array.
pub(crate) fn command<'a>(out: &mut Vec<u8>, n: usize, args: impl Iterator<Item = &'a [u8]>) {
    let mut o = crate::protocol::resp::Out {
        buf: std::mem::take(out),
        resp3: false,
    };
    o.array(n);
    for a in args {
        o.bulk(a);
    }
    *out = o.buf;
}

/// Appends what the replica must run for one log record.
fn encode(ev: &EventRef<'_>, st: &mut StreamState, out: &mut Vec<u8>) {
    let in_tx = ev.tx_id != 0 && ev.tx_n > 1;
    if in_tx && ev.tx_id != st.tx_id {
        st.tx_id = ev.tx_id;
        st.tx_left = ev.tx_n;
        st.in_multi = false;
    }
    if !ev.args.is_empty() {
        if st.db != Some(ev.db) {
            let db = ev.db.to_string();
            command(out, 2, [&b"SELECT"[..], db.as_bytes()].into_iter());
            st.db = Some(ev.db);
        }
        if in_tx && !st.in_multi {
            command(out, 1, std::iter::once(&b"MULTI"[..]));
            st.in_multi = true;
        }
        command(out, ev.args.len(), ev.args.iter());
    }
    if in_tx {
        st.tx_left = st.tx_left.saturating_sub(1);
        if st.tx_left == 0 {
            if st.in_multi {
                command(out, 1, std::iter::once(&b"EXEC"[..]));
            }
            st.tx_id = 0;
            st.in_multi = false;
        }
    }
}

/// The command stream, from log offset `from` on, and the replica's acknowledgements.
async fn stream<T: Transport>(
    srv: &Server,
    sock: &mut T,
    inbuf: &mut BytesMut,
    rep: &Replica,
    mut from: u64,
    psync: bool,
    mut killed: super::conn::Killed<'_, '_>,
) {
    let mut st = StreamState::default();
    let mut out = Vec::new();
    let mut ab = ArgBuf::default();
    let mut last_write = tokio::time::Instant::now();
    loop {
        out.clear();
        let mut read = 0;
        let mut last = None;
        let r = srv.log.read_with(from, BATCH, |ev| {
            encode(ev, &mut st, &mut out);
            last = Some(ev.offset);
            read += 1;
        });
        if let Err(ReadError::Trimmed { earliest }) = r {
            tracing::warn!(
                replica = rep.client_id,
                next = from,
                earliest,
                "replica fell behind the change log's retention; dropping it"
            );
            return;
        }
        if let Some(l) = last {
            from = l + 1;
        }
        if !out.is_empty() {
            if write(srv, sock, &out, &mut killed).await.is_err() {
                return;
            }
            last_write = tokio::time::Instant::now();
        }
        if last.is_some() {
            let bytes = srv.replicas.note_sent(rep, out.len());
            rep.next.store(from, Ordering::Relaxed);
            rep.checkpoint(bytes, from - 1);
        }
        let asked = rep.getack_at.load(Ordering::Acquire);
        // Once a failover hands over, the stream's length is the offset it names (see below).
        if asked != 0 && from > asked && !srv.failover.in_progress() {
            rep.getack_at
                .compare_exchange(asked, 0, Ordering::AcqRel, Ordering::Relaxed)
                .ok();
            let getack = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";
            if send(srv, sock, rep, getack, &mut killed).await.is_err() {
                return;
            }
            last_write = tokio::time::Instant::now();
        }
        if read == BATCH {
            continue;
        }
        // A PSYNC replica acknowledges every second; one silent for `repl-timeout` is gone
        // (SYNC clients never acknowledge, as in Redis they are not timed out).
        let timeout = repl_timeout(srv);
        let silent = crate::util::now_ms().saturating_sub(rep.last_ack_ms.load(Ordering::Relaxed));
        if psync && silent > timeout.as_millis() as u64 {
            tracing::warn!(replica = rep.client_id, "disconnecting timed-out replica");
            return;
        }
        let period = srv
            .config
            .hot
            .repl_ping_replica_period
            .load(Ordering::Relaxed);
        let ping_at = last_write + Duration::from_secs(period.max(1)).min(timeout);
        tokio::select! {
            _ = srv.log.wait_for(from, Some(ping_at)) => {
                if tokio::time::Instant::now() >= ping_at && srv.log.readable() < from {
                    // As in Redis, no PING while a failover runs: it would move the offset
                    // that the replica must reach and that PSYNC FAILOVER names.
                    if !srv.failover.active()
                        && send(srv, sock, rep, b"*1\r\n$4\r\nPING\r\n", &mut killed).await.is_err()
                    {
                        return;
                    }
                    last_write = tokio::time::Instant::now();
                }
            }
            // WAIT asked: the loop sends GETACK once the stream has carried what it waits for.
            _ = rep.getack.notified() => {}
            n = sock.read_buf(inbuf) => match n {
                Ok(n) if n > 0 => {
                    if !acks(srv, rep, inbuf, &mut ab, &REPLICA_LIMITS) {
                        return;
                    }
                }
                _ => return,
            },
            _ = &mut killed => return,
        }
    }
}

/// Writes to a replica, counted in INFO's `total_net_repl_output_bytes`.
async fn write<T: Transport>(
    srv: &Server,
    sock: &mut T,
    b: &[u8],
    killed: &mut super::conn::Killed<'_, '_>,
) -> std::io::Result<()> {
    srv.stats.repl_wrote(b.len());
    tokio::select! {
        r = sock.write_all(b) => r,
        _ = killed.as_mut() => Err(std::io::ErrorKind::ConnectionAborted.into()),
    }
}

/// Writes bytes that are part of the stream but carry no log record (PING, GETACK).
async fn send<T: Transport>(
    srv: &Server,
    sock: &mut T,
    rep: &Replica,
    b: &[u8],
    killed: &mut super::conn::Killed<'_, '_>,
) -> std::io::Result<()> {
    write(srv, sock, b, killed).await?;
    let bytes = srv.replicas.note_sent(rep, b.len());
    // The log offset reached is unchanged: the previous checkpoint's.
    let log = rep.checkpoints.lock().back().map(|&(_, l)| l);
    if let Some(log) = log {
        rep.checkpoint(bytes, log);
    }
    Ok(())
}

/// Handles what the replica sent: `REPLCONF ACK <offset> [FACK <offset>]` (anything else is
/// ignored, as Redis ignores a replica's other requests). False on a protocol error.
fn acks(srv: &Server, rep: &Replica, inbuf: &mut BytesMut, ab: &mut ArgBuf, lim: &Limits) -> bool {
    use bytes::Buf;
    loop {
        match ab.parse(inbuf, lim) {
            Ok(Parsed::Command { consumed }) => {
                let args = ab.args(inbuf);
                if args.len() >= 3
                    && args.get(0).eq_ignore_ascii_case(b"REPLCONF")
                    && args.get(1).eq_ignore_ascii_case(b"ACK")
                {
                    if let Some(off) = crate::util::num::parse_i64(args.get(2)) {
                        rep.ack(off.max(0) as u64);
                        srv.replicas.acked.notify_waiters();
                    }
                }
                inbuf.advance(consumed);
            }
            Ok(Parsed::Skip { consumed }) => inbuf.advance(consumed),
            Ok(Parsed::Incomplete { .. }) => return inbuf.len() <= MAX_REQUEST,
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acknowledgements_resolve_checkpoints_in_order() {
        let r = Replica::new(1, String::new(), String::new(), 0);
        r.checkpoint(0, 10);
        r.checkpoint(100, 12);
        r.checkpoint(250, 20);
        r.ack(99);
        assert_eq!(r.applied.load(Ordering::Relaxed), 10);
        r.ack(100);
        assert_eq!(r.applied.load(Ordering::Relaxed), 12);
        r.ack(1000);
        assert_eq!(r.applied.load(Ordering::Relaxed), 20);
        assert!(r.checkpoints.lock().is_empty());
        // Past the cap, new checkpoints merge into the newest: never acknowledged too early.
        for i in 0..(CHECKPOINTS as u64 + 10) {
            r.checkpoint(2000 + i, 100 + i);
        }
        assert_eq!(r.checkpoints.lock().len(), CHECKPOINTS);
        r.ack(2000 + CHECKPOINTS as u64);
        assert_eq!(
            r.applied.load(Ordering::Relaxed),
            100 + CHECKPOINTS as u64 - 2
        );
    }
}
