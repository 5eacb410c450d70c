//! Image setters over a whole tree: rewrite marked fields in every YAML file, in place.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use gitops_core::image::setters::TreeUpdate;
use gitops_core::image::setters::{self, TreeUpdater};

use crate::fs::{self, WalkError};

/// Errors from updating a tree.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: cannot read or write")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A symlink or the updated path leads out of the tree.
    #[error("{path}: points outside the tree")]
    Escape {
        /// The link.
        path: PathBuf,
    },
    /// A marker could not be applied.
    #[error(transparent)]
    Setter(#[from] setters::Error),
}

/// The [`TreeUpdater`] on a directory: [`update_tree_within`], for image automation over a
/// checkout (`gitops_git::ImageUpdateAutomation` takes one).
#[derive(Clone, Copy, Debug, Default)]
pub struct DirectoryTree;

impl TreeUpdater for DirectoryTree {
    fn update_within(
        &self,
        root: &Path,
        path: &Path,
        policies: &BTreeMap<String, String>,
    ) -> Result<TreeUpdate, gitops_core::BoxError> {
        Ok(update_tree_within(root, path, policies)?)
    }
}

/// [`update_tree`] on `path` inside `root` (Flux's `update.path` inside a checkout): `path` must
/// be relative and, symlinks resolved, stay inside `root`; otherwise [`Error::Escape`] names it
/// and nothing is read or written. Symlinks below `path` may not leave `root` either.
pub fn update_tree_within(
    root: &Path,
    path: &Path,
    policies: &BTreeMap<String, String>,
) -> Result<TreeUpdate, Error> {
    let escape = || Error::Escape {
        path: path.to_path_buf(),
    };
    if path.is_absolute() {
        return Err(escape());
    }
    let canonical_root = root.canonicalize().map_err(|source| Error::Io {
        path: root.to_path_buf(),
        source,
    })?;
    let dir = root.join(path);
    let resolved = dir.canonicalize().map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if !resolved.starts_with(&canonical_root) {
        return Err(escape());
    }
    update_files(&canonical_root, &resolved, policies)
}

/// Applies `policies` (`<namespace>:<name>` → image reference) to every `.yaml`/`.yml` file
/// below `dir` (not `.git`), writing only files that change, each atomically.
///
/// All files are checked before any is written, so a bad marker anywhere leaves the tree as it was.
pub fn update_tree(dir: &Path, policies: &BTreeMap<String, String>) -> Result<TreeUpdate, Error> {
    update_files(dir, dir, policies)
}

fn update_files(
    root: &Path,
    dir: &Path,
    policies: &BTreeMap<String, String>,
) -> Result<TreeUpdate, Error> {
    let files = fs::walk(root, dir).map_err(|e| match e {
        WalkError::Io { path, source } => Error::Io { path, source },
        WalkError::Escape { path } => Error::Escape { path },
    })?;
    let mut update = TreeUpdate::default();
    let mut writes = Vec::new();
    for file in files
        .iter()
        .filter(|f| f.relative.ends_with(".yaml") || f.relative.ends_with(".yml"))
    {
        let bytes = std::fs::read(&file.path).map_err(|source| Error::Io {
            path: file.path.clone(),
            source,
        })?;
        // Files that are not UTF-8 cannot hold a marker we could parse; leave them alone.
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        let result = setters::apply(&file.relative, text, policies)?;
        update.changes.extend(result.changes);
        update.unresolved.extend(result.unresolved);
        if let Some(text) = result.text {
            update.files.push(file.relative.clone());
            writes.push((file.path.clone(), text));
        }
    }
    for (path, text) in writes {
        fs::write_atomic(&path, text.as_bytes()).map_err(|source| Error::Io { path, source })?;
    }
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_path_cannot_leave_the_checkout() {
        let base = tempfile::tempdir().unwrap();
        let checkout = base.path().join("checkout");
        let outside = base.path().join("other-tenant");
        std::fs::create_dir_all(checkout.join("apps")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let marked = "image: ghcr.io/acme/api:1.0.0 # {\"$imagepolicy\": \"flux-system:api\"}\n";
        std::fs::write(outside.join("a.yaml"), marked).unwrap();
        std::os::unix::fs::symlink(&outside, checkout.join("link")).unwrap();
        let policies: BTreeMap<String, String> = [(
            "flux-system:api".to_string(),
            "ghcr.io/acme/api:2.0.0".to_string(),
        )]
        .into();
        let absolute = outside.display().to_string();
        for path in [
            "../other-tenant",
            "apps/../../other-tenant",
            absolute.as_str(),
            "link",
        ] {
            let result = update_tree_within(&checkout, Path::new(path), &policies);
            assert!(
                matches!(result, Err(Error::Escape { .. })),
                "{path}: {result:?}"
            );
        }
        assert_eq!(
            std::fs::read_to_string(outside.join("a.yaml")).unwrap(),
            marked
        );
        std::fs::write(checkout.join("apps/a.yaml"), marked).unwrap();
        let inside = update_tree_within(&checkout, Path::new("./apps"), &policies).unwrap();
        assert_eq!(inside.files, ["a.yaml"]);
    }

    #[test]
    fn rewrites_marked_files_only_and_refuses_bad_markers_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let marked = "image: ghcr.io/acme/api:1.0.0 # {\"$imagepolicy\": \"flux-system:api\"}\n";
        std::fs::create_dir_all(dir.path().join("apps")).unwrap();
        std::fs::write(dir.path().join("apps/a.yaml"), marked).unwrap();
        std::fs::write(
            dir.path().join("plain.yaml"),
            "image: ghcr.io/acme/api:1.0.0\n",
        )
        .unwrap();
        let before = std::fs::metadata(dir.path().join("plain.yaml"))
            .unwrap()
            .modified()
            .unwrap();
        let policies = [(
            "flux-system:api".to_owned(),
            "ghcr.io/acme/api:2.0.0".to_owned(),
        )]
        .into();

        let update = update_tree(dir.path(), &policies).unwrap();
        assert_eq!(update.files, ["apps/a.yaml"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("apps/a.yaml")).unwrap(),
            marked.replace("1.0.0", "2.0.0")
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("plain.yaml"))
                .unwrap()
                .modified()
                .unwrap(),
            before
        );
        assert!(
            update_tree(dir.path(), &policies)
                .unwrap()
                .changes
                .is_empty(),
            "second run changes nothing"
        );

        std::fs::write(dir.path().join("apps/a.yaml"), marked).unwrap();
        std::fs::write(
            dir.path().join("bad.yaml"),
            "containers: # {\"$imagepolicy\": \"flux-system:api\"}\n  - a\n",
        )
        .unwrap();
        assert!(matches!(
            update_tree(dir.path(), &policies),
            Err(Error::Setter(_))
        ));
        assert_eq!(
            std::fs::read_to_string(dir.path().join("apps/a.yaml")).unwrap(),
            marked,
            "nothing written"
        );
    }
}
