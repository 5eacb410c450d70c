//! Sprig's dict functions. Maps are shared as in Go: `set`, `unset`, `merge` and
//! `mergeOverwrite` change the map they are given.

use super::convert::to_string;
use super::defaults::is_empty;
use super::lists::kind;
use crate::{Dict, Function, Functions, Ty, Value};

fn dict(v: &Value) -> Dict {
    match v {
        Value::Map(m) => m.clone(),
        _ => Dict::new(),
    }
}

fn key(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// mergo's `Merge` (and with `overwrite`, `WithOverride`) over maps, as Sprig calls it.
fn merge_into(dst: &Dict, src: &Dict, overwrite: bool, depth: usize) -> Result<(), String> {
    if depth > 1000 || dst.ptr_eq(src) {
        return Ok(());
    }
    for (k, sv) in src.entries() {
        if sv.is_nil() {
            if overwrite {
                dst.insert(k, Value::Nil);
            }
            continue;
        }
        let dv = dst.get(&k);
        if let (Value::Map(sm), Some(Value::Map(dm))) = (&sv, &dv) {
            merge_into(dm, sm, overwrite, depth + 1)?;
        }
        if let Some(d) = &dv
            && !is_empty(d)
        {
            if matches!(sv, Value::List(_)) && !overwrite {
                continue;
            }
            if matches!(sv, Value::Map(_)) && matches!(d, Value::Map(_)) {
                continue;
            }
        }
        if overwrite || dv.as_ref().is_none_or(is_empty) {
            dst.insert(k, sv);
        }
    }
    Ok(())
}

fn deep_copy(v: &Value, depth: usize) -> Value {
    if depth > 1000 {
        return Value::Nil;
    }
    match v {
        Value::List(l) => Value::list(l.iter().map(|x| deep_copy(x, depth + 1)).collect()),
        Value::Map(m) => Value::map(
            m.entries()
                .into_iter()
                .map(|(k, x)| (k, deep_copy(&x, depth + 1)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub(super) fn register(f: &mut Functions) {
    use Ty::*;
    f.insert(
        "dict",
        Function::variadic(&[], Any, |a| {
            let d = Dict::new();
            for pair in a.chunks(2) {
                let k = to_string(&pair[0]);
                d.insert(k, pair.get(1).cloned().unwrap_or_else(|| Value::string("")));
            }
            Ok(Value::Map(d))
        }),
    );
    f.insert(
        "get",
        Function::new(&[Map, String], |a| {
            Ok(dict(&a[0])
                .get(key(&a[1]))
                .unwrap_or_else(|| Value::string("")))
        }),
    );
    f.insert(
        "set",
        Function::new(&[Map, String, Any], |a| {
            let d = dict(&a[0]);
            d.insert(key(&a[1]), a[2].clone());
            Ok(Value::Map(d))
        }),
    );
    f.insert(
        "unset",
        Function::new(&[Map, String], |a| {
            let d = dict(&a[0]);
            d.remove(key(&a[1]));
            Ok(Value::Map(d))
        }),
    );
    f.insert(
        "hasKey",
        Function::new(&[Map, String], |a| {
            Ok(Value::Bool(dict(&a[0]).contains_key(key(&a[1]))))
        }),
    );
    f.insert(
        "pluck",
        Function::variadic(&[String], Map, |a| {
            let k = key(&a[0]);
            Ok(Value::list(
                a[1..].iter().filter_map(|d| dict(d).get(k)).collect(),
            ))
        }),
    );
    // Go's map order is random here; sorted is one of the orders Helm may print.
    f.insert(
        "keys",
        Function::variadic(&[], Map, |a| {
            let mut v: Vec<Value> = Vec::new();
            for d in a {
                v.extend(dict(d).keys().into_iter().map(Value::String));
            }
            Ok(Value::list(v))
        }),
    );
    f.insert(
        "values",
        Function::new(&[Map], |a| {
            Ok(Value::list(
                dict(&a[0]).entries().into_iter().map(|(_, v)| v).collect(),
            ))
        }),
    );
    f.insert(
        "pick",
        Function::variadic(&[Map], String, |a| {
            let d = dict(&a[0]);
            let out = Dict::new();
            for k in &a[1..] {
                if let Some(v) = d.get(key(k)) {
                    out.insert(key(k), v);
                }
            }
            Ok(Value::Map(out))
        }),
    );
    f.insert(
        "omit",
        Function::variadic(&[Map], String, |a| {
            let d = dict(&a[0]);
            let out = Dict::new();
            for (k, v) in d.entries() {
                if !a[1..].iter().any(|o| key(o) == k) {
                    out.insert(k, v);
                }
            }
            Ok(Value::Map(out))
        }),
    );
    for (name, overwrite) in [("merge", false), ("mergeOverwrite", true)] {
        f.insert(
            name,
            Function::variadic(&[Map], Map, move |a| {
                let dst = dict(&a[0]);
                for src in &a[1..] {
                    merge_into(&dst, &dict(src), overwrite, 0)?;
                }
                Ok(Value::Map(dst))
            }),
        );
    }
    f.insert(
        "deepCopy",
        Function::new(&[Any], |a| Ok(deep_copy(&a[0], 0))),
    );
    f.insert(
        "dig",
        Function::variadic(&[], Any, |a| {
            if a.len() < 3 {
                return Err("dig needs at least three arguments".into());
            }
            let mut cur = match &a[a.len() - 1] {
                Value::Map(m) => m.clone(),
                other => {
                    return Err(format!(
                        "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                        go_type(other)
                    ));
                }
            };
            let def = a[a.len() - 2].clone();
            let keys = &a[..a.len() - 2];
            for (i, k) in keys.iter().enumerate() {
                let Value::String(k) = k else {
                    return Err(format!(
                        "interface conversion: interface {{}} is {}, not string",
                        go_type(k)
                    ));
                };
                let Some(step) = cur.get(k) else {
                    return Ok(def);
                };
                if i == keys.len() - 1 {
                    return Ok(step);
                }
                cur = match step {
                    Value::Map(m) => m,
                    other => {
                        return Err(format!(
                            "interface conversion: interface {{}} is {}, not map[string]interface {{}}",
                            go_type(&other)
                        ));
                    }
                };
            }
            Ok(def)
        }),
    );
    let _ = kind;
}

fn go_type(v: &Value) -> &str {
    if v.is_nil() { "nil" } else { v.type_name() }
}
