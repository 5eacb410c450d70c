//! The [`Inventory`]: the set of objects one reconcile owns, and where it is stored.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{BoxError, ObjectRef};

/// Errors from an [`InventoryStore`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The stored inventory could not be read or written.
    #[error("inventory {location}: storage failed")]
    Storage {
        /// Where the inventory lives.
        location: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The stored inventory is not in our format.
    #[error("inventory {location}: entry {entry:?} is not a valid object id")]
    Malformed {
        /// Where the inventory lives.
        location: String,
        /// The bad entry.
        entry: String,
    },
}

/// One entry as Flux writes it in `status.inventory.entries`: `{id, v}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `<namespace>_<name>_<group>_<kind>`.
    pub id: String,
    /// The API version.
    pub v: String,
}

/// The set of objects one reconcile applied, in apply order.
///
/// Its serialised form is Flux's (`entries: [{id, v}]`), sorted by id, so it is stable and a Flux
/// `status.inventory` can be read back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    objects: BTreeMap<ObjectRef, ()>,
}

impl Inventory {
    /// An empty inventory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an object.
    pub fn insert(&mut self, id: ObjectRef) {
        // Keep the newest version of an object served under several.
        self.objects.remove(&id);
        self.objects.insert(id, ());
    }

    /// Whether the inventory holds the object (any version).
    pub fn contains(&self, id: &ObjectRef) -> bool {
        self.objects.contains_key(id)
    }

    /// The number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The objects, sorted by identity.
    pub fn iter(&self) -> impl Iterator<Item = &ObjectRef> {
        self.objects.keys()
    }

    /// What this inventory holds and `next` lacks: what a prune deletes, in deletion order
    /// (reverse of apply order: workloads first, then namespaces, CRDs last).
    ///
    /// An entry that differs from one of `next` only in having a namespace where the other has
    /// none (or the reverse) is the same object named two ways (an inventory written before
    /// identities were resolved by the kind's real scope): it is never stale.
    pub fn stale(&self, next: &Inventory) -> Vec<ObjectRef> {
        let scoped: std::collections::HashSet<(&str, &str, &str, bool)> = next
            .objects
            .keys()
            .map(|id| {
                (
                    id.group.as_str(),
                    id.kind.as_str(),
                    id.name.as_str(),
                    id.namespace.is_some(),
                )
            })
            .collect();
        let mut stale: Vec<ObjectRef> = self
            .objects
            .keys()
            .filter(|id| !next.contains(id))
            .filter(|id| {
                let other_scope = (
                    id.group.as_str(),
                    id.kind.as_str(),
                    id.name.as_str(),
                    id.namespace.is_none(),
                );
                !scoped.contains(&other_scope)
            })
            .cloned()
            .collect();
        stale.sort_by(|a, b| {
            crate::apply::apply_rank(b)
                .cmp(&crate::apply::apply_rank(a))
                .then_with(|| a.cmp(b))
        });
        stale
    }

    /// Flux's serialised entries, sorted by id.
    pub fn entries(&self) -> Vec<Entry> {
        let mut entries: Vec<Entry> = self
            .objects
            .keys()
            .map(|id| Entry {
                id: id.inventory_id(),
                v: id.version.clone(),
            })
            .collect();
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        entries
    }

    /// Reads Flux's serialised entries back.
    pub fn from_entries(location: &str, entries: &[Entry]) -> Result<Self, Error> {
        let mut inventory = Self::new();
        for entry in entries {
            let id = ObjectRef::from_inventory_id(&entry.id, &entry.v).ok_or_else(|| {
                Error::Malformed {
                    location: location.to_owned(),
                    entry: entry.id.clone(),
                }
            })?;
            inventory.insert(id);
        }
        Ok(inventory)
    }
}

impl FromIterator<ObjectRef> for Inventory {
    fn from_iter<I: IntoIterator<Item = ObjectRef>>(iter: I) -> Self {
        let mut inventory = Self::new();
        for id in iter {
            inventory.insert(id);
        }
        inventory
    }
}

impl Serialize for Inventory {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Wire {
            entries: Vec<Entry>,
        }
        Wire {
            entries: self.entries(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Inventory {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default)]
            entries: Vec<Entry>,
        }
        let wire = Wire::deserialize(deserializer)?;
        Self::from_entries("serialised inventory", &wire.entries).map_err(serde::de::Error::custom)
    }
}

/// Where a reconciler keeps the inventory between passes.
///
/// # Guarantees
/// `save` is atomic: after a crash, `load` returns the old or the new inventory, never a mix.
///
/// # Cancellation
/// A dropped `save` leaves the previous inventory in place.
#[async_trait]
pub trait InventoryStore: Send + Sync {
    /// The inventory of the last successful apply, `None` before the first one.
    async fn load(&self) -> Result<Option<Inventory>, Error>;
    /// Replaces the stored inventory.
    async fn save(&self, inventory: &Inventory) -> Result<(), Error>;
}

/// An inventory kept in memory, for hosts that persist it themselves (e.g. in an object's status).
#[derive(Debug, Default)]
pub struct MemoryInventoryStore {
    inventory: Mutex<Option<Inventory>>,
}

impl MemoryInventoryStore {
    /// A store holding `inventory`.
    pub fn new(inventory: Option<Inventory>) -> Self {
        Self {
            inventory: Mutex::new(inventory),
        }
    }

    /// The stored inventory.
    pub fn get(&self) -> Option<Inventory> {
        self.inventory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl InventoryStore for MemoryInventoryStore {
    async fn load(&self) -> Result<Option<Inventory>, Error> {
        Ok(self.get())
    }

    async fn save(&self, inventory: &Inventory) -> Result<(), Error> {
        *self
            .inventory
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(inventory.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(group: &str, kind: &str, ns: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef::new(group, "v1", kind, ns, name)
    }

    #[test]
    fn stale_objects_come_in_reverse_apply_order() {
        let old: Inventory = [
            id("", "Namespace", None, "web"),
            id(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                None,
                "x.example.com",
            ),
            id("apps", "Deployment", Some("web"), "api"),
            id("", "Service", Some("web"), "api"),
            id("", "ConfigMap", Some("web"), "kept"),
        ]
        .into_iter()
        .collect();
        let new: Inventory = [id("", "ConfigMap", Some("web"), "kept")]
            .into_iter()
            .collect();
        let stale: Vec<String> = old.stale(&new).iter().map(ToString::to_string).collect();
        assert_eq!(
            stale,
            [
                "Deployment.apps/web/api",
                "Service/web/api",
                "Namespace/web",
                "CustomResourceDefinition.apiextensions.k8s.io/x.example.com",
            ]
        );
        assert!(new.stale(&old).is_empty());
    }

    /// An inventory written when a custom resource's scope was guessed holds `ns/X` where the
    /// render now names `/X` (or the reverse): that is the same live object, never stale.
    #[test]
    fn an_object_named_with_and_without_namespace_is_never_stale() {
        let old: Inventory = [
            id("example.com", "Gadget", Some("apps"), "g"),
            id("example.com", "Gadget", None, "g"),
            id("example.com", "Widget", None, "w"),
            id("", "ConfigMap", Some("apps"), "gone"),
        ]
        .into_iter()
        .collect();
        let new: Inventory = [
            id("example.com", "Gadget", None, "g"),
            id("example.com", "Widget", Some("apps"), "w"),
        ]
        .into_iter()
        .collect();
        let stale: Vec<String> = old.stale(&new).iter().map(ToString::to_string).collect();
        assert_eq!(stale, ["ConfigMap/apps/gone"]);
    }

    #[test]
    fn serialised_form_is_fluxs_and_stable() {
        let a: Inventory = [
            id("apps", "Deployment", Some("web"), "api"),
            id("", "Namespace", None, "web"),
        ]
        .into_iter()
        .collect();
        let b: Inventory = [
            id("", "Namespace", None, "web"),
            id("apps", "Deployment", Some("web"), "api"),
        ]
        .into_iter()
        .collect();
        let json = serde_json::to_string(&a).unwrap();
        assert_eq!(json, serde_json::to_string(&b).unwrap());
        assert_eq!(
            json,
            r#"{"entries":[{"id":"_web__Namespace","v":"v1"},{"id":"web_api_apps_Deployment","v":"v1"}]}"#
        );
        let back: Inventory = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert!(
            serde_json::from_str::<Inventory>(r#"{"entries":[{"id":"bad","v":"v1"}]}"#).is_err()
        );
    }

    #[test]
    fn a_new_version_replaces_the_old_one() {
        let mut inventory = Inventory::new();
        inventory.insert(ObjectRef::new(
            "autoscaling",
            "v1",
            "HorizontalPodAutoscaler",
            Some("a"),
            "h",
        ));
        inventory.insert(ObjectRef::new(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            Some("a"),
            "h",
        ));
        assert_eq!(inventory.len(), 1);
        assert_eq!(inventory.entries()[0].v, "v2");
    }

    #[tokio::test]
    async fn memory_store_round_trips() {
        let store = MemoryInventoryStore::default();
        assert!(store.load().await.unwrap().is_none());
        let inventory: Inventory = [id("", "ConfigMap", Some("a"), "b")].into_iter().collect();
        store.save(&inventory).await.unwrap();
        assert_eq!(store.load().await.unwrap(), Some(inventory));
    }
}
