//! [`Client`]: one multiplexed MessagePack connection. Any number of tasks may call it at once;
//! every request gets its own id, goes out as soon as the writer task picks it up (requests
//! queued meanwhile are written together), and its reply is matched back by id, so many
//! requests are in flight on one connection.
//!
//! Two tasks own the socket. The writer takes requests from a channel, records each id in the
//! pending table *before* writing its frame, and writes; the reader decodes frames and completes
//! the pending request with the same id, or hands a push to whoever asked for pushes (a
//! [`Subscription`](crate::Subscription) or a [`ChangeStream`](crate::ChangeStream), each on a
//! connection of its own). When the connection ends every pending request fails with
//! [`Error::Closed`]; the pending table is then marked closed so later requests fail at once.
//!
//! A blocking command (`BLMOVE`, `CHANGES READ ... BLOCK`) holds back the requests sent after it
//! on the same connection until it replies, as on RESP: give blocking work its own `Client`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use crate::codec::Incoming;
use crate::transport::{self, Reader, Wire, Writer};
use crate::{Error, Result, Value};

/// Where and how to connect; kept so that feeds and subscriptions can open connections of their
/// own (and reconnect) with the same settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// `host:port` of the MessagePack door (6479 by default), or with the `websocket` feature
    /// a `ws://host:port/ws` URL of the WebSocket door (8379 by default).
    pub addr: String,
    /// Sent with `AUTH` right after connecting, when set.
    pub password: Option<String>,
    /// `SELECT`ed right after connecting, when set.
    pub db: Option<u32>,
}

impl Config {
    /// Settings for `addr` with no password and database 0.
    pub fn new(addr: impl Into<String>) -> Config {
        Config {
            addr: addr.into(),
            password: None,
            db: None,
        }
    }

    /// Adds a password.
    pub fn password(mut self, password: impl Into<String>) -> Config {
        self.password = Some(password.into());
        self
    }

    /// Selects a database on every connection.
    pub fn db(mut self, db: u32) -> Config {
        self.db = Some(db);
        self
    }
}

/// One argument of a command: anything that is bytes.
pub trait ToArg {
    /// The argument's bytes.
    fn to_arg(&self) -> Vec<u8>;
}

impl ToArg for str {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl ToArg for String {
    fn to_arg(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}
impl ToArg for [u8] {
    fn to_arg(&self) -> Vec<u8> {
        self.to_vec()
    }
}
impl ToArg for Vec<u8> {
    fn to_arg(&self) -> Vec<u8> {
        self.clone()
    }
}
impl<const N: usize> ToArg for [u8; N] {
    fn to_arg(&self) -> Vec<u8> {
        self.to_vec()
    }
}
macro_rules! display_arg {
    ($($t:ty),*) => {$(
        impl ToArg for $t {
            fn to_arg(&self) -> Vec<u8> {
                self.to_string().into_bytes()
            }
        }
    )*};
}
display_arg!(i32, i64, u32, u64, usize, f64);
impl<T: ToArg + ?Sized> ToArg for &T {
    fn to_arg(&self) -> Vec<u8> {
        (**self).to_arg()
    }
}

/// A command being built: `cmd("SET").arg("k").arg(b"\xff")`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cmd {
    args: Vec<Vec<u8>>,
}

/// Starts a command with its name.
pub fn cmd(name: &str) -> Cmd {
    Cmd {
        args: vec![name.as_bytes().to_vec()],
    }
}

impl Cmd {
    /// Appends one argument.
    pub fn arg<A: ToArg + ?Sized>(mut self, a: &A) -> Cmd {
        self.args.push(a.to_arg());
        self
    }

    /// Appends each argument of `args`.
    pub fn args<A: ToArg>(mut self, args: impl IntoIterator<Item = A>) -> Cmd {
        self.args.extend(args.into_iter().map(|a| a.to_arg()));
        self
    }

    /// The arguments, name first.
    pub fn as_args(&self) -> &[Vec<u8>] {
        &self.args
    }
}

type Reply = oneshot::Sender<Result<rmpv::Value>>;

struct Outgoing {
    id: u64,
    frame: Vec<u8>,
    reply: Reply,
}

#[derive(Default)]
struct Pending {
    waiting: HashMap<u64, Reply>,
    closed: bool,
}

struct Inner {
    tx: mpsc::UnboundedSender<Outgoing>,
    wire: Wire,
    next_id: AtomicU64,
    config: Config,
}

/// A multiplexed connection to the MessagePack door; cheap to clone (clones share it).
///
/// A `Client` does not reconnect by itself: once the connection is gone every call fails with
/// [`Error::Closed`], and a new `Client` is needed. (A [`ChangeStream`](crate::ChangeStream)
/// does reconnect, since it knows where to resume.)
///
/// ```no_run
/// # async fn demo() -> eddy_client::Result<()> {
/// use eddy_client::{cmd, Client, Value};
///
/// let client = Client::connect("127.0.0.1:6479").await?;
/// client.cmd(&["SET", "greeting", "hello"]).await?;
/// assert_eq!(client.cmd(&["GET", "greeting"]).await?, Value::Bytes(b"hello".to_vec()));
/// // Binary-safe arguments, typed replies:
/// client.exec(&cmd("SET").arg("blob").arg(&[0xff_u8, 0x00])).await?;
/// let n: i64 = client.query(&cmd("INCRBY").arg("counter").arg(&5)).await?;
/// # let _ = n;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

/// How many pushes may wait for their reader before the connection stops reading (which makes
/// the server pause a change subscription rather than buffer it).
const PUSH_QUEUE: usize = 1024;

impl Client {
    /// Connects to the MessagePack door at `addr` (`host:port`).
    pub async fn connect(addr: impl Into<String>) -> Result<Client> {
        Client::connect_with(Config::new(addr)).await
    }

    /// Connects with a password and/or database.
    pub async fn connect_with(config: Config) -> Result<Client> {
        Ok(Client::open(config, false).await?.0)
    }

    /// Opens a connection; with `pushes`, also returns the receiver of its pushes.
    pub(crate) async fn open(
        config: Config,
        pushes: bool,
    ) -> Result<(Client, Option<mpsc::Receiver<rmpv::Value>>)> {
        let (wire, write, read) = transport::connect(&config.addr).await?;
        let pending = Arc::new(Mutex::new(Pending::default()));
        let (tx, rx) = mpsc::unbounded_channel();
        let (push_tx, push_rx) = if pushes {
            let (t, r) = mpsc::channel(PUSH_QUEUE);
            (Some(t), Some(r))
        } else {
            (None, None)
        };
        tokio::spawn(write_loop(write, rx, pending.clone()));
        tokio::spawn(read_loop(read, pending, push_tx));
        let client = Client {
            inner: Arc::new(Inner {
                tx,
                wire,
                next_id: AtomicU64::new(1),
                config,
            }),
        };
        if let Some(pw) = client.inner.config.password.clone() {
            client.exec(&cmd("AUTH").arg(&pw)).await?;
        }
        if let Some(db) = client.inner.config.db {
            client.exec(&cmd("SELECT").arg(&db)).await?;
        }
        Ok((client, push_rx))
    }

    /// The settings this client connected with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// Sends a request and returns the undecoded reply.
    pub(crate) async fn call_raw<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<rmpv::Value> {
        if args.is_empty() {
            return Err(Error::Protocol("a command needs a name".into()));
        }
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (reply, rx) = oneshot::channel();
        let frame = self.inner.wire.encode(id, args);
        self.inner
            .tx
            .send(Outgoing { id, frame, reply })
            .map_err(|_| Error::Closed)?;
        rx.await.map_err(|_| Error::Closed)?
    }

    /// Runs a command given as a list of arguments (name first) and returns its reply.
    pub async fn cmd<A: AsRef<[u8]>>(&self, args: &[A]) -> Result<Value> {
        Ok(crate::value::from_wire(self.call_raw(args).await?))
    }

    /// Runs a built command.
    pub async fn exec(&self, c: &Cmd) -> Result<Value> {
        self.cmd(c.as_args()).await
    }

    /// Runs a built command and decodes its reply into `T` (any `serde` type: `i64`,
    /// `Option<String>`, `Vec<String>`, `HashMap<String, i64>`, a struct for a map reply...).
    pub async fn query<T: serde::de::DeserializeOwned>(&self, c: &Cmd) -> Result<T> {
        Value::decode(self.call_raw(c.as_args()).await?)
    }

    /// Sends every command at once (pipelined on this connection) and returns their replies in
    /// order; one command's error does not stop the others.
    pub async fn pipeline(&self, cmds: &[Cmd]) -> Vec<Result<Value>> {
        let mut waiting = Vec::with_capacity(cmds.len());
        for c in cmds {
            let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
            let (reply, rx) = oneshot::channel();
            let frame = self.inner.wire.encode(id, c.as_args());
            waiting.push(match self.inner.tx.send(Outgoing { id, frame, reply }) {
                Ok(()) => Some(rx),
                Err(_) => None,
            });
        }
        let mut out = Vec::with_capacity(waiting.len());
        for rx in waiting {
            out.push(match rx {
                Some(rx) => match rx.await {
                    Ok(r) => r.map(crate::value::from_wire),
                    Err(_) => Err(Error::Closed),
                },
                None => Err(Error::Closed),
            });
        }
        out
    }
}

async fn write_loop(
    mut write: Writer,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    pending: Arc<Mutex<Pending>>,
) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.clear();
        let mut size = 0;
        let mut next = Some(first);
        // Everything queued meanwhile goes out in the same write.
        while let Some(o) = next {
            {
                let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
                if p.closed {
                    let _ = o.reply.send(Err(Error::Closed));
                } else {
                    p.waiting.insert(o.id, o.reply);
                    size += o.frame.len();
                    batch.push(o.frame);
                }
            }
            next = if size < 1 << 20 {
                rx.try_recv().ok()
            } else {
                None
            };
        }
        if !batch.is_empty() && write.send(&batch).await.is_err() {
            // The reader sees the same failure and fails everything pending.
            write.close().await;
            return;
        }
    }
    // Every Client handle is gone: tell the server we are done.
    write.close().await;
}

async fn read_loop(
    mut read: Reader,
    pending: Arc<Mutex<Pending>>,
    pushes: Option<mpsc::Sender<rmpv::Value>>,
) {
    loop {
        match read.next().await {
            Ok(Some(Incoming::Reply { id, result })) => {
                let waiter = pending
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .waiting
                    .remove(&id);
                if let Some(w) = waiter {
                    let _ = w.send(result);
                }
            }
            Ok(Some(Incoming::Push(p))) => {
                if let Some(tx) = &pushes {
                    // Waits while the consumer is behind: the server then pauses the feed.
                    let _ = tx.send(p).await;
                }
            }
            // A frame the server could not read has no id to answer; nothing waits for it.
            Ok(Some(Incoming::FrameError)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let mut p = pending.lock().unwrap_or_else(|e| e.into_inner());
    p.closed = true;
    for (_, w) in p.waiting.drain() {
        let _ = w.send(Err(Error::Closed));
    }
}
