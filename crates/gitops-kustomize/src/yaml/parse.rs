//! Reading multi-document YAML into JSON values, with bounded aliases and nesting.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Value};

use super::resolve::resolve_plain;

/// Bounds that protect the renderer from hostile documents.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Deepest nesting of collections in one document.
    pub max_depth: usize,
    /// Most nodes one document may expand to, aliases included.
    pub max_nodes: usize,
    /// What aliases may add to one build, all its files together (and so to one file, or one
    /// [`parse_documents`] call), in nodes plus bytes of text: each alias copies its anchor's
    /// value, so many small alias bombs in many documents or files would otherwise add up.
    pub max_alias_expansion: usize,
    /// What patches and replacements may add to one build, in nodes plus bytes of text: every
    /// value an operation writes counts in full, so a chain of JSON 6902 `copy` operations that
    /// doubles an object each time stops long before it exhausts memory.
    pub max_patch_growth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 1000,
            max_nodes: 5_000_000,
            max_alias_expansion: 4_000_000,
            max_patch_growth: 4_000_000,
        }
    }
}

impl Limits {
    /// Sets [`Limits::max_depth`].
    pub fn with_max_depth(mut self, n: usize) -> Self {
        self.max_depth = n;
        self
    }

    /// Sets [`Limits::max_nodes`].
    pub fn with_max_nodes(mut self, n: usize) -> Self {
        self.max_nodes = n;
        self
    }

    /// Sets [`Limits::max_alias_expansion`].
    pub fn with_max_alias_expansion(mut self, n: usize) -> Self {
        self.max_alias_expansion = n;
        self
    }

    /// Sets [`Limits::max_patch_growth`].
    pub fn with_max_patch_growth(mut self, n: usize) -> Self {
        self.max_patch_growth = n;
        self
    }
}

/// A document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} column {column}: {message}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

enum Frame {
    Seq {
        items: Vec<Value>,
        anchor: usize,
        start_nodes: usize,
        start_weight: usize,
    },
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        merges: Vec<Value>,
        anchor: usize,
        start_nodes: usize,
        start_weight: usize,
    },
}

/// Parses every document of `text`; an empty document is `Value::Null`. A key repeated in one
/// mapping is an error. Aliases may add [`Limits::max_alias_expansion`] to this text.
pub fn parse_documents(text: &str, limits: &Limits) -> Result<Vec<Value>, ParseError> {
    let mut expanded = 0;
    parse_documents_with(text, limits, false, false, None, &mut expanded)
}

/// Where a mapping value was written as nothing at all (`key:`), by document index and path
/// of keys and list indexes. kustomize's strategic merge drops such fields from the objects
/// it patches but keeps a null written as `null` or `~`; both read as `Value::Null`.
pub(crate) type EmptyNulls = Vec<(usize, Vec<String>)>;

fn frame_path(stack: &[Frame]) -> Vec<String> {
    stack
        .iter()
        .filter_map(|f| match f {
            Frame::Map { key, .. } => key.clone(),
            Frame::Seq { items, .. } => Some(items.len().to_string()),
        })
        .collect()
}

/// Whether the innermost frame is the `metadata.annotations` mapping of a resource (a
/// document, or an item of a `List` document) while one of its values is read.
fn in_resource_annotations(stack: &[Frame]) -> bool {
    let key_is = |f: &Frame, want: &str| matches!(f, Frame::Map { key: Some(k), .. } if k == want);
    let at_value = matches!(stack.last(), Some(Frame::Map { key: Some(_), .. }));
    at_value
        && match stack {
            [root, md, _] => key_is(root, "metadata") && key_is(md, "annotations"),
            [root, Frame::Seq { .. }, item, md, _] => {
                key_is(root, "items") && key_is(item, "metadata") && key_is(md, "annotations")
            }
            _ => false,
        }
}

/// As [`parse_documents`]; with `last_key_wins`, a repeated key replaces the earlier one (how
/// kustomize reads kustomization files). With `annotation_text`, the annotations of resources
/// are strings holding the value's text as written (`8080`, `true`, `~`), and a nested value
/// is the empty string: kustomize reads annotations as the text of their YAML nodes.
/// `expanded` carries what aliases added before this text (the rest of the build) and is
/// updated.
pub(crate) fn parse_documents_with(
    text: &str,
    limits: &Limits,
    last_key_wins: bool,
    annotation_text: bool,
    mut empty_nulls: Option<&mut EmptyNulls>,
    expanded: &mut usize,
) -> Result<Vec<Value>, ParseError> {
    let (before, nulls_before) = (*expanded, empty_nulls.as_ref().map_or(0, |n| n.len()));
    let first = parse_text(
        text,
        limits,
        last_key_wins,
        annotation_text,
        empty_nulls.as_deref_mut(),
        expanded,
    );
    match first {
        Err(e) if e.message == QUOTED_INDENT => {
            let Some(fixed) = reindent_quoted(text) else {
                return Err(e);
            };
            *expanded = before;
            if let Some(n) = empty_nulls.as_deref_mut() {
                n.truncate(nulls_before);
            }
            parse_text(
                &fixed,
                limits,
                last_key_wins,
                annotation_text,
                empty_nulls,
                expanded,
            )
            .map_err(|_| e)
        }
        other => other,
    }
}

/// The parser's message for a continuation line of a quoted scalar indented no deeper than
/// its key.
const QUOTED_INDENT: &str = "invalid indentation in quoted scalar";

/// go-yaml (and so kubectl) reads a multi-line quoted scalar whose continuation lines are
/// indented no deeper than its key (controller-gen and many CRD generators write
/// descriptions so); the parser here refuses them. Folding drops a continuation line's
/// leading spaces, so indenting such lines one column past the key changes no value. Returns
/// the text with every such line indented, or `None` when there was nothing to change; the
/// caller parses the result again, so a wrong guess here can only keep the original error.
fn reindent_quoted(text: &str) -> Option<String> {
    // Whether `s` holds the closing quote `q` (after the opening one).
    fn closes(s: &str, q: char) -> bool {
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' if q == '"' => {
                    chars.next();
                }
                '\'' if q == '\'' => {
                    if chars.clone().next() == Some('\'') {
                        chars.next();
                    } else {
                        return true;
                    }
                }
                c if c == q => return true,
                _ => {}
            }
        }
        false
    }
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut changed = false;
    let mut added = 0usize;
    // Inside a quoted scalar: its quote and the least column of its continuation lines.
    let mut open: Option<(char, usize)> = None;
    // Inside a block scalar whose key is at this column.
    let mut block: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches(['\n', '\r']);
        let indent = content.len() - content.trim_start_matches(' ').len();
        let blank = content.trim().is_empty();
        if let Some((q, min)) = open {
            if !blank && indent < min {
                // Bounded: a key far to the right over many lines must not multiply the text.
                added += min - indent;
                if added > text.len() {
                    return None;
                }
                out.extend(std::iter::repeat_n(' ', min - indent));
                changed = true;
            }
            out.push_str(line);
            if closes(content.trim_start(), q) {
                open = None;
            }
            continue;
        }
        out.push_str(line);
        if let Some(key) = block {
            if blank || indent > key {
                continue;
            }
            block = None;
        }
        let mut rest = &content[indent..];
        let mut key_col = indent;
        let mut item = false;
        while let Some(r) = rest.strip_prefix("- ") {
            rest = r.trim_start_matches(' ');
            key_col = content.len() - rest.len();
            item = true;
        }
        if rest.starts_with('#') || rest.is_empty() {
            continue;
        }
        let (value, min) = if item && (rest.starts_with('\'') || rest.starts_with('"')) {
            (rest, indent + 1)
        } else {
            let Some(at) = rest.find(": ") else {
                continue;
            };
            (rest[at + 1..].trim_start_matches(' '), key_col + 1)
        };
        match value.chars().next() {
            Some('|' | '>') => block = Some(key_col),
            Some(q @ ('\'' | '"')) if !closes(&value[1..], q) => open = Some((q, min)),
            _ => {}
        }
    }
    changed.then_some(out)
}

fn parse_text(
    text: &str,
    limits: &Limits,
    last_key_wins: bool,
    annotation_text: bool,
    mut empty_nulls: Option<&mut EmptyNulls>,
    expanded: &mut usize,
) -> Result<Vec<Value>, ParseError> {
    // One search of the whole text, then one pass over its lines only when it has a directive.
    let has_directive = text.contains("%YAML");
    for (n, line) in text.lines().enumerate().filter(|_| has_directive) {
        if let Some(version) = line.strip_prefix("%YAML")
            && version.trim() != "1.1"
        {
            return Err(ParseError {
                line: n + 1,
                column: 1,
                message: format!(
                    "incompatible YAML document (%YAML{version}; only 1.1 is accepted)"
                ),
            });
        }
    }
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    // Anchored values with their node count and weight (nodes plus bytes of text).
    let mut anchors: HashMap<usize, (Value, usize, usize)> = HashMap::new();
    let mut root: Option<Value> = None;
    let mut nodes: usize = 0;
    let mut weight: usize = 0;
    // Where the text ends without a line break, in characters (the parser's unit); a block
    // scalar ending there has no final line break to keep.
    let unterminated_end =
        (!text.is_empty() && !text.ends_with('\n')).then(|| text.chars().count());
    let mut null_budget = text.len();
    let parser = Parser::new_from_str(text);
    for event in parser {
        let (event, span) = event.map_err(|e| ParseError {
            line: e.marker().line(),
            column: e.marker().col() + 1,
            message: e.info().to_owned(),
        })?;
        let err = |message: String| ParseError {
            line: span.start.line(),
            column: span.start.col() + 1,
            message,
        };
        let mut value: Value;
        let mut value_anchor = 0;
        let mut value_nodes = 1;
        let value_weight: usize;
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                root = None;
                anchors.clear();
                nodes = 0;
                weight = 0;
                continue;
            }
            Event::DocumentEnd => {
                docs.push(root.take().unwrap_or(Value::Null));
                continue;
            }
            Event::Alias(id) => {
                let (v, count, w) = anchors
                    .get(&id)
                    .ok_or_else(|| err("alias refers to an unknown anchor".into()))?;
                value_nodes = *count;
                value_weight = *w;
                nodes = nodes.saturating_add(*count);
                weight = weight.saturating_add(*w);
                *expanded = expanded.saturating_add(*w);
                if nodes > limits.max_nodes {
                    return Err(err(format!(
                        "document expands to more than {} nodes through aliases",
                        limits.max_nodes
                    )));
                }
                if *expanded > limits.max_alias_expansion {
                    return Err(err(format!(
                        "aliases expand to more than {} nodes and bytes of text in this build",
                        limits.max_alias_expansion
                    )));
                }
                value = v.clone();
            }
            Event::Scalar(text, style, anchor, tag) => {
                nodes += 1;
                value_weight = 1 + text.len();
                weight = weight.saturating_add(value_weight);
                value_anchor = anchor;
                // A mapping key stays the text as written.
                if let Some(Frame::Map { key: None, .. }) = stack.last() {
                    let is_merge = style == ScalarStyle::Plain && text == "<<" && tag.is_none();
                    if style == ScalarStyle::Plain
                        && !is_merge
                        && tag.is_none()
                        && !matches!(resolve_plain(&text), Ok(Value::String(_)))
                    {
                        return Err(err(format!(
                            "mapping key {text:?} is not a string (quote it)"
                        )));
                    }
                    let key = if is_merge {
                        "\u{0}<<".to_owned()
                    } else {
                        text.into_owned()
                    };
                    if let Some(Frame::Map { key: slot, map, .. }) = stack.last_mut() {
                        if map.contains_key(&key) {
                            if !last_key_wins {
                                return Err(err(format!("mapping key {key:?} already defined")));
                            }
                            map.shift_remove(&key);
                        }
                        *slot = Some(key);
                    }
                    continue;
                }
                let core_str = tag
                    .as_ref()
                    .is_some_and(|t| t.is_yaml_core_schema() && t.suffix == "str");
                if let Some(found) = empty_nulls.as_deref_mut()
                    && null_budget > 0
                    && style == ScalarStyle::Plain
                    && text.is_empty()
                    && tag.is_none()
                    && matches!(stack.last(), Some(Frame::Map { key: Some(_), .. }))
                {
                    // Each path copies its ancestors' keys: bounded by the text's size, past
                    // which (only in contrived files) further empty fields are not recorded.
                    let cost: usize = stack
                        .iter()
                        .map(|f| match f {
                            Frame::Map { key, .. } => key.as_ref().map_or(0, |k| k.len() + 1),
                            Frame::Seq { .. } => 8,
                        })
                        .sum();
                    if cost <= null_budget {
                        null_budget -= cost;
                        found.push((docs.len(), frame_path(&stack)));
                    } else {
                        null_budget = 0;
                    }
                }
                value = if style == ScalarStyle::Plain
                    && annotation_text
                    && in_resource_annotations(&stack)
                {
                    Value::String(text.into_owned())
                } else if style == ScalarStyle::Plain && !core_str {
                    resolve_plain(&text).map_err(|m| err(m.to_owned()))?
                } else if matches!(style, ScalarStyle::Literal | ScalarStyle::Folded)
                    && unterminated_end.is_some_and(|end| span.end.index() >= end)
                    && text.ends_with('\n')
                {
                    // YAML's clip and keep chomping keep the final line break only when there
                    // is one: at the end of a file written without it, go-yaml (and so
                    // kustomize) reads `|` as `|-`. The parser adds it anyway.
                    let mut text = text.into_owned();
                    text.pop();
                    Value::String(text)
                } else {
                    Value::String(text.into_owned())
                };
            }
            Event::SequenceStart(anchor, _) => {
                nodes += 1;
                if stack.len() >= limits.max_depth {
                    return Err(err(format!(
                        "document nests deeper than {} levels",
                        limits.max_depth
                    )));
                }
                if let Some(Frame::Map { key: None, .. }) = stack.last() {
                    return Err(err("complex mapping keys are not supported".into()));
                }
                weight = weight.saturating_add(1);
                stack.push(Frame::Seq {
                    items: Vec::new(),
                    anchor,
                    start_nodes: nodes,
                    start_weight: weight,
                });
                continue;
            }
            Event::MappingStart(anchor, _) => {
                nodes += 1;
                if stack.len() >= limits.max_depth {
                    return Err(err(format!(
                        "document nests deeper than {} levels",
                        limits.max_depth
                    )));
                }
                if let Some(Frame::Map { key: None, .. }) = stack.last() {
                    return Err(err("complex mapping keys are not supported".into()));
                }
                weight = weight.saturating_add(1);
                stack.push(Frame::Map {
                    map: Map::new(),
                    key: None,
                    merges: Vec::new(),
                    anchor,
                    start_nodes: nodes,
                    start_weight: weight,
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    items,
                    anchor,
                    start_nodes,
                    start_weight,
                }) => {
                    value = Value::Array(items);
                    value_anchor = anchor;
                    value_nodes = nodes - start_nodes + 1;
                    value_weight = weight - start_weight + 1;
                }
                _ => return Err(err("unbalanced sequence".into())),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    mut map,
                    merges,
                    anchor,
                    start_nodes,
                    start_weight,
                    ..
                }) => {
                    for merge in merges {
                        let sources = match merge {
                            Value::Array(items) => items,
                            other => vec![other],
                        };
                        for source in sources {
                            match source {
                                Value::Object(m) => {
                                    for (k, v) in m {
                                        map.entry(k).or_insert(v);
                                    }
                                }
                                _ => {
                                    return Err(err(
                                        "map merge requires a mapping or a list of mappings".into(),
                                    ));
                                }
                            }
                        }
                    }
                    value = Value::Object(map);
                    value_anchor = anchor;
                    value_nodes = nodes - start_nodes + 1;
                    value_weight = weight - start_weight + 1;
                }
                _ => return Err(err("unbalanced mapping".into())),
            },
        }
        if value_anchor != 0 {
            anchors.insert(value_anchor, (value.clone(), value_nodes, value_weight));
        }
        if annotation_text
            && (value.is_object() || value.is_array())
            && in_resource_annotations(&stack)
        {
            value = Value::String(String::new());
        }
        match stack.last_mut() {
            None => root = Some(value),
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map {
                map, key, merges, ..
            }) => match key.take() {
                Some(k) if k == "\u{0}<<" => merges.push(value),
                Some(k) => {
                    map.insert(k, value);
                }
                None => return Err(err("complex mapping keys are not supported".into())),
            },
        }
    }
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_documents() {
        let docs = parse_documents(
            "a: 1\nb: [x, 'y']\n---\n---\nc: &a {d: e}\nf: *a\n",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0], serde_json::json!({"a": 1, "b": ["x", "y"]}));
        assert_eq!(docs[1], Value::Null);
        assert_eq!(
            docs[2],
            serde_json::json!({"c": {"d": "e"}, "f": {"d": "e"}})
        );
    }

    #[test]
    fn bounds_alias_bombs_and_depth() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            bomb.push_str(&format!(
                "{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
            prev = c;
        }
        let e = parse_documents(&bomb, &Limits::default()).unwrap_err();
        assert!(e.message.contains("aliases"), "{e}");
        let deep = format!("{}{}", "[".repeat(2000), "]".repeat(2000));
        let e = parse_documents(&deep, &Limits::default()).unwrap_err();
        assert!(
            e.message.contains("deeper") || e.message.contains("recursion"),
            "{e}"
        );
    }

    #[test]
    fn quoted_lines_at_the_key_column_are_read_and_bounded() {
        let docs = parse_documents(
            "a:\n  b: 'one\n  two'\n  c: \"x\n  y\"\n",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            docs[0],
            serde_json::json!({"a": {"b": "one two", "c": "x y"}})
        );
        // A key far to the right over many short lines would grow the text without bound if
        // every line were indented past it: the original error stays instead.
        let bomb = format!("{}k: 'x\n{}'\n", " ".repeat(50_000), "y\n".repeat(50_000));
        let e = parse_documents(&bomb, &Limits::default()).unwrap_err();
        assert!(e.message.contains("indentation"), "{e}");
    }

    #[test]
    fn empty_fields_are_recorded_within_the_text_size() {
        // 200 levels of flow mappings (the parser's nesting limit is near 250), then 100,000
        // empty fields: recording every path in full would copy 2 * 10^7 keys.
        let text = format!(
            "{}{{{}}}{}",
            "{a: ".repeat(200),
            (0..100_000).map(|i| format!("k{i}:, ")).collect::<String>(),
            "}".repeat(200)
        );
        let mut found = Vec::new();
        let mut expanded = 0;
        let started = std::time::Instant::now();
        let docs = parse_documents_with(
            &text,
            &Limits::default(),
            false,
            false,
            Some(&mut found),
            &mut expanded,
        )
        .unwrap();
        assert_eq!(docs.len(), 1);
        let recorded: usize = found.iter().map(|(_, p)| p.len()).sum();
        assert!(recorded <= text.len(), "{recorded} path segments");
        assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    }

    #[test]
    fn merges_keys() {
        let docs = parse_documents(
            "a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  y: 3\n",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(docs[0]["b"], serde_json::json!({"x": 1, "y": 3}));
    }
}
