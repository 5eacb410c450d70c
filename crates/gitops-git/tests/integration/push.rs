use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use gitops_git::push::Error;
use gitops_git::{Auth, CommitSpec, GitWriter, Identity, PushOutcome};

use crate::{servers, transports};

fn spec(message: &str) -> CommitSpec {
    CommitSpec::new(Identity::new("Image Bot", "bot@example.invalid"), message)
}

#[tokio::test]
async fn push_retries_after_a_concurrent_update_over_every_transport() {
    let Some(env) = servers() else { return };
    for name in ["git", "http", "ssh", "file"] {
        let repo = env.create_repo(&format!("push-{name}")).unwrap();
        repo.commit_files("main", &[("app.yaml", "image: app:1.0.0\n")], "init")
            .unwrap();
        let t = transports(env, &repo)
            .into_iter()
            .find(|t| t.name == name)
            .unwrap();
        let url = t.url.clone();
        let work = tempfile::tempdir().unwrap();
        let writer = GitWriter::new(&url, work.path().join("checkout"))
            .unwrap()
            .with_auth(t.auth.clone())
            .with_insecure_http(true);
        let calls = Arc::new(AtomicU32::new(0));
        let racer = repo.clone();
        let counter = Arc::clone(&calls);
        let outcome = writer
            .update("main", "main", &spec("bump app"), move |dir| {
                if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                    // Someone else pushes between our fetch and our push.
                    racer.commit_files("main", &[("other.yaml", "x: 1\n")], "concurrent")?;
                }
                std::fs::write(dir.join("app.yaml"), "image: app:1.1.0\n")?;
                Ok(())
            })
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", t.name));
        let PushOutcome::Pushed {
            commit,
            attempts,
            branch,
            ..
        } = outcome
        else {
            panic!("{}: {outcome:?}", t.name)
        };
        assert_eq!(attempts, 2, "{}", t.name);
        assert_eq!(branch, "main");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        let served = env
            .git_command()
            .arg("--git-dir")
            .arg(repo.bare_path())
            .args(["show", "main:app.yaml"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&served.stdout),
            "image: app:1.1.0\n",
            "{}",
            t.name
        );
        let head = env
            .git_command()
            .arg("--git-dir")
            .arg(repo.bare_path())
            .args(["rev-parse", "main"])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&head.stdout).trim(),
            commit,
            "{}",
            t.name
        );
        let other = env
            .git_command()
            .arg("--git-dir")
            .arg(repo.bare_path())
            .args(["show", "main:other.yaml"])
            .output()
            .unwrap();
        assert!(
            other.status.success(),
            "{}: the concurrent change is kept",
            t.name
        );

        // Nothing to change: no commit.
        let outcome = writer
            .update("main", "main", &spec("noop"), |dir| {
                std::fs::write(dir.join("app.yaml"), "image: app:1.1.0\n")?;
                Ok(())
            })
            .await
            .unwrap();
        assert_eq!(outcome, PushOutcome::NoChange { commit });
    }
}

#[tokio::test]
async fn push_to_another_branch_with_author_and_committer() {
    let Some(env) = servers() else { return };
    let repo = env.create_repo("push-branch").unwrap();
    repo.commit_files("main", &[("app.yaml", "v1\n")], "init")
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let writer = GitWriter::new(&repo.git_url(), work.path().join("w")).unwrap();
    let commit =
        spec("automation: update").with_committer(Identity::new("Flux", "flux@example.invalid"));
    for (i, version) in ["v2\n", "v3\n"].into_iter().enumerate() {
        let outcome = writer
            .update("main", "automation", &commit, move |dir| {
                std::fs::write(dir.join("app.yaml"), version)?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(
            matches!(outcome, PushOutcome::Pushed { attempts: 1, .. }),
            "{i}: {outcome:?}"
        );
    }
    let log = env
        .git_command()
        .arg("--git-dir")
        .arg(repo.bare_path())
        .args(["log", "--format=%an <%ae>|%cn <%ce>|%s", "automation"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&log.stdout);
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines.len(),
        3,
        "the second update builds on the automation branch: {log}"
    );
    assert_eq!(
        lines[0],
        "Image Bot <bot@example.invalid>|Flux <flux@example.invalid>|automation: update"
    );
    assert_eq!(repo.rev_parse("main").unwrap().len(), 40);
}

#[tokio::test]
async fn push_errors_are_typed() {
    let Some(env) = servers() else { return };
    let repo = env.create_repo("push-errors").unwrap();
    repo.commit_files("main", &[("a", "a")], "a").unwrap();
    let work = tempfile::tempdir().unwrap();
    let err = GitWriter::new(&repo.http_url(), work.path().join("w"))
        .unwrap()
        .with_auth(Auth::basic(env.http_username(), "wrong-password"))
        .with_insecure_http(true)
        .update("main", "main", &spec("x"), |_| Ok(()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert!(!format!("{err:?}").contains("wrong-password"));
    let err = GitWriter::new(&repo.git_url(), work.path().join("w2"))
        .unwrap()
        .update("nope", "nope", &spec("x"), |_| Ok(()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BranchNotFound { .. }), "{err:?}");
}

#[tokio::test]
async fn push_refuses_credentials_over_plain_http_without_the_opt_in() {
    let Some(env) = servers() else { return };
    let repo = env.create_repo("push-plain-http").unwrap();
    repo.commit_files("main", &[("app.yaml", "v1\n")], "init")
        .unwrap();
    let served_main = || {
        let out = env
            .git_command()
            .arg("--git-dir")
            .arg(repo.bare_path())
            .args(["rev-parse", "main"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    let before = served_main();
    let work = tempfile::tempdir().unwrap();
    let change = |dir: &std::path::Path| -> Result<(), gitops_core::BoxError> {
        std::fs::write(dir.join("app.yaml"), "v2\n")?;
        Ok(())
    };
    let in_auth = GitWriter::new(&repo.http_url(), work.path().join("a"))
        .unwrap()
        .with_auth(Auth::basic(env.http_username(), env.http_password()));
    let in_url = GitWriter::new(&repo.http_url_with_credentials(), work.path().join("b")).unwrap();
    for (how, writer) in [("with_auth", &in_auth), ("in the URL", &in_url)] {
        let err = writer
            .update("main", "main", &spec("bump"), change)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config { .. }), "{how}: {err:?}");
        let message = err.to_string();
        assert!(message.contains("plain http"), "{how}: {message}");
        assert!(
            !message.contains(env.http_password()),
            "{how}: no password in {message}"
        );
        assert!(
            !writer.workdir().exists(),
            "{how}: refused before running git"
        );
    }
    assert_eq!(served_main(), before, "nothing pushed");

    // The same opt-in as the fetch path.
    let outcome = in_auth
        .with_insecure_http(true)
        .update("main", "main", &spec("bump"), change)
        .await
        .unwrap();
    assert!(matches!(outcome, PushOutcome::Pushed { .. }), "{outcome:?}");
    assert_ne!(served_main(), before);
}
