//! Redis wire error strings, in one place.
//!
//! Every error a client can see is either one of these constants or built by one of the helper
//! functions below, so the exact wording Redis clients match on (`WRONGTYPE`, `ERR wrong number of
//! arguments for 'get' command`, ...) is written once and never formatted inline by a handler.

use crate::util::c_str;
use std::borrow::Cow;

/// An error reply: the text after the leading `-`, with its Redis error code (`ERR`, `WRONGTYPE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdError(pub Cow<'static, str>);

impl CmdError {
    /// A formatted error, made a valid error line as Redis's `addReplyErrorFormat` makes one:
    /// CR and LF trimmed from both ends, those left inside replaced by spaces. Scripts see the
    /// same text the client would.
    pub fn owned(s: String) -> Self {
        let bad = |c: char| c == '\r' || c == '\n';
        if !s.contains(bad) {
            return CmdError(Cow::Owned(s));
        }
        CmdError(Cow::Owned(s.trim_matches(bad).replace(bad, " ")))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&'static str> for CmdError {
    fn from(s: &'static str) -> Self {
        CmdError(Cow::Borrowed(s))
    }
}

pub type CmdResult<T = ()> = Result<T, CmdError>;

pub const SYNTAX: &str = "ERR syntax error";
pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
pub const NOT_FLOAT: &str = "ERR value is not a valid float";
pub const SCRIPT_DEBUG_PIPELINED: &str = "ERR SCRIPT DEBUG must be called outside a pipeline";
pub const SCRIPT_DEBUG_MODE: &str = "ERR Use SCRIPT DEBUG YES/SYNC/NO";
pub const SCRIPT_DEBUG_UNSUPPORTED: &str =
    "ERR SCRIPT DEBUG YES and SYNC are not supported: Eddy has no Lua debugger";
pub const DEBUG_PROTOCOL_TYPE: &str = "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false";
pub const DEBUG_PROTOCOL_RESP2_PUSH: &str = "ERR RESP2 is not supported by this command";
pub const PFDEBUG_NO_KEY: &str = "ERR The specified key does not exist";
pub const PFDEBUG_NOT_SPARSE: &str = "ERR HLL encoding is not sparse";
/// MODULE LOAD / LOADEX / UNLOAD, as Redis 7 refuses them while `enable-module-command` is `no`.
pub const MODULE_NOT_ALLOWED: &str = "ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
/// Redis 7's words for a connection protected mode refuses.
pub const DENIED_PROTECTED: &str = "DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.";
pub const DEBUG_NOT_ALLOWED: &str = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";
pub const INCR_OVERFLOW: &str = "ERR increment or decrement would overflow";
pub const INCR_NAN: &str = "ERR increment would produce NaN or Infinity";
pub const NO_SUCH_KEY: &str = "ERR no such key";
pub const OUT_OF_RANGE: &str = "ERR index out of range";
pub const DB_INDEX: &str = "ERR DB index is out of range";
pub const INVALID_DB: &str = "ERR invalid DB index";
pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
pub const STRING_TOO_LONG: &str = "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
pub const OFFSET_RANGE: &str = "ERR offset is out of range";
pub const INVALID_EXPIRE_SET: &str = "ERR invalid expire time in 'set' command";
pub const INVALID_EXPIRE_GETEX: &str = "ERR invalid expire time in 'getex' command";
pub const NOAUTH: &str = "NOAUTH Authentication required.";
pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
pub const AUTH_NOT_CONFIGURED: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";
pub const NOPROTO: &str = "NOPROTO unsupported protocol version";
pub const BUSYKEY: &str = "BUSYKEY Target key name already exists.";
pub const BAD_DUMP: &str = "ERR DUMP payload version or checksum are wrong";
pub const BAD_DUMP_DATA: &str = "ERR Bad data format";
pub const NEGATIVE_TTL: &str = "ERR Invalid TTL value, must be >= 0";
pub const EXPIRE_OPTS_NX: &str =
    "ERR NX and XX, GT or LT options at the same time are not compatible";
pub const EXPIRE_OPTS_GTLT: &str = "ERR GT and LT options at the same time are not compatible";
pub const TIMEOUT_NEG: &str = "ERR timeout is negative";
pub const TIMEOUT_NOT_FLOAT: &str = "ERR timeout is not a float or out of range";
pub const NO_SUCH_CLIENT: &str = "ERR No such client";
pub const CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";
pub const NO_CONFIG_FILE: &str = "ERR The server is running without a config file";
pub const LOADING: &str = "LOADING Eddy is loading the dataset in memory";
pub const MAXCLIENTS: &str = "ERR max number of clients reached";
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";
pub const MASTERDOWN: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";
pub const READONLY_REPLICA: &str = "READONLY You can't write against a read only replica.";
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
pub const READONLY_KEY: &str = "ERR this key is read-only";
pub const COUNT_POSITIVE: &str = "ERR value is out of range, must be positive";
// Scripting.
pub const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
pub const NUMKEYS_NEGATIVE: &str = "ERR Number of keys can't be negative";
pub const NUMKEYS_TOO_BIG: &str = "ERR Number of keys can't be greater than number of args";
pub const BUSY_SCRIPT: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const BUSY_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
pub const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";
pub const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.";
pub const KILL_NOT_SCRIPT: &str =
    "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.";
pub const KILL_NOT_FUNCTION: &str =
    "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
pub const SCRIPT_RO_WRITE_FLAG: &str =
    "ERR Can not execute a script with write flag using *_ro command.";
pub const SCRIPT_NO_ARGS: &str = "ERR Please specify at least one argument for this redis lib call";
pub const SCRIPT_BAD_ARG: &str = "ERR Lua redis lib command arguments must be strings or integers";
pub const SCRIPT_UNKNOWN: &str = "ERR Unknown Redis command called from script";
pub const SCRIPT_ARITY: &str = "ERR Wrong number of args calling Redis command from script";
pub const SCRIPT_NOSCRIPT_CMD: &str = "ERR This Redis command is not allowed from script";
pub const SCRIPT_RO_WRITE: &str = "ERR Write commands are not allowed from read-only scripts.";
pub const SCRIPT_FLUSH_MODE: &str = "ERR SCRIPT FLUSH only support SYNC|ASYNC option";
pub const FUNCTION_FLUSH_MODE: &str = "ERR FUNCTION FLUSH only supports SYNC|ASYNC option";
pub const FUNCTION_NO_METADATA: &str = "ERR Missing library metadata";
pub const FUNCTION_BAD_METADATA: &str = "ERR Invalid library metadata";
pub const FUNCTION_NO_NAME: &str = "ERR Library name was not given";
pub const FUNCTION_NAME_TWICE: &str =
    "ERR Invalid metadata value, name argument was given multiple times";
pub const FUNCTION_NUMKEYS: &str = "ERR Bad number of keys provided";
pub const LIBRARY_NAME: &str = "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";
pub const FUNCTION_NONE_REGISTERED: &str = "ERR No functions registered";
pub const LIBRARY_NOT_FOUND: &str = "ERR Library not found";
pub const FUNCTION_NOT_FOUND: &str = "ERR Function not found";
pub const FUNCTION_BAD_PAYLOAD_DATA: &str = "ERR given type is not a function";
pub const FUNCTION_BAD_PAYLOAD_LOAD: &str = "ERR failed loading the given functions payload";
pub const FUNCTION_LIST_NO_NAME: &str = "ERR library name argument was not given";
pub const FUNCTION_RESTORE_POLICY: &str =
    "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.";
// HyperLogLog.
pub const HLL_WRONGTYPE: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
pub const HLL_CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";
// Lists and blocking.
pub const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";
pub const UNBLOCK_REASON: &str = "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR";
pub const LPOS_RANK_ZERO: &str = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
pub const LPOS_COUNT_NEGATIVE: &str = "ERR COUNT can't be negative";
pub const LPOS_MAXLEN_NEGATIVE: &str = "ERR MAXLEN can't be negative";
pub const LIST_NUMKEYS: &str = "ERR numkeys should be greater than 0";
pub const LIST_COUNT: &str = "ERR count should be greater than 0";
// Sorted sets.
pub const ZADD_NX_XX: &str = "ERR XX and NX options at the same time are not compatible";
pub const ZADD_GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
pub const ZADD_INCR_PAIR: &str = "ERR INCR option supports a single increment-element pair";
pub const SCORE_NAN: &str = "ERR resulting score is not a number (NaN)";
pub const MINMAX_NOT_FLOAT: &str = "ERR min or max is not a float";
pub const MINMAX_NOT_LEX: &str = "ERR min or max not valid string range item";
pub const ZRANGE_LIMIT: &str =
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
pub const ZRANGE_BYLEX_WITHSCORES: &str =
    "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
pub const WEIGHT_NOT_FLOAT: &str = "ERR weight value is not a float";
pub const ZSET_NUMKEYS: &str = "ERR numkeys should be greater than 0";
pub const ZSET_COUNT: &str = "ERR count should be greater than 0";
pub const ZSET_LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
pub const ZSET_VALUE_RANGE: &str = "ERR value is out of range";
pub const ZSET_INVALID_CURSOR: &str = "ERR invalid cursor";
// Hashes and sets.
pub const HASH_NOT_INTEGER: &str = "ERR hash value is not an integer";
pub const HASH_NOT_FLOAT: &str = "ERR hash value is not a float";
pub const INVALID_CURSOR: &str = "ERR invalid cursor";
pub const VALUE_RANGE: &str = "ERR value is out of range";
pub const LONG_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
/// Eddy-only: a random-member count whose reply would not fit in memory.
pub const RANDOM_COUNT_TOO_LARGE: &str = "ERR count is too large for one reply";
pub const NUMKEYS_POSITIVE: &str = "ERR numkeys should be greater than 0";
pub const NUMKEYS_TOO_MANY: &str = "ERR Number of keys can't be greater than number of args";
pub const LIMIT_NEGATIVE: &str = "ERR LIMIT can't be negative";
pub const NAN_OR_INFINITY: &str = "ERR value is NaN or Infinity";
pub const ZSET_RANDOM_RANGE: &str =
    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
pub const MULTI_NESTED: &str = "ERR MULTI calls can not be nested";
pub const EXEC_WITHOUT_MULTI: &str = "ERR EXEC without MULTI";
pub const DISCARD_WITHOUT_MULTI: &str = "ERR DISCARD without MULTI";
pub const WATCH_IN_MULTI: &str = "ERR WATCH inside MULTI is not allowed";
pub const NOT_IN_MULTI: &str = "ERR Command not allowed inside a transaction";
pub const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";
// Bitmaps and SORT.
pub const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";
pub const BIT_VALUE: &str = "ERR bit is not an integer or out of range";
pub const BIT_ARG: &str = "ERR The bit argument must be 1 or 0.";
pub const BITFIELD_TYPE: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
pub const BITFIELD_OVERFLOW: &str = "ERR Invalid OVERFLOW type specified";
pub const BITFIELD_RO_GET_ONLY: &str = "ERR BITFIELD_RO only supports the GET subcommand";
pub const BITOP_NOT_ONE: &str = "ERR BITOP NOT must be called with a single source key.";
pub const SORT_SCORE: &str = "ERR One or more scores can't be converted into double";
// Geo.
pub const GEO_UNIT: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";
pub const GEO_RADIUS_NUMERIC: &str = "ERR need numeric radius";
pub const GEO_RADIUS_NEGATIVE: &str = "ERR radius cannot be negative";
pub const GEO_WIDTH_NUMERIC: &str = "ERR need numeric width";
pub const GEO_HEIGHT_NUMERIC: &str = "ERR need numeric height";
pub const GEO_BOX_NEGATIVE: &str = "ERR height or width cannot be negative";
pub const GEO_MEMBER: &str = "ERR could not decode requested zset member";
pub const GEO_COUNT: &str = "ERR COUNT must be > 0";
pub const GEO_ANY: &str = "ERR the ANY argument requires COUNT argument";
pub const GEO_STORE_WITH: &str =
    "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options";
pub const GEOSEARCHSTORE_WITH: &str =
    "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options";

/// EXEC itself rejected inside MULTI (Redis's `execCommandAbort`): the transaction is gone.
pub fn exec_abort(e: &str) -> CmdError {
    CmdError::owned(format!(
        "EXECABORT Transaction discarded because of: {}",
        e.strip_prefix("ERR ").unwrap_or(e)
    ))
}

/// ZUNION/ZINTER/ZDIFF(STORE)/ZINTERCARD with `numkeys` below 1.
pub fn zset_no_keys(cmd: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR at least 1 input key is needed for '{cmd}' command"
    ))
}

pub fn wrong_arity(cmd: &str) -> CmdError {
    CmdError::owned(format!("ERR wrong number of arguments for '{cmd}' command"))
}

pub fn unknown_command(name: &[u8], args: &mut dyn Iterator<Item = &[u8]>) -> CmdError {
    // Redis prints these with `%.128s` (a C string: a NUL ends it), and stops adding arguments
    // once 128 bytes of them are listed, the last one cut to fit.
    let mut list = String::new();
    for a in args {
        let Some(room) = 128usize.checked_sub(list.len()).filter(|&r| r > 0) else {
            break;
        };
        list.push('\'');
        list.push_str(&sanitize(c_str(a), room));
        list.push_str("' ");
    }
    CmdError::owned(format!(
        "ERR unknown command '{}', with args beginning with: {list}",
        sanitize(c_str(name), 128),
    ))
}

/// A client's argument in an error message that Redis prints with a plain `%s`.
pub fn c_text(b: &[u8]) -> String {
    sanitize(c_str(b), usize::MAX)
}

/// PFDEBUG's reply to a subcommand it does not know, named as the client wrote it (up to a NUL
/// byte, as Redis formats it as a C string).
pub fn pfdebug_unknown(sub: &[u8]) -> CmdError {
    CmdError::owned(format!(
        "ERR Unknown PFDEBUG subcommand '{}'",
        String::from_utf8_lossy(c_str(sub))
    ))
}

pub fn unknown_subcommand(sub: &[u8], cmd: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        sanitize(c_str(sub), 128),
        cmd.to_ascii_uppercase()
    ))
}

/// A subcommand given the wrong arguments, when its arity alone cannot tell (Redis's
/// `addReplySubcommandSyntaxError`).
pub fn subcommand_syntax(sub: &[u8], cmd: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        sanitize(c_str(sub), 128),
        cmd.to_ascii_uppercase()
    ))
}

/// A command a RESP2 client in pub/sub mode may not run.
pub fn pubsub_context(cmd: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR Can't execute '{cmd}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET \
         are allowed in this context"
    ))
}

pub fn invalid_expire(cmd: &str) -> CmdError {
    CmdError::owned(format!("ERR invalid expire time in '{cmd}' command"))
}

pub fn unknown_option(name: &[u8]) -> CmdError {
    CmdError::owned(format!(
        "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
        c_text(name)
    ))
}

pub fn config_set_failed(name: &str, why: &str) -> CmdError {
    CmdError::owned(format!(
        "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
    ))
}

pub fn protocol(msg: &str) -> String {
    format!("ERR Protocol error: {msg}")
}

/// Renders client-supplied bytes for an error message the way Redis does: truncated to `max`
/// bytes, everything kept (bytes that are not UTF-8 become U+FFFD, as error text is a `str`
/// here). CR and LF are dealt with for the whole message by [`CmdError::owned`].
pub fn sanitize(b: &[u8], max: usize) -> String {
    let b = &b[..b.len().min(max)];
    String::from_utf8_lossy(b).into_owned()
}

// The change feed (CHANGES ...).
pub const CHANGES_BAD_START: &str =
    "ERR invalid start position: use earliest, latest, <offset>, (<offset> or @<unix-ms>";
pub const CHANGES_BAD_TYPE: &str =
    "ERR unknown type in TYPE filter: use string, list, set, zset, hash, stream or none";
pub const CHANGES_BAD_EVENTS: &str = "ERR EVENTS needs a comma-separated list of event names";
pub const CHANGES_BAD_IMAGES: &str = "ERR IMAGES must be one of keys, new, old or both";
pub const CHANGES_TIMEOUT_NOT_INT: &str = "ERR timeout is not an integer or out of range";
pub const CHANGES_BUSYGROUP: &str = "BUSYGROUP Consumer Group name already exists";
pub const CHANGES_NOGROUP: &str = "NOGROUP No such change feed consumer group";
pub const CHANGES_TOO_MANY_GROUPS: &str = "ERR too many change feed consumer groups";
pub const CHANGES_TOO_MANY_CONSUMERS: &str = "ERR too many consumers in this group";
pub const CHANGES_NAME_TOO_LONG: &str = "ERR group and consumer names are limited to 256 bytes";
pub const CHANGES_PENDING_FULL: &str =
    "ERR the group has too many pending entries: ACK or CLAIM some first";
pub const CHANGES_MAXDELIVERIES: &str = "ERR MAXDELIVERIES must be a positive integer";
pub const CHANGES_SNAPSHOT_TOO_BIG: &str =
    "ERR CHANGES SNAPSHOT matches too many keys or bytes; narrow it with MATCH, TYPE or DB";
pub const CHANGES_INVALID_OFFSET: &str = "ERR invalid offset: must be a positive integer";

/// A cursor older than what the change log still holds (never a silent gap).
pub fn changes_trimmed(from: u64, earliest: u64) -> CmdError {
    CmdError::owned(format!(
        "ERR TRIMMED the change log no longer holds offset {from}; the earliest available offset is {earliest}"
    ))
}

/// A resuming reader's cursor is from another history of the log (see `EPOCH` in
/// docs/changes.md).
pub fn changes_epoch(current: &str, given: &[u8]) -> CmdError {
    CmdError::owned(format!(
        "ERR EPOCH the change log's history changed: its epoch is {current}, not {}; start again from a snapshot",
        sanitize(given, 128)
    ))
}

/// A change-feed start offset beyond the end of the log.
pub fn changes_beyond_end(from: u64, next: u64) -> CmdError {
    CmdError::owned(format!(
        "ERR offset {from} is beyond the end of the change log: the next offset is {next}; a cursor from another history needs EPOCH or a new snapshot"
    ))
}

/// XREAD/XREADGROUP with BLOCK called from a script; `cmd` as the script typed it.
pub fn script_stream_block(cmd: &[u8]) -> String {
    format!(
        "ERR {} command is not allowed with BLOCK option from scripts",
        String::from_utf8_lossy(cmd)
    )
}

/// A longitude/latitude pair outside Redis's limits (`%f` formatting, as Redis).
pub fn geo_pair(lon: f64, lat: f64) -> CmdError {
    let f = |v: f64| {
        if v.is_infinite() {
            if v > 0.0 {
                "inf".to_string()
            } else {
                "-inf".to_string()
            }
        } else {
            format!("{v:.6}")
        }
    };
    CmdError::owned(format!(
        "ERR invalid longitude,latitude pair {},{}",
        f(lon),
        f(lat)
    ))
}

/// GEOSEARCH without exactly one FROMMEMBER/FROMLONLAT (or BYRADIUS/BYBOX); `cmd` as typed.
pub fn geo_exactly_one(what: &str, cmd: &[u8]) -> CmdError {
    CmdError::owned(format!(
        "ERR exactly one of {what} can be specified for {}",
        String::from_utf8_lossy(cmd)
    ))
}

/// A write to the change feed's stream view (`commands::feed_stream`).
pub const FEED_READ_ONLY: &str =
    "ERR __changes__ is the change feed: a read-only stream (write to other keys, read it with XREAD or XREADGROUP)";

/// XCLAIM options the change feed's groups do not keep.
pub const FEED_CLAIM_OPTIONS: &str =
    "ERR XCLAIM on __changes__ (the change feed) takes only JUSTID among its options";
/// XINFO STREAM FULL on the change feed.
pub const FEED_XINFO_FULL: &str =
    "ERR XINFO STREAM FULL is not available for __changes__ (the change feed): use XINFO STREAM, XINFO GROUPS, XRANGE";

/// XREAD / XREADGROUP naming the change feed's stream view with other keys.
pub const FEED_NOT_ALONE: &str =
    "ERR __changes__ (the change feed) must be the only key of an XREAD or XREADGROUP";

// Stream consumer groups.
pub const XGROUP_NO_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";
pub const BUSYGROUP: &str = "BUSYGROUP Consumer Group name already exists";
pub const ENTRIESREAD_RANGE: &str = "ERR value for ENTRIESREAD must be positive or -1";
pub const XREADGROUP_DOLLAR: &str = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.";
pub const XREAD_GREATER: &str = "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.";
pub const XREAD_GROUP_OPT: &str =
    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.";
pub const XREAD_NOACK_OPT: &str =
    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.";
pub const XREADGROUP_NO_GROUP: &str = "ERR Missing GROUP option for XREADGROUP";
pub const XREAD_UNBALANCED: &str =
    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.";
pub const XREAD_TIMEOUT: &str = "ERR timeout is not an integer or out of range";
pub const XCLAIM_MIN_IDLE: &str = "ERR Invalid min-idle-time argument for XCLAIM";
pub const XCLAIM_IDLE: &str = "ERR Invalid IDLE option argument for XCLAIM";
pub const XCLAIM_TIME: &str = "ERR Invalid TIME option argument for XCLAIM";
pub const XCLAIM_RETRYCOUNT: &str = "ERR Invalid RETRYCOUNT option argument for XCLAIM";
pub const XAUTOCLAIM_MIN_IDLE: &str = "ERR Invalid min-idle-time argument for XAUTOCLAIM";
pub const XAUTOCLAIM_COUNT: &str = "ERR COUNT must be > 0";
pub const XSTREAM_DELETED: &str = "UNBLOCKED the stream key no longer exists";
pub const XGROUP_DELETED: &str =
    "NOGROUP the consumer group this client was blocked on no longer exists";

/// NOGROUP of XREADGROUP (`in_read`), XCLAIM, XAUTOCLAIM and XPENDING.
pub fn nogroup_key_or_group(key: &[u8], group: &[u8], in_read: bool) -> CmdError {
    CmdError::owned(format!(
        "NOGROUP No such key '{}' or consumer group '{}'{}",
        c_text(key),
        c_text(group),
        if in_read {
            " in XREADGROUP with GROUP option"
        } else {
            ""
        }
    ))
}

/// NOGROUP of XGROUP and XINFO CONSUMERS.
pub fn nogroup_for_key(group: &[u8], key: &[u8]) -> CmdError {
    CmdError::owned(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        c_text(group),
        c_text(key)
    ))
}

/// XCLAIM's error for an argument that is neither an ID nor an option.
pub fn xclaim_option(opt: &[u8]) -> CmdError {
    CmdError::owned(format!("ERR Unrecognized XCLAIM option '{}'", c_text(opt)))
}

// Triggers (TRIGGER ...).
pub const TRIGGER_EXISTS: &str = "ERR a trigger with this name already exists";
pub const TRIGGER_NONE: &str = "ERR no such trigger";
pub const TRIGGER_TOO_MANY: &str = "ERR too many triggers";
pub const TRIGGER_NAME: &str = "ERR trigger names are 1 to 256 bytes";
pub const TRIGGER_TARGET: &str =
    "ERR invalid trigger target: use an http://, https:// or nats://host:port/subject URL";
pub const TRIGGER_BATCHSIZE: &str = "ERR BATCHSIZE must be between 1 and 10000";
pub const TRIGGER_WINDOW: &str = "ERR WINDOW must be between 0 and 300000 milliseconds";
pub const TRIGGER_RETRIES: &str = "ERR RETRIES must be between 0 and 1000";
pub const TRIGGER_BACKOFF: &str =
    "ERR BACKOFF needs a base and a maximum in milliseconds, 1 <= base <= max <= 3600000";
pub const TRIGGER_MAXAGE: &str = "ERR MAXAGE must be a non-negative number of milliseconds";
pub const TRIGGER_BISECT: &str = "ERR BISECT must be yes or no";
pub const TRIGGER_PARALLELISM: &str = "ERR PARALLELISM must be between 1 and 64";
pub const TRIGGER_FORMAT: &str = "ERR FORMAT must be cloudevents or dynamodb";
pub const TRIGGER_TIMEOUT: &str = "ERR TIMEOUT must be between 1 and 900000 milliseconds";
pub const TRIGGER_SECRET: &str = "ERR SECRET must be 1 to 1024 bytes";
pub const TRIGGER_REDRIVING: &str = "ERR a redrive of this trigger is already running";
pub const TRIGGER_NO_DEADLETTER: &str = "ERR this trigger has no DEADLETTER key to redrive from";
pub const TRIGGER_DEADLETTER_TYPE: &str =
    "WRONGTYPE the trigger's DEADLETTER key does not hold a stream";
