//! The SOPS document model: ordered mappings, sequences, typed scalars and comments.
//!
//! This mirrors the tree `sops` builds from every format, so that the walk (which values are
//! encrypted, what the MAC covers, which path each value is bound to) is the same for all of them.

use zeroize::Zeroize;

/// A comment line, without its leading `#`.
#[derive(Clone, PartialEq)]
pub(crate) struct Comment {
    pub text: String,
    /// Whether it was written after a value on the same line (only kept for comments that stay
    /// encrypted; `sops` drops the flag when it decrypts a comment).
    pub inline: bool,
}

/// A key of a mapping: a string, or a comment standing between entries.
#[derive(Clone, PartialEq)]
pub(crate) enum Key {
    Str(String),
    Comment(Comment),
}

/// One entry of a mapping; comment entries carry [`Value::Null`].
#[derive(Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: Key,
    pub value: Value,
}

impl Entry {
    pub fn new(key: impl Into<String>, value: Value) -> Self {
        Self {
            key: Key::Str(key.into()),
            value,
        }
    }

    pub fn comment(text: impl Into<String>, inline: bool) -> Self {
        Self {
            key: Key::Comment(Comment {
                text: text.into(),
                inline,
            }),
            value: Value::Null,
        }
    }

    pub fn key_str(&self) -> Option<&str> {
        match &self.key {
            Key::Str(s) => Some(s),
            Key::Comment(_) => None,
        }
    }
}

/// A value of the tree.
#[derive(Clone, PartialEq)]
pub(crate) enum Value {
    Map(Vec<Entry>),
    Seq(Vec<Value>),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// A timestamp, kept as its RFC 3339 text (what `sops` encrypts and hashes).
    Time(String),
    Bytes(Vec<u8>),
    /// A comment inside a sequence.
    Comment(Comment),
    Null,
}

impl Value {
    /// The entry of a mapping by key.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .find(|e| e.key_str() == Some(key))
                .map(|e| &e.value),
            _ => None,
        }
    }

    #[cfg(test)]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Overwrites every string and byte buffer in place.
    pub fn wipe(&mut self) {
        match self {
            Value::Map(entries) => {
                for e in entries {
                    let (Key::Str(s) | Key::Comment(Comment { text: s, .. })) = &mut e.key;
                    s.zeroize();
                    e.value.wipe();
                }
            }
            Value::Seq(items) => items.iter_mut().for_each(Value::wipe),
            Value::Str(s) | Value::Time(s) | Value::Comment(Comment { text: s, .. }) => s.zeroize(),
            Value::Bytes(b) => b.zeroize(),
            Value::Int(i) => i.zeroize(),
            Value::Float(f) => f.zeroize(),
            Value::Bool(b) => *b = false,
            Value::Null => {}
        }
    }
}

/// The documents of a file (several for multi-document YAML), wiped on drop.
#[derive(Default)]
pub(crate) struct Branches(pub Vec<Vec<Entry>>);

impl Drop for Branches {
    fn drop(&mut self) {
        for branch in &mut self.0 {
            for e in branch.iter_mut() {
                let (Key::Str(s) | Key::Comment(Comment { text: s, .. })) = &mut e.key;
                s.zeroize();
                e.value.wipe();
            }
        }
    }
}

/// Go's `strconv.FormatFloat(f, 'f', -1, 64)`: the shortest text that reads back, no exponent.
pub(crate) fn format_float_f(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    // Rust's Display is the shortest round-trip representation without an exponent.
    format!("{f}")
}

/// Go's `strconv.FormatFloat(f, 'e', -1, 64)` (`1e+21`, `1.5e-07`).
pub(crate) fn format_float_e(f: f64) -> String {
    let s = format!("{f:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    let digits = if digits.len() < 2 {
        format!("0{digits}")
    } else {
        digits.to_string()
    };
    format!("{mantissa}e{sign}{digits}")
}

/// The bytes `sops` feeds into the MAC for a value (`sops.ToBytes`).
pub(crate) fn mac_bytes(v: &Value, out: &mut dyn FnMut(&[u8])) {
    match v {
        Value::Str(s) | Value::Time(s) => out(s.as_bytes()),
        Value::Int(i) => out(i.to_string().as_bytes()),
        Value::Float(f) => out(format_float_f(*f).as_bytes()),
        Value::Bool(true) => out(b"True"),
        Value::Bool(false) => out(b"False"),
        Value::Bytes(b) => out(b),
        Value::Comment(c) => out(c.text.as_bytes()),
        Value::Map(_) | Value::Seq(_) | Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_formats() {
        assert_eq!(format_float_f(1.5), "1.5");
        assert_eq!(format_float_f(1.0), "1");
        assert_eq!(format_float_f(1e21), "1000000000000000000000");
        assert_eq!(format_float_e(1e21), "1e+21");
        assert_eq!(format_float_e(1.5e-7), "1.5e-07");
    }
}
