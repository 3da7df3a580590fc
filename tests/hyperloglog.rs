//! HyperLogLog commands through the `redis` crate: counts and bytes identical to Redis 7's for the
//! same inputs (the expected values were taken from redis-server 7.0.15), multi-key PFCOUNT,
//! PFMERGE, Redis's error strings for non-HLL and corrupt values, HLL bytes made by Redis,
//! persistence of the exact bytes across a restart, and the debugging commands PFDEBUG and
//! PFSELFTEST.

mod common;

use std::time::Duration;

use common::{q, qerr, Server, TempDir};

/// PFADD of "from".."to" in batches of 1000.
fn add_range(c: &mut redis::Connection, key: &str, from: u32, to: u32) {
    let all: Vec<String> = (from..=to).map(|i| i.to_string()).collect();
    for chunk in all.chunks(1000) {
        let mut cmd = redis::cmd("PFADD");
        cmd.arg(key);
        for e in chunk {
            cmd.arg(e);
        }
        let _: i64 = cmd.query(c).expect("PFADD");
    }
}

fn get_bytes(c: &mut redis::Connection, key: &str) -> Vec<u8> {
    q(c, &["GET", key])
}

fn set_bytes(c: &mut redis::Connection, key: &str, val: &[u8]) {
    let _: () = redis::cmd("SET").arg(key).arg(val).query(c).expect("SET");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn pfcount_after_adding_1_to_n_is_what_redis_counts() {
    let srv = Server::start();
    let mut c = srv.conn();
    // (N, PFCOUNT, STRLEN): sparse up to 1000, dense beyond.
    for (n, count, len) in [
        (1, 1, 21),
        (100, 100, 287),
        (1000, 1001, 1922),
        (20000, 19891, 12304),
        (100000, 99562, 12304),
    ] {
        let k = format!("h{n}");
        add_range(&mut c, &k, 1, n);
        assert_eq!(q::<i64>(&mut c, &["STRLEN", &k]), len, "n = {n}");
        assert_eq!(q::<i64>(&mut c, &["PFCOUNT", &k]), count, "n = {n}");
        assert_eq!(q::<String>(&mut c, &["TYPE", &k]), "string");
    }
}

#[test]
fn pfadd_bytes_are_redis_bytes() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(q::<i64>(&mut c, &["PFADD", "r", "a", "b", "c"]), 1);
    // Sparse, cache invalid, three VAL opcodes between zero runs.
    let redis = hex("48594c4c01000000000000000000008060f38050b1844bfb80425a");
    assert_eq!(get_bytes(&mut c, "r"), redis);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "r"]), 3);
    // PFCOUNT stored the cardinality in the header.
    let cached = hex("48594c4c01000000030000000000000060f38050b1844bfb80425a");
    assert_eq!(get_bytes(&mut c, "r"), cached);
}

#[test]
fn pfadd_reports_whether_a_register_changed() {
    let srv = Server::start();
    let mut c = srv.conn();
    // Creating the key counts as a change, even with no element.
    assert_eq!(q::<i64>(&mut c, &["PFADD", "z"]), 1);
    assert_eq!(q::<i64>(&mut c, &["PFADD", "z"]), 0);
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "z"]), 18);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "z"]), 0);
    assert_eq!(q::<i64>(&mut c, &["PFADD", "z", "x", "y"]), 1);
    assert_eq!(q::<i64>(&mut c, &["PFADD", "z", "x", "y", "x"]), 0);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "z"]), 2);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "missing"]), 0);
}

#[test]
fn pfadd_invalidates_the_cached_cardinality() {
    let srv = Server::start();
    let mut c = srv.conn();
    add_range(&mut c, "h", 1, 10);
    assert_eq!(get_bytes(&mut c, "h")[15] & 0x80, 0x80);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "h"]), 10);
    let b = get_bytes(&mut c, "h");
    assert_eq!(&b[8..16], &[10, 0, 0, 0, 0, 0, 0, 0]);
    add_range(&mut c, "h", 11, 20);
    assert_eq!(get_bytes(&mut c, "h")[15] & 0x80, 0x80);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "h"]), 20);
}

#[test]
fn pfcount_of_several_keys_counts_the_union_and_caches_nothing() {
    let srv = Server::start();
    let mut c = srv.conn();
    add_range(&mut c, "a", 1, 100);
    add_range(&mut c, "b", 50, 150);
    let (a, b) = (get_bytes(&mut c, "a"), get_bytes(&mut c, "b"));
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "a", "b"]), 151);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "a", "b", "nosuch"]), 151);
    assert_eq!(get_bytes(&mut c, "a"), a);
    assert_eq!(get_bytes(&mut c, "b"), b);
    // Sparse and dense together.
    add_range(&mut c, "d", 1, 5000);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "d"]), 4985);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "a", "d"]), 4985);
}

#[test]
fn pfmerge_creates_the_union_dense_if_any_input_is() {
    let srv = Server::start();
    let mut c = srv.conn();
    add_range(&mut c, "a", 1, 100);
    add_range(&mut c, "b", 50, 150);
    assert_eq!(q::<String>(&mut c, &["PFMERGE", "m", "a", "b"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "m"]), 151);
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "m"]), 401);
    add_range(&mut c, "d", 1, 5000);
    assert_eq!(q::<String>(&mut c, &["PFMERGE", "md", "a", "d"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "md"]), 12304);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "md"]), 4985);
    // The destination is also a source.
    assert_eq!(q::<String>(&mut c, &["PFMERGE", "b", "a"]), "OK");
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "b"]), 151);
    // With no source: an empty HLL.
    assert_eq!(q::<String>(&mut c, &["PFMERGE", "e"]), "OK");
    assert_eq!(
        get_bytes(&mut c, "e"),
        hex("48594c4c0100000000000000000000807fff")
    );
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "e"]), 0);
}

#[test]
fn pfmerge_keeps_the_destination_ttl() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(q::<i64>(&mut c, &["PFADD", "d", "x"]), 1);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "d", "100"]), 1);
    assert_eq!(q::<i64>(&mut c, &["PFADD", "s", "y"]), 1);
    assert_eq!(q::<String>(&mut c, &["PFMERGE", "d", "s"]), "OK");
    assert!(q::<i64>(&mut c, &["TTL", "d"]) > 0);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "d"]), 2);
}

#[test]
fn non_hll_values_and_corrupt_hlls_get_redis_errors() {
    let srv = Server::start();
    let mut c = srv.conn();
    const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
    const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";
    let _: () = q(&mut c, &["SET", "s", "hello"]);
    assert_eq!(qerr(&mut c, &["PFADD", "s", "a"]), NOT_HLL);
    assert_eq!(qerr(&mut c, &["PFCOUNT", "s"]), NOT_HLL);
    assert_eq!(qerr(&mut c, &["PFCOUNT", "s", "t"]), NOT_HLL);
    assert_eq!(qerr(&mut c, &["PFMERGE", "d", "s"]), NOT_HLL);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "d"]), 0);
    let _: i64 = q(&mut c, &["RPUSH", "l", "a"]);
    assert_eq!(
        qerr(&mut c, &["PFADD", "l", "a"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    // Sparse opcodes covering a single register, cache invalid.
    set_bytes(&mut c, "bad", &hex("48594c4c0100000000000000000000800000"));
    assert_eq!(qerr(&mut c, &["PFCOUNT", "bad"]), CORRUPT);
    assert_eq!(qerr(&mut c, &["PFADD", "bad", "x", "y", "z"]), CORRUPT);
    assert_eq!(qerr(&mut c, &["PFMERGE", "d", "bad"]), CORRUPT);
    assert_eq!(qerr(&mut c, &["PFCOUNT", "bad", "nosuch"]), CORRUPT);
    // Dense of the wrong length, and an unknown encoding, are not HLLs at all.
    set_bytes(&mut c, "bad2", &hex("48594c4c0000000000000000000000800000"));
    assert_eq!(qerr(&mut c, &["PFCOUNT", "bad2"]), NOT_HLL);
    set_bytes(&mut c, "bad3", &hex("48594c4c0200000000000000000000807fff"));
    assert_eq!(qerr(&mut c, &["PFADD", "bad3", "a"]), NOT_HLL);
    // Arity.
    assert_eq!(
        qerr(&mut c, &["PFCOUNT"]),
        "ERR wrong number of arguments for 'pfcount' command"
    );
}

#[test]
fn an_hll_made_by_redis_counts_the_same() {
    let srv = Server::start();
    let mut c = srv.conn();
    // Redis 7.0.15: PFADD r2 1 2 3 4 5 6 7 8 9 10, then GET r2.
    let redis = hex(
        "48594c4c01000000000000000000008041ee844823805351804ce0804092804c3f8042d78042128c40b88015844322",
    );
    set_bytes(&mut c, "r2", &redis);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "r2"]), 10);
    let mut cached = redis.clone();
    cached[8] = 10;
    cached[15] = 0;
    assert_eq!(get_bytes(&mut c, "r2"), cached);
    // And it keeps growing as Redis's would.
    add_range(&mut c, "mine", 1, 10);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "mine"]), 10);
    assert_eq!(get_bytes(&mut c, "mine"), cached);
}

/// SHUTDOWN NOSAVE, then wait for the exit.
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

#[test]
fn hlls_survive_a_restart_byte_identical() {
    // The append-only file is the only copy (Eddy's log; Redis's AOF in reference mode).
    let args = ["--appendonly", "yes"];
    let srv = Server::start_with(&args);
    let mut c = srv.conn();
    add_range(&mut c, "sparse", 1, 500);
    add_range(&mut c, "dense", 1, 5000);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "sparse"]), 503);
    assert_eq!(
        q::<String>(&mut c, &["PFMERGE", "m", "sparse", "dense"]),
        "OK"
    );
    add_range(&mut c, "uncached", 1, 50);
    let keys = ["sparse", "dense", "m", "uncached"];
    let before: Vec<Vec<u8>> = keys.iter().map(|k| get_bytes(&mut c, k)).collect();
    drop(c);
    let srv = Server::start_in(stop_nosave(srv), &args);
    let mut c = srv.conn();
    for (k, b) in keys.iter().zip(&before) {
        assert!(get_bytes(&mut c, k) == *b, "{k} changed across the restart");
    }
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "m"]), 4985);
}

/// (event, args) of every change recorded from offset `from` on.
fn changes_from(c: &mut redis::Connection, from: i64) -> Vec<(String, Vec<Vec<u8>>)> {
    let v = common::qv(c, &["CHANGES", "READ", &from.to_string()]);
    let redis::Value::Array(items) = v else {
        panic!("CHANGES READ must reply with an array, got {v:?}");
    };
    items
        .iter()
        .map(|e| {
            let event = common::vget(e, "event")
                .as_ref()
                .and_then(common::vstr)
                .expect("event");
            let args = match common::vget(e, "args") {
                Some(redis::Value::Array(a)) => a
                    .into_iter()
                    .map(|x| match x {
                        redis::Value::BulkString(b) => b,
                        other => panic!("args items must be bulk strings: {other:?}"),
                    })
                    .collect(),
                other => panic!("args must be an array: {other:?}"),
            };
            (event, args)
        })
        .collect()
}

fn next_offset(c: &mut redis::Connection) -> i64 {
    let v = common::qv(c, &["CHANGES", "INFO"]);
    match common::vget(&v, "last-offset") {
        Some(redis::Value::Int(i)) => i + 1,
        other => panic!("last-offset: {other:?}"),
    }
}

#[test]
fn changes_record_pfadd_pfcount_cache_writes_and_pfmerge_results() {
    if !common::eddy_only("changes_record_pfadd_pfcount_cache_writes_and_pfmerge_results") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let from = next_offset(&mut c);
    assert_eq!(q::<i64>(&mut c, &["PFADD", "h", "a", "b"]), 1);
    assert_eq!(q::<i64>(&mut c, &["PFADD", "h", "a"]), 0);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "h"]), 2);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "h"]), 2);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "h", "g"]), 2);
    assert_eq!(q::<String>(&mut c, &["PFMERGE", "m", "h"]), "OK");
    let merged = get_bytes(&mut c, "m");
    let b = |s: &str| s.as_bytes().to_vec();
    assert_eq!(
        changes_from(&mut c, from),
        vec![
            (
                "pfadd".to_string(),
                vec![b("PFADD"), b("h"), b("a"), b("b")]
            ),
            ("pfcount".to_string(), vec![b("PFCOUNT"), b("h")]),
            ("pfadd".to_string(), vec![b("SET"), b("m"), merged]),
        ]
    );
}

#[test]
fn pfdebug_shows_and_converts_an_hll_as_redis_does() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(q::<i64>(&mut c, &["PFADD", "h", "a", "b", "c"]), 1);
    assert_eq!(q::<String>(&mut c, &["PFDEBUG", "ENCODING", "h"]), "sparse");
    // The opcodes Redis prints for these three elements: each lands in its own register.
    assert_eq!(
        q::<String>(&mut c, &["PFDEBUG", "DECODE", "h"]),
        "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603"
    );
    let sparse_count = q::<i64>(&mut c, &["PFCOUNT", "h"]);
    // GETREG shows the registers, converting the value to dense as Redis does.
    let regs: Vec<i64> = q(&mut c, &["PFDEBUG", "GETREG", "h"]);
    assert_eq!(regs.len(), 16384);
    let set: Vec<(usize, i64)> = regs
        .iter()
        .enumerate()
        .filter(|(_, &v)| v != 0)
        .map(|(i, &v)| (i, v))
        .collect();
    assert_eq!(set, vec![(8436, 1), (12711, 2), (15780, 1)]);
    assert_eq!(q::<String>(&mut c, &["PFDEBUG", "encoding", "h"]), "dense");
    assert_eq!(q::<i64>(&mut c, &["STRLEN", "h"]), 12304);
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "h"]), sparse_count);
    assert_eq!(
        qerr(&mut c, &["PFDEBUG", "DECODE", "h"]),
        "ERR HLL encoding is not sparse"
    );
    assert_eq!(q::<i64>(&mut c, &["PFDEBUG", "TODENSE", "h"]), 0);
    assert_eq!(q::<i64>(&mut c, &["PFADD", "h2", "x"]), 1);
    assert_eq!(q::<i64>(&mut c, &["PFDEBUG", "TODENSE", "h2"]), 1);
    assert_eq!(q::<String>(&mut c, &["PFDEBUG", "ENCODING", "h2"]), "dense");
    assert_eq!(q::<i64>(&mut c, &["PFCOUNT", "h2"]), 1);

    // The key is looked up before the subcommand is read.
    assert_eq!(
        qerr(&mut c, &["PFDEBUG", "ENCODING", "missing"]),
        "ERR The specified key does not exist"
    );
    assert_eq!(
        qerr(&mut c, &["PFDEBUG", "nope", "missing"]),
        "ERR The specified key does not exist"
    );
    assert_eq!(
        qerr(&mut c, &["PFDEBUG", "nope", "h"]),
        "ERR Unknown PFDEBUG subcommand 'nope'"
    );
    q::<()>(&mut c, &["SET", "s", "not an hll"]);
    assert_eq!(
        qerr(&mut c, &["PFDEBUG", "ENCODING", "s"]),
        "WRONGTYPE Key is not a valid HyperLogLog string value."
    );
    q::<i64>(&mut c, &["RPUSH", "l", "x"]);
    assert_eq!(
        qerr(&mut c, &["PFDEBUG", "ENCODING", "l"]),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    // A sparse value whose opcodes cover too few registers: DECODE shows them, converting it
    // is refused.
    set_bytes(&mut c, "bad", &hex("48594c4c0100000000000000000000807f"));
    assert_eq!(
        q::<String>(&mut c, &["PFDEBUG", "DECODE", "bad"]),
        "Z:16129"
    );
    for sub in ["TODENSE", "GETREG"] {
        assert_eq!(
            qerr(&mut c, &["PFDEBUG", sub, "bad"]),
            "INVALIDOBJ Corrupted HLL object detected"
        );
    }
    assert_eq!(
        q::<String>(&mut c, &["PFDEBUG", "ENCODING", "bad"]),
        "sparse"
    );
}

#[test]
fn pfselftest_passes() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(q::<String>(&mut c, &["PFSELFTEST"]), "OK");
    assert_eq!(
        qerr(&mut c, &["PFSELFTEST", "extra"]),
        "ERR wrong number of arguments for 'pfselftest' command"
    );
}

#[test]
fn a_pfdebug_conversion_is_recorded_and_survives_a_restart() {
    if !common::eddy_only("a_pfdebug_conversion_is_recorded_and_survives_a_restart") {
        return;
    }
    let args = ["--appendonly", "yes"];
    let srv = Server::start_with(&args);
    let mut c = srv.conn();
    let from = next_offset(&mut c);
    assert_eq!(q::<i64>(&mut c, &["PFADD", "h", "a"]), 1);
    assert_eq!(q::<i64>(&mut c, &["PFDEBUG", "TODENSE", "h"]), 1);
    // GETREG of a dense value changes nothing, so it records nothing.
    let regs: Vec<i64> = q(&mut c, &["PFDEBUG", "GETREG", "h"]);
    assert_eq!(regs.iter().filter(|&&v| v != 0).count(), 1);
    assert_eq!(q::<i64>(&mut c, &["PFADD", "g", "a"]), 1);
    let _: Vec<i64> = q(&mut c, &["PFDEBUG", "GETREG", "g"]);
    let b = |s: &str| s.as_bytes().to_vec();
    assert_eq!(
        changes_from(&mut c, from),
        vec![
            ("pfadd".to_string(), vec![b("PFADD"), b("h"), b("a")]),
            (
                "pfdebug".to_string(),
                vec![b("PFDEBUG"), b("TODENSE"), b("h")]
            ),
            ("pfadd".to_string(), vec![b("PFADD"), b("g"), b("a")]),
            (
                "pfdebug".to_string(),
                vec![b("PFDEBUG"), b("TODENSE"), b("g")]
            ),
        ]
    );
    let before: Vec<Vec<u8>> = ["h", "g"].iter().map(|k| get_bytes(&mut c, k)).collect();
    assert_eq!(before[0].len(), 12304);
    drop(c);
    let srv = Server::start_in(stop_nosave(srv), &args);
    let mut c = srv.conn();
    for (k, b) in ["h", "g"].iter().zip(&before) {
        assert!(get_bytes(&mut c, k) == *b, "{k} changed across the restart");
    }
}
