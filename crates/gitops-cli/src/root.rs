//! Which repository root a render of DIR may read: `--root`, else the enclosing Git work tree,
//! as Flux reads within its source artifact.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use gitops::local::DirectorySource;

/// A directory to render, as a repository root and a path in it.
pub(crate) struct Located {
    pub(crate) root: PathBuf,
    pub(crate) path: PathBuf,
    /// How the root was chosen, for messages.
    why: &'static str,
}

impl Located {
    pub(crate) fn describe(&self) -> String {
        format!("repository root {}, {}", self.root.display(), self.why)
    }
}

/// The root `dir` renders in: `root` when given (and `dir` must be inside it), else the nearest
/// directory up from `dir` that holds `.git`; `None` outside a work tree. Both are compared
/// after resolving symbolic links, so a link cannot carry DIR out of the root.
pub(crate) fn locate(dir: &Path, root: Option<&Path>) -> anyhow::Result<Option<Located>> {
    let canonical = dir
        .canonicalize()
        .with_context(|| format!("cannot read {}", dir.display()))?;
    let (root, why) = match root {
        Some(root) => (
            root.canonicalize()
                .with_context(|| format!("cannot read --root {}", root.display()))?,
            "from --root",
        ),
        None => match canonical.ancestors().find(|a| a.join(".git").exists()) {
            Some(work_tree) => (work_tree.to_path_buf(), "the enclosing Git work tree"),
            None => return Ok(None),
        },
    };
    let path = canonical.strip_prefix(&root).map_err(|_| {
        anyhow::anyhow!(
            "{} is outside the repository root {} ({why})",
            dir.display(),
            root.display()
        )
    })?;
    let path = if path.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        path.to_path_buf()
    };
    Ok(Some(Located { root, path, why }))
}

/// The repository root as an artifact whose revision digests only DIR's files: a work tree
/// also holds build outputs and links to the machine's folders, which a one-off `apply` must
/// not read. Files DIR refers to elsewhere in the root are rendered but not in the digest.
pub(crate) struct WorkTreeSource {
    pub(crate) dir: DirectorySource,
    pub(crate) root: PathBuf,
}

#[gitops::async_trait]
impl gitops::Source for WorkTreeSource {
    async fn fetch(
        &self,
        last: Option<&gitops::Revision>,
    ) -> Result<gitops::Fetch, gitops::source::Error> {
        Ok(match self.dir.fetch(last).await? {
            gitops::Fetch::Updated(mut artifact) => {
                artifact.path.clone_from(&self.root);
                gitops::Fetch::Updated(artifact)
            }
            gitops::Fetch::Unchanged(mut artifact) => {
                artifact.path.clone_from(&self.root);
                gitops::Fetch::Unchanged(artifact)
            }
        })
    }
}

/// [`locate`], falling back to `dir` itself as the root outside a work tree: a lone folder
/// reads nothing beside it.
pub(crate) fn locate_or_dir(dir: &Path, root: Option<&Path>) -> anyhow::Result<Located> {
    Ok(locate(dir, root)?.unwrap_or_else(|| Located {
        root: dir.to_path_buf(),
        path: PathBuf::from("."),
        why: "DIR itself: not in a Git work tree, give --root to widen",
    }))
}
