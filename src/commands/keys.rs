//! Generic key commands: existence, deletion, renaming, copying, scanning, TTLs, DUMP/RESTORE,
//! and the database-level commands (SELECT lives with the connection commands).
//!
//! Recorded effects: `DEL k` per deleted key; RENAME records `rename_from` on the source carrying
//! `RENAME src dst` and a companion `rename_to` on the destination; MOVE likewise
//! (`move_from`/`move_to`); COPY records `copy_to` on the destination; every TTL change records
//! `PEXPIREAT k <abs>` or `PERSIST k`, and a TTL already in the past records the deletion.

use super::args::{int, is, Cursor};
use super::{cmd, container, flag::*, CommandSpec, Ctx};
use crate::changes::ChangeKind;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::encoding::{dump, undump, Limits, RestoreError};
use crate::keyspace::value::{Value, ValueType};
use crate::keyspace::Locked;
use crate::protocol::resp::Args;
use crate::util::glob::glob_match;

const K: &[&str] = &["keyspace"];
const KD: &[&str] = &["keyspace", "dangerous"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("del", -2, WRITE, (1, -1, 1), K, "generic", del,
        "Deletes one or more keys.", "key [key ...]", "1.0.0", "O(N) where N is the number of keys that will be removed."),
    cmd!("unlink", -2, WRITE | FAST, (1, -1, 1), K, "generic", del,
        "Asynchronously deletes one or more keys.", "key [key ...]", "4.0.0", "O(1) for each key removed regardless of its size."),
    cmd!("exists", -2, READONLY | FAST, (1, -1, 1), K, "generic", exists,
        "Determines whether one or more keys exist.", "key [key ...]", "1.0.0", "O(N) where N is the number of keys to check."),
    cmd!("type", 2, READONLY | FAST, (1, 1, 1), K, "generic", type_,
        "Determines the type of value stored at a key.", "key", "1.0.0", "O(1)"),
    cmd!("rename", 3, WRITE, (1, 2, 1), K, "generic", rename,
        "Renames a key and overwrites the destination.", "key newkey", "1.0.0", "O(1)"),
    cmd!("renamenx", 3, WRITE | FAST, (1, 2, 1), K, "generic", renamenx,
        "Renames a key only when the target key name doesn't exist.", "key newkey", "1.0.0", "O(1)"),
    cmd!("copy", -3, WRITE | DENYOOM, (1, 2, 1), K, "generic", copy,
        "Copies the value of a key to a new key.", "source destination [DB destination-db] [REPLACE]", "6.2.0", "O(N) worst case for collections, where N is the number of nested items. O(1) for string values."),
    cmd!("keys", 2, READONLY, (0, 0, 0), KD, "generic", keys,
        "Returns all key names that match a pattern.", "pattern", "1.0.0", "O(N) with N being the number of keys in the database"),
    cmd!("scan", -2, READONLY, (0, 0, 0), K, "generic", scan,
        "Iterates over the key names in the database.", "cursor [MATCH pattern] [COUNT count] [TYPE type]", "2.8.0", "O(1) for every call. O(N) for a complete iteration."),
    cmd!("randomkey", 1, READONLY, (0, 0, 0), K, "generic", randomkey,
        "Returns a random key name from the database.", "", "1.0.0", "O(1)"),
    cmd!("touch", -2, READONLY | FAST, (1, -1, 1), K, "generic", touch,
        "Returns the number of existing keys out of those specified after updating the time they were last accessed.", "key [key ...]", "3.2.1", "O(N) where N is the number of keys that will be touched."),
    CommandSpec {
        name: "object",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: &["slow"],
        group: "generic",
        summary: "A container for object introspection commands.",
        syntax: "",
        since: "2.2.3",
        complexity: "Depends on subcommand.",
        handler: container,
        subcommands: &[
            cmd!("encoding", 3, READONLY, (2, 2, 1), K, "generic", object_encoding,
                "Returns the internal encoding of a Redis object.", "key", "2.2.3", "O(1)"),
            cmd!("freq", 3, READONLY, (2, 2, 1), K, "generic", object_freq,
                "Returns the logarithmic access frequency counter of a Redis object.", "key", "4.0.0", "O(1)"),
            cmd!("idletime", 3, READONLY, (2, 2, 1), K, "generic", object_idletime,
                "Returns the time since the last access to a Redis object.", "key", "2.2.3", "O(1)"),
            cmd!("refcount", 3, READONLY, (2, 2, 1), K, "generic", object_refcount,
                "Returns the reference count of a value of a key.", "key", "2.2.3", "O(1)"),
            cmd!("help", 2, LOADING | STALE, (0, 0, 0), K, "generic", object_help,
                "Returns helpful text about the different subcommands.", "", "6.2.0", "O(1)"),
        ],
    },
    cmd!("expire", -3, WRITE | FAST, (1, 1, 1), K, "generic", expire,
        "Sets the expiration time of a key in seconds.", "key seconds [NX | XX | GT | LT]", "1.0.0", "O(1)"),
    cmd!("pexpire", -3, WRITE | FAST, (1, 1, 1), K, "generic", pexpire,
        "Sets the expiration time of a key in milliseconds.", "key milliseconds [NX | XX | GT | LT]", "2.6.0", "O(1)"),
    cmd!("expireat", -3, WRITE | FAST, (1, 1, 1), K, "generic", expireat,
        "Sets the expiration time of a key to a Unix timestamp.", "key unix-time-seconds [NX | XX | GT | LT]", "1.2.0", "O(1)"),
    cmd!("pexpireat", -3, WRITE | FAST, (1, 1, 1), K, "generic", pexpireat,
        "Sets the expiration time of a key to a Unix milliseconds timestamp.", "key unix-time-milliseconds [NX | XX | GT | LT]", "2.6.0", "O(1)"),
    cmd!("ttl", 2, READONLY | FAST, (1, 1, 1), K, "generic", ttl,
        "Returns the expiration time in seconds of a key.", "key", "1.0.0", "O(1)"),
    cmd!("pttl", 2, READONLY | FAST, (1, 1, 1), K, "generic", pttl,
        "Returns the expiration time in milliseconds of a key.", "key", "2.6.0", "O(1)"),
    cmd!("expiretime", 2, READONLY | FAST, (1, 1, 1), K, "generic", expiretime,
        "Returns the expiration time of a key as a Unix timestamp.", "key", "7.0.0", "O(1)"),
    cmd!("pexpiretime", 2, READONLY | FAST, (1, 1, 1), K, "generic", pexpiretime,
        "Returns the expiration time of a key as a Unix milliseconds timestamp.", "key", "7.0.0", "O(1)"),
    cmd!("persist", 2, WRITE | FAST, (1, 1, 1), K, "generic", persist,
        "Removes the expiration time of a key.", "key", "2.2.0", "O(1)"),
    cmd!("dump", 2, READONLY, (1, 1, 1), K, "generic", dump_cmd,
        "Returns a serialized representation of the value stored at a key.", "key", "2.6.0", "O(1) to access the key and additional O(N*M) to serialize it"),
    cmd!("restore", -4, WRITE | DENYOOM, (1, 1, 1), KD, "generic", restore,
        "Creates a key from the serialized representation of a value.", "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]", "2.6.0", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value"),
    cmd!("restore-asking", -4, WRITE | DENYOOM, (1, 1, 1), KD, "generic", restore,
        "An internal command for migrating keys in a cluster.", "key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]", "3.0.0", "O(1) to create the new key and additional O(N*M) to reconstruct the serialized value"),
    cmd!("migrate", -6, WRITE | MOVABLE_KEYS | NO_MULTI | NOSCRIPT, (3, 3, 1), KD, "generic", super::migrate::migrate,
        "Atomically transfers a key from one Redis instance to another.", "host port <key | \"\"> destination-db timeout [COPY] [REPLACE] [AUTH password | AUTH2 username password] [KEYS key [key ...]]", "2.6.0", "This command actually executes a DUMP+DEL in the source instance, and a RESTORE in the target instance. See the pages of these commands for time complexity. Also an O(N) data transfer between the two instances is performed."),
    cmd!("move", 3, WRITE | FAST, (1, 1, 1), K, "generic", move_,
        "Moves a key to another database.", "key db", "1.0.0", "O(1)"),
    cmd!("swapdb", 3, WRITE | FAST | EXCLUSIVE, (0, 0, 0), KD, "server", swapdb,
        "Swaps two Redis databases.", "index1 index2", "4.0.0", "O(N) where N is the count of clients watching or blocking on keys from both databases."),
    cmd!("flushdb", -1, WRITE | EXCLUSIVE, (0, 0, 0), KD, "server", flushdb,
        "Remove all keys from the current database.", "[ASYNC | SYNC]", "1.0.0", "O(N) where N is the number of keys in the selected database"),
    cmd!("flushall", -1, WRITE | EXCLUSIVE, (0, 0, 0), KD, "server", flushall,
        "Removes all keys from all databases.", "[ASYNC | SYNC]", "1.0.0", "O(N) where N is the total number of keys in all databases"),
    cmd!("dbsize", 1, READONLY | FAST, (0, 0, 0), K, "server", dbsize,
        "Returns the number of keys in the database.", "", "1.0.0", "O(1)"),
];

/// Deletes `key` if live, recording `del`. True if it existed.
pub fn delete_key(l: &mut Locked, key: &[u8]) -> bool {
    if l.remove(key).is_some() {
        l.record(
            key,
            "del",
            ChangeKind::Remove,
            ValueType::None,
            &[b"DEL", key],
        );
        true
    } else {
        false
    }
}

fn del(ctx: &mut Ctx, a: Args) -> CmdResult {
    let keys: Vec<&[u8]> = a.iter().skip(1).collect();
    let mut l = ctx.lock(&keys);
    let n = keys.iter().filter(|k| delete_key(&mut l, k)).count();
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn exists(ctx: &mut Ctx, a: Args) -> CmdResult {
    let keys: Vec<&[u8]> = a.iter().skip(1).collect();
    let mut l = ctx.lock(&keys);
    let n = keys.iter().filter(|k| l.exists(k)).count();
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn type_(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let t = l
        .peek(a.get(1))
        .map(|v| v.vtype())
        .unwrap_or(ValueType::None);
    drop(l);
    ctx.out.simple(t.name());
    Ok(())
}

/// RENAME/RENAMENX. Returns None if `nx` and the destination exists.
fn rename_generic(ctx: &mut Ctx, a: Args, nx: bool) -> CmdResult<bool> {
    let (src, dst) = (a.get(1), a.get(2));
    let mut l = ctx.lock(&[src, dst]);
    if !l.exists(src) {
        return Err(error::NO_SUCH_KEY.into());
    }
    if src == dst {
        return Ok(!nx);
    }
    let dst_existed = l.exists(dst);
    if nx && dst_existed {
        return Ok(false);
    }
    let ttl = l.ttl_of(src);
    let Some(v) = l.remove(src) else {
        return Err(error::NO_SUCH_KEY.into());
    };
    let vt = v.vtype();
    l.put(dst, v, false);
    if let Some(at) = ttl {
        l.set_ttl(dst, at);
    }
    l.record(
        src,
        "rename_from",
        ChangeKind::Remove,
        ValueType::None,
        &[b"RENAME", src, dst],
    );
    l.record(dst, "rename_to", ChangeKind::upsert(dst_existed), vt, &[]);
    Ok(true)
}

fn rename(ctx: &mut Ctx, a: Args) -> CmdResult {
    rename_generic(ctx, a, false)?;
    ctx.out.ok();
    Ok(())
}

fn renamenx(ctx: &mut Ctx, a: Args) -> CmdResult {
    let done = rename_generic(ctx, a, true)?;
    ctx.out.int(done as i64);
    Ok(())
}

/// A database index argument (SELECT, MOVE, COPY, SWAPDB): a C `int` (`msg` is SWAPDB's error
/// for one that is not), then a database that exists.
pub(super) fn db_arg(ctx: &Ctx, raw: &[u8], msg: Option<&'static str>) -> CmdResult<usize> {
    let n = super::args::c_int(raw, msg)?;
    match usize::try_from(n) {
        Ok(n) if n < ctx.srv.keyspace.ndbs() => Ok(n),
        _ => Err(error::DB_INDEX.into()),
    }
}

fn copy(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (src, dst) = (a.get(1), a.get(2));
    let mut dst_db = ctx.sess.db;
    let mut replace = false;
    let mut db_raw: Option<&[u8]> = None;
    let mut c = Cursor::new(a, 3);
    while let Some(opt) = c.next_arg() {
        if is(opt, "REPLACE") {
            replace = true;
        } else if is(opt, "DB") {
            let raw = c.value()?;
            dst_db = db_arg(ctx, raw, None)?;
            db_raw = Some(raw);
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    let src_db = ctx.sess.db;
    if src == dst && src_db == dst_db {
        return Err(error::SAME_OBJECT.into());
    }
    let mut l = ctx.lock(&[src, dst]);
    let Some(v) = l.get_in(src_db, src).map(|v| v.clone()) else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    let ttl = l.ttl_in(src_db, src);
    let existed = l.get_in(dst_db, dst).is_some();
    if existed && !replace {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    }
    let vt = v.vtype();
    l.put_in(dst_db, dst, v, false);
    if let Some(at) = ttl {
        l.set_ttl_in(dst_db, dst, at);
    }
    let db_txt = itoa::Buffer::new().format(dst_db).to_string();
    let mut args: Vec<&[u8]> = vec![b"COPY", src, dst];
    if db_raw.is_some() {
        args.push(b"DB");
        args.push(db_txt.as_bytes());
    }
    if replace {
        args.push(b"REPLACE");
    }
    l.record_in(
        dst_db,
        dst,
        "copy_to",
        ChangeKind::upsert(existed),
        vt,
        &args,
    );
    drop(l);
    ctx.out.int(1);
    Ok(())
}

fn keys(ctx: &mut Ctx, a: Args) -> CmdResult {
    let pat = a.get(1);
    let all = pat == b"*";
    let (db, now) = (ctx.sess.db, ctx.now);
    let ks = &ctx.srv.keyspace;
    let mut found: Vec<Vec<u8>> = Vec::new();
    for i in 0..ks.nshards() {
        ks.with_shard(i, |sh| {
            let d = &sh.dbs[db];
            for (k, _) in d.keys.iter() {
                if (all || glob_match(pat, k, false)) && !d.is_expired(k, now) {
                    found.push(k.to_vec());
                }
            }
        });
    }
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

/// Bits of a SCAN cursor that hold the shard index (the rest: how many entries of that shard
/// remain to visit, 0 meaning "not started").
const SHARD_BITS: u32 = 12;

fn scan(ctx: &mut Ctx, a: Args) -> CmdResult {
    let cursor: u64 = std::str::from_utf8(a.get(1))
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(CmdError::from("ERR invalid cursor"))?;
    let mut pat: Option<&[u8]> = None;
    let mut count: usize = 10;
    let mut tfilter: Option<ValueType> = None;
    let mut c = Cursor::new(a, 2);
    while let Some(opt) = c.next_arg() {
        if is(opt, "MATCH") {
            pat = Some(c.value()?);
        } else if is(opt, "COUNT") {
            let n = c.i64()?;
            if n < 1 {
                return Err(error::SYNTAX.into());
            }
            count = n as usize;
        } else if is(opt, "TYPE") {
            let t = c.value()?;
            // An unknown type matches nothing, as in Redis 7.0.
            tfilter = Some(ValueType::parse(t).unwrap_or(ValueType::None));
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    let pat = pat.filter(|p| *p != b"*");
    let (db, now) = (ctx.sess.db, ctx.now);
    let ks = &ctx.srv.keyspace;
    let mask = (1u64 << SHARD_BITS) - 1;
    let mut shard = (cursor & mask) as usize;
    let mut remaining = cursor >> SHARD_BITS;
    let mut visited = 0usize;
    let mut found: Vec<Vec<u8>> = Vec::new();
    let next_cursor = loop {
        if shard >= ks.nshards() {
            break 0;
        }
        let done_shard = ks.with_shard(shard, |sh| {
            let d = &sh.dbs[db];
            let len = d.keys.len() as u64;
            let mut pos = if remaining == 0 {
                len
            } else {
                remaining.min(len)
            };
            while pos > 0 && visited < count {
                pos -= 1;
                visited += 1;
                if let Some((k, v)) = d.keys.get_index(pos as usize) {
                    if pat.is_some_and(|p| !glob_match(p, k, false)) || d.is_expired(k, now) {
                        continue;
                    }
                    if tfilter.is_some_and(|t| t != v.vtype()) {
                        continue;
                    }
                    found.push(k.to_vec());
                }
            }
            if pos == 0 {
                None
            } else {
                Some(pos)
            }
        });
        match done_shard {
            None => {
                shard += 1;
                remaining = 0;
                if visited >= count {
                    break if shard >= ks.nshards() {
                        0
                    } else {
                        shard as u64
                    };
                }
            }
            Some(pos) => break (pos << SHARD_BITS) | shard as u64,
        }
    };
    ctx.out.array(2);
    ctx.out
        .bulk(itoa::Buffer::new().format(next_cursor).as_bytes());
    ctx.out.array(found.len());
    for k in &found {
        ctx.out.bulk(k);
    }
    Ok(())
}

fn randomkey(ctx: &mut Ctx, _a: Args) -> CmdResult {
    use rand::Rng;
    let (db, now) = (ctx.sess.db, ctx.now);
    let ks = &ctx.srv.keyspace;
    let n = ks.nshards();
    let mut rng = rand::rng();
    let start = rng.random_range(0..n);
    let mut pick: Option<Vec<u8>> = None;
    'outer: for attempt in 0..(n * 2) {
        let i = (start + attempt) % n;
        let k = ks.with_shard(i, |sh| {
            let d = &sh.dbs[db];
            if d.keys.is_empty() {
                return None;
            }
            for _ in 0..8 {
                let idx = rand::rng().random_range(0..d.keys.len());
                if let Some((k, _)) = d.keys.get_index(idx) {
                    if !d.is_expired(k, now) {
                        return Some(k.to_vec());
                    }
                }
            }
            None
        });
        if k.is_some() {
            pick = k;
            break 'outer;
        }
    }
    match pick {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

fn touch(ctx: &mut Ctx, a: Args) -> CmdResult {
    let keys: Vec<&[u8]> = a.iter().skip(1).collect();
    let mut l = ctx.lock(&keys);
    // TOUCH touches even for a client in NO-TOUCH mode (that is what it is for).
    l.touch = true;
    let n = keys.iter().filter(|k| l.get(k).is_some()).count();
    drop(l);
    ctx.out.int(n as i64);
    Ok(())
}

fn with_object(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&Value) -> i64) -> Option<i64> {
    let mut l = ctx.lock1(key);
    l.peek(key).map(|v| f(v))
}

fn object_encoding(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(2));
    let enc = l.peek(a.get(2)).map(|v| v.encoding());
    drop(l);
    match enc {
        Some(e) => ctx.out.bulk_str(e),
        None => ctx.out.null(),
    }
    Ok(())
}

// FREQ and IDLETIME look the key up before checking the policy, as Redis does: a missing key is
// a null reply under any policy.
fn object_freq(ctx: &mut Ctx, a: Args) -> CmdResult {
    let Some(n) = with_object(ctx, a.get(2), |v| i64::from(v.freq())) else {
        ctx.out.null();
        return Ok(());
    };
    if !crate::keyspace::value::lfu_mode() {
        return Err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.".into());
    }
    ctx.out.int(n);
    Ok(())
}

fn object_idletime(ctx: &mut Ctx, a: Args) -> CmdResult {
    let now = crate::keyspace::value::Meta::now().clock();
    let Some(n) = with_object(ctx, a.get(2), |v| {
        (now.wrapping_sub(v.access_clock()) & 0x7fff_ffff) as i64
    }) else {
        ctx.out.null();
        return Ok(());
    };
    if crate::keyspace::value::lfu_mode() {
        return Err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.".into());
    }
    ctx.out.int(n);
    Ok(())
}

fn object_refcount(ctx: &mut Ctx, a: Args) -> CmdResult {
    let shared = crate::keyspace::evict::shares_integers(ctx.srv);
    match with_object(ctx, a.get(2), |v| v.refcount(shared)) {
        Some(n) => ctx.out.int(n),
        None => ctx.out.null(),
    }
    Ok(())
}

fn object_help(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let lines = [
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    super::help_reply(ctx, &lines);
    Ok(())
}

/// EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT.
fn expire_generic(ctx: &mut Ctx, a: Args, unit_ms: bool, absolute: bool, name: &str) -> CmdResult {
    let key = a.get(1);
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for opt in a.iter().skip(3) {
        if is(opt, "NX") {
            nx = true;
        } else if is(opt, "XX") {
            xx = true;
        } else if is(opt, "GT") {
            gt = true;
        } else if is(opt, "LT") {
            lt = true;
        } else {
            return Err(CmdError::owned(format!(
                "ERR Unsupported option {}",
                error::c_text(opt)
            )));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(error::EXPIRE_OPTS_NX.into());
    }
    if gt && lt {
        return Err(error::EXPIRE_OPTS_GTLT.into());
    }
    // Redis checks the options before the time.
    let n = int(a.get(2))?;
    let ms = if unit_ms {
        Some(n)
    } else {
        n.checked_mul(1000)
    };
    let at = ms
        .and_then(|ms| {
            if absolute {
                Some(ms)
            } else {
                ms.checked_add(ctx.now as i64)
            }
        })
        .ok_or_else(|| error::invalid_expire(name))?;
    let mut l = ctx.lock1(key);
    if !l.exists(key) {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    }
    let cur = l.ttl_of(key);
    let ok = match cur {
        None => !(xx || gt),
        Some(c) => !nx && (!gt || at > c as i64) && (!lt || at < c as i64),
    };
    if !ok {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    }
    if at <= ctx.now as i64 {
        super::keys::delete_key(&mut l, key);
    } else {
        let vt = l.peek(key).map(|v| v.vtype()).unwrap_or(ValueType::None);
        l.set_ttl(key, at as u64);
        let mut b = itoa::Buffer::new();
        l.record(
            key,
            "expire",
            ChangeKind::Modify,
            vt,
            &[b"PEXPIREAT", key, b.format(at).as_bytes()],
        );
    }
    drop(l);
    ctx.out.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx, a: Args) -> CmdResult {
    expire_generic(ctx, a, false, false, "expire")
}
fn pexpire(ctx: &mut Ctx, a: Args) -> CmdResult {
    expire_generic(ctx, a, true, false, "pexpire")
}
fn expireat(ctx: &mut Ctx, a: Args) -> CmdResult {
    expire_generic(ctx, a, false, true, "expireat")
}
fn pexpireat(ctx: &mut Ctx, a: Args) -> CmdResult {
    expire_generic(ctx, a, true, true, "pexpireat")
}

/// -2 missing, -1 no TTL, else the absolute expiry in ms.
fn ttl_state(ctx: &mut Ctx, key: &[u8]) -> i64 {
    let mut l = ctx.lock1(key);
    if !l.exists(key) {
        return -2;
    }
    l.ttl_of(key).map(|t| t as i64).unwrap_or(-1)
}

fn ttl_reply(ctx: &mut Ctx, a: Args, f: impl Fn(i64, i64) -> i64) -> CmdResult {
    let now = ctx.now as i64;
    let t = ttl_state(ctx, a.get(1));
    ctx.out.int(if t < 0 { t } else { f(t, now) });
    Ok(())
}

fn ttl(ctx: &mut Ctx, a: Args) -> CmdResult {
    ttl_reply(ctx, a, |t, now| ((t - now).max(0) + 500) / 1000)
}
fn pttl(ctx: &mut Ctx, a: Args) -> CmdResult {
    ttl_reply(ctx, a, |t, now| (t - now).max(0))
}
fn expiretime(ctx: &mut Ctx, a: Args) -> CmdResult {
    ttl_reply(ctx, a, |t, _| t / 1000)
}
fn pexpiretime(ctx: &mut Ctx, a: Args) -> CmdResult {
    ttl_reply(ctx, a, |t, _| t)
}

fn persist(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let mut l = ctx.lock1(key);
    let done = l.exists(key) && l.persist(key);
    if done {
        let vt = l.peek(key).map(|v| v.vtype()).unwrap_or(ValueType::None);
        l.record(key, "persist", ChangeKind::Modify, vt, &[b"PERSIST", key]);
    }
    drop(l);
    ctx.out.int(done as i64);
    Ok(())
}

fn dump_cmd(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut l = ctx.lock1(a.get(1));
    let p = l.peek(a.get(1)).map(|v| dump(v));
    drop(l);
    match p {
        Some(p) => ctx.out.bulk(&p),
        None => ctx.out.null(),
    }
    Ok(())
}

/// RESTORE (and RESTORE-ASKING, the same outside a cluster). Checks come in Redis's order:
/// the options, then whether the key exists, then the TTL, then the payload.
fn restore(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let payload = a.get(3);
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (None::<i64>, None::<i64>);
    let mut c = Cursor::new(a, 4);
    while let Some(opt) = c.next_arg() {
        if is(opt, "REPLACE") {
            replace = true;
        } else if is(opt, "ABSTTL") {
            absttl = true;
        } else if is(opt, "IDLETIME") && freq.is_none() {
            let v = c.i64()?;
            if v < 0 {
                return Err("ERR Invalid IDLETIME value, must be >= 0".into());
            }
            idle = Some(v);
        } else if is(opt, "FREQ") && idle.is_none() {
            let v = c.i64()?;
            if !(0..=255).contains(&v) {
                return Err("ERR Invalid FREQ value, must be >= 0 and <= 255".into());
            }
            freq = Some(v);
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    let mut l = ctx.lock1(key);
    let existed = l.exists(key);
    if existed && !replace {
        return Err(error::BUSYKEY.into());
    }
    let ttl = int(a.get(2))?;
    if ttl < 0 {
        return Err(error::NEGATIVE_TTL.into());
    }
    let mut v = undump(payload, &Limits::current(&ctx.srv.config.hot)).map_err(|e| match e {
        RestoreError::VersionOrChecksum => CmdError::from(error::BAD_DUMP),
        RestoreError::BadData => CmdError::from(error::BAD_DUMP_DATA),
    })?;
    let at = match (ttl, absttl) {
        (0, _) => None,
        (t, true) => Some(t),
        (t, false) => Some(t.saturating_add(ctx.now as i64)),
    };
    if let Some(at) = at {
        if at <= ctx.now as i64 {
            // Already expired: the key ends up absent, as in Redis.
            if existed {
                super::keys::delete_key(&mut l, key);
            }
            drop(l);
            ctx.out.ok();
            return Ok(());
        }
    }
    // As Redis's `objectSetLRUOrLFU`: FREQ counts under an LFU policy, IDLETIME otherwise.
    if crate::keyspace::value::lfu_mode() {
        if let Some(f) = freq {
            v.meta_mut().set_freq(f as u8);
        }
    } else if let Some(secs) = idle {
        v.meta_mut().set_idle(secs.min(u32::MAX as i64 / 2) as u32);
    }
    let vt = v.vtype();
    l.put(key, v, false);
    let mut b = itoa::Buffer::new();
    let ttl_txt = b.format(at.unwrap_or(0));
    let mut args: Vec<&[u8]> = vec![b"RESTORE", key, ttl_txt.as_bytes(), payload, b"REPLACE"];
    if let Some(at) = at {
        l.set_ttl(key, at as u64);
        args.push(b"ABSTTL");
    }
    l.record(key, "restore", ChangeKind::upsert(existed), vt, &args);
    drop(l);
    ctx.out.ok();
    Ok(())
}

fn move_(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let dst = db_arg(ctx, a.get(2), None)?;
    let src = ctx.sess.db;
    if src == dst {
        return Err(error::SAME_OBJECT.into());
    }
    let mut l = ctx.lock1(key);
    if l.get_in(src, key).is_none() || l.get_in(dst, key).is_some() {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    }
    let ttl = l.ttl_in(src, key);
    let Some(v) = l.remove_in(src, key) else {
        drop(l);
        ctx.out.int(0);
        return Ok(());
    };
    let vt = v.vtype();
    l.put_in(dst, key, v, false);
    if let Some(at) = ttl {
        l.set_ttl_in(dst, key, at);
    }
    l.record_in(
        src,
        key,
        "move_from",
        ChangeKind::Remove,
        ValueType::None,
        &[b"MOVE", key, a.get(2)],
    );
    l.record_in(dst, key, "move_to", ChangeKind::Insert, vt, &[]);
    drop(l);
    ctx.out.int(1);
    Ok(())
}

fn swapdb(ctx: &mut Ctx, a: Args) -> CmdResult {
    let x = db_arg(ctx, a.get(1), Some("ERR invalid first DB index"))?;
    let y = db_arg(ctx, a.get(2), Some("ERR invalid second DB index"))?;
    let mut l = ctx.lock_all();
    if x != y {
        let mut ready = Vec::new();
        for sh in l.shards_mut() {
            sh.dbs.swap(x, y);
            if !sh.waiters.is_empty() {
                ready.extend(sh.waiters.waited_in(&[x, y]));
            }
        }
        // Clients blocked on a key that now holds a list or sorted set are served.
        l.ready.extend(ready);
    }
    l.rec.record(
        l.who,
        x,
        b"",
        "swapdb",
        ChangeKind::Modify,
        ValueType::None,
        &[b"SWAPDB", a.get(1), a.get(2)],
    );
    drop(l);
    ctx.out.ok();
    Ok(())
}

fn flush_mode(a: &Args) -> CmdResult {
    match a.len() {
        1 => Ok(()),
        2 if is(a.get(1), "ASYNC") || is(a.get(1), "SYNC") => Ok(()),
        _ => Err(error::SYNTAX.into()),
    }
}

/// Empties databases `dbs` (all shards locked). Clients blocked on keys there are served as if
/// those keys were deleted: XREADGROUP waits end with Redis's error.
pub(crate) fn clear_dbs(l: &mut Locked, dbs: &[usize]) {
    let mut ready = Vec::new();
    for sh in l.shards_mut() {
        for &db in dbs {
            if let Some(d) = sh.dbs.get_mut(db) {
                *d = Default::default();
            }
        }
        if !sh.waiters.is_empty() {
            ready.extend(sh.waiters.waited_in(dbs));
        }
    }
    l.ready.extend(ready);
}

fn flushdb(ctx: &mut Ctx, a: Args) -> CmdResult {
    flush_mode(&a)?;
    let db = ctx.sess.db;
    let mut l = ctx.lock_all();
    clear_dbs(&mut l, &[db]);
    l.rec.record(
        l.who,
        db,
        b"",
        "flushdb",
        ChangeKind::Remove,
        ValueType::None,
        &[b"FLUSHDB"],
    );
    drop(l);
    ctx.out.ok();
    Ok(())
}

fn flushall(ctx: &mut Ctx, a: Args) -> CmdResult {
    flush_mode(&a)?;
    let mut l = ctx.lock_all();
    let all: Vec<usize> = (0..ctx.srv.keyspace.ndbs()).collect();
    clear_dbs(&mut l, &all);
    l.rec.record(
        l.who,
        0,
        b"",
        "flushall",
        ChangeKind::Remove,
        ValueType::None,
        &[b"FLUSHALL"],
    );
    drop(l);
    ctx.out.ok();
    Ok(())
}

fn dbsize(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let db = ctx.sess.db;
    let ks = &ctx.srv.keyspace;
    let n: usize = (0..ks.nshards())
        .map(|i| ks.with_shard(i, |sh| sh.dbs[db].len()))
        .sum();
    ctx.out.int(n as i64);
    Ok(())
}
