//! One configuration registry behind the command line, the config file and `CONFIG GET/SET/
//! REWRITE/RESETSTAT`.
//!
//! Every option is a [`Def`] in [`DEFS`], named as in redis.conf where Redis has the option and
//! the meaning matches. Values are kept as canonical strings (memory sizes in bytes, booleans as
//! `yes`/`no`), which is what `CONFIG GET` returns. Options read on the hot path are mirrored into
//! atomics ([`Hot`]) whenever a value changes, so a command never parses a config string.
//!
//! Sources are applied in redis-server's order: the config file (first positional argument), then
//! the command line (`--name value ...`), later values winning. Unknown or malformed options are
//! an error naming the option.
//!
//! The side doors' ports follow `port` unless set: `msgpack-port` is `port + 100` and
//! `http-port` is `port + 2000` (6479 and 8379 for the default 6379), so a second server started
//! with only `--port 7000`, as one starts a second redis-server, does not collide with the first
//! on its other doors. With `port 0` (an ephemeral RESP port) a side door not set is off.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use parking_lot::RwLock;

use crate::protocol::split::split_args;

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Int {
        min: i64,
        max: i64,
    },
    Bool,
    Enum(&'static [&'static str]),
    /// A byte count, accepting Redis's units (`kb`, `mb`, `gb`, `k`, `m`, `g`).
    Memory,
    Str,
    /// `save` rules: pairs of seconds and changes, or empty.
    Save,
    /// `notify-keyspace-events`: class characters, kept in Redis's canonical order.
    KeyspaceEvents,
    /// `client-output-buffer-limit`: `<class> <hard> <soft> <seconds>` groups, merged into the
    /// current value (see `pubsub::limits`).
    OutputBufferLimit,
    /// `trigger`: one trigger definition per line, each `<name> <target> [options]`; a line
    /// merges into the value, replacing the definition of the same name (`triggers`).
    Triggers,
    /// `latency-tracking-info-percentiles`: numbers between 0 and 100, kept as Redis writes them
    /// (`commands::latency`).
    Percentiles,
    /// `shutdown-on-sigterm`, `shutdown-on-sigint`: SHUTDOWN's flags (`server::shutdown`).
    ShutdownFlags,
}

#[derive(Debug)]
pub struct Def {
    pub name: &'static str,
    pub alias: Option<&'static str>,
    pub kind: Kind,
    pub default: &'static str,
    /// Can be changed with CONFIG SET.
    pub runtime: bool,
}

const fn def(name: &'static str, kind: Kind, default: &'static str, runtime: bool) -> Def {
    Def {
        name,
        alias: None,
        kind,
        default,
        runtime,
    }
}

const U16: Kind = Kind::Int { min: 0, max: 65535 };
const NONNEG: Kind = Kind::Int {
    min: 0,
    max: i64::MAX,
};

/// The registry. Order is the order `CONFIG REWRITE` appends new lines in.
pub static DEFS: &[Def] = &[
    def("port", U16, "6379", false),
    def("bind", Kind::Str, "127.0.0.1", false),
    // The other front doors (docs/websocket.md, docs/msgpack.md); 0 turns one off. When not
    // set, they follow `port` (see the module docs and `Config::derive_door_ports`).
    def("http-port", U16, "8379", false),
    def("msgpack-port", U16, "6479", false),
    def("dir", Kind::Str, "./data", false),
    def("databases", Kind::Int { min: 1, max: 1024 }, "16", false),
    def("requirepass", Kind::Str, "", true),
    // Users are loaded from it at start-up and by ACL LOAD, and ACL SAVE writes them (`acl`).
    def("aclfile", Kind::Str, "", false),
    def(
        "maxclients",
        Kind::Int {
            min: 1,
            max: 1_000_000,
        },
        "10000",
        true,
    ),
    def("timeout", NONNEG, "0", true),
    def("tcp-backlog", NONNEG, "511", false),
    def("tcp-keepalive", NONNEG, "300", true),
    def("proto-max-bulk-len", Kind::Memory, "536870912", true),
    def(
        "client-query-buffer-limit",
        Kind::Memory,
        "1073741824",
        true,
    ),
    def("notify-keyspace-events", Kind::KeyspaceEvents, "", true),
    def("tracking-table-max-keys", NONNEG, "1000000", true),
    def(
        "client-output-buffer-limit",
        Kind::OutputBufferLimit,
        crate::pubsub::limits::DEFAULT,
        true,
    ),
    def("appendonly", Kind::Bool, "yes", false),
    def(
        "appendfsync",
        Kind::Enum(&["always", "everysec", "no"]),
        "everysec",
        true,
    ),
    def("save", Kind::Save, "3600 1 300 100 60 10000", true),
    def("maxmemory", Kind::Memory, "0", true),
    def(
        "maxmemory-policy",
        Kind::Enum(&[
            "noeviction",
            "allkeys-lru",
            "allkeys-lfu",
            "allkeys-random",
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
        ]),
        "noeviction",
        true,
    ),
    def(
        "maxmemory-samples",
        Kind::Int { min: 1, max: 64 },
        "5",
        true,
    ),
    def("lfu-log-factor", NONNEG, "10", true),
    def("lfu-decay-time", NONNEG, "1", true),
    def("hz", Kind::Int { min: 1, max: 500 }, "10", true),
    def(
        "loglevel",
        Kind::Enum(&["debug", "verbose", "notice", "warning"]),
        "notice",
        true,
    ),
    def("logfile", Kind::Str, "", false),
    def("daemonize", Kind::Enum(&["no"]), "no", false),
    // Eddy loads no modules: MODULE LOAD is refused as Redis refuses it at this default.
    def("enable-module-command", Kind::Enum(&["no"]), "no", false),
    // Threads serving connections (tokio workers). One, as in Redis: see `main.rs` for why.
    def("io-threads", Kind::Int { min: 1, max: 128 }, "1", false),
    def(
        "keyspace-shards",
        Kind::Int { min: 1, max: 4096 },
        "64",
        false,
    ),
    def("changes-memory-bytes", Kind::Memory, "0", true),
    def("changes-retention-ms", NONNEG, "86400000", true),
    def("changes-retention-bytes", Kind::Memory, "0", true),
    def("changes-segment-bytes", Kind::Memory, "67108864", true),
    def("changes-load-corrupt", Kind::Bool, "no", true),
    def("changes-images", Kind::Bool, "no", true),
    def("changes-image-max-bytes", Kind::Memory, "4096", true),
    // Triggers defined at start-up (repeatable; see `triggers`).
    def("trigger", Kind::Triggers, "", false),
    // The runtime the log's push readers (subscriptions, triggers, the NATS bridge's publisher)
    // run on (`server::background`): its threads, and how much lower their priority is than
    // the client runtime's (a nice increment; 0 = the same).
    def(
        "changes-reader-threads",
        Kind::Int { min: 1, max: 64 },
        "1",
        false,
    ),
    def(
        "changes-reader-nice",
        Kind::Int { min: 0, max: 19 },
        "10",
        false,
    ),
    // The NATS bridge (docs/nats.md; off while `nats-url` is empty).
    def("nats-url", Kind::Str, "", false),
    def("nats-bridge-prefix", Kind::Str, "eddy.changes", false),
    def("nats-bridge-changes", Kind::Bool, "yes", false),
    def("nats-bridge-match", Kind::Str, "", false),
    def("nats-bridge-events", Kind::Str, "", false),
    def("nats-bridge-type", Kind::Str, "", false),
    def("nats-bridge-db", Kind::Str, "", false),
    def("nats-bridge-jetstream", Kind::Str, "", false),
    def("nats-bridge-subscribe", Kind::Str, "", false),
    def("nats-bridge-publish", Kind::Str, "", false),
    // Serving replicas (`server::replication`), with Redis's names and defaults.
    Def {
        name: "shutdown-on-sigterm",
        alias: None,
        kind: Kind::ShutdownFlags,
        default: "default",
        runtime: true,
    },
    Def {
        name: "shutdown-on-sigint",
        alias: None,
        kind: Kind::ShutdownFlags,
        default: "default",
        runtime: true,
    },
    Def {
        name: "shutdown-timeout",
        alias: None,
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        default: "10",
        runtime: true,
    },
    Def {
        name: "repl-timeout",
        alias: None,
        kind: Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        default: "60",
        runtime: true,
    },
    Def {
        name: "repl-ping-replica-period",
        alias: Some("repl-ping-slave-period"),
        kind: Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        default: "10",
        runtime: true,
    },
    // Following a Redis primary (`server::follow`). `replicaof` is read at start-up; REPLICAOF
    // changes the primary at run time.
    Def {
        name: "replicaof",
        alias: Some("slaveof"),
        kind: Kind::Str,
        default: "",
        runtime: false,
    },
    def("masterauth", Kind::Str, "", true),
    def("masteruser", Kind::Str, "", true),
    // What a follower tells its primary and Sentinel (INFO replication's `slave_priority`,
    // `replica_announced`; the handshake's `REPLCONF listening-port|ip-address`).
    Def {
        name: "replica-priority",
        alias: Some("slave-priority"),
        kind: Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        default: "100",
        runtime: true,
    },
    def("replica-announced", Kind::Bool, "yes", true),
    Def {
        name: "replica-announce-ip",
        alias: Some("slave-announce-ip"),
        kind: Kind::Str,
        default: "",
        runtime: true,
    },
    Def {
        name: "replica-announce-port",
        alias: Some("slave-announce-port"),
        kind: Kind::Int { min: 0, max: 65535 },
        default: "0",
        runtime: true,
    },
    Def {
        name: "replica-read-only",
        alias: Some("slave-read-only"),
        kind: Kind::Bool,
        default: "yes",
        runtime: true,
    },
    Def {
        name: "min-replicas-to-write",
        alias: Some("min-slaves-to-write"),
        kind: NONNEG,
        default: "0",
        runtime: true,
    },
    Def {
        name: "min-replicas-max-lag",
        alias: Some("min-slaves-max-lag"),
        kind: NONNEG,
        default: "10",
        runtime: true,
    },
    // Compact collection encodings (hashes and sets).
    Def {
        name: "hash-max-listpack-entries",
        alias: Some("hash-max-ziplist-entries"),
        kind: NONNEG,
        default: "128",
        runtime: true,
    },
    Def {
        name: "hash-max-listpack-value",
        alias: Some("hash-max-ziplist-value"),
        kind: Kind::Memory,
        default: "64",
        runtime: true,
    },
    def("set-max-intset-entries", NONNEG, "512", true),
    def("set-max-listpack-entries", NONNEG, "128", true),
    def("set-max-listpack-value", Kind::Memory, "64", true),
    // HyperLogLog: the longest sparse representation before promotion to dense.
    def("hll-sparse-max-bytes", Kind::Memory, "3000", true),
    // Sorted sets' compact encoding.
    Def {
        name: "zset-max-listpack-entries",
        alias: Some("zset-max-ziplist-entries"),
        kind: NONNEG,
        default: "128",
        runtime: true,
    },
    Def {
        name: "zset-max-listpack-value",
        alias: Some("zset-max-ziplist-value"),
        kind: Kind::Memory,
        default: "64",
        runtime: true,
    },
    // Lists: the bound of one packed node (negative: -1..-5 = 4..64 KiB; positive: entries).
    Def {
        name: "list-max-listpack-size",
        alias: Some("list-max-ziplist-size"),
        kind: Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
        },
        default: "-2",
        runtime: true,
    },
    def(
        "slowlog-log-slower-than",
        Kind::Int {
            min: -1,
            max: i64::MAX,
        },
        "10000",
        true,
    ),
    def("slowlog-max-len", NONNEG, "128", true),
    // LATENCY (`commands::latency`): the monitor's threshold in milliseconds (0 = off), and the
    // per-command histograms behind LATENCY HISTOGRAM and INFO latencystats.
    def("latency-monitor-threshold", NONNEG, "0", true),
    def("latency-tracking", Kind::Bool, "yes", true),
    def(
        "latency-tracking-info-percentiles",
        Kind::Percentiles,
        "50 99 99.9",
        true,
    ),
    Def {
        name: "busy-reply-threshold",
        alias: Some("lua-time-limit"),
        kind: NONNEG,
        default: "5000",
        runtime: true,
    },
];

/// Hot-path mirrors of some options.
#[derive(Debug, Default)]
pub struct Hot {
    pub proto_max_bulk_len: AtomicU64,
    pub query_buffer_limit: AtomicU64,
    pub maxclients: AtomicU64,
    pub timeout_secs: AtomicU64,
    pub changes_memory_bytes: AtomicU64,
    pub list_max_listpack_size: std::sync::atomic::AtomicI64,
    pub hash_max_listpack_entries: AtomicU64,
    pub hash_max_listpack_value: AtomicU64,
    pub set_max_intset_entries: AtomicU64,
    pub set_max_listpack_entries: AtomicU64,
    pub set_max_listpack_value: AtomicU64,
    pub zset_max_listpack_entries: AtomicU64,
    pub zset_max_listpack_value: AtomicU64,
    pub hll_sparse_max_bytes: AtomicU64,
    /// Read by every script run.
    pub busy_reply_threshold: AtomicU64,
    /// Read after every command (`commands::slowlog`).
    pub slowlog_log_slower_than: std::sync::atomic::AtomicI64,
    pub slowlog_max_len: AtomicU64,
    /// Read after every command (`commands::latency`): whether to count its duration, and
    /// `latency-monitor-threshold` in nanoseconds (`u64::MAX` when off).
    pub latency_tracking: AtomicBool,
    pub latency_monitor_ns: AtomicU64,
    /// `notify-keyspace-events` as flags. Set from the value as given, not its canonical form:
    /// like Redis, "An" shows as "A" but keeps `n` in effect.
    pub notify_keyspace_events: AtomicU32,
    /// Read before every command (`keyspace::evict`); 0 = no limit.
    pub maxmemory: AtomicU64,
    /// `maxmemory-policy` as its index in the option's list of values.
    pub maxmemory_policy: AtomicU32,
    pub maxmemory_samples: AtomicU64,
    /// Read before every write command (`server::replication`); 0 = no requirement.
    pub min_replicas_to_write: AtomicU64,
    pub min_replicas_max_lag: AtomicU64,
    /// Read at every step of a replica's stream (`server::replication`), in seconds.
    pub repl_timeout: AtomicU64,
    pub repl_ping_replica_period: AtomicU64,
    /// Read before every write command while following a primary (`server::follow`).
    pub replica_read_only: AtomicBool,
}

#[derive(Debug)]
pub struct Config {
    values: RwLock<Vec<String>>,
    /// The config file given at start-up (CONFIG REWRITE writes it back).
    pub file: Option<PathBuf>,
    pub hot: Hot,
}

pub fn find(name: &str) -> Option<usize> {
    DEFS.iter().position(|d| {
        d.name.eq_ignore_ascii_case(name) || d.alias.is_some_and(|a| a.eq_ignore_ascii_case(name))
    })
}

/// Parses a memory amount with Redis's units.
pub fn parse_memory(s: &str) -> Option<u64> {
    let l = s.to_ascii_lowercase();
    let (num, mul) = [
        ("gb", 1u64 << 30),
        ("mb", 1 << 20),
        ("kb", 1 << 10),
        ("g", 1_000_000_000),
        ("m", 1_000_000),
        ("k", 1_000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, m)| l.strip_suffix(suf).map(|n| (n.to_string(), *m)))
    .unwrap_or((l.clone(), 1));
    let n: u64 = num.parse().ok()?;
    n.checked_mul(mul)
}

/// Validates and canonicalises a value for `d`.
pub fn canonical(d: &Def, v: &str) -> Result<String, String> {
    canonical_over(d, d.default, v)
}

/// Validates and canonicalises a value for `d` given its `current` canonical value (options
/// whose value is merged into the current one, as `client-output-buffer-limit`).
pub fn canonical_over(d: &Def, current: &str, v: &str) -> Result<String, String> {
    match d.kind {
        Kind::KeyspaceEvents => crate::pubsub::notify::canonical(v),
        Kind::OutputBufferLimit => crate::pubsub::limits::merge(current, v),
        Kind::Triggers => crate::triggers::config_merge(current, v),
        Kind::Percentiles => crate::commands::latency::canonical_percentiles(v),
        Kind::ShutdownFlags => crate::server::shutdown::canonical_flags(v),
        Kind::Int { min, max } => {
            let n: i64 = v
                .parse()
                .map_err(|_| "argument couldn't be parsed into an integer".to_string())?;
            if n < min || n > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            Ok(n.to_string())
        }
        Kind::Bool => match v.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Enum(opts) => {
            let l = v.to_ascii_lowercase();
            if opts.contains(&l.as_str()) {
                Ok(l)
            } else {
                Err("argument(s) must be one of the following: ".to_string() + &opts.join(", "))
            }
        }
        Kind::Memory => parse_memory(v)
            .map(|n| n.to_string())
            .ok_or_else(|| "argument must be a memory value".into()),
        Kind::Str => Ok(v.to_string()),
        Kind::Save => {
            let parts: Vec<&str> = v.split_whitespace().collect();
            if !parts.len().is_multiple_of(2) || parts.iter().any(|p| p.parse::<u64>().is_err()) {
                return Err("Invalid save parameters".into());
            }
            Ok(parts.join(" "))
        }
    }
}

impl Config {
    pub fn defaults() -> Config {
        let c = Config {
            values: RwLock::new(DEFS.iter().map(|d| d.default.to_string()).collect()),
            file: None,
            hot: Hot::default(),
        };
        c.refresh_hot();
        c
    }

    /// Builds the configuration from redis-server style arguments (without the program name).
    pub fn from_args(args: &[String]) -> Result<Config, String> {
        let mut cmd = clap::Command::new("eddy-server")
            .version(env!("CARGO_PKG_VERSION"))
            .about("Eddy: a Redis-compatible key-value server in which every mutation is an event")
            .override_usage("eddy-server [/path/to/eddy.conf] [--option value ...]")
            .arg(
                clap::Arg::new("config-file")
                    .index(1)
                    .help("redis.conf-style config file"),
            );
        for d in DEFS {
            let mut a = clap::Arg::new(d.name)
                .long(d.name)
                .num_args(1..)
                .action(clap::ArgAction::Append)
                .value_name("value")
                .help(format!("default: {:?}", d.default));
            if let Some(al) = d.alias {
                a = a.alias(al);
            }
            cmd = cmd.arg(a);
        }
        let m = match cmd.try_get_matches_from(
            std::iter::once("eddy-server".to_string()).chain(args.iter().cloned()),
        ) {
            Ok(m) => m,
            Err(e) => {
                use clap::error::ErrorKind::*;
                if matches!(e.kind(), DisplayHelp | DisplayVersion) {
                    print!("{e}");
                    std::process::exit(0);
                }
                return Err(e.to_string());
            }
        };
        let mut c = Config::defaults();
        let mut explicit = Vec::new();
        if let Some(path) = m.get_one::<String>("config-file") {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("can't open config file '{path}': {e}"))?;
            explicit = c
                .load_text(&text)
                .map_err(|e| format!("in config file '{path}': {e}"))?;
            c.file = Some(std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path)));
        }
        for d in DEFS {
            if let Some(mut occ) = m.get_occurrences::<String>(d.name) {
                // Every `--trigger` defines one trigger; other options keep the last value.
                if matches!(d.kind, Kind::Triggers) {
                    for o in occ {
                        let v: Vec<&str> = o.map(|s| s.as_str()).collect();
                        c.set(d.name, &v.join(" "))
                            .map_err(|e| format!("option '--{}': {e}", d.name))?;
                    }
                } else if let Some(last) = occ.next_back() {
                    let v: Vec<&str> = last.map(|s| s.as_str()).collect();
                    c.set(d.name, &v.join(" "))
                        .map_err(|e| format!("option '--{}': {e}", d.name))?;
                }
                explicit.extend(find(d.name));
            }
        }
        c.derive_door_ports(&explicit);
        Ok(c)
    }

    /// Applies redis.conf-format text; returns the indices of the options it set.
    pub fn load_text(&self, text: &str) -> Result<Vec<usize>, String> {
        let mut set = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let parts = split_args(t.as_bytes())
                .ok_or_else(|| format!("line {}: unbalanced quotes", n + 1))?;
            let Some((name, rest)) = parts.split_first() else {
                continue;
            };
            let name = String::from_utf8_lossy(name).to_string();
            let vals: Vec<String> = rest
                .iter()
                .map(|v| String::from_utf8_lossy(v).to_string())
                .collect();
            self.set(&name, &vals.join(" "))
                .map_err(|e| format!("line {}: option '{name}': {e}", n + 1))?;
            set.extend(find(&name));
        }
        Ok(set)
    }

    /// Gives each side door (MessagePack, HTTP) not set by the file or the command line a port
    /// derived from `port` (module docs). A derived port past 65535 turns that door off.
    fn derive_door_ports(&self, explicit: &[usize]) {
        let port = self.get_i64("port");
        for (name, delta) in [("msgpack-port", 100), ("http-port", 2000)] {
            let Some(i) = find(name) else { continue };
            if explicit.contains(&i) {
                continue;
            }
            let p = if port == 0 || port + delta > 65535 {
                0
            } else {
                port + delta
            };
            // Always a valid port number (0..=65535), so `set` cannot refuse it.
            let _ = self.set(name, &p.to_string());
        }
    }

    /// Sets an option (any source). Errors name what is wrong with the value.
    pub fn set(&self, name: &str, value: &str) -> Result<(), String> {
        let i =
            find(name).ok_or_else(|| "Bad directive or wrong number of arguments".to_string())?;
        let cur = self.get_index(i);
        let v = canonical_over(&DEFS[i], &cur, value)?;
        self.values.write()[i] = v;
        self.set_raw_hot(i, value);
        self.refresh_hot();
        Ok(())
    }

    /// Sets several options at once: all are validated before any is applied (CONFIG SET).
    pub fn set_many(&self, pairs: &[(usize, String)]) -> Result<(), (usize, String)> {
        let mut canon = Vec::with_capacity(pairs.len());
        for (i, v) in pairs {
            let cur = self.get_index(*i);
            canon.push((*i, canonical_over(&DEFS[*i], &cur, v).map_err(|e| (*i, e))?));
        }
        {
            let mut vals = self.values.write();
            for (i, v) in canon {
                vals[i] = v;
            }
        }
        for (i, v) in pairs {
            self.set_raw_hot(*i, v);
        }
        self.refresh_hot();
        Ok(())
    }

    /// Hot values taken from the value as given rather than its canonical form.
    fn set_raw_hot(&self, i: usize, raw: &str) {
        if matches!(DEFS[i].kind, Kind::KeyspaceEvents) {
            let f = crate::pubsub::notify::parse_flags(raw).unwrap_or(0);
            self.hot.notify_keyspace_events.store(f, Ordering::Relaxed);
        }
    }

    pub fn get(&self, name: &str) -> String {
        find(name)
            .map(|i| self.values.read()[i].clone())
            .unwrap_or_default()
    }

    pub fn get_index(&self, i: usize) -> String {
        self.values.read()[i].clone()
    }

    pub fn get_i64(&self, name: &str) -> i64 {
        self.get(name).parse().unwrap_or(0)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == "yes"
    }

    fn refresh_hot(&self) {
        let v = self.values.read();
        let num = |n: &str| find(n).and_then(|i| v[i].parse::<u64>().ok()).unwrap_or(0);
        let h = &self.hot;
        h.proto_max_bulk_len
            .store(num("proto-max-bulk-len"), Ordering::Relaxed);
        h.query_buffer_limit
            .store(num("client-query-buffer-limit"), Ordering::Relaxed);
        h.maxclients.store(num("maxclients"), Ordering::Relaxed);
        h.timeout_secs.store(num("timeout"), Ordering::Relaxed);
        h.changes_memory_bytes
            .store(num("changes-memory-bytes"), Ordering::Relaxed);
        for (slot, name) in [
            (&h.hash_max_listpack_entries, "hash-max-listpack-entries"),
            (&h.hash_max_listpack_value, "hash-max-listpack-value"),
            (&h.set_max_intset_entries, "set-max-intset-entries"),
            (&h.set_max_listpack_entries, "set-max-listpack-entries"),
            (&h.set_max_listpack_value, "set-max-listpack-value"),
            (&h.zset_max_listpack_entries, "zset-max-listpack-entries"),
            (&h.zset_max_listpack_value, "zset-max-listpack-value"),
            (&h.hll_sparse_max_bytes, "hll-sparse-max-bytes"),
            (&h.busy_reply_threshold, "busy-reply-threshold"),
            (&h.slowlog_max_len, "slowlog-max-len"),
            (&h.maxmemory, "maxmemory"),
            (&h.maxmemory_samples, "maxmemory-samples"),
            (&h.min_replicas_to_write, "min-replicas-to-write"),
            (&h.min_replicas_max_lag, "min-replicas-max-lag"),
            (&h.repl_timeout, "repl-timeout"),
            (&h.repl_ping_replica_period, "repl-ping-replica-period"),
        ] {
            slot.store(num(name), Ordering::Relaxed);
        }
        if let Some(i) = find("maxmemory-policy") {
            if let Kind::Enum(names) = DEFS[i].kind {
                let p = names.iter().position(|n| *n == v[i]).unwrap_or(0);
                h.maxmemory_policy.store(p as u32, Ordering::Relaxed);
            }
        }
        h.list_max_listpack_size.store(
            find("list-max-listpack-size")
                .and_then(|i| v[i].parse::<i64>().ok())
                .unwrap_or(-2),
            Ordering::Relaxed,
        );
        h.slowlog_log_slower_than.store(
            find("slowlog-log-slower-than")
                .and_then(|i| v[i].parse::<i64>().ok())
                .unwrap_or(10000),
            Ordering::Relaxed,
        );
        h.latency_tracking.store(
            find("latency-tracking").is_some_and(|i| v[i] == "yes"),
            Ordering::Relaxed,
        );
        h.replica_read_only.store(
            find("replica-read-only").is_some_and(|i| v[i] == "yes"),
            Ordering::Relaxed,
        );
        let monitor_ms = num("latency-monitor-threshold");
        h.latency_monitor_ns.store(
            match monitor_ms {
                0 => u64::MAX,
                ms => ms.saturating_mul(1_000_000),
            },
            Ordering::Relaxed,
        );
    }

    /// Renders the config file with current values: existing lines for known options are updated
    /// in place (the first occurrence; later duplicates dropped), and options that differ from
    /// their default and were not in the file are appended.
    pub fn rewrite_text(&self, old: &str) -> String {
        let vals = self.values.read();
        let mut seen = vec![false; DEFS.len()];
        let mut out = String::new();
        for line in old.lines() {
            let t = line.trim();
            let name = t.split_whitespace().next().unwrap_or("");
            match (t.starts_with('#'), find(name)) {
                (false, Some(i)) if !name.is_empty() => {
                    if !seen[i] {
                        seen[i] = true;
                        out.push_str(&format_line(DEFS[i].name, &vals[i], DEFS[i].kind));
                    }
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        for (i, d) in DEFS.iter().enumerate() {
            if !seen[i] && vals[i] != canonical(d, d.default).unwrap_or_default() {
                out.push_str(&format_line(d.name, &vals[i], d.kind));
            }
        }
        out
    }
}

fn format_line(name: &str, v: &str, kind: Kind) -> String {
    match kind {
        Kind::Save | Kind::Percentiles if v.is_empty() => format!("{name} \"\"\n"),
        // Several words, unquoted: the form redis.conf (and Redis) reads.
        Kind::Save | Kind::OutputBufferLimit | Kind::Percentiles | Kind::ShutdownFlags => {
            format!("{name} {v}\n")
        }
        Kind::Triggers => v.lines().map(|l| format!("{name} {l}\n")).collect(),
        _ => {
            let needs_quote = v.is_empty() || v.contains(|c: char| c.is_whitespace() || c == '"');
            if needs_quote {
                format!(
                    "{name} \"{}\"\n",
                    v.replace('\\', "\\\\").replace('"', "\\\"")
                )
            } else {
                format!("{name} {v}\n")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_arguments_win_over_the_file() {
        let dir = std::env::temp_dir().join(format!("eddy-conf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("e.conf");
        std::fs::write(&f, "port 7000\nmaxmemory 1mb\n# comment\n").unwrap();
        let c =
            Config::from_args(&[f.display().to_string(), "--port".into(), "7001".into()]).unwrap();
        assert_eq!(c.get("port"), "7001");
        assert_eq!(c.get("maxmemory"), "1048576");
        let rewritten = c.rewrite_text("port 7000\nmaxmemory 1mb\n# comment\n");
        assert!(rewritten.starts_with("port 7001\nmaxmemory 1048576\n# comment\n"));
    }

    #[test]
    fn side_door_ports_follow_port_unless_set() {
        let doors = |args: &[&str]| {
            let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            let c = Config::from_args(&a).unwrap();
            (c.get("msgpack-port"), c.get("http-port"))
        };
        let want = |m: &str, h: &str| (m.to_string(), h.to_string());
        assert_eq!(doors(&[]), want("6479", "8379"));
        assert_eq!(doors(&["--port", "7000"]), want("7100", "9000"));
        // Set explicitly, even to the static default, a side port stays as given.
        assert_eq!(
            doors(&["--port", "7000", "--msgpack-port", "6479"]),
            want("6479", "9000")
        );
        assert_eq!(doors(&["--port", "0"]), want("0", "0"));
        assert_eq!(doors(&["--port", "64000"]), want("64100", "0"));
        let dir = std::env::temp_dir().join(format!("eddy-doors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("e.conf");
        std::fs::write(&f, "port 7000\nhttp-port 8000\n").unwrap();
        assert_eq!(doors(&[&f.display().to_string()]), want("7100", "8000"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn bad_options_name_the_option() {
        let e = Config::from_args(&["--port".into(), "x".into()]).unwrap_err();
        assert!(e.contains("port"), "{e}");
        let e = Config::from_args(&["--no-such-option".into(), "1".into()]).unwrap_err();
        assert!(e.contains("no-such-option"), "{e}");
        assert!(Config::defaults().set("appendfsync", "sometimes").is_err());
    }

    #[test]
    fn pubsub_options_keep_redis_semantics_from_any_source() {
        let c = Config::defaults();
        // Groups merge into the current value; each config-file line names one class.
        let file = "client-output-buffer-limit pubsub 1mb 512kb 10\n\
                    client-output-buffer-limit normal 1 2 3\n";
        c.load_text(file).unwrap();
        let v = c.get("client-output-buffer-limit");
        assert_eq!(
            v,
            "normal 1 2 3 slave 268435456 67108864 60 pubsub 1048576 524288 10"
        );
        let rewritten = c.rewrite_text("");
        assert!(
            rewritten.contains(&format!("client-output-buffer-limit {v}\n")),
            "{rewritten}"
        );
        let again = Config::defaults();
        again.load_text(&rewritten).unwrap();
        assert_eq!(again.get("client-output-buffer-limit"), v);
        assert!(c.set("client-output-buffer-limit", "pubsub 1 2").is_err());
        assert_eq!(c.get("client-output-buffer-limit"), v);
        // "An" shows as "A" but keeps `n` in effect, as in Redis.
        c.set("notify-keyspace-events", "KEAn").unwrap();
        assert_eq!(c.get("notify-keyspace-events"), "AKE");
        let f = c.hot.notify_keyspace_events.load(Ordering::Relaxed);
        assert_ne!(f & crate::pubsub::notify::NEW, 0);
        assert!(c.set("notify-keyspace-events", "KEq").is_err());
        assert_eq!(c.get("notify-keyspace-events"), "AKE");
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1kb"), Some(1024));
        assert_eq!(parse_memory("2GB"), Some(2 << 30));
        assert_eq!(parse_memory("5m"), Some(5_000_000));
        assert_eq!(parse_memory("x"), None);
    }
}
