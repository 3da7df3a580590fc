//! `GET /metrics`: the server's state in the Prometheus text format (0.0.4), read at each scrape
//! from what INFO reads (command statistics, clients, memory, keyspace, the change log and its
//! readers), so the two never disagree.
//!
//! | Metric | Type | Labels |
//! |---|---|---|
//! | `eddy_commands_total` | counter | `cmd` (`get`, `config\|get`, ...) |
//! | `eddy_command_errors_total` | counter | `cmd`, `kind` (`failed`: the command ran and replied an error; `rejected`: refused before running: arity, NOAUTH, ...) |
//! | `eddy_command_duration_seconds` | histogram | (all commands) |
//! | `eddy_connected_clients` | gauge | `door` (`resp`, `websocket`, `msgpack`) |
//! | `eddy_used_memory_bytes` | gauge | |
//! | `eddy_keys`, `eddy_expiring_keys` | gauge | `db` (databases holding keys) |
//! | `eddy_changes_first_offset`, `eddy_changes_last_offset` | gauge | |
//! | `eddy_changes_memory_bytes`, `eddy_changes_disk_bytes` | gauge | |
//! | `eddy_change_reader_offset`, `eddy_change_reader_lag` | gauge | `reader` (`group_<name>`, `sub_<client id>`) |
//! | `eddy_trigger_delivered_total`, `_failed_total`, `_retried_total`, `_dead_lettered_total`, `_dropped_total` | counter | `trigger` |
//! | `eddy_trigger_in_flight`, `eddy_trigger_lag_offsets`, `eddy_trigger_lag_seconds` | gauge | `trigger` |
//! | `eddy_bridge_published_total`, `_acked_total`, `_failed_total`, `_retried_total`, `_truncated_total` | counter | (with the NATS bridge on) |
//! | `eddy_bridge_channel_messages_total` | counter | `direction` (`in`: NATS to channels, `out`: channels to NATS, `dropped`) |
//! | `eddy_bridge_connected`, `eddy_bridge_in_flight`, `eddy_bridge_lag_offsets`, `eddy_bridge_lag_seconds` | gauge | |
//!
//! Trigger and bridge series come from the counters TRIGGER INFO and BRIDGE INFO report
//! (`triggers::counters`, `bridge::counters`).
//!
//! Per-command counters restart from 0 after `CONFIG RESETSTAT`, which Prometheus reads as a
//! counter reset.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::commands::{self, LATENCY_BUCKETS_US};
use crate::server::door::Door;
use crate::server::Server;

/// The registry `/metrics` encodes: one collector reading the server at each scrape.
pub fn registry(srv: Arc<Server>) -> Registry {
    let mut r = Registry::default();
    r.register_collector(Box::new(Eddy(srv)));
    r
}

struct Eddy(Arc<Server>);

impl std::fmt::Debug for Eddy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Eddy metrics")
    }
}

type Res = Result<(), std::fmt::Error>;

/// One gauge without labels.
fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Res {
    let g = ConstGauge::new(v.min(i64::MAX as u64) as i64);
    g.encode(enc.encode_descriptor(name, help, None, g.metric_type())?)
}

/// One metric with a value per label set.
fn family<L: prometheus_client::encoding::EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    ty: MetricType,
    rows: impl IntoIterator<Item = (L, u64)>,
) -> Res {
    let mut m = enc.encode_descriptor(name, help, None, ty)?;
    for (labels, v) in rows {
        let fam = m.encode_family(&labels)?;
        match ty {
            MetricType::Counter => ConstCounter::new(v).encode(fam)?,
            _ => ConstGauge::new(v.min(i64::MAX as u64) as i64).encode(fam)?,
        }
    }
    Ok(())
}

impl Collector for Eddy {
    fn encode(&self, mut enc: DescriptorEncoder) -> Res {
        let srv = &*self.0;
        let t = commands::table();
        let mut calls = Vec::new();
        let mut errors = Vec::new();
        for (id, name) in t.full_names.iter().enumerate() {
            let (n, _) = commands::call_counts(id);
            let st = &t.stats[id];
            let failed = st.failed.load(std::sync::atomic::Ordering::Relaxed);
            let rejected = st.rejected.load(std::sync::atomic::Ordering::Relaxed);
            if n > 0 || failed > 0 || rejected > 0 {
                calls.push(([("cmd", name.as_str())], n));
                errors.push(([("cmd", name.as_str()), ("kind", "failed")], failed));
                errors.push(([("cmd", name.as_str()), ("kind", "rejected")], rejected));
            }
        }
        family(
            &mut enc,
            "eddy_commands",
            "Commands run, by command.",
            MetricType::Counter,
            calls,
        )?;
        family(
            &mut enc,
            "eddy_command_errors",
            "Commands that replied an error (failed) or were refused before running (rejected).",
            MetricType::Counter,
            errors,
        )?;

        let (counts, sum_us) = commands::latency_histogram();
        let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS_US
            .iter()
            .map(|&us| us as f64 / 1e6)
            .chain([f64::INFINITY])
            .zip(counts)
            .collect();
        let mut m = enc.encode_descriptor(
            "eddy_command_duration_seconds",
            "Time commands took to run, all commands.",
            None,
            MetricType::Histogram,
        )?;
        m.encode_histogram::<NoLabelSet>(sum_us as f64 / 1e6, counts.iter().sum(), &buckets, None)?;

        let clients = srv.clients.all();
        family(
            &mut enc,
            "eddy_connected_clients",
            "Connected clients, by front door.",
            MetricType::Gauge,
            Door::ALL.map(|d| {
                let n = clients.iter().filter(|c| c.door() == d).count() as u64;
                ([("door", d.name())], n)
            }),
        )?;
        let (used, _) = commands::server::used_memory(commands::server::rss_bytes());
        gauge(
            &mut enc,
            "eddy_used_memory_bytes",
            "INFO's used_memory.",
            used,
        )?;

        let sizes = srv.keyspace.db_sizes();
        let held = || sizes.iter().enumerate().filter(|(_, s)| s.0 > 0);
        let dbs: Vec<String> = held().map(|(i, _)| i.to_string()).collect();
        family(
            &mut enc,
            "eddy_keys",
            "Keys, by database.",
            MetricType::Gauge,
            held()
                .zip(&dbs)
                .map(|((_, s), db)| ([("db", db.as_str())], s.0 as u64)),
        )?;
        family(
            &mut enc,
            "eddy_expiring_keys",
            "Keys with a TTL, by database.",
            MetricType::Gauge,
            held()
                .zip(&dbs)
                .map(|((_, s), db)| ([("db", db.as_str())], s.1 as u64)),
        )?;

        let log = &srv.log;
        gauge(
            &mut enc,
            "eddy_changes_first_offset",
            "Oldest offset the change log holds.",
            log.first_offset(),
        )?;
        gauge(
            &mut enc,
            "eddy_changes_last_offset",
            "Newest offset in the change log.",
            log.last_offset(),
        )?;
        gauge(
            &mut enc,
            "eddy_changes_memory_bytes",
            "Bytes of the change log's memory tail.",
            log.memory_bytes() as u64,
        )?;
        let disk = log.disk.as_ref().map_or(0, |d| d.bytes());
        gauge(
            &mut enc,
            "eddy_changes_disk_bytes",
            "Bytes of the change log's disk segments.",
            disk,
        )?;
        let readers = crate::changes::groups::readers(log);
        family(
            &mut enc,
            "eddy_change_reader_offset",
            "Last offset a change-feed reader examined or was delivered.",
            MetricType::Gauge,
            readers
                .iter()
                .map(|r| ([("reader", r.name.as_str())], r.offset)),
        )?;
        family(
            &mut enc,
            "eddy_change_reader_lag",
            "Records the change log holds after a reader's offset.",
            MetricType::Gauge,
            readers
                .iter()
                .map(|r| ([("reader", r.name.as_str())], r.lag)),
        )?;
        triggers(srv, &mut enc)?;
        bridge(srv, &mut enc)
    }
}

/// The counter `name` of a `(name, value)` list (0 if absent).
fn lookup(counters: &[(&str, u64)], name: &str) -> u64 {
    counters
        .iter()
        .find(|(k, _)| *k == name)
        .map_or(0, |(_, v)| *v)
}

/// The per-trigger series, from `triggers::counters` and `triggers::lag`.
fn triggers(srv: &Server, enc: &mut DescriptorEncoder) -> Res {
    /// A trigger's name, counters and lag.
    struct Row {
        name: String,
        counters: Vec<(&'static str, u64)>,
        lag: (u64, u64),
    }
    let rows: Vec<Row> = srv
        .triggers
        .all()
        .iter()
        .map(|t| Row {
            name: String::from_utf8_lossy(&t.name).into_owned(),
            counters: crate::triggers::counters(t).to_vec(),
            lag: crate::triggers::lag(srv, t),
        })
        .collect();
    let value = |r: &Row, name: &str| lookup(&r.counters, name);
    for (counter, metric, help) in [
        (
            "delivered",
            "eddy_trigger_delivered",
            "Records a function took.",
        ),
        ("failed", "eddy_trigger_failed", "Sends that failed."),
        (
            "retried",
            "eddy_trigger_retried",
            "Records sent again after a failure.",
        ),
        (
            "dead-lettered",
            "eddy_trigger_dead_lettered",
            "Records written to the dead-letter stream.",
        ),
        (
            "dropped",
            "eddy_trigger_dropped",
            "Records given up without a dead-letter stream.",
        ),
    ] {
        family(
            enc,
            metric,
            help,
            MetricType::Counter,
            rows.iter()
                .map(|r| ([("trigger", r.name.as_str())], value(r, counter))),
        )?;
    }
    type Get = fn(&Row) -> u64;
    let gauges: [(&str, &str, Get); 3] = [
        (
            "eddy_trigger_in_flight",
            "Records in a send right now.",
            |r| lookup(&r.counters, "in-flight"),
        ),
        (
            "eddy_trigger_lag_offsets",
            "Records after the trigger's position.",
            |r| r.lag.0,
        ),
        (
            "eddy_trigger_lag_seconds",
            "Age of the oldest record the trigger has not done.",
            |r| r.lag.1,
        ),
    ];
    for (metric, help, get) in gauges {
        family(
            enc,
            metric,
            help,
            MetricType::Gauge,
            rows.iter()
                .map(|r| ([("trigger", r.name.as_str())], get(r))),
        )?;
    }
    Ok(())
}

/// The NATS bridge's series (none while it is off), from `bridge::counters` and `bridge::lag`.
fn bridge(srv: &Server, enc: &mut DescriptorEncoder) -> Res {
    let Some(b) = srv.bridge.get() else {
        return Ok(());
    };
    let c = crate::bridge::counters(b);
    let value = |name: &str| lookup(&c, name);
    for (counter, metric, help) in [
        (
            "published",
            "eddy_bridge_published",
            "Change events handed to NATS.",
        ),
        (
            "acked",
            "eddy_bridge_acked",
            "Change events NATS confirmed.",
        ),
        (
            "failed",
            "eddy_bridge_failed",
            "Change events whose publish failed.",
        ),
        (
            "retried",
            "eddy_bridge_retried",
            "Change events published again after a failure.",
        ),
        (
            "truncated",
            "eddy_bridge_truncated",
            "Change events published without their arguments.",
        ),
    ] {
        let c = ConstCounter::new(value(counter));
        c.encode(enc.encode_descriptor(metric, help, None, c.metric_type())?)?;
    }
    family(
        enc,
        "eddy_bridge_channel_messages",
        "Pub/sub messages bridged, by direction.",
        MetricType::Counter,
        [
            ([("direction", "in")], value("channel-in")),
            ([("direction", "out")], value("channel-out")),
            ([("direction", "dropped")], value("channel-dropped")),
        ],
    )?;
    let (lag_off, lag_s) = crate::bridge::lag(srv, b);
    gauge(
        enc,
        "eddy_bridge_connected",
        "1 while connected to NATS.",
        b.connected() as u64,
    )?;
    gauge(
        enc,
        "eddy_bridge_in_flight",
        "Change events in a publish right now.",
        value("in-flight"),
    )?;
    gauge(
        enc,
        "eddy_bridge_lag_offsets",
        "Records after the bridge's position.",
        lag_off,
    )?;
    gauge(
        enc,
        "eddy_bridge_lag_seconds",
        "Age of the oldest record the bridge has not published.",
        lag_s,
    )
}
