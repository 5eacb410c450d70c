//! YAML: a parser that keeps comments where `sops` keeps them, and an emitter that writes what
//! `sops` (go-yaml v3, indentation 4) writes.

use std::collections::{HashMap, VecDeque};

use gitops_yaml::{GoYaml, Resolved, ScalarStyle as Style};
use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use zeroize::Zeroizing;

use crate::tree::{Entry, Key, Value};

/// A YAML syntax or structure error, with its position (never the text around it).
#[derive(Debug, thiserror::Error)]
#[error("line {line}, column {column}: {reason}")]
pub(crate) struct YamlError {
    pub line: usize,
    pub column: usize,
    pub reason: String,
}

struct CommentLine {
    line: usize,
    col: usize,
    index: usize,
    text: String,
}

/// How deep collections may nest. The loader, the walk that decrypts, the emitter and the
/// drop of the tree all recurse once per level; 200 levels fit a 2 MiB runtime worker stack
/// in a debug build with room to spare, and no real secret file comes close.
pub(crate) const MAX_DEPTH: usize = 200;

/// What aliases may add to one file (all its documents together), in nodes plus bytes of
/// text: each alias copies its anchor's value, so an alias bomb would otherwise need memory
/// exponential in the file's size.
pub(crate) const MAX_ALIAS_EXPANSION: usize = 1_000_000;

struct Loader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    lines: Vec<&'a str>,
    comments: VecDeque<CommentLine>,
    /// Anchored values with their size (nodes plus bytes of text).
    anchors: HashMap<usize, (Value, usize)>,
    depth: usize,
    /// What aliases have added so far in this file.
    expanded: usize,
}

/// A value's size for the alias budget: one per node plus the bytes of its text.
fn size(v: &Value) -> usize {
    match v {
        Value::Map(entries) => entries.iter().fold(1, |n, e| {
            let key = match &e.key {
                Key::Str(s) => s.len(),
                Key::Comment(c) => c.text.len(),
            };
            n.saturating_add(key).saturating_add(size(&e.value))
        }),
        Value::Seq(items) => items.iter().fold(1, |n, i| n.saturating_add(size(i))),
        Value::Str(s) | Value::Time(s) => 1 + s.len(),
        Value::Comment(c) => 1 + c.text.len(),
        Value::Bytes(b) => 1 + b.len(),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) | Value::Null => 1,
    }
}

fn err(span: &Span, reason: impl Into<String>) -> YamlError {
    YamlError {
        line: span.start.line(),
        column: span.start.col() + 1,
        reason: reason.into(),
    }
}

/// Parses every document of a YAML stream into `sops` branches.
pub(crate) fn parse(text: &str) -> Result<Vec<Vec<Entry>>, YamlError> {
    let mut comments = VecDeque::new();
    let mut index = 0usize;
    let ascii = text.is_ascii();
    let chars = |s: &str| if ascii { s.len() } else { s.chars().count() };
    for (n, line) in text.split('\n').enumerate() {
        let trimmed = line.trim_start_matches([' ', '\t']);
        if let Some(rest) = trimmed.strip_prefix('#') {
            let col = chars(line) - chars(trimmed);
            comments.push_back(CommentLine {
                line: n + 1,
                col,
                index: index + col,
                text: rest.trim_end_matches(['\r', ' ', '\t']).to_string(),
            });
        }
        index += chars(line) + 1;
    }
    let mut loader = Loader {
        parser: Parser::new_from_str(text),
        lines: text.split('\n').collect(),
        comments,
        anchors: HashMap::new(),
        depth: 0,
        expanded: 0,
    };
    loader.stream()
}

impl<'a> Loader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span), YamlError> {
        match self.parser.next_event() {
            Some(Ok(ev)) => Ok(ev),
            Some(Err(e)) => Err(YamlError {
                line: e.marker().line(),
                column: e.marker().col() + 1,
                reason: e.info().to_string(),
            }),
            None => Err(YamlError {
                line: 0,
                column: 0,
                reason: "unexpected end of input".into(),
            }),
        }
    }

    /// Comments before `line` (any column): they belong in front of the next key or item.
    fn take_before(&mut self, line: usize) -> Vec<String> {
        let mut out = Vec::new();
        while self.comments.front().is_some_and(|c| c.line < line) {
            out.extend(self.comments.pop_front().map(|c| c.text));
        }
        out
    }

    /// Trailing comments of a collection indented at `col`, up to `line`.
    fn take_trailing(&mut self, col: usize, line: usize) -> Vec<String> {
        let mut out = Vec::new();
        while self
            .comments
            .front()
            .is_some_and(|c| c.line < line && c.col >= col)
        {
            out.extend(self.comments.pop_front().map(|c| c.text));
        }
        out
    }

    /// Foot comments of a block collection that ends at `end` (the next token): go-yaml gives
    /// the innermost ending block every comment line not aligned with that next token.
    fn take_foot(&mut self, end: &Span) -> Vec<String> {
        let (line, col) = (end.start.line(), end.start.col());
        let mut out = Vec::new();
        while self
            .comments
            .front()
            .is_some_and(|c| c.line < line && c.col != col)
        {
            out.extend(self.comments.pop_front().map(|c| c.text));
        }
        out
    }

    /// A comment after a scalar on its last line (`key: value # comment`).
    fn trailing_comment(&self, span: &Span) -> Option<String> {
        let line = self.lines.get(span.end.line().checked_sub(1)?)?;
        if !line.as_bytes().contains(&b'#') {
            return None;
        }
        let start = line.char_indices().nth(span.end.col()).map(|(i, _)| i)?;
        let after = &line[start..];
        // A quoted scalar's span may stop before its closing quote.
        let after = after
            .strip_prefix(['"', '\''])
            .filter(|_| line[..start].contains(['"', '\'']))
            .unwrap_or(after);
        let rest = after.trim_start_matches([' ', '\t']);
        let text = rest.strip_prefix('#')?;
        (rest.len() < after.len()).then(|| text.trim_end_matches(['\r', ' ', '\t']).to_string())
    }

    /// Drops comment-looking lines inside a multi-line scalar.
    fn forget_inside(&mut self, span: &Span) {
        if span.start.line() == span.end.line() {
            return;
        }
        let (start, end) = (span.start.index(), span.end.index());
        self.comments.retain(|c| c.index < start || c.index >= end);
    }

    fn stream(&mut self) -> Result<Vec<Vec<Entry>>, YamlError> {
        let mut branches = Vec::new();
        loop {
            let (ev, span) = self.next()?;
            match ev {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::StreamEnd => break,
                Event::DocumentStart(_) => branches.push(self.document()?),
                _ => return Err(err(&span, "unexpected event outside a document")),
            }
        }
        Ok(branches)
    }

    fn document(&mut self) -> Result<Vec<Entry>, YamlError> {
        let (ev, span) = self.next()?;
        let mut entries = match ev {
            Event::MappingStart(anchor, _) => match self.mapping(anchor)? {
                Value::Map(entries) => entries,
                _ => unreachable!("mapping returns a map"),
            },
            Event::Scalar(ref v, ScalarStyle::Plain, _, None)
                if v.is_empty() || v == "~" || v == "null" =>
            {
                let mut e = Vec::new();
                for c in self.take_before(usize::MAX) {
                    e.push(Entry::comment(c, false));
                }
                e
            }
            Event::SequenceStart(..) => {
                return Err(err(
                    &span,
                    "YAML documents that are sequences are not supported",
                ));
            }
            Event::DocumentEnd => Vec::new(),
            _ => {
                return Err(err(
                    &span,
                    "YAML documents that are values are not supported",
                ));
            }
        };
        // Comments after the root mapping that the mapping did not take.
        if let Some(Ok((Event::DocumentEnd, span))) = self.parser.peek() {
            let line = span.start.line().max(1);
            let _ = line;
        }
        let line = match self.parser.peek() {
            Some(Ok((Event::DocumentStart(_), span))) => span.start.line(),
            _ => usize::MAX,
        };
        for c in self.take_trailing(0, line) {
            entries.push(Entry::comment(c, false));
        }
        Ok(entries)
    }

    fn node(&mut self, ev: Event<'a>, span: Span) -> Result<Value, YamlError> {
        Ok(match ev {
            Event::Scalar(value, style, anchor, tag) => {
                self.forget_inside(&span);
                let v = scalar_value(&value, style, tag.as_deref().map(|t| t.suffix.as_str()));
                if anchor > 0 {
                    self.anchors.insert(anchor, (v.clone(), size(&v)));
                }
                v
            }
            Event::MappingStart(anchor, _) => self.nested(&span, |l| l.mapping(anchor))?,
            Event::SequenceStart(anchor, _) => self.nested(&span, |l| l.sequence(anchor))?,
            Event::Alias(id) => {
                let (v, n) = self
                    .anchors
                    .get(&id)
                    .ok_or_else(|| err(&span, "unknown alias"))?;
                self.expanded = self.expanded.saturating_add(*n);
                if self.expanded > MAX_ALIAS_EXPANSION {
                    return Err(err(
                        &span,
                        format!(
                            "aliases expand to more than {MAX_ALIAS_EXPANSION} nodes and bytes in this file"
                        ),
                    ));
                }
                v.clone()
            }
            _ => return Err(err(&span, "unexpected YAML event")),
        })
    }

    /// Reads a collection one level deeper, refusing to go past [`MAX_DEPTH`].
    fn nested(
        &mut self,
        span: &Span,
        read: impl FnOnce(&mut Self) -> Result<Value, YamlError>,
    ) -> Result<Value, YamlError> {
        if self.depth >= MAX_DEPTH {
            return Err(err(
                span,
                format!("collections nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        let v = read(self);
        self.depth -= 1;
        v
    }

    fn mapping(&mut self, anchor: usize) -> Result<Value, YamlError> {
        let mut entries = Vec::new();
        loop {
            let (ev, span) = self.next()?;
            if let Event::MappingEnd = ev {
                for c in self.take_foot(&span) {
                    entries.push(Entry::comment(c, false));
                }
                break;
            }
            for c in self.take_before(span.start.line()) {
                entries.push(Entry::comment(c, false));
            }
            let key = match self.node(ev, span)? {
                Value::Str(s) | Value::Time(s) => s,
                Value::Int(i) => i.to_string(),
                Value::Float(f) => gitops_yaml::format_float(f),
                Value::Bool(b) => b.to_string(),
                Value::Null => "null".into(),
                _ => return Err(err(&span, "complex mapping keys are not supported")),
            };
            let (ev, vspan) = self.next()?;
            let is_scalar = matches!(ev, Event::Scalar(..) | Event::Alias(_));
            let value = self.node(ev, vspan)?;
            // go-yaml gives a comment after `key: value` to the key; sops puts it before the entry.
            if is_scalar && vspan.start.line() == span.start.line() {
                if let Some(c) = self.trailing_comment(&vspan) {
                    entries.push(Entry::comment(c, false));
                }
            }
            entries.push(Entry::new(key, value));
        }
        let v = Value::Map(entries);
        if anchor > 0 {
            self.anchors.insert(anchor, (v.clone(), size(&v)));
        }
        Ok(v)
    }

    fn sequence(&mut self, anchor: usize) -> Result<Value, YamlError> {
        let mut items = Vec::new();
        loop {
            let (ev, span) = self.next()?;
            if let Event::SequenceEnd = ev {
                for c in self.take_foot(&span) {
                    items.push(Value::Comment(crate::tree::Comment {
                        text: c,
                        inline: false,
                    }));
                }
                break;
            }
            for c in self.take_before(span.start.line()) {
                items.push(Value::Comment(crate::tree::Comment {
                    text: c,
                    inline: false,
                }));
            }
            let is_scalar = matches!(ev, Event::Scalar(..) | Event::Alias(_));
            let item = self.node(ev, span)?;
            if is_scalar {
                if let Some(c) = self.trailing_comment(&span) {
                    items.push(Value::Comment(crate::tree::Comment {
                        text: c,
                        inline: true,
                    }));
                }
            }
            items.push(item);
        }
        let v = Value::Seq(items);
        if anchor > 0 {
            self.anchors.insert(anchor, (v.clone(), size(&v)));
        }
        Ok(v)
    }
}

fn scalar_value(value: &str, style: ScalarStyle, tag: Option<&str>) -> Value {
    match tag {
        Some("str") => return Value::Str(value.to_string()),
        Some("binary") => {
            use base64::Engine;
            let compact: String = value.split_whitespace().collect();
            if let Ok(b) = base64::engine::general_purpose::STANDARD.decode(compact) {
                // go-yaml decodes `!!binary` into a string.
                return match String::from_utf8(b) {
                    Ok(s) => Value::Str(s),
                    Err(e) => Value::Bytes(e.into_bytes()),
                };
            }
            return Value::Str(value.to_string());
        }
        Some("int" | "float" | "bool" | "null" | "timestamp") => return resolve(value),
        Some(_) => return Value::Str(value.to_string()),
        None => {}
    }
    if style == ScalarStyle::Plain {
        resolve(value)
    } else {
        Value::Str(value.to_string())
    }
}

/// go-yaml v3's resolution of a plain scalar ([`gitops_yaml::resolve`]).
pub(crate) fn resolve(s: &str) -> Value {
    match gitops_yaml::resolve(s) {
        Resolved::Null => Value::Null,
        Resolved::Bool(b) => Value::Bool(b),
        Resolved::Int(i) => Value::Int(i),
        // The tree has no unsigned integers (the `sops` binary refuses a file with one: "unknown
        // type: uint64"). Such a number reads as go-yaml would read it without them: as a float
        // when it is written like one (`9223372036854775808`), else as a string
        // (`0xFFFFFFFFFFFFFFFF`).
        Resolved::Uint(_) => {
            let plain = s.replace('_', "");
            if gitops_yaml::is_yaml_float(&plain)
                && let Ok(f) = plain.parse()
            {
                Value::Float(f)
            } else {
                Value::Str(s.to_string())
            }
        }
        Resolved::Float(f) => Value::Float(f),
        Resolved::Timestamp(t) => Value::Time(t.to_string()),
        Resolved::Str => Value::Str(s.to_string()),
    }
}

// ---------------------------------------------------------------------------------------------
// Emitter

const INDENT: usize = 4;

/// Emits branches as `sops` does (`---` between documents).
pub(crate) fn emit(branches: &[Vec<Entry>], capacity: usize) -> String {
    // Sized up front so that the text holding plaintext is never reallocated (and so never
    // leaves an unwiped copy behind).
    let mut out = String::with_capacity(capacity);
    for (i, branch) in branches.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        if branch.iter().all(|e| matches!(e.key, Key::Comment(_))) {
            for e in branch {
                if let Key::Comment(c) = &e.key {
                    push_comment(&mut out, 0, &c.text);
                }
            }
            out.push_str("{}\n");
            continue;
        }
        emit_map(&mut out, branch, 0, false);
    }
    out
}

/// go-yaml's next indentation inside a mapping: the next multiple of the indentation step
/// (inside a sequence item it is two more, see `emit_seq`).
fn deeper(indent: usize) -> usize {
    INDENT * ((indent + INDENT) / INDENT)
}

fn push_indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

fn push_comment(out: &mut String, indent: usize, text: &str) {
    push_indent(out, indent);
    out.push('#');
    out.push_str(text);
    out.push('\n');
}

fn is_empty_collection(v: &Value) -> Option<&'static str> {
    match v {
        Value::Map(e) if e.iter().all(|e| matches!(e.key, Key::Comment(_))) => Some("{}"),
        Value::Seq(items) if items.iter().all(|i| matches!(i, Value::Comment(_))) => Some("[]"),
        _ => None,
    }
}

/// Writes a mapping at `indent`; with `inline_first` the first key goes where the cursor is.
fn emit_map(out: &mut String, entries: &[Entry], indent: usize, inline_first: bool) {
    let mut first = true;
    for e in entries {
        match &e.key {
            Key::Comment(c) => push_comment(out, indent, &c.text),
            Key::Str(k) => {
                if !(first && inline_first) {
                    push_indent(out, indent);
                }
                first = false;
                let simple = k.len() <= 128 && !k.contains(['\n', '\r']);
                if simple {
                    out.push_str(&Zeroizing::new(scalar_str(k, true, indent)));
                    out.push(':');
                } else {
                    out.push_str("? ");
                    out.push_str(&Zeroizing::new(scalar_str(k, false, deeper(indent))));
                    if !out.ends_with('\n') {
                        out.push('\n');
                    }
                    push_indent(out, indent);
                    out.push(':');
                }
                let next = deeper(indent);
                emit_value(out, &e.value, next, next);
            }
        }
    }
}

/// Writes the value after `key:` or `-`: ` scalar\n`, ` {}\n`, or a newline and a block.
fn emit_value(out: &mut String, v: &Value, block_indent: usize, scalar_indent: usize) {
    if let Some(empty) = is_empty_collection(v) {
        out.push(' ');
        out.push_str(empty);
        out.push('\n');
        return;
    }
    match v {
        Value::Map(entries) => {
            out.push('\n');
            emit_map(out, entries, block_indent, false);
        }
        Value::Seq(items) => {
            out.push('\n');
            emit_seq(out, items, block_indent, false);
        }
        other => {
            out.push(' ');
            out.push_str(&Zeroizing::new(scalar(other, scalar_indent)));
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
}

fn emit_seq(out: &mut String, items: &[Value], indent: usize, inline_first: bool) {
    let mut first = true;
    for item in items {
        if let Value::Comment(c) = item {
            push_comment(out, indent, &c.text);
            continue;
        }
        if !(first && inline_first) {
            push_indent(out, indent);
        }
        first = false;
        out.push('-');
        if let Some(empty) = is_empty_collection(item) {
            out.push(' ');
            out.push_str(empty);
            out.push('\n');
            continue;
        }
        match item {
            Value::Map(entries) => {
                out.push(' ');
                emit_map(out, entries, indent + 2, true);
            }
            Value::Seq(inner) => {
                out.push(' ');
                emit_seq(out, inner, indent + 2, true);
            }
            other => {
                out.push(' ');
                out.push_str(&Zeroizing::new(scalar(other, indent + 2)));
                if !out.ends_with('\n') {
                    out.push('\n');
                }
            }
        }
    }
}

fn scalar(v: &Value, indent: usize) -> String {
    match v {
        Value::Str(s) => scalar_str(s, false, indent),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            if f.is_nan() {
                ".nan".into()
            } else if f.is_infinite() {
                if *f > 0.0 {
                    ".inf".into()
                } else {
                    "-.inf".into()
                }
            } else {
                gitops_yaml::format_float(*f)
            }
        }
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Time(t) => t.clone(),
        Value::Bytes(b) => {
            use base64::Engine;
            format!(
                "!!binary {}",
                base64::engine::general_purpose::STANDARD.encode(b)
            )
        }
        Value::Comment(c) => scalar_str(&c.text, false, indent),
        Value::Map(_) | Value::Seq(_) => String::new(),
    }
}

/// A string scalar as go-yaml v3 writes it; `indent` is the indentation of block content.
fn scalar_str(s: &str, simple_key: bool, indent: usize) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    match gitops_yaml::scalar_style(s, simple_key, GoYaml::V3) {
        Style::Plain => out.push_str(s),
        Style::SingleQuoted => gitops_yaml::push_single_quoted(&mut out, s),
        Style::DoubleQuoted => gitops_yaml::push_double_quoted(&mut out, s),
        Style::Literal => gitops_yaml::push_literal(&mut out, s, INDENT, indent),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_go_yaml() {
        assert!(matches!(resolve("0123"), Value::Int(83)));
        assert!(matches!(resolve("0x1F"), Value::Int(31)));
        assert!(matches!(resolve("1_000"), Value::Int(1000)));
        assert!(matches!(resolve("1.5"), Value::Float(f) if f == 1.5));
        assert!(matches!(resolve("yes"), Value::Str(s) if s == "yes"));
        assert!(matches!(resolve("2024-01-01"), Value::Time(t) if t == "2024-01-01T00:00:00Z"));
        assert!(matches!(resolve("-"), Value::Str(_)));
        // No unsigned integers in the tree.
        let big = resolve("9_223_372_036_854_775_808");
        assert!(matches!(big, Value::Float(f) if f == 9223372036854775808.0));
        assert!(
            matches!(resolve("0xFFFFFFFFFFFFFFFF"), Value::Str(s) if s == "0xFFFFFFFFFFFFFFFF")
        );
    }

    #[test]
    fn trailing_comments_move_before_their_entry() {
        let branches = parse("a: 1 # one\nb: x #two\nl:\n    - x # three\n").unwrap();
        assert_eq!(
            emit(&branches, 0),
            "# one\na: 1\n#two\nb: x\nl:\n    # three\n    - x\n"
        );
    }

    #[test]
    fn keeps_head_and_foot_comments() {
        let text =
            "# top\na:\n    # head of b\n    b: 1\n    # foot of a\n# head of c\nc: x\n# end\n";
        let branches = parse(text).unwrap();
        assert_eq!(emit(&branches, 0), text);
    }
}
