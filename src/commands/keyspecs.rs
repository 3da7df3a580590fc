//! Redis 7.0's key specifications: for each command, where its groups of keys begin and end in
//! the arguments and what it does to each group (COMMAND INFO's key specs, COMMAND
//! GETKEYSANDFLAGS). The table is reference data, transcribed from redis-server 7.0.15's own
//! `COMMAND` reply so that cluster-aware clients and proxies that read the specs see what Redis
//! would tell them: LMOVE's source is `RW access delete`, its destination `RW insert`; EVAL's
//! keys are counted by its numkeys argument. Commands not listed (Eddy's own, and those without
//! keys) keep the single range spec built from their legacy key triple
//! (`introspection::key_flags`).
//!
//! [`finders`] evaluates the specs as Redis's `getKeysUsingKeySpecs` does; a spec of type
//! `unknown` (SORT's BY/GET/STORE) finds nothing, as in Redis, whose SORT has its own key
//! extraction.

use crate::protocol::resp::Args;

/// Where a spec's keys begin.
pub enum Begin {
    /// At this argument.
    Index(i64),
    /// After the first argument equal to the keyword (case-insensitive), searched from
    /// `startfrom` towards the end, or, when negative, from that far from the end towards the
    /// start.
    Keyword(&'static str, i64),
    Unknown,
}

/// How many keys follow the beginning.
pub enum Find {
    /// Up to `lastkey` arguments on (negative: counted from the end; with a `limit`, that
    /// fraction of what remains), every `step`th.
    Range {
        lastkey: i64,
        step: i64,
        limit: i64,
    },
    /// The argument `idx` places on holds the number of keys, which start `first` on.
    Keynum {
        idx: i64,
        first: i64,
        step: i64,
    },
    Unknown,
}

pub struct KeySpec {
    pub flags: &'static [&'static str],
    pub begin: Begin,
    pub find: Find,
    /// Shown by COMMAND INFO when not empty.
    pub notes: &'static str,
}

/// The key specs of a command by its full name (`xinfo|stream`), if Redis has any for it.
pub fn of(name: &str) -> Option<&'static [KeySpec]> {
    SPECS
        .binary_search_by(|(n, _)| n.cmp(&name))
        .ok()
        .map(|i| SPECS[i].1)
}

/// For each argument of `argv` (the command name at 0), the index of the first spec that finds it
/// as a key (a lookup by position, so a command with many keys costs linear time). A spec that
/// does not fit the arguments (a keyword missing, a bad key count, keys past the end) finds
/// nothing.
pub fn finders(specs: &[KeySpec], argv: Args) -> Vec<Option<usize>> {
    let argc = argv.len() as i64;
    let mut out = vec![None; argv.len()];
    for (n, spec) in specs.iter().enumerate() {
        let first = match spec.begin {
            Begin::Index(i) => i,
            Begin::Keyword(kw, from) => {
                let is_kw = |i: &i64| argv.get(*i as usize).eq_ignore_ascii_case(kw.as_bytes());
                let found = if from > 0 {
                    (from..argc).find(is_kw)
                } else {
                    (1..=argc + from).rev().find(is_kw)
                };
                match found {
                    Some(i) => i + 1,
                    None => continue,
                }
            }
            Begin::Unknown => continue,
        };
        let (first, last, step) = match spec.find {
            Find::Range {
                lastkey,
                step,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (first, last, step)
            }
            Find::Keynum {
                idx,
                first: f,
                step,
            } => {
                let at = first + idx;
                if at >= argc {
                    continue;
                }
                match crate::util::num::parse_i64(argv.get(at as usize)) {
                    // The count is the client's: saturate, and the end check below refuses it.
                    Some(k) if k >= 0 => (first + f, (first + f).saturating_add(k) - 1, step),
                    _ => continue,
                }
            }
            Find::Unknown => continue,
        };
        if step <= 0 || first < 1 || last >= argc {
            continue;
        }
        let mut i = first;
        while i <= last {
            out[i as usize].get_or_insert(n);
            i += step;
        }
    }
    out
}

/// The flags GETKEYSANDFLAGS gives one key found by a spec with `flags`, in command `name`.
/// As Redis's own key extraction for those commands: SET's and BITFIELD's `variable_flags`
/// resolve to what these arguments do, and `incomplete` (MIGRATE's KEYS) is not a key's flag.
pub fn resolved(name: &str, flags: &'static [&'static str], argv: Args) -> &'static [&'static str] {
    let has = |word: &str, from: usize| {
        argv.iter()
            .skip(from)
            .any(|a| a.eq_ignore_ascii_case(word.as_bytes()))
    };
    match name {
        "set" if has("get", 3) => &["RW", "access", "update"],
        "set" => &["OW", "update"],
        "bitfield" if bitfield_reads_only(argv) => &["RO", "access"],
        "bitfield" => &["RW", "access", "update"],
        _ => {
            let end = flags
                .iter()
                .position(|f| *f == "incomplete" || *f == "variable_flags")
                .unwrap_or(flags.len());
            &flags[..end]
        }
    }
}

/// Whether BITFIELD's arguments only GET (a malformed list counts as writing, to be safe).
fn bitfield_reads_only(argv: Args) -> bool {
    let n = argv.len();
    let mut i = 2;
    while i < n {
        let left = n - i - 1;
        let a = argv.get(i);
        if a.eq_ignore_ascii_case(b"get") && left >= 2 {
            i += 3;
        } else if a.eq_ignore_ascii_case(b"overflow") && left >= 1 {
            i += 2;
        } else {
            return false;
        }
    }
    true
}

#[rustfmt::skip]
static SPECS: &[(&str, &[KeySpec])] = &[
    ("append", &[
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("bitcount", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("bitfield", &[
        KeySpec { flags: &["RW", "access", "update", "variable_flags"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "This command allows both access and modification of the key" },
    ]),
    ("bitfield_ro", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("bitop", &[
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(3), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("bitpos", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("blmove", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("blmpop", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(2), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),
    ("blpop", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: -2, step: 1, limit: 0 }, notes: "" },
    ]),
    ("brpop", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: -2, step: 1, limit: 0 }, notes: "" },
    ]),
    ("brpoplpush", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("bzmpop", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(2), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),
    ("bzpopmax", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: -2, step: 1, limit: 0 }, notes: "" },
    ]),
    ("bzpopmin", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: -2, step: 1, limit: 0 }, notes: "" },
    ]),
    ("copy", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("decr", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("decrby", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("del", &[
        KeySpec { flags: &["RM", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("dump", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("eval", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(2), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE" },
    ]),
    ("eval_ro", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS" },
    ]),
    ("evalsha", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(2), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),
    ("evalsha_ro", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),
    ("exists", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("expire", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("expireat", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("expiretime", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("fcall", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(2), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "We cannot tell how the keys will be used so we assume the worst, RW and UPDATE" },
    ]),
    ("fcall_ro", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "We cannot tell how the keys will be used so we assume the worst, RO and ACCESS" },
    ]),
    ("geoadd", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("geodist", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("geohash", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("geopos", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("georadius", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["OW", "update"], begin: Begin::Keyword("STORE", 6), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["OW", "update"], begin: Begin::Keyword("STOREDIST", 6), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("georadius_ro", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("georadiusbymember", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["OW", "update"], begin: Begin::Keyword("STORE", 5), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["OW", "update"], begin: Begin::Keyword("STOREDIST", 5), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("georadiusbymember_ro", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("geosearch", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("geosearchstore", &[
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("get", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("getbit", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("getdel", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("getex", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "RW and UPDATE because it changes the TTL" },
    ]),
    ("getrange", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("getset", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hdel", &[
        KeySpec { flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hexists", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hget", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hgetall", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hincrby", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hincrbyfloat", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hkeys", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hlen", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hmget", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hmset", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hrandfield", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hscan", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hset", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hsetnx", &[
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hstrlen", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("hvals", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("incr", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("incrby", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("incrbyfloat", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("lcs", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("lindex", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("linsert", &[
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("llen", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("lmove", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("lmpop", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),
    ("lpop", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("lpos", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("lpush", &[
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("lpushx", &[
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("lrange", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("lrem", &[
        KeySpec { flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("lset", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("ltrim", &[
        KeySpec { flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("memory|usage", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("mget", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("migrate", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(3), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RW", "access", "delete", "incomplete"], begin: Begin::Keyword("KEYS", -2), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("move", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("mset", &[
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 2, limit: 0 }, notes: "" },
    ]),
    ("msetnx", &[
        KeySpec { flags: &["OW", "insert"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 2, limit: 0 }, notes: "" },
    ]),
    ("object|encoding", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("object|freq", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("object|idletime", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("object|refcount", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("persist", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("pexpire", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("pexpireat", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("pexpiretime", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("pfadd", &[
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("pfcount", &[
        KeySpec { flags: &["RW", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "RW because it may change the internal representation of the key, and propagate to replicas" },
    ]),
    ("pfdebug", &[
        KeySpec { flags: &["RW", "access"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("pfmerge", &[
        KeySpec { flags: &["RW", "access", "insert"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("psetex", &[
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("pttl", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("rename", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("renamenx", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["OW", "insert"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("restore", &[
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("restore-asking", &[
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("rpop", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("rpoplpush", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("rpush", &[
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("rpushx", &[
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("sadd", &[
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("scard", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("sdiff", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("sdiffstore", &[
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("set", &[
        KeySpec { flags: &["RW", "access", "update", "variable_flags"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "RW and ACCESS due to the optional `GET` argument" },
    ]),
    ("setbit", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("setex", &[
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("setnx", &[
        KeySpec { flags: &["OW", "insert"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("setrange", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("sinter", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("sintercard", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),
    ("sinterstore", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("sismember", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("smembers", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("smismember", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("smove", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("sort", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RO", "access"], begin: Begin::Unknown, find: Find::Unknown, notes: "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort" },
        KeySpec { flags: &["OW", "update"], begin: Begin::Unknown, find: Find::Unknown, notes: "For the optional STORE keyword. It is marked 'unknown' because the keyword can appear anywhere in the argument array" },
    ]),
    ("sort_ro", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RO", "access"], begin: Begin::Unknown, find: Find::Unknown, notes: "For the optional BY/GET keyword. It is marked 'unknown' because the key names derive from the content of the key we sort" },
    ]),
    ("spop", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("spublish", &[
        KeySpec { flags: &["not_key"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("srandmember", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("srem", &[
        KeySpec { flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("sscan", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("ssubscribe", &[
        KeySpec { flags: &["not_key"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("strlen", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("substr", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("sunion", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("sunionstore", &[
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("sunsubscribe", &[
        KeySpec { flags: &["not_key"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("touch", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("ttl", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("type", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("unlink", &[
        KeySpec { flags: &["RM", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("watch", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(1), find: Find::Range { lastkey: -1, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xack", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xadd", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "UPDATE instead of INSERT because of the optional trimming feature" },
    ]),
    ("xautoclaim", &[
        KeySpec { flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xclaim", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xdel", &[
        KeySpec { flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xgroup|create", &[
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xgroup|createconsumer", &[
        KeySpec { flags: &["RW", "insert"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xgroup|delconsumer", &[
        KeySpec { flags: &["RW", "delete"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xgroup|destroy", &[
        KeySpec { flags: &["RW", "delete"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xgroup|setid", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xinfo|consumers", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xinfo|groups", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xinfo|stream", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xlen", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xpending", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xrange", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xread", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Keyword("STREAMS", 1), find: Find::Range { lastkey: -1, step: 1, limit: 2 }, notes: "" },
    ]),
    ("xreadgroup", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Keyword("STREAMS", 4), find: Find::Range { lastkey: -1, step: 1, limit: 2 }, notes: "" },
    ]),
    ("xrevrange", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xsetid", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("xtrim", &[
        KeySpec { flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zadd", &[
        KeySpec { flags: &["RW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zcard", &[
        KeySpec { flags: &["RO"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zcount", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zdiff", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),
    ("zdiffstore", &[
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),
    ("zincrby", &[
        KeySpec { flags: &["RW", "access", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zinter", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),
    ("zintercard", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),
    ("zinterstore", &[
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),
    ("zlexcount", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zmpop", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),
    ("zmscore", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zpopmax", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zpopmin", &[
        KeySpec { flags: &["RW", "access", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zrandmember", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zrange", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zrangebylex", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zrangebyscore", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zrangestore", &[
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zrank", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zrem", &[
        KeySpec { flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zremrangebylex", &[
        KeySpec { flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zremrangebyrank", &[
        KeySpec { flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zremrangebyscore", &[
        KeySpec { flags: &["RW", "delete"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zrevrange", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zrevrangebylex", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zrevrangebyscore", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zrevrank", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zscan", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zscore", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
    ]),
    ("zunion", &[
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(1), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),
    ("zunionstore", &[
        KeySpec { flags: &["OW", "update"], begin: Begin::Index(1), find: Find::Range { lastkey: 0, step: 1, limit: 0 }, notes: "" },
        KeySpec { flags: &["RO", "access"], begin: Begin::Index(2), find: Find::Keynum { idx: 0, first: 1, step: 1 }, notes: "" },
    ]),

];

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, args: &[&str]) -> Vec<(usize, usize)> {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for a in args {
            let s = buf.len();
            buf.extend_from_slice(a.as_bytes());
            ranges.push((s, buf.len()));
        }
        finders(of(name).expect("listed"), Args::new(&buf, &ranges))
            .into_iter()
            .enumerate()
            .filter_map(|(p, n)| Some((p, n?)))
            .collect()
    }

    #[test]
    fn the_table_is_sorted_for_binary_search() {
        assert!(SPECS.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn specs_find_keys_as_redis_does() {
        assert_eq!(
            found("lmove", &["LMOVE", "a", "b", "LEFT", "RIGHT"]),
            [(1, 0), (2, 1)]
        );
        assert_eq!(
            found("eval", &["EVAL", "s", "2", "k1", "k2", "x"]),
            [(3, 0), (4, 0)]
        );
        assert_eq!(found("eval", &["EVAL", "s", "nope"]), []);
        assert_eq!(
            found("eval", &["EVAL", "s", "9223372036854775807", "k"]),
            []
        );
        assert_eq!(found("eval", &["EVAL", "s", "-1", "k"]), []);
        assert_eq!(
            found(
                "zunionstore",
                &["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"]
            ),
            [(1, 0), (3, 1), (4, 1)]
        );
        // XREAD's STREAMS: half of what follows the keyword are keys.
        assert_eq!(
            found(
                "xread",
                &["XREAD", "COUNT", "1", "STREAMS", "s1", "s2", "0", "0"]
            ),
            [(4, 0), (5, 0)]
        );
        // MIGRATE's KEYS is searched from the end (the first spec also finds the empty key
        // argument; GETKEYS leaves it out, as Redis's MIGRATE key extraction does).
        assert_eq!(
            found(
                "migrate",
                &["MIGRATE", "h", "1", "", "0", "5", "KEYS", "a", "b"]
            ),
            [(3, 0), (7, 1), (8, 1)]
        );
        assert_eq!(
            found(
                "georadius",
                &["GEORADIUS", "g", "0", "0", "1", "km", "STORE", "d"]
            ),
            [(1, 0), (7, 1)]
        );
        assert_eq!(
            found("mset", &["MSET", "a", "1", "b", "2"]),
            [(1, 0), (3, 0)]
        );
    }
}
