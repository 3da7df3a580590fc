//! MONITOR, client-side caching (CLIENT TRACKING and friends), CLIENT PAUSE/UNPAUSE, and the
//! `timeout` and `maxclients` limits, against the real binary.
//!
//! Expected bytes are Redis 7.0's: the suite passes against redis-server
//! (`EDDY_TEST_SERVER=redis-server`). Waiting is on events (a reply, a push, a CLIENT LIST
//! field), never a fixed sleep taken as proof.

mod common;

use common::{poll_until, q, qerr, Raw, Resp, Server};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------------
// Helpers

fn bulk(s: &str) -> String {
    format!("${}\r\n{s}\r\n", s.len())
}

/// `>2 invalidate [keys]`, as a RESP3 client receives it.
fn invalidate(keys: &[&str]) -> String {
    let mut s = format!(">2\r\n$10\r\ninvalidate\r\n*{}\r\n", keys.len());
    for k in keys {
        s.push_str(&bulk(k));
    }
    s
}

/// The same invalidation, as a RESP2 redirect target subscribed to `__redis__:invalidate`.
fn invalidate_message(keys: &[&str]) -> String {
    let mut s = format!(
        "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*{}\r\n",
        keys.len()
    );
    for k in keys {
        s.push_str(&bulk(k));
    }
    s
}

const FLUSH_RESP3: &str = ">2\r\n$10\r\ninvalidate\r\n_\r\n";

/// A raw connection switched to RESP3.
fn raw3(srv: &Server) -> Raw {
    let mut r = srv.raw();
    assert!(matches!(r.call(&["HELLO", "3"]), Resp::Map(_)));
    r
}

fn client_id(r: &mut Raw) -> i64 {
    match r.call(&["CLIENT", "ID"]) {
        Resp::Int(n) => n,
        other => panic!("CLIENT ID: {other:?}"),
    }
}

/// Nothing is queued for `r` ahead of a fresh round trip: the next thing it reads is PONG.
fn assert_nothing_pending(r: &mut Raw) {
    r.send_cmd(&["PING"]);
    assert_eq!(r.read_wire(), "+PONG\r\n");
}

/// A field of a CLIENT LIST/INFO line.
fn field(line: &str, name: &str) -> Option<String> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// The CLIENT LIST line of client `id`, as seen from `c`.
fn client_line(c: &mut redis::Connection, id: i64) -> String {
    let list: String = q(c, &["CLIENT", "LIST", "ID", &id.to_string()]);
    list.lines().next().unwrap_or_default().to_string()
}

fn info_field(c: &mut redis::Connection, section: &str, name: &str) -> Option<String> {
    let text: String = q(c, &["INFO", section]);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_string())
}

/// The peer address a connection has on the server (`127.0.0.1:port`).
fn addr_of(r: &Raw) -> String {
    r.stream.local_addr().expect("local addr").to_string()
}

/// Reads one MONITOR line and returns it without its timestamp: `[db addr] "arg" ...`. Checks
/// the timestamp's format (`+<seconds>.<6 digits> `) on the way.
fn monitor_line(m: &mut Raw) -> String {
    let wire = m.read_wire();
    let body = wire
        .strip_prefix('+')
        .and_then(|s| s.strip_suffix("\r\n"))
        .unwrap_or_else(|| panic!("not a MONITOR line: {wire:?}"));
    let (ts, rest) = body.split_once(' ').expect("timestamp");
    let (secs, micros) = ts.split_once('.').expect("seconds.micros");
    assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{wire:?}");
    assert!(micros.bytes().all(|b| b.is_ascii_digit()), "{wire:?}");
    rest.to_string()
}

fn start_monitor(srv: &Server) -> Raw {
    let mut m = srv.raw();
    assert_eq!(m.call(&["MONITOR"]), Resp::Simple("OK".into()));
    m
}

// ---------------------------------------------------------------------------------------------
// MONITOR

#[test]
fn monitor_prints_other_clients_commands_as_redis_does() {
    let srv = Server::start();
    let mut m = start_monitor(&srv);
    let mut c = srv.raw();
    let at = addr_of(&c);
    assert_eq!(c.call(&["SET", "k", "v"]), Resp::Simple("OK".into()));
    c.send(&common::encode_cmd(&[
        b"set",
        b"a b",
        b"q\"u\\o\n\t\x01\x7f\xc3\xa9",
    ]));
    assert_eq!(c.read_reply(), Resp::Simple("OK".into()));
    assert_eq!(c.call(&["GET", "k"]), Resp::Bulk(b"v".to_vec()));
    // Refused before running (unknown, arity) or admin: never shown.
    assert!(matches!(c.call(&["NOSUCHCOMMAND"]), Resp::Error(_)));
    assert!(matches!(c.call(&["GET"]), Resp::Error(_)));
    assert!(matches!(
        c.call(&["CONFIG", "GET", "port"]),
        Resp::Array(_) | Resp::Map(_)
    ));
    assert!(matches!(c.call(&["CLIENT", "LIST"]), Resp::Bulk(_)));
    // Shown with the database the command left selected.
    assert_eq!(c.call(&["SELECT", "2"]), Resp::Simple("OK".into()));
    assert_eq!(c.call(&["SET", "x", "1"]), Resp::Simple("OK".into()));
    assert_eq!(c.call(&["SELECT", "0"]), Resp::Simple("OK".into()));
    // Credentials are redacted, even when the command fails.
    assert!(matches!(c.call(&["AUTH", "secret"]), Resp::Error(_)));
    assert!(matches!(
        c.call(&["HELLO", "2", "AUTH", "default", "pw", "SETNAME", "me"]),
        Resp::Array(_)
    ));
    assert_eq!(c.call(&["PING"]), Resp::Simple("PONG".into()));

    let p = format!("[0 {at}]");
    assert_eq!(monitor_line(&mut m), format!(r#"{p} "SET" "k" "v""#));
    assert_eq!(
        monitor_line(&mut m),
        format!(r#"{p} "set" "a b" "q\"u\\o\n\t\x01\x7f\xc3\xa9""#)
    );
    assert_eq!(monitor_line(&mut m), format!(r#"{p} "GET" "k""#));
    assert_eq!(monitor_line(&mut m), format!(r#"[2 {at}] "SELECT" "2""#));
    assert_eq!(monitor_line(&mut m), format!(r#"[2 {at}] "SET" "x" "1""#));
    assert_eq!(monitor_line(&mut m), format!(r#"{p} "SELECT" "0""#));
    assert_eq!(monitor_line(&mut m), format!(r#"{p} "AUTH" "(redacted)""#));
    assert_eq!(
        monitor_line(&mut m),
        format!(r#"{p} "HELLO" "2" "AUTH" "(redacted)" "(redacted)" "SETNAME" "me""#)
    );
    assert_eq!(monitor_line(&mut m), format!(r#"{p} "PING""#));
}

#[test]
fn monitor_shows_a_transactions_commands_when_exec_runs_them() {
    let srv = Server::start();
    let mut m = start_monitor(&srv);
    let mut c = srv.raw();
    let p = format!("[0 {}]", addr_of(&c));
    assert_eq!(c.call(&["MULTI"]), Resp::Simple("OK".into()));
    assert_eq!(monitor_line(&mut m), format!(r#"{p} "MULTI""#));
    assert_eq!(c.call(&["SET", "q", "1"]), Resp::Simple("QUEUED".into()));
    assert_eq!(c.call(&["INCR", "q"]), Resp::Simple("QUEUED".into()));
    // Nothing is shown while queueing: the monitor's next line is the first one EXEC runs.
    assert!(matches!(c.call(&["EXEC"]), Resp::Array(_)));
    assert_eq!(monitor_line(&mut m), format!(r#"{p} "SET" "q" "1""#));
    assert_eq!(monitor_line(&mut m), format!(r#"{p} "INCR" "q""#));
    assert_eq!(monitor_line(&mut m), format!(r#"{p} "EXEC""#));
}

/// A script command is shown before the commands it calls (even when it fails), and those as
/// the script client's: address `lua`, in the database the script selected, as Redis 7 shows
/// them.
#[test]
fn monitor_shows_a_script_before_its_commands_as_the_lua_client() {
    let srv = Server::start();
    let mut c = srv.raw();
    let lib = "#!lua name=mlib\nredis.register_function('myget', function(keys, args) return \
               redis.call('GET', keys[1]) end)";
    assert!(matches!(c.call(&["FUNCTION", "LOAD", lib]), Resp::Bulk(_)));
    let mut m = start_monitor(&srv);
    let p = format!("[0 {}]", addr_of(&c));
    assert!(matches!(
        c.call(&["FCALL", "myget", "1", "k"]),
        Resp::NullBulk
    ));
    let get = r#"return redis.call("GET", "k")"#;
    assert!(matches!(c.call(&["EVAL", get, "0"]), Resp::NullBulk));
    let select = r#"redis.call("SELECT", 3) return redis.call("SET", "x", "1")"#;
    assert!(matches!(c.call(&["EVAL", select, "0"]), Resp::Simple(_)));
    assert!(matches!(
        c.call(&["EVALSHA", &"0".repeat(40), "0"]),
        Resp::Error(_)
    ));
    assert_eq!(c.call(&["PING"]), Resp::Simple("PONG".into()));
    assert_eq!(
        monitor_line(&mut m),
        format!(r#"{p} "FCALL" "myget" "1" "k""#)
    );
    assert_eq!(monitor_line(&mut m), r#"[0 lua] "GET" "k""#);
    assert_eq!(
        monitor_line(&mut m),
        format!(r#"{p} "EVAL" "return redis.call(\"GET\", \"k\")" "0""#)
    );
    assert_eq!(monitor_line(&mut m), r#"[0 lua] "GET" "k""#);
    assert!(monitor_line(&mut m).starts_with(&format!(r#"{p} "EVAL" "redis.call("#)));
    assert_eq!(monitor_line(&mut m), r#"[3 lua] "SELECT" "3""#);
    assert_eq!(monitor_line(&mut m), r#"[3 lua] "SET" "x" "1""#);
    assert_eq!(
        monitor_line(&mut m),
        format!(r#"{p} "EVALSHA" "{}" "0""#, "0".repeat(40))
    );
    assert_eq!(monitor_line(&mut m), format!(r#"{p} "PING""#));
}

#[test]
fn a_monitor_sees_its_own_commands_after_the_reply_and_may_not_touch_keys() {
    let srv = Server::start();
    // Connected first: the `redis` crate's connection set-up commands are not in the way.
    let mut c = srv.conn();
    let mut m = start_monitor(&srv);
    let p = format!("[0 {}]", addr_of(&m));
    // MONITOR again: ignored, without a reply (the next reply is PING's).
    m.send_cmd(&["MONITOR"]);
    m.send_cmd(&["PING"]);
    assert_eq!(m.read_wire(), "+PONG\r\n");
    assert_eq!(monitor_line(&mut m), format!(r#"{p} "PING""#));
    for cmd in [
        &["GET", "k"][..],
        &["SET", "k", "v"],
        &["PUBLISH", "c", "m"],
    ] {
        assert_eq!(
            m.call(cmd),
            Resp::Error("ERR Replica can't interact with the keyspace".into())
        );
    }
    let id = client_id(&mut m);
    assert_eq!(monitor_line(&mut m), format!(r#"{p} "CLIENT" "ID""#));
    let line = client_line(&mut c, id);
    assert_eq!(field(&line, "flags").as_deref(), Some("O"), "{line}");
    // RESET leaves MONITOR mode: commands of others are no longer shown.
    assert_eq!(m.call(&["RESET"]), Resp::Simple("RESET".into()));
    q::<()>(&mut c, &["SET", "after", "reset"]);
    assert_eq!(m.call(&["GET", "after"]), Resp::Bulk(b"reset".to_vec()));
}

#[test]
fn every_monitor_gets_every_line_in_order() {
    let srv = Server::start();
    let mut ms: Vec<Raw> = (0..3).map(|_| start_monitor(&srv)).collect();
    let mut c = srv.raw();
    let p = format!("[0 {}]", addr_of(&c));
    let mut pipeline = Vec::new();
    for i in 0..50 {
        let v = i.to_string();
        pipeline.extend(common::encode_cmd(&[b"RPUSH", b"l", v.as_bytes()]));
    }
    c.send(&pipeline);
    for i in 0..50 {
        assert_eq!(c.read_reply(), Resp::Int(i + 1));
    }
    for m in &mut ms {
        for i in 0..50 {
            assert_eq!(monitor_line(m), format!(r#"{p} "RPUSH" "l" "{i}""#));
        }
    }
}

#[test]
fn a_monitor_that_never_reads_is_disconnected_and_writers_never_wait() {
    // Redis counts a monitor as a `normal` client (no limit by default); Eddy bounds its queue
    // with the `pubsub` class.
    if !common::eddy_only("a_monitor_that_never_reads_is_disconnected_and_writers_never_wait") {
        return;
    }
    let srv = Server::start_with(&["--client-output-buffer-limit", "pubsub 4mb 2mb 60"]);
    let mut w = srv.conn();
    let mut slow = start_monitor(&srv);
    let slow_id = client_id(&mut slow);
    let _ = slow.read_wire(); // its own CLIENT ID line; then it never reads again
    let good = start_monitor(&srv);
    const N: usize = 300;
    const SIZE: usize = 64 * 1024;
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut lines = std::io::BufReader::with_capacity(1 << 20, &good.stream);
        let mut seen = 0;
        while seen < N {
            let mut line = String::new();
            lines.read_line(&mut line).expect("a line");
            let want = format!(r#""SET" "k{seen}" "#);
            assert!(
                line.contains(&want),
                "in order: {}",
                &line[..line.len().min(80)]
            );
            assert!(line.len() > SIZE);
            seen += 1;
        }
        seen
    });
    let value = "x".repeat(SIZE);
    for i in 0..N {
        // Each write answers at once (within the connection's read timeout), monitor or not.
        q::<()>(&mut w, &["SET", &format!("k{i}"), &value]);
    }
    assert_eq!(reader.join().expect("reader"), N);
    assert!(slow.closed_within(Duration::from_secs(10)));
    assert!(poll_until(Duration::from_secs(10), || {
        let list: String = q(&mut w, &["CLIENT", "LIST"]);
        !list.contains(&format!("id={slow_id} "))
    }));
    assert!(srv
        .log()
        .contains("scheduled to be closed ASAP for overcoming of output buffer limits"));
}

// ---------------------------------------------------------------------------------------------
// CLIENT TRACKING: default mode

#[test]
fn tracking_sends_resp3_invalidations_for_keys_the_client_read() {
    let srv = Server::start();
    let mut a = raw3(&srv);
    let mut w = srv.conn();
    assert_eq!(
        a.call(&["CLIENT", "TRACKING", "on"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(a.call(&["GET", "k1"]), Resp::Null);
    assert!(matches!(a.call(&["MGET", "k2", "k3"]), Resp::Array(_)));
    q::<()>(&mut w, &["SET", "k1", "v"]);
    assert_eq!(a.read_wire(), invalidate(&["k1"]));
    // Invalidated once: the key is forgotten until read again.
    q::<()>(&mut w, &["SET", "k1", "v2"]);
    assert_nothing_pending(&mut a);
    // Every database, every type, every write.
    q::<()>(&mut w, &["SELECT", "5"]);
    q::<()>(&mut w, &["HSET", "k2", "f", "1"]);
    assert_eq!(a.read_wire(), invalidate(&["k2"]));
    q::<()>(&mut w, &["SELECT", "0"]);
    q::<()>(&mut w, &["DEL", "k3", "nothing"]);
    assert_nothing_pending(&mut a);
    assert_eq!(a.call(&["EXISTS", "k3"]), Resp::Int(0));
    q::<()>(&mut w, &["RPUSH", "k3", "x"]);
    assert_eq!(a.read_wire(), invalidate(&["k3"]));
    // The client's own writes: after the reply, one message per key.
    assert_eq!(a.call(&["GET", "k1"]), Resp::Bulk(b"v2".to_vec()));
    assert_eq!(
        a.call(&["STRLEN", "k3"]),
        Resp::Error("WRONGTYPE Operation against a key holding the wrong kind of value".into())
    );
    a.send_cmd(&["MSET", "k1", "x", "k3", "y"]);
    assert_eq!(a.read_wire(), "+OK\r\n");
    assert_eq!(a.read_wire(), invalidate(&["k1"]));
    assert_eq!(a.read_wire(), invalidate(&["k3"]));
    // Inside MULTI/EXEC: after EXEC's whole reply.
    assert_eq!(a.call(&["GET", "m"]), Resp::Null);
    assert_eq!(a.call(&["MULTI"]), Resp::Simple("OK".into()));
    assert_eq!(a.call(&["SET", "m", "1"]), Resp::Simple("QUEUED".into()));
    assert_eq!(a.call(&["GET", "m"]), Resp::Simple("QUEUED".into()));
    a.send_cmd(&["EXEC"]);
    assert_eq!(a.read_wire(), "*2\r\n+OK\r\n$1\r\n1\r\n");
    assert_eq!(a.read_wire(), invalidate(&["m"]));
    // The GET inside EXEC was tracked.
    q::<()>(&mut w, &["SET", "m", "2"]);
    assert_eq!(a.read_wire(), invalidate(&["m"]));
    let (id, mut c) = (client_id(&mut a), srv.conn());
    let line = client_line(&mut c, id);
    assert_eq!(field(&line, "flags").as_deref(), Some("t"), "{line}");
    assert_eq!(field(&line, "redir").as_deref(), Some("0"), "{line}");
    assert_eq!(
        info_field(&mut c, "clients", "tracking_clients").as_deref(),
        Some("1")
    );
    assert_eq!(
        a.call(&["CLIENT", "TRACKING", "off"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(
        info_field(&mut c, "clients", "tracking_clients").as_deref(),
        Some("0")
    );
    assert_eq!(a.call(&["GET", "k1"]), Resp::Bulk(b"x".to_vec()));
    q::<()>(&mut w, &["SET", "k1", "z"]);
    assert_nothing_pending(&mut a);
}

#[test]
fn tracking_invalidates_on_expiry_and_flushall() {
    let srv = Server::start();
    let mut a = raw3(&srv);
    let mut w = srv.conn();
    assert_eq!(
        a.call(&["CLIENT", "TRACKING", "on"]),
        Resp::Simple("OK".into())
    );
    q::<()>(&mut w, &["SET", "e", "1", "PX", "300"]);
    assert_eq!(a.call(&["GET", "e"]), Resp::Bulk(b"1".to_vec()));
    // Active expiry deletes it on its own: the push arrives without any command.
    let (msg, _) = a.read_frame();
    assert_eq!(
        msg,
        Resp::Push(vec![
            Resp::Bulk(b"invalidate".to_vec()),
            Resp::Array(vec![Resp::Bulk(b"e".to_vec())])
        ])
    );
    assert_eq!(a.call(&["GET", "e"]), Resp::Null);
    assert_eq!(a.call(&["GET", "f"]), Resp::Null);
    q::<()>(&mut w, &["SELECT", "3"]);
    q::<()>(&mut w, &["FLUSHALL"]);
    assert_eq!(a.read_wire(), FLUSH_RESP3);
    // The table was emptied: a later write of a key read before the flush says nothing.
    q::<()>(&mut w, &["SET", "f", "1"]);
    assert_nothing_pending(&mut a);
    // Its own FLUSHDB: after the reply.
    a.send_cmd(&["FLUSHDB"]);
    assert_eq!(a.read_wire(), "+OK\r\n");
    assert_eq!(a.read_wire(), FLUSH_RESP3);
}

#[test]
fn tracking_redirects_to_a_resp2_subscriber_of_the_invalidate_channel() {
    let srv = Server::start();
    let mut s = srv.raw();
    let sid = client_id(&mut s);
    s.send_cmd(&["SUBSCRIBE", "__redis__:invalidate"]);
    assert_eq!(
        s.read_wire(),
        "*3\r\n$9\r\nsubscribe\r\n$20\r\n__redis__:invalidate\r\n:1\r\n"
    );
    let mut t = srv.raw();
    let tid = client_id(&mut t);
    let sid_s = sid.to_string();
    assert_eq!(
        t.call(&["CLIENT", "TRACKING", "on", "REDIRECT", &sid_s]),
        Resp::Simple("OK".into())
    );
    assert_eq!(t.call(&["CLIENT", "GETREDIR"]), Resp::Int(sid));
    assert_eq!(t.call(&["GET", "k"]), Resp::NullBulk);
    let mut w = srv.conn();
    q::<()>(&mut w, &["SET", "k", "1"]);
    assert_eq!(s.read_wire(), invalidate_message(&["k"]));
    // The tracking client's own write goes to the target too; it itself gets nothing.
    assert_eq!(t.call(&["GET", "k"]), Resp::Bulk(b"1".to_vec()));
    assert_eq!(t.call(&["INCR", "k"]), Resp::Int(2));
    assert_eq!(s.read_wire(), invalidate_message(&["k"]));
    assert_nothing_pending(&mut t);
    q::<()>(&mut w, &["FLUSHALL"]);
    assert_eq!(
        s.read_wire(),
        "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n$-1\r\n"
    );
    let line = client_line(&mut w, tid);
    assert_eq!(field(&line, "flags").as_deref(), Some("t"), "{line}");
    assert_eq!(field(&line, "redir"), Some(sid_s.clone()), "{line}");
    // RESP2 trackinginfo: a flat array; the flags a plain array.
    assert_eq!(
        t.call(&["CLIENT", "TRACKINGINFO"]),
        Resp::Array(vec![
            Resp::Bulk(b"flags".to_vec()),
            Resp::Array(vec![Resp::Bulk(b"on".to_vec())]),
            Resp::Bulk(b"redirect".to_vec()),
            Resp::Int(sid),
            Resp::Bulk(b"prefixes".to_vec()),
            Resp::Array(vec![]),
        ])
    );
}

#[test]
fn a_redirect_to_a_client_that_left_is_reported_broken() {
    let srv = Server::start();
    let mut s = srv.raw();
    let sid = client_id(&mut s);
    let mut a = raw3(&srv);
    let aid = client_id(&mut a);
    let sid_s = sid.to_string();
    assert_eq!(
        a.call(&["CLIENT", "TRACKING", "on", "REDIRECT", &sid_s]),
        Resp::Simple("OK".into())
    );
    assert_eq!(a.call(&["GET", "k"]), Resp::Null);
    drop(s);
    let mut w = srv.conn();
    assert!(poll_until(common::IO_TIMEOUT, || {
        let list: String = q(&mut w, &["CLIENT", "LIST"]);
        !list.contains(&format!("id={sid} "))
    }));
    q::<()>(&mut w, &["SET", "k", "1"]);
    assert_eq!(
        a.read_wire(),
        format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{sid}\r\n")
    );
    let line = client_line(&mut w, aid);
    assert_eq!(field(&line, "flags").as_deref(), Some("tR"), "{line}");
    assert_eq!(
        a.call(&["CLIENT", "TRACKINGINFO"]),
        Resp::Map(vec![
            (
                Resp::Bulk(b"flags".to_vec()),
                Resp::Set(vec![
                    Resp::Bulk(b"on".to_vec()),
                    Resp::Bulk(b"broken_redirect".to_vec())
                ])
            ),
            (Resp::Bulk(b"redirect".to_vec()), Resp::Int(sid)),
            (Resp::Bulk(b"prefixes".to_vec()), Resp::Array(vec![])),
        ])
    );
}

// ---------------------------------------------------------------------------------------------
// CLIENT TRACKING: BCAST, NOLOOP, OPTIN/OPTOUT

#[test]
fn bcast_sends_every_change_under_the_prefixes_without_reads() {
    let srv = Server::start();
    let mut a = raw3(&srv);
    let aid = client_id(&mut a);
    assert_eq!(
        a.call(&["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "user:", "PREFIX", "obj:"]),
        Resp::Simple("OK".into())
    );
    let mut w = srv.conn();
    q::<()>(&mut w, &["SET", "user:1", "x"]);
    assert_eq!(a.read_wire(), invalidate(&["user:1"]));
    q::<()>(&mut w, &["SET", "other", "x"]);
    assert_nothing_pending(&mut a);
    // One command's keys: one message per prefix, prefixes and keys in byte order.
    q::<()>(
        &mut w,
        &[
            "MSET", "user:2", "a", "obj:1", "b", "zz", "c", "user:1", "d",
        ],
    );
    assert_eq!(a.read_wire(), invalidate(&["obj:1"]));
    assert_eq!(a.read_wire(), invalidate(&["user:1", "user:2"]));
    // Its own writes: after its reply.
    a.send_cmd(&["SET", "user:5", "1"]);
    assert_eq!(a.read_wire(), "+OK\r\n");
    assert_eq!(a.read_wire(), invalidate(&["user:5"]));
    let line = client_line(&mut w, aid);
    assert_eq!(field(&line, "flags").as_deref(), Some("tB"), "{line}");
    assert_eq!(
        a.call(&["CLIENT", "TRACKINGINFO"]),
        Resp::Map(vec![
            (
                Resp::Bulk(b"flags".to_vec()),
                Resp::Set(vec![
                    Resp::Bulk(b"on".to_vec()),
                    Resp::Bulk(b"bcast".to_vec())
                ])
            ),
            (Resp::Bulk(b"redirect".to_vec()), Resp::Int(0)),
            (
                Resp::Bulk(b"prefixes".to_vec()),
                Resp::Array(vec![
                    Resp::Bulk(b"obj:".to_vec()),
                    Resp::Bulk(b"user:".to_vec())
                ])
            ),
        ])
    );
    // Without PREFIX: every key.
    let mut b = raw3(&srv);
    assert_eq!(
        b.call(&["CLIENT", "TRACKING", "on", "BCAST"]),
        Resp::Simple("OK".into())
    );
    q::<()>(&mut w, &["SET", "anything", "1"]);
    assert_eq!(b.read_wire(), invalidate(&["anything"]));
    q::<()>(&mut w, &["FLUSHALL"]);
    assert_eq!(b.read_wire(), FLUSH_RESP3);
    assert_eq!(a.read_wire(), FLUSH_RESP3);
}

#[test]
fn noloop_skips_the_clients_own_writes() {
    let srv = Server::start();
    let mut a = raw3(&srv);
    let mut w = srv.conn();
    assert_eq!(
        a.call(&["CLIENT", "TRACKING", "on", "NOLOOP"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(a.call(&["GET", "n"]), Resp::Null);
    a.send_cmd(&["SET", "n", "1"]);
    assert_eq!(a.read_wire(), "+OK\r\n");
    assert_nothing_pending(&mut a);
    assert_eq!(a.call(&["GET", "n"]), Resp::Bulk(b"1".to_vec()));
    q::<()>(&mut w, &["SET", "n", "2"]);
    assert_eq!(a.read_wire(), invalidate(&["n"]));
    // BCAST + NOLOOP.
    let mut b = raw3(&srv);
    assert_eq!(
        b.call(&["CLIENT", "TRACKING", "on", "BCAST", "NOLOOP", "PREFIX", "p:"]),
        Resp::Simple("OK".into())
    );
    b.send_cmd(&["SET", "p:1", "1"]);
    assert_eq!(b.read_wire(), "+OK\r\n");
    assert_nothing_pending(&mut b);
    q::<()>(&mut w, &["SET", "p:2", "1"]);
    assert_eq!(b.read_wire(), invalidate(&["p:2"]));
}

#[test]
fn optin_tracks_only_reads_after_caching_yes_and_optout_all_but_caching_no() {
    let srv = Server::start();
    let mut a = raw3(&srv);
    let mut w = srv.conn();
    assert_eq!(
        a.call(&["CLIENT", "TRACKING", "on", "OPTIN"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(a.call(&["GET", "o1"]), Resp::Null);
    assert_eq!(
        a.call(&["CLIENT", "CACHING", "yes"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(a.call(&["GET", "o2"]), Resp::Null);
    // The hint covers the next command only (CLIENT commands do not use it up).
    assert_eq!(a.call(&["GET", "o3"]), Resp::Null);
    assert_eq!(
        a.call(&["CLIENT", "CACHING", "yes"]),
        Resp::Simple("OK".into())
    );
    assert!(matches!(a.call(&["CLIENT", "TRACKINGINFO"]), Resp::Map(_)));
    assert_eq!(a.call(&["GET", "o4"]), Resp::Null);
    q::<()>(
        &mut w,
        &["MSET", "o1", "1", "o2", "1", "o3", "1", "o4", "1"],
    );
    assert_eq!(a.read_wire(), invalidate(&["o2"]));
    assert_eq!(a.read_wire(), invalidate(&["o4"]));
    assert_nothing_pending(&mut a);

    let mut b = raw3(&srv);
    assert_eq!(
        b.call(&["CLIENT", "TRACKING", "on", "OPTOUT"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(b.call(&["GET", "x1"]), Resp::Null);
    assert_eq!(
        b.call(&["CLIENT", "CACHING", "no"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(b.call(&["GET", "x2"]), Resp::Null);
    q::<()>(&mut w, &["MSET", "x1", "1", "x2", "1"]);
    assert_eq!(b.read_wire(), invalidate(&["x1"]));
    assert_nothing_pending(&mut b);
}

#[test]
fn tracking_errors_and_replies_match_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    let e = |c: &mut redis::Connection, args: &[&str]| qerr(c, args);
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "on", "REDIRECT", "999999"]),
        "ERR The client ID you want redirect to does not exist"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "on", "REDIRECT", "x"]),
        "ERR value is not an integer or out of range"
    );
    let me: i64 = q(&mut c, &["CLIENT", "ID"]);
    let me = me.to_string();
    assert_eq!(
        e(
            &mut c,
            &["CLIENT", "TRACKING", "on", "REDIRECT", &me, "REDIRECT", &me]
        ),
        "ERR A client can only redirect to a single other client"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "on", "PREFIX", "a"]),
        "ERR PREFIX option requires BCAST mode to be enabled"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "on", "BCAST", "OPTIN"]),
        "ERR OPTIN and OPTOUT are not compatible with BCAST"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "on", "OPTIN", "OPTOUT"]),
        "ERR You can't specify both OPTIN mode and OPTOUT mode"
    );
    assert_eq!(
        e(
            &mut c,
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "ab", "PREFIX", "a"]
        ),
        "ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single \
         client must not overlap."
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "maybe"]),
        "ERR syntax error"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "on", "FOO"]),
        "ERR syntax error"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING"]),
        "ERR wrong number of arguments for 'client|tracking' command"
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "CACHING", "yes"]),
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN \
         or OPTOUT mode enabled"
    );
    assert_eq!(q::<i64>(&mut c, &["CLIENT", "GETREDIR"]), -1);
    // A RESP2 client may track without a redirect (it just gets no messages).
    q::<()>(
        &mut c,
        &[
            "CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "a", "PREFIX", "b",
        ],
    );
    assert_eq!(q::<i64>(&mut c, &["CLIENT", "GETREDIR"]), 0);
    assert_eq!(
        e(
            &mut c,
            &["CLIENT", "TRACKING", "on", "BCAST", "PREFIX", "abc"]
        ),
        "ERR Prefix 'abc' overlaps with an existing prefix 'a'. Prefixes for a single client \
         must not overlap."
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "on"]),
        "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and \
         then re-enabling it with a different mode."
    );
    q::<()>(&mut c, &["CLIENT", "TRACKING", "off"]);
    q::<()>(&mut c, &["CLIENT", "TRACKING", "on", "OPTIN"]);
    assert_eq!(
        e(&mut c, &["CLIENT", "TRACKING", "on", "OPTOUT"]),
        "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and \
         then re-enabling it with a different mode."
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "CACHING", "no"]),
        "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."
    );
    assert_eq!(
        e(&mut c, &["CLIENT", "CACHING", "maybe"]),
        "ERR syntax error"
    );
    q::<()>(&mut c, &["CLIENT", "TRACKING", "off"]);
    let info = q::<redis::Value>(&mut c, &["CLIENT", "TRACKINGINFO"]);
    assert_eq!(
        info,
        redis::Value::Array(vec![
            redis::Value::BulkString(b"flags".to_vec()),
            redis::Value::Array(vec![redis::Value::BulkString(b"off".to_vec())]),
            redis::Value::BulkString(b"redirect".to_vec()),
            redis::Value::Int(-1),
            redis::Value::BulkString(b"prefixes".to_vec()),
            redis::Value::Array(vec![]),
        ])
    );
    // RESET turns tracking off.
    let mut r = srv.raw();
    assert_eq!(
        r.call(&["CLIENT", "TRACKING", "on"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(r.call(&["RESET"]), Resp::Simple("RESET".into()));
    assert_eq!(r.call(&["CLIENT", "GETREDIR"]), Resp::Int(-1));
}

// ---------------------------------------------------------------------------------------------
// CLIENT PAUSE

#[test]
fn pause_write_holds_a_set_but_not_a_get_until_unpause() {
    let srv = Server::start();
    let mut admin = srv.conn();
    let mut w = srv.raw();
    let wid = client_id(&mut w);
    q::<()>(&mut admin, &["CLIENT", "PAUSE", "100000", "WRITE"]);
    // A pipeline: the GET runs and replies, the SET waits (and the GET behind it).
    w.send(
        &[
            common::encode_cmd(&[b"GET", b"k"]),
            common::encode_cmd(&[b"SET", b"k", b"v"]),
            common::encode_cmd(&[b"GET", b"k"]),
        ]
        .concat(),
    );
    assert_eq!(w.read_reply(), Resp::NullBulk);
    // The SET is held: shown blocked on it, and not applied.
    assert!(
        poll_until(common::IO_TIMEOUT, || {
            let line = client_line(&mut admin, wid);
            field(&line, "flags").as_deref() == Some("b")
                && field(&line, "cmd").as_deref() == Some("set")
        }),
        "{}",
        client_line(&mut admin, wid)
    );
    let mut r = srv.conn();
    assert_eq!(q::<Option<String>>(&mut r, &["GET", "k"]), None);
    assert_eq!(
        info_field(&mut r, "clients", "blocked_clients").as_deref(),
        Some("1")
    );
    assert!(w.pending().is_empty());
    q::<()>(&mut admin, &["CLIENT", "UNPAUSE"]);
    assert_eq!(w.read_reply(), Resp::Simple("OK".into()));
    assert_eq!(w.read_reply(), Resp::Bulk(b"v".to_vec()));
    assert_eq!(
        info_field(&mut r, "clients", "blocked_clients").as_deref(),
        Some("0")
    );
}

#[test]
fn pause_write_holds_publish_pfcount_and_writes_queued_in_multi() {
    let srv = Server::start();
    let mut admin = srv.conn();
    let mut w = srv.raw();
    let wid = client_id(&mut w);
    q::<()>(&mut admin, &["CLIENT", "PAUSE", "100000", "WRITE"]);
    w.send_cmd(&["PUBLISH", "c", "m"]);
    assert!(poll_until(common::IO_TIMEOUT, || {
        field(&client_line(&mut admin, wid), "cmd").as_deref() == Some("publish")
    }));
    q::<()>(&mut admin, &["CLIENT", "UNPAUSE"]);
    assert_eq!(w.read_reply(), Resp::Int(0));
    // PFCOUNT may rewrite its key's cached count, so Redis holds it too.
    q::<()>(&mut admin, &["PFADD", "hll", "a"]);
    q::<()>(&mut admin, &["CLIENT", "PAUSE", "100000", "WRITE"]);
    w.send_cmd(&["PFCOUNT", "hll"]);
    assert!(poll_until(common::IO_TIMEOUT, || {
        let line = client_line(&mut admin, wid);
        field(&line, "cmd").as_deref() == Some("pfcount")
            && field(&line, "flags").is_some_and(|f| f.contains('b'))
    }));
    q::<()>(&mut admin, &["CLIENT", "UNPAUSE"]);
    assert_eq!(w.read_reply(), Resp::Int(1));
    q::<()>(&mut admin, &["CLIENT", "PAUSE", "100000", "WRITE"]);
    assert_eq!(w.call(&["MULTI"]), Resp::Simple("OK".into()));
    w.send_cmd(&["SET", "k", "1"]);
    // Held while queueing (flags `xb` in Redis: in MULTI, blocked).
    assert!(poll_until(common::IO_TIMEOUT, || {
        field(&client_line(&mut admin, wid), "flags").is_some_and(|f| f.contains('b'))
    }));
    q::<()>(&mut admin, &["CLIENT", "UNPAUSE"]);
    assert_eq!(w.read_reply(), Resp::Simple("QUEUED".into()));
    assert_eq!(
        w.call(&["EXEC"]),
        Resp::Array(vec![Resp::Simple("OK".into())])
    );
}

#[test]
fn pause_all_holds_every_command_until_its_timeout() {
    let srv = Server::start();
    let mut admin = srv.conn();
    let mut c = srv.raw();
    let start = Instant::now();
    q::<()>(&mut admin, &["CLIENT", "PAUSE", "400"]);
    assert_eq!(c.call(&["PING"]), Resp::Simple("PONG".into()));
    let waited = start.elapsed();
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    // The pausing client is paused too.
    q::<()>(&mut admin, &["CLIENT", "PAUSE", "300", "ALL"]);
    let start = Instant::now();
    assert_eq!(q::<String>(&mut admin, &["PING"]), "PONG");
    assert!(start.elapsed() >= Duration::from_millis(200));
}

#[test]
fn pause_errors_match_redis() {
    let srv = Server::start();
    let mut c = srv.conn();
    for (args, err) in [
        (&["CLIENT", "PAUSE", "-1"][..], "ERR timeout is negative"),
        (
            &["CLIENT", "PAUSE", "abc"],
            "ERR timeout is not an integer or out of range",
        ),
        (
            &["CLIENT", "PAUSE", "1.5"],
            "ERR timeout is not an integer or out of range",
        ),
        (
            &["CLIENT", "PAUSE", "100", "FOO"],
            "ERR CLIENT PAUSE mode must be WRITE or ALL",
        ),
        (
            &["CLIENT", "PAUSE", "100", "WRITE", "x"],
            "ERR unknown subcommand or wrong number of arguments for 'PAUSE'. Try CLIENT HELP.",
        ),
        (
            &["CLIENT", "PAUSE"],
            "ERR wrong number of arguments for 'client|pause' command",
        ),
        (
            &["CLIENT", "UNPAUSE", "x"],
            "ERR wrong number of arguments for 'client|unpause' command",
        ),
    ] {
        assert_eq!(qerr(&mut c, args), err, "{args:?}");
    }
    q::<()>(&mut c, &["CLIENT", "PAUSE", "0"]);
    q::<()>(&mut c, &["CLIENT", "UNPAUSE"]);
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
}

// ---------------------------------------------------------------------------------------------
// timeout and maxclients

#[test]
fn maxclients_refuses_one_more_with_redis_error() {
    let srv = Server::start_with(&["--maxclients", "3"]);
    let mut held: Vec<Raw> = (0..3).map(|_| srv.raw()).collect();
    for r in &mut held {
        assert_eq!(r.call(&["PING"]), Resp::Simple("PONG".into()));
    }
    let mut extra = srv.raw();
    assert_eq!(extra.read_wire(), "-ERR max number of clients reached\r\n");
    assert!(extra.closed_within(common::IO_TIMEOUT));
    let mut c = held.pop().expect("one held");
    let rejected: String = match c.call(&["INFO", "stats"]) {
        Resp::Bulk(b) | Resp::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("{other:?}"),
    };
    assert!(rejected.contains("rejected_connections:1"), "{rejected}");
}

#[test]
fn idle_timeout_closes_normal_clients_but_spares_subscribers_and_monitors() {
    let srv = Server::start_with(&["--timeout", "1"]);
    let mut sub = srv.raw();
    sub.send_cmd(&["SUBSCRIBE", "ch"]);
    assert!(matches!(sub.read_reply(), Resp::Array(_)));
    let mut m = start_monitor(&srv);
    let mut idle = srv.raw();
    assert_eq!(idle.call(&["PING"]), Resp::Simple("PONG".into()));
    assert_eq!(
        monitor_line(&mut m),
        format!(r#"[0 {}] "PING""#, addr_of(&idle))
    );
    assert!(
        idle.closed_within(Duration::from_secs(10)),
        "idle client still connected 10 s after a 1 s timeout"
    );
    // Both were idle longer than the closed client, and are still served.
    let mut p = srv.raw();
    let at = addr_of(&p);
    assert_eq!(p.call(&["PUBLISH", "ch", "hi"]), Resp::Int(1));
    assert_eq!(
        sub.read_reply(),
        Resp::Array(vec![
            Resp::Bulk(b"message".to_vec()),
            Resp::Bulk(b"ch".to_vec()),
            Resp::Bulk(b"hi".to_vec())
        ])
    );
    assert_eq!(
        monitor_line(&mut m),
        format!(r#"[0 {at}] "PUBLISH" "ch" "hi""#)
    );
}

/// A write pause lets scripts and functions that declare `no-writes` run, as Redis drops
/// `write` from such a call's flags; a script without the declaration waits.
#[test]
fn pause_write_lets_no_writes_scripts_run() {
    let srv = Server::start();
    let mut admin = srv.conn();
    let lib = "#!lua name=f1\nredis.register_function{function_name='f1', \
               callback=function() return 'hello' end, flags={'no-writes'}}";
    q::<()>(&mut admin, &["SET", "x", "y"]);
    q::<()>(&mut admin, &["FUNCTION", "LOAD", "REPLACE", lib]);
    let ro = "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])";
    let sha: String = q(&mut admin, &["SCRIPT", "LOAD", ro]);
    q::<()>(&mut admin, &["CLIENT", "PAUSE", "100000", "WRITE"]);
    let mut w = srv.raw();
    let wid = client_id(&mut w);
    assert_eq!(w.call(&["EVAL", ro, "1", "x"]), Resp::Bulk(b"y".to_vec()));
    assert_eq!(
        w.call(&["EVALSHA", &sha, "1", "x"]),
        Resp::Bulk(b"y".to_vec())
    );
    assert_eq!(w.call(&["FCALL", "f1", "0"]), Resp::Bulk(b"hello".to_vec()));
    w.send_cmd(&["EVAL", "return redis.call('get', KEYS[1])", "1", "x"]);
    assert!(poll_until(common::IO_TIMEOUT, || {
        let line = client_line(&mut admin, wid);
        field(&line, "cmd").as_deref() == Some("eval")
            && field(&line, "flags").is_some_and(|f| f.contains('b'))
    }));
    q::<()>(&mut admin, &["CLIENT", "UNPAUSE"]);
    assert_eq!(w.read_reply(), Resp::Bulk(b"y".to_vec()));
}
