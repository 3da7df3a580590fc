//! Consuming the change feed over RESP: start positions, blocking reads, filters, push
//! subscriptions (RESP2 and RESP3) and resume, consumer groups (ack, pending, claim, dead
//! letters, restart), snapshot-then-tail, images, reader lag in INFO, and a slow subscriber.
//!
//! These are Eddy-only commands: in reference mode every test returns early.

mod common;

use common::{
    eddy_only, info_int, poll_until, q, qerr, qv, vget, vpairs, vstr, Resp, Rng, Server, TempDir,
};
use redis::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// The fields tests look at, from a redis::Value event (map or flat array).
#[derive(Debug, Clone, PartialEq)]
struct Ev {
    offset: i64,
    db: i64,
    key: String,
    typ: String,
    event: String,
    args: Vec<String>,
    new: Option<Value>,
    old: Option<Value>,
}

fn ev_of(v: &Value) -> Ev {
    let int = |f: &str| match vget(v, f) {
        Some(Value::Int(i)) => i,
        other => panic!("{f}: {other:?}"),
    };
    let s = |f: &str| vget(v, f).as_ref().and_then(vstr).unwrap_or_default();
    let args = match vget(v, "args") {
        Some(Value::Array(a)) => a.iter().filter_map(vstr).collect(),
        other => panic!("args: {other:?}"),
    };
    Ev {
        offset: int("offset"),
        db: int("db"),
        key: s("key"),
        typ: s("type"),
        event: s("event"),
        args,
        new: vget(v, "new"),
        old: vget(v, "old"),
    }
}

fn evs(v: Value) -> Vec<Ev> {
    match v {
        Value::Array(a) => a.iter().map(ev_of).collect(),
        other => panic!("expected an array of events, got {other:?}"),
    }
}

fn read(c: &mut redis::Connection, args: &[&str]) -> Vec<Ev> {
    let mut all = vec!["CHANGES", "READ"];
    all.extend_from_slice(args);
    evs(qv(c, &all))
}

fn last_offset(c: &mut redis::Connection) -> i64 {
    match vget(&qv(c, &["CHANGES", "INFO"]), "last-offset") {
        Some(Value::Int(i)) => i,
        other => panic!("{other:?}"),
    }
}

fn keys(e: &[Ev]) -> Vec<String> {
    e.iter().map(|e| e.key.clone()).collect()
}

/// Offset field of a raw event (map or flat array).
fn raw_offset(ev: &Resp) -> i64 {
    match ev.field("offset") {
        Some(Resp::Int(i)) => *i,
        other => panic!("offset: {other:?} in {ev:?}"),
    }
}

fn raw_key(ev: &Resp) -> String {
    ev.field("key").and_then(Resp::text).unwrap_or_default()
}

/// Reads one change push from a raw connection and returns its event.
fn next_push(r: &mut common::Raw, resp3: bool) -> Resp {
    push_event(r.read_reply(), resp3)
}

/// The event of a change push.
fn push_event(v: Resp, resp3: bool) -> Resp {
    match v {
        Resp::Push(items) if resp3 => {
            assert_eq!(items[0].text().as_deref(), Some("changes"), "{items:?}");
            assert!(matches!(items[1], Resp::Map(_)), "RESP3 events are maps");
            items[1].clone()
        }
        Resp::Array(items) if !resp3 => {
            assert_eq!(items.len(), 3, "{items:?}");
            assert_eq!(items[0].text().as_deref(), Some("message"));
            assert_eq!(items[1].text().as_deref(), Some("__changes__"));
            items[2].clone()
        }
        other => panic!("expected a change push (resp3={resp3}), got {other:?}"),
    }
}

fn hello3(r: &mut common::Raw) {
    let v = r.call(&["HELLO", "3"]);
    assert!(matches!(v, Resp::Map(_)), "{v:?}");
}

#[test]
fn start_positions_earliest_latest_at_after_and_time() {
    if !eddy_only("start_positions_earliest_latest_at_after_and_time") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "a", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    let t = common::now_ms();
    std::thread::sleep(Duration::from_millis(5));
    q::<()>(&mut c, &["SET", "b", "2"]);
    q::<()>(&mut c, &["SET", "c", "3"]);
    let last = last_offset(&mut c);
    assert_eq!(keys(&read(&mut c, &["earliest"])), ["a", "b", "c"]);
    assert!(read(&mut c, &["latest"]).is_empty());
    assert!(read(&mut c, &["$"]).is_empty());
    assert_eq!(keys(&read(&mut c, &[&last.to_string()])), ["c"]);
    assert_eq!(keys(&read(&mut c, &[&format!("({}", last - 1)])), ["c"]);
    assert_eq!(keys(&read(&mut c, &[&format!("@{t}")])), ["b", "c"]);
    assert!(read(&mut c, &[&format!("@{}", common::now_ms() + 60_000)]).is_empty());
    assert_eq!(keys(&read(&mut c, &["earliest", "COUNT", "2"])), ["a", "b"]);
    assert!(qerr(&mut c, &["CHANGES", "READ", "soon"]).starts_with("ERR invalid start"));
    assert_eq!(
        qerr(&mut c, &["CHANGES", "READ", "1", "COUNT", "-1"]),
        "ERR value is out of range, must be positive"
    );
    assert_eq!(
        qerr(&mut c, &["CHANGES", "READ", "1", "BLOCK", "x"]),
        "ERR timeout is not an integer or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["CHANGES", "READ", "1", "BLOCK", "-1"]),
        "ERR timeout is negative"
    );
    assert_eq!(
        qerr(&mut c, &["CHANGES", "READ", "1", "IMAGES", "all"]),
        "ERR IMAGES must be one of keys, new, old or both"
    );
    assert_eq!(
        qerr(&mut c, &["CHANGES", "READ", "1", "NOPE"]),
        "ERR syntax error"
    );
}

#[test]
fn a_cursor_older_than_the_log_gets_trimmed_naming_the_earliest_offset() {
    if !eddy_only("a_cursor_older_than_the_log_gets_trimmed_naming_the_earliest_offset") {
        return;
    }
    let srv = Server::start_with(&["--appendonly", "no", "--changes-memory-bytes", "1mb"]);
    let mut c = srv.conn();
    let big = "x".repeat(1000);
    let mut p = redis::pipe();
    for i in 0..4000 {
        p.cmd("SET").arg(format!("k{i}")).arg(&big).ignore();
    }
    p.query::<()>(&mut c).expect("pipeline");
    let first = match vget(&qv(&mut c, &["CHANGES", "INFO"]), "first-offset") {
        Some(Value::Int(i)) => i,
        other => panic!("{other:?}"),
    };
    assert!(first > 1, "the tail was trimmed");
    let e = qerr(&mut c, &["CHANGES", "READ", "1"]);
    assert!(e.starts_with("ERR TRIMMED"), "{e}");
    assert!(
        e.contains(&format!("earliest available offset is {first}")),
        "{e}"
    );
    let e = qerr(&mut c, &["CHANGES", "SUBSCRIBE", "1"]);
    assert!(e.starts_with("ERR TRIMMED"), "{e}");
    assert_eq!(read(&mut c, &["earliest", "COUNT", "1"])[0].offset, first);
}

#[test]
fn blocked_read_is_woken_by_a_write_from_another_client() {
    if !eddy_only("blocked_read_is_woken_by_a_write_from_another_client") {
        return;
    }
    let srv = Server::start();
    let mut w = srv.conn();
    for resp3 in [false, true] {
        let mut r = srv.raw();
        if resp3 {
            hello3(&mut r);
        }
        r.send_cmd(&["CHANGES", "READ", "latest", "BLOCK", "0", "MATCH", "wake*"]);
        // Not woken by a write the filter rejects.
        q::<()>(&mut w, &["SET", "other", "1"]);
        assert!(r.try_read_reply(Duration::from_millis(100)).is_none());
        q::<()>(&mut w, &["SET", "wakeup", "1"]);
        match r.read_reply() {
            Resp::Array(items) => {
                assert_eq!(items.len(), 1);
                assert_eq!(raw_key(&items[0]), "wakeup");
            }
            other => panic!("{other:?}"),
        }
        // The connection carries on normally.
        assert_eq!(r.call(&["PING"]), Resp::Simple("PONG".into()));
    }
}

#[test]
fn blocked_read_times_out_with_a_null_array() {
    if !eddy_only("blocked_read_times_out_with_a_null_array") {
        return;
    }
    let srv = Server::start();
    let mut r2 = srv.raw();
    let t0 = Instant::now();
    r2.send_cmd(&["CHANGES", "READ", "latest", "BLOCK", "100"]);
    assert_eq!(r2.read_wire(), "*-1\r\n");
    assert!(t0.elapsed() >= Duration::from_millis(100));
    let mut r3 = srv.raw();
    hello3(&mut r3);
    r3.send_cmd(&["CHANGES", "READ", "latest", "BLOCK", "50"]);
    assert_eq!(r3.read_wire(), "_\r\n");
    // Data already there: BLOCK returns at once.
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v"]);
    let e = read(&mut c, &["earliest", "BLOCK", "0"]);
    assert_eq!(keys(&e), ["k"]);
}

#[test]
fn client_unblock_ends_blocked_reads_as_redis_ends_blocked_pops() {
    if !eddy_only("client_unblock_ends_blocked_reads_as_redis_ends_blocked_pops") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    for (n, group) in [false, false, true, true].into_iter().enumerate() {
        let error = n % 2 == 1;
        let mut r = srv.raw();
        let id = match r.call(&["CLIENT", "ID"]) {
            Resp::Int(i) => i,
            other => panic!("{other:?}"),
        };
        let g = format!("g{n}");
        if group {
            // A new group at the log's end: nothing to deliver, so the read blocks.
            q::<()>(&mut c, &["CHANGES", "GROUP", "CREATE", &g, "latest"]);
            r.send_cmd(&["CHANGES", "GROUP", "READ", &g, "alice", "BLOCK", "0"]);
        } else {
            r.send_cmd(&["CHANGES", "READ", "latest", "BLOCK", "0"]);
        }
        assert!(poll_until(Duration::from_secs(5), || {
            let info: String = q(&mut c, &["INFO", "clients"]);
            info.contains("blocked_clients:1")
        }));
        let mut u = redis::cmd("CLIENT");
        u.arg("UNBLOCK").arg(id);
        if error {
            u.arg("ERROR");
        }
        assert_eq!(u.query::<i64>(&mut c).unwrap(), 1);
        let want = if error {
            "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
        } else {
            "*-1\r\n"
        };
        assert_eq!(r.read_wire(), want);
        assert_eq!(r.call(&["PING"]), Resp::Simple("PONG".into()));
        // The wait is over: a write now reaches nobody, and nothing is left blocked.
        q::<()>(&mut c, &["SET", "k", "v"]);
        assert!(r.try_read_reply(Duration::from_millis(100)).is_none());
        let info: String = q(&mut c, &["INFO", "clients"]);
        assert!(info.contains("blocked_clients:0"), "{info}");
    }
}

#[test]
fn filters_match_keys_events_types_and_databases() {
    if !eddy_only("filters_match_keys_events_types_and_databases") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "user:1", "a"]);
    q::<()>(&mut c, &["HSET", "user:2", "f", "v"]);
    q::<()>(&mut c, &["SET", "order:1", "b"]);
    q::<()>(&mut c, &["DEL", "user:1"]);
    q::<()>(&mut c, &["RENAME", "order:1", "user:9"]);
    q::<()>(&mut c, &["SELECT", "1"]);
    q::<()>(&mut c, &["SET", "user:3", "c"]);
    let e = read(&mut c, &["earliest", "MATCH", "user:*"]);
    assert_eq!(keys(&e), ["user:1", "user:2", "user:1", "user:9", "user:3"]);
    // The companion record of RENAME matches by its own key, with no args.
    assert_eq!(e[3].event, "rename_to");
    assert!(e[3].args.is_empty());
    let e = read(&mut c, &["earliest", "EVENTS", "hset,del"]);
    assert_eq!(keys(&e), ["user:2", "user:1"]);
    let e = read(&mut c, &["earliest", "TYPE", "hash"]);
    assert_eq!(keys(&e), ["user:2"]);
    let e = read(&mut c, &["earliest", "TYPE", "none", "MATCH", "user:*"]);
    assert_eq!(keys(&e), ["user:1"]);
    let e = read(&mut c, &["earliest", "DB", "1"]);
    assert_eq!(keys(&e), ["user:3"]);
    let e = read(
        &mut c,
        &["earliest", "DB", "0", "EVENTS", "set", "MATCH", "user:*"],
    );
    assert_eq!(keys(&e), ["user:1"]);
    let e = read(&mut c, &["earliest", "MATCH", "user:*", "COUNT", "2"]);
    assert_eq!(keys(&e), ["user:1", "user:2"]);
    assert_eq!(
        qerr(&mut c, &["CHANGES", "READ", "1", "TYPE", "blob"]),
        "ERR unknown type in TYPE filter: use string, list, set, zset, hash, stream or none"
    );
    assert_eq!(
        qerr(&mut c, &["CHANGES", "READ", "1", "DB", "99"]),
        "ERR DB index is out of range"
    );
    // Keyspace-wide events pass MATCH.
    q::<()>(&mut c, &["FLUSHALL"]);
    let e = read(
        &mut c,
        &["earliest", "MATCH", "user:*", "EVENTS", "flushall"],
    );
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].key, "");
}

#[test]
fn subscribe_pushes_events_in_resp3_and_resp2() {
    if !eddy_only("subscribe_pushes_events_in_resp3_and_resp2") {
        return;
    }
    let srv = Server::start();
    let mut w = srv.conn();
    for resp3 in [true, false] {
        let mut r = srv.raw();
        if resp3 {
            hello3(&mut r);
        }
        let from = last_offset(&mut w) + 1;
        match r.call(&["CHANGES", "SUBSCRIBE", "latest", "MATCH", "s:*"]) {
            Resp::Array(a) => {
                assert_eq!(a[0].text().as_deref(), Some("subscribe"));
                assert_eq!(a[1].text().as_deref(), Some("__changes__"));
                assert_eq!(a[2], Resp::Int(from));
            }
            other => panic!("{other:?}"),
        }
        q::<()>(&mut w, &["SET", "x", "1"]);
        q::<()>(&mut w, &["SET", "s:1", "1"]);
        q::<()>(&mut w, &["HSET", "s:2", "f", "v"]);
        let a = next_push(&mut r, resp3);
        assert_eq!(raw_key(&a), "s:1");
        let b = next_push(&mut r, resp3);
        assert_eq!(raw_key(&b), "s:2");
        assert_eq!(
            b.field("event").and_then(Resp::text).as_deref(),
            Some("hset")
        );
        assert_eq!(raw_offset(&b), raw_offset(&a) + 1);
        assert_eq!(r.call(&["CHANGES", "UNSUBSCRIBE"]), Resp::Int(1));
        q::<()>(&mut w, &["SET", "s:3", "1"]);
        assert!(r.try_read_reply(Duration::from_millis(100)).is_none());
        assert_eq!(r.call(&["CHANGES", "UNSUBSCRIBE"]), Resp::Int(0));
    }
}

/// UNSUBSCRIBE while the subscription's queue and the socket are full of backlog: once its
/// reply arrives, no push of the old subscription follows.
#[test]
fn nothing_is_pushed_after_the_unsubscribe_reply() {
    if !eddy_only("nothing_is_pushed_after_the_unsubscribe_reply") {
        return;
    }
    let srv = Server::start();
    let mut w = srv.conn();
    let from = last_offset(&mut w) + 1;
    let value = "v".repeat(8000);
    let mut p = redis::pipe();
    for i in 0..3000 {
        p.cmd("SET").arg(format!("k{i}")).arg(&value).ignore();
    }
    p.query::<()>(&mut w).unwrap();
    for resp3 in [true, false] {
        let mut r = srv.raw();
        if resp3 {
            hello3(&mut r);
        }
        match r.call(&["CHANGES", "SUBSCRIBE", &from.to_string()]) {
            Resp::Array(a) => assert_eq!(a[0].text().as_deref(), Some("subscribe")),
            other => panic!("{other:?}"),
        }
        // Once the first push is here the backlog is filling the socket and the queue.
        assert_eq!(raw_offset(&next_push(&mut r, resp3)), from);
        r.send_cmd(&["CHANGES", "UNSUBSCRIBE"]);
        r.send_cmd(&["PING"]);
        let mut pushed = 1;
        let mut next = from + 1;
        loop {
            match r.read_reply() {
                Resp::Int(1) => break,
                v @ (Resp::Push(_) | Resp::Array(_)) => {
                    let ev = push_event(v, resp3);
                    assert_eq!(raw_offset(&ev), next, "pushes arrive in order");
                    next += 1;
                    pushed += 1;
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(
            pushed < 3000,
            "the whole backlog went out before UNSUBSCRIBE ran"
        );
        let after = r.read_reply();
        assert!(
            matches!(&after, Resp::Simple(s) if s == "PONG"),
            "a push of the old subscription followed its UNSUBSCRIBE reply: {:.200}",
            format!("{after:?}")
        );
    }
}

#[test]
fn subscription_resumes_after_disconnect_with_nothing_lost_or_repeated() {
    if !eddy_only("subscription_resumes_after_disconnect_with_nothing_lost_or_repeated") {
        return;
    }
    let srv = Server::start();
    let writer_srv = srv.url();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let writer = std::thread::spawn(move || {
        let mut c = redis::Client::open(writer_srv)
            .expect("client")
            .get_connection()
            .expect("conn");
        let mut i = 0u64;
        while !stop2.load(std::sync::atomic::Ordering::Relaxed) {
            q::<()>(&mut c, &["SET", &format!("r:{}", i % 50), &i.to_string()]);
            i += 1;
        }
        i
    });
    let mut seen: Vec<i64> = Vec::new();
    let mut start = "earliest".to_string();
    for _round in 0..4 {
        let mut r = srv.raw();
        hello3(&mut r);
        assert!(matches!(
            r.call(&["CHANGES", "SUBSCRIBE", &start]),
            Resp::Array(_)
        ));
        for _ in 0..200 {
            seen.push(raw_offset(&next_push(&mut r, true)));
        }
        drop(r);
        start = (seen[seen.len() - 1] + 1).to_string();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().expect("writer");
    let first = seen[0];
    let expect: Vec<i64> = (first..first + seen.len() as i64).collect();
    assert_eq!(seen, expect, "consecutive offsets across reconnects");
}

/// A subscriber that joins an idle server starts on the segment files (memory holds nothing
/// then) and must get back to the in-memory tail: its reads from disk keep the tail for it. Before
/// they did, each writer pass trimmed what it wrote before the subscriber got to it, and a
/// subscriber once behind read every later batch from disk.
#[test]
fn a_subscriber_that_starts_on_disk_reaches_the_memory_tail() {
    if !eddy_only("a_subscriber_that_starts_on_disk_reaches_the_memory_tail") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    for i in 0..20 {
        q::<()>(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    assert!(
        poll_until(Duration::from_secs(15), || info_int(
            &mut c,
            "changes",
            "changes_memory_bytes"
        ) == 0),
        "the idle log kept its memory"
    );
    let mut r = srv.raw();
    hello3(&mut r);
    assert!(matches!(
        r.call(&["CHANGES", "SUBSCRIBE", "earliest"]),
        Resp::Array(_)
    ));
    let first: Vec<i64> = (0..20)
        .map(|_| raw_offset(&next_push(&mut r, true)))
        .collect();
    assert_eq!(first, (1..=20).collect::<Vec<i64>>());
    let disk_reads = info_int(&mut c, "changes", "changes_disk_reads");
    assert!(disk_reads >= 1, "the first batch came from disk");
    // Bursts of pipelined writes, each many times a 64 KiB in-memory segment.
    let value = "x".repeat(200);
    let mut next = 21;
    for burst in 0..5 {
        let mut p = redis::pipe();
        for i in 0..3000 {
            p.cmd("SET")
                .arg(format!("b{burst}:{i}"))
                .arg(&value)
                .ignore();
        }
        p.query::<()>(&mut c).expect("burst");
        for _ in 0..3000 {
            assert_eq!(raw_offset(&next_push(&mut r, true)), next);
            next += 1;
        }
    }
    assert_eq!(
        info_int(&mut c, "changes", "changes_disk_reads"),
        disk_reads,
        "the subscriber went back to the segment files"
    );
}

/// A push backlog is written off the client runtime until the socket is full, and the
/// connection's own write finishes it (`server::background::write_now`): a subscriber that
/// starts reading only after the socket filled must still get every event, whole and in order,
/// and the connection must go on answering commands after it.
#[test]
fn a_subscriber_that_reads_late_gets_every_event_whole_and_in_order() {
    if !eddy_only("a_subscriber_that_reads_late_gets_every_event_whole_and_in_order") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let mut r = srv.raw();
    assert!(matches!(
        r.call(&["CHANGES", "SUBSCRIBE", "latest"]),
        Resp::Array(_)
    ));
    let from = last_offset(&mut c) + 1;
    // 20,000 events of ~1.3 KB: far more than the socket buffers hold while nobody reads.
    let n = 20_000;
    let value = |i: i64| format!("{i:06}{}", "v".repeat(1000));
    let mut p = redis::pipe();
    for i in 0..n {
        p.cmd("SET").arg(format!("late:{i}")).arg(value(i)).ignore();
    }
    p.query::<()>(&mut c).expect("pipeline");
    for i in 0..n {
        let ev = next_push(&mut r, false);
        assert_eq!(raw_offset(&ev), from + i, "events arrive in order");
        assert_eq!(raw_key(&ev), format!("late:{i}"));
        let args = match ev.field("args") {
            Some(Resp::Array(a)) => a.clone(),
            other => panic!("args: {other:?}"),
        };
        assert_eq!(args[2].text(), Some(value(i)), "event {i} arrived whole");
    }
    assert_eq!(r.call(&["CHANGES", "UNSUBSCRIBE"]), Resp::Int(1));
    assert!(matches!(r.call(&["PING"]), Resp::Simple(s) if s == "PONG"));
}

/// (offset, consumer, idle, deliveries)
fn pending(c: &mut redis::Connection, args: &[&str]) -> Vec<(i64, String, i64, i64)> {
    let mut all = vec!["CHANGES", "PENDING"];
    all.extend_from_slice(args);
    match qv(c, &all) {
        Value::Array(rows) => rows
            .iter()
            .map(|r| match r {
                Value::Array(f) => match f.as_slice() {
                    [Value::Int(o), cons, Value::Int(idle), Value::Int(n)] => {
                        (*o, vstr(cons).unwrap_or_default(), *idle, *n)
                    }
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            })
            .collect(),
        other => panic!("{other:?}"),
    }
}

fn group_read(c: &mut redis::Connection, g: &str, consumer: &str, n: usize) -> Vec<Ev> {
    evs(qv(
        c,
        &[
            "CHANGES",
            "GROUP",
            "READ",
            g,
            consumer,
            "COUNT",
            &n.to_string(),
        ],
    ))
}

#[test]
fn group_delivers_each_event_once_and_tracks_acks_pending_and_claims() {
    if !eddy_only("group_delivers_each_event_once_and_tracks_acks_pending_and_claims") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let mut c2 = srv.conn3();
    q::<()>(&mut c, &["SET", "before", "1"]);
    assert_eq!(
        q::<String>(
            &mut c,
            &["CHANGES", "GROUP", "CREATE", "g", "latest", "MATCH", "job:*"]
        ),
        "OK"
    );
    assert_eq!(
        qerr(&mut c, &["CHANGES", "GROUP", "CREATE", "g", "latest"]),
        "BUSYGROUP Consumer Group name already exists"
    );
    for i in 0..6 {
        q::<()>(&mut c, &["SET", &format!("job:{i}"), "x"]);
        q::<()>(&mut c, &["SET", &format!("noise:{i}"), "x"]);
    }
    let a = group_read(&mut c, "g", "alice", 4);
    let b = group_read(&mut c2, "g", "bob", 10);
    assert_eq!(keys(&a), ["job:0", "job:1", "job:2", "job:3"]);
    assert_eq!(keys(&b), ["job:4", "job:5"]);
    assert!(group_read(&mut c, "g", "alice", 10).is_empty());
    let p = pending(&mut c, &["g"]);
    assert_eq!(p.len(), 6);
    assert!(p[..4].iter().all(|r| r.1 == "alice" && r.3 == 1));
    assert!(p[4..].iter().all(|r| r.1 == "bob"));
    assert_eq!(
        q::<i64>(
            &mut c,
            &[
                "CHANGES",
                "ACK",
                "g",
                &a[0].offset.to_string(),
                &a[1].offset.to_string(),
                "999999"
            ]
        ),
        2
    );
    assert_eq!(pending(&mut c, &["g", "bob"]).len(), 2);
    assert_eq!(pending(&mut c, &["g", "alice"]).len(), 2);
    assert!(pending(&mut c, &["g", "IDLE", "60000"]).is_empty());
    std::thread::sleep(Duration::from_millis(60));
    let idle = pending(&mut c, &["g", "IDLE", "50", "COUNT", "1"]);
    assert_eq!(idle.len(), 1);
    assert!(idle[0].2 >= 50);
    // Claim alice's entries for bob: not idle enough, then idle enough.
    let off = a[2].offset.to_string();
    let e = evs(qv(&mut c, &["CHANGES", "CLAIM", "g", "bob", "60000", &off]));
    assert!(e.is_empty());
    let e = evs(qv(&mut c, &["CHANGES", "CLAIM", "g", "bob", "10", &off]));
    assert_eq!(keys(&e), ["job:2"]);
    let p = pending(&mut c, &["g", "bob"]);
    assert!(p.iter().any(|r| r.0 == a[2].offset && r.3 == 2), "{p:?}");
    // Lists and INFO lag.
    let groups = qv(&mut c, &["CHANGES", "GROUPS"]);
    let Value::Array(gs) = &groups else {
        panic!("{groups:?}")
    };
    assert_eq!(gs.len(), 1);
    assert_eq!(vget(&gs[0], "pending"), Some(Value::Int(4)));
    let info: String = q(&mut c, &["INFO", "changes"]);
    assert!(info.contains("reader_group_g:offset="), "{info}");
    assert_eq!(q::<i64>(&mut c, &["CHANGES", "GROUP", "DESTROY", "g"]), 1);
    assert_eq!(q::<i64>(&mut c, &["CHANGES", "GROUP", "DESTROY", "g"]), 0);
    assert_eq!(
        qerr(&mut c, &["CHANGES", "GROUP", "READ", "g", "alice"]),
        "NOGROUP No such change feed consumer group"
    );
}

#[test]
fn blocked_group_read_is_woken_by_a_matching_write() {
    if !eddy_only("blocked_group_read_is_woken_by_a_matching_write") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(
        &mut c,
        &[
            "CHANGES", "GROUP", "CREATE", "g", "latest", "EVENTS", "hset",
        ],
    );
    let mut r = srv.raw();
    r.send_cmd(&["CHANGES", "GROUP", "READ", "g", "w1", "BLOCK", "0"]);
    q::<()>(&mut c, &["SET", "k", "1"]);
    assert!(r.try_read_reply(Duration::from_millis(100)).is_none());
    q::<()>(&mut c, &["HSET", "h", "f", "v"]);
    match r.read_reply() {
        Resp::Array(items) => assert_eq!(raw_key(&items[0]), "h"),
        other => panic!("{other:?}"),
    }
    assert_eq!(pending(&mut c, &["g", "w1"]).len(), 1);
    r.send_cmd(&["CHANGES", "GROUP", "READ", "g", "w1", "BLOCK", "50"]);
    assert_eq!(r.read_wire(), "*-1\r\n");
}

/// The dead-letter key's entries, whether it is a list (RPUSH available) or, before lists
/// existed, one string key per dead letter.
fn dead_letters(c: &mut redis::Connection, key: &str) -> Vec<serde_json::Value> {
    let t: String = q(c, &["TYPE", key]);
    let raw: Vec<String> = if t == "list" {
        q(c, &["LRANGE", key, "0", "-1"])
    } else {
        let ks: Vec<String> = q(c, &["KEYS", &format!("{key}:*")]);
        ks.iter().map(|k| q::<String>(c, &["GET", k])).collect()
    };
    raw.iter()
        .map(|s| serde_json::from_str(s).expect("dead letter is JSON"))
        .collect()
}

#[test]
fn entries_past_max_deliveries_go_to_a_dead_letter_key_any_client_can_read() {
    if !eddy_only("entries_past_max_deliveries_go_to_a_dead_letter_key_any_client_can_read") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(
        &mut c,
        &[
            "CHANGES",
            "GROUP",
            "CREATE",
            "g",
            "latest",
            "MATCH",
            "task:*",
            "MAXDELIVERIES",
            "2",
            "DEADLETTER",
            "dlq",
        ],
    );
    q::<()>(&mut c, &["SET", "task:1", "payload"]);
    let e = group_read(&mut c, "g", "a", 10);
    let off = e[0].offset.to_string();
    let e2 = evs(qv(&mut c, &["CHANGES", "CLAIM", "g", "b", "0", &off]));
    assert_eq!(e2.len(), 1, "second delivery");
    let from = last_offset(&mut c) + 1;
    let e3 = evs(qv(&mut c, &["CHANGES", "CLAIM", "g", "c", "0", &off]));
    assert!(e3.is_empty(), "a third delivery would exceed MAXDELIVERIES");
    assert!(pending(&mut c, &["g"]).is_empty());
    let mut other = srv.conn3();
    let dl = dead_letters(&mut other, "dlq");
    assert_eq!(dl.len(), 1);
    assert_eq!(dl[0]["key"], "task:1");
    assert_eq!(dl[0]["offset"], e[0].offset);
    assert_eq!(dl[0]["event"], "set");
    assert_eq!(dl[0]["group"], "g");
    assert_eq!(dl[0]["consumer"], "b");
    assert_eq!(dl[0]["deliveries"], 2);
    assert_eq!(dl[0]["args"][2], "payload");
    // The dead-letter write is itself a recorded change.
    let rec = read(&mut c, &[&from.to_string()]);
    assert_eq!(rec.len(), 1, "{rec:?}");
    assert!(rec[0].key.starts_with("dlq"));
}

#[test]
fn group_position_and_pending_survive_a_restart() {
    if !eddy_only("group_position_and_pending_survive_a_restart") {
        return;
    }
    let dir = TempDir::new("groups");
    let srv = Server::start_in(dir, &[]);
    let mut c = srv.conn();
    q::<()>(&mut c, &["CHANGES", "GROUP", "CREATE", "g", "earliest"]);
    for i in 0..5 {
        q::<()>(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    let e = group_read(&mut c, "g", "a", 3);
    assert_eq!(keys(&e), ["k0", "k1", "k2"]);
    q::<i64>(&mut c, &["CHANGES", "ACK", "g", &e[0].offset.to_string()]);
    let next = e[2].offset + 1;
    let file = srv.dir().join("groups.json");
    let want = format!("\"next\": {next}");
    assert!(
        poll_until(Duration::from_secs(5), || std::fs::read_to_string(&file)
            .is_ok_and(|s| s.contains(&want) && s.contains("\"acked\": 1"))),
        "groups.json written within the flush window"
    );
    let dir = srv.stop();
    let srv = Server::start_in(dir, &[]);
    let mut c = srv.conn();
    let p = pending(&mut c, &["g"]);
    assert_eq!(
        p.iter().map(|r| r.0).collect::<Vec<_>>(),
        [e[1].offset, e[2].offset]
    );
    assert!(p.iter().all(|r| r.1 == "a" && r.3 == 1));
    let rest = group_read(&mut c, "g", "b", 10);
    assert_eq!(keys(&rest), ["k3", "k4"]);
}

#[test]
fn snapshot_then_tail_is_gapless_under_concurrent_writers() {
    if !eddy_only("snapshot_then_tail_is_gapless_under_concurrent_writers") {
        return;
    }
    let srv = Server::start();
    let url = srv.url();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..2 {
        let (url, stop) = (url.clone(), stop.clone());
        writers.push(std::thread::spawn(move || {
            let mut c = redis::Client::open(url)
                .expect("client")
                .get_connection()
                .expect("conn");
            let mut i = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let k = format!("snap:{}", (i * 7 + w) % 40);
                if i % 5 == 4 {
                    q::<()>(&mut c, &["DEL", &k]);
                } else {
                    q::<()>(&mut c, &["SET", &k, &format!("{w}-{i}")]);
                }
                q::<()>(&mut c, &["SET", &format!("other:{i}"), "x"]);
                i += 1;
            }
        }));
    }
    let mut c = srv.conn();
    std::thread::sleep(Duration::from_millis(50));
    let snap = qv(&mut c, &["CHANGES", "SNAPSHOT", "MATCH", "snap:*"]);
    let Value::Array(parts) = snap else {
        panic!("{snap:?}")
    };
    let Value::Int(n) = parts[0] else {
        panic!("{parts:?}")
    };
    let mut state: BTreeMap<String, String> = BTreeMap::new();
    let Value::Array(rows) = &parts[1] else {
        panic!("{parts:?}")
    };
    for r in rows {
        let Value::Array(f) = r else { panic!("{r:?}") };
        assert_eq!(f[0], Value::Int(0));
        assert_eq!(vstr(&f[2]).as_deref(), Some("string"));
        assert_eq!(f[4], Value::Int(-1));
        state.insert(
            vstr(&f[1]).unwrap_or_default(),
            vstr(&f[3]).unwrap_or_default(),
        );
    }
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.join().expect("writer");
    }
    // Tail from N with the same filter, applying each effect.
    let mut next = format!("({n}");
    loop {
        let page = read(&mut c, &[&next, "MATCH", "snap:*", "COUNT", "1000"]);
        let Some(last) = page.last() else { break };
        next = format!("({}", last.offset);
        for e in &page {
            match e.event.as_str() {
                "set" => {
                    state.insert(e.key.clone(), e.args[2].clone());
                }
                "del" => {
                    state.remove(&e.key);
                }
                other => panic!("unexpected {other}"),
            }
        }
    }
    let mut actual: BTreeMap<String, String> = BTreeMap::new();
    let ks: Vec<String> = q(&mut c, &["KEYS", "snap:*"]);
    for k in ks {
        let v: String = q(&mut c, &["GET", &k]);
        actual.insert(k, v);
    }
    assert!(!actual.is_empty());
    assert_eq!(state, actual, "snapshot + tail equals the final state");
}

#[test]
fn snapshot_reports_types_ttls_and_bounds_its_size() {
    if !eddy_only("snapshot_reports_types_ttls_and_bounds_its_size") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn3();
    q::<()>(&mut c, &["SET", "s", "v", "EX", "100"]);
    q::<()>(&mut c, &["HSET", "h", "f", "v"]);
    let snap = qv(&mut c, &["CHANGES", "SNAPSHOT", "TYPE", "hash"]);
    let Value::Array(parts) = snap else {
        panic!("{snap:?}")
    };
    assert_eq!(parts[0], Value::Int(last_offset(&mut c)));
    let Value::Array(rows) = &parts[1] else {
        panic!()
    };
    assert_eq!(rows.len(), 1);
    let Value::Array(f) = &rows[0] else { panic!() };
    assert_eq!(vstr(&f[1]).as_deref(), Some("h"));
    // The value is the DUMP payload: RESTORE accepts it.
    let Value::BulkString(dump) = &f[3] else {
        panic!("{f:?}")
    };
    redis::cmd("RESTORE")
        .arg("h2")
        .arg(0)
        .arg(dump.as_slice())
        .query::<()>(&mut c)
        .expect("restore");
    assert_eq!(q::<String>(&mut c, &["HGET", "h2", "f"]), "v");
    let snap = qv(&mut c, &["CHANGES", "SNAPSHOT", "MATCH", "s"]);
    let Value::Array(parts) = snap else { panic!() };
    let Value::Array(rows) = &parts[1] else {
        panic!()
    };
    let Value::Array(f) = &rows[0] else { panic!() };
    let Value::Int(pttl) = f[4] else { panic!() };
    assert!(pttl > 90_000 && pttl <= 100_000, "{pttl}");
    let mut p = redis::pipe();
    for i in 0..100_001 {
        p.cmd("SET").arg(format!("many:{i}")).arg("x").ignore();
    }
    p.query::<()>(&mut c).expect("pipeline");
    let e = qerr(&mut c, &["CHANGES", "SNAPSHOT"]);
    assert!(
        e.starts_with("ERR CHANGES SNAPSHOT matches too many"),
        "{e}"
    );
}

#[test]
fn images_new_carries_string_values() {
    if !eddy_only("images_new_carries_string_values") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let from = (last_offset(&mut c) + 1).to_string();
    q::<()>(&mut c, &["SET", "k", "v1"]);
    q::<()>(&mut c, &["INCRBYFLOAT", "n", "1.5"]);
    let e = read(&mut c, &[&from, "IMAGES", "new"]);
    assert_eq!(e[0].new.as_ref().and_then(vstr).as_deref(), Some("v1"));
    assert_eq!(e[1].new.as_ref().and_then(vstr).as_deref(), Some("1.5"));
    let e = read(&mut c, &[&from]);
    assert!(e[0].new.is_none(), "keys only by default");
}

#[test]
fn recorded_images_carry_old_and_new_strings_and_hashes() {
    if !eddy_only("recorded_images_carry_old_and_new_strings_and_hashes") {
        return;
    }
    let srv = Server::start_with(&["--changes-images", "yes"]);
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "s", "a"]);
    q::<()>(&mut c, &["HSET", "h", "f", "1", "g", "2"]);
    let from = (last_offset(&mut c) + 1).to_string();
    q::<()>(&mut c, &["APPEND", "s", "bc"]);
    q::<()>(&mut c, &["HSET", "h", "f", "3"]);
    q::<()>(&mut c, &["HDEL", "h", "g"]);
    q::<()>(&mut c, &["DEL", "s"]);
    let e = read(&mut c, &[&from, "IMAGES", "both"]);
    assert_eq!(e.len(), 4, "{e:?}");
    assert_eq!(e[0].old.as_ref().and_then(vstr).as_deref(), Some("a"));
    assert_eq!(e[0].new.as_ref().and_then(vstr).as_deref(), Some("abc"));
    let fields = |v: &Option<Value>| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = match v {
            Some(Value::Map(m)) => m
                .iter()
                .map(|(k, v)| (vstr(k).unwrap_or_default(), vstr(v).unwrap_or_default()))
                .collect(),
            Some(Value::Array(a)) => a
                .chunks(2)
                .map(|p| {
                    (
                        vstr(&p[0]).unwrap_or_default(),
                        vstr(&p[1]).unwrap_or_default(),
                    )
                })
                .collect(),
            other => panic!("a hash image, got {other:?}"),
        };
        out.sort();
        out
    };
    let kv = |p: &[(&str, &str)]| -> Vec<(String, String)> {
        p.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(fields(&e[1].old), kv(&[("f", "1"), ("g", "2")]));
    assert_eq!(fields(&e[1].new), kv(&[("f", "3"), ("g", "2")]));
    assert_eq!(fields(&e[2].old), kv(&[("f", "3"), ("g", "2")]));
    assert_eq!(fields(&e[2].new), kv(&[("f", "3")]));
    assert_eq!(e[3].old.as_ref().and_then(vstr).as_deref(), Some("abc"));
    assert!(e[3].new.is_none(), "a deleted key has no new image");
}

#[test]
fn info_reports_lag_per_subscription() {
    if !eddy_only("info_reports_lag_per_subscription") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let mut r = srv.raw();
    let id = match r.call(&["CLIENT", "ID"]) {
        Resp::Int(i) => i,
        other => panic!("{other:?}"),
    };
    r.call(&["CHANGES", "SUBSCRIBE", "latest"]);
    q::<()>(&mut c, &["SET", "k", "v"]);
    next_push(&mut r, false);
    let line = format!("reader_sub_{id}:offset=");
    assert!(poll_until(Duration::from_secs(5), || {
        let info: String = q(&mut c, &["INFO", "changes"]);
        info.lines()
            .any(|l| l.starts_with(&line) && l.ends_with(",lag=0"))
    }));
    drop(r);
    assert!(poll_until(Duration::from_secs(5), || {
        let info: String = q(&mut c, &["INFO", "changes"]);
        !info.contains(&line)
    }));
}

#[test]
fn a_subscriber_that_never_reads_does_not_grow_server_memory() {
    if !eddy_only("a_subscriber_that_never_reads_does_not_grow_server_memory") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let mut r = srv.raw();
    r.call(&["CHANGES", "SUBSCRIBE", "latest"]);
    let used = |c: &mut redis::Connection| -> u64 {
        let info: String = q(c, &["INFO", "memory"]);
        info.lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let before = used(&mut c);
    let val = "v".repeat(200);
    for round in 0..20 {
        let mut p = redis::pipe();
        for i in 0..10_000 {
            p.cmd("SET")
                .arg(format!("k{}", (round * 10_000 + i) % 1000))
                .arg(&val)
                .ignore();
        }
        p.query::<()>(&mut c).expect("pipeline");
    }
    // 200,000 events of ~300 bytes (~60 MB) were written; the subscriber read none of them.
    let t0 = Instant::now();
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
    assert!(t0.elapsed() < Duration::from_secs(1), "others are served");
    let after = used(&mut c);
    assert!(
        after < before + 48 * 1024 * 1024,
        "memory grew from {before} to {after}"
    );
    let info: String = q(&mut c, &["INFO", "changes"]);
    let lag: u64 = info
        .lines()
        .find(|l| l.starts_with("reader_sub_"))
        .and_then(|l| l.rsplit("lag=").next())
        .and_then(|v| v.trim().parse().ok())
        .expect("subscriber lag in INFO");
    assert!(lag > 100_000, "the subscriber fell behind (lag {lag})");
    // It catches up once it reads: every event once, in order (the backlog went out in
    // gathered writes that the full socket buffer cut at arbitrary points).
    let last = last_offset(&mut c);
    let mut got = 0;
    let mut prev = None;
    loop {
        let off = raw_offset(&next_push(&mut r, false));
        if let Some(p) = prev {
            assert_eq!(off, p + 1, "no gap, no repeat");
        }
        prev = Some(off);
        got += 1;
        if off == last {
            break;
        }
    }
    assert_eq!(got, 200_000);
}

/// The filter model: what the server must return for a filter, computed from the unfiltered
/// feed.
struct ModelFilter {
    pattern: Option<String>,
    events: Vec<String>,
    types: Vec<String>,
    db: Option<i64>,
}

impl ModelFilter {
    fn matches(&self, e: &Ev) -> bool {
        if !self.events.is_empty() && !self.events.contains(&e.event) {
            return false;
        }
        if self.db.is_some_and(|d| d != e.db) {
            return false;
        }
        if !self.types.is_empty() && !self.types.contains(&e.typ) {
            return false;
        }
        // Patterns used here are prefixes with one trailing star.
        match &self.pattern {
            Some(p) => e.key.starts_with(p.trim_end_matches('*')),
            None => true,
        }
    }
    fn args(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(p) = &self.pattern {
            v.extend(["MATCH".to_string(), p.clone()]);
        }
        if !self.events.is_empty() {
            v.extend(["EVENTS".to_string(), self.events.join(",")]);
        }
        if !self.types.is_empty() {
            v.extend(["TYPE".to_string(), self.types.join(",")]);
        }
        if let Some(d) = self.db {
            v.extend(["DB".to_string(), d.to_string()]);
        }
        v
    }
}

#[test]
fn model_random_writes_and_filters_agree_with_the_server() {
    if !eddy_only("model_random_writes_and_filters_agree_with_the_server") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let mut rng = Rng::new(0x9e37_79b9_7f4a_7c15);
    let from = last_offset(&mut c) + 1;
    // Random writes across two databases and three key families; the model counts the events
    // each write must record.
    let mut db = 0;
    let mut expected = 0;
    let mut live: [BTreeSet<String>; 2] = [BTreeSet::new(), BTreeSet::new()];
    let mut types: [BTreeMap<String, &str>; 2] = [BTreeMap::new(), BTreeMap::new()];
    for _ in 0..3000 {
        if rng.below(20) == 0 {
            db = 1 - db;
            q::<()>(&mut c, &["SELECT", &db.to_string()]);
        }
        let fam = ["a:", "b:", "c:"][rng.below(3) as usize];
        let k = format!("{fam}{}", rng.below(8));
        match rng.below(4) {
            0 | 1 => {
                if types[db].get(&k).is_some_and(|t| *t != "string") {
                    continue;
                }
                q::<()>(&mut c, &["SET", &k, "v"]);
                live[db].insert(k.clone());
                types[db].insert(k, "string");
                expected += 1;
            }
            2 => {
                if types[db].get(&k).is_some_and(|t| *t != "hash") {
                    continue;
                }
                let f = format!("f{}", rng.below(3));
                let added: i64 = q(&mut c, &["HSET", &k, &f, "v"]);
                let _ = added;
                live[db].insert(k.clone());
                types[db].insert(k, "hash");
                expected += 1;
            }
            _ => {
                let n: i64 = q(&mut c, &["DEL", &k]);
                assert_eq!(n, live[db].remove(&k) as i64);
                types[db].remove(&k);
                expected += n;
            }
        }
    }
    let all: Vec<Ev> = {
        let mut out = Vec::new();
        let mut next = from.to_string();
        loop {
            let page = read(&mut c, &[&next, "COUNT", "700"]);
            let Some(l) = page.last() else { break };
            next = format!("({}", l.offset);
            out.extend(page);
        }
        out
    };
    assert_eq!(all.len() as i64, expected, "one event per effective write");
    for _ in 0..60 {
        let f = ModelFilter {
            pattern: (rng.below(2) == 0)
                .then(|| format!("{}*", ["a:", "b:", "c:"][rng.below(3) as usize])),
            events: match rng.below(3) {
                0 => vec![],
                1 => vec!["set".into()],
                _ => vec!["hset".into(), "del".into()],
            },
            types: match rng.below(3) {
                0 => vec![],
                1 => vec!["string".into()],
                _ => vec!["hash".into(), "none".into()],
            },
            db: (rng.below(2) == 0).then(|| rng.below(2) as i64),
        };
        let want: Vec<i64> = all
            .iter()
            .filter(|e| f.matches(e))
            .map(|e| e.offset)
            .collect();
        let page = 1 + rng.below(50) as usize;
        let mut got = Vec::new();
        let mut next = from.to_string();
        loop {
            let mut args: Vec<String> = vec![next.clone(), "COUNT".into(), page.to_string()];
            args.extend(f.args());
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            let p = read(&mut c, &refs);
            let Some(l) = p.last() else { break };
            next = format!("({}", l.offset);
            assert!(p.len() <= page);
            got.extend(p.iter().map(|e| e.offset));
        }
        assert_eq!(got, want, "filter {:?}", f.args());
    }
    let _ = vpairs;
}

/// A cursor past the end of the log was never handed out by it: it is refused, so a reader with
/// a cursor from another history cannot silently skip the records in between.
#[test]
fn a_start_past_the_end_of_the_log_is_refused() {
    if !eddy_only("a_start_past_the_end_of_the_log_is_refused") {
        return;
    }
    let s = Server::start();
    let mut c = s.conn();
    q::<()>(&mut c, &["SET", "a", "1"]);
    let last: i64 = match vget(&qv(&mut c, &["CHANGES", "INFO"]), "last-offset") {
        Some(Value::Int(n)) => n,
        other => panic!("{other:?}"),
    };
    // The next offset (nothing there yet) and `(last` are fine.
    assert!(read(&mut c, &[&(last + 1).to_string()]).is_empty());
    assert!(read(&mut c, &[&format!("({last}")]).is_empty());
    for start in [
        (last + 2).to_string(),
        format!("({}", last + 1),
        "100".to_string(),
    ] {
        let e = qerr(&mut c, &["CHANGES", "READ", &start]);
        assert!(
            e.contains("beyond the end of the change log"),
            "{start}: {e}"
        );
        let e = qerr(&mut c, &["CHANGES", "SUBSCRIBE", &start]);
        assert!(
            e.contains("beyond the end of the change log"),
            "{start}: {e}"
        );
    }
    // Another epoch is reported as such, whatever the offset.
    let e = qerr(&mut c, &["CHANGES", "READ", "100", "EPOCH", "nope"]);
    assert!(e.starts_with("ERR EPOCH"), "{e}");
    // The connection carries on.
    assert_eq!(q::<String>(&mut c, &["GET", "a"]), "1");
}

/// Subscriptions with the same filter, images and protocol share the encoded pushes (one
/// subscriber reads and encodes a batch, the others send it); each must still get exactly its
/// own stream of events: every one from its start, in order, once, while one of them starts
/// late, one stops reading for a while, and one with another filter runs beside them.
#[test]
fn identical_subscriptions_share_encoding_and_each_gets_every_event_once() {
    if !eddy_only("identical_subscriptions_share_encoding_and_each_gets_every_event_once") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let subscribe = |args: &[&str]| {
        let mut r = srv.raw();
        hello3(&mut r);
        let mut call = vec!["CHANGES", "SUBSCRIBE"];
        call.extend_from_slice(args);
        assert!(matches!(r.call(&call), Resp::Array(_)));
        r
    };
    let mut same: Vec<common::Raw> = (0..3).map(|_| subscribe(&["latest"])).collect();
    let mut other = subscribe(&["latest", "MATCH", "odd:*"]);
    let write = |c: &mut redis::Connection, from: usize, to: usize| {
        let mut p = redis::pipe();
        for i in from..to {
            let k = if i % 2 == 1 { "odd" } else { "even" };
            p.cmd("SET").arg(format!("{k}:{i}")).arg(i).ignore();
        }
        p.query::<()>(c).expect("pipeline");
    };
    write(&mut c, 0, 3000);
    // A late subscriber with the same key starts at an offset inside what was written.
    let late_from = last_offset(&mut c) - 1000;
    let mut late = subscribe(&[&late_from.to_string()]);
    write(&mut c, 3000, 6000);
    let end = last_offset(&mut c);
    let first = end - 5999;
    // The readers drain in turns of different lengths, so they drift apart and meet again.
    let mut got: Vec<Vec<i64>> = vec![Vec::new(); 3];
    while got.iter().any(|g| g.last() != Some(&end)) {
        for (n, r) in same.iter_mut().enumerate() {
            for _ in 0..(n + 1) * 97 {
                if got[n].last() == Some(&end) {
                    break;
                }
                got[n].push(raw_offset(&next_push(r, true)));
            }
        }
    }
    let all: Vec<i64> = (first..=end).collect();
    for (n, g) in got.iter().enumerate() {
        assert_eq!(*g, all, "subscriber {n}");
    }
    let late_got: Vec<i64> = (late_from..=end)
        .map(|_| raw_offset(&next_push(&mut late, true)))
        .collect();
    assert_eq!(
        late_got,
        (late_from..=end).collect::<Vec<_>>(),
        "late subscriber"
    );
    let odd: Vec<String> = (0..3000)
        .map(|_| raw_key(&next_push(&mut other, true)))
        .collect();
    let want: Vec<String> = (0..6000)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("odd:{i}"))
        .collect();
    assert_eq!(odd, want, "the filtered subscriber");
    let info: String = q(&mut c, &["INFO", "changes"]);
    let served: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("changes_shared_push_batches_served:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("changes_shared_push_batches_served in INFO");
    assert!(
        served > 0,
        "identical subscriptions shared no batch:\n{info}"
    );
}
