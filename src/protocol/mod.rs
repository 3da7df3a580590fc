//! Wire protocols, without I/O: RESP2/RESP3 request parsing and reply encoding, and the other
//! front doors' formats (MessagePack, JSON), which transcode from RESP.
//!
//! Handlers write replies through [`resp::Out`], which hides whether the client speaks RESP2 or
//! RESP3; the other front doors read that RESP back as a [`value::Value`] and write it as JSON or
//! MessagePack, so that handlers never branch on the protocol.

use std::borrow::Cow;

pub mod json;
pub mod msgpack;
pub mod resp;
pub mod split;
pub mod value;

/// A request that cannot run. `fatal`: a limit was passed and the connection closes after the
/// error, as RESP does; otherwise the connection carries on.
#[derive(Debug, PartialEq, Eq)]
pub struct BadRequest {
    pub msg: Cow<'static, str>,
    pub fatal: bool,
}

impl BadRequest {
    pub fn new(msg: impl Into<Cow<'static, str>>) -> Self {
        BadRequest {
            msg: msg.into(),
            fatal: false,
        }
    }
    pub fn fatal(msg: impl Into<Cow<'static, str>>) -> Self {
        BadRequest {
            msg: msg.into(),
            fatal: true,
        }
    }
}

/// Adds a copied argument to `ab`, within RESP's limits ([`resp::ArgBuf::check_limits`]):
/// past them the request is refused and the connection closes, as RESP does.
pub fn push_arg(ab: &mut resp::ArgBuf, b: &[u8], lim: &resp::Limits) -> Result<(), BadRequest> {
    ab.check_limits(b.len(), lim).map_err(BadRequest::fatal)?;
    ab.push_owned(b);
    Ok(())
}
