//! Randomised command fuzzing: every command the server lists in `COMMAND`, called with argument
//! lists that follow its `COMMAND DOCS` grammar or are drawn from pools of awkward values
//! (integer extremes, NaN and infinities, range markers, option keywords, keys of every type,
//! small Lua scripts, random bytes).
//! - From several connections at once, the server must answer each call with a well-formed reply
//!   (or keep blocking, for blocking commands), never log a panic, and still serve a fresh client
//!   at the end; the same for frames with mangled bytes.
//! - Side by side with `redis-server`, one connection each, every call gets the reply Redis gives
//!   (arrays compared as multisets), bar the commands in [`NOT_COMPARED`] and calls whose result
//!   depends on the clock to the millisecond. `EDDY_FUZZ_STATE` also compares the keys' data
//!   after every call, to find the call that made the two diverge; `EDDY_FUZZ_ONLY=x,sort`
//!   keeps the commands whose names start so.
//! - Through the MessagePack door (or the WebSocket door's JSON) of one server and RESP3 on
//!   another, seeded alike, every call gets the value docs/msgpack.md (docs/websocket.md) maps
//!   the RESP3 reply to.
//!
//! The run is reproducible: `EDDY_FUZZ_SEED` picks the seed (the default is fixed) and
//! `EDDY_FUZZ_CALLS` the number of calls per connection; `EDDY_FUZZ_VERBOSE` prints every error
//! reply with its call. The seed is printed, and a failure names the call or the panic site.

mod common;

use common::{encode_cmd, parse_resp, ParseError, Resp, Rng, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Commands not fuzzed, because what they do is correct and ends the run: stopping or pausing
/// the server, silencing or killing connections, changing credentials or the listening setup,
/// making the reference Redis a replica of a random address, or the fuzzing connection a
/// replica's (PSYNC, SYNC; REPLCONF ACK has no reply to wait for). ACL too: random rules lock the
/// fuzzing client out of either server, and GENPASS, LOG and the order Redis lists single-command
/// rules in are random (tests/acl.rs covers the family against both). PFSELFTEST takes longer
/// than a reply is waited for (tests/hyperloglog.rs runs it).
const EXCLUDED: &[&str] = &[
    "acl",
    "shutdown",
    "replicaof",
    "slaveof",
    "psync",
    "sync",
    "replconf",
    "debug",
    "monitor",
    "client|kill",
    "client|pause",
    "client|reply",
    "config|set",
    "config|rewrite",
    "bridge",
    "pfselftest",
];

/// Keys of every type, prepared by [`seed_keys`], plus one that never exists.
const KEYS: &[&str] = &[
    "fz:str",
    "fz:int",
    "fz:hash",
    "fz:list",
    "fz:set",
    "fz:iset",
    "fz:zset",
    "fz:stream",
    "fz:hll",
    "fz:geo",
    "fz:bits",
    "fz:none",
    "fz:str",
    "fz:list",
    "fz:zset",
    "fz:bighash",
    "fz:biglist",
    "fz:bigset",
    "fz:bigiset",
    "fz:bigzset",
];

const NUMBERS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "3",
    "7",
    "10",
    "100",
    "-100",
    "1000",
    "65536",
    "4294967296",
    "2147483648",
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "1e308",
    "-1e308",
    "1.5",
    "-0",
    "0.0001",
    "inf",
    "-inf",
    "+inf",
    "nan",
    "(1",
    "(-inf",
    "[a",
    "(b",
    "[",
    "+",
    "-",
    "$",
    ">",
    "*",
    "0-0",
    "0-1",
    "1-*",
    "18446744073709551615-18446744073709551615",
    "9999999999999-0",
    " 1",
    "1 ",
    "0x10",
    "",
];

const WORDS: &[&str] = &[
    "COUNT",
    "LIMIT",
    "WITHSCORES",
    "WITHSCORE",
    "WITHVALUES",
    "BY",
    "MATCH",
    "TYPE",
    "EX",
    "PX",
    "EXAT",
    "PXAT",
    "KEEPTTL",
    "PERSIST",
    "GET",
    "NX",
    "XX",
    "GT",
    "LT",
    "CH",
    "INCR",
    "STORE",
    "STOREDIST",
    "BLOCK",
    "STREAMS",
    "GROUP",
    "MAXLEN",
    "MINID",
    "NOMKSTREAM",
    "REV",
    "BYSCORE",
    "BYLEX",
    "AGGREGATE",
    "SUM",
    "MIN",
    "MAX",
    "WEIGHTS",
    "LEFT",
    "RIGHT",
    "BEFORE",
    "AFTER",
    "RANK",
    "MAXLEN",
    "IDX",
    "LEN",
    "MINMATCHLEN",
    "WITHMATCHLEN",
    "ALPHA",
    "ASC",
    "DESC",
    "FROMMEMBER",
    "FROMLONLAT",
    "BYRADIUS",
    "BYBOX",
    "WITHCOORD",
    "WITHDIST",
    "WITHHASH",
    "ANY",
    "km",
    "m",
    "OVERFLOW",
    "WRAP",
    "SAT",
    "FAIL",
    "u8",
    "i64",
    "u63",
    "i65",
    "#1",
    "SET",
    "INCRBY",
    "AND",
    "OR",
    "XOR",
    "NOT",
    "BIT",
    "BYTE",
    "JUSTID",
    "IDLE",
    "TIME",
    "RETRYCOUNT",
    "FORCE",
    "LASTID",
    "ENTRIESREAD",
    "MKSTREAM",
    "NOACK",
    "FULL",
    "CONSUMERS",
    "GROUPS",
    "REPLACE",
    "ABSTTL",
    "FREQ",
    "DB",
    "ON",
    "OFF",
    "YES",
    "NO",
    "FLUSH",
    "ASYNC",
    "SYNC",
    "LIBRARYNAME",
    "WITHCODE",
    "KEYS",
    "FROM",
    "EVENTS",
    "IMAGE",
    "both",
    "old",
    "new",
    "earliest",
    "latest",
    "snapshot",
    "FILTER",
    "MEMBER",
    "CONSUMER",
    "http://127.0.0.1:1/",
    "nats://127.0.0.1:1",
    "webhook",
    "*",
    "fz:*",
    "[a-",
    "\\",
    "h?llo",
];

const SCRIPTS: &[&str] = &[
    "return 1",
    "return redis.call('get', KEYS[1])",
    "return redis.pcall(ARGV[1] or 'ping', KEYS[1], ARGV[2], ARGV[3])",
    "return {1, 'a', {2, 3.5}, redis.status_reply('OK'), redis.error_reply('E x')}",
    "redis.call('set', KEYS[1], ARGV[1]); return redis.call('incr', KEYS[1])",
    "error('boom')",
    "return tonumber(ARGV[1]) / 0",
    "local t = {} for i = 1, 100 do t[i] = i end return t",
    "return redis.sha1hex(ARGV[1] or '')",
    "return cjson.decode(ARGV[1] or '[]')",
    "return string.rep('x', tonumber(ARGV[1]) or 1)",
    "#!lua name=fzlib\nredis.register_function('fzf', function(k, a) return redis.pcall(a[1] or 'ping', k[1], a[2]) end)",
    "#!lua name=fzlib2\nredis.register_function{function_name='fzg', callback=function(k, a) return #k end, flags={'no-writes'}}",
    "not lua at all (",
];

/// Runs the commands that give every key in [`KEYS`] its type.
fn seed_keys(c: &mut Conn) {
    let setup: &[&[&str]] = &[
        &[
            "DEL", "fz:str", "fz:int", "fz:hash", "fz:list", "fz:set", "fz:iset", "fz:zset",
        ],
        &["DEL", "fz:stream", "fz:hll", "fz:geo", "fz:bits", "fz:none"],
        &["SET", "fz:str", "hello world"],
        &["SET", "fz:int", "42"],
        &["HSET", "fz:hash", "a", "1", "b", "x", "c", "1.5"],
        &["RPUSH", "fz:list", "a", "b", "1", "2", "c"],
        &["SADD", "fz:set", "a", "b", "c"],
        &["SADD", "fz:iset", "1", "2", "3"],
        &[
            "ZADD", "fz:zset", "1", "a", "2", "b", "-inf", "c", "inf", "d",
        ],
        &["XADD", "fz:stream", "1-1", "a", "1"],
        &["XADD", "fz:stream", "2-0", "b", "2"],
        &["XGROUP", "CREATE", "fz:stream", "g", "0"],
        &["PFADD", "fz:hll", "a", "b", "c"],
        &[
            "GEOADD",
            "fz:geo",
            "13.361389",
            "38.115556",
            "a",
            "15.087269",
            "37.502669",
            "b",
        ],
        &["SETBIT", "fz:bits", "100", "1"],
    ];
    for cmd in setup {
        let args: Vec<&[u8]> = cmd.iter().map(|s| s.as_bytes()).collect();
        c.call(&args, Duration::from_secs(10));
    }
    // Collections past every compact-encoding limit, so the large encodings are exercised too.
    type Item = fn(usize) -> Vec<String>;
    let big: [(&str, &str, usize, Item); 5] = [
        ("HSET", "fz:bighash", 200, |i| {
            vec![format!("f{i}"), i.to_string()]
        }),
        ("RPUSH", "fz:biglist", 300, |i| vec![format!("m{}", i % 50)]),
        ("SADD", "fz:bigset", 200, |i| vec![format!("m{i}")]),
        ("SADD", "fz:bigiset", 600, |i| vec![i.to_string()]),
        ("ZADD", "fz:bigzset", 200, |i| {
            vec![(i % 20).to_string(), format!("m{i}")]
        }),
    ];
    for (cmd, key, n, item) in big {
        let mut args: Vec<String> = vec!["DEL".into(), key.into()];
        let del: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        c.call(&del, Duration::from_secs(10));
        args = vec![cmd.into(), key.into()];
        args.extend((0..n).flat_map(item));
        let args: Vec<&[u8]> = args.iter().map(|s| s.as_bytes()).collect();
        c.call(&args, Duration::from_secs(10));
    }
}

/// A connection that tolerates the server closing it (QUIT, a protocol error, a reset).
struct Conn {
    port: u16,
    stream: TcpStream,
    buf: Vec<u8>,
    /// Speaks RESP3 (`HELLO 3`), again after a reopen.
    resp3: bool,
}

/// A TCP connection to the server under test, as both raw fuzzing connections use it.
fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
        .set_write_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

impl Conn {
    fn open(port: u16) -> Conn {
        Conn {
            port,
            stream: connect(port),
            buf: Vec::new(),
            resp3: false,
        }
    }

    fn reopen(&mut self) {
        let resp3 = self.resp3;
        *self = Conn::open(self.port);
        if resp3 {
            self.hello3();
        }
    }

    fn hello3(&mut self) {
        self.resp3 = true;
        self.call(&[b"HELLO", b"3"], Duration::from_secs(5));
    }

    /// Sends one command and waits up to `wait` for its reply. `None` when the command is still
    /// running (it blocks) or the server closed the connection; a malformed reply fails the test.
    fn call(&mut self, args: &[&[u8]], wait: Duration) -> Option<Resp> {
        if self.stream.write_all(&encode_cmd(args)).is_err() {
            return None;
        }
        self.read(args, wait)
    }

    /// Waits up to `wait` for the reply to `args`, already sent.
    fn read(&mut self, args: &[&[u8]], wait: Duration) -> Option<Resp> {
        self.stream.set_read_timeout(Some(wait)).expect("timeout");
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match parse_resp(&self.buf, 0) {
                Ok((r, end)) => {
                    self.buf.drain(..end);
                    // Pub/sub pushes and invalidations may precede the reply; they are replies
                    // too as far as well-formedness goes, and the next call reads on.
                    return Some(r);
                }
                Err(ParseError::Invalid(e)) => panic!(
                    "malformed reply ({e}) to {:?}: {:?}",
                    show(args),
                    String::from_utf8_lossy(&self.buf)
                ),
                Err(ParseError::Incomplete) => match self.stream.read(&mut chunk) {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                },
            }
        }
    }
}

fn show(args: &[&[u8]]) -> Vec<String> {
    args.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// One command from `COMMAND`: its full name (`parent|sub` for subcommands), arity, and the
/// argument grammar `COMMAND DOCS` gives for it.
#[derive(Clone)]
struct Spec {
    name: String,
    arity: i64,
    args: Vec<ArgDoc>,
    /// Keys of the type the command's group works on.
    keys: &'static [&'static str],
}

/// One node of a command's argument grammar, as `COMMAND DOCS` describes it.
#[derive(Clone, Debug)]
struct ArgDoc {
    kind: String,
    token: Option<String>,
    optional: bool,
    multiple: bool,
    multiple_token: bool,
    children: Vec<ArgDoc>,
}

fn arg_docs(list: Option<&Resp>) -> Vec<ArgDoc> {
    let Some(Resp::Array(items)) = list else {
        return Vec::new();
    };
    items
        .iter()
        .map(|a| {
            let flags: Vec<String> = match a.field("flags") {
                Some(Resp::Array(f)) | Some(Resp::Set(f)) => {
                    f.iter().filter_map(Resp::text).collect()
                }
                _ => Vec::new(),
            };
            ArgDoc {
                kind: a.field("type").and_then(Resp::text).unwrap_or_default(),
                token: a.field("token").and_then(Resp::text),
                optional: flags.iter().any(|f| f == "optional"),
                multiple: flags.iter().any(|f| f == "multiple"),
                multiple_token: flags.iter().any(|f| f == "multiple_token"),
                children: arg_docs(a.field("arguments")),
            }
        })
        .collect()
}

/// The keys a command of documentation group `group` mostly meets.
fn group_keys(group: &str) -> &'static [&'static str] {
    match group {
        "string" => &["fz:str", "fz:int", "fz:none"],
        "hash" => &["fz:hash", "fz:bighash", "fz:none"],
        "list" => &["fz:list", "fz:biglist", "fz:none"],
        "set" => &["fz:set", "fz:iset", "fz:bigset", "fz:bigiset", "fz:none"],
        "sorted_set" => &["fz:zset", "fz:geo", "fz:bigzset", "fz:none"],
        "stream" => &["fz:stream", "fz:none"],
        "hyperloglog" => &["fz:hll", "fz:none"],
        "geo" => &["fz:geo", "fz:none"],
        "bitmap" => &["fz:bits", "fz:str", "fz:none"],
        _ => KEYS,
    }
}

type Docs = std::collections::HashMap<String, (Vec<ArgDoc>, &'static [&'static str])>;

/// `COMMAND DOCS` as name → (argument grammar, keys), subcommands included.
fn docs(c: &mut Conn) -> Docs {
    let mut out = Docs::new();
    fn walk(flat: &[Resp], out: &mut Docs) {
        for pair in flat.chunks(2) {
            let (Some(name), Some(doc)) = (pair[0].text(), pair.get(1)) else {
                continue;
            };
            let group = doc.field("group").and_then(Resp::text).unwrap_or_default();
            out.insert(
                name.to_lowercase(),
                (arg_docs(doc.field("arguments")), group_keys(&group)),
            );
            if let Some(Resp::Array(subs)) = doc.field("subcommands") {
                walk(subs, out);
            }
        }
    }
    if let Some(Resp::Array(flat)) = c.call(&[b"COMMAND", b"DOCS"], Duration::from_secs(10)) {
        walk(&flat, &mut out);
    }
    out
}

fn command_specs(c: &mut Conn) -> Vec<Spec> {
    let Some(Resp::Array(entries)) = c.call(&[b"COMMAND"], Duration::from_secs(10)) else {
        panic!("COMMAND did not return an array");
    };
    let mut out = Vec::new();
    fn collect(entries: &[Resp], out: &mut Vec<Spec>) {
        for e in entries {
            let Resp::Array(fields) = e else { continue };
            let (Some(name), Some(Resp::Int(arity))) = (fields[0].text(), fields.get(1)) else {
                continue;
            };
            if let Some(Resp::Array(subs)) = fields.get(9) {
                collect(subs, out);
            }
            out.push(Spec {
                name: name.to_lowercase(),
                arity: *arity,
                args: Vec::new(),
                keys: KEYS,
            });
        }
    }
    collect(&entries, &mut out);
    // A container's name excludes its subcommands too.
    let excluded = |name: &str| {
        let top = name.split('|').next().unwrap_or(name);
        EXCLUDED.contains(&name) || EXCLUDED.contains(&top)
    };
    out.retain(|s| !excluded(&s.name));
    let mut docs = docs(c);
    for spec in &mut out {
        if let Some((args, keys)) = docs.remove(&spec.name) {
            spec.args = args;
            spec.keys = keys;
        }
    }
    out
}

/// A value for a grammar node of type `kind`: mostly plausible, sometimes hostile.
fn typed_value(rng: &mut Rng, kind: &str, keys: &[&str]) -> Vec<u8> {
    if rng.chance(10) {
        return arg(rng);
    }
    let pool: &[&str] = match kind {
        "key" if rng.chance(80) => keys,
        "key" => KEYS,
        "integer" => &["0", "1", "2", "3", "5", "10", "-1", "-2", "100"],
        "double" => &["0", "1", "1.5", "-2.5", "10", "inf", "-inf"],
        "pattern" => &["*", "fz:*", "a*", "?", "[a-c]", "*z*"],
        "unix-time" => &["0", "1", "2000000000", "4102444800000"],
        _ => &[
            "a", "b", "c", "d", "1", "2", "fz:str", "x y", "", "m7", "f3", "m120",
        ],
    };
    rng.pick(pool).as_bytes().to_vec()
}

/// Appends a random instance of the grammar `nodes` to `out`.
fn grammar(rng: &mut Rng, nodes: &[ArgDoc], keys: &[&str], out: &mut Vec<Vec<u8>>) {
    for node in nodes {
        if node.optional && rng.chance(55) {
            continue;
        }
        let times = if node.multiple { 1 + rng.below(3) } else { 1 };
        for i in 0..times {
            if let Some(t) = &node.token {
                if i == 0 || node.multiple_token {
                    out.push(t.as_bytes().to_vec());
                }
            }
            match node.kind.as_str() {
                "pure-token" => {}
                "oneof" if !node.children.is_empty() => {
                    let pick = rng.index(node.children.len());
                    let mut one = node.children[pick].clone();
                    one.optional = false;
                    grammar(rng, std::slice::from_ref(&one), keys, out);
                }
                "block" => grammar(rng, &node.children, keys, out),
                kind => out.push(typed_value(rng, kind, keys)),
            }
        }
    }
}

/// One argument, drawn from the pools.
fn arg(rng: &mut Rng) -> Vec<u8> {
    match rng.below(100) {
        0..=29 => rng.pick(KEYS).as_bytes().to_vec(),
        30..=54 => rng.pick(NUMBERS).as_bytes().to_vec(),
        55..=79 => rng.pick(WORDS).as_bytes().to_vec(),
        80..=84 => rng.pick(SCRIPTS).as_bytes().to_vec(),
        85..=89 => {
            let len = rng.below(40);
            (0..len).map(|_| rng.next() as u8).collect()
        }
        // Short members shared between calls, so adds and removes meet.
        _ => vec![b'a' + rng.below(4) as u8],
    }
}

/// A random call to `spec`: most often following its documented grammar, otherwise of a
/// (usually) valid length with arguments from the pools.
fn call_for(rng: &mut Rng, spec: &Spec) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = spec
        .name
        .split('|')
        .map(|p| p.as_bytes().to_vec())
        .collect();
    if !spec.args.is_empty() && rng.chance(70) {
        grammar(rng, &spec.args, spec.keys, &mut out);
        return out;
    }
    let fixed = out.len();
    let min = spec.arity.unsigned_abs() as usize;
    let total = if rng.chance(8) {
        rng.index(min + 3)
    } else if spec.arity > 0 {
        min
    } else {
        min + rng.index(8)
    };
    // The first argument after the name is most often a key.
    for i in fixed..total.max(fixed) {
        if i == fixed && rng.chance(60) {
            out.push(rng.pick(spec.keys).as_bytes().to_vec());
        } else {
            out.push(arg(rng));
        }
    }
    out
}

/// Replies seen: (errors, other replies, none within the wait).
type Tally = (usize, usize, usize);

fn fuzz_connection(port: u16, specs: &[Spec], seed: u64, calls: usize) -> Result<Tally, String> {
    let mut rng = Rng::new(seed);
    let mut c = Conn::open(port);
    let mut tally = (0, 0, 0);
    let mut queued = 0;
    let verbose = std::env::var_os("EDDY_FUZZ_VERBOSE").is_some();
    for n in 0..calls {
        if n % 200 == 0 {
            queued = 0;
            c.reopen();
            seed_keys(&mut c);
        }
        let spec = rng.pick(specs);
        let call = call_for(&mut rng, spec);
        let args: Vec<&[u8]> = call.iter().map(|a| a.as_slice()).collect();
        let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            c.call(&args, Duration::from_millis(150))
        }))
        .map_err(|_| format!("call {n} (seed {seed}): {:?}", show(&args)))?;
        match reply {
            // Subscribed connections refuse most commands: start afresh.
            Some(Resp::Error(e)) if e.starts_with("ERR Can't execute") => {
                tally.0 += 1;
                queued = 0;
                c.reopen();
            }
            Some(Resp::Error(e)) => {
                if verbose {
                    eprintln!("{e} <- {:?}", show(&args));
                }
                tally.0 += 1;
            }
            // Run a transaction once it has a few commands, so EXEC meets random queues.
            Some(Resp::Simple(s)) if s == "QUEUED" => {
                tally.1 += 1;
                queued += 1;
                if queued == 5 {
                    queued = 0;
                    if c.call(&[b"EXEC"], Duration::from_secs(10)).is_none() {
                        c.reopen();
                    }
                }
            }
            Some(_) => tally.1 += 1,
            None => {
                // Blocked or closed: carry on from a fresh connection.
                tally.2 += 1;
                queued = 0;
                c.reopen();
            }
        }
    }
    Ok(tally)
}

#[test]
fn random_calls_to_every_command_leave_the_server_serving() {
    if !common::eddy_only("random_calls_to_every_command_leave_the_server_serving") {
        return;
    }
    let seed = seed();
    let calls = calls(8000);
    eprintln!("fuzz seed {seed}, {calls} calls per connection");
    let extra = std::env::var("FZ_ARGS").unwrap_or_default();
    let extra: Vec<&str> = extra.split_whitespace().collect();
    let srv = Server::start_with(&extra);
    let port = srv.port();
    let specs = command_specs(&mut Conn::open(port));
    assert!(
        specs.len() > 150,
        "COMMAND listed only {} commands",
        specs.len()
    );

    let workers: Vec<_> = (0..3u64)
        .map(|i| {
            let specs = specs.clone();
            std::thread::spawn(move || {
                fuzz_connection(port, &specs, seed.wrapping_add(i * 0x9E37_79B9), calls)
            })
        })
        .collect();
    let mut failures = Vec::new();
    for w in workers {
        match w.join().expect("fuzz thread") {
            Ok((errors, replies, none)) => {
                eprintln!("{errors} errors, {replies} other replies, {none} without a reply");
                // Most calls must get past argument checking, or the fuzzing tests little.
                assert!(
                    replies > calls / 5,
                    "only {replies} of {calls} calls succeeded"
                );
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "fuzzing failed: {failures:#?}");

    assert_healthy(&srv, seed);
}

/// After a run: a fresh client is served, the server logged no panic, and what clients sent
/// did not leave it holding large amounts of memory.
fn assert_healthy(srv: &Server, seed: u64) {
    let mut r = srv.raw();
    assert_eq!(r.call(&["PING"]), Resp::Simple("PONG".into()));
    let log = srv.log();
    let panics: Vec<&str> = log.lines().filter(|l| l.contains("panicked")).collect();
    assert!(
        panics.is_empty(),
        "the server panicked (seed {seed}):\n{}",
        panics.join("\n")
    );
    if let Some(kb) = rss_kb(srv.pid()) {
        eprintln!("server RSS: {kb} kB");
        assert!(
            kb < RSS_LIMIT_KB,
            "server RSS grew to {kb} kB (seed {seed})"
        );
    }
}

/// More resident memory than a fuzzed server should ever hold.
const RSS_LIMIT_KB: u64 = 256 * 1024;

/// `EDDY_FUZZ_CALLS`, or `default`.
fn calls(default: usize) -> usize {
    std::env::var("EDDY_FUZZ_CALLS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// `EDDY_FUZZ_SEED`, or the fixed default.
fn seed() -> u64 {
    std::env::var("EDDY_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_EDD1)
}

/// Resident memory of process `pid` (Linux), in kB.
fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn mangled_frames_get_an_error_or_a_close_and_never_a_crash() {
    let seed = seed();
    let srv = Server::start();
    let mut rng = Rng::new(seed);
    let mut c = Conn::open(srv.port());
    let frames: &[&[&[u8]]] = &[
        &[b"SET", b"fz:str", b"value"],
        &[b"HSET", b"fz:hash", b"f", b"v"],
        &[b"ZADD", b"fz:zset", b"1", b"m"],
        &[b"HELLO", b"3"],
        &[b"CHANGES", b"READ", b"FROM", b"earliest", b"COUNT", b"2"],
    ];
    for n in 0..10_000 {
        let mut bytes = encode_cmd(frames[rng.index(frames.len())]);
        match rng.below(4) {
            // Overwrite a few bytes: lengths, type markers and CRLFs all get hit.
            0 | 1 => {
                for _ in 0..1 + rng.below(3) {
                    let i = rng.index(bytes.len());
                    bytes[i] = *rng.pick(&b"*$:+-0123456789\r\n\x00\xff a"[..]);
                }
            }
            // Cut the frame short and start another.
            2 => bytes.truncate(rng.index(bytes.len())),
            // Splice a second frame's tail into the middle.
            _ => {
                let other = encode_cmd(frames[rng.index(frames.len())]);
                let at = rng.index(bytes.len());
                bytes.truncate(at);
                bytes.extend_from_slice(&other[rng.index(other.len())..]);
            }
        }
        bytes.extend_from_slice(&encode_cmd(&[b"PING"]));
        let _ = c.stream.write_all(&bytes);
        // Whatever the server makes of the bytes, it answers, waits for more, or closes; the
        // next round starts on a fresh connection when it did not answer.
        if n % 100 == 0 {
            // A frame that sends the server into a loop shows first as growing memory.
            let kb = rss_kb(srv.pid()).unwrap_or(0);
            assert!(
                kb < RSS_LIMIT_KB,
                "server RSS {kb} kB after {bytes:?} (seed {seed})"
            );
        }
        match c.call(&[b"ECHO", b"fz"], Duration::from_millis(50)) {
            Some(_) if n % 50 != 0 => {}
            _ => c.reopen(),
        }
    }
    assert_healthy(&srv, seed);
}

// ---------------------------------------------------------------------------------------------
// Side by side with redis-server

/// Commands whose replies legitimately differ between two servers (randomness, clocks, server
/// identity, statistics and memory figures, hash-table order of cursors), that change what the
/// comparison itself relies on (the database, the keyspace, the connection's mode), or that
/// Redis 7.0 and Eddy (which follows 7.2) define differently (ZRANK's WITHSCORE).
const NOT_COMPARED: &[&str] = &[
    "spop",
    "srandmember",
    "randomkey",
    "hrandfield",
    "zrandmember",
    "time",
    "info",
    "lastsave",
    "memory",
    "object|freq",
    "object|idletime",
    "object|encoding",
    "object|refcount",
    "client",
    "command",
    "config|get",
    "hello",
    "dump",
    "restore",
    "script",
    "function",
    "bgsave",
    "bgrewriteaof",
    "save",
    "dbsize",
    "keys",
    "scan",
    "sscan",
    "hscan",
    "zscan",
    "xautoclaim",
    "xclaim",
    "xpending",
    "xinfo",
    "reset",
    "quit",
    "pubsub",
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "sunsubscribe",
    "select",
    "swapdb",
    "flushall",
    "flushdb",
    "zrank",
    "zrevrank",
    "wait",
    "auth",
    "multi",
    "exec",
    "discard",
    "watch",
    // Entries carry durations and times.
    "slowlog",
    "latency",
    // Redis turns a score into geohash bits with a C cast that is undefined for infinite and
    // negative scores (x86 and ARM disagree); the seeded sorted set has such scores.
    "geopos",
    "geodist",
    "geohash",
    "georadius",
    "georadius_ro",
    "georadiusbymember",
    "georadiusbymember_ro",
    "geosearch",
    "geosearchstore",
];

/// True for a call whose effect depends on the clock to the millisecond: a relative TTL can
/// expire between the two servers' turns. Absolute times (EXAT/PXAT, EXPIREAT) are kept.
fn timing_dependent(call: &[Vec<u8>]) -> bool {
    let relative = [
        "expire",
        "pexpire",
        "setex",
        "psetex",
        "ttl",
        "pttl",
        "expiretime",
    ];
    let name = String::from_utf8_lossy(&call[0]).to_lowercase();
    // An ID XADD makes up from the clock differs by the millisecond too.
    let clock_id = name == "xadd" && call[1..].iter().any(|a| a.ends_with(b"*"));
    clock_id
        || (name == "migrate" && any_address_answers())
        || relative.contains(&name.as_str())
        || name == "pexpiretime"
        || name == "persist"
        || call[1..]
            .iter()
            .any(|a| is_word(a, "EX") || is_word(a, "PX"))
}

/// Whether this machine accepts TCP connections to an address nothing listens on: some
/// sandboxes hand every connection to a proxy. There a MIGRATE to a random host reaches
/// something, and whether it completes within its 1-2 ms timeout is a race that each server
/// runs on its own (seen with seeds 142-147), so MIGRATE is not compared.
fn any_address_answers() -> bool {
    static ANSWERS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ANSWERS.get_or_init(|| {
        let nowhere = std::net::SocketAddr::from(([0, 0, 0, 2], 5));
        TcpStream::connect_timeout(&nowhere, Duration::from_millis(200)).is_ok()
    })
}

/// True for a SORT whose order Redis leaves to its (unstable) sort or to a set's hash order:
/// BY with ALPHA (equal weights compare as equal), or BY on anything but the seeded lists and
/// sorted sets (a pattern without `*` means no sorting at all, so a set's hash order).
fn order_undefined(call: &[Vec<u8>]) -> bool {
    let name = String::from_utf8_lossy(&call[0]).to_lowercase();
    let has = |w: &str| call.iter().skip(2).any(|a| is_word(a, w));
    let ordered: [&[u8]; 4] = [b"fz:list", b"fz:biglist", b"fz:zset", b"fz:bigzset"];
    let ordered_key = call.get(1).is_some_and(|k| ordered.contains(&k.as_slice()));
    (name == "sort" || name == "sort_ro") && has("BY") && (has("ALPHA") || !ordered_key)
}

fn is_word(a: &[u8], w: &str) -> bool {
    a.eq_ignore_ascii_case(w.as_bytes())
}

/// Each fz key's type and value, for finding the call that made two servers' data diverge
/// (`EDDY_FUZZ_STATE`).
fn state(c: &mut Conn) -> Vec<(Resp, Resp)> {
    let mut out = Vec::new();
    for k in KEYS {
        let k = k.as_bytes();
        let t = c
            .call(&[b"TYPE", k], Duration::from_secs(5))
            .unwrap_or(Resp::Null);
        let read: Option<Vec<&[u8]>> = match t.text().as_deref() {
            Some("string") => Some(vec![b"GET", k]),
            Some("list") => Some(vec![b"LRANGE", k, b"0", b"-1"]),
            Some("hash") => Some(vec![b"HGETALL", k]),
            Some("set") => Some(vec![b"SMEMBERS", k]),
            Some("zset") => Some(vec![b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"]),
            Some("stream") => Some(vec![b"XRANGE", k, b"-", b"+"]),
            _ => None,
        };
        let v = read.map_or(Resp::Null, |r| {
            normalize(&c.call(&r, Duration::from_secs(5)).unwrap_or(Resp::Null))
        });
        out.push((t, v));
    }
    out
}

/// A reply with every array's elements and map's pairs in one order: sets and hashes have no
/// order to compare.
fn normalize(r: &Resp) -> Resp {
    match r {
        Resp::Array(a) => Resp::Array(sorted(a.iter().map(normalize).collect())),
        Resp::Set(a) => Resp::Set(sorted(a.iter().map(normalize).collect())),
        Resp::Map(m) => {
            let mut v: Vec<(Resp, Resp)> = m
                .iter()
                .map(|(k, v)| (normalize(k), normalize(v)))
                .collect();
            v.sort_by_key(|x| format!("{x:?}"));
            Resp::Map(v)
        }
        other => other.clone(),
    }
}

fn sorted(mut v: Vec<Resp>) -> Vec<Resp> {
    v.sort_by_key(|x| format!("{x:?}"));
    v
}

/// A random call whose reply two servers must agree on, or `None` for one that depends on the
/// clock or on an order Redis leaves undefined.
fn comparable_call(rng: &mut Rng, specs: &[Spec]) -> Option<Vec<Vec<u8>>> {
    let spec = rng.pick(specs);
    let call = call_for(rng, spec);
    (!timing_dependent(&call) && !order_undefined(&call) && !names_uncompared(&call))
        .then_some(call)
}

/// A call to a container command whose random first argument names a subcommand in
/// [`NOT_COMPARED`] (`CONFIG GET`, drawn through `config`'s own spec).
fn names_uncompared(call: &[Vec<u8>]) -> bool {
    let name = String::from_utf8_lossy(&call[0]).to_lowercase();
    call.get(1).is_some_and(|sub| {
        let full = format!("{name}|{}", String::from_utf8_lossy(sub).to_lowercase());
        NOT_COMPARED.contains(&full.as_str())
    })
}

/// Whether replies to `spec` are compared at all (see [`NOT_COMPARED`]).
fn compared(spec: &Spec) -> bool {
    let parent = spec.name.split('|').next().unwrap_or("");
    !NOT_COMPARED.contains(&spec.name.as_str()) && !NOT_COMPARED.contains(&parent)
}

fn reseed(conns: [&mut Conn; 2]) {
    for c in conns {
        c.call(&[b"FLUSHALL"], Duration::from_secs(5));
        seed_keys(c);
    }
}

#[test]
fn random_calls_get_the_replies_redis_gives() {
    let test = "random_calls_get_the_replies_redis_gives";
    if !common::eddy_only(test) || !common::require_tool_for(test, "redis-server") {
        return;
    }
    let seed = seed();
    let calls = calls(4000);
    let track_state = std::env::var_os("EDDY_FUZZ_STATE").is_some();
    let eddy = Server::start();
    let redis = common::Redis::start();
    let (mut ec, mut rc) = (Conn::open(eddy.port()), Conn::open(redis.port));
    // State is read on connections of their own: the compared ones may be blocked or subscribed.
    let (mut es, mut rs) = (Conn::open(eddy.port()), Conn::open(redis.port));
    let theirs: Vec<String> = command_specs(&mut rc).into_iter().map(|s| s.name).collect();
    let mut specs = command_specs(&mut ec);
    // EDDY_FUZZ_ONLY=x,sort: only commands whose names start so (to dig into one family).
    let only: Vec<String> = std::env::var("EDDY_FUZZ_ONLY")
        .map(|v| v.split(',').map(str::to_lowercase).collect())
        .unwrap_or_default();
    specs.retain(|s| {
        (only.is_empty() || only.iter().any(|p| s.name.starts_with(p.as_str())))
            && theirs.contains(&s.name)
            && compared(s)
    });
    // What another client runs while the compared one is blocked.
    let writers: Vec<Spec> = specs
        .iter()
        .filter(|s| {
            let w = [
                "lpush", "rpush", "lmove", "linsert", "zadd", "zincrby", "xadd", "del", "set",
            ];
            w.contains(&s.name.as_str())
        })
        .cloned()
        .collect();
    let mut rng = Rng::new(seed);
    let mut diffs = Vec::new();
    let mut last = Vec::new();
    // (calls blocked on both servers, of which served by another client's write)
    let mut blocked = (0, 0);
    for n in 0..calls {
        if n == calls / 2 {
            // The second half in RESP3, where replies have types of their own.
            ec.hello3();
            rc.hello3();
        }
        if n % 300 == 0 {
            reseed([&mut ec, &mut rc]);
        }
        let Some(call) = comparable_call(&mut rng, &specs) else {
            continue;
        };
        let args: Vec<&[u8]> = call.iter().map(|a| a.as_slice()).collect();
        let wait = Duration::from_millis(200);
        let (mut a, mut b) = (ec.call(&args, wait), rc.call(&args, wait));
        if a.is_none() && b.is_none() {
            // Blocked on both: another client runs a write, which may serve them.
            // A write of the kind the blocked command waits for, most of the time.
            let name = String::from_utf8_lossy(&call[0]).to_lowercase();
            let family: &[&str] = if name.starts_with("bz") {
                &["zadd"]
            } else if name.starts_with("bl") || name.starts_with("brpop") {
                &["lpush", "rpush"]
            } else {
                &[]
            };
            let fitting: Vec<&Spec> = writers
                .iter()
                .filter(|s| family.contains(&s.name.as_str()))
                .collect();
            let writer = if fitting.is_empty() || rng.chance(20) {
                rng.pick(&writers)
            } else {
                *rng.pick(&fitting)
            };
            let mut other = call_for(&mut rng, writer);
            // Aimed at one of the keys the blocked call waits on.
            let waited: Vec<&Vec<u8>> = call.iter().filter(|a| a.starts_with(b"fz:")).collect();
            if other.len() > 1 && !waited.is_empty() {
                other[1] = rng.pick(&waited).to_vec();
            }
            if !timing_dependent(&other) {
                let oargs: Vec<&[u8]> = other.iter().map(|a| a.as_slice()).collect();
                let (oa, ob) = (es.call(&oargs, wait), rs.call(&oargs, wait));
                if oa.is_none() || ob.is_none() {
                    es.reopen();
                    rs.reopen();
                }
                last.push(format!("another client: {:?} -> {oa:?}", show(&oargs)));
                if oa.as_ref().map(normalize) != ob.as_ref().map(normalize) {
                    diffs.push(format!(
                        "{:?} from another client\n  eddy:  {oa:?}\n  redis: {ob:?}",
                        show(&oargs)
                    ));
                }
                (a, b) = (ec.read(&args, wait), rc.read(&args, wait));
                blocked.0 += 1;
                blocked.1 += usize::from(a.is_some());
            }
        }
        if a.is_none() || b.is_none() {
            // Blocked or closed on either side: start both afresh.
            ec.reopen();
            rc.reopen();
        }
        last.push(format!("{:?}", show(&args)));
        if a.as_ref().map(normalize) != b.as_ref().map(normalize) {
            let before = &last[last.len().saturating_sub(4)..last.len() - 1];
            diffs.push(format!(
                "{:?}\n  eddy:  {a:?}\n  redis: {b:?}\n  after: {before:?}",
                show(&args)
            ));
            reseed([&mut ec, &mut rc]);
            last.clear();
        } else if track_state && state(&mut es) != state(&mut rs) {
            diffs.push(format!("data diverged after {:?}", show(&args)));
            reseed([&mut ec, &mut rc]);
            last.clear();
        }
    }
    eprintln!(
        "{calls} calls; {} blocked on both, {} of them served by another client",
        blocked.0, blocked.1
    );
    assert!(
        diffs.is_empty(),
        "{} replies differ from redis-server's (seed {seed}):\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The MessagePack door against RESP3

/// A MessagePack-door connection that tolerates blocking and closing, like [`Conn`].
struct MpConn {
    port: u16,
    stream: TcpStream,
    buf: Vec<u8>,
    next_id: i64,
}

impl MpConn {
    fn open(port: u16) -> MpConn {
        MpConn {
            port,
            stream: connect(port),
            buf: Vec::new(),
            next_id: 1,
        }
    }

    fn reopen(&mut self) {
        *self = MpConn::open(self.port);
    }

    /// The reply to `args`: `Ok(value)`, `Err(error line)`, or `None` when it blocks or the
    /// connection closed. Pushes are skipped.
    fn call(&mut self, args: &[&[u8]], wait: Duration) -> Option<Result<rmpv::Value, String>> {
        use rmpv::Value;
        let id = self.next_id;
        self.next_id += 1;
        let mut req = vec![Value::from(id)];
        req.extend(args.iter().map(|a| Value::Binary(a.to_vec())));
        let mut body = Vec::new();
        rmpv::encode::write_value(&mut body, &Value::Array(req)).expect("encode");
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend(body);
        self.stream.write_all(&frame).ok()?;
        self.stream.set_read_timeout(Some(wait)).expect("timeout");
        let mut chunk = [0u8; 64 * 1024];
        loop {
            if self.buf.len() >= 4 {
                let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
                if self.buf.len() >= 4 + len as usize {
                    let mut r = &self.buf[4..4 + len as usize];
                    let v = rmpv::decode::read_value(&mut r).expect("a MessagePack value");
                    self.buf.drain(..4 + len as usize);
                    let a = v.as_array().expect("an array frame").clone();
                    if a[0] != Value::from(id) {
                        continue; // a push, or an earlier request's late reply
                    }
                    return Some(match a.len() {
                        2 => Ok(a[1].clone()),
                        _ => Err(a[2].as_str().expect("error line").to_string()),
                    });
                }
            }
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// What docs/msgpack.md says the door sends for a RESP3 reply.
fn as_msgpack(r: &Resp) -> rmpv::Value {
    use rmpv::Value;
    let text = |b: &[u8]| match std::str::from_utf8(b) {
        Ok(s) => Value::from(s),
        Err(_) => Value::Binary(b.to_vec()),
    };
    match r {
        Resp::Simple(s) => Value::from(s.as_str()),
        Resp::Bulk(b) | Resp::Verbatim(_, b) => text(b),
        Resp::Int(n) => Value::from(*n),
        Resp::Double(d) => Value::F64(match d.as_str() {
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            d => d.parse().unwrap_or(f64::NAN),
        }),
        Resp::BigNumber(n) => Value::from(n.as_str()),
        Resp::Bool(b) => Value::Boolean(*b),
        Resp::Null | Resp::NullBulk | Resp::NullArray => Value::Nil,
        Resp::Array(a) | Resp::Set(a) | Resp::Push(a) => {
            Value::Array(a.iter().map(as_msgpack).collect())
        }
        Resp::Map(m) | Resp::Attribute(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (as_msgpack(k), as_msgpack(v)))
                .collect(),
        ),
        Resp::Error(e) => Value::Map(vec![(Value::from("$error"), Value::from(e.as_str()))]),
        Resp::BlobError(e) => Value::Map(vec![(
            Value::from("$error"),
            Value::from(String::from_utf8_lossy(e).as_ref()),
        )]),
    }
}

/// A MessagePack value with arrays' elements and maps' pairs in one order, floats by bits.
fn canon(v: &rmpv::Value) -> String {
    use rmpv::Value;
    match v {
        Value::Array(a) => {
            let mut items: Vec<String> = a.iter().map(canon).collect();
            items.sort();
            format!("[{}]", items.join(","))
        }
        Value::Map(m) => {
            let mut items: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}:{}", canon(k), canon(v)))
                .collect();
            items.sort();
            format!("{{{}}}", items.join(","))
        }
        Value::F64(f) => format!("f64:{:x}", f.to_bits()),
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// The WebSocket door (JSON) against RESP3

type Ws = tokio_tungstenite::tungstenite::WebSocket<TcpStream>;

/// A WebSocket-door connection speaking JSON, tolerant of blocking and closing.
struct WsConn {
    port: u16,
    ws: Ws,
    next_id: i64,
}

impl WsConn {
    fn open(port: u16) -> WsConn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect http");
        let url = format!("ws://127.0.0.1:{port}/ws");
        let (ws, _) = tokio_tungstenite::tungstenite::client(url, stream).expect("upgrade");
        WsConn {
            port,
            ws,
            next_id: 1,
        }
    }

    fn reopen(&mut self) {
        *self = WsConn::open(self.port);
    }

    /// The reply to `args` as `{"reply": ...}` or `{"error": ...}`; `None` when it blocks or
    /// the connection closed. Pushes are skipped.
    fn call(&mut self, args: &[&[u8]], wait: Duration) -> Option<serde_json::Value> {
        use serde_json::{json, Value};
        use tokio_tungstenite::tungstenite::Message;
        let id = self.next_id;
        self.next_id += 1;
        let cmd: Vec<Value> = args
            .iter()
            .map(|a| match std::str::from_utf8(a) {
                Ok(s) => json!(s),
                Err(_) => json!({ "$base64": base64_of(a) }),
            })
            .collect();
        let req = json!({ "id": id, "cmd": cmd }).to_string();
        self.ws.send(Message::text(req)).ok()?;
        self.ws
            .get_ref()
            .set_read_timeout(Some(wait))
            .expect("timeout");
        loop {
            let Ok(Message::Text(t)) = self.ws.read() else {
                return None;
            };
            let mut v: Value = serde_json::from_str(t.as_str()).expect("a JSON message");
            if v.get("id") == Some(&json!(id)) {
                v.as_object_mut().expect("an object").remove("id");
                return Some(v);
            }
        }
    }
}

fn base64_of(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// What docs/websocket.md says the JSON door sends for a RESP3 reply.
fn as_json(r: &Resp) -> serde_json::Value {
    use serde_json::{json, Value};
    let text = |b: &[u8]| match std::str::from_utf8(b) {
        Ok(s) => json!(s),
        Err(_) => json!({ "$base64": base64_of(b) }),
    };
    match r {
        Resp::Simple(s) => json!(s),
        Resp::Bulk(b) | Resp::Verbatim(_, b) => text(b),
        Resp::Int(n) => json!(n),
        Resp::Double(d) => match d.as_str() {
            "inf" | "-inf" | "nan" => json!(d),
            d => json!(d.parse::<f64>().expect("a double")),
        },
        Resp::BigNumber(n) => json!(n),
        Resp::Bool(b) => json!(b),
        Resp::Null | Resp::NullBulk | Resp::NullArray => Value::Null,
        Resp::Array(a) | Resp::Set(a) | Resp::Push(a) => {
            Value::Array(a.iter().map(as_json).collect())
        }
        Resp::Map(m) | Resp::Attribute(m) => {
            let string_keys: Option<serde_json::Map<String, Value>> = m
                .iter()
                .map(|(k, v)| match as_json(k) {
                    Value::String(s) => Some((s, as_json(v))),
                    _ => None,
                })
                .collect();
            match string_keys {
                Some(obj) => Value::Object(obj),
                None => {
                    json!({ "$map": m.iter().map(|(k, v)| json!([as_json(k), as_json(v)])).collect::<Vec<_>>() })
                }
            }
        }
        Resp::Error(e) => json!({ "$error": e }),
        Resp::BlobError(e) => json!({ "$error": String::from_utf8_lossy(e) }),
    }
}

/// A JSON value with arrays' elements in one order (objects are ordered by key already).
fn canon_json(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Array(a) => {
            let mut items: Vec<String> = a.iter().map(canon_json).collect();
            items.sort();
            format!("[{}]", items.join(","))
        }
        Value::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{k:?}:{}", canon_json(v)))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) => format!("f64:{:x}", f.to_bits()),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// The comparison of a door with RESP3

/// A front door whose replies are compared with RESP3's, in canonical text form.
trait Door: Sized {
    fn open(srv: &Server) -> Self;
    fn reopen(&mut self);
    /// The door's reply to `args`, or `None` when the call blocks or the connection closed.
    fn reply(&mut self, args: &[&[u8]], wait: Duration) -> Option<String>;
    /// What the door's documentation says RESP3's reply `r` becomes.
    fn expected(r: &Resp) -> String;
}

impl Door for MpConn {
    fn open(srv: &Server) -> Self {
        MpConn::open(srv.msgpack_port)
    }
    fn reopen(&mut self) {
        MpConn::reopen(self)
    }
    fn reply(&mut self, args: &[&[u8]], wait: Duration) -> Option<String> {
        Some(match self.call(args, wait)? {
            Ok(v) => format!("ok {}", canon(&v)),
            Err(e) => format!("error {e}"),
        })
    }
    fn expected(r: &Resp) -> String {
        match r {
            Resp::Error(e) => format!("error {e}"),
            other => format!("ok {}", canon(&as_msgpack(other))),
        }
    }
}

impl Door for WsConn {
    fn open(srv: &Server) -> Self {
        WsConn::open(srv.http_port)
    }
    fn reopen(&mut self) {
        WsConn::reopen(self)
    }
    fn reply(&mut self, args: &[&[u8]], wait: Duration) -> Option<String> {
        Some(canon_json(&self.call(args, wait)?))
    }
    fn expected(r: &Resp) -> String {
        canon_json(&match r {
            Resp::Error(e) => serde_json::json!({ "error": e }),
            other => serde_json::json!({ "reply": as_json(other) }),
        })
    }
}

/// Two servers seeded alike, one driven through RESP3 and one through door `D`, get the same
/// random calls; every door reply must be what its documentation maps the RESP3 reply to.
fn compare_door<D: Door>(door: &str, salt: u64) {
    let seed = seed();
    let calls = calls(3000);
    let (resp_srv, door_srv) = (Server::start_doors(&[]), Server::start_doors(&[]));
    let mut rc = Conn::open(resp_srv.port());
    rc.hello3();
    let mut seeder = Conn::open(door_srv.port());
    let mut dc = D::open(&door_srv);
    let mut specs = command_specs(&mut rc);
    specs.retain(compared);
    let mut rng = Rng::new(seed ^ salt);
    let (mut diffs, mut done) = (Vec::new(), 0);
    for n in 0..calls {
        if n % 300 == 0 {
            reseed([&mut rc, &mut seeder]);
        }
        let Some(call) = comparable_call(&mut rng, &specs) else {
            continue;
        };
        let args: Vec<&[u8]> = call.iter().map(|a| a.as_slice()).collect();
        let wait = Duration::from_millis(200);
        let (Some(r), Some(got)) = (rc.call(&args, wait), dc.reply(&args, wait)) else {
            rc.reopen();
            dc.reopen();
            continue;
        };
        done += 1;
        if D::expected(&r) != got {
            diffs.push(format!(
                "{:?}\n  resp3: {r:?}\n  {door}: {got}",
                show(&args)
            ));
            reseed([&mut rc, &mut seeder]);
        }
    }
    eprintln!("{done} of {calls} calls compared");
    assert!(
        done > calls / 2,
        "only {done} calls got replies on both doors"
    );
    assert!(
        diffs.is_empty(),
        "{} {door} replies differ from RESP3's (seed {seed}):\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn random_calls_get_the_same_values_over_msgpack_as_over_resp3() {
    if common::eddy_only("random_calls_get_the_same_values_over_msgpack_as_over_resp3") {
        compare_door::<MpConn>("msgpack", 0x4D50);
    }
}

#[test]
fn random_calls_get_the_same_values_over_websocket_json_as_over_resp3() {
    if common::eddy_only("random_calls_get_the_same_values_over_websocket_json_as_over_resp3") {
        compare_door::<WsConn>("json", 0x5753);
    }
}
