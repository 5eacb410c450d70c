//! What a Flux `Kustomization` spec adds to the kustomization it builds.
//!
//! Flux does not build the directory's kustomization file as written: it sets `namespace`,
//! `namePrefix` and `nameSuffix`, appends `patches`, `patchesStrategicMerge`, `patchesJson6902`
//! and `components`, and sets `images` by name, then builds the result. [`Overrides`] carries
//! those fields; the build merges them into the top-level kustomization (the one in the
//! directory, or the one generated for a directory without one) before reading it, so every
//! field gets the same checks and error messages as one written in the file.

use std::path::Path;

use serde_json::{Map, Value};

use crate::error::{Error, invalid};

/// The fields of a Flux `Kustomization` spec that change the build of its path.
///
/// Values use the spellings of the Flux API (camelCase keys), which are those of a
/// kustomization file: a patch is `{patch, target}`, an image `{name, newName, newTag,
/// digest}`.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Overrides {
    /// `targetNamespace`: replaces the kustomization's `namespace`.
    pub namespace: Option<String>,
    /// `namePrefix`: replaces the kustomization's `namePrefix`.
    pub name_prefix: Option<String>,
    /// `nameSuffix`: replaces the kustomization's `nameSuffix`.
    pub name_suffix: Option<String>,
    /// `patches`: appended after the kustomization's own, each `{patch, target}`.
    pub patches: Vec<Value>,
    /// `patchesStrategicMerge` (Flux v1beta2): inline patch objects, appended.
    pub patches_strategic_merge: Vec<Value>,
    /// `patchesJson6902` (Flux v1beta2): `{target, patch: [operations]}`, appended.
    pub patches_json6902: Vec<Value>,
    /// `images`: an entry replaces the kustomization's entry of the same `name`, else is
    /// appended.
    pub images: Vec<Value>,
    /// `components`: local paths relative to the built directory, appended.
    pub components: Vec<String>,
    /// `ignoreMissingComponents`: leave out components whose path does not exist instead of
    /// failing the build.
    pub ignore_missing_components: bool,
}

impl Overrides {
    /// Whether the overrides change nothing.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Merges the overrides into `kustomization`, the top-level file's mapping. `exists` tells
    /// whether a component path exists (relative to the built directory); `file` names the
    /// kustomization in errors.
    pub(crate) fn merge_into(
        &self,
        file: &str,
        kustomization: &mut Map<String, Value>,
        exists: impl Fn(&Path) -> bool,
    ) -> Result<(), Error> {
        let set = |k: &mut Map<String, Value>, key: &str, v: &Option<String>| {
            if let Some(v) = v {
                k.insert(key.to_owned(), Value::String(v.clone()));
            }
        };
        set(kustomization, "namespace", &self.namespace);
        set(kustomization, "namePrefix", &self.name_prefix);
        set(kustomization, "nameSuffix", &self.name_suffix);

        // Flux's patch type has only these two fields; a `path` would read a file the spec's
        // author never saw in the repository.
        let patches = self.patches.iter().map(|p| {
            let mut out = Map::new();
            for key in ["patch", "target"] {
                if let Some(v) = p.get(key).filter(|v| !v.is_null()) {
                    out.insert(key.into(), v.clone());
                }
            }
            Value::Object(out)
        });
        append(file, kustomization, "patches", patches)?;

        // Inline strategic merge patches are text in a kustomization; JSON text is YAML.
        let strategic = self
            .patches_strategic_merge
            .iter()
            .map(|p| Value::String(p.to_string()));
        append(file, kustomization, "patchesStrategicMerge", strategic)?;

        let json6902 = self.patches_json6902.iter().map(|p| {
            let mut out = Map::new();
            if let Some(target) = p.get("target") {
                out.insert("target".into(), target.clone());
            }
            if let Some(ops) = p.get("patch") {
                let text = match ops {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                out.insert("patch".into(), Value::String(text));
            }
            Value::Object(out)
        });
        append(file, kustomization, "patchesJson6902", json6902)?;

        let mut components = Vec::new();
        for c in &self.components {
            if !is_local_relative(c) {
                return Err(invalid(
                    file,
                    format!("component path {c:?} must be local and relative"),
                ));
            }
            if self.ignore_missing_components && !exists(Path::new(c)) {
                continue;
            }
            components.push(Value::String(c.clone()));
        }
        append(file, kustomization, "components", components.into_iter())?;

        if !self.images.is_empty() {
            let images = list_of(file, kustomization, "images")?;
            for image in &self.images {
                let name = image.get("name").and_then(Value::as_str);
                match images
                    .iter_mut()
                    .find(|i| name.is_some() && i.get("name").and_then(Value::as_str) == name)
                {
                    Some(existing) => *existing = image.clone(),
                    None => images.push(image.clone()),
                }
            }
        }
        Ok(())
    }
}

/// The list under `key`, created when absent.
fn list_of<'k>(
    file: &str,
    kustomization: &'k mut Map<String, Value>,
    key: &str,
) -> Result<&'k mut Vec<Value>, Error> {
    let slot = kustomization
        .entry(key)
        .or_insert_with(|| Value::Array(Vec::new()));
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut()
        .ok_or_else(|| invalid(file, format!("field {key}: expected a list")))
}

fn append(
    file: &str,
    kustomization: &mut Map<String, Value>,
    key: &str,
    items: impl Iterator<Item = Value>,
) -> Result<(), Error> {
    let mut items = items.peekable();
    if items.peek().is_some() {
        list_of(file, kustomization, key)?.extend(items);
    }
    Ok(())
}

/// A path inside the repository, as Flux requires of components: not absolute, not a URL.
fn is_local_relative(path: &str) -> bool {
    !(path.is_empty() || Path::new(path).is_absolute() || path.contains("://"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merged(overrides: &Overrides, file: Value) -> Result<Value, Error> {
        let Value::Object(mut map) = file else {
            panic!("a mapping")
        };
        overrides.merge_into("kustomization.yaml", &mut map, |p| {
            p == Path::new("present")
        })?;
        Ok(Value::Object(map))
    }

    #[test]
    fn images_replace_by_name_and_lists_append() {
        let overrides = Overrides {
            namespace: Some("team".into()),
            patches: vec![
                json!({"patch": "- op: remove\n  path: /x", "target": {"kind": "Deployment"}, "path": "ignored.yaml"}),
            ],
            images: vec![
                json!({"name": "api", "newTag": "2.0.0"}),
                json!({"name": "web", "newName": "ghcr.io/acme/web"}),
            ],
            components: vec!["present".into(), "absent".into()],
            ignore_missing_components: true,
            ..Overrides::default()
        };
        let out = merged(
            &overrides,
            json!({
                "namespace": "default",
                "resources": ["a.yaml"],
                "patches": [{"path": "own.yaml"}],
                "images": [{"name": "api", "newTag": "1.0.0", "newName": "kept?"}, {"name": "db"}],
            }),
        )
        .expect("merged");
        assert_eq!(out["namespace"], "team");
        assert_eq!(
            out["patches"],
            json!([{"path": "own.yaml"}, {"patch": "- op: remove\n  path: /x", "target": {"kind": "Deployment"}}])
        );
        // Flux replaces the whole entry: the file's newName does not survive.
        assert_eq!(
            out["images"],
            json!([{"name": "api", "newTag": "2.0.0"}, {"name": "db"}, {"name": "web", "newName": "ghcr.io/acme/web"}])
        );
        assert_eq!(out["components"], json!(["present"]));
    }

    #[test]
    fn json6902_operations_become_patch_text_and_strategic_merge_patches_inline_text() {
        let overrides = Overrides {
            patches_json6902: vec![json!({
                "target": {"kind": "Service", "name": "api"},
                "patch": [{"op": "replace", "path": "/spec/type", "value": "NodePort"}],
            })],
            patches_strategic_merge: vec![
                json!({"kind": "Deployment", "metadata": {"name": "api"}}),
            ],
            ..Overrides::default()
        };
        let out = merged(&overrides, json!({})).expect("merged");
        let text = out["patchesJson6902"][0]["patch"].as_str().expect("text");
        let ops: Value = serde_json::from_str(text).expect("JSON");
        assert_eq!(ops[0]["value"], "NodePort");
        assert!(
            out["patchesStrategicMerge"][0]
                .as_str()
                .expect("text")
                .starts_with('{')
        );
    }

    #[test]
    fn components_must_stay_local_and_missing_ones_fail_unless_ignored() {
        for bad in ["/etc/app", "https://example.com/c", ""] {
            let overrides = Overrides {
                components: vec![bad.into()],
                ..Overrides::default()
            };
            let error = merged(&overrides, json!({})).expect_err(bad).to_string();
            assert!(error.contains("must be local and relative"), "{error}");
        }
        let kept = Overrides {
            components: vec!["absent".into()],
            ..Overrides::default()
        };
        assert_eq!(
            merged(&kept, json!({})).expect("merged")["components"],
            json!(["absent"])
        );
    }

    #[test]
    fn a_field_of_the_wrong_shape_is_named() {
        let overrides = Overrides {
            images: vec![json!({"name": "api"})],
            ..Overrides::default()
        };
        let error = merged(&overrides, json!({"images": "api"}))
            .expect_err("not a list")
            .to_string();
        assert!(error.contains("field images"), "{error}");
        assert!(Overrides::default().is_empty());
    }
}
