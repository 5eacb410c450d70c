//! Writing a commit's tree to a directory: ignore rules, path and symlink checks, content digest.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, symlink};
use std::path::{Component, Path, PathBuf};

use gitops_core::Digest;
use gitops_core::artifact::ContentHasher;
use gix::bstr::{BStr, ByteSlice as _};

/// Flux's default exclusions for a `GitRepository` without `spec.ignore`: CI configuration, common
/// binary formats and tool files that are not Kubernetes manifests.
pub const DEFAULT_EXCLUDES: &str = "\
# common image and archive formats
*.jpg
*.jpeg
*.gif
*.png
*.wmv
*.flv
*.tar.gz
*.zip
# CI configs
.github/
.circleci/
.travis.yml
.gitlab-ci.yml
appveyor.yml
.drone.yml
cloudbuild.yaml
codeship-services.yml
codeship-steps.yml
# common CLI configs
**/.goreleaser.yml
**/.sops.yaml
**/.flux.yaml
";

/// Always excluded, whatever the configuration: version-control metadata.
const VCS_EXCLUDES: &str = ".git/\n.gitignore\n.gitmodules\n.gitattributes\n";

/// Which files of the tree end up in the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IgnoreRules {
    /// Patterns with gitignore semantics relative to the repository root, like Flux's
    /// `spec.ignore`. `None` uses [`DEFAULT_EXCLUDES`]; `Some` replaces them.
    pub patterns: Option<String>,
    /// Whether `.sourceignore` files in the tree apply (to their own directory and below).
    pub sourceignore: bool,
}

impl Default for IgnoreRules {
    fn default() -> Self {
        Self {
            patterns: None,
            sourceignore: true,
        }
    }
}

impl IgnoreRules {
    /// Replaces the default exclusions with `patterns` (gitignore syntax, one a line).
    pub fn with_patterns(mut self, patterns: impl Into<String>) -> Self {
        self.patterns = Some(patterns.into());
        self
    }

    /// Whether `.sourceignore` files apply.
    pub fn with_sourceignore(mut self, enabled: bool) -> Self {
        self.sourceignore = enabled;
        self
    }
}

/// Another directory copied into the artifact at a path, like Flux's `spec.include`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Include {
    /// The directory to copy (typically another source's artifact).
    pub from: PathBuf,
    /// Where in the artifact, relative to its root (`/` separated, no `..`).
    pub to: String,
}

impl Include {
    /// Copies `from` to `to` inside the artifact.
    pub fn new(from: impl Into<PathBuf>, to: impl Into<String>) -> Self {
        Self {
            from: from.into(),
            to: to.into(),
        }
    }
}

#[derive(Debug)]
pub(crate) enum Error {
    PathEscape {
        path: String,
    },
    SymlinkEscape {
        path: String,
        target: String,
    },
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    Git {
        message: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

fn git<E: std::fmt::Display>(e: E) -> Error {
    Error::Git {
        message: e.to_string(),
    }
}

const ROOT: &str = "/r";

struct Walk<'a> {
    repo: &'a gix::Repository,
    search: gix::ignore::Search,
    hasher: ContentHasher,
    sourceignore: bool,
}

/// Writes `tree` into `dest` (which must exist and be empty) and returns the content digest.
pub(crate) fn checkout(
    repo: &gix::Repository,
    tree: gix::ObjectId,
    dest: &Path,
    rules: &IgnoreRules,
    includes: &[Include],
) -> Result<Digest, Error> {
    let parse = gix::ignore::search::Ignore::default();
    let mut search = gix::ignore::Search::default();
    let mut base = String::from(VCS_EXCLUDES);
    base.push_str(rules.patterns.as_deref().unwrap_or(DEFAULT_EXCLUDES));
    search
        .add_patterns_buffer(
            base.as_bytes(),
            Path::new(ROOT).join(".spec-ignore"),
            Some(Path::new(ROOT)),
            parse,
        )
        .map_err(io(dest))?;
    let mut walk = Walk {
        repo,
        search,
        hasher: ContentHasher::new(),
        sourceignore: rules.sourceignore,
    };
    walk.tree(tree, "", dest)?;
    for include in includes {
        walk.include(include, dest)?;
    }
    Ok(walk.hasher.finish())
}

fn check_name(prefix: &str, name: &BStr) -> Result<String, Error> {
    let path = format!("{prefix}{name}");
    let bad = name.is_empty()
        || name == "."
        || name == ".."
        || name.contains(&b'/')
        || name.contains(&b'\\')
        || name.contains(&0)
        || name.eq_ignore_ascii_case(b".git");
    match (bad, name.to_str()) {
        (false, Ok(name)) => Ok(name.to_owned()),
        _ => Err(Error::PathEscape { path }),
    }
}

/// Whether a symlink at `link` (relative to the root) with `target` stays inside the root.
fn symlink_stays_inside(link: &str, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') || target.contains('\\') {
        return false;
    }
    let mut depth: Vec<&str> = link.split('/').collect();
    depth.pop(); // the link's own name
    // `..` only before the first name: a `..` after a name could climb out of a directory that is
    // itself a symlink (`d/a -> ..` plus `d/x -> a/..`), which a lexical check cannot see.
    let mut descended = false;
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." => {
                if descended || depth.pop().is_none() {
                    return false;
                }
            }
            _ => descended = true,
        }
    }
    true
}

impl Walk<'_> {
    fn ignored(&self, path: &str, is_dir: bool) -> bool {
        self.search
            .pattern_matching_relative_path(
                path.into(),
                Some(is_dir),
                gix::glob::pattern::Case::Sensitive,
            )
            .is_some_and(|m| !m.pattern.is_negative())
    }

    fn tree(&mut self, id: gix::ObjectId, prefix: &str, dir: &Path) -> Result<(), Error> {
        let tree = self.repo.find_tree(id).map_err(git)?;
        let decoded = tree.decode().map_err(git)?;
        let entries: Vec<(gix::object::tree::EntryMode, String, gix::ObjectId)> = decoded
            .entries
            .iter()
            .map(|e| Ok((e.mode, check_name(prefix, e.filename)?, e.oid.to_owned())))
            .collect::<Result<_, Error>>()?;
        drop(decoded);
        drop(tree);
        if self.sourceignore {
            if let Some((_, _, oid)) = entries
                .iter()
                .find(|(mode, name, _)| name == ".sourceignore" && mode.is_blob())
            {
                let blob = self.repo.find_blob(*oid).map_err(git)?;
                let source = Path::new(ROOT).join(prefix).join(".sourceignore");
                self.search
                    .add_patterns_buffer(
                        &blob.data,
                        source,
                        Some(Path::new(ROOT)),
                        gix::ignore::search::Ignore::default(),
                    )
                    .map_err(io(dir))?;
            }
        }
        for (mode, name, oid) in entries {
            let path = format!("{prefix}{name}");
            let target = dir.join(&name);
            if mode.is_tree() {
                if self.ignored(&path, true) {
                    continue;
                }
                std::fs::create_dir(&target).map_err(io(&target))?;
                self.tree(oid, &format!("{path}/"), &target)?;
            } else if mode.is_blob() {
                if self.ignored(&path, false) {
                    continue;
                }
                let blob = self.repo.find_blob(oid).map_err(git)?;
                let executable = mode.is_executable();
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(if executable { 0o755 } else { 0o644 })
                    .open(&target)
                    .map_err(io(&target))?;
                file.write_all(&blob.data).map_err(io(&target))?;
                self.hasher.add_file(&path, &blob.data);
            } else if mode.is_link() {
                if self.ignored(&path, false) {
                    continue;
                }
                let blob = self.repo.find_blob(oid).map_err(git)?;
                let link = blob.data.to_str().map_err(|_| Error::SymlinkEscape {
                    path: path.clone(),
                    target: String::from_utf8_lossy(&blob.data).into_owned(),
                })?;
                if !symlink_stays_inside(&path, link) {
                    return Err(Error::SymlinkEscape {
                        path,
                        target: link.to_owned(),
                    });
                }
                symlink(link, &target).map_err(io(&target))?;
                let mut content = b"symlink:".to_vec();
                content.extend_from_slice(link.as_bytes());
                self.hasher.add_file(&path, &content);
            }
            // Submodules (commits) are not fetched.
        }
        Ok(())
    }

    fn include(&mut self, include: &Include, root: &Path) -> Result<(), Error> {
        let to = include.to.trim_matches('/');
        let relative = Path::new(to);
        if relative
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
        {
            return Err(Error::PathEscape {
                path: include.to.clone(),
            });
        }
        let dest = root.join(relative);
        if dest.exists() {
            std::fs::remove_dir_all(&dest)
                .or_else(|_| std::fs::remove_file(&dest))
                .map_err(io(&dest))?;
        }
        self.copy_dir(&include.from, &dest, to)
    }

    fn copy_dir(&mut self, from: &Path, to: &Path, prefix: &str) -> Result<(), Error> {
        std::fs::create_dir_all(to).map_err(io(to))?;
        for entry in std::fs::read_dir(from).map_err(io(from))? {
            let entry = entry.map_err(io(from))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            let kind = entry.file_type().map_err(io(&entry.path()))?;
            let target = to.join(&*name);
            if kind.is_dir() {
                self.copy_dir(&entry.path(), &target, &path)?;
            } else if kind.is_symlink() {
                let link = std::fs::read_link(entry.path()).map_err(io(&entry.path()))?;
                let link = link.to_string_lossy().into_owned();
                if !symlink_stays_inside(&path, &link) {
                    return Err(Error::SymlinkEscape { path, target: link });
                }
                symlink(&link, &target).map_err(io(&target))?;
                self.hasher
                    .add_file(&path, format!("symlink:{link}").as_bytes());
            } else {
                let data = std::fs::read(entry.path()).map_err(io(&entry.path()))?;
                std::fs::write(&target, &data).map_err(io(&target))?;
                self.hasher.add_file(&path, &data);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_must_stay_inside() {
        assert!(symlink_stays_inside("a/link", "b"));
        assert!(symlink_stays_inside("a/link", "../c/d"));
        assert!(symlink_stays_inside("a/b/link", "../../x"));
        assert!(
            !symlink_stays_inside("d/x", "a/.."),
            "a `..` after a name may climb out of a symlink"
        );
        assert!(!symlink_stays_inside("a/link", "../../etc/passwd"));
        assert!(!symlink_stays_inside("link", "/etc/passwd"));
        assert!(!symlink_stays_inside("link", ".."));
        assert!(!symlink_stays_inside("link", ""));
    }

    #[test]
    fn names_that_escape_are_refused() {
        for bad in ["..", ".", "", "a/b", ".git", ".GIT"] {
            assert!(check_name("x/", bad.into()).is_err(), "{bad:?}");
        }
        assert_eq!(
            check_name("x/", "ok.yaml".into()).ok().as_deref(),
            Some("ok.yaml")
        );
    }
}
