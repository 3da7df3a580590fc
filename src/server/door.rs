//! The front doors: what differs between RESP, MessagePack-over-TCP and WebSocket connections,
//! behind two small traits, so that one connection loop (`server::conn`) serves all three.
//!
//! * [`Transport`] moves bytes: a TCP stream, or a WebSocket whose messages the WebSocket
//!   transport (`http::ws`) turns into a byte stream of [`ws_frame`]s and back.
//! * [`Codec`] turns the bytes into requests (arguments plus, for the other doors, a request id)
//!   and re-encodes what the handlers wrote. Handlers always write RESP into `Out`; the other
//!   doors read it back as a [`Value`] (`protocol::value`) and write MessagePack or JSON, so no
//!   handler knows which door a client came through.
//!
//! The loop is generic over both, so the RESP door is monomorphised with a codec whose
//! re-encoding is empty and inlined away: its hot path is what it was before the other doors.

use std::borrow::Cow;
use std::future::Future;
use std::io::IoSlice;
use std::os::fd::AsFd;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::background;
use crate::protocol::resp::{ArgBuf, Limits, Out, Parsed};
use crate::protocol::value::{self, Value};
use crate::protocol::{json, msgpack, BadRequest};

/// Which front door a connection came through (CLIENT LIST `door=`, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Door {
    Resp = 0,
    WebSocket = 1,
    MsgPack = 2,
}

impl Door {
    pub const ALL: [Door; 3] = [Door::Resp, Door::WebSocket, Door::MsgPack];

    pub fn name(self) -> &'static str {
        match self {
            Door::Resp => "resp",
            Door::WebSocket => "websocket",
            Door::MsgPack => "msgpack",
        }
    }

    pub fn from_u8(n: u8) -> Door {
        match n {
            1 => Door::WebSocket,
            2 => Door::MsgPack,
            _ => Door::Resp,
        }
    }
}

/// WebSocket close codes the server sends (RFC 6455 §7.4.1).
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_PROTOCOL: u16 = 1002;
pub const CLOSE_TOO_BIG: u16 = 1009;

/// A connection's byte stream.
pub trait Transport: Send {
    /// Appends what arrives to `buf`; `Ok(0)` is the end of the stream. Must be cancel-safe (it
    /// runs in `select!` beside pushes and kills).
    fn read_buf(
        &mut self,
        buf: &mut BytesMut,
    ) -> impl Future<Output = std::io::Result<usize>> + Send;
    fn write_all(&mut self, buf: &[u8]) -> impl Future<Output = std::io::Result<()>> + Send;
    /// Writes several buffers in order, as one write where the transport can (a push backlog
    /// is many small messages: gathering them costs a copy of every byte). Byte streams write a
    /// large backlog off the client runtime (`server::background::write_now`).
    fn write_all_bufs(
        &mut self,
        bufs: &[bytes::Bytes],
    ) -> impl Future<Output = std::io::Result<()>> + Send {
        async move {
            let mut all = Vec::with_capacity(bufs.iter().map(|b| b.len()).sum());
            for b in bufs {
                all.extend_from_slice(b);
            }
            self.write_all(&all).await
        }
    }
    /// The connection ends; `code` is set when the server ends it on purpose (QUIT: normal, a
    /// protocol error). Only the WebSocket has something to say (a close frame).
    fn close(&mut self, code: Option<u16>) -> impl Future<Output = ()> + Send {
        let _ = code;
        std::future::ready(())
    }
}

/// A byte stream (TCP, or a Unix socket: `unixsocket`) is a transport as it is.
macro_rules! stream_transport {
    ($t:ty) => {
        impl Transport for $t {
            async fn read_buf(&mut self, buf: &mut BytesMut) -> std::io::Result<usize> {
                AsyncReadExt::read_buf(self, buf).await
            }
            async fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
                AsyncWriteExt::write_all(self, buf).await
            }
            async fn write_all_bufs(&mut self, bufs: &[bytes::Bytes]) -> std::io::Result<()> {
                let mut slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
                let mut rest = &mut slices[..];
                // A push backlog is written off the client runtime (`server::background`).
                if bufs.iter().map(|b| b.len()).sum::<usize>() >= background::OFFLOAD_MIN {
                    let done = background::write_now(self.as_fd(), bufs).await;
                    IoSlice::advance_slices(&mut rest, done);
                }
                while !rest.is_empty() {
                    match AsyncWriteExt::write_vectored(self, rest).await? {
                        0 => return Err(std::io::ErrorKind::WriteZero.into()),
                        n => IoSlice::advance_slices(&mut rest, n),
                    }
                }
                Ok(())
            }
        }
    };
}

stream_transport!(tokio::net::TcpStream);
stream_transport!(tokio::net::UnixStream);

/// One request frame's outcome.
#[derive(Debug)]
pub enum Frame {
    /// A command of `consumed` bytes; its arguments are in the `ArgBuf`.
    Command { consumed: usize },
    /// Bytes that carry no command.
    Skip { consumed: usize },
    /// More bytes needed; at least `hint`.
    Incomplete { hint: usize },
    /// A request that cannot run: it gets this protocol error and the connection carries on.
    Invalid {
        consumed: usize,
        msg: Cow<'static, str>,
    },
    /// The connection gets this protocol error and is closed.
    Fatal(Cow<'static, str>),
}

/// A front door's wire format (see the module docs).
pub trait Codec: Send + Default + 'static {
    const DOOR: Door;
    /// Whether replies and pushes are re-encoded (false: they are sent as RESP).
    const TRANSCODES: bool;

    /// Parses the request at the start of `buf` into `ab` (ranges relative to `buf`).
    fn parse(&mut self, ab: &mut ArgBuf, buf: &[u8], lim: &Limits) -> Frame;
    /// Re-encodes what one command wrote at `out.buf[mark..]`: first `pushes` bytes of pushes
    /// queued before its reply, then the reply (nothing, one value or several).
    fn finish(&mut self, out: &mut Out, mark: usize, pushes: usize);
    /// Re-encodes pushes (RESP) written outside any reply, appending them to `dst`.
    fn pushes(&mut self, resp: &[u8], dst: &mut Vec<u8>);
    /// Which output variant [`Codec::pushes`] writes now (below `session::PUSH_FORMS`, unique
    /// across doors): connections whose pushes come out alike share one re-encoding.
    fn push_form(&self) -> usize {
        0
    }
    /// An error that ends or refuses a request outside a command (protocol errors, max clients),
    /// as a whole frame, for the last request when it had an id.
    fn error(&mut self, out: &mut Out, msg: &str);
}

// ---------------------------------------------------------------------------------------------
// RESP

/// The RESP door: the parser is `protocol::resp`, replies go out as written.
#[derive(Default)]
pub struct Resp;

impl Codec for Resp {
    const DOOR: Door = Door::Resp;
    const TRANSCODES: bool = false;

    #[inline(always)]
    fn parse(&mut self, ab: &mut ArgBuf, buf: &[u8], lim: &Limits) -> Frame {
        match ab.parse(buf, lim) {
            Ok(Parsed::Command { consumed }) => Frame::Command { consumed },
            Ok(Parsed::Skip { consumed }) => Frame::Skip { consumed },
            Ok(Parsed::Incomplete { hint }) => Frame::Incomplete { hint },
            Err(msg) => Frame::Fatal(msg),
        }
    }
    #[inline(always)]
    fn finish(&mut self, _out: &mut Out, _mark: usize, _pushes: usize) {}
    #[inline(always)]
    fn pushes(&mut self, resp: &[u8], dst: &mut Vec<u8>) {
        dst.extend_from_slice(resp);
    }
    fn error(&mut self, out: &mut Out, msg: &str) {
        out.error(msg);
    }
}

// ---------------------------------------------------------------------------------------------
// Shared re-encoding

/// What differs between the transcoding doors: how requests are framed and decoded, and how
/// the three kinds of message (reply, error, push) are framed. [`Transcoder`] does the rest.
pub trait Frames: Send + Default + 'static {
    const DOOR: Door;
    /// [`Codec::parse`].
    fn parse(&mut self, ab: &mut ArgBuf, buf: &[u8], lim: &Limits) -> Frame;
    fn reply(&mut self, out: &mut Vec<u8>, v: &Value<'_>);
    fn error(&mut self, out: &mut Vec<u8>, e: &[u8]);
    fn push(&mut self, out: &mut Vec<u8>, v: &Value<'_>);
    /// [`Codec::push_form`].
    fn push_form(&self) -> usize;
}

/// A door whose replies and pushes are RESP read back and written in its own format.
#[derive(Default)]
pub struct Transcoder<F> {
    frames: F,
    /// Holds a command's RESP while it is re-encoded in its place (reused: no allocation per
    /// command once warm).
    scratch: Vec<u8>,
}

impl<F: Frames> Codec for Transcoder<F> {
    const DOOR: Door = F::DOOR;
    const TRANSCODES: bool = true;

    fn parse(&mut self, ab: &mut ArgBuf, buf: &[u8], lim: &Limits) -> Frame {
        self.frames.parse(ab, buf, lim)
    }
    fn finish(&mut self, out: &mut Out, mark: usize, pushes: usize) {
        finish_with(&mut self.frames, &mut self.scratch, out, mark, pushes);
    }
    fn pushes(&mut self, resp: &[u8], dst: &mut Vec<u8>) {
        encode_pushes(&mut self.frames, resp, dst);
    }
    fn push_form(&self) -> usize {
        self.frames.push_form()
    }
    fn error(&mut self, out: &mut Out, msg: &str) {
        self.frames.error(&mut out.buf, msg.as_bytes());
    }
}

const UNREADABLE: &[u8] = b"ERR internal error: a reply could not be re-encoded";

/// Pushes (each RESP value in `resp` is one) re-encoded onto `out`.
fn encode_pushes<F: Frames>(f: &mut F, resp: &[u8], out: &mut Vec<u8>) {
    let mut rest = resp;
    while !rest.is_empty() {
        let Ok((v, n)) = value::read(rest) else {
            tracing::warn!("dropped a push that could not be re-encoded");
            return;
        };
        f.push(out, &v);
        rest = rest.get(n..).unwrap_or_default();
    }
}

/// [`Codec::finish`] for a transcoding door.
fn finish_with<F: Frames>(
    f: &mut F,
    scratch: &mut Vec<u8>,
    out: &mut Out,
    mark: usize,
    pushes: usize,
) {
    let Some(written) = out.buf.get(mark..) else {
        return;
    };
    if written.is_empty() {
        return;
    }
    scratch.clear();
    scratch.extend_from_slice(written);
    out.buf.truncate(mark);
    let (p, r) = scratch.split_at(pushes.min(scratch.len()));
    if !p.is_empty() {
        encode_pushes(f, p, &mut out.buf);
    }
    match value::read_reply(r) {
        Ok(None) => {}
        Ok(Some(Value::Error(e))) => f.error(&mut out.buf, e),
        Ok(Some(v)) => f.reply(&mut out.buf, &v),
        Err(_) => f.error(&mut out.buf, UNREADABLE),
    }
}

// ---------------------------------------------------------------------------------------------
// MessagePack over TCP (docs/msgpack.md)

/// Largest frame before authentication (Redis lets an unauthenticated client send 10 arguments
/// of 16 KB; this bounds what it can make the server buffer).
pub const UNAUTH_FRAME_MAX: usize = 256 * 1024;

/// The MessagePack door: frames of a 4-byte big-endian length and one MessagePack value.
pub type MsgPack = Transcoder<MsgPackFrames>;

#[derive(Default)]
pub struct MsgPackFrames {
    /// The raw MessagePack of the current request's id (empty: none yet, sent as nil).
    id: Vec<u8>,
}

/// Starts a length-prefixed frame; [`end_frame`] fills in the length.
fn begin_frame(out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&[0; 4]);
    out.len()
}

fn end_frame(out: &mut [u8], start: usize) {
    let len = (out.len() - start) as u32;
    if let Some(h) = out.get_mut(start - 4..start) {
        h.copy_from_slice(&len.to_be_bytes());
    }
}

impl MsgPackFrames {
    fn id(&self, out: &mut Vec<u8>) {
        if self.id.is_empty() {
            msgpack::nil(out);
        } else {
            out.extend_from_slice(&self.id);
        }
    }
}

impl Frames for MsgPackFrames {
    const DOOR: Door = Door::MsgPack;

    fn reply(&mut self, out: &mut Vec<u8>, v: &Value<'_>) {
        let s = begin_frame(out);
        msgpack::array(out, 2);
        self.id(out);
        msgpack::value(out, v);
        end_frame(out, s);
    }
    fn parse(&mut self, ab: &mut ArgBuf, buf: &[u8], lim: &Limits) -> Frame {
        self.id.clear();
        let Some(head) = buf.get(..4) else {
            return Frame::Incomplete {
                hint: 4 - buf.len(),
            };
        };
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let max = if lim.authenticated {
            lim.max_frame
        } else {
            UNAUTH_FRAME_MAX
        };
        if len > max {
            return Frame::Fatal(
                format!("frame of {len} bytes is larger than the limit of {max} bytes").into(),
            );
        }
        if len == 0 {
            return Frame::Skip { consumed: 4 };
        }
        let end = 4 + len;
        if buf.len() < end {
            return Frame::Incomplete {
                hint: end - buf.len(),
            };
        }
        match msgpack::parse_array_request(buf, 4, end, ab, &mut self.id, lim) {
            Ok(()) => Frame::Command { consumed: end },
            Err(e) => bad(e, end),
        }
    }
    fn error(&mut self, out: &mut Vec<u8>, e: &[u8]) {
        let s = begin_frame(out);
        msgpack::array(out, 3);
        self.id(out);
        msgpack::nil(out);
        msgpack::bytes(out, e);
        end_frame(out, s);
    }
    fn push(&mut self, out: &mut Vec<u8>, v: &Value<'_>) {
        let s = begin_frame(out);
        msgpack::array(out, 2);
        msgpack::nil(out);
        msgpack::value(out, v);
        end_frame(out, s);
    }
    fn push_form(&self) -> usize {
        2
    }
}

fn bad(e: BadRequest, consumed: usize) -> Frame {
    if e.fatal {
        Frame::Fatal(e.msg)
    } else {
        Frame::Invalid {
            consumed,
            msg: e.msg,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// WebSocket (docs/websocket.md)

/// Kinds of [`ws_frame`]: a text (JSON) or binary (MessagePack) WebSocket message.
pub const WS_TEXT: u8 = b'T';
pub const WS_BINARY: u8 = b'B';

/// Appends one WebSocket message to a byte stream: kind, 4-byte big-endian length, payload.
/// The WebSocket transport turns messages into this stream and back, so the connection loop
/// sees bytes whatever the door.
pub fn ws_frame(out: &mut impl bytes::BufMut, kind: u8, payload: &[u8]) {
    out.put_u8(kind);
    out.put_u32(payload.len() as u32);
    out.put_slice(payload);
}

/// Splits a stream of [`ws_frame`]s: (kind, payload) of the first one and the bytes it took.
pub fn split_ws_frame(buf: &[u8]) -> Option<(u8, &[u8], usize)> {
    let (&kind, rest) = buf.split_first()?;
    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
    let payload = rest.get(4..4 + len)?;
    Some((kind, payload, 5 + len))
}

/// The WebSocket door: JSON in text messages, MessagePack maps in binary ones.
pub type WebSocket = Transcoder<WsFrames>;

#[derive(Default)]
pub struct WsFrames {
    /// The current request's id, as JSON text or raw MessagePack (by `binary`).
    id: Vec<u8>,
    /// The current (last) request came in a binary message: replies and pushes go out in kind.
    binary: bool,
}

impl WsFrames {
    /// Writes one message: `body` writes the object's fields after the id (or alone, for a
    /// push), in the format of the last request.
    fn message(&mut self, out: &mut Vec<u8>, with_id: bool, body: impl FnOnce(&mut Vec<u8>, bool)) {
        let kind = if self.binary { WS_BINARY } else { WS_TEXT };
        out.push(kind);
        let s = begin_frame(out);
        if self.binary {
            msgpack::map(out, if with_id { 2 } else { 1 });
            if with_id {
                msgpack::str(out, b"id");
                out.extend_from_slice(if self.id.is_empty() {
                    &[0xc0]
                } else {
                    &self.id
                });
            }
        } else {
            out.push(b'{');
            if with_id {
                out.extend_from_slice(b"\"id\":");
                out.extend_from_slice(if self.id.is_empty() {
                    b"null"
                } else {
                    &self.id
                });
                out.push(b',');
            }
        }
        body(out, self.binary);
        if !self.binary {
            out.push(b'}');
        }
        end_frame(out, s);
    }
}

/// One field of a message: `"name":<value>` or its MessagePack pair.
fn field(out: &mut Vec<u8>, binary: bool, name: &str, v: &Value<'_>) {
    if binary {
        msgpack::str(out, name.as_bytes());
        msgpack::value(out, v);
    } else {
        json::string(out, name);
        out.push(b':');
        json::value(out, v);
    }
}

impl Frames for WsFrames {
    const DOOR: Door = Door::WebSocket;

    fn reply(&mut self, out: &mut Vec<u8>, v: &Value<'_>) {
        self.message(out, true, |o, b| field(o, b, "reply", v));
    }
    fn error(&mut self, out: &mut Vec<u8>, e: &[u8]) {
        self.message(out, true, |o, b| field(o, b, "error", &Value::Simple(e)));
    }
    fn push(&mut self, out: &mut Vec<u8>, v: &Value<'_>) {
        self.message(out, false, |o, b| field(o, b, "push", v));
    }
    fn push_form(&self) -> usize {
        usize::from(self.binary)
    }
    fn parse(&mut self, ab: &mut ArgBuf, buf: &[u8], lim: &Limits) -> Frame {
        let Some((kind, payload, consumed)) = split_ws_frame(buf) else {
            return Frame::Incomplete { hint: 1 };
        };
        self.binary = kind == WS_BINARY;
        let r = if self.binary {
            msgpack::parse_map_request(payload, ab, &mut self.id, lim)
        } else {
            json::parse_request(payload, ab, &mut self.id, lim)
        };
        match r {
            Ok(()) => Frame::Command { consumed },
            Err(e) => bad(e, consumed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim() -> Limits {
        Limits {
            max_bulk: 1 << 20,
            max_frame: 1 << 20,
            authenticated: true,
        }
    }

    #[test]
    fn msgpack_replies_errors_and_pushes_have_distinct_shapes() {
        let mut c = MsgPack::default();
        let mut ab = ArgBuf::default();
        let mut req = Vec::new();
        let s = begin_frame(&mut req);
        msgpack::array(&mut req, 2);
        msgpack::int(&mut req, 5);
        msgpack::str(&mut req, b"PING");
        end_frame(&mut req, s);
        assert!(
            matches!(c.parse(&mut ab, &req, &lim()), Frame::Command { consumed } if consumed == req.len())
        );
        let mut out = Out::new(true);
        let push = b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n";
        out.buf.extend_from_slice(push);
        out.buf.extend_from_slice(b"+PONG\r\n");
        c.finish(&mut out, 0, push.len());
        // push [nil, ["message","c","m"]], then reply [5, "PONG"].
        let push = [0, 0, 0, 15, 0x92, 0xc0, 0x93, 0xa7];
        assert_eq!(&out.buf[..8], &push);
        assert_eq!(out.buf.len(), 4 + 15 + 11);
        let reply = [0, 0, 0, 7, 0x92, 5, 0xa4, b'P', b'O', b'N', b'G'];
        assert_eq!(&out.buf[out.buf.len() - 11..], &reply);
        let mut out = Out::new(true);
        out.error("ERR x");
        c.finish(&mut out, 0, 0);
        assert_eq!(
            out.buf,
            [0, 0, 0, 9, 0x93, 5, 0xc0, 0xa5, b'E', b'R', b'R', b' ', b'x']
        );
    }

    #[test]
    fn msgpack_frames_over_the_limit_are_fatal() {
        let mut c = MsgPack::default();
        let mut ab = ArgBuf::default();
        let f = c.parse(&mut ab, &[0xff, 0xff, 0xff, 0xff], &lim());
        assert!(matches!(f, Frame::Fatal(_)), "{f:?}");
        let f = c.parse(&mut ab, &[0, 0, 0, 3, 0x92], &lim());
        assert!(matches!(f, Frame::Incomplete { hint: 2 }), "{f:?}");
    }

    #[test]
    fn websocket_replies_in_the_format_of_the_request() {
        let mut c = WebSocket::default();
        let mut ab = ArgBuf::default();
        let mut req = Vec::new();
        ws_frame(&mut req, WS_TEXT, br#"{"id":"x","cmd":["GET","k"]}"#);
        assert!(matches!(
            c.parse(&mut ab, &req, &lim()),
            Frame::Command { .. }
        ));
        let mut out = Out::new(true);
        out.bulk(b"v");
        c.finish(&mut out, 0, 0);
        let (kind, payload, _) = split_ws_frame(&out.buf).unwrap();
        assert_eq!(kind, WS_TEXT);
        assert_eq!(payload, br#"{"id":"x","reply":"v"}"#);
        let mut pushes = Vec::new();
        c.pushes(b">2\r\n$1\r\na\r\n:1\r\n", &mut pushes);
        assert_eq!(split_ws_frame(&pushes).unwrap().1, br#"{"push":["a",1]}"#);
        let mut req = Vec::new();
        ws_frame(&mut req, WS_TEXT, b"[1]");
        assert!(matches!(
            c.parse(&mut ab, &req, &lim()),
            Frame::Invalid { .. }
        ));
    }

    #[test]
    fn random_bytes_never_panic_the_decoders() {
        // xorshift: deterministic, no dependency.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut ab = ArgBuf::default();
        let (mut mp, mut ws) = (MsgPack::default(), WebSocket::default());
        for round in 0..20_000 {
            let n = (next() % 40) as usize;
            let mut body: Vec<u8> = (0..n).map(|_| next() as u8).collect();
            if round % 2 == 0 {
                // Mostly well-formed heads, to reach deeper into the value.
                body.insert(0, 0x90 | (next() % 6) as u8);
            }
            let mut frame = (body.len() as u32).to_be_bytes().to_vec();
            frame.extend_from_slice(&body);
            let _ = mp.parse(&mut ab, &frame, &lim());
            let _ = mp.parse(&mut ab, &body, &lim());
            let mut w = Vec::new();
            ws_frame(
                &mut w,
                if round % 3 == 0 { WS_TEXT } else { WS_BINARY },
                &body,
            );
            let _ = ws.parse(&mut ab, &w, &lim());
            let _ = value::read(&body);
            let mut out = Out::new(true);
            out.buf.extend_from_slice(&body);
            mp.finish(&mut out, 0, (next() % 8) as usize);
        }
    }
}
