//! The inventory kept where Flux keeps it: `Kustomization.status.inventory`.

use std::sync::Mutex;

use async_trait::async_trait;
use gitops_core::inventory::{Error, Inventory, InventoryStore};
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::api::{InventoryStatus, Kustomization};

/// Stores a Kustomization's inventory in its own status, so `kubectl get -o yaml` and Flux's
/// tooling see what it owns, and a restarted controller prunes from where it stopped.
pub struct StatusInventory {
    api: Api<Kustomization>,
    name: String,
    location: String,
    /// The status already read by the caller, served by the next load instead of a second read.
    preloaded: Mutex<Option<Option<InventoryStatus>>>,
}

impl StatusInventory {
    /// The inventory of Kustomization `name` in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            location: format!("Kustomization {namespace}/{name} status.inventory"),
            preloaded: Mutex::new(None),
        }
    }

    /// The inventory of `kustomization`, which the caller has just read: the next load uses its
    /// status instead of reading the object again (later loads read it).
    pub fn of(client: kube::Client, kustomization: &Kustomization) -> Self {
        let meta = &kustomization.metadata;
        let store = Self::new(
            client,
            meta.namespace.as_deref().unwrap_or_default(),
            meta.name.as_deref().unwrap_or_default(),
        );
        let status = kustomization
            .status
            .as_ref()
            .and_then(|s| s.inventory.clone());
        *store.preloaded.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
        store
    }

    fn storage(&self, source: kube::Error) -> Error {
        Error::Storage {
            location: self.location.clone(),
            source: Box::new(source),
        }
    }
}

#[async_trait]
impl InventoryStore for StatusInventory {
    async fn load(&self) -> Result<Option<Inventory>, Error> {
        let preloaded = self
            .preloaded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let stored = match preloaded {
            Some(status) => status,
            None => {
                let object = self
                    .api
                    .get(&self.name)
                    .await
                    .map_err(|e| self.storage(e))?;
                object.status.and_then(|s| s.inventory)
            }
        };
        let Some(stored) = stored else {
            return Ok(None);
        };
        Inventory::from_entries(&self.location, &stored.entries).map(Some)
    }

    async fn save(&self, inventory: &Inventory) -> Result<(), Error> {
        let status = InventoryStatus {
            entries: inventory.entries(),
        };
        let patch = serde_json::json!({ "status": { "inventory": status } });
        self.api
            .patch_status(&self.name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| self.storage(e))?;
        Ok(())
    }
}
