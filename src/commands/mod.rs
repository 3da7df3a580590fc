//! The command table and dispatch.
//!
//! Each family file (`strings.rs`, `keys.rs`, ...) starts with its table: one declarative
//! [`CommandSpec`] per command (name, arity, Redis flags, key positions, ACL categories, docs,
//! handler). Everything generic happens here, once: unknown-command and arity errors with Redis's
//! wording, subcommand resolution, authentication, the commands a RESP2 client may run in
//! pub/sub mode, statistics. `COMMAND`, `COMMAND INFO/DOCS/...`
//! are answered from the same table (`commands/introspection.rs`).
//!
//! A handler gets a [`Ctx`] (server, session, reply writer) and the arguments, parses them with
//! the cursor parser (`args.rs`), locks the shards of its keys through [`Ctx::lock`], writes its
//! reply, and returns `Err` only before it has written anything: the dispatcher then writes the
//! error reply.

pub mod acl;
pub mod args;
pub mod bitmaps;
pub mod bridge;
pub mod changes;
pub mod cluster;
pub mod connection;
pub mod feed_stream;
pub mod geo;
pub mod hashes;
pub mod hyperloglog;
pub mod introspection;
pub mod keys;
pub mod keyspecs;
pub mod latency;
pub mod lists;
pub mod migrate;
pub mod pubsub;
pub mod replication;
pub mod scripting;
pub mod server;
pub mod sets;
pub mod slowlog;
pub mod sort;
pub mod stream_groups;
pub mod streams;
pub mod strings;
pub mod transactions;
pub mod triggers;
pub mod zsets;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use crate::changes::Who;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::Locked;
use crate::protocol::resp::{Args, Out};
use crate::server::session::Session;
use crate::server::Server;

/// Redis command flags, named as `COMMAND INFO` reports them.
pub mod flag {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const SKIP_MONITOR: u32 = 1 << 9;
    pub const SKIP_SLOWLOG: u32 = 1 << 10;
    pub const FAST: u32 = 1 << 11;
    pub const NO_AUTH: u32 = 1 << 12;
    pub const MAY_REPLICATE: u32 = 1 << 13;
    pub const NO_MULTI: u32 = 1 << 14;
    pub const MOVABLE_KEYS: u32 = 1 << 15;
    pub const ALLOW_BUSY: u32 = 1 << 16;
    /// Eddy-internal: runs with the world lock held exclusively (whole-keyspace operations).
    pub const EXCLUSIVE: u32 = 1 << 24;

    /// Flag names in the order Redis prints them.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (SKIP_MONITOR, "skip_monitor"),
        (SKIP_SLOWLOG, "skip_slowlog"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (MAY_REPLICATE, "may_replicate"),
        (NO_MULTI, "no_multi"),
        (MOVABLE_KEYS, "movablekeys"),
        (ALLOW_BUSY, "allow_busy"),
    ];
}

pub type Handler = fn(&mut Ctx, Args) -> CmdResult;

/// One command (or subcommand) of the table.
pub struct CommandSpec {
    /// Lower-case name (for a subcommand, just the subcommand: `get` under `config`).
    pub name: &'static str,
    /// Redis convention: N = exactly N arguments including the name, -N = at least N.
    pub arity: i32,
    pub flags: u32,
    /// Legacy key positions: first, last (negative counts from the end), step. 0,0,0 = no keys.
    pub keys: (i32, i32, i32),
    /// ACL categories besides those derived from the flags, without the `@`.
    pub acl: &'static [&'static str],
    /// Redis command group (`string`, `generic`, `server`, ...).
    pub group: &'static str,
    pub summary: &'static str,
    /// Argument syntax after the name, as the Redis docs write it; COMMAND DOCS derives its
    /// argument tree from it (redis-cli's hints).
    pub syntax: &'static str,
    pub since: &'static str,
    pub complexity: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    pub fn is_write(&self) -> bool {
        self.flags & flag::WRITE != 0
    }

    /// ACL categories, derived from flags as Redis does plus the explicit ones.
    pub fn categories(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = Vec::new();
        let f = self.flags;
        if f & flag::WRITE != 0 {
            v.push("write");
        }
        if f & flag::READONLY != 0 && !self.acl.contains(&"scripting") {
            v.push("read");
        }
        if f & flag::ADMIN != 0 {
            v.push("admin");
            v.push("dangerous");
        }
        if f & flag::PUBSUB != 0 {
            v.push("pubsub");
        }
        if f & flag::FAST != 0 {
            v.push("fast");
        } else {
            v.push("slow");
        }
        if f & flag::BLOCKING != 0 {
            v.push("blocking");
        }
        for c in self.acl {
            if !v.contains(c) {
                v.push(c);
            }
        }
        v
    }

    /// Positions of key arguments in `args` (legacy key spec).
    pub fn key_positions(&self, argc: usize) -> Vec<usize> {
        let (first, last, step) = self.keys;
        if first <= 0 || step <= 0 {
            return Vec::new();
        }
        let last = if last < 0 { argc as i32 + last } else { last };
        (first..=last.min(argc as i32 - 1))
            .step_by(step as usize)
            .map(|i| i as usize)
            .collect()
    }
}

/// Shorthand for table entries; `subcommands` empty.
macro_rules! cmd {
    ($name:literal, $arity:expr, $flags:expr, $keys:expr, $acl:expr, $group:literal,
     $handler:path, $summary:literal, $syntax:literal, $since:literal, $complexity:literal) => {
        $crate::commands::CommandSpec {
            name: $name,
            arity: $arity,
            flags: $flags,
            keys: $keys,
            acl: $acl,
            group: $group,
            summary: $summary,
            syntax: $syntax,
            since: $since,
            complexity: $complexity,
            handler: $handler,
            subcommands: &[],
        }
    };
}
pub(crate) use cmd;

/// A handler for container commands, reached only if a subcommand lookup is bypassed.
pub fn container(_: &mut Ctx, _: Args) -> CmdResult {
    Err(error::SYNTAX.into())
}

/// The reply of a HELP subcommand: its lines as status replies.
pub fn help_reply(ctx: &mut Ctx, lines: &[&str]) {
    ctx.out.array(lines.len());
    for l in lines {
        ctx.out.simple(l);
    }
}

/// The reply of container `name`'s HELP as Redis's `addReplyHelp` frames the subcommands'
/// `lines`: the usage line first, HELP's own entry last.
pub fn subcommand_help(ctx: &mut Ctx, name: &str, lines: &[&str]) {
    ctx.out.array(lines.len() + 3);
    ctx.out.simple(&format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        ctx.out.simple(l);
    }
    ctx.out.simple("HELP");
    ctx.out.simple("    Prints this help.");
}

/// All families' tables.
fn families() -> [&'static [CommandSpec]; 26] {
    [
        acl::COMMANDS,
        strings::COMMANDS,
        keys::COMMANDS,
        lists::COMMANDS,
        hashes::COMMANDS,
        sets::COMMANDS,
        zsets::COMMANDS,
        connection::COMMANDS,
        server::COMMANDS,
        cluster::COMMANDS,
        replication::COMMANDS,
        changes::COMMANDS,
        pubsub::COMMANDS,
        introspection::COMMANDS,
        transactions::COMMANDS,
        hyperloglog::COMMANDS,
        bitmaps::COMMANDS,
        sort::COMMANDS,
        geo::COMMANDS,
        streams::COMMANDS,
        stream_groups::COMMANDS,
        triggers::COMMANDS,
        bridge::COMMANDS,
        scripting::COMMANDS,
        slowlog::COMMANDS,
        latency::COMMANDS,
    ]
}

/// Per-command statistics (INFO commandstats). Calls and microseconds are counted per thread
/// ([`ThreadCounts`]); these hold the totals at the last CONFIG RESETSTAT, subtracted on read.
#[derive(Default)]
pub struct CmdStat {
    calls_base: AtomicU64,
    usec_base: AtomicU64,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
    /// The latency histogram's counts at the last CONFIG RESETSTAT (`None`: none then).
    latency_base: parking_lot::Mutex<Option<Box<latency::Counts>>>,
}

/// Calls, microseconds and durations per command, counted by each thread in its own counters:
/// every command bumps several counters, and shared ones would be a cache line both I/O threads
/// write for every SET. Only the owning thread writes (a load and a store, no locked
/// instruction); INFO and LATENCY sum the threads.
struct ThreadCounts {
    calls: Box<[AtomicU64]>,
    usec: Box<[AtomicU64]>,
    /// Each command's durations by [`latency::bucket`] (LATENCY HISTOGRAM, INFO latencystats),
    /// allocated when this thread first runs the command with `latency-tracking` on.
    hist: Box<[OnceLock<Box<latency::Buckets>>]>,
    /// Commands by duration, all commands together: bucket `i` counts durations up to
    /// `LATENCY_BUCKETS_US[i]`, the last one the rest. Never reset (Prometheus counters).
    latency: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    latency_us: AtomicU64,
}

/// Upper bounds, in microseconds, of the command latency histogram (`/metrics`).
pub const LATENCY_BUCKETS_US: [u64; 12] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 10_000, 100_000, 1_000_000, 10_000_000,
];

static THREAD_COUNTS: std::sync::Mutex<Vec<std::sync::Arc<ThreadCounts>>> =
    std::sync::Mutex::new(Vec::new());

thread_local! {
    static COUNTS: std::sync::Arc<ThreadCounts> = {
        let n = table().specs.len();
        let zeros = || (0..n).map(|_| AtomicU64::new(0)).collect::<Box<[_]>>();
        let c = std::sync::Arc::new(ThreadCounts {
            calls: zeros(),
            usec: zeros(),
            hist: (0..n).map(|_| OnceLock::new()).collect(),
            latency: Default::default(),
            latency_us: AtomicU64::new(0),
        });
        if let Ok(mut all) = THREAD_COUNTS.lock() {
            all.push(c.clone());
        }
        c
    };
}

#[inline]
fn count_call(id: usize, ns: u64, us: u64, track: bool) {
    COUNTS.with(|c| {
        let (calls, usec) = (&c.calls[id], &c.usec[id]);
        calls.store(calls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        usec.store(usec.load(Ordering::Relaxed) + us, Ordering::Relaxed);
        let b = &c.latency[LATENCY_BUCKETS_US.partition_point(|&le| le < us)];
        b.store(b.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        c.latency_us
            .store(c.latency_us.load(Ordering::Relaxed) + us, Ordering::Relaxed);
        if track {
            let b = &c.hist[id].get_or_init(latency::new_buckets)[latency::bucket(ns)];
            b.store(b.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        }
    });
}

/// Command `id`'s duration counts summed over every thread (`None`: no thread has any).
fn latency_totals(id: usize) -> Option<Box<latency::Counts>> {
    let mut sum: Option<Box<latency::Counts>> = None;
    if let Ok(all) = THREAD_COUNTS.lock() {
        for h in all.iter().filter_map(|c| c.hist[id].get()) {
            let s = sum.get_or_insert_with(|| Box::new([0; latency::BUCKETS]));
            for (s, b) in s.iter_mut().zip(h.iter()) {
                *s += b.load(Ordering::Relaxed);
            }
        }
    }
    sum
}

/// Command `id`'s duration counts since CONFIG RESETSTAT, if it ran since.
pub fn latency_counts(id: usize) -> Option<Box<latency::Counts>> {
    let mut sum = latency_totals(id)?;
    if let Some(base) = table().stats[id].latency_base.lock().as_deref() {
        for (s, b) in sum.iter_mut().zip(base.iter()) {
            *s = s.saturating_sub(*b);
        }
    }
    sum.iter().any(|&n| n > 0).then_some(sum)
}

/// The command latency histogram over every thread: per-bucket counts (not cumulative; the
/// last is above every bound) and the total microseconds.
pub fn latency_histogram() -> ([u64; LATENCY_BUCKETS_US.len() + 1], u64) {
    let mut buckets = [0u64; LATENCY_BUCKETS_US.len() + 1];
    let mut sum = 0;
    if let Ok(all) = THREAD_COUNTS.lock() {
        for c in all.iter() {
            for (b, v) in buckets.iter_mut().zip(c.latency.iter()) {
                *b += v.load(Ordering::Relaxed);
            }
            sum += c.latency_us.load(Ordering::Relaxed);
        }
    }
    (buckets, sum)
}

/// Total (calls, microseconds) of command `id` over every thread, since CONFIG RESETSTAT.
pub fn call_counts(id: usize) -> (u64, u64) {
    let (mut calls, mut usec) = (0u64, 0u64);
    if let Ok(all) = THREAD_COUNTS.lock() {
        for c in all.iter() {
            calls += c.calls[id].load(Ordering::Relaxed);
            usec += c.usec[id].load(Ordering::Relaxed);
        }
    }
    let st = &table().stats[id];
    (
        calls.saturating_sub(st.calls_base.load(Ordering::Relaxed)),
        usec.saturating_sub(st.usec_base.load(Ordering::Relaxed)),
    )
}

/// Command names are looked up once per command, so their map uses a fast fixed-seed hash (the
/// keys are the table's own names; what a client sends can only miss). SipHash and UTF-8
/// validation of the name were 2% of a pipelined SET's CPU.
type NameMap = HashMap<&'static [u8], usize, foldhash::fast::FixedState>;

/// `name` lowercased into `buf`; `None` when longer than any command name can be.
fn lowercase<'b>(name: &[u8], buf: &'b mut [u8; 32]) -> Option<&'b [u8]> {
    let low = buf.get_mut(..name.len())?;
    for (d, s) in low.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    Some(low)
}

/// The resolved table: top-level commands by name, and every spec (subcommands included) by id.
pub struct Table {
    by_name: NameMap,
    pub specs: Vec<&'static CommandSpec>,
    /// Full name (`config|get`) of each spec id.
    pub full_names: Vec<String>,
    /// Subcommand ids of each spec id, by subcommand name.
    subs: Vec<NameMap>,
    pub stats: Vec<CmdStat>,
}

impl Table {
    fn build() -> Table {
        let mut t = Table {
            by_name: NameMap::default(),
            specs: Vec::new(),
            full_names: Vec::new(),
            subs: Vec::new(),
            stats: Vec::new(),
        };
        for fam in families() {
            for spec in fam {
                // `lowercase` holds 32 bytes: a longer name could never be found.
                debug_assert!(
                    spec.name.len() <= 32 && spec.subcommands.iter().all(|s| s.name.len() <= 32)
                );
                let id = t.add(spec, spec.name.to_string());
                t.by_name.insert(spec.name.as_bytes(), id);
                for sub in spec.subcommands {
                    let sid = t.add(sub, format!("{}|{}", spec.name, sub.name));
                    t.subs[id].insert(sub.name.as_bytes(), sid);
                }
            }
        }
        t
    }

    fn add(&mut self, spec: &'static CommandSpec, full: String) -> usize {
        self.specs.push(spec);
        self.full_names.push(full);
        self.subs.push(NameMap::default());
        self.stats.push(CmdStat::default());
        self.specs.len() - 1
    }

    /// Top-level command by name, case-insensitively.
    pub fn lookup(&self, name: &[u8]) -> Option<usize> {
        let mut buf = [0u8; 32];
        self.by_name.get(lowercase(name, &mut buf)?).copied()
    }

    pub fn lookup_sub(&self, id: usize, name: &[u8]) -> Option<usize> {
        let mut buf = [0u8; 32];
        self.subs[id].get(lowercase(name, &mut buf)?).copied()
    }

    pub fn subcommand_ids(&self, id: usize) -> Vec<usize> {
        let mut v: Vec<usize> = self.subs[id].values().copied().collect();
        v.sort_unstable();
        v
    }

    /// Ids of top-level commands, in table order.
    pub fn top_level(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.by_name.values().copied().collect();
        v.sort_unstable();
        v
    }

    pub fn reset_stats(&self) {
        for (id, s) in self.stats.iter().enumerate() {
            let (calls, usec) = call_counts(id);
            s.calls_base.fetch_add(calls, Ordering::Relaxed);
            s.usec_base.fetch_add(usec, Ordering::Relaxed);
            s.rejected.store(0, Ordering::Relaxed);
            s.failed.store(0, Ordering::Relaxed);
            *s.latency_base.lock() = latency_totals(id);
        }
    }
}

pub fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(Table::build)
}

/// What a handler works with.
pub struct Ctx<'a> {
    pub srv: &'a Server,
    pub sess: &'a mut Session,
    pub out: &'a mut Out,
    /// Time of the command in ms (one clock reading per command, as Redis's `mstime` cache).
    pub now: u64,
}

impl<'a> Ctx<'a> {
    pub fn who(&self) -> Who {
        Who {
            origin: self.sess.origin,
            client_id: self.sess.id,
        }
    }

    /// Locks the shards of `keys` in the session's database.
    pub fn lock(&self, keys: &[&[u8]]) -> Locked<'a> {
        let srv: &'a Server = self.srv;
        let mut l = srv
            .keyspace
            .lock(&srv.log, self.who(), self.sess.db, self.now, keys);
        l.enabled = !self.sess.replaying;
        l.touch = !self.sess.no_touch;
        if self.sess.tracking.as_ref().is_some_and(|t| t.reading) {
            // Remembered under these shard locks when `l` drops (`pubsub::tracking`).
            l.track = Some(crate::pubsub::tracking::Reads::new(self.sess.id, keys));
        }
        l
    }

    pub fn lock1(&self, key: &[u8]) -> Locked<'a> {
        self.lock(&[key])
    }

    /// Locks every shard (KEYS-style walks that must see one consistent state, FLUSHALL).
    pub fn lock_all(&self) -> Locked<'a> {
        let srv: &'a Server = self.srv;
        let mut l = srv
            .keyspace
            .lock_all(&srv.log, self.who(), self.sess.db, self.now);
        l.enabled = !self.sess.replaying;
        l
    }
}

/// How the dispatcher resolved a request, for the connection loop.
pub struct Resolved {
    pub id: usize,
    pub spec: &'static CommandSpec,
}

/// The top-level command a batch resolved last, by the exact bytes of its name: a pipeline
/// mostly repeats one command, and comparing a few bytes costs a tenth of the case-folding hash
/// lookup it saves.
#[derive(Default)]
pub struct LastName {
    name: [u8; 16],
    len: usize,
    id: usize,
}

/// Resolves the command in `args` (top-level or `container sub`) and checks its arity. On error
/// the reply to send is returned.
pub fn resolve(args: &Args, last: &mut LastName) -> Result<Resolved, CmdError> {
    let t = table();
    let name = args.get(0);
    let mut id = match last.name.get(..last.len) {
        Some(n) if last.len > 0 && n == name => last.id,
        _ => {
            let Some(id) = t.lookup(name) else {
                return Err(error::unknown_command(name, &mut args.iter().skip(1)));
            };
            if let Some(n) = last.name.get_mut(..name.len()) {
                n.copy_from_slice(name);
                (last.len, last.id) = (name.len(), id);
            }
            id
        }
    };
    let mut spec = t.specs[id];
    if !spec.subcommands.is_empty() {
        if args.len() < 2 {
            // A container runs bare only when its arity allows it (COMMAND is -1).
            if arity_ok(spec.arity, args.len()) {
                return Ok(Resolved { id, spec });
            }
            return Err(error::wrong_arity(spec.name));
        }
        match t.lookup_sub(id, args.get(1)) {
            Some(sid) => {
                id = sid;
                spec = t.specs[sid];
            }
            None => return Err(error::unknown_subcommand(args.get(1), spec.name)),
        }
        if !arity_ok(spec.arity, args.len()) {
            return Err(error::wrong_arity(&t.full_names[id]));
        }
        return Ok(Resolved { id, spec });
    }
    if !arity_ok(spec.arity, args.len()) {
        return Err(error::wrong_arity(spec.name));
    }
    Ok(Resolved { id, spec })
}

pub(crate) fn arity_ok(arity: i32, argc: usize) -> bool {
    let argc = argc as i32;
    (arity > 0 && argc == arity) || (arity < 0 && argc >= -arity)
}

/// Runs one resolved command: authentication gate, handler, statistics. The reply (or error) is
/// written to `ctx.out`. `clock` is when the previous command of the batch finished (or the batch
/// started): one clock reading per command serves both its duration and the next one's start.
pub fn execute(ctx: &mut Ctx, r: &Resolved, args: Args, clock: &mut Instant) {
    let t = table();
    let st = &t.stats[r.id];
    // The primary's stream applies while its image loads (`server::follow`).
    if r.spec.flags & flag::LOADING == 0
        && ctx.srv.loading.load(Ordering::Acquire)
        && !ctx.sess.from_primary()
    {
        st.rejected.fetch_add(1, Ordering::Relaxed);
        ctx.sess.tx.flag();
        ctx.out.error(error::LOADING);
        return;
    }
    if !ctx.sess.authenticated && r.spec.flags & flag::NO_AUTH == 0 && ctx.srv.auth_required() {
        st.rejected.fetch_add(1, Ordering::Relaxed);
        ctx.sess.tx.flag();
        ctx.out.error(error::NOAUTH);
        return;
    }
    if let Some(d) = acl_refused(ctx, r.id, args, AclContext::Client) {
        st.rejected.fetch_add(1, Ordering::Relaxed);
        ctx.sess.tx.flag();
        ctx.out.error(&d.error());
        return;
    }
    // A RESP2 connection in pub/sub mode reads pushes as replies: only Redis's few commands.
    if !ctx.sess.resp3
        && ctx.sess.subscribed()
        && !crate::pubsub::allowed_in_subscribed_mode(&t.full_names[r.id])
    {
        st.rejected.fetch_add(1, Ordering::Relaxed);
        ctx.sess.tx.flag();
        ctx.out
            .error(error::pubsub_context(&t.full_names[r.id]).as_str());
        return;
    }
    // A monitor is a replica in Redis: it may not touch the keyspace (`pubsub::monitor`).
    if ctx.sess.monitors_seen && crate::pubsub::monitor::refused(ctx, r) {
        st.rejected.fetch_add(1, Ordering::Relaxed);
        ctx.sess.tx.flag();
        ctx.out.error(crate::pubsub::monitor::REPLICA_KEYSPACE);
        return;
    }
    if let Some(max) = crate::keyspace::evict::limit(ctx.srv) {
        // As a Redis replica ignores maxmemory, the primary's writes are never refused.
        if !ctx.sess.replaying && !ctx.sess.from_primary() && out_of_memory(ctx, r, &args, max) {
            st.rejected.fetch_add(1, Ordering::Relaxed);
            transactions::rejected(ctx.srv, ctx.sess, &args, &error::OOM.into(), ctx.out);
            return;
        }
    }
    if let Some(e) = crate::server::replication::write_refused(ctx, r.spec, &args) {
        st.rejected.fetch_add(1, Ordering::Relaxed);
        transactions::rejected(ctx.srv, ctx.sess, &args, &e.into(), ctx.out);
        return;
    }
    if ctx.sess.tx.in_multi() && transactions::queue(ctx, r, &args) {
        return;
    }
    logged_call(ctx, r, args, clock);
}

/// Where a command an ACL refused was to run (the ACL LOG's `context`).
#[derive(Clone, Copy)]
pub enum AclContext {
    /// Sent by the client: `toplevel`, or `multi` when queued in a transaction.
    Client,
    /// Run by EXEC.
    Exec,
    /// Called by a script.
    Script,
}

/// Why the session's user may not run command `id` with `args`, if it may not; the refusal is
/// recorded in the ACL log. Users that may do anything cost one load.
#[inline]
pub fn acl_refused(
    ctx: &Ctx,
    id: usize,
    args: Args,
    context: AclContext,
) -> Option<crate::acl::Denied> {
    let user = ctx.sess.restricted(&ctx.srv.acl)?;
    let d = user.rules().check(id, table().specs[id], args).err()?;
    acl_log(ctx, &d, context, id);
    Some(d)
}

#[cold]
fn acl_log(ctx: &Ctx, d: &crate::acl::Denied, context: AclContext, id: usize) {
    let context = match context {
        AclContext::Client if !ctx.sess.tx.in_multi() => "toplevel",
        AclContext::Client | AclContext::Exec => "multi",
        AclContext::Script => "lua",
    };
    let info = ctx.sess.info.line(&table().full_names[id]);
    let user = ctx.sess.user_in(&ctx.srv.acl);
    ctx.srv.acl.log_denied(d, context, user, info, ctx.now);
}

/// Under `maxmemory`: evicts what the policy allows (`keyspace::evict`), and says whether the
/// command must be refused because memory is still over the limit. As Redis's
/// `processCommand`: commands flagged `denyoom` are refused, EXEC when it would run one, and
/// inside MULTI everything but EXEC, DISCARD, QUIT and RESET (queueing takes memory too).
/// A script or function that declares flags is refused unless they say `no-writes` or
/// `allow-oom`; one without (a plain EVAL) runs, and `session::Session::script_oom` then
/// refuses its first `denyoom` command.
fn out_of_memory(ctx: &mut Ctx, r: &Resolved, args: &Args, max: u64) -> bool {
    let over = !crate::keyspace::evict::perform(ctx.srv, max);
    let name = table().full_names[r.id].as_str();
    let script = matches!(
        name,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    );
    if script {
        let f = if over {
            ctx.srv.scripts.call_flags(name, args)
        } else {
            Default::default()
        };
        ctx.sess.script_oom = over && !f.allow_oom;
        return over && f.shebang && !f.no_writes && !f.allow_oom;
    }
    if name == "exec" {
        ctx.sess.script_oom = over;
    }
    if !over {
        return false;
    }
    if r.spec.flags & flag::DENYOOM != 0 {
        return true;
    }
    if name == "exec" {
        return ctx.sess.tx.queued_with(flag::DENYOOM);
    }
    ctx.sess.tx.in_multi() && !matches!(name, "discard" | "quit" | "reset")
}

/// [`call`] for a client's own command or one its transaction runs, which the slow log sees as
/// the client's (a script's commands are logged as its script client's, `scripting::engine`).
pub fn logged_call(ctx: &mut Ctx, r: &Resolved, args: Args, clock: &mut Instant) {
    use crate::server::session::Action;
    let us = call(ctx, r, args, clock);
    if matches!(ctx.sess.action, Some(Action::Block(_))) {
        // Redis logs a command that blocked when it is served (or ended by an error), so the
        // log shows it after what woke it; one that times out is not logged.
        let e = slowlog::entry(ctx, r.spec, &args, slowlog::Caller::Client);
        if let Some(Action::Block(b)) = ctx.sess.action.as_mut() {
            b.slow = e.map(|e| (e, us));
        }
        return;
    }
    slowlog::record(ctx, r.spec, &args, us, slowlog::Caller::Client);
}

/// Runs the handler and keeps the statistics (INFO commandstats, the latency histograms and
/// monitor); returns how long it ran, in microseconds.
pub fn call(ctx: &mut Ctx, r: &Resolved, args: Args, clock: &mut Instant) -> u64 {
    let st = &table().stats[r.id];
    if let Some(t) = ctx.sess.tracking.as_deref_mut() {
        crate::pubsub::tracking::before_command(t, r.spec.flags & flag::READONLY != 0);
    }
    let res = if r.spec.flags & flag::WRITE != 0 && feed_stream::write_refused(r.spec, &args) {
        Err(error::FEED_READ_ONLY.into())
    } else {
        (r.spec.handler)(ctx, args)
    };
    let end = Instant::now();
    let d = end.duration_since(*clock);
    // In u64 (`as_nanos` is u128 arithmetic): wraps only past 584 years.
    let mut ns = d.as_secs() * 1_000_000_000 + u64::from(d.subsec_nanos());
    *clock = end;
    if ctx.sess.action.is_some() {
        ns += timed_pause(ctx);
    }
    let us = ns / 1000;
    let hot = &ctx.srv.config.hot;
    count_call(r.id, ns, us, hot.latency_tracking.load(Ordering::Relaxed));
    if ns >= hot.latency_monitor_ns.load(Ordering::Relaxed) {
        latency::sample(ctx.srv, r.spec, ns);
    }
    if let Err(e) = res {
        st.failed.fetch_add(1, Ordering::Relaxed);
        ctx.srv.stats.error_reply(e.as_str());
        if ctx.sess.from_primary() {
            crate::server::follow::primary_command_failed(&args, e.as_str());
        }
        ctx.out.error(e.as_str());
    }
    // MONITOR lines and client-side caching, only if this batch saw a monitor or the
    // connection tracks (`pubsub::after_command`).
    if ctx.sess.monitors_seen || ctx.sess.tracking.is_some() {
        crate::pubsub::after_command(ctx, r, args);
    }
    us
}

/// The pause the command just asked for, in nanoseconds, if it counts as its run time (DEBUG
/// SLEEP). Its connection sleeps once the batch is answered, pausing only that client; Redis
/// sleeps inside the command, so its statistics, the slow log and the latency monitor see the
/// pause as the command's duration: so do Eddy's.
#[cold]
fn timed_pause(ctx: &Ctx) -> u64 {
    match ctx.sess.action {
        Some(crate::server::session::Action::Sleep { pause, timed: true }) => {
            pause.as_nanos() as u64
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests;
