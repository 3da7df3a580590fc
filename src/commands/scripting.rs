//! Scripting commands: EVAL EVALSHA EVAL_RO EVALSHA_RO, SCRIPT LOAD EXISTS FLUSH KILL HELP,
//! FCALL FCALL_RO and FUNCTION LOAD DELETE FLUSH LIST DUMP RESTORE STATS KILL HELP.
//!
//! The EVAL and FCALL families are exclusive (the world lock held exclusively, like EXEC): a
//! script is atomic, and its writes are recorded as one transaction (`scripting`). SCRIPT KILL,
//! FUNCTION KILL and FUNCTION STATS are `allow_busy`: they reach a script that has run past
//! `busy-reply-threshold` from another connection. The script cache lives in memory only and is
//! not persisted, as in Redis; function libraries are: FUNCTION LOAD/DELETE/FLUSH/RESTORE record
//! themselves in the change log (replay runs them again) and snapshots carry the libraries.

use super::args::is;
use super::{cmd, container, flag::*, CommandSpec, Ctx};
use std::sync::atomic::Ordering;

use crate::changes::ChangeKind;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::value::ValueType;
use crate::protocol::resp::Args;
use crate::scripting::functions::{self, Policy};
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
            cmd!("debug", 3, NOSCRIPT, (0, 0, 0), S, "scripting", script_debug,
                "Sets the debug mode of server-side Lua scripts.", "<YES | SYNC | NO>", "3.2.0",
                "O(1)"),
            cmd!("help", 2, LOADING | STALE, (0, 0, 0), S, "scripting", script_help,
                "Returns helpful text about the different subcommands.", "", "5.0.0", "O(1)"),
        ],
    },
    cmd!("fcall", -3, EV, (0, 0, 0), S, "scripting", fcall,
        "Invokes a function.", "function numkeys [key [key ...]] [arg [arg ...]]", "7.0.0",
        "Depends on the function that is executed."),
    cmd!("fcall_ro", -3, EV | READONLY, (0, 0, 0), S, "scripting", fcall_ro,
        "Invokes a read-only function.", "function numkeys [key [key ...]] [arg [arg ...]]",
        "7.0.0", "Depends on the function that is executed."),
    CommandSpec {
        name: "function",
        arity: -2,
        flags: 0,
        keys: (0, 0, 0),
        acl: &["slow"],
        group: "scripting",
        summary: "A container for function commands.",
        syntax: "",
        since: "7.0.0",
        complexity: "Depends on subcommand.",
        handler: container,
        subcommands: &[
            cmd!("delete", 3, WRITE | NOSCRIPT, (0, 0, 0), S, "scripting", function_delete,
                "Deletes a library and its functions.", "library-name", "7.0.0", "O(1)"),
            cmd!("dump", 2, NOSCRIPT, (0, 0, 0), S, "scripting", function_dump,
                "Dumps all libraries into a serialized binary payload.", "", "7.0.0",
                "O(N) where N is the number of functions"),
            cmd!("flush", -2, WRITE | NOSCRIPT, (0, 0, 0), S, "scripting", function_flush,
                "Deletes all libraries and functions.", "[ASYNC | SYNC]", "7.0.0",
                "O(N) where N is the number of functions deleted"),
            cmd!("help", 2, LOADING | STALE, (0, 0, 0), S, "scripting", function_help,
                "Returns helpful text about the different subcommands.", "", "7.0.0", "O(1)"),
            cmd!("kill", 2, NOSCRIPT | ALLOW_BUSY, (0, 0, 0), S, "scripting", function_kill,
                "Terminates a function during execution.", "", "7.0.0", "O(1)"),
            cmd!("list", -2, NOSCRIPT, (0, 0, 0), S, "scripting", function_list,
                "Returns information about all libraries.",
                "[LIBRARYNAME library-name-pattern] [WITHCODE]", "7.0.0",
                "O(N) where N is the number of functions"),
            cmd!("load", -3, WRITE | DENYOOM | NOSCRIPT, (0, 0, 0), S, "scripting", function_load,
                "Creates a library.", "[REPLACE] function-code", "7.0.0",
                "O(1) (considering compilation time is redundant)"),
            cmd!("restore", -3, WRITE | DENYOOM | NOSCRIPT, (0, 0, 0), S, "scripting",
                function_restore, "Restores all libraries from a payload.",
                "serialized-value [FLUSH | APPEND | REPLACE]", "7.0.0",
                "O(N) where N is the number of functions on the payload"),
            cmd!("stats", 2, NOSCRIPT | ALLOW_BUSY, (0, 0, 0), S, "scripting", function_stats,
                "Returns information about a function during execution.", "", "7.0.0", "O(1)"),
        ],
    },
];

fn eval(ctx: &mut Ctx, a: Args) -> CmdResult {
    crate::pubsub::monitor::feed_script(ctx, a);
    scripting::eval(ctx, a, EvalKind::Body, false)
}

fn evalsha(ctx: &mut Ctx, a: Args) -> CmdResult {
    crate::pubsub::monitor::feed_script(ctx, a);
    scripting::eval(ctx, a, EvalKind::Sha, false)
}

fn eval_ro(ctx: &mut Ctx, a: Args) -> CmdResult {
    crate::pubsub::monitor::feed_script(ctx, a);
    scripting::eval(ctx, a, EvalKind::Body, true)
}

fn evalsha_ro(ctx: &mut Ctx, a: Args) -> CmdResult {
    crate::pubsub::monitor::feed_script(ctx, a);
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

/// SCRIPT DEBUG. Eddy has no Lua debugger: NO (debugging off, as it always is) is accepted,
/// YES and SYNC are refused rather than accepted and ignored, so `redis-cli --ldb` says why.
/// As in Redis, it must be the only command whose reply is outstanding.
fn script_debug(ctx: &mut Ctx, a: Args) -> CmdResult {
    if !ctx.out.buf.is_empty() {
        return Err(error::SCRIPT_DEBUG_PIPELINED.into());
    }
    let mode = a.get(2);
    if is(mode, "no") {
        ctx.out.ok();
        Ok(())
    } else if is(mode, "yes") || is(mode, "sync") {
        Err(error::SCRIPT_DEBUG_UNSUPPORTED.into())
    } else {
        Err(error::SCRIPT_DEBUG_MODE.into())
    }
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

fn fcall(ctx: &mut Ctx, a: Args) -> CmdResult {
    crate::pubsub::monitor::feed_script(ctx, a);
    functions::fcall(ctx, a, false)
}

fn fcall_ro(ctx: &mut Ctx, a: Args) -> CmdResult {
    crate::pubsub::monitor::feed_script(ctx, a);
    functions::fcall(ctx, a, true)
}

/// Records a change to the function libraries: a record without a key whose args are the
/// command replay runs again.
fn record(ctx: &Ctx, args: &[&[u8]]) {
    let mut l = ctx.lock(&[]);
    let who = l.who;
    l.rec.record(
        who,
        0,
        b"",
        "function",
        ChangeKind::Modify,
        ValueType::None,
        args,
    );
}

fn function_load(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut replace = false;
    for opt in a.iter().skip(2).take(a.len() - 3) {
        if !opt.eq_ignore_ascii_case(b"replace") {
            return Err(CmdError::owned(format!(
                "ERR Unknown option given: {}",
                String::from_utf8_lossy(opt)
            )));
        }
        replace = true;
    }
    let code = a.get(a.len() - 1);
    let name = ctx.srv.scripts.function_load(code, replace)?;
    record(ctx, &[b"FUNCTION", b"LOAD", b"REPLACE", code]);
    ctx.out.bulk(name.as_bytes());
    Ok(())
}

fn function_delete(ctx: &mut Ctx, a: Args) -> CmdResult {
    ctx.srv.scripts.function_delete(a.get(2))?;
    record(ctx, &[b"FUNCTION", b"DELETE", a.get(2)]);
    ctx.out.ok();
    Ok(())
}

fn function_flush(ctx: &mut Ctx, a: Args) -> CmdResult {
    match a.len() {
        2 => {}
        3 if a.get(2).eq_ignore_ascii_case(b"sync") || a.get(2).eq_ignore_ascii_case(b"async") => {}
        3 => return Err(error::FUNCTION_FLUSH_MODE.into()),
        _ => return Err(error::subcommand_syntax(a.get(1), "function")),
    }
    if ctx.srv.scripts.has_functions() {
        ctx.srv.scripts.function_flush();
        record(ctx, &[b"FUNCTION", b"FLUSH"]);
    }
    ctx.out.ok();
    Ok(())
}

fn function_restore(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (policy, word): (Policy, &[u8]) = match a.len() {
        3 => (Policy::Append, b"APPEND"),
        4 => match a.get(3).to_ascii_uppercase().as_slice() {
            b"FLUSH" => (Policy::Flush, b"FLUSH"),
            b"APPEND" => (Policy::Append, b"APPEND"),
            b"REPLACE" => (Policy::Replace, b"REPLACE"),
            _ => return Err(error::FUNCTION_RESTORE_POLICY.into()),
        },
        _ => return Err(error::subcommand_syntax(a.get(1), "function")),
    };
    ctx.srv.scripts.function_restore(a.get(2), policy)?;
    record(ctx, &[b"FUNCTION", b"RESTORE", a.get(2), word]);
    ctx.out.ok();
    Ok(())
}

fn function_dump(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let payload = ctx.srv.scripts.function_dump();
    ctx.out.bulk(&payload);
    Ok(())
}

fn function_list(ctx: &mut Ctx, a: Args) -> CmdResult {
    let (mut pattern, mut code) = (None, false);
    let mut i = 2;
    while i < a.len() {
        let arg = a.get(i);
        if !code && arg.eq_ignore_ascii_case(b"withcode") {
            code = true;
        } else if pattern.is_none() && arg.eq_ignore_ascii_case(b"libraryname") {
            if i + 1 >= a.len() {
                return Err(error::FUNCTION_LIST_NO_NAME.into());
            }
            i += 1;
            pattern = Some(a.get(i));
        } else {
            return Err(CmdError::owned(format!(
                "ERR Unknown argument {}",
                String::from_utf8_lossy(arg)
            )));
        }
        i += 1;
    }
    ctx.srv.scripts.function_list(ctx.out, pattern, code);
    Ok(())
}

fn function_kill(ctx: &mut Ctx, _a: Args) -> CmdResult {
    ctx.srv.scripts.run.kill(true)?;
    ctx.out.ok();
    Ok(())
}

fn function_stats(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let scripts = &ctx.srv.scripts;
    let out = &mut *ctx.out;
    out.map(2);
    out.bulk(b"running_script");
    match scripts.run.running() {
        Some((name, cmd, ms)) => {
            out.map(3);
            out.bulk(b"name");
            out.bulk(name.as_bytes());
            out.bulk(b"command");
            out.bulks(cmd.iter().map(|c| c.as_slice()));
            out.bulk(b"duration_ms");
            out.int(ms as i64);
        }
        None => out.null(),
    }
    let libs = scripts.stats.libraries.load(Ordering::Relaxed);
    let funcs = scripts.stats.functions.load(Ordering::Relaxed);
    out.bulk(b"engines");
    out.map(1);
    out.bulk(b"LUA");
    out.map(2);
    out.bulk(b"libraries_count");
    out.int(libs as i64);
    out.bulk(b"functions_count");
    out.int(funcs as i64);
    Ok(())
}

fn function_help(ctx: &mut Ctx, _a: Args) -> CmdResult {
    super::help_reply(
        ctx,
        &[
            "FUNCTION <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "LOAD [REPLACE] <FUNCTION CODE>",
            "    Create a new library with the given library name and code.",
            "DELETE <LIBRARY NAME>",
            "    Delete the given library.",
            "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
            "    Return general information on all the libraries:",
            "    * Library name",
            "    * The engine used to run the Library",
            "    * Library description",
            "    * Functions list",
            "    * Library code (if WITHCODE is given)",
            "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
            "STATS",
            "    Return information about the current function running:",
            "    * Function name",
            "    * Command used to run the function",
            "    * Duration in MS that the function is running",
            "    If no function is running, return nil",
            "    In addition, returns a list of available engines.",
            "KILL",
            "    Kill the current running function.",
            "FLUSH [ASYNC|SYNC]",
            "    Delete all the libraries.",
            "    When called without the optional mode argument, the behavior is determined by the",
            "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
            "    * ASYNC: Asynchronously flush the libraries.",
            "    * SYNC: Synchronously flush the libraries.",
            "DUMP",
            "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
            "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
            "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
            "    control how to handle existing libraries (default APPEND):",
            "    * FLUSH: delete all existing libraries.",
            "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
            "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
            "      libraries with the new libraries (notice that even on this option there is a chance of failure",
            "      in case of functions name collision with another library).",
            "HELP",
            "    Prints this help.",
        ],
    );
    Ok(())
}
