use gitops_core::{Fetch, Source as _};
use gitops_git::{IgnoreRules, Include, Reference, fetch_into};

use crate::{cached_packs, files, servers, source, transports};

#[tokio::test]
async fn branch_over_every_transport_then_unchanged_polls_download_no_pack() {
    let Some(env) = servers() else { return };
    let repo = env.create_repo("branch").unwrap();
    let first = repo
        .commit_files("main", &[("deploy/app.yaml", "kind: ConfigMap\n")], "first")
        .unwrap();
    for t in transports(env, &repo) {
        let storage = tempfile::tempdir().unwrap();
        let src = source(&t, Reference::branch("main"), storage.path());
        let fetched = src
            .fetch(None)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", t.name));
        let artifact = fetched.artifact().clone();
        assert!(fetched.is_updated(), "{}", t.name);
        assert_eq!(
            artifact.revision.to_string(),
            format!("main@sha1:{first}"),
            "{}",
            t.name
        );
        assert_eq!(files(&artifact.path), vec!["deploy/app.yaml"], "{}", t.name);
        assert_eq!(artifact.subject.as_deref(), Some("first"), "{}", t.name);
        assert!(!artifact.path.join(".git").exists());

        let packs_before = env.packs_served(&repo);
        let cache_before = cached_packs(storage.path());
        let again = src.fetch(Some(&artifact.revision)).await.unwrap();
        assert_eq!(again, Fetch::Unchanged(artifact.clone()), "{}", t.name);
        assert_eq!(
            env.packs_served(&repo),
            packs_before,
            "{}: an unchanged poll sent a pack",
            t.name
        );
        assert_eq!(cached_packs(storage.path()), cache_before, "{}", t.name);
    }
    // The http server's log shows the no-change poll as a single ref listing.
    let log = env.http_access_log();
    assert!(
        log.contains(&format!("/git/{}.git/info/refs", repo.name())),
        "{log}"
    );
}

#[tokio::test]
async fn moved_and_force_pushed_branches_are_fetched_again() {
    let Some(env) = servers() else { return };
    let repo = env.create_repo("moving").unwrap();
    repo.commit_files("main", &[("a.yaml", "a: 1\n")], "one")
        .unwrap();
    let t = &transports(env, &repo)[0];
    let storage = tempfile::tempdir().unwrap();
    let src = source(t, Reference::branch("main"), storage.path());
    let one = src.fetch(None).await.unwrap().artifact().clone();

    let two = repo
        .commit_files("main", &[("b.yaml", "b: 2\n")], "two")
        .unwrap();
    let fetched = src.fetch(Some(&one.revision)).await.unwrap();
    assert!(fetched.is_updated());
    assert_eq!(fetched.artifact().revision.digest().hex(), two);
    assert_eq!(files(&fetched.artifact().path), vec!["a.yaml", "b.yaml"]);
    assert_ne!(fetched.artifact().digest, one.digest);
    assert!(one.path.exists(), "the previous artifact stays usable");

    // Force-push an unrelated history.
    repo.commit_files("orphan", &[("c.yaml", "c: 3\n")], "unrelated")
        .unwrap();
    let forced = repo.branch("main", "orphan").unwrap();
    let after = src.fetch(Some(&fetched.artifact().revision)).await.unwrap();
    assert_eq!(after.artifact().revision.digest().hex(), forced);
    assert!(files(&after.artifact().path).contains(&"c.yaml".to_owned()));
}

#[tokio::test]
async fn tags_semver_commits_and_ref_names_over_every_transport() {
    let Some(env) = servers() else { return };
    let repo = env.create_repo("refs").unwrap();
    let c1 = repo
        .commit_files("main", &[("v.txt", "1.0.0")], "1.0.0")
        .unwrap();
    repo.tag("v1.0.0", &c1, Some("annotated 1.0.0")).unwrap();
    let c2 = repo
        .commit_files("main", &[("v.txt", "1.3.0")], "1.3.0")
        .unwrap();
    repo.tag("v1.3.0", &c2, None).unwrap();
    let c3 = repo
        .commit_files("main", &[("v.txt", "2.0.0-rc.1")], "rc")
        .unwrap();
    repo.tag("v2.0.0-rc.1", &c3, Some("rc")).unwrap();
    repo.tag("not-a-version", &c3, None).unwrap();
    let c4 = repo
        .commit_files("feature", &[("v.txt", "feature")], "feature")
        .unwrap();

    for t in transports(env, &repo) {
        let cases: Vec<(Reference, String)> = vec![
            (Reference::tag("v1.0.0"), format!("v1.0.0@sha1:{c1}")),
            (Reference::tag("v1.3.0"), format!("v1.3.0@sha1:{c2}")),
            ("semver:^1".parse().unwrap(), format!("v1.3.0@sha1:{c2}")),
            ("semver:~1.0".parse().unwrap(), format!("v1.0.0@sha1:{c1}")),
            (
                "semver:>=1.0.0-0".parse().unwrap(),
                format!("v2.0.0-rc.1@sha1:{c3}"),
            ),
            (Reference::commit(&c1), format!("sha1:{c1}")),
            (
                Reference::RefName("refs/heads/feature".into()),
                format!("refs/heads/feature@sha1:{c4}"),
            ),
        ];
        for (reference, expected) in cases {
            let storage = tempfile::tempdir().unwrap();
            let src = source(&t, reference.clone(), storage.path());
            let fetched = src
                .fetch(None)
                .await
                .unwrap_or_else(|e| panic!("{} {reference}: {e:?}", t.name));
            let artifact = fetched.artifact();
            assert_eq!(
                artifact.revision.to_string(),
                expected,
                "{} {reference}",
                t.name
            );
            let content = std::fs::read_to_string(artifact.path.join("v.txt")).unwrap();
            assert!(!content.is_empty());
            let packs = env.packs_served(&repo);
            let again = src.fetch(Some(&artifact.revision)).await.unwrap();
            assert!(!again.is_updated(), "{} {reference}", t.name);
            assert_eq!(env.packs_served(&repo), packs, "{} {reference}", t.name);
        }
    }
}

#[tokio::test]
async fn ignore_rules_sourceignore_and_includes() {
    let Some(env) = servers() else { return };
    let repo = env.create_repo("ignore").unwrap();
    repo.commit_files(
        "main",
        &[
            ("deploy/app.yaml", "app"),
            ("logo.png", "binary"),
            (".github/workflows/ci.yaml", "ci"),
            (".gitignore", "target/\n"),
            (".sourceignore", "secret/\n*.tmp\n"),
            ("secret/key.yaml", "hidden"),
            ("notes.tmp", "tmp"),
            ("sub/.sourceignore", "local.yaml\n"),
            ("sub/local.yaml", "ignored here"),
            ("sub/keep.yaml", "kept"),
            ("other/local.yaml", "not ignored here"),
        ],
        "ignore",
    )
    .unwrap();
    let t = &transports(env, &repo)[0];
    let storage = tempfile::tempdir().unwrap();
    let fetched = source(t, Reference::branch("main"), storage.path())
        .fetch(None)
        .await
        .unwrap();
    assert_eq!(
        files(&fetched.artifact().path),
        vec![
            ".sourceignore",
            "deploy/app.yaml",
            "other/local.yaml",
            "sub/.sourceignore",
            "sub/keep.yaml"
        ]
    );

    // spec.ignore replaces the defaults (VCS files stay excluded); negation works.
    let include_dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(include_dir.path().join("nested")).unwrap();
    std::fs::write(include_dir.path().join("nested/extra.yaml"), "extra").unwrap();
    let storage = tempfile::tempdir().unwrap();
    let fetched = source(t, Reference::branch("main"), storage.path())
        .with_ignore(
            IgnoreRules::default()
                .with_patterns("*.yaml\n!keep.yaml\n")
                .with_sourceignore(false),
        )
        .with_include(Include::new(include_dir.path(), "included"))
        .fetch(None)
        .await
        .unwrap();
    assert_eq!(
        files(&fetched.artifact().path),
        vec![
            ".sourceignore",
            "included/nested/extra.yaml",
            "logo.png",
            "notes.tmp",
            "sub/.sourceignore",
            "sub/keep.yaml"
        ]
    );
}

#[tokio::test]
async fn fetch_into_for_the_cli() {
    let Some(env) = servers() else { return };
    let repo = env.create_repo("cli").unwrap();
    let c = repo.commit_files("main", &[("x.yaml", "x")], "x").unwrap();
    let t = &transports(env, &repo)[1];
    let parent = tempfile::tempdir().unwrap();
    let dest = parent.path().join("out");
    let storage = tempfile::tempdir().unwrap();
    let src = source(t, "branch:main".parse().unwrap(), storage.path());
    let artifact = fetch_into(&src, &dest).await.unwrap();
    assert_eq!(artifact.revision.to_string(), format!("main@sha1:{c}"));
    assert_eq!(artifact.path, dest);
    assert_eq!(files(&dest), vec!["x.yaml"]);
    assert!(
        fetch_into(&src, &dest).await.is_err(),
        "an existing destination is refused"
    );
}
