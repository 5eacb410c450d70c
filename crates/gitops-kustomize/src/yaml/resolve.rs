//! Scalar resolution: which plain scalars are numbers, booleans, nulls or timestamps.
//!
//! Reading follows the YAML 1.2-leaning rules of kustomize's reader (only `true`/`false` are
//! booleans, `0o17` and `017` are octal, `1_000` is a number, dates become RFC 3339 timestamps).
//! Writing follows the YAML 1.1 rules of kustomize's printer, which quotes every string a YAML 1.1
//! reader would take for something else (`yes`, `on`, `y`, `1:20`, …).

use serde_json::{Number, Value};

/// Go's `strconv.ParseInt(s, 0, 64)` / `ParseUint` accepted syntax, as an i128.
fn go_parse_int_base0(s: &str) -> Option<i128> {
    let (neg, rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(d) = rest.strip_prefix("0x").or(rest.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = rest.strip_prefix("0o").or(rest.strip_prefix("0O")) {
        (8, d)
    } else if let Some(d) = rest.strip_prefix("0b").or(rest.strip_prefix("0B")) {
        (2, d)
    } else if rest.len() > 1 && rest.starts_with('0') {
        (8, &rest[1..])
    } else {
        (10, rest)
    };
    if digits.is_empty() || digits.len() > 40 {
        return None;
    }
    let mut value: i128 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)? as i128;
        value = value.checked_mul(radix as i128)?.checked_add(d)?;
    }
    Some(if neg { -value } else { value })
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_style_float(s: &str) -> bool {
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

/// A timestamp as Go's `time.Parse` reads it with the YAML timestamp layouts.
#[derive(Debug, PartialEq)]
pub(crate) struct Timestamp {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// Fraction digits as written, trailing zeros removed.
    fraction: String,
    /// Offset in minutes; `None` is UTC.
    offset: Option<i32>,
}

impl Timestamp {
    /// RFC 3339 with nanoseconds, as Go's JSON encoding of `time.Time` writes it.
    pub(crate) fn rfc3339(&self) -> String {
        let mut s = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        );
        if !self.fraction.is_empty() {
            s.push('.');
            s.push_str(&self.fraction);
        }
        match self.offset {
            None | Some(0) => s.push('Z'),
            Some(off) => {
                let sign = if off < 0 { '-' } else { '+' };
                let off = off.abs();
                s.push_str(&format!("{sign}{:02}:{:02}", off / 60, off % 60));
            }
        }
        s
    }
}

fn take_num(s: &[u8], i: &mut usize, min: usize, max: usize) -> Option<u32> {
    let start = *i;
    while *i < s.len() && *i - start < max && s[*i].is_ascii_digit() {
        *i += 1;
    }
    if *i - start < min {
        return None;
    }
    std::str::from_utf8(&s[start..*i]).ok()?.parse().ok()
}

/// Parses the YAML timestamp forms Go's YAML libraries accept.
pub(crate) fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let mut i = 0;
    let year = take_num(b, &mut i, 4, 4)?;
    i += 1;
    let month = take_num(b, &mut i, 1, 2)?;
    if b.get(i) != Some(&b'-') {
        return None;
    }
    i += 1;
    let day = take_num(b, &mut i, 1, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let mut ts = Timestamp {
        year,
        month,
        day,
        hour: 0,
        minute: 0,
        second: 0,
        fraction: String::new(),
        offset: None,
    };
    if i == b.len() {
        return Some(ts);
    }
    let sep = b[i];
    if sep != b'T' && sep != b't' && sep != b' ' {
        return None;
    }
    i += 1;
    ts.hour = take_num(b, &mut i, 1, 2)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    ts.minute = take_num(b, &mut i, 1, 2)?;
    if b.get(i) != Some(&b':') {
        return None;
    }
    i += 1;
    ts.second = take_num(b, &mut i, 1, 2)?;
    if ts.hour > 23 || ts.minute > 59 || ts.second > 59 {
        return None;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i - start > 9 {
            return None;
        }
        ts.fraction = s[start..i].trim_end_matches('0').to_owned();
    }
    if sep == b' ' {
        return (i == b.len()).then_some(ts);
    }
    match b.get(i) {
        Some(b'Z') if i + 1 == b.len() => Some(ts),
        Some(&c @ (b'+' | b'-')) => {
            i += 1;
            let h = take_num(b, &mut i, 2, 2)?;
            if b.get(i) != Some(&b':') {
                return None;
            }
            i += 1;
            let m = take_num(b, &mut i, 2, 2)?;
            if i != b.len() || h > 23 || m > 59 {
                return None;
            }
            let off = (h * 60 + m) as i32;
            ts.offset = Some(if c == b'-' { -off } else { off });
            Some(ts)
        }
        _ => None,
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// What a plain scalar means to kustomize's reader. `Err` for values JSON cannot hold (NaN, ±Inf).
pub(crate) fn resolve_plain(s: &str) -> Result<Value, &'static str> {
    match s {
        "true" | "True" | "TRUE" => return Ok(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Ok(Value::Bool(false)),
        "" | "~" | "null" | "Null" | "NULL" => return Ok(Value::Null),
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF"
        | "-.inf" | "-.Inf" | "-.INF" => return Err("NaN and infinity cannot be rendered"),
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => {
            if is_go_float_syntax(s)
                && let Ok(f) = s.parse::<f64>()
            {
                return Ok(float_value(f));
            }
            Ok(Value::String(s.to_owned()))
        }
        b'+' | b'-' | b'0'..=b'9' => {
            if let Some(ts) = parse_timestamp(s) {
                return Ok(Value::String(ts.rfc3339()));
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if let Some(i) = go_parse_int_base0(&plain) {
                if let Ok(v) = i64::try_from(i) {
                    return Ok(Value::Number(v.into()));
                }
                if let Ok(v) = u64::try_from(i) {
                    return Ok(Value::Number(v.into()));
                }
            }
            if is_yaml_style_float(&plain)
                && let Ok(f) = plain.parse::<f64>()
            {
                if f.is_infinite() {
                    return Err("NaN and infinity cannot be rendered");
                }
                return Ok(float_value(f));
            }
            Ok(Value::String(s.to_owned()))
        }
        _ => Ok(Value::String(s.to_owned())),
    }
}

fn is_go_float_syntax(s: &str) -> bool {
    // `.5`, `.5e3`: what reaches here starts with a dot.
    is_yaml_style_float(s)
}

fn float_value(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// Whether kustomize's printer can write `s` as a plain scalar: a YAML 1.1 reader must read it
/// back as the same string.
pub(crate) fn plain_is_string_v1_1(s: &str) -> bool {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "n" | "N" | "no" | "No" | "NO" | "true" | "True"
        | "TRUE" | "false" | "False" | "FALSE" | "on" | "On" | "ON" | "off" | "Off" | "OFF"
        | "" | "~" | "null" | "Null" | "NULL" | ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf"
        | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF" => {
            return false;
        }
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => s.parse::<f64>().is_err() || !go_parse_float_ok(s),
        b'+' | b'-' | b'0'..=b'9' => {
            if parse_timestamp(s).is_some() {
                return false;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            if go_parse_int_base0(&plain)
                .is_some_and(|i| i64::try_from(i).is_ok() || u64::try_from(i).is_ok())
            {
                return false;
            }
            if is_yaml_style_float(&plain) {
                return false;
            }
            if let Some(rest) = plain.strip_prefix("0b").or(plain.strip_prefix("-0b"))
                && !rest.is_empty()
                && rest.bytes().all(|c| c == b'0' || c == b'1')
            {
                return false;
            }
            !is_base60_float(s)
        }
        _ => true,
    }
}

/// Go's `strconv.ParseFloat` accepts a few forms Rust's parser does not; for a leading dot only
/// the decimal forms matter.
fn go_parse_float_ok(s: &str) -> bool {
    is_yaml_style_float(s)
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        match i - start {
            1 => {}
            2 if b[start] <= b'5' => {}
            _ => return false,
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub(crate) fn go_format_float(f: f64) -> String {
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if !(-4..6).contains(&exp) {
        // Go uses %e from an exponent of 6 on when printing the shortest representation.
        push_exp(&mut out, &digits, exp);
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

fn push_exp(out: &mut String, digits: &str, exp: i32) {
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

/// A JSON number as kustomize prints it after its JSON round trip.
pub(crate) fn format_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 1e21 {
        if f >= i64::MIN as f64 && f < i64::MAX as f64 {
            return (f as i64).to_string();
        }
        if f >= 0.0 && f < u64::MAX as f64 {
            return (f as u64).to_string();
        }
    }
    go_format_float(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_kustomize_reader() {
        assert_eq!(resolve_plain("0x1F").unwrap(), Value::from(31));
        assert_eq!(resolve_plain("0o17").unwrap(), Value::from(15));
        assert_eq!(resolve_plain("017").unwrap(), Value::from(15));
        assert_eq!(resolve_plain("1_000").unwrap(), Value::from(1000));
        assert_eq!(resolve_plain("yes").unwrap(), Value::from("yes"));
        assert_eq!(
            resolve_plain("2001-01-01").unwrap(),
            Value::from("2001-01-01T00:00:00Z")
        );
        assert_eq!(resolve_plain("1.5").unwrap(), Value::from(1.5));
        assert_eq!(resolve_plain("-").unwrap(), Value::from("-"));
    }

    #[test]
    fn quotes_like_kustomize_printer() {
        for s in [
            "yes",
            "on",
            "1",
            "1.5",
            "0x1",
            "",
            "2001-01-01",
            "1:20",
            "~",
        ] {
            assert!(!plain_is_string_v1_1(s), "{s}");
        }
        for s in ["abc", "1a", "-", "v1.2.3", "1.2.3", "0b2"] {
            assert!(plain_is_string_v1_1(s), "{s}");
        }
    }

    #[test]
    fn formats_floats_like_go() {
        assert_eq!(go_format_float(1.5), "1.5");
        assert_eq!(go_format_float(1234567.5), "1.2345675e+06");
        assert_eq!(go_format_float(0.0001), "0.0001");
        assert_eq!(go_format_float(0.00001), "1e-05");
        assert_eq!(go_format_float(1e21), "1e+21");
        assert_eq!(format_number(&Number::from_f64(3.0).unwrap()), "3");
    }
}
