//! The two ways to reach the server with the same messages: the MessagePack TCP door
//! (`host:port`, length-prefixed frames) and, with the `websocket` feature, a WebSocket
//! (`ws://host:port/ws`, MessagePack in binary messages, docs/websocket.md). The connection
//! tasks in [`client`](crate::client) see only [`Writer`], [`Reader`] and [`Wire`].

use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

use crate::codec::{self, Incoming};
use crate::{Error, Result};

/// How requests are encoded and replies read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// `[id, cmd, args...]` in length-prefixed frames.
    Tcp,
    /// `{"id": id, "cmd": [...]}` in WebSocket binary messages.
    #[cfg(feature = "websocket")]
    WebSocket,
}

impl Wire {
    /// Encodes one request as this wire sends it.
    pub(crate) fn encode<A: AsRef<[u8]>>(self, id: u64, args: &[A]) -> Vec<u8> {
        match self {
            Wire::Tcp => codec::encode_request(id, args),
            #[cfg(feature = "websocket")]
            Wire::WebSocket => codec::encode_ws_request(id, args),
        }
    }
}

#[cfg(feature = "websocket")]
type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The sending half of a connection.
pub(crate) enum Writer {
    Tcp(OwnedWriteHalf),
    #[cfg(feature = "websocket")]
    WebSocket(futures_util::stream::SplitSink<WsStream, tokio_tungstenite::tungstenite::Message>),
}

/// The receiving half of a connection.
pub(crate) enum Reader {
    Tcp(OwnedReadHalf),
    #[cfg(feature = "websocket")]
    WebSocket(futures_util::stream::SplitStream<WsStream>),
}

/// Opens a connection to `addr`: a `ws://` URL is a WebSocket, anything else `host:port`.
pub(crate) async fn connect(addr: &str) -> Result<(Wire, Writer, Reader)> {
    if addr.starts_with("ws://") || addr.starts_with("wss://") {
        #[cfg(feature = "websocket")]
        {
            use futures_util::StreamExt;
            let (ws, _) = tokio_tungstenite::connect_async(addr)
                .await
                .map_err(|e| Error::Io(std::io::Error::other(e)))?;
            let (sink, stream) = ws.split();
            return Ok((
                Wire::WebSocket,
                Writer::WebSocket(sink),
                Reader::WebSocket(stream),
            ));
        }
        #[cfg(not(feature = "websocket"))]
        return Err(Error::Protocol(format!(
            "{addr}: WebSocket URLs need eddy-client's `websocket` feature"
        )));
    }
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, write) = stream.into_split();
    Ok((Wire::Tcp, Writer::Tcp(write), Reader::Tcp(read)))
}

impl Writer {
    /// Sends encoded requests (as [`Wire::encode`] made them), in order.
    pub(crate) async fn send(&mut self, frames: &[Vec<u8>]) -> Result<()> {
        match self {
            Writer::Tcp(w) => {
                // One write for the whole batch.
                let batch = frames.concat();
                w.write_all(&batch).await?;
            }
            #[cfg(feature = "websocket")]
            Writer::WebSocket(w) => {
                use futures_util::SinkExt;
                use tokio_tungstenite::tungstenite::Message;
                for f in frames {
                    w.feed(Message::Binary(f.clone().into()))
                        .await
                        .map_err(|e| Error::Io(std::io::Error::other(e)))?;
                }
                w.flush()
                    .await
                    .map_err(|e| Error::Io(std::io::Error::other(e)))?;
            }
        }
        Ok(())
    }

    /// Tells the server this side is done.
    pub(crate) async fn close(&mut self) {
        match self {
            Writer::Tcp(w) => {
                let _ = w.shutdown().await;
            }
            #[cfg(feature = "websocket")]
            Writer::WebSocket(w) => {
                use futures_util::SinkExt;
                let _ = w.close().await;
            }
        }
    }
}

impl Reader {
    /// The next message from the server; `Ok(None)` once the connection has ended.
    pub(crate) async fn next(&mut self) -> Result<Option<Incoming>> {
        match self {
            Reader::Tcp(r) => match codec::read_frame(r).await? {
                Some(v) => codec::classify(v).map(Some),
                None => Ok(None),
            },
            #[cfg(feature = "websocket")]
            Reader::WebSocket(r) => {
                use futures_util::StreamExt;
                use tokio_tungstenite::tungstenite::Message;
                loop {
                    let msg = match r.next().await {
                        None => return Ok(None),
                        Some(Err(e)) => return Err(Error::Io(std::io::Error::other(e))),
                        Some(Ok(m)) => m,
                    };
                    match msg {
                        Message::Binary(b) => {
                            return codec::classify_ws(codec::decode_body(&b)?).map(Some)
                        }
                        Message::Close(_) => return Ok(None),
                        // Pings are answered by the library; this client sends no text.
                        _ => {}
                    }
                }
            }
        }
    }
}
