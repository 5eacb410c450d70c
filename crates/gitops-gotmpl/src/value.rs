//! The values a template reads and produces: what Helm's values become after a JSON round trip,
//! plus the integers functions return and host objects with methods.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use crate::funcs::Function;

/// A value seen by a template.
///
/// JSON maps onto it one to one ([`Value::from_json`]): every JSON number is a [`Value::Float`],
/// as Go's `encoding/json` makes it a `float64`; integers only come from literals in the template
/// and from functions (`len`, `int`, `add`, …), as in Go.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// Go's invalid `reflect.Value`: what a missing map key evaluates to in the default
    /// `missingkey` mode and what a pipeline yielding `nil` leaves; prints `<no value>`.
    #[default]
    Missing,
    /// A nil `interface{}` (JSON `null`); prints `<nil>` through `printf`.
    Nil,
    /// A `bool`.
    Bool(bool),
    /// A Go `int` (literals, `len`, Sprig's `int`).
    Int(i64),
    /// A Go `int64` (what Sprig's integer math returns). It compares and prints as an `int`
    /// but is a different type for `%T` and for typed function parameters, as in Go.
    Int64(i64),
    /// A Go `float64`.
    Float(f64),
    /// A Go `string` (always valid UTF-8 here).
    String(String),
    /// A `[]interface{}`.
    List(Arc<Vec<Value>>),
    /// A `map[string]interface{}`; iteration and printing are in sorted key order, as Go's.
    /// Shared like a Go map: Sprig's `set` and `merge` change it for every holder.
    Map(Dict),
    /// A host object with fields and methods (Helm's `.Files`, `.Capabilities`, …).
    Object(Arc<dyn Object>),
}

/// A host value reachable from templates through `.Field` and `.Method arg…`.
///
/// Methods win over fields, as Go's reflection-based lookup does.
pub trait Object: Send + Sync + fmt::Debug {
    /// The Go type name used in error messages, e.g. `files.Files`.
    fn type_name(&self) -> &str;
    /// A method by name, called with the arguments of the command that names it.
    fn method(&self, name: &str) -> Option<Function> {
        let _ = name;
        None
    }
    /// A field by name.
    fn field(&self, name: &str) -> Option<Value> {
        let _ = name;
        None
    }
    /// What `{{ . }}` and `%v` print (Go prints a struct as `{field field}`).
    fn display(&self) -> String {
        format!("{{{}}}", self.type_name())
    }

    /// The entries `range` visits when the object is a Go map with methods (Helm's
    /// `files.Files`), in sorted key order; `None` when it cannot be ranged over.
    fn entries(&self) -> Option<Vec<(String, Value)>> {
        None
    }

    /// The object as `Any`, for functions that take a specific host type (Sprig's date
    /// functions take their own `time.Time`).
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

impl Value {
    /// Converts JSON (numbers become `float64`, as Helm's values are).
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::String(s.clone()),
            serde_json::Value::Array(a) => {
                Value::List(Arc::new(a.iter().map(Value::from_json).collect()))
            }
            serde_json::Value::Object(o) => Value::Map(Dict::from(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect::<BTreeMap<_, _>>(),
            )),
        }
    }

    /// A string value.
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// A list value.
    pub fn list(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }

    /// A map value.
    pub fn map(entries: BTreeMap<String, Value>) -> Value {
        Value::Map(Dict::from(entries))
    }

    /// Go's truth of a value in `if`, `with`, `and`, `or`, `not`: false for zero values, nil
    /// and empty strings, lists and maps.
    pub fn is_true(&self) -> bool {
        match self {
            Value::Missing | Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::Int64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Object(_) => true,
        }
    }

    /// Whether this is nil or missing.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Missing | Value::Nil)
    }

    /// The Go type name, as error messages and `%T` print it.
    pub fn type_name(&self) -> &str {
        match self {
            Value::Missing | Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Int64(_) => "int64",
            Value::Float(_) => "float64",
            Value::String(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Object(o) => o.type_name(),
        }
    }

    /// The integer inside, if this is an `int` or `int64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) | Value::Int64(i) => Some(*i),
            _ => None,
        }
    }

    /// The string inside, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Converts to JSON (`Missing` and `Nil` become `null`; objects their display text; a map
    /// holding itself is cut at 1,000 levels with `null`).
    pub fn to_json(&self) -> serde_json::Value {
        self.to_json_at(0)
    }

    fn to_json_at(&self, depth: usize) -> serde_json::Value {
        if depth > 1000 {
            return serde_json::Value::Null;
        }
        match self {
            Value::Missing | Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) | Value::Int64(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(l) => {
                serde_json::Value::Array(l.iter().map(|v| v.to_json_at(depth + 1)).collect())
            }
            Value::Map(m) => serde_json::Value::Object(
                m.entries()
                    .into_iter()
                    .map(|(k, v)| (k, v.to_json_at(depth + 1)))
                    .collect(),
            ),
            Value::Object(o) => serde_json::Value::String(o.display()),
        }
    }
}

impl Value {
    /// Raises `flag` at the first write (`set`, `unset`, `merge`, …) to any map reachable
    /// from this value now, through every handle of it, from then on.
    ///
    /// A host that executes templates side by side uses it to learn whether one of them
    /// changed a map the others share, which would make the result depend on the order (Go
    /// programs such as Helm execute one template after another, each seeing the changes
    /// of the ones before). A map stays watched by the first flag given to it.
    pub fn watch_writes(&self, flag: &Arc<AtomicBool>) {
        self.watch_writes_at(flag, 0);
    }

    fn watch_writes_at(&self, flag: &Arc<AtomicBool>, depth: usize) {
        match self {
            Value::Map(m) => m.watch_writes(flag, depth),
            Value::List(l) if depth <= 1000 => {
                for v in l.iter() {
                    v.watch_writes_at(flag, depth + 1);
                }
            }
            _ => {}
        }
    }
}

/// A Go `map[string]interface{}`: shared and mutable through every handle, as Go maps are.
#[derive(Clone, Default)]
pub struct Dict(Arc<DictInner>);

#[derive(Default)]
struct DictInner {
    map: RwLock<BTreeMap<String, Value>>,
    /// Raised by every write once the map is watched ([`Value::watch_writes`]).
    watch: OnceLock<Arc<AtomicBool>>,
}

impl fmt::Debug for Dict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.entries()).finish()
    }
}

impl From<BTreeMap<String, Value>> for Dict {
    fn from(m: BTreeMap<String, Value>) -> Self {
        Dict(Arc::new(DictInner {
            map: RwLock::new(m),
            watch: OnceLock::new(),
        }))
    }
}

impl Dict {
    /// An empty map.
    pub fn new() -> Self {
        Dict::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Value>> {
        self.0.map.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Value>> {
        if let Some(watch) = self.0.watch.get() {
            watch.store(true, Ordering::Relaxed);
        }
        self.0.map.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The value of a key.
    pub fn get(&self, key: &str) -> Option<Value> {
        self.read().get(key).cloned()
    }

    /// Whether the key is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.read().contains_key(key)
    }

    /// Sets a key (visible to every handle of this map).
    pub fn insert(&self, key: impl Into<String>, value: Value) -> Option<Value> {
        self.write().insert(key.into(), value)
    }

    /// Removes a key.
    pub fn remove(&self, key: &str) -> Option<Value> {
        self.write().remove(key)
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The keys, sorted.
    pub fn keys(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// A snapshot of the entries, sorted by key.
    pub fn entries(&self) -> Vec<(String, Value)> {
        self.read()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A copy of the entries (a new, unshared map).
    pub fn to_map(&self) -> BTreeMap<String, Value> {
        self.read().clone()
    }

    /// Whether both handles are the same map.
    pub fn ptr_eq(&self, other: &Dict) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }

    /// Watches this map and every map reachable from it (see [`Value::watch_writes`]);
    /// a map already watched is not walked again.
    fn watch_writes(&self, flag: &Arc<AtomicBool>, depth: usize) {
        if depth > 1000 || self.0.watch.set(flag.clone()).is_err() {
            return;
        }
        for value in self.read().values() {
            value.watch_writes_at(flag, depth + 1);
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<serde_json::Value> for Value {
    fn from(j: serde_json::Value) -> Self {
        Value::from_json(&j)
    }
}

impl fmt::Display for Value {
    /// Go's `%v`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&crate::gofmt::sprint(std::slice::from_ref(self)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag() -> Arc<AtomicBool> {
        Arc::new(AtomicBool::new(false))
    }

    #[test]
    fn writes_to_watched_maps_raise_the_flag_through_any_handle() {
        let inner = Dict::from(BTreeMap::from([("a".to_string(), Value::Int(1))]));
        let in_list = Dict::new();
        let outer = Value::map(BTreeMap::from([
            ("inner".to_string(), Value::Map(inner.clone())),
            (
                "list".to_string(),
                Value::list(vec![Value::Int(0), Value::Map(in_list.clone())]),
            ),
        ]));
        let changed = flag();
        outer.watch_writes(&changed);
        // Reading and writing maps made afterwards do not count.
        let _ = inner.get("a");
        Dict::new().insert("x", Value::Nil);
        assert!(!changed.load(Ordering::Relaxed));
        inner.clone().insert("b", Value::Int(2));
        assert!(changed.load(Ordering::Relaxed));

        let changed = flag();
        let other = Value::Map(Dict::new());
        other.watch_writes(&changed);
        in_list.remove("absent");
        assert!(!changed.load(Ordering::Relaxed), "another watch's map");
        if let Value::Map(m) = &other {
            m.remove("absent");
        }
        assert!(changed.load(Ordering::Relaxed));
    }
}
