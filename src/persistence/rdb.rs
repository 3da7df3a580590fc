//! RDB files: the keyspace as Redis's own dump format, for replicas' full synchronisation
//! (`server::replication`) — a Redis replica, or `redis-cli --rdb`, loads it as it loads a
//! Redis primary's — and the reader ([`Parser`]) of a Redis primary's image that a follower
//! applies (`server::follow`): one module owns the format both ways.
//!
//! The image comes from an ordinary snapshot job ([`snapshot::start_as`] with
//! [`Format::Rdb`]): the same copy-on-write at shard granularity that BGSAVE uses, so the file is
//! the keyspace exactly as of one log offset and the server keeps serving while it is built.
//! Only the shard bodies differ: key entries in RDB form instead of the snapshot file's.
//!
//! ## Layout (RDB version 10, what Redis 7.0 writes and reads)
//! ```text
//! "REDIS0010" | aux fields (0xFA name value) | function libraries (0xF5 code)
//! per database a shard holds keys of: 0xFE db | entries: [0xFC u64 expire-at ms] type key body
//! 0xFF | u64 CRC-64/Jones of everything before, little-endian
//! ```
//! Values are `keyspace::encoding`'s RDB object encoding (type byte, then the body), the same
//! bytes DUMP carries; RDB puts the key between the two. A database may be selected more than
//! once (each shard holds a slice of every database); Redis's loader allows that.
//!
//! [`snapshot::start_as`]: super::snapshot::start_as

use std::sync::atomic::Ordering;

use super::snapshot::{self, Format};
use crate::keyspace::encoding::{
    decodable, decode_body, encode_value, seal, unseal, write_len, write_string, Limits, Reader,
    CRC64, RDB_VERSION_MAX,
};
use crate::keyspace::Shard;
use crate::server::Server;

const RDB_VERSION: &[u8] = b"REDIS0010";
pub(crate) const OPCODE_FUNCTION2: u8 = 245;
pub(crate) const OPCODE_FUNCTION_PRE_GA: u8 = 246;
pub(crate) const OPCODE_MODULE_AUX: u8 = 247;
pub(crate) const OPCODE_IDLE: u8 = 248;
pub(crate) const OPCODE_FREQ: u8 = 249;
pub(crate) const OPCODE_AUX: u8 = 250;
pub(crate) const OPCODE_RESIZEDB: u8 = 251;
pub(crate) const OPCODE_EXPIRETIME_MS: u8 = 252;
pub(crate) const OPCODE_EXPIRETIME: u8 = 253;
pub(crate) const OPCODE_SELECTDB: u8 = 254;
pub(crate) const OPCODE_EOF: u8 = 255;

/// Writes one shard's keys (every database) as RDB entries.
pub fn serialize_shard(sh: &Shard, out: &mut Vec<u8>) {
    let mut key = Vec::new();
    for (db, d) in sh.dbs.iter().enumerate() {
        if d.keys.is_empty() {
            continue;
        }
        out.push(OPCODE_SELECTDB);
        write_len(out, db as u64);
        for (k, v) in d.keys.iter() {
            let exp = (!d.expires.is_empty()).then(|| d.expires.get(k)).flatten();
            if let Some(at) = exp {
                out.push(OPCODE_EXPIRETIME_MS);
                out.extend_from_slice(&at.to_le_bytes());
            }
            let start = out.len();
            encode_value(v, out);
            key.clear();
            write_string(&mut key, k);
            // The type byte comes first, then the key, then the body.
            out.splice(start + 1..start + 1, key.iter().copied());
        }
    }
}

/// What an RDB file carries (a replica may ask for less: `REPLCONF rdb-filter-only`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parts {
    pub keys: bool,
    pub functions: bool,
}

/// Bytes handed to the sink at a time (a shard body may be larger: it goes whole).
const CHUNK: usize = 64 << 10;

/// Takes a snapshot of the keyspace as an RDB file and hands it to `sink` in pieces as it is
/// written, so a large keyspace is never held twice in memory. Waits for a running BGSAVE to
/// end first (one snapshot runs at a time). `started` is called with the log offset the image
/// covers (every change after it is still to be sent) once the snapshot has begun, before any
/// piece. Blocking: call it off the async workers. When `sink` returns false (the replica is
/// gone) the rest is skipped; the snapshot still ends properly.
pub fn build(
    srv: &Server,
    parts: Parts,
    started: impl FnOnce(u64),
    mut sink: impl FnMut(&[u8]) -> bool,
) {
    let job = parts.keys.then(|| loop {
        if let Some(job) = {
            let _w = srv.world.write();
            snapshot::start_as(srv, Format::Rdb)
        } {
            break job;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    });
    let (offset, ts, functions) = match &job {
        Some(j) => (j.offset, j.ts, j.functions.clone()),
        None => {
            let _w = srv.world.write();
            let f = srv.scripts.has_functions();
            (
                crate::keyspace::txn::applied_offset(&srv.log),
                crate::util::now_ms(),
                f.then(|| srv.scripts.function_dump()),
            )
        }
    };
    started(offset);
    let mut crc = CRC64.digest();
    let mut out = Vec::with_capacity(CHUNK);
    // Checksums and hands on what `out` holds; false once the sink refused it.
    let mut flush = |out: &mut Vec<u8>| {
        crc.update(out);
        let ok = sink(out);
        out.clear();
        ok
    };
    out.extend_from_slice(RDB_VERSION);
    let aux = |out: &mut Vec<u8>, k: &str, v: &str| {
        out.push(OPCODE_AUX);
        write_string(out, k.as_bytes());
        write_string(out, v.as_bytes());
    };
    aux(
        &mut out,
        "redis-ver",
        crate::commands::connection::REDIS_VERSION,
    );
    aux(&mut out, "redis-bits", "64");
    aux(&mut out, "ctime", &(ts / 1000).to_string());
    aux(
        &mut out,
        "used-mem",
        &crate::util::alloc::used().to_string(),
    );
    aux(&mut out, "aof-base", "0");
    let functions = functions.filter(|_| parts.functions);
    if let Some(body) = functions.as_deref().and_then(|f| unseal(f).ok()) {
        // FUNCTION DUMP's body is already a run of FUNCTION2 opcodes with their code.
        debug_assert!(body.first().is_none_or(|&b| b == OPCODE_FUNCTION2));
        out.extend_from_slice(body);
    }
    let mut alive = true;
    if let Some(job) = job {
        let gone = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        alive = snapshot::walk_shards(srv, &job, |_, body| {
            out.extend_from_slice(body);
            if out.len() >= CHUNK && !flush(&mut out) {
                return Err(gone());
            }
            Ok(())
        })
        .is_ok();
        srv.keyspace.end_snapshot();
        srv.persist
            .bgsave_in_progress
            .store(false, Ordering::Release);
    }
    if alive {
        out.push(OPCODE_EOF);
        if flush(&mut out) {
            sink(&crc.finalize().to_le_bytes());
        }
    }
}

/// One entry of an RDB file, as a follower applies it (`server::follow`).
pub(crate) enum Item<'a> {
    Select(u64),
    Function(Vec<u8>),
    Key {
        key: &'a [u8],
        /// The value as a DUMP payload (type, body, version, CRC).
        payload: Vec<u8>,
        /// The value decoded (parsing has to decode it to find where it ends).
        value: crate::keyspace::value::Value,
        expire_at: Option<u64>,
        idle: Option<u64>,
        freq: Option<u8>,
    },
}

/// What the parser found at the start of the bytes it was given.
pub(crate) enum Step<'a> {
    /// An entry, and the bytes it took (with the opcodes before it).
    Item(Item<'a>, usize),
    /// Bytes that hold nothing to apply (the header).
    Skip(usize),
    /// The end: `body` bytes up to and including the EOF opcode, then the checksum.
    End { body: usize, sum: u64 },
    /// The next entry continues past the bytes given.
    Short,
}

/// The checksum's algorithm, as a static the running digest can borrow.
static CRC: crc::Crc<u64> = CRC64;

/// Reads an RDB file's entries from the bytes of it at hand: an entry that continues past them
/// is [`Step::Short`], and is parsed again once more bytes have arrived.
pub(crate) struct Parser {
    /// From the header, once read.
    version: Option<u32>,
    /// Of everything consumed so far (the file's checksum covers all before it).
    pub(crate) crc: crc::Digest<'static, u64>,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            version: None,
            crc: CRC.digest(),
        }
    }
}

impl Parser {
    /// The next step at the start of `buf`, which is at byte `at` of the file.
    pub(crate) fn next<'b>(&mut self, buf: &'b [u8], at: u64) -> Result<Step<'b>, String> {
        let Some(version) = self.version else {
            if buf.len() < 9 {
                return Ok(Step::Short);
            }
            let v = buf
                .strip_prefix(b"REDIS")
                .and_then(|d| std::str::from_utf8(&d[..4]).ok()?.parse::<u32>().ok())
                .ok_or("the image is not an RDB file")?;
            if v == 0 || v > RDB_VERSION_MAX as u32 {
                return Err(format!("RDB version {v} is not supported"));
            }
            self.version = Some(v);
            return Ok(Step::Skip(9));
        };
        let mut r = Reader::new(buf);
        let (mut expire_at, mut idle, mut freq) = (None, None, None);
        // Every read past the end of `buf` means the entry continues in bytes not read yet.
        macro_rules! need {
            ($e:expr) => {
                match $e {
                    Some(v) => v,
                    None => return Ok(Step::Short),
                }
            };
        }
        loop {
            let op = need!(r.u8());
            match op {
                OPCODE_EOF => {
                    let body = r.pos;
                    if version < 5 {
                        return Ok(Step::End { body, sum: 0 });
                    }
                    let sum = need!(r.take(8));
                    let sum = u64::from_le_bytes(sum.try_into().expect("8 bytes"));
                    return Ok(Step::End { body, sum });
                }
                OPCODE_AUX => {
                    need!(r.string());
                    need!(r.string());
                }
                OPCODE_RESIZEDB => {
                    need!(r.length());
                    need!(r.length());
                }
                OPCODE_SELECTDB => {
                    let db = need!(r.length());
                    return Ok(Step::Item(Item::Select(db), r.pos));
                }
                OPCODE_EXPIRETIME_MS => {
                    let b = need!(r.take(8));
                    expire_at = Some(u64::from_le_bytes(b.try_into().expect("8 bytes")));
                }
                OPCODE_EXPIRETIME => {
                    let b = need!(r.take(4));
                    expire_at =
                        Some(u32::from_le_bytes(b.try_into().expect("4 bytes")) as u64 * 1000);
                }
                OPCODE_IDLE => idle = Some(need!(r.length())),
                OPCODE_FREQ => freq = Some(need!(r.u8())),
                OPCODE_FUNCTION2 => {
                    let code = need!(r.string());
                    return Ok(Step::Item(Item::Function(code), r.pos));
                }
                OPCODE_FUNCTION_PRE_GA | OPCODE_MODULE_AUX => {
                    let what = if op == OPCODE_MODULE_AUX {
                        "module"
                    } else {
                        "pre-7.0 function"
                    };
                    return Err(format!(
                        "the primary's image holds {what} data, which Eddy does not load"
                    ));
                }
                t if !decodable(t) => {
                    return Err(format!(
                        "the primary's image holds a value Eddy cannot load \
                         (RDB type {t} at byte {})",
                        at + r.pos as u64 - 1
                    ));
                }
                t => {
                    let key_len = need!(r.length());
                    let key = need!(r.take(usize::try_from(key_len).unwrap_or(usize::MAX)));
                    let body = r.pos;
                    // Only compared with the value held (`follow`'s diff); the key is applied by
                    // RESTORE, which builds it under the limits in force.
                    let value = need!(decode_body(t, &mut r, &Limits::DEFAULT));
                    let mut payload = Vec::with_capacity(1 + r.pos - body + 10);
                    payload.push(t);
                    payload.extend_from_slice(&buf[body..r.pos]);
                    let item = Item::Key {
                        key,
                        payload: seal(payload),
                        value,
                        expire_at,
                        idle,
                        freq,
                    };
                    return Ok(Step::Item(item, r.pos));
                }
            }
        }
    }
}
