//! The change event: one record per effective mutation.
//!
//! Command handlers never build events directly; they describe an effect to the [`Recorder`]
//! carried by their shard lock (`keyspace::Locked`), which encodes it into the log's record format
//! at once (one copy, no allocation per argument). When the lock is released the recorder's
//! records are committed to the [`log::ChangeLog`] — still under the shard lock, so per-key order
//! in the log is apply order. The effect is deterministic (DESIGN.md, "Record what happened"):
//! relative TTLs become `PXAT`, INCRBYFLOAT becomes `SET`, and a write that changes nothing
//! records nothing.
//!
//! A record may carry no `args`: it is then a companion event for another key of the same effect
//! (`rename_to` beside the `rename_from` that carries `RENAME src dst`), informative for feeds and
//! skipped by replay.

pub mod disk;
pub mod filter;
pub mod groups;
pub mod log;
pub mod subscribe;
pub mod writer;

use crate::keyspace::value::ValueType;

/// Who caused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Origin {
    Client = 0,
    Expiry = 1,
    Eviction = 2,
    Replication = 3,
    Trigger = 4,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::Client => "client",
            Origin::Expiry => "expiry",
            Origin::Eviction => "eviction",
            Origin::Replication => "replication",
            Origin::Trigger => "trigger",
        }
    }
    pub fn from_u8(v: u8) -> Origin {
        match v {
            1 => Origin::Expiry,
            2 => Origin::Eviction,
            3 => Origin::Replication,
            4 => Origin::Trigger,
            _ => Origin::Client,
        }
    }
}

/// DynamoDB-style classification of a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ChangeKind {
    Insert = 0,
    Modify = 1,
    Remove = 2,
}

impl ChangeKind {
    pub fn name(self) -> &'static str {
        match self {
            ChangeKind::Insert => "insert",
            ChangeKind::Modify => "modify",
            ChangeKind::Remove => "remove",
        }
    }
    pub fn from_u8(v: u8) -> ChangeKind {
        match v {
            0 => ChangeKind::Insert,
            2 => ChangeKind::Remove,
            _ => ChangeKind::Modify,
        }
    }
    /// Insert when the key did not exist before, else Modify.
    pub fn upsert(existed: bool) -> ChangeKind {
        if existed {
            ChangeKind::Modify
        } else {
            ChangeKind::Insert
        }
    }
}

/// The caller's identity, copied into every record it produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Who {
    pub origin: Origin,
    pub client_id: u64,
}

impl Who {
    pub const EXPIRY: Who = Who {
        origin: Origin::Expiry,
        client_id: 0,
    };
    pub const EVICTION: Who = Who {
        origin: Origin::Eviction,
        client_id: 0,
    };
    pub fn client(id: u64) -> Who {
        Who {
            origin: Origin::Client,
            client_id: id,
        }
    }
}

/// Records encoded but not yet committed: each is a complete log record whose offset, timestamp
/// and transaction fields the log fills in at commit.
#[derive(Default, Debug)]
pub struct Recorder {
    pub(crate) buf: Vec<u8>,
    pub(crate) count: u32,
}

thread_local! {
    /// One spare encoding buffer per thread, so a write command allocates nothing to record.
    static SPARE: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl Recorder {
    /// Records `SET key value` by client `client` in db 0: the change the log's unit tests
    /// fill logs with.
    #[cfg(test)]
    pub(crate) fn record_set(&mut self, client: u64, key: &[u8], value: &[u8]) {
        self.record(
            Who::client(client),
            0,
            key,
            "set",
            ChangeKind::Insert,
            ValueType::String,
            &[b"SET", key, value],
        );
    }

    /// A recorder reusing this thread's spare buffer.
    pub fn cached() -> Recorder {
        Recorder {
            buf: SPARE.with(|s| s.take()),
            count: 0,
        }
    }

    /// Returns the buffer for reuse (dropped instead if it grew large).
    pub fn recycle(mut self) {
        if self.buf.capacity() <= 64 * 1024 {
            self.clear();
            SPARE.with(|s| s.set(self.buf));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Encodes one change. `key` is empty for keyspace-wide events (flushdb, flushall, swapdb).
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        who: Who,
        db: usize,
        key: &[u8],
        event: &str,
        change: ChangeKind,
        vtype: ValueType,
        args: &[&[u8]],
    ) {
        self.record_with(
            who,
            db,
            key,
            event,
            change,
            vtype,
            args,
            log::Images::default(),
        );
    }

    /// Like [`Recorder::record`], with value images.
    #[allow(clippy::too_many_arguments)]
    pub fn record_with(
        &mut self,
        who: Who,
        db: usize,
        key: &[u8],
        event: &str,
        change: ChangeKind,
        vtype: ValueType,
        args: &[&[u8]],
        img: log::Images,
    ) {
        log::encode_record(&mut self.buf, who, db, key, event, change, vtype, args, img);
        self.count += 1;
    }

    pub fn clear(&mut self) {
        self.buf.clear();
        self.count = 0;
    }
}

/// A decoded change, as readers see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeEvent {
    pub offset: u64,
    pub ts: u64,
    pub tx_id: u64,
    pub tx_n: u32,
    pub client_id: u64,
    pub origin: Origin,
    pub change: ChangeKind,
    pub vtype: ValueType,
    pub db: u32,
    pub event: String,
    pub key: Vec<u8>,
    pub args: Vec<Vec<u8>>,
    /// The value before the change (RDB value encoding), when images are recorded.
    pub old: Option<Vec<u8>>,
    /// The value after the change (RDB value encoding), when images are recorded.
    pub new: Option<Vec<u8>>,
}

impl ChangeEvent {
    /// Decodes an image into a value (built under the default limits: only its contents are
    /// read).
    pub fn image_value(img: &[u8]) -> Option<crate::keyspace::value::Value> {
        use crate::keyspace::encoding::{decode_value, Limits, Reader};
        decode_value(&mut Reader::new(img), &Limits::DEFAULT)
    }
}
