//! `HelmRepository`: fetch the `index.yaml` of an HTTP(S) chart repository into storage and
//! publish it as the artifact, its revision the index's digest (`sha256:<hex>`), as
//! source-controller does.
//!
//! Supported: basic auth from `secretRef` (`username`, `password`), a CA from `certSecretRef`
//! (or, as older Flux versions had it, `secretRef`) `ca.crt`, `passCredentials`, `timeout`,
//! `suspend`. `type: oci` repositories have no index: they are marked Ready without an
//! artifact, and the charts are read from the registry by whoever uses them.
//! An unchanged index is not downloaded again: the `ETag`/`Last-Modified` of the stored one
//! (kept in memory, per generation of the spec) make the next fetch a conditional GET.
//! Not supported yet: client certificates (`tls.crt`/`tls.key`), `provider` workload identity.

use std::io::{BufReader, Seek};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use gitops_core::condition::Conditions;
use gitops_core::event::Severity;
use gitops_flux::HelmRepository;
use gitops_helm::repository::{HttpRepository, IndexDownload, IndexError, check_index};
use serde_json::json;

use crate::context::{Ctx, StoredArtifact, get, secret_data, suspended};
use crate::engine::{Key, Kind};
use crate::outcome::{Action, Failure};
use crate::translate::{self, HelmRepositoryPlan};

/// Why a downloaded index was not stored.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The document served is not a chart repository index.
    #[error("{url} is not a valid chart repository index")]
    Invalid {
        /// The index URL.
        url: String,
        /// Why.
        #[source]
        source: IndexError,
    },
    /// Writing the index to storage failed.
    #[error("storing the index in {}", path.display())]
    Write {
        /// The file written.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Flux's condition reason for it.
    fn reason(&self) -> &'static str {
        match self {
            StoreError::Invalid { .. } => "IndexationFailed",
            StoreError::Write { .. } => "StorageOperationFailed",
        }
    }
}

/// One pass; returns when to look again.
pub async fn reconcile(ctx: &Ctx, key: &Key) -> anyhow::Result<Action> {
    let Some(repo) = get::<HelmRepository>(ctx, key).await? else {
        return Ok(Action::AwaitChange);
    };
    if suspended(ctx, key, &repo) {
        return Ok(Action::AwaitChange);
    }
    let generation = repo.metadata.generation.unwrap_or_default();
    let now = SystemTime::now();
    let mut conditions = Conditions::new();

    // 1. The spec as a fetch's options; retrying the same spec cannot help.
    let plan = match translate::helm_repository(&repo.spec) {
        Ok(plan) => plan,
        Err(invalid) => {
            let failure = Failure::stalled(invalid.reason(), invalid.to_string());
            ctx.report_failure(key, &repo, &failure).await?;
            return Ok(Action::AwaitChange);
        }
    };
    let every = plan.interval;

    // 2. An OCI registry has no index: nothing to fetch or store.
    if plan.oci {
        ctx.succeeded(key);
        conditions.mark_ready("Succeeded", "Helm repository is ready", generation, now);
        ctx.write_status(Kind::HelmRepository, &repo, &conditions, json!({}))
            .await?;
        return Ok(Action::AwaitChange);
    }

    // 3. The repository with its credentials; a missing or unreadable Secret stalls.
    let repository = match repository_for(ctx, key, &plan).await {
        Ok(repository) => repository,
        Err(error) => {
            let failure = Failure::stalled("AuthenticationFailed", format!("{error:#}"));
            return ctx.fail_with_backoff(key, &repo, failure, every).await;
        }
    };

    // 4. Download the index (bounded by the spec's timeout), check it reads as an index and
    //    store it under its digest.
    let url = repository.index_url();
    // A conditional GET when the stored index is the one the validators were answered with,
    // for this generation of the spec: an unchanged index is then neither downloaded nor read.
    let previous = repo.status.as_ref().and_then(|s| s.artifact.clone());
    let validators = previous
        .as_ref()
        .filter(|p| ctx.storage.join(&p.path).is_file())
        .and_then(|p| {
            let known = ctx
                .index_validators
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            known
                .get(key)
                .filter(|(g, revision, _)| *g == generation && *revision == p.revision)
                .map(|(_, _, state)| state.clone())
        });
    let fetched = repository.fetch_index(validators.as_ref());
    let download = match tokio::time::timeout(plan.timeout, fetched).await {
        Ok(Ok(download)) => download,
        Ok(Err(error)) => {
            let message = format!(
                "failed to fetch Helm repository index: {}",
                gitops_core::reconcile::error_chain(&error)
            );
            let failure = Failure::retry("IndexationFailed", message);
            return ctx.fail_with_backoff(key, &repo, failure, every).await;
        }
        Err(_elapsed) => {
            let message = format!(
                "failed to fetch Helm repository index: GET {url}: timed out after {:?}",
                plan.timeout
            );
            let failure = Failure::retry("IndexationFailed", message);
            return ctx.fail_with_backoff(key, &repo, failure, every).await;
        }
    };
    let dir = ctx.storage_dir(key);
    let (path, digest, bytes) = match (download, &previous) {
        (
            IndexDownload::Fetched {
                file,
                digest,
                bytes,
                state,
            },
            _,
        ) => {
            let hex = digest.trim_start_matches("sha256:").to_string();
            let path = dir.join(format!("index-{hex}.yaml"));
            let stored = {
                let (url, path) = (url.clone(), path.clone());
                tokio::task::spawn_blocking(move || store(file, &url, &path)).await?
            };
            if let Err(error) = stored {
                let message = gitops_core::reconcile::error_chain(&error);
                let failure = Failure::retry(error.reason(), message);
                return ctx.fail_with_backoff(key, &repo, failure, every).await;
            }
            ctx.index_validators
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone(), (generation, digest.clone(), state));
            (path, digest, bytes)
        }
        // Asked only with the validators of the stored index: that one is still current.
        (IndexDownload::NotModified, Some(stored)) => {
            tracing::debug!(object = %key, revision = %stored.revision, "index not modified");
            let size = stored.size.unwrap_or_default();
            (
                ctx.storage.join(&stored.path),
                stored.revision.clone(),
                size,
            )
        }
        (IndexDownload::NotModified, None) => {
            let failure = Failure::retry(
                "IndexationFailed",
                format!("GET {url}: answered 304 Not Modified to a request without validators"),
            );
            return ctx.fail_with_backoff(key, &repo, failure, every).await;
        }
    };
    ctx.succeeded(key);

    // 5. Publish: status (the artifact and its URL) and, on a new revision, an event.
    let message = format!("stored artifact: revision '{digest}'");
    let previous = previous.as_ref();
    let unchanged = previous.is_some_and(|p| p.revision == digest);
    let artifact = ctx.publish_artifact(
        &mut conditions,
        &message,
        (generation, now),
        StoredArtifact {
            path: &path,
            revision: digest.clone(),
            digest: digest.clone(),
            size: bytes,
        },
        previous,
    );
    let artifact_url = artifact.url.clone();
    ctx.write_status(
        Kind::HelmRepository,
        &repo,
        &conditions,
        json!({ "artifact": artifact, "url": artifact_url }),
    )
    .await?;
    remove_other_indexes(&dir, &path);
    if !unchanged {
        ctx.metrics
            .add_fetch_bytes("HelmRepository", &key.namespace, &key.name, bytes);
        tracing::info!(object = %key, revision = %digest, "new index");
        ctx.notifications
            .announce(key, Severity::Info, "NewArtifact", &message, None)
            .await;
        crate::wakes::wake_dependents(ctx, key);
    }
    Ok(ctx.after_interval(key, every))
}

/// Checks that `file` reads as an index and writes it to `path` (through a temporary file in
/// the same folder, so a reader never sees half an index).
fn store(mut file: std::fs::File, url: &str, path: &Path) -> Result<(), StoreError> {
    let write = |source| StoreError::Write {
        path: path.to_path_buf(),
        source,
    };
    check_index(BufReader::new(&mut file)).map_err(|source| StoreError::Invalid {
        url: url.to_string(),
        source,
    })?;
    file.rewind().map_err(write)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(write)?;
    let temporary = path.with_extension("yaml.partial");
    let mut out = std::fs::File::create(&temporary).map_err(write)?;
    std::io::copy(&mut file, &mut out).map_err(write)?;
    out.sync_all().map_err(write)?;
    std::fs::rename(&temporary, path).map_err(write)
}

/// Removes the indexes of earlier revisions from `dir`, keeping `current`.
fn remove_other_indexes(dir: &Path, current: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if path != current && name.starts_with("index-") && name.ends_with(".yaml") {
            let _ = std::fs::remove_file(&path);
        }
    }
}

/// The repository of `plan`, with the credentials and CA of its Secrets.
pub(crate) async fn repository_for(
    ctx: &Ctx,
    key: &Key,
    plan: &HelmRepositoryPlan,
) -> anyhow::Result<HttpRepository> {
    let mut repository =
        HttpRepository::new(&plan.url)?.with_pass_credentials(plan.pass_credentials);
    let mut ca = None;
    if let Some(name) = &plan.secret {
        let data = secret_data(ctx, &key.namespace, name).await?;
        let field = |wanted: &str| {
            data.iter()
                .find(|(k, _)| k == wanted)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        match (field("username"), field("password")) {
            (Some(username), Some(password)) => {
                repository = repository.with_basic_auth(username, password);
            }
            (None, None) => {}
            _ => anyhow::bail!(
                "Secret {}/{name}: username and password go together",
                key.namespace
            ),
        }
        ca = data
            .into_iter()
            .find(|(k, _)| k == "ca.crt")
            .map(|(_, v)| v);
    }
    if let Some(name) = &plan.cert_secret {
        let data = secret_data(ctx, &key.namespace, name).await?;
        ca = data
            .into_iter()
            .find(|(k, _)| k == "ca.crt")
            .map(|(_, v)| v);
    }
    if let Some(pem) = ca {
        repository = repository.with_ca_pem(&pem)?;
    }
    Ok(repository)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_is_stored_whole_and_a_non_index_is_refused() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let index = "apiVersion: v1\nentries:\n  demo:\n  - {name: demo, version: 1.0.0}\n";
        let mut file = tempfile::tempfile().expect("a temporary file");
        std::io::Write::write_all(&mut file, index.as_bytes()).expect("written");
        file.rewind().expect("rewound");
        let path = dir.path().join("ns/name/index-abc.yaml");
        store(file, "http://h/index.yaml", &path).expect("stored");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), index);

        let mut file = tempfile::tempfile().expect("a temporary file");
        std::io::Write::write_all(&mut file, b"<html>not found</html>\n").expect("written");
        file.rewind().expect("rewound");
        let error = store(file, "http://h/index.yaml", &dir.path().join("other.yaml"))
            .expect_err("not an index");
        assert_eq!(error.reason(), "IndexationFailed");
        assert!(
            error
                .to_string()
                .contains("http://h/index.yaml is not a valid chart repository index"),
            "{error}"
        );

        std::fs::write(path.with_file_name("index-old.yaml"), "old").expect("written");
        remove_other_indexes(path.parent().expect("a folder"), &path);
        let left: Vec<_> = std::fs::read_dir(path.parent().expect("a folder"))
            .expect("listed")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["index-abc.yaml"]);
    }
}
