//! Eddy started the way Redis is: from a redis.conf holding every directive redis-server 7.0
//! has, detached (`daemonize yes`, `pidfile`), serving a Unix socket (`unixsocket`), refusing
//! what it does not provide (cluster mode, TLS) at start rather than running without it, and
//! with Redis's protected mode and `enable-debug-command`.
//!
//! Runs against redis-server too (`EDDY_TEST_SERVER=redis-server`), which is how the
//! expectations were checked, bar the Eddy-only refusals and log lines.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// The binary under test: eddy-server, or redis-server in reference mode.
fn binary() -> &'static str {
    if reference_mode() {
        "redis-server"
    } else {
        server_bin()
    }
}

/// `CONFIG GET *` as (name, value) pairs.
fn all_config(c: &mut redis::Connection) -> Vec<(String, String)> {
    let flat: Vec<String> = q(c, &["CONFIG", "GET", "*"]);
    flat.chunks(2)
        .map(|p| (p[0].clone(), p[1].clone()))
        .collect()
}

/// A default redis-server's `CONFIG GET *` (None, the test skips, without redis-server).
fn redis_defaults() -> Option<Vec<(String, String)>> {
    if !require_tool("redis-server") {
        return None;
    }
    let port = free_port();
    let mut child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--logfile", ""])
        .stdout(Stdio::null())
        .spawn()
        .expect("start redis-server");
    let all = all_config(&mut connect_when_up(port));
    let _ = child.kill();
    let _ = child.wait();
    Some(all)
}

/// The server under test on `port` with its data in `dir`, for a test that runs the process
/// itself (detaching, stopping): no snapshots, Eddy's other doors off, output discarded.
fn server_command(port: u16, dir: &TempDir) -> Command {
    let mut cmd = Command::new(binary());
    cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", ""])
        .arg("--dir")
        .arg(dir.path())
        .args(if reference_mode() {
            &[][..]
        } else {
            &DOORS_OFF[..]
        })
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// A connection to the server that is starting on `port`, once it answers PING (20 s at most).
/// A server accepts connections while it loads and answers LOADING until it is done, so taking
/// the first connection is not enough.
fn connect_when_up(port: u16) -> redis::Connection {
    let url = format!("redis://127.0.0.1:{port}/");
    let mut conn = None;
    assert!(
        poll_until(Duration::from_secs(20), || {
            conn = redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection())
                .ok()
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c).ok().map(|_| c));
            conn.is_some()
        }),
        "nothing answers on port {port}"
    );
    conn.expect("connected")
}

/// A config file with every directive a default redis-server reports, at its value, loads:
/// Eddy starts, and CONFIG GET answers each with the value the file gave, as Redis does.
#[test]
fn every_directive_of_a_redis_conf_loads_and_reads_back() {
    let Some(reference) = redis_defaults() else {
        return;
    };
    assert!(reference.len() > 150, "{}", reference.len());
    let dir = TempDir::new("conf");
    let file = dir.path().join("redis.conf");
    // CONFIG GET lists `replicaof` (empty: none), which a file names only to set.
    let reference: Vec<_> = reference
        .into_iter()
        .filter(|(k, v)| !(v.is_empty() && (k == "replicaof" || k == "slaveof")))
        .collect();
    let text: String = reference
        .iter()
        .map(|(k, v)| format!("{k} \"{}\"\n", v.replace('"', "\\\"")))
        .collect();
    std::fs::write(&file, text).expect("write redis.conf");
    // What this test's server needs of its own: the foreground, a log it reads, DEBUG.
    let own = [
        ("daemonize", "no"),
        ("pidfile", ""),
        ("logfile", ""),
        ("enable-debug-command", "yes"),
    ];
    let mut args = vec![file.to_str().unwrap().to_string()];
    for (k, v) in own {
        args.extend([format!("--{k}"), v.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let srv = Server::start_in(dir, &args);
    let mut c = srv.conn();
    assert_eq!(q::<String>(&mut c, &["SET", "k", "v"]), "OK");
    let got: std::collections::HashMap<String, String> = all_config(&mut c).into_iter().collect();
    // The test harness sets these on the command line too.
    let harness = ["port", "dir", "bind", "save", "logfile"];
    for (k, v) in &reference {
        if harness.contains(&k.as_str()) || own.iter().any(|(o, _)| o == k) {
            continue;
        }
        assert_eq!(got.get(k), Some(v), "{k}");
    }
}

/// `daemonize yes` returns at once and leaves the server running in the background, its pid in
/// `pidfile` and its log in `logfile`; SHUTDOWN removes the pid file.
#[test]
fn daemonize_detaches_and_writes_the_pid_file() {
    let dir = TempDir::new("daemon");
    let port = free_port();
    let pidfile = dir.path().join("server.pid");
    let logfile = dir.path().join("server.log");
    let status = server_command(port, &dir)
        .args(["--daemonize", "yes"])
        .arg("--pidfile")
        .arg(&pidfile)
        .arg("--logfile")
        .arg(&logfile)
        .status()
        .expect("run the server");
    assert!(status.success(), "{status}");
    let mut c = connect_when_up(port);
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid");
    let info: String = q(&mut c, &["INFO", "server"]);
    assert_eq!(info_field(&info, "process_id"), i64::from(pid));
    assert!(poll_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&logfile).is_ok_and(|l| l.contains("Ready to accept connections"))
    }));
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    assert!(
        poll_until(Duration::from_secs(10), || !pidfile.exists()),
        "the pid file outlived the server"
    );
    assert!(poll_until(Duration::from_secs(10), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    }));
}

/// Cluster mode and TLS change what clients get, and Eddy has neither: a redis.conf asking for
/// one stops the start with a message naming it.
#[test]
fn what_eddy_does_not_provide_stops_the_start() {
    if !eddy_only("what_eddy_does_not_provide_stops_the_start") {
        return;
    }
    for (args, says) in [
        (&["--cluster-enabled", "yes"][..], "cluster-enabled yes"),
        (&["--tls-port", "6380"], "tls-port"),
    ] {
        let (code, out) = run_server_expecting_exit(args, IO_TIMEOUT);
        assert_eq!(code, Some(1), "{args:?}: {out}");
        assert!(out.contains(says), "{args:?}: {out}");
    }
}

/// A directive that changes nothing in Eddy loads, and its non-default value is named in the
/// log; CONFIG SET checks values as Redis does.
#[test]
fn an_inert_directive_set_away_from_its_default_is_logged() {
    if !eddy_only("an_inert_directive_set_away_from_its_default_is_logged") {
        return;
    }
    let srv = Server::start_with(&["--activedefrag", "yes", "--lazyfree-lazy-user-del", "yes"]);
    let log = srv.log();
    for name in ["activedefrag", "lazyfree-lazy-user-del"] {
        assert!(
            log.lines()
                .any(|l| l.contains("no effect in Eddy") && l.contains(name)),
            "{log}"
        );
    }
    let mut c = srv.conn();
    assert_eq!(
        qerr(&mut c, &["CONFIG", "SET", "active-expire-effort", "11"]),
        "ERR CONFIG SET failed (possibly related to argument 'active-expire-effort') - argument must be between 1 and 10 inclusive"
    );
    assert_eq!(
        qerr(&mut c, &["CONFIG", "SET", "supervised", "systemd"]),
        "ERR CONFIG SET failed (possibly related to argument 'supervised') - can't set immutable config"
    );
}

/// `enable-debug-command no` refuses DEBUG with Redis's words; `local` serves it on loopback
/// connections.
#[test]
fn enable_debug_command_gates_debug() {
    let srv = Server::start_with(&["--enable-debug-command", "no"]);
    let mut c = srv.conn();
    assert_eq!(
        qerr(&mut c, &["DEBUG", "DIGEST"]),
        "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server."
    );
    let srv = Server::start_with(&["--enable-debug-command", "local"]);
    let digest: String = q(&mut srv.conn(), &["DEBUG", "DIGEST"]);
    assert_eq!(digest, "0".repeat(40));
}

/// This host's address on a non-loopback interface, if it has one.
fn outside_address() -> Option<std::net::IpAddr> {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    // No packet is sent: connecting a UDP socket only picks the route's source address.
    s.connect("192.0.2.1:9").ok()?;
    let ip = s.local_addr().ok()?.ip();
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Redis 7's protected mode: bound to every interface with no password, a connection from
/// another address is refused with Redis's DENIED message, while loopback ones are served;
/// `protected-mode no` or a password lets it in.
#[test]
fn protected_mode_serves_only_loopback_without_a_password() {
    let Some(ip) = outside_address() else {
        skip(
            "protected_mode_serves_only_loopback_without_a_password",
            "this host has no non-loopback address to connect from",
        );
        return;
    };
    let srv = Server::start_with(&["--bind", "0.0.0.0"]);
    let mut local = srv.conn();
    let outside = format!("redis://{ip}:{}/", srv.port());
    // The refusal comes unasked, then the connection closes (read before writing anything: a
    // request the server never reads would turn its close into a reset).
    let mut sock = std::net::TcpStream::connect((ip, srv.port())).expect("connect");
    sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let mut said = String::new();
    std::io::Read::read_to_string(&mut sock, &mut said).expect("the refusal");
    assert!(
        said.starts_with("-DENIED Redis is running in protected mode") && said.ends_with("\r\n"),
        "{said}"
    );
    assert_eq!(q::<String>(&mut local, &["PING"]), "PONG");
    let ok: String = q(&mut local, &["CONFIG", "SET", "protected-mode", "no"]);
    assert_eq!(ok, "OK");
    let mut c = redis::Client::open(outside.as_str())
        .and_then(|c| c.get_connection())
        .expect("served");
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
    let ok: String = q(&mut local, &["CONFIG", "SET", "protected-mode", "yes"]);
    assert_eq!(ok, "OK");
    let ok: String = q(&mut local, &["CONFIG", "SET", "requirepass", "pw"]);
    assert_eq!(ok, "OK");
    let with_pass = format!("redis://:pw@{ip}:{}/", srv.port());
    let mut c = redis::Client::open(with_pass.as_str())
        .and_then(|c| c.get_connection())
        .expect("served with the password");
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
}

/// `unixsocket` serves RESP on a Unix socket with `unixsocketperm`'s mode, to redis-cli and the
/// `redis` crate; CLIENT LIST shows the path as the address and flag `U`; protected mode does
/// not refuse it (the peer is on this host); the file is gone after SHUTDOWN.
#[test]
fn a_unix_socket_serves_clients_with_its_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("unix");
    let path = dir.path().join("server.sock");
    let p = path.to_str().unwrap().to_string();
    let mut srv = Server::start_with(&[
        "--unixsocket",
        &p,
        "--unixsocketperm",
        "700",
        "--bind",
        "0.0.0.0",
    ]);
    let mode = std::fs::metadata(&path)
        .expect("socket file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    let client = redis::Client::open(format!("redis+unix://{p}")).expect("url");
    let mut c = client
        .get_connection()
        .expect("connect over the Unix socket");
    assert_eq!(q::<String>(&mut c, &["SET", "k", "v"]), "OK");
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    let me: String = q(&mut c, &["CLIENT", "INFO"]);
    assert!(me.contains(&format!("addr={p}:0 ")), "{me}");
    let flags = me
        .split(' ')
        .find_map(|f| f.strip_prefix("flags="))
        .unwrap_or_default();
    assert!(flags.contains('U'), "{me}");
    if require_tool("redis-cli") {
        let out = Command::new("redis-cli")
            .args(["-s", &p, "GET", "k"])
            .output()
            .expect("redis-cli");
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v");
    }
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    assert!(srv.wait_exit(Duration::from_secs(10)).is_some());
    assert!(!path.exists(), "the socket file outlived the server");
}

/// `bind 127.0.0.1 -addr`: an address marked optional that this host does not have is skipped
/// (as Redis skips it), and the others are served.
#[test]
fn an_optional_bind_address_that_does_not_exist_is_skipped() {
    let srv = Server::start_with(&["--bind", "127.0.0.1 -203.0.113.77"]);
    assert_eq!(q::<String>(&mut srv.conn(), &["PING"]), "PONG");
    if !reference_mode() {
        assert!(
            srv.log().contains("optional address not bound"),
            "{}",
            srv.log()
        );
    }
}

/// A datagram socket bound where systemd binds its notify socket, so the test hears what a
/// `Type=notify` unit's manager would.
struct NotifySocket {
    sock: std::os::unix::net::UnixDatagram,
    /// `NOTIFY_SOCKET` for the server.
    name: String,
}

impl NotifySocket {
    fn at_path(dir: &TempDir) -> NotifySocket {
        let path = dir.path().join("notify.sock");
        let sock = std::os::unix::net::UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket::ready(sock, path.to_string_lossy().into_owned())
    }

    fn in_abstract_namespace(tag: &str) -> NotifySocket {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("eddy-test-{}-{tag}-{}", std::process::id(), free_port());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(&name).expect("address");
        let sock = std::os::unix::net::UnixDatagram::bind_addr(&addr).expect("bind");
        NotifySocket::ready(sock, format!("@{name}"))
    }

    fn ready(sock: std::os::unix::net::UnixDatagram, name: String) -> NotifySocket {
        sock.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        NotifySocket { sock, name }
    }

    /// The lines received until one starts with `last` (all of them, that one included); panics
    /// after 30 s without a message.
    fn until(&self, last: &str) -> Vec<String> {
        let mut lines = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = self.sock.recv(&mut buf).unwrap_or_else(|e| {
                panic!("no notification ({e}) before {last:?}; so far {lines:?}")
            });
            for l in String::from_utf8_lossy(&buf[..n]).lines() {
                lines.push(l.to_string());
                if l.starts_with(last) {
                    return lines;
                }
            }
        }
    }
}

/// `supervised systemd`: the server tells systemd it is loading, then `READY=1` once it serves,
/// and `STOPPING=1` when it shuts down; under supervision `daemonize yes` does not fork (the
/// process the manager started is the server).
#[test]
fn systemd_hears_ready_once_the_data_is_loaded_and_stopping_at_shutdown() {
    let dir = TempDir::new("systemd");
    let notify = NotifySocket::at_path(&dir);
    let srv = Server::start_in_env(
        dir,
        &["--supervised", "systemd", "--daemonize", "yes"],
        &[("NOTIFY_SOCKET", notify.name.as_str())],
    );
    let lines = notify.until("READY=1");
    assert!(lines[0].starts_with("STATUS="), "{lines:?}");
    assert!(
        lines.contains(&"STATUS=Ready to accept connections".to_string()),
        "{lines:?}"
    );
    let mut c = srv.conn();
    let info: String = q(&mut c, &["INFO", "server"]);
    assert!(info.contains("process_supervised:systemd\r\n"), "{info}");
    assert_eq!(info_field(&info, "process_id"), i64::from(srv.pid()));
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    assert_eq!(notify.until("STOPPING=1").last().unwrap(), "STOPPING=1");
}

/// `supervised auto` picks systemd from `NOTIFY_SOCKET`, here an address in the abstract
/// namespace (`@name`), as systemd's own sockets often are.
#[test]
fn auto_supervision_finds_systemd_at_an_abstract_address() {
    let notify = NotifySocket::in_abstract_namespace("auto");
    let srv = Server::start_in_env(
        TempDir::new("systemd-auto"),
        &["--supervised", "auto"],
        &[("NOTIFY_SOCKET", notify.name.as_str())],
    );
    notify.until("READY=1");
    let info: String = q(&mut srv.conn(), &["INFO", "server"]);
    assert!(info.contains("process_supervised:systemd\r\n"), "{info}");
}

/// A supervised replica is ready (read-only) once loaded, and updates its status when its first
/// sync with the primary has finished.
#[test]
fn a_supervised_replica_reports_its_sync() {
    let primary = Server::start();
    let _: () = q(&mut primary.conn(), &["SET", "k", "v"]);
    let dir = TempDir::new("systemd-replica");
    let notify = NotifySocket::at_path(&dir);
    let port = primary.port().to_string();
    let replica = Server::start_in_env(
        dir,
        &["--supervised", "systemd", "--replicaof", "127.0.0.1", &port],
        &[("NOTIFY_SOCKET", notify.name.as_str())],
    );
    let first = notify.until("READY=1");
    assert!(
        first.iter().any(|l| l.contains("read-only mode")),
        "{first:?}"
    );
    notify.until("STATUS=MASTER <-> REPLICA sync: Finished with success");
    let v: Option<String> = q(&mut replica.conn(), &["GET", "k"]);
    assert_eq!(v.as_deref(), Some("v"));
}

/// Asked for systemd supervision without `NOTIFY_SOCKET`, the server says so in its log and
/// runs unsupervised.
#[test]
fn systemd_supervision_without_its_socket_is_off() {
    let srv = Server::start_with(&["--supervised", "systemd"]);
    let info: String = q(&mut srv.conn(), &["INFO", "server"]);
    assert!(info.contains("process_supervised:no\r\n"), "{info}");
    assert!(
        srv.log().contains("NOTIFY_SOCKET not found"),
        "{}",
        srv.log()
    );
}

/// `supervised upstart` (with `UPSTART_JOB` set, as upstart's `expect stop` jobs run): the
/// server stops itself to say it is configured, and serves once continued.
#[test]
fn upstart_supervision_stops_until_continued() {
    let dir = TempDir::new("upstart");
    let port = free_port();
    let mut child = server_command(port, &dir)
        .args(["--supervised", "upstart"])
        .env("UPSTART_JOB", "eddy-test")
        .env_remove("NOTIFY_SOCKET")
        .spawn()
        .expect("start the server");
    let stat = format!("/proc/{}/stat", child.id());
    // The state follows the command name, which is in parentheses.
    let state = || {
        std::fs::read_to_string(&stat)
            .ok()
            .and_then(|s| s.rsplit_once(") ").and_then(|(_, r)| r.chars().next()))
    };
    let stopped = poll_until(Duration::from_secs(20), || state() == Some('T'));
    if !stopped {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the server did not stop itself (state {:?})", state());
    }
    // SAFETY: kill(2) on the child this test started.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGCONT) };
    let mut c = connect_when_up(port);
    let info: String = q(&mut c, &["INFO", "server"]);
    assert!(info.contains("process_supervised:upstart\r\n"), "{info}");
    let _ = redis::cmd("SHUTDOWN").arg("NOSAVE").query::<()>(&mut c);
    let _ = child.wait();
}
