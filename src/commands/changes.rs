//! The CHANGES family: consuming the change log over RESP (docs/changes.md is the reference).
//!
//! * `CHANGES READ <start> [COUNT n] [BLOCK ms] [filters] [IMAGES ...]` — a page of events from a
//!   start position (`changes::subscribe` documents the positions); with BLOCK, waits for the
//!   first matching event and replies a null array on timeout.
//! * `CHANGES SUBSCRIBE <start> [filters] [IMAGES ...]` / `CHANGES UNSUBSCRIBE` — push delivery
//!   on this connection (`changes::subscribe`: shapes, slow-subscriber policy).
//! * `EPOCH <epoch>` (READ, SUBSCRIBE): the reader resumes a cursor of that history; another
//!   epoch is an error rather than offsets that mean something else.
//! * `CHANGES GROUP CREATE|DESTROY|LIST|READ|SEEK`, `CHANGES GROUPS`, `CHANGES ACK`,
//!   `CHANGES PENDING`, `CHANGES CLAIM` — consumer groups (`changes::groups`).
//! * `CHANGES SNAPSHOT [filters]` — the matching keys' values as of offset N, for
//!   snapshot-then-tail with `CHANGES READ (N` (see [`changes_snapshot`]).
//! * `CHANGES INFO` — epoch and offsets.
//!
//! Filters are `changes::filter`'s `MATCH`, `EVENTS`, `TYPE`, `DB`. None of these commands changes
//! the keyspace itself, except that a claim past MAXDELIVERIES pushes the dead letter to its key
//! through the ordinary `RPUSH` handler (so it is recorded in the log like any write).

use std::sync::Arc;

use super::args::{count, int, is, Cursor};
use super::{cmd, container, flag::*, CommandSpec, Ctx};
use crate::changes::filter::{Filter, Image, Images};
use crate::changes::log::{EventRef, ReadError};
use crate::changes::{groups, subscribe, ChangeEvent};
use crate::error::{self, CmdError, CmdResult, SYNTAX};
use crate::keyspace::blocking::Waiter;
use crate::keyspace::value::{Collection, Value};
use crate::protocol::resp::{Args, Out};
use crate::server::session::{Action, Blocked};
use crate::server::Server;

const CH: &[&str] = &["changes"];

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "changes",
    arity: -2,
    flags: 0,
    keys: (0, 0, 0),
    acl: &["slow"],
    group: "changes",
    summary: "A container for change log commands.",
    syntax: "",
    since: "0.1.0",
    complexity: "Depends on subcommand.",
    handler: container,
    subcommands: &[
        cmd!(
            "read",
            -3,
            READONLY | LOADING | STALE | BLOCKING,
            (0, 0, 0),
            CH,
            "changes",
            changes_read,
            "Reads change events from a position in the change log, optionally waiting for them.",
            "start [COUNT count] [BLOCK milliseconds] [MATCH pattern] [EVENTS events] \
             [TYPE type] [DB db] [IMAGES view] [EPOCH epoch]",
            "0.1.0",
            "O(N) where N is the number of records examined"
        ),
        cmd!(
            "info",
            2,
            READONLY | LOADING | STALE | FAST,
            (0, 0, 0),
            CH,
            "changes",
            changes_info,
            "Returns the change log's epoch and offsets.",
            "",
            "0.1.0",
            "O(1)"
        ),
        cmd!(
            "subscribe",
            -3,
            READONLY | STALE | NOSCRIPT,
            (0, 0, 0),
            CH,
            "changes",
            changes_subscribe,
            "Pushes change events to this connection from a position in the change log.",
            "start [MATCH pattern] [EVENTS events] [TYPE type] [DB db] [IMAGES view] \
             [EPOCH epoch]",
            "0.1.0",
            "O(1) per event delivered"
        ),
        cmd!(
            "unsubscribe",
            2,
            READONLY | STALE | FAST | NOSCRIPT,
            (0, 0, 0),
            CH,
            "changes",
            changes_unsubscribe,
            "Stops this connection's change subscription.",
            "",
            "0.1.0",
            "O(1)"
        ),
        cmd!(
            "group",
            -3,
            READONLY | STALE | BLOCKING,
            (0, 0, 0),
            CH,
            "changes",
            changes_group,
            "Creates, destroys, lists, moves or reads as a member of a change feed consumer group.",
            "operation [argument [argument ...]]",
            "0.1.0",
            "Depends on the operation"
        ),
        cmd!(
            "groups",
            2,
            READONLY | STALE,
            (0, 0, 0),
            CH,
            "changes",
            changes_groups,
            "Lists the change feed consumer groups.",
            "",
            "0.1.0",
            "O(N) where N is the number of groups"
        ),
        cmd!(
            "ack",
            -4,
            READONLY | STALE | FAST,
            (0, 0, 0),
            CH,
            "changes",
            changes_ack,
            "Acknowledges events delivered to a consumer group.",
            "group offset [offset ...]",
            "0.1.0",
            "O(log N) per offset"
        ),
        cmd!(
            "pending",
            -3,
            READONLY | STALE,
            (0, 0, 0),
            CH,
            "changes",
            changes_pending,
            "Lists a consumer group's delivered but unacknowledged events.",
            "group [IDLE min-idle-time] [COUNT count] [consumer]",
            "0.1.0",
            "O(N) where N is the number of pending entries"
        ),
        cmd!(
            "claim",
            -6,
            READONLY | STALE,
            (0, 0, 0),
            CH,
            "changes",
            changes_claim,
            "Re-delivers idle pending events of a consumer group to another consumer.",
            "group consumer min-idle-time offset [offset ...]",
            "0.1.0",
            "O(log N) per offset"
        ),
        cmd!(
            "snapshot",
            -2,
            READONLY | EXCLUSIVE,
            (0, 0, 0),
            CH,
            "changes",
            changes_snapshot,
            "Returns the values of the matching keys and the log offset they are current at.",
            "[MATCH pattern] [TYPE type] [DB db]",
            "0.1.0",
            "O(N) where N is the number of keys in the keyspace"
        ),
    ],
}];

/// Largest COUNT a single read returns.
const MAX_COUNT: usize = 10_000;
/// Default COUNT.
const DEFAULT_COUNT: usize = 100;
/// Most keys and value bytes one CHANGES SNAPSHOT returns.
const SNAPSHOT_MAX_KEYS: usize = 100_000;
const SNAPSHOT_MAX_BYTES: usize = 256 << 20;

fn trimmed(from: u64, e: ReadError) -> CmdError {
    match e {
        ReadError::Trimmed { earliest } => error::changes_trimmed(from, earliest),
    }
}

/// Options shared by READ, SUBSCRIBE and GROUP READ.
struct ReadOpts {
    count: usize,
    /// None: don't block; Some(0): block forever.
    block_ms: Option<u64>,
    filter: Filter,
    images: Images,
}

/// Parses options from `c`. `allow_filter` / `allow_block` say which apply to the command.
fn read_opts(
    ctx: &Ctx,
    c: &mut Cursor,
    allow_filter: bool,
    allow_block: bool,
) -> CmdResult<ReadOpts> {
    let mut o = ReadOpts {
        count: DEFAULT_COUNT,
        block_ms: None,
        filter: Filter::default(),
        images: Images::Keys,
    };
    let ndbs = ctx.srv.keyspace.ndbs();
    while let Some(opt) = c.next_arg() {
        if allow_block && is(opt, "COUNT") {
            let n = count(c.value()?)?;
            o.count = if n == 0 { MAX_COUNT } else { n.min(MAX_COUNT) };
        } else if allow_block && is(opt, "BLOCK") {
            o.block_ms = Some(block_ms(c.value()?)?);
        } else if is(opt, "IMAGES") {
            o.images = Images::parse(c.value()?)?;
        } else if is(opt, "EPOCH") {
            // A cursor from a reader that resumes: it means nothing in another history.
            let e = c.value()?;
            let cur = ctx.srv.log.epoch();
            if e != cur.as_bytes() {
                return Err(error::changes_epoch(&cur, e));
            }
        } else if !(allow_filter && o.filter.parse_option(opt, c, ndbs)?) {
            return Err(SYNTAX.into());
        }
    }
    Ok(o)
}

/// A BLOCK timeout in ms, with XREAD's errors.
fn block_ms(a: &[u8]) -> CmdResult<u64> {
    let n = int(a).map_err(|_| CmdError::from(error::CHANGES_TIMEOUT_NOT_INT))?;
    if n < 0 {
        return Err(error::TIMEOUT_NEG.into());
    }
    Ok(n as u64)
}

pub(super) fn deadline(ms: u64) -> Option<tokio::time::Instant> {
    (ms > 0).then(|| tokio::time::Instant::now() + std::time::Duration::from_millis(ms))
}

/// The server's `Arc` and a runtime to run background work on; an error for in-process
/// sessions that have neither.
pub(super) fn background(ctx: &Ctx) -> CmdResult<Arc<Server>> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err("ERR this command needs a network connection".into());
    }
    ctx.srv.me().ok_or(CmdError::from(
        "ERR this command needs a network connection",
    ))
}

/// Parks the connection until `rx` delivers the reply (the connection loop's blocking path;
/// the sending task owns the timeout, so the loop waits without a deadline of its own).
/// Blocks the connection on a keyless waiter that a background task (which it returns, to be
/// handed to the task) serves; registered like a key wait, so INFO counts it and CLIENT UNBLOCK
/// ends it with Redis's replies.
pub(super) fn block_on(ctx: &mut Ctx) -> Arc<Waiter> {
    let (waiter, rx) = Waiter::new(
        ctx.sess.id,
        ctx.sess.db,
        Vec::new(),
        crate::keyspace::blocking::Op::Pop { left: true },
        ctx.sess.resp3,
        Default::default(),
    );
    ctx.srv.keyspace.blocked.insert(waiter.clone());
    ctx.sess.action = Some(Action::Block(Blocked {
        waiter: waiter.clone(),
        rx,
        deadline: None,
        slow: None,
    }));
    waiter
}

fn changes_read(ctx: &mut Ctx, a: Args) -> CmdResult {
    let log = &ctx.srv.log;
    // Options first: a cursor from another history gets the EPOCH error, not an offset error.
    let o = read_opts(ctx, &mut Cursor::new(a, 3), true, true)?;
    let from = subscribe::parse_start(log, a.get(2))?;
    let found = subscribe::scan(log, from, &o.filter, o.count).map_err(|e| trimmed(from, e))?;
    if found.events.is_empty() {
        if let Some(ms) = o.block_ms {
            let srv = background(ctx)?;
            let w = block_on(ctx);
            subscribe::spawn_blocking_read(
                srv,
                found.next,
                o.filter,
                o.count,
                events_reply(ctx.sess.resp3, o.images),
                ctx.sess.resp3,
                deadline(ms),
                w,
            );
            return Ok(());
        }
    }
    write_events(ctx.out, &found.events, o.images);
    Ok(())
}

/// The reply encoder of a blocked CHANGES READ / GROUP READ: an array of event maps.
fn events_reply(resp3: bool, images: Images) -> subscribe::EncodeEvents {
    Box::new(move |evs| subscribe::encode_events(resp3, evs, images))
}

pub fn write_events(out: &mut Out, evs: &[ChangeEvent], images: Images) {
    out.array(evs.len());
    let mut w = EventWriter::default();
    for ev in evs {
        w.write(out, &ev.as_ref(), images);
    }
}

/// Writes events one after another for one reader. A tailing reader's events carry timestamps
/// that change once per millisecond, so the text of the last one is kept and reused: formatting
/// it was the largest single cost of a pushed event after its arguments.
#[derive(Default)]
pub struct EventWriter {
    /// `$2\r\nts\r\n:<ts>\r\n` for `ts`, `ts_len` bytes of it (0: none yet).
    ts_field: [u8; 32],
    ts_len: usize,
    ts: u64,
}

impl EventWriter {
    /// Writes one event as a map (a flat field/value array in RESP2), with `old` / `new`
    /// fields when the reader asked for images and they are known (see
    /// `Images::old_image`/`new_image`).
    pub fn write(&mut self, out: &mut Out, ev: &EventRef<'_>, images: Images) {
        // A tailing subscriber encodes every event the writers commit, so what is constant is
        // written pre-encoded: field names, and the enum-valued fields with their names.
        let old = images.old_image(ev);
        let new = images.new_image(ev);
        let fixed = fixed_fields();
        out.map(12 + usize::from(old.is_some()) + usize::from(new.is_some()));
        out.raw(b"$6\r\noffset\r\n");
        out.int(ev.offset as i64);
        self.write_ts(out, ev.ts);
        out.raw(b"$2\r\ndb\r\n");
        out.int(ev.db as i64);
        out.raw(b"$3\r\nkey\r\n");
        out.bulk(ev.key);
        out.raw(&fixed.vtype[ev.vtype as usize]);
        out.raw(b"$5\r\nevent\r\n");
        out.bulk_str(ev.event);
        out.raw(&fixed.change_origin[ev.change as usize][ev.origin as usize]);
        out.int(ev.client_id as i64);
        if ev.tx_id == 0 && ev.tx_n == 0 {
            out.raw(b"$2\r\ntx\r\n:0\r\n$4\r\ntx-n\r\n:0\r\n");
        } else {
            out.raw(b"$2\r\ntx\r\n");
            out.int(ev.tx_id as i64);
            out.raw(b"$4\r\ntx-n\r\n");
            out.int(ev.tx_n as i64);
        }
        out.raw(b"$4\r\nargs\r\n");
        out.array(ev.args.len());
        for x in ev.args.iter() {
            out.bulk(x);
        }
        if let Some(v) = old {
            out.raw(b"$3\r\nold\r\n");
            write_image(out, v);
        }
        if let Some(v) = new {
            out.raw(b"$3\r\nnew\r\n");
            write_image(out, v);
        }
    }

    fn write_ts(&mut self, out: &mut Out, ts: u64) {
        let at = out.buf.len();
        if self.ts_len == 0 || ts != self.ts {
            out.raw(b"$2\r\nts\r\n");
            out.int(ts as i64);
            let field = &out.buf[at..];
            self.ts_len = field.len().min(self.ts_field.len());
            self.ts_field[..self.ts_len].copy_from_slice(&field[..self.ts_len]);
            self.ts = ts;
        } else {
            // The whole block, then cut: a copy of known size is a few stores.
            out.raw(&self.ts_field);
            out.buf.truncate(at + self.ts_len);
        }
    }
}

/// The enum-valued fields of an event, encoded once: `type` with its value, and `change`,
/// `origin` with their values followed by the `client` field's name. The encoding is the same
/// in RESP2 and RESP3 (bulk strings).
struct FixedFields {
    vtype: Vec<Vec<u8>>,
    change_origin: Vec<Vec<Vec<u8>>>,
}

/// Every value of an enum whose `from_u8` maps unknown bytes to a fallback: its discriminants
/// run from 0 to the last byte that maps back to itself, so a table indexed by `v as usize`
/// covers the enum without naming its size.
fn all_values<T: Copy>(from_u8: fn(u8) -> T, to_u8: fn(T) -> u8) -> impl Iterator<Item = T> {
    (0..=u8::MAX).map_while(move |i| Some(from_u8(i)).filter(|&v| to_u8(v) == i))
}

fn fixed_fields() -> &'static FixedFields {
    use crate::changes::{ChangeKind, Origin};
    use crate::keyspace::value::ValueType;
    static FIXED: std::sync::OnceLock<FixedFields> = std::sync::OnceLock::new();
    FIXED.get_or_init(|| {
        let encoded = |pairs: &[(&str, &str)], tail: &str| {
            let mut o = Out::new(false);
            for (k, v) in pairs {
                o.bulk_str(k);
                o.bulk_str(v);
            }
            if !tail.is_empty() {
                o.bulk_str(tail);
            }
            o.buf
        };
        let vtype = all_values(ValueType::from_u8, |v| v as u8)
            .map(|t| encoded(&[("type", t.name())], ""))
            .collect();
        let change_origin = all_values(ChangeKind::from_u8, |c| c as u8)
            .map(|c| {
                all_values(Origin::from_u8, |g| g as u8)
                    .map(|g| encoded(&[("change", c.name()), ("origin", g.name())], "client"))
                    .collect()
            })
            .collect();
        FixedFields {
            vtype,
            change_origin,
        }
    })
}

/// A string image is its value; a hash image is a map of its fields; other types are their
/// RDB value encoding (type byte + body, as DUMP without its trailer).
fn write_image(out: &mut Out, img: Image) {
    let enc = match img {
        Image::Raw(v) => return out.bulk(v),
        Image::Encoded(e) => e,
    };
    match ChangeEvent::image_value(enc) {
        Some(Value::Str(s, _)) => out.bulk(&s),
        Some(Value::Hash(h, _)) => {
            out.map(h.len());
            for (f, v) in h.iter() {
                out.bulk(f);
                out.bulk(v);
            }
        }
        _ => out.bulk(enc),
    }
}

fn changes_info(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let log = &ctx.srv.log;
    ctx.out.map(4);
    ctx.out.bulk(b"epoch");
    ctx.out.bulk(log.epoch().as_bytes());
    ctx.out.bulk(b"first-offset");
    ctx.out.int(log.first_offset() as i64);
    // The end a reader can be served (`changes::log`), so it can be used as a cursor.
    ctx.out.bulk(b"last-offset");
    ctx.out.int(log.readable() as i64);
    ctx.out.bulk(b"memory-bytes");
    ctx.out.int(log.memory_bytes() as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Subscriptions

fn changes_subscribe(ctx: &mut Ctx, a: Args) -> CmdResult {
    let log = &ctx.srv.log;
    // Options first: a cursor from another history gets the EPOCH error, not an offset error.
    let o = read_opts(ctx, &mut Cursor::new(a, 3), true, false)?;
    let from = subscribe::parse_start(log, a.get(2))?;
    let first = log.first_offset();
    if from < first {
        return Err(error::changes_trimmed(from, first));
    }
    let srv = background(ctx)?;
    if !ctx.sess.pushes {
        return Err("ERR this command needs a network connection".into());
    }
    // A new subscription replaces the old one (dropping it stops its task).
    ctx.sess.feed = None;
    ctx.sess.feed = Some(subscribe::subscribe(
        srv,
        ctx.sess.id,
        from,
        o.filter,
        o.images,
        ctx.sess.resp3,
    ));
    ctx.out.array(3);
    ctx.out.bulk(b"subscribe");
    ctx.out.bulk(subscribe::CHANNEL);
    ctx.out.int(from as i64);
    Ok(())
}

fn changes_unsubscribe(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let had = ctx.sess.feed.take().is_some();
    ctx.out.int(had as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Consumer groups

fn changes_group(ctx: &mut Ctx, a: Args) -> CmdResult {
    let op = a.get(2);
    let log = &ctx.srv.log;
    if is(op, "CREATE") {
        if a.len() < 5 {
            return Err(error::wrong_arity("changes|group|create"));
        }
        let name = a.get(3);
        let from = subscribe::parse_start(log, a.get(4))?;
        let mut filter = Filter::default();
        let mut max = 0u32;
        let mut dead = None;
        let mut c = Cursor::new(a, 5);
        let ndbs = ctx.srv.keyspace.ndbs();
        while let Some(opt) = c.next_arg() {
            if is(opt, "MAXDELIVERIES") {
                let n = int(c.value()?)?;
                if n <= 0 || n > u32::MAX as i64 {
                    return Err(error::CHANGES_MAXDELIVERIES.into());
                }
                max = n as u32;
            } else if is(opt, "DEADLETTER") {
                dead = Some((ctx.sess.db as u32, c.value()?.to_vec()));
            } else if !filter.parse_option(opt, &mut c, ndbs)? {
                return Err(SYNTAX.into());
            }
        }
        groups::create(log, name, from, filter, max, dead)?;
        ctx.out.ok();
    } else if is(op, "DESTROY") {
        if a.len() != 4 {
            return Err(error::wrong_arity("changes|group|destroy"));
        }
        ctx.out
            .int(groups::destroy(&ctx.srv.log.groups, a.get(3)) as i64);
    } else if is(op, "LIST") {
        if a.len() != 3 {
            return Err(error::wrong_arity("changes|group|list"));
        }
        groups::list(log, ctx.out);
    } else if is(op, "SEEK") {
        if a.len() != 5 {
            return Err(error::wrong_arity("changes|group|seek"));
        }
        let from = subscribe::parse_start(log, a.get(4))?;
        groups::seek(log, a.get(3), from)?;
        ctx.out.ok();
    } else if is(op, "READ") {
        if a.len() < 5 {
            return Err(error::wrong_arity("changes|group|read"));
        }
        let (group, consumer) = (a.get(3), a.get(4));
        let o = read_opts(ctx, &mut Cursor::new(a, 5), false, true)?;
        let evs = groups::read(log, group, consumer, o.count, ctx.now)?;
        if evs.is_empty() {
            if let Some(ms) = o.block_ms {
                let srv = background(ctx)?;
                let w = block_on(ctx);
                if let Err(e) = groups::spawn_blocking_read(
                    srv,
                    group.to_vec(),
                    consumer.to_vec(),
                    o.count,
                    events_reply(ctx.sess.resp3, o.images),
                    ctx.sess.resp3,
                    deadline(ms),
                    w,
                ) {
                    ctx.sess.action = None;
                    ctx.srv.keyspace.blocked.remove(ctx.sess.id);
                    return Err(e);
                }
                return Ok(());
            }
        }
        write_events(ctx.out, &evs, o.images);
    } else {
        return Err(error::unknown_subcommand(op, "changes|group"));
    }
    Ok(())
}

fn changes_groups(ctx: &mut Ctx, _a: Args) -> CmdResult {
    groups::list(&ctx.srv.log, ctx.out);
    Ok(())
}

fn offset_arg(a: &[u8]) -> CmdResult<u64> {
    std::str::from_utf8(a)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&n| n > 0)
        .ok_or(CmdError::from(error::CHANGES_INVALID_OFFSET))
}

fn offsets(a: &Args, from: usize) -> CmdResult<Vec<u64>> {
    a.iter().skip(from).map(offset_arg).collect()
}

fn changes_ack(ctx: &mut Ctx, a: Args) -> CmdResult {
    let offs = offsets(&a, 3)?;
    let n = groups::ack(&ctx.srv.log.groups, a.get(2), &offs)?;
    ctx.out.int(n as i64);
    Ok(())
}

fn changes_pending(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut min_idle = 0u64;
    let mut n = MAX_COUNT;
    let mut consumer = None;
    let mut c = Cursor::new(a, 3);
    while let Some(opt) = c.next_arg() {
        if is(opt, "IDLE") {
            min_idle = count(c.value()?)? as u64;
        } else if is(opt, "COUNT") {
            n = count(c.value()?)?.min(MAX_COUNT);
        } else if consumer.is_none() {
            consumer = Some(opt);
        } else {
            return Err(SYNTAX.into());
        }
    }
    let rows = groups::pending(
        &ctx.srv.log.groups,
        a.get(2),
        0..=u64::MAX,
        min_idle,
        consumer,
        n,
        ctx.now,
    )?;
    ctx.out.array(rows.len());
    for (off, cons, idle, deliveries) in rows {
        ctx.out.array(4);
        ctx.out.int(off as i64);
        ctx.out.bulk(&cons);
        ctx.out.int(idle as i64);
        ctx.out.int(deliveries as i64);
    }
    Ok(())
}

fn changes_claim(ctx: &mut Ctx, a: Args) -> CmdResult {
    let min_idle = count(a.get(4))? as u64;
    let offs = offsets(&a, 5)?;
    let epoch = ctx.srv.log.epoch();
    let claimed = groups::claim(
        &ctx.srv.log,
        &epoch,
        a.get(2),
        a.get(3),
        min_idle,
        &offs,
        ctx.now,
    )?;
    for d in &claimed.dead {
        write_dead_letter(ctx, d);
    }
    write_events(ctx.out, &claimed.events, Images::Keys);
    Ok(())
}

/// Pushes a dead letter onto its list through the ordinary RPUSH handler, recorded like any
/// client write (and serving clients blocked on the key). Until the list type exists, each
/// dead letter is a string key `<key>:<offset>` instead.
pub(super) fn write_dead_letter(ctx: &mut Ctx, d: &groups::DeadLetter) {
    let t = super::table();
    let (args, id): (Vec<Vec<u8>>, _) = match t.lookup(b"rpush") {
        Some(id) => (vec![b"RPUSH".to_vec(), d.key.clone(), d.json.clone()], id),
        None => {
            let mut k = d.key.clone();
            k.push(b':');
            k.extend_from_slice(d.offset.to_string().as_bytes());
            let Some(id) = t.lookup(b"set") else {
                return;
            };
            (vec![b"SET".to_vec(), k, d.json.clone()], id)
        }
    };
    let mut base = Vec::new();
    let mut ranges = Vec::with_capacity(args.len());
    for x in &args {
        let s = base.len();
        base.extend_from_slice(x);
        ranges.push((s, base.len()));
    }
    let argv = Args::new(&base, &ranges);
    let saved_db = ctx.sess.db;
    ctx.sess.db = (d.db as usize).min(ctx.srv.keyspace.ndbs().saturating_sub(1));
    let mut sink = Out::new(ctx.sess.resp3);
    let mut sub = Ctx {
        srv: ctx.srv,
        sess: ctx.sess,
        out: &mut sink,
        now: ctx.now,
    };
    if let Err(e) = (t.specs[id].handler)(&mut sub, argv) {
        tracing::warn!(offset = d.offset, error = %e.as_str(), "writing a dead letter failed");
    }
    ctx.sess.db = saved_db;
}

// ---------------------------------------------------------------------------------------------
// Snapshot

/// One key of a snapshot: (db, key, type name, value, pttl).
type SnapRow = (u32, Vec<u8>, &'static str, Vec<u8>, i64);

/// `CHANGES SNAPSHOT [MATCH p] [TYPE t] [DB n]` → `[N, [[db, key, type, value, pttl], ...]]`.
///
/// Runs with the world lock held exclusively (the EXCLUSIVE flag), so no command is between
/// applying and recording: the values are exactly the state after offset N, and
/// `CHANGES READ (N` (or SUBSCRIBE) continues with no gap and no duplicate. Strings are their
/// value; other types are their DUMP payload (RESTORE-able). `pttl` is -1 without a TTL. Keys
/// already past their TTL are left out (their `expired` event follows in the tail). `EVENTS` is
/// accepted and ignored, so the same filter can be passed to the tail. The walk is O(keys) under
/// the exclusive lock; the reply is bounded (an error asks for a narrower filter).
fn changes_snapshot(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut filter = Filter::default();
    let mut c = Cursor::new(a, 2);
    let ks = &ctx.srv.keyspace;
    while let Some(opt) = c.next_arg() {
        if !filter.parse_option(opt, &mut c, ks.ndbs())? {
            return Err(SYNTAX.into());
        }
    }
    // Inside EXEC the values include the transaction's changes so far (`keyspace::txn`).
    let n = crate::keyspace::txn::applied_offset(&ctx.srv.log);
    // The values reflect records up to N: the reply waits until they are readable, or a crash
    // could take N back and a reader resuming after it would skip its new records.
    crate::changes::log::expose(n);
    let now = ctx.now;
    let mut rows: Vec<SnapRow> = Vec::new();
    let mut bytes = 0usize;
    for i in 0..ks.nshards() {
        ks.with_shard(i, |sh| -> CmdResult {
            for (db, d) in sh.dbs.iter().enumerate() {
                if filter.db.is_some_and(|f| f as usize != db) {
                    continue;
                }
                for (k, v) in d.keys.iter() {
                    let exp = if d.expires.is_empty() {
                        None
                    } else {
                        d.expires.get(k).copied()
                    };
                    if exp.is_some_and(|at| at <= now) {
                        continue;
                    }
                    let vt = v.vtype();
                    if !filter.matches_key(db as u32, k, vt) {
                        continue;
                    }
                    let value = match v {
                        Value::Str(s, _) => s.to_vec(),
                        other => crate::keyspace::encoding::dump(other),
                    };
                    bytes += k.len() + value.len();
                    if rows.len() >= SNAPSHOT_MAX_KEYS || bytes > SNAPSHOT_MAX_BYTES {
                        return Err(error::CHANGES_SNAPSHOT_TOO_BIG.into());
                    }
                    let pttl = exp.map(|at| (at - now) as i64).unwrap_or(-1);
                    rows.push((db as u32, k.to_vec(), vt.name(), value, pttl));
                }
            }
            Ok(())
        })?;
    }
    let out = &mut *ctx.out;
    out.array(2);
    out.int(n as i64);
    out.array(rows.len());
    for (db, k, t, v, pttl) in &rows {
        out.array(5);
        out.int(*db as i64);
        out.bulk(k);
        out.bulk_str(t);
        out.bulk(v);
        out.int(*pttl);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::{ChangeKind, Origin};
    use crate::keyspace::value::ValueType;

    /// The event as written field by field, without pre-encoded parts.
    fn reference(resp3: bool, ev: &ChangeEvent) -> Vec<u8> {
        let mut o = Out::new(resp3);
        o.map(12);
        let ints = [("offset", ev.offset), ("ts", ev.ts), ("db", ev.db as u64)];
        for (k, v) in ints {
            o.bulk_str(k);
            o.int(v as i64);
        }
        o.bulk_str("key");
        o.bulk(&ev.key);
        for (k, v) in [
            ("type", ev.vtype.name()),
            ("event", ev.event.as_str()),
            ("change", ev.change.name()),
            ("origin", ev.origin.name()),
        ] {
            o.bulk_str(k);
            o.bulk_str(v);
        }
        for (k, v) in [
            ("client", ev.client_id),
            ("tx", ev.tx_id),
            ("tx-n", ev.tx_n as u64),
        ] {
            o.bulk_str(k);
            o.int(v as i64);
        }
        o.bulk_str("args");
        o.bulks(ev.args.iter().map(|a| a.as_slice()));
        o.buf
    }

    #[test]
    fn pre_encoded_fields_match_the_event_written_field_by_field() {
        for (t, c, g, tx) in (0..=6u8).flat_map(|t| {
            (0..=2u8).flat_map(move |c| (0..=4u8).flat_map(move |g| [(t, c, g, 0), (t, c, g, 9)]))
        }) {
            let ev = ChangeEvent {
                offset: 1234567,
                ts: 1_795_898_175_995,
                tx_id: tx,
                tx_n: tx as u32 * 2,
                client_id: 57,
                origin: Origin::from_u8(g),
                change: ChangeKind::from_u8(c),
                vtype: ValueType::from_u8(t),
                db: 3,
                event: "hset".into(),
                key: b"k:1".to_vec(),
                args: vec![
                    b"HSET".to_vec(),
                    b"k:1".to_vec(),
                    b"f".to_vec(),
                    b"v".to_vec(),
                ],
                old: None,
                new: None,
            };
            for resp3 in [false, true] {
                let mut o = Out::new(resp3);
                EventWriter::default().write(&mut o, &ev.as_ref(), Images::Keys);
                assert_eq!(o.buf, reference(resp3, &ev), "{t} {c} {g} {tx} {resp3}");
            }
        }
    }

    #[test]
    fn one_writer_reuses_a_timestamp_only_while_it_repeats() {
        // Repeats, a change, a change back, a shorter and a longer number, zero and the maximum.
        let stamps = [
            1_795_898_175_995u64,
            1_795_898_175_995,
            1_795_898_175_996,
            1_795_898_175_995,
            7,
            7,
            0,
            u64::MAX,
            u64::MAX,
            12,
        ];
        for resp3 in [false, true] {
            let (mut one, mut expected) = (Out::new(resp3), Vec::new());
            let mut w = EventWriter::default();
            for (i, &ts) in stamps.iter().enumerate() {
                let ev = ChangeEvent {
                    offset: 99 + i as u64,
                    ts,
                    tx_id: 0,
                    tx_n: 0,
                    client_id: 4,
                    origin: Origin::Client,
                    change: ChangeKind::Insert,
                    vtype: ValueType::String,
                    db: 0,
                    event: "set".into(),
                    key: format!("k{i}").into_bytes(),
                    args: vec![b"SET".to_vec(), format!("k{i}").into_bytes(), b"v".to_vec()],
                    old: None,
                    new: None,
                };
                w.write(&mut one, &ev.as_ref(), Images::Keys);
                expected.extend_from_slice(&reference(resp3, &ev));
            }
            assert_eq!(
                String::from_utf8_lossy(&one.buf),
                String::from_utf8_lossy(&expected),
                "resp3 {resp3}"
            );
        }
    }
}
