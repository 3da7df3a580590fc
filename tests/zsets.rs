//! Sorted-set commands through the `redis` crate on RESP2 and RESP3: options, reply shapes,
//! score parsing and formatting, Redis's exact errors, encodings, DUMP/RESTORE, the recorded
//! change events, and a model-based run of random commands against an in-test model.

mod common;

use std::collections::BTreeMap;

use common::{eddy_only, q, qerr, qv, vget, vstr, Rng, Server};
use redis::Value;

fn b(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn bulks(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| b(s)).collect())
}

/// RESP3 nested (member, score) pairs with scores as doubles.
fn pairs3(items: &[(&str, f64)]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|(m, s)| Value::Array(vec![b(m), Value::Double(*s)]))
            .collect(),
    )
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

// ---------------------------------------------------------------------------------------------
// ZADD / ZINCRBY / ZREM / point reads

#[test]
fn zadd_adds_updates_and_counts_with_ch() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(
        qv(&mut c, &["ZADD", "z", "1", "a", "2", "b"]),
        Value::Int(2)
    );
    assert_eq!(
        qv(&mut c, &["ZADD", "z", "3", "a", "4", "c"]),
        Value::Int(1)
    );
    assert_eq!(
        qv(&mut c, &["ZADD", "z", "CH", "5", "a", "4", "c", "6", "d"]),
        Value::Int(2)
    );
    assert_eq!(qv(&mut c, &["ZCARD", "z"]), Value::Int(4));
    assert_eq!(qv(&mut c, &["ZSCORE", "z", "a"]), b("5"));
    assert_eq!(qv(&mut c, &["ZSCORE", "z", "nope"]), Value::Nil);
    assert_eq!(qv(&mut c, &["ZCARD", "missing"]), Value::Int(0));
}

#[test]
fn zadd_nx_xx_gt_lt_follow_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["ZADD", "z", "5", "a"]);
    assert_eq!(
        qv(&mut c, &["ZADD", "z", "NX", "1", "a", "1", "b"]),
        Value::Int(1)
    );
    assert_eq!(qv(&mut c, &["ZSCORE", "z", "a"]), b("5"));
    assert_eq!(
        qv(&mut c, &["ZADD", "z", "XX", "7", "a", "1", "c"]),
        Value::Int(0)
    );
    assert_eq!(qv(&mut c, &["ZSCORE", "z", "a"]), b("7"));
    assert_eq!(qv(&mut c, &["ZSCORE", "z", "c"]), Value::Nil);
    // GT only raises, LT only lowers; new members are still added.
    assert_eq!(
        qv(
            &mut c,
            &["ZADD", "z", "GT", "CH", "6", "a", "9", "b", "1", "d"]
        ),
        Value::Int(2)
    );
    assert_eq!(qv(&mut c, &["ZSCORE", "z", "a"]), b("7"));
    assert_eq!(qv(&mut c, &["ZSCORE", "z", "b"]), b("9"));
    assert_eq!(
        qv(&mut c, &["ZADD", "z", "LT", "CH", "8", "a", "2", "b"]),
        Value::Int(1)
    );
    assert_eq!(qv(&mut c, &["ZSCORE", "z", "b"]), b("2"));
    // XX on a missing key creates nothing.
    assert_eq!(qv(&mut c, &["ZADD", "none", "XX", "1", "a"]), Value::Int(0));
    assert_eq!(qv(&mut c, &["EXISTS", "none"]), Value::Int(0));
    assert_eq!(
        qv(&mut c, &["ZADD", "none", "XX", "INCR", "1", "a"]),
        Value::Nil
    );
}

#[test]
fn zadd_option_errors_match_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(
        qerr(&mut c, &["ZADD", "z", "NX", "XX", "1", "a"]),
        "ERR XX and NX options at the same time are not compatible"
    );
    assert_eq!(
        qerr(&mut c, &["ZADD", "z", "GT", "LT", "1", "a"]),
        "ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        qerr(&mut c, &["ZADD", "z", "NX", "GT", "1", "a"]),
        "ERR GT, LT, and/or NX options at the same time are not compatible"
    );
    assert_eq!(
        qerr(&mut c, &["ZADD", "z", "INCR", "1", "a", "2", "b"]),
        "ERR INCR option supports a single increment-element pair"
    );
    assert_eq!(
        qerr(&mut c, &["ZADD", "z", "1", "a", "2"]),
        "ERR syntax error"
    );
    assert_eq!(qerr(&mut c, &["ZADD", "z", "CH", "a"]), "ERR syntax error");
    assert_eq!(
        qerr(&mut c, &["ZADD", "z", "nan", "a"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        qerr(&mut c, &["ZADD", "z", "1", "a", "x", "b"]),
        "ERR value is not a valid float"
    );
    // Nothing was added by the failed commands.
    assert_eq!(qv(&mut c, &["EXISTS", "z"]), Value::Int(0));
    assert_eq!(
        qerr(&mut c, &["ZADD", "z", "1"]),
        "ERR wrong number of arguments for 'zadd' command"
    );
}

#[test]
fn incr_replies_a_double_and_rejects_nan_results() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let k = format!("z-{proto}");
        let r = qv(&mut c, &["ZINCRBY", &k, "1.5", "a"]);
        let r2 = qv(&mut c, &["ZADD", &k, "INCR", "1", "a"]);
        if proto == "resp3" {
            assert_eq!(r, Value::Double(1.5));
            assert_eq!(r2, Value::Double(2.5));
        } else {
            assert_eq!(r, b("1.5"));
            assert_eq!(r2, b("2.5"));
        }
        assert_eq!(
            qv(&mut c, &["ZADD", &k, "NX", "INCR", "1", "a"]),
            Value::Nil
        );
        assert_eq!(
            qv(&mut c, &["ZADD", &k, "GT", "INCR", "-1", "a"]),
            Value::Nil
        );
        q::<()>(&mut c, &["ZADD", &k, "inf", "x"]);
        assert_eq!(
            qerr(&mut c, &["ZINCRBY", &k, "-inf", "x"]),
            "ERR resulting score is not a number (NaN)"
        );
        assert_eq!(
            qerr(&mut c, &["ZINCRBY", &k, "abc", "x"]),
            "ERR value is not a valid float"
        );
    }
}

#[test]
fn scores_are_formatted_like_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(
        &mut c,
        &[
            "ZADD", "z", "1.1", "a", "+inf", "b", "-inf", "c", "1e20", "d", "-0", "e", "0.00001",
            "f",
        ],
    );
    assert_eq!(qv(&mut c, &["ZSCORE", "z", "a"]), b("1.1000000000000001"));
    assert_eq!(qv(&mut c, &["ZSCORE", "z", "b"]), b("inf"));
    assert_eq!(qv(&mut c, &["ZSCORE", "z", "c"]), b("-inf"));
    assert_eq!(qv(&mut c, &["ZSCORE", "z", "d"]), b("1e+20"));
    // A listpack drops the sign of -0, as Redis's does.
    assert_eq!(qv(&mut c, &["ZSCORE", "z", "e"]), b("0"));
    assert_eq!(
        qv(&mut c, &["ZSCORE", "z", "f"]),
        b("1.0000000000000001e-05")
    );
    let mut c3 = srv.conn3();
    assert_eq!(
        qv(&mut c3, &["ZSCORE", "z", "b"]),
        Value::Double(f64::INFINITY)
    );
    let mut raw = srv.raw();
    raw.send_cmd(&["HELLO", "3"]);
    raw.read_reply();
    raw.send_cmd(&["ZSCORE", "z", "a"]);
    assert_eq!(raw.read_wire(), ",1.1000000000000001\r\n");
    raw.send_cmd(&["ZMSCORE", "z", "c", "nope"]);
    assert_eq!(raw.read_wire(), "*2\r\n,-inf\r\n_\r\n");
}

#[test]
fn zmscore_and_zrem() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(
        qv(&mut c, &["ZMSCORE", "z", "a", "x", "c"]),
        Value::Array(vec![b("1"), Value::Nil, b("3")])
    );
    assert_eq!(
        qv(&mut c, &["ZMSCORE", "missing", "a"]),
        Value::Array(vec![Value::Nil])
    );
    assert_eq!(qv(&mut c, &["ZREM", "z", "a", "x", "a"]), Value::Int(1));
    assert_eq!(qv(&mut c, &["ZREM", "missing", "a"]), Value::Int(0));
    assert_eq!(qv(&mut c, &["ZREM", "z", "b", "c"]), Value::Int(2));
    assert_eq!(
        qv(&mut c, &["EXISTS", "z"]),
        Value::Int(0),
        "emptied set is deleted"
    );
}

#[test]
fn zrank_and_zrevrank_with_and_without_score() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        q::<()>(&mut c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
        assert_eq!(qv(&mut c, &["ZRANK", "z", "a"]), Value::Int(0));
        assert_eq!(qv(&mut c, &["ZREVRANK", "z", "a"]), Value::Int(2));
        assert_eq!(qv(&mut c, &["ZRANK", "z", "x"]), Value::Nil);
        if common::reference_mode() {
            // WITHSCORE is Redis 7.2's; the reference server is 7.0.
            continue;
        }
        let ws = qv(&mut c, &["ZRANK", "z", "b", "WITHSCORE"]);
        let want_score = if proto == "resp3" {
            Value::Double(2.0)
        } else {
            b("2")
        };
        assert_eq!(ws, Value::Array(vec![Value::Int(1), want_score]));
        assert_eq!(qv(&mut c, &["ZRANK", "z", "x", "WITHSCORE"]), Value::Nil);
        assert_eq!(qv(&mut c, &["ZREVRANK", "missing", "x"]), Value::Nil);
        assert_eq!(
            qerr(&mut c, &["ZRANK", "z", "a", "foo"]),
            "ERR syntax error"
        );
    }
    if common::reference_mode() {
        return;
    }
    let mut raw = srv.raw();
    raw.send_cmd(&["ZRANK", "z", "x", "WITHSCORE"]);
    assert_eq!(raw.read_wire(), "*-1\r\n");
    raw.send_cmd(&["ZRANK", "z", "x"]);
    assert_eq!(raw.read_wire(), "$-1\r\n");
}

// ---------------------------------------------------------------------------------------------
// Ranges

fn abc(c: &mut redis::Connection) {
    q::<()>(
        c,
        &[
            "ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e",
        ],
    );
}

#[test]
fn zrange_by_rank_with_scores_is_flat_in_resp2_and_nested_in_resp3() {
    let srv = Server::start();
    let mut c = srv.conn();
    abc(&mut c);
    assert_eq!(qv(&mut c, &["ZRANGE", "z", "0", "1"]), bulks(&["a", "b"]));
    assert_eq!(
        qv(&mut c, &["ZRANGE", "z", "-2", "-1", "WITHSCORES"]),
        bulks(&["d", "4", "e", "5"])
    );
    assert_eq!(
        qv(&mut c, &["ZRANGE", "z", "0", "-1", "REV"]),
        bulks(&["e", "d", "c", "b", "a"])
    );
    assert_eq!(qv(&mut c, &["ZREVRANGE", "z", "0", "0"]), bulks(&["e"]));
    assert_eq!(qv(&mut c, &["ZRANGE", "z", "3", "1"]), bulks(&[]));
    assert_eq!(
        qv(&mut c, &["ZRANGE", "z", "-100", "100"]).to_owned(),
        bulks(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(qv(&mut c, &["ZRANGE", "missing", "0", "-1"]), bulks(&[]));
    let mut c3 = srv.conn3();
    assert_eq!(
        qv(&mut c3, &["ZRANGE", "z", "0", "1", "WITHSCORES"]),
        pairs3(&[("a", 1.0), ("b", 2.0)])
    );
}

#[test]
fn zrange_byscore_and_bylex_with_limit_and_rev() {
    let srv = Server::start();
    let mut c = srv.conn();
    abc(&mut c);
    assert_eq!(
        qv(&mut c, &["ZRANGE", "z", "(1", "4", "BYSCORE"]),
        bulks(&["b", "c", "d"])
    );
    assert_eq!(
        qv(
            &mut c,
            &["ZRANGE", "z", "-inf", "+inf", "BYSCORE", "LIMIT", "1", "2"]
        ),
        bulks(&["b", "c"])
    );
    assert_eq!(
        qv(
            &mut c,
            &[
                "ZRANGE",
                "z",
                "4",
                "(1",
                "BYSCORE",
                "REV",
                "LIMIT",
                "0",
                "2",
                "WITHSCORES"
            ]
        ),
        bulks(&["d", "4", "c", "3"])
    );
    assert_eq!(
        qv(
            &mut c,
            &["ZRANGE", "z", "0", "10", "BYSCORE", "LIMIT", "-1", "2"]
        ),
        bulks(&[])
    );
    assert_eq!(
        qv(
            &mut c,
            &["ZRANGE", "z", "0", "10", "BYSCORE", "LIMIT", "3", "-5"]
        ),
        bulks(&["d", "e"])
    );
    assert_eq!(
        qv(&mut c, &["ZRANGEBYSCORE", "z", "2", "3"]),
        bulks(&["b", "c"])
    );
    assert_eq!(
        qv(
            &mut c,
            &["ZREVRANGEBYSCORE", "z", "+inf", "(4", "WITHSCORES"]
        ),
        bulks(&["e", "5"])
    );
    assert_eq!(qv(&mut c, &["ZCOUNT", "z", "(1", "(5"]), Value::Int(3));
    assert_eq!(qv(&mut c, &["ZCOUNT", "z", "5", "1"]), Value::Int(0));
    q::<()>(
        &mut c,
        &["ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d"],
    );
    assert_eq!(
        qv(&mut c, &["ZRANGE", "l", "[b", "+", "BYLEX"]),
        bulks(&["b", "c", "d"])
    );
    assert_eq!(
        qv(&mut c, &["ZRANGE", "l", "(c", "-", "BYLEX", "REV"]),
        bulks(&["b", "a"])
    );
    assert_eq!(
        qv(&mut c, &["ZRANGEBYLEX", "l", "-", "+", "LIMIT", "1", "2"]),
        bulks(&["b", "c"])
    );
    assert_eq!(
        qv(&mut c, &["ZREVRANGEBYLEX", "l", "[c", "(a"]),
        bulks(&["c", "b"])
    );
    assert_eq!(qv(&mut c, &["ZLEXCOUNT", "l", "(a", "[c"]), Value::Int(2));
    assert_eq!(qv(&mut c, &["ZLEXCOUNT", "l", "+", "-"]), Value::Int(0));
}

#[test]
fn range_errors_match_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    abc(&mut c);
    let cases: &[(&[&str], &str)] = &[
        (
            &["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"],
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ),
        (
            &["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"],
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ),
        (
            &["ZRANGEBYLEX", "z", "-", "+", "WITHSCORES"],
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ),
        (
            &["ZRANGE", "z", "a", "1", "BYSCORE"],
            "ERR min or max is not a float",
        ),
        (
            &["ZRANGE", "z", "nan", "1", "BYSCORE"],
            "ERR min or max is not a float",
        ),
        (&["ZCOUNT", "z", "1", "x"], "ERR min or max is not a float"),
        (
            &["ZRANGE", "z", "a", "+", "BYLEX"],
            "ERR min or max not valid string range item",
        ),
        (
            &["ZLEXCOUNT", "z", "-", "b"],
            "ERR min or max not valid string range item",
        ),
        (
            &["ZRANGE", "z", "x", "1"],
            "ERR value is not an integer or out of range",
        ),
        (&["ZRANGE", "z", "0", "1", "FOO"], "ERR syntax error"),
        (&["ZRANGE", "z", "0", "1", "LIMIT", "0"], "ERR syntax error"),
        (&["ZREVRANGE", "z", "0", "1", "REV"], "ERR syntax error"),
        (
            &["ZRANGEBYSCORE", "z", "0", "1", "BYLEX"],
            "ERR syntax error",
        ),
        (
            &["ZRANGESTORE", "d", "z", "0", "1", "WITHSCORES"],
            "ERR syntax error",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(qerr(&mut c, args), *want, "{args:?}");
    }
}

#[test]
fn zrangestore_stores_the_range_and_deletes_on_empty() {
    let srv = Server::start();
    let mut c = srv.conn();
    abc(&mut c);
    q::<()>(&mut c, &["SET", "d", "string"]);
    assert_eq!(
        qv(
            &mut c,
            &["ZRANGESTORE", "d", "z", "4", "2", "BYSCORE", "REV"]
        ),
        Value::Int(3)
    );
    assert_eq!(
        qv(&mut c, &["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
        bulks(&["b", "2", "c", "3", "d", "4"])
    );
    assert_eq!(
        qv(&mut c, &["ZRANGESTORE", "d", "z", "10", "20"]),
        Value::Int(0)
    );
    assert_eq!(qv(&mut c, &["EXISTS", "d"]), Value::Int(0));
    assert_eq!(
        qv(&mut c, &["ZRANGESTORE", "d", "missing", "0", "-1"]),
        Value::Int(0)
    );
}

#[test]
fn zremrange_commands_remove_and_delete_empty_sets() {
    let srv = Server::start();
    let mut c = srv.conn();
    abc(&mut c);
    assert_eq!(
        qv(&mut c, &["ZREMRANGEBYRANK", "z", "0", "1"]),
        Value::Int(2)
    );
    assert_eq!(
        qv(&mut c, &["ZREMRANGEBYSCORE", "z", "(3", "4"]),
        Value::Int(1)
    );
    assert_eq!(qv(&mut c, &["ZRANGE", "z", "0", "-1"]), bulks(&["c", "e"]));
    assert_eq!(
        qv(&mut c, &["ZREMRANGEBYRANK", "z", "5", "10"]),
        Value::Int(0)
    );
    assert_eq!(
        qv(&mut c, &["ZREMRANGEBYSCORE", "z", "-inf", "+inf"]),
        Value::Int(2)
    );
    assert_eq!(qv(&mut c, &["EXISTS", "z"]), Value::Int(0));
    q::<()>(&mut c, &["ZADD", "l", "0", "a", "0", "b", "0", "c"]);
    assert_eq!(
        qv(&mut c, &["ZREMRANGEBYLEX", "l", "[a", "(c"]),
        Value::Int(2)
    );
    assert_eq!(
        qv(&mut c, &["ZREMRANGEBYLEX", "l", "-", "+"]),
        Value::Int(1)
    );
    assert_eq!(qv(&mut c, &["EXISTS", "l"]), Value::Int(0));
    assert_eq!(
        qv(&mut c, &["ZREMRANGEBYLEX", "missing", "-", "+"]),
        Value::Int(0)
    );
    assert_eq!(
        qerr(&mut c, &["ZREMRANGEBYSCORE", "z", "x", "1"]),
        "ERR min or max is not a float"
    );
}

// ---------------------------------------------------------------------------------------------
// Pops

#[test]
fn zpop_reply_shapes_follow_redis_7() {
    let srv = Server::start();
    let mut raw = srv.raw();
    raw.call(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
    raw.send_cmd(&["ZPOPMIN", "z"]);
    assert_eq!(raw.read_wire(), "*2\r\n$1\r\na\r\n$1\r\n1\r\n");
    raw.send_cmd(&["ZPOPMAX", "z", "2"]);
    assert_eq!(
        raw.read_wire(),
        "*4\r\n$1\r\nd\r\n$1\r\n4\r\n$1\r\nc\r\n$1\r\n3\r\n"
    );
    raw.call(&["HELLO", "3"]);
    raw.call(&["ZADD", "z", "5", "e"]);
    raw.send_cmd(&["ZPOPMIN", "z"]);
    assert_eq!(raw.read_wire(), "*2\r\n$1\r\nb\r\n,2\r\n");
    raw.send_cmd(&["ZPOPMIN", "z", "5"]);
    assert_eq!(raw.read_wire(), "*1\r\n*2\r\n$1\r\ne\r\n,5\r\n");
    raw.send_cmd(&["EXISTS", "z"]);
    assert_eq!(raw.read_wire(), ":0\r\n");
    raw.send_cmd(&["ZPOPMIN", "z"]);
    assert_eq!(raw.read_wire(), "*0\r\n");
    let mut c = srv.conn();
    q::<()>(&mut c, &["ZADD", "y", "1", "a"]);
    assert_eq!(qv(&mut c, &["ZPOPMIN", "y", "0"]), bulks(&[]));
    assert_eq!(
        qerr(&mut c, &["ZPOPMIN", "y", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        qerr(&mut c, &["ZPOPMIN", "y", "1", "2"]),
        "ERR syntax error"
    );
}

#[test]
fn zmpop_pops_from_the_first_non_empty_key() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        q::<()>(&mut c, &["ZADD", "b", "1", "x", "2", "y", "3", "z"]);
        let r = qv(&mut c, &["ZMPOP", "2", "a", "b", "MAX", "COUNT", "2"]);
        let (s3, s2) = if proto == "resp3" {
            (Value::Double(3.0), Value::Double(2.0))
        } else {
            (b("3"), b("2"))
        };
        assert_eq!(
            r,
            Value::Array(vec![
                b("b"),
                Value::Array(vec![
                    Value::Array(vec![b("z"), s3]),
                    Value::Array(vec![b("y"), s2]),
                ])
            ])
        );
        assert_eq!(
            qv(&mut c, &["ZMPOP", "1", "b", "MIN", "COUNT", "10"]),
            Value::Array(vec![
                b("b"),
                Value::Array(vec![Value::Array(vec![
                    b("x"),
                    if proto == "resp3" {
                        Value::Double(1.0)
                    } else {
                        b("1")
                    }
                ])])
            ])
        );
        assert_eq!(qv(&mut c, &["ZMPOP", "2", "a", "b", "MIN"]), Value::Nil);
    }
    let mut c = srv.conn();
    let cases: &[(&[&str], &str)] = &[
        (
            &["ZMPOP", "0", "a", "MIN"],
            "ERR numkeys should be greater than 0",
        ),
        (
            &["ZMPOP", "x", "a", "MIN"],
            "ERR numkeys should be greater than 0",
        ),
        (&["ZMPOP", "2", "a", "MIN"], "ERR syntax error"),
        (&["ZMPOP", "1", "a", "FOO"], "ERR syntax error"),
        (
            &["ZMPOP", "1", "a", "MIN", "COUNT", "0"],
            "ERR count should be greater than 0",
        ),
        (
            &["ZMPOP", "1", "a", "MIN", "COUNT", "x"],
            "ERR count should be greater than 0",
        ),
        (
            &["ZMPOP", "1", "a", "MIN", "COUNT", "1", "COUNT", "1"],
            "ERR syntax error",
        ),
    ];
    for (args, want) in cases {
        assert_eq!(qerr(&mut c, args), *want, "{args:?}");
    }
    let mut raw = srv.raw();
    raw.send_cmd(&["ZMPOP", "1", "nothing", "MIN"]);
    assert_eq!(raw.read_wire(), "*-1\r\n");
}

// ---------------------------------------------------------------------------------------------
// Set algebra

#[test]
fn zunion_zinter_zdiff_with_weights_aggregates_and_sets() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["ZADD", "a", "1", "x", "2", "y", "3", "z"]);
    q::<()>(&mut c, &["ZADD", "b", "10", "y", "20", "z", "30", "w"]);
    q::<()>(&mut c, &["SADD", "s", "z", "v"]);
    assert_eq!(
        qv(&mut c, &["ZUNION", "2", "a", "b", "WITHSCORES"]),
        bulks(&["x", "1", "y", "12", "z", "23", "w", "30"])
    );
    assert_eq!(
        qv(
            &mut c,
            &[
                "ZUNION",
                "2",
                "a",
                "b",
                "WEIGHTS",
                "2",
                "0.5",
                "AGGREGATE",
                "MAX",
                "WITHSCORES"
            ]
        ),
        bulks(&["x", "2", "y", "5", "z", "10", "w", "15"])
    );
    assert_eq!(
        qv(
            &mut c,
            &["ZINTER", "2", "a", "b", "AGGREGATE", "MIN", "WITHSCORES"]
        ),
        bulks(&["y", "2", "z", "3"])
    );
    assert_eq!(qv(&mut c, &["ZINTER", "3", "a", "b", "s"]), bulks(&["z"]));
    assert_eq!(
        qv(&mut c, &["ZUNION", "2", "a", "s", "WITHSCORES"]),
        bulks(&["v", "1", "x", "1", "y", "2", "z", "4"])
    );
    assert_eq!(
        qv(&mut c, &["ZDIFF", "2", "a", "b", "WITHSCORES"]),
        bulks(&["x", "1"])
    );
    assert_eq!(
        qv(&mut c, &["ZDIFF", "2", "a", "missing"]),
        bulks(&["x", "y", "z"])
    );
    assert_eq!(qv(&mut c, &["ZINTER", "2", "a", "missing"]), bulks(&[]));
    assert_eq!(qv(&mut c, &["ZINTERCARD", "2", "a", "b"]), Value::Int(2));
    assert_eq!(
        qv(&mut c, &["ZINTERCARD", "2", "a", "b", "LIMIT", "1"]),
        Value::Int(1)
    );
    assert_eq!(
        qv(&mut c, &["ZINTERCARD", "2", "a", "b", "LIMIT", "0"]),
        Value::Int(2)
    );
    // inf + -inf aggregates to 0, as in Redis.
    q::<()>(&mut c, &["ZADD", "pinf", "inf", "m"]);
    q::<()>(&mut c, &["ZADD", "ninf", "-inf", "m"]);
    assert_eq!(
        qv(&mut c, &["ZUNION", "2", "pinf", "ninf", "WITHSCORES"]),
        bulks(&["m", "0"])
    );
    let mut c3 = srv.conn3();
    assert_eq!(
        qv(&mut c3, &["ZINTER", "2", "a", "b", "WITHSCORES"]),
        pairs3(&[("y", 12.0), ("z", 23.0)])
    );
}

#[test]
fn store_forms_replace_the_destination() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["ZADD", "a", "1", "x", "2", "y"]);
    q::<()>(&mut c, &["ZADD", "b", "3", "y", "4", "z"]);
    q::<()>(&mut c, &["SET", "d", "old"]);
    q::<()>(&mut c, &["EXPIRE", "d", "100"]);
    assert_eq!(
        qv(&mut c, &["ZUNIONSTORE", "d", "2", "a", "b"]),
        Value::Int(3)
    );
    assert_eq!(qv(&mut c, &["TTL", "d"]), Value::Int(-1));
    assert_eq!(
        qv(&mut c, &["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
        bulks(&["x", "1", "z", "4", "y", "5"])
    );
    assert_eq!(
        qv(
            &mut c,
            &["ZINTERSTORE", "d", "2", "a", "b", "WEIGHTS", "2", "3"]
        ),
        Value::Int(1)
    );
    assert_eq!(
        qv(&mut c, &["ZRANGE", "d", "0", "-1", "WITHSCORES"]),
        bulks(&["y", "13"])
    );
    assert_eq!(
        qv(&mut c, &["ZDIFFSTORE", "d", "2", "a", "b"]),
        Value::Int(1)
    );
    assert_eq!(qv(&mut c, &["ZRANGE", "d", "0", "-1"]), bulks(&["x"]));
    // The destination may be a source.
    assert_eq!(
        qv(&mut c, &["ZUNIONSTORE", "a", "2", "a", "b"]),
        Value::Int(3)
    );
    assert_eq!(
        qv(&mut c, &["ZINTERSTORE", "d", "2", "a", "missing"]),
        Value::Int(0)
    );
    assert_eq!(qv(&mut c, &["EXISTS", "d"]), Value::Int(0));
}

#[test]
fn set_algebra_errors_match_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["ZADD", "a", "1", "x"]);
    q::<()>(&mut c, &["SET", "str", "v"]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["ZUNION", "0", "a"],
            "ERR at least 1 input key is needed for 'zunion' command",
        ),
        (
            &["ZUNIONSTORE", "d", "0", "a"],
            "ERR at least 1 input key is needed for 'zunionstore' command",
        ),
        (
            &["ZINTERCARD", "0", "a"],
            "ERR at least 1 input key is needed for 'zintercard' command",
        ),
        (&["ZUNION", "2", "a"], "ERR syntax error"),
        (&["ZINTERCARD", "3", "a"], "ERR syntax error"),
        (
            &["ZUNION", "x", "a"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["ZUNION", "1", "a", "WEIGHTS", "x"],
            "ERR weight value is not a float",
        ),
        (&["ZUNION", "1", "a", "WEIGHTS"], "ERR syntax error"),
        (
            &["ZUNION", "1", "a", "AGGREGATE", "AVG"],
            "ERR syntax error",
        ),
        (&["ZDIFF", "1", "a", "WEIGHTS", "1"], "ERR syntax error"),
        (
            &["ZUNIONSTORE", "d", "1", "a", "WITHSCORES"],
            "ERR syntax error",
        ),
        (
            &["ZINTERCARD", "1", "a", "LIMIT", "-1"],
            "ERR LIMIT can't be negative",
        ),
        (
            &["ZINTERCARD", "1", "a", "LIMIT", "x"],
            "ERR LIMIT can't be negative",
        ),
        (&["ZUNION", "2", "a", "str"], WRONGTYPE),
        // Keys are checked before the options.
        (&["ZUNION", "2", "a", "str", "BOGUS"], WRONGTYPE),
    ];
    for (args, want) in cases {
        assert_eq!(qerr(&mut c, args), *want, "{args:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// ZRANDMEMBER, ZSCAN

#[test]
fn zrandmember_counts_and_shapes() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    let one = vstr(&qv(&mut c, &["ZRANDMEMBER", "z"])).unwrap();
    assert!(["a", "b", "c"].contains(&one.as_str()));
    assert_eq!(qv(&mut c, &["ZRANDMEMBER", "missing"]), Value::Nil);
    assert_eq!(qv(&mut c, &["ZRANDMEMBER", "missing", "3"]), bulks(&[]));
    assert_eq!(qv(&mut c, &["ZRANDMEMBER", "z", "0"]), bulks(&[]));
    let Value::Array(all) = qv(&mut c, &["ZRANDMEMBER", "z", "10"]) else {
        panic!()
    };
    assert_eq!(all.len(), 3);
    let Value::Array(two) = qv(&mut c, &["ZRANDMEMBER", "z", "2"]) else {
        panic!()
    };
    assert_eq!(two.len(), 2);
    assert_ne!(two[0], two[1], "positive counts are distinct");
    let Value::Array(rep) = qv(&mut c, &["ZRANDMEMBER", "z", "-7", "WITHSCORES"]) else {
        panic!()
    };
    assert_eq!(rep.len(), 14);
    for p in rep.chunks(2) {
        let m = vstr(&p[0]).unwrap();
        let want = match m.as_str() {
            "a" => "1",
            "b" => "2",
            _ => "3",
        };
        assert_eq!(p[1], b(want));
    }
    let mut c3 = srv.conn3();
    let Value::Array(nested) = qv(&mut c3, &["ZRANDMEMBER", "z", "2", "WITHSCORES"]) else {
        panic!()
    };
    assert!(nested
        .iter()
        .all(|p| matches!(p, Value::Array(v) if v.len() == 2)));
    assert_eq!(
        qerr(&mut c, &["ZRANDMEMBER", "z", "1", "X"]),
        "ERR syntax error"
    );
    assert_eq!(
        qerr(
            &mut c,
            &["ZRANDMEMBER", "z", "-9223372036854775807", "WITHSCORES"]
        ),
        "ERR value is out of range"
    );
}

#[test]
fn zscan_returns_every_member_on_both_encodings() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["ZADD", "small", "1.5", "a", "2", "b"]);
    assert_eq!(
        qv(&mut c, &["ZSCAN", "small", "0"]),
        Value::Array(vec![b("0"), bulks(&["a", "1.5", "b", "2"])])
    );
    assert_eq!(
        qv(&mut c, &["ZSCAN", "small", "0", "MATCH", "b*"]),
        Value::Array(vec![b("0"), bulks(&["b", "2"])])
    );
    let mut args = vec!["ZADD".to_string(), "big".into()];
    for i in 0..300 {
        args.push(i.to_string());
        args.push(format!("m{i}"));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    q::<()>(&mut c, &refs);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "big"]), b("skiplist"));
    let mut seen = std::collections::HashMap::new();
    let mut cursor = "0".to_string();
    let mut rounds = 0;
    loop {
        let v = qv(&mut c, &["ZSCAN", "big", &cursor, "COUNT", "20"]);
        let Value::Array(parts) = v else { panic!() };
        cursor = vstr(&parts[0]).unwrap();
        let Value::Array(items) = &parts[1] else {
            panic!()
        };
        for p in items.chunks(2) {
            seen.insert(vstr(&p[0]).unwrap(), vstr(&p[1]).unwrap());
        }
        rounds += 1;
        if cursor == "0" {
            break;
        }
    }
    assert!(rounds > 1);
    assert_eq!(seen.len(), 300);
    assert_eq!(seen["m7"], "7");
    assert_eq!(qerr(&mut c, &["ZSCAN", "big", "x"]), "ERR invalid cursor");
    assert_eq!(
        qerr(&mut c, &["ZSCAN", "big", "0", "COUNT", "0"]),
        "ERR syntax error"
    );
    assert_eq!(
        qv(&mut c, &["ZSCAN", "missing", "0"]),
        Value::Array(vec![b("0"), bulks(&[])])
    );
}

// ---------------------------------------------------------------------------------------------
// Types, encodings, DUMP

#[test]
fn every_sorted_set_command_rejects_other_types() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "s", "v"]);
    q::<()>(&mut c, &["ZADD", "z", "1", "a"]);
    let cmds: &[&[&str]] = &[
        &["ZADD", "s", "1", "a"],
        &["ZINCRBY", "s", "1", "a"],
        &["ZREM", "s", "a"],
        &["ZCARD", "s"],
        &["ZSCORE", "s", "a"],
        &["ZMSCORE", "s", "a"],
        &["ZRANK", "s", "a"],
        &["ZREVRANK", "s", "a"],
        &["ZRANGE", "s", "0", "-1"],
        &["ZRANGESTORE", "d", "s", "0", "-1"],
        &["ZREVRANGE", "s", "0", "-1"],
        &["ZRANGEBYSCORE", "s", "0", "1"],
        &["ZREVRANGEBYSCORE", "s", "1", "0"],
        &["ZRANGEBYLEX", "s", "-", "+"],
        &["ZREVRANGEBYLEX", "s", "+", "-"],
        &["ZCOUNT", "s", "0", "1"],
        &["ZLEXCOUNT", "s", "-", "+"],
        &["ZPOPMIN", "s"],
        &["ZPOPMAX", "s"],
        &["ZMPOP", "2", "s", "z", "MIN"],
        &["ZREMRANGEBYRANK", "s", "0", "1"],
        &["ZREMRANGEBYSCORE", "s", "0", "1"],
        &["ZREMRANGEBYLEX", "s", "-", "+"],
        &["ZUNION", "2", "z", "s"],
        &["ZINTER", "1", "s"],
        &["ZDIFF", "1", "s"],
        &["ZUNIONSTORE", "d", "1", "s"],
        &["ZINTERCARD", "1", "s"],
        &["ZRANDMEMBER", "s"],
        &["ZSCAN", "s", "0"],
    ];
    for args in cmds {
        assert_eq!(qerr(&mut c, args), WRONGTYPE, "{args:?}");
    }
    // And the string commands refuse a sorted set.
    assert_eq!(qerr(&mut c, &["GET", "z"]), WRONGTYPE);
    assert_eq!(
        qv(&mut c, &["TYPE", "z"]),
        Value::SimpleString("zset".into())
    );
}

#[test]
fn encoding_converts_past_the_configured_limits() {
    let srv = Server::start();
    let mut c = srv.conn();
    for i in 0..128 {
        q::<()>(&mut c, &["ZADD", "z", &i.to_string(), &format!("m{i}")]);
    }
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "z"]), b("listpack"));
    q::<()>(&mut c, &["ZADD", "z", "1", "one-more"]);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "z"]), b("skiplist"));
    // Removing members does not convert back.
    q::<()>(&mut c, &["ZREMRANGEBYRANK", "z", "0", "120"]);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "z"]), b("skiplist"));
    q::<()>(&mut c, &["ZADD", "long", "1", &"x".repeat(65)]);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "long"]), b("skiplist"));
    assert_eq!(
        qv(&mut c, &["CONFIG", "SET", "zset-max-ziplist-entries", "2"]),
        Value::Okay
    );
    assert_eq!(
        qv(&mut c, &["CONFIG", "GET", "zset-max-listpack-entries"]),
        bulks(&["zset-max-listpack-entries", "2"])
    );
    q::<()>(&mut c, &["ZADD", "y", "1", "a", "2", "b"]);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "y"]), b("listpack"));
    q::<()>(&mut c, &["ZADD", "y", "3", "c"]);
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "y"]), b("skiplist"));
    assert_eq!(
        qv(&mut c, &["ZRANGE", "y", "0", "-1", "WITHSCORES"]),
        bulks(&["a", "1", "b", "2", "c", "3"])
    );
}

/// DUMP of a skiplist-encoded `{bb: 2, a: 1.5, c: -inf}` from Redis 7.0.15 (RDB_TYPE_ZSET_2).
const REDIS_ZSET2_DUMP: &[u8] = b"\x05\x03\x02bb\x00\x00\x00\x00\x00\x00\x00@\x01a\x00\x00\x00\x00\x00\x00\xf8?\x01c\x00\x00\x00\x00\x00\x00\xf0\xff\x0a\x00\xc1\x91\x0b\x1a\x1dQ\x94u";

#[test]
fn dump_restore_round_trips_and_reads_redis_payloads() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["ZADD", "z", "1.5", "a", "-2", "b", "inf", "c"]);
    let payload: Vec<u8> = q(&mut c, &["DUMP", "z"]);
    if !common::reference_mode() {
        assert_eq!(payload[0], 5, "written as RDB_TYPE_ZSET_2");
    }
    redis::cmd("RESTORE")
        .arg("z2")
        .arg(0)
        .arg(&payload)
        .query::<()>(&mut c)
        .unwrap();
    assert_eq!(
        qv(&mut c, &["ZRANGE", "z2", "0", "-1", "WITHSCORES"]),
        bulks(&["b", "-2", "a", "1.5", "c", "inf"])
    );
    assert_eq!(qv(&mut c, &["OBJECT", "ENCODING", "z2"]), b("listpack"));
    redis::cmd("RESTORE")
        .arg("r")
        .arg(0)
        .arg(REDIS_ZSET2_DUMP)
        .query::<()>(&mut c)
        .unwrap();
    assert_eq!(
        qv(&mut c, &["ZRANGE", "r", "0", "-1", "WITHSCORES"]),
        bulks(&["c", "-inf", "a", "1.5", "bb", "2"])
    );
}

// ---------------------------------------------------------------------------------------------
// Recorded changes

#[derive(Debug)]
struct Ev {
    key: String,
    event: String,
    typ: String,
    change: String,
    args: Vec<String>,
}

fn last_offset(c: &mut redis::Connection) -> i64 {
    let v = qv(c, &["CHANGES", "INFO"]);
    match vget(&v, "last-offset") {
        Some(Value::Int(i)) => i,
        other => panic!("last-offset: {other:?}"),
    }
}

/// Runs `args` and returns the events it recorded.
fn events_of(c: &mut redis::Connection, args: &[&str]) -> Vec<Ev> {
    let from = last_offset(c) + 1;
    let _ = common::cmd(args).query::<Value>(c);
    let v = qv(c, &["CHANGES", "READ", &from.to_string(), "COUNT", "100"]);
    let Value::Array(items) = v else {
        panic!("{v:?}")
    };
    items
        .iter()
        .map(|e| {
            let s = |f: &str| vget(e, f).as_ref().and_then(vstr).unwrap_or_default();
            let args = match vget(e, "args") {
                Some(Value::Array(a)) => a.iter().filter_map(vstr).collect(),
                _ => Vec::new(),
            };
            Ev {
                key: s("key"),
                event: s("event"),
                typ: s("type"),
                change: s("change"),
                args,
            }
        })
        .collect()
}

fn summary(evs: &[Ev]) -> Vec<String> {
    evs.iter()
        .map(|e| {
            format!(
                "{} {} {} {}: {}",
                e.key,
                e.event,
                e.typ,
                e.change,
                e.args.join(" ")
            )
        })
        .collect()
}

#[test]
fn every_write_records_its_deterministic_effect() {
    if !eddy_only("every_write_records_its_deterministic_effect") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["ZADD", "z", "1", "a", "2", "b"],
            &["z zadd zset insert: ZADD z 1 a 2 b"],
        ),
        (
            &["ZADD", "z", "1", "a", "3", "b", "4", "c"],
            &["z zadd zset modify: ZADD z 3 b 4 c"],
        ),
        (&["ZADD", "z", "NX", "9", "a"], &[]),
        (
            &["ZINCRBY", "z", "0.5", "a"],
            &["z zincr zset modify: ZADD z 1.5 a"],
        ),
        (
            &["ZADD", "z", "INCR", "2", "a"],
            &["z zincr zset modify: ZADD z 3.5 a"],
        ),
        (
            &["ZREM", "z", "a", "nope"],
            &["z zrem zset modify: ZREM z a"],
        ),
        (&["ZREM", "z", "nope"], &[]),
        (
            &["ZPOPMIN", "z", "5"],
            &[
                "z zpopmin zset modify: ZPOPMIN z 2",
                "z del none remove: DEL z",
            ],
        ),
        (
            &["ZADD", "y", "1", "a", "2", "b", "3", "c"],
            &["y zadd zset insert: ZADD y 1 a 2 b 3 c"],
        ),
        (&["ZPOPMAX", "y"], &["y zpopmax zset modify: ZPOPMAX y 1"]),
        (
            &["ZMPOP", "2", "x", "y", "MIN"],
            &["y zpopmin zset modify: ZPOPMIN y 1"],
        ),
        (
            &["ZREMRANGEBYRANK", "y", "-1", "-1"],
            &[
                "y zremrangebyrank zset modify: ZREMRANGEBYRANK y 0 0",
                "y del none remove: DEL y",
            ],
        ),
        (
            &["ZADD", "w", "1", "a", "2", "b", "3", "c"],
            &["w zadd zset insert: ZADD w 1 a 2 b 3 c"],
        ),
        (
            &["ZREMRANGEBYSCORE", "w", "(1", "2"],
            &["w zremrangebyscore zset modify: ZREMRANGEBYSCORE w (1 2"],
        ),
        (
            &["ZREMRANGEBYLEX", "w", "[c", "+"],
            &["w zremrangebylex zset modify: ZREMRANGEBYLEX w [c +"],
        ),
        (&["ZREMRANGEBYSCORE", "w", "5", "6"], &[]),
        (
            &["ZRANGESTORE", "d", "w", "0", "-1"],
            &["d zrangestore zset insert: ZADD d 1 a"],
        ),
        (
            &["ZADD", "v", "1.1", "b"],
            &["v zadd zset insert: ZADD v 1.1 b"],
        ),
        (
            &["ZUNIONSTORE", "d", "2", "w", "v"],
            &[
                "d del none remove: DEL d",
                "d zunionstore zset insert: ZADD d 1 a 1.1000000000000001 b",
            ],
        ),
        (
            &["ZINTERSTORE", "d", "2", "w", "v"],
            &["d del none remove: DEL d"],
        ),
        (
            &["ZDIFFSTORE", "d", "1", "v"],
            &["d zdiffstore zset insert: ZADD d 1.1000000000000001 b"],
        ),
    ];
    for (cmd, want) in cases {
        let evs = events_of(&mut c, cmd);
        assert_eq!(summary(&evs), *want, "{cmd:?}");
    }
    // Reads record nothing.
    for cmd in [
        &["ZRANGE", "d", "0", "-1"][..],
        &["ZSCORE", "d", "b"],
        &["ZRANDMEMBER", "d", "3"],
        &["ZUNION", "1", "d"],
    ] {
        assert!(events_of(&mut c, cmd).is_empty(), "{cmd:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Model-based

/// Reply rendering shared by Eddy's replies and the model's (RESP2).
fn show(v: &Value) -> String {
    match v {
        Value::Nil => "nil".into(),
        Value::Int(i) => format!("{i}"),
        Value::BulkString(b) => format!("'{}'", String::from_utf8_lossy(b)),
        Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(",")),
        Value::Okay => "OK".into(),
        other => format!("{other:?}"),
    }
}

fn fmt_score(s: f64) -> String {
    // Model scores are small multiples of 0.5, where Rust's shortest form is %.17g's.
    format!("{s}")
}

type Model = BTreeMap<String, BTreeMap<String, f64>>;

fn sorted(m: &BTreeMap<String, f64>) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap().then_with(|| a.0.cmp(&b.0)));
    v
}

fn arr(items: Vec<String>) -> String {
    format!("[{}]", items.join(","))
}

fn q_(s: &str) -> String {
    format!("'{s}'")
}

fn with_scores(v: &[(String, f64)], ws: bool) -> String {
    let mut out = Vec::new();
    for (m, s) in v {
        out.push(q_(m));
        if ws {
            out.push(q_(&fmt_score(*s)));
        }
    }
    arr(out)
}

/// Applies one random command to the model and returns (command, expected reply).
fn model_step(rng: &mut Rng, model: &mut Model) -> (Vec<String>, String) {
    let keys = ["k1", "k2", "k3"];
    let members = [
        "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p",
    ];
    let key = rng.pick(&keys).to_string();
    let score = |rng: &mut Rng| (rng.below(41) as f64 - 20.0) / 2.0;
    let s = |x: &str| x.to_string();
    let set = model.get(&key).cloned().unwrap_or_default();
    let len = set.len() as i64;
    match rng.below(14) {
        0..=2 => {
            // ZADD with random flags.
            let mut args = vec![s("ZADD"), key.clone()];
            let nx = rng.below(6) == 0;
            let xx = !nx && rng.below(6) == 0;
            let gt = !nx && rng.below(6) == 0;
            let lt = !nx && !gt && rng.below(6) == 0;
            let ch = rng.below(3) == 0;
            for (f, on) in [("NX", nx), ("XX", xx), ("GT", gt), ("LT", lt), ("CH", ch)] {
                if on {
                    args.push(s(f));
                }
            }
            let n = 1 + rng.below(3);
            let mut m = set.clone();
            let (mut added, mut changed) = (0, 0);
            if xx && set.is_empty() {
                for _ in 0..n {
                    args.push(fmt_score(score(rng)));
                    args.push(rng.pick(&members).to_string());
                }
                return (args, "0".into());
            }
            for _ in 0..n {
                let sc = score(rng);
                let mem = *rng.pick(&members);
                args.push(fmt_score(sc));
                args.push(s(mem));
                match m.get(mem).copied() {
                    Some(cur) => {
                        if nx || (gt && sc <= cur) || (lt && sc >= cur) {
                            continue;
                        }
                        if sc != cur {
                            m.insert(s(mem), sc);
                            changed += 1;
                        }
                    }
                    None => {
                        if xx {
                            continue;
                        }
                        m.insert(s(mem), sc);
                        added += 1;
                    }
                }
            }
            if !m.is_empty() {
                model.insert(key, m);
            }
            (
                args,
                format!("{}", if ch { added + changed } else { added }),
            )
        }
        3 => {
            let inc = score(rng);
            let mem = *rng.pick(&members);
            let mut m = set.clone();
            let v = m.get(mem).copied().unwrap_or(0.0) + inc;
            m.insert(s(mem), v);
            model.insert(key.clone(), m);
            (
                vec![s("ZINCRBY"), key, fmt_score(inc), s(mem)],
                q_(&fmt_score(v)),
            )
        }
        4 => {
            let a = *rng.pick(&members);
            let b2 = *rng.pick(&members);
            let mut m = set.clone();
            let mut n = 0;
            for x in [a, b2] {
                if m.remove(x).is_some() {
                    n += 1;
                }
            }
            if m.is_empty() {
                model.remove(&key);
            } else {
                model.insert(key.clone(), m);
            }
            (vec![s("ZREM"), key, s(a), s(b2)], format!("{n}"))
        }
        5 => {
            let mem = *rng.pick(&members);
            let rev = rng.below(2) == 0;
            let v = sorted(&set);
            let pos = v.iter().position(|(x, _)| x == mem);
            let want = match pos {
                Some(p) => format!("{}", if rev { v.len() - 1 - p } else { p }),
                None => "nil".into(),
            };
            (
                vec![s(if rev { "ZREVRANK" } else { "ZRANK" }), key, s(mem)],
                want,
            )
        }
        6 => {
            let start = rng.below(12) as i64 - 6;
            let stop = rng.below(12) as i64 - 6;
            let rev = rng.below(2) == 0;
            let ws = rng.below(2) == 0;
            let mut v = sorted(&set);
            if rev {
                v.reverse();
            }
            let mut st = if start < 0 { start + len } else { start };
            let mut en = if stop < 0 { stop + len } else { stop };
            if st < 0 {
                st = 0;
            }
            let sel: Vec<(String, f64)> = if st > en || st >= len {
                vec![]
            } else {
                if en >= len {
                    en = len - 1;
                }
                v[st as usize..=en as usize].to_vec()
            };
            let mut args = vec![s("ZRANGE"), key, start.to_string(), stop.to_string()];
            if rev {
                args.push(s("REV"));
            }
            if ws {
                args.push(s("WITHSCORES"));
            }
            (args, with_scores(&sel, ws))
        }
        7 => {
            // BYSCORE with exclusive bounds, REV and LIMIT.
            let lo = score(rng);
            let hi = score(rng);
            let lox = rng.below(2) == 0;
            let hix = rng.below(2) == 0;
            let rev = rng.below(2) == 0;
            let limit = rng.below(3) == 0;
            let (off, cnt) = (rng.below(4) as i64 - 1, rng.below(5) as i64 - 1);
            let inr = |x: f64| {
                (if lox { x > lo } else { x >= lo }) && (if hix { x < hi } else { x <= hi })
            };
            let mut v: Vec<(String, f64)> = sorted(&set).into_iter().filter(|p| inr(p.1)).collect();
            if rev {
                v.reverse();
            }
            if limit {
                if off < 0 {
                    v.clear();
                } else {
                    v = v.into_iter().skip(off as usize).collect();
                    if cnt >= 0 {
                        v.truncate(cnt as usize);
                    }
                }
            }
            let b1 = format!("{}{}", if lox { "(" } else { "" }, fmt_score(lo));
            let b2 = format!("{}{}", if hix { "(" } else { "" }, fmt_score(hi));
            let mut args = vec![s("ZRANGE"), key];
            if rev {
                args.push(b2);
                args.push(b1);
                args.push(s("REV"));
            } else {
                args.push(b1);
                args.push(b2);
            }
            args.push(s("BYSCORE"));
            if limit {
                args.push(s("LIMIT"));
                args.push(off.to_string());
                args.push(cnt.to_string());
            }
            args.push(s("WITHSCORES"));
            (args, with_scores(&v, true))
        }
        8 => {
            let lo = score(rng);
            let hi = score(rng);
            let n = set.values().filter(|&&x| x > lo && x <= hi).count();
            (
                vec![
                    s("ZCOUNT"),
                    key,
                    format!("({}", fmt_score(lo)),
                    fmt_score(hi),
                ],
                format!("{n}"),
            )
        }
        9 => {
            let min = rng.below(2) == 0;
            let cnt = rng.below(4);
            let mut v = sorted(&set);
            if !min {
                v.reverse();
            }
            let take: Vec<(String, f64)> = v.into_iter().take(cnt as usize).collect();
            let mut m = set.clone();
            for (x, _) in &take {
                m.remove(x);
            }
            if m.is_empty() {
                model.remove(&key);
            } else {
                model.insert(key.clone(), m);
            }
            (
                vec![
                    s(if min { "ZPOPMIN" } else { "ZPOPMAX" }),
                    key,
                    cnt.to_string(),
                ],
                with_scores(&take, true),
            )
        }
        10 => {
            let start = rng.below(8) as i64 - 4;
            let stop = rng.below(8) as i64 - 4;
            let v = sorted(&set);
            let mut st = if start < 0 { start + len } else { start };
            let mut en = if stop < 0 { stop + len } else { stop };
            if st < 0 {
                st = 0;
            }
            let mut n = 0;
            if !(st > en || st >= len) {
                if en >= len {
                    en = len - 1;
                }
                let mut m = set.clone();
                for (x, _) in &v[st as usize..=en as usize] {
                    m.remove(x);
                    n += 1;
                }
                if m.is_empty() {
                    model.remove(&key);
                } else {
                    model.insert(key.clone(), m);
                }
            }
            (
                vec![
                    s("ZREMRANGEBYRANK"),
                    key,
                    start.to_string(),
                    stop.to_string(),
                ],
                format!("{n}"),
            )
        }
        11 => {
            let other = rng.pick(&keys).to_string();
            let b2 = model.get(&other).cloned().unwrap_or_default();
            let op = rng.below(3);
            let mut res: BTreeMap<String, f64> = BTreeMap::new();
            match op {
                0 => {
                    for (m, sc) in set.iter().chain(b2.iter()) {
                        *res.entry(m.clone()).or_insert(0.0) += sc;
                    }
                }
                1 => {
                    for (m, sc) in &set {
                        if let Some(o) = b2.get(m) {
                            res.insert(m.clone(), sc + o);
                        }
                    }
                }
                _ => {
                    for (m, sc) in &set {
                        if !b2.contains_key(m) {
                            res.insert(m.clone(), *sc);
                        }
                    }
                }
            }
            let name = ["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"][op as usize];
            let n = res.len();
            if res.is_empty() {
                model.remove("dst");
            } else {
                model.insert("dst".into(), res);
            }
            (vec![s(name), s("dst"), s("2"), key, other], format!("{n}"))
        }
        12 => {
            let mem = *rng.pick(&members);
            let want = set
                .get(mem)
                .map(|x| q_(&fmt_score(*x)))
                .unwrap_or_else(|| "nil".into());
            (vec![s("ZSCORE"), key, s(mem)], want)
        }
        _ => {
            let k = if rng.below(3) == 0 {
                "dst".to_string()
            } else {
                key
            };
            let v = sorted(&model.get(&k).cloned().unwrap_or_default());
            (
                vec![s("ZRANGE"), k, s("0"), s("-1"), s("WITHSCORES")],
                with_scores(&v, true),
            )
        }
    }
}

#[test]
fn random_commands_match_a_model_on_both_encodings() {
    // Small limits so sets cross between listpack and skiplist during the run.
    let srv = Server::start_with(&["--zset-max-listpack-entries", "6"]);
    let mut c = srv.conn();
    let mut rng = Rng::new(0x5eed_2024);
    let mut model: Model = BTreeMap::new();
    let mut encodings = std::collections::HashSet::new();
    for step in 0..4000 {
        let (args, want) = model_step(&mut rng, &mut model);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let got = show(&qv(&mut c, &refs));
        assert_eq!(got, want, "step {step}: {args:?}");
        if step % 50 == 0 {
            for k in ["k1", "k2", "k3"] {
                if let Some(e) = vstr(&qv(&mut c, &["OBJECT", "ENCODING", k])) {
                    encodings.insert(e);
                }
            }
        }
    }
    for (k, m) in &model {
        assert_eq!(qv(&mut c, &["ZCARD", k]), Value::Int(m.len() as i64), "{k}");
    }
    assert!(
        encodings.contains("listpack") && encodings.contains("skiplist"),
        "{encodings:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Blocking pops

fn blocked_clients(c: &mut redis::Connection) -> usize {
    let info: String = q(c, &["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// Waits (polling INFO, no fixed sleep) until `n` clients are blocked.
fn wait_blocked(c: &mut redis::Connection, n: usize) {
    assert!(
        common::poll_until(std::time::Duration::from_secs(10), || blocked_clients(c)
            >= n),
        "no client blocked"
    );
}

#[test]
fn bzpop_returns_at_once_when_a_set_has_members() {
    let srv = Server::start();
    let mut raw = srv.raw();
    raw.call(&["ZADD", "z", "1", "a", "2", "b"]);
    raw.send_cmd(&["BZPOPMIN", "none", "z", "0"]);
    assert_eq!(raw.read_wire(), "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n");
    raw.call(&["HELLO", "3"]);
    raw.send_cmd(&["BZPOPMAX", "z", "0"]);
    assert_eq!(raw.read_wire(), "*3\r\n$1\r\nz\r\n$1\r\nb\r\n,2\r\n");
    raw.send_cmd(&["EXISTS", "z"]);
    assert_eq!(raw.read_wire(), ":0\r\n");
    raw.call(&["ZADD", "y", "1", "a", "2", "b", "3", "c"]);
    raw.send_cmd(&["BZMPOP", "0", "2", "none", "y", "MAX", "COUNT", "2"]);
    assert_eq!(
        raw.read_wire(),
        "*2\r\n$1\r\ny\r\n*2\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nb\r\n,2\r\n"
    );
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "s", "v"]);
    assert_eq!(qerr(&mut c, &["BZPOPMIN", "s", "0"]), WRONGTYPE);
    assert_eq!(
        qerr(&mut c, &["BZPOPMIN", "y", "-1"]),
        "ERR timeout is negative"
    );
    assert_eq!(
        qerr(&mut c, &["BZPOPMIN", "y", "x"]),
        "ERR timeout is not a float or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["BZMPOP", "0", "0", "y", "MIN"]),
        "ERR numkeys should be greater than 0"
    );
}

#[test]
fn bzpopmin_times_out_with_a_null_array() {
    let srv = Server::start();
    let mut raw = srv.raw();
    raw.send_cmd(&["BZPOPMIN", "z", "0.05"]);
    assert_eq!(raw.read_wire(), "*-1\r\n");
    raw.send_cmd(&["BZMPOP", "0.05", "1", "z", "MIN"]);
    assert_eq!(raw.read_wire(), "*-1\r\n");
}

/// Redis 7.0.8+ rounds a timeout up to whole ms, so one under a ms waits one ms and ends; it is
/// not truncated to 0, which would mean forever. BullMQ workers block on their queue's marker
/// with BZPOPMIN timeouts down to 0.001 s once the server reports 7.0.8 or later.
#[test]
fn bzpopmin_sub_millisecond_timeout_ends_instead_of_blocking_forever() {
    let srv = Server::start();
    let mut raw = srv.raw();
    let five = std::time::Duration::from_secs(5);
    for t in ["0.0001", "0.0005", "1e-4", "0.001"] {
        raw.send_cmd(&["BZPOPMIN", "marker", t]);
        assert_eq!(
            raw.try_read_reply(five),
            Some(common::Resp::NullArray),
            "BZPOPMIN with timeout {t} did not time out"
        );
    }
    raw.send_cmd(&["BZMPOP", "0.0001", "1", "marker", "MIN"]);
    assert_eq!(raw.try_read_reply(five), Some(common::Resp::NullArray));
    raw.send_cmd(&["PING"]);
    assert_eq!(raw.read_wire(), "+PONG\r\n");
}

#[test]
fn bzpopmin_wakes_when_another_client_adds_and_records_the_pop() {
    let srv = Server::start();
    let mut c = srv.conn();
    let from = if common::reference_mode() {
        0
    } else {
        last_offset(&mut c) + 1
    };
    let mut waiter = srv.raw();
    waiter.send_cmd(&["BZPOPMIN", "z1", "z2", "0"]);
    wait_blocked(&mut c, 1);
    // A list push to a watched key does not serve a sorted-set waiter.
    q::<()>(&mut c, &["RPUSH", "z1", "x"]);
    q::<()>(&mut c, &["ZADD", "z2", "5", "m", "7", "n"]);
    assert_eq!(
        waiter.read_wire(),
        "*3\r\n$2\r\nz2\r\n$1\r\nm\r\n$1\r\n5\r\n"
    );
    assert_eq!(qv(&mut c, &["ZRANGE", "z2", "0", "-1"]), bulks(&["n"]));
    assert_eq!(qv(&mut c, &["LLEN", "z1"]), Value::Int(1));
    if !common::reference_mode() {
        let v = qv(
            &mut c,
            &["CHANGES", "READ", &from.to_string(), "COUNT", "10"],
        );
        let Value::Array(items) = v else { panic!() };
        let zs: Vec<(String, Vec<String>)> = items
            .iter()
            .filter(|e| vget(e, "key").as_ref().and_then(vstr).as_deref() == Some("z2"))
            .map(|e| {
                let ev = vget(e, "event").as_ref().and_then(vstr).unwrap_or_default();
                let args = match vget(e, "args") {
                    Some(Value::Array(a)) => a.iter().filter_map(vstr).collect(),
                    _ => vec![],
                };
                (ev, args)
            })
            .collect();
        assert_eq!(
            zs,
            vec![
                (
                    "zadd".to_string(),
                    vec!["ZADD", "z2", "5", "m", "7", "n"]
                        .into_iter()
                        .map(String::from)
                        .collect()
                ),
                (
                    "zpopmin".to_string(),
                    vec!["ZPOPMIN", "z2", "1"]
                        .into_iter()
                        .map(String::from)
                        .collect()
                ),
            ]
        );
    }
}

#[test]
fn bzmpop_waiters_are_served_in_order_by_a_store_command() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut w1 = srv.raw();
    w1.send_cmd(&["BZMPOP", "0", "1", "dst", "MAX", "COUNT", "2"]);
    wait_blocked(&mut c, 1);
    let mut w2 = srv.raw();
    w2.send_cmd(&["BZPOPMAX", "dst", "0"]);
    wait_blocked(&mut c, 2);
    q::<()>(&mut c, &["ZADD", "src", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(
        qv(&mut c, &["ZUNIONSTORE", "dst", "1", "src"]),
        Value::Int(3)
    );
    assert_eq!(
        w1.read_wire(),
        "*2\r\n$3\r\ndst\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
    );
    assert_eq!(w2.read_wire(), "*3\r\n$3\r\ndst\r\n$1\r\na\r\n$1\r\n1\r\n");
    assert_eq!(qv(&mut c, &["EXISTS", "dst"]), Value::Int(0));
}

/// A score may be written out at any length, as Redis's `string2d` reads it: DBL_MAX with all
/// its 309 digits and 17 decimals is a score.
#[test]
fn a_score_written_out_in_full_is_read() {
    let srv = Server::start();
    let mut c = srv.conn();
    let dblmax = format!("{:.17}", f64::MAX);
    assert!(dblmax.len() > 300, "{dblmax}");
    assert_eq!(q::<i64>(&mut c, &["ZADD", "zz", &dblmax, "dblmax"]), 1);
    assert_eq!(
        q::<String>(&mut c, &["ZSCORE", "zz", "dblmax"]),
        "1.7976931348623157e+308"
    );
}
