//! `gitops helm template`: a chart rendered natively, printed byte for byte as `helm template`
//! v4.3.2 prints it, errors worded as Helm words them; `install`, `upgrade`, `rollback`,
//! `uninstall`, `list`, `history` and `test` on a cluster ([`release`]).

mod release;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum HelmCommand {
    /// Render a chart and print it, byte for byte as `helm template` v4.3.2 does; errors
    /// print as Helm's (`Error: …` on stderr) and exit 1.
    Template(Box<HelmTemplate>),
    /// Install a chart as a release, recorded as Helm v4 records it (`helm install`).
    Install(Box<release::InstallArgs>),
    /// Upgrade a release to a chart and values: a new revision (`helm upgrade`).
    Upgrade(Box<release::UpgradeArgs>),
    /// Roll a release back to an earlier revision, as a new revision (`helm rollback`).
    Rollback(release::RollbackArgs),
    /// Delete a release's objects and records (`helm uninstall`).
    #[command(visible_alias = "delete")]
    Uninstall(release::UninstallArgs),
    /// List the releases of a namespace (`helm list`).
    #[command(visible_alias = "ls")]
    List(release::ListArgs),
    /// Show the revisions of a release (`helm history`).
    #[command(visible_alias = "hist")]
    History(release::HistoryArgs),
    /// Run a release's test hooks (`helm test`).
    Test(release::TestArgs),
}

/// The values flags `template`, `install` and `upgrade` share, as Helm takes them.
#[derive(clap::Args)]
pub(crate) struct ValuesArgs {
    /// Values files, merged in order (comma-separated or repeated, as Helm takes them).
    #[arg(
        short = 'f',
        long = "values",
        value_name = "FILE",
        value_delimiter = ','
    )]
    values: Vec<PathBuf>,
    /// `K=V` values (Helm's strvals syntax: `a.b=c`, `a[0]=x`, `a={x,y}`).
    #[arg(long, value_name = "K=V")]
    set: Vec<String>,
    /// `K=V` values kept as strings.
    #[arg(long, value_name = "K=V")]
    set_string: Vec<String>,
    /// `K=PATH`: the value is the file's content.
    #[arg(long, value_name = "K=PATH")]
    set_file: Vec<String>,
    /// `K=JSON` values.
    #[arg(long, value_name = "K=JSON")]
    set_json: Vec<String>,
    /// `K=V` values taken literally (no strvals parsing of V).
    #[arg(long, value_name = "K=V")]
    set_literal: Vec<String>,
}

impl ValuesArgs {
    /// Sets the values of `options` from these flags.
    pub(crate) fn apply(self, options: &mut gitops::helm::TemplateOptions) {
        options.value_files = self.values;
        options.set = self.set;
        options.set_string = self.set_string;
        options.set_file = self.set_file;
        options.set_json = self.set_json;
        options.set_literal = self.set_literal;
    }
}

#[derive(clap::Args)]
pub(crate) struct HelmTemplate {
    /// The release name.
    name: String,
    /// The chart: a directory or a `.tgz` archive.
    chart: PathBuf,
    /// The release namespace.
    #[arg(short = 'n', long, default_value = "default")]
    namespace: String,
    #[command(flatten)]
    values: ValuesArgs,
    /// The Kubernetes version `.Capabilities` reports (default v1.37.0, as Helm v4.3.2).
    #[arg(long, value_name = "V")]
    kube_version: Option<String>,
    /// API versions `.Capabilities.APIVersions` has on top of the defaults.
    #[arg(short = 'a', long, value_name = "V", value_delimiter = ',')]
    api_versions: Vec<String>,
    /// Print the charts' `crds/` too.
    #[arg(long)]
    include_crds: bool,
    /// Leave out `helm.sh/hook: test` documents.
    #[arg(long)]
    skip_tests: bool,
    /// Render as an upgrade (`.Release.IsUpgrade`).
    #[arg(long)]
    is_upgrade: bool,
    /// Let `getHostByName` ask the system resolver (otherwise it returns "", as in Helm).
    #[arg(long)]
    enable_dns: bool,
}

/// `helm template`: the output on stdout, or Helm's error on stderr and exit code 1.
fn template(args: HelmTemplate) -> ExitCode {
    use gitops::helm::{Error, TemplateOptions};
    let mut options = TemplateOptions::new(args.name).with_namespace(args.namespace);
    args.values.apply(&mut options);
    options.kube_version = args.kube_version;
    options.api_versions = args.api_versions;
    options.include_crds = args.include_crds;
    options.skip_tests = args.skip_tests;
    options.is_upgrade = args.is_upgrade;
    options.enable_dns = args.enable_dns;
    // A one-shot process: its threads are kept on cores of their own (see the option).
    options.pin_threads = true;
    // Helm locates the chart before loading it, with this message.
    if !args.chart.exists() {
        eprintln!(
            "Error: path {:?} not found",
            args.chart.display().to_string()
        );
        return ExitCode::FAILURE;
    }
    match gitops::helm::template_timed(&args.chart, &options) {
        Ok(timed) => {
            use std::io::Write;
            // The process exits right after printing: freeing the parse trees and values
            // one allocation at a time (5–9 ms for kube-prometheus-stack) would only delay
            // the exit that returns all of it at once.
            std::mem::forget(timed.retained);
            let out = timed.output;
            let mut stdout = std::io::stdout().lock();
            if stdout
                .write_all(out.as_bytes())
                .and_then(|()| stdout.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            // Helm adds its hint to the errors of rendering (a release exists by then),
            // not to those of loading the chart or its values.
            let rendering = match &error {
                Error::Template { .. } | Error::Manifest { .. } => true,
                Error::Values(message) => message.starts_with("chart requires kubeVersion"),
                _ => false,
            };
            let hint = if rendering {
                "\n\nUse --debug flag to render out invalid YAML"
            } else {
                ""
            };
            if let Error::Io { path, source } = &error {
                // Go's wording of an `os.Open` error (values files).
                let why = match source.kind() {
                    std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
                    std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
                    _ => source.to_string(),
                };
                eprintln!("Error: open {path}: {why}");
                return ExitCode::FAILURE;
            }
            eprintln!("Error: {error}{hint}");
            ExitCode::FAILURE
        }
    }
}

/// Runs a `helm` subcommand.
pub(crate) async fn run(command: HelmCommand) -> anyhow::Result<ExitCode> {
    match command {
        HelmCommand::Template(args) => Ok(template(*args)),
        HelmCommand::Install(args) => release::install(*args).await,
        HelmCommand::Upgrade(args) => release::upgrade(*args).await,
        HelmCommand::Rollback(args) => release::rollback(args).await,
        HelmCommand::Uninstall(args) => release::uninstall(args).await,
        HelmCommand::List(args) => release::list(args).await,
        HelmCommand::History(args) => release::history(args).await,
        HelmCommand::Test(args) => release::test(args).await,
    }
}
