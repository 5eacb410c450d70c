//! What a plain scalar means: go-yaml v3's `resolve` for a scalar without a tag.
//!
//! This is YAML 1.2 with go-yaml's extensions: only `true` and `false` are booleans, integers
//! may be written `0x1F`, `0o17`, `017`, `0b101` or `1_000`, and dates are timestamps. Writing
//! adds YAML 1.1's rules on top (see [`can_be_plain`]).

use std::borrow::Cow;

use crate::number::{parse_float, parse_int, parse_uint};
use crate::style::GoYaml;
use crate::timestamp::Timestamp;

/// What a plain scalar resolves to.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    /// Nothing at all, `~`, `null`, `Null` or `NULL`.
    Null,
    /// `true`, `True`, `TRUE`, `false`, `False` or `FALSE`.
    Bool(bool),
    /// An integer that fits an `i64`.
    Int(i64),
    /// An integer above `i64::MAX` that fits a `u64` (written without a sign, as Go's `ParseUint`
    /// wants it).
    Uint(u64),
    /// A float: `.nan`, `.inf` and `-.inf` included, a literal beyond the range of `f64` not (it
    /// stays a string, as in Go).
    Float(f64),
    /// A date, or a date and time.
    Timestamp(Timestamp),
    /// A string: the scalar's own text.
    Str,
}

/// What the plain scalar `text` means to go-yaml v3.
pub fn resolve(text: &str) -> Resolved {
    resolve_as(text, GoYaml::V3)
}

/// go-yaml v2's resolver is v3's without the second look at the digits after `0o`.
fn resolve_as(text: &str, version: GoYaml) -> Resolved {
    match text {
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match text.as_bytes()[0] {
        b'.' => parse_float(text).map_or(Resolved::Str, Resolved::Float),
        b'+' | b'-' | b'0'..=b'9' => resolve_number(text, version),
        _ => Resolved::Str,
    }
}

/// A scalar that starts with a sign or a digit: a timestamp, an integer, a float or a string.
fn resolve_number(text: &str, version: GoYaml) -> Resolved {
    if let Some(t) = Timestamp::parse(text) {
        return Resolved::Timestamp(t);
    }
    let plain: Cow<'_, str> = if text.contains('_') {
        text.replace('_', "").into()
    } else {
        text.into()
    };
    if let Some(i) = parse_int(&plain, 0) {
        return Resolved::Int(i);
    }
    if let Some(u) = parse_uint(&plain, 0) {
        return Resolved::Uint(u);
    }
    if let Some(f) = parse_float(&plain) {
        return Resolved::Float(f);
    }
    // go-yaml then reads the digits after `0b` (and v3 after `0o`) on their own, which lets a
    // sign through after the prefix (`0b-101` is -5).
    let prefixes: &[(&str, u32)] = match version {
        GoYaml::V2 => &[("0b", 2)],
        GoYaml::V3 => &[("0b", 2), ("0o", 8)],
    };
    for &(prefix, radix) in prefixes {
        if let Some(digits) = plain.strip_prefix(prefix) {
            if let Some(i) = parse_int(digits, radix) {
                return Resolved::Int(i);
            }
            if let Some(u) = parse_uint(digits, radix) {
                return Resolved::Uint(u);
            }
        } else if let Some(digits) = plain.strip_prefix('-').and_then(|p| p.strip_prefix(prefix))
            && let Some(i) = parse_int(&format!("-{digits}"), radix)
        {
            return Resolved::Int(i);
        }
    }
    Resolved::Str
}

/// Whether go-yaml writes the string `text` as a plain scalar when nothing else rules it out
/// (go-yaml's `canUsePlain`): read back, the plain scalar must be the same string, and it must not
/// be a YAML 1.1 boolean (`yes`, `n`, `off`, …) or base-60 number (`1:20`) either, which a
/// YAML 1.1 reader would take for one.
pub fn can_be_plain(text: &str, version: GoYaml) -> bool {
    resolve_as(text, version) == Resolved::Str && !is_old_bool(text) && !is_base60_float(text)
}

/// A YAML 1.1 boolean that YAML 1.2 reads as a string.
fn is_old_bool(text: &str) -> bool {
    matches!(
        text,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// YAML 1.1's base-60 numbers: `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    if !b.get(i).is_some_and(u8::is_ascii_digit) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_go_yaml() {
        assert_eq!(resolve("0x1F"), Resolved::Int(31));
        assert_eq!(resolve("0o17"), Resolved::Int(15));
        assert_eq!(resolve("0123"), Resolved::Int(83));
        assert_eq!(resolve("1_000"), Resolved::Int(1000));
        assert_eq!(resolve("0b-101"), Resolved::Int(-5));
        assert_eq!(resolve("18446744073709551615"), Resolved::Uint(u64::MAX));
        assert_eq!(resolve("1.5"), Resolved::Float(1.5));
        assert_eq!(resolve(".5_0"), Resolved::Float(0.5));
        assert_eq!(resolve("-.inf"), Resolved::Float(f64::NEG_INFINITY));
        assert!(matches!(resolve(".NaN"), Resolved::Float(f) if f.is_nan()));
        assert_eq!(resolve("TRUE"), Resolved::Bool(true));
        assert_eq!(resolve("~"), Resolved::Null);
        assert_eq!(resolve(""), Resolved::Null);
        let Resolved::Timestamp(date) = resolve("2001-01-01") else {
            panic!("a date is a timestamp");
        };
        assert_eq!(date.to_string(), "2001-01-01T00:00:00Z");
        // Past the range of u64 and f64, and YAML 1.1 spellings, are strings.
        for s in [
            "1e400",
            "0xFFFFFFFFFFFFFFFFF",
            "yes",
            "on",
            "1:20",
            "-",
            "._5",
            "<<",
            "2023-02-30",
        ] {
            assert_eq!(resolve(s), Resolved::Str, "{s}");
        }
        // A signed integer past the range of i64 is a float (`ParseUint` takes no sign).
        assert_eq!(
            resolve("-9223372036854775809"),
            Resolved::Float(-9223372036854775809.0)
        );
        assert_eq!(
            resolve("+18446744073709551615"),
            Resolved::Float(18446744073709551615.0)
        );
    }

    #[test]
    fn plain_only_when_every_yaml_version_reads_a_string() {
        for s in [
            "yes",
            "on",
            "n",
            "1",
            "1.5",
            "0x1",
            "",
            "2001-01-01",
            "1:20",
            "~",
            "null",
            ".5_0",
            "0b1",
            "0xFFFFFFFFFFFFFFFF",
        ] {
            for version in [GoYaml::V2, GoYaml::V3] {
                assert!(!can_be_plain(s, version), "{s}");
            }
        }
        for s in [
            "abc",
            "1a",
            "-",
            "v1.2.3",
            "1.2.3",
            "0b2",
            "1e400",
            "2023-02-30",
            "<<",
        ] {
            for version in [GoYaml::V2, GoYaml::V3] {
                assert!(can_be_plain(s, version), "{s}");
            }
        }
        // Only v3 reads a sign after `0o`.
        assert!(!can_be_plain("0o-17", GoYaml::V3));
        assert!(can_be_plain("0o-17", GoYaml::V2));
    }
}
