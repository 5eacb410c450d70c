//! `openapi.path`: a custom OpenAPI (Swagger 2) schema that replaces kustomize's built-in
//! Kubernetes schema for strategic merge patches.
//!
//! As in kustomize, the custom schema is the *only* schema while it is in force: kinds it
//! defines (through `x-kubernetes-group-version-kind`) merge their lists as it says
//! (`x-kubernetes-patch-strategy` holding `merge`, keyed by `x-kubernetes-list-map-keys` or
//! `x-kubernetes-patch-merge-key`), and every other kind, Kubernetes' own included, has no
//! schema: its lists are replaced by a patch's. Which kustomization's schema holds follows
//! kustomize: the top-level kustomization's `openapi` (a `version` there keeps the built-in
//! schema for the whole build), else the first kustomization or component, in build order,
//! that names a `path`; patches applied before that point used the built-in schema. kustomize
//! loads its built-in schema lazily and never unloads it: when a strategic merge patch or a
//! custom kind made it load before a custom schema was chosen, the custom schema's kinds are
//! added to the built-in ones instead of replacing them.

use std::cell::Cell;
use std::collections::HashMap;

use serde_json::Value;

use crate::error::{Error, invalid};
use crate::loader::{Layer, Loader};
use crate::resource::{Gvk, Resource};

/// A parsed custom schema: its definitions and which definition describes each kind.
#[derive(Debug)]
pub(crate) struct CustomSchema {
    definitions: serde_json::Map<String, Value>,
    /// (apiVersion, kind) → definition name.
    by_type: HashMap<(String, String), String>,
    /// Whether kustomize's built-in schema still serves the kinds this one does not define.
    pub extends_builtin: bool,
}

/// How a list is merged under a custom schema.
pub(crate) enum ListMerge<'a> {
    /// Replaced by the patch's list (no schema, or no merge strategy).
    Replace,
    /// Merged by these keys (the first is the patch merge key).
    Keyed(Vec<&'a str>),
    /// A merged list of scalars.
    Scalars,
}

impl CustomSchema {
    /// Reads a schema document (JSON or YAML, already parsed); `Err` says what is wrong.
    pub fn from_value(doc: &Value) -> Result<Self, String> {
        let definitions = match doc.get("definitions") {
            None | Some(Value::Null) => serde_json::Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err("definitions: expected a mapping".into()),
        };
        let mut by_type = HashMap::new();
        for (name, def) in &definitions {
            let Some(Value::Array(gvks)) = def.get("x-kubernetes-group-version-kind") else {
                continue;
            };
            for gvk in gvks {
                let s = |k: &str| gvk.get(k).and_then(Value::as_str).unwrap_or("");
                let api_version = if s("group").is_empty() {
                    s("version").to_owned()
                } else {
                    format!("{}/{}", s("group"), s("version"))
                };
                by_type.insert((api_version, s("kind").to_owned()), name.clone());
            }
        }
        Ok(Self {
            definitions,
            by_type,
            extends_builtin: false,
        })
    }

    fn type_key(gvk: &Gvk) -> (String, String) {
        let api_version = if gvk.group.is_empty() {
            gvk.version.clone()
        } else {
            format!("{}/{}", gvk.group, gvk.version)
        };
        (api_version, gvk.kind.clone())
    }

    /// Whether this schema defines the resource type.
    pub fn defines(&self, gvk: &Gvk) -> bool {
        self.by_type.contains_key(&Self::type_key(gvk))
    }

    /// Follows `$ref`s (`#/definitions/NAME`) to the schema they name; `None` when one does
    /// not resolve. References are followed at most 64 times, so a cycle ends.
    fn resolve<'a>(&'a self, mut s: &'a Value) -> Option<&'a Value> {
        for _ in 0..64 {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else {
                return Some(s);
            };
            s = self.definitions.get(r.strip_prefix("#/definitions/")?)?;
        }
        None
    }

    /// How the list at `path` (field names from the resource root; list elements add no
    /// segment) of a resource of this type merges.
    pub fn list_merge(&self, gvk: &Gvk, path: &[String]) -> ListMerge<'_> {
        let Some(mut s) = self
            .by_type
            .get(&Self::type_key(gvk))
            .and_then(|name| self.definitions.get(name))
        else {
            return ListMerge::Replace;
        };
        for field in path {
            // Crossing a list: its elements' schema.
            if s.get("type").and_then(Value::as_str) == Some("array") {
                let Some(items) = s.get("items").and_then(|i| self.resolve(i)) else {
                    return ListMerge::Replace;
                };
                s = items;
            }
            let next = s
                .get("properties")
                .and_then(|p| p.get(field))
                .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()));
            let Some(next) = next.and_then(|n| self.resolve(n)) else {
                return ListMerge::Replace;
            };
            s = next;
        }
        let strategy = s
            .get("x-kubernetes-patch-strategy")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !strategy.split(',').any(|p| p == "merge") {
            return ListMerge::Replace;
        }
        let keys: Vec<&str> = match s.get("x-kubernetes-list-map-keys") {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => s
                .get("x-kubernetes-patch-merge-key")
                .and_then(Value::as_str)
                .into_iter()
                .collect(),
        };
        if keys.is_empty() {
            ListMerge::Scalars
        } else {
            ListMerge::Keyed(keys)
        }
    }
}

/// The schema strategic merge patches use, as the build has chosen it so far.
#[derive(Default)]
pub(crate) struct Schema {
    /// The custom schema (`openapi.path`) in force, if any.
    custom: Option<Box<CustomSchema>>,
    /// Whether a kustomization has chosen the schema (a path or a version), so later ones
    /// cannot, as in kustomize.
    chosen: bool,
    /// Whether kustomize would have loaded its built-in schema by now (a strategic merge
    /// patch, or a custom kind read, before any custom schema): a custom schema chosen
    /// afterwards then extends it instead of replacing it.
    builtin_used: Cell<bool>,
}

impl Schema {
    /// The custom schema in force, if any.
    pub fn custom(&self) -> Option<&CustomSchema> {
        self.custom.as_deref()
    }

    /// Records that a strategic merge patch is applied: without a custom schema in force,
    /// kustomize loads its built-in schema for it.
    pub fn note_use(&self) {
        if self.custom.is_none() {
            self.builtin_used.set(true);
        }
    }

    /// Records the resources of a file: kustomize's scope check of a kind its built-in
    /// schema does not list queues that schema for parsing; a custom schema chosen later is
    /// then added to it.
    pub fn note_kinds(&self, read: &[Resource]) {
        if self.custom.is_none() && read.iter().any(|r| !r.gvk().is_builtin()) {
            self.builtin_used.set(true);
        }
    }
}

/// Applies a kustomization's `openapi` field to the build as kustomize does when it loads
/// that kustomization: the top-level one always decides; a later one only while no schema
/// has been chosen.
pub(crate) fn select(
    schema: &mut Schema,
    l: &Loader<'_>,
    layer: &Layer,
    top: bool,
) -> Result<(), Error> {
    let k = &layer.k;
    // kustomize reads the file even when its schema will not be used.
    let text = match &k.openapi_path {
        Some(path) => {
            let resolved = l.resolve(layer, path, true)?;
            Some((l.show(&resolved), l.read_text(&resolved)?))
        }
        None => None,
    };
    if schema.chosen && !top {
        return Ok(());
    }
    match text {
        Some((file, text)) => {
            if !k.openapi_version.is_empty() {
                return Err(invalid(
                    layer.file.clone(),
                    "openapi: builtin version and custom schema provided, cannot use both",
                ));
            }
            let doc = l
                .parse_yaml(&file, &text)?
                .into_iter()
                .find(|d| !d.is_null())
                .unwrap_or(Value::Null);
            let mut custom = CustomSchema::from_value(&doc).map_err(|m| invalid(file, m))?;
            custom.extends_builtin = schema.builtin_used.get();
            schema.custom = Some(Box::new(custom));
            schema.chosen = true;
        }
        None => {
            // kustomize v5.5 holds one built-in schema.
            if !k.openapi_version.is_empty() && k.openapi_version != "v1.21.2" {
                return Err(invalid(
                    layer.file.clone(),
                    format!(
                        "openapi.version: the specified OpenAPI version {:?} is not built in (kustomize holds v1.21.2)",
                        k.openapi_version
                    ),
                ));
            }
            schema.custom = None;
            schema.chosen = !k.openapi_version.is_empty();
        }
    }
    Ok(())
}
