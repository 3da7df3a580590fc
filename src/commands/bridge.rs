//! The BRIDGE family: inspecting the NATS bridge (`bridge` has the model, docs/nats.md the
//! reference).
//!
//! * `BRIDGE INFO` — state, position, lag and counters (`enabled` 0 when `nats-url` is unset).

use super::{cmd, container, flag::*, CommandSpec, Ctx};
use crate::error::CmdResult;
use crate::protocol::resp::Args;

const BR: &[&str] = &["bridge"];

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "bridge",
    arity: -2,
    flags: 0,
    keys: (0, 0, 0),
    acl: &["slow"],
    group: "bridge",
    summary: "A container for NATS bridge commands.",
    syntax: "",
    since: "0.1.0",
    complexity: "Depends on subcommand.",
    handler: container,
    subcommands: &[cmd!(
        "info",
        2,
        ADMIN | STALE | LOADING,
        (0, 0, 0),
        BR,
        "bridge",
        bridge_info,
        "Returns the NATS bridge's state, position, lag and counters.",
        "",
        "0.1.0",
        "O(1)"
    )],
}];

fn bridge_info(ctx: &mut Ctx, _a: Args) -> CmdResult {
    crate::bridge::write_info(ctx.srv, ctx.out);
    Ok(())
}
