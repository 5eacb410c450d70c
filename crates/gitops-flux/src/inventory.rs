//! The inventory kept where Flux keeps it: `Kustomization.status.inventory`.

use async_trait::async_trait;
use gitops_core::inventory::{Error, Inventory, InventoryStore};
use kube::Api;
use kube::api::{Patch, PatchParams};

use crate::api::{InventoryStatus, Kustomization};

/// Stores a Kustomization's inventory in its own status, so `kubectl get -o yaml` and Flux's
/// tooling see what it owns, and a restarted controller prunes from where it stopped.
#[derive(Clone)]
pub struct StatusInventory {
    api: Api<Kustomization>,
    name: String,
    location: String,
}

impl StatusInventory {
    /// The inventory of Kustomization `name` in `namespace`.
    pub fn new(client: kube::Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            name: name.to_string(),
            location: format!("Kustomization {namespace}/{name} status.inventory"),
        }
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
        let object = self
            .api
            .get(&self.name)
            .await
            .map_err(|e| self.storage(e))?;
        let Some(stored) = object.status.and_then(|s| s.inventory) else {
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
