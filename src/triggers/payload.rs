//! What a function receives and what it may answer (docs/triggers.md shows both with examples).
//!
//! A record ([`Rec`]) carries the change event as JSON (`changes::groups::event_json_images`:
//! the event of DESIGN.md with the images the trigger asked for), built once when the record is
//! read and kept across retries, so a retried record is byte-for-byte the same event with the
//! same id, and a record re-driven from the dead-letter stream (where that JSON is stored) is
//! delivered exactly as it was the first time.
//!
//! * CloudEvents 1.0, structured mode: one JSON array (`application/cloudevents-batch+json`) of
//!   events with `id` `<epoch>:<offset>` (stable across retries and restarts), `source`
//!   `eddy://<host>/db/<n>`, `type` `io.eddy.change.<event>`, `subject` the key, `time`
//!   (RFC 3339), the extension `eddyoffset`, and `data` the change event.
//! * DynamoDB Streams: `{"Records":[...]}` with `eventID`, `eventName` INSERT/MODIFY/REMOVE,
//!   `eventSource` `eddy:changes`, and `dynamodb` holding `Keys` (`{"key":{"S":...}}`),
//!   `NewImage`/`OldImage` as attribute maps (a hash's fields, or `value` for a string),
//!   `SequenceNumber` (the offset), `ApproximateCreationDateTime` (seconds), `SizeBytes` and
//!   `StreamViewType`; the whole Eddy event rides along as `eddy`.
//!
//! A function answers 2xx, optionally with Lambda's partial batch response
//! `{"batchItemFailures":[{"itemIdentifier":"<id>"}]}`; an identifier is the record's offset,
//! its CloudEvents id or its DynamoDB `eventID`/`SequenceNumber`.

use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::spec::Format;
use crate::changes::filter::Images;
use crate::changes::groups::{is_binary, json_str, text_form, write_event_json};
use crate::changes::log::EventRef;

/// One change on its way to a function.
#[derive(Debug, Clone)]
pub struct Rec {
    pub offset: u64,
    pub key: Vec<u8>,
    pub ts: u64,
    pub db: u32,
    /// The log's epoch when the record was read (half of its id).
    pub epoch: Arc<str>,
    /// The event's name (`set`, `hset`, ...).
    pub event: String,
    /// `insert`, `modify` or `remove`.
    pub change: String,
    /// The event JSON carries its key and arguments as base64.
    pub binary: bool,
    /// The change event's JSON text (what `data` carries), written once.
    pub data: Vec<u8>,
    /// Times it was sent.
    pub attempts: u32,
    /// Retries spent of the trigger's RETRIES (a bisection spends none).
    pub retries: u32,
    /// Approximate encoded size, to bound a batch's bytes.
    pub size: usize,
}

impl Rec {
    pub fn from_event(ev: &EventRef<'_>, epoch: &Arc<str>, images: Images) -> Rec {
        let mut data = Vec::with_capacity(192 + ev.key.len());
        write_event_json(&mut data, ev, epoch, images);
        Rec {
            offset: ev.offset,
            key: ev.key.to_vec(),
            ts: ev.ts,
            db: ev.db,
            epoch: epoch.clone(),
            event: ev.event.to_string(),
            change: ev.change.name().to_string(),
            binary: is_binary(ev),
            size: 256 + data.len(),
            data,
            attempts: 0,
            retries: 0,
        }
    }

    /// A record from its stored JSON (a dead-letter entry's `event` field); None if the JSON
    /// is not an event.
    pub fn from_json(data: Value) -> Option<Rec> {
        let offset = data.get("offset")?.as_u64()?;
        let ts = data.get("ts")?.as_u64()?;
        let key = data.get("key")?.as_str()?;
        let binary = data.get("base64").and_then(Value::as_bool) == Some(true);
        let key = if binary {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(key).ok()?
        } else {
            key.as_bytes().to_vec()
        };
        let field = |f: &str| {
            data.get(f)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let text = serde_json::to_vec(&data).ok()?;
        Some(Rec {
            offset,
            key,
            ts,
            db: data.get("db").and_then(Value::as_u64).unwrap_or(0) as u32,
            epoch: Arc::from(field("epoch")),
            event: field("event"),
            change: field("change"),
            binary,
            size: 256 + text.len(),
            data: text,
            attempts: 0,
            retries: 0,
        })
    }

    /// The key as the event JSON gives it (base64 when binary).
    fn key_text(&self) -> std::borrow::Cow<'_, str> {
        text_form(&self.key, self.binary)
    }

    /// `<epoch>:<offset>`: the CloudEvents `id` and DynamoDB `eventID`.
    pub fn id(&self) -> String {
        self.id_parts(&mut itoa::Buffer::new()).concat()
    }

    /// The parts of [`Rec::id`], for writers that do not build the string.
    fn id_parts<'a>(&'a self, num: &'a mut itoa::Buffer) -> [&'a str; 3] {
        [&self.epoch, ":", num.format(self.offset)]
    }
}

/// Encodes a batch; returns the body and its content type.
pub fn body(format: Format, host: &str, recs: &[Rec]) -> (Vec<u8>, &'static str) {
    match format {
        Format::CloudEvents => {
            let size = recs.iter().map(|r| r.size).sum::<usize>();
            let mut out = Vec::with_capacity(size + 2);
            out.push(b'[');
            for (i, r) in recs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_cloud_event(&mut out, host, r);
            }
            out.push(b']');
            (out, "application/cloudevents-batch+json")
        }
        Format::DynamoDb => {
            let arr: Vec<Value> = recs.iter().map(|r| dynamodb_record(host, r)).collect();
            (
                serde_json::to_vec(&json!({ "Records": arr })).unwrap_or_default(),
                "application/json",
            )
        }
    }
}

fn source(host: &str, r: &Rec) -> String {
    source_parts(host, r, &mut itoa::Buffer::new()).concat()
}

/// The parts of [`source`]: `eddy://<host>/db/<n>`.
fn source_parts<'a>(host: &'a str, r: &Rec, num: &'a mut itoa::Buffer) -> [&'a str; 4] {
    ["eddy://", host, "/db/", num.format(r.db)]
}

/// One CloudEvent, written directly: the record's event JSON goes in as it is, and the
/// envelope's strings are written from their parts (a batch of a hundred records used to
/// allocate five strings per record for them).
fn write_cloud_event(out: &mut Vec<u8>, host: &str, r: &Rec) {
    let mut num = itoa::Buffer::new();
    out.extend_from_slice(b"{\"specversion\":\"1.0\",\"id\":");
    json_parts(out, &r.id_parts(&mut num));
    out.extend_from_slice(b",\"source\":");
    json_parts(out, &source_parts(host, r, &mut num));
    out.extend_from_slice(b",\"type\":");
    json_parts(out, &["io.eddy.change.", &r.event]);
    out.extend_from_slice(b",\"subject\":");
    json_str(out, &r.key_text());
    out.extend_from_slice(b",\"time\":\"");
    crate::util::write_rfc3339(out, r.ts);
    out.extend_from_slice(b"\",\"datacontenttype\":\"application/json\",\"eddyoffset\":");
    out.extend_from_slice(num.format(r.offset).as_bytes());
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(&r.data);
    out.push(b'}');
}

/// Writes one JSON string made of `parts`. A part with nothing to escape is copied; any other
/// goes through serde_json's escaping, so the text is what `json_str` of the whole would be.
fn json_parts(out: &mut Vec<u8>, parts: &[&str]) {
    out.push(b'"');
    for p in parts {
        if p.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
            let at = out.len();
            json_str(out, p);
            // Drop the quotes around the escaped part.
            out.remove(at);
            out.pop();
        } else {
            out.extend_from_slice(p.as_bytes());
        }
    }
    out.push(b'"');
}

/// A DynamoDB attribute value for a string or bytes image (`{"$base64": ...}`).
fn attr(v: &Value) -> Value {
    match v {
        Value::String(s) => json!({ "S": s }),
        Value::Object(m) => match m.get("$base64").or_else(|| m.get("$dump")) {
            Some(b) => json!({ "B": b }),
            None => json!({ "S": v.to_string() }),
        },
        other => json!({ "S": other.to_string() }),
    }
}

/// An image as a DynamoDB item: the key attribute plus a hash's fields, or `value` for any
/// other type.
fn item(key: &Value, img: &Value) -> Value {
    let mut m = Map::new();
    match img {
        Value::Object(o) if !o.contains_key("$base64") && !o.contains_key("$dump") => {
            for (f, v) in o {
                m.insert(f.clone(), attr(v));
            }
        }
        other => {
            m.insert("value".into(), attr(other));
        }
    }
    m.insert("key".into(), key.clone());
    Value::Object(m)
}

fn dynamodb_record(host: &str, r: &Rec) -> Value {
    let data: Value = serde_json::from_slice(&r.data).unwrap_or(Value::Null);
    let key = if r.binary {
        json!({ "B": r.key_text() })
    } else {
        json!({ "S": r.key_text() })
    };
    let name = match r.change.as_str() {
        "insert" => "INSERT",
        "remove" => "REMOVE",
        _ => "MODIFY",
    };
    let mut d = Map::new();
    d.insert(
        "ApproximateCreationDateTime".into(),
        json!(r.ts as f64 / 1000.0),
    );
    d.insert("Keys".into(), json!({ "key": key }));
    let old = data.get("old");
    let new = data.get("new");
    if let Some(n) = new {
        d.insert("NewImage".into(), item(&key, n));
    }
    if let Some(o) = old {
        d.insert("OldImage".into(), item(&key, o));
    }
    d.insert("SequenceNumber".into(), json!(r.offset.to_string()));
    d.insert("SizeBytes".into(), json!(r.size));
    let view = match (old.is_some(), new.is_some()) {
        (true, true) => "NEW_AND_OLD_IMAGES",
        (false, true) => "NEW_IMAGE",
        (true, false) => "OLD_IMAGE",
        (false, false) => "KEYS_ONLY",
    };
    d.insert("StreamViewType".into(), json!(view));
    json!({
        "eventID": r.id(),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "eddy:changes",
        "awsRegion": "eddy",
        "eventSourceARN": source(host, r),
        "dynamodb": Value::Object(d),
        "eddy": data,
    })
}

/// The offsets a function reported failed in a 2xx body (Lambda's partial batch response).
/// An empty or non-JSON body, or no/empty/null `batchItemFailures`, means full success.
/// None when an identifier is missing, empty or not one Eddy sent in any form: Lambda then
/// treats the whole batch as failed, and so does Eddy.
pub fn failed_offsets(body: &[u8]) -> Option<Vec<u64>> {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Some(Vec::new());
    };
    let items = match v.get("batchItemFailures") {
        None | Some(Value::Null) => return Some(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => return None,
    };
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let off = match it.get("itemIdentifier") {
            Some(Value::Number(n)) => n.as_u64(),
            // An offset, `<epoch>:<offset>` or a SequenceNumber.
            Some(Value::String(s)) => s.rsplit(':').next().and_then(|t| t.parse::<u64>().ok()),
            _ => None,
        };
        out.push(off?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::{ChangeEvent, ChangeKind, Origin};
    use crate::keyspace::value::ValueType;

    #[test]
    fn json_parts_escape_like_one_json_string() {
        for parts in [
            &["eddy://", "host", "/db/", "3"][..],
            &["a\"b", "\\", "c\nd\u{1}", "é"][..],
            &[][..],
        ] {
            let mut got = Vec::new();
            json_parts(&mut got, parts);
            let mut want = Vec::new();
            json_str(&mut want, &parts.concat());
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want)
            );
        }
    }

    fn ev(offset: u64, key: &str) -> ChangeEvent {
        ChangeEvent {
            offset,
            ts: 1_732_792_345_123,
            tx_id: 0,
            tx_n: 0,
            client_id: 1,
            origin: Origin::Client,
            change: ChangeKind::Insert,
            vtype: ValueType::String,
            db: 2,
            event: "set".into(),
            key: key.as_bytes().to_vec(),
            args: vec![b"SET".to_vec(), key.as_bytes().to_vec(), b"v1".to_vec()],
            old: None,
            new: None,
        }
    }

    #[test]
    fn cloudevents_batch_has_stable_ids_and_the_event_as_data() {
        let r = Rec::from_event(&ev(7, "k").as_ref(), &Arc::from("ep"), Images::New);
        let (b, ct) = body(Format::CloudEvents, "h", &[r]);
        assert_eq!(ct, "application/cloudevents-batch+json");
        let v: Value = serde_json::from_slice(&b).unwrap();
        let e = &v[0];
        assert_eq!(e["specversion"], "1.0");
        assert_eq!(e["id"], "ep:7");
        assert_eq!(e["source"], "eddy://h/db/2");
        assert_eq!(e["type"], "io.eddy.change.set");
        assert_eq!(e["subject"], "k");
        assert_eq!(e["time"], "2024-11-28T11:12:25.123Z");
        assert_eq!(e["data"]["new"], "v1");
        assert_eq!(e["data"]["offset"], 7);
    }

    #[test]
    fn dynamodb_records_carry_keys_images_and_sequence_numbers() {
        let r = Rec::from_event(&ev(9, "k").as_ref(), &Arc::from("ep"), Images::Both);
        let (b, _) = body(Format::DynamoDb, "h", &[r]);
        let v: Value = serde_json::from_slice(&b).unwrap();
        let d = &v["Records"][0];
        assert_eq!(d["eventName"], "INSERT");
        assert_eq!(d["eventID"], "ep:9");
        assert_eq!(d["dynamodb"]["Keys"]["key"]["S"], "k");
        assert_eq!(d["dynamodb"]["NewImage"]["value"]["S"], "v1");
        assert_eq!(d["dynamodb"]["SequenceNumber"], "9");
        assert_eq!(d["dynamodb"]["StreamViewType"], "NEW_IMAGE");
    }

    #[test]
    fn partial_failures_accept_every_identifier_form() {
        assert_eq!(failed_offsets(b""), Some(vec![]));
        assert_eq!(failed_offsets(b"ok"), Some(vec![]));
        assert_eq!(failed_offsets(br#"{"batchItemFailures":[]}"#), Some(vec![]));
        assert_eq!(
            failed_offsets(
                br#"{"batchItemFailures":[{"itemIdentifier":"5"},{"itemIdentifier":"ep:6"},{"itemIdentifier":7}]}"#
            ),
            Some(vec![5, 6, 7])
        );
        assert!(failed_offsets(br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#).is_none());
        assert!(failed_offsets(br#"{"batchItemFailures":[{}]}"#).is_none());
    }
}
