//! Access control lists: users, their rules, the permission check and the ACL log, as Redis 7.0
//! has them, selectors included (first-argument rules are not).
//!
//! ## Users
//! [`Acl`] maps names to [`User`]s. A user's [`Rules`] sit behind its own lock and are changed in
//! place by `ACL SETUSER`, so a connection logged in as the user (which holds the `Arc`) obeys the
//! new rules from its next command, as in Redis. `default` always exists; `requirepass` is its
//! password (`CONFIG SET requirepass` rewrites it). A deleted user's connections are closed
//! (`commands::acl`).
//!
//! ## The ACL file
//! With `aclfile` set, start-up loads the users from it (and stops on an error, as Redis does),
//! ACL LOAD replaces every user with the file's (all or nothing; users that are gone lose their
//! connections, the others keep theirs under the new rules) and ACL SAVE writes the `ACL LIST`
//! lines to it (a temporary file renamed over it). A file without `default` gets the default
//! user's defaults (`on nopass ~* &* +@all`).
//!
//! ## The check
//! [`User::unrestricted`] is one relaxed load: it holds while the user may run every command on
//! every key and channel (the default user, unless someone restricts it), and then nothing else is
//! looked at, so the common case adds one branch per command. Otherwise [`Rules::check`] tests the
//! command's bit (one per command-table id, subcommands included), the keys the command names
//! (write commands need a pattern that allows writing, read commands one that allows reading) and
//! the channels of the pub/sub commands.
//!
//! ## Selectors
//! A rule in parentheses, `(+set ~app:*)`, is a selector: a set of command, key and channel
//! rules of its own, starting from nothing ([`Perms`]). A user's root rules are one such set,
//! and a command runs when the root rules or any selector allow all of it (its command, every
//! key, every channel). When none does, the refusal reported and logged is the one that got
//! furthest, as Redis ranks them: a channel over a key over the command, and of two key
//! refusals the later key. SETUSER (and an ACL file line) joins a selector split over several
//! arguments ([`merge_selectors`]); `clearselectors` and `reset` remove them; ACL LIST writes
//! each after the root rules in parentheses and GETUSER lists them.
//!
//! ## Describing the rules
//! `ACL LIST` and `ACL GETUSER` describe the commands a user may run the way Redis 7.0 does: they
//! are recomputed from the resulting permissions, not echoed. Starting from `+@all` (when the user
//! may run commands added later) or `-@all`, category rules are named while one makes more
//! commands agree with the user's than it makes disagree (the best first), then single commands
//! (and subcommands) fix the rest. So `+@all +get` lists as `+@all`, and `+@all -@dangerous` as
//! itself although every `@admin` command is dangerous too. Redis 7.0 also picks categories by fit;
//! its choice can differ in unusual mixes (`-@all +@read -@string`), with the same permissions.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use sha2::{Digest, Sha256};

use crate::commands::{table, CommandSpec, Table};
use crate::util::glob::glob_match;
use crate::util::hex;

/// Redis 7.0's categories, in the order `ACL CAT` and COMMAND INFO list them
/// (`ACLCommandCategories`).
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Entries the ACL log keeps (Redis's `acllog-max-len` default).
const LOG_MAX: usize = 128;
/// A denial repeating an entry within this many ms is counted on it rather than added.
const LOG_GROUP_MS: u64 = 60_000;

/// A key pattern and what it allows.
#[derive(Clone, PartialEq, Eq)]
struct KeyPattern {
    pat: Vec<u8>,
    read: bool,
    write: bool,
}

/// What a user may do. Cloned, changed and stored back by SETUSER, so a failing rule changes
/// nothing.
#[derive(Clone)]
pub struct Rules {
    pub enabled: bool,
    nopass: bool,
    /// `sanitize-payload` (true) or `skip-sanitize-payload` (false), once either was set.
    sanitize: Option<bool>,
    /// SHA-256 of each password, in the order they were added.
    passwords: Vec<[u8; 32]>,
    /// The rules given outside parentheses.
    pub root: Perms,
    /// Selectors (`(...)` rules), in the order they were added.
    pub selectors: Vec<Perms>,
}

/// One set of permissions: the commands, keys and channels it allows. A user has its root set
/// and any number of selectors; a command runs when any of them allows all of it.
#[derive(Clone)]
pub struct Perms {
    /// One bit per command-table id.
    allowed: Vec<bool>,
    /// Commands added later are allowed too (`+@all`).
    future: bool,
    allkeys: bool,
    keys: Vec<KeyPattern>,
    allchannels: bool,
    channels: Vec<Vec<u8>>,
}

/// Why a command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// Not allowed to run the command (its full name, `config|set`).
    Command(String),
    Key(Vec<u8>),
    Channel(Vec<u8>),
}

impl Denied {
    pub fn reason(&self) -> &'static str {
        match self {
            Denied::Command(_) => "command",
            Denied::Key(_) => "key",
            Denied::Channel(_) => "channel",
        }
    }

    fn object(&self) -> &[u8] {
        match self {
            Denied::Command(c) => c.as_bytes(),
            Denied::Key(k) | Denied::Channel(k) => k,
        }
    }

    /// The NOPERM error a client gets.
    pub fn error(&self) -> String {
        match self {
            Denied::Command(c) => {
                format!("NOPERM this user has no permissions to run the '{c}' command")
            }
            Denied::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .into()
            }
            Denied::Channel(_) => "NOPERM this user has no permissions to access one of the \
                                   channels used as arguments"
                .into(),
        }
    }

    /// What `ACL DRYRUN` says.
    pub fn explain(&self) -> String {
        let what = String::from_utf8_lossy(self.object());
        match self {
            Denied::Command(_) => {
                format!("This user has no permissions to run the '{what}' command")
            }
            Denied::Key(_) => format!("This user has no permissions to access the '{what}' key"),
            Denied::Channel(_) => {
                format!("This user has no permissions to access the '{what}' channel")
            }
        }
    }

    /// The error `redis.call` raises in a script (Redis's `getAclErrorMessage`).
    pub fn script_error(&self) -> &'static str {
        match self {
            Denied::Command(_) => {
                "ERR The user executing the script can't run this command or subcommand"
            }
            Denied::Key(_) => {
                "ERR The user executing the script can't access at least one of the keys \
                 mentioned in the command arguments"
            }
            Denied::Channel(_) => {
                "ERR The user executing the script can't publish to the channel mentioned in \
                 the command"
            }
        }
    }

    /// The error a queued command gets at EXEC when the rules changed since it was queued.
    pub fn exec_error(&self) -> String {
        let why = match self {
            Denied::Command(_) => "no permission to execute the command or subcommand",
            Denied::Key(_) => "no permission to touch the specified keys",
            Denied::Channel(_) => "no permission to access one of the channels used as arguments",
        };
        format!(
            "NOPERM ACLs rules changed between the moment the transaction was accumulated and \
             the EXEC call. This command is no longer allowed for the following reason: {why}"
        )
    }
}

fn sha256(pass: &[u8]) -> [u8; 32] {
    Sha256::digest(pass).into()
}

fn unhex(s: &[u8]) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let mut h = [0u8; 32];
    for (i, pair) in s.chunks(2).enumerate() {
        h[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(h)
}

/// Ids of `id`'s subcommands: the table adds them right after their container.
fn subs(t: &Table, id: usize) -> std::ops::Range<usize> {
    id + 1..id + 1 + t.specs[id].subcommands.len()
}

/// Each command id's categories, one bit per [`CATEGORIES`] entry (a container has its own,
/// `@slow` mostly, as in Redis).
fn category_bits() -> &'static [u32] {
    static BITS: std::sync::OnceLock<Vec<u32>> = std::sync::OnceLock::new();
    BITS.get_or_init(|| {
        table()
            .specs
            .iter()
            .map(|spec| {
                let cats = spec.categories();
                let mut bits = 0;
                for (i, c) in CATEGORIES.iter().enumerate() {
                    if cats.contains(c) {
                        bits |= 1 << i;
                    }
                }
                bits
            })
            .collect()
    })
}

/// Whether command `id` is in category `cat` (`all`: every command).
pub fn in_category(id: usize, cat: &str) -> bool {
    let bits = category_bits()[id];
    match CATEGORIES.iter().position(|c| *c == cat) {
        Some(i) => bits & (1 << i) != 0,
        None => cat == "all",
    }
}

impl Rules {
    /// A new user: off, no passwords, no commands, keys or channels.
    fn empty() -> Rules {
        Rules {
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            root: Perms::empty(),
            selectors: Vec::new(),
        }
    }

    /// The default user: on, nopass, everything.
    fn everything() -> Rules {
        let mut r = Rules::empty();
        r.enabled = true;
        r.nopass = true;
        r.root.set_category("all", true);
        r.root.allkeys = true;
        r.root.allchannels = true;
        r
    }

    fn unrestricted(&self) -> bool {
        self.root.unrestricted()
    }

    /// Applies one SETUSER rule (a selector arrives whole, its parts merged by
    /// [`merge_selectors`]); the error is the reason Redis gives.
    fn apply(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        let low = rule.to_ascii_lowercase();
        match low.as_slice() {
            b"on" => self.enabled = true,
            b"off" => self.enabled = false,
            b"nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            b"resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            b"sanitize-payload" => self.sanitize = Some(true),
            b"skip-sanitize-payload" => self.sanitize = Some(false),
            b"clearselectors" => self.selectors.clear(),
            b"reset" => {
                *self = Rules::empty();
                self.sanitize = Some(true);
            }
            _ => match rule.first() {
                Some(&c @ (b'>' | b'#' | b'<' | b'!')) => self.password_rule(c, &rule[1..])?,
                Some(b'(') if rule.len() > 1 && rule.ends_with(b")") => {
                    // A selector starts with nothing allowed; its rules are its own.
                    let mut sel = Perms::empty();
                    for r in rule[1..rule.len() - 1].split(|c| c.is_ascii_whitespace()) {
                        if !r.is_empty() {
                            sel.apply(r)?;
                        }
                    }
                    self.selectors.push(sel);
                }
                _ => self.root.apply(rule)?,
            },
        }
        Ok(())
    }

    /// `>`/`<` give a password, `#`/`!` its hash; `>`/`#` add, `<`/`!` remove.
    fn password_rule(&mut self, c: u8, arg: &[u8]) -> Result<(), &'static str> {
        const BAD_HASH: &str = "The password hash must be exactly 64 characters and contain only \
                                lowercase hexadecimal characters";
        let h = if matches!(c, b'>' | b'<') {
            sha256(arg)
        } else {
            unhex(arg).ok_or(BAD_HASH)?
        };
        if matches!(c, b'>' | b'#') {
            if !self.passwords.contains(&h) {
                self.passwords.push(h);
            }
            self.nopass = false;
        } else {
            let before = self.passwords.len();
            self.passwords.retain(|p| *p != h);
            if self.passwords.len() == before {
                return Err("The password you are trying to remove from the user does not exist");
            }
        }
        Ok(())
    }

    /// `on nopass sanitize-payload` and the like, in Redis's order.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Some(false) => f.push("skip-sanitize-payload"),
            Some(true) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }

    pub fn password_hashes(&self) -> Vec<String> {
        self.passwords.iter().map(|p| hex(p)).collect()
    }

    /// The ACL LIST line after `user <name> `: each selector follows the root rules in
    /// parentheses.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.flags().iter().map(|s| s.to_string()).collect();
        parts.extend(self.passwords.iter().map(|p| format!("#{}", hex(p))));
        parts.push(self.root.describe());
        parts.extend(self.selectors.iter().map(|s| format!("({})", s.describe())));
        parts.join(" ")
    }

    fn password_ok(&self, pass: &[u8]) -> bool {
        if self.nopass {
            return true;
        }
        let h = sha256(pass);
        // Compares every stored hash in full, so timing says nothing about which one matched.
        self.passwords.iter().fold(false, |ok, p| {
            ok | (p.iter().zip(&h).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0)
        })
    }

    /// Whether this user may run command `id` (`spec`) with `args` (the whole command, name
    /// first): the root rules or any selector must allow all of it. When none does, the refusal
    /// reported is the one that got furthest, as Redis picks it: a channel over a key over the
    /// command, and of two keys the later one.
    pub fn check(
        &self,
        id: usize,
        spec: &CommandSpec,
        args: crate::protocol::resp::Args,
    ) -> Result<(), Denied> {
        let mut worst: Option<(u8, usize, Denied)> = None;
        for p in std::iter::once(&self.root).chain(&self.selectors) {
            let (d, at) = match p.check(id, spec, args) {
                Ok(()) => return Ok(()),
                Err(e) => e,
            };
            let rank = match d {
                Denied::Command(_) => 0,
                Denied::Key(_) => 1,
                Denied::Channel(_) => 2,
            };
            if worst.as_ref().is_none_or(|(r, a, _)| (rank, at) > (*r, *a)) {
                worst = Some((rank, at, d));
            }
        }
        Err(worst.map(|w| w.2).expect("the root rules were checked"))
    }
}

/// The reason a selector's opening argument `open` is refused when no argument closes it.
pub fn unmatched_selector(open: &[u8]) -> String {
    format!(
        "Unmatched parenthesis in acl selector starting at '{}'",
        String::from_utf8_lossy(open)
    )
}

/// SETUSER arguments (or an ACL file line's words) with each selector whole: an argument that
/// opens a parenthesis without closing it is joined, with spaces, to those that follow up to one
/// that closes it (Redis's `ACLMergeSelectorArguments`). Err: the argument that opened a
/// parenthesis never closed.
pub fn merge_selectors<'a>(args: &[&'a [u8]]) -> Result<Vec<std::borrow::Cow<'a, [u8]>>, &'a [u8]> {
    let mut out = Vec::with_capacity(args.len());
    let mut open: Option<(usize, Vec<u8>)> = None;
    for (i, &a) in args.iter().enumerate() {
        let closes = a.last() == Some(&b')');
        match open.as_mut() {
            Some((_, sel)) => {
                sel.push(b' ');
                sel.extend_from_slice(a);
                if closes {
                    if let Some((_, sel)) = open.take() {
                        out.push(std::borrow::Cow::Owned(sel));
                    }
                }
            }
            None if a.first() == Some(&b'(') && (!closes || a.len() == 1) => {
                open = Some((i, a.to_vec()));
            }
            None => out.push(std::borrow::Cow::Borrowed(a)),
        }
    }
    match open {
        Some((i, _)) => Err(args[i]),
        None => Ok(out),
    }
}

impl Perms {
    fn empty() -> Perms {
        Perms {
            allowed: vec![false; table().specs.len()],
            future: false,
            allkeys: false,
            keys: Vec::new(),
            allchannels: false,
            channels: Vec::new(),
        }
    }

    fn unrestricted(&self) -> bool {
        self.future && self.allkeys && self.allchannels && self.allowed.iter().all(|&b| b)
    }

    /// Allows or forbids every command of `cat` (`all`: every command, and those added later).
    fn set_category(&mut self, cat: &str, allow: bool) {
        for (id, a) in self.allowed.iter_mut().enumerate() {
            if in_category(id, cat) {
                *a = allow;
            }
        }
        if cat == "all" {
            self.future = allow;
        }
    }

    /// Applies one rule about commands, keys or channels; the error is the reason Redis gives
    /// (anything else, `on` or a password inside a selector for one, is a syntax error).
    fn apply(&mut self, rule: &[u8]) -> Result<(), &'static str> {
        const SYNTAX: &str = "Syntax error";
        const UNKNOWN: &str = "Unknown command or category name in ACL";
        let low = rule.to_ascii_lowercase();
        match low.as_slice() {
            b"allkeys" => {
                self.allkeys = true;
                self.keys.clear();
            }
            b"resetkeys" => {
                self.allkeys = false;
                self.keys.clear();
            }
            b"allchannels" => {
                self.allchannels = true;
                self.channels.clear();
            }
            b"resetchannels" => {
                self.allchannels = false;
                self.channels.clear();
            }
            b"allcommands" => self.set_category("all", true),
            b"nocommands" => self.set_category("all", false),
            _ => match rule.first() {
                Some(b'~') | Some(b'%') => {
                    // Redis refuses any pattern after `allkeys` before reading the pattern.
                    if self.allkeys {
                        return Err(
                            "Adding a pattern after the * pattern (or the 'allkeys' flag) \
                                    is not valid and does not have any effect. Try 'resetkeys' \
                                    to start with an empty list of patterns",
                        );
                    }
                    let (read, write, pat) = if rule[0] == b'~' {
                        (true, true, &rule[1..])
                    } else {
                        let tilde = rule.iter().position(|&c| c == b'~').ok_or(SYNTAX)?;
                        let perms = &low[1..tilde];
                        if perms.is_empty() || !perms.iter().all(|c| matches!(c, b'r' | b'w')) {
                            return Err(SYNTAX);
                        }
                        (
                            perms.contains(&b'r'),
                            perms.contains(&b'w'),
                            &rule[tilde + 1..],
                        )
                    };
                    if pat == b"*" && read && write {
                        self.allkeys = true;
                        self.keys.clear();
                    } else {
                        let kp = KeyPattern {
                            pat: pat.to_vec(),
                            read,
                            write,
                        };
                        if !self.keys.contains(&kp) {
                            self.keys.push(kp);
                        }
                    }
                }
                Some(b'&') => {
                    if self.allchannels {
                        return Err(
                            "Adding a pattern after the * pattern (or the 'allchannels' \
                                    flag) is not valid and does not have any effect. Try \
                                    'resetchannels' to start with an empty list of channels",
                        );
                    }
                    let pat = &rule[1..];
                    if pat == b"*" {
                        self.allchannels = true;
                        self.channels.clear();
                    } else if !self.channels.iter().any(|c| c == pat) {
                        self.channels.push(pat.to_vec());
                    }
                }
                Some(&sign @ (b'+' | b'-')) => {
                    let allow = sign == b'+';
                    let name = std::str::from_utf8(&low[1..]).map_err(|_| UNKNOWN)?;
                    if let Some(cat) = name.strip_prefix('@') {
                        if cat != "all" && !CATEGORIES.contains(&cat) {
                            return Err(UNKNOWN);
                        }
                        self.set_category(cat, allow);
                    } else {
                        let t = table();
                        let (cmd, sub) = match name.split_once('|') {
                            Some((c, s)) => (c, Some(s)),
                            None => (name, None),
                        };
                        let id = t.lookup(cmd.as_bytes()).ok_or(UNKNOWN)?;
                        match sub {
                            None => {
                                self.allowed[id] = allow;
                                for s in subs(t, id) {
                                    self.allowed[s] = allow;
                                }
                            }
                            Some(s) => {
                                let sid = t.lookup_sub(id, s.as_bytes()).ok_or(UNKNOWN)?;
                                self.allowed[sid] = allow;
                            }
                        }
                    }
                }
                _ => return Err(SYNTAX),
            },
        }
        Ok(())
    }

    /// The command rules as Redis 7.0 describes them (see the module docs).
    pub fn describe_commands(&self) -> String {
        let t = table();
        let mut fake = Perms::empty();
        let mut out = String::from(if self.future { "+@all" } else { "-@all" });
        fake.set_category("all", self.future);
        // Best fit first: the category rule that makes the most commands agree (net of those
        // it makes disagree), until none helps; ties go to the earlier category.
        loop {
            let mut best: Option<(i64, &str, bool)> = None;
            for cat in CATEGORIES {
                for allow in [true, false] {
                    let mut gain = 0i64;
                    for id in 0..t.specs.len() {
                        if in_category(id, cat) && fake.allowed[id] != allow {
                            gain += if self.allowed[id] == allow { 1 } else { -1 };
                        }
                    }
                    if gain > 0 && best.is_none_or(|(g, _, _)| gain > g) {
                        best = Some((gain, cat, allow));
                    }
                }
            }
            let Some((_, cat, allow)) = best else { break };
            out.push_str(if allow { " +@" } else { " -@" });
            out.push_str(cat);
            fake.set_category(cat, allow);
        }
        for id in 0..t.specs.len() {
            if t.full_names[id].contains('|') {
                continue;
            }
            if self.allowed[id] != fake.allowed[id] {
                let allow = self.allowed[id];
                out.push_str(if allow { " +" } else { " -" });
                out.push_str(&t.full_names[id]);
                fake.allowed[id] = allow;
                for s in subs(t, id) {
                    fake.allowed[s] = allow;
                }
            }
            for s in subs(t, id) {
                if self.allowed[s] != fake.allowed[s] {
                    out.push_str(if self.allowed[s] { " +" } else { " -" });
                    out.push_str(&t.full_names[s]);
                    fake.allowed[s] = self.allowed[s];
                }
            }
        }
        out
    }

    /// `~*`, or each pattern (`~p`, `%R~p`, `%W~p`), space-separated.
    pub fn describe_keys(&self) -> String {
        if self.allkeys {
            return "~*".into();
        }
        let mut parts = Vec::new();
        for k in &self.keys {
            let prefix = match (k.read, k.write) {
                (true, true) => "~",
                (true, false) => "%R~",
                _ => "%W~",
            };
            parts.push(format!("{prefix}{}", String::from_utf8_lossy(&k.pat)));
        }
        parts.join(" ")
    }

    pub fn describe_channels(&self) -> String {
        if self.allchannels {
            return "&*".into();
        }
        let parts: Vec<String> = self
            .channels
            .iter()
            .map(|c| format!("&{}", String::from_utf8_lossy(c)))
            .collect();
        parts.join(" ")
    }

    /// Keys, channels and commands as `ACL LIST` writes them.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        let keys = self.describe_keys();
        if !keys.is_empty() {
            parts.push(keys);
        }
        if !self.allchannels {
            parts.push("resetchannels".into());
        }
        let channels = self.describe_channels();
        if !channels.is_empty() {
            parts.push(channels);
        }
        parts.push(self.describe_commands());
        parts.join(" ")
    }

    /// Whether these permissions allow command `id` (`spec`) with `args`; a refusal comes with
    /// the position of the argument refused (0 for the command itself).
    fn check(
        &self,
        id: usize,
        spec: &CommandSpec,
        args: crate::protocol::resp::Args,
    ) -> Result<(), (Denied, usize)> {
        let t = table();
        // AUTH, HELLO and the like are never refused: a user must be able to log in as another.
        if !self.allowed[id] && spec.flags & crate::commands::flag::NO_AUTH == 0 {
            return Err((Denied::Command(t.full_names[id].clone()), 0));
        }
        let pubsub = spec.flags & crate::commands::flag::PUBSUB != 0;
        if !self.allkeys && !pubsub {
            let write = spec.is_write();
            let read = spec.flags & crate::commands::flag::READONLY != 0;
            // Neither flag (EVAL's declared keys): reading and writing both.
            let (need_r, need_w) = if read || write {
                (read, write)
            } else {
                (true, true)
            };
            for p in crate::commands::introspection::key_positions(spec, &t.full_names[id], args) {
                let key = args.get(p);
                let ok = self.keys.iter().any(|k| {
                    (!need_r || k.read) && (!need_w || k.write) && glob_match(&k.pat, key, false)
                });
                if !ok {
                    return Err((Denied::Key(key.to_vec()), p));
                }
            }
        }
        if !self.allchannels && pubsub {
            let name = t.full_names[id].as_str();
            let (from, to, literal) = match name {
                "publish" | "spublish" => (1, 2.min(args.len()), false),
                "subscribe" | "ssubscribe" => (1, args.len(), false),
                "psubscribe" => (1, args.len(), true),
                _ => (0, 0, false),
            };
            for i in from..to {
                let ch = args.get(i);
                let ok = self.channels.iter().any(|p| {
                    if literal {
                        p == ch
                    } else {
                        glob_match(p, ch, false)
                    }
                });
                if !ok {
                    return Err((Denied::Channel(ch.to_vec()), i));
                }
            }
        }
        Ok(())
    }
}

/// The users of an ACL file's text, or the errors Redis reports for it (each line's, then
/// the verdict), in Redis's words.
fn parse_file(path: &str, text: &str) -> Result<Vec<(Vec<u8>, Rules)>, String> {
    let mut users: Vec<(Vec<u8>, Rules)> = Vec::new();
    let mut errors = String::new();
    for (i, line) in text.split('\n').enumerate() {
        let n = i + 1;
        let words: Vec<&str> = line.split_ascii_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        if words[0] != "user" || words.len() < 2 {
            errors.push_str(&format!(
                "{path}:{n} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = words[1].as_bytes();
        if users.iter().any(|(u, _)| u == name) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{}' found on line {n}. ",
                words[1]
            ));
            continue;
        }
        let mut rules = Rules::empty();
        let words: Vec<&[u8]> = words[2..].iter().map(|w| w.as_bytes()).collect();
        let merged = match merge_selectors(&words) {
            Ok(m) => m,
            Err(open) => {
                errors.push_str(&format!("{path}:{n}: {}. ", unmatched_selector(open)));
                continue;
            }
        };
        match merged.iter().try_for_each(|w| rules.apply(w)) {
            Ok(()) => users.push((name.to_vec(), rules)),
            Err(why) => errors.push_str(&format!("{path}:{n}: {why}. ")),
        }
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was \
             performed",
        );
        Err(errors)
    }
}

/// An I/O error as C's `strerror` words it (Rust appends ` (os error N)`).
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A user: a name and its rules.
pub struct User {
    pub name: Vec<u8>,
    rules: RwLock<Rules>,
    /// [`Rules::unrestricted`] of the current rules, read on every command.
    unrestricted: AtomicBool,
}

impl User {
    fn new(name: &[u8], rules: Rules) -> User {
        User {
            name: name.to_vec(),
            unrestricted: AtomicBool::new(rules.unrestricted()),
            rules: RwLock::new(rules),
        }
    }

    #[inline]
    pub fn unrestricted(&self) -> bool {
        self.unrestricted.load(Ordering::Relaxed)
    }

    pub fn rules(&self) -> parking_lot::RwLockReadGuard<'_, Rules> {
        self.rules.read()
    }

    fn store(&self, rules: Rules) {
        let free = rules.unrestricted();
        *self.rules.write() = rules;
        self.unrestricted.store(free, Ordering::Relaxed);
    }

    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// The user's `ACL LIST` line, which is also its line in the ACL file.
    pub fn acl_line(&self) -> String {
        format!("user {} {}", self.name_lossy(), self.rules().describe())
    }
}

/// One ACL LOG entry.
pub struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: Vec<u8>,
    pub username: Vec<u8>,
    /// ms since the epoch of the last occurrence.
    pub at: u64,
    pub client_info: String,
}

/// Users and the ACL log.
pub struct Acl {
    users: RwLock<BTreeMap<Vec<u8>, Arc<User>>>,
    /// The `requirepass` last applied: CONFIG SET of another parameter leaves the default
    /// user's passwords alone.
    requirepass: Mutex<Option<String>>,
    /// The default user, which can't be deleted.
    pub default: Arc<User>,
    log: Mutex<VecDeque<LogEntry>>,
}

impl Acl {
    /// The default user, with `requirepass` as its password when set.
    pub fn new(requirepass: &str) -> Acl {
        let default = Arc::new(User::new(b"default", Rules::everything()));
        let acl = Acl {
            users: RwLock::new(BTreeMap::from([(b"default".to_vec(), default.clone())])),
            requirepass: Mutex::new(None),
            default,
            log: Mutex::new(VecDeque::new()),
        };
        acl.set_requirepass(requirepass);
        acl
    }

    /// `requirepass`, when it changed: the default user's only password, or `nopass` when
    /// empty.
    pub fn set_requirepass(&self, pass: &str) {
        // As SETUSER does, so a concurrent one is not undone.
        let _users = self.users.write();
        {
            let mut last = self.requirepass.lock();
            if last.as_deref() == Some(pass) {
                return;
            }
            *last = Some(pass.to_string());
        }
        let mut r = self.default.rules().clone();
        r.passwords.clear();
        r.nopass = pass.is_empty();
        if !pass.is_empty() {
            r.passwords.push(sha256(pass.as_bytes()));
        }
        self.default.store(r);
    }

    /// Whether a new connection must log in: the default user needs a password or is off.
    pub fn login_required(&self) -> bool {
        let r = self.default.rules();
        !(r.enabled && r.nopass)
    }

    pub fn get(&self, name: &[u8]) -> Option<Arc<User>> {
        self.users.read().get(name).cloned()
    }

    pub fn names(&self) -> Vec<Vec<u8>> {
        self.users.read().keys().cloned().collect()
    }

    pub fn all(&self) -> Vec<Arc<User>> {
        self.users.read().values().cloned().collect()
    }

    /// The user `name` if it is on and `pass` is one of its passwords.
    pub fn authenticate(&self, name: &[u8], pass: &[u8]) -> Option<Arc<User>> {
        let u = self.get(name)?;
        let ok = {
            let r = u.rules();
            r.enabled && r.password_ok(pass)
        };
        ok.then_some(u)
    }

    /// ACL SETUSER: applies `rules` to a copy of the user's rules (a new user's when it does not
    /// exist) and stores them only if every rule applied. The error names the failing rule.
    pub fn set_user(&self, name: &[u8], rules: &[&[u8]]) -> Result<(), String> {
        // Held throughout: two SETUSERs of one user must not both start from the old rules.
        let mut users = self.users.write();
        let existing = users.get(name);
        let mut r = match existing {
            Some(u) => u.rules().clone(),
            None => Rules::empty(),
        };
        for rule in rules {
            if let Err(why) = r.apply(rule) {
                return Err(format!(
                    "ERR Error in ACL SETUSER modifier '{}': {why}",
                    String::from_utf8_lossy(rule)
                ));
            }
        }
        match existing {
            Some(u) => u.store(r),
            None => {
                users.insert(name.to_vec(), Arc::new(User::new(name, r)));
            }
        }
        Ok(())
    }

    /// Removes the users named; returns the removed ones.
    pub fn delete(&self, names: &[&[u8]]) -> Vec<Arc<User>> {
        let mut users = self.users.write();
        names.iter().filter_map(|n| users.remove(*n)).collect()
    }

    /// Replaces every user with those of ACL file `path` (see the module docs). Returns the
    /// users that are gone, whose connections must close; the error is Redis's text.
    pub fn load_file(&self, path: &str) -> Result<Vec<Arc<User>>, String> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "Error loading ACLs, opening file '{path}': {}",
                io_reason(&e)
            )
        })?;
        let mut loaded = parse_file(path, &text)?;
        if !loaded.iter().any(|(n, _)| n == b"default") {
            loaded.push((b"default".to_vec(), Rules::everything()));
        }
        let mut users = self.users.write();
        let mut next = BTreeMap::new();
        for (name, rules) in loaded {
            let user = match users.remove(&name) {
                Some(u) => {
                    u.store(rules);
                    u
                }
                None => Arc::new(User::new(&name, rules)),
            };
            next.insert(name, user);
        }
        let gone = std::mem::replace(&mut *users, next);
        Ok(gone.into_values().collect())
    }

    /// Writes every user's `ACL LIST` line to `path`, through a temporary file renamed over it.
    pub fn save_file(&self, path: &str) -> std::io::Result<()> {
        let mut text = String::new();
        for u in self.all() {
            text.push_str(&u.acl_line());
            text.push('\n');
        }
        let tmp = format!("{path}.tmp-{}", std::process::id());
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }

    /// Adds a denial (or an authentication failure) to the log, or counts it on the same entry
    /// from the last minute, which then moves to the front.
    pub fn log(
        &self,
        reason: &'static str,
        context: &'static str,
        object: &[u8],
        username: &[u8],
        client_info: String,
        now: u64,
    ) {
        let mut log = self.log.lock();
        let same = log.iter().position(|e| {
            e.reason == reason
                && e.context == context
                && e.object == object
                && e.username == username
                && now.saturating_sub(e.at) < LOG_GROUP_MS
        });
        if let Some(i) = same {
            if let Some(mut e) = log.remove(i) {
                e.count += 1;
                e.at = now;
                e.client_info = client_info;
                log.push_front(e);
            }
            return;
        }
        log.push_front(LogEntry {
            count: 1,
            reason,
            context,
            object: object.to_vec(),
            username: username.to_vec(),
            at: now,
            client_info,
        });
        log.truncate(LOG_MAX);
    }

    pub fn log_denied(
        &self,
        d: &Denied,
        context: &'static str,
        user: &User,
        info: String,
        now: u64,
    ) {
        self.log(d.reason(), context, d.object(), &user.name, info, now);
    }

    /// Runs `f` over the entries, newest first.
    pub fn with_log<R>(&self, f: impl FnOnce(&VecDeque<LogEntry>) -> R) -> R {
        f(&self.log.lock())
    }

    pub fn reset_log(&self) {
        self.log.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_line_with_selectors_reads_back_as_listed() {
        let line = "on nopass ~a* resetchannels -@all +get (~b* resetchannels -@all +set) (%R~c* \
                    resetchannels -@all +@read)";
        let users = parse_file("f", &format!("user u {line}\n")).expect("parses");
        assert_eq!(users[0].1.describe(), line);
        let err = parse_file("f", "user u on (+get ~x\n")
            .err()
            .expect("refused");
        assert!(
            err.starts_with("f:1: Unmatched parenthesis in acl selector starting at '(+get'. "),
            "{err}"
        );
    }

    #[test]
    fn selector_arguments_are_joined_until_one_closes() {
        let args: Vec<&[u8]> = vec![b"on", b"(+get", b"~a", b"~b)", b"(+set)", b"()", b"x)"];
        let merged = merge_selectors(&args).expect("balanced");
        let merged: Vec<&[u8]> = merged.iter().map(|m| m.as_ref()).collect();
        assert_eq!(
            merged,
            [&b"on"[..], b"(+get ~a ~b)", b"(+set)", b"()", b"x)"]
        );
        assert_eq!(merge_selectors(&[b"(", b"+get"]).err(), Some(&b"("[..]));
    }
}
