//! Connection commands: PING ECHO QUIT RESET SELECT HELLO AUTH MONITOR and the CLIENT family.
//!
//! MONITOR and CLIENT TRACKING/CACHING/GETREDIR/TRACKINGINFO parse and reply here; the feeds
//! behind them are `pubsub::monitor` and `pubsub::tracking`. CLIENT PAUSE/UNPAUSE set
//! `server::pause`, which the connection loop checks.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::args::{int, is, Cursor};
use super::{cmd, container, flag::*, table, CommandSpec, Ctx};
use crate::error::{self, CmdError, CmdResult};
use crate::protocol::resp::Args;
use crate::pubsub::{monitor, tracking, ClientSubs};
use crate::server::clients::ClientClass;
use crate::server::session::{Action, ReplyMode};

const C: &[&str] = &["connection"];

/// The Redis version Eddy's protocol and commands correspond to (what clients check features by).
pub const REDIS_VERSION: &str = "7.0.15";

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("ping", -1, FAST, (0, 0, 0), C, "connection", ping,
        "Returns the server's liveliness response.", "[message]", "1.0.0", "O(1)"),
    cmd!("echo", 2, LOADING | STALE | FAST, (0, 0, 0), C, "connection", echo,
        "Returns the given string.", "message", "1.0.0", "O(1)"),
    cmd!("quit", -1, NOSCRIPT | ALLOW_BUSY | NO_AUTH | LOADING | STALE | FAST, (0, 0, 0), C, "connection", quit,
        "Closes the connection.", "", "1.0.0", "O(1)"),
    cmd!("reset", 1, NO_AUTH | LOADING | STALE | FAST | NOSCRIPT | ALLOW_BUSY, (0, 0, 0), C, "connection", reset,
        "Resets the connection.", "", "6.2.0", "O(1)"),
    cmd!("select", 2, LOADING | STALE | FAST, (0, 0, 0), C, "connection", select,
        "Changes the selected database.", "index", "1.0.0", "O(1)"),
    cmd!("hello", -1, NO_AUTH | LOADING | STALE | FAST | NOSCRIPT | ALLOW_BUSY, (0, 0, 0), C, "connection", hello,
        "Handshakes with the Redis server.", "[protover [AUTH username password] [SETNAME clientname]]", "6.0.0", "O(1)"),
    cmd!("auth", -2, NO_AUTH | LOADING | STALE | FAST | NOSCRIPT | ALLOW_BUSY, (0, 0, 0), C, "connection", auth,
        "Authenticates the connection.", "[username] password", "1.0.0", "O(N) where N is the number of passwords defined for the user"),
    cmd!("monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), &[], "server", monitor,
        "Listens for all requests received by the server in real-time.", "", "1.0.0", ""),
    CommandSpec {
        name: "client",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: &["slow"],
        group: "connection",
        summary: "A container for client connection commands.",
        syntax: "",
        since: "2.4.0",
        complexity: "Depends on subcommand.",
        handler: container,
        subcommands: &[
            cmd!("id", 2, LOADING | STALE | NOSCRIPT, (0, 0, 0), C, "connection", client_id,
                "Returns the unique client ID of the connection.", "", "5.0.0", "O(1)"),
            cmd!("setname", 3, LOADING | STALE | NOSCRIPT, (0, 0, 0), C, "connection", client_setname,
                "Sets the connection name.", "connection-name", "2.6.9", "O(1)"),
            cmd!("getname", 2, LOADING | STALE | NOSCRIPT, (0, 0, 0), C, "connection", client_getname,
                "Returns the name of the connection.", "", "2.6.9", "O(1)"),
            cmd!("list", -2, ADMIN | LOADING | STALE | NOSCRIPT, (0, 0, 0), C, "connection", client_list,
                "Lists open connections.", "[TYPE normal | master | replica | pubsub] [ID client-id [client-id ...]]", "2.4.0", "O(N) where N is the number of client connections"),
            cmd!("info", 2, LOADING | STALE | NOSCRIPT, (0, 0, 0), C, "connection", client_info,
                "Returns information about the connection.", "", "6.2.0", "O(1)"),
            cmd!("kill", -3, ADMIN | LOADING | STALE | NOSCRIPT, (0, 0, 0), C, "connection", client_kill,
                "Terminates open connections.", "ip:port | [ID client-id] [TYPE normal | master | slave | replica | pubsub] [USER username] [ADDR ip:port] [LADDR ip:port] [SKIPME yes | no]", "2.4.0", "O(N) where N is the number of client connections"),
            cmd!("reply", 3, LOADING | STALE | NOSCRIPT, (0, 0, 0), C, "connection", client_reply,
                "Instructs the server whether to reply to commands.", "ON | OFF | SKIP", "3.2.0", "O(1)"),
            cmd!("no-evict", 3, ADMIN | LOADING | STALE | NOSCRIPT, (0, 0, 0), C, "connection", client_no_evict,
                "Sets the client eviction mode of the connection.", "ON | OFF", "7.0.0", "O(1)"),
            cmd!("no-touch", 3, LOADING | STALE | NOSCRIPT, (0, 0, 0), C, "connection", client_no_touch,
                "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.", "ON | OFF", "7.2.0", "O(1)"),
            cmd!("setinfo", 4, LOADING | STALE | NOSCRIPT, (0, 0, 0), C, "connection", client_setinfo,
                "Sets information specific to the client or connection.", "LIB-NAME libname | LIB-VER libver", "7.2.0", "O(1)"),
            cmd!("unblock", -3, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), C, "connection", client_unblock,
                "Unblock a client blocked in a blocking command from a different connection", "client-id [TIMEOUT | ERROR]", "5.0.0", "O(log N) where N is the number of client connections"),
            cmd!("tracking", -3, NOSCRIPT | LOADING | STALE, (0, 0, 0), C, "connection", client_tracking,
                "Controls server-assisted client-side caching for the connection.", "ON | OFF [REDIRECT client-id] [PREFIX prefix [PREFIX prefix ...]] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]", "6.0.0", "O(1). Some options may introduce additional complexity."),
            cmd!("caching", 3, NOSCRIPT | LOADING | STALE, (0, 0, 0), C, "connection", client_caching,
                "Instructs the server whether to track the keys in the next request.", "YES | NO", "6.0.0", "O(1)"),
            cmd!("getredir", 2, NOSCRIPT | LOADING | STALE, (0, 0, 0), C, "connection", client_getredir,
                "Returns the client ID to which the connection's tracking notifications are redirected.", "", "6.0.0", "O(1)"),
            cmd!("trackinginfo", 2, NOSCRIPT | LOADING | STALE, (0, 0, 0), C, "connection", client_trackinginfo,
                "Returns information about server-assisted client-side caching for the connection.", "", "6.2.0", "O(1)"),
            cmd!("pause", -3, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), C, "connection", client_pause,
                "Suspends commands processing.", "timeout [WRITE | ALL]", "3.0.0", "O(1)"),
            cmd!("unpause", 2, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), C, "connection", client_unpause,
                "Resumes processing commands from paused clients.", "", "6.2.0", "O(N) Where N is the number of paused clients"),
            cmd!("help", 2, LOADING | STALE, (0, 0, 0), C, "connection", client_help,
                "Returns helpful text about the different subcommands.", "", "5.0.0", "O(1)"),
        ],
    },
];

fn ping(ctx: &mut Ctx, a: Args) -> CmdResult {
    if a.len() > 2 {
        return Err(error::wrong_arity("ping"));
    }
    if ctx.sess.subscribed() && !ctx.sess.resp3 {
        // In RESP2 pub/sub mode a reply must look like a message: ["pong", message or ""].
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(if a.len() == 2 { a.get(1) } else { b"" });
        return Ok(());
    }
    match a.len() {
        1 => ctx.out.simple("PONG"),
        _ => ctx.out.bulk(a.get(1)),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx, a: Args) -> CmdResult {
    ctx.out.bulk(a.get(1));
    Ok(())
}

fn quit(ctx: &mut Ctx, _a: Args) -> CmdResult {
    ctx.out.ok();
    ctx.sess.action = Some(Action::Close);
    Ok(())
}

fn reset(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let s = &mut *ctx.sess;
    s.db = 0;
    s.resp3 = s.door_resp3();
    s.info
        .resp
        .store(if s.resp3 { 3 } else { 2 }, Ordering::Relaxed);
    s.tracking = None;
    ctx.out.resp3 = s.resp3;
    s.reply = ReplyMode::On;
    s.no_evict = false;
    s.no_touch = false;
    s.set_user(None);
    s.authenticated = !ctx.srv.auth_required();
    s.info.name.lock().clear();
    s.tx.discard();
    // Leave pub/sub mode silently; messages already queued still precede the reply.
    if let Some(p) = s.pubsub.as_mut() {
        p.set_monitor(false);
        p.unsubscribe_all();
    }
    ctx.out.simple("RESET");
    Ok(())
}

fn select(ctx: &mut Ctx, a: Args) -> CmdResult {
    ctx.sess.db = super::keys::db_arg(ctx, a.get(1), None)?;
    ctx.out.ok();
    Ok(())
}

/// Logs the session in as `user` if `pass` is one of its passwords (any password for a
/// `nopass` user). A failure is logged in the ACL log, as the command was sent (`AUTH`).
fn log_in(ctx: &mut Ctx, user: &[u8], pass: &[u8], cmd: &[u8]) -> CmdResult {
    let Some(u) = ctx.srv.acl.authenticate(user, pass) else {
        let info = ctx
            .sess
            .info
            .line(&String::from_utf8_lossy(cmd).to_lowercase());
        ctx.srv
            .acl
            .log("auth", "toplevel", cmd, user, info, ctx.now);
        return Err(error::WRONGPASS.into());
    };
    let default = Arc::ptr_eq(&u, &ctx.srv.acl.default);
    ctx.sess.set_user((!default).then_some(u));
    Ok(())
}

fn auth(ctx: &mut Ctx, a: Args) -> CmdResult {
    monitor::redact_reset();
    let (user, pass): (&[u8], &[u8]) = match a.len() {
        2 => (b"default", a.get(1)),
        3 => (a.get(1), a.get(2)),
        _ => return Err(error::SYNTAX.into()),
    };
    // MONITOR shows the credentials as `(redacted)`, once the form is known to be valid.
    (1..a.len()).for_each(monitor::redact);
    if a.len() == 2 && !ctx.srv.auth_required() {
        return Err(error::AUTH_NOT_CONFIGURED.into());
    }
    log_in(ctx, user, pass, a.get(0))?;
    ctx.out.ok();
    Ok(())
}

fn valid_name(n: &[u8]) -> bool {
    n.iter().all(|&c| (b'!'..=b'~').contains(&c))
}

fn hello(ctx: &mut Ctx, a: Args) -> CmdResult {
    monitor::redact_reset();
    let mut c = Cursor::new(a, 1);
    let mut proto = if ctx.sess.resp3 { 3 } else { 2 };
    if let Some(p) = c.next_arg() {
        let v = int(p).map_err(|_| {
            CmdError::from("ERR Protocol version is not an integer or out of range")
        })?;
        if !(2..=3).contains(&v) {
            return Err(error::NOPROTO.into());
        }
        proto = v;
    }
    let mut setname: Option<&[u8]> = None;
    let mut login: Option<(&[u8], &[u8])> = None;
    while let Some(opt) = c.next_arg() {
        if is(opt, "AUTH") && c.remaining() >= 2 {
            let at = a.len() - c.remaining();
            monitor::redact(at);
            monitor::redact(at + 1);
            login = Some((c.value()?, c.value()?));
        } else if is(opt, "SETNAME") && c.has_more() {
            let n = c.value()?;
            if !valid_name(n) {
                return Err(error::CLIENT_NAME.into());
            }
            setname = Some(n);
        } else {
            return Err(CmdError::owned(format!(
                "ERR Syntax error in HELLO option '{}'",
                error::c_text(opt)
            )));
        }
    }
    if let Some((u, p)) = login {
        log_in(ctx, u, p, a.get(0))?;
    }
    if !ctx.sess.authenticated {
        return Err("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time".into());
    }
    if let Some(n) = setname {
        *ctx.sess.info.name.lock() = n.to_vec();
    }
    ctx.sess.resp3 = proto == 3;
    ctx.out.resp3 = proto == 3;
    ctx.sess.info.resp.store(proto as u8, Ordering::Relaxed);
    if proto == 3 {
        // A RESP3 connection may be the target of another's tracking redirect: give it the
        // push queue now (`pubsub` module docs).
        ClientSubs::ensure(&mut ctx.sess.pubsub, &ctx.srv.pubsub, &ctx.sess.info);
    }
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(proto);
    out.bulk(b"id");
    out.int(ctx.sess.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

fn client_id(ctx: &mut Ctx, _a: Args) -> CmdResult {
    ctx.out.int(ctx.sess.id as i64);
    Ok(())
}

fn client_setname(ctx: &mut Ctx, a: Args) -> CmdResult {
    let n = a.get(2);
    if !valid_name(n) {
        return Err(error::CLIENT_NAME.into());
    }
    *ctx.sess.info.name.lock() = n.to_vec();
    ctx.out.ok();
    Ok(())
}

fn client_getname(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let n = ctx.sess.info.name.lock().clone();
    if n.is_empty() {
        ctx.out.null();
    } else {
        ctx.out.bulk(&n);
    }
    Ok(())
}

/// CLIENT LIST/INFO line of a client, with the current command name for the caller itself.
fn line_of(ctx: &Ctx, info: &crate::server::clients::ClientInfo, current: Option<&str>) -> String {
    let t = table();
    let cmd = match current {
        Some(c) => c.to_string(),
        None => {
            let id = info.last_cmd.load(Ordering::Relaxed);
            t.full_names
                .get(id)
                .cloned()
                .unwrap_or_else(|| "NULL".into())
        }
    };
    let mut l = info.line(&cmd);
    if info.id == ctx.sess.id {
        // The caller's own fields are fresher in its session than in the registry.
        l = l
            .replace(
                &format!(" db={} ", info.db.load(Ordering::Relaxed)),
                &format!(" db={} ", ctx.sess.db),
            )
            .replace(
                &format!(" resp={} ", info.resp.load(Ordering::Relaxed)),
                &format!(" resp={} ", if ctx.sess.resp3 { 3 } else { 2 }),
            );
    }
    l
}

fn client_list(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut ids: Option<Vec<u64>> = None;
    let mut class = None;
    let mut c = Cursor::new(a, 2);
    while let Some(opt) = c.next_arg() {
        if is(opt, "TYPE") {
            class = Some(ClientClass::parse(c.value()?)?);
        } else if is(opt, "ID") {
            let mut v = Vec::new();
            while let Some(x) = c.next_arg() {
                let n = int(x).map_err(|_| CmdError::from("ERR Invalid client ID"))?;
                if n <= 0 {
                    return Err("ERR Invalid client ID".into());
                }
                v.push(n as u64);
            }
            ids = Some(v);
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    let mut s = String::new();
    for info in ctx.srv.clients.all() {
        if ids.as_ref().is_some_and(|v| !v.contains(&info.id)) {
            continue;
        }
        if class.is_some_and(|want| want != info.class()) {
            continue;
        }
        let cur = (info.id == ctx.sess.id).then_some("client|list");
        s.push_str(&line_of(ctx, &info, cur));
        s.push('\n');
    }
    ctx.out.verbatim(&s);
    Ok(())
}

fn client_info(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let info = ctx.sess.info.clone();
    let mut s = line_of(ctx, &info, Some("client|info"));
    s.push('\n');
    ctx.out.verbatim(&s);
    Ok(())
}

fn client_kill(ctx: &mut Ctx, a: Args) -> CmdResult {
    let clients = ctx.srv.clients.all();
    if a.len() == 3 {
        // Old form: CLIENT KILL addr:port.
        let addr = a.get(2);
        let Some(c) = clients.iter().find(|c| c.addr.as_bytes() == addr) else {
            return Err(error::NO_SUCH_CLIENT.into());
        };
        kill(ctx, c);
        ctx.out.ok();
        return Ok(());
    }
    let mut id: Option<u64> = None;
    let mut addr: Option<&[u8]> = None;
    let mut laddr: Option<&[u8]> = None;
    let mut user: Option<&[u8]> = None;
    let mut class = None;
    let mut skipme = true;
    let mut maxage: Option<u64> = None;
    let mut c = Cursor::new(a, 2);
    while c.has_more() {
        let opt = c.value()?;
        let v = c.value()?;
        if is(opt, "ID") {
            let n = int(v).map_err(|_| CmdError::from("ERR client-id should be greater than 0"))?;
            if n <= 0 {
                return Err("ERR client-id should be greater than 0".into());
            }
            id = Some(n as u64);
        } else if is(opt, "ADDR") {
            addr = Some(v);
        } else if is(opt, "LADDR") {
            laddr = Some(v);
        } else if is(opt, "USER") {
            user = Some(v);
        } else if is(opt, "TYPE") {
            class = Some(ClientClass::parse(v)?);
        } else if is(opt, "SKIPME") {
            skipme = if is(v, "yes") {
                true
            } else if is(v, "no") {
                false
            } else {
                return Err(error::SYNTAX.into());
            };
        } else if is(opt, "MAXAGE") {
            maxage = Some(int(v)?.max(0) as u64);
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    if let Some(u) = user {
        if ctx.srv.acl.get(u).is_none() {
            return Err(CmdError::owned(format!(
                "ERR No such user '{}'",
                error::c_text(u)
            )));
        }
    }
    let mut n = 0;
    for cl in &clients {
        let hit = id.is_none_or(|i| cl.id == i)
            && addr.is_none_or(|x| cl.addr.as_bytes() == x)
            && laddr.is_none_or(|x| cl.laddr.as_bytes() == x)
            && user.is_none_or(|u| u == cl.user_name().as_bytes())
            && class.is_none_or(|want| want == cl.class())
            && maxage.is_none_or(|m| cl.created.elapsed().as_secs() >= m)
            && !(skipme && cl.id == ctx.sess.id);
        if hit {
            kill(ctx, cl);
            n += 1;
        }
    }
    ctx.out.int(n);
    Ok(())
}

/// Closes client `c`: another client at once, this one after its reply.
pub(crate) fn kill(ctx: &mut Ctx, c: &crate::server::clients::ClientInfo) {
    if c.id == ctx.sess.id {
        ctx.sess.action = Some(Action::Close);
    } else {
        c.kill();
    }
}

fn on_off(v: &[u8]) -> CmdResult<bool> {
    if is(v, "ON") {
        Ok(true)
    } else if is(v, "OFF") {
        Ok(false)
    } else {
        Err(error::SYNTAX.into())
    }
}

fn client_reply(ctx: &mut Ctx, a: Args) -> CmdResult {
    let v = a.get(2);
    if is(v, "ON") {
        ctx.sess.reply = ReplyMode::On;
        ctx.out.ok();
    } else if is(v, "OFF") {
        ctx.sess.reply = ReplyMode::Off;
    } else if is(v, "SKIP") {
        if ctx.sess.reply != ReplyMode::Off {
            ctx.sess.reply = ReplyMode::Skip;
        }
    } else {
        return Err(error::SYNTAX.into());
    }
    Ok(())
}

fn client_no_evict(ctx: &mut Ctx, a: Args) -> CmdResult {
    let on = on_off(a.get(2))?;
    ctx.sess.no_evict = on;
    ctx.sess.info.no_evict.store(on, Ordering::Relaxed);
    ctx.out.ok();
    Ok(())
}

fn client_no_touch(ctx: &mut Ctx, a: Args) -> CmdResult {
    ctx.sess.no_touch = on_off(a.get(2))?;
    ctx.out.ok();
    Ok(())
}

fn client_setinfo(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (attr, v) = (a.get(2), a.get(3));
    if !valid_name(v) && !v.is_empty() {
        return Err(CmdError::owned(format!(
            "ERR {} cannot contain spaces, newlines or special characters.",
            error::c_text(attr)
        )));
    }
    let v = String::from_utf8_lossy(v).into_owned();
    if is(attr, "LIB-NAME") {
        *ctx.sess.info.lib_name.lock() = v;
    } else if is(attr, "LIB-VER") {
        *ctx.sess.info.lib_ver.lock() = v;
    } else {
        return Err(CmdError::owned(format!(
            "ERR Unrecognized option '{}'",
            error::c_text(attr)
        )));
    }
    ctx.out.ok();
    Ok(())
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's blocking wait.
fn client_unblock(ctx: &mut Ctx, a: Args) -> CmdResult {
    let id = super::args::int(a.get(2))?;
    let error = match a.len() {
        3 => false,
        4 if is(a.get(3), "TIMEOUT") => false,
        4 if is(a.get(3), "ERROR") => true,
        _ => return Err(error::UNBLOCK_REASON.into()),
    };
    let done = id > 0 && crate::keyspace::blocking::unblock(ctx.srv, id as u64, error);
    ctx.out.int(done as i64);
    Ok(())
}

fn client_help(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let lines = [
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CACHING (YES|NO)",
        "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
        "GETREDIR",
        "    Return the client ID we are redirecting to when tracking is enabled.",
        "GETNAME",
        "    Return the name of the current connection.",
        "ID",
        "    Return the ID of the current connection.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port>",
        "    Kill connection made from <ip:port>.",
        "KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections. Options are: ID, TYPE, USER, ADDR, LADDR, SKIPME, MAXAGE.",
        "LIST [options ...]",
        "    Return information about client connections. Options: TYPE, ID.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "NO-EVICT (ON|OFF)",
        "    Protect current client connection from eviction.",
        "NO-TOUCH (ON|OFF)",
        "    Will not touch LRU/LFU stats when this mode is on.",
        "REPLY (ON|OFF|SKIP)",
        "    Control the replies sent to the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "SETINFO <option> <value>",
        "    Set client meta attr. Options are: LIB-NAME, LIB-VER.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
        "         [OPTIN] [OPTOUT] [NOLOOP]",
        "    Control server assisted client side caching.",
        "TRACKINGINFO",
        "    Report tracking status for the current connection.",
        "HELP",
        "    Prints this help.",
    ];
    super::help_reply(ctx, &lines);
    Ok(())
}

/// MONITOR: from now on, every command the server runs is pushed to this connection
/// (`pubsub::monitor`). Again on a monitor: ignored, without a reply, as in Redis.
fn monitor(ctx: &mut Ctx, _a: Args) -> CmdResult {
    if crate::keyspace::txn::capturing() {
        // Queued in MULTI: Redis refuses it when EXEC runs it (`CLIENT_DENY_BLOCKING`).
        return Err("ERR MONITOR isn't allowed for DENY BLOCKING client".into());
    }
    let subs = ClientSubs::ensure(&mut ctx.sess.pubsub, &ctx.srv.pubsub, &ctx.sess.info);
    if subs.is_monitor() {
        return Ok(());
    }
    subs.set_monitor(true);
    ctx.out.ok();
    Ok(())
}

/// CLIENT TRACKING on|off [REDIRECT id] [BCAST] [PREFIX p ...] [OPTIN] [OPTOUT] [NOLOOP], with
/// Redis's option parsing (`clientCommand`) and checks (`pubsub::tracking::enable`).
fn client_tracking(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut o = tracking::Options::default();
    let mut j = 3;
    while j < a.len() {
        let opt = a.get(j);
        let more = j + 1 < a.len();
        if is(opt, "REDIRECT") && more {
            j += 1;
            if o.redirect != 0 {
                return Err("ERR A client can only redirect to a single other client".into());
            }
            let id = int(a.get(j))?;
            let target = (id > 0).then(|| ctx.srv.clients.get(id as u64)).flatten();
            let Some(target) = target else {
                return Err("ERR The client ID you want redirect to does not exist".into());
            };
            o.redirect = id as u64;
            o.target = std::sync::Arc::downgrade(&target);
        } else if is(opt, "BCAST") {
            o.bcast = true;
        } else if is(opt, "OPTIN") {
            o.optin = true;
        } else if is(opt, "OPTOUT") {
            o.optout = true;
        } else if is(opt, "NOLOOP") {
            o.noloop = true;
        } else if is(opt, "PREFIX") && more {
            j += 1;
            o.prefixes.push(a.get(j).to_vec());
        } else {
            return Err(error::SYNTAX.into());
        }
        j += 1;
    }
    let s = &mut *ctx.sess;
    if is(a.get(2), "ON") {
        s.info
            .resp
            .store(if s.resp3 { 3 } else { 2 }, Ordering::Relaxed);
        let queue = ClientSubs::ensure(&mut s.pubsub, &ctx.srv.pubsub, &s.info)
            .subscriber()
            .clone();
        tracking::enable(&mut s.tracking, &ctx.srv.pubsub, &s.info, queue, o)
            .map_err(CmdError::owned)?;
    } else if is(a.get(2), "OFF") {
        s.tracking = None;
    } else {
        return Err(error::SYNTAX.into());
    }
    ctx.out.ok();
    Ok(())
}

fn client_caching(ctx: &mut Ctx, a: Args) -> CmdResult {
    let Some(t) = ctx.sess.tracking.as_deref_mut() else {
        return Err(
            "ERR CLIENT CACHING can be called only when the client is in tracking mode \
                    with OPTIN or OPTOUT mode enabled"
                .into(),
        );
    };
    let v = a.get(2);
    if is(v, "YES") {
        if !t.optin {
            return Err(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."
                    .into(),
            );
        }
    } else if is(v, "NO") {
        if !t.optout {
            return Err(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."
                    .into(),
            );
        }
    } else {
        return Err(error::SYNTAX.into());
    }
    t.caching = true;
    ctx.out.ok();
    Ok(())
}

fn client_getredir(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let r = ctx.sess.tracking.as_ref().map_or(-1, |t| t.redirect as i64);
    ctx.out.int(r);
    Ok(())
}

fn client_trackinginfo(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let t = ctx.sess.tracking.as_deref();
    let mut flags: Vec<&str> = vec![if t.is_some() { "on" } else { "off" }];
    if let Some(t) = t {
        if t.bcast {
            flags.push("bcast");
        }
        if t.optin {
            flags.push("optin");
            if t.caching {
                flags.push("caching-yes");
            }
        }
        if t.optout {
            flags.push("optout");
            if t.caching {
                flags.push("caching-no");
            }
        }
        if t.noloop {
            flags.push("noloop");
        }
        if tracking::broken(&ctx.sess.info) {
            flags.push("broken_redirect");
        }
    }
    let out = &mut *ctx.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"redirect");
    out.int(t.map_or(-1, |t| t.redirect as i64));
    out.bulk(b"prefixes");
    match t {
        Some(t) => out.bulks(t.prefixes.iter().map(|p| p.as_slice())),
        None => out.array(0),
    }
    Ok(())
}

/// CLIENT PAUSE timeout [WRITE|ALL] (`server::pause`).
fn client_pause(ctx: &mut Ctx, a: Args) -> CmdResult {
    use crate::server::pause;
    if a.len() > 4 {
        return Err(error::subcommand_syntax(a.get(1), "client"));
    }
    let mode = match a.len() {
        4 if is(a.get(3), "WRITE") => pause::WRITE,
        4 if is(a.get(3), "ALL") => pause::ALL,
        4 => return Err("ERR CLIENT PAUSE mode must be WRITE or ALL".into()),
        _ => pause::ALL,
    };
    let ms = super::args::int(a.get(2))
        .map_err(|_| CmdError::from("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(error::TIMEOUT_NEG.into());
    }
    // Redis adds a positive timeout to the clock as is; 0 is "until now".
    let end = if ms > 0 {
        (crate::util::now_ms() as i64).wrapping_add(ms)
    } else {
        0
    };
    ctx.srv.pause.pause(pause::Purpose::Client, end, mode);
    ctx.out.ok();
    Ok(())
}

fn client_unpause(ctx: &mut Ctx, _a: Args) -> CmdResult {
    ctx.srv.pause.unpause(crate::server::pause::Purpose::Client);
    ctx.out.ok();
    Ok(())
}
