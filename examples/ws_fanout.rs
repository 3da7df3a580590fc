//! WebSocket change-feed fan-out benchmark (issue 7): `--clients` WebSocket clients each follow
//! the change feed (`CHANGES SUBSCRIBE latest MATCH <prefix>*`, a filter every write matches)
//! while one RESP writer issues `--rate` SETs per second for `--secs` seconds. Every SET's value is
//! the time it was sent, so each client measures write-to-receive latency from the event itself.
//!
//! Checks that every client received every change, in order (offsets strictly increasing, none
//! missing), and prints delivered events/s and the latency percentiles. Exit status 1 if any
//! client lost or reordered a change.
//!
//! ```text
//! cargo run --release --example ws_fanout -- --http 8379 --port 6379 --clients 1000 --rate 10000 --secs 30
//! ```

mod args;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

struct Opts {
    http: u16,
    port: u16,
    clients: usize,
    rate: u64,
    secs: u64,
}

fn opts() -> Opts {
    let a = args::Args::from_env();
    let known = ["http", "port", "clients", "rate", "secs"];
    Opts {
        http: a.flag("http", 8379, &known),
        port: a.flag("port", 6379, &known),
        clients: a.flag("clients", 1000, &known),
        rate: a.flag("rate", 10_000, &known),
        secs: a.flag("secs", 30, &known),
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A message from the server: a reply (with the request's id) or a push.
#[derive(serde::Deserialize)]
struct WsFrame<'a> {
    id: Option<serde::de::IgnoredAny>,
    #[serde(borrow)]
    push: Option<(serde::de::IgnoredAny, PushedEvent<'a>)>,
}

/// The fields of a change event this benchmark reads.
#[derive(serde::Deserialize)]
struct PushedEvent<'a> {
    offset: u64,
    #[serde(borrow, default)]
    args: Vec<std::borrow::Cow<'a, str>>,
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    events: u64,
    out_of_order: u64,
    /// Latencies in µs (sampled: every event of the first 10 clients, 1 in 16 of the others).
    lat: Vec<u64>,
}

async fn follower(
    url: String,
    prefix: String,
    sample_all: bool,
    ready: Arc<AtomicU64>,
    expected: Arc<AtomicU64>,
    done: Arc<tokio::sync::Notify>,
) -> Seen {
    let (mut ws, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("websocket connect");
    let sub = serde_json::json!({"id": 1, "cmd": ["CHANGES", "SUBSCRIBE", "latest", "MATCH", format!("{prefix}*")]});
    ws.send(Message::Text(sub.to_string().into()))
        .await
        .expect("send");
    let mut seen = Seen::default();
    let mut last_offset = 0u64;
    loop {
        let msg = tokio::select! {
            m = ws.next() => m,
            _ = done.notified() => break,
        };
        let Some(Ok(msg)) = msg else { break };
        let Message::Text(t) = msg else { continue };
        // Typed and borrowing: a `serde_json::Value` per event cost the clients several times
        // the server's CPU, and on a small machine they share its cores.
        let Ok(frame) = serde_json::from_str::<WsFrame<'_>>(&t) else {
            continue;
        };
        if frame.id.is_some() {
            ready.fetch_add(1, Ordering::AcqRel);
            continue;
        }
        let Some((_, ev)) = frame.push else {
            continue;
        };
        let off = ev.offset;
        if off <= last_offset {
            seen.out_of_order += 1;
        }
        last_offset = off;
        seen.events += 1;
        if sample_all || seen.events % 16 == 0 {
            if let Some(sent) = ev.args.get(2).and_then(|s| s.parse::<u64>().ok()) {
                seen.lat.push(now_us().saturating_sub(sent));
            }
        }
        if seen.events == expected.load(Ordering::Acquire) {
            break;
        }
    }
    seen
}

#[tokio::main]
async fn main() {
    let o = opts();
    let url = format!("ws://127.0.0.1:{}/ws", o.http);
    let prefix = format!("fanout:{}:", now_us());
    let ready = Arc::new(AtomicU64::new(0));
    let expected = Arc::new(AtomicU64::new(u64::MAX));
    let done = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::with_capacity(o.clients);
    for i in 0..o.clients {
        tasks.push(tokio::spawn(follower(
            url.clone(),
            prefix.clone(),
            i < 10,
            ready.clone(),
            expected.clone(),
            done.clone(),
        )));
    }
    let t0 = Instant::now();
    while ready.load(Ordering::Acquire) < o.clients as u64 {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "only {} of {} clients subscribed",
            ready.load(Ordering::Acquire),
            o.clients
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("{} clients subscribed in {:?}", o.clients, t0.elapsed());

    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", o.port)).expect("url");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let total = o.rate * o.secs;
    let start = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let per_tick = (o.rate / 100).max(1);
    let mut sent = 0u64;
    while sent < total {
        tick.tick().await;
        let mut p = redis::pipe();
        for _ in 0..per_tick.min(total - sent) {
            p.cmd("SET")
                .arg(format!("{prefix}{}", sent % 1000))
                .arg(now_us())
                .ignore();
            sent += 1;
        }
        let _: () = p.query_async(&mut con).await.expect("SET");
    }
    let write_secs = start.elapsed().as_secs_f64();
    expected.store(total, Ordering::Release);
    println!(
        "writer: {total} SETs in {write_secs:.1} s ({:.0}/s)",
        total as f64 / write_secs
    );

    // Clients stop at `total` events; give stragglers a deadline, then stop them.
    let deadline = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(deadline);
    let mut all = Vec::with_capacity(tasks.len());
    let mut joined = futures_util::future::join_all(tasks);
    let results = tokio::select! {
        r = &mut joined => r,
        _ = &mut deadline => { done.notify_waiters(); joined.await }
    };
    let elapsed = start.elapsed().as_secs_f64();
    let (mut lost, mut disordered, mut delivered) = (0u64, 0u64, 0u64);
    for r in results {
        let s = r.expect("client task");
        delivered += s.events;
        lost += total.saturating_sub(s.events);
        disordered += s.out_of_order;
        all.extend(s.lat);
    }
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.is_empty() {
            return f64::NAN;
        }
        all[((all.len() - 1) as f64 * p) as usize] as f64 / 1000.0
    };
    println!(
        "delivered {delivered} events ({:.0}/s) to {} clients; lost {lost}; out of order {disordered}",
        delivered as f64 / elapsed,
        o.clients
    );
    println!(
        "write-to-receive latency ms: p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.2} ({} samples)",
        pct(0.50),
        pct(0.99),
        pct(0.999),
        pct(1.0),
        all.len()
    );
    if lost > 0 || disordered > 0 {
        std::process::exit(1);
    }
}
