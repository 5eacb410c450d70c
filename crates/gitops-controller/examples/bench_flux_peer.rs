//! Flux side by side: the same workload on the same API server, run once with Flux's
//! source-controller and kustomize-controller and once with `gitops-controller`, one after the
//! other, each on a fresh etcd and kube-apiserver; one table with the ratio ours/Flux.
//!
//! ```text
//! bash scripts/provision.sh --flux    # builds Flux's two controllers once (bench only)
//! bash benches/flux-peer.sh           # builds this and the controller in release, runs
//! ```
//!
//! Shapes: `one-repo` (one GitRepository, `--apps` Kustomizations, one app directory each) and
//! `many-repos` (`--apps` GitRepositories of one app each, one Kustomization per repository).
//! Every app has `--objects` objects (a Namespace, ConfigMaps, ServiceAccounts, headless
//! Services, Deployments, Roles, RoleBindings). Both controllers get the same objects: Flux's
//! own `GitRepository` (`source.toolkit.fluxcd.io/v1`) and `Kustomization`
//! (`kustomize.toolkit.fluxcd.io/v1`) YAML; Flux's CRDs come from its modules' `config/crd/bases`,
//! ours from `gitops_flux::crds`, both installed before the controllers start.
//!
//! Phases: the initial sync (controllers start → every Kustomization Ready at the pushed
//! revision); a push changing every app; a push changing one app; `requestedAt` on every
//! Kustomization (no-op passes); an object edited in the cluster, then `requestedAt` on its
//! Kustomization → the object is back to what Git says. Each phase has a timeout
//! (`--phase-timeout`); a phase that does not finish is reported as such (K/N done) and the
//! peer's later phases are skipped.
//!
//! Costs per phase: wall time; the controllers' CPU time (`/proc/PID/stat`, summed over Flux's
//! two processes); peak RSS (`VmHWM` reset at the phase start through `/proc/PID/clear_refs`,
//! or the highest `VmRSS` sampled every 100 ms; the sum of the two processes' peaks for Flux);
//! API requests by verb, counted by the API server itself: the controllers run as the
//! ServiceAccount `flux-system/bench-controller` and the API server writes one audit event per
//! request of that user (stage `RequestReceived`); and the bytes the Git HTTP server sent (its
//! access log).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{BufRead, Seek};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, ValueEnum};
use futures::{StreamExt, TryStreamExt};
use gitops_flux::{FluxObject, GitRepository, Kustomization, REQUESTED_AT_ANNOTATION};
use gitops_testenv::{GitEnv, KubeEnv, Process, TestRepo};
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Secret, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client};
use serde_json::{Value, json};

const FLUX_NS: &str = "flux-system";
const SERVICE_ACCOUNT: &str = "bench-controller";
const TICK: Duration = Duration::from_millis(100);
/// How long a phase keeps counting after it is done, so that the last requests are logged.
const SETTLE: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Shape {
    /// One GitRepository, one Kustomization per app directory.
    OneRepo,
    /// One GitRepository per app, one Kustomization each.
    ManyRepos,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Peer {
    /// Flux's source-controller and kustomize-controller.
    Flux,
    /// gitops-controller.
    Ours,
}

impl Peer {
    fn label(self) -> &'static str {
        match self {
            Peer::Flux => "Flux",
            Peer::Ours => "ours",
        }
    }
}

/// Command-line settings.
#[derive(Parser, Debug)]
#[command(about = "Runs the same workload with Flux and with gitops-controller")]
struct Args {
    /// Kustomizations (one app directory each).
    #[arg(long, default_value_t = 100)]
    apps: usize,
    /// Objects per app (the Namespace included; at least 2).
    #[arg(long, default_value_t = 20)]
    objects: usize,
    /// One repository for every app, or one repository per app.
    #[arg(long, value_enum, default_value = "one-repo")]
    shape: Shape,
    /// Which controllers to run, in order.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "flux,ours")]
    peers: Vec<Peer>,
    /// `--concurrent` of every controller (Flux's default is 4, and ours).
    #[arg(long, default_value_t = 4)]
    concurrent: usize,
    /// Seconds a phase may take before it is reported as not finished.
    #[arg(long, default_value_t = 600)]
    phase_timeout: u64,
    /// gitops-controller's binary.
    #[arg(long)]
    controller: PathBuf,
    /// Flux's source-controller binary (its CRDs in `crd/` next to it).
    #[arg(long)]
    source_controller: PathBuf,
    /// Flux's kustomize-controller binary (its CRDs in `crd/` next to it).
    #[arg(long)]
    kustomize_controller: PathBuf,
    /// Where to write each peer's status of the first Kustomization and GitRepository (JSON).
    #[arg(long)]
    status_dir: Option<PathBuf>,
}

// ---------------------------------------------------------------------------------------------
// The repository (the same workload as bench_controller.rs)

#[path = "bench_workload/proc.rs"]
mod proc;
#[path = "bench_workload/mod.rs"]
mod workload;
use proc::{clock_ticks, cpu_ticks, free_port, status_kib};
use workload::{app_files, app_name, push};

/// The changed ConfigMap file of `app` at `version`.
fn changed_file(app: &str, objects: usize, version: u64) -> anyhow::Result<(String, String)> {
    let path = format!("apps/{app}/configmaps.yaml");
    let file = app_files(app, objects, version)
        .remove(&path)
        .context("every app has ConfigMaps")?;
    Ok((path, file))
}

// ---------------------------------------------------------------------------------------------
// Costs

/// What one phase cost.
#[derive(Clone, Debug, Default)]
struct Measure {
    wall: f64,
    cpu: f64,
    peak_rss_mib: f64,
    /// Requests by verb, and by client (user agent's program name) for the detail lines.
    verbs: BTreeMap<String, u64>,
    clients: BTreeMap<String, u64>,
    git_bytes: u64,
    git_requests: u64,
}

impl Measure {
    fn requests(&self) -> u64 {
        self.verbs.values().sum()
    }
}

/// Reads new lines of an append-only log from where the last read stopped.
struct Tail {
    path: PathBuf,
    offset: u64,
}

impl Tail {
    fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
            offset: 0,
        }
    }

    /// Complete lines appended since the last call.
    fn lines(&mut self) -> anyhow::Result<Vec<String>> {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return Ok(Vec::new());
        };
        let length = file.metadata()?.len();
        anyhow::ensure!(
            length >= self.offset,
            "{} shrank from {} to {length} bytes (rotated?): its counts would be wrong",
            self.path.display(),
            self.offset
        );
        file.seek(std::io::SeekFrom::Start(self.offset))?;
        let mut reader = std::io::BufReader::new(file);
        let mut lines = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            let read = reader.read_line(&mut line)?;
            if read == 0 || !line.ends_with('\n') {
                break;
            }
            self.offset += read as u64;
            lines.push(line.trim_end().to_string());
        }
        Ok(lines)
    }
}

struct Probe {
    pids: Vec<u32>,
    ticks_per_second: f64,
    /// The highest `VmRSS` of each process sampled since the phase began, KiB.
    max_rss: Vec<u64>,
    hwm_reset: bool,
    audit: Tail,
    git_log: Tail,
    repos: Vec<String>,
}

#[derive(Clone, Debug)]
struct Snapshot {
    at: Instant,
    cpu: f64,
}

impl Probe {
    fn cpu(&self) -> f64 {
        self.pids
            .iter()
            .map(|&pid| cpu_ticks(pid).unwrap_or(0) as f64 / self.ticks_per_second)
            .sum()
    }

    fn sample(&mut self) {
        for (i, &pid) in self.pids.iter().enumerate() {
            if let Some(rss) = status_kib(pid, "VmRSS") {
                self.max_rss[i] = self.max_rss[i].max(rss);
            }
        }
    }

    /// Starts a phase: resets the peaks and drops what the logs hold so far.
    fn begin(&mut self) -> anyhow::Result<Snapshot> {
        self.hwm_reset = self
            .pids
            .iter()
            .all(|pid| std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok());
        self.max_rss.iter_mut().for_each(|r| *r = 0);
        self.sample();
        self.audit.lines()?;
        self.git_log.lines()?;
        Ok(Snapshot {
            at: Instant::now(),
            cpu: self.cpu(),
        })
    }

    /// Ends a phase begun at `start`; the wall time runs to `done`.
    fn end(&mut self, start: &Snapshot, done: Instant) -> anyhow::Result<Measure> {
        self.sample();
        let mut peak = 0u64;
        for (i, &pid) in self.pids.iter().enumerate() {
            let hwm = if self.hwm_reset {
                status_kib(pid, "VmHWM").unwrap_or(0)
            } else {
                0
            };
            peak += hwm.max(self.max_rss[i]);
        }
        let mut measure = Measure {
            wall: done.duration_since(start.at).as_secs_f64(),
            cpu: self.cpu() - start.cpu,
            peak_rss_mib: peak as f64 / 1024.0,
            ..Measure::default()
        };
        for line in self.audit.lines()? {
            let Ok(event) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let verb = event["verb"].as_str().unwrap_or("?").to_string();
            let agent = event["userAgent"].as_str().unwrap_or("?");
            let client = agent.split('/').next().unwrap_or(agent).to_string();
            *measure.verbs.entry(verb).or_default() += 1;
            *measure.clients.entry(client).or_default() += 1;
        }
        for line in self.git_log.lines()? {
            // `<client> <user> "<request line>" <status> <body bytes> <bytes out>`
            if !self
                .repos
                .iter()
                .any(|repo| line.contains(&format!("/git/{repo}.git/")))
            {
                continue;
            }
            measure.git_requests += 1;
            measure.git_bytes += line
                .rsplit(' ')
                .next()
                .and_then(|b| b.parse::<u64>().ok())
                .unwrap_or(0);
        }
        Ok(measure)
    }
}

// ---------------------------------------------------------------------------------------------
// One peer's run

/// How a phase ended.
#[derive(Clone, Debug)]
enum Outcome {
    Done(Measure),
    /// Not finished within the timeout: `done` of `total` were.
    TimedOut {
        after: u64,
        done: usize,
        total: usize,
        measure: Measure,
    },
    Skipped,
}

struct Run<'a> {
    args: &'a Args,
    peer: Peer,
    client: Client,
    controllers: Vec<Process>,
    probe: Probe,
    kustomizations: reflector::Store<Kustomization>,
    apps: Vec<String>,
    /// The repository of each app (one shared, or one each).
    repos: Vec<TestRepo>,
    versions: Vec<u64>,
    /// When the controllers were started.
    started: Instant,
}

/// Whether a Kustomization is done for a phase.
type DoneFn<'f> = dyn Fn(&Kustomization) -> bool + 'f;

impl Run<'_> {
    fn repo_of(&self, index: usize) -> &TestRepo {
        &self.repos[index.min(self.repos.len() - 1)]
    }

    fn check_running(&self) -> anyhow::Result<()> {
        for c in &self.controllers {
            c.check_running()?;
        }
        Ok(())
    }

    fn log_tails(&self) -> String {
        self.controllers
            .iter()
            .map(|c| c.log_tail())
            .collect::<Vec<_>>()
            .join("\n---\n")
    }

    /// Polls until every Kustomization in `names` (all when empty) is done; or the timeout.
    async fn converge(
        &mut self,
        start: &Snapshot,
        names: &[String],
        done: &DoneFn<'_>,
    ) -> anyhow::Result<Result<Instant, (usize, usize)>> {
        let deadline = start.at + Duration::from_secs(self.args.phase_timeout);
        let wanted = if names.is_empty() {
            self.apps.len()
        } else {
            names.len()
        };
        loop {
            self.probe.sample();
            self.check_running()?;
            let count = self
                .kustomizations
                .state()
                .iter()
                .filter(|ks| {
                    let name = ks.metadata.name.as_deref().unwrap_or_default();
                    (names.is_empty() || names.iter().any(|n| n == name)) && done(ks)
                })
                .count();
            let now = Instant::now();
            if count >= wanted {
                return Ok(Ok(now));
            }
            if now > deadline {
                return Ok(Err((count, wanted)));
            }
            tokio::time::sleep(TICK).await;
        }
    }

    async fn idle(&mut self, period: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + period;
        while Instant::now() < until {
            self.probe.sample();
            self.check_running()?;
            tokio::time::sleep(TICK).await;
        }
        Ok(())
    }

    /// Ends a phase: a settle period, then its costs.
    async fn finish(
        &mut self,
        start: &Snapshot,
        result: Result<Instant, (usize, usize)>,
    ) -> anyhow::Result<Outcome> {
        self.idle(SETTLE).await?;
        Ok(match result {
            Ok(done) => Outcome::Done(self.probe.end(start, done)?),
            Err((done, total)) => {
                let measure = self.probe.end(start, Instant::now())?;
                eprintln!(
                    "{}: did not finish in {} s ({done}/{total} done); controller logs end with:\n{}",
                    self.peer.label(),
                    self.args.phase_timeout,
                    self.log_tails()
                );
                Outcome::TimedOut {
                    after: self.args.phase_timeout,
                    done,
                    total,
                    measure,
                }
            }
        })
    }

    async fn request(&self, kind: &str, names: &[String], token: &str) -> anyhow::Result<()> {
        let patch =
            Patch::Merge(json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: token}}}));
        let ks: Api<Kustomization> = Api::namespaced(self.client.clone(), FLUX_NS);
        let git: Api<GitRepository> = Api::namespaced(self.client.clone(), FLUX_NS);
        futures::stream::iter(names.iter())
            .map(|name| {
                let (ks, git, patch) = (ks.clone(), git.clone(), &patch);
                async move {
                    if kind == "Kustomization" {
                        ks.patch(name, &PatchParams::default(), patch)
                            .await
                            .map(drop)
                    } else {
                        git.patch(name, &PatchParams::default(), patch)
                            .await
                            .map(drop)
                    }
                }
            })
            .buffer_unordered(8)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(())
    }

    fn source_names(&self) -> Vec<String> {
        self.repos.iter().map(|r| r.name().to_string()).collect()
    }

    /// Pushes a change to the apps at `indexes`; returns the expected revision per app.
    fn push_changes(
        &mut self,
        indexes: &[usize],
        label: &str,
    ) -> anyhow::Result<HashMap<String, String>> {
        let mut by_repo: BTreeMap<usize, BTreeMap<String, String>> = BTreeMap::new();
        for &i in indexes {
            self.versions[i] += 1;
            let (path, file) = changed_file(&self.apps[i], self.args.objects, self.versions[i])?;
            let repo = if self.repos.len() == 1 { 0 } else { i };
            by_repo.entry(repo).or_default().insert(path, file);
        }
        let mut revisions = HashMap::new();
        for (repo, files) in &by_repo {
            let revision = push(&self.repos[*repo], files, label)?;
            if self.repos.len() == 1 {
                for app in &self.apps {
                    revisions.insert(app.clone(), revision.clone());
                }
            } else {
                revisions.insert(self.apps[*repo].clone(), revision);
            }
        }
        Ok(revisions)
    }

    async fn phases(
        &mut self,
        expected: &mut HashMap<String, String>,
    ) -> anyhow::Result<Vec<(String, Outcome)>> {
        let n = self.apps.len();
        let mut rows = Vec::new();
        let at_revision = |expected: &HashMap<String, String>| {
            let expected = expected.clone();
            move |ks: &Kustomization| {
                let name = ks.metadata.name.as_deref().unwrap_or_default();
                ks.is_ready() && ks.revision().as_deref() == expected.get(name).map(String::as_str)
            }
        };

        // 1. The initial sync: timed from the controllers' start.
        let start = Snapshot {
            at: self.probe_started(),
            cpu: 0.0,
        };
        let result = self.converge(&start, &[], &at_revision(expected)).await?;
        self.probe.hwm_reset = true;
        let outcome = self.finish(&start, result).await?;
        let ok = matches!(outcome, Outcome::Done(_));
        rows.push((
            format!("initial sync: start → {n} Kustomizations Ready"),
            outcome,
        ));
        if !ok {
            return Ok(rows);
        }

        // 2. A push changing every app.
        let all: Vec<usize> = (0..n).collect();
        let revisions = self.push_changes(&all, "change every app")?;
        expected.extend(revisions);
        let start = self.probe.begin()?;
        let sources = self.source_names();
        self.request("GitRepository", &sources, "all").await?;
        let result = self.converge(&start, &[], &at_revision(expected)).await?;
        let outcome = self.finish(&start, result).await?;
        let ok = matches!(outcome, Outcome::Done(_));
        rows.push((format!("push changing every app → {n} applied"), outcome));
        if !ok {
            return Ok(rows);
        }

        // 3. A push changing one app: that app applied, then every Kustomization at the revision.
        let index = 11 % n;
        let app = self.apps[index].clone();
        let revisions = self.push_changes(&[index], "change one app")?;
        expected.extend(revisions);
        let start = self.probe.begin()?;
        let source = self.repo_of(index).name().to_string();
        self.request("GitRepository", &[source], "one").await?;
        let result = self
            .converge(&start, std::slice::from_ref(&app), &at_revision(expected))
            .await?;
        let first = result.as_ref().ok().copied();
        let result = match first {
            Some(_) => self.converge(&start, &[], &at_revision(expected)).await?,
            None => result,
        };
        let outcome = self.finish(&start, result).await?;
        let outcome = match (first, outcome) {
            (Some(at_app), Outcome::Done(mut m)) => {
                let all = m.wall;
                m.wall = at_app.duration_since(start.at).as_secs_f64();
                eprintln!(
                    "{}: the changed app applied after {:.2} s, every Kustomization at the revision after {all:.2} s",
                    self.peer.label(),
                    m.wall
                );
                Outcome::Done(m)
            }
            (_, other) => other,
        };
        let ok = matches!(outcome, Outcome::Done(_));
        rows.push((
            "push changing one app → that app applied".to_string(),
            outcome,
        ));
        if !ok {
            return Ok(rows);
        }

        // 4. No-op passes on request.
        let start = self.probe.begin()?;
        let apps = self.apps.clone();
        self.request("Kustomization", &apps, "noop").await?;
        let handled =
            |ks: &Kustomization| ks.is_ready() && ks.last_handled_reconcile_at() == Some("noop");
        let result = self.converge(&start, &[], &handled).await?;
        let outcome = self.finish(&start, result).await?;
        let ok = matches!(outcome, Outcome::Done(_));
        rows.push((
            format!("requestedAt on {n} Kustomizations → {n} no-op passes"),
            outcome,
        ));
        if !ok {
            return Ok(rows);
        }

        // 5. A drifted object corrected.
        let app = self.apps[0].clone();
        let configmaps: Api<ConfigMap> = Api::namespaced(self.client.clone(), &app);
        let start = self.probe.begin()?;
        configmaps
            .patch(
                "config-0",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"log-level": "debug"}})),
            )
            .await?;
        self.request("Kustomization", std::slice::from_ref(&app), "drift")
            .await?;
        let deadline = start.at + Duration::from_secs(self.args.phase_timeout);
        let result = loop {
            self.probe.sample();
            self.check_running()?;
            let cm = configmaps.get("config-0").await?;
            let level = cm.data.as_ref().and_then(|d| d.get("log-level")).cloned();
            if level.as_deref() == Some("info") {
                break Ok(Instant::now());
            }
            if Instant::now() > deadline {
                break Err((0, 1));
            }
            tokio::time::sleep(TICK).await;
        };
        let outcome = self.finish(&start, result).await?;
        rows.push((
            "an object edited in the cluster → corrected".to_string(),
            outcome,
        ));
        Ok(rows)
    }

    fn probe_started(&self) -> Instant {
        self.started
    }
}

// ---------------------------------------------------------------------------------------------
// Setting a peer up

/// One audit event per request of the controllers' ServiceAccount, when it arrives.
fn audit_policy() -> String {
    format!(
        "apiVersion: audit.k8s.io/v1\nkind: Policy\n\
         omitStages: [ResponseStarted, ResponseComplete, Panic]\n\
         rules:\n\
         - level: Metadata\n  users: [\"system:serviceaccount:{FLUX_NS}:{SERVICE_ACCOUNT}\"]\n\
         - level: None\n"
    )
}

/// Creates the controllers' ServiceAccount (bound to cluster-admin) and writes a kubeconfig
/// with its token next to the environment's.
async fn controller_kubeconfig(
    env: &KubeEnv,
    client: &Client,
    dir: &Path,
) -> anyhow::Result<PathBuf> {
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), FLUX_NS);
    accounts
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": SERVICE_ACCOUNT}}))?,
        )
        .await?;
    let bindings: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &kube::discovery::ApiResource {
            group: "rbac.authorization.k8s.io".into(),
            version: "v1".into(),
            api_version: "rbac.authorization.k8s.io/v1".into(),
            kind: "ClusterRoleBinding".into(),
            plural: "clusterrolebindings".into(),
        },
    );
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": SERVICE_ACCOUNT},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": FLUX_NS}],
            }))?,
        )
        .await?;
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(24 * 3600),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let token = accounts
        .create_token_request(SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await?
        .status
        .context("the token request has no status")?
        .token
        .context("the token request has no token")?;
    let admin = std::fs::read_to_string(env.kubeconfig_path())?;
    let mut text = String::new();
    for line in admin.lines() {
        match line.split_once("token:") {
            Some((indent, _)) if indent.trim().is_empty() => {
                writeln!(text, "{indent}token: {token}")?
            }
            _ => writeln!(text, "{line}")?,
        }
    }
    let path = dir.join("controller.kubeconfig");
    std::fs::write(&path, text)?;
    Ok(path)
}

/// Applies every CRD of Flux's `crd/` folders and waits until they are established.
async fn install_flux_crds(client: &Client, args: &Args) -> anyhow::Result<()> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for binary in [&args.source_controller, &args.kustomize_controller] {
        let dir = binary
            .parent()
            .context("a binary has a folder")?
            .join("crd");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file)?;
            for object in gitops_core::object::parse_yaml(&file.display().to_string(), &text)? {
                let value = object.into_value();
                let name = value["metadata"]["name"]
                    .as_str()
                    .context("a CRD has a name")?
                    .to_string();
                api.patch(
                    &name,
                    &PatchParams::apply("flux-peer-bench").force(),
                    &Patch::Apply(&value),
                )
                .await
                .with_context(|| format!("applying {name} from {}", file.display()))?;
                names.push(name);
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    for name in &names {
        loop {
            let crd = api.get(name).await?;
            let established = crd
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| {
                    c.iter()
                        .any(|c| c.type_ == "Established" && c.status == "True")
                });
            if established {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "CRD {name} not established in 60 s"
            );
            tokio::time::sleep(TICK).await;
        }
    }
    Ok(())
}

fn start_controllers(
    args: &Args,
    peer: Peer,
    kubeconfig: &Path,
    dir: &Path,
) -> anyhow::Result<Vec<Process>> {
    let concurrent = format!("--concurrent={}", args.concurrent);
    let addr = |flag: &str| -> anyhow::Result<String> {
        Ok(format!("--{flag}=127.0.0.1:{}", free_port()?))
    };
    match peer {
        Peer::Ours => {
            let mut command = Command::new(&args.controller);
            command
                .arg("--kubeconfig")
                .arg(kubeconfig)
                .arg("--storage-path")
                .arg(dir.join("storage"))
                // CRDs are installed before the timed start, as Flux's are.
                .args(["--allow-insecure-http", "--leader-elect=false"])
                .arg(addr("metrics-addr")?)
                .args(["--receiver-addr", "127.0.0.1:0", &concurrent])
                .env("RUST_LOG", "info,kube=warn");
            Ok(vec![Process::spawn("gitops-controller", command, dir)?])
        }
        Peer::Flux => {
            let storage_port = free_port()?;
            std::fs::create_dir_all(dir.join("storage"))?;
            let common = |binary: &Path| -> anyhow::Result<Command> {
                let mut command = Command::new(binary);
                command
                    .env("KUBECONFIG", kubeconfig)
                    .env("TMPDIR", dir)
                    .args([
                        "--watch-all-namespaces=true",
                        "--enable-leader-election=false",
                        "--events-addr=",
                        "--log-level=info",
                        &concurrent,
                    ])
                    .arg(addr("metrics-addr")?)
                    .arg(addr("health-addr")?);
                Ok(command)
            };
            let mut source = common(&args.source_controller)?;
            source
                .arg(format!("--storage-path={}", dir.join("storage").display()))
                .arg(format!("--storage-addr=127.0.0.1:{storage_port}"))
                .arg(format!("--storage-adv-addr=127.0.0.1:{storage_port}"));
            let kustomize = common(&args.kustomize_controller)?;
            Ok(vec![
                Process::spawn("source-controller", source, dir)?,
                Process::spawn("kustomize-controller", kustomize, dir)?,
            ])
        }
    }
}

fn store<K>(api: Api<K>) -> reflector::Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (reader, writer) = reflector::store();
    let stream = reflector(writer, watcher(api, watcher::Config::default().timeout(25)))
        .default_backoff()
        .touched_objects();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while stream.next().await.is_some() {}
    });
    reader
}

/// What a peer's run leaves for the report.
struct PeerResult {
    rows: Vec<(String, Outcome)>,
    /// Normalised status of the first Kustomization, its GitRepository and their events.
    status: Value,
}

async fn run_peer(args: &Args, peer: Peer, git: &GitEnv) -> anyhow::Result<PeerResult> {
    let label = peer.label();
    eprintln!("[{label}] starting a fresh etcd and kube-apiserver…");
    // Start-up blocks on a runtime of its own, so not on this one's thread.
    let env = tokio::task::spawn_blocking(|| KubeEnv::start_audited(&audit_policy())).await??;
    let client = env.client().await;
    let work = tempfile::Builder::new()
        .prefix(&format!("flux-peer-{}-", label.to_lowercase()))
        .tempdir()?;
    // FLUX_PEER_KEEP=1 keeps the controllers' logs and storage.
    let (work, _guard) = if std::env::var_os("FLUX_PEER_KEEP").is_some() {
        let path = work.keep();
        eprintln!("[{label}] logs kept in {}", path.display());
        (path, None)
    } else {
        (work.path().to_path_buf(), Some(work))
    };
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": FLUX_NS}}))?,
        )
        .await?;
    let kubeconfig = controller_kubeconfig(&env, &client, &work).await?;
    match peer {
        Peer::Flux => install_flux_crds(&client, args).await?,
        Peer::Ours => gitops_flux::crds::install(&client).await?,
    }
    Api::<Secret>::namespaced(client.clone(), FLUX_NS)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "git-credentials"},
                "stringData": {"username": git.http_username(), "password": git.http_password()},
            }))?,
        )
        .await?;

    // The repositories.
    let n = args.apps;
    let apps: Vec<String> = (0..n).map(|i| app_name(i, n)).collect();
    let mut expected = HashMap::new();
    let mut repos = Vec::new();
    match args.shape {
        Shape::OneRepo => {
            let repo = git.create_repo(&format!("{label}-fleet").to_lowercase())?;
            let mut files = BTreeMap::new();
            for app in &apps {
                files.extend(app_files(app, args.objects, 0));
            }
            let revision = push(&repo, &files, "fleet")?;
            for app in &apps {
                expected.insert(app.clone(), revision.clone());
            }
            repos.push(repo);
        }
        Shape::ManyRepos => {
            for app in &apps {
                let repo = git.create_repo(&format!("{label}-{app}").to_lowercase())?;
                let revision = push(&repo, &app_files(app, args.objects, 0), app)?;
                expected.insert(app.clone(), revision);
                repos.push(repo);
            }
        }
    }
    eprintln!(
        "[{label}] pushed {n} apps × {} objects in {} repositories",
        args.objects,
        repos.len()
    );

    // The objects: Flux's own YAML, the same for both.
    let sources: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        FLUX_NS,
        &resource(
            "source.toolkit.fluxcd.io",
            "GitRepository",
            "gitrepositories",
        ),
    );
    let kustomizations: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        FLUX_NS,
        &resource(
            "kustomize.toolkit.fluxcd.io",
            "Kustomization",
            "kustomizations",
        ),
    );
    for repo in &repos {
        sources
            .create(
                &PostParams::default(),
                &serde_json::from_value(git_repository(repo.name(), &repo.http_url()))?,
            )
            .await?;
    }
    for (i, app) in apps.iter().enumerate() {
        let source = repos[i.min(repos.len() - 1)].name();
        kustomizations
            .create(
                &PostParams::default(),
                &serde_json::from_value(kustomization(app, source))?,
            )
            .await?;
    }
    let store = store(Api::<Kustomization>::namespaced(client.clone(), FLUX_NS));
    store.wait_until_ready().await?;

    // The controllers.
    let audit_path = env
        .audit_log_path()
        .context("the API server writes an audit log")?;
    let mut audit = Tail::new(audit_path);
    let mut git_log = Tail::new(git.http_access_log_path());
    audit.lines()?;
    git_log.lines()?;
    eprintln!("[{label}] starting the controllers…");
    let started = Instant::now();
    let controllers = start_controllers(args, peer, &kubeconfig, &work)?;
    let pids: Vec<u32> = controllers.iter().map(Process::pid).collect();
    let mut run = Run {
        args,
        peer,
        client: client.clone(),
        probe: Probe {
            max_rss: vec![0; pids.len()],
            pids,
            ticks_per_second: clock_ticks(),
            hwm_reset: false,
            audit,
            git_log,
            repos: repos.iter().map(|r| r.name().to_string()).collect(),
        },
        controllers,
        kustomizations: store,
        apps: apps.clone(),
        repos,
        versions: vec![0; n],
        started,
    };
    let rows = run.phases(&mut expected).await?;
    for (phase, outcome) in &rows {
        eprintln!("[{label}] {phase}: {}", describe(outcome));
    }
    let status = status_snapshot(&client, &apps[0], run.repo_of(0).name()).await?;
    if let Some(dir) = &args.status_dir {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join(format!("{}-{:?}-{n}.json", label.to_lowercase(), args.shape).to_lowercase()),
            serde_json::to_string_pretty(&status)?,
        )?;
    }
    drop(run);
    drop(env);
    Ok(PeerResult { rows, status })
}

fn resource(group: &str, kind: &str, plural: &str) -> kube::discovery::ApiResource {
    kube::discovery::ApiResource {
        group: group.into(),
        version: "v1".into(),
        api_version: format!("{group}/v1"),
        kind: kind.into(),
        plural: plural.into(),
    }
}

fn git_repository(name: &str, url: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": FLUX_NS},
        "spec": {
            "interval": "1m",
            "url": url,
            "ref": {"branch": "main"},
            "secretRef": {"name": "git-credentials"},
        },
    })
}

fn kustomization(app: &str, source: &str) -> Value {
    json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": app, "namespace": FLUX_NS},
        "spec": {
            "interval": "10m",
            "prune": true,
            "path": format!("./apps/{app}"),
            "targetNamespace": app,
            "sourceRef": {"kind": "GitRepository", "name": source},
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Status comparison

/// The status of the first Kustomization and its GitRepository, and the events about them,
/// with what differs by run (times, commit ids, digests, ports, repository names) replaced.
async fn status_snapshot(client: &Client, app: &str, source: &str) -> anyhow::Result<Value> {
    let ks: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        FLUX_NS,
        &resource(
            "kustomize.toolkit.fluxcd.io",
            "Kustomization",
            "kustomizations",
        ),
    );
    let git: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        FLUX_NS,
        &resource(
            "source.toolkit.fluxcd.io",
            "GitRepository",
            "gitrepositories",
        ),
    );
    let ks = serde_json::to_value(ks.get(app).await?)?;
    let git = serde_json::to_value(git.get(source).await?)?;
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), FLUX_NS);
    let mut seen = Vec::new();
    for event in events.list(&ListParams::default()).await? {
        let involved = event.involved_object.name.clone().unwrap_or_default();
        if involved != app && involved != source {
            continue;
        }
        let line = format!(
            "{} {} {}: {}",
            event.involved_object.kind.unwrap_or_default(),
            event.type_.unwrap_or_default(),
            event.reason.unwrap_or_default(),
            event.message.unwrap_or_default()
        );
        if !seen.contains(&line) {
            seen.push(line);
        }
    }
    let value = json!({
        "kustomization": {"status": ks["status"], "finalizers": ks["metadata"]["finalizers"]},
        "gitRepository": {"status": git["status"], "finalizers": git["metadata"]["finalizers"]},
        "events": seen,
    });
    Ok(normalize(value, source))
}

fn normalize(value: Value, source: &str) -> Value {
    match value {
        Value::String(s) => Value::String(normalize_text(&s, source)),
        Value::Array(items) => {
            Value::Array(items.into_iter().map(|v| normalize(v, source)).collect())
        }
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, normalize(v, source)))
                .collect(),
        ),
        other => other,
    }
}

fn normalize_text(text: &str, source: &str) -> String {
    let text = text.replace(source, "<repo>");
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // Runs of 40+ hex digits: commit ids and digests.
        let hex = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        if hex >= 40 {
            out.push_str(if hex == 40 { "<sha1>" } else { "<hex>" });
            i += hex;
            continue;
        }
        // `127.0.0.1:PORT`
        if chars[i..].starts_with(&['1', '2', '7', '.', '0', '.', '0', '.', '1', ':']) {
            out.push_str("127.0.0.1:<port>");
            i += 10;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    // RFC 3339 times.
    if out.len() >= 20
        && out.as_bytes().get(4) == Some(&b'-')
        && out.as_bytes().get(10) == Some(&b'T')
    {
        return "<time>".into();
    }
    out
}

/// Leaf paths and values of a JSON value.
fn flatten(value: &Value, path: String, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                flatten(v, format!("{path}.{k}"), out);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                let key = v
                    .get("type")
                    .or_else(|| v.get("id"))
                    .and_then(Value::as_str)
                    .map_or(i.to_string(), str::to_string);
                flatten(v, format!("{path}[{key}]"), out);
            }
        }
        other => {
            out.insert(path, other.to_string());
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Done(m) => format!(
            "{:.2} s, {:.2} CPU s, {:.0} MiB, {} requests {:?}, Git {} bytes in {} requests, by client {:?}",
            m.wall,
            m.cpu,
            m.peak_rss_mib,
            m.requests(),
            m.verbs,
            m.git_bytes,
            m.git_requests,
            m.clients
        ),
        Outcome::TimedOut {
            after,
            done,
            total,
            measure,
        } => format!(
            "did not finish in {after} s ({done}/{total} Ready); until then {:.2} CPU s, {:.0} MiB, {} requests {:?}",
            measure.cpu,
            measure.peak_rss_mib,
            measure.requests(),
            measure.verbs
        ),
        Outcome::Skipped => "skipped (an earlier phase did not finish)".into(),
    }
}

fn ratio(ours: f64, flux: f64) -> String {
    if flux > 0.0 {
        format!("{:.3}", ours / flux)
    } else {
        "–".into()
    }
}

fn bytes(b: f64) -> String {
    if b >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / 1024.0 / 1024.0)
    } else if b >= 1024.0 {
        format!("{:.0} KiB", b / 1024.0)
    } else {
        format!("{b:.0} B")
    }
}

fn print_table(args: &Args, results: &BTreeMap<&'static str, PeerResult>) {
    let phases: Vec<String> = results
        .values()
        .max_by_key(|r| r.rows.len())
        .map(|r| r.rows.iter().map(|(p, _)| p.clone()).collect())
        .unwrap_or_default();
    let outcome = |peer: &str, i: usize| -> Outcome {
        results
            .get(peer)
            .and_then(|r| r.rows.get(i))
            .map_or(Outcome::Skipped, |(_, o)| o.clone())
    };
    println!();
    println!(
        "{} Kustomizations × {} objects, {}; --concurrent {} for every controller; phase timeout {} s",
        args.apps,
        args.objects,
        match args.shape {
            Shape::OneRepo => "one GitRepository".to_string(),
            Shape::ManyRepos => format!("{} GitRepositories of one app each", args.apps),
        },
        args.concurrent,
        args.phase_timeout
    );
    println!();
    println!(
        "| phase | wall Flux | wall ours | ours/Flux | CPU s Flux | CPU s ours | ours/Flux | peak RSS Flux | peak RSS ours | ours/Flux | API requests Flux | API requests ours | ours/Flux | Git bytes Flux | Git bytes ours | ours/Flux |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (i, phase) in phases.iter().enumerate() {
        let (flux, ours) = (outcome("Flux", i), outcome("ours", i));
        let cell = |o: &Outcome, f: &dyn Fn(&Measure) -> String| match o {
            Outcome::Done(m) => f(m),
            Outcome::TimedOut { measure, .. } => format!("≥ {}", f(measure)),
            Outcome::Skipped => "–".into(),
        };
        let wall = |o: &Outcome| match o {
            Outcome::Done(m) => format!("{:.2} s", m.wall),
            Outcome::TimedOut {
                after, done, total, ..
            } => {
                format!("did not finish in {after} s ({done}/{total} Ready)")
            }
            Outcome::Skipped => "–".into(),
        };
        let both = match (&flux, &ours) {
            (Outcome::Done(f), Outcome::Done(o)) => Some((f.clone(), o.clone())),
            _ => None,
        };
        let r = |g: fn(&Measure) -> f64| {
            both.as_ref()
                .map_or("–".to_string(), |(f, o)| ratio(g(o), g(f)))
        };
        println!(
            "| {phase} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            wall(&flux),
            wall(&ours),
            r(|m| m.wall),
            cell(&flux, &|m| format!("{:.2}", m.cpu)),
            cell(&ours, &|m| format!("{:.2}", m.cpu)),
            r(|m| m.cpu),
            cell(&flux, &|m| format!("{:.0} MiB", m.peak_rss_mib)),
            cell(&ours, &|m| format!("{:.0} MiB", m.peak_rss_mib)),
            r(|m| m.peak_rss_mib),
            cell(&flux, &|m| m.requests().to_string()),
            cell(&ours, &|m| m.requests().to_string()),
            r(|m| m.requests() as f64),
            cell(&flux, &|m| bytes(m.git_bytes as f64)),
            cell(&ours, &|m| bytes(m.git_bytes as f64)),
            r(|m| m.git_bytes as f64),
        );
    }
    println!();
    println!("API requests by verb (audit log of the API server):");
    println!();
    let verbs = [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    println!(
        "| phase | controller | {} | other | total |",
        verbs.join(" | ")
    );
    println!("|---|---|{}---:|---:|", "---:|".repeat(verbs.len()));
    for (i, phase) in phases.iter().enumerate() {
        for peer in ["Flux", "ours"] {
            let m = match outcome(peer, i) {
                Outcome::Done(m) => m,
                Outcome::TimedOut { measure, .. } => measure,
                Outcome::Skipped => continue,
            };
            let mut cells: Vec<String> = verbs
                .iter()
                .map(|v| m.verbs.get(*v).copied().unwrap_or(0).to_string())
                .collect();
            let other: u64 = m
                .verbs
                .iter()
                .filter(|(v, _)| !verbs.contains(&v.as_str()))
                .map(|(_, c)| c)
                .sum();
            cells.push(other.to_string());
            cells.push(m.requests().to_string());
            println!("| {phase} | {peer} | {} |", cells.join(" | "));
        }
    }
}

fn print_status_comparison(results: &BTreeMap<&'static str, PeerResult>) {
    let (Some(flux), Some(ours)) = (results.get("Flux"), results.get("ours")) else {
        return;
    };
    let (mut f, mut o) = (BTreeMap::new(), BTreeMap::new());
    flatten(&flux.status, String::new(), &mut f);
    flatten(&ours.status, String::new(), &mut o);
    println!();
    println!(
        "Status of the first Kustomization and its GitRepository (normalised), field by field:"
    );
    println!();
    let mut keys: Vec<&String> = f.keys().chain(o.keys()).collect();
    keys.sort();
    keys.dedup();
    let same: Vec<&&String> = keys.iter().filter(|k| f.get(**k) == o.get(**k)).collect();
    println!(
        "identical ({}): {}",
        same.len(),
        same.iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!();
    println!("| field | Flux | ours |");
    println!("|---|---|---|");
    for key in keys.iter().filter(|k| f.get(**k) != o.get(**k)) {
        let (a, b) = (f.get(*key), o.get(*key));
        println!(
            "| `{key}` | {} | {} |",
            a.map_or("(absent)".to_string(), |v| format!("`{v}`")),
            b.map_or("(absent)".to_string(), |v| format!("`{v}`")),
        );
    }
}

fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.apps > 0, "--apps must be at least 1");
    anyhow::ensure!(args.objects >= 2, "--objects must be at least 2");
    for binary in [
        &args.controller,
        &args.source_controller,
        &args.kustomize_controller,
    ] {
        anyhow::ensure!(binary.is_file(), "no program at {}", binary.display());
    }
    let Some(git) = gitops_testenv::require_git() else {
        bail!("no Git servers: run {}", gitops_testenv::PROVISION_COMMAND);
    };
    let load_at_start = load_average();
    let mut results = BTreeMap::new();
    for &peer in &args.peers {
        let result = run_peer(&args, peer, git).await?;
        results.insert(peer.label(), result);
    }
    print_table(&args, &results);
    print_status_comparison(&results);
    println!();
    println!(
        "load average at the start {load_at_start}, at the end {}; {} CPUs",
        load_average(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(())
}
