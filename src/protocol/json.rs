//! JSON without I/O, for WebSocket text frames (`docs/websocket.md`): replies and pushes written
//! from the [`Value`] that [`super::value`] reads back from RESP, and requests
//! (`{"id": ..., "cmd": [...]}`) decoded into a command's arguments.
//!
//! JSON has no bytes type: a bulk string that is not UTF-8 is `{"$base64": "..."}`, and the same
//! form is accepted for a request argument. Other RESP3 types without a JSON counterpart are
//! tagged the same way (`$error` inside an aggregate, `$map` for a map whose keys are not all
//! strings), so every reply has exactly one JSON reading.

use base64::Engine;

use super::resp::{ArgBuf, Limits};
use super::value::Value;
use super::BadRequest;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A JSON string literal (escaped as JSON requires).
pub fn string(out: &mut Vec<u8>, s: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// Bytes: a string when they are UTF-8, else `{"$base64": ...}`.
pub fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => string(out, s),
        Err(_) => {
            out.extend_from_slice(b"{\"$base64\":\"");
            let n = out.len();
            out.resize(n + b.len().div_ceil(3) * 4, 0);
            let w = B64.encode_slice(b, &mut out[n..]).unwrap_or(0);
            out.truncate(n + w);
            out.extend_from_slice(b"\"}");
        }
    }
}

fn is_text(v: &Value<'_>) -> bool {
    matches!(v, Value::Simple(s) | Value::Bulk(s) if std::str::from_utf8(s).is_ok())
}

/// A reply value; see the table in `docs/websocket.md`.
pub fn value(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Simple(s) | Value::Bulk(s) => bytes(out, s),
        Value::Big(s) => bytes(out, s),
        Value::Error(e) => {
            out.extend_from_slice(b"{\"$error\":");
            bytes(out, e);
            out.push(b'}');
        }
        Value::Int(n) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
        Value::Double(d) => {
            if d.is_finite() {
                // `ryu`-style shortest form through serde_json: always valid JSON.
                let _ = serde_json::to_writer(&mut *out, d);
            } else if d.is_nan() {
                out.extend_from_slice(b"\"nan\"");
            } else if *d > 0.0 {
                out.extend_from_slice(b"\"inf\"");
            } else {
                out.extend_from_slice(b"\"-inf\"");
            }
        }
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Null => out.extend_from_slice(b"null"),
        Value::Array(items) | Value::Push(items) => {
            out.push(b'[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, it);
            }
            out.push(b']');
        }
        Value::Map(pairs) if pairs.iter().all(|(k, _)| is_text(k)) => {
            out.push(b'{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                value(out, k);
                out.push(b':');
                value(out, v);
            }
            out.push(b'}');
        }
        Value::Map(pairs) => {
            out.extend_from_slice(b"{\"$map\":[");
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'[');
                value(out, k);
                out.push(b',');
                value(out, v);
                out.push(b']');
            }
            out.extend_from_slice(b"]}");
        }
    }
}

pub const BAD_CMD: &str =
    "'cmd' must be a non-empty array of strings, numbers or {\"$base64\": ...}";

/// Decodes a JSON request into `ab` (owned arguments) and the JSON text of its id into `id`
/// (`null` when absent, or when the request is too broken to have one).
pub fn parse_request(
    payload: &[u8],
    ab: &mut ArgBuf,
    id: &mut Vec<u8>,
    lim: &Limits,
) -> Result<(), BadRequest> {
    id.clear();
    id.extend_from_slice(b"null");
    ab.begin(true);
    let req: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| BadRequest::new(format!("invalid JSON: {e}")))?;
    let serde_json::Value::Object(mut req) = req else {
        return Err(BadRequest::new(
            "a request must be an object: {\"id\": ..., \"cmd\": [...]}",
        ));
    };
    if let Some(v) = req.get("id") {
        id.clear();
        let _ = serde_json::to_writer(&mut *id, v);
    }
    let Some(serde_json::Value::Array(cmd)) = req.remove("cmd") else {
        return Err(BadRequest::new(BAD_CMD));
    };
    if cmd.is_empty() {
        return Err(BadRequest::new(BAD_CMD));
    }
    let mut num = String::new();
    for a in &cmd {
        let decoded;
        let b: &[u8] = match a {
            serde_json::Value::String(s) => s.as_bytes(),
            serde_json::Value::Number(n) => {
                num.clear();
                num.push_str(&n.to_string());
                num.as_bytes()
            }
            serde_json::Value::Object(o) => match (o.len(), o.get("$base64")) {
                (1, Some(serde_json::Value::String(s))) => {
                    decoded = B64
                        .decode(s)
                        .map_err(|e| BadRequest::new(format!("invalid $base64 argument: {e}")))?;
                    &decoded
                }
                _ => return Err(BadRequest::new(BAD_CMD)),
            },
            _ => return Err(BadRequest::new(BAD_CMD)),
        };
        super::push_arg(ab, b, lim)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(v: &Value<'_>) -> String {
        let mut o = Vec::new();
        value(&mut o, v);
        String::from_utf8(o).unwrap()
    }

    #[test]
    fn values_have_one_json_reading() {
        assert_eq!(json(&Value::Bulk(b"a\"b")), r#""a\"b""#);
        assert_eq!(json(&Value::Bulk(&[0xff, 0x00])), r#"{"$base64":"/wA="}"#);
        assert_eq!(json(&Value::Double(f64::INFINITY)), r#""inf""#);
        assert_eq!(json(&Value::Double(1.5)), "1.5");
        assert_eq!(
            json(&Value::Map(vec![(Value::Bulk(b"k"), Value::Int(-3))])),
            r#"{"k":-3}"#
        );
        assert_eq!(
            json(&Value::Map(vec![(Value::Int(1), Value::Null)])),
            r#"{"$map":[[1,null]]}"#
        );
        assert_eq!(
            json(&Value::Array(vec![
                Value::Error(b"ERR x"),
                Value::Bool(true)
            ])),
            r#"[{"$error":"ERR x"},true]"#
        );
    }

    const LIM: Limits = Limits {
        max_bulk: 100,
        max_frame: 1 << 20,
        authenticated: true,
    };

    #[test]
    fn requests_decode_strings_numbers_and_base64() {
        let mut ab = ArgBuf::default();
        let mut id = Vec::new();
        let p = br#"{"id":"a1","cmd":["SET","k",12,{"$base64":"/wA="}]}"#;
        parse_request(p, &mut ab, &mut id, &LIM).unwrap();
        assert_eq!(id, br#""a1""#);
        assert_eq!(
            ab.args(&[]).to_vec(),
            vec![
                b"SET".to_vec(),
                b"k".to_vec(),
                b"12".to_vec(),
                vec![0xff, 0]
            ]
        );
    }

    #[test]
    fn bad_requests_keep_their_id() {
        let mut ab = ArgBuf::default();
        let mut id = Vec::new();
        let e = parse_request(br#"{"id":7,"cmd":[]}"#, &mut ab, &mut id, &LIM).unwrap_err();
        assert!(!e.fatal);
        assert_eq!(id, b"7");
        let e = parse_request(b"{nope", &mut ab, &mut id, &LIM).unwrap_err();
        assert!(e.msg.starts_with("invalid JSON"));
        assert_eq!(id, b"null");
        let big = format!(r#"{{"id":1,"cmd":["SET","k","{}"]}}"#, "x".repeat(101));
        let e = parse_request(big.as_bytes(), &mut ab, &mut id, &LIM).unwrap_err();
        assert!(e.fatal);
    }
}
