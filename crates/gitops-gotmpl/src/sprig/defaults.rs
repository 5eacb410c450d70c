//! Sprig's defaults and JSON functions: `default empty coalesce all any ternary fail toJson
//! toPrettyJson toRawJson fromJson` and their `must` forms.

use crate::{Function, Functions, Ty, Value};

/// Sprig's `empty`: nil, false, 0, and empty strings, lists and maps.
pub fn is_empty(v: &Value) -> bool {
    !matches!(v, Value::Object(_)) && !v.is_true()
}

/// How deep `toJson` follows maps and lists before giving up (a map can hold itself).
const MAX_JSON_DEPTH: usize = 1000;

/// Go's `encoding/json` text of a value: sorted keys, Go's float format, and (with
/// `escape_html`) `<`, `>`, `&` escaped as `\u003c`…; `indent` is `MarshalIndent`'s.
///
/// # Errors
/// Go's `json: unsupported value: NaN` (and `+Inf`), and a cycle or nesting deeper than 1000.
pub fn to_json(v: &Value, escape_html: bool, indent: Option<&str>) -> Result<String, String> {
    let mut out = String::new();
    encode(&mut out, v, escape_html, indent, 0)?;
    Ok(out)
}

fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(ind) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(ind);
        }
    }
}

fn encode(
    out: &mut String,
    v: &Value,
    html: bool,
    indent: Option<&str>,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_JSON_DEPTH || out.len() > super::MAX_STRING {
        return Err(
            "json: unsupported value: encountered a cycle or nesting deeper than 1000".into(),
        );
    }
    match v {
        Value::Missing | Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::Int64(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&json_float(*f)?),
        Value::String(s) => json_string(out, s, html),
        Value::List(l) => {
            if l.is_empty() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                encode(out, item, html, indent, depth + 1)?;
            }
            newline(out, indent, depth);
            out.push(']');
        }
        Value::Map(m) => {
            let entries = m.entries();
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (k, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                json_string(out, k, html);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                encode(out, item, html, indent, depth + 1)?;
            }
            newline(out, indent, depth);
            out.push('}');
        }
        Value::Object(o) => json_string(out, &o.display(), html),
    }
    Ok(())
}

/// Go's `encoding/json` float format (ES6 style).
fn json_float(f: f64) -> Result<String, String> {
    if f.is_nan() || f.is_infinite() {
        return Err(format!(
            "json: unsupported value: {}",
            crate::gofmt::format_float(f)
        ));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // Go uses the shortest digits, with at least one exponent digit.
        let short = format!("{f:e}");
        let (mant, exp) = short.split_once('e').unwrap_or((&short, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        return Ok(format!(
            "{mant}e{}{}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        ));
    }
    // Shortest digits in plain decimal notation.
    let short = format!("{f}");
    Ok(short)
}

fn json_string(out: &mut String, s: &str, html: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' if html => out.push_str(&format!("\\u00{:02x}", c as u32)),
            '\u{2028}' | '\u{2029}' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u00{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Parses JSON as Go's `json.Unmarshal` into `interface{}` does (numbers are float64).
pub(crate) fn from_json(s: &str) -> Result<Value, String> {
    let v: serde_json::Value = serde_json::from_str(s).map_err(|e| e.to_string())?;
    Ok(Value::from_json(&v))
}

pub(super) fn register(f: &mut Functions) {
    use Ty::*;
    f.insert(
        "default",
        Function::variadic(&[Any], Any, |a| {
            let given = &a[1..];
            if given.is_empty() || is_empty(&given[0]) {
                Ok(a[0].clone())
            } else {
                Ok(given[0].clone())
            }
        }),
    );
    f.insert(
        "empty",
        Function::new(&[Any], |a| Ok(Value::Bool(is_empty(&a[0])))),
    );
    f.insert(
        "coalesce",
        Function::variadic(&[], Any, |a| {
            Ok(a.iter()
                .find(|v| !is_empty(v))
                .cloned()
                .unwrap_or(Value::Nil))
        }),
    );
    f.insert(
        "all",
        Function::variadic(&[], Any, |a| {
            Ok(Value::Bool(a.iter().all(|v| !is_empty(v))))
        }),
    );
    f.insert(
        "any",
        Function::variadic(&[], Any, |a| {
            Ok(Value::Bool(a.iter().any(|v| !is_empty(v))))
        }),
    );
    f.insert(
        "ternary",
        Function::new(&[Any, Any, Bool], |a| {
            Ok(if matches!(a[2], Value::Bool(true)) {
                a[0].clone()
            } else {
                a[1].clone()
            })
        }),
    );
    f.insert(
        "fail",
        Function::new(&[String], |a| {
            Err(a[0].as_str().unwrap_or_default().to_string())
        }),
    );
    f.insert(
        "toJson",
        Function::new(&[Any], |a| {
            Ok(Value::String(
                to_json(&a[0], true, None).unwrap_or_default(),
            ))
        }),
    );
    f.insert(
        "mustToJson",
        Function::new(&[Any], |a| to_json(&a[0], true, None).map(Value::String)),
    );
    f.insert(
        "toPrettyJson",
        Function::new(&[Any], |a| {
            Ok(Value::String(
                to_json(&a[0], true, Some("  ")).unwrap_or_default(),
            ))
        }),
    );
    f.insert(
        "mustToPrettyJson",
        Function::new(&[Any], |a| {
            to_json(&a[0], true, Some("  ")).map(Value::String)
        }),
    );
    f.insert(
        "toRawJson",
        Function::new(&[Any], |a| {
            Ok(Value::String(
                to_json(&a[0], false, None).unwrap_or_default(),
            ))
        }),
    );
    f.insert(
        "mustToRawJson",
        Function::new(&[Any], |a| to_json(&a[0], false, None).map(Value::String)),
    );
    f.insert(
        "fromJson",
        Function::new(&[String], |a| {
            Ok(from_json(a[0].as_str().unwrap_or_default()).unwrap_or(Value::Nil))
        }),
    );
    f.insert(
        "mustFromJson",
        Function::new(&[String], |a| from_json(a[0].as_str().unwrap_or_default())),
    );
}
