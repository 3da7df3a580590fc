//! Whole-table checks (names, arities, key positions, syntax strings, a recorded change for every
//! write command) and the COMMAND introspection replies, run in-process through `exec_one`.

use super::introspection::{parse_syntax, render_hint, Arg, ArgType, SyntaxCx};
use super::*;
use crate::config::Config;
use crate::server::conn::exec_one;
use crate::server::session::Session;

fn server() -> (Server, Session) {
    let srv = Server::new(Config::defaults());
    let info = srv
        .clients
        .register(srv.clients.next_id(), "test".into(), "test".into());
    let sess = Session::new(info, true);
    (srv, sess)
}

fn run(srv: &Server, sess: &mut Session, argv: &[&[u8]]) -> Vec<u8> {
    exec_one(srv, sess, argv)
}

/// Runs a space-separated command line (no argument contains a space).
/// A function library for the FUNCTION examples: `$LIB` in a line stands for it (its code has
/// spaces and a newline).
const LIB: &str = "#!lua name=lib\nredis.register_function('f', function() return 1 end)";

fn line(srv: &Server, sess: &mut Session, l: &str) -> Vec<u8> {
    let argv: Vec<&[u8]> = l
        .split_whitespace()
        .map(|w| if w == "$LIB" { LIB } else { w }.as_bytes())
        .collect();
    run(srv, sess, &argv)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// -------------------------------------------------------------------------------------------
// A small RESP reader for the replies under test.

#[derive(Debug, Clone, PartialEq)]
enum V {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<V>),
    Set(Vec<V>),
    Map(Vec<(V, V)>),
}

impl V {
    fn str(&self) -> &str {
        match self {
            V::Simple(s) => s,
            V::Bulk(b) => std::str::from_utf8(b).expect("utf-8 bulk"),
            other => panic!("not a string: {other:?}"),
        }
    }

    fn items(&self) -> &[V] {
        match self {
            V::Array(v) | V::Set(v) => v,
            other => panic!("not an array: {other:?}"),
        }
    }

    /// Key/value pairs of a RESP3 map or of a RESP2 flat array.
    fn pairs(&self) -> Vec<(&V, &V)> {
        match self {
            V::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
            V::Array(v) => {
                assert!(v.len().is_multiple_of(2), "odd map array: {v:?}");
                v.chunks(2).map(|c| (&c[0], &c[1])).collect()
            }
            other => panic!("not a map: {other:?}"),
        }
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.pairs()
            .into_iter()
            .find(|(k, _)| k.str() == key)
            .map(|(_, v)| v)
    }
}

fn parse(b: &[u8]) -> V {
    let (v, used) = parse_at(b, 0);
    assert_eq!(used, b.len(), "trailing bytes after reply: {}", text(b));
    v
}

fn parse_at(b: &[u8], at: usize) -> (V, usize) {
    let end = at + b[at..].windows(2).position(|w| w == b"\r\n").expect("CRLF");
    let head = std::str::from_utf8(&b[at + 1..end]).expect("utf-8 header");
    let next = end + 2;
    let n = || head.parse::<i64>().expect("length");
    let many = |count: i64, mut pos: usize| {
        let mut v = Vec::new();
        for _ in 0..count {
            let (x, p) = parse_at(b, pos);
            v.push(x);
            pos = p;
        }
        (v, pos)
    };
    match b[at] {
        b'+' => (V::Simple(head.into()), next),
        b'-' => (V::Error(head.into()), next),
        b':' => (V::Int(n()), next),
        b'_' => (V::Null, next),
        b'$' if n() < 0 => (V::Null, next),
        b'*' if n() < 0 => (V::Null, next),
        b'$' => {
            let len = n() as usize;
            (V::Bulk(b[next..next + len].to_vec()), next + len + 2)
        }
        b'*' => {
            let (v, p) = many(n(), next);
            (V::Array(v), p)
        }
        b'~' => {
            let (v, p) = many(n(), next);
            (V::Set(v), p)
        }
        b'%' => {
            let (v, p) = many(2 * n(), next);
            let mut it = v.into_iter();
            let mut m = Vec::new();
            while let (Some(k), Some(x)) = (it.next(), it.next()) {
                m.push((k, x));
            }
            (V::Map(m), p)
        }
        c => panic!("unexpected reply type {:?} in {}", c as char, text(b)),
    }
}

// -------------------------------------------------------------------------------------------
// The table.

fn all_ids() -> std::ops::Range<usize> {
    0..table().specs.len()
}

/// How many leading arguments name the command: 1, or 2 for a subcommand.
fn base(id: usize) -> i32 {
    if table().full_names[id].contains('|') {
        2
    } else {
        1
    }
}

#[test]
fn names_are_unique_and_lower_case() {
    let t = table();
    let mut seen = std::collections::HashSet::new();
    for id in all_ids() {
        let full = &t.full_names[id];
        assert!(seen.insert(full.clone()), "duplicate command {full}");
        let name = t.specs[id].name;
        assert!(!name.is_empty(), "empty name in {full}");
        assert!(
            !name
                .bytes()
                .any(|c| c.is_ascii_uppercase() || c == b' ' || c == b'|'),
            "name must be lower-case, without spaces or '|': {full}"
        );
        assert!(name.len() <= 32, "longer than the lookup buffer: {full}");
        let upper = name.to_ascii_uppercase();
        let found = match full.split_once('|') {
            None => t.lookup(upper.as_bytes()),
            Some((top, _)) => t
                .lookup(top.as_bytes())
                .and_then(|p| t.lookup_sub(p, upper.as_bytes())),
        };
        assert_eq!(found, Some(id), "{full} is not found by its name");
    }
    assert_eq!(
        t.top_level().len() + t.specs.iter().map(|s| s.subcommands.len()).sum::<usize>(),
        t.specs.len()
    );
}

#[test]
fn arities_and_key_positions_are_consistent() {
    let t = table();
    for id in all_ids() {
        let (s, full) = (t.specs[id], &t.full_names[id]);
        assert_ne!(s.arity, 0, "{full}: arity 0");
        let min_argc = s.arity.abs();
        assert!(
            min_argc >= base(id),
            "{full}: arity {} below its own name",
            s.arity
        );
        if !s.subcommands.is_empty() {
            assert_eq!(
                s.keys,
                (0, 0, 0),
                "{full}: a container has no keys of its own"
            );
        }
        let (first, last, step) = s.keys;
        if first == 0 {
            assert_eq!(
                (last, step),
                (0, 0),
                "{full}: no first key but last/step set"
            );
            continue;
        }
        assert!(
            first >= base(id),
            "{full}: first key {first} overlaps the command name"
        );
        assert!(step > 0, "{full}: key step must be positive");
        if full == "sunsubscribe" {
            // Redis declares SUNSUBSCRIBE's optional shard channels as keys: a call may
            // have none.
            assert_eq!((first, last, s.arity), (1, -1, -1), "{full}");
            continue;
        }
        assert!(
            first < min_argc,
            "{full}: first key {first} beyond arity {}",
            s.arity
        );
        if last >= 0 {
            assert!(
                last >= first,
                "{full}: last key {last} before first {first}"
            );
            assert!(
                last < min_argc,
                "{full}: last key {last} beyond arity {}",
                s.arity
            );
        } else {
            assert!(
                s.arity < 0,
                "{full}: negative last key needs a variable arity"
            );
            assert!(
                min_argc + last >= first,
                "{full}: last key {last} can fall before the first"
            );
        }
        // The legacy positions of the smallest valid call are all real arguments.
        let pos = s.key_positions(min_argc as usize);
        assert!(!pos.is_empty(), "{full}: no key in a minimal call");
        assert!(
            pos.iter()
                .all(|&p| p >= first as usize && p < min_argc as usize),
            "{full}: {pos:?}"
        );
    }
}

#[test]
fn write_and_readonly_flags_are_exclusive() {
    let t = table();
    for id in all_ids() {
        let s = t.specs[id];
        assert!(
            !(s.flags & flag::WRITE != 0 && s.flags & flag::READONLY != 0),
            "{}: both write and readonly",
            t.full_names[id]
        );
    }
}

/// (min, max) number of words an argument tree accepts; `None` = unbounded.
fn span(args: &[Arg]) -> (usize, Option<usize>) {
    fn one(a: &Arg) -> (usize, Option<usize>) {
        let tok = usize::from(a.token.is_some() && a.kind != ArgType::PureToken);
        let (lo, hi) = match a.kind {
            ArgType::Block => span(&a.args),
            ArgType::OneOf => {
                let spans: Vec<_> = a.args.iter().map(one).collect();
                let lo = spans.iter().map(|s| s.0).min().unwrap_or(0);
                let hi = spans.iter().try_fold(0, |m, s| s.1.map(|h| h.max(m)));
                (lo, hi)
            }
            _ => (1, Some(1)),
        };
        let (lo, hi) = (lo + tok, hi.map(|h| h + tok));
        let hi = if a.multiple { None } else { hi };
        (if a.optional { 0 } else { lo }, hi)
    }
    args.iter().map(one).fold((0, Some(0)), |(lo, hi), (l, h)| {
        (lo + l, hi.zip(h).map(|(a, b)| a + b))
    })
}

fn cx(id: usize) -> SyntaxCx {
    SyntaxCx::of(table().specs[id], &table().full_names[id])
}

#[test]
fn syntax_strings_agree_with_arity() {
    let t = table();
    for id in all_ids() {
        let (s, full) = (t.specs[id], &t.full_names[id]);
        if !s.subcommands.is_empty() {
            continue;
        }
        let args = parse_syntax(s.syntax, &cx(id));
        let (lo, hi) = span(&args);
        let need = (s.arity.abs() - base(id)) as usize;
        assert!(
            lo <= need,
            "{full}: syntax {:?} needs {lo} arguments, arity {} allows {need}",
            s.syntax,
            s.arity
        );
        // A variable arity may be lenient beyond the syntax (Redis's QUIT is -1).
        if s.arity > 0 {
            assert!(
                hi.is_none_or(|h| h >= need),
                "{full}: syntax {:?} takes at most {hi:?} arguments, arity {} needs {need}",
                s.syntax,
                s.arity
            );
        }
    }
}

/// The words of a syntax string or hint, each once, in order of first appearance.
fn words(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let spaced: String = s
        .chars()
        .map(|c| if "[]<>|".contains(c) { ' ' } else { c })
        .collect();
    for w in spaced.replace("...", " ").split_whitespace() {
        if !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
    }
    out
}

#[test]
fn every_syntax_yields_a_hint_with_the_same_words() {
    let t = table();
    for id in all_ids() {
        let s = t.specs[id];
        let args = parse_syntax(s.syntax, &cx(id));
        let hint = render_hint(&args);
        assert_eq!(
            words(&hint),
            words(s.syntax),
            "{}: hint {hint:?} from {:?}",
            t.full_names[id],
            s.syntax
        );
        fn no_empty_groups(a: &[Arg]) -> bool {
            a.iter().all(|x| {
                (!matches!(x.kind, ArgType::OneOf | ArgType::Block) || !x.args.is_empty())
                    && no_empty_groups(&x.args)
            })
        }
        assert!(no_empty_groups(&args), "{}", t.full_names[id]);
    }
}

// -------------------------------------------------------------------------------------------
// Every write command records a change.

/// (full command name, setup lines, command line). `$DUMP` in the command line is replaced by
/// the reply of the last setup line (a bulk string).
const EXAMPLES: &[(&str, &[&str], &str)] = &[
    // strings
    ("set", &[], "SET k v"),
    ("setnx", &[], "SETNX k v"),
    ("setex", &[], "SETEX k 100 v"),
    ("psetex", &[], "PSETEX k 100000 v"),
    ("mset", &[], "MSET a 1 b 2"),
    ("msetnx", &[], "MSETNX a 1 b 2"),
    ("getset", &[], "GETSET k v"),
    ("getdel", &["SET k v"], "GETDEL k"),
    ("getex", &["SET k v"], "GETEX k EX 100"),
    ("append", &[], "APPEND k v"),
    ("incr", &[], "INCR n"),
    ("decr", &[], "DECR n"),
    ("incrby", &[], "INCRBY n 5"),
    ("decrby", &[], "DECRBY n 5"),
    ("incrbyfloat", &[], "INCRBYFLOAT n 1.5"),
    ("setrange", &[], "SETRANGE k 3 abc"),
    // bitmaps and sort
    ("setbit", &[], "SETBIT b 7 1"),
    ("bitop", &["SET a x"], "BITOP NOT d a"),
    ("bitfield", &[], "BITFIELD b SET u8 0 200"),
    ("sort", &["RPUSH l 3 1 2"], "SORT l STORE d"),
    // hyperloglog
    ("pfadd", &[], "PFADD h a b"),
    ("pfmerge", &["PFADD h a", "PFADD g b"], "PFMERGE d h g"),
    ("pfdebug", &["PFADD h a"], "PFDEBUG TODENSE h"),
    // keys
    ("del", &["SET k v"], "DEL k"),
    ("unlink", &["SET k v"], "UNLINK k"),
    ("rename", &["SET k v"], "RENAME k k2"),
    ("renamenx", &["SET k v"], "RENAMENX k k2"),
    ("copy", &["SET k v"], "COPY k k2"),
    ("expire", &["SET k v"], "EXPIRE k 100"),
    ("pexpire", &["SET k v"], "PEXPIRE k 100000"),
    ("expireat", &["SET k v"], "EXPIREAT k 4102444800"),
    ("pexpireat", &["SET k v"], "PEXPIREAT k 4102444800000"),
    ("persist", &["SET k v EX 100"], "PERSIST k"),
    ("restore", &["SET k v", "DUMP k"], "RESTORE k2 0 $DUMP"),
    (
        "restore-asking",
        &["SET k v", "DUMP k"],
        "RESTORE-ASKING k2 0 $DUMP",
    ),
    // function libraries (records without a key)
    ("function|load", &[], "FUNCTION LOAD $LIB"),
    (
        "function|delete",
        &["FUNCTION LOAD $LIB"],
        "FUNCTION DELETE lib",
    ),
    ("function|flush", &["FUNCTION LOAD $LIB"], "FUNCTION FLUSH"),
    (
        "function|restore",
        &["FUNCTION LOAD $LIB", "FUNCTION DUMP"],
        "FUNCTION RESTORE $DUMP REPLACE",
    ),
    ("move", &["SET k v"], "MOVE k 1"),
    // hashes
    ("hset", &[], "HSET h f v"),
    ("hsetnx", &[], "HSETNX h f v"),
    ("hmset", &[], "HMSET h f v g w"),
    ("hdel", &["HSET h f v g w"], "HDEL h f"),
    ("hincrby", &[], "HINCRBY h n 5"),
    ("hincrbyfloat", &[], "HINCRBYFLOAT h n 1.5"),
    // streams
    ("xadd", &[], "XADD s 1-1 f v"),
    ("xdel", &["XADD s 1-1 f v"], "XDEL s 1-1"),
    ("xtrim", &["XADD s 1-1 f v"], "XTRIM s MAXLEN 0"),
    ("xsetid", &["XADD s 1-1 f v"], "XSETID s 5-5"),
    ("xgroup|create", &[], "XGROUP CREATE s g $ MKSTREAM"),
    (
        "xgroup|setid",
        &["XGROUP CREATE s g $ MKSTREAM"],
        "XGROUP SETID s g 0",
    ),
    (
        "xgroup|destroy",
        &["XGROUP CREATE s g $ MKSTREAM"],
        "XGROUP DESTROY s g",
    ),
    (
        "xgroup|createconsumer",
        &["XGROUP CREATE s g $ MKSTREAM"],
        "XGROUP CREATECONSUMER s g c",
    ),
    (
        "xgroup|delconsumer",
        &[
            "XGROUP CREATE s g $ MKSTREAM",
            "XGROUP CREATECONSUMER s g c",
        ],
        "XGROUP DELCONSUMER s g c",
    ),
    (
        "xreadgroup",
        &["XADD s 1-1 f v", "XGROUP CREATE s g 0"],
        "XREADGROUP GROUP g c STREAMS s >",
    ),
    (
        "xack",
        &[
            "XADD s 1-1 f v",
            "XGROUP CREATE s g 0",
            "XREADGROUP GROUP g c STREAMS s >",
        ],
        "XACK s g 1-1",
    ),
    (
        "xclaim",
        &[
            "XADD s 1-1 f v",
            "XGROUP CREATE s g 0",
            "XREADGROUP GROUP g c STREAMS s >",
        ],
        "XCLAIM s g d 0 1-1",
    ),
    (
        "xautoclaim",
        &[
            "XADD s 1-1 f v",
            "XGROUP CREATE s g 0",
            "XREADGROUP GROUP g c STREAMS s >",
        ],
        "XAUTOCLAIM s g d 0 0",
    ),
    // sets
    ("sadd", &[], "SADD s a b"),
    ("srem", &["SADD s a b"], "SREM s a"),
    ("spop", &["SADD s a b"], "SPOP s"),
    ("smove", &["SADD s a b"], "SMOVE s t a"),
    (
        "sinterstore",
        &["SADD s a b", "SADD t b"],
        "SINTERSTORE d s t",
    ),
    ("sunionstore", &["SADD s a b"], "SUNIONSTORE d s t"),
    ("sdiffstore", &["SADD s a b"], "SDIFFSTORE d s t"),
    ("swapdb", &["SET k v"], "SWAPDB 0 1"),
    ("flushdb", &["SET k v"], "FLUSHDB"),
    ("flushall", &["SET k v"], "FLUSHALL"),
    // lists
    ("lpush", &[], "LPUSH l a b"),
    ("rpush", &[], "RPUSH l a b"),
    ("lpushx", &["RPUSH l a"], "LPUSHX l b"),
    ("rpushx", &["RPUSH l a"], "RPUSHX l b"),
    ("lpop", &["RPUSH l a b"], "LPOP l"),
    ("rpop", &["RPUSH l a b"], "RPOP l 2"),
    ("lset", &["RPUSH l a b"], "LSET l -1 c"),
    ("linsert", &["RPUSH l a b"], "LINSERT l BEFORE b c"),
    ("lrem", &["RPUSH l a b a"], "LREM l 0 a"),
    ("ltrim", &["RPUSH l a b c"], "LTRIM l 1 -1"),
    ("lmove", &["RPUSH l a b"], "LMOVE l m LEFT RIGHT"),
    ("rpoplpush", &["RPUSH l a b"], "RPOPLPUSH l m"),
    ("lmpop", &["RPUSH l a b"], "LMPOP 2 x l RIGHT COUNT 5"),
    ("blpop", &["RPUSH l a"], "BLPOP x l 0"),
    ("brpop", &["RPUSH l a"], "BRPOP l 0"),
    ("blmove", &["RPUSH l a"], "BLMOVE l l LEFT RIGHT 0"),
    ("brpoplpush", &["RPUSH l a"], "BRPOPLPUSH l m 1"),
    ("blmpop", &["RPUSH l a"], "BLMPOP 0.5 1 l LEFT"),
    // sorted sets
    ("zadd", &[], "ZADD z 1 a 2 b"),
    ("zincrby", &[], "ZINCRBY z 1.5 a"),
    ("zrem", &["ZADD z 1 a 2 b"], "ZREM z a"),
    ("zrangestore", &["ZADD z 1 a 2 b"], "ZRANGESTORE d z 0 -1"),
    ("zpopmin", &["ZADD z 1 a 2 b"], "ZPOPMIN z"),
    ("zpopmax", &["ZADD z 1 a 2 b"], "ZPOPMAX z 2"),
    ("zmpop", &["ZADD z 1 a 2 b"], "ZMPOP 2 x z MIN COUNT 5"),
    (
        "zremrangebyrank",
        &["ZADD z 1 a 2 b"],
        "ZREMRANGEBYRANK z 0 0",
    ),
    (
        "zremrangebyscore",
        &["ZADD z 1 a 2 b"],
        "ZREMRANGEBYSCORE z (1 +inf",
    ),
    (
        "zremrangebylex",
        &["ZADD z 0 a 0 b"],
        "ZREMRANGEBYLEX z - [a",
    ),
    (
        "zunionstore",
        &["ZADD z 1 a", "ZADD y 2 b"],
        "ZUNIONSTORE d 2 z y",
    ),
    (
        "zinterstore",
        &["ZADD z 1 a", "ZADD y 2 a"],
        "ZINTERSTORE d 2 z y WEIGHTS 1 2",
    ),
    (
        "zdiffstore",
        &["ZADD z 1 a 2 b", "ZADD y 2 a"],
        "ZDIFFSTORE d 2 z y",
    ),
    ("bzpopmin", &["ZADD z 1 a 2 b"], "BZPOPMIN x z 0"),
    ("bzpopmax", &["ZADD z 1 a 2 b"], "BZPOPMAX z 1"),
    ("bzmpop", &["ZADD z 1 a 2 b"], "BZMPOP 0 1 z MAX COUNT 2"),
    // geo
    ("geoadd", &[], "GEOADD g 13.361389 38.115556 a"),
    (
        "geosearchstore",
        &["GEOADD g 13.361389 38.115556 a"],
        "GEOSEARCHSTORE d g FROMMEMBER a BYRADIUS 1 km",
    ),
    (
        "georadius",
        &["GEOADD g 13.361389 38.115556 a"],
        "GEORADIUS g 13.36 38.11 10 km STORE d",
    ),
    (
        "georadiusbymember",
        &["GEOADD g 13.361389 38.115556 a"],
        "GEORADIUSBYMEMBER g a 1 km STOREDIST d",
    ),
];

#[test]
fn every_write_command_has_an_example() {
    let t = table();
    let missing: Vec<&str> = all_ids()
        .filter(|&id| t.specs[id].is_write())
        .map(|id| t.full_names[id].as_str())
        // MIGRATE records its deletions after a transfer over the network, which these
        // in-process runs cannot make: `tests/keys.rs` checks its records against a real target.
        .filter(|name| *name != "migrate")
        .filter(|name| !EXAMPLES.iter().any(|e| e.0 == *name))
        .collect();
    assert!(
        missing.is_empty(),
        "write commands without an entry in EXAMPLES: {missing:?}"
    );
    for (name, _, _) in EXAMPLES {
        let id = t.full_names.iter().position(|n| n == name);
        let id = id.unwrap_or_else(|| panic!("EXAMPLES names unknown command {name}"));
        assert!(
            t.specs[id].is_write(),
            "EXAMPLES entry {name} is not a write command"
        );
    }
}

#[test]
fn every_write_example_records_a_change() {
    for (name, setup, cmd) in EXAMPLES {
        let (srv, mut sess) = server();
        let mut last = Vec::new();
        for l in *setup {
            last = line(&srv, &mut sess, l);
            assert!(
                !last.starts_with(b"-"),
                "{name}: setup {l:?} failed: {}",
                text(&last)
            );
        }
        let before = srv.log.last_offset();
        let reply = if cmd.contains("$DUMP") {
            let payload = match parse(&last) {
                V::Bulk(b) => b,
                other => panic!("{name}: expected a bulk from setup, got {other:?}"),
            };
            let mut argv: Vec<Vec<u8>> = cmd
                .split_whitespace()
                .map(|w| w.as_bytes().to_vec())
                .collect();
            for a in argv.iter_mut() {
                if a == b"$DUMP" {
                    *a = payload.clone();
                }
            }
            let refs: Vec<&[u8]> = argv.iter().map(Vec::as_slice).collect();
            run(&srv, &mut sess, &refs)
        } else {
            line(&srv, &mut sess, cmd)
        };
        assert!(
            !reply.starts_with(b"-"),
            "{name}: {cmd:?} failed: {}",
            text(&reply)
        );
        assert!(
            srv.log.last_offset() > before,
            "{name}: {cmd:?} recorded no change (reply {})",
            text(&reply)
        );
    }
}

// -------------------------------------------------------------------------------------------
// COMMAND and its subcommands.

/// Real Redis 7.0.15's `COMMAND INFO get`, RESP2 and RESP3.
const REDIS_INFO_GET_RESP2: &[u8] = b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n";
const REDIS_INFO_GET_RESP3: &[u8] = b"*1\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n~1\r\n%3\r\n$5\r\nflags\r\n~2\r\n+RO\r\n+access\r\n$12\r\nbegin_search\r\n%2\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n%1\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n%2\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n%3\r\n$7\r\nlastkey\r\n:0\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n~0\r\n";

#[test]
fn command_info_matches_redis() {
    let (srv, mut sess) = server();
    assert_eq!(
        text(&line(&srv, &mut sess, "COMMAND INFO get")),
        text(REDIS_INFO_GET_RESP2)
    );
    assert_eq!(
        text(&line(&srv, &mut sess, "command info GET")),
        text(REDIS_INFO_GET_RESP2)
    );
    let r = line(&srv, &mut sess, "HELLO 3");
    assert!(!r.starts_with(b"-"), "{}", text(&r));
    assert_eq!(
        text(&line(&srv, &mut sess, "COMMAND INFO get")),
        text(REDIS_INFO_GET_RESP3)
    );

    let (srv, mut sess) = server();
    let v = parse(&line(
        &srv,
        &mut sess,
        "COMMAND INFO mset nosuch set config|get",
    ));
    let e = v.items();
    assert_eq!(e.len(), 4);
    let mset = e[0].items();
    assert_eq!(mset.len(), 10);
    assert_eq!(mset[0].str(), "mset");
    assert_eq!(mset[1], V::Int(-3));
    assert_eq!(&mset[3..6], &[V::Int(1), V::Int(-1), V::Int(2)]);
    let flags: Vec<&str> = mset[2].items().iter().map(V::str).collect();
    assert_eq!(flags, ["write", "denyoom"]);
    let spec = &mset[8].items()[0];
    let find = spec.get("find_keys").expect("find_keys");
    let range = find.get("spec").expect("spec");
    assert_eq!(range.get("lastkey"), Some(&V::Int(-1)));
    assert_eq!(range.get("keystep"), Some(&V::Int(2)));
    assert_eq!(e[1], V::Null);
    assert_eq!(e[2].items()[0].str(), "set");
    let cg = e[3].items();
    assert_eq!(cg[0].str(), "config|get");
    assert!(
        matches!(cg[2].items()[0], V::Simple(_)),
        "flags are status replies"
    );
}

/// Real Redis 7.0.15's `COMMAND INFO watch exec`: WATCH's key spec is a bare `RO`, and EXEC
/// shows no trace of Eddy's internal EXCLUSIVE flag.
const REDIS_INFO_WATCH_EXEC: &[u8] = b"*2\r\n*10\r\n$5\r\nwatch\r\n:-2\r\n*5\r\n+noscript\r\n+loading\r\n+stale\r\n+fast\r\n+allow_busy\r\n:1\r\n:-1\r\n:1\r\n*2\r\n+@fast\r\n+@transaction\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*1\r\n+RO\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$5\r\nrange\r\n$4\r\nspec\r\n*6\r\n$7\r\nlastkey\r\n:-1\r\n$7\r\nkeystep\r\n:1\r\n$5\r\nlimit\r\n:0\r\n*0\r\n*10\r\n$4\r\nexec\r\n:1\r\n*4\r\n+noscript\r\n+loading\r\n+stale\r\n+skip_slowlog\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@slow\r\n+@transaction\r\n*0\r\n*0\r\n*0\r\n";

#[test]
fn command_info_of_transaction_commands_matches_redis() {
    let (srv, mut sess) = server();
    assert_eq!(
        text(&line(&srv, &mut sess, "COMMAND INFO watch exec")),
        text(REDIS_INFO_WATCH_EXEC)
    );
}

#[test]
fn command_info_of_command_lists_subcommands() {
    let (srv, mut sess) = server();
    let v = parse(&line(&srv, &mut sess, "COMMAND INFO command"));
    let c = v.items()[0].items();
    assert_eq!(c[0].str(), "command");
    assert_eq!(c[1], V::Int(-1));
    let flags: Vec<&str> = c[2].items().iter().map(V::str).collect();
    assert_eq!(flags, ["loading", "stale"]);
    let cats: Vec<&str> = c[6].items().iter().map(V::str).collect();
    assert_eq!(cats, ["@slow", "@connection"]);
    let mut subs: Vec<(String, i64)> = c[9]
        .items()
        .iter()
        .map(|s| {
            (
                s.items()[0].str().to_string(),
                match s.items()[1] {
                    V::Int(n) => n,
                    _ => 0,
                },
            )
        })
        .collect();
    subs.sort();
    let want: Vec<(String, i64)> = [
        ("command|count", 2),
        ("command|docs", -2),
        ("command|getkeys", -4),
        ("command|getkeysandflags", -4),
        ("command|help", 2),
        ("command|info", -2),
        ("command|list", -2),
    ]
    .iter()
    .map(|(n, a)| (n.to_string(), *a))
    .collect();
    assert_eq!(subs, want);
}

#[test]
fn command_count_and_list() {
    let (srv, mut sess) = server();
    let t = table();
    assert_eq!(
        parse(&line(&srv, &mut sess, "COMMAND COUNT")),
        V::Int(t.top_level().len() as i64)
    );
    let all = parse(&line(&srv, &mut sess, "COMMAND LIST"));
    let names: Vec<&str> = all.items().iter().map(V::str).collect();
    assert_eq!(names.len(), t.specs.len());
    assert!(names.contains(&"get") && names.contains(&"command|docs"));

    let v = parse(&line(
        &srv,
        &mut sess,
        "COMMAND LIST FILTERBY PATTERN command|c*",
    ));
    let names: Vec<&str> = v.items().iter().map(V::str).collect();
    assert_eq!(names, ["command|count"]);
    let v = parse(&line(
        &srv,
        &mut sess,
        "COMMAND LIST filterby aclcat STRING",
    ));
    let names: Vec<&str> = v.items().iter().map(V::str).collect();
    assert!(names.contains(&"get") && names.contains(&"mset") && !names.contains(&"del"));
    assert_eq!(
        parse(&line(
            &srv,
            &mut sess,
            "COMMAND LIST FILTERBY ACLCAT @string"
        )),
        V::Array(vec![])
    );
    assert_eq!(
        parse(&line(&srv, &mut sess, "COMMAND LIST FILTERBY MODULE x")),
        V::Array(vec![])
    );
    for bad in [
        "COMMAND LIST FILTERBY",
        "COMMAND LIST foo",
        "COMMAND LIST FILTERBY foo bar",
    ] {
        assert_eq!(
            text(&line(&srv, &mut sess, bad)),
            "-ERR syntax error\r\n",
            "{bad}"
        );
    }
}

#[test]
fn command_getkeys() {
    let (srv, mut sess) = server();
    let keys = |sess: &mut Session, l: &str| text(&line(&srv, sess, l));
    assert_eq!(
        keys(&mut sess, "COMMAND GETKEYS MSET a b c d"),
        "*2\r\n$1\r\na\r\n$1\r\nc\r\n"
    );
    assert_eq!(
        keys(&mut sess, "COMMAND GETKEYS set k v EX 10"),
        "*1\r\n$1\r\nk\r\n"
    );
    assert_eq!(
        keys(&mut sess, "COMMAND GETKEYS OBJECT ENCODING k"),
        "*1\r\n$1\r\nk\r\n"
    );
    assert_eq!(
        keys(&mut sess, "COMMAND GETKEYSANDFLAGS MGET a b"),
        "*2\r\n*2\r\n$1\r\na\r\n*2\r\n+RO\r\n+access\r\n*2\r\n$1\r\nb\r\n*2\r\n+RO\r\n+access\r\n"
    );
    let err = |sess: &mut Session, l: &str| keys(sess, l);
    assert_eq!(
        err(&mut sess, "COMMAND GETKEYS PING x"),
        "-ERR The command has no key arguments\r\n"
    );
    assert_eq!(
        err(&mut sess, "COMMAND GETKEYS nosuch a"),
        "-ERR Invalid command specified\r\n"
    );
    assert_eq!(
        err(&mut sess, "COMMAND GETKEYS OBJECT foo k"),
        "-ERR Invalid command specified\r\n"
    );
    assert_eq!(
        err(&mut sess, "COMMAND GETKEYS CONFIG GET"),
        "-ERR The command has no key arguments\r\n"
    );
    assert_eq!(
        err(&mut sess, "COMMAND GETKEYS GET a b"),
        "-ERR Invalid number of arguments specified for command\r\n"
    );
    assert_eq!(
        err(&mut sess, "COMMAND GETKEYS GET"),
        "-ERR wrong number of arguments for 'command|getkeys' command\r\n"
    );
}

#[test]
fn command_help_and_unknown_subcommand() {
    let (srv, mut sess) = server();
    let v = parse(&line(&srv, &mut sess, "COMMAND HELP"));
    let lines = v.items();
    assert!(lines.iter().all(|l| matches!(l, V::Simple(_))));
    assert_eq!(
        lines[0].str(),
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    );
    assert_eq!(lines.last().map(V::str), Some("    Prints this help."));
    assert_eq!(
        text(&line(&srv, &mut sess, "COMMAND FOO")),
        "-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n"
    );
    assert_eq!(
        text(&line(&srv, &mut sess, "COMMAND COUNT x")),
        "-ERR wrong number of arguments for 'command|count' command\r\n"
    );
}

#[test]
fn bare_command_is_command_info_of_everything() {
    let (srv, mut sess) = server();
    let bare = line(&srv, &mut sess, "COMMAND");
    let info = line(&srv, &mut sess, "COMMAND INFO");
    assert!(
        bare == info,
        "bare COMMAND differs from COMMAND INFO: {}",
        text(&bare[..bare.len().min(200)])
    );
    assert_eq!(parse(&bare).items().len(), table().top_level().len());
}

/// redis-cli 7.0's `cliAddArgument`, over the parsed reply, with its assertions on the shape.
fn cli_hint(args: &V) -> String {
    fn one(arg: &V) -> String {
        let (mut name, mut ty, mut token) = (None, None, String::new());
        let (mut optional, mut multiple, mut multiple_token) = (false, false, false);
        let mut nested = None;
        for (k, v) in arg.pairs() {
            assert!(matches!(k, V::Bulk(_)), "argument keys are strings: {k:?}");
            match k.str() {
                "name" => name = Some(v.str().to_string()),
                "type" => ty = Some(v.str().to_string()),
                "token" => {
                    assert!(matches!(v, V::Bulk(_)));
                    token = v.str().to_string();
                }
                "arguments" => nested = Some(v.clone()),
                "flags" => {
                    for f in v.items() {
                        assert!(matches!(f, V::Simple(_)), "flags are status replies: {f:?}");
                        match f.str() {
                            "optional" => optional = true,
                            "multiple" => multiple = true,
                            "multiple_token" => multiple_token = true,
                            other => panic!("unknown flag {other}"),
                        }
                    }
                }
                "key_spec_index" => assert!(matches!(v, V::Int(_))),
                other => panic!("unexpected argument field {other}"),
            }
        }
        let name = name.expect("argument without a name");
        let ty = ty.expect("argument without a type (redis-cli would crash)");
        let repeat = match ty.as_str() {
            "key" | "string" | "integer" | "double" | "pattern" | "unix-time" => name,
            "oneof" | "block" => {
                let nested = nested.expect("oneof/block without arguments");
                let parts: Vec<String> = nested.items().iter().map(one).collect();
                assert!(!parts.is_empty(), "empty {ty}");
                parts.join(if ty == "oneof" { "|" } else { " " })
            }
            "pure-token" => String::new(),
            other => panic!("unknown type {other}"),
        };
        let mut tok = token;
        if !tok.is_empty() && ty != "pure-token" {
            tok.push(' ');
        }
        let mut s = String::new();
        if optional {
            s.push('[');
        }
        s += &tok;
        s += &repeat;
        if multiple {
            s.push_str(" [");
            if multiple_token {
                s += &tok;
            }
            s += &repeat;
            s.push_str(" ...]");
        }
        if optional {
            s.push(']');
        }
        s
    }
    args.items().iter().map(one).collect::<Vec<_>>().join(" ")
}

#[test]
fn command_docs_render_in_redis_cli_as_for_redis() {
    let (srv, mut sess) = server();
    let v = parse(&line(
        &srv,
        &mut sess,
        "COMMAND DOCS set mset nosuch dbsize",
    ));
    let pairs = v.pairs();
    let names: Vec<&str> = pairs.iter().map(|(k, _)| k.str()).collect();
    assert_eq!(
        names,
        ["set", "mset", "dbsize"],
        "unknown names are left out"
    );
    let set = pairs[0].1;
    assert_eq!(set.get("group").map(V::str), Some("string"));
    assert_eq!(set.get("since").map(V::str), Some("1.0.0"));
    // What redis-cli 7.0.15 shows for real Redis.
    assert_eq!(
        cli_hint(set.get("arguments").expect("arguments")),
        "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|PXAT \
         unix-time-milliseconds|KEEPTTL]"
    );
    let mset_args = pairs[1].1.get("arguments").expect("arguments");
    assert_eq!(cli_hint(mset_args), "key value [key value ...]");
    let block = &mset_args.items()[0];
    assert_eq!(block.get("type").map(V::str), Some("block"));
    let key = &block.get("arguments").expect("nested").items()[0];
    assert_eq!(key.get("type").map(V::str), Some("key"));
    assert_eq!(key.get("key_spec_index"), Some(&V::Int(0)));
    assert!(
        pairs[2].1.get("arguments").is_none(),
        "no arguments field without arguments"
    );
}

#[test]
fn command_docs_of_everything_is_what_redis_cli_can_read() {
    for resp3 in [false, true] {
        let (srv, mut sess) = server();
        if resp3 {
            line(&srv, &mut sess, "HELLO 3");
        }
        let v = parse(&line(&srv, &mut sess, "COMMAND DOCS"));
        let t = table();
        let pairs = v.pairs();
        assert_eq!(pairs.len(), t.top_level().len());
        for (name, doc) in pairs {
            for f in ["summary", "since", "group", "complexity"] {
                assert!(
                    matches!(doc.get(f), Some(V::Bulk(_))),
                    "{}: {f}",
                    name.str()
                );
            }
            if let Some(args) = doc.get("arguments") {
                assert!(
                    matches!(args, V::Array(_)),
                    "{}: arguments must be an array",
                    name.str()
                );
                cli_hint(args);
            }
            if let Some(subs) = doc.get("subcommands") {
                for (sub, sdoc) in subs.pairs() {
                    assert!(
                        sub.str().starts_with(&format!("{}|", name.str())),
                        "{}",
                        sub.str()
                    );
                    if let Some(args) = sdoc.get("arguments") {
                        cli_hint(args);
                    }
                }
            }
        }
        let v = parse(&line(&srv, &mut sess, "COMMAND DOCS command|list"));
        let (_, doc) = v.pairs()[0];
        assert_eq!(
            cli_hint(doc.get("arguments").expect("arguments")),
            "[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]"
        );
    }
}
