//! Client-side caching: CLIENT TRACKING, and the invalidation messages it asks for.
//!
//! ## Default mode: remembering reads
//! A tracking connection's read-only commands remember the keys they read in a server-wide
//! table (key → client ids; like Redis's it ignores the database). Eddy remembers the keys a
//! read-only command locks ([`Reads`], attached by `Ctx::lock`), which are its key-spec keys,
//! movable ones included, and does it while the keys' shard locks are still held, after the
//! command's own changes (lazy expiry) are handled. Redis runs one command at a time and can
//! remember after the command; with commands running in parallel, a write landing between the
//! read and a later "remember" would be missed and the client would cache a stale value forever.
//! Remembering under the lock makes every later write of the key see the entry.
//!
//! ## Invalidation, from the change records
//! Redis invalidates from `signalModifiedKey`, called by every write. Eddy already records every
//! effective change with its key, so invalidations are derived from the records when a command's
//! `Locked` is dropped (next to WATCH's touch), under the shard locks — no command has tracking
//! code, and writes, lazy and active expiry, blocked-client hand-offs and MULTI/EXEC are all
//! covered. An entry is removed when it is invalidated: the client must read the key again to
//! hear about it again. FLUSHALL and FLUSHDB send every tracking client `invalidate` with a null
//! and empty the table (SWAPDB sends nothing, as in Redis 7.0). With nobody tracking, the write
//! path pays one atomic load per commit ([`Tracking::active`]); reads pay nothing beyond a
//! session field check.
//!
//! ## BCAST
//! BCAST clients register key prefixes (none: the empty prefix, every key) and remember
//! nothing. Each commit's changed keys are matched against every prefix and sent as one message
//! per prefix, keys in byte order, prefixes in byte order (Redis gathers them per event-loop
//! iteration instead; the messages have the same shape). NOLOOP drops keys the client changed
//! itself; as in Redis, keys deleted by expiry are nobody's change, so they are sent anyway.
//!
//! ## Delivery
//! Messages are queued on the pub/sub queue of the connection they go to (publisher-side rules:
//! never wait, counted against the output buffer limit). A RESP3 client gets
//! `>2 invalidate [keys]` on its own connection; with `REDIRECT id` the target gets the same
//! push if it speaks RESP3, or, in RESP2 pub/sub mode, a `message` on `__redis__:invalidate`
//! whose payload is the key array. A RESP2 client without a usable target gets nothing, as in
//! Redis. If the target has disconnected, a RESP3 client gets `tracking-redir-broken` instead
//! and its CLIENT LIST flags show `R`.
//!
//! Invalidations caused by a client's own command (its writes, its FLUSHALL, and — default mode
//! — keys its reads expired) are sent after that command's reply, as Redis 7 does; NOLOOP
//! suppresses them (except the flush message, which Redis sends to everybody).
//!
//! ## Limits
//! `tracking-table-max-keys` (default 1000000, 0 = unlimited) bounds the table: remembering a
//! new key beyond it evicts other keys of the same table slot, invalidating them for their
//! clients, as Redis's cron does. Ids of disconnected clients stay in the table until their key
//! changes or is evicted, as in Redis.
//!
//! Lock order: shard locks, then a table slot, then the tracker map or the prefix map, then a
//! connection's queue (innermost).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use smallvec::SmallVec;

use super::{PubSub, Subscriber};
use crate::changes::log::for_each_uncommitted;
use crate::changes::Origin;
use crate::server::clients::ClientInfo;

/// `ClientInfo::tracking` bits, for CLIENT LIST flags (`t`, `R`, `B`).
pub const FLAG_ON: u8 = 1;
pub const FLAG_BROKEN: u8 = 2;
pub const FLAG_BCAST: u8 = 4;

/// Slots of the key table (a power of two).
const SLOTS: usize = 16;

type Slot = hashbrown::HashMap<Box<[u8]>, SmallVec<[u64; 2]>, foldhash::fast::RandomState>;

/// A tracking connection, as the invalidation path sees it.
pub struct Tracker {
    id: u64,
    info: Arc<ClientInfo>,
    /// The connection's own queue.
    queue: Arc<Subscriber>,
    /// 0: none.
    redirect: u64,
    /// The redirect target, to tell a target that left from one without a queue.
    target: Weak<ClientInfo>,
    bcast: bool,
    noloop: bool,
}

/// The server's tracking state. See the module docs.
pub struct Tracking {
    /// Connections with tracking on.
    on: AtomicUsize,
    trackers: RwLock<HashMap<u64, Arc<Tracker>>>,
    slots: Box<[Mutex<Slot>]>,
    hasher: foldhash::fast::FixedState,
    /// Keys in the table.
    keys: AtomicUsize,
    /// Client ids in the table (Redis's `tracking_total_items`).
    items: AtomicUsize,
    max_keys: AtomicUsize,
    /// BCAST prefix → client ids, in byte order.
    prefixes: RwLock<BTreeMap<Vec<u8>, Vec<u64>>>,
    has_prefixes: AtomicBool,
}

impl Default for Tracking {
    fn default() -> Self {
        Self::new()
    }
}

/// What an invalidation carries.
enum Payload<'a> {
    Keys(&'a [&'a [u8]]),
    /// FLUSHALL/FLUSHDB: a null in the tracking client's protocol.
    Flush,
}

impl Tracking {
    pub fn new() -> Tracking {
        Tracking {
            on: AtomicUsize::new(0),
            trackers: RwLock::new(HashMap::new()),
            slots: (0..SLOTS).map(|_| Mutex::new(Slot::default())).collect(),
            hasher: foldhash::fast::FixedState::with_seed(0x0074_7261_636b),
            keys: AtomicUsize::new(0),
            items: AtomicUsize::new(0),
            max_keys: AtomicUsize::new(1_000_000),
            prefixes: RwLock::new(BTreeMap::new()),
            has_prefixes: AtomicBool::new(false),
        }
    }

    /// Whether any connection tracks: the write path's one atomic load per commit.
    #[inline]
    pub fn active(&self) -> bool {
        self.on.load(Ordering::Acquire) > 0
    }

    /// INFO: tracking clients, keys, items, prefixes.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        (
            self.on.load(Ordering::Relaxed),
            self.keys.load(Ordering::Relaxed),
            self.items.load(Ordering::Relaxed),
            self.prefixes.read().len(),
        )
    }

    pub fn set_max_keys(&self, n: usize) {
        self.max_keys.store(n, Ordering::Relaxed);
    }

    fn slot(&self, key: &[u8]) -> &Mutex<Slot> {
        &self.slots[self.hasher.hash_one(key) as usize & (SLOTS - 1)]
    }

    fn tracker(&self, id: u64) -> Option<Arc<Tracker>> {
        self.trackers.read().get(&id).cloned()
    }

    /// Turns tracking on (or changes its options) for a connection; `new_prefixes` are added to
    /// the BCAST prefixes it already has.
    #[allow(clippy::too_many_arguments)]
    fn enable(
        &self,
        info: &Arc<ClientInfo>,
        queue: Arc<Subscriber>,
        redirect: u64,
        target: Weak<ClientInfo>,
        bcast: bool,
        noloop: bool,
        new_prefixes: &[Vec<u8>],
    ) {
        let t = Arc::new(Tracker {
            id: info.id,
            info: info.clone(),
            queue,
            redirect,
            target,
            bcast,
            noloop,
        });
        if self.trackers.write().insert(info.id, t).is_none() {
            self.on.fetch_add(1, Ordering::AcqRel);
        }
        if !new_prefixes.is_empty() {
            let mut p = self.prefixes.write();
            for pre in new_prefixes {
                let ids = p.entry(pre.clone()).or_default();
                if !ids.contains(&info.id) {
                    ids.push(info.id);
                }
            }
            self.has_prefixes.store(true, Ordering::Release);
        }
        info.tracking.store(
            FLAG_ON | if bcast { FLAG_BCAST } else { 0 },
            Ordering::Relaxed,
        );
        info.redir.store(redirect, Ordering::Relaxed);
    }

    /// Turns tracking off for a connection (CLIENT TRACKING off, RESET, disconnect).
    fn disable(&self, info: &ClientInfo, prefixes: &BTreeSet<Vec<u8>>) {
        if self.trackers.write().remove(&info.id).is_some() {
            self.on.fetch_sub(1, Ordering::AcqRel);
        }
        if !prefixes.is_empty() {
            let mut p = self.prefixes.write();
            for pre in prefixes {
                if let Some(ids) = p.get_mut(pre) {
                    ids.retain(|&i| i != info.id);
                    if ids.is_empty() {
                        p.remove(pre);
                    }
                }
            }
            self.has_prefixes.store(!p.is_empty(), Ordering::Release);
        }
        info.tracking.store(0, Ordering::Relaxed);
        info.redir.store(0, Ordering::Relaxed);
    }

    /// Remembers that client `id` read `keys` (called under the keys' shard locks).
    fn remember(&self, ps: &PubSub, id: u64, keys: impl Iterator<Item = impl AsRef<[u8]>>) {
        for key in keys {
            let key = key.as_ref();
            let mut slot = self.slot(key).lock();
            match slot.get_mut(key) {
                Some(ids) => {
                    if !ids.contains(&id) {
                        ids.push(id);
                        self.items.fetch_add(1, Ordering::Relaxed);
                    }
                }
                None => {
                    slot.insert(key.into(), smallvec::smallvec![id]);
                    self.items.fetch_add(1, Ordering::Relaxed);
                    let n = self.keys.fetch_add(1, Ordering::Relaxed) + 1;
                    let max = self.max_keys.load(Ordering::Relaxed);
                    if max > 0 && n > max {
                        let mut left = self.evict(ps, &mut slot, key, n - max);
                        // Other slots only if free: slots have no lock order among themselves.
                        for other in self.slots.iter() {
                            if left == 0 {
                                break;
                            }
                            if let Some(mut o) = other.try_lock() {
                                left = self.evict(ps, &mut o, key, left);
                            }
                        }
                    }
                }
            }
        }
    }

    /// Drops up to `n` keys of `slot` other than `keep`, invalidating them for their clients
    /// (Redis's `trackingLimitUsedSlots`, which evicts from its cron). Returns how many more
    /// are still to drop.
    fn evict(&self, ps: &PubSub, slot: &mut Slot, keep: &[u8], n: usize) -> usize {
        let victims: Vec<Box<[u8]>> = slot
            .keys()
            .filter(|k| k.as_ref() != keep)
            .take(n)
            .cloned()
            .collect();
        let left = n - victims.len();
        for k in victims {
            if let Some(ids) = slot.remove(&k) {
                self.forget(ids.len());
                for id in ids {
                    if let Some(t) = self.tracker(id).filter(|t| !t.bcast) {
                        send(ps, &t, Payload::Keys(&[&k]), 0);
                    }
                }
            }
        }
        left
    }

    fn forget(&self, items: usize) {
        self.keys.fetch_sub(1, Ordering::Relaxed);
        self.items.fetch_sub(items, Ordering::Relaxed);
    }

    /// Redis's `trackingInvalidateKey` for the default mode: the clients that read `key` hear
    /// that it changed, and forget it. `current` is the client whose command is running (0: none).
    fn invalidate_key(&self, ps: &PubSub, key: &[u8], current: u64) {
        let Some(ids) = self.slot(key).lock().remove(key) else {
            return;
        };
        self.forget(ids.len());
        for id in ids {
            let Some(t) = self.tracker(id) else { continue };
            if t.bcast || (t.noloop && id == current) {
                continue;
            }
            send(ps, &t, Payload::Keys(&[key]), current);
        }
    }

    /// FLUSHALL/FLUSHDB: every tracking client hears `invalidate` with a null; the table empties.
    fn flush(&self, ps: &PubSub, current: u64) {
        let all: Vec<Arc<Tracker>> = self.trackers.read().values().cloned().collect();
        for t in &all {
            send(ps, t, Payload::Flush, current);
        }
        for s in self.slots.iter() {
            let mut s = s.lock();
            s.clear();
            s.shrink_to(64);
        }
        self.keys.store(0, Ordering::Relaxed);
        self.items.store(0, Ordering::Relaxed);
    }

    /// Sends BCAST clients the changed keys matching their prefixes. `changed` holds each key
    /// with the client that changed it (0 for expiry), in change order.
    fn broadcast(&self, ps: &PubSub, changed: &[(&[u8], u64)], current: u64) {
        let prefixes = self.prefixes.read();
        for (prefix, ids) in prefixes.iter() {
            // Byte order, each key once with its last changer (Redis's per-prefix radix tree).
            let mut keys: BTreeMap<&[u8], u64> = BTreeMap::new();
            for &(k, by) in changed {
                if k.starts_with(prefix) {
                    keys.insert(k, by);
                }
            }
            if keys.is_empty() {
                continue;
            }
            for &id in ids {
                let Some(t) = self.tracker(id) else { continue };
                let list: SmallVec<[&[u8]; 8]> = keys
                    .iter()
                    .filter(|(_, &by)| !(t.noloop && by == id))
                    .map(|(k, _)| *k)
                    .collect();
                if !list.is_empty() {
                    send(ps, &t, Payload::Keys(&list), current);
                }
            }
        }
    }
}

/// Delivers one tracking message for `t` (Redis's `sendTrackingMessage`), after the reply when
/// it goes to the connection whose command caused it.
fn send(ps: &PubSub, t: &Tracker, payload: Payload, current: u64) {
    let own = t.id == current && current != 0;
    let tracker_resp3 = t.info.resp.load(Ordering::Relaxed) == 3;
    let mut frame = Vec::with_capacity(64);
    let dest = if t.redirect != 0 {
        let Some(dest) = ps.endpoint(t.redirect) else {
            if t.target
                .upgrade()
                .is_some_and(|i| !i.killed.load(Ordering::Relaxed))
            {
                // Alive without a queue: a RESP2 connection outside pub/sub mode, which Redis
                // cannot send anything to either.
                return;
            }
            t.info.tracking.fetch_or(FLAG_BROKEN, Ordering::Relaxed);
            if tracker_resp3 {
                frame.extend_from_slice(b"*2\r\n$21\r\ntracking-redir-broken\r\n:");
                frame.extend_from_slice(itoa::Buffer::new().format(t.redirect).as_bytes());
                frame.extend_from_slice(b"\r\n");
                deliver(ps, &t.queue, frame, own);
            }
            return;
        };
        if dest.info.resp.load(Ordering::Relaxed) == 3 {
            frame.extend_from_slice(b"*2\r\n$10\r\ninvalidate\r\n");
        } else if dest.info.is_pubsub() {
            frame.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n");
        } else {
            return;
        }
        dest
    } else {
        if !tracker_resp3 {
            return;
        }
        frame.extend_from_slice(b"*2\r\n$10\r\ninvalidate\r\n");
        t.queue.clone()
    };
    match payload {
        Payload::Flush if tracker_resp3 => frame.extend_from_slice(b"_\r\n"),
        Payload::Flush => frame.extend_from_slice(b"$-1\r\n"),
        Payload::Keys(keys) => {
            let mut b = itoa::Buffer::new();
            frame.push(b'*');
            frame.extend_from_slice(b.format(keys.len()).as_bytes());
            frame.extend_from_slice(b"\r\n");
            for k in keys {
                frame.push(b'$');
                frame.extend_from_slice(b.format(k.len()).as_bytes());
                frame.extend_from_slice(b"\r\n");
                frame.extend_from_slice(k);
                frame.extend_from_slice(b"\r\n");
            }
        }
    }
    let own = own && dest.id == current;
    deliver(ps, &dest, frame, own);
}

/// Queues `frame` (RESP2 array form; the connection writes pushes as `>` in RESP3), or keeps it
/// for after the running command's reply.
fn deliver(ps: &PubSub, to: &Arc<Subscriber>, mut frame: Vec<u8>, own: bool) {
    if own {
        if to.info.resp.load(Ordering::Relaxed) == 3 && frame.first() == Some(&b'*') {
            frame[0] = b'>';
        }
        super::after_reply(to.id, &frame);
    } else {
        to.deliver(ps, &Bytes::from(frame));
    }
}

/// The keys a tracking client's read-only command locked, remembered when its `Locked` drops:
/// the client id, then each key as a little-endian u32 length and its bytes.
pub struct Reads(Vec<u8>);

impl Reads {
    pub fn new(client: u64, keys: &[&[u8]]) -> Reads {
        let mut v = Vec::with_capacity(8 + keys.iter().map(|k| k.len() + 4).sum::<usize>());
        v.extend_from_slice(&client.to_le_bytes());
        for k in keys {
            v.extend_from_slice(&(k.len() as u32).to_le_bytes());
            v.extend_from_slice(k);
        }
        Reads(v)
    }

    fn client(&self) -> u64 {
        self.0
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    }

    fn keys(&self) -> impl Iterator<Item = &[u8]> {
        let mut p = 8;
        std::iter::from_fn(move || {
            let len = u32::from_le_bytes(self.0.get(p..p + 4)?.try_into().ok()?) as usize;
            let k = self.0.get(p + 4..p + 4 + len)?;
            p += 4 + len;
            Some(k)
        })
    }
}

/// Called from `Locked`'s drop, under the shard locks, with the records about to be committed:
/// sends the invalidations they cause. `current` is the client whose command made them.
pub fn invalidate(ps: &PubSub, records: &[u8], current: u64) {
    let t = &ps.tracking;
    let bcast = t.has_prefixes.load(Ordering::Acquire);
    let mut changed: SmallVec<[(&[u8], u64); 8]> = SmallVec::new();
    for_each_uncommitted(records, |r| {
        if r.key.is_empty() {
            if matches!(r.event, "flushall" | "flushdb") {
                t.flush(ps, current);
            }
            return;
        }
        t.invalidate_key(ps, r.key, current);
        if bcast {
            let by = if r.origin == Origin::Expiry {
                0
            } else {
                current
            };
            changed.push((r.key, by));
        }
    });
    if !changed.is_empty() {
        t.broadcast(ps, &changed, current);
    }
}

/// Called from `Locked`'s drop, under the shard locks, after [`invalidate`].
pub fn remember(ps: &PubSub, reads: Reads) {
    ps.tracking.remember(ps, reads.client(), reads.keys());
}

/// A connection's tracking options (its session holds this while tracking is on; dropping it
/// turns tracking off).
pub struct ClientTracking {
    ps: Arc<PubSub>,
    info: Arc<ClientInfo>,
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// CLIENT CACHING yes (OPTIN) or no (OPTOUT) was given for the next command.
    pub caching: bool,
    pub prefixes: BTreeSet<Vec<u8>>,
    /// The running command's reads are remembered (`Ctx::lock` attaches [`Reads`]).
    pub reading: bool,
}

impl Drop for ClientTracking {
    fn drop(&mut self) {
        self.ps.tracking.disable(&self.info, &self.prefixes);
    }
}

/// Options of CLIENT TRACKING on, as parsed.
#[derive(Default)]
pub struct Options {
    pub redirect: u64,
    /// The redirect target's registry entry (checked to exist when parsed).
    pub target: Weak<ClientInfo>,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    pub prefixes: Vec<Vec<u8>>,
}

/// Redis's `stringCheckPrefix`: either is a prefix of the other (the empty string of anything).
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

/// CLIENT TRACKING on: checks the options against each other and the current state with Redis's
/// errors, then enables. `slot` is the session's tracking state, `queue` its connection's queue.
pub fn enable(
    slot: &mut Option<Box<ClientTracking>>,
    ps: &Arc<PubSub>,
    info: &Arc<ClientInfo>,
    queue: Arc<Subscriber>,
    o: Options,
) -> Result<(), String> {
    if !o.bcast && !o.prefixes.is_empty() {
        return Err("ERR PREFIX option requires BCAST mode to be enabled".into());
    }
    if let Some(cur) = slot.as_ref() {
        if cur.bcast != o.bcast {
            return Err(
                "ERR You can't switch BCAST mode on/off before disabling tracking for \
                        this client, and then re-enabling it with a different mode."
                    .into(),
            );
        }
    }
    if o.bcast && (o.optin || o.optout) {
        return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".into());
    }
    if o.optin && o.optout {
        return Err("ERR You can't specify both OPTIN mode and OPTOUT mode".into());
    }
    if let Some(cur) = slot.as_ref() {
        if (o.optin && cur.optout) || (o.optout && cur.optin) {
            return Err(
                "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for \
                        this client, and then re-enabling it with a different mode."
                    .into(),
            );
        }
    }
    if o.bcast {
        for (i, p) in o.prefixes.iter().enumerate() {
            if let Some(cur) = slot.as_ref() {
                if let Some(c) = cur.prefixes.iter().find(|c| overlap(c, p)) {
                    return Err(format!(
                        "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a \
                         single client must not overlap.",
                        String::from_utf8_lossy(p),
                        String::from_utf8_lossy(c)
                    ));
                }
            }
            if let Some(q) = o.prefixes[i + 1..].iter().find(|q| overlap(p, q)) {
                return Err(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a \
                     single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                ));
            }
        }
    }
    let mut new_prefixes = o.prefixes;
    if o.bcast && new_prefixes.is_empty() {
        new_prefixes.push(Vec::new());
    }
    let st = slot.get_or_insert_with(|| {
        Box::new(ClientTracking {
            ps: ps.clone(),
            info: info.clone(),
            redirect: 0,
            bcast: false,
            optin: false,
            optout: false,
            noloop: false,
            caching: false,
            prefixes: BTreeSet::new(),
            reading: false,
        })
    });
    st.redirect = o.redirect;
    st.bcast = o.bcast;
    st.optin = o.optin;
    st.optout = o.optout;
    st.noloop = o.noloop;
    st.prefixes.extend(new_prefixes.iter().cloned());
    ps.tracking.enable(
        info,
        queue,
        o.redirect,
        o.target,
        o.bcast,
        o.noloop,
        &new_prefixes,
    );
    Ok(())
}

/// Before a command runs on a tracking connection: whether its reads are remembered (read-only,
/// default mode, and OPTIN/OPTOUT as CLIENT CACHING said).
pub fn before_command(t: &mut ClientTracking, readonly: bool) {
    t.reading = readonly && !t.bcast && !((t.optin && !t.caching) || (t.optout && t.caching));
}

/// After a command ran on a tracking connection: the CLIENT CACHING hint expires, unless the
/// command was a CLIENT subcommand or a transaction is open (queueing, or EXEC running it).
pub fn after_command(t: &mut ClientTracking, client_cmd: bool, in_tx: bool) {
    t.reading = false;
    if !client_cmd && !in_tx {
        t.caching = false;
    }
}

/// Whether the broken-redirect flag is set for this connection.
pub fn broken(info: &ClientInfo) -> bool {
    info.tracking.load(Ordering::Relaxed) & FLAG_BROKEN != 0
}

/// CLIENT LIST's flag characters for tracking (`t`, `R`, `B`, in Redis's order).
pub fn flag_chars(info: &ClientInfo, s: &mut String) {
    let f = info.tracking.load(Ordering::Relaxed);
    if f & FLAG_ON != 0 {
        s.push('t');
    }
    if f & FLAG_BROKEN != 0 {
        s.push('R');
    }
    if f & FLAG_BCAST != 0 {
        s.push('B');
    }
}

/// `redir=` of CLIENT LIST: the redirect id while tracking, -1 otherwise.
pub fn redir_field(info: &ClientInfo) -> i64 {
    if info.tracking.load(Ordering::Relaxed) & FLAG_ON != 0 {
        info.redir.load(Ordering::Relaxed) as i64
    } else {
        -1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::{ChangeKind, Recorder, Who};
    use crate::keyspace::value::ValueType;
    use crate::pubsub::ClientSubs;
    use crate::server::clients::Clients;

    fn drain(s: &mut ClientSubs, resp3: bool) -> String {
        let mut out = Vec::new();
        let n = s.drain_into(&mut out, None, resp3, usize::MAX);
        s.written(n);
        String::from_utf8_lossy(&out).into_owned()
    }

    fn set(r: &mut Recorder, who: Who, key: &[u8]) {
        r.record(
            who,
            0,
            key,
            "set",
            ChangeKind::Insert,
            ValueType::String,
            &[b"SET", key, b"v"],
        );
    }

    #[test]
    fn remembered_keys_are_invalidated_once() {
        let ps = Arc::new(PubSub::new());
        let clients = Clients::new();
        let info = clients.register(7, "a".into(), "l".into());
        info.resp.store(3, Ordering::Relaxed);
        let mut subs = ClientSubs::new(ps.clone(), info.clone());
        let mut slot = None;
        enable(
            &mut slot,
            &ps,
            &info,
            subs.subscriber().clone(),
            Options::default(),
        )
        .unwrap();
        assert!(ps.tracking.active());
        remember(&ps, Reads::new(7, &[b"k", b"j"]));
        assert_eq!(ps.tracking.counts(), (1, 2, 2, 0));
        let mut r = Recorder::default();
        set(&mut r, Who::client(9), b"k");
        invalidate(&ps, &r.buf, 9);
        assert_eq!(
            drain(&mut subs, true),
            ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n"
        );
        invalidate(&ps, &r.buf, 9);
        assert_eq!(drain(&mut subs, true), "");
        // The client's own write: after its reply, through the thread-local buffer.
        set(&mut r, Who::client(7), b"j");
        invalidate(&ps, &r.buf, 7);
        assert_eq!(drain(&mut subs, true), "");
        let mut out = Vec::new();
        crate::pubsub::take_after_reply(7, &mut out);
        assert_eq!(out, b">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nj\r\n");
        drop(slot);
        assert!(!ps.tracking.active());
        assert_eq!(info.tracking.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn the_table_is_bounded_by_tracking_table_max_keys() {
        let ps = Arc::new(PubSub::new());
        ps.tracking.set_max_keys(10);
        let clients = Clients::new();
        let info = clients.register(5, "a".into(), "l".into());
        info.resp.store(3, Ordering::Relaxed);
        let mut subs = ClientSubs::new(ps.clone(), info.clone());
        let mut slot = None;
        let q = subs.subscriber().clone();
        enable(&mut slot, &ps, &info, q, Options::default()).unwrap();
        let keys: Vec<String> = (0..100).map(|i| format!("key:{i}")).collect();
        for k in &keys {
            remember(&ps, Reads::new(5, &[k.as_bytes()]));
        }
        let (_, n, items, _) = ps.tracking.counts();
        assert_eq!((n, items), (10, 10));
        // Every evicted key was invalidated for the client that read it.
        let pushed = drain(&mut subs, true);
        assert_eq!(pushed.matches(">2\r\n$10\r\ninvalidate\r\n").count(), 90);
    }

    #[test]
    fn prefixes_are_checked_for_overlap_like_redis() {
        assert!(overlap(b"a", b"ab"));
        assert!(overlap(b"ab", b"a"));
        assert!(overlap(b"", b"x"));
        assert!(!overlap(b"ab", b"ac"));
        let ps = Arc::new(PubSub::new());
        let clients = Clients::new();
        let info = clients.register(1, "a".into(), "l".into());
        let subs = ClientSubs::new(ps.clone(), info.clone());
        let q = || subs.subscriber().clone();
        let mut slot = None;
        let o = |p: &[&str]| Options {
            bcast: true,
            prefixes: p.iter().map(|s| s.as_bytes().to_vec()).collect(),
            ..Default::default()
        };
        assert_eq!(
            enable(&mut slot, &ps, &info, q(), o(&["ab", "a"])).unwrap_err(),
            "ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single \
             client must not overlap."
        );
        enable(&mut slot, &ps, &info, q(), o(&["a", "b"])).unwrap();
        assert_eq!(
            enable(&mut slot, &ps, &info, q(), o(&["abc"])).unwrap_err(),
            "ERR Prefix 'abc' overlaps with an existing prefix 'a'. Prefixes for a single \
             client must not overlap."
        );
        enable(&mut slot, &ps, &info, q(), o(&["c"])).unwrap();
        let got: Vec<&[u8]> = slot
            .as_ref()
            .unwrap()
            .prefixes
            .iter()
            .map(|p| p.as_slice())
            .collect();
        assert_eq!(got, [&b"a"[..], b"b", b"c"]);
        assert_eq!(ps.tracking.counts().3, 3);
        drop(slot);
        assert_eq!(ps.tracking.counts().3, 0);
    }

    #[test]
    fn bcast_groups_keys_per_prefix_and_noloop_skips_own_changes() {
        let ps = Arc::new(PubSub::new());
        let clients = Clients::new();
        let info = clients.register(3, "a".into(), "l".into());
        info.resp.store(3, Ordering::Relaxed);
        let mut subs = ClientSubs::new(ps.clone(), info.clone());
        let mut slot = None;
        let o = Options {
            bcast: true,
            noloop: true,
            prefixes: vec![b"u:".to_vec(), b"o:".to_vec()],
            ..Default::default()
        };
        enable(&mut slot, &ps, &info, subs.subscriber().clone(), o).unwrap();
        let mut r = Recorder::default();
        set(&mut r, Who::client(4), b"u:2");
        set(&mut r, Who::client(4), b"o:1");
        set(&mut r, Who::client(4), b"u:1");
        set(&mut r, Who::client(4), b"x");
        invalidate(&ps, &r.buf, 4);
        assert_eq!(
            drain(&mut subs, true),
            ">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\no:1\r\n\
             >2\r\n$10\r\ninvalidate\r\n*2\r\n$3\r\nu:1\r\n$3\r\nu:2\r\n"
        );
        let mut r = Recorder::default();
        set(&mut r, Who::client(3), b"u:3");
        invalidate(&ps, &r.buf, 3);
        let mut out = Vec::new();
        crate::pubsub::take_after_reply(3, &mut out);
        assert!(out.is_empty());
        assert_eq!(drain(&mut subs, true), "");
    }
}
