//! The executor: walks a tree over a value as Go's `text/template` does, with Go's variable
//! scoping, truth, field lookup, function-call and error rules.

use crate::error::ExecError;
use crate::funcs::{Function, Ty};
use crate::parse::{
    Arena, Arg, Branch, Command, List, Node, Number, Pipe, Shown, Source, Span, Tree,
};
use crate::{Error, MissingKey, Templates, Value, gofmt};

/// A value with whether Go would hold it in an `interface{}` (a map entry, a list element):
/// that decides between `nil pointer evaluating interface {}.x` and a silent `<no value>`, and
/// which type an error names.
#[derive(Clone, Debug)]
struct Val {
    v: Value,
    boxed: bool,
}

impl Val {
    fn plain(v: Value) -> Self {
        Val { v, boxed: false }
    }

    fn boxed(v: Value) -> Self {
        Val { v, boxed: true }
    }

    /// What a pipeline stage leaves: Go digs a value out of its interface, so a nil
    /// interface becomes the invalid value.
    fn dig(self) -> Value {
        match self.v {
            Value::Nil => Value::Missing,
            v => v,
        }
    }
}

/// The node being evaluated, for error messages.
#[derive(Clone, Copy)]
enum At<'a> {
    Node(&'a Node, u32),
    Pipe(&'a Pipe),
    Cmd(&'a Command),
    Arg(&'a Arg),
}

impl At<'_> {
    fn pos(&self) -> u32 {
        match self {
            At::Node(_, pos) => *pos,
            At::Pipe(p) => p.pos,
            At::Cmd(c) => c.pos,
            At::Arg(a) => a.pos(),
        }
    }

    /// The node as template text; `src` is what the tree it belongs to refers to.
    fn show(&self, src: Source<'_>) -> String {
        match self {
            At::Node(n, _) => Shown(*n, src).to_string(),
            At::Pipe(p) => Shown(*p, src).to_string(),
            At::Cmd(c) => Shown(*c, src).to_string(),
            At::Arg(a) => Shown(*a, src).to_string(),
        }
    }
}

/// Why a walk stopped early.
enum Flow {
    Break,
    Continue,
    Err(Error),
}

impl From<Error> for Flow {
    fn from(e: Error) -> Self {
        Flow::Err(e)
    }
}

type R<T> = Result<T, Flow>;

/// What a function sees of the execution that calls it: it can execute other templates of the
/// same set (Helm's `include` and `tpl` are built on this).
pub struct Call<'a> {
    set: &'a Templates,
    depth: usize,
    stack_base: usize,
}

impl Call<'_> {
    /// Executes the named template of the set with `dot`, one level deeper than the caller;
    /// past [`crate::Options::with_max_depth`] levels this fails instead of recursing.
    ///
    /// # Errors
    /// The template's own execution error, or Go's `no template "x" associated with template`.
    pub fn execute_template(&mut self, name: &str, dot: &Value) -> Result<String, Error> {
        self.set
            .execute_at(name, dot, self.depth + 1, Some(self.stack_base))
    }

    /// Executes the template `name` of another set (Helm's `tpl` parses its text into a copy
    /// of the calling set), one level deeper than the caller and within the same stack budget.
    ///
    /// # Errors
    /// As [`Call::execute_template`].
    pub fn execute_in(
        &mut self,
        set: &Templates,
        name: &str,
        dot: &Value,
    ) -> Result<String, Error> {
        set.execute_at(name, dot, self.depth + 1, Some(self.stack_base))
    }

    /// The set being executed (to copy it, as Helm's `tpl` does).
    pub fn templates(&self) -> &Templates {
        self.set
    }

    /// The set's options (missing-key mode, limits).
    pub fn options(&self) -> &crate::Options {
        &self.set.options
    }

    /// How many template calls deep the caller is.
    pub fn depth(&self) -> usize {
        self.depth
    }
}

pub(crate) struct State<'a> {
    set: &'a Templates,
    tree: &'a Tree,
    /// Variables in scope, innermost last: names are the tree's (`$` the template's dot).
    vars: Vec<(&'a str, Val)>,
    out: String,
    depth: usize,
    stack_base: usize,
    steps: u64,
    at: Option<At<'a>>,
}

/// An address in the current stack frame: the distance between two of them is the stack used
/// in between (stacks grow down on every platform Rust supports but a few embedded ones, and
/// the distance is taken absolute).
pub(crate) fn stack_addr() -> usize {
    let marker = 0u8;
    std::hint::black_box(&marker) as *const u8 as usize
}

/// Executes `tree` with `dot`.
pub(crate) fn run<'a>(
    set: &'a Templates,
    tree: &'a Tree,
    dot: &Value,
    depth: usize,
    stack_base: Option<usize>,
) -> Result<String, Error> {
    let dot = Val::plain(match dot {
        Value::Nil => Value::Missing,
        v => v.clone(),
    });
    let mut s = State {
        set,
        tree,
        vars: vec![("$", dot.clone())],
        out: String::new(),
        depth,
        stack_base: stack_base.unwrap_or_else(stack_addr),
        steps: 0,
        at: None,
    };
    match s.walk(&dot, &tree.root) {
        Ok(()) => Ok(s.out),
        Err(Flow::Err(e)) => Err(e),
        // The parser rejects break/continue outside range.
        Err(Flow::Break | Flow::Continue) => Ok(s.out),
    }
}

impl<'a> State<'a> {
    /// The source of the tree being walked, which its nodes' spans are ranges of.
    fn src(&self) -> &'a str {
        let tree: &'a Tree = self.tree;
        tree.src()
    }

    /// The lists of the tree being walked.
    fn arena(&self) -> &'a Arena {
        let tree: &'a Tree = self.tree;
        &tree.arena
    }

    /// What the nodes of the tree being walked refer to.
    fn source(&self) -> Source<'a> {
        let tree: &'a Tree = self.tree;
        tree.source()
    }

    fn error(&self, message: impl Into<String>) -> Flow {
        let message = message.into();
        let e = match self.at {
            Some(at) => ExecError {
                location: self.tree.location(at.pos()),
                template: self.tree.name.clone(),
                context: Some(at.show(self.tree.source())),
                message,
            },
            None => ExecError {
                location: self.tree.name.clone(),
                template: self.tree.name.clone(),
                context: None,
                message,
            },
        };
        Flow::Err(Error::Exec(Box::new(e)))
    }

    fn write(&mut self, s: &str) -> R<()> {
        let max = self.set.options.max_output_bytes;
        if self.out.len() + s.len() > max {
            return Err(self.error(format!("output exceeds the limit of {max} bytes")));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn enter(&mut self) -> R<()> {
        let used = self.stack_base.abs_diff(stack_addr());
        let max = self.set.options.max_stack_bytes;
        if used > max {
            return Err(self.error(format!(
                "exceeded maximum nesting depth (stack budget of {max} bytes)"
            )));
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Val, list: &'a List) -> R<()> {
        self.enter()?;
        let nodes = self.arena().nodes(list.nodes);
        nodes.iter().try_for_each(|n| self.walk_node(dot, n))
    }

    fn walk_node(&mut self, dot: &Val, node: &'a Node) -> R<()> {
        self.steps += 1;
        if self.steps > self.set.options.max_steps {
            let max = self.set.options.max_steps;
            return Err(self.error(format!("execution exceeded {max} steps")));
        }
        match node {
            Node::Text(text) => self.write(text.of(self.src())),
            Node::Action(pipe) => {
                self.at = Some(At::Node(node, pipe.pos));
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.at = Some(At::Node(node, pipe.pos));
                    match v {
                        Value::Missing => self.write("<no value>")?,
                        // Go prints a lone string operand as it is.
                        Value::String(s) => self.write(&s)?,
                        v => self.write(&gofmt::sprint(&[v]))?,
                    }
                }
                Ok(())
            }
            Node::If(b) => self.walk_if_with(dot, b, false),
            Node::With(b) => self.walk_if_with(dot, b, true),
            Node::Range(b) => self.walk_range(dot, node, b),
            Node::Template { pos, name, pipe } => {
                self.at = Some(At::Node(node, *pos));
                let Some(tree) = self.set.tree(name) else {
                    return Err(self.error(format!(
                        "template {} not defined",
                        gofmt::quote(name, false)
                    )));
                };
                let max = self.set.options.max_depth;
                if self.depth >= max {
                    return Err(self.error(format!("exceeded maximum template depth ({max})")));
                }
                let new_dot = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Value::Missing,
                };
                let new_dot = Val::plain(new_dot);
                let vars = std::mem::replace(&mut self.vars, vec![("$", new_dot.clone())]);
                let saved_tree = std::mem::replace(&mut self.tree, tree);
                self.depth += 1;
                let r = self.walk(&new_dot, &tree.root);
                self.depth -= 1;
                self.tree = saved_tree;
                self.vars = vars;
                r
            }
            Node::Break => Err(Flow::Break),
            Node::Continue => Err(Flow::Continue),
        }
    }

    fn walk_if_with(&mut self, dot: &Val, b: &'a Branch, with: bool) -> R<()> {
        let mark = self.vars.len();
        let r = (|| {
            let v = self.eval_pipeline(dot, &b.pipe)?;
            if v.is_true() {
                if with {
                    self.walk(&Val::plain(v), &b.list)
                } else {
                    self.walk(dot, &b.list)
                }
            } else if let Some(e) = &b.else_list {
                self.walk(dot, e)
            } else {
                Ok(())
            }
        })();
        self.vars.truncate(mark);
        r
    }

    fn set_top_var(&mut self, n: usize, v: Val) {
        let len = self.vars.len();
        self.vars[len - n].1 = v;
    }

    fn set_var(&mut self, name: &str, v: Val) -> R<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| *n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(self.error(format!("undefined variable: {name}"))),
        }
    }

    fn walk_range(&mut self, dot: &Val, node: &'a Node, b: &'a Branch) -> R<()> {
        self.at = Some(At::Node(node, b.pipe.pos));
        let outer = self.vars.len();
        let r = self.walk_range_inner(dot, b);
        self.vars.truncate(outer);
        match r {
            Err(Flow::Break) => Ok(()),
            r => r,
        }
    }

    fn one_iteration(&mut self, b: &'a Branch, index: Val, elem: Val) -> R<()> {
        self.steps += 1;
        if self.steps > self.set.options.max_steps {
            let max = self.set.options.max_steps;
            return Err(self.error(format!("execution exceeded {max} steps")));
        }
        let decl = self.arena().spans(b.pipe.decl);
        let src = self.src();
        if !decl.is_empty() {
            if b.pipe.is_assign {
                if decl.len() > 1 {
                    self.set_var(decl[0].of(src), index.clone())?;
                } else {
                    self.set_var(decl[0].of(src), elem.clone())?;
                }
            } else {
                self.set_top_var(1, elem.clone());
            }
        }
        if decl.len() > 1 {
            if b.pipe.is_assign {
                self.set_var(decl[1].of(src), elem.clone())?;
            } else {
                self.set_top_var(2, index);
            }
        }
        let mark = self.vars.len();
        let r = self.walk(&elem, &b.list);
        self.vars.truncate(mark);
        match r {
            Err(Flow::Continue) => Ok(()),
            r => r,
        }
    }

    fn walk_range_inner(&mut self, dot: &Val, b: &'a Branch) -> R<()> {
        let v = self.eval_pipeline(dot, &b.pipe)?;
        match &v {
            Value::List(items) if !items.is_empty() => {
                for (i, item) in items.iter().enumerate() {
                    self.one_iteration(
                        b,
                        Val::plain(Value::Int(i as i64)),
                        Val::boxed(item.clone()),
                    )?;
                }
                return Ok(());
            }
            Value::Map(m) if !m.is_empty() => {
                for (k, item) in m.entries() {
                    self.one_iteration(b, Val::plain(Value::String(k)), Val::boxed(item))?;
                }
                return Ok(());
            }
            Value::Int(n) | Value::Int64(n) => {
                if b.pipe.decl.len() > 1 {
                    return Err(self.error(format!(
                        "can't use {} to iterate over more than one variable",
                        gofmt::sprint(std::slice::from_ref(&v))
                    )));
                }
                if *n > 0 {
                    for i in 0..*n {
                        self.one_iteration(
                            b,
                            Val::plain(Value::Missing),
                            Val::plain(Value::Int(i)),
                        )?;
                    }
                    return Ok(());
                }
            }
            Value::Object(o) if o.entries().is_some() => {
                for (k, item) in o.entries().unwrap_or_default() {
                    self.one_iteration(b, Val::plain(Value::String(k)), Val::boxed(item))?;
                }
                if o.entries().is_some_and(|e| !e.is_empty()) {
                    return Ok(());
                }
            }
            Value::List(_) | Value::Map(_) | Value::Missing | Value::Nil => {}
            other => {
                return Err(self.error(format!(
                    "range can't iterate over {}",
                    gofmt::sprint(std::slice::from_ref(other))
                )));
            }
        }
        if let Some(e) = &b.else_list {
            self.walk(dot, e)?;
        }
        Ok(())
    }

    fn eval_pipeline(&mut self, dot: &Val, pipe: &'a Pipe) -> R<Value> {
        self.enter()?;
        self.at = Some(At::Pipe(pipe));
        let mut value: Option<Val> = None;
        for cmd in self.arena().cmds(pipe.cmds) {
            value = Some(Val::plain(self.eval_command(dot, cmd, value.take())?.dig()));
        }
        let value = value.map(|v| v.v).unwrap_or_default();
        let src = self.src();
        for name in self.arena().spans(pipe.decl) {
            if pipe.is_assign {
                self.set_var(name.of(src), Val::plain(value.clone()))?;
            } else {
                self.vars.push((name.of(src), Val::plain(value.clone())));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Arg], fin: &Option<Val>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return Err(self.error(format!(
                "can't give argument to non-function {}",
                Shown(&args[0], self.source())
            )));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Val, cmd: &'a Command, fin: Option<Val>) -> R<Val> {
        let args = self.arena().args(cmd.args);
        let first = &args[0];
        match first {
            Arg::Field { idents, .. } => {
                self.at = Some(At::Arg(first));
                return self.eval_field_chain(
                    dot,
                    dot.clone(),
                    At::Arg(first),
                    self.arena().spans(*idents),
                    args,
                    fin,
                );
            }
            Arg::Chain(_) => return self.eval_chain(dot, first, args, fin),
            Arg::Identifier { name, .. } => {
                let name = name.of(self.src());
                return self.eval_function(dot, first, name, At::Cmd(cmd), args, fin);
            }
            Arg::Pipe(p) => {
                self.not_a_function(args, &fin)?;
                return Ok(Val::plain(self.eval_pipeline(dot, p)?));
            }
            Arg::Variable { idents, .. } => {
                return self.eval_variable(dot, first, self.arena().spans(*idents), args, fin);
            }
            _ => {}
        }
        self.at = Some(At::Arg(first));
        self.not_a_function(args, &fin)?;
        Ok(match first {
            Arg::Bool { value, .. } => Val::plain(Value::Bool(*value)),
            Arg::Dot { .. } => dot.clone(),
            Arg::Nil { .. } => return Err(self.error("nil is not a command")),
            Arg::Number { num, text, .. } => {
                Val::plain(self.ideal_constant(num, text.of(self.src()))?)
            }
            Arg::String {
                quoted, unquoted, ..
            } => Val::plain(self.string_literal(*quoted, unquoted.as_deref().map(String::as_str))),
            _ => {
                return Err(self.error(format!(
                    "can't evaluate command {}",
                    Shown(first, self.source())
                )));
            }
        })
    }

    fn string_literal(&self, quoted: Span, unquoted: Option<&str>) -> Value {
        Value::String(Arg::string_value(quoted, unquoted, self.src()).to_string())
    }

    fn ideal_constant(&self, num: &Number, text: &str) -> R<Value> {
        let lower = text.to_ascii_lowercase();
        let is_hex_int =
            (lower.starts_with("0x") || lower.starts_with("-0x") || lower.starts_with("+0x"))
                && !lower.contains('p');
        let is_rune = text.starts_with('\'');
        if num.is_float && !is_hex_int && !is_rune && text.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Value::Float(num.float));
        }
        if num.is_int {
            return Ok(Value::Int(num.int));
        }
        if num.is_uint {
            return Err(self.error(format!("{text} overflows int")));
        }
        Ok(Value::Missing)
    }

    fn eval_chain(
        &mut self,
        dot: &Val,
        chain: &'a Arg,
        args: &'a [Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        let Arg::Chain(c) = chain else {
            return Err(self.error("internal error: not a chain"));
        };
        let (node, fields) = (&c.node, self.arena().spans(c.fields));
        self.at = Some(At::Arg(chain));
        if let Arg::Nil { .. } = node {
            return Err(self.error(format!(
                "indirection through explicit nil in {}",
                Shown(chain, self.source())
            )));
        }
        let receiver = match node {
            Arg::Pipe(p) => Val::plain(self.eval_pipeline(dot, p)?),
            Arg::Identifier { name, .. } => self.eval_function(
                dot,
                node,
                name.of(self.src()),
                At::Arg(node),
                std::slice::from_ref(node),
                None,
            )?,
            other => Val::plain(self.eval_arg(dot, Ty::Reflect, other)?),
        };
        // Go leaves the error position at the last node evaluated for the receiver.
        self.eval_field_chain(dot, receiver, At::Arg(chain), fields, args, fin)
    }

    fn eval_variable(
        &mut self,
        dot: &Val,
        node: &'a Arg,
        idents: &'a [Span],
        args: &'a [Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        self.at = Some(At::Arg(node));
        let name = idents[0].of(self.src());
        let Some(value) = self
            .vars
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
        else {
            return Err(self.error(format!("undefined variable: {name}")));
        };
        if idents.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, At::Arg(node), &idents[1..], args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Val,
        mut receiver: Val,
        at: At<'a>,
        idents: &'a [Span],
        args: &'a [Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        let src = self.src();
        let n = idents.len();
        for ident in &idents[..n - 1] {
            receiver = self.eval_field(dot, ident.of(src), at, &[], None, receiver)?;
        }
        self.eval_field(dot, idents[n - 1].of(src), at, args, fin, receiver)
    }

    fn eval_field(
        &mut self,
        dot: &Val,
        name: &str,
        at: At<'a>,
        args: &'a [Arg],
        fin: Option<Val>,
        receiver: Val,
    ) -> R<Val> {
        let missing_key = self.set.options.missing_key;
        match &receiver.v {
            Value::Missing => {
                if missing_key == MissingKey::Error {
                    return Err(self.error(format!(
                        "nil data; no entry for key {}",
                        gofmt::quote(name, false)
                    )));
                }
                return Ok(Val::plain(Value::Missing));
            }
            Value::Nil => {
                if !receiver.boxed && missing_key == MissingKey::Error {
                    return Err(self.error(format!(
                        "nil data; no entry for key {}",
                        gofmt::quote(name, false)
                    )));
                }
                if !receiver.boxed {
                    return Ok(Val::plain(Value::Missing));
                }
                return Err(self.error(format!("nil pointer evaluating interface {{}}.{name}")));
            }
            Value::Object(o) => {
                if let Some(f) = o.method(name) {
                    let rest = if args.is_empty() { args } else { &args[1..] };
                    return self.eval_call(dot, &f, name, at, rest, fin);
                }
                if let Some(v) = o.field(name) {
                    if args.len() > 1 || fin.is_some() {
                        return Err(self.error(format!(
                            "{name} has arguments but cannot be invoked as function"
                        )));
                    }
                    return Ok(Val::plain(v));
                }
            }
            Value::Map(m) => {
                if args.len() > 1 || fin.is_some() {
                    return Err(self.error(format!("{name} is not a method but has arguments")));
                }
                return match m.get(name) {
                    Some(v) => Ok(Val::boxed(v)),
                    None => match missing_key {
                        MissingKey::Default => Ok(Val::plain(Value::Missing)),
                        MissingKey::Zero => Ok(Val::boxed(Value::Nil)),
                        MissingKey::Error => Err(self.error(format!(
                            "map has no entry for key {}",
                            gofmt::quote(name, false)
                        ))),
                    },
                };
            }
            _ => {}
        }
        let ty = if receiver.boxed {
            "interface {}"
        } else {
            receiver.v.type_name()
        };
        Err(self.error(format!("can't evaluate field {name} in type {ty}")))
    }

    fn eval_function(
        &mut self,
        dot: &Val,
        ident: &'a Arg,
        name: &str,
        call_at: At<'a>,
        args: &'a [Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        self.at = Some(At::Arg(ident));
        let set: &'a Templates = self.set;
        let Some(f) = set.funcs.get(name) else {
            return Err(self.error(format!(
                "{} is not a defined function",
                gofmt::quote(name, false)
            )));
        };
        self.eval_call(dot, f, name, call_at, &args[1..], fin)
    }

    /// Calls `f` with the argument nodes `args` (the name excluded) and the piped `fin`.
    fn eval_call(
        &mut self,
        dot: &Val,
        f: &Function,
        name: &str,
        call_at: At<'a>,
        args: &'a [Arg],
        fin: Option<Val>,
    ) -> R<Val> {
        let num_in = args.len() + usize::from(fin.is_some());
        if f.variadic.is_some() {
            if num_in < f.params.len() {
                return Err(self.error(format!(
                    "wrong number of args for {name}: want at least {} got {}",
                    f.params.len(),
                    args.len()
                )));
            }
        } else if num_in != f.params.len() {
            return Err(self.error(format!(
                "wrong number of args for {name}: want {} got {num_in}",
                f.params.len()
            )));
        }
        let ty_of = |i: usize| -> Ty { f.params.get(i).copied().or(f.variadic).unwrap_or(Ty::Any) };
        let builtin_lazy = (name == "and" || name == "or")
            && f.params == [Ty::Reflect]
            && f.variadic == Some(Ty::Reflect)
            && self
                .set
                .funcs
                .get(name)
                .is_some_and(|g| std::sync::Arc::ptr_eq(&g.call, &f.call));
        if builtin_lazy {
            let want = name == "or";
            let mut v = Value::Missing;
            for arg in args {
                v = self.eval_arg(dot, Ty::Reflect, arg)?;
                if v.is_true() == want {
                    return Ok(Val::plain(v));
                }
            }
            if let Some(fin) = fin {
                v = self.validate(fin, Ty::Reflect)?;
            }
            return Ok(Val::plain(v));
        }
        if name == "call"
            && std::sync::Arc::ptr_eq(
                &f.call,
                &self
                    .set
                    .funcs
                    .get("call")
                    .map(|g| g.call.clone())
                    .unwrap_or_else(|| f.call.clone()),
            )
            && f.params == [Ty::Reflect]
        {
            // Go names the callee's node in call's errors.
            if let Some(first) = args.first() {
                let v = self.eval_arg(dot, Ty::Reflect, first)?;
                self.at = Some(call_at);
                return Err(if v.is_nil() {
                    self.error("error calling call: call of nil")
                } else {
                    self.error(format!(
                        "error calling call: non-function {} of type {}",
                        Shown(first, self.source()),
                        v.type_name()
                    ))
                });
            }
        }
        let mut argv = Vec::with_capacity(num_in);
        for (i, arg) in args.iter().enumerate() {
            argv.push(self.eval_arg(dot, ty_of(i), arg)?);
        }
        if let Some(fin) = fin {
            let ty = ty_of(num_in - 1);
            argv.push(self.validate(fin, ty)?);
        }
        let mut call = Call {
            set: self.set,
            depth: self.depth,
            stack_base: self.stack_base,
        };
        match (f.call)(&mut call, &argv) {
            Ok(v) => Ok(Val::plain(v)),
            Err(msg) => {
                self.at = Some(call_at);
                Err(self.error(format!("error calling {name}: {msg}")))
            }
        }
    }

    fn validate(&self, val: Val, ty: Ty) -> R<Value> {
        let v = val.v;
        let missing = matches!(v, Value::Missing) || (matches!(v, Value::Nil) && !val.boxed);
        if missing {
            return match ty {
                Ty::Reflect => Ok(Value::Missing),
                Ty::Any => Ok(Value::Nil),
                Ty::List => Ok(Value::list(Vec::new())),
                Ty::Map => Ok(Value::map(Default::default())),
                _ => Err(self.error(format!("invalid value; expected {}", ty.go_name()))),
            };
        }
        let ok = match ty {
            Ty::Any | Ty::Reflect => true,
            Ty::String => matches!(v, Value::String(_)),
            Ty::Int => matches!(v, Value::Int(_)),
            Ty::Float => matches!(v, Value::Float(_)),
            Ty::Bool => matches!(v, Value::Bool(_)),
            Ty::List => matches!(v, Value::List(_)),
            Ty::Map => matches!(v, Value::Map(_)),
        };
        if ok {
            return Ok(v);
        }
        let got = if matches!(v, Value::Nil) {
            "interface {}"
        } else {
            v.type_name()
        };
        Err(self.error(format!(
            "wrong type for value; expected {}; got {got}",
            ty.go_name()
        )))
    }

    fn eval_arg(&mut self, dot: &Val, ty: Ty, arg: &'a Arg) -> R<Value> {
        self.at = Some(At::Arg(arg));
        match arg {
            Arg::Dot { .. } => return self.validate(dot.clone(), ty),
            Arg::Nil { .. } => {
                return match ty {
                    Ty::Any => Ok(Value::Nil),
                    Ty::Reflect => Ok(Value::Missing),
                    Ty::List => Ok(Value::list(Vec::new())),
                    Ty::Map => Ok(Value::map(Default::default())),
                    _ => Err(self.error(format!("cannot assign nil to {}", ty.go_name()))),
                };
            }
            Arg::Field { idents, .. } => {
                let v = self.eval_field_chain(
                    dot,
                    dot.clone(),
                    At::Arg(arg),
                    self.arena().spans(*idents),
                    std::slice::from_ref(arg),
                    None,
                )?;
                return self.validate(v, ty);
            }
            Arg::Variable { idents, .. } => {
                let idents = self.arena().spans(*idents);
                let v = self.eval_variable(dot, arg, idents, std::slice::from_ref(arg), None)?;
                return self.validate(v, ty);
            }
            Arg::Pipe(p) => {
                let v = self.eval_pipeline(dot, p)?;
                return self.validate(Val::plain(v), ty);
            }
            Arg::Identifier { name, .. } => {
                let v = self.eval_function(
                    dot,
                    arg,
                    name.of(self.src()),
                    At::Arg(arg),
                    std::slice::from_ref(arg),
                    None,
                )?;
                return self.validate(v, ty);
            }
            Arg::Chain(_) => {
                let v = self.eval_chain(dot, arg, std::slice::from_ref(arg), None)?;
                return self.validate(v, ty);
            }
            _ => {}
        }
        let shown = || Shown(arg, self.source());
        match (ty, arg) {
            (Ty::Bool, Arg::Bool { value, .. }) => Ok(Value::Bool(*value)),
            (Ty::Bool, _) => Err(self.error(format!("expected bool; found {}", shown()))),
            (Ty::Float, Arg::Number { num, .. }) if num.is_float => Ok(Value::Float(num.float)),
            (Ty::Float, _) => Err(self.error(format!("expected float; found {}", shown()))),
            (Ty::Int, Arg::Number { num, .. }) if num.is_int => Ok(Value::Int(num.int)),
            (Ty::Int, _) => Err(self.error(format!("expected integer; found {}", shown()))),
            (
                Ty::String | Ty::Any | Ty::Reflect,
                Arg::String {
                    quoted, unquoted, ..
                },
            ) => Ok(self.string_literal(*quoted, unquoted.as_deref().map(String::as_str))),
            (Ty::String, _) => Err(self.error(format!("expected string; found {}", shown()))),
            (Ty::Any | Ty::Reflect, Arg::Bool { value, .. }) => Ok(Value::Bool(*value)),
            (Ty::Any | Ty::Reflect, Arg::Number { num, text, .. }) => {
                self.ideal_constant(num, text.of(self.src()))
            }
            _ => Err(self.error(format!(
                "can't handle {} for arg of type {}",
                shown(),
                ty.go_name()
            ))),
        }
    }
}
