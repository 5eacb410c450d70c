//! dotenv (`KEY=value` lines, `#` comments), as `sops` reads and writes it.

use crate::tree::{Entry, Key, Value, format_float_f};

/// Parses dotenv lines; `\n` in values stands for a newline.
pub(crate) fn parse(text: &str) -> Result<Vec<Entry>, usize> {
    let mut entries = Vec::new();
    for (n, line) in text.split('\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            entries.push(Entry::comment(c, false));
        } else {
            let (k, v) = line.split_once('=').ok_or(n + 1)?;
            entries.push(Entry::new(k, Value::Str(v.replace("\\n", "\n"))));
        }
    }
    Ok(entries)
}

/// Emits dotenv lines.
pub(crate) fn emit(entries: &[Entry], capacity: usize) -> Result<String, String> {
    let mut out = String::with_capacity(capacity);
    for e in entries {
        match &e.key {
            Key::Comment(c) => {
                out.push('#');
                out.push_str(&c.text);
                out.push('\n');
            }
            Key::Str(k) => {
                let value = zeroize::Zeroizing::new(match &e.value {
                    Value::Str(s) => s.replace('\n', "\\n"),
                    other => scalar_text(other).ok_or_else(|| k.clone())?,
                });
                out.push_str(k);
                out.push('=');
                out.push_str(&value);
                out.push('\n');
            }
        }
    }
    Ok(out)
}

/// `stores.ValToString`.
pub(crate) fn scalar_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Str(s) | Value::Time(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format_float_f(*f),
        Value::Bool(b) => b.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Null => String::new(),
        Value::Comment(c) => c.text.clone(),
        Value::Map(_) | Value::Seq(_) => return None,
    })
}
