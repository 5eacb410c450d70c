//! Values as Helm reads, merges and scopes them.

use serde_json::{Map, Value as Json};

use crate::Error;
use crate::chart::Chart;

/// A values table.
pub type Table = Map<String, Json>;

/// Reads a values file (YAML → JSON, every number a float64) as Helm's `ReadValues` does.
///
/// # Errors
/// [`Error::Yaml`] naming `path` and the line, or [`Error::Values`] when the document is not a
/// mapping.
pub fn parse_values(path: &str, data: &[u8]) -> Result<Table, Error> {
    let text = std::str::from_utf8(data)
        .map_err(|e| Error::values(format!("{path}: invalid UTF-8 at byte {}", e.valid_up_to())))?;
    // Plainly written values are read line by line; anything else (errors included) by the
    // full parser.
    let node = match crate::plain_yaml::parse(text) {
        Some(node) => node,
        None => crate::yaml::parse_one(text).map_err(|e| Error::Yaml {
            path: path.to_string(),
            line: e.line,
            column: e.column,
            message: e.message,
        })?,
    };
    match node
        .to_json()
        .map_err(|m| Error::values(format!("{path}: {m}")))?
    {
        Json::Object(m) => Ok(m),
        Json::Null => Ok(Map::new()),
        _ => Err(Error::values(format!(
            "{path}: error unmarshaling JSON: cannot unmarshal into Go value of type map[string]interface {{}}"
        ))),
    }
}

/// Merges `src` into `dest` as Helm merges `-f` files and `--set` results: maps merge key by
/// key, anything else in `src` replaces.
pub fn merge_maps(dest: &mut Table, src: Table) {
    for (k, v) in src {
        match (dest.get_mut(&k), v) {
            (Some(Json::Object(d)), Json::Object(s)) => merge_maps(d, s),
            (_, v) => {
                dest.insert(k, v);
            }
        }
    }
}

/// Coalesces the chart's defaults (and its subcharts') under the user's values, as Helm's
/// `CoalesceValues`: a user `null` deletes the default, subcharts get their section and the
/// parent's `global`.
pub fn coalesce(chart: &Chart, user: Table) -> Table {
    let mut dest = user;
    coalesce_chart(chart, &mut dest, false, 0);
    dest
}

/// As [`coalesce`] in Helm's merge mode: a `null` is kept instead of deleting.
pub fn merge_values(chart: &Chart, user: Table) -> Table {
    let mut dest = user;
    coalesce_chart(chart, &mut dest, true, 0);
    dest
}

fn coalesce_chart(chart: &Chart, dest: &mut Table, merge: bool, depth: usize) {
    // Helm's `coalesceValues`: a subchart's section merges (keeping `null`s), so that the
    // subchart's own coalescing is the one that deletes its defaults.
    for (k, v) in &chart.values {
        match dest.get_mut(k) {
            Some(Json::Null) => {
                if !merge {
                    dest.remove(k);
                }
            }
            Some(Json::Object(d)) => {
                if let Json::Object(s) = v {
                    let child = chart.dependencies.iter().any(|c| c.name() == k);
                    coalesce_tables(d, s, merge || child);
                }
            }
            Some(_) => {}
            None => {
                dest.insert(k.clone(), v.clone());
            }
        }
    }
    if depth > crate::chart::MAX_CHART_DEPTH {
        return;
    }
    for sub in &chart.dependencies {
        let name = sub.name().to_string();
        let entry = dest
            .entry(name.clone())
            .or_insert_with(|| Json::Object(Map::new()));
        if let Json::Object(_) = entry {
            let parent_global = dest.get("global").cloned();
            if let Some(Json::Object(sv)) = dest.get_mut(&name) {
                coalesce_globals(sv, parent_global);
                coalesce_chart(sub, sv, merge, depth + 1);
            }
        }
    }
}

fn coalesce_globals(dest: &mut Table, parent: Option<Json>) {
    let Some(Json::Object(pg)) = parent else {
        return;
    };
    let dg = dest
        .entry("global".to_string())
        .or_insert_with(|| Json::Object(Map::new()));
    if !dg.is_object() {
        *dg = Json::Object(Map::new());
    }
    let Json::Object(dg) = dg else { return };
    for (k, v) in pg {
        match (dg.get_mut(&k), v) {
            (Some(Json::Object(d)), Json::Object(s)) => override_tables(d, s),
            (_, v) => {
                dg.insert(k, v);
            }
        }
    }
}

/// The parent's globals win over the subchart's, key by key.
fn override_tables(dest: &mut Table, src: Table) {
    for (k, v) in src {
        match (dest.get_mut(&k), v) {
            (Some(Json::Object(d)), Json::Object(s)) => override_tables(d, s),
            (_, v) => {
                dest.insert(k, v);
            }
        }
    }
}

/// Helm's `coalesceTables`: `dest` wins; a `null` in `dest` deletes the key unless `merge`.
fn coalesce_tables(dest: &mut Table, src: &Table, merge: bool) {
    for (k, v) in src {
        match dest.get_mut(k) {
            Some(Json::Null) => {
                if !merge {
                    dest.remove(k);
                }
            }
            Some(Json::Object(d)) => {
                if let Json::Object(s) = v {
                    coalesce_tables(d, s, merge);
                }
            }
            Some(_) => {}
            None => {
                dest.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Applies `import-values` as Helm's `processDependencyImportValues` does (merge mode),
/// deepest charts first: a chart with dependencies gets as defaults its values merged with
/// its subcharts', plus the imported tables where it sets nothing itself.
pub fn process_imports(chart: &mut Chart) {
    process_imports_at(chart, 0);
}

fn table_at<'a>(values: &'a Table, path: &str) -> Option<&'a Table> {
    let mut cur = values;
    for p in path.split('.').filter(|p| !p.is_empty()) {
        cur = cur.get(p)?.as_object()?;
    }
    Some(cur)
}

fn path_to_map(path: &str, data: Table) -> Table {
    if path == "." || path.is_empty() {
        return data;
    }
    let mut out = data;
    for p in path.split('.').filter(|p| !p.is_empty()).rev() {
        let mut m = Map::new();
        m.insert(p.to_string(), Json::Object(out));
        out = m;
    }
    out
}

fn process_imports_at(chart: &mut Chart, depth: usize) {
    if depth > crate::chart::MAX_CHART_DEPTH {
        return;
    }
    for sub in &mut chart.dependencies {
        process_imports_at(sub, depth + 1);
    }
    if chart.metadata.dependencies.is_empty() {
        return;
    }
    let cvals = merge_values(chart, Map::new());
    let mut b = Map::new();
    for dep in &chart.metadata.dependencies {
        for iv in &dep.import_values {
            let (child, parent) = match iv {
                crate::chart::ImportValue::Exports(name) => (format!("exports.{name}"), "."),
                crate::chart::ImportValue::Path { child, parent } => {
                    (child.clone(), parent.as_str())
                }
            };
            if let Some(t) = table_at(&cvals, &format!("{}.{child}", dep.name)) {
                coalesce_tables(&mut b, &path_to_map(parent, t.clone()), true);
            }
        }
    }
    let mut values = cvals;
    coalesce_tables(&mut values, &b, true);
    chart.values = values;
}

/// Applies `Chart.yaml`'s dependencies as Helm's `ProcessDependencies` does: renames aliased
/// subcharts, drops those a `condition` or `tags` disable (judged on the user's values
/// coalesced with the chart's), and fails on a listed dependency missing from `charts/`.
///
/// # Errors
/// [`Error::Chart`] for a dependency missing from `charts/`.
pub fn process_dependencies(chart: &mut Chart, user: &Table) -> Result<(), Error> {
    process_at(chart, user, "", 0)
}

fn lookup<'a>(values: &'a Table, path: &str) -> Option<&'a Json> {
    let mut cur = values;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        let v = cur.get(p)?;
        if parts.peek().is_none() {
            return Some(v);
        }
        cur = v.as_object()?;
    }
    None
}

fn process_at(chart: &mut Chart, v: &Table, prefix: &str, depth: usize) -> Result<(), Error> {
    if depth > crate::chart::MAX_CHART_DEPTH || chart.metadata.dependencies.is_empty() {
        return Ok(());
    }
    let available = std::mem::take(&mut chart.dependencies);
    for dep in &chart.metadata.dependencies {
        if !available.iter().any(|c| c.name() == dep.name) {
            return Err(Error::chart(
                chart.name(),
                format!(
                    "found in Chart.yaml, but missing in charts/ directory: {}",
                    dep.name
                ),
            ));
        }
    }
    // Subcharts Chart.yaml does not list come first, then the listed ones in its order. Each
    // is moved, not copied (a subchart carries all its files); only a chart listed several
    // times (under aliases) is cloned, for all but its last use.
    let deps = &chart.metadata.dependencies;
    let uses = |c: &Chart| deps.iter().filter(|d| d.name == c.name()).count();
    let mut left: Vec<usize> = available.iter().map(uses).collect();
    let mut available: Vec<Option<Chart>> = available.into_iter().map(Some).collect();
    let mut subs: Vec<Chart> = Vec::new();
    for (slot, n) in available.iter_mut().zip(&left) {
        if *n == 0 {
            subs.extend(slot.take());
        }
    }
    let mut listed = Vec::new();
    for dep in deps {
        let found = available
            .iter()
            .position(|c| c.as_ref().is_some_and(|c| c.name() == dep.name));
        if let Some(i) = found {
            left[i] -= 1;
            let mut sub = if left[i] == 0 {
                available[i].take()
            } else {
                available[i].clone()
            }
            .expect("a slot is emptied only at its chart's last use");
            if !dep.alias.is_empty() {
                sub.metadata.name = dep.alias.clone();
            }
            listed.push((sub.name().to_string(), dep.clone()));
            subs.push(sub);
        }
    }
    chart.dependencies = subs;
    let cvals = coalesce(chart, v.clone());
    let mut disabled: Vec<String> = Vec::new();
    for (name, dep) in &listed {
        let mut enabled = true;
        if let Some(Json::Object(tags)) = cvals.get("tags") {
            let (mut has_true, mut has_false) = (false, false);
            for t in &dep.tags {
                match tags.get(t) {
                    Some(Json::Bool(true)) => has_true = true,
                    Some(Json::Bool(false)) => has_false = true,
                    _ => {}
                }
            }
            enabled = has_true || !has_false;
        }
        for c in dep.condition.trim().split(',') {
            if c.is_empty() {
                continue;
            }
            if let Some(Json::Bool(b)) = lookup(&cvals, &format!("{prefix}{c}")) {
                enabled = *b;
                break;
            }
        }
        if !enabled {
            disabled.push(name.clone());
        }
    }
    chart
        .dependencies
        .retain(|c| !disabled.iter().any(|d| d == c.name()));
    // `.Chart.Dependencies` then lists the enabled ones, named by their alias.
    chart.metadata.dependencies = listed
        .into_iter()
        .filter(|(name, _)| !disabled.contains(name))
        .map(|(name, mut dep)| {
            dep.name = name;
            dep
        })
        .collect();
    for sub in &mut chart.dependencies {
        let p = format!("{prefix}{}.", sub.name());
        process_at(sub, &cvals, &p, depth + 1)?;
    }
    Ok(())
}

/// Which `--set` flag an argument came from: how its values are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SetKind {
    /// `--set`: `true`, `false`, `null` and integers typed, the rest strings.
    Typed,
    /// `--set-string`: every value a string.
    String,
    /// `--set-file`: each value is a path whose contents become the string.
    File,
    /// `--set-json`: each value is JSON (numbers float64).
    Json,
    /// `--set-literal`: one key, and everything after `=` as the string, commas included.
    Literal,
}

/// Parses one `--set`-family argument into `base`, with Helm's `strvals` rules: `a.b=c`,
/// `a[0]=x`, `a={x,y}`, `\,` and `\.` escapes, several assignments separated by commas,
/// `null` deleting (setting nil); `kind` says how values are read.
///
/// # Errors
/// [`Error::Set`] with strvals' message (for `--set-file`, the file that cannot be read).
pub fn parse_set(text: &str, base: &mut Table, kind: SetKind) -> Result<(), Error> {
    let mut p = SetParser {
        s: text.chars().collect(),
        i: 0,
        kind,
    };
    p.parse(base).map_err(|m| Error::Set {
        expr: text.to_string(),
        message: m,
    })
}

/// The largest list index `--set` accepts (Helm's bound).
pub const MAX_INDEX: usize = 65536;

struct SetParser {
    s: Vec<char>,
    i: usize,
    kind: SetKind,
}

enum Stop {
    Eof,
    Char(char),
}

impl SetParser {
    fn parse(&mut self, base: &mut Table) -> Result<(), String> {
        loop {
            if self.i >= self.s.len() {
                return Ok(());
            }
            self.key(base, 0)?;
        }
    }

    /// Reads until one of `stops`, unescaping `\x`.
    fn run_until(&mut self, stops: &[char]) -> (String, Stop) {
        let mut out = String::new();
        while self.i < self.s.len() {
            let c = self.s[self.i];
            self.i += 1;
            if c == '\\' && self.i < self.s.len() {
                out.push(self.s[self.i]);
                self.i += 1;
                continue;
            }
            if stops.contains(&c) {
                return (out, Stop::Char(c));
            }
            out.push(c);
        }
        (out, Stop::Eof)
    }

    fn key(&mut self, data: &mut Table, depth: usize) -> Result<(), String> {
        if depth > 100 {
            return Err("value nests too deeply".into());
        }
        let (k, stop) = self.run_until(&['=', '[', ',', '.']);
        match stop {
            Stop::Eof => {
                if k.is_empty() {
                    return Ok(());
                }
                Err(format!("key \"{k}\" has no value"))
            }
            Stop::Char('[') => {
                let list = match data.remove(&k) {
                    Some(Json::Array(l)) => l,
                    _ => Vec::new(),
                };
                let list = self.list_item(list, depth + 1)?;
                data.insert(k, Json::Array(list));
                Ok(())
            }
            Stop::Char('=') => {
                if k.is_empty() {
                    return Err("key  has no value".into());
                }
                if self.lists_allowed() && self.peek() == Some('{') {
                    self.i += 1;
                    let items = self.list_values()?;
                    data.insert(k, Json::Array(items));
                    return self.after_value();
                }
                let v = self.value()?;
                data.insert(k, v);
                Ok(())
            }
            Stop::Char(',') => {
                // `a,b=c`: a key without value.
                Err(format!("key \"{k}\" has no value (cannot end with ,)"))
            }
            Stop::Char('.') => {
                if k.is_empty() {
                    return Err("key  has no value".into());
                }
                let mut inner = match data.remove(&k) {
                    Some(Json::Object(m)) => m,
                    _ => Map::new(),
                };
                let r = self.key(&mut inner, depth + 1);
                data.insert(k, Json::Object(inner));
                r
            }
            Stop::Char(_) => Ok(()),
        }
    }

    fn after_value(&mut self) -> Result<(), String> {
        match self.peek() {
            None => Ok(()),
            Some(',') => {
                self.i += 1;
                Ok(())
            }
            Some(c) => Err(format!("key map invalid: unexpected {c:?} after list")),
        }
    }

    fn peek(&self) -> Option<char> {
        self.s.get(self.i).copied()
    }

    fn lists_allowed(&self) -> bool {
        matches!(self.kind, SetKind::Typed | SetKind::String)
    }

    /// The value after `=`, read as the flag reads it, up to the `,` that ends it.
    fn value(&mut self) -> Result<Json, String> {
        match self.kind {
            SetKind::Typed | SetKind::String => {
                let (v, _) = self.run_until(&[',']);
                Ok(self.typed(&v))
            }
            SetKind::Literal => {
                let v: String = self.s[self.i..].iter().collect();
                self.i = self.s.len();
                Ok(Json::String(v))
            }
            SetKind::File => {
                let (path, _) = self.run_until(&[',']);
                let data = std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?;
                if data.len() as u64 > crate::chart::MAX_FILE_BYTES {
                    return Err(format!(
                        "{path}: larger than {} bytes",
                        crate::chart::MAX_FILE_BYTES
                    ));
                }
                Ok(Json::String(String::from_utf8_lossy(&data).into_owned()))
            }
            SetKind::Json => {
                let rest: String = self.s[self.i..].iter().collect();
                let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<Json>();
                let v = match stream.next() {
                    Some(Ok(v)) => v,
                    Some(Err(e)) => return Err(format!("invalid JSON value: {e}")),
                    None => return Err("missing JSON value".into()),
                };
                let used = rest[..stream.byte_offset()].chars().count();
                self.i += used;
                self.after_value()?;
                Ok(floats(v))
            }
        }
    }

    /// strvals' `typedVal`: `true`, `false`, `null` and `0` in any case, then an integer
    /// without a leading zero, kept an int64 (no JSON round trip makes it a float64); the rest
    /// stays a string.
    fn typed(&self, v: &str) -> Json {
        if self.kind != SetKind::Typed {
            return Json::String(v.to_string());
        }
        if v.eq_ignore_ascii_case("true") {
            return Json::Bool(true);
        }
        if v.eq_ignore_ascii_case("false") {
            return Json::Bool(false);
        }
        if v.eq_ignore_ascii_case("null") {
            return Json::Null;
        }
        if v == "0" {
            return Json::from(0i64);
        }
        if !v.is_empty()
            && !v.starts_with('0')
            && let Some(i) = parse_go_int(v)
        {
            return Json::from(i);
        }
        Json::String(v.to_string())
    }

    fn list_values(&mut self) -> Result<Vec<Json>, String> {
        let mut out = Vec::new();
        loop {
            let (v, stop) = self.run_until(&[',', '}']);
            match stop {
                Stop::Eof => return Err("list must terminate with '}'".into()),
                Stop::Char('}') => {
                    out.push(self.typed(&v));
                    return Ok(out);
                }
                Stop::Char(_) => out.push(self.typed(&v)),
            }
        }
    }

    fn list_item(&mut self, mut list: Vec<Json>, depth: usize) -> Result<Vec<Json>, String> {
        if depth > 100 {
            return Err("value nests too deeply".into());
        }
        let (idx, stop) = self.run_until(&[']']);
        if !matches!(stop, Stop::Char(']')) {
            return Err(format!("error parsing index: {idx}"));
        }
        let i: usize = idx.parse().map_err(|_| {
            format!("failed to parse index: strconv.Atoi: parsing {idx:?}: invalid syntax")
        })?;
        if i > MAX_INDEX {
            return Err(format!(
                "index of {i} is greater than maximum supported index of {MAX_INDEX}"
            ));
        }
        let (_, stop) = self.run_until(&['[', '.', '=']);
        match stop {
            Stop::Eof => Err("set nothing: list index without value".into()),
            Stop::Char('=') => {
                if self.lists_allowed() && self.peek() == Some('{') {
                    self.i += 1;
                    let items = self.list_values()?;
                    set_index(&mut list, i, Json::Array(items));
                    self.after_value()?;
                    return Ok(list);
                }
                let v = self.value()?;
                set_index(&mut list, i, v);
                Ok(list)
            }
            Stop::Char('[') => {
                let inner = match list.get(i) {
                    Some(Json::Array(l)) => l.clone(),
                    _ => Vec::new(),
                };
                let inner = self.list_item(inner, depth + 1)?;
                set_index(&mut list, i, Json::Array(inner));
                Ok(list)
            }
            Stop::Char(_) => {
                let mut inner = match list.get(i) {
                    Some(Json::Object(m)) => m.clone(),
                    _ => Map::new(),
                };
                self.key(&mut inner, depth + 1)?;
                set_index(&mut list, i, Json::Object(inner));
                Ok(list)
            }
        }
    }
}

/// Go's `encoding/json` reads every number as a float64.
fn floats(v: Json) -> Json {
    match v {
        Json::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map_or(Json::Null, Json::Number),
        Json::Array(a) => Json::Array(a.into_iter().map(floats).collect()),
        Json::Object(o) => Json::Object(o.into_iter().map(|(k, v)| (k, floats(v))).collect()),
        other => other,
    }
}

/// Go's `strconv.ParseInt(v, 10, 64)`: an optional sign and decimal digits.
fn parse_go_int(v: &str) -> Option<i64> {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse::<i64>().ok()
}

fn set_index(list: &mut Vec<Json>, i: usize, v: Json) {
    if list.len() <= i {
        list.resize(i + 1, Json::Null);
    }
    list[i] = v;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> Json {
        let mut m = Map::new();
        parse_set(s, &mut m, SetKind::Typed).expect("set");
        Json::Object(m)
    }

    #[test]
    fn strvals_common_forms() {
        assert_eq!(
            set("a.b=c,d=1"),
            serde_json::json!({"a": {"b": "c"}, "d": 1})
        );
        assert_eq!(set("a[1]=x"), serde_json::json!({"a": [null, "x"]}));
        assert_eq!(set("a={x,y}"), serde_json::json!({"a": ["x", "y"]}));
        assert_eq!(
            set(r"a=x\,y,b\.c=2"),
            serde_json::json!({"a": "x,y", "b.c": 2})
        );
        assert_eq!(
            set("a=null,b=true,c=010"),
            serde_json::json!({"a": null, "b": true, "c": "010"})
        );
        assert_eq!(set("a[0].b=1"), serde_json::json!({"a": [{"b": 1}]}));
        assert_eq!(
            set("a={},b=TRUE"),
            serde_json::json!({"a": [""], "b": true})
        );
    }

    #[test]
    fn strvals_errors() {
        let mut m = Map::new();
        assert!(parse_set("a", &mut m, SetKind::Typed).is_err());
        assert!(parse_set("a[99999999]=1", &mut m, SetKind::Typed).is_err());
        assert!(parse_set("a={x", &mut m, SetKind::Typed).is_err());
        assert!(parse_set("a={x", &mut m, SetKind::Json).is_err());
        assert!(parse_set("a=/nonexistent/file", &mut m, SetKind::File).is_err());
    }
}
