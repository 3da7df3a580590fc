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
    if s.is_empty() || s.len() > 256 || s[0].is_ascii_whitespace() {
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
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    let hex = unsigned.starts_with("0x") || unsigned.starts_with("0X");
    let v = if hex {
        let v = parse_hex(&unsigned[2..])?;
        if t.starts_with('-') {
            -v
        } else {
            v
        }
    } else {
        t.parse().ok()?
    };
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

/// The digits of a hexadecimal float after `0x`: `h[.h][p[+-]d]`, at least one mantissa digit.
fn parse_hex(t: &str) -> Option<f64> {
    let (mantissa, exp) = match t.split_once(['p', 'P']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (t, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() || frac.len() > 1024 {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars().chain(frac.chars()) {
        v = v * 16.0 + f64::from(c.to_digit(16)?);
    }
    let scale = exp.checked_sub(4 * frac.len() as i32)?;
    Some(v * 2f64.powi(scale))
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

fn strip_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
