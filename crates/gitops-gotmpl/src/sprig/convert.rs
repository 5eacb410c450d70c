//! Sprig's conversions (`strval`, `cast.ToInt64`, `cast.ToFloat64`).

use crate::{Value, gofmt};

/// Sprig's `strval`: a string as is, anything else as `fmt.Sprintf("%v")` prints it.
pub fn to_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => gofmt::sprintf("%v", std::slice::from_ref(other)),
    }
}

/// `cast.ToInt64` as Sprig calls it: floats truncate, strings parse (base prefixes allowed,
/// a `.0` tail ignored), anything unreadable is 0.
pub fn to_int64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i,
        // Go's float-to-int conversion of an out-of-range value is the "integer indefinite"
        // of amd64, i64::MIN (Rust's `as` would saturate).
        Value::Float(f) if f.is_nan() || *f >= i64::MAX as f64 || *f < i64::MIN as f64 => i64::MIN,
        Value::Float(f) => *f as i64,
        Value::Bool(b) => i64::from(*b),
        Value::String(s) => parse_int(s).unwrap_or(0),
        _ => 0,
    }
}

fn parse_int(s: &str) -> Option<i64> {
    let mut t = s;
    // cast trims a zero decimal part: "1.0" and "1." read as 1.
    if let Some(i) = t.find('.')
        && t[i + 1..].chars().all(|c| c == '0')
    {
        t = &t[..i];
    }
    let (neg, body) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = body.to_ascii_lowercase();
    let (base, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string())
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string())
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string())
    } else {
        (10, lower.clone())
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    let u = i128::from_str_radix(&digits, base).ok()?;
    let v = if neg { -u } else { u };
    i64::try_from(v).ok()
}

/// `cast.ToFloat64`: numbers convert, strings parse, anything else is 0.
pub fn to_float64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::Int64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::String(s) => parse_float(s).unwrap_or(0.0),
        _ => 0.0,
    }
}

/// Sprig's `strslice`: a list's non-nil elements as strings; nil is empty; anything else is
/// one string.
pub(crate) fn str_slice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l.iter().filter(|x| !x.is_nil()).map(to_string).collect(),
        Value::Nil | Value::Missing => Vec::new(),
        other => vec![to_string(other)],
    }
}

/// Go's `strconv.ParseFloat(s, 64)`; out-of-range values are an error (so `cast` gives 0).
fn parse_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    let f = if body.starts_with("0x") {
        crate::parse::parse_go_float(s)?
    } else {
        s.parse::<f64>().ok()?
    };
    if f.is_infinite() && !body.starts_with("inf") {
        return None;
    }
    Some(f)
}
