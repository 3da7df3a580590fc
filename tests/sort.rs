//! SORT and SORT_RO through the `redis` crate: numeric and ALPHA order, LIMIT, BY/GET patterns
//! (`nosort`, `#`, `*`, `->field`), STORE, on lists, sets and sorted sets, with Redis's errors;
//! and, Eddy-only, the effect SORT ... STORE records and its exact replay after a restart.

mod common;

use std::time::Duration;

use common::{eddy_only, q, qerr, qv, vget, Server, TempDir};
use redis::Value;

fn sorted(c: &mut redis::Connection, args: &[&str]) -> Vec<Option<String>> {
    let mut v = vec!["SORT"];
    v.extend_from_slice(args);
    match qv(c, &v) {
        Value::Array(items) => items
            .into_iter()
            .map(|x| match x {
                Value::BulkString(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                Value::Nil => None,
                other => panic!("SORT item must be a bulk or nil: {other:?}"),
            })
            .collect(),
        other => panic!("SORT must reply with an array: {other:?}"),
    }
}

/// SORT whose items are all present.
fn s(c: &mut redis::Connection, args: &[&str]) -> Vec<String> {
    sorted(c, args)
        .into_iter()
        .map(|x| x.expect("no nil expected"))
        .collect()
}

fn range(c: &mut redis::Connection, key: &str) -> Vec<String> {
    q(c, &["LRANGE", key, "0", "-1"])
}

fn fixture(c: &mut redis::Connection) {
    q::<i64>(c, &["RPUSH", "l", "3", "1", "2", "10", "-5", "2.5"]);
    q::<()>(
        c,
        &[
            "MSET", "w_3", "30", "w_1", "10", "w_2", "20", "w_10", "5", "w_-5", "100",
        ],
    );
    for (k, v) in [("h_3", "c"), ("h_1", "a"), ("h_2", "b")] {
        q::<i64>(c, &["HSET", k, "f", v]);
    }
}

#[test]
fn sort_orders_a_list_numerically_or_alphabetically() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        q::<i64>(&mut c, &["DEL", "l"]);
        fixture(&mut c);
        assert_eq!(
            s(&mut c, &["l"]),
            ["-5", "1", "2", "2.5", "3", "10"],
            "{proto}"
        );
        assert_eq!(
            s(&mut c, &["l", "DESC"]),
            ["10", "3", "2.5", "2", "1", "-5"]
        );
        assert_eq!(
            s(&mut c, &["l", "ALPHA"]),
            ["-5", "1", "10", "2", "2.5", "3"]
        );
        assert_eq!(
            s(&mut c, &["l", "alpha", "desc"]),
            ["3", "2.5", "2", "10", "1", "-5"]
        );
        assert_eq!(s(&mut c, &["l", "ASC", "DESC", "ASC"]), s(&mut c, &["l"]));
        let ro: Vec<String> = q(&mut c, &["SORT_RO", "l", "DESC", "LIMIT", "0", "2"]);
        assert_eq!(ro, ["10", "3"]);
    }
}

#[test]
fn sort_limit_clamps_like_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    fixture(&mut c);
    assert_eq!(s(&mut c, &["l", "LIMIT", "1", "2"]), ["1", "2"]);
    assert_eq!(s(&mut c, &["l", "LIMIT", "-1", "2"]), ["-5", "1"]);
    assert_eq!(
        s(&mut c, &["l", "LIMIT", "2", "-1"]),
        ["2", "2.5", "3", "10"]
    );
    assert_eq!(s(&mut c, &["l", "LIMIT", "10", "2"]), Vec::<String>::new());
    assert_eq!(s(&mut c, &["l", "LIMIT", "0", "0"]), Vec::<String>::new());
    assert_eq!(
        s(&mut c, &["l", "DESC", "LIMIT", "1", "3"]),
        ["3", "2.5", "2"]
    );
    assert_eq!(s(&mut c, &["missing"]), Vec::<String>::new());
}

#[test]
fn by_nosort_keeps_the_native_order() {
    let srv = Server::start();
    let mut c = srv.conn();
    fixture(&mut c);
    assert_eq!(
        s(&mut c, &["l", "BY", "nosort"]),
        ["3", "1", "2", "10", "-5", "2.5"]
    );
    assert_eq!(
        s(&mut c, &["l", "BY", "nosort", "DESC"]),
        ["2.5", "-5", "10", "2", "1", "3"]
    );
    assert_eq!(
        s(&mut c, &["l", "BY", "nosort", "LIMIT", "1", "2"]),
        ["1", "2"]
    );
    assert_eq!(
        s(&mut c, &["l", "BY", "nosort", "DESC", "LIMIT", "1", "2"]),
        ["-5", "10"]
    );
    assert_eq!(
        s(&mut c, &["l", "BY", "nosort", "LIMIT", "100", "2"]),
        Vec::<String>::new()
    );
    q::<i64>(
        &mut c,
        &["ZADD", "z", "3", "c", "1", "a", "2", "b", "10", "x"],
    );
    assert_eq!(s(&mut c, &["z", "BY", "nosort"]), ["a", "b", "c", "x"]);
    assert_eq!(
        s(&mut c, &["z", "BY", "nosort", "DESC"]),
        ["x", "c", "b", "a"]
    );
    assert_eq!(
        s(&mut c, &["z", "BY", "nosort", "DESC", "LIMIT", "1", "2"]),
        ["c", "b"]
    );
    assert_eq!(s(&mut c, &["z", "ALPHA"]), ["a", "b", "c", "x"]);
    // Unparsable elements are not an error when nothing is sorted.
    q::<i64>(&mut c, &["RPUSH", "m", "1", "", "3x"]);
    assert_eq!(s(&mut c, &["m", "BY", "nosort"]), ["1", "", "3x"]);
}

#[test]
fn by_and_get_patterns_dereference_strings_and_hash_fields() {
    let srv = Server::start();
    let mut c = srv.conn();
    fixture(&mut c);
    assert_eq!(
        s(&mut c, &["l", "BY", "w_*"]),
        ["2.5", "10", "1", "2", "3", "-5"]
    );
    assert_eq!(
        s(&mut c, &["l", "BY", "w_*", "DESC"]),
        ["-5", "3", "2", "1", "10", "2.5"]
    );
    // 2.5 has no weight: it sorts as 0 and its GET is nil.
    let some = |v: &str| Some(v.to_string());
    assert_eq!(
        sorted(&mut c, &["l", "BY", "w_*", "GET", "#", "GET", "w_*"]),
        [
            some("2.5"),
            None,
            some("10"),
            some("5"),
            some("1"),
            some("10"),
            some("2"),
            some("20"),
            some("3"),
            some("30"),
            some("-5"),
            some("100"),
        ]
    );
    // ALPHA by a hash field: elements without one come first (their order is unspecified).
    let got = sorted(
        &mut c,
        &["l", "BY", "h_*->f", "ALPHA", "GET", "#", "GET", "h_*->f"],
    );
    assert_eq!(got.len(), 12);
    assert!(
        got[..6].iter().skip(1).step_by(2).all(Option::is_none),
        "{got:?}"
    );
    assert_eq!(
        &got[6..],
        [
            some("1"),
            some("a"),
            some("2"),
            some("b"),
            some("3"),
            some("c")
        ]
    );
    // Numeric order by a non-numeric field is an error.
    assert_eq!(
        qerr(&mut c, &["SORT", "l", "BY", "h_*->f", "GET", "h_*->f"]),
        "ERR One or more scores can't be converted into double"
    );
    // A pattern without `*` in GET finds nothing; `->` with no field name is part of the key.
    assert_eq!(
        sorted(&mut c, &["l", "BY", "nosort", "GET", "nostar"]),
        vec![None::<String>; 6]
    );
    assert_eq!(
        sorted(&mut c, &["l", "BY", "nosort", "GET", "w_*->"]),
        vec![None::<String>; 6]
    );
    // A hash-field pattern on a string key (and the reverse) finds nothing.
    assert_eq!(
        sorted(
            &mut c,
            &["l", "BY", "nosort", "LIMIT", "0", "1", "GET", "w_*->f", "GET", "h_*"]
        ),
        [None, None]
    );
}

#[test]
fn sets_sort_and_store_deterministically() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<i64>(&mut c, &["SADD", "nums", "5", "3", "9", "1"]);
    assert_eq!(s(&mut c, &["nums"]), ["1", "3", "5", "9"]);
    assert_eq!(s(&mut c, &["nums", "DESC", "LIMIT", "0", "2"]), ["9", "5"]);
    q::<i64>(&mut c, &["SADD", "st", "b", "a", "10", "c"]);
    assert_eq!(s(&mut c, &["st", "ALPHA"]), ["10", "a", "b", "c"]);
    assert_eq!(
        s(&mut c, &["st", "ALPHA", "DESC", "LIMIT", "1", "2"]),
        ["b", "a"]
    );
    // An unsorted set being stored is stored in ALPHA order.
    assert_eq!(
        q::<i64>(&mut c, &["SORT", "st", "BY", "nosort", "STORE", "d"]),
        4
    );
    assert_eq!(range(&mut c, "d"), ["10", "a", "b", "c"]);
}

#[test]
fn store_writes_a_list_and_deletes_on_an_empty_result() {
    let srv = Server::start();
    let mut c = srv.conn();
    fixture(&mut c);
    q::<()>(&mut c, &["SET", "out", "old", "EX", "100"]);
    assert_eq!(q::<i64>(&mut c, &["SORT", "l", "STORE", "out"]), 6);
    assert_eq!(range(&mut c, "out"), ["-5", "1", "2", "2.5", "3", "10"]);
    assert_eq!(q::<String>(&mut c, &["TYPE", "out"]), "list");
    assert_eq!(q::<i64>(&mut c, &["TTL", "out"]), -1);
    assert_eq!(
        q::<i64>(
            &mut c,
            &["SORT", "l", "BY", "w_*", "GET", "nokey_*", "STORE", "o2"]
        ),
        6
    );
    assert_eq!(range(&mut c, "o2"), ["", "", "", "", "", ""]);
    assert_eq!(q::<i64>(&mut c, &["SORT", "missing", "STORE", "out"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "out"]), 0);
    assert_eq!(
        q::<i64>(&mut c, &["SORT", "l", "LIMIT", "0", "0", "STORE", "o2"]),
        0
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "o2"]), 0);
}

#[test]
fn sort_errors_match_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<i64>(&mut c, &["RPUSH", "m", "1", "", "3x"]);
    q::<i64>(&mut c, &["RPUSH", "f", "1.5", "1e2", "-inf", "0x10"]);
    q::<()>(&mut c, &["SET", "str", "x"]);
    let score = "ERR One or more scores can't be converted into double";
    assert_eq!(qerr(&mut c, &["SORT", "m"]), score);
    assert_eq!(qerr(&mut c, &["SORT", "m", "STORE", "d"]), score);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "d"]), 0);
    assert_eq!(s(&mut c, &["f"]), ["-inf", "1.5", "0x10", "1e2"]);
    assert_eq!(s(&mut c, &["m", "ALPHA"]), ["", "1", "3x"]);
    let wrong = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(qerr(&mut c, &["SORT", "str"]), wrong);
    assert_eq!(qerr(&mut c, &["SORT", "str", "badopt"]), "ERR syntax error");
    assert_eq!(
        qerr(&mut c, &["SORT", "m", "LIMIT", "1"]),
        "ERR syntax error"
    );
    assert_eq!(qerr(&mut c, &["SORT", "m", "STORE"]), "ERR syntax error");
    assert_eq!(
        qerr(&mut c, &["SORT_RO", "m", "STORE", "x"]),
        "ERR syntax error"
    );
    assert_eq!(
        qerr(&mut c, &["SORT", "m", "LIMIT", "a", "1"]),
        "ERR value is not an integer or out of range"
    );
}

fn last_offset(c: &mut redis::Connection) -> i64 {
    match vget(&qv(c, &["CHANGES", "INFO"]), "last-offset") {
        Some(Value::Int(i)) => i,
        other => panic!("CHANGES INFO last-offset: {other:?}"),
    }
}

/// (key, event, args) of the records after `from`.
fn changes_after(c: &mut redis::Connection, from: i64) -> Vec<(String, String, Vec<String>)> {
    let v = qv(
        c,
        &["CHANGES", "READ", &format!("({from}"), "COUNT", "1000"],
    );
    let Value::Array(items) = v else {
        panic!("CHANGES READ must reply with an array, got {v:?}");
    };
    let text = |v: Option<Value>| match v {
        Some(Value::BulkString(b)) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("expected a bulk string: {other:?}"),
    };
    items
        .iter()
        .map(|e| {
            let args = match vget(e, "args") {
                Some(Value::Array(a)) => a.into_iter().map(|x| text(Some(x))).collect(),
                other => panic!("args must be an array: {other:?}"),
            };
            (text(vget(e, "key")), text(vget(e, "event")), args)
        })
        .collect()
}

#[test]
fn sort_store_records_the_resulting_list() {
    let srv = Server::start();
    if !eddy_only("sort_store_records_the_resulting_list") {
        return;
    }
    let mut c = srv.conn();
    q::<i64>(&mut c, &["RPUSH", "l", "3", "1", "2"]);
    q::<()>(&mut c, &["SET", "d", "x"]);
    let from = last_offset(&mut c);
    q::<i64>(&mut c, &["SORT", "l", "DESC", "STORE", "d"]);
    q::<i64>(&mut c, &["SORT", "l", "STORE", "e"]);
    q::<Vec<String>>(&mut c, &["SORT", "l"]);
    q::<i64>(&mut c, &["SORT", "missing", "STORE", "e"]);
    q::<i64>(&mut c, &["SORT", "missing", "STORE", "e"]);
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        changes_after(&mut c, from),
        vec![
            ("d".into(), "del".into(), s(&["DEL", "d"])),
            (
                "d".into(),
                "sortstore".into(),
                s(&["RPUSH", "d", "3", "2", "1"])
            ),
            (
                "e".into(),
                "sortstore".into(),
                s(&["RPUSH", "e", "1", "2", "3"])
            ),
            ("e".into(), "del".into(), s(&["DEL", "e"])),
        ]
    );
}

#[test]
fn sort_store_replays_exactly_after_a_restart() {
    if !eddy_only("sort_store_replays_exactly_after_a_restart") {
        return;
    }
    let mut srv = Server::start();
    let mut c = srv.conn();
    fixture(&mut c);
    q::<i64>(&mut c, &["SADD", "st", "b", "a", "10", "c"]);
    q::<i64>(
        &mut c,
        &[
            "SORT", "l", "BY", "w_*", "GET", "#", "GET", "h_*->f", "STORE", "a",
        ],
    );
    q::<i64>(&mut c, &["SORT", "st", "BY", "nosort", "STORE", "b"]);
    q::<()>(&mut c, &["SET", "c", "old"]);
    q::<i64>(
        &mut c,
        &["SORT", "l", "DESC", "LIMIT", "1", "2", "STORE", "c"],
    );
    q::<i64>(&mut c, &["SORT", "l", "STORE", "gone"]);
    q::<i64>(&mut c, &["SORT", "missing", "STORE", "gone"]);
    let before: Vec<Vec<String>> = ["a", "b", "c"].iter().map(|k| range(&mut c, k)).collect();
    drop(c);
    let mut raw = srv.raw();
    raw.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    let st = srv.wait_exit(Duration::from_secs(20));
    assert!(st.is_some_and(|s| s.success()), "SHUTDOWN NOSAVE: {st:?}");
    let dir: TempDir = srv.stop();
    let srv = Server::start_in(dir, &[]);
    let mut c = srv.conn();
    let after: Vec<Vec<String>> = ["a", "b", "c"].iter().map(|k| range(&mut c, k)).collect();
    assert_eq!(before, after);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "gone"]), 0);
}

#[test]
fn sort_store_notifies_sortstore_in_the_list_class() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "El"]);
    q::<i64>(&mut c, &["RPUSH", "l", "2", "1"]);
    q::<()>(&mut c, &["SET", "d", "x"]);
    let mut sub = srv.raw();
    sub.send_cmd(&[
        "SUBSCRIBE",
        "__keyevent@0__:sortstore",
        "__keyevent@0__:del",
    ]);
    sub.read_raw();
    sub.read_raw();
    // An overwrite is one `sortstore` (no `del`); the generic `del` of an empty result is not in
    // class `l`.
    q::<i64>(&mut c, &["SORT", "l", "STORE", "d"]);
    q::<i64>(&mut c, &["SORT", "missing", "STORE", "d"]);
    q::<i64>(&mut c, &["SORT", "l", "STORE", "e"]);
    let msg = |key: &str| {
        format!("*3\r\n$7\r\nmessage\r\n$24\r\n__keyevent@0__:sortstore\r\n$1\r\n{key}\r\n")
    };
    assert_eq!(sub.read_wire(), msg("d"));
    assert_eq!(sub.read_wire(), msg("e"));
}
