//! Values and their compact representation.
//!
//! A string is a [`Str`]: up to 16 bytes live inline in the 24-byte handle, longer ones on the
//! heap with their exact length. Every value carries a 32-bit access clock (seconds, wrapping) for
//! `OBJECT IDLETIME` and eviction; it sits in the enum's tag word, so it costs no space.
//! Collections (lists, hashes, sets, sorted sets, streams) live in their own modules behind the
//! [`Collection`] trait; each type's RDB encoding lives with its type.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use smallvec::SmallVec;

/// A binary-safe string with a small inline buffer.
pub type Str = SmallVec<[u8; 16]>;

/// Grows a string value to hold `new_len` bytes, the way Redis's `sdsMakeRoomFor` does for
/// APPEND, SETRANGE and SETBIT: below 1 MiB the room doubles, above it 1 MiB is added.
/// `SmallVec`'s own growth rounds to the next power of two, so a SETBIT at bit 2^31 held 512 MiB
/// for a 256 MiB string (Redis holds 257).
pub fn str_reserve(s: &mut Str, new_len: usize) {
    const GREEDY_MAX: usize = 1 << 20;
    if new_len <= s.capacity() {
        return;
    }
    let room = if new_len < GREEDY_MAX {
        new_len * 2
    } else {
        new_len.saturating_add(GREEDY_MAX)
    };
    s.reserve_exact(room - s.len());
}

/// Zero-extends a string value to `new_len` bytes (SETRANGE and SETBIT past the end), with
/// [`str_reserve`]'s growth. The zeros are copied a page at a time: `resize` fills byte by byte,
/// which an unoptimised build takes seconds over for a 512 MB string.
pub fn str_grow_zeroed(s: &mut Str, new_len: usize) {
    const ZEROS: [u8; 4096] = [0; 4096];
    str_reserve(s, new_len);
    while s.len() < new_len {
        let n = (new_len - s.len()).min(ZEROS.len());
        s.extend_from_slice(&ZEROS[..n]);
    }
}

/// A key, stored with the same compact representation as a string value.
pub type Key = Str;

/// The Redis type of a value, as `TYPE` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueType {
    None = 0,
    String = 1,
    List = 2,
    Set = 3,
    ZSet = 4,
    Hash = 5,
    Stream = 6,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::None => "none",
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Hash => "hash",
            ValueType::Stream => "stream",
        }
    }

    pub fn from_u8(v: u8) -> ValueType {
        match v {
            1 => ValueType::String,
            2 => ValueType::List,
            3 => ValueType::Set,
            4 => ValueType::ZSet,
            5 => ValueType::Hash,
            6 => ValueType::Stream,
            _ => ValueType::None,
        }
    }

    /// Parses a `TYPE` filter name (SCAN ... TYPE t), case-insensitively.
    pub fn parse(name: &[u8]) -> Option<ValueType> {
        [
            ValueType::String,
            ValueType::List,
            ValueType::Set,
            ValueType::ZSet,
            ValueType::Hash,
            ValueType::Stream,
        ]
        .into_iter()
        .find(|t| t.name().as_bytes().eq_ignore_ascii_case(name))
    }
}

/// Per-value metadata packed in 32 bits: the access clock (31 bits of seconds) and whether a
/// string was modified in place (APPEND/SETRANGE), which Redis reports as encoding `raw`.
///
/// Under an LFU `maxmemory-policy` the 31 bits hold Redis's LFU data instead, as Redis reuses
/// its `lru` field: the minute of the last decrement (16 bits) above a logarithmic access
/// counter (8 bits) that starts at 5, grows with probability 1/((counter-5)*lfu-log-factor+1)
/// per access and loses one per `lfu-decay-time` minutes. Switching policies leaves values
/// with the other kind of data until they are next touched, as in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta(u32);

const RAW_BIT: u32 = 1 << 31;

impl Meta {
    pub fn now() -> Meta {
        if lfu_mode() {
            return Meta(lfu_data(LFU_INIT));
        }
        Meta(clock() & !RAW_BIT)
    }
    pub fn clock(self) -> u32 {
        self.0 & !RAW_BIT
    }
    pub fn touch(&mut self) {
        let data = if lfu_mode() {
            lfu_data(lfu_log_incr(self.freq()))
        } else {
            clock() & !RAW_BIT
        };
        self.0 = (self.0 & RAW_BIT) | data;
    }
    /// The access counter, decayed by the minutes since it was last decremented (Redis's
    /// `LFUDecrAndReturn`; meaningful under an LFU policy).
    pub fn freq(self) -> u8 {
        let ldt = (self.0 >> 8) & 0xffff;
        let counter = self.0 & 0xff;
        let now = lfu_minutes();
        let elapsed = if now >= ldt {
            now - ldt
        } else {
            65535 - ldt + now
        };
        let decay = LFU_DECAY_TIME.load(Ordering::Relaxed);
        let periods = elapsed.checked_div(decay).unwrap_or(0);
        counter.saturating_sub(periods) as u8
    }
    /// Takes `old`'s access counter under an LFU policy (a value replacing another).
    #[inline]
    pub fn inherit_lfu(&mut self, old: Meta) {
        if lfu_mode() {
            self.0 = (self.0 & RAW_BIT) | (old.0 & !RAW_BIT);
        }
    }
    /// Sets the access counter (RESTORE ... FREQ).
    pub fn set_freq(&mut self, f: u8) {
        self.0 = (self.0 & RAW_BIT) | lfu_data(f);
    }
    /// Sets the access clock to `secs` seconds ago.
    pub fn set_idle(&mut self, secs: u32) {
        self.0 = (self.0 & RAW_BIT) | (clock().wrapping_sub(secs) & !RAW_BIT);
    }
    pub fn raw(self) -> bool {
        self.0 & RAW_BIT != 0
    }
    pub fn set_raw(&mut self) {
        self.0 |= RAW_BIT;
    }
    pub fn clear_raw(&mut self) {
        self.0 &= !RAW_BIT;
    }
}

/// What every collection type offers the keyspace generically (OBJECT ENCODING, memory
/// accounting, DUMP and snapshots). Each type lives in its own module with its RDB body.
pub trait Collection: Clone + std::fmt::Debug + PartialEq {
    /// Number of elements (a collection is never stored empty: its key is deleted instead;
    /// streams are the exception, as in Redis).
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// `OBJECT ENCODING` name of the current representation.
    fn encoding(&self) -> &'static str;
    /// Approximate heap bytes owned.
    fn heap_size(&self) -> usize;
    /// Writes the RDB type byte and body (see `keyspace::encoding`).
    fn rdb_encode(&self, out: &mut Vec<u8>);
}

/// A stored value; every variant carries its [`Meta`]. Collections are boxed so a value stays
/// 32 bytes whatever its type, except sets: a [`Set`](super::set::Set) is itself a 24-byte
/// handle, and most sets are small intsets, for which a box would cost a 48-byte chunk each.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(Str, Meta),
    List(Box<super::list::List>, Meta),
    Hash(Box<super::hash::Hash>, Meta),
    Set(super::set::Set, Meta),
    ZSet(Box<super::zset::ZSet>, Meta),
    Stream(Box<super::stream::Stream>, Meta),
}

/// Applies `$f` to the collection inside any non-string variant.
macro_rules! with_collection {
    ($v:expr, $c:ident => $e:expr, $s:ident => $se:expr) => {
        match $v {
            Value::Str($s, _) => $se,
            Value::List($c, _) => $e,
            Value::Hash($c, _) => $e,
            Value::Set($c, _) => $e,
            Value::ZSet($c, _) => $e,
            Value::Stream($c, _) => $e,
        }
    };
}

impl Value {
    pub fn string(b: &[u8]) -> Value {
        Value::Str(Str::from_slice(b), Meta::now())
    }

    pub fn vtype(&self) -> ValueType {
        match self {
            Value::Str(..) => ValueType::String,
            Value::List(..) => ValueType::List,
            Value::Hash(..) => ValueType::Hash,
            Value::Set(..) => ValueType::Set,
            Value::ZSet(..) => ValueType::ZSet,
            Value::Stream(..) => ValueType::Stream,
        }
    }

    /// Whether two values hold the same data, whatever their access metadata. Conservative: the
    /// same data in two representations (a listpack and a hashtable, fields in another order)
    /// compares unequal.
    pub fn same_data(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Str(a, _), Value::Str(b, _)) => a == b,
            (Value::List(a, _), Value::List(b, _)) => a == b,
            (Value::Hash(a, _), Value::Hash(b, _)) => a == b,
            (Value::Set(a, _), Value::Set(b, _)) => a == b,
            (Value::ZSet(a, _), Value::ZSet(b, _)) => a == b,
            (Value::Stream(a, _), Value::Stream(b, _)) => a == b,
            _ => false,
        }
    }

    pub fn meta(&self) -> Meta {
        match self {
            Value::Str(_, m)
            | Value::List(_, m)
            | Value::Hash(_, m)
            | Value::Set(_, m)
            | Value::ZSet(_, m)
            | Value::Stream(_, m) => *m,
        }
    }

    pub fn meta_mut(&mut self) -> &mut Meta {
        match self {
            Value::Str(_, m)
            | Value::List(_, m)
            | Value::Hash(_, m)
            | Value::Set(_, m)
            | Value::ZSet(_, m)
            | Value::Stream(_, m) => m,
        }
    }

    pub fn touch(&mut self) {
        self.meta_mut().touch();
    }

    pub fn access_clock(&self) -> u32 {
        self.meta().clock()
    }

    /// The decayed access counter under an LFU policy (`OBJECT FREQ`, eviction).
    pub fn freq(&self) -> u8 {
        self.meta().freq()
    }

    /// `OBJECT ENCODING`, with Redis's names for the equivalent representation.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(_, m) if m.raw() => "raw",
            Value::Str(s, _) => {
                if s.len() <= 20 && crate::util::num::parse_i64(s).is_some() {
                    "int"
                } else if s.len() <= 44 {
                    "embstr"
                } else {
                    "raw"
                }
            }
            other => with_collection!(other, c => c.encoding(), _s => "raw"),
        }
    }

    /// OBJECT REFCOUNT's figure. Eddy shares no values, but Redis keeps one object for each
    /// integer below 10000 (`OBJ_SHARED_INTEGERS`, refcount `INT_MAX`) and clients and test
    /// suites read that: an `int` string in that range reports it where Redis would share it.
    pub fn refcount(&self, shares_integers: bool) -> i64 {
        match self {
            Value::Str(s, _)
                if shares_integers
                    && self.encoding() == "int"
                    && crate::util::num::parse_i64(s).is_some_and(|n| (0..10_000).contains(&n)) =>
            {
                i64::from(i32::MAX)
            }
            _ => 1,
        }
    }

    /// Approximate heap bytes owned by the value beyond its handle (for INFO memory, eviction).
    /// Bytes of a string or elements of a collection: O(1), a lower bound on the size of the
    /// value's encoding, so callers can skip large values without measuring them.
    pub fn elements(&self) -> usize {
        with_collection!(self, c => c.len(), s => s.len())
    }

    pub fn heap_size(&self) -> usize {
        with_collection!(self, c => c.heap_size(), s => if s.spilled() { s.capacity() } else { 0 })
    }
}

/// Redis's `LFU_INIT_VAL`: a new key's counter, so it is not evicted before it had a chance.
const LFU_INIT: u8 = 5;
static LFU_MODE: AtomicBool = AtomicBool::new(false);
static LFU_LOG_FACTOR: AtomicU32 = AtomicU32::new(10);
static LFU_DECAY_TIME: AtomicU32 = AtomicU32::new(1);

/// Applies `maxmemory-policy` (LFU or not), `lfu-log-factor` and `lfu-decay-time`.
pub fn configure_lfu(on: bool, log_factor: u32, decay_minutes: u32) {
    LFU_LOG_FACTOR.store(log_factor, Ordering::Relaxed);
    LFU_DECAY_TIME.store(decay_minutes, Ordering::Relaxed);
    LFU_MODE.store(on, Ordering::Relaxed);
}

/// Whether an LFU policy is selected (values hold access counters, not idle clocks).
#[inline]
pub fn lfu_mode() -> bool {
    LFU_MODE.load(Ordering::Relaxed)
}

/// Minutes on the access clock, in 16 bits.
fn lfu_minutes() -> u32 {
    (clock() / 60) & 0xffff
}

fn lfu_data(counter: u8) -> u32 {
    (lfu_minutes() << 8) | u32::from(counter)
}

/// Redis's `LFULogIncr`: the higher the counter, the less likely an access raises it.
fn lfu_log_incr(counter: u8) -> u8 {
    if counter == u8::MAX {
        return counter;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT));
    let p = 1.0 / (base * f64::from(LFU_LOG_FACTOR.load(Ordering::Relaxed)) + 1.0);
    if rand::random::<f64>() < p {
        counter + 1
    } else {
        counter
    }
}

/// The LRU clock: seconds since the process started, wrapping at 2^32. Reading it is one relaxed
/// load; [`tick_clock`] advances it from the server's periodic task, as Redis's `lruclock` is
/// updated by `serverCron`, so no command pays for a clock read to touch a key.
pub fn clock() -> u32 {
    LRU_CLOCK.load(Ordering::Relaxed)
}

static LRU_CLOCK: AtomicU32 = AtomicU32::new(0);

/// Advances the LRU clock; called about ten times a second.
pub fn tick_clock() {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    let secs = START.get_or_init(Instant::now).elapsed().as_secs() as u32;
    LRU_CLOCK.store(secs, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_is_as_small_as_a_string_handle_plus_tag() {
        assert_eq!(std::mem::size_of::<Str>(), 24);
        assert!(std::mem::size_of::<crate::keyspace::set::Set>() <= 24);
        assert_eq!(std::mem::size_of::<Value>(), 32);
    }
}
