//! MIGRATE: moving keys to another Redis-compatible server, as Redis's `migrateCommand` does —
//! DUMP each key here, `RESTORE` it there (after `AUTH` and `SELECT`), and delete it here once
//! the target acknowledged it (not with `COPY`), with Redis's replies and errors.
//!
//! ## Without blocking the server
//! Redis blocks its whole event loop for the transfer. Here the transfer is the connection's
//! own wait, like WAIT's: the command serialises the keys under their shard locks and gives
//! them up ([`migrate`]); the connection task connects, writes and reads with no lock held,
//! serving other clients' commands all along ([`transfer`]); then it takes the locks again and
//! deletes each key the target acknowledged ([`finish`]). Because other clients run in
//! between, a key that a client changed after it was serialised is **not** deleted: the
//! target holds the old value and this server the new one, where Redis would have had no
//! "in between". Deleted keys are recorded in the change log as `del`, as Redis propagates a
//! MIGRATE as `DEL`.
//!
//! Each MIGRATE opens its own connection (Redis keeps one per target for 10 s), so `SELECT`
//! is always sent. Timeouts are Redis's: `timeout` ms (1000 when not positive) for the connect
//! and for each 64 KB written or reply line read. Inside MULTI or a script MIGRATE is refused
//! (flags `no-multi`, `noscript`), since there it could only block the server.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use super::args::is;
use super::Ctx;
use crate::error::{CmdError, CmdResult};
use crate::keyspace::encoding::dump;
use crate::protocol::resp::Args;
use crate::server::session::Action;

/// Redis writes the request in pieces of this size, each within the timeout.
const WRITE_CHUNK: usize = 64 * 1024;
/// A reply line from the target is `+OK` or an error; longer is cut here (Redis reads 1 KB).
const MAX_LINE: u64 = 4096;

/// A transfer under way: what to send and what was sent.
#[derive(Debug)]
pub struct Migration {
    host: String,
    port: Option<u16>,
    timeout: Duration,
    /// `AUTH`, `SELECT` and the `RESTORE`s, as RESP.
    request: Vec<u8>,
    /// An `AUTH` reply comes first.
    auth: bool,
    /// Each key sent and where its serialised value is in `request` (to see whether it changed
    /// meanwhile, without a second copy of what is being moved).
    keys: Vec<(Vec<u8>, std::ops::Range<usize>)>,
    copy: bool,
}

/// How the exchange with the target went.
pub enum Outcome {
    Connect,
    Write,
    /// The reply lines read (`AUTH`'s, `SELECT`'s, then one per key): fewer than that when
    /// reading stopped early on an error or a timeout.
    Replies(Vec<Vec<u8>>),
}

/// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
/// [AUTH2 username password] [KEYS key [key ...]]
pub fn migrate(ctx: &mut Ctx, a: Args) -> CmdResult {
    crate::pubsub::monitor::redact_reset();
    let (mut copy, mut replace) = (false, false);
    let mut auth: Option<(Option<&[u8]>, &[u8])> = None;
    let mut first_key = 3;
    let mut num_keys = 1;
    let mut j = 6;
    while j < a.len() {
        let more = a.len() - j - 1;
        let opt = a.get(j);
        if is(opt, "COPY") {
            copy = true;
        } else if is(opt, "REPLACE") {
            replace = true;
        } else if is(opt, "AUTH") && more >= 1 {
            auth = Some((None, a.get(j + 1)));
            crate::pubsub::monitor::redact(j + 1);
            j += 1;
        } else if is(opt, "AUTH2") && more >= 2 {
            auth = Some((Some(a.get(j + 1)), a.get(j + 2)));
            crate::pubsub::monitor::redact(j + 1);
            crate::pubsub::monitor::redact(j + 2);
            j += 2;
        } else if is(opt, "KEYS") {
            if !a.get(3).is_empty() {
                return Err(CmdError::from(
                    "ERR When using MIGRATE KEYS option, the key argument must be set to the \
                     empty string",
                ));
            }
            first_key = j + 1;
            num_keys = a.len() - j - 1;
            break;
        } else {
            return Err(crate::error::SYNTAX.into());
        }
        j += 1;
    }
    let timeout = super::args::int(a.get(5))?;
    let db = super::args::int(a.get(4))?;
    let timeout = Duration::from_millis(if timeout <= 0 { 1000 } else { timeout as u64 });

    let names: Vec<&[u8]> = (first_key..first_key + num_keys)
        .map(|i| a.get(i))
        .collect();
    let mut keys = Vec::with_capacity(names.len());
    let mut request = Vec::new();
    if let Some((user, pass)) = auth {
        match user {
            Some(u) => push_command(&mut request, &[b"AUTH", u, pass]),
            None => push_command(&mut request, &[b"AUTH", pass]),
        }
    }
    push_command(
        &mut request,
        &[b"SELECT", itoa::Buffer::new().format(db).as_bytes()],
    );
    let mut l = ctx.lock(&names);
    let now = ctx.now as i64;
    for key in names {
        let Some(v) = l.peek(key) else { continue };
        let payload = dump(v);
        // The time left, at least 1 ms (0 would mean "no TTL" to RESTORE).
        let ttl = match l.ttl_of(key) {
            Some(at) if (at as i64) < now => continue,
            Some(at) => (at as i64 - now).max(1),
            None => 0,
        };
        let mut b = itoa::Buffer::new();
        let ttl = b.format(ttl).as_bytes();
        if replace {
            push_command(&mut request, &[b"RESTORE", key, ttl, &payload, b"REPLACE"]);
        } else {
            push_command(&mut request, &[b"RESTORE", key, ttl, &payload]);
        }
        // Where the payload sits in the request: before its CRLF and `$7 REPLACE`.
        let end = request.len() - 2 - if replace { 13 } else { 0 };
        let at = end - payload.len()..end;
        debug_assert_eq!(request[at.clone()], payload[..]);
        keys.push((key.to_vec(), at));
    }
    drop(l);
    if keys.is_empty() {
        ctx.out.simple("NOKEY");
        return Ok(());
    }
    ctx.sess.action = Some(Action::Migrate(Box::new(Migration {
        host: String::from_utf8_lossy(a.get(1)).into_owned(),
        port: std::str::from_utf8(a.get(2))
            .ok()
            .and_then(|p| p.parse().ok()),
        timeout,
        request,
        auth: auth.is_some(),
        keys,
        copy,
    })));
    Ok(())
}

/// Appends one command to the request.
fn push_command(request: &mut Vec<u8>, args: &[&[u8]]) {
    crate::server::replication::command(request, args.len(), args.iter().copied());
}

/// Connects to the target, sends the request and reads the replies, each step within the
/// timeout. Holds no lock.
pub async fn transfer(m: &Migration) -> Outcome {
    let t = m.timeout;
    let Some(port) = m.port else {
        return Outcome::Connect;
    };
    let lookup = tokio::net::lookup_host((m.host.as_str(), port));
    let addrs: Vec<std::net::SocketAddr> = match tokio::time::timeout(t, lookup).await {
        Ok(Ok(a)) => a.collect(),
        _ => return Outcome::Connect,
    };
    let sock = match tokio::time::timeout(t, tokio::net::TcpStream::connect(&addrs[..])).await {
        Ok(Ok(s)) => s,
        // Refused: Redis's connect only waits for the socket to become writable, and learns
        // of the refusal when it writes; its reply says so.
        Ok(Err(_)) if !addrs.is_empty() => return Outcome::Write,
        _ => return Outcome::Connect,
    };
    let _ = sock.set_nodelay(true);
    let mut sock = tokio::io::BufReader::new(sock);
    for piece in m.request.chunks(WRITE_CHUNK) {
        if !matches!(
            tokio::time::timeout(t, sock.get_mut().write_all(piece)).await,
            Ok(Ok(()))
        ) {
            return Outcome::Write;
        }
    }
    let expected = usize::from(m.auth) + 1 + m.keys.len();
    let mut lines = Vec::with_capacity(expected);
    while lines.len() < expected {
        let mut line = Vec::new();
        let mut limited = (&mut sock).take(MAX_LINE);
        match tokio::time::timeout(t, limited.read_until(b'\n', &mut line)).await {
            Ok(Ok(n)) if n > 0 && line.ends_with(b"\n") => {
                line.truncate(line.len() - 1);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                lines.push(line);
            }
            _ => return Outcome::Replies(lines),
        }
    }
    Outcome::Replies(lines)
}

/// Applies the outcome: deletes (unless COPY) each key the target acknowledged and that did
/// not change meanwhile, and writes the reply. The caller holds the world lock, as for a
/// command.
pub fn finish(ctx: &mut Ctx, m: &Migration, outcome: Outcome) {
    // Counted as the dispatcher counts a command's error (INFO `total_error_replies`).
    let fail = |ctx: &mut Ctx, e: &str| {
        ctx.srv.stats.error_reply(e);
        ctx.out.error(e);
    };
    let lines = match outcome {
        Outcome::Connect => return fail(ctx, "IOERR error or timeout connecting to the client"),
        Outcome::Write => return fail(ctx, "IOERR error or timeout writing to target instance"),
        Outcome::Replies(lines) => lines,
    };
    let head = usize::from(m.auth) + 1;
    let failed = |l: &[u8]| l.first() == Some(&b'-');
    let (heads, restores) = lines.split_at(head.min(lines.len()));
    // Redis reports the first error: AUTH's, SELECT's, or the first RESTORE's. A RESTORE that
    // ran after a failed AUTH or SELECT did not run as asked.
    let head_failed = heads.iter().find(|l| failed(l));
    let error = head_failed.or_else(|| restores.iter().find(|l| failed(l)));
    let acked: Vec<&(Vec<u8>, std::ops::Range<usize>)> = match head_failed {
        Some(_) => Vec::new(),
        None => m
            .keys
            .iter()
            .zip(restores)
            .filter(|(_, l)| !failed(l))
            .map(|(k, _)| k)
            .collect(),
    };
    if !m.copy && !acked.is_empty() {
        let names: Vec<&[u8]> = acked.iter().map(|(k, _)| k.as_slice()).collect();
        let mut l = ctx.lock(&names);
        for (key, at) in acked {
            let payload = m.request.get(at.clone()).unwrap_or_default();
            // Changed since it was sent: the target has the old value, this server keeps the
            // new one.
            if l.peek(key).is_some_and(|v| dump(v) == payload) {
                super::keys::delete_key(&mut l, key);
            }
        }
    }
    match error {
        Some(e) => {
            let text = String::from_utf8_lossy(e.get(1..).unwrap_or_default());
            fail(
                ctx,
                &format!("ERR Target instance replied with error: {text}"),
            );
        }
        None if restores.len() < m.keys.len() => {
            fail(ctx, "IOERR error or timeout reading to target instance")
        }
        None => ctx.out.ok(),
    }
}
