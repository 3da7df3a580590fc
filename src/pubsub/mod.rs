//! Pub/sub: channels, patterns and shard channels, and delivery to subscribed connections.
//!
//! ## Registries
//! [`PubSub`] holds three registries from a name to its subscribers: channels, patterns and
//! shard channels (`SSUBSCRIBE`; a single node owns every slot, so they behave as a separate
//! namespace of channels that patterns never see, as in Redis). Channels are split into
//! shards by name hash, each behind its own `RwLock`, so PUBLISHes to different channels and
//! (UN)SUBSCRIBEs do not serialise on one lock; patterns are one map, because every PUBLISH
//! must test every pattern anyway (as Redis does). A PUBLISH to a channel nobody subscribes to
//! costs two atomic loads when there are no subscriptions at all, and one shard read lock and a
//! hash lookup otherwise.
//!
//! ## Delivery
//! A message is encoded once per PUBLISH (once per matching pattern for `pmessage`) into a
//! shared [`Bytes`] in its RESP2 form; RESP2 and RESP3 encodings differ only in the first byte
//! (`*3` against `>3`), which the connection swaps when it writes. Each subscribed connection
//! has a [`Subscriber`]: an unbounded queue the publisher appends to without ever waiting, and
//! the connection task (`server::conn`) drains into its socket. The publisher therefore never
//! waits for a slow subscriber; instead the bytes queued for each connection are counted (in
//! `ClientInfo::omem`, i.e. CLIENT LIST's `omem`) and checked against the `pubsub` class of
//! `client-output-buffer-limit` on every append: over the hard limit, or over the soft limit for
//! longer than its seconds, the connection is closed (logged as Redis logs it, counted in INFO's
//! `client_output_buffer_limit_disconnections`) and receives nothing more, so a subscriber that
//! never reads costs at most about the hard limit. (The change feed's push queue is separate
//! and keeps its own policy: it is bounded and its producer reads the log later.)
//!
//! Each subscriber's queue is FIFO and a PUBLISH appends to every subscriber before returning,
//! so the messages of one publisher reach every subscriber in the order they were published.
//!
//! ## Connection state
//! A connection's subscriptions live in its session as [`ClientSubs`] (created by its first
//! subscription). Dropping it — the connection closed, was killed, or ran RESET — removes the
//! connection from every registry. Messages queued before a command's reply are written before
//! that reply (`server::conn`), so a RESP2 client never sees a message after the reply to the
//! UNSUBSCRIBE that ended it.
//!
//! Keyspace notifications (`notify.rs`) publish through the same registries.
//!
//! ## Other pushes on the same queue
//! MONITOR lines (`monitor.rs`) and client-side caching invalidations (`tracking.rs`) must not
//! make the command that produces them wait either, so they use the same per-connection queue
//! and the same byte accounting and limit. Every connection that has the queue is registered by
//! id ([`PubSub::endpoint`]) so that a tracking client can redirect its invalidations to another
//! connection. A RESP3 connection gets its queue as soon as it says HELLO 3 (it may be the
//! target of a redirect without subscribing to anything); a RESP2 connection can only receive
//! invalidations in pub/sub mode, where it has the queue anyway.

pub mod limits;
pub mod monitor;
pub mod notify;
pub mod tracking;

use std::collections::HashSet;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::mpsc;

use crate::server::clients::ClientInfo;
use crate::util::glob::glob_match;

type Subs = Vec<Arc<Subscriber>>;
type Map = hashbrown::HashMap<Bytes, Subs, foldhash::fast::RandomState>;

/// Shards of the channel registries (a power of two).
const CHANNEL_SHARDS: usize = 16;

/// Name → subscribers, split into shards by name hash.
struct Registry {
    shards: Box<[RwLock<Map>]>,
    hasher: foldhash::fast::FixedState,
    /// Distinct names with at least one subscriber.
    count: AtomicUsize,
}

impl Registry {
    fn new(shards: usize) -> Registry {
        Registry {
            shards: (0..shards).map(|_| RwLock::new(Map::default())).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x7075_6273_7562),
            count: AtomicUsize::new(0),
        }
    }

    #[inline]
    fn shard(&self, name: &[u8]) -> &RwLock<Map> {
        let i = if self.shards.len() == 1 {
            0
        } else {
            self.hasher.hash_one(name) as usize & (self.shards.len() - 1)
        };
        &self.shards[i]
    }

    fn is_empty(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    fn add(&self, name: &Bytes, s: &Arc<Subscriber>) {
        let mut g = self.shard(name).write();
        match g.get_mut(name.as_ref()) {
            Some(v) => v.push(s.clone()),
            None => {
                g.insert(name.clone(), vec![s.clone()]);
                self.count.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    fn remove(&self, name: &[u8], id: u64) {
        let mut g = self.shard(name).write();
        let Some(v) = g.get_mut(name) else {
            return;
        };
        if let Some(i) = v.iter().position(|s| s.id == id) {
            v.swap_remove(i);
        }
        if v.is_empty() {
            g.remove(name);
            self.count.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn subscribers(&self, name: &[u8]) -> usize {
        if self.is_empty() {
            return 0;
        }
        self.shard(name).read().get(name).map_or(0, Vec::len)
    }

    /// Names matching `pat` (all when `None`).
    fn names(&self, pat: Option<&[u8]>) -> Vec<Bytes> {
        let mut out = Vec::new();
        for s in self.shards.iter() {
            for k in s.read().keys() {
                if pat.is_none_or(|p| glob_match(p, k, false)) {
                    out.push(k.clone());
                }
            }
        }
        out
    }

    /// Delivers `[kind, name, msg]` to the subscribers of `name`; returns how many there were.
    fn deliver(&self, ps: &PubSub, kind: &[u8], name: &[u8], msg: &[u8]) -> usize {
        if self.is_empty() {
            return 0;
        }
        let g = self.shard(name).read();
        let Some(subs) = g.get(name) else {
            return 0;
        };
        let frame = encode(&[kind, name, msg]);
        for s in subs {
            s.deliver(ps, &frame);
        }
        subs.len()
    }
}

/// Encodes a push message as a RESP2 array of bulk strings (the RESP3 form swaps the first byte).
fn encode(parts: &[&[u8]]) -> Bytes {
    let mut b = itoa::Buffer::new();
    let len = 16 + parts.iter().map(|p| p.len() + 16).sum::<usize>();
    let mut v = Vec::with_capacity(len);
    v.push(b'*');
    v.extend_from_slice(b.format(parts.len()).as_bytes());
    v.extend_from_slice(b"\r\n");
    for p in parts {
        v.push(b'$');
        v.extend_from_slice(b.format(p.len()).as_bytes());
        v.extend_from_slice(b"\r\n");
        v.extend_from_slice(p);
        v.extend_from_slice(b"\r\n");
    }
    Bytes::from(v)
}

/// The `pubsub` class of `client-output-buffer-limit`, mirrored for the delivery path.
#[derive(Default)]
struct LimitMirror {
    hard: AtomicU64,
    soft: AtomicU64,
    soft_seconds: AtomicU64,
}

/// The server's pub/sub state. See the module docs.
pub struct PubSub {
    channels: Registry,
    patterns: Registry,
    shard_channels: Registry,
    /// `notify-keyspace-events` flags (see `notify`).
    pub notify_flags: AtomicU32,
    /// Held around a commit and the publication of its keyspace notifications, so that
    /// notifications are published in the log's order.
    order: Mutex<()>,
    limit: LimitMirror,
    /// Connections closed for exceeding `client-output-buffer-limit`.
    pub obl_disconnections: AtomicU64,
    /// Connections in MONITOR mode.
    pub monitors: monitor::Monitors,
    /// Client-side caching: tracked keys, BCAST prefixes, tracking connections.
    pub tracking: tracking::Tracking,
    /// Every connection's queue by client id (see "Other pushes" in the module docs).
    endpoints: RwLock<std::collections::HashMap<u64, Arc<Subscriber>>>,
}

impl Default for PubSub {
    fn default() -> Self {
        Self::new()
    }
}

impl PubSub {
    pub fn new() -> PubSub {
        let ps = PubSub {
            channels: Registry::new(CHANNEL_SHARDS),
            patterns: Registry::new(1),
            shard_channels: Registry::new(CHANNEL_SHARDS),
            notify_flags: AtomicU32::new(0),
            order: Mutex::new(()),
            limit: LimitMirror::default(),
            obl_disconnections: AtomicU64::new(0),
            monitors: monitor::Monitors::default(),
            tracking: tracking::Tracking::new(),
            endpoints: RwLock::new(std::collections::HashMap::new()),
        };
        if let Some(l) = limits::Limits::parse(limits::DEFAULT) {
            ps.set_limits(&l);
        }
        ps
    }

    /// Re-reads `notify-keyspace-events` and `client-output-buffer-limit`.
    pub fn configure(&self, config: &crate::config::Config) {
        self.notify_flags.store(
            config.hot.notify_keyspace_events.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        if let Some(l) = limits::Limits::parse(&config.get("client-output-buffer-limit")) {
            self.set_limits(&l);
        }
        self.tracking
            .set_max_keys(config.get_i64("tracking-table-max-keys").max(0) as usize);
    }

    /// The queue of connection `id`, if it has one.
    pub(crate) fn endpoint(&self, id: u64) -> Option<Arc<Subscriber>> {
        self.endpoints.read().get(&id).cloned()
    }

    fn set_limits(&self, l: &limits::Limits) {
        self.limit.hard.store(l.pubsub.hard, Ordering::Relaxed);
        self.limit.soft.store(l.pubsub.soft, Ordering::Relaxed);
        self.limit
            .soft_seconds
            .store(l.pubsub.soft_seconds, Ordering::Relaxed);
    }

    /// PUBLISH: delivers to the channel's subscribers and to every matching pattern's; returns
    /// the number of deliveries.
    pub fn publish(&self, channel: &[u8], msg: &[u8]) -> usize {
        let mut n = self.channels.deliver(self, b"message", channel, msg);
        if self.patterns.is_empty() {
            return n;
        }
        let g = self.patterns.shards[0].read();
        for (pat, subs) in g.iter() {
            if !glob_match(pat, channel, false) {
                continue;
            }
            let frame = encode(&[b"pmessage", pat, channel, msg]);
            for s in subs {
                s.deliver(self, &frame);
            }
            n += subs.len();
        }
        n
    }

    /// SPUBLISH: shard channels only (patterns never see them).
    pub fn spublish(&self, channel: &[u8], msg: &[u8]) -> usize {
        self.shard_channels.deliver(self, b"smessage", channel, msg)
    }

    /// Whether any channel or pattern has a subscriber (shard channels aside).
    #[inline]
    pub fn has_subscribers(&self) -> bool {
        !self.channels.is_empty() || !self.patterns.is_empty()
    }

    /// Distinct channels with subscribers (INFO `pubsub_channels`).
    pub fn channel_count(&self) -> usize {
        self.channels.count.load(Ordering::Relaxed)
    }

    /// Distinct subscribed patterns (INFO `pubsub_patterns`, PUBSUB NUMPAT).
    pub fn pattern_count(&self) -> usize {
        self.patterns.count.load(Ordering::Relaxed)
    }

    /// Distinct shard channels with subscribers (INFO `pubsubshard_channels`).
    pub fn shard_channel_count(&self) -> usize {
        self.shard_channels.count.load(Ordering::Relaxed)
    }

    pub fn numsub(&self, channel: &[u8]) -> usize {
        self.channels.subscribers(channel)
    }

    pub fn shard_numsub(&self, channel: &[u8]) -> usize {
        self.shard_channels.subscribers(channel)
    }

    pub fn channel_names(&self, pat: Option<&[u8]>) -> Vec<Bytes> {
        self.channels.names(pat)
    }

    pub fn shard_channel_names(&self, pat: Option<&[u8]>) -> Vec<Bytes> {
        self.shard_channels.names(pat)
    }

    fn registry(&self, kind: Kind) -> &Registry {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        }
    }

    /// Redis's `checkClientOutputBufferLimits` for a subscriber that now has `used` bytes
    /// queued: the hard limit at once, the soft limit once exceeded continuously for more than
    /// its seconds (whole seconds, as Redis counts them).
    fn check_limits(&self, s: &Subscriber, used: usize) {
        let used = used as u64;
        let hard = self.limit.hard.load(Ordering::Relaxed);
        let soft = self.limit.soft.load(Ordering::Relaxed);
        if hard > 0 && used >= hard {
            s.close(self);
            return;
        }
        if soft > 0 && used >= soft {
            let now = crate::util::now_ms() / 1000;
            let since = s.soft_since.load(Ordering::Relaxed);
            if since == 0 {
                s.soft_since.store(now.max(1), Ordering::Relaxed);
            } else if now.saturating_sub(since) > self.limit.soft_seconds.load(Ordering::Relaxed) {
                s.close(self);
            }
        } else if s.soft_since.load(Ordering::Relaxed) != 0 {
            s.soft_since.store(0, Ordering::Relaxed);
        }
    }
}

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

/// A subscribed connection, as the registries see it.
pub struct Subscriber {
    id: u64,
    tx: mpsc::UnboundedSender<Bytes>,
    info: Arc<ClientInfo>,
    /// Set once the connection is being closed for its output buffer: nothing more is queued.
    closing: AtomicBool,
    /// Unix seconds since when the soft limit has been exceeded (0: it is not).
    soft_since: AtomicU64,
}

impl Subscriber {
    fn deliver(&self, ps: &PubSub, frame: &Bytes) {
        if self.closing.load(Ordering::Relaxed) {
            return;
        }
        let n = frame.len();
        let used = self.info.omem.fetch_add(n, Ordering::Relaxed) + n;
        if self.tx.send(frame.clone()).is_err() {
            self.info.omem.fetch_sub(n, Ordering::Relaxed);
            return;
        }
        ps.check_limits(self, used);
    }

    fn close(&self, ps: &PubSub) {
        if self.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        ps.obl_disconnections.fetch_add(1, Ordering::Relaxed);
        let t = crate::commands::table();
        let cmd = t
            .full_names
            .get(self.info.last_cmd.load(Ordering::Relaxed))
            .map(String::as_str)
            .unwrap_or("NULL");
        tracing::warn!(
            "Client {} scheduled to be closed ASAP for overcoming of output buffer limits.",
            self.info.line(cmd)
        );
        self.info.kill();
    }
}

/// One connection's subscriptions and its message queue. Dropping it unsubscribes everything.
pub struct ClientSubs {
    ps: Arc<PubSub>,
    sub: Arc<Subscriber>,
    rx: mpsc::UnboundedReceiver<Bytes>,
    channels: HashSet<Bytes, foldhash::fast::RandomState>,
    patterns: HashSet<Bytes, foldhash::fast::RandomState>,
    shard: HashSet<Bytes, foldhash::fast::RandomState>,
    /// In MONITOR mode (registered in [`PubSub::monitors`]).
    monitor: bool,
    /// Set by MONITOR until the queue is next drained: lines must not be written ahead of its
    /// `+OK` (see [`ClientSubs::has_pending`]).
    hold: bool,
}

impl ClientSubs {
    pub fn new(ps: Arc<PubSub>, info: Arc<ClientInfo>) -> ClientSubs {
        let (tx, rx) = mpsc::unbounded_channel();
        let sub = Arc::new(Subscriber {
            id: info.id,
            tx,
            info,
            closing: AtomicBool::new(false),
            soft_since: AtomicU64::new(0),
        });
        ps.endpoints.write().insert(sub.id, sub.clone());
        ClientSubs {
            ps,
            sub,
            rx,
            channels: HashSet::default(),
            patterns: HashSet::default(),
            shard: HashSet::default(),
            monitor: false,
            hold: false,
        }
    }

    /// The connection's queue, created on first use (subscriptions, MONITOR, tracking, RESP3).
    pub fn ensure<'s>(
        slot: &'s mut Option<Box<ClientSubs>>,
        ps: &Arc<PubSub>,
        info: &Arc<ClientInfo>,
    ) -> &'s mut ClientSubs {
        slot.get_or_insert_with(|| Box::new(ClientSubs::new(ps.clone(), info.clone())))
    }

    pub(crate) fn subscriber(&self) -> &Arc<Subscriber> {
        &self.sub
    }

    /// Enters or leaves MONITOR mode.
    pub fn set_monitor(&mut self, on: bool) {
        if on != self.monitor {
            self.monitor = on;
            self.sub.info.monitor.store(on, Ordering::Relaxed);
            if on {
                self.hold = true;
                self.ps.monitors.add(&self.sub);
            } else {
                self.ps.monitors.remove(self.sub.id);
            }
        }
    }

    pub fn is_monitor(&self) -> bool {
        self.monitor
    }

    fn set(&mut self, kind: Kind) -> &mut HashSet<Bytes, foldhash::fast::RandomState> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    fn publish_counts(&self) {
        let i = &self.sub.info;
        i.sub.store(self.channels.len(), Ordering::Relaxed);
        i.psub.store(self.patterns.len(), Ordering::Relaxed);
        i.ssub.store(self.shard.len(), Ordering::Relaxed);
    }

    /// Subscribes; false if already subscribed.
    pub fn subscribe(&mut self, kind: Kind, name: &[u8]) -> bool {
        if self.set(kind).contains(name) {
            return false;
        }
        let name = Bytes::copy_from_slice(name);
        self.ps.registry(kind).add(&name, &self.sub);
        self.set(kind).insert(name);
        self.publish_counts();
        true
    }

    /// Unsubscribes; false if not subscribed.
    pub fn unsubscribe(&mut self, kind: Kind, name: &[u8]) -> bool {
        if !self.set(kind).remove(name) {
            return false;
        }
        self.ps.registry(kind).remove(name, self.sub.id);
        self.publish_counts();
        true
    }

    /// The current subscriptions of one kind (for an UNSUBSCRIBE without arguments).
    pub fn names(&self, kind: Kind) -> Vec<Bytes> {
        match kind {
            Kind::Channel => self.channels.iter().cloned().collect(),
            Kind::Pattern => self.patterns.iter().cloned().collect(),
            Kind::Shard => self.shard.iter().cloned().collect(),
        }
    }

    /// The count Redis replies with after a (un)subscription of `kind`: channels and patterns
    /// together, shard channels apart.
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    /// All subscriptions: the connection is in pub/sub mode while this is non-zero.
    pub fn total(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard.len()
    }

    /// Leaves every subscription without replies (RESET, connection close).
    pub fn unsubscribe_all(&mut self) {
        let (ps, id) = (self.ps.clone(), self.sub.id);
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            let reg = ps.registry(kind);
            for name in self.set(kind).drain() {
                reg.remove(&name, id);
            }
        }
        self.publish_counts();
    }

    /// Whether messages are queued that must go out before the reply being written (none right
    /// after MONITOR: its lines follow its `+OK`, through the connection's normal push path).
    /// The connection asks after every command, so this is one relaxed load of the queued-bytes
    /// count, which a publisher raises before it sends (a message published before a command's
    /// (un)subscription took the registry lock is therefore seen).
    #[inline]
    pub fn has_pending(&self) -> bool {
        !self.hold && self.sub.info.omem.load(Ordering::Relaxed) != 0
    }

    /// Waits for the next queued message.
    pub async fn recv(&mut self) -> Option<Bytes> {
        self.rx.recv().await
    }

    /// Appends queued messages (after `first`, if given) to `out` in the client's protocol,
    /// up to about `max` bytes; returns the bytes appended. The caller calls
    /// [`ClientSubs::written`] with that count once they are on the socket.
    pub fn drain_into(
        &mut self,
        out: &mut Vec<u8>,
        first: Option<Bytes>,
        resp3: bool,
        max: usize,
    ) -> usize {
        self.hold = false;
        let start = out.len();
        let put = |out: &mut Vec<u8>, m: &[u8]| {
            if resp3 && m.first() == Some(&b'*') {
                out.push(b'>');
                out.extend_from_slice(&m[1..]);
            } else {
                out.extend_from_slice(m);
            }
        };
        if let Some(m) = first {
            put(out, &m);
        }
        while out.len() - start < max {
            match self.rx.try_recv() {
                Ok(m) => put(out, &m),
                Err(_) => break,
            }
        }
        out.len() - start
    }

    /// `n` drained bytes have left the connection's buffers.
    pub fn written(&self, n: usize) {
        self.sub.info.omem.fetch_sub(n, Ordering::Relaxed);
    }
}

impl Drop for ClientSubs {
    fn drop(&mut self) {
        self.unsubscribe_all();
        self.set_monitor(false);
        self.ps.endpoints.write().remove(&self.sub.id);
    }
}

thread_local! {
    /// Pushes for the connection whose command runs on this thread (its id, the bytes): its own
    /// MONITOR lines and the invalidations its own command caused go after its reply, as in
    /// Redis — and after a whole EXEC's reply, never inside its array.
    static AFTER_REPLY: std::cell::RefCell<(u64, Vec<u8>)> =
        const { std::cell::RefCell::new((0, Vec::new())) };
}

/// Keeps `bytes` for connection `id`'s output after the running command's reply.
pub(crate) fn after_reply(id: u64, bytes: &[u8]) {
    AFTER_REPLY.with(|o| {
        let mut o = o.borrow_mut();
        if o.0 != id {
            o.0 = id;
            o.1.clear();
        }
        o.1.extend_from_slice(bytes);
    });
}

/// Appends what [`after_reply`] kept for `id` to `out`.
pub(crate) fn take_after_reply(id: u64, out: &mut Vec<u8>) {
    AFTER_REPLY.with(|o| {
        let mut o = o.borrow_mut();
        if o.0 == id && !o.1.is_empty() {
            out.extend_from_slice(&o.1);
            o.1.clear();
            if o.1.capacity() > 64 * 1024 {
                o.1 = Vec::new();
            }
        }
    });
}

/// The dispatcher's hook after a command ran (`commands::call`), taken only when this batch saw
/// a monitor or the connection tracks: the MONITOR line, the end of a CLIENT CACHING hint, and
/// this connection's own pushes after its reply (held back while an EXEC runs its commands).
pub fn after_command(
    ctx: &mut crate::commands::Ctx,
    r: &crate::commands::Resolved,
    args: crate::protocol::resp::Args,
) {
    let in_exec = crate::keyspace::txn::capturing();
    if ctx.sess.monitors_seen {
        monitor::feed(ctx, r, args);
    }
    if let Some(t) = ctx.sess.tracking.as_deref_mut() {
        let client_cmd = crate::commands::table().full_names[r.id].starts_with("client|");
        let in_tx = in_exec || ctx.sess.tx.in_multi();
        tracking::after_command(t, client_cmd, in_tx);
    }
    if !in_exec {
        take_after_reply(ctx.sess.id, &mut ctx.out.buf);
    }
}

/// Top-level commands a RESP2 client may run while subscribed (Redis's list).
pub fn allowed_in_subscribed_mode(full_name: &str) -> bool {
    matches!(
        full_name,
        "subscribe"
            | "psubscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "punsubscribe"
            | "sunsubscribe"
            | "ping"
            | "quit"
            | "reset"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::clients::Clients;

    fn client(c: &Clients) -> Arc<ClientInfo> {
        c.register(c.next_id(), "a".into(), "l".into())
    }

    fn drain(s: &mut ClientSubs, resp3: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let n = s.drain_into(&mut out, None, resp3, usize::MAX);
        s.written(n);
        out
    }

    #[test]
    fn channel_pattern_and_shard_deliveries() {
        let ps = Arc::new(PubSub::new());
        let clients = Clients::new();
        let mut a = ClientSubs::new(ps.clone(), client(&clients));
        let mut b = ClientSubs::new(ps.clone(), client(&clients));
        assert!(a.subscribe(Kind::Channel, b"news"));
        assert!(!a.subscribe(Kind::Channel, b"news"));
        assert!(b.subscribe(Kind::Pattern, b"n*"));
        assert!(b.subscribe(Kind::Shard, b"news"));
        assert_eq!(ps.publish(b"news", b"hi"), 2);
        assert_eq!(ps.publish(b"other", b"x"), 0);
        assert_eq!(ps.spublish(b"news", b"s"), 1);
        assert_eq!(
            drain(&mut a, false),
            b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"
        );
        assert_eq!(
            drain(&mut b, true),
            &b">4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n\
               >3\r\n$8\r\nsmessage\r\n$4\r\nnews\r\n$1\r\ns\r\n"[..]
        );
        assert_eq!(a.sub.info.omem.load(Ordering::Relaxed), 0);
        assert_eq!(
            (
                ps.channel_count(),
                ps.pattern_count(),
                ps.shard_channel_count()
            ),
            (1, 1, 1)
        );
        assert_eq!((ps.numsub(b"news"), ps.shard_numsub(b"news")), (1, 1));
        drop(a);
        drop(b);
        assert_eq!(
            (
                ps.channel_count(),
                ps.pattern_count(),
                ps.shard_channel_count()
            ),
            (0, 0, 0)
        );
        assert!(!ps.has_subscribers());
    }

    #[test]
    fn a_subscriber_over_the_hard_limit_is_closed_and_gets_nothing_more() {
        let ps = Arc::new(PubSub::new());
        ps.set_limits(&limits::Limits {
            pubsub: limits::ClassLimit {
                hard: 100,
                soft: 0,
                soft_seconds: 0,
            },
            ..Default::default()
        });
        let clients = Clients::new();
        let mut slow = ClientSubs::new(ps.clone(), client(&clients));
        slow.subscribe(Kind::Channel, b"c");
        let mut n = 0;
        while !slow.sub.info.killed.load(Ordering::Relaxed) {
            ps.publish(b"c", b"0123456789");
            n += 1;
            assert!(n < 100, "never closed");
        }
        let queued = slow.sub.info.omem.load(Ordering::Relaxed);
        assert!(queued >= 100, "{queued}");
        // Receivers are still counted while the connection closes, as in Redis.
        assert_eq!(ps.publish(b"c", b"more"), 1);
        assert_eq!(slow.sub.info.omem.load(Ordering::Relaxed), queued);
        assert_eq!(ps.obl_disconnections.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn the_soft_limit_closes_only_when_exceeded_for_longer_than_its_seconds() {
        let ps = Arc::new(PubSub::new());
        ps.set_limits(&limits::Limits {
            pubsub: limits::ClassLimit {
                hard: 0,
                soft: 100,
                soft_seconds: 5,
            },
            ..Default::default()
        });
        let clients = Clients::new();
        let mut s = ClientSubs::new(ps.clone(), client(&clients));
        s.subscribe(Kind::Channel, b"c");
        let killed = || s.sub.info.killed.load(Ordering::Relaxed);
        for _ in 0..10 {
            ps.publish(b"c", b"0123456789");
        }
        assert!(!killed(), "over the soft limit, but not for 5 seconds yet");
        let since = s.sub.soft_since.load(Ordering::Relaxed);
        assert!(since > 0);
        // Drained below the limit: the clock restarts on the next message.
        drain(&mut s, false);
        ps.publish(b"c", b"x");
        assert_eq!(s.sub.soft_since.load(Ordering::Relaxed), 0);
        // Over it again (41-byte frames), and (as if) for 6 seconds: closed.
        ps.publish(b"c", b"0123456789");
        ps.publish(b"c", b"0123456789");
        assert!(!s.sub.info.killed.load(Ordering::Relaxed));
        let since = s.sub.soft_since.load(Ordering::Relaxed);
        assert!(since > 0);
        s.sub.soft_since.store(since - 6, Ordering::Relaxed);
        ps.publish(b"c", b"0123456789");
        assert!(s.sub.info.killed.load(Ordering::Relaxed));
    }
}
