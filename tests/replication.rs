//! A real `redis-server` replicating from Eddy (`redis-server --replicaof`), `redis-cli --rdb`,
//! and the replication handshake on the wire: the full synchronisation carries every value type,
//! TTLs, databases and function libraries; the stream that follows carries every later write,
//! transactions whole; writes made during the synchronisation are neither lost nor applied twice;
//! WAIT counts the replicas that applied the caller's writes.
//!
//! And the other way round: Eddy following a Redis primary (REPLICAOF) gets its image and
//! stream exactly, records them in its change feed, resumes a dropped link with a partial
//! resynchronisation and refuses its own clients' writes while it follows.
//!
//! The tests that need a replica run against redis-server as the primary too
//! (`EDDY_TEST_SERVER=redis-server`), which is how their expectations were checked; so do the
//! follower tests, with redis-server as the follower.

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use redis::Value;

/// A `redis-server` in its own directory, killed on drop: a replica of an Eddy primary
/// ([`Redis::replica_of`]) or a primary that Eddy follows ([`Redis::primary`]).
struct Redis {
    child: Child,
    port: u16,
    /// `--requirepass`, if given.
    pass: Option<String>,
    _dir: TempDir,
}

impl Redis {
    fn spawn(args: &[&str]) -> Redis {
        let dir = TempDir::new("redis");
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            // For DEBUG DIGEST, compared with Eddy's.
            .args(["--enable-debug-command", "yes"])
            .args(args)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let pass = args
            .iter()
            .position(|a| *a == "--requirepass")
            .map(|i| args[i + 1].to_string());
        Redis {
            child,
            port,
            pass,
            _dir: dir,
        }
    }

    fn replica_of(primary_port: u16) -> Redis {
        let r = Redis::spawn(&["--replicaof", "127.0.0.1", &primary_port.to_string()]);
        assert!(
            poll_until(Duration::from_secs(20), || r
                .info("replication")
                .contains("master_link_status:up")),
            "the replica never finished its synchronisation: {}",
            r.info("replication")
        );
        r
    }

    /// A primary that streams its image at once (no diskless delay), with `args`.
    fn primary(args: &[&str]) -> Redis {
        let mut all = vec!["--repl-diskless-sync-delay", "0"];
        all.extend_from_slice(args);
        let r = Redis::spawn(&all);
        assert!(
            poll_until(Duration::from_secs(20), || r
                .info("server")
                .contains("redis_version")),
            "redis-server did not start"
        );
        r
    }

    fn url(&self) -> String {
        match &self.pass {
            Some(p) => format!("redis://:{p}@127.0.0.1:{}/", self.port),
            None => format!("redis://127.0.0.1:{}/", self.port),
        }
    }

    fn conn(&self) -> redis::Connection {
        let c = redis::Client::open(self.url()).expect("url");
        let con = c.get_connection().expect("connect to redis-server");
        con.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        con
    }

    fn info(&self, section: &str) -> String {
        redis::Client::open(self.url())
            .and_then(|c| c.get_connection())
            .and_then(|mut c| redis::cmd("INFO").arg(section).query::<String>(&mut c))
            .unwrap_or_default()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every key of every database as (db, key) → (type, canonical value, absolute expiry).
fn contents(c: &mut redis::Connection) -> Contents {
    let mut all = BTreeMap::new();
    for db in 0..16 {
        let _: () = redis::cmd("SELECT").arg(db).query(c).expect("select");
        let keys: Vec<String> = redis::cmd("KEYS").arg("*").query(c).expect("keys");
        for k in keys {
            let t: String = q(c, &["TYPE", &k]);
            let v = match t.as_str() {
                "string" => format!("{:?}", qv(c, &["GET", &k])),
                "list" => format!("{:?}", qv(c, &["LRANGE", &k, "0", "-1"])),
                "hash" => {
                    let m: BTreeMap<String, String> = q(c, &["HGETALL", &k]);
                    format!("{m:?}")
                }
                "set" => {
                    let mut m: Vec<String> = q(c, &["SMEMBERS", &k]);
                    m.sort();
                    format!("{m:?}")
                }
                "zset" => format!("{:?}", qv(c, &["ZRANGE", &k, "0", "-1", "WITHSCORES"])),
                "stream" => {
                    // Groups by what Redis itself keeps equal on its replicas (its `lag` and
                    // `entries-read` can differ there).
                    let Value::Array(groups) = qv(c, &["XINFO", "GROUPS", &k]) else {
                        panic!("XINFO GROUPS {k}")
                    };
                    let groups: Vec<_> = groups
                        .iter()
                        .map(|g| {
                            ["name", "consumers", "pending", "last-delivered-id"]
                                .map(|f| vget(g, f).map(|v| format!("{v:?}")))
                        })
                        .collect();
                    format!("{:?} {groups:?}", qv(c, &["XRANGE", &k, "-", "+"]))
                }
                other => panic!("unexpected type {other} of {k}"),
            };
            let exp: i64 = q(c, &["PEXPIRETIME", &k]);
            all.insert((db, k), (t, v, exp));
        }
    }
    let _: () = redis::cmd("SELECT").arg(0).query(c).expect("select");
    all
}

type Contents = BTreeMap<(i64, String), (String, String, i64)>;

/// Fails naming the keys whose type, value or expiry differ (values cut short).
/// Asserts that two servers' DEBUG DIGEST agree: Redis's digest of the whole dataset, which
/// Eddy computes the same way. Skipped in reference mode, where the server under test is a
/// redis-server without DEBUG enabled.
fn assert_same_digest(replica: &mut redis::Connection, primary: &mut redis::Connection) {
    if reference_mode() {
        return;
    }
    let d = |c: &mut redis::Connection| q::<String>(c, &["DEBUG", "DIGEST"]);
    assert_eq!(d(replica), d(primary), "DEBUG DIGEST");
}

fn assert_same(replica: &Contents, primary: &Contents) {
    let cut = |s: &str| s.chars().take(300).collect::<String>();
    let mut diffs = Vec::new();
    for k in primary.keys().chain(replica.keys()) {
        let (p, r) = (primary.get(k), replica.get(k));
        if p != r {
            diffs.push(format!(
                "{k:?}: primary {:?} replica {:?}",
                p.map(|(t, v, e)| (t, cut(v), e)),
                r.map(|(t, v, e)| (t, cut(v), e))
            ));
        }
    }
    diffs.dedup();
    assert!(
        diffs.is_empty(),
        "the replica differs:\n{}",
        diffs.join("\n")
    );
}

/// Writes at least one key of every type, in several databases, with TTLs.
fn load_every_type(c: &mut redis::Connection) {
    for args in [
        &["SET", "str", "hello"][..],
        &["SET", "int", "12345"],
        &["SET", "big", &"x".repeat(100_000)],
        &["SET", "ttl", "v", "PX", "1000000"],
        &["RPUSH", "list", "a", "b", "c", "1"],
        &["HSET", "hash", "f1", "v1", "f2", "2"],
        &["SADD", "intset", "1", "2", "300000"],
        &["SADD", "strset", "a", "b", "c"],
        &["ZADD", "zset", "1.5", "a", "-2", "b", "inf", "c"],
        &["PFADD", "hll", "a", "b", "c"],
        &["SETBIT", "bits", "100", "1"],
        &["XADD", "stream", "1-1", "f", "v"],
        &["XADD", "stream", "2-1", "g", "w"],
        &["XGROUP", "CREATE", "stream", "grp", "0"],
        &["SELECT", "3"],
        &["SET", "in3", "three"],
        &["HSET", "h3", "a", "b"],
        &["SELECT", "0"],
    ] {
        let _: Value = q(c, args);
    }
    let big: Vec<String> = (0..1000).map(|i| format!("m{i}")).collect();
    let mut sadd = vec!["SADD", "bigset"];
    sadd.extend(big.iter().map(String::as_str));
    let _: i64 = q(c, &sadd);
    let mut zadd = vec!["ZADD", "bigzset"];
    let scored: Vec<(String, &String)> = big
        .iter()
        .enumerate()
        .map(|(i, m)| (i.to_string(), m))
        .collect();
    for (s, m) in &scored {
        zadd.push(s);
        zadd.push(m);
    }
    let _: i64 = q(c, &zadd);
    let _: String = q(
        c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=lib\nredis.register_function{function_name='echo1', \
             callback=function(k, a) return a[1] end, flags={'no-writes'}}",
        ],
    );
}

/// Writes effects of every kind: TTLs, pops, scripts, streams and groups, renames, other
/// databases, then a transaction; returns the transaction's INCR of the script's counter.
fn write_every_kind(c: &mut redis::Connection) -> i64 {
    for args in [
        &["SET", "str", "changed"][..],
        &["INCRBYFLOAT", "float", "1.25"],
        &["EXPIRE", "str", "5000"],
        &["PERSIST", "ttl"],
        &["LPOP", "list"],
        &["SPOP", "strset"],
        &["SREM", "intset", "2"],
        &["ZINCRBY", "zset", "3", "a"],
        &["HINCRBY", "hash", "f2", "40"],
        &["XADD", "stream", "*", "h", "x"],
        &[
            "XREADGROUP",
            "GROUP",
            "grp",
            "alice",
            "COUNT",
            "1",
            "STREAMS",
            "stream",
            ">",
        ],
        &["RENAME", "int", "renamed"],
        &["DEL", "big"],
        &[
            "EVAL",
            "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('INCR', KEYS[2])",
            "2",
            "fromlua",
            "counter",
            "v",
        ],
        &["SELECT", "5"],
        &["LPUSH", "q5", "x", "y"],
        &["SELECT", "3"],
        &["FLUSHDB"],
        &["SELECT", "0"],
    ] {
        let _: Value = q(c, args);
    }
    let (_, _, n): (String, String, i64) = redis::pipe()
        .atomic()
        .cmd("SET")
        .arg("tx1")
        .arg("a")
        .cmd("SET")
        .arg("tx2")
        .arg("b")
        .cmd("INCR")
        .arg("counter")
        .query(c)
        .expect("exec");
    n
}

fn wait_replicas(c: &mut redis::Connection, n: i64) -> i64 {
    q(c, &["WAIT", &n.to_string(), "20000"])
}

/// A server holding every type (`load_every_type`) and a redis-server replica that applied it
/// all; None (the test skips) without redis-server.
fn loaded_primary_with_replica() -> Option<(Server, redis::Connection, Redis)> {
    if !require_tool("redis-server") {
        return None;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    load_every_type(&mut c);
    let rep = Redis::replica_of(srv.port());
    assert_eq!(wait_replicas(&mut c, 1), 1);
    Some((srv, c, rep))
}

/// The full synchronisation and the stream after it, checked key by key on a real replica.
#[test]
fn a_redis_replica_gets_every_type_and_follows_every_write() {
    let Some((_srv, mut c, rep)) = loaded_primary_with_replica() else {
        return;
    };
    let mut r = rep.conn();
    assert_same(&contents(&mut r), &contents(&mut c));
    assert_same_digest(&mut r, &mut c);
    // The function library came with the image.
    assert_eq!(q::<String>(&mut r, &["FCALL_RO", "echo1", "0", "hi"]), "hi");

    // The stream: effects of every kind, transactions, scripts, other databases.
    assert_eq!(write_every_kind(&mut c), 2);
    assert_eq!(wait_replicas(&mut c, 1), 1);
    assert_same(&contents(&mut r), &contents(&mut c));
    assert_same_digest(&mut r, &mut c);

    // Every byte the replica read, the primary counted as sent (and more may be on the way).
    let sent = info_int(&mut c, "stats", "total_net_repl_output_bytes");
    let read = info_int(&mut r, "stats", "total_net_repl_input_bytes");
    assert!(read > 0 && sent >= read, "sent {sent}, read {read}");

    // The primary reports its replica.
    let info: String = q(&mut c, &["INFO", "replication"]);
    assert!(info.contains("connected_slaves:1"), "{info}");
    assert!(
        info.contains(&format!("port={},state=online", rep.port)),
        "{info}"
    );
    match qv(&mut c, &["ROLE"]) {
        Value::Array(a) => {
            assert_eq!(vstr(&a[0]).as_deref(), Some("master"));
            let Value::Array(reps) = &a[2] else {
                panic!("{a:?}")
            };
            assert_eq!(reps.len(), 1, "{a:?}");
        }
        other => panic!("ROLE: {other:?}"),
    }
}

/// Sends `sig` to `pid`.
fn signal(pid: u32, sig: i32) {
    // SAFETY: kill(2) on a child process of this test.
    assert_eq!(unsafe { libc::kill(pid as i32, sig) }, 0);
}

/// Waits until the server has logged that its shutdown waits for replicas `times` times.
fn wait_shutdown_waiting(srv: &Server, times: usize) {
    let line = "Waiting for replicas before shutting down.";
    assert!(
        poll_until(Duration::from_secs(10), || srv.log().matches(line).count()
            == times),
        "{}",
        srv.log()
    );
}

/// A server started with `args` and a redis-server replica that applied `a`, then stopped
/// (SIGSTOP: it neither reads nor acknowledges) before `late` was written.
fn lagging_replica(args: &[&str]) -> (Server, redis::Connection, Redis) {
    let srv = Server::start_with(args);
    let mut c = srv.conn();
    let rep = Redis::replica_of(srv.port());
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut c).unwrap();
    assert_eq!(wait_replicas(&mut c, 1), 1);
    signal(rep.child.id(), libc::SIGSTOP);
    let _: () = redis::cmd("SET")
        .arg("late")
        .arg("1")
        .query(&mut c)
        .unwrap();
    (srv, c, rep)
}

/// As Redis 7: SHUTDOWN waits for a replica that has not acknowledged everything, with writes
/// paused and reads served; SHUTDOWN ABORT cancels it (the waiting SHUTDOWN gets Redis's
/// error); once the replica catches up the server stops, and the replica holds every write.
#[test]
fn shutdown_waits_for_a_lagging_replica_and_abort_cancels_it() {
    if !eddy_only("shutdown_waits_for_a_lagging_replica_and_abort_cancels_it")
        || !require_tool("redis-server")
    {
        return;
    }
    let (mut srv, mut c, rep) = lagging_replica(&["--shutdown-timeout", "60"]);
    let mut sd = srv.raw();
    sd.send_cmd(&["SHUTDOWN"]);
    wait_shutdown_waiting(&srv, 1);
    // A second SHUTDOWN joins the waiting one.
    let mut sd2 = srv.raw();
    sd2.send_cmd(&["SHUTDOWN"]);
    assert!(poll_until(Duration::from_secs(10), || q::<String>(
        &mut c,
        &["CLIENT", "LIST"]
    )
    .matches("cmd=shutdown")
    .count()
        == 2));
    let mut w = srv.raw();
    w.send_cmd(&["SET", "during", "1"]);
    assert!(blocked_clients_reach(&mut c, 1));
    assert_eq!(q::<String>(&mut c, &["GET", "a"]), "1");
    // A CLIENT PAUSE of the user's own is not ended by the abort (Redis keeps a pause per
    // purpose).
    let paused: String = q(&mut c, &["CLIENT", "PAUSE", "60000", "WRITE"]);
    assert_eq!(paused, "OK");
    assert_eq!(q::<String>(&mut c, &["SHUTDOWN", "ABORT"]), "OK");
    for sd in [&mut sd, &mut sd2] {
        assert_eq!(
            sd.read_reply(),
            Resp::Error("ERR Errors trying to SHUTDOWN. Check logs.".into())
        );
    }
    let mut w2 = srv.raw();
    w2.send_cmd(&["SET", "during2", "1"]);
    assert!(blocked_clients_reach(&mut c, 2));
    assert_eq!(q::<String>(&mut c, &["CLIENT", "UNPAUSE"]), "OK");
    assert_eq!(w.read_reply(), Resp::Simple("OK".into()));
    assert_eq!(w2.read_reply(), Resp::Simple("OK".into()));
    assert_eq!(
        qerr(&mut c, &["SHUTDOWN", "ABORT"]),
        "ERR No shutdown in progress."
    );
    assert!(qerr(&mut c, &["SHUTDOWN", "ABORT", "NOW"]).starts_with("ERR syntax error"));

    // Again; this time the replica comes back, and the server stops once it has everything.
    sd.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    wait_shutdown_waiting(&srv, 2);
    // Nor does CLIENT UNPAUSE end the shutdown's pause.
    assert_eq!(q::<String>(&mut c, &["CLIENT", "UNPAUSE"]), "OK");
    w.send_cmd(&["SET", "after-unpause", "1"]);
    assert!(blocked_clients_reach(&mut c, 1));
    signal(rep.child.id(), libc::SIGCONT);
    assert!(srv.wait_exit(Duration::from_secs(20)).is_some());
    let mut r = rep.conn();
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "a", "late", "during"]), 3);
}

/// A second SIGINT while a signalled shutdown waits for a replica ends the process at once,
/// with Redis's words and exit status 1; the next start recovers (as after a crash) with every
/// acknowledged write.
#[test]
fn a_second_sigint_during_a_signalled_shutdown_exits_at_once() {
    if !eddy_only("a_second_sigint_during_a_signalled_shutdown_exits_at_once")
        || !require_tool("redis-server")
    {
        return;
    }
    let (mut srv, mut c, rep) = lagging_replica(&["--shutdown-timeout", "60"]);
    signal(srv.pid(), libc::SIGINT);
    wait_shutdown_waiting(&srv, 1);
    assert_eq!(q::<String>(&mut c, &["GET", "late"]), "1");
    signal(srv.pid(), libc::SIGINT);
    let status = srv.wait_exit(Duration::from_secs(10)).expect("exited");
    assert_eq!(status.code(), Some(1));
    assert!(srv.log().contains("You insist... exiting now."));
    signal(rep.child.id(), libc::SIGCONT);
    let srv = Server::start_in(srv.stop(), &[]);
    let mut c = srv.conn();
    assert_eq!(q::<String>(&mut c, &["GET", "late"]), "1");
}

/// SIGTERM waits for lagging replicas as SHUTDOWN does (the server keeps serving meanwhile);
/// SHUTDOWN NOW stops at once, and so does SIGTERM with `shutdown-on-sigterm now`; a lagging
/// replica that disconnects is not waited for.
#[test]
fn sigterm_waits_for_a_lagging_replica_and_shutdown_now_does_not() {
    if !eddy_only("sigterm_waits_for_a_lagging_replica_and_shutdown_now_does_not")
        || !require_tool("redis-server")
    {
        return;
    }
    let (mut srv, mut c, rep) = lagging_replica(&[]);
    signal(srv.pid(), libc::SIGTERM);
    wait_shutdown_waiting(&srv, 1);
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
    signal(rep.child.id(), libc::SIGCONT);
    assert!(srv.wait_exit(Duration::from_secs(20)).is_some());
    assert_eq!(q::<String>(&mut rep.conn(), &["GET", "late"]), "1");

    let (mut srv, _c, rep) = lagging_replica(&[]);
    srv.raw().send_cmd(&["SHUTDOWN", "NOW"]);
    assert!(srv.wait_exit(Duration::from_secs(5)).is_some());
    assert!(!srv.log().contains("Waiting for replicas"));
    signal(rep.child.id(), libc::SIGCONT);

    // `shutdown-on-sigterm now`: SIGTERM does not wait either.
    let (mut srv, mut c, rep) = lagging_replica(&[]);
    let set: String = q(
        &mut c,
        &["CONFIG", "SET", "shutdown-on-sigterm", "NOW nosave"],
    );
    assert_eq!(set, "OK");
    let got: Vec<String> = q(&mut c, &["CONFIG", "GET", "shutdown-on-sigterm"]);
    assert_eq!(got, ["shutdown-on-sigterm", "nosave now"]);
    signal(srv.pid(), libc::SIGTERM);
    assert!(srv.wait_exit(Duration::from_secs(5)).is_some());
    assert!(!srv.log().contains("Waiting for replicas"));
    signal(rep.child.id(), libc::SIGCONT);

    // A lagging replica that goes away is waited for no longer.
    let (mut srv, _c, mut rep) = lagging_replica(&["--shutdown-timeout", "60"]);
    srv.raw().send_cmd(&["SHUTDOWN"]);
    wait_shutdown_waiting(&srv, 1);
    rep.child.kill().expect("kill the replica");
    assert!(srv.wait_exit(Duration::from_secs(20)).is_some());
}

/// Writers keep going while the replica synchronises: the image is as of one log offset and
/// the stream starts right after it, so the replica ends with exactly the primary's values.
#[test]
fn writes_during_the_synchronisation_are_neither_lost_nor_doubled() {
    if !require_tool("redis-server") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let mut pipe = redis::pipe();
    for i in 0..50_000 {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    pipe.query::<()>(&mut c).expect("load");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut w = srv.conn();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut p = redis::pipe();
                for j in 0..50 {
                    p.cmd("INCR").arg(format!("counter{}", j % 7)).ignore();
                    p.cmd("RPUSH").arg("log").arg(n * 50 + j).ignore();
                }
                p.query::<()>(&mut w).expect("writes");
                n += 1;
            }
            (n, w)
        })
    };
    let rep = Redis::replica_of(srv.port());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (batches, mut w) = writer.join().expect("writer");
    assert!(batches > 0);
    // WAIT on the writer's connection: Redis waits for the caller's own writes.
    assert_eq!(wait_replicas(&mut w, 1), 1);
    let mut r = rep.conn();
    for j in 0..7 {
        let k = format!("counter{j}");
        assert_eq!(
            q::<Option<i64>>(&mut r, &["GET", &k]),
            q::<Option<i64>>(&mut c, &["GET", &k]),
            "{k}"
        );
    }
    let log: Vec<i64> = q(&mut r, &["LRANGE", "log", "0", "-1"]);
    assert_eq!(log.len() as u64, batches * 50);
    assert!(log.iter().enumerate().all(|(i, &v)| v == i as i64));
    assert_eq!(q::<i64>(&mut r, &["DBSIZE"]), q::<i64>(&mut c, &["DBSIZE"]));
}

/// `redis-cli --rdb` saves the primary's image, and Redis's own checker accepts the file.
#[test]
fn redis_cli_rdb_saves_a_file_redis_check_rdb_accepts() {
    if !require_tool("redis-cli") || !require_tool("redis-check-rdb") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    load_every_type(&mut c);
    let keys = q::<i64>(&mut c, &["DBSIZE"]) + 2; // and the two keys of db 3
    let dir = TempDir::new("rdb");
    let file = dir.path().join("dump.rdb");
    let out = Command::new("redis-cli")
        .args(["-p", &srv.port().to_string(), "--rdb"])
        .arg(&file)
        .output()
        .expect("redis-cli --rdb");
    assert!(out.status.success(), "{out:?}");
    let check = Command::new("redis-check-rdb")
        .arg(&file)
        .output()
        .expect("redis-check-rdb");
    let text = String::from_utf8_lossy(&check.stdout).to_string();
    assert!(check.status.success(), "{text}");
    assert!(text.contains("RDB looks OK"), "{text}");
    assert!(text.contains(&format!("{keys} keys read")), "{text}");
    assert!(text.contains("1 expires"), "{text}");
}

/// The handshake on the wire: REPLCONF's replies and errors, PSYNC's `+FULLRESYNC` and RDB
/// payload, the stream of commands, and WAIT resolved by `REPLCONF ACK`.
#[test]
fn the_replication_handshake_and_stream_on_the_wire() {
    if !eddy_only("the_replication_handshake_and_stream_on_the_wire") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query(&mut c)
        .unwrap();
    let mut rep = srv.raw();
    assert_eq!(
        rep.call(&["REPLCONF", "listening-port"]),
        Resp::Error("ERR syntax error".into())
    );
    assert_eq!(
        rep.call(&["REPLCONF", "nonsense", "1"]),
        Resp::Error("ERR Unrecognized REPLCONF option: nonsense".into())
    );
    assert_eq!(
        rep.call(&["REPLCONF", "rdb-filter-only", "keys"]),
        Resp::Error("ERR Unsupported rdb-filter-only option: keys".into())
    );
    // ACK from a client that is not a replica gets no reply at all.
    rep.send_cmd(&["REPLCONF", "ACK", "5"]);
    assert_eq!(rep.call(&["PING"]), Resp::Simple("PONG".into()));
    assert_eq!(
        rep.call(&[
            "REPLCONF",
            "listening-port",
            "4242",
            "capa",
            "eof",
            "capa",
            "psync2"
        ]),
        Resp::Simple("OK".into())
    );
    rep.send_cmd(&["PSYNC", "?", "-1"]);
    let (text, rdb) = full_sync(&mut rep);
    let parts: Vec<&str> = text.trim_end().split(' ').collect();
    assert_eq!(parts[0], "+FULLRESYNC", "{text}");
    assert_eq!(parts[1].len(), 40, "{text}");
    assert_eq!(parts[2], "0", "{text}");
    let len = rdb.len();
    assert!(rdb.starts_with(b"REDIS0010"), "{:?}", &rdb[..9]);
    let (body, crc) = rdb.split_at(len - 8);
    let want = crc::Crc::<u64>::new(&crc::CRC_64_REDIS).checksum(body);
    assert_eq!(u64::from_le_bytes(crc.try_into().unwrap()), want);
    assert_eq!(body.last(), Some(&0xFF));
    // The key written before sits in the image: type 0 (string), then the key, then the value.
    let entry = b"\x00\x06before\xc0\x01";
    assert!(body.windows(entry.len()).any(|w| w == entry), "{body:?}");

    // A `capa eof` replica says it loaded the image before the stream starts (the mark must
    // end one of its reads).
    rep.send_cmd(&["REPLCONF", "ACK", "0"]);
    // The stream: the write as a command, after the database it happened in.
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let want = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
    let mut got = vec![0u8; want.len()];
    rep.stream.read_exact(&mut got).expect("stream");
    assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));

    // WAIT: the replica has not acknowledged, so none counts once the timeout passes...
    assert_eq!(q::<i64>(&mut c, &["WAIT", "1", "50"]), 0);
    let info: String = q(&mut c, &["INFO", "replication"]);
    assert!(
        info.contains("slave0:ip=127.0.0.1,port=4242,state=online"),
        "{info}"
    );
    // ...it was asked to, on the stream...
    let getack = b"*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";
    let mut got = vec![0u8; getack.len()];
    rep.stream.read_exact(&mut got).expect("getack");
    assert_eq!(&got[..], &getack[..]);
    // ...and once it acknowledges the bytes that carried the write, it counts.
    rep.send_cmd(&["REPLCONF", "ACK", &want.len().to_string()]);
    assert_eq!(q::<i64>(&mut c, &["WAIT", "1", "0"]), 1);
    assert_eq!(q::<i64>(&mut c, &["WAIT", "2", "50"]), 1);

    // It is a client of type replica, flag S, and CLIENT KILL TYPE replica ends it.
    let list = vstr(&qv(&mut c, &["CLIENT", "LIST", "TYPE", "replica"])).unwrap();
    assert_eq!(list.lines().count(), 1, "{list}");
    assert!(list.contains(" flags=S "), "{list}");
    let normal = vstr(&qv(&mut c, &["CLIENT", "LIST", "TYPE", "normal"])).unwrap();
    assert!(!normal.contains(" flags=S "), "{normal}");
    assert_eq!(q::<i64>(&mut c, &["CLIENT", "KILL", "TYPE", "slave"]), 1);
    assert!(rep.closed_within(Duration::from_secs(10)));
    let info: String = q(&mut c, &["INFO", "replication"]);
    assert!(info.contains("connected_slaves:0"), "{info}");
}

/// Reads PSYNC's answer: its first line, then (after any keep-alive newlines) the RDB payload,
/// sent as `$<length>` and the bytes, or (to a replica that said `capa eof`) as
/// `$EOF:<40-byte mark>`, the bytes, and the mark.
fn full_sync(rep: &mut Raw) -> (String, Vec<u8>) {
    let mut line = Vec::new();
    read_line(rep, &mut line);
    let first = String::from_utf8_lossy(&line).to_string();
    loop {
        read_line(rep, &mut line);
        if line != b"\n" {
            break;
        }
    }
    let head = String::from_utf8_lossy(&line).trim_end().to_string();
    if let Some(mark) = head.strip_prefix("$EOF:") {
        assert_eq!(mark.len(), 40, "{head}");
        let mut rdb = Vec::new();
        let mut b = [0u8; 1];
        while !rdb.ends_with(mark.as_bytes()) {
            rep.stream.read_exact(&mut b).expect("rdb payload");
            rdb.push(b[0]);
        }
        rdb.truncate(rdb.len() - 40);
        return (first, rdb);
    }
    let len: usize = head
        .strip_prefix('$')
        .expect("bulk length")
        .parse()
        .unwrap();
    let mut rdb = vec![0u8; len];
    rep.stream.read_exact(&mut rdb).expect("rdb payload");
    (first, rdb)
}

/// Reads one `\n`-terminated line from the raw connection into `line`.
fn read_line(rep: &mut Raw, line: &mut Vec<u8>) {
    line.clear();
    let mut b = [0u8; 1];
    while line.last() != Some(&b'\n') {
        rep.stream.read_exact(&mut b).expect("line");
        line.push(b[0]);
    }
}

/// `min-replicas-to-write`: without enough replicas that acknowledged within
/// `min-replicas-max-lag` seconds, writes are refused with NOREPLICAS (in a transaction at
/// queue time, in a script at the write); reads go on; a replica makes them possible again.
#[test]
fn min_replicas_to_write_refuses_writes_until_a_replica_follows() {
    if !require_tool("redis-server") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let noreplicas = "NOREPLICAS Not enough good replicas to write.";
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("min-replicas-to-write")
        .arg("1")
        .query(&mut c)
        .unwrap();
    assert_eq!(qerr(&mut c, &["SET", "k", "w"]), noreplicas);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    let info: String = q(&mut c, &["INFO", "replication"]);
    assert!(info.contains("min_slaves_good_slaves:0"), "{info}");
    let mut raw = srv.raw();
    assert_eq!(raw.call(&["MULTI"]), Resp::Simple("OK".into()));
    assert_eq!(raw.call(&["SET", "k", "w"]), Resp::Error(noreplicas.into()));
    assert_eq!(
        raw.call(&["EXEC"]),
        Resp::Error("EXECABORT Transaction discarded because of previous errors.".into())
    );
    let from_lua: String = q(
        &mut c,
        &["EVAL", "return redis.pcall('SET', 'k', 'w')['err']", "0"],
    );
    assert_eq!(from_lua, noreplicas);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");

    let _rep = Redis::replica_of(srv.port());
    assert!(
        poll_until(Duration::from_secs(20), || {
            redis::cmd("SET")
                .arg("k")
                .arg("w")
                .query::<()>(&mut c)
                .is_ok()
        }),
        "writes stayed refused with a replica following"
    );
    let info: String = q(&mut c, &["INFO", "replication"]);
    assert!(info.contains("min_slaves_good_slaves:1"), "{info}");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("min-slaves-to-write")
        .arg("2")
        .query(&mut c)
        .unwrap();
    assert_eq!(qerr(&mut c, &["SET", "k", "x"]), noreplicas);
}

/// PSYNC naming a stream this server never sent gets a full synchronisation. An idle stream
/// carries a PING every `repl-ping-replica-period` seconds, and a PSYNC replica that never
/// acknowledges is disconnected after `repl-timeout` seconds.
#[test]
fn an_idle_stream_pings_and_a_silent_replica_times_out() {
    if !eddy_only("an_idle_stream_pings_and_a_silent_replica_times_out") {
        return;
    }
    let srv = Server::start_with(&["--repl-ping-replica-period", "1", "--repl-timeout", "3"]);
    let mut rep = srv.raw();
    // An ID this server never streamed: a full synchronisation instead.
    rep.send_cmd(&["PSYNC", &"a".repeat(40), "100"]);
    let (first, _) = full_sync(&mut rep);
    assert!(first.starts_with("+FULLRESYNC "), "{first}");
    let mut c = srv.conn();
    assert_eq!(info_int(&mut c, "stats", "sync_partial_err"), 1);
    assert_eq!(info_int(&mut c, "stats", "sync_full"), 1);
    let ping = b"*1\r\n$4\r\nPING\r\n";
    let mut got = vec![0u8; ping.len()];
    rep.stream
        .read_exact(&mut got)
        .expect("a PING on the idle stream");
    assert_eq!(&got[..], &ping[..]);
    assert!(
        rep.closed_within(Duration::from_secs(20)),
        "a replica that never acknowledged was kept"
    );
}

/// A replica that reconnects after applying everything its stream sent continues that stream
/// (`+CONTINUE`: INFO stats' `sync_partial_ok`) instead of loading a new image, and ends with
/// exactly the primary's data.
#[test]
fn a_reconnecting_replica_continues_its_stream() {
    let Some((_srv, mut c, rep)) = loaded_primary_with_replica() else {
        return;
    };
    assert_eq!(info_int(&mut c, "stats", "sync_full"), 1);
    assert_eq!(q::<i64>(&mut c, &["CLIENT", "KILL", "TYPE", "replica"]), 1);
    assert!(
        poll_until(Duration::from_secs(20), || {
            info_int(&mut c, "stats", "sync_partial_ok") == 1
                && rep.info("replication").contains("master_link_status:up")
        }),
        "the replica did not continue its stream: {}",
        rep.info("replication")
    );
    for args in [
        &["SET", "after", "reconnect"][..],
        &["INCR", "counter"],
        &["HSET", "hash", "f3", "3"],
    ] {
        let _: Value = q(&mut c, args);
    }
    assert_eq!(wait_replicas(&mut c, 1), 1);
    assert_same(&contents(&mut rep.conn()), &contents(&mut c));
    assert_eq!(info_int(&mut c, "stats", "sync_full"), 1);
    assert_eq!(info_int(&mut c, "stats", "sync_partial_err"), 0);
}

// ---------------------------------------------------------------------------------------------
// Eddy following a Redis primary (REPLICAOF)
// ---------------------------------------------------------------------------------------------

/// Makes `follower` a replica of `primary` and waits for its link to come up.
fn follow(follower: &Server, primary: &Redis) -> redis::Connection {
    let mut f = follower.conn();
    let ok: String = q(
        &mut f,
        &["REPLICAOF", "127.0.0.1", &primary.port.to_string()],
    );
    assert_eq!(ok, "OK");
    wait_link_up(&mut f);
    f
}

fn wait_link_up(f: &mut redis::Connection) {
    assert!(
        poll_until(Duration::from_secs(20), || q::<String>(
            f,
            &["INFO", "replication"]
        )
        .contains("master_link_status:up")),
        "the follower never finished its synchronisation: {}",
        q::<String>(f, &["INFO", "replication"])
    );
}

/// The image of a loaded Redis (every type, TTLs, databases, a function library) and the
/// stream after it (effects, transactions, scripts) reach Eddy exactly; WAIT on the primary
/// counts Eddy once it applied the writes; Eddy refuses its own clients' writes meanwhile.
#[test]
fn eddy_follows_a_redis_primary_through_every_type_and_write() {
    if !require_tool("redis-server") {
        return;
    }
    let primary = Redis::primary(&[]);
    let mut p = primary.conn();
    load_every_type(&mut p);
    let eddy = Server::start();
    let mut e = follow(&eddy, &primary);
    assert_eq!(wait_replicas(&mut p, 1), 1);
    assert_same(&contents(&mut e), &contents(&mut p));
    assert_same_digest(&mut e, &mut p);
    assert_eq!(q::<String>(&mut e, &["FCALL_RO", "echo1", "0", "hi"]), "hi");

    assert_eq!(write_every_kind(&mut p), 2);
    assert_eq!(wait_replicas(&mut p, 1), 1);
    assert_same(&contents(&mut e), &contents(&mut p));
    assert_same_digest(&mut e, &mut p);

    let read = info_int(&mut e, "stats", "total_net_repl_input_bytes");
    let sent = info_int(&mut p, "stats", "total_net_repl_output_bytes");
    assert!(read > 0 && sent >= read, "sent {sent}, read {read}");

    // What a Redis replica reports: ROLE, INFO, the link in CLIENT LIST, READONLY writes.
    let offset = info_int(&mut p, "replication", "master_repl_offset");
    match qv(&mut e, &["ROLE"]) {
        Value::Array(a) => {
            let strs: Vec<Option<String>> = a.iter().map(vstr).collect();
            assert_eq!(strs[0].as_deref(), Some("slave"), "{a:?}");
            assert_eq!(strs[1].as_deref(), Some("127.0.0.1"), "{a:?}");
            assert_eq!(a[2], Value::Int(primary.port as i64), "{a:?}");
            assert_eq!(strs[3].as_deref(), Some("connected"), "{a:?}");
            assert_eq!(a[4], Value::Int(offset), "{a:?}");
        }
        other => panic!("ROLE: {other:?}"),
    }
    let info: String = q(&mut e, &["INFO", "replication"]);
    for line in [
        "role:slave".to_string(),
        format!("master_port:{}", primary.port),
        format!("slave_repl_offset:{offset}"),
        "slave_read_only:1".into(),
    ] {
        assert!(info.contains(&line), "{line} in {info}");
    }
    let masters: String = q(&mut e, &["CLIENT", "LIST", "TYPE", "master"]);
    assert_eq!(masters.lines().count(), 1, "{masters}");
    assert!(masters.contains("flags=M"), "{masters}");
    assert_eq!(
        qerr(&mut e, &["SET", "mine", "1"]),
        "READONLY You can't write against a read only replica."
    );
    let script = qerr(
        &mut e,
        &["EVAL", "return redis.call('SET', 'mine', '1')", "0"],
    );
    assert!(
        script.starts_with("READONLY You can't write against a read only replica."),
        "{script}"
    );
    // Refused when queued, as Redis does: the transaction is then aborted.
    let _: () = redis::cmd("MULTI").query(&mut e).unwrap();
    assert!(qerr(&mut e, &["SET", "mine", "1"]).starts_with("READONLY"));
    assert!(qerr(&mut e, &["EXEC"]).starts_with("EXECABORT"));
    // Reads are served.
    assert_eq!(q::<String>(&mut e, &["GET", "tx1"]), "a");
}

/// What Eddy adds to a Redis deployment: the primary's writes in Eddy's change feed, with
/// origin `replication` — its expiries too, since a follower expires nothing itself.
#[test]
fn the_primarys_writes_reach_the_followers_change_feed() {
    if !eddy_only("the_primarys_writes_reach_the_followers_change_feed")
        || !require_tool("redis-server")
    {
        return;
    }
    let primary = Redis::primary(&["--enable-debug-command", "yes"]);
    let mut p = primary.conn();
    let _: () = redis::cmd("SET")
        .arg("before")
        .arg("1")
        .query(&mut p)
        .unwrap();
    let eddy = Server::start();
    let mut e = follow(&eddy, &primary);
    // The image arrives as a RESTORE per key (the follower held nothing, so nothing is
    // flushed).
    let image = changes_read(&mut e, &["earliest", "COUNT", "100"]);
    let events: Vec<(&str, &str, &str)> = image
        .iter()
        .map(|c| (c.event.as_str(), c.key.as_str(), c.origin.as_str()))
        .collect();
    assert_eq!(events, [("restore", "before", "replication")]);
    let from = last_offset(&mut e);
    let _: () = redis::cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("v")
        .query(&mut p)
        .unwrap();
    let _: i64 = q(&mut p, &["DEL", "before"]);
    assert_eq!(wait_replicas(&mut p, 1), 1);
    let after = changes_read(&mut e, &[&format!("({from}"), "COUNT", "10"]);
    let events: Vec<(&str, &str, &str)> = after
        .iter()
        .map(|c| (c.event.as_str(), c.key.as_str(), c.origin.as_str()))
        .collect();
    assert_eq!(
        events,
        [
            ("hset", "h", "replication"),
            ("del", "before", "replication")
        ]
    );
    // A Redis stream consumer reads them from the follower's `__changes__` with a group: the
    // group is the follower's own state, so READONLY does not apply to it.
    let start = format!("{from}-0");
    assert_eq!(
        q::<String>(&mut e, &["XGROUP", "CREATE", "__changes__", "g", &start]),
        "OK"
    );
    let read = qv(
        &mut e,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "COUNT",
            "10",
            "STREAMS",
            "__changes__",
            ">",
        ],
    );
    let text = format!("{read:?}");
    assert!(
        text.contains("hset") && text.contains("replication"),
        "{text}"
    );
    let id = format!("{}-0", after[0].offset);
    assert_eq!(q::<i64>(&mut e, &["XACK", "__changes__", "g", &id]), 1);
    for key in ["__changes__", "other"] {
        assert!(qerr(&mut e, &["XADD", key, "*", "f", "v"]).starts_with("READONLY"));
    }

    // Expiry is the primary's: past its deadline a key is hidden from the follower's clients,
    // but the follower deletes nothing itself; the primary's DEL is what the feed records.
    let _: () = redis::cmd("DEBUG")
        .arg("SET-ACTIVE-EXPIRE")
        .arg("0")
        .query(&mut p)
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg("50")
        .query(&mut p)
        .unwrap();
    assert_eq!(wait_replicas(&mut p, 1), 1);
    let from = last_offset(&mut e);
    assert!(poll_until(Duration::from_secs(10), || {
        q::<Option<String>>(&mut e, &["GET", "short"]).is_none()
    }));
    assert_eq!(q::<i64>(&mut e, &["EXISTS", "short"]), 0);
    assert_eq!(q::<i64>(&mut e, &["PTTL", "short"]), -2);
    // The primary notices on access and propagates the deletion.
    assert_eq!(q::<Option<String>>(&mut p, &["GET", "short"]), None);
    assert_eq!(wait_replicas(&mut p, 1), 1);
    let events: Vec<(String, String, String)> =
        changes_read(&mut e, &[&format!("({from}"), "COUNT", "10"])
            .into_iter()
            .map(|c| (c.event, c.key, c.origin))
            .collect();
    assert_eq!(
        events,
        [(
            "del".to_string(),
            "short".to_string(),
            "replication".to_string()
        )]
    );
}

/// A follower that restarts synchronises in full again (the primary's position is not kept),
/// but it compares the image with what it holds: its log, and so its feed and triggers, get
/// only what changed while it was down, not a FLUSHALL and every key again.
#[test]
fn a_restarted_follower_records_only_what_changed_while_it_was_down() {
    if !eddy_only("a_restarted_follower_records_only_what_changed_while_it_was_down")
        || !require_tool("redis-server")
    {
        return;
    }
    let primary = Redis::primary(&[]);
    let mut p = primary.conn();
    for (k, v) in [("same", "1"), ("changed", "1"), ("gone", "1"), ("ttl", "1")] {
        let _: () = redis::cmd("SET").arg(k).arg(v).query(&mut p).unwrap();
    }
    let _: i64 = q(&mut p, &["HSET", "h", "f1", "v1", "f2", "v2"]);
    let _: i64 = q(&mut p, &["ZADD", "z", "1", "a", "2.5", "b"]);
    let _: i64 = q(&mut p, &["SADD", "s", "1", "2", "3"]);
    let _: i64 = q(&mut p, &["PEXPIRE", "ttl", "100000"]);
    let mut p3 = primary.conn();
    assert_eq!(q::<String>(&mut p3, &["SELECT", "3"]), "OK");
    for k in ["same3", "gone3"] {
        let _: () = redis::cmd("SET").arg(k).arg("1").query(&mut p3).unwrap();
    }
    for lib in ["keep", "drop"] {
        let code =
            format!("#!lua name={lib}\nredis.register_function('{lib}', function() return 1 end)");
        let _: String = q(&mut p, &["FUNCTION", "LOAD", &code]);
    }
    let port = primary.port.to_string();
    let args = ["--replicaof", "127.0.0.1", &port, "--appendfsync", "always"];
    let eddy = Server::start_with(&args);
    let mut e = eddy.conn();
    wait_link_up(&mut e);
    assert_eq!(wait_replicas(&mut p, 1), 1);
    let before = last_offset(&mut e);
    assert_eq!(q::<i64>(&mut e, &["DBSIZE"]), 7);

    // While the follower is down, the primary changes some keys and a library.
    let dir = eddy.stop();
    let _: () = redis::cmd("SET")
        .arg("changed")
        .arg("2")
        .query(&mut p)
        .unwrap();
    let _: i64 = q(&mut p, &["DEL", "gone"]);
    let _: i64 = q(&mut p3, &["DEL", "gone3"]);
    let _: () = redis::cmd("SET").arg("new").arg("1").query(&mut p).unwrap();
    let _: i64 = q(&mut p, &["PEXPIRE", "ttl", "200000"]);
    let _: i64 = q(&mut p, &["HSET", "h", "f3", "v3"]);
    let _: String = q(&mut p, &["FUNCTION", "DELETE", "drop"]);

    let eddy = Server::start_in(dir, &args);
    let mut e = eddy.conn();
    wait_link_up(&mut e);
    let mut events: Vec<(String, String, String)> =
        changes_read(&mut e, &[&format!("({before}"), "COUNT", "100"])
            .into_iter()
            .map(|c| (c.event, c.key, c.origin))
            .collect();
    events.sort();
    let want = [
        ("del", "gone"),
        ("del", "gone3"),
        // FUNCTION DELETE drop; the unchanged library is not loaded again.
        ("function", ""),
        ("restore", "changed"),
        ("restore", "h"),
        ("restore", "new"),
        ("restore", "ttl"),
    ];
    let want: Vec<(String, String, String)> = want
        .iter()
        .map(|(ev, k)| (ev.to_string(), k.to_string(), "replication".to_string()))
        .collect();
    assert_eq!(events, want);
    // The data is the primary's.
    assert_eq!(q::<String>(&mut e, &["GET", "changed"]), "2");
    assert_eq!(q::<i64>(&mut e, &["EXISTS", "gone", "new", "same"]), 2);
    assert_eq!(q::<i64>(&mut e, &["HLEN", "h"]), 3);
    let pttl: i64 = q(&mut e, &["PTTL", "ttl"]);
    assert!(pttl > 100_000, "{pttl}");
    let libs = format!("{:?}", qv(&mut e, &["FUNCTION", "LIST"]));
    assert!(libs.contains("keep") && !libs.contains("drop"), "{libs}");
    assert_eq!(q::<String>(&mut e, &["SELECT", "3"]), "OK");
    assert_eq!(q::<i64>(&mut e, &["EXISTS", "same3", "gone3"]), 1);
}

/// A follower stopped with SHUTDOWN continues where it stopped when it starts again, as a Redis
/// replica does from the position its RDB file keeps: the primary accepts a partial
/// resynchronisation and sends only what the follower missed, which the feed records as the
/// primary's own commands (no image, no `restore`), in the database the stream had selected.
#[test]
fn a_follower_restarted_after_shutdown_continues_where_it_stopped() {
    if !eddy_only("a_follower_restarted_after_shutdown_continues_where_it_stopped")
        || !require_tool("redis-server")
    {
        return;
    }
    let primary = Redis::primary(&[]);
    let mut p = primary.conn();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut p).unwrap();
    // The stream's last SELECT before the stop is db 2, and the writes after it stay there: the
    // primary sends no new SELECT, so the follower must remember the database.
    let mut p2 = primary.conn();
    assert_eq!(q::<String>(&mut p2, &["SELECT", "2"]), "OK");
    let _: () = redis::cmd("SET").arg("b").arg("1").query(&mut p2).unwrap();
    let port = primary.port.to_string();
    let args = ["--replicaof", "127.0.0.1", &port];
    let mut eddy = Server::start_with(&args);
    let mut e = eddy.conn();
    wait_link_up(&mut e);
    assert_eq!(wait_replicas(&mut p2, 1), 1);
    let before = last_offset(&mut e);

    eddy.raw().send_cmd(&["SHUTDOWN"]);
    let st = eddy.wait_exit(Duration::from_secs(20));
    assert!(st.is_some_and(|s| s.success()), "SHUTDOWN: {st:?}");
    assert!(eddy.dir().join("primary.json").exists());
    let dir = eddy.stop();
    let _: () = redis::cmd("SET").arg("b").arg("2").query(&mut p2).unwrap();
    let _: i64 = q(&mut p2, &["INCR", "n"]);

    let eddy = Server::start_in(dir, &args);
    let mut e = eddy.conn();
    wait_link_up(&mut e);
    assert_eq!(wait_replicas(&mut p2, 1), 1);
    assert!(!eddy.dir().join("primary.json").exists());
    assert_eq!(info_int(&mut p, "stats", "sync_full"), 1);
    assert_eq!(info_int(&mut p, "stats", "sync_partial_ok"), 1);
    let events: Vec<(String, String, String)> =
        changes_read(&mut e, &[&format!("({before}"), "COUNT", "100"])
            .into_iter()
            .map(|c| (c.event, c.key, c.origin))
            .collect();
    let r = "replication".to_string();
    assert_eq!(
        events,
        [
            ("set".to_string(), "b".to_string(), r.clone()),
            ("incrby".to_string(), "n".to_string(), r)
        ]
    );
    assert_eq!(q::<String>(&mut e, &["SELECT", "2"]), "OK");
    assert_eq!(q::<String>(&mut e, &["GET", "b"]), "2");
    assert_eq!(q::<String>(&mut e, &["GET", "n"]), "1");
}

/// A follower configured with `replicaof`: a dropped link continues with a partial
/// resynchronisation (no new image); REPLICAOF NO ONE keeps the data and takes writes again;
/// the argument errors are Redis's.
#[test]
fn a_follower_continues_after_a_dropped_link_and_stops_on_replicaof_no_one() {
    if !require_tool("redis-server") {
        return;
    }
    let primary = Redis::primary(&["--repl-diskless-sync", "no", "--requirepass", "s3cret"]);
    let mut p = primary.conn();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut p).unwrap();
    // This time the primary comes from the configuration (`replicaof host port`), wants a
    // password (`masterauth`), and sends its image from a file (`$<length>`, not the diskless
    // `$EOF:` form).
    let port = primary.port.to_string();
    let eddy = Server::start_with(&["--replicaof", "127.0.0.1", &port, "--masterauth", "s3cret"]);
    let mut e = eddy.conn();
    wait_link_up(&mut e);
    assert_eq!(
        q::<String>(
            &mut e,
            &["REPLICAOF", "127.0.0.1", &primary.port.to_string()]
        ),
        "OK Already connected to specified master"
    );
    assert_eq!(
        qerr(&mut e, &["REPLICAOF", "127.0.0.1", "70000"]),
        "ERR Invalid master port"
    );
    // The primary drops the link inside a stream of writes; the follower comes back with PSYNC.
    let killed: i64 = q(&mut p, &["CLIENT", "KILL", "TYPE", "replica"]);
    assert_eq!(killed, 1);
    for i in 0..100 {
        let _: i64 = q(&mut p, &["RPUSH", "l", &i.to_string()]);
    }
    assert_eq!(wait_replicas(&mut p, 1), 1);
    assert_eq!(info_int(&mut p, "stats", "sync_full"), 1);
    assert_eq!(info_int(&mut p, "stats", "sync_partial_ok"), 1);
    assert_eq!(q::<i64>(&mut e, &["LLEN", "l"]), 100);
    // The follower drops its own link (CLIENT KILL TYPE master): the same.
    assert_eq!(q::<i64>(&mut e, &["CLIENT", "KILL", "TYPE", "master"]), 1);
    let _: () = redis::cmd("SET").arg("b").arg("2").query(&mut p).unwrap();
    assert_eq!(wait_replicas(&mut p, 1), 1);
    assert_eq!(info_int(&mut p, "stats", "sync_partial_ok"), 2);
    assert_eq!(q::<String>(&mut e, &["GET", "b"]), "2");

    assert_eq!(q::<String>(&mut e, &["REPLICAOF", "NO", "ONE"]), "OK");
    match qv(&mut e, &["ROLE"]) {
        Value::Array(a) => assert_eq!(vstr(&a[0]).as_deref(), Some("master"), "{a:?}"),
        other => panic!("ROLE: {other:?}"),
    }
    let _: () = redis::cmd("SET")
        .arg("mine")
        .arg("1")
        .query(&mut e)
        .unwrap();
    assert_eq!(q::<String>(&mut e, &["GET", "a"]), "1");
    // The primary's later writes no longer arrive.
    let _: () = redis::cmd("SET")
        .arg("a")
        .arg("changed")
        .query(&mut p)
        .unwrap();
    assert_eq!(q::<i64>(&mut p, &["WAIT", "1", "100"]), 0);
    assert_eq!(q::<String>(&mut e, &["GET", "a"]), "1");
}

/// Answers a follower's handshake on `conn` (a primary that speaks only as far as PSYNC) and
/// returns once PSYNC arrived.
fn answer_handshake(conn: &mut std::net::TcpStream) {
    use std::io::Write;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match parse_resp(&buf, 0) {
            Ok((Resp::Array(cmd), used)) => {
                buf.drain(..used);
                let name = match &cmd[0] {
                    Resp::Bulk(b) => String::from_utf8_lossy(b).to_uppercase(),
                    other => panic!("{other:?}"),
                };
                match name.as_str() {
                    "PING" => conn.write_all(b"+PONG\r\n").unwrap(),
                    "PSYNC" => return,
                    _ => conn.write_all(b"+OK\r\n").unwrap(),
                }
            }
            Ok(other) => panic!("{other:?}"),
            Err(_) => {
                let n = conn.read(&mut chunk).expect("the follower's handshake");
                assert!(n > 0, "the follower closed during its handshake");
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

/// A primary whose image is cut short (its announced length ends inside an entry, and stream
/// bytes follow): the follower drops the link and connects again, and keeps serving meanwhile.
#[test]
fn a_truncated_image_drops_the_link_and_the_follower_tries_again() {
    if !eddy_only("a_truncated_image_drops_the_link_and_the_follower_tries_again") {
        return;
    }
    use std::io::Write;
    let primary = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = primary.local_addr().unwrap().port();
    let eddy = Server::start();
    let mut e = eddy.conn();
    let _: String = q(&mut e, &["REPLICAOF", "127.0.0.1", &port.to_string()]);
    let (mut conn, _) = primary.accept().unwrap();
    conn.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    answer_handshake(&mut conn);
    // A string entry that says 5 bytes and holds 1, then the stream.
    let image = b"REDIS0010\xfe\x00\x00\x01k\x05v";
    let mut reply =
        format!("+FULLRESYNC {} 0\r\n${}\r\n", "a".repeat(40), image.len()).into_bytes();
    reply.extend_from_slice(image);
    reply.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    conn.write_all(&reply).unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest)
        .expect("the follower closes the link");
    // It tries again, and serves its clients meanwhile.
    let (mut again, _) = primary.accept().unwrap();
    again.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    answer_handshake(&mut again);
    assert_eq!(q::<String>(&mut e, &["PING"]), "PONG");
    let info: String = q(&mut e, &["INFO", "replication"]);
    assert!(info.contains("master_link_status:down"), "{info}");
    assert!(eddy.log().contains("damaged"), "{}", eddy.log());
    // Nor does it serve replicas of its own meanwhile, as Redis does not.
    assert_eq!(
        qerr(&mut e, &["PSYNC", "?", "-1"]),
        "NOMASTERLINK Can't SYNC while not connected with my master"
    );
}

// ---------------------------------------------------------------------------------------------
// FAILOVER: the primary role handed to a replica and back
// ---------------------------------------------------------------------------------------------

/// INFO replication's text of a connection.
fn repl_info(c: &mut redis::Connection) -> String {
    q(c, &["INFO", "replication"])
}

/// Waits until `c` is a replica whose link is up and whose failover (if it ran one) is over.
fn wait_replica_after_failover(c: &mut redis::Connection) {
    assert!(
        poll_until(Duration::from_secs(20), || {
            let i = repl_info(c);
            i.contains("role:slave")
                && i.contains("master_link_status:up")
                && i.contains("master_failover_state:no-failover")
        }),
        "{}",
        repl_info(c)
    );
}

/// The new primary continued the old one's stream: at least one partial resynchronisation
/// (a second can follow if the link drops right after the hand-over; which happened once in
/// CI, cause not found), and the full ones are checked by the caller.
fn assert_continued(c: &mut redis::Connection) {
    let ok = info_int(c, "stats", "sync_partial_ok");
    assert!(ok >= 1, "sync_partial_ok:{ok}");
}

/// Waits until `c` is a primary with one online replica.
fn wait_primary_with_replica(c: &mut redis::Connection) {
    assert!(
        poll_until(Duration::from_secs(20), || {
            let i = repl_info(c);
            i.contains("role:master") && i.contains("state=online")
        }),
        "{}",
        repl_info(c)
    );
}

/// FAILOVER on Eddy hands the primary role to its redis-server replica: writes pause, the
/// replica catches up, Eddy follows it with `PSYNC ... FAILOVER` and continues its stream
/// without an image (the replica counts a partial resynchronisation and no full one). Then the
/// other way: redis-server's `FAILOVER TO <eddy>` makes Eddy the primary again, and Eddy
/// continues the stream it followed for redis-server the same way. Both hold the same data
/// throughout.
#[test]
fn failover_hands_the_primary_role_to_a_redis_replica_and_back() {
    let Some((srv, mut c, rep)) = loaded_primary_with_replica() else {
        return;
    };
    let mut r = rep.conn();
    write_every_kind(&mut c);
    assert_eq!(wait_replicas(&mut c, 1), 1);

    assert_eq!(q::<String>(&mut c, &["FAILOVER"]), "OK");
    wait_replica_after_failover(&mut c);
    wait_primary_with_replica(&mut r);
    assert_eq!(info_int(&mut r, "stats", "sync_full"), 0);
    assert_continued(&mut r);
    assert_eq!(
        qerr(&mut c, &["SET", "k", "v"]),
        "READONLY You can't write against a read only replica."
    );
    let _: () = redis::cmd("SET").arg("k").arg("r").query(&mut r).unwrap();
    let _: i64 = q(&mut r, &["INCR", "counter"]);
    assert_eq!(wait_replicas(&mut r, 1), 1);
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "r");
    assert_same(&contents(&mut c), &contents(&mut r));
    assert_same_digest(&mut c, &mut r);

    let port = srv.port().to_string();
    assert_eq!(
        q::<String>(&mut r, &["FAILOVER", "TO", "127.0.0.1", &port]),
        "OK"
    );
    wait_replica_after_failover(&mut r);
    wait_primary_with_replica(&mut c);
    assert_eq!(info_int(&mut c, "stats", "sync_full"), 1);
    assert_continued(&mut c);
    let _: () = redis::cmd("SET").arg("k").arg("e").query(&mut c).unwrap();
    assert_eq!(wait_replicas(&mut c, 1), 1);
    assert_eq!(q::<String>(&mut r, &["GET", "k"]), "e");
    assert_same(&contents(&mut r), &contents(&mut c));
    assert_same_digest(&mut r, &mut c);
}

/// Two Eddys: the follower of a FAILOVER becomes the primary, and the old primary's change
/// feed goes on recording the new primary's writes (origin `replication`).
#[test]
fn two_eddys_fail_over_without_a_full_synchronisation() {
    if !eddy_only("two_eddys_fail_over_without_a_full_synchronisation") {
        return;
    }
    let (a, b) = (Server::start(), Server::start());
    let (mut ca, mut cb) = (a.conn(), b.conn());
    let _: () = redis::cmd("SET").arg("x").arg("1").query(&mut ca).unwrap();
    let ok: String = q(&mut cb, &["REPLICAOF", "127.0.0.1", &a.port().to_string()]);
    assert_eq!(ok, "OK");
    wait_link_up(&mut cb);
    let _: i64 = q(&mut ca, &["INCR", "x"]);
    assert_eq!(wait_replicas(&mut ca, 1), 1);
    let before = last_offset(&mut ca);

    assert_eq!(
        q::<String>(&mut ca, &["FAILOVER", "TIMEOUT", "20000"]),
        "OK"
    );
    wait_replica_after_failover(&mut ca);
    wait_primary_with_replica(&mut cb);
    assert_continued(&mut cb);
    assert_eq!(info_int(&mut cb, "stats", "sync_full"), 0);
    let _: i64 = q(&mut cb, &["INCR", "x"]);
    assert_eq!(wait_replicas(&mut cb, 1), 1);
    assert_eq!(q::<String>(&mut ca, &["GET", "x"]), "3");
    assert_same_digest(&mut ca, &mut cb);
    // The old primary's feed: nothing from the hand-over itself, then the new primary's write.
    let after = changes_read(&mut ca, &[&format!("({before}"), "COUNT", "10"]);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].key, "x");
    assert_eq!(after[0].origin, "replication");
}

/// FAILOVER's errors in Redis's order; a failover waiting for a replica that does not catch up
/// pauses writes (CLIENT UNPAUSE does not end it) and serves reads, refuses REPLICAOF and a
/// second FAILOVER, and ends on ABORT or its TIMEOUT with writes resumed; with FORCE it goes on
/// to the named replica at the timeout, which becomes the primary once it runs again.
#[test]
fn failover_waits_for_its_replica_and_ends_on_abort_timeout_or_force() {
    if !require_tool("redis-server") {
        return;
    }
    let alone = Server::start();
    let mut a = alone.conn();
    for (args, err) in [
        (
            &["FAILOVER"][..],
            "ERR FAILOVER requires connected replicas.",
        ),
        (&["FAILOVER", "ABORT"], "ERR No failover in progress."),
        (&["FAILOVER", "ABORT", "x"], "ERR syntax error"),
        (&["FAILOVER", "TO", "h"], "ERR syntax error"),
        (
            &["FAILOVER", "TIMEOUT", "0"],
            "ERR FAILOVER timeout must be greater than 0",
        ),
        (
            &["FAILOVER", "TIMEOUT", "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["FAILOVER", "TIMEOUT", "5", "TIMEOUT", "5"],
            "ERR syntax error",
        ),
        (
            &["FAILOVER", "TO", "h", "x"],
            "ERR value is not an integer or out of range",
        ),
        (
            &["FAILOVER", "FORCE"],
            "ERR FAILOVER requires connected replicas.",
        ),
        (
            &["PSYNC", "?", "-1", "FAILOVER"],
            "ERR PSYNC FAILOVER can't be sent to a master.",
        ),
    ] {
        assert_eq!(qerr(&mut a, args), err, "{args:?}");
    }

    let (srv, mut c, rep) = lagging_replica(&[]);
    let port = rep.port.to_string();
    for (args, err) in [
        (
            &["FAILOVER", "FORCE"][..],
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ),
        (
            &["FAILOVER", "TO", "127.0.0.1", &port, "FORCE"],
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        ),
        (
            &["FAILOVER", "TO", "127.0.0.1", "1"],
            "ERR FAILOVER target HOST and PORT is not a replica.",
        ),
    ] {
        assert_eq!(qerr(&mut c, args), err, "{args:?}");
    }
    assert_eq!(q::<String>(&mut c, &["FAILOVER"]), "OK");
    assert!(repl_info(&mut c).contains("master_failover_state:waiting-for-sync"));
    assert_eq!(
        qerr(&mut c, &["FAILOVER"]),
        "ERR FAILOVER already in progress."
    );
    assert_eq!(
        qerr(&mut c, &["REPLICAOF", "127.0.0.1", &port]),
        "ERR REPLICAOF not allowed while failing over."
    );
    assert_eq!(
        qerr(&mut srv.conn(), &["PSYNC", "?", "-1"]),
        "NOMASTERLINK Can't SYNC while failing over"
    );
    let mut w = srv.raw();
    w.send_cmd(&["SET", "during", "1"]);
    assert!(blocked_clients_reach(&mut c, 1));
    assert_eq!(q::<String>(&mut c, &["GET", "a"]), "1");
    assert_eq!(q::<String>(&mut c, &["CLIENT", "UNPAUSE"]), "OK");
    assert!(blocked_clients_reach(&mut c, 1));
    assert_eq!(q::<String>(&mut c, &["FAILOVER", "ABORT"]), "OK");
    assert_eq!(w.read_reply(), Resp::Simple("OK".into()));
    assert!(repl_info(&mut c).contains("master_failover_state:no-failover"));

    // TIMEOUT without FORCE: aborted once it passes, still the primary.
    let args = ["FAILOVER", "TO", "127.0.0.1", &port, "TIMEOUT", "300"];
    assert_eq!(q::<String>(&mut c, &args), "OK");
    assert!(poll_until(Duration::from_secs(10), || repl_info(&mut c)
        .contains("master_failover_state:no-failover")));
    assert!(repl_info(&mut c).contains("role:master"));
    let _: () = redis::cmd("SET").arg("b").arg("1").query(&mut c).unwrap();

    // With FORCE: at the timeout it follows the replica anyway; once that runs again it is the
    // primary, with every write.
    let args = [
        "FAILOVER",
        "TO",
        "127.0.0.1",
        &port,
        "TIMEOUT",
        "300",
        "FORCE",
    ];
    assert_eq!(q::<String>(&mut c, &args), "OK");
    assert!(poll_until(Duration::from_secs(10), || repl_info(&mut c)
        .contains("master_failover_state:failover-in-progress")));
    signal(rep.child.id(), libc::SIGCONT);
    wait_replica_after_failover(&mut c);
    assert_eq!(
        qerr(&mut c, &["FAILOVER"]),
        "ERR FAILOVER is not valid when server is a replica."
    );
    assert_eq!(
        qerr(&mut c, &["PSYNC", "0123", "1", "FAILOVER"]),
        "ERR PSYNC FAILOVER replid must match my replid."
    );
    let mut r = rep.conn();
    assert!(repl_info(&mut r).contains("role:master"));
    assert_eq!(q::<i64>(&mut r, &["EXISTS", "a", "late", "during", "b"]), 4);
    assert_same_digest(&mut c, &mut r);
}

/// Writers keep incrementing their counters on Eddy while FAILOVER hands the primary role to
/// its redis-server replica: every write Eddy acknowledged is on the new primary, and no
/// other (each counter there equals the number of its acknowledged INCRs); once the hand-over
/// is done, writes to Eddy get READONLY.
#[test]
fn no_acknowledged_write_is_lost_across_a_failover() {
    let Some((srv, mut c, rep)) = loaded_primary_with_replica() else {
        return;
    };
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let mut w = srv.conn();
            std::thread::spawn(move || {
                let key = format!("counter:{i}");
                let mut acked = 0i64;
                loop {
                    match redis::cmd("INCR").arg(&key).query::<i64>(&mut w) {
                        Ok(n) => {
                            acked += 1;
                            assert_eq!(n, acked);
                        }
                        Err(e) => {
                            assert!(err_text(&e).starts_with("READONLY"), "{e}");
                            return (key, acked);
                        }
                    }
                }
            })
        })
        .collect();
    assert!(poll_until(Duration::from_secs(10), || {
        (0..4).all(|i| q::<Option<i64>>(&mut c, &["GET", &format!("counter:{i}")]) > Some(100))
    }));
    assert_eq!(q::<String>(&mut c, &["FAILOVER"]), "OK");
    let mut r = rep.conn();
    for w in writers {
        let (key, acked) = w.join().expect("writer");
        assert_eq!(q::<i64>(&mut r, &["GET", &key]), acked, "{key}");
    }
    wait_replica_after_failover(&mut c);
    assert_same_digest(&mut c, &mut r);
}

// ---------------------------------------------------------------------------------------------
// Redis Sentinel managing Eddy
// ---------------------------------------------------------------------------------------------

/// A Sentinel (`redis-server --sentinel`) watching the primary at `port` as `m` (quorum 1),
/// killed on drop.
struct Sentinel {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Sentinel {
    fn watch(primary_port: u16) -> Sentinel {
        let dir = TempDir::new("sentinel");
        let port = free_port();
        let conf = dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\n\
                 sentinel monitor m 127.0.0.1 {primary_port} 1\n\
                 sentinel down-after-milliseconds m 1000\n\
                 sentinel failover-timeout m 10000\n"
            ),
        )
        .expect("sentinel.conf");
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server --sentinel");
        Sentinel {
            child,
            port,
            _dir: dir,
        }
    }

    /// A SENTINEL subcommand's reply, flattened to its strings.
    fn ask(&self, args: &[&str]) -> Vec<String> {
        fn flat(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Array(a) => a.iter().for_each(|x| flat(x, out)),
                other => out.extend(vstr(other)),
            }
        }
        let mut out = Vec::new();
        let reply = redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .and_then(|c| c.get_connection())
            .and_then(|mut c| {
                let mut cmd = redis::cmd("SENTINEL");
                for a in args {
                    cmd.arg(*a);
                }
                cmd.query::<Value>(&mut c)
            });
        if let Ok(v) = reply {
            flat(&v, &mut out);
        }
        out
    }

    /// Waits until the Sentinel names `port` as the primary of `m`.
    fn wait_primary(&self, port: u16) {
        let want = vec!["127.0.0.1".to_string(), port.to_string()];
        assert!(
            poll_until(Duration::from_secs(30), || self
                .ask(&["GET-MASTER-ADDR-BY-NAME", "m"])
                == want),
            "{:?}",
            self.ask(&["MASTER", "m"])
        );
    }

    /// Waits until the Sentinel lists `port` as a replica of `m` that it can promote: flagged
    /// `slave` only, and with its own INFO read (`master-link-status ok`). Listed from the
    /// primary's INFO alone, a replica is not yet eligible (SENTINEL FAILOVER answers
    /// NOGOODSLAVE).
    fn wait_replica(&self, port: u16) {
        let name = format!("127.0.0.1:{port}");
        assert!(
            poll_until(Duration::from_secs(30), || {
                let r = self.ask(&["REPLICAS", "m"]);
                let fields: Vec<(&str, &str)> = r
                    .chunks(2)
                    .filter(|p| p.len() == 2)
                    .map(|p| (p[0].as_str(), p[1].as_str()))
                    .skip_while(|&(k, v)| !(k == "name" && v == name))
                    .take_while(|&(k, v)| !(k == "name" && v != name))
                    .collect();
                fields.contains(&("flags", "slave"))
                    && fields.contains(&("master-link-status", "ok"))
            }),
            "{:?}",
            self.ask(&["REPLICAS", "m"])
        );
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sentinel-managed high availability works with Eddy in either role, with nothing configured
/// for Eddy: SENTINEL FAILOVER promotes an Eddy that follows a Redis primary (REPLICAOF NO ONE
/// inside Sentinel's MULTI, CONFIG REWRITE, CLIENT KILL) and later turns the old Redis primary
/// into Eddy's replica; a second failover hands the role back to Redis and turns Eddy into its
/// replica. Every write reaches the other side each time.
#[test]
fn sentinel_fails_over_between_redis_and_eddy() {
    if !require_tool("redis-server") {
        return;
    }
    let redis = Redis::primary(&[]);
    let _: () = redis::cmd("SET")
        .arg("a")
        .arg("1")
        .query(&mut redis.conn())
        .unwrap();
    let eddy = Server::start();
    follow(&eddy, &redis);
    let sentinel = Sentinel::watch(redis.port);
    sentinel.wait_replica(eddy.port());

    assert_eq!(sentinel.ask(&["FAILOVER", "m"]), ["OK"]);
    sentinel.wait_primary(eddy.port());
    wait_role(eddy.port(), "role:master");
    let mut e = eddy.conn();
    let _: () = redis::cmd("SET").arg("b").arg("2").query(&mut e).unwrap();
    // Sentinel turns the old primary into a replica of the new one (after about 10 s).
    wait_role(redis.port, "master_link_status:up");
    assert_eq!(wait_replicas(&mut eddy.conn(), 1), 1);
    assert_eq!(q::<String>(&mut redis.conn(), &["GET", "b"]), "2");

    sentinel.wait_replica(redis.port);
    assert_eq!(sentinel.ask(&["FAILOVER", "m"]), ["OK"]);
    sentinel.wait_primary(redis.port);
    wait_role(redis.port, "role:master");
    let _: () = redis::cmd("SET")
        .arg("c")
        .arg("3")
        .query(&mut redis.conn())
        .unwrap();
    wait_role(eddy.port(), "master_link_status:up");
    assert_eq!(wait_replicas(&mut redis.conn(), 1), 1);
    let mut e = eddy.conn();
    assert_eq!(q::<String>(&mut e, &["GET", "c"]), "3");
    assert_same_digest(&mut e, &mut redis.conn());
}

/// Waits until INFO replication of the server at `port` says `what`, on a new connection each
/// time: Sentinel ends the clients' connections of the servers it reconfigures (CLIENT KILL
/// TYPE normal).
fn wait_role(port: u16, what: &str) {
    let info = || {
        redis::Client::open(format!("redis://127.0.0.1:{port}/"))
            .and_then(|c| c.get_connection())
            .and_then(|mut c| {
                redis::cmd("INFO")
                    .arg("replication")
                    .query::<String>(&mut c)
            })
            .unwrap_or_default()
    };
    assert!(
        poll_until(Duration::from_secs(30), || info().contains(what)),
        "{}",
        info()
    );
}

/// An Eddy that must never be promoted (it is there for the change feed): with
/// `replica-priority 0` Sentinel finds no replica to promote, as with a Redis replica.
#[test]
fn sentinel_never_promotes_a_replica_with_priority_0() {
    if !require_tool("redis-server") {
        return;
    }
    let redis = Redis::primary(&[]);
    let eddy = Server::start_with(&["--replica-priority", "0"]);
    let mut e = follow(&eddy, &redis);
    assert!(repl_info(&mut e).contains("slave_priority:0"));
    let sentinel = Sentinel::watch(redis.port);
    sentinel.wait_replica(eddy.port());
    assert_eq!(
        sentinel.ask(&["FAILOVER", "m"]),
        Vec::<String>::new(),
        "the failover is refused"
    );
    let err = redis::Client::open(format!("redis://127.0.0.1:{}/", sentinel.port))
        .and_then(|c| c.get_connection())
        .and_then(|mut c| {
            redis::cmd("SENTINEL")
                .arg("FAILOVER")
                .arg("m")
                .query::<String>(&mut c)
        })
        .expect_err("no replica to promote");
    assert_eq!(err_text(&err), "NOGOODSLAVE No suitable replica to promote");
    assert!(repl_info(&mut e).contains("role:slave"));
}

/// `replica-announce-ip` and `-port` (a replica behind NAT or in a container) are what the
/// primary shows and what FAILOVER TO matches, both ways; `replica-priority` and
/// `replica-announced` are what INFO replication reports.
#[test]
fn replicas_announce_their_address_and_priority() {
    if !require_tool("redis-server") {
        return;
    }
    let redis = Redis::primary(&[]);
    let eddy = Server::start_with(&[
        "--replica-announce-ip",
        "eddy.example",
        "--replica-announce-port",
        "7777",
        "--replica-priority",
        "5",
        "--replica-announced",
        "no",
    ]);
    let mut e = follow(&eddy, &redis);
    let info = repl_info(&mut e);
    assert!(info.contains("slave_priority:5"), "{info}");
    assert!(info.contains("replica_announced:0"), "{info}");
    let info = redis.info("replication");
    assert!(info.contains("slave0:ip=eddy.example,port=7777,"), "{info}");
    let cfg: Vec<String> = q(&mut e, &["CONFIG", "GET", "slave-announce-ip"]);
    assert_eq!(cfg, ["slave-announce-ip", "eddy.example"]);

    // The other way: a Redis replica announcing `localhost` is found under that name only.
    let primary = Server::start();
    let mut p = primary.conn();
    let rep = Redis::spawn(&[
        "--replicaof",
        "127.0.0.1",
        &primary.port().to_string(),
        "--replica-announce-ip",
        "localhost",
    ]);
    wait_role(rep.port, "master_link_status:up");
    wait_primary_with_replica(&mut p);
    let port = rep.port.to_string();
    assert!(repl_info(&mut p).contains(&format!("slave0:ip=localhost,port={port},")));
    assert_eq!(
        qerr(&mut p, &["FAILOVER", "TO", "127.0.0.1", &port]),
        "ERR FAILOVER target HOST and PORT is not a replica."
    );
    assert_eq!(
        q::<String>(&mut p, &["FAILOVER", "TO", "LOCALHOST", &port]),
        "OK"
    );
    wait_replica_after_failover(&mut p);
    assert!(repl_info(&mut p).contains(&format!("master_port:{port}")));
}

/// `replica-serve-stale-data no`: while a follower's link is down, only `stale` commands run
/// (INFO, ECHO, CONFIG, ROLE, ...); reads get MASTERDOWN, writes READONLY, a transaction with a
/// read MASTERDOWN; `yes` serves the stale data again.
#[test]
fn a_follower_without_stale_data_refuses_reads_while_its_link_is_down() {
    // Nothing listens on a port just freed: the link stays down.
    let dead = free_port().to_string();
    let srv = Server::start_with(&[
        "--replicaof",
        "127.0.0.1",
        &dead,
        "--replica-serve-stale-data",
        "no",
    ]);
    let mut c = srv.conn();
    let down = "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
    for cmd in [&["GET", "a"][..], &["PING"], &["DBSIZE"]] {
        assert_eq!(qerr(&mut c, cmd), down, "{cmd:?}");
    }
    assert_eq!(
        qerr(&mut c, &["SET", "a", "1"]),
        "READONLY You can't write against a read only replica."
    );
    assert_eq!(q::<String>(&mut c, &["ECHO", "x"]), "x");
    assert!(q::<String>(&mut c, &["INFO", "replication"]).contains("master_link_status:down"));
    let _: Value = qv(&mut c, &["ROLE"]);
    let _: () = redis::cmd("MULTI").query(&mut c).unwrap();
    assert_eq!(qerr(&mut c, &["GET", "a"]), down);
    assert!(qerr(&mut c, &["EXEC"]).starts_with("EXECABORT"));
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slave-serve-stale-data")
        .arg("yes")
        .query(&mut c)
        .unwrap();
    assert_eq!(q::<Option<String>>(&mut c, &["GET", "a"]), None);
}
