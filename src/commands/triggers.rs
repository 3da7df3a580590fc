//! The TRIGGER family: managing triggers (`triggers` has the model, docs/triggers.md the
//! reference).
//!
//! * `TRIGGER CREATE name target [options]` — `triggers::spec` lists the options and defaults;
//!   `START latest|earliest|<offset>` says where a new trigger begins (default `latest`).
//! * `TRIGGER LIST`, `TRIGGER INFO name` — definitions, positions, lag and counters.
//! * `TRIGGER DROP name`, `TRIGGER PAUSE name`, `TRIGGER RESUME name`.
//! * `TRIGGER REDRIVE name [COUNT n]` — sends up to n (default 1000, and about 64 MiB) of the
//!   trigger's entries in its dead-letter stream again, in the background; replies how many
//!   were taken.
//!
//! These commands don't change the keyspace themselves (dead letters and redrives are written
//! by the trigger through the ordinary command path), and they are `admin`: a trigger makes the
//! server send data to any URL.

use super::args::{count, is, Cursor};
use super::changes::background;
use super::{cmd, container, flag::*, CommandSpec, Ctx};
use crate::changes::subscribe;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::stream::{unpack, StreamId};
use crate::keyspace::value::Value;
use crate::protocol::resp::Args;
use crate::triggers::{self, payload::Rec, Spec};

const TR: &[&str] = &["triggers"];
/// Default and largest REDRIVE COUNT.
const REDRIVE_DEFAULT: usize = 1000;
const REDRIVE_MAX: usize = 100_000;
/// One REDRIVE takes at most about this many bytes of entries (the rest waits for the next).
const REDRIVE_MAX_BYTES: usize = 64 << 20;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "trigger",
    arity: -2,
    flags: 0,
    keys: (0, 0, 0),
    acl: &["slow"],
    group: "triggers",
    summary: "A container for trigger commands.",
    syntax: "",
    since: "0.1.0",
    complexity: "Depends on subcommand.",
    handler: container,
    subcommands: &[
        cmd!(
            "create",
            -4,
            ADMIN | STALE,
            (0, 0, 0),
            TR,
            "triggers",
            trigger_create,
            "Creates a trigger that delivers matching changes to a function.",
            "name target [MATCH pattern] [EVENTS events] [TYPE type] [DB db] [IMAGES view] \
             [BATCHSIZE count] [WINDOW milliseconds] [RETRIES count] \
             [BACKOFF base-milliseconds max-milliseconds] [MAXAGE milliseconds] \
             [BISECT yes|no] [PARALLELISM count] [FORMAT cloudevents|dynamodb] \
             [DEADLETTER key] [DEADLETTERDB db] [SECRET secret] [TIMEOUT milliseconds] \
             [START start]",
            "0.1.0",
            "O(1)"
        ),
        cmd!(
            "list",
            2,
            ADMIN | STALE | LOADING,
            (0, 0, 0),
            TR,
            "triggers",
            trigger_list,
            "Lists the triggers with their positions and counters.",
            "",
            "0.1.0",
            "O(N) where N is the number of triggers"
        ),
        cmd!(
            "info",
            3,
            ADMIN | STALE | LOADING,
            (0, 0, 0),
            TR,
            "triggers",
            trigger_info,
            "Returns a trigger's definition, position and counters.",
            "name",
            "0.1.0",
            "O(1)"
        ),
        cmd!(
            "drop",
            3,
            ADMIN | STALE,
            (0, 0, 0),
            TR,
            "triggers",
            trigger_drop,
            "Deletes a trigger.",
            "name",
            "0.1.0",
            "O(1)"
        ),
        cmd!(
            "pause",
            3,
            ADMIN | STALE,
            (0, 0, 0),
            TR,
            "triggers",
            trigger_pause,
            "Stops a trigger's deliveries; its position is kept.",
            "name",
            "0.1.0",
            "O(1)"
        ),
        cmd!(
            "resume",
            3,
            ADMIN | STALE,
            (0, 0, 0),
            TR,
            "triggers",
            trigger_resume,
            "Resumes a paused trigger's deliveries from its position.",
            "name",
            "0.1.0",
            "O(1)"
        ),
        cmd!(
            "redrive",
            -3,
            ADMIN | STALE,
            (0, 0, 0),
            TR,
            "triggers",
            trigger_redrive,
            "Delivers a trigger's dead-letter entries again.",
            "name [COUNT count]",
            "0.1.0",
            "O(N) where N is the number of dead-letter entries examined"
        ),
    ],
}];

fn trigger_create(ctx: &mut Ctx, a: Args) -> CmdResult {
    let name = a.get(2);
    let ndbs = ctx.srv.keyspace.ndbs();
    let (spec, start) = Spec::parse(&mut Cursor::new(a, 3), ndbs, ctx.sess.db as u32)?;
    let from = match start {
        Some(s) => subscribe::parse_start(&ctx.srv.log, s)?,
        None => subscribe::parse_start(&ctx.srv.log, b"latest")?,
    };
    let srv = background(ctx)?;
    triggers::create(ctx.srv, Some(&srv), name, spec, from)?;
    ctx.out.ok();
    Ok(())
}

fn trigger_list(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let all = ctx.srv.triggers.all();
    ctx.out.array(all.len());
    for t in all {
        triggers::write_info(ctx.srv, &t, ctx.out);
    }
    Ok(())
}

fn trigger_info(ctx: &mut Ctx, a: Args) -> CmdResult {
    let t = ctx.srv.triggers.get(a.get(2))?;
    triggers::write_info(ctx.srv, &t, ctx.out);
    Ok(())
}

fn trigger_drop(ctx: &mut Ctx, a: Args) -> CmdResult {
    let dropped = triggers::drop_trigger(ctx.srv, a.get(2));
    ctx.out.int(dropped as i64);
    Ok(())
}

fn trigger_pause(ctx: &mut Ctx, a: Args) -> CmdResult {
    triggers::set_paused(ctx.srv, a.get(2), true)?;
    ctx.out.ok();
    Ok(())
}

fn trigger_resume(ctx: &mut Ctx, a: Args) -> CmdResult {
    triggers::set_paused(ctx.srv, a.get(2), false)?;
    ctx.out.ok();
    Ok(())
}

fn trigger_redrive(ctx: &mut Ctx, a: Args) -> CmdResult {
    let t = ctx.srv.triggers.get(a.get(2))?;
    let mut n = REDRIVE_DEFAULT;
    let mut c = Cursor::new(a, 3);
    while let Some(opt) = c.next_arg() {
        if is(opt, "COUNT") {
            n = count(c.value()?)?.clamp(1, REDRIVE_MAX);
        } else {
            return Err(error::SYNTAX.into());
        }
    }
    let (db, key) = t
        .spec
        .dead_letter
        .clone()
        .ok_or(CmdError::from(error::TRIGGER_NO_DEADLETTER))?;
    let srv = background(ctx)?;
    let mut entries = Vec::new();
    {
        let mut l = ctx
            .srv
            .keyspace
            .lock(&ctx.srv.log, ctx.who(), db as usize, ctx.now, &[&key]);
        match l.peek(&key) {
            None => {}
            Some(Value::Stream(s, _)) => {
                let mut bytes = 0;
                for (id, packed) in s.range(StreamId::MIN, StreamId::MAX, false) {
                    if entries.len() >= n || bytes >= REDRIVE_MAX_BYTES {
                        break;
                    }
                    if let Some(r) = dead_letter_of(&t.name, packed) {
                        bytes += packed.len();
                        entries.push((id.to_bytes(), r));
                    }
                }
            }
            Some(_) => return Err(error::TRIGGER_DEADLETTER_TYPE.into()),
        }
    }
    let n = entries.len();
    if n > 0 && !triggers::dispatch::spawn_redrive(srv, t, entries) {
        return Err(error::TRIGGER_REDRIVING.into());
    }
    ctx.out.int(n as i64);
    Ok(())
}

/// The record of a dead-letter entry written by trigger `name` (entries of other triggers
/// sharing the key, and entries written by hand that are not events, are skipped).
fn dead_letter_of(name: &[u8], packed: &[u8]) -> Option<Rec> {
    let items: Vec<&[u8]> = unpack(packed).collect();
    let field = |f: &str| {
        items
            .chunks(2)
            .find(|p| p.first().is_some_and(|k| *k == f.as_bytes()))
            .and_then(|p| p.get(1).copied())
    };
    if field("trigger")? != name {
        return None;
    }
    let data = serde_json::from_slice(field("event")?).ok()?;
    Rec::from_json(data)
}
