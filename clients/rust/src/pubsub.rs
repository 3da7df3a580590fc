//! Pub/sub: [`Subscription`] is a connection of its own whose channel and pattern messages come
//! out as a [`Stream`] of [`Message`]s. Other commands may still be sent on it
//! ([`Subscription::client`]), e.g. to subscribe to more channels.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;
use tokio::sync::mpsc;

use crate::client::{cmd, Client, Config};
use crate::{Error, Result, Value};

/// One message received on a channel.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The channel it was published to.
    pub channel: Vec<u8>,
    /// The pattern that matched, for `PSUBSCRIBE` subscriptions.
    pub pattern: Option<Vec<u8>>,
    /// The message.
    pub payload: Vec<u8>,
}

impl Message {
    /// The payload as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }
}

/// A stream of channel messages on a dedicated connection; ends when the connection closes.
///
/// ```no_run
/// # async fn demo() -> eddy_client::Result<()> {
/// use futures_util::StreamExt;
///
/// let client = eddy_client::Client::connect("127.0.0.1:6479").await?;
/// let mut sub = client.subscribe(&["news"]).await?;
/// client.cmd(&["PUBLISH", "news", "hello"]).await?;
/// let msg = sub.next().await.expect("a message");
/// assert_eq!(msg.text(), "hello");
/// # Ok(())
/// # }
/// ```
pub struct Subscription {
    client: Client,
    pushes: mpsc::Receiver<rmpv::Value>,
}

impl Subscription {
    /// Opens a connection with `config` (no subscriptions yet).
    pub async fn open(config: Config) -> Result<Subscription> {
        let (client, pushes) = Client::open(config, true).await?;
        let pushes = pushes.ok_or_else(|| Error::Protocol("no push channel".into()))?;
        Ok(Subscription { client, pushes })
    }

    /// Subscribes to more channels; returns once the server confirmed them.
    pub async fn subscribe<S: AsRef<[u8]>>(&self, channels: &[S]) -> Result<()> {
        self.confirm("SUBSCRIBE", channels).await
    }

    /// Subscribes to more patterns.
    pub async fn psubscribe<S: AsRef<[u8]>>(&self, patterns: &[S]) -> Result<()> {
        self.confirm("PSUBSCRIBE", patterns).await
    }

    /// Unsubscribes from channels (all of them when `channels` is empty).
    pub async fn unsubscribe<S: AsRef<[u8]>>(&self, channels: &[S]) -> Result<()> {
        self.confirm("UNSUBSCRIBE", channels).await
    }

    async fn confirm<S: AsRef<[u8]>>(&self, verb: &str, names: &[S]) -> Result<()> {
        let c = cmd(verb).args(names.iter().map(|n| n.as_ref().to_vec()));
        match self.client.exec(&c).await? {
            Value::Array(_) => Ok(()),
            other => Err(Error::Decode(format!("{verb} replied {other}"))),
        }
    }

    /// The connection, for other commands.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Client {
    /// Opens a new connection with this client's settings and subscribes it to `channels`.
    pub async fn subscribe<S: AsRef<[u8]>>(&self, channels: &[S]) -> Result<Subscription> {
        let sub = Subscription::open(self.config().clone()).await?;
        sub.subscribe(channels).await?;
        Ok(sub)
    }

    /// Opens a new connection and subscribes it to the glob `patterns`.
    pub async fn psubscribe<S: AsRef<[u8]>>(&self, patterns: &[S]) -> Result<Subscription> {
        let sub = Subscription::open(self.config().clone()).await?;
        sub.psubscribe(patterns).await?;
        Ok(sub)
    }
}

/// Reads a `message`/`pmessage` push; other pushes give `None`.
fn message_of(push: rmpv::Value) -> Option<Message> {
    let Value::Array(parts) = crate::value::from_wire(push) else {
        return None;
    };
    let bytes = |v: &Value| v.as_bytes().map(<[u8]>::to_vec);
    match parts.as_slice() {
        [kind, ch, payload] if kind.as_bytes() == Some(b"message") => Some(Message {
            channel: bytes(ch)?,
            pattern: None,
            payload: bytes(payload)?,
        }),
        [kind, pat, ch, payload] if kind.as_bytes() == Some(b"pmessage") => Some(Message {
            channel: bytes(ch)?,
            pattern: Some(bytes(pat)?),
            payload: bytes(payload)?,
        }),
        _ => None,
    }
}

impl Stream for Subscription {
    type Item = Message;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        loop {
            match self.pushes.poll_recv(cx) {
                Poll::Ready(Some(p)) => {
                    if let Some(m) = message_of(p) {
                        return Poll::Ready(Some(m));
                    }
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
