//! Durability and recovery, end to end: the real binary on a private `--dir`, stopped cleanly
//! (SHUTDOWN) or killed with SIGKILL, restarted on the same directory.
//!
//! What is checked: every value (and its absolute expire time) comes back; no acknowledged write
//! is lost with `appendfsync always`, and at most about a second of them with `everysec`; offsets
//! continue and the epoch stays the same across restarts; a torn tail is truncated with a warning
//! while damage in the middle stops start-up (or, with `changes-load-corrupt yes`, starts from the
//! last good record with a new epoch); SAVE/BGSAVE/`save` rules; retention of log segments;
//! `appendonly no`; the INFO fields; LOADING while recovering.
//!
//! The on-disk format these tests touch (segment files `<dir>/changes/<20-digit first offset>.log`,
//! a 16-byte header `EDDYLOG1` + u64 LE first offset, then records that start with a u32 LE length
//! of the bytes after it, a CRC-32, and the u64 LE offset) is documented in `src/changes/disk.rs`
//! and `src/changes/log.rs`.
//!
//! Everything here is Eddy-only (the change log, its files and CHANGES); in reference mode
//! (`EDDY_TEST_SERVER=redis-server`) the tests return early.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{
    eddy_only, err_text, now_ms, poll_until, q, qerr, qv, run_server_expecting_exit, server_bin,
    strip_ansi, vget, vstr, wait_written, Raw, Resp, Rng, Server, TempDir,
};
use redis::Value;

// ---------------------------------------------------------------------------------------------
// Helpers: stopping and restarting
// ---------------------------------------------------------------------------------------------

/// How a server goes down before it is restarted on the same directory.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    /// `SHUTDOWN`, then wait for the process to exit by itself.
    Clean,
    /// SIGKILL: no chance to flush or save anything.
    Kill,
}

/// Brings the server down and hands back its directory.
fn stop(mut srv: Server, how: Stop) -> TempDir {
    if how == Stop::Clean {
        let mut raw = srv.raw();
        raw.send_cmd(&["SHUTDOWN"]);
        let status = srv.wait_exit(Duration::from_secs(20));
        match status {
            Some(st) => assert!(st.success(), "SHUTDOWN must exit with status 0, got {st}"),
            None => panic!(
                "server did not exit within 20 s of SHUTDOWN; output:\n{}",
                srv.log()
            ),
        }
    }
    srv.stop()
}

/// Stops the server and starts it again on the same directory with `args`.
fn bounce(srv: Server, how: Stop, args: &[&str]) -> Server {
    let dir = stop(srv, how);
    Server::start_in(dir, args)
}

/// Sends SHUTDOWN NOSAVE and waits for the exit, so the directory holds only what the log wrote.
fn stop_nosave(mut srv: Server) -> TempDir {
    let mut raw = srv.raw();
    raw.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    let st = srv.wait_exit(Duration::from_secs(20));
    assert!(
        st.is_some_and(|s| s.success()),
        "SHUTDOWN NOSAVE must exit with status 0, got {st:?}; output:\n{}",
        srv.log()
    );
    srv.stop()
}

// ---------------------------------------------------------------------------------------------
// Helpers: CHANGES INFO, INFO
// ---------------------------------------------------------------------------------------------

/// `CHANGES INFO` as (first-offset, last-offset, epoch).
fn changes_info(c: &mut redis::Connection) -> (i64, i64, String) {
    let v = qv(c, &["CHANGES", "INFO"]);
    let int = |f: &str| match vget(&v, f) {
        Some(Value::Int(i)) => i,
        other => panic!("CHANGES INFO field {f} must be an integer, got {other:?} in {v:?}"),
    };
    let epoch = vget(&v, "epoch")
        .as_ref()
        .and_then(vstr)
        .unwrap_or_else(|| panic!("CHANGES INFO lacks epoch: {v:?}"));
    (int("first-offset"), int("last-offset"), epoch)
}

/// Offsets of the records `CHANGES READ <from>` returns (first page of up to `count`).
fn read_offsets(c: &mut redis::Connection, from: i64, count: usize) -> Vec<(i64, Vec<u8>)> {
    let v = qv(
        c,
        &[
            "CHANGES",
            "READ",
            &from.to_string(),
            "COUNT",
            &count.to_string(),
        ],
    );
    let Value::Array(items) = v else {
        panic!("CHANGES READ must reply with an array, got {v:?}");
    };
    items
        .iter()
        .map(|e| {
            let off = match vget(e, "offset") {
                Some(Value::Int(i)) => i,
                other => panic!("event offset must be an integer: {other:?}"),
            };
            let key = match vget(e, "key") {
                Some(Value::BulkString(b)) => b,
                other => panic!("event key must be a bulk string: {other:?}"),
            };
            (off, key)
        })
        .collect()
}

/// One INFO section as field -> value.
fn info(c: &mut redis::Connection, section: &str) -> HashMap<String, String> {
    let text: String = q(c, &["INFO", section]);
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn info_i64(fields: &HashMap<String, String>, name: &str) -> i64 {
    let v = fields
        .get(name)
        .unwrap_or_else(|| panic!("INFO lacks field {name}; has {fields:?}"));
    v.parse()
        .unwrap_or_else(|_| panic!("INFO field {name} must be an integer, got {v:?}"))
}

/// Whether the server knows `command` (the probe sends it with no arguments: an unknown command
/// says so, a known one complains about the arity and writes nothing).
fn has_command(c: &mut redis::Connection, command: &str) -> bool {
    match redis::cmd(command).query::<Value>(c) {
        Ok(_) => true,
        Err(e) => !err_text(&e)
            .to_ascii_lowercase()
            .contains("unknown command"),
    }
}

/// Like [`has_command`], printing why a part of a test is skipped.
fn family_available(c: &mut redis::Connection, command: &str, what: &str) -> bool {
    let ok = has_command(c, command);
    if !ok {
        eprintln!("SKIPPED the {what} part: {command} answers `unknown command`");
    }
    ok
}

// ---------------------------------------------------------------------------------------------
// Helpers: the whole keyspace as comparable data
// ---------------------------------------------------------------------------------------------

/// One key's type, contents (canonical: hash pairs and set members sorted) and absolute expire
/// time in ms (PEXPIRETIME: -1 without one).
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    typ: String,
    content: Vec<Vec<u8>>,
    expire_at: i64,
}

type Keyspace = BTreeMap<(i64, Vec<u8>), Entry>;

fn flatten(v: &Value, out: &mut Vec<Vec<u8>>) {
    match v {
        Value::BulkString(b) => out.push(b.clone()),
        Value::SimpleString(s) => out.push(s.as_bytes().to_vec()),
        Value::Okay => out.push(b"OK".to_vec()),
        Value::Int(i) => out.push(i.to_string().into_bytes()),
        Value::Double(d) => out.push(d.to_string().into_bytes()),
        Value::Array(a) | Value::Set(a) => a.iter().for_each(|x| flatten(x, out)),
        Value::Map(m) => m.iter().for_each(|(k, x)| {
            flatten(k, out);
            flatten(x, out);
        }),
        Value::Nil => {}
        other => panic!("unexpected value in a key's contents: {other:?}"),
    }
}

/// Reads every key of every database with its type, contents and expire time (pipelined, so a
/// hundred thousand keys take a moment, not minutes).
fn keyspace(c: &mut redis::Connection) -> Keyspace {
    let dbs: Vec<String> = q(c, &["CONFIG", "GET", "databases"]);
    let n_dbs: i64 = dbs.get(1).and_then(|s| s.parse().ok()).unwrap_or(16);
    let mut out = Keyspace::new();
    for db in 0..n_dbs {
        let _: () = q(c, &["SELECT", &db.to_string()]);
        let size: i64 = q(c, &["DBSIZE"]);
        if size == 0 {
            continue;
        }
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS").arg("*").query(c).expect("KEYS * failed");
        for chunk in keys.chunks(500) {
            let mut p = redis::pipe();
            for k in chunk {
                p.cmd("TYPE").arg(k).cmd("PEXPIRETIME").arg(k);
            }
            let meta: Vec<Value> = p.query(c).expect("TYPE/PEXPIRETIME pipeline failed");
            let types: Vec<String> = (0..chunk.len())
                .map(|i| vstr(&meta[2 * i]).unwrap_or_default())
                .collect();
            let mut p = redis::pipe();
            for (k, t) in chunk.iter().zip(&types) {
                match t.as_str() {
                    "string" => p.cmd("GET").arg(k),
                    "list" => p.cmd("LRANGE").arg(k).arg(0).arg(-1),
                    "hash" => p.cmd("HGETALL").arg(k),
                    "set" => p.cmd("SMEMBERS").arg(k),
                    "zset" => p.cmd("ZRANGE").arg(k).arg(0).arg(-1).arg("WITHSCORES"),
                    "stream" => p.cmd("XRANGE").arg(k).arg("-").arg("+"),
                    // Expired between KEYS and TYPE, or a type these tests don't know yet.
                    _ => p.cmd("EXISTS").arg(k),
                };
            }
            let vals: Vec<Value> = p.query(c).expect("contents pipeline failed");
            for (i, k) in chunk.iter().enumerate() {
                let typ = types[i].clone();
                match typ.as_str() {
                    "string" | "list" | "hash" | "set" | "zset" | "stream" => {}
                    "none" => continue,
                    other => panic!("keyspace(): unknown type {other:?} for key {k:?}"),
                }
                let mut content = Vec::new();
                flatten(&vals[i], &mut content);
                match typ.as_str() {
                    "hash" => {
                        let mut pairs: Vec<Vec<Vec<u8>>> =
                            content.chunks(2).map(|p| p.to_vec()).collect();
                        pairs.sort();
                        content = pairs.concat();
                    }
                    "set" => content.sort(),
                    _ => {}
                }
                let expire_at = match &meta[2 * i + 1] {
                    Value::Int(t) => *t,
                    other => panic!("PEXPIRETIME must be an integer, got {other:?}"),
                };
                out.insert(
                    (db, k.clone()),
                    Entry {
                        typ,
                        content,
                        expire_at,
                    },
                );
            }
        }
    }
    let _: () = q(c, &["SELECT", "0"]);
    out
}

fn show_key(k: &(i64, Vec<u8>)) -> String {
    format!("db{}:{:?}", k.0, String::from_utf8_lossy(&k.1))
}

fn show_entry(e: &Entry) -> String {
    let total: usize = e.content.iter().map(|x| x.len()).sum();
    let head: Vec<String> = e
        .content
        .iter()
        .take(6)
        .map(|x| {
            let s = String::from_utf8_lossy(x);
            s.chars().take(40).collect()
        })
        .collect();
    format!(
        "{} expire_at={} items={} bytes={} head={head:?}",
        e.typ,
        e.expire_at,
        e.content.len(),
        total
    )
}

/// Asserts two keyspaces are equal, reporting a few differences rather than two huge dumps.
fn assert_same_keyspace(expected: &Keyspace, actual: &Keyspace, what: &str) {
    let missing: Vec<_> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let extra: Vec<_> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    let differ: Vec<_> = expected
        .iter()
        .filter_map(|(k, e)| actual.get(k).filter(|a| *a != e).map(|a| (k, e, a)))
        .collect();
    if missing.is_empty() && extra.is_empty() && differ.is_empty() {
        return;
    }
    let mut msg = format!(
        "{what}: {} keys expected, {} found; {} missing, {} unexpected, {} differ",
        expected.len(),
        actual.len(),
        missing.len(),
        extra.len(),
        differ.len()
    );
    for k in missing.iter().take(5) {
        msg += &format!("\n  missing {}", show_key(k));
    }
    for k in extra.iter().take(5) {
        msg += &format!(
            "\n  unexpected {}: {}",
            show_key(k),
            show_entry(&actual[*k])
        );
    }
    for (k, e, a) in differ.iter().take(5) {
        msg += &format!(
            "\n  {}:\n    expected {}\n    actual   {}",
            show_key(k),
            show_entry(e),
            show_entry(a)
        );
    }
    panic!("{msg}");
}

// ---------------------------------------------------------------------------------------------
// Helpers: data
// ---------------------------------------------------------------------------------------------

/// Writes `n` string keys `<prefix><i>` with values of `size` bytes, pipelined.
fn fill_strings(c: &mut redis::Connection, prefix: &str, n: usize, size: usize) {
    let pad = "x".repeat(size.saturating_sub(12));
    for start in (0..n).step_by(2000) {
        let mut p = redis::pipe();
        for i in start..(start + 2000).min(n) {
            p.cmd("SET")
                .arg(format!("{prefix}{i}"))
                .arg(format!("{i:010}:{pad}"))
                .ignore();
        }
        let _: () = p.query(c).expect("fill pipeline failed");
    }
}

/// Writes a varied keyspace: every string shape (int-encoded, empty, large, binary, edited in
/// place, renamed), TTLs set every way, a second database, and — for each collection family the
/// server has — small and large lists, hashes, sets and sorted sets, some with TTLs and partly
/// removed. Returns nothing: callers read back the state with [`keyspace`].
fn load_fixture(c: &mut redis::Connection) {
    let far = now_ms() + 3_600_000;
    let _: () = q(c, &["SET", "s:plain", "hello"]);
    let _: () = q(c, &["SET", "s:int", "12345"]);
    let _: i64 = q(c, &["INCRBY", "s:int", "10"]);
    let _: () = q(c, &["SET", "s:neg", "-7"]);
    let _: String = q(c, &["INCRBYFLOAT", "s:float", "2.5"]);
    let _: () = q(c, &["SET", "s:empty", ""]);
    let big: String = (0..100_000u32)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let _: () = q(c, &["SET", "s:big", &big]);
    let _: () = redis::cmd("SET")
        .arg(b"s:bin\x00\xff\r\n".as_slice())
        .arg(b"\x00\x01\xfe\xff\r\n$*".as_slice())
        .query(c)
        .expect("binary SET");
    let _: () = q(c, &["SET", "s:edited", "hello"]);
    let _: i64 = q(c, &["APPEND", "s:edited", " world"]);
    let _: i64 = q(c, &["SETRANGE", "s:edited", "0", "J"]);
    let _: () = q(c, &["SET", "s:over", "first"]);
    let _: () = q(c, &["SET", "s:over", "second"]);
    let _: () = q(c, &["SET", "s:deleted", "x"]);
    let _: i64 = q(c, &["DEL", "s:deleted"]);
    let _: () = q(c, &["SET", "s:ttl-px", "v", "PX", "600000"]);
    let _: () = q(
        c,
        &["SET", "s:ttl-exat", "v", "EXAT", &(far / 1000).to_string()],
    );
    let _: () = q(c, &["SET", "s:ttl-pexpireat", "v"]);
    let _: i64 = q(
        c,
        &["PEXPIREAT", "s:ttl-pexpireat", &(far + 123).to_string()],
    );
    let _: () = q(c, &["SET", "s:persisted", "v", "EX", "100"]);
    let _: i64 = q(c, &["PERSIST", "s:persisted"]);
    let _: () = q(c, &["SET", "s:old-name", "moved", "PX", "900000"]);
    let _: () = q(c, &["RENAME", "s:old-name", "s:renamed"]);
    let mut p = redis::pipe();
    for i in 0..2000 {
        p.cmd("SET").arg(format!("s:many:{i}")).arg(i).ignore();
    }
    let _: () = p.query(c).expect("many SETs");
    let _: () = q(c, &["SELECT", "3"]);
    let _: () = q(c, &["SET", "s:db3", "three", "PX", "700000"]);
    let _: () = q(c, &["SET", "s:plain", "same name, other db"]);
    let _: () = q(c, &["SELECT", "0"]);

    if family_available(c, "RPUSH", "list") {
        let _: i64 = q(c, &["RPUSH", "l:small", "a", "b", "c"]);
        let _: i64 = q(c, &["LPUSH", "l:small", "z"]);
        let items: Vec<String> = (0..1000).map(|i| format!("item-{i}")).collect();
        let mut args = vec!["RPUSH", "l:big"];
        args.extend(items.iter().map(|s| s.as_str()));
        let _: i64 = q(c, &args);
        let _: Value = qv(c, &["LPOP", "l:big"]);
        let _: i64 = q(c, &["RPUSH", "l:ttl", "1", "2"]);
        let _: i64 = q(c, &["PEXPIRE", "l:ttl", "800000"]);
        let _: i64 = q(c, &["RPUSH", "l:emptied", "only"]);
        let _: Value = qv(c, &["RPOP", "l:emptied"]);
    }
    if family_available(c, "HSET", "hash") {
        let _: i64 = q(c, &["HSET", "h:small", "f1", "v1", "f2", "v2", "n", "5"]);
        if has_command(c, "HDEL") {
            let _: i64 = q(c, &["HDEL", "h:small", "f2"]);
        }
        let fields: Vec<String> = (0..500)
            .flat_map(|i| [format!("field-{i}"), format!("value-{i}")])
            .collect();
        let mut args = vec!["HSET", "h:big"];
        args.extend(fields.iter().map(|s| s.as_str()));
        let _: i64 = q(c, &args);
        let _: i64 = q(c, &["HSET", "h:ttl", "a", "1"]);
        let _: i64 = q(c, &["PEXPIRE", "h:ttl", "800000"]);
    }
    if family_available(c, "SADD", "set") {
        let _: i64 = q(c, &["SADD", "set:int", "1", "2", "3", "-40"]);
        let _: i64 = q(c, &["SADD", "set:str", "a", "b", "c"]);
        if has_command(c, "SREM") {
            let _: i64 = q(c, &["SREM", "set:str", "b"]);
        }
        let members: Vec<String> = (0..600).map(|i| format!("m-{i}")).collect();
        let mut args = vec!["SADD", "set:big"];
        args.extend(members.iter().map(|s| s.as_str()));
        let _: i64 = q(c, &args);
        let _: i64 = q(c, &["SADD", "set:ttl", "x"]);
        let _: i64 = q(c, &["PEXPIRE", "set:ttl", "800000"]);
    }
    if family_available(c, "ZADD", "sorted set") {
        let _: i64 = q(c, &["ZADD", "z:small", "1", "a", "2.5", "b", "-3", "c"]);
        if has_command(c, "ZREM") {
            let _: i64 = q(c, &["ZREM", "z:small", "c"]);
        }
        let pairs: Vec<String> = (0..300)
            .flat_map(|i| [format!("{}.25", i * 7 % 301), format!("member-{i}")])
            .collect();
        let mut args = vec!["ZADD", "z:big"];
        args.extend(pairs.iter().map(|s| s.as_str()));
        let _: i64 = q(c, &args);
        let _: i64 = q(c, &["ZADD", "z:ttl", "1", "x"]);
        let _: i64 = q(c, &["PEXPIRE", "z:ttl", "800000"]);
    }
}

/// Creates keys (of every available type) that expire 300 ms from now; returns the latest
/// absolute expire time among them.
fn add_soon_expiring_keys(c: &mut redis::Connection) -> (Vec<&'static str>, i64) {
    let mut keys = vec!["gone:string"];
    let _: () = q(c, &["SET", "gone:string", "v", "PX", "300"]);
    if has_command(c, "RPUSH") {
        let _: i64 = q(c, &["RPUSH", "gone:list", "v"]);
        keys.push("gone:list");
    }
    if has_command(c, "HSET") {
        let _: i64 = q(c, &["HSET", "gone:hash", "f", "v"]);
        keys.push("gone:hash");
    }
    if has_command(c, "SADD") {
        let _: i64 = q(c, &["SADD", "gone:set", "v"]);
        keys.push("gone:set");
    }
    if has_command(c, "ZADD") {
        let _: i64 = q(c, &["ZADD", "gone:zset", "1", "v"]);
        keys.push("gone:zset");
    }
    let mut latest = 0;
    for k in &keys {
        if !k.ends_with("string") {
            let _: i64 = q(c, &["PEXPIRE", k, "300"]);
        }
        let t: i64 = q(c, &["PEXPIRETIME", k]);
        assert!(t > 0, "{k} must have an expire time, PEXPIRETIME gave {t}");
        latest = latest.max(t);
    }
    (keys, latest)
}

/// Waits (with a deadline) until the wall clock is past `t` ms.
fn wait_until_past(t: i64) {
    assert!(
        poll_until(Duration::from_secs(10), || now_ms() > t + 20),
        "clock did not pass {t}"
    );
}

// ---------------------------------------------------------------------------------------------
// 1. Every value comes back
// ---------------------------------------------------------------------------------------------

/// Loads the fixture, optionally snapshots part-way, stops by `how`, restarts, and checks that
/// the keyspace (values and absolute expire times) is exactly as before and that keys which
/// expired while the server was down are gone.
fn values_survive(how: Stop, args: &[&str], snapshot_then_more: bool) {
    let srv = Server::start_with(args);
    let mut c = srv.conn();
    load_fixture(&mut c);
    if snapshot_then_more {
        assert_eq!(qv(&mut c, &["SAVE"]), Value::Okay);
        // Changes after the snapshot must come from replaying the log tail.
        let _: i64 = q(&mut c, &["DEL", "s:plain"]);
        let _: () = q(&mut c, &["SET", "s:over", "third"]);
        let _: i64 = q(&mut c, &["INCR", "s:int"]);
        let _: i64 = q(&mut c, &["PERSIST", "s:ttl-px"]);
        let _: i64 = q(&mut c, &["PEXPIRE", "s:many:7", "500000"]);
        let _: () = q(&mut c, &["SET", "s:after-snapshot", "new"]);
        if has_command(&mut c, "RPUSH") {
            let _: i64 = q(&mut c, &["RPUSH", "l:small", "tail"]);
        }
        if has_command(&mut c, "HSET") {
            let _: i64 = q(&mut c, &["HSET", "h:small", "f1", "changed"]);
        }
        if has_command(&mut c, "SADD") {
            let _: i64 = q(&mut c, &["SADD", "set:int", "99"]);
        }
        if has_command(&mut c, "ZADD") {
            let _: i64 = q(&mut c, &["ZADD", "z:small", "10", "a"]);
        }
    }
    let before = keyspace(&mut c);
    assert!(
        before.len() > 2000,
        "fixture too small: {} keys",
        before.len()
    );
    let (gone, latest_expiry) = add_soon_expiring_keys(&mut c);
    drop(c);
    let dir = stop(srv, how);
    wait_until_past(latest_expiry);
    let srv = Server::start_in(dir, args);
    let mut c = srv.conn();
    for k in &gone {
        assert_eq!(
            q::<i64>(&mut c, &["EXISTS", k]),
            0,
            "{k} expired while the server was down and must not exist after {how:?}"
        );
    }
    assert_eq!(qv(&mut c, &["GET", "gone:string"]), Value::Nil);
    let after = keyspace(&mut c);
    assert_same_keyspace(&before, &after, &format!("after {how:?} and restart"));
}

/// DEBUG LOADAOF empties the keyspace and rebuilds it from the disk (the snapshot, then the log
/// records after it), as a restart would: every value and expire time, the functions, and a
/// stream's consumer groups come back as they were.
#[test]
fn debug_loadaof_rebuilds_the_keyspace_from_the_snapshot_and_the_log() {
    if !eddy_only("debug_loadaof_rebuilds_the_keyspace_from_the_snapshot_and_the_log") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    load_fixture(&mut c);
    let _: () = q(
        &mut c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=lib\nredis.register_function('hello', function() return 'hi' end)",
        ],
    );
    assert_eq!(qv(&mut c, &["SAVE"]), Value::Okay);
    // After the snapshot: these come back only by replaying the log.
    let _: i64 = q(&mut c, &["DEL", "s:plain"]);
    let _: () = q(&mut c, &["SET", "s:after-snapshot", "new", "EX", "1000"]);
    let _: () = q(&mut c, &["XGROUP", "CREATE", "x", "g", "$", "MKSTREAM"]);
    let _: String = q(&mut c, &["XADD", "x", "1-1", "f", "v"]);
    let _: String = q(&mut c, &["XADD", "x", "2-1", "f", "v"]);
    let _: Value = q(
        &mut c,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "COUNT",
            "1",
            "STREAMS",
            "x",
            ">",
        ],
    );
    let _: i64 = q(&mut c, &["XGROUP", "CREATECONSUMER", "x", "g", "bob"]);
    let before = keyspace(&mut c);
    let digest: String = q(&mut c, &["DEBUG", "DIGEST"]);
    let groups = qv(&mut c, &["XINFO", "GROUPS", "x"]);
    let pending = qv(&mut c, &["XPENDING", "x", "g"]);
    assert_eq!(qv(&mut c, &["DEBUG", "LOADAOF"]), Value::Okay);
    assert_same_keyspace(&before, &keyspace(&mut c), "after DEBUG LOADAOF");
    assert_eq!(q::<String>(&mut c, &["DEBUG", "DIGEST"]), digest);
    assert_eq!(qv(&mut c, &["XINFO", "GROUPS", "x"]), groups);
    assert_eq!(qv(&mut c, &["XPENDING", "x", "g"]), pending);
    assert_eq!(q::<String>(&mut c, &["FCALL", "hello", "0"]), "hi");
    // Nothing was recorded: the log goes on from where it was, and a restart agrees.
    drop(c);
    let srv = bounce(srv, Stop::Clean, &[]);
    let mut c = srv.conn();
    assert_eq!(q::<String>(&mut c, &["DEBUG", "DIGEST"]), digest);
}

/// Without a disk log there is nothing to load from: an error, and the data stays.
#[test]
fn debug_loadaof_without_a_disk_log_is_an_error() {
    if !eddy_only("debug_loadaof_without_a_disk_log_is_an_error") {
        return;
    }
    let srv = Server::start_with(&["--appendonly", "no"]);
    let mut c = srv.conn();
    let _: () = q(&mut c, &["SET", "k", "v"]);
    assert_eq!(
        qerr(&mut c, &["DEBUG", "LOADAOF"]),
        "ERR DEBUG LOADAOF needs the change log on disk (appendonly yes)"
    );
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    // Setting appendonly to what it is succeeds, as in Redis; switching it is refused.
    assert_eq!(
        qv(&mut c, &["CONFIG", "SET", "appendonly", "no"]),
        Value::Okay
    );
    assert!(qerr(&mut c, &["CONFIG", "SET", "appendonly", "yes"])
        .contains("switched on or off only at start-up"));
}

#[test]
fn every_value_and_expire_time_survives_a_clean_shutdown() {
    if !eddy_only("every_value_and_expire_time_survives_a_clean_shutdown") {
        return;
    }
    values_survive(Stop::Clean, &[], false);
}

#[test]
fn every_value_and_expire_time_survives_sigkill() {
    if !eddy_only("every_value_and_expire_time_survives_sigkill") {
        return;
    }
    // `always`: every acknowledged write is on disk when the kill comes, so the expected state
    // is exact.
    values_survive(Stop::Kill, &["--appendfsync", "always"], false);
}

#[test]
fn snapshot_plus_log_tail_restores_every_value_after_sigkill() {
    if !eddy_only("snapshot_plus_log_tail_restores_every_value_after_sigkill") {
        return;
    }
    values_survive(Stop::Kill, &["--appendfsync", "always"], true);
}

#[test]
fn snapshot_alone_restores_every_value_after_a_clean_shutdown_without_log_tail() {
    if !eddy_only("snapshot_alone_restores_every_value_after_a_clean_shutdown_without_log_tail") {
        return;
    }
    values_survive(Stop::Clean, &["--appendfsync", "always"], true);
}

// ---------------------------------------------------------------------------------------------
// 2. No acknowledged write lost
// ---------------------------------------------------------------------------------------------

/// What one writer thread saw: every acknowledged value with the time of its acknowledgement,
/// and the last value it sent (acknowledged or not).
struct WriterLog {
    key: String,
    acks: Vec<(u64, Instant)>,
    last_sent: u64,
}

/// Starts `n` writers, each SETting increasing values 1, 2, 3, ... to its own key until the
/// connection fails (the server was killed) or `stop` is set.
fn start_writers(
    url: &str,
    prefix: &str,
    n: usize,
    acked: &Arc<Vec<AtomicU64>>,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<WriterLog>> {
    (0..n)
        .map(|i| {
            let url = url.to_string();
            let key = format!("{prefix}:w{i}");
            let acked = acked.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let client = redis::Client::open(url).expect("client");
                let mut con = client
                    .get_connection_with_timeout(Duration::from_secs(5))
                    .expect("writer connect");
                con.set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                let mut log = WriterLog {
                    key: key.clone(),
                    acks: Vec::new(),
                    last_sent: 0,
                };
                let mut v = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    v += 1;
                    log.last_sent = v;
                    match redis::cmd("SET").arg(&key).arg(v).query::<Value>(&mut con) {
                        Ok(Value::Okay) => {
                            log.acks.push((v, Instant::now()));
                            acked[i].store(v, Ordering::Relaxed);
                        }
                        Ok(other) => panic!("SET {key} {v} replied {other:?}"),
                        Err(_) => break,
                    }
                }
                log
            })
        })
        .collect()
}

/// One round: writers run, the server is SIGKILLed after a random delay, restarted on the same
/// directory, and `check` judges each writer's key. Returns the restarted server.
fn kill_mid_stream(
    srv: Server,
    args: &[&str],
    round: usize,
    rng: &mut Rng,
    check: &dyn Fn(&WriterLog, u64, Instant),
) -> Server {
    const WRITERS: usize = 4;
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
    let stop_flag = Arc::new(AtomicBool::new(false));
    let prefix = format!("r{round}");
    let handles = start_writers(&srv.url(), &prefix, WRITERS, &acked, &stop_flag);
    assert!(
        poll_until(Duration::from_secs(10), || acked
            .iter()
            .all(|a| a.load(Ordering::Relaxed) > 0)),
        "round {round}: writers did not get their first acknowledgement"
    );
    // The kill point: somewhere between a few and several hundred ms into the stream.
    let delay = rng.range(5, 600);
    std::thread::sleep(Duration::from_millis(delay));
    let killed_at = Instant::now();
    let dir = srv.stop();
    stop_flag.store(true, Ordering::Relaxed);
    let logs: Vec<WriterLog> = handles
        .into_iter()
        .map(|h| h.join().expect("writer thread panicked"))
        .collect();
    let srv = Server::start_in(dir, args);
    let mut c = srv.conn();
    let mut total = 0;
    for log in &logs {
        let got: Option<u64> = q(&mut c, &["GET", &log.key]);
        let got = got.unwrap_or(0);
        total += log.acks.len();
        assert!(
            got <= log.last_sent,
            "round {round}: {} holds {got}, but the writer never sent more than {}",
            log.key,
            log.last_sent
        );
        check(log, got, killed_at);
    }
    eprintln!(
        "round {round}: killed after {delay} ms, {total} acknowledged writes checked ({:?})",
        args
    );
    srv
}

fn last_acked(log: &WriterLog) -> u64 {
    log.acks.last().map(|a| a.0).unwrap_or(0)
}

#[test]
fn no_acknowledged_write_is_lost_on_sigkill_with_appendfsync_always() {
    if !eddy_only("no_acknowledged_write_is_lost_on_sigkill_with_appendfsync_always") {
        return;
    }
    always_rounds(&["--appendfsync", "always", "--save", ""]);
}

/// Two I/O threads each write and fsync their own rounds (`changes::writer::sync_inline`), so
/// one finds the log's tail taken by the other and falls back to the writer thread.
#[test]
fn no_acknowledged_write_is_lost_on_sigkill_with_appendfsync_always_and_two_io_threads() {
    if !eddy_only(
        "no_acknowledged_write_is_lost_on_sigkill_with_appendfsync_always_and_two_io_threads",
    ) {
        return;
    }
    always_rounds(&["--appendfsync", "always", "--save", "", "--io-threads", "2"]);
}

/// Kill rounds under `appendfsync always`: every acknowledged write survives, and keys of
/// earlier rounds keep their values.
fn always_rounds(args: &[&str]) {
    let mut rng = Rng::seeded("no_acknowledged_write_is_lost");
    let mut srv = Server::start_with(args);
    let mut earlier: Vec<(String, u64)> = Vec::new();
    for round in 0..5 {
        let recovered = Mutex::new(Vec::new());
        srv = kill_mid_stream(srv, args, round, &mut rng, &|log, got, _| {
            assert!(
                got >= last_acked(log),
                "round {round}: {} recovered {got}, but {} was acknowledged (appendfsync always)",
                log.key,
                last_acked(log)
            );
            recovered.lock().expect("lock").push((log.key.clone(), got));
        });
        // Keys of earlier rounds are untouched by later ones and must keep their values.
        let mut c = srv.conn();
        for (k, v) in &earlier {
            let now: Option<u64> = q(&mut c, &["GET", k]);
            assert_eq!(
                now,
                Some(*v),
                "round {round}: {k} changed across a later restart"
            );
        }
        earlier.extend(recovered.into_inner().expect("lock"));
    }
}

#[test]
fn appendfsync_everysec_loses_at_most_about_a_second_on_sigkill() {
    if !eddy_only("appendfsync_everysec_loses_at_most_about_a_second_on_sigkill") {
        return;
    }
    let args = ["--appendfsync", "everysec", "--save", ""];
    let mut rng = Rng::seeded("everysec_bound");
    let mut srv = Server::start_with(&args);
    for round in 0..3 {
        srv = kill_mid_stream(srv, &args, round, &mut rng, &|log, got, killed_at| {
            // The first acknowledged write that is missing must be from the last ~second.
            if let Some(&(v, at)) = log.acks.iter().find(|(v, _)| *v > got) {
                let behind = killed_at.saturating_duration_since(at);
                assert!(
                    behind <= Duration::from_millis(1500),
                    "round {round}: {} recovered {got}; acknowledged write {v} was {behind:?} \
                     before the kill (bound: about 1 s)",
                    log.key
                );
                eprintln!(
                    "round {round}: {} lost {} acknowledged writes ({behind:?} before the kill)",
                    log.key,
                    last_acked(log) - got
                );
            }
        });
    }
}

#[test]
fn the_first_write_after_start_up_is_durable_with_appendfsync_always() {
    if !eddy_only("the_first_write_after_start_up_is_durable_with_appendfsync_always") {
        return;
    }
    // The policy must be in force from the moment the server answers, not from whenever the log
    // writer gets going: a write acknowledged right after the ready line survives SIGKILL.
    let args = ["--appendfsync", "always", "--save", ""];
    let mut srv = Server::start_with(&args);
    let mut lost = Vec::new();
    for round in 0..10 {
        let k = format!("first-write-{round}");
        let mut c = srv.conn();
        let _: () = q(&mut c, &["SET", &k, "acknowledged"]);
        drop(c);
        srv = bounce(srv, Stop::Kill, &args);
        let mut c = srv.conn();
        if q::<Option<String>>(&mut c, &["GET", &k]).is_none() {
            lost.push(k);
        }
    }
    assert!(
        lost.is_empty(),
        "acknowledged first writes after start-up lost on SIGKILL (appendfsync always): {lost:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Offsets and epoch
// ---------------------------------------------------------------------------------------------

#[test]
fn offsets_continue_and_the_epoch_is_kept_across_clean_and_sigkill_restarts() {
    if !eddy_only("offsets_continue_and_the_epoch_is_kept_across_clean_and_sigkill_restarts") {
        return;
    }
    let args = ["--appendfsync", "always"];
    let mut srv = Server::start_with(&args);
    let mut c = srv.conn();
    for i in 0..10 {
        let _: () = q(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    let (_, mut last, epoch) = changes_info(&mut c);
    assert!(last >= 10, "10 writes, last-offset {last}");
    assert!(!epoch.is_empty());
    drop(c);
    for how in [Stop::Clean, Stop::Kill, Stop::Clean, Stop::Kill] {
        srv = bounce(srv, how, &args);
        let mut c = srv.conn();
        let (first, last_now, epoch_now) = changes_info(&mut c);
        assert_eq!(
            last_now, last,
            "last-offset after {how:?} restart must equal the one before"
        );
        assert_eq!(epoch_now, epoch, "epoch changed across a {how:?} restart");
        assert!(first >= 1 && first <= last + 1, "first-offset {first}");
        let _: () = q(&mut c, &["SET", "after-restart", &format!("{how:?}")]);
        let (_, next, _) = changes_info(&mut c);
        assert_eq!(
            next,
            last + 1,
            "the first write after a {how:?} restart must get offset last+1"
        );
        let evs = read_offsets(&mut c, last + 1, 10);
        assert_eq!(
            evs,
            vec![(last + 1, b"after-restart".to_vec())],
            "CHANGES READ {} after a {how:?} restart",
            last + 1
        );
        // The records before the restart are still readable under the same offsets.
        let old = read_offsets(&mut c, last, 1);
        assert_eq!(old.first().map(|e| e.0), Some(last));
        last = next;
    }
    drop(srv);
    let other = Server::start_with(&args);
    let mut c = other.conn();
    let (_, _, epoch_new) = changes_info(&mut c);
    assert_ne!(
        epoch_new, epoch,
        "a new empty data directory must get a new epoch"
    );
}

/// One change as a reader saw it: offset, key, event and the effect's arguments.
type Seen = (i64, String, String, String);

fn seen_of(ev: &Resp) -> Seen {
    let off = match ev.field("offset") {
        Some(Resp::Int(i)) => *i,
        other => panic!("event offset must be an integer: {other:?} in {ev:?}"),
    };
    let text = |f: &str| ev.field(f).and_then(Resp::text).unwrap_or_default();
    let args = format!("{:?}", ev.field("args"));
    (off, text("key"), text("event"), args)
}

/// A RESP3 raw connection to `port`.
fn raw3(port: u16) -> Raw {
    let mut r = Raw::connect(port);
    let hello = r.call(&["HELLO", "3"]);
    assert!(matches!(hello, Resp::Map(_)), "HELLO 3: {hello:?}");
    r
}

/// Reads the log from `from` with blocking `CHANGES READ` until the server goes away; counts
/// what it saw in `progress`.
fn start_blocking_reader(port: u16, from: i64, progress: Arc<AtomicU64>) -> JoinHandle<Vec<Seen>> {
    std::thread::spawn(move || {
        let mut r = raw3(port);
        let mut next = from;
        let mut seen = Vec::new();
        loop {
            let at = next.to_string();
            r.send_cmd(&["CHANGES", "READ", &at, "COUNT", "1000", "BLOCK", "200"]);
            match r.try_read_reply(Duration::from_secs(10)) {
                Some(Resp::Array(evs)) => {
                    for e in &evs {
                        let s = seen_of(e);
                        next = s.0 + 1;
                        seen.push(s);
                    }
                    progress.store(seen.len() as u64, Ordering::Relaxed);
                }
                Some(Resp::Null | Resp::NullArray) => {}
                Some(other) => panic!("CHANGES READ replied {other:?}"),
                // Killed (or silent for 10 s, which the poll on `progress` reports).
                None => return seen,
            }
        }
    })
}

/// Subscribes from `from` (push delivery) until the server goes away and `stop` is set.
fn start_subscriber(
    port: u16,
    from: i64,
    progress: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<Vec<Seen>> {
    std::thread::spawn(move || {
        let mut r = raw3(port);
        let ok = r.call(&["CHANGES", "SUBSCRIBE", &from.to_string()]);
        assert!(matches!(ok, Resp::Array(_)), "CHANGES SUBSCRIBE: {ok:?}");
        let mut seen = Vec::new();
        loop {
            match r.try_read_reply(Duration::from_millis(200)) {
                Some(Resp::Push(p))
                    if p.first().and_then(Resp::text).as_deref() == Some("changes") =>
                {
                    if let Some(e) = p.get(1) {
                        seen.push(seen_of(e));
                        progress.store(seen.len() as u64, Ordering::Relaxed);
                    }
                }
                Some(other) => panic!("subscriber got {other:?}"),
                None if stop.load(Ordering::Relaxed) => return seen,
                None => {}
            }
        }
    })
}

/// The records at offsets `from..=to`, as a reader of the restarted server sees them.
fn records_between(port: u16, from: i64, to: i64) -> BTreeMap<i64, Seen> {
    let mut r = raw3(port);
    let mut out = BTreeMap::new();
    let mut next = from;
    while next <= to {
        let Resp::Array(evs) = r.call(&["CHANGES", "READ", &next.to_string(), "COUNT", "1000"])
        else {
            panic!("CHANGES READ {next} must reply with an array");
        };
        if evs.is_empty() {
            break;
        }
        for e in &evs {
            let s = seen_of(e);
            next = s.0 + 1;
            out.insert(s.0, s);
        }
    }
    out
}

#[test]
fn a_record_a_reader_saw_keeps_its_offset_after_sigkill() {
    if !eddy_only("a_record_a_reader_saw_keeps_its_offset_after_sigkill") {
        return;
    }
    // `everysec`: readers are served records the writer has written (page cache), which a
    // process crash cannot take back; before the fix they were served committed records.
    let args = ["--appendfsync", "everysec", "--save", ""];
    let mut rng = Rng::seeded("a_record_a_reader_saw_keeps_its_offset_after_sigkill");
    let mut srv = Server::start_with(&args);
    let epoch = changes_info(&mut srv.conn()).2;
    for round in 0..4 {
        let from = changes_info(&mut srv.conn()).1 + 1;
        let stop_flag = Arc::new(AtomicBool::new(false));
        let progress: Vec<Arc<AtomicU64>> = (0..2).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let readers = [
            start_blocking_reader(srv.port(), from, progress[0].clone()),
            start_subscriber(srv.port(), from, progress[1].clone(), stop_flag.clone()),
        ];
        const WRITERS: usize = 4;
        let acked: Arc<Vec<AtomicU64>> =
            Arc::new((0..WRITERS).map(|_| AtomicU64::new(0)).collect());
        let writers = start_writers(
            &srv.url(),
            &format!("r{round}"),
            WRITERS,
            &acked,
            &stop_flag,
        );
        // Every writer connected (a kill before that fails its connect) and both readers read.
        assert!(
            poll_until(Duration::from_secs(10), || acked
                .iter()
                .all(|a| a.load(Ordering::Relaxed) > 0)
                && progress.iter().all(|p| p.load(Ordering::Relaxed) > 0)),
            "round {round}: the writers or the readers did not get going"
        );
        // The kill point, while writers write and readers read.
        std::thread::sleep(Duration::from_millis(rng.range(1, 300)));
        let dir = srv.stop();
        stop_flag.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().expect("writer thread panicked");
        }
        let seen: Vec<Vec<Seen>> = readers
            .into_iter()
            .map(|h| h.join().expect("reader thread panicked"))
            .collect();
        srv = Server::start_in(dir, &args);
        let mut c = srv.conn();
        let (_, last, epoch_now) = changes_info(&mut c);
        assert_eq!(
            epoch_now, epoch,
            "round {round}: SIGKILL without a reboot kept the epoch"
        );
        // New changes take the offsets after the recovered end: a record lost by the kill
        // would now be replaced by one of these.
        for i in 0..200 {
            let _: () = q(&mut c, &["SET", &format!("after{round}:{i}"), "x"]);
        }
        let top = seen.iter().flatten().map(|s| s.0).max().unwrap_or(0);
        let now = records_between(srv.port(), from, top);
        for (who, evs) in ["CHANGES READ BLOCK", "CHANGES SUBSCRIBE"]
            .iter()
            .zip(&seen)
        {
            for s in evs {
                assert_eq!(
                    now.get(&s.0),
                    Some(s),
                    "round {round}: {who} saw offset {} before the kill; after the restart \
                     (recovered up to {last}) it holds another record",
                    s.0
                );
            }
        }
        eprintln!(
            "round {round}: readers saw {:?} records up to {top}; recovered up to {last}",
            seen.iter().map(Vec::len).collect::<Vec<_>>()
        );
    }
}

/// Starts a server in a new directory whose boot id the test controls (`EDDY_BOOT_ID_FILE`),
/// writes a few keys, stops it (`how`), optionally "reboots" (a new boot id) and restarts it.
/// Returns the epoch before and after, and the restarted server.
fn restart_with_boot_id(how: Stop, reboot: bool, args: &[&str]) -> (String, String, Server) {
    let dir = TempDir::new("boot");
    let boot_file = dir.path().join("test-boot-id");
    std::fs::write(&boot_file, "boot-one\n").expect("write boot id");
    let boot_path = boot_file.to_string_lossy().into_owned();
    let env = [("EDDY_BOOT_ID_FILE", boot_path.as_str())];
    let srv = Server::start_in_env(dir, args, &env);
    let mut c = srv.conn();
    for i in 0..20 {
        let _: () = q(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    let (_, _, before) = changes_info(&mut c);
    drop(c);
    let dir = stop(srv, how);
    if reboot {
        std::fs::write(&boot_file, "boot-two\n").expect("write boot id");
    }
    let srv = Server::start_in_env(dir, args, &env);
    let (_, _, after) = changes_info(&mut srv.conn());
    (before, after, srv)
}

#[test]
fn a_reboot_after_an_unclean_stop_under_everysec_changes_the_epoch() {
    if !eddy_only("a_reboot_after_an_unclean_stop_under_everysec_changes_the_epoch") {
        return;
    }
    for fsync in ["everysec", "no"] {
        let (before, after, srv) =
            restart_with_boot_id(Stop::Kill, true, &["--appendfsync", fsync]);
        assert_ne!(
            after, before,
            "appendfsync {fsync}: SIGKILL then a reboot may have lost written records"
        );
        let mut c = srv.conn();
        let e = qerr(&mut c, &["CHANGES", "READ", "1", "EPOCH", &before]);
        assert!(
            e.contains("EPOCH the change log's history changed"),
            "a reader resuming with the old epoch must get the EPOCH error, got {e:?}"
        );
        // What survived is still there, under the new epoch.
        let v: Option<String> = q(&mut c, &["GET", "k0"]);
        assert_eq!(v.as_deref(), Some("v"));
        let evs = read_offsets(&mut c, 1, 100);
        assert!(
            !evs.is_empty(),
            "the log keeps its records under the new epoch"
        );
        assert!(
            srv.log().contains("new epoch"),
            "the epoch change must be logged; output:\n{}",
            srv.log()
        );
    }
}

#[test]
fn a_reboot_after_a_clean_shutdown_keeps_the_epoch() {
    if !eddy_only("a_reboot_after_a_clean_shutdown_keeps_the_epoch") {
        return;
    }
    let (before, after, _srv) = restart_with_boot_id(Stop::Clean, true, &[]);
    assert_eq!(
        after, before,
        "a clean shutdown loses nothing, even across a reboot"
    );
}

#[test]
fn sigkill_without_a_reboot_keeps_the_epoch() {
    if !eddy_only("sigkill_without_a_reboot_keeps_the_epoch") {
        return;
    }
    let (before, after, _srv) = restart_with_boot_id(Stop::Kill, false, &[]);
    assert_eq!(after, before, "the page cache survives a process crash");
}

#[test]
fn a_reboot_after_sigkill_under_appendfsync_always_keeps_the_epoch() {
    if !eddy_only("a_reboot_after_sigkill_under_appendfsync_always_keeps_the_epoch") {
        return;
    }
    // Under `always` readers only see fsynced records: a power loss takes none of them back.
    let (before, after, _srv) =
        restart_with_boot_id(Stop::Kill, true, &["--appendfsync", "always"]);
    assert_eq!(after, before);
}

// ---------------------------------------------------------------------------------------------
// 4. Torn tail and corruption
// ---------------------------------------------------------------------------------------------

/// Segment files of a data directory, in offset order.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("changes"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// A record's place in a segment file: (start byte, total bytes, offset).
fn records_of(bytes: &[u8]) -> Vec<(usize, usize, u64)> {
    assert!(bytes.len() >= 16, "segment shorter than its header");
    assert_eq!(&bytes[..8], b"EDDYLOG1", "segment header magic");
    let first = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let mut out = Vec::new();
    let mut pos = 16;
    while pos + 4 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().expect("4 bytes")) as usize;
        if pos + 4 + len > bytes.len() || len < 16 {
            break;
        }
        let off = u64::from_le_bytes(bytes[pos + 8..pos + 16].try_into().expect("8 bytes"));
        out.push((pos, 4 + len, off));
        pos += 4 + len;
    }
    assert_eq!(
        pos,
        bytes.len(),
        "segment does not end on a record boundary"
    );
    if let Some(r) = out.first() {
        assert_eq!(r.2, first, "first record's offset must equal the header's");
    }
    out
}

/// A server with keys k0..k{n-1} (one record each), stopped with SHUTDOWN NOSAVE so only the log
/// holds them. Returns the directory, the offset of each key's record and the epoch.
fn log_only_dir(n: usize) -> (TempDir, Vec<(i64, String)>, String) {
    let srv = Server::start_with(&["--appendfsync", "always", "--save", ""]);
    let mut c = srv.conn();
    let (_, start, epoch) = changes_info(&mut c);
    let mut offsets = Vec::new();
    for i in 0..n {
        let k = format!("k{i}");
        let _: () = q(&mut c, &["SET", &k, &format!("value-{i}")]);
        let (_, last, _) = changes_info(&mut c);
        offsets.push((last, k));
    }
    assert_eq!(offsets.last().map(|o| o.0), Some(start + n as i64));
    drop(c);
    (stop_nosave(srv), offsets, epoch)
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open segment for append");
    f.write_all(bytes).expect("append");
    f.sync_all().expect("sync");
}

fn assert_torn_tail_is_truncated(tail: &dyn Fn(&[u8]) -> Vec<u8>, what: &str) {
    let (dir, offsets, epoch) = log_only_dir(5);
    let segs = segment_files(dir.path());
    let seg = segs.last().expect("a segment file").clone();
    let bytes = std::fs::read(&seg).expect("read segment");
    let recs = records_of(&bytes);
    let &(start, len, _) = recs.last().expect("records");
    append_bytes(&seg, &tail(&bytes[start..start + len]));

    let args = ["--appendfsync", "always", "--save", ""];
    let srv = Server::start_in(dir, &args);
    let log = strip_ansi(&srv.log());
    let name = seg.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && (l.contains("torn") || l.contains(name))),
        "{what}: start-up must log a warning about the torn tail of {name}; output:\n{log}"
    );
    let mut c = srv.conn();
    for (i, (_, k)) in offsets.iter().enumerate() {
        assert_eq!(
            q::<Option<String>>(&mut c, &["GET", k]),
            Some(format!("value-{i}")),
            "{what}: {k} (before the torn tail) must be kept"
        );
    }
    let (_, last, epoch_now) = changes_info(&mut c);
    let last_good = offsets.last().map(|o| o.0).unwrap_or(0);
    assert_eq!(
        last, last_good,
        "{what}: last-offset is the last good record"
    );
    assert_eq!(
        epoch_now, epoch,
        "{what}: truncating a torn tail loses no acknowledged history; the epoch stays"
    );
    // The torn bytes were cut off, so records written now follow the good ones cleanly and a
    // further restart reads them. (SHUTDOWN NOSAVE drains the log: this checks the file, not
    // the timing of `appendfsync always`, which has its own test.)
    let _: () = q(&mut c, &["SET", "after-torn", "yes"]);
    drop(c);
    let srv = Server::start_in(stop_nosave(srv), &args);
    let mut c = srv.conn();
    assert_eq!(
        q::<Option<String>>(&mut c, &["GET", "after-torn"]),
        Some("yes".into()),
        "{what}: a write after the truncation must survive the next restart; output:\n{}",
        srv.log()
    );
    assert_eq!(changes_info(&mut c).1, last_good + 1);
}

#[test]
fn a_transaction_cut_short_at_the_end_of_the_log_is_reverted_whole() {
    if !eddy_only("a_transaction_cut_short_at_the_end_of_the_log_is_reverted_whole") {
        return;
    }
    let args = ["--appendfsync", "always", "--save", ""];
    let srv = Server::start_with(&args);
    let mut c = srv.conn();
    let _: () = q(&mut c, &["SET", "before", "1"]);
    let (_, kept, _) = changes_info(&mut c);
    // MSET commits its three records as one transaction (one tx id, tx-n 3).
    let _: () = q(&mut c, &["MSET", "x1", "1", "x2", "2", "x3", "3"]);
    drop(c);
    let dir = stop_nosave(srv);
    let seg = segment_files(dir.path()).last().expect("a segment").clone();
    let bytes = std::fs::read(&seg).expect("read segment");
    let recs = records_of(&bytes);
    let &(cut, _, off) = recs.last().expect("records");
    assert_eq!(off as i64, kept + 3, "the MSET's records end the log");
    // A crash after two of the three records reached the disk.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .expect("open segment");
    f.set_len(cut as u64).expect("truncate");
    drop(f);

    let srv = Server::start_in(dir, &args);
    let log = strip_ansi(&srv.log());
    assert!(
        log.lines()
            .any(|l| l.contains("WARN") && l.contains("incomplete transaction")),
        "start-up must warn about the reverted transaction; output:\n{log}"
    );
    let mut c = srv.conn();
    assert_eq!(
        q::<Option<String>>(&mut c, &["GET", "before"]),
        Some("1".into())
    );
    for k in ["x1", "x2", "x3"] {
        assert_eq!(
            q::<i64>(&mut c, &["EXISTS", k]),
            0,
            "{k}: none of the cut MSET applies"
        );
    }
    assert_eq!(
        changes_info(&mut c).1,
        kept,
        "the log ends before the transaction"
    );
    // The partial records are gone from the file too: a write now survives the next restart.
    let _: () = q(&mut c, &["SET", "after", "yes"]);
    drop(c);
    let srv = Server::start_in(stop_nosave(srv), &args);
    let mut c = srv.conn();
    assert_eq!(
        q::<Option<String>>(&mut c, &["GET", "after"]),
        Some("yes".into())
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "x1"]), 0);
    assert_eq!(changes_info(&mut c).1, kept + 1);
}

#[test]
fn torn_partial_record_at_the_end_is_truncated_with_a_warning() {
    if !eddy_only("torn_partial_record_at_the_end_is_truncated_with_a_warning") {
        return;
    }
    assert_torn_tail_is_truncated(&|last| last[..10].to_vec(), "first 10 bytes of a record");
}

#[test]
fn torn_record_missing_its_last_byte_is_truncated_with_a_warning() {
    if !eddy_only("torn_record_missing_its_last_byte_is_truncated_with_a_warning") {
        return;
    }
    assert_torn_tail_is_truncated(
        &|last| last[..last.len() - 1].to_vec(),
        "a record without its last byte",
    );
}

#[test]
fn a_few_stray_bytes_at_the_end_are_truncated_with_a_warning() {
    if !eddy_only("a_few_stray_bytes_at_the_end_are_truncated_with_a_warning") {
        return;
    }
    assert_torn_tail_is_truncated(&|_| vec![0x37, 0xA5, 0x01], "3 stray bytes");
}

#[test]
fn a_crash_leaves_zeros_after_the_records_which_end_the_log_without_a_warning() {
    if !eddy_only("a_crash_leaves_zeros_after_the_records_which_end_the_log_without_a_warning") {
        return;
    }
    // Small segments, so the log spans several: sealed ones lose their zeros when sealed.
    let args = [
        "--appendfsync",
        "always",
        "--save",
        "",
        "--changes-segment-bytes",
        "65536",
    ];
    let srv = Server::start_with(&args);
    let mut c = srv.conn();
    let value = |i: usize| format!("value-{i}-{}", "v".repeat(100));
    let mut p = redis::pipe();
    for i in 0..1500 {
        p.cmd("SET").arg(format!("k{i}")).arg(value(i)).ignore();
    }
    let _: () = p.query(&mut c).expect("pipelined SETs");
    let (_, last, epoch) = changes_info(&mut c);
    drop(c);
    let dir = stop(srv, Stop::Kill);
    let segs = segment_files(dir.path());
    assert!(
        segs.len() >= 3,
        "1500 records of ~150 bytes span 64 KiB segments: {segs:?}"
    );
    for sealed in &segs[..segs.len() - 1] {
        records_of(&std::fs::read(sealed).expect("read segment"));
    }
    // The writer fills the segment it writes with zeros ahead of its records (`changes::disk`,
    // "Files").
    let seg = segs.last().expect("a segment").clone();
    let bytes = std::fs::read(&seg).expect("read segment");
    let mut end = 16;
    while end + 4 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[end..end + 4].try_into().expect("4 bytes")) as usize;
        if len == 0 {
            break;
        }
        end += 4 + len;
    }
    assert!(
        end < bytes.len() && bytes[end..].iter().all(|&b| b == 0),
        "after a crash the records ({end} bytes) are followed by zeros ({} bytes in the file)",
        bytes.len()
    );

    let srv = Server::start_in(dir, &args);
    let log = strip_ansi(&srv.log());
    assert!(
        !log.lines().any(|l| l.contains("WARN")),
        "the zeros are not a torn record: no warning; output:\n{log}"
    );
    let mut c = srv.conn();
    for i in 0..1500 {
        assert_eq!(
            q::<Option<String>>(&mut c, &["GET", &format!("k{i}")]),
            Some(value(i))
        );
    }
    let (_, last_now, epoch_now) = changes_info(&mut c);
    assert_eq!(
        (last_now, epoch_now),
        (last, epoch),
        "the log ends with the last record, and no history was lost"
    );
    let _: () = q(&mut c, &["SET", "after", "yes"]);
    drop(c);
    // A clean stop cuts the zeros off: every segment ends with its last record.
    let dir = stop_nosave(srv);
    let mut final_offset = None;
    for seg in segment_files(dir.path()) {
        let recs = records_of(&std::fs::read(&seg).expect("read segment"));
        final_offset = recs.last().map(|r| r.2 as i64).or(final_offset);
    }
    assert_eq!(final_offset, Some(last + 1));
    let srv = Server::start_in(dir, &args);
    let mut c = srv.conn();
    assert_eq!(
        q::<Option<String>>(&mut c, &["GET", "after"]),
        Some("yes".into())
    );
}

/// Flips one byte inside the body of the record of `offsets[victim]`; returns the segment path,
/// the record's start byte and the flipped byte's position.
fn corrupt_record(dir: &Path, offset: i64) -> (PathBuf, usize, usize) {
    for seg in segment_files(dir) {
        let mut bytes = std::fs::read(&seg).expect("read segment");
        let recs = records_of(&bytes);
        if let Some(&(start, len, _)) = recs.iter().find(|r| r.2 as i64 == offset) {
            // The last byte belongs to the value argument: covered by the checksum only.
            let at = start + len - 1;
            bytes[at] ^= 0x5A;
            std::fs::write(&seg, &bytes).expect("write segment");
            return (seg, start, at);
        }
    }
    panic!("no record with offset {offset} in {}", dir.display());
}

#[test]
fn corruption_in_the_middle_stops_startup_naming_the_file_and_position() {
    if !eddy_only("corruption_in_the_middle_stops_startup_naming_the_file_and_position") {
        return;
    }
    let (dir, offsets, _) = log_only_dir(10);
    let (seg, start, at) = corrupt_record(dir.path(), offsets[2].0);
    let dir_s = dir.path().to_str().expect("utf8 path").to_string();
    let (code, out) = run_server_expecting_exit(
        &["--port", "0", "--dir", &dir_s, "--save", ""],
        Duration::from_secs(20),
    );
    let Some(code) = code else {
        panic!("the server started despite a damaged record in the middle of the log:\n{out}");
    };
    assert_ne!(code, 0, "start-up must fail with a non-zero status:\n{out}");
    let name = seg.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    assert!(
        out.contains(name),
        "the error must name the segment file {name}:\n{out}"
    );
    assert!(
        out.contains(&start.to_string()) || out.contains(&at.to_string()),
        "the error must name the byte position (record at {start}, damaged byte {at}):\n{out}"
    );
    assert!(
        !out.contains("Ready to accept connections"),
        "must not become ready:\n{out}"
    );
}

#[test]
fn changes_load_corrupt_starts_from_the_last_good_record_with_a_new_epoch() {
    if !eddy_only("changes_load_corrupt_starts_from_the_last_good_record_with_a_new_epoch") {
        return;
    }
    let (dir, offsets, epoch) = log_only_dir(10);
    let victim = 4;
    corrupt_record(dir.path(), offsets[victim].0);
    let args = ["--changes-load-corrupt", "yes", "--save", ""];
    let srv = Server::start_in(dir, &args);
    let mut c = srv.conn();
    for (i, (_, k)) in offsets.iter().enumerate() {
        let got: Option<String> = q(&mut c, &["GET", k]);
        if i < victim {
            assert_eq!(got, Some(format!("value-{i}")), "{k} is before the damage");
        } else {
            assert_eq!(
                got, None,
                "{k} is at or after the damage and must be discarded"
            );
        }
    }
    let (_, last, epoch_now) = changes_info(&mut c);
    assert_eq!(
        last,
        offsets[victim].0 - 1,
        "last-offset: the last good record"
    );
    assert_ne!(epoch_now, epoch, "a forced repair loses history: new epoch");
    // The repaired log is consistent: writes after it survive a restart, with the new epoch.
    let _: () = q(&mut c, &["SET", "after-repair", "yes"]);
    drop(c);
    let srv = bounce(srv, Stop::Clean, &["--save", ""]);
    let mut c = srv.conn();
    assert_eq!(
        q::<Option<String>>(&mut c, &["GET", "after-repair"]),
        Some("yes".into())
    );
    assert_eq!(
        q::<Option<String>>(&mut c, &["GET", "k0"]),
        Some("value-0".into())
    );
    assert_eq!(
        changes_info(&mut c).2,
        epoch_now,
        "the new epoch is kept afterwards"
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Snapshots
// ---------------------------------------------------------------------------------------------

#[test]
fn save_writes_a_snapshot_and_updates_lastsave_and_info() {
    if !eddy_only("save_writes_a_snapshot_and_updates_lastsave_and_info") {
        return;
    }
    let srv = Server::start_with(&["--save", ""]);
    let mut c = srv.conn();
    let snap = srv.dir().join("snapshot.eddy");
    assert!(!snap.exists(), "a new directory has no snapshot");
    let _: () = q(&mut c, &["SET", "a", "1"]);
    let before: i64 = q(&mut c, &["LASTSAVE"]);
    // LASTSAVE has one-second resolution: let the clock pass it so an update is visible.
    assert!(poll_until(Duration::from_secs(3), || now_ms() / 1000 > before));
    assert_eq!(qv(&mut c, &["SAVE"]), Value::Okay);
    assert!(snap.exists(), "SAVE must write {}", snap.display());
    let after: i64 = q(&mut c, &["LASTSAVE"]);
    assert!(after > before, "LASTSAVE must advance: {before} -> {after}");
    assert!((after - now_ms() / 1000).abs() <= 2, "LASTSAVE is now");
    let p = info(&mut c, "persistence");
    assert_eq!(
        p.get("rdb_last_bgsave_status").map(|s| s.as_str()),
        Some("ok")
    );
    assert_eq!(info_i64(&p, "rdb_last_save_time"), after);
    assert_eq!(
        info_i64(&p, "rdb_changes_since_last_save"),
        0,
        "no writes since the SAVE"
    );
    let _: () = q(&mut c, &["SET", "b", "2"]);
    let _: () = q(&mut c, &["SET", "c", "3"]);
    let p = info(&mut c, "persistence");
    assert_eq!(info_i64(&p, "rdb_changes_since_last_save"), 2);
}

#[test]
fn bgsave_keeps_serving_writes_while_it_runs() {
    if !eddy_only("bgsave_keeps_serving_writes_while_it_runs") {
        return;
    }
    let srv = Server::start_with(&["--save", ""]);
    let mut c = srv.conn();
    // Enough data that the snapshot takes a noticeable moment.
    fill_strings(&mut c, "bulk:", 200_000, 200);
    let done = Arc::new(AtomicU64::new(0));
    let stop_flag = Arc::new(AtomicBool::new(false));
    let writer = {
        let url = srv.url();
        let done = done.clone();
        let stop_flag = stop_flag.clone();
        std::thread::spawn(move || {
            let client = redis::Client::open(url).expect("client");
            let mut con = client.get_connection().expect("connect");
            let mut worst = Duration::ZERO;
            let mut i = 0u64;
            while !stop_flag.load(Ordering::Relaxed) {
                let t = Instant::now();
                let _: () = redis::cmd("SET")
                    .arg(format!("during:{}", i % 1000))
                    .arg(i)
                    .query(&mut con)
                    .expect("SET during BGSAVE");
                worst = worst.max(t.elapsed());
                i += 1;
                done.store(i, Ordering::Relaxed);
            }
            worst
        })
    };
    assert!(poll_until(Duration::from_secs(5), || done
        .load(Ordering::Relaxed)
        > 0));
    let reply = qv(&mut c, &["BGSAVE"]);
    assert_eq!(
        vstr(&reply).as_deref(),
        Some("Background saving started"),
        "BGSAVE reply"
    );
    let started = done.load(Ordering::Relaxed);
    let mut seen_in_progress = false;
    let mut writes_while_in_progress = 0;
    let finished = poll_until(Duration::from_secs(60), || {
        let p = info(&mut c, "persistence");
        let running = info_i64(&p, "rdb_bgsave_in_progress") == 1;
        if running {
            seen_in_progress = true;
            writes_while_in_progress = done.load(Ordering::Relaxed) - started;
        }
        !running
    });
    assert!(finished, "BGSAVE did not finish within 60 s");
    stop_flag.store(true, Ordering::Relaxed);
    let worst = writer.join().expect("writer");
    if seen_in_progress {
        assert!(
            writes_while_in_progress > 0,
            "the writer completed no write while BGSAVE was in progress"
        );
        eprintln!(
            "{writes_while_in_progress} writes completed while BGSAVE ran; slowest SET {worst:?}"
        );
    } else {
        eprintln!("BGSAVE finished before INFO could see it running; slowest SET {worst:?}");
    }
    let p = info(&mut c, "persistence");
    assert_eq!(
        p.get("rdb_last_bgsave_status").map(|s| s.as_str()),
        Some("ok")
    );
    assert!(srv.dir().join("snapshot.eddy").exists());
}

#[test]
fn bgsave_then_more_writes_then_sigkill_restores_everything() {
    if !eddy_only("bgsave_then_more_writes_then_sigkill_restores_everything") {
        return;
    }
    let args = ["--appendfsync", "always", "--save", ""];
    let srv = Server::start_with(&args);
    let mut c = srv.conn();
    fill_strings(&mut c, "pre:", 50_000, 64);
    let _: () = q(&mut c, &["SET", "ttl-before", "x", "PX", "900000"]);
    assert_eq!(
        vstr(&qv(&mut c, &["BGSAVE"])).as_deref(),
        Some("Background saving started")
    );
    // Writes while the snapshot runs and after it: all must come back from snapshot + log.
    fill_strings(&mut c, "during:", 5_000, 64);
    assert!(
        poll_until(Duration::from_secs(60), || info_i64(
            &info(&mut c, "persistence"),
            "rdb_bgsave_in_progress"
        ) == 0),
        "BGSAVE did not finish"
    );
    fill_strings(&mut c, "post:", 5_000, 64);
    fill_strings(&mut c, "pre:", 1_000, 80); // overwrite some snapshotted keys
    let _: i64 = q(&mut c, &["DEL", "pre:49999", "pre:49998"]);
    let _: i64 = q(&mut c, &["PEXPIRE", "pre:20000", "800000"]);
    let _: i64 = q(&mut c, &["PERSIST", "ttl-before"]);
    let before = keyspace(&mut c);
    let (_, last, epoch) = changes_info(&mut c);
    drop(c);
    let srv = bounce(srv, Stop::Kill, &args);
    let mut c = srv.conn();
    let after = keyspace(&mut c);
    assert_same_keyspace(&before, &after, "after BGSAVE, more writes and SIGKILL");
    assert_eq!(changes_info(&mut c).1, last);
    assert_eq!(changes_info(&mut c).2, epoch);
}

#[test]
fn save_rule_takes_a_snapshot_soon_after_a_write() {
    if !eddy_only("save_rule_takes_a_snapshot_soon_after_a_write") {
        return;
    }
    let srv = Server::start_with(&["--save", "1 1"]);
    let mut c = srv.conn();
    let snap = srv.dir().join("snapshot.eddy");
    let before: i64 = q(&mut c, &["LASTSAVE"]);
    let _: () = q(&mut c, &["SET", "trigger", "1"]);
    let t0 = Instant::now();
    assert!(
        poll_until(Duration::from_secs(5), || snap.exists()
            && q::<i64>(&mut c, &["LASTSAVE"]) > before),
        "`save 1 1`: no snapshot within 5 s of a write (snapshot exists: {})",
        snap.exists()
    );
    eprintln!("snapshot appeared {:?} after the write", t0.elapsed());
    let p = info(&mut c, "persistence");
    assert_eq!(
        p.get("rdb_last_bgsave_status").map(|s| s.as_str()),
        Some("ok")
    );
    assert!(
        poll_until(Duration::from_secs(5), || info_i64(
            &info(&mut c, "persistence"),
            "rdb_changes_since_last_save"
        ) == 0),
        "rdb_changes_since_last_save must drop to 0 after the rule's snapshot"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Retention
// ---------------------------------------------------------------------------------------------

const RETENTION_ARGS: [&str; 6] = [
    "--changes-segment-bytes",
    "65536",
    "--changes-retention-ms",
    "1",
    "--save",
    "",
];

/// After a restart the memory tail is empty, so every read below goes to the segment files
/// (`DiskLog::read_with`: chunked reads from the sparse index entry before the cursor). Pages
/// that start anywhere — on and across segment boundaries — return consecutive records with
/// the keys written at those offsets.
#[test]
fn catch_up_reads_from_disk_return_every_record_in_order_across_segments() {
    if !eddy_only("catch_up_reads_from_disk_return_every_record_in_order_across_segments") {
        return;
    }
    let args = ["--changes-segment-bytes", "65536", "--save", ""];
    let srv = Server::start_with(&args);
    let mut c = srv.conn();
    let n = 3_000;
    fill_strings(&mut c, "cu:", n, 200);
    let (first, last, _) = changes_info(&mut c);
    assert_eq!((first, last), (1, n as i64));
    drop(c);
    let dir = stop_nosave(srv);
    let segs = segment_files(dir.path());
    assert!(
        segs.len() >= 8,
        "expected many 64 KiB segments, got {}",
        segs.len()
    );
    let srv = Server::start_in(dir, &args);
    let mut c = srv.conn();
    // Consecutive offsets from `from`, each with the key written there.
    let check_page = |from: i64, page: &[(i64, Vec<u8>)]| {
        for (i, (off, key)) in page.iter().enumerate() {
            assert_eq!(*off, from + i as i64, "offsets must be consecutive");
            assert_eq!(
                key,
                format!("cu:{}", off - 1).as_bytes(),
                "key at offset {off}"
            );
        }
    };
    // The whole log, page by page.
    let mut next = 1i64;
    while next <= last {
        let page = read_offsets(&mut c, next, 700);
        assert!(!page.is_empty(), "CHANGES READ {next} returned nothing");
        check_page(next, &page);
        next += page.len() as i64;
    }
    assert_eq!(next, last + 1);
    // Short pages from many starting points.
    for from in (1..=last).step_by(97) {
        let page = read_offsets(&mut c, from, 150);
        let want = 150.min(last - from + 1) as usize;
        assert_eq!(page.len(), want, "page from {from}");
        check_page(from, &page);
    }
}

/// A server with tiny segments and a 1 ms retention, holding about twenty segments of records.
/// Checks on the way that without a snapshot no segment is deleted, then runs BGSAVE and waits
/// until retention has deleted the oldest segment file. Returns the server, the segment files
/// before the snapshot, and (first-offset, last-offset) before it.
fn retention_after_snapshot() -> (Server, Vec<PathBuf>, (i64, i64)) {
    let srv = Server::start_with(&RETENTION_ARGS);
    let mut c = srv.conn();
    // ~1.3 MB of records: about twenty 64 KB segments.
    fill_strings(&mut c, "ret:", 5_000, 200);
    let dir = srv.dir().to_path_buf();
    assert!(
        poll_until(Duration::from_secs(10), || segment_files(&dir).len() >= 3),
        "expected several segments, found {:?}",
        segment_files(&dir)
    );
    // Let the writer reach the end of the log, so no segment appears after the listing below.
    wait_written(&mut c);
    let (first0, last0, _) = changes_info(&mut c);
    assert_eq!(first0, 1, "nothing trimmed yet");
    let segs_before = segment_files(&dir);
    // Without a snapshot nothing may be deleted however old it is: watch for a while (retention
    // runs about once a second).
    let deadline = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < deadline {
        let now = segment_files(&dir);
        assert!(
            segs_before.iter().all(|s| now.contains(s)),
            "a segment was deleted without a snapshot covering it: before {segs_before:?}, now {now:?}"
        );
        assert_eq!(changes_info(&mut c).0, first0);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        vstr(&qv(&mut c, &["BGSAVE"])).as_deref(),
        Some("Background saving started")
    );
    assert!(
        poll_until(Duration::from_secs(15), || !segment_files(&dir)
            .contains(&segs_before[0])),
        "the oldest segment file must be deleted once a snapshot covers it: {:?}",
        segment_files(&dir)
    );
    let remaining = segment_files(&dir);
    assert!(
        !remaining.is_empty() && remaining.len() < segs_before.len(),
        "segments before {}, after {}",
        segs_before.len(),
        remaining.len()
    );
    drop(c);
    (srv, segs_before, (first0, last0))
}

#[test]
fn retention_trims_the_feed_once_a_snapshot_covers_old_segments() {
    if !eddy_only("retention_trims_the_feed_once_a_snapshot_covers_old_segments") {
        return;
    }
    let (srv, _, (first0, last0)) = retention_after_snapshot();
    let mut c = srv.conn();
    assert!(
        poll_until(Duration::from_secs(15), || changes_info(&mut c).0 > first0),
        "CHANGES INFO first-offset is still {first0} after retention deleted the segments \
         holding it (files now {:?})",
        segment_files(srv.dir())
    );
    let (first1, last1, _) = changes_info(&mut c);
    assert_eq!(last1, last0, "retention changes nothing at the end");
    let e = qerr(&mut c, &["CHANGES", "READ", "1"]);
    assert!(
        e.contains("TRIMMED") && e.contains(&first1.to_string()),
        "reading a trimmed offset must name the earliest available one ({first1}): {e}"
    );
    // The earliest available offset is readable.
    let evs = read_offsets(&mut c, first1, 1);
    assert_eq!(evs.first().map(|e| e.0), Some(first1));
}

#[test]
fn restart_after_retention_recovers_from_the_snapshot_and_the_remaining_segments() {
    if !eddy_only("restart_after_retention_recovers_from_the_snapshot_and_the_remaining_segments") {
        return;
    }
    let (srv, _, (_, last0)) = retention_after_snapshot();
    let mut c = srv.conn();
    let _: () = q(&mut c, &["SET", "after-retention", "yes"]);
    let before = keyspace(&mut c);
    // With appendfsync everysec an acknowledged write may still be on its way to the file
    // (the loss is bounded, not zero): the kill comes once the writer has it.
    wait_written(&mut c);
    drop(c);
    let srv = bounce(srv, Stop::Kill, &RETENTION_ARGS);
    let mut c = srv.conn();
    assert_same_keyspace(&before, &keyspace(&mut c), "after retention and SIGKILL");
    let (first, last, _) = changes_info(&mut c);
    assert_eq!(
        last,
        last0 + 1,
        "offsets continue after retention and restart"
    );
    assert!(first > 1, "first-offset after a restart: {first}");
    let e = qerr(&mut c, &["CHANGES", "READ", "1"]);
    assert!(
        e.contains("TRIMMED") && e.contains(&first.to_string()),
        "after a restart, reading a trimmed offset must name the earliest ({first}): {e}"
    );
}

// ---------------------------------------------------------------------------------------------
// 7. appendonly no
// ---------------------------------------------------------------------------------------------

#[test]
fn appendonly_no_restores_only_the_snapshot_and_changes_the_epoch() {
    if !eddy_only("appendonly_no_restores_only_the_snapshot_and_changes_the_epoch") {
        return;
    }
    let args = ["--appendonly", "no", "--save", ""];
    let srv = Server::start_with(&args);
    let mut c = srv.conn();
    let (_, _, epoch1) = changes_info(&mut c);
    assert_eq!(
        info(&mut c, "persistence")
            .get("aof_enabled")
            .map(|s| s.as_str()),
        Some("0")
    );
    let _: () = q(&mut c, &["SET", "saved", "1"]);
    let _: () = q(&mut c, &["SET", "saved-ttl", "1", "PX", "900000"]);
    assert_eq!(qv(&mut c, &["SAVE"]), Value::Okay);
    let saved = keyspace(&mut c);
    let _: () = q(&mut c, &["SET", "unsaved", "1"]);
    let _: () = q(&mut c, &["SET", "saved", "changed after the snapshot"]);
    drop(c);
    let srv = bounce(srv, Stop::Kill, &args);
    let mut c = srv.conn();
    assert_same_keyspace(
        &saved,
        &keyspace(&mut c),
        "appendonly no: the snapshot only",
    );
    let (_, _, epoch2) = changes_info(&mut c);
    assert_ne!(
        epoch2, epoch1,
        "appendonly no keeps no history across restarts: the epoch must change"
    );
    drop(c);
    let srv = bounce(srv, Stop::Clean, &args);
    let mut c = srv.conn();
    assert_ne!(changes_info(&mut c).2, epoch2);
}

// ---------------------------------------------------------------------------------------------
// 8. INFO
// ---------------------------------------------------------------------------------------------

#[test]
fn info_persistence_and_changes_report_the_log() {
    if !eddy_only("info_persistence_and_changes_report_the_log") {
        return;
    }
    let srv = Server::start_with(&["--save", ""]);
    let mut c = srv.conn();
    for i in 0..5 {
        let _: () = q(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    let p = info(&mut c, "persistence");
    assert_eq!(
        info_i64(&p, "aof_enabled"),
        1,
        "appendonly is yes by default"
    );
    assert_eq!(info_i64(&p, "loading"), 0);
    assert_eq!(info_i64(&p, "rdb_bgsave_in_progress"), 0);
    assert_eq!(
        info_i64(&p, "rdb_changes_since_last_save"),
        5,
        "five writes and no save yet"
    );
    let lst = info_i64(&p, "rdb_last_save_time");
    assert!(
        (lst - now_ms() / 1000).abs() <= 60,
        "rdb_last_save_time is the start time without a save: {lst}"
    );
    assert_eq!(lst, q::<i64>(&mut c, &["LASTSAVE"]));
    let ch = info(&mut c, "changes");
    let (first, last, epoch) = changes_info(&mut c);
    assert_eq!(info_i64(&ch, "changes_first_offset"), first);
    assert_eq!(info_i64(&ch, "changes_last_offset"), last);
    assert_eq!(ch.get("changes_epoch"), Some(&epoch));
    // Section names are case-insensitive and `INFO` without arguments includes both.
    let all: String = q(&mut c, &["INFO"]);
    assert!(all.contains("# Persistence"), "INFO lacks # Persistence");
    assert!(
        all.contains("changes_last_offset:"),
        "INFO lacks the changes section"
    );
}

// ---------------------------------------------------------------------------------------------
// 9. LOADING
// ---------------------------------------------------------------------------------------------

/// Output lines collected from a child process.
type Lines = Arc<Mutex<Vec<String>>>;

/// Starts the binary on a known port without waiting for it to be ready, draining its output.
fn spawn_unready(dir: &Path, port: u16, args: &[&str]) -> (Child, Lines) {
    let mut child = Command::new(server_bin())
        .args(common::DOORS_OFF)
        .arg("--port")
        .arg(port.to_string())
        .arg("--dir")
        .arg(dir)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn server");
    let out: Lines = Arc::new(Mutex::new(Vec::new()));
    let streams: [Box<dyn Read + Send>; 2] = [
        Box::new(child.stdout.take().expect("stdout")),
        Box::new(child.stderr.take().expect("stderr")),
    ];
    for s in streams {
        let out = out.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(s).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut o) = out.lock() {
                    o.push(line);
                }
            }
        });
    }
    (child, out)
}

#[test]
fn clients_connecting_during_recovery_get_loading() {
    if !eddy_only("clients_connecting_during_recovery_get_loading") {
        return;
    }
    const RECORDS: usize = 300_000;
    let srv = Server::start_with(&["--save", ""]);
    let mut c = srv.conn();
    fill_strings(&mut c, "load:", RECORDS, 32);
    drop(c);
    let dir = stop_nosave(srv);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let (mut child, out) = spawn_unready(dir.path(), port, &["--save", ""]);
    let t0 = Instant::now();
    let mut connected = false;
    assert!(
        poll_until(Duration::from_secs(20), || {
            connected = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            connected
        }),
        "could not connect to port {port}"
    );
    let mut raw = common::Raw::connect(port);
    let first = raw.call(&["GET", "load:0"]);
    let outcome = match &first {
        Resp::Error(e) if e.starts_with("LOADING") => {
            // LOADING is monotonic: if GET still says LOADING after INFO, INFO ran while loading.
            let info_reply = raw.call(&["INFO", "persistence"]);
            let again = raw.call(&["GET", "load:0"]);
            if matches!(&again, Resp::Error(e) if e.starts_with("LOADING")) {
                let text = info_reply.text().unwrap_or_default();
                assert!(
                    text.contains("loading:1"),
                    "INFO persistence while loading must say loading:1:\n{text}"
                );
            }
            assert_eq!(
                e, "LOADING Eddy is loading the dataset in memory",
                "Redis's LOADING error shape"
            );
            // Once loading ends, the same connection gets the data.
            let mut last = Resp::Null;
            let loaded = poll_until(Duration::from_secs(60), || {
                last = raw.call(&["GET", "load:0"]);
                !matches!(&last, Resp::Error(e) if e.starts_with("LOADING"))
            });
            assert!(loaded, "still LOADING after 60 s");
            assert_eq!(
                last.text().as_deref().map(|s| s.starts_with("0000000000:")),
                Some(true),
                "after loading: {last:?}"
            );
            format!("observed LOADING, ready after {:?}", t0.elapsed())
        }
        Resp::Bulk(_) => format!(
            "SKIPPED: recovery of {RECORDS} records finished before a client could connect ({:?})",
            t0.elapsed()
        ),
        other => panic!("GET during start-up replied {other:?}"),
    };
    eprintln!("{outcome}");
    let dbsize = raw.call(&["DBSIZE"]);
    assert_eq!(dbsize, Resp::Int(RECORDS as i64));
    // The loading flag clears just before the ready line is logged, so a client can be served
    // before that line reaches the pipe: wait for it rather than read the log once.
    let log_text = || {
        out.lock()
            .map(|l| strip_ansi(&l.join("\n")))
            .unwrap_or_default()
    };
    let ready = poll_until(Duration::from_secs(20), || {
        log_text().contains("Ready to accept connections")
    });
    let _ = child.kill();
    let _ = child.wait();
    let log = log_text();
    assert!(ready, "the ready line comes after recovery:\n{log}");
    let loaded_at = log.find("DB loaded from disk").expect("recovery line");
    let ready_at = log.find("Ready to accept connections").expect("ready line");
    assert!(
        loaded_at < ready_at,
        "the ready line comes after recovery:\n{log}"
    );
}
