//! The charts our users deploy (kube-prometheus-stack with its subcharts,
//! strimzi-kafka-operator, cert-manager), installed by the controller through one
//! `HelmRepository` and one `HelmRelease` per chart, written as for Flux v2.
//!
//! ```text
//! export CARGO_TARGET_DIR=target
//! cargo build --release -p gitops-controller --bins --example seed_helm_releases
//! GITOPS_HELM_SEED_CHARTS=$SEEDS/kps/charts/kube-prometheus-stack:$SEEDS/st/packaging/helm-charts/helm3/strimzi-kafka-operator:$SEEDS/cm/deploy/charts/cert-manager \
//!     target/release/examples/seed_helm_releases
//! ```
//!
//! The charts are third-party and never committed: they are read from the directories given
//! with `--charts` (colon-separated) or `GITOPS_HELM_SEED_CHARTS`, as for `benches/helm-peer.sh`.
//!
//! 1. Each chart directory is packaged by the real `helm package` into a folder served by the
//!    test environment's nginx, indexed by `helm repo index`.
//! 2. A fresh etcd + kube-apiserver (no controller-manager, no kubelet), the Flux CRDs, and the
//!    release `gitops-controller` as a child process.
//! 3. One HelmRepository and one HelmRelease per chart in `flux-system`, each with its own
//!    `targetNamespace` (and `storageNamespace`, the same), `install.createNamespace`,
//!    `install.crds`/`upgrade.crds: CreateReplace` where the chart has a `crds/` folder, and
//!    `disableWait` (no kubelet runs images). Values are only what a bare API server needs
//!    (see [`values_for`]).
//! 4. Waits for each HelmRelease to be Ready, prints a table (time to Ready, objects and CRDs in
//!    the release manifest, `helm list -A` status and revision, the controller's CPU seconds and
//!    peak RSS), then asks for a pass of each (`requestedAt`) and checks that no new release
//!    Secret revision appeared.
//!
//! The controller creates the target namespaces (`install.createNamespace`) and the charts'
//! `crds/` CRDs (`install.crds`) itself; `--chart-defaults` leaves the values out, to see what
//! the charts' defaults need from a real cluster.

#[path = "bench_workload/binary.rs"]
mod binary;
#[path = "bench_workload/proc.rs"]
mod proc;
use proc::{clock_ticks, cpu_ticks, free_port, status_kib};

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Parser;
use gitops_flux::{FluxObject, HelmRelease, HelmRepository, REQUESTED_AT_ANNOTATION};
use gitops_testenv::{KubeEnv, Process, StaticEnv};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};
use kube::{Api, Client};
use serde_json::{Value, json};

const FLUX_NS: &str = "flux-system";
const REPOSITORY: &str = "seed-charts";
const TICK: Duration = Duration::from_millis(200);

/// Command-line settings.
#[derive(Parser, Debug)]
#[command(about = "Installs the seed charts through HelmRepository + HelmRelease objects")]
struct Args {
    /// Chart directories, colon-separated; default `GITOPS_HELM_SEED_CHARTS`.
    #[arg(long)]
    charts: Option<String>,
    /// The controller binary; by default `gitops-controller` in the directory above this
    /// program's (where cargo puts it).
    #[arg(long)]
    controller: Option<PathBuf>,
    /// Seconds to wait for each HelmRelease to be Ready (all waited for together).
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Leaves out the values a bare API server needs (see `values_for`): the charts' defaults.
    #[arg(long)]
    chart_defaults: bool,
    /// Where the repository folder's copy, the controller's storage and log go; a new folder
    /// under the system's temporary directory by default. Kept after the run.
    #[arg(long)]
    work_dir: Option<PathBuf>,
}

// ---------------------------------------------------------------------------------------------
// The charts

/// A chart directory as given, with what its `Chart.yaml` and `crds/` folders say.
struct SeedChart {
    dir: PathBuf,
    name: String,
    version: String,
    /// The CRD documents of `crds/` folders, this chart's and its subcharts'.
    crd_docs: Vec<Value>,
}

impl SeedChart {
    fn load(dir: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(dir.join("Chart.yaml"))
            .with_context(|| format!("{}/Chart.yaml", dir.display()))?;
        let meta: Value = serde_yaml_ng::from_str(&text)?;
        let field = |key: &str| {
            meta[key]
                .as_str()
                .map(str::to_string)
                .with_context(|| format!("{}/Chart.yaml has no {key}", dir.display()))
        };
        let mut crd_docs = Vec::new();
        collect_crds(dir, &mut crd_docs)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            name: field("name")?,
            version: field("version")?,
            crd_docs,
        })
    }

    fn crd_names(&self) -> BTreeSet<String> {
        self.crd_docs
            .iter()
            .filter_map(|d| d["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    }

    /// The namespace it is installed in.
    fn target_namespace(&self) -> String {
        match self.name.as_str() {
            "kube-prometheus-stack" => "monitoring".into(),
            "strimzi-kafka-operator" => "kafka".into(),
            other => other.into(),
        }
    }
}

/// The CRD documents in `chart/crds/` (recursively) and in each `chart/charts/*/` the same way.
fn collect_crds(chart: &Path, out: &mut Vec<Value>) -> anyhow::Result<()> {
    fn yaml_files(dir: &Path, files: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                yaml_files(&path, files)?;
            } else if path
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
            {
                files.push(path);
            }
        }
        Ok(())
    }
    let crds = chart.join("crds");
    if crds.is_dir() {
        let mut files = Vec::new();
        yaml_files(&crds, &mut files)?;
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file)?;
            for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                let value: Value = serde::Deserialize::deserialize(doc)
                    .with_context(|| format!("parsing {}", file.display()))?;
                if value["kind"] == "CustomResourceDefinition" {
                    out.push(value);
                }
            }
        }
    }
    let subcharts = chart.join("charts");
    if subcharts.is_dir() {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&subcharts)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("Chart.yaml").is_file())
            .collect();
        dirs.sort();
        for dir in dirs {
            collect_crds(&dir, out)?;
        }
    }
    Ok(())
}

/// The values a chart needs on a bare API server (no controller-manager, no kubelet), in
/// the HelmRelease's `spec.values`.
fn values_for(chart: &str) -> Value {
    match chart {
        // The operator's admission webhook would have no backend (its pods never run), and
        // its certificate is made by pre-install hook Jobs, which never complete without a
        // kubelet; with the webhook off, the operator's TLS is off too (the chart's advice).
        // Grafana's admin password is otherwise random at each render.
        "kube-prometheus-stack" => json!({
            "prometheusOperator": {
                "admissionWebhooks": {"enabled": false, "patch": {"enabled": false}},
                "tls": {"enabled": false},
            },
            "grafana": {"adminPassword": "seed"},
        }),
        // CRDs are templates of this chart, behind `crds.enabled`; startupapicheck is a
        // post-install hook Job, which never completes without a kubelet.
        "cert-manager" => json!({
            "crds": {"enabled": true},
            "startupapicheck": {"enabled": false},
        }),
        _ => json!({}),
    }
}

fn helm_ok(helm: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(helm)
        .args(args)
        .output()
        .with_context(|| format!("running {}", helm.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "helm {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8(out.stdout)?)
}

// ---------------------------------------------------------------------------------------------
// The controller and what it costs

fn start_controller(args: &Args, kubeconfig: &Path, work: &Path) -> anyhow::Result<Process> {
    let binary = binary::controller_binary(args.controller.as_deref())?;
    let mut command = Command::new(&binary);
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--storage-path")
        .arg(work.join("storage"))
        .args(["--install-crds", "--leader-elect", "false"])
        .args(["--allow-insecure-http", "--concurrent", "4"])
        .args(["--metrics-addr", &format!("127.0.0.1:{}", free_port()?)])
        .args(["--receiver-addr", &format!("127.0.0.1:{}", free_port()?)])
        // Debug for HelmReleases: an in-sync pass is logged as `planned … Nothing`.
        .env(
            "RUST_LOG",
            "info,kube=warn,gitops_controller::helm_releases=debug",
        );
    Process::spawn("controller", command, work)
        .with_context(|| format!("starting {}", binary.display()))
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    cpu_ticks(pid).unwrap_or(0) as f64 / clock_ticks()
}

/// A `kB` field of `/proc/PID/status`, in MiB.
fn status_mib(pid: u32, field: &str) -> f64 {
    status_kib(pid, field).map_or(0.0, |kib| kib as f64 / 1024.0)
}

// ---------------------------------------------------------------------------------------------
// The cluster

fn helm_release_yaml(chart: &SeedChart, chart_defaults: bool) -> String {
    let target = chart.target_namespace();
    let crds = if chart.crd_docs.is_empty() {
        String::new()
    } else {
        "    crds: CreateReplace\n".to_string()
    };
    let upgrade_crds = if chart.crd_docs.is_empty() {
        String::new()
    } else {
        "    crds: CreateReplace\n".to_string()
    };
    let values = if chart_defaults {
        json!({})
    } else {
        values_for(&chart.name)
    };
    let values = serde_yaml_ng::to_string(&values).unwrap_or_default();
    let values: String = if values.trim() == "{}" {
        String::new()
    } else {
        let indented: Vec<String> = values.lines().map(|l| format!("    {l}")).collect();
        format!("  values:\n{}\n", indented.join("\n"))
    };
    format!(
        "apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {name}
  namespace: {FLUX_NS}
spec:
  interval: 10m
  releaseName: {name}
  targetNamespace: {target}
  storageNamespace: {target}
  chart:
    spec:
      chart: {name}
      version: \"{version}\"
      sourceRef:
        kind: HelmRepository
        name: {REPOSITORY}
      interval: 10m
  install:
    createNamespace: true
    disableWait: true
{crds}  upgrade:
    disableWait: true
{upgrade_crds}{values}",
        name = chart.name,
        version = chart.version,
    )
}

fn helm_repository_yaml(url: &str) -> String {
    format!(
        "apiVersion: source.toolkit.fluxcd.io/v1
kind: HelmRepository
metadata:
  name: {REPOSITORY}
  namespace: {FLUX_NS}
spec:
  interval: 10m
  url: {url}
"
    )
}

/// Creates an object from its YAML as written, through the dynamic API (nothing dropped).
async fn create_yaml(client: &Client, yaml: &str) -> anyhow::Result<()> {
    let object: DynamicObject = serde_yaml_ng::from_str(yaml)?;
    let types = object
        .types
        .clone()
        .context("the object has no apiVersion/kind")?;
    let (group, version) = match types.api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), types.api_version.clone()),
    };
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(&group, &version, &types.kind));
    let namespace = object
        .metadata
        .namespace
        .clone()
        .context("the object has no namespace")?;
    Api::<DynamicObject>::namespaced_with(client.clone(), &namespace, &resource)
        .create(&PostParams::default(), &object)
        .await
        .with_context(|| format!("creating {}", types.kind))?;
    Ok(())
}

async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let api = Api::<Namespace>::all(client.clone());
    if api.get_opt(name).await?.is_none() {
        api.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}}))?,
        )
        .await?;
    }
    Ok(())
}

/// The release Secrets (`owner=helm`) of `release` in `namespace`, by name.
async fn release_secrets(
    client: &Client,
    namespace: &str,
    release: &str,
) -> anyhow::Result<BTreeSet<String>> {
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    let list = api
        .list(&ListParams::default().labels(&format!("owner=helm,name={release}")))
        .await?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|s| s.metadata.name)
        .collect())
}

/// The documents of a manifest stream (`---` separated) that have a `kind`, and those that
/// are CustomResourceDefinitions (by name).
fn manifest_objects(manifest: &str) -> (usize, BTreeSet<String>) {
    let mut objects = 0;
    let mut crds = BTreeSet::new();
    for doc in serde_yaml_ng::Deserializer::from_str(manifest) {
        let Ok(value) = <Value as serde::Deserialize>::deserialize(doc) else {
            continue;
        };
        if value["kind"].as_str().is_some_and(|k| !k.is_empty()) {
            objects += 1;
            if value["kind"] == "CustomResourceDefinition" {
                if let Some(name) = value["metadata"]["name"].as_str() {
                    crds.insert(name.to_string());
                }
            }
        }
    }
    (objects, crds)
}

/// What was seen of one HelmRelease.
struct Outcome {
    ready_after: Option<Duration>,
    last_ready: String,
    /// `Stalled=True` was seen for the current generation.
    stalled: bool,
}

// ---------------------------------------------------------------------------------------------

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let list = match &args.charts {
        Some(list) => list.clone(),
        None => std::env::var("GITOPS_HELM_SEED_CHARTS").context(
            "no charts: give --charts dir1:dir2 or set GITOPS_HELM_SEED_CHARTS=dir1:dir2",
        )?,
    };
    let charts: Vec<SeedChart> = list
        .split(':')
        .filter(|s| !s.is_empty())
        .map(|dir| SeedChart::load(Path::new(dir)))
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(!charts.is_empty(), "no chart directories in {list:?}");
    let work = match &args.work_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("seed-helm-releases-{}", std::process::id())),
    };
    std::fs::create_dir_all(&work)?;
    eprintln!("work folder (kept): {}", work.display());

    // 1. The chart repository.
    let helm = gitops_testenv::find_helm()
        .map_err(|e| anyhow::anyhow!("{e}: run {}", gitops_testenv::PROVISION_COMMAND))?;
    let web = std::thread::spawn(StaticEnv::start)
        .join()
        .map_err(|_| anyhow::anyhow!("starting nginx panicked"))??;
    let folder = "seed-charts";
    let served = web.root().join(folder);
    std::fs::create_dir_all(&served)?;
    for chart in &charts {
        eprintln!("helm package {}", chart.dir.display());
        helm_ok(
            &helm,
            &[
                "package",
                &chart.dir.display().to_string(),
                "-d",
                &served.display().to_string(),
            ],
        )?;
    }
    helm_ok(&helm, &["repo", "index", &served.display().to_string()])?;
    let url = format!("{}{folder}", web.url());

    // 2. A fresh API server, the Flux CRDs, the controller.
    eprintln!("starting etcd + kube-apiserver…");
    let kube_env = std::thread::spawn(KubeEnv::start)
        .join()
        .map_err(|_| anyhow::anyhow!("starting the API server panicked"))??;
    let kubeconfig = kube_env.kubeconfig_path().to_path_buf();
    let client = kube_env.client().await;
    gitops_flux::crds::install(&client).await?;
    let crd_api = Api::<CustomResourceDefinition>::all(client.clone());
    let crds_before: BTreeSet<String> = crd_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    create_namespace(&client, FLUX_NS).await?;
    let mut workarounds = Vec::new();
    if args.chart_defaults {
        workarounds.push("--chart-defaults (no values: the charts' defaults)");
    }
    eprintln!("starting the controller…");
    let controller = start_controller(&args, &kubeconfig, &work)?;
    let pid = controller.pid();

    // 3. The HelmRepository and the HelmReleases, as a user commits them.
    let repository = helm_repository_yaml(&url);
    std::fs::write(work.join("helmrepository.yaml"), &repository)?;
    create_yaml(&client, &repository).await?;
    let mut created = BTreeMap::new();
    for chart in &charts {
        let yaml = helm_release_yaml(chart, args.chart_defaults);
        std::fs::write(work.join(format!("helmrelease-{}.yaml", chart.name)), &yaml)?;
        create_yaml(&client, &yaml).await?;
        created.insert(chart.name.clone(), Instant::now());
    }
    eprintln!(
        "HelmRepository and {} HelmReleases written to {}",
        charts.len(),
        work.display()
    );

    // 4. Ready, or the Ready message at the timeout.
    let releases = Api::<HelmRelease>::namespaced(client.clone(), FLUX_NS);
    let repos = Api::<HelmRepository>::namespaced(client.clone(), FLUX_NS);
    let mut outcomes: BTreeMap<String, Outcome> = charts
        .iter()
        .map(|c| {
            (
                c.name.clone(),
                Outcome {
                    ready_after: None,
                    last_ready: "no Ready condition yet".into(),
                    stalled: false,
                },
            )
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    let mut peak_rss = 0.0_f64;
    let mut controller_exited = None;
    loop {
        peak_rss = peak_rss.max(status_mib(pid, "VmRSS"));
        if let Err(exited) = controller.check_running() {
            controller_exited = Some(exited.to_string());
            break;
        }
        for chart in &charts {
            let outcome = outcomes
                .get_mut(&chart.name)
                .context("every chart has one")?;
            if outcome.ready_after.is_some() {
                continue;
            }
            let Some(hr) = releases.get_opt(&chart.name).await? else {
                continue;
            };
            if let Some(ready) = hr.ready() {
                outcome.last_ready =
                    format!("{} {}: {}", ready.status, ready.reason, ready.message);
            }
            // Failed for good: retries used up, nothing more will happen without a change.
            let stalled = hr.observed_generation() == hr.metadata.generation
                && hr
                    .conditions()
                    .iter()
                    .any(|c| c.type_ == "Stalled" && c.status == "True");
            if stalled && !outcome.stalled {
                outcome.stalled = true;
                eprintln!("{} stalled: {}", chart.name, outcome.last_ready);
            }
            if hr.is_ready() {
                outcome.ready_after = Some(created[&chart.name].elapsed());
                eprintln!(
                    "{} Ready after {:.1} s: {}",
                    chart.name,
                    created[&chart.name].elapsed().as_secs_f64(),
                    outcome.last_ready
                );
            }
        }
        if outcomes
            .values()
            .all(|o| o.ready_after.is_some() || o.stalled)
            || Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    let install_cpu = cpu_seconds(pid);
    let install_hwm = status_mib(pid, "VmHWM");
    peak_rss = peak_rss.max(install_hwm);
    let repository_ready = repos
        .get_opt(REPOSITORY)
        .await?
        .and_then(|r| {
            r.ready()
                .map(|c| format!("{} {}: {}", c.status, c.reason, c.message))
        })
        .unwrap_or_else(|| "no Ready condition".into());

    // What helm and the cluster say.
    let kubeconfig_arg = kubeconfig.display().to_string();
    let listed: Vec<Value> = serde_json::from_str(&helm_ok(
        &helm,
        &[
            "list",
            "-A",
            "-o",
            "json",
            "--deployed",
            "--failed",
            "--pending",
            "--kubeconfig",
            &kubeconfig_arg,
        ],
    )?)?;
    let crds_after: BTreeSet<String> = crd_api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();

    println!();
    println!(
        "HelmRepository {FLUX_NS}/{REPOSITORY} ({url}): {repository_ready}; helm: {}",
        helm_ok(&helm, &["version", "--short"])?.trim()
    );
    if workarounds.is_empty() {
        println!("values: only what a bare API server needs");
    } else {
        println!("values: {}", workarounds.join(", "));
    }
    println!();
    println!(
        "| chart | version | target namespace | time to Ready | objects in release manifest | CRDs: crds/ folders, in manifest, of those in the cluster | helm list -A status / revision |"
    );
    println!("|---|---|---|---:|---:|---|---|");
    let mut secrets_before = BTreeMap::new();
    for chart in &charts {
        let ns = chart.target_namespace();
        let outcome = &outcomes[&chart.name];
        let manifest = helm_ok(
            &helm,
            &[
                "get",
                "manifest",
                &chart.name,
                "-n",
                &ns,
                "--kubeconfig",
                &kubeconfig_arg,
            ],
        )
        .unwrap_or_default();
        let (objects, manifest_crds) = manifest_objects(&manifest);
        let chart_crds = chart.crd_names();
        let all: BTreeSet<&String> = chart_crds.iter().chain(manifest_crds.iter()).collect();
        let present = all
            .iter()
            .filter(|n| crds_after.contains(n.as_str()))
            .count();
        let helm_row = listed
            .iter()
            .find(|r| r["name"] == chart.name.as_str() && r["namespace"] == ns.as_str())
            .map_or("not listed".to_string(), |r| {
                format!(
                    "{} / {}",
                    r["status"].as_str().unwrap_or("?"),
                    r["revision"].as_str().unwrap_or("?")
                )
            });
        let ready = outcome.ready_after.map_or_else(
            || {
                let mut message = outcome.last_ready.clone();
                if message.len() > 160 {
                    let cut = (0..=160).rev().find(|&i| message.is_char_boundary(i));
                    message.truncate(cut.unwrap_or(0));
                    message.push('…');
                }
                format!("not Ready ({message})")
            },
            |d| format!("{:.1} s", d.as_secs_f64()),
        );
        println!(
            "| {} | {} | {ns} | {ready} | {objects} | {}, {}, {present}/{} | {helm_row} |",
            chart.name,
            chart.version,
            chart_crds.len(),
            manifest_crds.len(),
            all.len(),
        );
        secrets_before.insert(
            chart.name.clone(),
            release_secrets(&client, &ns, &chart.name).await?,
        );
    }
    println!();
    println!(
        "controller: {install_cpu:.2} s CPU from its start to the last Ready, peak RSS {peak_rss:.0} MiB; CRDs in the cluster: {} before the HelmReleases (Flux's), {} after",
        crds_before.len(),
        crds_after.len()
    );
    for (name, outcome) in &outcomes {
        if outcome.ready_after.is_none() {
            println!("{name}: not Ready: {}", outcome.last_ready);
        }
    }
    if let Some(exited) = &controller_exited {
        println!("the controller exited: {exited}\n{}", controller.log_tail());
        bail!("the controller exited");
    }

    // 5. A pass of each HelmRelease asked for, with nothing changed.
    let token = format!("seed-noop-{}", std::process::id());
    let log_before = controller.log();
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    for chart in &charts {
        releases
            .patch(
                &chart.name,
                &PatchParams::default(),
                &Patch::Merge(
                    json!({"metadata": {"annotations": {REQUESTED_AT_ANNOTATION: token}}}),
                ),
            )
            .await?;
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut handled: BTreeMap<String, Duration> = BTreeMap::new();
    while handled.len() < charts.len() && Instant::now() < deadline {
        peak_rss = peak_rss.max(status_mib(pid, "VmRSS"));
        controller.check_running()?;
        for chart in &charts {
            if handled.contains_key(&chart.name) {
                continue;
            }
            let hr = releases.get(&chart.name).await?;
            if hr.last_handled_reconcile_at() == Some(token.as_str()) {
                handled.insert(chart.name.clone(), started.elapsed());
            }
        }
        tokio::time::sleep(TICK).await;
    }
    // The pass writes its status after its last release action: give a late Secret a moment.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let noop_cpu = cpu_seconds(pid) - cpu_before;
    peak_rss = peak_rss.max(status_mib(pid, "VmHWM"));
    println!();
    println!("no-op pass (requestedAt={token} on each HelmRelease):");
    println!(
        "| chart | handled after | in-sync passes logged | release Secrets before → after | new revision | Ready |"
    );
    println!("|---|---:|---:|---|---|---|");
    let mut new_revisions = 0;
    let log_after = controller.log();
    let noop_log = log_after.get(log_before.len()..).unwrap_or_default();
    for chart in &charts {
        let ns = chart.target_namespace();
        let after = release_secrets(&client, &ns, &chart.name).await?;
        let before = &secrets_before[&chart.name];
        let added: Vec<&String> = after.difference(before).collect();
        new_revisions += added.len();
        let hr = releases.get(&chart.name).await?;
        let ready = hr
            .ready()
            .map(|c| format!("{} {}", c.status, c.reason))
            .unwrap_or_default();
        let object = format!("HelmRelease/{FLUX_NS}/{}", chart.name);
        let in_sync = noop_log
            .lines()
            .filter(|l| l.contains("planned") && l.contains(&object) && l.contains("Nothing"))
            .count();
        println!(
            "| {} | {} | {in_sync} | {} → {} | {} | {ready} |",
            chart.name,
            handled
                .get(&chart.name)
                .map_or("not handled in 120 s".into(), |d| format!(
                    "{:.1} s",
                    d.as_secs_f64()
                )),
            before.len(),
            after.len(),
            if added.is_empty() {
                "none".to_string()
            } else {
                format!("{added:?}")
            },
        );
    }
    println!();
    println!(
        "no-op pass: {noop_cpu:.2} s controller CPU; controller total {:.2} s CPU, peak RSS {peak_rss:.0} MiB; new release revisions: {new_revisions}",
        cpu_seconds(pid)
    );
    let failed = outcomes.values().any(|o| o.ready_after.is_none());
    eprintln!("controller log: {}", work.join("controller.log").display());
    if failed || new_revisions > 0 {
        bail!("not every HelmRelease became Ready, or the no-op pass wrote a revision");
    }
    Ok(())
}
