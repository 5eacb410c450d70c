//! The function registry and Go's builtin functions.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

use crate::exec::Call;
use crate::{Value, gofmt};

/// The Go type of a function parameter. The executor checks arguments against it with Go's
/// rules and messages (`expected string; found 5`, `wrong type for value; expected int; got
/// float64`), so a host function declared with Go's signature fails exactly as Go would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ty {
    /// `interface{}`: anything; a missing value arrives as [`Value::Nil`].
    Any,
    /// `string`.
    String,
    /// `int`.
    Int,
    /// `float64`.
    Float,
    /// `bool`.
    Bool,
    /// `[]interface{}`; nil arrives as an empty list.
    List,
    /// `map[string]interface{}`; nil arrives as an empty map.
    Map,
    /// `reflect.Value` (Go's builtins): the value as is, [`Value::Missing`] included.
    Reflect,
}

impl Ty {
    /// The Go spelling, for error messages.
    pub fn go_name(self) -> &'static str {
        match self {
            Ty::Any => "interface {}",
            Ty::String => "string",
            Ty::Int => "int",
            Ty::Float => "float64",
            Ty::Bool => "bool",
            Ty::List => "[]interface {}",
            Ty::Map => "map[string]interface {}",
            Ty::Reflect => "reflect.Value",
        }
    }
}

type Callback = dyn Fn(&mut Call<'_>, &[Value]) -> Result<Value, String> + Send + Sync;

/// A function callable from templates: Go's parameter types and a Rust closure.
///
/// The closure gets the evaluated arguments (checked against the parameter types) and a
/// [`Call`] through which it can execute other templates of the set (Helm's `include`). Its
/// error message is shown as Go shows a function's error: `error calling NAME: MESSAGE`.
#[derive(Clone)]
pub struct Function {
    pub(crate) params: Vec<Ty>,
    pub(crate) variadic: Option<Ty>,
    pub(crate) call: Arc<Callback>,
}

impl fmt::Debug for Function {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Function")
            .field("params", &self.params)
            .field("variadic", &self.variadic)
            .finish_non_exhaustive()
    }
}

impl Function {
    /// A function taking exactly `params`.
    pub fn new(
        params: &[Ty],
        f: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        Function {
            params: params.to_vec(),
            variadic: None,
            call: Arc::new(move |_, args| f(args)),
        }
    }

    /// A function taking `params` and then any number of `rest`.
    pub fn variadic(
        params: &[Ty],
        rest: Ty,
        f: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        Function {
            params: params.to_vec(),
            variadic: Some(rest),
            call: Arc::new(move |_, args| f(args)),
        }
    }

    /// A function that can execute templates of the set through its [`Call`] (`include`).
    pub fn with_call(
        params: &[Ty],
        variadic: Option<Ty>,
        f: impl Fn(&mut Call<'_>, &[Value]) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        Function {
            params: params.to_vec(),
            variadic,
            call: Arc::new(f),
        }
    }
}

/// Named functions available to templates. A name used in a template but missing here is a
/// parse error (`function "x" not defined`), as in Go.
#[derive(Clone, Debug, Default)]
pub struct Functions {
    map: HashMap<String, Function, BuildHasherDefault<NameHasher>>,
}

/// The hash of the function table: a multiply-rotate over 8-byte words (as rustc's FxHash).
/// The table's names are the host's, not an attacker's, so the standard SipHash's resistance
/// to chosen collisions bought nothing, and hashing every name the parser and executor look
/// up was about 2% of rendering a large chart.
#[derive(Clone, Copy, Debug, Default)]
struct NameHasher(u64);

impl NameHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

/// Up to eight bytes as a little-endian word.
fn word(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .enumerate()
        .fold(0, |w, (i, &b)| w | (u64::from(b) << (8 * i)))
}

impl std::hash::Hasher for NameHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Byte by byte into words (copying slices into arrays compiled to calls to memcpy).
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.add(word(chunk));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.add(word(rest) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl Functions {
    /// No functions at all.
    pub fn empty() -> Self {
        Functions::default()
    }

    /// Go's builtins: `and or not len index slice print printf println eq ne lt le gt ge call
    /// html js urlquery`.
    pub fn builtins() -> Self {
        let mut f = Functions::default();
        add_builtins(&mut f);
        f
    }

    /// Go's builtins plus the Sprig functions implemented so far (see the crate docs).
    pub fn sprig() -> Self {
        let mut f = Functions::builtins();
        crate::sprig::register(&mut f);
        f
    }

    /// Adds or replaces a function.
    pub fn insert(&mut self, name: impl Into<String>, f: Function) -> &mut Self {
        self.map.insert(name.into(), f);
        self
    }

    /// Removes a function (Helm removes Sprig's `env` and `expandenv`).
    pub fn remove(&mut self, name: &str) -> Option<Function> {
        self.map.remove(name)
    }

    /// A function by name.
    pub fn get(&self, name: &str) -> Option<&Function> {
        self.map.get(name)
    }

    /// Whether a function of that name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// The names, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.map.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

fn add_builtins(f: &mut Functions) {
    use Ty::*;
    // and/or are evaluated lazily by the executor; these bodies are never reached through it.
    f.insert(
        "and",
        Function::variadic(&[Reflect], Reflect, |a| {
            Ok(a.iter()
                .find(|v| !v.is_true())
                .or(a.last())
                .cloned()
                .unwrap_or_default())
        }),
    );
    f.insert(
        "or",
        Function::variadic(&[Reflect], Reflect, |a| {
            Ok(a.iter()
                .find(|v| v.is_true())
                .or(a.last())
                .cloned()
                .unwrap_or_default())
        }),
    );
    f.insert(
        "not",
        Function::new(&[Reflect], |a| Ok(Value::Bool(!a[0].is_true()))),
    );
    f.insert("len", Function::new(&[Reflect], |a| length(&a[0])));
    f.insert(
        "index",
        Function::variadic(&[Reflect], Reflect, |a| index(&a[0], &a[1..])),
    );
    f.insert(
        "slice",
        Function::variadic(&[Reflect], Reflect, |a| slice(&a[0], &a[1..])),
    );
    f.insert(
        "print",
        Function::variadic(&[], Any, |a| Ok(Value::String(gofmt::sprint(a)))),
    );
    f.insert(
        "println",
        Function::variadic(&[], Any, |a| Ok(Value::String(gofmt::sprintln(a)))),
    );
    f.insert(
        "printf",
        Function::variadic(&[String], Any, |a| {
            let format = a[0].as_str().unwrap_or_default();
            Ok(Value::String(gofmt::sprintf(format, &a[1..])))
        }),
    );
    f.insert(
        "eq",
        Function::variadic(&[Reflect], Reflect, |a| eq(&a[0], &a[1..]).map(Value::Bool)),
    );
    f.insert(
        "ne",
        Function::new(&[Reflect, Reflect], |a| {
            eq(&a[0], &a[1..2]).map(|b| Value::Bool(!b))
        }),
    );
    f.insert(
        "lt",
        Function::new(&[Reflect, Reflect], |a| lt(&a[0], &a[1]).map(Value::Bool)),
    );
    f.insert(
        "le",
        Function::new(&[Reflect, Reflect], |a| le(&a[0], &a[1]).map(Value::Bool)),
    );
    f.insert(
        "gt",
        Function::new(&[Reflect, Reflect], |a| {
            le(&a[0], &a[1]).map(|b| Value::Bool(!b))
        }),
    );
    f.insert(
        "ge",
        Function::new(&[Reflect, Reflect], |a| {
            lt(&a[0], &a[1]).map(|b| Value::Bool(!b))
        }),
    );
    f.insert(
        "call",
        Function::variadic(&[Reflect], Reflect, |a| {
            if a[0].is_nil() {
                return Err("call of nil".into());
            }
            Err(format!(
                "non-function of type {} (host functions cannot be values)",
                a[0].type_name()
            ))
        }),
    );
    f.insert(
        "html",
        Function::variadic(&[], Any, |a| Ok(Value::String(html_escape(&eval_args(a))))),
    );
    f.insert(
        "js",
        Function::variadic(&[], Any, |a| Ok(Value::String(js_escape(&eval_args(a))))),
    );
    f.insert(
        "urlquery",
        Function::variadic(&[], Any, |a| Ok(Value::String(query_escape(&eval_args(a))))),
    );
}

/// Go's `evalArgs`: one string as is, else `fmt.Sprint` with nil shown as `<no value>`.
fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.clone();
    }
    let shown: Vec<Value> = args
        .iter()
        .map(|a| {
            if a.is_nil() {
                Value::string("<no value>")
            } else {
                a.clone()
            }
        })
        .collect();
    gofmt::sprint(&shown)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u00{:02X}", c as u32)),
            c if (c as u32) < 0x80 || gofmt::is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub(crate) fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn length(v: &Value) -> Result<Value, String> {
    match v {
        Value::Missing => Err("reflect: call of reflect.Value.Type on zero Value".into()),
        Value::Nil => Err("len of nil pointer".into()),
        Value::String(s) => Ok(Value::Int(s.len() as i64)),
        Value::List(l) => Ok(Value::Int(l.len() as i64)),
        Value::Map(m) => Ok(Value::Int(m.len() as i64)),
        Value::Object(o) if o.entries().is_some() => {
            Ok(Value::Int(o.entries().map_or(0, |e| e.len()) as i64))
        }
        other => Err(format!("len of type {}", other.type_name())),
    }
}

fn index_arg(index: &Value, cap: usize) -> Result<usize, String> {
    let x = match index {
        Value::Int(i) | Value::Int64(i) => *i,
        Value::Missing | Value::Nil => return Err("cannot index slice/array with nil".into()),
        other => {
            return Err(format!(
                "cannot index slice/array with type {}",
                other.type_name()
            ));
        }
    };
    if x < 0 || x as u64 > cap as u64 {
        return Err(format!("index out of range: {x}"));
    }
    Ok(x as usize)
}

fn index(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if item.is_nil() {
        return Err("index of untyped nil".into());
    }
    let mut item = item.clone();
    for ix in indexes {
        if item.is_nil() {
            return Err("index of nil pointer".into());
        }
        item = match &item {
            Value::List(l) => {
                let x = index_arg(ix, l.len())?;
                l.get(x)
                    .cloned()
                    .ok_or("reflect: slice index out of range")?
            }
            Value::String(s) => {
                let x = index_arg(ix, s.len())?;
                Value::Int(
                    *s.as_bytes()
                        .get(x)
                        .ok_or("reflect: string index out of range")? as i64,
                )
            }
            Value::Map(m) => match ix {
                Value::String(k) => m.get(k).unwrap_or(Value::Nil),
                Value::Missing | Value::Nil => {
                    return Err("value is nil; should be of type string".into());
                }
                other => {
                    return Err(format!(
                        "value has type {}; should be string",
                        other.type_name()
                    ));
                }
            },
            other => return Err(format!("can't index item of type {}", other.type_name())),
        };
    }
    Ok(item)
}

fn slice(item: &Value, indexes: &[Value]) -> Result<Value, String> {
    if item.is_nil() {
        return Err("slice of untyped nil".into());
    }
    if indexes.len() > 3 {
        return Err(format!("too many slice indexes: {}", indexes.len()));
    }
    let len = match item {
        Value::String(s) => {
            if indexes.len() == 3 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::List(l) => l.len(),
        other => return Err(format!("can't slice item of type {}", other.type_name())),
    };
    let mut idx = [0, len, len];
    for (i, ix) in indexes.iter().enumerate() {
        idx[i] = index_arg(ix, len)?;
    }
    if idx[0] > idx[1] {
        return Err(format!("invalid slice index: {} > {}", idx[0], idx[1]));
    }
    if indexes.len() == 3 && idx[1] > idx[2] {
        return Err(format!("invalid slice index: {} > {}", idx[1], idx[2]));
    }
    Ok(match item {
        Value::String(s) => {
            Value::String(String::from_utf8_lossy(&s.as_bytes()[idx[0]..idx[1]]).into_owned())
        }
        Value::List(l) => Value::list(l[idx[0]..idx[1]].to_vec()),
        _ => Value::Missing,
    })
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    String,
}

fn basic_kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Int64(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Invalid,
    }
}

/// The Go type of a value after `indirectInterface`, for comparison errors.
fn cmp_type(v: &Value) -> &str {
    v.type_name()
}

fn eq(a: &Value, others: &[Value]) -> Result<bool, String> {
    if others.is_empty() {
        return Err("missing argument for comparison".into());
    }
    let k1 = basic_kind(a);
    for b in others {
        let k2 = basic_kind(b);
        let truth = if k1 != k2 {
            if !a.is_nil() && !b.is_nil() {
                return Err(format!(
                    "incompatible types for comparison: {} and {}",
                    cmp_type(a),
                    cmp_type(b)
                ));
            }
            false
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::String(x), Value::String(y)) => x == y,
                _ => {
                    let same_kind = std::mem::discriminant(a) == std::mem::discriminant(b)
                        || a.is_nil()
                        || b.is_nil();
                    if !same_kind {
                        return Err(format!(
                            "non-comparable types {}: {}, {}: {}",
                            gofmt::sprintf("%s", std::slice::from_ref(a)),
                            cmp_type(a),
                            cmp_type(b),
                            gofmt::sprint(std::slice::from_ref(b))
                        ));
                    }
                    if a.is_nil() || b.is_nil() {
                        a.is_nil() == b.is_nil()
                    } else if let (Value::Object(x), Value::Object(y)) = (a, b) {
                        Arc::ptr_eq(x, y)
                    } else {
                        return Err(format!(
                            "non-comparable type {}: {}",
                            gofmt::sprintf("%s", std::slice::from_ref(b)),
                            cmp_type(b)
                        ));
                    }
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value, b: &Value) -> Result<bool, String> {
    let k1 = basic_kind(a);
    let k2 = basic_kind(b);
    if k1 == Kind::Invalid || k2 == Kind::Invalid {
        return Err("invalid type for comparison".into());
    }
    if k1 != k2 {
        return Err(format!(
            "incompatible types for comparison: {} and {}",
            cmp_type(a),
            cmp_type(b)
        ));
    }
    Ok(match (a, b) {
        (Value::Int(x) | Value::Int64(x), Value::Int(y) | Value::Int64(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::String(x), Value::String(y)) => x < y,
        _ => return Err("invalid type for comparison".into()),
    })
}

fn le(a: &Value, b: &Value) -> Result<bool, String> {
    let less = lt(a, b)?;
    if less {
        return Ok(true);
    }
    eq(a, std::slice::from_ref(b))
}
