//! [`PlainRenderer`]: every YAML file below a path, as Flux renders a path without a kustomization.

use std::path::Path;

use async_trait::async_trait;
use gitops_core::render::{Error, RenderRequest};
use gitops_core::{Object, Renderer, object};

use crate::fs::{self, WalkError};

const KUSTOMIZATION_FILES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Renders every `.yaml`/`.yml` file below the requested path, recursively, in path order.
///
/// A path that holds a kustomization file is refused: that needs a kustomize renderer
/// (`gitops-kustomize`), and silently ignoring the kustomization would apply the wrong objects.
/// `.sops.yaml` (SOPS's own configuration) is skipped.
#[derive(Clone, Debug, Default)]
pub struct PlainRenderer {
    _private: (),
}

impl PlainRenderer {
    /// A renderer.
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl Renderer for PlainRenderer {
    async fn render(&self, request: &RenderRequest) -> Result<Vec<Object>, Error> {
        let request = request.clone();
        fs::blocking(move || render(&request.root, &request.path)).await
    }
}

fn render(root: &Path, path: &Path) -> Result<Vec<Object>, Error> {
    let shown = path.display().to_string();
    let dir = root.join(path);
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| Error::Io { path, source }
    };
    let canonical_root = root.canonicalize().map_err(io(root))?;
    let canonical_dir = dir.canonicalize().map_err(io(path))?;
    if !canonical_dir.starts_with(&canonical_root) {
        return Err(Error::PathEscape { path: shown });
    }
    if let Some(file) = KUSTOMIZATION_FILES.iter().find(|f| dir.join(f).exists()) {
        return Err(Error::Unsupported {
            path: Path::new(&shown).join(file).display().to_string(),
            feature: "a kustomization file (use the kustomize renderer)".into(),
        });
    }
    let files = fs::walk(root, &dir).map_err(|e| match e {
        WalkError::Io { path, source } => Error::Io {
            path: path.display().to_string(),
            source,
        },
        WalkError::Escape { path } => Error::PathEscape {
            path: path.display().to_string(),
        },
    })?;
    let mut objects = Vec::new();
    for file in files {
        let is_yaml = file.relative.ends_with(".yaml") || file.relative.ends_with(".yml");
        if !is_yaml || file.relative.rsplit('/').next() == Some(".sops.yaml") {
            continue;
        }
        let name = Path::new(&shown).join(&file.relative).display().to_string();
        let bytes = std::fs::read(&file.path).map_err(io(Path::new(&name)))?;
        let text = String::from_utf8(bytes).map_err(|e| Error::Invalid {
            path: name.clone(),
            message: "not UTF-8".into(),
            source: Some(Box::new(e)),
        })?;
        objects.extend(object::parse_yaml(&name, &text)?);
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: NAME\n";

    #[tokio::test]
    async fn renders_yaml_files_recursively_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("apps/b")).unwrap();
        std::fs::write(dir.path().join("apps/b/one.yaml"), CM.replace("NAME", "b1")).unwrap();
        std::fs::write(dir.path().join("apps/a.yml"), CM.replace("NAME", "a")).unwrap();
        std::fs::write(dir.path().join("apps/notes.txt"), "not yaml").unwrap();
        std::fs::write(dir.path().join("apps/.sops.yaml"), "creation_rules: []\n").unwrap();
        let objects = PlainRenderer::new()
            .render(&RenderRequest::new(dir.path(), "apps"))
            .await
            .unwrap();
        let names: Vec<&str> = objects.iter().map(|o| o.id().name.as_str()).collect();
        assert_eq!(names, ["a", "b1"]);
    }

    #[tokio::test]
    async fn refuses_kustomizations_escapes_and_bad_yaml() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("k")).unwrap();
        std::fs::write(dir.path().join("k/kustomization.yaml"), "resources: []\n").unwrap();
        let r = PlainRenderer::new();
        let err = r
            .render(&RenderRequest::new(dir.path(), "k"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Unsupported { .. }), "{err}");

        let err = r
            .render(&RenderRequest::new(dir.path().join("k"), ".."))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::PathEscape { .. }), "{err}");

        std::fs::create_dir_all(dir.path().join("bad")).unwrap();
        std::fs::write(dir.path().join("bad/x.yaml"), "kind: [\n").unwrap();
        let err = r
            .render(&RenderRequest::new(dir.path(), "bad"))
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("bad/x.yaml:"), "{err}");
    }
}
