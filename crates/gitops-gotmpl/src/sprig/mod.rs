//! Sprig v3.3.0's functions, one module per Sprig area. Each function has Sprig's Go
//! signature (so argument type errors are Go's) and Sprig's behaviour, panics included: where
//! Sprig panics, the function fails with the panic's text (`error calling first: Cannot find
//! first on type string`), as Go's template engine reports a recovered panic.

mod case;
mod convert;
mod crypto;
mod dates;
mod defaults;
mod dicts;
mod encoding;
mod lists;
mod math;
mod network;
mod paths;
mod random;
mod reflect;
mod regex;
mod semver;
mod strings;
mod urls;

pub use convert::{to_float64, to_int64, to_string};
pub use dates::{time_at, unix_seconds};
pub use defaults::{is_empty, to_json};

use crate::{Functions, Value};

/// A string argument (a parameter typed `string` arrives as one; anything else reads empty).
pub(crate) fn arg_str(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

/// An `int` argument (a parameter typed `int` arrives as one; anything else reads 0).
pub(crate) fn arg_int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        _ => 0,
    }
}

/// The most elements a function may build into one list (`until`, `untilStep`, `seq`).
pub const MAX_LEN: usize = 1 << 20;
/// The longest string a function may build (`repeat`, `indent`, …), in bytes.
pub const MAX_STRING: usize = 64 << 20;

/// Adds every implemented Sprig function to `f`. Sprig's `slice` replaces Go's builtin of the
/// same name, as it does in Helm (a template's function map shadows the builtins).
pub fn register(f: &mut Functions) {
    strings::register(f);
    case::register(f);
    defaults::register(f);
    lists::register(f);
    dicts::register(f);
    math::register(f);
    network::register(f);
    encoding::register(f);
    regex::register(f);
    reflect::register(f);
    paths::register(f);
    semver::register(f);
    random::register(f);
    dates::register(f);
    urls::register(f);
    crypto::register(f);
    // Sprig's must* forms fail where the plain forms panic; ours never panic, so they share
    // one implementation (and Go shows both failures as `error calling NAME: ...`).
    for (must, plain) in [
        ("mustFirst", "first"),
        ("mustLast", "last"),
        ("mustRest", "rest"),
        ("mustInitial", "initial"),
        ("mustAppend", "append"),
        ("mustPush", "push"),
        ("mustPrepend", "prepend"),
        ("mustReverse", "reverse"),
        ("mustUniq", "uniq"),
        ("mustWithout", "without"),
        ("mustHas", "has"),
        ("mustCompact", "compact"),
        ("mustSlice", "slice"),
        ("mustChunk", "chunk"),
        ("mustMerge", "merge"),
        ("mustMergeOverwrite", "mergeOverwrite"),
        ("mustDeepCopy", "deepCopy"),
    ] {
        if let Some(func) = f.get(plain).cloned() {
            f.insert(must, func);
        }
    }
    register_not_implemented(f);
    for (alias, name) in [("tuple", "list")] {
        if let Some(func) = f.get(name).cloned() {
            f.insert(alias, func);
        }
    }
}

/// Sprig functions that Helm exposes and this crate does not implement (none today). A name
/// here is registered so that a chart naming it still parses, as it does in Helm, and fails
/// when called with `error calling NAME: not implemented by gitops-gotmpl`: never a silent
/// empty string.
pub const NOT_IMPLEMENTED: &[&str] = &[];

fn register_not_implemented(f: &mut Functions) {
    for name in NOT_IMPLEMENTED {
        if !f.contains(name) {
            f.insert(
                *name,
                crate::Function::variadic(&[], crate::Ty::Any, |_| {
                    Err("not implemented by gitops-gotmpl".to_string())
                }),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    /// The crate docs list what is implemented; this keeps the list honest.
    #[test]
    fn documented_functions_are_the_registered_ones() {
        let f = crate::Functions::sprig();
        let b = crate::Functions::builtins();
        let mut names: Vec<&str> = f
            .names()
            .into_iter()
            .filter(|n| !super::NOT_IMPLEMENTED.contains(n))
            .collect();
        names.retain(|n| !b.contains(n) || *n == "slice");
        let docs: std::collections::HashSet<&str> = include_str!("../lib.rs")
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .collect();
        let missing: Vec<&&str> = names.iter().filter(|n| !docs.contains(**n)).collect();
        assert!(missing.is_empty(), "undocumented: {missing:?}");
    }
}
