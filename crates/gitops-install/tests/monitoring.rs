//! The alerts and dashboards: `promtool` checks the rules and runs their unit tests, and every
//! metric they use is one the controller registers.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::PathBuf;
use std::process::Command;

use gitops_install::monitoring::{self, ALERTS, DASHBOARDS};
use gitops_install::{InstallOptions, manifests};
use serde_json::Value;

fn monitoring_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("monitoring")
}

/// `promtool` from Debian's `prometheus` package (`scripts/provision.sh` installs it); `None`
/// skips, unless `GITOPS_TESTENV_REQUIRED` makes a missing tool a failure.
fn promtool() -> Option<Command> {
    let found = Command::new("promtool").arg("--version").output().is_ok();
    if !found {
        assert!(
            std::env::var_os("GITOPS_TESTENV_REQUIRED").is_none(),
            "promtool is missing: run bash scripts/provision.sh"
        );
        eprintln!("skipped: promtool is missing");
        return None;
    }
    let mut command = Command::new("promtool");
    command.current_dir(monitoring_dir());
    Some(command)
}

#[test]
fn promtool_checks_the_rules_and_passes_their_unit_tests() {
    let Some(mut check) = promtool() else { return };
    let out = check
        .args(["check", "rules", "alerts.yaml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("5 rules found"), "{text}");
    let Some(mut test) = promtool() else { return };
    let out = test
        .args(["test", "rules", "alerts.test.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn every_alert_the_issue_names_is_there() {
    for alert in [
        "GitopsReconciliationFailing",
        "GitopsImagePolicyNoImage",
        "GitopsDecryptionSecretMissing",
        "GitopsDriftCorrected",
        "GitopsSuspendedTooLong",
    ] {
        assert!(ALERTS.contains(&format!("alert: {alert}\n")), "{alert}");
    }
}

#[test]
fn every_metric_used_is_one_the_controller_registers() {
    // A family shows in the text once it has a series: record one of each.
    let metrics = gitops_flux::metrics::Metrics::new();
    let (kind, ns, name) = ("Kustomization", "flux-system", "apps");
    metrics.record_duration(kind, ns, name, std::time::Duration::from_secs(1));
    metrics.record_condition(kind, ns, name, "Ready", "True");
    metrics.record_suspend(kind, ns, name, false);
    metrics.add_objects(kind, ns, name, "created", 1);
    metrics.add_fetch_bytes("GitRepository", ns, "fleet", 1);
    metrics.record_result(kind, ns, name, true);
    metrics.record_drift(kind, ns, name, 0);
    metrics.record_decryption_secret(kind, ns, name, false);
    metrics.add_image_push("ImageUpdateAutomation", ns, "fleet");
    let registered = metrics.encode();
    let names = monitoring::metric_names();
    assert!(names.len() >= 9, "{names:?}");
    for name in &names {
        let family = monitoring::family(name);
        assert!(
            registered.contains(&format!("# TYPE {family} ")),
            "{name} (family {family}) is not registered:\n{registered}"
        );
    }
}

#[test]
fn dashboards_are_grafana_json_with_queries() {
    for (file, text) in DASHBOARDS {
        let dashboard: Value = serde_json::from_str(text).unwrap();
        assert!(dashboard["uid"].is_string(), "{file}");
        let panels = dashboard["panels"].as_array().unwrap();
        assert!(panels.len() >= 8, "{file}");
        for panel in panels {
            let targets = panel["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{file}: {}", panel["title"]);
            for target in targets {
                let expr = target["expr"].as_str().unwrap();
                assert!(
                    expr.contains("gotk_") || expr.contains("gitops_"),
                    "{file}: {expr}"
                );
            }
        }
    }
}

#[test]
fn install_with_monitoring_adds_the_rule_monitor_and_dashboards() {
    let options = InstallOptions {
        monitoring: true,
        ..InstallOptions::default()
    };
    let objects = manifests(&options).unwrap();
    let find = |kind: &str| {
        objects
            .iter()
            .find(|o| o.id().kind == kind)
            .unwrap_or_else(|| panic!("no {kind}"))
            .value()
            .clone()
    };
    let rule = find("PrometheusRule");
    let groups = rule["spec"]["groups"].as_array().unwrap();
    assert_eq!(groups[0]["rules"].as_array().unwrap().len(), 5);
    let monitor = find("PodMonitor");
    assert_eq!(
        monitor["spec"]["podMetricsEndpoints"][0]["port"],
        "http-metrics"
    );
    let dashboards = objects
        .iter()
        .find(|o| o.id().name == "gitops-dashboards")
        .unwrap()
        .value();
    assert_eq!(dashboards["metadata"]["labels"]["grafana_dashboard"], "1");
    assert_eq!(
        dashboards["data"].as_object().unwrap().len(),
        DASHBOARDS.len()
    );
    // Without the option, none of it.
    let plain = manifests(&InstallOptions::default()).unwrap();
    assert!(plain.iter().all(|o| o.id().kind != "PrometheusRule"));
}
