//! The dashboard in a real browser: headless Chromium (Debian's `chromium`, driven by
//! `playwright-core` from `tests/browser/`) opens the page served at `/`, a key is written with
//! `redis-cli`, and the change must appear in the page's live table (pushed over the WebSocket).
//!
//! Needs `node`, `chromium`, `redis-cli` and `npm install --prefix tests/browser` (done by
//! `.ci/run`); without them the test reports itself skipped (a failure under EDDY_REQUIRE_ALL=1).

mod common;

use common::{eddy_only, require_tool, Server};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// `playwright-core` installed under tests/browser, with the harness's skip policy.
fn require_playwright(dir: &Path) -> bool {
    if dir.join("node_modules/playwright-core").is_dir() {
        return true;
    }
    let msg = "playwright-core is not installed (npm install --prefix tests/browser)";
    if std::env::var("EDDY_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("dashboard test: {msg}, and EDDY_REQUIRE_ALL=1 is set");
    }
    eprintln!("SKIPPED dashboard_shows_a_change_written_with_redis_cli: {msg}");
    false
}

#[test]
fn dashboard_shows_a_change_written_with_redis_cli() {
    if !eddy_only("dashboard_shows_a_change_written_with_redis_cli") {
        return;
    }
    let browser_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    if !(require_tool("node")
        && require_tool("chromium")
        && require_tool("redis-cli")
        && require_playwright(&browser_dir))
    {
        return;
    }
    let s = Server::start_doors(&[]);
    let http = s.http_port;
    let started = Instant::now();
    let out = Command::new("node")
        .arg(browser_dir.join("dashboard.mjs"))
        .arg(format!("http://127.0.0.1:{http}/"))
        .arg(s.port().to_string())
        .current_dir(&browser_dir)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.starts_with("OK "),
        "browser script failed after {:?}\nstdout: {stdout}\nstderr: {stderr}",
        started.elapsed()
    );
    // The offset the page showed is the record of that SET in the change log.
    let offset: i64 = stdout[3..].trim().parse().expect("offset");
    let mut c = s.conn();
    let ev = common::qv(
        &mut c,
        &["CHANGES", "READ", &offset.to_string(), "COUNT", "1"],
    );
    let first = match ev {
        redis::Value::Array(v) => v.into_iter().next().expect("one event"),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        common::vget(&first, "event")
            .as_ref()
            .and_then(common::vstr),
        Some("set".to_string())
    );
}
