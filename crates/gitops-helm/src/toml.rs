//! Helm's `toToml`: BurntSushi/toml's encoder over the template value (keys sorted, plain
//! keys before tables, nested tables indented two spaces per level).

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
