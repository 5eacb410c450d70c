//! Watched copies of what the applier manages ([`KubeApplierOptions::watch_owned`]).
//!
//! Once a group of objects was applied for an owner, its resource is watched: one watch per
//! resource, across namespaces, filtered on the presence of the owner's label keys, so it holds
//! what any owner of this applier manages and nothing else. A pass then reads those objects
//! from the watch's store instead of listing them again; a no-op pass sends no read at all. A
//! hand edit reaches the store within the watch's latency and is corrected by the next pass, as
//! with a list. What the store lacks (not labelled yet, deleted, or a watch not synced yet) is
//! read from the server as before.
//!
//! The store drops `fieldsV1` of `managedFields` (the bulk of a stored object): the applier
//! only reads who manages an object and how, never which fields.

use super::*;
use futures::{FutureExt, StreamExt};
use kube::runtime::reflector::{self, ObjectRef as StoreRef, Store};
use kube::runtime::{WatchStreamExt, watcher};

/// The watches of one applier (and its clones), by resource and selector.
#[derive(Default)]
pub(super) struct Watches {
    by_key: HashMap<(String, String), Arc<Watched>>,
}

/// One watch: its store and the task feeding it (ended when the last applier goes).
pub(super) struct Watched {
    store: Store<DynamicObject>,
    resource: ApiResource,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watched {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Watched {
    /// The stored copy of `id`, as the applier reads live objects.
    pub(super) fn get(&self, resource: &Resource, id: &ObjectRef) -> Option<Value> {
        let mut key = StoreRef::new_with(&id.name, self.resource.clone());
        if let Some(namespace) = id.namespace.as_deref().filter(|_| resource.namespaced) {
            key = key.within(namespace);
        }
        let object = self.store.get(&key)?;
        Some(to_value(resource, (*object).clone()))
    }
}

/// `k1=v1,k2=v2` → `k1,k2`: every object labelled by some owner of the same kind of owner.
fn key_selector(owner_selector: &str) -> String {
    owner_selector
        .split(',')
        .map(|term| term.split_once('=').map_or(term, |(key, _)| key))
        .collect::<Vec<_>>()
        .join(",")
}

impl KubeApplier {
    /// The synced watch of `resource` for objects labelled like `owner_selector`; starts it
    /// the first time (and answers `None` until it has synced).
    pub(super) fn watched(
        &self,
        resource: &Resource,
        owner_selector: &str,
    ) -> Option<Arc<Watched>> {
        if !self.options.watch_owned {
            return None;
        }
        let selector = key_selector(owner_selector);
        let key = (
            format!("{}/{}", resource.api.api_version, resource.api.plural),
            selector.clone(),
        );
        let mut watches = self
            .watches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let watched = watches
            .by_key
            .entry(key)
            .or_insert_with(|| Arc::new(self.start_watch(&resource.api, &selector)))
            .clone();
        drop(watches);
        let synced = matches!(
            watched.store.wait_until_ready().now_or_never(),
            Some(Ok(()))
        );
        synced.then_some(watched)
    }

    fn start_watch(&self, resource: &ApiResource, selector: &str) -> Watched {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), resource);
        let writer = reflector::store::Writer::new(resource.clone());
        let store = writer.as_reader();
        let config = watcher::Config::default().labels(selector);
        let stream = reflector::reflector(
            writer,
            watcher(api, config).default_backoff().modify(|object| {
                for entry in object.metadata.managed_fields.iter_mut().flatten() {
                    entry.fields_v1 = None;
                }
            }),
        );
        let task = tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while stream.next().await.is_some() {}
        });
        Watched {
            store,
            resource: resource.clone(),
            task,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::key_selector;

    #[test]
    fn owner_selector_becomes_a_selector_on_its_keys() {
        assert_eq!(
            key_selector(
                "kustomize.toolkit.fluxcd.io/name=app,kustomize.toolkit.fluxcd.io/namespace=flux-system"
            ),
            "kustomize.toolkit.fluxcd.io/name,kustomize.toolkit.fluxcd.io/namespace"
        );
        assert_eq!(key_selector("a"), "a");
    }
}
