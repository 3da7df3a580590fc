//! The NATS bridge (docs/nats.md) against a real `nats-server -js`: changes on their subjects as
//! JSON, the filter, JetStream acks and checkpoint across NATS and Eddy restarts, channels
//! bridged both ways without loops, and the trigger and bridge series in `/metrics`.

mod common;

use std::collections::BTreeSet;
use std::process::Child;
use std::time::Duration;

use common::*;
use futures_util::StreamExt;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// A `nats-server -js` with its own store directory, killed on drop; it can be stopped and
/// started again on the same port and store.
struct Nats {
    child: Option<Child>,
    port: u16,
    store: TempDir,
}

impl Nats {
    /// Starts on a free port (another process may take the port between the probe and the
    /// bind: then it tries another).
    fn start() -> Nats {
        let store = TempDir::new("nats");
        for _ in 0..5 {
            let port = free_port();
            if let Some(child) = spawn_nats_js(port, &store) {
                return Nats {
                    child: Some(child),
                    port,
                    store,
                };
            }
        }
        panic!("nats-server did not start");
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGTERM, and waits for the process to end.
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }

    /// Starts again on the same port and store directory.
    fn restart(&mut self) {
        for _ in 0..20 {
            if let Some(c) = spawn_nats_js(self.port, &self.store) {
                self.child = Some(c);
                return;
            }
        }
        panic!("nats-server did not start again on port {}", self.port);
    }

    async fn client(&self) -> async_nats::Client {
        async_nats::connect(self.url())
            .await
            .expect("connect to nats")
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Spawns `nats-server -js` on `port` with its store in `store`.
fn spawn_nats_js(port: u16, store: &TempDir) -> Option<Child> {
    let dir = store.path().to_string_lossy().into_owned();
    spawn_nats(&[
        "-a",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-js",
        "-sd",
        &dir,
    ])
}

/// NATS for a bridge test, or None (the test is skipped) in reference mode or without
/// `nats-server`.
fn nats_for(test: &str) -> Option<Nats> {
    (eddy_only(test) && require_tool("nats-server")).then(Nats::start)
}

/// Eddy bridged to `nats`, with more options.
fn bridged(nats: &Nats, args: &[&str]) -> Server {
    let url = nats.url();
    let mut all = vec!["--nats-url", &url];
    all.extend(args);
    Server::start_with(&all)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("runtime")
}

async fn next_msg(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("no NATS message in time")
        .expect("subscription ended")
}

/// A field of BRIDGE INFO as an integer.
fn bridge_field(c: &mut redis::Connection, field: &str) -> i64 {
    let v = qv(c, &["BRIDGE", "INFO"]);
    match vget(&v, field) {
        Some(redis::Value::Int(n)) => n,
        other => panic!("BRIDGE INFO {field}: {other:?}"),
    }
}

/// Waits until the bridge is connected (and subscribed).
fn wait_connected(c: &mut redis::Connection) {
    assert!(
        poll_until(WAIT, || bridge_field(c, "connected") == 1),
        "the bridge did not connect"
    );
}

fn json(m: &async_nats::Message) -> Value {
    serde_json::from_slice(&m.payload).expect("JSON payload")
}

#[test]
fn changes_arrive_on_escaped_subjects_as_json_and_the_filter_applies() {
    let Some(nats) = nats_for("changes_arrive_on_escaped_subjects_as_json_and_the_filter_applies")
    else {
        return;
    };
    let srv = bridged(
        &nats,
        &[
            "--nats-bridge-prefix",
            "app.kv",
            "--nats-bridge-match",
            "user:*",
            "--nats-bridge-events",
            "set,hset",
        ],
    );
    let mut c = srv.conn();
    runtime().block_on(async {
        let nc = nats.client().await;
        let mut sub = nc.subscribe("app.kv.>").await.expect("subscribe");
        nc.flush().await.expect("flush");
        let _: () = q(&mut c, &["SET", "user:1.name", "ada"]);
        let _: () = q(&mut c, &["SET", "other", "x"]);
        let _: () = q(&mut c, &["DEL", "user:1.name"]);
        let _: () = q(&mut c, &["SELECT", "3"]);
        let _: i64 = q(&mut c, &["HSET", "user:2 é*>", "f", "v"]);

        let m = next_msg(&mut sub).await;
        assert_eq!(m.subject.as_str(), "app.kv.0.set.user:1%2Ename");
        let j = json(&m);
        assert_eq!(j["key"], "user:1.name");
        assert_eq!(j["event"], "set");
        assert_eq!(j["db"], 0);
        assert_eq!(j["args"], serde_json::json!(["SET", "user:1.name", "ada"]));
        let id = m.headers.as_ref().and_then(|h| h.get("Nats-Msg-Id"));
        assert_eq!(
            id.map(|v| v.to_string()),
            Some(format!("{}:{}", j["epoch"].as_str().unwrap(), j["offset"]))
        );
        // `other` (MATCH) and the DEL (EVENTS) were left out: the HSET comes next.
        let m = next_msg(&mut sub).await;
        assert_eq!(m.subject.as_str(), "app.kv.3.hset.user:2%20%C3%A9%2A%3E");
        let j = json(&m);
        assert_eq!(j["key"], "user:2 é*>");
        assert_eq!(j["type"], "hash");
    });
    assert!(poll_until(WAIT, || bridge_field(&mut c, "lag-offsets") == 0));
    assert_eq!(bridge_field(&mut c, "acked"), 2);
    let info: String = q(&mut c, &["INFO", "bridge"]);
    assert!(info.contains("bridge_connected:1"), "{info}");
    assert!(info.contains("bridge_published:2"), "{info}");
}

/// Reads the stream `name` from its start until every key of `want` was seen; returns the
/// keys seen, and how many messages carried each offset.
async fn read_stream(
    nc: &async_nats::Client,
    name: &str,
    want: &BTreeSet<String>,
) -> (BTreeSet<String>, Vec<u64>) {
    use async_nats::jetstream::consumer::pull;
    let js = async_nats::jetstream::new(nc.clone());
    let stream = js
        .get_stream(name)
        .await
        .expect("the bridge created the stream");
    let consumer = stream
        .create_consumer(pull::Config::default())
        .await
        .expect("consumer");
    let mut msgs = consumer.messages().await.expect("messages");
    let mut seen = BTreeSet::new();
    let mut offsets = Vec::new();
    while !want.is_subset(&seen) {
        let m = tokio::time::timeout(WAIT, msgs.next())
            .await
            .unwrap_or_else(|_| panic!("missing from the stream: {:?}", want.difference(&seen)))
            .expect("stream ended")
            .expect("message");
        let j: Value = serde_json::from_slice(&m.payload).expect("JSON");
        seen.insert(j["key"].as_str().expect("key").to_string());
        offsets.push(j["offset"].as_u64().expect("offset"));
        m.ack().await.expect("ack");
    }
    (seen, offsets)
}

fn set_keys(c: &mut redis::Connection, from: usize, to: usize, want: &mut BTreeSet<String>) {
    for i in from..to {
        let k = format!("k{i}");
        let _: () = q(c, &["SET", &k, "v"]);
        want.insert(k);
    }
}

#[test]
fn jetstream_keeps_every_change_across_a_nats_restart() {
    let Some(mut nats) = nats_for("jetstream_keeps_every_change_across_a_nats_restart") else {
        return;
    };
    let srv = bridged(&nats, &["--nats-bridge-jetstream", "EDDY"]);
    let mut c = srv.conn();
    wait_connected(&mut c);
    let mut want = BTreeSet::new();
    set_keys(&mut c, 0, 50, &mut want);
    nats.stop();
    set_keys(&mut c, 50, 100, &mut want);
    nats.restart();
    set_keys(&mut c, 100, 150, &mut want);
    let rt = runtime();
    let (_, offsets) = rt.block_on(async {
        let nc = nats.client().await;
        read_stream(&nc, "EDDY", &want).await
    });
    // The message id de-duplicates what a retry sent again.
    let distinct: BTreeSet<u64> = offsets.iter().copied().collect();
    assert_eq!(distinct.len(), offsets.len(), "{offsets:?}");
    assert!(poll_until(WAIT, || bridge_field(&mut c, "lag-offsets") == 0));
    assert!(bridge_field(&mut c, "acked") >= 150);
}

#[test]
fn eddy_restart_resumes_from_the_checkpoint() {
    let Some(mut nats) = nats_for("eddy_restart_resumes_from_the_checkpoint") else {
        return;
    };
    let args = ["--nats-bridge-jetstream", "CP"];
    let mut srv = bridged(&nats, &args);
    let mut c = srv.conn();
    wait_connected(&mut c);
    let mut want = BTreeSet::new();
    set_keys(&mut c, 0, 5, &mut want);
    assert!(poll_until(WAIT, || bridge_field(&mut c, "lag-offsets") == 0));
    // NATS goes away: these wait at the checkpoint, through an Eddy restart.
    nats.stop();
    set_keys(&mut c, 5, 10, &mut want);
    assert!(bridge_field(&mut c, "lag-offsets") >= 5);
    let mut raw = srv.raw();
    raw.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    assert!(srv.wait_exit(WAIT).is_some_and(|s| s.success()));
    let dir = srv.stop();
    assert!(dir.path().join("bridge.json").is_file());
    nats.restart();
    let url = nats.url();
    let srv = Server::start_in(dir, &["--nats-url", &url, args[0], args[1]]);
    let mut c = srv.conn();
    set_keys(&mut c, 10, 12, &mut want);
    let (seen, _) = runtime().block_on(async {
        let nc = nats.client().await;
        read_stream(&nc, "CP", &want).await
    });
    assert_eq!(seen, want);
}

/// PUBLISH through Eddy.
async fn publish(pc: &mut redis::aio::MultiplexedConnection, channel: &str, msg: &str) {
    let _: i64 = redis::cmd("PUBLISH")
        .arg(channel)
        .arg(msg)
        .query_async(pc)
        .await
        .expect("publish");
}

/// The next pub/sub message: channel and payload.
async fn channel_msg(s: &mut redis::aio::PubSubStream) -> (String, String) {
    let m = tokio::time::timeout(WAIT, s.next())
        .await
        .expect("no channel message in time")
        .expect("pubsub ended");
    (
        m.get_channel_name().to_string(),
        m.get_payload::<String>().expect("payload"),
    )
}

#[test]
fn channels_bridge_both_ways_without_loops() {
    let Some(nats) = nats_for("channels_bridge_both_ways_without_loops") else {
        return;
    };
    let srv = bridged(
        &nats,
        &[
            "--nats-bridge-changes",
            "no",
            "--nats-bridge-subscribe",
            "in.> both.*",
            "--nats-bridge-publish",
            "out.* both.*",
        ],
    );
    let mut c = srv.conn();
    wait_connected(&mut c);
    let rt = runtime();
    rt.block_on(async {
        let nc = nats.client().await;
        let mut nsub = nc.subscribe("out.>").await.expect("subscribe");
        let mut nboth = nc.subscribe("both.>").await.expect("subscribe");
        nc.flush().await.expect("flush");
        let rc = redis::Client::open(srv.url()).expect("client");
        let mut ps = rc.get_async_pubsub().await.expect("pubsub");
        ps.subscribe("in.orders.new").await.expect("subscribe");
        ps.subscribe("both.x").await.expect("subscribe");
        let mut pc = srv.async_conn().await;
        let mut stream = ps.into_on_message();

        // NATS → channel.
        nc.publish("in.orders.new", "o1".into()).await.expect("pub");
        nc.flush().await.expect("flush");
        assert_eq!(
            channel_msg(&mut stream).await,
            ("in.orders.new".into(), "o1".into())
        );

        // Channel → NATS.
        publish(&mut pc, "out.a", "m1").await;
        let m = next_msg(&mut nsub).await;
        assert_eq!((m.subject.as_str(), &m.payload[..]), ("out.a", &b"m1"[..]));

        // A channel bridged both ways: a PUBLISH reaches NATS once and its subscribers once
        // (it does not come back from NATS) ...
        publish(&mut pc, "both.x", "m2").await;
        assert_eq!(
            channel_msg(&mut stream).await,
            ("both.x".into(), "m2".into())
        );
        assert_eq!(&next_msg(&mut nboth).await.payload[..], b"m2");
        // ... and a message from NATS reaches the channel once and is not sent back to NATS.
        nc.publish("both.x", "m3".into()).await.expect("pub");
        nc.flush().await.expect("flush");
        assert_eq!(
            channel_msg(&mut stream).await,
            ("both.x".into(), "m3".into())
        );
        assert_eq!(&next_msg(&mut nboth).await.payload[..], b"m3");
        publish(&mut pc, "both.x", "m4").await;
        assert_eq!(
            channel_msg(&mut stream).await,
            ("both.x".into(), "m4".into())
        );
        assert_eq!(&next_msg(&mut nboth).await.payload[..], b"m4");
    });
    let v = qv(&mut c, &["BRIDGE", "INFO"]);
    assert_eq!(vget(&v, "channel-in"), Some(redis::Value::Int(2)));
    assert_eq!(vget(&v, "channel-out"), Some(redis::Value::Int(3)));
}

/// The value of the sample `name` with label `label` = `value` (or no label).
fn metric(s: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    let x = s
        .samples
        .iter()
        .find(|x| x.metric == name && label.is_none_or(|(k, v)| x.labels.get(k) == Some(v)))?;
    match x.value {
        prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => Some(v),
        _ => None,
    }
}

#[test]
fn metrics_carry_trigger_and_bridge_series() {
    let Some(nats) = nats_for("metrics_carry_trigger_and_bridge_series") else {
        return;
    };
    let url = nats.url();
    let srv = Server::start_doors(&["--nats-url", &url]);
    let mut c = srv.conn();
    wait_connected(&mut c);
    let rt = runtime();
    let scrape = rt.block_on(async {
        let nc = nats.client().await;
        let mut fun = nc.subscribe("fn.t").await.expect("subscribe");
        let mut changes = nc.subscribe("eddy.changes.>").await.expect("subscribe");
        nc.flush().await.expect("flush");
        let target = format!("{url}/fn.t");
        let _: () = q(
            &mut c,
            &["TRIGGER", "CREATE", "t1", &target, "MATCH", "o:*"],
        );
        let _: () = q(&mut c, &["SET", "o:1", "x"]);
        let req = next_msg(&mut fun).await;
        nc.publish(req.reply.expect("reply"), "{}".into())
            .await
            .expect("reply");
        nc.flush().await.expect("flush");
        next_msg(&mut changes).await;
        assert!(poll_until(WAIT, || {
            let v = qv(&mut c, &["TRIGGER", "INFO", "t1"]);
            vget(&v, "delivered") == Some(redis::Value::Int(1))
        }));
        assert!(poll_until(WAIT, || bridge_field(&mut c, "acked") == 1));
        eddy::triggers::http::install_crypto();
        let body = reqwest::get(format!("http://127.0.0.1:{}/metrics", srv.http_port))
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("body");
        prometheus_parse::Scrape::parse(body.lines().map(|l| Ok(l.to_string())))
            .expect("Prometheus text")
    });
    let t = Some(("trigger", "t1"));
    assert_eq!(
        metric(&scrape, "eddy_trigger_delivered_total", t),
        Some(1.0)
    );
    for name in [
        "eddy_trigger_failed_total",
        "eddy_trigger_retried_total",
        "eddy_trigger_dead_lettered_total",
        "eddy_trigger_in_flight",
        "eddy_trigger_lag_offsets",
        "eddy_trigger_lag_seconds",
    ] {
        assert_eq!(metric(&scrape, name, t), Some(0.0), "{name}");
    }
    assert_eq!(
        metric(&scrape, "eddy_bridge_published_total", None),
        Some(1.0)
    );
    assert_eq!(metric(&scrape, "eddy_bridge_acked_total", None), Some(1.0));
    assert_eq!(metric(&scrape, "eddy_bridge_failed_total", None), Some(0.0));
    assert_eq!(metric(&scrape, "eddy_bridge_connected", None), Some(1.0));
    assert_eq!(metric(&scrape, "eddy_bridge_lag_offsets", None), Some(0.0));
    assert_eq!(
        metric(
            &scrape,
            "eddy_bridge_channel_messages_total",
            Some(("direction", "in"))
        ),
        Some(0.0)
    );
}

#[test]
fn bad_bridge_options_stop_the_server_and_bridge_info_says_off() {
    if !eddy_only("bad_bridge_options_stop_the_server_and_bridge_info_says_off") {
        return;
    }
    for (opt, value, says) in [
        ("--nats-bridge-db", "99", "nats-bridge-db"),
        ("--nats-bridge-prefix", "a..b", "nats-bridge-prefix"),
        ("--nats-bridge-subscribe", "a.>.b", "nats-bridge-subscribe"),
        ("--nats-bridge-jetstream", "a.b", "nats-bridge-jetstream"),
    ] {
        let args = [
            "--port",
            "0",
            "--nats-url",
            "nats://127.0.0.1:1",
            opt,
            value,
        ];
        let (code, out) = run_server_expecting_exit(&args, WAIT);
        assert_eq!(code, Some(1), "{opt} {value}: {out}");
        assert!(out.contains(says), "{opt} {value}: {out}");
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let v = qv(&mut c, &["BRIDGE", "INFO"]);
    assert_eq!(vget(&v, "enabled"), Some(redis::Value::Int(0)));
    let info: String = q(&mut c, &["INFO", "bridge"]);
    assert!(info.contains("bridge_enabled:0"), "{info}");
}
