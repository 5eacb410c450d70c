//! Smoke tests: each real server works with the real clients.

use std::path::Path;
use std::process::Command;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};

fn git(env: &gitops_testenv::GitEnv, args: &[&str], dir: &Path) -> String {
    let out = env
        .git_command()
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn kube_namespace_and_configmap_round_trip() {
    let Some(env) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = env.namespace().await;
    let client = env.client().await;
    let api: kube::Api<ConfigMap> = kube::Api::namespaced(client, &ns);
    let cm = ConfigMap {
        metadata: ObjectMeta {
            name: Some("smoke".into()),
            ..ObjectMeta::default()
        },
        data: Some([("key".to_string(), "value".to_string())].into()),
        ..ConfigMap::default()
    };
    api.create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let back = api.get("smoke").await.expect("get");
    assert_eq!(
        back.data.unwrap_or_default().get("key").map(String::as_str),
        Some("value")
    );

    // The kubeconfig file works for kubectl too, when it is installed.
    if let Ok(out) = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(env.kubeconfig_path())
        .args([
            "get",
            "configmap",
            "smoke",
            "-n",
            &ns,
            "-o",
            "jsonpath={.data.key}",
        ])
        .output()
    {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "value");
    }
}

#[tokio::test]
async fn kube_namespaces_are_fresh_per_call() {
    let Some(env) = gitops_testenv::require_kube() else {
        return;
    };
    let a = env.namespace().await;
    let b = env.namespace().await;
    assert_ne!(a, b);
}

#[test]
fn git_clone_from_each_server_and_count_packs() {
    let Some(env) = gitops_testenv::require_git() else {
        return;
    };
    let repo = env.create_repo("smoke").expect("create repo");
    let first = repo
        .commit_files("main", &[("deploy/cm.yaml", "kind: ConfigMap\n")], "first")
        .expect("commit");
    let tagged = repo
        .tag("v1.0.0", "main", Some("release 1.0.0"))
        .expect("tag");
    assert_eq!(tagged, first);
    let second = repo
        .commit(
            "main",
            &[("deploy/cm.yaml", None), ("other.txt", Some("x"))],
            "second",
        )
        .expect("commit");
    repo.branch("feature", &first).expect("branch");

    let tmp = tempfile::tempdir().expect("tempdir");
    let urls = [
        ("git", repo.git_url()),
        ("http", repo.http_url_with_credentials()),
        ("http-anonymous", repo.http_url_anonymous()),
        ("ssh", repo.ssh_url()),
    ];
    for (kind, url) in &urls {
        let dest = tmp.path().join(kind);
        let before = env.packs_served(&repo);
        git(
            env,
            &["clone", "-q", url, dest.to_str().expect("utf-8 path")],
            tmp.path(),
        );
        assert_eq!(
            git(env, &["rev-parse", "HEAD"], &dest).trim(),
            second,
            "{kind}"
        );
        assert!(dest.join("other.txt").exists(), "{kind}");
        let tags = git(env, &["tag", "-l"], &dest);
        assert_eq!(tags.trim(), "v1.0.0", "{kind}");
        let feature = git(env, &["rev-parse", "origin/feature"], &dest);
        assert_eq!(feature.trim(), first, "{kind}");
        assert_eq!(
            env.packs_served(&repo),
            before + 1,
            "{kind}: the clone got one pack"
        );

        // A fetch with nothing new downloads no pack.
        git(env, &["fetch", "-q", "origin"], &dest);
        assert_eq!(
            env.packs_served(&repo),
            before + 1,
            "{kind}: a no-change fetch got a pack"
        );
    }

    // The HTTP access log shows the smart-HTTP requests, and that the no-change fetch only
    // asked for the refs.
    let log = env.http_access_log();
    let name = repo.name();
    let upload_packs = log
        .lines()
        .filter(|l| l.contains(&format!("POST /git/{name}.git/git-upload-pack")))
        .count();
    assert!(upload_packs >= 1, "{log}");
    assert!(
        log.contains(&format!(
            "GET /git/{name}.git/info/refs?service=git-upload-pack"
        )),
        "{log}"
    );

    // Without credentials the HTTP server refuses.
    let out = env
        .git_command()
        .args(["ls-remote", &repo.http_url()])
        .output()
        .expect("git runs");
    assert!(!out.status.success());

    // With a wrong host key, ssh refuses (known_hosts checking is on).
    let bad_known_hosts = tmp.path().join("bad_known_hosts");
    std::fs::write(
        &bad_known_hosts,
        format!(
            "[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n",
            env.ssh_port()
        ),
    )
    .expect("write");
    let out = env
        .git_command()
        .env(
            "GIT_SSH_COMMAND",
            format!(
                "ssh -F /dev/null -i '{}' -o IdentitiesOnly=yes -o UserKnownHostsFile='{}' -o StrictHostKeyChecking=yes -o BatchMode=yes",
                env.ssh_identity_file().display(),
                bad_known_hosts.display()
            ),
        )
        .args(["ls-remote", &repo.ssh_url()])
        .output()
        .expect("git runs");
    assert!(!out.status.success(), "ssh accepted a wrong host key");
}

#[test]
fn git_push_through_each_server() {
    let Some(env) = gitops_testenv::require_git() else {
        return;
    };
    let repo = env.create_repo("push").expect("create repo");
    repo.commit_files("main", &[("a", "1")], "first")
        .expect("commit");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dest = tmp.path().join("clone");
    git(
        env,
        &[
            "clone",
            "-q",
            &repo.git_url(),
            dest.to_str().expect("utf-8"),
        ],
        tmp.path(),
    );
    for (i, url) in [
        repo.git_url(),
        repo.http_url_with_credentials(),
        repo.ssh_url(),
    ]
    .iter()
    .enumerate()
    {
        std::fs::write(dest.join("a"), format!("{i}")).expect("write");
        git(env, &["commit", "-q", "-am", "change"], &dest);
        git(env, &["push", "-q", url, "HEAD:main"], &dest);
        let local = git(env, &["rev-parse", "HEAD"], &dest);
        let served = env
            .git_command()
            .arg("--git-dir")
            .arg(repo.bare_path())
            .args(["rev-parse", "main"])
            .output()
            .expect("git runs");
        assert_eq!(String::from_utf8_lossy(&served.stdout), local);
    }
}

#[tokio::test]
async fn registry_push_and_list_tags_on_both_instances() {
    let Some(env) = gitops_testenv::require_registry() else {
        return;
    };
    for server in env.servers() {
        let digest = server
            .push_image(
                "smoke/app",
                "v1.2.3",
                "application/vnd.cncf.flux.config.v1+json",
                b"{}",
                &[(
                    "application/vnd.cncf.flux.content.v1.tar+gzip",
                    b"not really a tarball",
                )],
            )
            .await
            .unwrap_or_else(|e| panic!("{:?} push: {e}", server.auth()));
        assert!(digest.starts_with("sha256:"));
        server
            .push_image(
                "smoke/app",
                "v1.3.0",
                "application/vnd.oci.image.config.v1+json",
                b"{\"a\":1}",
                &[],
            )
            .await
            .expect("second push");
        let mut tags = server.list_tags("smoke/app").await.expect("list tags");
        tags.sort();
        assert_eq!(tags, ["v1.2.3", "v1.3.0"], "{:?}", server.auth());

        // Anonymous access is refused with the right challenge.
        let response = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client")
            .get(format!("{}/v2/smoke/app/tags/list", server.url()))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status().as_u16(), 401);
        let challenge = response
            .headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        match server.auth() {
            gitops_testenv::RegistryAuth::Basic => {
                assert!(challenge.starts_with("Basic"), "{challenge}")
            }
            _ => {
                assert!(challenge.starts_with("Bearer"), "{challenge}");
                assert!(
                    challenge.contains(server.token_realm().unwrap_or("?")),
                    "{challenge}"
                );
            }
        }
    }

    // The token registry verifies the token's signature: a tampered token is refused.
    let token = env
        .token
        .token("repository:smoke/app:pull")
        .await
        .expect("token")
        .expect("a token registry gives tokens");
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let url = format!("{}/v2/smoke/app/tags/list", env.token.url());
    let ok = http
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(ok.status().as_u16(), 200);
    // Change one character in the middle of the signature (the last one may only hold padding
    // bits).
    let mut chars: Vec<char> = token.chars().collect();
    let i = chars.len() - 20;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    let refused = http
        .get(&url)
        .bearer_auth(&tampered)
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status().as_u16(), 401);
    // A token for another repository does not open this one.
    let other = env
        .token
        .token("repository:other:pull")
        .await
        .expect("token")
        .expect("token");
    let refused = http
        .get(&url)
        .bearer_auth(&other)
        .send()
        .await
        .expect("request");
    assert_eq!(refused.status().as_u16(), 401);
}

#[test]
fn sops_encrypts_and_decrypts_with_age() {
    let Some(sops) = gitops_testenv::require_sops() else {
        return;
    };
    let Some(age) = gitops_testenv::require_age() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tempdir");
    let key = age.keygen(&tmp.path().join("key.txt")).expect("keygen");
    let plain = tmp.path().join("secret.yaml");
    std::fs::write(&plain, "password: hunter2\nnested:\n  token: abc\n").expect("write");
    let out = Command::new(&sops)
        .args(["--encrypt", "--age", &key.recipient])
        .arg(&plain)
        .output()
        .expect("sops runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let encrypted = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(encrypted.contains("ENC[AES256_GCM,"), "{encrypted}");
    assert!(!encrypted.contains("hunter2"));
    let enc_file = tmp.path().join("secret.enc.yaml");
    std::fs::write(&enc_file, &encrypted).expect("write");
    let out = Command::new(&sops)
        .env("SOPS_AGE_KEY_FILE", &key.identity_file)
        .args(["--decrypt"])
        .arg(&enc_file)
        .output()
        .expect("sops runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "password: hunter2\nnested:\n    token: abc\n"
    );
}
