//! The built-in transformers, in the order kustomize runs them for one kustomization.

pub(crate) mod config;
pub(crate) mod crds;
pub(crate) mod fieldspec;
pub(crate) mod generators;
pub(crate) mod growth;
pub(crate) mod nameref;
pub(crate) mod namespace;
pub(crate) mod patch;
pub(crate) mod plugins;
pub(crate) mod replacements;
pub(crate) mod sort;
pub(crate) mod value_add;
pub(crate) mod vars;

use serde_json::{Map, Value};

use crate::error::{Error, invalid};
use crate::kustomization::FieldSpec;
use crate::loader::{Layer, Loader};
use crate::openapi::Schema;
use crate::resource::Resource;
use fieldspec::{Spec, apply_specs};
use growth::Growth;

/// What the top-level kustomization's `buildMetadata` asks the build to record on resources.
#[derive(Clone, Copy, Default)]
pub(crate) struct Annotate {
    /// Resources carry where they came from: the output shows it, or transformer
    /// annotations name where plugin configurations were read.
    pub origins: bool,
    /// The output carries the origins (`originAnnotations`).
    pub emit_origins: bool,
    /// Resources record the transformers that ran over them (`transformerAnnotations`).
    pub transformations: bool,
}

/// Runs the transformers of one kustomization's (or component's) own fields over the
/// accumulated resources, up to its `replacements`; its `transformers:` entries run next
/// ([`plugins::run`]), then [`build_metadata`].
pub(crate) fn run_transformers(
    l: &Loader<'_>,
    schema: &Schema,
    growth: &mut Growth,
    config: &config::Config,
    layer: &Layer,
    ra: &mut Vec<Resource>,
) -> Result<(), Error> {
    let k = &layer.k;
    patch::strategic_merge_files(l, schema, growth, layer, ra)?;
    patch::patches(l, schema, growth, layer, ra)?;
    if !k.namespace.is_empty() {
        namespace(layer, ra, &k.namespace, &config.namespace)?;
    }
    // kustomize's prefix transformer, then its suffix transformer, each on `metadata/name`
    // and the configured field specs.
    for (affix, configured, prefix) in [
        (&k.name_prefix, &config.name_prefix, true),
        (&k.name_suffix, &config.name_suffix, false),
    ] {
        if !affix.is_empty() {
            // A configured `metadata/name` spec (of some kind) takes the place of the default
            // one for every kind, as in kustomize: only the configured kinds are renamed.
            let mut specs = configured.to_vec();
            let default = Spec::new("", "", "", "metadata/name", false);
            match specs.iter().find(|c| c.path == default.path) {
                Some(c) if c.create => {
                    return Err(invalid(
                        layer.file.clone(),
                        "configurations: conflicting fieldspecs for metadata/name (create)",
                    ));
                }
                Some(_) => {}
                None => specs.insert(0, default),
            }
            plugins::affix(&layer.file, ra, &specs, affix, prefix)?;
        }
    }
    for set in &k.labels {
        let mut specs: Vec<Spec> = set.fields.iter().map(Spec::from_field_spec).collect();
        specs.extend(config.labels.iter().cloned());
        if set.include_selectors {
            specs.extend(fieldspec::common_labels());
            specs.extend(config.common_labels.iter().cloned());
        } else {
            if set.include_templates {
                specs.extend(fieldspec::template_labels());
                specs.extend(config.template_labels.iter().cloned());
            }
            specs.push(Spec::new("", "", "", "metadata/labels", true));
        }
        add_map_entries(layer, ra, &set.pairs, &specs, "labels")?;
    }
    if !k.common_labels.is_empty() {
        add_map_entries(
            layer,
            ra,
            &k.common_labels,
            &with(fieldspec::common_labels(), &config.common_labels),
            "commonLabels",
        )?;
    }
    if !k.common_annotations.is_empty() {
        add_map_entries(
            layer,
            ra,
            &k.common_annotations,
            &with(fieldspec::common_annotations(), &config.common_annotations),
            "commonAnnotations",
        )?;
    }
    patch::json6902_entries(l, growth, layer, ra)?;
    for (i, r) in k.replicas.iter().enumerate() {
        replicas(ra, &r.name, &r.count, &config.replicas)
            .map_err(|m| invalid(layer.file.clone(), format!("replicas[{i}]: {m}")))?;
    }
    for image in &k.images {
        images(ra, image, &config.images);
    }
    replacements::run(l, growth, layer, ra)?;
    Ok(())
}

/// The last steps of one kustomization's transformers, after its `transformers:` entries
/// (whose origins are `plugins_ran`): the record of what ran, and `buildMetadata`.
pub(crate) fn build_metadata(
    a: Annotate,
    layer: &Layer,
    ra: &mut [Resource],
    plugins_ran: Vec<String>,
) -> Result<(), Error> {
    let k = &layer.k;
    if a.transformations {
        plugins::record_transformations(layer, ra, plugins_ran);
    }
    if k.build_metadata.iter().any(|m| m == "managedByLabel") {
        let mut pairs = Map::new();
        pairs.insert(
            "app.kubernetes.io/managed-by".into(),
            Value::String("kustomize-(devel)".into()),
        );
        add_map_entries(
            layer,
            ra,
            &pairs,
            &[Spec::new("", "", "", "metadata/labels", true)],
            "buildMetadata",
        )?;
    }
    for m in &k.build_metadata {
        if !matches!(
            m.as_str(),
            "managedByLabel" | "originAnnotations" | "transformerAnnotations"
        ) {
            return Err(Error::Unsupported {
                path: layer.file.clone(),
                feature: format!("buildMetadata: {m}"),
            });
        }
    }
    Ok(())
}

/// `builtin` followed by the configured specs it does not already hold.
fn with(mut builtin: Vec<Spec>, configured: &[Spec]) -> Vec<Spec> {
    for s in configured {
        if !builtin.iter().any(|b| {
            b.group == s.group && b.version == s.version && b.kind == s.kind && b.path == s.path
        }) {
            builtin.push(s.clone());
        }
    }
    builtin
}

fn namespace(
    layer: &Layer,
    ra: &mut [Resource],
    ns: &str,
    configured: &[Spec],
) -> Result<(), Error> {
    let specs = with(
        vec![
            Spec::new("", "", "Namespace", "metadata/name", true),
            Spec::new(
                "apiregistration.k8s.io",
                "",
                "APIService",
                "spec/service/namespace",
                true,
            ),
            Spec::new(
                "apiextensions.k8s.io",
                "",
                "CustomResourceDefinition",
                "spec/conversion/webhook/clientConfig/service/namespace",
                false,
            ),
        ],
        configured,
    );
    let setter = namespace::Namespace {
        ns,
        specs: &specs,
        unset_only: false,
        subjects: namespace::Subjects::DefaultOnly,
    };
    for r in ra.iter_mut() {
        r.store_previous_id();
        // kustomize keeps its bookkeeping in the annotations of every object it re-namespaced.
        r.bookkeeping = true;
        setter
            .apply(r)
            .map_err(|m| invalid(layer.file.clone(), format!("namespace: {m}")))?;
    }
    no_id_conflict(&layer.file, ra)
}

/// kustomize's check after a namespace change: no two resources may now share an id.
pub(crate) fn no_id_conflict(file: &str, ra: &[Resource]) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    for r in ra.iter() {
        let id = r.cur_id();
        if !seen.insert(id.key()) {
            return Err(invalid(
                file,
                format!(
                    "namespace transformation produces ID conflict: {}",
                    id.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Adds key/value pairs to the maps at the field specs (labels, annotations).
fn add_map_entries(
    layer: &Layer,
    ra: &mut [Resource],
    pairs: &Map<String, Value>,
    specs: &[Spec],
    field: &str,
) -> Result<(), Error> {
    add_map_entries_in(&layer.file, ra, pairs, specs, field)
}

/// Adds key/value pairs to the maps at the field specs (labels, annotations); `file` names
/// the configuration in errors.
pub(crate) fn add_map_entries_in(
    file: &str,
    ra: &mut [Resource],
    pairs: &Map<String, Value>,
    specs: &[Spec],
    field: &str,
) -> Result<(), Error> {
    for r in ra.iter_mut() {
        let gvk = r.gvk();
        apply_specs(&mut r.value, &gvk, specs, &mut |v, _| {
            if v.is_null() {
                *v = Value::Object(Map::new());
            }
            match v {
                Value::Object(m) => {
                    for (k, val) in pairs {
                        m.insert(k.clone(), val.clone());
                    }
                    Ok(())
                }
                _ => Err("expected a mapping".to_owned()),
            }
        })
        .map_err(|m| invalid(file, format!("{field}: {} {}: {m}", r_kind(&gvk.kind), "")))?;
    }
    Ok(())
}

fn r_kind(k: &str) -> &str {
    k
}

fn replicas(
    ra: &mut [Resource],
    name: &str,
    count: &Value,
    configured: &[Spec],
) -> Result<(), String> {
    replicas_at(ra, name, count, &builtin_replica_specs(configured))
}

fn builtin_replica_specs(configured: &[Spec]) -> Vec<Spec> {
    with(
        vec![
            Spec::new("", "", "Deployment", "spec/replicas", true),
            Spec::new("", "", "ReplicationController", "spec/replicas", true),
            Spec::new("", "", "ReplicaSet", "spec/replicas", true),
            Spec::new("", "", "StatefulSet", "spec/replicas", true),
        ],
        configured,
    )
}

/// Sets `count` at `specs` in the resources named `name` (now or before). As in kustomize,
/// a name that no resource of the specs' kinds has is an error naming those kinds.
pub(crate) fn replicas_at(
    ra: &mut [Resource],
    name: &str,
    count: &Value,
    specs: &[Spec],
) -> Result<(), String> {
    let mut found = false;
    for r in ra.iter_mut() {
        if !r.any_name_is(name) {
            continue;
        }
        let gvk = r.gvk();
        found |= specs.iter().any(|s| s.selects(&gvk));
        let _ = apply_specs(&mut r.value, &gvk, specs, &mut |v, _| {
            *v = count.clone();
            Ok(())
        });
    }
    if found {
        return Ok(());
    }
    let gvks: Vec<String> = specs
        .iter()
        .map(|s| {
            let or = |v: &str, none: &str| {
                if v.is_empty() {
                    none.to_owned()
                } else {
                    v.to_owned()
                }
            };
            format!(
                "{}.{}.{}",
                s.kind,
                or(&s.version, "[noVer]"),
                or(&s.group, "[noGrp]")
            )
        })
        .collect();
    Err(format!(
        "resource with name {name} does not match a config with the following GVK [{}]",
        gvks.join(" ")
    ))
}

/// Splits an image reference into name, tag and digest as kustomize does.
pub(crate) fn split_image(image: &str) -> (String, String, String) {
    let slash = image.find('/').filter(|&i| i > 0).unwrap_or(0);
    let search = &image[slash..];
    let at = search.find('@');
    let colon = search.find(':');
    match (colon, at) {
        (None, None) => (image.to_owned(), String::new(), String::new()),
        (c, Some(a)) if c.is_none_or(|c| a < c) => {
            let a = a + slash;
            (
                image[..a].to_owned(),
                String::new(),
                image[a + 1..].to_owned(),
            )
        }
        (Some(c), Some(a)) => {
            let (c, a) = (c + slash, a + slash);
            (
                image[..c].to_owned(),
                image[c + 1..a].to_owned(),
                image[a + 1..].to_owned(),
            )
        }
        (Some(c), None) => {
            let c = c + slash;
            (
                image[..c].to_owned(),
                image[c + 1..].to_owned(),
                String::new(),
            )
        }
        (None, Some(_)) => unreachable!("covered by the digest-only arm"),
    }
}

fn update_image(value: &mut Value, image: &crate::kustomization::Image) {
    let Some(s) = value.as_str() else { return };
    let (mut name, mut tag, mut digest) = split_image(s);
    if name != image.name {
        return;
    }
    if !image.new_name.is_empty() {
        name = image.new_name.clone();
    }
    if !image.new_tag.is_empty() && !image.digest.is_empty() {
        tag = image.new_tag.clone();
        digest = image.digest.clone();
    } else if !image.new_tag.is_empty() {
        tag = image.new_tag.clone();
        digest.clear();
    } else if !image.digest.is_empty() {
        digest = image.digest.clone();
        tag.clear();
    } else if !image.tag_suffix.is_empty() {
        tag.push_str(&image.tag_suffix);
        digest.clear();
    }
    let mut out = name;
    if !tag.is_empty() {
        out.push(':');
        out.push_str(&tag);
    }
    if !digest.is_empty() {
        out.push('@');
        out.push_str(&digest);
    }
    *value = Value::String(out);
}

/// Every `image` of every `containers`/`initContainers` list anywhere in the resource.
fn images(ra: &mut [Resource], image: &crate::kustomization::Image, configured: &[Spec]) {
    images_with(ra, image, configured, true);
}

/// The image update: kustomize's walk of every `containers`/`initContainers` list, then its
/// field specs (the built-in ones when `builtin_specs`, and `configured`).
pub(crate) fn images_with(
    ra: &mut [Resource],
    image: &crate::kustomization::Image,
    configured: &[Spec],
    builtin_specs: bool,
) {
    fn walk(v: &mut Value, image: &crate::kustomization::Image) {
        match v {
            Value::Object(m) => {
                for (k, child) in m.iter_mut() {
                    if (k == "containers" || k == "initContainers")
                        && let Value::Array(items) = child
                    {
                        for item in items.iter_mut() {
                            if let Some(img) = item.get_mut("image") {
                                update_image(img, image);
                            }
                        }
                    }
                    walk(child, image);
                }
            }
            Value::Array(items) => {
                for item in items {
                    walk(item, image);
                }
            }
            _ => {}
        }
    }
    for r in ra.iter_mut() {
        walk(&mut r.value, image);
    }
    // kustomize then runs the same update again over its images field specs (its four
    // built-in ones, whatever the kind, and the configured ones). Every other change is
    // idempotent, but a tag suffix lands twice on the built-in paths (`nginx:1` becomes
    // `nginx:1-s-s`), and kubectl's output shows it.
    let builtin = if image.tag_suffix.is_empty() || !builtin_specs {
        Vec::new()
    } else {
        vec![
            Spec::new("", "", "", "spec/containers[]/image", false),
            Spec::new("", "", "", "spec/initContainers[]/image", false),
            Spec::new("", "", "", "spec/template/spec/containers[]/image", false),
            Spec::new(
                "",
                "",
                "",
                "spec/template/spec/initContainers[]/image",
                false,
            ),
        ]
    };
    let specs = with(builtin, configured);
    if specs.is_empty() {
        return;
    }
    for r in ra.iter_mut() {
        let gvk = r.gvk();
        let _ = apply_specs(&mut r.value, &gvk, &specs, &mut |v, _| {
            update_image(v, image);
            Ok(())
        });
    }
}

impl Spec {
    pub(crate) fn from_field_spec(f: &FieldSpec) -> Self {
        Spec::new(&f.group, &f.version, &f.kind, &f.path, f.create)
    }
}
