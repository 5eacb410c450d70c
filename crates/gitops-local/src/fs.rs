//! File helpers shared by the backends: atomic writes, tree walks that stay inside a root.

use std::io;
use std::path::{Path, PathBuf};

/// Writes a file through a temporary sibling and a rename, so readers see old or new, never half.
pub(crate) fn write_atomic(path: &Path, content: &[u8]) -> io::Result<()> {
    write_atomic_with(path, content, false)
}

/// How many fresh temporary names to try before giving up: a clash means another writer (or
/// someone planting files) picked the same name in the same nanosecond.
const TEMP_ATTEMPTS: u32 = 16;

/// [`write_atomic`], readable by the owner only when `private` (decrypted Secrets).
///
/// No symbolic link is followed, at the temporary or at the final path:
/// - the temporary file gets a fresh name (process id, clock, attempt) and is opened with
///   `create_new`, i.e. `O_CREAT | O_EXCL`, which POSIX defines to fail on any existing entry,
///   a symbolic link included, without following it; a clash is retried under another name;
/// - the final step is `rename(2)`, which replaces a link at the final path and never writes
///   through it.
///
/// So `O_NOFOLLOW` would add nothing here, and the crate needs no `libc`. The parent folder is
/// the caller's to check (the applier refuses a namespace folder that is a link).
pub(crate) fn write_atomic_with(path: &Path, content: &[u8], private: bool) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut attempt = 0;
    let (tmp, mut file) = loop {
        // Short and fixed-length, so a long object file name cannot push it over NAME_MAX.
        let tmp = parent.join(format!(
            ".gitops-{}-{stamp:x}-{attempt}.tmp",
            std::process::id()
        ));
        match options.open(&tmp) {
            Ok(file) => break (tmp, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt + 1 < TEMP_ATTEMPTS => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    };
    let written = std::io::Write::write_all(&mut file, content)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            std::fs::rename(&tmp, path)
        });
    if written.is_err() {
        // Best effort: the error that matters is the write's.
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// A file found by [`walk`].
pub(crate) struct Entry {
    /// Path relative to the walk's root, `/`-separated.
    pub relative: String,
    /// The absolute path.
    pub path: PathBuf,
}

/// Lists the regular files below `dir` (skipping `.git`), sorted by relative path.
///
/// Symlinks are followed only when they resolve inside `root`; one that leaves it is an error
/// naming the link, because a repository must not read files outside itself.
pub(crate) fn walk(root: &Path, dir: &Path) -> Result<Vec<Entry>, WalkError> {
    let root = root.canonicalize().map_err(|source| WalkError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|source| WalkError::Io {
            path: current.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| WalkError::Io {
                path: current.clone(),
                source,
            })?;
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            let resolved = path.canonicalize().map_err(|source| WalkError::Io {
                path: path.clone(),
                source,
            })?;
            if !resolved.starts_with(&root) {
                return Err(WalkError::Escape { path });
            }
            if resolved.is_dir() {
                // A symlinked directory inside the root is walked through its resolved path once.
                if !entry.file_type().map(|t| t.is_symlink()).unwrap_or(false) {
                    pending.push(path);
                }
            } else if resolved.is_file() {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push(Entry { relative, path });
            }
        }
    }
    out.sort_by(|a, b| a.relative.cmp(&b.relative));
    Ok(out)
}

/// Errors of [`walk`].
#[derive(Debug)]
pub(crate) enum WalkError {
    Io { path: PathBuf, source: io::Error },
    Escape { path: PathBuf },
}

/// Runs blocking file work on tokio's blocking pool.
pub(crate) async fn blocking<T, F>(work: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        // The closure panicked: surface the panic where it belongs, in the caller.
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    }
}
