//! Triggers against the real binary and a real HTTP function: a small HTTP/1.1 server on a
//! `std::net::TcpListener` inside the test process that answers as each test tells it (success,
//! errors, partial batch failures, hanging past the timeout) and hands every request it got to
//! the test over a channel, so tests await deliveries instead of sleeping.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

/// One request the function received, and the status it answered.
#[derive(Debug, Clone)]
struct Req {
    headers: HashMap<String, String>,
    body: Vec<u8>,
    status: u16,
    at: Instant,
}

impl Req {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// The CloudEvents of a batch.
    fn events(&self) -> Vec<Value> {
        match self.json() {
            Value::Array(a) => a,
            other => panic!("not a CloudEvents batch: {other}"),
        }
    }

    fn offsets(&self) -> Vec<u64> {
        self.events()
            .iter()
            .map(|e| e["data"]["offset"].as_u64().expect("offset"))
            .collect()
    }

    fn subjects(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|e| e["subject"].as_str().expect("subject").to_string())
            .collect()
    }

    fn header(&self, h: &str) -> Option<&str> {
        self.headers
            .get(&h.to_ascii_lowercase())
            .map(String::as_str)
    }
}

/// What the function does with a request.
enum Reply {
    Status(u16, String),
    /// Answer nothing for this long, then drop the connection (a timeout for the trigger).
    Hang(Duration),
}

type Behaviour = Box<dyn FnMut(&Req) -> Reply + Send>;

/// The function: a real listener on 127.0.0.1.
struct Hook {
    port: u16,
    rx: mpsc::Receiver<Req>,
    behaviour: Arc<Mutex<Behaviour>>,
}

impl Hook {
    fn start() -> Hook {
        Hook::start_on(TcpListener::bind("127.0.0.1:0").expect("bind hook"))
    }

    fn start_on(l: TcpListener) -> Hook {
        let port = l.local_addr().expect("addr").port();
        let (tx, rx) = mpsc::channel();
        let behaviour: Arc<Mutex<Behaviour>> =
            Arc::new(Mutex::new(Box::new(|_| Reply::Status(200, String::new()))));
        let b = behaviour.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { continue };
                let (tx, b) = (tx.clone(), b.clone());
                std::thread::spawn(move || serve(s, tx, b));
            }
        });
        Hook {
            port,
            rx,
            behaviour,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/fn", self.port)
    }

    fn behave(&self, f: impl FnMut(&Req) -> Reply + Send + 'static) {
        *self.behaviour.lock().expect("behaviour") = Box::new(f);
    }

    /// The next request, or a panic after [`WAIT`].
    fn next(&self) -> Req {
        self.rx
            .recv_timeout(WAIT)
            .expect("the function got no request in time")
    }

    /// Requests until the acknowledged (2xx) records cover `want` distinct offsets.
    fn until_acked(&self, want: usize) -> Vec<Req> {
        let mut seen = HashSet::new();
        let mut all = Vec::new();
        while seen.len() < want {
            let r = self.next();
            if r.status == 200 {
                seen.extend(r.offsets());
            }
            all.push(r);
        }
        all
    }

    /// No request within `d` (used only after the expected ones have all arrived).
    fn quiet_for(&self, d: Duration) -> bool {
        self.rx.recv_timeout(d).is_err()
    }
}

fn serve(s: TcpStream, tx: mpsc::Sender<Req>, b: Arc<Mutex<Behaviour>>) {
    let mut w = match s.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let mut req = Req {
            headers,
            body,
            status: 0,
            at: Instant::now(),
        };
        let reply = (b.lock().expect("behaviour"))(&req);
        match reply {
            Reply::Status(code, text) => {
                req.status = code;
                let _ = tx.send(req);
                let resp = format!(
                    "HTTP/1.1 {code} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                );
                if w.write_all(resp.as_bytes()).is_err() {
                    return;
                }
            }
            Reply::Hang(d) => {
                let _ = tx.send(req);
                std::thread::sleep(d);
                return;
            }
        }
    }
}

fn ok() -> Reply {
    Reply::Status(200, String::new())
}

fn create(con: &mut redis::Connection, name: &str, url: &str, opts: &str) {
    let mut args = vec!["TRIGGER", "CREATE", name, url];
    args.extend(opts.split_whitespace());
    let r: String = q(con, &args);
    assert_eq!(r, "OK");
}

fn info_field(con: &mut redis::Connection, name: &str, field: &str) -> i64 {
    let v = qv(con, &["TRIGGER", "INFO", name]);
    match vget(&v, field) {
        Some(redis::Value::Int(n)) => n,
        other => panic!("TRIGGER INFO {name} {field}: {other:?}"),
    }
}

/// Dead-letter entries as field maps.
fn dead_letters(con: &mut redis::Connection, key: &str) -> Vec<BTreeMap<String, String>> {
    let v = qv(con, &["XRANGE", key, "-", "+"]);
    let redis::Value::Array(entries) = v else {
        panic!("XRANGE: {v:?}")
    };
    entries
        .iter()
        .map(|e| {
            let redis::Value::Array(parts) = e else {
                panic!("entry {e:?}")
            };
            vpairs(&parts[1])
                .into_iter()
                .map(|(k, v)| (k, vstr(&v).unwrap_or_default()))
                .collect()
        })
        .collect()
}

fn xlen(con: &mut redis::Connection, key: &str) -> i64 {
    q(con, &["XLEN", key])
}

/// The function, a server started with `args` and a connection; None (skipped) in reference
/// mode, since triggers are Eddy's own.
fn setup(test: &str, args: &[&str]) -> Option<(Hook, Server, redis::Connection)> {
    if !eddy_only(test) {
        return None;
    }
    let hook = Hook::start();
    let srv = Server::start_with(args);
    let c = srv.conn();
    Some((hook, srv, c))
}

#[test]
fn delivers_matching_changes_as_cloudevents_batches() {
    let Some((hook, _srv, mut c)) = setup(
        "delivers_matching_changes_as_cloudevents_batches",
        &["--changes-images", "yes"],
    ) else {
        return;
    };
    create(
        &mut c,
        "users",
        &hook.url(),
        "MATCH user:* IMAGES new WINDOW 300",
    );
    let _: () = q(&mut c, &["SET", "other", "x"]);
    let _: () = q(&mut c, &["SET", "user:1", "alice"]);
    let _: i64 = q(&mut c, &["HSET", "user:2", "name", "bob"]);
    let reqs = hook.until_acked(2);
    let evs: Vec<Value> = reqs.iter().flat_map(Req::events).collect();
    assert_eq!(evs.len(), 2, "{evs:?}");
    let first = &reqs[0];
    assert_eq!(
        first.header("content-type"),
        Some("application/cloudevents-batch+json")
    );
    assert_eq!(first.header("x-eddy-trigger"), Some("users"));
    assert_eq!(first.header("x-eddy-attempt"), Some("1"));
    let epoch: String = {
        let v = qv(&mut c, &["CHANGES", "INFO"]);
        vstr(&vget(&v, "epoch").expect("epoch")).expect("epoch string")
    };
    let e = &evs[0];
    assert_eq!(e["specversion"], "1.0");
    assert_eq!(e["type"], "io.eddy.change.set");
    assert_eq!(e["subject"], "user:1");
    assert_eq!(e["datacontenttype"], "application/json");
    assert!(e["source"].as_str().expect("source").starts_with("eddy://"));
    assert!(e["source"].as_str().expect("source").ends_with("/db/0"));
    let off = e["data"]["offset"].as_u64().expect("offset");
    assert_eq!(e["id"], format!("{epoch}:{off}"));
    assert_eq!(e["data"]["key"], "user:1");
    assert_eq!(e["data"]["event"], "set");
    assert_eq!(e["data"]["change"], "insert");
    assert_eq!(e["data"]["new"], "alice");
    assert!(e["time"].as_str().expect("time").ends_with('Z'));
    assert_eq!(evs[1]["type"], "io.eddy.change.hset");
    assert_eq!(evs[1]["data"]["new"], json!({ "name": "bob" }));
    assert!(poll_until(WAIT, || info_field(
        &mut c,
        "users",
        "delivered"
    ) == 2));
    // Observability: TRIGGER LIST and INFO triggers.
    let list = qv(&mut c, &["TRIGGER", "LIST"]);
    let redis::Value::Array(items) = list else {
        panic!("LIST: {list:?}")
    };
    assert_eq!(items.len(), 1);
    assert_eq!(
        vstr(&vget(&items[0], "state").expect("state")).as_deref(),
        Some("running")
    );
    let info: String = q(&mut c, &["INFO", "triggers"]);
    assert!(info.contains("triggers:1"), "{info}");
    assert!(
        info.contains("trigger_users:state=running,delivered=2,"),
        "{info}"
    );
    assert!(info.contains("lag_offsets=0"), "{info}");
}

#[test]
fn dynamodb_format_carries_images_and_event_names() {
    let Some((hook, _srv, mut c)) = setup(
        "dynamodb_format_carries_images_and_event_names",
        &["--changes-images", "yes"],
    ) else {
        return;
    };
    let _: () = q(&mut c, &["SET", "k", "v1"]);
    let _: () = q(&mut c, &["SET", "k", "v2"]);
    let _: i64 = q(&mut c, &["DEL", "k"]);
    let _: i64 = q(&mut c, &["HSET", "h", "f", "x"]);
    // A stream handler reports failures by SequenceNumber.
    let mut n = 0;
    hook.behave(move |_| {
        n += 1;
        if n == 1 {
            let body = json!({ "batchItemFailures": [{ "itemIdentifier": "4" }] });
            Reply::Status(200, body.to_string())
        } else {
            ok()
        }
    });
    create(
        &mut c,
        "ddb",
        &hook.url(),
        "FORMAT dynamodb IMAGES both START earliest BATCHSIZE 10 BACKOFF 10 20",
    );
    let r = hook.next();
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    let recs = v["Records"].as_array().expect("Records");
    let names: Vec<&str> = recs
        .iter()
        .map(|r| r["eventName"].as_str().expect("eventName"))
        .collect();
    assert_eq!(names, ["INSERT", "MODIFY", "REMOVE", "INSERT"]);
    let m = &recs[1];
    assert_eq!(m["eventSource"], "eddy:changes");
    assert_eq!(m["dynamodb"]["Keys"]["key"]["S"], "k");
    assert_eq!(m["dynamodb"]["OldImage"]["value"]["S"], "v1");
    assert_eq!(m["dynamodb"]["NewImage"]["value"]["S"], "v2");
    assert_eq!(m["dynamodb"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
    assert_eq!(m["dynamodb"]["SequenceNumber"], "2");
    assert!(m["eventID"].as_str().expect("id").ends_with(":2"));
    assert_eq!(recs[2]["dynamodb"]["OldImage"]["value"]["S"], "v2");
    assert!(recs[2]["dynamodb"].get("NewImage").is_none());
    // A hash image is an item of its fields.
    assert_eq!(
        recs[3]["dynamodb"]["NewImage"],
        json!({ "key": { "S": "h" }, "f": { "S": "x" } })
    );
    assert_eq!(recs[3]["eddy"]["event"], "hset");
    let again = hook.next().json();
    let seqs: Vec<&Value> = again["Records"]
        .as_array()
        .expect("Records")
        .iter()
        .map(|r| &r["dynamodb"]["SequenceNumber"])
        .collect();
    assert_eq!(seqs, [&json!("4")]);
}

#[test]
fn failed_sends_retry_with_backoff_then_dead_letter() {
    let Some((hook, _srv, mut c)) = setup("failed_sends_retry_with_backoff_then_dead_letter", &[])
    else {
        return;
    };
    hook.behave(|_| Reply::Status(500, "boom".into()));
    create(
        &mut c,
        "t",
        &hook.url(),
        "RETRIES 2 BACKOFF 80 1000 BISECT no DEADLETTER dlq",
    );
    let _: () = q(&mut c, &["SET", "a", "1"]);
    let reqs: Vec<Req> = (0..3).map(|_| hook.next()).collect();
    let attempts: Vec<&str> = reqs
        .iter()
        .map(|r| r.header("x-eddy-attempt").expect("attempt"))
        .collect();
    assert_eq!(attempts, ["1", "2", "3"]);
    let ids: HashSet<String> = reqs
        .iter()
        .map(|r| r.events()[0]["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), 1, "the id is stable across retries");
    // Exponential backoff with equal jitter: at least half of 80 ms, then of 160 ms.
    assert!(reqs[1].at - reqs[0].at >= Duration::from_millis(40));
    assert!(reqs[2].at - reqs[1].at >= Duration::from_millis(80));
    assert!(poll_until(WAIT, || xlen(&mut c, "dlq") == 1));
    let dl = &dead_letters(&mut c, "dlq")[0];
    assert_eq!(dl["trigger"], "t");
    assert_eq!(dl["attempts"], "3");
    assert!(dl["reason"].contains("500"), "{dl:?}");
    let ev: Value = serde_json::from_str(&dl["event"]).expect("event JSON");
    assert_eq!(ev["key"], "a");
    // Bounded: nothing more is sent for that record.
    assert!(hook.quiet_for(Duration::from_millis(400)));
    // The position passes the record once it is dead-lettered.
    assert!(poll_until(WAIT, || info_field(&mut c, "t", "lag-offsets") == 0));
    assert_eq!(info_field(&mut c, "t", "failed"), 3);
    assert_eq!(info_field(&mut c, "t", "retried"), 2);
    assert_eq!(info_field(&mut c, "t", "dead-lettered"), 1);
    // The dead letter is an ordinary recorded write, made by the trigger.
    let v = qv(&mut c, &["CHANGES", "READ", "earliest", "MATCH", "dlq"]);
    let redis::Value::Array(evs) = v else {
        panic!("{v:?}")
    };
    assert_eq!(
        vstr(&vget(&evs[0], "origin").expect("origin")).as_deref(),
        Some("trigger")
    );
}

#[test]
fn rejected_batches_dead_letter_at_once_and_redrive_delivers_them() {
    let Some((hook, _srv, mut c)) = setup(
        "rejected_batches_dead_letter_at_once_and_redrive_delivers_them",
        &[],
    ) else {
        return;
    };
    hook.behave(|_| Reply::Status(400, "bad".into()));
    create(&mut c, "t", &hook.url(), "BISECT no DEADLETTER dlq");
    let _: () = q(&mut c, &["SET", "a", "1"]);
    let first = hook.next();
    assert_eq!(first.status, 400);
    assert!(poll_until(WAIT, || xlen(&mut c, "dlq") == 1));
    assert!(
        hook.quiet_for(Duration::from_millis(300)),
        "4xx is not retried"
    );
    assert_eq!(dead_letters(&mut c, "dlq")[0]["attempts"], "1");
    hook.behave(|_| ok());
    // A redrive waits while the trigger is paused, and runs once at a time.
    let _: () = q(&mut c, &["TRIGGER", "PAUSE", "t"]);
    let n: i64 = q(&mut c, &["TRIGGER", "REDRIVE", "t"]);
    assert_eq!(n, 1);
    assert!(hook.quiet_for(Duration::from_millis(200)));
    assert!(qerr(&mut c, &["TRIGGER", "REDRIVE", "t"]).contains("already running"));
    let _: () = q(&mut c, &["TRIGGER", "RESUME", "t"]);
    let again = hook.next();
    assert_eq!(again.status, 200);
    assert_eq!(again.events()[0]["id"], first.events()[0]["id"]);
    assert!(poll_until(WAIT, || xlen(&mut c, "dlq") == 0));
    assert!(qerr(&mut c, &["TRIGGER", "REDRIVE", "nope"]).contains("no such trigger"));
}

#[test]
fn records_older_than_maxage_are_dead_lettered_instead_of_retried() {
    let Some((hook, _srv, mut c)) = setup(
        "records_older_than_maxage_are_dead_lettered_instead_of_retried",
        &[],
    ) else {
        return;
    };
    hook.behave(|_| Reply::Status(503, String::new()));
    // The first retry comes at least 100 ms after the send: the record is older than 50 ms.
    create(
        &mut c,
        "t",
        &hook.url(),
        "MAXAGE 50 RETRIES 10 BACKOFF 200 400 DEADLETTER dlq",
    );
    let _: () = q(&mut c, &["SET", "a", "1"]);
    assert_eq!(hook.next().status, 503);
    assert!(poll_until(WAIT, || xlen(&mut c, "dlq") == 1));
    assert!(dead_letters(&mut c, "dlq")[0]["reason"].contains("MAXAGE"));
    assert!(hook.quiet_for(Duration::from_millis(300)), "not sent again");
}

#[test]
fn bisect_isolates_a_poison_record() {
    let Some((hook, _srv, mut c)) = setup("bisect_isolates_a_poison_record", &[]) else {
        return;
    };
    hook.behave(|r| {
        if r.subjects().iter().any(|s| s == "poison") {
            Reply::Status(500, String::new())
        } else {
            ok()
        }
    });
    for k in ["a", "b", "c", "poison", "d", "e", "f", "g"] {
        let _: () = q(&mut c, &["SET", k, "v"]);
    }
    create(
        &mut c,
        "t",
        &hook.url(),
        "START earliest BATCHSIZE 8 RETRIES 1 BACKOFF 10 20 DEADLETTER dlq",
    );
    let mut delivered = Vec::new();
    while delivered.len() < 7 {
        let r = hook.next();
        if r.status == 200 {
            delivered.extend(r.subjects());
        }
    }
    delivered.sort();
    assert_eq!(delivered, ["a", "b", "c", "d", "e", "f", "g"]);
    assert!(poll_until(WAIT, || xlen(&mut c, "dlq") == 1));
    let dl = &dead_letters(&mut c, "dlq")[0];
    let ev: Value = serde_json::from_str(&dl["event"]).expect("event");
    assert_eq!(ev["key"], "poison");
    assert!(poll_until(WAIT, || info_field(&mut c, "t", "delivered") == 7));
}

#[test]
fn partial_batch_failure_retries_only_failed_records_and_later_ones_of_their_key() {
    let Some((hook, _srv, mut c)) = setup(
        "partial_batch_failure_retries_only_failed_records_and_later_ones_of_their_key",
        &[],
    ) else {
        return;
    };
    let mut n = 0;
    hook.behave(move |r| {
        n += 1;
        if n == 1 {
            // Fail the first record of key b, naming it by its CloudEvents id.
            let evs = r.events();
            let b = evs.iter().find(|e| e["subject"] == "b").expect("b");
            let body = json!({ "batchItemFailures": [{ "itemIdentifier": b["id"] }] });
            Reply::Status(200, body.to_string())
        } else {
            ok()
        }
    });
    for (k, v) in [("a", "1"), ("b", "1"), ("c", "1"), ("b", "2"), ("d", "1")] {
        let _: () = q(&mut c, &["SET", k, v]);
    }
    create(
        &mut c,
        "t",
        &hook.url(),
        "START earliest BATCHSIZE 10 BACKOFF 10 20 IMAGES new",
    );
    let first = hook.next();
    assert_eq!(first.subjects(), ["a", "b", "c", "b", "d"]);
    let second = hook.next();
    assert_eq!(second.subjects(), ["b", "b"]);
    let evs = second.events();
    let values: Vec<&Value> = evs.iter().map(|e| &e["data"]["new"]).collect();
    assert_eq!(values, [&json!("1"), &json!("2")]);
    assert_eq!(second.header("x-eddy-attempt"), Some("2"));
    assert!(poll_until(WAIT, || info_field(&mut c, "t", "delivered") == 5));
    assert_eq!(info_field(&mut c, "t", "retried"), 2);
}

#[test]
fn secret_signs_every_request() {
    use hmac::{Hmac, Mac};
    let Some((hook, _srv, mut c)) = setup("secret_signs_every_request", &[]) else {
        return;
    };
    create(&mut c, "t", &hook.url(), "SECRET s3cr3t");
    let _: () = q(&mut c, &["SET", "a", "1"]);
    let r = hook.next();
    let sig = r.header("x-eddy-signature").expect("signature header");
    let hex = sig.strip_prefix("sha256=").expect("sha256=");
    let want: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect();
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"s3cr3t").expect("key");
    mac.update(&r.body);
    assert!(mac.verify_slice(&want).is_ok(), "signature does not verify");
    // The secret is not shown back.
    let v = qv(&mut c, &["TRIGGER", "INFO", "t"]);
    assert!(!format!("{v:?}").contains("s3cr3t"));
}

#[test]
fn timeouts_are_retried() {
    let Some((hook, _srv, mut c)) = setup("timeouts_are_retried", &[]) else {
        return;
    };
    let mut n = 0;
    hook.behave(move |_| {
        n += 1;
        if n == 1 {
            Reply::Hang(Duration::from_millis(5000))
        } else {
            ok()
        }
    });
    // The timeout is far above a prompt answer's time even on a loaded machine (a 200 ms one
    // timed the second, prompt, answer out too), and far below the hang.
    create(&mut c, "t", &hook.url(), "TIMEOUT 1000 BACKOFF 10 20");
    let _: () = q(&mut c, &["SET", "a", "1"]);
    let first = hook.next();
    assert_eq!(first.header("x-eddy-attempt"), Some("1"));
    let second = hook.next();
    assert_eq!(second.status, 200);
    assert_eq!(second.header("x-eddy-attempt"), Some("2"));
    assert!(poll_until(WAIT, || info_field(&mut c, "t", "delivered") == 1));
    let v = qv(&mut c, &["TRIGGER", "INFO", "t"]);
    let err = vstr(&vget(&v, "last-error").expect("last-error")).unwrap_or_default();
    assert!(err.contains("timed out"), "{err}");
}

#[test]
fn parallel_partitions_keep_each_keys_changes_in_order() {
    let Some((hook, _srv, mut c)) =
        setup("parallel_partitions_keep_each_keys_changes_in_order", &[])
    else {
        return;
    };
    let mut n = 0;
    // Every third request fails: retries must not reorder a key's changes.
    hook.behave(move |_| {
        n += 1;
        if n % 3 == 0 {
            Reply::Status(503, String::new())
        } else {
            ok()
        }
    });
    create(
        &mut c,
        "t",
        &hook.url(),
        "PARALLELISM 4 BATCHSIZE 5 RETRIES 20 BACKOFF 1 5 BISECT no",
    );
    let keys = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7"];
    for _ in 0..25 {
        for k in keys {
            let _: i64 = q(&mut c, &["INCR", k]);
        }
    }
    let total = keys.len() * 25;
    let reqs = hook.until_acked(total);
    let mut per_key: HashMap<String, Vec<u64>> = HashMap::new();
    for r in reqs.iter().filter(|r| r.status == 200) {
        for e in r.events() {
            let v: u64 = e["data"]["args"][2]
                .as_str()
                .expect("value")
                .parse()
                .expect("number");
            per_key
                .entry(e["subject"].as_str().expect("subject").into())
                .or_default()
                .push(v);
        }
    }
    for k in keys {
        let got = &per_key[k];
        let want: Vec<u64> = (1..=25).collect();
        assert_eq!(got, &want, "key {k} out of order or incomplete");
    }
    let v = qv(&mut c, &["TRIGGER", "INFO", "t"]);
    let Some(redis::Value::Array(parts)) = vget(&v, "partitions") else {
        panic!("partitions: {v:?}")
    };
    assert_eq!(parts.len(), 4);
}

#[test]
fn pause_holds_deliveries_and_resume_continues() {
    let Some((hook, _srv, mut c)) = setup("pause_holds_deliveries_and_resume_continues", &[])
    else {
        return;
    };
    create(&mut c, "t", &hook.url(), "");
    let _: () = q(&mut c, &["TRIGGER", "PAUSE", "t"]);
    let _: () = q(&mut c, &["SET", "a", "1"]);
    assert!(poll_until(WAIT, || info_field(&mut c, "t", "lag-offsets") == 1));
    assert!(hook.quiet_for(Duration::from_millis(300)));
    let v = qv(&mut c, &["TRIGGER", "INFO", "t"]);
    assert_eq!(
        vstr(&vget(&v, "state").expect("state")).as_deref(),
        Some("paused")
    );
    let _: () = q(&mut c, &["TRIGGER", "RESUME", "t"]);
    assert_eq!(hook.next().subjects(), ["a"]);
    let dropped: i64 = q(&mut c, &["TRIGGER", "DROP", "t"]);
    assert_eq!(dropped, 1);
    let _: () = q(&mut c, &["SET", "b", "1"]);
    assert!(hook.quiet_for(Duration::from_millis(300)));
    let again: i64 = q(&mut c, &["TRIGGER", "DROP", "t"]);
    assert_eq!(again, 0);
}

/// SHUTDOWN and wait for the exit; returns the data directory.
fn shutdown(srv: Server) -> TempDir {
    let mut srv = srv;
    let mut raw = srv.raw();
    raw.send_cmd(&["SHUTDOWN"]);
    assert!(
        srv.wait_exit(WAIT).is_some_and(|s| s.success()),
        "SHUTDOWN did not exit cleanly"
    );
    srv.stop()
}

#[test]
fn restart_resumes_from_the_checkpoint() {
    let Some((hook, srv, mut c)) = setup("restart_resumes_from_the_checkpoint", &[]) else {
        return;
    };
    create(&mut c, "t", &hook.url(), "MATCH k* DEADLETTER dlq");
    let _: () = q(&mut c, &["SET", "k1", "1"]);
    assert_eq!(hook.next().subjects(), ["k1"]);
    assert!(poll_until(WAIT, || info_field(&mut c, "t", "lag-offsets") == 0));
    // Changes made while the function is down are delivered after the restart.
    hook.behave(|_| Reply::Status(503, String::new()));
    let _: () = q(&mut c, &["TRIGGER", "PAUSE", "t"]);
    let _: () = q(&mut c, &["SET", "k2", "2"]);
    let dir = shutdown(srv);
    hook.behave(|_| ok());
    let srv = Server::start_in(dir, &[]);
    let mut c = srv.conn();
    let v = qv(&mut c, &["TRIGGER", "INFO", "t"]);
    assert_eq!(
        vstr(&vget(&v, "state").expect("state")).as_deref(),
        Some("paused")
    );
    let _: () = q(&mut c, &["TRIGGER", "RESUME", "t"]);
    assert_eq!(hook.next().subjects(), ["k2"]);
    let _: () = q(&mut c, &["SET", "k3", "3"]);
    assert_eq!(hook.next().subjects(), ["k3"]);
    // Counters survive the restart.
    assert!(poll_until(WAIT, || info_field(&mut c, "t", "delivered") == 3));
}

#[test]
fn sigkill_mid_delivery_loses_nothing() {
    let args = ["--appendfsync", "always"];
    let Some((hook, srv, mut c)) = setup("sigkill_mid_delivery_loses_nothing", &args) else {
        return;
    };
    hook.behave(|_| {
        // A slow function, so the kill lands while batches are in flight.
        std::thread::sleep(Duration::from_millis(20));
        ok()
    });
    create(&mut c, "t", &hook.url(), "BATCHSIZE 5");
    let total = 300;
    let mut p = redis::pipe();
    for i in 0..total {
        p.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    let _: () = p.query(&mut c).expect("pipeline");
    let mut ids = HashSet::new();
    while ids.len() < 20 {
        for e in hook.next().events() {
            ids.insert(e["id"].as_str().expect("id").to_string());
        }
    }
    let dir = srv.stop();
    let srv = Server::start_in(dir, &args);
    let mut dup = 0;
    while ids.len() < total {
        let r = hook.next();
        for e in r.events() {
            if !ids.insert(e["id"].as_str().expect("id").to_string()) {
                dup += 1;
            }
        }
    }
    assert_eq!(ids.len(), total);
    let mut c = srv.conn();
    assert!(poll_until(WAIT, || info_field(&mut c, "t", "lag-offsets") == 0));
    eprintln!("redelivered after SIGKILL: {dup}");
}

#[test]
fn config_file_defines_triggers() {
    if !eddy_only("config_file_defines_triggers") {
        return;
    }
    let hook = Hook::start();
    let line = format!("cfg {} MATCH c:* BATCHSIZE 3", hook.url());
    let srv = Server::start_with(&["--trigger", &line]);
    let mut c = srv.conn();
    let v = qv(&mut c, &["TRIGGER", "INFO", "cfg"]);
    let def = format!("{:?}", vget(&v, "definition").expect("definition"));
    assert!(def.contains("c:*"), "{def}");
    let _: () = q(&mut c, &["SET", "c:1", "x"]);
    assert_eq!(hook.next().subjects(), ["c:1"]);
}

#[test]
fn trigger_commands_reject_bad_input() {
    if !eddy_only("trigger_commands_reject_bad_input") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let url = "http://127.0.0.1:9/fn";
    assert!(
        qerr(&mut c, &["TRIGGER", "CREATE", "t", "ftp://x/"]).contains("invalid trigger target")
    );
    assert!(qerr(&mut c, &["TRIGGER", "CREATE", "t", url, "BATCHSIZE", "0"]).contains("BATCHSIZE"));
    assert!(qerr(&mut c, &["TRIGGER", "CREATE", "t", url, "RETRIES", "x"]).contains("RETRIES"));
    assert!(qerr(&mut c, &["TRIGGER", "CREATE", "t", url, "BACKOFF", "5"]).contains("syntax"));
    assert!(qerr(&mut c, &["TRIGGER", "CREATE", "t", url, "NOPE", "1"]).contains("syntax"));
    assert!(qerr(&mut c, &["TRIGGER", "CREATE", "t", url, "START", "x"]).contains("start"));
    let _: () = q(&mut c, &["TRIGGER", "CREATE", "t", url]);
    assert!(qerr(&mut c, &["TRIGGER", "CREATE", "t", url]).contains("already exists"));
    assert!(qerr(&mut c, &["TRIGGER", "INFO", "nope"]).contains("no such trigger"));
    assert!(qerr(&mut c, &["TRIGGER", "PAUSE", "nope"]).contains("no such trigger"));
    assert!(qerr(&mut c, &["TRIGGER", "REDRIVE", "t"]).contains("DEADLETTER"));
    assert!(qerr(&mut c, &["TRIGGER", "INFO"]).contains("wrong number of arguments"));
    // The connection carries on.
    let pong: String = q(&mut c, &["PING"]);
    assert_eq!(pong, "PONG");
}

/// A `nats-server` on a free port, killed on drop.
struct Nats {
    child: std::process::Child,
    port: u16,
}

impl Nats {
    /// Starts `nats-server` on a free port and waits for its ready line (another process may
    /// take the port between the probe and the bind: then it tries another).
    fn start() -> Nats {
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            if let Some(child) = spawn_nats(&["-a", "127.0.0.1", "-p", &port.to_string()]) {
                return Nats { child, port };
            }
        }
        panic!("nats-server did not start");
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn next_msg(sub: &mut async_nats::Subscriber) -> async_nats::Message {
    use futures_util::StreamExt;
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("no NATS request in time")
        .expect("subscription ended")
}

#[test]
fn nats_target_delivers_by_request_reply() {
    if !eddy_only("nats_target_delivers_by_request_reply") || !require_tool("nats-server") {
        return;
    }
    let nats = Nats::start();
    let srv = Server::start();
    let mut c = srv.conn();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let nc = async_nats::connect(format!("127.0.0.1:{}", nats.port))
            .await
            .expect("connect to nats");
        let mut sub = nc.subscribe("fn.orders").await.expect("subscribe");
        nc.flush().await.expect("flush");
        let url = format!("nats://127.0.0.1:{}/fn.orders", nats.port);
        create(&mut c, "n", &url, "MATCH o:* BACKOFF 10 20 SECRET k");
        let _: () = q(&mut c, &["SET", "o:1", "x"]);
        let first = next_msg(&mut sub).await;
        let h = first.headers.clone().expect("headers");
        assert_eq!(h.get("X-Eddy-Trigger").map(|v| v.as_str()), Some("n"));
        assert_eq!(h.get("X-Eddy-Attempt").map(|v| v.as_str()), Some("1"));
        let sig = h.get("X-Eddy-Signature").expect("signature").to_string();
        assert!(sig.starts_with("sha256="), "{sig}");
        let evs: Value = serde_json::from_slice(&first.payload).expect("json");
        assert_eq!(evs[0]["subject"], "o:1");
        // A service error: retried.
        let mut err = async_nats::HeaderMap::new();
        err.insert("Nats-Service-Error-Code", "500");
        let reply = first.reply.clone().expect("reply subject");
        nc.publish_with_headers(reply, err, "".into())
            .await
            .expect("reply");
        let second = next_msg(&mut sub).await;
        let h = second.headers.clone().expect("headers");
        assert_eq!(h.get("X-Eddy-Attempt").map(|v| v.as_str()), Some("2"));
        assert_eq!(second.payload, first.payload);
        nc.publish(second.reply.clone().expect("reply"), "{}".into())
            .await
            .expect("reply");
        nc.flush().await.expect("flush");
    });
    assert!(poll_until(WAIT, || info_field(&mut c, "n", "delivered") == 1));
    assert_eq!(info_field(&mut c, "n", "failed"), 1);
}
