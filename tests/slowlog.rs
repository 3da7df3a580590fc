//! SLOWLOG: what is logged, how entries look, the two limits, and the errors. Passes against
//! redis-server too (`EDDY_TEST_SERVER=redis-server`).

mod common;

use common::{q, qerr, qv, Server};
use redis::Value;

fn bulk(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

fn entries(c: &mut redis::Connection) -> Vec<Vec<Value>> {
    match qv(c, &["SLOWLOG", "GET", "-1"]) {
        Value::Array(es) => es
            .into_iter()
            .map(|e| match e {
                Value::Array(f) => f,
                other => panic!("entry is not an array: {other:?}"),
            })
            .collect(),
        other => panic!("SLOWLOG GET: {other:?}"),
    }
}

/// Logs every command from now on, in an emptied log (its first entry is the SLOWLOG RESET).
fn log_everything(c: &mut redis::Connection) {
    q::<()>(c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    q::<()>(c, &["SLOWLOG", "RESET"]);
}

fn args_of(e: &[Value]) -> Vec<String> {
    match &e[3] {
        Value::Array(a) => a.iter().map(bulk).collect(),
        other => panic!("arguments are not an array: {other:?}"),
    }
}

#[test]
fn logs_every_command_past_the_threshold_newest_first_with_cut_arguments() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CLIENT", "SETNAME", "worker-7"]);
    log_everything(&mut c);
    let long = "v".repeat(200);
    q::<()>(&mut c, &["SET", "k", &long]);
    let many: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let mut push = vec!["RPUSH", "l"];
    push.extend(many.iter().map(String::as_str));
    q::<i64>(&mut c, &push);
    let _ = qerr(&mut c, &["AUTH", "nobody", "secret"]);

    let es = entries(&mut c);
    // Newest first: AUTH (whatever its reply), RPUSH, SET, and the RESET itself last.
    let names: Vec<String> = es.iter().map(|e| args_of(e)[0].to_lowercase()).collect();
    assert_eq!(names[..4], ["auth", "rpush", "set", "slowlog"], "{names:?}");
    for w in es.windows(2) {
        assert!(matches!((&w[0][0], &w[1][0]), (Value::Int(a), Value::Int(b)) if a > b));
    }
    let (auth, rpush, set) = (&es[0], &es[1], &es[2]);
    assert_eq!(args_of(auth), ["AUTH", "(redacted)", "(redacted)"]);
    let pushed = args_of(rpush);
    assert_eq!(pushed.len(), 32);
    assert_eq!(pushed[30], "28");
    assert_eq!(pushed[31], "... (11 more arguments)");
    assert_eq!(
        args_of(set)[2],
        format!("{}... (72 more bytes)", "v".repeat(128))
    );
    // id, unix time, microseconds, arguments, client address, client name.
    assert_eq!(set.len(), 6);
    let now = common::now_ms() / 1000;
    assert!(matches!(set[1], Value::Int(t) if (now - 60..=now + 60).contains(&t)));
    assert!(matches!(set[2], Value::Int(us) if us >= 0));
    assert!(bulk(&set[4]).starts_with("127.0.0.1:"), "{:?}", set[4]);
    assert_eq!(bulk(&set[5]), "worker-7");

    assert_eq!(q::<i64>(&mut c, &["SLOWLOG", "LEN"]), es.len() as i64 + 1);
    match qv(&mut c, &["SLOWLOG", "GET", "2"]) {
        Value::Array(two) => assert_eq!(two.len(), 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_length_limit_trims_the_oldest_and_minus_one_turns_logging_off() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    q::<()>(&mut c, &["CONFIG", "SET", "slowlog-max-len", "3"]);
    for i in 0..5 {
        q::<()>(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    let es = entries(&mut c);
    assert_eq!(es.len(), 3);
    assert_eq!(args_of(&es[0]), ["SET", "k4", "v"]);
    let last_id = match es[0][0] {
        Value::Int(id) => id,
        ref other => panic!("{other:?}"),
    };

    q::<()>(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    q::<()>(&mut c, &["SLOWLOG", "RESET"]);
    q::<()>(&mut c, &["SET", "x", "y"]);
    assert_eq!(q::<i64>(&mut c, &["SLOWLOG", "LEN"]), 0);

    // RESET does not restart the ids.
    q::<()>(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "0"]);
    q::<()>(&mut c, &["SET", "x", "z"]);
    assert!(matches!(entries(&mut c)[0][0], Value::Int(id) if id > last_id));
}

#[test]
fn bad_arguments_get_redis_errors() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(
        qerr(&mut c, &["SLOWLOG", "GET", "-2"]),
        "ERR count should be greater than or equal to -1"
    );
    assert_eq!(
        qerr(&mut c, &["SLOWLOG", "GET", "x"]),
        "ERR count should be greater than or equal to -1"
    );
    assert_eq!(
        qerr(&mut c, &["SLOWLOG", "GET", "1", "2"]),
        "ERR unknown subcommand or wrong number of arguments for 'GET'. Try SLOWLOG HELP."
    );
    assert_eq!(
        qerr(&mut c, &["SLOWLOG", "NOPE"]),
        "ERR unknown subcommand 'NOPE'. Try SLOWLOG HELP."
    );
    assert_eq!(
        qerr(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-2"]),
        "ERR CONFIG SET failed (possibly related to argument 'slowlog-log-slower-than') - argument must be between -1 and 9223372036854775807 inclusive"
    );
    match qv(&mut c, &["SLOWLOG", "HELP"]) {
        Value::Array(lines) => assert_eq!(lines.len(), 12),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_transaction_and_a_script_log_their_commands() {
    let srv = Server::start();
    let mut c = srv.conn();
    log_everything(&mut c);
    q::<()>(&mut c, &["EVAL", "redis.call('set', 'a', 'b')", "0"]);
    let mut tx = redis::pipe();
    tx.atomic().cmd("INCR").arg("n").ignore();
    let _: () = tx.query(&mut c).expect("transaction");
    let es = entries(&mut c);
    let names: Vec<String> = es.iter().map(|e| args_of(e)[0].to_lowercase()).collect();
    assert_eq!(names, ["incr", "multi", "eval", "set", "slowlog"]);
    // The script's command is its script client's: no address, no name.
    assert_eq!(bulk(&es[3][4]), "?:0");
    assert_eq!(bulk(&es[3][5]), "");
}

/// ACL SETUSER's arguments and the passwords CONFIG SET sets are logged as `(redacted)`, as
/// Redis's `redactClientCommandArgument` hides them; other settings show as they are.
#[test]
fn user_rules_and_configured_passwords_are_redacted() {
    let srv = Server::start();
    let mut c = srv.conn();
    log_everything(&mut c);
    let _ = qerr(&mut c, &["ACL", "SETUSER", "bad user", "+get", "+set"]);
    q::<()>(&mut c, &["ACL", "SETUSER", "someone", "+get", "+set"]);
    q::<()>(&mut c, &["CONFIG", "SET", "masterauth", ""]);
    q::<()>(
        &mut c,
        &["CONFIG", "SET", "maxmemory-samples", "5", "masteruser", "u"],
    );
    q::<()>(&mut c, &["CONFIG", "SET", "slowlog-log-slower-than", "-1"]);
    let got: Vec<Vec<String>> = entries(&mut c).iter().map(|e| args_of(e)).collect();
    let setuser = ["ACL", "SETUSER", "(redacted)", "(redacted)", "(redacted)"];
    let want: [&[&str]; 5] = [
        &[
            "CONFIG",
            "SET",
            "maxmemory-samples",
            "5",
            "masteruser",
            "(redacted)",
        ],
        &["CONFIG", "SET", "masterauth", "(redacted)"],
        &setuser,
        &setuser,
        &["SLOWLOG", "RESET"],
    ];
    assert_eq!(got, want, "{got:?}");
}

/// A command that blocked is logged when it is served, as in Redis: after the command that
/// served it. One whose timeout ends it is not logged.
#[test]
fn a_blocked_command_is_logged_when_it_unblocks() {
    let srv = Server::start();
    let mut c = srv.conn();
    log_everything(&mut c);
    let mut r = srv.raw();
    r.send_cmd(&["BLPOP", "jobs", "0"]);
    assert!(common::blocked_clients_reach(&mut c, 1));
    q::<()>(&mut c, &["RPUSH", "jobs", "a"]);
    let _ = r.read_reply();
    let logged: Vec<Vec<String>> = entries(&mut c).iter().map(|e| args_of(e)).collect();
    assert_eq!(logged[0], ["BLPOP", "jobs", "0"], "{logged:?}");
    assert_eq!(logged[1], ["RPUSH", "jobs", "a"], "{logged:?}");
    assert_eq!(qv(&mut c, &["BLPOP", "nothing", "0.01"]), Value::Nil);
    let logged: Vec<Vec<String>> = entries(&mut c).iter().map(|e| args_of(e)).collect();
    assert_eq!(logged[1], ["BLPOP", "jobs", "0"], "{logged:?}");
}
