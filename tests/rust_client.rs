//! The Rust client (`clients/rust`, crate `eddy-client`) against the real server over the
//! MessagePack door: commands and pipelining, pub/sub, the change feed (filters, images, start
//! positions, automatic resume after a disconnect, the typed refusal when the log's history
//! changed), snapshot-then-follow, and consumer groups.
//!
//! These tests live in the root package (with `eddy-client` as a dev-dependency) rather than in
//! `clients/rust/tests/` so that Cargo builds `eddy-server` first and hands its path to the
//! harness (`CARGO_BIN_EXE_eddy-server`); a test in the client crate could only guess a path
//! under `target/` and find a missing or stale binary.

mod common;

use std::future::Future;
use std::time::Duration;

use common::{q, Server};
use eddy_client::{
    cmd, Change, ChangeKind, ChangeStream, Client, Config, Error, Filter, GroupOptions, Images,
    Origin, Start, Value,
};
use futures_util::StreamExt;

const WAIT: Duration = Duration::from_secs(10);

/// Awaits `f`, failing the test after [`WAIT`].
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// The next event of a feed that must still be running.
async fn next_change(feed: &mut ChangeStream, what: &str) -> Change {
    match within(what, feed.next()).await {
        Some(Ok(c)) => c,
        other => panic!("expected {what}, got {other:?}"),
    }
}

async fn client(srv: &Server) -> Client {
    Client::connect(format!("127.0.0.1:{}", srv.msgpack_port))
        .await
        .expect("connect to the MessagePack door")
}

fn bytes(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

#[tokio::test]
async fn commands_are_binary_safe_typed_and_pipelined() {
    let srv = Server::start_doors(&[]);
    let c = client(&srv).await;

    assert_eq!(c.cmd(&["SET", "k", "v"]).await.unwrap(), bytes("OK"));
    assert_eq!(c.cmd(&["GET", "k"]).await.unwrap(), bytes("v"));
    assert_eq!(c.cmd(&["GET", "missing"]).await.unwrap(), Value::Nil);
    let blob = [0xff_u8, 0x00, b'\r', b'\n'];
    c.exec(&cmd("SET").arg(&blob[..]).arg(&blob)).await.unwrap();
    assert_eq!(
        c.exec(&cmd("GET").arg(&blob)).await.unwrap(),
        Value::Bytes(blob.to_vec())
    );

    // Typed replies.
    let n: i64 = c.query(&cmd("INCRBY").arg("n").arg(&41)).await.unwrap();
    assert_eq!(n, 41);
    c.cmd(&["HSET", "h", "f", "1"]).await.unwrap();
    let h: std::collections::HashMap<String, String> =
        c.query(&cmd("HGETALL").arg("h")).await.unwrap();
    assert_eq!(h.get("f").map(String::as_str), Some("1"));

    // Errors carry the server's code, and the connection carries on.
    let e = c.cmd(&["INCR", "h"]).await.unwrap_err();
    assert_eq!(e.code(), Some("WRONGTYPE"), "{e}");
    assert!(matches!(e, Error::Server(_)));

    // Many requests in flight at once from many tasks, each reply matched to its request.
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let c = c.clone();
            tokio::spawn(async move {
                let key = format!("p:{i}");
                c.cmd(&["SET", key.as_str(), &i.to_string()]).await.unwrap();
                c.cmd(&["GET", key.as_str()]).await.unwrap()
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(within("a reply", t).await.unwrap(), bytes(&i.to_string()));
    }
    // An explicit pipeline: replies in order, an error in the middle does not stop the rest.
    let cmds: Vec<_> = (0..50)
        .map(|i| {
            if i == 25 {
                cmd("INCR").arg("h")
            } else {
                cmd("INCR").arg("counter")
            }
        })
        .collect();
    let replies = within("a pipeline", c.pipeline(&cmds)).await;
    assert_eq!(replies.len(), 50);
    assert!(replies[25].is_err());
    assert_eq!(replies[49].as_ref().unwrap(), &Value::Int(49));

    // EXEC's reply holds an error element as Value::Error.
    c.cmd(&["MULTI"]).await.unwrap();
    c.cmd(&["SET", "t", "1"]).await.unwrap();
    c.cmd(&["INCR", "h"]).await.unwrap();
    match c.cmd(&["EXEC"]).await.unwrap() {
        Value::Array(items) => {
            assert_eq!(items[0], bytes("OK"));
            assert!(matches!(&items[1], Value::Error(e) if e.starts_with("WRONGTYPE")));
        }
        other => panic!("EXEC replied {other:?}"),
    }
}

#[tokio::test]
async fn subscriptions_stream_channel_and_pattern_messages() {
    let srv = Server::start_doors(&[]);
    let c = client(&srv).await;
    let mut sub = c.subscribe(&["news"]).await.unwrap();
    sub.psubscribe(&["alerts:*"]).await.unwrap();
    assert_eq!(
        c.cmd(&["PUBLISH", "news", "hello"]).await.unwrap(),
        Value::Int(1)
    );
    c.exec(&cmd("PUBLISH").arg("alerts:disk").arg(&[0xffu8, 1]))
        .await
        .unwrap();

    let m = within("a message", sub.next()).await.expect("stream open");
    assert_eq!(
        (m.channel.as_slice(), m.text().as_str()),
        (&b"news"[..], "hello")
    );
    assert_eq!(m.pattern, None);
    let m = within("a pattern message", sub.next()).await.expect("open");
    assert_eq!(m.channel, b"alerts:disk");
    assert_eq!(m.pattern.as_deref(), Some(&b"alerts:*"[..]));
    assert_eq!(m.payload, vec![0xff, 1]);

    // Other commands still work on the subscribed connection.
    assert_eq!(sub.client().cmd(&["PING"]).await.unwrap(), bytes("PONG"));
}

#[tokio::test]
async fn the_feed_is_typed_filtered_with_images_and_start_positions() {
    let srv = Server::start_doors(&[]);
    let c = client(&srv).await;
    c.cmd(&["SET", "order:1", "new"]).await.unwrap();
    c.cmd(&["SET", "other", "x"]).await.unwrap();
    c.cmd(&["SET", "order:1", "paid"]).await.unwrap();
    c.cmd(&["DEL", "order:1"]).await.unwrap();

    let mut feed = c
        .changes()
        .start(Start::Earliest)
        .pattern("order:*")
        .events(["set"])
        .images(Images::New)
        .follow()
        .await
        .unwrap();
    let a = next_change(&mut feed, "event 1").await;
    let b = next_change(&mut feed, "event 2").await;
    assert_eq!((a.key_str().as_str(), a.event.as_str()), ("order:1", "set"));
    assert_eq!(a.change, ChangeKind::Insert);
    assert_eq!(b.change, ChangeKind::Modify);
    assert_eq!(a.origin, Origin::Client);
    assert_eq!(a.kind, "string");
    assert_eq!(
        a.args,
        vec![b"SET".to_vec(), b"order:1".to_vec(), b"new".to_vec()]
    );
    assert_eq!(b.new, Some(bytes("paid")));
    assert!(a.offset < b.offset && a.ts > 0 && a.client > 0);
    assert_eq!(feed.position().next, b.offset + 1);

    // Live: only matching events arrive (the DEL and `other` were filtered out above).
    c.cmd(&["SET", "order:2", "x"]).await.unwrap();
    let live = next_change(&mut feed, "a live event").await;
    assert_eq!(live.key, b"order:2");

    // Starting after an offset, and reading a page.
    let info = c.changes_info().await.unwrap();
    assert!(!info.epoch.is_empty());
    let page = c
        .read_changes(
            Start::After(a.offset),
            10,
            None,
            &Filter::default(),
            Images::Keys,
        )
        .await
        .unwrap();
    assert_eq!(page.first().map(|e| e.offset), Some(a.offset + 1));
    assert_eq!(page.last().map(|e| e.offset), Some(info.last_offset));
    let none = c
        .read_changes(
            Start::Latest,
            10,
            Some(Duration::from_millis(50)),
            &Filter::default(),
            Images::Keys,
        )
        .await
        .unwrap();
    assert!(none.is_empty(), "{none:?}");

    // Serde: an event prints as JSON with text keys.
    let json = serde_json::to_string(&live).unwrap();
    assert!(json.contains("\"key\":\"order:2\""), "{json}");
}

/// The ids of the connections through `door` (`msgpack`, `websocket`), from `CLIENT LIST`.
fn door_client_ids(srv: &Server, door: &str) -> Vec<String> {
    let list: String = q(&mut srv.conn(), &["CLIENT", "LIST"]);
    list.lines()
        .filter(|l| l.ends_with(&format!(" door={door}")))
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("id=")))
        .map(str::to_owned)
        .collect()
}

/// Waits until the feed's is the only connection through `door` (the command connections
/// closed), and returns its id.
async fn only_connection(srv: &Server, door: &str) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let ids = door_client_ids(srv, door);
        if ids.len() == 1 {
            return ids;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only the feed should be left on the {door} door: {ids:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Follows `job:*` through `c`'s door, cuts the feed's connection with `CLIENT KILL` halfway
/// through ten writes, and checks that every event arrives exactly once, in order.
async fn feed_survives_a_kill(srv: &Server, c: Client, door: &str) {
    let mut resp = srv.conn();
    let mut feed = c.changes().pattern("job:*").follow().await.unwrap();
    drop(c);
    for i in 0..5 {
        let _: () = q(&mut resp, &["SET", &format!("job:{i}"), "x"]);
    }
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(next_change(&mut feed, "an event").await);
    }

    // Cut the feed's connection; write while it is gone.
    let ids = only_connection(srv, door).await;
    let killed: i64 = q(&mut resp, &["CLIENT", "KILL", "ID", &ids[0]]);
    assert_eq!(killed, 1);
    for i in 5..10 {
        let _: () = q(&mut resp, &["SET", &format!("job:{i}"), "x"]);
    }
    for _ in 5..10 {
        seen.push(next_change(&mut feed, "an event after the reconnect").await);
    }
    let keys: Vec<String> = seen.iter().map(|c| c.key_str()).collect();
    let want: Vec<String> = (0..10).map(|i| format!("job:{i}")).collect();
    assert_eq!(keys, want, "every event exactly once, in order");
    assert!(seen.windows(2).all(|w| w[0].offset < w[1].offset));
    assert!(feed.reconnects() >= 1);
    let new_ids = only_connection(srv, door).await;
    assert_ne!(new_ids, ids, "the feed is on a new connection");
}

#[tokio::test]
async fn the_feed_resumes_after_a_disconnect_with_nothing_lost_or_repeated() {
    let srv = Server::start_doors(&[]);
    feed_survives_a_kill(&srv, client(&srv).await, "msgpack").await;
}

#[tokio::test]
async fn the_websocket_transport_runs_commands_subscriptions_and_a_resuming_feed() {
    let srv = Server::start_doors(&[]);
    let url = format!("ws://127.0.0.1:{}/ws", srv.http_port);
    let c = Client::connect(url).await.unwrap();
    let blob = [0xff_u8, 0x00];
    c.exec(&cmd("SET").arg("k").arg(&blob)).await.unwrap();
    assert_eq!(
        c.exec(&cmd("GET").arg("k")).await.unwrap(),
        Value::Bytes(blob.to_vec())
    );
    let e = c.cmd(&["INCR", "k"]).await.unwrap_err();
    assert_eq!(e.code(), Some("ERR"), "{e}");
    let cmds: Vec<_> = (0..20).map(|_| cmd("INCR").arg("n")).collect();
    let replies = within("a pipeline", c.pipeline(&cmds)).await;
    assert_eq!(replies[19].as_ref().unwrap(), &Value::Int(20));

    let mut sub = c.subscribe(&["news"]).await.unwrap();
    c.cmd(&["PUBLISH", "news", "over ws"]).await.unwrap();
    let m = within("a message", sub.next()).await.unwrap();
    assert_eq!(m.text(), "over ws");
    drop(sub);

    feed_survives_a_kill(&srv, c, "websocket").await;
}

/// A server whose MessagePack door has a fixed port, so that a restarted or replacement server
/// takes the same address; returns it with that address and its options.
fn restartable_server() -> (Server, String, Vec<String>) {
    let mp = common::free_port().to_string();
    let addr = format!("127.0.0.1:{mp}");
    let args: Vec<String> = ["--msgpack-port", &mp, "--appendfsync", "always"]
        .map(str::to_owned)
        .to_vec();
    (Server::start_with(&strs(&args)), addr, args)
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[tokio::test]
async fn the_feed_resumes_across_a_server_restart_with_the_same_log() {
    let (srv, addr, args) = restartable_server();
    let c = Client::connect(addr.clone()).await.unwrap();
    let mut feed = c.changes().follow().await.unwrap();
    c.cmd(&["SET", "before", "1"]).await.unwrap();
    let first = next_change(&mut feed, "an event").await;
    drop(c);

    // Down (the feed retries, refused), then up again on the same data and port.
    let srv = Server::start_in(srv.stop(), &strs(&args));
    let c = Client::connect(addr).await.unwrap();
    c.cmd(&["SET", "after", "2"]).await.unwrap();
    let next = next_change(&mut feed, "the event after the restart").await;
    assert_eq!(next.key, b"after");
    assert_eq!(
        next.offset,
        first.offset + 1,
        "nothing lost, nothing repeated"
    );
    assert!(feed.reconnects() >= 1);
    drop(srv);
}

#[tokio::test]
async fn a_resume_into_a_changed_history_is_refused_with_a_typed_error() {
    let (srv, addr, args) = restartable_server();
    let c = Client::connect(addr.clone()).await.unwrap();
    let epoch = c.changes_info().await.unwrap().epoch;

    // A saved position with the wrong epoch is refused at once.
    let refused = c
        .changes()
        .start(Start::At(1))
        .epoch("not-the-epoch")
        .follow()
        .await;
    assert!(
        matches!(refused, Err(Error::EpochChanged(_))),
        "{:?}",
        refused.err()
    );

    let mut feed = c.changes().follow().await.unwrap();
    c.cmd(&["SET", "a", "1"]).await.unwrap();
    let first = next_change(&mut feed, "an event").await;
    assert_eq!(first.key, b"a");
    assert_eq!(feed.position().epoch, epoch);
    drop(c);

    // The server is replaced by one with another history on the same port: the feed
    // reconnects, asks to resume with the old epoch, and is refused.
    drop(srv.stop());
    let srv2 = Server::start_with(&strs(&args));
    let c2 = Client::connect(addr).await.unwrap();
    assert_ne!(c2.changes_info().await.unwrap().epoch, epoch);
    match within("the refusal", feed.next()).await {
        Some(Err(e @ Error::EpochChanged(_))) => assert!(e.is_resume_refused()),
        other => panic!("expected Error::EpochChanged, got {other:?}"),
    }
    assert!(within("the end of the stream", feed.next()).await.is_none());
    drop(srv2);
}

#[tokio::test]
async fn the_password_and_database_apply_to_every_connection_of_a_client() {
    let srv = Server::start_doors(&["--requirepass", "pw"]);
    let addr = format!("127.0.0.1:{}", srv.msgpack_port);
    let denied = Client::connect(addr.clone()).await.unwrap();
    let e = denied.cmd(&["GET", "k"]).await.unwrap_err();
    assert_eq!(e.code(), Some("NOAUTH"), "{e}");

    let c = Client::connect_with(Config::new(addr).password("pw").db(2))
        .await
        .unwrap();
    // The feed's own connection authenticates and selects the database too.
    let mut feed = c.changes().db(2).follow().await.unwrap();
    c.cmd(&["SET", "in-db-2", "x"]).await.unwrap();
    let ev = next_change(&mut feed, "an event").await;
    assert_eq!((ev.db, ev.key.as_slice()), (2, &b"in-db-2"[..]));
    let mut resp = srv.conn();
    let _: () = q(&mut resp, &["AUTH", "pw"]);
    let _: () = q(&mut resp, &["SELECT", "2"]);
    let v: String = q(&mut resp, &["GET", "in-db-2"]);
    assert_eq!(v, "x");
}

#[tokio::test]
async fn trimmed_offsets_end_the_feed_with_a_typed_error() {
    // The log lives in 1 MB of memory only, so old records are trimmed quickly.
    let srv = Server::start_doors(&["--appendonly", "no", "--changes-memory-bytes", "1mb"]);
    let c = client(&srv).await;
    let mut feed = c.changes().follow().await.unwrap();
    // The feed is not read meanwhile: its queues fill, the server pauses it, and its cursor
    // falls out of the log.
    let mut resp = srv.conn();
    let big = "x".repeat(1000);
    for chunk in 0..10 {
        let mut p = redis::pipe();
        for i in 0..1000 {
            p.cmd("SET").arg(format!("k{chunk}:{i}")).arg(&big).ignore();
        }
        p.query::<()>(&mut resp).unwrap();
    }
    let first = c.changes_info().await.unwrap().first_offset;
    assert!(first > 1, "the log was trimmed");

    // Starting at a trimmed offset is refused at once, naming the earliest offset.
    match c.changes().start(Start::At(1)).follow().await {
        Err(Error::Trimmed { earliest, .. }) => assert_eq!(earliest, Some(first)),
        other => panic!("expected Error::Trimmed, got {:?}", other.err()),
    }

    // The paused feed delivers what it had, then the error, then ends.
    let mut last = 0;
    loop {
        match within("the feed", feed.next()).await {
            Some(Ok(c)) => {
                assert!(c.offset > last, "in order, no repeats");
                last = c.offset;
            }
            Some(Err(e)) => {
                assert!(matches!(e, Error::Trimmed { .. }), "{e:?}");
                break;
            }
            None => panic!("the feed ended without an error"),
        }
    }
    assert!(last < first, "events past the gap never arrive");
    assert!(within("the end", feed.next()).await.is_none());
}

#[tokio::test]
async fn snapshot_then_follow_has_no_gap_and_no_duplicate() {
    let srv = Server::start_doors(&[]);
    let c = client(&srv).await;
    c.cmd(&["SET", "user:1", "alice"]).await.unwrap();
    c.cmd(&["HSET", "user:2", "name", "bob"]).await.unwrap();
    c.cmd(&["SET", "other", "x"]).await.unwrap();
    let (snap, mut feed) = c
        .changes()
        .pattern("user:*")
        .snapshot_then_follow()
        .await
        .unwrap();
    let mut keys: Vec<String> = snap
        .entries
        .iter()
        .map(|e| String::from_utf8_lossy(&e.key).into_owned())
        .collect();
    keys.sort();
    assert_eq!(keys, ["user:1", "user:2"]);
    let alice = snap.entries.iter().find(|e| e.key == b"user:1").unwrap();
    assert_eq!(
        (alice.kind.as_str(), &alice.value, alice.pttl),
        ("string", &bytes("alice"), -1)
    );

    c.cmd(&["SET", "user:3", "carol"]).await.unwrap();
    let next = next_change(&mut feed, "the first event after the snapshot").await;
    assert_eq!(next.key, b"user:3");
    assert!(next.offset > snap.offset);
}

#[tokio::test]
async fn consumer_groups_read_ack_pending_and_claim() {
    let srv = Server::start_doors(&[]);
    let c = client(&srv).await;
    let g = c.group("billing");
    let opts = GroupOptions {
        filter: Filter::default().pattern("order:*"),
        max_deliveries: Some(3),
        dead_letter: Some("billing:dlq".into()),
    };
    g.create(Start::Latest, &opts).await.unwrap();
    let again = g.create(Start::Latest, &opts).await.unwrap_err();
    assert_eq!(again.code(), Some("BUSYGROUP"), "{again}");

    // Nothing yet: a blocking read times out empty.
    assert!(g
        .read("a", 10, Some(Duration::from_millis(50)))
        .await
        .unwrap()
        .is_empty());
    for i in 0..3 {
        c.cmd(&["SET", &format!("order:{i}"), "x"]).await.unwrap();
    }
    c.cmd(&["SET", "unrelated", "x"]).await.unwrap();
    let got = g.read("a", 10, None).await.unwrap();
    assert_eq!(got.len(), 3);
    let offsets: Vec<u64> = got.iter().map(|e| e.offset).collect();
    assert_eq!(g.ack(&offsets[..1]).await.unwrap(), 1);

    let pending = g.pending(None, None).await.unwrap();
    assert_eq!(
        pending.iter().map(|p| p.offset).collect::<Vec<_>>(),
        offsets[1..]
    );
    assert!(pending
        .iter()
        .all(|p| p.consumer == "a" && p.deliveries == 1));

    let claimed = g.claim("b", Duration::ZERO, &offsets[1..]).await.unwrap();
    assert_eq!(
        claimed.iter().map(|e| e.offset).collect::<Vec<_>>(),
        offsets[1..]
    );
    let pending = g.pending(None, Some("b")).await.unwrap();
    assert!(
        pending
            .iter()
            .all(|p| p.consumer == "b" && p.deliveries == 2),
        "{pending:?}"
    );
    assert_eq!(g.ack(&offsets[1..]).await.unwrap(), 2);
    assert!(g.pending(None, None).await.unwrap().is_empty());
    assert!(g.destroy().await.unwrap());
}
