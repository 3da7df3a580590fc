//! The interpreter: sandboxed globals, the `redis` library, the script cache, and running one
//! script (EVAL/EVALSHA) with its `redis.call`s dispatched through the command table.
//!
//! `redis.call`/`redis.pcall` are raw C functions registered once per interpreter: they read
//! their arguments from the Lua stack and push the reply onto it (`convert::push_reply`), and
//! reach the caller's command context through [`Active`], a thread-local pointer that only the
//! run sets and clears. Measured on a rate limiter, a `Lua::scope` per run (two closures created
//! and destroyed) and `mlua` values for every argument and reply cost about a fifth of the run.
//! A command called from a script runs exactly as a client's would (arity, flags, errors), in
//! the script's own
//! protocol (`redis.setresp`), with blocking commands answering as if their timeout expired.
//! Errors reach the caller as Redis 7 formats them: `<err> script: <sha>, on @user_script:<line>.`,
//! the line found by the error handler (the innermost frame of the script).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, Variadic, VmState};

use super::convert;
use super::RunState;
use crate::commands::{self, flag, Ctx};
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::txn;
use crate::protocol::resp::{Args, Out};

/// `redis.call` reached from inside another `redis.call` (nothing does this today).
const REENTERED: &str = "redis.call is not reentrant";
/// Instructions between two checks for SCRIPT KILL and the busy threshold.
const HOOK_EVERY: u32 = 10_000;

/// The SHA1 of `body`, in lower-case hex (script names, `redis.sha1hex`).
pub fn sha1hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// Flags from a script's `#!lua flags=...` line.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScriptFlags {
    /// The script has a shebang: it declares its flags (no `flags=` means it may write).
    pub shebang: bool,
    pub no_writes: bool,
    /// `allow-oom`: it may run, and write, with memory over `maxmemory`.
    pub allow_oom: bool,
}

/// A parsed `#!lua` line.
pub struct Shebang {
    pub flags: ScriptFlags,
    /// `key=value` options besides `flags=` (FUNCTION LOAD's `name=`).
    pub opts: Vec<(String, String)>,
    /// The line's length: the code starts after it (its newline kept, so line numbers in
    /// errors stay right).
    pub len: usize,
}

/// Parses the `#!` line of a script or library.
pub fn shebang(body: &[u8]) -> Result<Shebang, CmdError> {
    let mut flags = ScriptFlags::default();
    let mut opts = Vec::new();
    if !body.starts_with(b"#!") {
        return Ok(Shebang {
            flags,
            opts,
            len: 0,
        });
    }
    flags.shebang = true;
    let end = memchr::memchr(b'\n', body).unwrap_or(body.len());
    let line = String::from_utf8_lossy(&body[..end]).into_owned();
    let mut parts = line.split(' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or("#!");
    if engine != "#!lua" {
        return Err(CmdError::owned(format!(
            "ERR Unexpected engine in script shebang: {engine}"
        )));
    }
    for p in parts {
        if let Some(list) = p.strip_prefix("flags=") {
            for f in list.split(',').filter(|f| !f.is_empty()) {
                match f {
                    "no-writes" => flags.no_writes = true,
                    "allow-oom" => flags.allow_oom = true,
                    "allow-stale" | "no-cluster" | "allow-cross-slot-keys" => {}
                    _ => {
                        return Err(CmdError::owned(format!(
                            "ERR Unexpected flag in script shebang: {f}"
                        )))
                    }
                }
            }
        } else if let Some((k, v)) = p.split_once('=') {
            opts.push((k.to_string(), v.to_string()));
        } else {
            return Err(CmdError::owned(format!(
                "ERR Unknown lua shebang option: {p}"
            )));
        }
    }
    Ok(Shebang {
        flags,
        opts,
        len: end,
    })
}

struct Script {
    f: Function,
    flags: ScriptFlags,
}

/// The interpreter and what lives in it.
pub struct Engine {
    pub(super) lua: Lua,
    /// What the interrupt hook checks (FUNCTION LOAD's time limit uses it too).
    pub(super) run: Arc<RunState>,
    /// The globals scripts see (reads fall through to the real ones; writes are refused).
    env: Table,
    /// The globals of function libraries.
    pub(super) fenv: Table,
    /// `loading(redis)`: a library's code runs next and sees only that `redis` table;
    /// `loading(nil)`: it ran, and the functions' globals are all back.
    pub(super) loading: Function,
    /// `run(f, function)`: calls `f()` with KEYS and ARGV set as globals, or `f(KEYS, ARGV)` for
    /// a function, under the error handler.
    runner: Function,
    /// `redis.call`'s buffers, reused from call to call (see [`Scratch`]).
    scratch: RefCell<Scratch>,
    scripts: HashMap<String, Script>,
    /// FUNCTION libraries by name.
    pub(super) libraries: std::collections::BTreeMap<String, super::functions::Library>,
    /// The script's protocol for `redis.call` replies (`redis.setresp`).
    resp3: Arc<AtomicBool>,
    /// `math.random`'s state, reset before each run.
    rand: Arc<AtomicU64>,
}

/// The Lua side of the sandbox and of `redis.call`; runs once per interpreter.
const BOOT: &str = r#"
local errtext, args = ...
local G, dbg = _G, debug
local type, tostring, error, rawget, xpcall, setmetatable, ipairs, pcall =
      type, tostring, error, rawget, xpcall, setmetatable, ipairs, pcall

-- Errors raised from Rust (redis.call, the kill hook) arrive as userdata: errtext turns them
-- into Redis's error table or their text. The position is the innermost frame of the script
-- (not C, not the helpers of this chunk).
local function handler(err)
  local level = 2
  local i = dbg.getinfo(level, 'Sl')
  while i and (i.what == 'C' or i.source == '=eddy') do
    level = level + 1
    i = dbg.getinfo(level, 'Sl')
  end
  if type(err) == 'userdata' then
    err = errtext(err)
    if type(err) == 'string' and i and i.currentline > 0 then
      err = i.short_src .. ':' .. i.currentline .. ': ' .. err
    end
  end
  if type(err) ~= 'table' then err = {err = 'ERR ' .. tostring(err)} end
  if i then
    err.source = i.source
    err.line = i.currentline
  end
  return err
end

-- Redis 7 makes the globals and the libraries read-only: scripts see them through empty proxies
-- whose writes fail.
-- `protected` maps each proxy to the table it shows, for rawget/next/pairs/ipairs.
local protected = setmetatable({}, {__mode = 'k'})
local function refuse() error('Attempt to modify a readonly table', 2) end
local function readonly(t)
  local p = setmetatable({}, {__index = t, __newindex = refuse, __metatable = false})
  protected[p] = t
  return p
end
for _, name in ipairs({'string', 'table', 'math', 'coroutine', 'redis', 'cjson', 'cmsgpack',
                       'bit', 'struct'}) do
  G[name] = readonly(G[name])
end
-- Strings share one metatable across every script and function: a script that set its
-- __index to a function would have that function run inside later scripts, with their user's
-- rights (Redis's CVE-2025-46818). Scripts get a read-only view of it, as Redis 7 makes it
-- read-only, and its __index is the read-only `string` (so `getmetatable('').__index == string`
-- holds, as in Redis).
local string_meta = getmetatable('')
string_meta.__index = G.string
string_meta.__metatable = readonly(string_meta)
-- Scripts and functions each see the globals through their own proxy; `vars` holds what
-- their runs add (KEYS and ARGV for scripts, the load-time `redis` for libraries).
-- Reads go through a chain of tables (proxy, then `vars`, then the globals), which the VM
-- follows without calling anything; only a missing global reaches a function, the globals'
-- own `__index`, as in Redis 7. A function per read cost a call for every KEYS, ARGV or
-- `redis` a script touched.
-- `overlay` maps such a proxy to its `vars`: Redis keeps KEYS and ARGV in the globals
-- themselves, so rawget, next and pairs on `_G` see them, then the globals they do not shadow.
-- `global`: the proxy is a globals table, which `_G` names. Only the two long-lived ones are:
-- a weak-keyed entry whose value refers back to its key is never collected in Lua 5.1, so a
-- proxy made per library load that did this was kept forever (1.5 KB a FUNCTION LOAD).
local overlay = setmetatable({}, {__mode = 'k'})
local function missing(_, n)
  error("Script attempted to access nonexistent global variable '" .. tostring(n) .. "'", 2)
end
local function sandbox(vars, global)
  local meta = {__index = G, __metatable = false}
  setmetatable(vars, meta)
  -- getmetatable(_G) gives a read-only view, so changing it fails as Redis 7's does.
  local env = setmetatable({}, {
    __index = vars,
    __newindex = refuse,
    __metatable = readonly({}),
  })
  protected[env] = G
  overlay[env] = vars
  if global then vars._G = env end
  return env, meta
end
local vars, fvars = {}, {}
local env = sandbox(vars, true)
local fenv, fmeta = sandbox(fvars, true)
-- While a library loads, Redis 7 swaps the functions' globals for the library API: its code
-- sees `redis` (the load-time one, `api`, read-only, its other fields missing too) and nothing
-- else, not even `_G` or `tostring`. Its callbacks, called later, see all the globals again.
local nothing = setmetatable({}, {__index = missing, __metatable = false})
local function loading(api)
  if api then
    local redis, meta = sandbox(api)
    meta.__index = nothing
    fvars.redis, fvars._G, fmeta.__index = redis, nil, nothing
  else
    fvars.redis, fvars._G, fmeta.__index = nil, fenv, G
  end
end
local raw_set, load, set_env, byte = rawset, loadstring, setfenv, string.byte
G.rawset = function(t, k, v)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return raw_set(t, k, v)
end
G.setmetatable = function(t, m)
  if protected[t] then error('Attempt to modify a readonly table', 0) end
  return setmetatable(t, m)
end
local raw_get, raw_next, raw_pairs, raw_ipairs = rawget, next, pairs, ipairs
G.rawget = function(t, k)
  local o = overlay[t]
  if o then
    local v = raw_get(o, k)
    if v ~= nil then return v end
  end
  return raw_get(protected[t] or t, k)
end
-- Walks a proxy's `vars`, then the globals it does not shadow: a key found in `vars` means the
-- walk is still in its first part.
local function proxy_next(t, k)
  local o, g = overlay[t], protected[t]
  local nk, nv
  if k == nil or raw_get(o, k) ~= nil then
    nk, nv = raw_next(o, k)
    if nk ~= nil then return nk, nv end
    k = nil
  end
  repeat
    nk, nv = raw_next(g, k)
    k = nk
  until nk == nil or raw_get(o, nk) == nil
  return nk, nv
end
G.next = function(t, k)
  if overlay[t] then return proxy_next(t, k) end
  return raw_next(protected[t] or t, k)
end
G.pairs = function(t)
  if overlay[t] then return proxy_next, t, nil end
  return raw_pairs(protected[t] or t)
end
G.ipairs = function(t) return raw_ipairs(protected[t] or t) end
-- Chunks see the sandbox too, and precompiled ones could escape it: text only.
G.loadstring = function(s, name)
  if type(s) == 'string' and byte(s, 1) == 27 then
    return nil, "loadstring() can't load binary chunks"
  end
  local f, e = load(s, name)
  if f then set_env(f, env) end
  return f, e
end
-- Lua 5.1's unpack takes the range's length as `e - i + 1` in int arithmetic: with
-- unpack(t, 0, 2^31 - 1) that overflows, the compiler may drop the check that relies on it
-- (signed overflow is undefined), and the VM crashed the server. Redis patched its copy of
-- Lua to count in unsigned arithmetic; the vendored one is not patched, so the range is checked
-- here and the original only runs on ranges it handles. The arguments are read as the C code
-- reads them ((int) of a truncated number, the low 32 bits; NaN, infinities and |x| >= 2^63
-- give 0 as on x86), and errors are the original's, raised at the caller's level.
local raw_unpack, floor, tonum, select = unpack, math.floor, tonumber, select
local function int_arg(v, n)
  local x = tonum(v)
  if x == nil then
    error("bad argument #" .. n .. " to 'unpack' (number expected, got " .. type(v) .. ")", 3)
  end
  if x ~= x or x >= 9223372036854775808 or x < -9223372036854775808 then return 0 end
  x = (x >= 0 and floor(x) or -floor(-x)) % 4294967296
  if x >= 2147483648 then x = x - 4294967296 end
  return x
end
G.unpack = function(...)
  local argc, t, i, e = select('#', ...), ...
  if type(t) ~= 'table' then
    local got = argc == 0 and 'no value' or type(t)
    error("bad argument #1 to 'unpack' (table expected, got " .. got .. ")", 2)
  end
  i = i == nil and 1 or int_arg(i, 2)
  if e == nil then e = #t else e = int_arg(e, 3) end
  if i > e then return end
  -- lua_checkstack's limit: the arguments plus the results within LUAI_MAXCSTACK.
  if e - i + 1 + argc > 8000 then error('too many results to unpack', 2) end
  -- As many arguments as the caller passed: they count against the same limit.
  if argc == 1 then return raw_unpack(t) elseif argc == 2 then return raw_unpack(t, i) end
  return raw_unpack(t, i, e)
end
for _, name in ipairs({'print', 'getfenv', 'setfenv', 'newproxy', 'module', 'require',
                       'loadfile', 'dofile'}) do
  G[name] = nil
end

-- Redis 7.0's pcall hands the script an error table's message, not the table. SCRIPT KILL
-- (and FUNCTION LOAD's time limit) cannot be caught: pcall and xpcall raise them again.
local raw_pcall, raw_xpcall = pcall, xpcall
local function caught(ok, ...)
  if ok then return ok, ... end
  local e = ...
  if type(e) == 'userdata' then
    local fatal
    e, fatal = errtext(e)
    if fatal then error(e, 0) end
  end
  if type(e) == 'table' and type(e.err) == 'string' then e = e.err end
  return false, e
end
G.pcall = function(f, ...) return caught(raw_pcall(f, ...)) end
local stop = {}
G.xpcall = function(f, h)
  local ok, e = raw_xpcall(f, function(e)
    if type(e) == 'userdata' then
      local t, fatal = errtext(e)
      if fatal then return {[stop] = t} end
    end
    return h(e)
  end)
  if not ok and type(e) == 'table' and e[stop] then error(e[stop], 0) end
  return ok, e
end

-- A closure per run would be garbage per run: the arguments pass through upvalues instead.
-- Scripts see KEYS and ARGV as globals, functions get them as arguments.
local F, FN
local function call()
  local f, fn = F, FN
  F = nil
  local keys, argv = args()
  if fn then return f(keys, argv) end
  vars.KEYS, vars.ARGV = keys, argv
  return f()
end
local function run(f, fn)
  F, FN = f, fn
  return xpcall(call, handler)
end
G.debug = nil
setmetatable(G, {__index = missing, __metatable = false})
return run, env, fenv, loading
"#;

impl Engine {
    pub fn new(run: Arc<RunState>) -> mlua::Result<Engine> {
        // The debug library only serves the error handler (BOOT removes the global).
        let lua = unsafe {
            Lua::unsafe_new_with(
                StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG,
                LuaOptions::new(),
            )
        };
        let g = lua.globals();
        let resp3 = Arc::new(AtomicBool::new(false));
        let rand = Arc::new(AtomicU64::new(0));
        super::libs::install(&lua, &g, rand.clone())?;
        let redis = redis_table(&lua, resp3.clone())?;
        // SAFETY: both follow the C function contract (see `redis_call_raw`).
        unsafe {
            redis.raw_set("call", lua.create_c_function(lua_redis_call)?)?;
            redis.raw_set("pcall", lua.create_c_function(lua_redis_pcall)?)?;
            redis.raw_set(
                "acl_check_cmd",
                lua.create_c_function(lua_redis_acl_check_cmd)?,
            )?;
        }
        g.raw_set("redis", redis)?;
        let errtext = lua.create_function(|lua, v: Value| error_value(lua, v))?;
        type Boot = (Function, Table, Table, Function);
        let (runner, env, fenv, loading): Boot =
            lua.load(BOOT).set_name("=eddy").call((errtext, unsafe {
                // SAFETY: it follows the C function contract and raises nothing.
                lua.create_c_function(lua_run_args)?
            }))?;
        // Lua 5.1's parser interns the chunk name without anchoring it, so a collection
        // during the parse could free it while the lexer still uses it (Redis's
        // CVE-2025-49844, fixed there in its copy of lparser.c). The names Eddy loads chunks
        // under stay referenced from the registry, so the parser always finds them live.
        // (`loadstring`'s name comes from the caller's stack, which anchors it.)
        lua.set_named_registry_value(
            "eddy.chunk_names",
            ["@user_script", "@user_function", "=eddy"],
        )?;
        let hook = run.clone();
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(HOOK_EVERY),
            move |_, _| {
                if let Some(e) = hook.tick() {
                    return Err(fatal_error(e));
                }
                Ok(VmState::Continue)
            },
        );
        Ok(Engine {
            lua,
            run,
            env,
            fenv,
            loading,
            runner,
            scratch: RefCell::new(Scratch::default()),
            scripts: HashMap::new(),
            libraries: Default::default(),
            resp3,
            rand,
        })
    }

    /// Compiles and caches `body` (if new); returns its SHA1 and flags.
    pub fn load(&mut self, body: &[u8]) -> Result<(String, ScriptFlags), CmdError> {
        let sha = sha1hex(body);
        if let Some(s) = self.scripts.get(&sha) {
            return Ok((sha, s.flags));
        }
        let Shebang { flags, opts, len } = shebang(body)?;
        if let Some((k, v)) = opts.first() {
            return Err(CmdError::owned(format!(
                "ERR Unknown lua shebang option: {k}={v}"
            )));
        }
        let f = self.compile(&body[len..], "@user_script").map_err(|e| {
            CmdError::owned(format!("ERR Error compiling script (new function): {e}"))
        })?;
        self.scripts.insert(sha.clone(), Script { f, flags });
        Ok((sha, flags))
    }

    /// Forgets the cached scripts (SCRIPT FLUSH; functions stay).
    pub fn flush_scripts(&mut self) {
        self.scripts.clear();
        // Redis's SCRIPT FLUSH starts a new Lua state, whose cjson has its default settings.
        super::libs::reset_cjson(&self.lua);
        let _ = self.lua.gc_collect();
    }

    /// Compiles a script into a function that sees the sandboxed globals.
    pub fn compile(&self, body: &[u8], name: &str) -> Result<Function, String> {
        self.compile_in(body, name, &self.env)
    }

    /// Compiles a chunk into a function whose globals are `env`.
    pub(super) fn compile_in(
        &self,
        body: &[u8],
        name: &str,
        env: &Table,
    ) -> Result<Function, String> {
        // Redis's Lua reads every chunk as source (its loader of precompiled chunks is patched
        // out), so a body that starts with the precompiled signature (ESC) is a syntax error
        // there, not a refused binary chunk. A leading space gives the same reading here; no
        // line number moves.
        let spaced;
        let body = if body.first() == Some(&0x1b) {
            spaced = [b" ", body].concat();
            &spaced[..]
        } else {
            body
        };
        let f = self
            .lua
            .load(body)
            .set_name(name)
            .set_mode(mlua::ChunkMode::Text)
            .into_function()
            .map_err(|e| match e {
                mlua::Error::SyntaxError { message, .. } => message,
                e => e.to_string(),
            })?;
        f.set_environment(env.clone()).map_err(|e| e.to_string())?;
        Ok(f)
    }

    pub fn exists(&self, sha: &[u8]) -> bool {
        self.flags_of(sha).is_some()
    }

    /// The flags of the cached script `sha`, if it is cached.
    pub fn flags_of(&self, sha: &[u8]) -> Option<ScriptFlags> {
        let sha = std::str::from_utf8(sha).ok()?.to_ascii_lowercase();
        self.scripts.get(&sha).map(|s| s.flags)
    }

    pub fn cached(&self) -> usize {
        self.scripts.len()
    }
}

/// The `redis` table, without `call`/`pcall`.
fn redis_table(lua: &Lua, resp3: Arc<AtomicBool>) -> mlua::Result<Table> {
    let r = lua.create_table()?;
    r.set(
        "sha1hex",
        lua.create_function(|_, v: Variadic<Value>| {
            if v.len() != 1 {
                return Err(api_err("wrong number of arguments"));
            }
            let s = match v.first() {
                Some(Value::String(s)) => sha1hex(&s.as_bytes()),
                Some(Value::Integer(i)) => sha1hex(i.to_string().as_bytes()),
                Some(Value::Number(n)) => sha1hex(crate::util::num::fmt_g(*n, 14).as_bytes()),
                _ => sha1hex(b""),
            };
            Ok(s)
        })?,
    )?;
    // Both return (not raise) an error table for bad arguments, as Redis does.
    for (name, field) in [("error_reply", "err"), ("status_reply", "ok")] {
        r.set(
            name,
            lua.create_function(move |lua, v: Variadic<Value>| {
                let t = lua.create_table()?;
                match v.first() {
                    Some(Value::String(s)) if v.len() == 1 => match field {
                        "err" => t.set("err", error_code_form(&s.to_string_lossy()))?,
                        _ => t.set("ok", s.clone())?,
                    },
                    _ => t.set("err", "ERR wrong number or type of arguments")?,
                }
                Ok(t)
            })?,
        )?;
    }
    r.set(
        "log",
        lua.create_function(|_, v: Variadic<Value>| {
            if v.len() < 2 {
                return Err(api_err("redis.log() requires two arguments or more."));
            }
            let level = match v.first() {
                Some(Value::Integer(i)) => *i,
                Some(Value::Number(n)) => *n as i64,
                _ => return Err(api_err("First argument must be a number (log level).")),
            };
            let mut msg = String::new();
            for (i, a) in v.iter().skip(1).enumerate() {
                if i > 0 {
                    msg.push(' ');
                }
                match a {
                    Value::String(s) => msg.push_str(&s.to_string_lossy()),
                    Value::Integer(n) => msg.push_str(&n.to_string()),
                    Value::Number(n) => msg.push_str(&crate::util::num::fmt_g(*n, 14)),
                    _ => {}
                }
            }
            match level {
                0 => tracing::debug!(target: "script", "{msg}"),
                1 | 2 => tracing::info!(target: "script", "{msg}"),
                3 => tracing::warn!(target: "script", "{msg}"),
                _ => return Err(api_err("Invalid debug level.")),
            }
            Ok(())
        })?,
    )?;
    r.set(
        "setresp",
        lua.create_function(move |_, v: Variadic<Value>| {
            if v.len() != 1 {
                return Err(api_err("redis.setresp() requires one argument."));
            }
            match v.first() {
                Some(Value::Integer(2)) => resp3.store(false, Ordering::Relaxed),
                Some(Value::Integer(3)) => resp3.store(true, Ordering::Relaxed),
                _ => return Err(api_err("RESP version must be 2 or 3.")),
            }
            Ok(())
        })?,
    )?;
    // Effects replication is the only mode (and Eddy records effects anyway): no-ops.
    r.set(
        "set_repl",
        lua.create_function(|_, _: Variadic<Value>| Ok(()))?,
    )?;
    r.set(
        "replicate_commands",
        lua.create_function(|_, _: Variadic<Value>| Ok(true))?,
    )?;
    r.set("breakpoint", lua.create_function(|_, ()| Ok(false))?)?;
    r.set(
        "debug",
        lua.create_function(|_, _: Variadic<Value>| Ok(()))?,
    )?;
    for (k, v) in [
        ("LOG_DEBUG", 0),
        ("LOG_VERBOSE", 1),
        ("LOG_NOTICE", 2),
        ("LOG_WARNING", 3),
        ("REPL_NONE", 0),
        ("REPL_AOF", 1),
        ("REPL_SLAVE", 2),
        ("REPL_REPLICA", 2),
        ("REPL_ALL", 3),
    ] {
        r.set(k, v)?;
    }
    let v = crate::commands::connection::REDIS_VERSION;
    r.set("REDIS_VERSION", v)?;
    let num = v
        .split('.')
        .take(3)
        .fold(0i64, |acc, p| acc * 256 + p.parse::<i64>().unwrap_or(0));
    r.set("REDIS_VERSION_NUM", num)?;
    Ok(r)
}

/// An error of the `redis` API: Redis raises these as error tables (no position in the text).
fn api_err(msg: &str) -> mlua::Error {
    reply_error(&format!("ERR {msg}"))
}

/// A Lua error raised from Rust, as a library's `luaL_error` (the handler adds the position
/// of the calling Lua code and `ERR`).
pub(super) fn rt(msg: &str) -> mlua::Error {
    mlua::Error::RuntimeError(msg.into())
}

/// An error reply raised into Lua from Rust (`redis.call`): the handler turns it back into
/// Redis's `{err = ...}` table.
/// `fatal`: the script must stop (SCRIPT KILL, FUNCTION LOAD's time limit): `pcall` may not
/// catch it.
#[derive(Debug)]
struct ReplyError {
    msg: String,
    fatal: bool,
}

impl std::fmt::Display for ReplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for ReplyError {}

fn reply_error(msg: &str) -> mlua::Error {
    mlua::Error::external(ReplyError {
        msg: msg.to_string(),
        fatal: false,
    })
}

fn fatal_error(msg: &str) -> mlua::Error {
    mlua::Error::external(ReplyError {
        msg: msg.to_string(),
        fatal: true,
    })
}

/// What the error handler makes of an error raised from Rust: a [`ReplyError`] becomes its
/// `{err = ...}` table, anything else the text of its root cause; and whether it is fatal.
fn error_value(lua: &Lua, v: Value) -> mlua::Result<(Value, bool)> {
    let Value::Error(e) = v else {
        return Ok((
            Value::String(lua.create_string("execution failure")?),
            false,
        ));
    };
    let fatal = is_fatal(&e);
    match error_message(&e) {
        Ok(reply) => {
            let t = lua.create_table()?;
            t.raw_set("err", reply)?;
            Ok((Value::Table(t), fatal))
        }
        Err(text) => Ok((Value::String(lua.create_string(text)?), fatal)),
    }
}

fn is_fatal(e: &mlua::Error) -> bool {
    match e {
        mlua::Error::CallbackError { cause, .. } | mlua::Error::WithContext { cause, .. } => {
            is_fatal(cause)
        }
        mlua::Error::ExternalError(x) => x.downcast_ref::<ReplyError>().is_some_and(|r| r.fatal),
        _ => false,
    }
}

/// The root cause of `e`: Ok with an error reply raised by `redis.call`, Err with the text of
/// anything else.
pub(super) fn error_message(e: &mlua::Error) -> Result<String, String> {
    let mut e = e;
    loop {
        match e {
            mlua::Error::CallbackError { cause, .. } => e = cause,
            mlua::Error::WithContext { cause, .. } => e = cause,
            // Errors of Lua code called from Rust carry mlua's traceback: Redis shows none.
            mlua::Error::RuntimeError(m) => {
                let end = m.find("\nstack traceback:").unwrap_or(m.len());
                return Err(m[..end].to_string());
            }
            mlua::Error::ExternalError(x) => {
                return match x.downcast_ref::<ReplyError>() {
                    Some(r) => Ok(r.msg.clone()),
                    None => Err(x.to_string()),
                }
            }
            other => return Err(other.to_string()),
        }
    }
}

/// Redis's `luaPushErrorBuff`: `-CODE msg` keeps its code, anything else gets `ERR`; a
/// trailing newline is dropped.
pub(super) fn error_code_form(s: &str) -> String {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (code, msg) = s.split_once(' ').unwrap_or(("ERR", s));
    format!("{code} {}", msg.trim_end_matches(['\r', '\n']))
}

/// Which script an EVAL-family command names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum EvalKind {
    /// EVAL / EVAL_RO: argument 1 is the body.
    Body,
    /// EVALSHA / EVALSHA_RO: argument 1 is the SHA1 of a cached body.
    Sha,
}

/// EVAL, EVALSHA, EVAL_RO, EVALSHA_RO.
pub fn eval(ctx: &mut Ctx, a: Args, kind: EvalKind, ro: bool) -> CmdResult {
    // A SHA that is not 40 characters long cannot match: Redis says so before it reads numkeys.
    if kind == EvalKind::Sha && a.get(1).len() != 40 {
        return Err(error::NOSCRIPT.into());
    }
    let (keys, argv) = split_keys(&a, error::NOT_INTEGER)?;
    let srv = ctx.srv;
    srv.scripts.with(|engine| {
        let loaded;
        let mut lower = [0u8; 40];
        let sha = match kind {
            EvalKind::Body => {
                loaded = engine.load(a.get(1))?.0;
                loaded.as_str()
            }
            EvalKind::Sha => {
                lower.copy_from_slice(a.get(1));
                lower.make_ascii_lowercase();
                std::str::from_utf8(&lower).map_err(|_| error::NOSCRIPT)?
            }
        };
        let Some(script) = engine.scripts.get(sha) else {
            return Err(error::NOSCRIPT.into());
        };
        let (f, flags) = (&script.f, script.flags);
        if ro && flags.shebang && !flags.no_writes {
            return Err(error::SCRIPT_RO_WRITE_FLAG.into());
        }
        let inv = Invocation {
            f,
            name: sha,
            read_only: ro || flags.no_writes,
            function: false,
            keys,
            argv,
            command: a,
        };
        run(ctx, engine, inv)
    })
}

/// The keys and arguments after `numkeys` (argument 2): Redis's checks of numkeys
/// (`not_number` when it is not an integer: EVAL and FCALL word it differently).
pub fn split_keys<'a>(
    a: &Args<'a>,
    not_number: &'static str,
) -> Result<(Args<'a>, Args<'a>), CmdError> {
    let numkeys = crate::protocol::resp::parse_i64(a.get(2)).ok_or(not_number)?;
    if numkeys < 0 {
        return Err(error::NUMKEYS_NEGATIVE.into());
    }
    let nkeys = numkeys as usize;
    if nkeys > a.len().saturating_sub(3) {
        return Err(error::NUMKEYS_TOO_BIG.into());
    }
    Ok((a.from(3).first(nkeys), a.from(3 + nkeys)))
}

/// Pushes KEYS or ARGV as a new table, its strings straight from the request buffer (through
/// `mlua` values each string took a registry reference).
///
/// # Safety
/// `l` is a live state with room for two more values.
unsafe fn push_strings(l: *mut mlua::ffi::lua_State, a: &Args) {
    use mlua::ffi;
    ffi::lua_createtable(l, a.len().min(i32::MAX as usize) as i32, 0);
    for (i, s) in a.iter().enumerate() {
        convert::push_str(l, s);
        ffi::lua_rawseti(l, -2, i as i64 + 1);
    }
}

impl From<mlua::Error> for CmdError {
    fn from(e: mlua::Error) -> Self {
        CmdError::owned(format!("ERR {e}"))
    }
}

/// One run of a script or function.
pub struct Invocation<'a> {
    pub f: &'a Function,
    /// What errors cite: the SHA1 for EVAL, the function name for FCALL.
    pub name: &'a str,
    pub read_only: bool,
    /// FCALL: the function gets KEYS and ARGV as arguments, not as globals.
    pub function: bool,
    pub keys: Args<'a>,
    pub argv: Args<'a>,
    /// The whole command (FUNCTION STATS shows it).
    pub command: Args<'a>,
}

/// Runs a script or function and replies its result or error.
pub fn run(ctx: &mut Ctx, engine: &Engine, inv: Invocation) -> CmdResult {
    let (f, name, read_only) = (inv.f, inv.name, inv.read_only);
    let srv = ctx.srv;
    let threshold = srv.config.hot.busy_reply_threshold.load(Ordering::Relaxed);
    engine.resp3.store(false, Ordering::Relaxed);
    // Every run starts from the same seed, so a script's random choices are reproducible.
    engine
        .rand
        .store(super::libs::RAND48_SEED, Ordering::Relaxed);
    let state = &srv.scripts.run;
    state.begin(ctx.sess.id, threshold, inv.function, name, &inv.command);
    // Ends the run however this returns: other clients wait for it.
    struct Running<'a>(&'a RunState);
    impl Drop for Running<'_> {
        fn drop(&mut self) {
            self.0.end();
        }
    }
    let running = Running(state);
    let capture = if txn::capturing() {
        None
    } else {
        Some(txn::begin(&srv.keyspace, &srv.log, ctx.who(), ctx.now))
    };
    let (db, resp3) = (ctx.sess.db, ctx.sess.resp3);
    let result = blocking(state, || {
        let active = Active {
            ctx: RefCell::new(&mut *ctx),
            call: Call {
                resp3: &engine.resp3,
                read_only,
                run: state,
                clock: RefCell::new(Instant::now()),
            },
            scratch: &engine.scratch,
            keys: inv.keys,
            argv: inv.argv,
        };
        let _on = active.enter();
        engine.runner.call::<(bool, Value)>((f, inv.function))
    });
    ctx.sess.db = db;
    ctx.sess.resp3 = resp3;
    drop(running);
    drop(capture);
    let (ok, v) = result?;
    if ok {
        convert::reply(&v, ctx.out, engine.resp3.load(Ordering::Relaxed), 0);
        return Ok(());
    }
    Err(script_error(&v, name))
}

/// The caller's error reply for a failed script: `<err> script: <name>, on <source>:<line>.`
fn script_error(v: &Value, name: &str) -> CmdError {
    let Value::Table(t) = v else {
        return CmdError::owned(format!("ERR Error running script {name}"));
    };
    let err: String = match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => s.to_string_lossy(),
        _ => "ERR execution failure".into(),
    };
    let source = t.raw_get::<Option<mlua::String>>("source").ok().flatten();
    let line = t.raw_get::<Option<i64>>("line").ok().flatten();
    match (source, line) {
        (Some(s), Some(l)) => CmdError::owned(format!(
            "{err} script: {name}, on {}:{l}.",
            s.to_string_lossy()
        )),
        _ => CmdError::owned(err),
    }
}

/// Runs `f`, which may take long.
///
/// The script starts inline on its worker: handing the worker to another thread
/// (`block_in_place`) for every run cost more than most scripts do (a rate limiter runs in a
/// few microseconds; the hand-off wakes a thread and migrates the worker's queue each time;
/// with `io-threads 1` it made EVALSHA three times slower). But a worker busy in a long script
/// would starve the I/O driver and its queued tasks, so once a run passes [`INLINE_MS`] the
/// interpreter's hook hands the worker off mid-run ([`hand_off_worker`], tried again every
/// [`HANDOFF_RETRY_MS`] in case no thread took it), and BUSY and SCRIPT KILL are answered as
/// before. Outside a multi-threaded runtime (tests, tools) there is nothing to hand off.
fn blocking<R>(run: &RunState, f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            run.set_inline(true);
            let r = f();
            run.set_inline(false);
            r
        }
        _ => f(),
    }
}

/// How long a script runs on its worker before the worker is handed to another thread.
pub(super) const INLINE_MS: u64 = 2;
/// How often a long script tries the hand-off again (each try pauses it for the hand-off's
/// 2 ms wait: 4% of a long script's time).
pub(super) const HANDOFF_RETRY_MS: u64 = 50;

/// Called from the interpreter's hook once an inline run passed [`INLINE_MS`]: moves this
/// worker's scheduler to another thread while the script goes on here. `block_in_place` hands
/// the worker over when called; the sleep gives the new thread time to take it, or on return
/// the worker would be reclaimed and nothing would change.
pub(super) fn hand_off_worker() {
    tokio::task::block_in_place(|| std::thread::sleep(std::time::Duration::from_millis(2)));
}

/// The state of one run that `redis.call` needs.
struct Call<'a> {
    resp3: &'a AtomicBool,
    read_only: bool,
    run: &'a RunState,
    clock: RefCell<Instant>,
}

/// `redis.call`'s working buffers: the command it builds and the reply it reads back. Kept in
/// the engine so a call allocates nothing of its own (a fresh reply buffer was 16 KiB each).
#[derive(Default)]
struct Scratch {
    argv: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    out: Vec<u8>,
}

/// Reply buffers above this are not kept for the next call.
const SCRATCH_KEEP: usize = 64 * 1024;

/// The run in progress on this thread: what `redis.call` borrows.
struct Active<'r, 'c> {
    ctx: RefCell<&'r mut Ctx<'c>>,
    call: Call<'r>,
    scratch: &'r RefCell<Scratch>,
    /// KEYS and ARGV, which the runner fetches ([`lua_run_args`]).
    keys: Args<'r>,
    argv: Args<'r>,
}

thread_local! {
    /// The [`Active`] run of this thread, type-erased; null between runs. A script never leaves
    /// its thread: the worker hand-off moves the scheduler away, not the script.
    static ACTIVE: std::cell::Cell<*const ()> = const { std::cell::Cell::new(std::ptr::null()) };
}

/// Clears [`ACTIVE`] when the run ends, however it ends.
struct Entered(*const ());

impl Drop for Entered {
    fn drop(&mut self) {
        ACTIVE.with(|a| a.set(self.0));
    }
}

impl<'r, 'c> Active<'r, 'c> {
    /// Publishes this run to `redis.call` until the guard drops. The guard borrows `self`, so
    /// the pointer never outlives what it points to.
    #[must_use]
    fn enter(&self) -> Entered {
        let prev = ACTIVE.with(|a| a.replace(self as *const Self as *const ()));
        Entered(prev)
    }
}

/// The run in progress on this thread, if any.
///
/// # Safety
/// The reference must not outlive the C function call it is used in.
unsafe fn active<'x>() -> Option<&'x Active<'x, 'x>> {
    let p = ACTIVE.with(|a| a.get());
    // SAFETY: `p` was set by `Active::enter` on this thread and is cleared before that `Active`
    // is dropped (the guard borrows it); Lua runs only inside the run, so the `Active` is alive
    // while Lua calls back. The lifetimes are erased: nothing borrowed escapes the call.
    (!p.is_null()).then(|| &*(p as *const Active<'x, 'x>))
}

/// The runner's `args()`: pushes the run's KEYS and ARGV tables, their strings straight from the
/// request buffer (as `mlua` values each string took a registry reference; through `exec_raw`
/// each run allocated a protected closure).
unsafe extern "C-unwind" fn lua_run_args(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    let Some(a) = active() else {
        return 0;
    };
    push_strings(l, &a.keys);
    push_strings(l, &a.argv);
    2
}

/// `redis.call`: raises a command's error reply.
unsafe extern "C-unwind" fn lua_redis_call(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    redis_call_raw(l, false)
}

/// `redis.pcall`: returns a command's error reply as `{err = ...}`.
unsafe extern "C-unwind" fn lua_redis_pcall(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    redis_call_raw(l, true)
}

/// `redis.call` and `redis.pcall`, as raw C functions: the arguments are read from the Lua stack
/// and the reply is pushed onto it, with no `mlua` value in between (a registry reference per
/// argument and per reply string cost more than the INCR they carried).
///
/// A Lua error unwinds by `longjmp`, which must not cross a frame with something left to drop:
/// everything that owns or borrows lives in [`call_inner`], which has returned (its error value
/// pushed) before `lua_error` runs here.
unsafe fn redis_call_raw(l: *mut mlua::ffi::lua_State, protected: bool) -> std::ffi::c_int {
    match call_inner(l, protected) {
        Ok(n) => n,
        Err(()) => mlua::ffi::lua_error(l),
    }
}

/// Pushes `msg` as Redis's error table `{err = msg}`.
unsafe fn push_error_table(l: *mut mlua::ffi::lua_State, msg: &[u8]) {
    convert::push_str(l, msg);
    convert::wrap(l, "err");
}

/// The body of [`redis_call_raw`]: Ok(results pushed), or Err with the error value pushed.
unsafe fn call_inner(l: *mut mlua::ffi::lua_State, protected: bool) -> Result<i32, ()> {
    let Some(active) = active() else {
        push_error_table(l, b"ERR redis.call is only available while a script runs");
        return Err(());
    };
    let (Ok(mut c), Ok(mut scratch)) =
        (active.ctx.try_borrow_mut(), active.scratch.try_borrow_mut())
    else {
        push_error_table(l, REENTERED.as_bytes());
        return Err(());
    };
    // A panic must not unwind through the interpreter's C frames (that aborts the process):
    // it becomes the command's error reply, as a client's command would.
    let reply = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        dispatch(l, &mut c, &active.call, &mut scratch)
    }))
    .unwrap_or_else(|_| Reply::Error("ERR internal error running the command".into()));
    // Nothing stays borrowed while Lua values are pushed: a Lua memory error there would skip
    // the guards' drops (the reply buffer merely leaks then).
    drop(c);
    drop(scratch);
    // The arguments are spent: popping them leaves room on the stack for the reply, which a
    // call with thousands of arguments (`unpack` of a big table) would otherwise not have, as
    // Redis pops them too.
    mlua::ffi::lua_settop(l, 0);
    match reply {
        Reply::Value(out) => {
            let pushed =
                convert::push_reply(l, &out).map_err(|e| convert::push_str(l, e.as_bytes()));
            if let Ok(mut scratch) = active.scratch.try_borrow_mut() {
                scratch.out = out;
            }
            pushed.map(|()| 1)
        }
        Reply::Error(e) => {
            push_error_table(l, e.as_bytes());
            if protected {
                Ok(1)
            } else {
                Err(())
            }
        }
    }
}

/// XREAD/XREADGROUP with BLOCK: Redis refuses it in scripts rather than run it without
/// blocking, as it does for the other blocking commands.
fn stream_block(argv: &Args) -> bool {
    let name = argv.get(0);
    (name.eq_ignore_ascii_case(b"xread") || name.eq_ignore_ascii_case(b"xreadgroup"))
        && argv
            .iter()
            .skip(1)
            .take_while(|a| !a.eq_ignore_ascii_case(b"streams"))
            .any(|a| a.eq_ignore_ascii_case(b"block"))
}

/// What a command called from a script replied.
enum Reply {
    /// The reply's RESP bytes (the scratch's buffer, lent out until they are pushed).
    Value(Vec<u8>),
    /// An error reply: `redis.call` raises it, `redis.pcall` returns it as `{err = ...}`.
    Error(String),
}

/// `redis.call` / `redis.pcall`: runs one command through the command table.
///
/// The command's words are the Lua function's arguments on `l`'s stack: strings as they are,
/// numbers as Redis 7.0 prints them (`%.17g`); anything else is refused.
///
/// # Safety
/// `l` is the state of a running C function call.
/// The arguments of a `redis` library call, from the Lua stack into `buf`: strings as they
/// are, numbers as Redis prints them.
unsafe fn read_args<'b>(
    l: *mut mlua::ffi::lua_State,
    buf: &'b mut Vec<u8>,
    ranges: &'b mut Vec<(usize, usize)>,
) -> Result<Args<'b>, &'static str> {
    use mlua::ffi;
    let n = ffi::lua_gettop(l);
    if n == 0 {
        return Err(error::SCRIPT_NO_ARGS);
    }
    buf.clear();
    ranges.clear();
    for i in 1..=n {
        let s = buf.len();
        match ffi::lua_type(l, i) {
            ffi::LUA_TSTRING => {
                let mut len = 0;
                let p = ffi::lua_tolstring(l, i, &mut len);
                buf.extend_from_slice(std::slice::from_raw_parts(p.cast::<u8>(), len));
            }
            ffi::LUA_TNUMBER => {
                let x = ffi::lua_tonumber(l, i);
                // `%.17g` prints an integral value below 1e17 as the integer itself.
                if x.fract() == 0.0 && x.abs() < 1e17 {
                    buf.extend_from_slice(itoa::Buffer::new().format(x as i64).as_bytes());
                } else {
                    buf.extend_from_slice(crate::util::num::fmt_g(x, 17).as_bytes());
                }
            }
            _ => return Err(error::SCRIPT_BAD_ARG),
        }
        ranges.push((s, buf.len()));
    }
    Ok(Args::new(buf, ranges))
}

/// `redis.acl_check_cmd(command, arg, ...)`: whether the script's user may run that command
/// with those arguments (not logged in ACL LOG), as in Redis 7. The command is looked up as
/// Redis's `lookupCommand` does, without checking its arity; an unknown one raises an error.
unsafe extern "C-unwind" fn lua_redis_acl_check_cmd(
    l: *mut mlua::ffi::lua_State,
) -> std::ffi::c_int {
    match acl_check_inner(l) {
        Ok(allowed) => {
            mlua::ffi::lua_settop(l, 0);
            mlua::ffi::lua_pushboolean(l, std::ffi::c_int::from(allowed));
            1
        }
        Err(e) => {
            mlua::ffi::lua_settop(l, 0);
            push_error_table(l, e.as_bytes());
            mlua::ffi::lua_error(l)
        }
    }
}

/// The body of [`lua_redis_acl_check_cmd`], which owns nothing once it returns (see
/// [`redis_call_raw`]).
unsafe fn acl_check_inner(l: *mut mlua::ffi::lua_State) -> Result<bool, &'static str> {
    let Some(active) = active() else {
        return Err("ERR redis.acl_check_cmd can only be called inside a script invocation");
    };
    let (Ok(c), Ok(mut scratch)) = (active.ctx.try_borrow(), active.scratch.try_borrow_mut())
    else {
        return Err(REENTERED);
    };
    let Scratch { argv, ranges, .. } = &mut *scratch;
    let args = read_args(l, argv, ranges)?;
    let t = commands::table();
    let mut id = t
        .lookup(args.get(0))
        .ok_or("ERR Invalid command passed to redis.acl_check_cmd()")?;
    if !t.specs[id].subcommands.is_empty() && args.len() > 1 {
        id = t
            .lookup_sub(id, args.get(1))
            .ok_or("ERR Invalid command passed to redis.acl_check_cmd()")?;
    }
    Ok(match c.sess.restricted(&c.srv.acl) {
        Some(user) => user.rules().check(id, t.specs[id], args).is_ok(),
        None => true,
    })
}

unsafe fn dispatch(
    l: *mut mlua::ffi::lua_State,
    ctx: &mut Ctx,
    st: &Call,
    scratch: &mut Scratch,
) -> Reply {
    let refuse = |e: &str| Reply::Error(e.to_string());
    let Scratch {
        argv: buf,
        ranges,
        out: spare,
    } = scratch;
    let argv = match read_args(l, buf, ranges) {
        Ok(a) => a,
        Err(e) => return refuse(e),
    };
    let r = match commands::resolve(&argv, &mut commands::LastName::default()) {
        Ok(r) => r,
        Err(e) if e.as_str().starts_with("ERR wrong number of arguments") => {
            return refuse(error::SCRIPT_ARITY)
        }
        Err(_) => return refuse(error::SCRIPT_UNKNOWN),
    };
    if r.spec.flags & flag::NOSCRIPT != 0 {
        return refuse(error::SCRIPT_NOSCRIPT_CMD);
    }
    if let Some(d) = commands::acl_refused(ctx, r.id, argv, commands::AclContext::Script) {
        return refuse(d.script_error());
    }
    if stream_block(&argv) {
        return Reply::Error(error::script_stream_block(argv.get(0)));
    }
    // A read-only script may neither write nor replicate anything (PUBLISH, PFCOUNT): a write
    // pause lets it run on that promise.
    if st.read_only && crate::server::pause::may_replicate(r.spec) {
        return refuse(error::SCRIPT_RO_WRITE);
    }
    if r.spec.is_write() {
        if let Some(e) = crate::server::replication::write_refused(ctx, r.spec, &argv) {
            return refuse(e);
        }
    }
    // Over `maxmemory` when the script started: its first write that may grow memory is
    // refused; once it wrote, stopping half-way would be worse (Redis's `scriptVerifyOOM`).
    if r.spec.flags & flag::DENYOOM != 0
        && ctx.sess.script_oom
        && !st.run.wrote()
        && crate::keyspace::evict::limit(ctx.srv).is_some()
    {
        return refuse(error::OOM);
    }
    if r.spec.is_write() {
        st.run.mark_write();
    }
    let resp3 = st.resp3.load(Ordering::Relaxed);
    spare.clear();
    spare.shrink_to(SCRATCH_KEEP);
    let mut out = Out {
        buf: std::mem::take(spare),
        resp3,
    };
    ctx.sess.resp3 = resp3;
    {
        let mut c = Ctx {
            srv: ctx.srv,
            sess: &mut *ctx.sess,
            out: &mut out,
            now: ctx.now,
        };
        let mut clock = st.clock.borrow_mut();
        let us = crate::pubsub::monitor::as_script(|| commands::call(&mut c, &r, argv, &mut clock));
        // Redis logs a script's commands too, as its script client's (no address, no name).
        commands::slowlog::record(&c, r.spec, &argv, us, commands::slowlog::Caller::Script);
        if matches!(
            c.sess.action,
            Some(crate::server::session::Action::Block(_))
        ) {
            commands::transactions::no_block(&mut c);
        }
    }
    if out.buf.first() == Some(&b'-') {
        let end = memchr::memchr(b'\r', &out.buf).unwrap_or(out.buf.len());
        let e = String::from_utf8_lossy(out.buf.get(1..end).unwrap_or(&[])).into_owned();
        *spare = out.buf;
        return Reply::Error(e);
    }
    Reply::Value(out.buf)
}
