//! Field specs: which fields of which kinds a transformer touches, and the walk to reach them.

use serde_json::{Map, Value};

use crate::resource::Gvk;

/// A field spec: a gvk selector (empty parts match anything), a `/`-separated path (lists are
/// crossed implicitly; `[]` marks them explicitly) and whether missing fields are created.
#[derive(Clone, Debug)]
pub(crate) struct Spec {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub path: Vec<String>,
    pub create: bool,
}

impl Spec {
    pub fn new(group: &str, version: &str, kind: &str, path: &str, create: bool) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            path: split_path(path),
            create,
        }
    }

    pub fn selects(&self, gvk: &Gvk) -> bool {
        gvk.selected_by(&self.group, &self.version, &self.kind)
    }
}

/// The path's segments; a segment marked `[]` (a list) keeps its mark for [`walk`].
fn split_path(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Applies `f` to the field at every selected spec's path. `f` receives the value (`Null` when
/// just created) and whether it was created.
pub(crate) fn apply_specs(
    value: &mut Value,
    gvk: &Gvk,
    specs: &[Spec],
    f: &mut dyn FnMut(&mut Value, bool) -> Result<(), String>,
) -> Result<(), String> {
    for spec in specs {
        if spec.selects(gvk) {
            walk(value, &spec.path, spec.create, f)?;
        }
    }
    Ok(())
}

pub(crate) fn walk(
    node: &mut Value,
    path: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value, bool) -> Result<(), String>,
) -> Result<(), String> {
    if path.is_empty() {
        return f(node, false);
    }
    match node {
        Value::Array(items) => {
            for item in items {
                walk(item, path, create, f)?;
            }
            Ok(())
        }
        Value::Object(map) => {
            // A segment marked as a list is never created: kustomize adds labels to the
            // `volumeClaimTemplates[]` a StatefulSet has, and none to one that has none.
            let (key, is_list) = match path[0].strip_suffix("[]") {
                Some(k) => (k, true),
                None => (path[0].as_str(), false),
            };
            let last = path.len() == 1;
            match map.get_mut(key) {
                // kustomize makes a null list field an empty list, created or not.
                Some(child) if is_list && child.is_null() => {
                    *child = Value::Array(Vec::new());
                    if last { f(child, false) } else { Ok(()) }
                }
                Some(child) if !child.is_null() || last => {
                    if last {
                        f(child, false)
                    } else {
                        walk(child, &path[1..], create, f)
                    }
                }
                _ if create && !is_list => {
                    if last {
                        let slot = map.entry(key.to_owned()).or_insert(Value::Null);
                        f(slot, true)
                    } else {
                        let slot = map.entry(key.to_owned()).or_insert(Value::Null);
                        *slot = Value::Object(Map::new());
                        walk(slot, &path[1..], create, f)
                    }
                }
                _ => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

fn metadata_labels() -> Vec<Spec> {
    vec![
        Spec::new("", "", "", "metadata/labels", true),
        Spec::new(
            "",
            "v1",
            "ReplicationController",
            "spec/template/metadata/labels",
            true,
        ),
        Spec::new("", "", "Deployment", "spec/template/metadata/labels", true),
        Spec::new("", "", "ReplicaSet", "spec/template/metadata/labels", true),
        Spec::new("", "", "DaemonSet", "spec/template/metadata/labels", true),
        Spec::new(
            "apps",
            "",
            "StatefulSet",
            "spec/template/metadata/labels",
            true,
        ),
        Spec::new(
            "apps",
            "",
            "StatefulSet",
            "spec/volumeClaimTemplates[]/metadata/labels",
            true,
        ),
        Spec::new("batch", "", "Job", "spec/template/metadata/labels", true),
        Spec::new(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/metadata/labels",
            true,
        ),
        Spec::new(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/template/metadata/labels",
            true,
        ),
    ]
}

/// Labels on metadata and pod templates (`labels` with `includeTemplates`).
pub(crate) fn template_labels() -> Vec<Spec> {
    metadata_labels()
}

/// Labels on metadata, pod templates and selectors (`commonLabels`).
pub(crate) fn common_labels() -> Vec<Spec> {
    let mut v = vec![
        Spec::new("", "v1", "Service", "spec/selector", true),
        Spec::new("", "v1", "ReplicationController", "spec/selector", true),
        Spec::new("", "", "Deployment", "spec/selector/matchLabels", true),
    ];
    let affinity = [
        "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
        "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
        "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
    ];
    for p in affinity {
        v.push(Spec::new("apps", "", "Deployment", p, false));
    }
    v.push(Spec::new(
        "",
        "",
        "ReplicaSet",
        "spec/selector/matchLabels",
        true,
    ));
    v.push(Spec::new(
        "",
        "",
        "DaemonSet",
        "spec/selector/matchLabels",
        true,
    ));
    v.push(Spec::new(
        "apps",
        "",
        "StatefulSet",
        "spec/selector/matchLabels",
        true,
    ));
    for p in affinity {
        v.push(Spec::new("apps", "", "StatefulSet", p, false));
    }
    v.push(Spec::new(
        "batch",
        "",
        "Job",
        "spec/selector/matchLabels",
        false,
    ));
    v.push(Spec::new(
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/selector/matchLabels",
        false,
    ));
    v.push(Spec::new(
        "policy",
        "",
        "PodDisruptionBudget",
        "spec/selector/matchLabels",
        false,
    ));
    v.push(Spec::new(
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/podSelector/matchLabels",
        false,
    ));
    v.push(Spec::new(
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/ingress/from/podSelector/matchLabels",
        false,
    ));
    v.push(Spec::new(
        "networking.k8s.io",
        "",
        "NetworkPolicy",
        "spec/egress/to/podSelector/matchLabels",
        false,
    ));
    v.extend(metadata_labels());
    v
}

/// Annotations on metadata and pod templates (`commonAnnotations`).
pub(crate) fn common_annotations() -> Vec<Spec> {
    vec![
        Spec::new("", "", "", "metadata/annotations", true),
        Spec::new(
            "",
            "v1",
            "ReplicationController",
            "spec/template/metadata/annotations",
            true,
        ),
        Spec::new(
            "",
            "",
            "Deployment",
            "spec/template/metadata/annotations",
            true,
        ),
        Spec::new(
            "",
            "",
            "ReplicaSet",
            "spec/template/metadata/annotations",
            true,
        ),
        Spec::new(
            "",
            "",
            "DaemonSet",
            "spec/template/metadata/annotations",
            true,
        ),
        Spec::new(
            "",
            "",
            "StatefulSet",
            "spec/template/metadata/annotations",
            true,
        ),
        Spec::new(
            "batch",
            "",
            "Job",
            "spec/template/metadata/annotations",
            true,
        ),
        Spec::new(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/metadata/annotations",
            true,
        ),
        Spec::new(
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/template/metadata/annotations",
            true,
        ),
    ]
}
