//! JSON as `sops` reads and writes it: order kept, Go's escaping, tab indentation.

use crate::tree::{Entry, Key, Value, format_float_e, format_float_f};

/// Parses a JSON document whose top level is an object.
pub(crate) fn parse(text: &[u8]) -> Result<Vec<Entry>, String> {
    let v: serde_json::Value = serde_json::from_slice(text)
        .map_err(|e| format!("invalid JSON at line {}, column {}", e.line(), e.column()))?;
    match from_json(v) {
        Value::Map(entries) => Ok(entries),
        _ => Err("the top level of a JSON document must be an object".into()),
    }
}

/// Converts a JSON value into the tree.
pub(crate) fn from_json(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::Str(s),
        serde_json::Value::Array(items) => Value::Seq(items.into_iter().map(from_json).collect()),
        serde_json::Value::Object(map) => Value::Map(
            map.into_iter()
                .map(|(k, v)| Entry::new(k, from_json(v)))
                .collect(),
        ),
    }
}

/// Converts a mapping into a JSON object (comments dropped).
pub(crate) fn entries_to_json(entries: &[Entry]) -> serde_json::Value {
    serde_json::Value::Object(
        entries
            .iter()
            .filter_map(|e| e.key_str().map(|k| (k.to_string(), to_json(&e.value))))
            .collect(),
    )
}

/// Converts the tree into a JSON value (comments dropped).
pub(crate) fn to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Map(entries) => entries_to_json(entries),
        Value::Seq(items) => serde_json::Value::Array(
            items
                .iter()
                .filter(|i| !matches!(i, Value::Comment(_)))
                .map(to_json)
                .collect(),
        ),
        Value::Str(s) | Value::Time(s) => serde_json::Value::String(s.clone()),
        Value::Int(i) => serde_json::Value::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Bytes(b) => {
            use base64::Engine;
            serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Value::Comment(_) | Value::Null => serde_json::Value::Null,
    }
}

/// Emits a branch as `sops` does: `json.Indent` with a tab, and a final newline.
pub(crate) fn emit(entries: &[Entry], capacity: usize) -> String {
    let mut out = String::with_capacity(capacity);
    emit_map(&mut out, entries, 0);
    out.push('\n');
    out
}

fn newline(out: &mut String, depth: usize) {
    out.push('\n');
    for _ in 0..depth {
        out.push('\t');
    }
}

fn emit_map(out: &mut String, entries: &[Entry], depth: usize) {
    let real: Vec<&Entry> = entries
        .iter()
        .filter(|e| matches!(e.key, Key::Str(_)))
        .collect();
    if real.is_empty() {
        out.push_str("{}");
        return;
    }
    out.push('{');
    for (i, e) in real.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        newline(out, depth + 1);
        if let Key::Str(k) = &e.key {
            push_string(out, k);
        }
        out.push_str(": ");
        emit_value(out, &e.value, depth + 1);
    }
    newline(out, depth);
    out.push('}');
}

fn emit_value(out: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Map(entries) => emit_map(out, entries, depth),
        Value::Seq(items) => {
            let real: Vec<&Value> = items
                .iter()
                .filter(|i| !matches!(i, Value::Comment(_)))
                .collect();
            if real.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in real.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                emit_value(out, item, depth + 1);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Str(s) | Value::Time(s) => push_string(out, s),
        Value::Comment(c) => push_string(out, &c.text),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&go_json_float(*f)),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Null => out.push_str("null"),
        Value::Bytes(b) => {
            use base64::Engine;
            push_string(out, &base64::engine::general_purpose::STANDARD.encode(b));
        }
    }
}

fn go_json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format_float_e(f);
        // Go trims `e-07` to `e-7`.
        if let Some(i) = s.find("e-0") {
            return format!("{}e-{}", &s[..i], &s[i + 3..]);
        }
        if let Some(i) = s.find("e+0") {
            return format!("{}e+{}", &s[..i], &s[i + 3..]);
        }
        s
    } else {
        format_float_f(f)
    }
}

/// Go's `encoding/json` string escaping (HTML-safe).
pub(crate) fn push_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                push_u_escape(out, c);
            }
            c if (c as u32) < 0x20 => push_u_escape(out, c),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn push_u_escape(out: &mut String, c: char) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let v = c as u32;
    out.push_str("\\u");
    for shift in [12, 8, 4, 0] {
        out.push(char::from(HEX[((v >> shift) & 0xf) as usize]));
    }
}
