//! The `Renderer` face of the crate: repository bounds, Flux's generated kustomization,
//! decryption of generator inputs, and hostile YAML.

use std::path::Path;
use std::sync::Arc;

use gitops_core::decrypt::{self, Decryptor};
use gitops_core::render::{Error as RenderError, RenderRequest, Renderer};
use gitops_core::{Object, SecretBytes};
use gitops_kustomize::{BuildOptions, KustomizeRenderer, build_to_string};

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("files have a parent")).expect("mkdir");
    std::fs::write(p, content).expect("write");
}

const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: NAME\ndata:\n  a: b\n";

fn cm(name: &str) -> String {
    CM.replace("NAME", name)
}

#[tokio::test]
async fn generates_a_kustomization_like_flux() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(root, "apps/b.yaml", &cm("b"));
    write(root, "apps/a.yml", &cm("a"));
    write(root, "apps/nested/c.yaml", &cm("c"));
    write(root, "apps/README.md", "not yaml");
    write(
        root,
        "apps/sub/kustomization.yaml",
        "resources:\n- d.yaml\nnamePrefix: sub-\n",
    );
    write(root, "apps/sub/d.yaml", &cm("d"));
    let objects = KustomizeRenderer::new()
        .render(&RenderRequest::new(root, "apps"))
        .await
        .expect("render");
    let names: Vec<String> = objects.iter().map(|o| o.id().name.clone()).collect();
    assert_eq!(names, ["a", "b", "c", "sub-d"]);
    // kubectl kustomize agrees once the kustomization Flux would write is there.
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_ok()
    {
        let ours = build_to_string(
            root.join("apps"),
            &BuildOptions::default().with_generate_missing_kustomization(true),
        )
        .expect("build");
        write(
            root,
            "apps/kustomization.yaml",
            "resources:\n- a.yml\n- b.yaml\n- nested/c.yaml\n- sub\n",
        );
        let out = std::process::Command::new("kubectl")
            .arg("kustomize")
            .arg(root.join("apps"))
            .output()
            .expect("kubectl");
        assert_eq!(String::from_utf8_lossy(&out.stdout), ours);
    }
}

#[tokio::test]
async fn refuses_paths_that_leave_the_repository() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = tempfile::tempdir().expect("tempdir");
    write(outside.path(), "secret.yaml", &cm("stolen"));
    let root = dir.path().join("repo");
    write(&root, "app/kustomization.yaml", "resources:\n- link.yaml\n");
    std::os::unix::fs::symlink(
        outside.path().join("secret.yaml"),
        root.join("app/link.yaml"),
    )
    .expect("symlink");
    let err = KustomizeRenderer::new()
        .render(&RenderRequest::new(&root, "app"))
        .await
        .expect_err("a symlink out of the repository must fail");
    assert!(matches!(err, RenderError::PathEscape { .. }), "{err:?}");

    write(
        &root,
        "other/kustomization.yaml",
        "resources:\n- ../../outside-base\n",
    );
    let err = KustomizeRenderer::new()
        .render(&RenderRequest::new(&root, "other"))
        .await
        .expect_err("a base out of the repository must fail");
    assert!(
        matches!(
            err,
            RenderError::PathEscape { .. } | RenderError::Invalid { .. }
        ),
        "{err:?}"
    );

    let err = KustomizeRenderer::new()
        .render(&RenderRequest::new(&root, "../"))
        .await
        .expect_err("the path itself must stay inside");
    assert!(matches!(err, RenderError::PathEscape { .. }), "{err:?}");
}

/// "Decrypts" files that start with `ENC:` by dropping the marker.
struct Marker;

impl Decryptor for Marker {
    fn decrypt_file(
        &self,
        _path: &Path,
        content: &[u8],
    ) -> Result<Option<SecretBytes>, decrypt::Error> {
        Ok(content
            .strip_prefix(b"ENC:")
            .map(|plain| SecretBytes::new(plain.to_vec())))
    }

    /// Objects annotated `encrypted: "true"` lose the annotation and gain `decrypted: "true"`.
    fn decrypt_object(&self, object: &Object) -> Result<Option<Object>, decrypt::Error> {
        if object.annotations().get("encrypted") != Some(&"true") {
            return Ok(None);
        }
        let mut value = object.value().clone();
        value["metadata"]["annotations"] = serde_json::json!({"decrypted": "true"});
        Ok(Some(Object::new(value).expect("still an object")))
    }
}

#[tokio::test]
async fn decrypts_generator_inputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    write(
        root,
        "app/kustomization.yaml",
        "secretGenerator:\n- name: creds\n  envs: [creds.env]\n  files: [token]\n  options:\n    disableNameSuffixHash: true\n",
    );
    write(root, "app/creds.env", "ENC:USER=admin\n");
    write(
        root,
        "app/kustomization.yaml",
        "resources:\n- sealed.yaml\nsecretGenerator:\n- name: creds\n  envs: [creds.env]\n  files: [token]\n  options:\n    disableNameSuffixHash: true\n",
    );
    write(
        root,
        "app/sealed.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sealed\n  annotations:\n    encrypted: \"true\"\n",
    );
    write(root, "app/token", "ENC:t0k3n");
    let request = RenderRequest::new(root, "app").with_decryptor(Arc::new(Marker));
    let objects = KustomizeRenderer::new()
        .render(&request)
        .await
        .expect("render");
    let creds = objects
        .iter()
        .find(|o| o.id().name == "creds")
        .expect("generated secret");
    let data = &creds.value()["data"];
    assert_eq!(data["USER"], "YWRtaW4=");
    assert_eq!(data["token"], "dDBrM24=");
    let sealed = objects
        .iter()
        .find(|o| o.id().name == "sealed")
        .expect("sealed secret");
    // A rendered object is the reconcile pass's to decrypt, whatever the renderer.
    assert_eq!(sealed.annotations().get("decrypted"), None);
    assert_eq!(sealed.annotations().get("encrypted"), Some(&"true"));
}

#[test]
fn bounds_alias_bombs_and_nesting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let mut bomb = String::from(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n",
    );
    let letters: Vec<char> = ('a'..='k').collect();
    for w in letters.windows(2) {
        let (p, c) = (w[0], w[1]);
        bomb.push_str(&format!(
            "  {c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        ));
    }
    write(root, "bomb/kustomization.yaml", "resources:\n- bomb.yaml\n");
    write(root, "bomb/bomb.yaml", &bomb);
    let started = std::time::Instant::now();
    let err = build_to_string(root.join("bomb"), &BuildOptions::default())
        .expect_err("an alias bomb must fail");
    assert!(err.to_string().contains("bomb.yaml"), "{err}");
    assert!(started.elapsed().as_secs() < 10);

    let deep = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata: {}{}\n",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    write(root, "deep/kustomization.yaml", "resources:\n- deep.yaml\n");
    write(root, "deep/deep.yaml", &deep);
    let err = build_to_string(root.join("deep"), &BuildOptions::default())
        .expect_err("deep nesting must fail");
    assert!(err.to_string().contains("deep.yaml"), "{err}");
}
