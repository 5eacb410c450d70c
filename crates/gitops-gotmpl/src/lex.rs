//! The lexer: template text into items, with Go's trim markers, comments and error texts.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Error,
    Bool,
    /// A printable ASCII character not otherwise meaningful (`,`).
    Char,
    CharConstant,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    String,
    Text,
    Variable,
    // Keywords.
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl Kind {
    fn is_keyword(self) -> bool {
        matches!(
            self,
            Kind::Block
                | Kind::Break
                | Kind::Continue
                | Kind::Dot
                | Kind::Define
                | Kind::Else
                | Kind::End
                | Kind::If
                | Kind::Nil
                | Kind::Range
                | Kind::Template
                | Kind::With
        )
    }
}

/// One item: 16 bytes, a plain copyable value (a chart has hundreds of thousands of items,
/// written once by the lexer and peeked at and copied by the parser), whose text is a range
/// of the input ([`Item::text`]). Inputs are at most [`MAX_INPUT`] bytes, so positions fit.
///
/// Spaces inside actions are not items (Go's lexer makes them items, which the parser skips
/// everywhere but after an operand): the item after them says so ([`Item::space_before`]),
/// which halves the items of a chart.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Item {
    pub kind: Kind,
    /// Whether spaces inside the action come right before this item.
    pub space_before: bool,
    /// The 1-based line the item starts on.
    line: u32,
    /// Where the item's text starts in the input.
    pos: u32,
    /// The length of its text: 0 for an error, whose message is [`Lexed::error`].
    len: u32,
}

/// The longest input the lexer takes (positions are `u32`).
pub(crate) const MAX_INPUT: usize = u32::MAX as usize;

impl Item {
    pub fn pos(&self) -> usize {
        self.pos as usize
    }

    pub fn line(&self) -> usize {
        self.line as usize
    }

    /// The item's text in `input`, the text it was lexed from.
    pub fn text<'a>(&self, input: &'a str) -> &'a str {
        let start = self.pos as usize;
        input
            .get(start..start + self.len as usize)
            .unwrap_or_default()
    }

    /// Go's `item.String()`, used in "unexpected X in Y".
    pub fn shown(&self, input: &str) -> String {
        let val = self.text(input);
        match self.kind {
            Kind::Eof => "EOF".to_string(),
            Kind::Error => "error".to_string(),
            k if k.is_keyword() => format!("<{val}>"),
            _ if val.len() > 10 => {
                // Go's %.10q: the first ten runes, quoted, then "...".
                let head: String = val.chars().take(10).collect();
                format!("{}...", crate::gofmt::quote(&head, false))
            }
            _ => crate::gofmt::quote(val, false),
        }
    }
}

/// The items of a template, the last `Eof` or `Error`, and the error's message.
pub(crate) struct Lexed {
    pub items: Vec<Item>,
    pub error: String,
}

const LEFT: &str = "{{";
const RIGHT: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Which bytes are ASCII letters, digits or `_`.
const WORD_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || c == b'_';
        b += 1;
    }
    table
};

fn is_alnum(c: char) -> bool {
    if c.is_ascii() {
        return c == '_' || c.is_ascii_alphanumeric();
    }
    c.is_alphabetic() || c.is_numeric()
}

fn has_left_trim(s: &[u8]) -> bool {
    s.len() >= 2 && s[0] == b'-' && is_space(s[1])
}

fn has_right_trim(s: &[u8]) -> bool {
    s.len() >= 2 && is_space(s[0]) && s[1] == b'-'
}

/// `%#U` of a rune: `U+0023 '#'`.
pub(crate) fn rune_u(c: Option<char>) -> String {
    match c {
        None => "U+FFFFFFFFFFFFFFFF".into(), // Go's eof rune is -1.
        Some(c) if crate::gofmt::is_print(c) => format!("U+{:04X} '{}'", c as u32, c),
        Some(c) => format!("U+{:04X}", c as u32),
    }
}

/// Where the next `{{` starts: a vectorised scan for `{` is faster than a substring search
/// (text between actions is most of a chart's bytes).
fn find_left(s: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'{', s).find(|at| s.get(at + 1) == Some(&b'{'))
}

/// The item of `kind` at `start..end` of the input, starting on `line` (the input's length
/// was checked against [`MAX_INPUT`], so the casts keep every value).
fn item(kind: Kind, start: usize, end: usize, line: usize) -> Item {
    Item {
        kind,
        space_before: false,
        line: line as u32,
        pos: start as u32,
        len: (end - start) as u32,
    }
}

/// How many line breaks `s` has.
fn newlines(s: &[u8]) -> usize {
    // Most runs between actions are short (a line break and an indentation), where a plain
    // loop is cheaper than setting up the vectorised count.
    if s.len() < 64 {
        return s.iter().filter(|c| **c == b'\n').count();
    }
    memchr::memchr_iter(b'\n', s).count()
}

/// Lexes the whole input (at most [`MAX_INPUT`] bytes: the caller checks); the last item is
/// `Eof` or `Error`.
pub(crate) fn lex(input: &str) -> Lexed {
    let mut l = Lexer {
        input,
        bytes: input.as_bytes(),
        pos: 0,
        start: 0,
        line: 1,
        start_line: 1,
        paren_depth: 0,
        space_before: false,
        // Chart templates average one item per 8-9 bytes (dense ones one per 4): sizing the vector up front saves
        // its repeated regrowth (copying and touching new memory) on large templates.
        items: Vec::with_capacity(input.len() / 4 + 16),
        error: String::new(),
    };
    l.run();
    Lexed {
        items: l.items,
        error: l.error,
    }
}

struct Lexer<'a> {
    input: &'a str,
    bytes: &'a [u8],
    pos: usize,
    start: usize,
    line: usize,
    start_line: usize,
    paren_depth: i64,
    /// Whether spaces were skipped since the last item.
    space_before: bool,
    items: Vec<Item>,
    error: String,
}

enum State {
    Text,
    LeftDelim,
    Comment,
    RightDelim,
    InsideAction,
    Done,
}

impl Lexer<'_> {
    fn run(&mut self) {
        let mut state = State::Text;
        loop {
            state = match state {
                State::Text => self.lex_text(),
                State::LeftDelim => self.lex_left_delim(),
                State::Comment => self.lex_comment(),
                State::RightDelim => self.lex_right_delim(),
                State::InsideAction => self.lex_inside_action(),
                State::Done => return,
            }
        }
    }

    fn peek_char(&self) -> Option<char> {
        // Template actions are ASCII but for the odd string: decode only what is not.
        match self.bytes.get(self.pos) {
            Some(&b) if b.is_ascii() => Some(b as char),
            Some(_) => self.input[self.pos..].chars().next(),
            None => None,
        }
    }

    fn next_char(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Skips a run of ASCII letters, digits and `_` (what names are made of, nearly always),
    /// a table lookup per byte.
    fn skip_ascii_word(&mut self) {
        let rest = &self.bytes[self.pos..];
        self.pos += rest
            .iter()
            .position(|&b| !WORD_BYTE[usize::from(b)])
            .unwrap_or(rest.len());
    }

    /// Skips a name: letters, digits and `_`, Unicode ones included (as Go's `isAlphaNumeric`).
    fn skip_word(&mut self) {
        loop {
            self.skip_ascii_word();
            let Some(&b) = self.bytes.get(self.pos) else {
                return;
            };
            if b.is_ascii() {
                return;
            }
            match self.input[self.pos..].chars().next() {
                Some(c) if is_alnum(c) => self.pos += c.len_utf8(),
                _ => return,
            }
        }
    }

    fn backup(&mut self, c: Option<char>) {
        if let Some(c) = c {
            self.pos -= c.len_utf8();
            if c == '\n' {
                self.line -= 1;
            }
        }
    }

    fn emit(&mut self, kind: Kind) {
        let mut it = item(kind, self.start, self.pos, self.start_line);
        it.space_before = std::mem::take(&mut self.space_before);
        self.items.push(it);
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn ignore(&mut self) {
        self.line += newlines(&self.bytes[self.start..self.pos]);
        self.start = self.pos;
        self.start_line = self.line;
    }

    fn error(&mut self, msg: String) -> State {
        self.error = msg;
        self.items
            .push(item(Kind::Error, self.start, self.start, self.start_line));
        State::Done
    }

    /// Whether `}}` (first) or ` -}}` (both) comes next: looked at by its first byte, as
    /// this is asked before every item of an action.
    fn at_right_delim(&self) -> (bool, bool) {
        let rest = &self.bytes[self.pos..];
        match rest.first() {
            Some(b'}') => (rest.get(1) == Some(&b'}'), false),
            Some(&c) if is_space(c) => {
                let trim = rest.get(1..4) == Some(b"-}}".as_slice());
                (trim, trim)
            }
            _ => (false, false),
        }
    }

    fn lex_text(&mut self) -> State {
        if let Some(x) = find_left(&self.bytes[self.pos..]) {
            if x > 0 {
                self.pos += x;
                let mut trim = 0;
                if has_left_trim(&self.bytes[self.pos + LEFT.len()..]) {
                    let text = &self.bytes[self.start..self.pos];
                    trim = text.len()
                        - text
                            .iter()
                            .rposition(|c| !is_space(*c))
                            .map_or(0, |p| p + 1);
                }
                self.pos -= trim;
                self.line += newlines(&self.bytes[self.start..self.pos]);
                let text = item(Kind::Text, self.start, self.pos, self.start_line);
                self.start = self.pos;
                self.start_line = self.line;
                self.pos += trim;
                self.ignore();
                if text.len > 0 {
                    self.items.push(text);
                }
            }
            return State::LeftDelim;
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            self.line += newlines(&self.bytes[self.start..self.pos]);
            self.emit(Kind::Text);
        }
        self.emit(Kind::Eof);
        State::Done
    }

    fn lex_left_delim(&mut self) -> State {
        self.pos += LEFT.len();
        let trim = has_left_trim(&self.bytes[self.pos..]);
        let after = if trim { 2 } else { 0 };
        if self.bytes[self.pos + after..].starts_with(LEFT_COMMENT.as_bytes()) {
            self.pos += after;
            self.ignore();
            return State::Comment;
        }
        self.emit(Kind::LeftDelim);
        self.pos += after;
        self.ignore();
        self.paren_depth = 0;
        State::InsideAction
    }

    fn lex_comment(&mut self) -> State {
        self.pos += LEFT_COMMENT.len();
        let Some(x) = self.input[self.pos..].find(RIGHT_COMMENT) else {
            return self.error("unclosed comment".into());
        };
        self.pos += x + RIGHT_COMMENT.len();
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.error("comment ends before closing delimiter".into());
        }
        if trim {
            self.pos += 2;
        }
        self.pos += RIGHT.len();
        if trim {
            self.pos += self.left_trim_len();
        }
        self.ignore();
        State::Text
    }

    fn left_trim_len(&self) -> usize {
        self.bytes[self.pos..]
            .iter()
            .position(|c| !is_space(*c))
            .unwrap_or(self.bytes.len() - self.pos)
    }

    fn lex_right_delim(&mut self) -> State {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.pos += 2;
            self.ignore();
        }
        self.pos += RIGHT.len();
        self.emit(Kind::RightDelim);
        if trim {
            self.pos += self.left_trim_len();
            self.ignore();
        }
        State::Text
    }

    fn lex_inside_action(&mut self) -> State {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return State::RightDelim;
            }
            return self.error("unclosed left paren".into());
        }
        // The items actions are mostly made of, by their first byte (ASCII: one byte, no line
        // break to count); the rest as Go's lexer reads them, rune by rune.
        match self.bytes.get(self.pos) {
            Some(b' ' | b'\t' | b'\r' | b'\n') => return self.lex_space(),
            Some(b'a'..=b'z' | b'A'..=b'Z' | b'_') => return self.lex_identifier(),
            Some(b'"') => {
                self.pos += 1;
                return self.lex_quote();
            }
            Some(b'|') => {
                self.pos += 1;
                self.emit(Kind::Pipe);
                return State::InsideAction;
            }
            Some(b'$') => {
                self.pos += 1;
                return self.lex_variable();
            }
            Some(b'.')
                if self
                    .bytes
                    .get(self.pos + 1)
                    .is_some_and(|b| !b.is_ascii_digit()) =>
            {
                self.pos += 1;
                return self.lex_field_or_variable(Kind::Field);
            }
            _ => {}
        }
        let r = self.next_char();
        match r {
            None => self.error("unclosed action".into()),
            Some(c) if c.is_ascii() && is_space(c as u8) => {
                self.backup(r);
                self.lex_space()
            }
            Some('=') => {
                self.emit(Kind::Assign);
                State::InsideAction
            }
            Some(':') => {
                if self.next_char() != Some('=') {
                    return self.error("expected :=".into());
                }
                self.emit(Kind::Declare);
                State::InsideAction
            }
            Some('|') => {
                self.emit(Kind::Pipe);
                State::InsideAction
            }
            Some('"') => self.lex_quote(),
            Some('`') => self.lex_raw_quote(),
            Some('$') => self.lex_variable(),
            Some('\'') => self.lex_char(),
            Some('.') => {
                if self.pos < self.bytes.len() && !self.bytes[self.pos].is_ascii_digit() {
                    return self.lex_field_or_variable(Kind::Field);
                }
                self.backup(r);
                self.lex_number()
            }
            Some(c) if c == '+' || c == '-' || c.is_ascii_digit() => {
                self.backup(r);
                self.lex_number()
            }
            Some(c) if is_alnum(c) => {
                self.backup(r);
                self.lex_identifier()
            }
            Some('(') => {
                self.paren_depth += 1;
                self.emit(Kind::LeftParen);
                State::InsideAction
            }
            Some(')') => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.error("unexpected right paren".into());
                }
                self.emit(Kind::RightParen);
                State::InsideAction
            }
            Some(c) if c.is_ascii() && !c.is_ascii_control() => {
                self.emit(Kind::Char);
                State::InsideAction
            }
            Some(c) => self.error(format!(
                "unrecognized character in action: {}",
                rune_u(Some(c))
            )),
        }
    }

    fn lex_space(&mut self) -> State {
        let from = self.pos;
        while let Some(&c) = self.bytes.get(self.pos).filter(|c| is_space(**c)) {
            self.line += usize::from(c == b'\n');
            self.pos += 1;
        }
        let n = self.pos - from;
        let rest = &self.bytes[self.pos - 1..];
        if has_right_trim(rest) && rest[2..].starts_with(RIGHT.as_bytes()) {
            // The last space belongs to a " -}}" trim marker.
            let c = self.bytes[self.pos - 1] as char;
            self.backup(Some(c));
            if n == 1 {
                return State::RightDelim;
            }
        }
        // Go emits a space item here; the next item carries it instead.
        self.space_before = true;
        self.start = self.pos;
        self.start_line = self.line;
        State::InsideAction
    }

    fn at_terminator(&self) -> bool {
        match self.peek_char() {
            None => true,
            Some(c) if c.is_ascii() && is_space(c as u8) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.bytes[self.pos..].starts_with(RIGHT.as_bytes()),
        }
    }

    fn lex_identifier(&mut self) -> State {
        self.skip_word();
        if !self.at_terminator() {
            let r = self.peek_char();
            return self.error(format!("bad character {}", rune_u(r)));
        }
        let kind = match &self.input[self.start..self.pos] {
            "block" => Kind::Block,
            "break" => Kind::Break,
            "continue" => Kind::Continue,
            "define" => Kind::Define,
            "else" => Kind::Else,
            "end" => Kind::End,
            "if" => Kind::If,
            "range" => Kind::Range,
            "nil" => Kind::Nil,
            "template" => Kind::Template,
            "with" => Kind::With,
            "true" | "false" => Kind::Bool,
            _ => Kind::Identifier,
        };
        self.emit(kind);
        State::InsideAction
    }

    fn lex_variable(&mut self) -> State {
        if self.at_terminator() {
            self.emit(Kind::Variable);
            return State::InsideAction;
        }
        self.lex_field_or_variable(Kind::Variable)
    }

    fn lex_field_or_variable(&mut self, kind: Kind) -> State {
        if self.at_terminator() {
            self.emit(if kind == Kind::Variable {
                Kind::Variable
            } else {
                Kind::Dot
            });
            return State::InsideAction;
        }
        self.skip_word();
        if !self.at_terminator() {
            let r = self.peek_char();
            return self.error(format!("bad character {}", rune_u(r)));
        }
        self.emit(kind);
        State::InsideAction
    }

    fn lex_char(&mut self) -> State {
        loop {
            match self.next_char() {
                Some('\\') => {
                    if matches!(self.next_char(), None | Some('\n')) {
                        return self.error("unterminated character constant".into());
                    }
                }
                None | Some('\n') => {
                    return self.error("unterminated character constant".into());
                }
                Some('\'') => break,
                _ => {}
            }
        }
        self.emit(Kind::CharConstant);
        State::InsideAction
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek_char() {
            Some(c) if valid.contains(c) => {
                self.next_char();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek_char().is_some_and(is_alnum) {
            self.next_char();
            return false;
        }
        true
    }

    fn lex_number(&mut self) -> State {
        if !self.scan_number() {
            let text = &self.input[self.start..self.pos];
            return self.error(format!(
                "bad number syntax: {}",
                crate::gofmt::quote(text, false)
            ));
        }
        if matches!(self.peek_char(), Some('+' | '-')) {
            if !self.scan_number() || self.bytes[self.pos - 1] != b'i' {
                let text = &self.input[self.start..self.pos];
                return self.error(format!(
                    "bad number syntax: {}",
                    crate::gofmt::quote(text, false)
                ));
            }
            self.emit(Kind::Complex);
            return State::InsideAction;
        }
        self.emit(Kind::Number);
        State::InsideAction
    }

    /// A quoted string: a vectorised scan to its closing quote, an escape or a line break
    /// (the strings of chart templates are short, but many).
    fn lex_quote(&mut self) -> State {
        loop {
            let Some(at) = memchr::memchr3(b'"', b'\\', b'\n', &self.bytes[self.pos..]) else {
                self.pos = self.bytes.len();
                return self.error("unterminated quoted string".into());
            };
            self.pos += at + 1;
            match self.bytes[self.pos - 1] {
                b'"' => break,
                b'\\' => {
                    if matches!(self.next_char(), None | Some('\n')) {
                        return self.error("unterminated quoted string".into());
                    }
                }
                _ => {
                    self.line += 1;
                    return self.error("unterminated quoted string".into());
                }
            }
        }
        self.emit(Kind::String);
        State::InsideAction
    }

    /// A raw string: a vectorised scan to its closing back quote (dashboards embed kilobytes
    /// of JSON in them), counting the line breaks it spans.
    fn lex_raw_quote(&mut self) -> State {
        let rest = &self.bytes[self.pos..];
        let Some(at) = memchr::memchr(b'`', rest) else {
            self.line += newlines(rest);
            self.pos = self.bytes.len();
            return self.error("unterminated raw quoted string".into());
        };
        self.line += newlines(&rest[..at]);
        self.pos += at + 1;
        self.emit(Kind::RawString);
        State::InsideAction
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Kind> {
        lex(s).items.into_iter().map(|i| i.kind).collect()
    }

    #[test]
    fn trim_markers_remove_surrounding_space() {
        let input = "a  {{- 1 -}}  b";
        let items = lex(input).items;
        let texts: Vec<_> = items.iter().map(|i| i.text(input)).collect();
        assert_eq!(texts, ["a", "{{", "1", "}}", "b", ""]);
    }

    #[test]
    fn minus_without_space_is_a_number() {
        assert_eq!(
            kinds("{{-3}}"),
            [Kind::LeftDelim, Kind::Number, Kind::RightDelim, Kind::Eof]
        );
    }

    #[test]
    fn comments_vanish_and_errors_are_go_texts() {
        assert_eq!(kinds("{{/* x */}}"), [Kind::Eof]);
        assert_eq!(lex("{{/* x").error, "unclosed comment");
        assert_eq!(
            lex("{{/* x */ }}").error,
            "comment ends before closing delimiter"
        );
        assert_eq!(lex("{{ a#b }}").error, "bad character U+0023 '#'");
    }

    #[test]
    fn quoted_strings_end_where_go_ends_them_and_keep_line_numbers() {
        let input = "{{ `a\nb` \"c\\\"d\" }}\n{{ x }}";
        let items = lex(input).items;
        let vals: Vec<_> = items
            .iter()
            .map(|i| (i.text(input), i.line(), i.space_before))
            .collect();
        assert_eq!(
            vals,
            [
                ("{{", 1, false),
                ("`a\nb`", 1, true),
                ("\"c\\\"d\"", 2, true),
                ("}}", 2, true),
                ("\n", 2, false),
                ("{{", 3, false),
                ("x", 3, true),
                ("}}", 3, true),
                ("", 3, false)
            ]
        );
        for (text, error) in [
            ("{{ \"a\n\" }}", "unterminated quoted string"),
            ("{{ \"a\\", "unterminated quoted string"),
            ("{{ \"a", "unterminated quoted string"),
            ("{{ `a", "unterminated raw quoted string"),
        ] {
            let lexed = lex(text);
            let last = lexed.items.last().expect("an item");
            assert_eq!(
                (last.kind, lexed.error.as_str()),
                (Kind::Error, error),
                "{text:?}"
            );
        }
    }
}
