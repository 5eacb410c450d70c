//! Sprig's string functions.

use super::convert::{str_slice, to_string};
use super::{MAX_LEN, MAX_STRING};
use super::{arg_int, arg_str};
use crate::{Function, Functions, Ty, Value, gofmt};

fn string_fn(f: &mut Functions, name: &str, op: fn(&str) -> String) {
    f.insert(
        name,
        Function::new(&[Ty::String], move |a| {
            Ok(Value::String(op(arg_str(&a[0]))))
        }),
    );
}

/// Two strings in, Sprig's argument order (the operand last, for pipelines).
fn string2_fn(f: &mut Functions, name: &str, op: fn(&str, &str) -> Value) {
    f.insert(
        name,
        Function::new(&[Ty::String, Ty::String], move |a| {
            Ok(op(arg_str(&a[0]), arg_str(&a[1])))
        }),
    );
}

/// Go's `unicode.ToUpper` per rune: only one-to-one mappings apply.
fn upper_char(c: char) -> char {
    let mut it = c.to_uppercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn lower_char(c: char) -> char {
    let mut it = c.to_lowercase();
    match (it.next(), it.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn is_separator(c: char) -> bool {
    if c.is_ascii() {
        return !(c.is_ascii_alphanumeric() || c == '_');
    }
    if c.is_alphabetic() || c.is_numeric() {
        return false;
    }
    c.is_whitespace()
}

/// Go's deprecated `strings.Title`.
fn title(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let r = if is_separator(prev) { upper_char(c) } else { c };
            prev = c;
            r
        })
        .collect()
}

fn untitle(s: &str) -> String {
    let mut prev = ' ';
    s.chars()
        .map(|c| {
            let r = if prev.is_whitespace() {
                lower_char(c)
            } else {
                c
            };
            prev = c;
            r
        })
        .collect()
}

fn swapcase(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_uppercase() {
                lower_char(c)
            } else if c.is_lowercase() {
                upper_char(c)
            } else {
                c
            }
        })
        .collect()
}

fn go_trim_space(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace())
}

fn indent(spaces: i64, text: &str) -> Result<String, String> {
    if spaces < 0 {
        return Err("strings: negative Repeat count".into());
    }
    let pad = " ".repeat((spaces as usize).min(MAX_STRING));
    let lines = text.matches('\n').count() + 1;
    if pad.len().saturating_mul(lines).saturating_add(text.len()) > MAX_STRING {
        return Err(format!("result longer than {MAX_STRING} bytes"));
    }
    Ok(format!("{pad}{}", text.replace('\n', &format!("\n{pad}"))))
}

pub(super) fn register(f: &mut Functions) {
    use Ty::*;
    string_fn(f, "upper", |x| x.chars().map(upper_char).collect());
    string_fn(f, "lower", |x| x.chars().map(lower_char).collect());
    string_fn(f, "title", title);
    string_fn(f, "untitle", untitle);
    string_fn(f, "swapcase", swapcase);
    string_fn(f, "trim", |x| go_trim_space(x).to_string());
    string_fn(f, "nospace", |x| {
        x.chars().filter(|c| !c.is_whitespace()).collect()
    });
    string_fn(f, "initials", |x| {
        x.split_whitespace()
            .filter_map(|w| w.chars().next())
            .collect()
    });
    string2_fn(f, "trimAll", |cut, x| {
        Value::String(x.trim_matches(|c| cut.contains(c)).to_string())
    });
    string2_fn(f, "trimSuffix", |suf, x| {
        Value::String(x.strip_suffix(suf).unwrap_or(x).to_string())
    });
    string2_fn(f, "trimPrefix", |pre, x| {
        Value::String(x.strip_prefix(pre).unwrap_or(x).to_string())
    });
    string2_fn(f, "contains", |sub, x| Value::Bool(x.contains(sub)));
    string2_fn(f, "hasPrefix", |pre, x| Value::Bool(x.starts_with(pre)));
    string2_fn(f, "hasSuffix", |suf, x| Value::Bool(x.ends_with(suf)));
    string2_fn(f, "splitList", |sep, x| {
        Value::list(go_split(x, sep).into_iter().map(Value::String).collect())
    });
    string2_fn(f, "split", |sep, x| {
        let m = crate::Dict::new();
        for (i, p) in go_split(x, sep).into_iter().enumerate() {
            m.insert(format!("_{i}"), Value::String(p));
        }
        Value::Map(m)
    });
    f.insert(
        "splitn",
        Function::new(&[String, Int, String], |a| {
            let n = arg_int(&a[1]);
            let m = crate::Dict::new();
            for (i, p) in go_splitn(arg_str(&a[2]), arg_str(&a[0]), n)
                .into_iter()
                .enumerate()
            {
                m.insert(format!("_{i}"), Value::String(p));
            }
            Ok(Value::Map(m))
        }),
    );
    f.insert(
        "replace",
        Function::new(&[String, String, String], |a| {
            let out = arg_str(&a[2]).replace(arg_str(&a[0]), arg_str(&a[1]));
            if out.len() > MAX_STRING {
                return Err(format!("result longer than {MAX_STRING} bytes"));
            }
            Ok(Value::String(out))
        }),
    );
    f.insert(
        "repeat",
        Function::new(&[Int, String], |a| {
            let n = arg_int(&a[0]);
            if n < 0 {
                return Err("strings: negative Repeat count".into());
            }
            let x = arg_str(&a[1]);
            if (n as u128) * (x.len() as u128) > MAX_STRING as u128 {
                return Err(format!("result longer than {MAX_STRING} bytes"));
            }
            Ok(Value::String(x.repeat(n as usize)))
        }),
    );
    f.insert(
        "indent",
        Function::new(&[Int, String], |a| {
            indent(arg_int(&a[0]), arg_str(&a[1])).map(Value::String)
        }),
    );
    f.insert(
        "nindent",
        Function::new(&[Int, String], |a| {
            indent(arg_int(&a[0]), arg_str(&a[1])).map(|x| Value::String(format!("\n{x}")))
        }),
    );
    f.insert(
        "quote",
        Function::variadic(&[], Any, |a| {
            let parts: Vec<std::string::String> = a
                .iter()
                .filter(|v| !v.is_nil())
                .map(|v| gofmt::quote(&to_string(v), false))
                .collect();
            Ok(Value::String(parts.join(" ")))
        }),
    );
    f.insert(
        "squote",
        Function::variadic(&[], Any, |a| {
            let parts: Vec<std::string::String> = a
                .iter()
                .filter(|v| !v.is_nil())
                .map(|v| format!("'{}'", to_string(v)))
                .collect();
            Ok(Value::String(parts.join(" ")))
        }),
    );
    f.insert(
        "cat",
        Function::variadic(&[], Any, |a| {
            let parts: Vec<Value> = a.iter().filter(|v| !v.is_nil()).cloned().collect();
            let format = vec!["%v"; parts.len()].join(" ");
            Ok(Value::String(gofmt::sprintf(&format, &parts)))
        }),
    );
    f.insert(
        "toString",
        Function::new(&[Any], |a| Ok(Value::String(to_string(&a[0])))),
    );
    f.insert(
        "substr",
        Function::new(&[Int, Int, String], |a| {
            let (start, end, x) = (arg_int(&a[0]), arg_int(&a[1]), arg_str(&a[2]));
            let b = x.as_bytes();
            let len = b.len() as i64;
            let range = if start < 0 {
                if end < 0 || end > len {
                    return Err(format!(
                        "runtime error: slice bounds out of range [:{end}] with length {len}"
                    ));
                }
                0..end
            } else if end < 0 || end > len {
                if start > len {
                    return Err(format!(
                        "runtime error: slice bounds out of range [{start}:{len}]"
                    ));
                }
                start..len
            } else {
                if start > end {
                    return Err(format!(
                        "runtime error: slice bounds out of range [{start}:{end}]"
                    ));
                }
                start..end
            };
            Ok(Value::String(
                std::string::String::from_utf8_lossy(&b[range.start as usize..range.end as usize])
                    .into_owned(),
            ))
        }),
    );
    f.insert(
        "trunc",
        Function::new(&[Int, String], |a| {
            let (c, x) = (arg_int(&a[0]), arg_str(&a[1]));
            let b = x.as_bytes();
            let len = b.len() as i64;
            let out = if c < 0 && len + c > 0 {
                &b[(len + c) as usize..]
            } else if c >= 0 && len > c {
                &b[..c as usize]
            } else {
                b
            };
            Ok(Value::String(
                std::string::String::from_utf8_lossy(out).into_owned(),
            ))
        }),
    );
    f.insert(
        "abbrev",
        Function::new(&[Int, String], |a| {
            let (w, x) = (arg_int(&a[0]), arg_str(&a[1]));
            if w < 4 || x.len() as i64 <= w {
                return Ok(Value::String(x.to_string()));
            }
            let cut = &x.as_bytes()[..(w - 3) as usize];
            Ok(Value::String(format!(
                "{}...",
                std::string::String::from_utf8_lossy(cut)
            )))
        }),
    );
    f.insert(
        "abbrevboth",
        Function::new(&[Int, Int, String], |a| {
            let (left, right, x) = (arg_int(&a[0]), arg_int(&a[1]), arg_str(&a[2]));
            if right < 4 || (left > 0 && right < 7) {
                return Ok(Value::String(x.to_string()));
            }
            Ok(Value::String(abbreviate_full(x, left, right)))
        }),
    );
    f.insert(
        "wrap",
        Function::new(&[Int, String], |a| {
            Ok(Value::String(wrap_custom(
                arg_str(&a[1]),
                arg_int(&a[0]),
                "",
                false,
            )))
        }),
    );
    f.insert(
        "wrapWith",
        Function::new(&[Int, String, String], |a| {
            Ok(Value::String(wrap_custom(
                arg_str(&a[2]),
                arg_int(&a[0]),
                arg_str(&a[1]),
                true,
            )))
        }),
    );
    f.insert(
        "plural",
        Function::new(&[String, String, Int], |a| {
            Ok(if arg_int(&a[2]) == 1 {
                a[0].clone()
            } else {
                a[1].clone()
            })
        }),
    );
    f.insert(
        "join",
        Function::new(&[String, Any], |a| {
            Ok(Value::String(str_slice(&a[1]).join(arg_str(&a[0]))))
        }),
    );
    f.insert(
        "toStrings",
        Function::new(&[Any], |a| {
            Ok(Value::list(
                str_slice(&a[0]).into_iter().map(Value::String).collect(),
            ))
        }),
    );
    if let Some(t) = f.get("trimAll").cloned() {
        f.insert("trimall", t);
    }
    f.insert(
        "sortAlpha",
        Function::new(&[Any], |a| {
            let mut v = str_slice(&a[0]);
            v.sort();
            Ok(Value::list(v.into_iter().map(Value::String).collect()))
        }),
    );
    let _ = MAX_LEN;
}

/// Go's `strings.Split`: an empty separator splits into runes.
fn go_split(x: &str, sep: &str) -> Vec<std::string::String> {
    if sep.is_empty() {
        return x.chars().map(|c| c.to_string()).collect();
    }
    x.split(sep).map(str::to_string).collect()
}

/// Go's `strings.SplitN`.
fn go_splitn(x: &str, sep: &str, n: i64) -> Vec<std::string::String> {
    if n == 0 {
        return Vec::new();
    }
    if n < 0 {
        return go_split(x, sep);
    }
    if sep.is_empty() {
        let chars: Vec<char> = x.chars().collect();
        let n = (n as usize).min(chars.len());
        let mut v: Vec<std::string::String> = chars[..n.saturating_sub(1)]
            .iter()
            .map(|c| c.to_string())
            .collect();
        if n > 0 {
            v.push(chars[n - 1..].iter().collect());
        }
        return v;
    }
    x.splitn(n as usize, sep).map(str::to_string).collect()
}

fn lossy(b: &[u8]) -> std::string::String {
    std::string::String::from_utf8_lossy(b).into_owned()
}

/// goutils' `AbbreviateFull` (byte offsets, as Go slices strings).
fn abbreviate_full(x: &str, offset: i64, max: i64) -> std::string::String {
    let b = x.as_bytes();
    let len = b.len() as i64;
    if len <= max {
        return x.to_string();
    }
    let mut offset = offset.min(len);
    if len - offset < max - 3 {
        offset = len - (max - 3);
    }
    if offset <= 4 {
        return format!("{}...", lossy(&b[..(max - 3) as usize]));
    }
    if offset + max - 3 < len {
        let rest = &b[offset as usize..];
        let w = max - 3;
        let inner = if rest.len() as i64 <= w {
            lossy(rest)
        } else {
            format!("{}...", lossy(&rest[..(w - 3).max(0) as usize]))
        };
        return format!("...{inner}");
    }
    format!("...{}", lossy(&b[(len - (max - 3)) as usize..]))
}

/// goutils' `WrapCustom` (byte offsets, spaces only).
fn wrap_custom(x: &str, width: i64, newline: &str, long_words: bool) -> std::string::String {
    if x.is_empty() {
        return std::string::String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let width = width.max(1) as usize;
    let b = x.as_bytes();
    let len = b.len();
    let mut offset = 0;
    let mut out: Vec<u8> = Vec::new();
    while len - offset > width {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (width + offset + 1).min(len);
        match b[offset..end].iter().rposition(|c| *c == b' ') {
            Some(p) => {
                let at = offset + p;
                out.extend_from_slice(&b[offset..at]);
                out.extend_from_slice(newline.as_bytes());
                offset = at + 1;
            }
            None if long_words => {
                out.extend_from_slice(&b[offset..offset + width]);
                out.extend_from_slice(newline.as_bytes());
                offset += width;
            }
            None => {
                let end = width + offset;
                match b[end..].iter().position(|c| *c == b' ') {
                    None => {
                        out.extend_from_slice(&b[offset..]);
                        offset = len;
                    }
                    Some(i) => {
                        let at = end + i;
                        out.extend_from_slice(&b[offset..at]);
                        out.extend_from_slice(newline.as_bytes());
                        offset = at + 1;
                    }
                }
            }
        }
    }
    out.extend_from_slice(&b[offset.min(len)..]);
    lossy(&out)
}
