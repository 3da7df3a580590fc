//! The connection loop of every front door (RESP, MessagePack, WebSocket: `server::door`).
//!
//! The loop is generic over the door's [`Transport`] and [`Codec`]: what follows holds for all
//! three, and the RESP door's instance compiles to what it was before the others existed.
//!
//! Read into one buffer; parse and run every complete frame in it (holding the world lock shared
//! from the batch's first command on, taking it exclusively only around an exclusive command);
//! write all the replies in one write; repeat. The write of a pipelined batch (more than one
//! command) waits one scheduler round, so the replies of every connection that was ready go out
//! together, as Redis writes them all in `beforeSleep` (see the comment at the write for why and
//! by how much). Arguments are slices of the read buffer, never copied. A frame
//! split across reads is resumed by the parser. A protocol error gets Redis's error reply and the
//! connection is closed after it is flushed; the server carries on.
//!
//! Pushes arrive on two queues: the change feed's bounded one and the pub/sub queue
//! (`pubsub::ClientSubs`), whose publishers never wait. Pub/sub messages queued while a command
//! runs are written before that command's reply, as Redis's single output buffer orders them.
//! Every write also watches for the connection being killed, so a client that stopped reading
//! (and was closed for its output buffer limit) is closed even while a write waits on it.
//!
//! CLIENT PAUSE (`server::pause`) is read once per batch; a command it holds back ends the batch
//! before it, and the task awaits the end of the pause before running it. A script of another
//! client running (`scripting`) ends the batch the same way, and the task awaits the script's end
//! or its passing `busy-reply-threshold` (from then on commands get BUSY).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};

use super::door::{Codec, Frame, Transport, CLOSE_NORMAL, CLOSE_PROTOCOL};
use super::session::{Action, PushMsg, ReplyMode, Session};
use super::Server;
use crate::commands::{self, flag, Ctx};
use crate::error;
use crate::protocol::resp::{ArgBuf, Limits, Out};

/// Replies buffered beyond this are flushed before more commands run.
const OUT_FLUSH: usize = 512 * 1024;
const READ_CHUNK: usize = 16 * 1024;
/// A read or reply buffer grown past this is given back as soon as it is empty, rather than
/// kept for the connection's lifetime. Smaller ones are kept while the client is active and
/// given back when it idles (`clients::trim_idle_buffers`).
const BIG_BUF: usize = 64 * 1024;

/// Serves one connection of door `C` until it closes. `addr` and `laddr` are the peer's and the
/// local address (a Unix socket's path, as `path:0`); `local`: the peer is on this host.
pub async fn serve<T: Transport, C: Codec>(
    srv: Arc<Server>,
    mut sock: T,
    addr: String,
    laddr: String,
    local: bool,
) {
    let mut codec = C::default();
    let maxclients = srv.config.hot.maxclients.load(Ordering::Relaxed) as usize;
    let refusal = if srv.clients.count() >= maxclients {
        Some(error::MAXCLIENTS)
    } else if srv.config.hot.protected_mode.load(Ordering::Relaxed)
        && !srv.auth_required()
        && !local
    {
        // Redis 7's protected mode: without a password, only this host is served.
        Some(error::DENIED_PROTECTED)
    } else {
        None
    };
    if let Some(msg) = refusal {
        srv.stats
            .rejected_connections
            .fetch_add(1, Ordering::Relaxed);
        let mut out = Out::new(false);
        codec.error(&mut out, msg);
        let _ = sock.write_all(&out.buf).await;
        sock.close(None).await;
        return;
    }
    let id = srv.clients.next_id();
    let info = srv.clients.register(id, addr, laddr);
    info.door.store(C::DOOR as u8, Ordering::Relaxed);
    let mut sess = Session::new(info.clone(), !srv.auth_required());
    sess.door = C::DOOR;
    sess.resp3 = sess.door_resp3();
    info.resp
        .store(if sess.resp3 { 3 } else { 2 }, Ordering::Relaxed);
    let code = run_loop(&srv, &mut sock, &mut sess, &mut codec).await;
    sock.close(code).await;
    srv.clients.unregister(id);
}

/// Returns the close code when the server ends the connection on purpose (see
/// [`Transport::close`]).
async fn run_loop<T: Transport, C: Codec>(
    srv: &Server,
    sock: &mut T,
    sess: &mut Session,
    codec: &mut C,
) -> Option<u16> {
    let mut inbuf = BytesMut::with_capacity(READ_CHUNK);
    let mut ab = ArgBuf::default();
    let mut out = Out::new(false);
    let info = sess.info.clone();
    let mut pending = false;
    // One long-lived waiter: CLIENT KILL and shutdown wake it (a permit is kept if it is not
    // being polled at that moment), so the read loop creates no waiter per read.
    let killed = info.kill.notified();
    tokio::pin!(killed);
    // Asked by the clients cron when the connection has been idle a while (`clients`).
    let trim = info.trim.notified();
    tokio::pin!(trim);
    // The read buffer grew past `BIG_BUF` (a large value or a long pipeline).
    let mut big_inbuf = false;
    sess.pushes = true;
    loop {
        if !pending {
            if inbuf.capacity() - inbuf.len() < 1024 {
                inbuf.reserve(READ_CHUNK);
            }
            // As in Redis, `timeout` spares pub/sub clients and monitors.
            let timeout = if sess.subscribed() || sess.info.monitor.load(Ordering::Relaxed) {
                0
            } else {
                srv.config.hot.timeout_secs.load(Ordering::Relaxed)
            };
            let n = tokio::select! {
                r = sock.read_buf(&mut inbuf) => r,
                m = next_push(&mut sess.feed) => {
                    match (m, sess.feed.as_mut()) {
                        (Some(m), Some(feed)) => {
                            let sent = write_pushes(srv, sock, codec, m, feed, killed.as_mut());
                            if sent.await.is_err() {
                                return None;
                            }
                        }
                        // The task ended (its error, if any, was its last message).
                        _ => sess.feed = None,
                    }
                    continue;
                }
                m = next_message(&mut sess.pubsub) => {
                    if write_messages(srv, sock, codec, sess, m, killed.as_mut()).await.is_err() {
                        return None;
                    }
                    continue;
                }
                _ = &mut killed => return None,
                _ = idle(timeout) => return None,
                _ = &mut trim => {
                    trim.set(info.trim.notified());
                    release_buffers(&mut inbuf, &mut ab, &mut out);
                    big_inbuf = false;
                    publish_buffers(&info, &inbuf, &out);
                    continue;
                }
            };
            match n {
                Ok(0) | Err(_) => return None,
                Ok(n) => {
                    srv.stats.read(n);
                }
            }
            if info.killed.load(Ordering::Acquire) {
                return None;
            }
        }
        crate::changes::log::take_thread_commit();
        crate::changes::log::take_thread_exposed();
        let Ran {
            consumed,
            more,
            fatal,
            need,
            commands,
        } = run_batch(srv, sess, codec, &mut ab, &inbuf, &mut out);
        // Both are this thread's: taken before any await moves the task to another thread.
        let committed = crate::changes::log::take_thread_commit();
        let exposed = crate::changes::log::take_thread_exposed();
        // appendfsync always: a write is acknowledged only once its record is on disk.
        if committed > 0 && srv.log.fsync_always() {
            crate::changes::writer::wait_durable_round(srv, committed).await;
        }
        // A reply naming an offset (a snapshot's, a `latest` cursor) goes out once that offset
        // is readable: a crash before then could reuse it for another change.
        if exposed > 0 {
            srv.log.wait_readable(exposed).await;
        }
        inbuf.advance(consumed);
        pending = more;
        if need > 0 && need < (1 << 30) {
            inbuf.reserve(
                need.min(srv.config.hot.proto_max_bulk_len.load(Ordering::Relaxed) as usize + 2),
            );
        }
        // A buffer grown for a large value goes once the value has been consumed, as Redis
        // gives a large argument's query buffer away: only `capacity()` past the read position
        // is visible, so growth is noted where it happens.
        big_inbuf |= inbuf.capacity() > BIG_BUF;
        if big_inbuf && inbuf.is_empty() {
            inbuf = BytesMut::new();
            big_inbuf = false;
        }
        // DEBUG SLEEP and WAIT reply once the time has passed, as Redis's do; CLIENT KILL or
        // the client's leaving ends the wait, and what it sends meanwhile runs after the reply.
        if let Some(Action::Sleep { pause: d, .. }) = sess.action {
            sess.action = None;
            let slept = tokio::time::sleep(d);
            wait_reading(srv, sock, codec, &mut inbuf, sess, slept, killed.as_mut()).await?;
            pending |= !inbuf.is_empty();
        }
        // WAIT and MIGRATE reply once their wait ends; what the client sends meanwhile runs
        // after the reply.
        if matches!(
            sess.action,
            Some(Action::WaitReplicas { .. } | Action::Migrate(_))
        ) {
            if !reply_after_wait(
                srv,
                sock,
                codec,
                &mut inbuf,
                sess,
                &mut out,
                killed.as_mut(),
            )
            .await
            {
                return None;
            }
            pending |= !inbuf.is_empty();
        }
        if !out.buf.is_empty() {
            srv.stats.wrote(out.buf.len());
            // A pipelined batch's replies go out after the other connections that are ready
            // have run theirs, as Redis writes every reply in `beforeSleep`, after the event
            // loop's round: sent one by one, each reply found the client asleep and paid a
            // wake-up (an interprocessor interrupt under virtualisation: 12% of the server's
            // CPU on ZADD -P 16). Measured, two A/Bs of 5 rounds, -c 50 -P 16, server CPU per
            // request: ZADD -7 to -16%, HSET -10%, INCR -6 to -9%, LPUSH 0, GET +3%. A single
            // command's reply goes at once: there the yield cost more than the wake-ups it saved.
            if commands > 1 {
                tokio::task::yield_now().await;
            }
            if write_killable(sock, &out.buf, killed.as_mut())
                .await
                .is_err()
            {
                return None;
            }
            if out.buf.capacity() > BIG_BUF {
                out.buf = Vec::new();
            } else {
                out.buf.clear();
            }
        }
        publish_buffers(&info, &inbuf, &out);
        if fatal {
            return Some(CLOSE_PROTOCOL);
        }
        let limit = srv.config.hot.query_buffer_limit.load(Ordering::Relaxed) as usize;
        if inbuf.len() > limit {
            tracing::warn!(
                client = sess.id,
                "closing client that reached max query buffer length"
            );
            return None;
        }
        match sess.action.take() {
            None => {}
            Some(Action::Close) => return Some(CLOSE_NORMAL),
            Some(Action::Shutdown { save, now }) => {
                let stopping = tokio::select! {
                    go = super::shutdown::run(srv, save, now) => go,
                    _ = &mut killed => return None,
                };
                if stopping {
                    return None;
                }
                let mut reply = Out::new(sess.resp3);
                reply.error("ERR Errors trying to SHUTDOWN. Check logs.");
                write_late_reply(srv, sock, codec, reply).await?;
                pending = true;
            }
            Some(Action::Sleep { .. })
            | Some(Action::WaitReplicas { .. })
            | Some(Action::Migrate(_)) => {}
            Some(Action::Block(mut b)) => {
                let slow = b.slow.take();
                let reply =
                    wait_blocked(srv, sock, codec, &mut inbuf, sess, b, killed.as_mut()).await?;
                // Logged when served (or ended by an error), not when it timed out, as Redis.
                if let Some((entry, us)) = slow {
                    if !crate::keyspace::blocking::is_timeout_reply(&reply) {
                        commands::slowlog::push(srv, entry, us);
                    }
                }
                if let Some(e) = reply.strip_prefix(b"-") {
                    // Ended by an error (its key or group went away): a failed call, as Redis
                    // counts it on unblocking.
                    srv.stats
                        .error_reply(std::str::from_utf8(e).unwrap_or("ERR").trim_end());
                    let id = sess.info.last_cmd.load(Ordering::Relaxed);
                    if let Some(st) = commands::table().stats.get(id) {
                        st.failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                let reply = Out {
                    buf: reply,
                    resp3: sess.resp3,
                };
                write_late_reply(srv, sock, codec, reply).await?;
                // Commands that arrived while blocked run now.
                pending = true;
            }
            Some(Action::ScriptWait) => {
                if !wait_script(srv, sess.id, false, killed.as_mut()).await {
                    return None;
                }
                pending = true;
            }
            Some(Action::Pause) => {
                if !wait_unpaused(srv, sock, codec, &mut inbuf, sess, killed.as_mut()).await {
                    return None;
                }
                pending = true;
            }
            Some(Action::Replica(req)) => {
                super::replication::serve(srv, sock, sess, &mut inbuf, *req, killed.as_mut()).await;
                return None;
            }
            Some(Action::LogFence(offset)) => {
                tokio::select! {
                    _ = srv.log.wait_readable(offset) => {}
                    _ = &mut killed => return None,
                }
                sess.log_fenced = true;
                pending = true;
            }
        }
    }
}

/// CLIENT LIST's `qbuf`, `qbuf-free` and `rbs`, and what the clients cron sees as held.
fn publish_buffers(info: &super::clients::ClientInfo, inbuf: &BytesMut, out: &Out) {
    info.qbuf.store(inbuf.len(), Ordering::Relaxed);
    info.qbuf_free
        .store(inbuf.capacity() - inbuf.len(), Ordering::Relaxed);
    info.rbs.store(out.buf.capacity(), Ordering::Relaxed);
}

/// Gives an idle connection's buffers back, keeping any partial command read so far (as
/// Redis's `clientsCronResizeQueryBuffer` trims only the free space).
fn release_buffers(inbuf: &mut BytesMut, ab: &mut ArgBuf, out: &mut Out) {
    *inbuf = if inbuf.is_empty() {
        BytesMut::new()
    } else {
        BytesMut::from(&inbuf[..])
    };
    ab.shrink();
    out.buf = Vec::new();
}

pub(super) type Killed<'a, 'b> = std::pin::Pin<&'a mut tokio::sync::futures::Notified<'b>>;

/// Writes `buf`, unless the connection is killed first (CLIENT KILL, shutdown, an output
/// buffer limit): a client that does not read must not keep its connection open.
async fn write_killable<T: Transport>(
    sock: &mut T,
    buf: &[u8],
    killed: Killed<'_, '_>,
) -> std::io::Result<()> {
    killable(sock.write_all(buf), killed).await
}

/// A write that the connection's kill interrupts.
async fn killable(
    write: impl std::future::Future<Output = std::io::Result<()>>,
    killed: Killed<'_, '_>,
) -> std::io::Result<()> {
    tokio::select! {
        r = write => r,
        _ = killed => Err(std::io::ErrorKind::ConnectionAborted.into()),
    }
}

/// Writes a pushed message and any others already queued, in one write. RESP goes out as the
/// messages are, gathered by the transport (no copy); a transcoding door re-encodes each.
async fn write_pushes<T: Transport, C: Codec>(
    srv: &Server,
    sock: &mut T,
    codec: &mut C,
    first: Arc<PushMsg>,
    feed: &mut crate::changes::subscribe::Subscription,
    killed: Killed<'_, '_>,
) -> std::io::Result<()> {
    let mut len = first.resp.len();
    let mut queued = vec![first];
    // Linux takes at most 1024 buffers in one write (IOV_MAX).
    while len < OUT_FLUSH && queued.len() < 1024 {
        match feed.try_recv() {
            Some(m) => {
                len += m.resp.len();
                queued.push(m);
            }
            None => break,
        }
    }
    let msgs: Vec<bytes::Bytes> = if C::TRANSCODES {
        // A message sent to many connections is re-encoded once per output variant.
        let form = codec.push_form();
        queued
            .iter()
            .map(|m| {
                m.form(form, |resp| {
                    let mut enc = Vec::with_capacity(resp.len() + resp.len() / 2);
                    codec.pushes(resp, &mut enc);
                    enc
                })
            })
            .collect()
    } else {
        queued.iter().map(|m| m.resp.clone()).collect()
    };
    len = msgs.iter().map(|m| m.len()).sum();
    srv.stats.wrote(len);
    killable(sock.write_all_bufs(&msgs), killed).await
}

/// Writes the reply of a command that waited (a blocked pop, an aborted SHUTDOWN), after the
/// batch it came in was flushed. None: the connection is gone.
async fn write_late_reply<T: Transport, C: Codec>(
    srv: &Server,
    sock: &mut T,
    codec: &mut C,
    mut reply: Out,
) -> Option<()> {
    codec.finish(&mut reply, 0, 0);
    srv.stats.wrote(reply.buf.len());
    sock.write_all(&reply.buf).await.ok()
}

/// The next change-feed push for this connection (never, without a subscription).
async fn next_push(
    feed: &mut Option<crate::changes::subscribe::Subscription>,
) -> Option<Arc<PushMsg>> {
    match feed {
        Some(f) => f.recv().await,
        None => std::future::pending().await,
    }
}

/// The next pub/sub message for this connection (never, without subscriptions).
async fn next_message(ps: &mut Option<Box<crate::pubsub::ClientSubs>>) -> Option<bytes::Bytes> {
    match ps {
        Some(p) => p.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes a pub/sub message and the others already queued, in one write; their bytes stop
/// counting against the output buffer limit once written.
async fn write_messages<T: Transport, C: Codec>(
    srv: &Server,
    sock: &mut T,
    codec: &mut C,
    sess: &mut Session,
    first: Option<bytes::Bytes>,
    killed: Killed<'_, '_>,
) -> std::io::Result<()> {
    let Some(ps) = sess.pubsub.as_mut() else {
        return Ok(());
    };
    let mut buf = Vec::with_capacity(first.as_ref().map_or(0, |m| m.len()) + 4096);
    let n = ps.drain_into(&mut buf, first, sess.resp3, OUT_FLUSH);
    if C::TRANSCODES {
        let mut enc = Vec::with_capacity(buf.len() + buf.len() / 2);
        codec.pushes(&buf, &mut enc);
        buf = enc;
    }
    srv.stats.wrote(buf.len());
    let r = write_killable(sock, &buf, killed).await;
    ps.written(n);
    r
}

/// Waits for a blocked command's reply (see `keyspace::blocking`): served, timed out, unblocked,
/// killed, or the client closed its socket (None: close the connection). Input that arrives
/// meanwhile is kept for after the reply, as Redis does; pub/sub messages (a RESP3 client may
/// block while subscribed) are written meanwhile, as Redis writes them.
async fn wait_blocked<T: Transport, C: Codec>(
    srv: &Server,
    sock: &mut T,
    codec: &mut C,
    inbuf: &mut BytesMut,
    sess: &mut Session,
    b: super::session::Blocked,
    mut killed: std::pin::Pin<&mut tokio::sync::futures::Notified<'_>>,
) -> Option<Vec<u8>> {
    use crate::keyspace::blocking;
    let super::session::Blocked {
        waiter,
        mut rx,
        deadline,
        ..
    } = b;
    let expiry = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiry);
    let limit = srv.config.hot.query_buffer_limit.load(Ordering::Relaxed) as usize;
    let outcome = loop {
        if inbuf.capacity() - inbuf.len() < 1024 {
            inbuf.reserve(READ_CHUNK);
        }
        tokio::select! {
            r = &mut rx => break r.ok(),
            _ = waiter.retry.notified() => blocking::retry(srv, &waiter),
            _ = &mut expiry => {
                break if blocking::cancel(srv, &waiter) {
                    Some(blocking::timeout_reply(&waiter))
                } else {
                    rx.try_recv().ok()
                };
            }
            _ = &mut killed => {
                blocking::cancel(srv, &waiter);
                break None;
            }
            m = next_message(&mut sess.pubsub) => {
                if write_messages(srv, sock, codec, sess, m, killed.as_mut()).await.is_err() {
                    blocking::cancel(srv, &waiter);
                    break None;
                }
            }
            n = sock.read_buf(inbuf) => match n {
                Ok(n) if n > 0 && inbuf.len() <= limit => {}
                _ => {
                    blocking::cancel(srv, &waiter);
                    break None;
                }
            },
        }
    };
    blocking::finish(srv, &waiter);
    outcome
}

/// Waits out a CLIENT PAUSE that holds back this connection's next command (see
/// `server::pause`). Meanwhile input is kept for after it, and pub/sub pushes are written, as
/// Redis keeps writing to a paused client. False: the connection must close.
async fn wait_unpaused<T: Transport, C: Codec>(
    srv: &Server,
    sock: &mut T,
    codec: &mut C,
    inbuf: &mut BytesMut,
    sess: &mut Session,
    killed: Killed<'_, '_>,
) -> bool {
    let end = srv.pause.wait();
    // Shown as blocked meanwhile (flag `b`, `blocked_clients`), as Redis shows a paused client.
    struct Waiting<'a>(&'a Server, &'a super::clients::ClientInfo);
    impl Drop for Waiting<'_> {
        fn drop(&mut self) {
            self.1.paused.store(false, Ordering::Relaxed);
            self.0.pause.waiting.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let info = sess.info.clone();
    info.paused.store(true, Ordering::Relaxed);
    srv.pause.waiting.fetch_add(1, Ordering::Relaxed);
    let _waiting = Waiting(srv, &info);
    wait_reading(srv, sock, codec, inbuf, sess, end, killed)
        .await
        .is_some()
}

/// WAIT with replicas connected, or MIGRATE: waits, reading meanwhile, until enough replicas
/// applied the offset or the deadline passes (WAIT), or until the transfer ended (MIGRATE:
/// its deletions then run under the world lock, as a command runs: `commands::migrate`), then
/// appends the reply. False: the connection must close.
async fn reply_after_wait<T: Transport, C: Codec>(
    srv: &Server,
    sock: &mut T,
    codec: &mut C,
    inbuf: &mut BytesMut,
    sess: &mut Session,
    out: &mut Out,
    mut killed: Killed<'_, '_>,
) -> bool {
    match sess.action.take() {
        Some(Action::WaitReplicas {
            offset,
            want,
            deadline,
        }) => {
            let acks = async {
                let acked = srv.replicas.wait_applied(offset, want);
                match deadline {
                    Some(d) => drop(tokio::time::timeout_at(d, acked).await),
                    None => acked.await,
                }
            };
            if wait_reading(srv, sock, codec, inbuf, sess, acks, killed.as_mut())
                .await
                .is_none()
            {
                return false;
            }
            let mark = out.mark();
            out.resp3 = sess.resp3;
            out.int(srv.replicas.count_applied(offset) as i64);
            codec.finish(out, mark, 0);
        }
        Some(Action::Migrate(m)) => {
            let io = commands::migrate::transfer(&m);
            let Some(outcome) =
                wait_reading(srv, sock, codec, inbuf, sess, io, killed.as_mut()).await
            else {
                return false;
            };
            let world = loop {
                if let Some(w) = srv.world_read(sess.id) {
                    break w;
                }
                if !wait_script(srv, sess.id, true, killed.as_mut()).await {
                    return false;
                }
            };
            let mark = out.mark();
            out.resp3 = sess.resp3;
            let mut ctx = Ctx {
                srv,
                sess,
                out,
                now: crate::util::now_ms(),
            };
            commands::migrate::finish(&mut ctx, &m, outcome);
            drop(world);
            codec.finish(out, mark, 0);
        }
        other => sess.action = other,
    }
    true
}

/// Waits for `end` while the connection lives: input is kept for after it, pub/sub pushes are
/// written. Returns what `end` gave; None: the connection must close (killed, closed by the
/// client, or its input passed the query buffer limit).
async fn wait_reading<T: Transport, C: Codec, F: std::future::Future>(
    srv: &Server,
    sock: &mut T,
    codec: &mut C,
    inbuf: &mut BytesMut,
    sess: &mut Session,
    end: F,
    mut killed: Killed<'_, '_>,
) -> Option<F::Output> {
    let limit = srv.config.hot.query_buffer_limit.load(Ordering::Relaxed) as usize;
    tokio::pin!(end);
    loop {
        if inbuf.capacity() - inbuf.len() < 1024 {
            inbuf.reserve(READ_CHUNK);
        }
        tokio::select! {
            r = &mut end => return Some(r),
            _ = &mut killed => return None,
            m = next_message(&mut sess.pubsub) => {
                if write_messages(srv, sock, codec, sess, m, killed.as_mut()).await.is_err() {
                    return None;
                }
            }
            n = sock.read_buf(inbuf) => match n {
                Ok(n) if n > 0 && inbuf.len() <= limit => {}
                _ => return None,
            },
        }
    }
}

/// Waits until no other client's script runs, or (unless `to_end`) it runs past
/// `busy-reply-threshold` (then commands get BUSY, or run if they are `allow_busy`). False: the
/// connection was killed.
async fn wait_script(srv: &Server, me: u64, to_end: bool, mut killed: Killed<'_, '_>) -> bool {
    let run = &srv.scripts.run;
    let mut rx = run.subscribe();
    while run.blocks(me) && (to_end || !run.busy()) {
        tokio::select! {
            r = rx.changed() => if r.is_err() { return true },
            _ = &mut killed => return false,
        }
    }
    true
}

/// [`wait_script`] for a session no client can kill (the link to a primary, `follow`).
pub(super) async fn wait_script_forever(srv: &Server, me: u64) {
    let never = tokio::sync::Notify::new();
    let killed = never.notified();
    tokio::pin!(killed);
    wait_script(srv, me, false, killed).await;
}

async fn idle(timeout_secs: u64) {
    if timeout_secs == 0 {
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(Duration::from_secs(timeout_secs)).await;
}

/// Whether a command must wait before it runs, and for which offset: a command that reads the
/// change log (CHANGES, a stream command naming `__changes__`, TRIGGER, which starts readers
/// and reports their positions) is served only readable records (`changes::log`), so it first
/// waits for what was committed before it, or a client would not read the writes it was just
/// acknowledged. Queued in MULTI or run by a script it does not wait (it sees the readable
/// log).
fn log_fence(
    srv: &Server,
    sess: &mut Session,
    spec: &commands::CommandSpec,
    args: &crate::protocol::resp::Args,
) -> Option<u64> {
    let reads_log = match spec.group {
        "changes" | "triggers" => true,
        "stream" => (1..args.len()).any(|i| commands::feed_stream::is_feed(args.get(i))),
        _ => false,
    };
    if !reads_log || sess.tx.in_multi() {
        return None;
    }
    if std::mem::take(&mut sess.log_fenced) {
        return None;
    }
    let committed = srv.log.last_offset();
    (committed > srv.log.readable()).then_some(committed)
}

/// What [`run_batch`] did with a buffer.
pub(super) struct Ran {
    /// Bytes consumed.
    pub consumed: usize,
    /// Complete frames may remain: the batch stopped early.
    pub more: bool,
    /// The connection must close (a protocol error).
    pub fatal: bool,
    /// How many more bytes the partial frame at the end needs.
    pub need: usize,
    /// Commands run.
    pub commands: u64,
}

/// Runs the complete frames at the start of `buf`.
pub(super) fn run_batch<C: Codec>(
    srv: &Server,
    sess: &mut Session,
    codec: &mut C,
    ab: &mut ArgBuf,
    buf: &[u8],
    out: &mut Out,
) -> Ran {
    let mut off = 0;
    // The world lock is taken by the first command that needs it, shared, and kept for the
    // batch; an exclusive command gives it up and the next command takes it again. Taking it
    // up front would make a batch that only runs scripts wait twice for another thread's script.
    let mut world = None;
    let batch = crate::keyspace::BatchScope::new(&srv.keyspace);
    let mut processed = 0u64;
    // One wall-clock reading per batch: commands of one batch share their `now`, as commands of
    // one event-loop iteration share Redis's cached `mstime`.
    let (mut clock, now) = crate::util::clock();
    let mut last_cmd = usize::MAX;
    let mut names = commands::LastName::default();
    // MONITOR and CLIENT PAUSE: one atomic load each per batch when unused.
    sess.monitors_seen = srv.pubsub.monitors.active();
    let paused = srv.pause.mode() != crate::server::pause::NONE;
    let result = loop {
        if sess.action.is_some() {
            break (off, off < buf.len(), false, 0);
        }
        if out.buf.len() > OUT_FLUSH {
            break (off, true, false, 0);
        }
        let lim = Limits {
            max_bulk: srv.config.hot.proto_max_bulk_len.load(Ordering::Relaxed) as usize,
            max_frame: srv.config.hot.query_buffer_limit.load(Ordering::Relaxed) as usize,
            authenticated: sess.authenticated,
        };
        let frame = &buf[off..];
        match codec.parse(ab, frame, &lim) {
            Frame::Incomplete { hint } => break (off, false, false, hint),
            Frame::Skip { consumed } => off += consumed,
            Frame::Command { consumed } => {
                let args = ab.args(frame);
                processed += 1;
                let before = sess.reply;
                let mark = out.mark();
                out.resp3 = sess.resp3;
                match commands::resolve(&args, &mut names) {
                    Err(e) => commands::transactions::rejected(srv, sess, &args, &e, out),
                    Ok(r) => {
                        if paused && crate::server::pause::holds(srv, sess, r.spec, &args) {
                            // Not started: the connection waits for the pause, then runs it.
                            // CLIENT LIST shows it as the client's command meanwhile, as Redis.
                            last_cmd = r.id;
                            sess.info.last_cmd.store(r.id, Ordering::Relaxed);
                            processed -= 1;
                            sess.action = Some(Action::Pause);
                            continue;
                        }
                        if let Some(at) = log_fence(srv, sess, r.spec, &args) {
                            // Not started: it runs once the log is readable up to `at`.
                            processed -= 1;
                            sess.action = Some(Action::LogFence(at));
                            continue;
                        }
                        let exclusive = r.spec.flags & flag::EXCLUSIVE != 0;
                        let mut w = None;
                        if exclusive {
                            // Another batch may wait for the shard this one holds.
                            batch.release();
                            drop(world.take());
                            w = srv.world_write(sess.id);
                        } else if world.is_none() {
                            world = srv.world_read(sess.id);
                        }
                        let mut refused = false;
                        if w.is_none() && world.is_none() {
                            // Another client's script runs: wait for it (not started, like a
                            // paused command), or once it is busy, refuse all but `allow_busy`
                            // commands, which run without the world lock.
                            if !srv.scripts.run.busy() {
                                processed -= 1;
                                sess.action = Some(Action::ScriptWait);
                                continue;
                            }
                            if r.spec.flags & flag::ALLOW_BUSY == 0 {
                                refused = true;
                                commands::table().stats[r.id]
                                    .rejected
                                    .fetch_add(1, Ordering::Relaxed);
                                let busy = srv.scripts.run.busy_error().into();
                                commands::transactions::rejected(srv, sess, &args, &busy, out);
                            }
                        }
                        last_cmd = r.id;
                        if !refused {
                            let mut ctx = Ctx {
                                srv,
                                sess,
                                out,
                                now,
                            };
                            commands::execute(&mut ctx, &r, args, &mut clock);
                        }
                        if exclusive {
                            // The commands an EXEC or a script ran may have left this thread
                            // holding a shard (`keyspace::HELD`): let it go while the world is
                            // still ours, or a BGSAVE that takes the world next waits for that
                            // shard while this thread waits for the world.
                            batch.release();
                            drop(w);
                        }
                    }
                }
                let pushing = std::mem::take(&mut sess.pushing);
                match before {
                    ReplyMode::Off if sess.reply == ReplyMode::Off && !pushing => {
                        out.truncate(mark)
                    }
                    ReplyMode::Skip => {
                        // CLIENT REPLY ON right after SKIP answers OK, as in Redis: it clears
                        // the skip before its reply is written.
                        if !pushing && sess.reply != ReplyMode::On {
                            out.truncate(mark);
                        }
                        if sess.reply == ReplyMode::Skip {
                            sess.reply = ReplyMode::On;
                        }
                    }
                    _ => {}
                }
                let mark = mark.min(out.buf.len());
                let mut pushes = 0;
                if let Some(ps) = sess.pubsub.as_mut() {
                    if ps.has_pending() {
                        // Messages queued before this reply was written go first (a RESP2
                        // client must not see a message after its last UNSUBSCRIBE's reply).
                        let mut msgs = Vec::new();
                        let n = ps.drain_into(&mut msgs, None, sess.resp3, usize::MAX);
                        ps.written(n);
                        pushes = msgs.len();
                        out.buf.splice(mark..mark, msgs);
                    }
                }
                if C::TRANSCODES {
                    codec.finish(out, mark, pushes);
                }
                off += consumed;
            }
            Frame::Invalid { consumed, msg } => {
                codec.error(out, &error::protocol(&msg));
                off += consumed;
            }
            Frame::Fatal(msg) => {
                codec.error(out, &error::protocol(&msg));
                break (off, false, true, 0);
            }
        }
    };
    drop(batch);
    drop(world);
    srv.stats
        .commands_processed
        .fetch_add(processed, Ordering::Relaxed);
    if processed > 0 {
        let info = &sess.info;
        // `clock` was read when the batch's last command ended: no clock read of its own (the
        // clock reads were 2-4% of a request's CPU without pipelining).
        let active = clock.saturating_duration_since(info.created);
        info.last_active_ms
            .store(active.as_millis() as u64, Ordering::Relaxed);
        info.db.store(sess.db, Ordering::Relaxed);
        info.multi.store(sess.tx.queued(), Ordering::Relaxed);
        if last_cmd != usize::MAX {
            info.last_cmd.store(last_cmd, Ordering::Relaxed);
        }
        info.resp
            .store(if sess.resp3 { 3 } else { 2 }, Ordering::Relaxed);
    }
    let (consumed, more, fatal, need) = result;
    Ran {
        consumed,
        more,
        fatal,
        need,
        commands: processed,
    }
}

/// Runs one command in-process, as if a client had sent it, and returns the RESP reply bytes.
/// Used by unit tests and by internal callers that need a command's exact reply.
pub fn exec_one(srv: &Server, sess: &mut Session, argv: &[&[u8]]) -> Vec<u8> {
    let mut frame = Vec::new();
    frame.extend_from_slice(format!("*{}\r\n", argv.len()).as_bytes());
    for a in argv {
        frame.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        frame.extend_from_slice(a);
        frame.extend_from_slice(b"\r\n");
    }
    let mut ab = ArgBuf::default();
    let mut out = Out::new(sess.resp3);
    run_batch(srv, sess, &mut super::door::Resp, &mut ab, &frame, &mut out);
    out.buf
}
