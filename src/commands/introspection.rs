//! `COMMAND` and its subcommands (COUNT, INFO, DOCS, LIST, GETKEYS, GETKEYSANDFLAGS, HELP),
//! answered from the command table with Redis 7.0's reply shapes.
//!
//! The table stores each command's argument syntax as the Redis docs write it (`key value [NX |
//! XX] ...`) rather than a hand-built argument tree; COMMAND DOCS derives the tree Redis reports
//! (`name`, `type`, `token`, `flags`, nested `arguments`) with the small parser at the bottom of
//! this file. redis-cli builds its interactive hints and `help` text from that reply, and asserts
//! on its shape (every argument has a `type`, flags are status replies, subcommand names contain
//! `|`), so the parser is total: any string yields some tree, never a panic.
//!
//! Key specs are not stored either: INFO reports one range spec derived from the legacy
//! (first, last, step) triple, which describes every key position the table can express.

use super::args::is;
use super::keyspecs::{Begin, Find, KeySpec};
use super::{arity_ok, cmd, flag, table, CommandSpec, Ctx, Table};
use crate::error::{CmdError, CmdResult, SYNTAX};
use crate::protocol::resp::{Args, Out};
use crate::util::glob::glob_match;

const CONN: &[&str] = &["connection"];
const CF: u32 = flag::LOADING | flag::STALE;

const INVALID_COMMAND: &str = "ERR Invalid command specified";
const INVALID_ARG_COUNT: &str = "ERR Invalid number of arguments specified for command";
const NO_KEYS: &str = "ERR The command has no key arguments";
const INVALID_ARGS: &str = "ERR Invalid arguments specified for command";

pub static COMMANDS: &[CommandSpec] = &[CommandSpec {
    name: "command",
    arity: -1,
    flags: CF,
    keys: (0, 0, 0),
    acl: CONN,
    group: "server",
    summary: "Returns detailed information about all commands.",
    syntax: "",
    since: "2.8.13",
    complexity: "O(N) where N is the total number of Redis commands",
    handler: command,
    subcommands: SUBCOMMANDS,
}];

const SUBCOMMANDS: &[CommandSpec] = &[
    cmd!(
        "count",
        2,
        CF,
        (0, 0, 0),
        CONN,
        "server",
        count,
        "Returns a count of commands.",
        "",
        "2.8.13",
        "O(1)"
    ),
    cmd!(
        "docs",
        -2,
        CF,
        (0, 0, 0),
        CONN,
        "server",
        docs,
        "Returns documentary information about one, multiple or all commands.",
        "[command-name [command-name ...]]",
        "7.0.0",
        "O(N) where N is the number of commands to look up"
    ),
    cmd!(
        "getkeys",
        -4,
        CF,
        (0, 0, 0),
        CONN,
        "server",
        getkeys,
        "Extracts the key names from an arbitrary command.",
        "command [arg [arg ...]]",
        "2.8.13",
        "O(N) where N is the number of arguments to the command"
    ),
    cmd!(
        "getkeysandflags",
        -4,
        CF,
        (0, 0, 0),
        CONN,
        "server",
        getkeysandflags,
        "Extracts the key names and access flags for an arbitrary command.",
        "command [arg [arg ...]]",
        "7.0.0",
        "O(N) where N is the number of arguments to the command"
    ),
    cmd!(
        "help",
        2,
        CF,
        (0, 0, 0),
        CONN,
        "server",
        help,
        "Returns helpful text about the different subcommands.",
        "",
        "5.0.0",
        "O(1)"
    ),
    cmd!(
        "info",
        -2,
        CF,
        (0, 0, 0),
        CONN,
        "server",
        info,
        "Returns information about one, multiple or all commands.",
        "[command-name [command-name ...]]",
        "2.8.13",
        "O(N) where N is the number of commands to look up"
    ),
    cmd!(
        "list",
        -2,
        CF,
        (0, 0, 0),
        CONN,
        "server",
        list,
        "Returns a list of command names.",
        "[FILTERBY <MODULE module-name | ACLCAT category | PATTERN pattern>]",
        "7.0.0",
        "O(N) where N is the total number of Redis commands"
    ),
];

/// Bare `COMMAND`: Redis answers it as `COMMAND INFO` of every command.
fn command(ctx: &mut Ctx, _: Args) -> CmdResult {
    let t = table();
    let ids = t.top_level();
    ctx.out.array(ids.len());
    for id in ids {
        write_info(ctx.out, t, id);
    }
    Ok(())
}

fn count(ctx: &mut Ctx, _: Args) -> CmdResult {
    ctx.out.int(table().top_level().len() as i64);
    Ok(())
}

fn info(ctx: &mut Ctx, a: Args) -> CmdResult {
    if a.len() == 2 {
        return command(ctx, a);
    }
    let t = table();
    ctx.out.array(a.len() - 2);
    for name in a.iter().skip(2) {
        match lookup_full(t, name) {
            Some(id) => write_info(ctx.out, t, id),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

fn docs(ctx: &mut Ctx, a: Args) -> CmdResult {
    let t = table();
    // Unknown names are left out of the map, as Redis does.
    let ids: Vec<usize> = if a.len() == 2 {
        t.top_level()
    } else {
        a.iter().skip(2).filter_map(|n| lookup_full(t, n)).collect()
    };
    ctx.out.map(ids.len());
    for id in ids {
        ctx.out.bulk_str(&t.full_names[id]);
        write_docs(ctx.out, t, id);
    }
    Ok(())
}

enum Filter<'a> {
    Module,
    AclCat(&'a [u8]),
    Pattern(&'a [u8]),
}

fn list(ctx: &mut Ctx, a: Args) -> CmdResult {
    let filter = match a.len() {
        2 => None,
        5 if is(a.get(2), "FILTERBY") => {
            let (kind, arg) = (a.get(3), a.get(4));
            if is(kind, "MODULE") {
                Some(Filter::Module)
            } else if is(kind, "ACLCAT") {
                Some(Filter::AclCat(arg))
            } else if is(kind, "PATTERN") {
                Some(Filter::Pattern(arg))
            } else {
                return Err(SYNTAX.into());
            }
        }
        _ => return Err(SYNTAX.into()),
    };
    let t = table();
    // Table ids list each container right before its subcommands, the order Redis walks them.
    let names: Vec<&str> = (0..t.specs.len())
        .filter(|&id| match &filter {
            None => true,
            // Eddy loads no modules.
            Some(Filter::Module) => false,
            Some(Filter::AclCat(c)) => t.specs[id]
                .categories()
                .iter()
                .any(|cat| cat.as_bytes().eq_ignore_ascii_case(c)),
            Some(Filter::Pattern(p)) => glob_match(p, t.full_names[id].as_bytes(), true),
        })
        .map(|id| t.full_names[id].as_str())
        .collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk_str(n);
    }
    Ok(())
}

fn getkeys(ctx: &mut Ctx, a: Args) -> CmdResult {
    getkeys_impl(ctx, a, false)
}

fn getkeysandflags(ctx: &mut Ctx, a: Args) -> CmdResult {
    getkeys_impl(ctx, a, true)
}

/// Redis's `getKeysSubcommandImpl`, including the order of its checks (a command without keys
/// is reported before a wrong argument count).
fn getkeys_impl(ctx: &mut Ctx, a: Args, with_flags: bool) -> CmdResult {
    let t = table();
    let argv = a.from(2);
    let Some(mut id) = t.lookup(argv.get(0)) else {
        return Err(INVALID_COMMAND.into());
    };
    if !t.specs[id].subcommands.is_empty() && argv.len() >= 2 {
        id = t
            .lookup_sub(id, argv.get(1))
            .ok_or(CmdError::from(INVALID_COMMAND))?;
    }
    let spec = t.specs[id];
    if spec.keys.0 <= 0 && spec.flags & flag::MOVABLE_KEYS == 0 {
        return Err(NO_KEYS.into());
    }
    if !arity_ok(spec.arity, argv.len()) {
        return Err(INVALID_ARG_COUNT.into());
    }
    let keys = key_positions(spec, &t.full_names[id], argv);
    if keys.is_empty() && !no_mandatory_keys(&t.full_names[id]) {
        return Err(INVALID_ARGS.into());
    }
    let coarse = key_flags(spec);
    // Each key gets the flags of the spec that finds it; one no spec finds (SORT's STORE
    // destination) those of the last `unknown` spec, which Redis keeps for such keys.
    let specs = super::keyspecs::of(&t.full_names[id]);
    let finders = specs.map(|s| super::keyspecs::finders(s, argv));
    let flags_of = |p: usize| -> &'static [&'static str] {
        let (Some(specs), Some(finders)) = (specs, &finders) else {
            return coarse;
        };
        finders[p]
            .map(|n| specs[n].flags)
            .or_else(|| {
                specs
                    .iter()
                    .rev()
                    .find(|ks| matches!(ks.begin, Begin::Unknown))
                    .map(|ks| ks.flags)
            })
            .map_or(coarse, |f| {
                super::keyspecs::resolved(&t.full_names[id], f, argv)
            })
    };
    ctx.out.array(keys.len());
    for p in keys {
        if with_flags {
            ctx.out.array(2);
            ctx.out.bulk(argv.get(p));
            let kflags = flags_of(p);
            ctx.out.set(kflags.len());
            for f in kflags {
                ctx.out.simple(f);
            }
        } else {
            ctx.out.bulk(argv.get(p));
        }
    }
    Ok(())
}

const HELP: &[&str] = &[
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
    "HELP",
    "    Prints this help.",
];

fn help(ctx: &mut Ctx, _: Args) -> CmdResult {
    ctx.out.array(HELP.len());
    for l in HELP {
        ctx.out.simple(l);
    }
    Ok(())
}

/// A command by the name INFO and DOCS accept: `get`, or `config|get` for a subcommand.
fn lookup_full(t: &Table, name: &[u8]) -> Option<usize> {
    match name.iter().position(|&c| c == b'|') {
        None => t.lookup(name),
        Some(bar) => {
            let (top, sub) = (&name[..bar], &name[bar + 1..]);
            if sub.contains(&b'|') {
                return None;
            }
            t.lookup_sub(t.lookup(top)?, sub)
        }
    }
}

fn sorted_categories(spec: &CommandSpec) -> Vec<&'static str> {
    let mut cats = spec.categories();
    cats.sort_by_key(|c| {
        crate::acl::CATEGORIES
            .iter()
            .position(|o| o == c)
            .unwrap_or(crate::acl::CATEGORIES.len())
    });
    cats
}

/// Key-spec flags for a command Redis has no key specs for (Eddy's own; Redis's are in
/// `keyspecs`), coarse because the table has no per-key access description: a read-only
/// command only reads its keys; a write command is described by the broad `RW` + `update`, which
/// never understates what it may do; a pub/sub command's "keys" are shard channels (`not_key`).
/// A keyed command that neither reads nor writes its keys (WATCH) gets Redis's bare `RO`.
fn key_flags(spec: &CommandSpec) -> &'static [&'static str] {
    if spec.flags & flag::PUBSUB != 0 {
        // Shard channels take key positions (for cluster routing) but are not keys.
        &["not_key"]
    } else if spec.flags & flag::WRITE != 0 {
        &["RW", "update"]
    } else if spec.flags & flag::READONLY != 0 {
        &["RO", "access"]
    } else {
        &["RO"]
    }
}

/// One COMMAND INFO entry (Redis 7.0 `addReplyCommandInfo`): 10 fields, the last three sets.
fn write_info(out: &mut Out, t: &Table, id: usize) {
    let spec = t.specs[id];
    out.array(10);
    out.bulk_str(&t.full_names[id]);
    out.int(spec.arity as i64);
    let flags: Vec<&str> = flag::NAMES
        .iter()
        .filter(|(f, _)| spec.flags & f != 0)
        .map(|&(_, n)| n)
        .collect();
    out.set(flags.len());
    for f in flags {
        out.simple(f);
    }
    let (first, last, step) = spec.keys;
    out.int(first as i64);
    out.int(last as i64);
    out.int(step as i64);
    let cats = sorted_categories(spec);
    out.set(cats.len());
    for c in cats {
        out.simple(&format!("@{c}"));
    }
    out.set(0); // tips
    match super::keyspecs::of(&t.full_names[id]) {
        Some(specs) => {
            out.set(specs.len());
            for ks in specs {
                write_key_spec(out, ks);
            }
        }
        None if first > 0 && step > 0 => {
            out.set(1);
            write_key_spec(out, &legacy_key_spec(spec));
        }
        None => out.set(0),
    }
    let subs = t.subcommand_ids(id);
    out.set(subs.len());
    for s in subs {
        write_info(out, t, s);
    }
}

/// The range key spec equivalent to the legacy triple, for a command Redis has no specs for:
/// Redis's range `lastkey` counts from the first key when non-negative, from the end of the
/// arguments when negative.
fn legacy_key_spec(spec: &CommandSpec) -> KeySpec {
    let (first, last, step) = spec.keys;
    KeySpec {
        flags: key_flags(spec),
        begin: Begin::Index(first as i64),
        find: Find::Range {
            lastkey: if last < 0 {
                last as i64
            } else {
                (last - first) as i64
            },
            step: step as i64,
            limit: 0,
        },
        notes: "",
    }
}

/// One key spec as Redis 7.0's `addReplyCommandKeySpecs` writes it.
fn write_key_spec(out: &mut Out, ks: &KeySpec) {
    out.map(3 + usize::from(!ks.notes.is_empty()));
    if !ks.notes.is_empty() {
        out.bulk_str("notes");
        out.bulk_str(ks.notes);
    }
    out.bulk_str("flags");
    out.set(ks.flags.len());
    for f in ks.flags {
        out.simple(f);
    }
    let int_map = |out: &mut Out, kind: &str, fields: &[(&str, i64)]| {
        out.map(2);
        out.bulk_str("type");
        out.bulk_str(kind);
        out.bulk_str("spec");
        out.map(fields.len());
        for (k, v) in fields {
            out.bulk_str(k);
            out.int(*v);
        }
    };
    out.bulk_str("begin_search");
    match ks.begin {
        Begin::Index(i) => int_map(out, "index", &[("index", i)]),
        Begin::Keyword(kw, from) => {
            out.map(2);
            out.bulk_str("type");
            out.bulk_str("keyword");
            out.bulk_str("spec");
            out.map(2);
            out.bulk_str("keyword");
            out.bulk_str(kw);
            out.bulk_str("startfrom");
            out.int(from);
        }
        Begin::Unknown => int_map(out, "unknown", &[]),
    }
    out.bulk_str("find_keys");
    match ks.find {
        Find::Range {
            lastkey,
            step,
            limit,
        } => int_map(
            out,
            "range",
            &[("lastkey", lastkey), ("keystep", step), ("limit", limit)],
        ),
        Find::Keynum { idx, first, step } => int_map(
            out,
            "keynum",
            &[("keynumidx", idx), ("firstkey", first), ("keystep", step)],
        ),
        Find::Unknown => int_map(out, "unknown", &[]),
    }
}

/// One COMMAND DOCS value (Redis 7.0 `addReplyCommandDocs`): `arguments` and `subcommands` only
/// when there are any, which is also what redis-cli expects.
fn write_docs(out: &mut Out, t: &Table, id: usize) {
    let spec = t.specs[id];
    let args = parse_syntax(spec.syntax, &SyntaxCx::of(spec, &t.full_names[id]));
    let subs = t.subcommand_ids(id);
    out.map(4 + usize::from(!args.is_empty()) + usize::from(!subs.is_empty()));
    out.bulk_str("summary");
    out.bulk_str(spec.summary);
    out.bulk_str("since");
    out.bulk_str(spec.since);
    out.bulk_str("group");
    out.bulk_str(spec.group);
    out.bulk_str("complexity");
    out.bulk_str(spec.complexity);
    if !args.is_empty() {
        out.bulk_str("arguments");
        write_args(out, &args, spec.keys.0 > 0);
    }
    if !subs.is_empty() {
        out.bulk_str("subcommands");
        out.map(subs.len());
        for s in subs {
            out.bulk_str(&t.full_names[s]);
            write_docs(out, t, s);
        }
    }
}

/// Redis 7.0 `addReplyCommandArgList`: fields in its order, optional ones only when set.
fn write_args(out: &mut Out, args: &[Arg], key_spec: bool) {
    out.array(args.len());
    for a in args {
        let flags = a.flag_names();
        let with_index = key_spec && a.kind == ArgType::Key;
        let nested = matches!(a.kind, ArgType::OneOf | ArgType::Block);
        out.map(
            2 + usize::from(with_index)
                + usize::from(a.token.is_some())
                + usize::from(!flags.is_empty())
                + usize::from(nested),
        );
        out.bulk_str("name");
        out.bulk_str(&a.name);
        out.bulk_str("type");
        out.bulk_str(a.kind.as_str());
        if with_index {
            // The single derived key spec covers every key argument.
            out.bulk_str("key_spec_index");
            out.int(0);
        }
        if let Some(tok) = &a.token {
            out.bulk_str("token");
            out.bulk_str(tok);
        }
        if !flags.is_empty() {
            out.bulk_str("flags");
            out.set(flags.len());
            for f in flags {
                out.simple(f);
            }
        }
        if nested {
            out.bulk_str("arguments");
            write_args(out, &a.args, key_spec);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Key extraction for GETKEYS.

/// Commands whose keys may legitimately be zero (Redis's `no-mandatory-keys`).
fn no_mandatory_keys(full: &str) -> bool {
    matches!(
        full,
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro"
    )
}

/// Key positions in `argv` (argv[0] being the command name). Movable-key commands are
/// recognised by name with Redis's own key-finding rules; everything else uses the legacy triple.
pub(crate) fn key_positions(spec: &CommandSpec, full: &str, argv: Args) -> Vec<usize> {
    if spec.flags & flag::MOVABLE_KEYS != 0 {
        if let Some(v) = movable_keys(full, argv) {
            return v;
        }
    }
    spec.key_positions(argv.len())
}

fn movable_keys(full: &str, argv: Args) -> Option<Vec<usize>> {
    let n = argv.len();
    // `numkeys` at `at`, keys right after it; `extra` are fixed key positions before it.
    let numkeys = |at: usize, extra: &[usize]| -> Vec<usize> {
        let Some(k) = crate::protocol::resp::parse_i64(argv.get(at))
            .filter(|&k| k >= 0)
            .map(|k| k as usize)
        else {
            return Vec::new();
        };
        if k > n.saturating_sub(at + 1) {
            return Vec::new();
        }
        extra.iter().copied().chain(at + 1..at + 1 + k).collect()
    };
    Some(match full {
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => numkeys(2, &[]),
        "zunionstore" | "zinterstore" | "zdiffstore" => {
            let v = numkeys(2, &[1]);
            if v.len() <= 1 {
                Vec::new()
            } else {
                v
            }
        }
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
            numkeys(1, &[])
        }
        "blmpop" | "bzmpop" => numkeys(2, &[]),
        "georadius" | "georadiusbymember" => {
            // Redis 7's key specs: the first STORE, then the first STOREDIST, after the radius.
            let from = if full == "georadius" { 6 } else { 5 };
            let mut v = vec![1];
            for kw in ["STORE", "STOREDIST"] {
                if let Some(i) = (from..n.saturating_sub(1)).find(|&i| is(argv.get(i), kw)) {
                    v.push(i + 1);
                }
            }
            v
        }
        "sort" | "sort_ro" => {
            let mut v = vec![1];
            let mut i = 2;
            let mut store = None;
            while i < n {
                let a = argv.get(i);
                if is(a, "LIMIT") {
                    i += 2;
                } else if is(a, "GET") || is(a, "BY") {
                    i += 1;
                } else if is(a, "STORE") && i + 1 < n && full == "sort" {
                    // The last STORE wins, as in Redis's sortGetKeys.
                    store = Some(i + 1);
                    i += 1;
                }
                i += 1;
            }
            v.extend(store);
            v
        }
        "migrate" => {
            let keys_at = (6..n).find(|&i| is(argv.get(i), "KEYS"));
            match keys_at {
                Some(i) if argv.get(3).is_empty() => (i + 1..n).collect(),
                _ => vec![3],
            }
        }
        "xread" | "xreadgroup" => {
            let Some(s) = (1..n).find(|&i| is(argv.get(i), "STREAMS")) else {
                return Some(Vec::new());
            };
            let rest = n - s - 1;
            if rest == 0 || !rest.is_multiple_of(2) {
                Vec::new()
            } else {
                (s + 1..s + 1 + rest / 2).collect()
            }
        }
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// The syntax parser behind COMMAND DOCS.
//
// Grammar, as the Redis docs write it: words separated by spaces; `[ ... ]` optional and
// `< ... >` required groups; `|` separates alternatives within a group (or at the top level);
// `...` repeats what precedes it, usually as `x [x ...]`. An UPPERCASE word is a literal token;
// followed by a lowercase word it names that argument's token (`EX seconds`), followed by a
// required group or a repetition it becomes the token of that group. Malformed input (stray or
// missing brackets) is tolerated: a stray closer is ignored, an unclosed group ends at the end.

/// Argument types, as COMMAND DOCS names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    String,
    Integer,
    Double,
    Key,
    Pattern,
    UnixTime,
    PureToken,
    OneOf,
    Block,
}

impl ArgType {
    pub fn as_str(self) -> &'static str {
        match self {
            ArgType::String => "string",
            ArgType::Integer => "integer",
            ArgType::Double => "double",
            ArgType::Key => "key",
            ArgType::Pattern => "pattern",
            ArgType::UnixTime => "unix-time",
            ArgType::PureToken => "pure-token",
            ArgType::OneOf => "oneof",
            ArgType::Block => "block",
        }
    }
}

/// One node of a COMMAND DOCS argument tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arg {
    pub name: String,
    pub kind: ArgType,
    pub token: Option<String>,
    pub optional: bool,
    pub multiple: bool,
    pub multiple_token: bool,
    /// Alternatives of a `oneof`, members of a `block`.
    pub args: Vec<Arg>,
}

impl Arg {
    fn new(name: impl Into<String>, kind: ArgType) -> Arg {
        Arg {
            name: name.into(),
            kind,
            token: None,
            optional: false,
            multiple: false,
            multiple_token: false,
            args: Vec::new(),
        }
    }

    fn flag_names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.optional {
            v.push("optional");
        }
        if self.multiple {
            v.push("multiple");
        }
        if self.multiple_token {
            v.push("multiple_token");
        }
        v
    }

    /// A block of `args`. A leading tokened argument lends its token to the block (`LIMIT
    /// offset count` is Redis's block `limit` with token LIMIT), so the hint reads the same.
    fn block(mut args: Vec<Arg>) -> Arg {
        let mut token = None;
        if let Some(first) = args.first_mut() {
            if first.kind != ArgType::PureToken && !first.optional && !first.multiple {
                token = first.token.take();
            }
        }
        let name = match &token {
            Some(t) => token_name(t),
            None => joined_name(&args),
        };
        let mut b = Arg::new(name, ArgType::Block);
        b.token = token;
        b.args = args;
        b
    }

    fn one_of(choices: Vec<Arg>) -> Arg {
        let mut o = Arg::new(oneof_name(&choices), ArgType::OneOf);
        o.args = choices;
        o
    }
}

/// What the argument types depend on besides the argument's name.
pub struct SyntaxCx {
    /// `increment` is a float (INCRBYFLOAT, HINCRBYFLOAT, ZINCRBY).
    pub float_increment: bool,
    /// `timeout` is in (fractional) seconds, as for the blocking commands.
    pub float_timeout: bool,
}

impl SyntaxCx {
    pub fn of(spec: &CommandSpec, full_name: &str) -> SyntaxCx {
        SyntaxCx {
            float_increment: full_name.contains("float") || full_name == "zincrby",
            float_timeout: spec.flags & flag::BLOCKING != 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    /// `[` (optional) or `<` (required).
    Open(bool),
    Close,
    Bar,
    Dots,
    Word(&'a str),
}

fn tokenize(s: &str) -> Vec<Tok<'_>> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let structural = |c: u8| matches!(c, b'[' | b']' | b'<' | b'>' | b'|');
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b[i..].starts_with(b"...") {
            out.push(Tok::Dots);
            i += 3;
            continue;
        }
        match c {
            b'[' => out.push(Tok::Open(true)),
            b'<' => out.push(Tok::Open(false)),
            b']' | b'>' => out.push(Tok::Close),
            b'|' => out.push(Tok::Bar),
            _ => {
                let start = i;
                while i < b.len()
                    && !b[i].is_ascii_whitespace()
                    && !structural(b[i])
                    && !b[i..].starts_with(b"...")
                {
                    i += 1;
                }
                // Cuts are only ever at ASCII bytes, so `get` cannot fail; stay total anyway.
                if let Some(w) = s.get(start..i) {
                    out.push(Tok::Word(w));
                }
                if i == start {
                    i += 1;
                }
                continue;
            }
        }
        i += 1;
    }
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node<'a> {
    Word(&'a str),
    Group {
        optional: bool,
        alts: Vec<Vec<Node<'a>>>,
    },
    /// `unit [unit ...]`; `optional` when the repetition was written without its first instance.
    Repeat {
        unit: Vec<Node<'a>>,
        optional: bool,
    },
    Dots,
}

/// Deeper nesting than any real syntax string; beyond it brackets are ignored.
const MAX_DEPTH: usize = 16;

fn parse_alts<'a>(toks: &[Tok<'a>], pos: &mut usize, depth: usize) -> Vec<Vec<Node<'a>>> {
    let mut alts = vec![Vec::new()];
    while let Some(&t) = toks.get(*pos) {
        *pos += 1;
        let cur = alts.len() - 1;
        match t {
            Tok::Close if depth > 0 => return alts,
            Tok::Close => {}
            Tok::Bar => alts.push(Vec::new()),
            Tok::Dots => alts[cur].push(Node::Dots),
            Tok::Word(w) => alts[cur].push(Node::Word(w)),
            Tok::Open(_) if depth >= MAX_DEPTH => {}
            Tok::Open(optional) => {
                let inner = parse_alts(toks, pos, depth + 1);
                alts[cur].push(Node::Group {
                    optional,
                    alts: inner,
                });
            }
        }
    }
    alts
}

/// Turns `x [x ...]` into one repetition node, recursively.
fn fold(seq: Vec<Node<'_>>) -> Vec<Node<'_>> {
    let mut out: Vec<Node> = Vec::with_capacity(seq.len());
    for node in seq {
        match node {
            Node::Group { optional, alts } => {
                let mut alts: Vec<Vec<Node>> = alts.into_iter().map(fold).collect();
                let repeat = optional && alts.len() == 1 && alts[0].last() == Some(&Node::Dots);
                if repeat {
                    let mut unit = alts.pop().unwrap_or_default();
                    unit.pop();
                    if unit.is_empty() {
                        continue;
                    }
                    let n = unit.len();
                    if out.len() >= n && out[out.len() - n..] == unit[..] {
                        out.truncate(out.len() - n);
                        out.push(Node::Repeat {
                            unit,
                            optional: false,
                        });
                    } else {
                        out.push(Node::Repeat {
                            unit,
                            optional: true,
                        });
                    }
                } else {
                    out.push(Node::Group { optional, alts });
                }
            }
            other => out.push(other),
        }
    }
    out
}

fn is_token(w: &str) -> bool {
    !w.bytes().any(|c| c.is_ascii_lowercase())
}

/// Redis's names for pure tokens are the lower-cased token; symbols get a word.
fn token_name(tok: &str) -> String {
    match tok {
        "\"\"" => "empty_string".into(),
        "*" => "auto_id".into(),
        "=" => "equal".into(),
        "~" => "approximately".into(),
        "$" => "last_id".into(),
        "+" => "plus".into(),
        "-" => "minus".into(),
        _ => tok.to_ascii_lowercase(),
    }
}

fn joined_name(args: &[Arg]) -> String {
    if args.is_empty() || args.len() > 3 {
        return "arguments".into();
    }
    args.iter()
        .map(|a| a.name.as_str())
        .collect::<Vec<_>>()
        .join("_")
}

fn oneof_name(choices: &[Arg]) -> String {
    let tok = |a: &Arg| a.token.clone().unwrap_or_default();
    if choices.iter().all(|a| {
        a.kind == ArgType::PureToken && matches!(tok(a).as_str(), "NX" | "XX" | "GT" | "LT")
    }) {
        return "condition".into();
    }
    if choices
        .iter()
        .any(|a| matches!(tok(a).as_str(), "EX" | "PX" | "EXAT" | "PXAT"))
    {
        return "expiration".into();
    }
    joined_name(choices)
}

/// An argument named by a lower-case word; the type follows Redis's naming conventions.
fn named(name: &str, cx: &SyntaxCx) -> Arg {
    let digits_after = |p: &str| {
        name.strip_prefix(p)
            .is_some_and(|r| r.bytes().all(|c| c.is_ascii_digit()))
    };
    let kind = match name {
        "key" | "source" | "destination" | "newkey" => ArgType::Key,
        _ if digits_after("key") => ArgType::Key,
        "pattern" => ArgType::Pattern,
        "unix-time-seconds" | "unix-time-milliseconds" => ArgType::UnixTime,
        "increment" if cx.float_increment => ArgType::Double,
        "timeout" if cx.float_timeout => ArgType::Double,
        "score" => ArgType::Double,
        "count" | "seconds" | "milliseconds" | "offset" | "start" | "end" | "stop" | "db"
        | "numkeys" | "timeout" | "len" | "min-match-len" | "destination-db" | "rank"
        | "num-matches" | "protover" | "port" | "frequency" | "ttl" | "cursor" | "increment"
        | "decrement" | "numreplicas" | "client-id" | "database" | "maxlen" | "limit" => {
            ArgType::Integer
        }
        _ if digits_after("index") => ArgType::Integer,
        _ => ArgType::String,
    };
    Arg::new(name, kind)
}

fn pure_token(tok: &str) -> Arg {
    let mut a = Arg::new(token_name(tok), ArgType::PureToken);
    a.token = Some(tok.to_string());
    a
}

/// Arguments of a sequence (one alternative).
fn build(seq: &[Node], cx: &SyntaxCx) -> Vec<Arg> {
    let mut out: Vec<Arg> = Vec::new();
    let mut i = 0;
    while let Some(node) = seq.get(i) {
        i += 1;
        match node {
            Node::Word(w) if is_token(w) => match seq.get(i) {
                Some(Node::Word(n)) if !is_token(n) => {
                    let mut a = named(n, cx);
                    a.token = Some((*w).to_string());
                    out.push(a);
                    i += 1;
                }
                Some(Node::Repeat {
                    unit,
                    optional: false,
                }) => {
                    if let Some(mut a) = repeated(unit, false, cx) {
                        if a.token.is_none() {
                            a.token = Some((*w).to_string());
                            a.multiple_token = false;
                        } else {
                            a = tokened_block(w, a);
                        }
                        out.push(a);
                    } else {
                        out.push(pure_token(w));
                    }
                    i += 1;
                }
                Some(Node::Group {
                    optional: false,
                    alts,
                }) => {
                    match group(alts, false, cx) {
                        Some(a) if a.token.is_none() => {
                            let mut a = a;
                            a.token = Some((*w).to_string());
                            out.push(a);
                        }
                        Some(a) => out.push(tokened_block(w, a)),
                        None => out.push(pure_token(w)),
                    }
                    i += 1;
                }
                _ => out.push(pure_token(w)),
            },
            Node::Word(n) => out.push(named(n, cx)),
            Node::Group { optional, alts } => out.extend(group(alts, *optional, cx)),
            Node::Repeat { unit, optional } => out.extend(repeated(unit, *optional, cx)),
            Node::Dots => {
                if let Some(last) = out.last_mut() {
                    last.multiple = true;
                }
            }
        }
    }
    out
}

fn tokened_block(tok: &str, inner: Arg) -> Arg {
    let mut b = Arg::new(token_name(tok), ArgType::Block);
    b.token = Some(tok.to_string());
    b.args = vec![inner];
    b
}

/// One argument from a list: itself if single, else a block.
fn single_or_block(mut args: Vec<Arg>) -> Option<Arg> {
    match args.len() {
        0 => None,
        1 => args.pop(),
        _ => Some(Arg::block(args)),
    }
}

fn group(alts: &[Vec<Node>], optional: bool, cx: &SyntaxCx) -> Option<Arg> {
    let mut choices: Vec<Arg> = alts
        .iter()
        .filter_map(|alt| single_or_block(build(alt, cx)))
        .collect();
    let mut a = if alts.len() > 1 && choices.len() > 1 {
        Arg::one_of(choices)
    } else {
        choices.pop()?
    };
    a.optional |= optional;
    Some(a)
}

fn repeated(unit: &[Node], optional: bool, cx: &SyntaxCx) -> Option<Arg> {
    let mut a = single_or_block(build(unit, cx))?;
    a.multiple = true;
    // A token at the head of the unit is repeated with every instance (`GET pattern [GET
    // pattern ...]`), which is what `multiple_token` means.
    a.multiple_token = a.token.is_some();
    a.optional |= optional;
    Some(a)
}

/// The COMMAND DOCS argument tree of a syntax string. Total: any input gives some tree.
pub fn parse_syntax(syntax: &str, cx: &SyntaxCx) -> Vec<Arg> {
    let toks = tokenize(syntax);
    let mut pos = 0;
    let mut alts = parse_alts(&toks, &mut pos, 0);
    if alts.len() > 1 {
        let alts: Vec<Vec<Node>> = alts.into_iter().map(fold).collect();
        return group(&alts, false, cx).into_iter().collect();
    }
    build(&fold(alts.pop().unwrap_or_default()), cx)
}

/// The argument hint redis-cli 7.0 prints for an argument list (its `cliConcatArguments`), for
/// tests and for checking the table's syntax strings against what clients will show.
pub fn render_hint(args: &[Arg]) -> String {
    fn one(a: &Arg) -> String {
        let mut token_part = a.token.clone().unwrap_or_default();
        let repeat = match a.kind {
            ArgType::OneOf => a.args.iter().map(one).collect::<Vec<_>>().join("|"),
            ArgType::Block => render_hint(&a.args),
            ArgType::PureToken => String::new(),
            _ => a.name.clone(),
        };
        if !token_part.is_empty() && a.kind != ArgType::PureToken {
            token_part.push(' ');
        }
        let mut s = String::new();
        if a.optional {
            s.push('[');
        }
        s.push_str(&token_part);
        s.push_str(&repeat);
        if a.multiple {
            s.push_str(" [");
            if a.multiple_token {
                s.push_str(&token_part);
            }
            s.push_str(&repeat);
            s.push_str(" ...]");
        }
        if a.optional {
            s.push(']');
        }
        s
    }
    args.iter().map(one).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const CX: SyntaxCx = SyntaxCx {
        float_increment: false,
        float_timeout: false,
    };

    fn hint(s: &str) -> String {
        render_hint(&parse_syntax(s, &CX))
    }

    #[test]
    fn simple_and_repeated_keys() {
        let a = parse_syntax("key [key ...]", &CX);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].name, "key");
        assert_eq!(a[0].kind, ArgType::Key);
        assert!(a[0].multiple && !a[0].optional && !a[0].multiple_token);
        assert_eq!(hint("key [key ...]"), "key [key ...]");
    }

    #[test]
    fn key_value_pairs_are_one_repeated_block() {
        let a = parse_syntax("key value [key value ...]", &CX);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, ArgType::Block);
        assert!(a[0].multiple);
        assert_eq!(a[0].args.len(), 2);
        assert_eq!(a[0].args[0].kind, ArgType::Key);
        assert_eq!(a[0].args[1].kind, ArgType::String);
        assert_eq!(
            hint("key value [key value ...]"),
            "key value [key value ...]"
        );
    }

    #[test]
    fn set_matches_redis() {
        let s = "key value [NX | XX] [GET] [EX seconds | PX milliseconds | EXAT unix-time-seconds \
                 | PXAT unix-time-milliseconds | KEEPTTL]";
        let a = parse_syntax(s, &CX);
        assert_eq!(a.len(), 5);
        assert_eq!(a[2].kind, ArgType::OneOf);
        assert_eq!(a[2].name, "condition");
        assert!(a[2].optional);
        assert_eq!(a[2].args[0].kind, ArgType::PureToken);
        assert_eq!(a[2].args[0].token.as_deref(), Some("NX"));
        assert_eq!(a[3].kind, ArgType::PureToken);
        assert_eq!(a[3].name, "get");
        assert_eq!(a[4].name, "expiration");
        assert_eq!(a[4].args[0].name, "seconds");
        assert_eq!(a[4].args[0].kind, ArgType::Integer);
        assert_eq!(a[4].args[0].token.as_deref(), Some("EX"));
        assert_eq!(a[4].args[2].kind, ArgType::UnixTime);
        assert_eq!(a[4].args[4].kind, ArgType::PureToken);
        // What redis-cli 7.0 prints for real Redis's SET.
        assert_eq!(
            render_hint(&a),
            "key value [NX|XX] [GET] [EX seconds|PX milliseconds|EXAT unix-time-seconds|\
             PXAT unix-time-milliseconds|KEEPTTL]"
        );
    }

    #[test]
    fn tokens_before_groups_and_repeats() {
        assert_eq!(
            hint("[FILTERBY <MODULE module-name | ACLCAT category | PATTERN pattern>]"),
            "[FILTERBY MODULE module-name|ACLCAT category|PATTERN pattern]"
        );
        let a = parse_syntax("[FILTERBY <MODULE module-name | ACLCAT category>]", &CX);
        assert_eq!(a[0].kind, ArgType::OneOf);
        assert_eq!(a[0].token.as_deref(), Some("FILTERBY"));

        let a = parse_syntax("[GET pattern [GET pattern ...]]", &CX);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, ArgType::Pattern);
        assert!(a[0].optional && a[0].multiple && a[0].multiple_token);
        assert_eq!(
            hint("[GET pattern [GET pattern ...]]"),
            "[GET pattern [GET pattern ...]]"
        );

        let a = parse_syntax("[ID client-id [client-id ...]]", &CX);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].token.as_deref(), Some("ID"));
        assert!(a[0].multiple && !a[0].multiple_token);
        assert_eq!(
            hint("[ID client-id [client-id ...]]"),
            "[ID client-id [client-id ...]]"
        );

        // An optional tokened first member keeps its token (CLIENT KILL's filters).
        assert_eq!(
            hint("ip:port | [ID client-id] [USER username]"),
            "ip:port|[ID client-id] [USER username]"
        );

        let a = parse_syntax("key [LIMIT offset count]", &CX);
        assert_eq!(a[1].kind, ArgType::Block);
        assert_eq!(a[1].token.as_deref(), Some("LIMIT"));
        assert_eq!(a[1].args[0].kind, ArgType::Integer);
        assert_eq!(hint("key [LIMIT offset count]"), "key [LIMIT offset count]");
    }

    #[test]
    fn nested_blocks() {
        let s = "[protover [AUTH username password] [SETNAME clientname]]";
        let a = parse_syntax(s, &CX);
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, ArgType::Block);
        assert!(a[0].optional);
        assert_eq!(a[0].args[0].kind, ArgType::Integer);
        assert_eq!(a[0].args[1].token.as_deref(), Some("AUTH"));
        assert_eq!(hint(s), s);
        let x = "key [NOMKSTREAM] [<MAXLEN | MINID> [= | ~] threshold [LIMIT count]] <* | id> \
                 field value [field value ...]";
        assert_eq!(
            hint(x),
            "key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value \
             [field value ...]"
        );
    }

    #[test]
    fn types_follow_names_and_context() {
        let a = parse_syntax(
            "key1 key2 source destination newkey pattern count index2 other",
            &CX,
        );
        let kinds: Vec<ArgType> = a.iter().map(|a| a.kind).collect();
        use ArgType::*;
        assert_eq!(
            kinds,
            [Key, Key, Key, Key, Key, Pattern, Integer, Integer, String]
        );
        let fcx = SyntaxCx {
            float_increment: true,
            float_timeout: true,
        };
        assert_eq!(parse_syntax("increment", &CX)[0].kind, Integer);
        assert_eq!(parse_syntax("increment", &fcx)[0].kind, Double);
        assert_eq!(parse_syntax("key [key ...] timeout", &fcx)[1].kind, Double);
    }

    #[test]
    fn malformed_input_never_panics() {
        let nasty = [
            "",
            " ",
            "[",
            "]",
            "<",
            ">",
            "|",
            "...",
            "[...]",
            "[[[[",
            "]]]]",
            "a | | b",
            "[a |]",
            "[| a]",
            "KEY [",
            "x ... ...",
            "[x ...] [x ...]",
            "<>",
            "[ ]",
            "a....b",
            "..",
            ".",
            "A B C",
            "ÄÖ [é ...]",
            "[a [b [c [d [e [f [g [h [i [j [k [l [m [n [o [p [q [r]]]]]",
            "TOKEN",
            "TOKEN [",
            "TOKEN <",
            "TOKEN [x ...]",
            "<a|b> ...",
            "\"\" *",
            "[[a ...] ...]",
        ];
        for s in nasty {
            let args = parse_syntax(s, &CX);
            let _ = render_hint(&args);
            fn check(a: &[Arg]) {
                for x in a {
                    if matches!(x.kind, ArgType::OneOf | ArgType::Block) {
                        assert!(!x.args.is_empty(), "{x:?}");
                    }
                    check(&x.args);
                }
            }
            check(&args);
        }
        // Every prefix of a real syntax string, too.
        let s = "key [NOMKSTREAM] [<MAXLEN | MINID> [= | ~] threshold [LIMIT count]] <* | id>";
        for i in 0..=s.len() {
            let _ = render_hint(&parse_syntax(&s[..i], &CX));
        }
    }
}
