//! The filesystem the renderer reads through, so a host can wrap it (decryption, in-memory trees).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use gitops_core::Decryptor;

/// Read access to a tree of files. Paths are absolute (already joined to the tree's root).
pub trait FileSystem: Send + Sync {
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;

    /// The content of a generator input (`configMapGenerator`/`secretGenerator` files and env
    /// files). The default reads the file; a decrypting wrapper overrides it.
    fn read_generator_input(&self, path: &Path, display: &str) -> io::Result<Vec<u8>> {
        let _ = display;
        self.read(path)
    }

    /// Whether `path` is a directory (following symlinks).
    fn is_dir(&self, path: &Path) -> bool;

    /// Whether `path` exists (following symlinks).
    fn exists(&self, path: &Path) -> bool;

    /// Whether `path` itself is a symlink. The generated-kustomization walk does not follow
    /// symlinked directories, as Flux's does not. The default says no: a file system without
    /// symlinks needs nothing, and the walk still never enters a directory twice.
    fn is_symlink(&self, path: &Path) -> bool {
        let _ = path;
        false
    }

    /// The entries of a directory, sorted by name.
    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;

    /// The path with symlinks resolved, `.` and `..` removed.
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
}

/// The local disk.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskFs;

impl FileSystem for DiskFs {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn is_symlink(&self, path: &Path) -> bool {
        path.is_symlink()
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut entries = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()?;
        entries.sort();
        Ok(entries)
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }
}

/// Decrypts generator inputs through a [`Decryptor`]; everything else reads through.
pub struct DecryptingFs<F> {
    inner: F,
    decryptor: Arc<dyn Decryptor>,
    root: PathBuf,
}

impl<F> DecryptingFs<F> {
    /// Wraps `inner`; `root` makes the paths handed to the decryptor relative.
    pub fn new(inner: F, decryptor: Arc<dyn Decryptor>, root: impl Into<PathBuf>) -> Self {
        Self {
            inner,
            decryptor,
            root: root.into(),
        }
    }
}

impl<F: FileSystem> FileSystem for DecryptingFs<F> {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }

    fn read_generator_input(&self, path: &Path, display: &str) -> io::Result<Vec<u8>> {
        let content = self.inner.read_generator_input(path, display)?;
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        match self.decryptor.decrypt_file(relative, &content) {
            Ok(Some(plain)) => Ok(plain.expose().to_vec()),
            Ok(None) => Ok(content),
            Err(e) => Err(io::Error::other(DecryptFailure(e))),
        }
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.inner.is_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }

    fn is_symlink(&self, path: &Path) -> bool {
        self.inner.is_symlink(path)
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        self.inner.read_dir(path)
    }

    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        self.inner.canonicalize(path)
    }
}

/// A decryption failure carried through an `io::Error`.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub(crate) struct DecryptFailure(pub(crate) gitops_core::decrypt::Error);
