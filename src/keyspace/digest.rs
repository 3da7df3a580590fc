//! DEBUG DIGEST and DIGEST-VALUE: Redis's digest of a dataset or of values, bit for bit, so an
//! Eddy that follows a Redis primary (or that Redis replicas follow) can be checked against the
//! other side with one command on each.
//!
//! The digest is Redis's (`debug.c`), built from SHA-1 in two ways: *xor* folds a SHA-1 of some
//! bytes into a 20-byte digest (order does not matter), *mix* folds it in and then replaces the
//! digest by its own SHA-1 (order matters). A value is its type code (big-endian `u32`) mixed
//! in, then by type:
//! - a string: its bytes, mixed;
//! - a list: each element in order, mixed;
//! - a set: each member, xored;
//! - a sorted set: for each member, a fresh digest with the member and its score (`%.17g`)
//!   mixed in, xored;
//! - a hash: for each field, a fresh digest with the field and the value mixed in, xored;
//! - a stream: each entry in order, its ID as `<ms>.<seq>` then its fields and values, mixed
//!   (consumer groups are not part of it);
//! - and `!!expire!!` xored when the key has a TTL.
//!
//! A key's digest is the key mixed into a zero digest, then its value. The dataset's is zero for
//! an empty dataset; otherwise, for each database that holds keys, its number (big-endian `u32`)
//! mixed in, then every key's digest xored. Integers held in compact encodings count as their
//! decimal text, as Redis's do, so the encoding never changes the digest. Like Redis's, the
//! digest counts keys past their TTL that are not deleted yet.

use sha1_smol::Sha1;

use super::value::{Value, ValueType};
use super::{Locked, Shard};

pub type Digest = [u8; 20];

fn xor(d: &mut Digest, bytes: &[u8]) {
    let h = Sha1::from(bytes).digest().bytes();
    for (a, b) in d.iter_mut().zip(h) {
        *a ^= b;
    }
}

fn mix(d: &mut Digest, bytes: &[u8]) {
    xor(d, bytes);
    *d = Sha1::from(&d[..]).digest().bytes();
}

/// Redis's type code for a value's type (`OBJ_STRING` ... `OBJ_STREAM`).
fn type_code(t: ValueType) -> u32 {
    match t {
        ValueType::String | ValueType::None => 0,
        ValueType::List => 1,
        ValueType::Set => 2,
        ValueType::ZSet => 3,
        ValueType::Hash => 4,
        ValueType::Stream => 6,
    }
}

/// Folds value `v` into `d` (Redis's `xorObjectDigest`); `ttl` says whether its key has one.
fn value_into(d: &mut Digest, v: &Value, ttl: bool) {
    mix(d, &type_code(v.vtype()).to_be_bytes());
    match v {
        Value::Str(s, _) => mix(d, s),
        Value::List(l, _) => l.iter().for_each(|e| mix(d, e)),
        Value::Set(s, _) => s.for_each(|m| xor(d, m)),
        Value::ZSet(z, _) => z.for_each(|m, score| {
            let mut e = [0; 20];
            mix(&mut e, m);
            mix(&mut e, crate::util::num::fmt_double(score).as_bytes());
            xor(d, &e);
        }),
        Value::Hash(h, _) => {
            for (f, val) in h.iter() {
                let mut e = [0; 20];
                mix(&mut e, f);
                mix(&mut e, val);
                xor(d, &e);
            }
        }
        Value::Stream(s, _) => {
            use super::stream::{unpack, StreamId};
            let all = s.range(
                StreamId::new(0, 0),
                StreamId::new(u64::MAX, u64::MAX),
                false,
            );
            for (id, packed) in all {
                mix(d, format!("{}.{}", id.ms, id.seq).as_bytes());
                unpack(packed).for_each(|x| mix(d, x));
            }
        }
    }
    if ttl {
        xor(d, b"!!expire!!");
    }
}

/// DEBUG DIGEST: the digest of every database, over the shards `l` holds (all of them).
pub fn dataset(l: &mut Locked<'_>) -> Digest {
    let shards: Vec<&Shard> = l.shards_mut().map(|s| &*s).collect();
    let mut d = [0; 20];
    for db in 0..shards.first().map_or(0, |s| s.dbs.len()) {
        db_into(&mut d, db, &shards);
    }
    d
}

/// The digest of database `db` across `shards`, folded into `d` (nothing if it holds no key).
fn db_into(d: &mut Digest, db: usize, shards: &[&Shard]) {
    if shards.iter().all(|s| s.dbs[db].is_empty()) {
        return;
    }
    mix(d, &(db as u32).to_be_bytes());
    for s in shards {
        let slice = &s.dbs[db];
        for (k, v) in slice.keys.iter() {
            let mut kd = [0; 20];
            mix(&mut kd, k);
            value_into(&mut kd, v, slice.expires.get(k).is_some());
            xor(d, &kd);
        }
    }
}

/// DEBUG DIGEST-VALUE: the digest of each key's value in `db` (zero for a missing key), under
/// `l`, which holds the keys' shards. As in Redis, a key past its TTL that is not deleted yet
/// still has its value's digest.
pub fn values(l: &mut Locked<'_>, db: usize, keys: &[&[u8]]) -> Vec<Digest> {
    keys.iter()
        .map(|k| {
            let slice = l.db_mut(db, k);
            let mut d = [0; 20];
            if let Some(v) = slice.keys.get(k) {
                value_into(&mut d, v, slice.expires.get(k).is_some());
            }
            d
        })
        .collect()
}
