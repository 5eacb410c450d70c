//! [`GitSource`]: the [`Source`] backend on gix.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gitops_core::{Artifact, Fetch, Revision, Source, async_trait, source};

use crate::auth::Auth;
use crate::checkout::{IgnoreRules, Include};
use crate::fetch::{Config, Error, sanitize_url};
use crate::reference::Reference;
use crate::verify::TrustedKeys;

/// The default time one fetch may take, connection included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A Git repository followed at a [`Reference`]; implements [`Source`].
///
/// Each fetch first lists the remote's matching references. When the revision did not move and
/// its artifact is still stored, it returns [`Fetch::Unchanged`] without downloading a pack.
/// Otherwise it fetches a depth-1 pack of just that revision into a cache repository under the
/// storage directory, checks the tree out into a new directory (honouring the ignore rules,
/// refusing paths and symlinks that leave the tree) and only then swaps it in: a failed fetch
/// leaves the previous artifact in place.
///
/// Storage layout: `<storage>/cache.git` (a bare, shallow cache) and
/// `<storage>/artifacts/<commit>-<settings>` (trees without `.git`). The artifacts of the new and
/// the previous revision are kept; older ones are removed.
#[derive(Debug)]
pub struct GitSource {
    config: Arc<Config>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl GitSource {
    /// A source for `url` (`https://`, `http://`, `ssh://`, `git://`, `file://` or a path)
    /// following `reference`, storing its cache and artifacts under `storage`.
    ///
    /// A password in the URL is taken out of it and used as basic auth (unless
    /// [`GitSource::with_auth`] sets other credentials); errors and revisions never show it.
    ///
    /// # Errors
    /// [`Error::Config`] when the URL cannot be parsed.
    pub fn new(
        url: &str,
        reference: Reference,
        storage: impl Into<PathBuf>,
    ) -> Result<Self, Error> {
        let (url, credentials) = sanitize_url(url)?;
        let auth = match credentials {
            Some((user, password)) => Auth::basic(user, password),
            None => Auth::None,
        };
        Ok(Self {
            config: Arc::new(Config {
                url,
                reference,
                auth,
                storage: storage.into(),
                ignore: IgnoreRules::default(),
                includes: Vec::new(),
                verify: None,
                timeout: DEFAULT_TIMEOUT,
                insecure_http: false,
            }),
            lock: Arc::default(),
        })
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Credentials (see [`Auth::from_secret_data`]).
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.config_mut().auth = auth;
        self
    }

    /// Which files end up in the artifact.
    pub fn with_ignore(mut self, rules: IgnoreRules) -> Self {
        self.config_mut().ignore = rules;
        self
    }

    /// Copies another directory into each artifact.
    pub fn with_include(mut self, include: Include) -> Self {
        self.config_mut().includes.push(include);
        self
    }

    /// Requires the fetched commit to carry a signature by one of `keys`.
    pub fn with_verification(mut self, keys: TrustedKeys) -> Self {
        self.config_mut().verify = Some(keys);
        self
    }

    /// The time one fetch may take ([`DEFAULT_TIMEOUT`] by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.config_mut().timeout = timeout;
        self
    }

    /// Allows sending credentials over plain `http://` (off by default: they would travel in
    /// clear text). Like Flux, meant for servers inside a trusted network.
    pub fn with_insecure_http(mut self, allow: bool) -> Self {
        self.config_mut().insecure_http = allow;
        self
    }

    /// The URL, without credentials.
    pub fn url(&self) -> &str {
        &self.config.url
    }

    /// The reference followed.
    pub fn reference(&self) -> &Reference {
        &self.config.reference
    }

    /// Fetches like [`Source::fetch`], with this crate's detailed error.
    ///
    /// # Cancellation
    /// Dropping the future raises gix's interrupt flag; the blocking work stops at its next check
    /// and never hands out a partial artifact.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn fetch_revision(&self, last: Option<&Revision>) -> Result<Fetch, Error> {
        let config = Arc::clone(&self.config);
        let interrupt = Arc::new(AtomicBool::new(false));
        let guard = InterruptOnDrop(Arc::clone(&interrupt));
        let last = last.cloned();
        let lock = Arc::clone(&self.lock);
        let work = async move {
            // The lock travels into the blocking task: a fetch abandoned by a timeout still holds
            // it until gix notices, so two fetches never share the cache at once.
            let held = lock.lock_owned().await;
            let config = Arc::clone(&config);
            let flag = Arc::clone(&interrupt);
            tokio::task::spawn_blocking(move || {
                let _held = held;
                config.run(last.as_ref(), &flag)
            })
            .await
        };
        let result = tokio::time::timeout(self.config.timeout, work).await;
        drop(guard);
        match result {
            Ok(Ok(result)) => result,
            Ok(Err(join)) => Err(Error::Git {
                url: self.config.url.clone(),
                message: format!("fetch task failed: {join}"),
            }),
            Err(_) => Err(Error::Timeout {
                url: self.config.url.clone(),
                timeout: self.config.timeout,
            }),
        }
    }
}

struct InterruptOnDrop(Arc<AtomicBool>);

impl Drop for InterruptOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

#[async_trait]
impl Source for GitSource {
    async fn fetch(&self, last: Option<&Revision>) -> Result<Fetch, source::Error> {
        self.fetch_revision(last).await.map_err(Into::into)
    }
}

/// Fetches `source` once (ignoring what its storage may hold) and moves the tree (without
/// `.git`) to `dest`, which must not exist yet; returns the artifact with `path` = `dest`. For
/// one-shot use such as `gitops source fetch`:
///
/// ```no_run
/// # async fn cli(url: &str, reference: &str, secret: Option<&str>, dest: &std::path::Path)
/// # -> Result<(), Box<dyn std::error::Error>> {
/// use gitops_git::{Auth, GitSource, fetch_into};
/// let auth = match secret {
///     Some(file) => Auth::from_secret_yaml(&std::fs::read_to_string(file)?)?,
///     None => Auth::None,
/// };
/// let storage = tempfile::tempdir()?;
/// let source = GitSource::new(url, reference.parse()?, storage.path())?.with_auth(auth);
/// println!("{}", fetch_into(&source, dest).await?.revision);
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`GitSource::fetch_revision`]; [`Error::Storage`] when `dest` exists or cannot be written.
pub async fn fetch_into(source: &GitSource, dest: &Path) -> Result<Artifact, Error> {
    let storage_error = |source: std::io::Error| Error::Storage {
        path: dest.display().to_string(),
        source,
    };
    if dest.exists() {
        return Err(storage_error(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "destination exists",
        )));
    }
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(storage_error)?;
    }
    let artifact = source.fetch_revision(None).await?.artifact().clone();
    if std::fs::rename(&artifact.path, dest).is_err() {
        // Another file system: copy, then drop the stored tree.
        copy_tree(&artifact.path, dest).map_err(storage_error)?;
        let _ = std::fs::remove_dir_all(&artifact.path);
    }
    Ok(Artifact {
        path: dest.to_path_buf(),
        ..artifact
    })
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
