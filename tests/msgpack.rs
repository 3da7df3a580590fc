//! The MessagePack front door (docs/msgpack.md) against the real binary: commands, errors,
//! binary-safe values, pipelining, pub/sub and change-feed pushes, blocking commands, auth,
//! malformed and oversized frames. A small client over raw TCP encodes with `rmpv`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{eddy_only, poll_until, q, Server};
use rmpv::Value;

struct Mp {
    s: TcpStream,
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

impl Mp {
    fn connect(srv: &Server) -> Mp {
        let s = TcpStream::connect(("127.0.0.1", srv.msgpack_port)).expect("connect msgpack");
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Mp { s }
    }

    fn frame(v: &Value) -> Vec<u8> {
        let mut body = Vec::new();
        rmpv::encode::write_value(&mut body, v).unwrap();
        let mut f = (body.len() as u32).to_be_bytes().to_vec();
        f.extend(body);
        f
    }

    fn request(id: i64, args: &[&[u8]]) -> Vec<u8> {
        let mut a = vec![Value::from(id)];
        for x in args {
            a.push(match std::str::from_utf8(x) {
                Ok(t) => s(t),
                Err(_) => Value::Binary(x.to_vec()),
            });
        }
        Self::frame(&Value::Array(a))
    }

    fn send(&mut self, id: i64, args: &[&str]) {
        let a: Vec<&[u8]> = args.iter().map(|x| x.as_bytes()).collect();
        self.s.write_all(&Self::request(id, &a)).unwrap();
    }

    fn recv(&mut self) -> Value {
        let mut h = [0u8; 4];
        self.s.read_exact(&mut h).expect("read frame header");
        let mut body = vec![0u8; u32::from_be_bytes(h) as usize];
        self.s.read_exact(&mut body).expect("read frame body");
        let mut r = &body[..];
        let v = rmpv::decode::read_value(&mut r).expect("a MessagePack value");
        assert!(r.is_empty(), "one value per frame");
        v
    }

    /// Sends a request and returns its reply: Ok(value) or Err(error text).
    fn call(&mut self, id: i64, args: &[&str]) -> Result<Value, String> {
        self.send(id, args);
        self.reply(id)
    }

    fn reply(&mut self, id: i64) -> Result<Value, String> {
        let v = self.recv();
        let a = v.as_array().expect("an array frame").clone();
        assert_eq!(a[0], Value::from(id), "reply id in {v}");
        match a.len() {
            2 => Ok(a[1].clone()),
            3 => {
                assert_eq!(a[1], Value::Nil);
                Err(a[2].as_str().expect("error text").to_string())
            }
            _ => panic!("unexpected frame {v}"),
        }
    }

    /// Whether the server closed the connection (EOF) within the read timeout.
    fn closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.s.read(&mut b), Ok(0) | Err(_))
    }
}

#[test]
fn msgpack_runs_commands_with_request_ids() {
    if !eddy_only("msgpack_runs_commands_with_request_ids") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Mp::connect(&srv);
    assert_eq!(c.call(1, &["SET", "k", "v"]), Ok(s("OK")));
    assert_eq!(c.call(2, &["GET", "k"]), Ok(s("v")));
    assert_eq!(c.call(3, &["GET", "missing"]), Ok(Value::Nil));
    assert_eq!(c.call(4, &["INCRBY", "n", "5"]), Ok(Value::from(5)));
    assert_eq!(c.call(5, &["RPUSH", "l", "a", "b"]), Ok(Value::from(2)));
    assert_eq!(
        c.call(6, &["LRANGE", "l", "0", "-1"]),
        Ok(Value::Array(vec![s("a"), s("b")]))
    );
    // RESP3 types: HGETALL is a map.
    c.call(7, &["HSET", "h", "f", "1"]).unwrap();
    assert_eq!(
        c.call(8, &["HGETALL", "h"]),
        Ok(Value::Map(vec![(s("f"), s("1"))]))
    );
    // The same keyspace as RESP.
    let mut r = srv.conn();
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "v");
}

#[test]
fn msgpack_pipelined_requests_reply_in_order() {
    if !eddy_only("msgpack_pipelined_requests_reply_in_order") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Mp::connect(&srv);
    let mut batch = Vec::new();
    for i in 0..500i64 {
        let v = i.to_string();
        batch.extend(Mp::request(i, &[b"INCR", b"ctr"]));
        batch.extend(Mp::request(1000 + i, &[b"ECHO", v.as_bytes()]));
    }
    c.s.write_all(&batch).unwrap();
    for i in 0..500i64 {
        assert_eq!(c.reply(i), Ok(Value::from(i + 1)));
        assert_eq!(c.reply(1000 + i), Ok(s(&i.to_string())));
    }
}

#[test]
fn msgpack_errors_have_their_own_shape() {
    if !eddy_only("msgpack_errors_have_their_own_shape") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Mp::connect(&srv);
    assert_eq!(
        c.call(1, &["NOPE", "x"]),
        Err("ERR unknown command 'NOPE', with args beginning with: 'x' ".into())
    );
    assert_eq!(
        c.call(2, &["GET"]),
        Err("ERR wrong number of arguments for 'get' command".into())
    );
    c.call(3, &["LPUSH", "l", "x"]).unwrap();
    assert_eq!(
        c.call(4, &["GET", "l"]),
        Err("WRONGTYPE Operation against a key holding the wrong kind of value".into())
    );
    // An error inside EXEC's reply is a {"$error": ...} map.
    assert_eq!(c.call(5, &["MULTI"]), Ok(s("OK")));
    assert_eq!(c.call(6, &["SET", "a", "1"]), Ok(s("QUEUED")));
    assert_eq!(c.call(7, &["INCR", "l"]), Ok(s("QUEUED")));
    let exec = c.call(8, &["EXEC"]).unwrap();
    assert_eq!(
        exec,
        Value::Array(vec![
            s("OK"),
            Value::Map(vec![(
                s("$error"),
                s("WRONGTYPE Operation against a key holding the wrong kind of value")
            )])
        ])
    );
}

#[test]
fn msgpack_values_are_binary_safe() {
    if !eddy_only("msgpack_values_are_binary_safe") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Mp::connect(&srv);
    let all: Vec<u8> = (0..=255u8).collect();
    c.s.write_all(&Mp::request(1, &[b"SET", &[0xff, 0, b'k'], &all]))
        .unwrap();
    assert_eq!(c.reply(1), Ok(s("OK")));
    c.s.write_all(&Mp::request(2, &[b"GET", &[0xff, 0, b'k']]))
        .unwrap();
    assert_eq!(c.reply(2), Ok(Value::Binary(all.clone())));
    let mut r = srv.conn();
    let got: Vec<u8> = redis::cmd("GET")
        .arg(&[0xff, 0, b'k'][..])
        .query(&mut r)
        .unwrap();
    assert_eq!(got, all);
}

#[test]
fn msgpack_pushes_are_frames_with_a_nil_id() {
    if !eddy_only("msgpack_pushes_are_frames_with_a_nil_id") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Mp::connect(&srv);
    assert_eq!(
        c.call(1, &["SUBSCRIBE", "news", "alerts"]),
        Ok(Value::Array(vec![
            Value::Array(vec![s("subscribe"), s("news"), Value::from(1)]),
            Value::Array(vec![s("subscribe"), s("alerts"), Value::from(2)]),
        ]))
    );
    let mut r = srv.conn();
    assert_eq!(q::<i64>(&mut r, &["PUBLISH", "news", "hello"]), 1);
    assert_eq!(
        c.recv(),
        Value::Array(vec![
            Value::Nil,
            Value::Array(vec![s("message"), s("news"), s("hello")])
        ])
    );
    // Commands keep working while subscribed (RESP3 rules); CLIENT LIST names the door.
    let list = c.call(2, &["CLIENT", "LIST"]).unwrap();
    let text = list.as_str().unwrap().to_string();
    assert!(text.contains("door=msgpack"), "{text}");
    assert!(text.contains("flags=P"), "{text}");
    let resp_list: String = q(&mut r, &["CLIENT", "LIST"]);
    // Two clients; only the MessagePack one has a `door=` field (RESP lines stay Redis's).
    assert_eq!(resp_list.lines().count(), 2, "{resp_list}");
    let doors: Vec<&str> = resp_list.lines().filter(|l| l.contains(" door=")).collect();
    assert_eq!(doors.len(), 1, "{resp_list}");
    assert!(doors[0].ends_with(" door=msgpack"), "{resp_list}");
}

#[test]
fn msgpack_change_feed_follows_and_resumes() {
    if !eddy_only("msgpack_change_feed_follows_and_resumes") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Mp::connect(&srv);
    let info = c.call(1, &["CHANGES", "INFO"]).unwrap();
    let epoch = info
        .as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("epoch")))
        .and_then(|(_, v)| v.as_str())
        .expect("epoch")
        .to_string();
    let sub = c
        .call(
            2,
            &[
                "CHANGES",
                "SUBSCRIBE",
                "latest",
                "MATCH",
                "m:*",
                "EPOCH",
                &epoch,
            ],
        )
        .unwrap();
    let first = sub.as_array().unwrap()[2].as_u64().unwrap();
    let mut r = srv.conn();
    for i in 0..3 {
        let _: () = q(&mut r, &["SET", &format!("m:{i}"), "x"]);
    }
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let v = c.recv();
        let a = v.as_array().unwrap();
        assert_eq!(a[0], Value::Nil, "a push: {v}");
        let push = a[1].as_array().unwrap();
        assert_eq!(push[0], s("changes"));
        let ev = push[1].as_map().unwrap();
        let off = ev
            .iter()
            .find(|(k, _)| k.as_str() == Some("offset"))
            .and_then(|(_, v)| v.as_u64())
            .unwrap();
        seen.push(off);
    }
    assert_eq!(seen, vec![first, first + 1, first + 2]);
    assert_eq!(
        c.call(3, &["CHANGES", "SUBSCRIBE", "(1", "EPOCH", "not-this-one"])
            .unwrap_err()
            .split(';')
            .next()
            .unwrap(),
        format!(
            "ERR EPOCH the change log's history changed: its epoch is {epoch}, not not-this-one"
        )
    );
}

#[test]
fn msgpack_blocking_commands_reply_with_their_id() {
    if !eddy_only("msgpack_blocking_commands_reply_with_their_id") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Mp::connect(&srv);
    c.send(7, &["BLPOP", "q", "0"]);
    c.send(8, &["PING"]);
    let mut r = srv.conn();
    assert!(poll_until(Duration::from_secs(10), || {
        q::<String>(&mut r, &["INFO", "clients"]).contains("blocked_clients:1")
    }));
    let _: i64 = q(&mut r, &["RPUSH", "q", "job"]);
    assert_eq!(c.reply(7), Ok(Value::Array(vec![s("q"), s("job")])));
    assert_eq!(c.reply(8), Ok(s("PONG")));
}

#[test]
fn msgpack_requires_auth_first() {
    if !eddy_only("msgpack_requires_auth_first") {
        return;
    }
    let srv = Server::start_doors(&["--requirepass", "pw"]);
    let mut c = Mp::connect(&srv);
    assert_eq!(
        c.call(1, &["GET", "k"]),
        Err("NOAUTH Authentication required.".into())
    );
    assert!(c
        .call(2, &["AUTH", "wrong"])
        .unwrap_err()
        .starts_with("WRONGPASS"));
    assert_eq!(c.call(3, &["AUTH", "pw"]), Ok(s("OK")));
    assert_eq!(c.call(4, &["GET", "k"]), Ok(Value::Nil));
    // Before authentication a frame is bounded like RESP's unauthenticated requests.
    let mut u = Mp::connect(&srv);
    u.s.write_all(&1_000_000u32.to_be_bytes()).unwrap();
    let v = u.recv();
    let a = v.as_array().unwrap();
    assert_eq!(a[0], Value::Nil);
    assert!(a[2]
        .as_str()
        .unwrap()
        .starts_with("ERR Protocol error: frame of 1000000 bytes"));
    assert!(u.closed());
}

#[test]
fn msgpack_malformed_frames_get_an_error_and_the_connection_carries_on() {
    if !eddy_only("msgpack_malformed_frames_get_an_error_and_the_connection_carries_on") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Mp::connect(&srv);
    // Not an array; a string id; an array argument; a truncated value inside a whole frame.
    for bad in [
        Mp::frame(&Value::Map(vec![])),
        Mp::frame(&Value::Array(vec![s("id"), s("PING")])),
        Mp::frame(&Value::Array(vec![
            Value::from(3),
            s("PING"),
            Value::Array(vec![]),
        ])),
        vec![0, 0, 0, 2, 0x92, 0xa5],
    ] {
        c.s.write_all(&bad).unwrap();
        let v = c.recv();
        let a = v.as_array().unwrap().clone();
        assert_eq!(a.len(), 3, "an error frame: {v}");
        assert!(
            a[2].as_str().unwrap().starts_with("ERR Protocol error: "),
            "{v}"
        );
    }
    // A request whose id could be read gets it back.
    c.s.write_all(&Mp::frame(&Value::Array(vec![
        Value::from(9),
        s("GET"),
        Value::from(1),
    ])))
    .unwrap();
    assert!(c.reply(9).unwrap_err().starts_with("ERR Protocol error: "));
    assert_eq!(c.call(10, &["PING"]), Ok(s("PONG")));
}

#[test]
fn msgpack_oversized_frame_closes_the_connection_and_others_carry_on() {
    if !eddy_only("msgpack_oversized_frame_closes_the_connection_and_others_carry_on") {
        return;
    }
    let srv = Server::start_doors(&[
        "--client-query-buffer-limit",
        "4mb",
        "--proto-max-bulk-len",
        "1mb",
    ]);
    let mut other = Mp::connect(&srv);
    let mut c = Mp::connect(&srv);
    c.s.write_all(&(8u32 << 20).to_be_bytes()).unwrap();
    let v = c.recv();
    assert_eq!(
        v.as_array().unwrap()[2].as_str().unwrap(),
        "ERR Protocol error: frame of 8388608 bytes is larger than the limit of 4194304 bytes"
    );
    assert!(c.closed(), "the connection closes after the error");
    assert_eq!(other.call(1, &["PING"]), Ok(s("PONG")));
    // An argument over proto-max-bulk-len gets RESP's error, and the connection closes too.
    let big = vec![b'x'; 2 << 20];
    let mut c = Mp::connect(&srv);
    c.s.write_all(&Mp::request(1, &[b"SET", b"k", &big]))
        .unwrap();
    let v = c.recv();
    assert_eq!(
        v.as_array().unwrap()[2].as_str().unwrap(),
        "ERR Protocol error: invalid bulk length"
    );
    assert!(c.closed());
    assert_eq!(other.call(2, &["PING"]), Ok(s("PONG")));
}

#[test]
fn msgpack_hello_2_switches_to_resp2_shapes_and_reset_returns_to_resp3() {
    if !eddy_only("msgpack_hello_2_switches_to_resp2_shapes_and_reset_returns_to_resp3") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut c = Mp::connect(&srv);
    c.call(1, &["HSET", "h", "f", "v"]).unwrap();
    let map = Value::Map(vec![(s("f"), s("v"))]);
    assert_eq!(c.call(2, &["HGETALL", "h"]), Ok(map.clone()));
    let hello = c.call(3, &["HELLO", "2"]).unwrap();
    assert!(
        hello.as_array().is_some(),
        "RESP2 HELLO is a flat array: {hello}"
    );
    assert_eq!(
        c.call(4, &["HGETALL", "h"]),
        Ok(Value::Array(vec![s("f"), s("v")]))
    );
    assert_eq!(c.call(5, &["RESET"]), Ok(s("RESET")));
    assert_eq!(c.call(6, &["HGETALL", "h"]), Ok(map));
    let info = c.call(7, &["CLIENT", "INFO"]).unwrap();
    assert!(info.as_str().unwrap().contains(" resp=3 "), "{info}");
}
