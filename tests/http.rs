//! The HTTP port against the real binary: `/healthz`, `/readyz` (503 while recovering, then
//! 200), `/metrics` read by a Prometheus text-format parser, the dashboard page, and unknown
//! routes. Requests are plain HTTP/1.1 over a TCP socket.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{eddy_only, free_port, poll_until, q, server_bin, Server, TempDir};

struct Response {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

fn get(port: u16, path: &str) -> std::io::Result<Response> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no header end in {text:?}")))?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok(Response {
        status,
        headers,
        body: body.to_string(),
    })
}

fn scrape(port: u16) -> prometheus_parse::Scrape {
    let r = get(port, "/metrics").expect("GET /metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.headers["content-type"].starts_with("text/plain; version=0.0.4"),
        "{:?}",
        r.headers
    );
    prometheus_parse::Scrape::parse(r.body.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text format")
}

/// The value of the sample `name` whose labels include all of `labels`.
fn sample(s: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    s.samples
        .iter()
        .find(|x| x.metric == name && labels.iter().all(|(k, v)| x.labels.get(k) == Some(*v)))
        .map(|x| match &x.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            other => panic!("{name}: not a scalar: {other:?}"),
        })
}

#[test]
fn health_readiness_and_dashboard() {
    if !eddy_only("health_readiness_and_dashboard") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let h = get(srv.http_port, "/healthz").unwrap();
    assert_eq!(h.status, 200);
    let r = get(srv.http_port, "/readyz").unwrap();
    assert_eq!((r.status, r.body.as_str()), (200, "ready\n"));
    let d = get(srv.http_port, "/").unwrap();
    assert_eq!(d.status, 200);
    assert!(
        d.headers["content-type"].starts_with("text/html"),
        "{:?}",
        d.headers
    );
    assert!(d.body.contains("<html"), "{}", d.body);
    assert_eq!(get(srv.http_port, "/nope").unwrap().status, 404);
    // A plain GET on /ws is not an upgrade.
    assert!(get(srv.http_port, "/ws").unwrap().status >= 400);
}

#[test]
fn metrics_report_commands_clients_keys_and_change_readers() {
    if !eddy_only("metrics_report_commands_clients_keys_and_change_readers") {
        return;
    }
    let srv = Server::start_doors(&[]);
    let mut r = srv.conn();
    for i in 0..5 {
        let _: () = q(&mut r, &["SET", &format!("k{i}"), "v"]);
    }
    let _: () = q(&mut r, &["SET", "t", "v", "EX", "100"]);
    let _: String = q(&mut r, &["SELECT", "3"]);
    let _: () = q(&mut r, &["SET", "x", "1"]);
    let _ = redis::cmd("INCR").arg("nope").arg("x").query::<i64>(&mut r);
    let _: i64 = q(&mut r, &["LPUSH", "l", "a"]);
    let _ = redis::cmd("INCR").arg("l").query::<i64>(&mut r);
    let _: () = q(&mut r, &["CHANGES", "GROUP", "CREATE", "g1", "earliest"]);
    // A MessagePack client holds a connection.
    let _mp = TcpStream::connect(("127.0.0.1", srv.msgpack_port)).unwrap();
    let mut ready = None;
    assert!(poll_until(Duration::from_secs(10), || {
        let s = scrape(srv.http_port);
        let ok = sample(&s, "eddy_connected_clients", &[("door", "msgpack")]) == Some(1.0);
        ready = Some(s);
        ok
    }));
    let s = ready.unwrap();
    assert_eq!(
        sample(&s, "eddy_commands_total", &[("cmd", "set")]),
        Some(7.0)
    );
    assert_eq!(
        sample(
            &s,
            "eddy_command_errors_total",
            &[("cmd", "incr"), ("kind", "failed")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &s,
            "eddy_command_errors_total",
            &[("cmd", "incr"), ("kind", "rejected")]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(&s, "eddy_connected_clients", &[("door", "resp")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&s, "eddy_connected_clients", &[("door", "websocket")]),
        Some(0.0)
    );
    assert_eq!(sample(&s, "eddy_keys", &[("db", "0")]), Some(6.0));
    assert_eq!(sample(&s, "eddy_expiring_keys", &[("db", "0")]), Some(1.0));
    assert_eq!(sample(&s, "eddy_keys", &[("db", "3")]), Some(2.0));
    assert!(sample(&s, "eddy_used_memory_bytes", &[]).unwrap() > 0.0);
    let last = sample(&s, "eddy_changes_last_offset", &[]).unwrap();
    assert_eq!(last, 8.0, "six SETs in db 0, one in db 3, one LPUSH");
    assert_eq!(sample(&s, "eddy_changes_first_offset", &[]), Some(1.0));
    // Present; its value may already be 0 (an idle log gives its in-memory tail back).
    assert!(sample(&s, "eddy_changes_memory_bytes", &[]).is_some());
    assert!(sample(&s, "eddy_changes_disk_bytes", &[]).is_some());
    assert_eq!(
        sample(&s, "eddy_change_reader_lag", &[("reader", "group_g1")]),
        Some(last)
    );
    assert_eq!(
        sample(&s, "eddy_change_reader_offset", &[("reader", "group_g1")]),
        Some(0.0)
    );
    // The latency histogram: cumulative buckets ending in +Inf, counting every command.
    let hist = s
        .samples
        .iter()
        .find(|x| x.metric == "eddy_command_duration_seconds")
        .expect("the latency histogram");
    let prometheus_parse::Value::Histogram(buckets) = &hist.value else {
        panic!("not a histogram: {:?}", hist.value);
    };
    let inf = buckets.last().expect("buckets");
    assert!(inf.less_than.is_infinite());
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
    let calls: f64 = s
        .samples
        .iter()
        .filter(|x| x.metric == "eddy_commands_total")
        .filter_map(|x| match x.value {
            prometheus_parse::Value::Counter(v) => Some(v),
            _ => None,
        })
        .sum();
    assert_eq!(
        inf.count, calls,
        "every command run is in the histogram: {buckets:?}"
    );
    // What INFO says, /metrics says.
    let info: String = q(&mut r, &["INFO", "changes"]);
    assert!(
        info.contains(&format!("changes_last_offset:{last}")),
        "{info}"
    );
}

#[test]
fn readyz_is_503_while_recovering_then_200() {
    if !eddy_only("readyz_is_503_while_recovering_then_200") {
        return;
    }
    // Enough history that recovery takes a while.
    let srv = Server::start_with(&["--save", ""]);
    let mut c = srv.conn();
    let pad = "x".repeat(20);
    for start in (0..200_000).step_by(2000) {
        let mut p = redis::pipe();
        for i in start..start + 2000 {
            p.cmd("SET").arg(format!("load:{i}")).arg(&pad).ignore();
        }
        let _: () = p.query(&mut c).unwrap();
    }
    drop(c);
    let dir: TempDir = srv.stop();
    let http = free_port();
    let mut child = Command::new(server_bin())
        .args(["--port", "0", "--msgpack-port", "0", "--save", ""])
        .arg("--http-port")
        .arg(http.to_string())
        .arg("--dir")
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(stderr).lines() {});
    let t0 = Instant::now();
    let mut statuses = Vec::new();
    while t0.elapsed() < Duration::from_secs(60) {
        if let Ok(r) = get(http, "/readyz") {
            if statuses.last() != Some(&r.status) {
                statuses.push(r.status);
            }
            if r.status == 200 {
                break;
            }
            // Alive while loading.
            assert_eq!(get(http, "/healthz").unwrap().status, 200);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(statuses, vec![503, 200], "503 while loading, then 200");
}
