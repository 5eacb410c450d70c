//! Where a chart comes from, and the chart read from there: shared by the HelmRelease pass
//! (`spec.chart` and `spec.chartRef`) and the HelmChart pass (`spec.sourceRef`).
//!
//! - **A HelmRepository** (`spec.chart.spec.sourceRef`, a HelmChart's `sourceRef`): the newest
//!   version matching the constraint, from its stored index and downloaded once per name,
//!   version and digest into `<storage>/helmchart/`; or, for `type: oci`, pulled from the
//!   registry (`<url>/<chart>`, tags as versions) with the Secret's login and `insecure` as
//!   plain HTTP, the archive cached by its layer digest (a pass costs the tag list and the
//!   manifest).
//! - **A GitRepository**: the chart directory at the path `spec.chart` inside its artifact,
//!   packed as `helm package` does (`.helmignore` honoured). `reconcileStrategy: Revision` sets
//!   the version's build metadata to the commit's first 12 hex digits (`1.0.0+0123456789ab`),
//!   so every commit is a new version, as source-controller does.
//! - **An artifact** (`spec.chartRef`): the chart archive a HelmChart or an OCIRepository
//!   stored. For an OCIRepository the version gets the first 12 hex digits of the manifest
//!   digest as build metadata (a moved tag is a new version), and the tag must be the chart's
//!   version, as helm-controller requires.
//!
//! A source that is missing or not ready is a retry with Flux's message
//! (`HelmChart 'ns/name' is not ready: does not have an artifact`); a chart that cannot be
//! loaded stalls (only a change to it helps).
//!
//! Not supported: Bucket sources; charts from Git whose dependencies are not vendored under
//! `charts/` (no `helm dependency build`); a HelmChart's `valuesFiles`.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use gitops_flux::{FluxObject, GitRepository, HelmChart, HelmRepository, OCIRepository};
use gitops_helm::Chart;
use gitops_helm::repository::{ChartVersion, OciRepository, choose, read_chart_versions};
use gitops_registry::{Credentials, DockerConfig};

use crate::context::{Ctx, get, secret_data};
use crate::engine::{Key, Kind};
use crate::outcome::Failure;
use crate::translate;

/// Where a chart comes from.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Origin {
    /// A chart of a HelmRepository, by name and version constraint.
    Repository {
        /// The HelmRepository.
        source: Key,
        /// The chart's name.
        chart: String,
        /// The version constraint (`*` when empty).
        version: String,
    },
    /// A chart directory inside a GitRepository's artifact.
    Git {
        /// The GitRepository.
        source: Key,
        /// The directory, relative to the repository's root.
        path: String,
        /// `reconcileStrategy: Revision`: the commit is part of the version.
        revision_in_version: bool,
    },
    /// The chart archive a HelmChart or an OCIRepository stored (`spec.chartRef`).
    Artifact {
        /// The HelmChart or OCIRepository.
        source: Key,
    },
}

impl Origin {
    /// The origin a chart template names: `kind`/`namespace`/`name` of its `sourceRef`, the
    /// chart (a name, or a path for Git), the version constraint and the reconcile strategy.
    ///
    /// # Errors
    /// A stalled [`Failure`] for a kind that holds no charts or is not supported, or an
    /// unknown strategy.
    pub(crate) fn of_template(
        kind: &str,
        source: (&str, &str),
        chart: &str,
        version: Option<&str>,
        strategy: Option<&str>,
    ) -> Result<Origin, Failure> {
        let (namespace, name) = source;
        let revision_in_version = match strategy.map(str::trim).filter(|s| !s.is_empty()) {
            None | Some("ChartVersion") => false,
            Some("Revision") => true,
            Some(other) => {
                return Err(Failure::stalled(
                    "InvalidChartReference",
                    format!("reconcileStrategy {other:?} is not one of ChartVersion, Revision"),
                ));
            }
        };
        match kind {
            "HelmRepository" => Ok(Origin::Repository {
                source: Key::new(Kind::HelmRepository, namespace, name),
                chart: chart.to_string(),
                version: version.unwrap_or_default().trim().to_string(),
            }),
            "GitRepository" => Ok(Origin::Git {
                source: Key::new(Kind::GitRepository, namespace, name),
                path: chart.to_string(),
                revision_in_version,
            }),
            "Bucket" => Err(Failure::stalled(
                "InvalidChartReference",
                "sourceRef kind Bucket is not supported by this controller",
            )),
            other => Err(Failure::stalled(
                "InvalidChartReference",
                format!(
                    "sourceRef kind {other:?} is not one of HelmRepository, GitRepository, Bucket"
                ),
            )),
        }
    }

    /// The object the chart is read from.
    pub(crate) fn source(&self) -> &Key {
        match self {
            Origin::Repository { source, .. }
            | Origin::Git { source, .. }
            | Origin::Artifact { source } => source,
        }
    }
}

/// A chart read from its origin.
pub(crate) struct Resolved {
    /// The chart's name.
    pub(crate) name: String,
    /// Its version as recorded (with build metadata for a Git revision or an OCI digest).
    pub(crate) version: String,
    /// The chart, loaded.
    pub(crate) chart: Chart,
    /// The chart's archive, as a HelmChart stores it.
    pub(crate) archive: Arc<Vec<u8>>,
    /// The source's revision it was read at.
    pub(crate) source_revision: String,
    /// For an OCIRepository: the manifest digest of that revision (helm-controller's
    /// `lastAttemptedRevisionDigest`).
    pub(crate) oci_digest: Option<String>,
}

/// Reads the chart of `origin` for the object `user`.
///
/// # Errors
/// A retry [`Failure`] (reason `ArtifactFailed`) while the source is missing, not ready or
/// unreachable; a stalled one when the chart cannot be loaded or references are refused.
pub(crate) async fn resolve(ctx: &Ctx, user: &Key, origin: &Origin) -> Result<Resolved, Failure> {
    let source = origin.source();
    if ctx.no_cross_namespace_refs && source.namespace != user.namespace {
        return Err(Failure::stalled(
            "AccessDenied",
            format!(
                "cannot access {}: cross-namespace references are disabled (--no-cross-namespace-refs)",
                shown(source)
            ),
        ));
    }
    match origin {
        Origin::Repository {
            source,
            chart,
            version,
        } => from_repository(ctx, source, chart, version).await,
        Origin::Git {
            source,
            path,
            revision_in_version,
        } => from_git(ctx, source, path, *revision_in_version).await,
        Origin::Artifact { source } => from_artifact(ctx, source).await,
    }
}

/// `Kind 'namespace/name'`, as Flux names a source in messages.
fn shown(key: &Key) -> String {
    format!("{} '{}/{}'", key.kind.as_str(), key.namespace, key.name)
}

fn not_ready(why: String) -> Failure {
    Failure::retry("ArtifactFailed", why)
}

fn unloadable(error: &gitops_helm::Error) -> Failure {
    Failure::stalled(
        "ArtifactFailed",
        format!(
            "Could not load chart: {}",
            gitops_core::reconcile::error_chain(error)
        ),
    )
}

/// The source object `key` names, or why it cannot be read (a retry: it may appear).
async fn source_object<K>(ctx: &Ctx, key: &Key) -> Result<K, Failure>
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    match get::<K>(ctx, key).await {
        Ok(Some(object)) => Ok(object),
        Ok(None) => Err(not_ready(format!("{} not found", shown(key)))),
        Err(error) => Err(not_ready(format!("reading {}: {error}", shown(key)))),
    }
}

/// `artifact` when `object` is ready to be read from, or Flux's message saying why not.
fn ready_artifact<K: FluxObject, A>(
    key: &Key,
    object: &K,
    artifact: Option<A>,
) -> Result<A, Failure> {
    let why = if object.observed_generation() != object.meta().generation {
        match object.ready() {
            Some(ready) if ready.status == "False" => ready.message.clone(),
            _ => "latest generation of object has not been reconciled".into(),
        }
    } else {
        match artifact {
            Some(artifact) => return Ok(artifact),
            None => "does not have an artifact".into(),
        }
    };
    Err(not_ready(format!("{} is not ready: {why}", shown(key))))
}

async fn from_repository(
    ctx: &Ctx,
    source: &Key,
    chart: &str,
    constraint: &str,
) -> Result<Resolved, Failure> {
    let repo: HelmRepository = source_object(ctx, source).await?;
    let plan = translate::helm_repository(&repo.spec)
        .map_err(|e| Failure::stalled(e.reason(), e.to_string()))?;
    if plan.oci {
        return from_registry(ctx, source, &repo, chart, constraint).await;
    }
    let artifact = repo.status.as_ref().and_then(|s| s.artifact.clone());
    let (Some(artifact), true) = (artifact, repo.is_ready()) else {
        let why = repo
            .ready()
            .map(|c| c.message.clone())
            .unwrap_or_else(|| "no index stored yet".into());
        return Err(not_ready(format!("{} is not ready: {why}", shown(source))));
    };

    // The version, from the stored index.
    let index = ctx.storage.join(&artifact.path);
    let (name, wanted) = (chart.to_string(), constraint.to_string());
    let chosen = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&index)
            .map_err(|e| format!("reading the stored index {}: {e}", index.display()))?;
        let versions = read_chart_versions(BufReader::new(file), &name)
            .map_err(|e| gitops_core::reconcile::error_chain(&e))?;
        choose(&versions, &wanted)
            .cloned()
            .map_err(|e| gitops_core::reconcile::error_chain(&e))
    })
    .await
    .map_err(|e| not_ready(format!("reading the index: {e}")))?;
    let version = chosen.map_err(|why| {
        not_ready(format!(
            "invalid chart reference: failed to get chart version for remote reference in {}: {why}",
            shown(source)
        ))
    })?;

    // The archive, cached by name, version and digest.
    let cached = cache_path(&ctx.storage, &version);
    let data = match cached.as_ref().map(std::fs::read) {
        Some(Ok(data)) => data,
        _ => {
            let repository = crate::helm_repositories::repository_for(ctx, source, &plan)
                .await
                .map_err(|e| not_ready(format!("{}: {e:#}", shown(source))))?;
            let data = repository.download(&version).await.map_err(|e| {
                not_ready(format!(
                    "Could not load chart: {}",
                    gitops_core::reconcile::error_chain(&e)
                ))
            })?;
            if let Some(path) = &cached {
                store_cached(path, &data);
            }
            data
        }
    };
    let loaded = load(
        format!("{}-{}.tgz", version.name, version.version),
        Arc::new(data),
    )
    .await?;
    Ok(Resolved {
        name: version.name,
        version: version.version,
        chart: loaded.0,
        archive: loaded.1,
        source_revision: artifact.revision,
        oci_digest: None,
    })
}

/// A chart of a HelmRepository of `type: oci`: `<url>/<chart>` in the registry.
async fn from_registry(
    ctx: &Ctx,
    source: &Key,
    repo: &HelmRepository,
    chart: &str,
    constraint: &str,
) -> Result<Resolved, Failure> {
    let url = format!("{}/{chart}", repo.spec.url.trim_end_matches('/'));
    let pulled = async {
        let mut registry = OciRepository::new(&url)?.with_plain_http(repo.spec.insecure);
        if let Some(secret) = &repo.spec.secret_ref {
            let credentials = registry_credentials(ctx, &source.namespace, &secret.name).await?;
            registry = registry.with_credentials(credentials);
        }
        // The archive is cached by its layer digest: an unchanged chart is not downloaded again.
        let pulled = registry
            .pull_matching_cached(constraint, |layer| {
                oci_cache_path(&ctx.storage, layer).and_then(|p| std::fs::read(p).ok())
            })
            .await?;
        if let Some(path) = oci_cache_path(&ctx.storage, &pulled.layer)
            && !path.is_file()
        {
            store_cached(&path, &pulled.archive);
        }
        anyhow::Ok(pulled)
    }
    .await
    .map_err(|e| {
        not_ready(format!(
            "invalid chart reference: failed to get chart version for remote reference in {}: {e:#}",
            shown(source)
        ))
    })?;
    let (chart, archive) = load(
        format!("{chart}-{}.tgz", pulled.version),
        Arc::new(pulled.archive),
    )
    .await?;
    Ok(Resolved {
        name: chart.name().to_string(),
        version: pulled.version.clone(),
        chart,
        archive,
        source_revision: pulled.version,
        oci_digest: None,
    })
}

/// The login of a registry Secret: a `kubernetes.io/dockerconfigjson` Secret's
/// `.dockerconfigjson`, or `username` and `password` keys.
///
/// # Errors
/// The Secret cannot be read or holds neither.
pub(crate) async fn registry_credentials(
    ctx: &Ctx,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Credentials> {
    let data = secret_data(ctx, namespace, name).await?;
    let field = |wanted: &str| {
        data.iter()
            .find(|(k, _)| k == wanted)
            .map(|(_, v)| v.as_slice())
    };
    if let Some(json) = field(".dockerconfigjson") {
        let config = DockerConfig::parse(json)
            .with_context(|| format!("Secret {namespace}/{name}: .dockerconfigjson"))?;
        return Ok(Credentials::DockerConfig(config));
    }
    match (field("username"), field("password")) {
        (Some(username), Some(password)) => Ok(Credentials::basic(
            String::from_utf8_lossy(username),
            String::from_utf8_lossy(password),
        )),
        _ => anyhow::bail!(
            "Secret {namespace}/{name} has neither .dockerconfigjson nor username and password"
        ),
    }
}

async fn from_git(
    ctx: &Ctx,
    source: &Key,
    path: &str,
    revision_in_version: bool,
) -> Result<Resolved, Failure> {
    let repo: GitRepository = source_object(ctx, source).await?;
    let artifact = ctx
        .artifacts
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(source)
        .cloned();
    let artifact = ready_artifact(source, &repo, artifact)?;
    let revision = artifact.revision.to_string();
    let build = revision_in_version.then(|| {
        let hex = revision.rsplit(':').next().unwrap_or(&revision);
        hex.get(..12).unwrap_or(hex).to_string()
    });
    let lock = ctx.artifact_lock(source);
    // The fetch that replaces the artifact waits for this read.
    let _reading = lock.read().await;
    let root = artifact.path.clone();
    let wanted = path.to_string();
    let packed = tokio::task::spawn_blocking(move || {
        let dir = chart_dir(&root, &wanted)?;
        gitops_helm::chart::package(&dir, build.as_deref()).map_err(|e| unloadable(&e))
    })
    .await
    .map_err(|e| not_ready(format!("packing the chart: {e}")))??;
    let (chart, archive) = packed;
    Ok(Resolved {
        name: chart.name().to_string(),
        version: chart.metadata.version.clone(),
        chart,
        archive: Arc::new(archive),
        source_revision: revision,
        oci_digest: None,
    })
}

/// The chart directory `path` inside the artifact tree `root`; a path leaving the tree (`..`,
/// a symbolic link pointing out) or naming no directory is refused.
fn chart_dir(root: &Path, path: &str) -> Result<PathBuf, Failure> {
    let refused = |why: &str| {
        Failure::stalled(
            "ArtifactFailed",
            format!("Could not load chart: path {path:?}: {why}"),
        )
    };
    let relative = path.trim_start_matches("./").trim_start_matches('/');
    let root = root
        .canonicalize()
        .map_err(|e| not_ready(format!("reading the artifact: {e}")))?;
    let dir = root
        .join(relative)
        .canonicalize()
        .map_err(|_| refused("no such directory in the source"))?;
    if !dir.starts_with(&root) {
        return Err(refused("leaves the source's tree"));
    }
    if !dir.is_dir() {
        return Err(refused("is not a directory"));
    }
    Ok(dir)
}

async fn from_artifact(ctx: &Ctx, source: &Key) -> Result<Resolved, Failure> {
    let (artifact, oci) = match source.kind {
        Kind::HelmChart => {
            let chart: HelmChart = source_object(ctx, source).await?;
            let artifact = chart.status.as_ref().and_then(|s| s.artifact.clone());
            (ready_artifact(source, &chart, artifact)?, false)
        }
        Kind::OCIRepository => {
            let repo: OCIRepository = source_object(ctx, source).await?;
            let artifact = repo.status.as_ref().and_then(|s| s.artifact.clone());
            (ready_artifact(source, &repo, artifact)?, true)
        }
        other => {
            return Err(Failure::stalled(
                "InvalidChartReference",
                format!(
                    "chartRef kind {:?} is not one of OCIRepository, HelmChart",
                    other.as_str()
                ),
            ));
        }
    };
    if Path::new(&artifact.path)
        .components()
        .any(|c| !matches!(c, std::path::Component::Normal(_)))
    {
        return Err(Failure::stalled(
            "ArtifactFailed",
            format!(
                "{}: artifact path {:?} leaves the storage",
                shown(source),
                artifact.path
            ),
        ));
    }
    let file = ctx.storage.join(&artifact.path);
    let data = tokio::fs::read(&file).await.map_err(|e| {
        not_ready(format!(
            "{}: reading the artifact {}: {e}",
            shown(source),
            file.display()
        ))
    })?;
    let (mut chart, archive) = load(format!("{}.tgz", source.name), Arc::new(data)).await?;
    let mut oci_digest = None;
    if oci {
        let (version, digest) = with_digest(&chart.metadata.version, &artifact.revision)
            .map_err(|why| Failure::stalled("ArtifactFailed", why))?;
        set_version(&mut chart, &version);
        oci_digest = Some(digest);
    }
    Ok(Resolved {
        name: chart.name().to_string(),
        version: chart.metadata.version.clone(),
        chart,
        archive,
        source_revision: artifact.revision,
        oci_digest,
    })
}

/// The chart version with the OCI revision's digest as build metadata, and that digest, as
/// helm-controller makes them: the revision is `<tag>@<algorithm>:<hex>` (the tag must be the
/// chart's version) or `<algorithm>:<hex>`.
fn with_digest(version: &str, revision: &str) -> Result<(String, String), String> {
    let digest = match revision.split_once('@') {
        Some((tag, digest)) => {
            let plain = |v: &str| v.trim_start_matches('v').replace('_', "+");
            if plain(tag) != plain(version) {
                return Err(format!(
                    "artifact revision {tag} does not match chart version {version}"
                ));
            }
            digest
        }
        None => revision,
    };
    let hex = match digest.split_once(':') {
        Some((_, hex)) if hex.len() >= 12 => &hex[..12],
        _ => return Err(format!("invalid artifact revision {digest}")),
    };
    let core = version.split_once('+').map_or(version, |(core, _)| core);
    Ok((format!("{core}+{hex}"), digest.to_string()))
}

fn set_version(chart: &mut Chart, version: &str) {
    chart.metadata.version = version.to_string();
    chart
        .metadata
        .raw
        .insert("version".into(), serde_json::Value::String(version.into()));
}

/// Loads a chart archive (on a blocking thread: unpacking is CPU work).
async fn load(name: String, data: Arc<Vec<u8>>) -> Result<(Chart, Arc<Vec<u8>>), Failure> {
    let bytes = Arc::clone(&data);
    let chart =
        tokio::task::spawn_blocking(move || gitops_helm::chart::load_archive(&name, &bytes))
            .await
            .map_err(|e| not_ready(format!("loading the chart: {e}")))?
            .map_err(|e| unloadable(&e))?;
    Ok((chart, data))
}

/// Where a chart archive is cached: only when the index gives its digest (a download is
/// checked against it, so the file is the archive the index names).
fn cache_path(storage: &Path, version: &ChartVersion) -> Option<PathBuf> {
    let digest = version.digest.as_deref()?.trim_start_matches("sha256:");
    let safe = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.+".contains(c))
    };
    if !(safe(&version.name) && safe(&version.version) && safe(digest)) || version.name == ".." {
        return None;
    }
    Some(storage.join("helmchart").join(format!(
        "{}-{}-{}.tgz",
        version.name, version.version, digest
    )))
}

/// Where a chart archive pulled from a registry is cached: by the digest of its layer (the
/// registry client checked the archive against it).
fn oci_cache_path(storage: &Path, layer: &str) -> Option<PathBuf> {
    let hex = layer.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| storage.join("helmchart").join(format!("oci-{hex}.tgz")))
}

/// Writes a cache entry through a temporary file of its own (two passes may download the same
/// chart at once); a failure only costs a later download.
fn store_cached(path: &Path, data: &[u8]) {
    if let Err(error) = crate::context::write_atomically(path, data) {
        tracing::warn!(%error, path = %path.display(), "caching the chart failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_oci_revision_becomes_build_metadata_and_a_tag_must_be_the_version() {
        let hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            with_digest("1.2.0", &format!("1.2.0@sha256:{hex}")).expect("matching tag"),
            ("1.2.0+0123456789ab".into(), format!("sha256:{hex}"))
        );
        assert_eq!(
            with_digest("1.2.0+old", &format!("sha256:{hex}")).expect("digest only"),
            ("1.2.0+0123456789ab".into(), format!("sha256:{hex}"))
        );
        assert_eq!(
            with_digest("1.2.0", &format!("1.3.0@sha256:{hex}")).expect_err("another tag"),
            "artifact revision 1.3.0 does not match chart version 1.2.0"
        );
        assert!(with_digest("1.2.0", "sha256:abc").is_err());
    }

    #[test]
    fn a_template_names_its_origin_and_refuses_what_holds_no_charts() {
        let origin = Origin::of_template(
            "GitRepository",
            ("flux-system", "fleet"),
            "./charts/web",
            None,
            Some("Revision"),
        )
        .expect("a Git chart");
        assert_eq!(
            origin,
            Origin::Git {
                source: Key::new(Kind::GitRepository, "flux-system", "fleet"),
                path: "./charts/web".into(),
                revision_in_version: true,
            }
        );
        let repository = Origin::of_template(
            "HelmRepository",
            ("apps", "charts"),
            "web",
            Some(" 1.x "),
            None,
        )
        .expect("a repository chart");
        assert_eq!(
            repository,
            Origin::Repository {
                source: Key::new(Kind::HelmRepository, "apps", "charts"),
                chart: "web".into(),
                version: "1.x".into(),
            }
        );
        for (kind, strategy) in [
            ("Bucket", None),
            ("ConfigMap", None),
            ("GitRepository", Some("Often")),
        ] {
            let failure =
                Origin::of_template(kind, ("a", "b"), "c", None, strategy).expect_err("refused");
            assert!(failure.stalled, "{kind}");
        }
    }

    #[test]
    fn registry_archives_are_cached_only_under_a_sha256_digest() {
        let storage = Path::new("/storage");
        let hex = "ab".repeat(32);
        assert_eq!(
            oci_cache_path(storage, &format!("sha256:{hex}")),
            Some(storage.join(format!("helmchart/oci-{hex}.tgz")))
        );
        for bad in ["sha256:../../x", "sha512:ab", "sha256:abc", ""] {
            assert_eq!(oci_cache_path(storage, bad), None, "{bad}");
        }
    }

    #[test]
    fn a_chart_directory_stays_inside_the_source_tree() {
        let tree = tempfile::tempdir().expect("a tree");
        let root = tree.path().join("repo");
        std::fs::create_dir_all(root.join("charts/web")).expect("folders");
        assert!(chart_dir(&root, "./charts/web").is_ok());
        assert!(chart_dir(&root, "charts/web/").is_ok());
        for outside in ["../", "charts/../../", "charts/none"] {
            assert!(chart_dir(&root, outside).is_err(), "{outside}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(tree.path(), root.join("out")).expect("a link");
            let failure = chart_dir(&root, "out").expect_err("a link out of the tree");
            assert!(
                failure.message.contains("leaves the source's tree"),
                "{}",
                failure.message
            );
        }
    }
}
