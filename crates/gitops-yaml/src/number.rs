//! Numbers as Go's `strconv` reads and writes them for go-yaml.

/// Go's `strconv.ParseUint(s, base, 64)`: `base` 0 reads a `0x`, `0o` or `0b` prefix, and a
/// leading `0` as octal. No sign; the text has no underscores left (go-yaml removes them first).
pub(crate) fn parse_uint(s: &str, base: u32) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let (radix, digits) = if base == 0 { split_base(s) } else { (base, s) };
    if digits.is_empty() {
        // Only `0` gets here: the octal prefix with nothing after it.
        return Some(0);
    }
    // `from_str_radix` would also take a sign.
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Go's `strconv.ParseInt(s, base, 64)`: an optional sign, then what [`parse_uint`] reads.
pub(crate) fn parse_int(s: &str, base: u32) -> Option<i64> {
    let (negative, magnitude) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = parse_uint(magnitude, base)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// The radix a base-0 integer is written in, and its digits.
fn split_base(s: &str) -> (u32, &str) {
    let b = s.as_bytes();
    if b[0] != b'0' {
        return (10, s);
    }
    match b.get(1).map(u8::to_ascii_lowercase) {
        Some(b'b') if b.len() >= 3 => (2, &s[2..]),
        Some(b'o') if b.len() >= 3 => (8, &s[2..]),
        Some(b'x') if b.len() >= 3 => (16, &s[2..]),
        _ => (8, &s[1..]),
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal text go-yaml hands it: `_` only between
/// digits, and no value out of range (Go's range error, so the scalar stays a string).
pub(crate) fn parse_float(s: &str) -> Option<f64> {
    let stripped;
    let s = if s.contains('_') {
        if !underscores_between_digits(s) {
            return None;
        }
        stripped = s.replace('_', "");
        stripped.as_str()
    } else {
        s
    };
    if !is_yaml_float(s) {
        return None;
    }
    s.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// Go's `underscoreOK` for decimal text: every `_` stands between two digits.
fn underscores_between_digits(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let mut after_digit = false;
    let mut after_underscore = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            after_digit = true;
            after_underscore = false;
        } else if c == '_' {
            if !after_digit {
                return false;
            }
            after_digit = false;
            after_underscore = true;
        } else if after_underscore {
            return false;
        } else {
            after_digit = false;
        }
    }
    !after_underscore
}

/// Whether `s` is written as go-yaml's floats are:
/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
pub fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`, the text go-yaml writes a float with: the
/// shortest digits that read back, in exponent form below 1e-4 and from 1e6 on (`1e-05`,
/// `1.5e+06`), and `NaN`, `+Inf`, `-Inf` (which go-yaml itself writes as `.nan`, `.inf` and
/// `-.inf`).
pub fn format_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        push_exponent_form(&mut out, &digits, exp);
    } else if exp < 0 {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    } else {
        let point = (exp + 1) as usize;
        if digits.len() <= point {
            out.push_str(&digits);
            for _ in digits.len()..point {
                out.push('0');
            }
        } else {
            out.push_str(&digits[..point]);
            out.push('.');
            out.push_str(&digits[point..]);
        }
    }
    out
}

/// `d.ddde±XX`, with at least two exponent digits.
fn push_exponent_form(out: &mut String, digits: &str, exp: i32) {
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let a = exp.abs();
    if a < 10 {
        out.push('0');
    }
    out.push_str(&a.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_integers_like_go() {
        assert_eq!(parse_int("0x1F", 0), Some(31));
        assert_eq!(parse_int("-0o17", 0), Some(-15));
        assert_eq!(parse_int("017", 0), Some(15));
        assert_eq!(parse_int("0", 0), Some(0));
        assert_eq!(parse_int("+0b101", 0), Some(5));
        assert_eq!(parse_int("-9223372036854775808", 0), Some(i64::MIN));
        assert_eq!(parse_int("9223372036854775808", 0), None);
        assert_eq!(parse_int("-101", 2), Some(-5));
        for bad in ["", "+", "0x", "0b", "0x+1", "--1", "08", "1_0", "0x1G"] {
            assert_eq!(parse_int(bad, 0), None, "{bad}");
        }
        // Leading zeros do not count against the range.
        assert_eq!(parse_int(&format!("0x{}1F", "0".repeat(50)), 0), Some(31));
        assert_eq!(parse_uint("18446744073709551615", 0), Some(u64::MAX));
        assert_eq!(parse_uint("0xFFFFFFFFFFFFFFFF", 0), Some(u64::MAX));
        assert_eq!(parse_uint("18446744073709551616", 0), None);
        assert_eq!(parse_uint("+1", 0), None);
    }

    #[test]
    fn parses_floats_like_go() {
        assert_eq!(parse_float("1.5"), Some(1.5));
        assert_eq!(parse_float(".5_0"), Some(0.5));
        assert_eq!(parse_float("1e1_0"), Some(1e10));
        assert_eq!(parse_float("1e-400"), Some(0.0));
        for bad in [
            "1e400", "._5", "1_.5", "1_", ".e3", ".", "1e", "inf", "0x1p3",
        ] {
            assert_eq!(parse_float(bad), None, "{bad}");
        }
        assert!(is_yaml_float("-.5e-3"));
        assert!(is_yaml_float("1."));
        assert!(!is_yaml_float("1.2.3"));
    }

    #[test]
    fn formats_floats_like_go() {
        for (f, text) in [
            (1.5, "1.5"),
            (123456.0, "123456"),
            (1e6, "1e+06"),
            (1234567.5, "1.2345675e+06"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e21, "1e+21"),
            (-1.5e-7, "-1.5e-07"),
            (-0.0, "-0"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            assert_eq!(format_float(f), text);
        }
    }
}
