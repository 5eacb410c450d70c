//! The commands that talk to a cluster where a controller reconciles Flux's objects, as the
//! `flux` CLI does: `get`, `reconcile source|kustomization|helmrelease|image`, `suspend`, `resume` and
//! `events`. `--kubeconfig` (else the environment's configuration), `-n` (default
//! `flux-system`); progress lines go to stderr like flux's; they exit 1 when the object failed
//! or the wait timed out.

use std::fmt::Debug;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Subcommand;
use gitops::flux::{
    Alert, FluxObject, GitRepository, HelmChart, HelmRelease, HelmRepository, ImagePolicy,
    ImageRepository, ImageUpdateAutomation, Kind, Kustomization, OCIRepository, Provider,
    REQUESTED_AT_ANNOTATION, Receiver,
};
use k8s_openapi::api::events::v1::Event as KubeEvent;
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde::de::DeserializeOwned;

use crate::local::LocalArgs;

#[derive(Subcommand)]
pub(crate) enum ReconcileCommand {
    /// Run one reconcile pass of a local folder into an output folder (rendered manifests).
    Local(LocalArgs),
    /// Ask for a reconcile of a source now (`reconcile.fluxcd.io/requestedAt`) and wait for it.
    #[command(subcommand)]
    Source(SourceTarget),
    /// Ask for a reconcile of a Kustomization now and wait for it.
    Kustomization {
        #[command(flatten)]
        target: TargetArgs,
        /// Reconcile the Kustomization's GitRepository first.
        #[arg(long)]
        with_source: bool,
    },
    /// Ask for a reconcile of an image object now and wait for it.
    #[command(subcommand)]
    Image(ImageTarget),
    /// Ask for a reconcile of a HelmRelease now and wait for it.
    #[command(name = "helmrelease", alias = "hr")]
    HelmRelease {
        #[command(flatten)]
        target: TargetArgs,
        /// Reconcile where its chart comes from first: the `chartRef` (HelmChart,
        /// OCIRepository) or the `spec.chart` source (HelmRepository, GitRepository).
        #[arg(long)]
        with_source: bool,
    },
}

/// The objects `suspend` and `resume` act on.
#[derive(Subcommand)]
pub(crate) enum TargetCommand {
    /// A Kustomization.
    Kustomization(TargetArgs),
    /// A source.
    #[command(subcommand)]
    Source(SourceTarget),
    /// An image object.
    #[command(subcommand)]
    Image(ImageTarget),
    /// A HelmRelease.
    #[command(name = "helmrelease", alias = "hr")]
    HelmRelease(TargetArgs),
}

#[derive(Subcommand)]
pub(crate) enum SourceTarget {
    /// A GitRepository.
    Git(TargetArgs),
    /// A HelmRepository.
    Helm(TargetArgs),
    /// A HelmChart.
    Chart(TargetArgs),
    /// An OCIRepository.
    Oci(TargetArgs),
}

#[derive(Subcommand)]
pub(crate) enum ImageTarget {
    /// An ImageRepository.
    Repository(TargetArgs),
    /// An ImageUpdateAutomation.
    Update(TargetArgs),
}

/// One object on a cluster.
#[derive(clap::Args)]
pub(crate) struct TargetArgs {
    /// The object's name.
    pub(crate) name: String,
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
}

/// How the Flux commands reach the cluster.
#[derive(clap::Args)]
pub(crate) struct ClusterArgs {
    /// The kubeconfig file; by default `KUBECONFIG`, `~/.kube/config` or the in-cluster account.
    #[arg(long)]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// The namespace of the objects.
    #[arg(short, long, default_value = "flux-system")]
    pub(crate) namespace: String,
    /// How long to wait for a reconciliation, or for the API server (`30s`, `5m`, `1h`).
    #[arg(long, default_value = "5m", value_parser = parse_timeout)]
    pub(crate) timeout: Duration,
}

impl ClusterArgs {
    pub(crate) async fn client(&self) -> anyhow::Result<Client> {
        crate::common::kube_client(self.kubeconfig.as_deref()).await
    }
}

/// `gitops get`, in the shapes of `flux get`.
#[derive(Subcommand)]
pub(crate) enum GetCommand {
    /// Every Flux object, one table per kind, names as `kind/name` (`flux get all`).
    All(GetFlags),
    /// Sources: `git` (GitRepository), `helm` (HelmRepository), `chart` (HelmChart), `oci`
    /// (OCIRepository) or `all`.
    #[command(subcommand, alias = "source")]
    Sources(GetSources),
    /// Kustomizations.
    #[command(alias = "kustomization", alias = "ks")]
    Kustomizations(GetFlags),
    /// HelmReleases.
    #[command(name = "helmreleases", alias = "helmrelease", alias = "hr")]
    HelmReleases(GetFlags),
    /// Image automation: `repository`, `policy`, `update` or `all`.
    #[command(subcommand, alias = "image")]
    Images(GetImages),
    /// Alerts.
    #[command(alias = "alert")]
    Alerts(GetFlags),
    /// Alert providers.
    #[command(name = "alert-providers", alias = "alert-provider")]
    AlertProviders(GetFlags),
    /// Receivers.
    #[command(alias = "receiver")]
    Receivers(GetFlags),
}

/// `gitops get sources KIND`.
#[derive(Subcommand)]
pub(crate) enum GetSources {
    /// GitRepository objects.
    Git(GetFlags),
    /// HelmRepository objects.
    Helm(GetFlags),
    /// HelmChart objects.
    Chart(GetFlags),
    /// OCIRepository objects.
    Oci(GetFlags),
    /// Every source kind, names as `kind/name`.
    All(GetFlags),
}

/// `gitops get images KIND`.
#[derive(Subcommand)]
pub(crate) enum GetImages {
    /// ImageRepository objects.
    Repository(GetFlags),
    /// ImagePolicy objects.
    Policy(GetFlags),
    /// ImageUpdateAutomation objects.
    Update(GetFlags),
    /// All three, names as `kind/name`.
    All(GetFlags),
}

/// What every `get` takes.
#[derive(clap::Args)]
pub(crate) struct GetFlags {
    /// Only the object of this name.
    name: Option<String>,
    /// List the objects of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Only objects whose condition of this type (any case) has this status, as `flux get`
    /// filters: `ready=false`, `stalled=true`. A missing condition counts as `Unknown`.
    #[arg(long, value_name = "CONDITION=STATUS", value_parser = parse_status_selector)]
    status_selector: Option<(String, String)>,
    #[command(flatten)]
    cluster: ClusterArgs,
}

fn parse_status_selector(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(condition, status)| (condition.trim().to_owned(), status.trim().to_owned()))
        .filter(|(condition, status)| !condition.is_empty() && !status.is_empty())
        .ok_or_else(|| format!("expected CONDITION=STATUS (ready=false), got {text:?}"))
}

/// Which objects one `get` lists: the kinds, in table order; whether names carry their kind
/// (several kinds at once); the word for "no objects found".
struct Selection {
    kinds: Vec<Kind>,
    several: bool,
    noun: &'static str,
}

impl GetCommand {
    fn selection(self) -> (Selection, GetFlags) {
        use Kind as K;
        let one = |kind: Kind, noun: &'static str, flags: GetFlags| {
            let selection = Selection {
                kinds: vec![kind],
                several: false,
                noun,
            };
            (selection, flags)
        };
        match self {
            GetCommand::All(flags) => (
                Selection {
                    kinds: Kind::ALL.to_vec(),
                    several: true,
                    noun: "Flux",
                },
                flags,
            ),
            GetCommand::Sources(GetSources::Git(flags)) => {
                one(K::GitRepository, "GitRepository", flags)
            }
            GetCommand::Sources(GetSources::Helm(flags)) => {
                one(K::HelmRepository, "HelmRepository", flags)
            }
            GetCommand::Sources(GetSources::Chart(flags)) => one(K::HelmChart, "HelmChart", flags),
            GetCommand::Sources(GetSources::Oci(flags)) => {
                one(K::OCIRepository, "OCIRepository", flags)
            }
            GetCommand::Sources(GetSources::All(flags)) => (
                Selection {
                    kinds: vec![
                        K::GitRepository,
                        K::HelmRepository,
                        K::HelmChart,
                        K::OCIRepository,
                    ],
                    several: true,
                    noun: "source",
                },
                flags,
            ),
            GetCommand::Kustomizations(flags) => one(K::Kustomization, "Kustomization", flags),
            GetCommand::HelmReleases(flags) => one(K::HelmRelease, "HelmRelease", flags),
            GetCommand::Images(GetImages::Repository(flags)) => {
                one(K::ImageRepository, "ImageRepository", flags)
            }
            GetCommand::Images(GetImages::Policy(flags)) => {
                one(K::ImagePolicy, "ImagePolicy", flags)
            }
            GetCommand::Images(GetImages::Update(flags)) => {
                one(K::ImageUpdateAutomation, "ImageUpdateAutomation", flags)
            }
            GetCommand::Images(GetImages::All(flags)) => (
                Selection {
                    kinds: vec![K::ImageRepository, K::ImagePolicy, K::ImageUpdateAutomation],
                    several: true,
                    noun: "image",
                },
                flags,
            ),
            GetCommand::Alerts(flags) => one(K::Alert, "Alert", flags),
            GetCommand::AlertProviders(flags) => one(K::Provider, "Provider", flags),
            GetCommand::Receivers(flags) => one(K::Receiver, "Receiver", flags),
        }
    }
}

/// What a `get` keeps of the objects it lists.
struct Filter {
    name: Option<String>,
    status: Option<(String, String)>,
}

impl Filter {
    fn keeps<K: FluxObject>(&self, object: &K) -> bool {
        let name = object.meta().name.as_deref().unwrap_or_default();
        if self.name.as_deref().is_some_and(|wanted| wanted != name) {
            return false;
        }
        match &self.status {
            None => true,
            Some((condition, status)) => {
                let found = object
                    .conditions()
                    .iter()
                    .find(|c| c.type_.eq_ignore_ascii_case(condition))
                    .map_or("Unknown", |c| c.status.as_str());
                found.eq_ignore_ascii_case(status)
            }
        }
    }
}

/// `gitops events`.
#[derive(clap::Args)]
pub(crate) struct EventsArgs {
    /// List the events of every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Only the events of this object, `Kind/name` (`Kustomization/apps`), whatever its kind.
    #[arg(long = "for", value_name = "KIND/NAME", value_parser = parse_object)]
    for_object: Option<(String, String)>,
    #[command(flatten)]
    cluster: ClusterArgs,
}

pub(crate) fn parse_timeout(text: &str) -> Result<Duration, String> {
    gitops::flux::parse_duration(text)
        .ok_or_else(|| format!("expected a duration like 30s, 5m or 1h30m, got {text:?}"))
}

fn parse_object(text: &str) -> Result<(String, String), String> {
    text.split_once('/')
        .filter(|(kind, name)| !kind.is_empty() && !name.is_empty())
        .map(|(kind, name)| (kind.to_owned(), name.to_owned()))
        .ok_or_else(|| format!("expected KIND/NAME, got {text:?}"))
}

/// Runs `reconcile`: a local pass, or a request to the cluster's controller.
pub(crate) async fn reconcile_command(command: ReconcileCommand) -> anyhow::Result<ExitCode> {
    match command {
        ReconcileCommand::Local(args) => crate::local::run(args).await,
        ReconcileCommand::Source(source) => reconcile(TargetCommand::Source(source), false).await,
        ReconcileCommand::Image(image) => reconcile(TargetCommand::Image(image), false).await,
        ReconcileCommand::HelmRelease {
            target,
            with_source,
        } => reconcile_helm_release(&target, with_source).await,
        ReconcileCommand::Kustomization {
            target,
            with_source,
        } => reconcile_kustomization(&target, with_source).await,
    }
}

/// Runs `resume`: unsuspend, then wait for a reconcile.
pub(crate) async fn resume_command(command: TargetCommand) -> anyhow::Result<ExitCode> {
    reconcile(command, true).await
}

/// Runs `suspend`.
pub(crate) async fn suspend_command(command: TargetCommand) -> anyhow::Result<ExitCode> {
    let (kind, target) = command.split();
    let client = target.cluster.client().await?;
    within(target.cluster.timeout, kind.suspend(target, &client)).await
}

/// Runs `get`.
pub(crate) async fn get_command(command: GetCommand) -> anyhow::Result<ExitCode> {
    let (selection, flags) = command.selection();
    let filter = Filter {
        name: flags.name,
        status: flags.status_selector,
    };
    within(
        flags.cluster.timeout,
        get(&selection, &filter, flags.all_namespaces, &flags.cluster),
    )
    .await
}

/// Runs `events`.
pub(crate) async fn events_command(args: EventsArgs) -> anyhow::Result<ExitCode> {
    within(
        args.cluster.timeout,
        events(args.all_namespaces, args.for_object, &args.cluster),
    )
    .await
}

/// What the cluster commands need of a Flux kind.
trait Flux: FluxObject + Clone + Debug + DeserializeOwned {}
impl<K: FluxObject + Clone + Debug + DeserializeOwned> Flux for K {}

fn kind_of<K: Flux>() -> String {
    K::kind(&()).into_owned()
}

/// Exit 1 when the object failed or the wait timed out (the `✗` line says which).
fn exit(ready: bool) -> ExitCode {
    if ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Bounds a command that only talks to the API server.
pub(crate) async fn within(
    timeout: Duration,
    command: impl Future<Output = anyhow::Result<ExitCode>>,
) -> anyhow::Result<ExitCode> {
    tokio::time::timeout(timeout, command)
        .await
        .with_context(|| format!("no answer from the API server within {timeout:?}"))?
}

/// `reconcile` (or `resume`) one object and wait for it.
async fn reconcile(command: TargetCommand, resume: bool) -> anyhow::Result<ExitCode> {
    let (kind, target) = command.split();
    let client = target.cluster.client().await?;
    let request = Request {
        resume,
        ..Request::reconcile(target)
    };
    Ok(exit(kind.run(request, &client).await?))
}

/// `reconcile kustomization`, after its GitRepository with `--with-source`, as flux does.
async fn reconcile_kustomization(
    target: &TargetArgs,
    with_source: bool,
) -> anyhow::Result<ExitCode> {
    let client = target.cluster.client().await?;
    if with_source {
        let ns = &target.cluster.namespace;
        let Some(kustomization) = read_target::<Kustomization>(&client, target).await? else {
            return Ok(ExitCode::FAILURE);
        };
        let source = &kustomization.spec.source_ref;
        anyhow::ensure!(
            source.kind == GitRepository::KIND,
            "--with-source reconciles GitRepository sources only, not {} {}",
            source.kind,
            source.name
        );
        let request = Request {
            namespace: source.namespace.as_deref().unwrap_or(ns),
            name: &source.name,
            ..Request::reconcile(target)
        };
        if !request.run::<GitRepository>(&client).await? {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(exit(
        Request::reconcile(target)
            .run::<Kustomization>(&client)
            .await?,
    ))
}

/// The object `target` names, or `None` after saying it is not there.
async fn read_target<K: Flux>(client: &Client, target: &TargetArgs) -> anyhow::Result<Option<K>> {
    let (ns, name, kind) = (&target.cluster.namespace, &target.name, kind_of::<K>());
    let read = Api::<K>::namespaced(client.clone(), ns).get(name).await;
    let object = found(read).with_context(|| format!("cannot read {kind} {ns}/{name}"))?;
    if object.is_none() {
        eprintln!("✗ {kind} {ns}/{name} not found");
    }
    Ok(object)
}

/// `reconcile helmrelease`, after where its chart comes from with `--with-source`.
async fn reconcile_helm_release(
    target: &TargetArgs,
    with_source: bool,
) -> anyhow::Result<ExitCode> {
    let client = target.cluster.client().await?;
    if with_source {
        let (ns, name) = (&target.cluster.namespace, &target.name);
        let Some(release) = read_target::<HelmRelease>(&client, target).await? else {
            return Ok(ExitCode::FAILURE);
        };
        let (kind, namespace, source) = match (&release.spec.chart_ref, &release.spec.chart) {
            (Some(reference), _) => (
                reference.kind.as_str(),
                reference.namespace.as_deref(),
                reference.name.as_str(),
            ),
            (None, Some(template)) => {
                let source = &template.spec.source_ref;
                (
                    source.kind.as_str(),
                    source.namespace.as_deref(),
                    source.name.as_str(),
                )
            }
            (None, None) => anyhow::bail!("HelmRelease {ns}/{name} names no chart source"),
        };
        let kind = match kind {
            "HelmRepository" => Target::HelmRepository,
            "GitRepository" => Target::GitRepository,
            "HelmChart" => Target::HelmChart,
            "OCIRepository" => Target::OCIRepository,
            other => anyhow::bail!("--with-source cannot reconcile a {other} ({source})"),
        };
        let request = Request {
            namespace: namespace.unwrap_or(ns),
            name: source,
            ..Request::reconcile(target)
        };
        if !kind.run(request, &client).await? {
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(exit(
        Request::reconcile(target)
            .run::<HelmRelease>(&client)
            .await?,
    ))
}

/// The kinds `suspend`, `resume` and `reconcile` act on.
#[derive(Clone, Copy)]
enum Target {
    GitRepository,
    HelmRepository,
    HelmChart,
    OCIRepository,
    Kustomization,
    HelmRelease,
    ImageRepository,
    ImageUpdateAutomation,
}

impl TargetCommand {
    fn split(&self) -> (Target, &TargetArgs) {
        match self {
            Self::Kustomization(target) => (Target::Kustomization, target),
            Self::Source(SourceTarget::Git(target)) => (Target::GitRepository, target),
            Self::Source(SourceTarget::Helm(target)) => (Target::HelmRepository, target),
            Self::Source(SourceTarget::Chart(target)) => (Target::HelmChart, target),
            Self::Source(SourceTarget::Oci(target)) => (Target::OCIRepository, target),
            Self::HelmRelease(target) => (Target::HelmRelease, target),
            Self::Image(ImageTarget::Repository(target)) => (Target::ImageRepository, target),
            Self::Image(ImageTarget::Update(target)) => (Target::ImageUpdateAutomation, target),
        }
    }
}

impl Target {
    async fn run(self, request: Request<'_>, client: &Client) -> anyhow::Result<bool> {
        match self {
            Self::GitRepository => request.run::<GitRepository>(client).await,
            Self::HelmRepository => request.run::<HelmRepository>(client).await,
            Self::HelmChart => request.run::<HelmChart>(client).await,
            Self::OCIRepository => request.run::<OCIRepository>(client).await,
            Self::Kustomization => request.run::<Kustomization>(client).await,
            Self::HelmRelease => request.run::<HelmRelease>(client).await,
            Self::ImageRepository => request.run::<ImageRepository>(client).await,
            Self::ImageUpdateAutomation => request.run::<ImageUpdateAutomation>(client).await,
        }
    }

    async fn suspend(self, target: &TargetArgs, client: &Client) -> anyhow::Result<ExitCode> {
        match self {
            Self::GitRepository => suspend::<GitRepository>(target, client).await,
            Self::HelmRepository => suspend::<HelmRepository>(target, client).await,
            Self::HelmChart => suspend::<HelmChart>(target, client).await,
            Self::OCIRepository => suspend::<OCIRepository>(target, client).await,
            Self::Kustomization => suspend::<Kustomization>(target, client).await,
            Self::HelmRelease => suspend::<HelmRelease>(target, client).await,
            Self::ImageRepository => suspend::<ImageRepository>(target, client).await,
            Self::ImageUpdateAutomation => suspend::<ImageUpdateAutomation>(target, client).await,
        }
    }
}

/// `spec.suspend: true`, by merge patch.
async fn suspend<K: Flux>(target: &TargetArgs, client: &Client) -> anyhow::Result<ExitCode> {
    let (ns, name, kind) = (&target.cluster.namespace, &target.name, kind_of::<K>());
    eprintln!("► suspending {kind} {name} in {ns} namespace");
    let patch = serde_json::json!({"spec": {"suspend": true}});
    let api = Api::<K>::namespaced(client.clone(), ns);
    let patched = api
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await;
    if found(patched)
        .with_context(|| format!("cannot suspend {kind} {ns}/{name}"))?
        .is_none()
    {
        eprintln!("✗ {kind} {ns}/{name} not found");
        return Ok(ExitCode::FAILURE);
    }
    eprintln!("✔ {kind} suspended");
    Ok(ExitCode::SUCCESS)
}

/// `None` when the API server answered 404, so that a mistyped name gets one line.
fn found<T>(result: Result<T, kube::Error>) -> Result<Option<T>, kube::Error> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(None),
        Err(error) => Err(error),
    }
}

/// How often a wait reads the object.
const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// A request for a reconcile of one object now, as `flux reconcile` and `flux resume` make it.
struct Request<'a> {
    namespace: &'a str,
    name: &'a str,
    timeout: Duration,
    /// Also set `spec.suspend: false` in the same patch (`resume`).
    resume: bool,
}

impl<'a> Request<'a> {
    fn reconcile(target: &'a TargetArgs) -> Self {
        Self {
            namespace: &target.cluster.namespace,
            name: &target.name,
            timeout: target.cluster.timeout,
            resume: false,
        }
    }

    /// Sets `reconcile.fluxcd.io/requestedAt` to a fresh token (and `spec.suspend: false` for
    /// `resume`), then waits until the controller handled that token and settled `Ready` for the
    /// current generation. `Ok(true)` when Ready is `True`; `Ok(false)` after printing why not
    /// (Ready `False`, suspended, timed out).
    async fn run<K: Flux>(&self, client: &Client) -> anyhow::Result<bool> {
        let Self {
            namespace: ns,
            name,
            timeout,
            resume,
        } = *self;
        let kind = kind_of::<K>();
        let api = Api::<K>::namespaced(client.clone(), ns);
        let Some(object) = found(api.get(name).await)
            .with_context(|| format!("cannot read {kind} {ns}/{name}"))?
        else {
            eprintln!("✗ {kind} {ns}/{name} not found");
            return Ok(false);
        };
        // Flux writes the time; any token that differs from the last handled one would do.
        let token = Timestamp::now().to_string();
        let mut patch =
            serde_json::json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: &token}}});
        if resume {
            eprintln!("► resuming {kind} {name} in {ns} namespace");
            patch["spec"] = serde_json::json!({"suspend": false});
        } else if object.suspended() {
            eprintln!("✗ {kind} {ns}/{name} is suspended: `gitops resume` it instead");
            return Ok(false);
        } else {
            eprintln!("► annotating {kind} {name} in {ns} namespace");
        }
        api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .with_context(|| format!("cannot annotate {kind} {ns}/{name}"))?;
        eprintln!("✔ {kind} {}", if resume { "resumed" } else { "annotated" });
        eprintln!("◎ waiting for {kind} reconciliation");

        let spinner = Spinner::start();
        let mut last = None;
        let waited = tokio::time::timeout(timeout, async {
            loop {
                let object = api
                    .get(name)
                    .await
                    .with_context(|| format!("cannot read {kind} {ns}/{name}"))?;
                if let Some(settled) = settled(&object, &token) {
                    return anyhow::Ok((settled, object));
                }
                last = Some(object);
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        })
        .await;
        drop(spinner);
        match waited {
            Ok(Ok((Ok(()), object))) => {
                eprintln!("✔ {kind} reconciliation completed");
                if let Some(line) = completed(&kind, object.revision()) {
                    eprintln!("✔ {line}");
                }
                Ok(true)
            }
            Ok(Ok((Err(message), _))) => {
                eprintln!("✗ {message}");
                Ok(false)
            }
            Ok(Err(error)) => Err(error),
            Err(_elapsed) => {
                eprintln!(
                    "✗ timed out after {timeout:?} waiting for {kind} {ns}/{name}: {}",
                    pending(last.as_ref(), &token)
                );
                Ok(false)
            }
        }
    }
}

/// Whether the controller handled the request `token` and settled `Ready` for the object's
/// current generation: `Ok` for `True`, `Err(message)` for `False`, `None` while pending.
fn settled<K: FluxObject>(object: &K, token: &str) -> Option<Result<(), String>> {
    let generation = object.meta().generation;
    let ready = object.ready()?;
    let current = object.last_handled_reconcile_at() == Some(token)
        && object.observed_generation() == generation
        && ready
            .observed_generation
            .is_none_or(|g| Some(g) == generation);
    match ready.status.as_str() {
        "True" if current => Some(Ok(())),
        "False" if current => Some(Err(one_line(&ready.message))),
        _ => None,
    }
}

/// Why a wait is still pending, for the time-out message.
fn pending<K: FluxObject>(object: Option<&K>, token: &str) -> String {
    let Some(object) = object else {
        return "the object was never read".into();
    };
    if object.last_handled_reconcile_at() != Some(token) {
        return format!(
            "no controller handled {REQUESTED_AT_ANNOTATION}={token} (is a controller running?)"
        );
    }
    let generation = object.meta().generation.unwrap_or_default();
    match object.ready() {
        _ if object.observed_generation() != Some(generation) => {
            format!("generation {generation} not observed yet")
        }
        Some(ready) => format!("Ready is {}: {}", ready.status, one_line(&ready.message)),
        None => "no Ready condition yet".into(),
    }
}

/// The last line of a successful reconcile, as flux words it per kind.
fn completed(kind: &str, revision: Option<String>) -> Option<String> {
    let revision = revision?;
    Some(match kind {
        "GitRepository" | "HelmRepository" | "OCIRepository" => {
            format!("fetched revision {revision}")
        }
        "HelmChart" => format!("pulled chart version {revision}"),
        "Kustomization" | "HelmRelease" => format!("applied revision {revision}"),
        "ImageRepository" => format!("scan fetched {revision}"),
        "ImageUpdateAutomation" => format!("last push commit {revision}"),
        _ => format!("revision {revision}"),
    })
}

/// A spinner on stderr while a wait lasts, drawn only when stderr is a terminal (logs and pipes
/// get the plain `◎` line alone); dropping it clears its line.
struct Spinner(Option<tokio::task::JoinHandle<()>>);

impl Spinner {
    const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

    fn start() -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        Self(Some(tokio::spawn(async {
            let started = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(80));
            for frame in Self::FRAMES.iter().cycle() {
                tick.tick().await;
                eprint!("\r{frame} {}s", started.elapsed().as_secs());
            }
        })))
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
            eprint!("\r\x1b[2K");
        }
    }
}

/// A status message on one line.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The objects of one kind, as one `get` table.
struct Section {
    kind: String,
    rows: Vec<GetRow>,
}

/// One object in a `get` table.
struct GetRow {
    namespace: String,
    name: String,
    revision: String,
    suspended: bool,
    ready: String,
    message: String,
}

impl GetRow {
    fn of<K: FluxObject>(object: &K) -> Self {
        let (ready, message) = match object.ready() {
            Some(ready) => (ready.status.clone(), one_line(&ready.message)),
            None => ("Unknown".to_owned(), "waiting to be reconciled".to_owned()),
        };
        let meta = object.meta();
        Self {
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            revision: object.revision().unwrap_or_default(),
            suspended: object.suspended(),
            ready,
            message,
        }
    }
}

async fn get(
    selection: &Selection,
    filter: &Filter,
    all_namespaces: bool,
    cluster: &ClusterArgs,
) -> anyhow::Result<ExitCode> {
    use Kind as K;
    let client = cluster.client().await?;
    let ns = (!all_namespaces).then_some(cluster.namespace.as_str());
    // Listing every kind tolerates a kind whose CRD is not installed, as `flux get all` does.
    let tolerate = selection.several;
    let mut sections = Vec::new();
    for kind in &selection.kinds {
        let (c, f) = (&client, filter);
        sections.push(match kind {
            K::GitRepository => section::<GitRepository>(c, ns, f, tolerate).await?,
            K::HelmRepository => section::<HelmRepository>(c, ns, f, tolerate).await?,
            K::HelmChart => section::<HelmChart>(c, ns, f, tolerate).await?,
            K::OCIRepository => section::<OCIRepository>(c, ns, f, tolerate).await?,
            K::Kustomization => section::<Kustomization>(c, ns, f, tolerate).await?,
            K::HelmRelease => section::<HelmRelease>(c, ns, f, tolerate).await?,
            K::ImageRepository => section::<ImageRepository>(c, ns, f, tolerate).await?,
            K::ImagePolicy => section::<ImagePolicy>(c, ns, f, tolerate).await?,
            K::ImageUpdateAutomation => {
                section::<ImageUpdateAutomation>(c, ns, f, tolerate).await?
            }
            K::Provider => section::<Provider>(c, ns, f, tolerate).await?,
            K::Alert => section::<Alert>(c, ns, f, tolerate).await?,
            K::Receiver => section::<Receiver>(c, ns, f, tolerate).await?,
        });
    }
    let table = format_get(&sections, selection.several, all_namespaces);
    if table.is_empty() {
        let what = match &filter.name {
            Some(name) => format!("{} object {name}", selection.noun),
            None => format!("{} objects", selection.noun),
        };
        eprintln!("✗ no {what} found {}", place(ns));
    } else {
        crate::common::emit(&table)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn place(ns: Option<&str>) -> String {
    match ns {
        Some(ns) => format!("in {ns} namespace"),
        None => "in any namespace".into(),
    }
}

/// The objects of kind `K`; an uninstalled kind lists as empty when `tolerate_missing` (a
/// cluster without the image CRDs still answers `get all`).
async fn section<K: Flux>(
    client: &Client,
    ns: Option<&str>,
    filter: &Filter,
    tolerate_missing: bool,
) -> anyhow::Result<Section> {
    let kind = kind_of::<K>();
    let api = match ns {
        Some(ns) => Api::<K>::namespaced(client.clone(), ns),
        None => Api::<K>::all(client.clone()),
    };
    let objects = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(status)) if status.is_not_found() && tolerate_missing => Vec::new(),
        Err(error) => {
            return Err(error).with_context(|| format!("cannot list {kind} objects {}", place(ns)));
        }
    };
    let mut rows: Vec<GetRow> = objects
        .iter()
        .filter(|o| filter.keeps(*o))
        .map(GetRow::of)
        .collect();
    rows.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    Ok(Section { kind, rows })
}

/// `flux get`'s tables: one per kind that has objects, a blank line between them; names as
/// `kind/name` (lowercase kind) when `prefix`, as `flux get all` writes them; a NAMESPACE column
/// first when `namespaces` (`-A`). Empty when there is no object at all.
fn format_get(sections: &[Section], prefix: bool, namespaces: bool) -> String {
    let mut header = vec!["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"];
    if namespaces {
        header.insert(0, "NAMESPACE");
    }
    let tables: Vec<String> = sections
        .iter()
        .filter(|section| !section.rows.is_empty())
        .map(|section| {
            let rows: Vec<Vec<String>> = section
                .rows
                .iter()
                .map(|row| {
                    let name = if prefix {
                        format!("{}/{}", section.kind.to_lowercase(), row.name)
                    } else {
                        row.name.clone()
                    };
                    let suspended = if row.suspended { "True" } else { "False" };
                    let mut cells = vec![
                        name,
                        row.revision.clone(),
                        suspended.to_owned(),
                        row.ready.clone(),
                        row.message.clone(),
                    ];
                    if namespaces {
                        cells.insert(0, row.namespace.clone());
                    }
                    cells
                })
                .collect();
            format_table(&header, &rows)
        })
        .collect();
    tables.join("\n")
}

/// Columns as wide as their widest cell, three spaces apart, as `kubectl` prints them; the last
/// column is not padded and lines carry no trailing spaces.
fn format_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let mut widths = vec![0; header.len()];
    for row in std::iter::once(&header).chain(rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}   ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The API groups of Flux's kinds all end so (`kustomize.toolkit.fluxcd.io/v1`).
const FLUX_GROUP_SUFFIX: &str = ".toolkit.fluxcd.io";

async fn events(
    all_namespaces: bool,
    for_object: Option<(String, String)>,
    cluster: &ClusterArgs,
) -> anyhow::Result<ExitCode> {
    let client = cluster.client().await?;
    let ns = (!all_namespaces).then_some(cluster.namespace.as_str());
    let api = match ns {
        Some(ns) => Api::<KubeEvent>::namespaced(client, ns),
        None => Api::<KubeEvent>::all(client),
    };
    let list = api
        .list(&ListParams::default())
        .await
        .with_context(|| format!("cannot list events {}", place(ns)))?;
    let only = for_object
        .as_ref()
        .map(|(kind, name)| (kind.as_str(), name.as_str()));
    match format_events(&list.items, only, all_namespaces, Timestamp::now()) {
        Some(table) => crate::common::emit(&table)?,
        None => eprintln!("✗ no events found {}", place(ns)),
    }
    Ok(ExitCode::SUCCESS)
}

/// When an event last happened: its series' last occurrence, else its time, else the
/// `core/v1` timestamps it was converted from.
fn event_time(event: &KubeEvent) -> Option<Timestamp> {
    event
        .series
        .as_ref()
        .map(|series| series.last_observed_time.0)
        .or_else(|| event.event_time.as_ref().map(|t| t.0))
        .or_else(|| event.deprecated_last_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.deprecated_first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// `flux events`' table, oldest first: the events of Flux objects, or of the object `only`
/// (`Kind`, `name`; the kind matched case-insensitively) whatever its kind. `None` when no event
/// matches.
fn format_events(
    events: &[KubeEvent],
    only: Option<(&str, &str)>,
    namespaces: bool,
    now: Timestamp,
) -> Option<String> {
    let mut matching: Vec<(Option<Timestamp>, &KubeEvent)> = events
        .iter()
        .filter(|event| {
            let Some(regarding) = &event.regarding else {
                return false;
            };
            let kind = regarding.kind.as_deref().unwrap_or_default();
            match only {
                Some((only_kind, only_name)) => {
                    kind.eq_ignore_ascii_case(only_kind)
                        && regarding.name.as_deref() == Some(only_name)
                }
                None => regarding.api_version.as_deref().is_some_and(|version| {
                    version
                        .split_once('/')
                        .is_some_and(|(group, _)| group.ends_with(FLUX_GROUP_SUFFIX))
                }),
            }
        })
        .map(|event| (event_time(event), event))
        .collect();
    if matching.is_empty() {
        return None;
    }
    matching.sort_by_key(|(time, _)| *time);
    let mut header = vec!["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"];
    if namespaces {
        header.insert(0, "NAMESPACE");
    }
    let rows: Vec<Vec<String>> = matching
        .into_iter()
        .map(|(time, event)| {
            let (kind, name) = event.regarding.as_ref().map_or(("", ""), |r| {
                (
                    r.kind.as_deref().unwrap_or_default(),
                    r.name.as_deref().unwrap_or_default(),
                )
            });
            let mut cells = vec![
                time.map_or_else(
                    || "<unknown>".to_owned(),
                    |time| age(now.as_second() - time.as_second()),
                ),
                event.type_.clone().unwrap_or_default(),
                event.reason.clone().unwrap_or_default(),
                format!("{kind}/{name}"),
                one_line(event.note.as_deref().unwrap_or_default()),
            ];
            if namespaces {
                cells.insert(0, event.metadata.namespace.clone().unwrap_or_default());
            }
            cells
        })
        .collect();
    Some(format_table(&header, &rows))
}

/// An age as `kubectl` prints it (`5s`, `3m20s`, `15m`, `2h5m`, `3d4h`).
fn age(seconds: i64) -> String {
    let seconds = seconds.max(0);
    let (minutes, hours) = (seconds / 60, seconds / 3600);
    let days = hours / 24;
    let with = |big: i64, big_unit: &str, small: i64, small_unit: &str| {
        if small == 0 {
            format!("{big}{big_unit}")
        } else {
            format!("{big}{big_unit}{small}{small_unit}")
        }
    };
    match seconds {
        s if s < 120 => format!("{s}s"),
        _ if minutes < 10 => with(minutes, "m", seconds % 60, "s"),
        _ if minutes < 180 => format!("{minutes}m"),
        _ if hours < 8 => with(hours, "h", minutes % 60, "m"),
        _ if hours < 48 => format!("{hours}h"),
        _ if hours < 24 * 8 => with(days, "d", hours % 24, "h"),
        _ if days < 365 * 2 => format!("{days}d"),
        _ if days < 365 * 8 => with(days / 365, "y", days % 365, "d"),
        _ => format!("{}y", days / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gitops::flux::FluxCondition;
    use gitops::flux::api::{CommonStatus, KustomizationSpec, KustomizationStatus};
    use k8s_openapi::api::core::v1::ObjectReference;
    use k8s_openapi::api::events::v1::EventSeries;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};

    fn row(name: &str, revision: &str, suspended: bool, ready: &str, message: &str) -> GetRow {
        GetRow {
            namespace: "flux-system".into(),
            name: name.into(),
            revision: revision.into(),
            suspended,
            ready: ready.into(),
            message: message.into(),
        }
    }

    #[test]
    fn get_prints_one_aligned_table_per_kind_with_objects() {
        let sections = [
            Section {
                kind: "GitRepository".into(),
                rows: vec![row(
                    "flux-system",
                    "main@sha1:0123abcd",
                    false,
                    "True",
                    "stored artifact for revision 'main@sha1:0123abcd'",
                )],
            },
            Section {
                kind: "ImagePolicy".into(),
                rows: vec![],
            },
            Section {
                kind: "Kustomization".into(),
                rows: vec![
                    row(
                        "apps",
                        "main@sha1:0123abcd",
                        true,
                        "True",
                        "Applied revision",
                    ),
                    row("infrastructure", "", false, "False", "path not found"),
                ],
            },
        ];
        assert_eq!(
            format_get(&sections, true, false),
            "\
NAME                        REVISION             SUSPENDED   READY   MESSAGE
gitrepository/flux-system   main@sha1:0123abcd   False       True    stored artifact for revision 'main@sha1:0123abcd'

NAME                           REVISION             SUSPENDED   READY   MESSAGE
kustomization/apps             main@sha1:0123abcd   True        True    Applied revision
kustomization/infrastructure                        False       False   path not found
"
        );
        assert_eq!(
            format_get(&sections[2..], false, true),
            "\
NAMESPACE     NAME             REVISION             SUSPENDED   READY   MESSAGE
flux-system   apps             main@sha1:0123abcd   True        True    Applied revision
flux-system   infrastructure                        False       False   path not found
"
        );
        assert_eq!(format_get(&sections[1..2], true, false), "");
    }

    #[test]
    fn a_missing_ready_condition_reads_unknown_and_messages_fit_one_line() {
        let mut ks = Kustomization::new("flux-system", "apps", KustomizationSpec::default());
        let unknown = GetRow::of(&ks);
        assert_eq!(
            (unknown.ready.as_str(), unknown.message.as_str()),
            ("Unknown", "waiting to be reconciled")
        );
        ks.status = Some(KustomizationStatus {
            common: CommonStatus {
                conditions: vec![FluxCondition {
                    type_: "Ready".into(),
                    status: "False".into(),
                    message: "build failed:\n  kustomization.yaml: bad\n".into(),
                    ..FluxCondition::default()
                }],
                ..CommonStatus::default()
            },
            ..KustomizationStatus::default()
        });
        let failed = GetRow::of(&ks);
        assert_eq!(failed.ready, "False");
        assert_eq!(failed.message, "build failed: kustomization.yaml: bad");
    }

    fn kustomization(generation: i64, observed: i64, handled: &str, ready: &str) -> Kustomization {
        let mut ks = Kustomization::new("flux-system", "apps", KustomizationSpec::default());
        ks.metadata.generation = Some(generation);
        ks.status = Some(KustomizationStatus {
            common: CommonStatus {
                observed_generation: Some(observed),
                last_handled_reconcile_at: Some(handled.into()),
                conditions: vec![FluxCondition {
                    type_: "Ready".into(),
                    status: ready.into(),
                    observed_generation: Some(observed),
                    message: "the message".into(),
                    ..FluxCondition::default()
                }],
            },
            last_applied_revision: Some("main@sha1:0123".into()),
            ..KustomizationStatus::default()
        });
        ks
    }

    #[test]
    fn a_reconcile_settles_on_the_handled_token_and_the_current_generation() {
        assert_eq!(
            settled(&kustomization(2, 2, "t1", "True"), "t1"),
            Some(Ok(()))
        );
        assert_eq!(
            settled(&kustomization(2, 2, "t1", "False"), "t1"),
            Some(Err("the message".into()))
        );
        assert_eq!(settled(&kustomization(2, 2, "t0", "True"), "t1"), None);
        assert_eq!(settled(&kustomization(3, 2, "t1", "True"), "t1"), None);
        assert_eq!(settled(&kustomization(2, 2, "t1", "Unknown"), "t1"), None);
        assert!(pending(Some(&kustomization(2, 2, "t0", "True")), "t1").contains("no controller"));
        assert_eq!(
            pending(Some(&kustomization(2, 2, "t1", "Unknown")), "t1"),
            "Ready is Unknown: the message"
        );
        assert_eq!(
            completed("Kustomization", Some("main@sha1:0123".into())).as_deref(),
            Some("applied revision main@sha1:0123")
        );
    }

    fn event(kind: &str, api_version: &str, name: &str, at: Timestamp, note: &str) -> KubeEvent {
        KubeEvent {
            metadata: ObjectMeta {
                namespace: Some("flux-system".into()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(at)),
            type_: Some("Normal".into()),
            reason: Some("ReconciliationSucceeded".into()),
            note: Some(note.into()),
            regarding: Some(ObjectReference {
                kind: Some(kind.into()),
                api_version: Some(api_version.into()),
                name: Some(name.into()),
                ..ObjectReference::default()
            }),
            ..KubeEvent::default()
        }
    }

    #[test]
    fn events_of_flux_objects_oldest_first() {
        let now: Timestamp = "2026-01-01T12:00:00Z".parse().unwrap();
        let ago = |s: i64| now - k8s_openapi::jiff::SignedDuration::from_secs(s);
        let mut repeated = event(
            "Kustomization",
            "kustomize.toolkit.fluxcd.io/v1",
            "apps",
            ago(600),
            "applied\nrevision",
        );
        repeated.series = Some(EventSeries {
            count: 3,
            last_observed_time: MicroTime(ago(5)),
        });
        let mut old_style = event(
            "GitRepository",
            "source.toolkit.fluxcd.io/v1",
            "flux-system",
            ago(0),
            "fetched",
        );
        old_style.event_time = None;
        old_style.deprecated_last_timestamp = Some(Time(ago(200)));
        let events = [
            repeated,
            event("Deployment", "apps/v1", "web", ago(30), "scaled"),
            old_style,
        ];
        assert_eq!(
            format_events(&events, None, false, now).unwrap(),
            "\
LAST SEEN   TYPE     REASON                    OBJECT                      MESSAGE
3m20s       Normal   ReconciliationSucceeded   GitRepository/flux-system   fetched
5s          Normal   ReconciliationSucceeded   Kustomization/apps          applied revision
"
        );
        let web = format_events(&events, Some(("deployment", "web")), true, now).unwrap();
        assert!(web.starts_with("NAMESPACE     LAST SEEN"), "{web}");
        assert!(web.contains("flux-system   30s         Normal"), "{web}");
        assert_eq!(
            format_events(&events, Some(("Kustomization", "web")), false, now),
            None
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (-3, "0s"),
            (5, "5s"),
            (119, "119s"),
            (180, "3m"),
            (200, "3m20s"),
            (900, "15m"),
            (3 * 3600 + 300, "3h5m"),
            (20 * 3600, "20h"),
            (3 * 86400 + 4 * 3600, "3d4h"),
            (40 * 86400, "40d"),
            (3 * 365 * 86400 + 86400, "3y1d"),
            (10 * 365 * 86400, "10y"),
        ];
        for (seconds, text) in cases {
            assert_eq!(age(seconds), text, "{seconds}s");
        }
    }
}
