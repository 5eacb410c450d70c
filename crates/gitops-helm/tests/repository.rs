//! A chart repository served by a real web server (the test environment's nginx), made by
//! the real `helm package` and `helm repo index`: versions chosen as Helm does, a conditional
//! GET that downloads nothing when the index is unchanged, archives checked against their
//! digest (a tampered one refused), basic auth, and a missing chart named.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::Path;
use std::process::Command;

use gitops_helm::repository::{HttpRepository, IndexDownload, IndexFetch, RepositoryError, choose};

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

#[tokio::test]
async fn a_chart_pushed_by_helm_to_a_registry_is_chosen_and_pulled() {
    let Some(registries) = gitops_testenv::require_registry() else {
        return;
    };
    let Some(helm_bin) = gitops_testenv::require_helm() else {
        return;
    };
    let registry = &registries.basic;
    let work = tempfile::tempdir().unwrap();
    let config = work.path().join("registry.json");
    let helm_env = |args: &[&str]| {
        let out = Command::new(&helm_bin)
            .args(args)
            .env("HELM_REGISTRY_CONFIG", &config)
            .env("HELM_CACHE_HOME", work.path().join("cache"))
            .env("HELM_CONFIG_HOME", work.path().join("config"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "helm {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    helm_env(&[
        "registry",
        "login",
        &registry.addr(),
        "--username",
        registry.username(),
        "--password",
        registry.password(),
        "--plain-http",
    ]);
    for version in ["0.1.0", "0.2.0+build.7", "1.0.0-rc.1"] {
        let dir = work.path().join(version);
        chart(&dir, version);
        helm(
            &helm_bin,
            &[
                "package",
                &dir.display().to_string(),
                "-d",
                &work.path().display().to_string(),
            ],
        );
        helm_env(&[
            "push",
            &work
                .path()
                .join(format!("demo-{version}.tgz"))
                .display()
                .to_string(),
            &format!("oci://{}/charts", registry.addr()),
            "--plain-http",
        ]);
    }

    let url = format!("oci://{}/charts/demo", registry.addr());
    let anonymous = gitops_helm::repository::OciRepository::new(&url)
        .unwrap()
        .with_plain_http(true);
    assert!(
        anonymous.versions().await.is_err(),
        "the registry needs credentials"
    );
    let repo = gitops_helm::repository::OciRepository::new(&url)
        .unwrap()
        .with_plain_http(true)
        .with_credentials(gitops_registry::Credentials::basic(
            registry.username(),
            registry.password(),
        ));
    let mut versions: Vec<String> = repo
        .versions()
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.version)
        .collect();
    versions.sort();
    assert_eq!(versions, ["0.1.0", "0.2.0+build.7", "1.0.0-rc.1"]);
    let pulled = repo.pull_matching("*").await.unwrap();
    assert_eq!(
        pulled.version, "0.2.0+build.7",
        "the tag's _ is the version's +"
    );
    assert!(pulled.digest.starts_with("sha256:"));
    let loaded = gitops_helm::chart::load_archive("demo.tgz", &pulled.archive).unwrap();
    let rendered =
        gitops_helm::template_chart(&loaded, &gitops_helm::TemplateOptions::new("web")).unwrap();
    assert!(
        rendered.contains("version: \"0.2.0+build.7\""),
        "{rendered}"
    );
    assert_eq!(
        repo.pull_matching(">=1.0.0-0").await.unwrap().version,
        "1.0.0-rc.1"
    );
    let error = repo.pull_matching(">=2").await.unwrap_err();
    assert!(
        matches!(error, gitops_helm::repository::OciError::Version { .. }),
        "{error}"
    );
}

#[tokio::test]
async fn the_whole_index_is_fetched_with_its_digest_then_not_modified() {
    let Some(web) = gitops_testenv::require_static() else {
        return;
    };
    let Some(helm_bin) = gitops_testenv::require_helm() else {
        return;
    };
    repository(&helm_bin, web.root(), "whole", &["0.1.0", "0.2.0"]);
    let served = std::fs::read(web.root().join("whole/index.yaml")).unwrap();
    let repo = HttpRepository::new(&format!("{}whole", web.url())).unwrap();
    let IndexDownload::Fetched {
        mut file,
        digest,
        state,
        bytes,
    } = repo.fetch_index(None).await.unwrap()
    else {
        panic!("a first fetch downloads the index");
    };
    use sha2::Digest as _;
    assert_eq!(
        digest,
        format!("sha256:{}", hex::encode(sha2::Sha256::digest(&served)))
    );
    assert_eq!(bytes, served.len() as u64);
    let mut spooled = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut spooled).unwrap();
    assert_eq!(spooled, served);
    gitops_helm::repository::check_index(spooled.as_slice()).unwrap();
    assert!(matches!(
        repo.fetch_index(Some(&state)).await.unwrap(),
        IndexDownload::NotModified
    ));
}

/// A chart directory packed by [`gitops_helm::chart::package`] (as a HelmChart from Git stores
/// it) is an archive the real `helm` reads: `helm show chart` gives the version with its build
/// metadata, and `helm template` of it prints what ours does.
#[test]
fn a_packed_directory_is_a_chart_the_real_helm_reads() {
    let Some(helm_bin) = gitops_testenv::require_helm() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("demo");
    chart(&source, "2.1.0");
    let (chart, archive) = gitops_helm::chart::package(&source, Some("0123456789ab")).unwrap();
    let packed = dir.path().join("demo-packed.tgz");
    std::fs::write(&packed, &archive).unwrap();
    let packed = packed.display().to_string();

    let shown = Command::new(&helm_bin)
        .args(["show", "chart", &packed])
        .output()
        .unwrap();
    assert!(
        shown.status.success(),
        "{}",
        String::from_utf8_lossy(&shown.stderr)
    );
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("version: 2.1.0+0123456789ab"), "{shown}");
    assert!(shown.contains("appVersion: 2.1.0-app"), "{shown}");

    let theirs = Command::new(&helm_bin)
        .args(["template", "web", &packed])
        .output()
        .unwrap();
    assert!(
        theirs.status.success(),
        "{}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    let ours =
        gitops_helm::template_chart(&chart, &gitops_helm::TemplateOptions::new("web")).unwrap();
    assert_eq!(ours, String::from_utf8(theirs.stdout).unwrap());
}
