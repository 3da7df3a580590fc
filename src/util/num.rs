//! Numbers with Redis's rules: strict integer and float parsing, `%.17g` double formatting (what
//! Redis 7.0 replies for doubles), and INCRBYFLOAT's shortest decimal form.

pub use crate::protocol::resp::parse_i64;

/// Parses a float the way Redis's `getDoubleFromObject` accepts it: no surrounding spaces, no
/// trailing bytes, `inf`/`-inf` allowed, NaN and out-of-range values rejected.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    if s.is_empty() || s.len() > 256 || s[0].is_ascii_whitespace() {
        return None;
    }
    let t = std::str::from_utf8(s).ok()?;
    let v: f64 = t.parse().ok()?;
    if v.is_nan() {
        return None;
    }
    if v.is_infinite() {
        let l = t.trim_start_matches(['+', '-']).to_ascii_lowercase();
        if l != "inf" && l != "infinity" {
            return None;
        }
    }
    Some(v)
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

/// INCRBYFLOAT's result text, without an exponent. Redis adds in `long double` and prints
/// `%.17Lf` with trailing zeros removed, so `0.1 + 0.2` reads `0.3`; rounding the double sum to 16
/// significant digits before printing its shortest form gives the same text for decimal inputs.
pub fn fmt_incrbyfloat(d: f64) -> String {
    let rounded: f64 = format!("{d:.15e}").parse().unwrap_or(d);
    let s = format!("{rounded}");
    if s == "-0" {
        "0".into()
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
    }

    #[test]
    fn incrbyfloat_text() {
        assert_eq!(fmt_incrbyfloat(10.5), "10.5");
        assert_eq!(fmt_incrbyfloat(5000.0), "5000");
        assert_eq!(fmt_incrbyfloat(0.1 + 0.2), "0.3");
        assert_eq!(fmt_incrbyfloat(10.1 + 0.1), "10.2");
    }
}
