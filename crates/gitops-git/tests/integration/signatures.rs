use std::path::Path;
use std::process::Command;

use gitops_core::SecretBytes;
use gitops_git::fetch::Error;
use gitops_git::verify::Error as VerifyError;
use gitops_git::{CommitSpec, GitWriter, Identity, Reference, SigningKey, TrustedKeys};

use crate::{servers, source, transports};

fn ssh_keypair(dir: &Path, name: &str) -> (String, String) {
    let key = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(status.success());
    (
        std::fs::read_to_string(&key).unwrap(),
        std::fs::read_to_string(key.with_extension("pub")).unwrap(),
    )
}

/// An OpenPGP key pair made by `gpg` in a throw-away home: (armored secret, armored public).
fn gpg_keypair(dir: &Path, email: &str) -> Option<(String, String)> {
    let home = dir.join(format!("gnupg-{email}"));
    std::fs::create_dir_all(&home).unwrap();
    let gpg = |args: &[&str]| {
        Command::new("gpg")
            .arg("--homedir")
            .arg(&home)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .ok()
    };
    let made = gpg(&[
        "--quick-gen-key",
        &format!("Signer <{email}>"),
        "ed25519",
        "sign",
        "never",
    ])?;
    if !made.status.success() {
        return None;
    }
    let secret = gpg(&["--armor", "--export-secret-keys", email])?;
    let public = gpg(&["--armor", "--export", email])?;
    let _ = Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "all"])
        .status();
    Some((
        String::from_utf8(secret.stdout).unwrap(),
        String::from_utf8(public.stdout).unwrap(),
    ))
}

async fn push_signed(url: &str, work: &Path, key: Option<SigningKey>, content: &str) -> String {
    let mut spec = CommitSpec::new(Identity::new("Signer", "signer@example.invalid"), "signed");
    if let Some(key) = key {
        spec = spec.with_signing_key(key);
    }
    let content = content.to_owned();
    match GitWriter::new(url, work)
        .unwrap()
        .update("main", "main", &spec, move |dir| {
            std::fs::write(dir.join("app.yaml"), &content)?;
            Ok(())
        })
        .await
        .unwrap()
    {
        gitops_git::PushOutcome::Pushed { commit, .. } => commit,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn ssh_signed_head_commits_are_verified() {
    let Some(env) = servers() else { return };
    let repo = env.create_repo("sign-ssh").unwrap();
    repo.commit_files("main", &[("app.yaml", "unsigned\n")], "init")
        .unwrap();
    let keys = tempfile::tempdir().unwrap();
    let (private, public) = ssh_keypair(keys.path(), "signer");
    let (_, stranger) = ssh_keypair(keys.path(), "stranger");
    let t = &transports(env, &repo)[0];

    // Unsigned head.
    let storage = tempfile::tempdir().unwrap();
    let err = source(t, Reference::branch("main"), storage.path())
        .with_verification(TrustedKeys::Ssh(vec![public.clone()]))
        .fetch_revision(None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Signature {
                source: VerifyError::Unsigned { .. },
                ..
            }
        ),
        "{err:?}"
    );

    let work = tempfile::tempdir().unwrap();
    let signed = push_signed(
        &repo.git_url(),
        &work.path().join("w"),
        Some(SigningKey::Ssh {
            private_key: SecretBytes::from(private),
        }),
        "signed\n",
    )
    .await;
    let storage = tempfile::tempdir().unwrap();
    let fetched = source(t, Reference::branch("main"), storage.path())
        .with_verification(TrustedKeys::Ssh(vec![stranger.clone(), public.clone()]))
        .fetch_revision(None)
        .await
        .unwrap();
    assert_eq!(fetched.artifact().revision.digest().hex(), signed);

    let storage = tempfile::tempdir().unwrap();
    let err = source(t, Reference::branch("main"), storage.path())
        .with_verification(TrustedKeys::Ssh(vec![stranger]))
        .fetch_revision(None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Signature {
                source: VerifyError::Rejected { .. },
                ..
            }
        ),
        "{err:?}"
    );
    // An SSH signature checked against OpenPGP keys.
    let storage = tempfile::tempdir().unwrap();
    let err = source(t, Reference::branch("main"), storage.path())
        .with_verification(TrustedKeys::OpenPgp(vec![String::new()]))
        .fetch_revision(None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Signature {
                source: VerifyError::WrongFormat { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn openpgp_signed_head_commits_are_verified() {
    let Some(env) = servers() else { return };
    let keys = tempfile::tempdir().unwrap();
    let Some((secret, public)) = gpg_keypair(keys.path(), "signer@example.invalid") else {
        assert!(
            !gitops_testenv::required(),
            "gpg is needed for OpenPGP signatures"
        );
        eprintln!("skipping: gpg cannot make keys here");
        return;
    };
    let (_, stranger) = gpg_keypair(keys.path(), "stranger@example.invalid").unwrap();
    let repo = env.create_repo("sign-pgp").unwrap();
    repo.commit_files("main", &[("app.yaml", "unsigned\n")], "init")
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let signed = push_signed(
        &repo.git_url(),
        &work.path().join("w"),
        Some(SigningKey::OpenPgp {
            armored: SecretBytes::from(secret),
            passphrase: None,
        }),
        "signed\n",
    )
    .await;
    let t = &transports(env, &repo)[1];
    let storage = tempfile::tempdir().unwrap();
    let fetched = source(t, Reference::branch("main"), storage.path())
        .with_verification(TrustedKeys::OpenPgp(vec![public]))
        .fetch_revision(None)
        .await
        .unwrap();
    assert_eq!(fetched.artifact().revision.digest().hex(), signed);
    let storage = tempfile::tempdir().unwrap();
    let err = source(t, Reference::branch("main"), storage.path())
        .with_verification(TrustedKeys::OpenPgp(vec![stranger]))
        .fetch_revision(None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Signature {
                source: VerifyError::Rejected { .. },
                ..
            }
        ),
        "{err:?}"
    );
}
