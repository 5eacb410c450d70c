//! The `gitops` CLI's Flux commands (`get`, `suspend`, `resume`, `reconcile`, `events`) against a
//! real API server, as a user runs them: the built `gitops` binary with `--kubeconfig`. Where a
//! controller would answer, the test plays it by writing status by hand.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;
mod support;
use std::time::Duration;

use gitops::flux::api::{CrossNamespaceReference, GitRepositorySpec, KustomizationSpec};
use gitops::flux::{
    FluxObject, GitRepository, HelmChart, HelmRelease, HelmRepository, Kustomization,
    OCIRepository, REQUESTED_AT_ANNOTATION,
};
use gitops_testenv::KubeEnv;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

const REVISION: &str = "main@sha1:5f3c1e0d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d";
const NEW_REVISION: &str = "main@sha1:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567";
const NOT_FOUND: &str = "kustomization path not found: stat /tmp/gitops/infra: no such file";

/// What a run of the binary printed.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `gitops ARGS --kubeconfig …` in a blocking thread, so that the test can play the
/// controller meanwhile.
async fn gitops(kube: &KubeEnv, args: &[&str]) -> Run {
    let mut command = support::gitops();
    command
        .args(args)
        .arg("--kubeconfig")
        .arg(kube.kubeconfig_path())
        .current_dir(support::workspace_root());
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .unwrap();
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// The rows of the tables in `stdout`, each a map from column name to cell, cut at the header's
/// column offsets.
fn rows(stdout: &str) -> Vec<BTreeMap<String, String>> {
    let mut rows = Vec::new();
    let mut columns: Vec<(usize, String)> = Vec::new();
    for line in stdout.lines() {
        if line.is_empty() {
            columns.clear();
        } else if columns.is_empty() {
            // A column starts after two spaces or more (names hold single spaces: `LAST SEEN`).
            let bytes = line.as_bytes();
            let starts: Vec<usize> = (0..bytes.len())
                .filter(|&i| bytes[i] != b' ' && (i == 0 || (i >= 2 && bytes[i - 2..i] == *b"  ")))
                .collect();
            for (n, start) in starts.iter().enumerate() {
                let end = starts.get(n + 1).copied().unwrap_or(line.len());
                columns.push((*start, line[*start..end].trim().to_owned()));
            }
        } else {
            let row = columns
                .iter()
                .enumerate()
                .map(|(i, (start, name))| {
                    let end = columns.get(i + 1).map_or(line.len(), |(next, _)| *next);
                    let cell = line.get(*start..end.min(line.len())).unwrap_or_default();
                    (name.clone(), cell.trim().to_owned())
                })
                .collect();
            rows.push(row);
        }
    }
    rows
}

fn row<'a>(rows: &'a [BTreeMap<String, String>], name: &str) -> &'a BTreeMap<String, String> {
    rows.iter()
        .find(|row| row["NAME"] == name)
        .unwrap_or_else(|| panic!("no row {name} in {rows:#?}"))
}

/// A Flux status: `Ready` as given for `generation`, plus `extra` fields.
fn status(generation: i64, ready: &str, message: &str, extra: Value) -> Value {
    let reason = match ready {
        "True" => "ReconciliationSucceeded",
        _ => "BuildFailed",
    };
    let mut status = json!({
        "observedGeneration": generation,
        "conditions": [{
            "type": "Ready",
            "status": ready,
            "reason": reason,
            "message": message,
            "observedGeneration": generation,
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        }],
    });
    if let (Some(status), Value::Object(extra)) = (status.as_object_mut(), extra) {
        status.extend(extra);
    }
    status
}

fn artifact(revision: &str) -> Value {
    json!({"artifact": {
        "path": "gitrepository/flux-system/artifact.tar.gz",
        "url": "http://source-controller/gitrepository/flux-system/artifact.tar.gz",
        "revision": revision,
        "lastUpdateTime": "2026-01-01T00:00:00Z",
    }})
}

async fn set_status<K>(api: &Api<K>, name: &str, status: Value)
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(&json!({ "status": status })),
    )
    .await
    .unwrap();
}

/// A fresh namespace with the CRDs installed and, as a controller would have left them, a ready
/// GitRepository `flux-system`, a ready Kustomization `apps` and a failing Kustomization `infra`.
async fn fixture(kube: &KubeEnv) -> (Client, String) {
    let client = kube.client().await;
    gitops::flux::crds::install(&client).await.unwrap();
    let ns = kube.namespace_with_prefix("cli").await;
    let post = PostParams::default();

    let repos: Api<GitRepository> = Api::namespaced(client.clone(), &ns);
    let spec = GitRepositorySpec {
        url: "https://git.example.com/fleet.git".into(),
        interval: "1m".into(),
        ..GitRepositorySpec::default()
    };
    repos
        .create(&post, &GitRepository::new(&ns, "flux-system", spec))
        .await
        .unwrap();
    let stored = format!("stored artifact for revision '{REVISION}'");
    set_status(
        &repos,
        "flux-system",
        status(1, "True", &stored, artifact(REVISION)),
    )
    .await;

    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    for (name, path) in [("apps", "./apps"), ("infra", "./infra")] {
        let spec = KustomizationSpec {
            source_ref: CrossNamespaceReference {
                kind: "GitRepository".into(),
                name: "flux-system".into(),
                ..CrossNamespaceReference::default()
            },
            path: Some(path.into()),
            interval: "10m".into(),
            prune: true,
            ..KustomizationSpec::default()
        };
        kustomizations
            .create(&post, &Kustomization::new(&ns, name, spec))
            .await
            .unwrap();
    }
    let applied = format!("Applied revision: {REVISION}");
    let revision = json!({ "lastAppliedRevision": REVISION });
    set_status(
        &kustomizations,
        "apps",
        status(1, "True", &applied, revision),
    )
    .await;
    let attempted = json!({ "lastAttemptedRevision": REVISION });
    set_status(
        &kustomizations,
        "infra",
        status(1, "False", NOT_FOUND, attempted),
    )
    .await;
    (client, ns)
}

/// Plays the controller for the `K` objects of `ns`: answers each new `requestedAt` token with
/// `answer(name, generation)` as status, plus the handled token.
fn play_controller<K>(
    client: &Client,
    ns: &str,
    answer: fn(&str, i64) -> Value,
) -> tokio::task::JoinHandle<()>
where
    K: FluxObject + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    tokio::spawn(async move {
        loop {
            for object in api.list(&ListParams::default()).await.unwrap() {
                if let Some(token) = object.pending_request() {
                    let name = object.meta().name.clone().unwrap();
                    let generation = object.meta().generation.unwrap();
                    let mut status = answer(&name, generation);
                    status["lastHandledReconcileAt"] = json!(token);
                    set_status(&api, &name, status).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_lists_each_kind_with_revision_readiness_and_message() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let (_client, ns) = fixture(kube).await;

    let all = gitops(kube, &["get", "all", "-n", &ns]).await;
    assert_eq!(all.code, Some(0), "{all}");
    println!("$ gitops get all -n {ns}\n{}", all.stdout);
    let table = rows(&all.stdout);
    assert_eq!(table.len(), 3, "{all}");
    let repo = row(&table, "gitrepository/flux-system");
    assert_eq!(repo["REVISION"], REVISION);
    assert_eq!(repo["SUSPENDED"], "False");
    assert_eq!(repo["READY"], "True");
    assert_eq!(
        repo["MESSAGE"],
        format!("stored artifact for revision '{REVISION}'")
    );
    let apps = row(&table, "kustomization/apps");
    assert_eq!(apps["REVISION"], REVISION);
    assert_eq!(apps["READY"], "True");
    assert_eq!(apps["MESSAGE"], format!("Applied revision: {REVISION}"));
    let infra = row(&table, "kustomization/infra");
    assert_eq!(infra["REVISION"], "");
    assert_eq!(infra["READY"], "False");
    assert_eq!(infra["MESSAGE"], NOT_FOUND);
    // One table per kind, the kinds without objects left out.
    assert_eq!(all.stdout.matches("NAME ").count(), 2, "{all}");
    assert!(!all.stdout.contains("imagepolicy"), "{all}");

    let kustomizations = gitops(kube, &["get", "kustomizations", "-n", &ns]).await;
    assert_eq!(kustomizations.code, Some(0), "{kustomizations}");
    let table = rows(&kustomizations.stdout);
    assert_eq!(row(&table, "apps")["READY"], "True", "{kustomizations}");
    assert_eq!(row(&table, "infra")["READY"], "False", "{kustomizations}");

    // The shapes of `flux get`: an alias, a name, a status selector.
    let failing = gitops(
        kube,
        &["get", "ks", "--status-selector", "ready=false", "-n", &ns],
    )
    .await;
    assert_eq!(failing.code, Some(0), "{failing}");
    let table = rows(&failing.stdout);
    assert_eq!(table.len(), 1, "{failing}");
    assert_eq!(row(&table, "infra")["READY"], "False", "{failing}");
    let ready = gitops(
        kube,
        &[
            "get",
            "kustomization",
            "--status-selector",
            "Ready=True",
            "-n",
            &ns,
        ],
    )
    .await;
    assert_eq!(rows(&ready.stdout).len(), 1, "{ready}");
    assert_eq!(
        row(&rows(&ready.stdout), "apps")["READY"],
        "True",
        "{ready}"
    );
    let named = gitops(kube, &["get", "kustomizations", "apps", "-n", &ns]).await;
    assert_eq!(rows(&named.stdout).len(), 1, "{named}");
    let absent = gitops(kube, &["get", "ks", "nope", "-n", &ns]).await;
    assert_eq!(absent.code, Some(0), "{absent}");
    assert!(
        absent.stderr.contains(&format!(
            "no Kustomization object nope found in {ns} namespace"
        )),
        "{absent}"
    );
    let bad = gitops(
        kube,
        &["get", "ks", "--status-selector", "ready", "-n", &ns],
    )
    .await;
    assert_eq!(bad.code, Some(2), "{bad}");
    assert!(bad.stderr.contains("CONDITION=STATUS"), "{bad}");
    let all_sources = gitops(kube, &["get", "sources", "all", "-n", &ns]).await;
    assert_eq!(
        row(&rows(&all_sources.stdout), "gitrepository/flux-system")["REVISION"],
        REVISION,
        "{all_sources}"
    );
    for (what, kind) in [
        (&["get", "images", "policy"][..], "ImagePolicy"),
        (&["get", "images", "repository"][..], "ImageRepository"),
        (&["get", "images", "update"][..], "ImageUpdateAutomation"),
        (&["get", "alerts"][..], "Alert"),
        (&["get", "alert-providers"][..], "Provider"),
        (&["get", "receivers"][..], "Receiver"),
    ] {
        let args: Vec<&str> = what.iter().copied().chain(["-n", ns.as_str()]).collect();
        let none = gitops(kube, &args).await;
        assert_eq!(none.code, Some(0), "{none}");
        assert!(
            none.stderr
                .contains(&format!("no {kind} objects found in {ns} namespace")),
            "{none}"
        );
    }

    let sources = gitops(kube, &["get", "sources", "git", "-A"]).await;
    assert_eq!(sources.code, Some(0), "{sources}");
    let table = rows(&sources.stdout);
    let ours = table
        .iter()
        .find(|row| row["NAMESPACE"] == ns)
        .unwrap_or_else(|| panic!("no source in {ns}: {sources}"));
    assert_eq!(ours["NAME"], "flux-system");
    assert_eq!(ours["REVISION"], REVISION);

    let images = gitops(kube, &["get", "images", "all", "-n", &ns]).await;
    assert_eq!(images.code, Some(0), "{images}");
    assert_eq!(images.stdout, "");
    assert!(
        images
            .stderr
            .contains(&format!("no image objects found in {ns} namespace")),
        "{images}"
    );
}

/// Creates `object` (a Flux object as JSON) in `ns` through its typed API, then writes `status`.
async fn create_with_status<K>(client: &Client, ns: &str, object: Value, status: Value)
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let object: K = serde_json::from_value(object).unwrap();
    let name = object.meta().name.clone().unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
    set_status(&api, &name, status).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_kinds_are_listed_suspended_and_resumed() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let (client, ns) = fixture(kube).await;
    const INDEX: &str = "sha256:1f2e3d4c5b6a79880f1e2d3c4b5a69788f1e2d3c4b5a69788f1e2d3c4b5a6978";
    create_with_status::<HelmRepository>(
        &client,
        &ns,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
               "metadata": {"name": "podinfo"},
               "spec": {"url": "https://charts.example.com/podinfo", "interval": "5m"}}),
        status(
            1,
            "True",
            &format!("stored artifact: revision '{INDEX}'"),
            json!({"artifact": {"path": "index.yaml", "url": "http://source/index.yaml",
                                   "revision": INDEX, "lastUpdateTime": "2026-01-01T00:00:00Z"}}),
        ),
    )
    .await;
    create_with_status::<HelmChart>(
        &client,
        &ns,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
               "metadata": {"name": "apps-podinfo"},
               "spec": {"chart": "podinfo", "interval": "5m",
                        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}),
        status(1, "True", "pulled 'podinfo' chart with version '6.5.4'",
               json!({"artifact": {"path": "podinfo-6.5.4.tgz", "url": "http://source/podinfo-6.5.4.tgz",
                                   "revision": "6.5.4", "lastUpdateTime": "2026-01-01T00:00:00Z"}})),
    )
    .await;
    create_with_status::<OCIRepository>(
        &client,
        &ns,
        json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
               "metadata": {"name": "podinfo-oci"},
               "spec": {"url": "oci://ghcr.io/stefanprodan/charts/podinfo", "interval": "5m",
                        "ref": {"semver": "6.x"}}}),
        status(
            1,
            "False",
            "failed to determine artifact digest: 401 Unauthorized",
            json!({}),
        ),
    )
    .await;
    create_with_status::<HelmRelease>(
        &client,
        &ns,
        json!({"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
               "metadata": {"name": "podinfo"},
               "spec": {"interval": "10m", "chart": {"spec": {"chart": "podinfo",
                        "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}}}),
        status(
            1,
            "True",
            "Helm install succeeded for release podinfo with chart podinfo@6.5.4",
            json!({"history": [{"name": "podinfo", "namespace": ns, "version": 1,
                                   "status": "deployed", "chartName": "podinfo",
                                   "chartVersion": "6.5.4", "digest": "sha256:aa",
                                   "configDigest": "sha256:bb",
                                   "firstDeployed": "2026-01-01T00:00:00Z",
                                   "lastDeployed": "2026-01-01T00:00:00Z"}],
                      "lastAttemptedRevision": "6.5.4"}),
        ),
    )
    .await;

    // `get helmreleases` and its aliases, in the table of `get kustomizations`.
    for alias in ["helmreleases", "helmrelease", "hr"] {
        let get = gitops(kube, &["get", alias, "-n", &ns]).await;
        assert_eq!(get.code, Some(0), "{get}");
        let table = rows(&get.stdout);
        assert_eq!(table.len(), 1, "{get}");
        let release = row(&table, "podinfo");
        assert_eq!(release["REVISION"], "6.5.4", "{get}");
        assert_eq!(release["SUSPENDED"], "False", "{get}");
        assert_eq!(release["READY"], "True", "{get}");
        assert_eq!(
            release["MESSAGE"],
            "Helm install succeeded for release podinfo with chart podinfo@6.5.4"
        );
    }
    let header = "NAME      REVISION   SUSPENDED   READY   MESSAGE\n";
    let hr = gitops(kube, &["get", "hr", "-n", &ns]).await;
    assert!(hr.stdout.starts_with(header), "{hr}");

    // `get sources helm|chart|oci`.
    for (source, name, revision, ready) in [
        ("helm", "podinfo", INDEX, "True"),
        ("chart", "apps-podinfo", "6.5.4", "True"),
        ("oci", "podinfo-oci", "", "False"),
    ] {
        let get = gitops(kube, &["get", "sources", source, "-n", &ns]).await;
        assert_eq!(get.code, Some(0), "{get}");
        let table = rows(&get.stdout);
        assert_eq!(table.len(), 1, "{get}");
        assert_eq!(row(&table, name)["REVISION"], revision, "{get}");
        assert_eq!(row(&table, name)["READY"], ready, "{get}");
    }
    let oci = gitops(kube, &["get", "sources", "oci", "-n", &ns]).await;
    assert_eq!(
        row(&rows(&oci.stdout), "podinfo-oci")["MESSAGE"],
        "failed to determine artifact digest: 401 Unauthorized"
    );

    // `get sources all` and `get all`: every kind, names as `kind/name`, Flux's order.
    let sources = gitops(kube, &["get", "sources", "all", "-n", &ns]).await;
    let names: Vec<String> = rows(&sources.stdout)
        .iter()
        .map(|row| row["NAME"].clone())
        .collect();
    assert_eq!(
        names,
        [
            "gitrepository/flux-system",
            "helmrepository/podinfo",
            "helmchart/apps-podinfo",
            "ocirepository/podinfo-oci"
        ],
        "{sources}"
    );
    let all = gitops(kube, &["get", "all", "-n", &ns]).await;
    assert_eq!(all.code, Some(0), "{all}");
    let names: Vec<String> = rows(&all.stdout)
        .iter()
        .map(|row| row["NAME"].clone())
        .collect();
    assert_eq!(
        names,
        [
            "gitrepository/flux-system",
            "helmrepository/podinfo",
            "helmchart/apps-podinfo",
            "ocirepository/podinfo-oci",
            "kustomization/apps",
            "kustomization/infra",
            "helmrelease/podinfo"
        ],
        "{all}"
    );
    assert_eq!(
        row(&rows(&all.stdout), "helmrelease/podinfo")["REVISION"],
        "6.5.4"
    );
    assert_eq!(all.stdout.matches("NAME ").count(), 6, "{all}");

    // `suspend helmrelease`, then `resume hr` answered by a stand-in controller.
    let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &ns);
    let suspend = gitops(kube, &["suspend", "helmrelease", "podinfo", "-n", &ns]).await;
    assert_eq!(suspend.code, Some(0), "{suspend}");
    assert!(
        suspend.stderr.contains(&format!(
            "► suspending HelmRelease podinfo in {ns} namespace"
        )) && suspend.stderr.contains("✔ HelmRelease suspended"),
        "{suspend}"
    );
    assert!(releases.get("podinfo").await.unwrap().spec.suspend);
    let get = gitops(kube, &["get", "hr", "-n", &ns]).await;
    assert_eq!(
        row(&rows(&get.stdout), "podinfo")["SUSPENDED"],
        "True",
        "{get}"
    );
    let refused = gitops(kube, &["reconcile", "hr", "podinfo", "-n", &ns]).await;
    assert_eq!(refused.code, Some(1), "{refused}");
    assert!(refused.stderr.contains("is suspended"), "{refused}");
    let absent = gitops(kube, &["suspend", "hr", "nope", "-n", &ns]).await;
    assert_eq!(absent.code, Some(1), "{absent}");
    assert!(
        absent
            .stderr
            .contains(&format!("✗ HelmRelease {ns}/nope not found")),
        "{absent}"
    );

    let controller = play_controller::<HelmRelease>(&client, &ns, |name, generation| {
        status(
            generation,
            "True",
            &format!("Helm upgrade succeeded for release {name} with chart podinfo@6.5.5"),
            json!({"lastAttemptedRevision": "6.5.5",
                   "history": [{"name": name, "version": 2, "status": "deployed",
                                "chartName": "podinfo", "chartVersion": "6.5.5"}]}),
        )
    });
    let resume = gitops(
        kube,
        &["resume", "hr", "podinfo", "-n", &ns, "--timeout", "10s"],
    )
    .await;
    controller.abort();
    assert_eq!(resume.code, Some(0), "{resume}");
    for line in [
        format!("► resuming HelmRelease podinfo in {ns} namespace"),
        "✔ HelmRelease resumed".to_owned(),
        "◎ waiting for HelmRelease reconciliation".to_owned(),
        "✔ applied revision 6.5.5".to_owned(),
    ] {
        assert!(resume.stderr.contains(&line), "no {line:?}:\n{resume}");
    }
    assert!(!releases.get("podinfo").await.unwrap().spec.suspend);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_then_resume_without_a_controller_times_out() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let (client, ns) = fixture(kube).await;
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &ns);

    let suspend = gitops(kube, &["suspend", "kustomization", "apps", "-n", &ns]).await;
    assert_eq!(suspend.code, Some(0), "{suspend}");
    assert!(
        suspend.stderr.contains(&format!(
            "► suspending Kustomization apps in {ns} namespace"
        )) && suspend.stderr.contains("✔ Kustomization suspended"),
        "{suspend}"
    );
    assert!(kustomizations.get("apps").await.unwrap().spec.suspend);

    let get = gitops(kube, &["get", "kustomizations", "-n", &ns]).await;
    let table = rows(&get.stdout);
    assert_eq!(row(&table, "apps")["SUSPENDED"], "True", "{get}");
    assert_eq!(row(&table, "infra")["SUSPENDED"], "False", "{get}");

    // A suspended object is not reconciled on request.
    let refused = gitops(kube, &["reconcile", "kustomization", "apps", "-n", &ns]).await;
    assert_eq!(refused.code, Some(1), "{refused}");
    assert!(refused.stderr.contains("is suspended"), "{refused}");

    let started = std::time::Instant::now();
    let resume = gitops(
        kube,
        &[
            "resume",
            "kustomization",
            "apps",
            "-n",
            &ns,
            "--timeout",
            "2s",
        ],
    )
    .await;
    assert_eq!(resume.code, Some(1), "no controller answers: {resume}");
    assert!(started.elapsed() < Duration::from_secs(30), "{resume}");
    assert!(
        resume.stderr.contains("✔ Kustomization resumed"),
        "{resume}"
    );
    assert!(
        resume.stderr.contains(&format!(
            "✗ timed out after 2s waiting for Kustomization {ns}/apps"
        )) && resume.stderr.contains("is a controller running?"),
        "{resume}"
    );
    let apps = kustomizations.get("apps").await.unwrap();
    assert!(!apps.spec.suspend);
    let token = apps.metadata.annotations.unwrap()[REQUESTED_AT_ANNOTATION].clone();
    assert!(!token.is_empty());
    assert_ne!(
        apps.status.unwrap().common.last_handled_reconcile_at,
        Some(token)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_waits_for_the_controller_to_handle_the_request() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let (client, ns) = fixture(kube).await;
    let sources = play_controller::<GitRepository>(&client, &ns, |_, generation| {
        let stored = format!("stored artifact for revision '{NEW_REVISION}'");
        status(generation, "True", &stored, artifact(NEW_REVISION))
    });
    let kustomizations = play_controller::<Kustomization>(&client, &ns, |name, generation| {
        if name == "infra" {
            return status(generation, "False", NOT_FOUND, json!({}));
        }
        let applied = format!("Applied revision: {NEW_REVISION}");
        status(
            generation,
            "True",
            &applied,
            json!({ "lastAppliedRevision": NEW_REVISION }),
        )
    });

    let args = [
        "reconcile",
        "kustomization",
        "apps",
        "--with-source",
        "-n",
        &ns,
        "--timeout",
        "10s",
    ];
    let reconcile = gitops(kube, &args).await;
    println!("$ gitops {}\n{}", args.join(" "), reconcile.stderr);
    assert_eq!(reconcile.code, Some(0), "{reconcile}");
    for line in [
        format!("► annotating GitRepository flux-system in {ns} namespace"),
        format!("✔ fetched revision {NEW_REVISION}"),
        format!("► annotating Kustomization apps in {ns} namespace"),
        "◎ waiting for Kustomization reconciliation".to_owned(),
        format!("✔ applied revision {NEW_REVISION}"),
    ] {
        assert!(
            reconcile.stderr.contains(&line),
            "no {line:?}:\n{reconcile}"
        );
    }

    let failed = gitops(
        kube,
        &[
            "reconcile",
            "kustomization",
            "infra",
            "-n",
            &ns,
            "--timeout",
            "10s",
        ],
    )
    .await;
    assert_eq!(failed.code, Some(1), "{failed}");
    assert!(
        failed.stderr.contains(&format!("✗ {NOT_FOUND}")),
        "{failed}"
    );

    let source = gitops(
        kube,
        &["reconcile", "source", "git", "flux-system", "-n", &ns],
    )
    .await;
    assert_eq!(source.code, Some(0), "{source}");
    assert!(
        source
            .stderr
            .contains(&format!("✔ fetched revision {NEW_REVISION}")),
        "{source}"
    );

    sources.abort();
    kustomizations.abort();
}

fn event(ns: &str, name: &str, regarding: ObjectReference, reason: &str, note: &str) -> Event {
    Event {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(ns.into()),
            ..ObjectMeta::default()
        },
        event_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
        reporting_controller: Some("gitops-controller".into()),
        reporting_instance: Some("gitops-controller-cli-test".into()),
        action: Some("Reconcile".into()),
        type_: Some("Normal".into()),
        reason: Some(reason.into()),
        note: Some(note.into()),
        regarding: Some(regarding),
        ..Event::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_lists_the_events_of_flux_objects() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let (client, ns) = fixture(kube).await;
    let apps = Api::<Kustomization>::namespaced(client.clone(), &ns)
        .get("apps")
        .await
        .unwrap();
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let post = PostParams::default();
    let applied = format!("Applied revision: {REVISION}");
    events
        .create(
            &post,
            &event(
                &ns,
                "apps.1",
                apps.object_ref(&()),
                "ReconciliationSucceeded",
                &applied,
            ),
        )
        .await
        .unwrap();
    let config_map = ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("ConfigMap".into()),
        name: Some("settings".into()),
        namespace: Some(ns.clone()),
        ..ObjectReference::default()
    };
    events
        .create(
            &post,
            &event(
                &ns,
                "settings.1",
                config_map,
                "Updated",
                "not a Flux object",
            ),
        )
        .await
        .unwrap();

    let listed = gitops(kube, &["events", "-n", &ns]).await;
    assert_eq!(listed.code, Some(0), "{listed}");
    println!("$ gitops events -n {ns}\n{}", listed.stdout);
    let table = rows(&listed.stdout);
    assert_eq!(table.len(), 1, "only the Flux object's event: {listed}");
    assert_eq!(table[0]["OBJECT"], "Kustomization/apps");
    assert_eq!(table[0]["REASON"], "ReconciliationSucceeded");
    assert_eq!(table[0]["MESSAGE"], applied);
    assert_eq!(table[0]["TYPE"], "Normal");
    assert!(table[0]["LAST SEEN"].ends_with('s'), "{listed}");

    let settings = gitops(kube, &["events", "-n", &ns, "--for", "ConfigMap/settings"]).await;
    assert_eq!(settings.code, Some(0), "{settings}");
    let table = rows(&settings.stdout);
    assert_eq!(table.len(), 1, "{settings}");
    assert_eq!(table[0]["MESSAGE"], "not a Flux object");

    let everywhere = gitops(kube, &["events", "-A", "--for", "Kustomization/apps"]).await;
    assert_eq!(everywhere.code, Some(0), "{everywhere}");
    assert!(
        rows(&everywhere.stdout)
            .iter()
            .any(|row| row["NAMESPACE"] == ns && row["MESSAGE"] == applied),
        "{everywhere}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_nests_inventories_and_export_writes_clean_objects() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let (client, ns) = fixture(kube).await;
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    // What a controller would have recorded: apps applied a Namespace, a Deployment and the
    // infra Kustomization; infra applied a ConfigMap.
    let entry = |id: String, v: &str| json!({ "id": id, "v": v });
    set_status(
        &kustomizations,
        "apps",
        json!({ "inventory": { "entries": [
            entry("_apps__Namespace".into(), "v1"),
            entry("apps_web_apps_Deployment".into(), "v1"),
            entry(format!("{ns}_infra_kustomize.toolkit.fluxcd.io_Kustomization"), "v1"),
        ]}}),
    )
    .await;
    set_status(
        &kustomizations,
        "infra",
        json!({ "inventory": { "entries": [entry("infra_settings__ConfigMap".into(), "v1")] }}),
    )
    .await;

    let tree = gitops(kube, &["tree", "kustomization", "apps", "-n", &ns]).await;
    assert_eq!(tree.code, Some(0), "{tree}");
    assert_eq!(
        tree.stdout,
        format!(
            "Kustomization/{ns}/apps\n\
             ├── Deployment/apps/web\n\
             ├── Kustomization/{ns}/infra\n\
             │   └── ConfigMap/infra/settings\n\
             └── Namespace/apps\n"
        ),
        "{tree}"
    );
    let missing = gitops(kube, &["tree", "ks", "nope", "-n", &ns]).await;
    assert_eq!(missing.code, Some(2), "{missing}");
    assert!(missing.stderr.contains("not found"), "{missing}");

    let export = gitops(kube, &["export", "kustomization", "apps", "-n", &ns]).await;
    assert_eq!(export.code, Some(0), "{export}");
    assert!(
        export.stdout.starts_with(&format!(
            "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: {ns}\nspec:\n"
        )),
        "{export}"
    );
    for server_field in [
        "status:",
        "uid:",
        "resourceVersion:",
        "managedFields:",
        "inventory",
    ] {
        assert!(
            !export.stdout.contains(server_field),
            "{server_field} in {export}"
        );
    }
    // What export writes applies back as the same object.
    let exported: Vec<gitops::Object> =
        gitops::object::parse_yaml("export", &export.stdout).unwrap();
    assert_eq!(exported.len(), 1);
    let spec = serde_json::to_value(&kustomizations.get("apps").await.unwrap().spec).unwrap();
    assert_eq!(exported[0].value()["spec"], spec, "{export}");

    let all = gitops(kube, &["export", "source", "git", "--all", "-n", &ns]).await;
    assert_eq!(all.code, Some(0), "{all}");
    assert_eq!(all.stdout.matches("---\n").count(), 1, "{all}");
    assert!(
        all.stdout
            .contains("url: https://git.example.com/fleet.git"),
        "{all}"
    );
    let neither = gitops(kube, &["export", "kustomization", "-n", &ns]).await;
    assert_eq!(neither.code, Some(2), "{neither}");
}
