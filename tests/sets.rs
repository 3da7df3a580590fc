//! Set commands through the `redis` crate on RESP2 and RESP3: replies, errors, encodings, the
//! set algebra and its STORE forms, empty-set deletion, the recorded change events, DUMP/RESTORE,
//! and a model-based run of random commands against an in-test model.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{eddy_only, q, qerr, qv, vget, Rng, Server};
use redis::Value;

fn b(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn members(c: &mut redis::Connection, args: &[&str]) -> BTreeSet<String> {
    q(c, args)
}

fn set_of(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn sadd_srem_and_membership_reply_as_redis() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let k = format!("s-{proto}");
        assert_eq!(qv(&mut c, &["SADD", &k, "a", "b", "a"]), Value::Int(2));
        assert_eq!(qv(&mut c, &["SADD", &k, "b", "c"]), Value::Int(1));
        assert_eq!(qv(&mut c, &["SCARD", &k]), Value::Int(3));
        assert_eq!(qv(&mut c, &["SCARD", "nokey"]), Value::Int(0));
        assert_eq!(qv(&mut c, &["SISMEMBER", &k, "a"]), Value::Int(1));
        assert_eq!(qv(&mut c, &["SISMEMBER", &k, "z"]), Value::Int(0));
        assert_eq!(
            qv(&mut c, &["SMISMEMBER", &k, "a", "z", "c"]),
            Value::Array(vec![Value::Int(1), Value::Int(0), Value::Int(1)])
        );
        let all = qv(&mut c, &["SMEMBERS", &k]);
        if proto == "resp3" {
            assert!(matches!(all, Value::Set(_)), "{all:?}");
        } else {
            assert!(matches!(all, Value::Array(_)), "{all:?}");
        }
        assert_eq!(members(&mut c, &["SMEMBERS", &k]), set_of(&["a", "b", "c"]));
        assert_eq!(qv(&mut c, &["SREM", &k, "a", "z"]), Value::Int(1));
        assert_eq!(qv(&mut c, &["SREM", "nokey", "a"]), Value::Int(0));
        assert_eq!(qv(&mut c, &["SREM", &k, "b", "c"]), Value::Int(2));
        assert_eq!(qv(&mut c, &["EXISTS", &k]), Value::Int(0));
    }
}

#[test]
fn set_commands_on_other_types_are_wrongtype() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "str", "x"]);
    q::<()>(&mut c, &["HSET", "hash", "f", "v"]);
    q::<()>(&mut c, &["SADD", "s", "x"]);
    for k in ["str", "hash"] {
        for cmd in [
            vec!["SADD", k, "a"],
            vec!["SREM", k, "a"],
            vec!["SMEMBERS", k],
            vec!["SISMEMBER", k, "a"],
            vec!["SMISMEMBER", k, "a"],
            vec!["SCARD", k],
            vec!["SPOP", k],
            vec!["SPOP", k, "2"],
            vec!["SRANDMEMBER", k],
            vec!["SRANDMEMBER", k, "2"],
            vec!["SMOVE", k, "s", "x"],
            vec!["SMOVE", "s", k, "x"],
            vec!["SINTER", "s", k],
            vec!["SINTER", "nokey", k],
            vec!["SINTERCARD", "2", "s", k],
            vec!["SUNION", "s", k],
            vec!["SDIFF", "s", k],
            vec!["SINTERSTORE", "d", "s", k],
            vec!["SUNIONSTORE", "d", "s", k],
            vec!["SDIFFSTORE", "d", "s", k],
            vec!["SSCAN", k, "0"],
        ] {
            assert_eq!(qerr(&mut c, &cmd), WRONGTYPE, "{cmd:?}");
        }
    }
    // The failed SMOVE left the source alone.
    assert_eq!(qv(&mut c, &["SISMEMBER", "s", "x"]), Value::Int(1));
}

#[test]
fn encodings_follow_the_limits() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SADD", "ints", "3", "1", "-2"]);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "ints"]), b("intset"));
    let sorted: Vec<String> = q(&mut c, &["SMEMBERS", "ints"]);
    assert_eq!(sorted, ["-2", "1", "3"]);
    q::<()>(&mut c, &["CONFIG", "SET", "set-max-intset-entries", "3"]);
    q::<()>(&mut c, &["SADD", "ints", "4"]);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "ints"]), b("hashtable"));
    q::<()>(&mut c, &["SADD", "big", &"x".repeat(65)]);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "big"]), b("hashtable"));
    if eddy_only("encodings_follow_the_limits (listpack sets)") {
        q::<()>(&mut c, &["CONFIG", "SET", "set-max-listpack-entries", "3"]);
        q::<()>(&mut c, &["CONFIG", "SET", "set-max-listpack-value", "5"]);
        q::<()>(&mut c, &["SADD", "str", "a", "b"]);
        assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "str"]), b("listpack"));
        q::<()>(&mut c, &["SADD", "str", "c", "d"]);
        assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "str"]), b("hashtable"));
        q::<()>(&mut c, &["SADD", "long", "abcdef"]);
        assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "long"]), b("hashtable"));
        // An intset that receives a string becomes a listpack when it fits.
        q::<()>(&mut c, &["SADD", "mixed", "1", "2"]);
        q::<()>(&mut c, &["SADD", "mixed", "x"]);
        assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "mixed"]), b("listpack"));
        assert_eq!(
            members(&mut c, &["SMEMBERS", "mixed"]),
            set_of(&["1", "2", "x"])
        );
    }
}

#[test]
fn spop_and_srandmember_reply_shapes() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let k = format!("s-{proto}");
        assert_eq!(qv(&mut c, &["SPOP", &k]), Value::Nil);
        assert_eq!(qv(&mut c, &["SRANDMEMBER", &k]), Value::Nil);
        let empty = qv(&mut c, &["SPOP", &k, "2"]);
        assert!(
            matches!(&empty, Value::Set(v) | Value::Array(v) if v.is_empty()),
            "{empty:?}"
        );
        assert_eq!(qv(&mut c, &["SRANDMEMBER", &k, "2"]), Value::Array(vec![]));
        q::<()>(&mut c, &["SADD", &k, "a", "b", "c", "d", "e"]);
        let r: Vec<String> = q(&mut c, &["SRANDMEMBER", &k, "3"]);
        assert_eq!(r.iter().collect::<BTreeSet<_>>().len(), 3);
        let r: Vec<String> = q(&mut c, &["SRANDMEMBER", &k, "-9"]);
        assert_eq!(r.len(), 9);
        let r: Vec<String> = q(&mut c, &["SRANDMEMBER", &k, "50"]);
        assert_eq!(r.len(), 5);
        let one: String = q(&mut c, &["SPOP", &k]);
        let two: BTreeSet<String> = q(&mut c, &["SPOP", &k, "2"]);
        assert_eq!(two.len(), 2);
        assert!(!two.contains(&one));
        assert_eq!(qv(&mut c, &["SCARD", &k]), Value::Int(2));
        let rest: BTreeSet<String> = q(&mut c, &["SPOP", &k, "10"]);
        assert_eq!(rest.len(), 2);
        assert_eq!(qv(&mut c, &["EXISTS", &k]), Value::Int(0));
        assert_eq!(
            qerr(&mut c, &["SPOP", &k, "-1"]),
            "ERR value is out of range, must be positive"
        );
        assert_eq!(
            qerr(&mut c, &["SPOP", &k, "abc"]),
            "ERR value is out of range, must be positive"
        );
        assert_eq!(qerr(&mut c, &["SPOP", &k, "1", "2"]), "ERR syntax error");
        assert_eq!(
            qerr(&mut c, &["SRANDMEMBER", &k, "x"]),
            "ERR value is not an integer or out of range"
        );
    }
}

#[test]
fn set_algebra_matches_redis() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let (a, bk, ck) = (
            format!("a{proto}"),
            format!("b{proto}"),
            format!("c{proto}"),
        );
        q::<()>(&mut c, &["SADD", &a, "1", "2", "3", "4", "x", "y"]);
        q::<()>(&mut c, &["SADD", &bk, "2", "3", "x", "z"]);
        q::<()>(&mut c, &["SADD", &ck, "3", "x", "q"]);
        let inter = qv(&mut c, &["SINTER", &a, &bk, &ck]);
        if proto == "resp3" {
            assert!(matches!(inter, Value::Set(_)), "{inter:?}");
        }
        assert_eq!(
            members(&mut c, &["SINTER", &a, &bk, &ck]),
            set_of(&["3", "x"])
        );
        assert_eq!(members(&mut c, &["SINTER", &a, "nokey"]), set_of(&[]));
        assert_eq!(
            members(&mut c, &["SUNION", &a, &bk, "nokey"]),
            set_of(&["1", "2", "3", "4", "x", "y", "z"])
        );
        assert_eq!(
            members(&mut c, &["SDIFF", &a, &bk, &ck]),
            set_of(&["1", "4", "y"])
        );
        assert_eq!(members(&mut c, &["SDIFF", "nokey", &a]), set_of(&[]));
        assert_eq!(members(&mut c, &["SDIFF", &a, &a]), set_of(&[]));
        assert_eq!(qv(&mut c, &["SINTERCARD", "2", &a, &bk]), Value::Int(3));
        assert_eq!(
            qv(&mut c, &["SINTERCARD", "2", &a, &bk, "LIMIT", "2"]),
            Value::Int(2)
        );
        assert_eq!(
            qv(&mut c, &["SINTERCARD", "2", &a, &bk, "LIMIT", "0"]),
            Value::Int(3)
        );
        for (args, err) in [
            (
                vec!["SINTERCARD", "0", "a"],
                "ERR numkeys should be greater than 0",
            ),
            (
                vec!["SINTERCARD", "abc", "a"],
                "ERR numkeys should be greater than 0",
            ),
            (
                vec!["SINTERCARD", "3", "a", "b"],
                "ERR Number of keys can't be greater than number of args",
            ),
            (
                vec!["SINTERCARD", "1", "a", "LIMIT", "-1"],
                "ERR LIMIT can't be negative",
            ),
            (vec!["SINTERCARD", "1", "a", "foo"], "ERR syntax error"),
        ] {
            assert_eq!(qerr(&mut c, &args), err, "{args:?}");
        }
        let d = format!("d{proto}");
        q::<()>(&mut c, &["SET", &d, "string"]);
        assert_eq!(qv(&mut c, &["SINTERSTORE", &d, &a, &bk]), Value::Int(3));
        assert_eq!(members(&mut c, &["SMEMBERS", &d]), set_of(&["2", "3", "x"]));
        assert_eq!(qv(&mut c, &["SUNIONSTORE", &d, &d, &ck]), Value::Int(4));
        assert_eq!(qv(&mut c, &["SDIFFSTORE", &d, &a, &bk]), Value::Int(3));
        assert_eq!(members(&mut c, &["SMEMBERS", &d]), set_of(&["1", "4", "y"]));
        assert_eq!(qv(&mut c, &["SINTERSTORE", &d, &a, "nokey"]), Value::Int(0));
        assert_eq!(qv(&mut c, &["EXISTS", &d]), Value::Int(0));
    }
}

#[test]
fn smove_moves_between_sets() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SADD", "a", "x", "y"]);
    q::<()>(&mut c, &["SADD", "b", "y"]);
    assert_eq!(qv(&mut c, &["SMOVE", "nokey", "b", "x"]), Value::Int(0));
    assert_eq!(qv(&mut c, &["SMOVE", "a", "b", "nope"]), Value::Int(0));
    assert_eq!(qv(&mut c, &["SMOVE", "a", "a", "x"]), Value::Int(1));
    assert_eq!(qv(&mut c, &["SMOVE", "a", "a", "nope"]), Value::Int(0));
    assert_eq!(qv(&mut c, &["SMOVE", "a", "b", "x"]), Value::Int(1));
    assert_eq!(members(&mut c, &["SMEMBERS", "b"]), set_of(&["x", "y"]));
    // Already in the destination: removed from the source only; the source empties.
    assert_eq!(qv(&mut c, &["SMOVE", "a", "b", "y"]), Value::Int(1));
    assert_eq!(qv(&mut c, &["EXISTS", "a"]), Value::Int(0));
    assert_eq!(qv(&mut c, &["SMOVE", "b", "new", "x"]), Value::Int(1));
    assert_eq!(members(&mut c, &["SMEMBERS", "new"]), set_of(&["x"]));
}

#[test]
fn sscan_returns_every_member_present_for_the_whole_scan() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SADD", "small", "1", "2", "3"]);
    let (cur, items): (String, Vec<String>) = q(&mut c, &["SSCAN", "small", "0"]);
    assert_eq!((cur.as_str(), items.len()), ("0", 3));
    let (_, items): (String, Vec<String>) = q(&mut c, &["SSCAN", "nokey", "0", "bad"]);
    assert!(items.is_empty());
    assert_eq!(
        qerr(&mut c, &["SSCAN", "small", "0", "TYPE", "string"]),
        "ERR syntax error"
    );
    for i in 0..1000 {
        q::<()>(&mut c, &["SADD", "big", &format!("m{i}")]);
    }
    let mut cursor = "0".to_string();
    let mut seen = BTreeSet::new();
    let mut round = 0;
    loop {
        let (next, items): (String, Vec<String>) = q(
            &mut c,
            &["SSCAN", "big", &cursor, "COUNT", "25", "MATCH", "m*"],
        );
        seen.extend(items);
        q::<()>(&mut c, &["SREM", "big", &format!("m{round}")]);
        q::<()>(&mut c, &["SADD", "big", &format!("n{round}")]);
        round += 1;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    for i in 200..1000 {
        assert!(seen.contains(&format!("m{i}")), "m{i} missed");
    }
    assert!(seen.iter().all(|m| m.starts_with('m')));
}

#[test]
fn dump_and_restore_round_trip_every_encoding() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SADD", "ints", "1", "-70000", "5000000000"]);
    q::<()>(&mut c, &["SADD", "strs", "a", "b"]);
    for i in 0..300 {
        q::<()>(&mut c, &["SADD", "big", &format!("m{i}")]);
    }
    for k in ["ints", "strs", "big"] {
        let payload: Vec<u8> = q(&mut c, &["DUMP", k]);
        let mut cmd = redis::cmd("RESTORE");
        cmd.arg(format!("{k}-copy")).arg(0).arg(payload);
        let _: () = cmd.query(&mut c).expect("restore");
        assert_eq!(
            members(&mut c, &["SMEMBERS", k]),
            members(&mut c, &["SMEMBERS", &format!("{k}-copy")]),
            "{k}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Change events

type Ev = (String, String, String, String, Vec<String>);

fn changes_from(c: &mut redis::Connection, from: i64) -> Vec<Ev> {
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
            (s("key"), s("event"), s("change"), s("type"), args)
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

fn ev(k: &str, e: &str, ch: &str, t: &str, args: &[&str]) -> Ev {
    (
        k.into(),
        e.into(),
        ch.into(),
        t.into(),
        args.iter().map(|s| s.to_string()).collect(),
    )
}

#[test]
fn every_set_write_records_its_effect() {
    if !eddy_only("every_set_write_records_its_effect") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let from = next_offset(&mut c);
    q::<()>(&mut c, &["SADD", "s", "a", "b", "a"]);
    q::<()>(&mut c, &["SADD", "s", "a"]); // nothing new: no record
    q::<()>(&mut c, &["SREM", "s", "zz"]); // nothing removed: no record
    q::<()>(&mut c, &["SREM", "s", "a", "zz"]);
    q::<()>(&mut c, &["SADD", "t", "b", "c"]);
    q::<()>(&mut c, &["SMOVE", "s", "t", "b"]);
    q::<()>(&mut c, &["SINTERSTORE", "d", "t", "t"]);
    q::<()>(&mut c, &["SUNIONSTORE", "d", "t"]);
    q::<()>(&mut c, &["SDIFFSTORE", "d", "t", "t"]);
    assert_eq!(
        changes_from(&mut c, from),
        vec![
            ev("s", "sadd", "insert", "set", &["SADD", "s", "a", "b"]),
            ev("s", "srem", "modify", "set", &["SREM", "s", "a"]),
            ev("t", "sadd", "insert", "set", &["SADD", "t", "b", "c"]),
            ev("s", "srem", "modify", "set", &["SREM", "s", "b"]),
            ev("s", "del", "remove", "none", &["DEL", "s"]),
            ev(
                "d",
                "sinterstore",
                "insert",
                "set",
                &["SADD", "d", "b", "c"]
            ),
            ev("d", "del", "remove", "none", &["DEL", "d"]),
            ev(
                "d",
                "sunionstore",
                "insert",
                "set",
                &["SADD", "d", "b", "c"]
            ),
            ev("d", "del", "remove", "none", &["DEL", "d"]),
        ]
    );
    // SPOP records exactly the members it popped.
    let from = next_offset(&mut c);
    let popped: Vec<String> = q(&mut c, &["SPOP", "t", "1"]);
    let rest: String = q(&mut c, &["SPOP", "t"]);
    let mut got = changes_from(&mut c, from);
    assert_eq!(
        got.remove(0),
        ev("t", "spop", "modify", "set", &["SREM", "t", &popped[0]])
    );
    assert_eq!(
        got,
        vec![
            ev("t", "spop", "modify", "set", &["SREM", "t", &rest]),
            ev("t", "del", "remove", "none", &["DEL", "t"]),
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Model-based

#[test]
fn random_commands_match_a_model() {
    let srv = Server::start();
    let mut c = srv.conn();
    // Small limits so every encoding and conversion is exercised.
    q::<()>(&mut c, &["CONFIG", "SET", "set-max-intset-entries", "6"]);
    q::<()>(&mut c, &["CONFIG", "SET", "set-max-listpack-entries", "5"]);
    q::<()>(&mut c, &["CONFIG", "SET", "set-max-listpack-value", "4"]);
    let mut rng = Rng::new(0x2545_F491_4F6C_DD1D);
    let mut model: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let keys = ["k0", "k1", "k2"];
    let empty = BTreeSet::new();
    for step in 0..3000 {
        let k = keys[rng.below(3) as usize];
        let k2 = keys[rng.below(3) as usize];
        let m = match rng.below(4) {
            0 => format!("m{}", rng.below(6)),
            1 => format!("long-member-{}", rng.below(3)),
            _ => (rng.below(12) as i64 - 4).to_string(),
        };
        let s = model.get(k).cloned().unwrap_or_default();
        match rng.below(12) {
            0..=2 => {
                let got: i64 = q(&mut c, &["SADD", k, &m]);
                assert_eq!(got, !s.contains(&m) as i64, "step {step}");
                model.entry(k.into()).or_default().insert(m);
            }
            3 => {
                let got: i64 = q(&mut c, &["SREM", k, &m]);
                assert_eq!(got, s.contains(&m) as i64, "step {step}");
                if let Some(set) = model.get_mut(k) {
                    set.remove(&m);
                    if set.is_empty() {
                        model.remove(k);
                    }
                }
            }
            4 => {
                let got: i64 = q(&mut c, &["SISMEMBER", k, &m]);
                assert_eq!(got, s.contains(&m) as i64, "step {step}");
            }
            5 => {
                let got: BTreeSet<String> = q(&mut c, &["SMEMBERS", k]);
                assert_eq!(got, s, "step {step}");
                let n: usize = q(&mut c, &["SCARD", k]);
                assert_eq!(n, s.len());
            }
            6 => {
                let got: Option<String> = q(&mut c, &["SPOP", k]);
                match got {
                    Some(p) => {
                        assert!(s.contains(&p), "step {step}");
                        let set = model.get_mut(k).expect("model has the key");
                        set.remove(&p);
                        if set.is_empty() {
                            model.remove(k);
                        }
                    }
                    None => assert!(s.is_empty(), "step {step}"),
                }
            }
            7 => {
                let got: i64 = q(&mut c, &["SMOVE", k, k2, &m]);
                let moved = s.contains(&m);
                assert_eq!(got, moved as i64, "step {step}");
                if moved && k != k2 {
                    let set = model.get_mut(k).expect("source");
                    set.remove(&m);
                    if set.is_empty() {
                        model.remove(k);
                    }
                    model.entry(k2.into()).or_default().insert(m);
                }
            }
            8 => {
                let other = model.get(k2).unwrap_or(&empty);
                let got: BTreeSet<String> = q(&mut c, &["SINTER", k, k2]);
                assert_eq!(got, s.intersection(other).cloned().collect(), "step {step}");
                let got: BTreeSet<String> = q(&mut c, &["SUNION", k, k2]);
                assert_eq!(got, s.union(other).cloned().collect(), "step {step}");
                let got: BTreeSet<String> = q(&mut c, &["SDIFF", k, k2]);
                assert_eq!(got, s.difference(other).cloned().collect(), "step {step}");
            }
            9 => {
                let other = model.get(k2).cloned().unwrap_or_default();
                let (cmd, want): (&str, BTreeSet<String>) = match rng.below(3) {
                    0 => ("SINTERSTORE", s.intersection(&other).cloned().collect()),
                    1 => ("SUNIONSTORE", s.union(&other).cloned().collect()),
                    _ => ("SDIFFSTORE", s.difference(&other).cloned().collect()),
                };
                let dst = keys[rng.below(3) as usize];
                let n: usize = q(&mut c, &[cmd, dst, k, k2]);
                assert_eq!(n, want.len(), "step {step} {cmd}");
                if want.is_empty() {
                    model.remove(dst);
                } else {
                    model.insert(dst.into(), want);
                }
            }
            10 => {
                let got: Vec<String> = q(&mut c, &["SRANDMEMBER", k, "3"]);
                assert_eq!(got.len(), s.len().min(3), "step {step}");
                assert!(got.iter().all(|x| s.contains(x)), "step {step}");
                let uniq: BTreeSet<&String> = got.iter().collect();
                assert_eq!(uniq.len(), got.len(), "step {step}");
            }
            _ => {
                let mut cursor = "0".to_string();
                let mut seen = BTreeSet::new();
                loop {
                    let (next, items): (String, Vec<String>) =
                        q(&mut c, &["SSCAN", k, &cursor, "COUNT", "2"]);
                    seen.extend(items);
                    if next == "0" {
                        break;
                    }
                    cursor = next;
                }
                assert_eq!(seen, s, "step {step}");
            }
        }
    }
}
