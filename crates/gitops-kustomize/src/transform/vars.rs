//! The deprecated `vars`: `$(NAME)` in known fields replaced by a field of a named resource,
//! resolved once at the end of the top-level build.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::error::{Error, invalid};
use crate::kustomization::canonical_keys;
use crate::resource::{Gvk, Resource};
use crate::transform::fieldspec::{Spec, walk};

/// One declared var.
#[derive(Clone, Debug)]
pub(crate) struct Var {
    pub name: String,
    pub gvk: Gvk,
    pub obj_name: String,
    pub field_path: String,
    pub file: String,
}

fn specs() -> &'static [Spec] {
    static SPECS: OnceLock<Vec<Spec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        let dash = |s: &str| {
            if s == "-" {
                String::new()
            } else {
                s.to_owned()
            }
        };
        include_str!("../tables/varreference.txt")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f.len() == 4)
                    .then(|| Spec::new(&dash(f[1]), &dash(f[2]), &dash(f[0]), f[3], false))
            })
            .collect()
    })
}

/// Reads the `vars` of one kustomization.
pub(crate) fn parse(file: &str, vars: &[Value]) -> Result<Vec<Var>, Error> {
    let mut out = Vec::new();
    for (i, v) in vars.iter().enumerate() {
        let field = format!("vars[{i}]");
        // Field names match ignoring case, as in kustomize's decoder (`fieldPath` is the
        // documented spelling, `fieldpath` the common one).
        let m = v
            .as_object()
            .map(|m| canonical_keys(m, &["name", "objref", "fieldref"]))
            .ok_or_else(|| invalid(file, format!("{field}: expected a mapping")))?;
        let name = m
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid(file, format!("{field}.name: a name is required")))?;
        let objref = m
            .get("objref")
            .and_then(Value::as_object)
            .map(|o| canonical_keys(o, &["apiVersion", "kind", "name", "namespace"]))
            .ok_or_else(|| invalid(file, format!("{field}.objref: required")))?;
        let get = |k: &str| {
            objref
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned()
        };
        let field_path = m
            .get("fieldref")
            .and_then(Value::as_object)
            .and_then(|f| {
                canonical_keys(f, &["fieldPath"])
                    .get("fieldPath")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "metadata.name".to_owned());
        out.push(Var {
            name: name.to_owned(),
            gvk: Gvk::from_api_version(&get("apiVersion"), &get("kind")),
            obj_name: get("name"),
            field_path,
            file: file.to_owned(),
        });
    }
    Ok(out)
}

/// A field path of `vars` (`spec.ports[0].port`, `metadata.name`).
fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    let mut cur = v;
    for part in path.split('.') {
        let (key, index) = match part.split_once('[') {
            Some((k, rest)) => (
                k,
                rest.strip_suffix(']').and_then(|i| i.parse::<usize>().ok()),
            ),
            None => (part, None),
        };
        if !key.is_empty() {
            cur = cur.get(key)?;
        }
        if let Some(i) = index {
            cur = cur.get(i)?;
        }
    }
    Some(cur)
}

/// Replaces `$(NAME)` as Kubernetes expands variables: `$$` escapes, unknown names stay.
fn expand(s: &str, values: &HashMap<&str, String>, used: &mut Vec<String>) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut last = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            if b[i + 1] == b'$' {
                out.push_str(&s[last..i]);
                out.push('$');
                i += 2;
                last = i;
                continue;
            }
            if b[i + 1] == b'('
                && let Some(end) = s[i + 2..].find(')')
            {
                let name = &s[i + 2..i + 2 + end];
                if let Some(v) = values.get(name) {
                    out.push_str(&s[last..i]);
                    out.push_str(v);
                    used.push(name.to_owned());
                    i = i + 2 + end + 1;
                    last = i;
                    continue;
                }
            }
        }
        i += 1;
    }
    out.push_str(&s[last..]);
    out
}

/// Resolves every var against the built resources and expands the references.
pub(crate) fn resolve(vars: &[Var], ra: &mut [Resource], configured: &[Spec]) -> Result<(), Error> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values: HashMap<&str, String> = HashMap::new();
    for var in vars {
        let matches: Vec<&Resource> = ra
            .iter()
            .filter(|r| {
                let ids = std::iter::once(r.cur_id()).chain(r.prev_ids());
                ids.into_iter().any(|id| {
                    id.name == var.obj_name
                        && id
                            .gvk
                            .selected_by(&var.gvk.group, &var.gvk.version, &var.gvk.kind)
                })
            })
            .collect();
        let target = match matches.as_slice() {
            [one] => *one,
            [] => {
                return Err(invalid(
                    &var.file,
                    format!(
                        "var '{}' cannot be mapped to a field in the set of known resources",
                        var.name
                    ),
                ));
            }
            _ => {
                return Err(invalid(
                    &var.file,
                    format!(
                        "found {} resId matches for var '{}' (unable to disambiguate)",
                        matches.len(),
                        var.name
                    ),
                ));
            }
        };
        let value = lookup(&target.value, &var.field_path).ok_or_else(|| {
            invalid(
                &var.file,
                format!(
                    "field specified in var '{}' ({}) not found in corresponding resource",
                    var.name, var.field_path
                ),
            )
        })?;
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => {
                return Err(invalid(
                    &var.file,
                    format!(
                        "var '{}' must name a scalar field, not {}",
                        var.name, var.field_path
                    ),
                ));
            }
        };
        values.insert(var.name.as_str(), text);
    }
    let mut used = Vec::new();
    for r in ra.iter_mut() {
        let gvk = r.gvk();
        let extra = configured.iter().filter(|c| {
            !specs().iter().any(|s| {
                s.group == c.group && s.version == c.version && s.kind == c.kind && s.path == c.path
            })
        });
        for spec in specs().iter().chain(extra) {
            if !spec.selects(&gvk) {
                continue;
            }
            let _ = walk(&mut r.value, &spec.path, false, &mut |v, _| {
                match v {
                    Value::String(s) => *s = expand(s, &values, &mut used),
                    Value::Array(items) => {
                        for item in items {
                            if let Value::String(s) = item {
                                *s = expand(s, &values, &mut used);
                            }
                        }
                    }
                    // A mapping's string values (`varReference: metadata/annotations`).
                    Value::Object(m) => {
                        for item in m.values_mut() {
                            if let Value::String(s) = item {
                                *s = expand(s, &values, &mut used);
                            }
                        }
                    }
                    _ => {}
                }
                Ok(())
            });
        }
    }
    Ok(())
}
