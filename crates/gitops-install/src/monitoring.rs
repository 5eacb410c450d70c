//! What `gitops install --monitoring` adds: a `PrometheusRule` with the alerts, a `PodMonitor`
//! that scrapes the controller, and a ConfigMap with two Grafana dashboards (cluster overview
//! and per-object detail) labelled for Grafana's dashboard sidecar (`grafana_dashboard: "1"`,
//! as kube-prometheus-stack configures it). They need the Prometheus operator's CRDs.
//!
//! The alerts fire on: a reconciliation failing for more than 5 minutes, an ImagePolicy that
//! finds no image, a missing decryption Secret, drift between Git and the cluster corrected on
//! the last pass, and an object left suspended for more than a day. The rule file is
//! `monitoring/alerts.yaml` in this crate, checked and unit-tested with `promtool` by the test
//! suite (`monitoring/alerts.test.yaml`).

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::{CONTROLLER, Error, InstallOptions};

/// The alerting rules, as a Prometheus rule file (`groups:`).
pub const ALERTS: &str = include_str!("../monitoring/alerts.yaml");

/// The Grafana dashboards, as `(file name, JSON)`.
pub const DASHBOARDS: &[(&str, &str)] = &[
    (
        "gitops-cluster.json",
        include_str!("../monitoring/dashboards/cluster.json"),
    ),
    (
        "gitops-object.json",
        include_str!("../monitoring/dashboards/object.json"),
    ),
];

/// The `PrometheusRule`, the `PodMonitor` and the dashboards' ConfigMap.
///
/// # Errors
/// [`Error::Option`] if the embedded rule file does not parse (a build of this crate whose
/// tests failed).
pub fn objects(options: &InstallOptions) -> Result<Vec<Value>, Error> {
    let rules: Value = serde_yaml_ng::from_str(ALERTS)
        .map_err(|e| Error::Option(format!("the embedded alert rules do not parse: {e}")))?;
    let dashboards: serde_json::Map<String, Value> = DASHBOARDS
        .iter()
        .map(|(file, text)| ((*file).to_string(), Value::String((*text).to_string())))
        .collect();
    let ns = options.namespace.as_str();
    Ok(vec![
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
               "metadata": {"name": CONTROLLER, "namespace": ns},
               "spec": {"groups": rules["groups"]}}),
        json!({"apiVersion": "monitoring.coreos.com/v1", "kind": "PodMonitor",
               "metadata": {"name": CONTROLLER, "namespace": ns},
               "spec": {"selector": {"matchLabels": {"app": CONTROLLER}},
                        "podMetricsEndpoints": [{"port": "http-metrics", "path": "/metrics"}]}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "gitops-dashboards", "namespace": ns,
                            "labels": {"grafana_dashboard": "1"}},
               "data": dashboards}),
    ])
}

/// Every metric name the alerts and dashboards use (`gotk_…`, `gitops_…`), as written (with
/// `_total`, `_bucket`, `_count` suffixes), so a test can check the controller exposes each.
pub fn metric_names() -> BTreeSet<String> {
    let mut texts: Vec<&str> = vec![ALERTS];
    texts.extend(DASHBOARDS.iter().map(|(_, text)| *text));
    let mut names = BTreeSet::new();
    for text in texts {
        let bytes = text.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let rest = &text[i..];
            let starts_name = (rest.starts_with("gotk_") || rest.starts_with("gitops_"))
                && (i == 0 || !is_name_byte(bytes[i - 1]));
            if starts_name {
                let len = rest.bytes().take_while(|b| is_name_byte(*b)).count();
                // A bare prefix (`gitops_*` in a comment) names no metric.
                if !rest[..len].ends_with('_') {
                    names.insert(rest[..len].to_string());
                }
                i += len;
            } else {
                i += 1;
            }
        }
    }
    names
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The family a sample name belongs to, as the OpenMetrics `# TYPE` line names it: counters
/// lose `_total`, histograms `_bucket`, `_count` and `_sum`.
pub fn family(name: &str) -> &str {
    ["_total", "_bucket", "_count", "_sum"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
}
