//! LATENCY and INFO latencystats: per-command histograms (`latency-tracking`,
//! `latency-tracking-info-percentiles`, CONFIG RESETSTAT), the latency monitor
//! (`latency-monitor-threshold`, LATEST/HISTORY/GRAPH/RESET/DOCTOR), their replies in RESP2 and
//! RESP3, and their errors. Passes against redis-server too (`EDDY_TEST_SERVER=redis-server`).

mod common;

use common::{q, qerr, qv, reference_mode, vpairs, vstr, Server};
use redis::Value;

/// The lines LATENCY HISTOGRAM can print (Redis's HdrHistogram iterated by powers of two).
const LINES_US: [i64; 21] = [
    1, 2, 4, 8, 16, 33, 66, 132, 264, 528, 1056, 2113, 4227, 8454, 16908, 33816, 67633, 135266,
    270532, 541065, 1073741,
];

/// A server on which DEBUG runs (redis-server refuses it unless enabled).
fn start() -> Server {
    if reference_mode() {
        Server::start_with(&["--enable-debug-command", "yes"])
    } else {
        Server::start()
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        other => panic!("not an integer: {other:?}"),
    }
}

/// Integer pairs of a RESP3 map or a RESP2 flat array.
fn int_pairs(v: &Value) -> Vec<(i64, i64)> {
    match v {
        Value::Map(m) => m.iter().map(|(k, v)| (int(k), int(v))).collect(),
        Value::Array(a) => a.chunks(2).map(|p| (int(&p[0]), int(&p[1]))).collect(),
        other => panic!("not a map: {other:?}"),
    }
}

struct Histogram {
    command: String,
    calls: i64,
    /// (µs, cumulative count)
    lines: Vec<(i64, i64)>,
}

/// LATENCY HISTOGRAM [commands], checked for shape: a map in RESP3, a flat array in RESP2.
fn histograms(c: &mut redis::Connection, commands: &[&str]) -> Vec<Histogram> {
    let mut args = vec!["LATENCY", "HISTOGRAM"];
    args.extend_from_slice(commands);
    let v = qv(c, &args);
    assert!(matches!(v, Value::Map(_) | Value::Array(_)), "{v:?}");
    vpairs(&v)
        .into_iter()
        .map(|(command, body)| {
            let fields = vpairs(&body);
            assert_eq!(
                fields.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
                ["calls", "histogram_usec"],
                "{command}"
            );
            Histogram {
                command,
                calls: int(&fields[0].1),
                lines: int_pairs(&fields[1].1),
            }
        })
        .collect()
}

/// Buckets are Redis's lines, in order, with counts that grow to the number of calls.
fn assert_consistent(h: &Histogram) {
    assert!(!h.lines.is_empty(), "{}", h.command);
    for w in h.lines.windows(2) {
        assert!(
            w[0].0 < w[1].0 && w[0].1 < w[1].1,
            "{}: {:?}",
            h.command,
            h.lines
        );
    }
    for (us, n) in &h.lines {
        assert!(LINES_US.contains(us), "{}: {us} is not a line", h.command);
        assert!(*n > 0);
    }
    assert_eq!(h.lines.last().map(|l| l.1), Some(h.calls), "{}", h.command);
}

fn names(hs: &[Histogram]) -> Vec<&str> {
    hs.iter().map(|h| h.command.as_str()).collect()
}

#[test]
fn histograms_count_each_command_in_cumulative_power_of_two_buckets() {
    let srv = start();
    for (proto, mut c) in srv.conns() {
        q::<()>(&mut c, &["CONFIG", "RESETSTAT"]);
        for i in 0..20 {
            q::<()>(&mut c, &["SET", &format!("k{i}"), "v"]);
        }
        for _ in 0..7 {
            q::<Option<String>>(&mut c, &["GET", "k1"]);
        }
        q::<Value>(&mut c, &["CONFIG", "GET", "maxmemory"]);
        // Unknown names are skipped.
        let hs = histograms(&mut c, &["set", "GET", "nope", "get|x", "config|nope"]);
        assert_eq!(names(&hs), ["set", "get"], "{proto}");
        assert_eq!(hs[0].calls, 20, "{proto}");
        assert_eq!(hs[1].calls, 7, "{proto}");
        hs.iter().for_each(assert_consistent);
        // A container brings the subcommands that ran (RESETSTAT's own call counts after it).
        let hs = histograms(&mut c, &["config"]);
        let mut subs = names(&hs);
        subs.sort_unstable();
        assert_eq!(subs, ["config|get", "config|resetstat"], "{proto}");
        assert!(hs.iter().all(|h| h.calls == 1), "{proto}");
        hs.iter().for_each(assert_consistent);
        let again = histograms(&mut c, &["config|get", "set"]);
        assert_eq!(names(&again), ["config|get", "set"], "{proto}");
        assert!(histograms(&mut c, &["nope", "lpush"]).is_empty(), "{proto}");
        // Without names: every command that ran, this connection's LATENCY calls included.
        let all = histograms(&mut c, &[]);
        for name in ["set", "get", "config|get", "latency|histogram"] {
            assert!(
                names(&all).contains(&name),
                "{proto}: {name} in {:?}",
                names(&all)
            );
        }
        all.iter().for_each(assert_consistent);
    }
}

#[test]
fn scripts_and_transactions_count_the_commands_they_run() {
    let srv = start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CONFIG", "RESETSTAT"]);
    q::<()>(&mut c, &["EVAL", "redis.call('set', 'a', 'b')", "0"]);
    let mut tx = redis::pipe();
    tx.atomic().cmd("SET").arg("a").arg("c").ignore();
    tx.cmd("INCR").arg("n").ignore();
    let _: () = tx.query(&mut c).expect("transaction");
    let hs = histograms(&mut c, &["set", "incr", "eval", "multi", "exec"]);
    let calls: Vec<(&str, i64)> = hs.iter().map(|h| (h.command.as_str(), h.calls)).collect();
    assert_eq!(
        calls,
        [
            ("set", 2),
            ("incr", 1),
            ("eval", 1),
            ("multi", 1),
            ("exec", 1)
        ]
    );
}

#[test]
fn latency_tracking_no_stops_counting_and_config_resetstat_clears() {
    let srv = start();
    let mut c = srv.conn();
    for _ in 0..3 {
        q::<()>(&mut c, &["SET", "k", "v"]);
    }
    q::<()>(&mut c, &["CONFIG", "SET", "latency-tracking", "no"]);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["CONFIG", "GET", "latency-tracking"])[1],
        "no"
    );
    for _ in 0..5 {
        q::<()>(&mut c, &["SET", "k", "v"]);
    }
    q::<Option<String>>(&mut c, &["GET", "k"]);
    // What was counted stays readable; nothing more is counted, and INFO shows none.
    let hs = histograms(&mut c, &["set", "get"]);
    assert_eq!(names(&hs), ["set"]);
    assert_eq!(hs[0].calls, 3);
    let info: String = q(&mut c, &["INFO", "latencystats"]);
    assert_eq!(info.trim_end(), "# Latencystats");

    q::<()>(&mut c, &["CONFIG", "SET", "latency-tracking", "yes"]);
    q::<()>(&mut c, &["SET", "k", "v"]);
    assert_eq!(histograms(&mut c, &["set"])[0].calls, 4);

    q::<()>(&mut c, &["CONFIG", "RESETSTAT"]);
    assert!(histograms(&mut c, &["set", "get"]).is_empty());
    let info: String = q(&mut c, &["INFO", "latencystats"]);
    assert!(!info.contains("usec_set:"), "{info}");
    q::<()>(&mut c, &["SET", "k", "v"]);
    let hs = histograms(&mut c, &["set"]);
    assert_eq!(hs[0].calls, 1);
    assert_consistent(&hs[0]);
}

/// `latency_percentiles_usec_<command>`'s value split into (percentile, microseconds).
fn percentiles(info: &str, command: &str) -> Option<Vec<(String, f64)>> {
    let key = format!("latency_percentiles_usec_{command}:");
    let line = info.lines().find_map(|l| l.strip_prefix(&key))?;
    Some(
        line.split(',')
            .filter(|f| !f.is_empty())
            .map(|f| {
                let (p, us) = f.split_once('=').expect("p=value");
                // Microseconds with three decimals (`%.3f`).
                assert_eq!(us.split_once('.').map(|d| d.1.len()), Some(3), "{f}");
                (p.to_string(), us.parse().expect("a number"))
            })
            .collect(),
    )
}

#[test]
fn info_latencystats_shows_the_configured_percentiles_per_command() {
    let srv = start();
    let mut c = srv.conn();
    for _ in 0..50 {
        q::<()>(&mut c, &["SET", "k", "v"]);
    }
    q::<Value>(&mut c, &["CONFIG", "GET", "port"]);
    let info: String = q(&mut c, &["INFO", "latencystats"]);
    assert!(info.starts_with("# Latencystats\r\n"), "{info}");
    let set = percentiles(&info, "set").expect("set's line");
    let ps: Vec<&str> = set.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(ps, ["p50", "p99", "p99.9"]);
    assert!(
        set[0].1 > 0.0 && set[0].1 <= set[1].1 && set[1].1 <= set[2].1,
        "{set:?}"
    );
    assert!(percentiles(&info, "config|get").is_some(), "{info}");
    assert!(percentiles(&info, "lpush").is_none());

    q::<()>(
        &mut c,
        &[
            "CONFIG",
            "SET",
            "latency-tracking-info-percentiles",
            "0 25.50 100",
        ],
    );
    let info: String = q(&mut c, &["INFO", "latencystats"]);
    let set = percentiles(&info, "set").expect("set's line");
    let ps: Vec<&str> = set.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(ps, ["p0", "p25.5", "p100"]);
    q::<()>(
        &mut c,
        &["CONFIG", "SET", "latency-tracking-info-percentiles", ""],
    );
    let info: String = q(&mut c, &["INFO", "latencystats"]);
    assert_eq!(percentiles(&info, "set"), Some(vec![]), "{info}");

    // Not a default section; part of `all` and `everything`, after errorstats.
    let default: String = q(&mut c, &["INFO"]);
    assert!(!default.contains("# Latencystats"));
    for all in ["all", "everything"] {
        let text: String = q(&mut c, &["INFO", all]);
        let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} in INFO {all}"));
        assert!(at("# Errorstats") < at("# Latencystats"));
        assert!(at("# Latencystats") < at("# Keyspace"));
    }
}

#[test]
fn options_are_validated_as_redis_does() {
    let srv = start();
    let mut c = srv.conn();
    let get = |c: &mut redis::Connection, name: &str| -> String {
        q::<Vec<String>>(c, &["CONFIG", "GET", name])[1].clone()
    };
    assert_eq!(get(&mut c, "latency-monitor-threshold"), "0");
    assert_eq!(get(&mut c, "latency-tracking"), "yes");
    assert_eq!(
        get(&mut c, "latency-tracking-info-percentiles"),
        "50 99 99.9"
    );
    let failed = |name: &str, why: &str| {
        format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
    };
    let (thr, pct) = (
        "latency-monitor-threshold",
        "latency-tracking-info-percentiles",
    );
    let invalid = "Invalid latency-tracking-info-percentiles parameters";
    let range = "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]";
    for (name, value, why) in [
        (
            thr,
            "-1",
            "argument must be between 0 and 9223372036854775807 inclusive",
        ),
        (thr, "abc", "argument couldn't be parsed into an integer"),
        (
            "latency-tracking",
            "maybe",
            "argument must be 'yes' or 'no'",
        ),
        (pct, "50 abc", invalid),
        (pct, "50  99", invalid),
        (pct, "nan", invalid),
        (pct, "101", range),
        (pct, "-0.5", range),
        (pct, "inf", range),
    ] {
        assert_eq!(
            qerr(&mut c, &["CONFIG", "SET", name, value]),
            failed(name, why),
            "{name} {value:?}"
        );
    }
    assert_eq!(get(&mut c, pct), "50 99 99.9");
    q::<()>(
        &mut c,
        &["CONFIG", "SET", pct, "0 0.5 50.0 99.99 100 1e1 1.23456789"],
    );
    assert_eq!(get(&mut c, pct), "0 0.5 50 99.99 100 10 1.234568");
    q::<()>(&mut c, &["CONFIG", "SET", thr, "25"]);
    assert_eq!(get(&mut c, thr), "25");
}

#[test]
fn a_command_slower_than_the_threshold_is_a_latency_event() {
    let srv = start();
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["LATENCY", "LATEST"]), Value::Array(vec![]));
    q::<()>(
        &mut c,
        &["CONFIG", "SET", "latency-monitor-threshold", "50"],
    );
    q::<()>(&mut c, &["DEBUG", "SLEEP", "0.001"]);
    assert_eq!(qv(&mut c, &["LATENCY", "LATEST"]), Value::Array(vec![]));
    q::<()>(&mut c, &["DEBUG", "SLEEP", "0.1"]);
    let now = common::now_ms() / 1000;

    // DEBUG is not a FAST command: the event is `command`.
    let latest = match qv(&mut c, &["LATENCY", "LATEST"]) {
        Value::Array(events) => events,
        other => panic!("{other:?}"),
    };
    assert_eq!(latest.len(), 1, "{latest:?}");
    let event = match &latest[0] {
        Value::Array(f) => f.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(vstr(&event[0]).as_deref(), Some("command"));
    let (time, ms, max) = (int(&event[1]), int(&event[2]), int(&event[3]));
    assert!((now - 5..=now + 1).contains(&time), "{time} vs {now}");
    assert!((100..1000).contains(&ms), "{ms}");
    assert_eq!(max, ms);

    let history = match qv(&mut c, &["LATENCY", "HISTORY", "command"]) {
        Value::Array(h) => h,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        history,
        [Value::Array(vec![Value::Int(time), Value::Int(ms)])]
    );
    // Event names are matched exactly here; an event without samples has no history.
    assert_eq!(
        qv(&mut c, &["LATENCY", "HISTORY", "COMMAND"]),
        Value::Array(vec![])
    );
    assert_eq!(
        qv(&mut c, &["LATENCY", "HISTORY", "fast-command"]),
        Value::Array(vec![])
    );

    let graph: String = q(&mut c, &["LATENCY", "GRAPH", "command"]);
    let mut lines = graph.lines();
    assert_eq!(
        lines.next(),
        Some(format!("command - high {ms} ms, low {ms} ms (all time high {ms} ms)").as_str())
    );
    assert_eq!(lines.next(), Some("-".repeat(80).as_str()));
    assert_eq!(
        qerr(&mut c, &["LATENCY", "GRAPH", "fast-command"]),
        "ERR No samples available for event 'fast-command'"
    );

    let doctor: String = q(&mut c, &["LATENCY", "DOCTOR"]);
    assert!(
        doctor.starts_with(
            "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n1. command: 1 latency spikes (average "
        ),
        "{doctor}"
    );
    assert!(
        doctor.contains(&format!(
            "Worst all time event {ms}ms.\n\nI have a few advices for you:\n\n"
        )),
        "{doctor}"
    );
    assert!(doctor.contains("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n"), "{doctor}");

    // CONFIG RESETSTAT keeps the events; LATENCY RESET names them in any case.
    q::<()>(&mut c, &["CONFIG", "RESETSTAT"]);
    assert_eq!(
        qv(&mut c, &["LATENCY", "HISTORY", "command"]),
        Value::Array(history)
    );
    assert_eq!(q::<i64>(&mut c, &["LATENCY", "RESET", "nope"]), 0);
    assert_eq!(
        q::<i64>(&mut c, &["LATENCY", "RESET", "nope", "COMMAND"]),
        1
    );
    assert_eq!(qv(&mut c, &["LATENCY", "LATEST"]), Value::Array(vec![]));
    assert_eq!(q::<i64>(&mut c, &["LATENCY", "RESET"]), 0);
}

#[test]
fn doctor_without_events_says_what_redis_says() {
    let srv = start();
    let mut c = srv.conn();
    let doctor: String = q(&mut c, &["LATENCY", "DOCTOR"]);
    assert_eq!(
        doctor,
        "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n"
    );
    q::<()>(
        &mut c,
        &["CONFIG", "SET", "latency-monitor-threshold", "100"],
    );
    let doctor: String = q(&mut c, &["LATENCY", "DOCTOR"]);
    // Unless the process has transparent huge pages, which the doctor reports.
    if !doctor.contains("anonymous huge pages") {
        assert_eq!(
            doctor,
            "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n"
        );
    }
    // RESP3 gets the report as a verbatim string.
    let mut c3 = srv.conn3();
    assert!(matches!(
        qv(&mut c3, &["LATENCY", "DOCTOR"]),
        Value::VerbatimString { .. }
    ));
}

#[test]
fn arity_and_subcommand_errors_and_help() {
    let srv = start();
    let mut c = srv.conn();
    for (args, err) in [
        (
            &["LATENCY"][..],
            "ERR wrong number of arguments for 'latency' command",
        ),
        (
            &["LATENCY", "FOO"],
            "ERR unknown subcommand 'FOO'. Try LATENCY HELP.",
        ),
        (
            &["LATENCY", "HISTORY"],
            "ERR wrong number of arguments for 'latency|history' command",
        ),
        (
            &["LATENCY", "GRAPH"],
            "ERR wrong number of arguments for 'latency|graph' command",
        ),
        (
            &["LATENCY", "LATEST", "x"],
            "ERR wrong number of arguments for 'latency|latest' command",
        ),
        (
            &["LATENCY", "DOCTOR", "x"],
            "ERR wrong number of arguments for 'latency|doctor' command",
        ),
        (
            &["LATENCY", "HELP", "x"],
            "ERR wrong number of arguments for 'latency|help' command",
        ),
    ] {
        assert_eq!(qerr(&mut c, args), err, "{args:?}");
    }
    let help: Vec<String> = q(&mut c, &["LATENCY", "HELP"]);
    assert_eq!(help.len(), 17);
    assert_eq!(
        help[0],
        "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    );
    assert_eq!(help[12], "HISTOGRAM [COMMAND ...]");

    // COMMAND INFO lists the subcommands with Redis's arities.
    let info = qv(&mut c, &["COMMAND", "INFO", "latency"]);
    let Value::Array(cmds) = info else {
        panic!("{info:?}")
    };
    let Value::Array(latency) = &cmds[0] else {
        panic!("{cmds:?}")
    };
    let Value::Array(subs) = &latency[9] else {
        panic!("{latency:?}")
    };
    let mut got: Vec<(String, i64)> = subs
        .iter()
        .map(|s| match s {
            Value::Array(f) => (vstr(&f[0]).unwrap_or_default(), int(&f[1])),
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort();
    let want = [
        ("latency|doctor", 2),
        ("latency|graph", 3),
        ("latency|help", 2),
        ("latency|histogram", -2),
        ("latency|history", 3),
        ("latency|latest", 2),
        ("latency|reset", -2),
    ];
    assert_eq!(
        got,
        want.iter()
            .map(|(n, a)| (n.to_string(), *a))
            .collect::<Vec<_>>()
    );
}

/// The active expiry cycle is a latency event of its own, `expire-cycle`, as in Redis: freeing
/// a big expired key takes it past the threshold.
#[test]
fn a_slow_expire_cycle_is_a_latency_event() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CONFIG", "SET", "latency-monitor-threshold", "1"]);
    let fill = "for i = 1, tonumber(ARGV[1]) do redis.call('sadd', KEYS[1], i) end";
    q::<()>(&mut c, &["EVAL", fill, "1", "mybigkey", "300000"]);
    q::<()>(&mut c, &["PEXPIRE", "mybigkey", "50"]);
    assert!(common::poll_until(
        std::time::Duration::from_secs(20),
        || { q::<i64>(&mut c, &["DBSIZE"]) == 0 }
    ));
    let latest = qv(&mut c, &["LATENCY", "LATEST"]);
    assert!(format!("{latest:?}").contains("expire-cycle"), "{latest:?}");
}
