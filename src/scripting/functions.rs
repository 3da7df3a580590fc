//! FUNCTION libraries: `#!lua name=<lib>` code whose loading calls `redis.register_function`,
//! and FCALL/FCALL_RO of the functions it registered.
//!
//! A library's code runs once when loaded, in the functions' sandbox where `redis` offers only
//! `register_function`, `log` and the constants (as in Redis 7: no `redis.call` while loading).
//! A registered callback runs like a script (`engine::run`) with KEYS and ARGV as its two
//! arguments. Libraries live in the interpreter; they are persisted by the FUNCTION commands'
//! change-log records and, in snapshots, as a FUNCTION DUMP payload (`dump`/`restore`).

use std::cell::RefCell;

use mlua::{Function, Table, Value, Variadic};

use super::engine::{self, rt, Engine, Invocation};
use super::Scripting;
use crate::commands::Ctx;
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::encoding::{seal, unseal, write_string, Reader};
use crate::protocol::resp::{Args, Out};

/// Function flags Redis knows (`no-writes` is the one that changes what a function may do).
const FLAGS: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];
/// RDB_OPCODE_FUNCTION2: one library in a FUNCTION DUMP payload.
const DUMP_OPCODE: u8 = 245;

#[derive(Clone)]
pub struct Func {
    pub name: String,
    f: Function,
    pub flags: Vec<String>,
    pub description: Option<String>,
}

impl Func {
    pub(super) fn no_writes(&self) -> bool {
        self.flags.iter().any(|f| f == "no-writes")
    }

    /// The flags as a script's shebang would give them.
    pub(super) fn script_flags(&self) -> super::engine::ScriptFlags {
        super::engine::ScriptFlags {
            shebang: true,
            no_writes: self.no_writes(),
            allow_oom: self.flags.iter().any(|f| f == "allow-oom"),
        }
    }
}

#[derive(Clone)]
pub struct Library {
    pub code: Vec<u8>,
    pub functions: Vec<Func>,
}

/// RESTORE's policy for libraries that exist already.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Flush,
    Append,
    Replace,
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

fn err(s: String) -> CmdError {
    CmdError::owned(s)
}

/// The library name from the `#!lua name=<lib>` line, and where the code after it starts.
fn library_meta(code: &[u8]) -> Result<(String, usize), CmdError> {
    if !code.starts_with(b"#!") {
        return Err(error::FUNCTION_NO_METADATA.into());
    }
    let end = memchr::memchr(b'\n', code).ok_or(error::FUNCTION_BAD_METADATA)?;
    let line = String::from_utf8_lossy(&code[..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("#!").trim_start_matches("#!");
    let mut name = None;
    for p in parts {
        match p.strip_prefix("name=") {
            Some(_) if name.is_some() => return Err(error::FUNCTION_NAME_TWICE.into()),
            Some(n) => name = Some(n.to_string()),
            None => return Err(err(format!("ERR Invalid metadata value given: {p}"))),
        }
    }
    let name = name.ok_or(error::FUNCTION_NO_NAME)?;
    if !engine.eq_ignore_ascii_case("lua") {
        return Err(err(format!("ERR Engine '{engine}' not found")));
    }
    if !valid_name(&name) {
        return Err(error::LIBRARY_NAME.into());
    }
    Ok((name, end))
}

/// The name a library's code declares (`#!lua name=<lib>`), if its metadata is valid.
pub fn library_name(code: &[u8]) -> Option<String> {
    library_meta(code).ok().map(|(name, _)| name)
}

/// A string field of `redis.register_function`'s table form.
fn string_arg(v: Value, what: &str) -> mlua::Result<String> {
    match v {
        Value::String(s) => Ok(s.to_string_lossy()),
        _ => Err(rt(&format!(
            "{what} argument given to redis.register_function must be a string"
        ))),
    }
}

/// `redis.register_function(name, callback)` or `redis.register_function{function_name=...,
/// callback=..., flags={...}, description=...}` while a library loads.
fn register(registered: &RefCell<Vec<Func>>, args: Variadic<Value>) -> mlua::Result<()> {
    let (mut name, mut callback, mut flags, mut description) = (None, None, Vec::new(), None);
    match args.len() {
        1 => {
            let Some(Value::Table(t)) = args.first() else {
                return Err(rt("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments)."));
            };
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, v) = pair?;
                let key = match &k {
                    Value::String(s) => s.to_string_lossy(),
                    _ => String::new(),
                };
                match key.as_str() {
                    "function_name" => name = Some(string_arg(v, "function_name")?),
                    "description" => description = Some(string_arg(v, "description")?),
                    "callback" => match v {
                        Value::Function(f) => callback = Some(f),
                        _ => return Err(rt(
                            "callback argument given to redis.register_function must be a function",
                        )),
                    },
                    "flags" => {
                        let Value::Table(ft) = v else {
                            return Err(rt("flags argument to redis.register_function must be a table representing function flags"));
                        };
                        for f in ft.sequence_values::<Value>() {
                            match f? {
                                Value::String(s) if FLAGS.contains(&&*s.to_string_lossy()) => {
                                    flags.push(s.to_string_lossy())
                                }
                                _ => return Err(rt("unknown flag given")),
                            }
                        }
                    }
                    _ => return Err(rt("unknown argument given to redis.register_function")),
                }
            }
        }
        2 => {
            match args.first() {
                Some(Value::String(s)) => name = Some(s.to_string_lossy()),
                _ => {
                    return Err(rt(
                        "first argument to redis.register_function must be a string",
                    ))
                }
            }
            match args.get(1) {
                Some(Value::Function(f)) => callback = Some(f.clone()),
                _ => {
                    return Err(rt(
                        "second argument to redis.register_function must be a function",
                    ))
                }
            }
        }
        _ => return Err(rt("wrong number of arguments to redis.register_function")),
    }
    let name =
        name.ok_or_else(|| rt("redis.register_function must get a function name argument"))?;
    let f = callback.ok_or_else(|| rt("redis.register_function must get a callback argument"))?;
    if !valid_name(&name) {
        // Redis 7.0 words a bad function name as a bad library name.
        return Err(rt(&error::LIBRARY_NAME["ERR ".len()..]));
    }
    let mut reg = registered.borrow_mut();
    if reg.iter().any(|x| x.name == name) {
        return Err(rt("Function already exists in the library"));
    }
    reg.push(Func {
        name,
        f,
        flags,
        description,
    });
    Ok(())
}

impl Engine {
    /// Compiles `code` and runs its registrations; nothing is installed yet.
    fn build_library(&self, code: &[u8]) -> Result<(String, Library), CmdError> {
        let (name, skip) = library_meta(code)?;
        let f = self
            .compile_in(&code[skip..], "@user_function", &self.fenv)
            .map_err(|e| err(format!("ERR Error compiling function: {e}")))?;
        let registered = RefCell::new(Vec::new());
        let ran = self.lua.scope(|scope| {
            let reg =
                scope.create_function(|_, args: Variadic<Value>| register(&registered, args))?;
            let redis = self.loading_redis(reg)?;
            self.loading.call::<()>(redis)?;
            self.run.loading();
            let ran = f.call::<()>(());
            self.run.loaded();
            self.loading.call::<()>(Value::Nil)?;
            Ok(ran)
        })?;
        if let Err(e) = ran {
            let msg = match engine::error_message(&e) {
                Ok(m) | Err(m) => m,
            };
            return Err(err(format!("ERR Error registering functions: ERR {msg}")));
        }
        let functions = registered.into_inner();
        if functions.is_empty() {
            return Err(error::FUNCTION_NONE_REGISTERED.into());
        }
        Ok((
            name,
            Library {
                code: code.to_vec(),
                functions,
            },
        ))
    }

    /// The fields of the `redis` table a library sees while it loads (`loading` makes it
    /// read-only; its other fields, `call`, ..., fail as missing globals do).
    fn loading_redis(&self, register: Function) -> mlua::Result<Table> {
        let real: Table = self.lua.globals().raw_get("redis")?;
        let t = self.lua.create_table()?;
        t.raw_set("register_function", register)?;
        for k in [
            "log",
            "LOG_DEBUG",
            "LOG_VERBOSE",
            "LOG_NOTICE",
            "LOG_WARNING",
            "REDIS_VERSION",
            "REDIS_VERSION_NUM",
        ] {
            // `redis` is a read-only proxy: its fields come through `__index`.
            t.raw_set(k, real.get::<Value>(k)?)?;
        }
        Ok(t)
    }

    /// Installs `lib`, replacing a library of the same name only if `replace`. RESTORE words
    /// a name clash without quotes, as Redis 7.0 does.
    fn install(&mut self, name: String, lib: Library, replace: bool, restoring: bool) -> CmdResult {
        if !replace && self.libraries.contains_key(&name) {
            return Err(err(if restoring {
                format!("ERR Library {name} already exists")
            } else {
                format!("ERR Library '{name}' already exists")
            }));
        }
        for f in &lib.functions {
            if let Some((owner, _)) = self.find(&f.name) {
                if owner != name {
                    return Err(err(format!("ERR Function {} already exists", f.name)));
                }
            }
        }
        self.libraries.insert(name, lib);
        Ok(())
    }

    /// A function by name (any case: Redis keeps them in a case-insensitive dict), with its
    /// library's name.
    pub(super) fn find(&self, name: &str) -> Option<(&str, &Func)> {
        self.libraries.iter().find_map(|(l, lib)| {
            lib.functions
                .iter()
                .find(|f| f.name.eq_ignore_ascii_case(name))
                .map(|f| (l.as_str(), f))
        })
    }

    fn load_library(
        &mut self,
        code: &[u8],
        replace: bool,
        restoring: bool,
    ) -> Result<String, CmdError> {
        let (name, lib) = self.build_library(code)?;
        self.install(name.clone(), lib, replace, restoring)?;
        Ok(name)
    }

    fn restore(&mut self, payload: &[u8], policy: Policy) -> CmdResult {
        let body = unseal(payload).map_err(|_| error::BAD_DUMP)?;
        let mut r = Reader::new(body);
        let mut codes = Vec::new();
        while r.pos < body.len() {
            if r.u8() != Some(DUMP_OPCODE) {
                return Err(error::FUNCTION_BAD_PAYLOAD_DATA.into());
            }
            codes.push(r.string().ok_or(error::FUNCTION_BAD_PAYLOAD_LOAD)?);
        }
        // All or nothing: on any error the libraries are put back as they were.
        let before = self.libraries.clone();
        if policy == Policy::Flush {
            self.libraries.clear();
        }
        for code in codes {
            if let Err(e) = self.load_library(&code, policy == Policy::Replace, true) {
                self.libraries = before;
                return Err(e);
            }
        }
        Ok(())
    }

    fn dump(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for lib in self.libraries.values() {
            out.push(DUMP_OPCODE);
            write_string(&mut out, &lib.code);
        }
        seal(out)
    }

    fn list(&self, out: &mut Out, pattern: Option<&[u8]>, code: bool) {
        let libs: Vec<(&String, &Library)> = self
            .libraries
            .iter()
            .filter(|(n, _)| {
                pattern.is_none_or(|p| crate::util::glob::glob_match(p, n.as_bytes(), false))
            })
            .collect();
        out.array(libs.len());
        for (name, lib) in libs {
            out.map(if code { 4 } else { 3 });
            out.bulk(b"library_name");
            out.bulk(name.as_bytes());
            out.bulk(b"engine");
            out.bulk(b"LUA");
            out.bulk(b"functions");
            out.array(lib.functions.len());
            for f in &lib.functions {
                out.map(3);
                out.bulk(b"name");
                out.bulk(f.name.as_bytes());
                out.bulk(b"description");
                match &f.description {
                    Some(d) => out.bulk(d.as_bytes()),
                    None => out.null(),
                }
                out.bulk(b"flags");
                out.set(f.flags.len());
                for fl in &f.flags {
                    out.simple(fl);
                }
            }
            if code {
                out.bulk(b"library_code");
                out.bulk(&lib.code);
            }
        }
    }

    pub(super) fn counts(&self) -> (usize, usize) {
        (
            self.libraries.len(),
            self.libraries.values().map(|l| l.functions.len()).sum(),
        )
    }
}

impl Scripting {
    /// FUNCTION LOAD: the library's name.
    pub fn function_load(&self, code: &[u8], replace: bool) -> Result<String, CmdError> {
        self.with(|e| e.load_library(code, replace, false))
    }

    /// Every library's name and code.
    pub fn library_codes(&self) -> Vec<(String, Vec<u8>)> {
        self.engine.lock().as_ref().map_or_else(Vec::new, |e| {
            e.libraries
                .iter()
                .map(|(n, l)| (n.clone(), l.code.clone()))
                .collect()
        })
    }

    /// FUNCTION DELETE.
    pub fn function_delete(&self, name: &[u8]) -> CmdResult {
        self.with(|e| {
            let name = String::from_utf8_lossy(name);
            e.libraries
                .remove(name.as_ref())
                .map(|_| ())
                .ok_or(error::LIBRARY_NOT_FOUND.into())
        })
    }

    /// FUNCTION FLUSH.
    pub fn function_flush(&self) {
        if let Some(e) = self.engine.lock().as_mut() {
            e.libraries.clear();
            self.stats.note(e);
        }
    }

    /// FUNCTION RESTORE.
    pub fn function_restore(&self, payload: &[u8], policy: Policy) -> CmdResult {
        self.with(|e| e.restore(payload, policy))
    }

    /// FUNCTION DUMP (also what snapshots store).
    pub fn function_dump(&self) -> Vec<u8> {
        match self.engine.lock().as_ref() {
            Some(e) => e.dump(),
            None => seal(Vec::new()),
        }
    }

    /// Whether any library is loaded (snapshots skip the block otherwise).
    pub fn has_functions(&self) -> bool {
        self.engine
            .lock()
            .as_ref()
            .is_some_and(|e| !e.libraries.is_empty())
    }

    /// FUNCTION LIST.
    pub fn function_list(&self, out: &mut Out, pattern: Option<&[u8]>, code: bool) {
        match self.engine.lock().as_ref() {
            Some(e) => e.list(out, pattern, code),
            None => out.array(0),
        }
    }
}

/// FCALL and FCALL_RO.
pub fn fcall(ctx: &mut Ctx, a: Args, ro: bool) -> CmdResult {
    let srv = ctx.srv;
    let name = String::from_utf8_lossy(a.get(1)).into_owned();
    srv.scripts.with(|engine| {
        // Redis looks the function up before it reads numkeys.
        let Some((_, func)) = engine.find(&name) else {
            return Err(error::FUNCTION_NOT_FOUND.into());
        };
        let (keys, argv) = engine::split_keys(&a, error::FUNCTION_NUMKEYS)?;
        if ro && !func.no_writes() {
            return Err(error::SCRIPT_RO_WRITE_FLAG.into());
        }
        let f = func.f.clone();
        let read_only = ro || func.no_writes();
        engine::run(
            ctx,
            engine,
            Invocation {
                f: &f,
                name: &name,
                read_only,
                function: true,
                keys,
                argv,
                command: a,
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_metadata_is_parsed_like_redis() {
        assert_eq!(
            library_meta(b"#!lua name=mylib\nx").ok(),
            Some(("mylib".into(), 16))
        );
        assert_eq!(
            library_meta(b"return 1").err(),
            Some(error::FUNCTION_NO_METADATA.into())
        );
        assert_eq!(
            library_meta(b"#!lua name=a").err(),
            Some(error::FUNCTION_BAD_METADATA.into())
        );
        assert_eq!(
            library_meta(b"#!lua\n").err(),
            Some(error::FUNCTION_NO_NAME.into())
        );
        assert_eq!(
            library_meta(b"#!lua name=a name=b\n").err(),
            Some(error::FUNCTION_NAME_TWICE.into())
        );
        assert_eq!(
            library_meta(b"#!lua name=a b=c\n").err(),
            Some(err("ERR Invalid metadata value given: b=c".into()))
        );
        assert_eq!(
            library_meta(b"#!js name=a\n").err(),
            Some(err("ERR Engine 'js' not found".into()))
        );
        assert_eq!(
            library_meta(b"#!lua name=a-b\n").err(),
            Some(error::LIBRARY_NAME.into())
        );
    }
}
