//! kustomize's built-in plugins (`apiVersion: builtin`) listed in a kustomization's
//! `generators:`, `transformers:` and `validators:`.
//!
//! Each entry is an inline configuration (YAML documents), a file of configurations or a
//! directory whose kustomization builds into configurations (the builder builds it and adds
//! what it built to the [`Configs`]). As in kustomize, the inline entries of a list run first,
//! in order, then the paths. Generators run after the
//! kustomization's own `configMapGenerator`/`secretGenerator`; transformers after its own
//! transformers, each with exactly the field specs it is given (no defaults); validators last,
//! and a validator that changes any resource fails the build.
//!
//! Supported: `ConfigMapGenerator`, `SecretGenerator`, `AnnotationsTransformer`,
//! `HashTransformer`, `ImageTagTransformer`, `LabelTransformer`, `NamespaceTransformer`,
//! `PatchJson6902Transformer`, `PatchStrategicMergeTransformer`, `PatchTransformer`,
//! `PrefixSuffixTransformer`, `PrefixTransformer`, `SuffixTransformer`,
//! `ReplacementTransformer`, `ReplicaCountTransformer`, `ValueAddTransformer` and
//! `IAMPolicyGenerator` (GKE workload identity: a ServiceAccount annotated with its Google
//! service account). `HelmChartInflationGenerator` and exec/Go/container plugins stay a clear
//! [`Error::Unsupported`]; other kinds fail as kustomize fails on them.

use serde_json::{Map, Value};

use crate::error::{Error, invalid};
use crate::kustomization::{Image, Kustomization, SECRET_GENERATOR_FIELDS, canonical_keys};
use crate::loader::{Layer, Loader, go_join};
use crate::openapi::Schema;
use crate::resource::Resource;
use crate::transform::Annotate;
use crate::transform::fieldspec::{Spec, apply_specs};
use crate::transform::growth::Growth;
use crate::transform::namespace::{Namespace, Subjects};

/// The kustomization field a plugin configuration is listed in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Generator,
    Transformer,
    Validator,
}

impl Role {
    fn field(self) -> &'static str {
        match self {
            Role::Generator => "generators",
            Role::Transformer => "transformers",
            Role::Validator => "validators",
        }
    }

    /// The entries of this field in `k`.
    pub fn entries(self, k: &Kustomization) -> &[String] {
        match self {
            Role::Generator => &k.generators,
            Role::Transformer => &k.transformers,
            Role::Validator => &k.validators,
        }
    }
}

/// One plugin configuration and where it was written (for errors).
pub(crate) struct Config {
    source: String,
    doc: Map<String, Value>,
    /// Where it was written, relative to the top-level kustomization (its origin).
    origin_path: String,
}

impl Config {
    /// kustomize's origin of what this plugin generates or transforms, in YAML.
    fn origin(&self) -> String {
        let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
        let md = self.doc.get("metadata");
        let mut out = format!(
            "configuredIn: {}\nconfiguredBy:\n  apiVersion: {}\n  kind: {}\n",
            self.origin_path,
            s(self.doc.get("apiVersion")),
            s(self.doc.get("kind")),
        );
        for key in ["name", "namespace"] {
            let v = s(md.and_then(|m| m.get(key)));
            if !v.is_empty() {
                out.push_str(&format!("  {key}: {v}\n"));
            }
        }
        out
    }
}

/// Adds to every resource the transformers the layer ran (its own fields', then the
/// `transformers:` entries in `plugins`), as kustomize records them after each transformer.
pub(crate) fn record_transformations(layer: &Layer, ra: &mut [Resource], plugins: Vec<String>) {
    let k = &layer.k;
    let configured_in = go_join(&layer.origin_dir, &layer.file_name);
    let builtin = |kind: &str| {
        format!(
            "configuredIn: {configured_in}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n"
        )
    };
    let mut ran = Vec::new();
    let mut add = |kind: &str, n: usize| {
        for _ in 0..n {
            ran.push(builtin(kind));
        }
    };
    add(
        "PatchStrategicMergeTransformer",
        usize::from(!k.patches_sm.is_empty()),
    );
    add("PatchTransformer", k.patches.len());
    add("NamespaceTransformer", usize::from(!k.namespace.is_empty()));
    add("PrefixTransformer", usize::from(!k.name_prefix.is_empty()));
    add("SuffixTransformer", usize::from(!k.name_suffix.is_empty()));
    // One per `labels` entry, and one for `commonLabels` (even empty) when either is set.
    let labels = if k.labels.is_empty() && k.common_labels.is_empty() {
        0
    } else {
        k.labels.len() + 1
    };
    add("LabelTransformer", labels);
    add(
        "AnnotationsTransformer",
        usize::from(!k.common_annotations.is_empty()),
    );
    add("PatchJson6902Transformer", k.patches_json.len());
    add("ReplicaCountTransformer", k.replicas.len());
    add("ImageTagTransformer", k.images.len());
    add(
        "ReplacementTransformer",
        usize::from(!k.replacements.is_empty()),
    );
    ran.extend(plugins);
    if ran.is_empty() {
        return;
    }
    for r in ra.iter_mut() {
        r.transformations.extend(ran.iter().cloned());
    }
}

/// Runs the kustomization's `generators:` entries, adding what they generate to `ra`.
pub(crate) fn generators(
    l: &Loader<'_>,
    a: Annotate,
    layer: &Layer,
    configs: Vec<Config>,
    ra: &mut Vec<Resource>,
) -> Result<(), Error> {
    for c in configs {
        let kind = builtin_kind(&c, Role::Generator)?;
        if kind == "IAMPolicyGenerator" {
            let r = iam_policy(&c.source, &c.doc)?;
            let origin = a.origins.then(|| c.origin());
            super::generators::absorb(
                layer,
                ra,
                r,
                crate::resource::Behavior::Create,
                "generators",
            )?;
            if let (Some(origin), Some(last)) = (origin, ra.last_mut()) {
                last.origin = Some(origin);
            }
            continue;
        }
        let secret = kind == "SecretGenerator";
        // The generator's arguments are the configuration's top-level fields; its name and
        // namespace default to the configuration's own, as kustomize's plugins read them.
        let known = SECRET_GENERATOR_FIELDS;
        let doc = canonical_keys(&c.doc, known);
        let mut args = Map::new();
        for k in known {
            if (*k == "type" && !secret) || doc.get(*k).is_none_or(Value::is_null) {
                continue;
            }
            let mut v = doc[*k].clone();
            if *k != "options" {
                stringify(&mut v);
            }
            args.insert((*k).into(), v);
        }
        for k in ["name", "namespace"] {
            let empty = args
                .get(k)
                .is_none_or(|v| v.as_str().is_some_and(str::is_empty));
            if empty && let Some(v) = c.doc.get("metadata").and_then(|m| m.get(k)) {
                args.insert(k.into(), v.clone());
            }
        }
        let field = if secret {
            "secretGenerator"
        } else {
            "configMapGenerator"
        };
        let single = single(
            layer,
            &c.source,
            field,
            Value::Array(vec![Value::Object(args)]),
        )?;
        let before = ra.len();
        super::generators::run(l, a, &single, ra)?;
        if a.origins {
            for r in &mut ra[before..] {
                r.origin = Some(c.origin());
            }
        }
    }
    Ok(())
}

/// `IAMPolicyGenerator`: the Kubernetes ServiceAccount of GKE workload identity, annotated
/// with the Google service account it acts as. Its arguments are read as kustomize reads them
/// (`cloud`, `kubernetesService.{name,namespace}`, `serviceAccount.{name,projectId}`; other
/// fields ignored); only the `gke` cloud exists.
fn iam_policy(source: &str, doc: &Map<String, Value>) -> Result<Resource, Error> {
    let text = |path: &[&str]| -> Result<String, Error> {
        let mut v = &Value::Null;
        for (i, key) in path.iter().enumerate() {
            let next = if i == 0 { doc.get(*key) } else { v.get(*key) };
            match next {
                Some(next) => v = next,
                None => return Ok(String::new()),
            }
        }
        match v {
            Value::Null => Ok(String::new()),
            other => scalar_text(other).ok_or_else(|| {
                invalid(
                    source,
                    format!("IAMPolicyGenerator.{}: expected a string", path.join(".")),
                )
            }),
        }
    };
    let cloud = text(&["cloud"])?;
    if cloud != "gke" {
        return Err(invalid(
            source,
            format!("IAMPolicyGenerator: cloud provider {cloud} not supported yet"),
        ));
    }
    let (name, namespace) = (
        text(&["kubernetesService", "name"])?,
        text(&["kubernetesService", "namespace"])?,
    );
    let account = format!(
        "{}@{}.iam.gserviceaccount.com",
        text(&["serviceAccount", "name"])?,
        text(&["serviceAccount", "projectId"])?
    );
    let mut metadata = Map::new();
    metadata.insert(
        "annotations".into(),
        Value::Object(Map::from_iter([(
            "iam.gke.io/gcp-service-account".to_string(),
            Value::String(account),
        )])),
    );
    metadata.insert("name".into(), Value::String(name));
    if !namespace.is_empty() {
        metadata.insert("namespace".into(), Value::String(namespace));
    }
    let mut object = Map::new();
    object.insert("apiVersion".into(), Value::String("v1".into()));
    object.insert("kind".into(), Value::String("ServiceAccount".into()));
    object.insert("metadata".into(), Value::Object(metadata));
    Ok(Resource::new(Value::Object(object)))
}

/// Runs the kustomization's `transformers:` entries over `ra`; returns the origin of each
/// (for `buildMetadata: [transformerAnnotations]`).
pub(crate) fn run(
    l: &Loader<'_>,
    schema: &Schema,
    growth: &mut Growth,
    layer: &Layer,
    configs: Vec<Config>,
    ra: &mut Vec<Resource>,
) -> Result<Vec<String>, Error> {
    let mut ran = Vec::new();
    for c in configs {
        let kind = builtin_kind(&c, Role::Transformer)?;
        transform(l, schema, growth, layer, &c, kind, ra)?;
        ran.push(c.origin());
    }
    Ok(ran)
}

/// Runs the kustomization's `validators:` entries: transformers that must change nothing.
pub(crate) fn validators(
    l: &Loader<'_>,
    schema: &Schema,
    growth: &mut Growth,
    layer: &Layer,
    configs: Vec<Config>,
    ra: &mut Vec<Resource>,
) -> Result<(), Error> {
    for c in configs {
        let kind = builtin_kind(&c, Role::Validator)?;
        let before: Vec<Value> = ra.iter().map(|r| r.value.clone()).collect();
        transform(l, schema, growth, layer, &c, kind, ra)?;
        let changed = ra.len() != before.len()
            || ra.iter().zip(&before).any(|(r, v)| {
                let mut after = r.value.clone();
                // kustomize lets a validator mark what it checked with this label.
                if let Some(Value::Object(labels)) = after.pointer_mut("/metadata/labels") {
                    labels.remove("validated-by");
                }
                &after != v
            });
        if changed {
            return Err(invalid(
                c.source,
                format!("validator {kind} shouldn't modify the resource map"),
            ));
        }
    }
    Ok(())
}

/// The configurations of one list, gathered in kustomize's order: the builder adds the
/// inline entries first, then each path, a file read here or a directory it has built.
pub(crate) struct Configs {
    role: Role,
    list: Vec<Config>,
}

impl Configs {
    /// An empty list of `role`.
    pub fn new(role: Role) -> Self {
        Self {
            role,
            list: Vec::new(),
        }
    }

    /// Whether an entry is an inline configuration (it holds a line break, or is a flow
    /// mapping) rather than a path.
    pub fn is_inline(entry: &str) -> bool {
        entry.contains('\n') || entry.trim_start().starts_with('{')
    }

    /// The inline entry `i` of the layer's list.
    pub fn add_inline(
        &mut self,
        l: &Loader<'_>,
        layer: &Layer,
        i: usize,
        entry: &str,
    ) -> Result<(), Error> {
        let source = format!("{} ({}[{i}])", layer.file, self.role.field());
        let origin = go_join(&layer.origin_dir, &layer.file_name);
        for doc in l.parse_yaml(&source, entry)? {
            push_doc(&mut self.list, &source, &origin, doc)?;
        }
        Ok(())
    }

    /// The configurations in the file the layer names `entry`.
    pub fn add_file(&mut self, l: &Loader<'_>, layer: &Layer, entry: &str) -> Result<(), Error> {
        let path = l.resolve(layer, entry, true)?;
        let source = l.show(&path);
        let text = l.read_text(&path)?;
        let origin = go_join(&layer.origin_dir, entry);
        for doc in l.parse_yaml(&source, &text)? {
            push_doc(&mut self.list, &source, &origin, doc)?;
        }
        Ok(())
    }

    /// The resources a directory built into, read as configurations: `file` is its
    /// kustomization, `origin` the directory as written relative to the top-level one.
    pub fn add_built(
        &mut self,
        file: &str,
        origin: &str,
        resources: Vec<Resource>,
    ) -> Result<(), Error> {
        for r in resources {
            // The file each configuration came from, as its origin recorded it.
            let from = r
                .origin
                .as_deref()
                .and_then(|o| o.strip_prefix("path: "))
                .map_or_else(|| origin.to_owned(), |p| p.trim_end().to_owned());
            push_doc(&mut self.list, file, &from, r.value)?;
        }
        Ok(())
    }

    /// The list, once every configuration has a name and no two the same id.
    pub fn finish(self) -> Result<Vec<Config>, Error> {
        // kustomize reads the configurations as resources: each needs a name, and two with the
        // same id are refused.
        let mut seen = std::collections::HashSet::new();
        for c in &self.list {
            let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
            let md = c.doc.get("metadata");
            let id = (
                s(c.doc.get("apiVersion")),
                s(c.doc.get("kind")),
                s(md.and_then(|m| m.get("namespace"))),
                s(md.and_then(|m| m.get("name"))),
            );
            if id.3.is_empty() {
                return Err(invalid(
                    c.source.clone(),
                    format!(
                        "{}: a plugin configuration needs metadata.name",
                        self.role.field()
                    ),
                ));
            }
            if !seen.insert(id.clone()) {
                return Err(invalid(
                    c.source.clone(),
                    format!(
                        "{}: may not add a plugin configuration with an already registered id: {} {}/{}",
                        self.role.field(),
                        id.0,
                        id.1,
                        id.3
                    ),
                ));
            }
        }
        Ok(self.list)
    }
}

fn push_doc(
    out: &mut Vec<Config>,
    source: &str,
    origin_path: &str,
    doc: Value,
) -> Result<(), Error> {
    match doc {
        Value::Null => Ok(()),
        Value::Object(doc) => {
            out.push(Config {
                source: source.to_owned(),
                doc,
                origin_path: origin_path.to_owned(),
            });
            Ok(())
        }
        _ => Err(invalid(source, "a plugin configuration must be a mapping")),
    }
}

const GENERATORS: &[&str] = &[
    "ConfigMapGenerator",
    "SecretGenerator",
    "IAMPolicyGenerator",
    "HelmChartInflationGenerator",
];

const TRANSFORMERS: &[&str] = &[
    "AnnotationsTransformer",
    "HashTransformer",
    "ImageTagTransformer",
    "LabelTransformer",
    "NamespaceTransformer",
    "PatchJson6902Transformer",
    "PatchStrategicMergeTransformer",
    "PatchTransformer",
    "PrefixSuffixTransformer",
    "PrefixTransformer",
    "SuffixTransformer",
    "ReplacementTransformer",
    "ReplicaCountTransformer",
    "ValueAddTransformer",
];

/// The built-in kind a configuration names, checked against the list it is in.
fn builtin_kind(c: &Config, role: Role) -> Result<&'static str, Error> {
    let api_version = c
        .doc
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = c.doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = c
        .doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if api_version != "builtin" {
        return Err(Error::Unsupported {
            path: c.source.clone(),
            feature: format!(
                "{}: plugin {api_version}/{kind} (exec, Go and container plugins; only kustomize's built-in plugins, apiVersion: builtin)",
                role.field()
            ),
        });
    }
    let generator = GENERATORS.iter().find(|k| **k == kind);
    let transformer = TRANSFORMERS.iter().find(|k| **k == kind);
    let found = match (generator, transformer) {
        (Some(k), _) | (None, Some(k)) => *k,
        (None, None) => {
            return Err(invalid(
                c.source.clone(),
                format!("{}: unable to load builtin {kind} ({name})", role.field()),
            ));
        }
    };
    let fits = if role == Role::Generator {
        generator.is_some()
    } else {
        transformer.is_some()
    };
    if !fits {
        let what = if role == Role::Generator {
            "generator"
        } else {
            "transformer"
        };
        return Err(invalid(
            c.source.clone(),
            format!("{}: plugin {kind} ({name}) is not a {what}", role.field()),
        ));
    }
    if found == "HelmChartInflationGenerator" {
        return Err(Error::Unsupported {
            path: c.source.clone(),
            feature: format!("{}: built-in {found}", role.field()),
        });
    }
    Ok(found)
}

/// A kustomization holding only `field`, read from `source` and resolving paths from this
/// kustomization's directory: the built-in plugins whose configuration is a kustomization
/// field's run as that field.
fn single(layer: &Layer, source: &str, field: &str, value: Value) -> Result<Layer, Error> {
    let mut k = Map::new();
    k.insert(field.into(), value);
    Ok(Layer {
        dir: layer.dir.clone(),
        file: source.to_owned(),
        k: Kustomization::from_value(source, &Value::Object(k))?,
        origin_dir: layer.origin_dir.clone(),
        file_name: layer.file_name.clone(),
    })
}

fn transform(
    l: &Loader<'_>,
    schema: &Schema,
    growth: &mut Growth,
    layer: &Layer,
    c: &Config,
    kind: &str,
    ra: &mut Vec<Resource>,
) -> Result<(), Error> {
    let source = c.source.as_str();
    let m = &c.doc;
    match kind {
        "PatchTransformer" => {
            let mut fields = canonical_keys(m, &["patch", "path", "target", "options"]);
            for k in ["apiVersion", "kind", "metadata"] {
                fields.remove(k);
            }
            let single = single(
                layer,
                source,
                "patches",
                Value::Array(vec![Value::Object(fields)]),
            )?;
            super::patch::patches(l, schema, growth, &single, ra)
        }
        "ReplacementTransformer" => {
            let fields = canonical_keys(m, &["replacements"]);
            let list = fields.get("replacements").cloned().unwrap_or(Value::Null);
            let single = single(layer, source, "replacements", list)?;
            super::replacements::run(l, growth, &single, ra)
        }
        "PatchStrategicMergeTransformer" => {
            let fields = canonical_keys(m, &["paths", "patches"]);
            let mut entries = match fields.get("paths") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(a)) => a.clone(),
                Some(_) => {
                    return Err(invalid(
                        source,
                        "PatchStrategicMergeTransformer.paths: expected a list",
                    ));
                }
            };
            let patches = string_field(source, kind, &fields, "patches")?;
            if entries.is_empty() && patches.is_empty() {
                return Err(invalid(
                    source,
                    "PatchStrategicMergeTransformer: empty file path and empty patch content",
                ));
            }
            if !patches.is_empty() {
                // Marked inline even when it holds a single line.
                entries.push(Value::String(format!("{patches}\n")));
            }
            let single = single(
                layer,
                source,
                "patchesStrategicMerge",
                Value::Array(entries),
            )?;
            super::patch::strategic_merge_files(l, schema, growth, &single, ra)
        }
        "PatchJson6902Transformer" => {
            let fields = canonical_keys(m, &["target", "path", "jsonOp"]);
            let path = string_field(source, kind, &fields, "path")?;
            let op = string_field(source, kind, &fields, "jsonOp")?;
            let name = fields
                .get("target")
                .and_then(|t| t.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if name.is_empty() {
                return Err(invalid(
                    source,
                    "PatchJson6902Transformer: must specify the target name",
                ));
            }
            if path.is_empty() && op.is_empty() {
                return Err(invalid(
                    source,
                    "PatchJson6902Transformer: empty file path and empty jsonOp",
                ));
            }
            if !path.is_empty() && !op.is_empty() {
                return Err(invalid(
                    source,
                    "PatchJson6902Transformer: must specify a file path or jsonOp, not both",
                ));
            }
            let mut entry = Map::new();
            entry.insert("target".into(), fields["target"].clone());
            if path.is_empty() {
                entry.insert("patch".into(), Value::String(op));
            } else {
                entry.insert("path".into(), Value::String(path));
            }
            let single = single(
                layer,
                source,
                "patchesJson6902",
                Value::Array(vec![Value::Object(entry)]),
            )?;
            super::patch::json6902_entries(l, growth, &single, ra)
        }
        "LabelTransformer" | "AnnotationsTransformer" => {
            let key = if kind == "LabelTransformer" {
                "labels"
            } else {
                "annotations"
            };
            let m = canonical_keys(m, &[key, "fieldSpecs"]);
            let pairs = string_map(source, &format!("{kind}.{key}"), m.get(key))?;
            let specs = field_specs(source, kind, &m)?;
            super::add_map_entries_in(source, ra, &pairs, &specs, kind)
        }
        "ImageTagTransformer" => {
            let m = canonical_keys(m, &["imageTag", "fieldSpecs"]);
            let tag = m
                .get("imageTag")
                .and_then(Value::as_object)
                .map(|t| canonical_keys(t, &["name", "newName", "newTag", "digest", "tagSuffix"]))
                .unwrap_or_default();
            let s = |k: &str| tag.get(k).and_then(scalar_text).unwrap_or_default();
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
            let name = replica
                .get("name")
                .and_then(scalar_text)
                .unwrap_or_default();
            let name = name.as_str();
            let count = replica.get("count").cloned().unwrap_or(Value::from(0));
            if !count.is_i64() {
                return Err(invalid(
                    source,
                    "ReplicaCountTransformer.replica.count: expected an integer",
                ));
            }
            let specs = field_specs(source, kind, &m)?;
            super::replicas_at(ra, name, &count, &specs)
                .map_err(|e| invalid(source, format!("{kind}: {e}")))
        }
        "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
            let m = canonical_keys(m, &["prefix", "suffix", "fieldSpecs"]);
            if m.get("fieldSpecs").is_none_or(Value::is_null) {
                return Err(invalid(
                    source,
                    format!("{kind}: fieldSpecs is not expected to be nil"),
                ));
            }
            let specs = field_specs(source, kind, &m)?;
            // PrefixSuffixTransformer is the prefix transformer, then the suffix one.
            if kind != "SuffixTransformer" {
                let prefix = string_field(source, kind, &m, "prefix")?;
                affix(source, ra, &specs, &prefix, true)?;
            }
            if kind != "PrefixTransformer" {
                let suffix = string_field(source, kind, &m, "suffix")?;
                affix(source, ra, &specs, &suffix, false)?;
            }
            Ok(())
        }
        "NamespaceTransformer" => {
            let m = canonical_keys(
                m,
                &[
                    "metadata",
                    "fieldSpecs",
                    "unsetOnly",
                    "setRoleBindingSubjects",
                ],
            );
            let ns = m
                .get("metadata")
                .and_then(|md| md.get("namespace"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let subjects =
                Subjects::parse(&string_field(source, kind, &m, "setRoleBindingSubjects")?)
                    .map_err(|e| invalid(source, format!("{kind}: {e}")))?;
            let unset_only = match m.get("unsetOnly") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(v)) => *v,
                Some(_) => {
                    return Err(invalid(
                        source,
                        format!("{kind}.unsetOnly: expected true or false"),
                    ));
                }
            };
            let specs = field_specs(source, kind, &m)?;
            if ns.is_empty() {
                return Ok(());
            }
            let setter = Namespace {
                ns,
                specs: &specs,
                unset_only,
                subjects,
            };
            for r in ra.iter_mut() {
                r.store_previous_id();
                r.bookkeeping = true;
                setter
                    .apply(r)
                    .map_err(|e| invalid(source, format!("{kind}: {e}")))?;
            }
            super::no_id_conflict(source, ra)
        }
        "HashTransformer" => {
            for r in ra.iter_mut().filter(|r| r.needs_hash) {
                let h = super::generators::hash(r);
                r.store_previous_id();
                let name = format!("{}-{h}", r.name());
                r.set_name(&name);
            }
            Ok(())
        }
        "ValueAddTransformer" => super::value_add::run(l, layer, &c.source, &c.doc, ra),
        _ => Err(invalid(
            source,
            format!("unable to load builtin transformer {kind}"),
        )),
    }
}

pub(super) fn string_field(
    source: &str,
    kind: &str,
    m: &Map<String, Value>,
    key: &str,
) -> Result<String, Error> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(v) => scalar_text(v)
            .ok_or_else(|| invalid(source, format!("{kind}.{key}: expected a string"))),
    }
}

/// kustomize's prefix (or suffix) transformer on its field specs: the kustomization's
/// `namePrefix`/`nameSuffix` and the built-in plugins.
pub(crate) fn affix(
    source: &str,
    ra: &mut [Resource],
    specs: &[Spec],
    affix: &str,
    prefix: bool,
) -> Result<(), Error> {
    for r in ra.iter_mut() {
        let org = r.org_id().gvk;
        if org.kind == "CustomResourceDefinition"
            || org.kind == "Namespace"
            || (org.group == "apiregistration.k8s.io" && org.kind == "APIService")
        {
            continue;
        }
        for spec in specs.iter().filter(|s| s.selects(&org)) {
            if spec.path == ["metadata", "name"] {
                // Recorded even when empty, as kustomize records it, for name references.
                if prefix {
                    r.prefixes.push(affix.to_owned());
                } else {
                    r.suffixes.push(affix.to_owned());
                }
                if !affix.is_empty() {
                    r.store_previous_id();
                    // kustomize keeps its bookkeeping in the annotations of renamed objects.
                    r.bookkeeping = true;
                }
            }
            let gvk = r.gvk();
            apply_specs(
                &mut r.value,
                &gvk,
                std::slice::from_ref(spec),
                &mut |v, _| {
                    let cur = match v {
                        Value::Null => String::new(),
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => return Err("expected a scalar".into()),
                    };
                    *v = Value::String(if prefix {
                        format!("{affix}{cur}")
                    } else {
                        format!("{cur}{affix}")
                    });
                    Ok(())
                },
            )
            .map_err(|e| invalid(source, format!("{}: {e}", spec.path.join("/"))))?;
        }
    }
    Ok(())
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

/// A scalar as the text of a string field: kustomize decodes plugin configurations with
/// `sigs.k8s.io/yaml`, which reads an unquoted `true` or `5` into a string field as its text.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Every scalar in `v` (and in the lists and maps it holds) turned into its text.
fn stringify(v: &mut Value) {
    match v {
        Value::Bool(_) | Value::Number(_) => {
            if let Some(s) = scalar_text(v) {
                *v = Value::String(s);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(stringify),
        Value::Object(m) => m.values_mut().for_each(stringify),
        _ => {}
    }
}

fn string_map(source: &str, what: &str, v: Option<&Value>) -> Result<Map<String, Value>, Error> {
    let invalid_map = || invalid(source, format!("{what}: expected a map of strings"));
    match v {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| {
                let text = match v {
                    Value::Null => Some(String::new()),
                    other => scalar_text(other),
                };
                text.map(|t| (k.clone(), Value::String(t)))
                    .ok_or_else(invalid_map)
            })
            .collect(),
        Some(_) => Err(invalid_map()),
    }
}
