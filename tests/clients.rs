//! The client suites under `clients/` against the freshly built `eddy-server`: the Python client
//! (`clients/python`, pytest), redis-py unchanged (`clients/compat`, pytest), the TypeScript
//! client (`clients/js`, `npm test`, under Node and in headless Chromium) and node-redis
//! unchanged (`clients/compat/node`, `npm test`).
//! Each suite starts its own servers on free ports from `EDDY_SERVER_BIN`.
//!
//! Skip policy as in `tests/common`: a missing program, Python package or `node_modules` prints
//! `SKIPPED <test>: <reason>`, and fails the test under `EDDY_REQUIRE_ALL=1`. What a suite itself
//! skips or expects to fail is printed as `SKIPPED`/`XFAIL`/`TODO` lines, never counted as passed.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::require_tool;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn test_name() -> String {
    std::thread::current()
        .name()
        .unwrap_or("<unnamed test>")
        .to_string()
}

/// Notes that a prerequisite is missing: a failure under `EDDY_REQUIRE_ALL=1`, else a skip.
fn missing(what: &str) {
    let test = test_name();
    if std::env::var("EDDY_REQUIRE_ALL").is_ok_and(|v| v == "1") {
        panic!("{test} needs {what}, and EDDY_REQUIRE_ALL=1 is set");
    }
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {what}");
}

/// Whether python3 can import every module (else reports which are missing).
fn python_modules(modules: &[&str]) -> bool {
    if !require_tool("python3") {
        return false;
    }
    let absent: Vec<&str> = modules
        .iter()
        .copied()
        .filter(|m| {
            !Command::new("python3")
                .args(["-c", &format!("import {m}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .collect();
    if absent.is_empty() {
        return true;
    }
    missing(&format!(
        "the Python packages {absent:?} (pip install websockets msgpack redis pytest)"
    ));
    false
}

/// Whether node (≥ 20) and npm are there and `dir` has its `npm ci` done.
fn node_ready(dir: &Path) -> bool {
    if !require_tool("node") || !require_tool("npm") {
        return false;
    }
    let major = Command::new("node")
        .args(["-p", "process.versions.node.split('.')[0]"])
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<u32>()
                .ok()
        });
    if major.is_none_or(|m| m < 20) {
        missing(&format!("Node.js >= 20 (found major version {major:?})"));
        return false;
    }
    if !dir.join("node_modules").is_dir() {
        missing(&format!("`npm ci` in {}", dir.display()));
        return false;
    }
    true
}

/// Longest a whole suite may take before it is killed and the test fails.
const SUITE_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs a suite in `dir` against this build's server, echoes its output, and fails the test
/// unless the suite passed in time. Returns the output for the caller's checks.
fn run_suite(dir: &Path, program: &str, args: &[&str]) -> String {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("EDDY_SERVER_BIN", env!("CARGO_BIN_EXE_eddy-server"))
        .env_remove("EDDY_TEST_SERVER")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let readers = [
        drain(child.stdout.take().expect("stdout")),
        drain(child.stderr.take().expect("stderr")),
    ];
    let deadline = Instant::now() + SUITE_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for the suite") {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text: String = readers
        .into_iter()
        .map(|r| r.join().unwrap_or_default())
        .collect();
    // Shown when the test fails (or with --nocapture).
    eprintln!("{text}");
    let status = status.unwrap_or_else(|| {
        panic!(
            "{program} {args:?} in {} did not finish within {SUITE_TIMEOUT:?}",
            dir.display()
        )
    });
    assert!(
        status.success(),
        "{program} {args:?} in {} failed ({status})",
        dir.display()
    );
    text
}

/// Reads a pipe to its end on a thread of its own (so neither pipe of a child can fill).
fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Prints pytest's skip and xfail lines (from `-rsx`) with the test's name.
fn report_pytest(output: &str) {
    let test = test_name();
    for line in output.lines() {
        if let Some(rest) = line.strip_prefix("SKIPPED ") {
            let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {rest}");
        } else if let Some(rest) = line.strip_prefix("XFAIL ") {
            let _ = writeln!(std::io::stderr(), "XFAIL {test}: {rest}");
        }
    }
    assert!(
        output.contains(" passed"),
        "pytest reported no passed test:\n{output}"
    );
}

/// Prints the node test runner's skipped and todo counts with the test's name.
fn report_node(output: &str) {
    let test = test_name();
    let count = |label: &str| -> u32 {
        output
            .lines()
            .find_map(|l| l.strip_prefix(&format!("# {label} ")))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(
        count("pass") > 0,
        "node --test reported no passed test:\n{output}"
    );
    for label in ["skipped", "todo"] {
        if count(label) > 0 {
            let _ = writeln!(
                std::io::stderr(),
                "{} {test}: {} node test(s) {label} (their reasons: cargo test --test clients -- --nocapture)",
                label.to_uppercase(),
                count(label)
            );
        }
    }
}

const PYTEST: [&str; 6] = ["-m", "pytest", "-q", "-rsx", "-p", "no:cacheprovider"];

#[test]
fn python_client() {
    if !python_modules(&["websockets", "msgpack", "pytest"]) {
        return;
    }
    report_pytest(&run_suite(
        &repo().join("clients/python"),
        "python3",
        &PYTEST,
    ));
}

#[test]
fn python_compat_redis_py() {
    if !python_modules(&["redis", "pytest"]) {
        return;
    }
    report_pytest(&run_suite(
        &repo().join("clients/compat"),
        "python3",
        &PYTEST,
    ));
}

#[test]
fn js_client() {
    let dir = repo().join("clients/js");
    if !node_ready(&dir) {
        return;
    }
    // The suite's browser test needs Debian's `chromium`; without it that one test is skipped
    // (said here, and a failure under EDDY_REQUIRE_ALL=1) and the others still run.
    let _ = require_tool("chromium");
    report_node(&run_suite(&dir, "npm", &["test", "--silent"]));
}

#[test]
fn node_compat_node_redis() {
    let dir = repo().join("clients/compat/node");
    if !node_ready(&dir) {
        return;
    }
    report_node(&run_suite(&dir, "npm", &["test", "--silent"]));
}
