//! Lists and task queues against the real binary: replies on RESP2 and RESP3, Redis's errors,
//! deletion of emptied lists, the recorded change events, blocking pops (hand-off order, timeouts,
//! several keys, BLMOVE chains, CLIENT UNBLOCK, disconnects), and a model-based run of random
//! commands compared reply by reply with an in-test model.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::{
    cmd, eddy_only, err_text, poll_until, q, qerr, qv, vget, vpairs, vstr, Resp, Rng, Server,
};
use redis::Value;

fn b(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn arr(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| b(s)).collect())
}

fn range(c: &mut redis::Connection, k: &str) -> Vec<String> {
    q(c, &["LRANGE", k, "0", "-1"])
}

fn blocked_clients(c: &mut redis::Connection) -> usize {
    let info: String = q(c, &["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits until `n` clients are blocked (the event a test needs before pushing).
fn wait_blocked(c: &mut redis::Connection, n: usize) {
    assert!(
        poll_until(Duration::from_secs(10), || blocked_clients(c) >= n),
        "expected {n} blocked clients"
    );
}

fn text(r: &Resp) -> String {
    r.text().unwrap_or_else(|| panic!("not a string: {r:?}"))
}

fn strs(r: &Resp) -> Vec<String> {
    match r {
        Resp::Array(a) => a.iter().map(text).collect(),
        other => panic!("not an array: {other:?}"),
    }
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

// ---------------------------------------------------------------------------------------------
// Plain commands

#[test]
fn pushes_and_pops_on_resp2_and_resp3() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let k = format!("l-{proto}");
        assert_eq!(qv(&mut c, &["RPUSH", &k, "a", "b"]), Value::Int(2));
        assert_eq!(qv(&mut c, &["LPUSH", &k, "x", "y"]), Value::Int(4));
        assert_eq!(range(&mut c, &k), ["y", "x", "a", "b"]);
        assert_eq!(qv(&mut c, &["LPUSHX", &k, "z"]), Value::Int(5));
        assert_eq!(qv(&mut c, &["RPUSHX", &k, "w"]), Value::Int(6));
        assert_eq!(qv(&mut c, &["LPUSHX", "nosuch", "z"]), Value::Int(0));
        assert_eq!(qv(&mut c, &["EXISTS", "nosuch"]), Value::Int(0));
        assert_eq!(qv(&mut c, &["LPOP", &k]), b("z"));
        assert_eq!(qv(&mut c, &["RPOP", &k]), b("w"));
        assert_eq!(qv(&mut c, &["LPOP", &k, "2"]), arr(&["y", "x"]));
        assert_eq!(qv(&mut c, &["RPOP", &k, "0"]), Value::Array(vec![]));
        assert_eq!(qv(&mut c, &["LLEN", &k]), Value::Int(2));
        assert_eq!(qv(&mut c, &["RPOP", &k, "10"]), arr(&["b", "a"]));
        assert_eq!(qv(&mut c, &["EXISTS", &k]), Value::Int(0));
        assert_eq!(qv(&mut c, &["LPOP", &k]), Value::Nil);
        assert_eq!(qv(&mut c, &["LPOP", &k, "3"]), Value::Nil);
        assert_eq!(qv(&mut c, &["LLEN", &k]), Value::Int(0));
    }
}

#[test]
fn null_replies_have_the_exact_wire_form() {
    let srv = Server::start();
    let mut r = srv.raw();
    assert_eq!(r.call(&["LPOP", "none"]), Resp::NullBulk);
    assert_eq!(r.call(&["LPOP", "none", "2"]), Resp::NullArray);
    assert_eq!(r.call(&["LMPOP", "1", "none", "LEFT"]), Resp::NullArray);
    assert_eq!(r.call(&["BLPOP", "none", "0.01"]), Resp::NullArray);
    assert_eq!(
        r.call(&["BRPOPLPUSH", "none", "x", "0.01"]),
        Resp::NullArray
    );
    assert_eq!(
        r.call(&["BLMPOP", "0.01", "1", "none", "LEFT"]),
        Resp::NullArray
    );
    r.call(&["HELLO", "3"]);
    assert_eq!(r.call(&["LPOP", "none", "2"]), Resp::Null);
    assert_eq!(r.call(&["BLPOP", "none", "0.01"]), Resp::Null);
    assert_eq!(
        r.call(&["BLMOVE", "none", "x", "LEFT", "LEFT", "0.01"]),
        Resp::Null
    );
}

#[test]
fn ranges_and_indexes_follow_redis_rules() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["RPUSH", "l", "a", "b", "c", "d", "e"]);
    let r = |c: &mut redis::Connection, s: &str, e: &str| -> Vec<String> {
        q(c, &["LRANGE", "l", s, e])
    };
    assert_eq!(r(&mut c, "1", "2"), ["b", "c"]);
    assert_eq!(r(&mut c, "-2", "-1"), ["d", "e"]);
    assert_eq!(r(&mut c, "-100", "100"), ["a", "b", "c", "d", "e"]);
    assert!(r(&mut c, "3", "1").is_empty());
    assert!(r(&mut c, "5", "10").is_empty());
    assert_eq!(qv(&mut c, &["LINDEX", "l", "0"]), b("a"));
    assert_eq!(qv(&mut c, &["LINDEX", "l", "-1"]), b("e"));
    assert_eq!(qv(&mut c, &["LINDEX", "l", "5"]), Value::Nil);
    assert_eq!(qv(&mut c, &["LINDEX", "l", "-6"]), Value::Nil);
    assert_eq!(qv(&mut c, &["LINDEX", "none", "0"]), Value::Nil);
    assert_eq!(
        qerr(&mut c, &["LINDEX", "l", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["LRANGE", "l", "a", "1"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn positional_edits_lset_linsert_lrem_ltrim() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["RPUSH", "l", "a", "b", "a", "c", "a"]);
    assert_eq!(qv(&mut c, &["LSET", "l", "1", "B"]), Value::Okay);
    assert_eq!(qv(&mut c, &["LSET", "l", "-1", "z"]), Value::Okay);
    assert_eq!(
        qerr(&mut c, &["LSET", "l", "9", "x"]),
        "ERR index out of range"
    );
    assert_eq!(qerr(&mut c, &["LSET", "none", "0", "x"]), "ERR no such key");
    assert_eq!(range(&mut c, "l"), ["a", "B", "a", "c", "z"]);
    assert_eq!(
        qv(&mut c, &["LINSERT", "l", "BEFORE", "a", "0"]),
        Value::Int(6)
    );
    assert_eq!(
        qv(&mut c, &["LINSERT", "l", "after", "c", "d"]),
        Value::Int(7)
    );
    assert_eq!(
        qv(&mut c, &["LINSERT", "l", "AFTER", "nope", "d"]),
        Value::Int(-1)
    );
    assert_eq!(
        qv(&mut c, &["LINSERT", "none", "AFTER", "a", "d"]),
        Value::Int(0)
    );
    assert_eq!(
        qerr(&mut c, &["LINSERT", "l", "MIDDLE", "a", "d"]),
        "ERR syntax error"
    );
    assert_eq!(range(&mut c, "l"), ["0", "a", "B", "a", "c", "d", "z"]);
    assert_eq!(qv(&mut c, &["LREM", "l", "-1", "a"]), Value::Int(1));
    assert_eq!(range(&mut c, "l"), ["0", "a", "B", "c", "d", "z"]);
    assert_eq!(qv(&mut c, &["LREM", "l", "0", "x"]), Value::Int(0));
    assert_eq!(qv(&mut c, &["LTRIM", "l", "1", "-2"]), Value::Okay);
    assert_eq!(range(&mut c, "l"), ["a", "B", "c", "d"]);
    assert_eq!(qv(&mut c, &["LTRIM", "none", "0", "1"]), Value::Okay);
    assert_eq!(qv(&mut c, &["LTRIM", "l", "5", "1"]), Value::Okay);
    assert_eq!(qv(&mut c, &["EXISTS", "l"]), Value::Int(0));
    q::<()>(&mut c, &["RPUSH", "m", "x", "x"]);
    assert_eq!(qv(&mut c, &["LREM", "m", "0", "x"]), Value::Int(2));
    assert_eq!(qv(&mut c, &["EXISTS", "m"]), Value::Int(0));
}

#[test]
fn lpos_supports_rank_count_and_maxlen() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(
        &mut c,
        &["RPUSH", "l", "a", "b", "c", "1", "2", "3", "c", "c"],
    );
    assert_eq!(qv(&mut c, &["LPOS", "l", "c"]), Value::Int(2));
    assert_eq!(qv(&mut c, &["LPOS", "l", "c", "RANK", "2"]), Value::Int(6));
    assert_eq!(qv(&mut c, &["LPOS", "l", "c", "RANK", "-1"]), Value::Int(7));
    assert_eq!(
        qv(&mut c, &["LPOS", "l", "c", "COUNT", "0"]),
        Value::Array(vec![Value::Int(2), Value::Int(6), Value::Int(7)])
    );
    assert_eq!(
        qv(&mut c, &["LPOS", "l", "c", "RANK", "-1", "COUNT", "2"]),
        Value::Array(vec![Value::Int(7), Value::Int(6)])
    );
    assert_eq!(qv(&mut c, &["LPOS", "l", "c", "MAXLEN", "2"]), Value::Nil);
    assert_eq!(
        qv(&mut c, &["LPOS", "l", "x", "COUNT", "1"]),
        Value::Array(vec![])
    );
    assert_eq!(qv(&mut c, &["LPOS", "none", "x"]), Value::Nil);
    assert!(qerr(&mut c, &["LPOS", "l", "c", "RANK", "0"]).starts_with("ERR RANK can't be zero"));
    assert_eq!(
        qerr(&mut c, &["LPOS", "l", "c", "COUNT", "-1"]),
        "ERR COUNT can't be negative"
    );
    assert_eq!(
        qerr(&mut c, &["LPOS", "l", "c", "MAXLEN", "-1"]),
        "ERR MAXLEN can't be negative"
    );
    assert_eq!(
        qerr(&mut c, &["LPOS", "l", "c", "RANK"]),
        "ERR syntax error"
    );
    assert_eq!(
        qerr(&mut c, &["LPOS", "l", "c", "FOO", "1"]),
        "ERR syntax error"
    );
}

#[test]
fn lmove_and_rpoplpush_move_between_and_within_lists() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["RPUSH", "src", "a", "b", "c"]);
    assert_eq!(
        qv(&mut c, &["LMOVE", "src", "dst", "LEFT", "RIGHT"]),
        b("a")
    );
    assert_eq!(qv(&mut c, &["RPOPLPUSH", "src", "dst"]), b("c"));
    assert_eq!(range(&mut c, "dst"), ["c", "a"]);
    assert_eq!(
        qv(&mut c, &["LMOVE", "dst", "dst", "LEFT", "RIGHT"]),
        b("c")
    );
    assert_eq!(range(&mut c, "dst"), ["a", "c"]);
    assert_eq!(
        qv(&mut c, &["LMOVE", "src", "src", "RIGHT", "LEFT"]),
        b("b")
    );
    assert_eq!(range(&mut c, "src"), ["b"]);
    assert_eq!(
        qv(&mut c, &["LMOVE", "src", "dst", "RIGHT", "LEFT"]),
        b("b")
    );
    assert_eq!(qv(&mut c, &["EXISTS", "src"]), Value::Int(0));
    assert_eq!(
        qv(&mut c, &["LMOVE", "none", "dst", "LEFT", "LEFT"]),
        Value::Nil
    );
    assert_eq!(
        qerr(&mut c, &["LMOVE", "dst", "x", "UP", "LEFT"]),
        "ERR syntax error"
    );
    q::<()>(&mut c, &["SET", "s", "v"]);
    assert_eq!(
        qerr(&mut c, &["LMOVE", "dst", "s", "LEFT", "LEFT"]),
        WRONGTYPE
    );
    assert_eq!(
        qerr(&mut c, &["LMOVE", "s", "dst", "LEFT", "LEFT"]),
        WRONGTYPE
    );
    assert_eq!(range(&mut c, "dst"), ["b", "a", "c"]);
}

#[test]
fn lmpop_pops_from_the_first_non_empty_list() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let (k1, k2) = (format!("a-{proto}"), format!("b-{proto}"));
        q::<()>(&mut c, &["RPUSH", &k2, "1", "2", "3"]);
        assert_eq!(
            qv(&mut c, &["LMPOP", "2", &k1, &k2, "RIGHT", "COUNT", "2"]),
            Value::Array(vec![b(&k2), arr(&["3", "2"])])
        );
        assert_eq!(
            qv(&mut c, &["LMPOP", "2", &k1, &k2, "LEFT"]),
            Value::Array(vec![b(&k2), arr(&["1"])])
        );
        assert_eq!(qv(&mut c, &["LMPOP", "2", &k1, &k2, "LEFT"]), Value::Nil);
        let e = |c: &mut redis::Connection, a: &[&str]| qerr(c, a);
        assert_eq!(
            e(&mut c, &["LMPOP", "0", "x", "LEFT"]),
            "ERR numkeys should be greater than 0"
        );
        assert_eq!(
            e(&mut c, &["LMPOP", "x", "x", "LEFT"]),
            "ERR numkeys should be greater than 0"
        );
        assert_eq!(e(&mut c, &["LMPOP", "2", "x", "LEFT"]), "ERR syntax error");
        assert_eq!(
            e(&mut c, &["LMPOP", "1", "x", "MIDDLE"]),
            "ERR syntax error"
        );
        assert_eq!(
            e(&mut c, &["LMPOP", "1", "x", "LEFT", "COUNT", "0"]),
            "ERR count should be greater than 0"
        );
        assert_eq!(
            e(&mut c, &["LMPOP", "1", "x", "LEFT", "COUNT"]),
            "ERR syntax error"
        );
        assert_eq!(
            e(
                &mut c,
                &["LMPOP", "1", "x", "LEFT", "COUNT", "1", "COUNT", "1"]
            ),
            "ERR syntax error"
        );
    }
}

#[test]
fn list_commands_on_other_types_fail_with_wrongtype() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "s", "v"]);
    for a in [
        &["LPUSH", "s", "a"][..],
        &["RPUSH", "s", "a"],
        &["LPUSHX", "s", "a"],
        &["RPUSHX", "s", "a"],
        &["LPOP", "s"],
        &["RPOP", "s", "0"],
        &["LLEN", "s"],
        &["LRANGE", "s", "0", "-1"],
        &["LINDEX", "s", "0"],
        &["LSET", "s", "0", "a"],
        &["LINSERT", "s", "BEFORE", "a", "b"],
        &["LREM", "s", "0", "a"],
        &["LTRIM", "s", "0", "1"],
        &["LPOS", "s", "a"],
        &["LMOVE", "s", "d", "LEFT", "LEFT"],
        &["RPOPLPUSH", "s", "d"],
        &["LMPOP", "1", "s", "LEFT"],
        &["BLPOP", "s", "0"],
        &["BRPOP", "none", "s", "0"],
        &["BLMOVE", "s", "d", "LEFT", "LEFT", "0"],
        &["BRPOPLPUSH", "s", "d", "0"],
        &["BLMPOP", "0", "1", "s", "LEFT"],
    ] {
        assert_eq!(qerr(&mut c, a), WRONGTYPE, "{a:?}");
    }
    assert_eq!(qv(&mut c, &["GET", "s"]), b("v"));
}

#[test]
fn timeouts_are_validated_like_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(
        qerr(&mut c, &["BLPOP", "k", "-1"]),
        "ERR timeout is negative"
    );
    assert_eq!(
        qerr(&mut c, &["BLPOP", "k", "inf"]),
        "ERR timeout is negative"
    );
    assert_eq!(
        qerr(&mut c, &["BLPOP", "k", "abc"]),
        "ERR timeout is not a float or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["BRPOPLPUSH", "k", "d", "nan"]),
        "ERR timeout is not a float or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["BLMPOP", "x", "1", "k", "LEFT"]),
        "ERR timeout is not a float or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["BLMOVE", "k", "d", "UP", "LEFT", "1"]),
        "ERR syntax error"
    );
    // A timeout with decimals, served by a push before it expires.
    let mut r = srv.raw();
    r.send_cmd(&["BLPOP", "k", "30.5"]);
    wait_blocked(&mut c, 1);
    q::<()>(&mut c, &["RPUSH", "k", "v"]);
    assert_eq!(strs(&r.read_reply()), ["k", "v"]);
}

#[test]
fn big_lists_span_many_nodes_and_stay_consistent() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut model: Vec<String> = Vec::new();
    for chunk in 0..20 {
        let items: Vec<String> = (0..500).map(|i| format!("item-{chunk}-{i}")).collect();
        let mut a = vec!["RPUSH", "big"];
        a.extend(items.iter().map(|s| s.as_str()));
        q::<()>(&mut c, &a);
        model.extend(items);
    }
    let long = "x".repeat(20_000);
    q::<()>(&mut c, &["LPUSH", "big", &long]);
    model.insert(0, long.clone());
    assert_eq!(qv(&mut c, &["LLEN", "big"]), Value::Int(model.len() as i64));
    assert_eq!(range(&mut c, "big"), model);
    let mid: Vec<String> = q(&mut c, &["LRANGE", "big", "5000", "5009"]);
    assert_eq!(mid, model[5000..5010].to_vec());
    q::<()>(&mut c, &["LSET", "big", "7000", "changed"]);
    model[7000] = "changed".into();
    q::<()>(&mut c, &["LINSERT", "big", "AFTER", "item-10-3", "new"]);
    let at = model.iter().position(|s| s == "item-10-3").unwrap();
    model.insert(at + 1, "new".into());
    assert_eq!(
        qv(&mut c, &["LPOS", "big", "new"]),
        Value::Int(at as i64 + 1)
    );
    assert_eq!(
        qv(&mut c, &["LINDEX", "big", "-1"]),
        b(model.last().unwrap())
    );
    q::<()>(&mut c, &["LTRIM", "big", "100", "-100"]);
    model = model[100..model.len() - 99].to_vec();
    assert_eq!(range(&mut c, "big"), model);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "big"]), b("quicklist"));
}

#[test]
fn node_size_option_accepts_the_old_name() {
    let srv = Server::start();
    let mut c = srv.conn();
    let get =
        |c: &mut redis::Connection, name: &str| -> Vec<String> { q(c, &["CONFIG", "GET", name]) };
    assert_eq!(
        get(&mut c, "list-max-listpack-size"),
        ["list-max-listpack-size", "-2"]
    );
    assert_eq!(
        qv(&mut c, &["CONFIG", "SET", "list-max-ziplist-size", "3"]),
        Value::Okay
    );
    assert_eq!(
        get(&mut c, "list-max-listpack-size"),
        ["list-max-listpack-size", "3"]
    );
    let items: Vec<String> = (0..50).map(|i| i.to_string()).collect();
    let mut a = vec!["RPUSH", "l"];
    a.extend(items.iter().map(|s| s.as_str()));
    q::<()>(&mut c, &a);
    q::<()>(&mut c, &["LINSERT", "l", "BEFORE", "25", "x"]);
    q::<()>(&mut c, &["LREM", "l", "0", "7"]);
    let mut m = items.clone();
    m.insert(25, "x".into());
    m.retain(|s| s != "7");
    assert_eq!(range(&mut c, "l"), m);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "l"]), b("quicklist"));
}

#[test]
fn dump_and_restore_round_trip_and_read_redis_payloads() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(
        &mut c,
        &["RPUSH", "l", "a", "12", "-300", "70000", &"z".repeat(300)],
    );
    let payload: Vec<u8> = q(&mut c, &["DUMP", "l"]);
    let mut r = redis::cmd("RESTORE");
    r.arg("l2").arg(0).arg(payload);
    assert_eq!(r.query::<Value>(&mut c).unwrap(), Value::Okay);
    assert_eq!(range(&mut c, "l2"), range(&mut c, "l"));
    // DUMP of RPUSH l a b c from Redis 7.0.15 (a quicklist of listpacks).
    let redis_dump: &[u8] = b"\x12\x01\x02\x10\x10\x00\x00\x00\x03\x00\x81a\x02\x81b\x02\x81c\x02\xff\n\x00\xc8\x18\xb9\x0c\x953R\x9e";
    let mut r = redis::cmd("RESTORE");
    r.arg("l3").arg(0).arg(redis_dump);
    assert_eq!(r.query::<Value>(&mut c).unwrap(), Value::Okay);
    assert_eq!(range(&mut c, "l3"), ["a", "b", "c"]);
}

// ---------------------------------------------------------------------------------------------
// Blocking

#[test]
fn blpop_wakes_when_another_client_pushes() {
    let srv = Server::start();
    let mut c = srv.conn();
    for resp3 in [false, true] {
        let mut r = srv.raw();
        if resp3 {
            r.call(&["HELLO", "3"]);
        }
        r.send_cmd(&["BLPOP", "q", "0"]);
        wait_blocked(&mut c, 1);
        assert_eq!(qv(&mut c, &["RPUSH", "q", "job1", "job2"]), Value::Int(2));
        assert_eq!(strs(&r.read_reply()), ["q", "job1"]);
        assert_eq!(range(&mut c, "q"), ["job2"]);
        q::<()>(&mut c, &["DEL", "q"]);
        assert!(poll_until(Duration::from_secs(5), || blocked_clients(
            &mut c
        ) == 0));
    }
}

#[test]
fn swapdb_serves_clients_blocked_on_keys_that_now_hold_data() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut r = srv.raw();
    r.call(&["SELECT", "1"]);
    r.send_cmd(&["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(qv(&mut c, &["RPUSH", "q", "job"]), Value::Int(1));
    q::<()>(&mut c, &["SWAPDB", "0", "1"]);
    assert_eq!(strs(&r.read_reply()), ["q", "job"]);
    assert_eq!(r.call(&["EXISTS", "q"]), common::Resp::Int(0));
    assert_eq!(qv(&mut c, &["DBSIZE"]), Value::Int(0));
}

#[test]
fn a_blocking_pop_with_data_returns_at_once() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["RPUSH", "b", "1", "2", "3"]);
    assert_eq!(qv(&mut c, &["BLPOP", "a", "b", "0"]), arr(&["b", "1"]));
    assert_eq!(qv(&mut c, &["BRPOP", "a", "b", "0"]), arr(&["b", "3"]));
    assert_eq!(
        qv(&mut c, &["BLMOVE", "b", "c", "LEFT", "LEFT", "0"]),
        b("2")
    );
    assert_eq!(qv(&mut c, &["BRPOPLPUSH", "c", "c", "0"]), b("2"));
    assert_eq!(
        qv(
            &mut c,
            &["BLMPOP", "0", "2", "a", "c", "RIGHT", "COUNT", "9"]
        ),
        Value::Array(vec![b("c"), arr(&["2"])])
    );
    assert_eq!(qv(&mut c, &["DBSIZE"]), Value::Int(0));
}

#[test]
fn waiters_are_served_in_the_order_they_blocked() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut rs: Vec<common::Raw> = Vec::new();
    for i in 0..4 {
        let mut r = srv.raw();
        r.send_cmd(&["BRPOP", "q", "0"]);
        wait_blocked(&mut c, i + 1);
        rs.push(r);
    }
    q::<()>(&mut c, &["LPUSH", "q", "a", "b", "c"]);
    assert_eq!(strs(&rs[0].read_reply()), ["q", "a"]);
    assert_eq!(strs(&rs[1].read_reply()), ["q", "b"]);
    assert_eq!(strs(&rs[2].read_reply()), ["q", "c"]);
    assert!(rs[3].try_read_reply(Duration::from_millis(100)).is_none());
    q::<()>(&mut c, &["LPUSH", "q", "d"]);
    assert_eq!(strs(&rs[3].read_reply()), ["q", "d"]);
    assert_eq!(qv(&mut c, &["EXISTS", "q"]), Value::Int(0));
}

#[test]
fn a_waiter_on_several_keys_is_served_once() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut r = srv.raw();
    r.send_cmd(&["BLPOP", "k1", "k2", "k3", "0"]);
    wait_blocked(&mut c, 1);
    // Two pushes in one pipeline: the first serves the waiter, the second keeps its data.
    let mut p = redis::pipe();
    p.cmd("RPUSH")
        .arg("k3")
        .arg("c")
        .cmd("RPUSH")
        .arg("k2")
        .arg("b");
    let _: Value = p.query(&mut c).unwrap();
    assert_eq!(strs(&r.read_reply()), ["k3", "c"]);
    assert_eq!(range(&mut c, "k2"), ["b"]);
    assert!(poll_until(Duration::from_secs(5), || blocked_clients(
        &mut c
    ) == 0));
    // The stale registrations on k1/k2 serve nobody.
    q::<()>(&mut c, &["RPUSH", "k1", "a"]);
    assert_eq!(range(&mut c, "k1"), ["a"]);
}

#[test]
fn blmove_hands_over_and_chains_to_the_next_waiter() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut mover = srv.raw();
    mover.send_cmd(&["BLMOVE", "in", "mid", "LEFT", "RIGHT", "0"]);
    wait_blocked(&mut c, 1);
    let mut popper = srv.raw();
    popper.send_cmd(&["BRPOP", "mid", "0"]);
    wait_blocked(&mut c, 2);
    q::<()>(&mut c, &["RPUSH", "in", "job"]);
    assert_eq!(mover.read_reply(), Resp::Bulk(b"job".to_vec()));
    assert_eq!(strs(&popper.read_reply()), ["mid", "job"]);
    assert_eq!(qv(&mut c, &["DBSIZE"]), Value::Int(0));
    // BRPOPLPUSH served by LMOVE into its source.
    let mut r = srv.raw();
    r.send_cmd(&["BRPOPLPUSH", "a", "b", "0"]);
    wait_blocked(&mut c, 1);
    q::<()>(&mut c, &["RPUSH", "z", "v"]);
    q::<()>(&mut c, &["LMOVE", "z", "a", "LEFT", "LEFT"]);
    assert_eq!(r.read_reply(), Resp::Bulk(b"v".to_vec()));
    assert_eq!(range(&mut c, "b"), ["v"]);
    assert_eq!(qv(&mut c, &["EXISTS", "a"]), Value::Int(0));
}

#[test]
fn blmove_to_a_key_of_another_type_fails_and_keeps_the_element() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut r = srv.raw();
    r.send_cmd(&["BLMOVE", "src", "dst", "LEFT", "LEFT", "0"]);
    wait_blocked(&mut c, 1);
    q::<()>(&mut c, &["SET", "dst", "string"]);
    q::<()>(&mut c, &["RPUSH", "src", "v"]);
    assert_eq!(r.read_reply(), Resp::Error(WRONGTYPE.into()));
    assert_eq!(range(&mut c, "src"), ["v"]);
}

#[test]
fn blmpop_is_served_with_up_to_count_elements() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut r = srv.raw();
    r.send_cmd(&["BLMPOP", "0", "2", "a", "b", "RIGHT", "COUNT", "2"]);
    wait_blocked(&mut c, 1);
    q::<()>(&mut c, &["RPUSH", "b", "1", "2", "3"]);
    match r.read_reply() {
        Resp::Array(v) => {
            assert_eq!(text(&v[0]), "b");
            assert_eq!(strs(&v[1]), ["3", "2"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(range(&mut c, "b"), ["1"]);
}

#[test]
fn rename_restore_and_copy_onto_a_watched_key_serve_it() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut r = srv.raw();
    r.send_cmd(&["BLPOP", "w", "0"]);
    wait_blocked(&mut c, 1);
    q::<()>(&mut c, &["RPUSH", "tmp", "x", "y"]);
    q::<()>(&mut c, &["RENAME", "tmp", "w"]);
    assert_eq!(strs(&r.read_reply()), ["w", "x"]);
    assert_eq!(range(&mut c, "w"), ["y"]);
}

#[test]
fn timeouts_and_client_unblock_end_the_wait() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut r = srv.raw();
    let id = match r.call(&["CLIENT", "ID"]) {
        Resp::Int(i) => i.to_string(),
        other => panic!("{other:?}"),
    };
    r.send_cmd(&["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(blocked_clients(&mut c), 1);
    assert_eq!(
        qv(&mut c, &["CLIENT", "UNBLOCK", &id, "TIMEOUT"]),
        Value::Int(1)
    );
    assert_eq!(r.read_reply(), Resp::NullArray);
    assert_eq!(qv(&mut c, &["CLIENT", "UNBLOCK", &id]), Value::Int(0));
    r.send_cmd(&["BRPOPLPUSH", "q", "d", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(
        qv(&mut c, &["CLIENT", "UNBLOCK", &id, "ERROR"]),
        Value::Int(1)
    );
    assert_eq!(
        r.read_reply(),
        Resp::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
    assert_eq!(
        qerr(&mut c, &["CLIENT", "UNBLOCK", &id, "LATER"]),
        "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"
    );
    assert_eq!(
        qerr(&mut c, &["CLIENT", "UNBLOCK", "x"]),
        "ERR value is not an integer or out of range"
    );
    // A plain timeout; the connection then runs what was pipelined behind the blocking command.
    r.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\nq\r\n$4\r\n0.05\r\n*1\r\n$4\r\nPING\r\n");
    assert_eq!(r.read_reply(), Resp::NullArray);
    assert_eq!(r.read_reply(), Resp::Simple("PONG".into()));
    assert_eq!(blocked_clients(&mut c), 0);
    // The server never recorded anything for the blocks.
    assert_eq!(qv(&mut c, &["EXISTS", "q", "d"]), Value::Int(0));
}

#[test]
fn a_waiter_that_disconnected_loses_no_element() {
    let srv = Server::start();
    let mut c = srv.conn();
    {
        let mut gone = srv.raw();
        gone.send_cmd(&["BLPOP", "q", "0"]);
        wait_blocked(&mut c, 1);
    }
    assert!(poll_until(Duration::from_secs(5), || blocked_clients(
        &mut c
    ) == 0));
    let mut live = srv.raw();
    live.send_cmd(&["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    q::<()>(&mut c, &["RPUSH", "q", "a", "b"]);
    assert_eq!(strs(&live.read_reply()), ["q", "a"]);
    assert_eq!(range(&mut c, "q"), ["b"]);
}

#[test]
fn a_queue_with_many_producers_and_consumers_delivers_each_task_once() {
    let srv = Server::start();
    let tasks_per_producer = 500;
    let producers = 4;
    let consumers = 6;
    let total = tasks_per_producer * producers;
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let mut handles = Vec::new();
    for _ in 0..consumers {
        let mut c = srv.conn();
        let tx = tx.clone();
        handles.push(std::thread::spawn(move || loop {
            let v: Value = cmd(&["BRPOP", "tasks", "stop", "0"]).query(&mut c).unwrap();
            let Value::Array(items) = v else {
                panic!("{v:?}")
            };
            let (k, t) = (vstr(&items[0]).unwrap(), vstr(&items[1]).unwrap());
            if k == "stop" {
                return;
            }
            tx.send(t).unwrap();
        }));
    }
    drop(tx);
    let mut prods = Vec::new();
    for p in 0..producers {
        let mut c = srv.conn();
        prods.push(std::thread::spawn(move || {
            for i in 0..tasks_per_producer {
                let t = format!("{p}:{i}");
                let _: i64 = cmd(&["LPUSH", "tasks", &t]).query(&mut c).unwrap();
            }
        }));
    }
    for p in prods {
        p.join().unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..total {
        let t = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("task delivered");
        assert!(seen.insert(t.clone()), "task {t} delivered twice");
    }
    let mut c = srv.conn();
    for _ in 0..consumers {
        q::<()>(&mut c, &["RPUSH", "stop", "x"]);
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(seen.len(), total);
    assert_eq!(qv(&mut c, &["LLEN", "tasks"]), Value::Int(0));
}

// ---------------------------------------------------------------------------------------------
// Change events

#[derive(Debug)]
struct Ev {
    key: String,
    event: String,
    change: String,
    typ: String,
    client: i64,
    args: Vec<String>,
}

fn last_offset(c: &mut redis::Connection) -> i64 {
    match vget(&qv(c, &["CHANGES", "INFO"]), "last-offset") {
        Some(Value::Int(i)) => i,
        other => panic!("{other:?}"),
    }
}

fn events_after(c: &mut redis::Connection, off: i64) -> Vec<Ev> {
    let start = (off + 1).to_string();
    let Value::Array(items) = qv(c, &["CHANGES", "READ", &start, "COUNT", "1000"]) else {
        panic!("CHANGES READ must reply with an array")
    };
    items
        .iter()
        .map(|v| {
            let f = |n: &str| vget(v, n).as_ref().and_then(vstr).unwrap_or_default();
            let args = match vget(v, "args") {
                Some(Value::Array(a)) => a.iter().map(|x| vstr(x).unwrap_or_default()).collect(),
                _ => vec![],
            };
            let client = match vget(v, "client") {
                Some(Value::Int(i)) => i,
                _ => -1,
            };
            let _ = vpairs(v);
            Ev {
                key: f("key"),
                event: f("event"),
                change: f("change"),
                typ: f("type"),
                client,
                args,
            }
        })
        .collect()
}

/// (key, event, change, type, args) of the events after `off`.
fn summary(c: &mut redis::Connection, off: i64) -> Vec<(String, String, String, String, String)> {
    events_after(c, off)
        .into_iter()
        .map(|e| (e.key, e.event, e.change, e.typ, e.args.join(" ")))
        .collect()
}

fn s5(k: &str, e: &str, ch: &str, t: &str, a: &str) -> (String, String, String, String, String) {
    (k.into(), e.into(), ch.into(), t.into(), a.into())
}

#[test]
fn every_list_write_records_its_deterministic_effect() {
    if !eddy_only("every_list_write_records_its_deterministic_effect") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let off = last_offset(&mut c);
    for a in [
        &["RPUSH", "l", "a", "b", "c"][..],
        &["LPUSHX", "l", "z"],
        &["LPUSHX", "none", "z"],
        &["LSET", "l", "0", "y"],
        &["LINSERT", "l", "AFTER", "a", "n"],
        &["LINSERT", "l", "AFTER", "nope", "n"],
        &["LREM", "l", "0", "n"],
        &["LREM", "l", "0", "nope"],
        &["LTRIM", "l", "0", "-1"],
        &["LTRIM", "l", "1", "-1"],
        &["LPOP", "l"],
        &["RPOP", "l", "5"],
        &["RPUSH", "s", "1", "2"],
        &["LMOVE", "s", "d", "LEFT", "RIGHT"],
        &["RPOPLPUSH", "s", "d"],
        &["LMPOP", "1", "d", "LEFT", "COUNT", "1"],
        &["LPOP", "nothing", "2"],
    ] {
        let _ = qv(&mut c, a);
    }
    assert_eq!(
        summary(&mut c, off),
        vec![
            s5("l", "rpush", "insert", "list", "RPUSH l a b c"),
            s5("l", "lpush", "modify", "list", "LPUSH l z"),
            s5("l", "lset", "modify", "list", "LSET l 0 y"),
            s5("l", "linsert", "modify", "list", "LINSERT l AFTER a n"),
            s5("l", "lrem", "modify", "list", "LREM l 0 n"),
            s5("l", "ltrim", "modify", "list", "LTRIM l 1 -1"),
            s5("l", "lpop", "modify", "list", "LPOP l"),
            s5("l", "rpop", "remove", "none", "RPOP l 2"),
            s5("l", "del", "remove", "none", ""),
            s5("s", "rpush", "insert", "list", "RPUSH s 1 2"),
            s5("s", "lpop", "modify", "list", "LMOVE s d LEFT RIGHT"),
            s5("d", "rpush", "insert", "list", ""),
            s5("s", "rpop", "remove", "none", "LMOVE s d RIGHT LEFT"),
            s5("d", "lpush", "modify", "list", ""),
            s5("s", "del", "remove", "none", ""),
            s5("d", "lpop", "modify", "list", "LPOP d 1"),
        ]
    );
}

#[test]
fn a_served_blocking_pop_is_recorded_as_the_pop_of_the_blocked_client() {
    if !eddy_only("a_served_blocking_pop_is_recorded_as_the_pop_of_the_blocked_client") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let my_id: i64 = q(&mut c, &["CLIENT", "ID"]);
    let mut r = srv.raw();
    let waiter_id = match r.call(&["CLIENT", "ID"]) {
        Resp::Int(i) => i,
        other => panic!("{other:?}"),
    };
    let off = last_offset(&mut c);
    r.send_cmd(&["BLMOVE", "q", "done", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(last_offset(&mut c), off, "blocking records nothing");
    q::<()>(&mut c, &["LPUSH", "q", "job"]);
    assert_eq!(r.read_reply(), Resp::Bulk(b"job".to_vec()));
    let evs = events_after(&mut c, off);
    let got: Vec<(String, String, i64, String)> = evs
        .iter()
        .map(|e| (e.key.clone(), e.event.clone(), e.client, e.args.join(" ")))
        .collect();
    assert_eq!(
        got,
        vec![
            ("q".into(), "lpush".into(), my_id, "LPUSH q job".into()),
            (
                "q".into(),
                "rpop".into(),
                waiter_id,
                "LMOVE q done RIGHT LEFT".into()
            ),
            ("done".into(), "lpush".into(), waiter_id, "".into()),
            ("q".into(), "del".into(), waiter_id, "".into()),
        ]
    );
    assert_eq!(evs[1].change, "remove");
    // A timeout records nothing.
    let off = last_offset(&mut c);
    assert_eq!(r.call(&["BLPOP", "none", "0.01"]), Resp::NullArray);
    assert_eq!(last_offset(&mut c), off);
}

// ---------------------------------------------------------------------------------------------
// Model-based

type Reply = Result<Value, String>;

fn bulks(v: &[String]) -> Value {
    Value::Array(v.iter().map(|s| b(s)).collect())
}

fn norm_range(s: i64, e: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let mut s = if s < 0 { s + len } else { s };
    let mut e = if e < 0 { e + len } else { e };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= len {
        return None;
    }
    if e >= len {
        e = len - 1;
    }
    Some((s as usize, e as usize))
}

/// Applies one command to the model and returns the reply Redis gives.
fn model_apply(m: &mut HashMap<String, Vec<String>>, a: &[String]) -> Reply {
    let wt = || Err(WRONGTYPE.to_string());
    let key = a[1].clone();
    if key == "str" && a[0] == "EXISTS" {
        return Ok(Value::Int(1));
    }
    if key == "str" && a[0] != "LMPOP" {
        return wt();
    }
    let n = |s: &str| s.parse::<i64>().unwrap();
    let cleanup = |m: &mut HashMap<String, Vec<String>>, k: &str| {
        if m.get(k).is_some_and(|v| v.is_empty()) {
            m.remove(k);
        }
    };
    let r = match a[0].as_str() {
        "LPUSH" | "RPUSH" | "LPUSHX" | "RPUSHX" => {
            if a[0].ends_with('X') && !m.contains_key(&key) {
                return Ok(Value::Int(0));
            }
            let l = m.entry(key.clone()).or_default();
            for x in &a[2..] {
                if a[0].starts_with('L') {
                    l.insert(0, x.clone());
                } else {
                    l.push(x.clone());
                }
            }
            Ok(Value::Int(l.len() as i64))
        }
        "LPOP" | "RPOP" => {
            let left = a[0] == "LPOP";
            let Some(l) = m.get_mut(&key) else {
                return Ok(Value::Nil);
            };
            if a.len() == 2 {
                let x = if left { l.remove(0) } else { l.pop().unwrap() };
                Ok(b(&x))
            } else {
                let cnt = (n(&a[2]) as usize).min(l.len());
                let mut out = Vec::new();
                for _ in 0..cnt {
                    out.push(if left { l.remove(0) } else { l.pop().unwrap() });
                }
                Ok(bulks(&out))
            }
        }
        "LLEN" => Ok(Value::Int(m.get(&key).map_or(0, |l| l.len()) as i64)),
        "LRANGE" => {
            let l = m.get(&key).cloned().unwrap_or_default();
            Ok(match norm_range(n(&a[2]), n(&a[3]), l.len()) {
                Some((s, e)) => bulks(&l[s..=e]),
                None => Value::Array(vec![]),
            })
        }
        "LINDEX" => {
            let l = m.get(&key).cloned().unwrap_or_default();
            let i = n(&a[2]);
            let i = if i < 0 { i + l.len() as i64 } else { i };
            Ok(if i >= 0 && (i as usize) < l.len() {
                b(&l[i as usize])
            } else {
                Value::Nil
            })
        }
        "LSET" => {
            let Some(l) = m.get_mut(&key) else {
                return Err("ERR no such key".into());
            };
            let i = n(&a[2]);
            let i = if i < 0 { i + l.len() as i64 } else { i };
            if i < 0 || i as usize >= l.len() {
                return Err("ERR index out of range".into());
            }
            l[i as usize] = a[3].clone();
            Ok(Value::Okay)
        }
        "LINSERT" => {
            let Some(l) = m.get_mut(&key) else {
                return Ok(Value::Int(0));
            };
            match l.iter().position(|x| *x == a[3]) {
                None => Ok(Value::Int(-1)),
                Some(p) => {
                    l.insert(if a[2] == "AFTER" { p + 1 } else { p }, a[4].clone());
                    Ok(Value::Int(l.len() as i64))
                }
            }
        }
        "LREM" => {
            let Some(l) = m.get_mut(&key) else {
                return Ok(Value::Int(0));
            };
            let cnt = n(&a[2]);
            let limit = if cnt == 0 {
                usize::MAX
            } else {
                cnt.unsigned_abs() as usize
            };
            let mut removed = 0;
            if cnt >= 0 {
                let mut i = 0;
                while i < l.len() && removed < limit {
                    if l[i] == a[3] {
                        l.remove(i);
                        removed += 1;
                    } else {
                        i += 1;
                    }
                }
            } else {
                let mut i = l.len();
                while i > 0 && removed < limit {
                    i -= 1;
                    if l[i] == a[3] {
                        l.remove(i);
                        removed += 1;
                    }
                }
            }
            Ok(Value::Int(removed as i64))
        }
        "LTRIM" => {
            if let Some(l) = m.get_mut(&key) {
                *l = match norm_range(n(&a[2]), n(&a[3]), l.len()) {
                    Some((s, e)) => l[s..=e].to_vec(),
                    None => vec![],
                };
            }
            Ok(Value::Okay)
        }
        "LPOS" => {
            let l = m.get(&key).cloned();
            let (rank, count, maxlen) = (n(&a[4]), n(&a[6]), n(&a[8]));
            let Some(l) = l else {
                return Ok(Value::Array(vec![]));
            };
            let idx: Vec<usize> = if rank > 0 {
                (0..l.len()).collect()
            } else {
                (0..l.len()).rev().collect()
            };
            let limit = if maxlen == 0 {
                usize::MAX
            } else {
                maxlen as usize
            };
            let want = if count == 0 {
                usize::MAX
            } else {
                count as usize
            };
            let mut skip = rank.unsigned_abs() - 1;
            let mut out = Vec::new();
            for &i in idx.iter().take(limit) {
                if l[i] == a[2] {
                    if skip > 0 {
                        skip -= 1;
                    } else {
                        out.push(Value::Int(i as i64));
                        if out.len() >= want {
                            break;
                        }
                    }
                }
            }
            Ok(Value::Array(out))
        }
        "LMOVE" => {
            let dst = a[2].clone();
            if !m.contains_key(&key) {
                return Ok(Value::Nil);
            }
            if dst == "str" {
                return wt();
            }
            let l = m.get_mut(&key).unwrap();
            let x = if a[3] == "LEFT" {
                l.remove(0)
            } else {
                l.pop().unwrap()
            };
            let d = m.entry(dst.clone()).or_default();
            if a[4] == "LEFT" {
                d.insert(0, x.clone());
            } else {
                d.push(x.clone());
            }
            cleanup(m, &key);
            Ok(b(&x))
        }
        "LMPOP" => {
            let k = n(&a[1]) as usize;
            let keys = &a[2..2 + k];
            let left = a[2 + k] == "LEFT";
            let cnt = n(&a[4 + k]) as usize;
            for kk in keys {
                if kk == "str" {
                    return wt();
                }
                if let Some(l) = m.get_mut(kk) {
                    let c = cnt.min(l.len());
                    let mut out = Vec::new();
                    for _ in 0..c {
                        out.push(if left { l.remove(0) } else { l.pop().unwrap() });
                    }
                    cleanup(m, kk);
                    return Ok(Value::Array(vec![b(kk), bulks(&out)]));
                }
            }
            Ok(Value::Nil)
        }
        "EXISTS" => Ok(Value::Int(m.contains_key(&key) as i64)),
        other => panic!("model lacks {other}"),
    };
    cleanup(m, &key);
    r
}

fn random_command(rng: &mut Rng) -> Vec<String> {
    let keys = ["a", "b", "c", "str"];
    let vals = ["x", "y", "z", "w", "12", ""];
    let key = |r: &mut Rng| {
        let n = if r.below(20) == 0 { 4 } else { 3 };
        keys[r.below(n) as usize].to_string()
    };
    let val = |r: &mut Rng| vals[r.below(vals.len() as u64) as usize].to_string();
    let s = |x: &str| x.to_string();
    let idx = |r: &mut Rng| r.int(-12, 12).to_string();
    let side = |r: &mut Rng| s(if r.below(2) == 0 { "LEFT" } else { "RIGHT" });
    match rng.below(17) {
        0..=2 => {
            let mut v = vec![
                s(["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"][rng.below(4) as usize]),
                key(rng),
            ];
            for _ in 0..rng.int(1, 4) {
                v.push(val(rng));
            }
            v
        }
        3 => vec![s(["LPOP", "RPOP"][rng.below(2) as usize]), key(rng)],
        4 => vec![
            s(["LPOP", "RPOP"][rng.below(2) as usize]),
            key(rng),
            rng.int(0, 4).to_string(),
        ],
        5 => vec![s("LLEN"), key(rng)],
        6 => vec![s("LRANGE"), key(rng), idx(rng), idx(rng)],
        7 => vec![s("LINDEX"), key(rng), idx(rng)],
        8 => vec![s("LSET"), key(rng), idx(rng), val(rng)],
        9 => vec![
            s("LINSERT"),
            key(rng),
            s(if rng.below(2) == 0 { "BEFORE" } else { "AFTER" }),
            val(rng),
            val(rng),
        ],
        10 => vec![s("LREM"), key(rng), rng.int(-2, 2).to_string(), val(rng)],
        11 => vec![s("LTRIM"), key(rng), idx(rng), idx(rng)],
        12 => {
            let mut rank = rng.int(-3, 3);
            if rank == 0 {
                rank = 1;
            }
            vec![
                s("LPOS"),
                key(rng),
                val(rng),
                s("RANK"),
                rank.to_string(),
                s("COUNT"),
                rng.int(0, 3).to_string(),
                s("MAXLEN"),
                rng.int(0, 8).to_string(),
            ]
        }
        13 | 14 => vec![s("LMOVE"), key(rng), key(rng), side(rng), side(rng)],
        15 => {
            let k = rng.int(1, 3) as usize;
            let mut v = vec![s("LMPOP"), k.to_string()];
            for _ in 0..k {
                v.push(key(rng));
            }
            v.push(side(rng));
            v.push(s("COUNT"));
            v.push(rng.int(1, 4).to_string());
            v
        }
        _ => vec![s("EXISTS"), key(rng)],
    }
}

fn run_model(srv: &Server, seed: u64, steps: usize) {
    let mut c = srv.conn();
    q::<()>(&mut c, &["FLUSHALL"]);
    q::<()>(&mut c, &["SET", "str", "v"]);
    let mut m: HashMap<String, Vec<String>> = HashMap::new();
    let mut rng = Rng::new(seed);
    for step in 0..steps {
        let a = random_command(&mut rng);
        let refs: Vec<&str> = a.iter().map(|s| s.as_str()).collect();
        let got: Reply = cmd(&refs).query::<Value>(&mut c).map_err(|e| err_text(&e));
        let want = model_apply(&mut m, &a);
        assert_eq!(got, want, "step {step}: {a:?}");
    }
    for k in ["a", "b", "c"] {
        let want = m.get(k).cloned().unwrap_or_default();
        assert_eq!(range(&mut c, k), want, "final {k}");
    }
}

#[test]
fn random_commands_agree_with_a_model() {
    let srv = Server::start();
    run_model(&srv, 0x9E37_79B9_7F4A_7C15, 4000);
}

#[test]
fn random_commands_agree_with_a_model_with_tiny_nodes() {
    let srv = Server::start_with(&["--list-max-listpack-size", "2"]);
    run_model(&srv, 0x2545_F491_4F6C_DD1D, 4000);
}
