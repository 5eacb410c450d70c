//! Sprig's regular expression functions. Go's RE2 syntax and Rust's `regex` agree on the
//! syntax charts use but for Perl's classes, which are ASCII in Go and Unicode in Rust: they
//! are rewritten to Go's meaning ([`go_classes`]). Compile errors are worded by Rust's parser,
//! not Go's.

use regex::Regex;

use super::{arg_int, arg_str};
use crate::{Function, Functions, Ty, Value};

/// Compiled patterns by text: charts call `regexMatch` and friends with a handful of
/// constant patterns, often inside loops and helpers, and compiling one costs far more than
/// matching it. Bounded: emptied when full.
fn cached(re: &str) -> Option<Regex> {
    CACHE
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(re)
        .cloned()
}

static CACHE: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, Regex>>> =
    std::sync::LazyLock::new(Default::default);

/// At most this many patterns are kept.
const CACHE_MAX: usize = 256;

fn compile(re: &str) -> Result<Regex, String> {
    if let Some(hit) = cached(re) {
        return Ok(hit);
    }
    let compiled = compile_new(re)?;
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if cache.len() >= CACHE_MAX {
        cache.clear();
    }
    cache.insert(re.to_string(), compiled.clone());
    Ok(compiled)
}

fn compile_new(re: &str) -> Result<Regex, String> {
    Regex::new(&go_classes(re)).map_err(|e| {
        let first = e.to_string();
        let last = first.lines().last().unwrap_or_default().trim().to_string();
        format!(
            "regexp: Compile({}): error parsing regexp: {last}",
            crate::gofmt::quote(re, false)
        )
    })
}

/// Go's meaning of each Perl class escape: outside a bracketed class, and inside one (empty:
/// left as written).
const PERL_CLASSES: [(char, &str, &str); 8] = [
    ('d', r"(?-u:\d)", "0-9"),
    ('D', "[^0-9]", "[:^digit:]"),
    ('w', r"(?-u:\w)", "0-9A-Za-z_"),
    ('W', "[^0-9A-Za-z_]", "[:^word:]"),
    ('s', r"[\t\n\f\r ]", r"\t\n\f\r "),
    ('S', r"[^\t\n\f\r ]", ""),
    ('b', r"(?-u:\b)", ""),
    ('B', r"(?-u:\B)", ""),
];

/// `re` with Go's Perl classes: `\d`, `\w`, `\s` and `\b` (and their negations) are ASCII in
/// Go's RE2 and Unicode in Rust's `regex` (where `\d` also matches `٣`, and compiling its
/// tables cost a chart's render half a millisecond). `\s` is Go's `[\t\n\f\r ]` (no `\v`).
fn go_classes(re: &str) -> std::borrow::Cow<'_, str> {
    if !re.contains('\\') {
        return std::borrow::Cow::Borrowed(re);
    }
    let mut out = String::with_capacity(re.len() + 16);
    let mut in_class = false;
    let mut chars = re.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\\' => {
                let Some((_, e)) = chars.next() else {
                    out.push(c);
                    break;
                };
                let swap = PERL_CLASSES.iter().find(|(name, ..)| *name == e).map_or(
                    "",
                    |(_, outside, inside)| if in_class { inside } else { outside },
                );
                if swap.is_empty() {
                    out.push(c);
                    out.push(e);
                } else {
                    out.push_str(swap);
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` first (after a `^`) is a member, not the end.
                if chars.peek().is_some_and(|&(_, n)| n == '^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek().is_some_and(|&(_, n)| n == ']') {
                    out.push(']');
                    chars.next();
                }
            }
            '[' if re[at..].starts_with("[:") => {
                // A POSIX class inside a class: copied whole.
                match re[at..].find(":]") {
                    Some(end) => {
                        out.push_str(&re[at..at + end + 2]);
                        while chars.peek().is_some_and(|&(i, _)| i < at + end + 2) {
                            chars.next();
                        }
                    }
                    None => out.push(c),
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Go's `Regexp.FindAllStringIndex(s, n)`: up to `n` matches (all when negative).
fn find_all(re: &Regex, text: &str, n: i64) -> Vec<(usize, usize)> {
    if n == 0 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for m in re.find_iter(text) {
        if n > 0 && out.len() as i64 >= n {
            break;
        }
        out.push((m.start(), m.end()));
    }
    out
}

/// Go's `Regexp.Split`.
fn split(re: &Regex, text: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return Vec::new();
    }
    if !re.as_str().is_empty() && text.is_empty() {
        return vec![String::new()];
    }
    let mut out = Vec::new();
    let (mut beg, mut end) = (0, 0);
    for (a, b) in find_all(re, text, n) {
        if n > 0 && out.len() as i64 == n - 1 {
            break;
        }
        end = a;
        if b != 0 {
            out.push(text[beg..end].to_string());
        }
        beg = b;
    }
    if end != text.len() {
        out.push(text[beg..].to_string());
    }
    out
}

fn strings(v: Vec<String>) -> Value {
    Value::list(v.into_iter().map(Value::String).collect())
}

pub(super) fn register(f: &mut Functions) {
    use Ty::*;
    f.insert(
        "regexMatch",
        Function::new(&[String, String], |a| {
            Ok(Value::Bool(
                compile(arg_str(&a[0])).is_ok_and(|r| r.is_match(arg_str(&a[1]))),
            ))
        }),
    );
    f.insert(
        "mustRegexMatch",
        Function::new(&[String, String], |a| {
            Ok(Value::Bool(
                compile(arg_str(&a[0]))?.is_match(arg_str(&a[1])),
            ))
        }),
    );
    for name in ["regexFind", "mustRegexFind"] {
        f.insert(
            name,
            Function::new(&[String, String], |a| {
                let re = compile(arg_str(&a[0]))?;
                Ok(Value::String(
                    re.find(arg_str(&a[1]))
                        .map(|m| m.as_str().to_string())
                        .unwrap_or_default(),
                ))
            }),
        );
    }
    for name in ["regexFindAll", "mustRegexFindAll"] {
        f.insert(
            name,
            Function::new(&[String, String, Int], |a| {
                let re = compile(arg_str(&a[0]))?;
                let text = arg_str(&a[1]);
                Ok(strings(
                    find_all(&re, text, arg_int(&a[2]))
                        .into_iter()
                        .map(|(x, y)| text[x..y].to_string())
                        .collect(),
                ))
            }),
        );
    }
    for name in ["regexReplaceAll", "mustRegexReplaceAll"] {
        f.insert(
            name,
            Function::new(&[String, String, String], |a| {
                let re = compile(arg_str(&a[0]))?;
                Ok(Value::String(
                    re.replace_all(arg_str(&a[1]), arg_str(&a[2])).into_owned(),
                ))
            }),
        );
    }
    for name in ["regexReplaceAllLiteral", "mustRegexReplaceAllLiteral"] {
        f.insert(
            name,
            Function::new(&[String, String, String], |a| {
                let re = compile(arg_str(&a[0]))?;
                Ok(Value::String(
                    re.replace_all(arg_str(&a[1]), regex::NoExpand(arg_str(&a[2])))
                        .into_owned(),
                ))
            }),
        );
    }
    for name in ["regexSplit", "mustRegexSplit"] {
        f.insert(
            name,
            Function::new(&[String, String, Int], |a| {
                let re = compile(arg_str(&a[0]))?;
                Ok(strings(split(&re, arg_str(&a[1]), arg_int(&a[2]))))
            }),
        );
    }
    f.insert(
        "regexQuoteMeta",
        Function::new(&[String], |a| {
            Ok(Value::String(regex::escape(arg_str(&a[0]))))
        }),
    );
}
