//! The CHANGES family: reading the change log over RESP.
//!
//! This is the first, minimal reader (`CHANGES READ`, `CHANGES INFO`); the durable log adds
//! blocking reads, subscriptions, filters and consumer groups on the same event shape.

use super::args::{count, is, Cursor};
use super::{cmd, container, flag::*, CommandSpec, Ctx};
use crate::changes::log::ReadError;
use crate::changes::ChangeEvent;
use crate::error::{CmdError, CmdResult, SYNTAX};
use crate::protocol::resp::{Args, Out};

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
            READONLY | LOADING | STALE,
            (0, 0, 0),
            CH,
            "changes",
            changes_read,
            "Reads change events from a position in the change log.",
            "start [COUNT count]",
            "0.1.0",
            "O(N) where N is the number of events returned"
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
    ],
}];

/// Largest COUNT a single read returns.
const MAX_COUNT: usize = 10_000;

fn changes_read(ctx: &mut Ctx, a: Args) -> CmdResult {
    let log = &ctx.srv.log;
    let start = a.get(2);
    let from = if is(start, "earliest") {
        log.first_offset()
    } else if is(start, "latest") {
        log.last_offset() + 1
    } else {
        std::str::from_utf8(start)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or(CmdError::from(
                "ERR invalid start position: use earliest, latest or an offset",
            ))?
    };
    let mut n = 100;
    let mut c = Cursor::new(a, 3);
    while let Some(opt) = c.next_arg() {
        if is(opt, "COUNT") {
            n = count(c.value()?)?.min(MAX_COUNT);
        } else {
            return Err(SYNTAX.into());
        }
    }
    let evs = log.read(from, n).map_err(|e| match e {
        ReadError::Trimmed { earliest } => CmdError::owned(format!(
            "ERR TRIMMED the change log no longer holds offset {from}; the earliest available offset is {earliest}"
        )),
    })?;
    ctx.out.array(evs.len());
    for ev in &evs {
        write_event(ctx.out, ev);
    }
    Ok(())
}

/// Writes one event as a map (a flat field/value array in RESP2).
pub fn write_event(out: &mut Out, ev: &ChangeEvent) {
    out.map(12);
    out.bulk(b"offset");
    out.int(ev.offset as i64);
    out.bulk(b"ts");
    out.int(ev.ts as i64);
    out.bulk(b"db");
    out.int(ev.db as i64);
    out.bulk(b"key");
    out.bulk(&ev.key);
    out.bulk(b"type");
    out.bulk_str(ev.vtype.name());
    out.bulk(b"event");
    out.bulk_str(&ev.event);
    out.bulk(b"change");
    out.bulk_str(ev.change.name());
    out.bulk(b"origin");
    out.bulk_str(ev.origin.name());
    out.bulk(b"client");
    out.int(ev.client_id as i64);
    out.bulk(b"tx");
    out.int(ev.tx_id as i64);
    out.bulk(b"tx-n");
    out.int(ev.tx_n as i64);
    out.bulk(b"args");
    out.array(ev.args.len());
    for x in &ev.args {
        out.bulk(x);
    }
}

fn changes_info(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let log = &ctx.srv.log;
    ctx.out.map(4);
    ctx.out.bulk(b"epoch");
    ctx.out.bulk(log.epoch().as_bytes());
    ctx.out.bulk(b"first-offset");
    ctx.out.int(log.first_offset() as i64);
    ctx.out.bulk(b"last-offset");
    ctx.out.int(log.last_offset() as i64);
    ctx.out.bulk(b"memory-bytes");
    ctx.out.int(log.memory_bytes() as i64);
    Ok(())
}
