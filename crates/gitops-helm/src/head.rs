//! What Helm reads of a rendered document before printing it: its `kind` and its
//! `metadata.annotations."helm.sh/hook"`, and whether it is YAML at all.
//!
//! [`parse`] decodes the whole document, as Helm does. That was a fifth of the instructions
//! of rendering kube-prometheus-stack (saphyr's scanner building every scalar of 600 KB of
//! rules and dashboards, only for two fields to be read), so [`scan`] comes first: it reads
//! documents in the block style templates write, a line at a time, checking the structure
//! (indentation, keys, quoted and plain scalars, one-line flow collections, block scalars) as
//! it goes. Whatever it is not sure the full parser reads the same way it declines: tabs and
//! control characters, anchors, aliases, tags, scalars over several lines (but for block
//! scalars), flow collections over several lines, keys not written on one line, a value on
//! the line after its key, `?` keys, directives and document markers. The caller then parses
//! the document fully, so a declined document costs what every document cost before and any
//! error is the full parser's.
//!
//! The scan must never accept a document the full parse refuses or reads differently:
//! `tests/fuzz.rs` (`fuzz_manifest_head`) checks it on generated documents, and the seed
//! charts' outputs are compared with `helm template` byte for byte.

use crate::yaml::{self, Node, YamlError};

/// The fields of a document Helm sorts and sorts out hooks by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Head {
    /// The top-level `kind` when it is a string, else empty.
    pub kind: String,
    /// `metadata.annotations."helm.sh/hook"` when it is a string.
    pub hook: Option<String>,
}

/// The head of `doc`, from a full YAML parse (the first document of `doc`).
///
/// # Errors
/// As [`yaml::parse`]: a syntax error, an unknown alias, a document too large or too deep.
pub fn parse(doc: &str) -> Result<Head, YamlError> {
    let Node::Map(entries) = yaml::parse_one(doc)? else {
        return Ok(Head::default());
    };
    fn get<'n>(entries: &'n [(String, Node)], key: &str) -> Option<&'n Node> {
        entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    let kind = match get(&entries, "kind") {
        Some(Node::Str(s)) => s.clone(),
        _ => String::new(),
    };
    let hook = match get(&entries, "metadata") {
        Some(Node::Map(metadata)) => match get(metadata, "annotations") {
            Some(Node::Map(annotations)) => match get(annotations, "helm.sh/hook") {
                Some(Node::Str(s)) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    Ok(Head { kind, hook })
}

/// The head of `doc` read without a full parse, or `None` when the document is not written
/// in the subset of YAML this reads (then [`parse`] decides, errors included).
pub fn scan(doc: &str) -> Option<Head> {
    if !plain_text(doc) {
        return None;
    }
    let mut scan = Scan::default();
    // Lines found with the memchr crate's search (faster than the standard library's).
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', doc.as_bytes()).chain([doc.len()]) {
        scan.line(&doc[start..end])?;
        start = end + 1;
    }
    // A quoted scalar left open is the full parse's error to report.
    scan.quoted.is_none().then_some(scan.head)
}

/// Deeper than this (block levels and flow brackets) is left to the full parse, whose limit
/// is [`yaml::MAX_DEPTH`].
const MAX_LEVELS: usize = 64;
/// Longer keys are left to the full parse (YAML's implicit keys end within 1024 characters).
pub(crate) const MAX_KEY: usize = 1000;

/// No control characters but line breaks, no tab (where a tab may stand is intricate), no
/// byte order mark, no C1 control or Unicode line or paragraph separator, no non-character.
pub(crate) fn plain_text(doc: &str) -> bool {
    // Whole chunks folded without an early exit, which the compiler vectorises.
    let control = |chunk: &[u8]| {
        chunk.iter().fold(false, |any, &b| {
            any | (b < b' ' && b != b'\n') | (b == 0x7f)
        })
    };
    if doc.as_bytes().chunks(64).any(control) {
        return false;
    }
    doc.is_ascii()
        || !doc.chars().any(|c| {
            matches!(
                c,
                '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}'
            ) || matches!(c as u32 & 0xfffe, 0xfffe)
        })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Block {
    Map,
    Seq,
}

/// Which of the mappings on the way to the hook annotation a level is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Root,
    Metadata,
    Annotations,
    Other,
}

#[derive(Clone, Copy)]
struct Level {
    indent: usize,
    block: Block,
    role: Role,
}

/// What a key's value feeds in the head.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    None,
    Kind,
    Hook,
    /// `metadata` or `annotations`: a mapping written in flow style would hide the hook.
    OnTheWay,
}

#[derive(Default)]
struct Scan {
    /// The open block collections, outermost first.
    levels: Vec<Level>,
    /// After `key:` with nothing else on its line: the key's column, the role a mapping
    /// below it takes and what its value feeds.
    pending: Option<(usize, Role, Field)>,
    /// Inside a block scalar: the indentation of the collection holding it (its content is
    /// indented further) and the content's indentation once its first line is seen.
    block_scalar: Option<(usize, Option<usize>)>,
    /// Inside a quoted scalar going on over lines: its quote and the indentation of the
    /// collection holding it (its lines are indented further).
    quoted: Option<(u8, usize)>,
    head: Head,
}

pub(crate) fn is_dash(rest: &str) -> bool {
    rest == "-" || rest.starts_with("- ")
}

impl Scan {
    fn line(&mut self, line: &str) -> Option<()> {
        let indent = line.bytes().take_while(|&b| b == b' ').count();
        let rest = &line[indent..];
        if let Some((parent, content)) = self.block_scalar {
            if rest.is_empty() {
                // A blank line before the content may not be indented past it; leave any
                // indented one to the full parse.
                return (content.is_some() || indent == 0).then_some(());
            }
            match content {
                Some(c) if indent >= c => return Some(()),
                None if indent > parent => {
                    self.block_scalar = Some((parent, Some(indent)));
                    return Some(());
                }
                _ => self.block_scalar = None,
            }
        }
        if let Some((quote, parent)) = self.quoted {
            if rest.is_empty() {
                return Some(());
            }
            if indent <= parent {
                return None;
            }
            if let Some(end) = quoted_end(rest.as_bytes(), 0, quote)? {
                self.quoted = None;
                return comment_or_nothing(&rest[end..]).then_some(());
            }
            return Some(());
        }
        if rest.is_empty() || rest.starts_with('#') {
            return Some(());
        }
        if indent == 0 && (rest.starts_with("---") || rest.starts_with("...")) {
            return None;
        }
        let dash = is_dash(rest);
        if let Some((key_indent, role, field)) = self.pending.take()
            && (indent > key_indent || (indent == key_indent && dash))
        {
            if dash || key(rest).is_some() {
                return self.open(indent, dash, role, rest);
            }
            // A value on the line below its key (`annotations:` then `{}`); a block scalar
            // there is left to the full parse.
            if rest.starts_with(['|', '>']) {
                return None;
            }
            return self.value(rest, key_indent, field);
        }
        if self.levels.is_empty() {
            // The first line: the document is a mapping (anything else is left to the parse).
            return if dash || indent != 0 {
                None
            } else {
                self.open(0, false, Role::Root, rest)
            };
        }
        while self.levels.last().is_some_and(|l| l.indent > indent) {
            self.levels.pop();
        }
        // A sequence written at its key's indentation ends at the next key.
        if !dash
            && self
                .levels
                .last()
                .is_some_and(|l| l.indent == indent && l.block == Block::Seq)
            && self.levels.len() > 1
        {
            self.levels.pop();
        }
        let top = *self.levels.last()?;
        if top.indent != indent || (top.block == Block::Seq) != dash {
            return None;
        }
        self.entry(indent, rest)
    }

    /// Opens a collection at `indent` whose first entry is `rest`.
    fn open(&mut self, indent: usize, dash: bool, role: Role, rest: &str) -> Option<()> {
        if self.levels.len() >= MAX_LEVELS {
            return None;
        }
        let (block, role) = if dash {
            (Block::Seq, Role::Other)
        } else {
            (Block::Map, role)
        };
        self.levels.push(Level {
            indent,
            block,
            role,
        });
        self.entry(indent, rest)
    }

    /// An entry of the innermost collection, starting at column `col`.
    fn entry(&mut self, col: usize, rest: &str) -> Option<()> {
        let top = *self.levels.last()?;
        if top.block == Block::Seq {
            // `- ` then the item: a scalar, a nested sequence or a mapping's first entry.
            let after = rest.strip_prefix("- ")?;
            let skip = after.bytes().take_while(|&b| b == b' ').count();
            let item = &after[skip..];
            let item_col = col + 2 + skip;
            if item.is_empty() || item.starts_with('#') {
                return None;
            }
            if is_dash(item) {
                return self.open(item_col, true, Role::Other, item);
            }
            if key(item).is_some() {
                return self.open(item_col, false, Role::Other, item);
            }
            return self.value(item, col, Field::None);
        }
        let (key, after) = key(rest)?;
        let (field, below) = match (top.role, key) {
            (Role::Root, "kind") => (Field::Kind, Role::Other),
            (Role::Root, "metadata") => (Field::OnTheWay, Role::Metadata),
            (Role::Metadata, "annotations") => (Field::OnTheWay, Role::Annotations),
            (Role::Annotations, "helm.sh/hook") => (Field::Hook, Role::Other),
            _ => (Field::None, Role::Other),
        };
        // A repeated key replaces its value: what an earlier one set is forgotten.
        match field {
            Field::Kind => self.head.kind.clear(),
            Field::Hook | Field::OnTheWay => self.head.hook = None,
            Field::None => {}
        }
        let value = after.trim_start_matches(' ');
        if value.is_empty() || (value.starts_with('#') && value.len() < after.len()) {
            self.pending = Some((col, below, field));
            return Some(());
        }
        self.value(value, col, field)
    }

    /// A value written on its key's (or dash's) line, in a collection at column `parent`.
    fn value(&mut self, text: &str, parent: usize, field: Field) -> Option<()> {
        let bytes = text.as_bytes();
        let end = match bytes[0] {
            b'|' | b'>' => {
                if !matches!(text[1..].trim_end_matches(' '), "" | "-" | "+")
                    || field != Field::None
                {
                    return None;
                }
                self.block_scalar = Some((parent, None));
                return Some(());
            }
            b'"' | b'\'' => match quoted_end(bytes, 1, bytes[0])? {
                Some(end) => end,
                // A quoted scalar going on over the next lines (a few chart rules'
                // descriptions); the two fields read are left to the full parse.
                None if field == Field::None => {
                    self.quoted = Some((bytes[0], parent));
                    return Some(());
                }
                None => return None,
            },
            b'[' | b'{' => {
                let end = flow(bytes, 0, 1)?;
                if field == Field::OnTheWay && end > 2 {
                    return None;
                }
                end
            }
            _ => {
                block_plain(text)?;
                text.len()
            }
        };
        if !comment_or_nothing(&text[end..]) {
            return None;
        }
        if matches!(field, Field::Kind | Field::Hook) {
            // Only these two are decoded; a double-quoted one with escapes is left to the
            // full parse.
            let string = match bytes[0] {
                b'"' if text[..end].contains('\\') => return None,
                b'"' => Some(text[1..end - 1].to_string()),
                b'\'' => Some(text[1..end - 1].replace("''", "'")),
                b'[' | b'{' => None,
                _ => match yaml::resolve_plain(block_plain(text)?) {
                    Node::Str(s) => Some(s),
                    _ => None,
                },
            };
            if field == Field::Kind {
                self.head.kind = string.unwrap_or_default();
            } else {
                self.head.hook = string;
            }
        }
        Some(())
    }
}

/// Whether what follows a value on its line is nothing or a comment.
pub(crate) fn comment_or_nothing(rest: &str) -> bool {
    let trimmed = rest.trim_start_matches(' ');
    trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < rest.len())
}

/// A key on one line followed by `:` and a space or the line's end: the key's text and what
/// follows the colon. Plain keys are names (`app.kubernetes.io/name`), quoted ones have no
/// escapes.
pub(crate) fn key(text: &str) -> Option<(&str, &str)> {
    let bytes = text.as_bytes();
    let end = match bytes.first()? {
        b'"' | b'\'' => {
            let quote = bytes[0];
            let close = 1 + bytes[1..].iter().position(|&b| b == quote)?;
            if bytes[1..close].contains(&b'\\') || bytes.get(close + 1) == Some(&quote) {
                return None;
            }
            close + 1
        }
        b if b.is_ascii_alphanumeric() || *b == b'_' => bytes
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'/')))
            .unwrap_or(bytes.len()),
        _ => return None,
    };
    if end > MAX_KEY || bytes.get(end) != Some(&b':') {
        return None;
    }
    let after = &text[end + 1..];
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    let key = match bytes[0] {
        b'"' | b'\'' => &text[1..end - 1],
        _ => &text[..end],
    };
    Some((key, after))
}

/// Whether a plain scalar may start with `bytes[0]`: YAML's indicators may not, but for
/// `-`, `?` and `:` before a character that is neither a space nor a flow indicator (`-1`,
/// `--port=80`, `:node_memory:sum`).
fn plain_start(bytes: &[u8]) -> bool {
    match bytes[0] {
        b'-' | b'?' | b':' => bytes
            .get(1)
            .is_some_and(|b| !matches!(b, b' ' | b',' | b'[' | b']' | b'{' | b'}')),
        b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|' | b'>' | b'\''
        | b'"' | b'%' | b'@' | b'`' | b' ' => false,
        _ => true,
    }
}

/// A plain scalar running to the end of its line in block context: its text without a
/// trailing comment and spaces. `None` when it holds `: ` (a mapping in the wrong place) or
/// ends with `:`.
pub(crate) fn block_plain(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    if !plain_start(bytes) {
        return None;
    }
    let mut end = bytes.len();
    for i in memchr::memchr2_iter(b':', b'#', bytes) {
        if bytes[i] == b'#' {
            if bytes[i - 1] == b' ' {
                end = i;
                break;
            }
        } else if bytes.get(i + 1).is_none_or(|&b| b == b' ') {
            return None;
        }
    }
    Some(text[..end].trim_end_matches(' '))
}

/// Where a quoted scalar (`quote` is `"` or `'`) closes on the line `bytes`, reading from
/// `from`: `Some(Some(end))` after its closing quote, `Some(None)` when it goes on to the
/// next line, `None` for a double-quoted escape left to the full parse (`\x`, `\u`, `\U`,
/// a line ending in `\`, anything YAML does not know).
fn quoted_end(bytes: &[u8], from: usize, quote: u8) -> Option<Option<usize>> {
    let mut i = from;
    while let Some(at) = memchr::memchr2(quote, b'\\', &bytes[i..]) {
        i += at;
        if bytes[i] == b'\\' {
            if quote == b'\'' {
                i += 1;
                continue;
            }
            let escaped = *bytes.get(i + 1)?;
            if !b"0abtnvfre \"/\\N_LP".contains(&escaped) {
                return None;
            }
            i += 2;
        } else if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
            i += 2;
        } else {
            return Some(Some(i + 1));
        }
    }
    Some(None)
}

/// The end of a quoted scalar starting at `bytes[0]` and closed on its line.
pub(crate) fn quoted(bytes: &[u8]) -> Option<usize> {
    quoted_end(bytes, 1, bytes[0])?
}

pub(crate) fn skip_spaces(bytes: &[u8], mut i: usize) -> usize {
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// The end of a flow collection (`[…]` or `{…}`) starting at `bytes[0]` and closed on its
/// line: entries are quoted or plain scalars or flow collections, a mapping's keys are
/// scalars followed by `: ` (or `:` right after a quoted key, as JSON writes it).
fn flow(bytes: &[u8], start: usize, depth: usize) -> Option<usize> {
    if depth > MAX_LEVELS {
        return None;
    }
    let (close, is_map) = match bytes[start] {
        b'[' => (b']', false),
        _ => (b'}', true),
    };
    let mut i = skip_spaces(bytes, start + 1);
    if bytes.get(i) == Some(&close) {
        return Some(i + 1);
    }
    loop {
        if is_map {
            i = match bytes.get(i)? {
                b'"' | b'\'' => {
                    let end = flow_node(bytes, i, depth)?;
                    if bytes.get(end) != Some(&b':') || end - i > MAX_KEY {
                        return None;
                    }
                    skip_spaces(bytes, end + 1)
                }
                _ => {
                    let end = flow_plain(bytes, i, true)?;
                    let colon = skip_spaces(bytes, end);
                    if colon != end
                        || bytes.get(end) != Some(&b':')
                        || bytes.get(end + 1) != Some(&b' ')
                        || end - i > MAX_KEY
                    {
                        return None;
                    }
                    skip_spaces(bytes, end + 1)
                }
            };
        }
        i = skip_spaces(bytes, flow_node(bytes, i, depth)?);
        match bytes.get(i)? {
            b',' => {
                i = skip_spaces(bytes, i + 1);
                if bytes.get(i) == Some(&close) {
                    return Some(i + 1);
                }
            }
            b if *b == close => return Some(i + 1),
            _ => return None,
        }
    }
}

/// The end of one scalar or collection inside a flow collection.
fn flow_node(bytes: &[u8], i: usize, depth: usize) -> Option<usize> {
    match bytes.get(i)? {
        b'[' | b'{' => flow(bytes, i, depth + 1),
        b'"' | b'\'' => quoted(&bytes[i..]).map(|end| i + end),
        _ => flow_plain(bytes, i, false),
    }
}

/// The end of a plain scalar inside a flow collection, trailing spaces excluded; `None` if
/// it holds a `#` (a comment may start) or a `:` (unless it is a key, which `:` ends).
pub(crate) fn flow_plain(bytes: &[u8], start: usize, key: bool) -> Option<usize> {
    if !plain_start(&bytes[start..]) {
        return None;
    }
    // The first character is part of it whatever it is (`:x` is a key).
    let mut end = start + 1;
    for (i, &b) in bytes.iter().enumerate().skip(start + 1) {
        match b {
            b',' | b'[' | b']' | b'{' | b'}' => break,
            b':' if key => break,
            b':' | b'#' => return None,
            b' ' => {}
            _ => end = i + 1,
        }
    }
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scan reads `doc` (and as the full parse does).
    fn reads(doc: &str) -> Head {
        let fast = scan(doc).unwrap_or_else(|| panic!("declined: {doc:?}"));
        assert_eq!(Ok(fast.clone()), parse(doc), "{doc:?}");
        fast
    }

    /// The scan leaves `doc` to the full parse.
    fn declines(doc: &str) {
        assert_eq!(scan(doc), None, "{doc:?}");
    }

    #[test]
    fn scan_reads_kind_and_hook_of_block_documents() {
        let head = reads(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: x\n  annotations:\n    \
             \"helm.sh/hook\": pre-install,post-upgrade # why\n    helm.sh/hook-weight: \"-5\"\n\
             spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        args: \
             [\"--x\", '--y', z]\n        env: {}\n      - name: b\n        command:\n        - \
             sh\n        - -c\n        - |\n          echo: done\n\n          # text\n  \
             backoffLimit: 0\n",
        );
        assert_eq!(head.kind, "Job");
        assert_eq!(head.hook.as_deref(), Some("pre-install,post-upgrade"));
        let head = reads("# c\nkind: 'Config''Map'\ndata:\n  a.json: |-\n    {\"a\": 1}\n");
        assert_eq!((head.kind.as_str(), head.hook), ("Config'Map", None));
        assert_eq!(reads("# only a comment\n"), Head::default());
    }

    #[test]
    fn scan_follows_yaml_on_what_is_a_string_and_repeated_keys() {
        assert_eq!(reads("kind: true\n").kind, "");
        assert_eq!(reads("kind: 1\n").kind, "");
        assert_eq!(reads("kind:\n").kind, "");
        assert_eq!(reads("kind:\n  Job\n").kind, "Job");
        assert_eq!(
            reads("metadata:\n  annotations:\n    {}\nspec: {}\n").hook,
            None
        );
        assert_eq!(reads("kind: [a]\n").kind, "");
        assert_eq!(reads("kind: A\nkind: B\n").kind, "B");
        let hooked = "metadata:\n  annotations:\n    helm.sh/hook: test\n";
        assert_eq!(reads(hooked).hook.as_deref(), Some("test"));
        assert_eq!(reads(&format!("{hooked}metadata:\n  name: x\n")).hook, None);
        assert_eq!(reads(&format!("{hooked}  annotations: {{}}\n")).hook, None);
        assert_eq!(
            reads("metadata:\n  annotations:\n    helm.sh/hook: ~\n").hook,
            None
        );
        assert_eq!(reads("spec:\n  helm.sh/hook: x\n").hook, None);
    }

    #[test]
    fn scan_declines_what_it_does_not_read() {
        for doc in [
            "a: 1\n  b: 2\n",
            "a: x\n  y\n",
            "a:\n  x\n  y\n",
            "a:\n  {}\n  b: 1\n",
            "a:\n  |\n   x\n",
            "a: b: c\n",
            "a: x:\n",
            "a: &x 1\n",
            "a: *x\n",
            "a: !!str 1\n",
            "a:\tb\n",
            "a: [x,\n  y]\n",
            "a: [x: y]\n",
            "a: \"\\u00e9\"\n",
            "? a\n: b\n",
            "- a\n",
            "a: 1\n- b\n",
            "kind: \"J\\u006fb\"\n",
            "a: |\n    x\n  y\n",
            "a: |\n  \n x\n",
            "a: |2\n   x\n",
            "a: - b\n",
            "metadata: {annotations: {helm.sh/hook: x}}\n",
            "kind: |\n  Job\n",
            "...\n",
            "a: 1\n b: 2\n",
            "a:\n  - x\n - y\n",
        ] {
            declines(doc);
        }
    }

    #[test]
    fn scan_reads_nested_and_compact_sequences() {
        reads("a:\n- x\n- - y\n  - z\n- k: v\n  l:\n  - m\nb: 1\n");
        reads("a:\n  - x: 1\n    y: [1, {b: c, \"d\":e}, []]\n  -   z: -1\n");
        reads("a: \"x # y\" # z\nb: 'it''s'\nc: http://x/#y\n");
        reads("a: \"x\n\n  # y\"\nb: 'it''s\n  z' # c\n");
    }
}
