//! Debian's `redis-cli` and `redis-benchmark` against the server. Skipped (with a note on stderr)
//! when the tools are missing, unless `EDDY_REQUIRE_ALL=1`.

mod common;

use common::{require_tool, Server};
use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOOL_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs a tool with `args`, feeding `stdin`, with a timeout; returns its output.
fn run(tool: &str, args: &[String], stdin: &[u8]) -> Output {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {tool}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
        // Dropping closes stdin.
    });
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let done2 = done.clone();
    // Watchdog: kill the tool (by its own pid) if it runs too long.
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + TOOL_TIMEOUT;
        while Instant::now() < deadline {
            if done2.load(std::sync::atomic::Ordering::Relaxed) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        true
    });
    let out = child.wait_with_output().expect("wait for tool");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let timed_out = watchdog.join().unwrap_or(false);
    let _ = feeder.join();
    assert!(
        !timed_out,
        "{tool} {args:?} did not finish within {TOOL_TIMEOUT:?}"
    );
    out
}

fn cli(srv: &Server, args: &[&str]) -> Output {
    cli_stdin(srv, args, b"")
}

fn cli_stdin(srv: &Server, args: &[&str], stdin: &[u8]) -> Output {
    let mut all = vec!["-p".to_string(), srv.port().to_string()];
    all.extend(args.iter().map(|s| s.to_string()));
    run("redis-cli", &all, stdin)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok_stdout(o: &Output, what: &str) -> String {
    assert!(
        o.status.success(),
        "{what}: exit {:?}, stderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(o)
}

#[test]
fn redis_cli_ping_prints_pong() {
    if !require_tool("redis-cli") {
        return;
    }
    let srv = Server::start();
    let o = cli(&srv, &["ping"]);
    assert_eq!(ok_stdout(&o, "ping"), "PONG\n");
}

#[test]
fn redis_cli_set_then_get() {
    if !require_tool("redis-cli") {
        return;
    }
    let srv = Server::start();
    assert_eq!(
        ok_stdout(&cli(&srv, &["set", "greeting", "hello world"]), "set"),
        "OK\n"
    );
    assert_eq!(
        ok_stdout(&cli(&srv, &["get", "greeting"]), "get"),
        "hello world\n"
    );
    assert_eq!(ok_stdout(&cli(&srv, &["incr", "n"]), "incr"), "1\n");
    assert_eq!(
        ok_stdout(&cli(&srv, &["get", "missing"]), "get missing"),
        "\n"
    );
}

#[test]
fn redis_cli_no_raw_output_is_typed() {
    if !require_tool("redis-cli") {
        return;
    }
    let srv = Server::start();
    cli(&srv, &["set", "k", "v"]);
    assert_eq!(
        ok_stdout(&cli(&srv, &["--no-raw", "get", "k"]), "get"),
        "\"v\"\n"
    );
    assert_eq!(
        ok_stdout(&cli(&srv, &["--no-raw", "incr", "n"]), "incr"),
        "(integer) 1\n"
    );
    assert_eq!(
        ok_stdout(&cli(&srv, &["--no-raw", "get", "missing"]), "get missing"),
        "(nil)\n"
    );
    cli(&srv, &["set", "other", "w"]);
    assert_eq!(
        ok_stdout(
            &cli(&srv, &["--no-raw", "mget", "k", "missing", "other"]),
            "mget"
        ),
        "1) \"v\"\n2) (nil)\n3) \"w\"\n"
    );
    let o = cli(&srv, &["--no-raw", "get"]);
    assert_eq!(
        stdout(&o),
        "(error) ERR wrong number of arguments for 'get' command\n"
    );
}

#[test]
fn redis_cli_resp3_mode_renders_maps() {
    if !require_tool("redis-cli") {
        return;
    }
    let srv = Server::start_with(&["--maxclients", "777"]);
    let o = cli(&srv, &["-3", "--no-raw", "config", "get", "maxclients"]);
    assert_eq!(
        ok_stdout(&o, "config get"),
        "1# \"maxclients\" => \"777\"\n"
    );
    let o = cli(&srv, &["-3", "--no-raw", "hello", "3"]);
    let out = ok_stdout(&o, "hello");
    assert!(out.contains("\"proto\" => (integer) 3"), "{out}");
    let o = cli(&srv, &["-3", "--no-raw", "get", "missing"]);
    assert_eq!(ok_stdout(&o, "get missing"), "(nil)\n");
}

#[test]
fn redis_cli_reaches_command_docs() {
    if !require_tool("redis-cli") {
        return;
    }
    let srv = Server::start();
    let o = cli(&srv, &["command", "docs", "get"]);
    let out = ok_stdout(&o, "command docs");
    assert!(out.contains("summary"), "{out}");
    assert!(out.contains("1.0.0"), "{out}");
    let o = cli(&srv, &["--no-raw", "command", "count"]);
    assert!(ok_stdout(&o, "command count").starts_with("(integer) "));
}

#[test]
fn redis_cli_session_from_stdin() {
    if !require_tool("redis-cli") {
        return;
    }
    let srv = Server::start();
    let script = b"set a 1\nincr a\nget a\nselect 2\nget a\nset \"spaced key\" \"x y\"\nget \"spaced key\"\nping\n";
    let o = cli_stdin(&srv, &[], script);
    assert_eq!(ok_stdout(&o, "session"), "OK\n2\n2\nOK\n\nOK\nx y\nPONG\n");
}

#[test]
fn redis_cli_pipe_mode_sends_raw_protocol() {
    if !require_tool("redis-cli") {
        return;
    }
    let srv = Server::start();
    let mut data = Vec::new();
    for i in 0..1000 {
        data.extend(common::encode_cmd(&[
            b"SET",
            format!("pipe:{i}").as_bytes(),
            b"v",
        ]));
    }
    let o = cli_stdin(&srv, &["--pipe"], &data);
    let out = ok_stdout(&o, "--pipe");
    assert!(out.contains("errors: 0, replies: 1000"), "{out}");
    assert_eq!(ok_stdout(&cli(&srv, &["dbsize"]), "dbsize"), "1000\n");
}

#[test]
fn redis_benchmark_runs_set_get_incr_mset() {
    if !require_tool("redis-benchmark") {
        return;
    }
    let srv = Server::start();
    let args: Vec<String> = [
        "-p",
        &srv.port().to_string(),
        "-t",
        "set,get,incr,mset",
        "-n",
        "20000",
        "-q",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let o = run("redis-benchmark", &args, b"");
    let out = ok_stdout(&o, "redis-benchmark");
    // Progress lines are separated by carriage returns; results end with newlines.
    let lines: Vec<&str> = out
        .split(['\r', '\n'])
        .map(str::trim)
        .filter(|l| l.contains("requests per second"))
        .collect();
    for test in ["SET", "GET", "INCR", "MSET (10 keys)"] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{test}: "))),
            "no requests-per-second line for {test} in:\n{out}\nstderr: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
    // The benchmark's writes really happened.
    let v = ok_stdout(&cli(&srv, &["get", "counter:__rand_int__"]), "get counter");
    let n: i64 = v.trim().parse().unwrap_or(0);
    assert_eq!(n, 20000, "INCR ran 20000 times");
}
