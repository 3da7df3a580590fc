//! String commands through the `redis` crate, on RESP2 and RESP3 connections: replies, options,
//! TTL handling and Redis's exact error strings.

mod common;

use common::{now_ms, q, qerr, qv, vget, Server};
use redis::Value;

fn b(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

/// RESP2 `$-1` and RESP3 `_` both arrive as `Nil`.
const NIL: Value = Value::Nil;

#[test]
fn set_and_get_round_trip_on_resp2_and_resp3() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let k = format!("k-{proto}");
        assert_eq!(qv(&mut c, &["SET", &k, "hello"]), Value::Okay, "{proto}");
        assert_eq!(qv(&mut c, &["GET", &k]), b("hello"), "{proto}");
        assert_eq!(qv(&mut c, &["GET", "missing"]), NIL, "{proto}");
        assert_eq!(qv(&mut c, &["SET", &k, ""]), Value::Okay, "{proto}");
        assert_eq!(qv(&mut c, &["GET", &k]), b(""), "{proto}");
    }
}

#[test]
fn set_nx_only_sets_a_missing_key() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let k = format!("nx-{proto}");
        assert_eq!(qv(&mut c, &["SET", &k, "1", "NX"]), Value::Okay);
        assert_eq!(qv(&mut c, &["SET", &k, "2", "NX"]), NIL);
        assert_eq!(qv(&mut c, &["GET", &k]), b("1"));
    }
}

#[test]
fn set_xx_only_sets_an_existing_key() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["SET", "k", "1", "XX"]), NIL);
    assert_eq!(qv(&mut c, &["EXISTS", "k"]), Value::Int(0));
    q::<()>(&mut c, &["SET", "k", "1"]);
    assert_eq!(qv(&mut c, &["SET", "k", "2", "XX"]), Value::Okay);
    assert_eq!(qv(&mut c, &["GET", "k"]), b("2"));
}

#[test]
fn set_get_returns_the_old_value() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let k = format!("get-{proto}");
        assert_eq!(qv(&mut c, &["SET", &k, "a", "GET"]), NIL);
        assert_eq!(qv(&mut c, &["SET", &k, "b", "GET"]), b("a"));
        assert_eq!(qv(&mut c, &["GET", &k]), b("b"));
        // NX together with GET (allowed since 7.0): existing key is not changed.
        assert_eq!(qv(&mut c, &["SET", &k, "c", "NX", "GET"]), b("b"));
        assert_eq!(qv(&mut c, &["GET", &k]), b("b"));
        assert_eq!(qv(&mut c, &["SET", &k, "d", "XX", "GET"]), b("b"));
        assert_eq!(qv(&mut c, &["GET", &k]), b("d"));
    }
}

#[test]
fn set_with_ex_sets_a_ttl_in_seconds() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v", "EX", "100"]);
    let ttl: i64 = q(&mut c, &["TTL", "k"]);
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    let pttl: i64 = q(&mut c, &["PTTL", "k"]);
    assert!((98_000..=100_000).contains(&pttl), "pttl {pttl}");
}

#[test]
fn set_with_px_sets_a_ttl_in_milliseconds() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v", "PX", "50000"]);
    let pttl: i64 = q(&mut c, &["PTTL", "k"]);
    assert!((48_000..=50_000).contains(&pttl), "pttl {pttl}");
}

#[test]
fn set_with_exat_and_pxat_sets_an_absolute_expiry() {
    let srv = Server::start();
    let mut c = srv.conn();
    let at_s = now_ms() / 1000 + 1000;
    q::<()>(&mut c, &["SET", "a", "v", "EXAT", &at_s.to_string()]);
    assert_eq!(q::<i64>(&mut c, &["EXPIRETIME", "a"]), at_s);
    let at_ms = now_ms() + 500_000;
    q::<()>(&mut c, &["SET", "b", "v", "PXAT", &at_ms.to_string()]);
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "b"]), at_ms);
}

#[test]
fn set_with_pxat_in_the_past_leaves_no_key() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v", "PXAT", "1000"]);
    assert_eq!(qv(&mut c, &["GET", "k"]), NIL);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
}

#[test]
fn set_keepttl_keeps_the_ttl_and_plain_set_clears_it() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v", "EX", "100"]);
    q::<()>(&mut c, &["SET", "k", "w", "KEEPTTL"]);
    let ttl: i64 = q(&mut c, &["TTL", "k"]);
    assert!((99..=100).contains(&ttl), "ttl {ttl}");
    assert_eq!(qv(&mut c, &["GET", "k"]), b("w"));
    q::<()>(&mut c, &["SET", "k", "x"]);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -1);
}

#[test]
fn set_option_errors_match_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v"]);
    for args in [
        &["SET", "k", "v", "NX", "XX"][..],
        &["SET", "k", "v", "EX", "10", "PX", "100"],
        &["SET", "k", "v", "KEEPTTL", "EX", "10"],
        &["SET", "k", "v", "EXAT", "1", "PXAT", "1"],
        &["SET", "k", "v", "BOGUS"],
        &["SET", "k", "v", "EX"],
    ] {
        assert_eq!(qerr(&mut c, args), "ERR syntax error", "{args:?}");
    }
    for args in [
        &["SET", "k", "v", "EX", "0"][..],
        &["SET", "k", "v", "EX", "-1"],
        &["SET", "k", "v", "PX", "0"],
        &["SET", "k", "v", "EXAT", "0"],
        &["SET", "k", "v", "PXAT", "-5"],
    ] {
        assert_eq!(
            qerr(&mut c, args),
            "ERR invalid expire time in 'set' command",
            "{args:?}"
        );
    }
    assert_eq!(
        qerr(&mut c, &["SET", "k", "v", "EX", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["SET", "k"]),
        "ERR wrong number of arguments for 'set' command"
    );
    // Nothing above changed the key.
    assert_eq!(qv(&mut c, &["GET", "k"]), b("v"));
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -1);
}

#[test]
fn setnx_returns_whether_it_set() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(q::<i64>(&mut c, &["SETNX", "k", "1"]), 1);
    assert_eq!(q::<i64>(&mut c, &["SETNX", "k", "2"]), 0);
    assert_eq!(qv(&mut c, &["GET", "k"]), b("1"));
}

#[test]
fn setex_and_psetex_set_value_and_ttl() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["SETEX", "a", "100", "v"]), Value::Okay);
    let ttl: i64 = q(&mut c, &["TTL", "a"]);
    assert!((99..=100).contains(&ttl));
    assert_eq!(qv(&mut c, &["PSETEX", "b", "100000", "w"]), Value::Okay);
    let pttl: i64 = q(&mut c, &["PTTL", "b"]);
    assert!((98_000..=100_000).contains(&pttl));
    assert_eq!(qv(&mut c, &["GET", "b"]), b("w"));
    assert_eq!(
        qerr(&mut c, &["SETEX", "a", "0", "v"]),
        "ERR invalid expire time in 'setex' command"
    );
    assert_eq!(
        qerr(&mut c, &["PSETEX", "a", "-1", "v"]),
        "ERR invalid expire time in 'psetex' command"
    );
    assert_eq!(
        qerr(&mut c, &["SETEX", "a", "x", "v"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn mset_and_mget() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let (k1, k2) = (format!("{proto}1"), format!("{proto}2"));
        assert_eq!(qv(&mut c, &["MSET", &k1, "a", &k2, "b"]), Value::Okay);
        assert_eq!(
            qv(&mut c, &["MGET", &k1, "missing", &k2]),
            Value::Array(vec![b("a"), NIL, b("b")])
        );
        assert_eq!(
            qerr(&mut c, &["MSET", &k1]),
            "ERR wrong number of arguments for 'mset' command"
        );
        assert_eq!(
            qerr(&mut c, &["MSET", &k1, "a", &k2]),
            "ERR wrong number of arguments for 'mset' command"
        );
    }
}

#[test]
fn mset_with_a_repeated_key_keeps_the_last_value() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["MSET", "k", "1", "k", "2"]);
    assert_eq!(qv(&mut c, &["GET", "k"]), b("2"));
}

#[test]
fn msetnx_sets_all_or_nothing() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(q::<i64>(&mut c, &["MSETNX", "a", "1", "b", "2"]), 1);
    assert_eq!(q::<i64>(&mut c, &["MSETNX", "b", "3", "c", "4"]), 0);
    assert_eq!(
        qv(&mut c, &["MGET", "a", "b", "c"]),
        Value::Array(vec![b("1"), b("2"), NIL])
    );
}

#[test]
fn getset_returns_old_value_and_clears_ttl() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["GETSET", "k", "a"]), NIL);
    q::<()>(&mut c, &["EXPIRE", "k", "100"]);
    assert_eq!(qv(&mut c, &["GETSET", "k", "b"]), b("a"));
    assert_eq!(qv(&mut c, &["GET", "k"]), b("b"));
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -1);
}

#[test]
fn getdel_returns_and_deletes() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v"]);
    assert_eq!(qv(&mut c, &["GETDEL", "k"]), b("v"));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
    assert_eq!(qv(&mut c, &["GETDEL", "k"]), NIL);
}

#[test]
fn getex_sets_or_removes_the_ttl() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v"]);
    assert_eq!(qv(&mut c, &["GETEX", "k"]), b("v"));
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -1);
    assert_eq!(qv(&mut c, &["GETEX", "k", "EX", "100"]), b("v"));
    let ttl: i64 = q(&mut c, &["TTL", "k"]);
    assert!((99..=100).contains(&ttl));
    assert_eq!(qv(&mut c, &["GETEX", "k", "PX", "200000"]), b("v"));
    let pttl: i64 = q(&mut c, &["PTTL", "k"]);
    assert!((198_000..=200_000).contains(&pttl));
    let at = now_ms() / 1000 + 1000;
    assert_eq!(qv(&mut c, &["GETEX", "k", "EXAT", &at.to_string()]), b("v"));
    assert_eq!(q::<i64>(&mut c, &["EXPIRETIME", "k"]), at);
    assert_eq!(qv(&mut c, &["GETEX", "k", "PERSIST"]), b("v"));
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -1);
    assert_eq!(qv(&mut c, &["GETEX", "missing", "EX", "10"]), NIL);
    assert_eq!(
        qerr(&mut c, &["GETEX", "k", "EX", "0"]),
        "ERR invalid expire time in 'getex' command"
    );
    assert_eq!(qerr(&mut c, &["GETEX", "k", "FOO"]), "ERR syntax error");
    assert_eq!(
        qerr(&mut c, &["GETEX", "k", "EX", "10", "PERSIST"]),
        "ERR syntax error"
    );
    // A past absolute time deletes the key.
    assert_eq!(qv(&mut c, &["GETEX", "k", "PXAT", "1"]), b("v"));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "k"]), 0);
}

#[test]
fn append_and_strlen() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "k"]), 0);
    assert_eq!(q::<i64>(&mut c, &["APPEND", "k", "Hello"]), 5);
    assert_eq!(q::<i64>(&mut c, &["APPEND", "k", " World"]), 11);
    assert_eq!(qv(&mut c, &["GET", "k"]), b("Hello World"));
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "k"]), 11);
    // Appending to an integer-encoded value works on its string form.
    q::<()>(&mut c, &["SET", "n", "12"]);
    assert_eq!(q::<i64>(&mut c, &["APPEND", "n", "34"]), 4);
    assert_eq!(q::<i64>(&mut c, &["INCR", "n"]), 1235);
    // Appending an empty string creates the key.
    assert_eq!(q::<i64>(&mut c, &["APPEND", "e", ""]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "e"]), 1);
}

#[test]
fn append_keeps_the_ttl() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "a", "EX", "100"]);
    q::<()>(&mut c, &["APPEND", "k", "b"]);
    assert!(q::<i64>(&mut c, &["TTL", "k"]) > 0);
}

#[test]
fn incr_decr_family() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(q::<i64>(&mut c, &["INCR", "n"]), 1);
    assert_eq!(q::<i64>(&mut c, &["INCRBY", "n", "10"]), 11);
    assert_eq!(q::<i64>(&mut c, &["DECR", "n"]), 10);
    assert_eq!(q::<i64>(&mut c, &["DECRBY", "n", "15"]), -5);
    assert_eq!(q::<i64>(&mut c, &["INCRBY", "n", "-5"]), -10);
    assert_eq!(qv(&mut c, &["GET", "n"]), b("-10"));
    assert_eq!(q::<i64>(&mut c, &["DECR", "fresh"]), -1);
}

#[test]
fn incr_keeps_the_ttl() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "n", "1", "EX", "100"]);
    assert_eq!(q::<i64>(&mut c, &["INCR", "n"]), 2);
    assert!(q::<i64>(&mut c, &["TTL", "n"]) > 0);
}

#[test]
fn incr_errors_match_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "max", "9223372036854775807"]);
    assert_eq!(
        qerr(&mut c, &["INCR", "max"]),
        "ERR increment or decrement would overflow"
    );
    q::<()>(&mut c, &["SET", "min", "-9223372036854775808"]);
    assert_eq!(
        qerr(&mut c, &["DECR", "min"]),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(
        qerr(&mut c, &["INCRBY", "max", "1"]),
        "ERR increment or decrement would overflow"
    );
    for v in ["abc", "1.5", " 1", "1 ", "01", "", "99999999999999999999"] {
        q::<()>(&mut c, &["SET", "s", v]);
        assert_eq!(
            qerr(&mut c, &["INCR", "s"]),
            "ERR value is not an integer or out of range",
            "INCR on {v:?}"
        );
    }
    assert_eq!(
        qerr(&mut c, &["INCRBY", "n", "abc"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["INCRBY", "n", "1.0"]),
        "ERR value is not an integer or out of range"
    );
    // The values are unchanged after the errors.
    assert_eq!(qv(&mut c, &["GET", "max"]), b("9223372036854775807"));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "n"]), 0);
}

#[test]
fn incrbyfloat_formats_like_redis() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let k = format!("f-{proto}");
        q::<()>(&mut c, &["SET", &k, "10.5"]);
        // A bulk string on both protocols, never a RESP3 double.
        assert_eq!(
            qv(&mut c, &["INCRBYFLOAT", &k, "0.1"]),
            b("10.6"),
            "{proto}"
        );
        assert_eq!(qv(&mut c, &["GET", &k]), b("10.6"));
        q::<()>(&mut c, &["SET", &k, "5.0e3"]);
        assert_eq!(qv(&mut c, &["INCRBYFLOAT", &k, "0"]), b("5000"));
        assert_eq!(qv(&mut c, &["INCRBYFLOAT", &k, "2.0e2"]), b("5200"));
        assert_eq!(qv(&mut c, &["INCRBYFLOAT", &k, "-5200"]), b("0"));
        let fresh = format!("g-{proto}");
        assert_eq!(qv(&mut c, &["INCRBYFLOAT", &fresh, "1.5e1"]), b("15"));
        assert_eq!(qv(&mut c, &["INCRBYFLOAT", &fresh, "-0.25"]), b("14.75"));
    }
}

#[test]
fn incrbyfloat_errors_match_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "s", "abc"]);
    assert_eq!(
        qerr(&mut c, &["INCRBYFLOAT", "s", "1"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        qerr(&mut c, &["INCRBYFLOAT", "n", "abc"]),
        "ERR value is not a valid float"
    );
    assert_eq!(
        qerr(&mut c, &["INCRBYFLOAT", "n", "inf"]),
        "ERR increment would produce NaN or Infinity"
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "n"]), 0);
}

#[test]
fn getrange_and_substr_clamp_like_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "This is a string"]);
    assert_eq!(qv(&mut c, &["GETRANGE", "k", "0", "3"]), b("This"));
    assert_eq!(qv(&mut c, &["GETRANGE", "k", "-3", "-1"]), b("ing"));
    assert_eq!(
        qv(&mut c, &["GETRANGE", "k", "0", "-1"]),
        b("This is a string")
    );
    assert_eq!(qv(&mut c, &["GETRANGE", "k", "10", "100"]), b("string"));
    assert_eq!(qv(&mut c, &["GETRANGE", "k", "5", "3"]), b(""));
    assert_eq!(qv(&mut c, &["GETRANGE", "k", "-100", "3"]), b("This"));
    assert_eq!(qv(&mut c, &["GETRANGE", "missing", "0", "-1"]), b(""));
    assert_eq!(qv(&mut c, &["SUBSTR", "k", "0", "3"]), b("This"));
    assert_eq!(
        qerr(&mut c, &["GETRANGE", "k", "a", "3"]),
        "ERR value is not an integer or out of range"
    );
}

#[test]
fn setrange_overwrites_and_pads_with_zero_bytes() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "Hello World"]);
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "k", "6", "Redis"]), 11);
    assert_eq!(qv(&mut c, &["GET", "k"]), b("Hello Redis"));
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "p", "6", "Redis"]), 11);
    assert_eq!(
        qv(&mut c, &["GET", "p"]),
        Value::BulkString(b"\0\0\0\0\0\0Redis".to_vec())
    );
    // An empty write to a missing key creates nothing; to an existing key returns its length.
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "none", "0", ""]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "none"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SETRANGE", "k", "100", ""]), 11);
    assert_eq!(
        qerr(&mut c, &["SETRANGE", "k", "-1", "x"]),
        "ERR offset is out of range"
    );
    assert_eq!(
        qerr(&mut c, &["SETRANGE", "k", "536870912", "x"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
}

#[test]
fn lcs_finds_the_longest_common_subsequence() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let (k1, k2) = (format!("key1-{proto}"), format!("key2-{proto}"));
        q::<()>(&mut c, &["MSET", &k1, "ohmytext", &k2, "mynewtext"]);
        assert_eq!(qv(&mut c, &["LCS", &k1, &k2]), b("mytext"), "{proto}");
        assert_eq!(q::<i64>(&mut c, &["LCS", &k1, &k2, "LEN"]), 6);
        assert_eq!(qv(&mut c, &["LCS", &k1, "missing"]), b(""));
    }
}

fn int_pair(a: i64, b: i64) -> Value {
    Value::Array(vec![Value::Int(a), Value::Int(b)])
}

#[test]
fn lcs_idx_reports_match_positions() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let (k1, k2) = (format!("key1-{proto}"), format!("key2-{proto}"));
        q::<()>(&mut c, &["MSET", &k1, "ohmytext", &k2, "mynewtext"]);

        let v = qv(&mut c, &["LCS", &k1, &k2, "IDX"]);
        assert_eq!(
            vget(&v, "matches"),
            Some(Value::Array(vec![
                Value::Array(vec![int_pair(4, 7), int_pair(5, 8)]),
                Value::Array(vec![int_pair(2, 3), int_pair(0, 1)]),
            ])),
            "{proto}: {v:?}"
        );
        assert_eq!(vget(&v, "len"), Some(Value::Int(6)), "{proto}");

        let v = qv(&mut c, &["LCS", &k1, &k2, "IDX", "MINMATCHLEN", "4"]);
        assert_eq!(
            vget(&v, "matches"),
            Some(Value::Array(vec![Value::Array(vec![
                int_pair(4, 7),
                int_pair(5, 8)
            ])])),
            "{proto}: {v:?}"
        );
        assert_eq!(vget(&v, "len"), Some(Value::Int(6)));

        let v = qv(
            &mut c,
            &["LCS", &k1, &k2, "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"],
        );
        assert_eq!(
            vget(&v, "matches"),
            Some(Value::Array(vec![Value::Array(vec![
                int_pair(4, 7),
                int_pair(5, 8),
                Value::Int(4)
            ])])),
            "{proto}: {v:?}"
        );
        assert_eq!(vget(&v, "len"), Some(Value::Int(6)));
        if proto == "resp3" {
            assert!(
                matches!(v, Value::Map(_)),
                "RESP3 IDX reply is a map: {v:?}"
            );
        }
    }
}

#[test]
fn lcs_option_errors() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["MSET", "a", "x", "b", "y"]);
    assert_eq!(
        qerr(&mut c, &["LCS", "a", "b", "LEN", "IDX"]),
        "ERR If you want both the length and indexes, please just use IDX."
    );
    assert_eq!(
        qerr(&mut c, &["LCS", "a", "b", "IDX", "MINMATCHLEN"]),
        "ERR syntax error"
    );
    assert_eq!(qerr(&mut c, &["LCS", "a", "b", "FOO"]), "ERR syntax error");
}

#[test]
fn keys_and_values_are_binary_safe() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let mut key: Vec<u8> = (0..=255u8).collect();
        key.extend_from_slice(proto.as_bytes());
        let val: Vec<u8> = (0..=255u8).rev().collect();
        let r: Value = redis::cmd("SET")
            .arg(&key[..])
            .arg(&val[..])
            .query(&mut c)
            .expect("set");
        assert_eq!(r, Value::Okay);
        let got: Vec<u8> = redis::cmd("GET").arg(&key[..]).query(&mut c).expect("get");
        assert_eq!(got, val, "{proto}");
        let n: i64 = redis::cmd("STRLEN")
            .arg(&key[..])
            .query(&mut c)
            .expect("strlen");
        assert_eq!(n, 256);
        let n: i64 = redis::cmd("APPEND")
            .arg(&key[..])
            .arg(&b"\0\r\n"[..])
            .query(&mut c)
            .expect("append");
        assert_eq!(n, 259);
        let got: Vec<u8> = redis::cmd("GETRANGE")
            .arg(&key[..])
            .arg(-3)
            .arg(-1)
            .query(&mut c)
            .expect("getrange");
        assert_eq!(got, b"\0\r\n");
    }
}

#[tokio::test]
async fn async_connection_set_and_get() {
    let srv = Server::start();
    for mut c in [srv.async_conn().await, srv.async_conn3().await] {
        let r: Value = redis::cmd("SET")
            .arg("ak")
            .arg("av")
            .query_async(&mut c)
            .await
            .expect("set");
        assert_eq!(r, Value::Okay);
        let v: Option<String> = redis::cmd("GET")
            .arg("ak")
            .query_async(&mut c)
            .await
            .expect("get");
        assert_eq!(v.as_deref(), Some("av"));
        let v: Option<String> = redis::cmd("GET")
            .arg("nope")
            .query_async(&mut c)
            .await
            .expect("get");
        assert_eq!(v, None);
    }
}

#[tokio::test]
async fn concurrent_incr_from_many_clients_loses_no_update() {
    let srv = Server::start();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut c = srv.async_conn().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..250 {
                let _: i64 = redis::cmd("INCR")
                    .arg("ctr")
                    .query_async(&mut c)
                    .await
                    .expect("incr");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["GET", "ctr"]), b("2000"));
}

#[test]
fn incrbyfloat_uses_long_double_precision_like_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "a", "1.1"]);
    assert_eq!(qv(&mut c, &["INCRBYFLOAT", "a", "2.2"]), b("3.3"));
    q::<()>(&mut c, &["SET", "b", "0.1"]);
    assert_eq!(qv(&mut c, &["INCRBYFLOAT", "b", "0.2"]), b("0.3"));
    assert_eq!(
        qv(&mut c, &["INCRBYFLOAT", "c", "1e20"]),
        b("100000000000000000000")
    );
    assert_eq!(qv(&mut c, &["INCRBYFLOAT", "d", "1.5e-7"]), b("0.00000015"));
    // Where a double's sum and a long double's differ in print (x86-64's 80-bit long double,
    // which the reference Redis uses too).
    if cfg!(target_arch = "x86_64") {
        q::<()>(&mut c, &["SET", "e", "5000"]);
        assert_eq!(
            qv(&mut c, &["INCRBYFLOAT", "e", "1.1"]),
            b("5001.10000000000000009")
        );
        q::<()>(&mut c, &["HSET", "h", "f", "123456789"]);
        assert_eq!(
            qv(&mut c, &["HINCRBYFLOAT", "h", "f", "0.123456789"]),
            b("123456789.12345678899873747")
        );
        // Past a double's range, within a long double's.
        q::<()>(&mut c, &["SET", "g", "1e400"]);
        let v = q::<String>(&mut c, &["INCRBYFLOAT", "g", "1"]);
        assert_eq!(v.len(), 401, "{v}");
        assert!(v.starts_with("10000000000000000000"), "{v}");
    }
}

#[test]
fn incrbyfloat_keeps_the_ttl() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "f", "1", "EX", "100"]);
    q::<Value>(&mut c, &["INCRBYFLOAT", "f", "0.5"]);
    assert!(q::<i64>(&mut c, &["TTL", "f"]) > 0);
}

#[test]
fn incrby_and_decrby_at_the_i64_limits() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(
        q::<i64>(&mut c, &["INCRBY", "a", "-9223372036854775808"]),
        i64::MIN
    );
    assert_eq!(
        q::<i64>(&mut c, &["DECRBY", "b", "-9223372036854775807"]),
        i64::MAX
    );
    assert_eq!(
        qerr(&mut c, &["DECRBY", "c", "-9223372036854775808"]),
        "ERR decrement would overflow"
    );
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "c"]), 0);
}

#[test]
fn mset_clears_existing_ttls() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v", "EX", "100"]);
    q::<()>(&mut c, &["MSET", "k", "w"]);
    assert_eq!(q::<i64>(&mut c, &["TTL", "k"]), -1);
}

#[test]
fn setrange_and_getex_without_options_keep_the_ttl() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "hello", "EX", "100"]);
    q::<i64>(&mut c, &["SETRANGE", "k", "0", "J"]);
    assert_eq!(qv(&mut c, &["GETEX", "k"]), b("Jello"));
    assert!(q::<i64>(&mut c, &["TTL", "k"]) > 0);
}

#[test]
fn set_keepttl_get_returns_old_value_and_keeps_ttl() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "a", "PX", "100000"]);
    assert_eq!(qv(&mut c, &["SET", "k", "b", "KEEPTTL", "GET"]), b("a"));
    assert!(q::<i64>(&mut c, &["PTTL", "k"]) > 90_000);
}

#[test]
fn append_beyond_proto_max_bulk_len_is_refused() {
    let srv = Server::start_with(&["--proto-max-bulk-len", "1048576"]);
    let mut c = srv.conn();
    let chunk = "x".repeat(600_000);
    assert_eq!(q::<i64>(&mut c, &["APPEND", "k", &chunk]), 600_000);
    assert_eq!(
        qerr(&mut c, &["APPEND", "k", &chunk]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(
        qerr(&mut c, &["SETRANGE", "k", "1048576", "x"]),
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
    );
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "k"]), 600_000);
}

#[test]
fn empty_key_is_a_valid_key() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "", "empty-key"]);
    assert_eq!(qv(&mut c, &["GET", ""]), b("empty-key"));
    assert_eq!(q::<i64>(&mut c, &["EXISTS", ""]), 1);
}

#[test]
fn getrange_with_extreme_indexes() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "hello"]);
    assert_eq!(
        qv(&mut c, &["GETRANGE", "k", "0", "9223372036854775807"]),
        b("hello")
    );
    assert_eq!(
        qv(&mut c, &["GETRANGE", "k", "-9223372036854775808", "1"]),
        b("he")
    );
    q::<()>(&mut c, &["SET", "e", ""]);
    assert_eq!(qv(&mut c, &["GETRANGE", "e", "0", "-1"]), b(""));
}
