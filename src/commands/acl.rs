//! The ACL family: CAT DELUSER DRYRUN GENPASS GETUSER LIST LOAD LOG SAVE SETUSER USERS WHOAMI
//! HELP, with Redis 7.0's replies and errors. Users and the check live in `crate::acl`.
//!
//! Without `aclfile`, users live in memory only, as Redis's do, and ACL SAVE and ACL LOAD answer
//! Redis's error for that case.

use std::sync::Arc;

use super::args::int;
use super::{cmd, flag::*, table, CommandSpec, Ctx};
use crate::acl::CATEGORIES;
use crate::error::{self, CmdError, CmdResult};
use crate::protocol::resp::{Args, Out};

const SV: &[&str] = &["admin", "slow", "dangerous"];
const SLOW: &[&str] = &["slow"];
const ADM: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
const INFO: u32 = NOSCRIPT | LOADING | STALE;

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "acl",
    arity: -2,
    flags: 0,
    keys: (0, 0, 0),
    acl: &["slow"],
    group: "server",
    summary: "A container for Access List Control commands",
    syntax: "",
    since: "6.0.0",
    complexity: "Depends on subcommand.",
    handler: super::container,
    subcommands: &[
        cmd!(
            "cat",
            -2,
            INFO,
            (0, 0, 0),
            SLOW,
            "server",
            acl_cat,
            "List the ACL categories or the commands inside a category",
            "[categoryname]",
            "6.0.0",
            "O(1) since the categories and commands are a fixed set."
        ),
        cmd!(
            "deluser",
            -3,
            ADM,
            (0, 0, 0),
            SV,
            "server",
            acl_deluser,
            "Remove the specified ACL users and the associated rules",
            "username [username ...]",
            "6.0.0",
            "O(1) amortized time considering the typical user."
        ),
        cmd!(
            "dryrun",
            -4,
            ADM,
            (0, 0, 0),
            SV,
            "server",
            acl_dryrun,
            "Returns whether the user can execute the given command without executing the command.",
            "username command [arg [arg ...]]",
            "7.0.0",
            "O(1)."
        ),
        cmd!(
            "genpass",
            -2,
            INFO,
            (0, 0, 0),
            SLOW,
            "server",
            acl_genpass,
            "Generate a pseudorandom secure password to use for ACL users",
            "[bits]",
            "6.0.0",
            "O(1)"
        ),
        cmd!(
            "getuser",
            3,
            ADM,
            (0, 0, 0),
            SV,
            "server",
            acl_getuser,
            "Get the rules for a specific ACL user",
            "username",
            "6.0.0",
            "O(N). Where N is the number of password, command and pattern rules that the user has."
        ),
        cmd!(
            "help",
            2,
            LOADING | STALE,
            (0, 0, 0),
            SLOW,
            "server",
            acl_help,
            "Show helpful text about the different subcommands",
            "",
            "6.0.0",
            "O(1)"
        ),
        cmd!(
            "list",
            2,
            ADM,
            (0, 0, 0),
            SV,
            "server",
            acl_list,
            "List the current ACL rules in ACL config file format",
            "",
            "6.0.0",
            "O(N). Where N is the number of configured users."
        ),
        cmd!(
            "load",
            2,
            ADM,
            (0, 0, 0),
            SV,
            "server",
            acl_load,
            "Reload the ACLs from the configured ACL file",
            "",
            "6.0.0",
            "O(N). Where N is the number of configured users."
        ),
        cmd!(
            "log",
            -2,
            ADM,
            (0, 0, 0),
            SV,
            "server",
            acl_log,
            "List latest events denied because of ACLs in place",
            "[count|RESET]",
            "6.0.0",
            "O(N) with N being the number of entries shown."
        ),
        cmd!(
            "save",
            2,
            ADM,
            (0, 0, 0),
            SV,
            "server",
            acl_save,
            "Save the current ACL rules in the configured ACL file",
            "",
            "6.0.0",
            "O(N). Where N is the number of configured users."
        ),
        cmd!(
            "setuser",
            -3,
            ADM,
            (0, 0, 0),
            SV,
            "server",
            acl_setuser,
            "Modify or create the rules for a specific ACL user",
            "username [rule [rule ...]]",
            "6.0.0",
            "O(N). Where N is the number of rules provided."
        ),
        cmd!(
            "users",
            2,
            ADM,
            (0, 0, 0),
            SV,
            "server",
            acl_users,
            "List the username of all the configured ACL rules",
            "",
            "6.0.0",
            "O(N). Where N is the number of configured users."
        ),
        cmd!(
            "whoami",
            2,
            INFO,
            (0, 0, 0),
            SLOW,
            "server",
            acl_whoami,
            "Return the name of the user associated to the current connection",
            "",
            "6.0.0",
            "O(1)"
        ),
    ],
}];

fn acl_whoami(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let name = ctx.sess.user_in(&ctx.srv.acl).name.clone();
    ctx.out.bulk(&name);
    Ok(())
}

fn acl_users(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let names = ctx.srv.acl.names();
    ctx.out.bulks(names.iter().map(Vec::as_slice));
    Ok(())
}

fn acl_list(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let users = ctx.srv.acl.all();
    ctx.out.array(users.len());
    for u in users {
        ctx.out.bulk(u.acl_line().as_bytes());
    }
    Ok(())
}

fn acl_getuser(ctx: &mut Ctx, a: Args) -> CmdResult {
    let Some(u) = ctx.srv.acl.get(a.get(2)) else {
        ctx.out.null();
        return Ok(());
    };
    let r = u.rules();
    let out = &mut *ctx.out;
    out.map(6);
    out.bulk(b"flags");
    out.bulks(r.flags().iter().map(|f| f.as_bytes()));
    out.bulk(b"passwords");
    out.bulks(r.password_hashes().iter().map(|p| p.as_bytes()));
    write_perms(out, &r.root);
    out.bulk(b"selectors");
    out.array(r.selectors.len());
    for sel in &r.selectors {
        out.map(3);
        write_perms(out, sel);
    }
    Ok(())
}

/// The `commands`, `keys` and `channels` fields of ACL GETUSER, for the root rules or a selector.
fn write_perms(out: &mut Out, p: &crate::acl::Perms) {
    out.bulk(b"commands");
    out.bulk(p.describe_commands().as_bytes());
    out.bulk(b"keys");
    out.bulk(p.describe_keys().as_bytes());
    out.bulk(b"channels");
    out.bulk(p.describe_channels().as_bytes());
}

fn acl_setuser(ctx: &mut Ctx, a: Args) -> CmdResult {
    let name = a.get(2);
    if name.iter().any(|&c| c == b' ' || c == 0) {
        return Err("ERR Usernames can't contain spaces or null characters".into());
    }
    let args: Vec<&[u8]> = (3..a.len()).map(|i| a.get(i)).collect();
    let rules = crate::acl::merge_selectors(&args).map_err(|open| {
        CmdError::owned(format!("ERR {}.", crate::acl::unmatched_selector(open)))
    })?;
    let rules: Vec<&[u8]> = rules.iter().map(|r| r.as_ref()).collect();
    ctx.srv
        .acl
        .set_user(name, &rules)
        .map_err(CmdError::owned)?;
    ctx.out.ok();
    Ok(())
}

fn acl_deluser(ctx: &mut Ctx, a: Args) -> CmdResult {
    let names: Vec<&[u8]> = (2..a.len()).map(|i| a.get(i)).collect();
    if names.contains(&&b"default"[..]) {
        return Err("ERR The 'default' user cannot be removed".into());
    }
    let gone = ctx.srv.acl.delete(&names);
    close_connections(ctx, &gone);
    ctx.out.int(gone.len() as i64);
    Ok(())
}

/// Closes the connections logged in as one of `gone`, this one included (after its reply).
fn close_connections(ctx: &mut Ctx, gone: &[Arc<crate::acl::User>]) {
    if gone.is_empty() {
        return;
    }
    for c in ctx.srv.clients.all() {
        let theirs = c
            .user
            .lock()
            .as_ref()
            .is_some_and(|u| gone.iter().any(|g| Arc::ptr_eq(g, u)));
        if theirs {
            super::connection::kill(ctx, &c);
        }
    }
}

fn acl_cat(ctx: &mut Ctx, a: Args) -> CmdResult {
    if a.len() > 3 {
        return Err(error::subcommand_syntax(a.get(1), "acl"));
    }
    if a.len() == 2 {
        ctx.out.bulks(CATEGORIES.iter().map(|c| c.as_bytes()));
        return Ok(());
    }
    let want = String::from_utf8_lossy(a.get(2)).to_ascii_lowercase();
    if !CATEGORIES.contains(&want.as_str()) {
        return Err(CmdError::owned(format!(
            "ERR Unknown category '{}'",
            error::c_text(a.get(2))
        )));
    }
    let t = table();
    let names: Vec<&[u8]> = (0..t.specs.len())
        .filter(|&id| crate::acl::in_category(id, &want))
        .map(|id| t.full_names[id].as_bytes())
        .collect();
    ctx.out.bulks(names.into_iter());
    Ok(())
}

fn acl_genpass(ctx: &mut Ctx, a: Args) -> CmdResult {
    let bits = if a.len() > 2 { int(a.get(2))? } else { 256 };
    if a.len() > 3 {
        return Err(error::subcommand_syntax(a.get(1), "acl"));
    }
    if !(1..=4096).contains(&bits) {
        return Err(
            "ERR ACL GENPASS argument must be the number of bits for the output \
                    password, a positive number up to 4096"
                .into(),
        );
    }
    let hex = crate::server::random_hex((bits as usize).div_ceil(4));
    ctx.out.bulk(hex.as_bytes());
    Ok(())
}

fn acl_dryrun(ctx: &mut Ctx, a: Args) -> CmdResult {
    let Some(u) = ctx.srv.acl.get(a.get(2)) else {
        return Err(CmdError::owned(format!(
            "ERR User '{}' not found",
            error::c_text(a.get(2))
        )));
    };
    let argv = a.from(3);
    let t = table();
    let not_found = || {
        CmdError::owned(format!(
            "ERR Command '{}' not found",
            error::c_text(a.get(3))
        ))
    };
    let mut id = t.lookup(argv.get(0)).ok_or_else(not_found)?;
    if !t.specs[id].subcommands.is_empty() && argv.len() >= 2 {
        id = t.lookup_sub(id, argv.get(1)).ok_or_else(not_found)?;
    }
    let spec = t.specs[id];
    if !super::arity_ok(spec.arity, argv.len()) {
        return Err(error::wrong_arity(&t.full_names[id]));
    }
    match u.rules().check(id, spec, argv) {
        Ok(()) => ctx.out.ok(),
        Err(d) => ctx.out.bulk(d.explain().as_bytes()),
    }
    Ok(())
}

fn acl_log(ctx: &mut Ctx, a: Args) -> CmdResult {
    if a.len() > 3 {
        return Err(error::subcommand_syntax(a.get(1), "acl"));
    }
    let mut count = usize::MAX;
    if a.len() == 3 {
        if a.get(2).eq_ignore_ascii_case(b"RESET") {
            ctx.srv.acl.reset_log();
            ctx.out.ok();
            return Ok(());
        }
        count = int(a.get(2))?.max(0) as usize;
    }
    let now = ctx.now;
    let out = &mut *ctx.out;
    ctx.srv.acl.with_log(|log| {
        let n = log.len().min(count);
        out.array(n);
        for e in log.iter().take(n) {
            out.map(7);
            out.bulk(b"count");
            out.int(e.count as i64);
            out.bulk(b"reason");
            out.bulk(e.reason.as_bytes());
            out.bulk(b"context");
            out.bulk(e.context.as_bytes());
            out.bulk(b"object");
            out.bulk(&e.object);
            out.bulk(b"username");
            out.bulk(&e.username);
            out.bulk(b"age-seconds");
            out.double(now.saturating_sub(e.at) as f64 / 1000.0);
            out.bulk(b"client-info");
            out.bulk(e.client_info.as_bytes());
        }
    });
    Ok(())
}

/// The `aclfile` path, or Redis's error when there is none.
fn acl_file(ctx: &Ctx) -> CmdResult<String> {
    let path = ctx.srv.config.get("aclfile");
    if path.is_empty() {
        return Err(
            "ERR This Redis instance is not configured to use an ACL file. You may want \
                    to specify users via the ACL SETUSER command and then issue a CONFIG \
                    REWRITE (assuming you have a Redis configuration file set) in order to store \
                    users in the Redis configuration."
                .into(),
        );
    }
    Ok(path)
}

fn acl_load(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let path = acl_file(ctx)?;
    let gone = ctx
        .srv
        .acl
        .load_file(&path)
        .map_err(|e| CmdError::owned(format!("ERR {e}")))?;
    close_connections(ctx, &gone);
    ctx.out.ok();
    Ok(())
}

fn acl_save(ctx: &mut Ctx, _a: Args) -> CmdResult {
    let path = acl_file(ctx)?;
    if let Err(e) = ctx.srv.acl.save_file(&path) {
        tracing::warn!("Saving ACLs to '{path}': {e}");
        return Err(
            "ERR There was an error trying to save the ACLs. Please check the server \
                    logs for more information"
                .into(),
        );
    }
    ctx.out.ok();
    Ok(())
}

const HELP: &[&str] = &[
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

fn acl_help(ctx: &mut Ctx, _a: Args) -> CmdResult {
    super::subcommand_help(ctx, "ACL", HELP);
    Ok(())
}
