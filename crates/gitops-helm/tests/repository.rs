//! A chart repository served by a real web server (the test environment's nginx), made by
//! the real `helm package` and `helm repo index`: versions chosen as Helm does, a conditional
//! GET that downloads nothing when the index is unchanged, archives checked against their
//! digest (a tampered one refused), basic auth, and a missing chart named.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;
use std::process::Command;

use gitops_helm::repository::{HttpRepository, IndexFetch, RepositoryError, choose};

fn chart(dir: &Path, version: &str) {
    std::fs::create_dir_all(dir.join("templates")).unwrap();
    std::fs::write(
        dir.join("Chart.yaml"),
        format!("apiVersion: v2\nname: demo\nversion: {version}\nappVersion: \"{version}-app\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("templates/cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}\ndata:\n  version: {{ .Chart.Version | quote }}\n",
    )
    .unwrap();
}

fn helm(helm: &Path, args: &[&str]) {
    let out = Command::new(helm).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Packages versions of the `demo` chart into `<static>/<folder>` and indexes them.
fn repository(helm_bin: &Path, root: &Path, folder: &str, versions: &[&str]) {
    let out = root.join(folder);
    std::fs::create_dir_all(&out).unwrap();
    let sources = tempfile::tempdir().unwrap();
    for version in versions {
        let dir = sources.path().join(version);
        chart(&dir, version);
        helm(
            helm_bin,
            &[
                "package",
                &dir.display().to_string(),
                "-d",
                &out.display().to_string(),
            ],
        );
    }
    helm(helm_bin, &["repo", "index", &out.display().to_string()]);
}

#[tokio::test]
async fn a_helm_made_repository_is_read_chosen_from_and_downloaded_with_digests_checked() {
    let Some(web) = gitops_testenv::require_static() else {
        return;
    };
    let Some(helm_bin) = gitops_testenv::require_helm() else {
        return;
    };
    repository(
        &helm_bin,
        web.root(),
        "charts",
        &["0.1.0", "0.2.0", "1.0.0-rc.1"],
    );
    let repo = HttpRepository::new(&format!("{}charts", web.url())).unwrap();

    // The index, then the same index again: not modified, nothing downloaded.
    let IndexFetch::Fetched {
        versions,
        state,
        bytes,
    } = repo.chart_versions("demo", None).await.unwrap()
    else {
        panic!("a first fetch downloads the index");
    };
    assert!(bytes > 0);
    assert_eq!(versions.len(), 3);
    assert!(
        state.etag.is_some() || state.last_modified.is_some(),
        "{state:?}"
    );
    assert_eq!(
        repo.chart_versions("demo", Some(&state)).await.unwrap(),
        IndexFetch::NotModified
    );

    // Helm's choice: the newest stable, a range, a pre-release only when asked for.
    assert_eq!(choose(&versions, "*").unwrap().version, "0.2.0");
    assert_eq!(choose(&versions, "0.1.*").unwrap().version, "0.1.0");
    assert_eq!(
        choose(&versions, ">=1.0.0-0").unwrap().version,
        "1.0.0-rc.1"
    );
    let chosen = choose(&versions, "*").unwrap();
    assert_eq!(chosen.app_version.as_deref(), Some("0.2.0-app"));

    // The archive, checked against the index, loads as the chart.
    let archive = repo.download(chosen).await.unwrap();
    let loaded = gitops_helm::chart::load_archive("demo-0.2.0.tgz", &archive).unwrap();
    let rendered =
        gitops_helm::template_chart(&loaded, &gitops_helm::TemplateOptions::new("web")).unwrap();
    assert!(rendered.contains("version: \"0.2.0\""), "{rendered}");

    // A chart absent from the index is named.
    let error = repo.chart_versions("absent", None).await.unwrap_err();
    assert!(
        matches!(
            &error,
            RepositoryError::Index {
                source: gitops_helm::repository::IndexError::ChartNotFound { chart },
                ..
            } if chart == "absent"
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_tampered_archive_is_refused_and_private_repositories_need_credentials() {
    let Some(web) = gitops_testenv::require_static() else {
        return;
    };
    let Some(helm_bin) = gitops_testenv::require_helm() else {
        return;
    };
    // Tampered: the archive replaced after indexing.
    repository(&helm_bin, web.root(), "tampered", &["0.3.0"]);
    let other = tempfile::tempdir().unwrap();
    chart(&other.path().join("demo"), "0.3.0");
    std::fs::write(
        other.path().join("demo/templates/extra.yaml"),
        "kind: Secret\n",
    )
    .unwrap();
    helm(
        &helm_bin,
        &[
            "package",
            &other.path().join("demo").display().to_string(),
            "-d",
            &web.root().join("tampered").display().to_string(),
        ],
    );
    let repo = HttpRepository::new(&format!("{}tampered/", web.url())).unwrap();
    let IndexFetch::Fetched { versions, .. } = repo.chart_versions("demo", None).await.unwrap()
    else {
        panic!("fetched");
    };
    let error = repo.download(&versions[0]).await.unwrap_err();
    assert!(
        matches!(error, RepositoryError::DigestMismatch { .. }),
        "{error}"
    );

    // Private: 401 without credentials, read with them.
    repository(&helm_bin, web.root(), "private/charts", &["0.4.0"]);
    let url = format!("{}private/charts", web.url());
    let anonymous = HttpRepository::new(&url).unwrap();
    let error = anonymous.chart_versions("demo", None).await.unwrap_err();
    assert!(
        matches!(error, RepositoryError::Status { status: 401, .. }),
        "{error}"
    );
    let authorized = HttpRepository::new(&url)
        .unwrap()
        .with_basic_auth(web.username(), web.password());
    let IndexFetch::Fetched { versions, .. } =
        authorized.chart_versions("demo", None).await.unwrap()
    else {
        panic!("fetched");
    };
    let archive = authorized.download(&versions[0]).await.unwrap();
    assert!(!archive.is_empty());
}
