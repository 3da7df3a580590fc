//! Bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP, BITFIELD, BITFIELD_RO) through the
//! `redis` crate: replies, ranges, overflow modes and Redis's exact error strings; and, Eddy-only,
//! the effects they record in the change log and their exact replay after a restart.

mod common;

use std::time::Duration;

use common::{eddy_only, q, qerr, qv, vget, Server, TempDir};
use redis::Value;

fn ints(v: &[Option<i64>]) -> Value {
    Value::Array(v.iter().map(|x| x.map_or(Value::Nil, Value::Int)).collect())
}

fn get_bytes(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    q::<Option<Vec<u8>>>(c, &["GET", key]).unwrap_or_default()
}

/// (event, args) of the records after `from`.
fn changes_after(c: &mut redis::Connection, from: i64) -> Vec<(String, Vec<Vec<u8>>)> {
    let v = qv(
        c,
        &["CHANGES", "READ", &format!("({from}"), "COUNT", "1000"],
    );
    let Value::Array(items) = v else {
        panic!("CHANGES READ must reply with an array, got {v:?}");
    };
    items
        .iter()
        .map(|e| {
            let ev = match vget(e, "event") {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(&b).into_owned(),
                other => panic!("event must be a bulk string: {other:?}"),
            };
            let args = match vget(e, "args") {
                Some(Value::Array(a)) => a
                    .into_iter()
                    .map(|x| match x {
                        Value::BulkString(b) => b,
                        other => panic!("args items must be bulk strings: {other:?}"),
                    })
                    .collect(),
                other => panic!("args must be an array: {other:?}"),
            };
            (ev, args)
        })
        .collect()
}

fn last_offset(c: &mut redis::Connection) -> i64 {
    match vget(&qv(c, &["CHANGES", "INFO"]), "last-offset") {
        Some(Value::Int(i)) => i,
        other => panic!("CHANGES INFO last-offset: {other:?}"),
    }
}

fn words(args: &[Vec<u8>]) -> Vec<String> {
    args.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// SHUTDOWN NOSAVE (only the change log survives), then a restart on the same directory.
fn restart_from_log(mut srv: Server) -> Server {
    let mut raw = srv.raw();
    raw.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    let st = srv.wait_exit(Duration::from_secs(20));
    assert!(st.is_some_and(|s| s.success()), "SHUTDOWN NOSAVE: {st:?}");
    let dir: TempDir = srv.stop();
    Server::start_in(dir, &[])
}

#[test]
fn setbit_and_getbit_grow_and_read_the_string() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let k = format!("b-{proto}");
        assert_eq!(q::<i64>(&mut c, &["SETBIT", &k, "7", "1"]), 0, "{proto}");
        assert_eq!(q::<i64>(&mut c, &["SETBIT", &k, "7", "1"]), 1);
        assert_eq!(q::<i64>(&mut c, &["SETBIT", &k, "100", "0"]), 0);
        assert_eq!(q::<i64>(&mut c, &["STRLEN", &k]), 13);
        assert_eq!(get_bytes(&mut c, &k)[0], 1);
        assert_eq!(q::<i64>(&mut c, &["GETBIT", &k, "7"]), 1);
        assert_eq!(q::<i64>(&mut c, &["GETBIT", &k, "6"]), 0);
        assert_eq!(q::<i64>(&mut c, &["GETBIT", &k, "100000"]), 0);
        assert_eq!(q::<i64>(&mut c, &["GETBIT", "missing", "3"]), 0);
    }
    let mut c = srv.conn();
    // An integer-looking string is read and changed as its text.
    q::<()>(&mut c, &["SET", "n", "12345"]);
    assert_eq!(q::<i64>(&mut c, &["GETBIT", "n", "2"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SETBIT", "n", "2", "1"]), 1);
    assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", "n"]), "raw");
    assert_eq!(q::<String>(&mut c, &["GET", "n"]), "12345");
}

#[test]
fn setbit_and_getbit_errors_match_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    let off = "ERR bit offset is not an integer or out of range";
    let bit = "ERR bit is not an integer or out of range";
    assert_eq!(qerr(&mut c, &["SETBIT", "b", "-1", "1"]), off);
    assert_eq!(qerr(&mut c, &["SETBIT", "b", "x", "1"]), off);
    assert_eq!(qerr(&mut c, &["SETBIT", "b", "4294967296", "1"]), off);
    assert_eq!(qerr(&mut c, &["GETBIT", "b", "4294967296"]), off);
    assert_eq!(qerr(&mut c, &["SETBIT", "b", "1", "2"]), bit);
    assert_eq!(qerr(&mut c, &["SETBIT", "b", "1", "-1"]), bit);
    assert_eq!(qerr(&mut c, &["SETBIT", "b", "1", "x"]), bit);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "b"]), 0);
    q::<i64>(&mut c, &["RPUSH", "l", "a"]);
    let wrong = "WRONGTYPE Operation against a key holding the wrong kind of value";
    assert_eq!(qerr(&mut c, &["SETBIT", "l", "0", "1"]), wrong);
    assert_eq!(qerr(&mut c, &["GETBIT", "l", "0"]), wrong);
    assert_eq!(qerr(&mut c, &["BITCOUNT", "l"]), wrong);
    assert_eq!(qerr(&mut c, &["BITPOS", "l", "1"]), wrong);
    assert_eq!(qerr(&mut c, &["BITFIELD", "l", "GET", "u8", "0"]), wrong);
    assert_eq!(qerr(&mut c, &["BITOP", "AND", "d", "l"]), wrong);
    // Arity errors come from the table.
    assert_eq!(
        qerr(&mut c, &["SETBIT", "b", "1"]),
        "ERR wrong number of arguments for 'setbit' command"
    );
}

#[test]
fn bitcount_with_byte_and_bit_ranges() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "s", "foobar"]);
    let n = |c: &mut redis::Connection, args: &[&str]| -> i64 {
        let mut v = vec!["BITCOUNT", "s"];
        v.extend_from_slice(args);
        q(c, &v)
    };
    assert_eq!(n(&mut c, &[]), 26);
    assert_eq!(n(&mut c, &["1", "1"]), 6);
    assert_eq!(n(&mut c, &["0", "0"]), 4);
    assert_eq!(n(&mut c, &["-2", "-1"]), 7);
    assert_eq!(n(&mut c, &["-1", "-2"]), 0);
    assert_eq!(n(&mut c, &["-100", "100"]), 26);
    assert_eq!(n(&mut c, &["0", "-1", "BIT"]), 26);
    assert_eq!(n(&mut c, &["5", "30", "bit"]), 17);
    assert_eq!(n(&mut c, &["1", "1", "BIT"]), 1);
    assert_eq!(n(&mut c, &["47", "47", "BIT"]), 0);
    assert_eq!(n(&mut c, &["3", "2", "BIT"]), 0);
    assert_eq!(n(&mut c, &["0", "1", "BYTE"]), 10);
    assert_eq!(q::<i64>(&mut c, &["BITCOUNT", "missing"]), 0);
    // Redis 7.0 looks the key up first: a missing key is 0 whatever the arguments.
    assert_eq!(q::<i64>(&mut c, &["BITCOUNT", "missing", "a", "b", "c"]), 0);
    assert_eq!(qerr(&mut c, &["BITCOUNT", "s", "1"]), "ERR syntax error");
    assert_eq!(
        qerr(&mut c, &["BITCOUNT", "s", "0", "1", "x"]),
        "ERR syntax error"
    );
    assert_eq!(
        qerr(&mut c, &["BITCOUNT", "s", "a", "b", "x"]),
        "ERR value is not an integer or out of range"
    );
    // A long string goes through the word-wise popcount.
    let big: Vec<u8> = (0..10_000u32).map(|i| (i * 37 % 256) as u8).collect();
    let want: u32 = big.iter().map(|b| b.count_ones()).sum();
    let _: () = redis::cmd("SET")
        .arg("big")
        .arg(&big)
        .query(&mut c)
        .expect("SET big");
    assert_eq!(q::<i64>(&mut c, &["BITCOUNT", "big"]), want as i64);
    let part: u32 = big[13..=9000].iter().map(|b| b.count_ones()).sum();
    assert_eq!(
        q::<i64>(&mut c, &["BITCOUNT", "big", "13", "9000"]),
        part as i64
    );
}

#[test]
fn bitpos_finds_set_and_clear_bits_in_ranges() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "s", "foobar"]);
    let p = |c: &mut redis::Connection, args: &[&str]| -> i64 {
        let mut v = vec!["BITPOS"];
        v.extend_from_slice(args);
        q(c, &v)
    };
    assert_eq!(p(&mut c, &["s", "1"]), 1);
    assert_eq!(p(&mut c, &["s", "0"]), 0);
    assert_eq!(p(&mut c, &["s", "1", "2"]), 17);
    assert_eq!(p(&mut c, &["s", "0", "2", "-1"]), 16);
    assert_eq!(p(&mut c, &["s", "1", "-1"]), 41);
    assert_eq!(p(&mut c, &["s", "1", "10", "20", "BIT"]), 10);
    assert_eq!(p(&mut c, &["s", "0", "10", "20", "bit"]), 11);
    assert_eq!(p(&mut c, &["s", "1", "2", "1"]), -1);
    assert_eq!(p(&mut c, &["missing", "0"]), 0);
    assert_eq!(p(&mut c, &["missing", "1"]), -1);
    // All ones: a clear bit is found past the end only without an explicit end.
    let _: () = redis::cmd("SET")
        .arg("ff")
        .arg(&b"\xff\xff\xff"[..])
        .query(&mut c)
        .expect("SET");
    assert_eq!(p(&mut c, &["ff", "0"]), 24);
    assert_eq!(p(&mut c, &["ff", "0", "1"]), 24);
    assert_eq!(p(&mut c, &["ff", "0", "0", "-1"]), -1);
    assert_eq!(p(&mut c, &["ff", "0", "0", "-1", "BIT"]), -1);
    assert_eq!(p(&mut c, &["ff", "1", "3", "1"]), -1);
    q::<()>(&mut c, &["SET", "e", ""]);
    assert_eq!(p(&mut c, &["e", "0"]), -1);
    assert_eq!(p(&mut c, &["e", "1"]), -1);
    assert_eq!(
        qerr(&mut c, &["BITPOS", "s", "2"]),
        "ERR The bit argument must be 1 or 0."
    );
    assert_eq!(
        qerr(&mut c, &["BITPOS", "missing", "2"]),
        "ERR The bit argument must be 1 or 0."
    );
    assert_eq!(
        qerr(&mut c, &["BITPOS", "s", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["BITPOS", "s", "1", "a"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["BITPOS", "s", "1", "0", "-1", "xx"]),
        "ERR syntax error"
    );
}

#[test]
fn bitop_combines_strings_and_deletes_an_empty_result() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "a", "foobar"]);
    q::<()>(&mut c, &["SET", "b", "abc"]);
    assert_eq!(q::<i64>(&mut c, &["BITOP", "AND", "d", "a", "b"]), 6);
    assert_eq!(get_bytes(&mut c, "d"), b"`bc\0\0\0");
    assert_eq!(q::<i64>(&mut c, &["BITOP", "or", "d", "a", "b"]), 6);
    assert_eq!(get_bytes(&mut c, "d"), b"goobar");
    assert_eq!(
        q::<i64>(&mut c, &["BITOP", "XOR", "d", "a", "b", "missing"]),
        6
    );
    assert_eq!(get_bytes(&mut c, "d"), b"\x07\x0d\x0cbar");
    assert_eq!(q::<i64>(&mut c, &["BITOP", "NOT", "d", "b"]), 3);
    assert_eq!(get_bytes(&mut c, "d"), [!b'a', !b'b', !b'c']);
    assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", "d"]), "raw");
    // The destination loses its TTL, as with SET.
    q::<i64>(&mut c, &["EXPIRE", "d", "100"]);
    q::<i64>(&mut c, &["BITOP", "OR", "d", "a"]);
    assert_eq!(q::<i64>(&mut c, &["TTL", "d"]), -1);
    // NOT of a missing key is empty: the destination is deleted.
    assert_eq!(q::<i64>(&mut c, &["BITOP", "NOT", "d", "missing"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "d"]), 0);
    assert_eq!(
        q::<i64>(&mut c, &["BITOP", "AND", "d", "missing", "other"]),
        0
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "d"]), 0);
    assert_eq!(
        qerr(&mut c, &["BITOP", "NOT", "d", "a", "b"]),
        "ERR BITOP NOT must be called with a single source key."
    );
    assert_eq!(
        qerr(&mut c, &["BITOP", "NAND", "d", "a"]),
        "ERR syntax error"
    );
}

#[test]
fn bitfield_get_set_incrby_with_types_and_hash_offsets() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let k = format!("bf-{proto}");
        q::<()>(&mut c, &["SET", &k, "foobar"]);
        let v = qv(
            &mut c,
            &[
                "BITFIELD", &k, "GET", "u8", "0", "GET", "i8", "#1", "GET", "u4", "3", "GET",
                "i64", "0", "GET", "u63", "1",
            ],
        );
        assert_eq!(
            v,
            ints(&[
                Some(102),
                Some(111),
                Some(3),
                Some(7381240782615871488),
                Some(7381240782615871488)
            ]),
            "{proto}"
        );
        let v = qv(
            &mut c,
            &[
                "BITFIELD", &k, "SET", "i5", "#3", "-3", "GET", "i5", "#3", "GET", "u5", "#3",
                "INCRBY", "i5", "#3", "20",
            ],
        );
        assert_eq!(v, ints(&[Some(-10), Some(-3), Some(29), Some(-15)]));
        let v = qv(
            &mut c,
            &["BITFIELD_RO", &k, "GET", "u8", "0", "GET", "i8", "#2"],
        );
        assert_eq!(v, ints(&[Some(102), Some(31)]));
    }
    let mut c = srv.conn();
    // Reads of a missing key are zeros and create nothing; no subcommand is an empty array.
    let v = qv(&mut c, &["BITFIELD", "missing", "GET", "u8", "0"]);
    assert_eq!(v, ints(&[Some(0)]));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "missing"]), 0);
    assert_eq!(qv(&mut c, &["BITFIELD", "missing"]), Value::Array(vec![]));
    assert_eq!(
        qv(&mut c, &["BITFIELD_RO", "missing"]),
        Value::Array(vec![])
    );
}

#[test]
fn bitfield_overflow_modes_with_i8_u8_and_i64() {
    let srv = Server::start();
    let mut c = srv.conn();
    let v = qv(
        &mut c,
        &[
            "BITFIELD", "k", "SET", "i8", "0", "100", "INCRBY", "i8", "0", "100", "OVERFLOW",
            "SAT", "INCRBY", "i8", "0", "100", "OVERFLOW", "FAIL", "INCRBY", "i8", "0", "100",
            "GET", "i8", "0",
        ],
    );
    assert_eq!(v, ints(&[Some(0), Some(-56), Some(44), None, Some(44)]));
    let v = qv(
        &mut c,
        &[
            "BITFIELD", "k", "OVERFLOW", "WRAP", "INCRBY", "u8", "8", "300", "OVERFLOW", "sat",
            "INCRBY", "u8", "8", "-1000", "SET", "u8", "16", "-1", "OVERFLOW", "SAT", "SET", "u8",
            "24", "-1", "OVERFLOW", "FAIL", "SET", "u8", "32", "256",
        ],
    );
    assert_eq!(v, ints(&[Some(44), Some(0), Some(0), Some(0), None]));
    let v = qv(
        &mut c,
        &[
            "BITFIELD",
            "k",
            "SET",
            "i64",
            "64",
            "9223372036854775807",
            "INCRBY",
            "i64",
            "64",
            "1",
            "OVERFLOW",
            "SAT",
            "INCRBY",
            "i64",
            "64",
            "-1",
            "INCRBY",
            "i64",
            "64",
            "9223372036854775807",
        ],
    );
    assert_eq!(
        v,
        ints(&[Some(0), Some(i64::MIN), Some(i64::MIN), Some(-1),])
    );
    let v = qv(
        &mut c,
        &[
            "BITFIELD",
            "k",
            "OVERFLOW",
            "FAIL",
            "INCRBY",
            "i64",
            "64",
            "-9223372036854775807",
            "OVERFLOW",
            "SAT",
            "SET",
            "u63",
            "128",
            "-5",
            "GET",
            "u63",
            "128",
            "INCRBY",
            "u63",
            "128",
            "5",
        ],
    );
    assert_eq!(
        v,
        ints(&[Some(i64::MIN), Some(0), Some(i64::MAX), Some(i64::MAX)])
    );
    // A FAIL-skipped write still grows the string, as in Redis.
    let v = qv(
        &mut c,
        &[
            "BITFIELD", "g", "OVERFLOW", "FAIL", "INCRBY", "u2", "100", "10",
        ],
    );
    assert_eq!(v, ints(&[None]));
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "g"]), 13);
}

#[test]
fn bitfield_errors_match_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "s", "foobar"]);
    let ty = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    let off = "ERR bit offset is not an integer or out of range";
    for t in ["u64", "i65", "x8", "U8", "i0", ""] {
        assert_eq!(qerr(&mut c, &["BITFIELD", "s", "GET", t, "0"]), ty, "{t}");
    }
    assert_eq!(qerr(&mut c, &["BITFIELD", "s", "GET", "i8", "-1"]), off);
    assert_eq!(qerr(&mut c, &["BITFIELD", "s", "GET", "i8", "#-1"]), off);
    assert_eq!(
        qerr(&mut c, &["BITFIELD", "s", "GET", "i8", "#536870912"]),
        off
    );
    assert_eq!(
        qerr(&mut c, &["BITFIELD", "s", "SET", "i8", "#4294967296", "1"]),
        off
    );
    assert_eq!(
        qerr(
            &mut c,
            &["BITFIELD", "s", "OVERFLOW", "foo", "GET", "u8", "0"]
        ),
        "ERR Invalid OVERFLOW type specified"
    );
    assert_eq!(
        qerr(&mut c, &["BITFIELD", "s", "OVERFLOW"]),
        "ERR syntax error"
    );
    assert_eq!(
        qerr(&mut c, &["BITFIELD", "s", "GET", "u8"]),
        "ERR syntax error"
    );
    assert_eq!(
        qerr(&mut c, &["BITFIELD", "s", "INCRBY", "u8", "0"]),
        "ERR syntax error"
    );
    assert_eq!(qerr(&mut c, &["BITFIELD", "s", "foo"]), "ERR syntax error");
    assert_eq!(
        qerr(&mut c, &["BITFIELD", "s", "SET", "u8", "0", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        qerr(
            &mut c,
            &["BITFIELD_RO", "s", "GET", "u8", "0", "SET", "u8", "0", "1"]
        ),
        "ERR BITFIELD_RO only supports the GET subcommand"
    );
    // Nothing of a failed command is applied.
    assert_eq!(q::<String>(&mut c, &["GET", "s"]), "foobar");
}

#[test]
fn bit_writes_record_their_deterministic_effects() {
    let srv = Server::start();
    if !eddy_only("bit_writes_record_their_deterministic_effects") {
        return;
    }
    let mut c = srv.conn();
    let from = last_offset(&mut c);
    q::<i64>(&mut c, &["SETBIT", "b", "7", "1"]);
    q::<i64>(&mut c, &["SETBIT", "b", "7", "1"]); // no change: nothing recorded
    qv(
        &mut c,
        &[
            "BITFIELD", "f", "SET", "u8", "#1", "200", "OVERFLOW", "SAT", "INCRBY", "u8", "#1",
            "100", "GET", "u8", "0",
        ],
    );
    qv(&mut c, &["BITFIELD", "f", "SET", "u8", "#1", "255"]); // no change
    qv(
        &mut c,
        &[
            "BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u8", "#1", "1",
        ],
    ); // skipped
    qv(
        &mut c,
        &[
            "BITFIELD", "f", "OVERFLOW", "FAIL", "INCRBY", "u8", "#9", "300",
        ],
    ); // grows only
    qv(&mut c, &["BITFIELD_RO", "f", "GET", "u8", "0"]);
    q::<i64>(&mut c, &["BITOP", "NOT", "d", "b"]);
    q::<i64>(&mut c, &["BITOP", "NOT", "d", "missing"]);
    q::<i64>(&mut c, &["BITOP", "NOT", "d", "missing"]); // nothing to delete
    let got: Vec<(String, Vec<String>)> = changes_after(&mut c, from)
        .into_iter()
        .map(|(e, a)| (e, words(&a)))
        .collect();
    let want: Vec<(&str, Vec<&str>)> = vec![
        ("setbit", vec!["SETBIT", "b", "7", "1"]),
        (
            "setbit",
            vec![
                "BITFIELD", "f", "SET", "u8", "8", "200", "SET", "u8", "8", "255",
            ],
        ),
        ("setbit", vec!["BITFIELD", "f", "SET", "u1", "79", "0"]),
        ("set", vec!["SET", "d", "\u{fffd}"]),
        ("del", vec!["DEL", "d"]),
    ];
    let got_ref: Vec<(&str, Vec<&str>)> = got
        .iter()
        .map(|(e, a)| (e.as_str(), a.iter().map(String::as_str).collect()))
        .collect();
    assert_eq!(got_ref, want);
}

#[test]
fn bitmap_effects_replay_exactly_after_a_restart() {
    if !eddy_only("bitmap_effects_replay_exactly_after_a_restart") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<i64>(&mut c, &["SETBIT", "b", "1000", "1"]);
    q::<i64>(&mut c, &["SETBIT", "b", "3", "1"]);
    q::<i64>(&mut c, &["SETBIT", "b", "1000", "0"]);
    qv(
        &mut c,
        &[
            "BITFIELD", "f", "SET", "i8", "0", "100", "INCRBY", "i8", "0", "100", "OVERFLOW",
            "SAT", "INCRBY", "i8", "#1", "-1000", "OVERFLOW", "FAIL", "INCRBY", "u4", "200", "99",
            "SET", "i64", "16", "-7",
        ],
    );
    qv(
        &mut c,
        &[
            "BITFIELD", "g", "OVERFLOW", "FAIL", "INCRBY", "u2", "100", "10",
        ],
    );
    q::<()>(&mut c, &["SET", "x", "foobar"]);
    q::<i64>(&mut c, &["BITOP", "XOR", "d", "x", "b", "f"]);
    q::<i64>(&mut c, &["BITOP", "NOT", "e", "x"]);
    q::<i64>(&mut c, &["BITOP", "AND", "e", "missing"]);
    let keys = ["b", "f", "g", "d", "e"];
    let before: Vec<Vec<u8>> = keys.iter().map(|k| get_bytes(&mut c, k)).collect();
    drop(c);
    let srv = restart_from_log(srv);
    let mut c = srv.conn();
    let after: Vec<Vec<u8>> = keys.iter().map(|k| get_bytes(&mut c, k)).collect();
    assert_eq!(before, after);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "e"]), 0);
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "g"]), 13);
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "b"]), 126);
}

#[test]
fn raw_replies_are_byte_exact() {
    let srv = Server::start();
    let mut raw = srv.raw();
    raw.send_cmd(&["SET", "s", "foobar"]);
    raw.read_raw();
    raw.send_cmd(&[
        "BITFIELD", "s", "GET", "u8", "0", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "1000",
    ]);
    assert_eq!(raw.read_raw(), b"*2\r\n:102\r\n$-1\r\n");
    raw.send_cmd(&["BITPOS", "s", "2"]);
    assert_eq!(raw.read_raw(), b"-ERR The bit argument must be 1 or 0.\r\n");
}

#[test]
fn bit_writes_notify_setbit_set_and_del() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "E$g"]);
    let mut sub = srv.raw();
    sub.send_cmd(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    sub.read_raw();
    q::<i64>(&mut c, &["SETBIT", "b", "3", "1"]);
    q::<i64>(&mut c, &["SETBIT", "b", "3", "1"]); // no change, no event
    qv(&mut c, &["BITFIELD", "b", "SET", "u8", "0", "1"]);
    q::<i64>(&mut c, &["BITOP", "NOT", "c", "b"]);
    q::<i64>(&mut c, &["BITOP", "NOT", "c", "missing"]);
    q::<()>(&mut c, &["SET", "end", "x"]);
    let mut got = Vec::new();
    loop {
        let w = sub.read_wire();
        let parts: Vec<&str> = w.split("\r\n").collect();
        let (event, key) = (parts[6].to_string(), parts[8].to_string());
        if key == "end" {
            break;
        }
        got.push(format!("{event} {key}"));
    }
    assert_eq!(
        got,
        [
            "__keyevent@0__:setbit b",
            "__keyevent@0__:setbit b",
            "__keyevent@0__:set c",
            "__keyevent@0__:del c"
        ]
    );
}

#[test]
fn growing_a_string_reserves_what_redis_reserves_not_double() {
    let srv = Server::start();
    let mut c = srv.conn();
    let usage = |c: &mut redis::Connection, k: &str| -> i64 {
        redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(k)
            .query(c)
            .expect("MEMORY USAGE")
    };
    let len: i64 = (16 << 20) + 1;
    // SETBIT, SETRANGE and APPEND past the end each grow an existing string to just over 16 MiB.
    let _: () = redis::cmd("SET").arg("b").arg("x").query(&mut c).unwrap();
    let _: i64 = redis::cmd("SETBIT")
        .arg("b")
        .arg(16 << 23)
        .arg(1)
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("SET").arg("r").arg("x").query(&mut c).unwrap();
    let _: i64 = redis::cmd("SETRANGE")
        .arg("r")
        .arg(16 << 20)
        .arg("y")
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("a")
        .arg(vec![b'z'; 16 << 20])
        .query(&mut c)
        .unwrap();
    let _: i64 = redis::cmd("APPEND")
        .arg("a")
        .arg("y")
        .query(&mut c)
        .unwrap();
    for k in ["b", "r", "a"] {
        let n: i64 = redis::cmd("STRLEN").arg(k).query(&mut c).unwrap();
        assert_eq!(n, len, "{k}");
        // Redis adds 1 MiB of room past 1 MiB (its allocator rounds that up a little more);
        // rounding to the next power of two would hold 32 MiB.
        let used = usage(&mut c, k);
        assert!(
            used < len * 3 / 2,
            "{k}: MEMORY USAGE {used} for {len} bytes"
        );
    }
}
