//! Writing JSON values as YAML with the bytes kustomize's printer produces: keys sorted in its
//! "natural" order, two-space indentation, sequences not indented under their key, multi-line
//! strings as literal blocks, the quoting a YAML 1.1 reader needs, and long lines wrapped at a
//! space past column 80. The printer is go-yaml v2 as forked in `sigs.k8s.io/yaml`; the choice of
//! scalar style and the quoting are [`gitops_yaml`]'s, with [`GoYaml::V2`].

use std::cmp::Ordering;

use gitops_yaml::{
    GoYaml, ScalarStyle, push_double_quoted, push_double_quoted_char, push_literal,
    push_single_quoted, scalar_style,
};
use serde_json::{Map, Value};

use super::resolve::format_number;

/// Writes one document (without a `---` line), ending in a newline.
pub fn emit_document(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) if !map.is_empty() => write_mapping(map, 0, false, out),
        Value::Array(seq) if !seq.is_empty() => write_sequence(seq, 0, false, out),
        other => {
            write_flow_or_scalar(other, 2, false, out);
            out.push('\n');
        }
    }
}

/// A value as its own YAML text (a document).
pub fn emit_value(value: &Value) -> String {
    let mut out = String::new();
    emit_document(value, &mut out);
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// Sorted keys, in the order of kustomize's printer.
pub(crate) fn sorted_keys(map: &Map<String, Value>) -> Vec<&String> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort_by(|a, b| natural_cmp(a, b));
    keys
}

/// The printer's key order: letters by code point, runs of digits by value, letters after
/// non-letters.
pub(crate) fn natural_cmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    if natural_less(a, b) {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric())
}

fn natural_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && is_digit(ar[j - 1]) {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && is_digit(ar[ai]) {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && is_digit(br[bi]) {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

/// A block mapping whose keys sit at column `ind`. With `inline`, the first key continues the
/// current line (after `- `).
fn write_mapping(map: &Map<String, Value>, ind: usize, inline: bool, out: &mut String) {
    for (n, key) in sorted_keys(map).into_iter().enumerate() {
        if n > 0 || !inline {
            indent(out, ind);
        }
        let value = &map[key.as_str()];
        if (key.len() > 128 || key.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}']))
            && !is_collection(value)
        {
            // Not a simple key: `? key` / `: value`.
            out.push_str("? ");
            write_scalar_str(key, ind + 2, false, out);
            out.push('\n');
            indent(out, ind);
            out.push(':');
        } else {
            write_scalar_str(key, ind + 2, true, out);
            out.push(':');
        }
        write_value_after_key(value, ind, out);
    }
}

fn is_collection(value: &Value) -> bool {
    match value {
        Value::Object(m) => !m.is_empty(),
        Value::Array(s) => !s.is_empty(),
        _ => false,
    }
}

fn write_value_after_key(value: &Value, ind: usize, out: &mut String) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_mapping(m, ind + 2, false, out);
        }
        Value::Array(s) if !s.is_empty() => {
            out.push('\n');
            write_sequence(s, ind, false, out);
        }
        other => {
            out.push(' ');
            write_flow_or_scalar(other, ind + 2, false, out);
            out.push('\n');
        }
    }
}

/// A block sequence whose dashes sit at column `ind`.
fn write_sequence(seq: &[Value], ind: usize, inline: bool, out: &mut String) {
    for (n, item) in seq.iter().enumerate() {
        if n > 0 || !inline {
            indent(out, ind);
        }
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => write_mapping(m, ind + 2, true, out),
            Value::Array(s) if !s.is_empty() => write_sequence(s, ind + 2, true, out),
            other => {
                write_flow_or_scalar(other, ind + 2, false, out);
                out.push('\n');
            }
        }
    }
}

/// Scalars and empty collections; `block_indent` is where literal block lines go.
fn write_flow_or_scalar(value: &Value, block_indent: usize, simple_key: bool, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&format_number(n)),
        Value::String(s) => write_scalar_str(s, block_indent, simple_key, out),
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

fn write_scalar_str(s: &str, block_indent: usize, simple_key: bool, out: &mut String) {
    let allow_breaks = !simple_key;
    match scalar_style(s, simple_key, GoYaml::V2) {
        ScalarStyle::Plain => {
            if allow_breaks && needs_wrap_check(s, out, 0) {
                write_wrapped(s, block_indent, out, WrapKind::Plain);
            } else {
                out.push_str(s);
            }
        }
        ScalarStyle::SingleQuoted => {
            if allow_breaks && needs_wrap_check(s, out, 1) {
                out.push('\'');
                write_wrapped(s, block_indent, out, WrapKind::Single);
                out.push('\'');
            } else {
                push_single_quoted(out, s);
            }
        }
        ScalarStyle::DoubleQuoted => write_double(s, block_indent, allow_breaks, out),
        ScalarStyle::Literal => {
            push_literal(out, s, 2, block_indent);
            // The caller ends the line.
            if s.ends_with('\n') {
                out.pop();
            }
        }
    }
}

/// The printer wraps long lines at spaces past column 80.
const BEST_WIDTH: usize = 80;

fn column(out: &str) -> usize {
    let start = out.rfind('\n').map_or(0, |i| i + 1);
    out[start..].chars().count()
}

/// Whether `s`, written after `opening` more characters (its quote), may need wrapping.
fn needs_wrap_check(s: &str, out: &str, opening: usize) -> bool {
    s.contains(' ') && column(out) + opening + s.len() > BEST_WIDTH
}

#[derive(Clone, Copy, PartialEq)]
enum WrapKind {
    Plain,
    Single,
}

fn write_wrapped(s: &str, ind: usize, out: &mut String, kind: WrapKind) {
    let chars: Vec<char> = s.chars().collect();
    let mut col = column(out);
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let next_space = chars.get(i + 1) == Some(&' ');
            let inner = kind == WrapKind::Plain || (i > 0 && i + 1 < chars.len());
            if !spaces && col > BEST_WIDTH && !next_space && inner {
                out.push('\n');
                indent(out, ind);
                col = ind;
            } else {
                out.push(' ');
                col += 1;
            }
            spaces = true;
        } else {
            if kind == WrapKind::Single && c == '\'' {
                out.push('\'');
                col += 1;
            }
            out.push(c);
            col += 1;
            spaces = false;
        }
    }
}

/// Double quotes, wrapped as the printer wraps them: at a space past column 80, with a `\` where
/// the break would eat a space.
fn write_double(s: &str, ind: usize, allow_breaks: bool, out: &mut String) {
    if !(allow_breaks && needs_wrap_check(s, out, 1)) {
        push_double_quoted(out, s);
        return;
    }
    out.push('"');
    let chars: Vec<char> = s.chars().collect();
    let mut col = column(out);
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' && !spaces && col > BEST_WIDTH && i > 0 && i + 1 < chars.len() {
            out.push('\n');
            indent(out, ind);
            col = ind;
            if chars.get(i + 1) == Some(&' ') {
                out.push('\\');
                col += 1;
            }
            spaces = true;
            continue;
        }
        spaces = c == ' ';
        let before = out.len();
        push_double_quoted_char(out, c);
        col += out[before..].chars().count();
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        let mut keys = vec!["b", "a10", "a9", "A", "_x", "a"];
        keys.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(keys, vec!["_x", "A", "a", "a9", "a10", "b"]);
    }

    #[test]
    fn writes_blocks_and_quotes() {
        let v: Value = serde_json::json!({
            "kind": "ConfigMap",
            "data": {"y": "multi\nline", "z": "a\n", "w": "123", "e": "", "c": "a: b"},
            "list": ["a", {"b": 1, "c": [1, 2]}, [3]],
        });
        let text = emit_value(&v);
        assert_eq!(
            text,
            "data:\n  c: 'a: b'\n  e: \"\"\n  w: \"123\"\n  \"y\": |-\n    multi\n    line\n  z: |\n    a\nkind: ConfigMap\nlist:\n- a\n- b: 1\n  c:\n  - 1\n  - 2\n- - 3\n"
        );
    }
}
