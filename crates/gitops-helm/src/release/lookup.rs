//! Helm's `lookup` answered by the cluster during install and upgrade, as `helm install` does,
//! but bounded to the release namespace: a chart may read cluster-scoped objects and the
//! namespaced objects of its own namespace, nothing else.
//!
//! # Answers
//! - `lookup "v1" "Secret" NS "name"`: the object as JSON, or an empty map when it is absent.
//! - `lookup "v1" "Secret" NS ""`: the list (`{"apiVersion", "kind": "SecretList", "metadata",
//!   "items"}`).
//! - A namespaced kind in another namespace, or in every namespace (`""`): an error naming
//!   both namespaces (Helm would answer; a release reading other tenants' objects is refused
//!   here on purpose).
//! - A kind the server does not serve: an error, as in Helm.
//!
//! # Blocking
//! [`Lookup`] is synchronous (templates render synchronously), so [`ClusterLookup`] blocks on
//! the runtime it was made on: call it only off that runtime's worker threads, as
//! [`Actions`](super::Actions) does by rendering in `spawn_blocking`.

use kube::api::{Api, DynamicObject, ListParams};
use kube::core::GroupVersionKind;
use kube::discovery::{self, Scope};
use serde_json::{Map, Value, json};

use crate::Lookup;

/// `lookup` backed by a cluster, bounded to one namespace (see the [module docs](self)).
///
/// # Panics
/// A lookup made inside an async task (rather than in `spawn_blocking` or a thread of its
/// own) panics, as [`tokio::runtime::Handle::block_on`] does there.
#[derive(Clone)]
pub struct ClusterLookup {
    client: kube::Client,
    namespace: String,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for ClusterLookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterLookup")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl ClusterLookup {
    /// Lookups through `client`, limited to `namespace` for namespaced kinds, blocking on
    /// `runtime`.
    pub fn new(
        client: kube::Client,
        namespace: impl Into<String>,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        ClusterLookup {
            client,
            namespace: namespace.into(),
            runtime,
        }
    }

    async fn fetch(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, String> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, capabilities) = discovery::pinned_kind(&self.client, &gvk)
            .await
            .map_err(|e| format!("lookup of {api_version} {kind}: {e}"))?;
        let api: Api<DynamicObject> = if capabilities.scope == Scope::Namespaced {
            if namespace != self.namespace {
                let shown = if namespace.is_empty() {
                    "every namespace"
                } else {
                    namespace
                };
                return Err(format!(
                    "lookup of {api_version} {kind} in {shown}: a release in namespace {} may only look up namespaced objects of its own namespace",
                    self.namespace
                ));
            }
            Api::namespaced_with(self.client.clone(), namespace, &resource)
        } else {
            Api::all_with(self.client.clone(), &resource)
        };
        let shown = format!("{api_version} {kind} {namespace}/{name}");
        if name.is_empty() {
            let list = api
                .list(&ListParams::default())
                .await
                .map_err(|e| format!("lookup of {shown}: {e}"))?;
            let items = list
                .items
                .into_iter()
                .map(|mut item| {
                    item.types.get_or_insert_with(|| kube::core::TypeMeta {
                        api_version: api_version.into(),
                        kind: kind.into(),
                    });
                    serde_json::to_value(item)
                })
                .collect::<Result<Vec<Value>, _>>()
                .map_err(|e| format!("lookup of {shown}: {e}"))?;
            let metadata = serde_json::to_value(list.metadata)
                .map_err(|e| format!("lookup of {shown}: {e}"))?;
            return Ok(json!({
                "apiVersion": api_version,
                "kind": format!("{kind}List"),
                "metadata": metadata,
                "items": items,
            }));
        }
        match api
            .get_opt(name)
            .await
            .map_err(|e| format!("lookup of {shown}: {e}"))?
        {
            Some(object) => {
                serde_json::to_value(object).map_err(|e| format!("lookup of {shown}: {e}"))
            }
            None => Ok(Value::Object(Map::new())),
        }
    }
}

impl Lookup for ClusterLookup {
    fn lookup(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<Value, String> {
        self.runtime
            .block_on(self.fetch(api_version, kind, namespace, name))
    }
}
