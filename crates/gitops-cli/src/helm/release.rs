//! `gitops helm install|upgrade|rollback|uninstall|list|history|test`: releases on a cluster
//! through [`gitops::helm::release::Actions`], recorded as Helm v4 records them, so the real
//! `helm` sees them, with output in the shapes `helm` v4 prints.
//!
//! `list` and `history` print the table, JSON and YAML `helm` v4.3.2 prints; install, upgrade
//! and test print its status text (tests compare each with the real `helm`).
//!
//! # Known divergences
//! - Times print in UTC (Helm prints them in the local time zone).
//! - Errors print the whole cause chain and exit 2, as every `gitops` command does (Helm:
//!   `Error: INSTALLATION FAILED: …`, exit 1).
//! - `--wait` is a switch; Helm v4 also takes a strategy (`--wait=watcher|hookOnly|legacy`).
//! - Not supported: `list -A`, `--filter`, `--date`, `--max`/`--offset`; `test --filter`,
//!   `--logs`; `--dry-run`, `--atomic`/`--rollback-on-failure`, `--reuse-values`,
//!   `--reset-values` (an upgrade given values takes only those; given none, it keeps the
//!   current revision's, as Helm's default), charts from repositories (a directory or a
//!   `.tgz` only).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use gitops::helm::TemplateOptions;
use gitops::helm::release::{self, ActionOptions, Actions, Release, Status};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use serde::Serialize;

use super::ValuesArgs;
use crate::cluster::parse_timeout;
use crate::common::{emit, kube_client};

/// Where a release lives.
#[derive(clap::Args)]
pub(crate) struct ReleaseCluster {
    /// The release namespace.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    /// The kubeconfig file; by default `KUBECONFIG`, `~/.kube/config` or the in-cluster account.
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
}

impl ReleaseCluster {
    async fn actions(&self, options: ActionOptions) -> anyhow::Result<Actions> {
        let client = kube_client(self.kubeconfig.as_deref()).await?;
        Ok(Actions::new(client, options))
    }
}

/// How a write runs: waiting, timeout, hooks.
#[derive(clap::Args)]
pub(crate) struct WriteFlags {
    /// Wait until the applied objects are healthy (at most `--timeout`).
    #[arg(long)]
    wait: bool,
    /// How long to wait for health, and for each hook (`30s`, `5m`, `1h30m`).
    #[arg(long, default_value = "5m0s", value_parser = parse_timeout)]
    timeout: Duration,
    /// Do not run the chart's hooks.
    #[arg(long)]
    no_hooks: bool,
}

impl WriteFlags {
    fn options(&self) -> ActionOptions {
        let mut options = ActionOptions::default()
            .with_no_hooks(self.no_hooks)
            .with_hook_timeout(self.timeout);
        // A revision waiting on a hook stays pending: keep the recovery of stale pending
        // records well beyond what this run may take.
        let pending = options.pending_timeout.max(self.timeout.saturating_mul(2));
        options = options.with_pending_timeout(pending);
        if self.wait {
            options = options.with_wait(self.timeout);
        }
        options
    }
}

/// `helm install`'s arguments.
#[derive(clap::Args)]
pub(crate) struct InstallArgs {
    /// The release name.
    name: String,
    /// The chart: a directory or a `.tgz` archive.
    chart: PathBuf,
    #[command(flatten)]
    cluster: ReleaseCluster,
    #[command(flatten)]
    values: ValuesArgs,
    #[command(flatten)]
    write: WriteFlags,
    /// Create the release namespace when it does not exist.
    #[arg(long)]
    create_namespace: bool,
}

/// `helm upgrade`'s arguments.
#[derive(clap::Args)]
pub(crate) struct UpgradeArgs {
    /// The release name.
    name: String,
    /// The chart: a directory or a `.tgz` archive.
    chart: PathBuf,
    #[command(flatten)]
    cluster: ReleaseCluster,
    #[command(flatten)]
    values: ValuesArgs,
    #[command(flatten)]
    write: WriteFlags,
    /// Install the release when it does not exist (or was uninstalled with its history kept).
    #[arg(short = 'i', long)]
    install: bool,
    /// With `--install`, create the release namespace when it does not exist.
    #[arg(long)]
    create_namespace: bool,
    /// The most revisions kept, `0` for no limit.
    #[arg(
        long = "history-max",
        visible_alias = "max-history",
        default_value_t = 10
    )]
    history_max: usize,
}

/// `helm rollback`'s arguments.
#[derive(clap::Args)]
pub(crate) struct RollbackArgs {
    /// The release name.
    name: String,
    /// The revision to roll back to; by default (or `0`) the one before the current.
    revision: Option<u32>,
    #[command(flatten)]
    cluster: ReleaseCluster,
    #[command(flatten)]
    write: WriteFlags,
    /// The most revisions kept, `0` for no limit.
    #[arg(
        long = "history-max",
        visible_alias = "max-history",
        default_value_t = 10
    )]
    history_max: usize,
}

/// `helm uninstall`'s arguments.
#[derive(clap::Args)]
pub(crate) struct UninstallArgs {
    /// The release name.
    name: String,
    #[command(flatten)]
    cluster: ReleaseCluster,
    /// Keep the release's history, recorded `uninstalled`.
    #[arg(long)]
    keep_history: bool,
    /// Do not run the chart's hooks.
    #[arg(long)]
    no_hooks: bool,
    /// How long each hook may take.
    #[arg(long, default_value = "5m0s", value_parser = parse_timeout)]
    timeout: Duration,
}

/// How `list` and `history` print.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    /// Columns, as `helm` prints them.
    #[default]
    Table,
    /// The JSON `helm … -o json` prints.
    Json,
    /// The YAML `helm … -o yaml` prints.
    Yaml,
}

/// `helm list`'s arguments.
#[derive(clap::Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    cluster: ReleaseCluster,
    /// The output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// Print the names only, one a line.
    #[arg(short = 'q', long)]
    short: bool,
    /// Leave out the table's header.
    #[arg(long)]
    no_headers: bool,
    #[command(flatten)]
    states: StateFlags,
}

/// Which releases `list` shows, by the status of their last revision (every status when none
/// is given, as helm v4).
#[derive(clap::Args)]
pub(crate) struct StateFlags {
    /// Show deployed releases.
    #[arg(long)]
    deployed: bool,
    /// Show failed releases.
    #[arg(long)]
    failed: bool,
    /// Show pending releases.
    #[arg(long)]
    pending: bool,
    /// Show superseded revisions.
    #[arg(long)]
    superseded: bool,
    /// Show uninstalled releases (uninstalled with `--keep-history`).
    #[arg(long)]
    uninstalled: bool,
    /// Show releases being uninstalled.
    #[arg(long)]
    uninstalling: bool,
}

impl StateFlags {
    /// Whether a revision of this status is shown.
    fn shows(&self, status: Status) -> bool {
        let none = !(self.deployed
            || self.failed
            || self.pending
            || self.superseded
            || self.uninstalled
            || self.uninstalling);
        if none {
            return true;
        }
        match status {
            Status::Deployed => self.deployed,
            Status::Failed => self.failed,
            Status::Superseded => self.superseded,
            Status::Uninstalled => self.uninstalled,
            Status::Uninstalling => self.uninstalling,
            s if s.is_pending() => self.pending,
            _ => false,
        }
    }

    /// Only superseded revisions asked for: every revision is a candidate, not only the last
    /// of each release (none of which is superseded), as helm does.
    fn only_superseded(&self) -> bool {
        self.superseded
            && !(self.deployed
                || self.failed
                || self.pending
                || self.uninstalled
                || self.uninstalling)
    }
}

/// `helm history`'s arguments.
#[derive(clap::Args)]
pub(crate) struct HistoryArgs {
    /// The release name.
    name: String,
    #[command(flatten)]
    cluster: ReleaseCluster,
    /// The output format.
    #[arg(short = 'o', long, value_enum, default_value_t = Output::Table)]
    output: Output,
    /// The most revisions shown (the latest ones).
    #[arg(long, default_value_t = 256)]
    max: usize,
}

/// `helm test`'s arguments.
#[derive(clap::Args)]
pub(crate) struct TestArgs {
    /// The release name.
    name: String,
    #[command(flatten)]
    cluster: ReleaseCluster,
    /// How long each test may take.
    #[arg(long, default_value = "5m0s", value_parser = parse_timeout)]
    timeout: Duration,
}

/// The chart at `path`, loaded.
fn load_chart(path: &Path) -> anyhow::Result<gitops::helm::Chart> {
    gitops::helm::chart::load(path).with_context(|| format!("cannot load chart {}", path.display()))
}

fn template_options(name: &str, namespace: &str, values: ValuesArgs) -> TemplateOptions {
    let mut options = TemplateOptions::new(name).with_namespace(namespace);
    values.apply(&mut options);
    options
}

/// Creates `namespace` unless it exists, as `helm install --create-namespace` does.
async fn create_namespace(actions: &Actions, namespace: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(actions.client().clone());
    if api
        .get_opt(namespace)
        .await
        .with_context(|| format!("cannot read namespace {namespace}"))?
        .is_some()
    {
        return Ok(());
    }
    let object = Namespace {
        metadata: kube::api::ObjectMeta {
            name: Some(namespace.to_owned()),
            labels: Some([("name".to_owned(), namespace.to_owned())].into()),
            ..Default::default()
        },
        ..Default::default()
    };
    match api.create(&PostParams::default(), &object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot create namespace {namespace}")),
    }
}

/// `helm install`: prints the release's status.
pub(crate) async fn install(args: InstallArgs) -> anyhow::Result<ExitCode> {
    let actions = args.cluster.actions(args.write.options()).await?;
    let namespace = args.cluster.namespace.clone();
    let chart = load_chart(&args.chart)?;
    if args.create_namespace {
        create_namespace(&actions, &namespace).await?;
    }
    let options = template_options(&args.name, &namespace, args.values);
    let release = actions
        .install(&chart, &options)
        .await
        .with_context(|| format!("installation of {:?} failed", args.name))?;
    emit(&status_text(&release, true))?;
    Ok(ExitCode::SUCCESS)
}

/// `helm upgrade`: prints that the release was upgraded (or installed) and its status.
pub(crate) async fn upgrade(args: UpgradeArgs) -> anyhow::Result<ExitCode> {
    let options = args.write.options().with_max_history(args.history_max);
    let actions = args.cluster.actions(options).await?;
    let namespace = args.cluster.namespace.clone();
    let chart = load_chart(&args.chart)?;
    let mut options = template_options(&args.name, &namespace, args.values);
    let history = actions
        .storage(&namespace)
        .history(&args.name)
        .await
        .with_context(|| format!("cannot read the history of {:?}", args.name))?;
    if args.install
        && history
            .last()
            .is_none_or(|r| r.release.info.status == Status::Uninstalled)
    {
        emit(&format!(
            "Release {:?} does not exist. Installing it now.\n",
            args.name
        ))?;
        if args.create_namespace {
            create_namespace(&actions, &namespace).await?;
        }
        let release = actions
            .install(&chart, &options)
            .await
            .with_context(|| format!("installation of {:?} failed", args.name))?;
        emit(&status_text(&release, true))?;
        return Ok(ExitCode::SUCCESS);
    }
    // As helm: an upgrade given no values keeps those of the current revision (the last
    // deployed one, else the last one).
    let _kept_values = if options.user_values().context("invalid values")?.is_empty() {
        let current = history
            .iter()
            .rev()
            .find(|r| r.release.info.status == Status::Deployed)
            .or(history.last());
        match current.map(|r| &r.release.config).filter(|c| !c.is_empty()) {
            Some(config) => {
                let file = tempfile::Builder::new()
                    .prefix("values-")
                    .suffix(".json")
                    .tempfile()
                    .context("cannot write the current values to a temporary file")?;
                std::fs::write(file.path(), serde_json::to_vec(config)?)
                    .context("cannot write the current values to a temporary file")?;
                options.value_files = vec![file.path().to_owned()];
                Some(file)
            }
            None => None,
        }
    } else {
        None
    };
    let release = actions
        .upgrade(&chart, &options)
        .await
        .with_context(|| format!("upgrade of {:?} failed", args.name))?;
    emit(&format!(
        "Release {:?} has been upgraded. Happy Helming!\n{}",
        args.name,
        status_text(&release, true)
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `helm rollback`.
pub(crate) async fn rollback(args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let options = args.write.options().with_max_history(args.history_max);
    let actions = args.cluster.actions(options).await?;
    let revision = args.revision.filter(|r| *r != 0);
    actions
        .rollback(&args.name, &args.cluster.namespace, revision)
        .await
        .with_context(|| format!("rollback of {:?} failed", args.name))?;
    emit("Rollback was a success! Happy Helming!\n")?;
    Ok(ExitCode::SUCCESS)
}

/// `helm uninstall`.
pub(crate) async fn uninstall(args: UninstallArgs) -> anyhow::Result<ExitCode> {
    let options = ActionOptions::default()
        .with_no_hooks(args.no_hooks)
        .with_hook_timeout(args.timeout);
    let actions = args.cluster.actions(options).await?;
    actions
        .uninstall(&args.name, &args.cluster.namespace, args.keep_history)
        .await
        .with_context(|| format!("uninstallation of {:?} failed", args.name))?;
    emit(&format!("release {:?} uninstalled\n", args.name))?;
    Ok(ExitCode::SUCCESS)
}

/// `helm test`: runs the test hooks, then prints the status with each test's last run; exits
/// with an error when a test failed.
pub(crate) async fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let options = ActionOptions::default().with_hook_timeout(args.timeout);
    let actions = args.cluster.actions(options).await?;
    let namespace = &args.cluster.namespace;
    let outcome = actions.test(&args.name, namespace).await;
    // Print what ran even when a test failed, as helm does.
    if let Ok(release) = actions.status(&args.name, namespace).await {
        emit(&status_text(&release, false))?;
    }
    outcome.with_context(|| format!("test of {:?} failed", args.name))?;
    Ok(ExitCode::SUCCESS)
}

/// One row of `helm list -o json` (every field a string, as helm prints it).
#[derive(Serialize)]
struct ListRow {
    name: String,
    namespace: String,
    revision: String,
    updated: String,
    status: String,
    chart: String,
    app_version: String,
}

/// `helm list`: the releases of the namespace, by name.
pub(crate) async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let actions = args.cluster.actions(ActionOptions::default()).await?;
    let namespace = &args.cluster.namespace;
    let records = actions
        .storage(namespace)
        .all()
        .await
        .with_context(|| format!("cannot list the releases of namespace {namespace}"))?;
    let mut releases: Vec<Release> = records.into_iter().map(|r| r.release).collect();
    if !args.states.only_superseded() {
        // The last revision of each release (records come sorted by name, then revision).
        let mut latest: Vec<Release> = Vec::new();
        for r in releases {
            match latest.last_mut() {
                Some(last) if last.name == r.name => *last = r,
                _ => latest.push(r),
            }
        }
        releases = latest;
    }
    let rows: Vec<ListRow> = releases
        .iter()
        .filter(|r| args.states.shows(r.info.status))
        .map(|r| ListRow {
            name: r.name.clone(),
            namespace: r.namespace.clone(),
            revision: r.version.to_string(),
            updated: r
                .info
                .last_deployed
                .as_deref()
                .map(go_time_string)
                .unwrap_or_default(),
            status: r.info.status.to_string(),
            chart: chart_name(r),
            app_version: app_version(r),
        })
        .collect();
    if args.short {
        let names: String = rows.iter().map(|r| format!("{}\n", r.name)).collect();
        emit(&names)?;
        return Ok(ExitCode::SUCCESS);
    }
    let text = match args.output {
        Output::Json => json_line(&rows)?,
        Output::Yaml => yaml_text(&rows)?,
        Output::Table => table(
            (!args.no_headers).then_some(&[
                "NAME",
                "NAMESPACE",
                "REVISION",
                "UPDATED",
                "STATUS",
                "CHART",
                "APP VERSION",
            ]),
            rows.iter().map(|r| {
                vec![
                    r.name.clone(),
                    r.namespace.clone(),
                    r.revision.clone(),
                    r.updated.clone(),
                    r.status.clone(),
                    r.chart.clone(),
                    r.app_version.clone(),
                ]
            }),
        ),
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// One row of `helm history -o json`.
#[derive(Serialize)]
struct HistoryRow {
    revision: u32,
    updated: String,
    status: String,
    chart: String,
    app_version: String,
    /// For a rollback, the revision it rolled back to (left out otherwise).
    #[serde(skip_serializing_if = "is_zero")]
    rollback_revision: u32,
    description: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// `helm history`: the revisions of a release, oldest first.
pub(crate) async fn history(args: HistoryArgs) -> anyhow::Result<ExitCode> {
    let actions = args.cluster.actions(ActionOptions::default()).await?;
    let namespace = &args.cluster.namespace;
    let mut history = actions
        .history(&args.name, namespace)
        .await
        .with_context(|| format!("cannot read the history of {:?}", args.name))?;
    if args.max > 0 && history.len() > args.max {
        history.drain(..history.len() - args.max);
    }
    let rows: Vec<HistoryRow> = history
        .iter()
        .map(|r| HistoryRow {
            revision: r.version,
            updated: r.info.last_deployed.clone().unwrap_or_default(),
            status: r.info.status.to_string(),
            chart: chart_name(r),
            app_version: app_version(r),
            rollback_revision: r.info.rollback_revision,
            description: r.info.description.clone(),
        })
        .collect();
    let text = match args.output {
        Output::Json => json_line(&rows)?,
        Output::Yaml => yaml_text(&rows)?,
        Output::Table => table(
            Some(&[
                "REVISION",
                "UPDATED",
                "STATUS",
                "CHART",
                "APP VERSION",
                "DESCRIPTION",
            ]),
            rows.iter().map(|r| {
                vec![
                    r.revision.to_string(),
                    ansic(&r.updated),
                    r.status.clone(),
                    r.chart.clone(),
                    r.app_version.clone(),
                    r.description.clone(),
                ]
            }),
        ),
    };
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

/// JSON on one line with a line break, as helm prints it.
fn json_line<T: Serialize>(value: &T) -> anyhow::Result<String> {
    let mut text = serde_json::to_string(value).context("cannot write JSON")?;
    text.push('\n');
    Ok(text)
}

/// YAML as helm prints it (sigs.k8s.io/yaml: the JSON, as go-yaml v2 writes it, keys sorted).
fn yaml_text<T: Serialize>(value: &T) -> anyhow::Result<String> {
    use gitops::helm::yaml;
    let json = serde_json::to_string(value).context("cannot write JSON")?;
    let node =
        yaml::parse_one(&json).map_err(|e| anyhow::anyhow!("cannot write YAML: {}", e.message))?;
    Ok(yaml::emit(&node, false))
}

/// `NAME-VERSION` of the release's chart.
fn chart_name(release: &Release) -> String {
    release
        .chart
        .as_ref()
        .map_or_else(String::new, |c| format!("{}-{}", c.name(), c.version()))
}

fn app_version(release: &Release) -> String {
    release
        .chart
        .as_ref()
        .map_or_else(String::new, |c| c.app_version().to_owned())
}

/// What `helm install`, `upgrade` and `test` print about a release; `notes` adds `NOTES.txt`
/// (`helm test` leaves it out).
fn status_text(release: &Release, notes: bool) -> String {
    let mut out = format!("NAME: {}\n", release.name);
    if let Some(at) = &release.info.last_deployed {
        out.push_str(&format!("LAST DEPLOYED: {}\n", ansic(at)));
    }
    out.push_str(&format!(
        "NAMESPACE: {}\nSTATUS: {}\nREVISION: {}\nDESCRIPTION: {}\n",
        release.namespace, release.info.status, release.version, release.info.description
    ));
    let tests: Vec<&release::Hook> = release
        .hooks
        .iter()
        .filter(|h| h.events.iter().any(|e| e == "test"))
        .collect();
    // "None" without test hooks; with them, those that ran (none yet: nothing), as helm.
    if tests.is_empty() {
        out.push_str("TEST SUITE: None\n");
    }
    for hook in tests.iter().filter(|h| h.last_run.started_at.is_some()) {
        let run = &hook.last_run;
        out.push_str(&format!(
            "TEST SUITE:     {}\nLast Started:   {}\nLast Completed: {}\nPhase:          {}\n",
            hook.name,
            run.started_at.as_deref().map(ansic).unwrap_or_default(),
            run.completed_at.as_deref().map(ansic).unwrap_or_default(),
            run.phase,
        ));
    }
    if notes && !release.info.notes.is_empty() {
        out.push_str(&format!("NOTES:\n{}\n", release.info.notes.trim()));
    }
    out
}

/// A recorded time as Go's `time.ANSIC` prints it (`Mon Jan  2 15:04:05 2006`), in UTC; the
/// text itself when it is not a time.
fn ansic(text: &str) -> String {
    match text.parse::<Timestamp>() {
        Ok(t) => t.strftime("%a %b %e %H:%M:%S %Y").to_string(),
        Err(_) => text.to_owned(),
    }
}

/// A recorded time as Go's `time.Time.String` prints a UTC time
/// (`2006-01-02 15:04:05.999999999 +0000 UTC`, trailing zeros of the fraction dropped).
fn go_time_string(text: &str) -> String {
    let Ok(t) = text.parse::<Timestamp>() else {
        return text.to_owned();
    };
    let mut out = t.strftime("%Y-%m-%d %H:%M:%S").to_string();
    let nanos = t.subsec_nanosecond();
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push('.');
        out.push_str(fraction.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
}

/// Columns padded to their widest cell and separated by a tab, as helm's tables are.
fn table<const N: usize>(
    header: Option<&[&str; N]>,
    rows: impl Iterator<Item = Vec<String>>,
) -> String {
    let mut all: Vec<Vec<String>> = header
        .map(|h| h.iter().map(|h| (*h).to_owned()).collect())
        .into_iter()
        .collect();
    all.extend(rows);
    let mut widths = vec![0; N];
    for row in &all {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &all {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_go_prints_them() {
        assert_eq!(
            go_time_string("2026-01-02T03:04:05.120Z"),
            "2026-01-02 03:04:05.12 +0000 UTC"
        );
        assert_eq!(
            go_time_string("2026-01-02T03:04:05Z"),
            "2026-01-02 03:04:05 +0000 UTC"
        );
        assert_eq!(
            ansic("2026-01-02T03:04:05.120Z"),
            "Fri Jan  2 03:04:05 2026"
        );
    }

    #[test]
    fn tables_pad_every_column() {
        let text = table(
            Some(&["NAME", "REVISION"]),
            [vec!["web-long".to_owned(), "1".to_owned()]].into_iter(),
        );
        assert_eq!(text, "NAME    \tREVISION\nweb-long\t1       \n");
    }
}
