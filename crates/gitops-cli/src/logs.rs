//! `gitops logs`: the controller's JSON log lines (its `--log-encoding json`), from its pods or
//! a file, filtered by level and by the object they are about, as `flux logs` filters.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, LogParams};
use serde_json::Value;

use crate::cluster::ClusterArgs;

/// `gitops logs`.
#[derive(clap::Args)]
pub(crate) struct LogsArgs {
    /// Only lines at this level or a more severe one.
    #[arg(long, value_enum)]
    level: Option<Level>,
    /// Only lines about objects of this kind (`Kustomization`, any case).
    #[arg(long)]
    kind: Option<String>,
    /// Only lines about objects of this name.
    #[arg(long)]
    name: Option<String>,
    /// Only lines about objects in this namespace.
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Read the log lines from this file (`-` for standard input) instead of the pods.
    #[arg(long, value_name = "FILE")]
    from_file: Option<PathBuf>,
    /// The namespace the controller runs in.
    #[arg(long, default_value = "flux-system")]
    flux_namespace: String,
    /// The label selector of the controller's pods.
    #[arg(long, default_value = "app=gitops-controller")]
    selector: String,
    /// Only the last N lines of each pod.
    #[arg(long)]
    tail: Option<i64>,
    /// The kubeconfig file; by default `KUBECONFIG`, `~/.kube/config` or the in-cluster account.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
}

/// Log levels, least severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    fn parse(text: &str) -> Option<Level> {
        match text.to_ascii_lowercase().as_str() {
            "trace" => Some(Level::Trace),
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" | "warning" => Some(Level::Warn),
            "error" => Some(Level::Error),
            _ => None,
        }
    }
}

/// One JSON log line, shown as `TIME LEVEL OBJECT MESSAGE key=value…` when it passes `args`'
/// filters; `None` when it does not. A line that is not JSON passes only without filters.
fn show(line: &str, args: &LogsArgs) -> Option<String> {
    let filtering = args.level.is_some()
        || args.kind.is_some()
        || args.name.is_some()
        || args.namespace.is_some();
    let Ok(Value::Object(entry)) = serde_json::from_str::<Value>(line) else {
        return (!filtering && !line.trim().is_empty()).then(|| line.to_owned());
    };
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let level = text(entry.get("level"));
    if let Some(min) = args.level
        && Level::parse(&level).is_none_or(|l| l < min)
    {
        return None;
    }
    let empty = serde_json::Map::new();
    let fields = entry
        .get("fields")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    // The controller names objects `Kind/namespace/name`.
    let object = text(fields.get("object"));
    let mut parts = object.splitn(3, '/');
    let (kind, namespace, name) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if args
        .kind
        .as_deref()
        .is_some_and(|k| !k.eq_ignore_ascii_case(kind))
        || args.name.as_deref().is_some_and(|n| n != name)
        || args.namespace.as_deref().is_some_and(|n| n != namespace)
    {
        return None;
    }
    let mut out = format!(
        "{} {}",
        text(entry.get("timestamp")),
        level.to_ascii_lowercase()
    );
    if !object.is_empty() {
        out.push(' ');
        out.push_str(&object);
    }
    out.push(' ');
    out.push_str(&text(fields.get("message")).replace('\n', "\\n"));
    let mut rest: Vec<(&String, &Value)> = fields
        .iter()
        .filter(|(k, _)| k.as_str() != "message" && k.as_str() != "object")
        .collect();
    rest.sort_by(|a, b| a.0.cmp(b.0));
    for (key, value) in rest {
        // One line per entry: a value with spaces, quotes or newlines is written quoted and
        // escaped, as logfmt writes it.
        let value = text(Some(value));
        if value.is_empty() || value.contains(|c: char| c.is_whitespace() || c == '"') {
            out.push_str(&format!(" {key}={}", Value::String(value)));
        } else {
            out.push_str(&format!(" {key}={value}"));
        }
    }
    Some(out)
}

/// Runs `logs`.
pub(crate) async fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    let mut shown = 0usize;
    let mut print = |line: &str| {
        if let Some(out) = show(line, &args) {
            println!("{out}");
            shown += 1;
        }
    };
    match &args.from_file {
        Some(file) if file.as_os_str() == "-" => {
            for line in std::io::stdin().lock().lines() {
                print(&line?);
            }
        }
        Some(file) => {
            let text =
                std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
            for line in String::from_utf8_lossy(&text).lines() {
                print(line);
            }
        }
        None => {
            let cluster = ClusterArgs {
                kubeconfig: args.kubeconfig.clone(),
                namespace: args.flux_namespace.clone(),
                timeout: Duration::from_secs(60),
            };
            let client = cluster.client().await?;
            let pods: Api<Pod> = Api::namespaced(client, &args.flux_namespace);
            let found = pods
                .list(&ListParams::default().labels(&args.selector))
                .await
                .with_context(|| format!("cannot list pods in {}", args.flux_namespace))?;
            if found.items.is_empty() {
                anyhow::bail!(
                    "no controller pods ({}) in {} namespace",
                    args.selector,
                    args.flux_namespace
                );
            }
            for pod in found.items {
                let name = pod.metadata.name.unwrap_or_default();
                let params = LogParams {
                    tail_lines: args.tail,
                    ..LogParams::default()
                };
                let text = pods
                    .logs(&name, &params)
                    .await
                    .with_context(|| format!("cannot read the logs of pod {name}"))?;
                for line in text.lines() {
                    print(line);
                }
            }
        }
    }
    if shown == 0 {
        eprintln!("✗ no log lines match");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: LogsArgs,
    }

    fn args(flags: &[&str]) -> LogsArgs {
        Wrapper::parse_from(std::iter::once("logs").chain(flags.iter().copied())).args
    }

    const APPLIED: &str = r#"{"timestamp":"2026-12-07T05:40:00.000001Z","level":"INFO","fields":{"message":"applied","object":"Kustomization/flux-system/apps","revision":"main@sha1:abc","changes":"2 created"},"target":"gitops_controller::kustomizations"}"#;
    const FAILED: &str = r#"{"timestamp":"2026-12-07T05:40:01.000001Z","level":"WARN","fields":{"message":"pass failed","object":"GitRepository/team/repo","error":"connection refused"},"target":"gitops_controller::run"}"#;
    const STARTED: &str = r#"{"timestamp":"2026-12-07T05:39:59.000001Z","level":"INFO","fields":{"message":"leading","identity":"pod_1"},"target":"gitops_controller::run"}"#;

    #[test]
    fn lines_are_shown_with_their_object_and_sorted_fields() {
        assert_eq!(
            show(APPLIED, &args(&[])).as_deref(),
            Some(
                "2026-12-07T05:40:00.000001Z info Kustomization/flux-system/apps applied changes=\"2 created\" revision=main@sha1:abc"
            )
        );
        assert_eq!(
            show(STARTED, &args(&[])).as_deref(),
            Some("2026-12-07T05:39:59.000001Z info leading identity=pod_1")
        );
    }

    #[test]
    fn a_field_spanning_lines_stays_on_one_line() {
        let line = r#"{"timestamp":"t","level":"INFO","fields":{"message":"applied","object":"Kustomization/a/b","changes":"ConfigMap/a/x created\nService/a/y created"}}"#;
        assert_eq!(
            show(line, &args(&[])).as_deref(),
            Some(
                r#"t info Kustomization/a/b applied changes="ConfigMap/a/x created\nService/a/y created""#
            )
        );
    }

    #[test]
    fn filters_by_level_kind_name_and_namespace() {
        let warn = args(&["--level", "warn"]);
        assert!(show(APPLIED, &warn).is_none() && show(FAILED, &warn).is_some());
        let ks = args(&["--kind", "kustomization", "--name", "apps"]);
        assert!(show(APPLIED, &ks).is_some());
        assert!(show(FAILED, &ks).is_none() && show(STARTED, &ks).is_none());
        let team = args(&["-n", "team"]);
        assert!(show(FAILED, &team).is_some() && show(APPLIED, &team).is_none());
        // A line that is not JSON passes only when nothing is filtered.
        assert_eq!(
            show("plain text", &args(&[])).as_deref(),
            Some("plain text")
        );
        assert!(show("plain text", &warn).is_none());
    }
}
