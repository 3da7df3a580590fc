//! RESP3 (and RESP2) reply bytes read back as a value tree, for the front doors that do not
//! speak RESP.
//!
//! Handlers write every reply and push as RESP into `Out` and never branch on the protocol; the
//! MessagePack and JSON encoders ([`super::msgpack`], [`super::json`]) start from the [`Value`]
//! this module reads, so there is one transcoder whatever the output format. Values borrow from
//! the RESP bytes: a scalar reply (the common case: `+OK`, a bulk, an integer) allocates nothing;
//! only aggregates allocate their list. The input is what this server wrote, but it is still
//! parsed defensively (bounded depth, no indexing past the end): a malformed frame is an error,
//! never a panic.

/// One RESP value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `+...` and the `txt:` body of a verbatim string: text meant as a string.
    Simple(&'a [u8]),
    /// `$...`: bytes, text or not.
    Bulk(&'a [u8]),
    /// `-...`: the whole error line (`ERR ...`).
    Error(&'a [u8]),
    Int(i64),
    Double(f64),
    /// `(...`: the digits of a big number.
    Big(&'a [u8]),
    Bool(bool),
    Null,
    /// `*`, `~` (sets) and RESP2 aggregates.
    Array(Vec<Value<'a>>),
    /// `>`: a push frame.
    Push(Vec<Value<'a>>),
    Map(Vec<(Value<'a>, Value<'a>)>),
}

/// Deepest nesting accepted (the server never writes more than a few levels).
const MAX_DEPTH: usize = 64;

/// The RESP at `buf` is not what the server writes.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// Reads one value from the start of `buf`: the value and the bytes it took.
pub fn read(buf: &[u8]) -> Result<(Value<'_>, usize), Malformed> {
    let mut pos = 0;
    let v = value(buf, &mut pos, 0)?;
    Ok((v, pos))
}

fn line<'a>(buf: &'a [u8], pos: &mut usize) -> Result<&'a [u8], Malformed> {
    let rest = buf.get(*pos..).ok_or(Malformed)?;
    let cr = memchr::memchr(b'\r', rest).ok_or(Malformed)?;
    if rest.get(cr + 1) != Some(&b'\n') {
        return Err(Malformed);
    }
    *pos += cr + 2;
    Ok(&rest[..cr])
}

fn int(s: &[u8]) -> Result<i64, Malformed> {
    super::resp::parse_i64(s).ok_or(Malformed)
}

/// A length header: `-1` is the RESP2 null.
fn len(s: &[u8]) -> Result<Option<usize>, Malformed> {
    match int(s)? {
        -1 => Ok(None),
        n if n >= 0 => Ok(Some(n as usize)),
        _ => Err(Malformed),
    }
}

fn bytes<'a>(buf: &'a [u8], pos: &mut usize, n: usize) -> Result<&'a [u8], Malformed> {
    let end = pos.checked_add(n).ok_or(Malformed)?;
    let b = buf.get(*pos..end).ok_or(Malformed)?;
    if buf.get(end..end + 2) != Some(b"\r\n") {
        return Err(Malformed);
    }
    *pos = end + 2;
    Ok(b)
}

fn items<'a>(
    buf: &'a [u8],
    pos: &mut usize,
    n: usize,
    depth: usize,
) -> Result<Vec<Value<'a>>, Malformed> {
    // Every element takes at least 3 bytes: a count beyond what is left is malformed, and the
    // allocation stays bounded by the input.
    if n > buf.len().saturating_sub(*pos) / 3 {
        return Err(Malformed);
    }
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(value(buf, pos, depth + 1)?);
    }
    Ok(v)
}

fn value<'a>(buf: &'a [u8], pos: &mut usize, depth: usize) -> Result<Value<'a>, Malformed> {
    if depth > MAX_DEPTH {
        return Err(Malformed);
    }
    let tag = *buf.get(*pos).ok_or(Malformed)?;
    *pos += 1;
    let head = line(buf, pos)?;
    Ok(match tag {
        b'+' => Value::Simple(head),
        b'-' => Value::Error(head),
        b':' => Value::Int(int(head)?),
        b'$' => match len(head)? {
            None => Value::Null,
            Some(n) => Value::Bulk(bytes(buf, pos, n)?),
        },
        b'=' => {
            let n = len(head)?.ok_or(Malformed)?;
            let b = bytes(buf, pos, n)?;
            // `txt:` / `mkd:`: the format prefix is not part of the text.
            Value::Simple(b.get(4..).unwrap_or_default())
        }
        b'_' => Value::Null,
        b'#' => match head {
            b"t" => Value::Bool(true),
            b"f" => Value::Bool(false),
            _ => return Err(Malformed),
        },
        b',' => {
            let s = std::str::from_utf8(head).map_err(|_| Malformed)?;
            Value::Double(match s {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                _ => s.parse().map_err(|_| Malformed)?,
            })
        }
        b'(' => Value::Big(head),
        b'*' | b'~' => match len(head)? {
            None => Value::Null,
            Some(n) => Value::Array(items(buf, pos, n, depth)?),
        },
        b'>' => Value::Push(items(buf, pos, len(head)?.ok_or(Malformed)?, depth)?),
        b'%' => {
            let n = len(head)?.ok_or(Malformed)?;
            let mut flat = items(buf, pos, n.checked_mul(2).ok_or(Malformed)?, depth)?.into_iter();
            let mut m = Vec::with_capacity(n);
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                m.push((k, v));
            }
            Value::Map(m)
        }
        _ => return Err(Malformed),
    })
}

/// What one command wrote (`buf`), as the single reply a request/response protocol sends: one
/// value as itself; several values, or push frames (RESP3 `SUBSCRIBE` confirmations), as the
/// array of them, so a command's reply has one shape however many channels it named. None: the
/// command wrote nothing (CLIENT REPLY OFF, a blocked command that replies later). A single
/// scalar reply allocates nothing.
pub fn read_reply(buf: &[u8]) -> Result<Option<Value<'_>>, Malformed> {
    if buf.is_empty() {
        return Ok(None);
    }
    let (first, n) = read(buf)?;
    if n == buf.len() && !matches!(first, Value::Push(_)) {
        return Ok(Some(first));
    }
    let mut all = vec![first];
    let mut pos = n;
    while pos < buf.len() {
        all.push(value(buf, &mut pos, 0)?);
    }
    Ok(Some(Value::Array(
        all.into_iter()
            .map(|v| match v {
                Value::Push(items) => Value::Array(items),
                v => v,
            })
            .collect(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_resp3_type() {
        let buf = b"%2\r\n+a\r\n:1\r\n$1\r\nb\r\n*3\r\n,1.5\r\n#t\r\n_\r\n";
        let (v, n) = read(buf).unwrap();
        assert_eq!(n, buf.len());
        assert_eq!(
            v,
            Value::Map(vec![
                (Value::Simple(b"a"), Value::Int(1)),
                (
                    Value::Bulk(b"b"),
                    Value::Array(vec![Value::Double(1.5), Value::Bool(true), Value::Null])
                ),
            ])
        );
        assert_eq!(
            read(b"=8\r\ntxt:abcd\r\n").unwrap().0,
            Value::Simple(b"abcd")
        );
        assert_eq!(read(b"$-1\r\n").unwrap().0, Value::Null);
        assert_eq!(read(b"*-1\r\n").unwrap().0, Value::Null);
        assert_eq!(
            read(b",-inf\r\n").unwrap().0,
            Value::Double(f64::NEG_INFINITY)
        );
    }

    #[test]
    fn refuses_malformed_input_without_panicking() {
        for bad in [
            &b"$5\r\nab\r\n"[..],
            b"*99999999999\r\n",
            b"%3\r\n",
            b"?x\r\n",
            b":1x\r\n",
            b"$1\r\nab",
            b"",
            b">-1\r\n",
        ] {
            assert!(read(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "*1\r\n".repeat(100) + ":1\r\n";
        assert!(read(deep.as_bytes()).is_err());
    }

    #[test]
    fn several_values_or_pushes_reply_as_an_array() {
        assert_eq!(read_reply(b"+OK\r\n"), Ok(Some(Value::Simple(b"OK"))));
        let subs = b">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n";
        assert_eq!(
            read_reply(subs),
            Ok(Some(Value::Array(vec![Value::Array(vec![
                Value::Bulk(b"subscribe"),
                Value::Bulk(b"a"),
                Value::Int(1)
            ])])))
        );
        assert_eq!(
            read_reply(b":1\r\n:2\r\n"),
            Ok(Some(Value::Array(vec![Value::Int(1), Value::Int(2)])))
        );
        assert_eq!(read_reply(b""), Ok(None));
    }
}
