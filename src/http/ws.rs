//! The WebSocket as a byte stream, so that the one connection loop serves it.
//!
//! Each text or binary message read becomes a `server::door::ws_frame` (kind, length, payload)
//! appended to the loop's read buffer (with the messages that have already arrived, so pipelined
//! requests run as one batch); what the loop writes is a run of such frames, each sent as
//! one message. Ping frames are answered by tungstenite itself (the pong goes out with the next
//! read or write); pongs are ignored. A message over the size limit (`client-query-buffer-limit`)
//! ends the connection with close code 1009; QUIT with 1000, a protocol error with 1002.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::BytesMut;
use futures_util::{FutureExt, SinkExt, StreamExt};

use crate::server::door::{self, Transport, CLOSE_TOO_BIG, WS_BINARY, WS_TEXT};

/// How long a close frame may take to go out: a client that does not read must not hold the
/// connection's task.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

pub struct WsTransport {
    ws: WebSocket,
    /// The last read failed on a message over the size limit.
    too_big: bool,
    /// The stream ended (Some(error)) behind messages already handed over: reported by the next
    /// read.
    ended: Option<bool>,
}

/// Messages already received are taken in the same read up to this many bytes, so that a client
/// pipelining requests gets its replies in one write, as on RESP.
const READ_BATCH: usize = 256 * 1024;

/// What one received item means for the byte stream.
enum Got {
    Data,
    /// A control frame: nothing to hand over.
    Skip,
    /// The end of the stream: by a close (false) or an error (true).
    End(bool),
}

impl WsTransport {
    pub fn new(ws: WebSocket) -> Self {
        WsTransport {
            ws,
            too_big: false,
            ended: None,
        }
    }

    fn take(&mut self, m: Option<Result<Message, axum::Error>>, buf: &mut BytesMut) -> Got {
        match m {
            None | Some(Ok(Message::Close(_))) => Got::End(false),
            Some(Ok(Message::Text(t))) => {
                door::ws_frame(buf, WS_TEXT, t.as_bytes());
                Got::Data
            }
            Some(Ok(Message::Binary(b))) => {
                door::ws_frame(buf, WS_BINARY, &b);
                Got::Data
            }
            Some(Ok(_)) => Got::Skip,
            Some(Err(e)) => {
                self.too_big = is_too_big(e);
                Got::End(true)
            }
        }
    }
}

fn end(error: bool) -> std::io::Result<usize> {
    if error {
        Err(std::io::ErrorKind::InvalidData.into())
    } else {
        Ok(0)
    }
}

fn is_too_big(e: axum::Error) -> bool {
    matches!(
        e.into_inner().downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}

impl Transport for WsTransport {
    async fn read_buf(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
        if let Some(error) = self.ended {
            return end(error);
        }
        let before = buf.len();
        // `recv` is cancel-safe, and nothing awaits between a message and its append.
        loop {
            let m = self.ws.recv().await;
            match self.take(m, buf) {
                Got::Data => break,
                Got::Skip => continue,
                Got::End(error) => return end(error),
            }
        }
        // Then whatever has already arrived, without waiting.
        while buf.len() - before < READ_BATCH {
            let Some(m) = self.ws.next().now_or_never() else {
                break;
            };
            if let Got::End(error) = self.take(m, buf) {
                self.ended = Some(error);
                break;
            }
        }
        Ok(buf.len() - before)
    }

    async fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut rest = buf;
        while let Some((kind, payload, n)) = door::split_ws_frame(rest) {
            rest = rest.get(n..).unwrap_or_default();
            let msg = if kind == WS_TEXT {
                // The JSON writer emits UTF-8 only.
                Message::Text(String::from_utf8_lossy(payload).into_owned().into())
            } else {
                Message::Binary(bytes::Bytes::copy_from_slice(payload))
            };
            self.ws.feed(msg).await.map_err(std::io::Error::other)?;
        }
        self.ws.flush().await.map_err(std::io::Error::other)
    }

    async fn close(&mut self, code: Option<u16>) {
        let code = if self.too_big {
            Some(CLOSE_TOO_BIG)
        } else {
            code
        };
        let Some(code) = code else { return };
        let reason = match code {
            CLOSE_TOO_BIG => "message too big",
            door::CLOSE_PROTOCOL => "protocol error",
            _ => "",
        };
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ =
            tokio::time::timeout(CLOSE_TIMEOUT, self.ws.send(Message::Close(Some(frame)))).await;
    }
}
