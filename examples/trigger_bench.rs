//! Trigger throughput (issue 8): what a trigger costs the write path, and how fast it delivers.
//!
//! Starts an Eddy server in this process (its own runtime, a temporary directory, the default
//! `appendonly yes` / `appendfsync everysec`) and a minimal HTTP function that answers 200 at
//! once. Two phases of `--secs` seconds each, `--conns` connections keeping `--pipeline` SETs
//! in flight: first without a trigger, then with one trigger (`MATCH bench:*`, BATCHSIZE
//! `--batch`, PARALLELISM `--parallelism`) posting CloudEvents batches to the function. Each
//! SET's value is its send time (µs since the epoch), so the function measures the
//! change-to-delivery latency of every event. Prints writes/s without and with the trigger,
//! delivered events/s and the latency percentiles; then a third phase paced at `--rate` SETs a
//! second (default 20000), below the delivery rate, gives the latency without a backlog (at full
//! speed the writers outrun one trigger and the latency is mostly queueing).
//!
//! ```text
//! cargo run --release --example trigger_bench -- --secs 5 --conns 8 --pipeline 32
//! ```

mod args;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

struct Opts {
    secs: u64,
    conns: usize,
    pipeline: usize,
    batch: usize,
    parallelism: usize,
    /// SETs a second in the paced phase.
    rate: u64,
}

fn opts() -> Opts {
    let a = args::Args::from_env();
    let known = ["secs", "conns", "pipeline", "batch", "parallelism", "rate"];
    Opts {
        secs: a.flag("secs", 5, &known),
        conns: a.flag("conns", 8, &known),
        pipeline: a.flag("pipeline", 32, &known),
        batch: a.flag("batch", 100, &known),
        parallelism: a.flag("parallelism", 1, &known),
        rate: a.flag("rate", 20_000, &known),
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// What the HTTP function saw.
#[derive(Default)]
struct Function {
    events: AtomicU64,
    batches: AtomicU64,
    /// Change-to-delivery latencies, µs.
    latencies: Mutex<Vec<u64>>,
    last_us: AtomicU64,
}

/// A minimal HTTP/1.1 server: reads each request (Content-Length bodies, keep-alive), records
/// its events, answers `200` with an empty body.
async fn function(l: TcpListener, f: Arc<Function>) {
    loop {
        let Ok((mut s, _)) = l.accept().await else {
            continue;
        };
        let _ = s.set_nodelay(true);
        let f = f.clone();
        tokio::spawn(async move {
            let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
            let mut tmp = vec![0u8; 1 << 16];
            loop {
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
                    match s.read(&mut tmp).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                    continue;
                };
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                let total = end + 4 + len;
                while buf.len() < total {
                    match s.read(&mut tmp).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&tmp[..n]),
                    }
                }
                record(&f, &buf[end + 4..total]);
                buf.drain(..total);
                if s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
    }
}

/// The part of a CloudEvent the function reads: the command's arguments. Deserialising only
/// that (borrowed, the rest skipped) keeps the function's own cost out of the measurement, as
/// a real function that answers at once would.
#[derive(serde::Deserialize)]
struct Event<'a> {
    #[serde(borrow)]
    data: Data<'a>,
}

#[derive(serde::Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    args: Vec<&'a str>,
}

/// Counts a CloudEvents batch and the latency of each event (its SET value is the send time).
fn record(f: &Function, body: &[u8]) {
    let now = now_us();
    let Ok(evs) = serde_json::from_slice::<Vec<Event>>(body) else {
        return;
    };
    let lat: Vec<u64> = evs
        .iter()
        .filter_map(|e| e.data.args.last()?.parse::<u64>().ok())
        .map(|sent| now.saturating_sub(sent))
        .collect();
    f.events.fetch_add(evs.len() as u64, Ordering::Relaxed);
    f.batches.fetch_add(1, Ordering::Relaxed);
    f.last_us.store(now, Ordering::Relaxed);
    f.latencies.lock().extend(lat);
}

fn resp(args: &[&[u8]]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// One command, waiting for its (single-line) reply; empty if the connection failed.
async fn call(port: u16, args: &[&str]) -> String {
    let a: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    let mut buf = vec![0u8; 4096];
    let n = async {
        let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(&resp(&a)).await?;
        s.read(&mut buf).await
    }
    .await
    .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// SETs as fast as `conns` pipelined connections go, for `secs`; returns the number acked.
/// With `rate` > 0, the connections together send about `rate` SETs a second.
async fn write_phase(port: u16, o: &Opts, rate: u64) -> u64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for c in 0..o.conns {
        let (stop, done, pipeline, conns) = (stop.clone(), done.clone(), o.pipeline, o.conns);
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            let _ = s.set_nodelay(true);
            let mut buf = vec![0u8; 1 << 16];
            let mut i = 0u64;
            let began = Instant::now();
            let per_conn = rate as f64 / conns as f64;
            while !stop.load(Ordering::Relaxed) {
                if rate > 0 {
                    let due = began + Duration::from_secs_f64(i as f64 / per_conn);
                    tokio::time::sleep_until(due.into()).await;
                }
                let mut req = Vec::with_capacity(pipeline * 64);
                for _ in 0..pipeline {
                    let key = format!("bench:{c}:{}", i % 10_000);
                    let val = now_us().to_string();
                    req.extend_from_slice(&resp(&[b"SET", key.as_bytes(), val.as_bytes()]));
                    i += 1;
                }
                s.write_all(&req).await.expect("write");
                // Each reply is `+OK\r\n`.
                let mut got = 0;
                while got < pipeline * 5 {
                    let n = s.read(&mut buf).await.expect("read");
                    assert!(n > 0, "server closed the connection");
                    got += n;
                }
                done.fetch_add(pipeline as u64, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(o.secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    done.load(Ordering::Relaxed)
}

/// A write phase with the trigger on; prints what the function saw once it caught up (at most
/// 30 s more). Returns the writes.
async fn measure(f: &Function, port: u16, o: &Opts, rate: u64) -> u64 {
    let base = f.events.load(Ordering::Relaxed);
    let batches = f.batches.load(Ordering::Relaxed);
    f.latencies.lock().clear();
    let start = now_us();
    let writes = write_phase(port, o, rate).await;
    // What the trigger delivered while the writers ran (the rest is the backlog it works off
    // afterwards; at full speed its threads yield to the writers, `server::background`).
    let during = f.events.load(Ordering::Relaxed) - base;
    println!(
        "  writes:        {:>10.0} writes/s; delivered meanwhile {:.0} events/s",
        writes as f64 / o.secs as f64,
        during as f64 / o.secs as f64
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while f.events.load(Ordering::Relaxed) - base < writes && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = f.events.load(Ordering::Relaxed) - base;
    let secs = (f.last_us.load(Ordering::Relaxed).saturating_sub(start)) as f64 / 1e6;
    println!(
        "  delivered:     {:>10.0} events/s ({delivered} of {writes} events in {secs:.2} s, {} batches)",
        delivered as f64 / secs.max(1e-9),
        f.batches.load(Ordering::Relaxed) - batches
    );
    let mut lat = std::mem::take(&mut *f.latencies.lock());
    lat.sort_unstable();
    println!(
        "  change-to-delivery latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0)
    );
    writes
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let o = opts();
    eddy::triggers::http::install_crypto();
    let dir = std::env::temp_dir().join(format!("eddy-trigger-bench-{}", std::process::id()));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--dir",
        &dir.to_string_lossy(),
        "--http-port",
        "0",
        "--msgpack-port",
        "0",
        "--save",
        "",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let config = eddy::config::Config::from_args(&args).expect("config");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("server runtime");
        if let Err(e) = rt.block_on(eddy::server::run(config)) {
            eprintln!("server: {e}");
            std::process::exit(1);
        }
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !call(port, &["PING"]).await.starts_with("+PONG") {
            assert!(Instant::now() < deadline, "the server did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let f = Arc::new(Function::default());
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let fport = l.local_addr().expect("addr").port();
        tokio::spawn(function(l, f.clone()));
        println!(
            "trigger_bench: {} s per phase, {} connections x {} pipelined SETs, BATCHSIZE {}, PARALLELISM {}",
            o.secs, o.conns, o.pipeline, o.batch, o.parallelism
        );

        let plain = write_phase(port, &o, 0).await;
        let plain_rate = plain as f64 / o.secs as f64;
        println!("without trigger: {plain_rate:>10.0} writes/s");

        let url = format!("http://127.0.0.1:{fport}/");
        let (batch, par) = (o.batch.to_string(), o.parallelism.to_string());
        let r = call(
            port,
            &[
                "TRIGGER", "CREATE", "bench", &url, "MATCH", "bench:*", "BATCHSIZE", &batch,
                "PARALLELISM", &par,
            ],
        )
        .await;
        assert!(r.starts_with("+OK"), "TRIGGER CREATE: {r}");
        println!("with trigger, as fast as possible:");
        let with = measure(&f, port, &o, 0).await;
        let with_rate = with as f64 / o.secs as f64;
        println!(
            "  write throughput {:+.1}% against no trigger",
            (with_rate / plain_rate - 1.0) * 100.0
        );
        // Below the delivery rate, the latency is the trigger's own, not a backlog's.
        println!("with trigger, paced at {} writes/s:", o.rate);
        measure(&f, port, &o, o.rate).await;
        let _ = call(port, &["SHUTDOWN", "NOSAVE"]).await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}
