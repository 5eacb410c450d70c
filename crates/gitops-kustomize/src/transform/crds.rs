//! `crds:`: files of OpenAPI definitions (kustomize's legacy format, a mapping from Go type
//! names to `{Schema: …}`) that add transformer field specs for custom kinds, as kustomize
//! reads them:
//! - `x-kubernetes-annotation` on a property: `commonAnnotations` go there;
//! - `x-kubernetes-label-selector`: `commonLabels` go there;
//! - `x-kubernetes-identity`: `namePrefix` is added there;
//! - `x-kubernetes-object-ref-api-version` with `x-kubernetes-object-ref-kind` (and
//!   `x-kubernetes-object-ref-name-key`, default `name`): the property's name key refers to an
//!   object of that version and kind, so renames reach it.
//!
//! A definition describes a kind when its properties include `kind`, `apiVersion` and
//! `metadata`; the kind is the type name's last `.`-separated part (no group or version), and
//! properties whose `$ref` names another definition of the file are followed.

use serde_json::{Map, Value};

use crate::error::{Error, invalid};
use crate::loader::{Layer, Loader};
use crate::resource::Gvk;
use crate::transform::config::Config;
use crate::transform::fieldspec::Spec;

/// The transformer configuration of a layer's `crds` files.
pub(crate) fn load(l: &Loader<'_>, layer: &Layer) -> Result<Config, Error> {
    let mut config = Config::default();
    for written in &layer.k.crds {
        let path = l.resolve(layer, written, true)?;
        let file = l.show(&path);
        let text = l.read_text(&path)?;
        let doc = l
            .parse_yaml(&file, &text)?
            .into_iter()
            .find(|d| !d.is_null())
            .unwrap_or(Value::Null);
        let defs = match &doc {
            Value::Object(m) => m,
            Value::Null => continue,
            _ => {
                return Err(invalid(
                    file,
                    "unable to parse open API definition: expected a mapping of type names to definitions",
                ));
            }
        };
        check(defs).map_err(|m| {
            invalid(
                file.clone(),
                format!("unable to parse open API definition: {m}"),
            )
        })?;
        let found = from_definitions(defs).map_err(|m| invalid(file, m))?;
        config.merge(found);
    }
    Ok(config)
}

/// Properties one `crds` file may expand to: `$ref`s can reuse a definition many times over
/// (a chain of definitions each referring twice to the next doubles the walk at each step),
/// so the walk is bounded instead of exponential. Real files (Kubernetes types included)
/// stay far below.
const MAX_PROPERTIES: usize = 1_000_000;

/// Field specs one `crds` file may add (each merge of configurations compares specs pairwise).
const MAX_SPECS: usize = 10_000;

/// The shape kustomize's decoder insists on: every definition a mapping, its `Schema` a
/// mapping whose `properties` map names to mappings, its `Dependencies` a list of strings.
/// (A Kubernetes `CustomResourceDefinition` object is not such a file.)
fn check(defs: &Map<String, Value>) -> Result<(), String> {
    for (name, def) in defs {
        let def = match def {
            Value::Null => continue,
            Value::Object(m) => m,
            _ => return Err(format!("{name}: expected a definition (a mapping)")),
        };
        for (k, v) in def {
            if k.eq_ignore_ascii_case("schema") {
                match v {
                    Value::Null => {}
                    Value::Object(s) => match s.get("properties") {
                        None | Some(Value::Null) => {}
                        Some(Value::Object(props)) => {
                            if let Some((p, _)) =
                                props.iter().find(|(_, v)| !(v.is_object() || v.is_null()))
                            {
                                return Err(format!(
                                    "{name}.{k}.properties.{p}: expected a schema (a mapping)"
                                ));
                            }
                        }
                        Some(_) => {
                            return Err(format!("{name}.{k}.properties: expected a mapping"));
                        }
                    },
                    _ => return Err(format!("{name}.{k}: expected a schema (a mapping)")),
                }
            } else if k.eq_ignore_ascii_case("dependencies")
                && !(v.is_null() || v.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
            {
                return Err(format!("{name}.{k}: expected a list of strings"));
            }
        }
    }
    Ok(())
}

/// A definition's schema: kustomize decodes the field `Schema` with Go's case-insensitive
/// field matching.
fn schema(def: &Value) -> Option<&Map<String, Value>> {
    def.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("schema"))
        .and_then(|(_, v)| v.as_object())
}

fn properties(def: &Value) -> Option<&Map<String, Value>> {
    schema(def)?.get("properties")?.as_object()
}

fn from_definitions(defs: &Map<String, Value>) -> Result<Config, String> {
    let mut config = Config::default();
    let mut budget = MAX_PROPERTIES;
    for (name, def) in defs {
        let Some(props) = properties(def) else {
            continue;
        };
        if !["kind", "apiVersion", "metadata"]
            .iter()
            .all(|k| props.contains_key(*k))
        {
            continue;
        }
        let kind = name.rsplit('.').next().unwrap_or(name).to_owned();
        let mut path = Vec::new();
        let mut visiting = Vec::new();
        walk(
            defs,
            name,
            &kind,
            &mut path,
            &mut visiting,
            &mut config,
            &mut budget,
        )?;
    }
    Ok(config)
}

/// Adds the field specs of definition `name`'s properties under `path`; `visiting` holds the
/// definitions on the way here, so a type that contains itself ends; `budget` bounds the
/// properties visited in all.
fn walk<'a>(
    defs: &'a Map<String, Value>,
    name: &'a str,
    kind: &str,
    path: &mut Vec<String>,
    visiting: &mut Vec<&'a str>,
    config: &mut Config,
    budget: &mut usize,
) -> Result<(), String> {
    let Some(props) = defs.get(name).and_then(properties) else {
        return Ok(());
    };
    if visiting.contains(&name) {
        return Ok(());
    }
    visiting.push(name);
    for (prop, p) in props {
        *budget = budget.checked_sub(1).ok_or_else(|| {
            format!(
                "the definitions expand to more than {MAX_PROPERTIES} properties through their references"
            )
        })?;
        let ext = |k: &str| p.get(k).and_then(Value::as_str);
        path.push(prop.clone());
        let specs = config.common_annotations.len()
            + config.common_labels.len()
            + config.name_prefix.len()
            + config.name_reference.len();
        if specs > MAX_SPECS {
            return Err(format!(
                "the definitions add more than {MAX_SPECS} field specs through their references"
            ));
        }
        let spec = |path: &[String]| Spec::new("", "", kind, &path.join("/"), false);
        if ext("x-kubernetes-annotation").is_some() {
            config.common_annotations.push(spec(path));
        }
        if ext("x-kubernetes-label-selector").is_some() {
            config.common_labels.push(spec(path));
        }
        if ext("x-kubernetes-identity").is_some() {
            config.name_prefix.push(spec(path));
        }
        if let (Some(version), Some(ref_kind)) = (
            ext("x-kubernetes-object-ref-api-version"),
            ext("x-kubernetes-object-ref-kind"),
        ) {
            let key = ext("x-kubernetes-object-ref-name-key").unwrap_or("name");
            let mut full = path.clone();
            full.push(key.to_owned());
            let referral = Gvk {
                group: String::new(),
                version: version.to_owned(),
                kind: ref_kind.to_owned(),
            };
            config.name_reference.push((referral, spec(&full)));
        }
        if let Some(r) = ext("$ref")
            && let Some((target, _)) = defs.get_key_value(r)
        {
            walk(defs, target, kind, path, visiting, config, budget)?;
        }
        path.pop();
    }
    visiting.pop();
    Ok(())
}
