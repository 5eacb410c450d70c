//! The controller's settings, parsed from its command line.

use std::path::PathBuf;
use std::time::Duration;

/// What a controller process is told: its command-line flags (Flux's names where Flux has
/// them).
#[derive(clap::Parser, Debug, Clone)]
#[command(version, about = "Reconciles Flux's custom resources with gitops-rs")]
pub struct Settings {
    /// Kubeconfig to use; in-cluster or `$KUBECONFIG` when unset.
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Where source artifacts and automation checkouts are kept.
    #[arg(long, default_value = "./controller-storage")]
    pub storage_path: PathBuf,
    /// Where `/metrics`, `/healthz` and `/readyz` are served.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub metrics_addr: String,
    /// Objects of each kind reconciled at once (Flux's `--concurrent`, which is per
    /// reconciler: GitRepositories and Kustomizations each get this many).
    #[arg(long, default_value_t = 4)]
    pub concurrent: usize,
    /// Install (or update) the CRDs at start.
    #[arg(long)]
    pub install_crds: bool,
    /// Wait for a Lease before reconciling.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,
    /// The Lease's namespace.
    #[arg(long, default_value = "flux-system")]
    pub lease_namespace: String,
    /// Only reconcile objects labelled `sharding.fluxcd.io/key=SHARD`.
    #[arg(long)]
    pub shard: Option<String>,
    /// How soon to look again at an object waiting for a dependency or a source.
    #[arg(long, default_value = "10s", value_parser = parse_go_duration)]
    pub requeue_dependency: Duration,
    /// Allow credentials over plain `http://` Git URLs (test servers).
    #[arg(long)]
    pub allow_insecure_http: bool,
    /// Refuse a Kustomization's `sourceRef` in another namespace (Flux's flag of that name).
    #[arg(long)]
    pub no_cross_namespace_refs: bool,
    /// The ServiceAccount (of each Kustomization's own namespace) to apply as when its spec
    /// names none, instead of the controller's identity: Flux's multi-tenancy lockdown.
    #[arg(long, value_name = "NAME")]
    pub default_service_account: Option<String>,
    /// The field manager of applied objects.
    #[arg(long, default_value = "gitops-controller")]
    pub field_manager: String,
    /// Where `Receiver` webhook paths are served (Flux's notification-controller uses :9292).
    #[arg(long, default_value = "127.0.0.1:9292")]
    pub receiver_addr: String,
    /// How logs are written to standard error (Flux's controllers write `json`).
    #[arg(long, value_enum, default_value = "console")]
    pub log_encoding: LogEncoding,
}

/// Log formats.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub enum LogEncoding {
    /// Human-readable lines, coloured on a terminal.
    Console,
    /// One JSON object a line.
    Json,
}

/// A Go duration (`10s`, `1m30s`), as Flux's flags take them.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    gitops_flux::parse_duration(text).ok_or_else(|| format!("not a duration: {text}"))
}
