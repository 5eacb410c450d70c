//! Scalars between YAML and kustomize's JSON model.
//!
//! Reading follows go-yaml v3, through which kyaml reads resources ([`gitops_yaml::resolve`]:
//! only `true`/`false` are booleans, `0o17` and `017` are octal, `1_000` is a number, dates
//! become RFC 3339 timestamps). Numbers are written back as kustomize prints them after its JSON
//! round trip.

use gitops_yaml::Resolved;
use serde_json::{Number, Value};

/// What a plain scalar means to kustomize's reader. `Err` for values JSON cannot hold (NaN, ±Inf).
pub(crate) fn resolve_plain(s: &str) -> Result<Value, &'static str> {
    Ok(match gitops_yaml::resolve(s) {
        Resolved::Null => Value::Null,
        Resolved::Bool(b) => Value::Bool(b),
        Resolved::Int(i) => i.into(),
        Resolved::Uint(u) => u.into(),
        Resolved::Float(f) => {
            Value::Number(Number::from_f64(f).ok_or("NaN and infinity cannot be rendered")?)
        }
        Resolved::Timestamp(t) => Value::String(t.to_string()),
        Resolved::Str => Value::String(s.to_owned()),
    })
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
    gitops_yaml::format_float(f)
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
        assert_eq!(
            resolve_plain("18446744073709551615").unwrap(),
            Value::from(u64::MAX)
        );
        assert_eq!(resolve_plain("yes").unwrap(), Value::from("yes"));
        assert_eq!(
            resolve_plain("2001-01-01").unwrap(),
            Value::from("2001-01-01T00:00:00Z")
        );
        assert_eq!(resolve_plain("1.5").unwrap(), Value::from(1.5));
        assert_eq!(resolve_plain("-").unwrap(), Value::from("-"));
        assert_eq!(resolve_plain("1e400").unwrap(), Value::from("1e400"));
        assert!(resolve_plain(".inf").is_err());
    }

    #[test]
    fn formats_numbers_like_kustomize() {
        assert_eq!(format_number(&Number::from_f64(3.0).unwrap()), "3");
        assert_eq!(format_number(&Number::from_f64(1.5).unwrap()), "1.5");
        assert_eq!(format_number(&Number::from_f64(1e21).unwrap()), "1e+21");
        assert_eq!(
            format_number(&Number::from(u64::MAX)),
            "18446744073709551615"
        );
    }
}
