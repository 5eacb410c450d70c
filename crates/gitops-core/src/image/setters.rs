//! Setters: rewrite the YAML fields marked for image automation, and nothing else.
//!
//! A marker is a line comment in Flux's format on the line of the field it sets:
//!
//! ```yaml
//! image: ghcr.io/acme/api:1.0.0 # {"$imagepolicy": "flux-system:api"}
//! newName: ghcr.io/acme/api # {"$imagepolicy": "flux-system:api:name"}
//! newTag: 1.0.0 # {"$imagepolicy": "flux-system:api:tag"}
//! ```
//!
//! `<namespace>:<policy>` sets the whole image reference, `…:tag` the tag only, `…:name` the
//! name only. Only the bytes of the marked scalar change: comments, quoting, indentation, key
//! order, blank lines, document separators and line endings stay as they are. A scalar keeps its
//! quoting style; a plain scalar whose new value would read as something other than a string
//! (`1.10` is a number in YAML) is written double-quoted, so the field stays a string.

use std::collections::BTreeMap;

use saphyr_parser::{Event, Parser, ScalarStyle};

/// Errors from applying setters to one file. They name the file and line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The file is not valid YAML.
    #[error("{path}:{line}: invalid YAML: {message}")]
    Yaml {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// A marker sits on a field whose value is a mapping or a sequence.
    #[error("{path}:{line}: marker {marker:?} is not on a scalar field")]
    NotScalar {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// The marker's policy reference.
        marker: String,
    },
    /// A marker's reference is not `<namespace>:<name>[:tag|:name]`.
    #[error("{path}:{line}: invalid marker {marker:?}: expected <namespace>:<policy>[:tag|:name]")]
    InvalidMarker {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// The marker text.
        marker: String,
    },
}

/// An image reference split into name, tag and digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry and repository (`ghcr.io/acme/api`, `localhost:5000/app`).
    pub name: String,
    /// The tag, if any.
    pub tag: Option<String>,
    /// The digest (`sha256:…`), if any.
    pub digest: Option<String>,
}

impl ImageRef {
    /// Splits `name[:tag][@digest]`; a `:` before the last `/` is a registry port, not a tag.
    pub fn parse(text: &str) -> Self {
        let (rest, digest) = match text.split_once('@') {
            Some((rest, digest)) => (rest, Some(digest.to_owned())),
            None => (text, None),
        };
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        match rest[slash..].rfind(':') {
            Some(colon) => Self {
                name: rest[..slash + colon].to_owned(),
                tag: Some(rest[slash + colon + 1..].to_owned()),
                digest,
            },
            None => Self {
                name: rest.to_owned(),
                tag: None,
                digest,
            },
        }
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Which part of the image a marker sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The whole reference.
    Image,
    /// The tag only.
    Tag,
    /// The name only.
    Name,
}

/// One field a setter changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The file, as named by the caller.
    pub file: String,
    /// 1-based line of the field.
    pub line: usize,
    /// The policy, `<namespace>:<name>`.
    pub policy: String,
    /// The part set.
    pub part: Part,
    /// The value before.
    pub old: String,
    /// The value after.
    pub new: String,
}

/// A marker whose policy the caller did not provide; its field is left untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unresolved {
    /// The file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// The policy named by the marker.
    pub policy: String,
}

/// The result of applying setters to one file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FileResult {
    /// The new text, `None` when nothing changed (the file need not be written).
    pub text: Option<String>,
    /// The fields changed.
    pub changes: Vec<Change>,
    /// Markers naming unknown policies.
    pub unresolved: Vec<Unresolved>,
}

/// A value node (not a mapping key): where it is and how it is written.
struct ValueNode {
    line: usize,
    /// Byte offset of the first character (quotes included).
    start: usize,
    /// Byte offset after the last character.
    end: usize,
    /// How deep in collections the node is.
    depth: usize,
    /// `None` for collections and aliases.
    style: Option<ScalarStyle>,
    value: String,
}

/// What applying policies to a tree did: the marked fields changed, the markers whose policy
/// was not given, and the files rewritten (relative to the tree).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeUpdate {
    /// Every field changed, in file then line order.
    pub changes: Vec<Change>,
    /// Markers naming policies that were not given; their fields are untouched.
    pub unresolved: Vec<Unresolved>,
    /// The files rewritten, relative to the tree.
    pub files: Vec<String>,
}

/// The file work of image automation, which a host plugs in (gitops-local's `DirectoryTree`
/// walks and rewrites a checked-out directory): [`apply`] over every YAML file of `path`
/// inside `root`, so a Git backend commits what it wrote without walking files itself.
/// Blocking: call it from blocking code.
pub trait TreeUpdater: Send + Sync + std::fmt::Debug {
    /// Applies `policies` (`<namespace>:<name>` → image reference) below `path`, which must
    /// stay inside `root` (symlinks resolved); nothing is written when any file fails.
    ///
    /// # Errors
    /// The implementation's, boxed: a file that cannot be read or written, a path leaving
    /// `root`, a marker that cannot be applied.
    fn update_within(
        &self,
        root: &std::path::Path,
        path: &std::path::Path,
        policies: &BTreeMap<String, String>,
    ) -> Result<TreeUpdate, crate::BoxError>;
}

/// Applies the `policies` (`<namespace>:<name>` → latest image reference) to one file's text.
///
/// Files without markers cost one substring search and are never parsed. Memory stays a small
/// constant factor of the file: the text, the new text when something changed, and the nodes on
/// marker lines (the parser's events are looked at one by one, not kept).
pub fn apply(
    path: &str,
    text: &str,
    policies: &BTreeMap<String, String>,
) -> Result<FileResult, Error> {
    if !text.contains("$imagepolicy") {
        return Ok(FileResult::default());
    }
    let markers = find_markers(text);
    if markers.is_empty() {
        return Ok(FileResult::default());
    }
    let values = value_nodes(path, text, &markers)?;

    let mut result = FileResult::default();
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for marker in markers {
        // A marker inside a quoted scalar is text, not a comment.
        if values
            .iter()
            .any(|v| v.start < marker.offset && marker.offset < v.end)
        {
            continue;
        }
        let (policy, part) =
            parse_reference(&marker.reference).ok_or_else(|| Error::InvalidMarker {
                path: path.to_owned(),
                line: marker.line,
                marker: marker.reference.clone(),
            })?;
        // The marked field is the outermost value on the marker's line: for `image: {a: b}`
        // that is the flow mapping, not `b`.
        let node = values
            .iter()
            .filter(|v| v.line == marker.line && v.end <= marker.offset)
            .min_by_key(|v| v.depth)
            .filter(|v| v.style.is_some())
            .ok_or_else(|| Error::NotScalar {
                path: path.to_owned(),
                line: marker.line,
                marker: marker.reference.clone(),
            })?;
        let Some(latest) = policies.get(&policy) else {
            result.unresolved.push(Unresolved {
                file: path.to_owned(),
                line: marker.line,
                policy,
            });
            continue;
        };
        let latest = ImageRef::parse(latest);
        let new = match part {
            Part::Image => latest.to_string(),
            Part::Name => latest.name.clone(),
            Part::Tag => match latest.tag.clone() {
                Some(tag) => tag,
                None => continue,
            },
        };
        if new == node.value {
            continue;
        }
        let style = node.style.unwrap_or(ScalarStyle::Plain);
        edits.push((node.start, node.end, render_scalar(&new, style)));
        result.changes.push(Change {
            file: path.to_owned(),
            line: marker.line,
            policy,
            part,
            old: node.value.clone(),
            new,
        });
    }
    if !edits.is_empty() {
        let mut out = String::with_capacity(text.len() + 16);
        let mut at = 0;
        edits.sort_by_key(|e| e.0);
        for (start, end, replacement) in edits {
            out.push_str(&text[at..start]);
            out.push_str(&replacement);
            at = end;
        }
        out.push_str(&text[at..]);
        result.text = Some(out);
    }
    Ok(result)
}

fn parse_reference(reference: &str) -> Option<(String, Part)> {
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
    };
    let parts: Vec<&str> = reference.split(':').collect();
    let (ns, name, part) = match parts.as_slice() {
        [ns, name] => (*ns, *name, Part::Image),
        [ns, name, "tag"] => (*ns, *name, Part::Tag),
        [ns, name, "name"] => (*ns, *name, Part::Name),
        _ => return None,
    };
    (valid(ns) && valid(name)).then(|| (format!("{ns}:{name}"), part))
}

struct Marker {
    line: usize,
    /// Byte offset of the `#`.
    offset: usize,
    reference: String,
}

/// Finds `# {"$imagepolicy": "…"}` comments, with their line and byte offset.
fn find_markers(text: &str) -> Vec<Marker> {
    let mut markers = Vec::new();
    let mut bytes_before = 0;
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        let mut search = 0;
        while let Some(found) = line[search..].find('#') {
            let hash = search + found;
            search = hash + 1;
            let starts_comment = hash == 0 || line[..hash].ends_with([' ', '\t']);
            let body = line[hash + 1..].trim();
            if !starts_comment || !body.starts_with('{') {
                continue;
            }
            let Ok(serde_json::Value::Object(map)) =
                serde_json::from_str::<serde_json::Value>(body)
            else {
                continue;
            };
            if let Some(reference) = map.get("$imagepolicy").and_then(serde_json::Value::as_str) {
                markers.push(Marker {
                    line: line_no + 1,
                    offset: bytes_before + hash,
                    reference: reference.to_owned(),
                });
                break;
            }
        }
        bytes_before += line.len();
    }
    markers
}

/// Turns the parser's character indexes into byte offsets without a table per character: a
/// cursor that walks forward from the last position asked for (the parser's spans mostly move
/// forward), and back to the start of the text only when asked for an earlier one.
struct CharOffsets<'t> {
    text: &'t str,
    ascii: bool,
    /// The last position found: (character index, byte offset).
    at: std::cell::Cell<(usize, usize)>,
}

impl<'t> CharOffsets<'t> {
    fn new(text: &'t str) -> Self {
        Self {
            text,
            ascii: text.is_ascii(),
            at: std::cell::Cell::new((0, 0)),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        if self.ascii {
            return char_index.min(self.text.len());
        }
        let (mut chars, mut bytes) = self.at.get();
        if char_index < chars {
            (chars, bytes) = (0, 0);
        }
        let found = self.text[bytes..]
            .char_indices()
            .nth(char_index - chars)
            .map_or(self.text.len(), |(i, _)| bytes + i);
        if found < self.text.len() {
            self.at.set((char_index, found));
        }
        found
    }
}

/// Lists the value nodes (not mapping keys) that matter to the markers: those on a marker's line
/// and those whose span holds a marker (a quoted scalar running over several lines).
fn value_nodes(path: &str, text: &str, markers: &[Marker]) -> Result<Vec<ValueNode>, Error> {
    enum Frame {
        Mapping { expecting_key: bool },
        Sequence,
    }
    let mut frames: Vec<Frame> = Vec::new();
    let mut nodes = Vec::new();
    let offsets = CharOffsets::new(text);
    // Markers are in text order, and so are the nodes: a cursor finds the next marker at or
    // after a node's start.
    let mut next_marker = 0;
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| Error::Yaml {
            path: path.to_owned(),
            line: e.marker().line(),
            message: e.info().to_owned(),
        })?;
        let (style, value, opens) = match event {
            Event::Scalar(value, style, _, _) => (Some(style), Some(value), None),
            Event::Alias(_) => (None, None, None),
            Event::MappingStart(..) => (
                None,
                None,
                Some(Frame::Mapping {
                    expecting_key: true,
                }),
            ),
            Event::SequenceStart(..) => (None, None, Some(Frame::Sequence)),
            Event::MappingEnd | Event::SequenceEnd => {
                frames.pop();
                continue;
            }
            _ => continue,
        };
        // Inside a mapping, keys and values alternate; a sequence holds only values.
        let is_key = match frames.last_mut() {
            Some(Frame::Mapping { expecting_key }) => {
                std::mem::replace(expecting_key, !*expecting_key)
            }
            Some(Frame::Sequence) | None => false,
        };
        // A block collection starts on the line after its key, with an empty span: it is not
        // on the key's line.
        let block_collection = style.is_none() && span.start.index() == span.end.index();
        if !is_key && !block_collection {
            let line = span.start.line();
            // The span starts at the node's anchor or tag, if any; the value comes after them.
            let start = skip_properties(text, offsets.byte(span.start.index()));
            let end = match style {
                // The parser's span of a quoted scalar can run on over a trailing comment.
                Some(ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted) => {
                    quoted_end(text, start)
                }
                _ => offsets.byte(span.end.index()),
            };
            while markers
                .get(next_marker)
                .is_some_and(|m| m.offset < start && m.line < line)
            {
                next_marker += 1;
            }
            let relevant = markers[next_marker..]
                .iter()
                .take_while(|m| m.offset < end || m.line == line)
                .any(|m| m.line == line || (start < m.offset && m.offset < end));
            if relevant {
                nodes.push(ValueNode {
                    line,
                    start,
                    end,
                    depth: frames.len(),
                    style,
                    value: value.map(|v| v.into_owned()).unwrap_or_default(),
                });
            }
        }
        frames.extend(opens);
    }
    Ok(nodes)
}

/// Skips `&anchor` and `!tag` properties (and the blanks after them) at byte `start`.
fn skip_properties(text: &str, mut start: usize) -> usize {
    let bytes = text.as_bytes();
    while matches!(bytes.get(start), Some(b'&' | b'!')) {
        // Properties end at a blank; multi-byte characters inside them are skipped whole.
        while let Some(c) = text.get(start..).and_then(|t| t.chars().next()) {
            if c.is_whitespace() {
                break;
            }
            start += c.len_utf8();
        }
        while matches!(bytes.get(start), Some(b' ' | b'\t')) {
            start += 1;
        }
    }
    start
}

/// The byte offset after the closing quote of the quoted scalar starting at byte `start`.
fn quoted_end(text: &str, start: usize) -> usize {
    // Quotes and backslashes are ASCII, and UTF-8 never uses ASCII bytes inside a multi-byte
    // character, so the bytes can be scanned directly.
    let bytes = text.as_bytes();
    let Some(&quote) = bytes.get(start) else {
        return text.len();
    };
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    text.len()
}

fn render_scalar(value: &str, style: ScalarStyle) -> String {
    match style {
        ScalarStyle::SingleQuoted => format!("'{}'", value.replace('\'', "''")),
        ScalarStyle::Plain if plain_is_string(value) => value.to_owned(),
        _ => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
    }
}

/// Whether `value` written plain reads back as the same string.
fn plain_is_string(value: &str) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    let special_start = "-?:,[]{}#&*!|>'\"%@`".contains(first);
    let looks_typed = matches!(
        value,
        "true"
            | "false"
            | "True"
            | "False"
            | "TRUE"
            | "FALSE"
            | "null"
            | "Null"
            | "NULL"
            | "~"
            | "yes"
            | "no"
            | "on"
            | "off"
    ) || value.parse::<f64>().is_ok()
        || value.starts_with("0x")
        || value.starts_with("0o");
    !special_start
        && !looks_typed
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.ends_with(':')
        && value.trim() == value
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policies() -> BTreeMap<String, String> {
        [
            ("flux-system:api", "ghcr.io/acme/api:1.2.0"),
            ("flux-system:num", "registry:5000/acme/num:1.10"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn rewrites_only_the_marked_scalar() {
        let text = "# top comment\r\nspec:\r\n  containers:\r\n    - name: api   # keep me\r\n      image: \"ghcr.io/acme/api:1.0.0\"   # {\"$imagepolicy\": \"flux-system:api\"}\r\n\r\n---\r\nimages:\r\n- name: api\r\n  newName: 'ghcr.io/acme/api' # {\"$imagepolicy\": \"flux-system:api:name\"}\r\n  newTag: 1.0.0 # {\"$imagepolicy\":\"flux-system:api:tag\"}\r\n";
        let result = apply("deploy.yaml", text, &policies()).unwrap();
        let expected = text
            .replace("api:1.0.0\"", "api:1.2.0\"")
            .replace("newTag: 1.0.0", "newTag: 1.2.0");
        assert_eq!(result.text.as_deref(), Some(expected.as_str()));
        let lines: Vec<(usize, Part)> = result.changes.iter().map(|c| (c.line, c.part)).collect();
        assert_eq!(
            lines,
            [(5, Part::Image), (11, Part::Tag)],
            "the name was already right"
        );
        assert_eq!(result.changes[0].old, "ghcr.io/acme/api:1.0.0");
    }

    #[test]
    fn quoting_keeps_the_value_a_string() {
        let text = "a: 1.9 # {\"$imagepolicy\": \"flux-system:num:tag\"}\nb: 'x' # {\"$imagepolicy\": \"flux-system:num:tag\"}\n";
        let out = apply("f.yaml", text, &policies()).unwrap().text.unwrap();
        assert_eq!(
            out,
            "a: \"1.10\" # {\"$imagepolicy\": \"flux-system:num:tag\"}\nb: '1.10' # {\"$imagepolicy\": \"flux-system:num:tag\"}\n"
        );
    }

    #[test]
    fn unknown_policies_are_reported_and_untouched() {
        let text = "image: a:1 # {\"$imagepolicy\": \"other:policy\"}\n";
        let result = apply("f.yaml", text, &policies()).unwrap();
        assert!(result.text.is_none());
        assert_eq!(
            result.unresolved,
            [Unresolved {
                file: "f.yaml".into(),
                line: 1,
                policy: "other:policy".into()
            }]
        );
    }

    #[test]
    fn markers_on_collections_and_bad_markers_are_errors() {
        let text = "containers: # {\"$imagepolicy\": \"flux-system:api\"}\n  - a\n";
        assert!(matches!(
            apply("f.yaml", text, &policies()),
            Err(Error::NotScalar { line: 1, .. })
        ));
        let text = "image: {a: b} # {\"$imagepolicy\": \"flux-system:api\"}\n";
        assert!(matches!(
            apply("f.yaml", text, &policies()),
            Err(Error::NotScalar { .. })
        ));
        let text = "image: a # {\"$imagepolicy\": \"no-namespace\"}\n";
        assert!(matches!(
            apply("f.yaml", text, &policies()),
            Err(Error::InvalidMarker { .. })
        ));
        assert!(matches!(
            apply("f.yaml", "a: [\n# {\"$imagepolicy\": \"a:b\"}", &policies()),
            Err(Error::Yaml { .. })
        ));
    }

    #[test]
    fn text_that_only_looks_like_a_marker_is_ignored() {
        let text = "note: \"see # {\\\"$imagepolicy\\\": \\\"flux-system:api\\\"}\"\nurl: http://x#{\"$imagepolicy\": \"flux-system:api\"}\n";
        assert_eq!(
            apply("f.yaml", text, &policies()).unwrap(),
            FileResult::default()
        );
    }

    #[test]
    fn flow_values_anchors_and_multibyte_text() {
        let text = "x: &a é # ünïcode\nc: {image: ghcr.io/acme/api:0.1} # {\"$imagepolicy\": \"flux-system:api\"}\nd: *a\n";
        assert!(matches!(
            apply("f.yaml", text, &policies()),
            Err(Error::NotScalar { .. })
        ));
        let text = "x: é # ünïcode\nimage: ghcr.io/acme/api:0.1 # {\"$imagepolicy\": \"flux-system:api\"}\n";
        let out = apply("f.yaml", text, &policies()).unwrap().text.unwrap();
        assert_eq!(out, text.replace("0.1 #", "1.2.0 #"));
    }

    #[test]
    fn image_references_split_at_the_right_colon() {
        let r = ImageRef::parse("localhost:5000/team/app:1.0@sha256:abc");
        assert_eq!(
            (r.name.as_str(), r.tag.as_deref(), r.digest.as_deref()),
            ("localhost:5000/team/app", Some("1.0"), Some("sha256:abc"))
        );
        assert_eq!(ImageRef::parse("localhost:5000/app").tag, None);
        assert_eq!(ImageRef::parse("nginx").to_string(), "nginx");
    }
}
