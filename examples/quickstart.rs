//! Quickstart: reconcile the bundled sample repository into a local folder. No server needed.
//!
//! ```text
//! cargo run --example quickstart [-- --out DIR]
//! ```
//!
//! It reads the Flux `Kustomization` objects in `clusters/vps` of the sample repository, orders
//! them by `dependsOn`, and runs one reconcile pass for each, writing one file per object below
//! `DIR/<kustomization>/`. Run it twice: the second run reports no changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use gitops::apply::{ApplyOptions, Drift};
use gitops::local::{DirectoryApplier, DirectorySource};
use gitops::reconcile::Options;
use gitops::render::RenderRequest;
use gitops::{
    Action, Applier, ChangeSet, Decryptor, Fetch, HealthReport, Object, ObjectRef, Reconciler,
    Renderer, Revision, Source, async_trait, schedule,
};

#[derive(Parser)]
#[command(about = "Reconcile the bundled sample repository into a local folder")]
struct Args {
    /// Where the rendered objects go, one folder per Kustomization.
    #[arg(long, default_value = "./quickstart-out")]
    out: PathBuf,
    /// The repository to reconcile (default: the bundled sample).
    #[arg(long)]
    repo: Option<PathBuf>,
    /// The cluster folder holding the Flux Kustomizations, relative to the repository.
    #[arg(long, default_value = "clusters/vps")]
    cluster: PathBuf,
    /// The age key file for SOPS-encrypted secrets (default: the bundled test key).
    #[arg(long)]
    age_key_file: Option<PathBuf>,
}

/// The parts of a Flux `Kustomization` the quickstart acts on.
struct Kustomization {
    id: ObjectRef,
    path: PathBuf,
    prune: bool,
    wait: bool,
    decrypt: bool,
    depends_on: Vec<String>,
    substitute: BTreeMap<String, String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let repo = args.repo.unwrap_or_else(|| examples.join("sample-repo"));
    let key_file = args
        .age_key_file
        .unwrap_or_else(|| examples.join("test-keys/quickstart.agekey"));

    let kustomizations = read_kustomizations(&repo.join(&args.cluster))?;
    let graph = kustomizations
        .iter()
        .map(|(name, k)| (name.clone(), k.depends_on.clone()))
        .collect();
    let order = schedule::dependency_order(&graph)?;
    println!(
        "repository {}\nreconciling {} in dependency order\n",
        repo.display(),
        order.join(" → ")
    );

    let source: Arc<dyn Source> = Arc::new(Progress(DirectorySource::new(&repo)));
    let renderer: Arc<dyn Renderer> = Arc::new(Progress(renderer()));
    let mut totals = ChangeSet::default();
    for name in &order {
        let k = &kustomizations[name];
        println!("Kustomization/{name} (path {})", k.path.display());
        let applier = DirectoryApplier::new(args.out.join(name));
        let mut reconciler = Reconciler::new(
            k.id.clone(),
            source.clone(),
            renderer.clone(),
            Arc::new(Progress(applier.clone())),
        )
        .with_inventory_store(Arc::new(applier))
        .with_options(
            Options::default()
                .with_path(k.path.clone())
                .with_prune(k.prune)
                .with_wait(k.wait)
                .with_timeout(Duration::from_secs(30))
                .with_substitute(k.substitute.clone()),
        );
        if k.decrypt {
            reconciler = reconciler.with_decryptor(decryptor(&key_file)?);
        }
        let last = last_revision(&args.out, name);
        match reconciler.reconcile(last.as_ref()).await {
            Ok(outcome) => {
                let c = &outcome.changes;
                println!(
                    "  ✔ {} in {:.1} ms: {} created, {} configured, {} unchanged, {} pruned\n",
                    outcome.revision.short(),
                    outcome.duration.as_secs_f64() * 1e3,
                    c.count(Action::Created),
                    c.count(Action::Configured),
                    c.count(Action::Unchanged),
                    c.count(Action::Deleted),
                );
                std::fs::write(
                    args.out.join(name).join(".last-revision"),
                    outcome.revision.to_string(),
                )?;
                totals.extend(outcome.changes);
            }
            Err(failure) => {
                bail!("Kustomization/{name}: {failure}: {}", chain(&failure.error));
            }
        }
    }
    if totals.has_changes() {
        println!(
            "done: {} objects in {}",
            totals.changes.len() - totals.count(Action::Deleted),
            args.out.display()
        );
        for change in totals
            .changes
            .iter()
            .filter(|c| c.action != Action::Unchanged)
        {
            println!("  {} {}", change.id, change.action);
        }
    } else {
        println!(
            "done: no changes, {} objects already up to date in {}",
            totals.changes.len(),
            args.out.display()
        );
    }
    Ok(())
}

fn read_kustomizations(dir: &Path) -> anyhow::Result<BTreeMap<String, Kustomization>> {
    let mut found = BTreeMap::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "yaml"))
    {
        let text = std::fs::read_to_string(file)?;
        for object in gitops::object::parse_yaml(&file.display().to_string(), &text)? {
            if object.id().kind != "Kustomization"
                || object.id().group != "kustomize.toolkit.fluxcd.io"
            {
                continue;
            }
            let spec = object.value().get("spec").cloned().unwrap_or_default();
            let str_at = |ptr: &str| {
                spec.pointer(ptr)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            let k = Kustomization {
                id: object.id().clone(),
                path: PathBuf::from(str_at("/path").unwrap_or_else(|| ".".into())),
                prune: spec.get("prune").and_then(|v| v.as_bool()).unwrap_or(false),
                wait: spec.get("wait").and_then(|v| v.as_bool()).unwrap_or(false),
                decrypt: str_at("/decryption/provider").as_deref() == Some("sops"),
                depends_on: spec
                    .get("dependsOn")
                    .and_then(|v| v.as_array())
                    .map(|deps| {
                        deps.iter()
                            .filter_map(|d| d.get("name")?.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default(),
                substitute: spec
                    .pointer("/postBuild/substitute")
                    .and_then(|v| v.as_object())
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                            .collect()
                    })
                    .unwrap_or_default(),
            };
            found.insert(object.id().name.clone(), k);
        }
    }
    Ok(found)
}

/// The native kustomize renderer when built in, else Flux's plain-YAML rendering.
fn renderer() -> impl Renderer {
    #[cfg(feature = "kustomize")]
    return gitops::kustomize::KustomizeRenderer::new();
    #[cfg(not(feature = "kustomize"))]
    return gitops::local::PlainRenderer::new();
}

#[cfg(not(feature = "sops"))]
fn decryptor(_key_file: &Path) -> anyhow::Result<Arc<dyn Decryptor>> {
    bail!("this Kustomization needs SOPS decryption: build with the `sops` feature")
}

#[cfg(feature = "sops")]
fn decryptor(key_file: &Path) -> anyhow::Result<Arc<dyn Decryptor>> {
    let text = std::fs::read_to_string(key_file)
        .with_context(|| format!("cannot read age key file {}", key_file.display()))?;
    let keys = gitops::sops::Keyring::from_identity_file(&key_file.display().to_string(), &text)?;
    Ok(Arc::new(gitops::sops::SopsDecryptor::new(keys)))
}

fn last_revision(out: &Path, name: &str) -> Option<Revision> {
    std::fs::read_to_string(out.join(name).join(".last-revision"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Prints one progress line per stage: a wrapper that implements the trait it wraps.
struct Progress<T>(T);

fn line(stage: &str, started: Instant, what: impl std::fmt::Display) {
    println!(
        "  {stage:<8} {what} ({:.1} ms)",
        started.elapsed().as_secs_f64() * 1e3
    );
}

#[async_trait]
impl<T: Source> Source for Progress<T> {
    async fn fetch(&self, last: Option<&Revision>) -> Result<Fetch, gitops::source::Error> {
        let started = Instant::now();
        let fetch = self.0.fetch(last).await?;
        let state = if fetch.is_updated() {
            "new"
        } else {
            "unchanged"
        };
        line(
            "fetch",
            started,
            format_args!("{} ({state})", fetch.artifact().revision.short()),
        );
        Ok(fetch)
    }
}

#[async_trait]
impl<T: Renderer> Renderer for Progress<T> {
    async fn render(&self, request: &RenderRequest) -> Result<Vec<Object>, gitops::render::Error> {
        let started = Instant::now();
        let objects = self.0.render(request).await?;
        line(
            "render",
            started,
            format_args!("{} objects from {}", objects.len(), request.path.display()),
        );
        Ok(objects)
    }
}

#[async_trait]
impl<T: Applier> Applier for Progress<T> {
    async fn apply(
        &self,
        objects: &[Object],
        options: &ApplyOptions,
    ) -> Result<ChangeSet, gitops::apply::Error> {
        let started = Instant::now();
        let changes = self.0.apply(objects, options).await?;
        let changed = changes.count(Action::Created) + changes.count(Action::Configured);
        line(
            "apply",
            started,
            format_args!(
                "{changed} changed, {} unchanged",
                changes.count(Action::Unchanged)
            ),
        );
        Ok(changes)
    }

    async fn resolve(
        &self,
        objects: &[Object],
        options: &ApplyOptions,
    ) -> Result<Vec<ObjectRef>, gitops::apply::Error> {
        // A wrapper forwards this too: the identities must be the wrapped applier's own.
        self.0.resolve(objects, options).await
    }

    async fn delete(
        &self,
        objects: &[ObjectRef],
        options: &ApplyOptions,
    ) -> Result<ChangeSet, gitops::apply::Error> {
        let started = Instant::now();
        let changes = self.0.delete(objects, options).await?;
        line(
            "prune",
            started,
            format_args!(
                "{} deleted, {} kept (prune disabled or not ours)",
                changes.count(Action::Deleted),
                changes.count(Action::Skipped)
            ),
        );
        Ok(changes)
    }

    async fn wait(
        &self,
        objects: &[ObjectRef],
        timeout: Duration,
    ) -> Result<HealthReport, gitops::apply::Error> {
        let started = Instant::now();
        let report = self.0.wait(objects, timeout).await?;
        let ready = report.objects.len() - report.not_ready().count();
        line(
            "health",
            started,
            format_args!("{ready}/{} ready", report.objects.len()),
        );
        Ok(report)
    }

    async fn diff(&self, objects: &[Object]) -> Result<Vec<Drift>, gitops::apply::Error> {
        self.0.diff(objects).await
    }
}
