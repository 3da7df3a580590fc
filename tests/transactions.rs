//! MULTI/EXEC/DISCARD/WATCH/UNWATCH against the real binary: exact replies and error strings
//! (raw bytes, RESP2 and RESP3), queue-time errors, runtime errors inside EXEC, WATCH races
//! between clients, WATCH and expiry/FLUSHALL/SWAPDB, blocking commands inside MULTI, isolation
//! from concurrent writers, and how an EXEC appears in the change log (one transaction id,
//! consecutive offsets).
//!
//! Expected bytes are Redis 7.0's: the suite passes against redis-server
//! (`EDDY_TEST_SERVER=redis-server`) except the change-log tests, which are Eddy-only.

mod common;

use common::{
    changes_read as events, eddy_only, last_offset, poll_until, q, qv, reference_mode,
    wait_written, Raw, Resp, Server,
};
use redis::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Sends a command and returns its reply's exact bytes.
fn wire(r: &mut Raw, args: &[&str]) -> String {
    r.send_cmd(args);
    r.read_wire()
}

fn hello3(r: &mut Raw) {
    assert!(matches!(r.call(&["HELLO", "3"]), Resp::Map(_)));
}

/// A server whose DEBUG command is allowed (Redis needs the option; Eddy has no such gate).
fn debug_server() -> Server {
    Server::start_with(&if reference_mode() {
        vec!["--enable-debug-command", "yes"]
    } else {
        vec![]
    })
}

/// Queues `cmds` after MULTI on `r` (each must reply +QUEUED), then returns EXEC's bytes.
fn transaction(r: &mut Raw, cmds: &[&[&str]]) -> String {
    assert_eq!(wire(r, &["MULTI"]), "+OK\r\n");
    for c in cmds {
        assert_eq!(wire(r, c), "+QUEUED\r\n", "{c:?}");
    }
    wire(r, &["EXEC"])
}

// ---------------------------------------------------------------------------------------------
// MULTI, EXEC, DISCARD

#[test]
fn queued_commands_reply_queued_and_exec_returns_every_reply_in_order() {
    let srv = Server::start();
    let mut r = srv.raw();
    let exec = transaction(
        &mut r,
        &[
            &["SET", "a", "1"],
            &["INCR", "a"],
            &["GET", "a"],
            &["GET", "missing"],
        ],
    );
    assert_eq!(exec, "*4\r\n+OK\r\n:2\r\n$1\r\n2\r\n$-1\r\n");
    // An empty transaction is an empty array.
    assert_eq!(transaction(&mut r, &[]), "*0\r\n");
    // Commands are not run while queued.
    assert_eq!(wire(&mut r, &["MULTI"]), "+OK\r\n");
    assert_eq!(wire(&mut r, &["SET", "later", "x"]), "+QUEUED\r\n");
    let mut other = srv.conn();
    assert_eq!(qv(&mut other, &["GET", "later"]), Value::Nil);
    assert_eq!(wire(&mut r, &["EXEC"]), "*1\r\n+OK\r\n");
    assert_eq!(
        qv(&mut other, &["GET", "later"]),
        Value::BulkString(b"x".to_vec())
    );
}

#[test]
fn errors_while_queueing_make_exec_abort() {
    let srv = Server::start();
    let mut r = srv.raw();
    let cases: [(&[&str], &str); 3] = [
        (
            &["NOSUCH", "x"],
            "-ERR unknown command 'NOSUCH', with args beginning with: 'x' \r\n",
        ),
        (
            &["GET"],
            "-ERR wrong number of arguments for 'get' command\r\n",
        ),
        (
            &["SAVE"],
            "-ERR Command not allowed inside a transaction\r\n",
        ),
    ];
    for (bad, err) in cases {
        assert_eq!(wire(&mut r, &["MULTI"]), "+OK\r\n");
        assert_eq!(wire(&mut r, &["SET", "doomed", "1"]), "+QUEUED\r\n");
        assert_eq!(wire(&mut r, bad), err, "{bad:?}");
        // Queueing goes on after the error; EXEC then refuses the whole transaction.
        assert_eq!(wire(&mut r, &["SET", "doomed", "2"]), "+QUEUED\r\n");
        assert_eq!(
            wire(&mut r, &["EXEC"]),
            "-EXECABORT Transaction discarded because of previous errors.\r\n",
            "{bad:?}"
        );
        assert_eq!(wire(&mut r, &["EXISTS", "doomed"]), ":0\r\n");
        // The transaction is over.
        assert_eq!(wire(&mut r, &["EXEC"]), "-ERR EXEC without MULTI\r\n");
    }
}

#[test]
fn runtime_errors_inside_exec_do_not_roll_back() {
    let srv = Server::start();
    let mut r = srv.raw();
    let exec = transaction(
        &mut r,
        &[
            &["SET", "s", "text"],
            &["INCR", "s"],
            &["LPUSH", "s", "x"],
            &["SET", "after", "1"],
        ],
    );
    assert_eq!(
        exec,
        "*4\r\n+OK\r\n-ERR value is not an integer or out of range\r\n\
         -WRONGTYPE Operation against a key holding the wrong kind of value\r\n+OK\r\n"
    );
    assert_eq!(wire(&mut r, &["GET", "s"]), "$4\r\ntext\r\n");
    assert_eq!(wire(&mut r, &["GET", "after"]), "$1\r\n1\r\n");
}

#[test]
fn multi_exec_and_discard_misuse_get_redis_errors() {
    let srv = Server::start();
    let mut r = srv.raw();
    assert_eq!(wire(&mut r, &["EXEC"]), "-ERR EXEC without MULTI\r\n");
    assert_eq!(wire(&mut r, &["DISCARD"]), "-ERR DISCARD without MULTI\r\n");
    assert_eq!(wire(&mut r, &["UNWATCH"]), "+OK\r\n");
    assert_eq!(
        wire(&mut r, &["WATCH"]),
        "-ERR wrong number of arguments for 'watch' command\r\n"
    );
    assert_eq!(wire(&mut r, &["MULTI"]), "+OK\r\n");
    // Neither a nested MULTI nor WATCH inside MULTI dooms the transaction.
    assert_eq!(
        wire(&mut r, &["MULTI"]),
        "-ERR MULTI calls can not be nested\r\n"
    );
    assert_eq!(
        wire(&mut r, &["WATCH", "k"]),
        "-ERR WATCH inside MULTI is not allowed\r\n"
    );
    assert_eq!(wire(&mut r, &["SET", "k", "v"]), "+QUEUED\r\n");
    // UNWATCH inside MULTI is queued.
    assert_eq!(wire(&mut r, &["UNWATCH"]), "+QUEUED\r\n");
    assert_eq!(wire(&mut r, &["EXEC"]), "*2\r\n+OK\r\n+OK\r\n");
}

#[test]
fn exec_with_wrong_arity_inside_multi_discards_the_transaction() {
    let srv = Server::start();
    let mut r = srv.raw();
    assert_eq!(wire(&mut r, &["MULTI"]), "+OK\r\n");
    assert_eq!(wire(&mut r, &["SET", "k", "v"]), "+QUEUED\r\n");
    assert_eq!(
        wire(&mut r, &["DISCARD", "x"]),
        "-ERR wrong number of arguments for 'discard' command\r\n"
    );
    assert_eq!(
        wire(&mut r, &["EXEC", "x"]),
        "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
    );
    assert_eq!(wire(&mut r, &["DISCARD"]), "-ERR DISCARD without MULTI\r\n");
    assert_eq!(wire(&mut r, &["EXISTS", "k"]), ":0\r\n");
}

#[test]
fn discard_drops_the_queue_and_unwatches() {
    let srv = Server::start();
    let mut r = srv.raw();
    let mut other = srv.conn();
    assert_eq!(wire(&mut r, &["WATCH", "w"]), "+OK\r\n");
    assert_eq!(wire(&mut r, &["MULTI"]), "+OK\r\n");
    assert_eq!(wire(&mut r, &["SET", "w", "mine"]), "+QUEUED\r\n");
    assert_eq!(wire(&mut r, &["DISCARD"]), "+OK\r\n");
    assert_eq!(wire(&mut r, &["GET", "w"]), "$-1\r\n");
    // No longer watched: another client's write does not make the next EXEC fail.
    q::<()>(&mut other, &["SET", "w", "theirs"]);
    assert_eq!(
        transaction(&mut r, &[&["GET", "w"]]),
        "*1\r\n$6\r\ntheirs\r\n"
    );
}

#[test]
fn reset_and_quit_inside_multi() {
    let srv = Server::start();
    let mut r = srv.raw();
    assert_eq!(wire(&mut r, &["WATCH", "w"]), "+OK\r\n");
    assert_eq!(wire(&mut r, &["MULTI"]), "+OK\r\n");
    assert_eq!(wire(&mut r, &["SET", "k", "v"]), "+QUEUED\r\n");
    assert_eq!(wire(&mut r, &["RESET"]), "+RESET\r\n");
    assert_eq!(wire(&mut r, &["EXEC"]), "-ERR EXEC without MULTI\r\n");
    assert_eq!(wire(&mut r, &["EXISTS", "k"]), ":0\r\n");
    // RESET unwatched too.
    let mut other = srv.conn();
    q::<()>(&mut other, &["SET", "w", "1"]);
    assert_eq!(transaction(&mut r, &[&["PING"]]), "*1\r\n+PONG\r\n");
    // QUIT runs at once: the queued command never runs.
    assert_eq!(wire(&mut r, &["MULTI"]), "+OK\r\n");
    assert_eq!(wire(&mut r, &["SET", "q", "v"]), "+QUEUED\r\n");
    assert_eq!(wire(&mut r, &["QUIT"]), "+OK\r\n");
    assert!(r.closed_within(Duration::from_secs(5)));
    assert_eq!(qv(&mut other, &["EXISTS", "q"]), Value::Int(0));
}

#[test]
fn multi_is_refused_in_resp2_pubsub_mode_but_subscribe_can_be_queued() {
    let srv = Server::start();
    let mut r = srv.raw();
    assert_eq!(
        transaction(&mut r, &[&["SUBSCRIBE", "ch"]]),
        "*1\r\n*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n"
    );
    assert_eq!(
        wire(&mut r, &["MULTI"]),
        "-ERR Can't execute 'multi': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET \
         are allowed in this context\r\n"
    );
}

#[test]
fn resp3_exec_replies_and_aborted_exec_is_null() {
    let srv = Server::start();
    let mut r = srv.raw();
    hello3(&mut r);
    let mut other = srv.conn();
    assert_eq!(
        transaction(&mut r, &[&["SET", "k", "1"], &["GET", "nothing"]]),
        "*2\r\n+OK\r\n_\r\n"
    );
    assert_eq!(wire(&mut r, &["WATCH", "k"]), "+OK\r\n");
    q::<()>(&mut other, &["SET", "k", "2"]);
    assert_eq!(transaction(&mut r, &[&["GET", "k"]]), "_\r\n");
    // RESP2: a null array.
    let mut r2 = srv.raw();
    assert_eq!(wire(&mut r2, &["WATCH", "k"]), "+OK\r\n");
    q::<()>(&mut other, &["SET", "k", "3"]);
    assert_eq!(transaction(&mut r2, &[&["GET", "k"]]), "*-1\r\n");
}

#[test]
fn blocking_commands_inside_multi_reply_as_if_timed_out() {
    let srv = Server::start();
    let mut r = srv.raw();
    let exec = transaction(
        &mut r,
        &[
            &["BLPOP", "l", "0"],
            &["BLMOVE", "l", "l2", "LEFT", "LEFT", "0"],
            &["BRPOPLPUSH", "l", "l2", "0"],
            &["BLMPOP", "0", "1", "l", "LEFT"],
            &["BZPOPMIN", "z", "0"],
            &["BZMPOP", "0", "1", "z", "MIN"],
            &["RPUSH", "l", "a"],
            &["BLPOP", "l", "0"],
        ],
    );
    assert_eq!(
        exec,
        "*8\r\n*-1\r\n$-1\r\n$-1\r\n*-1\r\n*-1\r\n*-1\r\n:1\r\n*2\r\n$1\r\nl\r\n$1\r\na\r\n"
    );
    // Nothing is left blocked.
    let info: String = q(&mut srv.conn(), &["INFO", "clients"]);
    assert!(info.contains("blocked_clients:0"), "{info}");
    hello3(&mut r);
    assert_eq!(
        transaction(
            &mut r,
            &[
                &["BLPOP", "l", "0"],
                &["BLMOVE", "l", "l2", "LEFT", "LEFT", "0"]
            ]
        ),
        "*2\r\n_\r\n_\r\n"
    );
}

fn blocked_clients(c: &mut redis::Connection) -> usize {
    let info: String = q(c, &["INFO", "clients"]);
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_client_blocked_on_a_key_the_transaction_pushes_to_is_served_after_exec() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut blocked = srv.raw();
    blocked.send_cmd(&["BLPOP", "q", "0"]);
    assert!(poll_until(Duration::from_secs(10), || blocked_clients(
        &mut c
    ) == 1));
    let mut r = srv.raw();
    // Inside the transaction the pushed element is still there.
    assert_eq!(
        transaction(&mut r, &[&["RPUSH", "q", "job"], &["LLEN", "q"]]),
        "*2\r\n:1\r\n:1\r\n"
    );
    assert_eq!(blocked.read_wire(), "*2\r\n$1\r\nq\r\n$3\r\njob\r\n");
    assert_eq!(wire(&mut r, &["LLEN", "q"]), ":0\r\n");
}

// ---------------------------------------------------------------------------------------------
// WATCH

#[test]
fn another_clients_write_to_a_watched_key_makes_exec_fail() {
    let srv = Server::start();
    let mut a = srv.raw();
    let mut b = srv.conn();
    q::<()>(&mut b, &["SET", "balance", "10"]);
    assert_eq!(wire(&mut a, &["WATCH", "balance"]), "+OK\r\n");
    assert_eq!(wire(&mut a, &["GET", "balance"]), "$2\r\n10\r\n");
    q::<()>(&mut b, &["INCRBY", "balance", "5"]);
    assert_eq!(transaction(&mut a, &[&["SET", "balance", "9"]]), "*-1\r\n");
    assert_eq!(
        qv(&mut b, &["GET", "balance"]),
        Value::BulkString(b"15".to_vec())
    );
    // EXEC unwatched: the retry goes through.
    assert_eq!(wire(&mut a, &["WATCH", "balance"]), "+OK\r\n");
    q::<()>(&mut b, &["SET", "unrelated", "1"]);
    assert_eq!(
        transaction(&mut a, &[&["SET", "balance", "14"]]),
        "*1\r\n+OK\r\n"
    );
    assert_eq!(
        qv(&mut b, &["GET", "balance"]),
        Value::BulkString(b"14".to_vec())
    );
}

#[test]
fn watch_covers_every_kind_of_write_and_only_the_watched_db() {
    let srv = Server::start();
    let mut a = srv.raw();
    let mut b = srv.conn();
    let writes: &[&[&str]] = &[
        &["DEL", "k"],
        &["EXPIRE", "k", "100"],
        &["APPEND", "k", "x"],
        &["RENAME", "k", "k2"],
        &["SET", "k", "same"],
    ];
    for w in writes {
        q::<()>(&mut b, &["SET", "k", "same"]);
        assert_eq!(wire(&mut a, &["WATCH", "k"]), "+OK\r\n");
        let _: Value = qv(&mut b, w);
        assert_eq!(transaction(&mut a, &[&["PING"]]), "*-1\r\n", "{w:?}");
    }
    // A write that changes nothing is no change.
    q::<()>(&mut b, &["SADD", "s", "m"]);
    assert_eq!(wire(&mut a, &["WATCH", "s"]), "+OK\r\n");
    assert_eq!(qv(&mut b, &["SADD", "s", "m"]), Value::Int(0));
    assert_eq!(qv(&mut b, &["DEL", "missing"]), Value::Int(0));
    assert_eq!(transaction(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n");
    // The same key in another database is another key.
    assert_eq!(wire(&mut a, &["WATCH", "k"]), "+OK\r\n");
    q::<()>(&mut b, &["SELECT", "1"]);
    q::<()>(&mut b, &["SET", "k", "db1"]);
    assert_eq!(transaction(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n");
    // A watched key that does not exist changes when it is created.
    assert_eq!(wire(&mut a, &["WATCH", "fresh"]), "+OK\r\n");
    q::<()>(&mut b, &["SELECT", "0"]);
    q::<()>(&mut b, &["SET", "fresh", "1"]);
    assert_eq!(transaction(&mut a, &[&["PING"]]), "*-1\r\n");
}

#[test]
fn a_watched_key_this_client_changes_makes_its_own_exec_fail() {
    let srv = Server::start();
    let mut a = srv.raw();
    assert_eq!(wire(&mut a, &["SET", "k", "1"]), "+OK\r\n");
    assert_eq!(wire(&mut a, &["WATCH", "k", "k"]), "+OK\r\n");
    // Written back to the same value: still a change.
    assert_eq!(wire(&mut a, &["SET", "k", "1"]), "+OK\r\n");
    assert_eq!(transaction(&mut a, &[&["INCR", "k"]]), "*-1\r\n");
    assert_eq!(wire(&mut a, &["GET", "k"]), "$1\r\n1\r\n");
    // The transaction's own writes do not count against it.
    assert_eq!(wire(&mut a, &["WATCH", "k"]), "+OK\r\n");
    assert_eq!(
        transaction(&mut a, &[&["INCR", "k"], &["INCR", "k"]]),
        "*2\r\n:2\r\n:3\r\n"
    );
}

#[test]
fn unwatch_forgets_watched_keys_and_a_dirty_watch() {
    let srv = Server::start();
    let mut a = srv.raw();
    let mut b = srv.conn();
    assert_eq!(wire(&mut a, &["WATCH", "x", "y"]), "+OK\r\n");
    q::<()>(&mut b, &["SET", "x", "1"]);
    assert_eq!(wire(&mut a, &["UNWATCH"]), "+OK\r\n");
    assert_eq!(transaction(&mut a, &[&["GET", "x"]]), "*1\r\n$1\r\n1\r\n");
    // Once a watched key changed, watching more keys does not help.
    assert_eq!(wire(&mut a, &["WATCH", "x"]), "+OK\r\n");
    q::<()>(&mut b, &["SET", "x", "2"]);
    assert_eq!(wire(&mut a, &["WATCH", "z"]), "+OK\r\n");
    assert_eq!(transaction(&mut a, &[&["PING"]]), "*-1\r\n");
}

#[test]
fn queue_time_errors_take_precedence_over_a_dirty_watch() {
    let srv = Server::start();
    let mut a = srv.raw();
    let mut b = srv.conn();
    assert_eq!(wire(&mut a, &["WATCH", "x"]), "+OK\r\n");
    q::<()>(&mut b, &["SET", "x", "1"]);
    assert_eq!(wire(&mut a, &["MULTI"]), "+OK\r\n");
    assert!(wire(&mut a, &["NOSUCH"]).starts_with("-ERR unknown command"));
    assert_eq!(
        wire(&mut a, &["EXEC"]),
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
}

#[test]
fn flushall_flushdb_and_swapdb_touch_watched_keys_that_exist() {
    let srv = Server::start();
    let mut a = srv.raw();
    let mut b = srv.conn();
    let cases: &[(&[&str], &[&str], &str)] = &[
        // (setup, the other client's command, EXEC's reply)
        (&["SET", "k", "v"], &["FLUSHALL"], "*-1\r\n"),
        (&["DEL", "k"], &["FLUSHALL"], "*1\r\n+PONG\r\n"),
        (&["SET", "k", "v"], &["FLUSHDB"], "*-1\r\n"),
        (&["SET", "k", "v"], &["SWAPDB", "0", "1"], "*-1\r\n"),
        (&["FLUSHALL"], &["SWAPDB", "0", "1"], "*1\r\n+PONG\r\n"),
    ];
    for (setup, cmd, reply) in cases {
        let _: Value = qv(&mut b, setup);
        assert_eq!(wire(&mut a, &["WATCH", "k"]), "+OK\r\n");
        let _: Value = qv(&mut b, cmd);
        assert_eq!(
            transaction(&mut a, &[&["PING"]]),
            *reply,
            "{setup:?} {cmd:?}"
        );
    }
    // The key exists only in the other database: swapping brings it in.
    q::<()>(&mut b, &["FLUSHALL"]);
    q::<()>(&mut b, &["SELECT", "1"]);
    q::<()>(&mut b, &["SET", "k", "from-db1"]);
    assert_eq!(wire(&mut a, &["WATCH", "k"]), "+OK\r\n");
    q::<()>(&mut b, &["SWAPDB", "0", "1"]);
    assert_eq!(transaction(&mut a, &[&["PING"]]), "*-1\r\n");
    // Flushing another database leaves db 0's watched key alone.
    q::<()>(&mut b, &["SELECT", "0"]);
    assert_eq!(wire(&mut a, &["WATCH", "k"]), "+OK\r\n");
    q::<()>(&mut b, &["SELECT", "1"]);
    q::<()>(&mut b, &["FLUSHDB"]);
    assert_eq!(
        transaction(&mut a, &[&["GET", "k"]]),
        "*1\r\n$8\r\nfrom-db1\r\n"
    );
}

/// Sets `k` with a short TTL and waits until the TTL has passed without touching `k`: a probe
/// set after it with the same TTL has a deadline no earlier than `k`'s, so once the probe is
/// gone, `k` has expired too (and, with active expiry off, is still stored).
fn set_and_let_expire(c: &mut redis::Connection, k: &str) {
    q::<()>(c, &["SET", k, "v", "PX", "50"]);
    q::<()>(c, &["SET", "probe", "v", "PX", "50"]);
    assert!(poll_until(Duration::from_secs(10), || {
        q::<i64>(c, &["EXISTS", "probe"]) == 0
    }));
}

#[test]
fn a_watched_key_that_expires_makes_exec_fail() {
    let srv = debug_server();
    let mut b = srv.conn();
    assert_eq!(
        qv(&mut b, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        Value::Okay
    );
    let mut a = srv.raw();
    // Each key lives long enough to be alive when WATCHed (the next command), unlike the keys
    // of the test below. Expired but not deleted by anyone when EXEC runs:
    q::<()>(&mut b, &["SET", "k", "v", "PX", "300"]);
    assert_eq!(wire(&mut a, &["WATCH", "k"]), "+OK\r\n");
    q::<()>(&mut b, &["SET", "probe", "v", "PX", "300"]);
    assert!(poll_until(Duration::from_secs(10), || {
        q::<i64>(&mut b, &["EXISTS", "probe"]) == 0
    }));
    assert_eq!(transaction(&mut a, &[&["PING"]]), "*-1\r\n");
    // Deleted by a lazy expiry (another client's read) before EXEC.
    q::<()>(&mut b, &["SET", "k", "v", "PX", "300"]);
    assert_eq!(wire(&mut a, &["WATCH", "k"]), "+OK\r\n");
    assert!(poll_until(Duration::from_secs(10), || {
        q::<i64>(&mut b, &["EXISTS", "k"]) == 0
    }));
    assert_eq!(transaction(&mut a, &[&["PING"]]), "*-1\r\n");
    // Deleted by active expiry.
    assert_eq!(
        qv(&mut b, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]),
        Value::Okay
    );
    q::<()>(&mut b, &["SET", "k", "v", "PX", "300"]);
    assert_eq!(wire(&mut a, &["WATCH", "k"]), "+OK\r\n");
    assert!(poll_until(Duration::from_secs(10), || {
        q::<i64>(&mut b, &["DBSIZE"]) == 0
    }));
    assert_eq!(transaction(&mut a, &[&["PING"]]), "*-1\r\n");
}

#[test]
fn a_key_already_expired_when_watched_is_not_changed_by_its_deletion() {
    let srv = debug_server();
    let mut b = srv.conn();
    assert_eq!(
        qv(&mut b, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        Value::Okay
    );
    let mut a = srv.raw();
    set_and_let_expire(&mut b, "k");
    assert_eq!(wire(&mut a, &["WATCH", "k"]), "+OK\r\n");
    assert_eq!(transaction(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n");
    // Its lazy deletion is no change either...
    set_and_let_expire(&mut b, "k");
    assert_eq!(wire(&mut a, &["WATCH", "k"]), "+OK\r\n");
    assert_eq!(qv(&mut b, &["GET", "k"]), Value::Nil);
    assert_eq!(transaction(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n");
    // ...nor is a flush; but writing it is.
    set_and_let_expire(&mut b, "k");
    assert_eq!(wire(&mut a, &["WATCH", "k"]), "+OK\r\n");
    q::<()>(&mut b, &["FLUSHALL"]);
    assert_eq!(transaction(&mut a, &[&["PING"]]), "*1\r\n+PONG\r\n");
    set_and_let_expire(&mut b, "k");
    assert_eq!(wire(&mut a, &["WATCH", "k"]), "+OK\r\n");
    q::<()>(&mut b, &["SET", "k", "new"]);
    assert_eq!(transaction(&mut a, &[&["PING"]]), "*-1\r\n");
}

#[test]
fn optimistic_increments_from_many_clients_never_lose_an_update() {
    let srv = Server::start();
    const CLIENTS: usize = 4;
    const EACH: usize = 25;
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let mut c = srv.conn();
            std::thread::spawn(move || {
                let mut retries = 0;
                for _ in 0..EACH {
                    loop {
                        let _: () = redis::cmd("WATCH")
                            .arg("counter")
                            .query(&mut c)
                            .expect("watch");
                        let v: Option<i64> =
                            redis::cmd("GET").arg("counter").query(&mut c).expect("get");
                        let r: Option<(String,)> = redis::pipe()
                            .atomic()
                            .cmd("SET")
                            .arg("counter")
                            .arg(v.unwrap_or(0) + 1)
                            .query(&mut c)
                            .expect("exec");
                        if r.is_some() {
                            break;
                        }
                        retries += 1;
                    }
                }
                retries
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let mut c = srv.conn();
    assert_eq!(
        q::<i64>(&mut c, &["GET", "counter"]),
        (CLIENTS * EACH) as i64
    );
}

#[test]
fn exec_is_isolated_from_concurrent_writers() {
    let srv = Server::start();
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let (stop, written) = (stop.clone(), written.clone());
        let mut c = srv.conn();
        std::thread::spawn(move || {
            let mut i = 0u64;
            loop {
                let mut p = redis::pipe();
                for _ in 0..20 {
                    i += 1;
                    p.cmd("SET").arg("w").arg(i).ignore();
                }
                p.query::<()>(&mut c).expect("writer");
                written.store(i, Ordering::Relaxed);
                if stop.load(Ordering::Relaxed) {
                    return i;
                }
            }
        })
    };
    // The transactions must run while the writer writes: wait for its first batch (on a busy
    // machine the thread may start late).
    assert!(poll_until(Duration::from_secs(10), || written
        .load(Ordering::Relaxed)
        > 0));
    let mut c = srv.conn();
    for _ in 0..200 {
        let (x, y): (Option<u64>, Option<u64>) = redis::pipe()
            .atomic()
            .cmd("GET")
            .arg("w")
            .cmd("INCR")
            .arg("tx-a")
            .ignore()
            .cmd("GET")
            .arg("w")
            .query(&mut c)
            .expect("exec");
        assert_eq!(x, y, "another client's write ran inside EXEC");
    }
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().expect("writer") > 0);
}

#[test]
fn keyspace_notifications_of_an_exec_come_in_command_order() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "E$g"]);
    let mut sub = srv.raw();
    assert!(matches!(
        sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]),
        Resp::Array(_)
    ));
    let mut r = srv.raw();
    // A DEL followed by a SET of the same key: two commands, so the DEL is notified (a single
    // command that did both would be an overwrite).
    assert_eq!(
        transaction(
            &mut r,
            &[&["SET", "k", "1"], &["DEL", "k"], &["SET", "k", "2"]]
        ),
        "*3\r\n+OK\r\n:1\r\n+OK\r\n"
    );
    let mut events = Vec::new();
    for _ in 0..3 {
        match sub.read_reply() {
            Resp::Array(m) => events.push(m[2].text().unwrap_or_default()),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        events,
        [
            "__keyevent@0__:set",
            "__keyevent@0__:del",
            "__keyevent@0__:set"
        ]
    );
}

#[test]
fn exec_under_appendfsync_always_survives_a_restart() {
    let args = ["--appendonly", "yes", "--appendfsync", "always"];
    let srv = Server::start_with(&args);
    let mut r = srv.raw();
    assert_eq!(
        transaction(
            &mut r,
            &[
                &["SET", "a", "1"],
                &["RPUSH", "l", "x", "y"],
                &["INCR", "a"]
            ]
        ),
        "*3\r\n+OK\r\n:2\r\n:2\r\n"
    );
    let dir = srv.stop();
    let srv = Server::start_in(dir, &args);
    let mut c = srv.conn();
    assert_eq!(q::<i64>(&mut c, &["GET", "a"]), 2);
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "l", "0", "-1"]),
        ["x", "y"]
    );
}

// ---------------------------------------------------------------------------------------------
// The change log (Eddy-only)

#[test]
fn an_execs_changes_share_one_transaction_id_on_consecutive_offsets() {
    if !eddy_only("an_execs_changes_share_one_transaction_id_on_consecutive_offsets") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let mut r = srv.raw();
    let id = match r.call(&["CLIENT", "ID"]) {
        Resp::Int(i) => i,
        other => panic!("{other:?}"),
    };
    q::<()>(&mut c, &["SET", "before", "1"]);
    let start = last_offset(&mut c);
    assert_eq!(
        transaction(
            &mut r,
            &[
                &["SET", "a", "1"],
                &["GET", "a"],
                &["MSET", "b", "1", "c", "1"],
                &["INCR", "n"],
                &["INCR", "a"],
            ]
        ),
        "*5\r\n+OK\r\n$1\r\n1\r\n+OK\r\n:1\r\n:2\r\n"
    );
    let from = format!("({start}");
    let evs = events(&mut c, &[&from]);
    let keys: Vec<&str> = evs.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c", "n", "a"]);
    let tx = evs[0].tx;
    assert!(tx > 0, "{evs:?}");
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(e.offset, start + 1 + i as i64, "{evs:?}");
        assert_eq!((e.tx, e.tx_n, e.client), (tx, 5, id), "{evs:?}");
    }
    // A transaction with one change is still marked as one.
    assert_eq!(
        transaction(&mut r, &[&["SET", "solo", "1"]]),
        "*1\r\n+OK\r\n"
    );
    let evs = events(&mut c, &[&format!("({}", start + 5)]);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert!(evs[0].tx > tx && evs[0].tx_n == 1, "{evs:?}");
    // A plain single write is not a transaction; an aborted or empty EXEC records nothing.
    q::<()>(&mut c, &["SET", "plain", "1"]);
    assert_eq!(transaction(&mut r, &[&["GET", "a"]]), "*1\r\n$1\r\n2\r\n");
    assert_eq!(wire(&mut r, &["WATCH", "a"]), "+OK\r\n");
    q::<()>(&mut c, &["SET", "a", "9"]);
    assert_eq!(transaction(&mut r, &[&["SET", "a", "10"]]), "*-1\r\n");
    let evs = events(&mut c, &[&format!("({}", start + 6)]);
    let seen: Vec<(&str, i64)> = evs.iter().map(|e| (e.key.as_str(), e.tx)).collect();
    assert_eq!(seen, [("plain", 0), ("a", 0)]);
}

#[test]
fn a_concurrent_writer_never_lands_between_an_execs_records() {
    if !eddy_only("a_concurrent_writer_never_lands_between_an_execs_records") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let start = last_offset(&mut c);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let mut w = srv.conn();
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let mut p = redis::pipe();
                for _ in 0..20 {
                    i += 1;
                    p.cmd("SET").arg("w").arg(i).ignore();
                }
                p.query::<()>(&mut w).expect("writer");
            }
        })
    };
    const EXECS: usize = 150;
    for _ in 0..EXECS {
        let _: Vec<i64> = redis::pipe()
            .atomic()
            .cmd("INCR")
            .arg("x")
            .cmd("INCR")
            .arg("y")
            .cmd("INCR")
            .arg("z")
            .query(&mut c)
            .expect("exec");
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("writer");
    let from = format!("({start}");
    let mut evs = Vec::new();
    let mut next = from;
    loop {
        let page = events(&mut c, &[&next, "COUNT", "10000", "MATCH", "[xyz]"]);
        let Some(last) = page.last() else { break };
        next = format!("({}", last.offset);
        evs.extend(page);
    }
    assert_eq!(evs.len(), 3 * EXECS);
    for t in evs.chunks(3) {
        let keys: Vec<&str> = t.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["x", "y", "z"], "{t:?}");
        assert!(
            t[0].tx > 0 && t.iter().all(|e| e.tx == t[0].tx && e.tx_n == 3),
            "{t:?}"
        );
        assert_eq!(
            (t[1].offset - t[0].offset, t[2].offset - t[1].offset),
            (1, 1),
            "another record landed inside the transaction: {t:?}"
        );
    }
}

/// Runs MULTI, `cmds`, EXEC on `c` and returns EXEC's replies.
fn exec_all(c: &mut redis::Connection, cmds: &[&[&str]]) -> Vec<Value> {
    let mut p = redis::pipe();
    p.atomic();
    for args in cmds {
        p.add_command(common::cmd(args));
    }
    p.query(c).expect("exec")
}

#[test]
fn a_snapshot_taken_inside_exec_covers_the_changes_before_it() {
    if !eddy_only("a_snapshot_taken_inside_exec_covers_the_changes_before_it") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let r = exec_all(
        &mut c,
        &[
            &["RPUSH", "l", "a"],
            &["CHANGES", "SNAPSHOT", "MATCH", "l"],
            &["RPUSH", "l", "b"],
        ],
    );
    // The snapshot holds "a" and claims the offset of its record: the tail after it is "b".
    let n = match &r[1] {
        Value::Array(v) => match v[0] {
            Value::Int(n) => n,
            ref other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let tail = events(&mut c, &[&format!("({n}")]);
    assert_eq!(tail.len(), 1, "{tail:?}");
    assert_eq!(tail[0].key, "l");
    assert_eq!(tail[0].offset, n + 1);
    assert!(tail[0].tx > 0 && tail[0].tx_n == 2, "{tail:?}");
}

#[test]
fn bgsave_inside_exec_then_restart_applies_every_change_once() {
    if !eddy_only("bgsave_inside_exec_then_restart_applies_every_change_once") {
        return;
    }
    let args = ["--appendonly", "yes"];
    let srv = Server::start_with(&args);
    let mut c = srv.conn();
    let r = exec_all(
        &mut c,
        &[&["RPUSH", "l", "x"], &["BGSAVE"], &["RPUSH", "l", "y"]],
    );
    assert_eq!(
        r[1],
        Value::SimpleString("Background saving started".into())
    );
    assert!(poll_until(Duration::from_secs(10), || {
        let info: String = q(&mut c, &["INFO", "persistence"]);
        info.contains("rdb_bgsave_in_progress:0")
    }));
    // The stop is a SIGKILL: the EXEC's records must be in the file first (under `everysec` a
    // kill within the writer's couple of milliseconds loses them, as a crash would).
    wait_written(&mut c);
    let dir = srv.stop();
    let srv = Server::start_in(dir, &args);
    let mut c = srv.conn();
    assert_eq!(
        q::<Vec<String>>(&mut c, &["LRANGE", "l", "0", "-1"]),
        ["x", "y"]
    );
}

#[test]
fn client_list_shows_a_client_in_multi_and_its_queue_length() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut r = srv.raw();
    let id = match r.call(&["CLIENT", "ID"]) {
        Resp::Int(i) => i,
        other => panic!("{other:?}"),
    };
    let line = |c: &mut redis::Connection| -> String {
        q::<String>(c, &["CLIENT", "LIST", "ID", &id.to_string()])
    };
    assert!(line(&mut c).contains(" flags=N "), "{}", line(&mut c));
    assert!(line(&mut c).contains(" multi=-1 "));
    r.call(&["MULTI"]);
    r.call(&["SET", "k", "v"]);
    r.call(&["GET", "k"]);
    let l = line(&mut c);
    assert!(l.contains(" flags=x "), "{l}");
    assert!(l.contains(" multi=2 "), "{l}");
    r.call(&["EXEC"]);
    assert!(line(&mut c).contains(" multi=-1 "));
}

#[test]
fn a_write_pause_holds_exec_only_when_its_queue_writes() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut r = srv.raw();
    let mut w = srv.raw();
    r.call(&["MULTI"]);
    r.call(&["GET", "k"]);
    w.call(&["MULTI"]);
    w.call(&["SET", "k", "v"]);
    q::<()>(&mut c, &["CLIENT", "PAUSE", "60000", "WRITE"]);
    // Only reads queued: EXEC runs at once under a WRITE pause.
    assert_eq!(wire(&mut r, &["EXEC"]), "*1\r\n$-1\r\n");
    w.send_cmd(&["EXEC"]);
    assert!(
        w.try_read_reply(Duration::from_millis(200)).is_none(),
        "an EXEC that writes waits for the pause to end"
    );
    q::<()>(&mut c, &["CLIENT", "UNPAUSE"]);
    assert_eq!(w.read_wire(), "*1\r\n+OK\r\n");
}
