//! An async (tokio) client for Eddy over its MessagePack front door (`msgpack-port`, 6479 by
//! default; docs/msgpack.md in the server's repository), or with
//! the `websocket` feature its WebSocket door (`Client::connect("ws://127.0.0.1:8379/ws")`).
//!
//! * [`Client`]: commands with binary-safe arguments and [`Value`] (or serde-typed) replies,
//!   many requests in flight on one connection, replies matched by request id.
//! * [`Subscription`]: pub/sub channels and patterns as a `Stream` of [`Message`]s.
//! * [`ChangeStream`]: the change feed as a `Stream` of typed [`Change`] events, with filters,
//!   images and start positions; it **resumes by itself** after a reconnect from the last
//!   offset, checked against the log's epoch, and fails with [`Error::EpochChanged`] or
//!   [`Error::Trimmed`] when the server refuses. [`FeedBuilder::snapshot_then_follow`] starts
//!   from a consistent snapshot.
//! * [`Group`]: change-feed consumer groups: read, ack, pending, claim.
//!
//! ```no_run
//! use eddy_client::{Client, Start};
//! use futures_util::StreamExt;
//!
//! # async fn demo() -> eddy_client::Result<()> {
//! let client = Client::connect("127.0.0.1:6479").await?;
//! client.cmd(&["SET", "user:1", "alice"]).await?;
//!
//! let mut feed = client.changes().start(Start::Earliest).pattern("user:*").follow().await?;
//! let change = feed.next().await.expect("the feed runs")?;
//! assert_eq!(change.key, b"user:1");
//! assert_eq!(change.event, "set");
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod changes;
mod client;
mod codec;
mod error;
mod groups;
mod pubsub;
mod transport;
mod value;

pub use changes::{
    Change, ChangeKind, ChangeStream, FeedBuilder, Filter, Images, LogInfo, Origin, Position,
    Reconnect, Snapshot, SnapshotEntry, Start,
};
pub use client::{cmd, Client, Cmd, Config, ToArg};
pub use error::{Error, Result};
pub use groups::{Group, GroupOptions, PendingEntry};
pub use pubsub::{Message, Subscription};
pub use value::Value;

/// The README's example is compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctest;
