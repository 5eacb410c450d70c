//! Sprig's list functions.

use super::MAX_LEN;
use super::arg_int;
use super::convert::to_int64;
use super::defaults::is_empty;
use crate::{Function, Functions, Ty, Value};

/// `reflect.Kind` names, as Sprig's panics print them.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Missing | Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::Int64(_) => "int64",
        Value::Float(_) => "float64",
        Value::String(_) => "string",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        Value::Object(_) => "struct",
    }
}

const NIL_TYPE: &str = "runtime error: invalid memory address or nil pointer dereference";

/// The list inside, or Sprig's panic text `Cannot <what> on type <kind>`.
fn as_list<'a>(v: &'a Value, what: &str) -> Result<&'a [Value], String> {
    match v {
        Value::List(l) => Ok(l),
        Value::Nil | Value::Missing => Err(NIL_TYPE.into()),
        other => Err(format!("Cannot {what} on type {}", kind(other))),
    }
}

/// `reflect.DeepEqual` over values.
pub(crate) fn deep_equal(a: &Value, b: &Value) -> bool {
    deep_equal_at(a, b, 0)
}

/// A map can hold itself; past this depth two values count as different instead of
/// recursing until the stack ends.
const MAX_EQUAL_DEPTH: usize = 1000;

fn deep_equal_at(a: &Value, b: &Value, depth: usize) -> bool {
    if depth > MAX_EQUAL_DEPTH {
        return false;
    }
    let deep_equal = |x: &Value, y: &Value| deep_equal_at(x, y, depth + 1);
    match (a, b) {
        (Value::Nil | Value::Missing, Value::Nil | Value::Missing) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::Int64(x), Value::Int64(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| deep_equal(p, q))
        }
        (Value::Map(x), Value::Map(y)) => {
            if x.ptr_eq(y) {
                return true;
            }
            let (x, y) = (x.entries(), y.entries());
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && deep_equal(v1, v2))
        }
        (Value::Object(x), Value::Object(y)) => std::sync::Arc::ptr_eq(x, y),
        _ => false,
    }
}

fn until_step(start: i64, stop: i64, step: i64) -> Result<Value, String> {
    let mut v = Vec::new();
    let mut push = |i: i64| -> Result<(), String> {
        if v.len() >= MAX_LEN {
            return Err(format!("list longer than {MAX_LEN} elements"));
        }
        v.push(Value::Int(i));
        Ok(())
    };
    if stop < start {
        if step >= 0 {
            return Ok(Value::list(Vec::new()));
        }
        let mut i = start;
        while i > stop {
            push(i)?;
            i = match i.checked_add(step) {
                Some(n) => n,
                None => break,
            };
        }
    } else {
        if step <= 0 {
            return Ok(Value::list(Vec::new()));
        }
        let mut i = start;
        while i < stop {
            push(i)?;
            i = match i.checked_add(step) {
                Some(n) => n,
                None => break,
            };
        }
    }
    Ok(Value::list(v))
}

pub(super) fn register(f: &mut Functions) {
    use Ty::*;
    f.insert(
        "list",
        Function::variadic(&[], Any, |a| Ok(Value::list(a.to_vec()))),
    );
    f.insert(
        "first",
        Function::new(&[Any], |a| {
            Ok(as_list(&a[0], "find first")?
                .first()
                .cloned()
                .unwrap_or(Value::Nil))
        }),
    );
    f.insert(
        "last",
        Function::new(&[Any], |a| {
            Ok(as_list(&a[0], "find last")?
                .last()
                .cloned()
                .unwrap_or(Value::Nil))
        }),
    );
    f.insert(
        "rest",
        Function::new(&[Any], |a| {
            let l = as_list(&a[0], "find rest")?;
            Ok(if l.is_empty() {
                Value::Nil
            } else {
                Value::list(l[1..].to_vec())
            })
        }),
    );
    f.insert(
        "initial",
        Function::new(&[Any], |a| {
            let l = as_list(&a[0], "find initial")?;
            Ok(if l.is_empty() {
                Value::Nil
            } else {
                Value::list(l[..l.len() - 1].to_vec())
            })
        }),
    );
    for name in ["append", "push"] {
        f.insert(
            name,
            Function::new(&[Any, Any], |a| {
                let l = as_list(&a[0], "push")?;
                let mut v = l.to_vec();
                v.push(a[1].clone());
                Ok(Value::list(v))
            }),
        );
    }
    f.insert(
        "prepend",
        Function::new(&[Any, Any], |a| {
            let l = as_list(&a[0], "prepend")?;
            let mut v = vec![a[1].clone()];
            v.extend(l.iter().cloned());
            Ok(Value::list(v))
        }),
    );
    f.insert(
        "reverse",
        Function::new(&[Any], |a| {
            let l = as_list(&a[0], "find reverse")?;
            Ok(Value::list(l.iter().rev().cloned().collect()))
        }),
    );
    f.insert(
        "uniq",
        Function::new(&[Any], |a| {
            let l = as_list(&a[0], "find uniq")?;
            let mut out: Vec<Value> = Vec::new();
            for x in l {
                if !out.iter().any(|y| deep_equal(x, y)) {
                    out.push(x.clone());
                }
            }
            Ok(Value::list(out))
        }),
    );
    f.insert(
        "compact",
        Function::new(&[Any], |a| {
            let l = as_list(&a[0], "compact")?;
            Ok(Value::list(
                l.iter().filter(|x| !is_empty(x)).cloned().collect(),
            ))
        }),
    );
    f.insert(
        "without",
        Function::variadic(&[Any], Any, |a| {
            let l = as_list(&a[0], "find without")?;
            Ok(Value::list(
                l.iter()
                    .filter(|x| !a[1..].iter().any(|o| deep_equal(x, o)))
                    .cloned()
                    .collect(),
            ))
        }),
    );
    f.insert(
        "has",
        Function::new(&[Any, Any], |a| {
            if a[1].is_nil() {
                return Ok(Value::Bool(false));
            }
            let l = as_list(&a[1], "find has")?;
            Ok(Value::Bool(l.iter().any(|x| deep_equal(x, &a[0]))))
        }),
    );
    f.insert(
        "concat",
        Function::variadic(&[], Any, |a| {
            let mut v = Vec::new();
            for l in a {
                match l {
                    Value::List(items) => v.extend(items.iter().cloned()),
                    other => return Err(format!("Cannot concat type {} as list", kind(other))),
                }
            }
            Ok(Value::list(v))
        }),
    );
    f.insert(
        "slice",
        Function::variadic(&[Any], Any, |a| {
            let l = match &a[0] {
                Value::List(l) => l,
                Value::Nil | Value::Missing => return Err(NIL_TYPE.into()),
                other => {
                    return Err(format!(
                        "list should be type of slice or array but {}",
                        kind(other)
                    ));
                }
            };
            if l.is_empty() {
                return Ok(Value::Nil);
            }
            let start = a.get(1).map(to_int64).unwrap_or(0);
            let end = if a.len() < 3 {
                l.len() as i64
            } else {
                to_int64(&a[2])
            };
            if start < 0 || end < start || end > l.len() as i64 {
                return Err("reflect.Value.Slice: slice index out of bounds".into());
            }
            Ok(Value::list(l[start as usize..end as usize].to_vec()))
        }),
    );
    f.insert(
        "until",
        Function::new(&[Int], |a| {
            let n = arg_int(&a[0]);
            until_step(0, n, if n < 0 { -1 } else { 1 })
        }),
    );
    f.insert(
        "untilStep",
        Function::new(&[Int, Int, Int], |a| {
            until_step(arg_int(&a[0]), arg_int(&a[1]), arg_int(&a[2]))
        }),
    );
    f.insert(
        "seq",
        Function::variadic(&[], Int, |a| {
            let p: Vec<i64> = a.iter().map(arg_int).collect();
            let (start, stop, step) = match p.as_slice() {
                [end] => {
                    let inc = if *end < 1 { -1 } else { 1 };
                    (1, end.saturating_add(inc), inc)
                }
                [start, end] => {
                    let step = if end < start { -1 } else { 1 };
                    (*start, end.saturating_add(step), step)
                }
                [start, step, end] => {
                    let mut inc = 1;
                    if end < start {
                        inc = -1;
                        if *step > 0 {
                            return Ok(Value::string(""));
                        }
                    }
                    (*start, end.saturating_add(inc), *step)
                }
                _ => return Ok(Value::string("")),
            };
            let Value::List(l) = until_step(start, stop, step)? else {
                return Ok(Value::string(""));
            };
            let parts: Vec<std::string::String> =
                l.iter().map(|v| arg_int(v).to_string()).collect();
            Ok(Value::String(parts.join(" ")))
        }),
    );
    f.insert(
        "chunk",
        Function::new(&[Int, Any], |a| {
            let size = arg_int(&a[0]);
            let l = as_list(&a[1], "chunk")?;
            if size <= 0 {
                return Err("runtime error: integer divide by zero".into());
            }
            Ok(Value::list(
                l.chunks(size as usize)
                    .map(|c| Value::list(c.to_vec()))
                    .collect(),
            ))
        }),
    );
}
