//! `replacements`: copy a field of one resource into fields of others.

use serde_json::{Map, Value};

use crate::error::{Error, invalid};
use crate::loader::{Layer, Loader};
use crate::resource::{ResId, Resource};
use crate::transform::growth::{Growth, size};
use crate::yaml::resolve_plain_scalar;

/// An id selector: empty parts match anything; names and namespaces match exactly.
#[derive(Default, Debug)]
struct IdSel {
    group: String,
    version: String,
    kind: String,
    name: String,
    namespace: String,
    label_selector: String,
    annotation_selector: String,
}

impl IdSel {
    fn is_empty_id(&self) -> bool {
        self.group.is_empty()
            && self.version.is_empty()
            && self.kind.is_empty()
            && self.name.is_empty()
            && self.namespace.is_empty()
    }

    fn selects(&self, id: &ResId) -> bool {
        let probe = ResId {
            gvk: id.gvk.clone(),
            namespace: self.namespace.clone(),
            name: String::new(),
        };
        (self.name.is_empty() || self.name == id.name)
            && (self.namespace.is_empty() || probe.ns_equals(id))
            && id.gvk.selected_by(&self.group, &self.version, &self.kind)
    }
}

struct FieldOptions {
    delimiter: String,
    index: i64,
    create: bool,
}

fn s(m: &Map<String, Value>, k: &str) -> String {
    match m.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn id_sel(file: &str, field: &str, v: &Value) -> Result<IdSel, Error> {
    let m = v
        .as_object()
        .ok_or_else(|| invalid(file, format!("{field}: expected a mapping")))?;
    for k in m.keys() {
        if !matches!(
            k.as_str(),
            "group"
                | "version"
                | "kind"
                | "name"
                | "namespace"
                | "labelSelector"
                | "annotationSelector"
                | "fieldPath"
                | "options"
        ) {
            return Err(invalid(file, format!("{field}.{k}: unknown field")));
        }
    }
    Ok(IdSel {
        group: s(m, "group"),
        version: s(m, "version"),
        kind: s(m, "kind"),
        name: s(m, "name"),
        namespace: s(m, "namespace"),
        label_selector: s(m, "labelSelector"),
        annotation_selector: s(m, "annotationSelector"),
    })
}

fn options(v: Option<&Value>) -> FieldOptions {
    let m = v.and_then(Value::as_object);
    FieldOptions {
        delimiter: m.map(|m| s(m, "delimiter")).unwrap_or_default(),
        index: m
            .and_then(|m| m.get("index"))
            .and_then(Value::as_i64)
            .unwrap_or(0),
        create: m
            .and_then(|m| m.get("create"))
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

/// Splits a field path on dots outside brackets. Empty segments are dropped and segments
/// trimmed, as kustomize's path lookup does, so `.metadata.name` names `metadata.name`.
fn split_path(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in p.chars() {
        match c {
            '[' => {
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
            }
            '.' if depth == 0 => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

fn lookup<'v>(v: &'v Value, path: &[String]) -> Option<&'v Value> {
    let mut cur = v;
    for seg in path {
        cur = match (cur, seg.strip_prefix('[').and_then(|s| s.strip_suffix(']'))) {
            (Value::Array(items), Some(sel)) => {
                let (k, want) = sel.split_once('=')?;
                items.iter().find(|i| {
                    i.get(k)
                        .is_some_and(|x| scalar_text(x).as_deref() == Some(want))
                })?
            }
            (Value::Array(items), None) => items.get(seg.parse::<usize>().ok()?)?,
            (Value::Object(m), None) => m.get(seg.as_str())?,
            (Value::Object(m), Some(key)) if !key.contains('=') => m.get(key)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => Some(String::new()),
        _ => None,
    }
}

/// Visits every field the path names (creating it when asked); `f` gets the field and whether
/// it was just created.
fn visit(
    v: &mut Value,
    path: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value, bool) -> Result<(), String>,
) -> Result<usize, String> {
    let Some((seg, rest)) = path.split_first() else {
        f(v, false)?;
        return Ok(1);
    };
    let sel = seg.strip_prefix('[').and_then(|s| s.strip_suffix(']'));
    // `[key]` without `=` names a mapping key that holds dots
    // (`metadata.annotations.[cert-manager.io/inject-ca-from]`), not a list selector.
    let (seg, sel) = match sel {
        Some(key) if !key.contains('=') => (key, None),
        _ => (seg.as_str(), sel),
    };
    if v.is_null() && create {
        *v = if sel.is_some() {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        };
    }
    match (v, sel) {
        (Value::Array(items), Some(sel)) => {
            let (k, want) = sel
                .split_once('=')
                .ok_or_else(|| format!("invalid selector {seg}"))?;
            let mut n = 0;
            for item in items.iter_mut() {
                if item
                    .get(k)
                    .is_some_and(|x| scalar_text(x).as_deref() == Some(want))
                {
                    n += visit(item, rest, create, f)?;
                }
            }
            if n == 0 && create {
                let mut m = Map::new();
                m.insert(k.to_owned(), Value::String(want.to_owned()));
                items.push(Value::Object(m));
                let last = items.last_mut().expect("just pushed");
                n += visit(last, rest, create, f)?;
            }
            Ok(n)
        }
        (Value::Array(items), None) if seg == "*" => {
            let mut n = 0;
            for item in items.iter_mut() {
                n += visit(item, rest, create, f)?;
            }
            Ok(n)
        }
        (Value::Array(items), None) => {
            match seg.parse::<usize>().ok().and_then(|i| items.get_mut(i)) {
                Some(item) => visit(item, rest, create, f),
                None => Ok(0),
            }
        }
        (Value::Object(m), None) => {
            if seg == "*" {
                let mut n = 0;
                for (_, child) in m.iter_mut() {
                    n += visit(child, rest, create, f)?;
                }
                return Ok(n);
            }
            match m.get_mut(seg) {
                Some(child) if !child.is_null() || rest.is_empty() => visit(child, rest, create, f),
                _ if create => {
                    if rest.is_empty() {
                        let slot = m.entry(seg.to_owned()).or_insert(Value::Null);
                        f(slot, true)?;
                        Ok(1)
                    } else {
                        let next_is_list = rest[0].starts_with('[') && rest[0].contains('=');
                        let slot = m.entry(seg.to_owned()).or_insert(Value::Null);
                        *slot = if next_is_list {
                            Value::Array(Vec::new())
                        } else {
                            Value::Object(Map::new())
                        };
                        visit(slot, rest, create, f)
                    }
                }
                _ => Ok(0),
            }
        }
        _ => Ok(0),
    }
}

/// Sets a target field to the replacement value, keeping a scalar target's type as kustomize
/// does (it replaces the text and keeps the tag).
fn set_field(
    target: &mut Value,
    created: bool,
    value: &Value,
    opts: &FieldOptions,
) -> Result<(), String> {
    let mut value = value.clone();
    if !opts.delimiter.is_empty() {
        let current =
            scalar_text(target).ok_or("delimiter option can only be used with scalar nodes")?;
        let mut parts: Vec<String> = current
            .split(opts.delimiter.as_str())
            .map(str::to_owned)
            .collect();
        let v = scalar_text(&value).ok_or("delimiter option can only be used with scalar nodes")?;
        if opts.index < 0 {
            parts.insert(0, v);
        } else if opts.index as usize >= parts.len() {
            parts.push(v);
        } else {
            parts[opts.index as usize] = v;
        }
        value = Value::String(parts.join(&opts.delimiter));
    }
    let is_scalar = |v: &Value| !matches!(v, Value::Object(_) | Value::Array(_));
    if created || target.is_null() {
        *target = match &value {
            v if is_scalar(v) => resolve_plain_scalar(&scalar_text(v).unwrap_or_default()),
            other => other.clone(),
        };
        return Ok(());
    }
    if is_scalar(target) && is_scalar(&value) {
        let text = scalar_text(&value).unwrap_or_default();
        *target = match target {
            Value::String(_) => Value::String(text),
            Value::Number(_) | Value::Bool(_) => match resolve_plain_scalar(&text) {
                v @ (Value::Number(_) | Value::Bool(_)) => v,
                _ => return Err(format!("cannot set {text:?} into a non-string field")),
            },
            _ => Value::String(text),
        };
    } else {
        *target = value;
    }
    Ok(())
}

fn label_match(r: &Resource, sel: &IdSel) -> Result<bool, String> {
    super::patch::selector_matches(&sel.label_selector, r.labels()).and_then(|l| {
        Ok(l && super::patch::selector_matches(&sel.annotation_selector, r.annotations())?)
    })
}

pub(crate) fn run(
    l: &Loader<'_>,
    growth: &mut Growth,
    layer: &Layer,
    ra: &mut [Resource],
) -> Result<(), Error> {
    let file = layer.file.as_str();
    let mut list: Vec<(String, Value)> = Vec::new();
    for (i, entry) in layer.k.replacements.iter().enumerate() {
        let field = format!("replacements[{i}]");
        match entry.get("path").and_then(Value::as_str) {
            Some(path) => {
                let resolved = l.resolve(layer, path, true)?;
                let shown = l.show(&resolved);
                let text = l.read_text(&resolved)?;
                for doc in l.parse_yaml(&shown, &text)? {
                    match doc {
                        Value::Array(items) => {
                            list.extend(items.into_iter().map(|v| (shown.clone(), v)))
                        }
                        Value::Null => {}
                        other => list.push((shown.clone(), other)),
                    }
                }
            }
            None => list.push((format!("{file} ({field})"), entry.clone())),
        }
    }
    for (source_file, r) in list {
        let src = r.get("source").ok_or_else(|| {
            invalid(
                &source_file,
                "replacements must specify a source and at least one target",
            )
        })?;
        let targets = r.get("targets").and_then(Value::as_array).ok_or_else(|| {
            invalid(
                &source_file,
                "replacements must specify a source and at least one target",
            )
        })?;
        let sel = id_sel(&source_file, "source", src)?;
        let ids: Vec<Vec<ResId>> = ra
            .iter()
            .map(|r| std::iter::once(r.cur_id()).chain(r.prev_ids()).collect())
            .collect();
        let matches: Vec<usize> = (0..ra.len())
            .filter(|&i| ids[i].iter().any(|id| sel.selects(id)))
            .collect();
        let source = match matches.as_slice() {
            [one] => &ra[*one],
            [] => {
                return Err(invalid(
                    &source_file,
                    format!("nothing selected by source {sel:?}"),
                ));
            }
            _ => {
                return Err(invalid(
                    &source_file,
                    format!("multiple matches for source {sel:?}"),
                ));
            }
        };
        let field_path = src
            .get("fieldPath")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .unwrap_or("metadata.name");
        let mut value = lookup(&source.value, &split_path(field_path))
            // An empty string is a value (kustomize copies it); only null and empty
            // collections count as missing.
            .filter(|v| match v {
                Value::Null => false,
                Value::Object(m) => !m.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => true,
            })
            .cloned()
            .ok_or_else(|| {
                invalid(
                    &source_file,
                    format!("fieldPath `{field_path}` is missing for replacement source"),
                )
            })?;
        let sopts = options(src.get("options"));
        if !sopts.delimiter.is_empty() {
            let text = scalar_text(&value).ok_or_else(|| {
                invalid(
                    &source_file,
                    "delimiter option can only be used with scalar nodes",
                )
            })?;
            let parts: Vec<&str> = text.split(sopts.delimiter.as_str()).collect();
            let part = usize::try_from(sopts.index)
                .ok()
                .and_then(|i| parts.get(i))
                .ok_or_else(|| {
                    invalid(
                        &source_file,
                        format!(
                            "options.index {} is out of bounds for value {text}",
                            sopts.index
                        ),
                    )
                })?;
            value = Value::String((*part).to_owned());
        }
        for (ti, t) in targets.iter().enumerate() {
            let tfield = format!("targets[{ti}]");
            let select = t.get("select").ok_or_else(|| {
                invalid(
                    &source_file,
                    format!("{tfield}: target must specify resources to select"),
                )
            })?;
            let select = id_sel(&source_file, &format!("{tfield}.select"), select)?;
            let rejects: Vec<IdSel> = match t.get("reject") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|v| id_sel(&source_file, &format!("{tfield}.reject"), v))
                    .collect::<Result<_, _>>()?,
                _ => Vec::new(),
            };
            let mut paths: Vec<String> = match t.get("fieldPaths") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            };
            if paths.is_empty() {
                paths.push("metadata.name".into());
            }
            let topts = options(t.get("options"));
            for (i, r) in ra.iter_mut().enumerate() {
                let lm = label_match(r, &select).map_err(|m| invalid(&source_file, m))?;
                if !lm {
                    continue;
                }
                let mut rejected_by_labels = false;
                for rej in &rejects {
                    if rej.label_selector.is_empty() && rej.annotation_selector.is_empty() {
                        continue;
                    }
                    if label_match(r, rej).map_err(|m| invalid(&source_file, m))? {
                        rejected_by_labels = true;
                    }
                }
                if rejected_by_labels {
                    continue;
                }
                let selected = ids[i].iter().any(|id| select.selects(id));
                let rejected = rejects
                    .iter()
                    .any(|rej| !rej.is_empty_id() && ids[i].iter().any(|id| rej.selects(id)));
                if !selected || rejected {
                    continue;
                }
                for fp in &paths {
                    let segs = split_path(fp);
                    let mut written = 0usize;
                    let n = visit(&mut r.value, &segs, topts.create, &mut |target, created| {
                        set_field(target, created, &value, &topts)?;
                        written = written.saturating_add(size(target));
                        Ok(())
                    })
                    .map_err(|m| invalid(&source_file, format!("{tfield}: {m}")))?;
                    // A replacement can copy a field into itself; its growth is bounded as
                    // the patches' is.
                    growth.add(&source_file, written)?;
                    if n == 0 {
                        return Err(invalid(
                            &source_file,
                            format!(
                                "{tfield}: unable to find {}field {fp:?} in replacement target {}",
                                if topts.create { "or create " } else { "" },
                                ids[i][0].display()
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
