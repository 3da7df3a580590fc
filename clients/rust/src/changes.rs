//! The change feed (docs/changes.md): typed [`Change`] events, start positions, filters and
//! images, and [`ChangeStream`], a subscription that **resumes by itself** after a disconnect.
//!
//! A `ChangeStream` owns a connection of its own, driven by a background task. The task
//! remembers the log's epoch (from `CHANGES INFO`, or the one given) and the next offset it
//! needs: the first offset the server announced in its `subscribe` reply, then one past each
//! event received. When the connection drops it reconnects (with backoff) and sends
//! `CHANGES SUBSCRIBE <next> ... EPOCH <epoch>`, so the events handed to the stream are neither
//! lost nor repeated. If the server refuses to resume — the history changed (`ERR EPOCH`) or the
//! offset was trimmed (`ERR TRIMMED`) — the stream yields [`Error::EpochChanged`] or
//! [`Error::Trimmed`] once and ends; so does a subscription dropped by the server for falling
//! behind retention (a `changes-error` push).
//!
//! The task waits for the consumer: when the stream is not polled its queue fills, the task
//! stops reading the socket, and the server pauses the subscription (it catches up from the log
//! later), so a slow consumer costs bounded memory on both sides.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_core::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::client::{cmd, Client, Cmd, Config};
use crate::value::{bytes, bytes_list};
use crate::{Error, Result, Value};

/// One change event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Position in the log (strictly increasing, never reused).
    pub offset: u64,
    /// Milliseconds since the Unix epoch when the change was applied.
    pub ts: i64,
    /// Database.
    pub db: u32,
    /// The key (empty for keyspace-wide events such as `flushdb`).
    #[serde(with = "bytes")]
    pub key: Vec<u8>,
    /// The value's type after the change (`string`, `list`, ..., `none` once removed).
    #[serde(rename = "type")]
    pub kind: String,
    /// The keyspace-event verb: `set`, `del`, `expired`, `hset`, `lpush`, ...
    pub event: String,
    /// `insert`, `modify` or `remove`.
    pub change: ChangeKind,
    /// Who caused it.
    pub origin: Origin,
    /// The client id when `origin` is `client`, else 0.
    #[serde(default)]
    pub client: u64,
    /// Transaction id shared by the records of one MULTI/EXEC (0 if none).
    #[serde(default)]
    pub tx: u64,
    /// Number of records in that transaction.
    #[serde(default, rename = "tx-n")]
    pub tx_n: u64,
    /// The deterministic effect (`["SET", "k", "v", "PXAT", ...]`); empty for companion records.
    #[serde(with = "bytes_list")]
    pub args: Vec<Vec<u8>>,
    /// The value before the change, when asked for (`Images::Old`/`Both`) and known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    /// The value after the change, when asked for (`Images::New`/`Both`) and known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

impl Change {
    /// The key as text (lossy).
    pub fn key_str(&self) -> String {
        String::from_utf8_lossy(&self.key).into_owned()
    }
}

/// Whether a key came to exist, changed, or went away.
// Read from a string (not as an enum: MessagePack's serde enums are arrays or maps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum ChangeKind {
    /// The key did not exist before.
    Insert,
    /// The key existed before and after.
    Modify,
    /// The key is gone.
    Remove,
}

/// What caused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "&'static str")]
pub enum Origin {
    /// A client command.
    Client,
    /// A TTL ran out.
    Expiry,
    /// Memory eviction.
    Eviction,
    /// A replication stream.
    Replication,
    /// A trigger (e.g. its dead-letter writes).
    Trigger,
    /// An origin this client does not know yet.
    Other,
}

impl TryFrom<String> for ChangeKind {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<ChangeKind, String> {
        match s.as_str() {
            "insert" => Ok(ChangeKind::Insert),
            "modify" => Ok(ChangeKind::Modify),
            "remove" => Ok(ChangeKind::Remove),
            _ => Err(format!("unknown change kind {s:?}")),
        }
    }
}

impl From<ChangeKind> for &'static str {
    fn from(c: ChangeKind) -> &'static str {
        match c {
            ChangeKind::Insert => "insert",
            ChangeKind::Modify => "modify",
            ChangeKind::Remove => "remove",
        }
    }
}

impl From<String> for Origin {
    fn from(s: String) -> Origin {
        match s.as_str() {
            "client" => Origin::Client,
            "expiry" => Origin::Expiry,
            "eviction" => Origin::Eviction,
            "replication" => Origin::Replication,
            "trigger" => Origin::Trigger,
            _ => Origin::Other,
        }
    }
}

impl From<Origin> for &'static str {
    fn from(o: Origin) -> &'static str {
        match o {
            Origin::Client => "client",
            Origin::Expiry => "expiry",
            Origin::Eviction => "eviction",
            Origin::Replication => "replication",
            Origin::Trigger => "trigger",
            Origin::Other => "other",
        }
    }
}

/// Where a feed, read or group starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The oldest record still held.
    Earliest,
    /// Only records committed from now on.
    Latest,
    /// At this offset (inclusive).
    At(u64),
    /// After this offset: the way to continue from the last offset seen.
    After(u64),
    /// The first record at or after this time (ms since the Unix epoch).
    Time(i64),
}

impl Start {
    pub(crate) fn arg(&self) -> String {
        match self {
            Start::Earliest => "earliest".into(),
            Start::Latest => "latest".into(),
            Start::At(n) => n.to_string(),
            Start::After(n) => format!("({n}"),
            Start::Time(ms) => format!("@{ms}"),
        }
    }
}

/// Which values come with each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Images {
    /// No values (the default).
    #[default]
    Keys,
    /// The value after the change.
    New,
    /// The value before the change.
    Old,
    /// Both.
    Both,
}

impl Images {
    fn arg(&self) -> &'static str {
        match self {
            Images::Keys => "keys",
            Images::New => "new",
            Images::Old => "old",
            Images::Both => "both",
        }
    }
}

/// Which events pass; all given conditions must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `MATCH`: a key glob.
    pub pattern: Option<Vec<u8>>,
    /// `EVENTS`: verbs.
    pub events: Vec<String>,
    /// `TYPE`: types after the change (`none` for removals).
    pub types: Vec<String>,
    /// `DB`.
    pub db: Option<u32>,
}

impl Filter {
    /// Only keys matching `glob`.
    pub fn pattern(mut self, glob: impl AsRef<[u8]>) -> Filter {
        self.pattern = Some(glob.as_ref().to_vec());
        self
    }

    /// Only these verbs.
    pub fn events<S: Into<String>>(mut self, events: impl IntoIterator<Item = S>) -> Filter {
        self.events = events.into_iter().map(Into::into).collect();
        self
    }

    /// Only these types.
    pub fn types<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> Filter {
        self.types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Only this database.
    pub fn db(mut self, db: u32) -> Filter {
        self.db = Some(db);
        self
    }

    /// Appends the filter's options to a command.
    pub(crate) fn append(&self, mut c: Cmd) -> Cmd {
        if let Some(p) = &self.pattern {
            c = c.arg("MATCH").arg(p);
        }
        if !self.events.is_empty() {
            c = c.arg("EVENTS").arg(&self.events.join(","));
        }
        if !self.types.is_empty() {
            c = c.arg("TYPE").arg(&self.types.join(","));
        }
        if let Some(db) = self.db {
            c = c.arg("DB").arg(&db);
        }
        c
    }
}

/// How a [`ChangeStream`] reconnects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    /// Consecutive failed attempts before the stream gives up with the last error
    /// (`None`: never).
    pub max_attempts: Option<u32>,
    /// Wait before the first retry; doubles up to `max_delay`.
    pub initial_delay: Duration,
    /// Longest wait between attempts.
    pub max_delay: Duration,
}

impl Default for Reconnect {
    fn default() -> Reconnect {
        Reconnect {
            max_attempts: None,
            initial_delay: Duration::from_millis(50),
            max_delay: Duration::from_secs(2),
        }
    }
}

/// The server's `CHANGES INFO`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogInfo {
    /// The identity of the log's history.
    pub epoch: String,
    /// The oldest offset held.
    #[serde(rename = "first-offset")]
    pub first_offset: u64,
    /// The newest offset written.
    #[serde(rename = "last-offset")]
    pub last_offset: u64,
}

/// One key of a [`Snapshot`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotEntry {
    /// Database.
    pub db: u32,
    /// Key.
    #[serde(with = "bytes")]
    pub key: Vec<u8>,
    /// Type (`string`, `hash`, ...).
    pub kind: String,
    /// A string's value; other types' DUMP payload (accepted by `RESTORE`).
    pub value: Value,
    /// Milliseconds to live, -1 without a TTL.
    pub pttl: i64,
}

/// The keys matching a filter as of one offset (`CHANGES SNAPSHOT`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The values are exactly the state after this offset.
    pub offset: u64,
    /// The keys.
    pub entries: Vec<SnapshotEntry>,
}

/// Where a feed stands: enough to resume it later, even in another process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    /// The log's epoch.
    pub epoch: String,
    /// The next offset the feed needs.
    pub next: u64,
}

/// Options of a change feed; made by [`Client::changes`].
///
/// ```no_run
/// # async fn demo() -> eddy_client::Result<()> {
/// use eddy_client::{Client, Images, Start};
/// use futures_util::StreamExt;
///
/// let client = Client::connect("127.0.0.1:6479").await?;
/// let mut feed = client
///     .changes()
///     .start(Start::Earliest)
///     .pattern("order:*")
///     .events(["set", "del"])
///     .images(Images::New)
///     .follow()
///     .await?;
/// while let Some(change) = feed.next().await {
///     let change = change?; // Err only when the feed cannot go on (e.g. Error::EpochChanged)
///     println!("{} {} {}", change.offset, change.event, change.key_str());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct FeedBuilder {
    config: Config,
    start: Start,
    filter: Filter,
    images: Images,
    epoch: Option<String>,
    reconnect: Reconnect,
}

impl Client {
    /// Starts describing a change feed on this client's server.
    pub fn changes(&self) -> FeedBuilder {
        FeedBuilder {
            config: self.config().clone(),
            start: Start::Latest,
            filter: Filter::default(),
            images: Images::Keys,
            epoch: None,
            reconnect: Reconnect::default(),
        }
    }

    /// `CHANGES INFO`.
    pub async fn changes_info(&self) -> Result<LogInfo> {
        self.query(&cmd("CHANGES").arg("INFO")).await
    }

    /// `CHANGES READ <start> COUNT n [BLOCK ms] [filter] [IMAGES ...]`: one page of events
    /// (empty when a BLOCK timed out).
    pub async fn read_changes(
        &self,
        start: Start,
        count: usize,
        block: Option<Duration>,
        filter: &Filter,
        images: Images,
    ) -> Result<Vec<Change>> {
        let mut c = cmd("CHANGES")
            .arg("READ")
            .arg(&start.arg())
            .arg("COUNT")
            .arg(&count);
        if let Some(b) = block {
            c = c.arg("BLOCK").arg(&(b.as_millis() as u64));
        }
        c = filter.append(c).arg("IMAGES").arg(images.arg());
        let v: Option<Vec<Change>> = self.query(&c).await?;
        Ok(v.unwrap_or_default())
    }

    /// `CHANGES SNAPSHOT [filter]`.
    pub async fn snapshot(&self, filter: &Filter) -> Result<Snapshot> {
        let c = filter.append(cmd("CHANGES").arg("SNAPSHOT"));
        // `[N, [[db, key, type, value, pttl], ...]]`: the structs read from arrays in field order.
        self.query(&c).await
    }
}

impl FeedBuilder {
    /// Where to start (default [`Start::Latest`]).
    pub fn start(mut self, start: Start) -> FeedBuilder {
        self.start = start;
        self
    }

    /// The whole filter at once.
    pub fn filter(mut self, filter: Filter) -> FeedBuilder {
        self.filter = filter;
        self
    }

    /// Only keys matching `glob`.
    pub fn pattern(mut self, glob: impl AsRef<[u8]>) -> FeedBuilder {
        self.filter = self.filter.pattern(glob);
        self
    }

    /// Only these verbs.
    pub fn events<S: Into<String>>(mut self, events: impl IntoIterator<Item = S>) -> FeedBuilder {
        self.filter = self.filter.events(events);
        self
    }

    /// Only these types.
    pub fn types<S: Into<String>>(mut self, types: impl IntoIterator<Item = S>) -> FeedBuilder {
        self.filter = self.filter.types(types);
        self
    }

    /// Only this database.
    pub fn db(mut self, db: u32) -> FeedBuilder {
        self.filter = self.filter.db(db);
        self
    }

    /// Which values to include.
    pub fn images(mut self, images: Images) -> FeedBuilder {
        self.images = images;
        self
    }

    /// Requires the log to still have this epoch (to resume a saved [`Position`] safely).
    pub fn epoch(mut self, epoch: impl Into<String>) -> FeedBuilder {
        self.epoch = Some(epoch.into());
        self
    }

    /// Continues from a saved position: `start(At(next))` with its epoch.
    pub fn resume_from(self, p: &Position) -> FeedBuilder {
        self.start(Start::At(p.next)).epoch(p.epoch.clone())
    }

    /// How to reconnect.
    pub fn reconnect(mut self, r: Reconnect) -> FeedBuilder {
        self.reconnect = r;
        self
    }

    /// Subscribes and returns the stream of events. Errors of the first subscription (refused
    /// start, unreachable server) are returned here; later ones come out of the stream.
    pub async fn follow(self) -> Result<ChangeStream> {
        let mut state = FeedState {
            epoch: self.epoch.clone(),
            next: None,
        };
        let (conn, pushes) = subscribe(&self, &mut state).await?;
        let (tx, rx) = mpsc::channel(256);
        let reconnects = Arc::new(AtomicU64::new(0));
        let first = Position {
            epoch: state.epoch.clone().unwrap_or_default(),
            next: state.next.unwrap_or(0),
        };
        tokio::spawn(run_feed(self, state, conn, pushes, tx, reconnects.clone()));
        Ok(ChangeStream {
            rx,
            reconnects,
            position: first,
        })
    }

    /// Takes a snapshot of the keys matching the filter, then follows the changes after it:
    /// no gap and no duplicate between the two.
    pub async fn snapshot_then_follow(self) -> Result<(Snapshot, ChangeStream)> {
        let client = Client::connect_with(self.config.clone()).await?;
        let epoch = match &self.epoch {
            Some(e) => e.clone(),
            None => client.changes_info().await?.epoch,
        };
        let snap = client.snapshot(&self.filter).await?;
        let feed = self
            .start(Start::After(snap.offset))
            .epoch(epoch)
            .follow()
            .await?;
        Ok((snap, feed))
    }
}

struct FeedState {
    epoch: Option<String>,
    /// The next offset needed, once the server announced one.
    next: Option<u64>,
}

/// Connects and sends `CHANGES SUBSCRIBE`; updates `state` with the epoch and first offset.
async fn subscribe(
    b: &FeedBuilder,
    state: &mut FeedState,
) -> Result<(Client, mpsc::Receiver<rmpv::Value>)> {
    let (client, pushes) = Client::open(b.config.clone(), true).await?;
    let pushes = pushes.ok_or_else(|| Error::Protocol("no push channel".into()))?;
    let epoch = match &state.epoch {
        Some(e) => e.clone(),
        None => client.changes_info().await?.epoch,
    };
    let start = match state.next {
        Some(n) => Start::At(n),
        None => b.start,
    };
    let c = cmd("CHANGES").arg("SUBSCRIBE").arg(&start.arg());
    let c = b
        .filter
        .append(c)
        .arg("IMAGES")
        .arg(b.images.arg())
        .arg("EPOCH")
        .arg(&epoch);
    let reply = client.exec(&c).await?;
    // `["subscribe", "__changes__", first]`, possibly wrapped in an array of push frames.
    let frame = match &reply {
        Value::Array(a) if matches!(a.first(), Some(Value::Array(_))) => &a[0],
        other => other,
    };
    let first = frame
        .as_array()
        .and_then(|a| a.get(2))
        .and_then(Value::as_int)
        .ok_or_else(|| Error::Decode(format!("CHANGES SUBSCRIBE replied {reply}")))?;
    state.epoch = Some(epoch);
    state.next = Some(first as u64);
    Ok((client, pushes))
}

enum PushEvent {
    Change(Box<Change>),
    Failed(Error),
    Other,
}

fn push_event(p: rmpv::Value) -> PushEvent {
    let rmpv::Value::Array(mut parts) = p else {
        return PushEvent::Other;
    };
    if parts.len() != 2 {
        return PushEvent::Other;
    }
    let body = parts.pop().unwrap_or(rmpv::Value::Nil);
    let kind = parts.pop().unwrap_or(rmpv::Value::Nil);
    match kind.as_str() {
        Some("changes") => match Value::decode::<Change>(body) {
            Ok(c) => PushEvent::Change(Box::new(c)),
            Err(e) => PushEvent::Failed(e),
        },
        Some("changes-error") => {
            let line = body.as_str().map(str::to_owned).unwrap_or_default();
            PushEvent::Failed(Error::from_server(line))
        }
        _ => PushEvent::Other,
    }
}

/// The background task of a [`ChangeStream`].
async fn run_feed(
    b: FeedBuilder,
    mut state: FeedState,
    conn: Client,
    pushes: mpsc::Receiver<rmpv::Value>,
    tx: mpsc::Sender<Result<Change>>,
    reconnects: Arc<AtomicU64>,
) {
    let mut current = Some((conn, pushes));
    let mut attempts: u32 = 0;
    let mut delay = b.reconnect.initial_delay;
    loop {
        if let Some((_conn, mut pushes)) = current.take() {
            attempts = 0;
            delay = b.reconnect.initial_delay;
            loop {
                let push = tokio::select! {
                    p = pushes.recv() => p,
                    _ = tx.closed() => return,
                };
                let Some(push) = push else { break };
                match push_event(push) {
                    PushEvent::Change(c) => {
                        state.next = Some(c.offset + 1);
                        if tx.send(Ok(*c)).await.is_err() {
                            return;
                        }
                    }
                    PushEvent::Failed(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                    PushEvent::Other => {}
                }
            }
            // The connection ended: reconnect below.
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = tx.closed() => return,
        }
        match subscribe(&b, &mut state).await {
            Ok(c) => {
                reconnects.fetch_add(1, Ordering::Relaxed);
                current = Some(c);
            }
            // A server that is still loading its data is retried; other refusals are final.
            Err(e)
                if e.is_resume_refused()
                    || (matches!(e, Error::Server(_)) && e.code() != Some("LOADING")) =>
            {
                let _ = tx.send(Err(e)).await;
                return;
            }
            Err(e) => {
                attempts += 1;
                if b.reconnect.max_attempts.is_some_and(|m| attempts >= m) {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
                delay = (delay * 2).min(b.reconnect.max_delay);
            }
        }
    }
}

/// A change feed: a [`Stream`] of `Result<Change>`. Items are `Ok` while the feed runs; an
/// `Err` (a refused resume, a feed dropped for falling behind retention, reconnection given up)
/// is the last item.
pub struct ChangeStream {
    rx: mpsc::Receiver<Result<Change>>,
    reconnects: Arc<AtomicU64>,
    position: Position,
}

impl ChangeStream {
    /// Where the stream stands: the epoch, and the offset after the last event it yielded (or
    /// the first offset it will deliver). Save it to resume with [`FeedBuilder::resume_from`].
    pub fn position(&self) -> &Position {
        &self.position
    }

    /// How many times the stream has reconnected and resumed.
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
}

impl Stream for ChangeStream {
    type Item = Result<Change>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Change>>> {
        let item = self.rx.poll_recv(cx);
        if let Poll::Ready(Some(Ok(c))) = &item {
            let next = c.offset + 1;
            self.position.next = next;
        }
        item
    }
}
