//! Server commands: INFO, CONFIG, TIME, LASTSAVE, SHUTDOWN, DEBUG, MEMORY, MODULE, LOLWUT.
//!
//! INFO uses Redis's section and field names so monitoring tools parse it unchanged; fields that
//! describe machinery Eddy does not have (RDB child processes, replication backlog) report the
//! idle values Redis reports when that machinery is idle.

use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::args::{float, int, is};
use super::connection::REDIS_VERSION;
use super::{cmd, container, flag::*, table, CommandSpec, Ctx};
use crate::config::{self, DEFS};
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::digest;
use crate::protocol::resp::Args;
use crate::server::session::Action;
use crate::util::glob::glob_match;

const SV: &[&str] = &["server"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("info", -1, LOADING | STALE, (0, 0, 0), &["dangerous", "server"], "server", info,
        "Returns information and statistics about the server.", "[section [section ...]]", "1.0.0", "O(1)"),
    cmd!("time", 1, LOADING | STALE | FAST, (0, 0, 0), &["fast", "server"], "server", time,
        "Returns the server time.", "", "2.6.0", "O(1)"),
    cmd!("save", 1, ADMIN | NOSCRIPT | NO_MULTI | EXCLUSIVE, (0, 0, 0), SV, "server", save,
        "Synchronously saves the database(s) to disk.", "", "1.0.0", "O(N) where N is the total number of keys in all databases"),
    cmd!("bgsave", -1, ADMIN | NOSCRIPT | EXCLUSIVE, (0, 0, 0), SV, "server", bgsave,
        "Asynchronously saves the database(s) to disk.", "[SCHEDULE]", "1.0.0", "O(1)"),
    cmd!("bgrewriteaof", 1, ADMIN | NOSCRIPT | EXCLUSIVE, (0, 0, 0), SV, "server", bgrewriteaof,
        "Asynchronously rewrites the append-only file to disk.", "", "1.0.0", "O(1)"),
    cmd!("lastsave", 1, LOADING | STALE | FAST, (0, 0, 0), &["fast", "dangerous", "admin"], "server", lastsave,
        "Returns the Unix timestamp of the last successful save to disk.", "", "1.0.0", "O(1)"),
    cmd!("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY, (0, 0, 0), SV, "server", shutdown,
        "Synchronously saves the database(s) to disk and shuts down the Redis server.", "[NOSAVE | SAVE] [NOW] [FORCE] [ABORT]", "1.0.0", "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)"),
    cmd!("debug", -2, ADMIN | NOSCRIPT | LOADING | STALE | EXCLUSIVE, (0, 0, 0), SV, "server", debug,
        "A container for debugging commands.", "subcommand [argument ...]", "1.0.0", "Depends on subcommand."),
    CommandSpec {
        name: "config",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: &["slow"],
        group: "server",
        summary: "A container for server configuration commands.",
        syntax: "",
        since: "2.0.0",
        complexity: "Depends on subcommand.",
        handler: container,
        subcommands: &[
            cmd!("get", -3, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), SV, "server", config_get,
                "Returns the effective values of configuration parameters.", "parameter [parameter ...]", "2.0.0", "O(N) when N is the number of configuration parameters provided"),
            cmd!("set", -4, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), SV, "server", config_set,
                "Sets configuration parameters in-flight.", "parameter value [parameter value ...]", "2.0.0", "O(N) when N is the number of configuration parameters provided"),
            cmd!("resetstat", 2, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), SV, "server", config_resetstat,
                "Resets the server's statistics.", "", "2.0.0", "O(1)"),
            cmd!("rewrite", 2, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), SV, "server", config_rewrite,
                "Persists the effective configuration to file.", "", "2.8.0", "O(1)"),
            cmd!("help", 2, LOADING | STALE, (0, 0, 0), SV, "server", config_help,
                "Returns helpful text about the different subcommands.", "", "5.0.0", "O(1)"),
        ],
    },
    CommandSpec {
        name: "memory",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: &["slow"],
        group: "server",
        summary: "A container for memory diagnostics commands.",
        syntax: "",
        since: "4.0.0",
        complexity: "Depends on subcommand.",
        handler: container,
        subcommands: &[
            cmd!("doctor", 2, 0, (0, 0, 0), SV, "server", memory_doctor,
                "Outputs a memory problems report.", "", "4.0.0", "O(1)"),
            cmd!("malloc-stats", 2, 0, (0, 0, 0), SV, "server", memory_malloc_stats,
                "Returns the allocator statistics.", "", "4.0.0", "Depends on how much memory is allocated, could be slow"),
            cmd!("purge", 2, 0, (0, 0, 0), SV, "server", memory_purge,
                "Asks the allocator to release memory.", "", "4.0.0", "Depends on how much memory is allocated, could be slow"),
            cmd!("stats", 2, 0, (0, 0, 0), SV, "server", memory_stats,
                "Returns details about memory usage.", "", "4.0.0", "O(1)"),
            cmd!("usage", -3, READONLY, (2, 2, 1), &["read"], "server", memory_usage,
                "Estimates the memory usage of a key.", "key [SAMPLES count]", "4.0.0", "O(N) where N is the number of samples."),
            cmd!("help", 2, LOADING | STALE, (0, 0, 0), SV, "server", memory_help,
                "Returns helpful text about the different subcommands.", "", "4.0.0", "O(1)"),
        ],
    },
    CommandSpec {
        name: "module",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: &["slow"],
        group: "server",
        summary: "A container for module commands.",
        syntax: "",
        since: "4.0.0",
        complexity: "Depends on subcommand.",
        handler: container,
        subcommands: &[
            cmd!("list", 2, ADMIN | NOSCRIPT, (0, 0, 0), SV, "server", module_list,
                "Returns all loaded modules.", "", "4.0.0", "O(N) where N is the number of loaded modules."),
            cmd!("load", -3, ADMIN | NOSCRIPT, (0, 0, 0), SV, "server", module_refused,
                "Loads a module.", "path [arg [arg ...]]", "4.0.0", "O(1)"),
            cmd!("loadex", -3, ADMIN | NOSCRIPT, (0, 0, 0), SV, "server", module_refused,
                "Loads a module using extended parameters.",
                "path [CONFIG name value [CONFIG name value ...]] [ARGS args [args ...]]", "7.0.0", "O(1)"),
            cmd!("unload", 3, ADMIN | NOSCRIPT, (0, 0, 0), SV, "server", module_refused,
                "Unloads a module.", "name", "4.0.0", "O(1)"),
            cmd!("help", 2, LOADING | STALE, (0, 0, 0), SV, "server", module_help,
                "Returns helpful text about the different subcommands.", "", "5.0.0", "O(1)"),
        ],
    },
    cmd!("lolwut", -1, READONLY | FAST, (0, 0, 0), &["read", "fast"], "server", lolwut,
        "Displays computer art and the Redis version", "[VERSION version]", "5.0.0", "O(1)"),
];

/// MODULE: Eddy loads no modules (a Redis module is a C library built against Redis's own
/// internals). LIST answers as a Redis without modules does, so clients that probe for modules
/// carry on; LOAD, LOADEX and UNLOAD are refused with the words Redis 7 uses while its
/// `enable-module-command` is `no`, its default and Eddy's only value.
fn module_list(ctx: &mut Ctx, _a: Args) -> CmdResult {
    ctx.out.array(0);
    Ok(())
}

fn module_refused(_ctx: &mut Ctx, _a: Args) -> CmdResult {
    Err(CmdError::from(error::MODULE_NOT_ALLOWED))
}

fn module_help(ctx: &mut Ctx, _a: Args) -> CmdResult {
    super::subcommand_help(
        ctx,
        "MODULE",
        &[
            "LIST",
            "    Return a list of loaded modules.",
            "LOAD <path> [<arg> ...]",
            "    Load a module library from <path>, passing to it any optional arguments.",
            "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
            "    Load a module library from <path>, while passing it module configurations and optional arguments.",
            "UNLOAD <name>",
            "    Unload a module.",
        ],
    );
    Ok(())
}

/// LOLWUT: the version line Redis 7 answers with, as a verbatim string. `VERSION n` must be an
/// integer, as in Redis; Redis then draws art for versions 5 and 6 (random each time), which
/// Eddy leaves out, answering every version with the line.
fn lolwut(ctx: &mut Ctx, a: Args) -> CmdResult {
    if a.len() >= 3 && is(a.get(1), "version") {
        int(a.get(2))?;
    }
    ctx.out.verbatim(&format!("Redis ver. {REDIS_VERSION}\n"));
    Ok(())
}

/// Redis's MEMORY DOCTOR calls an instance below this "empty" and runs no checks.
const DOCTOR_EMPTY: u64 = 5 << 20;

fn memory_doctor(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let (used, _) = used_memory(rss_bytes());
    ctx.out.verbatim(if used < DOCTOR_EMPTY {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
    });
    Ok(())
}

fn memory_malloc_stats(ctx: &mut Ctx, _a: Args) -> CmdResult {
    // Redis's answer when built without jemalloc, as Eddy uses the system allocator.
    ctx.out
        .verbatim("Stats not supported for the current allocator");
    Ok(())
}

fn memory_purge(ctx: &mut Ctx, _a: Args) -> CmdResult {
    crate::util::alloc::purge();
    ctx.out.ok();
    Ok(())
}

/// Bytes a key's slot costs in a database beyond the key and value themselves: the entry
/// (key handle and value handle) and its 4-byte index plus control byte in the hash table.
const ENTRY_BYTES: usize =
    std::mem::size_of::<(crate::keyspace::value::Key, crate::keyspace::value::Value)>() + 5;
/// An expiry entry: key handle, deadline, index and control byte.
const EXPIRY_BYTES: usize = std::mem::size_of::<crate::keyspace::value::Key>() + 8 + 5;

/// MEMORY STATS with Redis's field names. The overheads are Eddy's own estimates (entries of
/// the database tables); the allocator-internal fields of jemalloc are left out, as Redis does
/// on other allocators.
fn memory_stats(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let Memory {
        rss,
        used,
        peak,
        startup,
        overhead,
        dataset,
        lua,
        dbs,
    } = Memory::now(ctx.srv);
    let keys: usize = dbs.iter().map(|(_, (k, _))| k).sum();
    let out = &mut *ctx.out;
    out.map(18 + dbs.len());
    let int = |out: &mut crate::protocol::resp::Out, name: &str, v: u64| {
        out.bulk_str(name);
        out.int(v as i64);
    };
    int(out, "peak.allocated", peak);
    int(out, "total.allocated", used);
    int(out, "startup.allocated", startup);
    int(out, "replication.backlog", 0);
    int(out, "clients.slaves", 0);
    int(out, "clients.normal", 0);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", 0);
    int(out, "lua.caches", lua);
    int(out, "functions.caches", 0);
    for (i, (k, e)) in &dbs {
        out.bulk_str(&format!("db.{i}"));
        out.map(3);
        int(out, "overhead.hashtable.main", (k * ENTRY_BYTES) as u64);
        int(out, "overhead.hashtable.expires", (e * EXPIRY_BYTES) as u64);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", overhead);
    int(out, "keys.count", keys as u64);
    int(
        out,
        "keys.bytes-per-key",
        if keys == 0 {
            0
        } else {
            (used - startup) / keys as u64
        },
    );
    int(out, "dataset.bytes", dataset);
    out.bulk_str("dataset.percentage");
    out.double(100.0 * dataset as f64 / used.max(1) as f64);
    out.bulk_str("peak.percentage");
    out.double(100.0 * used as f64 / peak.max(1) as f64);
    out.bulk_str("fragmentation");
    out.double(rss as f64 / used.max(1) as f64);
    int(out, "fragmentation.bytes", rss.saturating_sub(used));
    Ok(())
}

/// The memory figures MEMORY STATS and INFO's memory section share.
struct Memory {
    rss: u64,
    used: u64,
    peak: u64,
    /// Live bytes once the server was set up (Redis's `used_memory_startup`).
    startup: u64,
    /// Start-up memory, the database tables' estimated entries, and the Lua heap.
    overhead: u64,
    /// What is beyond the overhead: the keys' and values' own bytes.
    dataset: u64,
    lua: u64,
    /// Non-empty databases: (index, (keys, keys with a TTL)).
    dbs: Vec<(usize, (usize, usize))>,
}

impl Memory {
    fn now(srv: &crate::server::Server) -> Memory {
        let rss = rss_bytes();
        let (used, peak) = used_memory(rss);
        let dbs: Vec<(usize, (usize, usize))> = srv
            .keyspace
            .db_sizes()
            .into_iter()
            .enumerate()
            .filter(|(_, (k, _))| *k > 0)
            .collect();
        let tables: usize = dbs
            .iter()
            .map(|(_, (k, e))| k * ENTRY_BYTES + e * EXPIRY_BYTES)
            .sum();
        let lua = srv.scripts.stats.lua_bytes.load(Ordering::Relaxed);
        // Redis counts start-up memory as overhead, and divides only what is beyond it by the
        // keys.
        let startup = crate::util::alloc::startup().min(used);
        let overhead = tables as u64 + lua + startup;
        Memory {
            rss,
            used,
            peak,
            startup,
            overhead,
            dataset: used.saturating_sub(overhead),
            lua,
            dbs,
        }
    }
}

fn memory_usage(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(2);
    let mut c = super::args::Cursor::new(a, 3);
    while c.has_more() {
        if !(c.remaining() >= 2 && c.eat("samples") && c.i64()? >= 0) {
            return Err(crate::error::SYNTAX.into());
        }
    }
    // Eddy measures the whole value (its sizes are kept, not sampled), so SAMPLES changes
    // nothing.
    let mut l = ctx.lock1(key);
    let size = l.peek(key).map(|v| v.heap_size());
    drop(l);
    match size {
        Some(heap) => {
            let k = crate::keyspace::value::Key::from_slice(key);
            let key_heap = if k.spilled() { k.capacity() } else { 0 };
            ctx.out.int((ENTRY_BYTES + key_heap + heap) as i64);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

fn memory_help(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let lines = [
        "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        "HELP",
        "    Prints this help.",
    ];
    super::help_reply(ctx, &lines);
    Ok(())
}

fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b < 1024.0 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", b / (1024.0 * 1024.0 * 1024.0))
    }
}

/// Resident set size of this process in bytes.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// INFO's `used_memory` and `used_memory_peak`: live bytes from the counting allocator, or,
/// without it (tests), the resident set size `rss`.
pub fn used_memory(rss: u64) -> (u64, u64) {
    match crate::util::alloc::used() {
        0 => (rss, rss),
        u => (u, crate::util::alloc::peak().max(u)),
    }
}

/// (user, system) CPU seconds of `who`: `RUSAGE_SELF` (the process) or `RUSAGE_THREAD` (the
/// calling thread), from getrusage(2) as Redis reads them.
fn cpu_secs(who: libc::c_int) -> (f64, f64) {
    // SAFETY: getrusage only fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return (0.0, 0.0);
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(ru.ru_utime), secs(ru.ru_stime))
}

/// The machine's memory (`MemTotal` in /proc/meminfo), in bytes.
fn total_system_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("MemTotal:"))?;
            line.split_whitespace().nth(1)?.parse::<u64>().ok()
        })
        .map_or(0, |kb| kb * 1024)
}

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
const ALL_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "commandstats",
    "errorstats",
    "latencystats",
    "cluster",
    "keyspace",
    "changes",
    "triggers",
    "bridge",
];

fn info(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut wanted: Vec<String> = a
        .iter()
        .skip(1)
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .collect();
    if wanted.is_empty() || wanted.iter().any(|w| w == "default") {
        wanted.extend(DEFAULT_SECTIONS.iter().map(|s| s.to_string()));
        wanted.push("changes".into());
        wanted.push("triggers".into());
        wanted.push("bridge".into());
    }
    if wanted.iter().any(|w| w == "all" || w == "everything") {
        wanted.extend(ALL_SECTIONS.iter().map(|s| s.to_string()));
    }
    let mut out = String::new();
    for sec in ALL_SECTIONS {
        if !wanted.iter().any(|w| w == sec) {
            continue;
        }
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        section(ctx, sec, &mut out);
    }
    ctx.out.verbatim(&out);
    Ok(())
}

fn section(ctx: &Ctx, name: &str, o: &mut String) {
    let srv = ctx.srv;
    let up = srv.started.elapsed().as_secs();
    let title = match name {
        "commandstats" => "Commandstats".to_string(),
        "errorstats" => "Errorstats".to_string(),
        "cpu" => "CPU".to_string(),
        n => {
            let mut c = n.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        }
    };
    let _ = write!(o, "# {title}\r\n");
    let mut kv = |k: &str, v: String| {
        let _ = write!(o, "{k}:{v}\r\n");
    };
    match name {
        "server" => {
            kv("redis_version", REDIS_VERSION.into());
            kv("eddy_version", env!("CARGO_PKG_VERSION").into());
            kv("redis_git_sha1", "00000000".into());
            kv("redis_git_dirty", "0".into());
            kv("redis_build_id", "0".into());
            kv("redis_mode", "standalone".into());
            kv(
                "os",
                format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            );
            kv("arch_bits", "64".into());
            kv("monotonic_clock", "POSIX clock_gettime".into());
            kv("multiplexing_api", "epoll".into());
            kv("atomicvar_api", "c11-builtin".into());
            // Not built with GCC.
            kv("gcc_version", "0.0.0".into());
            kv("process_id", std::process::id().to_string());
            kv(
                "process_supervised",
                crate::server::supervise::mode().into(),
            );
            kv("run_id", srv.run_id.clone());
            kv("tcp_port", srv.port.load(Ordering::Relaxed).to_string());
            kv("server_time_usec", crate::util::now_us().to_string());
            kv("uptime_in_seconds", up.to_string());
            kv("uptime_in_days", (up / 86400).to_string());
            kv("hz", srv.config.get("hz"));
            kv("configured_hz", srv.config.get("hz"));
            kv("lru_clock", crate::keyspace::value::clock().to_string());
            kv(
                "executable",
                std::env::current_exe()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            kv(
                "config_file",
                srv.config
                    .file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
            );
            kv("io_threads_active", "0".into());
        }
        "clients" => {
            kv("connected_clients", srv.clients.count().to_string());
            kv("cluster_connections", "0".into());
            kv("maxclients", srv.config.get("maxclients"));
            let (input, output) = srv.clients.largest_buffers();
            kv("client_recent_max_input_buffer", input.to_string());
            kv("client_recent_max_output_buffer", output.to_string());
            let blocked = srv.keyspace.blocked.len()
                + srv.pause.waiting.load(std::sync::atomic::Ordering::Relaxed);
            kv("blocked_clients", blocked.to_string());
            kv(
                "tracking_clients",
                srv.pubsub.tracking.counts().0.to_string(),
            );
            kv("clients_in_timeout_table", "0".into());
        }
        "memory" => {
            let m = Memory::now(srv);
            let max: u64 = srv.config.get("maxmemory").parse().unwrap_or(0);
            let pct = |part: u64, whole: u64| {
                format!("{:.2}%", 100.0 * part as f64 / whole.max(1) as f64)
            };
            let ratio = |a: u64, b: u64| format!("{:.2}", a as f64 / b.max(1) as f64);
            kv("used_memory", m.used.to_string());
            kv("used_memory_human", human(m.used));
            kv("used_memory_rss", m.rss.to_string());
            kv("used_memory_rss_human", human(m.rss));
            kv("used_memory_peak", m.peak.to_string());
            kv("used_memory_peak_human", human(m.peak));
            kv("used_memory_peak_perc", pct(m.used, m.peak));
            kv("used_memory_overhead", m.overhead.to_string());
            kv("used_memory_startup", m.startup.to_string());
            kv("used_memory_dataset", m.dataset.to_string());
            kv(
                "used_memory_dataset_perc",
                pct(m.dataset, m.used.saturating_sub(m.startup)),
            );
            // glibc's malloc keeps no separate "active" figure: what it has handed out is the
            // live count, and what it holds resident is the process's.
            kv("allocator_allocated", m.used.to_string());
            kv("allocator_active", m.used.to_string());
            kv("allocator_resident", m.rss.to_string());
            let total = total_system_memory();
            kv("total_system_memory", total.to_string());
            kv("total_system_memory_human", human(total));
            // One Lua state runs both EVAL scripts and functions; its heap is reported as the
            // eval VM's, and the bookkeeping Redis keeps outside Lua is inside it here.
            let lua = &srv.scripts.stats;
            kv("used_memory_lua", m.lua.to_string());
            kv("used_memory_vm_eval", m.lua.to_string());
            kv("used_memory_lua_human", human(m.lua));
            kv("used_memory_scripts_eval", "0".into());
            for (k, c) in [
                ("number_of_cached_scripts", &lua.scripts),
                ("number_of_functions", &lua.functions),
                ("number_of_libraries", &lua.libraries),
            ] {
                kv(k, c.load(Ordering::Relaxed).to_string());
            }
            kv("used_memory_vm_functions", "0".into());
            kv("used_memory_vm_total", m.lua.to_string());
            kv("used_memory_vm_total_human", human(m.lua));
            kv("used_memory_functions", "0".into());
            kv("used_memory_scripts", "0".into());
            kv("used_memory_scripts_human", "0B".into());
            kv("maxmemory", max.to_string());
            kv("maxmemory_human", human(max));
            kv("maxmemory_policy", srv.config.get("maxmemory-policy"));
            kv("allocator_frag_ratio", "1.00".into());
            kv("allocator_frag_bytes", "0".into());
            kv("allocator_rss_ratio", ratio(m.rss, m.used));
            kv(
                "allocator_rss_bytes",
                m.rss.saturating_sub(m.used).to_string(),
            );
            kv("rss_overhead_ratio", "1.00".into());
            kv("rss_overhead_bytes", "0".into());
            kv("mem_fragmentation_ratio", ratio(m.rss, m.used));
            kv(
                "mem_fragmentation_bytes",
                m.rss.saturating_sub(m.used).to_string(),
            );
            kv(
                "mem_not_counted_for_evict",
                crate::keyspace::evict::not_counted(srv).to_string(),
            );
            // Replicas stream from the change log, which has its own figure below; Eddy has no
            // AOF buffer or cluster links.
            for k in [
                "mem_replication_backlog",
                "mem_total_replication_buffers",
                "mem_clients_slaves",
                "mem_clients_normal",
                "mem_cluster_links",
                "mem_aof_buffer",
            ] {
                kv(k, "0".into());
            }
            kv("mem_allocator", "libc".into());
            kv("active_defrag_running", "0".into());
            kv("lazyfree_pending_objects", "0".into());
            kv("lazyfreed_objects", "0".into());
            kv("changes_memory_bytes", srv.log.memory_bytes().to_string());
        }
        "persistence" => {
            let p = &srv.persist;
            let bg = p.bgsave_in_progress.load(Ordering::Relaxed);
            let loading = srv.loading.load(Ordering::Relaxed);
            let ever = p.bgsave_started_ms.load(Ordering::Relaxed) != 0;
            kv("loading", (loading as u8).to_string());
            kv("async_loading", "0".into());
            if loading {
                let started = p.loading_started_ms.load(Ordering::Relaxed);
                kv("loading_start_time", (started / 1000).to_string());
                kv(
                    "loading_loaded_records",
                    p.loaded_records.load(Ordering::Relaxed).to_string(),
                );
            }
            // Snapshots are taken without fork(2): no copy-on-write to report.
            for k in [
                "current_cow_peak",
                "current_cow_size",
                "current_cow_size_age",
            ] {
                kv(k, "0".into());
            }
            kv("current_fork_perc", "0.00".into());
            kv("current_save_keys_processed", "0".into());
            kv("current_save_keys_total", "0".into());
            let since = srv
                .log
                .last_offset()
                .saturating_sub(p.snapshot_offset.load(Ordering::Relaxed));
            kv("rdb_changes_since_last_save", since.to_string());
            kv("rdb_bgsave_in_progress", (bg as u8).to_string());
            kv(
                "rdb_last_save_time",
                srv.lastsave.load(Ordering::Relaxed).to_string(),
            );
            let ok = !ever || p.last_bgsave_ok.load(Ordering::Relaxed);
            kv(
                "rdb_last_bgsave_status",
                if ok { "ok" } else { "err" }.into(),
            );
            let last = if ever {
                p.last_bgsave_secs.load(Ordering::Relaxed).to_string()
            } else {
                "-1".into()
            };
            kv("rdb_last_bgsave_time_sec", last);
            let cur = if bg {
                let t = crate::util::now_ms()
                    .saturating_sub(p.bgsave_started_ms.load(Ordering::Relaxed));
                (t / 1000).to_string()
            } else {
                "-1".into()
            };
            kv("rdb_current_bgsave_time_sec", cur);
            kv("rdb_saves", p.saves.load(Ordering::Relaxed).to_string());
            kv("rdb_last_cow_size", "0".into());
            kv("rdb_last_load_keys_expired", "0".into());
            kv("rdb_last_load_keys_loaded", "0".into());
            kv(
                "aof_enabled",
                (srv.config.get_bool("appendonly") as u8).to_string(),
            );
            kv("aof_rewrite_in_progress", "0".into());
            kv("aof_rewrite_scheduled", "0".into());
            kv("aof_last_rewrite_time_sec", "-1".into());
            kv("aof_current_rewrite_time_sec", "-1".into());
            kv("aof_last_bgrewrite_status", "ok".into());
            kv("aof_rewrites", "0".into());
            kv("aof_rewrites_consecutive_failures", "0".into());
            kv("aof_last_write_status", "ok".into());
            kv("aof_last_cow_size", "0".into());
            kv("module_fork_in_progress", "0".into());
            kv("module_fork_last_cow_size", "0".into());
        }
        "stats" => {
            let st = &srv.stats;
            let ks = srv.keyspace.stats();
            kv(
                "total_connections_received",
                st.connections_received.load(Ordering::Relaxed).to_string(),
            );
            kv(
                "total_commands_processed",
                st.commands_processed.load(Ordering::Relaxed).to_string(),
            );
            use crate::server::rates::Metric;
            let rates = &srv.rates;
            kv(
                "instantaneous_ops_per_sec",
                rates.get(Metric::Commands).to_string(),
            );
            for (k, c) in [
                ("total_net_input_bytes", &st.net_input_bytes),
                ("total_net_output_bytes", &st.net_output_bytes),
                ("total_net_repl_input_bytes", &st.net_repl_input_bytes),
                ("total_net_repl_output_bytes", &st.net_repl_output_bytes),
            ] {
                kv(k, c.load(Ordering::Relaxed).to_string());
            }
            for (k, m) in [
                ("instantaneous_input_kbps", Metric::NetInput),
                ("instantaneous_output_kbps", Metric::NetOutput),
                ("instantaneous_input_repl_kbps", Metric::ReplInput),
                ("instantaneous_output_repl_kbps", Metric::ReplOutput),
            ] {
                kv(k, rates.kbps(m));
            }
            kv(
                "rejected_connections",
                st.rejected_connections.load(Ordering::Relaxed).to_string(),
            );
            let reps = &srv.replicas;
            for (k, v) in [
                ("sync_full", &reps.sync_full),
                ("sync_partial_ok", &reps.sync_partial_ok),
                ("sync_partial_err", &reps.sync_partial_err),
            ] {
                kv(k, v.load(Ordering::Relaxed).to_string());
            }
            kv("expired_keys", ks.expired.to_string());
            kv("expired_stale_perc", "0.00".into());
            kv("expired_time_cap_reached_count", "0".into());
            kv("expire_cycle_cpu_milliseconds", "0".into());
            kv("evicted_keys", ks.evicted.to_string());
            kv("evicted_clients", "0".into());
            kv("total_eviction_exceeded_time", "0".into());
            kv("current_eviction_exceeded_time", "0".into());
            kv("keyspace_hits", ks.hits.to_string());
            kv("keyspace_misses", ks.misses.to_string());
            let ps = &srv.pubsub;
            kv("pubsub_channels", ps.channel_count().to_string());
            kv("pubsub_patterns", ps.pattern_count().to_string());
            kv("pubsubshard_channels", ps.shard_channel_count().to_string());
            // No fork(2), no MIGRATE socket cache, no defragmenter: Redis's zeros.
            for k in [
                "latest_fork_usec",
                "total_forks",
                "migrate_cached_sockets",
                "slave_expires_tracked_keys",
                "active_defrag_hits",
                "active_defrag_misses",
                "active_defrag_key_hits",
                "active_defrag_key_misses",
                "total_active_defrag_time",
                "current_active_defrag_time",
            ] {
                kv(k, "0".into());
            }
            let (_, keys, items, prefixes) = ps.tracking.counts();
            kv("tracking_total_keys", keys.to_string());
            kv("tracking_total_items", items.to_string());
            kv("tracking_total_prefixes", prefixes.to_string());
            kv("unexpected_error_replies", "0".into());
            kv("total_error_replies", st.error_replies().to_string());
            kv("dump_payload_sanitizations", "0".into());
            for (k, c) in [
                ("total_reads_processed", &st.reads_processed),
                ("total_writes_processed", &st.writes_processed),
            ] {
                kv(k, c.load(Ordering::Relaxed).to_string());
            }
            for k in [
                "io_threaded_reads_processed",
                "io_threaded_writes_processed",
                "reply_buffer_shrinks",
                "reply_buffer_expands",
            ] {
                kv(k, "0".into());
            }
            // Redis 7.2's field: subscribers closed by `client-output-buffer-limit`.
            kv(
                "client_output_buffer_limit_disconnections",
                ps.obl_disconnections.load(Ordering::Relaxed).to_string(),
            );
        }
        "replication" => {
            let upstream = srv.upstream.status();
            match &upstream {
                Some(st) => follower_info(st, srv, &mut kv),
                None => kv("role", "master".into()),
            }
            kv("connected_slaves", srv.replicas.len().to_string());
            let hot = &srv.config.hot;
            let min = hot.min_replicas_to_write.load(Ordering::Relaxed);
            let lag = hot.min_replicas_max_lag.load(Ordering::Relaxed);
            if min > 0 && lag > 0 {
                kv("min_slaves_good_slaves", srv.replicas.good(lag).to_string());
            }
            for (k, v) in srv.replicas.info_fields() {
                kv(&k, v);
            }
            kv("master_failover_state", srv.failover.state_name().into());
            // A replica shows its primary's ID and the offset it applied, as Redis's do.
            let (id, off) = match upstream {
                Some(st) if !st.replid.is_empty() => (st.replid, st.offset.max(0) as u64),
                _ => (srv.run_id.clone(), srv.replicas.repl_offset()),
            };
            kv("master_replid", id);
            kv("master_replid2", "0".repeat(40));
            kv("master_repl_offset", off.to_string());
            kv("second_repl_offset", "-1".into());
            kv("repl_backlog_active", "0".into());
            kv("repl_backlog_size", "1048576".into());
            kv("repl_backlog_first_byte_offset", "0".into());
            kv("repl_backlog_histlen", "0".into());
        }
        "cpu" => {
            let (u, s) = cpu_secs(libc::RUSAGE_SELF);
            kv("used_cpu_sys", format!("{s:.6}"));
            kv("used_cpu_user", format!("{u:.6}"));
            kv("used_cpu_sys_children", "0.000000".into());
            kv("used_cpu_user_children", "0.000000".into());
            // The thread serving this command: with the default `io-threads 1`, the one that
            // runs every command, as Redis's main thread does.
            let (u, s) = cpu_secs(libc::RUSAGE_THREAD);
            kv("used_cpu_sys_main_thread", format!("{s:.6}"));
            kv("used_cpu_user_main_thread", format!("{u:.6}"));
        }
        "commandstats" => {
            let t = table();
            for (id, st) in t.stats.iter().enumerate() {
                let (calls, us) = crate::commands::call_counts(id);
                let rej = st.rejected.load(Ordering::Relaxed);
                if calls == 0 && rej == 0 {
                    continue;
                }
                kv(
                    &format!("cmdstat_{}", t.full_names[id]),
                    format!(
                        "calls={calls},usec={us},usec_per_call={:.2},rejected_calls={rej},failed_calls={}",
                        if calls > 0 { us as f64 / calls as f64 } else { 0.0 },
                        st.failed.load(Ordering::Relaxed)
                    ),
                );
            }
        }
        "errorstats" => {
            for (code, n) in srv.stats.error_codes.lock().iter() {
                kv(&format!("errorstat_{code}"), format!("count={n}"));
            }
        }
        "cluster" => kv("cluster_enabled", "0".into()),
        "keyspace" => {
            for (i, (keys, expires)) in srv.keyspace.db_sizes().into_iter().enumerate() {
                if keys > 0 {
                    kv(
                        &format!("db{i}"),
                        format!("keys={keys},expires={expires},avg_ttl=0"),
                    );
                }
            }
        }
        "changes" => {
            let log = &srv.log;
            kv("changes_epoch", log.epoch());
            kv("changes_first_offset", log.first_offset().to_string());
            kv("changes_last_offset", log.last_offset().to_string());
            kv("changes_written_offset", log.written().to_string());
            kv("changes_durable_offset", log.durable().to_string());
            kv("changes_memory_bytes", log.memory_bytes().to_string());
            let (bytes, segs) = log
                .disk
                .as_ref()
                .map(|d| (d.bytes(), d.segs.lock().len()))
                .unwrap_or((0, 0));
            kv("changes_disk_bytes", bytes.to_string());
            kv("changes_disk_segments", segs.to_string());
            let disk_reads = log.disk.as_ref().map_or(0, |d| d.reads());
            kv("changes_disk_reads", disk_reads.to_string());
            kv("changes_fsync_policy", srv.config.get("appendfsync"));
            let p = &srv.persist;
            kv(
                "changes_last_fsync_ms",
                p.last_fsync_ms.load(Ordering::Relaxed).to_string(),
            );
            kv(
                "changes_snapshot_offset",
                p.snapshot_offset.load(Ordering::Relaxed).to_string(),
            );
            let sh = &srv.feed_shares;
            kv("changes_shared_push_bytes", sh.bytes().to_string());
            kv(
                "changes_shared_push_batches_served",
                sh.served().to_string(),
            );
            crate::changes::groups::info(log, &mut kv);
        }
        "latencystats" => super::latency::info(srv, &mut kv),
        "triggers" => crate::triggers::info(srv, &mut kv),
        "bridge" => crate::bridge::info(srv, &mut kv),
        _ => {}
    }
}

fn time(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let us = crate::util::now_us();
    ctx.out.array(2);
    ctx.out.bulk_int((us / 1_000_000) as i64);
    ctx.out.bulk_int((us % 1_000_000) as i64);
    Ok(())
}

fn save(ctx: &mut Ctx, _a: Args) -> CmdResult {
    // Runs with the world lock held (an exclusive command): like Redis's SAVE, it blocks
    // every client until the snapshot is on disk.
    let Some(job) = crate::persistence::snapshot::start(ctx.srv) else {
        return Err("ERR Background save already in progress".into());
    };
    crate::persistence::snapshot::finish(ctx.srv, job)
        .map_err(|e| CmdError::owned(format!("ERR {e}")))?;
    ctx.out.ok();
    Ok(())
}

fn bgsave(ctx: &mut Ctx, a: Args) -> CmdResult {
    let schedule = match a.len() {
        1 => false,
        2 if is(a.get(1), "SCHEDULE") => true,
        _ => return Err(error::SYNTAX.into()),
    };
    let Some(srv) = ctx.srv.me() else {
        return Err("ERR server is not running".into());
    };
    if crate::persistence::snapshot::bgsave_locked(&srv) {
        ctx.out.simple("Background saving started");
    } else if schedule {
        ctx.out.simple("Background saving scheduled");
    } else {
        return Err("ERR Background save already in progress".into());
    }
    Ok(())
}

fn bgrewriteaof(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let Some(srv) = ctx.srv.me() else {
        return Err("ERR server is not running".into());
    };
    // The log is the append-only file: rewriting it is a snapshot, after which retention can
    // drop the segments the snapshot covers.
    if crate::persistence::snapshot::bgsave_locked(&srv) {
        ctx.out
            .simple("Background append only file rewriting started");
        Ok(())
    } else {
        Err("ERR Background append only file rewriting already in progress".into())
    }
}

fn lastsave(ctx: &mut Ctx, _a: Args) -> CmdResult {
    ctx.out.int(ctx.srv.lastsave.load(Ordering::Relaxed) as i64);
    Ok(())
}

fn shutdown(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (mut save, mut now, mut abort) = (None, false, false);
    for opt in a.iter().skip(1) {
        if is(opt, "NOSAVE") && save.is_none() {
            save = Some(false);
        } else if is(opt, "SAVE") && save.is_none() {
            save = Some(true);
        } else if is(opt, "NOW") {
            now = true;
        } else if is(opt, "FORCE") {
            // Redis exits despite a failed final save; so does Eddy always (`server::shutdown`).
        } else if is(opt, "ABORT") {
            abort = true;
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    if abort {
        if a.len() != 2 {
            return Err(error::SYNTAX.into());
        }
        if !ctx.srv.shutdown_wait.abort() {
            return Err("ERR No shutdown in progress.".into());
        }
        ctx.out.ok();
        return Ok(());
    }
    // A busy script holds the keyspace: only SHUTDOWN NOSAVE may stop the server then.
    let run = &ctx.srv.scripts.run;
    if save != Some(false) && run.blocks(ctx.sess.id) {
        return Err(run.busy_error().into());
    }
    tracing::warn!(client = ctx.sess.id, "User requested shutdown...");
    ctx.sess.action = Some(Action::Shutdown { save, now });
    Ok(())
}

/// DEBUG PROTOCOL: Redis's sample reply of each RESP type, with its values, for testing
/// clients (RESP2 gets each type's RESP2 form; an attribute is left out there, and a push is
/// refused).
fn debug_protocol(ctx: &mut Ctx, name: &[u8]) -> CmdResult {
    let out = &mut *ctx.out;
    match name.to_ascii_lowercase().as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        // Redis's sample value, not an approximation of pi.
        #[allow(clippy::approx_constant)]
        b"double" => out.double(3.141),
        b"bignum" => out.big_number("1234567999999999999999999999999999999"),
        b"null" => out.null(),
        b"array" => {
            out.array(3);
            (0..3).for_each(|j| out.int(j));
        }
        b"set" => {
            out.set(3);
            (0..3).for_each(|j| out.int(j));
        }
        b"map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        b"attrib" => {
            if out.resp3 {
                out.raw(b"|1\r\n");
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            // An attribute is not a reply: the real one follows.
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !out.resp3 {
                return Err(error::DEBUG_PROTOCOL_RESP2_PUSH.into());
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            // A push is not a reply either: a client that discards it still gets one.
            out.bulk(b"Some real reply following the push reply");
        }
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        b"verbatim" => out.verbatim("This is a verbatim\nstring"),
        _ => return Err(error::DEBUG_PROTOCOL_TYPE.into()),
    }
    Ok(())
}

fn debug(ctx: &mut Ctx, a: Args) -> CmdResult {
    match ctx.srv.config.get("enable-debug-command").as_str() {
        "yes" => {}
        "local" if ctx.sess.info.is_local() => {}
        _ => return Err(error::DEBUG_NOT_ALLOWED.into()),
    }
    let sub = a.get(1);
    if is(sub, "SLEEP") && a.len() == 3 {
        let secs = float(a.get(2))?;
        if secs > 0.0 {
            ctx.sess.action = Some(Action::Sleep {
                pause: Duration::from_secs_f64(secs.min(3600.0)),
                timed: true,
            });
        }
        ctx.out.ok();
    } else if is(sub, "SET-ACTIVE-EXPIRE") && a.len() == 3 {
        let on = int(a.get(2))? != 0;
        ctx.srv.active_expire.store(on, Ordering::Relaxed);
        ctx.out.ok();
    } else if is(sub, "POPULATE") && (3..=5).contains(&a.len()) {
        debug_populate(ctx, a)?;
        ctx.out.ok();
    } else if is(sub, "RELOAD") {
        debug_reload(ctx, a)?;
        ctx.out.ok();
    } else if is(sub, "LOADAOF") && a.len() == 2 {
        debug_loadaof(ctx)?;
        ctx.out.ok();
    } else if is(sub, "DIGEST") && a.len() == 2 {
        let d = digest::dataset(&mut ctx.lock_all());
        ctx.out.simple(&crate::util::hex(&d));
    } else if is(sub, "DIGEST-VALUE") {
        let keys: Vec<&[u8]> = a.iter().skip(2).collect();
        let digests = digest::values(&mut ctx.lock(&keys), ctx.sess.db, &keys);
        ctx.out.array(digests.len());
        for d in &digests {
            ctx.out.simple(&crate::util::hex(d));
        }
    } else if is(sub, "PROTOCOL") && a.len() == 3 {
        debug_protocol(ctx, a.get(2))?;
    } else if is(sub, "OBJECT") && a.len() == 3 {
        let line = debug_object(ctx, a.get(2)).ok_or(error::NO_SUCH_KEY)?;
        ctx.out.simple(&line);
    } else if is(sub, "ERROR") && a.len() == 3 {
        // The argument is the whole error line, code included (client libraries' tests use it
        // to see how they surface a server error).
        return Err(crate::error::CmdError(
            String::from_utf8_lossy(a.get(2)).into_owned().into(),
        ));
    } else if is(sub, "LOG") && a.len() == 3 {
        tracing::warn!("DEBUG LOG: {}", String::from_utf8_lossy(a.get(2)));
        ctx.out.ok();
    } else if is(sub, "HELP") {
        let lines = [
            "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DIGEST",
            "    Output a hex signature representing the current DB content.",
            "DIGEST-VALUE <key> [<key> ...]",
            "    Output a hex signature of the values of all the specified keys.",
            "ERROR <string>",
            "    Return a Redis protocol error with <string> as message. Useful for clients",
            "    unit tests to simulate Redis errors.",
            "LOG <message>",
            "    Write <message> to the server log.",
            "OBJECT <key>",
            "    Show low level info about `key` and associated value.",
            "POPULATE <count> [<prefix>] [<size>]",
            "    Create <count> string keys named key:<num>. If <prefix> is specified then",
            "    it is used instead of the 'key' prefix. Unlike in Redis they are recorded",
            "    in the change log (kept across restarts, sent to replicas).",
            "LOADAOF",
            "    Empty the keyspace and rebuild it from the disk: the snapshot, then the",
            "    change log records after it, as a restart would.",
            "RELOAD [option ...]",
            "    Save the snapshot, empty the keyspace and the functions, and load them back.",
            "    Options: MERGE (a key or library the snapshot holds replaces the one in",
            "    memory), NOFLUSH (keep what is in memory), NOSAVE (load the snapshot on disk).",
            "PROTOCOL <type>",
            "    Reply with a test value of the specified type. <type> can be: string,",
            "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
            "    true, false.",
            "SET-ACTIVE-EXPIRE <0|1>",
            "    Setting it to 0 disables expiring keys in background when they are not",
            "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
            "    default.",
            "SLEEP <seconds>",
            "    Stop the server for <seconds>. Decimals allowed.",
            "HELP",
            "    Prints this help.",
        ];
        super::help_reply(ctx, &lines);
    } else {
        return Err(error::subcommand_syntax(sub, "debug"));
    }
    Ok(())
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE], as Redis's: take a snapshot (the same file SAVE
/// writes, so it is the log's checkpoint too), empty the keyspace and the function libraries,
/// and load the snapshot back, so every value leaves it as loading builds it (a `raw` string
/// is `embstr` again; collections convert by the limits in force). NOFLUSH keeps what is in
/// memory, and then a key or library the snapshot also holds is an error unless MERGE lets the
/// snapshot's replace it. Nothing is recorded: after a save the data is what it was. With
/// NOSAVE an older snapshot may bring back older data the log does not describe, as Redis's
/// AOF would not.
fn debug_reload(ctx: &mut Ctx, a: Args) -> CmdResult {
    use crate::persistence::snapshot;
    let (mut merge, mut flush, mut save) = (false, true, true);
    for opt in a.iter().skip(2) {
        if is(opt, "MERGE") {
            merge = true;
        } else if is(opt, "NOFLUSH") {
            flush = false;
        } else if is(opt, "NOSAVE") {
            save = false;
        } else {
            return Err(
                "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.".into(),
            );
        }
    }
    if save {
        // DEBUG runs with the world lock held exclusively, as `snapshot::start` needs.
        let job = snapshot::start(ctx.srv).ok_or("ERR Background save already in progress")?;
        snapshot::finish(ctx.srv, job).map_err(|e| CmdError(format!("ERR {e}").into()))?;
    }
    if flush {
        empty_data(ctx);
    }
    let path =
        std::path::Path::new(&ctx.srv.config.get("dir")).join(crate::persistence::SNAPSHOT_FILE);
    match snapshot::load(ctx.srv, &path, merge) {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err("ERR Error trying to load the RDB dump".into()),
        Err(e) => {
            tracing::warn!(error = %e, "DEBUG RELOAD could not load the snapshot");
            Err("ERR Error trying to load the RDB dump".into())
        }
    }
}

/// Empties every database and the function libraries without recording it (DEBUG RELOAD and
/// LOADAOF load the same data back), as Redis's `emptyData` does.
fn empty_data(ctx: &mut Ctx) {
    let all: Vec<usize> = (0..ctx.srv.keyspace.ndbs()).collect();
    super::keys::clear_dbs(&mut ctx.lock_all(), &all);
    ctx.srv.scripts.function_flush();
}

/// DEBUG LOADAOF: empty the keyspace and rebuild it from the disk (the snapshot, then the log
/// records after it), as a restart would. Redis reloads its AOF so; Eddy's change log is that
/// file, so this checks that what was logged rebuilds what was in memory.
fn debug_loadaof(ctx: &mut Ctx) -> CmdResult {
    if ctx.srv.log.disk.is_none() {
        return Err("ERR DEBUG LOADAOF needs the change log on disk (appendonly yes)".into());
    }
    empty_data(ctx);
    match crate::persistence::recovery::reload_from_disk(ctx.srv) {
        Ok(n) => {
            tracing::warn!(records = n, "change log loaded by DEBUG LOADAOF");
            Ok(())
        }
        Err(e) => Err(CmdError(format!("ERR DEBUG LOADAOF failed: {e}").into())),
    }
}

/// DEBUG OBJECT's line, in Redis's format: the value's address, its encoding, the length of its
/// RDB serialization (Eddy's, uncompressed), its access clock and idle seconds (their meaning
/// changes under an LFU policy, as in Redis), and for a quicklist its nodes. None: no such key.
fn debug_object(ctx: &mut Ctx, key: &[u8]) -> Option<String> {
    use crate::keyspace::value::Collection;
    let now = crate::keyspace::value::Meta::now().clock();
    let fill = ctx.srv.config.get("list-max-listpack-size");
    let shared = crate::keyspace::evict::shares_integers(ctx.srv);
    let mut l = ctx.lock1(key);
    let v = l.peek(key)?;
    let mut body = Vec::new();
    crate::keyspace::encoding::encode_value(v, &mut body);
    let clock = v.access_clock();
    let mut line = format!(
        "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{clock} \
         lru_seconds_idle:{}",
        v as *const _,
        v.refcount(shared),
        v.encoding(),
        body.len() - 1,
        now.wrapping_sub(clock) & 0x7fff_ffff,
    );
    if let crate::keyspace::value::Value::List(list, _) = v {
        let (nodes, bytes) = list.node_stats();
        line += &format!(
            " ql_nodes:{nodes} ql_avg_node:{:.2} ql_listpack_max:{fill} ql_compressed:0 \
             ql_uncompressed_size:{bytes}",
            list.len() as f64 / nodes.max(1) as f64,
        );
    }
    Some(line)
}

/// DEBUG POPULATE count [prefix] [size]: keys `<prefix>:<n>` (prefix `key`) set to
/// `value:<n>`, or with a size, that text cut or zero-padded to it; existing keys are left
/// alone. Unlike Redis, each key is recorded in the change log like any SET: the log is Eddy's
/// persistence (and replication stream), so keys it did not record would be lost at restart.
fn debug_populate(ctx: &mut Ctx, a: Args) -> CmdResult {
    let positive = |v: &[u8]| -> CmdResult<u64> {
        match int(v) {
            Ok(n) if n >= 0 => Ok(n as u64),
            _ => Err("ERR value is out of range, must be positive".into()),
        }
    };
    let count = positive(a.get(2))?;
    let size = if a.len() == 5 { positive(a.get(4))? } else { 0 };
    // A size the client controls: no larger than a value it could send.
    if size
        > ctx
            .srv
            .config
            .hot
            .proto_max_bulk_len
            .load(Ordering::Relaxed)
    {
        return Err("ERR value is out of range, must be positive".into());
    }
    let prefix: &[u8] = if a.len() >= 4 { a.get(3) } else { b"key" };
    let (mut key, mut val) = (Vec::new(), Vec::new());
    for n in 0..count {
        let digits = itoa::Buffer::new().format(n).as_bytes().to_vec();
        key.clear();
        key.extend_from_slice(prefix);
        key.push(b':');
        key.extend_from_slice(&digits);
        // Redis formats the name into a 128-byte buffer.
        key.truncate(127);
        val.clear();
        val.extend_from_slice(b"value:");
        val.extend_from_slice(&digits);
        if size > 0 {
            val.resize(size as usize, 0);
        }
        let mut l = ctx.lock1(&key);
        super::strings::set_if_absent(&mut l, &key, &val);
    }
    Ok(())
}

/// CONFIG GET, answered as Redis 7 answers: a name without glob characters is looked up
/// (aliases and any case included) and answered under the name as the client typed it; a
/// pattern answers every name it matches, aliases too. Each name is answered once, whatever
/// its case.
fn config_get(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut hits: Vec<(String, usize)> = Vec::new();
    let mut add = |name: &str, i: usize| {
        if !hits.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
            hits.push((name.to_string(), i));
        }
    };
    for pat in a.iter().skip(2) {
        if !pat.iter().any(|c| b"[*?".contains(c)) {
            let name = String::from_utf8_lossy(pat);
            if let Some(i) = config::find(&name) {
                add(&name, i);
            }
            continue;
        }
        for (i, d) in DEFS.iter().enumerate() {
            for name in std::iter::once(d.name).chain(d.alias) {
                if glob_match(pat, name.as_bytes(), true) {
                    add(name, i);
                }
            }
        }
    }
    ctx.out.map(hits.len());
    for (name, i) in hits {
        ctx.out.bulk_str(&name);
        ctx.out.bulk(ctx.srv.config.get_index(i).as_bytes());
    }
    Ok(())
}

fn config_set(ctx: &mut Ctx, a: Args) -> CmdResult {
    // The table's arity refuses a name without a value; a dangling name after whole pairs is
    // Redis's syntax error.
    if !a.len().is_multiple_of(2) {
        return Err(error::SYNTAX.into());
    }
    let mut pairs: Vec<(usize, String)> = Vec::new();
    for i in (2..a.len()).step_by(2) {
        let name = a.get(i);
        let Some(idx) = config::find(&String::from_utf8_lossy(name)) else {
            return Err(error::unknown_option(name));
        };
        let d = &DEFS[idx];
        if !d.runtime {
            return Err(error::config_set_failed(
                d.name,
                "can't set immutable config",
            ));
        }
        if pairs.iter().any(|(j, _)| *j == idx) {
            return Err(error::config_set_failed(d.name, "duplicate parameter"));
        }
        pairs.push((idx, String::from_utf8_lossy(a.get(i + 1)).into_owned()));
    }
    ctx.srv
        .config
        .set_many(&pairs)
        .map_err(|(i, why)| error::config_set_failed(DEFS[i].name, &why))?;
    ctx.srv.apply_config();
    ctx.out.ok();
    Ok(())
}

fn config_resetstat(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let srv = ctx.srv;
    table().reset_stats();
    srv.keyspace.reset_stats();
    for c in [
        &srv.stats.connections_received,
        &srv.stats.commands_processed,
        &srv.stats.rejected_connections,
        &srv.stats.net_input_bytes,
        &srv.stats.net_output_bytes,
        &srv.stats.net_repl_input_bytes,
        &srv.stats.net_repl_output_bytes,
        &srv.stats.reads_processed,
        &srv.stats.writes_processed,
        &srv.pubsub.obl_disconnections,
    ] {
        c.store(0, Ordering::Relaxed);
    }
    srv.stats.error_codes.lock().clear();
    ctx.out.ok();
    Ok(())
}

fn config_rewrite(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let Some(path) = ctx.srv.config.file.clone() else {
        return Err(error::NO_CONFIG_FILE.into());
    };
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let new = ctx.srv.config.rewrite_text(&old);
    let tmp = path.with_extension("rewrite.tmp");
    std::fs::write(&tmp, new)
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| CmdError::owned(format!("ERR Rewriting config file: {e}")))?;
    ctx.out.ok();
    Ok(())
}

fn config_help(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let lines = [
        "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
        "HELP",
        "    Prints this help.",
    ];
    super::help_reply(ctx, &lines);
    Ok(())
}

/// INFO replication's fields of a replica (`server::follow`), in Redis's order.
fn follower_info(
    st: &crate::server::follow::Status,
    srv: &crate::server::Server,
    kv: &mut impl FnMut(&str, String),
) {
    use crate::server::follow::LinkState;
    let secs = |t: std::time::Instant| t.elapsed().as_secs().to_string();
    kv("role", "slave".into());
    kv("master_host", st.target.host.clone());
    kv("master_port", st.target.port.to_string());
    let up = st.state == LinkState::Connected;
    kv("master_link_status", if up { "up" } else { "down" }.into());
    kv(
        "master_last_io_seconds_ago",
        st.last_io.map_or("-1".into(), secs),
    );
    let syncing = st.state == LinkState::Sync;
    kv("master_sync_in_progress", (syncing as u8).to_string());
    kv("slave_read_repl_offset", st.offset.to_string());
    kv("slave_repl_offset", st.offset.to_string());
    if syncing {
        let total = st.sync_total.map_or(-1, |t| t as i64);
        kv("master_sync_total_bytes", total.to_string());
        kv("master_sync_read_bytes", st.sync_read.to_string());
        let left = st
            .sync_total
            .map_or(-1, |t| t.saturating_sub(st.sync_read) as i64);
        kv("master_sync_left_bytes", left.to_string());
        let perc = match st.sync_total {
            Some(t) if t > 0 => st.sync_read as f64 * 100.0 / t as f64,
            _ => 0.0,
        };
        kv("master_sync_perc", format!("{perc:.2}"));
        kv(
            "master_sync_last_io_seconds_ago",
            st.last_io.map_or("-1".into(), secs),
        );
    }
    if !up {
        kv("master_link_down_since_seconds", secs(st.down_since));
    }
    kv("slave_priority", srv.config.get("replica-priority"));
    let ro = srv.config.hot.replica_read_only.load(Ordering::Relaxed);
    kv("slave_read_only", (ro as u8).to_string());
    let announced = srv.config.get("replica-announced") == "yes";
    kv("replica_announced", (announced as u8).to_string());
}
