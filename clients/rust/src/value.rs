//! [`Value`], a reply as the MessagePack door sends it (docs/msgpack.md, "Values"), and the serde
//! helpers that read byte strings sent either as MessagePack `str` or `bin`.
//!
//! The door sends text as `str` and other bytes as `bin`; a client that needs bytes treats both
//! alike, so [`Value::Bytes`] holds either. `Value` implements `Deserialize` for any
//! self-describing format, which is how replies and change-event images are decoded, and
//! `Serialize` (bytes as a string when they are UTF-8), e.g. to print an event as JSON.

use std::fmt;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One reply value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// RESP3 null (a missing key, a timed-out blocking read).
    Nil,
    /// RESP3 boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// Any string: simple, bulk or verbatim, text or not; big numbers as their digits.
    Bytes(Vec<u8>),
    /// Array, set or push.
    Array(Vec<Value>),
    /// A map, in the server's order.
    Map(Vec<(Value, Value)>),
    /// An error inside an aggregate (an `EXEC` reply element), sent as `{"$error": "..."}`.
    Error(String),
}

impl Value {
    /// The bytes of a string value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// A string value that is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        self.as_bytes().and_then(|b| std::str::from_utf8(b).ok())
    }

    /// An integer, or a string of digits (as RESP2-shaped replies may hold).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bytes(_) => self.as_str().and_then(|s| s.parse().ok()),
            _ => None,
        }
    }

    /// A double, an integer, or a string holding a number (`ZSCORE` in RESP2 shapes).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            Value::Int(i) => Some(*i as f64),
            Value::Bytes(_) => self.as_str().and_then(|s| s.parse().ok()),
            _ => None,
        }
    }

    /// The elements of an array.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// True for [`Value::Nil`].
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The value of `field` in a map, or in a flat array of alternating fields and values.
    pub fn get(&self, field: &str) -> Option<&Value> {
        match self {
            Value::Map(m) => m
                .iter()
                .find(|(k, _)| k.as_bytes() == Some(field.as_bytes()))
                .map(|(_, v)| v),
            Value::Array(a) => a
                .chunks(2)
                .find(|kv| kv[0].as_bytes() == Some(field.as_bytes()))
                .and_then(|kv| kv.get(1)),
            _ => None,
        }
    }

    /// Decodes a wire value into any deserializable type.
    pub(crate) fn decode<T: serde::de::DeserializeOwned>(v: rmpv::Value) -> crate::Result<T> {
        rmpv::ext::from_value(v).map_err(|e| crate::Error::Decode(e.to_string()))
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Nil => f.write_str("(nil)"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::Bytes(b) => write!(f, "{}", String::from_utf8_lossy(b)),
            Value::Error(e) => write!(f, "(error) {e}"),
            Value::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a MessagePack value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Nil)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        // Past i64 (never sent by the server for integers) the nearest double.
        Ok(i64::try_from(v).map_or(Value::Double(v as f64), Value::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Double(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Bytes(v.as_bytes().to_vec()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Bytes(v.into_bytes()))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out: Vec<(Value, Value)> = Vec::new();
        while let Some(kv) = map.next_entry()? {
            out.push(kv);
        }
        if let [(Value::Bytes(k), Value::Bytes(msg))] = out.as_slice() {
            if k == b"$error" {
                return Ok(Value::Error(String::from_utf8_lossy(msg).into_owned()));
            }
        }
        Ok(Value::Map(out))
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Nil => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::Double(d) => s.serialize_f64(*d),
            Value::Bytes(b) => bytes::serialize(b, s),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Map(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Value::Error(e) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("$error", e)?;
                map.end()
            }
        }
    }
}

/// `#[serde(with = "bytes")]` for a `Vec<u8>` sent as `str` or `bin`: read from either (or an
/// array of integers), written as a string when UTF-8, else as bytes.
pub(crate) mod bytes {
    use super::*;

    pub(crate) struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or bytes")
        }
        fn visit_str<E>(self, v: &str) -> Result<Vec<u8>, E> {
            Ok(v.as_bytes().to_vec())
        }
        fn visit_string<E>(self, v: String) -> Result<Vec<u8>, E> {
            Ok(v.into_bytes())
        }
        fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::new();
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    pub(crate) fn serialize<S: Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(b) {
            Ok(t) => s.serialize_str(t),
            Err(_) => s.serialize_bytes(b),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_any(BytesVisitor)
    }
}

/// `#[serde(with = "bytes_list")]` for a `Vec<Vec<u8>>` of [`bytes`] elements.
pub(crate) mod bytes_list {
    use super::*;

    #[derive(Serialize, Deserialize)]
    struct Item(#[serde(with = "bytes")] Vec<u8>);

    pub(crate) fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for b in v {
            seq.serialize_element(&Item(b.clone()))?;
        }
        seq.end()
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let items = Vec::<Item>::deserialize(d)?;
        Ok(items.into_iter().map(|i| i.0).collect())
    }
}

/// Converts a decoded wire value into a [`Value`] (cannot fail: every MessagePack value maps).
pub(crate) fn from_wire(v: rmpv::Value) -> Value {
    Value::decode(v).unwrap_or_else(|e| Value::Error(format!("undecodable value: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_map_to_value() {
        let v = rmpv::Value::Array(vec![
            rmpv::Value::Nil,
            rmpv::Value::from(-3),
            rmpv::Value::from(1.5),
            rmpv::Value::from("text"),
            rmpv::Value::Binary(vec![0xff, 0]),
            rmpv::Value::Map(vec![(
                rmpv::Value::from("$error"),
                rmpv::Value::from("ERR x"),
            )]),
            rmpv::Value::Map(vec![(rmpv::Value::from("f"), rmpv::Value::from(1))]),
        ]);
        let got = from_wire(v);
        assert_eq!(
            got,
            Value::Array(vec![
                Value::Nil,
                Value::Int(-3),
                Value::Double(1.5),
                Value::Bytes(b"text".to_vec()),
                Value::Bytes(vec![0xff, 0]),
                Value::Error("ERR x".into()),
                Value::Map(vec![(Value::Bytes(b"f".to_vec()), Value::Int(1))]),
            ])
        );
        assert_eq!(got.as_array().unwrap()[6].get("f"), Some(&Value::Int(1)));
    }
}
