//! YAML: a parser that keeps comments where `sops` keeps them, and an emitter that writes what
//! `sops` (go-yaml v3, indentation 4) writes.

use std::collections::{HashMap, VecDeque};

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use zeroize::Zeroizing;

use crate::tree::{Entry, Key, Value, format_float_g};

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

struct Loader<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    lines: Vec<&'a str>,
    comments: VecDeque<CommentLine>,
    anchors: HashMap<usize, Value>,
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
                    self.anchors.insert(anchor, v.clone());
                }
                v
            }
            Event::MappingStart(anchor, _) => self.mapping(anchor)?,
            Event::SequenceStart(anchor, _) => self.sequence(anchor)?,
            Event::Alias(id) => self
                .anchors
                .get(&id)
                .cloned()
                .ok_or_else(|| err(&span, "unknown alias"))?,
            _ => return Err(err(&span, "unexpected YAML event")),
        })
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
                Value::Float(f) => format_float_g(f),
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
            self.anchors.insert(anchor, v.clone());
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
            self.anchors.insert(anchor, v.clone());
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

/// go-yaml v3's resolution of a plain scalar.
pub(crate) fn resolve(s: &str) -> Value {
    resolve_non_str(s).unwrap_or_else(|| Value::Str(s.to_string()))
}

/// The typed value of a plain scalar, or `None` for a string (without copying the string).
fn resolve_non_str(s: &str) -> Option<Value> {
    match resolve_inner(s) {
        Value::Str(_) => None,
        other => Some(other),
    }
}

fn resolve_inner(s: &str) -> Value {
    match s {
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = s.as_bytes()[0];
    match first {
        b'.' => {
            if let Ok(f) = parse_go_float(s) {
                return Value::Float(f);
            }
        }
        b'+' | b'-' | b'0'..=b'9' => {
            if let Some(t) = parse_timestamp(s) {
                return Value::Time(t);
            }
            let plain: std::borrow::Cow<'_, str> = if s.contains('_') {
                s.replace('_', "").into()
            } else {
                s.into()
            };
            if let Some(i) = parse_go_int(&plain) {
                return Value::Int(i);
            }
            if is_yaml_float(&plain) {
                if let Ok(f) = plain.parse::<f64>() {
                    return Value::Float(f);
                }
            }
        }
        _ => {}
    }
    // Strings resolve to themselves; callers that need the text copy it.
    Value::Str(String::new())
}

fn parse_go_float(s: &str) -> Result<f64, ()> {
    let ok = s
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-' | '_'));
    if !ok {
        return Err(());
    }
    s.replace('_', "").parse::<f64>().map_err(|_| ())
}

/// `strconv.ParseInt(s, 0, 64)` (base prefixes 0x, 0o, 0b, and a leading 0 for octal).
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) =
        if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, d)
        } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, d)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if mag <= i64::MAX as u64 + 1 {
            Some((mag as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(mag).ok()
    }
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let st = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - st
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// go-yaml v3's timestamp forms, returned as Go's `RFC3339Nano` text.
pub(crate) fn parse_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let num = |t: &str, max: usize| -> Option<u32> {
        if t.is_empty() || t.len() > max || !t.bytes().all(|c| c.is_ascii_digit()) {
            None
        } else {
            t.parse().ok()
        }
    };
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some((&s[i..i + 1], &s[i + 1..]))),
        None => (s, None),
    };
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?, 4)?, num(d.next()?, 2)?, num(d.next()?, 2)?);
    if d.next().is_some() || !(1..=12).contains(&m) || !(1..=31).contains(&day) {
        return None;
    }
    let date_out = format!("{y:04}-{m:02}-{day:02}");
    let Some((sep, rest)) = rest else {
        return Some(format!("{date_out}T00:00:00Z"));
    };
    let (time, zone) = if sep == " " {
        (rest, "Z".to_string())
    } else {
        let at = rest.find(['Z', '+', '-'])?;
        let zone = &rest[at..];
        let zone = if zone == "Z" {
            "Z".to_string()
        } else {
            let (h, mi) = zone[1..].split_once(':')?;
            let (h, mi) = (num(h, 2)?, num(mi, 2)?);
            if h == 0 && mi == 0 {
                "Z".to_string()
            } else {
                format!("{}{h:02}:{mi:02}", &zone[..1])
            }
        };
        (&rest[..at], zone)
    };
    let (hms, frac) = match time.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (time, None),
    };
    let mut t = hms.split(':');
    let (h, mi, sec) = (num(t.next()?, 2)?, num(t.next()?, 2)?, num(t.next()?, 2)?);
    if t.next().is_some() || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    let frac = match frac {
        Some(f) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()) => {
            let f = f.trim_end_matches('0');
            if f.is_empty() {
                String::new()
            } else {
                format!(".{f}")
            }
        }
        Some(_) => return None,
        None => String::new(),
    };
    Some(format!("{date_out}T{h:02}:{mi:02}:{sec:02}{frac}{zone}"))
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
                format_float_g(*f)
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

#[derive(PartialEq, Clone, Copy)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
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

fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !(b[0] == b'+' || b[0] == b'-' || b[0].is_ascii_digit()) || !s.contains(':')
    {
        return false;
    }
    // ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$
    let mut i = usize::from(b[0] == b'+' || b[0] == b'-');
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    i += 1;
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let st = i;
        while i < b.len() && b[i].is_ascii_digit() && i - st < 2 {
            i += 1;
        }
        let g = &b[st..i];
        let ok = match g.len() {
            1 => true,
            2 => g[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
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

fn is_printable(c: char) -> bool {
    matches!(c as u32, 0x0A | 0x20..=0x7E | 0xA0..=0xD7FF | 0xE000..=0xFFFD) && c != '\u{FEFF}'
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blank(c: Option<char>) -> bool {
    matches!(c, Some(' ' | '\t'))
}

struct Analysis {
    multiline: bool,
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
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
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let (mut line_breaks, mut special, mut tabs) = (false, false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_by_ws = true;
    let mut iter = value.chars().peekable();
    let mut i = 0usize;
    while let Some(c) = iter.next() {
        let next = iter.peek().copied();
        let last = next.is_none();
        let followed_by_ws = last || is_blank(next);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' if followed_by_ws => block_indicators = true,
                '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if c == '\t' {
            tabs = true;
        } else if !is_printable(c) {
            special = true;
        }
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
        } else if is_break(c) {
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
        preceded_by_ws = c == ' ' || c == '\t' || is_break(c);
        i += 1;
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
    if space_break || tabs || special {
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

/// A string scalar as go-yaml v3 writes it; `indent` is the indentation of block content.
fn scalar_str(s: &str, simple_key: bool, indent: usize) -> String {
    let can_plain = resolve_tag_is_str(s) && !(is_base60_float(s) || is_old_bool(s));
    let mut style = if s.contains('\n') {
        Style::Literal
    } else if can_plain {
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
    match style {
        Style::Plain => s.to_string(),
        Style::Single => format!("'{}'", s.replace('\'', "''")),
        Style::Double => double_quoted(s),
        Style::Literal => literal(s, indent),
    }
}

fn resolve_tag_is_str(s: &str) -> bool {
    resolve_non_str(s).is_none()
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if !is_printable(c) || c == '\u{FEFF}' || is_break(c) || c == '"' || c == '\\' {
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
                other => {
                    let v = other as u32;
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
    }
    out.push('"');
    out
}

fn literal(s: &str, indent: usize) -> String {
    let mut out = String::from("|");
    let first = s.chars().next();
    if first == Some(' ') || first.is_some_and(is_break) {
        out.push(char::from(b'0' + INDENT as u8));
    }
    let mut rev = s.chars().rev();
    let last = rev.next();
    if !last.is_some_and(is_break) {
        out.push('-');
    } else if s.chars().count() == 1 || rev.next().is_some_and(is_break) {
        out.push('+');
    }
    out.push('\n');
    let mut at_line_start = true;
    for c in s.chars() {
        if c == '\n' {
            out.push('\n');
            at_line_start = true;
        } else {
            if at_line_start {
                push_indent(&mut out, indent);
                at_line_start = false;
            }
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        scalar_str(v, false, 4)
    }

    #[test]
    fn scalar_styles_match_go_yaml() {
        assert_eq!(s("hunter2"), "hunter2");
        assert_eq!(s("y"), "\"y\"");
        assert_eq!(s(""), "\"\"");
        assert_eq!(s("0123"), "\"0123\"");
        assert_eq!(s("1.0"), "\"1.0\"");
        assert_eq!(s("null"), "\"null\"");
        assert_eq!(s("   leading"), "'   leading'");
        assert_eq!(s("trailing "), "'trailing '");
        assert_eq!(s("tab\there"), "\"tab\\there\"");
        assert_eq!(s("quote'single"), "quote'single");
        assert_eq!(s("#hash"), "'#hash'");
        assert_eq!(s("a #b"), "'a #b'");
        assert_eq!(s("x: y"), "'x: y'");
        assert_eq!(s("é ü"), "é ü");
        assert_eq!(s("\u{1}ctl"), "\"\\x01ctl\"");
        assert_eq!(s("multi\nline\n\n"), "|+\n    multi\n    line\n\n");
        assert_eq!(s(" multi\nline"), "|4-\n     multi\n    line");
        assert_eq!(
            s("line with trailing space \nx"),
            "\"line with trailing space \\nx\""
        );
        assert_eq!(s("2024-01-01"), "\"2024-01-01\"");
        assert_eq!(scalar_str("n", true, 0), "\"n\"");
    }

    #[test]
    fn resolves_like_go_yaml() {
        assert!(matches!(resolve("0123"), Value::Int(83)));
        assert!(matches!(resolve("0x1F"), Value::Int(31)));
        assert!(matches!(resolve("1_000"), Value::Int(1000)));
        assert!(matches!(resolve("1.5"), Value::Float(f) if f == 1.5));
        assert!(matches!(resolve("yes"), Value::Str(_)));
        assert!(matches!(resolve("2024-01-01"), Value::Time(t) if t == "2024-01-01T00:00:00Z"));
        assert!(matches!(resolve("-"), Value::Str(_)));
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
