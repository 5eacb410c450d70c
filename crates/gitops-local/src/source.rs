//! [`DirectorySource`]: a local folder as a source.

use std::path::PathBuf;

use async_trait::async_trait;
use gitops_core::artifact::ContentHasher;
use gitops_core::source::Error;
use gitops_core::{Artifact, Fetch, Revision, Source};

use crate::fs::{self, WalkError};

/// A local folder as a source; the revision is the SHA-256 content digest of its files.
///
/// The artifact is the folder itself, not a copy: a host that edits the folder during a pass
/// gets what it edited. `.git` folders are left out of the digest.
#[derive(Clone, Debug)]
pub struct DirectorySource {
    root: PathBuf,
}

impl DirectorySource {
    /// A source reading `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
}

#[async_trait]
impl Source for DirectorySource {
    async fn fetch(&self, last: Option<&Revision>) -> Result<Fetch, Error> {
        let root = self.root.clone();
        let digest = fs::blocking(move || {
            let url = root.display().to_string();
            if !root.is_dir() {
                return Err(Error::ReferenceNotFound {
                    url,
                    reference: "directory".into(),
                });
            }
            let files = fs::walk(&root, &root).map_err(|e| match e {
                WalkError::Io { path, source } => Error::Storage {
                    path: path.display().to_string(),
                    source,
                },
                WalkError::Escape { path } => Error::Invalid {
                    url: url.clone(),
                    message: format!("{} points outside the directory", path.display()),
                    source: None,
                },
            })?;
            let mut hasher = ContentHasher::new();
            for file in files {
                let content = std::fs::read(&file.path).map_err(|source| Error::Storage {
                    path: file.path.display().to_string(),
                    source,
                })?;
                hasher.add_file(&file.relative, &content);
            }
            Ok(hasher.finish())
        })
        .await?;
        let artifact = Artifact {
            path: self.root.clone(),
            revision: Revision::digest_only(digest.clone()),
            digest,
            subject: None,
        };
        Ok(if last == Some(&artifact.revision) {
            Fetch::Unchanged(artifact)
        } else {
            Fetch::Updated(artifact)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn revision_follows_content() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), "a: 1\n").unwrap();
        std::fs::create_dir(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "x").unwrap();
        let source = DirectorySource::new(dir.path());

        let first = source.fetch(None).await.unwrap();
        assert!(first.is_updated());
        let rev = first.artifact().revision.clone();
        assert!(rev.to_string().starts_with("sha256:"));

        assert!(!source.fetch(Some(&rev)).await.unwrap().is_updated());
        std::fs::write(dir.path().join(".git/HEAD"), "y").unwrap();
        assert!(
            !source.fetch(Some(&rev)).await.unwrap().is_updated(),
            ".git is not content"
        );

        std::fs::write(dir.path().join("a.yaml"), "a: 2\n").unwrap();
        let changed = source.fetch(Some(&rev)).await.unwrap();
        assert!(changed.is_updated());
        assert_ne!(changed.artifact().revision, rev);
    }

    #[tokio::test]
    async fn missing_directory_is_an_error() {
        let err = DirectorySource::new("/nonexistent/gitops")
            .fetch(None)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::ReferenceNotFound { .. }), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn symlinks_out_of_the_tree_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "x").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), dir.path().join("link.yaml"))
            .unwrap();
        let err = DirectorySource::new(dir.path())
            .fetch(None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("points outside"), "{err}");
    }
}
