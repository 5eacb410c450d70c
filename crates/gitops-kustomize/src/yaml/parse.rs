//! Reading multi-document YAML into JSON values, with bounded aliases and nesting.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle};
use serde_json::{Map, Value};

use super::resolve::resolve_plain;

/// Bounds that protect the renderer from hostile documents.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Deepest nesting of collections in one document.
    pub max_depth: usize,
    /// Most nodes one document may expand to, aliases included.
    pub max_nodes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 1000,
            max_nodes: 5_000_000,
        }
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
    },
    Map {
        map: Map<String, Value>,
        key: Option<String>,
        merges: Vec<Value>,
        anchor: usize,
        start_nodes: usize,
    },
}

/// Parses every document of `text`; an empty document is `Value::Null`. A key repeated in one
/// mapping is an error.
pub fn parse_documents(text: &str, limits: &Limits) -> Result<Vec<Value>, ParseError> {
    parse_documents_with(text, limits, false)
}

/// As [`parse_documents`]; with `last_key_wins`, a repeated key replaces the earlier one (how
/// kustomize reads kustomization files).
pub(crate) fn parse_documents_with(
    text: &str,
    limits: &Limits,
    last_key_wins: bool,
) -> Result<Vec<Value>, ParseError> {
    for (n, line) in text.lines().enumerate().filter(|_| text.contains("%YAML")) {
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
    let mut anchors: HashMap<usize, (Value, usize)> = HashMap::new();
    let mut root: Option<Value> = None;
    let mut nodes: usize = 0;
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
        let value: Value;
        let mut value_anchor = 0;
        let mut value_nodes = 1;
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => continue,
            Event::DocumentStart(_) => {
                root = None;
                anchors.clear();
                nodes = 0;
                continue;
            }
            Event::DocumentEnd => {
                docs.push(root.take().unwrap_or(Value::Null));
                continue;
            }
            Event::Alias(id) => {
                let (v, count) = anchors
                    .get(&id)
                    .ok_or_else(|| err("alias refers to an unknown anchor".into()))?;
                value_nodes = *count;
                nodes = nodes.saturating_add(*count);
                if nodes > limits.max_nodes {
                    return Err(err(format!(
                        "document expands to more than {} nodes through aliases",
                        limits.max_nodes
                    )));
                }
                value = v.clone();
            }
            Event::Scalar(text, style, anchor, tag) => {
                nodes += 1;
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
                value = if style == ScalarStyle::Plain && !core_str {
                    resolve_plain(&text).map_err(|m| err(m.to_owned()))?
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
                stack.push(Frame::Seq {
                    items: Vec::new(),
                    anchor,
                    start_nodes: nodes,
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
                stack.push(Frame::Map {
                    map: Map::new(),
                    key: None,
                    merges: Vec::new(),
                    anchor,
                    start_nodes: nodes,
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    items,
                    anchor,
                    start_nodes,
                }) => {
                    value = Value::Array(items);
                    value_anchor = anchor;
                    value_nodes = nodes - start_nodes + 1;
                }
                _ => return Err(err("unbalanced sequence".into())),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    mut map,
                    merges,
                    anchor,
                    start_nodes,
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
                }
                _ => return Err(err("unbalanced mapping".into())),
            },
        }
        if value_anchor != 0 {
            anchors.insert(value_anchor, (value.clone(), value_nodes));
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
    fn merges_keys() {
        let docs = parse_documents(
            "a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  y: 3\n",
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(docs[0]["b"], serde_json::json!({"x": 1, "y": 3}));
    }
}
