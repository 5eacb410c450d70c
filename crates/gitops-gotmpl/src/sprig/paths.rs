//! Sprig's path functions (Go's `path` and, identically on Unix, `path/filepath`).

use crate::{Function, Functions, Ty, Value};

/// Go's `path.Clean`.
pub(crate) fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Base`.
fn base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

/// Go's `path.Dir`.
fn dir(p: &str) -> String {
    let i = p.rfind('/').map_or(0, |i| i + 1);
    clean(&p[..i])
}

/// Go's `path.Ext`.
fn ext(p: &str) -> String {
    for (i, c) in p.char_indices().rev() {
        if c == '/' {
            break;
        }
        if c == '.' {
            return p[i..].to_string();
        }
    }
    String::new()
}

pub(super) fn register(f: &mut Functions) {
    let one = |op: fn(&str) -> String| {
        Function::new(&[Ty::String], move |a| {
            Ok(Value::String(op(a[0].as_str().unwrap_or_default())))
        })
    };
    for (name, op) in [
        ("base", base as fn(&str) -> String),
        ("dir", dir),
        ("ext", ext),
        ("clean", clean),
        ("osBase", base),
        ("osDir", dir),
        ("osExt", ext),
        ("osClean", clean),
    ] {
        f.insert(name, one(op));
    }
    for name in ["isAbs", "osIsAbs"] {
        f.insert(
            name,
            Function::new(&[Ty::String], |a| {
                Ok(Value::Bool(
                    a[0].as_str().unwrap_or_default().starts_with('/'),
                ))
            }),
        );
    }
}
