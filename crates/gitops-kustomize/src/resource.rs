//! A resource during a build: its JSON value plus the build's bookkeeping (previous ids,
//! prefixes and suffixes, generator state), which kustomize keeps in annotations it strips
//! before printing.

use serde_json::{Map, Value};

/// Group, version and kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

impl Gvk {
    pub fn from_api_version(api_version: &str, kind: &str) -> Self {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), api_version.to_owned()),
        };
        Self {
            group,
            version,
            kind: kind.to_owned(),
        }
    }

    /// `group_version_kind` with `~G`/`~V`/`~K` for empty parts, as kustomize prints ids.
    pub fn sort_string(&self) -> String {
        format!(
            "{}_{}_{}",
            if self.group.is_empty() {
                "~G"
            } else {
                &self.group
            },
            if self.version.is_empty() {
                "~V"
            } else {
                &self.version
            },
            if self.kind.is_empty() {
                "~K"
            } else {
                &self.kind
            }
        )
    }

    /// Whether a selector (empty parts match anything) selects this.
    pub fn selected_by(&self, group: &str, version: &str, kind: &str) -> bool {
        (group.is_empty() || group == self.group)
            && (version.is_empty() || version == self.version)
            && (kind.is_empty() || kind == self.kind)
    }

    pub fn is_cluster_scoped(&self) -> bool {
        is_cluster_scoped_kind(&self.group, &self.version, &self.kind)
    }

    /// Whether the kind is one of Kubernetes' own (known to the built-in schema).
    pub fn is_builtin(&self) -> bool {
        BUILTIN_GROUPS.contains(&self.group.as_str())
    }
}

const BUILTIN_GROUPS: &[&str] = &[
    "",
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "extensions",
    "node.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "resource.k8s.io",
];

/// kustomize's scope table: the kinds its built-in schema (Kubernetes 1.21) knows as
/// cluster-scoped, by group, **version** and kind. Anything else is namespaced to kustomize,
/// so `flowcontrol.apiserver.k8s.io/v1` `FlowSchema` or a `ValidatingAdmissionPolicy` (newer
/// than that schema) get a namespace and namespaced name references, as in kubectl's output.
/// This is kustomize's view, not the cluster's: gitops-core's `is_cluster_scoped_kind` answers
/// for the API server.
fn is_cluster_scoped_kind(group: &str, version: &str, kind: &str) -> bool {
    let v1_or_beta = matches!(version, "v1" | "v1beta1");
    match group {
        "" => {
            version == "v1"
                && matches!(
                    kind,
                    "Namespace" | "Node" | "PersistentVolume" | "ComponentStatus"
                )
        }
        "admissionregistration.k8s.io" => {
            v1_or_beta
                && matches!(
                    kind,
                    "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration"
                )
        }
        "apiextensions.k8s.io" => v1_or_beta && kind == "CustomResourceDefinition",
        "apiregistration.k8s.io" => v1_or_beta && kind == "APIService",
        "certificates.k8s.io" => v1_or_beta && kind == "CertificateSigningRequest",
        "flowcontrol.apiserver.k8s.io" => {
            version == "v1beta1" && matches!(kind, "FlowSchema" | "PriorityLevelConfiguration")
        }
        "networking.k8s.io" => v1_or_beta && kind == "IngressClass",
        "node.k8s.io" => v1_or_beta && kind == "RuntimeClass",
        "policy" => version == "v1beta1" && kind == "PodSecurityPolicy",
        "rbac.authorization.k8s.io" => {
            v1_or_beta && matches!(kind, "ClusterRole" | "ClusterRoleBinding")
        }
        "scheduling.k8s.io" => v1_or_beta && kind == "PriorityClass",
        "storage.k8s.io" => {
            v1_or_beta
                && matches!(
                    kind,
                    "CSIDriver" | "CSINode" | "StorageClass" | "VolumeAttachment"
                )
        }
        _ => false,
    }
}

/// An id as kustomize compares them: gvk, namespace ("" and "default" are equal) and name.
#[derive(Clone, Debug, Default)]
pub(crate) struct ResId {
    pub gvk: Gvk,
    pub namespace: String,
    pub name: String,
}

impl ResId {
    pub fn effective_namespace(&self) -> &str {
        if self.gvk.is_cluster_scoped() {
            ""
        } else if self.namespace.is_empty() {
            "default"
        } else {
            &self.namespace
        }
    }

    /// A key equal for ids kustomize considers the same.
    pub fn key(&self) -> (String, String, String, String, String) {
        (
            self.gvk.group.clone(),
            self.gvk.version.clone(),
            self.gvk.kind.clone(),
            self.effective_namespace().to_owned(),
            self.name.clone(),
        )
    }

    pub fn ns_equals(&self, other: &ResId) -> bool {
        self.effective_namespace() == other.effective_namespace()
    }

    pub fn same(&self, other: &ResId) -> bool {
        self.gvk == other.gvk && self.name == other.name && self.ns_equals(other)
    }

    /// kustomize's `ResId.String()`: `Kind.version.group/name.namespace`.
    pub fn display(&self) -> String {
        let mut s = self.gvk.kind.clone();
        if !self.gvk.version.is_empty() {
            s.push('.');
            s.push_str(&self.gvk.version);
        }
        if !self.gvk.group.is_empty() {
            s.push('.');
            s.push_str(&self.gvk.group);
        }
        s.push('/');
        s.push_str(&self.name);
        s.push('.');
        s.push_str(if self.namespace.is_empty() {
            "[noNs]"
        } else {
            &self.namespace
        });
        s
    }
}

/// How a generated resource joins resources of the same id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Behavior {
    Create,
    Merge,
    Replace,
}

/// One resource in a build.
#[derive(Clone, Debug)]
pub(crate) struct Resource {
    pub value: Value,
    /// Earlier (kind, namespace, name) of the resource, oldest first.
    pub prev: Vec<(String, String, String)>,
    pub prefixes: Vec<String>,
    pub suffixes: Vec<String>,
    /// Generated and due a content-hash suffix at the end of the build.
    pub needs_hash: bool,
    /// kustomize keeps its own annotations on the object (generated, renamed or given a
    /// namespace), so `metadata.annotations` exists when `patchesJson6902` runs.
    pub bookkeeping: bool,
    /// Where the resource came from, for `buildMetadata: [originAnnotations]`.
    pub origin: Option<String>,
    /// The transformers that ran over it, for `buildMetadata: [transformerAnnotations]`
    /// (each an origin in YAML).
    pub transformations: Vec<String>,
    /// The `vars` whose `objref` named this resource in the kustomization declaring them.
    pub ref_vars: Vec<String>,
    /// Paths of the fields written without a value (`key:`) in the resource's file, which a
    /// strategic merge patch removes ([`crate::yaml::EmptyNulls`]).
    pub empty_nulls: Vec<Vec<String>>,
}

impl Resource {
    pub fn new(value: Value) -> Self {
        Self {
            value,
            prev: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            needs_hash: false,
            bookkeeping: false,
            origin: None,
            transformations: Vec::new(),
            ref_vars: Vec::new(),
            empty_nulls: Vec::new(),
        }
    }

    pub fn map(&self) -> &Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        self.value
            .as_object()
            .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
    }

    fn str_at(&self, a: &str, b: Option<&str>) -> &str {
        let v = self.map().get(a);
        let v = match b {
            Some(b) => v.and_then(|m| m.get(b)),
            None => v,
        };
        v.and_then(Value::as_str).unwrap_or("")
    }

    pub fn api_version(&self) -> &str {
        self.str_at("apiVersion", None)
    }

    pub fn kind(&self) -> &str {
        self.str_at("kind", None)
    }

    pub fn name(&self) -> &str {
        self.str_at("metadata", Some("name"))
    }

    pub fn namespace(&self) -> &str {
        self.str_at("metadata", Some("namespace"))
    }

    pub fn gvk(&self) -> Gvk {
        Gvk::from_api_version(self.api_version(), self.kind())
    }

    pub fn cur_id(&self) -> ResId {
        ResId {
            gvk: self.gvk(),
            namespace: self.namespace().to_owned(),
            name: self.name().to_owned(),
        }
    }

    /// The previous ids (same group and version, earlier kinds, namespaces and names).
    pub fn prev_ids(&self) -> Vec<ResId> {
        let gvk = self.gvk();
        self.prev
            .iter()
            .map(|(k, ns, n)| ResId {
                gvk: Gvk {
                    kind: k.clone(),
                    ..gvk.clone()
                },
                namespace: ns.clone(),
                name: n.clone(),
            })
            .collect()
    }

    /// The id the resource had when it was read.
    pub fn org_id(&self) -> ResId {
        self.prev_ids()
            .into_iter()
            .next()
            .unwrap_or_else(|| self.cur_id())
    }

    /// Records the current id before a change of name, namespace or kind.
    pub fn store_previous_id(&mut self) {
        let id = self.cur_id();
        let ns = id.effective_namespace().to_owned();
        self.prev.push((id.gvk.kind, ns, id.name));
    }

    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        let map = self
            .value
            .as_object_mut()
            .expect("resources are mappings because they are checked when read");
        let md = map
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if !md.is_object() {
            *md = Value::Object(Map::new());
        }
        md.as_object_mut()
            .expect("metadata was just made a mapping")
    }

    pub fn set_name(&mut self, name: &str) {
        self.metadata_mut()
            .insert("name".into(), Value::String(name.into()));
    }

    pub fn set_namespace(&mut self, ns: &str) {
        self.metadata_mut()
            .insert("namespace".into(), Value::String(ns.into()));
    }

    pub fn labels(&self) -> Option<&Map<String, Value>> {
        self.map().get("metadata")?.get("labels")?.as_object()
    }

    pub fn annotations(&self) -> Option<&Map<String, Value>> {
        self.map().get("metadata")?.get("annotations")?.as_object()
    }

    /// Whether any id (current or previous) has this name.
    pub fn any_name_is(&self, name: &str) -> bool {
        self.name() == name || self.prev.iter().any(|(_, _, n)| n == name)
    }
}
