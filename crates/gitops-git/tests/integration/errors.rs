use std::time::{Duration, Instant};

use gitops_core::Source as _;
use gitops_git::fetch::Error;
use gitops_git::{Auth, GitSource, Reference};

use crate::{git_in, servers, source, transports};

#[tokio::test]
async fn unknown_reference_and_empty_repository() {
    let Some(env) = servers() else { return };
    let empty = env.create_repo("empty").unwrap();
    for t in transports(env, &empty) {
        let storage = tempfile::tempdir().unwrap();
        let err = source(&t, Reference::branch("main"), storage.path())
            .fetch_revision(None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::EmptyRepository { .. }),
            "{}: {err:?}",
            t.name
        );
    }
    let repo = env.create_repo("unknown").unwrap();
    let c = repo.commit_files("main", &[("a", "a")], "a").unwrap();
    for t in transports(env, &repo) {
        for reference in [
            Reference::branch("nope"),
            Reference::tag("v9.9.9"),
            "semver:>=5.0.0".parse().unwrap(),
        ] {
            let storage = tempfile::tempdir().unwrap();
            let err = source(&t, reference.clone(), storage.path())
                .fetch_revision(None)
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::ReferenceNotFound { .. }),
                "{} {reference}: {err:?}",
                t.name
            );
            assert!(err.to_string().contains(&reference.to_string()));
        }
        // A commit the server does not have.
        let storage = tempfile::tempdir().unwrap();
        let missing = c.chars().rev().collect::<String>();
        let err = source(&t, Reference::commit(missing), storage.path())
            .fetch_revision(None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::ReferenceNotFound { .. }),
            "{}: {err:?}",
            t.name
        );
    }
}

#[tokio::test]
async fn wrong_password_missing_credentials_and_wrong_ssh_key() {
    let Some(env) = servers() else { return };
    let repo = env.create_repo("auth").unwrap();
    repo.commit_files("main", &[("a", "a")], "a").unwrap();
    let password = "definitely-wrong-password";
    for auth in [Auth::basic(env.http_username(), password), Auth::None] {
        let storage = tempfile::tempdir().unwrap();
        let src = GitSource::new(&repo.http_url(), Reference::branch("main"), storage.path())
            .unwrap()
            .with_auth(auth.clone())
            .with_insecure_http(true);
        let err = src.fetch_revision(None).await.unwrap_err();
        assert!(matches!(err, Error::Auth { .. }), "{auth:?}: {err:?}");
        let text = format!("{err} {err:?} {src:?}");
        assert!(!text.contains(password), "credentials leaked: {text}");
        let core: gitops_core::source::Error = err.into();
        assert!(matches!(core, gitops_core::source::Error::Auth { .. }));
    }
    // A password in the URL is used but never shown.
    let storage = tempfile::tempdir().unwrap();
    let with_password = repo.http_url_with_credentials();
    let src = GitSource::new(&with_password, Reference::branch("main"), storage.path()).unwrap();
    assert!(!src.url().contains(env.http_password()));
    let err = src.fetch_revision(None).await.unwrap_err();
    assert!(
        matches!(err, Error::Config { .. }),
        "plain http needs an opt-in: {err:?}"
    );
    assert!(!format!("{err}").contains(env.http_password()));
    let src = src.with_insecure_http(true);
    assert!(!format!("{src:?}").contains(env.http_password()));
    let fetched = src.fetch(None).await.unwrap();
    assert!(fetched.is_updated());

    // An ssh key the server does not know.
    let keydir = tempfile::tempdir().unwrap();
    let key = keydir.path().join("other");
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let identity = std::fs::read_to_string(&key).unwrap();
    let storage = tempfile::tempdir().unwrap();
    let err = GitSource::new(&repo.ssh_url(), Reference::branch("main"), storage.path())
        .unwrap()
        .with_auth(Auth::ssh(identity.clone(), env.known_hosts()))
        .fetch_revision(None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert!(!format!("{err:?}").contains(identity.lines().nth(1).unwrap()));

    // A host key that does not match known_hosts.
    let other_pub = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let mut fields = other_pub.split_whitespace();
    let wrong_known_hosts = format!(
        "[127.0.0.1]:{} {} {}\n",
        env.ssh_port(),
        fields.next().unwrap(),
        fields.next().unwrap()
    );
    let storage = tempfile::tempdir().unwrap();
    let err = GitSource::new(&repo.ssh_url(), Reference::branch("main"), storage.path())
        .unwrap()
        .with_auth(Auth::ssh(env.ssh_identity(), wrong_known_hosts))
        .fetch_revision(None)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HostKey { .. }), "{err:?}");
}

#[tokio::test]
async fn server_down_and_server_hanging() {
    // Down: a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    for url in [
        format!("git://127.0.0.1:{port}/x.git"),
        format!("http://127.0.0.1:{port}/x.git"),
    ] {
        let storage = tempfile::tempdir().unwrap();
        let err = GitSource::new(&url, Reference::branch("main"), storage.path())
            .unwrap()
            .with_timeout(Duration::from_secs(10))
            .fetch_revision(None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unavailable { .. }), "{url}: {err:?}");
        assert!(err.is_transient());
    }
    // Hanging: accepts connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(2) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(3));
    });
    for url in [
        format!("git://127.0.0.1:{port}/x.git"),
        format!("http://127.0.0.1:{port}/x.git"),
    ] {
        let storage = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let err = GitSource::new(&url, Reference::branch("main"), storage.path())
            .unwrap()
            .with_timeout(Duration::from_secs(1))
            .fetch_revision(None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Timeout { .. } | Error::Unavailable { .. }),
            "{url}: {err:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(4), "{url}");
    }
}

#[tokio::test]
async fn paths_and_symlinks_escaping_the_checkout_are_refused() {
    let Some(env) = servers() else { return };
    let repo = env.create_repo("escape").unwrap();
    let good = repo
        .commit_files("main", &[("ok.yaml", "ok")], "good")
        .unwrap();
    let t = &transports(env, &repo)[0];
    let storage = tempfile::tempdir().unwrap();
    let src = source(t, Reference::branch("main"), storage.path());
    let first = src.fetch(None).await.unwrap().artifact().clone();
    assert_eq!(first.revision.digest().hex(), good);

    let bare = repo.bare_path();
    let blob = git_in(
        env,
        bare,
        &["hash-object", "-w", "--stdin"],
        Some(b"/etc/passwd"),
    );
    let up = git_in(
        env,
        bare,
        &["hash-object", "-w", "--stdin"],
        Some(b"../../outside"),
    );
    // A symlink to an absolute path, another climbing out.
    for (name, target) in [("abs", &blob), ("up", &up)] {
        let tree = git_in(
            env,
            bare,
            &["mktree"],
            Some(format!("120000 blob {target}\tlink-{name}\n").as_bytes()),
        );
        let commit = git_in(
            env,
            bare,
            &["commit-tree", &tree, "-p", &good, "-m", name],
            None,
        );
        git_in(env, bare, &["update-ref", "refs/heads/main", &commit], None);
        let err = src.fetch_revision(Some(&first.revision)).await.unwrap_err();
        assert!(
            matches!(err, Error::SymlinkEscape { .. }),
            "{name}: {err:?}"
        );
        assert!(
            first.path.join("ok.yaml").exists(),
            "the previous artifact stays usable"
        );
    }
    // A tree entry named `..` (git refuses to make one; write the object literally).
    let mut raw = b"100644 ..\0".to_vec();
    raw.extend(hex_to_bytes(&blob));
    let tree = git_in(
        env,
        bare,
        &["hash-object", "--literally", "-t", "tree", "-w", "--stdin"],
        Some(&raw),
    );
    let commit = git_in(
        env,
        bare,
        &["commit-tree", &tree, "-p", &good, "-m", "dotdot"],
        None,
    );
    git_in(env, bare, &["update-ref", "refs/heads/main", &commit], None);
    let err = src.fetch_revision(Some(&first.revision)).await.unwrap_err();
    assert!(matches!(err, Error::PathEscape { .. }), "{err:?}");
    assert!(first.path.join("ok.yaml").exists());
}

fn hex_to_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test]
async fn ssh_keys_with_a_passphrase() {
    let Some(env) = servers() else { return };
    let repo = env.create_repo("passphrase").unwrap();
    let c = repo.commit_files("main", &[("a", "a")], "a").unwrap();
    // The server's key, encrypted with a passphrase.
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("id");
    std::fs::write(&key, env.ssh_identity()).unwrap();
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-p", "-P", "", "-N", "correct horse", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    let encrypted = std::fs::read_to_string(&key).unwrap();
    for (passphrase, works) in [("correct horse", true), ("wrong", false)] {
        let mut secret = vec![
            ("identity", encrypted.clone()),
            ("known_hosts", env.known_hosts().to_owned()),
        ];
        secret.push(("password", passphrase.to_owned()));
        let auth = Auth::from_secret_data(secret).unwrap();
        let storage = tempfile::tempdir().unwrap();
        let result = GitSource::new(&repo.ssh_url(), Reference::branch("main"), storage.path())
            .unwrap()
            .with_auth(auth)
            .with_timeout(Duration::from_secs(20))
            .fetch_revision(None)
            .await;
        if works {
            let fetched = result.unwrap();
            assert_eq!(fetched.artifact().revision.digest().hex(), c);
        } else {
            let err = result.unwrap_err();
            assert!(matches!(err, Error::Auth { .. }), "{err:?}");
            assert!(!format!("{err:?}").contains(passphrase));
        }
    }
}
