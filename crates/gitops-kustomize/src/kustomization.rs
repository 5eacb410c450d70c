//! The `Kustomization` and `Component` files.

use serde_json::{Map, Value};

use crate::error::{Error, invalid};

/// The fields of a `secretGenerator` entry (a `configMapGenerator` entry has all but the last,
/// `type`), as kustomize reads them in a kustomization and in a built-in generator plugin.
pub(crate) const SECRET_GENERATOR_FIELDS: &[&str] = &[
    "name",
    "namespace",
    "behavior",
    "files",
    "literals",
    "envs",
    "env",
    "options",
    "type",
];

/// The fields of a selector of resources (patch targets, replacement and `ValueAdd` targets).
pub(crate) const SELECTOR_FIELDS: &[&str] = &[
    "group",
    "version",
    "kind",
    "name",
    "namespace",
    "labelSelector",
    "annotationSelector",
];

/// The names kustomize looks for in a directory, in its order.
pub(crate) const FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

#[derive(Debug, Default, Clone)]
pub(crate) struct Target {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
    pub label_selector: String,
    pub annotation_selector: String,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Patch {
    pub path: Option<String>,
    pub patch: Option<String>,
    pub target: Option<Target>,
    pub allow_name_change: bool,
    pub allow_kind_change: bool,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct GenOptions {
    pub labels: Map<String, Value>,
    pub annotations: Map<String, Value>,
    pub disable_hash: Option<bool>,
    pub immutable: Option<bool>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Generator {
    pub name: String,
    pub namespace: String,
    pub behavior: String,
    pub files: Vec<String>,
    pub literals: Vec<String>,
    pub envs: Vec<String>,
    pub options: Option<GenOptions>,
    pub secret_type: Option<String>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct LabelSet {
    pub pairs: Map<String, Value>,
    pub include_selectors: bool,
    pub include_templates: bool,
    pub fields: Vec<FieldSpec>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct FieldSpec {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub path: String,
    pub create: bool,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Image {
    pub name: String,
    pub new_name: String,
    pub new_tag: String,
    pub digest: String,
    /// Appended to the current tag when no `newTag` or `digest` is set.
    pub tag_suffix: String,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Replica {
    pub name: String,
    pub count: Value,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct SortOptions {
    pub order: String,
    pub first: Option<Vec<String>>,
    pub last: Option<Vec<String>>,
    pub has_legacy_options: bool,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Kustomization {
    pub is_component: bool,
    /// `transformers`: built-in transformer configurations, inline, files or directories.
    pub transformers: Vec<String>,
    /// `generators`: built-in generator configurations, inline, files or directories.
    pub generators: Vec<String>,
    /// `validators`: built-in transformer configurations run as checks that change nothing.
    pub validators: Vec<String>,
    /// `configurations`: transformer configuration files.
    pub configurations: Vec<String>,
    pub resources: Vec<String>,
    pub components: Vec<String>,
    pub crds: Vec<String>,
    /// `openapi.path`: a custom schema file.
    pub openapi_path: Option<String>,
    /// `openapi.version`: a built-in schema version.
    pub openapi_version: String,
    pub namespace: String,
    pub name_prefix: String,
    pub name_suffix: String,
    pub common_labels: Map<String, Value>,
    pub labels: Vec<LabelSet>,
    pub common_annotations: Map<String, Value>,
    pub images: Vec<Image>,
    pub replicas: Vec<Replica>,
    pub config_maps: Vec<Generator>,
    pub secrets: Vec<Generator>,
    pub generator_options: Option<GenOptions>,
    pub patches: Vec<Patch>,
    pub patches_sm: Vec<String>,
    pub patches_json: Vec<Patch>,
    pub replacements: Vec<Value>,
    pub vars: Vec<Value>,
    pub sort_options: Option<SortOptions>,
    pub build_metadata: Vec<String>,
}

struct Ctx<'a> {
    file: &'a str,
}

impl Ctx<'_> {
    fn err(&self, field: &str, msg: impl std::fmt::Display) -> Error {
        invalid(self.file, format!("field {field}: {msg}"))
    }

    fn string(&self, field: &str, v: &Value) -> Result<String, Error> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Null => Ok(String::new()),
            Value::Number(_) | Value::Bool(_) => Err(self.err(
                field,
                "expected a string, found a number or boolean (quote it)",
            )),
            _ => Err(self.err(field, "expected a string")),
        }
    }

    fn bool(&self, field: &str, v: &Value) -> Result<bool, Error> {
        match v {
            Value::Bool(b) => Ok(*b),
            Value::Null => Ok(false),
            _ => Err(self.err(field, "expected true or false")),
        }
    }

    fn strings(&self, field: &str, v: &Value) -> Result<Vec<String>, Error> {
        match v {
            Value::Null => Ok(Vec::new()),
            Value::Array(items) => items.iter().map(|i| self.string(field, i)).collect(),
            _ => Err(self.err(field, "expected a list of strings")),
        }
    }

    fn string_map(&self, field: &str, v: &Value) -> Result<Map<String, Value>, Error> {
        match v {
            Value::Null => Ok(Map::new()),
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, v) in m {
                    let s = match v {
                        Value::Null => String::new(),
                        other => self.string(&format!("{field}.{k}"), other)?,
                    };
                    out.insert(k.clone(), Value::String(s));
                }
                Ok(out)
            }
            _ => Err(self.err(field, "expected a map of strings")),
        }
    }

    fn object(&self, field: &str, v: &Value, known: &[&str]) -> Result<Map<String, Value>, Error> {
        let m = v
            .as_object()
            .ok_or_else(|| self.err(field, "expected a mapping"))?;
        let m = canonical_keys(m, known);
        for k in m.keys() {
            if !known.contains(&k.as_str()) {
                return Err(self.err(&format!("{field}.{k}"), "unknown field"));
            }
        }
        Ok(m)
    }

    fn list<'v>(&self, field: &str, v: &'v Value) -> Result<&'v [Value], Error> {
        match v {
            Value::Null => Ok(&[]),
            Value::Array(a) => Ok(a),
            _ => Err(self.err(field, "expected a list")),
        }
    }

    fn target(&self, field: &str, v: &Value) -> Result<Option<Target>, Error> {
        if v.is_null() {
            return Ok(None);
        }
        let m = self.object(field, v, SELECTOR_FIELDS)?;
        let g = |k: &str| -> Result<String, Error> {
            m.get(k).map_or(Ok(String::new()), |v| {
                self.string(&format!("{field}.{k}"), v)
            })
        };
        Ok(Some(Target {
            group: g("group")?,
            version: g("version")?,
            kind: g("kind")?,
            name: g("name")?,
            namespace: g("namespace")?,
            label_selector: g("labelSelector")?,
            annotation_selector: g("annotationSelector")?,
        }))
    }

    fn gen_options(&self, field: &str, v: &Value) -> Result<Option<GenOptions>, Error> {
        if v.is_null() {
            return Ok(None);
        }
        let m = self.object(
            field,
            v,
            &[
                "labels",
                "annotations",
                "disableNameSuffixHash",
                "immutable",
            ],
        )?;
        Ok(Some(GenOptions {
            labels: self.string_map(
                &format!("{field}.labels"),
                m.get("labels").unwrap_or(&Value::Null),
            )?,
            annotations: self.string_map(
                &format!("{field}.annotations"),
                m.get("annotations").unwrap_or(&Value::Null),
            )?,
            disable_hash: m
                .get("disableNameSuffixHash")
                .map(|v| self.bool(&format!("{field}.disableNameSuffixHash"), v))
                .transpose()?,
            immutable: m
                .get("immutable")
                .map(|v| self.bool(&format!("{field}.immutable"), v))
                .transpose()?,
        }))
    }

    fn generator(&self, field: &str, v: &Value, secret: bool) -> Result<Generator, Error> {
        let known = if secret {
            SECRET_GENERATOR_FIELDS
        } else {
            // A ConfigMap has no `type`, the last field.
            &SECRET_GENERATOR_FIELDS[..SECRET_GENERATOR_FIELDS.len() - 1]
        };
        let m = self.object(field, v, known)?;
        let get = |k: &str| m.get(k).unwrap_or(&Value::Null);
        let mut envs = self.strings(&format!("{field}.envs"), get("envs"))?;
        let env = self.string(&format!("{field}.env"), get("env"))?;
        if !env.is_empty() {
            envs.push(env);
        }
        Ok(Generator {
            name: self.string(&format!("{field}.name"), get("name"))?,
            namespace: self.string(&format!("{field}.namespace"), get("namespace"))?,
            behavior: self.string(&format!("{field}.behavior"), get("behavior"))?,
            files: self.strings(&format!("{field}.files"), get("files"))?,
            literals: self.strings(&format!("{field}.literals"), get("literals"))?,
            envs,
            options: self.gen_options(&format!("{field}.options"), get("options"))?,
            secret_type: m
                .get("type")
                .map(|t| self.string(&format!("{field}.type"), t))
                .transpose()?,
        })
    }

    fn field_spec(&self, field: &str, v: &Value) -> Result<FieldSpec, Error> {
        let m = self.object(field, v, &["group", "version", "kind", "path", "create"])?;
        let s = |k: &str| {
            m.get(k).map_or(Ok(String::new()), |v| {
                self.string(&format!("{field}.{k}"), v)
            })
        };
        Ok(FieldSpec {
            group: s("group")?,
            version: s("version")?,
            kind: s("kind")?,
            path: s("path")?,
            create: m
                .get("create")
                .map_or(Ok(false), |v| self.bool(&format!("{field}.create"), v))?,
        })
    }
}

/// The fields of a kustomization, as kustomize spells them.
const FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "resources",
    "bases",
    "components",
    "crds",
    "namespace",
    "namePrefix",
    "nameSuffix",
    "commonLabels",
    "commonAnnotations",
    "labels",
    "images",
    "imageTags",
    "replicas",
    "configMapGenerator",
    "secretGenerator",
    "generatorOptions",
    "patches",
    "patchesStrategicMerge",
    "patchesJson6902",
    "replacements",
    "vars",
    "openapi",
    "sortOptions",
    "buildMetadata",
    "helmCharts",
    "helmGlobals",
    "helmChartInflationGenerator",
    "generators",
    "transformers",
    "validators",
    "configurations",
];

/// `m` with every key that matches a `known` field name ignoring ASCII case renamed to that
/// name. kustomize decodes kustomizations with Go's `encoding/json`, which matches field
/// names that way, so `nameprefix` or `fieldpath` are the same fields as `namePrefix` and
/// `fieldPath`; when a field is written twice, the later one wins, as there.
pub(crate) fn canonical_keys(m: &Map<String, Value>, known: &[&str]) -> Map<String, Value> {
    let mut out = Map::with_capacity(m.len());
    for (k, v) in m {
        let name = if known.contains(&k.as_str()) {
            k.as_str()
        } else {
            known
                .iter()
                .copied()
                .find(|n| n.eq_ignore_ascii_case(k))
                .unwrap_or(k.as_str())
        };
        out.insert(name.to_owned(), v.clone());
    }
    out
}

impl Kustomization {
    /// Reads a kustomization file's value. `file` names it in errors.
    pub fn from_value(file: &str, value: &Value) -> Result<Self, Error> {
        let ctx = Ctx { file };
        let map = match value {
            Value::Object(m) => canonical_keys(m, FIELDS),
            Value::Null => Map::new(),
            _ => return Err(invalid(file, "a kustomization must be a mapping")),
        };
        if map.keys().all(|k| k == "apiVersion" || k == "kind") {
            return Err(invalid(file, "kustomization file is empty"));
        }
        let mut k = Kustomization::default();
        let mut image_tags = Vec::new();
        let kind = map
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("Kustomization");
        match kind {
            "Kustomization" | "" => {}
            "Component" => k.is_component = true,
            other => {
                return Err(ctx.err(
                    "kind",
                    format!("unknown kind {other:?}, expected Kustomization or Component"),
                ));
            }
        }
        // kustomize holds each kind to its own version: v1beta1 for a Kustomization,
        // v1alpha1 for a Component (an empty apiVersion is accepted for both).
        let wanted = if k.is_component {
            "kustomize.config.k8s.io/v1alpha1"
        } else {
            "kustomize.config.k8s.io/v1beta1"
        };
        match map.get("apiVersion").and_then(Value::as_str) {
            Some(v) if !v.is_empty() && v != wanted => {
                return Err(ctx.err(
                    "apiVersion",
                    format!(
                        "apiVersion for {} should be {wanted}, not {v:?}",
                        if k.is_component {
                            "Component"
                        } else {
                            "Kustomization"
                        }
                    ),
                ));
            }
            _ => {}
        }
        for (key, v) in &map {
            let f = key.as_str();
            match f {
                "apiVersion" | "kind" | "metadata" => {}
                "resources" | "bases" => k.resources.extend(ctx.strings(f, v)?),
                "components" => k.components = ctx.strings(f, v)?,
                "crds" => k.crds = ctx.strings(f, v)?,
                "namespace" => k.namespace = ctx.string(f, v)?,
                "namePrefix" => k.name_prefix = ctx.string(f, v)?,
                "nameSuffix" => k.name_suffix = ctx.string(f, v)?,
                "commonLabels" => k.common_labels = ctx.string_map(f, v)?,
                "commonAnnotations" => k.common_annotations = ctx.string_map(f, v)?,
                "labels" => {
                    for (i, item) in ctx.list(f, v)?.iter().enumerate() {
                        let field = format!("labels[{i}]");
                        let m = ctx.object(
                            &field,
                            item,
                            &["pairs", "includeSelectors", "includeTemplates", "fields"],
                        )?;
                        let get = |k: &str| m.get(k).unwrap_or(&Value::Null);
                        let mut fields = Vec::new();
                        for (j, fs) in ctx
                            .list(&format!("{field}.fields"), get("fields"))?
                            .iter()
                            .enumerate()
                        {
                            fields.push(ctx.field_spec(&format!("{field}.fields[{j}]"), fs)?);
                        }
                        k.labels.push(LabelSet {
                            pairs: ctx.string_map(&format!("{field}.pairs"), get("pairs"))?,
                            include_selectors: ctx.bool(
                                &format!("{field}.includeSelectors"),
                                get("includeSelectors"),
                            )?,
                            include_templates: ctx.bool(
                                &format!("{field}.includeTemplates"),
                                get("includeTemplates"),
                            )?,
                            fields,
                        });
                    }
                }
                "images" | "imageTags" => {
                    // kustomize moves the deprecated `imageTags` after `images`.
                    let list = if f == "images" {
                        &mut k.images
                    } else {
                        &mut image_tags
                    };
                    for (i, item) in ctx.list(f, v)?.iter().enumerate() {
                        let field = format!("{f}[{i}]");
                        let m = ctx.object(
                            &field,
                            item,
                            &["name", "newName", "newTag", "digest", "tagSuffix"],
                        )?;
                        let s = |k: &str| {
                            m.get(k).map_or(Ok(String::new()), |v| {
                                ctx.string(&format!("{field}.{k}"), v)
                            })
                        };
                        list.push(Image {
                            name: s("name")?,
                            new_name: s("newName")?,
                            new_tag: s("newTag")?,
                            digest: s("digest")?,
                            tag_suffix: s("tagSuffix")?,
                        });
                    }
                }
                "replicas" => {
                    for (i, item) in ctx.list(f, v)?.iter().enumerate() {
                        let field = format!("replicas[{i}]");
                        let m = ctx.object(&field, item, &["name", "count"])?;
                        let count = m.get("count").cloned().unwrap_or(Value::from(0));
                        if !count.is_i64() {
                            return Err(ctx.err(&format!("{field}.count"), "expected an integer"));
                        }
                        k.replicas.push(Replica {
                            name: ctx.string(
                                &format!("{field}.name"),
                                m.get("name").unwrap_or(&Value::Null),
                            )?,
                            count,
                        });
                    }
                }
                "configMapGenerator" => {
                    for (i, item) in ctx.list(f, v)?.iter().enumerate() {
                        k.config_maps.push(ctx.generator(
                            &format!("configMapGenerator[{i}]"),
                            item,
                            false,
                        )?);
                    }
                }
                "secretGenerator" => {
                    for (i, item) in ctx.list(f, v)?.iter().enumerate() {
                        k.secrets.push(ctx.generator(
                            &format!("secretGenerator[{i}]"),
                            item,
                            true,
                        )?);
                    }
                }
                "generatorOptions" => k.generator_options = ctx.gen_options(f, v)?,
                "patches" => {
                    for (i, item) in ctx.list(f, v)?.iter().enumerate() {
                        let field = format!("patches[{i}]");
                        let m =
                            ctx.object(&field, item, &["path", "patch", "target", "options"])?;
                        let opts = match m.get("options") {
                            Some(o) if !o.is_null() => ctx
                                .object(
                                    &format!("{field}.options"),
                                    o,
                                    &["allowNameChange", "allowKindChange"],
                                )?
                                .clone(),
                            _ => Map::new(),
                        };
                        k.patches.push(Patch {
                            path: m
                                .get("path")
                                .map(|v| ctx.string(&format!("{field}.path"), v))
                                .transpose()?
                                .filter(|s| !s.is_empty()),
                            patch: m
                                .get("patch")
                                .map(|v| ctx.string(&format!("{field}.patch"), v))
                                .transpose()?
                                .filter(|s| !s.trim().is_empty()),
                            target: ctx.target(
                                &format!("{field}.target"),
                                m.get("target").unwrap_or(&Value::Null),
                            )?,
                            allow_name_change: opts
                                .get("allowNameChange")
                                .map_or(Ok(false), |v| ctx.bool("allowNameChange", v))?,
                            allow_kind_change: opts
                                .get("allowKindChange")
                                .map_or(Ok(false), |v| ctx.bool("allowKindChange", v))?,
                        });
                    }
                }
                "patchesStrategicMerge" => k.patches_sm = ctx.strings(f, v)?,
                "patchesJson6902" => {
                    for (i, item) in ctx.list(f, v)?.iter().enumerate() {
                        let field = format!("patchesJson6902[{i}]");
                        let m = ctx.object(&field, item, &["path", "patch", "target"])?;
                        k.patches_json.push(Patch {
                            path: m
                                .get("path")
                                .map(|v| ctx.string(&format!("{field}.path"), v))
                                .transpose()?
                                .filter(|s| !s.is_empty()),
                            patch: m
                                .get("patch")
                                .map(|v| ctx.string(&format!("{field}.patch"), v))
                                .transpose()?
                                .filter(|s| !s.trim().is_empty()),
                            target: ctx.target(
                                &format!("{field}.target"),
                                m.get("target").unwrap_or(&Value::Null),
                            )?,
                            ..Patch::default()
                        });
                    }
                }
                "replacements" => k.replacements = ctx.list(f, v)?.to_vec(),
                "vars" => k.vars = ctx.list(f, v)?.to_vec(),
                "openapi" => {
                    let m = ctx.object(f, v, &["path", "version"])?;
                    k.openapi_path = m
                        .get("path")
                        .map(|p| ctx.string("openapi.path", p))
                        .transpose()?;
                    k.openapi_version =
                        ctx.string("openapi.version", m.get("version").unwrap_or(&Value::Null))?;
                }
                "sortOptions" => {
                    let m = ctx.object(f, v, &["order", "legacySortOptions"])?;
                    let mut so = SortOptions {
                        order: ctx
                            .string("sortOptions.order", m.get("order").unwrap_or(&Value::Null))?,
                        ..SortOptions::default()
                    };
                    if let Some(l) = m.get("legacySortOptions").filter(|l| !l.is_null()) {
                        let lm = ctx.object(
                            "sortOptions.legacySortOptions",
                            l,
                            &["orderFirst", "orderLast"],
                        )?;
                        so.has_legacy_options = true;
                        so.first = Some(ctx.strings(
                            "sortOptions.legacySortOptions.orderFirst",
                            lm.get("orderFirst").unwrap_or(&Value::Null),
                        )?);
                        so.last = Some(ctx.strings(
                            "sortOptions.legacySortOptions.orderLast",
                            lm.get("orderLast").unwrap_or(&Value::Null),
                        )?);
                    }
                    k.sort_options = Some(so);
                }
                "buildMetadata" => k.build_metadata = ctx.strings(f, v)?,
                "helmCharts" | "helmGlobals" | "helmChartInflationGenerator" => {
                    return Err(Error::Unsupported {
                        path: file.into(),
                        feature: format!("{f} (helm charts)"),
                    });
                }
                "transformers" => k.transformers = ctx.strings(f, v)?,
                "generators" => k.generators = ctx.strings(f, v)?,
                "validators" => k.validators = ctx.strings(f, v)?,
                "configurations" => k.configurations = ctx.strings(f, v)?,
                other => return Err(ctx.err(other, "unknown field")),
            }
        }
        k.images.append(&mut image_tags);
        Ok(k)
    }
}
