//! Reading the change log with a private cursor: start positions, filtered scans, blocking
//! reads and push subscriptions.
//!
//! ## Start positions
//! `earliest` (the oldest record still held), `latest` or `$` (only records committed after
//! now; the reply naming it waits until the records before it are readable, so the cursor
//! never points past what a crash could take back), `<offset>` (at that offset), `(<offset>`
//! (after it), `@<unix-ms>` (the first record with a timestamp at or after that time:
//! timestamps in the log never decrease, so this is a binary search over offsets).
//!
//! ## Subscriptions and the slow-subscriber policy
//! A subscription is a tokio task with its own cursor. It waits for the log to pass its cursor
//! (`ChangeLog::wait_for`), reads a batch (`ChangeLog::read`, from memory or, for older offsets,
//! from the disk segments), keeps the events that pass its filter, encodes each for the client's
//! protocol and sends it into the subscription's bounded push queue, which the connection loop
//! drains; the [`Subscription`] holds the queue's receiver, so what is queued goes with it and
//! nothing from a dropped subscription reaches the client afterwards. When the client reads slowly
//! the queue fills, `send` waits, and the task simply stops reading the log: it falls behind and
//! catches up later from the log (disk), so the memory a slow subscriber costs is bounded by the
//! queue (`PUSH_QUEUE` messages of about 16 KiB) plus one read batch, and writers are never
//! slowed. A subscriber that falls further behind than the log's retention gets one error push
//! naming the earliest offset still available and is unsubscribed (never a silent gap). The task
//! ends on `CHANGES UNSUBSCRIBE`, on a new `CHANGES SUBSCRIBE` (which replaces it), and when the
//! connection closes: the session's [`Subscription`] is dropped, which closes its queue.
//!
//! ## Subscriptions that ask for the same thing share their encoding
//! Dashboards and services often subscribe with the same filter, images and protocol; each
//! used to filter and encode every event for itself, and with twenty such subscribers that
//! was two thirds of the server's CPU for the feed. Subscriptions now register their
//! [`ShareKey`] in the server's [`Shares`]; while two or more hold the same key, the one that
//! reads a batch first keeps its encoded messages (`Bytes`, so sending them is a reference
//! count) in a short ring for that key, and the others find the batch that starts at their
//! cursor there instead of reading and encoding it. Each subscription keeps its own cursor,
//! queue and slow-subscriber behaviour; only the work is shared. Batches end at fixed offset
//! boundaries (multiples of [`BATCH`]) where the log allows, so subscriptions that drift apart
//! line up again at the next boundary. A lone subscription caches nothing. The ring holds at
//! most [`SHARED_BATCHES`] batches per key (each at most [`BATCH`] events), and all rings
//! together at most [`SHARED_BYTES_MAX`] bytes (counted in RESP; a message's re-encodings for
//! the other doors, made once per format by the first connection that needs one
//! (`session::PushMsg`), live as long as it does).
//!
//! ## Push shapes
//! RESP3: a push frame `>2 "changes" <event map>`. RESP2: the shape pub/sub messages have,
//! `*3 "message" "__changes__" <event as a flat field/value array>`. A trimmed cursor is reported
//! as `>2 "changes-error" "<error text>"` (RESP3) or `*3 "message" "__changes__:error"
//! "<error text>"` (RESP2).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::time::Instant;

use super::filter::{Filter, Images};
use super::log::{ChangeLog, EventRef, ReadError};
use super::ChangeEvent;
use crate::commands::args::is;
use crate::commands::changes::{write_events, EventWriter};
use crate::error::{self, CmdError, CmdResult};
use crate::protocol::resp::Out;
use crate::server::session::{PushMsg, PushSender, PUSH_QUEUE};
use crate::server::Server;

/// Records read from the log per step.
const BATCH: usize = 512;
/// Target size of one push message (several events). Each message costs an allocation, a
/// queue operation on each side and an entry in the connection's write: about 1,500
/// instructions, a tenth of a tailing subscriber's cost per event at 4 KiB (callgrind, SET
/// -P 16), where 16 KiB makes it about a thirtieth.
const PUSH_MSG_BYTES: usize = 16 * 1024;

/// The RESP2 pub/sub channel name pushes arrive on.
pub const CHANNEL: &[u8] = b"__changes__";
const CHANNEL_ERROR: &[u8] = b"__changes__:error";

/// Resolves a start position (see the module docs) to the first offset to read.
pub fn parse_start(log: &ChangeLog, a: &[u8]) -> CmdResult<u64> {
    if is(a, "earliest") {
        return Ok(log.first_offset());
    }
    if is(a, "latest") || a == b"$" {
        // Inside EXEC, the transaction's earlier changes are not "after the command".
        let at = crate::keyspace::txn::applied_offset(log);
        // The cursor names `at`: the reply waits until it is readable (`server::conn`).
        super::log::expose(at);
        return Ok(at + 1);
    }
    let num = |s: &[u8]| -> CmdResult<u64> {
        std::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(CmdError::from(error::CHANGES_BAD_START))
    };
    let from = match a.first() {
        Some(b'(') => num(&a[1..])?.saturating_add(1),
        Some(b'@') => return Ok(offset_at_time(log, num(&a[1..])?)),
        _ => num(a)?,
    };
    // A cursor past the end was never handed out by this log: refusing it (rather than waiting
    // for the log to grow into it) keeps a reader from silently skipping the records between.
    let next = log.last_offset() + 1;
    if from > next {
        return Err(error::changes_beyond_end(from, next));
    }
    Ok(from)
}

/// The first offset whose record has `ts >= ms` (the next offset if there is none).
pub fn offset_at_time(log: &ChangeLog, ms: u64) -> u64 {
    let mut lo = log.first_offset();
    let mut hi = log.last_offset() + 1;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match log.read(mid, 1) {
            Ok(v) => match v.first() {
                Some(ev) if ev.ts >= ms => hi = mid,
                Some(_) => lo = mid + 1,
                None => hi = mid,
            },
            // Trimmed meanwhile by retention: the answer lies later.
            Err(_) => lo = mid + 1,
        }
    }
    lo
}

/// What a filtered scan found.
pub struct Found {
    pub events: Vec<ChangeEvent>,
    /// Where the next scan continues: after the last record examined.
    pub next: u64,
}

/// Reads forward from `from`, keeping the events that pass `filter`, until `count` are kept or
/// the end of the log. `next` never passes an unreturned matching event.
pub fn scan(log: &ChangeLog, from: u64, filter: &Filter, count: usize) -> Result<Found, ReadError> {
    scan_where(log, from, count, filter.is_empty(), |ev| filter.matches(ev))
}

/// [`scan`] with any predicate (a trigger partition adds its key-hash share to its filter).
/// `every` says the predicate keeps every record, so no more than `count` are read. Records
/// are tested borrowed; only the kept ones are copied out.
pub fn scan_where(
    log: &ChangeLog,
    from: u64,
    count: usize,
    every: bool,
    mut keep: impl FnMut(&EventRef<'_>) -> bool,
) -> Result<Found, ReadError> {
    let (events, next) = scan_map(log, from, count, every, |ev| {
        keep(ev).then(|| ev.to_event())
    })?;
    Ok(Found { events, next })
}

/// [`scan_where`] that turns each kept record into what the reader keeps (a trigger's batch
/// record), straight from the borrowed record. Returns them and the position after them.
pub fn scan_map<T>(
    log: &ChangeLog,
    from: u64,
    count: usize,
    every: bool,
    mut map: impl FnMut(&EventRef<'_>) -> Option<T>,
) -> Result<(Vec<T>, u64), ReadError> {
    let mut next = from.max(1);
    let mut kept = Vec::new();
    while kept.len() < count {
        let want = if every {
            (count - kept.len()).min(BATCH)
        } else {
            BATCH
        };
        let mut last = None;
        log.read_with(next, want, |ev| {
            // Past the last kept event the cursor must not move: the rest is read again.
            if kept.len() >= count {
                return;
            }
            last = Some(ev.offset);
            if let Some(t) = map(ev) {
                kept.push(t);
            }
        })?;
        match last {
            Some(l) => next = l + 1,
            None => break,
        }
    }
    Ok((kept, next))
}

/// Encodes `events` as a command reply (an array of event maps).
pub fn encode_events(resp3: bool, events: &[ChangeEvent], images: Images) -> Vec<u8> {
    let mut out = Out::new(resp3);
    write_events(&mut out, events, images);
    out.buf
}

/// Encodes a null-array reply (a blocking read that timed out).
pub fn encode_timeout(resp3: bool) -> Vec<u8> {
    let mut out = Out::new(resp3);
    out.null_array();
    out.buf
}

fn encode_error(resp3: bool, e: &CmdError) -> Vec<u8> {
    let mut out = Out::new(resp3);
    out.error(e.as_str());
    out.buf
}

/// Encodes the events a blocked read found into its reply (CHANGES READ's event maps, or the
/// XREAD shape of the change feed seen as a stream).
pub type EncodeEvents = Box<dyn Fn(&[ChangeEvent]) -> Vec<u8> + Send>;

/// Blocks until at least one event past `from` passes `filter` (or `deadline`), then sends
/// the reply through `w`: the events as `encode` writes them, a null array on timeout, or the
/// TRIMMED error.
#[allow(clippy::too_many_arguments)]
pub fn spawn_blocking_read(
    srv: Arc<Server>,
    from: u64,
    filter: Filter,
    count: usize,
    encode: EncodeEvents,
    resp3: bool,
    deadline: Option<Instant>,
    w: Arc<crate::keyspace::blocking::Waiter>,
) {
    spawn_blocked(srv, from, encode, resp3, deadline, w, move |log, next| {
        let f = scan(log, next, &filter, count).map_err(|e| match e {
            ReadError::Trimmed { earliest } => error::changes_trimmed(next, earliest),
        })?;
        Ok((f.events, f.next))
    });
}

/// The wait of every blocked change-feed read (CHANGES READ, GROUP READ, XREAD and XREADGROUP
/// of `__changes__`): each time the log passes the cursor (`from`, then what `step` returns),
/// `step` looks for events; the first it finds are encoded and sent through `w`. An error, the
/// deadline (a null array), the waiter's end or shutdown stop it.
pub fn spawn_blocked(
    srv: Arc<Server>,
    from: u64,
    encode: EncodeEvents,
    resp3: bool,
    deadline: Option<Instant>,
    w: Arc<crate::keyspace::blocking::Waiter>,
    mut step: impl FnMut(&ChangeLog, u64) -> CmdResult<(Vec<ChangeEvent>, u64)> + Send + 'static,
) {
    tokio::spawn(async move {
        let log = &srv.log;
        let mut next = from;
        loop {
            tokio::select! {
                _ = w.ended() => return,
                _ = log.wait_for(next, deadline) => {}
                _ = srv.wait_shutdown() => return,
            }
            match step(log, next) {
                Ok((evs, _)) if !evs.is_empty() => {
                    let _ = w.reply(encode(&evs));
                    return;
                }
                Ok((_, n)) => next = n,
                Err(e) => {
                    let _ = w.reply(encode_error(resp3, &e));
                    return;
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let _ = w.reply(encode_timeout(resp3));
                return;
            }
        }
    });
}

/// What makes two subscriptions' pushes byte-identical.
#[derive(Clone, PartialEq)]
pub struct ShareKey {
    filter: Filter,
    images: Images,
    resp3: bool,
}

/// Records `from..next` of the log, filtered and encoded for one [`ShareKey`]: the push
/// messages, each with the offset of its last event.
struct Batch {
    from: u64,
    next: u64,
    msgs: Vec<(Arc<PushMsg>, u64)>,
}

impl Batch {
    fn bytes(&self) -> usize {
        self.msgs.iter().map(|(m, _)| m.resp.len()).sum()
    }
}

struct Share {
    key: ShareKey,
    subscribers: usize,
    batches: std::collections::VecDeque<Arc<Batch>>,
}

/// Batches kept per shared key: subscribers woken by the same pass read the same batches, so
/// a short ring is enough; one that falls further behind encodes for itself.
const SHARED_BATCHES: usize = 16;
/// Encoded bytes kept across all keys. A batch holds at most [`BATCH`] events, so one key's
/// ring stays under a few MiB; many keys with distinct filters would add up, so past this
/// budget a batch is not kept and its key's other subscribers encode for themselves.
const SHARED_BYTES_MAX: usize = 16 << 20;

#[derive(Default)]
struct SharesState {
    shares: Vec<Share>,
    /// Sum of the kept batches' sizes.
    bytes: usize,
}

impl SharesState {
    fn clear(&mut self, i: usize) {
        let freed: usize = self.shares[i].batches.drain(..).map(|b| b.bytes()).sum();
        self.bytes -= freed;
    }
}

/// The server's registry of subscription keys (see the module docs), and how many batches a
/// subscription took from it instead of encoding them.
#[derive(Default)]
pub struct Shares(parking_lot::Mutex<SharesState>, AtomicU64);

impl Shares {
    fn join(&self, key: &ShareKey) {
        let mut st = self.0.lock();
        match st.shares.iter_mut().find(|s| s.key == *key) {
            Some(s) => s.subscribers += 1,
            None => st.shares.push(Share {
                key: key.clone(),
                subscribers: 1,
                batches: Default::default(),
            }),
        }
    }

    fn leave(&self, key: &ShareKey) {
        let mut st = self.0.lock();
        if let Some(i) = st.shares.iter().position(|s| s.key == *key) {
            st.shares[i].subscribers -= 1;
            if st.shares[i].subscribers <= 1 {
                st.clear(i);
            }
            if st.shares[i].subscribers == 0 {
                st.shares.swap_remove(i);
            }
        }
    }

    fn find(&self, key: &ShareKey, from: u64) -> Option<Arc<Batch>> {
        let st = self.0.lock();
        let s = st.shares.iter().find(|s| s.key == *key)?;
        let b = s.batches.iter().find(|b| b.from == from).cloned()?;
        self.1.fetch_add(1, Ordering::Relaxed);
        Some(b)
    }

    pub fn served(&self) -> u64 {
        self.1.load(Ordering::Relaxed)
    }

    /// Keeps `b` for the key's other subscribers, if it has any and the budget allows.
    fn offer(&self, key: &ShareKey, b: &Arc<Batch>) {
        let mut st = self.0.lock();
        let Some(i) = st
            .shares
            .iter()
            .position(|s| s.key == *key && s.subscribers > 1)
        else {
            return;
        };
        if st.shares[i].batches.len() == SHARED_BATCHES {
            if let Some(old) = st.shares[i].batches.pop_front() {
                st.bytes -= old.bytes();
            }
        }
        let size = b.bytes();
        if st.bytes + size > SHARED_BYTES_MAX {
            return;
        }
        st.bytes += size;
        st.shares[i].batches.push_back(b.clone());
    }

    /// Encoded bytes held for sharing (INFO changes).
    pub fn bytes(&self) -> usize {
        self.0.lock().bytes
    }
}

/// A connection's running subscription. Dropping it stops the task.
pub struct Subscription {
    /// Where the task's messages queue; the connection loop reads it ([`Subscription::recv`]).
    rx: tokio::sync::mpsc::Receiver<Arc<PushMsg>>,
    task: tokio::task::JoinHandle<()>,
    name: String,
    key: ShareKey,
    srv: Arc<Server>,
}

impl Subscription {
    /// The next queued message; `None` once the task has ended and its queue is drained.
    pub async fn recv(&mut self) -> Option<Arc<PushMsg>> {
        self.rx.recv().await
    }

    /// A message already queued, if any (batching one write).
    pub fn try_recv(&mut self) -> Option<Arc<PushMsg>> {
        self.rx.try_recv().ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.task.abort();
        self.srv.feed_shares.leave(&self.key);
        super::groups::unregister_reader(&self.srv.log.groups, &self.name);
    }
}

/// Starts a subscription task for a connection.
pub fn subscribe(
    srv: Arc<Server>,
    client: u64,
    from: u64,
    filter: Filter,
    images: Images,
    resp3: bool,
) -> Subscription {
    let (push, rx) = tokio::sync::mpsc::channel(PUSH_QUEUE);
    let name = format!("sub_{client}");
    let pos = Arc::new(AtomicU64::new(from.saturating_sub(1)));
    super::groups::register_reader(&srv.log.groups, &name, pos.clone());
    let key = ShareKey {
        filter,
        images,
        resp3,
    };
    srv.feed_shares.join(&key);
    let task = crate::server::background::spawn(run(srv.clone(), from, key.clone(), push, pos));
    Subscription {
        rx,
        task,
        name,
        key,
        srv,
    }
}

/// Reads `from..` (up to the next multiple of [`BATCH`]) and encodes what passes the filter
/// into few messages (one queue operation and one allocation per ~16 KiB instead of per event:
/// a tailing reader must stay cheap for the writers it shares the CPU with). The connection's
/// queue is bounded in messages, so the message size also bounds what a client that stops
/// reading can hold (PUSH_QUEUE × ~16 KiB). `None` when nothing was readable.
fn encode_batch(log: &ChangeLog, from: u64, key: &ShareKey) -> Result<Option<Batch>, ReadError> {
    let mut msgs: Vec<(Arc<PushMsg>, u64)> = Vec::new();
    let mut out = Out {
        buf: Vec::with_capacity(PUSH_MSG_BYTES + 1024),
        resp3: key.resp3,
    };
    let mut w = EventWriter::default();
    let mut last = None;
    let upto_boundary = BATCH - ((from.saturating_sub(1)) % BATCH as u64) as usize;
    log.read_with(from, upto_boundary, |ev| {
        last = Some(ev.offset);
        if key.filter.matches(ev) {
            encode_push_into(&mut out, &mut w, ev, key.images);
            if out.buf.len() >= PUSH_MSG_BYTES {
                let full =
                    std::mem::replace(&mut out.buf, Vec::with_capacity(PUSH_MSG_BYTES + 1024));
                msgs.push((PushMsg::new(full), ev.offset));
            }
        }
    })?;
    let Some(last) = last else { return Ok(None) };
    if !out.buf.is_empty() {
        msgs.push((PushMsg::new(out.buf), last));
    }
    Ok(Some(Batch {
        from,
        next: last + 1,
        msgs,
    }))
}

async fn run(srv: Arc<Server>, from: u64, key: ShareKey, push: PushSender, pos: Arc<AtomicU64>) {
    let log = &srv.log;
    let mut next = from;
    loop {
        tokio::select! {
            _ = push.closed() => return,
            _ = log.wait_for(next, None) => {}
        }
        let batch = match srv.feed_shares.find(&key, next) {
            Some(b) => b,
            None => match encode_batch(log, next, &key) {
                Ok(Some(b)) => {
                    let b = Arc::new(b);
                    srv.feed_shares.offer(&key, &b);
                    b
                }
                Ok(None) => continue,
                Err(ReadError::Trimmed { earliest }) => {
                    let e = error::changes_trimmed(next, earliest);
                    let _ = push
                        .send(PushMsg::new(encode_push_error(key.resp3, &e)))
                        .await;
                    return;
                }
            },
        };
        for (m, upto) in &batch.msgs {
            if push.send(m.clone()).await.is_err() {
                return;
            }
            pos.store(*upto, Ordering::Relaxed);
        }
        next = batch.next;
        pos.store(next - 1, Ordering::Relaxed);
    }
}

/// Appends one event as a push message to `out`.
fn encode_push_into(out: &mut Out, w: &mut EventWriter, ev: &EventRef<'_>, images: Images) {
    if out.resp3 {
        out.raw(b">2\r\n$7\r\nchanges\r\n");
    } else {
        out.raw(b"*3\r\n$7\r\nmessage\r\n");
        out.bulk(CHANNEL);
    }
    w.write(out, ev, images);
}

/// One event as a push message (see the module docs for the shapes).
pub fn encode_push(resp3: bool, ev: &ChangeEvent, images: Images) -> Vec<u8> {
    let mut out = Out {
        buf: Vec::with_capacity(256),
        resp3,
    };
    encode_push_into(&mut out, &mut EventWriter::default(), &ev.as_ref(), images);
    out.buf
}

fn encode_push_error(resp3: bool, e: &CmdError) -> Vec<u8> {
    let mut out = Out::new(resp3);
    if resp3 {
        out.push(2);
        out.bulk(b"changes-error");
    } else {
        out.push(3);
        out.bulk(b"message");
        out.bulk(CHANNEL_ERROR);
    }
    out.bulk(e.as_str().as_bytes());
    out.buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::Recorder;

    fn log_with(keys: &[&str], ts: &[u64]) -> ChangeLog {
        let log = ChangeLog::new("e".into(), 1 << 30);
        for (k, t) in keys.iter().zip(ts) {
            let mut r = Recorder::default();
            r.record_set(1, k.as_bytes(), b"v");
            log.commit(&mut r, *t);
        }
        log
    }

    #[test]
    fn start_positions_resolve_to_offsets() {
        let log = log_with(&["a", "b", "c", "d"], &[10, 20, 20, 30]);
        assert_eq!(parse_start(&log, b"earliest"), Ok(1));
        assert_eq!(parse_start(&log, b"LATEST"), Ok(5));
        assert_eq!(parse_start(&log, b"$"), Ok(5));
        assert_eq!(parse_start(&log, b"3"), Ok(3));
        assert_eq!(parse_start(&log, b"(3"), Ok(4));
        // The next offset is fine (nothing yet); past it is refused, not waited for.
        assert_eq!(parse_start(&log, b"5"), Ok(5));
        assert_eq!(parse_start(&log, b"(4"), Ok(5));
        assert!(parse_start(&log, b"6").is_err());
        assert!(parse_start(&log, b"(5").is_err());
        assert_eq!(parse_start(&log, b"@0"), Ok(1));
        assert_eq!(parse_start(&log, b"@15"), Ok(2));
        assert_eq!(parse_start(&log, b"@20"), Ok(2));
        assert_eq!(parse_start(&log, b"@21"), Ok(4));
        assert_eq!(parse_start(&log, b"@31"), Ok(5));
        assert!(parse_start(&log, b"x").is_err());
        assert!(parse_start(&log, b"(").is_err());
        assert!(parse_start(&log, b"-1").is_err());
    }

    #[test]
    fn scan_stops_after_the_last_returned_match() {
        let log = log_with(&["a1", "b1", "a2", "b2", "a3"], &[1, 1, 1, 1, 1]);
        let f = Filter {
            pattern: Some(b"a*".to_vec()),
            ..Default::default()
        };
        let r = scan(&log, 1, &f, 2).unwrap_or_else(|_| panic!("trimmed"));
        let offs: Vec<u64> = r.events.iter().map(|e| e.offset).collect();
        assert_eq!(offs, vec![1, 3]);
        assert_eq!(r.next, 4);
        let r = scan(&log, r.next, &f, 10).unwrap_or_else(|_| panic!("trimmed"));
        assert_eq!(r.events.len(), 1);
        assert_eq!(r.next, 6);
    }

    #[test]
    fn shared_batches_are_kept_for_two_or_more_within_the_budget_and_freed_on_leave() {
        let shares = Shares::default();
        let key = |resp3| ShareKey {
            filter: Filter::default(),
            images: Images::default(),
            resp3,
        };
        let batch = |from: u64, bytes: usize| {
            Arc::new(Batch {
                from,
                next: from + 10,
                msgs: vec![(PushMsg::new(vec![b'x'; bytes]), from + 9)],
            })
        };
        let (a, b) = (key(true), key(false));
        shares.join(&a);
        shares.offer(&a, &batch(1, 100));
        assert!(
            shares.find(&a, 1).is_none(),
            "a lone subscription keeps nothing"
        );
        shares.join(&a);
        shares.join(&b);
        shares.offer(&a, &batch(1, 100));
        assert_eq!(shares.find(&a, 1).map(|b| b.next), Some(11));
        assert!(shares.find(&b, 1).is_none(), "another key does not see it");
        assert_eq!(shares.served(), 1);
        // The ring keeps the last SHARED_BATCHES batches.
        for i in 0..SHARED_BATCHES as u64 {
            shares.offer(&a, &batch(11 + 10 * i, 100));
        }
        assert!(shares.find(&a, 1).is_none());
        assert_eq!(shares.bytes(), 100 * SHARED_BATCHES);
        // Past the byte budget a batch is not kept.
        shares.offer(&a, &batch(500, SHARED_BYTES_MAX));
        assert!(shares.find(&a, 500).is_none());
        assert_eq!(shares.bytes(), 100 * (SHARED_BATCHES - 1));
        // Down to one subscriber, the ring is freed.
        shares.leave(&a);
        assert_eq!(shares.bytes(), 0);
        shares.leave(&a);
        shares.leave(&b);
        assert!(shares.0.lock().shares.is_empty());
    }
}
