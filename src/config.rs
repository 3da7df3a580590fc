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
//! Every Redis 7.0 directive is known, so an existing redis.conf loads: those Eddy has no use
//! for are inert ([`Def::inert`]: checked and answered as Redis does, their non-default values
//! logged at start-up and on CONFIG SET), and the two whose absence would change what clients
//! get (cluster mode, TLS) stop the start instead (`check_unsupported`).
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
    /// A Redis directive Eddy accepts (so an existing redis.conf loads, and CONFIG GET/SET
    /// answer as Redis's) but that changes nothing here; see [`INERT_NOTE`].
    pub inert: bool,
}

impl Def {
    /// An inert option set to something other than Redis's default (logged: it has no effect).
    fn inert_changed(&self, value: &str) -> bool {
        self.inert && value != self.default
    }
}

const fn def(name: &'static str, kind: Kind, default: &'static str, runtime: bool) -> Def {
    Def {
        name,
        alias: None,
        kind,
        default,
        runtime,
        inert: false,
    }
}

/// [`def`] under an old name too (Redis's `slave-*` aliases).
const fn aliased(
    name: &'static str,
    alias: &'static str,
    kind: Kind,
    default: &'static str,
    runtime: bool,
) -> Def {
    Def {
        alias: Some(alias),
        ..def(name, kind, default, runtime)
    }
}

/// What the log says of an inert option set to something other than its default.
pub const INERT_NOTE: &str =
    "accepted for compatibility with redis.conf, but this option has no effect in Eddy";

/// A Redis directive accepted with no effect (`Def::inert`), settable at run time as in Redis.
const fn inert(name: &'static str, kind: Kind, default: &'static str) -> Def {
    Def {
        name,
        alias: None,
        kind,
        default,
        runtime: true,
        inert: true,
    }
}

/// [`inert`], but fixed at start-up (Redis's immutable configs).
const fn inert_fixed(name: &'static str, kind: Kind, default: &'static str) -> Def {
    Def {
        runtime: false,
        ..inert(name, kind, default)
    }
}

/// [`inert`] under an old name too (Redis's `slave-*` aliases).
const fn inert_aliased(
    name: &'static str,
    alias: &'static str,
    kind: Kind,
    default: &'static str,
) -> Def {
    Def {
        alias: Some(alias),
        ..inert(name, kind, default)
    }
}

const U16: Kind = Kind::Int { min: 0, max: 65535 };
const NONNEG_I32: Kind = Kind::Int {
    min: 0,
    max: i32::MAX as i64,
};
const NONNEG: Kind = Kind::Int {
    min: 0,
    max: i64::MAX,
};

/// The registry. Order is the order `CONFIG REWRITE` appends new lines in.
pub static DEFS: &[Def] = &[
    def("port", U16, "6379", false),
    def("bind", Kind::Str, "127.0.0.1", false),
    // RESP on a Unix socket too (its path; empty: none), with this octal mode (0: the umask's).
    def("unixsocket", Kind::Str, "", false),
    def("unixsocketperm", Kind::Str, "0", false),
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
    // Settable so that CONFIG SET to its current value succeeds, as in Redis; a change is
    // refused (`fixed_while_running`).
    def("appendonly", Kind::Bool, "yes", true),
    def(
        "appendfsync",
        Kind::Enum(&["always", "everysec", "no"]),
        "everysec",
        true,
    ),
    def("save", Kind::Save, "3600 1 300 100 60 10000", true),
    def("maxmemory", Kind::Memory, "0", true),
    // Where a stream's nodes end, which `~` trimming follows (`keyspace::stream`).
    def("stream-node-max-bytes", Kind::Memory, "4096", true),
    def("stream-node-max-entries", NONNEG, "100", true),
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
    // As Redis: `daemonize yes` detaches (`main.rs`), and the pid is written to `pidfile`, which
    // a daemon without one writes to /var/run/redis.pid.
    def("daemonize", Kind::Bool, "no", false),
    def("pidfile", Kind::Str, "", false),
    // Acted on at start (`server::supervise`).
    def(
        "supervised",
        Kind::Enum(&["upstart", "systemd", "auto", "no"]),
        "no",
        false,
    ),
    // Redis 7's protected mode: with no password for the default user, only loopback
    // connections are served (`server::conn::serve`).
    def("protected-mode", Kind::Bool, "yes", true),
    // DEBUG: `no` refuses it, `local` serves it on loopback connections only. Eddy's default is
    // `yes` (Redis's is `no`): DEBUG DIGEST is how Eddy and its replicas are compared.
    def(
        "enable-debug-command",
        Kind::Enum(&["no", "yes", "local"]),
        "yes",
        false,
    ),
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
    def("shutdown-on-sigterm", Kind::ShutdownFlags, "default", true),
    def("shutdown-on-sigint", Kind::ShutdownFlags, "default", true),
    def(
        "shutdown-timeout",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "10",
        true,
    ),
    def(
        "repl-timeout",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        "60",
        true,
    ),
    aliased(
        "repl-ping-replica-period",
        "repl-ping-slave-period",
        Kind::Int {
            min: 1,
            max: i32::MAX as i64,
        },
        "10",
        true,
    ),
    // Following a Redis primary (`server::follow`). `replicaof` is read at start-up; REPLICAOF
    // changes the primary at run time.
    aliased("replicaof", "slaveof", Kind::Str, "", false),
    def("masterauth", Kind::Str, "", true),
    def("masteruser", Kind::Str, "", true),
    // What a follower tells its primary and Sentinel (INFO replication's `slave_priority`,
    // `replica_announced`; the handshake's `REPLCONF listening-port|ip-address`).
    aliased(
        "replica-priority",
        "slave-priority",
        Kind::Int {
            min: 0,
            max: i32::MAX as i64,
        },
        "100",
        true,
    ),
    def("replica-announced", Kind::Bool, "yes", true),
    // `no`: while the link to the primary is down, commands without the `stale` flag get
    // Redis's MASTERDOWN error (`server::replication::write_refused`).
    aliased(
        "replica-serve-stale-data",
        "slave-serve-stale-data",
        Kind::Bool,
        "yes",
        true,
    ),
    aliased(
        "replica-announce-ip",
        "slave-announce-ip",
        Kind::Str,
        "",
        true,
    ),
    aliased(
        "replica-announce-port",
        "slave-announce-port",
        Kind::Int { min: 0, max: 65535 },
        "0",
        true,
    ),
    aliased(
        "replica-read-only",
        "slave-read-only",
        Kind::Bool,
        "yes",
        true,
    ),
    aliased(
        "min-replicas-to-write",
        "min-slaves-to-write",
        NONNEG,
        "0",
        true,
    ),
    aliased(
        "min-replicas-max-lag",
        "min-slaves-max-lag",
        NONNEG,
        "10",
        true,
    ),
    // Compact collection encodings (hashes and sets).
    aliased(
        "hash-max-listpack-entries",
        "hash-max-ziplist-entries",
        NONNEG,
        "128",
        true,
    ),
    aliased(
        "hash-max-listpack-value",
        "hash-max-ziplist-value",
        Kind::Memory,
        "64",
        true,
    ),
    def("set-max-intset-entries", NONNEG, "512", true),
    def("set-max-listpack-entries", NONNEG, "128", true),
    def("set-max-listpack-value", Kind::Memory, "64", true),
    // HyperLogLog: the longest sparse representation before promotion to dense.
    def("hll-sparse-max-bytes", Kind::Memory, "3000", true),
    // Sorted sets' compact encoding.
    aliased(
        "zset-max-listpack-entries",
        "zset-max-ziplist-entries",
        NONNEG,
        "128",
        true,
    ),
    aliased(
        "zset-max-listpack-value",
        "zset-max-ziplist-value",
        Kind::Memory,
        "64",
        true,
    ),
    // Lists: the bound of one packed node (negative: -1..-5 = 4..64 KiB; positive: entries).
    aliased(
        "list-max-listpack-size",
        "list-max-ziplist-size",
        Kind::Int {
            min: i32::MIN as i64,
            max: i32::MAX as i64,
        },
        "-2",
        true,
    ),
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
    aliased(
        "busy-reply-threshold",
        "lua-time-limit",
        NONNEG,
        "5000",
        true,
    ),
    // Redis directives Eddy accepts with no effect (`Def::inert`), with Redis 7.0's defaults
    // and checks, so that an existing redis.conf loads and CONFIG answers as Redis's. They tune
    // what Eddy does differently or not at all: the AOF and RDB files (the change log and its
    // snapshots replace them), memory allocation and defragmentation, lazy freeing, encodings,
    // diskless replication, process titles, syslog and CPU affinity. A non-default value is
    // logged at start-up ([`Config::inert_settings`]). Cluster mode and TLS, which change what a
    // client gets, are refused instead ([`Config::check_unsupported`]).
    inert(
        "acl-pubsub-default",
        Kind::Enum(&["allchannels", "resetchannels"]),
        "resetchannels",
    ),
    inert("acllog-max-len", NONNEG, "128"),
    inert("activedefrag", Kind::Bool, "no"),
    inert(
        "active-defrag-cycle-max",
        Kind::Int { min: 1, max: 99 },
        "25",
    ),
    inert(
        "active-defrag-cycle-min",
        Kind::Int { min: 1, max: 99 },
        "1",
    ),
    inert("active-defrag-ignore-bytes", Kind::Memory, "104857600"),
    inert(
        "active-defrag-max-scan-fields",
        Kind::Int {
            min: 1,
            max: i64::MAX,
        },
        "1000",
    ),
    inert(
        "active-defrag-threshold-lower",
        Kind::Int { min: 0, max: 1000 },
        "10",
    ),
    inert(
        "active-defrag-threshold-upper",
        Kind::Int { min: 0, max: 1000 },
        "100",
    ),
    inert("active-expire-effort", Kind::Int { min: 1, max: 10 }, "1"),
    inert("activerehashing", Kind::Bool, "yes"),
    inert_fixed("always-show-logo", Kind::Bool, "no"),
    inert("aof-disable-auto-gc", Kind::Bool, "no"),
    inert("aof-load-truncated", Kind::Bool, "yes"),
    inert("aof-rewrite-incremental-fsync", Kind::Bool, "yes"),
    inert("aof-timestamp-enabled", Kind::Bool, "no"),
    inert("aof-use-rdb-preamble", Kind::Bool, "yes"),
    inert_fixed("aof_rewrite_cpulist", Kind::Str, ""),
    inert_fixed("appenddirname", Kind::Str, "appendonlydir"),
    inert_fixed("appendfilename", Kind::Str, "appendonly.aof"),
    inert("auto-aof-rewrite-min-size", Kind::Memory, "67108864"),
    inert("auto-aof-rewrite-percentage", NONNEG_I32, "100"),
    inert_fixed("bgsave_cpulist", Kind::Str, ""),
    inert("bind-source-addr", Kind::Str, ""),
    inert_fixed("bio_cpulist", Kind::Str, ""),
    inert("cluster-allow-pubsubshard-when-down", Kind::Bool, "yes"),
    inert("cluster-allow-reads-when-down", Kind::Bool, "no"),
    inert("cluster-allow-replica-migration", Kind::Bool, "yes"),
    inert("cluster-announce-bus-port", U16, "0"),
    inert("cluster-announce-hostname", Kind::Str, ""),
    inert("cluster-announce-ip", Kind::Str, ""),
    inert("cluster-announce-port", U16, "0"),
    inert("cluster-announce-tls-port", U16, "0"),
    inert_fixed("cluster-config-file", Kind::Str, "nodes.conf"),
    // Refused when `yes` (check_unsupported).
    inert_fixed("cluster-enabled", Kind::Bool, "no"),
    inert("cluster-link-sendbuf-limit", Kind::Memory, "0"),
    inert("cluster-migration-barrier", NONNEG_I32, "1"),
    inert("cluster-node-timeout", NONNEG, "15000"),
    inert_fixed("cluster-port", U16, "0"),
    inert(
        "cluster-preferred-endpoint-type",
        Kind::Enum(&["ip", "hostname", "unknown-endpoint"]),
        "ip",
    ),
    inert_aliased(
        "cluster-replica-no-failover",
        "cluster-slave-no-failover",
        Kind::Bool,
        "no",
    ),
    inert_aliased(
        "cluster-replica-validity-factor",
        "cluster-slave-validity-factor",
        NONNEG_I32,
        "10",
    ),
    inert("cluster-require-full-coverage", Kind::Bool, "yes"),
    inert("crash-log-enabled", Kind::Bool, "yes"),
    inert("crash-memcheck-enabled", Kind::Bool, "yes"),
    inert_fixed("dbfilename", Kind::Str, "dump.rdb"),
    inert_fixed("disable-thp", Kind::Bool, "yes"),
    inert("dynamic-hz", Kind::Bool, "yes"),
    inert_fixed(
        "enable-protected-configs",
        Kind::Enum(&["no", "yes", "local"]),
        "no",
    ),
    inert("ignore-warnings", Kind::Str, ""),
    inert_fixed("io-threads-do-reads", Kind::Bool, "no"),
    inert("jemalloc-bg-thread", Kind::Bool, "yes"),
    inert("lazyfree-lazy-eviction", Kind::Bool, "no"),
    inert("lazyfree-lazy-expire", Kind::Bool, "no"),
    inert("lazyfree-lazy-server-del", Kind::Bool, "no"),
    inert("lazyfree-lazy-user-del", Kind::Bool, "no"),
    inert("lazyfree-lazy-user-flush", Kind::Bool, "no"),
    inert("list-compress-depth", NONNEG_I32, "0"),
    inert("maxmemory-clients", Kind::Str, "0"),
    inert(
        "maxmemory-eviction-tenacity",
        Kind::Int { min: 0, max: 100 },
        "10",
    ),
    inert("no-appendfsync-on-rewrite", Kind::Bool, "no"),
    inert(
        "oom-score-adj",
        Kind::Enum(&["no", "yes", "relative", "absolute"]),
        "no",
    ),
    inert("oom-score-adj-values", Kind::Str, "0 200 800"),
    inert(
        "proc-title-template",
        Kind::Str,
        "{title} {listen-addr} {server-mode}",
    ),
    inert(
        "propagation-error-behavior",
        Kind::Enum(&["ignore", "panic", "panic-on-replicas"]),
        "ignore",
    ),
    inert("rdb-del-sync-files", Kind::Bool, "no"),
    inert("rdb-save-incremental-fsync", Kind::Bool, "yes"),
    inert_fixed("rdbchecksum", Kind::Bool, "yes"),
    inert("rdbcompression", Kind::Bool, "yes"),
    inert("repl-backlog-size", Kind::Memory, "1048576"),
    inert("repl-backlog-ttl", NONNEG, "3600"),
    inert("repl-disable-tcp-nodelay", Kind::Bool, "no"),
    inert(
        "repl-diskless-load",
        Kind::Enum(&["disabled", "on-empty-db", "swapdb"]),
        "disabled",
    ),
    inert("repl-diskless-sync", Kind::Bool, "yes"),
    inert("repl-diskless-sync-delay", NONNEG_I32, "5"),
    inert("repl-diskless-sync-max-replicas", NONNEG_I32, "0"),
    inert("replica-ignore-disk-write-errors", Kind::Bool, "no"),
    inert_aliased(
        "replica-ignore-maxmemory",
        "slave-ignore-maxmemory",
        Kind::Bool,
        "yes",
    ),
    inert_aliased("replica-lazy-flush", "slave-lazy-flush", Kind::Bool, "no"),
    inert(
        "sanitize-dump-payload",
        Kind::Enum(&["no", "yes", "clients"]),
        "no",
    ),
    inert_fixed("server_cpulist", Kind::Str, ""),
    inert_fixed("set-proc-title", Kind::Bool, "yes"),
    inert_fixed(
        "socket-mark-id",
        Kind::Int {
            min: 0,
            max: u32::MAX as i64,
        },
        "0",
    ),
    inert("stop-writes-on-bgsave-error", Kind::Bool, "yes"),
    inert_fixed("syslog-enabled", Kind::Bool, "no"),
    inert_fixed(
        "syslog-facility",
        Kind::Enum(&[
            "user", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
        ]),
        "local0",
    ),
    inert_fixed("syslog-ident", Kind::Str, "redis"),
    inert(
        "tls-auth-clients",
        Kind::Enum(&["no", "yes", "optional"]),
        "yes",
    ),
    inert("tls-ca-cert-dir", Kind::Str, ""),
    inert("tls-ca-cert-file", Kind::Str, ""),
    inert("tls-cert-file", Kind::Str, ""),
    inert("tls-ciphers", Kind::Str, ""),
    inert("tls-ciphersuites", Kind::Str, ""),
    inert("tls-client-cert-file", Kind::Str, ""),
    inert("tls-client-key-file", Kind::Str, ""),
    inert("tls-client-key-file-pass", Kind::Str, ""),
    inert("tls-cluster", Kind::Bool, "no"),
    inert("tls-dh-params-file", Kind::Str, ""),
    inert("tls-key-file", Kind::Str, ""),
    inert("tls-key-file-pass", Kind::Str, ""),
    // Refused when not 0 (check_unsupported).
    inert_fixed("tls-port", U16, "0"),
    inert("tls-prefer-server-ciphers", Kind::Bool, "no"),
    inert("tls-protocols", Kind::Str, ""),
    inert("tls-replication", Kind::Bool, "no"),
    inert("tls-session-cache-size", NONNEG_I32, "20480"),
    inert("tls-session-cache-timeout", NONNEG_I32, "300"),
    inert("tls-session-caching", Kind::Bool, "yes"),
];

/// Why an option Redis changes at run time keeps its start-up value in Eddy (None: it changes).
fn fixed_while_running(name: &str) -> Option<&'static str> {
    // Redis starts or stops its AOF; Eddy's change log is also its replication stream and the
    // feed readers resume from, so it is on or off for a whole run.
    (name == "appendonly")
        .then_some("the change log is switched on or off only at start-up (--appendonly)")
}

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
    pub stream_node_max_bytes: AtomicU64,
    pub stream_node_max_entries: AtomicU64,
    pub hll_sparse_max_bytes: AtomicU64,
    /// Read by every script run.
    pub busy_reply_threshold: AtomicU64,
    /// Read after every command (`commands::slowlog`).
    pub slowlog_log_slower_than: std::sync::atomic::AtomicI64,
    pub slowlog_max_len: AtomicU64,
    /// Read after every command (`commands::latency`): whether to count its duration, and
    /// `latency-monitor-threshold` in nanoseconds (`u64::MAX` when off).
    pub latency_tracking: AtomicBool,
    /// Read when a connection is accepted (`server::conn`).
    pub protected_mode: AtomicBool,
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
    pub replica_serve_stale_data: AtomicBool,
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
        c.check_unsupported()?;
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

    /// Redis settings that would change what clients get and that Eddy does not provide
    /// (cluster mode, TLS): the start stops with an error rather than run without them.
    fn check_unsupported(&self) -> Result<(), String> {
        if self.get("cluster-enabled") == "yes" {
            return Err("cluster-enabled yes: Eddy has no cluster mode".into());
        }
        if self.get("tls-port") != "0" {
            return Err("tls-port: Eddy does not serve TLS (put a TLS terminator in front)".into());
        }
        Ok(())
    }

    /// The inert options (`Def::inert`) set to something other than Redis's default, for the
    /// start-up log.
    pub fn inert_settings(&self) -> Vec<(&'static str, String)> {
        let vals = self.values.read();
        DEFS.iter()
            .zip(vals.iter())
            .filter(|(d, v)| d.inert_changed(v))
            .map(|(d, v)| (d.name, v.clone()))
            .collect()
    }

    /// Sets several options at once: all are validated before any is applied (CONFIG SET).
    pub fn set_many(&self, pairs: &[(usize, String)]) -> Result<(), (usize, String)> {
        let mut canon = Vec::with_capacity(pairs.len());
        for (i, v) in pairs {
            let cur = self.get_index(*i);
            let v = canonical_over(&DEFS[*i], &cur, v).map_err(|e| (*i, e))?;
            if v != cur {
                if let Some(why) = fixed_while_running(DEFS[*i].name) {
                    return Err((*i, why.into()));
                }
            }
            canon.push((*i, v));
        }
        for (i, v) in &canon {
            if DEFS[*i].inert_changed(v) {
                tracing::warn!(option = DEFS[*i].name, value = %v, "{INERT_NOTE}");
            }
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
            (&h.stream_node_max_bytes, "stream-node-max-bytes"),
            (&h.stream_node_max_entries, "stream-node-max-entries"),
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
        h.protected_mode.store(
            find("protected-mode").is_some_and(|i| v[i] == "yes"),
            Ordering::Relaxed,
        );
        h.replica_read_only.store(
            find("replica-read-only").is_some_and(|i| v[i] == "yes"),
            Ordering::Relaxed,
        );
        h.replica_serve_stale_data.store(
            find("replica-serve-stale-data").is_some_and(|i| v[i] == "yes"),
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
