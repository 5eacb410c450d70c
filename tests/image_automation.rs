//! Image automation end to end, on the test environment's real servers: a new tag in the
//! registry → the policy picks it → setters rewrite the marked field → commit and push to the
//! Git server (http, basic auth) → a `GitSource` poll sees the new revision.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;

use gitops::git::{GitSource, GitWriter, ImageUpdateAutomation, PushOutcome, Reference};
use gitops::image::policy::{Choice, Policy};
use gitops::registry::{Credentials, RegistryScanner};
use gitops::{ImageScanner, Source};

const CONFIG: &str = "application/vnd.oci.image.config.v1+json";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_tag_to_new_revision() {
    let Some(git) = gitops_testenv::require_git() else {
        return;
    };
    let Some(registries) = gitops_testenv::require_registry() else {
        return;
    };
    let registry = &registries.basic;
    let image = format!("{}/platform/api", registry.addr());
    for tag in ["1.0.0", "1.1.0", "1.2.0-rc.1", "latest"] {
        registry
            .push_image("platform/api", tag, CONFIG, tag.as_bytes(), &[])
            .await
            .unwrap();
    }

    let deployment = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api # the gateway\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: {image}:1.0.0 # {{\"$imagepolicy\": \"flux-system:api\"}}\n"
    );
    let repo = git.create_repo("fleet").unwrap();
    repo.commit_files(
        "main",
        &[
            ("apps/api.yaml", deployment.as_str()),
            ("README.md", "fleet\n"),
        ],
        "initial",
    )
    .unwrap();

    let storage = tempfile::tempdir().unwrap();
    let source = GitSource::new(
        &repo.http_url_with_credentials(),
        Reference::branch("main"),
        storage.path(),
    )
    .unwrap()
    .with_insecure_http(true);
    let first = source.fetch(None).await.unwrap();

    // The policy over the registry's tags.
    let scanner = RegistryScanner::new()
        .unwrap()
        .with_insecure(true)
        .with_credentials(Credentials::basic(registry.username(), registry.password()));
    let policy = Policy::new(Choice::Semver(">=1.0.0".parse().unwrap()));
    let latest = |tags: Vec<String>| {
        format!(
            "{image}:{}",
            policy.latest(tags.iter().map(String::as_str)).unwrap()
        )
    };
    let policies = |image: String| BTreeMap::from([("flux-system:api".to_owned(), image)]);

    let work = tempfile::tempdir().unwrap();
    let writer = GitWriter::new(
        &repo.http_url_with_credentials(),
        work.path().join("checkout"),
    )
    .unwrap()
    .with_insecure_http(true);
    let tree = std::sync::Arc::new(gitops::local::images::DirectoryTree);
    let automation = ImageUpdateAutomation::new("flux-system/api-images", writer, "main", tree)
        .with_template("Update {{count}} image(s) for {{automation}}\n{{#changes}}\n{{file}}: {{old}} -> {{new}}{{/changes}}\n")
        .unwrap();

    let newest = latest(scanner.scan(&image).await.unwrap().tags);
    assert_eq!(
        newest,
        format!("{image}:1.1.0"),
        "pre-releases and non-versions are ignored"
    );
    let outcome = automation.run(policies(newest.clone())).await.unwrap();
    assert!(
        matches!(outcome.result, PushOutcome::Pushed { .. }),
        "{outcome:?}"
    );
    assert_eq!(outcome.changes.len(), 1);
    assert_eq!(outcome.changes[0].old, format!("{image}:1.0.0"));

    // The source sees a new revision whose tree carries the new tag and nothing else changed.
    let second = source
        .fetch(Some(&first.artifact().revision))
        .await
        .unwrap();
    assert!(second.is_updated());
    assert_ne!(second.artifact().revision, first.artifact().revision);
    let text = std::fs::read_to_string(second.artifact().path.join("apps/api.yaml")).unwrap();
    assert_eq!(text, deployment.replace(":1.0.0 #", ":1.1.0 #"));
    let log = git
        .git_command()
        .arg("--git-dir")
        .arg(repo.bare_path())
        .args(["log", "-1", "--format=%s"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    assert!(
        log.contains("Update 1 image(s) for flux-system/api-images"),
        "{log}"
    );

    // Nothing new: no commit, and the poll stays unchanged.
    let again = automation.run(policies(newest)).await.unwrap();
    assert!(
        matches!(again.result, PushOutcome::NoChange { .. }),
        "{again:?}"
    );
    assert!(
        !source
            .fetch(Some(&second.artifact().revision))
            .await
            .unwrap()
            .is_updated()
    );

    // A new release goes the same way.
    registry
        .push_image("platform/api", "1.2.0", CONFIG, b"1.2.0", &[])
        .await
        .unwrap();
    let newest = latest(scanner.scan(&image).await.unwrap().tags);
    assert!(matches!(
        automation.run(policies(newest)).await.unwrap().result,
        PushOutcome::Pushed { .. }
    ));
    let third = source
        .fetch(Some(&second.artifact().revision))
        .await
        .unwrap();
    let text = std::fs::read_to_string(third.artifact().path.join("apps/api.yaml")).unwrap();
    assert!(text.contains(&format!("{image}:1.2.0 #")), "{text}");
}
