//! BullMQ, the npm task queue whose logic runs as Lua scripts inside the server, unchanged
//! against the server under test: `tests/bullmq/queue.mjs` adds jobs, a worker processes them, a
//! failing job is retried (attempts + fixed backoff) until it lands in the failed set, a delayed
//! job waits its delay, and QueueEvents (blocking XREAD on the queue's event stream) sees every
//! event; `tests/bullmq/stalled_limiter.mjs` recovers a stalled job and runs the worker rate
//! limiter. The scripts wait on events and print `RESULT <json>`; these tests assert on it.
//! The expectations are Redis 7's (the tests also run with `EDDY_TEST_SERVER=redis-server`).
//!
//! Needs `node` and `npm ci --prefix tests/bullmq` (done by `.ci/run`); without them the test
//! reports itself skipped (a failure under EDDY_REQUIRE_ALL=1).

mod common;

use common::{require_tool, Server};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// `bullmq` and `ioredis` installed under tests/bullmq, with the harness's skip policy.
fn require_bullmq(test: &str, dir: &Path) -> bool {
    let m = dir.join("node_modules");
    (m.join("bullmq").is_dir() && m.join("ioredis").is_dir())
        || common::skip(test, "bullmq and ioredis (npm ci --prefix tests/bullmq)")
}

/// Runs `tests/bullmq/<script>` against a fresh server and returns its `RESULT` JSON, or `None`
/// when the test is skipped (no `node`, or the npm packages are not installed).
fn run_script(test: &str, script: &str) -> Option<Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bullmq");
    if !(require_tool("node") && require_bullmq(test, &dir)) {
        return None;
    }
    let s = Server::start();
    let out = Command::new("node")
        .arg(dir.join(script))
        .arg(s.port().to_string())
        .current_dir(&dir)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT "));
    match (out.status.success(), line) {
        (true, Some(json)) => Some(serde_json::from_str(json).expect("RESULT json")),
        _ => panic!(
            "{script} failed ({})\nstdout: {stdout}\nstderr: {stderr}\nserver log:\n{}",
            out.status,
            s.log()
        ),
    }
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|x| x.as_str().expect("string"))
        .collect()
}

#[test]
fn bullmq_producer_worker_retries_delayed_and_events() {
    let Some(r) = run_script(
        "bullmq_producer_worker_retries_delayed_and_events",
        "queue.mjs",
    ) else {
        return;
    };

    // Every job reached its final state, none is left behind.
    let counts = &r["counts"];
    assert_eq!(counts["completed"], 4, "{r}");
    assert_eq!(counts["failed"], 1, "{r}");
    for state in ["waiting", "delayed", "active"] {
        assert_eq!(counts[state], 0, "{state}: {r}");
    }
    assert_eq!(strs(&r["okIds"]), ["1", "2", "3"]);
    assert_eq!(strs(&r["completedIds"]), ["1", "2", "3", "5"]);
    assert_eq!(strs(&r["failedIds"]), ["4"]);

    // The failing job: three attempts, the last attempt's error as its reason, one stack trace
    // per attempt, and the events of two backoff retries before the final failure.
    let bad = &r["bad"];
    assert_eq!(bad["id"], "4");
    assert_eq!(bad["attemptsMade"], 3, "{r}");
    assert_eq!(bad["failedReason"], "always fails (attempt 3)");
    assert_eq!(bad["stacktraceLen"], 3);
    assert_eq!(bad["state"], "failed");
    assert_eq!(
        strs(&r["badEvents"]),
        [
            "added",
            "waiting",
            "active",
            "delayed",
            "waiting",
            "active",
            "delayed",
            "waiting",
            "active",
            "failed",
            "retries-exhausted"
        ]
    );
    assert_eq!(strs(&r["badFailedReasons"]), ["always fails (attempt 3)"]);

    // The delayed job ran no earlier than its delay, through the delayed set.
    let late = &r["late"];
    assert_eq!(late["returnvalue"]["doubled"], 42);
    assert_eq!(late["waitedEnough"], true, "{r}");
    assert_eq!(late["state"], "completed");
    assert_eq!(
        strs(&r["lateEvents"]),
        ["added", "delayed", "waiting", "active", "completed"]
    );
    assert_eq!(
        strs(&r["okEvents"]),
        ["added", "waiting", "active", "completed"]
    );
}

#[test]
fn bullmq_stalled_job_recovery_and_rate_limiter() {
    let Some(r) = run_script(
        "bullmq_stalled_job_recovery_and_rate_limiter",
        "stalled_limiter.mjs",
    ) else {
        return;
    };

    // The job taken by the "crashed" worker came back once its lock expired and was completed
    // by the other worker: two starts, one `stalled` event between the two activations.
    let st = &r["stalled"];
    assert_eq!(st["takenId"], st["jobId"], "{r}");
    assert_eq!(st["recoveredAfterLock"], true, "{r}");
    assert_eq!(st["returnvalue"], "rescued after 2 starts");
    assert_eq!(st["attemptsStarted"], 2);
    assert_eq!(st["state"], "completed");
    assert_eq!(
        strs(&st["events"]),
        [
            "added",
            "waiting",
            "active<waiting",
            "waiting<active",
            "stalled",
            "active<waiting",
            "completed<active"
        ]
    );

    // The limiter let at most `max` jobs start per window: the third and fifth jobs waited for
    // the first and second windows' keys to expire (the first opened after `addedAt`, the
    // second when the third job started). Only lower bounds: a loaded machine may be slower,
    // never faster; a few ms of slack for the server's and the client's clocks.
    let lim = &r["limiter"];
    let offsets: Vec<i64> = lim["offsets"]
        .as_array()
        .expect("offsets")
        .iter()
        .map(|v| v.as_i64().expect("ms"))
        .collect();
    let duration = lim["duration"].as_i64().expect("duration");
    assert_eq!(offsets.len(), 6, "{r}");
    assert!(offsets[2] >= duration - 5, "third job too early: {r}");
    assert!(offsets[4] >= 2 * duration - 5, "fifth job too early: {r}");
}
