//! Decrypted content never reaches an error: a SOPS-encrypted env file with a bad line, and a
//! decrypted Secret with a bad `${...}`, each carrying a marker that must appear in no error
//! text (Display, the whole chain, Debug).
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use gitops::kustomize::KustomizeRenderer;
use gitops::render::RenderRequest;
use gitops::sops::{EncryptOptions, SopsDecryptor};
use gitops::{Decryptor, Renderer};

const MARKER: &str = "MARKERxLEAKx4242";

fn test_key() -> (String, String) {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/test-keys/quickstart.agekey"),
    )
    .unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .trim()
        .to_string();
    (text, recipient)
}

/// Every text an error shows: Display, each cause in the chain, Debug.
fn every_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut texts = vec![format!("{error:?}"), format!("{error:#?}")];
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        texts.push(current.to_string());
        cause = current.source();
    }
    texts.push(gitops::reconcile::error_chain(error));
    texts.join("\n")
}

async fn render_with(files: &[(&str, &[u8])], decryptor: Option<Arc<dyn Decryptor>>) -> String {
    let dir = tempfile::tempdir().unwrap();
    for (path, bytes) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let mut request = RenderRequest::new(dir.path(), "app");
    if let Some(decryptor) = decryptor {
        request = request.with_decryptor(decryptor);
    }
    let error = KustomizeRenderer::new().render(&request).await.unwrap_err();
    let text = every_text(&error);
    println!("{text}");
    text
}

const GENERATOR: &str = "secretGenerator:\n- name: creds\n  envs: [creds.env]\n";

/// An env file SOPS encrypted whole (binary format, as `sops -e` does for a `.txt` file): after
/// decryption any line may hold a value, well-formed or not.
#[tokio::test]
async fn a_bad_line_of_a_sops_encrypted_env_file_is_named_not_quoted() {
    let (identity, recipient) = test_key();
    for bad_line in [MARKER.to_string(), format!("pass word {MARKER}=x")] {
        let plain = format!("USER=api\n{bad_line}\n");
        let encrypted = gitops::sops::encrypt(
            Path::new("creds.txt"),
            plain.as_bytes(),
            &EncryptOptions::default().with_age_recipients([recipient.clone()]),
        )
        .unwrap();
        assert!(!String::from_utf8_lossy(&encrypted).contains(MARKER));
        let decryptor: Arc<dyn Decryptor> =
            Arc::new(SopsDecryptor::from_age_keys(&identity).unwrap());
        let text = render_with(
            &[
                (
                    "app/kustomization.yaml",
                    GENERATOR.replace("creds.env", "creds.txt").as_bytes(),
                ),
                ("app/creds.txt", &encrypted),
            ],
            Some(decryptor),
        )
        .await;
        assert!(!text.contains(MARKER), "the marker leaked:\n{text}");
        assert!(
            text.contains("creds.txt") && text.contains("line 2"),
            "{text}"
        );
    }
}

/// A plain env file's line without `=` is a name with an empty value, as in kubectl (its text
/// is in the repository anyway); one that is no valid name is refused, named by line.
#[tokio::test]
async fn an_env_line_without_equals_is_named_not_quoted() {
    let text = render_with(
        &[
            ("app/kustomization.yaml", GENERATOR.as_bytes()),
            (
                "app/creds.env",
                format!("USER=api\npass word {MARKER}\n").as_bytes(),
            ),
        ],
        None,
    )
    .await;
    assert!(!text.contains(MARKER), "the marker leaked:\n{text}");
    assert!(
        text.contains("creds.env") && text.contains("line 2"),
        "{text}"
    );
}

#[test]
fn a_bad_reference_in_a_decrypted_secret_is_named_not_quoted() {
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: apps\nstringData:\n  password: a${{{MARKER} x}}b\n"
    );
    let unset = format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: apps\nstringData:\n  password: a${{{MARKER}}}b\n"
    );
    for (yaml, strict) in [(secret, false), (unset, true)] {
        let objects = gitops::object::parse_yaml("secret.yaml", &yaml).unwrap();
        let error =
            gitops::core::substitute::substitute(objects, &BTreeMap::new(), strict).unwrap_err();
        let text = every_text(&error);
        println!("{text}");
        assert!(!text.contains(MARKER), "the marker leaked:\n{text}");
        assert!(
            text.contains("Secret") && text.contains("stringData.password"),
            "{text}"
        );
    }
}

/// One owner for decrypting rendered objects: a SOPS Secret whose MAC was tampered with fails
/// the pass at its decrypt stage with the same message, whether the plain renderer or the
/// kustomize renderer built it.
#[tokio::test]
async fn a_tampered_sops_secret_fails_at_the_decrypt_stage_whatever_the_renderer() {
    use gitops::Reconciler;
    use gitops::local::{DirectoryApplier, DirectorySource, PlainRenderer};
    use gitops::reconcile::{Options, Stage};

    let (identity, recipient) = test_key();
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\n  namespace: apps\nstringData:\n  password: hunter2\n";
    let encrypted = gitops::sops::encrypt(
        Path::new("secret.yaml"),
        secret.as_bytes(),
        &EncryptOptions::default()
            .with_age_recipients([recipient])
            .with_rule(gitops::sops::EncryptionRule::EncryptedRegex(
                "^(data|stringData)$".into(),
            )),
    )
    .unwrap();
    // Another value for the MAC, as an edit by hand would leave it.
    let text = String::from_utf8(encrypted).unwrap();
    let mac_at =
        text.find("mac: ENC[AES256_GCM,data:").unwrap() + "mac: ENC[AES256_GCM,data:".len();
    let mut tampered = text.clone().into_bytes();
    tampered[mac_at] = if tampered[mac_at] == b'A' { b'B' } else { b'A' };

    let mut messages = Vec::new();
    for kustomize in [false, true] {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("app")).unwrap();
        std::fs::write(repo.path().join("app/secret.yaml"), &tampered).unwrap();
        let renderer: Arc<dyn Renderer> = if kustomize {
            std::fs::write(
                repo.path().join("app/kustomization.yaml"),
                "resources:\n- secret.yaml\n",
            )
            .unwrap();
            Arc::new(KustomizeRenderer::new())
        } else {
            Arc::new(PlainRenderer::new())
        };
        let out = tempfile::tempdir().unwrap();
        let applier = DirectoryApplier::new(out.path());
        let me = gitops::ObjectRef::new(
            "kustomize.toolkit.fluxcd.io",
            "v1",
            "Kustomization",
            Some("flux-system"),
            "apps",
        );
        let reconciler = Reconciler::new(
            me,
            Arc::new(DirectorySource::new(repo.path())),
            renderer,
            Arc::new(applier.clone()),
        )
        .with_inventory_store(Arc::new(applier))
        .with_decryptor(Arc::new(SopsDecryptor::from_age_keys(&identity).unwrap()))
        .with_options(Options::default().with_path("app"));
        let failure = reconciler.reconcile(None).await.expect_err("tampered MAC");
        assert_eq!(
            failure.stage,
            Stage::Decrypt,
            "kustomize: {kustomize}: {failure}"
        );
        let message = gitops::reconcile::error_chain(&failure.error);
        assert!(!every_text(&failure.error).contains("hunter2"), "{message}");
        messages.push(message);
        // Nothing was written.
        assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
    }
    assert_eq!(messages[0], messages[1]);
}
