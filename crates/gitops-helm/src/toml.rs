//! Helm's `toToml` and `fromToml`: BurntSushi/toml's encoder over the template value (keys
//! sorted, plain keys before tables, nested tables indented two spaces per level) and its
//! decoder into template values.

use std::collections::BTreeMap;

use gitops_gotmpl::Value;

fn is_table(v: &Value) -> bool {
    matches!(v, Value::Map(_))
}

/// An array all of whose elements are maps is an array of tables.
fn is_table_array(v: &Value) -> bool {
    match v {
        Value::List(items) => !items.is_empty() && items.iter().all(is_table),
        _ => false,
    }
}

fn bare(key: &str) -> bool {
    !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn quote(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn key_text(key: &str) -> String {
    if bare(key) {
        key.to_string()
    } else {
        let mut s = String::new();
        quote(&mut s, key);
        s
    }
}

fn float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let s = gitops_gotmpl::gofmt::format_float(f);
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

struct Enc {
    out: String,
    depth: usize,
}

impl Enc {
    fn newline(&mut self) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
    }

    fn element(&mut self, v: &Value) -> Result<(), String> {
        self.depth += 1;
        if self.depth > 1000 {
            return Err("toml: nesting too deep".into());
        }
        match v {
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::Int64(i) => self.out.push_str(&i.to_string()),
            Value::Float(f) => self.out.push_str(&float(*f)),
            Value::String(s) => quote(&mut self.out, s),
            Value::List(items) => {
                self.out.push('[');
                let mut first = true;
                for item in items.iter() {
                    if item.is_nil() {
                        continue;
                    }
                    if !first {
                        self.out.push_str(", ");
                    }
                    first = false;
                    self.element(item)?;
                }
                self.out.push(']');
            }
            Value::Map(m) => {
                self.out.push('{');
                let entries = sorted(m.entries());
                let n = entries.len();
                for (i, (k, x)) in entries.into_iter().enumerate() {
                    self.out.push_str(&key_text(&k));
                    self.out.push_str(" = ");
                    self.element(&x)?;
                    if i + 1 != n {
                        self.out.push_str(", ");
                    }
                }
                self.out.push('}');
            }
            Value::Missing | Value::Nil => {
                return Err("toml: cannot encode a nil value".into());
            }
            Value::Object(o) => quote(&mut self.out, &o.display()),
        }
        self.depth -= 1;
        Ok(())
    }

    fn table(&mut self, path: &[String], entries: Vec<(String, Value)>) -> Result<(), String> {
        if path.len() > 1000 {
            return Err("toml: nesting too deep".into());
        }
        let (direct, sub): (Vec<_>, Vec<_>) = sorted(entries)
            .into_iter()
            .filter(|(_, v)| !v.is_nil())
            .partition(|(_, v)| !is_table(v) && !is_table_array(v));
        let indent = "  ".repeat(path.len());
        for (k, v) in direct {
            self.out.push_str(&indent);
            self.out.push_str(&key_text(&k));
            self.out.push_str(" = ");
            self.element(&v)?;
            self.out.push('\n');
        }
        // Tables and arrays of tables follow, in key order.
        for (k, v) in sub {
            let mut p = path.to_vec();
            p.push(k);
            let header: Vec<String> = p.iter().map(|s| key_text(s)).collect();
            let ind = "  ".repeat(p.len() - 1);
            match v {
                Value::Map(m) => {
                    if p.len() == 1 {
                        self.newline();
                    }
                    self.out.push_str(&format!("{ind}[{}]", header.join(".")));
                    self.out.push('\n');
                    self.table(&p, m.entries())?;
                }
                Value::List(items) => {
                    for item in items.iter() {
                        if let Value::Map(m) = item {
                            self.newline();
                            self.out.push_str(&format!("{ind}[[{}]]", header.join(".")));
                            self.out.push('\n');
                            self.table(&p, m.entries())?;
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

fn sorted(mut entries: Vec<(String, Value)>) -> Vec<(String, Value)> {
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries
}

/// `toToml`: the TOML text, or (as Helm returns it) the encoder's error message.
pub fn to_toml(v: &Value) -> String {
    let mut enc = Enc {
        out: String::new(),
        depth: 0,
    };
    let r = match v {
        Value::Map(m) => enc.table(&[], m.entries()),
        other => enc.element(other),
    };
    match r {
        Ok(()) => enc.out,
        Err(e) => e,
    }
}

/// Helm's `fromToml`: BurntSushi/toml's decoding into `map[string]interface{}` (integers are
/// `int64`, floats `float64`, date-times `time.Time` in the zones that decoder names
/// `datetime-local`, `date-local` and `time-local` when the text has no offset). Invalid
/// TOML gives a map whose `Error` key holds the message, as Helm does; the message names the
/// line but is worded by this parser, not Go's.
pub fn from_toml(text: &str) -> Value {
    match text.parse::<toml::Table>() {
        Ok(table) => table_value(&table),
        Err(e) => {
            let line = e
                .span()
                .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1)
                .unwrap_or(1);
            let mut error = BTreeMap::new();
            error.insert(
                "Error".to_string(),
                Value::String(format!("toml: line {line}: {}", e.message())),
            );
            Value::map(error)
        }
    }
}

fn table_value(table: &toml::Table) -> Value {
    Value::map(
        table
            .iter()
            .map(|(k, v)| (k.clone(), toml_value(v)))
            .collect(),
    )
}

fn toml_value(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::Int64(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => datetime(d),
        toml::Value::Array(items) => Value::list(items.iter().map(toml_value).collect()),
        toml::Value::Table(t) => table_value(t),
    }
}

fn datetime(d: &toml::value::Datetime) -> Value {
    // Go's zero date (a time without a date) is year 0, January 1.
    let (year, month, day) = d.date.map_or((0, 1, 1), |date| {
        (i64::from(date.year), date.month, date.day)
    });
    let (hour, minute, second, nanos) = d
        .time
        .map_or((0, 0, 0, 0), |t| (t.hour, t.minute, t.second, t.nanosecond));
    let local = gitops_gotmpl::sprig::unix_seconds(
        year,
        u32::from(month),
        u32::from(day),
        u32::from(hour),
        u32::from(minute),
        u32::from(second),
    );
    let (offset, zone) = match (d.offset, d.date, d.time) {
        (Some(toml::value::Offset::Z), _, _) => (0, None),
        (Some(toml::value::Offset::Custom { minutes }), _, _) => (i32::from(minutes) * 60, None),
        (None, Some(_), Some(_)) => (0, Some("datetime-local")),
        (None, Some(_), None) => (0, Some("date-local")),
        (None, None, _) => (0, Some("time-local")),
    };
    gitops_gotmpl::sprig::time_at(local - i64::from(offset), nanos, offset, zone)
}
