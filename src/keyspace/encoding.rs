//! Value serialisation shared by DUMP/RESTORE and (next) snapshots.
//!
//! A serialised value is `u8 type` followed by the type's own body; each family adds its body
//! here beside its type. A DUMP payload wraps it like Redis's: `value | u16 version | u64
//! CRC-64 (Redis's polynomial)` over everything before the checksum, so a truncated or altered
//! payload is rejected before it is decoded.

use crc::{Crc, CRC_64_REDIS};

use super::value::{clock, Str, Value};

const T_STRING: u8 = 0;
/// Eddy's payload version (not an RDB version: payloads are not interchangeable with Redis).
pub const DUMP_VERSION: u16 = 0xE001;
const CRC64: Crc<u64> = Crc::<u64>::new(&CRC_64_REDIS);

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u64).to_le_bytes());
}

pub fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Str(s, _) => {
            out.push(T_STRING);
            put_len(out, s.len());
            out.extend_from_slice(s);
        }
    }
}

/// Decodes one value from the start of `b`; returns it and the bytes used.
pub fn decode_value(b: &[u8]) -> Option<(Value, usize)> {
    let (&t, rest) = b.split_first()?;
    match t {
        T_STRING => {
            let n = u64::from_le_bytes(rest.get(..8)?.try_into().ok()?) as usize;
            let body = rest.get(8..8usize.checked_add(n)?)?;
            Some((Value::Str(Str::from_slice(body), clock()), 1 + 8 + n))
        }
        _ => None,
    }
}

pub fn dump(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    encode_value(v, &mut out);
    out.extend_from_slice(&DUMP_VERSION.to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Why a payload was refused, mapping to Redis's two RESTORE errors.
#[derive(Debug, PartialEq, Eq)]
pub enum RestoreError {
    VersionOrChecksum,
    BadData,
}

pub fn undump(p: &[u8]) -> Result<Value, RestoreError> {
    if p.len() < 10 {
        return Err(RestoreError::VersionOrChecksum);
    }
    let (body, tail) = p.split_at(p.len() - 10);
    let ver = u16::from_le_bytes([tail[0], tail[1]]);
    let crc = u64::from_le_bytes(tail[2..10].try_into().map_err(|_| RestoreError::BadData)?);
    if ver != DUMP_VERSION || CRC64.checksum(&p[..p.len() - 8]) != crc {
        return Err(RestoreError::VersionOrChecksum);
    }
    match decode_value(body) {
        Some((v, used)) if used == body.len() => Ok(v),
        _ => Err(RestoreError::BadData),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_round_trips_and_rejects_tampering() {
        let v = Value::string(b"hello\x00world");
        let mut p = dump(&v);
        let Value::Str(back, _) = undump(&p).unwrap();
        assert_eq!(&back[..], b"hello\x00world");
        p[3] ^= 0xff;
        assert_eq!(undump(&p), Err(RestoreError::VersionOrChecksum));
        assert_eq!(undump(b"short"), Err(RestoreError::VersionOrChecksum));
    }
}
