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
//! only reads who manages an object and how, never which fields. It keeps each object as its
//! JSON text, parsed when a pass reads it: a parsed `serde_json::Value` takes four to five times
//! the memory of its text (7 KiB against 1.5 KiB for a small Deployment), and a controller
//! holding 20,000 applied objects would otherwise keep about 140 MiB of trees.

use super::*;
use futures::StreamExt;
use kube::runtime::{WatchStreamExt, watcher};

/// The watches of one applier (and its clones), by resource and selector.
#[derive(Default)]
pub(super) struct Watches {
    by_key: HashMap<(String, String), Arc<Watched>>,
}

/// `(namespace, name)` of a stored object.
type StoreKey = (Option<String>, String);

/// What one watch has seen.
#[derive(Default)]
struct Contents {
    /// Each object as JSON text.
    objects: HashMap<StoreKey, Arc<str>>,
    /// Whether the first list has completed: until then the store answers nothing.
    synced: bool,
}

/// One watch: its store and the task feeding it (ended when the last applier goes).
pub(super) struct Watched {
    contents: Arc<Mutex<Contents>>,
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
        let namespace = id.namespace.clone().filter(|_| resource.namespaced);
        let text = {
            let contents = lock(&self.contents);
            // Shared, not copied: the text is parsed after the lock is released.
            Arc::clone(contents.objects.get(&(namespace, id.name.clone()))?)
        };
        let object: DynamicObject = serde_json::from_str(&text).ok()?;
        Some(to_value(resource, object))
    }

    fn synced(&self) -> bool {
        lock(&self.contents).synced
    }
}

fn lock(contents: &Mutex<Contents>) -> std::sync::MutexGuard<'_, Contents> {
    contents
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An object's key and its JSON text without `managedFields[].fieldsV1`.
fn stored(mut object: DynamicObject) -> Option<(StoreKey, Arc<str>)> {
    for entry in object.metadata.managed_fields.iter_mut().flatten() {
        entry.fields_v1 = None;
    }
    let key = (
        object.metadata.namespace.clone(),
        object.metadata.name.clone()?,
    );
    let text = serde_json::to_string(&object).ok()?;
    Some((key, Arc::from(text)))
}

/// Applies one watch event to `contents`; `relisted` collects a relist until it is complete,
/// so a pass never reads a half-listed store.
fn apply_event(
    contents: &Mutex<Contents>,
    relisted: &mut Option<HashMap<StoreKey, Arc<str>>>,
    event: watcher::Event<DynamicObject>,
) {
    match event {
        watcher::Event::Apply(object) => {
            if let Some((key, text)) = stored(object) {
                lock(contents).objects.insert(key, text);
            }
        }
        watcher::Event::Delete(object) => {
            if let Some(name) = object.metadata.name {
                lock(contents)
                    .objects
                    .remove(&(object.metadata.namespace, name));
            }
        }
        watcher::Event::Init => *relisted = Some(HashMap::new()),
        watcher::Event::InitApply(object) => {
            if let (Some(buffer), Some((key, text))) = (relisted.as_mut(), stored(object)) {
                buffer.insert(key, text);
            }
        }
        watcher::Event::InitDone => {
            let mut contents = lock(contents);
            contents.objects = relisted.take().unwrap_or_default();
            contents.objects.shrink_to_fit();
            contents.synced = true;
        }
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
        watched.synced().then_some(watched)
    }

    fn start_watch(&self, resource: &ApiResource, selector: &str) -> Watched {
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), resource);
        let config = watcher::Config::default().labels(selector);
        let contents = Arc::new(Mutex::new(Contents::default()));
        let fed = Arc::clone(&contents);
        let task = tokio::spawn(async move {
            let stream = watcher(api, config).default_backoff();
            let mut stream = std::pin::pin!(stream);
            let mut relisted = None;
            while let Some(event) = stream.next().await {
                // Errors are retried by the backoff; the store keeps what it had meanwhile.
                if let Ok(event) = event {
                    apply_event(&fed, &mut relisted, event);
                }
            }
        });
        Watched { contents, task }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_map(name: &str, value: &str) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": "web", "managedFields": [
                {"manager": "gitops", "operation": "Apply", "fieldsType": "FieldsV1",
                 "fieldsV1": {"f:data": {"f:key": {}}}}
            ]},
            "data": {"key": value}
        }))
        .expect("a ConfigMap")
    }

    fn read(watched: &Watched, name: &str) -> Option<Value> {
        let resource = Resource {
            api: ApiResource::erase::<k8s_openapi::api::core::v1::ConfigMap>(&()),
            namespaced: true,
        };
        let id = ObjectRef::new("", "v1", "ConfigMap", Some("web"), name);
        watched.get(&resource, &id)
    }

    /// The store answers only once listed, swaps a relist in whole, follows applies and
    /// deletes, and keeps who manages a field but not which fields.
    #[tokio::test]
    async fn the_store_follows_the_watch_and_keeps_objects_as_text() {
        let contents = Arc::new(Mutex::new(Contents::default()));
        let watched = Watched {
            contents: Arc::clone(&contents),
            task: tokio::spawn(async {}),
        };
        let mut relisted = None;
        apply_event(&contents, &mut relisted, watcher::Event::Init);
        apply_event(
            &contents,
            &mut relisted,
            watcher::Event::InitApply(config_map("a", "1")),
        );
        assert!(!watched.synced(), "half a list is not a store");
        assert_eq!(read(&watched, "a"), None);
        apply_event(&contents, &mut relisted, watcher::Event::InitDone);
        assert!(watched.synced());
        let a = read(&watched, "a").expect("listed");
        assert_eq!(a["data"]["key"], "1");
        assert_eq!(a["kind"], "ConfigMap");
        assert_eq!(a["metadata"]["managedFields"][0]["manager"], "gitops");
        assert!(a["metadata"]["managedFields"][0].get("fieldsV1").is_none());

        apply_event(
            &contents,
            &mut relisted,
            watcher::Event::Apply(config_map("a", "2")),
        );
        apply_event(
            &contents,
            &mut relisted,
            watcher::Event::Apply(config_map("b", "1")),
        );
        assert_eq!(read(&watched, "a").expect("applied")["data"]["key"], "2");
        apply_event(
            &contents,
            &mut relisted,
            watcher::Event::Delete(config_map("b", "1")),
        );
        assert_eq!(read(&watched, "b"), None);

        // A relist replaces everything at its end: what it lacks is gone.
        apply_event(&contents, &mut relisted, watcher::Event::Init);
        apply_event(
            &contents,
            &mut relisted,
            watcher::Event::InitApply(config_map("c", "1")),
        );
        assert_eq!(
            read(&watched, "a").expect("kept until the relist ends")["data"]["key"],
            "2"
        );
        apply_event(&contents, &mut relisted, watcher::Event::InitDone);
        assert_eq!(read(&watched, "a"), None);
        assert!(read(&watched, "c").is_some());
    }

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
