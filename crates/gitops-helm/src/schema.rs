//! `values.schema.json` validation: the JSON Schema keywords charts use, with the messages
//! Helm v4 prints (santhosh-tekuri/jsonschema's wording).

use serde_json::Value as Json;

/// How deeply `$ref`s and subschemas may nest before validation gives up on a branch.
const MAX_DEPTH: usize = 200;
/// How many (schema, value) pairs one validation may visit: a schema whose `anyOf`s refer
/// back to itself would otherwise take exponential time.
const MAX_STEPS: u64 = 100_000;

struct Ctx<'a> {
    root: &'a Json,
    steps: std::cell::Cell<u64>,
}

/// One failed keyword at an instance location, with the failures below it (`anyOf`, …).
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The JSON pointer of the value (`''` is the whole values).
    pub at: String,
    /// What failed.
    pub message: String,
    /// The causes, for `anyOf`, `oneOf`, `allOf` and `not`.
    pub causes: Vec<Failure>,
}

impl Failure {
    fn write(&self, out: &mut String, indent: usize) {
        out.extend(std::iter::repeat_n(' ', indent));
        out.push_str(&format!("- at '{}': {}\n", self.at, self.message));
        for c in &self.causes {
            c.write(out, indent + 2);
        }
    }
}

/// The lines Helm prints for `failures`, each ending with a line break.
pub fn render(failures: &[Failure]) -> String {
    let mut out = String::new();
    for f in failures {
        f.write(&mut out, 0);
    }
    out
}

/// Validates `value` against `schema` (the root of the schema document, for `$ref`).
pub fn validate(schema: &Json, value: &Json) -> Vec<Failure> {
    let mut out = Vec::new();
    let ctx = Ctx {
        root: schema,
        steps: std::cell::Cell::new(0),
    };
    check(&ctx, schema, value, "", &mut out, 0);
    if ctx.steps.get() > MAX_STEPS {
        // Not Helm's behaviour (it has no bound): a schema this costly is refused, never
        // silently passed.
        out.push(fail(
            "",
            format!("validation stopped after {MAX_STEPS} steps (recursive schema?)"),
        ));
    }
    out
}

fn kind(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::String(_) => "string",
        Json::Array(_) => "array",
        Json::Object(_) => "object",
    }
}

fn is_integer(v: &Json) -> bool {
    v.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn type_ok(t: &str, v: &Json) -> bool {
    match t {
        "integer" => is_integer(v),
        "number" => v.is_number(),
        other => kind(v) == other,
    }
}

/// Numbers as golang.org/x/text's printer shows them: thousands grouped.
fn number(v: f64) -> String {
    let text = gitops_gotmpl::gofmt::format_float(v);
    if text.contains('e') {
        return text;
    }
    let (sign, rest) = match text.strip_prefix('-') {
        Some(r) => ("-", r),
        None => ("", text.as_str()),
    };
    let (int, frac) = match rest.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (rest, None),
    };
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f}"),
        None => format!("{sign}{grouped}"),
    }
}

fn quoted(v: &Json) -> String {
    match v {
        Json::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

fn resolve<'a>(root: &'a Json, reference: &str) -> Option<&'a Json> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    root.pointer(pointer)
}

fn escape(seg: &str) -> String {
    seg.replace('~', "~0").replace('/', "~1")
}

fn check(ctx: &Ctx<'_>, schema: &Json, v: &Json, at: &str, out: &mut Vec<Failure>, depth: usize) {
    ctx.steps.set(ctx.steps.get() + 1);
    if depth > MAX_DEPTH || ctx.steps.get() > MAX_STEPS {
        return;
    }
    let root = ctx.root;
    let s = match schema {
        Json::Bool(true) => return,
        Json::Bool(false) => {
            out.push(fail(at, "false schema".to_string()));
            return;
        }
        Json::Object(s) => s,
        _ => return,
    };
    if let Some(Json::String(r)) = s.get("$ref")
        && let Some(target) = resolve(root, r)
    {
        check(ctx, target, v, at, out, depth + 1);
    }
    match s.get("type") {
        Some(Json::String(t)) if !type_ok(t, v) => {
            out.push(fail(at, format!("got {}, want {t}", kind(v))));
        }
        Some(Json::Array(ts)) if !ts.iter().any(|t| t.as_str().is_some_and(|t| type_ok(t, v))) => {
            let want: Vec<&str> = ts.iter().filter_map(|t| t.as_str()).collect();
            out.push(fail(
                at,
                format!("got {}, want {}", kind(v), want.join(" or ")),
            ));
        }
        _ => {}
    }
    if let Some(Json::Array(options)) = s.get("enum")
        && !options.iter().any(|o| equal(o, v))
    {
        let list: Vec<String> = options.iter().map(quoted).collect();
        out.push(fail(
            at,
            format!("value must be one of {}", list.join(", ")),
        ));
    }
    if let Some(c) = s.get("const")
        && !equal(c, v)
    {
        out.push(fail(at, format!("value must be {}", quoted(c))));
    }
    if let Some(x) = v.as_f64() {
        let bound = |k: &str| s.get(k).and_then(Json::as_f64);
        if let Some(m) = bound("minimum")
            && x < m
        {
            out.push(fail(
                at,
                format!("minimum: got {}, want {}", number(x), number(m)),
            ));
        }
        if let Some(m) = bound("maximum")
            && x > m
        {
            out.push(fail(
                at,
                format!("maximum: got {}, want {}", number(x), number(m)),
            ));
        }
        if let Some(m) = bound("exclusiveMinimum")
            && x <= m
        {
            out.push(fail(
                at,
                format!("exclusiveMinimum: got {}, want {}", number(x), number(m)),
            ));
        }
        if let Some(m) = bound("exclusiveMaximum")
            && x >= m
        {
            out.push(fail(
                at,
                format!("exclusiveMaximum: got {}, want {}", number(x), number(m)),
            ));
        }
        if let Some(m) = bound("multipleOf")
            && m > 0.0
            && (x / m).fract() != 0.0
        {
            out.push(fail(
                at,
                format!("multipleOf: got {}, want {}", number(x), number(m)),
            ));
        }
    }
    if let Json::String(text) = v {
        let len = text.chars().count();
        let bound = |k: &str| s.get(k).and_then(Json::as_u64);
        if let Some(m) = bound("minLength")
            && (len as u64) < m
        {
            out.push(fail(at, format!("minLength: got {len}, want {m}")));
        }
        if let Some(m) = bound("maxLength")
            && (len as u64) > m
        {
            out.push(fail(at, format!("maxLength: got {len}, want {m}")));
        }
        if let Some(Json::String(p)) = s.get("pattern")
            && let Ok(re) = regex::Regex::new(p)
            && !re.is_match(text)
        {
            out.push(fail(at, format!("'{text}' does not match pattern '{p}'")));
        }
    }
    if let Json::Array(items) = v {
        let bound = |k: &str| s.get(k).and_then(Json::as_u64);
        if let Some(m) = bound("minItems")
            && (items.len() as u64) < m
        {
            out.push(fail(at, format!("minItems: got {}, want {m}", items.len())));
        }
        if let Some(m) = bound("maxItems")
            && (items.len() as u64) > m
        {
            out.push(fail(at, format!("maxItems: got {}, want {m}", items.len())));
        }
        if s.get("uniqueItems") == Some(&Json::Bool(true)) {
            'outer: for i in 0..items.len() {
                for j in i + 1..items.len() {
                    if equal(&items[i], &items[j]) {
                        out.push(fail(at, format!("items at {i} and {j} are equal")));
                        break 'outer;
                    }
                }
            }
        }
        let prefix = match s.get("prefixItems") {
            Some(Json::Array(p)) => p.as_slice(),
            _ => &[],
        };
        for (i, item) in items.iter().enumerate() {
            let sub = if i < prefix.len() {
                Some(&prefix[i])
            } else {
                match s.get("items") {
                    Some(Json::Array(tuple)) => tuple.get(i).or_else(|| s.get("additionalItems")),
                    other => other,
                }
            };
            if let Some(sub) = sub {
                check(ctx, sub, item, &format!("{at}/{i}"), out, depth + 1);
            }
        }
    }
    if let Json::Object(map) = v {
        let bound = |k: &str| s.get(k).and_then(Json::as_u64);
        if let Some(m) = bound("minProperties")
            && (map.len() as u64) < m
        {
            out.push(fail(
                at,
                format!("minProperties: got {}, want {m}", map.len()),
            ));
        }
        if let Some(m) = bound("maxProperties")
            && (map.len() as u64) > m
        {
            out.push(fail(
                at,
                format!("maxProperties: got {}, want {m}", map.len()),
            ));
        }
        if let Some(Json::Array(req)) = s.get("required") {
            let missing: Vec<String> = req
                .iter()
                .filter_map(Json::as_str)
                .filter(|k| !map.contains_key(*k))
                .map(|k| format!("'{k}'"))
                .collect();
            match missing.len() {
                0 => {}
                1 => out.push(fail(at, format!("missing property {}", missing[0]))),
                _ => out.push(fail(
                    at,
                    format!("missing properties {}", missing.join(", ")),
                )),
            }
        }
        let props = s.get("properties").and_then(Json::as_object);
        let patterns: Vec<(regex::Regex, &Json)> = s
            .get("patternProperties")
            .and_then(Json::as_object)
            .map(|p| {
                p.iter()
                    .filter_map(|(k, sub)| regex::Regex::new(k).ok().map(|re| (re, sub)))
                    .collect()
            })
            .unwrap_or_default();
        let mut extra = Vec::new();
        for (k, item) in map {
            let here = format!("{at}/{}", escape(k));
            let mut known = false;
            if let Some(sub) = props.and_then(|p| p.get(k)) {
                known = true;
                check(ctx, sub, item, &here, out, depth + 1);
            }
            for (re, sub) in &patterns {
                if re.is_match(k) {
                    known = true;
                    check(ctx, sub, item, &here, out, depth + 1);
                }
            }
            if !known {
                match s.get("additionalProperties") {
                    Some(Json::Bool(false)) => extra.push(format!("'{k}'")),
                    Some(sub @ Json::Object(_)) => check(ctx, sub, item, &here, out, depth + 1),
                    _ => {}
                }
            }
        }
        if !extra.is_empty() {
            out.push(fail(
                at,
                format!("additional properties {} not allowed", extra.join(", ")),
            ));
        }
    }
    let sub_failures = |sub: &Json, depth: usize| {
        let mut f = Vec::new();
        check(ctx, sub, v, at, &mut f, depth + 1);
        f
    };
    if let Some(Json::Array(all)) = s.get("allOf") {
        let causes: Vec<Failure> = all.iter().flat_map(|x| sub_failures(x, depth)).collect();
        if !causes.is_empty() {
            out.push(Failure {
                at: at.to_string(),
                message: "'allOf' failed".into(),
                causes,
            });
        }
    }
    if let Some(Json::Array(any)) = s.get("anyOf") {
        let results: Vec<Vec<Failure>> = any.iter().map(|x| sub_failures(x, depth)).collect();
        if !results.iter().any(Vec::is_empty) {
            out.push(Failure {
                at: at.to_string(),
                message: "'anyOf' failed".into(),
                causes: results.into_iter().flatten().collect(),
            });
        }
    }
    if let Some(Json::Array(one)) = s.get("oneOf") {
        let results: Vec<Vec<Failure>> = one.iter().map(|x| sub_failures(x, depth)).collect();
        let valid: Vec<usize> = (0..results.len())
            .filter(|i| results[*i].is_empty())
            .collect();
        match valid.len() {
            1 => {}
            0 => out.push(Failure {
                at: at.to_string(),
                message: "'oneOf' failed, none matched".into(),
                causes: results.into_iter().flatten().collect(),
            }),
            _ => out.push(fail(
                at,
                format!(
                    "'oneOf' failed, subschemas {}, {} matched",
                    valid[0], valid[1]
                ),
            )),
        }
    }
    if let Some(not) = s.get("not")
        && sub_failures(not, depth).is_empty()
    {
        out.push(fail(at, "'not' failed".into()));
    }
    if let Some(cond) = s.get("if") {
        let branch = if sub_failures(cond, depth).is_empty() {
            s.get("then")
        } else {
            s.get("else")
        };
        if let Some(b) = branch {
            check(ctx, b, v, at, out, depth + 1);
        }
    }
}

fn fail(at: &str, message: String) -> Failure {
    Failure {
        at: at.to_string(),
        message,
        causes: Vec::new(),
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn equal(a: &Json, b: &Json) -> bool {
    match (a, b) {
        (Json::Number(x), Json::Number(y)) => x.as_f64() == y.as_f64(),
        (Json::Array(x), Json::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q))
        }
        (Json::Object(x), Json::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, p)| y.get(k).is_some_and(|q| equal(p, q)))
        }
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_grouped_numbers() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"port": {"type": "integer", "maximum": 65535}},
            "additionalProperties": false
        });
        let f = validate(&schema, &serde_json::json!({"port": 70000, "x": 1}));
        assert_eq!(
            render(&f),
            "- at '/port': maximum: got 70,000, want 65,535\n- at '': additional properties 'x' not allowed\n"
        );
    }

    #[test]
    fn self_referencing_schema_ends() {
        let schema = serde_json::json!({"$ref": "#"});
        assert!(validate(&schema, &serde_json::json!({"a": 1})).is_empty());
    }
}
