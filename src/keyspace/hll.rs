//! HyperLogLog values, bit-compatible with Redis 7's `hyperloglog.c`.
//!
//! A HyperLogLog is an ordinary string value, so it moves between Redis and Eddy with GET/SET and
//! DUMP/RESTORE, and PFCOUNT gives the same number for the same bytes. That requires the same
//! layout, the same hash, the same register updates (including the exact shape of the sparse
//! encoding, which depends on the order of updates) and the same estimator, all reproduced here
//! from Redis's documented algorithm.
//!
//! ## Layout
//! A 16-byte header, then the registers:
//! ```text
//! +------+---+-----+----------+
//! | HYLL | E | N/U | Cardin.  |   magic "HYLL", encoding byte E (0 dense, 1 sparse), 3 unused
//! +------+---+-----+----------+   bytes, 8-byte cached cardinality, little-endian
//! ```
//! The cached cardinality is valid unless the most significant bit of its last byte (header byte
//! 15) is set; every register change sets that bit, PFCOUNT recomputes and stores it.
//!
//! There are P = 14 index bits, so 16384 registers of 6 bits each.
//! * **Dense** (12304 bytes in all): the registers packed from the least significant bit of byte
//!   0 upwards, register `i` at bits `6i .. 6i+6` of the little-endian bit stream.
//! * **Sparse**: a run-length sequence of opcodes that must cover exactly 16384 registers:
//!   - `ZERO`  `00xxxxxx`: 1..64 registers at zero (length `xxxxxx + 1`);
//!   - `XZERO` `01xxxxxx yyyyyyyy`: 1..16384 registers at zero (14-bit length + 1);
//!   - `VAL`   `1vvvvvxx`: 1..4 registers (`xx + 1`) at value 1..32 (`vvvvv + 1`).
//!
//!   A new HLL is a sparse one made of a single `XZERO` covering every register (18 bytes). An
//!   update splits the opcode covering the register into at most `ZERO/XZERO - VAL - ZERO/XZERO`
//!   (or `VAL - VAL - VAL`), then merges equal adjacent `VAL`s, scanning at most five opcodes from
//!   the one before the change, exactly as Redis does, so the bytes come out identical. The value
//!   is promoted to dense when a register needs a value above 32, or when growing would make the
//!   string longer than `hll-sparse-max-bytes` (default 3000).
//!
//! ## Hash and estimator
//! An element is hashed with MurmurHash64A (seed `0xadc83b19`, little-endian reads). The low 14
//! bits select the register; the register takes the position of the lowest set bit of the
//! remaining 50 bits (plus one, at most 51). The count is Otmar Ertl's improved estimator
//! ("New cardinality estimation algorithms for HyperLogLog sketches", arXiv:1702.01284) over the
//! histogram of register values, as Redis 5+ computes it (`tau`/`sigma`), in the same floating
//! point order of operations, rounded half away from zero.
//!
//! ## Corrupt values
//! Any bytes may be SET by a client. A value that is not an HLL at all (too short, bad magic,
//! unknown encoding, dense of the wrong length) is [`HllError::NotHll`] (Redis's `WRONGTYPE Key is
//! not a valid HyperLogLog string value.`); a sparse value whose opcodes do not cover exactly the
//! registers is [`HllError::Corrupt`] (`INVALIDOBJ Corrupted HLL object detected`) where Redis
//! detects it, with Redis's replies (a fuzzed comparison against redis-server 7.0.15 agrees on
//! replies and bytes). Nothing here panics on any input: a read past the end of a string reads
//! the zero byte Redis's strings carry after their end. One deliberate difference: when PFADD
//! fails half-way on a corrupt sparse value, Redis keeps the registers it had already changed
//! (without propagating them); Eddy leaves the value untouched, so the change log never
//! diverges from the data.

use super::value::Str;

/// Header bytes before the registers.
pub const HDR: usize = 16;
/// Index bits.
pub const P: u32 = 14;
/// Bits of the hash left after the index.
pub const Q: usize = 64 - P as usize;
/// Number of registers.
pub const REGISTERS: usize = 1 << P;
/// Register width in the dense encoding.
const BITS: usize = 6;
const REGISTER_MAX: u32 = (1 << BITS) - 1;
/// Length of a dense HLL, header included.
pub const DENSE_SIZE: usize = HDR + (REGISTERS * BITS).div_ceil(8);
/// Encoding byte values.
pub const DENSE: u8 = 0;
pub const SPARSE: u8 = 1;
const MAGIC: &[u8; 4] = b"HYLL";
/// Seed of the element hash.
const SEED: u32 = 0xadc8_3b19;
/// 0.5 / ln 2, the estimator's constant for an infinite number of registers.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

// Sparse opcodes.
const XZERO_BIT: u8 = 0x40;
const VAL_BIT: u8 = 0x80;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;

/// Why a string can't be used as an HLL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HllError {
    /// Not an HLL at all: Redis's WRONGTYPE variant.
    NotHll,
    /// An HLL whose sparse encoding is broken: INVALIDOBJ.
    Corrupt,
}

impl HllError {
    /// The wire error.
    pub fn message(self) -> &'static str {
        match self {
            HllError::NotHll => crate::error::HLL_WRONGTYPE,
            HllError::Corrupt => crate::error::HLL_CORRUPT,
        }
    }
}

impl From<HllError> for crate::error::CmdError {
    fn from(e: HllError) -> Self {
        e.message().into()
    }
}

/// Checks the header as Redis's `isHLLObjectOrReply`; returns the encoding.
pub fn check(s: &[u8]) -> Result<u8, HllError> {
    if s.len() < HDR || &s[..4] != MAGIC {
        return Err(HllError::NotHll);
    }
    match s[4] {
        DENSE if s.len() == DENSE_SIZE => Ok(DENSE),
        SPARSE => Ok(SPARSE),
        _ => Err(HllError::NotHll),
    }
}

/// A new, empty HLL: sparse, one XZERO per 16384 registers, cached cardinality 0.
pub fn new_hll() -> Str {
    let mut s = Str::new();
    s.extend_from_slice(MAGIC);
    s.push(SPARSE);
    s.extend_from_slice(&[0; 11]);
    let mut left = REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        push_xzero(&mut s, n);
        left -= n;
    }
    s
}

/// Marks the cached cardinality stale (what Redis does to any HLL a command created or changed).
pub fn invalidate_cache(s: &mut [u8]) {
    if let Some(b) = s.get_mut(15) {
        *b |= 0x80;
    }
}

/// The cached cardinality, if valid.
fn cached(s: &[u8]) -> Option<u64> {
    let c: [u8; 8] = s.get(8..16)?.try_into().ok()?;
    (c[7] & 0x80 == 0).then(|| u64::from_le_bytes(c))
}

// ---------------------------------------------------------------------------------------------
// Hashing

/// MurmurHash2, 64-bit version (MurmurHash64A), reading 8-byte blocks little-endian whatever the
/// platform, as Redis's endian-neutral variant does.
pub fn murmur64a(data: &[u8], seed: u32) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = (seed as u64) ^ (data.len() as u64).wrapping_mul(M);
    let mut blocks = data.chunks_exact(8);
    for b in blocks.by_ref() {
        let mut k = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate() {
            h ^= (b as u64) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in and the value it proposes (the 1-based position of the
/// lowest set bit of the hash above the index bits, at most Q + 1).
pub fn pattern(ele: &[u8]) -> (usize, u8) {
    let hash = murmur64a(ele, SEED);
    let index = (hash & (REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> P) | (1u64 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// ---------------------------------------------------------------------------------------------
// Dense registers

fn dense_get(regs: &[u8], i: usize) -> u8 {
    let bit = i * BITS;
    let (b, fb) = (bit / 8, (bit & 7) as u32);
    let b0 = regs.get(b).copied().unwrap_or(0) as u32;
    let b1 = regs.get(b + 1).copied().unwrap_or(0) as u32;
    (((b0 >> fb) | (b1 << (8 - fb))) & REGISTER_MAX) as u8
}

fn dense_put(regs: &mut [u8], i: usize, v: u8) {
    let bit = i * BITS;
    let (b, fb) = (bit / 8, (bit & 7) as u32);
    let v = v as u32;
    if let Some(x) = regs.get_mut(b) {
        *x &= !((REGISTER_MAX << fb) as u8);
        *x |= (v << fb) as u8;
    }
    if let Some(x) = regs.get_mut(b + 1) {
        *x &= !((REGISTER_MAX >> (8 - fb)) as u8);
        *x |= (v >> (8 - fb)) as u8;
    }
}

/// Raises register `i` to `count`; true if it changed.
fn dense_set(regs: &mut [u8], i: usize, count: u8) -> bool {
    if count > dense_get(regs, i) {
        dense_put(regs, i, count);
        true
    } else {
        false
    }
}

// ---------------------------------------------------------------------------------------------
// Sparse opcodes

fn is_zero(op: u8) -> bool {
    op & 0xc0 == 0
}
fn is_xzero(op: u8) -> bool {
    op & 0xc0 == XZERO_BIT
}
fn is_val(op: u8) -> bool {
    op & VAL_BIT != 0
}
fn zero_len(op: u8) -> usize {
    (op & 0x3f) as usize + 1
}
fn xzero_len(op: u8, next: u8) -> usize {
    ((((op & 0x3f) as usize) << 8) | next as usize) + 1
}
fn val_value(op: u8) -> u8 {
    ((op >> 2) & 0x1f) + 1
}
fn val_len(op: u8) -> usize {
    (op & 0x3) as usize + 1
}
fn val_op(value: u8, len: usize) -> u8 {
    ((((value as usize - 1) << 2) | (len - 1)) as u8) | VAL_BIT
}
fn push_xzero(out: &mut impl Extend<u8>, len: usize) {
    let l = len - 1;
    out.extend([((l >> 8) as u8) | XZERO_BIT, (l & 0xff) as u8]);
}
/// ZERO or XZERO for a run of `len` zero registers.
fn push_zeros(out: &mut smallvec::SmallVec<[u8; 5]>, len: usize) {
    if len > ZERO_MAX_LEN {
        push_xzero(out, len);
    } else {
        out.push((len - 1) as u8);
    }
}

/// Byte `i` of `s`, or the zero terminator Redis's strings have past their end.
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// Walks the opcodes of a sparse body ending at `end` (bytes beyond it, if any, are the string's
/// terminator), calling `f(first_register, run_length, value)` for each (value 0 for
/// ZERO/XZERO). Stops early when `f` returns false.
fn walk_sparse(body: &[u8], end: usize, mut f: impl FnMut(usize, usize, u8) -> bool) {
    let mut p = 0;
    let mut idx = 0usize;
    while p < end {
        let op = body[p];
        let (run, val, len) = if is_zero(op) {
            (zero_len(op), 0, 1)
        } else if is_xzero(op) {
            (xzero_len(op, at(body, p + 1)), 0, 2)
        } else {
            (val_len(op), val_value(op), 1)
        };
        if !f(idx, run, val) {
            return;
        }
        idx += run;
        p += len;
    }
}

/// The registers of a sparse HLL as bytes (Redis's `hllSparseToDense` / `hllMerge` walk): a VAL
/// run that would pass the last register makes the HLL corrupt (as in Redis since the fix for
/// CVE-2025-32023, even where the run starts exactly after the last register), and the runs must
/// cover exactly every register.
fn sparse_for_each_val(
    body: &[u8],
    end: usize,
    mut f: impl FnMut(usize, u8),
) -> Result<(), HllError> {
    let mut total = 0usize;
    walk_sparse(body, end, |first, run, val| {
        total = first + run;
        if val == 0 {
            return true;
        }
        if first + run > REGISTERS {
            total = usize::MAX;
            return false;
        }
        for i in first..first + run {
            f(i, val);
        }
        true
    });
    if total == REGISTERS {
        Ok(())
    } else {
        Err(HllError::Corrupt)
    }
}

/// Converts a sparse HLL to dense in place (header, cached cardinality included, is kept).
/// `work`: `s` is a working buffer, whose last byte is the terminator (see [`sparse_set`]).
fn sparse_to_dense(s: &mut Str, work: bool) -> Result<(), HllError> {
    if at(s, 4) == DENSE {
        return Ok(());
    }
    let end = s.len() - HDR - usize::from(work);
    let mut dense = Str::from_elem(0, DENSE_SIZE);
    dense[..HDR].copy_from_slice(&s[..HDR]);
    dense[4] = DENSE;
    let (_, regs) = dense.split_at_mut(HDR);
    sparse_for_each_val(&s[HDR..], end, |i, v| dense_put(regs, i, v))?;
    *s = dense;
    Ok(())
}

/// Raises register `index` of a sparse HLL to `count` (Redis's `hllSparseSet`), promoting it to
/// dense when needed. Ok(true) if the register changed.
///
/// `s` is a working buffer: the value followed by one more byte, which stands for the byte after
/// the end of a Redis string (its terminator, normally zero). Redis reads it for an XZERO opcode
/// truncated at the end of a corrupt value, and writes into it when such an opcode is split, so
/// a sequence of updates in one command sees what Redis's would.
fn sparse_set(s: &mut Str, index: usize, count: u8, max_bytes: usize) -> Result<bool, HllError> {
    if count > VAL_MAX_VALUE {
        return promote(s, index, count);
    }
    // Step 1: find the opcode covering `index`.
    let mut end = s.len() - 1;
    let mut p = HDR;
    let mut first = 0usize;
    let mut prev: Option<usize> = None;
    let mut span = 0usize;
    while p < end {
        let op = s[p];
        let oplen;
        if is_zero(op) {
            span = zero_len(op);
            oplen = 1;
        } else if is_val(op) {
            span = val_len(op);
            oplen = 1;
        } else {
            span = xzero_len(op, at(s, p + 1));
            oplen = 2;
        }
        if index < first + span {
            break;
        }
        prev = Some(p);
        p += oplen;
        first += span;
    }
    if span == 0 || p >= end {
        return Err(HllError::Corrupt);
    }
    let op = s[p];
    let (zero, xzero, val) = (is_zero(op), is_xzero(op), is_val(op));
    let runlen = span;

    // Step 2: the trivial in-place updates, else the split sequence.
    let mut in_place = false;
    if val {
        if val_value(op) >= count {
            return Ok(false);
        }
        if runlen == 1 {
            s[p] = val_op(count, 1);
            in_place = true;
        }
    }
    if zero && runlen == 1 {
        s[p] = val_op(count, 1);
        in_place = true;
    }
    if !in_place {
        let last = first + span - 1;
        let mut seq: smallvec::SmallVec<[u8; 5]> = smallvec::SmallVec::new();
        if zero || xzero {
            if index != first {
                push_zeros(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zeros(&mut seq, last - index);
            }
        } else {
            let cur = val_value(op);
            if index != first {
                seq.push(val_op(cur, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(cur, last - index));
            }
        }
        // Step 3: replace the old opcode by the sequence.
        let oldlen = if xzero { 2 } else { 1 };
        if seq.len() > oldlen && end + (seq.len() - oldlen) > max_bytes {
            return promote(s, index, count);
        }
        let new_len = end + seq.len() - oldlen;
        // Move what follows the opcode, terminate at the new length, then write the sequence:
        // for an XZERO truncated at the end, its last byte lands on the terminator, as in Redis.
        let tail: Str = Str::from_slice(s.get(p + oldlen..end).unwrap_or(&[]));
        s.resize((new_len + 1).max(p + seq.len()), 0);
        s[p + seq.len()..p + seq.len() + tail.len()].copy_from_slice(&tail);
        s[new_len] = 0;
        s[p..p + seq.len()].copy_from_slice(&seq);
        s.truncate(new_len + 1);
        end = new_len;
    }

    // Step 4: merge adjacent VALs of the same value, at most five opcodes from `prev`.
    let mut p = prev.unwrap_or(HDR);
    let mut scan = 5;
    while p < end && scan > 0 {
        scan -= 1;
        let op = s[p];
        if is_xzero(op) {
            p += 2;
            continue;
        } else if is_zero(op) {
            p += 1;
            continue;
        }
        if p + 1 < end && is_val(s[p + 1]) {
            let next = s[p + 1];
            let v = val_value(op);
            if v == val_value(next) {
                let len = val_len(op) + val_len(next);
                if len <= VAL_MAX_LEN {
                    s[p + 1] = val_op(v, len);
                    s.remove(p);
                    end -= 1;
                    s[end] = 0;
                    continue;
                }
            }
        }
        p += 1;
    }
    invalidate_cache(s);
    Ok(true)
}

/// Promotes to dense, then sets the register (which must change, as in Redis).
fn promote(s: &mut Str, index: usize, count: u8) -> Result<bool, HllError> {
    sparse_to_dense(s, true)?;
    Ok(dense_set(&mut s[HDR..], index, count))
}

/// Raises register `index` to `count` in either encoding (a sparse `s` is a working buffer).
fn set_register(s: &mut Str, index: usize, count: u8, max_bytes: usize) -> Result<bool, HllError> {
    match at(s, 4) {
        DENSE => Ok(dense_set(&mut s[HDR..], index, count)),
        SPARSE => sparse_set(s, index, count, max_bytes),
        _ => Err(HllError::NotHll),
    }
}

/// PFADD's work on an existing, checked HLL: adds every element and invalidates the cache if a
/// register changed. On error the value is left as it was (Redis may keep a partial update).
pub fn add(
    s: &mut Str,
    elements: impl IntoIterator<Item = impl AsRef<[u8]>>,
    max_bytes: usize,
) -> Result<bool, HllError> {
    check(s)?;
    let mut changed = false;
    if at(s, 4) == DENSE {
        // Dense updates can't fail: work in place.
        for e in elements {
            let (i, c) = pattern(e.as_ref());
            changed |= dense_set(&mut s[HDR..], i, c);
        }
    } else {
        let mut work = s.clone();
        work.push(0);
        for e in elements {
            let (i, c) = pattern(e.as_ref());
            changed |= set_register(&mut work, i, c, max_bytes)?;
        }
        if changed {
            if !is_dense(&work) {
                work.pop();
            }
            *s = work;
        }
    }
    if changed {
        invalidate_cache(s);
    }
    Ok(changed)
}

// ---------------------------------------------------------------------------------------------
// Counting and merging

/// Raises `max[i]` to every register of the HLL `s` (Redis's `hllMerge`). `s` must be checked.
pub fn merge_into(max: &mut [u8; REGISTERS], s: &[u8]) -> Result<(), HllError> {
    match check(s)? {
        DENSE => {
            let regs = &s[HDR..];
            for (i, m) in max.iter_mut().enumerate() {
                let v = dense_get(regs, i);
                if v > *m {
                    *m = v;
                }
            }
            Ok(())
        }
        _ => sparse_for_each_val(&s[HDR..], s.len() - HDR, |i, v| {
            if let Some(m) = max.get_mut(i) {
                if v > *m {
                    *m = v;
                }
            }
        }),
    }
}

/// Redis's `hllSigma`.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let prev = z;
        z += x * y;
        y += y;
        if prev == z {
            return z;
        }
    }
}

/// Redis's `hllTau`.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let prev = z;
        y *= 0.5;
        let d = 1.0 - x;
        z -= d * d * y;
        if prev == z {
            return z / 3.0;
        }
    }
}

/// The estimate from a histogram of register values (Ertl's improved estimator).
fn estimate(histo: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let mut z = m * tau((m - histo[Q + 1] as f64) / m);
    for j in (1..=Q).rev() {
        z += histo[j] as f64;
        z *= 0.5;
    }
    z += m * sigma(histo[0] as f64 / m);
    (ALPHA_INF * m * m / z).round() as u64
}

/// The cardinality of registers given one byte each (PFCOUNT of several keys).
pub fn count_registers(max: &[u8; REGISTERS]) -> u64 {
    let mut histo = [0u32; 64];
    for &v in max.iter() {
        histo[(v & 63) as usize] += 1;
    }
    estimate(&histo)
}

/// The cardinality of a checked HLL, computed (not cached).
fn compute(s: &[u8]) -> Result<u64, HllError> {
    let mut histo = [0u32; 64];
    match check(s)? {
        DENSE => {
            let regs = &s[HDR..];
            for i in 0..REGISTERS {
                histo[dense_get(regs, i) as usize] += 1;
            }
        }
        _ => {
            let mut total = 0usize;
            walk_sparse(&s[HDR..], s.len() - HDR, |first, run, val| {
                total = first + run;
                histo[val as usize] = histo[val as usize].wrapping_add(run as u32);
                true
            });
            if total != REGISTERS {
                return Err(HllError::Corrupt);
            }
        }
    }
    Ok(estimate(&histo))
}

/// PFCOUNT of one key: the cached cardinality if valid, else computed and cached. Returns the
/// count and whether the value changed (the cache was refreshed).
pub fn count(s: &mut Str) -> Result<(u64, bool), HllError> {
    check(s)?;
    if let Some(c) = cached(s) {
        return Ok((c, false));
    }
    let c = compute(s)?;
    s[8..16].copy_from_slice(&c.to_le_bytes());
    Ok((c, true))
}

/// PFMERGE's write: raises the registers of the destination `s` (checked, and merged into `max`
/// already) to `max`, converting it to dense first if `dense`, and invalidates its cache.
pub fn store_merged(
    s: &mut Str,
    max: &[u8; REGISTERS],
    dense: bool,
    max_bytes: usize,
) -> Result<(), HllError> {
    check(s)?;
    if dense {
        sparse_to_dense(s, false)?;
    }
    let sparse = !is_dense(s);
    if sparse {
        s.push(0);
    }
    for (i, &v) in max.iter().enumerate() {
        if v != 0 {
            // `s` was validated as a source, so a sparse update can't fail; like Redis, ignore.
            let _ = set_register(s, i, v, max_bytes);
        }
    }
    if sparse && !is_dense(s) {
        s.pop();
    }
    invalidate_cache(s);
    Ok(())
}

/// Whether a checked HLL is dense.
pub fn is_dense(s: &[u8]) -> bool {
    at(s, 4) == DENSE
}

// ---------------------------------------------------------------------------------------------
// PFDEBUG and PFSELFTEST

/// Converts a checked HLL to dense (PFDEBUG TODENSE and GETREG). Returns whether it was sparse.
pub fn make_dense(s: &mut Str) -> Result<bool, HllError> {
    if check(s)? == DENSE {
        return Ok(false);
    }
    sparse_to_dense(s, false)?;
    Ok(true)
}

/// The opcodes of a sparse HLL as PFDEBUG DECODE prints them: `z:<run>` (ZERO), `Z:<run>`
/// (XZERO), `v:<value>,<run>` (VAL), space-separated, to the end of the string whether or not
/// the runs cover the registers exactly (it is a debugging view of the bytes).
pub fn decode_sparse(s: &[u8]) -> String {
    use std::fmt::Write as _;
    let body = &s[HDR..];
    let mut out = String::new();
    let mut p = 0;
    while p < body.len() {
        let op = body[p];
        let _ = if is_zero(op) {
            p += 1;
            write!(out, "z:{} ", zero_len(op))
        } else if is_xzero(op) {
            p += 2;
            write!(out, "Z:{} ", xzero_len(op, at(body, p - 1)))
        } else {
            p += 1;
            write!(out, "v:{},{} ", val_value(op), val_len(op))
        };
    }
    out.truncate(out.trim_end_matches(' ').len());
    out
}

/// Rounds of PFSELFTEST's register test.
const SELFTEST_CYCLES: usize = 1000;
/// PFSELFTEST's estimates are checked at 1, 10, 100, ... up to this many elements.
const SELFTEST_ELEMENTS: u64 = 10_000_000;

/// PFSELFTEST, the checks of Redis's: dense registers keep the random values stored in them
/// without disturbing their neighbours; and a dense and a sparse HLL fed the same elements
/// (`j ^ seed` as 8 little-endian bytes, `j` from 1) agree at every power of ten, the sparse one
/// is still sparse while it is small, and the estimate is within six standard errors of the
/// truth (within 1 at 10). On failure, the `TESTFAILED` error Redis gives.
pub fn selftest(max_bytes: usize, rng: &mut impl rand::Rng) -> Result<(), String> {
    let mut regs = vec![0u8; DENSE_SIZE - HDR];
    let mut expected = [0u8; REGISTERS];
    for _ in 0..SELFTEST_CYCLES {
        for (i, e) in expected.iter_mut().enumerate() {
            *e = rng.random::<u8>() & REGISTER_MAX as u8;
            dense_put(&mut regs, i, *e);
        }
        for (i, &e) in expected.iter().enumerate() {
            let v = dense_get(&regs, i);
            if v != e {
                return Err(format!("TESTFAILED Register {i} should be {e} but is {v}"));
            }
        }
    }
    let failed = |e: HllError| e.message().to_string();
    let mut dense = new_hll();
    make_dense(&mut dense).map_err(failed)?;
    let mut sparse = new_hll();
    let relerr = 1.04 / (REGISTERS as f64).sqrt();
    let seed: u64 = rng.random();
    let (mut from, mut checkpoint) = (1u64, 1u64);
    while checkpoint <= SELFTEST_ELEMENTS {
        let elements = (from..=checkpoint).map(|j| (j ^ seed).to_le_bytes());
        add(&mut dense, elements.clone(), max_bytes).map_err(failed)?;
        add(&mut sparse, elements, max_bytes).map_err(failed)?;
        if (checkpoint as usize) < max_bytes / 2 && is_dense(&sparse) {
            return Err("TESTFAILED sparse encoding not used".into());
        }
        let card = compute(&dense).map_err(failed)?;
        if compute(&sparse).map_err(failed)? != card {
            return Err("TESTFAILED dense/sparse disagree".into());
        }
        let abserr = checkpoint.abs_diff(card);
        let maxerr = if checkpoint == 10 {
            1
        } else {
            (relerr * 6.0 * checkpoint as f64).ceil() as u64
        };
        if abserr > maxerr {
            return Err(format!(
                "TESTFAILED Too big error. card:{checkpoint} abserr:{abserr}"
            ));
        }
        from = checkpoint + 1;
        checkpoint *= 10;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(n: usize, max_bytes: usize) -> Str {
        let mut s = new_hll();
        let els: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        add(&mut s, &els, max_bytes).expect("add");
        s
    }

    fn card(s: &mut Str) -> u64 {
        count(s).expect("count").0
    }

    #[test]
    fn murmur_matches_known_values() {
        // The empty input leaves only the finalisation of seed ^ 0.
        assert_eq!(murmur64a(b"", 0), 0);
        let a = murmur64a(b"hello", SEED);
        assert_eq!(a, murmur64a(b"hello", SEED));
        assert_ne!(a, murmur64a(b"hellp", SEED));
        assert_ne!(murmur64a(b"12345678", SEED), murmur64a(b"123456789", SEED));
    }

    #[test]
    fn new_hll_is_an_empty_sparse_value() {
        let mut s = new_hll();
        assert_eq!(s.len(), 18);
        assert_eq!(&s[..5], b"HYLL\x01");
        assert_eq!(&s[16..], &[0x7f, 0xff]);
        assert_eq!(check(&s), Ok(SPARSE));
        assert_eq!(compute(&s), Ok(0));
        assert_eq!(card(&mut s), 0);
    }

    #[test]
    fn counts_match_redis() {
        // PFCOUNT after PFADD of "1".."N" in Redis 7.0.15.
        for (n, want) in [
            (1, 1),
            (100, 100),
            (1000, 1001),
            (20000, 19891),
            (100000, 99562),
        ] {
            let mut s = filled(n, 3000);
            assert_eq!(card(&mut s), want, "n = {n}");
        }
    }

    #[test]
    fn sparse_is_promoted_when_too_long_or_a_value_is_too_big() {
        let s = filled(100, 3000);
        assert_eq!(check(&s), Ok(SPARSE));
        let s = filled(3000, 3000);
        assert_eq!(check(&s), Ok(DENSE));
        assert_eq!(s.len(), DENSE_SIZE);
        // A tiny limit promotes on the first split.
        let s = filled(1, 0);
        assert_eq!(check(&s), Ok(DENSE));
        // A value above 32 can't be a VAL.
        let mut s = new_hll();
        s.push(0);
        assert_eq!(sparse_set(&mut s, 7, 33, 3000), Ok(true));
        assert!(is_dense(&s));
        assert_eq!(dense_get(&s[HDR..], 7), 33);
    }

    #[test]
    fn sparse_and_dense_give_the_same_registers_and_count() {
        for n in [1, 10, 200, 1500] {
            let mut sparse = filled(n, 1 << 20);
            assert!(!is_dense(&sparse));
            let mut dense = sparse.clone();
            sparse_to_dense(&mut dense, false).expect("dense");
            let mut a = [0u8; REGISTERS];
            let mut b = [0u8; REGISTERS];
            merge_into(&mut a, &sparse).expect("merge");
            merge_into(&mut b, &dense).expect("merge");
            assert!(a == b, "n = {n}");
            assert_eq!(card(&mut sparse), card(&mut dense));
            assert_eq!(count_registers(&a), card(&mut sparse));
        }
    }

    #[test]
    fn dense_registers_round_trip() {
        let mut regs = vec![0u8; DENSE_SIZE - HDR];
        for i in 0..REGISTERS {
            dense_put(&mut regs, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&regs, i), (i % 64) as u8);
        }
    }

    #[test]
    fn the_cache_is_used_and_invalidated() {
        let mut s = filled(10, 3000);
        assert_eq!(s[15] & 0x80, 0x80);
        let (c, refreshed) = count(&mut s).expect("count");
        assert!(refreshed);
        assert_eq!(cached(&s), Some(c));
        assert_eq!(count(&mut s), Ok((c, false)));
        // A cached value is trusted, as in Redis.
        s[8] = 77;
        assert_eq!(count(&mut s), Ok((77, false)));
        assert_eq!(add(&mut s, ["a new one"], 3000), Ok(true));
        assert_eq!(cached(&s), None);
        assert_eq!(add(&mut s, ["a new one"], 3000), Ok(false));
    }

    #[test]
    fn non_hll_strings_and_corrupt_sparse_values_are_errors() {
        assert_eq!(check(b"hello"), Err(HllError::NotHll));
        assert_eq!(
            check(b"HYLX\x01\0\0\0\0\0\0\0\0\0\0\0"),
            Err(HllError::NotHll)
        );
        assert_eq!(
            check(b"HYLL\x02\0\0\0\0\0\0\0\0\0\0\0"),
            Err(HllError::NotHll)
        );
        // Dense of the wrong length.
        assert_eq!(
            check(b"HYLL\x00\0\0\0\0\0\0\0\0\0\0\0\0"),
            Err(HllError::NotHll)
        );
        // Sparse covering too few registers.
        let mut short = new_hll();
        short.truncate(HDR);
        short.push(0x00);
        invalidate_cache(&mut short);
        let mut copy = short.clone();
        assert_eq!(count(&mut copy), Err(HllError::Corrupt));
        let mut max = [0u8; REGISTERS];
        assert_eq!(merge_into(&mut max, &short), Err(HllError::Corrupt));
        // Adding to it fails for a register it doesn't cover, and leaves it unchanged.
        let els: Vec<String> = (0..50).map(|i| i.to_string()).collect();
        let mut v = short.clone();
        assert_eq!(add(&mut v, &els, 3000), Err(HllError::Corrupt));
        assert_eq!(v, short);
    }

    #[test]
    fn a_truncated_final_xzero_is_updated_as_redis_does() {
        // Sparse body `57 e0 25 6e`: the final XZERO lacks its second byte, which Redis reads
        // from (and, when splitting it, writes to) the string's terminator. Redis 7.0.15's bytes
        // after PFADD of these elements:
        let hex = |h: &str| -> Str {
            (0..h.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("hex"))
                .collect()
        };
        let mut s = hex("48594c4c01000000000000000000008057e0256e");
        let els = "85364 8578 16159 55348 46038 72593 32104 50772 25060 61212 37170 45151 31086";
        assert_eq!(add(&mut s, els.split(' '), 3000), Ok(true));
        let redis = hex(concat!(
            "48594c4c01000000000000000000008043ff90467980308448e288431c804130254297880b",
            "8041a18051a880472e8c40e78044e78443c58047"
        ));
        assert_eq!(s, redis);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A small deterministic generator (xorshift) drives corrupt headers and bodies.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..400 {
            let dense = round % 4 == 0;
            let len = if dense {
                DENSE_SIZE
            } else {
                HDR + (next() % 64) as usize
            };
            let mut s = Str::from_elem(0, len);
            for b in s.iter_mut() {
                *b = next() as u8;
            }
            s[..4].copy_from_slice(MAGIC);
            s[4] = if dense { DENSE } else { SPARSE };
            let _ = count(&mut s.clone());
            let mut max = [0u8; REGISTERS];
            let _ = merge_into(&mut max, &s);
            let _ = add(&mut s.clone(), ["a", "b", "c", "d"], 3000);
            let _ = add(&mut s.clone(), ["a", "b", "c", "d"], 0);
            let mut dst = s.clone();
            let _ = store_merged(&mut dst, &max, round % 3 == 0, 3000);
            s.push(0);
            let _ = sparse_set(&mut s, (next() % REGISTERS as u64) as usize, 5, 3000);
        }
    }
}
