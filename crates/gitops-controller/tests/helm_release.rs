//! The controller's HelmRelease pass end to end: a chart written here, packaged by the real
//! `helm package` and indexed by `helm repo index`, served by the test environment's nginx
//! through a HelmRepository; the HelmRelease installs it (values from `spec.values`, a
//! ConfigMap and a Secret at a `targetPath`), the real `helm list` sees the release, a pass
//! with nothing changed writes nothing, a values change is one upgrade, and a missing chart
//! version, a values reference or a render failure is `Ready=False` with the release left as
//! it was, and a change to a Secret labelled `reconcile.fluxcd.io/watch: Enabled` upgrades at once.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;
use std::time::Duration;

use gitops_flux::{FluxObject, HelmRelease, HelmRepository};
use gitops_testenv::Process;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::{Value, json};

mod support;

fn start_controller(kubeconfig: &Path, storage: &Path) -> Process {
    support::start_admin_controller(
        "controller-helmrelease",
        kubeconfig,
        storage,
        "info,kube=warn,gitops_controller::helm_releases=debug",
    )
}

/// Writes a `web` chart at `version` and packages it into `root/folder`, indexed by `helm`.
fn publish(helm: &Path, root: &Path, folder: &str, version: &str) {
    let out = root.join(folder);
    std::fs::create_dir_all(&out).unwrap();
    let sources = tempfile::tempdir().unwrap();
    let dir = sources.path().join("web");
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        format!("apiVersion: v2\nname: web\nversion: {version}\nappVersion: \"2.0\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("values.yaml"),
        "greeting: hello\ncolor: red\npassword: none\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-settings\ndata:\n  greeting: {{ .Values.greeting | quote }}\n  color: {{ .Values.color | quote }}\n  password: {{ .Values.password | quote }}\n{{- if eq .Values.color \"forbidden\" }}{{ fail \"color forbidden is not allowed\" }}{{ end }}\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("templates/tests")).unwrap();
    std::fs::write(
        dir.join("templates/tests/check.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-check\n  annotations:\n    helm.sh/hook: test\nspec:\n  restartPolicy: Never\n  containers:\n  - name: check\n    image: registry.example/check:1\n",
    )
    .unwrap();
    // A second test, which `test.filters` leaves out below.
    std::fs::write(
        dir.join("templates/tests/slow.yaml"),
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ .Release.Name }}-slow\n  annotations:\n    helm.sh/hook: test\nspec:\n  restartPolicy: Never\n  containers:\n  - name: slow\n    image: registry.example/slow:1\n",
    )
    .unwrap();
    support::publish_chart(helm, &dir, &out);
}

/// `helm list -o json` in `ns`, as the real `helm` reads the release records.
fn helm_list(helm: &Path, kubeconfig: &Path, ns: &str) -> Vec<Value> {
    let kubeconfig = kubeconfig.display().to_string();
    let text = support::helm_ok(
        helm,
        &["list", "-o", "json", "-n", ns, "--kubeconfig", &kubeconfig],
    );
    serde_json::from_str(&text).unwrap()
}

/// `helm history -o json` of `name` in `ns`.
fn helm_history(helm: &Path, kubeconfig: &Path, ns: &str, name: &str) -> Vec<Value> {
    let kubeconfig = kubeconfig.display().to_string();
    let text = support::helm_ok(
        helm,
        &[
            "history",
            name,
            "-o",
            "json",
            "-n",
            ns,
            "--kubeconfig",
            &kubeconfig,
        ],
    );
    serde_json::from_str(&text).unwrap()
}

/// The object once its Ready condition is `status` for its current generation.
async fn settled<K>(controller: &Process, api: &Api<K>, name: &str, status: &str) -> K
where
    K: FluxObject + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    support::settled(controller, api, name, status, Duration::from_secs(90)).await
}

/// How many passes of `HelmRelease/ns/name` found the release in sync, from the log.
fn in_sync_passes(controller: &Process, ns: &str, name: &str) -> usize {
    let object = format!("HelmRelease/{ns}/{name}");
    controller
        .log()
        .lines()
        .filter(|l| l.contains("planned") && l.contains(&object) && l.contains("Nothing"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_releases_install_upgrade_once_and_fail_clearly() {
    let Some(support::HelmWorld {
        kubeconfig,
        client,
        ns,
        web,
        helm,
        ..
    }) = support::helm_world("helmrel").await
    else {
        return;
    };
    let folder = format!("{ns}-release-charts");
    publish(&helm, web.root(), &folder, "1.0.0");

    // Values from a ConfigMap (merged) and a Secret (at a target path).
    Api::<ConfigMap>::namespaced(client.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "web-values"},
                "data": {"values.yaml": "color: blue\ngreeting: from-configmap\n"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "web-password",
                             "labels": {"reconcile.fluxcd.io/watch": "Enabled"}},
                "stringData": {"pw": "s3cret"}
            }))
            .unwrap(),
        )
        .await
        .unwrap();
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
    let release = |name: &str, values_from: Value| {
        serde_json::from_value::<HelmRelease>(json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                // Short, so that several passes run while the test watches.
                "interval": "2s",
                "chart": {"spec": {"chart": "web", "version": "1.0.x",
                                   "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
                "valuesFrom": values_from,
                "values": {"greeting": "hi"}
            }
        }))
        .unwrap()
    };
    releases
        .create(
            &PostParams::default(),
            &release(
                "web",
                json!([
                    {"kind": "ConfigMap", "name": "web-values"},
                    {"kind": "Secret", "name": "web-password", "valuesKey": "pw", "targetPath": "password"},
                    {"kind": "ConfigMap", "name": "not-there", "optional": true}
                ]),
            ),
        )
        .await
        .unwrap();
    releases
        .create(
            &PostParams::default(),
            &release(
                "broken",
                json!([{"kind": "ConfigMap", "name": "missing-values"}]),
            ),
        )
        .await
        .unwrap();

    let storage = tempfile::tempdir().unwrap();
    let storage_path = storage.path().join("storage");
    let controller = start_controller(&kubeconfig, &storage_path);

    // 1. Installed: Flux's status, the real helm sees revision 1, the values as composed.
    settled(&controller, &repos, "charts", "True").await;
    let hr = settled(&controller, &releases, "web", "True").await;
    let ready = hr.ready().unwrap();
    assert_eq!(ready.reason, "InstallSucceeded");
    assert_eq!(
        ready.message,
        format!("Helm install succeeded for release {ns}/web.v1 with chart web@1.0.0")
    );
    let status = hr.status.clone().unwrap();
    assert_eq!(status.history.len(), 1, "{status:?}");
    let snapshot = &status.history[0];
    assert_eq!(
        (snapshot.version, snapshot.status.as_str()),
        (1, "deployed")
    );
    assert_eq!(
        (
            snapshot.chart_name.as_str(),
            snapshot.chart_version.as_str()
        ),
        ("web", "1.0.0")
    );
    assert_eq!(snapshot.app_version.as_deref(), Some("2.0"));
    assert!(snapshot.config_digest.starts_with("sha256:"));
    assert_eq!(status.last_attempted_revision.as_deref(), Some("1.0.0"));
    assert_eq!(
        status.last_attempted_config_digest.as_deref(),
        Some(snapshot.config_digest.as_str())
    );
    assert_eq!(
        status.last_attempted_release_action.as_deref(),
        Some("install")
    );
    assert_eq!(status.install_failures, Some(0));
    assert_eq!(status.storage_namespace.as_deref(), Some(ns.as_str()));
    assert!(
        hr.conditions()
            .iter()
            .any(|c| c.type_ == "Released" && c.status == "True")
    );
    let listed = helm_list(&helm, &kubeconfig, &ns);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], "web");
    assert_eq!(listed[0]["revision"], "1");
    assert_eq!(listed[0]["status"], "deployed");
    assert_eq!(listed[0]["chart"], "web-1.0.0");
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    let settings = configmaps.get("web-settings").await.unwrap().data.unwrap();
    assert_eq!(settings["greeting"], "hi");
    assert_eq!(settings["color"], "blue");
    assert_eq!(settings["password"], "s3cret");

    // 2. Nothing changed: passes run, and write neither a revision nor the status.
    let version = hr.metadata.resource_version.clone();
    let before = in_sync_passes(&controller, &ns, "web");
    support::eventually(
        &controller,
        "two more in-sync passes",
        Duration::from_secs(60),
        || {
            let passes = in_sync_passes(&controller, &ns, "web");
            async move { (passes >= before + 2).then_some(()) }
        },
    )
    .await;
    let hr = releases.get("web").await.unwrap();
    assert_eq!(
        hr.metadata.resource_version, version,
        "the status was written"
    );
    assert_eq!(helm_history(&helm, &kubeconfig, &ns, "web").len(), 1);

    // 3. New values: exactly one upgrade.
    releases
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"values": {"greeting": "hi again"}}})),
        )
        .await
        .unwrap();
    let hr = settled(&controller, &releases, "web", "True").await;
    let ready = hr.ready().unwrap();
    assert_eq!(ready.reason, "UpgradeSucceeded", "{ready:?}");
    assert_eq!(
        ready.message,
        format!("Helm upgrade succeeded for release {ns}/web.v2 with chart web@1.0.0")
    );
    let status = hr.status.clone().unwrap();
    assert_eq!(
        status
            .history
            .iter()
            .map(|s| (s.version, s.status.as_str()))
            .collect::<Vec<_>>(),
        [(2, "deployed"), (1, "superseded")]
    );
    assert_eq!(
        status.last_attempted_release_action.as_deref(),
        Some("upgrade")
    );
    let before = in_sync_passes(&controller, &ns, "web");
    support::eventually(
        &controller,
        "two in-sync passes after the upgrade",
        Duration::from_secs(60),
        || {
            let passes = in_sync_passes(&controller, &ns, "web");
            async move { (passes >= before + 2).then_some(()) }
        },
    )
    .await;
    let history = helm_history(&helm, &kubeconfig, &ns, "web");
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[1]["status"], "deployed");
    let settings = configmaps.get("web-settings").await.unwrap().data.unwrap();
    assert_eq!(settings["greeting"], "hi again");

    // 4. Values the chart refuses: the upgrade fails to render, nothing is applied, and with
    //    no retries (Flux's default) the object stalls until it changes.
    releases
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"values": {"color": "forbidden"}}})),
        )
        .await
        .unwrap();
    let hr = settled(&controller, &releases, "web", "False").await;
    let ready = hr.ready().unwrap();
    assert_eq!(ready.reason, "UpgradeFailed", "{ready:?}");
    assert!(
        ready.message.starts_with(&format!(
            "Helm upgrade failed for release {ns}/web with chart web@1.0.0: "
        )) && ready.message.contains("color forbidden is not allowed"),
        "{}",
        ready.message
    );
    let stalled = support::eventually(
        &controller,
        "Stalled after the failed upgrade",
        Duration::from_secs(30),
        || async {
            let hr = releases.get("web").await.ok()?;
            hr.conditions()
                .iter()
                .find(|c| c.type_ == "Stalled" && c.status == "True")
                .cloned()
        },
    )
    .await;
    assert_eq!(stalled.reason, "RetriesExceeded");
    assert_eq!(stalled.message, "Failed to upgrade after 1 attempt(s)");
    let hr = releases.get("web").await.unwrap();
    assert_eq!(hr.ready().unwrap().reason, "UpgradeFailed");
    assert_eq!(hr.status.as_ref().unwrap().upgrade_failures, Some(1));
    let history = helm_history(&helm, &kubeconfig, &ns, "web");
    assert_eq!(history.len(), 2, "{history:?}");
    let settings = configmaps.get("web-settings").await.unwrap().data.unwrap();
    assert_eq!(settings["color"], "blue");

    // 5. A chart version the repository does not have: Ready=False, the release untouched.
    releases
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"chart": {"spec": {"version": "9.9.9"}}}})),
        )
        .await
        .unwrap();
    let hr = settled(&controller, &releases, "web", "False").await;
    let ready = hr.ready().unwrap();
    assert_eq!(ready.reason, "ArtifactFailed");
    assert!(
        ready
            .message
            .contains(&format!("HelmRepository '{ns}/charts'"))
            && ready.message.contains("9.9.9"),
        "{}",
        ready.message
    );
    let history = helm_history(&helm, &kubeconfig, &ns, "web");
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(history[1]["status"], "deployed");

    // 6. Back to what is deployed: Ready again, without a new revision.
    releases
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"chart": {"spec": {"version": "1.0.x"}},
                                          "values": {"color": null}}})),
        )
        .await
        .unwrap();
    let hr = settled(&controller, &releases, "web", "True").await;
    assert_eq!(
        hr.status.unwrap().upgrade_failures,
        Some(0),
        "in sync: no failures count"
    );
    let history = helm_history(&helm, &kubeconfig, &ns, "web");
    assert_eq!(history.len(), 2, "{history:?}");

    // 7. A labelled values Secret changes: the release is upgraded at once, not at its
    //    (now hour-long) interval.
    releases
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"interval": "1h"}})),
        )
        .await
        .unwrap();
    settled(&controller, &releases, "web", "True").await;
    Api::<Secret>::namespaced(client.clone(), &ns)
        .patch(
            "web-password",
            &PatchParams::default(),
            &Patch::Merge(json!({"stringData": {"pw": "n3w"}})),
        )
        .await
        .unwrap();
    let hr = support::eventually(
        &controller,
        "the upgrade the Secret's change asks for",
        Duration::from_secs(30),
        || async {
            let hr = releases.get("web").await.ok()?;
            (hr.ready()?.message
                == format!("Helm upgrade succeeded for release {ns}/web.v3 with chart web@1.0.0"))
            .then_some(hr)
        },
    )
    .await;
    assert_eq!(hr.status.unwrap().history[0].version, 3);
    let settings = configmaps.get("web-settings").await.unwrap().data.unwrap();
    assert_eq!(settings["password"], "n3w");

    // 8. A values reference that does not exist: Ready=False, nothing installed.
    let broken = settled(&controller, &releases, "broken", "False").await;
    let ready = broken.ready().unwrap();
    assert_eq!(ready.reason, "ValuesError");
    assert_eq!(
        ready.message,
        format!("could not find ConfigMap '{ns}/missing-values'")
    );
    assert!(
        helm_list(&helm, &kubeconfig, &ns)
            .iter()
            .all(|r| r["name"] != "broken")
    );
    // 9. A HelmRelease depending on one that is not ready waits for it.
    let mut waiting = release("waiting", json!([]));
    waiting.spec.depends_on = vec![serde_json::from_value(json!({"name": "broken"})).unwrap()];
    releases
        .create(&PostParams::default(), &waiting)
        .await
        .unwrap();
    let waiting = settled(&controller, &releases, "waiting", "False").await;
    let ready = waiting.ready().unwrap();
    assert_eq!(ready.reason, "DependencyNotReady");
    assert_eq!(
        ready.message,
        format!("dependency '{ns}/broken' is not ready")
    );
    assert!(
        helm_list(&helm, &kubeconfig, &ns)
            .iter()
            .all(|r| r["name"] != "waiting")
    );

    // The chart was downloaded once and cached by name, version and digest.
    let cached: Vec<_> = std::fs::read_dir(storage_path.join("helmchart"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].starts_with("web-1.0.0-"), "{cached:?}");

    // 10. The real `helm rollback` takes the release away from what the object says: the next
    //     pass sees the new revision as not its own, says so, and upgrades back to the spec.
    let kubeconfig_text = kubeconfig.display().to_string();
    support::helm_ok(
        &helm,
        &[
            "rollback",
            "web",
            "2",
            "-n",
            &ns,
            "--kubeconfig",
            &kubeconfig_text,
        ],
    );
    let history = helm_history(&helm, &kubeconfig, &ns, "web");
    assert_eq!(history.len(), 4, "{history:?}");
    let settings = configmaps.get("web-settings").await.unwrap().data.unwrap();
    assert_eq!(
        settings["password"], "s3cret",
        "helm rolled back to revision 2"
    );
    releases
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "reconcile.fluxcd.io/requestedAt": "after-helm-rollback"}}})),
        )
        .await
        .unwrap();
    let hr = support::eventually(
        &controller,
        "the upgrade back to the spec after helm rollback",
        Duration::from_secs(60),
        || async {
            let hr = releases.get("web").await.ok()?;
            (hr.ready()?.message
                == format!("Helm upgrade succeeded for release {ns}/web.v5 with chart web@1.0.0"))
            .then_some(hr)
        },
    )
    .await;
    assert_eq!(hr.status.unwrap().history[0].version, 5);
    assert!(
        controller.log().contains(&format!(
            "HelmRelease/{ns}/web"
        )) && controller
            .log()
            .contains("release out-of-sync with desired state: release in storage is not the one the object recorded"),
        "{}",
        controller.log()
    );
    let history = helm_history(&helm, &kubeconfig, &ns, "web");
    assert_eq!(
        history
            .iter()
            .map(|r| (
                r["revision"].as_i64().unwrap(),
                r["status"].as_str().unwrap().to_string()
            ))
            .collect::<Vec<_>>(),
        [
            (1, "superseded".to_string()),
            (2, "superseded".to_string()),
            (3, "superseded".to_string()),
            (4, "superseded".to_string()),
            (5, "deployed".to_string()),
        ]
    );
    assert_eq!(history[3]["description"], "Rollback to 2");
    let settings = configmaps.get("web-settings").await.unwrap().data.unwrap();
    assert_eq!(
        settings["password"], "n3w",
        "back to the HelmRelease's values"
    );

    // 10b. Drift detection: with `enabled`, a hand edit of a release object is taken back
    //      without a new revision; with `warn`, it is reported and left.
    let hand_edit = |greeting: &'static str| {
        let configmaps = configmaps.clone();
        async move {
            configmaps
                .patch(
                    "web-settings",
                    &PatchParams::apply("kubectl-edit").force(),
                    &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "web-settings"}, "data": {"greeting": greeting}})),
                )
                .await
                .unwrap();
        }
    };
    let request = |mode: &'static str, token: &'static str| {
        let releases = releases.clone();
        async move {
            releases
                .patch(
                    "web",
                    &PatchParams::default(),
                    &Patch::Merge(json!({
                        "metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": token}},
                        "spec": {"driftDetection": {"mode": mode}}})),
                )
                .await
                .unwrap();
        }
    };
    hand_edit("edited by hand").await;
    request("enabled", "drift-enabled").await;
    support::eventually(
        &controller,
        "the hand edit taken back",
        Duration::from_secs(60),
        || async {
            let data = configmaps.get("web-settings").await.ok()?.data?;
            (data.get("greeting")? == "hi again").then_some(())
        },
    )
    .await;
    assert!(
        controller.log().contains(&format!(
            "Cluster state of release {ns}/web.v5 has been corrected"
        )),
        "{}",
        controller.log()
    );
    assert_eq!(
        helm_history(&helm, &kubeconfig, &ns, "web").len(),
        5,
        "no new revision"
    );
    hand_edit("edited again").await;
    request("warn", "drift-warn").await;
    support::eventually(
        &controller,
        "the drift reported",
        Duration::from_secs(60),
        || async {
            controller
                .log()
                .contains(&format!(
                    "Cluster state of release {ns}/web.v5 has drifted from the desired state"
                ))
                .then_some(())
        },
    )
    .await;
    let data = configmaps.get("web-settings").await.unwrap().data.unwrap();
    assert_eq!(data["greeting"], "edited again", "warn leaves the edit");
    assert_eq!(helm_history(&helm, &kubeconfig, &ns, "web").len(), 5);

    // 10b'. `driftDetection.ignore`: a field another hand manages (the color) is neither
    //       reported nor taken back; the greeting edited by hand still is.
    configmaps
        .patch(
            "web-settings",
            &PatchParams::apply("color-picker").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "web-settings"}, "data": {"color": "purple"}})),
        )
        .await
        .unwrap();
    releases
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({
            "metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": "drift-ignore"}},
            "spec": {"driftDetection": {"mode": "enabled", "ignore": [
                {"paths": ["/data/color"], "target": {"kind": "ConfigMap", "name": "web-.*"}}
            ]}}})),
        )
        .await
        .unwrap();
    let data = support::eventually(
        &controller,
        "the greeting taken back, the color left",
        Duration::from_secs(60),
        || async {
            let data = configmaps.get("web-settings").await.ok()?.data?;
            (data.get("greeting")? == "hi again").then_some(data)
        },
    )
    .await;
    assert_eq!(
        data["color"], "purple",
        "an ignored field is not applied back"
    );
    assert_eq!(helm_history(&helm, &kubeconfig, &ns, "web").len(), 5);
    let corrected = controller
        .log()
        .lines()
        .filter(|l| {
            l.contains(&format!(
                "Cluster state of release {ns}/web.v5 has been corrected"
            ))
        })
        .count();
    assert_eq!(corrected, 2, "corrected once more, for the greeting");
    releases
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"driftDetection": {"mode": "warn", "ignore": null}}})),
        )
        .await
        .unwrap();

    // 10c. A kustomize post-renderer: the patched manifest is what is recorded and applied,
    //      and adding it is one upgrade.
    releases
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"postRenderers": [{"kustomize": {"patches": [{
                "target": {"kind": "ConfigMap", "name": "web-settings"},
                "patch": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-settings\n  labels:\n    post-rendered: \"yes\"\n"
            }]}}]}})),
        )
        .await
        .unwrap();
    let hr = support::eventually(
        &controller,
        "the upgrade with the post-renderer",
        Duration::from_secs(60),
        || async {
            let hr = releases.get("web").await.ok()?;
            (hr.ready()?.message
                == format!("Helm upgrade succeeded for release {ns}/web.v6 with chart web@1.0.0"))
            .then_some(hr)
        },
    )
    .await;
    assert_eq!(hr.status.unwrap().history[0].version, 6);
    let labels = configmaps
        .get("web-settings")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default();
    assert_eq!(labels.get("post-rendered").map(String::as_str), Some("yes"));
    let data = configmaps.get("web-settings").await.unwrap().data.unwrap();
    assert_eq!(
        data["greeting"], "hi again",
        "the upgrade takes back the hand edit"
    );
    let kubeconfig_text = kubeconfig.display().to_string();
    let manifest = support::helm_ok(
        &helm,
        &[
            "get",
            "manifest",
            "web",
            "-n",
            &ns,
            "--kubeconfig",
            &kubeconfig_text,
        ],
    );
    assert!(manifest.contains("post-rendered"), "{manifest}");

    // 11. Deleting a HelmRelease uninstalls the release it recorded; one that never installed
    //     anything goes without touching any release.
    let finalizers = releases.get("web").await.unwrap().metadata.finalizers;
    assert!(
        finalizers
            .unwrap_or_default()
            .contains(&"finalizers.fluxcd.io".to_string())
    );
    releases
        .delete("broken", &Default::default())
        .await
        .unwrap();
    releases.delete("web", &Default::default()).await.unwrap();
    support::eventually(
        &controller,
        "both HelmReleases gone and web uninstalled",
        Duration::from_secs(60),
        || async {
            let gone = releases.get_opt("web").await.ok()?.is_none()
                && releases.get_opt("broken").await.ok()?.is_none();
            gone.then_some(())
        },
    )
    .await;
    assert!(
        helm_list(&helm, &kubeconfig, &ns)
            .iter()
            .all(|r| r["name"] != "web"),
        "helm still lists web"
    );
    assert!(
        configmaps.get_opt("web-settings").await.unwrap().is_none(),
        "the release's objects are deleted"
    );
    assert!(
        controller.log().contains("deleted: release uninstalled"),
        "{}",
        controller.log()
    );

    // 12. `test.enable`: after the install the chart's test hooks run once (the test Pod is
    //     marked Succeeded here: no kubelet runs it), TestSuccess is recorded, and later
    //     passes do not run them again; `test.filters` leaves the slow one out.
    let mut checked = release("checked", json!([]));
    checked.spec.test = serde_json::from_value(json!({"enable": true,
        "filters": [{"name": "checked-slow", "exclude": true}]}))
    .unwrap();
    releases
        .create(&PostParams::default(), &checked)
        .await
        .unwrap();
    let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(client.clone(), &ns);
    support::eventually(
        &controller,
        "the test Pod",
        Duration::from_secs(60),
        || async { pods.get_opt("checked-check").await.ok()?.map(drop) },
    )
    .await;
    pods.patch_status(
        "checked-check",
        &PatchParams::default(),
        &Patch::Merge(json!({"status": {"phase": "Succeeded"}})),
    )
    .await
    .unwrap();
    let hr = support::eventually(
        &controller,
        "TestSuccess",
        Duration::from_secs(60),
        || async {
            let hr = releases.get("checked").await.ok()?;
            let test = hr
                .conditions()
                .iter()
                .find(|c| c.type_ == "TestSuccess")?
                .clone();
            (test.status == "True").then_some((hr, test))
        },
    )
    .await;
    assert_eq!(
        hr.1.message,
        format!(
            "Helm test succeeded for release {ns}/checked.v1 with chart web@1.0.0: 1 test hook(s) completed successfully"
        )
    );
    assert_eq!(hr.0.ready().unwrap().status, "True");
    let before = in_sync_passes(&controller, &ns, "checked");
    support::eventually(
        &controller,
        "two in-sync passes after the test",
        Duration::from_secs(60),
        || {
            let passes = in_sync_passes(&controller, &ns, "checked");
            async move { (passes >= before + 2).then_some(()) }
        },
    )
    .await;
    let kept = releases.get("checked").await.unwrap();
    assert!(
        kept.conditions()
            .iter()
            .any(|c| c.type_ == "TestSuccess" && c.status == "True"),
        "{:?}",
        kept.conditions()
    );
    assert_eq!(
        controller
            .log()
            .matches(&format!("Helm test succeeded for release {ns}/checked.v1"))
            .count(),
        1,
        "the tests ran once"
    );
    assert!(
        pods.get_opt("checked-slow").await.unwrap().is_none(),
        "the test left out by test.filters never ran"
    );
}
