//! The change feed: `CHANGES READ <start> [COUNT n]` and `CHANGES INFO`. Every effective write is
//! recorded once, with its deterministic effect as `args` (relative TTLs made absolute, computed
//! values as `SET`), in apply order; writes that change nothing record nothing.
//!
//! These are Eddy-only commands: in reference mode (`EDDY_TEST_SERVER=redis-server`) every test
//! here returns early.

mod common;

use common::{eddy_only, now_ms, poll_until, q, qv, vget, vpairs, vstr, Server};
use redis::Value;
use std::time::Duration;

/// One change event, decoded from a RESP3 map or a RESP2 flat field/value array.
#[derive(Debug, Clone, PartialEq)]
struct Event {
    offset: i64,
    ts: i64,
    db: i64,
    key: Vec<u8>,
    typ: String,
    event: String,
    change: String,
    origin: String,
    client: i64,
    tx: i64,
    tx_n: i64,
    args: Vec<Vec<u8>>,
}

impl Event {
    fn args_str(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect()
    }

    fn key_str(&self) -> String {
        String::from_utf8_lossy(&self.key).into_owned()
    }
}

fn int_field(v: &Value, f: &str) -> i64 {
    match vget(v, f) {
        Some(Value::Int(i)) => i,
        other => panic!("field {f} must be an integer, got {other:?} in {v:?}"),
    }
}

fn str_field(v: &Value, f: &str) -> String {
    vget(v, f)
        .as_ref()
        .and_then(vstr)
        .unwrap_or_else(|| panic!("field {f} must be a string in {v:?}"))
}

fn parse_event(v: &Value) -> Event {
    let fields: Vec<String> = vpairs(v).into_iter().map(|(k, _)| k).collect();
    for f in [
        "offset", "ts", "db", "key", "type", "event", "change", "origin", "client", "tx", "tx-n",
        "args",
    ] {
        assert!(
            fields.iter().any(|x| x == f),
            "event lacks field {f}: {v:?}"
        );
    }
    let key = match vget(v, "key") {
        Some(Value::BulkString(b)) => b,
        other => panic!("key must be a bulk string: {other:?}"),
    };
    let args = match vget(v, "args") {
        Some(Value::Array(a)) => a
            .into_iter()
            .map(|x| match x {
                Value::BulkString(b) => b,
                other => panic!("args items must be bulk strings: {other:?}"),
            })
            .collect(),
        other => panic!("args must be an array: {other:?}"),
    };
    Event {
        offset: int_field(v, "offset"),
        ts: int_field(v, "ts"),
        db: int_field(v, "db"),
        key,
        typ: str_field(v, "type"),
        event: str_field(v, "event"),
        change: str_field(v, "change"),
        origin: str_field(v, "origin"),
        client: int_field(v, "client"),
        tx: int_field(v, "tx"),
        tx_n: int_field(v, "tx-n"),
        args,
    }
}

fn read(c: &mut redis::Connection, start: &str, count: Option<usize>) -> Vec<Event> {
    let mut args = vec!["CHANGES", "READ", start];
    let n;
    if let Some(cnt) = count {
        n = cnt.to_string();
        args.push("COUNT");
        args.push(&n);
    }
    match qv(c, &args) {
        Value::Array(items) => items.iter().map(parse_event).collect(),
        other => panic!("CHANGES READ must reply with an array, got {other:?}"),
    }
}

/// The next offset to read from: everything already recorded is before it.
fn next_offset(c: &mut redis::Connection) -> i64 {
    info(c).1 + 1
}

/// (first-offset, last-offset, epoch)
fn info(c: &mut redis::Connection) -> (i64, i64, String) {
    let v = qv(c, &["CHANGES", "INFO"]);
    (
        int_field(&v, "first-offset"),
        int_field(&v, "last-offset"),
        str_field(&v, "epoch"),
    )
}

/// Every event with offset >= `from`, paging with COUNT.
fn read_all_from(c: &mut redis::Connection, from: i64) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    let mut next = from;
    loop {
        let page = read(c, &next.to_string(), Some(500));
        let Some(last) = page.last() else {
            return out;
        };
        next = last.offset + 1;
        out.extend(page);
    }
}

fn assert_near(actual: i64, expected: i64, tolerance: i64, what: &str) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} not within {tolerance} of {expected}"
    );
}

#[test]
fn changes_info_reports_offsets_and_epoch() {
    if !eddy_only("changes_info_reports_offsets_and_epoch") {
        return;
    }
    let srv = Server::start();
    for (proto, mut c) in srv.conns() {
        let (first, last, epoch) = info(&mut c);
        assert!(!epoch.is_empty(), "{proto}");
        assert!(
            first >= 0 && last >= first - 1,
            "{proto}: first {first} last {last}"
        );
        q::<()>(&mut c, &["SET", "k", proto]);
        let (_, last2, epoch2) = info(&mut c);
        assert_eq!(last2, last + 1, "{proto}: one SET adds one record");
        assert_eq!(epoch2, epoch, "epoch is stable");
    }
}

#[test]
fn events_have_the_same_fields_on_resp2_and_resp3() {
    if !eddy_only("events_have_the_same_fields_on_resp2_and_resp3") {
        return;
    }
    let srv = Server::start();
    let mut c2 = srv.conn();
    let mut c3 = srv.conn3();
    let from = next_offset(&mut c2);
    q::<()>(&mut c2, &["SET", "k", "v"]);
    let v2 = qv(&mut c2, &["CHANGES", "READ", &from.to_string()]);
    let v3 = qv(&mut c3, &["CHANGES", "READ", &from.to_string()]);
    if let Value::Array(items) = &v2 {
        assert!(
            matches!(items.first(), Some(Value::Array(_))),
            "RESP2 events are flat arrays: {v2:?}"
        );
    }
    if let Value::Array(items) = &v3 {
        assert!(
            matches!(items.first(), Some(Value::Map(_))),
            "RESP3 events are maps: {v3:?}"
        );
    }
    let e2: Vec<Event> = match v2 {
        Value::Array(a) => a.iter().map(parse_event).collect(),
        other => panic!("{other:?}"),
    };
    let e3: Vec<Event> = match v3 {
        Value::Array(a) => a.iter().map(parse_event).collect(),
        other => panic!("{other:?}"),
    };
    assert_eq!(e2.len(), 1);
    assert_eq!(e2, e3);
}

#[test]
fn plain_set_records_set_with_its_arguments() {
    if !eddy_only("plain_set_records_set_with_its_arguments") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let id: i64 = q(&mut c, &["CLIENT", "ID"]);
    let from = next_offset(&mut c);
    let before = now_ms();
    q::<()>(&mut c, &["SET", "k", "v"]);
    q::<()>(&mut c, &["SET", "k", "w"]);
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 2, "{evs:?}");
    let e = &evs[0];
    assert_eq!(e.offset, from);
    assert_eq!(e.args_str(), ["SET", "k", "v"]);
    assert_eq!(e.event, "set");
    assert_eq!(e.change, "insert");
    assert_eq!(e.typ, "string");
    assert_eq!(e.origin, "client");
    assert_eq!(e.client, id);
    assert_eq!(e.db, 0);
    assert_eq!(e.key_str(), "k");
    assert_eq!(e.tx, 0);
    assert_near(e.ts, before, 5_000, "ts");
    assert_eq!(evs[1].args_str(), ["SET", "k", "w"]);
    assert_eq!(evs[1].change, "modify");
}

#[test]
fn offsets_strictly_increase() {
    if !eddy_only("offsets_strictly_increase") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let from = next_offset(&mut c);
    for i in 0..50 {
        q::<()>(&mut c, &["SET", &format!("k{}", i % 7), &i.to_string()]);
        q::<i64>(&mut c, &["INCR", "counter"]);
    }
    let evs = read_all_from(&mut c, from);
    assert_eq!(evs.len(), 100);
    for w in evs.windows(2) {
        assert!(
            w[1].offset > w[0].offset,
            "{} then {}",
            w[0].offset,
            w[1].offset
        );
    }
}

#[test]
fn read_start_positions_and_count() {
    if !eddy_only("read_start_positions_and_count") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let from = next_offset(&mut c);
    for i in 0..10 {
        q::<()>(&mut c, &["SET", "k", &i.to_string()]);
    }
    let first3 = read(&mut c, &from.to_string(), Some(3));
    assert_eq!(first3.len(), 3);
    assert_eq!(first3[0].offset, from);
    let mid = read(&mut c, &(from + 4).to_string(), None);
    assert_eq!(mid.len(), 6);
    assert!(mid.iter().all(|e| e.offset >= from + 4));
    assert!(
        read(&mut c, "latest", None).is_empty(),
        "latest starts after the tail"
    );
    let earliest = read(&mut c, "earliest", Some(1));
    assert_eq!(earliest.len(), 1);
    assert!(earliest[0].offset <= from);
}

#[test]
fn set_with_ex_records_pxat() {
    if !eddy_only("set_with_ex_records_pxat") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let from = next_offset(&mut c);
    let now = now_ms();
    q::<()>(&mut c, &["SET", "k", "v", "EX", "10"]);
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 1);
    let a = evs[0].args_str();
    assert_eq!(a.len(), 5, "{a:?}");
    assert_eq!(&a[..4], ["SET", "k", "v", "PXAT"]);
    let at: i64 = a[4].parse().expect("absolute ms");
    assert_near(at, now + 10_000, 2_000, "PXAT");
    // It is exactly the expiry the key got.
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "k"]), at);
}

#[test]
fn set_with_px_and_setex_record_pxat() {
    if !eddy_only("set_with_px_and_setex_record_pxat") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let from = next_offset(&mut c);
    let now = now_ms();
    q::<()>(&mut c, &["SET", "a", "v", "PX", "5000"]);
    q::<()>(&mut c, &["SETEX", "b", "20", "w"]);
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 2);
    let a = evs[0].args_str();
    assert_eq!(&a[..4], ["SET", "a", "v", "PXAT"]);
    assert_near(a[4].parse().expect("ms"), now + 5_000, 2_000, "PXAT");
    let b = evs[1].args_str();
    assert_eq!(&b[..4], ["SET", "b", "w", "PXAT"]);
    assert_near(b[4].parse().expect("ms"), now + 20_000, 2_000, "PXAT");
}

#[test]
fn incrbyfloat_records_the_resulting_set() {
    if !eddy_only("incrbyfloat_records_the_resulting_set") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "f", "10.5"]);
    let from = next_offset(&mut c);
    assert_eq!(
        qv(&mut c, &["INCRBYFLOAT", "f", "0.1"]),
        Value::BulkString(b"10.6".to_vec())
    );
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].event, "incrbyfloat");
    assert_eq!(evs[0].change, "modify");
    assert_eq!(&evs[0].args_str()[..3], ["SET", "f", "10.6"]);
}

#[test]
fn incr_records_set_of_the_new_value() {
    if !eddy_only("incr_records_set_of_the_new_value") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "n", "5"]);
    let from = next_offset(&mut c);
    assert_eq!(q::<i64>(&mut c, &["INCR", "n"]), 6);
    assert_eq!(q::<i64>(&mut c, &["DECRBY", "n", "10"]), -4);
    assert_eq!(q::<i64>(&mut c, &["INCR", "fresh"]), 1);
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 3, "{evs:?}");
    assert_eq!(evs[0].event, "incrby");
    assert_eq!(&evs[0].args_str()[..3], ["SET", "n", "6"]);
    assert_eq!(evs[1].event, "incrby");
    assert_eq!(&evs[1].args_str()[..3], ["SET", "n", "-4"]);
    assert_eq!(&evs[2].args_str()[..3], ["SET", "fresh", "1"]);
    assert_eq!(evs[2].change, "insert");
}

#[test]
fn writes_that_change_nothing_record_nothing() {
    if !eddy_only("writes_that_change_nothing_record_nothing") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "exists", "v"]);
    let from = next_offset(&mut c);
    assert_eq!(q::<i64>(&mut c, &["DEL", "missing"]), 0);
    assert_eq!(q::<i64>(&mut c, &["UNLINK", "missing1", "missing2"]), 0);
    assert_eq!(qv(&mut c, &["SET", "exists", "x", "NX"]), Value::Nil);
    assert_eq!(qv(&mut c, &["SET", "missing", "x", "XX"]), Value::Nil);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "missing", "10"]), 0);
    assert_eq!(q::<i64>(&mut c, &["PERSIST", "exists"]), 0);
    assert_eq!(q::<i64>(&mut c, &["SETNX", "exists", "y"]), 0);
    assert_eq!(
        q::<i64>(&mut c, &["MSETNX", "exists", "1", "other", "2"]),
        0
    );
    let _: Value = qv(&mut c, &["GET", "exists"]);
    let evs = read(&mut c, &from.to_string(), None);
    assert!(evs.is_empty(), "no-op writes recorded: {evs:?}");
    assert_eq!(next_offset(&mut c), from);
}

#[test]
fn del_of_two_keys_records_two_events_in_one_tx() {
    if !eddy_only("del_of_two_keys_records_two_events_in_one_tx") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["MSET", "a", "1", "b", "2"]);
    let from = next_offset(&mut c);
    assert_eq!(q::<i64>(&mut c, &["DEL", "a", "b", "missing"]), 2);
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 2, "{evs:?}");
    let mut keys: Vec<String> = evs.iter().map(Event::key_str).collect();
    keys.sort();
    assert_eq!(keys, ["a", "b"]);
    for e in &evs {
        assert_eq!(e.event, "del");
        assert_eq!(e.change, "remove");
        assert_eq!(e.typ, "none");
        assert_eq!(e.args_str(), ["DEL".to_string(), e.key_str()]);
        assert_eq!(e.tx_n, 2, "tx-n is the number of events in the transaction");
    }
    assert_ne!(evs[0].tx, 0, "a multi-key write forms a transaction");
    assert_eq!(evs[0].tx, evs[1].tx, "both events share a tx id");
}

#[test]
fn mset_records_one_set_per_key_in_one_tx() {
    if !eddy_only("mset_records_one_set_per_key_in_one_tx") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let from = next_offset(&mut c);
    q::<()>(&mut c, &["MSET", "a", "1", "b", "2", "c", "3"]);
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 3, "{evs:?}");
    let args: Vec<Vec<String>> = evs.iter().map(Event::args_str).collect();
    assert_eq!(
        args,
        [["SET", "a", "1"], ["SET", "b", "2"], ["SET", "c", "3"]]
    );
    assert!(evs
        .iter()
        .all(|e| e.tx != 0 && e.tx == evs[0].tx && e.tx_n == 3));
}

#[test]
fn lazily_expired_key_records_an_expired_event() {
    if !eddy_only("lazily_expired_key_records_an_expired_event") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(
        qv(&mut c, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        Value::Okay
    );
    q::<()>(&mut c, &["SET", "k", "v", "PX", "50"]);
    let from = next_offset(&mut c);
    assert!(
        poll_until(Duration::from_secs(3), || qv(&mut c, &["GET", "k"])
            == Value::Nil),
        "key not expired"
    );
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 1, "{evs:?}");
    let e = &evs[0];
    assert_eq!(e.event, "expired");
    assert_eq!(e.origin, "expiry");
    assert_eq!(e.change, "remove");
    assert_eq!(e.typ, "none");
    assert_eq!(e.key_str(), "k");
    assert_eq!(e.args_str(), ["DEL", "k"]);
}

#[test]
fn actively_expired_key_records_an_expired_event() {
    if !eddy_only("actively_expired_key_records_an_expired_event") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v", "PX", "100"]);
    let from = next_offset(&mut c);
    assert!(
        poll_until(Duration::from_secs(3), || q::<i64>(&mut c, &["DBSIZE"])
            == 0),
        "key not actively expired"
    );
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].event, "expired");
    assert_eq!(evs[0].origin, "expiry");
    assert_eq!(evs[0].args_str(), ["DEL", "k"]);
}

#[test]
fn flushall_records_exactly_one_event() {
    if !eddy_only("flushall_records_exactly_one_event") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["MSET", "a", "1", "b", "2"]);
    q::<()>(&mut c, &["SELECT", "4"]);
    q::<()>(&mut c, &["SET", "c", "3"]);
    let from = next_offset(&mut c);
    assert_eq!(qv(&mut c, &["FLUSHALL"]), Value::Okay);
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].event, "flushall");
    assert_eq!(evs[0].args_str()[0].to_ascii_uppercase(), "FLUSHALL");
}

#[test]
fn flushdb_records_one_event_for_its_db() {
    if !eddy_only("flushdb_records_one_event_for_its_db") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SELECT", "2"]);
    q::<()>(&mut c, &["MSET", "a", "1", "b", "2"]);
    let from = next_offset(&mut c);
    q::<()>(&mut c, &["FLUSHDB"]);
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].event, "flushdb");
    assert_eq!(evs[0].db, 2);
}

#[test]
fn expire_records_pexpireat() {
    if !eddy_only("expire_records_pexpireat") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v"]);
    let from = next_offset(&mut c);
    let now = now_ms();
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "k", "100"]), 1);
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0].event, "expire");
    assert_eq!(evs[0].change, "modify");
    let a = evs[0].args_str();
    assert_eq!(a.len(), 3, "{a:?}");
    assert_eq!(&a[..2], ["PEXPIREAT", "k"]);
    let at: i64 = a[2].parse().expect("ms");
    assert_near(at, now + 100_000, 2_000, "PEXPIREAT");
    assert_eq!(q::<i64>(&mut c, &["PEXPIRETIME", "k"]), at);
}

#[test]
fn persist_rename_and_append_record_their_verbs() {
    if !eddy_only("persist_rename_and_append_record_their_verbs") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v", "EX", "100"]);
    let from = next_offset(&mut c);
    q::<i64>(&mut c, &["PERSIST", "k"]);
    q::<i64>(&mut c, &["APPEND", "k", "x"]);
    q::<()>(&mut c, &["RENAME", "k", "k2"]);
    let evs = read(&mut c, &from.to_string(), None);
    let verbs: Vec<&str> = evs.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        verbs,
        ["persist", "append", "rename_from", "rename_to"],
        "{evs:?}"
    );
    assert_eq!(evs[0].args_str(), ["PERSIST", "k"]);
    assert_eq!(evs[2].key_str(), "k");
    assert_eq!(evs[2].change, "remove");
    assert_eq!(evs[3].key_str(), "k2");
    assert_eq!(evs[3].change, "insert");
}

#[test]
fn events_carry_the_selected_db() {
    if !eddy_only("events_carry_the_selected_db") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let from = next_offset(&mut c);
    q::<()>(&mut c, &["SELECT", "7"]);
    q::<()>(&mut c, &["SET", "k", "v"]);
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].db, 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn per_key_order_matches_apply_order_under_concurrent_writers() {
    if !eddy_only("per_key_order_matches_apply_order_under_concurrent_writers") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let from = next_offset(&mut c);
    let keys = ["hot:0", "hot:1", "hot:2"];
    let mut tasks = Vec::new();
    for w in 0..6 {
        let mut con = srv.async_conn().await;
        tasks.push(tokio::spawn(async move {
            for i in 0..200 {
                let key = keys[i % keys.len()];
                let _: () = redis::cmd("SET")
                    .arg(key)
                    .arg(format!("w{w}-{i}"))
                    .query_async(&mut con)
                    .await
                    .expect("set");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    let evs = tokio::task::block_in_place(|| read_all_from(&mut c, from));
    assert_eq!(evs.len(), 6 * 200);
    for key in keys {
        let last = evs
            .iter()
            .rfind(|e| e.key_str() == key)
            .unwrap_or_else(|| panic!("no events for {key}"));
        let value = tokio::task::block_in_place(|| qv(&mut c, &["GET", key]));
        assert_eq!(
            vstr(&value).expect("value"),
            last.args_str()[2],
            "final value of {key} is the last recorded SET"
        );
    }
}

#[test]
fn copy_move_swapdb_and_restore_record_their_verbs() {
    if !eddy_only("copy_move_swapdb_and_restore_record_their_verbs") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "a", "v"]);
    let payload: Vec<u8> = redis::cmd("DUMP").arg("a").query(&mut c).expect("dump");
    let from = next_offset(&mut c);
    assert_eq!(q::<i64>(&mut c, &["COPY", "a", "b"]), 1);
    assert_eq!(q::<i64>(&mut c, &["MOVE", "b", "5"]), 1);
    q::<()>(&mut c, &["SWAPDB", "0", "5"]);
    let r: Value = redis::cmd("RESTORE")
        .arg("r")
        .arg(0)
        .arg(&payload[..])
        .query(&mut c)
        .expect("restore");
    assert_eq!(r, Value::Okay);
    let evs = read(&mut c, &from.to_string(), None);
    let verbs: Vec<(&str, String, i64)> = evs
        .iter()
        .map(|e| (e.event.as_str(), e.key_str(), e.db))
        .collect();
    assert_eq!(
        verbs,
        [
            ("copy_to", "b".to_string(), 0),
            ("move_from", "b".to_string(), 0),
            ("move_to", "b".to_string(), 5),
            ("swapdb", String::new(), 0),
            ("restore", "r".to_string(), 0),
        ],
        "{evs:?}"
    );
}

#[test]
fn getdel_and_getex_record_their_effects() {
    if !eddy_only("getdel_and_getex_record_their_effects") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["MSET", "a", "1", "b", "2"]);
    let from = next_offset(&mut c);
    let now = now_ms();
    q::<Value>(&mut c, &["GETDEL", "a"]);
    q::<Value>(&mut c, &["GETEX", "b", "EX", "50"]);
    q::<Value>(&mut c, &["GETEX", "b"]);
    q::<Value>(&mut c, &["GETEX", "b", "PERSIST"]);
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(
        evs.len(),
        3,
        "GETEX without options records nothing: {evs:?}"
    );
    assert_eq!(evs[0].event, "del");
    assert_eq!(evs[0].args_str(), ["DEL", "a"]);
    assert_eq!(evs[1].event, "expire");
    let a = evs[1].args_str();
    assert_eq!(&a[..2], ["PEXPIREAT", "b"]);
    assert_near(a[2].parse().expect("ms"), now + 50_000, 2_000, "PEXPIREAT");
    assert_eq!(evs[2].event, "persist");
    assert_eq!(evs[2].args_str(), ["PERSIST", "b"]);
}

#[test]
fn expire_in_the_past_records_a_del() {
    if !eddy_only("expire_in_the_past_records_a_del") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["MSET", "a", "1", "b", "2"]);
    let from = next_offset(&mut c);
    assert_eq!(q::<i64>(&mut c, &["EXPIRE", "a", "0"]), 1);
    assert_eq!(q::<i64>(&mut c, &["PEXPIREAT", "b", "1"]), 1);
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 2, "{evs:?}");
    for (e, k) in evs.iter().zip(["a", "b"]) {
        assert_eq!(e.event, "del");
        assert_eq!(e.change, "remove");
        assert_eq!(e.args_str(), ["DEL", k]);
    }
}

#[test]
fn binary_keys_and_values_are_recorded_exactly() {
    if !eddy_only("binary_keys_and_values_are_recorded_exactly") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let key: Vec<u8> = (0..=255u8).collect();
    let val: Vec<u8> = (0..=255u8).rev().collect();
    let from = next_offset(&mut c);
    redis::cmd("SET")
        .arg(&key[..])
        .arg(&val[..])
        .query::<()>(&mut c)
        .expect("set");
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].key, key);
    assert_eq!(evs[0].args, [b"SET".to_vec(), key.clone(), val.clone()]);
}

#[test]
fn setrange_and_append_record_replayable_args() {
    if !eddy_only("setrange_and_append_record_replayable_args") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "Hello World"]);
    let from = next_offset(&mut c);
    q::<i64>(&mut c, &["SETRANGE", "k", "6", "Redis"]);
    q::<i64>(&mut c, &["APPEND", "k", "!"]);
    let evs = read(&mut c, &from.to_string(), None);
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert_eq!(evs[0].event, "setrange");
    assert_eq!(evs[1].event, "append");
    // Replaying the recorded args on a copy of the old value gives the new value.
    let mut r = srv.conn();
    q::<()>(&mut r, &["SELECT", "9"]);
    q::<()>(&mut r, &["SET", "k", "Hello World"]);
    for e in &evs {
        let mut cmd = redis::cmd(&e.args_str()[0]);
        for a in &e.args[1..] {
            cmd.arg(&a[..]);
        }
        cmd.query::<Value>(&mut r).expect("replay");
    }
    assert_eq!(qv(&mut r, &["GET", "k"]), qv(&mut c, &["GET", "k"]));
}

/// With a disk log and no reader on the in-memory tail, the log gives its memory back once
/// writes stop; a reader that comes later reads the same records from disk.
#[test]
fn an_idle_log_holds_no_memory_and_reads_from_disk() {
    if !eddy_only("an_idle_log_holds_no_memory_and_reads_from_disk") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    for i in 0..20 {
        let _: () = q(&mut c, &["SET", &format!("k{i}"), "v"]);
    }
    let mem = |c: &mut redis::Connection| common::info_int(c, "changes", "changes_memory_bytes");
    assert!(
        poll_until(Duration::from_secs(10), || mem(&mut c) == 0),
        "the in-memory tail was not released: {} bytes",
        mem(&mut c)
    );
    let evs = read(&mut c, "earliest", None);
    let keys: Vec<String> = evs.iter().map(|e| e.key_str()).collect();
    let want: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
    assert_eq!(keys, want);
    // Writing again starts a new in-memory segment, and the feed continues without a gap.
    let _: () = q(&mut c, &["SET", "after", "v"]);
    let more = read(&mut c, &(evs.last().unwrap().offset + 1).to_string(), None);
    assert_eq!(more.len(), 1);
    assert_eq!(more[0].key_str(), "after");
}

#[test]
fn bad_read_arguments_are_errors() {
    if !eddy_only("bad_read_arguments_are_errors") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    assert!(common::qerr(&mut c, &["CHANGES", "READ", "nonsense"]).starts_with("ERR "));
    assert_eq!(
        common::qerr(&mut c, &["CHANGES", "READ", "0", "FOO"]),
        "ERR syntax error"
    );
    assert_eq!(
        common::qerr(&mut c, &["CHANGES", "READ"]),
        "ERR wrong number of arguments for 'changes|read' command"
    );
}

/// The nice value of thread `tid` of process `pid` (Linux: /proc/<pid>/task/<tid>/stat).
fn thread_nice(pid: u32, tid: u32) -> Option<i64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat")).ok()?;
    // Fields after the parenthesised command name; nice is field 19 of the whole line.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(16)?.parse().ok()
}

/// The ids of the server's threads named `name`.
fn thread_ids(pid: u32, name: &str) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            out.extend(t.file_name().to_str().and_then(|s| s.parse::<u32>().ok()));
        }
    }
    out
}

/// The nice values of the server's threads named `name`.
fn thread_nices(pid: u32, name: &str) -> Vec<i64> {
    thread_ids(pid, name)
        .into_iter()
        .filter_map(|tid| thread_nice(pid, tid))
        .collect()
}

/// How many times the server's thread named `name` went to sleep (its voluntary context
/// switches, Linux: /proc/<pid>/task/<tid>/status).
fn thread_sleeps(pid: u32, name: &str) -> u64 {
    let tids = thread_ids(pid, name);
    assert_eq!(tids.len(), 1, "one thread named {name}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/task/{}/status", tids[0]))
        .expect("the thread's status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("voluntary_ctxt_switches")
}

/// The log writer ticks every couple of milliseconds only while records keep coming; idle, it
/// sleeps until a commit wakes it (it used to wake about 480 times a second for empty passes).
/// A write after the quiet spell still reaches the segment file and a tailing subscriber.
#[test]
fn an_idle_log_writer_sleeps_until_a_commit_wakes_it() {
    if !eddy_only("an_idle_log_writer_sleeps_until_a_commit_wakes_it") {
        return;
    }
    let s = Server::start();
    let mut c = s.conn();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
    // Its `everysec` fsync done (waiting for the disk also counts as the thread sleeping).
    assert!(poll_until(Duration::from_secs(10), || {
        let durable = common::info_int(&mut c, "changes", "changes_durable_offset");
        durable == common::info_int(&mut c, "changes", "changes_last_offset")
    }));
    // A few empty ticks (milliseconds) pass before the writer sleeps; then, over a second, it
    // wakes for its housekeeping only.
    std::thread::sleep(Duration::from_millis(200));
    let before = thread_sleeps(s.pid(), "eddy-log-writer");
    std::thread::sleep(Duration::from_secs(1));
    let woke = thread_sleeps(s.pid(), "eddy-log-writer") - before;
    assert!(woke <= 10, "the idle writer woke {woke} times in a second");

    let _: () = redis::cmd("SET").arg("k").arg("w").query(&mut c).unwrap();
    common::wait_written(&mut c);
    let mut sub = s.raw();
    sub.send_cmd(&["HELLO", "3"]);
    sub.send_cmd(&["CHANGES", "SUBSCRIBE", "latest"]);
    sub.read_frame();
    sub.read_frame();
    std::thread::sleep(Duration::from_millis(200));
    let _: () = redis::cmd("SET").arg("k2").arg("x").query(&mut c).unwrap();
    let (_, event) = sub.read_frame();
    let event = String::from_utf8_lossy(&event).into_owned();
    assert!(event.contains("$3\r\nkey\r\n$2\r\nk2\r\n"), "{event}");
}

/// Subscriptions (like triggers and the NATS publisher) read and encode on the push readers'
/// threads, niced by `changes-reader-nice` relative to the client threads (server::background).
#[test]
fn push_readers_run_at_the_configured_lower_priority() {
    if !eddy_only("push_readers_run_at_the_configured_lower_priority") {
        return;
    }
    for (nice, args) in [
        (10, &[][..]),
        (3, &["--changes-reader-nice", "3"][..]),
        (0, &["--changes-reader-nice", "0"][..]),
    ] {
        let s = Server::start_with(args);
        // The main thread (tid = pid); other unnamed threads share its name.
        let base = thread_nice(s.pid(), s.pid()).expect("the main thread's nice value");
        let want = (base + nice).min(19);
        // No reader yet: the runtime starts with the first push reader.
        assert!(thread_nices(s.pid(), "eddy-reader").is_empty());
        let mut sub = s.raw();
        sub.send_cmd(&["HELLO", "3"]);
        sub.send_cmd(&["CHANGES", "SUBSCRIBE", "latest"]);
        let mut c = s.conn();
        let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut c).unwrap();
        // A reader thread has its name from the start and lowers its priority as its first
        // step (`on_thread_start`): wait for that step rather than race it.
        poll_until(Duration::from_secs(10), || {
            let r = thread_nices(s.pid(), "eddy-reader");
            !r.is_empty() && r.iter().all(|&n| n == want)
        });
        let readers = thread_nices(s.pid(), "eddy-reader");
        assert!(!readers.is_empty(), "no eddy-reader thread");
        assert!(
            readers.iter().all(|&n| n == want),
            "nice {readers:?}, want {want}"
        );
        // HELLO's and SUBSCRIBE's replies, then the event, delivered from those threads.
        let (_, hello) = sub.read_frame();
        let (_, subscribed) = sub.read_frame();
        let (_, event) = sub.read_frame();
        assert!(
            hello.starts_with(b"%"),
            "{}",
            String::from_utf8_lossy(&hello)
        );
        assert!(
            subscribed.starts_with(b"*3\r\n$9\r\nsubscribe"),
            "{}",
            String::from_utf8_lossy(&subscribed)
        );
        let event = String::from_utf8_lossy(&event).into_owned();
        assert!(event.starts_with(">2\r\n$7\r\nchanges\r\n"), "{event}");
        assert!(event.contains("$3\r\nkey\r\n$1\r\nk\r\n"), "{event}");
    }
}
