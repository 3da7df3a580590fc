//! Geospatial indexes on sorted sets: GEOADD, GEOPOS, GEODIST, GEOHASH, GEOSEARCH,
//! GEOSEARCHSTORE and the legacy GEORADIUS family, byte-exact with Redis 7.0.
//!
//! A member's score is the 52-bit interleaved geohash of its position (`keyspace::geo`), so
//! the set is an ordinary sorted set (ZSCORE, ZRANGE... see the integers Redis shows).
//! Coordinates are replied in Redis's "human" long double format (`%.17Lf` without trailing
//! zeros: bulk strings in RESP2, doubles in RESP3), distances as `%.4f` bulk strings.
//!
//! Searches follow Redis's `georadiusGeneric`: the centre's geohash cell and its 8 neighbours
//! at a step estimated from the radius, each read as a score range, then an exact distance (or
//! box) test; COUNT without ANY sorts ascending; ANY stops at COUNT matches.
//!
//! ## Recorded effects
//! * GEOADD is ZADD with computed scores: it records `ZADD key <score> <member> ...` (integer
//!   scores, which parse back to the same double) for the members added or moved; event `zadd`.
//! * GEOSEARCHSTORE and GEORADIUS[BYMEMBER] STORE/STOREDIST record the stored set as
//!   ZRANGESTORE does (`DEL dst` if it existed, then `ZADD dst <score> <member> ...`), event
//!   `geosearchstore` / `georadiusstore`; an empty result only deletes the destination.

use super::args::{float, int, is};
use super::zsets::{limits, store_result, zadd_generic, zget};
use super::{cmd, flag::*, CommandSpec, Ctx};
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::geo::{self, Search, Shape};
use crate::keyspace::value::Str;
use crate::keyspace::zset::{cmp_entry, ZSet};
use crate::protocol::resp::{Args, Out};

const G: &[&str] = &["geo"];

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("geoadd", -5, WRITE | DENYOOM, (1, 1, 1), G, "geo", geoadd,
        "Adds one or more members to a geospatial index. The key is created if it doesn't exist.",
        "key [NX | XX] [CH] longitude latitude member [longitude latitude member ...]",
        "3.2.0", "O(log(N)) for each item added, where N is the number of elements in the sorted set."),
    cmd!("geopos", -2, READONLY, (1, 1, 1), G, "geo", geopos,
        "Returns the longitude and latitude of members from a geospatial index.",
        "key [member [member ...]]", "3.2.0",
        "O(N) where N is the number of members requested."),
    cmd!("geodist", -4, READONLY, (1, 1, 1), G, "geo", geodist,
        "Returns the distance between two members of a geospatial index.",
        "key member1 member2 [M | KM | FT | MI]", "3.2.0", "O(log(N))"),
    cmd!("geohash", -2, READONLY, (1, 1, 1), G, "geo", geohash,
        "Returns members from a geospatial index as geohash strings.",
        "key [member [member ...]]", "3.2.0",
        "O(log(N)) for each member requested, where N is the number of elements in the sorted set."),
    cmd!("geosearch", -7, READONLY, (1, 1, 1), G, "geo", geosearch,
        "Queries a geospatial index for members inside an area of a box or a circle.",
        "key <FROMMEMBER member | FROMLONLAT longitude latitude> <BYRADIUS radius <M | KM | FT | MI> | BYBOX width height <M | KM | FT | MI>> [ASC | DESC] [COUNT count [ANY]] [WITHCOORD] [WITHDIST] [WITHHASH]",
        "6.2.0", "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape"),
    cmd!("geosearchstore", -8, WRITE | DENYOOM, (1, 2, 1), G, "geo", geosearchstore,
        "Queries a geospatial index for members inside an area of a box or a circle, optionally stores the result.",
        "destination source <FROMMEMBER member | FROMLONLAT longitude latitude> <BYRADIUS radius <M | KM | FT | MI> | BYBOX width height <M | KM | FT | MI>> [ASC | DESC] [COUNT count [ANY]] [STOREDIST]",
        "6.2.0", "O(N+log(M)) where N is the number of elements in the grid-aligned bounding box area around the shape provided as the filter and M is the number of items inside the shape"),
    cmd!("georadius", -6, WRITE | DENYOOM | MOVABLE_KEYS, (1, 1, 1), G, "geo", georadius,
        "Queries a geospatial index for members within a distance from a coordinate, optionally stores the result.",
        "key longitude latitude radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key] [STOREDIST key]",
        "3.2.0", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index."),
    cmd!("georadius_ro", -6, READONLY, (1, 1, 1), G, "geo", georadius_ro,
        "Returns members from a geospatial index that are within a distance from a coordinate.",
        "key longitude latitude radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC]",
        "3.2.10", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index."),
    cmd!("georadiusbymember", -5, WRITE | DENYOOM | MOVABLE_KEYS, (1, 1, 1), G, "geo", georadiusbymember,
        "Queries a geospatial index for members within a distance from a member, optionally stores the result.",
        "key member radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC] [STORE key] [STOREDIST key]",
        "3.2.0", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index."),
    cmd!("georadiusbymember_ro", -5, READONLY, (1, 1, 1), G, "geo", georadiusbymember_ro,
        "Returns members from a geospatial index that are within a distance from a member.",
        "key member radius <M | KM | FT | MI> [WITHCOORD] [WITHDIST] [WITHHASH] [COUNT count [ANY]] [ASC | DESC]",
        "3.2.10", "O(N+log(M)) where N is the number of elements inside the bounding box of the circular area delimited by center and radius and M is the number of items inside the index."),
];

// ---------------------------------------------------------------------------------------------
// Helpers

/// Meters per unit (Redis's `extractUnitOrReply`).
fn unit(a: &[u8]) -> CmdResult<f64> {
    if is(a, "m") {
        Ok(1.0)
    } else if is(a, "km") {
        Ok(1000.0)
    } else if is(a, "ft") {
        Ok(0.3048)
    } else if is(a, "mi") {
        Ok(1609.34)
    } else {
        Err(error::GEO_UNIT.into())
    }
}

/// A longitude and latitude within Redis's limits (`extractLongLatOrReply`).
fn lon_lat(lon: &[u8], lat: &[u8]) -> CmdResult<[f64; 2]> {
    let x = float(lon)?;
    let y = float(lat)?;
    if !(geo::LONG_MIN..=geo::LONG_MAX).contains(&x) || !(geo::LAT_MIN..=geo::LAT_MAX).contains(&y)
    {
        return Err(error::geo_pair(x, y));
    }
    Ok([x, y])
}

/// A coordinate in Redis's human long double format.
fn coord(out: &mut Out, v: f64) {
    let s = geo::human(v);
    if out.resp3 {
        out.raw(b",");
        out.raw(s.as_bytes());
        out.raw(b"\r\n");
    } else {
        out.bulk(s.as_bytes());
    }
}

/// A distance: `%.4f` as a bulk string (both protocols).
fn dist_reply(out: &mut Out, d: f64) {
    out.bulk(format!("{d:.4}").as_bytes());
}

/// Position of `member` in `z`.
fn member_pos(z: &ZSet, member: &[u8]) -> Option<[f64; 2]> {
    z.score(member).and_then(geo::decode_score)
}

// ---------------------------------------------------------------------------------------------
// GEOADD, GEOPOS, GEODIST, GEOHASH

/// Redis rewrites GEOADD into ZADD with the computed scores; so does this, reusing ZADD's
/// handler (replies, errors, recording).
fn geoadd(ctx: &mut Ctx, a: Args) -> CmdResult {
    let mut first = 2;
    let (mut nx, mut xx) = (false, false);
    while first < a.len() {
        let o = a.get(first);
        if is(o, "NX") {
            nx = true;
        } else if is(o, "XX") {
            xx = true;
        } else if !is(o, "CH") {
            break;
        }
        first += 1;
    }
    if !(a.len() - first).is_multiple_of(3) || (nx && xx) {
        return Err(error::SYNTAX.into());
    }
    let n = (a.len() - first) / 3;
    let mut base: Vec<u8> = Vec::new();
    let mut ranges: Vec<(usize, usize)> = Vec::with_capacity(first + 2 * n);
    let mut push = |base: &mut Vec<u8>, b: &[u8]| {
        let s = base.len();
        base.extend_from_slice(b);
        ranges.push((s, base.len()));
    };
    push(&mut base, b"ZADD");
    for i in 1..first {
        push(&mut base, a.get(i));
    }
    let mut ib = itoa::Buffer::new();
    for j in 0..n {
        let at = first + 3 * j;
        let [lon, lat] = lon_lat(a.get(at), a.get(at + 1))?;
        push(&mut base, ib.format(geo::score_of(lon, lat)).as_bytes());
        push(&mut base, a.get(at + 2));
    }
    zadd_generic(ctx, Args::new(&base, &ranges), false)
}

fn geopos(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let mut l = ctx.lock1(key);
    let z = zget(&mut l, key)?;
    let out = &mut *ctx.out;
    out.array(a.len() - 2);
    for m in a.iter().skip(2) {
        match z.as_ref().and_then(|z| member_pos(z, m)) {
            Some([lon, lat]) => {
                out.array(2);
                coord(out, lon);
                coord(out, lat);
            }
            None => out.null_array(),
        }
    }
    Ok(())
}

fn geodist(ctx: &mut Ctx, a: Args) -> CmdResult {
    let to_meter = match a.len() {
        5 => unit(a.get(4))?,
        4 => 1.0,
        _ => return Err(error::SYNTAX.into()),
    };
    let key = a.get(1);
    let mut l = ctx.lock1(key);
    let d = zget(&mut l, key)?.and_then(|z| {
        let p1 = member_pos(z, a.get(2))?;
        let p2 = member_pos(z, a.get(3))?;
        Some(geo::distance(p1[0], p1[1], p2[0], p2[1]))
    });
    drop(l);
    match d {
        Some(d) => dist_reply(ctx.out, d / to_meter),
        None => ctx.out.null(),
    }
    Ok(())
}

fn geohash(ctx: &mut Ctx, a: Args) -> CmdResult {
    let key = a.get(1);
    let mut l = ctx.lock1(key);
    let z = zget(&mut l, key)?;
    let out = &mut *ctx.out;
    out.array(a.len() - 2);
    for m in a.iter().skip(2) {
        match z
            .as_ref()
            .and_then(|z| z.score(m))
            .and_then(geo::geohash_string)
        {
            Some(h) => out.bulk(h.as_bytes()),
            None => out.null(),
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Searches

const COORDS: u8 = 1;
const MEMBER: u8 = 2;
const NOSTORE: u8 = 4;
const SEARCH: u8 = 8;
const SEARCHSTORE: u8 = 16;

fn georadius(ctx: &mut Ctx, a: Args) -> CmdResult {
    search_generic(ctx, a, 1, COORDS)
}
fn georadius_ro(ctx: &mut Ctx, a: Args) -> CmdResult {
    search_generic(ctx, a, 1, COORDS | NOSTORE)
}
fn georadiusbymember(ctx: &mut Ctx, a: Args) -> CmdResult {
    search_generic(ctx, a, 1, MEMBER)
}
fn georadiusbymember_ro(ctx: &mut Ctx, a: Args) -> CmdResult {
    search_generic(ctx, a, 1, MEMBER | NOSTORE)
}
fn geosearch(ctx: &mut Ctx, a: Args) -> CmdResult {
    search_generic(ctx, a, 1, SEARCH)
}
fn geosearchstore(ctx: &mut Ctx, a: Args) -> CmdResult {
    search_generic(ctx, a, 2, SEARCH | SEARCHSTORE)
}

/// A match of a search.
struct Point {
    member: Str,
    /// Meters.
    dist: f64,
    score: f64,
    xy: [f64; 2],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// Radius and unit (`extractDistanceOrReply`): (radius, meters per unit).
fn radius_arg(r: &[u8], u: &[u8]) -> CmdResult<(f64, f64)> {
    let r = float(r).map_err(|_| CmdError::from(error::GEO_RADIUS_NUMERIC))?;
    if r < 0.0 {
        return Err(error::GEO_RADIUS_NEGATIVE.into());
    }
    Ok((r, unit(u)?))
}

/// Options parsed by [`search_generic`].
struct Opts<'a> {
    xy: Option<[f64; 2]>,
    shape: Option<(Shape, f64)>,
    store: Option<&'a [u8]>,
    storedist: bool,
    withdist: bool,
    withhash: bool,
    withcoord: bool,
    sort: Sort,
    any: bool,
    count: usize,
}

/// Redis's `georadiusGeneric`, argument order and error precedence included (the source key
/// is type-checked first; FROMMEMBER on a missing key is accepted and the reply is empty).
fn search_generic(ctx: &mut Ctx, a: Args, src_i: usize, flags: u8) -> CmdResult {
    let src = a.get(src_i);
    // Keys to lock: the source, GEOSEARCHSTORE's destination, any STORE/STOREDIST candidate.
    let mut keys: Vec<&[u8]> = vec![src];
    if flags & SEARCHSTORE != 0 {
        keys.push(a.get(1));
    } else if flags & (SEARCH | NOSTORE) == 0 {
        for i in 3..a.len().saturating_sub(1) {
            if is(a.get(i), "STORE") || is(a.get(i), "STOREDIST") {
                keys.push(a.get(i + 1));
            }
        }
    }
    let lim = limits(ctx);
    let mut l = ctx.lock(&keys);
    let points;
    let o;
    {
        let z: Option<&ZSet> = zget(&mut l, src)?.map(|z| &*z);
        o = parse_search(&a, flags, z)?;
        points = match (z, o.xy, o.shape) {
            (Some(z), Some(xy), Some((shape, conversion))) => {
                let s = Search {
                    xy,
                    shape,
                    conversion,
                };
                let limit = if o.any { o.count } else { 0 };
                collect(z, &s, limit)
            }
            _ => Vec::new(),
        };
    }
    let conversion = o.shape.map_or(1.0, |s| s.1);
    let mut points = points;
    let sort = if o.count != 0 && o.sort == Sort::None && !o.any {
        Sort::Asc
    } else {
        o.sort
    };
    // Redis's comparator. A full sort is stable (as glibc's qsort is at these sizes); with COUNT
    // only the first `returned` are put in order. Redis leaves the order of equal distances
    // unspecified, and its partial sort may order such ties differently.
    let asc = |x: &Point, y: &Point| -> i32 {
        if x.dist > y.dist {
            1
        } else if x.dist == y.dist {
            0
        } else {
            -1
        }
    };
    let returned = if o.count != 0 {
        o.count.min(points.len())
    } else {
        points.len()
    };
    if sort != Sort::None && returned > 0 {
        let sign = if sort == Sort::Asc { 1 } else { -1 };
        let cmp = |x: &Point, y: &Point| sign * asc(x, y);
        if returned == points.len() {
            points.sort_by(|x, y| cmp(x, y).cmp(&0));
        } else {
            points.select_nth_unstable_by(returned - 1, |x, y| cmp(x, y).cmp(&0));
            points[..returned].sort_by(|x, y| cmp(x, y).cmp(&0));
        }
    }
    points.truncate(returned);
    if let Some(dst) = o.store {
        let mut pairs: Vec<(Str, f64)> = points
            .into_iter()
            .map(|p| {
                let s = if o.storedist {
                    p.dist / conversion
                } else {
                    p.score
                };
                (p.member, s)
            })
            .collect();
        pairs.sort_by(|x, y| cmp_entry(x.1, &x.0, y.1, &y.0));
        let event = if flags & SEARCH != 0 {
            "geosearchstore"
        } else {
            "georadiusstore"
        };
        let n = store_result(&mut l, dst, &pairs, event, lim);
        drop(l);
        ctx.out.int(n as i64);
        return Ok(());
    }
    drop(l);
    let out = &mut *ctx.out;
    let opts = o.withdist as usize + o.withhash as usize + o.withcoord as usize;
    out.array(points.len());
    for p in &points {
        if opts > 0 {
            out.array(opts + 1);
        }
        out.bulk(&p.member);
        if o.withdist {
            dist_reply(out, p.dist / conversion);
        }
        if o.withhash {
            out.int(p.score as i64);
        }
        if o.withcoord {
            out.array(2);
            coord(out, p.xy[0]);
            coord(out, p.xy[1]);
        }
    }
    Ok(())
}

fn parse_search<'a>(a: &Args<'a>, flags: u8, z: Option<&ZSet>) -> CmdResult<Opts<'a>> {
    let mut o = Opts {
        xy: None,
        shape: None,
        store: None,
        storedist: false,
        withdist: false,
        withhash: false,
        withcoord: false,
        sort: Sort::None,
        any: false,
        count: 0,
    };
    let base;
    if flags & COORDS != 0 {
        base = 6;
        o.xy = Some(lon_lat(a.get(2), a.get(3))?);
        let (r, c) = radius_arg(a.get(4), a.get(5))?;
        o.shape = Some((Shape::Radius(r), c));
    } else if flags & MEMBER != 0 {
        base = 5;
        if let Some(z) = z {
            o.xy = Some(member_pos(z, a.get(2)).ok_or(CmdError::from(error::GEO_MEMBER))?);
            let (r, c) = radius_arg(a.get(3), a.get(4))?;
            o.shape = Some((Shape::Radius(r), c));
        }
    } else if flags & SEARCHSTORE != 0 {
        base = 3;
        o.store = Some(a.get(1));
    } else {
        base = 2;
    }
    let search = flags & SEARCH != 0;
    let (mut frommember, mut fromloc, mut byradius, mut bybox) = (false, false, false, false);
    let remaining = a.len().saturating_sub(base);
    let mut i = 0;
    while i < remaining {
        let arg = a.get(base + i);
        let at = |k: usize| a.get(base + i + k);
        if is(arg, "withdist") {
            o.withdist = true;
        } else if is(arg, "withhash") {
            o.withhash = true;
        } else if is(arg, "withcoord") {
            o.withcoord = true;
        } else if is(arg, "any") {
            o.any = true;
        } else if is(arg, "asc") {
            o.sort = Sort::Asc;
        } else if is(arg, "desc") {
            o.sort = Sort::Desc;
        } else if is(arg, "count") && i + 1 < remaining {
            let c = int(at(1))?;
            if c <= 0 {
                return Err(error::GEO_COUNT.into());
            }
            o.count = c as usize;
            i += 1;
        } else if (is(arg, "store") || is(arg, "storedist"))
            && i + 1 < remaining
            && flags & NOSTORE == 0
            && !search
        {
            o.store = Some(at(1));
            o.storedist = is(arg, "storedist");
            i += 1;
        } else if is(arg, "storedist") && search && flags & SEARCHSTORE != 0 {
            o.storedist = true;
        } else if is(arg, "frommember") && i + 1 < remaining && search && !fromloc {
            if let Some(z) = z {
                o.xy = Some(member_pos(z, at(1)).ok_or(CmdError::from(error::GEO_MEMBER))?);
            }
            frommember = true;
            i += 1;
        } else if is(arg, "fromlonlat") && i + 2 < remaining && search && !frommember {
            o.xy = Some(lon_lat(at(1), at(2))?);
            fromloc = true;
            i += 2;
        } else if is(arg, "byradius") && i + 2 < remaining && search && !bybox {
            let (r, c) = radius_arg(at(1), at(2))?;
            o.shape = Some((Shape::Radius(r), c));
            byradius = true;
            i += 2;
        } else if is(arg, "bybox") && i + 3 < remaining && search && !byradius {
            let w = float(at(1)).map_err(|_| CmdError::from(error::GEO_WIDTH_NUMERIC))?;
            let h = float(at(2)).map_err(|_| CmdError::from(error::GEO_HEIGHT_NUMERIC))?;
            if h < 0.0 || w < 0.0 {
                return Err(error::GEO_BOX_NEGATIVE.into());
            }
            o.shape = Some((Shape::Box(w, h), unit(at(3))?));
            bybox = true;
            i += 3;
        } else {
            return Err(error::SYNTAX.into());
        }
        i += 1;
    }
    if o.store.is_some() && (o.withdist || o.withhash || o.withcoord) {
        return Err(if flags & SEARCHSTORE != 0 {
            error::GEOSEARCHSTORE_WITH.into()
        } else {
            error::GEO_STORE_WITH.into()
        });
    }
    if search && !(frommember || fromloc) {
        return Err(error::geo_exactly_one("FROMMEMBER or FROMLONLAT", a.get(0)));
    }
    if search && !(byradius || bybox) {
        return Err(error::geo_exactly_one("BYRADIUS and BYBOX", a.get(0)));
    }
    if o.any && o.count == 0 {
        return Err(error::GEO_ANY.into());
    }
    Ok(o)
}

/// The matches in the 9 cells (Redis's `membersOfAllNeighbors`), stopping at `limit` if non-zero.
fn collect(z: &ZSet, s: &Search, limit: usize) -> Vec<Point> {
    let cells = geo::areas(s);
    let mut found: Vec<Point> = Vec::new();
    // As Redis: the cell processed last, compared only once it is not the centre's (index 0).
    let mut last = 0usize;
    for (i, h) in cells.iter().enumerate() {
        if h.bits == 0 && h.step == 0 {
            continue;
        }
        if last != 0 && cells[last] == *h {
            continue;
        }
        if !found.is_empty() && limit != 0 && found.len() >= limit {
            break;
        }
        let (min, max) = geo::score_range(*h);
        let lo = z.count_while(|sc, _| sc < min);
        let hi = z.count_while(|sc, _| sc < max);
        let mut done = false;
        z.for_range(lo, hi.saturating_sub(lo), false, |m, sc| {
            if done {
                return;
            }
            let Some(xy) = geo::decode_score(sc) else {
                return;
            };
            if let Some(dist) = s.within(xy[0], xy[1]) {
                found.push(Point {
                    member: Str::from_slice(m),
                    dist,
                    score: sc,
                    xy,
                });
                if limit != 0 && found.len() >= limit {
                    done = true;
                }
            }
        });
        last = i;
    }
    found
}
