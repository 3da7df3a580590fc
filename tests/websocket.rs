//! The WebSocket front door (`GET /ws`, docs/websocket.md) against the real binary, with a real
//! WebSocket client (tokio-tungstenite): commands and errors in JSON and MessagePack frames,
//! binary-safe values, pub/sub pushes, the change feed from a snapshot and resumed across a
//! forced disconnect, the cannot-resume errors, auth, slow readers, malformed and oversized
//! messages, keep-alive and close codes.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{eddy_only, poll_until, q, Server};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const WAIT: Duration = Duration::from_secs(10);

struct Ws {
    ws: Stream,
    next: i64,
}

impl Ws {
    async fn connect(srv: &Server) -> Ws {
        let url = format!("ws://127.0.0.1:{}/ws", srv.http_port);
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("WebSocket connect");
        Ws { ws, next: 1 }
    }

    async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    /// The next message, whatever it is (text or binary), skipping pings and pongs.
    async fn next_msg(&mut self) -> Message {
        loop {
            let m = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message within the timeout")
                .expect("the stream is open")
                .expect("a message");
            if !matches!(m, Message::Ping(_) | Message::Pong(_)) {
                return m;
            }
        }
    }

    async fn recv(&mut self) -> Value {
        match self.next_msg().await {
            Message::Text(t) => serde_json::from_str(t.as_str()).expect("JSON"),
            other => panic!("expected a text message, got {other:?}"),
        }
    }

    /// Runs a command; returns the whole reply message (`{"id":..,"reply"|"error":..}`).
    async fn call_msg(&mut self, cmd: Value) -> Value {
        let id = self.next;
        self.next += 1;
        self.send(json!({"id": id, "cmd": cmd})).await;
        let m = self.recv().await;
        assert_eq!(m["id"], json!(id), "reply id: {m}");
        m
    }

    async fn call(&mut self, cmd: Value) -> Value {
        let m = self.call_msg(cmd).await;
        assert!(m.get("error").is_none(), "unexpected error: {m}");
        m["reply"].clone()
    }

    async fn err(&mut self, cmd: Value) -> String {
        let m = self.call_msg(cmd).await;
        m["error"]
            .as_str()
            .unwrap_or_else(|| panic!("expected an error: {m}"))
            .to_string()
    }

    /// Waits for the server to close: the close code, or None when the TCP connection simply
    /// ended.
    async fn closed(&mut self) -> Option<CloseCode> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("closed within the timeout")
            {
                Some(Ok(Message::Close(f))) => return f.map(|f| f.code),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }
}

/// The offset of a change-event push, checking its shape.
fn event_offset(m: &Value) -> u64 {
    let push = m["push"]
        .as_array()
        .unwrap_or_else(|| panic!("a push: {m}"));
    assert_eq!(push[0], json!("changes"), "{m}");
    push[1]["offset"].as_u64().expect("offset")
}

#[tokio::test]
async fn websocket_runs_commands_in_json() {
    if !eddy_only("websocket_runs_commands_in_json") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Ws::connect(&srv).await;
    assert_eq!(c.call(json!(["SET", "k", "v"])).await, json!("OK"));
    assert_eq!(c.call(json!(["GET", "k"])).await, json!("v"));
    assert_eq!(c.call(json!(["GET", "nope"])).await, Value::Null);
    // Numbers are arguments too.
    assert_eq!(c.call(json!(["INCRBY", "n", 41])).await, json!(41));
    assert_eq!(
        c.call(json!(["HSET", "h", "a", "1", "b", "2"])).await,
        json!(2)
    );
    assert_eq!(
        c.call(json!(["HGETALL", "h"])).await,
        json!({"a": "1", "b": "2"})
    );
    assert_eq!(c.call(json!(["ZADD", "z", 1.5, "m"])).await, json!(1));
    assert_eq!(
        c.call(json!(["ZRANGE", "z", 0, -1, "WITHSCORES"])).await,
        json!([["m", 1.5]])
    );
    assert_eq!(
        c.err(json!(["NOPE"])).await,
        "ERR unknown command 'NOPE', with args beginning with: "
    );
    assert_eq!(
        c.err(json!(["GET"])).await,
        "ERR wrong number of arguments for 'get' command"
    );
    assert_eq!(
        c.err(json!(["HGET", "k", "f"])).await,
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    // MULTI/EXEC, with an error inside EXEC's reply.
    assert_eq!(c.call(json!(["MULTI"])).await, json!("OK"));
    assert_eq!(c.call(json!(["INCR", "n"])).await, json!("QUEUED"));
    assert_eq!(c.call(json!(["INCR", "h"])).await, json!("QUEUED"));
    assert_eq!(
        c.call(json!(["EXEC"])).await,
        json!([42, {"$error": "WRONGTYPE Operation against a key holding the wrong kind of value"}])
    );
    // A request without an id gets `"id": null`.
    c.send(json!({"cmd": ["PING"]})).await;
    assert_eq!(c.recv().await, json!({"id": null, "reply": "PONG"}));
    // Pipelined requests reply in order, each with its id.
    for i in 0..100 {
        c.send(json!({"id": format!("p{i}"), "cmd": ["ECHO", i]}))
            .await;
    }
    for i in 0..100 {
        assert_eq!(
            c.recv().await,
            json!({"id": format!("p{i}"), "reply": i.to_string()})
        );
    }
    let list: String = q(&mut srv.conn(), &["CLIENT", "LIST"]);
    assert!(list.contains(" door=websocket"), "{list}");
}

#[tokio::test]
async fn websocket_values_are_binary_safe() {
    if !eddy_only("websocket_values_are_binary_safe") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Ws::connect(&srv).await;
    // 0xff 0x00 0x41 in base64.
    let b64 = json!({"$base64": "/wBB"});
    assert_eq!(c.call(json!(["SET", b64, b64])).await, json!("OK"));
    assert_eq!(c.call(json!(["GET", b64])).await, b64);
    let got: Vec<u8> = redis::cmd("GET")
        .arg(&[0xff, 0, b'A'][..])
        .query(&mut srv.conn())
        .unwrap();
    assert_eq!(got, vec![0xff, 0, b'A']);
    // UTF-8 text stays text.
    assert_eq!(c.call(json!(["SET", "u", "héllo ✓"])).await, json!("OK"));
    assert_eq!(c.call(json!(["GET", "u"])).await, json!("héllo ✓"));
    // A request and a reply far larger than the server's read buffer for a WebSocket
    // (`http::ws::READ_BUFFER`), with multi-byte characters across every read's edge.
    let big = "é✓x".repeat(200_000);
    assert_eq!(c.call(json!(["SET", "big", big])).await, json!("OK"));
    assert_eq!(c.call(json!(["GET", "big"])).await, json!(big));
    assert_eq!(c.call(json!(["STRLEN", "big"])).await, json!(1_200_000));
}

async fn recv_mp(c: &mut Ws) -> rmpv::Value {
    match c.next_msg().await {
        Message::Binary(b) => rmpv::decode::read_value(&mut &b[..]).unwrap(),
        other => panic!("expected a binary message, got {other:?}"),
    }
}

#[tokio::test]
async fn websocket_binary_frames_speak_messagepack() {
    if !eddy_only("websocket_binary_frames_speak_messagepack") {
        return;
    }
    use rmpv::Value as Mp;
    let srv = Server::start_doors(&[]);
    let mut c = Ws::connect(&srv).await;
    let req = |id: i64, cmd: Vec<Mp>| {
        let mut b = Vec::new();
        let v = Mp::Map(vec![
            (Mp::from("id"), Mp::from(id)),
            (Mp::from("cmd"), Mp::Array(cmd)),
        ]);
        rmpv::encode::write_value(&mut b, &v).unwrap();
        Message::Binary(b.into())
    };
    c.ws.send(req(
        1,
        vec![
            Mp::from("SET"),
            Mp::from("bin"),
            Mp::Binary(vec![0xff, 0xfe]),
        ],
    ))
    .await
    .unwrap();
    assert_eq!(
        recv_mp(&mut c).await,
        Mp::Map(vec![
            (Mp::from("id"), Mp::from(1)),
            (Mp::from("reply"), Mp::from("OK"))
        ])
    );
    c.ws.send(req(2, vec![Mp::from("GET"), Mp::from("bin")]))
        .await
        .unwrap();
    assert_eq!(
        recv_mp(&mut c).await,
        Mp::Map(vec![
            (Mp::from("id"), Mp::from(2)),
            (Mp::from("reply"), Mp::Binary(vec![0xff, 0xfe]))
        ])
    );
    c.ws.send(req(3, vec![Mp::from("INCR"), Mp::from("bin")]))
        .await
        .unwrap();
    assert_eq!(
        recv_mp(&mut c).await,
        Mp::Map(vec![
            (Mp::from("id"), Mp::from(3)),
            (
                Mp::from("error"),
                Mp::from("ERR value is not an integer or out of range")
            )
        ])
    );
    // JSON on the same socket still gets JSON.
    assert_eq!(c.call(json!(["STRLEN", "bin"])).await, json!(2));
    // A large binary value, in and out in pieces.
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    c.ws.send(req(
        4,
        vec![Mp::from("SET"), Mp::from("bigbin"), Mp::Binary(big.clone())],
    ))
    .await
    .unwrap();
    assert_eq!(recv_mp(&mut c).await["reply"], Mp::from("OK"));
    c.ws.send(req(5, vec![Mp::from("GET"), Mp::from("bigbin")]))
        .await
        .unwrap();
    assert_eq!(recv_mp(&mut c).await["reply"], Mp::Binary(big));
}

#[tokio::test]
async fn websocket_pubsub_messages_arrive_as_pushes() {
    if !eddy_only("websocket_pubsub_messages_arrive_as_pushes") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Ws::connect(&srv).await;
    assert_eq!(
        c.call(json!(["SUBSCRIBE", "news"])).await,
        json!([["subscribe", "news", 1]])
    );
    assert_eq!(
        c.call(json!(["PSUBSCRIBE", "order:*"])).await,
        json!([["psubscribe", "order:*", 2]])
    );
    let mut r = srv.conn();
    assert_eq!(q::<i64>(&mut r, &["PUBLISH", "news", "hello"]), 1);
    assert_eq!(
        c.recv().await,
        json!({"push": ["message", "news", "hello"]})
    );
    assert_eq!(q::<i64>(&mut r, &["PUBLISH", "order:7", "paid"]), 1);
    assert_eq!(
        c.recv().await,
        json!({"push": ["pmessage", "order:*", "order:7", "paid"]})
    );
    // A message published by this connection comes before its PUBLISH reply.
    c.send(json!({"id": 9, "cmd": ["PUBLISH", "news", "self"]}))
        .await;
    assert_eq!(c.recv().await, json!({"push": ["message", "news", "self"]}));
    assert_eq!(c.recv().await, json!({"id": 9, "reply": 1}));
    assert_eq!(
        c.call(json!(["UNSUBSCRIBE"])).await,
        json!([["unsubscribe", "news", 1]])
    );
}

#[tokio::test]
async fn websocket_change_feed_from_a_snapshot_resumes_across_a_disconnect() {
    if !eddy_only("websocket_change_feed_from_a_snapshot_resumes_across_a_disconnect") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut r = srv.conn();
    for i in 0..3 {
        let _: () = q(&mut r, &["SET", &format!("o:{i}"), "old"]);
    }
    let _: () = q(&mut r, &["SET", "other", "x"]);
    let mut c = Ws::connect(&srv).await;
    let info = c.call(json!(["CHANGES", "INFO"])).await;
    let epoch = info["epoch"].as_str().expect("epoch").to_string();
    let snap = c.call(json!(["CHANGES", "SNAPSHOT", "MATCH", "o:*"])).await;
    let n = snap[0].as_u64().expect("snapshot offset");
    let keys: BTreeSet<String> = snap[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row[1].as_str().unwrap().to_string())
        .collect();
    assert_eq!(keys, ["o:0", "o:1", "o:2"].map(String::from).into());
    let sub = c
        .call(json!([
            "CHANGES",
            "SUBSCRIBE",
            format!("({n}"),
            "MATCH",
            "o:*",
            "IMAGES",
            "new",
            "EPOCH",
            epoch
        ]))
        .await;
    assert_eq!(sub, json!(["subscribe", "__changes__", n + 1]));
    for i in 0..10 {
        let _: () = q(&mut r, &["SET", &format!("o:{i}"), &format!("v{i}")]);
    }
    // Read four events, then the connection drops (no close handshake).
    let mut got = Vec::new();
    for _ in 0..4 {
        let m = c.recv().await;
        assert_eq!(m["push"][1]["new"], json!(format!("v{}", got.len())), "{m}");
        got.push(event_offset(&m));
    }
    drop(c);
    for i in 10..15 {
        let _: () = q(&mut r, &["SET", &format!("o:{i}"), &format!("v{i}")]);
    }
    let last = *got.last().unwrap();
    let mut c = Ws::connect(&srv).await;
    let sub = c
        .call(json!([
            "CHANGES",
            "SUBSCRIBE",
            format!("({last}"),
            "MATCH",
            "o:*",
            "EPOCH",
            epoch
        ]))
        .await;
    assert_eq!(sub[2], json!(last + 1));
    while got.len() < 15 {
        got.push(event_offset(&c.recv().await));
    }
    // Nothing lost, nothing repeated: the offsets of the 15 writes, in order.
    let expected: Vec<u64> = (n + 1..).take(15).collect();
    assert_eq!(got, expected);
    // And nothing more.
    assert_eq!(c.call(json!(["PING"])).await, json!("PONG"));
}

#[tokio::test]
async fn websocket_resume_is_refused_for_another_epoch_or_a_trimmed_offset() {
    if !eddy_only("websocket_resume_is_refused_for_another_epoch_or_a_trimmed_offset") {
        return;
    }
    let srv = Server::start_doors(&["--appendonly", "no", "--changes-memory-bytes", "1mb"]);
    let mut c = Ws::connect(&srv).await;
    let e = c
        .err(json!(["CHANGES", "SUBSCRIBE", "(0", "EPOCH", "0123abcd"]))
        .await;
    assert!(
        e.starts_with("ERR EPOCH the change log's history changed: its epoch is ")
            && e.contains(", not 0123abcd;"),
        "{e}"
    );
    // No subscription started.
    assert_eq!(c.call(json!(["CHANGES", "UNSUBSCRIBE"])).await, json!(0));
    // Push the start of the log out of memory (the only history without appendonly).
    let mut r = srv.conn();
    let big = "x".repeat(16 * 1024);
    for i in 0..200 {
        let _: () = q(&mut r, &["SET", &format!("big:{}", i % 3), &big]);
    }
    let info = c.call(json!(["CHANGES", "INFO"])).await;
    let first = info["first-offset"].as_u64().unwrap();
    assert!(first > 1, "the log was trimmed: {info}");
    let epoch = info["epoch"].as_str().unwrap();
    assert_eq!(
        c.err(json!(["CHANGES", "SUBSCRIBE", "(1", "EPOCH", epoch])).await,
        format!(
            "ERR TRIMMED the change log no longer holds offset 2; the earliest available offset is {first}"
        )
    );
}

#[tokio::test]
async fn websocket_requires_auth_first() {
    if !eddy_only("websocket_requires_auth_first") {
        return;
    }
    let srv = Server::start_doors(&["--requirepass", "s3cret"]);
    let mut c = Ws::connect(&srv).await;
    assert_eq!(
        c.err(json!(["GET", "k"])).await,
        "NOAUTH Authentication required."
    );
    assert_eq!(
        c.err(json!(["SUBSCRIBE", "x"])).await,
        "NOAUTH Authentication required."
    );
    assert!(c
        .err(json!(["AUTH", "nope"]))
        .await
        .starts_with("WRONGPASS"));
    assert_eq!(c.call(json!(["AUTH", "s3cret"])).await, json!("OK"));
    assert_eq!(c.call(json!(["GET", "k"])).await, Value::Null);
    // HELLO with AUTH works as well, and replies a map.
    let mut c = Ws::connect(&srv).await;
    let hello = c
        .call(json!(["HELLO", 3, "AUTH", "default", "s3cret"]))
        .await;
    assert_eq!(hello["proto"], json!(3));
}

#[tokio::test]
async fn websocket_slow_pubsub_reader_is_disconnected_at_its_output_limit() {
    if !eddy_only("websocket_slow_pubsub_reader_is_disconnected_at_its_output_limit") {
        return;
    }
    let srv = Server::start_doors(&["--client-output-buffer-limit", "pubsub 1mb 0 0"]);
    let mut c = Ws::connect(&srv).await;
    assert_eq!(
        c.call(json!(["SUBSCRIBE", "firehose"])).await,
        json!([["subscribe", "firehose", 1]])
    );
    // The client stops reading; a publisher sends far more than the limit plus what sockets
    // buffer.
    let mut r = srv.conn();
    let payload = "p".repeat(64 * 1024);
    let mut published = 0;
    let cut = poll_until(Duration::from_secs(30), || {
        for _ in 0..32 {
            let _: i64 = q(&mut r, &["PUBLISH", "firehose", &payload]);
            published += 1;
        }
        let info: String = q(&mut r, &["INFO", "stats"]);
        info.contains("client_output_buffer_limit_disconnections:1")
    });
    assert!(cut, "not disconnected after {published} messages of 64 KB");
    // Gone from the client list (once its task has seen the kill); the others are served.
    let gone = poll_until(WAIT, || {
        !q::<String>(&mut r, &["CLIENT", "LIST"]).contains("door=websocket")
    });
    assert!(gone, "the slow client is still listed");
    let mut d = Ws::connect(&srv).await;
    assert_eq!(d.call(json!(["PING"])).await, json!("PONG"));
    // What the slow client reads ends with the connection, not a reply.
    let ended = loop {
        match tokio::time::timeout(WAIT, c.ws.next()).await {
            Ok(Some(Ok(Message::Text(_)))) => continue,
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_))) | Ok(None) => break true,
            Err(_) => break false,
        }
    };
    assert!(ended, "the slow reader's socket was closed");
}

#[tokio::test]
async fn websocket_slow_change_feed_reader_pauses_and_catches_up() {
    if !eddy_only("websocket_slow_change_feed_reader_pauses_and_catches_up") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Ws::connect(&srv).await;
    let sub = c.call(json!(["CHANGES", "SUBSCRIBE", "latest"])).await;
    let first = sub[2].as_u64().unwrap();
    // Far more events than the push queue holds, while the client reads nothing.
    const N: u64 = 20_000;
    let mut r = srv.conn();
    let val = "v".repeat(100);
    for start in (0..N).step_by(1000) {
        let mut p = redis::pipe();
        for i in start..start + 1000 {
            p.cmd("SET").arg(format!("k{}", i % 100)).arg(&val).ignore();
        }
        let _: () = p.query(&mut r).unwrap();
    }
    // The writers were never held up, and the reader then gets every event, in order.
    let mut next = first;
    while next < first + N {
        let off = event_offset(&c.recv().await);
        assert_eq!(off, next, "no gap, no repeat");
        next += 1;
    }
}

#[tokio::test]
async fn websocket_malformed_messages_get_an_error_and_the_connection_carries_on() {
    if !eddy_only("websocket_malformed_messages_get_an_error_and_the_connection_carries_on") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Ws::connect(&srv).await;
    c.ws.send(Message::Text("{not json".into())).await.unwrap();
    let m = c.recv().await;
    assert_eq!(m["id"], Value::Null);
    assert!(
        m["error"]
            .as_str()
            .unwrap()
            .starts_with("ERR Protocol error: invalid JSON"),
        "{m}"
    );
    for bad in [
        json!({"id": 5, "cmd": []}),
        json!({"id": 5, "cmd": "GET k"}),
        json!({"id": 5, "cmd": ["GET", ["k"]]}),
        json!({"id": 5, "cmd": ["GET", {"$base64": "***"}]}),
    ] {
        c.send(bad.clone()).await;
        let m = c.recv().await;
        assert_eq!(m["id"], json!(5), "{bad} -> {m}");
        assert!(
            m["error"]
                .as_str()
                .unwrap()
                .starts_with("ERR Protocol error: "),
            "{bad} -> {m}"
        );
    }
    c.ws.send(Message::Binary(vec![0xc1, 0x00].into()))
        .await
        .unwrap();
    match c.next_msg().await {
        Message::Binary(b) => {
            let v = rmpv::decode::read_value(&mut &b[..]).unwrap();
            let err = v.as_map().unwrap()[1].1.as_str().unwrap().to_string();
            assert!(err.starts_with("ERR Protocol error: "), "{err}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.call(json!(["PING"])).await, json!("PONG"));
}

#[tokio::test]
async fn websocket_oversized_message_closes_with_1009_and_others_carry_on() {
    if !eddy_only("websocket_oversized_message_closes_with_1009_and_others_carry_on") {
        return;
    }
    let srv = Server::start_doors(&["--client-query-buffer-limit", "1mb"]);
    let mut other = Ws::connect(&srv).await;
    let mut c = Ws::connect(&srv).await;
    let big = format!(r#"{{"id":1,"cmd":["SET","k","{}"]}}"#, "x".repeat(2 << 20));
    let _ = c.ws.send(Message::Text(big.into())).await;
    assert_eq!(c.closed().await, Some(CloseCode::Size));
    assert_eq!(other.call(json!(["PING"])).await, json!("PONG"));
    // Before authentication, an argument over 16 KB is refused as RESP refuses it (1002).
    let srv = Server::start_doors(&["--requirepass", "pw"]);
    let mut c = Ws::connect(&srv).await;
    c.send(json!({"id": 1, "cmd": ["AUTH", "x".repeat(17 * 1024)]}))
        .await;
    assert_eq!(
        c.recv().await,
        json!({"id": 1, "error": "ERR Protocol error: unauthenticated bulk length"})
    );
    assert_eq!(c.closed().await, Some(CloseCode::Protocol));
}

#[tokio::test]
async fn websocket_keepalive_and_quit() {
    if !eddy_only("websocket_keepalive_and_quit") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Ws::connect(&srv).await;
    c.ws.send(Message::Ping(b"hb".to_vec().into()))
        .await
        .unwrap();
    let pong = loop {
        match tokio::time::timeout(WAIT, c.ws.next()).await.unwrap() {
            Some(Ok(Message::Pong(p))) => break p,
            Some(Ok(_)) => continue,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(&pong[..], b"hb");
    assert_eq!(c.call(json!(["PING"])).await, json!("PONG"));
    assert_eq!(c.call(json!(["QUIT"])).await, json!("OK"));
    assert_eq!(c.closed().await, Some(CloseCode::Normal));
}

#[tokio::test]
async fn websocket_blocking_command_replies_when_served() {
    if !eddy_only("websocket_blocking_command_replies_when_served") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Ws::connect(&srv).await;
    c.send(json!({"id": "b", "cmd": ["BLPOP", "jobs", 0]}))
        .await;
    c.send(json!({"id": "after", "cmd": ["PING"]})).await;
    let mut r = srv.conn();
    assert!(poll_until(WAIT, || {
        q::<String>(&mut r, &["INFO", "clients"]).contains("blocked_clients:1")
    }));
    let _: i64 = q(&mut r, &["RPUSH", "jobs", "j1"]);
    assert_eq!(c.recv().await, json!({"id": "b", "reply": ["jobs", "j1"]}));
    assert_eq!(c.recv().await, json!({"id": "after", "reply": "PONG"}));
}

#[tokio::test]
async fn websocket_client_kill_blocked_changes_read_and_idle_timeout() {
    if !eddy_only("websocket_client_kill_blocked_changes_read_and_idle_timeout") {
        return;
    }
    let srv = Server::start_doors(&["--timeout", "1"]);
    let mut c = Ws::connect(&srv).await;
    // A blocking change-feed read waits for the next matching write.
    c.send(json!({"id": "r", "cmd": ["CHANGES", "READ", "latest", "BLOCK", 0, "MATCH", "w:*"]}))
        .await;
    let mut r = srv.conn();
    assert!(poll_until(WAIT, || {
        q::<String>(&mut r, &["INFO", "clients"]).contains("blocked_clients:1")
    }));
    let _: () = q(&mut r, &["SET", "w:1", "x"]);
    let m = c.recv().await;
    assert_eq!(m["id"], json!("r"));
    assert_eq!(m["reply"][0]["key"], json!("w:1"), "{m}");
    // CLIENT KILL ends a WebSocket client like any other.
    let id = c.call(json!(["CLIENT", "ID"])).await;
    let killed: i64 = q(&mut r, &["CLIENT", "KILL", "ID", &id.to_string()]);
    assert_eq!(killed, 1);
    assert_eq!(c.closed().await, None, "dropped without a close frame");
    // `timeout` closes an idle WebSocket client.
    let mut idle = Ws::connect(&srv).await;
    assert_eq!(idle.call(json!(["PING"])).await, json!("PONG"));
    let t0 = std::time::Instant::now();
    idle.closed().await;
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t0.elapsed()
    );
}

/// Subscribers on the same feed share each push's re-encoding per output format: JSON for
/// clients that last spoke text, MessagePack for those that spoke binary. Each client must get
/// every event once, in order, in its own format.
#[tokio::test]
async fn websocket_subscribers_sharing_a_feed_each_get_their_own_format() {
    if !eddy_only("websocket_subscribers_sharing_a_feed_each_get_their_own_format") {
        return;
    }
    use rmpv::Value as Mp;
    let srv = Server::start_doors(&[]);
    let mut text = Vec::new();
    for _ in 0..2 {
        let mut c = Ws::connect(&srv).await;
        c.call(json!(["CHANGES", "SUBSCRIBE", "latest"])).await;
        text.push(c);
    }
    let mut bin = Ws::connect(&srv).await;
    let mut req = Vec::new();
    let cmd = Mp::Array(vec![
        Mp::from("CHANGES"),
        Mp::from("SUBSCRIBE"),
        Mp::from("latest"),
    ]);
    rmpv::encode::write_value(
        &mut req,
        &Mp::Map(vec![(Mp::from("id"), Mp::from(1)), (Mp::from("cmd"), cmd)]),
    )
    .unwrap();
    bin.ws.send(Message::Binary(req.into())).await.unwrap();
    let reply = recv_mp(&mut bin).await;
    let first = reply
        .as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("reply")))
        .and_then(|(_, v)| v.as_array()?.get(2)?.as_u64())
        .unwrap_or_else(|| panic!("subscribe reply: {reply}"));
    const N: u64 = 3000;
    let mut r = srv.conn();
    let mut p = redis::pipe();
    for i in 0..N {
        p.cmd("SET").arg(format!("k{}", i % 100)).arg(i).ignore();
    }
    let _: () = p.query(&mut r).unwrap();
    for c in text.iter_mut() {
        for want in first..first + N {
            assert_eq!(event_offset(&c.recv().await), want, "text client");
        }
    }
    for want in first..first + N {
        let m = recv_mp(&mut bin).await;
        let push = m
            .as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("push")))
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("a MessagePack push: {m}"));
        let ev = &push.as_array().expect("push array")[1];
        let off = ev
            .as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("offset")))
            .and_then(|(_, v)| v.as_u64());
        assert_eq!(off, Some(want), "binary client");
    }
}
