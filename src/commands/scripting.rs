//! Scripting commands: EVAL EVALSHA EVAL_RO EVALSHA_RO and SCRIPT LOAD EXISTS FLUSH KILL HELP.
//!
//! The EVAL family is exclusive (the world lock held exclusively, like EXEC): a script is atomic,
//! and its writes are recorded as one transaction (`scripting`). SCRIPT KILL is `allow_busy`: it
//! reaches a script that has run past `busy-reply-threshold` from another connection. The script
//! cache lives in memory only and is not persisted, as in Redis.

use super::{cmd, container, flag::*, CommandSpec, Ctx};
use crate::error::{self, CmdResult};
use crate::protocol::resp::Args;
use crate::scripting::{self, EvalKind};

const S: &[&str] = &["scripting"];
const EV: u32 = NOSCRIPT | SKIP_MONITOR | STALE | MOVABLE_KEYS | EXCLUSIVE;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("eval", -3, EV, (0, 0, 0), S, "scripting", eval,
        "Executes a server-side Lua script.",
        "script numkeys [key [key ...]] [arg [arg ...]]", "2.6.0",
        "Depends on the script that is executed."),
    cmd!("evalsha", -3, EV, (0, 0, 0), S, "scripting", evalsha,
        "Executes a server-side Lua script by SHA1 digest.",
        "sha1 numkeys [key [key ...]] [arg [arg ...]]", "2.6.0",
        "Depends on the script that is executed."),
    cmd!("eval_ro", -3, EV | READONLY, (0, 0, 0), S, "scripting", eval_ro,
        "Executes a read-only server-side Lua script.",
        "script numkeys [key [key ...]] [arg [arg ...]]", "7.0.0",
        "Depends on the script that is executed."),
    cmd!("evalsha_ro", -3, EV | READONLY, (0, 0, 0), S, "scripting", evalsha_ro,
        "Executes a read-only server-side Lua script by SHA1 digest.",
        "sha1 numkeys [key [key ...]] [arg [arg ...]]", "7.0.0",
        "Depends on the script that is executed."),
    CommandSpec {
        name: "script",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: &["slow"],
        group: "scripting",
        summary: "A container for Lua scripts management commands.",
        syntax: "",
        since: "2.6.0",
        complexity: "Depends on subcommand.",
        handler: container,
        subcommands: &[
            cmd!("exists", -3, NOSCRIPT, (0, 0, 0), S, "scripting", script_exists,
                "Determines whether server-side Lua scripts exist in the script cache.",
                "sha1 [sha1 ...]", "2.6.0",
                "O(N) with N being the number of scripts to check (so checking a single script is an O(1) operation)."),
            cmd!("flush", -2, NOSCRIPT, (0, 0, 0), S, "scripting", script_flush,
                "Removes all server-side Lua scripts from the script cache.",
                "[ASYNC | SYNC]", "2.6.0",
                "O(N) with N being the number of scripts in cache"),
            cmd!("kill", 2, NOSCRIPT | ALLOW_BUSY, (0, 0, 0), S, "scripting", script_kill,
                "Terminates a server-side Lua script during execution.", "", "2.6.0", "O(1)"),
            cmd!("load", 3, NOSCRIPT | STALE, (0, 0, 0), S, "scripting", script_load,
                "Loads a server-side Lua script to the script cache.", "script", "2.6.0",
                "O(N) with N being the length in bytes of the script body."),
            cmd!("help", 2, LOADING | STALE, (0, 0, 0), S, "scripting", script_help,
                "Returns helpful text about the different subcommands.", "", "5.0.0", "O(1)"),
        ],
    },
];

fn eval(ctx: &mut Ctx, a: Args) -> CmdResult {
    scripting::eval(ctx, a, EvalKind::Body, false)
}

fn evalsha(ctx: &mut Ctx, a: Args) -> CmdResult {
    scripting::eval(ctx, a, EvalKind::Sha, false)
}

fn eval_ro(ctx: &mut Ctx, a: Args) -> CmdResult {
    scripting::eval(ctx, a, EvalKind::Body, true)
}

fn evalsha_ro(ctx: &mut Ctx, a: Args) -> CmdResult {
    scripting::eval(ctx, a, EvalKind::Sha, true)
}

fn script_exists(ctx: &mut Ctx, a: Args) -> CmdResult {
    let scripts = &ctx.srv.scripts;
    ctx.out.array(a.len() - 2);
    for sha in a.iter().skip(2) {
        ctx.out.int(i64::from(scripts.exists(sha)));
    }
    Ok(())
}

fn script_flush(ctx: &mut Ctx, a: Args) -> CmdResult {
    match a.len() {
        2 => {}
        3 if a.get(2).eq_ignore_ascii_case(b"sync") || a.get(2).eq_ignore_ascii_case(b"async") => {}
        _ => return Err(error::SCRIPT_FLUSH_MODE.into()),
    }
    ctx.srv.scripts.flush();
    ctx.out.ok();
    Ok(())
}

fn script_kill(ctx: &mut Ctx, _a: Args) -> CmdResult {
    ctx.srv.scripts.run.kill(false)?;
    ctx.out.ok();
    Ok(())
}

fn script_load(ctx: &mut Ctx, a: Args) -> CmdResult {
    let sha = ctx.srv.scripts.load(a.get(2))?;
    ctx.out.bulk(sha.as_bytes());
    Ok(())
}

fn script_help(ctx: &mut Ctx, _a: Args) -> CmdResult {
    super::help_reply(
        ctx,
        &[
            "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DEBUG (YES|SYNC|NO)",
            "    Set the debug mode for subsequent scripts executed.",
            "EXISTS <sha1> [<sha1> ...]",
            "    Return information about the existence of the scripts in the script cache.",
            "FLUSH [ASYNC|SYNC]",
            "    Flush the Lua scripts cache. Very dangerous on replicas.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the scripts cache.",
            "    * SYNC: Synchronously flush the scripts cache.",
            "KILL",
            "    Kill the currently executing Lua script.",
            "LOAD <script>",
            "    Load a script into the scripts cache without executing it.",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
}
