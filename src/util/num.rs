//! Numbers with Redis's rules: strict integer and float parsing, `%.17g` double formatting (what
//! Redis 7.0 replies for doubles), and INCRBYFLOAT's `long double` arithmetic ([`LongDouble`]).

pub use crate::protocol::resp::parse_i64;

/// Parses a float the way Redis's `getDoubleFromObject` (C's `strtod`) accepts it: no
/// surrounding spaces, no trailing bytes, hexadecimal (`0x1.8p3`) as well as decimal, `inf`/`-inf`
/// allowed; NaN and out-of-range values (`ERANGE`: overflow, underflow to zero) rejected.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    whole_number(s).filter(|r| !r.erange).map(|r| r.v)
}

/// A C `long double`, in which INCRBYFLOAT and HINCRBYFLOAT add: Redis reads their operands
/// with `strtold`, adds and prints `%.17Lf` without trailing zeros, so its replies carry the
/// platform's `long double` precision (`5000 + 1.1` is `5001.10000000000000009` on x86-64) and
/// its range (`1e-400` is a number, `1e4000` too). Rust has no such type: the C library does
/// the work (`src/util/longdouble.c`, built by `build.rs`) and the value stays opaque here.
#[repr(C, align(16))]
#[derive(Clone, Copy)]
pub struct LongDouble([u8; 16]);

extern "C" {
    fn eddy_ld_parse(s: *const std::ffi::c_char, len: usize, out: *mut LongDouble) -> i32;
    fn eddy_ld_is_finite(v: *const LongDouble) -> i32;
    fn eddy_ld_add_text(
        a: *const LongDouble,
        b: *const LongDouble,
        out: *mut std::ffi::c_char,
        cap: usize,
    ) -> std::ffi::c_long;
}

/// Redis's `MAX_LONG_DOUBLE_CHARS`: every finite sum prints within it.
const LONG_DOUBLE_CHARS: usize = 5 * 1024;

impl LongDouble {
    /// Zero (all bits clear is +0 in every `long double` format).
    pub const ZERO: LongDouble = LongDouble([0; 16]);

    /// Redis's `string2ld`: the whole of `s` as one number, not NaN, not out of range.
    pub fn parse(s: &[u8]) -> Option<LongDouble> {
        let mut v = LongDouble::ZERO;
        // SAFETY: the C side reads `len` bytes of `s` and writes one `long double` (at most 16
        // bytes, checked when it compiles) to `v`, which is aligned as `long double` is.
        let ok = unsafe { eddy_ld_parse(s.as_ptr().cast(), s.len(), &mut v) };
        (ok == 1).then_some(v)
    }

    pub fn is_finite(&self) -> bool {
        // SAFETY: `self` holds a `long double` written by `eddy_ld_parse` (or zero).
        unsafe { eddy_ld_is_finite(self) == 1 }
    }

    /// `self + other` as INCRBYFLOAT replies and stores it; None if the sum is NaN or infinite.
    pub fn add_text(&self, other: &LongDouble) -> Option<Vec<u8>> {
        let mut buf = [0u8; LONG_DOUBLE_CHARS];
        // SAFETY: both hold `long double`s; the C side writes at most `buf.len()` bytes.
        let n = unsafe { eddy_ld_add_text(self, other, buf.as_mut_ptr().cast(), buf.len()) };
        usize::try_from(n).ok().map(|n| buf[..n].to_vec())
    }
}

/// `strtod` over all of `s` as Redis's strict float arguments take it: no leading blank, not
/// empty, not NaN (out-of-range results are left to the caller).
fn whole_number(s: &[u8]) -> Option<Strtod> {
    // No length bound, as Redis's `string2d` has none: DBL_MAX printed with its decimals is
    // 327 characters, and the parse is linear in the length.
    if s.is_empty() || s[0].is_ascii_whitespace() {
        return None;
    }
    strtod(std::str::from_utf8(s).ok()?).filter(|r| !r.v.is_nan())
}

/// `strtod` as Redis calls it on a C string and then checks only that it stopped at the string's
/// end: the text ends at a NUL, leading blanks are skipped, and nothing at all reads as 0
/// (score range bounds, SORT's weights).
pub fn strtod_c(b: &[u8]) -> Option<Strtod> {
    let b = super::c_str(b);
    let start = b
        .iter()
        .position(|&c| !super::is_c_space(c))
        .unwrap_or(b.len());
    let t = std::str::from_utf8(&b[start..]).ok()?;
    if t.is_empty() {
        return Some(Strtod {
            v: 0.0,
            erange: false,
        });
    }
    strtod(t)
}

/// What C's `strtod` makes of a whole string (no leading blanks skipped here).
pub struct Strtod {
    pub v: f64,
    /// The value is out of a double's range: `errno == ERANGE`, `v` is ±inf or 0.
    pub erange: bool,
}

/// C's `strtod` over all of `t`: `None` unless the whole string is one number, decimal or
/// hexadecimal (`[+-]0x<hex>[.<hex>][p[+-]<dec>]`), or `inf`/`infinity`/`nan` in any case.
pub fn strtod(t: &str) -> Option<Strtod> {
    let (v, read) = strtod_prefix(t.as_bytes())?;
    if read != t.len() {
        return None;
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let hex = unsigned.starts_with("0x") || unsigned.starts_with("0X");
    let erange = if v.is_infinite() {
        let word = unsigned.to_ascii_lowercase();
        word != "inf" && word != "infinity"
    } else if v == 0.0 {
        // A non-zero mantissa that underflowed.
        let mantissa = if hex {
            unsigned[2..].split(['p', 'P']).next()
        } else {
            unsigned.split(['e', 'E']).next()
        };
        mantissa.is_some_and(|m| m.bytes().any(|c| c.is_ascii_alphanumeric() && c != b'0'))
    } else {
        false
    };
    Some(Strtod { v, erange })
}

/// glibc's `strtod` in the C locale, from the start of `s` (no leading whitespace skipped): the
/// value and the number of bytes read, None if it reads none (lua-cjson's number tokens, and
/// [`strtod`] over a whole string).
/// Decimal (`1`, `-1.5e3`, `1.`, `-.5`, any number of leading zeros), hex floats (`0x1.8p3`,
/// correctly rounded), `inf`/`infinity` and `nan`/`nan(chars)` in any case, each after an
/// optional sign.
pub fn strtod_prefix(s: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let (neg, start) = match at(0) {
        b'-' => (true, 1),
        b'+' => (false, 1),
        _ => (false, 0),
    };
    let sign = |x: f64| if neg { -x } else { x };
    let word = |i: usize, w: &[u8]| {
        w.iter()
            .enumerate()
            .all(|(k, c)| at(i + k).eq_ignore_ascii_case(c))
    };
    if word(start, b"inf") {
        let len = if word(start + 3, b"inity") { 8 } else { 3 };
        return Some((sign(f64::INFINITY), start + len));
    }
    if word(start, b"nan") {
        let mut end = start + 3;
        if at(end) == b'(' {
            let mut i = end + 1;
            while at(i).is_ascii_alphanumeric() || at(i) == b'_' {
                i += 1;
            }
            if at(i) == b')' {
                end = i + 1;
            }
        }
        return Some((sign(f64::NAN), end));
    }
    if at(start) == b'0' && at(start + 1) | 0x20 == b'x' {
        if let Some((x, len)) = hex_float(s.get(start + 2..).unwrap_or_default()) {
            return Some((sign(x), start + 2 + len));
        }
        // "0x" without digits is the number 0 followed by an x.
    }
    let digits = |mut i: usize| {
        while at(i).is_ascii_digit() {
            i += 1;
        }
        i
    };
    let int_end = digits(start);
    let mut end = int_end;
    let mut frac_digits = 0;
    if at(end) == b'.' {
        let f = digits(end + 1);
        frac_digits = f - (end + 1);
        end = f;
    }
    if int_end == start && frac_digits == 0 {
        return None;
    }
    if at(end) | 0x20 == b'e' {
        let e = end + 1 + usize::from(matches!(at(end + 1), b'+' | b'-'));
        let e_end = digits(e);
        if e_end > e {
            end = e_end;
        }
    }
    // What was read is within Rust's float grammar, which rounds correctly, as glibc does.
    let text = std::str::from_utf8(s.get(..end)?).ok()?;
    text.parse::<f64>().ok().map(|x| (x, end))
}

/// The digits of a hex float after its `0x`: the (unsigned) value and the bytes read, None if
/// there is no hex digit. Rounded to nearest, ties to even, like glibc.
fn hex_float(s: &[u8]) -> Option<(f64, usize)> {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let hex = |c: u8| char::from(c).to_digit(16);
    // The leading significant bits (up to 64), whether any nonzero bit was dropped after them,
    // and the power of two that scales them.
    let (mut mant, mut sticky, mut exp) = (0u64, false, 0i64);
    let (mut i, mut seen, mut point) = (0usize, false, false);
    loop {
        let c = at(i);
        if c == b'.' && !point {
            point = true;
        } else if let Some(d) = hex(c) {
            seen = true;
            if mant >> 60 == 0 {
                mant = mant << 4 | u64::from(d);
                if point {
                    exp -= 4;
                }
            } else {
                sticky |= d != 0;
                if !point {
                    exp += 4;
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    if !seen {
        return None;
    }
    if at(i) | 0x20 == b'p' {
        let (neg, d0) = match at(i + 1) {
            b'-' => (true, i + 2),
            b'+' => (false, i + 2),
            _ => (false, i + 1),
        };
        let mut j = d0;
        let mut e = 0i64;
        while at(j).is_ascii_digit() {
            // Far beyond any double's range: more digits change nothing.
            e = (e * 10 + i64::from(at(j) - b'0')).min(1 << 40);
            j += 1;
        }
        if j > d0 {
            exp += if neg { -e } else { e };
            i = j;
        }
    }
    Some((scale(mant, sticky, exp), i))
}

/// `mant * 2^exp` rounded to a double (ties to even), `sticky` telling that nonzero bits lie
/// below `mant`.
fn scale(mant: u64, sticky: bool, exp: i64) -> f64 {
    if mant == 0 {
        return 0.0;
    }
    let bits = i64::from(64 - mant.leading_zeros());
    // The value lies in [2^top, 2^(top+1)).
    let top = exp + bits - 1;
    if top > 1023 {
        return f64::INFINITY;
    }
    // Significant bits a double holds at this magnitude: 53, fewer among the subnormals.
    let keep = (top + 1075).min(53);
    if keep < 0 {
        // Below half the smallest subnormal.
        return 0.0;
    }
    let drop = bits - keep;
    let m = u128::from(mant);
    let q = if drop <= 0 {
        m << -drop
    } else {
        let q = m >> drop;
        let rem = m & ((1u128 << drop) - 1);
        let half = 1u128 << (drop - 1);
        if rem > half || (rem == half && (sticky || q & 1 == 1)) {
            q + 1
        } else {
            q
        }
    };
    // q < 2^54 and the unit is a power of two between 2^-1074 and 2^971: both exact, and the
    // product is exact unless it overflows to infinity.
    let unit = top - keep + 1;
    let pow = if unit >= -1022 {
        f64::from_bits(((unit + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (unit + 1074))
    };
    q as f64 * pow
}

/// C's `%.17g`.
pub fn fmt_double(d: f64) -> String {
    fmt_g(d, 17)
}

/// C's `%.<p>g` (Lua scripts format numbers with `%.17g` and cjson with `%.14g`).
pub fn fmt_g(d: f64, p: i32) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if d == 0.0 {
        return if d.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let p = p.max(1);
    let e = format!("{:.*e}", (p - 1) as usize, d);
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..p).contains(&exp) {
        let m = strip_zeros(mant);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p - 1 - exp).max(0) as usize;
        strip_zeros(&format!("{:.*}", decimals, d)).to_string()
    }
}

/// A decimal without its trailing fractional zeros (and point), as Redis's `trimDoubleString`.
pub fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(s: &str) -> Option<(f64, usize)> {
        strtod_prefix(s.as_bytes())
    }

    #[test]
    // The values are Redis's `%.17g` output, digit for digit.
    #[allow(clippy::excessive_precision)]
    fn strtod_reads_what_glibc_reads() {
        // (input, value, bytes read), values as Redis 7.0.15 returned them.
        let cases: &[(&str, f64, usize)] = &[
            ("0", 0.0, 1),
            ("-0", -0.0, 2),
            ("01", 1.0, 2),
            ("00.5", 0.5, 4),
            ("5.", 5.0, 2),
            ("-.5", -0.5, 3),
            ("+.5", 0.5, 3),
            ("1.e5", 1e5, 4),
            ("1e", 1.0, 1),
            ("1e+", 1.0, 1),
            ("1.5E+3", 1500.0, 6),
            ("1.5e3.2", 1500.0, 5),
            ("1e400", f64::INFINITY, 5),
            ("1e99999999999999999999", f64::INFINITY, 22),
            ("1e-400", 0.0, 6),
            ("4.9e-324", 4.9e-324, 8),
            ("0.1", 0.1, 3),
            ("123456789012345678901234567890", 1.2345678901234568e29, 30),
            ("inf", f64::INFINITY, 3),
            ("-Infinity", f64::NEG_INFINITY, 9),
            ("infinit", f64::INFINITY, 3),
            ("infinityx", f64::INFINITY, 8),
            ("0x10", 16.0, 4),
            ("0X1p3", 8.0, 5),
            ("-0x1.8p1", -3.0, 8),
            ("0x", 0.0, 1),
            ("-0x", -0.0, 2),
            ("0x.8", 0.5, 4),
            ("0x.p1", 0.0, 1),
            ("0x1p", 1.0, 3),
            ("0x1P+", 1.0, 3),
            ("0x1p-2x", 0.25, 6),
            ("0x1.fffffffffffff8p0", 2.0, 20),
            ("0x1.fffffffffffff7p0", 1.9999999999999998, 20),
            ("0x1.00000000000008p0", 1.0, 20),
            ("0x1.00000000000018p0", 1.0000000000000004, 20),
            ("0x1.000000000000080000000001p0", 1.0000000000000002, 30),
            ("0x1p-1074", 4.9406564584124654e-324, 9),
            ("0x1p-1075", 0.0, 9),
            ("0x1.8p-1075", 4.9406564584124654e-324, 11),
            ("0x1.0000001p-1075", 4.9406564584124654e-324, 17),
            ("0x1.8p-1074", 9.8813129168249309e-324, 11),
            ("0x3p-1076", 4.9406564584124654e-324, 9),
            ("0x0.fffffffffffff8p-1022", 2.2250738585072014e-308, 24),
            ("0x0.fffffffffffffp-1022", 2.2250738585072009e-308, 23),
            ("0xffffffffffffffffff", 4.7223664828696452e21, 20),
            ("0x1p1024", f64::INFINITY, 8),
            ("0x1.fffffffffffffp1023", f64::MAX, 22),
            ("0x1.fffffffffffff8p1023", f64::INFINITY, 23),
            ("0x0p99999999999999999999", 0.0, 24),
            ("0x1p-99999999999999999999", 0.0, 25),
            (
                "0x0.00000000000000000000000000000000000000000000000000000000000000001p300",
                1099511627776.0,
                73,
            ),
            ("0x000000000000000000000000000000000000001p0", 1.0, 43),
            ("0x1234567890abcdefABCDEF", 2.2007822917795468e25, 24),
        ];
        for &(s, want, len) in cases {
            let (got, n) = num(s).unwrap_or_else(|| panic!("{s}: nothing read"));
            assert_eq!((got.to_bits(), n), (want.to_bits(), len), "{s}: {got}");
        }
        for s in ["nan", "NaN", "+nan", "nan()", "nan(a_Z9)"] {
            let (got, n) = num(s).unwrap();
            assert!(
                got.is_nan() && got.is_sign_positive() && n == s.len(),
                "{s}"
            );
        }
        let (got, n) = num("-nan(1)").unwrap();
        assert!(got.is_nan() && got.is_sign_negative() && n == 7);
        assert_eq!(num("nan(12").map(|x| x.1), Some(3));
        assert_eq!(num("nan(-)").map(|x| x.1), Some(3));
        for s in [
            "", "-", "+", "- 1", "+-1", "-+1", "-i", "-n", ".", "-.", "-.e1", "e1", "x",
        ] {
            assert_eq!(num(s), None, "{s}");
        }
    }

    #[test]
    fn formats_like_printf_17g() {
        assert_eq!(fmt_double(1.5), "1.5");
        assert_eq!(fmt_double(1.1), "1.1000000000000001");
        assert_eq!(fmt_double(100.0), "100");
        assert_eq!(fmt_double(1e20), "1e+20");
        assert_eq!(fmt_double(0.0001), "0.0001");
        assert_eq!(fmt_double(0.00001), "1.0000000000000001e-05");
        assert_eq!(fmt_double(f64::INFINITY), "inf");
        assert_eq!(fmt_double(-3.0), "-3");
        assert_eq!(fmt_g(0.1, 14), "0.1");
        assert_eq!(fmt_g(1e15, 14), "1e+15");
    }

    #[test]
    fn parses_floats_strictly() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(parse_f64(b"1 "), None);
        assert_eq!(parse_f64(b"1e400"), None);
        assert_eq!(parse_f64(b""), None);
        // strtod's underflow to zero is an error; zero itself is not.
        assert_eq!(parse_f64(b"1e-400"), None);
        assert_eq!(parse_f64(b"-0.000e-999"), Some(0.0));
    }

    #[test]
    fn parses_hexadecimal_floats_as_strtod() {
        assert_eq!(parse_f64(b"0x10"), Some(16.0));
        assert_eq!(parse_f64(b"-0X1.8p1"), Some(-3.0));
        assert_eq!(parse_f64(b"+0x.8"), Some(0.5));
        assert_eq!(parse_f64(b"0xAp-2"), Some(2.5));
        assert_eq!(parse_f64(b"0x1p+3"), Some(8.0));
        for bad in [
            "0x",
            "0x.",
            "0xg",
            "0x1p",
            "0x1p+",
            "--0x1",
            "0x1 ",
            "0x1p-99999",
        ] {
            assert_eq!(parse_f64(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn incrbyfloat_adds_in_long_double() {
        let add = |a: &str, b: &str| {
            let (a, b) = (
                LongDouble::parse(a.as_bytes()),
                LongDouble::parse(b.as_bytes()),
            );
            String::from_utf8(a.unwrap().add_text(&b.unwrap()).unwrap()).unwrap()
        };
        assert_eq!(add("10.5", "0.1"), "10.6");
        assert_eq!(add("5000", "0"), "5000");
        assert_eq!(add("0.1", "0.2"), "0.3");
        assert_eq!(add("-0", "0"), "0");
        assert_eq!(add("0x10", "1"), "17");
        if cfg!(target_arch = "x86_64") {
            // x87 extended precision, as Redis on x86-64 replies.
            assert_eq!(add("5000", "1.1"), "5001.10000000000000009");
            assert_eq!(
                add("123456789", "0.123456789"),
                "123456789.12345678899873747"
            );
        }
        assert!(LongDouble::parse(b"1e-400").is_some_and(|v| v.is_finite()));
        assert!(LongDouble::parse(b"inf").is_some_and(|v| !v.is_finite()));
        for bad in ["nan", "", " 1", "1 ", "x", "1e-99999"] {
            assert!(LongDouble::parse(bad.as_bytes()).is_none(), "{bad}");
        }
        let inf = LongDouble::parse(b"inf").unwrap();
        assert!(inf.add_text(&LongDouble::ZERO).is_none());
    }
}
