//! Lua scripting: EVAL EVALSHA EVAL_RO EVALSHA_RO and SCRIPT, with Redis 7's replies — the
//! documentation's examples, conversions both ways in RESP2 and RESP3, errors and the sandbox,
//! the script cache, BUSY and SCRIPT KILL, the change feed of a script (one transaction) and
//! replay after restart, and redis-py's `Lock` (skipped without the `redis` Python package).

mod common;

use common::{
    eddy_only, err_text, last_offset, q, qerr, qv, require_python_module, vget, vstr, Raw, Resp,
    Server,
};
use redis::Value;
use std::time::Duration;

fn wire(r: &mut Raw, args: &[&str]) -> String {
    r.send_cmd(args);
    r.read_wire()
}

fn eval(r: &mut Raw, script: &str) -> String {
    wire(r, &["EVAL", script, "0"])
}

#[test]
fn the_documentation_examples() {
    let srv = Server::start();
    let mut r = srv.raw();
    assert_eq!(
        wire(
            &mut r,
            &[
                "EVAL",
                "return { KEYS[1], KEYS[2], ARGV[1], ARGV[2] }",
                "2",
                "key1",
                "key2",
                "arg1",
                "arg2"
            ]
        ),
        "*4\r\n$4\r\nkey1\r\n$4\r\nkey2\r\n$4\r\narg1\r\n$4\r\narg2\r\n"
    );
    assert_eq!(
        wire(
            &mut r,
            &[
                "EVAL",
                "return redis.call('SET', KEYS[1], ARGV[1])",
                "1",
                "foo",
                "bar"
            ]
        ),
        "+OK\r\n"
    );
    assert_eq!(
        eval(&mut r, "return redis.call('GET', 'foo')"),
        "$3\r\nbar\r\n"
    );
    assert_eq!(
        eval(&mut r, "return 'Hello, scripting!'"),
        "$17\r\nHello, scripting!\r\n"
    );
    assert_eq!(
        eval(&mut r, "return redis.error_reply('My very special error')"),
        "-My very special error\r\n"
    );
    assert_eq!(eval(&mut r, "return {err='My Error'}"), "-My Error\r\n");
    assert_eq!(eval(&mut r, "return redis.error_reply('x')"), "-ERR x\r\n");
    assert_eq!(
        eval(&mut r, "return redis.status_reply('TOCK')"),
        "+TOCK\r\n"
    );
    assert_eq!(
        eval(
            &mut r,
            "local reply = redis.pcall('ECHO', 'a', 'b')\n\
             if reply['err'] ~= nil then return reply['err'] end\n\
             return 'no error'"
        ),
        "$58\r\nERR Wrong number of args calling Redis command from script\r\n"
    );
    assert_eq!(
        wire(
            &mut r,
            &[
                "EVAL",
                "local current = redis.call('GET', KEYS[1]) if current == false then \
                 redis.call('SET', KEYS[1], ARGV[1]) return 1 end return 0",
                "1",
                "newkey",
                "v"
            ]
        ),
        ":1\r\n"
    );
    // The numkeys argument.
    assert_eq!(
        wire(&mut r, &["EVAL", "return 1", "x"]),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        wire(&mut r, &["EVAL", "return 1", "-1"]),
        "-ERR Number of keys can't be negative\r\n"
    );
    assert_eq!(
        wire(&mut r, &["EVAL", "return 1", "2", "a"]),
        "-ERR Number of keys can't be greater than number of args\r\n"
    );
    assert_eq!(
        wire(&mut r, &["EVAL", "return 1"]),
        "-ERR wrong number of arguments for 'eval' command\r\n"
    );
}

#[test]
fn lua_values_become_resp2_replies() {
    let srv = Server::start();
    let mut r = srv.raw();
    let cases: &[(&str, &str)] = &[
        ("return 10", ":10\r\n"),
        ("return 3.99", ":3\r\n"),
        ("return -3.99", ":-3\r\n"),
        (
            "return {1,2,3,'ciao',{1,2}}",
            "*5\r\n:1\r\n:2\r\n:3\r\n$4\r\nciao\r\n*2\r\n:1\r\n:2\r\n",
        ),
        (
            "return {1,2,3.3333,'foo',nil,'bar'}",
            "*4\r\n:1\r\n:2\r\n:3\r\n$3\r\nfoo\r\n",
        ),
        ("return true", ":1\r\n"),
        ("return false", "$-1\r\n"),
        ("return nil", "$-1\r\n"),
        ("redis.setresp(3) return true", ":1\r\n"),
        ("redis.setresp(3) return false", ":0\r\n"),
        ("return {}", "*0\r\n"),
        ("return {ok='fine'}", "+fine\r\n"),
        ("return {ok='two\\nlines'}", "+two lines\r\n"),
        ("return {double=3.5}", "$3\r\n3.5\r\n"),
        (
            "return {big_number='123456789012345678901234567890'}",
            "$30\r\n123456789012345678901234567890\r\n",
        ),
        ("return {map={a=1}}", "*2\r\n$1\r\na\r\n:1\r\n"),
        ("return {set={a=true}}", "*1\r\n$1\r\na\r\n"),
        (
            "return {verbatim_string={format='txt', string='hi'}}",
            "$2\r\nhi\r\n",
        ),
    ];
    for (script, want) in cases {
        assert_eq!(&eval(&mut r, script), want, "{script}");
    }
}

#[test]
fn lua_values_become_resp3_replies() {
    let srv = Server::start();
    let mut r = srv.raw();
    assert!(matches!(r.call(&["HELLO", "3"]), Resp::Map(_)));
    let cases: &[(&str, &str)] = &[
        ("return 10", ":10\r\n"),
        // Booleans follow the script's protocol, not the caller's.
        ("return true", ":1\r\n"),
        ("return false", "_\r\n"),
        ("redis.setresp(3) return true", "#t\r\n"),
        ("redis.setresp(3) return false", "#f\r\n"),
        ("return nil", "_\r\n"),
        ("return {double=3.5}", ",3.5\r\n"),
        (
            "return {big_number='12345678901234567890'}",
            "(12345678901234567890\r\n",
        ),
        ("return {map={a=1}}", "%1\r\n$1\r\na\r\n:1\r\n"),
        ("return {set={a=true}}", "~1\r\n$1\r\na\r\n"),
        (
            "return {verbatim_string={format='txt', string='hi'}}",
            "=6\r\ntxt:hi\r\n",
        ),
        ("return {1,{ok='x'}}", "*2\r\n:1\r\n+x\r\n"),
    ];
    for (script, want) in cases {
        assert_eq!(&eval(&mut r, script), want, "{script}");
    }
}

#[test]
fn replies_become_lua_values_in_resp2_and_resp3() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["HSET", "h", "a", "1"]);
    q::<()>(&mut c, &["ZADD", "z", "1.5", "m"]);
    q::<()>(&mut c, &["SET", "s", "v"]);
    let cases: &[(&str, &str)] = &[
        // RESP2 (the default): null bulk → false, status → {ok=}, error → {err=}.
        ("return type(redis.call('GET', 'missing'))", "boolean"),
        ("return redis.call('SET', 's', 'v')['ok']", "OK"),
        (
            "return redis.pcall('INCR', 's')['err']",
            "ERR value is not an integer or out of range",
        ),
        ("return type(redis.call('INCR', 'n'))", "number"),
        (
            "return table.concat(redis.call('HGETALL', 'h'), ',')",
            "a,1",
        ),
        ("return redis.call('ZSCORE', 'z', 'm')", "1.5"),
        // RESP3: null → nil, map → {map=}, double → {double=}, boolean.
        (
            "redis.setresp(3) return type(redis.call('GET', 'missing'))",
            "nil",
        ),
        (
            "redis.setresp(3) return redis.call('HGETALL', 'h')['map']['a']",
            "1",
        ),
        (
            "redis.setresp(3) return tostring(redis.call('ZSCORE', 'z', 'm')['double'])",
            "1.5",
        ),
        (
            "redis.setresp(3) return tostring(redis.call('SISMEMBER', 'nope', 'x'))",
            "0",
        ),
        (
            "redis.setresp(3) return redis.call('SMEMBERS', 'nope')['set'] and 'set' or 'no'",
            "set",
        ),
    ];
    for (script, want) in cases {
        let got: String = q(&mut c, &["EVAL", script, "0"]);
        assert_eq!(&got, want, "{script}");
    }
    // Numbers passed to redis.call: integers as integers, others as %.17g.
    let got: String = q(
        &mut c,
        &[
            "EVAL",
            "redis.call('SET', 'f', 0.1) return redis.call('GET', 'f')",
            "0",
        ],
    );
    assert_eq!(got, "0.10000000000000001");
    let got: String = q(
        &mut c,
        &[
            "EVAL",
            "redis.call('SET', 'f', 42) return redis.call('GET', 'f')",
            "0",
        ],
    );
    assert_eq!(got, "42");
}

#[test]
fn script_errors_name_the_script_and_line() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "s", "v"]);
    let cases: Vec<(&str, String)> = vec![
        ("error('boom')", "ERR user_script:1: boom".into()),
        (
            "local a = 1\nlocal b = nil + 1",
            "ERR user_script:2: attempt to perform arithmetic on a nil value".into(),
        ),
        (
            "return redis.call('INCR', 's')",
            "ERR value is not an integer or out of range".into(),
        ),
        (
            "return redis.call('LPUSH', 's', 'x')",
            "WRONGTYPE Operation against a key holding the wrong kind of value".into(),
        ),
        (
            "return redis.call('nosuchcommand')",
            "ERR Unknown Redis command called from script".into(),
        ),
        (
            "return redis.call('GET')",
            "ERR Wrong number of args calling Redis command from script".into(),
        ),
        (
            "return redis.call('MULTI')",
            "ERR This Redis command is not allowed from script".into(),
        ),
        (
            "return redis.call('QUIT')",
            "ERR This Redis command is not allowed from script".into(),
        ),
        (
            "return redis.call()",
            "ERR Please specify at least one argument for this redis lib call".into(),
        ),
        (
            "return redis.call('GET', {})",
            "ERR Lua redis lib command arguments must be strings or integers".into(),
        ),
    ];
    for (body, msg) in cases {
        let sha: String = q(&mut c, &["SCRIPT", "LOAD", body]);
        let line = if body.contains('\n') { 2 } else { 1 };
        let want = format!("{msg} script: {sha}, on @user_script:{line}.");
        assert_eq!(qerr(&mut c, &["EVAL", body, "0"]), want, "{body}");
    }
    // A syntax error: nothing is cached.
    let e = qerr(&mut c, &["EVAL", "return (", "0"]);
    assert!(
        e.starts_with("ERR Error compiling script (new function): user_script:1:"),
        "{e}"
    );
    // Shebang flags.
    assert_eq!(
        qerr(
            &mut c,
            &["EVAL", "#!lua flags=no-writes,bogus\nreturn 1", "0"]
        ),
        "ERR Unexpected flag in script shebang: bogus"
    );
    assert_eq!(
        qerr(&mut c, &["EVAL", "#!python\nreturn 1", "0"]),
        "ERR Unexpected engine in script shebang: #!python"
    );
    assert_eq!(q::<i64>(&mut c, &["EVAL", "#!lua\nreturn 7", "0"]), 7);
    // The connection carries on.
    assert_eq!(q::<String>(&mut c, &["PING"]), "PONG");
}

#[test]
fn pcall_library_errors_and_odd_numbers_match_redis() {
    let srv = Server::start();
    let mut r = srv.raw();
    // pcall hands the script the message of an error reply, not the table.
    assert_eq!(
        eval(&mut r, "return {pcall(redis.call, 'nosuch')}"),
        "*2\r\n$-1\r\n$44\r\nERR Unknown Redis command called from script\r\n"
    );
    assert_eq!(
        eval(&mut r, "local ok, e = pcall(error, {err='x'}) return e"),
        "$1\r\nx\r\n"
    );
    // Bad arguments to status_reply/error_reply give an error reply, not a script error.
    assert_eq!(
        eval(&mut r, "return redis.status_reply()"),
        "-ERR wrong number or type of arguments\r\n"
    );
    // A library's error names the calling line; the API's errors do not.
    let body = "return cjson.encode({[1]=1, [20]=2})";
    let sha = match r.call(&["SCRIPT", "LOAD", body]) {
        Resp::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        eval(&mut r, body),
        format!("-ERR user_script:1: Cannot serialise table: excessively sparse array script: {sha}, on @user_script:1.\r\n")
    );
    let e = eval(&mut r, "return cmsgpack.unpack('\\205')");
    assert!(
        e.starts_with("-ERR user_script:1: Missing bytes in input. script: "),
        "{e}"
    );
    let e = eval(&mut r, "return redis.log()");
    assert!(
        e.starts_with("-ERR redis.log() requires two arguments or more. script: "),
        "{e}"
    );
    // Numbers beyond the integers convert as Redis's C cast does.
    assert_eq!(
        eval(&mut r, "return {1e20, 0/0, -1e20}"),
        "*3\r\n:-9223372036854775808\r\n:-9223372036854775808\r\n:-9223372036854775808\r\n"
    );
    // Numbers passed to redis.call are printed as Redis 7.0 prints them (`%.17g`): integral
    // values below 1e17 as digits, others with 17 significant digits.
    assert_eq!(
        eval(
            &mut r,
            "return {redis.call('ECHO', 2^62), redis.call('ECHO', 0.1), \
             redis.call('ECHO', 12345678901234567), redis.call('ECHO', -42)}"
        ),
        "*4\r\n$22\r\n4.6116860184273879e+18\r\n$19\r\n0.10000000000000001\r\n\
         $17\r\n12345678901234568\r\n$3\r\n-42\r\n"
    );
}

/// The strings' metatable is shared by every script: one that could change it would run its
/// code inside other users' scripts (Redis's CVE-2025-46818). It is read-only, as in Redis 7,
/// and string methods still work.
#[test]
fn the_string_metatable_is_read_only_for_every_script() {
    let srv = Server::start();
    let mut r = srv.raw();
    for script in [
        "getmetatable('').__index = function() return 'owned' end",
        "getmetatable('').__add = 1",
    ] {
        let e = eval(&mut r, script);
        assert!(
            e.starts_with("-ERR user_script:1: Attempt to modify a readonly table script: "),
            "{script}: {e}"
        );
    }
    for script in [
        "rawset(getmetatable(''), '__index', {})",
        "setmetatable(getmetatable(''), {})",
    ] {
        let e = eval(&mut r, script);
        assert!(
            e.starts_with("-ERR Attempt to modify a readonly table script: "),
            "{script}: {e}"
        );
    }
    assert_eq!(
        eval(
            &mut r,
            "return {('abc'):sub(2), getmetatable('').__index == string}"
        ),
        "*2\r\n$2\r\nbc\r\n:1\r\n"
    );
}

/// Lua 5.1's `unpack` computed the range's length in int arithmetic, and a range whose
/// length overflowed crashed the server (Redis's own suite, "Test table unpack with invalid
/// indexes"). Every case answers as Redis's patched Lua does, and the server carries on.
#[test]
fn unpack_refuses_ranges_that_overflow_and_keeps_lua_5_1_results() {
    let srv = Server::start();
    let mut r = srv.raw();
    let too_many = |r: &mut Raw, script: &str| {
        let e = eval(r, script);
        assert!(
            e.starts_with("-ERR user_script:1: too many results to unpack script: "),
            "{script}: {e}"
        );
    };
    too_many(&mut r, "return {unpack({1,2,3}, -2, 2147483647)}");
    too_many(&mut r, "return {unpack({1,2,3}, 0, 2147483647)}");
    too_many(&mut r, "return {unpack({1,2,3}, -2147483648, -2)}");
    assert_eq!(eval(&mut r, "return {unpack({1,2,3}, -1, -2)}"), "*0\r\n");
    assert_eq!(eval(&mut r, "return {unpack({1,2,3}, 1, -1)}"), "*0\r\n");
    assert_eq!(
        eval(&mut r, "return {unpack({1,2,3}, '2', 3.9)}"),
        "*2\r\n:2\r\n:3\r\n"
    );
    // The bounds are C ints: 2^32 + 2 is 2.
    assert_eq!(
        eval(&mut r, "return {unpack({1,2,3}, 1, 4294967298)}"),
        "*2\r\n:1\r\n:2\r\n"
    );
    // The limit counts the arguments too, as lua_checkstack does (8,000 slots).
    let count = |n: usize, args: &str| {
        format!("local t = {{}} for i = 1, {n} do t[i] = i end return select('#', unpack(t{args}))")
    };
    assert_eq!(eval(&mut r, &count(7999, "")), ":7999\r\n");
    too_many(&mut r, &count(8000, ""));
    assert_eq!(eval(&mut r, &count(7998, ", 1")), ":7998\r\n");
    too_many(&mut r, &count(7999, ", 1"));
    let e = eval(&mut r, "return {unpack(nil)}");
    assert!(
        e.starts_with("-ERR user_script:1: bad argument #1 to 'unpack' (table expected, got nil)"),
        "{e}"
    );
    let e = eval(&mut r, "return {unpack({1}, 'x')}");
    assert!(
        e.starts_with(
            "-ERR user_script:1: bad argument #2 to 'unpack' (number expected, got string)"
        ),
        "{e}"
    );
    assert_eq!(r.call(&["PING"]), Resp::Simple("PONG".into()));
}

#[test]
fn a_scripts_writes_break_watch_and_notify_like_any_write() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["CONFIG", "SET", "notify-keyspace-events", "KEA"]);
    let mut sub = srv.raw();
    sub.call(&["SUBSCRIBE", "__keyevent@0__:set"]);
    let mut w = srv.raw();
    assert_eq!(wire(&mut w, &["WATCH", "k"]), "+OK\r\n");
    q::<()>(
        &mut c,
        &["EVAL", "redis.call('SET', KEYS[1], 'v')", "1", "k"],
    );
    assert_eq!(wire(&mut w, &["MULTI"]), "+OK\r\n");
    assert_eq!(wire(&mut w, &["SET", "k", "w"]), "+QUEUED\r\n");
    assert_eq!(wire(&mut w, &["EXEC"]), "*-1\r\n");
    match sub.read_reply() {
        Resp::Array(m) => assert_eq!(m.last().and_then(Resp::text).as_deref(), Some("k"), "{m:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn read_only_scripts_refuse_writes() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "k", "v"]);
    let body = "return redis.call('SET', KEYS[1], 'x')";
    let sha: String = q(&mut c, &["SCRIPT", "LOAD", body]);
    assert_eq!(
        qerr(&mut c, &["EVAL_RO", body, "1", "k"]),
        format!("ERR Write commands are not allowed from read-only scripts. script: {sha}, on @user_script:1.")
    );
    assert_eq!(
        qerr(&mut c, &["EVALSHA_RO", &sha, "1", "k"]),
        format!("ERR Write commands are not allowed from read-only scripts. script: {sha}, on @user_script:1.")
    );
    assert_eq!(
        q::<String>(
            &mut c,
            &["EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "k"]
        ),
        "v"
    );
    let nw = "#!lua flags=no-writes\nreturn redis.call('SET', KEYS[1], 'x')";
    let e = qerr(&mut c, &["EVAL", nw, "1", "k"]);
    assert!(
        e.starts_with("ERR Write commands are not allowed from read-only scripts."),
        "{e}"
    );
    // Commands that may replicate (PUBLISH, PFCOUNT) are refused too; a plain script may.
    for (cmd, body) in [
        ("EVAL_RO", "return redis.call('publish', 'ch', 'msg')"),
        (
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('publish', 'ch', 'msg')",
        ),
    ] {
        let e = qerr(&mut c, &[cmd, body, "0"]);
        assert!(
            e.starts_with("ERR Write commands are not allowed from read-only scripts."),
            "{body}: {e}"
        );
    }
    assert_eq!(
        q::<i64>(
            &mut c,
            &["EVAL", "return redis.call('publish', 'ch', 'msg')", "0"]
        ),
        0
    );
    assert_eq!(
        qerr(&mut c, &["EVAL_RO", "#!lua\nreturn 1", "0"]),
        "ERR Can not execute a script with write flag using *_ro command."
    );
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
}

#[test]
fn the_sandbox_refuses_globals_and_the_os() {
    let srv = Server::start();
    let mut c = srv.conn();
    for (body, msg) in [
        ("x = 5", "user_script:1: Attempt to modify a readonly table"),
        (
            "local function f() z = 1 end f()",
            "user_script:1: Attempt to modify a readonly table",
        ),
        (
            "KEYS = {}",
            "user_script:1: Attempt to modify a readonly table",
        ),
        (
            "_G.x = 1",
            "user_script:1: Attempt to modify a readonly table",
        ),
        (
            "string.x = 1",
            "user_script:1: Attempt to modify a readonly table",
        ),
        (
            "redis.call = nil",
            "user_script:1: Attempt to modify a readonly table",
        ),
        ("rawset(_G, 'q', 1)", "Attempt to modify a readonly table"),
        // Nor can their metatables be replaced or changed (Redis's "trick global protection").
        ("setmetatable(_G, {})", "Attempt to modify a readonly table"),
        (
            "local g = getmetatable(_G) g.__index = {}",
            "user_script:1: Attempt to modify a readonly table",
        ),
        (
            "return y",
            "user_script:1: Script attempted to access nonexistent global variable 'y'",
        ),
        (
            "return os.time()",
            "user_script:1: Script attempted to access nonexistent global variable 'os'",
        ),
        (
            "return io.open('/etc/passwd')",
            "user_script:1: Script attempted to access nonexistent global variable 'io'",
        ),
        (
            "return loadfile('/etc/passwd')",
            "user_script:1: Script attempted to access nonexistent global variable 'loadfile'",
        ),
        (
            "return dofile('/etc/passwd')",
            "user_script:1: Script attempted to access nonexistent global variable 'dofile'",
        ),
        (
            "return print",
            "user_script:1: Script attempted to access nonexistent global variable 'print'",
        ),
        (
            "return getfenv(0)",
            "user_script:1: Script attempted to access nonexistent global variable 'getfenv'",
        ),
        (
            "return debug.getinfo(1)",
            "user_script:1: Script attempted to access nonexistent global variable 'debug'",
        ),
    ] {
        let sha: String = q(&mut c, &["SCRIPT", "LOAD", body]);
        assert_eq!(
            qerr(&mut c, &["EVAL", body, "0"]),
            format!("ERR {msg} script: {sha}, on @user_script:1."),
            "{body}"
        );
    }
    // Chunks loaded by a script are sandboxed too (their errors name the chunk).
    let body = "return loadstring('x = 1')()";
    let sha: String = q(&mut c, &["SCRIPT", "LOAD", body]);
    assert_eq!(
        qerr(&mut c, &["EVAL", body, "0"]),
        format!("ERR [string \"x = 1\"]:1: Attempt to modify a readonly table script: {sha}, on x = 1:1.")
    );
    assert_eq!(
        q::<String>(&mut c, &["EVAL", "KEYS[1] = 'x' return KEYS[1]", "0"]),
        "x"
    );
    // The read-only tables can still be walked and read raw.
    let walk = "local n = 0 for k in pairs(string) do n = n + 1 end return n";
    assert_eq!(q::<i64>(&mut c, &["EVAL", walk, "0"]), 15);
    let raw = "return type(rawget(_G, 'redis'))";
    assert_eq!(q::<String>(&mut c, &["EVAL", raw, "0"]), "table");
    // KEYS and ARGV are globals as in Redis: read raw, and walked with the others once each.
    let raw =
        "return {rawget(_G, 'KEYS')[1], rawget(_G, 'ARGV')[1], tostring(rawget(_G, '_G') == _G)}";
    assert_eq!(
        q::<Vec<String>>(&mut c, &["EVAL", raw, "1", "k", "a"]),
        ["k", "a", "true"]
    );
    let walk = "local seen = {} for k in pairs(_G) do seen[k] = (seen[k] or 0) + 1 end \
                return {seen.KEYS, seen.ARGV, seen._G, seen.redis, seen.string}";
    assert_eq!(
        q::<Vec<i64>>(&mut c, &["EVAL", walk, "1", "k", "a"]),
        [1, 1, 1, 1, 1]
    );
    assert_eq!(
        q::<String>(&mut c, &["EVAL", "return loadstring('return 7')()", "0"]),
        "7"
    );
    // math.random restarts from the same seed on every run (Redis 7.0 no longer reseeds).
    if !common::eddy_only("the_sandbox_refuses_globals_and_the_os: math.random") {
        return;
    }
    let a: Vec<i64> = q(
        &mut c,
        &[
            "EVAL",
            "local t = {} for i = 1, 5 do t[i] = math.random(1000) end return t",
            "0",
        ],
    );
    let b: Vec<i64> = q(
        &mut c,
        &[
            "EVAL",
            "local t = {} for i = 1, 5 do t[i] = math.random(1000) end return t",
            "0",
        ],
    );
    assert_eq!(a, b);
    assert!(a.iter().all(|x| (1..=1000).contains(x)), "{a:?}");
    assert_ne!(a[0], a[1]);
}

#[test]
fn the_script_cache_evalsha_and_noscript() {
    let srv = Server::start();
    let mut c = srv.conn();
    let body = "return 'hi'";
    let missing = "ffffffffffffffffffffffffffffffffffffffff";
    assert_eq!(
        qerr(&mut c, &["EVALSHA", missing, "0"]),
        "NOSCRIPT No matching script. Please use EVAL."
    );
    assert_eq!(
        qerr(&mut c, &["EVALSHA", "short", "0"]),
        "NOSCRIPT No matching script. Please use EVAL."
    );
    let sha: String = q(&mut c, &["SCRIPT", "LOAD", body]);
    assert_eq!(sha, "2f31ba2bb6d6a0f42cc159d2e2dad55440778de3");
    assert_eq!(q::<String>(&mut c, &["EVALSHA", &sha, "0"]), "hi");
    assert_eq!(
        q::<String>(&mut c, &["EVALSHA", &sha.to_uppercase(), "0"]),
        "hi"
    );
    // EVAL caches the body too.
    let other: String = q(&mut c, &["EVAL", "return redis.sha1hex('')", "0"]);
    assert_eq!(other, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    assert_eq!(
        q::<Vec<i64>>(
            &mut c,
            &["SCRIPT", "EXISTS", &sha, missing, &sha.to_uppercase()]
        ),
        [1, 0, 1]
    );
    assert_eq!(
        qerr(&mut c, &["SCRIPT", "FLUSH", "LATER"]),
        "ERR SCRIPT FLUSH only support SYNC|ASYNC option"
    );
    let info: String = q(&mut c, &["INFO", "memory"]);
    assert!(
        info.contains("\r\nnumber_of_cached_scripts:2\r\n"),
        "{info}"
    );
    assert!(info.contains("\r\nused_memory_lua:"), "{info}");
    q::<()>(&mut c, &["SCRIPT", "FLUSH", "ASYNC"]);
    assert_eq!(q::<Vec<i64>>(&mut c, &["SCRIPT", "EXISTS", &sha]), [0]);
    let info: String = q(&mut c, &["INFO", "memory"]);
    assert!(
        info.contains("\r\nnumber_of_cached_scripts:0\r\n"),
        "{info}"
    );
    assert_eq!(
        qerr(&mut c, &["EVALSHA", &sha, "0"]),
        "NOSCRIPT No matching script. Please use EVAL."
    );
    assert_eq!(
        qerr(&mut c, &["SCRIPT", "KILL"]),
        "NOTBUSY No scripts in execution right now."
    );
    let help = qv(&mut c, &["SCRIPT", "HELP"]);
    assert!(
        matches!(help, Value::Array(ref a) if a.len() > 5),
        "{help:?}"
    );
}

#[test]
fn the_bundled_libraries() {
    let srv = Server::start();
    let mut c = srv.conn();
    let cases: &[(&str, &str)] = &[
        ("return cjson.encode({1,2,3})", "[1,2,3]"),
        ("return cjson.encode({a='b/c'})", "{\"a\":\"b\\/c\"}"),
        ("return cjson.encode({})", "{}"),
        ("return cjson.encode({x=0.1})", "{\"x\":0.1}"),
        ("return cjson.encode({cjson.null, true})", "[null,true]"),
        ("return cjson.encode(3.14159265358979)", "3.1415926535898"),
        ("local t = cjson.decode('{\"a\":[1,2,{\"b\":true}]}') return tostring(t.a[3].b)", "true"),
        ("return tostring(cjson.decode('[null]')[1] == cjson.null)", "true"),
        ("return hex(cmsgpack.pack({1,2,3}))", "93010203"),
        ("return hex(cmsgpack.pack({a=-1}))", "81a161ff"),
        ("return hex(cmsgpack.pack(1.5, 0.1, 'x', true, nil))", "ca3fc00000cb3fb999999999999aa178c3c0"),
        ("return hex(cmsgpack.pack(-200, 70000))", "d1ff38ce00011170"),
        ("return table.concat({cmsgpack.unpack_one(cmsgpack.pack(1, 2, 3), 2)}, ',')", "-1,3"),
        ("return table.concat({cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}, ',')", "2,1,2"),
        ("local a, b = cmsgpack.unpack(cmsgpack.pack('abc', 300)) return a .. b", "abc300"),
        ("return cjson.encode(cmsgpack.unpack(cmsgpack.pack({a={1,2}})))", "{\"a\":[1,2]}"),
        ("return tostring(bit.band(0xff, 0x0f))", "15"),
        ("return tostring(bit.bxor(5, 3, 1))", "7"),
        ("return bit.tohex(255)", "000000ff"),
        ("return bit.tohex(-1, -4)", "FFFF"),
        ("return tostring(bit.lshift(1, 31))", "-2147483648"),
        ("return tostring(bit.tobit(0xffffffff))", "-1"),
        ("return struct.pack('>I2', 258)", "\u{1}\u{2}"),
        ("local a, b, n = struct.unpack('<hB', struct.pack('<hB', -2, 7)) return a .. ',' .. b .. ',' .. n", "-2,7,4"),
        ("return tostring(struct.size('>iHd'))", "14"),
        ("return redis.sha1hex('hello')", "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"),
        ("return redis.REDIS_VERSION", "7.0.15"),
        ("return tostring(redis.REDIS_VERSION_NUM)", "458767"),
        ("redis.log(redis.LOG_WARNING, 'from a script') return 'logged'", "logged"),
        ("redis.set_repl(redis.REPL_ALL) redis.replicate_commands() return 'ok'", "ok"),
    ];
    let hex = "local function hex(s) return (string.gsub(s, '.', \
               function(c) return string.format('%02x', string.byte(c)) end)) end ";
    for (script, want) in cases {
        let script = format!("{hex}{script}");
        let got: Vec<u8> = q(&mut c, &["EVAL", &script, "0"]);
        assert_eq!(String::from_utf8_lossy(&got), *want, "{script}");
    }
    let e = qerr(&mut c, &["EVAL", "return redis.setresp(4)", "0"]);
    assert!(
        e.starts_with("ERR RESP version must be 2 or 3. script: "),
        "{e}"
    );
    let e = qerr(&mut c, &["EVAL", "redis.log(99, 'x')", "0"]);
    assert!(e.starts_with("ERR Invalid debug level. script: "), "{e}");
}

/// `cjson.decode` is lua-cjson 2.1.0 as Redis builds it: its grammar (numbers as `strtod` reads
/// them, invalid numbers allowed), its Lua values and its errors, word for word.
#[test]
fn cjson_decode_matches_lua_cjson() {
    let srv = Server::start();
    let mut c = srv.conn();
    // The decode is on line 1, where the errors point; the value comes back in a canonical
    // form (sorted keys, %q strings, %.17g numbers).
    let show = "local v = cjson.decode(ARGV[1])\n\
                local function show(x)\n\
                  if type(x) == 'table' then\n\
                    local keys = {}\n\
                    for k in pairs(x) do keys[#keys + 1] = k end\n\
                    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)\n\
                    local out = {}\n\
                    for _, k in ipairs(keys) do out[#out + 1] = show(k) .. '=' .. show(x[k]) end\n\
                    return '{' .. table.concat(out, ',') .. '}'\n\
                  elseif type(x) == 'string' then return string.format('%q', x)\n\
                  elseif type(x) == 'number' then return string.format('%.17g', x)\n\
                  elseif x == cjson.null then return 'null'\n\
                  end\n\
                  return tostring(x)\n\
                end\n\
                return show(v)";
    // How deep the value goes, following `[1]` and `.k`.
    let depth = "local v = cjson.decode(ARGV[1])\n\
                 local d = 0\n\
                 while type(v) == 'table' do d = d + 1 v = v[1] or v.k end\n\
                 return tostring(d)";
    let run = |c: &mut redis::Connection, body: &str, input: &[u8]| -> Result<Vec<u8>, String> {
        redis::cmd("EVAL")
            .arg(body)
            .arg(0)
            .arg(input)
            .query::<Vec<u8>>(c)
            .map_err(|e| err_text(&e))
    };
    let script_error = |c: &mut redis::Connection, body: &str, msg: &str| {
        let sha: String = q(c, &["SCRIPT", "LOAD", body]);
        format!("ERR user_script:1: {msg} script: {sha}, on @user_script:1.")
    };
    let ok: &[(&[u8], &[u8])] = &[
        (b"[]", b"{}"),
        (b"{}", b"{}"),
        (b" \t\r\n[1, 2 ,3] \n", b"{1=1,2=2,3=3}"),
        (
            b"[1,[2,[3]],{\"a\":{\"b\":null}}]",
            b"{1=1,2={1=2,2={1=3}},3={\"a\"={\"b\"=null}}}",
        ),
        (b"{\"a\":1,\"a\":2,\"\":3}", b"{\"\"=3,\"a\"=2}"),
        (b"[null,true,false,null]", b"{1=null,2=true,3=false,4=null}"),
        (b"\"x\"", b"\"x\""),
        (b"null", b"null"),
        // Escapes; surrogate pairs become one UTF-8 character; \u0000 a NUL byte.
        (
            b"\"a\\u00e9\\ud83d\\ude00\\u0000\"",
            b"\"a\xc3\xa9\xf0\x9f\x98\x80\\000\"",
        ),
        (
            b"\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"",
            b"\"/\x08\x0c\\\n\\r\t\\\"\\\\\"",
        ),
        // Raw control characters and bytes that are not UTF-8 pass through.
        (b"\"a\x01\tb\xff\"", b"\"a\x01\tb\xff\""),
        // Numbers: strtod's, with hex, a leading + or zeros, inf and nan.
        (
            b"[0, -0, 0.1, 1.5e3, 1E2, 5., -.5]",
            b"{1=0,2=-0,3=0.10000000000000001,4=1500,5=100,6=5,7=-0.5}",
        ),
        (
            b"[0x10, +1, 01, -0x1.8p1, 0X1P-2]",
            b"{1=16,2=1,3=1,4=-3,5=0.25}",
        ),
        (
            b"[1e400, -1e400, 1e-400, 4.9e-324]",
            b"{1=inf,2=-inf,3=0,4=4.9406564584124654e-324}",
        ),
        (
            b"[inf, -Infinity, nan, -nan, NaN]",
            b"{1=inf,2=-inf,3=nan,4=-nan,5=nan}",
        ),
        (b"123456789012345678901234567890", b"1.2345678901234568e+29"),
        // A NUL ends the input.
        (b"[1]\0junk", b"{1=1}"),
    ];
    for (input, want) in ok {
        assert_eq!(
            run(&mut c, show, input),
            Ok(want.to_vec()),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
    let bad: &[(&[u8], &str)] = &[
        (
            b"f3",
            "Expected value but found invalid token at character 1",
        ),
        (b"", "Expected value but found T_END at character 1"),
        (b"  ", "Expected value but found T_END at character 3"),
        (
            b"\xff",
            "Expected value but found invalid token at character 1",
        ),
        (
            b".5",
            "Expected value but found invalid token at character 1",
        ),
        (
            b"tru",
            "Expected value but found invalid token at character 1",
        ),
        (b"[1,]", "Expected value but found T_ARR_END at character 4"),
        (
            b"[1 2]",
            "Expected comma or array end but found T_NUMBER at character 4",
        ),
        (
            b"[1",
            "Expected comma or array end but found T_END at character 3",
        ),
        (
            b"{1:2}",
            "Expected object key string but found T_NUMBER at character 2",
        ),
        (
            b"{\"a\":1,}",
            "Expected object key string but found T_OBJ_END at character 8",
        ),
        (
            b"{\"a\" 1}",
            "Expected colon but found T_NUMBER at character 6",
        ),
        (
            b"{\"a\":1 \"b\":2}",
            "Expected comma or object end but found T_STRING at character 8",
        ),
        (b"[}", "Expected value but found T_OBJ_END at character 2"),
        // Strings: truncated, a NUL, bad escapes, lone surrogates.
        (
            b"\"abc",
            "Expected value but found unexpected end of string at character 5",
        ),
        (
            b"\"a\0b\"",
            "Expected value but found unexpected end of string at character 3",
        ),
        (
            b"\"a\\qb\"",
            "Expected value but found invalid escape code at character 3",
        ),
        (
            b"\"abc\\",
            "Expected value but found invalid escape code at character 5",
        ),
        (
            b"[\"\\u12G4\"]",
            "Expected value but found invalid unicode escape code at character 3",
        ),
        (
            b"\"\\ud83d\"",
            "Expected value but found invalid unicode escape code at character 2",
        ),
        (
            b"\"\\ude00\\ud83d\"",
            "Expected value but found invalid unicode escape code at character 2",
        ),
        // Numbers: nothing strtod can read, or what it leaves unread.
        (
            b"-",
            "Expected value but found invalid number at character 1",
        ),
        (
            b"[1, +x]",
            "Expected value but found invalid number at character 5",
        ),
        (
            b"1e",
            "Expected the end but found invalid token at character 2",
        ),
        (
            b"0x",
            "Expected the end but found invalid token at character 2",
        ),
        (
            b"infinit",
            "Expected the end but found invalid token at character 4",
        ),
        // Trailing content.
        (
            b"[1]x",
            "Expected the end but found invalid token at character 4",
        ),
        (b"1 2", "Expected the end but found T_NUMBER at character 3"),
        (
            b"\"x\":1",
            "Expected the end but found T_COLON at character 4",
        ),
        (b"\0\0", "JSON parser does not support UTF-16 or UTF-32"),
    ];
    for (input, msg) in bad {
        assert_eq!(
            run(&mut c, show, input),
            Err(script_error(&mut c, show, msg)),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
    // Nesting: up to 1000 arrays and objects are read, the 1001st is refused.
    let nest = |open: &str, close: &str, n: usize| {
        format!("{}1{}", open.repeat(n), close.repeat(n)).into_bytes()
    };
    assert_eq!(
        run(&mut c, depth, &nest("[", "]", 500)),
        Ok(b"500".to_vec())
    );
    assert_eq!(
        run(&mut c, depth, &nest("{\"k\":[", "]}", 500)),
        Ok(b"1000".to_vec())
    );
    for (input, msg) in [
        (
            nest("[", "]", 1001),
            "Found too many nested data structures (1001) at character 1001",
        ),
        (
            "[ ".repeat(1001).into_bytes(),
            "Found too many nested data structures (1001) at character 2001",
        ),
        (
            nest("{\"k\":", "}", 1001),
            "Found too many nested data structures (1001) at character 5001",
        ),
    ] {
        assert_eq!(
            run(&mut c, depth, &input),
            Err(script_error(&mut c, depth, msg))
        );
    }
    // The argument: one string or number.
    for (body, msg) in [
        (
            "return cjson.decode()",
            "bad argument #1 to 'decode' (expected 1 argument)",
        ),
        (
            "return cjson.decode('1', 2)",
            "bad argument #1 to 'decode' (expected 1 argument)",
        ),
        (
            "return cjson.decode(nil)",
            "bad argument #1 to 'decode' (string expected, got nil)",
        ),
        (
            "return cjson.decode({})",
            "bad argument #1 to 'decode' (string expected, got table)",
        ),
        (
            "return cjson.decode(cjson.null)",
            "bad argument #1 to 'decode' (string expected, got userdata)",
        ),
    ] {
        assert_eq!(
            qerr(&mut c, &["EVAL", body, "0"]),
            script_error(&mut c, body, msg)
        );
    }
    assert_eq!(
        q::<i64>(&mut c, &["EVAL", "return cjson.decode(123)", "0"]),
        123
    );
}

#[test]
fn blocking_commands_in_a_script() {
    let srv = Server::start();
    let mut r = srv.raw();
    // Redis 7 refuses the classic blocking commands and XREAD BLOCK in scripts...
    let sha = |r: &mut Raw, body: &str| match r.call(&["SCRIPT", "LOAD", body]) {
        Resp::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("{other:?}"),
    };
    let body = "return redis.call('BLPOP', 'empty', 0)";
    assert_eq!(
        eval(&mut r, body),
        format!(
            "-ERR This Redis command is not allowed from script script: {}, on @user_script:1.\r\n",
            sha(&mut r, body)
        )
    );
    let body = "return redis.call('xread', 'BLOCK', '0', 'STREAMS', 's', '$')";
    assert_eq!(
        eval(&mut r, body),
        format!("-ERR xread command is not allowed with BLOCK option from scripts script: {}, on @user_script:1.\r\n", sha(&mut r, body))
    );
    // ... and runs the newer ones without blocking.
    assert_eq!(
        eval(&mut r, "return redis.call('BLMPOP', 0, 1, 'empty', 'LEFT')"),
        "$-1\r\n"
    );
    assert_eq!(
        eval(
            &mut r,
            "redis.call('RPUSH', 'l', 'a') return redis.call('BLMPOP', 0, 1, 'l', 'LEFT')"
        ),
        "*2\r\n$1\r\nl\r\n*1\r\n$1\r\na\r\n"
    );
    // SELECT inside a script does not change the caller's database.
    assert_eq!(
        eval(
            &mut r,
            "redis.call('SELECT', 1) redis.call('SET', 'in1', 'x') return 1"
        ),
        ":1\r\n"
    );
    assert_eq!(wire(&mut r, &["EXISTS", "in1"]), ":0\r\n");
    assert_eq!(wire(&mut r, &["SELECT", "1"]), "+OK\r\n");
    assert_eq!(wire(&mut r, &["EXISTS", "in1"]), ":1\r\n");
}

#[test]
fn scripts_are_atomic_among_concurrent_clients() {
    let srv = Server::start();
    // A read-modify-write in Lua loses updates unless nothing runs between its two calls.
    let body = "local v = tonumber(redis.call('GET', KEYS[1]) or '0') \
                redis.call('SET', KEYS[1], v + 1) return v + 1";
    let threads: Vec<_> = (0..6)
        .map(|i| {
            let mut c = srv.conn();
            let body = body.to_string();
            std::thread::spawn(move || {
                for _ in 0..150 {
                    if i % 3 != 0 {
                        q::<i64>(&mut c, &["EVAL", &body, "1", "counter"]);
                    } else {
                        q::<i64>(&mut c, &["INCR", "counter"]);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let mut c = srv.conn();
    assert_eq!(q::<i64>(&mut c, &["GET", "counter"]), 6 * 150);
}

/// Starts `script` on a fresh raw connection (its reply is read later) and returns the
/// connection once another client sees BUSY.
fn start_busy(srv: &Server, c: &mut redis::Connection, script: &str) -> Raw {
    start_busy_cmd(
        srv,
        c,
        &["EVAL", script, "0"],
        "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.",
    )
}

/// Sends `cmd` (a script or function that loops) on a fresh raw connection and returns it once
/// another client gets the BUSY error `busy`.
fn start_busy_cmd(srv: &Server, c: &mut redis::Connection, cmd: &[&str], busy: &str) -> Raw {
    q::<()>(c, &["CONFIG", "SET", "busy-reply-threshold", "50"]);
    let mut a = srv.raw();
    a.send_cmd(cmd);
    // Another client's command waits for the script; once it has run past the threshold the
    // command gets BUSY instead.
    let mut b = srv.raw();
    loop {
        match b.call(&["PING"]) {
            Resp::Error(e) if e.starts_with("BUSY ") => {
                assert_eq!(e, busy);
                break;
            }
            // The PING ran before the script started.
            Resp::Simple(s) if s == "PONG" => {}
            other => panic!("{other:?}"),
        }
    }
    a
}

/// The reply of a script stopped by SCRIPT KILL or FUNCTION KILL.
fn assert_killed(a: &mut Raw) {
    match a.read_reply() {
        Resp::Error(e) => assert!(
            e.starts_with("ERR Script killed by user with SCRIPT KILL... script: "),
            "{e}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_looping_script_is_busy_for_others_and_script_kill_stops_it() {
    busy_and_killed(Server::start());
}

/// A script starts inline like any command; its worker is handed to another thread only once
/// the script runs long, so other clients still get BUSY and SCRIPT KILL still reaches it. The
/// default is one I/O thread (the test above); with two, the other worker serves them too.
#[test]
fn with_two_io_threads_a_looping_script_is_busy_for_others_and_script_kill_stops_it() {
    let srv = Server::start_with(&["--io-threads", "2"]);
    let mut c = srv.conn();
    let script = "return redis.call('INCR', KEYS[1])";
    assert_eq!(q::<i64>(&mut c, &["EVAL", script, "1", "n"]), 1);
    busy_and_killed(srv);
}

fn busy_and_killed(srv: Server) {
    let mut c = srv.conn();
    let mut a = start_busy(&srv, &mut c, "local i = 0 while true do i = i + 1 end");
    let mut b = srv.raw();
    assert!(matches!(b.call(&["GET", "x"]), Resp::Error(e) if e.starts_with("BUSY ")));
    assert_eq!(wire(&mut b, &["SCRIPT", "KILL"]), "+OK\r\n");
    assert_killed(&mut a);
    assert_eq!(wire(&mut b, &["PING"]), "+PONG\r\n");
    assert_eq!(wire(&mut a, &["PING"]), "+PONG\r\n");
    assert_eq!(
        wire(&mut b, &["SCRIPT", "KILL"]),
        "-NOTBUSY No scripts in execution right now.\r\n"
    );
}

/// A transaction whose commands meet a busy script is discarded whole: the queued command
/// refused with BUSY dooms it, and EXEC itself, refused too, answers EXECABORT with the BUSY
/// error and leaves the connection out of MULTI (Redis's `rejectCommand`).
#[test]
fn exec_during_a_busy_script_aborts_the_whole_transaction() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "xx", "1"]);
    let mut t = srv.raw();
    assert_eq!(wire(&mut t, &["MULTI"]), "+OK\r\n");
    assert_eq!(wire(&mut t, &["INCR", "xx"]), "+QUEUED\r\n");
    let mut a = start_busy(&srv, &mut c, "while true do end");
    assert!(matches!(t.call(&["INCR", "xx"]), Resp::Error(e) if e.starts_with("BUSY ")));
    assert_eq!(
        wire(&mut t, &["EXEC"]),
        "-EXECABORT Transaction discarded because of: BUSY Redis is busy running a script. \
         You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    assert_eq!(q::<String>(&mut c, &["SCRIPT", "KILL"]), "OK");
    assert_killed(&mut a);
    assert_eq!(q::<i64>(&mut c, &["GET", "xx"]), 1);
    assert_eq!(wire(&mut t, &["PING", "asdf"]), "$4\r\nasdf\r\n");
}

/// With a password, a busy script can still be killed from a new connection: AUTH, HELLO
/// with AUTH and RESET run while the script is busy, as in Redis (they are `allow_busy`).
#[test]
fn a_new_connection_authenticates_and_kills_a_busy_script() {
    let srv = Server::start_with(&["--requirepass", "pw"]);
    let mut a = srv.raw();
    assert_eq!(wire(&mut a, &["AUTH", "pw"]), "+OK\r\n");
    assert_eq!(
        wire(&mut a, &["CONFIG", "SET", "busy-reply-threshold", "50"]),
        "+OK\r\n"
    );
    a.send_cmd(&["EVAL", "while true do end", "0"]);
    let mut b = srv.raw();
    assert!(common::poll_until(Duration::from_secs(10), || {
        assert_eq!(wire(&mut b, &["AUTH", "pw"]), "+OK\r\n");
        matches!(b.call(&["PING"]), Resp::Error(e) if e.starts_with("BUSY "))
    }));
    let mut d = srv.raw();
    assert!(matches!(
        d.call(&["HELLO", "2", "AUTH", "default", "pw"]),
        Resp::Array(_)
    ));
    assert_eq!(wire(&mut d, &["RESET"]), "+RESET\r\n");
    assert_eq!(wire(&mut d, &["AUTH", "pw"]), "+OK\r\n");
    assert_eq!(wire(&mut d, &["SCRIPT", "KILL"]), "+OK\r\n");
    assert_killed(&mut a);
}

#[test]
fn script_kill_is_not_caught_by_pcall() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut a = start_busy(
        &srv,
        &mut c,
        "while true do pcall(function() while true do end end) \
         xpcall(function() while true do end end, function(e) return e end) end",
    );
    let mut b = srv.raw();
    assert_eq!(wire(&mut b, &["SCRIPT", "KILL"]), "+OK\r\n");
    assert_killed(&mut a);
}

#[test]
fn a_script_that_wrote_is_unkillable_and_only_shutdown_nosave_ends_it() {
    let mut srv = Server::start();
    let mut c = srv.conn();
    let _a = start_busy(
        &srv,
        &mut c,
        "redis.call('SET', 'k', 'v') while true do end",
    );
    let mut b = srv.raw();
    assert_eq!(
        wire(&mut b, &["SCRIPT", "KILL"]),
        "-UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.\r\n"
    );
    assert_eq!(
        wire(&mut b, &["SHUTDOWN"]),
        "-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    b.send_cmd(&["SHUTDOWN", "NOSAVE"]);
    assert!(
        srv.wait_exit(Duration::from_secs(20)).is_some(),
        "SHUTDOWN NOSAVE must stop the server while a script runs"
    );
}

// ---------------------------------------------------------------------------------------------
// The change log (Eddy-only)

fn events_after(c: &mut redis::Connection, after: i64) -> Vec<common::Change> {
    common::changes_read(c, &[&format!("({after}")])
}

#[test]
fn a_scripts_writes_are_one_transaction_in_the_change_log() {
    if !eddy_only("a_scripts_writes_are_one_transaction_in_the_change_log") {
        return;
    }
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["SET", "before", "1"]);
    let start = last_offset(&mut c);
    let n: i64 = q(
        &mut c,
        &[
            "EVAL",
            "redis.call('SET', KEYS[1], 'v') redis.call('GET', KEYS[1]) \
             redis.call('INCR', KEYS[2]) redis.call('RPUSH', KEYS[3], 'a', 'b') \
             redis.call('SET', 'same', 'x') redis.call('DEL', 'nothing') return 3",
            "3",
            "a",
            "n",
            "l",
        ],
    );
    assert_eq!(n, 3);
    let evs = events_after(&mut c, start);
    let seen: Vec<(&str, &str)> = evs
        .iter()
        .map(|e| (e.key.as_str(), e.event.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("a", "set"),
            ("n", "incrby"),
            ("l", "rpush"),
            ("same", "set")
        ],
        "{evs:?}"
    );
    let tx = evs[0].tx;
    assert!(tx > 0, "{evs:?}");
    for (i, e) in evs.iter().enumerate() {
        assert_eq!(e.offset, start + 1 + i as i64, "{evs:?}");
        assert_eq!((e.tx, e.tx_n), (tx, 4), "{evs:?}");
    }
    // A script that writes nothing records nothing; a failing script keeps what it wrote.
    let start = last_offset(&mut c);
    q::<()>(&mut c, &["EVAL", "return redis.call('GET', 'a')", "0"]);
    assert_eq!(last_offset(&mut c), start);
    let e = qerr(
        &mut c,
        &["EVAL", "redis.call('SET', 'p', '1') error('late')", "0"],
    );
    assert!(e.contains("late"), "{e}");
    let evs = events_after(&mut c, start);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!((evs[0].key.as_str(), evs[0].tx_n), ("p", 1));
    // EVAL inside MULTI/EXEC joins the EXEC's transaction.
    let start = last_offset(&mut c);
    let mut r = srv.raw();
    assert_eq!(wire(&mut r, &["MULTI"]), "+OK\r\n");
    assert_eq!(wire(&mut r, &["SET", "m1", "1"]), "+QUEUED\r\n");
    assert_eq!(
        wire(
            &mut r,
            &["EVAL", "redis.call('SET', 'm2', '1') return 1", "0"]
        ),
        "+QUEUED\r\n"
    );
    assert_eq!(wire(&mut r, &["EXEC"]), "*2\r\n+OK\r\n:1\r\n");
    let evs = events_after(&mut c, start);
    assert_eq!(evs.len(), 2, "{evs:?}");
    assert!(
        evs.iter().all(|e| e.tx == evs[0].tx && e.tx_n == 2),
        "{evs:?}"
    );
}

#[test]
fn a_scripts_effects_replay_after_restart_and_the_cache_does_not() {
    if !eddy_only("a_scripts_effects_replay_after_restart_and_the_cache_does_not") {
        return;
    }
    // Every acknowledged write is on disk (so a SIGKILL loses none).
    let args = ["--appendfsync", "always"];
    let srv = Server::start_with(&args);
    let mut c = srv.conn();
    let body = "redis.call('SET', 'k', 'v') redis.call('INCRBYFLOAT', 'f', '1.5') \
                redis.call('HSET', 'h', 'a', math.random(1000)) redis.call('EXPIRE', 'k', 1000) \
                redis.call('SPOP', 's') return redis.call('HGET', 'h', 'a')";
    q::<()>(&mut c, &["SADD", "s", "only"]);
    let sha: String = q(&mut c, &["SCRIPT", "LOAD", body]);
    let r: String = q(&mut c, &["EVALSHA", &sha, "0"]);
    let ttl: i64 = q(&mut c, &["PTTL", "k"]);
    assert!(ttl > 990_000, "{ttl}");
    drop(c);
    let dir = srv.stop();
    let srv = Server::start_in(dir, &args);
    let mut c = srv.conn();
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v");
    assert_eq!(q::<String>(&mut c, &["GET", "f"]), "1.5");
    assert_eq!(q::<String>(&mut c, &["HGET", "h", "a"]), r);
    assert_eq!(q::<i64>(&mut c, &["EXISTS", "s"]), 0);
    let ttl: i64 = q(&mut c, &["PTTL", "k"]);
    assert!(ttl > 900_000 && ttl <= 1_000_000, "{ttl}");
    assert_eq!(
        qerr(&mut c, &["EVALSHA", &sha, "0"]),
        "NOSCRIPT No matching script. Please use EVAL."
    );
}

// ---------------------------------------------------------------------------------------------
// redis-py

const REDIS_PY_LOCK: &str = r#"
import sys, redis
port = int(sys.argv[1])
a = redis.Redis(port=port)
b = redis.Redis(port=port)
la = a.lock("resource", timeout=10)
lb = b.lock("resource", timeout=10)
assert la.acquire(blocking=False), "a acquires"
assert not lb.acquire(blocking=False), "b must not acquire a held lock"
assert la.owned() and not lb.owned()
assert la.extend(20), "a extends"
assert a.pttl("resource") > 10000, a.pttl("resource")
assert la.reacquire()
try:
    lb.release()
    raise AssertionError("b released a lock it does not own")
except redis.exceptions.LockError:
    pass
la.release()
assert lb.acquire(blocking=True, blocking_timeout=5), "b acquires after release"
lb.release()
assert a.get("resource") is None
print("ok")
"#;

#[test]
fn redis_py_lock_acquire_extend_release_across_two_clients() {
    if !require_python_module(
        "redis_py_lock_acquire_extend_release_across_two_clients",
        "redis",
    ) {
        return;
    }
    let srv = Server::start();
    let out = std::process::Command::new("python3")
        .args(["-c", REDIS_PY_LOCK, &srv.port().to_string()])
        .output()
        .expect("run python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "redis-py Lock failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Functions

const LIB: &str = "#!lua name=mylib\n\
    redis.register_function('knockknock', function() return 'Who\\'s there?' end)\n\
    redis.register_function{function_name='getter', callback=function(keys, args) \
        return redis.call('GET', keys[1]) end, flags={'no-writes'}, description='reads'}\n\
    redis.register_function('setter', function(keys, args) \
        return redis.call('SET', keys[1], args[1]) end)";

#[test]
fn functions_load_call_list_and_delete() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["FUNCTION", "FLUSH"]);
    assert_eq!(q::<String>(&mut c, &["FUNCTION", "LOAD", LIB]), "mylib");
    assert_eq!(
        q::<String>(&mut c, &["FCALL", "knockknock", "0"]),
        "Who's there?"
    );
    assert_eq!(
        q::<String>(&mut c, &["FCALL", "setter", "1", "k", "v"]),
        "OK"
    );
    assert_eq!(q::<String>(&mut c, &["FCALL_RO", "getter", "1", "k"]), "v");
    assert_eq!(
        qerr(&mut c, &["FCALL_RO", "setter", "1", "k", "v"]),
        "ERR Can not execute a script with write flag using *_ro command."
    );
    assert_eq!(
        qerr(&mut c, &["FCALL", "nope", "0"]),
        "ERR Function not found"
    );
    assert_eq!(
        qerr(&mut c, &["FCALL", "knockknock", "x"]),
        "ERR Bad number of keys provided"
    );
    assert_eq!(
        qerr(&mut c, &["FCALL", "knockknock", "1"]),
        "ERR Number of keys can't be greater than number of args"
    );
    // Load errors, with Redis 7.0's wording.
    let cases: &[(&str, &str)] = &[
        (LIB, "ERR Library 'mylib' already exists"),
        ("return 1", "ERR Missing library metadata"),
        ("#!lua name=a", "ERR Invalid library metadata"),
        ("#!lua\nreturn 1", "ERR Library name was not given"),
        ("#!lua name=a foo=bar\n", "ERR Invalid metadata value given: foo=bar"),
        ("#!js name=a\n", "ERR Engine 'js' not found"),
        ("#!lua name=a-b\n", "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one character long"),
        ("#!lua name=b\nreturn 1", "ERR No functions registered"),
        (
            "#!lua name=c\nredis.register_function('knockknock', function() return 1 end)",
            "ERR Function knockknock already exists",
        ),
        (
            "#!lua name=d\nredis.call('PING')",
            "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'",
        ),
        // While a library loads it sees only `redis`: no other global, not even `_G`.
        (
            "#!lua name=m\nreturn math.random()",
            "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'math'",
        ),
        (
            "#!lua name=m\nredis.math.random()",
            "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'math'",
        ),
        (
            "#!lua name=m\nlocal g = _G",
            "ERR Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable '_G'",
        ),
        (
            "#!lua name=e\nredis.register_function()",
            "ERR Error registering functions: ERR wrong number of arguments to redis.register_function",
        ),
        (
            "#!lua name=f\nredis.register_function{function_name='q', callback=function() end, flags={'bogus'}}",
            "ERR Error registering functions: ERR unknown flag given",
        ),
        (
            "#!lua name=g\nlocal x = (",
            "ERR Error compiling function: user_function:2: unexpected symbol near '<eof>'",
        ),
        (
            "#!lua name=h\nredis.register_function('h', function() return 1 end)\nx = 1",
            "ERR Error registering functions: ERR user_function:3: Attempt to modify a readonly table",
        ),
        (
            "#!lua name=slow\nwhile true do end",
            "ERR Error registering functions: ERR FUNCTION LOAD timeout",
        ),
    ];
    for (code, want) in cases {
        assert_eq!(&qerr(&mut c, &["FUNCTION", "LOAD", code]), want, "{code}");
    }
    // Errors inside a function name it and its line.
    let boom = "#!lua name=err\n\
        redis.register_function('boom', function() error('bad') end)\n\
        redis.register_function('boom2', function(keys) return redis.call('INCR', keys[1]) end)";
    assert_eq!(q::<String>(&mut c, &["FUNCTION", "LOAD", boom]), "err");
    assert_eq!(
        qerr(&mut c, &["FCALL", "boom", "0"]),
        "ERR user_function:2: bad script: boom, on @user_function:2."
    );
    assert_eq!(
        qerr(&mut c, &["FCALL", "boom2", "1", "k"]),
        "ERR value is not an integer or out of range script: boom2, on @user_function:3."
    );
    // LIST, filtered and with code.
    let list = qv(
        &mut c,
        &["FUNCTION", "LIST", "LIBRARYNAME", "my*", "WITHCODE"],
    );
    let Value::Array(libs) = &list else {
        panic!("{list:?}")
    };
    assert_eq!(libs.len(), 1, "{list:?}");
    let lib = &libs[0];
    assert_eq!(
        vget(lib, "library_name").as_ref().and_then(vstr).as_deref(),
        Some("mylib")
    );
    assert_eq!(
        vget(lib, "engine").as_ref().and_then(vstr).as_deref(),
        Some("LUA")
    );
    assert_eq!(
        vget(lib, "library_code").as_ref().and_then(vstr).as_deref(),
        Some(LIB)
    );
    let Some(Value::Array(fns)) = vget(lib, "functions") else {
        panic!("{lib:?}")
    };
    // Redis lists a library's functions in hash order.
    let named = |n: &str| {
        fns.iter()
            .find(|f| vget(f, "name").as_ref().and_then(vstr).as_deref() == Some(n))
            .unwrap_or_else(|| panic!("{n} not listed: {fns:?}"))
    };
    assert_eq!(fns.len(), 3, "{fns:?}");
    assert_eq!(
        vget(named("getter"), "description")
            .as_ref()
            .and_then(vstr)
            .as_deref(),
        Some("reads")
    );
    assert_eq!(vget(named("knockknock"), "description"), Some(Value::Nil));
    assert_eq!(
        vget(named("getter"), "flags"),
        Some(Value::Array(vec![Value::SimpleString("no-writes".into())]))
    );
    assert_eq!(vget(named("setter"), "flags"), Some(Value::Array(vec![])));
    let all = qv(&mut c, &["FUNCTION", "LIST"]);
    assert!(matches!(&all, Value::Array(a) if a.len() == 2), "{all:?}");
    assert_eq!(
        qerr(&mut c, &["FUNCTION", "LIST", "LIBRARYNAME"]),
        "ERR library name argument was not given"
    );
    assert_eq!(
        qerr(&mut c, &["FUNCTION", "LIST", "bogus"]),
        "ERR Unknown argument bogus"
    );
    // STATS when idle.
    let stats = qv(&mut c, &["FUNCTION", "STATS"]);
    assert_eq!(vget(&stats, "running_script"), Some(Value::Nil));
    let lua = vget(&vget(&stats, "engines").expect("engines"), "LUA").expect("LUA");
    assert_eq!(vget(&lua, "libraries_count"), Some(Value::Int(2)));
    assert_eq!(vget(&lua, "functions_count"), Some(Value::Int(5)));
    // DELETE and FLUSH.
    assert_eq!(
        qerr(&mut c, &["FUNCTION", "DELETE", "nope"]),
        "ERR Library not found"
    );
    q::<()>(&mut c, &["FUNCTION", "DELETE", "err"]);
    assert_eq!(
        qerr(&mut c, &["FCALL", "boom", "0"]),
        "ERR Function not found"
    );
    assert_eq!(
        qerr(&mut c, &["FUNCTION", "FLUSH", "LATER"]),
        "ERR FUNCTION FLUSH only supports SYNC|ASYNC option"
    );
    // Too many arguments is the subcommand's syntax error, as in Redis.
    assert_eq!(
        qerr(&mut c, &["FUNCTION", "flush", "SYNC", "extra"]),
        "ERR unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP."
    );
    assert_eq!(
        qerr(&mut c, &["FUNCTION", "restore", "a", "b", "c"]),
        "ERR unknown subcommand or wrong number of arguments for 'restore'. Try FUNCTION HELP."
    );
    q::<()>(&mut c, &["FUNCTION", "FLUSH", "SYNC"]);
    assert_eq!(qv(&mut c, &["FUNCTION", "LIST"]), Value::Array(vec![]));
    // SCRIPT FLUSH leaves functions alone.
    assert_eq!(q::<String>(&mut c, &["FUNCTION", "LOAD", LIB]), "mylib");
    q::<()>(&mut c, &["SCRIPT", "FLUSH"]);
    assert_eq!(
        q::<String>(&mut c, &["FCALL", "knockknock", "0"]),
        "Who's there?"
    );
}

#[test]
fn function_dump_and_restore_follow_their_policy() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<()>(&mut c, &["FUNCTION", "FLUSH"]);
    q::<String>(&mut c, &["FUNCTION", "LOAD", LIB]);
    let dump: Vec<u8> = q(&mut c, &["FUNCTION", "DUMP"]);
    let restore = |c: &mut redis::Connection, extra: &[&str]| -> redis::RedisResult<()> {
        let mut cmd = redis::cmd("FUNCTION");
        cmd.arg("RESTORE").arg(&dump);
        for e in extra {
            cmd.arg(*e);
        }
        cmd.query(c)
    };
    let e = restore(&mut c, &[]).expect_err("APPEND onto an existing library");
    assert_eq!(common::err_text(&e), "ERR Library mylib already exists");
    restore(&mut c, &["REPLACE"]).expect("REPLACE");
    q::<()>(&mut c, &["FUNCTION", "FLUSH"]);
    restore(&mut c, &["APPEND"]).expect("APPEND into nothing");
    assert_eq!(
        q::<String>(&mut c, &["FCALL", "knockknock", "0"]),
        "Who's there?"
    );
    q::<String>(
        &mut c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=other\nredis.register_function('o', function() return 2 end)",
        ],
    );
    restore(&mut c, &["FLUSH"]).expect("FLUSH");
    assert_eq!(qerr(&mut c, &["FCALL", "o", "0"]), "ERR Function not found");
    let e = restore(&mut c, &["BOGUS"]).expect_err("bad policy");
    assert_eq!(
        common::err_text(&e),
        "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE."
    );
    assert_eq!(
        qerr(&mut c, &["FUNCTION", "RESTORE", "garbage"]),
        "ERR DUMP payload version or checksum are wrong"
    );
}

#[test]
fn a_busy_function_shows_in_stats_and_function_kill_stops_it() {
    let srv = Server::start();
    let mut c = srv.conn();
    q::<String>(
        &mut c,
        &[
            "FUNCTION",
            "LOAD",
            "REPLACE",
            "#!lua name=loop\nredis.register_function('spin', function() while true do end end)",
        ],
    );
    let mut a = start_busy_cmd(
        &srv,
        &mut c,
        &["FCALL", "spin", "0"],
        "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.",
    );
    let mut b = srv.raw();
    let stats = b.call(&["FUNCTION", "STATS"]);
    let running = stats.field("running_script").expect("running_script");
    assert_eq!(
        running.field("name").and_then(Resp::text).as_deref(),
        Some("spin")
    );
    assert!(
        matches!(running.field("duration_ms"), Some(Resp::Int(ms)) if *ms >= 50),
        "{stats:?}"
    );
    assert_eq!(
        wire(&mut b, &["SCRIPT", "KILL"]),
        "-BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE.\r\n"
    );
    assert_eq!(wire(&mut b, &["FUNCTION", "KILL"]), "+OK\r\n");
    assert_killed(&mut a);
    assert_eq!(wire(&mut b, &["PING"]), "+PONG\r\n");
}

#[test]
fn functions_survive_restart_from_the_log_and_from_a_snapshot() {
    if !eddy_only("functions_survive_restart_from_the_log_and_from_a_snapshot") {
        return;
    }
    let args = ["--appendfsync", "always"];
    let srv = Server::start_with(&args);
    let mut c = srv.conn();
    let start = last_offset(&mut c);
    q::<String>(&mut c, &["FUNCTION", "LOAD", LIB]);
    // A library's change is a record without a key; FCALL's writes are one transaction.
    let evs = events_after(&mut c, start);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(
        (evs[0].key.as_str(), evs[0].event.as_str()),
        ("", "function")
    );
    let start = last_offset(&mut c);
    q::<String>(&mut c, &["FCALL", "setter", "1", "k", "v1"]);
    let evs = events_after(&mut c, start);
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(
        (evs[0].key.as_str(), evs[0].event.as_str(), evs[0].tx_n),
        ("k", "set", 1)
    );
    drop(c);
    // Replayed from the log.
    let srv = Server::start_in(srv.stop(), &args);
    let mut c = srv.conn();
    assert_eq!(
        q::<String>(&mut c, &["FCALL", "knockknock", "0"]),
        "Who's there?"
    );
    assert_eq!(q::<String>(&mut c, &["GET", "k"]), "v1");
    // From a snapshot, plus a change after it.
    q::<()>(&mut c, &["SAVE"]);
    q::<String>(
        &mut c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=later\nredis.register_function('later', function() return 'l' end)",
        ],
    );
    q::<()>(&mut c, &["FUNCTION", "DELETE", "mylib"]);
    drop(c);
    let srv = Server::start_in(srv.stop(), &args);
    let mut c = srv.conn();
    assert_eq!(q::<String>(&mut c, &["FCALL", "later", "0"]), "l");
    assert_eq!(
        qerr(&mut c, &["FCALL", "knockknock", "0"]),
        "ERR Function not found"
    );
    // A snapshot holding libraries, and nothing after it.
    q::<()>(&mut c, &["SAVE"]);
    drop(c);
    let srv = Server::start_in(srv.stop(), &args);
    let mut c = srv.conn();
    assert_eq!(q::<String>(&mut c, &["FCALL", "later", "0"]), "l");
}

/// Scripts and transactions racing background saves: an EVAL or EXEC could leave its thread
/// holding a shard after giving the world lock back, and a BGSAVE taking the world next then
/// waited for that shard while the thread waited for the world — the server stopped answering.
#[test]
fn scripts_and_transactions_racing_bgsave_never_wedge_the_server() {
    let srv = Server::start();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let mut c = srv.conn();
            std::thread::spawn(move || {
                for n in 0..300 {
                    let k = format!("k{i}:{}", n % 20);
                    let _: i64 = redis::cmd("EVAL")
                        .arg("redis.call('SET', KEYS[1], 'x') return redis.call('INCR', KEYS[2])")
                        .arg(2)
                        .arg(&k)
                        .arg(format!("c{i}"))
                        .query(&mut c)
                        .expect("EVAL answered");
                    let _: () = redis::pipe()
                        .atomic()
                        .cmd("SET")
                        .arg(&k)
                        .arg("y")
                        .ignore()
                        .query(&mut c)
                        .expect("EXEC answered");
                }
            })
        })
        .collect();
    let saver = {
        let stop = stop.clone();
        let mut c = srv.conn();
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // "already in progress" is fine: the point is to keep taking the world lock.
                if let Err(e) = redis::cmd("BGSAVE").query::<Value>(&mut c) {
                    assert!(
                        !(e.is_io_error() || e.is_timeout()),
                        "BGSAVE not answered: {e}"
                    );
                }
            }
        })
    };
    for w in writers {
        w.join()
            .expect("writer finished (a wedged server times its reads out)");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    saver.join().expect("saver");
    let mut c = srv.conn();
    assert_eq!(
        redis::cmd("GET").arg("c0").query::<i64>(&mut c).unwrap(),
        300
    );
}

/// lua-cjson's settings (`cjson.decode_max_depth`, `encode_number_precision`,
/// `encode_sparse_array`, `encode_invalid_numbers`, ...) return and change what later scripts
/// get, with lua-cjson's argument checks; SCRIPT FLUSH puts them back (replies taken from Redis
/// 7.0.15).
#[test]
fn cjson_settings_last_until_script_flush() {
    let srv = Server::start();
    let mut r = srv.raw();
    // In order: each case sees the settings the earlier ones left.
    let cases = [
        ("return {cjson.decode_max_depth(), cjson.encode_max_depth(), cjson.encode_number_precision(), cjson.encode_keep_buffer(), cjson.encode_invalid_numbers(), cjson.decode_invalid_numbers()}", "*6\r\n:1000\r\n:1000\r\n:14\r\n:1\r\n$-1\r\n:1\r\n"),
        ("return {cjson.encode_sparse_array()}", "*3\r\n$-1\r\n:2\r\n:10\r\n"),
        ("cjson.decode_max_depth(2) return cjson.decode(\"[[1]]\")[1][1]", ":1\r\n"),
        ("return cjson.decode(\"[[[1]]]\")", "-ERR user_script:1: Found too many nested data structures (3) at character 3"),
        ("cjson.encode_invalid_numbers(\"null\") return cjson.encode({1/0, 0/0, -1/0})", "$16\r\n[null,null,null]\r\n"),
        ("cjson.encode_invalid_numbers(true) return cjson.encode({1/0, 0/0, -1/0})", "$14\r\n[inf,nan,-inf]\r\n"),
        ("cjson.encode_number_precision(3) return cjson.encode({3.14159, 1234567})", "$15\r\n[3.14,1.23e+06]\r\n"),
        ("cjson.encode_sparse_array(true) return cjson.encode({[20]=1})", "$8\r\n{\"20\":1}\r\n"),
        ("cjson.encode_max_depth(2) return cjson.encode({{{1}}})", "-ERR user_script:1: Cannot serialise, excessive nesting (3)"),
        ("cjson.decode_invalid_numbers(false) return cjson.decode(\"0x10\")", "-ERR user_script:1: Expected value but found invalid number at character 1"),
        ("return cjson.decode_max_depth(0)", "-ERR user_script:1: bad argument #1 to 'decode_max_depth' (expected integer between 1 and 2147483647)"),
        ("return cjson.encode_invalid_numbers(\"x\")", "-ERR user_script:1: bad argument #1 to 'encode_invalid_numbers' (invalid option 'x')"),
        ("return cjson.decode_max_depth(1, 2)", "-ERR user_script:1: bad argument #2 to 'decode_max_depth' (found too many arguments)"),
    ];
    assert_eq!(wire(&mut r, &["SCRIPT", "FLUSH"]), "+OK\r\n");
    for (script, want) in cases {
        let got = eval(&mut r, script);
        if want.starts_with('-') {
            assert!(
                got.starts_with(&format!("{want} script: ")),
                "{script}: {got:?}"
            );
        } else {
            assert_eq!(got, want, "{script}");
        }
    }
    assert_eq!(wire(&mut r, &["SCRIPT", "FLUSH"]), "+OK\r\n");
    assert_eq!(
        eval(
            &mut r,
            "return {cjson.decode_max_depth(), cjson.encode_number_precision()}"
        ),
        "*2\r\n:1000\r\n:14\r\n"
    );
}

#[test]
fn script_debug_turns_debugging_off_and_refuses_the_debugger() {
    let srv = Server::start();
    let mut c = srv.conn();
    assert_eq!(q::<String>(&mut c, &["SCRIPT", "DEBUG", "NO"]), "OK");
    assert_eq!(
        qerr(&mut c, &["SCRIPT", "DEBUG", "MAYBE"]),
        "ERR Use SCRIPT DEBUG YES/SYNC/NO"
    );
    // With a reply still outstanding (a pipeline, or inside EXEC) Redis refuses it outright.
    let mut raw = srv.raw();
    raw.send(b"PING\r\nSCRIPT DEBUG NO\r\n");
    assert_eq!(raw.read_reply(), Resp::Simple("PONG".into()));
    assert_eq!(
        raw.read_reply(),
        Resp::Error("ERR SCRIPT DEBUG must be called outside a pipeline".into())
    );
    assert_eq!(raw.call(&["MULTI"]), Resp::Simple("OK".into()));
    assert_eq!(
        raw.call(&["SCRIPT", "DEBUG", "NO"]),
        Resp::Simple("QUEUED".into())
    );
    assert_eq!(
        raw.call(&["EXEC"]),
        Resp::Array(vec![Resp::Error(
            "ERR SCRIPT DEBUG must be called outside a pipeline".into()
        )])
    );
    if !eddy_only("script_debug_turns_debugging_off_and_refuses_the_debugger (YES)") {
        return;
    }
    // Eddy has no Lua debugger: turning it on is refused rather than ignored.
    for mode in ["YES", "sync"] {
        assert_eq!(
            qerr(&mut c, &["SCRIPT", "DEBUG", mode]),
            "ERR SCRIPT DEBUG YES and SYNC are not supported: Eddy has no Lua debugger"
        );
    }
}

/// `redis.call` with as many arguments as Lua's stack holds (`unpack` of 7999 values) has room
/// for its reply, from a script and from a function, as in Redis.
#[test]
fn a_call_with_thousands_of_unpacked_arguments_returns_its_reply() {
    let srv = Server::start();
    let mut c = srv.conn();
    let body = "local a = {} for i = 1, 7999 do a[i] = 1 end \
                return redis.call('lpush', KEYS[1], unpack(a))";
    assert_eq!(q::<i64>(&mut c, &["EVAL", body, "1", "l"]), 7999);
    let lib = format!(
        "#!lua name=unpacklib\nredis.register_function('f', function(KEYS, ARGV) {body} end)"
    );
    assert_eq!(
        q::<String>(&mut c, &["FUNCTION", "LOAD", &lib]),
        "unpacklib"
    );
    assert_eq!(q::<i64>(&mut c, &["FCALL", "f", "1", "l"]), 2 * 7999);
}

/// `redis.acl_check_cmd` tells a script whether its user may run a command with given
/// arguments (commands and keys), and raises an error for an unknown command, as in Redis 7.
#[test]
fn acl_check_cmd_answers_for_the_scripts_user() {
    let srv = Server::start();
    let mut c = srv.conn();
    let rules = [
        "ACL", "SETUSER", "bob", "on", "nopass", "~xx", "+@all", "-hset",
    ];
    q::<()>(&mut c, &rules);
    let mut bob = srv.raw();
    assert_eq!(wire(&mut bob, &["AUTH", "bob", "x"]), "+OK\r\n");
    let check = |r: &mut Raw, call: &str| {
        let script = format!("return redis.acl_check_cmd({call})");
        wire(r, &["EVAL", &script, "1", "xx"])
    };
    assert_eq!(check(&mut bob, "'set','xx',1"), ":1\r\n");
    assert_eq!(check(&mut bob, "'hset','xx','f',1"), "$-1\r\n");
    assert_eq!(check(&mut bob, "'set','yy',1"), "$-1\r\n");
    assert_eq!(check(&mut bob, "'config','get','x'"), ":1\r\n");
    let unknown = check(&mut bob, "'invalid-cmd','arg'");
    assert!(
        unknown.starts_with("-ERR Invalid command passed to redis.acl_check_cmd()"),
        "{unknown}"
    );
    let none = check(&mut bob, "");
    assert!(
        none.starts_with("-ERR Please specify at least one argument for this redis lib call"),
        "{none}"
    );
    // The default user may run anything.
    let mut r = srv.raw();
    assert_eq!(check(&mut r, "'hset','yy','f',1"), ":1\r\n");
}

/// Replacing a library frees the old one: 5,000 FUNCTION LOAD REPLACE leave the interpreter's
/// memory where a few loads leave it (each load once leaked about 1.5 KB of Lua objects).
#[test]
fn replacing_a_library_again_and_again_does_not_grow_lua_memory() {
    let srv = Server::start();
    let mut c = srv.conn();
    let lib = "#!lua name=again\nredis.register_function('f', function(KEYS, ARGV) \
               return redis.call('incr', KEYS[1]) end)";
    let mut p = redis::pipe();
    for _ in 0..5000 {
        p.cmd("FUNCTION").arg("LOAD").arg("REPLACE").arg(lib);
    }
    let _: Vec<String> = p.query(&mut c).expect("loads");
    assert_eq!(q::<i64>(&mut c, &["FCALL", "f", "1", "n"]), 1);
    let info: String = q(&mut c, &["INFO", "memory"]);
    let lua = common::info_field(&info, "used_memory_lua");
    assert!(lua < 2 * 1024 * 1024, "used_memory_lua {lua}");
}

/// Function names are case-insensitive, as Redis keeps them: FCALL finds `test` as `TEST`, and
/// another library cannot register `TEST` beside it.
#[test]
fn function_names_match_in_any_case() {
    let srv = Server::start();
    let mut c = srv.conn();
    let lib = "#!lua name=one\nredis.register_function('test', function() return 'hello1' end)";
    assert_eq!(q::<String>(&mut c, &["FUNCTION", "LOAD", lib]), "one");
    assert_eq!(q::<String>(&mut c, &["FCALL", "TEST", "0"]), "hello1");
    let clash = "#!lua name=two\nredis.register_function('TEST', function() return 2 end)";
    assert_eq!(
        qerr(&mut c, &["FUNCTION", "LOAD", clash]),
        "ERR Function TEST already exists"
    );
}

/// Over `maxmemory`, a script is judged by its flags, as in Redis 7: a function or shebang
/// script that may write is refused before it runs unless it declares `allow-oom`; a
/// `no-writes` one runs; a plain EVAL runs, and only its first command that may grow memory is
/// refused (after a write it is let finish).
#[test]
fn scripts_over_maxmemory_are_judged_by_their_flags() {
    let srv = Server::start();
    let mut c = srv.conn();
    let lib = "#!lua name=oom\n\
        redis.register_function('w', function() return redis.call('set', 'x', '1') end)\n\
        redis.register_function{function_name='oomok', callback=function() return redis.call('set', 'x', '2') end, flags={'allow-oom'}}\n\
        redis.register_function{function_name='ro', callback=function() return redis.call('get', 'x') end, flags={'no-writes'}}";
    assert_eq!(q::<String>(&mut c, &["FUNCTION", "LOAD", lib]), "oom");
    q::<()>(&mut c, &["CONFIG", "SET", "maxmemory", "1"]);
    const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
    assert_eq!(qerr(&mut c, &["FCALL", "w", "1", "x"]), OOM);
    assert_eq!(q::<String>(&mut c, &["FCALL", "oomok", "1", "x"]), "OK");
    assert_eq!(q::<String>(&mut c, &["FCALL_RO", "ro", "1", "x"]), "2");
    assert_eq!(
        qerr(
            &mut c,
            &[
                "EVAL",
                "#!lua\nreturn redis.call('set', KEYS[1], '1')",
                "1",
                "y"
            ]
        ),
        OOM
    );
    assert_eq!(
        q::<String>(
            &mut c,
            &[
                "EVAL",
                "#!lua flags=allow-oom\nreturn redis.call('set', KEYS[1], '1')",
                "1",
                "y"
            ]
        ),
        "OK"
    );
    let plain = qerr(
        &mut c,
        &["EVAL", "return redis.call('set', KEYS[1], '3')", "1", "y"],
    );
    assert!(plain.starts_with(OOM), "{plain}");
    // A command that cannot grow memory is not refused, and after a write the rest may run.
    assert_eq!(
        q::<String>(
            &mut c,
            &[
                "EVAL",
                "redis.call('del', KEYS[2]); return redis.call('set', KEYS[1], '4')",
                "2",
                "y",
                "z"
            ]
        ),
        "OK"
    );
    q::<()>(&mut c, &["CONFIG", "SET", "maxmemory", "0"]);
    assert_eq!(q::<String>(&mut c, &["FCALL", "w", "1", "x"]), "OK");
}
