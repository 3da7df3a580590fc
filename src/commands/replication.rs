//! The replication commands of a primary: the handshake a Redis replica sends (REPLCONF, then
//! PSYNC or SYNC, after which the connection is the replica's: `server::replication`), ROLE,
//! WAIT and FAILOVER (`server::failover`). REPLICAOF, which would make this server a replica, is
//! in `cluster`.

use std::time::Duration;

use super::args::{int, is};
use super::{cmd, flag::*, CommandSpec, Ctx};
use crate::error::{self, CmdError, CmdResult};
use crate::protocol::resp::Args;
use crate::server::door::Door;
use crate::server::failover;
use crate::server::follow::{LinkState, Target};
use crate::server::replication::SyncRequest;
use crate::server::session::Action;

const ADMIN_CATS: &[&str] = &["admin", "slow", "dangerous"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("psync", -3, ADMIN | NOSCRIPT | NO_MULTI, (0, 0, 0), ADMIN_CATS, "server", psync,
        "Internal command used for replication", "replicationid offset", "2.8.0", ""),
    cmd!("sync", 1, ADMIN | NOSCRIPT | NO_MULTI, (0, 0, 0), ADMIN_CATS, "server", sync,
        "Internal command used for replication", "", "1.0.0", ""),
    cmd!("replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE | ALLOW_BUSY, (0, 0, 0), ADMIN_CATS, "server", replconf,
        "An internal command for configuring the replication stream", "", "3.0.0", "O(1)"),
    cmd!("role", 1, NOSCRIPT | LOADING | STALE | FAST, (0, 0, 0), &["fast", "dangerous", "admin"], "server", role,
        "Return the role of the instance in the context of replication", "", "2.8.12", "O(1)"),
    cmd!("failover", -1, ADMIN | NOSCRIPT | STALE, (0, 0, 0), ADMIN_CATS, "server", failover,
        "Start a coordinated failover between this server and one of its replicas.", "[TO host port [FORCE]] [ABORT] [TIMEOUT milliseconds]", "6.2.0", "O(1)"),
    cmd!("wait", 3, NOSCRIPT, (0, 0, 0), &["slow", "connection"], "generic", wait,
        "Wait for the synchronous replication of all the write commands sent in the context of the current connection", "numreplicas timeout", "3.0.0", "O(1)"),
];

/// PSYNC replicationid offset [FAILOVER]: a partial resynchronisation (`+CONTINUE`) when the
/// replica applied exactly what a recently stopped stream of that ID sent and the log still
/// holds what follows; otherwise a full one (see `server::replication`). With FAILOVER, from
/// the primary this server follows, naming the stream it follows: this server becomes the
/// primary, and the sender its replica (`server::failover`).
fn psync(ctx: &mut Ctx, a: Args) -> CmdResult {
    let id = a.get(1);
    let failover = a.len() > 3 && is(a.get(3), "failover");
    if failover {
        let Some(st) = ctx.srv.upstream.status() else {
            return Err("ERR PSYNC FAILOVER can't be sent to a master.".into());
        };
        if !st.replid.as_bytes().eq_ignore_ascii_case(id) {
            return Err("ERR PSYNC FAILOVER replid must match my replid.".into());
        }
    }
    let continue_from = (id != b"?")
        .then(|| crate::util::num::parse_i64(a.get(2)).map(|off| (id.to_vec(), off)))
        .flatten();
    become_replica(ctx, true, continue_from, failover)
}

/// SYNC: the pre-2.8 handshake, the image and the stream without the `+FULLRESYNC` line.
fn sync(ctx: &mut Ctx, _a: Args) -> CmdResult {
    become_replica(ctx, false, None, false)
}

fn become_replica(
    ctx: &mut Ctx,
    psync: bool,
    continue_from: Option<(Vec<u8>, i64)>,
    failover: bool,
) -> CmdResult {
    if ctx.sess.door != Door::Resp {
        return Err("ERR replicas are served on the RESP port only".into());
    }
    if ctx.srv.failover.active() {
        return Err("NOMASTERLINK Can't SYNC while failing over".into());
    }
    // A follower serves its own replicas only while its stream flows (PSYNC FAILOVER stops
    // following first).
    let linked = |s: crate::server::follow::Status| s.state == LinkState::Connected;
    if !failover && ctx.srv.upstream.status().is_some_and(|s| !linked(s)) {
        return Err("NOMASTERLINK Can't SYNC while not connected with my master".into());
    }
    ctx.sess.action = Some(Action::Replica(Box::new(SyncRequest {
        psync,
        continue_from,
        failover,
    })));
    Ok(())
}

/// FAILOVER [TO host port [FORCE]] [TIMEOUT ms] | FAILOVER ABORT, with Redis's checks in
/// Redis's order; the failover itself runs in the background (`server::failover`).
fn failover(ctx: &mut Ctx, a: Args) -> CmdResult {
    let Some(srv) = ctx.srv.me() else {
        return Err("ERR the server is shutting down".into());
    };
    if a.len() == 2 && is(a.get(1), "abort") {
        if !srv.failover.active() {
            return Err("ERR No failover in progress.".into());
        }
        failover::abort(&srv, "Failover manually aborted");
        ctx.out.ok();
        return Ok(());
    }
    let (mut timeout, mut force, mut to) = (0, false, None);
    let mut i = 1;
    while i < a.len() {
        let w = a.get(i);
        if is(w, "timeout") && i + 1 < a.len() && timeout == 0 {
            timeout = int(a.get(i + 1))?;
            if timeout <= 0 {
                return Err("ERR FAILOVER timeout must be greater than 0".into());
            }
            i += 2;
        } else if is(w, "to") && i + 2 < a.len() && to.is_none() {
            let port = int(a.get(i + 2))?;
            to = Some((String::from_utf8_lossy(a.get(i + 1)).into_owned(), port));
            i += 3;
        } else if is(w, "force") && !force {
            force = true;
            i += 1;
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    if srv.failover.active() {
        return Err("ERR FAILOVER already in progress.".into());
    }
    if srv.upstream.status().is_some() {
        return Err("ERR FAILOVER is not valid when server is a replica.".into());
    }
    if srv.replicas.is_empty() {
        return Err("ERR FAILOVER requires connected replicas.".into());
    }
    if force && (timeout == 0 || to.is_none()) {
        return Err(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.".into(),
        );
    }
    let target = match to {
        Some((host, port)) => match srv.replicas.find(&host, port) {
            None => return Err("ERR FAILOVER target HOST and PORT is not a replica.".into()),
            Some((_, false)) => return Err("ERR FAILOVER target replica is not online.".into()),
            Some((_, true)) => Some(Target {
                host,
                port: port as u16,
            }),
        },
        None => None,
    };
    if !failover::start(&srv, target, force, (timeout > 0).then_some(timeout)) {
        return Err("ERR FAILOVER already in progress.".into());
    }
    ctx.out.ok();
    Ok(())
}

/// REPLCONF option value [option value ...], as Redis answers it: `listening-port`,
/// `ip-address`, `capa`, `rdb-only` and `rdb-filter-only` are noted (OK); `ACK` and `GETACK` get no reply (a
/// replica's acknowledgements arrive on its own connection, `server::replication`); anything
/// else is an error.
fn replconf(ctx: &mut Ctx, a: Args) -> CmdResult {
    if a.len().is_multiple_of(2) {
        return Err(error::SYNTAX.into());
    }
    let mut conf = ctx.sess.replconf.clone();
    for pair in a.iter().skip(1).collect::<Vec<_>>().chunks(2) {
        let (opt, val) = (pair[0], pair[1]);
        if is(opt, "listening-port") {
            conf.port = int(val)?.clamp(0, u16::MAX as i64) as u16;
        } else if is(opt, "ip-address") {
            // Redis's NET_HOST_STR_LEN: a host name fits too.
            if val.len() >= 256 {
                return Err(CmdError::owned(format!(
                    "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    val.len()
                )));
            }
            conf.ip = Some(String::from_utf8_lossy(val).into_owned());
        } else if is(opt, "capa") {
            conf.eof |= is(val, "eof");
        } else if is(opt, "getack") && ctx.sess.from_primary() {
            // The primary this server follows asks for its offset (`server::follow`).
            ctx.sess.replconf.getack = true;
            return Ok(());
        } else if is(opt, "ack") || is(opt, "getack") {
            return Ok(());
        } else if is(opt, "rdb-filter-only") {
            let mut f = crate::server::replication::FilterOnly::default();
            for word in val
                .split(|b| b.is_ascii_whitespace())
                .filter(|w| !w.is_empty())
            {
                if !is(word, "functions") {
                    return Err(CmdError::owned(format!(
                        "ERR Unsupported rdb-filter-only option: {}",
                        String::from_utf8_lossy(word)
                    )));
                }
                f.functions = true;
            }
            conf.filtered = Some(f);
        } else if is(opt, "rdb-only") {
            conf.rdb_only = match int(val) {
                Ok(0) => false,
                Ok(1) => true,
                _ => return Err("ERR value is out of range, must be positive".into()),
            };
        } else {
            return Err(CmdError::owned(format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(opt)
            )));
        }
    }
    ctx.sess.replconf = conf;
    ctx.out.ok();
    Ok(())
}

/// ROLE: `slave`, the primary, the link's state and the offset applied while following one;
/// otherwise `master`, the replication offset (INFO's `master_repl_offset`) and the online replicas
/// as `[ip, port, acknowledged offset]`.
fn role(ctx: &mut Ctx, _a: Args) -> CmdResult {
    if let Some(st) = ctx.srv.upstream.status() {
        // Following a primary (`server::follow`): as a Redis replica answers.
        ctx.out.array(5);
        ctx.out.bulk(b"slave");
        ctx.out.bulk(st.target.host.as_bytes());
        ctx.out.int(st.target.port as i64);
        ctx.out.bulk(st.state.name().as_bytes());
        // As Redis: the offset of the live link, -1 while there is none.
        let live = st.state == crate::server::follow::LinkState::Connected;
        ctx.out.int(if live { st.offset } else { -1 });
        return Ok(());
    }
    let reps = ctx.srv.replicas.role_entries();
    ctx.out.array(3);
    ctx.out.bulk(b"master");
    ctx.out.int(ctx.srv.replicas.repl_offset() as i64);
    ctx.out.array(reps.len());
    for (ip, port, off) in reps {
        ctx.out.array(3);
        ctx.out.bulk(ip.as_bytes());
        ctx.out.bulk(port.to_string().as_bytes());
        ctx.out.bulk(off.to_string().as_bytes());
    }
    Ok(())
}

/// WAIT numreplicas timeout: how many replicas applied every change committed before it.
/// Answers at once when enough already have, when none is asked for, and inside EXEC (where
/// nothing blocks); otherwise once enough acknowledge or the timeout passes (0: never). With no
/// replica connected none can acknowledge, so it just waits out the timeout (0: an hour, the
/// longest this client pauses, as for DEBUG SLEEP).
fn wait(ctx: &mut Ctx, a: Args) -> CmdResult {
    let want = int(a.get(1))?;
    let ms = int(a.get(2))
        .map_err(|_| CmdError::from("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(error::TIMEOUT_NEG.into());
    }
    let reps = &ctx.srv.replicas;
    let offset = crate::keyspace::txn::applied_offset(&ctx.srv.log);
    let acked = reps.count_applied(offset);
    if want <= acked as i64 || crate::keyspace::txn::capturing() {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    if reps.is_empty() {
        ctx.out.int(0);
        let d = match ms {
            0 => Duration::from_secs(3600),
            ms => Duration::from_millis(ms as u64).min(Duration::from_secs(3600)),
        };
        ctx.sess.action = Some(Action::Sleep {
            pause: d,
            timed: false,
        });
        return Ok(());
    }
    ctx.sess.action = Some(Action::WaitReplicas {
        offset,
        want: want as usize,
        deadline: (ms > 0).then(|| tokio::time::Instant::now() + Duration::from_millis(ms as u64)),
    });
    Ok(())
}
