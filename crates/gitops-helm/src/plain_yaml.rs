//! Values files read without the full YAML parser when they are written in the plain block
//! style charts use.
//!
//! kube-prometheus-stack's values files are 330 KB, four fifths of it comments; saphyr's
//! scanner reading them was an eighth of the instructions of rendering the chart. [`parse`]
//! reads the common subset a line at a time (comment lines skipped with one search for the
//! line's end): block mappings and sequences, one-line plain and quoted scalars, one-line flow
//! collections, literal block scalars (`|`, `|-`). It declines anything else — anchors,
//! aliases, tags, merge keys, folded or kept (`>`, `|+`) block scalars, `\x`, `\u` and `\U`
//! escapes, scalars over several lines, tabs, several documents — and the caller parses the
//! text with [`yaml::parse_one`], which also reports every error: a document this reads is one
//! the full parse reads the same way (`tests/fuzz.rs`, `fuzz_plain_values`, checks it).

use crate::head::{
    MAX_KEY, comment_or_nothing, flow_plain, is_dash, key, plain_text, quoted, skip_spaces,
};
use crate::yaml::{self, Node};

/// Deeper than this is left to the full parse.
const MAX_DEPTH: usize = 64;

/// The first document of `text` as [`yaml::parse_one`] reads it, or `None` when it is not
/// written in the subset read here.
pub fn parse(text: &str) -> Option<Node> {
    if !plain_text(text) {
        return None;
    }
    let mut lines = Vec::new();
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', text.as_bytes()).chain([text.len()]) {
        let line = &text[start..end];
        let indent = line.bytes().take_while(|&b| b == b' ').count();
        lines.push(Line {
            indent,
            rest: &line[indent..],
        });
        start = end + 1;
    }
    let mut reader = Reader {
        lines,
        at: 0,
        depth: 0,
    };
    reader.skip_blank();
    let Some(first) = reader.peek() else {
        return Some(Node::Null);
    };
    if first.indent != 0 || is_dash(first.rest) {
        return None;
    }
    let node = reader.map(0)?;
    // Anything left (a line less indented than the root cannot be) is not read here.
    reader.skip_blank();
    reader.peek().is_none().then_some(node)
}

#[derive(Clone, Copy)]
struct Line<'a> {
    /// Leading spaces (or, for an entry after `- `, its column).
    indent: usize,
    /// The line after them.
    rest: &'a str,
}

struct Reader<'a> {
    lines: Vec<Line<'a>>,
    at: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<Line<'a>> {
        self.lines.get(self.at).copied()
    }

    /// Skips blank and comment lines (outside block scalars, where they are nothing).
    fn skip_blank(&mut self) {
        while self
            .peek()
            .is_some_and(|l| l.rest.is_empty() || l.rest.starts_with('#'))
        {
            self.at += 1;
        }
    }

    /// The next line that is not blank or a comment, if it is not a document marker (left
    /// to the full parse).
    fn next_content(&mut self) -> Result<Option<Line<'a>>, ()> {
        self.skip_blank();
        match self.peek() {
            Some(l)
                if l.indent == 0 && (l.rest.starts_with("---") || l.rest.starts_with("...")) =>
            {
                Err(())
            }
            l => Ok(l),
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// A block mapping whose keys are at column `indent`, the first at the current line.
    fn map(&mut self, indent: usize) -> Option<Node> {
        self.enter()?;
        let mut entries = Vec::new();
        while let Some(line) = self.next_content().ok()? {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || is_dash(line.rest) {
                return None;
            }
            let (name, after) = key(line.rest)?;
            let name = match line.rest.as_bytes()[0] {
                b'"' | b'\'' => name.to_string(),
                _ => yaml::key_text(name, saphyr_parser::ScalarStyle::Plain),
            };
            self.at += 1;
            let value = after.trim_start_matches(' ');
            let value = if value.is_empty() || (value.starts_with('#') && value.len() < after.len())
            {
                self.below(indent)?
            } else {
                self.inline(value, indent)?
            };
            yaml::insert(&mut entries, name, value);
        }
        self.depth -= 1;
        Some(Node::Map(entries))
    }

    /// A block sequence whose dashes are at column `indent`, the first at the current line.
    fn seq(&mut self, indent: usize) -> Option<Node> {
        self.enter()?;
        let mut items = Vec::new();
        while let Some(line) = self.next_content().ok()? {
            if line.indent < indent || (line.indent == indent && !is_dash(line.rest)) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            let after = line.rest.strip_prefix("- ")?;
            let skip = after.bytes().take_while(|&b| b == b' ').count();
            let item = &after[skip..];
            let column = indent + 2 + skip;
            if item.is_empty() || item.starts_with('#') {
                return None;
            }
            let node = if is_dash(item) || key(item).is_some() {
                // A collection starting on the dash's line: read the line as if it began at
                // the item's column.
                self.lines[self.at] = Line {
                    indent: column,
                    rest: item,
                };
                if is_dash(item) {
                    self.seq(column)?
                } else {
                    self.map(column)?
                }
            } else {
                self.at += 1;
                self.inline(item, indent)?
            };
            items.push(node);
        }
        self.depth -= 1;
        Some(Node::Seq(items))
    }

    /// The value of a key at column `indent` written on the lines below it: a collection
    /// (a sequence may be at the key's own column), or nothing.
    fn below(&mut self, indent: usize) -> Option<Node> {
        let Some(line) = self.next_content().ok()? else {
            return Some(Node::Null);
        };
        if line.indent > indent {
            if is_dash(line.rest) {
                return self.seq(line.indent);
            }
            // A scalar on the line below its key is left to the full parse.
            key(line.rest)?;
            return self.map(line.indent);
        }
        if line.indent == indent && is_dash(line.rest) {
            return self.seq(indent);
        }
        Some(Node::Null)
    }

    /// A value written after its key or dash (already consumed), in a collection at column
    /// `parent`.
    fn inline(&mut self, text: &'a str, parent: usize) -> Option<Node> {
        let bytes = text.as_bytes();
        let (node, end) = match bytes[0] {
            b'|' => {
                let strip = match text[1..].trim_end_matches(' ') {
                    "" => false,
                    "-" => true,
                    _ => return None,
                };
                return self.literal(parent, strip);
            }
            b'"' | b'\'' => {
                let end = quoted(bytes)?;
                let inner = &text[1..end - 1];
                let string = if bytes[0] == b'"' {
                    unescape(inner)
                } else {
                    inner.replace("''", "'")
                };
                (Node::Str(string), end)
            }
            b'[' | b'{' => {
                let (node, end) = flow(bytes, text, 0, 1)?;
                (node, end)
            }
            _ => {
                let plain = crate::head::block_plain(text)?;
                (yaml::resolve_plain(plain), text.len())
            }
        };
        comment_or_nothing(&text[end..]).then_some(node)
    }

    /// A literal block scalar (`|` or, with `strip`, `|-`) whose header ended the previous
    /// line, in a collection at column `parent`: its lines are indented further.
    fn literal(&mut self, parent: usize, strip: bool) -> Option<Node> {
        let mut content_indent = None;
        let mut out = String::new();
        let mut breaks = 0usize;
        while let Some(line) = self.peek() {
            if line.rest.is_empty() {
                // A blank line: before the content, indented ones are left to the full
                // parse; inside, one indented past the content is content (spaces).
                match content_indent {
                    None if line.indent > 0 => return None,
                    Some(c) if line.indent > c => return None,
                    _ => {}
                }
                breaks += 1;
                self.at += 1;
                continue;
            }
            let column = match content_indent {
                Some(c) if line.indent >= c => c,
                None if line.indent > parent => {
                    content_indent = Some(line.indent);
                    line.indent
                }
                _ => break,
            };
            if out.is_empty() && breaks > 0 {
                // Blank lines before the first content line.
                out.extend(std::iter::repeat_n('\n', breaks));
            } else if !out.is_empty() {
                out.extend(std::iter::repeat_n('\n', breaks + 1));
            }
            breaks = 0;
            out.extend(std::iter::repeat_n(' ', line.indent - column));
            out.push_str(line.rest);
            self.at += 1;
        }
        // An empty block scalar (and its chomping of the breaks alone) is left to the full
        // parse.
        content_indent?;
        if !strip {
            out.push('\n');
        }
        Some(Node::Str(out))
    }
}

/// A flow collection starting at `bytes[start]` and closed on its line, and where it ends.
fn flow(bytes: &[u8], text: &str, start: usize, depth: usize) -> Option<(Node, usize)> {
    if depth > MAX_DEPTH {
        return None;
    }
    let (close, is_map) = match bytes[start] {
        b'[' => (b']', false),
        _ => (b'}', true),
    };
    let mut entries = Vec::new();
    let mut items = Vec::new();
    let mut i = skip_spaces(bytes, start + 1);
    if bytes.get(i) != Some(&close) {
        loop {
            let mut name = None;
            if is_map {
                let (k, end) = match bytes.get(i)? {
                    b'"' | b'\'' => {
                        let end = i + quoted(&bytes[i..])?;
                        if bytes.get(end) != Some(&b':') || end - i > MAX_KEY {
                            return None;
                        }
                        let Node::Str(s) = quoted_node(text, i, end)? else {
                            return None;
                        };
                        (s, end)
                    }
                    _ => {
                        let end = flow_plain(bytes, i, true)?;
                        if bytes.get(end) != Some(&b':')
                            || bytes.get(end + 1) != Some(&b' ')
                            || end - i > MAX_KEY
                        {
                            return None;
                        }
                        (
                            yaml::key_text(&text[i..end], saphyr_parser::ScalarStyle::Plain),
                            end,
                        )
                    }
                };
                name = Some(k);
                i = skip_spaces(bytes, end + 1);
            }
            let (node, end) = match bytes.get(i)? {
                b'[' | b'{' => flow(bytes, text, i, depth + 1)?,
                b'"' | b'\'' => {
                    let end = i + quoted(&bytes[i..])?;
                    (quoted_node(text, i, end)?, end)
                }
                _ => {
                    let end = flow_plain(bytes, i, false)?;
                    (yaml::resolve_plain(&text[i..end]), end)
                }
            };
            match name {
                Some(k) => yaml::insert(&mut entries, k, node),
                None => items.push(node),
            }
            i = skip_spaces(bytes, end);
            match bytes.get(i)? {
                b',' => {
                    i = skip_spaces(bytes, i + 1);
                    if bytes.get(i) == Some(&close) {
                        break;
                    }
                }
                b if *b == close => break,
                _ => return None,
            }
        }
    }
    let node = if is_map {
        Node::Map(entries)
    } else {
        Node::Seq(items)
    };
    Some((node, i + 1))
}

/// The string of the quoted scalar at `text[start..end]`.
fn quoted_node(text: &str, start: usize, end: usize) -> Option<Node> {
    let inner = &text[start + 1..end - 1];
    Some(Node::Str(if text.as_bytes()[start] == b'"' {
        unescape(inner)
    } else {
        inner.replace("''", "'")
    }))
}

/// The text of a double-quoted scalar's inside, whose escapes [`quoted`] checked are the
/// one-character ones (`\x`, `\u` and `\U` are left to the full parse).
fn unescape(inner: &str) -> String {
    if !inner.contains('\\') {
        return inner.to_string();
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next().unwrap_or('\\') {
            '0' => '\0',
            'a' => '\x07',
            'b' => '\x08',
            't' => '\t',
            'n' => '\n',
            'v' => '\x0b',
            'f' => '\x0c',
            'r' => '\r',
            'e' => '\x1b',
            'N' => '\u{85}',
            '_' => '\u{a0}',
            'L' => '\u{2028}',
            'P' => '\u{2029}',
            other => other,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `parse` reads `text` as the full parse does.
    fn reads(text: &str) -> Node {
        let fast = parse(text).unwrap_or_else(|| panic!("declined: {text:?}"));
        assert_eq!(Ok(fast.clone()), yaml::parse_one(text), "{text:?}");
        fast
    }

    #[test]
    fn plain_values_read_as_the_full_parse_reads_them() {
        reads(
            "# c\na: 1\nb: yes\nc: 'x''y'\nd: \"z\" # c\ne:\n  f: [1, \"2\", {g: h}]\n  i: {}\nj:\n- k\n- l: m\n  n: ~\n-   - o\no: |\n  line\n\n    more\n# not a comment? yes: a comment\np: |-\n  x\nq:\n1: one\n1.0: float\ntrue: bool\n",
        );
        reads("");
        reads("# only comments\n");
        reads("a: |\n  x\n  # inside\n\nb: 1");
        reads("a:\n  - x\n  - y\nb: [a, b, ]\nc: http://x:80/#y\nd: -1\n");
        reads("a: 1\na: 2\nb: {x: 1, x: 2}\n");
        reads("a: \"NT AUTHORITY\\\\system \\\"x\\\" \\t\\N\\_\\/\"\nb: [\"\\n\"]\n");
    }

    #[test]
    fn other_values_are_left_to_the_full_parse() {
        for text in [
            "a: &x 1\nb: *x\n",
            "<<: {a: 1}\n",
            "a: >\n  x\n",
            "a: |+\n  x\n",
            "a: |\n",
            "a: \"\\u00e9\"\n",
            "a: \"\\q\"\n",
            "a: x\n  y\n",
            "a:\n  x\n",
            "- a\n",
            "a: 1\n---\nb: 2\n",
            "a: !!str 1\n",
            "a:\tb\n",
            "a: [1,\n  2]\n",
            "a: |\n   \n  x\n",
            " a: 1\n",
            "a: 1\n b: 2\n",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }
}
