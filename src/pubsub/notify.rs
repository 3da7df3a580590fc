//! Keyspace notifications (`notify-keyspace-events`), derived from the change log's records.
//!
//! Redis calls `notifyKeyspaceEvent` from inside each command; Eddy already records every
//! effective mutation with Redis's event name (`set`, `del`, `expired`, `lpush`, `rename_from`,
//! ...), so notifications are derived from those records when a command's recorder is committed
//! (`keyspace::Locked`'s drop), with no code in the command handlers. The cost when
//! notifications are off (the default) is one atomic load per committed write.
//!
//! ## Order
//! With notifications on, the commit and the publication of its notifications happen under one
//! lock ([`PubSub::order`]), still inside the shard locks: every subscriber sees notifications
//! in the log's order, and a change's notifications are never delivered before the change is
//! in the log.
//!
//! ## From records to Redis's events
//! * The class of an event name follows Redis's `notifyKeyspaceEvent` calls ([`class_of`]).
//! * `new` (class `n`) is emitted before the first event of a key the command created (change
//!   kind `insert`). Where Redis deletes and re-adds the destination (`RENAME`, `MOVE`, `COPY`,
//!   `RESTORE`) it is emitted even when the destination existed, and for `RENAME`/`MOVE` before
//!   the source's `*_from` event, as Redis does.
//! * `LMOVE` is recorded as its pop then its push; Redis notifies the push first.
//! * A `SET` effect with an absolute expiry (`SET k v PXAT t`: SET EX/PX/EXAT/PXAT, SETEX,
//!   PSETEX) is followed by `expire`, as Redis's `setGenericCommand` emits it.
//! * A `del` immediately followed by a record re-creating the same key (the `*STORE` commands
//!   overwriting their destination) is an overwrite in Redis: neither `del` nor `new` is emitted.
//! * Records without a key (FLUSHDB, FLUSHALL, SWAPDB) emit nothing: Redis emits no per-key
//!   events for them.
//! * `pfcount` (PFCOUNT refreshing the cached cardinality) emits nothing, as in Redis.
//! * `keymiss` (class `m`) is accepted in the flags but not emitted: read misses are not
//!   changes and are not recorded.

use std::cell::RefCell;
use std::sync::atomic::Ordering;

use super::PubSub;
use crate::changes::log::{for_each_uncommitted, ChangeLog, EventRef};
use crate::changes::{ChangeKind, Recorder};
use crate::keyspace::value::ValueType;

pub const KEYSPACE: u32 = 1 << 0; // K
pub const KEYEVENT: u32 = 1 << 1; // E
pub const GENERIC: u32 = 1 << 2; // g
pub const STRING: u32 = 1 << 3; // $
pub const LIST: u32 = 1 << 4; // l
pub const SET: u32 = 1 << 5; // s
pub const HASH: u32 = 1 << 6; // h
pub const ZSET: u32 = 1 << 7; // z
pub const EXPIRED: u32 = 1 << 8; // x
pub const EVICTED: u32 = 1 << 9; // e
pub const STREAM: u32 = 1 << 10; // t
pub const KEY_MISS: u32 = 1 << 11; // m
pub const MODULE: u32 = 1 << 13; // d
pub const NEW: u32 = 1 << 14; // n
/// `A`: every class but `m` and `n` (Redis's `NOTIFY_ALL`).
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// The CONFIG SET error for an unknown class character (Redis's wording).
pub const BAD_CLASS: &str = "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";

/// Redis's `keyspaceEventsStringToFlags`.
pub fn parse_flags(s: &str) -> Option<u32> {
    let mut f = 0;
    for c in s.chars() {
        f |= match c {
            'A' => ALL,
            'g' => GENERIC,
            '$' => STRING,
            'l' => LIST,
            's' => SET,
            'h' => HASH,
            'z' => ZSET,
            'x' => EXPIRED,
            'e' => EVICTED,
            'K' => KEYSPACE,
            'E' => KEYEVENT,
            't' => STREAM,
            'm' => KEY_MISS,
            'd' => MODULE,
            'n' => NEW,
            _ => return None,
        };
    }
    Some(f)
}

/// Redis's `keyspaceEventsFlagsToString`. Note that, as in Redis, `n` is not shown next to `A`
/// (so `CONFIG GET` of "An" is "A") although the flag is in effect.
pub fn render_flags(f: u32) -> String {
    let mut s = String::new();
    if f & ALL == ALL {
        s.push('A');
    } else {
        for (bit, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if f & bit != 0 {
                s.push(c);
            }
        }
    }
    for (bit, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if f & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// The canonical CONFIG value of a flags string, or Redis's error.
pub fn canonical(s: &str) -> Result<String, String> {
    parse_flags(s)
        .map(render_flags)
        .ok_or_else(|| BAD_CLASS.to_string())
}

/// The class of an event name, as Redis's `notifyKeyspaceEvent` calls assign it; names Redis
/// does not have fall back to the class of the value type (or generic).
pub fn class_of(event: &[u8], vtype: ValueType) -> u32 {
    match event {
        b"del" | b"expire" | b"persist" | b"rename_from" | b"rename_to" | b"copy_to"
        | b"restore" | b"move_from" | b"move_to" => GENERIC,
        b"set" | b"setrange" | b"incrby" | b"incrbyfloat" | b"append" => STRING,
        b"lpush" | b"rpush" | b"lpop" | b"rpop" | b"linsert" | b"lset" | b"lrem" | b"ltrim"
        | b"sortstore" => LIST,
        b"sadd" | b"srem" | b"spop" | b"sinterstore" | b"sunionstore" | b"sdiffstore" => SET,
        b"hset" | b"hdel" | b"hincrby" | b"hincrbyfloat" => HASH,
        b"zadd" | b"zincr" | b"zrem" | b"zremrangebyscore" | b"zremrangebyrank"
        | b"zremrangebylex" | b"zpopmin" | b"zpopmax" | b"zunionstore" | b"zinterstore"
        | b"zdiffstore" | b"zrangestore" | b"georadiusstore" | b"geosearchstore" => ZSET,
        b"expired" => EXPIRED,
        b"evicted" => EVICTED,
        b"new" => NEW,
        b"keymiss" => KEY_MISS,
        _ if event.starts_with(b"x") => STREAM,
        _ => match vtype {
            ValueType::String => STRING,
            ValueType::List => LIST,
            ValueType::Set => SET,
            ValueType::Hash => HASH,
            ValueType::ZSet => ZSET,
            ValueType::Stream => STREAM,
            _ => GENERIC,
        },
    }
}

/// One notification: (db, key, event, class).
type Note<'a> = (u16, &'a [u8], &'a [u8], u32);

/// The notifications a recorder's records stand for, in Redis's order (see the module docs).
pub fn derive<'a>(buf: &'a [u8], mut emit: impl FnMut(Note<'a>)) {
    let mut recs: smallvec::SmallVec<[EventRef<'a>; 4]> = smallvec::SmallVec::new();
    for_each_uncommitted(buf, |r| {
        recs.push(*r);
    });
    // LMOVE (and RPOPLPUSH, BLMOVE) is recorded as the pop, then the push as its companion;
    // Redis notifies the push onto the destination first.
    for i in 1..recs.len() {
        let pop = &recs[i - 1];
        if matches!(pop.event, "lpop" | "rpop")
            && pop.args.get(0) == Some(&b"LMOVE"[..])
            && matches!(recs[i].event, "lpush" | "rpush")
            && recs[i].args.is_empty()
        {
            recs.swap(i - 1, i);
        }
    }
    // Destinations whose `new` was already emitted ahead of their own record.
    let mut early_new: smallvec::SmallVec<[usize; 2]> = smallvec::SmallVec::new();
    let mut overwritten = false;
    for (i, r) in recs.iter().enumerate() {
        // Redis propagates PFCOUNT's cache refresh, PFDEBUG's conversion and the consumer-group
        // bookkeeping of XREADGROUP, XCLAIM, XAUTOCLAIM and XACK, but notifies nothing for them.
        if r.key.is_empty()
            || matches!(
                r.event,
                "pfcount" | "pfdebug" | "xreadgroup" | "xclaim" | "xautoclaim" | "xack"
            )
        {
            continue;
        }
        let next = recs.get(i + 1);
        let same_key_next = next.is_some_and(|n| n.db == r.db && n.key == r.key);
        if r.event == "del" && same_key_next && next.is_some_and(|n| !n.args.is_empty()) {
            // An overwrite by a *STORE command: Redis replaces the value without a `del`.
            overwritten = true;
            continue;
        }
        let always_new = matches!(r.event, "rename_to" | "move_to" | "copy_to" | "restore");
        if matches!(r.event, "rename_from" | "move_from") {
            if let Some(n) = next.filter(|n| matches!(n.event, "rename_to" | "move_to")) {
                emit((n.db as u16, n.key, b"new", NEW));
                early_new.push(i + 1);
            }
        }
        let wants_new = always_new || (r.change == ChangeKind::Insert && !overwritten);
        if wants_new && !early_new.contains(&i) {
            emit((r.db as u16, r.key, b"new", NEW));
        }
        overwritten = false;
        let event = r.event.as_bytes();
        emit((r.db as u16, r.key, event, class_of(event, r.vtype)));
        if r.event == "set"
            && r.args
                .get(3)
                .is_some_and(|a| a.eq_ignore_ascii_case(b"PXAT"))
        {
            emit((r.db as u16, r.key, b"expire", GENERIC));
        }
    }
}

thread_local! {
    /// A copy of the records being committed (the commit clears the recorder), reused.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Commits `rec` to `log` and publishes its keyspace notifications (`flags` is the current
/// `notify-keyspace-events`, non-zero). Called from `Locked`'s drop with the shard locks held.
pub fn commit_and_notify(
    ps: &PubSub,
    log: &ChangeLog,
    rec: &mut Recorder,
    now: u64,
    flags: u32,
) -> u64 {
    commit_parts_and_notify(ps, log, rec, now, flags, None)
}

/// [`commit_and_notify`] for an EXEC: the records are committed as one transaction, but
/// notifications are derived per command (`parts` are the byte offsets in `rec` where each
/// command's records start), since the rules above read one command's records.
pub fn commit_tx_and_notify(
    ps: &PubSub,
    log: &ChangeLog,
    rec: &mut Recorder,
    now: u64,
    flags: u32,
    parts: &[usize],
) -> u64 {
    commit_parts_and_notify(ps, log, rec, now, flags, Some(parts))
}

fn commit_parts_and_notify(
    ps: &PubSub,
    log: &ChangeLog,
    rec: &mut Recorder,
    now: u64,
    flags: u32,
    tx_parts: Option<&[usize]>,
) -> u64 {
    let _order = ps.order.lock();
    SCRATCH.with(|s| {
        let mut scratch = s.borrow_mut();
        scratch.clear();
        scratch.extend_from_slice(&rec.buf);
        let last = match tx_parts {
            Some(_) => log.commit_tx(rec, now),
            None => log.commit(rec, now),
        };
        let whole = [0];
        let parts = tx_parts.unwrap_or(&whole);
        for (i, &start) in parts.iter().enumerate() {
            let end = parts.get(i + 1).copied().unwrap_or(scratch.len());
            let Some(part) = scratch.get(start..end) else {
                continue;
            };
            derive(part, |(db, key, event, class)| {
                if flags & class != 0 {
                    publish(ps, flags, db, key, event);
                }
            });
        }
        if scratch.capacity() > 64 * 1024 {
            *scratch = Vec::new();
        }
        last
    })
}

/// Whether a commit must go through [`commit_and_notify`]: notifications are on and somebody
/// subscribes to a channel or pattern at all.
#[inline]
pub fn wanted(ps: &PubSub) -> u32 {
    let f = ps.notify_flags.load(Ordering::Relaxed);
    if f & (KEYSPACE | KEYEVENT) == 0 || !ps.has_subscribers() {
        return 0;
    }
    f
}

fn publish(ps: &PubSub, flags: u32, db: u16, key: &[u8], event: &[u8]) {
    let mut chan: smallvec::SmallVec<[u8; 128]> = smallvec::SmallVec::new();
    let mut dbs = itoa::Buffer::new();
    let dbs = dbs.format(db).as_bytes();
    if flags & KEYSPACE != 0 {
        chan.extend_from_slice(b"__keyspace@");
        chan.extend_from_slice(dbs);
        chan.extend_from_slice(b"__:");
        chan.extend_from_slice(key);
        ps.publish(&chan, event);
    }
    if flags & KEYEVENT != 0 {
        chan.clear();
        chan.extend_from_slice(b"__keyevent@");
        chan.extend_from_slice(dbs);
        chan.extend_from_slice(b"__:");
        chan.extend_from_slice(event);
        ps.publish(&chan, key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::Who;

    #[test]
    fn flags_parse_and_render_like_redis() {
        for (input, shown) in [
            ("KEA", "AKE"),
            ("An", "A"),
            ("Anm", "Am"),
            ("AKEnm", "AKEm"),
            ("gx", "gx"),
            ("Kx", "xK"),
            ("g$lshzxetdnKEm", "AKEm"),
            ("KEgz$", "g$zKE"),
            ("Eh", "hE"),
            ("", ""),
        ] {
            assert_eq!(canonical(input).as_deref(), Ok(shown), "{input}");
        }
        assert_eq!(canonical("q"), Err(BAD_CLASS.to_string()));
        assert_eq!(canonical("KE?"), Err(BAD_CLASS.to_string()));
        // `n` stays in effect next to `A` although it is not shown.
        assert_eq!(parse_flags("An"), Some(ALL | NEW));
        assert_eq!(parse_flags("A").map(|f| f & NEW), Some(0));
        assert_eq!(parse_flags("A").map(|f| f & KEY_MISS), Some(0));
    }

    #[test]
    fn event_classes_follow_redis() {
        let s = ValueType::None;
        assert_eq!(class_of(b"del", s), GENERIC);
        assert_eq!(class_of(b"expire", s), GENERIC);
        assert_eq!(class_of(b"rename_to", s), GENERIC);
        assert_eq!(class_of(b"set", s), STRING);
        assert_eq!(class_of(b"incrby", s), STRING);
        assert_eq!(class_of(b"lpush", s), LIST);
        assert_eq!(class_of(b"srem", s), SET);
        assert_eq!(class_of(b"hset", s), HASH);
        assert_eq!(class_of(b"zincr", s), ZSET);
        assert_eq!(class_of(b"expired", s), EXPIRED);
        assert_eq!(class_of(b"evicted", s), EVICTED);
        assert_eq!(class_of(b"xadd", ValueType::Stream), STREAM);
        assert_eq!(class_of(b"something", ValueType::Hash), HASH);
    }

    fn notes(build: impl FnOnce(&mut Recorder)) -> Vec<String> {
        let mut r = Recorder::default();
        build(&mut r);
        let mut v = Vec::new();
        derive(&r.buf, |(db, key, ev, _)| {
            v.push(format!(
                "{db}:{}:{}",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(ev)
            ))
        });
        v
    }

    const W: Who = Who {
        origin: crate::changes::Origin::Client,
        client_id: 1,
    };

    #[test]
    fn records_become_redis_event_sequences() {
        use ChangeKind::*;
        use ValueType as T;
        // SET EX on a new key: new, set, expire.
        let v = notes(|r| {
            r.record(
                W,
                0,
                b"k",
                "set",
                Insert,
                T::String,
                &[b"SET", b"k", b"v", b"PXAT", b"9"],
            )
        });
        assert_eq!(v, ["0:k:new", "0:k:set", "0:k:expire"]);
        // RENAME onto an existing key: Redis re-adds the destination before `rename_from`.
        let v = notes(|r| {
            r.record(
                W,
                0,
                b"a",
                "rename_from",
                Remove,
                T::None,
                &[b"RENAME", b"a", b"b"],
            );
            r.record(W, 0, b"b", "rename_to", Modify, T::String, &[]);
        });
        assert_eq!(v, ["0:b:new", "0:a:rename_from", "0:b:rename_to"]);
        // A *STORE overwriting its destination: no del, no new.
        let v = notes(|r| {
            r.record(W, 2, b"d", "del", Remove, T::None, &[b"DEL", b"d"]);
            r.record(
                W,
                2,
                b"d",
                "sunionstore",
                Insert,
                T::Set,
                &[b"SADD", b"d", b"x"],
            );
        });
        assert_eq!(v, ["2:d:sunionstore"]);
        // An emptied list: the pop, then a companion `del` without arguments.
        let v = notes(|r| {
            r.record(W, 0, b"l", "rpop", Modify, T::None, &[b"RPOP", b"l"]);
            r.record(W, 0, b"l", "del", Remove, T::None, &[]);
        });
        assert_eq!(v, ["0:l:rpop", "0:l:del"]);
        // LMOVE into a new list: Redis notifies the destination first.
        let v = notes(|r| {
            r.record(
                W,
                0,
                b"s",
                "lpop",
                Remove,
                T::None,
                &[b"LMOVE", b"s", b"d", b"LEFT", b"RIGHT"],
            );
            r.record(W, 0, b"d", "rpush", Insert, T::List, &[]);
            r.record(W, 0, b"s", "del", Remove, T::None, &[]);
        });
        assert_eq!(v, ["0:d:new", "0:d:rpush", "0:s:lpop", "0:s:del"]);
        // Keyspace-wide events emit nothing.
        let v = notes(|r| r.record(W, 0, b"", "flushall", Remove, T::None, &[b"FLUSHALL"]));
        assert!(v.is_empty());
    }
}
