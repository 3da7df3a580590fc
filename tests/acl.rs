//! Access control lists against the real binary: the ACL command family (WHOAMI, USERS, LIST,
//! GETUSER, SETUSER with its rules and errors, DELUSER, DRYRUN, LOG, CAT, GENPASS, SAVE/LOAD
//! with and without `aclfile`),
//! logging in as a user (AUTH, HELLO AUTH), the permission checks on commands, keys and channels
//! (at top level, in MULTI/EXEC and in scripts), `requirepass` as the default user's password,
//! and rule changes reaching connections already logged in.
//!
//! Expected replies are Redis 7.0.15's: the suite passes against redis-server
//! (`EDDY_TEST_SERVER=redis-server cargo test --release --test acl`). Redis 7.0 lists the rules
//! for single commands (`+get -hset`) after the categories in its command table's hash order,
//! which is seeded at random on each start, so [`canon`] puts those in a fixed order before
//! comparing; everything else is compared as sent.

mod common;

use common::{q, qerr, qv, vget, vpairs, vstr, Raw, Resp, Server, IO_TIMEOUT};
use redis::Value;
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Splits a command written with single spaces into its arguments.
fn w(cmd: &str) -> Vec<&str> {
    cmd.split(' ').collect()
}

/// Runs a space-separated command that must fail; returns the error text.
fn e(c: &mut redis::Connection, cmd: &str) -> String {
    qerr(c, &w(cmd))
}

/// Runs a space-separated command that must reply `OK`.
fn ok(c: &mut redis::Connection, cmd: &str) {
    assert_eq!(qv(c, &w(cmd)), Value::Okay, "{cmd}");
}

/// The `left => right` pairs of a table written one pair a line (`//` lines are comments).
fn table(t: &str) -> Vec<(&str, &str)> {
    let wanted = |l: &&str| !l.trim().is_empty() && !l.trim().starts_with("//");
    let pair = |l| str::trim(l).split_once(" => ").expect("a `=>` pair");
    t.lines().filter(wanted).map(pair).collect()
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Sorts the single-command rules that follow the categories in an ACL rule description: by
/// command, a command before its subcommands (so `-config +config|get` keeps its meaning).
fn canon(rules: &str) -> String {
    let toks = w(rules);
    let single = |t: &&str| (t.starts_with('+') || t.starts_with('-')) && !t[1..].starts_with('@');
    let at = toks.iter().position(single).unwrap_or(toks.len());
    let (head, tail) = toks.split_at(at);
    let mut tail = tail.to_vec();
    tail.sort_by_key(|t| {
        let name = &t[1..];
        let base = name.split('|').next().unwrap_or(name);
        (base.to_string(), name.contains('|'), name.to_string())
    });
    [head, &tail].concat().join(" ")
}

/// The `ACL LIST` line of `user` (single-command rules in [`canon`] order).
fn acl_line(c: &mut redis::Connection, user: &str) -> String {
    let lines: Vec<String> = q(c, &["ACL", "LIST"]);
    let prefix = format!("user {user} ");
    let line = lines.iter().find(|l| l.starts_with(&prefix));
    canon(line.unwrap_or_else(|| panic!("no ACL LIST line for {user}: {lines:?}")))
}

fn users(c: &mut redis::Connection) -> Vec<String> {
    q(c, &["ACL", "USERS"])
}

/// Strings of an array or (RESP3) set.
fn strs(v: Option<Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a) | Value::Set(a)) => a.iter().filter_map(vstr).collect(),
        other => panic!("expected an array or set, got {other:?}"),
    }
}

fn text(v: &Value, field: &str) -> String {
    let s = vget(v, field).as_ref().and_then(vstr);
    s.unwrap_or_else(|| panic!("no string {field} in {v:?}"))
}

/// A raw connection logged in as `user`.
fn raw_as(srv: &Server, user: &str, pass: &str) -> Raw {
    let mut r = srv.raw();
    assert_eq!(r.call(&["AUTH", user, pass]), Resp::Simple("OK".into()));
    r
}

/// A `redis` connection logged in as `user`.
fn conn_as(srv: &Server, user: &str, pass: &str) -> redis::Connection {
    let mut c = srv.conn();
    assert_eq!(qv(&mut c, &["AUTH", user, pass]), Value::Okay);
    c
}

/// A raw reply that must be an error; returns its text.
fn rerr(r: Resp) -> String {
    match r {
        Resp::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn simple(s: &str) -> Resp {
    Resp::Simple(s.into())
}

const NOAUTH: &str = "NOAUTH Authentication required.";
const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
const NOPERM_KEY: &str =
    "NOPERM this user has no permissions to access one of the keys used as arguments";
const NOPERM_CHANNEL: &str =
    "NOPERM this user has no permissions to access one of the channels used as arguments";

fn noperm_cmd(name: &str) -> String {
    format!("NOPERM this user has no permissions to run the '{name}' command")
}

// ---------------------------------------------------------------------------------------------
// Users and their rules

#[test]
fn whoami_users_and_list_for_default_and_new_users() {
    let srv = Server::start();
    let mut c = srv.conn();
    let me = qv(&mut c, &w("ACL WHOAMI"));
    assert_eq!(me, Value::BulkString(b"default".to_vec()));
    assert_eq!(users(&mut c), ["default"]);
    let list: Vec<String> = q(&mut c, &w("ACL LIST"));
    assert_eq!(list, ["user default on nopass ~* &* +@all"]);
    for u in ["alice", "Zed", "bob"] {
        ok(&mut c, &format!("ACL SETUSER {u}"));
    }
    // Sorted by bytes: upper case first.
    assert_eq!(users(&mut c), ["Zed", "alice", "bob", "default"]);
    let line = acl_line(&mut c, "alice");
    assert_eq!(line, "user alice off resetchannels -@all");
    assert_eq!(
        qerr(&mut c, &["ACL", "SETUSER", "a b", "on"]),
        "ERR Usernames can't contain spaces or null characters"
    );
    let cases = "
        ACL NOSUCH => ERR unknown subcommand 'NOSUCH'. Try ACL HELP.
        ACL WHOAMI x => ERR wrong number of arguments for 'acl|whoami' command
        ACL SETUSER => ERR wrong number of arguments for 'acl|setuser' command
        ACL DELUSER => ERR wrong number of arguments for 'acl|deluser' command";
    for (cmd, want) in table(cases) {
        assert_eq!(e(&mut c, cmd), want);
    }
}

#[test]
fn setuser_renders_passwords_keys_and_channels() {
    let srv = Server::start();
    let mut c = srv.conn();
    let (h1, h2, h3) = (sha256_hex("p1"), sha256_hex("p2"), sha256_hex("p3"));
    // H1, H2, H3 stand for the SHA-256 hex of p1, p2, p3; REST for the unchanged rules. An
    // existing password is not added twice; a new one goes last.
    let steps = "
        on >p1 >p2 ~k:* %R~r:* %W~w:* %RW~rw:* &ch:* +get => on #H1 #H2 REST
        <p1 => on #H2 REST
        >p1 >p2 => on #H2 #H1 REST
        nopass => on nopass REST
        >p3 => on #H3 REST
        resetpass => on REST
        #H1 => on #H1 REST
        allkeys => on #H1 ~* resetchannels &ch:* -@all +get
        resetkeys ~a %r~b ~a => on #H1 ~a %R~b resetchannels &ch:* -@all +get
        allchannels => on #H1 ~a %R~b &* -@all +get
        resetchannels &x &x => on #H1 ~a %R~b resetchannels &x -@all +get
        OFF => off #H1 ~a %R~b resetchannels &x -@all +get
        reset => off sanitize-payload resetchannels -@all";
    let fill = |t: &str| {
        let rest = "~k:* %R~r:* %W~w:* ~rw:* resetchannels &ch:* -@all +get";
        let t = t.replace("H1", &h1).replace("H2", &h2);
        t.replace("H3", &h3).replace("REST", rest)
    };
    for (rules, want) in table(steps) {
        let (rules, want) = (fill(rules), fill(want));
        ok(&mut c, &format!("ACL SETUSER u {rules}"));
        let line = acl_line(&mut c, "u");
        assert_eq!(line, format!("user u {want}"), "after {rules}");
    }
    // The listed hash is of the password AUTH takes.
    ok(&mut c, &format!("ACL SETUSER u on #{h3} +ping"));
    let mut u = srv.conn();
    assert_eq!(e(&mut u, "AUTH u p1"), WRONGPASS);
    ok(&mut u, "AUTH u p3");
}

#[test]
fn setuser_command_rules_are_compacted() {
    let srv = Server::start();
    let mut c = srv.conn();
    let cases = "
        +get => -@all +get
        +@all +get => +@all
        allcommands => +@all
        +@all nocommands => -@all
        +@all -@dangerous => +@all -@dangerous
        -@all +@string -get +get => -@all +@string
        -@all +config|get +config|set -config|get => -@all +config|set
        +@all -config|set => +@all -config|set
        +@all -config +config|get => +@all -config +config|get
        +config|get -config => -@all
        +set -set => -@all
        // A rule that changes nothing leaves no trace.
        +@read -set +exec => -@all +@read +exec
        +@hash -hset -hget => -@all +@hash -hget -hset
        +@all -@string +get => +@all -@string +get
        // A category is named only while it covers most of its commands.
        +@transaction -multi => -@all +@transaction -multi
        +@transaction -multi -exec -discard => -@all +unwatch +watch
        +GET +@STRING -@String => -@all";
    for (rules, want) in table(cases) {
        let _: i64 = q(&mut c, &w("ACL DELUSER t"));
        ok(&mut c, &format!("ACL SETUSER t {rules}"));
        let line = acl_line(&mut c, "t");
        assert_eq!(line, format!("user t off resetchannels {want}"), "{rules}");
        let got = qv(&mut c, &w("ACL GETUSER t"));
        assert_eq!(canon(&text(&got, "commands")), want, "GETUSER {rules}");
    }
}

/// The listed rules are the user's permissions: random command rules, listed and applied to a
/// fresh user, give the same line and the same DRYRUN answers for a spread of commands.
#[test]
fn listed_rules_recreate_the_same_permissions() {
    let srv = Server::start();
    let mut c = srv.conn();
    let mut rng = common::Rng::seeded("listed_rules_recreate_the_same_permissions");
    let cats = w("keyspace read write set sortedset list hash string bitmap hyperloglog geo \
                  stream pubsub admin fast slow blocking dangerous connection transaction scripting");
    let cmds = w(
        "get set del hset lpush sadd zadd config config|get config|set client \
                  client|list acl|whoami multi exec publish keys scan expire incr xadd eval",
    );
    let probes = [
        "get k",
        "set k v",
        "del k",
        "hset k f v",
        "lpush k v",
        "sadd k m",
        "zadd k 1 m",
        "config get x",
        "config set x y",
        "client list",
        "acl whoami",
        "multi",
        "exec",
        "publish c m",
        "keys *",
        "scan 0",
        "expire k 1",
        "incr k",
        "xadd k * f v",
        "flushall",
        "object encoding k",
        "blpop k 0",
        "sort k",
        "swapdb 0 1",
        "slowlog get",
        "type k",
    ];
    let allowed = |c: &mut redis::Connection, user: &str| -> Vec<bool> {
        let ask = |p: &&str| qv(c, &w(&format!("ACL DRYRUN {user} {p}"))) == Value::Okay;
        probes.iter().map(ask).collect()
    };
    for _ in 0..40 {
        let mut rules = vec!["~*".to_string(), "&*".to_string()];
        if rng.below(3) == 0 {
            rules.push("+@all".into());
        }
        for _ in 0..=rng.below(5) {
            let sign = if rng.below(2) == 0 { '+' } else { '-' };
            rules.push(match rng.below(2) {
                0 => format!("{sign}@{}", cats[rng.below(cats.len() as u64) as usize]),
                _ => format!("{sign}{}", cmds[rng.below(cmds.len() as u64) as usize]),
            });
        }
        let _: i64 = q(&mut c, &w("ACL DELUSER t t2"));
        ok(&mut c, &format!("ACL SETUSER t {}", rules.join(" ")));
        let line = acl_line(&mut c, "t");
        let listed = line.trim_start_matches("user t ");
        ok(&mut c, &format!("ACL SETUSER t2 {listed}"));
        assert_eq!(
            acl_line(&mut c, "t2"),
            format!("user t2 {listed}"),
            "{rules:?}"
        );
        assert_eq!(
            allowed(&mut c, "t"),
            allowed(&mut c, "t2"),
            "{rules:?} listed as {line}"
        );
    }
}

#[test]
fn getuser_reports_each_field_in_both_protocols() {
    let srv = Server::start();
    let mut admin = srv.conn();
    let g = "ACL SETUSER g on >pw ~k:* %R~r:* &ch +@hash -hset +config|get";
    ok(&mut admin, g);
    ok(&mut admin, "ACL SETUSER fresh");
    for (proto, mut c) in srv.conns() {
        let v = qv(&mut c, &w("ACL GETUSER g"));
        let names: Vec<String> = vpairs(&v).into_iter().map(|(k, _)| k).collect();
        let want = w("flags passwords commands keys channels selectors");
        assert_eq!(names, want, "{proto}");
        assert_eq!(strs(vget(&v, "flags")), ["on"], "{proto}");
        assert_eq!(strs(vget(&v, "passwords")), [sha256_hex("pw")], "{proto}");
        let cmds = canon(&text(&v, "commands"));
        assert_eq!(cmds, "-@all +@hash +config|get -hset", "{proto}");
        assert_eq!(text(&v, "keys"), "~k:* %R~r:*", "{proto}");
        assert_eq!(text(&v, "channels"), "&ch", "{proto}");
        assert!(strs(vget(&v, "selectors")).is_empty(), "{proto}");

        let d = qv(&mut c, &w("ACL GETUSER default"));
        assert_eq!(strs(vget(&d, "flags")), ["on", "nopass"], "{proto}");
        assert!(strs(vget(&d, "passwords")).is_empty(), "{proto}");
        let fields = ["commands", "keys", "channels"].map(|f| text(&d, f));
        assert_eq!(fields, ["+@all", "~*", "&*"], "{proto}");

        let f = qv(&mut c, &w("ACL GETUSER fresh"));
        assert_eq!(strs(vget(&f, "flags")), ["off"], "{proto}");
        let fields = ["commands", "keys", "channels"].map(|n| text(&f, n));
        assert_eq!(fields, ["-@all", "", ""], "{proto}");

        assert_eq!(qv(&mut c, &w("ACL GETUSER nobody")), Value::Nil, "{proto}");
    }
}

#[test]
fn setuser_errors_name_the_rule_and_change_nothing() {
    let srv = Server::start();
    let mut c = srv.conn();
    ok(&mut c, "ACL SETUSER e on >pw ~e:* +get");
    let before = acl_line(&mut c, "e");
    let unknown = "Unknown command or category name in ACL";
    let hash = "The password hash must be exactly 64 characters and contain only lowercase \
                hexadecimal characters";
    let upper = format!("#{}", sha256_hex("x").to_uppercase());
    let after_all = |flag: &str, what: &str| {
        format!(
            "Adding a pattern after the * pattern (or the 'all{what}' flag) is not valid and \
             does not have any effect. Try 'reset{what}' to start with an empty list of {flag}"
        )
    };
    let cases = [
        ("bogus", "bogus", "Syntax error".to_string()),
        ("+ping bogus", "bogus", "Syntax error".into()),
        ("%X~a", "%X~a", "Syntax error".into()),
        ("+nosuch", "+nosuch", unknown.into()),
        ("-nosuch", "-nosuch", unknown.into()),
        ("+@nosuch", "+@nosuch", unknown.into()),
        ("+config|nosuch", "+config|nosuch", unknown.into()),
        ("#abc", "#abc", hash.into()),
        (upper.as_str(), upper.as_str(), hash.into()),
        (
            "<nothere",
            "<nothere",
            "The password you are trying to remove from the user does not exist".into(),
        ),
        ("allkeys ~a", "~a", after_all("patterns", "keys")),
        // Checked before the pattern is read.
        ("allkeys %~x", "%~x", after_all("patterns", "keys")),
        ("allchannels &b", "&b", after_all("channels", "channels")),
    ];
    for (rules, bad, why) in cases {
        let want = format!("ERR Error in ACL SETUSER modifier '{bad}': {why}");
        assert_eq!(e(&mut c, &format!("ACL SETUSER e {rules}")), want);
        assert_eq!(acl_line(&mut c, "e"), before, "{rules} changes nothing");
    }
    // A failed SETUSER does not create the user either.
    let want = "ERR Error in ACL SETUSER modifier 'bogus': Syntax error";
    assert_eq!(e(&mut c, "ACL SETUSER new on bogus"), want);
    assert_eq!(users(&mut c), ["default", "e"]);
}

// ---------------------------------------------------------------------------------------------
// Logging in and permission checks

#[test]
fn auth_and_hello_auth_as_a_created_user() {
    let srv = Server::start();
    let mut admin = srv.conn();
    ok(&mut admin, "ACL SETUSER alice on >apw ~* &* +@all");
    ok(&mut admin, "ACL SETUSER offuser off >opw ~* +@all");

    let mut c = srv.conn();
    for bad in ["AUTH alice wrong", "AUTH nobody apw", "AUTH offuser opw"] {
        assert_eq!(e(&mut c, bad), WRONGPASS, "{bad}");
    }
    assert_eq!(q::<String>(&mut c, &w("ACL WHOAMI")), "default");
    ok(&mut c, "AUTH alice apw");
    assert_eq!(q::<String>(&mut c, &w("ACL WHOAMI")), "alice");

    let mut r = srv.raw();
    assert_eq!(rerr(r.call(&w("HELLO 3 AUTH alice nope"))), WRONGPASS);
    let hello = r.call(&w("HELLO 3 AUTH alice apw"));
    assert!(matches!(hello, Resp::Map(_)), "{hello:?}");
    assert_eq!(hello.field("proto"), Some(&Resp::Int(3)));
    assert_eq!(r.call(&w("ACL WHOAMI")), Resp::Bulk(b"alice".to_vec()));
}

#[test]
fn denied_commands_keys_and_channels_get_noperm() {
    let srv = Server::start();
    let mut admin = srv.conn();
    let rules = "on >cpw ~c:* %R~r:* &news +get +set +mget +publish +subscribe +config|get";
    ok(&mut admin, &format!("ACL SETUSER carol {rules}"));
    let mut c = conn_as(&srv, "carol", "cpw");
    ok(&mut c, "SET c:1 v");
    assert_eq!(q::<String>(&mut c, &w("GET c:1")), "v");
    assert_eq!(e(&mut c, "DEL c:1"), noperm_cmd("del"));
    let config_set = noperm_cmd("config|set");
    assert_eq!(e(&mut c, "CONFIG SET maxmemory 0"), config_set);
    assert_eq!(e(&mut c, "ACL WHOAMI"), noperm_cmd("acl|whoami"));
    assert_eq!(e(&mut c, "GET x"), NOPERM_KEY);
    assert_eq!(e(&mut c, "MGET c:1 x"), NOPERM_KEY);
    // A read-only pattern: reads pass, writes do not.
    assert_eq!(qv(&mut c, &w("GET r:1")), Value::Nil);
    assert_eq!(e(&mut c, "SET r:1 v"), NOPERM_KEY);
    assert_eq!(q::<i64>(&mut admin, &w("EXISTS r:1")), 0);
    assert_eq!(q::<i64>(&mut c, &w("PUBLISH news hi")), 0);
    assert_eq!(e(&mut c, "PUBLISH other hi"), NOPERM_CHANNEL);

    let mut r = raw_as(&srv, "carol", "cpw");
    assert_eq!(rerr(r.call(&w("SUBSCRIBE other"))), NOPERM_CHANNEL);
    assert_eq!(rerr(r.call(&w("SUBSCRIBE news other"))), NOPERM_CHANNEL);
    let b = |s: &str| Resp::Bulk(s.as_bytes().to_vec());
    let confirm = Resp::Array(vec![b("subscribe"), b("news"), Resp::Int(1)]);
    assert_eq!(r.call(&w("SUBSCRIBE news")), confirm);
}

#[test]
fn denials_in_multi_are_reported_at_queue_time_and_rechecked_at_exec() {
    let srv = Server::start();
    let mut admin = srv.conn();
    let mia = "ACL SETUSER mia on >mpw ~m:* +multi +exec +get +set";
    ok(&mut admin, mia);
    let mut r = raw_as(&srv, "mia", "mpw");
    assert_eq!(r.call(&w("MULTI")), simple("OK"));
    assert_eq!(r.call(&w("SET m:1 v")), simple("QUEUED"));
    assert_eq!(rerr(r.call(&w("DEL m:1"))), noperm_cmd("del"));
    assert_eq!(rerr(r.call(&w("GET x"))), NOPERM_KEY);
    let abort = "EXECABORT Transaction discarded because of previous errors.";
    assert_eq!(rerr(r.call(&w("EXEC"))), abort);
    assert_eq!(q::<i64>(&mut admin, &w("EXISTS m:1")), 0);

    // Rules changed after queueing: EXEC checks each command again.
    assert_eq!(r.call(&w("MULTI")), simple("OK"));
    for cmd in ["SET m:1 v", "GET m:2", "GET m:1"] {
        assert_eq!(r.call(&w(cmd)), simple("QUEUED"));
    }
    ok(&mut admin, "ACL SETUSER mia -set resetkeys ~m:1");
    let changed = "NOPERM ACLs rules changed between the moment the transaction was accumulated \
                   and the EXEC call. This command is no longer allowed for the following reason:";
    let no = |why: &str| Resp::Error(format!("{changed} no permission to {why}"));
    let want = Resp::Array(vec![
        no("execute the command or subcommand"),
        no("touch the specified keys"),
        Resp::NullBulk,
    ]);
    assert_eq!(r.call(&w("EXEC")), want);
}

#[test]
fn scripts_cannot_run_what_their_user_cannot() {
    let srv = Server::start();
    let mut admin = srv.conn();
    let sam = "ACL SETUSER sam on >spw ~s:* &ok +eval +get +publish";
    ok(&mut admin, sam);
    let mut c = conn_as(&srv, "sam", "spw");
    let user = "ERR The user executing the script can't";
    let cases = "
        return redis.call('set','s:1','v') => run this command or subcommand
        return redis.call('get','x') => access at least one of the keys mentioned in the command \
            arguments
        return redis.call('publish','other','m') => publish to the channel mentioned in the \
            command";
    for (body, msg) in table(cases) {
        let sha: String = q(&mut admin, &["SCRIPT", "LOAD", body]);
        let want = format!("{user} {msg} script: {sha}, on @user_script:1.");
        assert_eq!(qerr(&mut c, &["EVAL", body, "0"]), want, "{body}");
    }
    assert_eq!(q::<i64>(&mut admin, &w("EXISTS s:1")), 0);
    // pcall hands the error back as a table; returned, it is the reply as it is.
    let pcall = ["EVAL", "return redis.pcall('set','s:1','v')", "0"];
    let want = format!("{user} run this command or subcommand");
    assert_eq!(qerr(&mut c, &pcall), want);
    let get = ["EVAL", "return redis.call('get','s:1')", "0"];
    assert_eq!(qv(&mut c, &get), Value::Nil);
    // Declared keys are checked before the script runs.
    assert_eq!(qerr(&mut c, &["EVAL", "return 1", "1", "x"]), NOPERM_KEY);
    assert_eq!(q::<i64>(&mut c, &["EVAL", "return 1", "1", "s:1"]), 1);
}

/// Selectors (Redis 7): `(...)` rules are a set of their own, starting from nothing. A command
/// runs when the root rules or any selector allow all of it; a refusal names what got furthest
/// (a channel over a key over the command, and of two keys the later one). A selector may be
/// split over arguments; ACL LIST writes each in parentheses, GETUSER lists them, and
/// CLEARSELECTORS and RESET remove them.
#[test]
fn selectors_grant_what_the_root_rules_do_not() {
    let srv = Server::start();
    let mut c = srv.conn();
    // Split at spaces: each selector arrives as two arguments and is joined again.
    ok(
        &mut c,
        "ACL SETUSER sel on nopass -@all resetkeys (+@write ~write::*) (+@read ~read::*)",
    );
    assert_eq!(
        acl_line(&mut c, "sel"),
        "user sel on nopass resetchannels -@all (~write::* resetchannels -@all +@write) \
         (~read::* resetchannels -@all +@read)"
    );
    ok(
        &mut c,
        "ACL SETUSER mix on nopass +mget ~a* &a* +publish (+mget +get ~b*)",
    );
    let cases = "
        sel set write::foo bar => OK
        sel get read::foo => OK
        sel get write::foo => access the 'write::foo' key
        sel set read::foo bar => access the 'read::foo' key
        sel ping => run the 'ping' command
        mix mget a1 a2 => OK
        mix mget b1 b2 => OK
        mix mget a1 b1 => access the 'b1' key
        mix mget b1 a1 => access the 'a1' key
        mix get zz => access the 'zz' key
        mix publish zz m => access the 'zz' channel
        mix set a1 v => run the 'set' command";
    for (args, want) in table(cases) {
        let want = match want {
            "OK" => Value::Okay,
            why => Value::BulkString(format!("This user has no permissions to {why}").into()),
        };
        assert_eq!(
            qv(&mut c, &w(&format!("ACL DRYRUN {args}"))),
            want,
            "{args}"
        );
    }
    let mut as_sel = conn_as(&srv, "sel", "x");
    assert_eq!(qv(&mut as_sel, &w("SET write::k v")), Value::Okay);
    assert_eq!(qerr(&mut as_sel, &w("GET write::k")), NOPERM_KEY);

    let v = qv(&mut c, &w("ACL GETUSER sel"));
    assert_eq!(text(&v, "commands"), "-@all");
    let Some(Value::Array(sels)) = vget(&v, "selectors") else {
        panic!("no selectors in {v:?}");
    };
    let fields: Vec<Vec<String>> = sels
        .iter()
        .map(|s| {
            vpairs(s)
                .iter()
                .map(|(k, v)| format!("{k}={}", vstr(v).unwrap_or_default()))
                .collect()
        })
        .collect();
    assert_eq!(
        fields,
        [
            ["commands=-@all +@write", "keys=~write::*", "channels="],
            ["commands=-@all +@read", "keys=~read::*", "channels="]
        ]
    );

    let errors = "
        (+get ~x => ERR Unmatched parenthesis in acl selector starting at '(+get'.
        (on) => ERR Error in ACL SETUSER modifier '(on)': Syntax error
        (+nosuch) => ERR Error in ACL SETUSER modifier '(+nosuch)': Unknown command or category name in ACL";
    for (rule, want) in table(errors) {
        assert_eq!(
            e(&mut c, &format!("ACL SETUSER sel {rule}")),
            want,
            "{rule}"
        );
    }
    ok(&mut c, "ACL SETUSER sel clearselectors");
    assert_eq!(
        acl_line(&mut c, "sel"),
        "user sel on nopass resetchannels -@all"
    );
    ok(&mut c, "ACL SETUSER mix reset");
    assert_eq!(
        acl_line(&mut c, "mix"),
        "user mix off sanitize-payload resetchannels -@all"
    );
}

#[test]
fn dryrun_explains_without_running() {
    let srv = Server::start();
    let mut c = srv.conn();
    let dora = "ACL SETUSER dora on nopass ~d:* &news +get +publish +config|get";
    ok(&mut c, dora);
    ok(&mut c, "ACL SETUSER offu off ~* +@all");
    // Replies other than OK say "This user has no permissions to ...". A disabled user's rules
    // are explained all the same.
    let cases = "
        dora GET d:1 => OK
        dora set d:1 v => run the 'set' command
        dora CONFIG SET a b => run the 'config|set' command
        dora config get x => OK
        dora get x => access the 'x' key
        dora publish other m => access the 'other' channel
        dora publish news m => OK
        offu get x => OK
        default set k v => OK";
    for (args, want) in table(cases) {
        let want = match want {
            "OK" => Value::Okay,
            why => Value::BulkString(format!("This user has no permissions to {why}").into()),
        };
        let got = qv(&mut c, &w(&format!("ACL DRYRUN {args}")));
        assert_eq!(got, want, "{args}");
    }
    assert_eq!(q::<i64>(&mut c, &w("EXISTS k")), 0, "DRYRUN runs nothing");
    let errors = "
        nobody get x => ERR User 'nobody' not found
        dora nosuchcmd x => ERR Command 'nosuchcmd' not found
        dora config nosuch => ERR Command 'config' not found
        dora get => ERR wrong number of arguments for 'get' command
        dora => ERR wrong number of arguments for 'acl|dryrun' command";
    for (args, want) in table(errors) {
        assert_eq!(e(&mut c, &format!("ACL DRYRUN {args}")), want, "{args}");
    }
    let log = qv(&mut c, &w("ACL LOG"));
    assert_eq!(log, Value::Array(vec![]), "DRYRUN logs nothing");
}

// ---------------------------------------------------------------------------------------------
// ACL LOG

type Entry = (i64, String, String, String, String);

/// (count, reason, context, object, username) of each entry, after checking each entry's layout.
fn log_entries(c: &mut redis::Connection, cmd: &str) -> Vec<Entry> {
    let Value::Array(entries) = qv(c, &w(cmd)) else {
        panic!("{cmd} must reply with an array")
    };
    let layout = w("count reason context object username age-seconds client-info");
    let entry = |en: &Value| {
        let names: Vec<String> = vpairs(en).into_iter().map(|(k, _)| k).collect();
        assert_eq!(names, layout);
        // A double in RESP3, its text in RESP2.
        let age = match vget(en, "age-seconds") {
            Some(Value::Double(d)) => d,
            v => v
                .as_ref()
                .and_then(vstr)
                .and_then(|s| s.parse().ok())
                .expect("age"),
        };
        assert!((0.0..60.0).contains(&age), "age-seconds {age}");
        assert!(text(en, "client-info").starts_with("id="), "{en:?}");
        let Some(Value::Int(count)) = vget(en, "count") else {
            panic!("count in {en:?}")
        };
        let f = |n| text(en, n);
        (count, f("reason"), f("context"), f("object"), f("username"))
    };
    entries.iter().map(entry).collect()
}

#[test]
fn acl_log_records_denials_newest_first() {
    let srv = Server::start();
    let mut admin = srv.conn();
    let eve = "ACL SETUSER eve on >epw ~e:* &ev +get +publish +multi +exec +eval";
    ok(&mut admin, eve);
    let mut r = raw_as(&srv, "eve", "epw");
    assert_eq!(rerr(r.call(&w("GET x"))), NOPERM_KEY);
    assert_eq!(rerr(r.call(&w("HSET e:1 f v"))), noperm_cmd("hset"));
    assert_eq!(rerr(r.call(&w("PUBLISH other m"))), NOPERM_CHANNEL);
    r.call(&w("MULTI"));
    assert_eq!(rerr(r.call(&w("GET y"))), NOPERM_KEY);
    r.call(&w("EXEC"));
    let eval = rerr(r.call(&["EVAL", "return redis.call('get','z')", "0"]));
    assert!(eval.starts_with("ERR The user executing"), "{eval}");
    assert_eq!(rerr(r.call(&w("AUTH eve wrong"))), WRONGPASS);
    // The same denial again: counted on its entry, which moves to the front.
    assert_eq!(rerr(r.call(&w("GET x"))), NOPERM_KEY);
    let entry = |n: i64, reason: &str, ctx: &str, obj: &str| {
        (n, reason.into(), ctx.into(), obj.into(), "eve".into())
    };
    let want: Vec<Entry> = vec![
        entry(2, "key", "toplevel", "x"),
        // The command name as sent (a denied command is named in lower case).
        entry(1, "auth", "toplevel", "AUTH"),
        entry(1, "key", "lua", "z"),
        entry(1, "key", "multi", "y"),
        entry(1, "channel", "toplevel", "other"),
        entry(1, "command", "toplevel", "hset"),
    ];
    for (proto, mut c) in srv.conns() {
        assert_eq!(log_entries(&mut c, "ACL LOG"), want, "{proto}");
    }
    assert_eq!(log_entries(&mut admin, "ACL LOG 2"), want[..2]);
    let not_int = "ERR value is not an integer or out of range";
    assert_eq!(e(&mut admin, "ACL LOG x"), not_int);
    let Value::Array(latest) = qv(&mut admin, &w("ACL LOG 1")) else {
        panic!("ACL LOG 1")
    };
    let info = text(&latest[0], "client-info");
    assert!(info.contains(" user=eve "), "{info}");
    ok(&mut admin, "ACL LOG RESET");
    assert_eq!(log_entries(&mut admin, "ACL LOG"), vec![]);
}

// ---------------------------------------------------------------------------------------------
// DELUSER, CAT, GENPASS

#[test]
fn deluser_counts_and_disconnects_the_users_connections() {
    let srv = Server::start();
    let mut admin = srv.conn();
    ok(&mut admin, "ACL SETUSER dan on >dpw ~* +@all");
    ok(&mut admin, "ACL SETUSER other");
    let mut r = raw_as(&srv, "dan", "dpw");
    let mut c = conn_as(&srv, "dan", "dpw");
    assert_eq!(r.call(&w("PING")), simple("PONG"));
    let default = "ERR The 'default' user cannot be removed";
    assert_eq!(e(&mut admin, "ACL DELUSER default"), default);
    assert_eq!(e(&mut admin, "ACL DELUSER dan default"), default);
    assert_eq!(users(&mut admin), ["dan", "default", "other"]);
    let n: i64 = q(&mut admin, &w("ACL DELUSER nobody dan other dan"));
    assert_eq!(n, 2);
    assert_eq!(q::<i64>(&mut admin, &w("ACL DELUSER dan")), 0);
    assert_eq!(users(&mut admin), ["default"]);
    assert!(
        r.closed_within(IO_TIMEOUT),
        "dan's raw connection is closed"
    );
    let next = common::cmd(&["PING"]).query::<Value>(&mut c);
    assert!(next.is_err(), "and the other one: {next:?}");
    assert_eq!(q::<String>(&mut admin, &w("PING")), "PONG");
}

#[test]
fn acl_cat_lists_categories_and_their_commands() {
    let srv = Server::start();
    let mut c = srv.conn();
    let cats: Vec<String> = q(&mut c, &w("ACL CAT"));
    let want = "keyspace read write set sortedset list hash string bitmap hyperloglog geo stream \
                pubsub admin fast slow blocking dangerous connection transaction scripting";
    assert_eq!(cats, w(want));
    let mut string: Vec<String> = q(&mut c, &w("ACL CAT STRING"));
    string.sort();
    let want = "append decr decrby get getdel getex getrange getset incr incrby incrbyfloat lcs \
                mget mset msetnx psetex set setex setnx setrange strlen substr";
    assert_eq!(string, w(want));
    let some = [
        ("keyspace", "del expire object|encoding scan"),
        ("read", "get hget zrange"),
        ("write", "set hset lpush"),
        ("hash", "hset hgetall"),
        ("dangerous", "flushall keys config|set acl|setuser"),
    ];
    for (cat, cmds) in some {
        let got: Vec<String> = q(&mut c, &["ACL", "CAT", cat]);
        for cmd in w(cmds) {
            assert!(got.iter().any(|g| g == cmd), "{cmd} in @{cat}: {got:?}");
        }
    }
    assert_eq!(e(&mut c, "ACL CAT nosuch"), "ERR Unknown category 'nosuch'");
    // The subcommand is named as sent.
    let want = "ERR unknown subcommand or wrong number of arguments for 'CAT'. Try ACL HELP.";
    assert_eq!(e(&mut c, "ACL CAT a b"), want);
}

#[test]
fn genpass_gives_hex_of_the_asked_bits() {
    let srv = Server::start();
    let mut c = srv.conn();
    let hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let a: String = q(&mut c, &w("ACL GENPASS"));
    let b: String = q(&mut c, &w("ACL GENPASS"));
    assert!(a.len() == 64 && hex(&a), "{a}");
    assert_ne!(a, b);
    for (bits, len) in [("32", 8), ("1", 1), ("5", 2), ("4096", 1024)] {
        let p: String = q(&mut c, &["ACL", "GENPASS", bits]);
        assert!(p.len() == len && hex(&p), "GENPASS {bits}: {p}");
    }
    let range = "ERR ACL GENPASS argument must be the number of bits for the output password, a \
                 positive number up to 4096";
    for bad in ["0", "-1", "4097"] {
        assert_eq!(qerr(&mut c, &["ACL", "GENPASS", bad]), range, "{bad}");
    }
    let not_int = "ERR value is not an integer or out of range";
    assert_eq!(e(&mut c, "ACL GENPASS x"), not_int);
}

// ---------------------------------------------------------------------------------------------
// requirepass, live rule changes, ACL SAVE/LOAD

#[test]
fn requirepass_is_the_default_users_password() {
    let srv = Server::start();
    let mut c = srv.conn();
    ok(&mut c, "CONFIG SET requirepass pw");
    let line = format!("user default on #{} ~* &* +@all", sha256_hex("pw"));
    // The connection that set it stays logged in.
    assert_eq!(acl_line(&mut c, "default"), line);
    let mut r = srv.raw();
    assert_eq!(rerr(r.call(&w("PING"))), NOAUTH);
    assert_eq!(rerr(r.call(&w("AUTH nope"))), WRONGPASS);
    assert_eq!(r.call(&w("AUTH pw")), simple("OK"));
    assert_eq!(r.call(&w("AUTH default pw")), simple("OK"));
    assert_eq!(
        qv(&mut c, &["CONFIG", "SET", "requirepass", ""]),
        Value::Okay
    );
    let line = acl_line(&mut c, "default");
    assert_eq!(line, "user default on nopass ~* &* +@all");
    assert_eq!(srv.raw().call(&w("PING")), simple("PONG"));

    // The same from the command line.
    let srv = Server::start_with(&["--requirepass", "secret"]);
    let mut r = srv.raw();
    assert_eq!(rerr(r.call(&w("ACL WHOAMI"))), NOAUTH);
    assert_eq!(r.call(&w("AUTH secret")), simple("OK"));
    let want = format!("user default on #{} ~* &* +@all", sha256_hex("secret"));
    let want = Resp::Array(vec![Resp::Bulk(want.into_bytes())]);
    assert_eq!(r.call(&w("ACL LIST")), want);
}

#[test]
fn setuser_changes_reach_connections_already_logged_in() {
    let srv = Server::start();
    let mut admin = srv.conn();
    ok(&mut admin, "ACL SETUSER lee on >lpw ~* &* +@all");
    let mut c = conn_as(&srv, "lee", "lpw");
    let list: String = q(&mut admin, &w("CLIENT LIST"));
    let count = |u: &str| {
        list.lines()
            .filter(|l| l.contains(&format!(" user={u} ")))
            .count()
    };
    assert_eq!((count("lee"), count("default")), (1, 1), "{list}");
    assert!(q::<String>(&mut c, &w("CLIENT INFO")).contains(" user=lee "));

    ok(&mut admin, "ACL SETUSER lee -get");
    assert_eq!(e(&mut c, "GET k"), noperm_cmd("get"));
    ok(&mut admin, "ACL SETUSER lee +get resetkeys ~l:*");
    assert_eq!(e(&mut c, "GET k"), NOPERM_KEY);
    assert_eq!(qv(&mut c, &w("GET l:1")), Value::Nil);
    // Disabling the user or dropping its password stops new logins, not this session.
    ok(&mut admin, "ACL SETUSER lee off resetpass");
    assert_eq!(qv(&mut c, &w("PING")), Value::SimpleString("PONG".into()));
    assert_eq!(q::<String>(&mut c, &w("ACL WHOAMI")), "lee");
    assert_eq!(e(&mut srv.conn(), "AUTH lee lpw"), WRONGPASS);
    // CLIENT KILL USER names a user that must exist.
    let nosuch = "ERR No such user 'nosuch'";
    assert_eq!(e(&mut admin, "CLIENT KILL USER nosuch"), nosuch);
    assert_eq!(q::<i64>(&mut admin, &w("CLIENT KILL USER lee")), 1);
}

/// With `aclfile`: users come from it at start, ACL SAVE writes them, ACL LOAD replaces them
/// all or not at all (errors in Redis's words) and closes the connections of users that are
/// gone; the option can't change at run time.
#[test]
fn aclfile_users_load_at_start_save_and_reload() {
    let dir = common::TempDir::new("aclfile");
    let path = dir.path().join("users.acl");
    let file = path.to_str().expect("utf-8 path").to_string();
    std::fs::write(&path, "user alice on >pw ~* +@all\n\nuser bob off\n").unwrap();
    let srv = Server::start_with(&["--aclfile", &file]);
    let mut c = srv.conn();
    let alice = format!("user alice on #{} ~* resetchannels +@all", sha256_hex("pw"));
    let listed = |c: &mut redis::Connection| q::<Vec<String>>(c, &w("ACL LIST"));
    let want = [
        alice.as_str(),
        "user bob off resetchannels -@all",
        "user default on nopass ~* &* +@all",
    ];
    assert_eq!(listed(&mut c), want);
    let mut a = raw_as(&srv, "alice", "pw");

    ok(&mut c, "ACL SETUSER carol on");
    ok(&mut c, "ACL SAVE");
    let saved = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = saved.lines().collect();
    let want = [
        alice.as_str(),
        "user bob off resetchannels -@all",
        "user carol on resetchannels -@all",
        "user default on nopass ~* &* +@all",
    ];
    assert_eq!(lines, want);

    let bad = "user alice on bogus\nuser x\nfoo bar\nuser x on\n";
    std::fs::write(&path, bad).unwrap();
    let want = format!(
        "ERR {file}:1: Syntax error. {file}:3 should start with user keyword followed by the \
         username. WARNING: Duplicate user 'x' found on line 4. WARNING: ACL errors detected, \
         no change to the previously active ACL rules was performed"
    );
    assert_eq!(e(&mut c, "ACL LOAD"), want);
    assert_eq!(listed(&mut c).len(), 4, "a failed load changes nothing");
    std::fs::remove_file(&path).unwrap();
    let want = format!("ERR Error loading ACLs, opening file '{file}': No such file or directory");
    assert_eq!(e(&mut c, "ACL LOAD"), want);

    std::fs::write(&path, "user bob on nopass ~* +@all\n").unwrap();
    ok(&mut c, "ACL LOAD");
    let want = [
        "user bob on nopass ~* resetchannels +@all",
        "user default on nopass ~* &* +@all",
    ];
    assert_eq!(listed(&mut c), want);
    assert!(
        a.closed_within(IO_TIMEOUT),
        "alice is gone: her connection closes"
    );
    let immutable = "ERR CONFIG SET failed (possibly related to argument 'aclfile') - can't set \
                     immutable config";
    assert_eq!(
        qerr(&mut c, &["CONFIG", "SET", "aclfile", &file]),
        immutable
    );
}

/// A broken or missing ACL file stops start-up with the reason, as Redis's "Aborting Redis
/// startup because of ACL errors".
#[test]
fn a_bad_aclfile_stops_start_up() {
    if !common::eddy_only("a_bad_aclfile_stops_start_up") {
        return;
    }
    let dir = common::TempDir::new("aclbad");
    let path = dir.path().join("users.acl");
    std::fs::write(&path, "user alice on bogus\n").unwrap();
    let missing = dir.path().join("missing.acl");
    for (p, why) in [
        (&path, "1: Syntax error"),
        (&missing, "No such file or directory"),
    ] {
        let file = p.to_str().unwrap();
        let (code, log) = common::run_server_expecting_exit(&["--aclfile", file], IO_TIMEOUT);
        assert_eq!(code, Some(1), "{log}");
        assert!(
            log.contains("because of ACL errors") && log.contains(why),
            "{log}"
        );
    }
}

#[test]
fn acl_save_and_load_need_an_aclfile() {
    let srv = Server::start();
    let mut c = srv.conn();
    let want = "ERR This Redis instance is not configured to use an ACL file. You may want to \
                specify users via the ACL SETUSER command and then issue a CONFIG REWRITE \
                (assuming you have a Redis configuration file set) in order to store users in the \
                Redis configuration.";
    assert_eq!(e(&mut c, "ACL SAVE"), want);
    assert_eq!(e(&mut c, "ACL LOAD"), want);
}
