//! Wire protocols, without I/O: RESP2/RESP3 request parsing and reply encoding.
//!
//! Handlers write replies through [`resp::Out`], which hides whether the client speaks RESP2 or
//! RESP3; other front doors (JSON, MessagePack) translate from the RESP3 encoding so that handlers
//! never branch on the protocol.

pub mod resp;
pub mod split;
