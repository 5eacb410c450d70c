//! Inventories kept in the cluster: a ConfigMap ([`ConfigMapInventory`]) or a Secret
//! ([`SecretInventory`]) holding Flux's serialised entries (`{"entries":[{"id":…,"v":…}]}`) under
//! the key [`INVENTORY_KEY`].
//!
//! A save is one server-side apply of the whole object, so it is atomic: a reader sees the old or
//! the new inventory. A save of what the store already holds sends nothing.

use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use gitops_core::inventory::{Error, Inventory, InventoryStore};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::{Value, json};

use crate::applier::DEFAULT_FIELD_MANAGER;

/// The data key holding the serialised inventory.
pub const INVENTORY_KEY: &str = "inventory";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    ConfigMap,
    Secret,
}

struct Store {
    kind: Kind,
    client: kube::Client,
    namespace: String,
    name: String,
    field_manager: String,
    timeout: Duration,
    /// The serialised inventory last read or written, to skip writes that change nothing.
    last: Mutex<Option<String>>,
}

/// An inventory kept in a ConfigMap `namespace/name` (created on the first save).
///
/// ```no_run
/// # async fn example(client: kube::Client) -> Result<(), gitops_core::inventory::Error> {
/// use gitops_core::InventoryStore;
///
/// let store = gitops_kube::ConfigMapInventory::new(client, "flux-system", "my-app-inventory");
/// let previous = store.load().await?.unwrap_or_default();
/// # let _ = previous;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ConfigMapInventory(Store);

/// An inventory kept in a Secret `namespace/name`, for clusters where ConfigMaps are readable by
/// too many.
#[derive(Debug)]
pub struct SecretInventory(Store);

impl ConfigMapInventory {
    /// Bounds each request (30 s unless set).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.0.timeout = timeout;
        self
    }

    /// A store in the ConfigMap `namespace/name`, written with the field manager `gitops-rs`.
    pub fn new(
        client: kube::Client,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self(Store::new(
            Kind::ConfigMap,
            client,
            namespace.into(),
            name.into(),
        ))
    }

    /// Uses another field manager.
    pub fn with_field_manager(mut self, manager: impl Into<String>) -> Self {
        self.0.field_manager = manager.into();
        self
    }

    /// Parses `NAMESPACE/NAME` (as a `--inventory` flag gives it).
    pub fn from_flag(client: kube::Client, flag: &str) -> Option<Self> {
        let (namespace, name) = flag.split_once('/')?;
        (!namespace.is_empty() && !name.is_empty() && !name.contains('/'))
            .then(|| Self::new(client, namespace, name))
    }
}

impl SecretInventory {
    /// Bounds each request (30 s unless set).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.0.timeout = timeout;
        self
    }

    /// A store in the Secret `namespace/name`, written with the field manager `gitops-rs`.
    pub fn new(
        client: kube::Client,
        namespace: impl Into<String>,
        name: impl Into<String>,
    ) -> Self {
        Self(Store::new(
            Kind::Secret,
            client,
            namespace.into(),
            name.into(),
        ))
    }

    /// Uses another field manager.
    pub fn with_field_manager(mut self, manager: impl Into<String>) -> Self {
        self.0.field_manager = manager.into();
        self
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.location())
    }
}

impl Store {
    fn new(kind: Kind, client: kube::Client, namespace: String, name: String) -> Self {
        Self {
            kind,
            client,
            namespace,
            name,
            field_manager: DEFAULT_FIELD_MANAGER.to_owned(),
            timeout: Duration::from_secs(30),
            last: Mutex::new(None),
        }
    }

    fn location(&self) -> String {
        let kind = match self.kind {
            Kind::ConfigMap => "ConfigMap",
            Kind::Secret => "Secret",
        };
        format!("{kind}/{}/{}", self.namespace, self.name)
    }

    fn api(&self) -> Api<DynamicObject> {
        let (kind, plural) = match self.kind {
            Kind::ConfigMap => ("ConfigMap", "configmaps"),
            Kind::Secret => ("Secret", "secrets"),
        };
        let resource = ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: kind.into(),
            plural: plural.into(),
        };
        Api::namespaced_with(self.client.clone(), &self.namespace, &resource)
    }

    fn storage(&self, source: impl Into<gitops_core::BoxError>) -> Error {
        Error::Storage {
            location: self.location(),
            source: source.into(),
        }
    }

    async fn timed<T>(
        &self,
        future: impl std::future::Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, Error> {
        match tokio::time::timeout(self.timeout, future).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.storage(e)),
            Err(_) => Err(self.storage(format!("request timed out after {:?}", self.timeout))),
        }
    }

    fn remember(&self, text: Option<String>) {
        *self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = text;
    }

    async fn load(&self) -> Result<Option<Inventory>, Error> {
        let Some(object) = self.timed(self.api().get_opt(&self.name)).await? else {
            self.remember(None);
            return Ok(None);
        };
        let raw = object.data.pointer(&format!("/data/{INVENTORY_KEY}"));
        let Some(raw) = raw.and_then(Value::as_str) else {
            self.remember(None);
            return Ok(None);
        };
        let text = match self.kind {
            Kind::ConfigMap => raw.to_owned(),
            Kind::Secret => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(raw)
                    .map_err(|e| self.storage(e))?;
                String::from_utf8(bytes).map_err(|e| self.storage(e))?
            }
        };
        let inventory: Inventory = serde_json::from_str(&text).map_err(|e| self.storage(e))?;
        self.remember(Some(text));
        Ok(Some(inventory))
    }

    async fn save(&self, inventory: &Inventory) -> Result<(), Error> {
        let text = serde_json::to_string(inventory).map_err(|e| self.storage(e))?;
        let unchanged = self
            .last
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_deref()
            == Some(text.as_str());
        if unchanged {
            return Ok(());
        }
        let body = match self.kind {
            Kind::ConfigMap => json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "data": {INVENTORY_KEY: text},
            }),
            Kind::Secret => json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "type": "Opaque",
                "data": {INVENTORY_KEY: base64::engine::general_purpose::STANDARD.encode(&text)},
            }),
        };
        let params = PatchParams::apply(&self.field_manager).force();
        self.timed(self.api().patch(&self.name, &params, &Patch::Apply(&body)))
            .await?;
        self.remember(Some(text));
        Ok(())
    }
}

#[async_trait]
impl InventoryStore for ConfigMapInventory {
    async fn load(&self) -> Result<Option<Inventory>, Error> {
        self.0.load().await
    }

    async fn save(&self, inventory: &Inventory) -> Result<(), Error> {
        self.0.save(inventory).await
    }
}

#[async_trait]
impl InventoryStore for SecretInventory {
    async fn load(&self) -> Result<Option<Inventory>, Error> {
        self.0.load().await
    }

    async fn save(&self, inventory: &Inventory) -> Result<(), Error> {
        self.0.save(inventory).await
    }
}
