//! Eddy: a Redis-compatible key-value server in which every mutation is an event.
//!
//! Crate map:
//! - [`config`]: the one option registry behind the command line, the config file and CONFIG.
//! - [`protocol`]: RESP2/RESP3 parsing and reply encoding, inline-argument splitting, RESP read
//!   back as values, JSON and MessagePack (no I/O).
//! - [`server`]: listeners, the connection loop and its front doors (RESP, MessagePack,
//!   WebSocket), sessions, the client registry, CLIENT PAUSE, shutdown.
//! - [`http`]: the HTTP port: health, readiness, Prometheus metrics, the dashboard, `/ws`.
//! - [`commands`]: the command table, dispatch, the argument cursor, one file per family.
//! - [`keyspace`]: sharded databases, values, expiry.
//! - [`changes`]: the change event, the recorder, the change log (memory tail, disk segments,
//!   writer thread).
//! - [`persistence`]: snapshots and start-up recovery (snapshot + log replay).
//! - [`pubsub`]: channels, patterns, shard channels, keyspace notifications, output limits,
//!   MONITOR, client-side caching (CLIENT TRACKING).
//! - [`triggers`]: triggers — change-feed readers that deliver batches to functions (HTTP,
//!   NATS) with retries, bisection, dead letters and durable checkpoints.
//! - [`scripting`]: Lua scripts (EVAL, SCRIPT): the interpreter, its sandbox and libraries,
//!   conversions between Lua values and replies.
//! - [`error`]: Redis wire error strings.
//! - [`util`]: numbers, glob matching, clock.

pub mod acl;
pub mod bridge;
pub mod changes;
pub mod commands;
pub mod config;
pub mod error;
pub mod http;
pub mod keyspace;
pub mod persistence;
pub mod protocol;
pub mod pubsub;
pub mod scripting;
pub mod server;
pub mod triggers;
pub mod util;
