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

use serde_json::{json, Map, Value};

use super::spec::Format;
use crate::changes::filter::Images;
use crate::changes::ChangeEvent;

/// One change on its way to a function.
#[derive(Debug, Clone)]
pub struct Rec {
    pub offset: u64,
    pub key: Vec<u8>,
    pub ts: u64,
    /// The change event as JSON (what `data` carries).
    pub data: Value,
    /// Times it was sent.
    pub attempts: u32,
    /// Retries spent of the trigger's RETRIES (a bisection spends none).
    pub retries: u32,
    /// Approximate encoded size, to bound a batch's bytes.
    pub size: usize,
}

impl Rec {
    pub fn from_event(ev: &ChangeEvent, epoch: &str, images: Images) -> Rec {
        let data = crate::changes::groups::event_json_images(ev, epoch, images);
        let size = 256
            + ev.key.len()
            + ev.args.iter().map(|a| a.len() + 4).sum::<usize>()
            + ev.old.as_ref().map_or(0, Vec::len)
            + ev.new.as_ref().map_or(0, Vec::len);
        Rec {
            offset: ev.offset,
            key: ev.key.clone(),
            ts: ev.ts,
            data,
            attempts: 0,
            retries: 0,
            size,
        }
    }

    /// A record from its stored JSON (a dead-letter entry's `event` field); None if the JSON
    /// is not an event.
    pub fn from_json(data: Value) -> Option<Rec> {
        let offset = data.get("offset")?.as_u64()?;
        let ts = data.get("ts")?.as_u64()?;
        let key = data.get("key")?.as_str()?;
        let key = if data.get("base64").and_then(Value::as_bool) == Some(true) {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(key).ok()?
        } else {
            key.as_bytes().to_vec()
        };
        let size = 256 + data.to_string().len();
        Some(Rec {
            offset,
            key,
            ts,
            data,
            attempts: 0,
            retries: 0,
            size,
        })
    }

    fn str_field(&self, f: &str) -> &str {
        self.data.get(f).and_then(Value::as_str).unwrap_or("")
    }

    fn db(&self) -> u64 {
        self.data.get("db").and_then(Value::as_u64).unwrap_or(0)
    }

    /// `<epoch>:<offset>`: the CloudEvents `id` and DynamoDB `eventID`.
    pub fn id(&self) -> String {
        format!("{}:{}", self.str_field("epoch"), self.offset)
    }
}

/// Encodes a batch; returns the body and its content type.
pub fn body(format: Format, host: &str, recs: &[Rec]) -> (Vec<u8>, &'static str) {
    match format {
        Format::CloudEvents => {
            let arr: Vec<Value> = recs.iter().map(|r| cloud_event(host, r)).collect();
            (
                serde_json::to_vec(&arr).unwrap_or_default(),
                "application/cloudevents-batch+json",
            )
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
    format!("eddy://{host}/db/{}", r.db())
}

fn cloud_event(host: &str, r: &Rec) -> Value {
    json!({
        "specversion": "1.0",
        "id": r.id(),
        "source": source(host, r),
        "type": format!("io.eddy.change.{}", r.str_field("event")),
        "subject": r.str_field("key"),
        "time": crate::util::rfc3339(r.ts),
        "datacontenttype": "application/json",
        "eddyoffset": r.offset,
        "data": r.data,
    })
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
    let binary = r.data.get("base64").and_then(Value::as_bool) == Some(true);
    let key = if binary {
        json!({ "B": r.str_field("key") })
    } else {
        json!({ "S": r.str_field("key") })
    };
    let name = match r.str_field("change") {
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
    let old = r.data.get("old");
    let new = r.data.get("new");
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
        "eddy": r.data,
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
    use crate::changes::{ChangeKind, Origin};
    use crate::keyspace::value::ValueType;

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
        let r = Rec::from_event(&ev(7, "k"), "ep", Images::New);
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
        let r = Rec::from_event(&ev(9, "k"), "ep", Images::Both);
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
