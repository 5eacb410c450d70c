//! Writing JSON values as YAML with the bytes kustomize's printer produces: keys sorted in its
//! "natural" order, two-space indentation, sequences not indented under their key, multi-line
//! strings as literal blocks, and the quoting a YAML 1.1 reader needs. Lines are never wrapped.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use super::resolve::{format_number, plain_is_string_v1_1};

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

#[derive(Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_break_char(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Printable in the emitter's sense (it escapes everything else in double quotes).
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
}

fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let mut block_indicators = false;
    let mut line_breaks = false;
    let mut special = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    if value.starts_with("---") || value.starts_with("...") {
        block_indicators = true;
    }
    let chars: Vec<char> = value.chars().collect();
    let mut preceded_by_ws = true;
    for (i, &c) in chars.iter().enumerate() {
        let next = chars.get(i + 1).copied();
        let followed_by_ws = next.is_none_or(|n| n == ' ' || n == '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        let last = i + 1 == chars.len();
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if last {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break_char(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if last {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = c == ' ' || c == '\t' || is_break_char(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

fn write_scalar_str(s: &str, block_indent: usize, simple_key: bool, out: &mut String) {
    let mut style = if s.contains('\n') {
        Style::Literal
    } else if plain_is_string_v1_1(s) {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    if simple_key && a.multiline {
        style = Style::Double;
    }
    if style == Style::Plain && (!a.block_plain_allowed || (s.is_empty() && simple_key)) {
        style = Style::Single;
    }
    if style == Style::Single && !a.single_quoted_allowed {
        style = Style::Double;
    }
    if style == Style::Literal && (!a.block_allowed || simple_key) {
        style = Style::Double;
    }
    let allow_breaks = !simple_key;
    match style {
        Style::Plain => {
            if allow_breaks && needs_wrap_check(s, out) {
                write_wrapped(s, block_indent, out, WrapKind::Plain);
            } else {
                out.push_str(s);
            }
        }
        Style::Single => {
            out.push('\'');
            if allow_breaks && needs_wrap_check(s, out) {
                write_wrapped(s, block_indent, out, WrapKind::Single);
            } else {
                for c in s.chars() {
                    if c == '\'' {
                        out.push('\'');
                    }
                    out.push(c);
                }
            }
            out.push('\'');
        }
        Style::Double => write_double(s, block_indent, allow_breaks, out),
        Style::Literal => write_literal(s, block_indent, out),
    }
}

/// The printer wraps long lines at spaces past column 80.
const BEST_WIDTH: usize = 80;

fn column(out: &str) -> usize {
    let start = out.rfind('\n').map_or(0, |i| i + 1);
    out[start..].chars().count()
}

fn needs_wrap_check(s: &str, out: &str) -> bool {
    s.contains(' ') && column(out) + s.len() > BEST_WIDTH
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

fn write_double(s: &str, ind: usize, allow_breaks: bool, out: &mut String) {
    out.push('"');
    let wrap = allow_breaks && needs_wrap_check(s, out);
    let chars: Vec<char> = s.chars().collect();
    let mut col = if wrap { column(out) } else { 0 };
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if wrap && c == ' ' && !spaces && col > BEST_WIDTH && i > 0 && i + 1 < chars.len() {
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
        if !is_printable(c) || c == '\u{FEFF}' || is_break_char(c) || c == '"' || c == '\\' {
            out.push('\\');
            match c {
                '\0' => out.push('0'),
                '\u{7}' => out.push('a'),
                '\u{8}' => out.push('b'),
                '\t' => out.push('t'),
                '\n' => out.push('n'),
                '\u{b}' => out.push('v'),
                '\u{c}' => out.push('f'),
                '\r' => out.push('r'),
                '\u{1b}' => out.push('e'),
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '\u{85}' => out.push('N'),
                '\u{a0}' => out.push('_'),
                '\u{2028}' => out.push('L'),
                '\u{2029}' => out.push('P'),
                _ => {
                    let v = c as u32;
                    if v <= 0xFF {
                        out.push_str(&format!("x{v:02X}"));
                    } else if v <= 0xFFFF {
                        out.push_str(&format!("u{v:04X}"));
                    } else {
                        out.push_str(&format!("U{v:08X}"));
                    }
                }
            }
        } else {
            out.push(c);
        }
        if wrap {
            col += out[before..].chars().count();
        }
    }
    out.push('"');
}

fn write_literal(s: &str, ind: usize, out: &mut String) {
    out.push('|');
    let first = s.chars().next();
    if first.is_some_and(|c| c == ' ' || is_break_char(c)) {
        out.push('2');
    }
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    if n == 0 || !is_break_char(chars[n - 1]) {
        out.push('-');
    } else if n == 1 || is_break_char(chars[n - 2]) {
        out.push('+');
    }
    out.push('\n');
    // Content: each line indented, empty lines left empty.
    let mut at_line_start = true;
    for &c in &chars {
        if c == '\n' {
            out.push('\n');
            at_line_start = true;
        } else {
            if at_line_start {
                indent(out, ind);
                at_line_start = false;
            }
            out.push(c);
        }
    }
    if !at_line_start {
        // The caller adds the final newline.
    } else if out.ends_with('\n') {
        out.pop();
    }
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
