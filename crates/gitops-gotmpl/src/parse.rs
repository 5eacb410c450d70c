//! The parser: items into trees, one per template (`define` and `block` make more), with Go's
//! error texts.
//!
//! A tree refers to its template's source by [`Span`]s (eight bytes each) rather than holding
//! strings: names, text runs and literals are ranges of the one shared source, which the
//! executor reads through the tree it walks. Its lists (of nodes, commands, operands, names)
//! are [`Run`]s of one [`Arena`] per parse, shared by the file's trees: a few vectors instead
//! of an allocation per list (a large chart has some sixty thousand lists).

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use crate::Error;
use crate::funcs::Functions;
use crate::lex::{Item, Kind, Lexed, MAX_INPUT, lex};

/// How deeply parentheses and control structures may nest. Go allows 10,000 parentheses and
/// unlimited `if`s; both recurse, so a bound keeps deep input from overflowing the stack.
pub const MAX_NESTING: usize = 1000;

/// How much stack the parser may use, in bytes (checked with [`MAX_NESTING`]).
pub const MAX_PARSE_STACK: usize = 1 << 20;

/// One parsed template: a file's top level, or a `define`/`block` body.
#[derive(Debug)]
pub(crate) struct Tree {
    pub name: String,
    pub parse_name: Arc<str>,
    /// The template's source, which the tree's spans are ranges of (shared with the caller
    /// that handed it over, when parsed from a shared source: no copy).
    pub text: Arc<String>,
    /// The lists of this parse's trees.
    pub arena: Arc<Arena>,
    pub root: List,
}

impl Tree {
    /// The source the tree's spans are ranges of.
    pub fn src(&self) -> &str {
        self.text.as_str()
    }

    /// What the tree's spans and runs refer to.
    pub fn source(&self) -> Source<'_> {
        Source {
            text: self.text.as_str(),
            arena: &self.arena,
        }
    }

    /// Go's `parse.IsEmptyTree`: only whitespace text (and comments).
    pub fn is_empty(&self) -> bool {
        self.source().is_empty(&self.root)
    }

    /// `NAME:LINE:COL` of a byte position, as Go's `ErrorContext` prints it (column 0-based).
    pub fn location(&self, pos: u32) -> String {
        let pos = (pos as usize).min(self.text.len());
        let before = &self.text.as_bytes()[..pos];
        let line = 1 + before.iter().filter(|c| **c == b'\n').count();
        let col = match before.iter().rposition(|c| *c == b'\n') {
            Some(nl) => pos - (nl + 1),
            None => pos,
        };
        format!("{}:{}:{}", self.parse_name, line, col)
    }
}

/// A range of a template's source: a name, a run of text or a literal as written. Positions
/// fit in `u32` because the parser refuses sources over [`MAX_INPUT`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    start: u32,
    end: u32,
}

impl Span {
    fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The text of the span in `src`, the source of the tree it belongs to.
    pub fn of(self, src: &str) -> &str {
        src.get(self.start as usize..self.end as usize)
            .unwrap_or_default()
    }
}

/// A run of one of an [`Arena`]'s vectors.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Run {
    start: u32,
    len: u32,
}

impl Run {
    pub fn len(self) -> usize {
        self.len as usize
    }

    pub fn is_empty(self) -> bool {
        self.len == 0
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.start as usize + self.len as usize
    }
}

/// The lists of one parse's trees, each kind in one vector. A list is added whole when it
/// is complete (the parser builds it on a stack of its own), so its items are consecutive.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    nodes: Vec<Node>,
    cmds: Vec<Command>,
    args: Vec<Arg>,
    spans: Vec<Span>,
}

/// Moves `from[base..]` to the end of `to`, as a run of it.
fn move_run<T>(to: &mut Vec<T>, from: &mut Vec<T>, base: usize) -> Run {
    let start = to.len();
    to.extend(from.drain(base..));
    Run {
        start: start as u32,
        len: (to.len() - start) as u32,
    }
}

impl Arena {
    pub fn nodes(&self, run: Run) -> &[Node] {
        self.nodes.get(run.range()).unwrap_or_default()
    }

    pub fn cmds(&self, run: Run) -> &[Command] {
        self.cmds.get(run.range()).unwrap_or_default()
    }

    pub fn args(&self, run: Run) -> &[Arg] {
        self.args.get(run.range()).unwrap_or_default()
    }

    pub fn spans(&self, run: Run) -> &[Span] {
        self.spans.get(run.range()).unwrap_or_default()
    }
}

/// What the spans and runs of a parse refer to: its source and its arena.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    pub text: &'a str,
    pub arena: &'a Arena,
}

impl<'a> Source<'a> {
    /// Whether a list is only whitespace text (and comments).
    pub fn is_empty(self, list: &List) -> bool {
        self.arena.nodes(list.nodes).iter().all(|n| match n {
            Node::Text(text) => text.of(self.text).trim_ascii().is_empty(),
            _ => false,
        })
    }
}

#[derive(Debug, Default)]
pub(crate) struct List {
    pub nodes: Run,
}

#[derive(Debug)]
pub(crate) enum Node {
    Text(Span),
    /// An action's position is its pipeline's.
    Action(Pipe),
    // Boxed, like the template call's pipeline: a node list is a slice of the largest variant.
    If(Box<Branch>),
    With(Box<Branch>),
    Range(Box<Branch>),
    Template {
        pos: u32,
        name: Box<str>,
        pipe: Option<Box<Pipe>>,
    },
    Break,
    Continue,
}

/// The body of `if`, `with` and `range`; its position is its pipeline's.
#[derive(Debug)]
pub(crate) struct Branch {
    pub pipe: Pipe,
    pub list: List,
    pub else_list: Option<List>,
}

#[derive(Debug)]
pub(crate) struct Pipe {
    pub pos: u32,
    pub is_assign: bool,
    /// The variables declared or assigned, with their `$` (spans).
    pub decl: Run,
    pub cmds: Run,
}

#[derive(Debug)]
pub(crate) struct Command {
    pub pos: u32,
    pub args: Run,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Number {
    pub is_int: bool,
    pub int: i64,
    pub is_uint: bool,
    pub is_float: bool,
    pub float: f64,
}

/// An operand. Kept small (24 bytes) since commands hold tens of thousands of them: the rare
/// large parts (a number's readings, an escaped string's text, a chain) are boxed.
#[derive(Debug)]
pub(crate) enum Arg {
    /// `.a.b`: the spans of `a` and `b`.
    Field {
        pos: u32,
        idents: Run,
    },
    /// `$x.a.b`: the first span is the variable's name with its `$`.
    Variable {
        pos: u32,
        idents: Run,
    },
    Identifier {
        pos: u32,
        name: Span,
    },
    Dot {
        pos: u32,
    },
    Nil {
        pos: u32,
    },
    Bool {
        pos: u32,
        value: bool,
    },
    Number {
        pos: u32,
        /// The literal as written.
        text: Span,
        num: Box<Number>,
    },
    String {
        pos: u32,
        /// The literal as written, quotes included.
        quoted: Span,
        /// The unquoted text when it differs from what is between the quotes (escapes, or a
        /// carriage return in a raw string); `None` for nearly every literal.
        #[expect(
            clippy::box_collection,
            reason = "a thin pointer keeps every operand at 24 bytes; escaped literals are rare"
        )]
        unquoted: Option<Box<String>>,
    },
    Pipe(Box<Pipe>),
    Chain(Box<Chain>),
}

/// `(pipeline).a.b`, `fn.a`, `$x` is not one (its fields are a variable's idents).
#[derive(Debug)]
pub(crate) struct Chain {
    pub pos: u32,
    pub node: Arg,
    /// Spans.
    pub fields: Run,
}

impl Arg {
    pub fn pos(&self) -> u32 {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Identifier { pos, .. }
            | Arg::Dot { pos }
            | Arg::Nil { pos }
            | Arg::Bool { pos, .. }
            | Arg::Number { pos, .. }
            | Arg::String { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
            Arg::Chain(c) => c.pos,
        }
    }

    /// A string literal's value: `unquoted` if it has one, else what is between the quotes.
    pub fn string_value<'s>(quoted: Span, unquoted: Option<&'s str>, src: &'s str) -> &'s str {
        unquoted.unwrap_or_else(|| {
            let q = quoted.of(src);
            q.get(1..q.len().saturating_sub(1)).unwrap_or_default()
        })
    }
}

/// A node printed as template text, as Go's `String()` methods print nodes in error contexts:
/// the node and what its spans and runs refer to.
pub(crate) struct Shown<'a, T: ?Sized>(pub &'a T, pub Source<'a>);

impl fmt::Display for Shown<'_, Arg> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let src = self.1;
        let spans = |run: Run| src.arena.spans(run).iter().map(|s| s.of(src.text));
        match self.0 {
            Arg::Field { idents, .. } => {
                for i in spans(*idents) {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Variable { idents, .. } => {
                for (n, i) in spans(*idents).enumerate() {
                    if n > 0 {
                        f.write_str(".")?;
                    }
                    f.write_str(i)?;
                }
                Ok(())
            }
            Arg::Identifier { name, .. } => f.write_str(name.of(src.text)),
            Arg::Dot { .. } => f.write_str("."),
            Arg::Nil { .. } => f.write_str("nil"),
            Arg::Bool { value, .. } => write!(f, "{value}"),
            Arg::Number { text, .. } => f.write_str(text.of(src.text)),
            Arg::String { quoted, .. } => f.write_str(quoted.of(src.text)),
            Arg::Pipe(p) => write!(f, "{}", Shown(&**p, src)),
            Arg::Chain(c) => {
                if matches!(c.node, Arg::Pipe(_)) {
                    write!(f, "({})", Shown(&c.node, src))?;
                } else {
                    write!(f, "{}", Shown(&c.node, src))?;
                }
                for field in spans(c.fields) {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
        }
    }
}

impl fmt::Display for Shown<'_, Command> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.1.arena.args(self.0.args).iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            if let Arg::Pipe(p) = arg {
                write!(f, "({})", Shown(&**p, self.1))?;
            } else {
                write!(f, "{}", Shown(arg, self.1))?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Shown<'_, Pipe> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (pipe, src) = (self.0, self.1);
        let decl = src.arena.spans(pipe.decl);
        if !decl.is_empty() {
            for (i, d) in decl.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                f.write_str(d.of(src.text))?;
            }
            f.write_str(if pipe.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in src.arena.cmds(pipe.cmds).iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{}", Shown(c, src))?;
        }
        Ok(())
    }
}

impl fmt::Display for Shown<'_, List> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for n in self.1.arena.nodes(self.0.nodes) {
            write!(f, "{}", Shown(n, self.1))?;
        }
        Ok(())
    }
}

impl fmt::Display for Shown<'_, Node> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let src = self.1;
        let branch = |f: &mut fmt::Formatter<'_>, kw: &str, b: &Branch| {
            write!(
                f,
                "{{{{{kw} {}}}}}{}",
                Shown(&b.pipe, src),
                Shown(&b.list, src)
            )?;
            if let Some(e) = &b.else_list {
                write!(f, "{{{{else}}}}{}", Shown(e, src))?;
            }
            f.write_str("{{end}}")
        };
        match self.0 {
            Node::Text(text) => f.write_str(&crate::gofmt::quote(text.of(src.text), false)),
            Node::Action(pipe) => write!(f, "{{{{{}}}}}", Shown(pipe, src)),
            Node::If(b) => branch(f, "if", b),
            Node::With(b) => branch(f, "with", b),
            Node::Range(b) => branch(f, "range", b),
            Node::Template { name, pipe, .. } => match pipe {
                Some(p) => write!(
                    f,
                    "{{{{template {} {}}}}}",
                    crate::gofmt::quote(name, false),
                    Shown(&**p, src)
                ),
                None => write!(f, "{{{{template {}}}}}", crate::gofmt::quote(name, false)),
            },
            Node::Break => f.write_str("{{break}}"),
            Node::Continue => f.write_str("{{continue}}"),
        }
    }
}

/// What ends an item list.
enum Stop {
    End,
    Else,
}

/// Parses `text` under `name`; returns the top-level tree and every `define`/`block` in it.
pub(crate) fn parse(name: &str, text: &str, funcs: &Functions) -> Result<(Tree, Vec<Tree>), Error> {
    parse_shared(name, &Arc::new(text.to_owned()), funcs)
}

/// [`parse`] of a shared source, which the trees keep instead of a copy.
pub(crate) fn parse_shared(
    name: &str,
    shared: &Arc<String>,
    funcs: &Functions,
) -> Result<(Tree, Vec<Tree>), Error> {
    let text = shared.as_str();
    if text.len() > MAX_INPUT {
        return Err(Error::Parse {
            name: name.to_string(),
            line: 1,
            message: format!("template longer than {MAX_INPUT} bytes"),
        });
    }
    let src = text;
    let Lexed {
        items,
        error: lex_error,
    } = lex(text);
    let parse_name: Arc<str> = Arc::from(name);
    let text = Arc::clone(shared);
    let mut p = Parser {
        items,
        src,
        lex_error,
        i: 0,
        furthest: 0,
        parse_name: parse_name.clone(),
        funcs,
        vars: vec!["$"],
        range_depth: 0,
        depth: 0,
        action_line: 0,
        defined: Vec::new(),
        nodes: Vec::new(),
        cmds: Vec::new(),
        args: Vec::new(),
        arena: Arena::default(),
        stack_base: crate::exec::stack_addr(),
    };
    let root = p.parse_top()?;
    let arena = Arc::new(std::mem::take(&mut p.arena));
    let tree = |name: String, root: List| Tree {
        name,
        parse_name: Arc::clone(&parse_name),
        text: Arc::clone(&text),
        arena: Arc::clone(&arena),
        root,
    };
    let top = tree(name.to_string(), root);
    let defined = p.defined.into_iter().map(|(n, r)| tree(n, r)).collect();
    Ok((top, defined))
}

struct Parser<'a, 't> {
    items: Vec<Item>,
    /// The text being parsed, which the items are ranges of.
    src: &'t str,
    /// The lexer's message when the last item is an error.
    lex_error: String,
    i: usize,
    furthest: usize,
    parse_name: Arc<str>,
    funcs: &'a Functions,
    /// The variables in scope, for "undefined variable".
    vars: Vec<&'t str>,
    range_depth: usize,
    depth: usize,
    action_line: usize,
    /// The `define`s and `block`s: names and bodies.
    defined: Vec<(String, List)>,
    /// The nodes of the lists being parsed, innermost last (see [`Parser::take_list`]).
    nodes: Vec<Node>,
    /// The commands of the pipelines being parsed, innermost last.
    cmds: Vec<Command>,
    /// The arguments of the commands being parsed, innermost last.
    args: Vec<Arg>,
    /// Where completed lists go.
    arena: Arena,
    stack_base: usize,
}

type Res<T> = Result<T, Error>;

impl<'t> Parser<'_, 't> {
    fn next(&mut self) -> Item {
        let idx = self.i.min(self.items.len() - 1);
        self.i = idx + 1;
        self.furthest = self.furthest.max(idx);
        self.items[idx]
    }

    /// An item's text (borrowed from the source, not from the parser).
    fn val(&self, item: &Item) -> &'t str {
        item.text(self.src)
    }

    fn backup(&mut self) {
        self.i -= 1;
    }

    fn peek(&mut self) -> Item {
        let idx = self.i.min(self.items.len() - 1);
        self.furthest = self.furthest.max(idx);
        self.items[idx]
    }

    fn peek_kind(&self) -> Kind {
        self.items[self.i.min(self.items.len() - 1)].kind
    }

    /// Whether a field follows with no space between (`x.a`, `(…).a`): a field chain.
    fn at_adjacent_field(&self) -> bool {
        let next = self.items[self.i.min(self.items.len() - 1)];
        next.kind == Kind::Field && !next.space_before
    }

    fn error<T>(&self, message: impl Into<String>) -> Res<T> {
        Err(Error::Parse {
            name: self.parse_name.to_string(),
            line: self.items[self.furthest.min(self.items.len() - 1)].line(),
            message: message.into(),
        })
    }

    fn unexpected<T>(&self, token: &Item, context: &str) -> Res<T> {
        if token.kind == Kind::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line() {
                extra = format!(
                    " in action started at {}:{}",
                    self.parse_name, self.action_line
                );
                if self.lex_error.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.error(format!("{}{extra}", self.lex_error));
        }
        self.error(format!("unexpected {} in {context}", token.shown(self.src)))
    }

    fn expect(&mut self, kind: Kind, context: &str) -> Res<Item> {
        let t = self.next();
        if t.kind != kind {
            return self.unexpected(&t, context);
        }
        Ok(t)
    }

    fn unquote(&self, token: &Item) -> Res<String> {
        match unquote(self.val(token)) {
            Some(s) => Ok(s),
            None => self.error("invalid syntax"),
        }
    }

    fn too_deep(&self) -> bool {
        self.depth >= MAX_NESTING
            || self.stack_base.abs_diff(crate::exec::stack_addr()) > MAX_PARSE_STACK
    }

    fn enter(&mut self, message: &str) -> Res<()> {
        if self.too_deep() {
            return self.error(message.to_string());
        }
        self.depth += 1;
        Ok(())
    }

    fn parse_top(&mut self) -> Res<List> {
        let base = self.nodes.len();
        while self.peek_kind() != Kind::Eof {
            if self.peek_kind() == Kind::LeftDelim {
                let mark = self.i;
                self.next();
                if self.next().kind == Kind::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.i = mark;
            }
            match self.text_or_action()? {
                Parsed::Node(n) => self.nodes.push(n),
                Parsed::Stop(Stop::End) => return self.error("unexpected {{end}}"),
                Parsed::Stop(Stop::Else) => return self.error("unexpected {{else}}"),
                Parsed::None => {}
            }
        }
        Ok(self.take_list(base))
    }

    /// The nodes pushed since `base`, moved to the arena. Lists, pipelines and commands are
    /// built on the parser's stacks ([`Parser::nodes`]), since an inner one (a parenthesized
    /// pipeline, an `if` in a list) is completed before the outer one: each is then added to
    /// the arena whole, its items consecutive.
    fn take_list(&mut self, base: usize) -> List {
        List {
            nodes: move_run(&mut self.arena.nodes, &mut self.nodes, base),
        }
    }

    /// A list of one node.
    fn single(&mut self, node: Node) -> List {
        let base = self.nodes.len();
        self.nodes.push(node);
        self.take_list(base)
    }

    fn with_sub_tree<T>(&mut self, f: impl FnOnce(&mut Self) -> Res<T>) -> Res<T> {
        let vars = std::mem::replace(&mut self.vars, vec!["$"]);
        let range_depth = std::mem::replace(&mut self.range_depth, 0);
        let r = f(self);
        self.vars = vars;
        self.range_depth = range_depth;
        r
    }

    fn parse_definition(&mut self) -> Res<()> {
        const CONTEXT: &str = "define clause";
        let token = self.next();
        if !matches!(token.kind, Kind::String | Kind::RawString) {
            return self.unexpected(&token, CONTEXT);
        }
        let name = self.unquote(&token)?;
        self.expect(Kind::RightDelim, CONTEXT)?;
        let (list, stop) = self.with_sub_tree(|p| p.item_list())?;
        if let Stop::Else = stop {
            return self.error(format!("unexpected {{{{else}}}} in {CONTEXT}"));
        }
        self.add_tree(name, list)
    }

    /// Go's `Tree.add`: a second non-empty definition of a name in one parse is an error.
    fn add_tree(&mut self, name: String, root: List) -> Res<()> {
        let src = Source {
            text: self.src,
            arena: &self.arena,
        };
        if let Some(i) = self.defined.iter().position(|(n, _)| *n == name) {
            if src.is_empty(&self.defined[i].1) {
                self.defined[i] = (name, root);
            } else if !src.is_empty(&root) {
                return self.error(format!(
                    "template: multiple definition of template {}",
                    crate::gofmt::quote(&name, false)
                ));
            }
            return Ok(());
        }
        self.defined.push((name, root));
        Ok(())
    }

    fn item_list(&mut self) -> Res<(List, Stop)> {
        let base = self.nodes.len();
        while self.peek().kind != Kind::Eof {
            match self.text_or_action()? {
                Parsed::Node(n) => self.nodes.push(n),
                Parsed::Stop(s) => return Ok((self.take_list(base), s)),
                Parsed::None => {}
            }
        }
        self.error("unexpected EOF")
    }

    fn text_or_action(&mut self) -> Res<Parsed> {
        let token = self.next();
        match token.kind {
            Kind::Text => Ok(Parsed::Node(Node::Text(Span::new(
                token.pos(),
                token.pos() + self.val(&token).len(),
            )))),
            Kind::LeftDelim => {
                let saved = self.action_line;
                self.action_line = token.line();
                let r = self.action();
                self.action_line = saved;
                r
            }
            _ => self.unexpected(&token, "input"),
        }
    }

    fn action(&mut self) -> Res<Parsed> {
        let token = self.next();
        match token.kind {
            Kind::Block => return self.block_control().map(Parsed::Node),
            Kind::Break | Kind::Continue => {
                let word = if token.kind == Kind::Break {
                    "break"
                } else {
                    "continue"
                };
                let t = self.next();
                if t.kind != Kind::RightDelim {
                    return self.unexpected(&t, &format!("{{{{{word}}}}}"));
                }
                if self.range_depth == 0 {
                    return self.error(format!("{{{{{word}}}}} outside {{{{range}}}}"));
                }
                return Ok(Parsed::Node(if token.kind == Kind::Break {
                    Node::Break
                } else {
                    Node::Continue
                }));
            }
            Kind::Else => {
                let peek = self.peek();
                if !matches!(peek.kind, Kind::If | Kind::With) {
                    self.expect(Kind::RightDelim, "else")?;
                }
                return Ok(Parsed::Stop(Stop::Else));
            }
            Kind::End => {
                self.expect(Kind::RightDelim, "end")?;
                return Ok(Parsed::Stop(Stop::End));
            }
            Kind::If => {
                return self
                    .control("if")
                    .map(|b| Parsed::Node(Node::If(Box::new(b))));
            }
            Kind::Range => {
                return self
                    .control("range")
                    .map(|b| Parsed::Node(Node::Range(Box::new(b))));
            }
            Kind::With => {
                return self
                    .control("with")
                    .map(|b| Parsed::Node(Node::With(Box::new(b))));
            }
            Kind::Template => return self.template_control().map(Parsed::Node),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", Kind::RightDelim)?;
        Ok(Parsed::Node(Node::Action(pipe)))
    }

    fn control(&mut self, context: &str) -> Res<Branch> {
        self.enter("max nesting depth exceeded")?;
        let vars = self.vars.len();
        let r = self.control_inner(context);
        self.vars.truncate(vars);
        self.depth -= 1;
        r
    }

    fn control_inner(&mut self, context: &str) -> Res<Branch> {
        let pipe = self.pipeline(context, Kind::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, stop) = r?;
        let mut else_list = None;
        if let Stop::Else = stop {
            let pk = self.peek_kind();
            if context == "if" && pk == Kind::If {
                self.next();
                let b = self.control("if")?;
                else_list = Some(self.single(Node::If(Box::new(b))));
            } else if context == "with" && pk == Kind::With {
                self.next();
                let b = self.control("with")?;
                else_list = Some(self.single(Node::With(Box::new(b))));
            } else {
                let (l, stop) = self.item_list()?;
                if let Stop::Else = stop {
                    return self.error("expected end; found {{else}}");
                }
                else_list = Some(l);
            }
        }
        Ok(Branch {
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&mut self, token: &Item, context: &str) -> Res<String> {
        match token.kind {
            Kind::String | Kind::RawString => self.unquote(token),
            _ => self.unexpected(token, context),
        }
    }

    fn template_control(&mut self) -> Res<Node> {
        const CONTEXT: &str = "template clause";
        let token = self.next();
        let name = self.template_name(&token, CONTEXT)?;
        let mut pipe = None;
        if self.next().kind != Kind::RightDelim {
            self.backup();
            pipe = Some(Box::new(self.pipeline(CONTEXT, Kind::RightDelim)?));
        }
        Ok(Node::Template {
            pos: token.pos() as u32,
            name: name.into_boxed_str(),
            pipe,
        })
    }

    fn block_control(&mut self) -> Res<Node> {
        const CONTEXT: &str = "block clause";
        let token = self.next();
        let name = self.template_name(&token, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Kind::RightDelim)?;
        self.enter("max nesting depth exceeded")?;
        let r = self.with_sub_tree(|p| p.item_list());
        self.depth -= 1;
        let (list, stop) = r?;
        if let Stop::Else = stop {
            return self.error(format!("unexpected {{{{else}}}} in {CONTEXT}"));
        }
        self.add_tree(name.clone(), list)?;
        Ok(Node::Template {
            pos: token.pos() as u32,
            name: name.into_boxed_str(),
            pipe: Some(Box::new(pipe)),
        })
    }

    fn pipeline(&mut self, context: &str, end: Kind) -> Res<Pipe> {
        let cmds = self.cmds.len();
        let pos = self.peek().pos() as u32;
        let mut is_assign = false;
        let mut decl: Vec<Span> = Vec::new();
        'decls: loop {
            let v = self.peek();
            if v.kind != Kind::Variable {
                break;
            }
            let mark = self.i;
            self.next();
            let after_var = self.peek();
            let next = self.peek();
            match next.kind {
                Kind::Assign | Kind::Declare => {
                    is_assign = next.kind == Kind::Assign;
                    self.next();
                    decl.push(Span::new(v.pos(), v.pos() + self.val(&v).len()));
                    self.vars.push(self.val(&v));
                }
                Kind::Char if self.val(&next) == "," => {
                    self.next();
                    decl.push(Span::new(v.pos(), v.pos() + self.val(&v).len()));
                    self.vars.push(self.val(&v));
                    if context == "range" && decl.len() < 2 {
                        match self.peek().kind {
                            Kind::Variable | Kind::RightDelim | Kind::RightParen => {
                                continue 'decls;
                            }
                            _ => return self.error("range can only initialize variables"),
                        }
                    }
                    return self.error(format!("too many declarations in {context}"));
                }
                _ => {
                    let _ = after_var;
                    self.i = mark;
                }
            }
            break;
        }
        loop {
            let token = self.next();
            if token.kind == end {
                let pipe = Pipe {
                    pos,
                    is_assign,
                    decl: move_run(&mut self.arena.spans, &mut decl, 0),
                    cmds: move_run(&mut self.arena.cmds, &mut self.cmds, cmds),
                };
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match token.kind {
                Kind::Bool
                | Kind::CharConstant
                | Kind::Complex
                | Kind::Dot
                | Kind::Field
                | Kind::Identifier
                | Kind::Number
                | Kind::Nil
                | Kind::RawString
                | Kind::String
                | Kind::Variable
                | Kind::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    self.cmds.push(cmd);
                }
                _ => return self.unexpected(&token, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> Res<()> {
        let cmds = self.arena.cmds(pipe.cmds);
        if cmds.is_empty() {
            return self.error(format!("missing value for {context}"));
        }
        for (i, c) in cmds.iter().enumerate().skip(1) {
            if matches!(
                self.arena.args(c.args)[0],
                Arg::Bool { .. }
                    | Arg::Dot { .. }
                    | Arg::Nil { .. }
                    | Arg::Number { .. }
                    | Arg::String { .. }
            ) {
                return self.error(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> Res<Command> {
        let pos = self.peek().pos() as u32;
        let base = self.args.len();
        // The item whose preceding space ended the last operand: Go reads that space as an
        // item of its own, once, and then tries for another operand.
        let mut space_taken_at = usize::MAX;
        loop {
            self.peek();
            if let Some(op) = self.operand()? {
                self.args.push(op);
            }
            let token = self.peek();
            if token.space_before && self.i != space_taken_at {
                space_taken_at = self.i;
                continue;
            }
            self.next();
            match token.kind {
                Kind::RightDelim | Kind::RightParen => self.backup(),
                Kind::Pipe => {}
                _ => return self.unexpected(&token, "operand"),
            }
            break;
        }
        if self.args.len() == base {
            return self.error("empty command");
        }
        Ok(Command {
            pos,
            args: move_run(&mut self.arena.args, &mut self.args, base),
        })
    }

    fn operand(&mut self) -> Res<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        // A field or variable has taken the fields that follow it (see `term`).
        if !self.at_adjacent_field() {
            return Ok(Some(node));
        }
        let pos = self.peek().pos() as u32;
        let mut fields = Vec::with_capacity(self.adjacent_fields());
        self.take_adjacent_fields(&mut fields);
        match node {
            Arg::Bool { .. }
            | Arg::String { .. }
            | Arg::Number { .. }
            | Arg::Nil { .. }
            | Arg::Dot { .. } => {
                let src = Source {
                    text: self.src,
                    arena: &self.arena,
                };
                let shown = crate::gofmt::quote(&Shown(&node, src).to_string(), false);
                self.error(format!("unexpected . after term {shown}"))
            }
            node => Ok(Some(Arg::Chain(Box::new(Chain {
                pos,
                node,
                fields: move_run(&mut self.arena.spans, &mut fields, 0),
            })))),
        }
    }

    /// Takes the fields that follow with no space between (`.b.c` of `.a.b.c`); returns the
    /// position of the first, which Go gives the whole chain, or `None` when none follows.
    fn take_adjacent_fields(&mut self, into: &mut Vec<Span>) -> Option<usize> {
        let mut chain_pos = None;
        while self.at_adjacent_field() {
            let f = self.next();
            chain_pos.get_or_insert(f.pos());
            into.push(Span::new(f.pos() + 1, f.pos() + self.val(&f).len()));
        }
        chain_pos
    }

    fn term(&mut self) -> Res<Option<Arg>> {
        let token = self.next();
        let pos = token.pos();
        let span = Span::new(pos, pos + self.val(&token).len());
        let pos32 = pos as u32;
        Ok(Some(match token.kind {
            Kind::Identifier => {
                if !self.funcs.contains(self.val(&token)) {
                    return self.error(format!(
                        "function {} not defined",
                        crate::gofmt::quote(self.val(&token), false)
                    ));
                }
                Arg::Identifier {
                    pos: pos32,
                    name: span,
                }
            }
            Kind::Dot => Arg::Dot { pos: pos32 },
            Kind::Nil => Arg::Nil { pos: pos32 },
            Kind::Variable => {
                let mut at = pos;
                let text = self.val(&token);
                let mut idents =
                    Vec::with_capacity(text.split('.').count() + self.adjacent_fields());
                for part in text.split('.') {
                    idents.push(Span::new(at, at + part.len()));
                    at += part.len() + 1;
                }
                let name = idents[0].of(self.src);
                if !self.vars.contains(&name) {
                    return self.error(format!(
                        "undefined variable {}",
                        crate::gofmt::quote(name, false)
                    ));
                }
                // The fields that follow are the variable's (`$x.a` then `.b`): Go makes one
                // variable node of them, placed at the first of them.
                let pos = self.take_adjacent_fields(&mut idents).unwrap_or(pos);
                Arg::Variable {
                    pos: pos as u32,
                    idents: move_run(&mut self.arena.spans, &mut idents, 0),
                }
            }
            Kind::Field => {
                let mut idents = Vec::with_capacity(1 + self.adjacent_fields());
                idents.push(Span::new(pos + 1, span.end as usize));
                let pos = self.take_adjacent_fields(&mut idents).unwrap_or(pos);
                Arg::Field {
                    pos: pos as u32,
                    idents: move_run(&mut self.arena.spans, &mut idents, 0),
                }
            }
            Kind::Bool => Arg::Bool {
                pos: pos32,
                value: self.val(&token) == "true",
            },
            Kind::CharConstant | Kind::Complex | Kind::Number => {
                let num = match self.number(&token) {
                    Ok(n) => n,
                    Err(msg) => return self.error(msg),
                };
                Arg::Number {
                    pos: pos32,
                    text: span,
                    num: Box::new(num),
                }
            }
            Kind::LeftParen => {
                if self.too_deep() {
                    return self.error("max expression depth exceeded");
                }
                self.depth += 1;
                let r = self.pipeline("parenthesized pipeline", Kind::RightParen);
                self.depth -= 1;
                Arg::Pipe(Box::new(r?))
            }
            Kind::String | Kind::RawString => {
                let unquoted = match unquote_cow(self.val(&token)) {
                    None => return self.error("invalid syntax"),
                    Some(Cow::Borrowed(_)) => None,
                    Some(Cow::Owned(s)) => Some(Box::new(s)),
                };
                Arg::String {
                    pos: pos32,
                    quoted: span,
                    unquoted,
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }

    /// How many fields follow with no space between (`.a.b.c` is three field items).
    fn adjacent_fields(&self) -> usize {
        self.items
            .get(self.i..)
            .unwrap_or_default()
            .iter()
            .take_while(|t| t.kind == Kind::Field && !t.space_before)
            .count()
    }

    fn number(&self, token: &Item) -> Result<Number, String> {
        let text: &str = self.val(token);
        let mut n = Number {
            is_int: false,
            int: 0,
            is_uint: false,
            is_float: false,
            float: 0.0,
        };
        match token.kind {
            Kind::CharConstant => {
                let c = unquote_char(text).ok_or_else(|| {
                    // One character (or escape) followed by more is Go's "malformed".
                    let inner = &text[1..text.len().saturating_sub(1).max(1)];
                    if !inner.starts_with('\\') && inner.chars().count() > 1 {
                        format!("malformed character constant: {text}")
                    } else {
                        "invalid syntax".to_string()
                    }
                })?;
                n.is_int = true;
                n.int = c as i64;
                n.is_uint = true;
                n.is_float = true;
                n.float = c as u32 as f64;
                return Ok(n);
            }
            Kind::Complex => {
                return Err(format!(
                    "complex constants are not supported: {}",
                    crate::gofmt::quote(text, false)
                ));
            }
            _ => {}
        }
        if text.ends_with('i') {
            return Err(format!(
                "complex constants are not supported: {}",
                crate::gofmt::quote(text, false)
            ));
        }
        let u = parse_go_uint(text);
        if let Some(u) = u {
            n.is_uint = true;
            n.int = u as i64;
        }
        if let Some(i) = parse_go_int(text) {
            n.is_int = true;
            n.int = i;
            if i == 0 {
                n.is_uint = true;
            }
        }
        if n.is_int {
            n.is_float = true;
            n.float = n.int as f64;
        } else if let Some(u) = u {
            n.is_float = true;
            n.float = u as f64;
        } else if let Some(f) = parse_go_float(text) {
            if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                return Err(format!(
                    "integer overflow: {}",
                    crate::gofmt::quote(text, false)
                ));
            }
            n.is_float = true;
            n.float = f;
            if f.fract() == 0.0
                && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f)
            {
                n.is_int = true;
                n.int = f as i64;
            }
            if f.fract() == 0.0 && (0.0..1.844_674_407_370_955_2e19).contains(&f) {
                n.is_uint = true;
            }
        }
        if !n.is_int && !n.is_uint && !n.is_float {
            return Err(format!(
                "illegal number syntax: {}",
                crate::gofmt::quote(text, false)
            ));
        }
        Ok(n)
    }
}

enum Parsed {
    Node(Node),
    Stop(Stop),
    #[allow(dead_code)]
    None,
}

/// Splits a Go integer literal into sign, base and digits (underscores only between digits with
/// a base prefix or digits, as `strconv.ParseInt(s, 0, 64)` accepts).
fn split_int(text: &str) -> Option<(bool, u32, std::borrow::Cow<'_, str>)> {
    let (neg, rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    // Plain decimal (`0`, `3`, `8080`), nearly every number in a chart: nothing to rewrite.
    if !rest.is_empty()
        && rest.bytes().all(|c| c.is_ascii_digit())
        && (rest.len() == 1 || !rest.starts_with('0'))
    {
        return Some((neg, 10, std::borrow::Cow::Borrowed(rest)));
    }
    let lower = rest.to_ascii_lowercase();
    let (base, digits, prefixed) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d.to_string(), true)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d.to_string(), true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, lower[1..].to_string(), true)
    } else {
        (10, lower.clone(), false)
    };
    if !underscores_ok(&digits, prefixed) {
        return None;
    }
    let digits: String = digits.chars().filter(|c| *c != '_').collect();
    if digits.is_empty() {
        return None;
    }
    Some((neg, base, std::borrow::Cow::Owned(digits)))
}

fn underscores_ok(digits: &str, prefixed: bool) -> bool {
    if !digits.contains('_') {
        return true;
    }
    let b = digits.as_bytes();
    // '_' must separate digits (or follow the base prefix).
    for (i, c) in b.iter().enumerate() {
        if *c == b'_' {
            let prev_ok = if i == 0 { prefixed } else { b[i - 1] != b'_' };
            let next_ok = i + 1 < b.len() && b[i + 1] != b'_';
            if !prev_ok || !next_ok {
                return false;
            }
        }
    }
    true
}

fn parse_go_uint(text: &str) -> Option<u64> {
    let (neg, base, digits) = split_int(text)?;
    if neg || text.starts_with('+') {
        return None;
    }
    u64::from_str_radix(&digits, base).ok()
}

fn parse_go_int(text: &str) -> Option<i64> {
    let (neg, base, digits) = split_int(text)?;
    let u = u128::from_str_radix(&digits, base).ok()?;
    if neg {
        if u > (i64::MAX as u128) + 1 {
            return None;
        }
        Some((-(u as i128)) as i64)
    } else {
        i64::try_from(u).ok()
    }
}

pub(crate) fn parse_go_float(text: &str) -> Option<f64> {
    let lower = text.to_ascii_lowercase();
    let (neg, body) = match lower.as_bytes().first()? {
        b'-' => (true, &lower[1..]),
        b'+' => (false, &lower[1..]),
        _ => (false, &lower[..]),
    };
    if let Some(hex) = body.strip_prefix("0x") {
        return parse_hex_float(hex).map(|f| if neg { -f } else { f });
    }
    if body.contains("inf") || body.contains("nan") || body.starts_with('_') {
        return None;
    }
    if body.contains('_') && !float_underscores_ok(body) {
        return None;
    }
    let clean: String = body.chars().filter(|c| *c != '_').collect();
    let f: f64 = clean.parse().ok()?;
    Some(if neg { -f } else { f })
}

fn float_underscores_ok(body: &str) -> bool {
    let b = body.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c == b'_' {
            let prev = i > 0 && b[i - 1].is_ascii_digit();
            let next = i + 1 < b.len() && b[i + 1].is_ascii_digit();
            if !prev || !next {
                return false;
            }
        }
    }
    true
}

fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = match s.find('p') {
        Some(i) => (&s[..i], s[i + 1..].replace('_', "").parse::<i32>().ok()?),
        None => return None, // A hex float needs its 'p' exponent.
    };
    let mant: String = mant.chars().filter(|c| *c != '_').collect();
    let (int, frac) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (&mant[..], ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v = 0f64;
    for c in int.chars() {
        v = v * 16.0 + c.to_digit(16)? as f64;
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        v += c.to_digit(16)? as f64 * scale;
        scale /= 16.0;
    }
    Some(v * 2f64.powi(exp))
}

/// Go's `strconv.Unquote` for `"…"` and `` `…` `` literals.
pub(crate) fn unquote(s: &str) -> Option<String> {
    unquote_cow(s).map(Cow::into_owned)
}

/// [`unquote`], borrowing what is between the quotes when that is the value (no escape, no
/// carriage return in a raw string): nearly every literal.
pub(crate) fn unquote_cow(s: &str) -> Option<Cow<'_, str>> {
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        let inner = &s[1..s.len() - 1];
        if memchr::memchr2(b'`', b'\r', inner.as_bytes()).is_none() {
            return Some(Cow::Borrowed(inner));
        }
        if inner.contains('`') {
            return None;
        }
        return Some(Cow::Owned(inner.replace('\r', "")));
    }
    if s.len() < 2 || !s.starts_with('"') || !s.ends_with('"') {
        return None;
    }
    let inner = &s[1..s.len() - 1];
    // Most literals have no escape: they are their text (found with one vectorised scan).
    if memchr::memchr3(b'\\', b'"', b'\n', inner.as_bytes()).is_none() {
        return Some(Cow::Borrowed(inner));
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut chars = inner.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match c {
            '"' | '\n' => return None,
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'a' => out.push(7),
                    'b' => out.push(8),
                    'f' => out.push(12),
                    'n' => out.push(b'\n'),
                    'r' => out.push(b'\r'),
                    't' => out.push(b'\t'),
                    'v' => out.push(11),
                    '\\' => out.push(b'\\'),
                    '"' => out.push(b'"'),
                    'x' => {
                        let mut v = 0u32;
                        for _ in 0..2 {
                            v = v * 16 + chars.next()?.1.to_digit(16)?;
                        }
                        out.push(v as u8);
                    }
                    '0'..='7' => {
                        let mut v = e.to_digit(8)?;
                        for _ in 0..2 {
                            v = v * 8 + chars.next()?.1.to_digit(8)?;
                        }
                        if v > 255 {
                            return None;
                        }
                        out.push(v as u8);
                    }
                    'u' | 'U' => {
                        let n = if e == 'u' { 4 } else { 8 };
                        let mut v = 0u32;
                        for _ in 0..n {
                            v = v * 16 + chars.next()?.1.to_digit(16)?;
                        }
                        let c = char::from_u32(v)?;
                        let mut buf = [0; 4];
                        out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    }
                    _ => return None,
                }
            }
            c => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    // `\x` and octal escapes may make invalid UTF-8; Go keeps the bytes, we replace them.
    Some(Cow::Owned(String::from_utf8_lossy(&out).into_owned()))
}

/// Go's `strconv.UnquoteChar` over a whole `'…'` literal.
fn unquote_char(s: &str) -> Option<char> {
    let inner = s.strip_prefix('\'')?.strip_suffix('\'')?;
    let mut chars = inner.chars();
    let c = chars.next()?;
    if c != '\\' {
        if chars.next().is_some() || c == '\'' || c == '\n' {
            return None;
        }
        return Some(c);
    }
    let e = chars.next()?;
    let rest: String = chars.collect();
    let hex = |n: usize| -> Option<char> {
        if rest.len() != n {
            return None;
        }
        char::from_u32(u32::from_str_radix(&rest, 16).ok()?)
    };
    let simple = |c: char| if rest.is_empty() { Some(c) } else { None };
    match e {
        'a' => simple('\x07'),
        'b' => simple('\x08'),
        'f' => simple('\x0c'),
        'n' => simple('\n'),
        'r' => simple('\r'),
        't' => simple('\t'),
        'v' => simple('\x0b'),
        '\\' => simple('\\'),
        '\'' => simple('\''),
        'x' => hex(2),
        'u' => hex(4),
        'U' => hex(8),
        '0'..='7' => {
            if rest.len() != 2 {
                return None;
            }
            let v = u32::from_str_radix(&format!("{e}{rest}"), 8).ok()?;
            if v > 255 {
                return None;
            }
            char::from_u32(v)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        match parse("t", text, &Functions::builtins()) {
            Ok(_) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn literals_unquote_as_go_unquotes_them() {
        assert_eq!(unquote(r#""plain é""#).as_deref(), Some("plain é"));
        assert_eq!(unquote(r#""a\tb\x41\u00e9""#).as_deref(), Some("a\tbAé"));
        assert_eq!(unquote("\"a\nb\""), None);
        assert_eq!(unquote(r#""a"b""#), None);
        assert_eq!(unquote(r#""a\""#), None);
        assert_eq!(unquote("`a\r\nb`").as_deref(), Some("a\nb"));
        assert_eq!(
            unquote("`{\"a\": \"\\n\"}`").as_deref(),
            Some("{\"a\": \"\\n\"}")
        );
    }

    #[test]
    fn parse_errors_are_go_texts() {
        assert_eq!(
            err("{{ nope }}"),
            r#"template: t:1: function "nope" not defined"#
        );
        assert_eq!(err("{{ if }}"), "template: t:1: missing value for if");
        assert_eq!(err("a\n{{ end }}"), "template: t:2: unexpected {{end}}");
        assert_eq!(err("{{ $x }}"), r#"template: t:1: undefined variable "$x""#);
        assert_eq!(err("{{ if 1 }}"), "template: t:1: unexpected EOF");
        assert_eq!(
            err("{{ break }}"),
            "template: t:1: {{break}} outside {{range}}"
        );
        assert_eq!(
            err("{{ 1 | 2 }}"),
            "template: t:1: non executable command in pipeline stage 2"
        );
        assert_eq!(
            err("{{ \"a\".b }}"),
            r#"template: t:1: unexpected . after term "\"a\"""#
        );
        assert_eq!(
            err("{{ 99999999999999999999 }}"),
            r#"template: t:1: integer overflow: "99999999999999999999""#
        );
    }

    #[test]
    fn numbers_follow_go() {
        let p = |t: &str| {
            let (tree, _) = parse("t", &format!("{{{{{t}}}}}"), &Functions::builtins()).unwrap();
            match &tree.arena.nodes(tree.root.nodes)[0] {
                Node::Action(pipe) => match &tree.arena.args(tree.arena.cmds(pipe.cmds)[0].args)[0]
                {
                    Arg::Number { num, .. } => **num,
                    other => panic!("{other:?}"),
                },
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(p("0x1F").int, 31);
        assert_eq!(p("'a'").int, 97);
        assert!(p("1e3").is_int);
        assert_eq!(p("1_000").int, 1000);
        assert_eq!(p("0o17").int, 15);
        assert_eq!(p("017").int, 15);
        assert_eq!(p("1.5").float, 1.5);
    }
}
