//! Stream consumer groups, XINFO and blocking stream reads: exact reply bytes captured from
//! redis-server 7.0.15 (XGROUP, XREADGROUP, XACK, XPENDING, XCLAIM, XAUTOCLAIM, XINFO), blocked
//! XREAD/XREADGROUP woken by XADD from another connection (timeouts, CLIENT UNBLOCK, deleted
//! keys and groups, MULTI), a crash-and-claim flow, and (Eddy-only) groups and pending entries
//! surviving log replay, a snapshot and DUMP/RESTORE.

mod common;

use std::time::Duration;

use common::{eddy_only, poll_until, q, qerr, qv, Resp, Server};
use redis::Value;

/// Commands (split on spaces) and the exact bytes redis-server 7.0.15 replied; `None` where the
/// reply holds idle times, which depend on the machine's speed.
const SCRIPT: &[(&str, Option<&str>)] = &[
    ("flushall", Some("+OK\r\n")),
    ("xgroup create s g $", Some("-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.\r\n")),
    ("xgroup create s g $ mkstream", Some("+OK\r\n")),
    ("xgroup create s g $ mkstream", Some("-BUSYGROUP Consumer Group name already exists\r\n")),
    ("xgroup create s g2 0 foo", Some("-ERR unknown subcommand or wrong number of arguments for 'create'. Try XGROUP HELP.\r\n")),
    ("xgroup create s g2 0 entriesread -2", Some("-ERR value for ENTRIESREAD must be positive or -1\r\n")),
    ("xgroup create s g2 0 entriesread x", Some("-ERR value is not an integer or out of range\r\n")),
    ("xgroup create s g2 bad", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xgroup create s g2", Some("-ERR wrong number of arguments for 'xgroup|create' command\r\n")),
    ("xgroup foo s", Some("-ERR unknown subcommand 'foo'. Try XGROUP HELP.\r\n")),
    ("xgroup setid nokey g 0", Some("-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.\r\n")),
    ("xgroup setid s nog 0", Some("-NOGROUP No such consumer group 'nog' for key name 's'\r\n")),
    ("xgroup setid s g 0 entriesread", Some("-ERR unknown subcommand or wrong number of arguments for 'setid'. Try XGROUP HELP.\r\n")),
    ("xgroup setid s g 0 foo 1", Some("-ERR unknown subcommand or wrong number of arguments for 'setid'. Try XGROUP HELP.\r\n")),
    ("xgroup destroy nokey g", Some("-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.\r\n")),
    ("xgroup createconsumer nokey g c", Some("-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.\r\n")),
    ("xgroup createconsumer s nog c", Some("-NOGROUP No such consumer group 'nog' for key name 's'\r\n")),
    ("xgroup delconsumer s nog c", Some("-NOGROUP No such consumer group 'nog' for key name 's'\r\n")),
    ("set str x", Some("+OK\r\n")),
    ("xgroup create str g $", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    ("xinfo groups s", Some("*1\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:0\r\n")),
    ("xadd s 1-1 a 1", Some("$3\r\n1-1\r\n")),
    ("xadd s 2-1 b 2", Some("$3\r\n2-1\r\n")),
    ("xadd s 3-1 c 3", Some("$3\r\n3-1\r\n")),
    ("xinfo groups s", Some("*1\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:3\r\n")),
    ("xgroup create s g2 0", Some("+OK\r\n")),
    ("xgroup create s g3 $", Some("+OK\r\n")),
    ("xgroup create s g4 $ entriesread 5", Some("+OK\r\n")),
    ("xinfo groups s", Some("*4\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:3\r\n*12\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:3\r\n*12\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:0\r\n*12\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:5\r\n$3\r\nlag\r\n:-2\r\n")),
    ("xgroup setid s g4 1-1", Some("+OK\r\n")),
    ("xgroup setid s g3 $ entriesread 1", Some("+OK\r\n")),
    ("xinfo groups s", Some("*4\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:3\r\n*12\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:3\r\n*12\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:2\r\n*12\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:2\r\n")),
    ("xreadgroup group g2 c1 count 1 streams s >", Some("*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n")),
    ("xinfo groups s", Some("*4\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:3\r\n*12\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:1\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:2\r\n*12\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:2\r\n*12\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:2\r\n")),
    ("xdel s 2-1", Some(":1\r\n")),
    ("xinfo groups s", Some("*4\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n$-1\r\n*12\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:1\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n$-1\r\n*12\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:2\r\n*12\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n$-1\r\n")),
    ("xreadgroup group g2 c1 count 1 streams s >", Some("*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n")),
    ("xreadgroup group g2 c1 streams s >", Some("*-1\r\n")),
    ("xinfo groups s", Some("*4\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n$-1\r\n*12\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:2\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:2\r\n$3\r\nlag\r\n:1\r\n*12\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:2\r\n*12\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n$-1\r\n")),
    ("xreadgroup group g2 c9 streams s 0", Some("*1\r\n*2\r\n$1\r\ns\r\n*0\r\n")),
    ("xreadgroup group g2 c1 count 1 streams s 0", Some("*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n")),
    ("xpending s g2", Some("*4\r\n:2\r\n$3\r\n1-1\r\n$3\r\n3-1\r\n*1\r\n*2\r\n$2\r\nc1\r\n$1\r\n2\r\n")),
    ("xpending s g3", Some("*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n")),
    ("xpending s nog", Some("-NOGROUP No such key 's' or consumer group 'nog'\r\n")),
    ("xpending nokey g", Some("-NOGROUP No such key 'nokey' or consumer group 'g'\r\n")),
    ("xpending str g", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    ("xpending s g2 - + 10 c9", Some("*0\r\n")),
    ("xpending s g2 - + -1", Some("*0\r\n")),
    ("xpending s g2 - +", Some("-ERR syntax error\r\n")),
    ("xpending s g2 bad + 10", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xpending s g2 - + 10 c1 x", None),
    ("xpending s g2 idle x - + 10", Some("-ERR value is not an integer or out of range\r\n")),
    ("xpending s g2 idle 0 - +", Some("-ERR syntax error\r\n")),
    ("xpending s g2 (18446744073709551615-18446744073709551615 + 10", Some("-ERR invalid start ID for the interval\r\n")),
    ("xreadgroup group g2 c1 streams s $", Some("-ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.\r\n")),
    ("xreadgroup group nog c streams s >", Some("-NOGROUP No such key 's' or consumer group 'nog' in XREADGROUP with GROUP option\r\n")),
    ("xreadgroup group g c streams nokey >", Some("-NOGROUP No such key 'nokey' or consumer group 'g' in XREADGROUP with GROUP option\r\n")),
    ("xreadgroup group g c streams str >", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    ("xreadgroup group g c streams s", Some("-ERR wrong number of arguments for 'xreadgroup' command\r\n")),
    ("xreadgroup group g c streams s > >", Some("-ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.\r\n")),
    ("xreadgroup group g c count x streams s >", Some("-ERR value is not an integer or out of range\r\n")),
    ("xreadgroup group g c block x streams s >", Some("-ERR timeout is not an integer or out of range\r\n")),
    ("xreadgroup group g c block -1 streams s >", Some("-ERR timeout is negative\r\n")),
    ("xreadgroup group g c foo streams s >", Some("-ERR syntax error\r\n")),
    ("xreadgroup count 1 streams s >", Some("-ERR wrong number of arguments for 'xreadgroup' command\r\n")),
    ("xreadgroup group g c streams s bad", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xread group a b streams s 0", Some("-ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.\r\n")),
    ("xread noack streams s 0", Some("-ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.\r\n")),
    ("xread streams s >", Some("-ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.\r\n")),
    ("xreadgroup group g3 c noack streams s 0-0", Some("*1\r\n*2\r\n$1\r\ns\r\n*0\r\n")),
    ("xack s", Some("-ERR wrong number of arguments for 'xack' command\r\n")),
    ("xack s g", Some("-ERR wrong number of arguments for 'xack' command\r\n")),
    ("xack s g bad", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xack nokey g bad", Some(":0\r\n")),
    ("xack s nog 1-1", Some(":0\r\n")),
    ("xack str g 1-1", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    ("xack s g2 1-1 1-1 9-9", Some(":1\r\n")),
    ("xpending s g2", Some("*4\r\n:1\r\n$3\r\n3-1\r\n$3\r\n3-1\r\n*1\r\n*2\r\n$2\r\nc1\r\n$1\r\n1\r\n")),
    ("xclaim s nog c 0 1-1", Some("-NOGROUP No such key 's' or consumer group 'nog'\r\n")),
    ("xclaim nokey g c 0 1-1", Some("-NOGROUP No such key 'nokey' or consumer group 'g'\r\n")),
    ("xclaim str g c 0 1-1", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    ("xclaim s g2 c abc 1-1", Some("-ERR Invalid min-idle-time argument for XCLAIM\r\n")),
    ("xclaim s g2 c 0 1-1 bad", Some("-ERR Unrecognized XCLAIM option 'bad'\r\n")),
    ("xclaim s g2 c 0 bad", Some("-ERR Unrecognized XCLAIM option 'bad'\r\n")),
    ("xclaim s g2 c 0 1-1 idle x", Some("-ERR Invalid IDLE option argument for XCLAIM\r\n")),
    ("xclaim s g2 c 0 1-1 time x", Some("-ERR Invalid TIME option argument for XCLAIM\r\n")),
    ("xclaim s g2 c 0 1-1 retrycount x", Some("-ERR Invalid RETRYCOUNT option argument for XCLAIM\r\n")),
    ("xclaim s g2 c 0 1-1 lastid bad", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xclaim s g2 c 0 1-1 idle", Some("-ERR Unrecognized XCLAIM option 'idle'\r\n")),
    ("xclaim s g2 c2 0 3-1 justid", Some("*1\r\n$3\r\n3-1\r\n")),
    ("xclaim s g2 c2 0 3-1", Some("*1\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n")),
    ("xclaim s g2 c2 3600000 3-1", Some("*0\r\n")),
    ("xclaim s g2 c3 0 1-1 force justid retrycount 4", Some("*1\r\n$3\r\n1-1\r\n")),
    ("xclaim s g2 c3 0 1-1 force justid lastid 5-5", Some("*1\r\n$3\r\n1-1\r\n")),
    ("xinfo groups s", Some("*4\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n$-1\r\n*12\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:4\r\n$7\r\npending\r\n:2\r\n$17\r\nlast-delivered-id\r\n$3\r\n5-5\r\n$12\r\nentries-read\r\n:2\r\n$3\r\nlag\r\n:1\r\n*12\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:2\r\n*12\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n$-1\r\n")),
    ("xautoclaim s nog c 0 0", Some("-NOGROUP No such key 's' or consumer group 'nog'\r\n")),
    ("xautoclaim nokey g c 0 0", Some("-NOGROUP No such key 'nokey' or consumer group 'g'\r\n")),
    ("xautoclaim s g2 c abc 0", Some("-ERR Invalid min-idle-time argument for XAUTOCLAIM\r\n")),
    ("xautoclaim s g2 c 0 bad", Some("-ERR Invalid stream ID specified as stream command argument\r\n")),
    ("xautoclaim s g2 c 0 (0", Some("*3\r\n$3\r\n0-0\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*0\r\n")),
    ("xautoclaim s g2 c 0 0 count 0", Some("-ERR COUNT must be > 0\r\n")),
    ("xautoclaim s g2 c 0 0 count x", Some("-ERR COUNT must be > 0\r\n")),
    ("xautoclaim s g2 c 0 0 foo", Some("-ERR syntax error\r\n")),
    ("xautoclaim s g2 c 0 0 count 1 justid", Some("*3\r\n$3\r\n3-1\r\n*1\r\n$3\r\n1-1\r\n*0\r\n")),
    ("xautoclaim s g2 c 0 0 count 1 justid", Some("*3\r\n$3\r\n3-1\r\n*1\r\n$3\r\n1-1\r\n*0\r\n")),
    ("xautoclaim s g2 c 0 0", Some("*3\r\n$3\r\n0-0\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*0\r\n")),
    ("xadd s 4-1 d 4", Some("$3\r\n4-1\r\n")),
    ("xadd s 5-1 e 5", Some("$3\r\n5-1\r\n")),
    ("xgroup create s g5 0", Some("+OK\r\n")),
    ("xreadgroup group g5 z streams s >", Some("*1\r\n*2\r\n$1\r\ns\r\n*4\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$3\r\n4-1\r\n*2\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n")),
    ("xdel s 4-1", Some(":1\r\n")),
    ("xautoclaim s g5 y 0 - count 2", Some("*3\r\n$3\r\n4-1\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*0\r\n")),
    ("xautoclaim s g5 y 0 - count 2 justid", Some("*3\r\n$3\r\n4-1\r\n*2\r\n$3\r\n1-1\r\n$3\r\n3-1\r\n*0\r\n")),
    ("xpending s g5", Some("*4\r\n:4\r\n$3\r\n1-1\r\n$3\r\n5-1\r\n*2\r\n*2\r\n$1\r\ny\r\n$1\r\n2\r\n*2\r\n$1\r\nz\r\n$1\r\n2\r\n")),
    ("xgroup createconsumer s g5 w", Some(":1\r\n")),
    ("xgroup createconsumer s g5 w", Some(":0\r\n")),
    ("xgroup delconsumer s g5 y", Some(":2\r\n")),
    ("xgroup delconsumer s g5 y", Some(":0\r\n")),
    ("xgroup destroy s g5", Some(":1\r\n")),
    ("xgroup destroy s g5", Some(":0\r\n")),
    ("xinfo", Some("-ERR wrong number of arguments for 'xinfo' command\r\n")),
    ("xinfo foo s", Some("-ERR unknown subcommand 'foo'. Try XINFO HELP.\r\n")),
    ("xinfo help", Some("*9\r\n+XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+CONSUMERS <key> <groupname>\r\n+    Show consumers of <groupname>.\r\n+GROUPS <key>\r\n+    Show the stream consumer groups.\r\n+STREAM <key> [FULL [COUNT <count>]\r\n+    Show information about the stream.\r\n+HELP\r\n+    Prints this help.\r\n")),
    ("xgroup help", Some("*17\r\n+XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:\r\n+CREATE <key> <groupname> <id|$> [option]\r\n+    Create a new consumer group. Options are:\r\n+    * MKSTREAM\r\n+      Create the empty stream if it does not exist.\r\n+    * ENTRIESREAD entries_read\r\n+      Set the group's entries_read counter (internal use).\r\n+CREATECONSUMER <key> <groupname> <consumer>\r\n+    Create a new consumer in the specified group.\r\n+DELCONSUMER <key> <groupname> <consumer>\r\n+    Remove the specified consumer.\r\n+DESTROY <key> <groupname>\r\n+    Remove the specified group.\r\n+SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]\r\n+    Set the current group ID and entries_read counter.\r\n+HELP\r\n+    Prints this help.\r\n")),
    ("xinfo help foo", Some("-ERR wrong number of arguments for 'xinfo|help' command\r\n")),
    ("xinfo stream nokey", Some("-ERR no such key\r\n")),
    ("xinfo stream str", Some("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n")),
    ("xinfo groups nokey", Some("-ERR no such key\r\n")),
    ("xinfo consumers nokey g", Some("-ERR no such key\r\n")),
    ("xinfo consumers s nog", Some("-NOGROUP No such consumer group 'nog' for key name 's'\r\n")),
    ("xinfo stream s foo", Some("-ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP.\r\n")),
    ("xinfo stream s full count", Some("-ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP.\r\n")),
    ("xinfo stream s full count x", Some("-ERR value is not an integer or out of range\r\n")),
    ("xinfo stream s full foo 1", Some("-ERR unknown subcommand or wrong number of arguments for 'stream'. Try XINFO HELP.\r\n")),
    ("xinfo stream s", Some("*20\r\n$6\r\nlength\r\n:3\r\n$15\r\nradix-tree-keys\r\n:1\r\n$16\r\nradix-tree-nodes\r\n:2\r\n$17\r\nlast-generated-id\r\n$3\r\n5-1\r\n$20\r\nmax-deleted-entry-id\r\n$3\r\n4-1\r\n$13\r\nentries-added\r\n:5\r\n$23\r\nrecorded-first-entry-id\r\n$3\r\n1-1\r\n$6\r\ngroups\r\n:4\r\n$11\r\nfirst-entry\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n$10\r\nlast-entry\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n")),
    ("xadd e 1-1 a b", Some("$3\r\n1-1\r\n")),
    ("xdel e 1-1", Some(":1\r\n")),
    ("xinfo stream e", Some("*20\r\n$6\r\nlength\r\n:0\r\n$15\r\nradix-tree-keys\r\n:0\r\n$16\r\nradix-tree-nodes\r\n:1\r\n$17\r\nlast-generated-id\r\n$3\r\n1-1\r\n$20\r\nmax-deleted-entry-id\r\n$3\r\n1-1\r\n$13\r\nentries-added\r\n:1\r\n$23\r\nrecorded-first-entry-id\r\n$3\r\n0-0\r\n$6\r\ngroups\r\n:0\r\n$11\r\nfirst-entry\r\n$-1\r\n$10\r\nlast-entry\r\n$-1\r\n")),
    ("xinfo groups e", Some("*0\r\n")),
    ("xgroup create e g $", Some("+OK\r\n")),
    ("xinfo groups e", Some("*1\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n:0\r\n")),
    ("xreadgroup group g c streams e >", Some("*-1\r\n")),
    ("xreadgroup group g c streams e >", Some("*-1\r\n")),
    ("multi", Some("+OK\r\n")),
    ("xreadgroup group g c block 0 streams e >", Some("+QUEUED\r\n")),
    ("xread block 0 streams e $", Some("+QUEUED\r\n")),
    ("exec", Some("*2\r\n*-1\r\n*-1\r\n")),
    ("xgroup setid s g2 - entriesread 0", Some("+OK\r\n")),
    ("xgroup setid s g2 + entriesread 0", Some("+OK\r\n")),
    ("xinfo groups s", Some("*4\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n$-1\r\n*12\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:5\r\n$7\r\npending\r\n:2\r\n$17\r\nlast-delivered-id\r\n$41\r\n18446744073709551615-18446744073709551615\r\n$12\r\nentries-read\r\n:0\r\n$3\r\nlag\r\n:5\r\n*12\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n$-1\r\n*12\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n$-1\r\n$3\r\nlag\r\n$-1\r\n")),
    ("xadd h 1-1 a 1", Some("$3\r\n1-1\r\n")),
    ("xadd h 2-1 b 2", Some("$3\r\n2-1\r\n")),
    ("xadd h 3-1 c 3", Some("$3\r\n3-1\r\n")),
    ("xgroup create h g 0", Some("+OK\r\n")),
    ("xreadgroup group g c streams h >", Some("*1\r\n*2\r\n$1\r\nh\r\n*3\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n")),
    ("xdel h 1-1", Some(":1\r\n")),
    ("xreadgroup group g c count 2 streams h 0", Some("*1\r\n*2\r\n$1\r\nh\r\n*2\r\n*2\r\n$3\r\n1-1\r\n*-1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n")),
    ("xreadgroup group g c streams h 1-1", Some("*1\r\n*2\r\n$1\r\nh\r\n*2\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n")),
    ("xpending h g - + 10", None),
    ("xpending h g idle 3600000 - + 10", Some("*0\r\n")),
    ("xclaim h g d 0 1-1 2-1 justid", Some("*1\r\n$3\r\n2-1\r\n")),
    ("xpending h g - + 10", None),
    ("xreadgroup group g c noack streams h >", Some("*-1\r\n")),
    ("xadd h 4-1 d 4", Some("$3\r\n4-1\r\n")),
    ("xreadgroup group g c noack streams h 0 >", Some("-ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.\r\n")),
    ("xreadgroup group g c noack streams h >", Some("*1\r\n*2\r\n$1\r\nh\r\n*1\r\n*2\r\n$3\r\n4-1\r\n*2\r\n$1\r\nd\r\n$1\r\n4\r\n")),
    ("xpending h g", Some("*4\r\n:2\r\n$3\r\n2-1\r\n$3\r\n3-1\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n1\r\n*2\r\n$1\r\nd\r\n$1\r\n1\r\n")),
    ("xinfo groups h", Some("*1\r\n*12\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:2\r\n$7\r\npending\r\n:2\r\n$17\r\nlast-delivered-id\r\n$3\r\n4-1\r\n$12\r\nentries-read\r\n:4\r\n$3\r\nlag\r\n:0\r\n")),
    // Arguments are checked before the key and group.
    ("xautoclaim nokey g c 0 0 count 0", Some("-ERR COUNT must be > 0\r\n")),
    ("xautoclaim nokey g c x 0", Some("-ERR Invalid min-idle-time argument for XAUTOCLAIM\r\n")),
    ("xautoclaim s g2 c 0 0 count 576460752303423488", Some("-ERR COUNT must be > 0\r\n")),
];

/// The replies to [`SCRIPT`] (by index) that differ in RESP3, as redis-server 7.0.15 sent them;
/// every other reply is the same bytes as in RESP2.
const RESP3: &[(usize, &str)] = &[
    (20, "*1\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:0\r\n"),
    (24, "*1\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:3\r\n"),
    (28, "*4\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:3\r\n%6\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:3\r\n%6\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:0\r\n%6\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:5\r\n$3\r\nlag\r\n:-2\r\n"),
    (31, "*4\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:3\r\n%6\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:3\r\n%6\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:2\r\n%6\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:2\r\n"),
    (32, "%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
    (33, "*4\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:3\r\n%6\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:1\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:2\r\n%6\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:2\r\n%6\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:2\r\n"),
    (35, "*4\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n_\r\n%6\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:1\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n_\r\n%6\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:2\r\n%6\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n_\r\n"),
    (36, "%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
    (37, "_\r\n"),
    (38, "*4\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n_\r\n%6\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:2\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:2\r\n$3\r\nlag\r\n:1\r\n%6\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:2\r\n%6\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n_\r\n"),
    (39, "%1\r\n$1\r\ns\r\n*0\r\n"),
    (40, "%1\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"),
    (42, "*4\r\n:0\r\n_\r\n_\r\n_\r\n"),
    (69, "%1\r\n$1\r\ns\r\n*0\r\n"),
    (94, "*4\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n_\r\n%6\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:4\r\n$7\r\npending\r\n:2\r\n$17\r\nlast-delivered-id\r\n$3\r\n5-5\r\n$12\r\nentries-read\r\n:2\r\n$3\r\nlag\r\n:1\r\n%6\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n:2\r\n%6\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n_\r\n"),
    (109, "%1\r\n$1\r\ns\r\n*4\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$3\r\n4-1\r\n*2\r\n$1\r\nd\r\n$1\r\n4\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    (134, "%10\r\n$6\r\nlength\r\n:3\r\n$15\r\nradix-tree-keys\r\n:1\r\n$16\r\nradix-tree-nodes\r\n:2\r\n$17\r\nlast-generated-id\r\n$3\r\n5-1\r\n$20\r\nmax-deleted-entry-id\r\n$3\r\n4-1\r\n$13\r\nentries-added\r\n:5\r\n$23\r\nrecorded-first-entry-id\r\n$3\r\n1-1\r\n$6\r\ngroups\r\n:4\r\n$11\r\nfirst-entry\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n$10\r\nlast-entry\r\n*2\r\n$3\r\n5-1\r\n*2\r\n$1\r\ne\r\n$1\r\n5\r\n"),
    (137, "%10\r\n$6\r\nlength\r\n:0\r\n$15\r\nradix-tree-keys\r\n:0\r\n$16\r\nradix-tree-nodes\r\n:1\r\n$17\r\nlast-generated-id\r\n$3\r\n1-1\r\n$20\r\nmax-deleted-entry-id\r\n$3\r\n1-1\r\n$13\r\nentries-added\r\n:1\r\n$23\r\nrecorded-first-entry-id\r\n$3\r\n0-0\r\n$6\r\ngroups\r\n:0\r\n$11\r\nfirst-entry\r\n_\r\n$10\r\nlast-entry\r\n_\r\n"),
    (140, "*1\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n:0\r\n"),
    (141, "_\r\n"),
    (142, "_\r\n"),
    (146, "*2\r\n_\r\n_\r\n"),
    (149, "*4\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n0-0\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n_\r\n%6\r\n$4\r\nname\r\n$2\r\ng2\r\n$9\r\nconsumers\r\n:5\r\n$7\r\npending\r\n:2\r\n$17\r\nlast-delivered-id\r\n$41\r\n18446744073709551615-18446744073709551615\r\n$12\r\nentries-read\r\n:0\r\n$3\r\nlag\r\n:5\r\n%6\r\n$4\r\nname\r\n$2\r\ng3\r\n$9\r\nconsumers\r\n:1\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n3-1\r\n$12\r\nentries-read\r\n:1\r\n$3\r\nlag\r\n_\r\n%6\r\n$4\r\nname\r\n$2\r\ng4\r\n$9\r\nconsumers\r\n:0\r\n$7\r\npending\r\n:0\r\n$17\r\nlast-delivered-id\r\n$3\r\n1-1\r\n$12\r\nentries-read\r\n_\r\n$3\r\nlag\r\n_\r\n"),
    (154, "%1\r\n$1\r\nh\r\n*3\r\n*2\r\n$3\r\n1-1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
    (156, "%1\r\n$1\r\nh\r\n*2\r\n*2\r\n$3\r\n1-1\r\n_\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"),
    (157, "%1\r\n$1\r\nh\r\n*2\r\n*2\r\n$3\r\n2-1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$3\r\n3-1\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n"),
    (162, "_\r\n"),
    (165, "%1\r\n$1\r\nh\r\n*1\r\n*2\r\n$3\r\n4-1\r\n*2\r\n$1\r\nd\r\n$1\r\n4\r\n"),
    (167, "*1\r\n%6\r\n$4\r\nname\r\n$1\r\ng\r\n$9\r\nconsumers\r\n:2\r\n$7\r\npending\r\n:2\r\n$17\r\nlast-delivered-id\r\n$3\r\n4-1\r\n$12\r\nentries-read\r\n:4\r\n$3\r\nlag\r\n:0\r\n"),
];

#[test]
fn replies_match_redis_byte_for_byte() {
    common::check_replies(&Server::start(), SCRIPT);
}

#[test]
fn resp3_replies_match_redis_byte_for_byte() {
    let srv = Server::start();
    let mut r = srv.raw();
    r.call(&["HELLO", "3"]);
    for (i, (cmd, resp2)) in SCRIPT.iter().enumerate() {
        let args: Vec<&str> = cmd.split(' ').collect();
        r.send_cmd(&args);
        let (_, got) = r.read_frame();
        let want = RESP3
            .iter()
            .find(|(j, _)| *j == i)
            .map(|(_, w)| *w)
            .or(*resp2);
        if let Some(want) = want {
            assert_eq!(
                String::from_utf8_lossy(&got),
                want,
                "RESP3 reply to {cmd:?} differs"
            );
        }
    }
}

/// Waits until `n` clients are blocked (the event a test needs before writing).
fn wait_blocked(c: &mut redis::Connection, n: usize) {
    let blocked = |c: &mut redis::Connection| -> usize {
        let info: String = q(c, &["INFO", "clients"]);
        info.lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(
        poll_until(Duration::from_secs(10), || blocked(c) >= n),
        "expected {n} blocked clients"
    );
}

/// A read of group `g` of `s` by consumer `c` that waits forever.
const BLOCKED_READ: &[&str] = &[
    "XREADGROUP",
    "GROUP",
    "g",
    "c",
    "BLOCK",
    "0",
    "STREAMS",
    "s",
    ">",
];

fn text(r: &Resp) -> String {
    r.text().unwrap_or_else(|| panic!("not a string: {r:?}"))
}

fn items(r: &Resp) -> &[Resp] {
    match r {
        Resp::Array(a) => a,
        other => panic!("not an array: {other:?}"),
    }
}

/// The (key, [entry ids]) pairs of an XREAD/XREADGROUP reply (RESP2 array or RESP3 map).
fn read_ids(r: &Resp) -> Vec<(String, Vec<String>)> {
    let per_key: Vec<(&Resp, &Resp)> = match r {
        Resp::Map(m) => m.iter().map(|(k, v)| (k, v)).collect(),
        Resp::Array(a) => a.iter().map(|kv| (&items(kv)[0], &items(kv)[1])).collect(),
        other => panic!("not a read reply: {other:?}"),
    };
    per_key
        .into_iter()
        .map(|(k, es)| {
            (
                text(k),
                items(es).iter().map(|e| text(&items(e)[0])).collect(),
            )
        })
        .collect()
}

fn client_id(r: &mut common::Raw) -> String {
    match r.call(&["CLIENT", "ID"]) {
        Resp::Int(i) => i.to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn xread_block_wakes_every_reader_when_another_client_adds() {
    let srv = Server::start();
    let mut c = srv.conn();
    let _: String = q(&mut c, &["XADD", "s", "1-1", "old", "x"]);
    let mut readers = Vec::new();
    for resp3 in [false, true] {
        let mut r = srv.raw();
        if resp3 {
            r.call(&["HELLO", "3"]);
        }
        // `$` is the last ID at the time of the call: the old entry is not returned.
        r.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "other", "s", "0-0", "$"]);
        readers.push(r);
    }
    wait_blocked(&mut c, 2);
    let _: String = q(&mut c, &["XADD", "s", "2-1", "f", "v"]);
    for r in &mut readers {
        let reply = r.read_reply();
        assert_eq!(
            read_ids(&reply),
            [("s".to_string(), vec!["2-1".to_string()])]
        );
    }
    // A reader of a key that has nothing newer than its ID goes on waiting.
    let mut r = srv.raw();
    r.send_cmd(&["XREAD", "COUNT", "1", "BLOCK", "0", "STREAMS", "s", "5-0"]);
    wait_blocked(&mut c, 1);
    let _: String = q(&mut c, &["XADD", "s", "3-1", "f", "v"]);
    assert!(r.try_read_reply(Duration::from_millis(100)).is_none());
    let _: String = q(&mut c, &["XADD", "s", "6-1", "f", "v"]);
    assert_eq!(
        read_ids(&r.read_reply()),
        [("s".to_string(), vec!["6-1".to_string()])]
    );
}

/// As in Redis 7.0, XREADGROUP creates its consumer only when it serves it: a `>` read that
/// finds nothing (answering nil, timing out, or still blocked) leaves the group without it; the
/// blocked reader is created when an entry wakes it, and a history read creates it at once.
#[test]
fn xreadgroup_creates_its_consumer_only_when_it_serves_it() {
    let srv = Server::start();
    let mut c = srv.conn();
    let consumers = |c: &mut redis::Connection| -> i64 {
        let Value::Array(groups) = qv(c, &["XINFO", "GROUPS", "s"]) else {
            panic!("XINFO GROUPS")
        };
        let Value::Array(fields) = &groups[0] else {
            panic!("a group")
        };
        match &fields[3] {
            Value::Int(n) => *n,
            other => panic!("consumers: {other:?}"),
        }
    };
    let _: () = q(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let read = |c: &mut redis::Connection, who: &str, extra: &[&str], id: &str| -> Value {
        let mut args = vec!["XREADGROUP", "GROUP", "g", who];
        args.extend_from_slice(extra);
        args.extend(["STREAMS", "s", id]);
        qv(c, &args)
    };
    assert_eq!(read(&mut c, "c1", &["NOACK"], ">"), Value::Nil);
    assert_eq!(read(&mut c, "c2", &["BLOCK", "1"], ">"), Value::Nil);
    assert_eq!(consumers(&mut c), 0);
    let mut r = srv.raw();
    r.send_cmd(BLOCKED_READ);
    wait_blocked(&mut c, 1);
    assert_eq!(consumers(&mut c), 0);
    let _: String = q(&mut c, &["XADD", "s", "1-1", "f", "v"]);
    assert_eq!(
        read_ids(&r.read_reply()),
        [("s".to_string(), vec!["1-1".to_string()])]
    );
    assert_eq!(consumers(&mut c), 1);
    let _: Value = read(&mut c, "c3", &[], "0");
    assert_eq!(consumers(&mut c), 2);
}

#[test]
fn xreadgroup_block_gives_each_waiter_distinct_entries() {
    let srv = Server::start();
    let mut c = srv.conn();
    let _: () = q(&mut c, &["XGROUP", "CREATE", "jobs", "g", "$", "MKSTREAM"]);
    let mut workers = Vec::new();
    for name in ["w1", "w2"] {
        let mut r = srv.raw();
        r.send_cmd(&[
            "XREADGROUP",
            "GROUP",
            "g",
            name,
            "COUNT",
            "1",
            "BLOCK",
            "0",
            "STREAMS",
            "jobs",
            ">",
        ]);
        wait_blocked(&mut c, workers.len() + 1);
        workers.push(r);
    }
    let _: String = q(&mut c, &["XADD", "jobs", "1-1", "job", "a"]);
    // The oldest waiter gets the first entry; the other goes on waiting for the next.
    assert_eq!(
        read_ids(&workers[0].read_reply()),
        [("jobs".to_string(), vec!["1-1".to_string()])]
    );
    assert!(workers[1]
        .try_read_reply(Duration::from_millis(100))
        .is_none());
    let _: String = q(&mut c, &["XADD", "jobs", "2-1", "job", "b"]);
    assert_eq!(
        read_ids(&workers[1].read_reply()),
        [("jobs".to_string(), vec!["2-1".to_string()])]
    );
    // Both deliveries are pending, each with its consumer.
    let pending = qv(&mut c, &["XPENDING", "jobs", "g"]);
    assert_eq!(
        pending,
        Value::Array(vec![
            Value::Int(2),
            Value::BulkString(b"1-1".to_vec()),
            Value::BulkString(b"2-1".to_vec()),
            Value::Array(vec![
                Value::Array(vec![
                    Value::BulkString(b"w1".to_vec()),
                    Value::BulkString(b"1".to_vec())
                ]),
                Value::Array(vec![
                    Value::BulkString(b"w2".to_vec()),
                    Value::BulkString(b"1".to_vec())
                ]),
            ]),
        ])
    );
}

#[test]
fn an_xadd_inside_exec_serves_blocked_readers_after_the_transaction() {
    let srv = Server::start();
    let mut c = srv.conn();
    let _: () = q(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let mut reader = srv.raw();
    reader.send_cmd(BLOCKED_READ);
    wait_blocked(&mut c, 1);
    let mut tx = srv.raw();
    tx.call(&["MULTI"]);
    tx.call(&["XADD", "s", "1-1", "f", "v"]);
    tx.call(&["XADD", "s", "2-1", "f", "v"]);
    assert_eq!(
        tx.call(&["EXEC"]),
        Resp::Array(vec![
            Resp::Bulk(b"1-1".to_vec()),
            Resp::Bulk(b"2-1".to_vec())
        ])
    );
    // Served once the whole transaction is applied: both entries in one reply.
    assert_eq!(
        read_ids(&reader.read_reply()),
        [("s".to_string(), vec!["1-1".to_string(), "2-1".to_string()])]
    );
}

#[test]
fn blocked_stream_reads_time_out_with_a_null_array() {
    let srv = Server::start();
    let mut c = srv.conn();
    let _: () = q(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    for resp3 in [false, true] {
        let mut r = srv.raw();
        if resp3 {
            r.call(&["HELLO", "3"]);
        }
        let want = if resp3 { Resp::Null } else { Resp::NullArray };
        assert_eq!(
            r.call(&["XREAD", "BLOCK", "20", "STREAMS", "s", "nokey", "$", "$"]),
            want
        );
        assert_eq!(
            r.call(&[
                "XREADGROUP",
                "GROUP",
                "g",
                "c",
                "BLOCK",
                "20",
                "STREAMS",
                "s",
                ">"
            ]),
            want
        );
    }
    // Inside MULTI a blocking read does not wait.
    let mut r = srv.raw();
    r.call(&["MULTI"]);
    r.call(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    r.call(BLOCKED_READ);
    assert_eq!(
        r.call(&["EXEC"]),
        Resp::Array(vec![Resp::NullArray, Resp::NullArray])
    );
}

#[test]
fn client_unblock_ends_blocked_stream_reads() {
    let srv = Server::start();
    let mut c = srv.conn();
    let _: () = q(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let mut r = srv.raw();
    let id = client_id(&mut r);
    r.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
    wait_blocked(&mut c, 1);
    assert_eq!(
        qv(&mut c, &["CLIENT", "UNBLOCK", &id, "TIMEOUT"]),
        Value::Int(1)
    );
    assert_eq!(r.read_reply(), Resp::NullArray);
    r.send_cmd(BLOCKED_READ);
    wait_blocked(&mut c, 1);
    assert_eq!(
        qv(&mut c, &["CLIENT", "UNBLOCK", &id, "ERROR"]),
        Value::Int(1)
    );
    assert_eq!(
        r.read_reply(),
        Resp::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
    // Unblocked readers no longer take entries.
    let _: String = q(&mut c, &["XADD", "s", "1-1", "f", "v"]);
    assert_eq!(r.call(&["PING"]), Resp::Simple("PONG".into()));
    let info = qv(&mut c, &["XINFO", "GROUPS", "s"]);
    let groups = match info {
        Value::Array(g) => g,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        common::vget(&groups[0], "last-delivered-id"),
        Some(Value::BulkString(b"0-0".to_vec()))
    );
}

#[test]
fn deleting_the_stream_or_its_group_ends_blocked_xreadgroup() {
    let srv = Server::start();
    let mut c = srv.conn();
    for how in ["DEL", "SET", "RENAME", "PEXPIRE", "FLUSHALL", "DESTROY"] {
        let _: () = q(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut r = srv.raw();
        r.send_cmd(BLOCKED_READ);
        // A plain XREAD on the same key is not ended by the deletion.
        let mut x = srv.raw();
        x.send_cmd(&["XREAD", "BLOCK", "0", "STREAMS", "s", "$"]);
        wait_blocked(&mut c, 2);
        let gone = "UNBLOCKED the stream key no longer exists";
        let want = match how {
            "DEL" => {
                let _: i64 = q(&mut c, &["DEL", "s"]);
                gone
            }
            "SET" => {
                let _: () = q(&mut c, &["SET", "s", "x"]);
                gone
            }
            "RENAME" => {
                let _: i64 = q(&mut c, &["RPUSH", "list", "x"]);
                let _: () = q(&mut c, &["RENAME", "list", "s"]);
                gone
            }
            // Removed by the server's own expiry, not by a command touching the key.
            "PEXPIRE" => {
                let _: i64 = q(&mut c, &["PEXPIRE", "s", "1"]);
                gone
            }
            "FLUSHALL" => {
                let _: () = q(&mut c, &["FLUSHALL"]);
                gone
            }
            _ => {
                let _: i64 = q(&mut c, &["XGROUP", "DESTROY", "s", "g"]);
                "NOGROUP the consumer group this client was blocked on no longer exists"
            }
        };
        assert_eq!(r.read_reply(), Resp::Error(want.into()));
        assert!(x.try_read_reply(Duration::from_millis(50)).is_none());
        let _: i64 = q(&mut c, &["DEL", "s"]);
        let _: String = q(&mut c, &["XADD", "s", "1-1", "f", "v"]);
        assert_eq!(
            read_ids(&x.read_reply()),
            [("s".to_string(), vec!["1-1".to_string()])]
        );
        let _: i64 = q(&mut c, &["DEL", "s"]);
    }
}

/// Pending entries of `group` as (id, consumer, delivery count).
fn pending(c: &mut redis::Connection, key: &str, group: &str) -> Vec<(String, String, i64)> {
    let v = qv(c, &["XPENDING", key, group, "-", "+", "100"]);
    let Value::Array(rows) = v else {
        panic!("{v:?}")
    };
    rows.into_iter()
        .map(|row| match row {
            Value::Array(f) => match (&f[0], &f[1], &f[3]) {
                (Value::BulkString(id), Value::BulkString(c), Value::Int(n)) => (
                    String::from_utf8_lossy(id).into_owned(),
                    String::from_utf8_lossy(c).into_owned(),
                    *n,
                ),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect()
}

#[test]
fn a_crashed_consumers_entries_are_autoclaimed_and_acked_by_another() {
    let srv = Server::start();
    let mut c = srv.conn();
    let _: () = q(&mut c, &["XGROUP", "CREATE", "jobs", "g", "$", "MKSTREAM"]);
    for i in 1..=3 {
        let _: String = q(
            &mut c,
            &["XADD", "jobs", &format!("{i}-1"), "job", &i.to_string()],
        );
    }
    // Consumer A reads everything and "dies" without acknowledging.
    let mut a = srv.conn();
    let got = qv(
        &mut a,
        &["XREADGROUP", "GROUP", "g", "A", "STREAMS", "jobs", ">"],
    );
    assert!(
        matches!(got, Value::Array(ref v) if v.len() == 1),
        "{got:?}"
    );
    drop(a);
    let owned_by_a: Vec<(String, String, i64)> = (1..=3)
        .map(|i| (format!("{i}-1"), "A".to_string(), 1))
        .collect();
    assert_eq!(pending(&mut c, "jobs", "g"), owned_by_a);
    // B asks too early: nothing has been idle for a minute.
    let mut b = srv.conn();
    let early = qv(
        &mut b,
        &["XAUTOCLAIM", "jobs", "g", "B", "60000", "0", "JUSTID"],
    );
    assert_eq!(
        early,
        Value::Array(vec![
            Value::BulkString(b"0-0".to_vec()),
            Value::Array(vec![]),
            Value::Array(vec![])
        ])
    );
    // Once the entries have been idle 50 ms, B takes two, then the rest.
    let mut first = Value::Nil;
    assert!(poll_until(Duration::from_secs(10), || {
        first = qv(
            &mut b,
            &["XAUTOCLAIM", "jobs", "g", "B", "50", "0", "COUNT", "2"],
        );
        matches!(&first, Value::Array(v) if matches!(&v[1], Value::Array(e) if !e.is_empty()))
    }));
    let Value::Array(parts) = first else {
        unreachable!()
    };
    assert_eq!(parts[0], Value::BulkString(b"3-1".to_vec()));
    let rest = qv(
        &mut b,
        &["XAUTOCLAIM", "jobs", "g", "B", "50", "3-1", "JUSTID"],
    );
    assert_eq!(
        rest,
        Value::Array(vec![
            Value::BulkString(b"0-0".to_vec()),
            Value::Array(vec![Value::BulkString(b"3-1".to_vec())]),
            Value::Array(vec![])
        ])
    );
    // Claims by XAUTOCLAIM count a delivery; JUSTID does not.
    assert_eq!(
        pending(&mut c, "jobs", "g"),
        [
            ("1-1".to_string(), "B".to_string(), 2),
            ("2-1".to_string(), "B".to_string(), 2),
            ("3-1".to_string(), "B".to_string(), 1),
        ]
    );
    assert_eq!(
        qv(&mut b, &["XACK", "jobs", "g", "1-1", "2-1", "3-1"]),
        Value::Int(3)
    );
    assert_eq!(
        qv(&mut c, &["XPENDING", "jobs", "g"]),
        Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::Nil])
    );
    let consumers = qv(&mut c, &["XINFO", "CONSUMERS", "jobs", "g"]);
    let Value::Array(list) = consumers else {
        panic!("{consumers:?}")
    };
    let names: Vec<(Option<Value>, Option<Value>)> = list
        .iter()
        .map(|m| (common::vget(m, "name"), common::vget(m, "pending")))
        .collect();
    assert_eq!(
        names,
        [
            (Some(Value::BulkString(b"A".to_vec())), Some(Value::Int(0))),
            (Some(Value::BulkString(b"B".to_vec())), Some(Value::Int(0))),
        ]
    );
    assert_eq!(
        qerr(&mut c, &["XAUTOCLAIM", "jobs", "nog", "B", "0", "0"]),
        "NOGROUP No such key 'jobs' or consumer group 'nog'"
    );
}

/// Everything XINFO STREAM FULL and the summary XPENDING say about `key`, minus nothing: the
/// delivery and seen times are stored values, so they must survive unchanged too.
fn snapshot_of(c: &mut redis::Connection, key: &str) -> (Value, Value) {
    (
        qv(c, &["XINFO", "STREAM", key, "FULL", "COUNT", "0"]),
        qv(c, &["XPENDING", key, "g"]),
    )
}

#[test]
fn groups_consumers_and_pending_entries_survive_replay_snapshot_and_restore() {
    if !eddy_only("groups_consumers_and_pending_entries_survive_replay_snapshot_and_restore") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    let mut setup = vec![
        "XGROUP CREATE s g $ MKSTREAM".to_string(),
        "XGROUP CREATE s other 0 ENTRIESREAD 0".to_string(),
    ];
    setup.extend((1..=6).map(|i| format!("XADD s {i}-1 n {i}")));
    setup.extend(
        [
            "XREADGROUP GROUP g a COUNT 3 STREAMS s >",
            "XREADGROUP GROUP g a STREAMS s 0",
            "XREADGROUP GROUP g b COUNT 1 NOACK STREAMS s >",
            "XCLAIM s g b 0 2-1 RETRYCOUNT 7 TIME 1000",
            "XCLAIM s g c 0 6-1 FORCE JUSTID LASTID 5-1",
            "XACK s g 1-1",
            "XDEL s 3-1",
            "XAUTOCLAIM s g d 0 0 COUNT 1",
            "XGROUP CREATECONSUMER s g idle",
            "XGROUP DELCONSUMER s other nobody",
            "XREADGROUP GROUP other x COUNT 2 STREAMS s >",
        ]
        .map(String::from),
    );
    for l in &setup {
        let _: Value = qv(&mut c, &l.split(' ').collect::<Vec<_>>());
    }
    // A delivery made by serving a blocked reader is recorded too.
    let _: () = q(&mut c, &["XGROUP", "CREATE", "s", "late", "$"]);
    let mut r = srv.raw();
    r.send_cmd(&[
        "XREADGROUP",
        "GROUP",
        "late",
        "w",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    wait_blocked(&mut c, 1);
    let _: String = q(&mut c, &["XADD", "s", "7-1", "n", "7"]);
    assert_eq!(
        read_ids(&r.read_reply()),
        [("s".to_string(), vec!["7-1".to_string()])]
    );
    let before = snapshot_of(&mut c, "s");
    assert_ne!(
        before.1,
        Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::Nil])
    );
    drop(r);
    // The change log alone (no snapshot yet).
    let srv = common::restart_nosave(srv);
    let mut c = srv.conn();
    assert_eq!(snapshot_of(&mut c, "s"), before, "after log replay");
    // A snapshot.
    let _: () = q(&mut c, &["SAVE"]);
    let srv = common::restart_nosave(srv);
    let mut c = srv.conn();
    assert_eq!(
        snapshot_of(&mut c, "s"),
        before,
        "after loading the snapshot"
    );
    // DUMP / RESTORE.
    let dump: Vec<u8> = redis::cmd("DUMP").arg("s").query(&mut c).expect("DUMP");
    let _: () = redis::cmd("RESTORE")
        .arg("copy")
        .arg(0)
        .arg(dump)
        .query(&mut c)
        .expect("RESTORE");
    let (full, summary) = snapshot_of(&mut c, "copy");
    assert_eq!((full, summary), before, "after RESTORE");
}

#[test]
fn group_bookkeeping_notifies_only_what_redis_notifies() {
    let srv = Server::start();
    let mut c = srv.conn();
    let _: () = q(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = srv.raw();
    sub.call(&["PSUBSCRIBE", "__keyevent@0__:*"]);
    let script = [
        "XGROUP CREATE s g $ MKSTREAM",
        "XADD s 1-1 a b",
        "XREADGROUP GROUP g c STREAMS s >",
        "XREADGROUP GROUP g c STREAMS s 0",
        "XCLAIM s g d 0 1-1",
        "XAUTOCLAIM s g e 0 0",
        "XACK s g 1-1",
        "XREADGROUP GROUP g c NOACK STREAMS s >",
        "XGROUP SETID s g 0",
        "XGROUP CREATECONSUMER s g f",
        "XGROUP DELCONSUMER s g f",
        "XGROUP DESTROY s g",
        "SET sentinel x",
    ];
    for l in script {
        let args: Vec<&str> = l.split(' ').collect();
        let _: Value = qv(&mut c, &args);
    }
    let mut events = Vec::new();
    loop {
        let m = sub.read_reply();
        let channel = match &m {
            Resp::Array(v) | Resp::Push(v) => text(&v[2]),
            other => panic!("{other:?}"),
        };
        let ev = channel.trim_start_matches("__keyevent@0__:").to_string();
        if ev == "set" {
            break;
        }
        events.push(ev);
    }
    assert_eq!(
        events,
        [
            "xgroup-create",
            "xadd",
            "xgroup-createconsumer",
            "xgroup-createconsumer",
            "xgroup-createconsumer",
            "xgroup-setid",
            "xgroup-createconsumer",
            "xgroup-delconsumer",
            "xgroup-destroy",
        ]
    );
}

#[test]
fn concurrent_workers_and_producers_deliver_every_entry_exactly_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};
    const PRODUCERS: usize = 2;
    const PER_PRODUCER: usize = 50;
    const TOTAL: usize = PRODUCERS * PER_PRODUCER;
    let srv = Server::start();
    let mut c = srv.conn();
    let _: () = q(&mut c, &["XGROUP", "CREATE", "jobs", "g", "$", "MKSTREAM"]);
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let done = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let mut conn = srv.conn();
            let (seen, done) = (Arc::clone(&seen), Arc::clone(&done));
            std::thread::spawn(move || {
                let name = format!("w{w}");
                // Bounded, so a lost entry fails the comparison below instead of hanging.
                let deadline = std::time::Instant::now() + Duration::from_secs(30);
                while done.load(Ordering::SeqCst) < TOTAL && std::time::Instant::now() < deadline {
                    let args = [
                        "XREADGROUP",
                        "GROUP",
                        "g",
                        &name,
                        "COUNT",
                        "1",
                        "BLOCK",
                        "100",
                        "STREAMS",
                        "jobs",
                        ">",
                    ];
                    let Value::Array(keys) = qv(&mut conn, &args) else {
                        continue;
                    };
                    for k in keys {
                        let Value::Array(kv) = k else { panic!("{k:?}") };
                        let Value::Array(entries) = &kv[1] else {
                            panic!("{kv:?}")
                        };
                        for e in entries {
                            let Value::Array(e) = e else { panic!("{e:?}") };
                            let Value::BulkString(id) = &e[0] else {
                                panic!("{e:?}")
                            };
                            let id = String::from_utf8_lossy(id).into_owned();
                            let _: i64 = q(&mut conn, &["XACK", "jobs", "g", &id]);
                            seen.lock().unwrap().push(id);
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                }
            })
        })
        .collect();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|_| {
            let mut conn = srv.conn();
            std::thread::spawn(move || {
                (0..PER_PRODUCER)
                    .map(|i| q::<String>(&mut conn, &["XADD", "jobs", "*", "i", &i.to_string()]))
                    .collect::<Vec<String>>()
            })
        })
        .collect();
    let mut added: Vec<String> = producers
        .into_iter()
        .flat_map(|p| p.join().expect("producer"))
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    let mut got = seen.lock().unwrap().clone();
    added.sort();
    got.sort();
    assert_eq!(got, added, "every entry delivered exactly once");
    assert_eq!(
        qv(&mut c, &["XPENDING", "jobs", "g"]),
        Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::Nil])
    );
}

/// XINFO STREAM FULL and XRANGE of `key`, without the radix-tree figures (Redis's node layout,
/// which Eddy does not have and which a restore may cut differently).
fn stream_state(c: &mut redis::Connection, key: &str) -> (Value, Value) {
    fn strip(v: Value) -> Value {
        match v {
            Value::Array(items) => {
                let mut out = Vec::new();
                let mut it = items.into_iter().peekable();
                while let Some(x) = it.next() {
                    let radix = matches!(&x, Value::BulkString(k) if k.starts_with(b"radix-tree-"));
                    if radix {
                        it.next();
                        continue;
                    }
                    out.push(strip(x));
                }
                Value::Array(out)
            }
            v => v,
        }
    }
    (
        strip(qv(c, &["XINFO", "STREAM", key, "FULL"])),
        qv(c, &["XRANGE", key, "-", "+"]),
    )
}

#[test]
fn a_stream_dump_restores_in_redis_and_a_redis_dump_in_eddy() {
    let test = "a_stream_dump_restores_in_redis_and_a_redis_dump_in_eddy";
    if !eddy_only(test) || !common::require_tool_for(test, "redis-server") {
        return;
    }
    let srv = Server::start();
    let redis = common::Redis::start();
    let mut e = srv.conn();
    let mut r = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .and_then(|cl| cl.get_connection())
        .expect("connect to redis-server");
    // Redis checks every entry of a payload it is given, Eddy's included.
    let _: () = q(&mut r, &["CONFIG", "SET", "sanitize-dump-payload", "yes"]);
    let big = "v".repeat(5000);
    let mut script: Vec<Vec<String>> = Vec::new();
    let words = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
    // Several radix-tree nodes (over 100 entries, one over 4 KiB), entries with the master's
    // fields and with others, numbers and number-like strings, a sequence below the master's.
    for i in 1..=260 {
        script.push(match i % 7 {
            0 => words(&format!("XADD s {i}-1 a {i} b -{i}")),
            3 => words(&format!("XADD s {i}-1 n 0{i} m {}", i * 1_000_000)),
            _ => words(&format!("XADD s {i}-1 n {i}")),
        });
    }
    script.push(vec![
        "XADD".into(),
        "s".into(),
        "300-0".into(),
        "big".into(),
        big,
    ]);
    for cmd in [
        "XADD s 300-5 n last",
        "XDEL s 10-1 50-1 120-1 300-0",
        "XGROUP CREATE s g 0",
        "XGROUP CREATE s other $ ENTRIESREAD 3",
        "XREADGROUP GROUP g alice COUNT 5 STREAMS s >",
        "XREADGROUP GROUP g bob COUNT 3 STREAMS s >",
        "XACK s g 1-1 7-1",
        "XCLAIM s g carol 0 2-1 RETRYCOUNT 4 TIME 1700000000000",
        "XGROUP CREATECONSUMER s g idle",
    ] {
        script.push(words(cmd));
    }
    for args in &script {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        assert_eq!(qv(&mut e, &a), qv(&mut r, &a), "{}", args[..3].join(" "));
    }
    let dump = |c: &mut redis::Connection, key: &str| -> Vec<u8> {
        redis::cmd("DUMP").arg(key).query(c).expect("DUMP")
    };
    let restore = |c: &mut redis::Connection, key: &str, payload: &[u8]| {
        let res: redis::RedisResult<()> =
            redis::cmd("RESTORE").arg(key).arg(0).arg(payload).query(c);
        res.unwrap_or_else(|err| panic!("RESTORE {key}: {err}"));
    };
    let from_redis = dump(&mut r, "s");
    restore(&mut e, "copy", &from_redis);
    assert_eq!(
        stream_state(&mut e, "copy"),
        stream_state(&mut r, "s"),
        "Redis's stream restored in Eddy"
    );
    let from_eddy = dump(&mut e, "s");
    restore(&mut r, "copy", &from_eddy);
    assert_eq!(
        stream_state(&mut r, "copy"),
        stream_state(&mut e, "s"),
        "Eddy's stream restored in Redis"
    );
    // Back and forth: what Eddy restored from Redis dumps into Redis unchanged.
    let again = dump(&mut e, "copy");
    restore(&mut r, "again", &again);
    assert_eq!(stream_state(&mut r, "again"), stream_state(&mut r, "s"));
}

/// XGROUP DESTROY unblocks a client blocked in XREADGROUP on that group with a NOGROUP error,
/// which counts as the call's failure and an error reply (errorstats, commandstats), as Redis
/// counts a blocked command's error when it unblocks.
#[test]
fn a_destroyed_group_fails_its_blocked_reader_and_counts_the_error() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CONFIG", "RESETSTAT"]);
    q::<()>(
        &mut c,
        &["XGROUP", "CREATE", "mystream", "mygroup", "$", "MKSTREAM"],
    );
    let mut rd = srv.raw();
    rd.send_cmd(&[
        "XREADGROUP",
        "GROUP",
        "mygroup",
        "Alice",
        "BLOCK",
        "0",
        "STREAMS",
        "mystream",
        ">",
    ]);
    assert!(common::blocked_clients_reach(&mut c, 1));
    assert_eq!(
        q::<i64>(&mut c, &["XGROUP", "DESTROY", "mystream", "mygroup"]),
        1
    );
    assert!(matches!(rd.read_reply(), Resp::Error(e) if e.starts_with("NOGROUP ")));
    let info: String = q(&mut c, &["INFO", "all"]);
    assert!(info.contains("errorstat_NOGROUP:count=1\r\n"), "{info}");
    assert!(
        info.contains("cmdstat_xreadgroup:calls=1,")
            && info.contains(",rejected_calls=0,failed_calls=1"),
        "{info}"
    );
    assert_eq!(common::info_field(&info, "total_error_replies"), 1);
}
