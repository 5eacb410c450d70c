//! YAML read as Helm reads it (`sigs.k8s.io/yaml` over go-yaml v2: YAML 1.1 booleans such as
//! `yes` and `on`, every mapping key a string) and written as Helm's `toYaml` writes it (go-yaml
//! v2's block style with its key order).

use std::collections::HashMap;

use gitops_yaml::{GoYaml, Resolved, ScalarStyle};
use saphyr_parser::{Event, Parser, ScalarStyle as InStyle};

/// The most nodes one document may hold once its aliases are expanded.
pub const MAX_NODES: usize = 1_000_000;
/// The deepest nesting of collections in one document.
pub const MAX_DEPTH: usize = 500;

/// A YAML node as go-yaml v2 decodes it into `interface{}`.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// `null`, `~` or nothing.
    Null,
    /// A boolean (YAML 1.1 words included).
    Bool(bool),
    /// An integer.
    Int(i64),
    /// An integer above `i64::MAX`.
    Uint(u64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping with string keys, in document order (a repeated key keeps the last value).
    Map(Vec<(String, Node)>),
}

/// A YAML syntax error with its 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct YamlError {
    /// The line.
    pub line: usize,
    /// The column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

enum Frame {
    Seq(Vec<Node>, usize),
    Map(Vec<(String, Node)>, Option<String>, Vec<Node>, usize),
}

/// What a plain scalar means to go-yaml v2.
pub fn resolve_plain(text: &str) -> Node {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Node::Bool(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Node::Bool(false),
        _ => {}
    }
    match gitops_yaml::resolve(text) {
        Resolved::Null => Node::Null,
        Resolved::Bool(b) => Node::Bool(b),
        Resolved::Int(i) => Node::Int(i),
        Resolved::Uint(u) => Node::Uint(u),
        Resolved::Float(f) => Node::Float(f),
        // sigs.k8s.io/yaml turns a timestamp back into its text.
        Resolved::Timestamp(_) | Resolved::Str => Node::Str(text.to_string()),
    }
}

fn scalar_node(text: &str, style: InStyle, tag: Option<&saphyr_parser::Tag>) -> Node {
    if let Some(tag) = tag
        && tag.is_yaml_core_schema()
    {
        return match tag.suffix.as_str() {
            "str" => Node::Str(text.to_string()),
            "int" | "float" | "bool" | "null" => resolve_plain(text),
            _ => Node::Str(text.to_string()),
        };
    }
    if style == InStyle::Plain {
        resolve_plain(text)
    } else {
        Node::Str(text.to_string())
    }
}

/// The text a non-string mapping key becomes (sigs.k8s.io/yaml formats it).
pub(crate) fn key_text(text: &str, style: InStyle) -> String {
    if style != InStyle::Plain {
        return text.to_string();
    }
    match resolve_plain(text) {
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::Float(f) => gitops_yaml::format_float(f),
        Node::Null => "null".to_string(),
        _ => text.to_string(),
    }
}

fn count(node: &Node) -> usize {
    match node {
        Node::Seq(items) => 1 + items.iter().map(count).sum::<usize>(),
        Node::Map(entries) => 1 + entries.iter().map(|(_, v)| count(v)).sum::<usize>(),
        _ => 1,
    }
}

pub(crate) fn insert(map: &mut Vec<(String, Node)>, key: String, value: Node) {
    if let Some(slot) = map.iter_mut().find(|(k, _)| *k == key) {
        slot.1 = value;
    } else {
        map.push((key, value));
    }
}

/// Parses every document of `text` (an empty document is [`Node::Null`]).
///
/// # Errors
/// A syntax error, an unknown alias, or a document past [`MAX_NODES`] or [`MAX_DEPTH`].
pub fn parse(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut nodes = 0usize;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| YamlError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        let err = |message: &str| YamlError {
            line: span.start.line(),
            column: span.start.col() + 1,
            message: message.to_string(),
        };
        let (value, anchor) = match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                root = None;
                anchors.clear();
                nodes = 0;
                continue;
            }
            Event::DocumentEnd => {
                docs.push(root.take().unwrap_or(Node::Null));
                continue;
            }
            Event::Alias(id) => {
                let v = anchors
                    .get(&id)
                    .ok_or_else(|| err("unknown anchor referenced"))?
                    .clone();
                nodes = nodes.saturating_add(count(&v));
                if nodes > MAX_NODES {
                    return Err(err(&format!(
                        "document expands to more than {MAX_NODES} nodes through aliases"
                    )));
                }
                (v, 0)
            }
            Event::Scalar(text, style, anchor, tag) => {
                nodes += 1;
                if let Some(Frame::Map(_, key @ None, _, _)) = stack.last_mut() {
                    let k = key_text(&text, style);
                    *key = Some(
                        if style == InStyle::Plain && text == "<<" && tag.is_none() {
                            "\u{0}<<".to_string()
                        } else {
                            k
                        },
                    );
                    continue;
                }
                (scalar_node(&text, style, tag.as_deref()), anchor)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                nodes += 1;
                if stack.len() >= MAX_DEPTH {
                    return Err(err(&format!(
                        "document nests deeper than {MAX_DEPTH} levels"
                    )));
                }
                if let Some(Frame::Map(_, None, _, _)) = stack.last() {
                    return Err(err("complex mapping keys are not supported"));
                }
                if matches!(event, Event::SequenceStart(..)) {
                    stack.push(Frame::Seq(Vec::new(), anchor));
                } else {
                    stack.push(Frame::Map(Vec::new(), None, Vec::new(), anchor));
                }
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(items, anchor)) => (Node::Seq(items), anchor),
                _ => return Err(err("unbalanced sequence")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(mut map, _, merges, anchor)) => {
                    for merge in merges {
                        let sources = match merge {
                            Node::Seq(items) => items,
                            other => vec![other],
                        };
                        for source in sources {
                            let Node::Map(entries) = source else {
                                return Err(err(
                                    "map merge requires map or sequence of maps as the value",
                                ));
                            };
                            for (k, v) in entries {
                                if !map.iter().any(|(mk, _)| *mk == k) {
                                    map.push((k, v));
                                }
                            }
                        }
                    }
                    (Node::Map(map), anchor)
                }
                _ => return Err(err("unbalanced mapping")),
            },
        };
        if anchor != 0 {
            anchors.insert(anchor, value.clone());
        }
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Seq(items, _)) => items.push(value),
            Some(Frame::Map(map, key, merges, _)) => match key.take() {
                Some(k) if k == "\u{0}<<" => merges.push(value),
                Some(k) => insert(map, k, value),
                None => return Err(err("complex mapping keys are not supported")),
            },
        }
    }
    Ok(docs)
}

/// Parses one document (the first; none is [`Node::Null`]).
///
/// # Errors
/// As [`parse`].
pub fn parse_one(text: &str) -> Result<Node, YamlError> {
    Ok(parse(text)?.into_iter().next().unwrap_or(Node::Null))
}

impl Node {
    /// The node as JSON, as `sigs.k8s.io/yaml` converts it and `encoding/json` reads it back:
    /// every number a float64.
    ///
    /// # Errors
    /// A float JSON cannot hold (`.inf`, `.nan`).
    pub fn to_json(&self) -> Result<serde_json::Value, String> {
        Ok(match self {
            Node::Null => serde_json::Value::Null,
            Node::Bool(b) => serde_json::Value::Bool(*b),
            Node::Int(i) => float_json(*i as f64)?,
            Node::Uint(u) => float_json(*u as f64)?,
            Node::Float(f) => float_json(*f)?,
            Node::Str(s) => serde_json::Value::String(s.clone()),
            Node::Seq(items) => {
                serde_json::Value::Array(items.iter().map(Node::to_json).collect::<Result<_, _>>()?)
            }
            Node::Map(entries) => {
                let mut m = serde_json::Map::new();
                for (k, v) in entries {
                    m.insert(k.clone(), v.to_json()?);
                }
                serde_json::Value::Object(m)
            }
        })
    }
}

fn float_json(f: f64) -> Result<serde_json::Value, String> {
    serde_json::Number::from_f64(f)
        .map(serde_json::Value::Number)
        .ok_or_else(|| format!("json: unsupported value: {}", gitops_yaml::format_float(f)))
}

/// go-yaml v2's order of mapping keys: letters after other characters, digit runs compared
/// by their numeric value.
pub fn key_less(a: &str, b: &str) -> bool {
    let (ar, br): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let (al, bl) = (ar[i].is_alphabetic(), br[i].is_alphabetic());
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .wrapping_mul(10)
                .wrapping_add(i64::from(ar[ai] as u8 - b'0'));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .wrapping_mul(10)
                .wrapping_add(i64::from(br[bi] as u8 - b'0'));
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

/// Writes `node` as go-yaml v2 marshals it (block style, keys in [`key_less`] order), ending
/// with a line break. With `pretty`, writes as go-yaml v3 with sequences indented under their
/// key (Helm's `toYamlPretty`).
pub fn emit(node: &Node, pretty: bool) -> String {
    let mut out = String::new();
    match node {
        Node::Map(e) if !e.is_empty() => emit_map(&mut out, e, 0, pretty),
        Node::Seq(s) if !s.is_empty() => emit_seq(&mut out, s, 0, pretty),
        other => {
            push_scalar(&mut out, other, 0, pretty);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    out
}

fn push_scalar(out: &mut String, node: &Node, indent: usize, v3: bool) {
    match node {
        Node::Null => out.push_str("null"),
        Node::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Node::Int(i) => out.push_str(&i.to_string()),
        Node::Uint(u) => out.push_str(&u.to_string()),
        Node::Float(f) => out.push_str(&if f.is_nan() {
            ".nan".to_string()
        } else if f.is_infinite() {
            if *f > 0.0 { ".inf" } else { "-.inf" }.to_string()
        } else {
            gitops_yaml::format_float(*f)
        }),
        Node::Str(s) => push_string(out, s, false, indent, v3),
        Node::Seq(_) => out.push_str("[]"),
        Node::Map(_) => out.push_str("{}"),
    }
}

fn push_string(out: &mut String, s: &str, key: bool, indent: usize, v3: bool) {
    let version = if v3 { GoYaml::V3 } else { GoYaml::V2 };
    let style = gitops_yaml::scalar_style(s, key, version);
    let mut text = String::new();
    match style {
        ScalarStyle::Plain => text.push_str(s),
        ScalarStyle::SingleQuoted => gitops_yaml::push_single_quoted(&mut text, s),
        ScalarStyle::DoubleQuoted => gitops_yaml::push_double_quoted(&mut text, s),
        ScalarStyle::Literal => {
            gitops_yaml::push_literal(out, s, 2, indent + 2);
            return;
        }
    }
    if key {
        out.push_str(&text);
    } else {
        fold(out, &text, style, indent + 2);
    }
}

/// go-yaml's emitter breaks a long scalar at a single space once the line is past 80
/// columns (its `best_width`), continuing on the next line at `indent`.
fn fold(out: &mut String, text: &str, style: ScalarStyle, indent: usize) {
    const BEST_WIDTH: usize = 80;
    let line_start = out.rfind('\n').map_or(0, |i| i + 1);
    let mut col = out[line_start..].chars().count();
    let chars: Vec<char> = text.chars().collect();
    let (start, end) = match style {
        ScalarStyle::Plain => (0, chars.len()),
        _ => (1, chars.len().saturating_sub(1)),
    };
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' && i >= start && i < end {
            let inner = i > start && i + 1 < end;
            let next_space = chars.get(i + 1) == Some(&' ');
            let can_break = !spaces
                && col > BEST_WIDTH
                && match style {
                    ScalarStyle::Plain => !next_space,
                    ScalarStyle::SingleQuoted => inner && !next_space,
                    _ => inner,
                };
            spaces = true;
            if can_break {
                out.push('\n');
                out.extend(std::iter::repeat_n(' ', indent));
                col = indent;
                if style == ScalarStyle::DoubleQuoted && next_space {
                    out.push('\\');
                    col += 1;
                }
                continue;
            }
        } else {
            spaces = false;
        }
        out.push(c);
        col += 1;
    }
}

fn is_block(node: &Node) -> bool {
    match node {
        Node::Map(e) => !e.is_empty(),
        Node::Seq(s) => !s.is_empty(),
        _ => false,
    }
}

fn emit_map(out: &mut String, entries: &[(String, Node)], indent: usize, pretty: bool) {
    let mut sorted: Vec<&(String, Node)> = entries.iter().collect();
    sorted.sort_by(|a, b| {
        if key_less(&a.0, &b.0) {
            std::cmp::Ordering::Less
        } else if key_less(&b.0, &a.0) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    for (k, v) in sorted {
        out.extend(std::iter::repeat_n(' ', indent));
        push_string(out, k, true, indent, pretty);
        out.push(':');
        match v {
            Node::Map(e) if !e.is_empty() => {
                out.push('\n');
                emit_map(out, e, indent + 2, pretty);
            }
            Node::Seq(s) if !s.is_empty() => {
                out.push('\n');
                emit_seq(out, s, if pretty { indent + 2 } else { indent }, pretty);
            }
            other => {
                out.push(' ');
                push_scalar(out, other, indent, pretty);
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
}

fn emit_seq(out: &mut String, items: &[Node], indent: usize, pretty: bool) {
    for item in items {
        out.extend(std::iter::repeat_n(' ', indent));
        out.push('-');
        if is_block(item) {
            let mut inner = String::new();
            match item {
                Node::Map(e) => emit_map(&mut inner, e, indent + 2, pretty),
                Node::Seq(s) => emit_seq(&mut inner, s, indent + 2, pretty),
                _ => {}
            }
            out.push(' ');
            out.push_str(&inner[indent + 2..]);
        } else {
            out.push(' ');
            push_scalar(out, item, indent, pretty);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_yaml_1_1_booleans_and_numbers() {
        let n = parse_one("a: yes\nb: 1\nc: '1'\n1: x\n").expect("parse");
        assert_eq!(
            n,
            Node::Map(vec![
                ("a".into(), Node::Bool(true)),
                ("b".into(), Node::Int(1)),
                ("c".into(), Node::Str("1".into())),
                ("1".into(), Node::Str("x".into())),
            ])
        );
    }

    #[test]
    fn emits_go_yaml_v2_block_style() {
        let n = parse_one("b: [1, {x: 2, z: [a]}]\na: {}\nc: \"l1\\nl2\"\nd: 'on'\n").expect("y");
        assert_eq!(
            emit(&n, false),
            "a: {}\nb:\n- 1\n- x: 2\n  z:\n  - a\nc: |-\n  l1\n  l2\nd: \"on\"\n"
        );
    }

    #[test]
    fn orders_keys_as_go_yaml_v2() {
        assert!(key_less("a9", "a10"));
        assert!(key_less("_x", "Zx"));
        assert!(!key_less("b", "a"));
    }

    #[test]
    fn alias_bomb_is_an_error() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = parse(&text).expect_err("bomb");
        assert!(e.message.contains("through aliases"), "{e}");
    }
}
