//! The built-in `ValueAddTransformer`: a value (by default the kustomization directory's
//! name) written to a field of the selected resources, or inserted into a file path held
//! there (`filePathPosition`); `metadata/namespace` is set as a namespace is.

use serde_json::{Map, Value};

use crate::error::{Error, invalid};
use crate::kustomization::{SELECTOR_FIELDS, Target, canonical_keys};
use crate::loader::{Layer, Loader, go_join};
use crate::resource::Resource;
use crate::transform::namespace::{Namespace, Subjects};
use crate::transform::plugins::string_field;

/// `ValueAddTransformer`: a value (by default the kustomization directory's name) written to
/// a field, or inserted into a file path held there, in the selected resources.
pub(crate) fn run(
    l: &Loader<'_>,
    layer: &Layer,
    source: &str,
    doc: &Map<String, Value>,
    ra: &mut [Resource],
) -> Result<(), Error> {
    let kind = "ValueAddTransformer";
    let m = canonical_keys(doc, &["value", "targets", "targetFilePath"]);
    let mut value = string_field(source, kind, &m, "value")?.trim().to_owned();
    if value.is_empty() {
        value = layer
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
    }
    let mut targets: Vec<Value> = match m.get("targets") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(invalid(source, format!("{kind}.targets: expected a list"))),
    };
    let file = string_field(source, kind, &m, "targetFilePath")?;
    if !file.is_empty() {
        let path = l.resolve(layer, &file, true)?;
        let shown = l.show(&path);
        let text = l.read_text(&path)?;
        for doc in l.parse_yaml(&shown, &text)? {
            if let Some(Value::Array(a)) = doc.get("targets") {
                targets.extend(a.iter().cloned());
            }
        }
    }
    if targets.is_empty() {
        return Err(invalid(
            source,
            format!("{kind}: must specify at least one target"),
        ));
    }
    let mut parsed = Vec::new();
    for (i, t) in targets.iter().enumerate() {
        let field = format!("{kind}.targets[{i}]");
        let t = t
            .as_object()
            .map(|t| canonical_keys(t, &["selector", "fieldPath", "filePathPosition"]))
            .ok_or_else(|| invalid(source, format!("{field}: expected a mapping")))?;
        let selector = match t.get("selector") {
            None | Some(Value::Null) => None,
            Some(Value::Object(sel)) => {
                let sel = canonical_keys(sel, SELECTOR_FIELDS);
                let f = |k: &str| string_field(source, &format!("{field}.selector"), &sel, k);
                Some(Target {
                    group: f("group")?,
                    version: f("version")?,
                    kind: f("kind")?,
                    name: f("name")?,
                    namespace: f("namespace")?,
                    label_selector: f("labelSelector")?,
                    annotation_selector: f("annotationSelector")?,
                })
            }
            Some(_) => {
                return Err(invalid(
                    source,
                    format!("{field}.selector: expected a mapping"),
                ));
            }
        };
        let path = string_field(source, &field, &t, "fieldPath")?;
        if path.is_empty() {
            return Err(invalid(
                source,
                format!("{field}: fieldPath cannot be empty"),
            ));
        }
        let pos = match t.get("filePathPosition") {
            None | Some(Value::Null) => 0,
            Some(v) => v.as_i64().ok_or_else(|| {
                invalid(
                    source,
                    format!("{field}.filePathPosition: expected an integer"),
                )
            })?,
        };
        if pos < 0 {
            return Err(invalid(
                source,
                format!("{field}: value of FilePathPosition ({pos}) cannot be negative"),
            ));
        }
        parsed.push((field, selector, path, pos));
    }
    for (field, selector, path, pos) in parsed {
        let chosen: Vec<usize> = match &selector {
            None => (0..ra.len()).collect(),
            Some(t) => super::patch::select(source, &field, t, ra)?,
        };
        for i in chosen {
            let r = &mut ra[i];
            if path == "metadata/namespace" {
                let setter = Namespace {
                    ns: &value,
                    specs: &[],
                    unset_only: false,
                    subjects: Subjects::DefaultOnly,
                };
                setter
                    .apply(r)
                    .map_err(|e| invalid(source, format!("{field}: {e}")))?;
                continue;
            }
            add_value(&mut r.value, &path, &value, pos)
                .map_err(|e| invalid(source, format!("{field}: {e}")))?;
        }
    }
    Ok(())
}

/// Writes `value` at a `/`-separated path (`\/` escapes a slash), creating missing maps;
/// with `pos > 0` the value is inserted into the file path already there instead.
fn add_value(doc: &mut Value, path: &str, value: &str, pos: i64) -> Result<(), String> {
    let mut fields: Vec<String> = Vec::new();
    for f in path.split('/') {
        match fields.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('/');
                last.push_str(f);
            }
            _ => fields.push(f.to_owned()),
        }
    }
    let mut node = doc;
    for f in &fields {
        if node.is_null() {
            *node = Value::Object(Map::new());
        }
        let Value::Object(m) = node else {
            return Err(format!("{path}: {f} is not inside a mapping"));
        };
        node = m.entry(f.clone()).or_insert(Value::Null);
    }
    let cur = match node {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err(format!("{path}: expected a scalar")),
    };
    let new = if pos > 0 {
        insert_path_part(&cur, usize::try_from(pos - 1).unwrap_or(0), value)
    } else {
        value.to_owned()
    };
    *node = Value::String(new);
    Ok(())
}

/// `part` inserted into the `/`-separated `path` at `pos` (0 is first; an absolute path's
/// leading `/` does not count); past the end it is appended.
fn insert_path_part(path: &str, pos: usize, part: &str) -> String {
    if part.is_empty() {
        return path.to_owned();
    }
    let mut parts = path_split(path);
    let mut pos = pos.min(parts.len());
    if parts.first().is_some_and(String::is_empty) && pos < parts.len() {
        pos += 1;
    }
    parts.insert(pos, part.to_owned());
    let absolute = parts.first().is_some_and(String::is_empty);
    let joined = go_join("", &parts.join("/"));
    if absolute {
        if joined == "." {
            "/".into()
        } else {
            format!("/{joined}")
        }
    } else if joined == "." && parts.iter().all(String::is_empty) {
        String::new()
    } else {
        joined
    }
}

/// Go's `filesys.PathSplit`: the path's parts, a leading `""` for an absolute path.
fn path_split(path: &str) -> Vec<String> {
    if path.is_empty() {
        return Vec::new();
    }
    let (dir, file) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("", path),
    };
    if dir == "/" {
        return if file.is_empty() {
            vec![String::new()]
        } else {
            vec![String::new(), file.to_owned()]
        };
    }
    let dir = dir.strip_suffix('/').unwrap_or(dir);
    if dir.is_empty() {
        return vec![file.to_owned()];
    }
    let mut out = path_split(dir);
    out.push(file.to_owned());
    out
}

#[cfg(test)]
mod tests {
    use super::insert_path_part;

    #[test]
    fn insert_path_part_counts_from_the_first_part_of_absolute_and_relative_paths() {
        assert_eq!(insert_path_part("/x/y/z", 1, "v"), "/x/v/y/z");
        assert_eq!(insert_path_part("x/y/z", 1, "v"), "x/v/y/z");
        assert_eq!(insert_path_part("x/y", 0, "v"), "v/x/y");
        assert_eq!(insert_path_part("x/y", 99, "v"), "x/y/v");
        assert_eq!(insert_path_part("", 3, "v"), "v");
        assert_eq!(insert_path_part("/", 0, "v"), "/v");
        assert_eq!(insert_path_part("x", 0, ""), "x");
    }
}
