//! Frames of the MessagePack door (docs/msgpack.md): a big-endian `u32` length, then one
//! MessagePack value. Requests are `[id, command, arg, ...]` with every argument sent as `bin`
//! (binary-safe); server frames are replies `[id, value]`, errors `[id, nil, "ERR ..."]` and
//! pushes `[nil, [kind, ...]]`.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::{Error, Result};

/// The largest frame this client accepts from the server (the server's own default limit).
pub(crate) const MAX_FRAME: usize = 1 << 30;

/// Encodes one request frame.
pub(crate) fn encode_request<A: AsRef<[u8]>>(id: u64, args: &[A]) -> Vec<u8> {
    let body_len: usize = args.iter().map(|a| a.as_ref().len() + 5).sum();
    let mut out = Vec::with_capacity(4 + 10 + body_len);
    out.extend_from_slice(&[0; 4]);
    // Writing into a Vec cannot fail.
    let _ = rmp::encode::write_array_len(&mut out, args.len() as u32 + 1);
    let _ = rmp::encode::write_uint(&mut out, id);
    for a in args {
        let _ = rmp::encode::write_bin(&mut out, a.as_ref());
    }
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// One frame from the server, classified by shape.
#[derive(Debug)]
pub(crate) enum Incoming {
    /// `[id, value]` or `[id, nil, "ERR ..."]`.
    Reply {
        id: u64,
        result: Result<rmpv::Value>,
    },
    /// `[nil, [kind, ...]]`.
    Push(rmpv::Value),
    /// `[nil, nil, "ERR ..."]`: about a frame whose id could not be read (nothing waits for
    /// it: this client only sends frames with ids).
    FrameError,
}

fn error_line(v: &rmpv::Value) -> String {
    match v {
        rmpv::Value::String(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        rmpv::Value::Binary(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_string(),
    }
}

/// Classifies a decoded server frame.
pub(crate) fn classify(v: rmpv::Value) -> Result<Incoming> {
    let rmpv::Value::Array(mut items) = v else {
        return Err(Error::Protocol("server frame is not an array".into()));
    };
    match (items.len(), &items[..]) {
        (2, [rmpv::Value::Nil, _]) => Ok(Incoming::Push(items.pop().unwrap_or(rmpv::Value::Nil))),
        (3, [rmpv::Value::Nil, rmpv::Value::Nil, _]) => Ok(Incoming::FrameError),
        (2 | 3, [rmpv::Value::Integer(id), ..]) => {
            let id = id
                .as_u64()
                .ok_or_else(|| Error::Protocol("negative request id".into()))?;
            let result = if items.len() == 3 {
                Err(Error::from_server(error_line(&items[2])))
            } else {
                Ok(items.pop().unwrap_or(rmpv::Value::Nil))
            };
            Ok(Incoming::Reply { id, result })
        }
        _ => Err(Error::Protocol(format!(
            "unexpected server frame of {} elements",
            items.len()
        ))),
    }
}

/// Reads one frame; `Ok(None)` at a clean end of stream between frames.
pub(crate) async fn read_frame<R: AsyncRead + Unpin>(r: &mut R) -> Result<Option<rmpv::Value>> {
    loop {
        let mut head = [0u8; 4];
        match r.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let len = u32::from_be_bytes(head) as usize;
        if len == 0 {
            continue;
        }
        if len > MAX_FRAME {
            return Err(Error::Protocol(format!(
                "frame of {len} bytes is too large"
            )));
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).await?;
        return decode_body(&body).map(Some);
    }
}

/// Decodes the one MessagePack value of a frame or WebSocket message.
pub(crate) fn decode_body(body: &[u8]) -> Result<rmpv::Value> {
    let mut slice = body;
    let v = rmpv::decode::read_value(&mut slice)
        .map_err(|e| Error::Protocol(format!("invalid MessagePack: {e}")))?;
    if !slice.is_empty() {
        return Err(Error::Protocol("bytes after the value in a frame".into()));
    }
    Ok(v)
}

/// Encodes one request for the WebSocket door: `{"id": id, "cmd": [bin, ...]}` (no length
/// prefix: the WebSocket message delimits it).
#[cfg(feature = "websocket")]
pub(crate) fn encode_ws_request<A: AsRef<[u8]>>(id: u64, args: &[A]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.as_ref().len() + 5).sum::<usize>());
    let _ = rmp::encode::write_map_len(&mut out, 2);
    let _ = rmp::encode::write_str(&mut out, "id");
    let _ = rmp::encode::write_uint(&mut out, id);
    let _ = rmp::encode::write_str(&mut out, "cmd");
    let _ = rmp::encode::write_array_len(&mut out, args.len() as u32);
    for a in args {
        let _ = rmp::encode::write_bin(&mut out, a.as_ref());
    }
    out
}

/// Classifies a WebSocket message: `{"id", "reply"}`, `{"id", "error"}` or `{"push"}`.
#[cfg(feature = "websocket")]
pub(crate) fn classify_ws(v: rmpv::Value) -> Result<Incoming> {
    let rmpv::Value::Map(entries) = v else {
        return Err(Error::Protocol("WebSocket message is not a map".into()));
    };
    let (mut id, mut reply, mut error, mut push) = (None, None, None, None);
    for (k, v) in entries {
        match k.as_str() {
            Some("id") => id = Some(v),
            Some("reply") => reply = Some(v),
            Some("error") => error = Some(v),
            Some("push") => push = Some(v),
            _ => {}
        }
    }
    if let Some(p) = push {
        return Ok(Incoming::Push(p));
    }
    let id = match id {
        Some(rmpv::Value::Integer(i)) => i.as_u64(),
        _ => None,
    };
    let Some(id) = id else {
        // A reply to something whose id the server could not read: nothing waits for it.
        return Ok(Incoming::FrameError);
    };
    let result = match (reply, error) {
        (_, Some(e)) => Err(Error::from_server(error_line(&e))),
        (Some(r), None) => Ok(r),
        (None, None) => Ok(rmpv::Value::Nil),
    };
    Ok(Incoming::Reply { id, result })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn request_round_trips_and_frames_classify() {
        let f = encode_request(7, &[b"SET".as_slice(), b"k", &[0xff, 0]]);
        let mut r = &f[..];
        let v = read_frame(&mut r).await.unwrap().unwrap();
        assert_eq!(
            v,
            rmpv::Value::Array(vec![
                rmpv::Value::from(7),
                rmpv::Value::Binary(b"SET".to_vec()),
                rmpv::Value::Binary(b"k".to_vec()),
                rmpv::Value::Binary(vec![0xff, 0]),
            ])
        );
        assert!(read_frame(&mut r).await.unwrap().is_none());

        let reply = rmpv::Value::Array(vec![rmpv::Value::from(3), rmpv::Value::from("OK")]);
        assert!(matches!(
            classify(reply),
            Ok(Incoming::Reply {
                id: 3,
                result: Ok(_)
            })
        ));
        let err = rmpv::Value::Array(vec![
            rmpv::Value::from(4),
            rmpv::Value::Nil,
            rmpv::Value::from("WRONGTYPE x"),
        ]);
        match classify(err) {
            Ok(Incoming::Reply {
                id: 4,
                result: Err(e),
            }) => assert_eq!(e.code(), Some("WRONGTYPE")),
            other => panic!("{other:?}"),
        }
        let push = rmpv::Value::Array(vec![rmpv::Value::Nil, rmpv::Value::Array(vec![])]);
        assert!(matches!(classify(push), Ok(Incoming::Push(_))));
    }
}
