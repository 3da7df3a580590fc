//! Connection and server commands: PING/ECHO/QUIT/RESET, HELLO and AUTH, CLIENT, INFO, TIME,
//! CONFIG, DEBUG, SHUTDOWN, COMMAND, MODULE, LOLWUT, connection limits and idle timeouts, and
//! command-line option errors.

mod common;

use common::{eddy_only, now_ms, poll_until, q, qerr, qv, vget, vstr, Resp, Server, TempDir};
use redis::Value;
use std::time::Duration;

fn b(s: &str) -> Value {
    Value::BulkString(s.as_bytes().to_vec())
}

fn info(c: &mut redis::Connection, section: &str) -> String {
    let v = if section.is_empty() {
        qv(c, &["INFO"])
    } else {
        qv(c, &["INFO", section])
    };
    vstr(&v).unwrap_or_else(|| panic!("INFO reply must be a string: {v:?}"))
}

/// The value of `field:` in an INFO text.
fn info_field(text: &str, field: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
}

/// Extra options for reference-mode runs against a real Redis (DEBUG is disabled by default).
fn debug_args() -> Vec<&'static str> {
    if common::reference_mode() {
        vec!["--enable-debug-command", "yes"]
    } else {
        vec![]
    }
}

// ------------------------------------------------------------------------------------------
// PING ECHO QUIT RESET SELECT
// ------------------------------------------------------------------------------------------

#[test]
fn ping_and_echo() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        assert_eq!(
            qv(&mut c, &["PING"]),
            Value::SimpleString("PONG".into()),
            "{proto}"
        );
        assert_eq!(qv(&mut c, &["PING", "hi there"]), b("hi there"));
        assert_eq!(qv(&mut c, &["ECHO", "hello"]), b("hello"));
        assert_eq!(
            qerr(&mut c, &["ECHO"]),
            "ERR wrong number of arguments for 'echo' command"
        );
        assert_eq!(
            qerr(&mut c, &["PING", "a", "b"]),
            "ERR wrong number of arguments for 'ping' command"
        );
    }
}

#[test]
fn quit_replies_ok_and_closes() {
    let srv = Server::start();
    let mut c = srv.raw();
    c.send_cmd(&["QUIT"]);
    assert_eq!(c.read_wire(), "+OK\r\n");
    assert!(c.closed_within(Duration::from_secs(3)));
}

#[test]
fn reset_restores_connection_defaults() {
    let srv = Server::start();
    let mut c = srv.raw();
    assert_eq!(c.call(&["SELECT", "3"]), Resp::Simple("OK".into()));
    c.call(&["SET", "in3", "v"]);
    c.call(&["CLIENT", "SETNAME", "named"]);
    assert!(matches!(c.call(&["HELLO", "3"]), Resp::Map(_)));
    assert_eq!(c.call(&["RESET"]), Resp::Simple("RESET".into()));
    // Back to RESP2, db 0, no name.
    c.send_cmd(&["GET", "in3"]);
    assert_eq!(c.read_wire(), "$-1\r\n");
    c.send_cmd(&["CLIENT", "GETNAME"]);
    assert_eq!(c.read_wire(), "$-1\r\n");
}

#[test]
fn select_is_per_connection() {
    let srv = Server::start();
    let mut a = srv.conn();
    let mut b2 = srv.conn();
    q::<()>(&mut a, &["SELECT", "1"]);
    q::<()>(&mut a, &["SET", "k", "one"]);
    assert_eq!(qv(&mut b2, &["GET", "k"]), Value::Nil);
    q::<()>(&mut b2, &["SELECT", "1"]);
    assert_eq!(qv(&mut b2, &["GET", "k"]), b("one"));
}

// ------------------------------------------------------------------------------------------
// HELLO and AUTH
// ------------------------------------------------------------------------------------------

#[test]
fn hello_setname_sets_the_client_name() {
    let srv = Server::start();
    let mut c = srv.raw();
    let r = c.call(&["HELLO", "3", "SETNAME", "worker-1"]);
    assert_eq!(r.field("proto"), Some(&Resp::Int(3)), "{r:?}");
    assert_eq!(
        c.call(&["CLIENT", "GETNAME"]),
        Resp::Bulk(b"worker-1".to_vec())
    );
}

#[test]
fn auth_without_a_configured_password_is_an_error() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(
        qerr(&mut c, &["AUTH", "x"]),
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
    );
    assert_eq!(
        qerr(&mut c, &["AUTH", "a", "b"]),
        "WRONGPASS invalid username-password pair or user is disabled."
    );
}

#[test]
fn requirepass_needs_auth_before_commands() {
    let srv = Server::start_with(&["--requirepass", "s3cret"]);
    let mut c = srv.raw();
    c.send_cmd(&["GET", "k"]);
    assert_eq!(c.read_wire(), "-NOAUTH Authentication required.\r\n");
    c.send_cmd(&["SET", "k", "v"]);
    assert_eq!(c.read_wire(), "-NOAUTH Authentication required.\r\n");
    c.send_cmd(&["AUTH", "wrong"]);
    assert_eq!(
        c.read_wire(),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    c.send_cmd(&["AUTH", "default", "wrong"]);
    assert_eq!(
        c.read_wire(),
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    c.send_cmd(&["GET", "k"]);
    assert_eq!(c.read_wire(), "-NOAUTH Authentication required.\r\n");
    assert_eq!(c.call(&["AUTH", "s3cret"]), Resp::Simple("OK".into()));
    assert_eq!(c.call(&["SET", "k", "v"]), Resp::Simple("OK".into()));

    let mut d = srv.raw();
    assert_eq!(
        d.call(&["AUTH", "default", "s3cret"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(d.call(&["GET", "k"]), Resp::Bulk(b"v".to_vec()));
}

#[test]
fn hello_auth_authenticates_and_switches_protocol() {
    let srv = Server::start_with(&["--requirepass", "s3cret"]);
    let mut c = srv.raw();
    let r = c.call(&["HELLO", "3", "AUTH", "default", "wrong"]);
    assert_eq!(
        r,
        Resp::Error("WRONGPASS invalid username-password pair or user is disabled.".into())
    );
    let r = c.call(&["HELLO", "3", "AUTH", "default", "s3cret", "SETNAME", "n1"]);
    assert!(matches!(r, Resp::Map(_)), "{r:?}");
    c.send_cmd(&["GET", "missing"]);
    assert_eq!(c.read_wire(), "_\r\n");
    assert_eq!(c.call(&["CLIENT", "GETNAME"]), Resp::Bulk(b"n1".to_vec()));
}

#[test]
fn redis_crate_authenticates_with_a_password_in_the_url() {
    let srv = Server::start_with(&["--requirepass", "s3cret"]);
    for url in [
        format!("redis://:s3cret@127.0.0.1:{}/", srv.port()),
        format!("redis://:s3cret@127.0.0.1:{}/?protocol=resp3", srv.port()),
    ] {
        let client = redis::Client::open(url.as_str()).expect("client");
        let mut c = client
            .get_connection_with_timeout(common::IO_TIMEOUT)
            .expect("connect with password");
        assert_eq!(qv(&mut c, &["SET", "k", "v"]), Value::Okay);
    }
    let client =
        redis::Client::open(format!("redis://:nope@127.0.0.1:{}/", srv.port())).expect("client");
    assert!(client
        .get_connection_with_timeout(common::IO_TIMEOUT)
        .is_err());
}

// ------------------------------------------------------------------------------------------
// CLIENT
// ------------------------------------------------------------------------------------------

#[test]
fn client_id_setname_getname() {
    let srv = Server::start();
    let mut c = srv.conn();
    let id1: i64 = q(&mut c, &["CLIENT", "ID"]);
    let mut d = srv.conn();
    let id2: i64 = q(&mut d, &["CLIENT", "ID"]);
    assert!(id2 > id1, "ids increase: {id1} then {id2}");
    assert_eq!(qv(&mut c, &["CLIENT", "GETNAME"]), Value::Nil);
    assert_eq!(qv(&mut c, &["CLIENT", "SETNAME", "app-1"]), Value::Okay);
    assert_eq!(qv(&mut c, &["CLIENT", "GETNAME"]), b("app-1"));
    assert_eq!(
        qerr(&mut c, &["CLIENT", "SETNAME", "a b"]),
        "ERR Client names cannot contain spaces, newlines or special characters."
    );
    // An empty name clears it.
    assert_eq!(qv(&mut c, &["CLIENT", "SETNAME", ""]), Value::Okay);
    assert_eq!(qv(&mut c, &["CLIENT", "GETNAME"]), Value::Nil);
    assert_eq!(
        qerr(&mut c, &["CLIENT", "FOO"]),
        "ERR unknown subcommand 'FOO'. Try CLIENT HELP."
    );
}

fn parse_client_line(line: &str) -> Vec<(String, String)> {
    line.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn client_field(line: &str, field: &str) -> Option<String> {
    parse_client_line(line)
        .into_iter()
        .find(|(k, _)| k == field)
        .map(|(_, v)| v)
}

#[test]
fn client_list_and_info_describe_connections() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CLIENT", "SETNAME", "lister"]);
    q::<()>(&mut c, &["SELECT", "2"]);
    let id: i64 = q(&mut c, &["CLIENT", "ID"]);
    let _other = srv.conn();
    let list = vstr(&qv(&mut c, &["CLIENT", "LIST"])).expect("CLIENT LIST is a string");
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    let mine = lines
        .iter()
        .find(|l| client_field(l, "id") == Some(id.to_string()))
        .unwrap_or_else(|| panic!("own id {id} in {list}"));
    assert_eq!(client_field(mine, "name").as_deref(), Some("lister"));
    assert_eq!(client_field(mine, "db").as_deref(), Some("2"));
    assert_eq!(client_field(mine, "cmd").as_deref(), Some("client|list"));
    let addr = client_field(mine, "addr").expect("addr");
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");
    let laddr = client_field(mine, "laddr").expect("laddr");
    assert_eq!(laddr, format!("127.0.0.1:{}", srv.port()));
    for f in [
        "fd", "age", "idle", "flags", "sub", "psub", "multi", "user", "resp",
    ] {
        assert!(client_field(mine, f).is_some(), "field {f} in {mine}");
    }

    let info = vstr(&qv(&mut c, &["CLIENT", "INFO"])).expect("CLIENT INFO is a string");
    assert_eq!(info.lines().count(), 1, "{info}");
    assert_eq!(client_field(&info, "id"), Some(id.to_string()));
    assert_eq!(client_field(&info, "cmd").as_deref(), Some("client|info"));
    assert_eq!(client_field(&info, "resp").as_deref(), Some("2"));

    let only = vstr(&qv(&mut c, &["CLIENT", "LIST", "ID", &id.to_string()])).expect("list");
    assert_eq!(only.lines().count(), 1, "{only}");
}

#[test]
fn client_kill_by_id_and_by_addr() {
    let srv = Server::start();
    let mut admin = srv.conn();
    let mut victim = srv.raw();
    let vid = match victim.call(&["CLIENT", "ID"]) {
        Resp::Int(i) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        q::<i64>(&mut admin, &["CLIENT", "KILL", "ID", &vid.to_string()]),
        1
    );
    assert!(victim.closed_within(Duration::from_secs(3)));
    assert_eq!(q::<i64>(&mut admin, &["CLIENT", "KILL", "ID", "999999"]), 0);

    // Old form: CLIENT KILL addr:port.
    let mut victim2 = srv.raw();
    let info = victim2.call(&["CLIENT", "INFO"]).text().expect("info");
    let addr = client_field(&info, "addr").expect("addr");
    assert_eq!(qv(&mut admin, &["CLIENT", "KILL", &addr]), Value::Okay);
    assert!(victim2.closed_within(Duration::from_secs(3)));
    assert_eq!(
        qerr(&mut admin, &["CLIENT", "KILL", "1.2.3.4:5"]),
        "ERR No such client"
    );
    // SKIPME yes (the default) spares the caller.
    let me: i64 = q(&mut admin, &["CLIENT", "ID"]);
    assert_eq!(
        q::<i64>(&mut admin, &["CLIENT", "KILL", "ID", &me.to_string()]),
        0
    );
    assert_eq!(
        qv(&mut admin, &["PING"]),
        Value::SimpleString("PONG".into())
    );
}

#[test]
fn client_reply_off_on_skip() {
    let srv = Server::start();
    let mut c = srv.raw();
    // OFF: no reply, not even to CLIENT REPLY OFF itself.
    c.send_cmd(&["CLIENT", "REPLY", "OFF"]);
    c.send_cmd(&["SET", "a", "1"]);
    c.send_cmd(&["GET", "a"]);
    c.send_cmd(&["CLIENT", "REPLY", "ON"]);
    assert_eq!(c.read_wire(), "+OK\r\n", "only CLIENT REPLY ON is answered");
    // SKIP: the next command's reply is dropped.
    c.send_cmd(&["CLIENT", "REPLY", "SKIP"]);
    c.send_cmd(&["ECHO", "skipped"]);
    c.send_cmd(&["ECHO", "seen"]);
    assert_eq!(c.read_wire(), "$4\r\nseen\r\n");
    // CLIENT REPLY ON right after SKIP clears the skip and answers.
    c.send_cmd(&["CLIENT", "REPLY", "SKIP"]);
    assert_eq!(
        c.call(&["CLIENT", "REPLY", "ON"]),
        Resp::Simple("OK".into())
    );
    assert_eq!(c.call(&["GET", "a"]), Resp::Bulk(b"1".to_vec()));
    assert_eq!(
        c.call(&["CLIENT", "REPLY", "FOO"]),
        Resp::Error("ERR syntax error".into())
    );
}

#[test]
fn client_no_evict_on_off() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["CLIENT", "NO-EVICT", "ON"]), Value::Okay);
    assert_eq!(qv(&mut c, &["CLIENT", "NO-EVICT", "OFF"]), Value::Okay);
    assert_eq!(
        qerr(&mut c, &["CLIENT", "NO-EVICT", "MAYBE"]),
        "ERR syntax error"
    );
}

/// CLIENT NO-TOUCH and CLIENT SETINFO are Redis 7.2 additions.
#[test]
fn client_no_touch_and_setinfo() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["CLIENT", "NO-TOUCH", "ON"]), Value::Okay);
    assert_eq!(qv(&mut c, &["CLIENT", "NO-TOUCH", "OFF"]), Value::Okay);
    assert_eq!(
        qerr(&mut c, &["CLIENT", "NO-TOUCH", "MAYBE"]),
        "ERR syntax error"
    );
    assert_eq!(
        qv(&mut c, &["CLIENT", "SETINFO", "LIB-NAME", "eddy-tests"]),
        Value::Okay
    );
    assert_eq!(
        qv(&mut c, &["CLIENT", "SETINFO", "LIB-VER", "1.2.3"]),
        Value::Okay
    );
    let info = vstr(&qv(&mut c, &["CLIENT", "INFO"])).expect("info");
    assert_eq!(
        client_field(&info, "lib-name").as_deref(),
        Some("eddy-tests")
    );
    assert_eq!(client_field(&info, "lib-ver").as_deref(), Some("1.2.3"));
}

// ------------------------------------------------------------------------------------------
// INFO TIME LASTSAVE
// ------------------------------------------------------------------------------------------

#[test]
fn info_sections_use_redis_field_names() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v"]);
    let _: Value = qv(&mut c, &["GET", "k"]);

    let server = info(&mut c, "server");
    assert!(server.starts_with("# Server"), "{server}");
    assert!(info_field(&server, "redis_version").is_some(), "{server}");
    assert_eq!(
        info_field(&server, "tcp_port"),
        Some(srv.port().to_string())
    );
    for f in ["process_id", "uptime_in_seconds", "run_id", "redis_mode"] {
        assert!(info_field(&server, f).is_some(), "{f} in {server}");
    }

    let clients = info(&mut c, "clients");
    assert_eq!(
        info_field(&clients, "connected_clients").as_deref(),
        Some("1")
    );

    let memory = info(&mut c, "memory");
    let used: i64 = info_field(&memory, "used_memory")
        .expect("used_memory")
        .parse()
        .expect("number");
    assert!(used > 0);
    for f in ["used_memory_human", "maxmemory", "maxmemory_policy"] {
        assert!(info_field(&memory, f).is_some(), "{f} in {memory}");
    }

    let persistence = info(&mut c, "persistence");
    assert!(
        info_field(&persistence, "rdb_last_save_time").is_some(),
        "{persistence}"
    );
    assert!(
        info_field(&persistence, "aof_enabled").is_some(),
        "{persistence}"
    );
    assert_eq!(info_field(&persistence, "loading").as_deref(), Some("0"));

    let stats = info(&mut c, "stats");
    let total: i64 = info_field(&stats, "total_commands_processed")
        .expect("total_commands_processed")
        .parse()
        .expect("number");
    assert!(total >= 2, "{stats}");
    assert_eq!(info_field(&stats, "keyspace_hits").as_deref(), Some("1"));
    for f in [
        "total_connections_received",
        "keyspace_misses",
        "expired_keys",
        "evicted_keys",
    ] {
        assert!(info_field(&stats, f).is_some(), "{f} in {stats}");
    }

    let replication = info(&mut c, "replication");
    assert_eq!(info_field(&replication, "role").as_deref(), Some("master"));

    let cpu = info(&mut c, "cpu");
    for f in ["used_cpu_sys", "used_cpu_user"] {
        assert!(info_field(&cpu, f).is_some(), "{f} in {cpu}");
    }

    let cmdstats = info(&mut c, "commandstats");
    let set = info_field(&cmdstats, "cmdstat_set").expect("cmdstat_set");
    assert!(set.starts_with("calls=1,"), "{set}");
    assert!(set.contains("usec="), "{set}");

    let keyspace = info(&mut c, "keyspace");
    assert_eq!(
        info_field(&keyspace, "db0").as_deref(),
        Some("keys=1,expires=0,avg_ttl=0")
    );

    // Default INFO has the default sections; multiple sections may be named.
    let all = info(&mut c, "");
    for h in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Keyspace",
    ] {
        assert!(all.contains(h), "{h} in default INFO");
    }
    let two = vstr(&qv(&mut c, &["INFO", "server", "clients"])).expect("info");
    assert!(two.contains("# Server") && two.contains("# Clients") && !two.contains("# Memory"));
}

/// Every field redis-server 7.0.15 reports in each section of `INFO everything` (bar the
/// per-command, per-error and per-database lines), by name: monitoring (redis_exporter) and client
/// libraries read them by name, and some fail on one that is missing (redis-py's own test set-up
/// reads `cluster_enabled`).
const REDIS_7_0_INFO_FIELDS: &[(&str, &str)] = &[
    (
        "server",
        "redis_version redis_git_sha1 redis_git_dirty redis_build_id redis_mode os arch_bits monotonic_clock multiplexing_api atomicvar_api gcc_version process_id process_supervised run_id tcp_port server_time_usec uptime_in_seconds uptime_in_days hz configured_hz lru_clock executable config_file io_threads_active",
    ),
    (
        "clients",
        "connected_clients cluster_connections maxclients client_recent_max_input_buffer client_recent_max_output_buffer blocked_clients tracking_clients clients_in_timeout_table",
    ),
    (
        "memory",
        "used_memory used_memory_human used_memory_rss used_memory_rss_human used_memory_peak used_memory_peak_human used_memory_peak_perc used_memory_overhead used_memory_startup used_memory_dataset used_memory_dataset_perc allocator_allocated allocator_active allocator_resident total_system_memory total_system_memory_human used_memory_lua used_memory_vm_eval used_memory_lua_human used_memory_scripts_eval number_of_cached_scripts number_of_functions number_of_libraries used_memory_vm_functions used_memory_vm_total used_memory_vm_total_human used_memory_functions used_memory_scripts used_memory_scripts_human maxmemory maxmemory_human maxmemory_policy allocator_frag_ratio allocator_frag_bytes allocator_rss_ratio allocator_rss_bytes rss_overhead_ratio rss_overhead_bytes mem_fragmentation_ratio mem_fragmentation_bytes mem_not_counted_for_evict mem_replication_backlog mem_total_replication_buffers mem_clients_slaves mem_clients_normal mem_cluster_links mem_aof_buffer mem_allocator active_defrag_running lazyfree_pending_objects lazyfreed_objects",
    ),
    (
        "persistence",
        "loading async_loading current_cow_peak current_cow_size current_cow_size_age current_fork_perc current_save_keys_processed current_save_keys_total rdb_changes_since_last_save rdb_bgsave_in_progress rdb_last_save_time rdb_last_bgsave_status rdb_last_bgsave_time_sec rdb_current_bgsave_time_sec rdb_saves rdb_last_cow_size rdb_last_load_keys_expired rdb_last_load_keys_loaded aof_enabled aof_rewrite_in_progress aof_rewrite_scheduled aof_last_rewrite_time_sec aof_current_rewrite_time_sec aof_last_bgrewrite_status aof_rewrites aof_rewrites_consecutive_failures aof_last_write_status aof_last_cow_size module_fork_in_progress module_fork_last_cow_size",
    ),
    (
        "stats",
        "total_connections_received total_commands_processed instantaneous_ops_per_sec total_net_input_bytes total_net_output_bytes total_net_repl_input_bytes total_net_repl_output_bytes instantaneous_input_kbps instantaneous_output_kbps instantaneous_input_repl_kbps instantaneous_output_repl_kbps rejected_connections sync_full sync_partial_ok sync_partial_err expired_keys expired_stale_perc expired_time_cap_reached_count expire_cycle_cpu_milliseconds evicted_keys evicted_clients total_eviction_exceeded_time current_eviction_exceeded_time keyspace_hits keyspace_misses pubsub_channels pubsub_patterns pubsubshard_channels latest_fork_usec total_forks migrate_cached_sockets slave_expires_tracked_keys active_defrag_hits active_defrag_misses active_defrag_key_hits active_defrag_key_misses total_active_defrag_time current_active_defrag_time tracking_total_keys tracking_total_items tracking_total_prefixes unexpected_error_replies total_error_replies dump_payload_sanitizations total_reads_processed total_writes_processed io_threaded_reads_processed io_threaded_writes_processed reply_buffer_shrinks reply_buffer_expands",
    ),
    (
        "replication",
        "role connected_slaves master_failover_state master_replid master_replid2 master_repl_offset second_repl_offset repl_backlog_active repl_backlog_size repl_backlog_first_byte_offset repl_backlog_histlen",
    ),
    (
        "cpu",
        "used_cpu_sys used_cpu_user used_cpu_sys_children used_cpu_user_children used_cpu_sys_main_thread used_cpu_user_main_thread",
    ),
    (
        "cluster",
        "cluster_enabled",
    ),
];

#[test]
fn info_reports_every_field_redis_7_0_does() {
    let srv = Server::start();
    let mut c = srv.conn();
    for (section, fields) in REDIS_7_0_INFO_FIELDS {
        let text = info(&mut c, section);
        for f in fields.split(' ') {
            assert!(info_field(&text, f).is_some(), "{f} missing in {text}");
        }
    }
}

/// `instantaneous_ops_per_sec` and the `_kbps` rates follow the load of the last moments, as
/// Redis's do (sampled every 100 ms, averaged over 16 samples), and fall once it stops (to what
/// the test's own INFO calls cost, at most 100 a second).
#[test]
fn info_instantaneous_rates_follow_the_load() {
    let srv = Server::start();
    let mut c = srv.conn();
    let rate = |c: &mut redis::Connection, f: &str| -> f64 {
        info_field(&info(c, "stats"), f)
            .expect(f)
            .parse()
            .expect("a number")
    };
    let mut load = srv.conn();
    let busy = poll_until(std::time::Duration::from_secs(20), || {
        for _ in 0..200 {
            q::<()>(&mut load, &["SET", "k", "v"]);
        }
        rate(&mut c, "instantaneous_ops_per_sec") > 1000.0
    });
    assert!(busy, "no rate under load: {}", info(&mut c, "stats"));
    assert!(rate(&mut c, "instantaneous_input_kbps") > 0.0);
    assert!(rate(&mut c, "instantaneous_output_kbps") > 0.0);
    let idle = poll_until(std::time::Duration::from_secs(20), || {
        rate(&mut c, "instantaneous_ops_per_sec") < 500.0
    });
    assert!(idle, "{}", info(&mut c, "stats"));
}

#[test]
fn info_keyspace_counts_expires() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "a", "1", "EX", "1000"]);
    q::<()>(&mut c, &["SET", "b", "1"]);
    q::<()>(&mut c, &["SELECT", "3"]);
    q::<()>(&mut c, &["SET", "c", "1"]);
    let ks = info(&mut c, "keyspace");
    let db0 = info_field(&ks, "db0").expect("db0");
    assert!(db0.starts_with("keys=2,expires=1,avg_ttl="), "{db0}");
    assert_eq!(
        info_field(&ks, "db3").as_deref(),
        Some("keys=1,expires=0,avg_ttl=0")
    );
    assert!(info_field(&ks, "db1").is_none(), "empty dbs are omitted");
}

#[test]
fn time_and_lastsave() {
    let srv = Server::start();
    let mut c = srv.conn();
    let v = qv(&mut c, &["TIME"]);
    let Value::Array(parts) = v else {
        panic!("{v:?}")
    };
    assert_eq!(parts.len(), 2);
    let secs: i64 = vstr(&parts[0]).expect("secs").parse().expect("int");
    let micros: i64 = vstr(&parts[1]).expect("micros").parse().expect("int");
    assert!((secs - now_ms() / 1000).abs() <= 2);
    assert!((0..1_000_000).contains(&micros));
    let last: i64 = q(&mut c, &["LASTSAVE"]);
    assert!(last > 0 && last <= now_ms() / 1000 + 1);
}

// ------------------------------------------------------------------------------------------
// CONFIG
// ------------------------------------------------------------------------------------------

#[test]
fn config_get_with_globs_and_several_patterns() {
    let srv = Server::start_with(&["--maxclients", "321", "--timeout", "0"]);
    for (proto, mut c) in srv.conns() {
        let v = qv(&mut c, &["CONFIG", "GET", "maxclients"]);
        assert_eq!(vget(&v, "maxclients"), Some(b("321")), "{proto}");
        let v = qv(&mut c, &["CONFIG", "GET", "max*"]);
        for name in ["maxclients", "maxmemory", "maxmemory-policy"] {
            assert!(vget(&v, name).is_some(), "{name} in {v:?}");
        }
        let v = qv(&mut c, &["CONFIG", "GET", "port", "timeout"]);
        // `port` is the configured value: the real port, or 0 when started with `--port 0`.
        let port = vget(&v, "port").as_ref().and_then(vstr);
        assert!(
            port.as_deref() == Some("0") || port == Some(srv.port().to_string()),
            "{proto}: port {port:?}"
        );
        assert_eq!(vget(&v, "timeout"), Some(b("0")));
        let v = qv(&mut c, &["CONFIG", "GET", "no-such-thing"]);
        assert!(common::vpairs(&v).is_empty(), "{v:?}");
        // Names are case-insensitive, and an exact name is answered as it was asked for, an
        // alias included (redis-py's config_get keys its dict by the name in the reply).
        let names =
            |v: &Value| -> Vec<String> { common::vpairs(v).into_iter().map(|(k, _)| k).collect() };
        let v = qv(&mut c, &["CONFIG", "GET", "MAXCLIENTS"]);
        assert_eq!(names(&v), ["MAXCLIENTS"], "{proto}");
        assert_eq!(vget(&v, "maxclients"), Some(b("321")));
        let v = qv(
            &mut c,
            &[
                "CONFIG",
                "GET",
                "slave-read-only",
                "maxclients",
                "MaxClients",
            ],
        );
        assert_eq!(names(&v), ["slave-read-only", "maxclients"], "{proto}");
        assert_eq!(vget(&v, "slave-read-only"), Some(b("yes")));
        // A pattern matches aliases too.
        let mut v = names(&qv(&mut c, &["CONFIG", "GET", "*-read-only"]));
        v.sort();
        assert_eq!(v, ["replica-read-only", "slave-read-only"], "{proto}");
    }
}

#[test]
fn config_set_several_pairs_and_errors() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(
        qv(
            &mut c,
            &["CONFIG", "SET", "maxmemory", "10mb", "timeout", "300"]
        ),
        Value::Okay
    );
    let v = qv(&mut c, &["CONFIG", "GET", "maxmemory", "timeout"]);
    assert_eq!(vget(&v, "maxmemory"), Some(b("10485760")));
    assert_eq!(vget(&v, "timeout"), Some(b("300")));
    assert_eq!(
        qerr(&mut c, &["CONFIG", "SET", "maxmemory", "abc"]),
        "ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value"
    );
    assert_eq!(
        qerr(&mut c, &["CONFIG", "SET", "foo", "bar"]),
        "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
    );
    assert_eq!(
        qerr(&mut c, &["CONFIG", "SET", "timeout", "5", "timeout", "6"]),
        "ERR CONFIG SET failed (possibly related to argument 'timeout') - duplicate parameter"
    );
    assert_eq!(
        qerr(&mut c, &["CONFIG", "SET", "maxmemory"]),
        "ERR wrong number of arguments for 'config|set' command"
    );
    // A failing pair leaves the others unchanged (all or nothing).
    assert_eq!(
        qerr(&mut c, &["CONFIG", "SET", "maxmemory", "20mb", "timeout", "abc"]),
        "ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer"
    );
    let v = qv(&mut c, &["CONFIG", "GET", "maxmemory"]);
    assert_eq!(vget(&v, "maxmemory"), Some(b("10485760")));
    assert_eq!(
        qv(
            &mut c,
            &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]
        ),
        Value::Okay
    );
    assert!(qerr(&mut c, &["CONFIG", "SET", "maxmemory-policy", "nope"])
        .starts_with("ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - "));
}

#[test]
fn config_resetstat_clears_counters() {
    let srv = Server::start();
    let mut c = srv.conn();
    for _ in 0..5 {
        q::<()>(&mut c, &["SET", "k", "v"]);
    }
    assert!(info_field(&info(&mut c, "commandstats"), "cmdstat_set").is_some());
    assert_eq!(qv(&mut c, &["CONFIG", "RESETSTAT"]), Value::Okay);
    let cs = info(&mut c, "commandstats");
    assert!(info_field(&cs, "cmdstat_set").is_none(), "{cs}");
    let stats = info(&mut c, "stats");
    let total: i64 = info_field(&stats, "total_commands_processed")
        .expect("field")
        .parse()
        .expect("int");
    assert!(
        total <= 3,
        "total_commands_processed after RESETSTAT: {total}"
    );
}

#[test]
fn config_rewrite_updates_the_config_file() {
    let dir = TempDir::new("rewrite");
    let conf = dir.path().join("eddy.conf");
    std::fs::write(&conf, "# test config\nmaxclients 500\ntimeout 0\n").expect("write conf");
    let conf_s = conf.to_string_lossy().into_owned();
    let srv = Server::start_in(dir, &[&conf_s]);
    let mut c = srv.conn();
    let v = qv(&mut c, &["CONFIG", "GET", "maxclients"]);
    assert_eq!(
        vget(&v, "maxclients"),
        Some(b("500")),
        "config file was read"
    );
    q::<()>(&mut c, &["CONFIG", "SET", "maxmemory", "2mb"]);
    assert_eq!(qv(&mut c, &["CONFIG", "REWRITE"]), Value::Okay);
    let text = std::fs::read_to_string(&conf).expect("read conf");
    let value = text
        .lines()
        .find_map(|l| l.strip_prefix("maxmemory "))
        .unwrap_or_else(|| panic!("no maxmemory line in rewritten file:\n{text}"));
    // Redis writes memory values with a unit when exact ("2mb"); Eddy may write bytes.
    assert!(
        value == "2097152" || value == "2mb",
        "maxmemory line is {value:?} in:\n{text}"
    );
    assert!(text.contains("maxclients 500"), "{text}");
    drop(c);
    // The rewritten file starts a server (in the same directory) with the new value.
    let dir = srv.stop();
    let srv = Server::start_in(dir, &[&conf_s]);
    let mut c = srv.conn();
    let v = qv(&mut c, &["CONFIG", "GET", "maxmemory"]);
    assert_eq!(vget(&v, "maxmemory"), Some(b("2097152")));
}

#[test]
fn config_rewrite_without_a_file_is_an_error() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(
        qerr(&mut c, &["CONFIG", "REWRITE"]),
        "ERR The server is running without a config file"
    );
}

// ------------------------------------------------------------------------------------------
// DEBUG SHUTDOWN
// ------------------------------------------------------------------------------------------

#[test]
fn debug_sleep_zero_replies_ok() {
    let srv = Server::start_with(&debug_args());
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["DEBUG", "SLEEP", "0"]), Value::Okay);
}

#[test]
fn debug_set_active_expire_zero_leaves_expired_keys_until_read() {
    let srv = Server::start_with(&debug_args());
    let mut c = srv.conn();
    assert_eq!(
        qv(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        Value::Okay
    );
    q::<()>(&mut c, &["SET", "k", "v", "PX", "50"]);
    // Let the TTL pass, with several active-expiry cycles' worth of time.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 1, "no active expiry");
    assert_eq!(qv(&mut c, &["GET", "k"]), Value::Nil);
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 0, "lazy expiry on read");
    let stats = info(&mut c, "stats");
    assert_eq!(info_field(&stats, "expired_keys").as_deref(), Some("1"));
}

/// A dataset touching every type and encoding, TTLs and a second database, and the digests
/// redis-server 7.0.15 gives for it (DEBUG DIGEST, then DEBUG DIGEST-VALUE of each key).
fn digest_dataset(c: &mut redis::Connection) {
    let mut big_list = vec!["RPUSH".to_string(), "biglist".into()];
    big_list.extend((0..300).map(|i| i.to_string()));
    let mut big_zset = vec!["ZADD".to_string(), "bigz".into()];
    for i in 0..200 {
        big_zset.push((f64::from(i) / 7.0).to_string());
        big_zset.push(format!("m{i}"));
    }
    let mut big_hash = vec!["HSET".to_string(), "bigh".into()];
    for i in 0..100 {
        big_hash.push(format!("f{i}"));
        big_hash.push("v".repeat(i));
    }
    let cmds: Vec<Vec<String>> = [
        &["SET", "s", "hello"][..],
        &["SET", "n", "-12345"],
        &["SET", "t", "x", "EX", "1000"],
        &["RPUSH", "l", "a", "1", "-2", "bbb"],
        &["SADD", "ints", "1", "2", "-100", "70000"],
        &["SADD", "words", "a", "b", "10"],
        &[
            "ZADD", "z", "1.5", "a", "0.1", "b", "1e300", "c", "-inf", "d", "-0", "e",
        ],
        &["HSET", "h", "f1", "v1", "f2", "2"],
        &["XADD", "st", "1-1", "a", "1", "b", "2"],
        &["XADD", "st", "7-3", "c", "3"],
        &["XADD", "empty", "MAXLEN", "0", "9-9", "a", "b"],
    ]
    .iter()
    .map(|c| c.iter().map(|s| s.to_string()).collect())
    .chain([big_list, big_zset, big_hash])
    .collect();
    for cmd in &cmds {
        let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
        qv(c, &args);
    }
    q::<()>(c, &["SELECT", "3"]);
    q::<()>(c, &["SET", "in3", "y"]);
    q::<()>(c, &["SELECT", "0"]);
}

#[test]
fn debug_digest_is_redis_digest_of_the_same_data() {
    let srv = Server::start_with(&debug_args());
    let mut c = srv.conn();
    let zero = "0".repeat(40);
    assert_eq!(q::<String>(&mut c, &["DEBUG", "DIGEST"]), zero);
    digest_dataset(&mut c);
    assert_eq!(
        q::<String>(&mut c, &["DEBUG", "DIGEST"]),
        "a459da7513e0775234a525df80a29ed8f1ec24ab"
    );
    let keys = [
        "s", "n", "t", "l", "ints", "words", "z", "h", "st", "empty", "biglist", "bigz", "bigh",
        "missing",
    ];
    let mut args = vec!["DEBUG", "DIGEST-VALUE"];
    args.extend(keys);
    let got: Vec<String> = q(&mut c, &args);
    let want = [
        "36b23a1456b2dce2c3ed252c456761301dba8060",
        "9364d007acb0ba24016c9866e6283671e674924f",
        "0745672cb1bf060476eedeb8a28f5ffe1ff5a2be",
        "e621a222a588b3035480844c0e381b1ebad4fc98",
        "29189c75ea46c1c1ff68f06f636502a2ac03f4d4",
        "6c4c4a8172124064173b70cedf712f77142f8623",
        "ed44c9767dbcc26af715743fced59156887f46eb",
        "fc076e867f7dbf566ea58172a151d82d78b8f845",
        "0c0f5f91a8c611544ee3f54b2ca13aeb77034aa6",
        "06bd01623de1d087bbd377851096317b1af476a2",
        "3e6be8e2f466999ec41ce7dc92efc6c284a2e13c",
        "4b9ff40801b55f18f48fe050ff99b991b41fe7e2",
        "503abcc6623836e5bb3dcdb02dc3c406255496bf",
        "0000000000000000000000000000000000000000",
    ];
    for ((k, g), w) in keys.iter().zip(&got).zip(want) {
        assert_eq!(g, w, "DIGEST-VALUE {k}");
    }
    assert_eq!(got.len(), keys.len());
    // The digest is the data's, not its encoding's: a set grown past its compact encoding and
    // shrunk back, or rebuilt in another order, digests the same.
    q::<i64>(&mut c, &["SADD", "ints", "x"]);
    q::<i64>(&mut c, &["SREM", "ints", "x"]);
    q::<i64>(&mut c, &["DEL", "words"]);
    q::<i64>(&mut c, &["SADD", "words", "10", "b", "a"]);
    assert_eq!(
        q::<String>(&mut c, &["DEBUG", "DIGEST"]),
        "a459da7513e0775234a525df80a29ed8f1ec24ab"
    );
}

/// DEBUG OBJECT's line in Redis's format (`Value at:... encoding:... serializedlength:...`,
/// quicklist figures for a list), `ERR no such key` without the key; DEBUG ERROR replies its
/// argument as the error line; DEBUG LOG replies OK.
#[test]
fn debug_object_error_and_log_answer_as_redis_does() {
    let srv = Server::start_with(&debug_args());
    let mut c = srv.conn();
    let _: () = q(&mut c, &["SET", "s", "hello"]);
    let _: () = q(&mut c, &["SET", "n", "12345"]);
    let _: i64 = q(&mut c, &["SADD", "st", "1", "2"]);
    let _: i64 = q(&mut c, &["RPUSH", "l", "a", "b", "c"]);
    let field = |line: &str, name: &str| -> String {
        line.split(' ')
            .find_map(|w| w.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name} in {line}"))
            .to_string()
    };
    for (key, enc, len) in [("s", "embstr", "6"), ("n", "int", "3")] {
        let line: String = q(&mut c, &["DEBUG", "OBJECT", key]);
        assert!(line.starts_with("Value at:0x"), "{line}");
        assert_eq!(field(&line, "refcount"), "1", "{line}");
        assert_eq!(field(&line, "encoding"), enc, "{line}");
        assert_eq!(field(&line, "serializedlength"), len, "{line}");
        field(&line, "lru").parse::<u64>().expect("lru");
        field(&line, "lru_seconds_idle")
            .parse::<u64>()
            .expect("idle");
    }
    let set: String = q(&mut c, &["DEBUG", "OBJECT", "st"]);
    assert_eq!(field(&set, "encoding"), "intset", "{set}");
    let list: String = q(&mut c, &["DEBUG", "OBJECT", "l"]);
    assert_eq!(field(&list, "encoding"), "quicklist", "{list}");
    assert_eq!(field(&list, "ql_nodes"), "1", "{list}");
    assert_eq!(field(&list, "ql_avg_node"), "3.00", "{list}");
    assert_eq!(field(&list, "ql_listpack_max"), "-2", "{list}");
    assert_eq!(field(&list, "ql_compressed"), "0", "{list}");
    field(&list, "ql_uncompressed_size")
        .parse::<u64>()
        .expect("size");
    assert_eq!(
        qerr(&mut c, &["DEBUG", "OBJECT", "nokey"]),
        "ERR no such key"
    );
    assert!(
        qerr(&mut c, &["DEBUG", "OBJECT"]).starts_with("ERR unknown subcommand or wrong number"),
    );
    let mut raw = srv.raw();
    for (arg, line) in [
        ("-WRONGTYPE made up", "--WRONGTYPE made up\r\n"),
        ("plain", "-plain\r\n"),
    ] {
        raw.send_cmd(&["DEBUG", "ERROR", arg]);
        let (_, bytes) = raw.read_frame();
        assert_eq!(String::from_utf8_lossy(&bytes), line);
    }
    let ok: String = q(&mut c, &["DEBUG", "LOG", "from the test"]);
    assert_eq!(ok, "OK");
    // The connection carries on after each.
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
}

/// DEBUG PROTOCOL's sample of each type, byte for byte as redis-server 7.0.15 sends it, in
/// RESP2 and RESP3 (an attribute or a push comes before a real reply).
#[test]
fn debug_protocol_sends_each_type_as_redis_does() {
    let srv = Server::start_with(&debug_args());
    let cases: &[(&str, &str, &str)] = &[
        ("string", "$11\r\nHello World\r\n", "$11\r\nHello World\r\n"),
        ("integer", ":12345\r\n", ":12345\r\n"),
        ("double", "$5\r\n3.141\r\n", ",3.141\r\n"),
        (
            "bignum",
            "$37\r\n1234567999999999999999999999999999999\r\n",
            "(1234567999999999999999999999999999999\r\n",
        ),
        ("null", "$-1\r\n", "_\r\n"),
        (
            "array",
            "*3\r\n:0\r\n:1\r\n:2\r\n",
            "*3\r\n:0\r\n:1\r\n:2\r\n",
        ),
        (
            "set",
            "*3\r\n:0\r\n:1\r\n:2\r\n",
            "~3\r\n:0\r\n:1\r\n:2\r\n",
        ),
        (
            "MAP",
            "*6\r\n:0\r\n:0\r\n:1\r\n:1\r\n:2\r\n:0\r\n",
            "%3\r\n:0\r\n#f\r\n:1\r\n#t\r\n:2\r\n#f\r\n",
        ),
        (
            "attrib",
            "$39\r\nSome real reply following the attribute\r\n",
            "|1\r\n$14\r\nkey-popularity\r\n*2\r\n$7\r\nkey:123\r\n:90\r\n\
             $39\r\nSome real reply following the attribute\r\n",
        ),
        (
            "push",
            "-ERR RESP2 is not supported by this command\r\n",
            ">2\r\n$16\r\nserver-cpu-usage\r\n:42\r\n\
             $40\r\nSome real reply following the push reply\r\n",
        ),
        (
            "verbatim",
            "$25\r\nThis is a verbatim\nstring\r\n",
            "=29\r\ntxt:This is a verbatim\nstring\r\n",
        ),
        ("true", ":1\r\n", "#t\r\n"),
        ("false", ":0\r\n", "#f\r\n"),
        (
            "nope",
            "-ERR Wrong protocol type name. Please use one of the following: \
             string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false\r\n",
            "-ERR Wrong protocol type name. Please use one of the following: \
             string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false\r\n",
        ),
    ];
    for resp3 in [false, true] {
        let mut raw = srv.raw();
        if resp3 {
            raw.call(&["HELLO", "3"]);
        }
        for (name, resp2_bytes, resp3_bytes) in cases {
            raw.send_cmd(&["DEBUG", "PROTOCOL", name]);
            raw.send_cmd(&["PING"]);
            let mut got = Vec::new();
            loop {
                let (r, bytes) = raw.read_frame();
                if r == Resp::Simple("PONG".into()) {
                    break;
                }
                got.extend_from_slice(&bytes);
            }
            let want = if resp3 { resp3_bytes } else { resp2_bytes };
            assert_eq!(String::from_utf8_lossy(&got), *want, "{name} resp3={resp3}");
        }
    }
}

#[test]
fn shutdown_nosave_stops_the_process() {
    let mut srv = Server::start();
    let mut c = srv.raw();
    c.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    assert!(c.closed_within(Duration::from_secs(5)), "connection closed");
    let status = srv
        .wait_exit(Duration::from_secs(10))
        .expect("process exits after SHUTDOWN NOSAVE");
    assert!(status.success() || status.code().is_some(), "{status:?}");
}

// ------------------------------------------------------------------------------------------
// Limits
// ------------------------------------------------------------------------------------------

#[test]
fn maxclients_rejects_extra_connections() {
    let srv = Server::start_with(&["--maxclients", "2"]);
    let mut a = srv.raw();
    let mut b2 = srv.raw();
    assert_eq!(a.call(&["PING"]), Resp::Simple("PONG".into()));
    assert_eq!(b2.call(&["PING"]), Resp::Simple("PONG".into()));
    let mut third = srv.raw();
    assert_eq!(
        third.read_reply(),
        Resp::Error("ERR max number of clients reached".into())
    );
    assert!(third.closed_within(Duration::from_secs(3)));
    // Freeing a slot lets a new client in.
    drop(a);
    assert!(
        poll_until(Duration::from_secs(5), || {
            let mut d = srv.raw();
            d.send_cmd(&["PING"]);
            d.try_read_reply(Duration::from_secs(2)) == Some(Resp::Simple("PONG".into()))
        }),
        "a slot is freed when a client disconnects"
    );
}

#[test]
fn idle_clients_are_disconnected_after_timeout() {
    let srv = Server::start_with(&["--timeout", "1"]);
    let mut idle = srv.raw();
    assert_eq!(idle.call(&["PING"]), Resp::Simple("PONG".into()));
    assert!(
        idle.closed_within(Duration::from_secs(5)),
        "idle client still connected 5 s after a 1 s timeout"
    );
    let mut fresh = srv.raw();
    assert_eq!(fresh.call(&["PING"]), Resp::Simple("PONG".into()));
}

// ------------------------------------------------------------------------------------------
// COMMAND
// ------------------------------------------------------------------------------------------

#[test]
fn command_count_and_list() {
    let srv = Server::start();
    let mut c = srv.conn();
    let n: i64 = q(&mut c, &["COMMAND", "COUNT"]);
    assert!(n > 20, "COMMAND COUNT {n}");
    let v = qv(&mut c, &["COMMAND", "LIST"]);
    let Value::Array(names) = v else {
        panic!("{v:?}")
    };
    // COMMAND LIST also names subcommands (`config|get`); COMMAND COUNT counts commands.
    assert!(
        names.len() as i64 >= n,
        "COMMAND LIST {} < COMMAND COUNT {n}",
        names.len()
    );
    let names: Vec<String> = names.iter().filter_map(vstr).collect();
    for name in [
        "get",
        "set",
        "del",
        "scan",
        "command",
        "config",
        "client",
        "config|get",
    ] {
        assert!(names.iter().any(|x| x == name), "{name} in COMMAND LIST");
    }
    let v = qv(&mut c, &["COMMAND", "LIST", "FILTERBY", "PATTERN", "getr*"]);
    let names: Vec<String> = match v {
        Value::Array(a) => a.iter().filter_map(vstr).collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(names, ["getrange"]);
}

#[test]
fn command_info_describes_get() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let v = qv(&mut c, &["COMMAND", "INFO", "get", "nosuchcommand"]);
        let Value::Array(items) = v else {
            panic!("{v:?}")
        };
        assert_eq!(items.len(), 2);
        assert_eq!(items[1], Value::Nil, "{proto}: unknown command gives nil");
        let Value::Array(info) = &items[0] else {
            panic!("{:?}", items[0])
        };
        assert_eq!(info[0], b("get"));
        assert_eq!(info[1], Value::Int(2), "arity");
        let flags: Vec<String> = match &info[2] {
            Value::Array(f) | Value::Set(f) => f.iter().filter_map(vstr).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(flags, ["readonly", "fast"], "{proto}");
        assert_eq!(info[3], Value::Int(1), "first key");
        assert_eq!(info[4], Value::Int(1), "last key");
        assert_eq!(info[5], Value::Int(1), "step");
        let cats: Vec<String> = match &info[6] {
            Value::Array(f) | Value::Set(f) => f.iter().filter_map(vstr).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(cats, ["@read", "@string", "@fast"], "{proto}");
        assert_eq!(
            info.len(),
            10,
            "name arity flags first last step acl tips keyspecs subcommands"
        );
    }
    let mut c = srv.conn();
    let v = qv(&mut c, &["COMMAND", "INFO", "set"]);
    let Value::Array(items) = v else { panic!() };
    let Value::Array(info) = &items[0] else {
        panic!()
    };
    assert_eq!(info[1], Value::Int(-3));
}

#[test]
fn command_docs_describes_get() {
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let v = qv(&mut c, &["COMMAND", "DOCS", "get"]);
        let doc = vget(&v, "get").unwrap_or_else(|| panic!("{proto}: {v:?}"));
        // Redis 7.0 and 7.2 word the summary differently.
        let summary = vget(&doc, "summary").as_ref().and_then(vstr);
        assert!(
            matches!(
                summary.as_deref(),
                Some("Get the value of a key") | Some("Returns the string value of a key.")
            ),
            "{proto}: summary {summary:?}"
        );
        assert_eq!(vget(&doc, "since"), Some(b("1.0.0")));
        assert_eq!(vget(&doc, "group"), Some(b("string")));
        assert!(vget(&doc, "arguments").is_some());
    }
}

/// COMMAND GETKEYSANDFLAGS gives each key the flags of the key spec that finds it, as Redis 7.0
/// does (what redis-py's `test_command_getkeysandflags` checks): LMOVE's source and destination
/// differ, SET's flags depend on GET, a keyword or a key count places the keys.
#[test]
fn command_getkeysandflags_gives_each_key_its_specs_flags() {
    let srv = Server::start();
    let mut c = srv.conn();
    let cases: &[(&str, &str)] = &[
        ("LMOVE a b LEFT RIGHT", "a:RW,access,delete b:RW,insert"),
        ("SET k v", "k:OW,update"),
        ("SET k v GET", "k:RW,access,update"),
        (
            "EVAL s 2 k1 k2 x",
            "k1:RW,access,update k2:RW,access,update",
        ),
        (
            "ZUNIONSTORE d 2 a b WEIGHTS 1 2",
            "d:OW,update a:RO,access b:RO,access",
        ),
        (
            "XREAD COUNT 1 STREAMS s1 s2 0 0",
            "s1:RO,access s2:RO,access",
        ),
        ("GEORADIUS g 0 0 1 km STORE d", "g:RO,access d:OW,update"),
        ("SORT k BY x STORE d", "k:RO,access d:OW,update"),
        (
            "MIGRATE h 1 \"\" 0 5 KEYS a b",
            "a:RW,access,delete b:RW,access,delete",
        ),
        ("BITFIELD k GET u8 0", "k:RO,access"),
        ("BITFIELD k GET u8 0 SET u8 0 1", "k:RW,access,update"),
        ("PFCOUNT a b", "a:RW,access b:RW,access"),
        ("MSET a 1 b 2", "a:OW,update b:OW,update"),
    ];
    for (line, want) in cases {
        let mut args = vec!["COMMAND", "GETKEYSANDFLAGS"];
        args.extend(line.split(' ').map(|a| if a == "\"\"" { "" } else { a }));
        let got = match qv(&mut c, &args) {
            Value::Array(keys) => keys
                .iter()
                .map(|k| match k {
                    Value::Array(kf) => {
                        let flags: Vec<String> = match &kf[1] {
                            Value::Array(f) | Value::Set(f) => f.iter().filter_map(vstr).collect(),
                            other => panic!("{other:?}"),
                        };
                        format!("{}:{}", vstr(&kf[0]).unwrap(), flags.join(","))
                    }
                    other => panic!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join(" "),
            other => panic!("{line}: {other:?}"),
        };
        assert_eq!(&got, want, "{line}");
    }
}

#[test]
fn command_getkeys_extracts_key_names() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(
        qv(&mut c, &["COMMAND", "GETKEYS", "SET", "a", "b"]),
        Value::Array(vec![b("a")])
    );
    assert_eq!(
        qv(&mut c, &["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"]),
        Value::Array(vec![b("a"), b("b")])
    );
    assert_eq!(
        qv(&mut c, &["COMMAND", "GETKEYS", "RENAME", "x", "y"]),
        Value::Array(vec![b("x"), b("y")])
    );
    assert_eq!(
        qerr(&mut c, &["COMMAND", "GETKEYS", "GET", "a", "b"]),
        "ERR Invalid number of arguments specified for command"
    );
    assert_eq!(
        qerr(&mut c, &["COMMAND", "GETKEYS", "PING", "x"]),
        "ERR The command has no key arguments"
    );
    assert_eq!(
        qerr(&mut c, &["COMMAND", "GETKEYS", "NOSUCH", "a", "b"]),
        "ERR Invalid command specified"
    );
}

#[test]
fn redis_crate_sync_and_async_clients_interoperate() {
    let srv = Server::start();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut a = srv.async_conn().await;
        let _: () = redis::cmd("SET")
            .arg("shared")
            .arg("from-async")
            .query_async(&mut a)
            .await
            .expect("set");
    });
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["GET", "shared"]), b("from-async"));
}

// ------------------------------------------------------------------------------------------
// Command-line options
// ------------------------------------------------------------------------------------------

#[test]
fn malformed_port_option_exits_1_naming_port() {
    if !eddy_only("malformed_port_option_exits_1_naming_port") {
        return;
    }
    let (code, out) = common::run_server_expecting_exit(&["--port", "x"], Duration::from_secs(10));
    assert_eq!(code, Some(1), "exit status; output:\n{out}");
    assert!(out.contains("port"), "error names the option:\n{out}");
}

/// `logfile` sends the log to a file (appended to), as in Redis; one that cannot be opened
/// stops the start with exit status 1.
#[test]
fn logfile_receives_the_log_and_a_bad_one_stops_the_start() {
    if !eddy_only("logfile_receives_the_log_and_a_bad_one_stops_the_start") {
        return;
    }
    let (code, out) = common::run_server_expecting_exit(
        &["--logfile", "/nonexistent-dir/eddy.log", "--port", "0"],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(1), "exit status; output:\n{out}");
    assert!(out.contains("Can't open the log file"), "{out}");

    let dir = TempDir::new("logfile");
    let file = dir.path().join("eddy.log");
    std::fs::write(&file, "an earlier line\n").expect("write");
    let port = common::free_port();
    let mut child = std::process::Command::new(common::server_bin())
        .args(common::DOORS_OFF)
        .args(["--port", &port.to_string(), "--logfile"])
        .arg(&file)
        .arg("--dir")
        .arg(dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn server");
    let url = format!("redis://127.0.0.1:{port}/");
    let pinged = common::poll_until(Duration::from_secs(20), || {
        redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
            .is_ok()
    });
    let text = std::fs::read_to_string(&file).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(pinged, "the server did not answer; log file:\n{text}");
    assert!(text.starts_with("an earlier line\n"), "appended:\n{text}");
    assert!(text.contains("Ready to accept connections"), "{text}");
}

/// The kernel's timer state (`tr` in /proc/net/tcp) of the server's end of the connection
/// from local port `client_port` to `server_port`: 2 is the keepalive timer, 0 none.
fn server_socket_timer(server_port: u16, client_port: u16) -> Option<u32> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let port = |a: &str| u16::from_str_radix(a.rsplit(':').next()?, 16).ok();
        if port(f.get(1)?)? == server_port && port(f.get(2)?)? == client_port {
            u32::from_str_radix(f.get(5)?.split(':').next()?, 16).ok()
        } else {
            None
        }
    })
}

/// `tcp-keepalive` (default 300 s, as Redis) arms TCP keepalive on client connections, so a
/// client that vanished without closing is found; 0 leaves it off.
#[test]
fn tcp_keepalive_arms_the_keepalive_timer_on_client_sockets() {
    for (args, want) in [(vec![], 2), (vec!["--tcp-keepalive", "0"], 0)] {
        let srv = Server::start_with(&args);
        let mut raw = srv.raw();
        assert_eq!(raw.call(&["PING"]), Resp::Simple("PONG".into()));
        let client_port = raw.stream.local_addr().expect("local address").port();
        assert_eq!(
            server_socket_timer(srv.port(), client_port),
            Some(want),
            "timer of the server's socket with {args:?}"
        );
    }
}

/// ROLE: a primary with no replicas. WAIT: no replica ever acknowledges, so it answers 0, at
/// once when no replica is asked for (or inside EXEC, where nothing blocks), else after its
/// timeout.
#[test]
fn role_is_primary_and_wait_counts_no_replicas() {
    let srv = Server::start();
    let mut c = srv.conn();
    match qv(&mut c, &["ROLE"]) {
        Value::Array(a) => {
            assert_eq!(a.len(), 3, "{a:?}");
            assert_eq!(vstr(&a[0]).as_deref(), Some("master"));
            assert!(matches!(a[1], Value::Int(n) if n >= 0), "{a:?}");
            assert_eq!(a[2], Value::Array(vec![]));
        }
        other => panic!("ROLE: {other:?}"),
    }
    assert_eq!(q::<i64>(&mut c, &["WAIT", "0", "0"]), 0);
    let start = std::time::Instant::now();
    assert_eq!(q::<i64>(&mut c, &["WAIT", "1", "200"]), 0);
    assert!(
        start.elapsed() >= Duration::from_millis(190),
        "WAIT answered before its timeout"
    );
    assert_eq!(
        qerr(&mut c, &["WAIT", "x", "1"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["WAIT", "1", "-1"]),
        "ERR timeout is negative"
    );
    assert_eq!(
        qerr(&mut c, &["WAIT", "1", "x"]),
        "ERR timeout is not an integer or out of range"
    );
    let (n,): (i64,) = redis::pipe()
        .atomic()
        .cmd("WAIT")
        .arg(1)
        .arg(0)
        .query(&mut c)
        .expect("exec");
    assert_eq!(n, 0);
}

/// WAIT and DEBUG SLEEP hold their reply, not the connection: CLIENT KILL closes a waiting
/// client at once, and commands sent meanwhile run after the reply, in order.
#[test]
fn a_waiting_client_can_be_killed_and_keeps_its_pipeline() {
    let srv = Server::start_with(&debug_args());
    let mut c = srv.conn();
    let mut w = srv.raw();
    let id = match w.call(&["CLIENT", "ID"]) {
        Resp::Int(n) => n,
        other => panic!("CLIENT ID: {other:?}"),
    };
    // A 200 ms sleep with two commands behind it in the same write.
    let mut pipeline = Vec::new();
    for cmd in [
        &["DEBUG", "SLEEP", "0.2"][..],
        &["SET", "after", "1"],
        &["GET", "after"],
    ] {
        let a: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        pipeline.extend(common::encode_cmd(&a));
    }
    w.send(&pipeline);
    assert_eq!(w.read_reply(), Resp::Simple("OK".into()));
    assert_eq!(w.read_reply(), Resp::Simple("OK".into()));
    assert_eq!(w.read_reply(), Resp::Bulk(b"1".to_vec()));
    // WAIT for a replica that never comes, with no timeout: it would wait forever.
    w.send_cmd(&["WAIT", "1", "0"]);
    assert!(
        poll_until(Duration::from_secs(10), || {
            let l =
                vstr(&qv(&mut c, &["CLIENT", "LIST", "ID", &id.to_string()])).unwrap_or_default();
            l.contains("cmd=wait")
        }),
        "the WAIT never ran"
    );
    assert_eq!(
        q::<i64>(&mut c, &["CLIENT", "KILL", "ID", &id.to_string()]),
        1
    );
    w.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut rest = Vec::new();
    use std::io::Read;
    let n = w
        .stream
        .read_to_end(&mut rest)
        .expect("the killed connection closes");
    assert_eq!(n, 0, "no reply after the kill: {rest:?}");
    assert!(poll_until(Duration::from_secs(10), || {
        q::<String>(&mut c, &["CLIENT", "LIST"]).lines().count() == 1
    }));
}

/// A connection gives its buffers back: a value larger than 64 KiB as soon as it has been
/// read or written, the rest once it has been idle for two seconds (CLIENT LIST `qbuf-free`
/// and `rbs`, Redis's query buffer resizing). A command half sent when that happens completes.
#[test]
fn connections_give_their_buffers_back() {
    if !eddy_only("connections_give_their_buffers_back") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let mut w = srv.raw();
    let id = match w.call(&["CLIENT", "ID"]) {
        Resp::Int(n) => n.to_string(),
        other => panic!("CLIENT ID: {other:?}"),
    };
    let field = |c: &mut redis::Connection, name: &str| -> usize {
        let line = vstr(&qv(c, &["CLIENT", "LIST", "ID", &id])).expect("CLIENT LIST");
        let v = line
            .split(' ')
            .find_map(|f| f.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("no {name} in {line}"));
        v.trim().parse().unwrap_or_else(|_| panic!("{name}={v}"))
    };
    let big = "x".repeat(300_000);
    assert_eq!(w.call(&["SET", "big", &big]), Resp::Simple("OK".into()));
    assert_eq!(w.call(&["GET", "big"]), Resp::Bulk(big.into_bytes()));
    assert!(
        field(&mut c, "qbuf-free") < 64 * 1024 && field(&mut c, "rbs") < 64 * 1024,
        "300 KB buffers kept: {:?}",
        qv(&mut c, &["CLIENT", "LIST", "ID", &id])
    );
    // Half a SET, then idle: the buffers go, the half command stays.
    let half = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nab";
    w.send(half);
    assert!(
        poll_until(Duration::from_secs(15), || field(&mut c, "qbuf")
            == half.len()
            && field(&mut c, "qbuf-free") == 0
            && field(&mut c, "rbs") == 0),
        "an idle connection kept its buffers: {:?}",
        qv(&mut c, &["CLIENT", "LIST", "ID", &id])
    );
    w.send(b"cde\r\n");
    assert_eq!(w.read_reply(), Resp::Simple("OK".into()));
    assert_eq!(w.call(&["GET", "k"]), Resp::Bulk(b"abcde".to_vec()));
    // INFO shows the largest buffers held (this connection's own, at least).
    for field in [
        "client_recent_max_input_buffer",
        "client_recent_max_output_buffer",
    ] {
        assert!(common::info_int(&mut c, "clients", field) > 0, "{field}");
    }
}

/// A standalone primary, as Redis with `cluster-enabled no`: every CLUSTER subcommand, READONLY,
/// READWRITE and ASKING say cluster support is disabled (after the arity and subcommand
/// checks); REPLICAOF NO ONE succeeds.
#[test]
fn cluster_commands_say_cluster_support_is_disabled() {
    let srv = Server::start();
    let mut c = srv.conn();
    const DISABLED: &str = "ERR This instance has cluster support disabled";
    for args in [
        &["CLUSTER", "INFO"][..],
        &["CLUSTER", "SLOTS"],
        &["CLUSTER", "SHARDS"],
        &["CLUSTER", "NODES"],
        &["CLUSTER", "MYID"],
        &["CLUSTER", "KEYSLOT", "k"],
        &["CLUSTER", "HELP"],
        &["READONLY"],
        &["READWRITE"],
        &["ASKING"],
    ] {
        assert_eq!(qerr(&mut c, args), DISABLED, "{args:?}");
    }
    assert_eq!(
        qerr(&mut c, &["CLUSTER", "NOPE"]),
        "ERR unknown subcommand 'NOPE'. Try CLUSTER HELP."
    );
    assert_eq!(
        qerr(&mut c, &["CLUSTER", "INFO", "x"]),
        "ERR wrong number of arguments for 'cluster|info' command"
    );
    assert_eq!(
        qerr(&mut c, &["READONLY", "x"]),
        "ERR wrong number of arguments for 'readonly' command"
    );
    assert_eq!(q::<String>(&mut c, &["REPLICAOF", "NO", "ONE"]), "OK");
    assert_eq!(q::<String>(&mut c, &["SLAVEOF", "no", "one"]), "OK");
    assert_eq!(
        qerr(&mut c, &["REPLICAOF", "localhost", "70000"]),
        "ERR Invalid master port"
    );
    match qv(&mut c, &["ROLE"]) {
        Value::Array(a) => assert_eq!(vstr(&a[0]).as_deref(), Some("master")),
        other => panic!("ROLE: {other:?}"),
    }
    // The table is Redis's: COMMAND INFO shows the subcommands with their arities.
    let info = qv(&mut c, &["COMMAND", "INFO", "cluster"]);
    let Value::Array(cmds) = info else {
        panic!("COMMAND INFO: {info:?}")
    };
    let Value::Array(entry) = &cmds[0] else {
        panic!("{cmds:?}")
    };
    let Value::Array(subs) = &entry[9] else {
        panic!("no subcommands: {entry:?}")
    };
    let arity = |name: &str| {
        subs.iter().find_map(|s| match s {
            Value::Array(f) if vstr(&f[0]).as_deref() == Some(name) => match f[1] {
                Value::Int(n) => Some(n),
                _ => None,
            },
            _ => None,
        })
    };
    assert_eq!(subs.len(), 27, "{subs:?}");
    assert_eq!(arity("cluster|setslot"), Some(-4));
    assert_eq!(arity("cluster|info"), Some(2));
}

/// REPLICAOF a primary that cannot be reached: the server is a replica whose link is down —
/// it refuses writes and keeps trying — until REPLICAOF NO ONE makes it a primary again.
#[test]
fn replicaof_an_unreachable_primary_refuses_writes_until_no_one() {
    let srv = Server::start();
    let mut c = srv.conn();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    let nobody = common::free_port().to_string();
    assert_eq!(
        q::<String>(&mut c, &["REPLICAOF", "127.0.0.1", &nobody]),
        "OK"
    );
    match qv(&mut c, &["ROLE"]) {
        Value::Array(a) => {
            assert_eq!(vstr(&a[0]).as_deref(), Some("slave"), "{a:?}");
            assert_eq!(a[2], Value::Int(nobody.parse().unwrap()), "{a:?}");
            let state = vstr(&a[3]).unwrap_or_default();
            assert!(["connect", "connecting"].contains(&state.as_str()), "{a:?}");
            assert_eq!(a[4], Value::Int(-1), "{a:?}");
        }
        other => panic!("ROLE: {other:?}"),
    }
    let conf: Vec<String> = q(&mut c, &["CONFIG", "GET", "replicaof"]);
    assert_eq!(
        conf,
        ["replicaof".to_string(), format!("127.0.0.1 {nobody}")]
    );
    let info: String = q(&mut c, &["INFO", "replication"]);
    assert!(info.contains("role:slave"), "{info}");
    assert!(info.contains("master_link_status:down"), "{info}");
    assert_eq!(
        qerr(&mut c, &["SET", "k", "w"]),
        "READONLY You can't write against a read only replica."
    );
    // Stale data is served meanwhile, and replica-read-only no lets writes through.
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("replica-read-only")
        .arg("no")
        .query(&mut c)
        .unwrap();
    let _: () = redis::cmd("SET").arg("k2").arg("v").query(&mut c).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slave-read-only")
        .arg("yes")
        .query(&mut c)
        .unwrap();
    assert!(qerr(&mut c, &["DEL", "k2"]).starts_with("READONLY"));
    assert_eq!(q::<String>(&mut c, &["REPLICAOF", "NO", "ONE"]), "OK");
    let conf: Vec<String> = q(&mut c, &["CONFIG", "GET", "replicaof"]);
    assert_eq!(conf, ["replicaof", ""]);
    assert_eq!(q::<String>(&mut c, &["SET", "k", "w"]), "OK");
    match qv(&mut c, &["ROLE"]) {
        Value::Array(a) => assert_eq!(vstr(&a[0]).as_deref(), Some("master")),
        other => panic!("ROLE: {other:?}"),
    }
}

/// `tcp-backlog` is the listening socket's accept queue length (`ss` shows it as Send-Q).
#[test]
fn tcp_backlog_sets_the_accept_queue_length() {
    if !common::require_tool_for("tcp_backlog_sets_the_accept_queue_length", "ss") {
        return;
    }
    let srv = Server::start_with(&["--tcp-backlog", "77"]);
    let out = std::process::Command::new("ss")
        .args(["-Hltn", &format!("sport = :{}", srv.port())])
        .output()
        .expect("ss runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let queues: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert!(!queues.is_empty(), "no listening socket in {text:?}");
    assert!(queues.iter().all(|q| *q == "77"), "{text}");
}

#[test]
fn unknown_option_exits_1_naming_it() {
    if !eddy_only("unknown_option_exits_1_naming_it") {
        return;
    }
    let (code, out) = common::run_server_expecting_exit(
        &["--no-such-option", "1", "--port", "0"],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(1), "exit status; output:\n{out}");
    assert!(
        out.contains("no-such-option"),
        "error names the option:\n{out}"
    );
}

#[test]
fn bad_config_file_line_exits_1() {
    if !eddy_only("bad_config_file_line_exits_1") {
        return;
    }
    let dir = TempDir::new("badconf");
    let conf = dir.path().join("bad.conf");
    std::fs::write(&conf, "maxclients lots\n").expect("write");
    let (code, out) = common::run_server_expecting_exit(
        &[&conf.to_string_lossy(), "--port", "0"],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(1), "exit status; output:\n{out}");
    assert!(out.contains("maxclients"), "error names the option:\n{out}");
}

#[test]
fn hello_before_auth_is_refused_when_a_password_is_required() {
    let srv = Server::start_with(&["--requirepass", "pw"]);
    let mut c = srv.raw();
    c.send_cmd(&["HELLO", "3"]);
    // Redis 7.0 says "HELLO AUTH", 7.2 "HELLO <proto> AUTH".
    let wire = c.read_wire();
    let tail = "AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n";
    assert!(
        wire == format!("-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO {tail}")
            || wire == format!("-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> {tail}"),
        "{wire:?}"
    );
}

#[test]
fn reset_deauthenticates() {
    let srv = Server::start_with(&["--requirepass", "pw"]);
    let mut c = srv.raw();
    c.send(b"AUTH pw\r\nRESET\r\nGET a\r\n");
    assert_eq!(c.read_wire(), "+OK\r\n");
    assert_eq!(c.read_wire(), "+RESET\r\n");
    assert_eq!(c.read_wire(), "-NOAUTH Authentication required.\r\n");
}

#[test]
fn config_set_requirepass_applies_to_new_connections() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(
        qv(&mut c, &["CONFIG", "SET", "requirepass", "later"]),
        Value::Okay
    );
    let mut fresh = srv.raw();
    assert_eq!(
        fresh.call(&["GET", "k"]),
        Resp::Error("NOAUTH Authentication required.".into())
    );
    assert_eq!(fresh.call(&["AUTH", "later"]), Resp::Simple("OK".into()));
}

#[test]
fn command_without_arguments_lists_every_command() {
    let srv = Server::start();
    let mut c = srv.conn();
    let n: i64 = q(&mut c, &["COMMAND", "COUNT"]);
    let v = qv(&mut c, &["COMMAND"]);
    let Value::Array(all) = v else {
        panic!("{v:?}")
    };
    assert_eq!(all.len() as i64, n);
    let v = qv(&mut c, &["COMMAND", "INFO"]);
    let Value::Array(all) = v else {
        panic!("{v:?}")
    };
    assert_eq!(all.len() as i64, n, "COMMAND INFO without names lists all");
}

#[test]
fn config_get_star_returns_pairs() {
    let srv = Server::start();
    let mut c = srv.conn();
    let v = qv(&mut c, &["CONFIG", "GET", "*"]);
    let pairs = common::vpairs(&v);
    assert!(pairs.len() > 10, "{} parameters", pairs.len());
    for name in [
        "port",
        "maxclients",
        "timeout",
        "maxmemory",
        "databases",
        "dir",
        "requirepass",
    ] {
        assert!(
            pairs.iter().any(|(k, _)| k == name),
            "{name} in CONFIG GET *"
        );
    }
}

#[test]
fn timeout_zero_never_disconnects() {
    let srv = Server::start_with(&["--timeout", "0"]);
    let mut c = srv.raw();
    assert_eq!(c.call(&["PING"]), Resp::Simple("PONG".into()));
    assert!(!c.closed_within(Duration::from_millis(1500)));
    assert_eq!(c.call(&["PING"]), Resp::Simple("PONG".into()));
}

// ------------------------------------------------------------------------------------------
// MEMORY

#[test]
fn memory_usage_stats_doctor_purge_and_help_answer_as_redis_does() {
    let srv = Server::start();
    let mut c = srv.conn();
    let _: () = q(&mut c, &["SET", "foo", "bar"]);
    let small: i64 = q(&mut c, &["MEMORY", "USAGE", "foo"]);
    assert!(small > 0, "MEMORY USAGE of a key: {small}");
    let _: () = q(&mut c, &["SET", "big", &"x".repeat(10_000)]);
    let big: i64 = q(&mut c, &["MEMORY", "USAGE", "big", "SAMPLES", "0"]);
    assert!(big >= 10_000, "a 10 kB value must count its bytes: {big}");
    assert_eq!(qv(&mut c, &["MEMORY", "USAGE", "missing"]), Value::Nil);
    assert_eq!(
        qerr(&mut c, &["MEMORY", "USAGE", "foo", "SAMPLES"]),
        "ERR syntax error"
    );
    assert_eq!(
        qerr(&mut c, &["MEMORY", "USAGE", "foo", "SAMPLES", "-1"]),
        "ERR syntax error"
    );
    assert_eq!(
        qerr(&mut c, &["MEMORY", "USAGE", "foo", "BAD", "1"]),
        "ERR syntax error"
    );
    assert_eq!(
        qerr(&mut c, &["MEMORY", "USAGE", "foo", "SAMPLES", "x"]),
        "ERR value is not an integer or out of range"
    );
    assert_eq!(
        qerr(&mut c, &["MEMORY", "FOO"]),
        "ERR unknown subcommand 'FOO'. Try MEMORY HELP."
    );
    assert_eq!(qv(&mut c, &["MEMORY", "PURGE"]), Value::Okay);
    let doctor = vstr(&qv(&mut c, &["MEMORY", "DOCTOR"])).expect("a text");
    assert!(doctor.starts_with("Hi Sam, "), "{doctor}");
    let help = qv(&mut c, &["MEMORY", "HELP"]);
    let Value::Array(lines) = help else {
        panic!("MEMORY HELP: {help:?}")
    };
    assert!(matches!(&lines[0], Value::SimpleString(s)
        if s == "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    let stats = qv(&mut c, &["MEMORY", "STATS"]);
    let count = vget(&stats, "keys.count").expect("keys.count");
    assert_eq!(count, Value::Int(2));
    let total = match vget(&stats, "total.allocated") {
        Some(Value::Int(n)) => n,
        other => panic!("total.allocated: {other:?}"),
    };
    assert!(
        matches!(vget(&stats, "startup.allocated"), Some(Value::Int(n)) if n > 0 && n <= total),
        "{stats:?}"
    );
    assert!(vget(&stats, "db.0").is_some(), "{stats:?}");
}

/// DEBUG POPULATE count [prefix] [size]: `prefix:n` keys holding `value:n` (cut or zero-padded
/// to size), existing keys left alone, Redis's errors. In Eddy the keys survive a restart
/// (they are recorded in the change log).
#[test]
fn debug_populate_creates_keys_as_redis_does() {
    let srv = Server::start_with(&debug_args());
    let mut c = srv.conn();
    let _: () = redis::cmd("SET")
        .arg("key:1")
        .arg("keep")
        .query(&mut c)
        .unwrap();
    assert_eq!(q::<String>(&mut c, &["DEBUG", "POPULATE", "3"]), "OK");
    assert_eq!(
        q::<Vec<Option<String>>>(&mut c, &["MGET", "key:0", "key:1", "key:2", "key:3"]),
        vec![
            Some("value:0".into()),
            Some("keep".into()),
            Some("value:2".into()),
            None
        ]
    );
    assert_eq!(
        q::<String>(&mut c, &["DEBUG", "POPULATE", "2", "pre", "10"]),
        "OK"
    );
    assert_eq!(
        q::<Vec<u8>>(&mut c, &["GET", "pre:1"]),
        b"value:1\0\0\0".to_vec()
    );
    assert_eq!(
        q::<String>(&mut c, &["DEBUG", "POPULATE", "1", "short", "3"]),
        "OK"
    );
    assert_eq!(q::<String>(&mut c, &["GET", "short:0"]), "val");
    for bad in [
        &["DEBUG", "POPULATE", "-1"][..],
        &["DEBUG", "POPULATE", "1", "a", "-5"],
        &["DEBUG", "POPULATE", "x"],
    ] {
        assert_eq!(
            qerr(&mut c, bad),
            "ERR value is out of range, must be positive",
            "{bad:?}"
        );
    }
    assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 6);
    if common::eddy_only("debug_populate_creates_keys_as_redis_does (restart)") {
        common::wait_written(&mut c);
        let dir = srv.stop();
        let srv = Server::start_in(dir, &[]);
        let mut c = srv.conn();
        assert_eq!(q::<i64>(&mut c, &["DBSIZE"]), 6);
        assert_eq!(q::<String>(&mut c, &["GET", "key:2"]), "value:2");
    }
}

#[test]
fn module_lists_none_and_refuses_to_load_as_redis_does_by_default() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["MODULE", "LIST"]), Value::Array(vec![]));
    let refused = "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
    for args in [
        &["MODULE", "LOAD", "/tmp/m.so"][..],
        &["MODULE", "LOADEX", "/tmp/m.so", "CONFIG", "a", "b"],
        &["MODULE", "UNLOAD", "m"],
    ] {
        assert_eq!(qerr(&mut c, args), refused, "{args:?}");
    }
    assert_eq!(
        qv(&mut c, &["CONFIG", "GET", "enable-module-command"]),
        Value::Array(vec![b("enable-module-command"), b("no")])
    );
    let help: Vec<String> = q(&mut c, &["MODULE", "HELP"]);
    assert_eq!(
        help.first().map(String::as_str),
        Some("MODULE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
    );
    assert!(help.iter().any(|l| l == "UNLOAD <name>"), "{help:?}");
    assert_eq!(
        qerr(&mut c, &["MODULE", "nope"]),
        "ERR unknown subcommand 'nope'. Try MODULE HELP."
    );
}

#[test]
fn lolwut_answers_with_the_version_line() {
    let srv = Server::start();
    let mut c = srv.conn();
    let version = info_field(&info(&mut c, "server"), "redis_version").expect("redis_version");
    let line = format!("Redis ver. {version}\n");
    assert_eq!(vstr(&qv(&mut c, &["LOLWUT"])), Some(line.clone()));
    assert_eq!(vstr(&qv(&mut c, &["LOLWUT", "VERSION", "7"])), Some(line));
    assert_eq!(
        qerr(&mut c, &["LOLWUT", "VERSION", "seven"]),
        "ERR value is not an integer or out of range"
    );
    // RESP3: a verbatim string of type txt.
    let mut raw = srv.raw();
    raw.call(&["HELLO", "3"]);
    raw.send_cmd(&["LOLWUT"]);
    assert_eq!(
        raw.read_wire(),
        format!("={}\r\ntxt:Redis ver. {version}\n\r\n", version.len() + 16)
    );
}

/// INFO errorstats counts error replies by their code (the first word; `ERR` for a line
/// without one), refused commands included, as `total_error_replies` counts them all; CONFIG
/// RESETSTAT clears both.
#[test]
fn info_errorstats_counts_error_replies_by_code() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CONFIG", "RESETSTAT"]);
    q::<()>(&mut c, &["SET", "s", "v"]);
    let _ = qerr(&mut c, &["LPUSH", "s", "x"]);
    let _ = qerr(&mut c, &["INCR", "s"]);
    let _ = qerr(&mut c, &["NOSUCHCOMMAND"]);
    let _ = qerr(&mut c, &["GET"]);
    let _ = qerr(&mut c, &["XGROUP", "CREATECONSUMER", "nostream", "g", "c"]);
    let stats = info(&mut c, "errorstats");
    let lines: Vec<&str> = stats.lines().skip(1).filter(|l| !l.is_empty()).collect();
    assert_eq!(
        lines,
        ["errorstat_ERR:count=4", "errorstat_WRONGTYPE:count=1"],
        "{stats}"
    );
    let all = info(&mut c, "stats");
    assert_eq!(
        info_field(&all, "total_error_replies").as_deref(),
        Some("5")
    );
    q::<()>(&mut c, &["CONFIG", "RESETSTAT"]);
    let stats = info(&mut c, "errorstats");
    assert_eq!(stats.trim_end(), "# Errorstats", "{stats}");
}

/// DEBUG RELOAD's options, as Redis's: NOFLUSH keeps what is in memory, and then a function
/// library the snapshot also holds is an error unless MERGE; NOSAVE loads the file as it is.
#[test]
fn debug_reload_options_follow_redis() {
    let srv = Server::start_with(&debug_args());
    let mut c = srv.conn();
    let lib = |name: &str| {
        format!(
            "#!lua name={name}\nredis.register_function('{name}', function() return '{name}' end)"
        )
    };
    let _: String = q(&mut c, &["FUNCTION", "LOAD", &lib("one")]);
    assert_eq!(q::<String>(&mut c, &["DEBUG", "RELOAD"]), "OK");
    assert!(qerr(&mut c, &["DEBUG", "RELOAD", "NOFLUSH"]).contains("Error trying to load the RDB"));
    assert_eq!(
        q::<String>(&mut c, &["DEBUG", "RELOAD", "NOFLUSH", "MERGE"]),
        "OK"
    );
    // NOSAVE loads the snapshot on disk: `two` and `k` are kept by NOFLUSH, `one` merged.
    let _: String = q(&mut c, &["FUNCTION", "LOAD", &lib("two")]);
    q::<()>(&mut c, &["SET", "k", "v"]);
    assert_eq!(
        q::<String>(&mut c, &["DEBUG", "RELOAD", "NOSAVE", "NOFLUSH", "MERGE"]),
        "OK"
    );
    assert_eq!(q::<String>(&mut c, &["FCALL", "one", "0"]), "one");
    assert_eq!(q::<String>(&mut c, &["FCALL", "two", "0"]), "two");
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    // Without NOFLUSH, NOSAVE brings back the older snapshot's data.
    assert_eq!(q::<String>(&mut c, &["DEBUG", "RELOAD", "NOSAVE"]), "OK");
    assert_eq!(qv(&mut c, &["GET", "k"]), Value::Nil);
    assert!(qerr(&mut c, &["FCALL", "two", "0"]).contains("Function not found"));
    assert_eq!(
        qerr(&mut c, &["DEBUG", "RELOAD", "FAST"]),
        "ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options."
    );
}

/// DEBUG RELOAD leaves the data as it was (the same DEBUG DIGEST, TTLs kept) and each value as
/// loading builds it: a string made `raw` by APPEND is `embstr` again, as in Redis.
#[test]
fn debug_reload_keeps_the_data_and_rebuilds_encodings() {
    let srv = Server::start_with(&debug_args());
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "s", "v"]);
    q::<()>(&mut c, &["APPEND", "s", "w"]);
    assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", "s"]), "raw");
    q::<()>(&mut c, &["HSET", "h", "f", "1", "g", "2"]);
    q::<()>(&mut c, &["ZADD", "z", "1.5", "a", "2", "b"]);
    q::<()>(&mut c, &["RPUSH", "l", "x", "y"]);
    q::<()>(&mut c, &["SADD", "set", "1", "2"]);
    let _: String = q(&mut c, &["XADD", "x", "1-1", "f", "v"]);
    q::<()>(&mut c, &["PEXPIRE", "h", "100000"]);
    let before: String = q(&mut c, &["DEBUG", "DIGEST"]);
    assert_eq!(q::<String>(&mut c, &["DEBUG", "RELOAD"]), "OK");
    assert_eq!(q::<String>(&mut c, &["DEBUG", "DIGEST"]), before);
    assert_eq!(q::<String>(&mut c, &["OBJECT", "ENCODING", "s"]), "embstr");
    assert_eq!(q::<String>(&mut c, &["GET", "s"]), "vw");
    assert!(q::<i64>(&mut c, &["PTTL", "h"]) > 0);
    assert_eq!(
        q::<String>(&mut c, &["OBJECT", "ENCODING", "z"]),
        "listpack"
    );
    assert_eq!(q::<String>(&mut c, &["ZSCORE", "z", "a"]), "1.5");
}
