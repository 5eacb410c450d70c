//! The scheduling half of the controller: which object is due, watched changes, workers.
//!
//! Every object has at most one pending due time and is never reconciled by two workers at
//! once. A watch event schedules an object now only when the user changed it (a new generation
//! or a `requestedAt` token); status writes, ours included, do not wake anything up.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use gitops_flux::FluxObject;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;
use tokio::time::Instant;

/// The kinds the controller reconciles: Flux's, as gitops-flux names them.
pub use gitops_flux::Kind;

/// One object: kind, namespace, name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl Key {
    /// The object's identity as events and the reconciler name it (read through its storage
    /// version: `v1`, `v2` for `HelmRelease`).
    pub fn object_ref(&self) -> gitops_core::ObjectRef {
        gitops_core::ObjectRef::new(
            self.kind.group(),
            self.kind.version(),
            self.kind.as_str(),
            Some(&self.namespace),
            &self.name,
        )
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.kind.as_str(), self.namespace, self.name)
    }
}

/// The longest a scheduled object waits.
pub const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

#[derive(Default)]
struct QueueState {
    due: HashMap<Key, Instant>,
    running: HashSet<Key>,
}

/// Due times, earliest first, and the objects being worked on.
#[derive(Default)]
pub struct Queue {
    state: Mutex<QueueState>,
    wake: Notify,
}

impl Queue {
    /// Makes `key` due after `delay`, unless it is already due sooner. A delay beyond
    /// [`MAX_DELAY`] (a user's `interval: 3000000000000000h`) waits `MAX_DELAY`: `Instant`
    /// addition panics on overflow, and no object needs to wait longer than a year.
    pub fn schedule(&self, key: Key, delay: Duration) {
        let now = Instant::now();
        let at = now
            .checked_add(delay.min(MAX_DELAY))
            .unwrap_or(now + Duration::from_secs(1));
        let mut state = self.lock();
        let due = state.due.entry(key).or_insert(at);
        if at < *due {
            *due = at;
        }
        drop(state);
        self.wake.notify_waiters();
    }

    /// Forgets `key` (deleted).
    pub fn forget(&self, key: &Key) {
        self.lock().due.remove(key);
    }

    /// Waits for the next due object of `kind` that no worker holds, and holds it. Each kind
    /// has its own workers, as each of Flux's reconcilers has its own `--concurrent`: a burst of
    /// one kind (a thousand Kustomizations) never holds back another (their GitRepositories).
    pub async fn next(&self, kind: Kind) -> Key {
        loop {
            // Registered before the state is read, so a `schedule` in between is not missed.
            let notified = self.wake.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            let wait = {
                let mut state = self.lock();
                let now = Instant::now();
                let earliest = state
                    .due
                    .iter()
                    .filter(|(key, _)| key.kind == kind && !state.running.contains(*key))
                    .min_by_key(|(_, at)| **at)
                    .map(|(key, at)| (key.clone(), *at));
                match earliest {
                    Some((key, at)) if at <= now => {
                        state.due.remove(&key);
                        state.running.insert(key.clone());
                        return key;
                    }
                    Some((_, at)) => at - now,
                    None => Duration::from_secs(3600),
                }
            };
            let _ = tokio::time::timeout(wait, notified).await;
        }
    }

    /// Releases `key` after a pass.
    pub fn done(&self, key: &Key) {
        self.lock().running.remove(key);
        // Workers wait per kind: wake them all, each looks for its own.
        self.wake.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Watches one kind: keeps a local store of its objects and schedules the ones the user
/// changed; tells `on_delete` about deletions.
pub fn watch<K>(
    api: Api<K>,
    config: watcher::Config,
    kind: Kind,
    queue: Arc<Queue>,
    on_delete: impl Fn(Key) + Send + 'static,
) -> (reflector::Store<K>, tokio::task::JoinHandle<()>)
where
    K: FluxObject + Clone + DeserializeOwned + fmt::Debug + Send + Sync + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api, config)).default_backoff();
    let task = tokio::spawn(async move {
        let mut seen: HashSet<Key> = HashSet::new();
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                    let key = key_of(kind, &object);
                    let first = seen.insert(key.clone());
                    let changed = object.observed_generation() != object.meta().generation
                        || object.meta().deletion_timestamp.is_some();
                    if first || changed || object.pending_request().is_some() {
                        queue.schedule(key, Duration::ZERO);
                    }
                }
                Ok(watcher::Event::Delete(object)) => {
                    let key = key_of(kind, &object);
                    seen.remove(&key);
                    queue.forget(&key);
                    on_delete(key);
                }
                Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
                Err(error) => {
                    tracing::warn!(kind = kind.as_str(), %error, "watch failed, retrying")
                }
            }
        }
    });
    (reader, task)
}

pub fn key_of<K: Resource>(kind: Kind, object: &K) -> Key {
    Key::new(
        kind,
        object.meta().namespace.as_deref().unwrap_or_default(),
        object.meta().name.as_deref().unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Kustomization holding the only worker of its kind does not keep a GitRepository
    /// waiting: each kind has its own workers.
    #[tokio::test]
    async fn a_busy_kind_does_not_hold_back_another_kind() {
        let queue = Queue::default();
        let ks = Key::new(Kind::Kustomization, "ns", "app");
        let git = Key::new(Kind::GitRepository, "ns", "repo");
        queue.schedule(ks.clone(), Duration::ZERO);
        queue.schedule(git.clone(), Duration::from_millis(1));
        assert_eq!(queue.next(Kind::Kustomization).await, ks);
        let taken = tokio::time::timeout(Duration::from_secs(2), queue.next(Kind::GitRepository))
            .await
            .expect("the GitRepository is taken while the Kustomization runs");
        assert_eq!(taken, git);
    }

    /// A worker waiting for its kind wakes when an object of that kind is scheduled, even
    /// while workers of other kinds wait too.
    #[tokio::test]
    async fn a_waiting_worker_wakes_for_its_kind() {
        let queue = Arc::new(Queue::default());
        let mut waiters = Vec::new();
        for kind in [Kind::Kustomization, Kind::GitRepository, Kind::Alert] {
            let queue = Arc::clone(&queue);
            waiters.push(tokio::spawn(async move { queue.next(kind).await }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let git = Key::new(Kind::GitRepository, "ns", "repo");
        queue.schedule(git.clone(), Duration::ZERO);
        let taken = tokio::time::timeout(Duration::from_secs(2), waiters.remove(1))
            .await
            .expect("the GitRepository worker woke")
            .expect("the worker did not panic");
        assert_eq!(taken, git);
        for waiter in waiters {
            waiter.abort();
        }
    }

    /// `interval: 3000000000000000h` parses to about 1.1e19 s, past what `Instant` can add.
    #[tokio::test]
    async fn a_huge_delay_is_clamped_not_a_panic() {
        let queue = Queue::default();
        let key = Key::new(Kind::Kustomization, "ns", "huge");
        queue.schedule(
            key.clone(),
            Duration::from_secs(3_000_000_000_000_000 * 3600 / 1000),
        );
        queue.schedule(key.clone(), Duration::MAX);
        let due = queue.lock().due[&key];
        assert!(due <= Instant::now() + MAX_DELAY);
    }
}
