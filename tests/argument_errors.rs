//! Which reply a command gives when an argument is bad: Redis checks in a fixed order (options,
//! then the key's type, then a number; or the key before an index) and some arguments have their
//! own error text. Found by comparing random calls against redis-server 7.0
//! (`tests/fuzz_commands.rs`); every reply here was captured from it, and the script passes
//! against it (`EDDY_TEST_SERVER=redis-server`).

mod common;

use common::Server;

const SCRIPT: &[(&str, Option<&str>)] = &[
    ("set s hello", Some("+OK\r\n")),
    ("rpush l a b c", Some(":3\r\n")),
    ("sadd set a b", Some(":2\r\n")),
    ("zadd z 1 a 2 b 3 c", Some(":3\r\n")),
    // The key's type is checked before the increment is parsed.
    (
        "incrbyfloat l abc",
        Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ),
    // Floats are read as C's strtod reads them: hexadecimal too; underflow is an error, except
    // for INCRBYFLOAT, which reads a long double.
    ("set f 0x10", Some("+OK\r\n")),
    ("incrbyfloat f 0x1.8p1", Some("$2\r\n19\r\n")),
    ("incrbyfloat f 1e-400", Some("$2\r\n19\r\n")),
    ("zadd z 0x10 d", Some(":1\r\n")),
    ("zscore z d", Some("$2\r\n16\r\n")),
    (
        "zadd z 1e-400 e",
        Some("-ERR value is not a valid float\r\n"),
    ),
    // A range bound may be hexadecimal, or out of range (it reads as inf or 0).
    ("zcount z 0x2 1e400", Some(":3\r\n")),
    (
        "zrangebyscore z (0x1 0x3",
        Some("*2\r\n$1\r\nb\r\n$1\r\nc\r\n"),
    ),
    // EXPIRE's options are checked before its time.
    ("expire s abc FOO", Some("-ERR Unsupported option FOO\r\n")),
    (
        "expire s abc NX",
        Some("-ERR value is not an integer or out of range\r\n"),
    ),
    // GETEX looks the key up before it checks the time.
    ("getex nosuch EX -1", Some("$-1\r\n")),
    (
        "getex l EX -1",
        Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ),
    (
        "getex s EX -1",
        Some("-ERR invalid expire time in 'getex' command\r\n"),
    ),
    ("getex nosuch FOO", Some("-ERR syntax error\r\n")),
    // LINDEX and LSET look the key up before they parse the index.
    ("lindex nosuch abc", Some("$-1\r\n")),
    (
        "lindex s abc",
        Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ),
    (
        "lindex l abc",
        Some("-ERR value is not an integer or out of range\r\n"),
    ),
    ("lset nosuch abc x", Some("-ERR no such key\r\n")),
    (
        "lset s abc x",
        Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
    ),
    // XDEL looks the key up before it parses the IDs.
    ("xdel nosuch not-an-id", Some(":0\r\n")),
    ("xdel s not-an-id", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    // LCS checks both keys with its own error before its options.
    (
        "lcs s l BADOPT",
        Some("-ERR The specified keys must contain string values\r\n"),
    ),
    (
        "lcs s nosuch LEN IDX",
        Some("-ERR If you want both the length and indexes, please just use IDX.\r\n"),
    ),
    // Counts and limits that must not be negative say so for a non-integer too.
    (
        "lpos l a COUNT abc",
        Some("-ERR COUNT can't be negative\r\n"),
    ),
    (
        "lpos l a MAXLEN abc",
        Some("-ERR MAXLEN can't be negative\r\n"),
    ),
    (
        "sintercard 1 set LIMIT abc",
        Some("-ERR LIMIT can't be negative\r\n"),
    ),
    (
        "zintercard 1 z LIMIT abc",
        Some("-ERR LIMIT can't be negative\r\n"),
    ),
    (
        "zpopmin z abc",
        Some("-ERR value is out of range, must be positive\r\n"),
    ),
    (
        "lpop l abc",
        Some("-ERR value is out of range, must be positive\r\n"),
    ),
    // Database indexes are C ints first.
    (
        "select 4294967296",
        Some("-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"),
    ),
    (
        "select abc",
        Some("-ERR value is not an integer or out of range\r\n"),
    ),
    ("select 99", Some("-ERR DB index is out of range\r\n")),
    (
        "move s 4294967296",
        Some("-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"),
    ),
    (
        "copy s t DB 4294967296",
        Some("-ERR value is out of range, value must between -2147483648 and 2147483647\r\n"),
    ),
    (
        "swapdb 4294967296 0",
        Some("-ERR invalid first DB index\r\n"),
    ),
    ("swapdb 0 abc", Some("-ERR invalid second DB index\r\n")),
    ("swapdb 0 99", Some("-ERR DB index is out of range\r\n")),
    // EVALSHA with a SHA of the wrong length cannot match, whatever follows.
    ("evalsha abc notanumber", Some("-NOSCRIPT No matching script. Please use EVAL.\r\n")),
    ("evalsha_ro abc -1", Some("-NOSCRIPT No matching script. Please use EVAL.\r\n")),
    (
        "evalsha 0123456789012345678901234567890123456789 notanumber",
        Some("-ERR value is not an integer or out of range\r\n"),
    ),
    // A script that starts like a precompiled Lua chunk is read as source, as Redis's Lua does.
    (
        "eval \x1bLua 0",
        Some("-ERR Error compiling script (new function): user_script:1: unexpected symbol near 'char(27)'\r\n"),
    ),
    // FCALL looks the function up before it reads numkeys.
    ("fcall nosuchfn notanumber", Some("-ERR Function not found\r\n")),
    ("fcall_ro nosuchfn 5", Some("-ERR Function not found\r\n")),
    // A refused EXEC aborts, in MULTI or not, and forgets the watched keys.
    ("exec extra", Some("-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n")),
    ("watch s", Some("+OK\r\n")),
    ("multi", Some("+OK\r\n")),
    ("exec extra", Some("-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n")),
    ("exec", Some("-ERR EXEC without MULTI\r\n")),
    ("watch s", Some("+OK\r\n")),
    ("exec extra", Some("-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n")),
    ("set s changed", Some("+OK\r\n")),
    ("multi", Some("+OK\r\n")),
    ("exec", Some("*0\r\n")),
    // A range bound is read as a C string: it ends at a NUL, and nothing reads as 0.
    ("zadd zz 0 a 1 b 2 c", Some(":3\r\n")),
    ("zcount zz \0x 1\0x", Some(":2\r\n")),
    ("zcount zz (\0 +inf", Some(":2\r\n")),
    // PFADD that creates a key marks its cached cardinality stale, even with no elements.
    ("pfadd hll", Some(":1\r\n")),
    ("getbit hll 120", Some(":1\r\n")),
    // A sparse run past the last register is corrupt for every reader, the merge included.
    ("append hll \u{80}", Some(":20\r\n")),
    ("pfcount hll", Some("-INVALIDOBJ Corrupted HLL object detected\r\n")),
    ("pfcount hll hll", Some("-INVALIDOBJ Corrupted HLL object detected\r\n")),
    // SET reads every option before it parses the time: a syntax error anywhere wins.
    ("set s v EXAT 1e308 bogus", Some("-ERR syntax error\r\n")),
    (
        "set s v EXAT 1e308 NX",
        Some("-ERR value is not an integer or out of range\r\n"),
    ),
    // OBJECT FREQ and IDLETIME look the key up before they check the eviction policy.
    ("object freq nosuch", Some("$-1\r\n")),
    ("config set maxmemory-policy allkeys-lfu", Some("+OK\r\n")),
    ("object idletime nosuch", Some("$-1\r\n")),
    ("config set maxmemory-policy noeviction", Some("+OK\r\n")),
    // XGROUP CREATE and SETID read their options left to right first, then look the key and
    // the group up, and only then refuse an argument count.
    ("xadd st 1-1 a b", Some("$3\r\n1-1\r\n")),
    ("xgroup create st g 0", Some("+OK\r\n")),
    (
        "xgroup setid st g $ ENTRIESREAD d x y z",
        Some("-ERR value is not an integer or out of range\r\n"),
    ),
    (
        "xgroup setid st nog $ ENTRIESREAD 1 ENTRIESREAD 2",
        Some("-NOGROUP No such consumer group 'nog' for key name 'st'\r\n"),
    ),
    (
        "xgroup setid st g $ ENTRIESREAD 1 ENTRIESREAD 2",
        Some("-ERR unknown subcommand or wrong number of arguments for 'setid'. Try XGROUP HELP.\r\n"),
    ),
    (
        "xgroup create nosuch g2 $ ENTRIESREAD 1 ENTRIESREAD 1 ENTRIESREAD 1",
        Some("-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.\r\n"),
    ),
    (
        "xgroup create nosuch g2 $ MKSTREAM MKSTREAM ENTRIESREAD 1 MKSTREAM",
        Some("-ERR unknown subcommand or wrong number of arguments for 'create'. Try XGROUP HELP.\r\n"),
    ),
    ("exists nosuch", Some(":0\r\n")),
    // CONFIG SET with a name left without a value after whole pairs.
    ("config set maxmemory 0 maxmemory", Some("-ERR syntax error\r\n")),
    // CR and LF are trimmed from the ends of an error line and blanked inside it.
    ("expire s 1 \rFOO\r\nX\n", Some("-ERR Unsupported option  FOO  X\r\n")),
    // XGROUP CREATE parses its ID strictly (no `-` or `+`); SETID does not.
    (
        "xgroup create st g3 + MKSTREAM",
        Some("-ERR Invalid stream ID specified as stream command argument\r\n"),
    ),
    ("xgroup setid st g -", Some("+OK\r\n")),
    // A stream ID is read as a C string in a 128-byte buffer: it ends at a NUL byte, and a
    // longer one is invalid.
    ("xadd sid 2\0junk f v", Some("$3\r\n2-0\r\n")),
    ("xadd sid 5\0x-* f v", Some("$3\r\n5-0\r\n")),
    (
        "xrange sid -\0a +\0zz",
        Some("*2\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n*2\r\n$3\r\n5-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"),
    ),
    (
        "xadd sid 0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000009-1 f v",
        Some("-ERR Invalid stream ID specified as stream command argument\r\n"),
    ),
    // Options a command does not know are echoed whole.
    (
        "expire s 1 an-option-longer-than-sixty-four-bytes-is-still-echoed-back-in-full-by-redis",
        Some("-ERR Unsupported option an-option-longer-than-sixty-four-bytes-is-still-echoed-back-in-full-by-redis\r\n"),
    ),
];

#[test]
fn replies_match_redis_byte_for_byte() {
    common::check_replies(&Server::start(), SCRIPT);
}
