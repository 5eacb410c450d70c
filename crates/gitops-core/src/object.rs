//! Kubernetes objects, their identity, and multi-document YAML.
//!
//! An [`Object`] is a JSON value (the API server's own wire model) whose identity, an
//! [`ObjectRef`], is read once when the object is built. YAML is only a serialisation: use
//! [`parse_yaml`] and [`to_yaml`] at the edges.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::hash::{Hash, Hasher};

use serde::Deserialize;
use serde_json::{Map, Value};

/// The annotation that keeps an object alive when it leaves the render.
pub const PRUNE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/prune";
/// The value of [`PRUNE_ANNOTATION`] that disables pruning.
pub const PRUNE_DISABLED: &str = "disabled";

/// Errors from reading or validating objects.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The text is not valid YAML.
    #[error("{path}:{line}:{column}: invalid YAML")]
    Yaml {
        /// The file the text came from.
        path: String,
        /// 1-based line of the error, 0 when unknown.
        line: usize,
        /// 1-based column of the error, 0 when unknown.
        column: usize,
        /// The parser's error.
        #[source]
        source: serde_yaml_ng::Error,
    },
    /// A document parsed but is not a Kubernetes object.
    #[error("{path}: document {document}: not a Kubernetes object: {reason}")]
    NotAnObject {
        /// The file the document came from.
        path: String,
        /// 1-based index of the document in the file.
        document: usize,
        /// What is missing or wrong.
        reason: String,
    },
    /// A value is not a Kubernetes object (when building an [`Object`] from a value).
    #[error("not a Kubernetes object: {reason}")]
    InvalidObject {
        /// What is missing or wrong.
        reason: String,
    },
    /// Two objects of one set share an identity.
    #[error("duplicate object {id} in one render")]
    Duplicate {
        /// The identity that occurs twice.
        id: ObjectRef,
    },
    /// Objects could not be written as YAML.
    #[error("cannot serialise {id} as YAML")]
    Serialise {
        /// The object that failed.
        id: ObjectRef,
        /// The serialiser's error.
        #[source]
        source: serde_yaml_ng::Error,
    },
}

/// The identity of a Kubernetes object: group, version, kind, namespace and name.
///
/// Equality, ordering and hashing ignore the version: one object is served under several
/// versions of its API group, and an object that moves from `v1beta1` to `v1` is the same object.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct ObjectRef {
    /// API group, empty for the core group.
    pub group: String,
    /// API version within the group (`v1`, `v1beta2`).
    pub version: String,
    /// Kind (`Deployment`).
    pub kind: String,
    /// Namespace, `None` for cluster-scoped objects (or namespaced objects not yet defaulted).
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
}

impl ObjectRef {
    /// Builds an identity; an empty namespace is the same as none.
    pub fn new(
        group: impl Into<String>,
        version: impl Into<String>,
        kind: impl Into<String>,
        namespace: Option<&str>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespace: namespace.filter(|ns| !ns.is_empty()).map(str::to_owned),
            name: name.into(),
        }
    }

    /// An identity from an `apiVersion` as written (`v1`, `apps/v1`) and the other fields.
    pub fn from_api_version(
        api_version: &str,
        kind: impl Into<String>,
        namespace: Option<&str>,
        name: impl Into<String>,
    ) -> Self {
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        Self::new(group, version, kind, namespace, name)
    }

    /// The `apiVersion` field: `v1` for the core group, `group/version` otherwise.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Flux's inventory id: `<namespace>_<name>_<group>_<kind>` (empty parts stay empty).
    ///
    /// RBAC names may contain `:` (`system:controller:x`), which Flux writes as `__`; this does
    /// the same, so Flux and gitops-rs read each other's inventories.
    pub fn inventory_id(&self) -> String {
        let name = if is_rbac_kind(&self.group, &self.kind) {
            self.name.replace(':', INVENTORY_COLON)
        } else {
            self.name.clone()
        };
        format!(
            "{}_{}_{}_{}",
            self.namespace.as_deref().unwrap_or(""),
            name,
            self.group,
            self.kind
        )
    }

    /// Parses Flux's inventory id back, with the version kept beside it in the inventory.
    ///
    /// Namespaces, groups and kinds never contain `_`, names may (RBAC names do), so the
    /// namespace is what comes before the first `_`, the kind and group what come after the
    /// last two, and the name all that is left. An RBAC name's `__` is read back as `:`, as
    /// Flux does: an RBAC name that itself holds `__`, `_:` or `:_` cannot be told apart in
    /// Flux's format, and comes back with `:` in its place.
    pub fn from_inventory_id(id: &str, version: &str) -> Option<Self> {
        let (namespace, rest) = id.split_once('_')?;
        let (rest, kind) = rest.rsplit_once('_')?;
        let (name, group) = rest.rsplit_once('_')?;
        if name.is_empty() || kind.is_empty() {
            return None;
        }
        let name = if is_rbac_kind(group, kind) {
            name.replace(INVENTORY_COLON, ":")
        } else {
            name.to_owned()
        };
        Some(Self::new(group, version, kind, Some(namespace), name))
    }

    /// Whether this is a definition other objects depend on (CRDs, namespaces), applied first.
    pub fn is_definition(&self) -> bool {
        matches!(
            (self.group.as_str(), self.kind.as_str()),
            ("apiextensions.k8s.io", "CustomResourceDefinition") | ("", "Namespace")
        )
    }

    /// Whether the kind is one of Kubernetes' built-in cluster-scoped kinds.
    ///
    /// Backends without discovery (renderers, file appliers) use this to decide where a
    /// namespace belongs; custom resources are taken as namespaced unless a backend knows better.
    pub fn is_cluster_scoped(&self) -> bool {
        is_cluster_scoped_kind(&self.group, &self.kind)
    }

    fn identity(&self) -> (&str, &str, Option<&str>, &str) {
        (
            &self.group,
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
        )
    }
}

impl PartialEq for ObjectRef {
    fn eq(&self, other: &Self) -> bool {
        self.identity() == other.identity()
    }
}

impl Eq for ObjectRef {}

impl Hash for ObjectRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.identity().hash(state);
    }
}

impl PartialOrd for ObjectRef {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ObjectRef {
    fn cmp(&self, other: &Self) -> Ordering {
        self.identity().cmp(&other.identity())
    }
}

/// `Kind/namespace/name` (or `Kind/name`), with the group when there is one, as Flux prints it.
impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.kind)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        f.write_str("/")?;
        if let Some(ns) = &self.namespace {
            write!(f, "{ns}/")?;
        }
        f.write_str(&self.name)
    }
}

/// How Flux's inventory ids write the `:` of RBAC names.
const INVENTORY_COLON: &str = "__";

/// The RBAC kinds, whose names may hold `:` and `_`.
fn is_rbac_kind(group: &str, kind: &str) -> bool {
    group == "rbac.authorization.k8s.io"
        && matches!(
            kind,
            "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
        )
}

/// Whether `group`/`kind` is one of Kubernetes' built-in cluster-scoped kinds.
pub fn is_cluster_scoped_kind(group: &str, kind: &str) -> bool {
    matches!(
        (group, kind),
        (
            "",
            "Namespace" | "Node" | "PersistentVolume" | "ComponentStatus"
        ) | ("apiextensions.k8s.io", "CustomResourceDefinition")
            | ("apiregistration.k8s.io", "APIService")
            | (
                "rbac.authorization.k8s.io",
                "ClusterRole" | "ClusterRoleBinding"
            )
            | (
                "storage.k8s.io",
                "StorageClass"
                    | "CSIDriver"
                    | "CSINode"
                    | "VolumeAttachment"
                    | "VolumeAttributesClass"
            )
            | ("scheduling.k8s.io", "PriorityClass")
            | ("node.k8s.io", "RuntimeClass")
            | (
                "networking.k8s.io",
                "IngressClass" | "IPAddress" | "ServiceCIDR"
            )
            | (
                "admissionregistration.k8s.io",
                "MutatingWebhookConfiguration"
                    | "ValidatingWebhookConfiguration"
                    | "ValidatingAdmissionPolicy"
                    | "ValidatingAdmissionPolicyBinding"
                    | "MutatingAdmissionPolicy"
                    | "MutatingAdmissionPolicyBinding"
            )
            | (
                "certificates.k8s.io",
                "CertificateSigningRequest" | "ClusterTrustBundle"
            )
            | (
                "resource.k8s.io",
                "DeviceClass" | "DeviceTaintRule" | "ResourceSlice"
            )
            | ("authentication.k8s.io", "TokenReview" | "SelfSubjectReview")
            | (
                "authorization.k8s.io",
                "SubjectAccessReview" | "SelfSubjectAccessReview" | "SelfSubjectRulesReview"
            )
            | ("internal.apiserver.k8s.io", "StorageVersion")
            | ("storagemigration.k8s.io", "StorageVersionMigration")
            | (
                "flowcontrol.apiserver.k8s.io",
                "FlowSchema" | "PriorityLevelConfiguration"
            )
    )
}

/// A Kubernetes object: its JSON value and its identity.
#[derive(Clone, PartialEq)]
pub struct Object {
    id: ObjectRef,
    value: Value,
}

impl Object {
    /// Builds an object from a value with `apiVersion`, `kind` and `metadata.name`.
    pub fn new(value: Value) -> Result<Self, Error> {
        let id = identity_of(&value).map_err(|reason| Error::InvalidObject { reason })?;
        Ok(Self { id, value })
    }

    /// The identity.
    pub fn id(&self) -> &ObjectRef {
        &self.id
    }

    /// The whole object.
    pub fn value(&self) -> &Value {
        &self.value
    }

    /// The whole object, consumed.
    pub fn into_value(self) -> Value {
        self.value
    }

    /// Changes the object through a closure, then reads its identity again.
    pub fn edit<F>(&mut self, change: F) -> Result<(), Error>
    where
        F: FnOnce(&mut Map<String, Value>),
    {
        let mut value = std::mem::take(&mut self.value);
        if let Value::Object(map) = &mut value {
            change(map);
        }
        let id = identity_of(&value).map_err(|reason| Error::InvalidObject { reason });
        self.value = value;
        self.id = id?;
        Ok(())
    }

    /// Sets `metadata.namespace`.
    pub fn set_namespace(&mut self, namespace: &str) {
        if let Some(metadata) = self
            .value
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
        {
            metadata.insert("namespace".into(), Value::String(namespace.into()));
            self.id.namespace = Some(namespace.to_owned()).filter(|ns| !ns.is_empty());
        }
    }

    /// Removes `metadata.namespace` (a cluster-scoped kind carries none).
    pub fn clear_namespace(&mut self) {
        if let Some(metadata) = self
            .value
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
        {
            metadata.remove("namespace");
        }
        self.id.namespace = None;
    }

    /// `metadata.annotations` as strings (non-string values are skipped).
    pub fn annotations(&self) -> BTreeMap<&str, &str> {
        string_map(self.value.pointer("/metadata/annotations"))
    }

    /// `metadata.labels` as strings (non-string values are skipped).
    pub fn labels(&self) -> BTreeMap<&str, &str> {
        string_map(self.value.pointer("/metadata/labels"))
    }

    /// Whether the object opts out of pruning with `kustomize.toolkit.fluxcd.io/prune: disabled`.
    pub fn prune_disabled(&self) -> bool {
        self.annotations().get(PRUNE_ANNOTATION) == Some(&PRUNE_DISABLED)
    }

    /// Whether the object is a core `Secret`.
    pub fn is_secret(&self) -> bool {
        self.id.group.is_empty() && self.id.kind == "Secret"
    }

    /// The object as one YAML document (without a `---` line).
    pub fn to_yaml(&self) -> Result<String, Error> {
        serde_yaml_ng::to_string(&self.value).map_err(|source| Error::Serialise {
            id: self.id.clone(),
            source,
        })
    }
}

/// Debug prints the identity only: an object may be a Secret.
impl fmt::Debug for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Object")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn string_map(value: Option<&Value>) -> BTreeMap<&str, &str> {
    value
        .and_then(Value::as_object)
        .map(|map| {
            map.iter()
                .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
                .collect()
        })
        .unwrap_or_default()
}

fn identity_of(value: &Value) -> Result<ObjectRef, String> {
    let map = value.as_object().ok_or("not a mapping")?;
    let api_version = map
        .get("apiVersion")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("missing apiVersion")?;
    let kind = map
        .get("kind")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("missing kind")?;
    let metadata = map.get("metadata").and_then(Value::as_object);
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("missing metadata.name")?;
    let namespace = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str);
    Ok(ObjectRef::from_api_version(
        api_version,
        kind,
        namespace,
        name,
    ))
}

/// Parses a multi-document YAML text into objects, in document order.
///
/// Empty documents are skipped. `path` only names the text in errors. Alias expansion is bounded
/// by the parser, so a YAML alias bomb is an error, not an out-of-memory.
pub fn parse_yaml(path: &str, text: &str) -> Result<Vec<Object>, Error> {
    let mut objects = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document).map_err(|source| {
            let (line, column) = source
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            Error::Yaml {
                path: path.to_owned(),
                line,
                column,
                source,
            }
        })?;
        if value.is_null() {
            continue;
        }
        let object = Object::new(value).map_err(|err| Error::NotAnObject {
            path: path.to_owned(),
            document: index + 1,
            reason: match err {
                Error::InvalidObject { reason } => reason,
                other => other.to_string(),
            },
        })?;
        objects.push(object);
    }
    Ok(objects)
}

/// Writes objects as one multi-document YAML text, `---` between documents.
pub fn to_yaml(objects: &[Object]) -> Result<String, Error> {
    let mut out = String::new();
    for (i, object) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&object.to_yaml()?);
    }
    Ok(out)
}

/// Fails on the first identity that occurs twice.
pub fn ensure_unique(objects: &[Object]) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::with_capacity(objects.len());
    for object in objects {
        if !seen.insert(object.id()) {
            return Err(Error::Duplicate {
                id: object.id().clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: web\n---\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: web\n";

    #[test]
    fn parses_documents_in_order_and_skips_empty_ones() {
        let objects = parse_yaml("two.yaml", TWO).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(
            objects[0].id(),
            &ObjectRef::new("apps", "v1", "Deployment", Some("web"), "api")
        );
        assert_eq!(objects[0].id().to_string(), "Deployment.apps/web/api");
        assert_eq!(objects[1].id().to_string(), "Namespace/web");
        assert!(objects[1].id().is_definition());
    }

    #[test]
    fn round_trips_through_yaml() {
        let objects = parse_yaml("two.yaml", TWO).unwrap();
        let text = to_yaml(&objects).unwrap();
        assert_eq!(parse_yaml("again.yaml", &text).unwrap(), objects);
        assert!(text.contains("\n---\n"));
    }

    #[test]
    fn malformed_yaml_names_file_and_line() {
        let err = parse_yaml(
            "bad.yaml",
            "apiVersion: v1\nkind: [ConfigMap\nmetadata: {}\n",
        )
        .unwrap_err();
        let Error::Yaml { path, line, .. } = &err else {
            panic!("unexpected {err:?}")
        };
        assert_eq!(path, "bad.yaml");
        assert!(*line >= 2, "line {line}");
        assert!(err.to_string().starts_with("bad.yaml:"));
    }

    #[test]
    fn documents_that_are_not_objects_are_named() {
        let err = parse_yaml("x.yaml", "apiVersion: v1\nkind: ConfigMap\n---\n- a\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "x.yaml: document 1: not a Kubernetes object: missing metadata.name"
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(matches!(
            parse_yaml("bomb.yaml", &text),
            Err(Error::Yaml { .. })
        ));
    }

    #[test]
    fn identity_ignores_version_and_inventory_ids_round_trip() {
        let a = ObjectRef::new(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            Some("web"),
            "api",
        );
        let b = ObjectRef::new(
            "autoscaling",
            "v1",
            "HorizontalPodAutoscaler",
            Some("web"),
            "api",
        );
        assert_eq!(a, b);
        assert_eq!(
            a.inventory_id(),
            "web_api_autoscaling_HorizontalPodAutoscaler"
        );
        let back = ObjectRef::from_inventory_id(&a.inventory_id(), "v2").unwrap();
        assert_eq!(back, a);
        assert_eq!(back.api_version(), "autoscaling/v2");
        let parsed = ObjectRef::from_api_version(
            "autoscaling/v2",
            "HorizontalPodAutoscaler",
            Some("web"),
            "api",
        );
        assert_eq!(
            (parsed.group.as_str(), parsed.version.as_str()),
            ("autoscaling", "v2")
        );
        let core = ObjectRef::from_api_version("v1", "ConfigMap", None, "settings");
        assert_eq!(
            (core.group.as_str(), core.api_version()),
            ("", "v1".to_string())
        );
        let ns = ObjectRef::new("", "v1", "Namespace", None, "web");
        assert_eq!(ns.inventory_id(), "_web__Namespace");
        assert_eq!(
            ObjectRef::from_inventory_id("_web__Namespace", "v1").unwrap(),
            ns
        );
        assert!(ObjectRef::from_inventory_id("nonsense", "v1").is_none());
    }

    /// Underscores are valid in RBAC names, and Flux writes their `:` as `__`: an object with
    /// either must come back from its inventory id as itself, or it leaves the inventory and
    /// is never pruned.
    #[test]
    fn inventory_ids_keep_rbac_names_with_underscores_and_colons() {
        let rbac = "rbac.authorization.k8s.io";
        let cases = [
            ObjectRef::new(rbac, "v1", "ClusterRole", None, "system:controller:job_x"),
            ObjectRef::new(rbac, "v1", "Role", Some("web"), "read_only"),
            ObjectRef::new(rbac, "v1", "RoleBinding", Some("web"), "a_b_c"),
            ObjectRef::new(rbac, "v1", "ClusterRoleBinding", None, "edge_"),
        ];
        for id in &cases {
            let back = ObjectRef::from_inventory_id(&id.inventory_id(), "v1");
            assert_eq!(back.as_ref(), Some(id), "{}", id.inventory_id());
            assert_eq!(back.map(|b| b.name), Some(id.name.clone()));
        }
        // Flux's own encoding, read as Flux reads it.
        let written_by_flux = "_system__controller__job_rbac.authorization.k8s.io_ClusterRole";
        assert_eq!(
            ObjectRef::from_inventory_id(written_by_flux, "v1").map(|id| id.name),
            Some("system:controller:job".to_owned())
        );
        assert_eq!(
            cases[0].inventory_id(),
            "_system__controller__job_x_rbac.authorization.k8s.io_ClusterRole"
        );
        // Other kinds keep `__` as written (their names cannot hold `:`).
        let cm = ObjectRef::new("", "v1", "ConfigMap", Some("a"), "x__y");
        assert_eq!(
            ObjectRef::from_inventory_id(&cm.inventory_id(), "v1").map(|id| id.name),
            Some("x__y".to_owned())
        );
        for bad in ["", "_", "a_b", "a__", "ns_name__", "ns__group_Kind"] {
            assert!(ObjectRef::from_inventory_id(bad, "v1").is_none(), "{bad:?}");
        }
    }

    #[test]
    fn duplicates_are_refused() {
        let mut objects = parse_yaml("two.yaml", TWO).unwrap();
        objects.push(objects[0].clone());
        let err = ensure_unique(&objects).unwrap_err();
        assert_eq!(
            err.to_string(),
            "duplicate object Deployment.apps/web/api in one render"
        );
    }

    #[test]
    fn prune_annotation_and_debug_redaction() {
        let objects = parse_yaml(
            "s.yaml",
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  annotations:\n    kustomize.toolkit.fluxcd.io/prune: disabled\nstringData:\n  password: hunter2\n",
        )
        .unwrap();
        assert!(objects[0].prune_disabled());
        assert!(objects[0].is_secret());
        assert!(!format!("{:?}", objects[0]).contains("hunter2"));
    }
}
