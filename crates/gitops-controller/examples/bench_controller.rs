//! Benchmark of the controller (`gitops-controller`): the time from a Git push to applied objects, and the
//! controller's CPU time, memory and API requests, at 100 Kustomizations × 20 objects.
//!
//! ```text
//! bash benches/controller.sh                 # builds this and the controller in release, runs
//! target/release/examples/bench_controller --apps 5 --repeats 1 --idle 5   # a quick run
//! ```
//!
//! It starts the test kube-apiserver and Git servers (gitops-testenv), pushes a repository with
//! `--apps` directories `apps/app-XX/` of `--objects` objects each (a Namespace, then
//! ConfigMaps, ServiceAccounts, headless Services, Deployments, Roles and RoleBindings), creates
//! one GitRepository and one Kustomization per directory, starts the release controller as a
//! child process and times:
//!
//! 1. the initial sync: controller start → every Kustomization Ready at the pushed revision;
//! 2. a push changing one ConfigMap in every app, announced by a `requestedAt` annotation on the
//!    GitRepository (what a webhook receiver does) → every Kustomization at the new revision;
//! 3. a push changing one app, announced the same way → that app at the new revision (and all);
//! 4. `requestedAt` on every Kustomization → every one has handled it (no-op passes);
//! 5. an idle period, then one GitRepository pass (the controller publishes its request count
//!    after each pass).
//!
//! For each phase it reads the controller's CPU time (`/proc/PID/stat`), resident memory
//! (`VmRSS` sampled every 100 ms and `VmHWM`, reset at the start of each phase through
//! `/proc/PID/clear_refs`) and its `gitops_kube_api_requests_total` from `/metrics`; also the CPU
//! time of kube-apiserver and etcd, which share the machine.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use gitops_flux::{FluxObject, GitRepository, Kustomization, REQUESTED_AT_ANNOTATION};
use gitops_testenv::Process;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client};
use serde_json::json;

const FLUX_NS: &str = "flux-system";
const SOURCE: &str = "fleet";
/// The poll period of every wait.
const TICK: Duration = Duration::from_millis(100);
/// How long a phase keeps counting after its last object was seen done, so that the last
/// pass' requests reach the controller's counter.
const SETTLE: Duration = Duration::from_millis(500);

/// Command-line settings.
#[derive(Parser, Debug)]
#[command(about = "Times the controller against the test environment")]
struct Args {
    /// Kustomizations (one app directory each).
    #[arg(long, default_value_t = 100)]
    apps: usize,
    /// Objects per app (the Namespace included; at least 2).
    #[arg(long, default_value_t = 20)]
    objects: usize,
    /// The controller's `--concurrent`.
    #[arg(long, default_value_t = 4)]
    concurrent: usize,
    /// The GitRepository's `spec.interval`.
    #[arg(long, default_value = "1m")]
    source_interval: String,
    /// Runs of each push and no-op phase (the table shows medians).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Seconds of the idle phase.
    #[arg(long, default_value_t = 30)]
    idle: u64,
    /// The controller binary; by default `gitops-controller` in the directory above this
    /// program's (where cargo puts it).
    #[arg(long)]
    controller: Option<PathBuf>,
    /// Seconds any one phase may take before the run fails.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
}

// ---------------------------------------------------------------------------------------------
// The repository

#[path = "bench_workload/binary.rs"]
mod binary;
#[path = "bench_workload/proc.rs"]
mod proc;
use proc::{clock_ticks, cpu_ticks, free_port, status_kib};
#[path = "bench_workload/mod.rs"]
mod workload;
use workload::{app_files, app_name, push};

// ---------------------------------------------------------------------------------------------
// The controller process and what it costs

/// Cumulative readings at one moment.
#[derive(Clone, Copy, Debug)]
struct Snapshot {
    at: Instant,
    cpu: f64,
    env_cpu: f64,
    requests: f64,
}

/// What one phase cost.
#[derive(Clone, Copy, Debug, Default)]
struct Measure {
    wall: f64,
    cpu: f64,
    peak_rss_mib: f64,
    requests: f64,
    env_cpu: f64,
}

/// Reads the controller's (and the API server's) costs.
struct Probe {
    pid: u32,
    env_pids: Vec<u32>,
    ticks_per_second: f64,
    metrics_port: u16,
    /// The highest `VmRSS` sampled since the phase began, KiB.
    max_rss: u64,
    /// Whether `VmHWM` could be reset at the phase start (else only samples count).
    hwm_reset: bool,
}

impl Probe {
    fn cpu(&self, pid: u32) -> f64 {
        cpu_ticks(pid).unwrap_or(0) as f64 / self.ticks_per_second
    }

    fn env_cpu(&self) -> f64 {
        self.env_pids.iter().map(|&pid| self.cpu(pid)).sum()
    }

    /// Samples `VmRSS`; called on every poll tick.
    fn sample(&mut self) {
        if let Some(rss) = status_kib(self.pid, "VmRSS") {
            self.max_rss = self.max_rss.max(rss);
        }
    }

    async fn snapshot(&mut self) -> anyhow::Result<Snapshot> {
        self.sample();
        Ok(Snapshot {
            at: Instant::now(),
            cpu: self.cpu(self.pid),
            env_cpu: self.env_cpu(),
            requests: api_requests(self.metrics_port).await?,
        })
    }

    /// Starts a phase: resets the peak and reads the counters.
    async fn begin(&mut self) -> anyhow::Result<Snapshot> {
        self.hwm_reset = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5").is_ok();
        self.max_rss = 0;
        self.snapshot().await
    }

    /// Ends a phase begun at `start`; the wall time runs to `done`.
    async fn end(&mut self, start: &Snapshot, done: Instant) -> anyhow::Result<Measure> {
        let now = self.snapshot().await?;
        let hwm = if self.hwm_reset {
            status_kib(self.pid, "VmHWM").unwrap_or(0)
        } else {
            0
        };
        Ok(Measure {
            wall: done.duration_since(start.at).as_secs_f64(),
            cpu: now.cpu - start.cpu,
            peak_rss_mib: hwm.max(self.max_rss) as f64 / 1024.0,
            requests: now.requests - start.requests,
            env_cpu: now.env_cpu - start.env_cpu,
        })
    }
}

async fn http_get(port: u16, path: &str) -> anyhow::Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    Ok(response)
}

/// The controller's `gitops_kube_api_requests_total`.
async fn api_requests(port: u16) -> anyhow::Result<f64> {
    let metrics = http_get(port, "/metrics").await?;
    Ok(metrics
        .lines()
        .find_map(|line| line.strip_prefix("gitops_kube_api_requests_total "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0.0))
}

// ---------------------------------------------------------------------------------------------
// Waiting for the cluster

/// When each Kustomization was first seen done, and when the source was.
struct Progress {
    done: HashMap<String, Duration>,
    source: Option<Duration>,
    /// The phase's costs up to when the watched Kustomization was done.
    watched: Option<Measure>,
}

impl Progress {
    /// The time by which `share` (0..=1) of the Kustomizations were done.
    fn quantile(&self, share: f64) -> Duration {
        let mut times: Vec<Duration> = self.done.values().copied().collect();
        times.sort();
        let index = ((times.len() as f64 * share).ceil() as usize).clamp(1, times.len().max(1));
        times.get(index - 1).copied().unwrap_or_default()
    }
}

struct Bench {
    args: Args,
    client: Client,
    controller: Process,
    probe: Probe,
    kustomizations: reflector::Store<Kustomization>,
    sources: reflector::Store<GitRepository>,
}

impl Bench {
    /// Polls every 100 ms until every Kustomization satisfies `done` (and the source has
    /// `source_revision`, when given); times are from `start`. With `watch`, also measures the
    /// phase up to when that one Kustomization is done.
    async fn converge(
        &mut self,
        what: &str,
        start: &Snapshot,
        source_revision: Option<&str>,
        watch: Option<&str>,
        done: impl Fn(&Kustomization) -> bool,
    ) -> anyhow::Result<Progress> {
        let started = start.at;
        let deadline = started + Duration::from_secs(self.args.timeout);
        let mut progress = Progress {
            done: HashMap::new(),
            source: None,
            watched: None,
        };
        loop {
            self.probe.sample();
            self.controller.check_running()?;
            let now = Instant::now();
            for ks in self.kustomizations.state() {
                if done(&ks) {
                    let name = ks.metadata.name.clone().unwrap_or_default();
                    progress
                        .done
                        .entry(name)
                        .or_insert(now.duration_since(started));
                }
            }
            if let Some(name) = watch {
                if progress.watched.is_none() && progress.done.contains_key(name) {
                    progress.watched = Some(self.probe.end(start, now).await?);
                }
            }
            let elapsed = now.duration_since(started);
            if let Some(revision) = source_revision {
                if progress.source.is_none()
                    && self
                        .sources
                        .state()
                        .iter()
                        .any(|s| s.revision().as_deref() == Some(revision))
                {
                    progress.source = Some(elapsed);
                }
            }
            if progress.done.len() >= self.args.apps
                && (source_revision.is_none() || progress.source.is_some())
            {
                return Ok(progress);
            }
            if Instant::now() > deadline {
                let waiting: Vec<String> = self
                    .kustomizations
                    .state()
                    .iter()
                    .filter(|ks| !done(ks))
                    .take(5)
                    .map(|ks| {
                        format!(
                            "{} ({:?})",
                            ks.metadata.name.as_deref().unwrap_or_default(),
                            ks.ready().map(|c| c.message.clone())
                        )
                    })
                    .collect();
                bail!(
                    "timed out waiting for {what}: {}/{} done; still waiting for {waiting:?}\n\
                     controller log ends with:\n{}",
                    progress.done.len(),
                    self.args.apps,
                    self.controller.log_tail()
                );
            }
            tokio::time::sleep(TICK).await;
        }
    }

    /// Keeps sampling for `period`.
    async fn idle(&mut self, period: Duration) -> anyhow::Result<()> {
        let until = Instant::now() + period;
        while Instant::now() < until {
            self.probe.sample();
            self.controller.check_running()?;
            tokio::time::sleep(TICK.min(until.saturating_duration_since(Instant::now()))).await;
        }
        Ok(())
    }

    /// Waits until the GitRepository has handled the `requestedAt` token `token`.
    async fn source_handled(&mut self, token: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(self.args.timeout);
        while !self
            .sources
            .state()
            .iter()
            .any(|s| s.last_handled_reconcile_at() == Some(token))
        {
            self.probe.sample();
            self.controller.check_running()?;
            anyhow::ensure!(
                Instant::now() < deadline,
                "timed out waiting for the GitRepository to handle {token}"
            );
            tokio::time::sleep(TICK).await;
        }
        Ok(())
    }

    /// What a webhook receiver does after a push: asks the GitRepository to reconcile now.
    async fn request_source(&self, token: &str) -> anyhow::Result<()> {
        let api: Api<GitRepository> = Api::namespaced(self.client.clone(), FLUX_NS);
        api.patch(SOURCE, &PatchParams::default(), &request_patch(token))
            .await?;
        Ok(())
    }
}

fn request_patch(token: &str) -> Patch<serde_json::Value> {
    Patch::Merge(json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: token}}}))
}

fn start_controller(
    args: &Args,
    kubeconfig: &Path,
    storage: &Path,
    metrics_port: u16,
) -> anyhow::Result<Process> {
    let binary = binary::controller_binary(args.controller.as_deref())?;
    let mut command = Command::new(&binary);
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--storage-path")
        .arg(storage)
        .args(["--install-crds", "--allow-insecure-http"])
        .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
        .args(["--receiver-addr", "127.0.0.1:0"])
        .args(["--concurrent", &args.concurrent.to_string()])
        .env("RUST_LOG", "info,kube=warn");
    let log_dir = storage.parent().context("the storage path has no parent")?;
    Process::spawn("controller", command, log_dir)
        .with_context(|| format!("starting {}", binary.display()))
}

async fn wait_for_metrics(controller: &Process, port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(port, "/healthz").await.is_err() {
        controller.check_running()?;
        anyhow::ensure!(Instant::now() < deadline, "no /metrics on port {port}");
        tokio::time::sleep(TICK).await;
    }
    Ok(())
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

// ---------------------------------------------------------------------------------------------
// Reporting

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// One table row: the median of each column over the runs.
struct Row {
    phase: String,
    runs: Vec<Measure>,
}

impl Row {
    fn print(&self) {
        let column =
            |f: fn(&Measure) -> f64| median(&mut self.runs.iter().map(f).collect::<Vec<_>>());
        let walls: Vec<f64> = self.runs.iter().map(|m| m.wall).collect();
        let spread = if self.runs.len() > 1 {
            format!(
                " ({:.2}–{:.2})",
                walls.iter().copied().fold(f64::INFINITY, f64::min),
                walls.iter().copied().fold(0.0, f64::max)
            )
        } else {
            String::new()
        };
        println!(
            "| {} | {} | {:.2} s{spread} | {:.2} | {:.0} | {:.0} | {:.2} |",
            self.phase,
            self.runs.len(),
            column(|m| m.wall),
            column(|m| m.cpu),
            column(|m| m.peak_rss_mib),
            column(|m| m.requests),
            column(|m| m.env_cpu),
        );
    }
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim())
        })
        .unwrap_or("unknown CPU")
        .to_string();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .map_or(String::new(), |kib| {
            format!(", {:.0} GiB", kib as f64 / 1024.0 / 1024.0)
        });
    format!(
        "{cpus} CPUs (nproc), {model}{memory}; load average at the start {}",
        load_average()
    )
}

fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    load.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

// ---------------------------------------------------------------------------------------------

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.apps > 0, "--apps must be at least 1");
    anyhow::ensure!(
        args.objects >= 2,
        "--objects must be at least 2 (a Namespace and a ConfigMap)"
    );
    let load_at_start = machine();
    let (n, per_app) = (args.apps, args.objects);
    eprintln!("starting the test servers…");
    let Some(kube_env) = gitops_testenv::require_kube() else {
        bail!(
            "no kube-apiserver: run {}",
            gitops_testenv::PROVISION_COMMAND
        );
    };
    let Some(git) = gitops_testenv::require_git() else {
        bail!("no Git servers: run {}", gitops_testenv::PROVISION_COMMAND);
    };
    let client = kube_env.client().await;

    // 1. The repository: N apps of `per_app` objects.
    let apps: Vec<String> = (0..n).map(|i| app_name(i, n)).collect();
    let mut versions: Vec<u64> = vec![0; n];
    let repo = git.create_repo("fleet")?;
    let mut files = BTreeMap::new();
    for app in &apps {
        files.extend(app_files(app, per_app, 0));
    }
    eprintln!(
        "pushing {n} apps × {per_app} objects ({} files)…",
        files.len()
    );
    let revision = push(&repo, &files, "fleet")?;

    // 2. CRDs, the namespace, credentials, the GitRepository and the Kustomizations.
    gitops_flux::crds::install(&client).await?;
    Api::<Namespace>::all(client.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": FLUX_NS}}))?,
        )
        .await?;
    Api::<Secret>::namespaced(client.clone(), FLUX_NS)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "git-credentials"},
                "stringData": {"username": git.http_username(), "password": git.http_password()},
            }))?,
        )
        .await?;
    let sources_api: Api<GitRepository> = Api::namespaced(client.clone(), FLUX_NS);
    sources_api
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "GitRepository",
                "metadata": {"name": SOURCE, "namespace": FLUX_NS},
                "spec": {
                    "interval": args.source_interval,
                    "url": repo.http_url(),
                    "ref": {"branch": "main"},
                    "secretRef": {"name": "git-credentials"},
                },
            }))?,
        )
        .await?;
    let ks_api: Api<Kustomization> = Api::namespaced(client.clone(), FLUX_NS);
    for app in &apps {
        ks_api
            .create(
                &PostParams::default(),
                &serde_json::from_value(json!({
                    "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                    "kind": "Kustomization",
                    "metadata": {"name": app, "namespace": FLUX_NS},
                    "spec": {
                        "interval": "10m",
                        "prune": true,
                        "path": format!("./apps/{app}"),
                        "targetNamespace": app,
                        "sourceRef": {"kind": "GitRepository", "name": SOURCE},
                    },
                }))?,
            )
            .await?;
    }
    let kustomizations = store(ks_api.clone());
    let sources = store(sources_api.clone());
    kustomizations.wait_until_ready().await?;
    sources.wait_until_ready().await?;

    // 3. The controller.
    let storage = tempfile::tempdir()?;
    let metrics_port = free_port()?;
    eprintln!(
        "starting the controller (--concurrent {})…",
        args.concurrent
    );
    let started = Instant::now();
    let controller = start_controller(
        &args,
        kube_env.kubeconfig_path(),
        &storage.path().join("storage"),
        metrics_port,
    )?;
    let probe = Probe {
        pid: controller.pid(),
        env_pids: kube_env.pids(),
        ticks_per_second: clock_ticks(),
        metrics_port,
        max_rss: 0,
        hwm_reset: false,
    };
    let env_cpu_at_start = probe.env_cpu();
    wait_for_metrics(&controller, metrics_port).await?;
    let mut bench = Bench {
        args,
        client,
        controller,
        probe,
        kustomizations,
        sources,
    };
    let mut rows: Vec<Row> = Vec::new();

    // Phase 1: initial sync, from the controller's start (its CPU and requests from zero).
    let start = Snapshot {
        at: started,
        cpu: 0.0,
        env_cpu: env_cpu_at_start,
        requests: 0.0,
    };
    let progress = bench
        .converge("the initial sync", &start, Some(&revision), None, |ks| {
            ks.is_ready() && ks.revision().as_deref() == Some(revision.as_str())
        })
        .await?;
    let done = started + progress.quantile(1.0);
    bench.idle(SETTLE).await?;
    bench.probe.hwm_reset = true; // VmHWM since the start is the phase's peak
    let measure = bench.probe.end(&start, done).await?;
    println!(
        "initial sync: {} (source fetched after {}, first Kustomization {}, half {})",
        secs(progress.quantile(1.0)),
        secs(progress.source.unwrap_or_default()),
        secs(progress.quantile(0.0)),
        secs(progress.quantile(0.5)),
    );
    rows.push(Row {
        phase: format!("initial sync: controller start → {n} Kustomizations Ready"),
        runs: vec![measure],
    });

    // Phase 2: a push changing every app.
    let repeats = bench.args.repeats.max(1);
    let mut all_runs = Vec::new();
    for run in 0..repeats {
        let mut changed = BTreeMap::new();
        for (i, app) in apps.iter().enumerate() {
            versions[i] += 1;
            let path = format!("apps/{app}/configmaps.yaml");
            let file = app_files(app, per_app, versions[i]).remove(&path);
            changed.insert(path, file.context("every app has ConfigMaps")?);
        }
        let revision = push(&repo, &changed, &format!("change every app ({run})"))?;
        let begin = bench.probe.begin().await?;
        let t0 = begin.at;
        bench.request_source(&format!("all-{run}")).await?;
        let progress = bench
            .converge(
                "a push changing every app",
                &begin,
                Some(&revision),
                None,
                |ks| ks.is_ready() && ks.revision().as_deref() == Some(revision.as_str()),
            )
            .await?;
        let done = t0 + progress.quantile(1.0);
        bench.idle(SETTLE).await?;
        let measure = bench.probe.end(&begin, done).await?;
        println!(
            "push changing all {n} apps, run {}: {} (source {}, first {}, half {}), {:.2} s CPU, {:.0} requests, API server {:.2} s CPU",
            run + 1,
            secs(progress.quantile(1.0)),
            secs(progress.source.unwrap_or_default()),
            secs(progress.quantile(0.0)),
            secs(progress.quantile(0.5)),
            measure.cpu,
            measure.requests,
            measure.env_cpu,
        );
        all_runs.push(measure);
    }
    rows.push(Row {
        phase: format!("push changing 1 object in each of {n} apps → all applied"),
        runs: all_runs,
    });

    // Phase 3: a push changing one app.
    let (mut one_runs, mut rest_runs) = (Vec::new(), Vec::new());
    for run in 0..repeats {
        let index = (run * 37 + 11) % n;
        let app = &apps[index];
        versions[index] += 1;
        let path = format!("apps/{app}/configmaps.yaml");
        let file = app_files(app, per_app, versions[index])
            .remove(&path)
            .context("every app has ConfigMaps")?;
        let revision = push(
            &repo,
            &BTreeMap::from([(path, file)]),
            &format!("change {app}"),
        )?;
        let begin = bench.probe.begin().await?;
        let t0 = begin.at;
        bench.request_source(&format!("one-{run}")).await?;
        // Every Kustomization of the source runs again; the changed app is measured on its own.
        let mut progress = bench
            .converge(
                "a push changing one app",
                &begin,
                Some(&revision),
                Some(app),
                |ks| ks.is_ready() && ks.revision().as_deref() == Some(revision.as_str()),
            )
            .await?;
        let at_app = progress.watched.take().context("the app was watched")?;
        let done = t0 + progress.quantile(1.0);
        bench.idle(SETTLE).await?;
        let measure = bench.probe.end(&begin, done).await?;
        println!(
            "push changing {app}, run {}: applied after {}, all {n} at the revision after {} (source {}), {:.2} s CPU, {:.0} requests, API server {:.2} s CPU",
            run + 1,
            secs(Duration::from_secs_f64(at_app.wall)),
            secs(progress.quantile(1.0)),
            secs(progress.source.unwrap_or_default()),
            measure.cpu,
            measure.requests,
            measure.env_cpu,
        );
        one_runs.push(at_app);
        rest_runs.push(measure);
    }
    rows.push(Row {
        phase: "push changing 1 object in 1 app → that app applied".into(),
        runs: one_runs,
    });
    rows.push(Row {
        phase: format!("… → all {n} Kustomizations at the new revision"),
        runs: rest_runs,
    });

    // Phase 4: `requestedAt` on every Kustomization: N no-op passes.
    let mut noop_runs = Vec::new();
    for run in 0..repeats {
        let token = format!("noop-{run}");
        let begin = bench.probe.begin().await?;
        let t0 = begin.at;
        let patch = request_patch(&token);
        futures::stream::iter(apps.iter())
            .map(|app| {
                let (api, patch) = (ks_api.clone(), &patch);
                async move { api.patch(app, &PatchParams::default(), patch).await }
            })
            .buffer_unordered(8)
            .try_collect::<Vec<_>>()
            .await?;
        let requested = t0.elapsed();
        let progress = bench
            .converge("the no-op passes", &begin, None, None, |ks| {
                ks.is_ready() && ks.last_handled_reconcile_at() == Some(token.as_str())
            })
            .await?;
        let done = t0 + progress.quantile(1.0);
        bench.idle(SETTLE).await?;
        let measure = bench.probe.end(&begin, done).await?;
        println!(
            "requestedAt on all {n}, run {}: {} (annotations written in {}, half {}), {:.2} s CPU, {:.0} requests, API server {:.2} s CPU",
            run + 1,
            secs(progress.quantile(1.0)),
            secs(requested),
            secs(progress.quantile(0.5)),
            measure.cpu,
            measure.requests,
            measure.env_cpu,
        );
        noop_runs.push(measure);
    }
    rows.push(Row {
        phase: format!("requestedAt on all {n} Kustomizations → {n} no-op passes"),
        runs: noop_runs,
    });

    // Phase 5: idle.
    let idle = Duration::from_secs(bench.args.idle);
    if !idle.is_zero() {
        let begin = bench.probe.begin().await?;
        bench.idle(idle).await?;
        let done = Instant::now();
        // The controller publishes its request count after each pass: one GitRepository pass
        // (nothing new to fetch) brings it up to date.
        bench.request_source("idle").await?;
        bench.source_handled("idle").await?;
        bench.idle(SETTLE).await?;
        let measure = bench.probe.end(&begin, done).await?;
        rows.push(Row {
            phase: format!(
                "idle {} s (source interval {}), then one GitRepository pass",
                idle.as_secs(),
                bench.args.source_interval
            ),
            runs: vec![measure],
        });
    }

    // The table.
    let rss_now = status_kib(bench.probe.pid, "VmRSS").unwrap_or(0) as f64 / 1024.0;
    println!();
    println!(
        "{n} Kustomizations × {per_app} objects ({} objects), controller --concurrent {}, {} runs per repeated phase",
        n * per_app,
        bench.args.concurrent,
        repeats
    );
    println!("machine: {load_at_start}");
    println!("load average at the end: {}", load_average());
    println!();
    println!(
        "| phase | runs | wall time, median (min–max) | controller CPU s | peak RSS MiB | API requests | kube-apiserver + etcd CPU s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        row.print();
    }
    println!();
    println!("controller RSS at the end: {rss_now:.0} MiB");
    Ok(())
}
