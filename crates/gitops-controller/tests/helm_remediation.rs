//! Remediation end to end: a HelmRelease whose upgrade runs a pre-upgrade hook Job that
//! fails (the test plays the job controller the test API server lacks), rolled back and
//! retried as `upgrade.remediation` says, until its retries are used up; the real `helm
//! history` shows every step. Its own file: each test binary has its own API server, and a
//! controller reconciles every namespace of it.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use gitops_flux::{FluxObject, HelmRelease, HelmRepository};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

mod support;

/// What the missing kubelet and job controller would write: every Job in `ns` without a
/// status ran and failed. Runs until dropped.
fn fail_every_job(client: kube::Client, ns: String) -> tokio::task::JoinHandle<()> {
    use k8s_openapi::api::batch::v1::Job;
    tokio::spawn(async move {
        let jobs = Api::<Job>::namespaced(client, &ns);
        let now = "2026-01-01T00:00:00Z";
        let failed = json!({"status": {"startTime": now, "failed": 1, "conditions": [
            {"type": "FailureTarget", "status": "True", "lastTransitionTime": now},
            {"type": "Failed", "status": "True", "lastTransitionTime": now}]}});
        loop {
            for job in jobs.list(&Default::default()).await.unwrap().items {
                let finished = job
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| !c.is_empty());
                if !finished {
                    let name = job.metadata.name.unwrap();
                    let _ = jobs
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&failed))
                        .await;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

/// A pre-upgrade hook Job that fails fails the upgrade; `upgrade.remediation.retries: 1`
/// rolls the release back, upgrades once more at once (the hook fails again), rolls back
/// again as the last failure is remediated, and stops with `Stalled=True`
/// (`RetriesExceeded`), `Remediated=True` saying what was done. The real `helm history`
/// shows each step; the objects are the first revision's again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_hook_fails_the_upgrade_and_remediation_rolls_it_back() {
    let Some(support::HelmWorld {
        kubeconfig,
        client,
        ns,
        web,
        helm,
        ..
    }) = support::helm_world("helmfix").await
    else {
        return;
    };

    // A chart whose upgrade runs a migration Job first when `migrate` is set.
    let folder = format!("{ns}-hooked-charts");
    let out = web.root().join(&folder);
    std::fs::create_dir_all(&out).unwrap();
    let sources = tempfile::tempdir().unwrap();
    let dir = sources.path().join("hooked");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        "apiVersion: v2\nname: hooked\nversion: 1.0.0\n",
    )
    .unwrap();
    std::fs::write(dir.join("values.yaml"), "message: one\nmigrate: false\n").unwrap();
    std::fs::write(
        dir.join("templates/settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  message: {{ .Values.message | quote }}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/migrate.yaml"),
        "{{- if .Values.migrate }}\napiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {{ .Release.Name }}-migrate\n  annotations:\n    helm.sh/hook: pre-upgrade\n    helm.sh/hook-delete-policy: before-hook-creation\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n      - name: migrate\n        image: registry.example/migrate:1\n{{- end }}\n",
    )
    .unwrap();
    support::publish_chart(&helm, &dir, &out);

    let repos = Api::<HelmRepository>::namespaced(client.clone(), &ns);
    repos
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                "metadata": {"name": "charts", "namespace": ns},
                "spec": {"url": format!("{}{folder}", web.url()), "interval": "1h"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let releases = Api::<HelmRelease>::namespaced(client.clone(), &ns);
    releases
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": {"name": "app", "namespace": ns},
                "spec": {
                    "interval": "1h",
                    "chart": {"spec": {"chart": "hooked",
                                       "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
                    "upgrade": {"timeout": "30s", "remediation": {"retries": 1}},
                    "values": {"message": "one"}
                }
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let storage = tempfile::tempdir().unwrap();
    let controller = support::start_admin_controller(
        "controller-remediation",
        &kubeconfig,
        &storage.path().join("storage"),
        "info,kube=warn,gitops_controller::helm_releases=debug",
    );
    support::settled(
        &controller,
        &releases,
        "app",
        "True",
        Duration::from_secs(90),
    )
    .await;

    // The upgrade that migrates: its hook fails every time.
    let failing = fail_every_job(client.clone(), ns.clone());
    releases
        .patch(
            "app",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"values": {"message": "two", "migrate": true}}})),
        )
        .await
        .unwrap();
    let stalled = support::eventually(
        &controller,
        "app stalled after its retries",
        Duration::from_secs(120),
        || async {
            let hr = releases.get("app").await.ok()?;
            let stalled = hr.conditions().iter().find(|c| c.type_ == "Stalled")?;
            (stalled.status == "True" && hr.observed_generation() == hr.metadata.generation)
                .then_some(hr)
        },
    )
    .await;
    failing.abort();
    let conditions = stalled.conditions();
    let stalled_condition = conditions.iter().find(|c| c.type_ == "Stalled").unwrap();
    assert_eq!(stalled_condition.reason, "RetriesExceeded");
    assert_eq!(
        stalled_condition.message,
        "Failed to upgrade after 2 attempt(s)"
    );
    let ready = stalled.ready().unwrap();
    assert_eq!(ready.status, "False");
    assert_eq!(stalled.status.clone().unwrap().upgrade_failures, Some(2));

    // The real helm sees every step: two failed upgrades, each rolled back to revision 1.
    let kubeconfig_text = kubeconfig.display().to_string();
    let history: Vec<Value> = serde_json::from_str(&support::helm_ok(
        &helm,
        &[
            "history",
            "app",
            "-o",
            "json",
            "-n",
            &ns,
            "--kubeconfig",
            &kubeconfig_text,
        ],
    ))
    .unwrap();
    let steps: Vec<(String, String)> = history
        .iter()
        .map(|h| {
            (
                h["status"].as_str().unwrap().to_string(),
                h["description"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let statuses: Vec<&str> = steps.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        statuses,
        ["superseded", "failed", "superseded", "failed", "deployed"],
        "{steps:?}"
    );
    assert!(
        steps[1].1.contains("pre-upgrade hook") && steps[3].1.contains("pre-upgrade hook"),
        "{steps:?}"
    );
    // Each time back to the release before the failed one: 1, then 3 (which is 1 again).
    assert_eq!(steps[2].1, "Rollback to 1");
    assert_eq!(steps[4].1, "Rollback to 3");
    let remediated = conditions.iter().find(|c| c.type_ == "Remediated").unwrap();
    assert_eq!(
        (remediated.status.as_str(), remediated.reason.as_str()),
        ("True", "RollbackSucceeded")
    );
    assert_eq!(
        remediated.message,
        format!("Helm rollback to previous release {ns}/app.v3 with chart hooked@1.0.0 succeeded")
    );
    let settings = Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .get("app-settings")
        .await
        .unwrap();
    assert_eq!(settings.data.unwrap()["message"], "one");
}
