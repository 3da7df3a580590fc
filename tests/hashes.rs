//! Hash commands through the `redis` crate on RESP2 and RESP3: replies, errors, encodings,
//! empty-hash deletion, the recorded change events, DUMP/RESTORE, and a model-based run of
//! random commands against an in-test model.

mod common;

use std::collections::BTreeMap;

use common::{eddy_only, q, qerr, qv, vget, Rng, Server};
use redis::Value;

fn b(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[test]
fn hset_hget_and_friends_reply_as_redis() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let k = format!("h-{proto}");
        assert_eq!(qv(&mut c, &["HSET", &k, "a", "1", "b", "2"]), Value::Int(2));
        assert_eq!(qv(&mut c, &["HSET", &k, "a", "9", "c", "3"]), Value::Int(1));
        assert_eq!(qv(&mut c, &["HMSET", &k, "d", "4"]), Value::Okay);
        assert_eq!(qv(&mut c, &["HSETNX", &k, "a", "x"]), Value::Int(0));
        assert_eq!(qv(&mut c, &["HSETNX", &k, "e", "5"]), Value::Int(1));
        assert_eq!(qv(&mut c, &["HGET", &k, "a"]), b("9"));
        assert_eq!(qv(&mut c, &["HGET", &k, "zz"]), Value::Nil);
        assert_eq!(qv(&mut c, &["HGET", "nokey", "a"]), Value::Nil);
        assert_eq!(
            qv(&mut c, &["HMGET", &k, "a", "zz", "b"]),
            Value::Array(vec![b("9"), Value::Nil, b("2")])
        );
        assert_eq!(qv(&mut c, &["HLEN", &k]), Value::Int(5));
        assert_eq!(qv(&mut c, &["HSTRLEN", &k, "a"]), Value::Int(1));
        assert_eq!(qv(&mut c, &["HSTRLEN", &k, "zz"]), Value::Int(0));
        assert_eq!(qv(&mut c, &["HEXISTS", &k, "a"]), Value::Int(1));
        assert_eq!(qv(&mut c, &["HEXISTS", &k, "zz"]), Value::Int(0));
        assert_eq!(
            qv(&mut c, &["HKEYS", &k]),
            Value::Array(vec![b("a"), b("b"), b("c"), b("d"), b("e")])
        );
        assert_eq!(
            qv(&mut c, &["HVALS", &k]),
            Value::Array(vec![b("9"), b("2"), b("3"), b("4"), b("5")])
        );
        let all = qv(&mut c, &["HGETALL", &k]);
        if proto == "resp3" {
            assert!(matches!(all, Value::Map(_)), "{all:?}");
        }
        assert_eq!(vget(&all, "c"), Some(b("3")));
        let all: BTreeMap<String, String> = q(&mut c, &["HGETALL", &k]);
        assert_eq!(all.len(), 5);
        assert_eq!(
            qerr(&mut c, &["HSET", &k, "a"]),
            "ERR wrong number of arguments for 'hset' command"
        );
        assert_eq!(
            qerr(&mut c, &["HMSET", &k, "a", "1", "b"]),
            "ERR wrong number of arguments for 'hmset' command"
        );
    }
}

#[test]
fn hincrby_and_hincrbyfloat_follow_redis_rules() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["HINCRBY", "h", "n", "5"]), Value::Int(5));
    assert_eq!(qv(&mut c, &["HINCRBY", "h", "n", "-7"]), Value::Int(-2));
    assert_eq!(
        qerr(&mut c, &["HINCRBY", "h", "n", "x"]),
        "ERR value is not an integer or out of range"
    );
    q::<()>(
        &mut c,
        &["HSET", "h", "s", "foo", "big", "9223372036854775807"],
    );
    assert_eq!(
        qerr(&mut c, &["HINCRBY", "h", "s", "1"]),
        "ERR hash value is not an integer"
    );
    assert_eq!(
        qerr(&mut c, &["HINCRBY", "h", "big", "1"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(qv(&mut c, &["HINCRBYFLOAT", "h", "f", "1.5"]), b("1.5"));
    assert_eq!(qv(&mut c, &["HINCRBYFLOAT", "h", "f", "0.1"]), b("1.6"));
    assert_eq!(qv(&mut c, &["HINCRBYFLOAT", "h", "g", "3.0e3"]), b("3000"));
    assert_eq!(
        qerr(&mut c, &["HINCRBYFLOAT", "h", "s", "1"]),
        "ERR hash value is not a float"
    );
    assert_eq!(
        qerr(&mut c, &["HINCRBYFLOAT", "h", "f", "abc"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        qerr(&mut c, &["HINCRBYFLOAT", "h", "f", "inf"]),
        "ERR value is NaN or Infinity"
    );
}

#[test]
fn hash_commands_on_other_types_are_wrongtype() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "str", "x"]);
    q::<()>(&mut c, &["SADD", "set", "x"]);
    for k in ["str", "set"] {
        for cmd in [
            vec!["HSET", k, "a", "1"],
            vec!["HSETNX", k, "a", "1"],
            vec!["HMSET", k, "a", "1"],
            vec!["HGET", k, "a"],
            vec!["HMGET", k, "a"],
            vec!["HDEL", k, "a"],
            vec!["HLEN", k],
            vec!["HSTRLEN", k, "a"],
            vec!["HEXISTS", k, "a"],
            vec!["HKEYS", k],
            vec!["HVALS", k],
            vec!["HGETALL", k],
            vec!["HINCRBY", k, "a", "1"],
            vec!["HINCRBYFLOAT", k, "a", "1"],
            vec!["HSCAN", k, "0"],
            vec!["HRANDFIELD", k],
        ] {
            assert_eq!(qerr(&mut c, &cmd), WRONGTYPE, "{cmd:?}");
        }
    }
    let mut h = srv.conn();
    q::<()>(&mut h, &["HSET", "hash", "a", "1"]);
    assert_eq!(qerr(&mut h, &["GET", "hash"]), WRONGTYPE);
    assert_eq!(qerr(&mut h, &["SADD", "hash", "x"]), WRONGTYPE);
}

#[test]
fn deleting_the_last_field_deletes_the_key() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["HSET", "h", "a", "1", "b", "2"]);
    assert_eq!(qv(&mut c, &["HDEL", "h", "a", "zz", "a"]), Value::Int(1));
    assert_eq!(qv(&mut c, &["EXISTS", "h"]), Value::Int(1));
    assert_eq!(qv(&mut c, &["HDEL", "h", "b"]), Value::Int(1));
    assert_eq!(qv(&mut c, &["EXISTS", "h"]), Value::Int(0));
    assert_eq!(qv(&mut c, &["HDEL", "h", "b"]), Value::Int(0));
    assert_eq!(qv(&mut c, &["HGETALL", "h"]), Value::Array(vec![]));
}

#[test]
fn encoding_is_listpack_until_a_limit_is_passed() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CONFIG", "SET", "hash-max-listpack-entries", "4"]);
    q::<()>(&mut c, &["CONFIG", "SET", "hash-max-ziplist-value", "8"]);
    for i in 0..4 {
        q::<()>(&mut c, &["HSET", "h", &format!("f{i}"), "v"]);
    }
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "h"]), b("listpack"));
    q::<()>(&mut c, &["HSET", "h", "f4", "v"]);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "h"]), b("hashtable"));
    q::<()>(&mut c, &["HSET", "h2", "f", "123456789"]);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "h2"]), b("hashtable"));
    assert_eq!(qv(&mut c, &["HGET", "h2", "f"]), b("123456789"));
}

/// HSCAN until the cursor returns to 0; returns every field seen.
fn hscan_all(c: &mut redis::Connection, key: &str, count: &str) -> Vec<String> {
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    loop {
        let (next, items): (String, Vec<String>) = q(c, &["HSCAN", key, &cursor, "COUNT", count]);
        for kv in items.chunks(2) {
            seen.push(kv[0].clone());
        }
        if next == "0" {
            return seen;
        }
        cursor = next;
    }
}

#[test]
fn hscan_returns_every_field_present_for_the_whole_scan() {
    let srv = Server::start();
    let mut c = srv.conn();
    // Compact form: everything at once with cursor 0.
    q::<()>(&mut c, &["HSET", "small", "a", "1", "b", "2"]);
    let (cur, items): (String, Vec<String>) = q(&mut c, &["HSCAN", "small", "0"]);
    assert_eq!(cur, "0");
    assert_eq!(items, ["a", "1", "b", "2"]);
    let (_, items): (String, Vec<String>) = q(&mut c, &["HSCAN", "small", "0", "MATCH", "b*"]);
    assert_eq!(items, ["b", "2"]);
    assert_eq!(qerr(&mut c, &["HSCAN", "small", "x"]), "ERR invalid cursor");
    assert_eq!(
        qerr(&mut c, &["HSCAN", "small", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    // Table form, modified between calls: every field present throughout is seen.
    for i in 0..500 {
        q::<()>(&mut c, &["HSET", "big", &format!("f{i}"), "v"]);
    }
    let mut cursor = "0".to_string();
    let mut seen = std::collections::HashSet::new();
    let mut round = 0;
    loop {
        let (next, items): (String, Vec<String>) =
            q(&mut c, &["HSCAN", "big", &cursor, "COUNT", "20"]);
        for kv in items.chunks(2) {
            seen.insert(kv[0].clone());
        }
        // Churn: delete some early fields (never 400..500) and add new ones.
        q::<()>(&mut c, &["HDEL", "big", &format!("f{round}")]);
        q::<()>(&mut c, &["HSET", "big", &format!("new{round}"), "v"]);
        round += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    for i in 100..500 {
        assert!(seen.contains(&format!("f{i}")), "f{i} missed");
    }
    let all = hscan_all(&mut c, "big", "7");
    let hlen: usize = q(&mut c, &["HLEN", "big"]);
    let uniq: std::collections::HashSet<_> = all.iter().collect();
    assert_eq!(uniq.len(), hlen);
}

#[test]
fn hrandfield_counts_and_withvalues() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let k = format!("h-{proto}");
        assert_eq!(qv(&mut c, &["HRANDFIELD", &k]), Value::Nil);
        assert_eq!(qv(&mut c, &["HRANDFIELD", &k, "3"]), Value::Array(vec![]));
        q::<()>(&mut c, &["HSET", &k, "a", "1", "b", "2", "c", "3"]);
        let one: String = q(&mut c, &["HRANDFIELD", &k]);
        assert!(["a", "b", "c"].contains(&one.as_str()));
        let two: Vec<String> = q(&mut c, &["HRANDFIELD", &k, "2"]);
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1]);
        let all: Vec<String> = q(&mut c, &["HRANDFIELD", &k, "10"]);
        assert_eq!(all.len(), 3);
        let rep: Vec<String> = q(&mut c, &["HRANDFIELD", &k, "-7"]);
        assert_eq!(rep.len(), 7);
        assert_eq!(qv(&mut c, &["HRANDFIELD", &k, "0"]), Value::Array(vec![]));
        match qv(&mut c, &["HRANDFIELD", &k, "-2", "WITHVALUES"]) {
            Value::Array(items) if proto == "resp3" => {
                assert_eq!(items.len(), 2);
                for p in items {
                    assert!(matches!(&p, Value::Array(kv) if kv.len() == 2), "{p:?}");
                }
            }
            Value::Array(items) => assert_eq!(items.len(), 4),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            qerr(&mut c, &["HRANDFIELD", &k, "1", "foo"]),
            "ERR syntax error"
        );
        assert_eq!(
            qerr(&mut c, &["HRANDFIELD", &k, "x"]),
            "ERR value is not an integer or out of range"
        );
        assert!(qerr(&mut c, &["HRANDFIELD", &k, "-9223372036854775808"])
            .starts_with("ERR value is out of range"));
    }
}

#[test]
fn a_huge_negative_count_is_refused_not_built() {
    if !eddy_only("a_huge_negative_count_is_refused_not_built") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["HSET", "h", "a", "1"]);
    assert_eq!(
        qerr(&mut c, &["HRANDFIELD", "h", "-4611686018427387903"]),
        "ERR count is too large for one reply"
    );
    assert_eq!(qv(&mut c, &["PING"]), Value::SimpleString("PONG".into()));
}

#[test]
fn dump_and_restore_round_trip_both_encodings() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["HSET", "small", "a", "1", "b", "hello"]);
    for i in 0..200 {
        q::<()>(&mut c, &["HSET", "big", &format!("f{i}"), &format!("v{i}")]);
    }
    for k in ["small", "big"] {
        let payload: Vec<u8> = q(&mut c, &["DUMP", k]);
        let mut cmd = redis::cmd("RESTORE");
        cmd.arg(format!("{k}-copy")).arg(0).arg(payload);
        let _: () = cmd.query(&mut c).expect("restore");
        let a: BTreeMap<String, String> = q(&mut c, &["HGETALL", k]);
        let b: BTreeMap<String, String> = q(&mut c, &["HGETALL", &format!("{k}-copy")]);
        assert_eq!(a, b, "{k}");
    }
}

// ---------------------------------------------------------------------------------------------
// Change events

fn changes_from(
    c: &mut redis::Connection,
    from: i64,
) -> Vec<(String, String, String, Vec<String>)> {
    let v = qv(c, &["CHANGES", "READ", &from.to_string(), "COUNT", "100"]);
    let Value::Array(items) = v else {
        panic!("{v:?}")
    };
    items
        .iter()
        .map(|e| {
            let s = |f: &str| match vget(e, f) {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(&b).into_owned(),
                Some(Value::SimpleString(s)) => s,
                other => panic!("{f}: {other:?}"),
            };
            let args = match vget(e, "args") {
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| match x {
                        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                        other => panic!("{other:?}"),
                    })
                    .collect(),
                other => panic!("{other:?}"),
            };
            (s("event"), s("change"), s("type"), args)
        })
        .collect()
}

fn next_offset(c: &mut redis::Connection) -> i64 {
    let v = qv(c, &["CHANGES", "INFO"]);
    match vget(&v, "last-offset") {
        Some(Value::Int(n)) => n + 1,
        other => panic!("{other:?}"),
    }
}

fn ev(e: &str, ch: &str, t: &str, args: &[&str]) -> (String, String, String, Vec<String>) {
    (
        e.into(),
        ch.into(),
        t.into(),
        args.iter().map(|s| s.to_string()).collect(),
    )
}

#[test]
fn every_hash_write_records_its_effect() {
    if !eddy_only("every_hash_write_records_its_effect") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let from = next_offset(&mut c);
    q::<()>(&mut c, &["HSET", "h", "a", "1", "b", "2"]);
    q::<()>(&mut c, &["HMSET", "h", "c", "3"]);
    q::<()>(&mut c, &["HSETNX", "h", "a", "x"]); // no change: no record
    q::<()>(&mut c, &["HSETNX", "h", "d", "4"]);
    q::<()>(&mut c, &["HINCRBY", "h", "n", "5"]);
    q::<()>(&mut c, &["HINCRBYFLOAT", "h", "x", "0.1"]);
    q::<()>(&mut c, &["HINCRBYFLOAT", "h", "x", "0.2"]);
    q::<()>(&mut c, &["HDEL", "h", "zz"]); // no change
    q::<()>(&mut c, &["HDEL", "h", "a", "zz", "b"]);
    q::<()>(&mut c, &["HDEL", "h", "c", "d", "n", "x"]);
    assert_eq!(
        changes_from(&mut c, from),
        vec![
            ev("hset", "insert", "hash", &["HSET", "h", "a", "1", "b", "2"]),
            ev("hset", "modify", "hash", &["HSET", "h", "c", "3"]),
            ev("hset", "modify", "hash", &["HSET", "h", "d", "4"]),
            ev("hincrby", "modify", "hash", &["HSET", "h", "n", "5"]),
            ev("hincrbyfloat", "modify", "hash", &["HSET", "h", "x", "0.1"]),
            ev("hincrbyfloat", "modify", "hash", &["HSET", "h", "x", "0.3"]),
            ev("hdel", "modify", "hash", &["HDEL", "h", "a", "b"]),
            ev("hdel", "modify", "hash", &["HDEL", "h", "c", "d", "n", "x"]),
            ev("del", "remove", "none", &["DEL", "h"]),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Model-based

#[test]
fn random_commands_match_a_model() {
    let srv = Server::start();
    let mut c = srv.conn();
    // Small limits so both encodings and the conversion are exercised.
    q::<()>(&mut c, &["CONFIG", "SET", "hash-max-listpack-entries", "8"]);
    q::<()>(&mut c, &["CONFIG", "SET", "hash-max-listpack-value", "6"]);
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut model: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let keys = ["k0", "k1", "k2"];
    for step in 0..3000 {
        let k = keys[rng.below(3) as usize];
        let f = format!("f{}", rng.below(14));
        let v = if rng.below(8) == 0 {
            "a-longer-value".to_string()
        } else {
            rng.below(100).to_string()
        };
        let h = model.get(k);
        match rng.below(10) {
            0 | 1 => {
                let new = !h.is_some_and(|h| h.contains_key(&f));
                let got: i64 = q(&mut c, &["HSET", k, &f, &v]);
                assert_eq!(got, new as i64, "step {step}");
                model.entry(k.into()).or_default().insert(f, v);
            }
            2 => {
                let got: i64 = q(&mut c, &["HDEL", k, &f]);
                let had = model.get_mut(k).and_then(|h| h.remove(&f)).is_some();
                assert_eq!(got, had as i64, "step {step}");
                if model.get(k).is_some_and(|h| h.is_empty()) {
                    model.remove(k);
                }
            }
            3 => {
                let got: Option<String> = q(&mut c, &["HGET", k, &f]);
                assert_eq!(got, h.and_then(|h| h.get(&f).cloned()), "step {step}");
            }
            4 => {
                let got: i64 = q(&mut c, &["HLEN", k]);
                assert_eq!(got, h.map_or(0, |h| h.len() as i64), "step {step}");
            }
            5 => {
                let got: BTreeMap<String, String> = q(&mut c, &["HGETALL", k]);
                assert_eq!(&got, h.unwrap_or(&BTreeMap::new()), "step {step}");
            }
            6 => {
                let cur = h.and_then(|h| h.get(&f)).cloned();
                match cur.as_deref().map(|s| s.parse::<i64>()) {
                    Some(Err(_)) => {
                        assert_eq!(
                            qerr(&mut c, &["HINCRBY", k, &f, "3"]),
                            "ERR hash value is not an integer"
                        );
                    }
                    other => {
                        let want = other.map_or(0, |r| r.unwrap_or(0)) + 3;
                        let got: i64 = q(&mut c, &["HINCRBY", k, &f, "3"]);
                        assert_eq!(got, want, "step {step}");
                        model
                            .entry(k.into())
                            .or_default()
                            .insert(f, want.to_string());
                    }
                }
            }
            7 => {
                let new = !h.is_some_and(|h| h.contains_key(&f));
                let got: i64 = q(&mut c, &["HSETNX", k, &f, &v]);
                assert_eq!(got, new as i64, "step {step}");
                if new {
                    model.entry(k.into()).or_default().insert(f, v);
                }
            }
            8 => {
                let got: Vec<Option<String>> = q(&mut c, &["HMGET", k, &f, "f1", "f2"]);
                let want: Vec<Option<String>> = [f.as_str(), "f1", "f2"]
                    .iter()
                    .map(|x| h.and_then(|h| h.get(*x).cloned()))
                    .collect();
                assert_eq!(got, want, "step {step}");
            }
            _ => {
                let mut got = hscan_all(&mut c, k, "3");
                got.sort();
                let want: Vec<String> = h.map_or(vec![], |h| h.keys().cloned().collect());
                assert_eq!(got, want, "step {step}");
                let got: i64 = q(&mut c, &["HEXISTS", k, &f]);
                assert_eq!(got, h.is_some_and(|h| h.contains_key(&f)) as i64);
            }
        }
    }
}
