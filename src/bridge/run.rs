//! The bridge's tasks: connecting, publishing the change feed (with or without JetStream),
//! and the two channel directions. The module docs of `bridge` give the semantics.
//!
//! Concurrency: no task holds a lock across an `.await`; the change publisher reads the log
//! with `scan_where` and moves `Bridge::next` only after NATS confirmed a whole batch.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind};
use async_nats::{Client, ConnectOptions, HeaderMap};
use bytes::Bytes;
use futures_util::StreamExt;

use super::{subject, Bridge};
use crate::changes::log::ReadError;
use crate::changes::subscribe::scan_where;
use crate::changes::ChangeEvent;
use crate::server::Server;

/// Most events in one published batch.
const BATCH: usize = 256;
/// How long a flush or a batch's acks may take before the batch counts as failed.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(5);
const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(2);
/// Room left in a message for its headers and subject.
const HEADER_ROOM: usize = 1024;

/// Exponential backoff between attempts.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Backoff {
        Backoff(BACKOFF_MIN)
    }

    fn reset(&mut self) {
        self.0 = BACKOFF_MIN;
    }

    /// Sleeps for the current delay and doubles it; false if the server shuts down first.
    async fn wait(&mut self, srv: &Server) -> bool {
        let d = self.0;
        self.0 = (self.0 * 2).min(BACKOFF_MAX);
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = srv.wait_shutdown() => false,
        }
    }
}

pub async fn run(srv: Arc<Server>, b: Arc<Bridge>) {
    let Some(client) = connect(&srv, &b).await else {
        return;
    };
    // Subscribed (and the server has the subscriptions) before the state says `connected`.
    for pattern in &b.opts.subscribe {
        match client.subscribe(pattern.clone()).await {
            Ok(sub) => {
                tokio::spawn(inbound(srv.clone(), b.clone(), sub));
            }
            Err(e) => b.note_error(&format!("can't subscribe to '{pattern}': {e}")),
        }
    }
    if let Err(e) = client.flush().await {
        b.note_error(&format!("NATS flush failed: {e}"));
    }
    tracing::info!(url = %b.opts.url, "NATS bridge connected");
    *b.client.lock() = Some(client.clone());
    if let Some(rx) = b.out_rx.lock().take() {
        tokio::spawn(outbound(srv.clone(), b.clone(), client.clone(), rx));
    }
    if b.opts.changes {
        // With the other push readers of the log, at their lower priority
        // (`server::background`); the NATS connection stays on the client runtime.
        drop(crate::server::background::spawn(async move {
            changes(&srv, &b, &client).await
        }));
    }
}

/// Connects, trying again until it works or the server shuts down. Later disconnections are
/// async-nats's business: it reconnects forever, and resubscribes.
async fn connect(srv: &Server, b: &Bridge) -> Option<Client> {
    let mut backoff = Backoff::new();
    loop {
        let opts = ConnectOptions::new()
            .name("eddy-bridge")
            .no_echo()
            .connection_timeout(Duration::from_secs(5))
            .max_reconnects(None)
            .reconnect_delay_callback(|n| {
                (BACKOFF_MIN * 2u32.saturating_pow(n.min(8) as u32)).min(BACKOFF_MAX)
            });
        let res = tokio::select! {
            r = opts.connect(b.opts.url.as_str()) => r,
            _ = srv.wait_shutdown() => return None,
        };
        match res {
            Ok(c) => return Some(c),
            Err(e) => b.note_error(&format!("can't connect to NATS at {}: {e}", b.opts.url)),
        }
        if !backoff.wait(srv).await {
            return None;
        }
    }
}

/// NATS subject → the channel of the same name.
async fn inbound(srv: Arc<Server>, b: Arc<Bridge>, mut sub: async_nats::Subscriber) {
    loop {
        let msg = tokio::select! {
            m = sub.next() => match m {
                Some(m) => m,
                None => return,
            },
            _ = srv.wait_shutdown() => return,
        };
        // Straight to the subscribers, not through PUBLISH: it never goes back to NATS.
        srv.pubsub.publish(msg.subject.as_bytes(), &msg.payload);
        b.stats.channel_in.fetch_add(1, Ordering::Relaxed);
    }
}

/// Channel → the NATS subject of the same name (queued by `bridge::on_publish`).
async fn outbound(
    srv: Arc<Server>,
    b: Arc<Bridge>,
    client: Client,
    mut rx: tokio::sync::mpsc::Receiver<(Bytes, Bytes)>,
) {
    loop {
        let (channel, msg) = tokio::select! {
            m = rx.recv() => match m {
                Some(m) => m,
                None => return,
            },
            _ = srv.wait_shutdown() => return,
        };
        b.out_bytes
            .fetch_sub(channel.len() + msg.len(), Ordering::Relaxed);
        // `on_publish` let only valid subjects through.
        let subject = String::from_utf8_lossy(&channel).into_owned();
        match client.publish(subject, msg).await {
            Ok(()) => b.stats.channel_out.fetch_add(1, Ordering::Relaxed),
            Err(e) => {
                b.note_error(&format!("can't forward a channel message: {e}"));
                b.stats.channel_dropped.fetch_add(1, Ordering::Relaxed)
            }
        };
    }
}

/// One change ready to publish.
struct Msg {
    subject: String,
    id: String,
    payload: Bytes,
}

/// The event as a message; without its arguments (`"truncated": true`) if it would not fit
/// in `max_payload`, and without its key as well if even that is too much.
fn message(b: &Bridge, ev: &ChangeEvent, epoch: &str, max_payload: usize) -> Msg {
    let mut payload = Vec::with_capacity(256);
    crate::changes::groups::write_event_json(&mut payload, &ev.as_ref(), epoch, Default::default());
    let room = max_payload.saturating_sub(HEADER_ROOM);
    // Only an event too big to publish is edited as a JSON value.
    let mut j = serde_json::Value::Null;
    for field in ["args", "key"] {
        if payload.len() <= room {
            break;
        }
        if j.is_null() {
            j = serde_json::from_slice(&payload).unwrap_or_default();
        }
        if let serde_json::Value::Object(m) = &mut j {
            m.remove(field);
            m.insert("truncated".into(), serde_json::Value::Bool(true));
        }
        payload = serde_json::to_vec(&j).unwrap_or_default();
        if field == "args" {
            b.stats.truncated.fetch_add(1, Ordering::Relaxed);
        }
    }
    Msg {
        subject: subject::change_subject(&b.opts.prefix, ev.db, &ev.event, &ev.key),
        id: format!("{epoch}:{}", ev.offset),
        payload: payload.into(),
    }
}

/// The change publisher: the log from `Bridge::next` to NATS, batch by batch.
async fn changes(srv: &Server, b: &Bridge, client: &Client) {
    let mut backoff = Backoff::new();
    let js = match &b.opts.jetstream {
        Some(name) => {
            let mut js = jetstream::new(client.clone());
            js.set_timeout(CONFIRM_TIMEOUT);
            let cfg = jetstream::stream::Config {
                name: name.clone(),
                subjects: vec![format!("{}.>", b.opts.prefix)],
                ..Default::default()
            };
            loop {
                match js.get_or_create_stream(cfg.clone()).await {
                    Ok(_) => break,
                    Err(e) => b.note_error(&format!("can't create JetStream stream '{name}': {e}")),
                }
                if !backoff.wait(srv).await {
                    return;
                }
            }
            backoff.reset();
            Some(js)
        }
        None => None,
    };
    let epoch = srv.log.epoch();
    let filter = &b.opts.filter;
    loop {
        if srv.shutting_down() {
            return;
        }
        let next = b.next.load(Ordering::Acquire);
        tokio::select! {
            _ = srv.log.wait_for(next, None) => {}
            _ = srv.wait_shutdown() => return,
        }
        let found = match scan_where(&srv.log, next, BATCH, filter.is_empty(), |ev| {
            filter.matches(ev)
        }) {
            Ok(f) => f,
            Err(ReadError::Trimmed { earliest }) => {
                tracing::warn!(
                    from = next,
                    earliest,
                    "the change log no longer holds the NATS bridge's position; skipping to the earliest record"
                );
                b.stats
                    .trimmed
                    .fetch_add(earliest.saturating_sub(next), Ordering::Relaxed);
                b.set_next(earliest);
                continue;
            }
        };
        if !found.events.is_empty() {
            let max_payload = client.server_info().max_payload.max(HEADER_ROOM * 2);
            let msgs: Vec<Msg> = found
                .events
                .iter()
                .map(|ev| message(b, ev, &epoch, max_payload))
                .collect();
            let mut first = true;
            loop {
                if !connected(srv, client).await {
                    return;
                }
                if !first {
                    b.stats
                        .retried
                        .fetch_add(msgs.len() as u64, Ordering::Relaxed);
                }
                first = false;
                b.stats
                    .in_flight
                    .store(msgs.len() as u64, Ordering::Relaxed);
                let res = publish(b, client, js.as_ref(), &msgs).await;
                b.stats.in_flight.store(0, Ordering::Relaxed);
                match res {
                    Ok(()) => break,
                    Err(e) => {
                        b.stats
                            .failed
                            .fetch_add(msgs.len() as u64, Ordering::Relaxed);
                        b.note_error(&e);
                        if !backoff.wait(srv).await {
                            return;
                        }
                    }
                }
            }
            backoff.reset();
        }
        b.set_next(found.next);
    }
}

/// Waits until the client is connected (nothing is handed to it meanwhile); false on shutdown.
async fn connected(srv: &Server, client: &Client) -> bool {
    while client.connection_state() != async_nats::connection::State::Connected {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            _ = srv.wait_shutdown() => return false,
        }
    }
    !srv.shutting_down()
}

/// Publishes a batch and waits for NATS to confirm all of it.
async fn publish(
    b: &Bridge,
    client: &Client,
    js: Option<&jetstream::Context>,
    msgs: &[Msg],
) -> Result<(), String> {
    let stats = &b.stats;
    match js {
        Some(js) => {
            let mut acks = Vec::with_capacity(msgs.len());
            for m in msgs {
                let p = jetstream::message::PublishMessage::build()
                    .payload(m.payload.clone())
                    .message_id(&m.id);
                let ack = js
                    .send_publish(m.subject.clone(), p)
                    .await
                    .map_err(|e| format!("JetStream publish failed: {e}"))?;
                stats.published.fetch_add(1, Ordering::Relaxed);
                acks.push(ack);
            }
            for ack in acks {
                match ack.await {
                    Ok(_) => stats.acked.fetch_add(1, Ordering::Relaxed),
                    Err(e) if e.kind() == PublishErrorKind::TimedOut => {
                        return Err("no JetStream ack in time".into())
                    }
                    Err(e) => return Err(format!("JetStream publish not acknowledged: {e}")),
                };
            }
        }
        None => {
            for m in msgs {
                let mut h = HeaderMap::new();
                h.insert("Nats-Msg-Id", m.id.as_str());
                client
                    .publish_with_headers(m.subject.clone(), h, m.payload.clone())
                    .await
                    .map_err(|e| format!("NATS publish failed: {e}"))?;
                stats.published.fetch_add(1, Ordering::Relaxed);
            }
            tokio::time::timeout(CONFIRM_TIMEOUT, client.flush())
                .await
                .map_err(|_| "NATS flush timed out".to_string())?
                .map_err(|e| format!("NATS flush failed: {e}"))?;
            stats.acked.fetch_add(msgs.len() as u64, Ordering::Relaxed);
        }
    }
    Ok(())
}
