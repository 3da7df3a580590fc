//! Pub/sub and keyspace notifications against the real binary: fan-out, patterns, shard
//! channels, RESP2 subscribed mode (exact bytes and errors), RESP3 pushes between replies,
//! PUBSUB introspection, keyspace notifications for each type and for expiry, the
//! `notify-keyspace-events` and `client-output-buffer-limit` options, and a subscriber that
//! never reads.
//!
//! Expected bytes and event sequences are Redis 7.0's: the suite passes against redis-server
//! (`EDDY_TEST_SERVER=redis-server`) except where a test is marked Eddy-only.

mod common;

use common::{eddy_only, poll_until, q, qerr, qv, reference_mode, Raw, Resp, Server};
use redis::Value;
use std::collections::BTreeSet;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// Wire helpers

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// A RESP2 array (`*`) or RESP3 push (`>`) of bulk strings.
fn frame(tag: char, parts: &[&str]) -> String {
    let mut s = format!("{tag}{}\r\n", parts.len());
    for p in parts {
        s.push_str(&bulk(p));
    }
    s
}

/// A (un)subscription confirmation: `[kind, name or null, count]`.
fn confirm(tag: char, kind: &str, name: Option<&str>, count: i64) -> String {
    let null = if tag == '>' { "_\r\n" } else { "$-1\r\n" };
    format!(
        "{tag}3\r\n{}{}:{count}\r\n",
        bulk(kind),
        name.map(bulk).unwrap_or_else(|| null.to_string())
    )
}

/// Reads one message push and returns its parts as strings (type, [pattern,] channel, payload).
fn next_msg(r: &mut Raw) -> Vec<String> {
    match r.read_reply() {
        Resp::Array(items) | Resp::Push(items) => items
            .iter()
            .map(|i| i.text().unwrap_or_else(|| panic!("not a string: {i:?}")))
            .collect(),
        other => panic!("expected a message, got {other:?}"),
    }
}

fn info_field(c: &mut redis::Connection, section: &str, field: &str) -> Option<String> {
    let text: String = q(c, &["INFO", section]);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")).map(str::to_string))
}

fn strings(v: Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(common::vstr).collect(),
        other => panic!("expected an array, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Fan-out and ordering

#[test]
fn fan_out_reaches_twenty_subscribers_in_each_publishers_order() {
    let srv = Server::start();
    let mut conns: Vec<redis::Connection> = (0..20).map(|_| srv.conn()).collect();
    let mut subs: Vec<redis::PubSub<'_>> = conns.iter_mut().map(|c| c.as_pubsub()).collect();
    for s in &mut subs {
        s.subscribe("fan").expect("subscribe");
        s.set_read_timeout(Some(common::IO_TIMEOUT))
            .expect("timeout");
    }
    const N: usize = 200;
    let publishers: Vec<_> = ["A", "B"]
        .into_iter()
        .map(|name| {
            let mut p = srv.conn();
            std::thread::spawn(move || {
                for i in 0..N {
                    let n: i64 = q(&mut p, &["PUBLISH", "fan", &format!("{name}:{i}")]);
                    assert_eq!(n, 20, "every subscriber counted");
                }
            })
        })
        .collect();
    for p in publishers {
        p.join().expect("publisher");
    }
    for (k, s) in subs.iter_mut().enumerate() {
        let mut next = [0usize; 2];
        for _ in 0..2 * N {
            let m = s.get_message().expect("message");
            assert_eq!(m.get_channel_name(), "fan");
            let payload: String = m.get_payload().expect("payload");
            let (who, i) = payload.split_once(':').expect("name:seq");
            let w = usize::from(who == "B");
            assert_eq!(
                i.parse::<usize>().ok(),
                Some(next[w]),
                "subscriber {k}: {payload}"
            );
            next[w] += 1;
        }
        assert_eq!(next, [N, N]);
    }
}

#[test]
fn channel_and_pattern_subscriptions_get_message_then_pmessage() {
    let srv = Server::start();
    let mut s = srv.raw();
    s.send_cmd(&["SUBSCRIBE", "news.tech"]);
    assert_eq!(
        s.read_wire(),
        confirm('*', "subscribe", Some("news.tech"), 1)
    );
    s.send_cmd(&["PSUBSCRIBE", "news.*", "h\\*llo", "n[^x]ws.[a-t]ech"]);
    assert_eq!(s.read_wire(), confirm('*', "psubscribe", Some("news.*"), 2));
    assert_eq!(
        s.read_wire(),
        confirm('*', "psubscribe", Some("h\\*llo"), 3)
    );
    assert_eq!(
        s.read_wire(),
        confirm('*', "psubscribe", Some("n[^x]ws.[a-t]ech"), 4)
    );
    let mut p = srv.conn();
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "news.tech", "hi"]), 3);
    // The channel subscription first, then the patterns (in no particular order, as in Redis).
    assert_eq!(s.read_wire(), frame('*', &["message", "news.tech", "hi"]));
    let pm: BTreeSet<String> = (0..2).map(|_| s.read_wire()).collect();
    let want: BTreeSet<String> = [
        frame('*', &["pmessage", "news.*", "news.tech", "hi"]),
        frame('*', &["pmessage", "n[^x]ws.[a-t]ech", "news.tech", "hi"]),
    ]
    .into();
    assert_eq!(pm, want);
    // Globs as Redis's stringmatchlen: an escaped star, a negated class.
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "hello", "x"]), 0);
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "nxws.tech", "x"]), 0);
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "h*llo", "star"]), 1);
    assert_eq!(
        s.read_wire(),
        frame('*', &["pmessage", "h\\*llo", "h*llo", "star"])
    );
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "news", "x"]), 0);
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "nobody-listens", "x"]), 0);
}

#[test]
fn shard_channels_are_apart_from_channels_and_patterns() {
    let srv = Server::start();
    let mut s = srv.raw();
    s.send_cmd(&["SSUBSCRIBE", "orders", "users"]);
    assert_eq!(s.read_wire(), confirm('*', "ssubscribe", Some("orders"), 1));
    assert_eq!(s.read_wire(), confirm('*', "ssubscribe", Some("users"), 2));
    // Channels and patterns count apart from shard channels in the confirmations.
    s.send_cmd(&["PSUBSCRIBE", "*"]);
    assert_eq!(s.read_wire(), confirm('*', "psubscribe", Some("*"), 1));
    let mut p = srv.conn();
    assert_eq!(q::<i64>(&mut p, &["SPUBLISH", "orders", "o1"]), 1);
    assert_eq!(s.read_wire(), frame('*', &["smessage", "orders", "o1"]));
    // PUBLISH to the same name reaches the pattern only, never the shard subscription.
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "orders", "plain"]), 1);
    assert_eq!(
        s.read_wire(),
        frame('*', &["pmessage", "*", "orders", "plain"])
    );
    assert_eq!(q::<i64>(&mut p, &["SPUBLISH", "nobody", "x"]), 0);
    s.send_cmd(&["SUNSUBSCRIBE", "orders"]);
    assert_eq!(
        s.read_wire(),
        confirm('*', "sunsubscribe", Some("orders"), 1)
    );
    s.send_cmd(&["SUNSUBSCRIBE"]);
    assert_eq!(
        s.read_wire(),
        confirm('*', "sunsubscribe", Some("users"), 0)
    );
    s.send_cmd(&["SUNSUBSCRIBE"]);
    assert_eq!(s.read_wire(), confirm('*', "sunsubscribe", None, 0));
    assert_eq!(q::<i64>(&mut p, &["SPUBLISH", "orders", "gone"]), 0);
}

// ---------------------------------------------------------------------------------------------
// RESP2 subscribed mode, RESP3 pushes

#[test]
fn resp2_subscribed_mode_allows_only_redis_commands() {
    let srv = Server::start();
    let mut s = srv.raw();
    s.send_cmd(&["SUBSCRIBE", "a", "b"]);
    assert_eq!(s.read_wire(), confirm('*', "subscribe", Some("a"), 1));
    assert_eq!(s.read_wire(), confirm('*', "subscribe", Some("b"), 2));
    let refused = |cmd: &str| {
        format!(
            "-ERR Can't execute '{cmd}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
             RESET are allowed in this context\r\n"
        )
    };
    s.send_cmd(&["GET", "k"]);
    assert_eq!(s.read_wire(), refused("get"));
    s.send_cmd(&["CLIENT", "LIST"]);
    assert_eq!(s.read_wire(), refused("client|list"));
    s.send_cmd(&["PUBLISH", "a", "x"]);
    assert_eq!(s.read_wire(), refused("publish"));
    // Unknown commands and arity errors come first, as in Redis.
    s.send_cmd(&["GET"]);
    assert_eq!(
        s.read_wire(),
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    // PING answers in the shape of a message.
    s.send_cmd(&["PING"]);
    assert_eq!(s.read_wire(), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    s.send_cmd(&["PING", "hi"]);
    assert_eq!(s.read_wire(), "*2\r\n$4\r\npong\r\n$2\r\nhi\r\n");
    s.send_cmd(&["UNSUBSCRIBE", "a"]);
    assert_eq!(s.read_wire(), confirm('*', "unsubscribe", Some("a"), 1));
    s.send_cmd(&["UNSUBSCRIBE", "not-subscribed"]);
    assert_eq!(
        s.read_wire(),
        confirm('*', "unsubscribe", Some("not-subscribed"), 1)
    );
    s.send_cmd(&["UNSUBSCRIBE"]);
    assert_eq!(s.read_wire(), confirm('*', "unsubscribe", Some("b"), 0));
    s.send_cmd(&["UNSUBSCRIBE"]);
    assert_eq!(s.read_wire(), confirm('*', "unsubscribe", None, 0));
    s.send_cmd(&["PUNSUBSCRIBE"]);
    assert_eq!(s.read_wire(), confirm('*', "punsubscribe", None, 0));
    // Out of pub/sub mode: ordinary replies again.
    s.send_cmd(&["PING"]);
    assert_eq!(s.read_wire(), "+PONG\r\n");
    s.send_cmd(&["GET", "k"]);
    assert_eq!(s.read_wire(), "$-1\r\n");
    // QUIT is allowed while subscribed.
    s.send_cmd(&["SUBSCRIBE", "a"]);
    assert_eq!(s.read_wire(), confirm('*', "subscribe", Some("a"), 1));
    s.send_cmd(&["QUIT"]);
    assert_eq!(s.read_wire(), "+OK\r\n");
    assert!(s.closed_within(Duration::from_secs(5)));
}

#[test]
fn messages_queued_before_unsubscribe_arrive_before_its_reply() {
    let srv = Server::start();
    let mut s = srv.raw();
    s.send_cmd(&["SUBSCRIBE", "c"]);
    assert_eq!(s.read_wire(), confirm('*', "subscribe", Some("c"), 1));
    let mut p = srv.conn();
    for i in 0..50 {
        q::<i64>(&mut p, &["PUBLISH", "c", &i.to_string()]);
    }
    s.send_cmd(&["UNSUBSCRIBE"]);
    for i in 0..50 {
        assert_eq!(s.read_wire(), frame('*', &["message", "c", &i.to_string()]));
    }
    assert_eq!(s.read_wire(), confirm('*', "unsubscribe", Some("c"), 0));
    s.send_cmd(&["GET", "k"]);
    assert_eq!(s.read_wire(), "$-1\r\n");
}

#[test]
fn resp3_clients_get_pushes_and_run_any_command_while_subscribed() {
    let srv = Server::start();
    let mut s = srv.raw();
    assert!(matches!(s.call(&["HELLO", "3"]), Resp::Map(_)));
    s.send_cmd(&["SUBSCRIBE", "ch"]);
    assert_eq!(s.read_wire(), confirm('>', "subscribe", Some("ch"), 1));
    assert_eq!(s.call(&["SET", "k", "v"]), Resp::Simple("OK".into()));
    let mut p = srv.conn();
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "ch", "m1"]), 1);
    s.send_cmd(&["GET", "k"]);
    assert_eq!(s.read_wire(), frame('>', &["message", "ch", "m1"]));
    assert_eq!(s.read_wire(), "$1\r\nv\r\n");
    // Publishing to itself: the push comes before the reply, as in Redis.
    s.send_cmd(&["PUBLISH", "ch", "self"]);
    assert_eq!(s.read_wire(), frame('>', &["message", "ch", "self"]));
    assert_eq!(s.read_wire(), ":1\r\n");
    s.send_cmd(&["PING"]);
    assert_eq!(s.read_wire(), "+PONG\r\n");
    s.send_cmd(&["UNSUBSCRIBE"]);
    assert_eq!(s.read_wire(), confirm('>', "unsubscribe", Some("ch"), 0));
    s.send_cmd(&["UNSUBSCRIBE"]);
    assert_eq!(s.read_wire(), confirm('>', "unsubscribe", None, 0));

    // The same through the `redis` crate's RESP3 push channel.
    let mut c = srv.conn3();
    let (tx, rx) = std::sync::mpsc::channel();
    c.set_push_sender(tx);
    c.subscribe_resp3("crate").expect("subscribe");
    q::<()>(&mut c, &["SET", "k2", "v2"]);
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "crate", "hello"]), 1);
    let v: String = q(&mut c, &["GET", "k2"]);
    assert_eq!(v, "v2");
    let push = loop {
        let m = rx.recv_timeout(common::IO_TIMEOUT).expect("a push");
        if m.kind == redis::PushKind::Message {
            break m;
        }
    };
    let data: Vec<String> = push.data.iter().filter_map(common::vstr).collect();
    assert_eq!(data, ["crate", "hello"]);
}

#[test]
fn a_resp3_subscriber_blocked_in_blpop_still_gets_messages() {
    let srv = Server::start();
    let mut s = srv.raw();
    assert!(matches!(s.call(&["HELLO", "3"]), Resp::Map(_)));
    s.send_cmd(&["SUBSCRIBE", "ch"]);
    assert_eq!(s.read_wire(), confirm('>', "subscribe", Some("ch"), 1));
    s.send_cmd(&["BLPOP", "q", "0"]);
    let mut p = srv.conn();
    assert!(poll_until(Duration::from_secs(10), || {
        info_field(&mut p, "clients", "blocked_clients").as_deref() == Some("1")
    }));
    assert_eq!(q::<i64>(&mut p, &["PUBLISH", "ch", "while-blocked"]), 1);
    assert_eq!(
        s.read_wire(),
        frame('>', &["message", "ch", "while-blocked"])
    );
    q::<i64>(&mut p, &["RPUSH", "q", "x"]);
    assert_eq!(s.read_wire(), frame('*', &["q", "x"]));
}

// ---------------------------------------------------------------------------------------------
// Introspection and clean-up

#[test]
fn pubsub_introspection_counts_and_lists_subscriptions() {
    let srv = Server::start();
    let mut s = srv.raw();
    s.send_cmd(&["SUBSCRIBE", "c1", "c2"]);
    s.read_wire();
    s.read_wire();
    s.send_cmd(&["PSUBSCRIBE", "p*"]);
    s.read_wire();
    s.send_cmd(&["SSUBSCRIBE", "s1"]);
    s.read_wire();
    let mut c = srv.conn();
    let chans: BTreeSet<String> = strings(qv(&mut c, &["PUBSUB", "CHANNELS"]))
        .into_iter()
        .collect();
    assert_eq!(chans, ["c1", "c2"].map(String::from).into());
    assert_eq!(strings(qv(&mut c, &["PUBSUB", "CHANNELS", "*1"])), ["c1"]);
    assert!(strings(qv(&mut c, &["PUBSUB", "CHANNELS", "x*"])).is_empty());
    let numsub = qv(&mut c, &["PUBSUB", "NUMSUB", "c1", "nope"]);
    assert_eq!(
        numsub,
        Value::Array(vec![
            Value::BulkString(b"c1".to_vec()),
            Value::Int(1),
            Value::BulkString(b"nope".to_vec()),
            Value::Int(0)
        ])
    );
    assert_eq!(qv(&mut c, &["PUBSUB", "NUMSUB"]), Value::Array(vec![]));
    assert_eq!(q::<i64>(&mut c, &["PUBSUB", "NUMPAT"]), 1);
    assert_eq!(strings(qv(&mut c, &["PUBSUB", "SHARDCHANNELS"])), ["s1"]);
    assert_eq!(
        qv(&mut c, &["PUBSUB", "SHARDNUMSUB", "s1"]),
        Value::Array(vec![Value::BulkString(b"s1".to_vec()), Value::Int(1)])
    );
    let help = strings(qv(&mut c, &["PUBSUB", "HELP"]));
    assert_eq!(
        help.first().map(String::as_str),
        Some("PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    );
    assert_eq!(help.len(), 14);
    assert_eq!(
        qerr(&mut c, &["PUBSUB", "CHANNELS", "a", "b"]),
        "ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP."
    );
    assert_eq!(
        qerr(&mut c, &["PUBSUB", "NUMPAT", "x"]),
        "ERR wrong number of arguments for 'pubsub|numpat' command"
    );
    assert_eq!(
        qerr(&mut c, &["PUBSUB", "FOO"]),
        "ERR unknown subcommand 'FOO'. Try PUBSUB HELP."
    );
    assert_eq!(
        info_field(&mut c, "stats", "pubsub_channels").as_deref(),
        Some("2")
    );
    assert_eq!(
        info_field(&mut c, "stats", "pubsub_patterns").as_deref(),
        Some("1")
    );
    assert_eq!(
        info_field(&mut c, "stats", "pubsubshard_channels").as_deref(),
        Some("1")
    );
    // CLIENT LIST: the subscriber is a pub/sub client with its counts.
    let list: String = q(&mut c, &["CLIENT", "LIST", "TYPE", "pubsub"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 1, "{list}");
    assert!(lines[0].contains(" flags=P "), "{list}");
    assert!(lines[0].contains(" sub=2 psub=1 ssub=1 "), "{list}");
    let normal: String = q(&mut c, &["CLIENT", "LIST", "TYPE", "normal"]);
    assert!(normal.lines().all(|l| l.contains(" flags=N ")), "{normal}");
    // Closing the connection removes every subscription.
    drop(s);
    assert!(poll_until(Duration::from_secs(10), || {
        info_field(&mut c, "stats", "pubsub_channels").as_deref() == Some("0")
    }));
    assert_eq!(q::<i64>(&mut c, &["PUBSUB", "NUMPAT"]), 0);
    assert!(strings(qv(&mut c, &["PUBSUB", "SHARDCHANNELS"])).is_empty());
    assert_eq!(
        info_field(&mut c, "stats", "pubsubshard_channels").as_deref(),
        Some("0")
    );
}

#[test]
fn reset_leaves_pub_sub_mode_and_its_subscriptions() {
    let srv = Server::start();
    let mut s = srv.raw();
    s.send_cmd(&["SUBSCRIBE", "r"]);
    s.read_wire();
    s.send_cmd(&["PSUBSCRIBE", "r*"]);
    s.read_wire();
    s.send_cmd(&["RESET"]);
    assert_eq!(s.read_wire(), "+RESET\r\n");
    let mut c = srv.conn();
    assert_eq!(q::<i64>(&mut c, &["PUBLISH", "r", "x"]), 0);
    assert_eq!(q::<i64>(&mut c, &["PUBSUB", "NUMPAT"]), 0);
    s.send_cmd(&["GET", "k"]);
    assert_eq!(s.read_wire(), "$-1\r\n");
}

#[test]
fn publish_records_no_change() {
    if !eddy_only("publish_records_no_change") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v"]);
    let before = common::vget(&qv(&mut c, &["CHANGES", "INFO"]), "last-offset");
    q::<i64>(&mut c, &["PUBLISH", "ch", "x"]);
    q::<i64>(&mut c, &["SPUBLISH", "ch", "x"]);
    let after = common::vget(&qv(&mut c, &["CHANGES", "INFO"]), "last-offset");
    assert_eq!(before, after);
}

// ---------------------------------------------------------------------------------------------
// Keyspace notifications

/// A pattern subscriber to every keyspace and keyevent channel of every database.
fn notification_listener(srv: &Server) -> Raw {
    let mut s = srv.raw();
    s.send_cmd(&["PSUBSCRIBE", "__key*__:*"]);
    assert_eq!(
        s.read_wire(),
        confirm('*', "psubscribe", Some("__key*__:*"), 1)
    );
    s
}

/// The next notification as (channel, payload).
fn next_note(s: &mut Raw) -> (String, String) {
    let m = next_msg(s);
    assert_eq!(m[0], "pmessage", "{m:?}");
    (m[2].clone(), m[3].clone())
}

/// (key, event) pairs a command must notify, in order.
type Events<'a> = &'a [(&'a str, &'a str)];

/// Checks that the next notifications are exactly `events` (key, event) in db 0, as keyspace
/// then keyevent pairs, and nothing else: a sentinel published afterwards must come next.
fn expect_notes(s: &mut Raw, p: &mut redis::Connection, events: &[(&str, &str)]) {
    for (key, event) in events {
        assert_eq!(
            next_note(s),
            (format!("__keyspace@0__:{key}"), event.to_string()),
            "expecting {events:?}"
        );
        assert_eq!(
            next_note(s),
            (format!("__keyevent@0__:{event}"), key.to_string()),
            "expecting {events:?}"
        );
    }
    q::<i64>(p, &["PUBLISH", "__keyspace@0__:sentinel", "."]);
    assert_eq!(
        next_note(s),
        ("__keyspace@0__:sentinel".to_string(), ".".to_string()),
        "nothing more than {events:?}"
    );
}

#[test]
fn keyspace_notifications_match_redis_for_each_type() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut s = notification_listener(&srv);
    let mut p = srv.conn();
    let cases: &[(&[&str], Events)] = &[
        (&["SET", "k", "v"], &[("k", "set")]),
        (
            &["SETEX", "k2", "100", "v"],
            &[("k2", "set"), ("k2", "expire")],
        ),
        (&["INCR", "n"], &[("n", "incrby")]),
        (&["APPEND", "k", "x"], &[("k", "append")]),
        (&["DEL", "k", "missing"], &[("k", "del")]),
        (&["EXPIRE", "k2", "200"], &[("k2", "expire")]),
        (&["PERSIST", "k2"], &[("k2", "persist")]),
        (&["PERSIST", "k2"], &[]),
        (
            &["RENAME", "k2", "k3"],
            &[("k2", "rename_from"), ("k3", "rename_to")],
        ),
        (&["LPUSH", "l", "a", "b"], &[("l", "lpush")]),
        (&["RPOP", "l"], &[("l", "rpop")]),
        (&["RPOP", "l"], &[("l", "rpop"), ("l", "del")]),
        (&["HSET", "h", "f", "v"], &[("h", "hset")]),
        (&["HDEL", "h", "f"], &[("h", "hdel"), ("h", "del")]),
        (&["SADD", "s", "a", "b"], &[("s", "sadd")]),
        (&["SREM", "s", "a"], &[("s", "srem")]),
        (&["SREM", "s", "b"], &[("s", "srem"), ("s", "del")]),
        (&["ZADD", "z", "1", "a"], &[("z", "zadd")]),
        (&["ZINCRBY", "z", "2", "a"], &[("z", "zincr")]),
        (&["ZADD", "z", "NX", "1", "a"], &[]),
        (&["PFADD", "hll", "a"], &[("hll", "pfadd")]),
        (&["PFADD", "hll", "a"], &[]),
        (&["PFCOUNT", "hll"], &[]),
        (&["PFDEBUG", "TODENSE", "hll"], &[]),
        (&["PFMERGE", "hll2", "hll"], &[("hll2", "pfadd")]),
        (&["GET", "k3"], &[]),
        (&["FLUSHALL"], &[]),
    ];
    for (cmd, events) in cases {
        qv(&mut c, cmd);
        expect_notes(&mut s, &mut p, events);
    }
    // Expiry by the server: `expired`, with no command touching the key.
    q::<()>(&mut c, &["SET", "e", "v", "PX", "50"]);
    expect_notes(&mut s, &mut p, &[("e", "set"), ("e", "expire")]);
    assert_eq!(
        next_note(&mut s),
        ("__keyspace@0__:e".into(), "expired".into())
    );
    assert_eq!(
        next_note(&mut s),
        ("__keyevent@0__:expired".into(), "e".into())
    );
}

#[test]
fn notification_classes_channels_and_databases_follow_the_flags() {
    let srv = Server::start();
    let mut c = srv.conn();
    // Nothing by default.
    let v = qv(&mut c, &["CONFIG", "GET", "notify-keyspace-events"]);
    assert_eq!(
        common::vget(&v, "notify-keyspace-events")
            .as_ref()
            .and_then(common::vstr)
            .as_deref(),
        Some("")
    );
    let mut s = notification_listener(&srv);
    let mut p = srv.conn();
    q::<()>(&mut c, &["SET", "quiet", "1"]);
    expect_notes(&mut s, &mut p, &[]);
    // Lists on the keyspace channel only: the string write before emits nothing.
    q::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Kl"]);
    q::<()>(&mut c, &["SET", "x", "1"]);
    q::<i64>(&mut c, &["LPUSH", "l", "a"]);
    assert_eq!(
        next_note(&mut s),
        ("__keyspace@0__:l".into(), "lpush".into())
    );
    expect_notes(&mut s, &mut p, &[]);
    // Generic events on the keyevent channel only, in the selected database.
    q::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Eg"]);
    q::<()>(&mut c, &["SELECT", "5"]);
    q::<()>(&mut c, &["SET", "d5", "v"]);
    q::<i64>(&mut c, &["DEL", "d5"]);
    assert_eq!(
        next_note(&mut s),
        ("__keyevent@5__:del".into(), "d5".into())
    );
    expect_notes(&mut s, &mut p, &[]);
    // `new` only with `n`, which CONFIG GET does not show next to `A` (as in Redis).
    q::<()>(&mut c, &["SELECT", "0"]);
    q::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEAn"]);
    let got = qv(&mut c, &["CONFIG", "GET", "notify-keyspace-events"]);
    assert_eq!(
        common::vget(&got, "notify-keyspace-events")
            .as_ref()
            .and_then(common::vstr)
            .as_deref(),
        Some("AKE")
    );
    q::<()>(&mut c, &["SET", "fresh", "v"]);
    expect_notes(&mut s, &mut p, &[("fresh", "new"), ("fresh", "set")]);
    q::<()>(&mut c, &["SET", "fresh", "v2"]);
    expect_notes(&mut s, &mut p, &[("fresh", "set")]);
}

#[test]
fn notify_keyspace_events_config_round_trips_like_redis() {
    let srv = Server::start_with(&["--notify-keyspace-events", "Kx"]);
    let mut c = srv.conn();
    let get = |c: &mut redis::Connection| {
        let v = qv(c, &["CONFIG", "GET", "notify-keyspace-events"]);
        common::vget(&v, "notify-keyspace-events")
            .as_ref()
            .and_then(common::vstr)
            .expect("value")
    };
    assert_eq!(get(&mut c), "xK");
    for (set, shown) in [
        ("KEA", "AKE"),
        ("An", "A"),
        ("g$lshzxetdnKEm", "AKEm"),
        ("KEgz$", "g$zKE"),
        ("Eh", "hE"),
        ("", ""),
    ] {
        q::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", set]);
        assert_eq!(get(&mut c), shown, "after setting {set:?}");
    }
    q::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "Eh"]);
    assert_eq!(
        qerr(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEq"]),
        "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - \
         Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
    );
    assert_eq!(get(&mut c), "hE");
}

#[test]
fn notifications_are_published_in_the_change_logs_order() {
    if !eddy_only("notifications_are_published_in_the_change_logs_order") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "E$"]);
    let mut s = srv.raw();
    s.send_cmd(&["SUBSCRIBE", "__keyevent@0__:set"]);
    s.read_wire();
    let start: i64 = match common::vget(&qv(&mut c, &["CHANGES", "INFO"]), "last-offset") {
        Some(Value::Int(i)) => i,
        other => panic!("{other:?}"),
    };
    const N: usize = 300;
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let mut wc = srv.conn();
            std::thread::spawn(move || {
                for i in 0..N {
                    q::<()>(&mut wc, &["SET", &format!("w{w}:{i}"), "v"]);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer");
    }
    let notified: Vec<String> = (0..4 * N).map(|_| next_msg(&mut s)[2].clone()).collect();
    let logged: Vec<String> = match qv(
        &mut c,
        &["CHANGES", "READ", &format!("({start}"), "COUNT", "100000"],
    ) {
        Value::Array(evs) => evs
            .iter()
            .map(|e| {
                common::vget(e, "key")
                    .as_ref()
                    .and_then(common::vstr)
                    .expect("key")
            })
            .collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(notified, logged);
}

// ---------------------------------------------------------------------------------------------
// Output buffer limits

#[test]
fn client_output_buffer_limit_config_round_trips_like_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    let get = |c: &mut redis::Connection| {
        let v = qv(c, &["CONFIG", "GET", "client-output-buffer-limit"]);
        common::vget(&v, "client-output-buffer-limit")
            .as_ref()
            .and_then(common::vstr)
            .expect("value")
    };
    assert_eq!(
        get(&mut c),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
    );
    q::<()>(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "pubsub 1mb 2kb 3",
        ],
    );
    assert_eq!(
        get(&mut c),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 2048 3"
    );
    q::<()>(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "client-output-buffer-limit",
            "replica 10 20 30 normal 1 2 3",
        ],
    );
    assert_eq!(
        get(&mut c),
        "normal 1 2 3 slave 10 20 30 pubsub 1048576 2048 3"
    );
    let failed = |why: &str| {
        format!(
            "ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - \
             {why}"
        )
    };
    assert_eq!(
        qerr(
            &mut c,
            &["CONFIG", "SET", "client-output-buffer-limit", "foo 1 2 3"]
        ),
        failed("Invalid client class specified in buffer limit configuration.")
    );
    assert_eq!(
        qerr(
            &mut c,
            &["CONFIG", "SET", "client-output-buffer-limit", "pubsub 1 2"]
        ),
        failed("Wrong number of arguments in buffer limit configuration.")
    );
    assert_eq!(
        qerr(
            &mut c,
            &[
                "CONFIG",
                "SET",
                "client-output-buffer-limit",
                "pubsub x 2 3"
            ]
        ),
        failed("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
    );
    assert_eq!(
        get(&mut c),
        "normal 1 2 3 slave 10 20 30 pubsub 1048576 2048 3"
    );
}

#[test]
fn a_subscriber_that_never_reads_is_disconnected_and_the_others_get_everything() {
    let srv = Server::start_with(&["--client-output-buffer-limit", "pubsub 1mb 512kb 60"]);
    // The slow subscriber subscribes, then never reads again.
    let mut slow = srv.raw();
    slow.send_cmd(&["SUBSCRIBE", "big"]);
    assert_eq!(slow.read_wire(), confirm('*', "subscribe", Some("big"), 1));
    const N: usize = 300;
    const SIZE: usize = 64 * 1024;
    let mut good = srv.conn();
    // The good reader reports its progress: the publisher keeps at most WINDOW messages ahead
    // of it, so only the slow subscriber can reach the limit, however slowly this machine
    // schedules the reader's thread.
    const WINDOW: usize = 4;
    let (progress, reader_at) = std::sync::mpsc::channel::<usize>();
    let reader = std::thread::spawn(move || {
        let mut ps = good.as_pubsub();
        ps.subscribe("big").expect("subscribe");
        ps.set_read_timeout(Some(common::IO_TIMEOUT))
            .expect("timeout");
        let mut seen = 0;
        while seen < N {
            let m = ps.get_message().expect("every message");
            let payload = m.get_payload_bytes();
            assert_eq!(payload.len(), SIZE);
            let seq: usize = std::str::from_utf8(&payload[..8])
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .expect("sequence");
            assert_eq!(seq, seen, "in order");
            seen += 1;
            let _ = progress.send(seen);
        }
        seen
    });
    let mut p = srv.conn();
    assert!(poll_until(Duration::from_secs(10), || {
        qv(&mut p, &["PUBSUB", "NUMSUB", "big"])
            == Value::Array(vec![Value::BulkString(b"big".to_vec()), Value::Int(2)])
    }));
    // The publisher never waits for the slow subscriber (each PUBLISH answers within the
    // connection's read timeout), and the slow one drops out of the count once closed.
    let mut counts = Vec::new();
    let mut read = 0;
    for i in 0..N {
        while i >= read + WINDOW {
            read = reader_at
                .recv_timeout(common::IO_TIMEOUT)
                .expect("the good reader keeps reading");
        }
        let mut payload = format!("{i:<8}").into_bytes();
        payload.resize(SIZE, b'x');
        let n: i64 = redis::cmd("PUBLISH")
            .arg("big")
            .arg(payload)
            .query(&mut p)
            .expect("publish");
        counts.push(n);
    }
    assert_eq!(reader.join().expect("reader"), N);
    assert_eq!(counts[0], 2);
    assert!(counts.windows(2).all(|w| w[1] <= w[0]), "{counts:?}");
    assert_eq!(
        counts.last(),
        Some(&1),
        "the slow subscriber was dropped: {counts:?}"
    );
    assert!(slow.closed_within(Duration::from_secs(10)));
    assert!(poll_until(Duration::from_secs(10), || srv.log().contains(
        "scheduled to be closed ASAP for overcoming of output buffer limits"
    )));
    if !reference_mode() {
        assert_eq!(
            info_field(&mut p, "stats", "client_output_buffer_limit_disconnections").as_deref(),
            Some("1")
        );
    }
    // The server carries on.
    assert_eq!(q::<String>(&mut p, &["PING"]), "PONG");
}

/// Commands sent on two connections one after the other run in that order, as Redis's event
/// loop serves them: a SUBSCRIBE written before a PUBLISH on another connection hears it, even
/// when both arrive together. (tokio's default LIFO slot served the second connection first
/// in about half of such pairs.)
#[test]
fn a_subscribe_sent_before_a_publish_on_another_connection_hears_it() {
    let srv = Server::start();
    let mut publisher = srv.raw();
    // Both connections are served once first: a new connection is registered for writes too,
    // and the kernel reports it ready ahead of one whose bytes came earlier.
    assert_eq!(publisher.call(&["PING"]), Resp::Simple("PONG".into()));
    for i in 0..100 {
        let channel = format!("order:{i}");
        let mut subscriber = srv.raw();
        assert_eq!(subscriber.call(&["PING"]), Resp::Simple("PONG".into()));
        subscriber.send_cmd(&["SUBSCRIBE", &channel]);
        publisher.send_cmd(&["PUBLISH", &channel, "m"]);
        assert_eq!(publisher.read_reply(), Resp::Int(1), "pair {i}");
    }
}

/// CLIENT REPLY OFF silences replies but not pub/sub: subscribe and unsubscribe confirmations
/// and messages still arrive, in RESP2 and RESP3, as in Redis 7.0.15 (its `CLIENT_PUSHING`).
#[test]
fn client_reply_off_still_delivers_pubsub_confirmations_and_messages() {
    let srv = Server::start();
    let mut p = srv.conn();
    for resp3 in [false, true] {
        let mut rd = srv.raw();
        if resp3 {
            assert!(matches!(rd.call(&["HELLO", "3"]), Resp::Map(_)));
        }
        let wrap = |items: Vec<Resp>| {
            if resp3 {
                Resp::Push(items)
            } else {
                Resp::Array(items)
            }
        };
        let bulk = |s: &str| Resp::Bulk(s.as_bytes().to_vec());
        rd.send_cmd(&["CLIENT", "REPLY", "OFF"]);
        rd.send_cmd(&["SUBSCRIBE", "channel"]);
        assert_eq!(
            rd.read_reply(),
            wrap(vec![bulk("subscribe"), bulk("channel"), Resp::Int(1)])
        );
        assert_eq!(q::<i64>(&mut p, &["PUBLISH", "channel", "hello"]), 1);
        assert_eq!(
            rd.read_reply(),
            wrap(vec![bulk("message"), bulk("channel"), bulk("hello")])
        );
        rd.send_cmd(&["UNSUBSCRIBE", "channel"]);
        assert_eq!(
            rd.read_reply(),
            wrap(vec![bulk("unsubscribe"), bulk("channel"), Resp::Int(0)])
        );
        // Other replies stay silent: the next thing read is what CLIENT REPLY ON answers.
        rd.send_cmd(&["PING"]);
        rd.send_cmd(&["CLIENT", "REPLY", "ON"]);
        assert_eq!(rd.read_reply(), Resp::Simple("OK".into()));
    }
}
