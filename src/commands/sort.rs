//! SORT and SORT_RO over lists, sets and sorted sets: numeric or ALPHA order, ASC/DESC, LIMIT,
//! `BY pattern` (`nosort` or any pattern without `*` keeps the native order), `GET pattern`
//! (`#` is the element itself, `*` is replaced by the element, `->field` reads a hash field)
//! and STORE, following Redis 7.0's `sortCommandGeneric` step by step (argument order, LIMIT
//! clamping, the forced ALPHA order of an unsorted set being stored, the score error).
//!
//! Locking: patterns that dereference other keys (`*` in BY or GET) name keys only known while
//! sorting, so such a SORT locks every shard ([`Ctx::lock_all`]); otherwise only the sorted key
//! and the destination are locked.
//!
//! Recorded effects: SORT ... STORE records the resulting list as `RPUSH dest e...` (event
//! `sortstore`), preceded by `DEL dest` when the destination existed (an overwrite: the
//! notifications derive Redis's single `sortstore` from the pair); an empty result deletes an
//! existing destination (`DEL dest`, event `del`) and records nothing otherwise.

use std::cmp::Ordering;

use super::args::{int, is};
use super::{cmd, flag::*, CommandSpec, Ctx};
use crate::changes::ChangeKind;
use crate::error::{self, CmdResult};
use crate::keyspace::list::{Fill, List};
use crate::keyspace::value::{Collection, Meta, Value, ValueType};
use crate::keyspace::Locked;
use crate::protocol::resp::Args;
use crate::util::num::{strtod_c, Strtod};

const S: &[&str] = &["set", "sortedset", "list", "dangerous"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("sort", -2, WRITE | DENYOOM | MOVABLE_KEYS, (1, 1, 1), S, "generic", sort,
        "Sorts the elements in a list, a set, or a sorted set, optionally storing the result.",
        "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA] [STORE destination]",
        "1.0.0",
        "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N)."),
    cmd!("sort_ro", -2, READONLY | MOVABLE_KEYS, (1, 1, 1), S, "generic", sort_ro,
        "Returns the sorted elements of a list, a set, or a sorted set.",
        "key [BY pattern] [LIMIT offset count] [GET pattern [GET pattern ...]] [ASC | DESC] [ALPHA]",
        "7.0.0",
        "O(N+M*log(M)) where N is the number of elements in the list or set to sort, and M the number of returned elements. When the elements are not sorted, complexity is O(N)."),
];

fn sort(ctx: &mut Ctx, a: Args) -> CmdResult {
    sort_generic(ctx, a, false)
}

fn sort_ro(ctx: &mut Ctx, a: Args) -> CmdResult {
    sort_generic(ctx, a, true)
}

struct Opts<'a> {
    by: Option<&'a [u8]>,
    dontsort: bool,
    gets: Vec<&'a [u8]>,
    desc: bool,
    alpha: bool,
    limit: (i64, i64),
    store: Option<&'a [u8]>,
}

fn parse<'a>(a: &Args<'a>, ro: bool) -> CmdResult<Opts<'a>> {
    let mut o = Opts {
        by: None,
        dontsort: false,
        gets: Vec::new(),
        desc: false,
        alpha: false,
        limit: (0, -1),
        store: None,
    };
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        let w = a.get(j);
        if is(w, "ASC") {
            o.desc = false;
        } else if is(w, "DESC") {
            o.desc = true;
        } else if is(w, "ALPHA") {
            o.alpha = true;
        } else if is(w, "LIMIT") && left >= 2 {
            o.limit = (int(a.get(j + 1))?, int(a.get(j + 2))?);
            j += 2;
        } else if is(w, "STORE") && left >= 1 && !ro {
            o.store = Some(a.get(j + 1));
            j += 1;
        } else if is(w, "BY") && left >= 1 {
            let p = a.get(j + 1);
            o.by = Some(p);
            if !p.contains(&b'*') {
                o.dontsort = true;
            }
            j += 1;
        } else if is(w, "GET") && left >= 1 {
            o.gets.push(a.get(j + 1));
            j += 1;
        } else {
            return Err(error::SYNTAX.into());
        }
        j += 1;
    }
    Ok(o)
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; the first `*` is replaced by the
/// element; a `->field` after it reads that hash field. Only strings (or hash fields) are found.
fn by_pattern(l: &mut Locked, pat: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if pat == b"#" {
        return Some(elem.to_vec());
    }
    let star = pat.iter().position(|&c| c == b'*')?;
    let after = &pat[star + 1..];
    let (post, field) = match after.windows(2).position(|w| w == b"->") {
        Some(i) if i + 2 < after.len() => (&after[..i], Some(&after[i + 2..])),
        _ => (after, None),
    };
    let mut key = Vec::with_capacity(star + elem.len() + post.len());
    key.extend_from_slice(&pat[..star]);
    key.extend_from_slice(elem);
    key.extend_from_slice(post);
    match (l.get(&key), field) {
        (Some(Value::Str(s, _)), None) => Some(s.to_vec()),
        (Some(Value::Hash(h, _)), Some(f)) => h.get(f).map(<[u8]>::to_vec),
        _ => None,
    }
}

/// C's `strtod` as SORT uses it (see [`strtod_c`]), not NaN and not out of range.
fn score(b: &[u8]) -> Option<f64> {
    match strtod_c(b)? {
        Strtod { v, erange: false } if !v.is_nan() => Some(v),
        _ => None,
    }
}

/// What an element sorts by.
enum Key {
    Score(f64),
    /// ALPHA with BY: the looked-up value (None when missing).
    Obj(Option<Vec<u8>>),
    /// ALPHA without BY: the element itself.
    Elem,
}

fn sort_generic(ctx: &mut Ctx, a: Args, ro: bool) -> CmdResult {
    let key = a.get(1);
    let mut o = parse(&a, ro)?;
    let derefs = |p: &[u8]| p != b"#" && p.contains(&b'*');
    let all = o.by.is_some_and(derefs) || o.gets.iter().any(|p| derefs(p));
    let mut l = if all {
        ctx.lock_all()
    } else {
        match o.store {
            Some(d) => ctx.lock(&[key, d]),
            None => ctx.lock1(key),
        }
    };
    let val = if o.store.is_some() {
        l.peek(key)
    } else {
        l.get(key)
    };
    #[derive(PartialEq)]
    enum Kind {
        List,
        Set,
        ZSet,
    }
    let (kind, n) = match &val {
        None => (Kind::List, 0),
        Some(Value::List(li, _)) => (Kind::List, li.len()),
        Some(Value::Set(s, _)) => (Kind::Set, s.len()),
        Some(Value::ZSet(z, _)) => (Kind::ZSet, z.len()),
        Some(_) => return Err(error::WRONGTYPE.into()),
    };
    // An unsorted set is stored in a deterministic (ALPHA) order.
    if o.dontsort && kind == Kind::Set && o.store.is_some() {
        o.dontsort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = n as i64;
    let (ls, lc) = o.limit;
    let mut start = ls.max(0);
    let mut end = if lc < 0 {
        len - 1
    } else {
        start.saturating_add(lc) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    let window = o.dontsort && kind != Kind::Set;
    let mut items: Vec<Vec<u8>> = Vec::new();
    match val {
        None => {}
        Some(Value::List(li, _)) => {
            if window {
                if end >= start {
                    let cnt = (end - start + 1) as usize;
                    if o.desc {
                        items.extend(
                            li.iter()
                                .rev()
                                .skip(start as usize)
                                .take(cnt)
                                .map(<[u8]>::to_vec),
                        );
                    } else {
                        items.extend(li.iter().skip(start as usize).take(cnt).map(<[u8]>::to_vec));
                    }
                }
            } else {
                items.extend(li.iter().map(<[u8]>::to_vec));
            }
        }
        Some(Value::Set(s, _)) => s.for_each(|m| items.push(m.to_vec())),
        Some(Value::ZSet(z, _)) => {
            if window {
                if end >= start {
                    let cnt = (end - start + 1) as usize;
                    z.for_range(start as usize, cnt, o.desc, |m, _| items.push(m.to_vec()));
                }
            } else {
                z.for_range(0, n, false, |m, _| items.push(m.to_vec()));
            }
        }
        Some(_) => return Err(error::WRONGTYPE.into()),
    }
    if window {
        end -= start;
        start = 0;
    }
    let mut bad_score = false;
    if !o.dontsort {
        let mut keyed: Vec<(Key, Vec<u8>)> = Vec::with_capacity(items.len());
        for it in items.drain(..) {
            let byval = match o.by {
                Some(p) => by_pattern(&mut l, p, &it),
                None => None,
            };
            let k = match (o.alpha, o.by.is_some()) {
                (true, true) => Key::Obj(byval),
                (true, false) => Key::Elem,
                (false, true) => match byval {
                    None => Key::Score(0.0),
                    Some(v) => Key::Score(score(&v).unwrap_or_else(|| {
                        bad_score = true;
                        0.0
                    })),
                },
                (false, false) => Key::Score(score(&it).unwrap_or_else(|| {
                    bad_score = true;
                    0.0
                })),
            };
            keyed.push((k, it));
        }
        if !bad_score {
            let desc = o.desc;
            keyed.sort_by(|(k1, e1), (k2, e2)| {
                let c = match (k1, k2) {
                    (Key::Score(x), Key::Score(y)) => x
                        .partial_cmp(y)
                        .filter(|c| *c != Ordering::Equal)
                        .unwrap_or_else(|| e1.cmp(e2)),
                    (Key::Obj(x), Key::Obj(y)) => x.cmp(y),
                    _ => e1.cmp(e2),
                };
                if desc {
                    c.reverse()
                } else {
                    c
                }
            });
        }
        items = keyed.into_iter().map(|(_, e)| e).collect();
    }
    if bad_score {
        return Err(error::SORT_SCORE.into());
    }
    let range: &[Vec<u8>] = if end >= start {
        items.get(start as usize..=end as usize).unwrap_or_default()
    } else {
        &[]
    };
    let mut out: Vec<Option<Vec<u8>>> = Vec::with_capacity(range.len() * o.gets.len().max(1));
    for it in range {
        if o.gets.is_empty() {
            out.push(Some(it.clone()));
        }
        for g in &o.gets {
            out.push(by_pattern(&mut l, g, it));
        }
    }
    let Some(dst) = o.store else {
        drop(l);
        ctx.out.array(out.len());
        for v in &out {
            match v {
                Some(b) => ctx.out.bulk(b),
                None => ctx.out.null(),
            }
        }
        return Ok(());
    };
    let existed = l.peek(dst).is_some();
    if existed {
        l.remove(dst);
        l.record(
            dst,
            "del",
            ChangeKind::Remove,
            ValueType::None,
            &[b"DEL", dst],
        );
    }
    if !out.is_empty() {
        let fill = Fill(
            ctx.srv
                .config
                .hot
                .list_max_listpack_size
                .load(std::sync::atomic::Ordering::Relaxed),
        );
        let mut li = List::new();
        for v in &out {
            li.push(v.as_deref().unwrap_or_default(), false, fill);
        }
        l.put(dst, Value::List(Box::new(li), Meta::now()), false);
        let mut rec: Vec<&[u8]> = Vec::with_capacity(out.len() + 2);
        rec.push(b"RPUSH");
        rec.push(dst);
        rec.extend(out.iter().map(|v| v.as_deref().unwrap_or_default()));
        l.record(dst, "sortstore", ChangeKind::Insert, ValueType::List, &rec);
    }
    drop(l);
    ctx.out.int(out.len() as i64);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_strtod() {
        assert_eq!(score(b"1.5"), Some(1.5));
        assert_eq!(score(b""), Some(0.0));
        assert_eq!(score(b" 2"), Some(2.0));
        assert_eq!(score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(score(b"3x"), None);
        assert_eq!(score(b"nan"), None);
        assert_eq!(score(b"1e999"), None);
        assert_eq!(score(b"0x10"), Some(16.0));
        assert_eq!(score(b"-0x1.8p1"), Some(-3.0));
        assert_eq!(score(b"0x"), None);
    }
}
