//! The deprecated `vars`: `$(NAME)` in known fields replaced by a field of a named resource,
//! resolved once at the end of the top-level build.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use crate::error::{Error, invalid};
use crate::kustomization::canonical_keys;
use crate::resource::{Gvk, ResId, Resource};
use crate::transform::fieldspec::{Spec, walk};

/// One declared var.
#[derive(Clone, Debug)]
pub(crate) struct Var {
    pub name: String,
    pub gvk: Gvk,
    pub obj_name: String,
    /// `objref.namespace`; empty matches any namespace, as in kustomize.
    pub obj_namespace: String,
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
            obj_namespace: get("namespace"),
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

/// Expands the references in a string field. A field that is one reference and nothing else
/// takes the var's value with its type (`port: $(PORT)` stays a number), as in kustomize.
fn expand_value(v: &mut Value, values: &HashMap<&str, Value>, used: &mut Vec<String>) {
    let Value::String(s) = v else { return };
    if let Some(name) = s.strip_prefix("$(").and_then(|r| r.strip_suffix(')'))
        && !name.contains(')')
        && let Some(value) = values.get(name)
    {
        used.push(name.to_owned());
        *v = value.clone();
        return;
    }
    *s = expand(s, values, used);
}

/// Replaces `$(NAME)` as Kubernetes expands variables: `$$` escapes, unknown names stay.
fn expand(s: &str, values: &HashMap<&str, Value>, used: &mut Vec<String>) -> String {
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
                    match v {
                        Value::String(text) => out.push_str(text),
                        Value::Number(n) => out.push_str(&n.to_string()),
                        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                        _ => {}
                    }
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

/// Whether `id` is in the var's `objref.namespace` ("" and "default" are the same namespace,
/// and a cluster-scoped kind has none to compare).
fn same_namespace(id: &ResId, var: &Var) -> bool {
    let wanted = ResId {
        gvk: id.gvk.clone(),
        namespace: var.obj_namespace.clone(),
        name: String::new(),
    };
    id.effective_namespace() == wanted.effective_namespace()
}

/// Binds a var to the resource its `objref` names among those of the kustomization declaring
/// it (by any id the resource has had), as kustomize does when it merges the layer's vars: a
/// later layer may hold another resource with the same name without making the var ambiguous.
pub(crate) fn bind(var: &Var, ra: &mut [Resource]) -> Result<(), Error> {
    let matches: Vec<usize> = ra
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            let ids = std::iter::once(r.cur_id()).chain(r.prev_ids());
            ids.into_iter().any(|id| {
                id.name == var.obj_name
                    && (var.obj_namespace.is_empty() || same_namespace(&id, var))
                    && id
                        .gvk
                        .selected_by(&var.gvk.group, &var.gvk.version, &var.gvk.kind)
            })
        })
        .map(|(i, _)| i)
        .collect();
    match matches.as_slice() {
        [one] => {
            ra[*one].ref_vars.push(var.name.clone());
            Ok(())
        }
        [] => Ok(()),
        _ => Err(invalid(
            &var.file,
            format!(
                "found {} resId matches for var '{}' (unable to disambiguate)",
                matches.len(),
                var.name
            ),
        )),
    }
}

/// Resolves every var against the built resources and expands the references.
pub(crate) fn resolve(vars: &[Var], ra: &mut [Resource], configured: &[Spec]) -> Result<(), Error> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut values: HashMap<&str, Value> = HashMap::new();
    for var in vars {
        let target = ra
            .iter()
            .find(|r| r.ref_vars.contains(&var.name))
            .ok_or_else(|| {
                invalid(
                    &var.file,
                    format!(
                        "var '{}' cannot be mapped to a field in the set of known resources",
                        var.name
                    ),
                )
            })?;
        let value = lookup(&target.value, &var.field_path).ok_or_else(|| {
            invalid(
                &var.file,
                format!(
                    "field specified in var '{}' ({}) not found in corresponding resource",
                    var.name, var.field_path
                ),
            )
        })?;
        let value = match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => value.clone(),
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
        values.insert(var.name.as_str(), value);
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
                    Value::String(_) => expand_value(v, &values, &mut used),
                    Value::Array(items) => {
                        for item in items {
                            expand_value(item, &values, &mut used);
                        }
                    }
                    // A mapping's string values (`varReference: metadata/annotations`).
                    Value::Object(m) => {
                        for item in m.values_mut() {
                            expand_value(item, &values, &mut used);
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
