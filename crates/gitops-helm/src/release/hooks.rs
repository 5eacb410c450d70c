//! Running a release's hooks as Helm v4 does (`pkg/action/hooks.go`).
//!
//! For one event, the hooks that list it run one at a time, ordered by weight then name. Each
//! gets the delete policy `before-hook-creation` when it names none (stored so, as Helm stores
//! it); a hook with that policy is deleted (and its deletion awaited) before it is applied.
//! Its `last_run` is recorded `Running` with its start time before it is applied; then it is
//! applied and awaited: a Job until its `Complete` condition (`Failed` fails it at once), a Pod
//! until it `Succeeded` (`Failed` fails it), anything else is ready once applied; each hook may
//! take [`super::ActionOptions::hook_timeout`]. Hook objects are not labelled as the release's
//! (Helm leaves them as the chart wrote them) and are never pruned with it. If a hook fails, it is
//! deleted when its policies include `hook-failed`, the hooks of this event that already
//! succeeded are deleted when theirs include `hook-succeeded`, and the event fails. When all
//! succeed, those with `hook-succeeded` are deleted, last first. CustomResourceDefinitions are
//! never deleted.

use std::time::{Duration, Instant};

use gitops_core::apply::{self, ApplyOptions};
use gitops_core::{Applier, HealthStatus, Object, ObjectRef};
use gitops_kube::KubeApplier;
use k8s_openapi::api::core::v1::Pod;

use super::model::{Hook, HookExecution, now};
use super::storage::{self, Record, Storage};

/// `helm.sh/hook-delete-policy` values.
const BEFORE_HOOK_CREATION: &str = "before-hook-creation";
const HOOK_SUCCEEDED: &str = "hook-succeeded";
const HOOK_FAILED: &str = "hook-failed";

/// Errors of running hooks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A hook failed or did not become ready in time.
    #[error(
        "release {name:?} in namespace {namespace} revision {revision}: {event} hook {path} failed: {message}"
    )]
    Failed {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The revision.
        revision: u32,
        /// The event (`pre-install`, `test`, …).
        event: String,
        /// The hook's template.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Applying, reading or deleting a hook's object failed.
    #[error(
        "release {name:?} in namespace {namespace} revision {revision}: {event} hook {path}: {operation} failed"
    )]
    Apply {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The revision.
        revision: u32,
        /// The event.
        event: String,
        /// The hook's template.
        path: String,
        /// `apply`, `delete`, `wait`.
        operation: &'static str,
        /// The cause.
        #[source]
        source: apply::Error,
    },
    /// A hook's manifest is not a Kubernetes object.
    #[error(
        "release {name:?} in namespace {namespace} revision {revision}: {event} hook {path}: invalid manifest"
    )]
    Manifest {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The revision.
        revision: u32,
        /// The event.
        event: String,
        /// The hook's template.
        path: String,
        /// The cause.
        #[source]
        source: gitops_core::object::Error,
    },
    /// A hook Pod could not be read.
    #[error(
        "release {name:?} in namespace {namespace} revision {revision}: {event} hook {path}: reading {pod} failed"
    )]
    ReadPod {
        /// The release.
        name: String,
        /// Its namespace.
        namespace: String,
        /// The revision.
        revision: u32,
        /// The event.
        event: String,
        /// The hook's template.
        path: String,
        /// The Pod.
        pod: String,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// Recording the hook's run failed.
    #[error(transparent)]
    Storage(#[from] storage::Error),
}

impl Error {
    /// Whether retrying may help.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Apply { source, .. } => source.is_transient(),
            Error::Storage(e) => e.is_transient(),
            Error::ReadPod { source, .. } => !matches!(source, kube::Error::Api(s) if s.code < 500),
            _ => false,
        }
    }
}

/// Runs hooks of one release revision.
pub(super) struct Hooks<'a> {
    pub applier: &'a KubeApplier,
    pub storage: &'a Storage,
    /// How long one hook may take to become ready (or be deleted).
    pub timeout: Duration,
}

/// One hook being run, for error context.
struct Running {
    name: String,
    namespace: String,
    revision: u32,
    event: String,
    path: String,
}

impl Running {
    /// Hook `i` of `record` running for `event`.
    fn of(record: &Record, i: usize, event: &str) -> Self {
        Running {
            name: record.release.name.clone(),
            namespace: record.release.namespace.clone(),
            revision: record.release.version,
            event: event.into(),
            path: record.release.hooks[i].path.clone(),
        }
    }

    fn failed(&self, message: impl Into<String>) -> Error {
        Error::Failed {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            revision: self.revision,
            event: self.event.clone(),
            path: self.path.clone(),
            message: message.into(),
        }
    }

    fn apply(&self, operation: &'static str) -> impl FnOnce(apply::Error) -> Error + '_ {
        move |source| Error::Apply {
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            revision: self.revision,
            event: self.event.clone(),
            path: self.path.clone(),
            operation,
            source,
        }
    }
}

impl Hooks<'_> {
    /// Runs the hooks of `event` in `record`, recording each start in storage; `record` holds
    /// their outcomes (`last_run`) afterwards, for the caller to record with the release.
    pub async fn run(&self, record: &mut Record, event: &str) -> Result<(), Error> {
        self.run_selected(record, event, &|_| true).await
    }

    /// As [`Self::run`], for the hooks whose object name `selected` accepts (`helm test
    /// --filter`); the others are left as they are, their last runs included.
    pub async fn run_selected(
        &self,
        record: &mut Record,
        event: &str,
        selected: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(), Error> {
        let mut order = order(&record.release.hooks, event);
        order.retain(|&i| selected(&record.release.hooks[i].name));
        for (n, &i) in order.iter().enumerate() {
            let running = Running::of(record, i, event);
            let hook = &mut record.release.hooks[i];
            if hook.delete_policies.is_empty() {
                hook.delete_policies = vec![BEFORE_HOOK_CREATION.into()];
            }
            let kind = hook.kind.clone();
            let policies = hook.delete_policies.clone();
            let (objects, ids) = self.resolve(&running, &hook.manifest).await?;
            if has(&policies, BEFORE_HOOK_CREATION) {
                self.delete(&running, &kind, &ids).await?;
            }
            record.release.hooks[i].last_run = HookExecution {
                started_at: Some(now()),
                completed_at: None,
                phase: "Running".into(),
            };
            *record = self.storage.update(record).await?;
            let outcome = self.apply_and_wait(&running, &objects, &ids).await;
            let last_run = &mut record.release.hooks[i].last_run;
            last_run.completed_at = Some(now());
            if let Err(e) = outcome {
                last_run.phase = "Failed".into();
                if has(&policies, HOOK_FAILED) {
                    // As Helm: a failure to clean up does not hide why the hook failed.
                    let _ = self.delete(&running, &kind, &ids).await;
                }
                for &j in &order[..n] {
                    self.delete_by_policy(record, j, event, HOOK_SUCCEEDED)
                        .await?;
                }
                return Err(e);
            }
            last_run.phase = "Succeeded".into();
        }
        for &i in order.iter().rev() {
            self.delete_by_policy(record, i, event, HOOK_SUCCEEDED)
                .await?;
        }
        Ok(())
    }

    async fn delete_by_policy(
        &self,
        record: &Record,
        i: usize,
        event: &str,
        policy: &str,
    ) -> Result<(), Error> {
        let hook = &record.release.hooks[i];
        if !has(&hook.delete_policies, policy) {
            return Ok(());
        }
        let running = Running::of(record, i, event);
        let (_, ids) = self.resolve(&running, &hook.manifest).await?;
        self.delete(&running, &hook.kind, &ids).await
    }

    /// A hook's objects and their identities.
    async fn resolve(
        &self,
        running: &Running,
        manifest: &str,
    ) -> Result<(Vec<Object>, Vec<ObjectRef>), Error> {
        let objects = self.objects(running, manifest)?;
        let ids = self
            .applier
            .resolve(&objects, &ApplyOptions::default())
            .await
            .map_err(running.apply("resolve"))?;
        Ok((objects, ids))
    }

    fn objects(&self, running: &Running, manifest: &str) -> Result<Vec<Object>, Error> {
        let manifest_error = |source| Error::Manifest {
            name: running.name.clone(),
            namespace: running.namespace.clone(),
            revision: running.revision,
            event: running.event.clone(),
            path: running.path.clone(),
            source,
        };
        // Hooks are not release objects: Helm leaves them unlabelled.
        gitops_core::object::parse_yaml(&running.path, manifest).map_err(manifest_error)
    }

    /// Deletes the hook's objects whoever labelled them (a hook is named by its chart, as in
    /// Helm), and waits until they are gone.
    async fn delete(&self, running: &Running, kind: &str, ids: &[ObjectRef]) -> Result<(), Error> {
        if kind == "CustomResourceDefinition" {
            return Ok(());
        }
        self.applier
            .delete(ids, &ApplyOptions::default())
            .await
            .map_err(running.apply("delete"))?;
        self.poll(running, ids, |report| {
            let left: Vec<String> = report
                .objects
                .iter()
                .filter(|h| h.status != HealthStatus::NotFound)
                .map(|h| h.id.to_string())
                .collect();
            if left.is_empty() {
                Ok(true)
            } else {
                Err(format!("still there: {}", left.join(", ")))
            }
        })
        .await
    }

    async fn apply_and_wait(
        &self,
        running: &Running,
        objects: &[Object],
        ids: &[ObjectRef],
    ) -> Result<(), Error> {
        self.applier
            .apply(objects, &ApplyOptions::default())
            .await
            .map_err(running.apply("apply"))?;
        // As Helm's WatchUntilReady: only Jobs and Pods are awaited; any other hook object is
        // ready once applied.
        let jobs: Vec<ObjectRef> = ids
            .iter()
            .filter(|id| id.group == "batch" && id.kind == "Job")
            .cloned()
            .collect();
        let pods: Vec<&ObjectRef> = ids
            .iter()
            .filter(|id| id.group.is_empty() && id.kind == "Pod")
            .collect();
        let deadline = Instant::now() + self.timeout;
        loop {
            let mut waiting: Vec<String> = Vec::new();
            if !jobs.is_empty() {
                let report = self
                    .applier
                    .wait(&jobs, Duration::ZERO)
                    .await
                    .map_err(running.apply("wait"))?;
                for h in &report.objects {
                    match h.status {
                        HealthStatus::Current => {}
                        HealthStatus::Failed => {
                            return Err(running.failed(format!("{}: {}", h.id, h.message)));
                        }
                        _ => waiting.push(format!("{}: {}", h.id, h.message)),
                    }
                }
            }
            // kstatus calls a running, ready Pod current; a hook Pod must have finished.
            for id in &pods {
                match self.pod_phase(running, id).await?.as_deref() {
                    Some("Succeeded") => {}
                    Some("Failed") => return Err(running.failed(format!("{id}: pod failed"))),
                    phase => waiting.push(format!("{id}: phase {}", phase.unwrap_or("unknown"))),
                }
            }
            if waiting.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(running.failed(format!(
                    "not finished after {} s: {}",
                    self.timeout.as_secs(),
                    waiting.join("; ")
                )));
            }
            tokio::time::sleep(self.applier.options().poll_interval).await;
        }
    }

    async fn pod_phase(&self, running: &Running, id: &ObjectRef) -> Result<Option<String>, Error> {
        let api: kube::Api<Pod> = kube::Api::namespaced(
            self.applier.client().clone(),
            id.namespace.as_deref().unwrap_or(&running.namespace),
        );
        let pod = api
            .get_opt(&id.name)
            .await
            .map_err(|source| Error::ReadPod {
                name: running.name.clone(),
                namespace: running.namespace.clone(),
                revision: running.revision,
                event: running.event.clone(),
                path: running.path.clone(),
                pod: id.to_string(),
                source,
            })?;
        Ok(pod.and_then(|p| p.status).and_then(|s| s.phase))
    }

    /// Polls health until `done` says so or the timeout passes (its last complaint is the
    /// error).
    async fn poll(
        &self,
        running: &Running,
        ids: &[ObjectRef],
        done: impl Fn(&gitops_core::HealthReport) -> Result<bool, String>,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + self.timeout;
        loop {
            let report = self
                .applier
                .wait(ids, Duration::ZERO)
                .await
                .map_err(running.apply("wait"))?;
            match done(&report) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(complaint) if Instant::now() >= deadline => {
                    return Err(
                        running.failed(format!("after {} s: {complaint}", self.timeout.as_secs()))
                    );
                }
                Err(_) => {}
            }
            tokio::time::sleep(self.applier.options().poll_interval).await;
        }
    }
}

/// The indices of the hooks of `event`, in the order they run: by weight, then name; equal
/// ones keep their rendered order (a stable sort, as Helm's).
fn order(hooks: &[Hook], event: &str) -> Vec<usize> {
    let mut order: Vec<usize> = (0..hooks.len())
        .filter(|&i| hooks[i].events.iter().any(|e| e == event))
        .collect();
    order.sort_by(|&a, &b| {
        (hooks[a].weight, &hooks[a].name).cmp(&(hooks[b].weight, &hooks[b].name))
    });
    order
}

fn has(policies: &[String], policy: &str) -> bool {
    policies.iter().any(|p| p == policy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(name: &str, weight: i64, events: &[&str]) -> Hook {
        Hook {
            name: name.into(),
            kind: "ConfigMap".into(),
            weight,
            events: events.iter().map(|e| (*e).to_owned()).collect(),
            ..Hook::default()
        }
    }

    #[test]
    fn hooks_run_by_weight_then_name_and_only_for_their_event() {
        let hooks = [
            hook("b", 0, &["pre-install"]),
            hook("z", -3, &["pre-install", "pre-upgrade"]),
            hook("a", 0, &["pre-install"]),
            hook("c", 7, &["post-install"]),
            hook("a", 0, &["pre-install"]),
            hook("m", 2, &["pre-install"]),
        ];
        assert_eq!(order(&hooks, "pre-install"), [1, 2, 4, 0, 5]);
        assert_eq!(order(&hooks, "pre-upgrade"), [1]);
        assert_eq!(order(&hooks, "test"), [] as [usize; 0]);
    }
}
