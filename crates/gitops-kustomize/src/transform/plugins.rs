//! `transformers:` entries naming kustomize's built-in transformers (`apiVersion: builtin`),
//! `PatchTransformer` and `ReplacementTransformer` included,
//! inline or from a file. They run after the kustomization's own transformers, in the order
//! listed, each with exactly the field specs it is given (no defaults), as in kustomize.
//! Other plugins (exec, Go, containers) and the built-ins not listed here stay a clear
//! [`Error::Unsupported`].

use serde_json::{Map, Value};

use crate::build::{Builder, Layer};
use crate::error::{Error, invalid};
use crate::kustomization::{Image, Kustomization, canonical_keys};
use crate::resource::Resource;
use crate::transform::fieldspec::Spec;

/// Runs the kustomization's `transformers:` entries over `ra`.
pub(crate) fn run(b: &mut Builder<'_>, layer: &Layer, ra: &mut Vec<Resource>) -> Result<(), Error> {
    for (i, entry) in layer.k.transformers.iter().enumerate() {
        let field = format!("transformers[{i}]");
        // An entry holding a line break is an inline configuration, else a file path.
        let (source, docs) = if entry.contains('\n') {
            let source = format!("{} ({field})", layer.file);
            let docs = b.parse_yaml(&source, entry)?;
            (source, docs)
        } else {
            let path = b.resolve(layer, entry, true)?;
            if b.fs.is_dir(&path) {
                return Err(Error::Unsupported {
                    path: layer.file.clone(),
                    feature: format!("{field}: a directory of transformer configurations"),
                });
            }
            let source = b.show(&path);
            let text = b.read_text(&path)?;
            let docs = b.parse_yaml(&source, &text)?;
            (source, docs)
        };
        for doc in docs.iter().filter(|d| !d.is_null()) {
            if let Some(k) = as_kustomization(&source, doc)? {
                // The same transformer a kustomization field runs, on a kustomization that
                // holds only that field (paths resolve from this kustomization's directory).
                let single = Layer {
                    dir: layer.dir.clone(),
                    file: source.clone(),
                    k,
                    origin_dir: layer.origin_dir.clone(),
                    file_name: layer.file_name.clone(),
                };
                super::patch::patches(b, &single, ra)?;
                super::replacements::run(b, &single, ra)?;
                continue;
            }
            apply(&source, doc, ra)?;
        }
    }
    Ok(())
}

/// A `PatchTransformer` or `ReplacementTransformer` as the kustomization field it configures.
fn as_kustomization(source: &str, doc: &Value) -> Result<Option<Kustomization>, Error> {
    let Some(m) = doc.as_object() else {
        return Ok(None);
    };
    if m.get("apiVersion").and_then(Value::as_str) != Some("builtin") {
        return Ok(None);
    }
    let (field, known): (&str, &[&str]) = match m.get("kind").and_then(Value::as_str) {
        Some("PatchTransformer") => ("patches", &["patch", "path", "target", "options"]),
        Some("ReplacementTransformer") => ("replacements", &["replacements"]),
        _ => return Ok(None),
    };
    let mut fields = canonical_keys(m, known);
    fields.remove("apiVersion");
    fields.remove("kind");
    fields.remove("metadata");
    let value = if field == "patches" {
        Value::Array(vec![Value::Object(fields)])
    } else {
        fields.remove("replacements").unwrap_or(Value::Null)
    };
    let mut k = Map::new();
    k.insert(field.into(), value);
    Kustomization::from_value(source, &Value::Object(k)).map(Some)
}

fn field_specs(source: &str, kind: &str, m: &Map<String, Value>) -> Result<Vec<Spec>, Error> {
    let list = match m.get("fieldSpecs") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(a)) => a,
        Some(_) => {
            return Err(invalid(
                source,
                format!("{kind}.fieldSpecs: expected a list"),
            ));
        }
    };
    let mut out = Vec::new();
    for (i, item) in list.iter().enumerate() {
        let f = item
            .as_object()
            .map(|f| canonical_keys(f, &["group", "version", "kind", "path", "create"]))
            .ok_or_else(|| {
                invalid(
                    source,
                    format!("{kind}.fieldSpecs[{i}]: expected a mapping"),
                )
            })?;
        let s = |k: &str| f.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let create = f.get("create").and_then(Value::as_bool).unwrap_or(false);
        out.push(Spec::new(
            &s("group"),
            &s("version"),
            &s("kind"),
            &s("path"),
            create,
        ));
    }
    Ok(out)
}

fn string_map(source: &str, what: &str, v: Option<&Value>) -> Result<Map<String, Value>, Error> {
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => Ok(m.clone()),
        Some(_) => Err(invalid(
            source,
            format!("{what}: expected a map of strings"),
        )),
    }
}

fn apply(source: &str, doc: &Value, ra: &mut [Resource]) -> Result<(), Error> {
    let m = doc
        .as_object()
        .ok_or_else(|| invalid(source, "a transformer configuration must be a mapping"))?;
    let api_version = m.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = m.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version != "builtin" {
        return Err(Error::Unsupported {
            path: source.into(),
            feature: format!(
                "transformer plugin {api_version}/{kind} (only kustomize's built-in transformers, apiVersion: builtin)"
            ),
        });
    }
    let unsupported = || Error::Unsupported {
        path: source.into(),
        feature: format!("built-in transformer {kind}"),
    };
    match kind {
        "LabelTransformer" | "AnnotationsTransformer" => {
            let (key, what) = if kind == "LabelTransformer" {
                ("labels", "LabelTransformer")
            } else {
                ("annotations", "AnnotationsTransformer")
            };
            let m = canonical_keys(m, &[key, "fieldSpecs"]);
            let pairs = string_map(source, &format!("{what}.{key}"), m.get(key))?;
            let specs = field_specs(source, kind, &m)?;
            let layer_file = source.to_owned();
            super::add_map_entries_in(&layer_file, ra, &pairs, &specs, what)
        }
        "ImageTagTransformer" => {
            let m = canonical_keys(m, &["imageTag", "fieldSpecs"]);
            let tag = m
                .get("imageTag")
                .and_then(Value::as_object)
                .map(|t| canonical_keys(t, &["name", "newName", "newTag", "digest", "tagSuffix"]))
                .unwrap_or_default();
            let s = |k: &str| tag.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let image = Image {
                name: s("name"),
                new_name: s("newName"),
                new_tag: s("newTag"),
                digest: s("digest"),
                tag_suffix: s("tagSuffix"),
            };
            let specs = field_specs(source, kind, &m)?;
            super::images_with(ra, &image, &specs, false);
            Ok(())
        }
        "ReplicaCountTransformer" => {
            let m = canonical_keys(m, &["replica", "fieldSpecs"]);
            let replica = m
                .get("replica")
                .and_then(Value::as_object)
                .map(|t| canonical_keys(t, &["name", "count"]))
                .unwrap_or_default();
            let name = replica.get("name").and_then(Value::as_str).unwrap_or("");
            let count = replica.get("count").cloned().unwrap_or(Value::from(0));
            if !count.is_i64() {
                return Err(invalid(
                    source,
                    "ReplicaCountTransformer.replica.count: expected an integer",
                ));
            }
            let specs = field_specs(source, kind, &m)?;
            super::replicas_at(ra, name, &count, &specs);
            Ok(())
        }
        "PrefixSuffixTransformer" => {
            let m = canonical_keys(m, &["prefix", "suffix", "fieldSpecs"]);
            let specs = field_specs(source, kind, &m)?;
            // Only the renaming of metadata/name (for every kind) is the transformer the
            // kustomization's namePrefix/nameSuffix run; other fields would need kustomize's
            // per-field bookkeeping.
            let renames = specs.iter().all(|s| {
                s.path == ["metadata", "name"]
                    && s.group.is_empty()
                    && s.version.is_empty()
                    && s.kind.is_empty()
            });
            if specs.is_empty() || !renames {
                return Err(unsupported());
            }
            let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            super::prefix_suffix(ra, &s("prefix"), &s("suffix"));
            Ok(())
        }
        _ => Err(unsupported()),
    }
}
