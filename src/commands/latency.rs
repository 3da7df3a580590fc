//! LATENCY DOCTOR/GRAPH/HISTOGRAM/HISTORY/LATEST/RESET/HELP and INFO latencystats: Redis 7.0's
//! two latency tools, with its replies, texts and errors (`latency.c`).
//!
//! **Per-command histograms** (`latency-tracking`, on by default): every command's duration, in
//! nanoseconds, is counted by the thread that ran it (`commands::count_call`) in a log-linear
//! bucket array: [`bucket`] is a multiply, a `leading_zeros` and a shift, the count a relaxed
//! load and store on a counter only that thread writes. A thread allocates a command's array
//! ([`BUCKETS`] counters, 3.4 KB) the first time it runs that command, so memory follows the
//! commands actually used. Redis keeps an HdrHistogram (1 ns to 1 s, two significant digits);
//! the buckets here are coarser (16 per power of two) but are laid out on the duration scaled
//! by 128/129, which puts their edges exactly where Redis's LATENCY HISTOGRAM draws its lines
//! (`2^k µs` plus HdrHistogram's 1/128 resolution step above it): the cumulative counts it
//! prints are Redis's for the same durations. Percentiles (INFO latencystats,
//! `latency-tracking-info-percentiles`) are the highest duration of the bucket the percentile
//! falls in, as HdrHistogram reports them, so within 1/16 of Redis's. CONFIG RESETSTAT empties
//! them (by remembering the totals at the reset, as for the call counters).
//!
//! **The latency monitor** (`latency-monitor-threshold`, milliseconds, 0 = off): a command that
//! ran at least that long is a sample of the event `command`, or `fast-command` for one flagged
//! FAST; each event keeps Redis's history of 160 samples, one per second (the slowest of that
//! second), and its all-time maximum. A command below the threshold costs one relaxed load.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use super::{cmd, flag::*, table, CommandSpec, Ctx};
use crate::error::{CmdError, CmdResult};
use crate::protocol::resp::Args;
use crate::server::Server;
use crate::util::c_str;

const SV: &[&str] = &["admin", "slow", "dangerous"];
const DIAG: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "latency",
    arity: -2,
    flags: 0,
    keys: (0, 0, 0),
    acl: &["slow"],
    group: "server",
    summary: "A container for latency diagnostics commands",
    syntax: "",
    since: "2.8.13",
    complexity: "Depends on subcommand.",
    handler: super::container,
    subcommands: &[
        cmd!(
            "doctor",
            2,
            DIAG,
            (0, 0, 0),
            SV,
            "server",
            latency_doctor,
            "Return a human readable latency analysis report.",
            "",
            "2.8.13",
            "O(1)"
        ),
        cmd!(
            "graph",
            3,
            DIAG,
            (0, 0, 0),
            SV,
            "server",
            latency_graph,
            "Return a latency graph for the event.",
            "event",
            "2.8.13",
            "O(1)"
        ),
        cmd!(
            "help",
            2,
            LOADING | STALE,
            (0, 0, 0),
            &["slow"],
            "server",
            latency_help,
            "Show helpful text about the different subcommands.",
            "",
            "2.8.13",
            "O(1)"
        ),
        cmd!(
            "histogram",
            -2,
            DIAG,
            (0, 0, 0),
            SV,
            "server",
            latency_histogram,
            "Return the cumulative distribution of latencies of a subset of commands or all.",
            "[command [command ...]]",
            "7.0.0",
            "O(N) where N is the number of commands with latency information being retrieved."
        ),
        cmd!(
            "history",
            3,
            DIAG,
            (0, 0, 0),
            SV,
            "server",
            latency_history,
            "Return timestamp-latency samples for the event.",
            "event",
            "2.8.13",
            "O(1)"
        ),
        cmd!(
            "latest",
            2,
            DIAG,
            (0, 0, 0),
            SV,
            "server",
            latency_latest,
            "Return the latest latency samples for all events.",
            "",
            "2.8.13",
            "O(1)"
        ),
        cmd!(
            "reset",
            -2,
            DIAG,
            (0, 0, 0),
            SV,
            "server",
            latency_reset,
            "Reset latency data for one or more events.",
            "[event [event ...]]",
            "2.8.13",
            "O(1)"
        ),
    ],
}];

// ---------------------------------------------------------------------------------------------
// Per-command histograms
// ---------------------------------------------------------------------------------------------

/// Buckets per power of two of the scaled duration.
const SUB_BITS: u32 = 4;
/// Scaled durations below 2^30 (Redis's 1 s ceiling, scaled, is below it): 16 exact values,
/// then 16 buckets per power of two.
pub const BUCKETS: usize = ((30 - SUB_BITS + 1) as usize) << SUB_BITS;
/// One command's counters on one thread.
pub type Buckets = [AtomicU64; BUCKETS];
/// Summed counters.
pub type Counts = [u64; BUCKETS];

/// Redis records durations up to 1 s; longer ones count as 1 s.
const MAX_NS: u64 = 1_000_000_000;
/// LATENCY HISTOGRAM's lines are at 2^k µs (as 1024·2^k ns) for k = 0..20...
const LEVELS: u32 = 20;
/// ...and a last one for everything above: the top of HdrHistogram's range for 1 s.
const LAST_LABEL_US: u64 = ((1 << 30) - 1) / 1000;

pub fn new_buckets() -> Box<Buckets> {
    Box::new(std::array::from_fn(|_| AtomicU64::new(0)))
}

/// The bucket of a duration in nanoseconds.
#[inline]
pub fn bucket(ns: u64) -> usize {
    bucket_of_scaled(ns.min(MAX_NS) * 128 / 129)
}

/// The bucket of a scaled duration: exact below 32, else by its top five bits.
#[inline]
fn bucket_of_scaled(x: u64) -> usize {
    let top = 63 - (x | (1 << SUB_BITS)).leading_zeros();
    let shift = top - SUB_BITS;
    ((shift as usize) << SUB_BITS) + (x >> shift) as usize
}

/// The scaled durations of bucket `i`: `[low, high)`.
fn scaled_range(i: usize) -> (u64, u64) {
    let block = i >> SUB_BITS;
    if block <= 1 {
        return (i as u64, i as u64 + 1);
    }
    let shift = block - 1;
    let sub = (i & ((1 << SUB_BITS) - 1)) as u64 + (1 << SUB_BITS);
    (sub << shift, (sub + 1) << shift)
}

/// The shortest duration (ns) whose scaled value is at least `x`.
fn unscaled(x: u64) -> u64 {
    (x * 129).div_ceil(128)
}

/// `(label in µs, cumulative count)` for each of LATENCY HISTOGRAM's lines at which the count
/// grows, as Redis prints them.
fn cumulative(h: &Counts) -> Vec<(u64, u64)> {
    let mut lines = Vec::new();
    let (mut cum, mut i) = (0u64, 0usize);
    for k in 0..LEVELS {
        let edge = 1u64 << (k + 10);
        while i < bucket_of_scaled(edge) {
            cum += h[i];
            i += 1;
        }
        if cum > lines.last().map_or(0, |&(_, c)| c) {
            lines.push(((unscaled(edge) - 1) / 1000, cum));
        }
    }
    let total: u64 = h.iter().sum();
    if total > cum {
        lines.push((LAST_LABEL_US, total));
    }
    lines
}

/// The duration (ns) at percentile `p`, as HdrHistogram's `hdr_value_at_percentile`: the highest
/// value of the bucket holding that count (the lowest for percentile 0).
fn value_at_percentile(h: &Counts, p: f64) -> u64 {
    let total: u64 = h.iter().sum();
    let want = ((p.min(100.0) / 100.0 * total as f64 + 0.5) as u64).max(1);
    let mut cum = 0;
    for (i, &n) in h.iter().enumerate() {
        cum += n;
        if cum >= want {
            let (low, high) = scaled_range(i);
            return if p == 0.0 {
                unscaled(low).max(1)
            } else {
                unscaled(high) - 1
            };
        }
    }
    0
}

/// `latency-tracking-info-percentiles`, validated and written as Redis does: numbers between 0
/// and 100 separated by single spaces (`strtod`'s syntax), each shown as `%f` without trailing
/// zeros; "" is none.
pub fn canonical_percentiles(v: &str) -> Result<String, String> {
    Ok(parse_percentiles(v)?
        .iter()
        .map(|&p| fmt_percentile(p))
        .collect::<Vec<_>>()
        .join(" "))
}

fn parse_percentiles(v: &str) -> Result<Vec<f64>, String> {
    if v.is_empty() {
        return Ok(Vec::new());
    }
    v.split(' ')
        .map(|w| {
            let p = crate::util::num::parse_f64(w.as_bytes())
                .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
            if !(0.0..=100.0).contains(&p) {
                return Err(
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                        .to_string(),
                );
            }
            Ok(p)
        })
        .collect()
}

/// C's `%f` with trailing zeros (and a trailing point) trimmed (`trimDoubleString`).
fn fmt_percentile(p: f64) -> String {
    crate::util::num::strip_zeros(&format!("{p:.6}")).to_string()
}

/// INFO latencystats: each command's percentiles, in microseconds; nothing while
/// `latency-tracking` is off.
pub fn info(srv: &Server, kv: &mut dyn FnMut(&str, String)) {
    if !srv.config.hot.latency_tracking.load(Ordering::Relaxed) {
        return;
    }
    let ps =
        parse_percentiles(&srv.config.get("latency-tracking-info-percentiles")).unwrap_or_default();
    let t = table();
    for id in 0..t.specs.len() {
        let Some(h) = super::latency_counts(id) else {
            continue;
        };
        let mut v = String::new();
        for (j, &p) in ps.iter().enumerate() {
            let us = value_at_percentile(&h, p) as f64 / 1000.0;
            let sep = if j == 0 { "" } else { "," };
            let _ = write!(v, "{sep}p{}={us:.3}", fmt_percentile(p));
        }
        kv(&format!("latency_percentiles_usec_{}", t.full_names[id]), v);
    }
}

/// A command named as COMMAND INFO names it (`get`, `config|get`), case-insensitively.
fn lookup_full_name(name: &[u8]) -> Option<usize> {
    let t = table();
    let mut parts = name.split(|&b| b == b'|');
    let base = t.lookup(parts.next()?)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(base),
        (Some(sub), None) => t.lookup_sub(base, sub),
        _ => None,
    }
}

fn latency_histogram(ctx: &mut Ctx, a: Args) -> CmdResult {
    let t = table();
    let mut ids = Vec::new();
    if a.len() == 2 {
        ids.extend(0..t.specs.len());
    } else {
        // Each named command, then its subcommands; unknown names are skipped.
        for name in a.iter().skip(2) {
            if let Some(id) = lookup_full_name(name) {
                ids.push(id);
                ids.extend(t.subcommand_ids(id));
            }
        }
    }
    let shown: Vec<(usize, Box<Counts>)> = ids
        .into_iter()
        .filter_map(|id| Some((id, super::latency_counts(id)?)))
        .collect();
    ctx.out.map(shown.len());
    for (id, h) in shown {
        ctx.out.bulk_str(&t.full_names[id]);
        ctx.out.map(2);
        ctx.out.bulk_str("calls");
        ctx.out.int(h.iter().sum::<u64>() as i64);
        let lines = cumulative(&h);
        ctx.out.bulk_str("histogram_usec");
        ctx.out.map(lines.len());
        for (us, n) in lines {
            ctx.out.int(us as i64);
            ctx.out.int(n as i64);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The latency monitor
// ---------------------------------------------------------------------------------------------

/// Samples kept per event (`LATENCY_TS_LEN`).
const HISTORY: usize = 160;
/// Columns of LATENCY GRAPH.
const GRAPH_COLS: usize = 80;

#[derive(Clone, Copy, Default)]
struct Sample {
    /// Unix seconds; 0 = an empty slot.
    time: i64,
    ms: u64,
}

/// One event's time series: a ring of one sample per second, oldest overwritten.
struct Series {
    event: &'static str,
    /// The slot the next new second goes to.
    next: usize,
    /// All-time maximum (kept until LATENCY RESET).
    max: u64,
    samples: [Sample; HISTORY],
}

impl Series {
    fn last(&self) -> &Sample {
        &self.samples[(self.next + HISTORY - 1) % HISTORY]
    }

    /// The samples, oldest first.
    fn in_order(&self) -> impl Iterator<Item = &Sample> {
        (0..HISTORY)
            .map(move |j| &self.samples[(self.next + j) % HISTORY])
            .filter(|s| s.time != 0)
    }
}

/// The events, in the order they first happened.
#[derive(Default)]
pub struct Monitor {
    events: Mutex<Vec<Series>>,
}

impl Monitor {
    /// Records `ms` for `event` at `now` (`latencyAddSample`): a second already sampled keeps
    /// its slowest.
    fn add(&self, event: &'static str, ms: u64, now: i64) {
        let mut events = self.events.lock();
        let i = match events.iter().position(|s| s.event == event) {
            Some(i) => i,
            None => {
                events.push(Series {
                    event,
                    next: 0,
                    max: 0,
                    samples: [Sample::default(); HISTORY],
                });
                events.len() - 1
            }
        };
        let s = &mut events[i];
        s.max = s.max.max(ms);
        let prev = (s.next + HISTORY - 1) % HISTORY;
        if s.samples[prev].time == now {
            s.samples[prev].ms = s.samples[prev].ms.max(ms);
            return;
        }
        s.samples[s.next] = Sample { time: now, ms };
        s.next = (s.next + 1) % HISTORY;
    }
}

/// Called by `commands::call` for a command that ran at least `latency-monitor-threshold`.
#[cold]
pub fn sample(srv: &Server, spec: &CommandSpec, ns: u64) {
    let event = if spec.flags & FAST != 0 {
        "fast-command"
    } else {
        "command"
    };
    add_now(srv, event, ns);
}

/// Records `event`, which took `ns`, if that reaches `latency-monitor-threshold` (Redis's
/// `latencyAddSampleIfNeeded`): for the server's own work, such as `expire-cycle`.
pub fn sample_if_needed(srv: &Server, event: &'static str, ns: u64) {
    if ns >= srv.config.hot.latency_monitor_ns.load(Ordering::Relaxed) {
        add_now(srv, event, ns);
    }
}

fn add_now(srv: &Server, event: &'static str, ns: u64) {
    let now = (crate::util::now_ms() / 1000) as i64;
    srv.latency.add(event, ns / 1_000_000, now);
}

/// The event named exactly (Redis's event table compares case-sensitively).
fn find<'s>(events: &'s [Series], name: &[u8]) -> Option<&'s Series> {
    let name = c_str(name);
    events.iter().find(|s| s.event.as_bytes() == name)
}

fn latency_latest(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let events = ctx.srv.latency.events.lock();
    ctx.out.array(events.len());
    for s in events.iter() {
        let last = s.last();
        ctx.out.array(4);
        ctx.out.bulk_str(s.event);
        ctx.out.int(last.time);
        ctx.out.int(last.ms as i64);
        ctx.out.int(s.max as i64);
    }
    Ok(())
}

fn latency_history(ctx: &mut Ctx, a: Args) -> CmdResult {
    let events = ctx.srv.latency.events.lock();
    let samples: Vec<Sample> = find(&events, a.get(2))
        .map(|s| s.in_order().copied().collect())
        .unwrap_or_default();
    ctx.out.array(samples.len());
    for s in samples {
        ctx.out.array(2);
        ctx.out.int(s.time);
        ctx.out.int(s.ms as i64);
    }
    Ok(())
}

fn latency_reset(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut events = ctx.srv.latency.events.lock();
    let before = events.len();
    if a.len() == 2 {
        events.clear();
    } else {
        let names: Vec<&[u8]> = a.iter().skip(2).map(c_str).collect();
        events.retain(|s| {
            !names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(s.event.as_bytes()))
        });
    }
    let n = before - events.len();
    drop(events);
    ctx.out.int(n as i64);
    Ok(())
}

fn latency_graph(ctx: &mut Ctx, a: Args) -> CmdResult {
    let now = (crate::util::now_ms() / 1000) as i64;
    let graph = {
        let events = ctx.srv.latency.events.lock();
        let Some(s) = find(&events, a.get(2)) else {
            return Err(CmdError::owned(format!(
                "ERR No samples available for event '{}'",
                String::from_utf8_lossy(c_str(a.get(2)))
            )));
        };
        graph(s, now)
    };
    ctx.out.verbatim(&graph);
    Ok(())
}

/// LATENCY GRAPH's text: a header, a rule, and a sparkline of the samples with how long ago
/// each was as its vertical label.
fn graph(s: &Series, now: i64) -> String {
    let samples: Vec<(u64, String)> = s
        .in_order()
        .map(|smp| {
            let ago = now - smp.time;
            let label = match ago {
                a if a < 60 => format!("{a}s"),
                a if a < 3600 => format!("{}m", a / 60),
                a if a < 86400 => format!("{}h", a / 3600),
                a => format!("{}d", a / 86400),
            };
            (smp.ms, label)
        })
        .collect();
    let low = samples.iter().map(|x| x.0).min().unwrap_or(0);
    let high = samples.iter().map(|x| x.0).max().unwrap_or(0);
    let mut out = format!(
        "{} - high {high} ms, low {low} ms (all time high {} ms)\n{}\n",
        s.event,
        s.max,
        "-".repeat(GRAPH_COLS)
    );
    for (n, chunk) in samples.chunks(GRAPH_COLS).enumerate() {
        if n > 0 {
            out.push('\n');
        }
        sparkline(&mut out, chunk, low as f64, high as f64);
    }
    out
}

/// Redis's filled ASCII sparkline (`sparkline.c`, 4 rows of 3 levels each), then a blank row
/// and the labels written downwards.
fn sparkline(out: &mut String, samples: &[(u64, String)], min: f64, max: f64) {
    const ROWS: i64 = 4;
    const FILL: &[u8] = b"_o#";
    let levels = FILL.len() as i64;
    let steps = levels * ROWS;
    let relmax = if max - min == 0.0 { 1.0 } else { max - min };
    let step_of = |v: u64| -> i64 {
        // C: `(int)(relval * steps) / relmax`, truncated again into an int.
        let scaled = ((v as f64 - min) * steps as f64) as i64;
        ((scaled as f64 / relmax) as i64).clamp(0, steps - 1)
    };
    for row in 0..ROWS {
        for &(v, _) in samples {
            let idx = step_of(v) - (ROWS - row - 1) * levels;
            out.push(match idx {
                i if i >= levels => '|',
                i if i >= 0 => FILL[i as usize] as char,
                _ => ' ',
            });
        }
        out.push('\n');
    }
    out.push_str(&" ".repeat(samples.len()));
    out.push('\n');
    for row in 0.. {
        if !samples.iter().any(|(_, l)| l.len() > row) {
            break;
        }
        for (_, l) in samples {
            out.push(l.as_bytes().get(row).map_or(' ', |&c| c as char));
        }
        out.push('\n');
    }
}

/// One event's statistics for the doctor (`analyzeLatencyForEvent`).
struct Stats {
    samples: u64,
    avg: u64,
    mad: u64,
    period: i64,
}

fn analyze(s: &Series, now: i64) -> Stats {
    let ms: Vec<u64> = s.in_order().map(|x| x.ms).collect();
    let n = ms.len() as u64;
    if n == 0 {
        return Stats {
            samples: 0,
            avg: 0,
            mad: 0,
            period: 0,
        };
    }
    let avg = ms.iter().sum::<u64>() / n;
    let oldest = s.in_order().map(|x| x.time).min().unwrap_or(now);
    let period = (now - oldest).max(0);
    Stats {
        samples: n,
        avg,
        mad: ms.iter().map(|&m| m.abs_diff(avg)).sum::<u64>() / n,
        period: if period == 0 { 1 } else { period },
    }
}

const DOCTOR_DISABLED: &str = "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n";
const DOCTOR_NOTHING: &str = "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n";
const DOCTOR_SPIKES: &str = "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n";
const DOCTOR_NO_ADVICE: &str = "\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n";
const ADVICE_INSPECT_SLOWLOG: &str = "- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n";
const ADVICE_SCHEDULER: &str = "- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n";
const ADVICE_LARGE_OBJECTS: &str = "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n";
const ADVICE_THP: &str = "- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n";

/// LATENCY DOCTOR's report (`createLatencyReport`), for the events Eddy records (`command`,
/// `fast-command`) and the transparent-huge-pages check.
fn doctor(srv: &Server, now: i64) -> String {
    let threshold = srv.config.get_i64("latency-monitor-threshold").max(0) as u64;
    let events = srv.latency.events.lock();
    if events.is_empty() && threshold == 0 {
        return DOCTOR_DISABLED.to_string();
    }
    let slowlog_us = srv
        .config
        .hot
        .slowlog_log_slower_than
        .load(Ordering::Relaxed);
    let (mut slowlog_off, mut slowlog_tuning, mut commands, mut scheduler) =
        (false, false, false, false);
    let mut advices = 0;
    let mut report = String::new();
    for (n, s) in events.iter().enumerate() {
        if n == 0 {
            report.push_str(DOCTOR_SPIKES);
        }
        let st = analyze(s, now);
        let _ = writeln!(
            report,
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). Worst all time event {}ms.",
            n + 1,
            s.event,
            st.samples,
            st.avg,
            st.mad,
            st.period as f64 / st.samples.max(1) as f64,
            s.max
        );
        if s.event == "command" {
            if slowlog_us < 0 {
                slowlog_off = true;
                advices += 1;
            } else if (slowlog_us / 1000) as u64 > threshold {
                slowlog_tuning = true;
                advices += 1;
            }
            commands = true;
            advices += 2;
        } else if s.event == "fast-command" {
            scheduler = true;
            advices += 1;
        }
    }
    let thp = anon_huge_pages() > 0;
    if thp {
        advices += 1;
    }
    if events.is_empty() && advices == 0 {
        report.push_str(DOCTOR_NOTHING);
        return report;
    }
    if advices == 0 {
        report.push_str(DOCTOR_NO_ADVICE);
        return report;
    }
    report.push_str("\nI have a few advices for you:\n\n");
    let suggested = threshold.saturating_mul(1000);
    if slowlog_off {
        let _ = writeln!(
            report,
            "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {suggested}'. If the Slow log is disabled Redis is not able to log slow commands execution for you."
        );
    }
    if slowlog_tuning {
        let _ = writeln!(
            report,
            "- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {suggested}'."
        );
    }
    if commands {
        report.push_str(ADVICE_INSPECT_SLOWLOG);
    }
    if scheduler {
        report.push_str(ADVICE_SCHEDULER);
    }
    if commands {
        report.push_str(ADVICE_LARGE_OBJECTS);
    }
    if thp {
        report.push_str(ADVICE_THP);
    }
    report
}

/// Bytes of transparent huge pages mapped by this process (`AnonHugePages` in smaps).
fn anon_huge_pages() -> u64 {
    for path in ["/proc/self/smaps_rollup", "/proc/self/smaps"] {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text
                .lines()
                .filter_map(|l| l.strip_prefix("AnonHugePages:"))
                .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
                .sum::<u64>()
                * 1024;
        }
    }
    0
}

fn latency_doctor(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let now = (crate::util::now_ms() / 1000) as i64;
    let report = doctor(ctx.srv, now);
    ctx.out.verbatim(&report);
    Ok(())
}

fn latency_help(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let lines = [
        "DOCTOR",
        "    Return a human readable latency analysis report.",
        "GRAPH <event>",
        "    Return an ASCII latency graph for the <event> class.",
        "HISTORY <event>",
        "    Return time-latency samples for the <event> class.",
        "LATEST",
        "    Return the latest latency samples for all events.",
        "RESET [<event> ...]",
        "    Reset latency data of one or more <event> classes.",
        "    (default: reset all data for all event classes)",
        "HISTOGRAM [COMMAND ...]",
        "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
        "    If no commands are specified then all histograms are replied.",
    ];
    super::subcommand_help(ctx, "LATENCY", &lines);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(durations_ns: &[u64]) -> Counts {
        let mut h = [0u64; BUCKETS];
        for &d in durations_ns {
            h[bucket(d)] += 1;
        }
        h
    }

    #[test]
    fn buckets_cover_the_range_in_order_and_without_gaps() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(u64::MAX), bucket(MAX_NS));
        assert!(bucket(MAX_NS) < BUCKETS);
        for i in 0..BUCKETS - 1 {
            let (lo, hi) = scaled_range(i);
            assert_eq!(scaled_range(i + 1).0, hi, "bucket {i}");
            assert_eq!(bucket_of_scaled(lo), i);
            assert_eq!(bucket_of_scaled(hi - 1), i);
        }
        let mut last = 0;
        for ns in (0..5000).chain((1..1000).map(|i| i * 1_000_003)) {
            let b = bucket(ns);
            assert!(b >= last, "{ns}");
            last = b;
        }
    }

    /// HdrHistogram (two significant digits) puts 2^k µs-as-1024·2^k-ns plus one resolution
    /// step (1/128) on the line of 2^k µs: the buckets' edges fall exactly there.
    #[test]
    fn histogram_lines_are_redis_lines() {
        let labels: Vec<u64> = cumulative(&counts(
            &(0..21)
                .map(|k| (1024u64 << k).min(MAX_NS))
                .collect::<Vec<_>>(),
        ))
        .iter()
        .map(|l| l.0)
        .collect();
        assert_eq!(
            labels,
            [
                1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454, 16908, 33816, 67633,
                135266, 270532, 541065, 1073741
            ]
        );
        for k in 0..20u32 {
            let edge = (1024u64 << k) + (8u64 << k); // Redis's first duration past the line
            let h = counts(&[edge - 1, edge]);
            let lines = cumulative(&h);
            assert_eq!(lines[0], ((edge - 1) / 1000, 1), "{k}");
            assert_eq!(lines[1].1, 2);
        }
        // Empty lines are not printed; everything past 541065215 ns is on the last one.
        assert_eq!(
            cumulative(&counts(&[500, 3_000, 700_000_000, 5_000_000_000])),
            [(1, 1), (4, 2), (1073741, 4)]
        );
    }

    #[test]
    fn percentiles_are_the_top_of_their_bucket() {
        let h = counts(
            &[1000; 99]
                .iter()
                .copied()
                .chain([5_000_000])
                .collect::<Vec<_>>(),
        );
        let p50 = value_at_percentile(&h, 50.0);
        assert!((1000..1000 + 1000 / 16).contains(&p50), "{p50}");
        assert_eq!(bucket(p50), bucket(1000));
        assert_eq!(bucket(p50 + 1), bucket(1000) + 1);
        assert!(value_at_percentile(&h, 0.0) <= 1000);
        assert!(value_at_percentile(&h, 100.0) >= 5_000_000);
        assert_eq!(value_at_percentile(&h, 99.0), p50);
    }

    #[test]
    fn percentile_option_is_validated_and_written_as_redis_does() {
        assert_eq!(canonical_percentiles("50 99 99.9").unwrap(), "50 99 99.9");
        assert_eq!(
            canonical_percentiles("0 0.5 50.0 99.99 100 1e1 0x10 1.23456789").unwrap(),
            "0 0.5 50 99.99 100 10 16 1.234568"
        );
        assert_eq!(canonical_percentiles("").unwrap(), "");
        let invalid = "Invalid latency-tracking-info-percentiles parameters";
        let range = "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]";
        for (v, e) in [
            ("50 abc", invalid),
            (" ", invalid),
            ("  7   8 ", invalid),
            ("nan", invalid),
            ("101", range),
            ("-1", range),
            ("inf", range),
            ("101 abc", range),
        ] {
            assert_eq!(canonical_percentiles(v).unwrap_err(), e, "{v:?}");
        }
    }

    #[test]
    fn one_sample_per_second_keeps_the_slowest_and_the_ring_keeps_160() {
        let m = Monitor::default();
        m.add("command", 5, 100);
        m.add("command", 9, 100);
        m.add("command", 7, 100);
        m.add("command", 3, 101);
        let ev = m.events.lock();
        let got: Vec<(i64, u64)> = ev[0].in_order().map(|s| (s.time, s.ms)).collect();
        assert_eq!(got, [(100, 9), (101, 3)]);
        assert_eq!(ev[0].max, 9);
        drop(ev);
        for t in 0..200 {
            m.add("command", t as u64, 1000 + t);
        }
        let ev = m.events.lock();
        let times: Vec<i64> = ev[0].in_order().map(|s| s.time).collect();
        assert_eq!(times.len(), HISTORY);
        assert_eq!(times[0], 1040);
        assert_eq!(ev[0].last().time, 1199);
    }

    #[test]
    fn graph_is_drawn_as_redis_draws_it() {
        let m = Monitor::default();
        m.add("command", 3, 98);
        m.add("command", 1200, 99);
        m.add("command", 100, 100);
        let ev = m.events.lock();
        let want = format!(
            "command - high 1200 ms, low 3 ms (all time high 1200 ms)\n{}\n # \n | \n | \n_|_\n   \n210\nsss\n",
            "-".repeat(80)
        );
        assert_eq!(graph(&ev[0], 100), want);
    }
}
