//! Setting a namespace: the kustomization's `namespace`, the built-in `NamespaceTransformer`
//! and `ValueAddTransformer` on `metadata/namespace` share this one rule, as kustomize's
//! namespace filter serves all three.

use serde_json::Value;

use crate::resource::Resource;
use crate::transform::fieldspec::{Spec, apply_specs};

/// Which subjects of a `RoleBinding` or `ClusterRoleBinding` get the namespace
/// (`setRoleBindingSubjects`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Subjects {
    /// `defaultOnly` (and unset): subjects named `default`.
    DefaultOnly,
    /// `allServiceAccounts`: every subject of kind `ServiceAccount`.
    AllServiceAccounts,
    /// `none`.
    None,
}

impl Subjects {
    /// Reads a `setRoleBindingSubjects` value; `Err` holds the message kustomize gives.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "" | "defaultOnly" => Ok(Self::DefaultOnly),
            "allServiceAccounts" => Ok(Self::AllServiceAccounts),
            "none" => Ok(Self::None),
            other => Err(format!(
                "invalid value {other:?} for setRoleBindingSubjects: must be one of \"defaultOnly\", \"none\" or \"allServiceAccounts\""
            )),
        }
    }
}

/// How one namespace is set.
pub(crate) struct Namespace<'a> {
    pub ns: &'a str,
    /// Fields set besides `metadata/namespace` (which every namespaced kind gets).
    pub specs: &'a [Spec],
    /// Set only fields that are missing or empty (`unsetOnly`).
    pub unset_only: bool,
    pub subjects: Subjects,
}

impl Namespace<'_> {
    /// Sets the namespace on one resource; `Err` holds a message naming what failed.
    pub fn apply(&self, r: &mut Resource) -> Result<(), String> {
        let gvk = r.gvk();
        let api_version = r.api_version().to_owned();
        let is_binding = gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding";
        // kustomize drops the specs its own steps cover: `metadata/namespace` (set below for
        // namespaced kinds only), `metadata/name` except on `v1` objects (the Namespace
        // itself), and binding subjects (handled by `subjects`).
        let specs: Vec<Spec> = self
            .specs
            .iter()
            .filter(|s| {
                let path = s.path.join("/");
                !(path == "metadata/namespace"
                    || (path == "metadata/name" && api_version != "v1")
                    || (is_binding
                        && (s.kind == "RoleBinding" || s.kind == "ClusterRoleBinding")
                        && path == "subjects/namespace"))
            })
            .cloned()
            .collect();
        if !gvk.is_cluster_scoped() {
            let md = r.metadata_mut();
            let slot = md.entry("namespace").or_insert(Value::Null);
            self.set(slot)?;
        }
        if is_binding
            && self.subjects != Subjects::None
            && let Some(Value::Array(subjects)) = r.value.get_mut("subjects")
        {
            for s in subjects.iter_mut() {
                let Value::Object(m) = s else { continue };
                let chosen = match self.subjects {
                    Subjects::DefaultOnly => {
                        m.get("name").and_then(Value::as_str) == Some("default")
                    }
                    _ => m.get("kind").and_then(Value::as_str) == Some("ServiceAccount"),
                };
                if chosen {
                    let slot = m.entry("namespace").or_insert(Value::Null);
                    self.set(slot)?;
                }
            }
        }
        apply_specs(&mut r.value, &gvk, &specs, &mut |v, _| self.set(v))
    }

    fn set(&self, v: &mut Value) -> Result<(), String> {
        match v {
            Value::Object(_) | Value::Array(_) => {
                Err("namespace field specs must target scalar nodes".into())
            }
            Value::String(s) if self.unset_only && !s.is_empty() => Ok(()),
            Value::Number(_) | Value::Bool(_) if self.unset_only => Ok(()),
            _ => {
                *v = Value::String(self.ns.to_owned());
                Ok(())
            }
        }
    }
}
