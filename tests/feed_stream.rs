//! The change feed read as a stream (`__changes__`) with the `redis` crate's own stream API, as
//! a consumer written for Redis streams would: entry ids map to log offsets, fields carry the
//! event, blocking XREAD is woken by writes, paging by last id has no gap, and writes to the key
//! are refused while the connection carries on.
//!
//! Eddy-only: in reference mode every test returns early.

mod common;

use common::{eddy_only, q, qerr, qv, Server};
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{Commands, Value};

const FEED: &str = "__changes__";

fn field(e: &StreamId, f: &str) -> String {
    match e.map.get(f) {
        Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("field {f}: {other:?}"),
    }
}

fn args(e: &StreamId) -> serde_json::Value {
    serde_json::from_str(&field(e, "args")).expect("args is JSON")
}

/// Waits until INFO counts one blocked client (the reader under test is waiting).
fn wait_blocked(c: &mut redis::Connection) {
    assert!(common::poll_until(
        std::time::Duration::from_secs(10),
        || {
            let info: String = redis::cmd("INFO").arg("clients").query(c).unwrap();
            info.contains("blocked_clients:1")
        }
    ));
}

/// The offsets `CHANGES READ` reports, for comparison with the stream ids.
fn offsets(c: &mut redis::Connection) -> Vec<String> {
    match qv(c, &["CHANGES", "READ", "earliest", "COUNT", "0"]) {
        Value::Array(evs) => evs
            .iter()
            .map(|e| match common::vget(e, "offset") {
                Some(Value::Int(o)) => format!("{o}-0"),
                other => panic!("offset: {other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn xrange_lists_every_change_with_its_offset_as_id() {
    if !eddy_only("xrange_lists_every_change_with_its_offset_as_id") {
        return;
    }
    let s = Server::start();
    let mut c = s.conn();
    let _: () = c.set("a", "1").unwrap();
    let _: () = c.hset("h", "f", "v").unwrap();
    let _: () = c.del("a").unwrap();
    let r: StreamRangeReply = c.xrange_all(FEED).unwrap();
    let ids: Vec<String> = r.ids.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids, offsets(&mut c));
    assert_eq!(r.ids.len(), 3);
    let e = &r.ids[1];
    assert_eq!(field(e, "key"), "h");
    assert_eq!(field(e, "event"), "hset");
    assert_eq!(field(e, "type"), "hash");
    assert_eq!(field(e, "change"), "insert");
    assert_eq!(field(e, "offset") + "-0", e.id);
    assert_eq!(args(e), serde_json::json!(["HSET", "h", "f", "v"]));
    assert_eq!(field(&r.ids[2], "event"), "del");
    assert_eq!(field(&r.ids[2], "type"), "none");

    let len: usize = c.xlen(FEED).unwrap();
    assert_eq!(len, 3);
    let rev: StreamRangeReply = c.xrevrange_count(FEED, "+", "-", 2).unwrap();
    let rev_ids: Vec<&str> = rev.ids.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(rev_ids, vec![ids[2].as_str(), ids[1].as_str()]);
    // Exclusive and partial bounds follow the stream rules on `<offset>-0` ids.
    let mid: StreamRangeReply = c.xrange(FEED, format!("({}", ids[0]), "+").unwrap();
    assert_eq!(mid.ids.len(), 2);
}

#[test]
fn paging_by_last_id_has_no_gap_and_no_repeat() {
    if !eddy_only("paging_by_last_id_has_no_gap_and_no_repeat") {
        return;
    }
    let s = Server::start();
    let mut c = s.conn();
    for i in 0..25 {
        let _: () = c.set(format!("k{i}"), i).unwrap();
    }
    let mut last = "0".to_string();
    let mut seen = Vec::new();
    loop {
        let opts = StreamReadOptions::default().count(4);
        let r: Option<StreamReadReply> = c.xread_options(&[FEED], &[&last], &opts).unwrap();
        let Some(r) = r else { break };
        let entries = &r.keys[0].ids;
        assert!(!entries.is_empty() && entries.len() <= 4);
        for e in entries {
            seen.push(field(e, "key"));
            last = e.id.clone();
        }
    }
    let want: Vec<String> = (0..25).map(|i| format!("k{i}")).collect();
    assert_eq!(seen, want);
}

#[test]
fn blocking_xread_is_woken_by_a_write_on_another_connection() {
    if !eddy_only("blocking_xread_is_woken_by_a_write_on_another_connection") {
        return;
    }
    let s = Server::start();
    let mut c = s.conn();
    let _: () = c.set("before", "x").unwrap();
    let port_url = s.url();
    let reader = std::thread::spawn(move || {
        let mut r = redis::Client::open(port_url)
            .unwrap()
            .get_connection()
            .unwrap();
        let opts = StreamReadOptions::default().block(0);
        let reply: Option<StreamReadReply> = r.xread_options(&[FEED], &["$"], &opts).unwrap();
        reply.expect("woken with entries")
    });
    wait_blocked(&mut c);
    let _: () = c.set("after", "y").unwrap();
    let reply = reader.join().unwrap();
    assert_eq!(reply.keys.len(), 1);
    assert_eq!(reply.keys[0].key, FEED);
    let keys: Vec<String> = reply.keys[0].ids.iter().map(|e| field(e, "key")).collect();
    assert_eq!(keys, vec!["after"]);

    // A timeout is a null reply.
    let opts = StreamReadOptions::default().block(50);
    let none: Option<StreamReadReply> = c.xread_options(&[FEED], &["$"], &opts).unwrap();
    assert!(none.is_none());
}

#[test]
fn writes_to_the_feed_key_are_refused_and_the_connection_carries_on() {
    if !eddy_only("writes_to_the_feed_key_are_refused_and_the_connection_carries_on") {
        return;
    }
    let s = Server::start();
    let mut c = s.conn();
    let _: () = c.set("x", "1").unwrap();
    for cmd in [
        vec!["XADD", FEED, "*", "f", "v"],
        vec!["XDEL", FEED, "1-0"],
        vec!["XTRIM", FEED, "MAXLEN", "0"],
        vec!["XSETID", FEED, "99-0"],
        vec!["SET", FEED, "v"],
        vec!["DEL", FEED],
        vec!["RENAME", "x", FEED],
        vec!["LPUSH", FEED, "v"],
    ] {
        let e = qerr(&mut c, &cmd);
        assert!(e.contains("read-only"), "{cmd:?}: {e}");
    }
    // Nothing was written: only the first SET is in the feed, and `x` is still there.
    let len: usize = c.xlen(FEED).unwrap();
    assert_eq!(len, 1);
    assert_eq!(q::<String>(&mut c, &["GET", "x"]), "1");
    // A value equal to the name is not a key.
    let _: () = c.set("y", FEED).unwrap();
    let e = qerr(&mut c, &["XREAD", "STREAMS", FEED, "other", "0", "0"]);
    assert!(e.contains("only key"), "{e}");
}

#[test]
fn binary_arguments_are_base64_in_the_args_field() {
    if !eddy_only("binary_arguments_are_base64_in_the_args_field") {
        return;
    }
    let s = Server::start();
    let mut c = s.conn();
    let _: () = c.set(&b"bin\xff"[..], &b"\x00\x01"[..]).unwrap();
    let r: StreamRangeReply = c.xrange_all(FEED).unwrap();
    let a = args(&r.ids[0]);
    assert_eq!(a[0], "SET");
    assert_eq!(a[1], serde_json::json!({"base64": "Ymlu/w=="}));
    assert_eq!(a[2], "\u{0}\u{1}");
    match r.ids[0].map.get("key") {
        Some(Value::BulkString(k)) => assert_eq!(k, b"bin\xff"),
        other => panic!("{other:?}"),
    }
}

/// A Redis stream worker loop (XGROUP CREATE, XREADGROUP `>`, XACK) written against the `redis`
/// crate's stream API consumes the change feed; the group is a change-feed group.
#[test]
fn a_redis_stream_worker_consumes_the_change_feed_through_a_group() {
    if !eddy_only("a_redis_stream_worker_consumes_the_change_feed_through_a_group") {
        return;
    }
    let s = Server::start();
    let mut c = s.conn();
    let _: () = c.set("before", "not seen").unwrap();
    let _: () = c.xgroup_create(FEED, "workers", "$").unwrap();
    for i in 0..30 {
        let _: () = c.set(format!("job:{i}"), i).unwrap();
    }
    let mut w = s.conn();
    let mut done = Vec::new();
    loop {
        let opts = StreamReadOptions::default().group("workers", "w1").count(7);
        let r: Option<StreamReadReply> = w.xread_options(&[FEED], &[">"], &opts).unwrap();
        let Some(r) = r else { break };
        let ids: Vec<String> = r.keys[0].ids.iter().map(|e| e.id.clone()).collect();
        for e in &r.keys[0].ids {
            done.push(field(e, "key"));
        }
        let acked: usize = w.xack(FEED, "workers", &ids).unwrap();
        assert_eq!(acked, ids.len());
    }
    let want: Vec<String> = (0..30).map(|i| format!("job:{i}")).collect();
    assert_eq!(done, want);
    // Nothing pending; the group is the change feed's own.
    let p: redis::streams::StreamPendingReply = c.xpending(FEED, "workers").unwrap();
    assert_eq!(p.count(), 0);
    let groups = format!("{:?}", qv(&mut c, &["CHANGES", "GROUP", "LIST"]));
    assert!(groups.contains("workers"), "{groups}");
    let info: redis::streams::StreamInfoGroupsReply = c.xinfo_groups(FEED).unwrap();
    assert_eq!(info.groups.len(), 1);
    assert_eq!(info.groups[0].name, "workers");
    assert_eq!(info.groups[0].pending, 0);
}

/// Consumer A reads and dies before acking; B claims A's entries once idle and acks them.
#[test]
fn a_crashed_consumers_changes_are_claimed_by_another() {
    if !eddy_only("a_crashed_consumers_changes_are_claimed_by_another") {
        return;
    }
    let s = Server::start();
    let mut c = s.conn();
    let _: () = c.xgroup_create(FEED, "g", "$").unwrap();
    for i in 0..5 {
        let _: () = c.set(format!("k{i}"), i).unwrap();
    }
    {
        let mut a = s.conn();
        let opts = StreamReadOptions::default().group("g", "A").count(3);
        let r: StreamReadReply = a.xread_options(&[FEED], &[">"], &opts).unwrap();
        assert_eq!(r.keys[0].ids.len(), 3);
    } // A is gone without acking.
    let p: redis::streams::StreamPendingReply = c.xpending(FEED, "g").unwrap();
    assert_eq!(p.count(), 3);
    // A's own history re-read shows its pending entries.
    let opts = StreamReadOptions::default().group("g", "A");
    let hist: StreamReadReply = c.xread_options(&[FEED], &["0"], &opts).unwrap();
    assert_eq!(hist.keys[0].ids.len(), 3);

    let r = qv(
        &mut c,
        &["XAUTOCLAIM", FEED, "g", "B", "0", "0-0", "COUNT", "10"],
    );
    let Value::Array(parts) = r else {
        panic!("{r:?}")
    };
    assert_eq!(parts[0], Value::BulkString(b"0-0".to_vec()));
    let Value::Array(claimed) = &parts[1] else {
        panic!("{parts:?}")
    };
    assert_eq!(claimed.len(), 3);
    let ext: redis::streams::StreamPendingCountReply =
        c.xpending_count(FEED, "g", "-", "+", 10).unwrap();
    // Delivered to A, re-read by A (a history read counts, as in Redis), claimed by B.
    assert!(ext
        .ids
        .iter()
        .all(|p| p.consumer == "B" && p.times_delivered == 3));
    let ids: Vec<String> = ext.ids.iter().map(|p| p.id.clone()).collect();
    let acked: usize = c.xack(FEED, "g", &ids).unwrap();
    assert_eq!(acked, 3);
    // The other two are still new for the group.
    let opts = StreamReadOptions::default().group("g", "B");
    let r: StreamReadReply = c.xread_options(&[FEED], &[">"], &opts).unwrap();
    assert_eq!(r.keys[0].ids.len(), 2);
    // Unknown groups get Redis's NOGROUP wording.
    let e = qerr(
        &mut c,
        &["XREADGROUP", "GROUP", "nope", "x", "STREAMS", FEED, ">"],
    );
    assert!(
        e.starts_with("NOGROUP No such key '__changes__' or consumer group 'nope'"),
        "{e}"
    );
}

#[test]
fn blocking_xreadgroup_is_woken_by_a_write() {
    if !eddy_only("blocking_xreadgroup_is_woken_by_a_write") {
        return;
    }
    let s = Server::start();
    let mut c = s.conn();
    let _: () = c.xgroup_create(FEED, "g", "$").unwrap();
    let url = s.url();
    let reader = std::thread::spawn(move || {
        let mut r = redis::Client::open(url).unwrap().get_connection().unwrap();
        let opts = StreamReadOptions::default()
            .group("g", "c")
            .block(0)
            .noack();
        let reply: Option<StreamReadReply> = r.xread_options(&[FEED], &[">"], &opts).unwrap();
        reply.expect("woken with entries")
    });
    wait_blocked(&mut c);
    let _: () = c.set("woke", "1").unwrap();
    let r = reader.join().unwrap();
    assert_eq!(field(&r.keys[0].ids[0], "key"), "woke");
    // NOACK: nothing pending.
    let p: redis::streams::StreamPendingReply = c.xpending(FEED, "g").unwrap();
    assert_eq!(p.count(), 0);
}
