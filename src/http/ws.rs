//! The WebSocket as a byte stream, so that the one connection loop serves it.
//!
//! Each text or binary message read becomes a `server::door::ws_frame` (kind, length, payload)
//! appended to the loop's read buffer (with the messages that have already arrived, so pipelined
//! requests run as one batch); what the loop writes is a run of such frames, each sent as
//! one message whose payload is a slice of the buffer written, so a push message shared by
//! every connection following a feed is not copied per connection before tungstenite frames
//! it. Ping frames are answered by tungstenite itself (the pong goes out with the next
//! read or write); pongs are ignored. A message over the size limit (`client-query-buffer-limit`)
//! ends the connection with close code 1009; QUIT with 1000, a protocol error with 1002.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::{Bytes, BytesMut};
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

/// tungstenite zero-fills this much of its read buffer before every read attempt, including
/// the attempts that find nothing (each time the connection loop waits for input again after
/// writing pushes). At its 128 KiB default that fill was a third of the server's CPU with a
/// thousand dashboards following the feed. Requests are small; a large one is read in several
/// steps.
pub const READ_BUFFER: usize = 4 * 1024;

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

    /// Sends each `server::door::ws_frame` in `buf` as one message, its payload a slice of
    /// `buf`. Every buffer written holds whole frames (replies and push messages are encoded
    /// frame by frame); a partial frame would be a bug, and is not sent.
    async fn send_frames(&mut self, buf: Bytes) -> std::io::Result<()> {
        let mut at = 0;
        while let Some((kind, payload, n)) = door::split_ws_frame(&buf[at..]) {
            let start = at + (n - payload.len());
            let payload = buf.slice(start..at + n);
            at += n;
            let msg = if kind == WS_TEXT {
                // The JSON writer emits UTF-8 only; checking it is a fast scan, not a copy.
                match Utf8Bytes::try_from(payload) {
                    Ok(t) => Message::Text(t),
                    Err(_) => {
                        Message::Text(String::from_utf8_lossy(&buf[start..at]).into_owned().into())
                    }
                }
            } else {
                Message::Binary(payload)
            };
            self.ws.feed(msg).await.map_err(std::io::Error::other)?;
        }
        debug_assert_eq!(at, buf.len(), "a write ended inside a frame");
        Ok(())
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        self.ws.flush().await.map_err(std::io::Error::other)
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
        self.send_frames(Bytes::copy_from_slice(buf)).await?;
        self.flush().await
    }

    async fn write_all_bufs(&mut self, bufs: &[Bytes]) -> std::io::Result<()> {
        // A push message is shared by every connection that follows the same feed: its frames
        // go out as slices of it, not copies (one message can reach a thousand dashboards).
        for b in bufs {
            self.send_frames(b.clone()).await?;
        }
        self.flush().await
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
