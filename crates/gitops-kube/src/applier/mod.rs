//! [`KubeApplier`]: the [`Applier`] on a Kubernetes API server.
//!
//! This module holds the applier, its options, discovery and the reads every operation shares,
//! and the pass over stages in [`Applier::apply`]; one module per operation holds the rest:
//! `write` (server-side apply, conflicts, recreation, CRDs becoming established), `delete`
//! (prune), `wait` (health) and `drift` (`diff`).
//!
//! # How a pass spends requests
//! Objects are grouped by resource and namespace. Once this applier has applied a group for an
//! owner, it reads it with one `list` filtered by the owner's labels (every object we apply for
//! an owner carries them), so the answer holds only what we manage, never a namespace's other
//! Secrets or a cluster's other roles; objects that list lacks (not labelled or not created yet)
//! are read with a `get` each, or one paged list of the namespace when there are many. The first
//! read of a group after start is one paged list of the namespace (it must find objects that
//! are not labelled yet anyway); a group of one is read with one `get`. An object whose live
//! copy carries the digest of the configuration we would apply
//! ([`DIGEST_ANNOTATION`](crate::DIGEST_ANNOTATION)) *and* still holds every value we set is
//! unchanged, and costs no further request. Anything else is sent as a server-side apply, and
//! the server's answer (a new `resourceVersion` or not) says whether it changed. A hand edit
//! therefore never hides behind the digest: the live values are compared on every pass.
//!
//! # What a prune may delete
//! An identity is resolved once, by the kind's real scope (discovery, or the scope a CRD of the
//! same apply declares), in [`Applier::resolve`] and in apply alike. A delete reads the live
//! object first and deletes it (with its `uid` as a precondition) only when it carries the
//! owner's labels and does not opt out (`kustomize.toolkit.fluxcd.io/prune: disabled` or
//! `…/reconcile: disabled`); an identity whose namespace does not fit its kind's scope is
//! skipped, never adjusted into another object's name.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use gitops_core::apply::{self, ApplyOptions, Decision, Drift, Error, Health, Owner};
use gitops_core::{
    Action, Applier, BoxError, ChangeSet, HealthReport, HealthStatus, Object, ObjectRef,
};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams, Preconditions,
    PropagationPolicy,
};
use kube::core::{GroupVersion, Status};
use kube::discovery::Scope;
use serde_json::Value;

use crate::compare;
use crate::connect::{self, ConnectOptions};

mod delete;
mod drift;
mod wait;
mod watched;
mod write;

pub(crate) use write::map_error;
use write::{immutable_fields, is_immutable};

/// The field manager name used unless the options name another.
pub const DEFAULT_FIELD_MANAGER: &str = "gitops-rs";

/// Options of a [`KubeApplier`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct KubeApplierOptions {
    /// The server-side apply field manager.
    pub field_manager: String,
    /// Upper bound for any single request (on top of the client's own timeouts).
    pub request_timeout: Duration,
    /// How long to wait for applied CRDs to become Established before applying the rest.
    pub establish_timeout: Duration,
    /// How long to wait for an object to disappear when recreating it.
    pub recreate_timeout: Duration,
    /// Interval between status polls in `wait`.
    pub poll_interval: Duration,
    /// How long a discovery answer is trusted before a missing kind is looked up again.
    pub discovery_ttl: Duration,
    /// The namespace for namespaced objects that name none when the apply options give no
    /// target namespace (the kubeconfig's namespace, as kubectl does).
    pub default_namespace: String,
    /// Watch each resource once objects of it were applied for an owner, and read those objects
    /// from the watch instead of listing them on every pass (see the module `watched`): a no-op
    /// pass then reads nothing. Costs one long-lived watch per resource and the memory of the
    /// managed objects; needs `list` and `watch` on those resources across namespaces (without
    /// them, reads stay as they are). Off by default.
    pub watch_owned: bool,
}

impl Default for KubeApplierOptions {
    fn default() -> Self {
        Self {
            field_manager: DEFAULT_FIELD_MANAGER.to_owned(),
            request_timeout: Duration::from_secs(30),
            establish_timeout: Duration::from_secs(60),
            recreate_timeout: Duration::from_secs(60),
            poll_interval: Duration::from_millis(500),
            discovery_ttl: Duration::from_secs(30),
            default_namespace: "default".to_owned(),
            watch_owned: false,
        }
    }
}

impl KubeApplierOptions {
    /// Sets the field manager.
    pub fn with_field_manager(mut self, manager: impl Into<String>) -> Self {
        self.field_manager = manager.into();
        self
    }

    /// Sets the per-request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets how long to wait for CRDs to be established.
    pub fn with_establish_timeout(mut self, timeout: Duration) -> Self {
        self.establish_timeout = timeout;
        self
    }

    /// Sets the poll interval of `wait`.
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Reads what was applied for an owner from watches instead of lists ([`Self::watch_owned`]).
    pub fn with_watch_owned(mut self, watch: bool) -> Self {
        self.watch_owned = watch;
        self
    }

    /// Sets the fallback namespace.
    pub fn with_default_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.default_namespace = namespace.into();
        self
    }
}

/// Objects per list page: bounds the memory of one answer.
const LIST_PAGE: u32 = 500;

/// From this many objects of one resource and namespace without owner labels, one paged list
/// of the namespace is cheaper than a get each.
const UNFILTERED_LIST_MIN: usize = 8;

/// The resource an object kind is served as.
#[derive(Clone, Debug)]
struct Resource {
    api: ApiResource,
    namespaced: bool,
}

#[derive(Clone)]
struct Served {
    fetched: Instant,
    kinds: Arc<HashMap<String, Resource>>,
}

/// What we remember about an object after applying it: if its `resourceVersion` has not moved,
/// nothing touched it since.
#[derive(Clone, Debug)]
struct Memo {
    resource_version: String,
    digest: String,
    /// The owner's label selector the object was applied with, so later reads (health
    /// polls) can list only what that owner manages.
    selector: Option<Arc<str>>,
}

/// Objects read together: `<apiVersion>/<plural>` and the namespace.
type GroupKey = (String, Option<String>);

/// An object ready to apply: namespace settled, digest annotation set.
struct Prepared {
    id: ObjectRef,
    resource: Resource,
    /// What we send.
    body: Value,
    /// What we expect to find live (Secrets' `stringData` folded into `data`).
    expected: Value,
    digest: String,
    /// The owner's label selector, when the apply names an owner.
    selector: Option<Arc<str>>,
}

/// Applies objects to a Kubernetes API server with server-side apply.
///
/// ```no_run
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// use gitops_core::{Applier, apply::ApplyOptions};
///
/// let applier = gitops_kube::KubeApplier::from_kubeconfig("kubeconfig".as_ref()).await?;
/// let objects = gitops_core::object::parse_yaml(
///     "cm.yaml",
///     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: default}\ndata: {k: v}\n",
/// )?;
/// let changes = applier.apply(&objects, &ApplyOptions::default()).await?;
/// println!("{}", changes.summary());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct KubeApplier {
    client: kube::Client,
    options: KubeApplierOptions,
    discovery: Arc<Mutex<HashMap<String, Served>>>,
    memo: Arc<Mutex<HashMap<ObjectRef, Memo>>>,
    watches: Arc<Mutex<watched::Watches>>,
}

impl std::fmt::Debug for KubeApplier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeApplier")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// A request that did not answer in time.
#[derive(Debug, thiserror::Error)]
#[error("request timed out after {0:?}")]
struct RequestTimeout(Duration);

impl KubeApplier {
    /// An applier on `client` with default options.
    pub fn new(client: kube::Client) -> Self {
        Self::with_options(client, KubeApplierOptions::default())
    }

    /// An applier on `client`.
    pub fn with_options(client: kube::Client, options: KubeApplierOptions) -> Self {
        Self {
            client,
            options,
            discovery: Arc::default(),
            memo: Arc::default(),
            watches: Arc::default(),
        }
    }

    /// An applier for the current context of a kubeconfig file, with default options.
    ///
    /// # Errors
    /// When the file cannot be read or makes no client.
    pub async fn from_kubeconfig(path: &Path) -> Result<Self, connect::Error> {
        Self::from_kubeconfig_with(
            path,
            &ConnectOptions::default(),
            KubeApplierOptions::default(),
        )
        .await
    }

    /// An applier for a kubeconfig file with connection options (impersonation, timeouts,
    /// request counting) and applier options.
    ///
    /// # Errors
    /// When the file cannot be read or makes no client.
    pub async fn from_kubeconfig_with(
        path: &Path,
        connect: &ConnectOptions,
        mut options: KubeApplierOptions,
    ) -> Result<Self, connect::Error> {
        let config = connect::config_from_kubeconfig(path, connect).await?;
        options.default_namespace = config.default_namespace.clone();
        let client = connect::client_from_config(config, connect)?;
        Ok(Self::with_options(client, options))
    }

    /// The client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// The options.
    pub fn options(&self) -> &KubeApplierOptions {
        &self.options
    }

    async fn timed<T>(
        &self,
        future: impl Future<Output = Result<T, kube::Error>>,
    ) -> Result<T, kube::Error> {
        match tokio::time::timeout(self.options.request_timeout, future).await {
            Ok(result) => result,
            Err(_) => Err(kube::Error::Service(Box::new(RequestTimeout(
                self.options.request_timeout,
            )))),
        }
    }

    // ---- discovery -------------------------------------------------------------------------

    /// The resource serving `kind` in `api_version`, `None` when the server does not serve it.
    /// A miss on an answer older than the TTL (or when `fresh` is asked) looks again.
    async fn resource_of(&self, id: &ObjectRef, fresh: bool) -> Result<Option<Resource>, Error> {
        let api_version = id.api_version();
        let cached = self.lock_discovery().get(&api_version).cloned();
        if let Some(served) = &cached {
            if let Some(resource) = served.kinds.get(&id.kind) {
                return Ok(Some(resource.clone()));
            }
            if !fresh && served.fetched.elapsed() < self.options.discovery_ttl {
                return Ok(None);
            }
        }
        let gv = GroupVersion::gv(&id.group, &id.version);
        let kinds = match self
            .timed(kube::discovery::oneshot::pinned_group(&self.client, &gv))
            .await
        {
            Ok(group) => group
                .versioned_resources(&id.version)
                .into_iter()
                .map(|(api, caps)| {
                    (
                        api.kind.clone(),
                        Resource {
                            api,
                            namespaced: caps.scope == Scope::Namespaced,
                        },
                    )
                })
                .collect(),
            Err(kube::Error::Api(status)) if status.code == 404 => HashMap::new(),
            Err(e) => return Err(map_error(id, e)),
        };
        let found = kinds.get(&id.kind).cloned();
        self.lock_discovery().insert(
            api_version,
            Served {
                fetched: Instant::now(),
                kinds: Arc::new(kinds),
            },
        );
        Ok(found)
    }

    fn lock_discovery(&self) -> std::sync::MutexGuard<'_, HashMap<String, Served>> {
        self.discovery
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn lock_memo(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef, Memo>> {
        self.memo
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn api(&self, resource: &Resource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace.filter(|_| resource.namespaced) {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource.api),
            None => Api::all_with(self.client.clone(), &resource.api),
        }
    }

    // ---- preparing -------------------------------------------------------------------------

    /// The namespace a namespaced object without one is applied in.
    fn default_namespace<'a>(&'a self, options: &'a ApplyOptions) -> &'a str {
        options
            .target_namespace
            .as_deref()
            .unwrap_or(&self.options.default_namespace)
    }

    fn prepare(
        &self,
        object: &Object,
        resource: Resource,
        options: &ApplyOptions,
    ) -> Result<Prepared, Error> {
        let mut object = object.clone();
        // The one rule that names the object: the same function `resolve` uses.
        let id = apply::resolved_id(
            object.id(),
            resource.namespaced,
            self.default_namespace(options),
        );
        apply::place(&mut object, &id);
        if let Some(owner) = &options.owner {
            owner.label(&mut object).map_err(|e| Error::Rejected {
                id: id.clone(),
                message: e.to_string(),
            })?;
        }
        let id = object.id().clone();
        let mut body = object.into_value();
        let digest = compare::digest(&body);
        compare::set_digest(&mut body, &digest);
        let expected = compare::normalise_desired(&body);
        Ok(Prepared {
            id,
            resource,
            body,
            expected,
            digest,
            selector: options.owner.as_ref().map(|o| Arc::from(o.selector())),
        })
    }

    /// Resolves and prepares objects; kinds the server does not serve yet are returned apart.
    async fn prepare_all<'a>(
        &self,
        objects: &[&'a Object],
        options: &ApplyOptions,
        fresh: bool,
    ) -> Result<(Vec<Prepared>, Vec<&'a Object>), Error> {
        let mut prepared = Vec::with_capacity(objects.len());
        let mut unknown = Vec::new();
        for object in objects {
            match self.resource_of(object.id(), fresh).await? {
                Some(resource) => prepared.push(self.prepare(object, resource, options)?),
                None => unknown.push(*object),
            }
        }
        Ok((prepared, unknown))
    }

    // ---- reading live state ----------------------------------------------------------------

    /// Live copies of the objects, keyed by identity, for a bounded number of requests whose
    /// answers hold only what we manage where we can tell. Objects are grouped by resource and
    /// namespace; a group of one is read with a get. A larger group that this applier applied
    /// before for one owner is read with one list filtered by the owner's labels, and what that
    /// list lacks (objects not labelled or not created yet) with a get each, or, beyond
    /// [`UNFILTERED_LIST_MIN`] of them, one paged list of the namespace. Any other group (no
    /// owner, or not applied by this process yet) is read with one paged list of the namespace.
    /// With `watched` (and [`KubeApplierOptions::watch_owned`]), a group applied before for one
    /// owner is first looked up in the resource's watch, and only what it lacks is read.
    async fn fetch_live<'a>(
        &self,
        items: impl IntoIterator<Item = (&'a ObjectRef, &'a Resource, Option<&'a Arc<str>>)>,
        watched: bool,
    ) -> Result<HashMap<ObjectRef, Value>, Error> {
        type Member<'a> = (&'a ObjectRef, &'a Resource, Option<&'a Arc<str>>);
        let mut groups: BTreeMap<GroupKey, Vec<Member<'a>>> = BTreeMap::new();
        for (id, resource, selector) in items {
            let key = (
                format!("{}/{}", resource.api.api_version, resource.api.plural),
                id.namespace.clone(),
            );
            groups
                .entry(key)
                .or_default()
                .push((id, resource, selector));
        }
        let mut live = HashMap::new();
        for ((_, namespace), members) in groups {
            let (first, resource, selector) = members[0];
            let api = self.api(resource, namespace.as_deref());
            let mut missing: Vec<(&ObjectRef, &Resource)> =
                members.iter().map(|(id, r, _)| (*id, *r)).collect();
            // The owner's labelled list (or watch) once this process has applied some of the
            // group (a first pass after start lists the namespace once, as it must find objects
            // that are not labelled yet anyway).
            let applied_before = {
                let memo = self.lock_memo();
                members.iter().any(|(id, _, _)| memo.contains_key(*id))
            };
            let owner = selector
                .filter(|s| members.iter().all(|m| m.2 == Some(*s)))
                .filter(|_| applied_before);
            if let Some(store) = owner
                .filter(|_| watched)
                .and_then(|s| self.watched(resource, s))
            {
                for (id, resource) in &missing {
                    if let Some(value) = store.get(resource, id) {
                        live.insert((*id).clone(), value);
                    }
                }
                missing.retain(|(id, _)| !live.contains_key(*id));
            }
            if members.len() > 1 && !missing.is_empty() {
                let mut selectors = vec![owner];
                if owner.is_some() {
                    selectors.push(None);
                }
                for selector in selectors {
                    if selector.is_none() && owner.is_some() && missing.len() < UNFILTERED_LIST_MIN
                    {
                        break;
                    }
                    match self
                        .list_named(&api, first, resource, &missing, selector)
                        .await
                    {
                        Ok(found) => {
                            live.extend(found);
                            missing.retain(|(id, _)| !live.contains_key(*id));
                            if selector.is_none() {
                                // The whole namespace was read: what it lacks does not exist.
                                missing.clear();
                            }
                        }
                        // Allowed to get but not to list: read one by one.
                        Err(Error::Forbidden { .. }) => break,
                        Err(e) => return Err(e),
                    }
                }
            }
            for (id, resource) in missing {
                let found = self
                    .timed(api.get_opt(&id.name))
                    .await
                    .map_err(|e| map_error(id, e))?;
                if let Some(object) = found {
                    live.insert(id.clone(), to_value(resource, object));
                }
            }
        }
        Ok(live)
    }

    async fn list_named(
        &self,
        api: &Api<DynamicObject>,
        first: &ObjectRef,
        resource: &Resource,
        members: &[(&ObjectRef, &Resource)],
        selector: Option<&Arc<str>>,
    ) -> Result<HashMap<ObjectRef, Value>, Error> {
        let wanted: HashSet<&str> = members.iter().map(|(id, _)| id.name.as_str()).collect();
        let mut live = HashMap::with_capacity(members.len());
        let mut params = ListParams::default().limit(LIST_PAGE);
        if let Some(selector) = selector {
            params = params.labels(selector);
        }
        loop {
            let page = self
                .timed(api.list(&params))
                .await
                .map_err(|e| map_error(first, e))?;
            let next = page.metadata.continue_.clone().filter(|c| !c.is_empty());
            for object in page.items {
                let Some(name) = object.metadata.name.clone() else {
                    continue;
                };
                if wanted.contains(name.as_str()) {
                    let mut id = first.clone();
                    id.name = name;
                    live.insert(id, to_value(resource, object));
                }
            }
            match next {
                Some(token) => params = params.continue_token(&token),
                None => return Ok(live),
            }
        }
    }

    /// Whether the live object already is what applying `item` would make it.
    fn in_sync(&self, item: &Prepared, live: &Value) -> bool {
        if compare::live_digest(live) != Some(item.digest.as_str()) {
            return false;
        }
        let rv = live
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str);
        if let Some(memo) = self.lock_memo().get(&item.id) {
            if Some(memo.resource_version.as_str()) == rv && memo.digest == item.digest {
                return true;
            }
        }
        compare::contains(&item.expected, live)
    }

    fn remember(&self, item: &Prepared, applied: &Value) {
        if let Some(rv) = applied
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
        {
            self.lock_memo().insert(
                item.id.clone(),
                Memo {
                    resource_version: rv.to_owned(),
                    digest: item.digest.clone(),
                    selector: item.selector.clone(),
                },
            );
        }
    }

    // ---- applying --------------------------------------------------------------------------
}

/// The kinds a set of CRDs defines, as `(group, kind)`.
fn defined_kinds(objects: &[&Object]) -> HashSet<(String, String)> {
    objects
        .iter()
        .filter(|o| o.id().kind == "CustomResourceDefinition")
        .filter_map(|o| {
            let v = o.value();
            Some((
                v.pointer("/spec/group")?.as_str()?.to_owned(),
                v.pointer("/spec/names/kind")?.as_str()?.to_owned(),
            ))
        })
        .collect()
}

fn unknown_kind(object: &Object) -> Error {
    let id = object.id().clone();
    Error::UnknownKind {
        api_version: id.api_version(),
        kind: id.kind.clone(),
        id,
    }
}

#[async_trait]
impl Applier for KubeApplier {
    async fn apply(&self, objects: &[Object], options: &ApplyOptions) -> Result<ChangeSet, Error> {
        let (first, rest): (Vec<&Object>, Vec<&Object>) =
            objects.iter().partition(|o| apply::is_first_stage(o.id()));
        let defined = defined_kinds(&first);

        // Every kind must be served, or be defined by a CRD of this apply: check before writing.
        let (first, unknown) = self.prepare_all(&first, options, false).await?;
        if let Some(object) = unknown.first() {
            return Err(unknown_kind(object));
        }
        let (rest, deferred) = self.prepare_all(&rest, options, false).await?;
        if let Some(object) = deferred
            .iter()
            .find(|o| !defined.contains(&(o.id().group.clone(), o.id().kind.clone())))
        {
            return Err(unknown_kind(object));
        }

        // Stage 1: definitions, then wait until the CRDs serve their kinds.
        let mut changes = ChangeSet::default();
        let applied = self.apply_batch(first, options, &mut changes).await?;
        let crds: Vec<(Prepared, Value)> = applied
            .into_iter()
            .filter(|(item, _)| item.id.kind == "CustomResourceDefinition")
            .collect();
        self.wait_established(&crds).await?;

        // Stage 2: everything else, including the custom resources of the new CRDs.
        // Discovery may lag a moment behind the Established condition: look again until served.
        let deadline = Instant::now() + self.options.establish_timeout;
        let mut late = Vec::with_capacity(deferred.len());
        let mut deferred = deferred;
        loop {
            let (found, still_unknown) = self.prepare_all(&deferred, options, true).await?;
            late.extend(found);
            match still_unknown.first() {
                None => break,
                Some(object) if Instant::now() > deadline => return Err(unknown_kind(object)),
                Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
            deferred = still_unknown;
        }
        let mut rest = rest;
        rest.extend(late);
        self.apply_batch(rest, options, &mut changes).await?;
        Ok(changes)
    }

    async fn resolve(
        &self,
        objects: &[Object],
        options: &ApplyOptions,
    ) -> Result<Vec<ObjectRef>, Error> {
        // Kinds a CRD of this set defines may not be served yet: their scope is the CRD's.
        let defined = apply::defined_scopes(objects);
        let mut ids = Vec::with_capacity(objects.len());
        for object in objects {
            let id = object.id();
            let namespaced = match self.resource_of(id, false).await? {
                Some(resource) => resource.namespaced,
                None => match defined.get(&(id.group.clone(), id.kind.clone())) {
                    Some(namespaced) => *namespaced,
                    // Never guess a scope: a wrong guess recorded in the inventory is what a
                    // later prune would act on.
                    None => return Err(unknown_kind(object)),
                },
            };
            ids.push(apply::resolved_id(
                id,
                namespaced,
                self.default_namespace(options),
            ));
        }
        Ok(ids)
    }

    async fn delete(
        &self,
        objects: &[ObjectRef],
        options: &ApplyOptions,
    ) -> Result<ChangeSet, Error> {
        self.delete_owned(objects, options).await
    }

    async fn wait(&self, objects: &[ObjectRef], timeout: Duration) -> Result<HealthReport, Error> {
        self.wait_healthy(objects, timeout).await
    }

    async fn diff(&self, objects: &[Object]) -> Result<Vec<Drift>, Error> {
        self.diff_with(objects, &ApplyOptions::default()).await
    }
}

/// A dynamic object as JSON with its apiVersion and kind (lists leave them out of items).
fn to_value(resource: &Resource, object: DynamicObject) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert(
            "apiVersion".into(),
            Value::String(resource.api.api_version.clone()),
        );
        map.insert("kind".into(), Value::String(resource.api.kind.clone()));
    }
    value
}
