//! Geohash arithmetic of the GEO commands, computing what Redis computes (the same ranges, steps,
//! rounding and neighbour cells), so scores, decoded positions, distances and search results match.
//!
//! A position is stored in a sorted set as a 52-bit geohash (26 steps): latitude and longitude
//! are each scaled to a 26-bit cell index over Redis's ranges (longitude -180..180, latitude
//! -85.05112878..85.05112878, the Web Mercator limits) and interleaved, latitude on the even
//! bits and longitude on the odd bits. The score is that integer as a double (exact below 2^53).
//! Decoding gives the centre of the cell, which is what GEOPOS returns.
//!
//! A search covers the centre's cell and its 8 neighbours at a step chosen from the radius
//! ([`areas`]), reads the score ranges of those cells and keeps the points whose exact
//! (Haversine) distance or box test passes.

pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
/// Steps (bits per coordinate) of a stored score.
pub const STEP_MAX: u8 = 26;
/// Redis's earth radius in meters.
pub const EARTH_RADIUS: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

/// A geohash cell: `step` bits per coordinate, interleaved in `bits`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Hash {
    pub bits: u64,
    pub step: u8,
}

impl Hash {
    fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A coordinate range.
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The cell's bounds.
#[derive(Clone, Copy, Debug)]
pub struct Area {
    pub lon: Range,
    pub lat: Range,
}

pub const WGS84_LON: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
pub const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// Spreads the 32 bits of `x` over the even bits of the result.
fn spread(x: u32) -> u64 {
    let mut v = x as u64;
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF;
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF;
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F;
    v = (v | (v << 2)) & 0x3333333333333333;
    v = (v | (v << 1)) & 0x5555555555555555;
    v
}

/// The inverse of [`spread`]: the even bits of `v`, packed.
fn squash(v: u64) -> u32 {
    let mut v = v & 0x5555555555555555;
    v = (v | (v >> 1)) & 0x3333333333333333;
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0F;
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FF;
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFF;
    v = (v | (v >> 16)) & 0x00000000FFFFFFFF;
    v as u32
}

/// Redis's `geohashEncode`: `None` outside the WGS84 limits or the given ranges.
pub fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Hash> {
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if step == 0 || step > 32 {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min) * scale;
    // C converts the doubles to uint32_t (truncation).
    let bits = spread(lat_off as u32) | (spread(lon_off as u32) << 1);
    Some(Hash { bits, step })
}

/// The 52-bit score of a position (the caller has checked the limits).
pub fn score_of(lon: f64, lat: f64) -> u64 {
    encode(WGS84_LON, WGS84_LAT, lon, lat, STEP_MAX).map_or(0, align52)
}

/// Redis's `geohashAlign52Bits`.
pub fn align52(h: Hash) -> u64 {
    h.bits << (52 - h.step as u32 * 2)
}

/// Redis's `geohashDecode`.
pub fn decode(lon_r: Range, lat_r: Range, h: Hash) -> Option<Area> {
    if h.is_zero() {
        return None;
    }
    let ilat = squash(h.bits);
    let ilon = squash(h.bits >> 1);
    let div = (1u64 << h.step) as f64;
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    Some(Area {
        lat: Range {
            min: lat_r.min + (ilat as f64 / div) * lat_scale,
            max: lat_r.min + (ilat.wrapping_add(1) as f64 / div) * lat_scale,
        },
        lon: Range {
            min: lon_r.min + (ilon as f64 / div) * lon_scale,
            max: lon_r.min + (ilon.wrapping_add(1) as f64 / div) * lon_scale,
        },
    })
}

/// The centre of a cell, clamped to the WGS84 limits: `[lon, lat]`.
pub fn center(a: &Area) -> [f64; 2] {
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// The position a score stands for (Redis's `decodeGeohash`).
pub fn decode_score(score: f64) -> Option<[f64; 2]> {
    let h = Hash {
        bits: score as u64,
        step: STEP_MAX,
    };
    decode(WGS84_LON, WGS84_LAT, h).map(|a| center(&a))
}

/// The 11-character standard geohash of a score, as GEOHASH replies it.
pub fn geohash_string(score: f64) -> Option<String> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let [lon, lat] = decode_score(score)?;
    let lat_r = Range {
        min: -90.0,
        max: 90.0,
    };
    let h = encode(WGS84_LON, lat_r, lon, lat, STEP_MAX).unwrap_or_default();
    let s = (0..11)
        .map(|i| {
            let idx = if i == 10 {
                0
            } else {
                (h.bits >> (52 - (i + 1) * 5)) & 0x1f
            };
            ALPHABET[idx as usize] as char
        })
        .collect();
    Some(s)
}

/// Haversine distance in meters (Redis's `geohashGetDistance`).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lat1r = deg_rad(lat1);
    let lon1r = deg_rad(lon1);
    let lat2r = deg_rad(lat2);
    let lon2r = deg_rad(lon2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let v = ((lon2r - lon1r) / 2.0).sin();
    2.0 * EARTH_RADIUS * (u * u + lat1r.cos() * lat2r.cos() * v * v).sqrt().asin()
}

/// The area searched: a circle or a box, in meters after `conversion`.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Radius(f64),
    /// Width, height.
    Box(f64, f64),
}

/// A search: centre `[lon, lat]`, shape in the unit, and the unit's meters.
#[derive(Clone, Copy, Debug)]
pub struct Search {
    pub xy: [f64; 2],
    pub shape: Shape,
    pub conversion: f64,
}

impl Search {
    /// Distance in meters from the centre to a point if it lies within the shape (Redis's
    /// `geoWithinShape`).
    pub fn within(&self, lon: f64, lat: f64) -> Option<f64> {
        let [x1, y1] = self.xy;
        match self.shape {
            Shape::Radius(r) => {
                let d = distance(x1, y1, lon, lat);
                (d <= r * self.conversion).then_some(d)
            }
            Shape::Box(w, h) => {
                let (w, h) = (w * self.conversion, h * self.conversion);
                if distance(lon, lat, lon, y1) > h / 2.0 {
                    return None;
                }
                if distance(lon, lat, x1, lat) > w / 2.0 {
                    return None;
                }
                Some(distance(x1, y1, lon, lat))
            }
        }
    }

    /// Redis's `geohashBoundingBox`: min lon, min lat, max lon, max lat.
    fn bounding_box(&self) -> [f64; 4] {
        let [lon, lat] = self.xy;
        let (height, width) = match self.shape {
            Shape::Radius(r) => (r * self.conversion, r * self.conversion),
            Shape::Box(w, h) => (self.conversion * h / 2.0, self.conversion * w / 2.0),
        };
        let lat_delta = rad_deg(height / EARTH_RADIUS);
        let long_delta_top = rad_deg(width / EARTH_RADIUS / deg_rad(lat + lat_delta).cos());
        let long_delta_bottom = rad_deg(width / EARTH_RADIUS / deg_rad(lat - lat_delta).cos());
        let south = lat < 0.0;
        let d = if south {
            long_delta_bottom
        } else {
            long_delta_top
        };
        [lon - d, lat - lat_delta, lon + d, lat + lat_delta]
    }
}

/// Redis's `geohashEstimateStepsByRadius`.
fn steps_by_radius(mut range: f64, lat: f64) -> u8 {
    if range == 0.0 {
        return 26;
    }
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

fn move_x(h: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - h.step as u32 * 2;
    let mut x = h.bits & 0xaaaaaaaaaaaaaaaa;
    let y = h.bits & 0x5555555555555555;
    let zz = 0x5555555555555555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaaaaaaaaaaaaaau64 >> shift;
    h.bits = x | y;
}

fn move_y(h: &mut Hash, d: i8) {
    if d == 0 {
        return;
    }
    let shift = 64 - h.step as u32 * 2;
    let x = h.bits & 0xaaaaaaaaaaaaaaaa;
    let mut y = h.bits & 0x5555555555555555;
    let zz = 0xaaaaaaaaaaaaaaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555555555555555u64 >> shift;
    h.bits = x | y;
}

fn moved(h: Hash, dx: i8, dy: i8) -> Hash {
    let mut n = h;
    move_x(&mut n, dx);
    move_y(&mut n, dy);
    n
}

/// The cells to search, in Redis's order: the centre's, north, south, east, west, north-east,
/// north-west, south-east, south-west; cells that cannot hold results are zero (skipped).
pub fn areas(s: &Search) -> [Hash; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = s.bounding_box();
    let [lon, lat] = s.xy;
    let radius = match s.shape {
        Shape::Radius(r) => r,
        Shape::Box(w, h) => ((w / 2.0) * (w / 2.0) + (h / 2.0) * (h / 2.0)).sqrt(),
    } * s.conversion;
    let mut steps = steps_by_radius(radius, lat);
    let cells = |steps: u8| -> [Hash; 9] {
        let h = encode(WGS84_LON, WGS84_LAT, lon, lat, steps).unwrap_or_default();
        [
            h,
            moved(h, 0, 1),
            moved(h, 0, -1),
            moved(h, 1, 0),
            moved(h, -1, 0),
            moved(h, 1, 1),
            moved(h, -1, 1),
            moved(h, 1, -1),
            moved(h, -1, -1),
        ]
    };
    let mut n = cells(steps);
    let dec = |h: Hash| decode(WGS84_LON, WGS84_LAT, h);
    let decrease = match (dec(n[1]), dec(n[2]), dec(n[3]), dec(n[4])) {
        (Some(north), Some(south), Some(east), Some(west)) => {
            north.lat.max < max_lat
                || south.lat.min > min_lat
                || east.lon.max < max_lon
                || west.lon.min > min_lon
        }
        _ => false,
    };
    if steps > 1 && decrease {
        steps -= 1;
        n = cells(steps);
    }
    if steps >= 2 {
        if let Some(area) = dec(n[0]) {
            let zero = Hash::default();
            if area.lat.min < min_lat {
                n[2] = zero;
                n[8] = zero;
                n[7] = zero;
            }
            if area.lat.max > max_lat {
                n[1] = zero;
                n[5] = zero;
                n[6] = zero;
            }
            if area.lon.min < min_lon {
                n[4] = zero;
                n[8] = zero;
                n[6] = zero;
            }
            if area.lon.max > max_lon {
                n[3] = zero;
                n[7] = zero;
                n[5] = zero;
            }
        }
    }
    n
}

/// The score range `[min, max)` of a cell (Redis's `scoresOfGeoHashBox`).
pub fn score_range(h: Hash) -> (f64, f64) {
    let min = align52(h);
    let max = align52(Hash {
        bits: h.bits + 1,
        step: h.step,
    });
    (min as f64, max as f64)
}

/// `%.17Lf` with trailing zeros (and a bare point) removed: Redis's "human" long double
/// format, used for coordinates.
pub fn human(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let mut s = format!("{v:.17}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    if s == "-0" {
        s = "0".into();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_and_positions_match_redis() {
        // Values from redis-server 7.0.15.
        let s = score_of(13.361389, 38.115556);
        assert_eq!(s, 3479099956230698);
        let [lon, lat] = decode_score(s as f64).unwrap();
        assert_eq!(human(lon), "13.36138933897018433");
        assert_eq!(human(lat), "38.11555639549629859");
        assert_eq!(geohash_string(s as f64).unwrap(), "sqc8b49rny0");
        let t = score_of(180.0, 85.05112878);
        assert_eq!(t, 13510798882111488);
        let [lon, lat] = decode_score(t as f64).unwrap();
        assert_eq!(human(lon), "180");
        assert_eq!(human(lat), "85.0511287799999991");
        assert_eq!(geohash_string(t as f64).unwrap(), "bp05b5048p0");
    }

    #[test]
    fn distance_matches_redis() {
        let a = decode_score(score_of(13.361389, 38.115556) as f64).unwrap();
        let b = decode_score(score_of(15.087269, 37.502669) as f64).unwrap();
        assert_eq!(
            format!("{:.4}", distance(a[0], a[1], b[0], b[1])),
            "166274.1516"
        );
    }

    #[test]
    fn interleave_round_trips() {
        for x in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(squash(spread(x)), x);
        }
    }

    #[test]
    fn neighbours_wrap_in_longitude() {
        let h = Hash { bits: 0, step: 1 };
        assert_eq!(moved(h, -1, 0).bits, 0b10);
        assert_eq!(moved(h, 0, 1).bits, 0b01);
    }
}
