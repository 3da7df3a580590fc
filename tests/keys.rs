//! Generic keyspace commands: existence, renaming, copying, iteration, introspection, TTLs,
//! DUMP/RESTORE, databases, and expiry (lazy and active).

mod common;

use common::{now_ms, poll_until, q, qerr, qv, vstr, Server};
use redis::Value;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn b(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn sorted_strings(v: Value) -> Vec<String> {
    let Value::Array(items) = v else {
        panic!("expected an array, got {v:?}")
    };
    let mut out: Vec<String> = items.iter().map(|i| vstr(i).expect("string")).collect();
    out.sort();
    out
}

#[test]
fn del_and_unlink_count_removed_keys() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["MSET", "a", "1", "b", "2", "c", "3", "d", "4"]);
    assert_eq!(q::<i64>(&mut c, &["DEL", "a", "b", "missing"]), 2);
    assert_eq!(q::<i64>(&mut c, &["DEL", "a"]), 0);
    assert_eq!(q::<i64>(&mut c, &["UNLINK", "c", "d", "missing"]), 2);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0);
    // A key repeated in one DEL is removed once.
    q::<()>(&mut c, &["SET", "x", "1"]);
    assert_eq!(q::<i64>(&mut c, &["DEL", "x", "x"]), 1);
}

#[test]
fn exists_counts_repeated_keys() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "a", "1"]);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a", "a", "missing"]), 2);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "missing"]), 0);
}

#[test]
fn type_reports_string_or_none() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        q::<()>(&mut c, &["SET", "s", "1"]);
        assert_eq!(
            qv(&mut c, &["TYPE", "s"]),
            Value::SimpleString("string".into()),
            "{proto}"
        );
        assert_eq!(
            qv(&mut c, &["TYPE", "missing"]),
            Value::SimpleString("none".into()),
            "{proto}"
        );
    }
}

#[test]
fn rename_moves_value_and_ttl() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "a", "v", "EX", "100"]);
    q::<()>(&mut c, &["SET", "b", "old"]);
    assert_eq!(qv(&mut c, &["RENAME", "a", "b"]), Value::Okay);
    assert_eq!(qv(&mut c, &["GET", "b"]), b("v"));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a"]), 0);
    assert!(q::<i64>(&mut c, &["TTL", "b"]) > 0);
    assert_eq!(qerr(&mut c, &["RENAME", "missing", "x"]), "ERR no such key");
    // Renaming a key to itself is allowed.
    assert_eq!(qv(&mut c, &["RENAME", "b", "b"]), Value::Okay);
    assert_eq!(qv(&mut c, &["GET", "b"]), b("v"));
}

#[test]
fn rename_over_a_key_with_ttl_drops_the_old_ttl() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "a", "v"]);
    q::<()>(&mut c, &["SET", "b", "w", "EX", "100"]);
    q::<()>(&mut c, &["RENAME", "a", "b"]);
    assert_eq!(q::<i64>(&mut c, &["TTL", "b"]), -1);
}

#[test]
fn renamenx_only_renames_to_a_missing_key() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["MSET", "a", "1", "b", "2"]);
    assert_eq!(q::<i64>(&mut c, &["RENAMENX", "a", "b"]), 0);
    assert_eq!(q::<i64>(&mut c, &["RENAMENX", "a", "c"]), 1);
    assert_eq!(
        qv(&mut c, &["MGET", "a", "c"]),
        Value::Array(vec![Value::Nil, b("1")])
    );
    assert_eq!(q::<i64>(&mut c, &["RENAMENX", "c", "c"]), 0);
    assert_eq!(
        qerr(&mut c, &["RENAMENX", "missing", "x"]),
        "ERR no such key"
    );
}

#[test]
fn copy_with_replace_and_db() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "src", "v", "EX", "100"]);
    q::<()>(&mut c, &["SET", "dst", "old"]);
    assert_eq!(q::<i64>(&mut c, &["COPY", "src", "new"]), 1);
    assert_eq!(qv(&mut c, &["GET", "new"]), b("v"));
    assert!(q::<i64>(&mut c, &["TTL", "new"]) > 0, "COPY keeps the TTL");
    assert_eq!(q::<i64>(&mut c, &["COPY", "src", "dst"]), 0);
    assert_eq!(qv(&mut c, &["GET", "dst"]), b("old"));
    assert_eq!(q::<i64>(&mut c, &["COPY", "src", "dst", "REPLACE"]), 1);
    assert_eq!(qv(&mut c, &["GET", "dst"]), b("v"));
    assert_eq!(q::<i64>(&mut c, &["COPY", "missing", "x"]), 0);

    assert_eq!(q::<i64>(&mut c, &["COPY", "src", "src", "DB", "5"]), 1);
    assert_eq!(qv(&mut c, &["GET", "src"]), b("v"), "source is untouched");
    q::<()>(&mut c, &["SELECT", "5"]);
    assert_eq!(qv(&mut c, &["GET", "src"]), b("v"));
    q::<()>(&mut c, &["SELECT", "0"]);

    assert_eq!(
        qerr(&mut c, &["COPY", "src", "src"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        qerr(&mut c, &["COPY", "src", "x", "DB", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        qerr(&mut c, &["COPY", "src", "x", "DB", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["COPY", "src", "x", "FOO"]),
        "ERR syntax error"
    );
}

#[test]
fn copied_value_is_independent_of_the_source() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "src", "abc"]);
    q::<()>(&mut c, &["COPY", "src", "dst"]);
    q::<()>(&mut c, &["APPEND", "src", "def"]);
    assert_eq!(qv(&mut c, &["GET", "dst"]), b("abc"));
}

#[test]
fn keys_matches_glob_patterns() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(
        &mut c,
        &[
            "MSET", "hello", "1", "hallo", "1", "hxllo", "1", "hllo", "1", "heeeello", "1",
            "other", "1", "h*llo", "1",
        ],
    );
    assert_eq!(
        sorted_strings(qv(&mut c, &["KEYS", "h?llo"])),
        ["h*llo", "hallo", "hello", "hxllo"]
    );
    assert_eq!(
        sorted_strings(qv(&mut c, &["KEYS", "h*llo"])),
        ["h*llo", "hallo", "heeeello", "hello", "hllo", "hxllo"]
    );
    assert_eq!(
        sorted_strings(qv(&mut c, &["KEYS", "h[ae]llo"])),
        ["hallo", "hello"]
    );
    assert_eq!(
        sorted_strings(qv(&mut c, &["KEYS", "h[^e]llo"])),
        ["h*llo", "hallo", "hxllo"]
    );
    assert_eq!(
        sorted_strings(qv(&mut c, &["KEYS", "h[a-b]llo"])),
        ["hallo"]
    );
    assert_eq!(sorted_strings(qv(&mut c, &["KEYS", "h\\*llo"])), ["h*llo"]);
    assert_eq!(sorted_strings(qv(&mut c, &["KEYS", "*"])).len(), 7);
    assert_eq!(qv(&mut c, &["KEYS", "nomatch*"]), Value::Array(vec![]));
}

/// Runs a full SCAN with extra arguments and returns every key returned (with duplicates).
fn scan_all(c: &mut redis::Connection, extra: &[&str]) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut out = Vec::new();
    let mut rounds = 0;
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(extra);
        let v = qv(c, &args);
        let Value::Array(parts) = v else {
            panic!("SCAN reply must be an array: {v:?}")
        };
        assert_eq!(parts.len(), 2, "SCAN reply is [cursor, keys]");
        let next = vstr(&parts[0]).expect("cursor is a bulk string");
        let Value::Array(keys) = &parts[1] else {
            panic!("SCAN keys must be an array: {:?}", parts[1])
        };
        out.extend(keys.iter().map(|k| vstr(k).expect("key")));
        cursor = next;
        rounds += 1;
        assert!(rounds < 100_000, "SCAN did not terminate");
        if cursor == "0" {
            return out;
        }
    }
}

#[test]
fn scan_returns_every_key() {
    let srv = Server::start();
    let mut c = srv.conn();
    for i in 0..500 {
        q::<()>(&mut c, &["SET", &format!("key:{i}"), "v"]);
    }
    let got: HashSet<String> = scan_all(&mut c, &[]).into_iter().collect();
    assert_eq!(got.len(), 500);
    let got: HashSet<String> = scan_all(&mut c, &["COUNT", "7"]).into_iter().collect();
    assert_eq!(got.len(), 500);
}

#[test]
fn scan_match_and_type_filter() {
    let srv = Server::start();
    let mut c = srv.conn();
    for i in 0..100 {
        q::<()>(&mut c, &["SET", &format!("user:{i}"), "v"]);
        q::<()>(&mut c, &["SET", &format!("item:{i}"), "v"]);
    }
    let got: HashSet<String> = scan_all(&mut c, &["MATCH", "user:*", "COUNT", "10"])
        .into_iter()
        .collect();
    assert_eq!(got.len(), 100);
    assert!(got.iter().all(|k| k.starts_with("user:")));
    let got = scan_all(&mut c, &["TYPE", "string"]);
    assert_eq!(got.into_iter().collect::<HashSet<_>>().len(), 200);
    let got = scan_all(&mut c, &["TYPE", "hash"]);
    assert!(got.is_empty(), "no hashes exist: {got:?}");
    let got = scan_all(&mut c, &["MATCH", "user:1?", "TYPE", "string"]);
    assert_eq!(got.into_iter().collect::<HashSet<_>>().len(), 10);
}

#[test]
fn scan_errors() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(qerr(&mut c, &["SCAN", "abc"]), "ERR invalid cursor");
    assert_eq!(
        qerr(&mut c, &["SCAN", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    assert_eq!(
        qerr(&mut c, &["SCAN", "0", "COUNT", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(qerr(&mut c, &["SCAN", "0", "FOO"]), "ERR syntax error");
}

#[test]
fn scan_returns_keys_present_throughout_despite_concurrent_changes() {
    let srv = Server::start();
    let mut c = srv.conn();
    const N: usize = 2_000;
    for chunk in (0..N).collect::<Vec<_>>().chunks(200) {
        let mut args: Vec<String> = vec!["MSET".into()];
        for i in chunk {
            args.push(format!("stable:{i}"));
            args.push("v".into());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        q::<()>(&mut c, &refs);
    }
    for i in 0..500 {
        q::<()>(&mut c, &["SET", &format!("churn:{i}"), "v"]);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut w = srv.conn();
    let stop2 = stop.clone();
    let churner = std::thread::spawn(move || {
        let mut i = 0usize;
        let mut ops = 0usize;
        while !stop2.load(Ordering::Relaxed) {
            // Delete an old churn key and add a new one, so tables grow and shrink.
            q::<i64>(&mut w, &["DEL", &format!("churn:{i}")]);
            q::<()>(&mut w, &["SET", &format!("churn:{}", i + 500), "v"]);
            q::<()>(&mut w, &["SET", &format!("extra:{i}"), "v"]);
            if i.is_multiple_of(3) {
                q::<i64>(&mut w, &["DEL", &format!("extra:{i}")]);
            }
            i += 1;
            ops += 1;
        }
        ops
    });

    let mut seen = HashSet::new();
    let mut cursor = "0".to_string();
    let mut rounds = 0;
    loop {
        let v = qv(&mut c, &["SCAN", &cursor, "COUNT", "20"]);
        let Value::Array(parts) = v else {
            panic!("{v:?}")
        };
        cursor = vstr(&parts[0]).expect("cursor");
        if let Value::Array(keys) = &parts[1] {
            seen.extend(keys.iter().map(|k| vstr(k).expect("key")));
        }
        rounds += 1;
        assert!(rounds < 1_000_000, "SCAN did not terminate");
        if cursor == "0" {
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let ops = churner.join().expect("churner");
    assert!(ops > 0, "the churner ran during the scan");
    let missing: Vec<usize> = (0..N)
        .filter(|i| !seen.contains(&format!("stable:{i}")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} stable keys never returned by SCAN, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
}

#[test]
fn randomkey_returns_an_existing_key_or_nil() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["RANDOMKEY"]), Value::Nil);
    q::<()>(&mut c, &["MSET", "a", "1", "b", "2", "c", "3"]);
    for _ in 0..20 {
        let k = vstr(&qv(&mut c, &["RANDOMKEY"])).expect("a key");
        assert!(["a", "b", "c"].contains(&k.as_str()), "{k}");
    }
}

#[test]
fn touch_counts_existing_keys() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["MSET", "a", "1", "b", "2"]);
    assert_eq!(q::<i64>(&mut c, &["TOUCH", "a", "b", "missing"]), 2);
}

#[test]
fn object_encoding_reports_int_embstr_raw() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "i", "12345"]);
    q::<()>(&mut c, &["SET", "e", "short"]);
    q::<()>(&mut c, &["SET", "r", &"x".repeat(100)]);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "i"]), b("int"));
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "e"]), b("embstr"));
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "r"]), b("raw"));
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "missing"]), Value::Nil);
    // APPEND turns a string raw.
    q::<()>(&mut c, &["APPEND", "e", "!"]);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "e"]), b("raw"));
}

#[test]
fn object_idletime_refcount_help() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v"]);
    let idle: i64 = q(&mut c, &["OBJECT", "IDLETIME", "k"]);
    assert!((0..=2).contains(&idle), "idle {idle}");
    assert_eq!(q::<i64>(&mut c, &["OBJECT", "REFCOUNT", "k"]), 1);
    // Integers below 10000 are Redis's shared objects, unless an LRU/LFU limit is in force.
    let shared = i64::from(i32::MAX);
    for (value, rc) in [
        ("9999", shared),
        ("0", shared),
        ("10000", 1),
        ("-1", 1),
        ("07", 1),
    ] {
        q::<()>(&mut c, &["SET", "n", value]);
        assert_eq!(
            q::<i64>(&mut c, &["OBJECT", "REFCOUNT", "n"]),
            rc,
            "{value}"
        );
    }
    q::<()>(&mut c, &["SET", "n", "5"]);
    q::<()>(
        &mut c,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    );
    assert_eq!(q::<i64>(&mut c, &["OBJECT", "REFCOUNT", "n"]), shared);
    q::<()>(&mut c, &["CONFIG", "SET", "maxmemory", "1gb"]);
    q::<()>(&mut c, &["SET", "n", "5"]);
    assert_eq!(q::<i64>(&mut c, &["OBJECT", "REFCOUNT", "n"]), 1);
    q::<()>(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(qv(&mut c, &["OBJECT", "IDLETIME", "missing"]), Value::Nil);
    assert_eq!(qv(&mut c, &["OBJECT", "REFCOUNT", "missing"]), Value::Nil);
    let help = qv(&mut c, &["OBJECT", "HELP"]);
    let Value::Array(lines) = help else {
        panic!("OBJECT HELP must be an array: {help:?}")
    };
    let first = vstr(&lines[0]).expect("line");
    assert!(first.starts_with("OBJECT <subcommand>"), "{first}");
    let all: Vec<String> = lines.iter().filter_map(vstr).collect();
    for sub in ["ENCODING", "FREQ", "IDLETIME", "REFCOUNT"] {
        assert!(
            all.iter().any(|l| l.starts_with(sub)),
            "help mentions {sub}"
        );
    }
    assert_eq!(
        qerr(&mut c, &["OBJECT", "FOO"]),
        "ERR unknown subcommand 'FOO'. Try OBJECT HELP."
    );
}

#[test]
fn object_freq_needs_an_lfu_policy() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v"]);
    assert_eq!(
        qerr(&mut c, &["OBJECT", "FREQ", "k"]),
        "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
    );
    q::<()>(
        &mut c,
        &["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"],
    );
    for _ in 0..10 {
        q::<Value>(&mut c, &["GET", "k"]);
    }
    let f: i64 = q(&mut c, &["OBJECT", "FREQ", "k"]);
    assert!(f >= 1, "freq {f}");
}

#[test]
fn ttl_and_pttl_for_missing_persistent_and_volatile_keys() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(q::<i64>(&mut c, &["TTL", "missing"]), -2);
    assert_eq!(q::<i64>(&mut c, &["PTTL", "missing"]), -2);
    assert_eq!(q::<i64>(&mut c, &["EXPIRETIME", "missing"]), -2);
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "missing"]), -2);
    q::<()>(&mut c, &["SET", "k", "v"]);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -1);
    assert_eq!(q::<i64>(&mut c, &["PTTL", "k"]), -1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRETIME", "k"]), -1);
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "k"]), -1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "100"]), 1);
    let ttl: i64 = q(&mut c, &["TTL", "k"]);
    assert!((99..=100).contains(&ttl));
    let et: i64 = q(&mut c, &["EXPIRETIME", "k"]);
    assert!((et - (now_ms() / 1000 + 100)).abs() <= 2, "expiretime {et}");
    let pet: i64 = q(&mut c, &["PEXPIRETIME", "k"]);
    assert!(
        (pet - (now_ms() + 100_000)).abs() <= 2_000,
        "pexpiretime {pet}"
    );
}

#[test]
fn expire_family_sets_ttls() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["MSET", "a", "1", "b", "1", "c", "1", "d", "1"]);
    assert_eq!(q::<i64>(&mut c, &["PEXPIRE", "a", "100000"]), 1);
    let pttl: i64 = q(&mut c, &["PTTL", "a"]);
    assert!((98_000..=100_000).contains(&pttl));
    let at = now_ms() / 1000 + 500;
    assert_eq!(q::<i64>(&mut c, &["EXPIREAT", "b", &at.to_string()]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRETIME", "b"]), at);
    let pat = now_ms() + 300_000;
    assert_eq!(q::<i64>(&mut c, &["PEXPIREAT", "c", &pat.to_string()]), 1);
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "c"]), pat);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "missing", "100"]), 0);
    assert_eq!(
        qerr(&mut c, &["EXPIRE", "d", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["EXPIRE", "d", "9223372036854775807"]),
        "ERR invalid expire time in 'expire' command"
    );
    assert_eq!(
        qerr(&mut c, &["PEXPIRE", "d", "9223372036854775807"]),
        "ERR invalid expire time in 'pexpire' command"
    );
    assert_eq!(
        qerr(&mut c, &["EXPIRE", "d", "10", "FOO"]),
        "ERR Unsupported option FOO"
    );
}

#[test]
fn expire_nx_xx_gt_lt_conditions() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v"]);
    // No TTL: XX and GT fail (no TTL counts as infinite), NX and LT succeed.
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "100", "XX"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "100", "GT"]), 0);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "100", "LT"]), 1);
    q::<i64>(&mut c, &["PERSIST", "k"]);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "100", "NX"]), 1);
    // With a TTL of 100.
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "200", "NX"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "50", "GT"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "200", "GT"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "300", "LT"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "150", "LT"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "120", "XX"]), 1);
    let ttl: i64 = q(&mut c, &["TTL", "k"]);
    assert!((119..=120).contains(&ttl), "ttl {ttl}");
    // The same flags on the other variants.
    assert_eq!(q::<i64>(&mut c, &["PEXPIRE", "k", "1000", "GT"]), 0);
    let at = (now_ms() + 1_000_000).to_string();
    assert_eq!(q::<i64>(&mut c, &["PEXPIREAT", "k", &at, "GT"]), 1);
    let at_s = (now_ms() / 1000 + 10).to_string();
    assert_eq!(q::<i64>(&mut c, &["EXPIREAT", "k", &at_s, "LT"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIREAT", "k", &at_s, "NX"]), 0);

    assert_eq!(
        qerr(&mut c, &["EXPIRE", "k", "10", "NX", "XX"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        qerr(&mut c, &["EXPIRE", "k", "10", "NX", "GT"]),
        "ERR NX and XX, GT or LT options at the same time are not compatible"
    );
    assert_eq!(
        qerr(&mut c, &["EXPIRE", "k", "10", "GT", "LT"]),
        "ERR GT and LT options at the same time are not compatible"
    );
}

#[test]
fn expire_with_non_positive_ttl_deletes_the_key() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["MSET", "a", "1", "b", "1"]);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "a", "0"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a"]), 0);
    assert_eq!(q::<i64>(&mut c, &["PEXPIRE", "b", "-100"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "b"]), 0);
}

#[test]
fn past_expireat_deletes_at_once() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v"]);
    q::<()>(&mut c, &["SET", "p", "v"]);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 2);
    assert_eq!(q::<i64>(&mut c, &["EXPIREAT", "k", "1"]), 1);
    assert_eq!(q::<i64>(&mut c, &["PEXPIREAT", "p", "1"]), 1);
    // Gone from DBSIZE immediately, without being read.
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k", "p"]), 0);
}

#[test]
fn persist_removes_the_ttl() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v", "EX", "100"]);
    assert_eq!(q::<i64>(&mut c, &["PERSIST", "k"]), 1);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -1);
    assert_eq!(q::<i64>(&mut c, &["PERSIST", "k"]), 0);
    assert_eq!(q::<i64>(&mut c, &["PERSIST", "missing"]), 0);
}

#[test]
fn key_with_short_ttl_is_lazily_expired_on_get() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v", "PX", "50"]);
    assert!(
        poll_until(Duration::from_secs(3), || qv(&mut c, &["GET", "k"])
            == Value::Nil),
        "key still readable after its TTL"
    );
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -2);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
}

#[test]
fn expired_key_is_removed_by_the_active_cycle_without_being_read() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v", "PX", "100"]);
    q::<()>(&mut c, &["SET", "keep", "v"]);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 2);
    // Only DBSIZE is polled: it must not touch the key.
    assert!(
        poll_until(Duration::from_secs(2), || q::<i64>(&mut c, &["DBSIZE"])
            == 1),
        "a 100 ms key still counted by DBSIZE after 2 s"
    );
}

#[test]
fn many_expiring_keys_are_all_reclaimed() {
    let srv = Server::start();
    let mut c = srv.conn();
    for i in 0..1000 {
        q::<()>(&mut c, &["SET", &format!("t:{i}"), "v", "PX", "100"]);
    }
    q::<()>(&mut c, &["SET", "keep", "v"]);
    assert!(
        poll_until(Duration::from_secs(5), || q::<i64>(&mut c, &["DBSIZE"])
            == 1),
        "expired keys still counted after 5 s: {}",
        q::<i64>(&mut c, &["DBSIZE"])
    );
}

fn dump(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    redis::cmd("DUMP").arg(key).query(c).expect("dump")
}

fn restore(
    c: &mut redis::Connection,
    key: &str,
    ttl: &str,
    payload: &[u8],
    extra: &[&str],
) -> redis::RedisResult<Value> {
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg(key).arg(ttl).arg(payload);
    for e in extra {
        cmd.arg(*e);
    }
    cmd.query(c)
}

/// RESTORE builds a collection under the compact-form limits in force, as Redis's loader
/// converts: a payload DUMPed as a listpack or intset lands as a hashtable or skiplist when the
/// limits were lowered since.
#[test]
fn restore_converts_by_the_limits_in_force() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["HSET", "h", "a", "1", "b", "2", "c", "3"]);
    // 200 integers: more than an intset may now hold and than a listpack may (Redis 7.2 and
    // Eddy would take a listpack for a few).
    let ints: Vec<String> = (0..200).map(|i| i.to_string()).collect();
    let mut sadd = vec!["SADD", "s"];
    sadd.extend(ints.iter().map(String::as_str));
    q::<()>(&mut c, &sadd);
    q::<()>(&mut c, &["ZADD", "z", "1", "a", "2", "b"]);
    let (h, s, z) = (dump(&mut c, "h"), dump(&mut c, "s"), dump(&mut c, "z"));
    for (key, before) in [("h", "listpack"), ("s", "intset"), ("z", "listpack")] {
        assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", key]), before);
    }
    for (opt, val) in [
        ("hash-max-listpack-entries", "2"),
        ("set-max-intset-entries", "150"),
        ("zset-max-listpack-entries", "0"),
    ] {
        q::<()>(&mut c, &["CONFIG", "SET", opt, val]);
    }
    for (key, payload, after) in [
        ("h2", &h, "hashtable"),
        ("s2", &s, "hashtable"),
        ("z2", &z, "skiplist"),
    ] {
        restore(&mut c, key, "0", payload, &[]).expect("restore");
        assert_eq!(
            q::<String>(&mut c, &["OBJECT", "ENCODING", key]),
            after,
            "{key}"
        );
    }
    assert_eq!(q::<i64>(&mut c, &["HLEN", "h2"]), 3);
    assert_eq!(q::<i64>(&mut c, &["SCARD", "s2"]), 200);
    assert_eq!(q::<f64>(&mut c, &["ZSCORE", "z2", "b"]), 2.0);
}

#[test]
fn dump_restore_round_trip() {
    let srv = Server::start();
    let mut c = srv.conn();
    let val: Vec<u8> = (0..=255u8).collect();
    redis::cmd("SET")
        .arg("src")
        .arg(&val[..])
        .query::<()>(&mut c)
        .expect("set");
    q::<()>(&mut c, &["SET", "int", "123456"]);
    assert_eq!(qv(&mut c, &["DUMP", "missing"]), Value::Nil);
    let payload = dump(&mut c, "src");
    assert_eq!(
        restore(&mut c, "dst", "0", &payload, &[]).expect("restore"),
        Value::Okay
    );
    let got: Vec<u8> = redis::cmd("GET").arg("dst").query(&mut c).expect("get");
    assert_eq!(got, val);
    assert_eq!(q::<i64>(&mut c, &["TTL", "dst"]), -1);

    let p2 = dump(&mut c, "int");
    restore(&mut c, "int2", "0", &p2, &[]).expect("restore int");
    assert_eq!(qv(&mut c, &["GET", "int2"]), b("123456"));
}

#[test]
fn restore_with_ttl_replace_and_absttl() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "src", "v"]);
    let payload = dump(&mut c, "src");
    restore(&mut c, "t", "100000", &payload, &[]).expect("restore");
    let pttl: i64 = q(&mut c, &["PTTL", "t"]);
    assert!((98_000..=100_000).contains(&pttl), "pttl {pttl}");

    let e = restore(&mut c, "t", "0", &payload, &[]).expect_err("busy");
    assert_eq!(
        common::err_text(&e),
        "BUSYKEY Target key name already exists."
    );
    q::<()>(&mut c, &["SET", "t", "other"]);
    restore(&mut c, "t", "0", &payload, &["REPLACE"]).expect("replace");
    assert_eq!(qv(&mut c, &["GET", "t"]), b("v"));
    assert_eq!(q::<i64>(&mut c, &["TTL", "t"]), -1);

    let at = now_ms() + 200_000;
    restore(&mut c, "a", &at.to_string(), &payload, &["ABSTTL"]).expect("absttl");
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "a"]), at);
    // An absolute time in the past restores nothing.
    restore(&mut c, "gone", "1", &payload, &["ABSTTL"]).expect("past absttl");
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "gone"]), 0);

    let e = restore(&mut c, "x", "-1", &payload, &[]).expect_err("negative ttl");
    assert_eq!(common::err_text(&e), "ERR Invalid TTL value, must be >= 0");
    let e = restore(&mut c, "x", "0", &payload, &["FOO"]).expect_err("bad option");
    assert_eq!(common::err_text(&e), "ERR syntax error");
}

#[test]
fn restore_checks_options_then_the_key_then_the_ttl_as_redis_does() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "src", "v"]);
    let payload = dump(&mut c, "src");
    // A bad option comes first, even before a TTL that is not a number.
    let e = restore(&mut c, "src", "soon", &payload, &["FOO"]).expect_err("bad option");
    assert_eq!(common::err_text(&e), "ERR syntax error");
    // Then the key: an existing one is refused before its TTL or payload is read.
    let e = restore(&mut c, "src", "soon", b"junk", &[]).expect_err("busy");
    assert_eq!(
        common::err_text(&e),
        "BUSYKEY Target key name already exists."
    );
    let e = restore(&mut c, "new", "soon", b"junk", &[]).expect_err("ttl");
    assert_eq!(
        common::err_text(&e),
        "ERR value is not an integer or out of range"
    );
    let e = restore(&mut c, "new", "-5", b"junk", &[]).expect_err("negative ttl");
    assert_eq!(common::err_text(&e), "ERR Invalid TTL value, must be >= 0");
    let e = restore(&mut c, "new", "0", b"junk", &[]).expect_err("payload");
    assert_eq!(
        common::err_text(&e),
        "ERR DUMP payload version or checksum are wrong"
    );
    // RESTORE-ASKING, which a cluster sends while migrating, is RESTORE outside a cluster.
    let mut cmd = redis::cmd("RESTORE-ASKING");
    cmd.arg("copy").arg("0").arg(&payload[..]);
    assert_eq!(
        cmd.query::<Value>(&mut c).expect("restore-asking"),
        Value::Okay
    );
    assert_eq!(qv(&mut c, &["GET", "copy"]), b("v"));
    let e = cmd.query::<Value>(&mut c).expect_err("busy");
    assert_eq!(
        common::err_text(&e),
        "BUSYKEY Target key name already exists."
    );
}

#[test]
fn restore_rejects_a_corrupted_payload() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "src", "hello world"]);
    let mut payload = dump(&mut c, "src");
    let mid = payload.len() / 2;
    payload[mid] ^= 0xff;
    let e = restore(&mut c, "dst", "0", &payload, &[]).expect_err("corrupt");
    assert_eq!(
        common::err_text(&e),
        "ERR DUMP payload version or checksum are wrong"
    );
    let e = restore(&mut c, "dst", "0", b"abc", &[]).expect_err("garbage");
    assert_eq!(
        common::err_text(&e),
        "ERR DUMP payload version or checksum are wrong"
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "dst"]), 0);
}

#[test]
fn restore_accepts_a_payload_dumped_by_redis_7() {
    let srv = Server::start();
    let mut c = srv.conn();
    // DUMP of the string "hello" from Redis 7.0 (RDB version 10, CRC-64/Jones trailer).
    let payload: &[u8] = b"\x00\x05hello\x0a\x00\x63\x72\xdf\x76\x65\x34\x20\x0a";
    restore(&mut c, "k", "0", payload, &[]).expect("restore a Redis payload");
    assert_eq!(qv(&mut c, &["GET", "k"]), b("hello"));
    // And an integer-encoded string (12345).
    let payload: &[u8] = b"\x00\xc1\x39\x30\x0a\x00\x9d\x94\xea\x27\x93\xfc\x08\xb9";
    restore(&mut c, "n", "0", payload, &[]).expect("restore a Redis int payload");
    assert_eq!(qv(&mut c, &["GET", "n"]), b("12345"));
}

#[test]
fn sixteen_databases_are_independent() {
    let srv = Server::start();
    let mut c = srv.conn();
    for db in 0..16 {
        assert_eq!(qv(&mut c, &["SELECT", &db.to_string()]), Value::Okay);
        q::<()>(&mut c, &["SET", "k", &format!("db{db}")]);
    }
    for db in 0..16 {
        q::<()>(&mut c, &["SELECT", &db.to_string()]);
        assert_eq!(qv(&mut c, &["GET", "k"]), b(&format!("db{db}")));
        assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 1);
    }
    assert_eq!(
        qerr(&mut c, &["SELECT", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        qerr(&mut c, &["SELECT", "-1"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        qerr(&mut c, &["SELECT", "abc"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn databases_option_sets_the_count() {
    let srv = Server::start_with(&["--databases", "4"]);
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["SELECT", "3"]), Value::Okay);
    assert_eq!(
        qerr(&mut c, &["SELECT", "4"]),
        "ERR DB index is out of range"
    );
}

#[test]
fn move_transfers_a_key_between_databases() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v", "EX", "100"]);
    assert_eq!(q::<i64>(&mut c, &["MOVE", "k", "1"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
    assert_eq!(q::<i64>(&mut c, &["MOVE", "missing", "1"]), 0);
    q::<()>(&mut c, &["SET", "k", "here"]);
    assert_eq!(q::<i64>(&mut c, &["MOVE", "k", "1"]), 0, "target exists");
    assert_eq!(qv(&mut c, &["GET", "k"]), b("here"));
    q::<()>(&mut c, &["SELECT", "1"]);
    assert_eq!(qv(&mut c, &["GET", "k"]), b("v"));
    assert!(q::<i64>(&mut c, &["TTL", "k"]) > 0, "MOVE keeps the TTL");
    assert_eq!(
        qerr(&mut c, &["MOVE", "k", "1"]),
        "ERR source and destination objects are the same"
    );
    assert_eq!(
        qerr(&mut c, &["MOVE", "k", "16"]),
        "ERR DB index is out of range"
    );
}

#[test]
fn swapdb_exchanges_contents_for_all_clients() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut other = srv.conn();
    q::<()>(&mut c, &["SET", "a", "in0"]);
    q::<()>(&mut c, &["SELECT", "1"]);
    q::<()>(&mut c, &["SET", "b", "in1"]);
    q::<()>(&mut c, &["SELECT", "0"]);
    assert_eq!(qv(&mut c, &["SWAPDB", "0", "1"]), Value::Okay);
    assert_eq!(qv(&mut c, &["GET", "b"]), b("in1"));
    assert_eq!(qv(&mut other, &["GET", "a"]), Value::Nil);
    assert_eq!(qv(&mut other, &["GET", "b"]), b("in1"));
    q::<()>(&mut c, &["SELECT", "1"]);
    assert_eq!(qv(&mut c, &["GET", "a"]), b("in0"));
    assert_eq!(
        qerr(&mut c, &["SWAPDB", "0", "16"]),
        "ERR DB index is out of range"
    );
    assert_eq!(
        qerr(&mut c, &["SWAPDB", "a", "1"]),
        "ERR invalid first DB index"
    );
    assert_eq!(
        qerr(&mut c, &["SWAPDB", "0", "b"]),
        "ERR invalid second DB index"
    );
}

#[test]
fn flushdb_and_flushall() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["MSET", "a", "1", "b", "2"]);
    q::<()>(&mut c, &["SELECT", "2"]);
    q::<()>(&mut c, &["SET", "c", "3"]);
    assert_eq!(qv(&mut c, &["FLUSHDB"]), Value::Okay);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0);
    q::<()>(&mut c, &["SELECT", "0"]);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 2);
    assert_eq!(qv(&mut c, &["FLUSHDB", "SYNC"]), Value::Okay);
    q::<()>(&mut c, &["SET", "x", "1"]);
    q::<()>(&mut c, &["SELECT", "3"]);
    q::<()>(&mut c, &["SET", "y", "1"]);
    assert_eq!(qv(&mut c, &["FLUSHALL", "ASYNC"]), Value::Okay);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0);
    q::<()>(&mut c, &["SELECT", "0"]);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0);
    assert_eq!(qerr(&mut c, &["FLUSHDB", "FOO"]), "ERR syntax error");
    assert_eq!(qerr(&mut c, &["FLUSHALL", "FOO"]), "ERR syntax error");
}

#[test]
fn dbsize_counts_keys_in_the_selected_db() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0);
    q::<()>(&mut c, &["MSET", "a", "1", "b", "2", "c", "3"]);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 3);
    q::<()>(&mut c, &["SELECT", "9"]);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0);
}

#[test]
fn ttl_rounds_to_the_nearest_second() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v", "PX", "100700"]);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), 101);
}

#[test]
fn object_encoding_follows_redis_string_rules() {
    let srv = Server::start();
    let mut c = srv.conn();
    for (value, enc) in [
        ("-5", "int"),
        ("0", "int"),
        ("12345678901234567890", "embstr"),
        (" 5", "embstr"),
        ("05", "embstr"),
        ("", "embstr"),
        (&"x".repeat(44), "embstr"),
        (&"x".repeat(45), "raw"),
    ] {
        q::<()>(&mut c, &["SET", "k", value]);
        assert_eq!(
            qv(&mut c, &["OBJECT", "ENCODING", "k"]),
            b(enc),
            "encoding of {value:?}"
        );
    }
}

#[test]
fn keys_and_scan_skip_logically_expired_keys() {
    let srv = Server::start_with(&if common::reference_mode() {
        vec!["--enable-debug-command", "yes"]
    } else {
        vec![]
    });
    let mut c = srv.conn();
    assert_eq!(
        qv(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        Value::Okay
    );
    q::<()>(&mut c, &["SET", "live", "v"]);
    q::<()>(&mut c, &["SET", "dead", "v", "PX", "20"]);
    // Let the TTL pass (active expiry is off, so the key stays in memory).
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(sorted_strings(qv(&mut c, &["KEYS", "*"])), ["live"]);
    assert_eq!(scan_all(&mut c, &[]), ["live"]);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "dead"]), 0);
    assert_eq!(q::<i64>(&mut c, &["TTL", "dead"]), -2);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "dead", "100"]), 0);
    assert_eq!(q::<i64>(&mut c, &["PERSIST", "dead"]), 0);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 1);
}

#[test]
fn restore_with_idletime_sets_the_idle_time() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "src", "v"]);
    let payload = dump(&mut c, "src");
    restore(&mut c, "dst", "0", &payload, &["IDLETIME", "1000"]).expect("restore");
    let idle: i64 = q(&mut c, &["OBJECT", "IDLETIME", "dst"]);
    assert!((1000..=1002).contains(&idle), "idle {idle}");
}

#[test]
fn copy_to_another_db_does_not_overwrite_without_replace() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "new"]);
    q::<()>(&mut c, &["SELECT", "1"]);
    q::<()>(&mut c, &["SET", "k", "old"]);
    q::<()>(&mut c, &["SELECT", "0"]);
    assert_eq!(q::<i64>(&mut c, &["COPY", "k", "k", "DB", "1"]), 0);
    assert_eq!(
        q::<i64>(&mut c, &["COPY", "k", "k", "DB", "1", "REPLACE"]),
        1
    );
    q::<()>(&mut c, &["SELECT", "1"]);
    assert_eq!(qv(&mut c, &["GET", "k"]), b("new"));
}

#[test]
fn redis_url_selects_the_database() {
    let srv = Server::start();
    let client =
        redis::Client::open(format!("redis://127.0.0.1:{}/3", srv.port())).expect("client");
    let mut c3 = client.get_connection().expect("connect");
    q::<()>(&mut c3, &["SET", "k", "in3"]);
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["GET", "k"]), Value::Nil);
    q::<()>(&mut c, &["SELECT", "3"]);
    assert_eq!(qv(&mut c, &["GET", "k"]), b("in3"));
}

/// CLIENT NO-TOUCH ON: the client's reads leave the keys' access clock (LRU/LFU, which
/// eviction uses) alone, except TOUCH, whose job it is. Redis 7.2's behaviour.
#[test]
fn no_touch_clients_read_without_updating_the_access_clock() {
    if !common::eddy_only("no_touch_clients_read_without_updating_the_access_clock") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "src", "v"]);
    let dump: Vec<u8> = q(&mut c, &["DUMP", "src"]);
    let idle_key = |c: &mut redis::Connection, key: &str| {
        redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(&dump)
            .arg("REPLACE")
            .arg("IDLETIME")
            .arg(1000)
            .query::<()>(c)
            .expect("restore");
    };
    let idle = |c: &mut redis::Connection, key: &str| q::<i64>(c, &["OBJECT", "IDLETIME", key]);
    idle_key(&mut c, "k");
    q::<()>(&mut c, &["CLIENT", "NO-TOUCH", "ON"]);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    assert!(idle(&mut c, "k") >= 1000, "a NO-TOUCH read moved the clock");
    assert_eq!(q::<i64>(&mut c, &["TOUCH", "k"]), 1);
    assert!(
        idle(&mut c, "k") < 1000,
        "TOUCH touches even in NO-TOUCH mode"
    );
    idle_key(&mut c, "k");
    q::<()>(&mut c, &["CLIENT", "NO-TOUCH", "OFF"]);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    assert!(idle(&mut c, "k") < 1000, "a read touches again");
}

/// MIGRATE moves keys to another server with Redis's replies: one key or `KEYS`, TTLs kept,
/// `COPY`, `REPLACE`, `AUTH`, `NOKEY`, the target's errors passed on (the key stays), and the
/// I/O and argument errors. Holds with redis-server as both servers too.
#[test]
fn migrate_moves_keys_to_another_server() {
    let src = Server::start();
    let dst = Server::start_with(&["--requirepass", "pw"]);
    let mut c = src.conn();
    let mut d = dst.conn();
    q::<()>(&mut d, &["AUTH", "pw"]);
    let port = dst.port().to_string();
    let mig = |c: &mut redis::Connection, rest: &[&str]| -> Result<String, String> {
        let mut args = vec!["MIGRATE", "127.0.0.1", port.as_str()];
        args.extend_from_slice(rest);
        match common::cmd(&args).query::<String>(c) {
            Ok(v) => Ok(v),
            Err(e) => Err(common::err_text(&e)),
        }
    };
    q::<()>(&mut c, &["SET", "a", "1"]);
    q::<()>(&mut c, &["RPUSH", "l", "x", "y"]);
    q::<()>(&mut c, &["SET", "t", "v", "PX", "100000"]);
    q::<()>(&mut c, &["HSET", "h", "f", "v"]);

    // Without the target's password: its error, and the key stays.
    let e = mig(&mut c, &["a", "0", "5000"]).unwrap_err();
    assert_eq!(
        e,
        "ERR Target instance replied with error: NOAUTH Authentication required."
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a"]), 1);
    let e = mig(&mut c, &["a", "0", "5000", "AUTH", "nope"]).unwrap_err();
    assert!(
        e.starts_with("ERR Target instance replied with error: WRONGPASS"),
        "{e}"
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a"]), 1);

    q::<()>(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    let moved = mig(&mut c, &["a", "0", "5000", "AUTH", "pw"]);
    q::<()>(
        &mut c,
        &["CONFIG", "SET", "slowlog-log-slower-than", "10000"],
    );
    assert_eq!(moved, Ok("OK".into()));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "a"]), 0);
    // The target's password is not kept in the slow log.
    let Value::Array(log) = qv(&mut c, &["SLOWLOG", "GET"]) else {
        panic!("SLOWLOG GET")
    };
    let logged = log.iter().find_map(|e| match e {
        Value::Array(f) => match f.get(3) {
            Some(Value::Array(args)) if vstr(&args[0]).as_deref() == Some("MIGRATE") => {
                Some(args.iter().map(|a| vstr(a).unwrap()).collect::<Vec<_>>())
            }
            _ => None,
        },
        _ => None,
    });
    assert_eq!(logged.unwrap()[6..], ["AUTH", "(redacted)"]);
    assert_eq!(q::<String>(&mut d, &["GET", "a"]), "1");

    // Several keys into another database; a missing one is skipped; TTLs go along.
    let r = mig(
        &mut c,
        &[
            "", "2", "5000", "AUTH2", "default", "pw", "KEYS", "l", "t", "missing",
        ],
    );
    assert_eq!(r, Ok("OK".into()));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "l", "t"]), 0);
    q::<()>(&mut d, &["SELECT", "2"]);
    assert_eq!(
        q::<Vec<String>>(&mut d, &["LRANGE", "l", "0", "-1"]),
        ["x", "y"]
    );
    let pttl = q::<i64>(&mut d, &["PTTL", "t"]);
    assert!(pttl > 0 && pttl <= 100_000, "{pttl}");
    q::<()>(&mut d, &["SELECT", "0"]);

    // COPY keeps the key; without REPLACE the target refuses an existing key.
    let copied = mig(&mut c, &["h", "0", "5000", "COPY", "AUTH", "pw"]);
    assert_eq!(copied, Ok("OK".into()));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "h"]), 1);
    assert_eq!(
        mig(&mut c, &["h", "0", "5000", "AUTH", "pw"]).unwrap_err(),
        "ERR Target instance replied with error: BUSYKEY Target key name already exists."
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "h"]), 1);
    q::<()>(&mut c, &["HSET", "h", "g", "w"]);
    let replaced = mig(&mut c, &["h", "0", "5000", "REPLACE", "AUTH", "pw"]);
    assert_eq!(replaced, Ok("OK".into()));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "h"]), 0);
    assert_eq!(q::<i64>(&mut d, &["HLEN", "h"]), 2);

    // Nothing to move, a database the target lacks, and argument errors.
    assert_eq!(mig(&mut c, &["nokey", "0", "5000"]), Ok("NOKEY".into()));
    q::<()>(&mut c, &["SET", "k", "v"]);
    assert_eq!(
        mig(&mut c, &["k", "99", "5000", "AUTH", "pw"]).unwrap_err(),
        "ERR Target instance replied with error: ERR DB index is out of range"
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 1);
    assert_eq!(
        mig(&mut c, &["k", "0", "5000", "KEYS", "k"]).unwrap_err(),
        "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string"
    );
    assert_eq!(
        mig(&mut c, &["k", "0", "soon"]).unwrap_err(),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        mig(&mut c, &["k", "db", "5000"]).unwrap_err(),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        mig(&mut c, &["k", "0", "5000", "AUTH"]).unwrap_err(),
        "ERR syntax error"
    );
    // Nobody listens there: Redis learns it when it writes, and says so.
    let closed = common::free_port().to_string();
    let e = qerr(&mut c, &["MIGRATE", "127.0.0.1", &closed, "k", "0", "1000"]);
    assert_eq!(e, "IOERR error or timeout writing to target instance");
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 1);
    // A host that does not resolve.
    let e = qerr(
        &mut c,
        &["MIGRATE", "no-such-host.invalid", "6379", "k", "0", "1000"],
    );
    assert_eq!(e, "IOERR error or timeout connecting to the client");
}

/// Eddy transfers without blocking the server, so a key written between its DUMP and the
/// target's acknowledgement is kept rather than deleted; the feed records each key MIGRATE
/// deletes as `del`. Inside MULTI MIGRATE is refused.
#[test]
fn migrate_deletes_only_what_it_sent() {
    if !common::eddy_only("migrate_deletes_only_what_it_sent") {
        return;
    }
    let src = Server::start();
    let dst = Server::start();
    let mut c = src.conn();
    let mut d = dst.conn();
    let port = dst.port().to_string();
    q::<()>(&mut c, &["SET", "moved", "1"]);
    q::<()>(&mut c, &["SET", "kept", "1"]);
    // The target holds the RESTOREs back until it is unpaused.
    q::<()>(&mut d, &["CLIENT", "PAUSE", "60000", "WRITE"]);
    let mut m = src.raw();
    m.send_cmd(&[
        "MIGRATE",
        "127.0.0.1",
        &port,
        "",
        "0",
        "5000",
        "KEYS",
        "moved",
        "kept",
    ]);
    assert!(common::blocked_clients_reach(&mut d, 1));
    // Meanwhile the source serves its other clients.
    q::<()>(&mut c, &["SET", "kept", "2"]);
    q::<()>(&mut d, &["CLIENT", "UNPAUSE"]);
    assert_eq!(m.read_reply(), common::Resp::Simple("OK".into()));
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "moved"]), None);
    assert_eq!(q::<String>(&mut c, &["GET", "kept"]), "2");
    assert_eq!(
        q::<Vec<String>>(&mut d, &["MGET", "moved", "kept"]),
        ["1", "1"]
    );
    let dels: Vec<String> = common::changes_read(&mut c, &["earliest"])
        .into_iter()
        .filter(|e| e.event == "del")
        .map(|e| e.key)
        .collect();
    assert_eq!(dels, ["moved"]);

    q::<()>(&mut c, &["MULTI"]);
    assert_eq!(
        qerr(
            &mut c,
            &["MIGRATE", "127.0.0.1", &port, "kept", "0", "5000"]
        ),
        "ERR Command not allowed inside a transaction"
    );
    q::<()>(&mut c, &["DISCARD"]);
}
