//! Stream commands (XADD, XLEN, XRANGE/XREVRANGE, XDEL, XTRIM, XSETID, XREAD): exact reply bytes
//! captured from redis-server 7.0.15, generated IDs, approximate trimming, and (Eddy-only)
//! DUMP/RESTORE, a restart, and the recorded change events.

mod common;

use common::{eddy_only, now_ms, q, qerr, qv, vget, Server};
use redis::Value;

/// Commands (split on spaces) and the exact bytes redis-server 7.0.15 replied; `None` for a
/// reply that differs legitimately (HELLO's client id) and is not compared.
const SCRIPT: &[(&str, Option<&str>)] = &[
    ("flushall", Some("+OK\r\n")),
    ("xadd s2 0-* a b", Some("$3\r\n0-1\r\n")),
    ("xadd s2 0-0 a", Some("-ERR wrong number of arguments for 'xadd' command\r\n")),
    ("xadd s2 0 a b", Some("-ERR The ID specified in XADD must be greater than 0-0\r\n")),
    ("xadd s2 0-* a", Some("-ERR wrong number of arguments for 'xadd' command\r\n")),
    ("xadd s2 maxlen 5 a", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xadd s2 maxlen x 1-1 a b", Some("-ERR value is not an integer or out of range\r\n")),
    ("xadd s2 limit 5 * a b", Some("-ERR syntax error, LIMIT cannot be used without specifying a trimming strategy\r\n")),
    ("xadd s2 maxlen ~ 5 limit x * a b", Some("-ERR value is not an integer or out of range\r\n")),
    ("xadd s2 maxlen ~ 5 limit -1 * a b", Some("-ERR The LIMIT argument must be >= 0.\r\n")),
    ("xadd s2 maxlen -1 * a b", Some("-ERR The MAXLEN argument must be >= 0.\r\n")),
    ("xadd s2 minid abc * a b", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xadd s2 maxlen 5 maxlen 3 limit 3 * a b", Some("-ERR syntax error, MAXLEN and MINID options at the same time are not compatible\r\n")),
    ("xadd s2 maxlen = 1 limit 3 * a b", Some("-ERR syntax error, LIMIT cannot be used without the special ~ option\r\n")),
    ("xtrim s2 maxlen 1 limit 3", Some("-ERR syntax error, LIMIT cannot be used without the special ~ option\r\n")),
    ("xtrim s2 limit 3", Some("-ERR syntax error, LIMIT cannot be used without specifying a trimming strategy\r\n")),
    ("xtrim s2 nomkstream maxlen 1", Some("-ERR syntax error\r\n")),
    ("xtrim s2 foo 1", Some("-ERR syntax error\r\n")),
    ("xsetid s2 5-5 foo", Some("-ERR syntax error\r\n")),
    ("xsetid s2 5-5 entriesadded", Some("-ERR syntax error\r\n")),
    ("xsetid s2 +", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xsetid nokey 1-1", Some("-ERR no such key\r\n")),
    ("xsetid s2 9-9 entriesadded -1", Some("-ERR entries_added must be positive\r\n")),
    ("xsetid s2 9-9 maxdeletedid 10-0", Some("-ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id\r\n")),
    ("xsetid s2 0-0", Some("-ERR The ID specified in XSETID is smaller than the target stream top item\r\n")),
    ("xrange s2 - +", Some("*1\r\n*2\r\n$3\r\n0-1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n")),
    ("xadd s2 5-* a b", Some("$3\r\n5-0\r\n")),
    ("xadd s2 5-* c d e f", Some("$3\r\n5-1\r\n")),
    ("xadd s2 5-1 a b", Some("-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n")),
    ("xadd s2 6 x y", Some("$3\r\n6-0\r\n")),
    ("xadd s2 7-3 x y", Some("$3\r\n7-3\r\n")),
    ("xrange s2 - +", Some("*5\r\n*2\r\n$3\r\n0-1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$3\r\n5-1\r\n*4\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n*2\r\n$3\r\n6-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n*2\r\n$3\r\n7-3\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n")),
    ("xrange s2 5 5", Some("*2\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$3\r\n5-1\r\n*4\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n")),
    ("xrange s2 5 (5-1", Some("*1\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n")),
    ("xrange s2 (5 +", Some("*3\r\n*2\r\n$3\r\n5-1\r\n*4\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n*2\r\n$3\r\n6-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n*2\r\n$3\r\n7-3\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n")),
    ("xrange s2 (5-0 (7-3", Some("*2\r\n*2\r\n$3\r\n5-1\r\n*4\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n*2\r\n$3\r\n6-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n")),
    ("xrange s2 - + count 2", Some("*2\r\n*2\r\n$3\r\n0-1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n")),
    ("xrange s2 - + count 0", Some("*-1\r\n")),
    ("xrange s2 - + count -1", Some("*-1\r\n")),
    ("xrange s2 - + COUNT 1 foo", Some("-ERR syntax error\r\n")),
    ("xrange s2 - + count x", Some("-ERR value is not an integer or out of range\r\n")),
    ("xrange s2 (- +", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xrange s2 abc +", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xrange s2 (+ +", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xrange s2 (18446744073709551615-18446744073709551615 +", Some("-ERR invalid start ID for the interval\r\n")),
    ("xrange s2 - (0-0", Some("-ERR invalid end ID for the interval\r\n")),
    ("xrevrange s2 + - count 2", Some("*2\r\n*2\r\n$3\r\n7-3\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n*2\r\n$3\r\n6-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n")),
    ("xrevrange s2 (7-3 5", Some("*3\r\n*2\r\n$3\r\n6-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n*2\r\n$3\r\n5-1\r\n*4\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n")),
    ("xrevrange s2 7 (5-0", Some("*3\r\n*2\r\n$3\r\n7-3\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n*2\r\n$3\r\n6-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n*2\r\n$3\r\n5-1\r\n*4\r\n$1\r\nc\r\n$1\r\nd\r\n$1\r\ne\r\n$1\r\nf\r\n")),
    ("xrevrange s2 + - count 0", Some("*-1\r\n")),
    ("xrange nokey - +", Some("*0\r\n")),
    ("xrange nokey - + count 0", Some("*0\r\n")),
    ("xlen s2", Some(":5\r\n")),
    ("xlen nokey", Some(":0\r\n")),
    ("xdel s2 5-1 5-1 abc", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xdel s2 5-1 5-1 6 99", Some(":2\r\n")),
    ("xlen s2", Some(":3\r\n")),
    ("xadd s2 5-5 a b", Some("-ERR The ID specified in XADD is equal or smaller than the target stream top item\r\n")),
    ("xread streams s2 nokey 0 0", Some("*1\r\n*2\r\n$2\r\ns2\r\n*3\r\n*2\r\n$3\r\n0-1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$3\r\n7-3\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n")),
    ("xread count 1 streams s2 nokey 5 0", Some("*1\r\n*2\r\n$2\r\ns2\r\n*1\r\n*2\r\n$3\r\n7-3\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n")),
    ("xread count 5 streams s2 nokey $ $", Some("*-1\r\n")),
    ("xread count x streams s2 0", Some("-ERR value is not an integer or out of range\r\n")),
    ("xread block x streams s2 0", Some("-ERR timeout is not an integer or out of range\r\n")),
    ("xread streams s2 0 foo", Some("-ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.\r\n")),
    ("xread count 1 foo streams s2 0", Some("-ERR syntax error\r\n")),
    ("xread streams s2 +", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xread streams s2 >", Some("-ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.\r\n")),
    ("xread streams s2 18446744073709551615-18446744073709551615", Some("*-1\r\n")),
    ("xadd t nomkstream * a b", Some("$-1\r\n")),
    ("xdel t 1-1", Some(":0\r\n")),
    ("exists t", Some(":0\r\n")),
    ("set str v", Some("+OK\r\n")),
    ("xadd str * a b", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    ("xrange str - +", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    ("xlen str", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    ("xdel str 1", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    ("xtrim str maxlen 0", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    ("xsetid str 1", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    ("xread streams str 0", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    ("xadd m 1 a 1", Some("$3\r\n1-0\r\n")),
    ("xadd m 2 a 2", Some("$3\r\n2-0\r\n")),
    ("xadd m 3 a 3", Some("$3\r\n3-0\r\n")),
    ("xadd m 4 a 4", Some("$3\r\n4-0\r\n")),
    ("xtrim m maxlen 3", Some(":1\r\n")),
    ("xtrim m minid 3", Some(":1\r\n")),
    ("xtrim m minid 3", Some(":0\r\n")),
    ("xtrim m maxlen ~ 1", Some(":0\r\n")),
    ("xtrim m maxlen ~ 0 limit 0", Some(":2\r\n")),
    ("xlen m", Some(":0\r\n")),
    ("exists m", Some(":1\r\n")),
    ("type m", Some("+stream\r\n")),
    ("object encoding m", Some("$6\r\nstream\r\n")),
    ("xadd m maxlen 0 5 a b", Some("$3\r\n5-0\r\n")),
    ("xlen m", Some(":0\r\n")),
    ("xsetid m 9-9 entriesadded 0", Some("+OK\r\n")),
    ("xsetid m 18446744073709551615-18446744073709551615", Some("+OK\r\n")),
    ("xadd m * a b", Some("-ERR The stream has exhausted the last possible ID, unable to add more items\r\n")),
    ("xadd m 18446744073709551615-* a b", Some("-ERR The stream has exhausted the last possible ID, unable to add more items\r\n")),
    ("xadd n 18446744073709551615-18446744073709551615 a b", Some("$41\r\n18446744073709551615-18446744073709551615\r\n")),
    ("xadd n 18446744073709551615-* a b", Some("-ERR The stream has exhausted the last possible ID, unable to add more items\r\n")),
    ("xadd k 1-1 a b", Some("$3\r\n1-1\r\n")),
    ("xadd k 1-2 a b", Some("$3\r\n1-2\r\n")),
    ("xsetid k 1-1", Some("-ERR The ID specified in XSETID is smaller than the target stream top item\r\n")),
    ("xsetid k 1-2 entriesadded 1", Some("-ERR The entries_added specified in XSETID is smaller than the target stream length\r\n")),
    ("xsetid k 3-3 entriesadded 7 maxdeletedid 2-2", Some("+OK\r\n")),
    ("xadd k 3-* a b", Some("$3\r\n3-4\r\n")),
    ("HELLO 3", None),
    ("xread streams k s2 0 0", Some("%2\r\n$1\r\nk\r\n*3\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$3\r\n1-2\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$3\r\n3-4\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n$2\r\ns2\r\n*3\r\n*2\r\n$3\r\n0-1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$3\r\n7-3\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n")),
    ("xread streams k 5", Some("_\r\n")),
    ("xrange k - + count 0", Some("_\r\n")),
    ("xread streams nokey 0", Some("_\r\n")),
    ("del z", Some(":0\r\n")),
    ("xadd z +5-1 a b", Some("$3\r\n5-1\r\n")),
    ("xadd z 6-+1 a b", Some("$3\r\n6-1\r\n")),
    ("xadd z 007-1 a b", Some("$3\r\n7-1\r\n")),
    ("xadd z +8-* a b", Some("$3\r\n8-0\r\n")),
    ("xread block -1 streams z 0", Some("-ERR timeout is negative\r\n")),
    ("xread block 1.5 streams z 0", Some("-ERR timeout is not an integer or out of range\r\n")),
    ("xrange z +7 +", Some("*2\r\n*2\r\n$3\r\n7-1\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n*2\r\n$3\r\n8-0\r\n*2\r\n$1\r\na\r\n$1\r\nb\r\n")),
    ("xdel z 007-1", Some(":1\r\n")),
];

#[test]
fn replies_match_redis_byte_for_byte() {
    common::check_replies(&Server::start(), SCRIPT);
}

fn id_parts(id: &str) -> (u64, u64) {
    let (a, b) = id.split_once('-').expect("ms-seq");
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn generated_ids_increase_and_follow_the_clock() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let k = format!("ids-{proto}");
        let before = now_ms() as u64;
        let mut last = (0, 0);
        for _ in 0..50 {
            let id: String = q(&mut c, &["XADD", &k, "*", "f", "v"]);
            let p = id_parts(&id);
            assert!(p > last, "{id} after {last:?}");
            last = p;
        }
        let after = now_ms() as u64;
        assert!(last.0 >= before && last.0 <= after + 1, "{last:?}");
        // A last ID in the future: `*` continues from it.
        let future = format!("{}-7", after + 100_000);
        assert_eq!(
            q::<String>(&mut c, &["XADD", &k, &future, "f", "v"]),
            future
        );
        let next: String = q(&mut c, &["XADD", &k, "*", "f", "v"]);
        assert_eq!(next, format!("{}-8", after + 100_000));
        // `ms-*` on the same and on a later millisecond.
        let id: String = q(
            &mut c,
            &["XADD", &k, &format!("{}-*", after + 100_000), "f", "v"],
        );
        assert_eq!(id, format!("{}-9", after + 100_000));
        let id: String = q(
            &mut c,
            &["XADD", &k, &format!("{}-*", after + 100_001), "f", "v"],
        );
        assert_eq!(id, format!("{}-0", after + 100_001));
        assert_eq!(q::<i64>(&mut c, &["XLEN", &k]), 54);
        // NOMKSTREAM on an existing stream adds.
        let _: String = q(&mut c, &["XADD", &k, "NOMKSTREAM", "*", "f", "v"]);
        assert_eq!(q::<i64>(&mut c, &["XLEN", &k]), 55);
        assert_eq!(
            qv(&mut c, &["XADD", "nostream", "NOMKSTREAM", "*", "f", "v"]),
            Value::Nil
        );
        assert_eq!(q::<i64>(&mut c, &["EXISTS", "nostream"]), 0);
        assert_eq!(q::<String>(&mut c, &["TYPE", &k]), "stream");
        assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", &k]), "stream");
        // XADD's MAXLEN trims exactly with `=`.
        let _: String = q(&mut c, &["XADD", &k, "MAXLEN", "=", "3", "*", "f", "v"]);
        assert_eq!(q::<i64>(&mut c, &["XLEN", &k]), 3);
    }
}

#[test]
fn approximate_trimming_removes_whole_nodes_of_a_fresh_stream() {
    let srv = Server::start();
    let mut c = srv.conn();
    for i in 1..=250 {
        let _: String = q(&mut c, &["XADD", "s", &format!("{i}-1"), "f", "v"]);
    }
    assert_eq!(q::<i64>(&mut c, &["XTRIM", "s", "MAXLEN", "~", "220"]), 0);
    assert_eq!(q::<i64>(&mut c, &["XTRIM", "s", "MAXLEN", "~", "120"]), 100);
    assert_eq!(q::<i64>(&mut c, &["XTRIM", "s", "MINID", "~", "240"]), 100);
    assert_eq!(q::<i64>(&mut c, &["XLEN", "s"]), 50);
    assert_eq!(q::<i64>(&mut c, &["XTRIM", "s", "MINID", "=", "240"]), 39);
    let first = qv(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "1"]);
    let Value::Array(v) = first else { panic!() };
    let Value::Array(e) = &v[0] else { panic!() };
    assert_eq!(e[0], Value::BulkString(b"240-1".to_vec()));
    // Everything that `=` would remove when that empties the stream.
    assert_eq!(q::<i64>(&mut c, &["XTRIM", "s", "MAXLEN", "~", "0"]), 11);
    assert_eq!(q::<i64>(&mut c, &["XLEN", "s"]), 0);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "s"]), 1);
}

#[test]
fn xread_several_streams_and_dollar() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let (a, b) = (format!("a-{proto}"), format!("b-{proto}"));
        for i in 1..=3 {
            let _: String = q(
                &mut c,
                &["XADD", &a, &format!("{i}-0"), "n", &i.to_string()],
            );
            let _: String = q(
                &mut c,
                &["XADD", &b, &format!("{i}-5"), "m", &i.to_string()],
            );
        }
        assert_eq!(
            qv(&mut c, &["XREAD", "STREAMS", &a, &b, "$", "$"]),
            Value::Nil
        );
        let v = qv(
            &mut c,
            &["XREAD", "COUNT", "2", "STREAMS", &a, &b, "1", "$"],
        );
        let entry = |id: &str, f: &str, val: &str| {
            Value::Array(vec![
                Value::BulkString(id.into()),
                Value::Array(vec![
                    Value::BulkString(f.into()),
                    Value::BulkString(val.into()),
                ]),
            ])
        };
        let want_a = Value::Array(vec![entry("2-0", "n", "2"), entry("3-0", "n", "3")]);
        match &v {
            Value::Map(m) => {
                assert_eq!(m.len(), 1);
                assert_eq!(m[0].0, Value::BulkString(a.clone().into_bytes()));
                assert_eq!(m[0].1, want_a);
            }
            Value::Array(x) => assert_eq!(
                x,
                &vec![Value::Array(vec![
                    Value::BulkString(a.clone().into_bytes()),
                    want_a.clone()
                ])]
            ),
            other => panic!("{other:?}"),
        }
        let v = qv(&mut c, &["XREAD", "STREAMS", &a, &b, "3", "2-5"]);
        let want_b = Value::Array(vec![entry("3-5", "m", "3")]);
        match &v {
            Value::Map(m) => {
                assert_eq!(m.len(), 1);
                assert_eq!(m[0].1, want_b);
            }
            Value::Array(x) => assert_eq!(
                x,
                &vec![Value::Array(vec![
                    Value::BulkString(b.clone().into_bytes()),
                    want_b.clone()
                ])]
            ),
            other => panic!("{other:?}"),
        }
        let _: () = q(&mut c, &["SET", "str", "x"]);
        assert!(qerr(&mut c, &["XREAD", "STREAMS", &a, "str", "0", "0"]).starts_with("WRONGTYPE"));
    }
}

fn range_all(c: &mut redis::Connection, k: &str) -> Value {
    qv(c, &["XRANGE", k, "-", "+"])
}

#[test]
fn dump_restore_and_restart_keep_entries_and_ids() {
    if !eddy_only("dump_restore_and_restart_keep_entries_and_ids") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let _: String = q(&mut c, &["XADD", "s", "1-1", "a", "1", "b", "222222"]);
    let _: String = q(&mut c, &["XADD", "s", "2-1", "c", ""]);
    let _: String = q(&mut c, &["XADD", "s", "3-1", "d", "x"]);
    assert_eq!(q::<i64>(&mut c, &["XDEL", "s", "3-1"]), 1);
    let _: () = q(
        &mut c,
        &[
            "XSETID",
            "s",
            "9-9",
            "ENTRIESADDED",
            "20",
            "MAXDELETEDID",
            "3-1",
        ],
    );
    let _: String = q(&mut c, &["XADD", "e", "1-1", "a", "1"]);
    assert_eq!(q::<i64>(&mut c, &["XTRIM", "e", "MAXLEN", "0"]), 1);
    let before = range_all(&mut c, "s");
    let payload: Vec<u8> = q(&mut c, &["DUMP", "s"]);
    let mut cmd = redis::cmd("RESTORE");
    cmd.arg("s-copy").arg(0).arg(payload);
    let _: () = cmd.query(&mut c).expect("restore");
    assert_eq!(range_all(&mut c, "s-copy"), before);
    let id: String = q(&mut c, &["XADD", "s-copy", "*", "f", "v"]);
    assert!(id_parts(&id) > (9, 9), "{id}");
    let _: () = q(&mut c, &["SAVE"]);
    // Writes after the snapshot come back by replaying their records from the log.
    for i in 1..=5 {
        let _: String = q(
            &mut c,
            &["XADD", "l", &format!("{i}-*"), "n", &i.to_string()],
        );
    }
    let _: String = q(
        &mut c,
        &["XADD", "l", "MAXLEN", "~", "0", "LIMIT", "0", "*", "n", "6"],
    );
    let _: String = q(&mut c, &["XADD", "l", "MAXLEN", "3", "*", "n", "7"]);
    let _: i64 = q(&mut c, &["XDEL", "l", "1-0"]);
    let _: i64 = q(&mut c, &["XTRIM", "l", "MINID", "~", "99999999999999"]);
    let _: () = q(&mut c, &["XSETID", "l", "99999999999999-3"]);
    let l_before = range_all(&mut c, "l");
    assert_eq!(q::<i64>(&mut c, &["XLEN", "l"]), 0);
    let _: String = q(&mut c, &["XADD", "l2", "5-5", "a", "b", "c", "d"]);
    let _: String = q(&mut c, &["XADD", "l2", "MINID", "5-6", "6-*", "e", "f"]);
    let l2_before = range_all(&mut c, "l2");
    drop(c);
    let srv = common::restart_nosave(srv);
    let mut c = srv.conn();
    assert_eq!(range_all(&mut c, "s"), before);
    assert_eq!(range_all(&mut c, "l"), l_before);
    assert_eq!(range_all(&mut c, "l2"), l2_before);
    assert_eq!(
        q::<String>(&mut c, &["XADD", "l", "99999999999999-*", "f", "v"]),
        "99999999999999-4"
    );
    assert_eq!(q::<String>(&mut c, &["TYPE", "e"]), "stream");
    assert_eq!(q::<i64>(&mut c, &["XLEN", "e"]), 0);
    // The last ID survived: 9-* continues after 9-9, an older ID is refused.
    assert_eq!(q::<String>(&mut c, &["XADD", "s", "9-*", "f", "v"]), "9-10");
    assert!(qerr(&mut c, &["XADD", "s", "5-0", "f", "v"]).contains("equal or smaller"));
    let id: String = q(&mut c, &["XADD", "e", "*", "f", "v"]);
    assert!(id_parts(&id) > (1, 1));
}

// ---------------------------------------------------------------------------------------------
// Change events

fn changes_from(c: &mut redis::Connection, from: i64) -> Vec<(String, Vec<String>)> {
    let v = qv(c, &["CHANGES", "READ", &from.to_string(), "COUNT", "100"]);
    let Value::Array(items) = v else {
        panic!("{v:?}")
    };
    items
        .iter()
        .map(|e| {
            let event = match vget(e, "event") {
                Some(Value::BulkString(b)) => String::from_utf8_lossy(&b).into_owned(),
                Some(Value::SimpleString(s)) => s,
                other => panic!("{other:?}"),
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
            (event, args)
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

fn ev(e: &str, args: &[&str]) -> (String, Vec<String>) {
    (e.into(), args.iter().map(|s| s.to_string()).collect())
}

#[test]
fn every_stream_write_records_its_exact_effect() {
    if !eddy_only("every_stream_write_records_its_exact_effect") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let from = next_offset(&mut c);
    let id: String = q(&mut c, &["XADD", "s", "*", "f", "v"]);
    let _: String = q(
        &mut c,
        &[
            "XADD",
            "s",
            "NOMKSTREAM",
            "MAXLEN",
            "~",
            "5",
            "99999999999999-*",
            "g",
            "w",
        ],
    );
    let _: String = q(
        &mut c,
        &["XADD", "s", "MAXLEN", "1", "99999999999999-5", "h", "x"],
    );
    let _: String = q(&mut c, &["XADD", "s", "100000000000000-0", "i", "y"]);
    // Nothing recorded for writes that change nothing.
    assert_eq!(q::<i64>(&mut c, &["XDEL", "s", "1-1"]), 0);
    assert_eq!(q::<i64>(&mut c, &["XTRIM", "s", "MINID", "1"]), 0);
    assert_eq!(
        q::<i64>(&mut c, &["XDEL", "s", "1-1", "99999999999999-5"]),
        1
    );
    let _: String = q(&mut c, &["XADD", "s", "100000000000001-0", "j", "z"]);
    assert_eq!(q::<i64>(&mut c, &["XTRIM", "s", "MAXLEN", "=", "1"]), 1);
    assert_eq!(q::<i64>(&mut c, &["XTRIM", "s", "MAXLEN", "0"]), 1);
    let _: () = q(
        &mut c,
        &["XSETID", "s", "200000000000000-0", "ENTRIESADDED", "50"],
    );
    let got = changes_from(&mut c, from);
    assert_eq!(
        got,
        vec![
            ev("xadd", &["XADD", "s", &id, "f", "v"]),
            ev("xadd", &["XADD", "s", "99999999999999-0", "g", "w"]),
            ev("xadd", &["XADD", "s", "99999999999999-5", "h", "x"]),
            ev("xtrim", &["XTRIM", "s", "MINID", "=", "99999999999999-5"]),
            ev("xadd", &["XADD", "s", "100000000000000-0", "i", "y"]),
            ev("xdel", &["XDEL", "s", "99999999999999-5"]),
            ev("xadd", &["XADD", "s", "100000000000001-0", "j", "z"]),
            ev("xtrim", &["XTRIM", "s", "MINID", "=", "100000000000001-0"]),
            ev("xtrim", &["XTRIM", "s", "MAXLEN", "=", "0"]),
            ev(
                "xsetid",
                &["XSETID", "s", "200000000000000-0", "ENTRIESADDED", "50"]
            ),
        ]
    );
    // Replaying the records on another key yields the same stream.
    let before = range_all(&mut c, "s");
    for (_, args) in &got {
        let mut a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        a[1] = "replay";
        let _: Value = qv(&mut c, &a);
    }
    assert_eq!(range_all(&mut c, "replay"), before);
    assert_eq!(
        q::<String>(&mut c, &["XADD", "replay", "*", "f", "v"]),
        "200000000000000-1"
    );
}

#[test]
fn xread_block_answers_at_once_when_data_is_there_and_times_out_otherwise() {
    let srv = Server::start();
    let mut r = srv.raw();
    let wire = |r: &mut common::Raw, args: &[&str]| -> String {
        r.send_cmd(args);
        r.read_wire()
    };
    assert_eq!(
        wire(&mut r, &["XADD", "s", "1-1", "f", "v"]),
        "$3\r\n1-1\r\n"
    );
    assert_eq!(
        wire(&mut r, &["XREAD", "BLOCK", "0", "STREAMS", "s", "0"]),
        "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
    // Waiting (woken by XADD, CLIENT UNBLOCK, ...) is covered in tests/stream_groups.rs.
    assert_eq!(
        wire(&mut r, &["XREAD", "BLOCK", "10", "STREAMS", "s", "$"]),
        "*-1\r\n"
    );
}

/// Runs a space-separated command line.
fn line(c: &mut redis::Connection, l: &str) -> Value {
    qv(c, &l.split(' ').collect::<Vec<_>>())
}

#[test]
fn group_writes_record_their_resulting_state() {
    if !eddy_only("group_writes_record_their_resulting_state") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    line(&mut c, "XADD s 1-1 f v");
    line(&mut c, "XADD s 2-1 f v");
    let from = next_offset(&mut c);
    let before = now_ms();
    for l in [
        "XGROUP CREATE s g 0",
        "XREADGROUP GROUP g c COUNT 1 STREAMS s >",
        "XREADGROUP GROUP g c NOACK STREAMS s >",
        // Nothing new: nothing recorded.
        "XREADGROUP GROUP g c STREAMS s >",
        "XCLAIM s g d 0 1-1 RETRYCOUNT 5 LASTID 9-9",
        "XACK s g 1-1 2-1",
        "XGROUP DESTROY s g",
    ] {
        line(&mut c, l);
    }
    let after = now_ms();
    // Delivery times are the server's clock when it delivered: checked, then masked.
    let got: Vec<(String, String)> = changes_from(&mut c, from)
        .into_iter()
        .map(|(e, mut args)| {
            if let Some(i) = args.iter().position(|a| a == "TIME") {
                let t: i64 = args[i + 1].parse().expect("TIME ms");
                assert!(
                    (before..=after).contains(&t),
                    "{t} not in {before}..{after}"
                );
                args[i + 1] = "T".into();
            }
            (e, args.join(" "))
        })
        .collect();
    let want = [
        ("xgroup-create", "XGROUP CREATE s g 0-0 ENTRIESREAD -1"),
        ("xgroup-createconsumer", "XGROUP CREATECONSUMER s g c"),
        ("xreadgroup", "XGROUP SETID s g 1-1 ENTRIESREAD 1"),
        (
            "xreadgroup",
            "XCLAIM s g c 0 1-1 TIME T RETRYCOUNT 1 FORCE JUSTID",
        ),
        ("xreadgroup", "XGROUP SETID s g 2-1 ENTRIESREAD 2"),
        ("xclaim", "XGROUP SETID s g 9-9 ENTRIESREAD 2"),
        ("xgroup-createconsumer", "XGROUP CREATECONSUMER s g d"),
        (
            "xclaim",
            "XCLAIM s g d 0 1-1 TIME T RETRYCOUNT 5 FORCE JUSTID",
        ),
        ("xack", "XACK s g 1-1"),
        ("xgroup-destroy", "XGROUP DESTROY s g"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(e, a)| (e.to_string(), a.to_string()))
        .collect();
    assert_eq!(got, want);
}

/// `~` trimming follows the nodes Redis would have built, so the lengths it leaves are Redis's:
/// after exact trims leave a node part-deleted, with `stream-node-max-entries` changed, under a
/// LIMIT, and after XDEL empties a node (the cases of Redis's own stream tests).
#[test]
fn approximate_trimming_leaves_the_lengths_redis_leaves() {
    let srv = Server::start();
    let mut c = srv.conn();
    let xlen = |c: &mut redis::Connection| q::<i64>(c, &["XLEN", "s"]);
    for j in 0..1000 {
        let _: String = q(&mut c, &["XADD", "s", "*", "item", &j.to_string()]);
    }
    for (how, n, left) in [
        ("=", "666", 666),
        ("=", "555", 555),
        ("~", "444", 500),
        ("~", "400", 400),
    ] {
        let _: i64 = q(&mut c, &["XTRIM", "s", "MAXLEN", how, n]);
        assert_eq!(xlen(&mut c), left, "MAXLEN {how} {n}");
    }

    q::<()>(&mut c, &["DEL", "s"]);
    q::<()>(&mut c, &["CONFIG", "SET", "stream-node-max-entries", "10"]);
    for _ in 0..100 {
        let _: String = q(&mut c, &["XADD", "s", "*", "item", "v"]);
    }
    for left in [71, 62] {
        let add = [
            "XADD", "s", "MAXLEN", "~", "55", "LIMIT", "30", "*", "item", "v",
        ];
        let _: String = q(&mut c, &add);
        assert_eq!(xlen(&mut c), left);
    }
    let info = qv(&mut c, &["XINFO", "STREAM", "s"]);
    assert_eq!(
        vget(&info, "radix-tree-keys"),
        Some(Value::Int(7)),
        "{info:?}"
    );

    q::<()>(&mut c, &["DEL", "s"]);
    q::<()>(&mut c, &["CONFIG", "SET", "stream-node-max-entries", "2"]);
    let ids: Vec<String> = (0..3)
        .map(|_| q(&mut c, &["XADD", "s", "*", "item", "v"]))
        .collect();
    let trim = |c: &mut redis::Connection, limit: &str| -> i64 {
        q(c, &["XTRIM", "s", "MAXLEN", "~", "0", "LIMIT", limit])
    };
    assert_eq!(trim(&mut c, "1"), 0);
    assert_eq!(trim(&mut c, "2"), 2);
    // XDEL of a node's last live entry frees the node: nothing is left to trim.
    assert_eq!(q::<i64>(&mut c, &["XDEL", "s", &ids[2]]), 1);
    assert_eq!(trim(&mut c, "0"), 0);
    q::<()>(&mut c, &["CONFIG", "SET", "stream-node-max-entries", "100"]);
}
