//! Runs each example under `examples/` against a real server and checks what it prints.
//!
//! The examples are compiled into this test as modules (`#[path]`), and their `run` functions
//! called with the harness's server, so the test always exercises the current source (a built
//! example binary could be missing or stale) and can give each example an ephemeral port.

// Every example declares `mod args;` (examples/args), so this test loads that file once per
// example.
#![allow(clippy::duplicate_mod)]

mod common;

#[allow(dead_code)]
#[path = "../examples/cache_ttl.rs"]
mod cache_ttl;
#[allow(dead_code)]
#[path = "../examples/dashboard_feed.rs"]
mod dashboard_feed;
#[allow(dead_code)]
#[path = "../examples/group_crash.rs"]
mod group_crash;
#[allow(dead_code)]
#[path = "../examples/leaderboard.rs"]
mod leaderboard;
#[allow(dead_code)]
#[path = "../examples/rate_limiter.rs"]
mod rate_limiter;
#[allow(dead_code)]
#[path = "../examples/task_queue.rs"]
mod task_queue;
#[allow(dead_code)]
#[path = "../examples/webhook.rs"]
mod webhook;

use std::future::Future;
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{q, Server};

/// Awaits `f`, failing the test after 20 s.
async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(20), f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A log that collects lines, for the examples that print from several tasks.
fn collector() -> (task_queue::Log, Arc<Mutex<Vec<String>>>) {
    let store = Arc::new(Mutex::new(Vec::new()));
    let s = store.clone();
    (Arc::new(move |l| s.lock().unwrap().push(l)), store)
}

fn msgpack_addr(srv: &Server) -> String {
    format!("127.0.0.1:{}", srv.msgpack_port)
}

#[tokio::test]
async fn task_queue_finishes_every_task_and_dead_letters_poison() {
    let srv = Server::start();
    let cfg = task_queue::Config {
        url: srv.url(),
        tasks: 15,
        workers: 3,
        max_attempts: 3,
        prefix: "tq:".into(),
    };
    // A task a worker of an earlier run held when it died.
    let mut con = srv.conn();
    let _: i64 = q(
        &mut con,
        &["LPUSH", "tq:queue:processing:worker-2", "task-orphan"],
    );
    let (log, out) = collector();
    let report = within("the queue to drain", task_queue::run(cfg, log))
        .await
        .unwrap();
    assert_eq!(
        report.dead,
        ["task-0:poison", "task-14:poison", "task-7:poison"]
    );
    assert_eq!(report.done.len(), 13);
    assert!(report.done.contains(&"task-orphan".to_string()));
    let out = out.lock().unwrap().clone();
    assert_eq!(out[0], "recovered task-orphan from worker-2");
    assert!(out.contains(&"done: 13 tasks".to_string()), "{out:#?}");
    assert!(out.contains(&"dead-lettered: task-0:poison, task-14:poison, task-7:poison".into()));
    // Each poison task was tried three times: two retries, then the dead-letter list.
    let retries = out
        .iter()
        .filter(|l| l.contains("failed task-7:poison"))
        .count();
    assert_eq!(retries, 2, "{out:#?}");
    assert!(out
        .iter()
        .any(|l| l.ends_with("dead-lettered task-7:poison after 3 attempts")));
    // Nothing is left in a processing list or the queue.
    let left: Vec<String> = q(&mut con, &["KEYS", "tq:queue*"]);
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn rate_limiter_allows_the_limit_then_denies() {
    let srv = Server::start();
    let limiter = rate_limiter::Limiter {
        limit: 5,
        window_ms: 60_000,
        prefix: "rl:".into(),
    };
    let mut out = Vec::new();
    let d = rate_limiter::run(&srv.url(), &limiter, 8, &mut out)
        .await
        .unwrap();
    assert_eq!(d.iter().filter(|d| d.allowed).count(), 5);
    let out = lines(&out);
    assert_eq!(out[0], "request 1: allowed (1/5 in window)");
    assert_eq!(out[4], "request 5: allowed (5/5 in window)");
    assert_eq!(out[5], "request 6: denied (5/5 in window)");
    assert_eq!(out[7], "request 8: denied (5/5 in window)");
}

#[tokio::test]
async fn leaderboard_ranks_after_the_round() {
    let srv = Server::start_doors(&[]);
    let mut out = Vec::new();
    leaderboard::run(&msgpack_addr(&srv), &mut out)
        .await
        .unwrap();
    assert_eq!(
        lines(&out),
        [
            "1. bob 170",
            "2. carol 150",
            "3. alice 130",
            "dave is #4 of 4"
        ]
    );
}

#[tokio::test]
async fn cache_ttl_misses_hits_and_sees_the_expiry() {
    let srv = Server::start_doors(&[]);
    let mut out = Vec::new();
    within(
        "the cache entry to expire",
        cache_ttl::run(&msgpack_addr(&srv), 200, &mut out),
    )
    .await
    .unwrap();
    let out = lines(&out);
    assert_eq!(out[0], r#"miss user 1 -> {"id":1,"name":"user-1"}"#);
    assert_eq!(out[1], r#"hit  user 1 -> {"id":1,"name":"user-1"}"#);
    assert!(
        out[2].starts_with("cached for at most 200 ms (pttl "),
        "{out:?}"
    );
    assert_eq!(out[3], "expired cache:user:1 (Expiry)");
    assert_eq!(out[4], "miss user 1 after expiry");
}

#[tokio::test]
async fn dashboard_feed_prints_matching_changes_and_totals() {
    let srv = Server::start_doors(&[]);
    let mut con = srv.conn();
    let _: () = q(&mut con, &["SET", "order:1", "new"]);
    let _: () = q(&mut con, &["SET", "other", "x"]);
    let _: i64 = q(&mut con, &["HSET", "order:2", "total", "42"]);
    let _: i64 = q(&mut con, &["DEL", "order:1"]);
    let mut out = Vec::new();
    let start = eddy_client::Start::Earliest;
    let addr = msgpack_addr(&srv);
    let feed = dashboard_feed::run(&addr, "order:*", start, Some(3), &mut out);
    let totals = within("three changes", feed).await.unwrap();
    assert_eq!(totals.values().sum::<usize>(), 3);
    let out = lines(&out);
    assert!(
        out[0].starts_with("following order:* from offset "),
        "{out:?}"
    );
    // Offsets vary; what follows them does not.
    let shown: Vec<&str> = out[1..4]
        .iter()
        .map(|l| l.split_once(' ').map_or(l.as_str(), |(_, rest)| rest))
        .collect();
    assert_eq!(shown, ["set order:1 = new", "hset order:2", "del order:1"]);
    assert_eq!(out[4], "totals: del=1 hset=1 set=1");
}

/// Posts `body` to the webhook with a signature header; returns the status code and body.
fn post(port: u16, body: &str, signature: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/cloudevents-batch+json\r\n\
         X-Eddy-Trigger: audit\r\nX-Eddy-Signature: {signature}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp[9..12].parse().unwrap();
    let body = resp
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn cloud_event(offset: u64, key: &str) -> serde_json::Value {
    serde_json::json!({
        "specversion": "1.0", "id": format!("e1:{offset}"), "source": "eddy://test/db/0",
        "type": "io.eddy.change.set", "subject": key, "eddyoffset": offset,
        "data": {"offset": offset, "key": key, "event": "set", "args": ["SET", key, "v"]}
    })
}

#[tokio::test]
async fn webhook_verifies_signatures_and_reports_partial_failures() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (log, out) = collector();
    let server = tokio::spawn(webhook::run(listener, b"s3cr3t", log));

    let batch = serde_json::json!([
        cloud_event(7, "order:1"),
        cloud_event(8, "poison:1"),
        cloud_event(9, "order:2")
    ])
    .to_string();
    let sig = webhook::sign(b"s3cr3t", batch.as_bytes());
    let (b2, s2) = (batch.clone(), sig.clone());
    let (status, body) = tokio::task::spawn_blocking(move || post(port, &b2, &s2))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        reply,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "e1:8"}]})
    );

    // The retried batch: the processed records are skipped, the poison one fails again.
    let (b2, s2) = (batch.clone(), sig);
    let (status, body) = tokio::task::spawn_blocking(move || post(port, &b2, &s2))
        .await
        .unwrap();
    assert_eq!((status, body.contains("e1:8")), (200, true));

    // A body that does not match its signature is refused (4xx: the trigger does not retry it).
    let forged = batch.replace("order:2", "order:3");
    let sig = webhook::sign(b"wrong", forged.as_bytes());
    let (status, _) = tokio::task::spawn_blocking(move || post(port, &forged, &sig))
        .await
        .unwrap();
    assert_eq!(status, 401);

    // DynamoDB-shaped batches are read too.
    let ddb = serde_json::json!({"Records": [{"eventID": "e1:10", "eventName": "MODIFY",
        "dynamodb": {"Keys": {"key": {"S": "user:1"}}, "SequenceNumber": "10"}}]})
    .to_string();
    let sig = webhook::sign(b"s3cr3t", ddb.as_bytes());
    let (status, body) = tokio::task::spawn_blocking(move || post(port, &ddb, &sig))
        .await
        .unwrap();
    assert_eq!(
        (status, body.as_str()),
        (200, r#"{"batchItemFailures":[]}"#)
    );
    server.abort();

    let out = out.lock().unwrap().clone();
    assert_eq!(
        out,
        [
            "processed e1:7 set order:1",
            "failed e1:8: cannot process poison:1",
            "processed e1:9 set order:2",
            "skipped e1:7 (already processed)",
            "failed e1:8: cannot process poison:1",
            "skipped e1:9 (already processed)",
            "rejected a batch: bad signature",
            "processed e1:10 MODIFY user:1",
        ]
    );
}

#[tokio::test]
async fn group_crash_worker_b_claims_what_worker_a_left() {
    let srv = Server::start_doors(&[]);
    let mut out = Vec::new();
    let outcome = within(
        "the recovery",
        group_crash::run(&msgpack_addr(&srv), Duration::from_millis(100), &mut out),
    )
    .await
    .unwrap();
    assert_eq!(outcome.acked_by_a, ["email:1", "email:2"]);
    assert_eq!(outcome.claimed_by_b, ["email:3", "email:4"]);
    assert_eq!(outcome.pending_after, 0);
    assert_eq!(
        lines(&out),
        [
            "worker-a sent email:1 (acked)",
            "worker-a sent email:2 (acked)",
            "worker-a crashed holding 2 unacknowledged changes",
            "worker-b claimed and sent email:3 (delivery 2)",
            "worker-b claimed and sent email:4 (delivery 2)",
            "pending after recovery: 0",
        ]
    );
}
