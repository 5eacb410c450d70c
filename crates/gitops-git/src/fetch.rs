//! Fetching a reference into a stored artifact: the blocking engine behind
//! [`GitSource`](crate::GitSource), and its errors.

use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use gitops_core::{Artifact, BoxError, Digest, DigestAlgorithm, Fetch, Revision, source};
use gix::bstr::ByteSlice as _;
use gix::protocol::handshake::Ref;

use crate::auth::{Auth, SshFailure, SshFiles, classify_ssh_log};
use crate::checkout::{self, IgnoreRules, Include};
use crate::range::parse_version;
use crate::reference::Reference;
use crate::verify::{self, TrustedKeys};

/// Errors from fetching a repository. URLs never carry credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable (a URL gix cannot parse, an unsupported scheme).
    #[error("invalid source configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// The branch, tag, commit or semver range matches nothing on the remote.
    #[error("{url}: reference {reference} not found")]
    ReferenceNotFound {
        /// The repository URL.
        url: String,
        /// The reference as configured.
        reference: String,
    },
    /// The repository has no references at all.
    #[error("{url}: repository is empty")]
    EmptyRepository {
        /// The repository URL.
        url: String,
    },
    /// The server refused the credentials, or wanted some and none were given.
    #[error("{url}: authentication failed")]
    Auth {
        /// The repository URL.
        url: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// The ssh server's host key is not in `known_hosts`, or differs from it.
    #[error("{url}: ssh host key verification failed (unknown or changed host key)")]
    HostKey {
        /// The repository URL.
        url: String,
    },
    /// The server could not be reached or the connection broke.
    #[error("{url}: unavailable")]
    Unavailable {
        /// The repository URL.
        url: String,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The fetch did not finish in time.
    #[error("{url}: no complete answer within {timeout:?}")]
    Timeout {
        /// The repository URL.
        url: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// The fetch was cancelled.
    #[error("{url}: fetch cancelled")]
    Cancelled {
        /// The repository URL.
        url: String,
    },
    /// A path in the commit would land outside the checkout (`..`, `.git`, a `/` in a name).
    #[error("{url}: commit {commit}: path {path:?} would escape the checkout")]
    PathEscape {
        /// The repository URL.
        url: String,
        /// The commit id.
        commit: String,
        /// The offending path.
        path: String,
    },
    /// A symlink in the commit points outside the checkout.
    #[error("{url}: commit {commit}: symlink {path:?} points outside the checkout ({target:?})")]
    SymlinkEscape {
        /// The repository URL.
        url: String,
        /// The commit id.
        commit: String,
        /// The symlink's path.
        path: String,
        /// Its target.
        target: String,
    },
    /// The head commit's signature was required and is missing or not trusted.
    #[error("{url}: signature verification failed")]
    Signature {
        /// The repository URL.
        url: String,
        /// Why.
        #[source]
        source: verify::Error,
    },
    /// Writing to the storage directory failed.
    #[error("{path}: cannot store artifact")]
    Storage {
        /// The local path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// gix failed in another way.
    #[error("{url}: git error: {message}")]
    Git {
        /// The repository URL.
        url: String,
        /// gix's error chain.
        message: String,
    },
}

impl Error {
    /// Whether another try may succeed without a change to the configuration or the remote.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unavailable { .. } | Self::Timeout { .. } | Self::Storage { .. }
        )
    }
}

#[derive(Debug)]
struct Cause(String);

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Cause {}

impl From<Error> for source::Error {
    fn from(e: Error) -> Self {
        let message = e.to_string();
        match e {
            Error::ReferenceNotFound { url, reference } => {
                source::Error::ReferenceNotFound { url, reference }
            }
            Error::Auth { url, source } => source::Error::Auth { url, source },
            Error::HostKey { url } => source::Error::Auth {
                url,
                source: Some(Box::new(Cause("ssh host key verification failed".into()))),
            },
            Error::Unavailable { url, source } => source::Error::Unavailable { url, source },
            Error::Timeout { ref url, .. } | Error::Cancelled { ref url } => {
                source::Error::Unavailable {
                    url: url.clone(),
                    source: Box::new(e),
                }
            }
            Error::Storage { path, source } => source::Error::Storage { path, source },
            Error::Config { .. } => source::Error::Invalid {
                url: String::new(),
                message,
                source: None,
            },
            Error::EmptyRepository { ref url }
            | Error::PathEscape { ref url, .. }
            | Error::SymlinkEscape { ref url, .. }
            | Error::Signature { ref url, .. }
            | Error::Git { ref url, .. } => source::Error::Invalid {
                url: url.clone(),
                message: message
                    .strip_prefix(&format!("{url}: "))
                    .unwrap_or(&message)
                    .to_owned(),
                source: Some(Box::new(e)),
            },
        }
    }
}

/// Everything a fetch needs, owned so it can move to a blocking thread.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// The URL without credentials, for errors and revisions.
    pub(crate) url: String,
    pub(crate) reference: Reference,
    pub(crate) auth: Auth,
    pub(crate) storage: PathBuf,
    pub(crate) ignore: IgnoreRules,
    pub(crate) includes: Vec<Include>,
    pub(crate) verify: Option<TrustedKeys>,
    pub(crate) timeout: Duration,
    pub(crate) insecure_http: bool,
}

/// What the remote says the reference points at.
struct Target {
    /// The name in the revision (`main`, `v1.2.3`, `refs/pull/1/head`), `None` for a commit.
    name: Option<String>,
    /// The full ref name to fetch (or the commit id).
    spec: String,
    /// The commit.
    commit: gix::ObjectId,
}

fn error_chain(e: &gix::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for err in e.iter_errors() {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
    }
    parts.join(": ")
}

impl Config {
    fn git_error(&self, e: impl std::fmt::Display) -> Error {
        Error::Git {
            url: self.url.clone(),
            message: e.to_string(),
        }
    }

    fn storage_error(&self, path: &Path) -> impl FnOnce(std::io::Error) -> Error + use<> {
        let path = path.display().to_string();
        move |source| Error::Storage { path, source }
    }

    /// Maps a gix error from connecting or fetching to ours, consulting ssh's log.
    fn remote_error(&self, e: gix::Error, ssh: Option<&SshFiles>) -> Error {
        let url = self.url.clone();
        if let Some(ssh) = ssh {
            match classify_ssh_log(&ssh.log()) {
                Some(SshFailure::HostKey) => return Error::HostKey { url },
                Some(SshFailure::Auth) => {
                    return Error::Auth {
                        url,
                        source: Some(Box::new(Cause(error_chain(&e)))),
                    };
                }
                None => {}
            }
        }
        let chain = error_chain(&e);
        let http_or_ssh =
            self.url.starts_with("http") || self.url.starts_with("ssh") || ssh.is_some();
        if e.classify().is_unauthenticated() || (http_or_ssh && e.classify().is_permission_denied())
        {
            return Error::Auth {
                url,
                source: Some(Box::new(Cause(chain))),
            };
        }
        if e.classify().is_cancelled() {
            return Error::Cancelled { url };
        }
        let io_kind = e
            .downcast_any_ref::<std::io::Error>()
            .map(std::io::Error::kind);
        let unreachable = matches!(
            io_kind,
            Some(
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::TimedOut
                    | std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::NotFound
            )
        ) || chain.contains("Connection refused")
            || chain.contains("error sending request")
            || chain.contains("connect");
        if unreachable {
            return Error::Unavailable {
                url,
                source: Box::new(Cause(chain)),
            };
        }
        if chain.contains("not our ref")
            || chain.contains("not found") && matches!(self.reference, Reference::Commit(_))
        {
            return Error::ReferenceNotFound {
                url,
                reference: self.reference.to_string(),
            };
        }
        Error::Git {
            url,
            message: chain,
        }
    }

    /// A key for the artifact's settings: the same commit with other ignore rules is another
    /// artifact.
    fn settings_key(&self) -> String {
        let mut text = format!("{:?}\n", self.ignore);
        for include in &self.includes {
            text.push_str(&format!("{}\0{}\n", include.from.display(), include.to));
        }
        Digest::sha256(text.as_bytes()).short(12).to_owned()
    }

    fn artifacts_dir(&self) -> PathBuf {
        self.storage.join("artifacts")
    }

    fn artifact_key(&self, commit: &str) -> String {
        format!("{commit}-{}", self.settings_key())
    }

    /// The stored artifact for a commit, if complete.
    fn stored(&self, revision: &Revision) -> Option<Artifact> {
        let key = self.artifact_key(revision.digest().hex());
        let path = self.artifacts_dir().join(&key);
        let digest = std::fs::read_to_string(self.artifacts_dir().join(format!("{key}.digest")))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let subject =
            std::fs::read_to_string(self.artifacts_dir().join(format!("{key}.subject"))).ok();
        path.is_dir().then(|| Artifact {
            path,
            revision: revision.clone(),
            digest,
            subject,
        })
    }

    fn revision(&self, target: &Target) -> Result<Revision, Error> {
        let digest = Digest::new(DigestAlgorithm::Sha1, &target.commit.to_string())
            .map_err(|e| self.git_error(e))?;
        Ok(match &target.name {
            Some(name) => Revision::named(name.clone(), digest),
            None => Revision::digest_only(digest),
        })
    }

    fn open_cache(&self, ssh: Option<&SshFiles>) -> Result<gix::Repository, Error> {
        let git_dir = self.storage.join("cache.git");
        let mut overrides: Vec<String> = vec![
            "protocol.version=2".into(),
            format!(
                "gitoxide.http.connectTimeout={}",
                self.timeout.as_millis().min(u128::from(u32::MAX))
            ),
            "core.askPass=".into(),
            "credential.helper=".into(),
        ];
        if let Some(ssh) = ssh {
            overrides.push(format!("core.sshCommand={}", ssh.command()));
            overrides.push("ssh.variant=ssh".into());
        }
        let open = gix::open::Options::isolated().config_overrides(overrides);
        let repo = if git_dir.join("HEAD").is_file() {
            gix::open_opts(&git_dir, open).map_err(|e| self.git_error(error_chain(&e)))?
        } else {
            std::fs::create_dir_all(&self.storage).map_err(self.storage_error(&self.storage))?;
            gix::ThreadSafeRepository::init_opts(
                &git_dir,
                gix::create::Kind::Bare,
                gix::create::Options::default(),
                open,
            )
            .map_err(|e| self.git_error(error_chain(&e)))?
            .to_thread_local()
        };
        Ok(repo)
    }

    fn listing_spec(&self) -> String {
        match &self.reference {
            Reference::Branch(b) => format!("refs/heads/{b}"),
            Reference::Tag(t) => format!("refs/tags/{t}"),
            Reference::Semver(_) => "refs/tags/*:refs/tags/*".to_owned(),
            Reference::Commit(c) => c.clone(),
            Reference::RefName(n) => n.clone(),
        }
    }

    /// Picks the target among the advertised refs.
    fn select(&self, refs: &[Ref]) -> Option<Target> {
        let commit_of = |r: &Ref| -> Option<(String, gix::ObjectId)> {
            match r {
                Ref::Peeled {
                    full_ref_name,
                    object,
                    ..
                }
                | Ref::Direct {
                    full_ref_name,
                    object,
                }
                | Ref::Symbolic {
                    full_ref_name,
                    object,
                    ..
                } => Some((full_ref_name.to_str_lossy().into_owned(), *object)),
                Ref::Unborn { .. } => None,
            }
        };
        let exact = |full: &str, name: &str| -> Option<Target> {
            refs.iter()
                .filter_map(commit_of)
                .find(|(n, _)| n == full)
                .map(|(spec, commit)| Target {
                    name: Some(name.to_owned()),
                    spec,
                    commit,
                })
        };
        match &self.reference {
            Reference::Branch(b) => exact(&format!("refs/heads/{b}"), b),
            Reference::Tag(t) => exact(&format!("refs/tags/{t}"), t),
            Reference::RefName(n) => exact(n, n),
            Reference::Commit(c) => Some(Target {
                name: None,
                spec: c.clone(),
                commit: gix::ObjectId::from_hex(c.as_bytes()).ok()?,
            }),
            Reference::Semver(range) => {
                let tags: Vec<(semver::Version, String, gix::ObjectId)> = refs
                    .iter()
                    .filter_map(commit_of)
                    .filter_map(|(full, commit)| {
                        let name = full.strip_prefix("refs/tags/")?.to_owned();
                        Some((parse_version(&name)?, name, commit))
                    })
                    .collect();
                let (_, (name, commit)) =
                    range.best(tags.iter().map(|(v, n, c)| (v, (n.clone(), *c))))?;
                Some(Target {
                    spec: format!("refs/tags/{name}"),
                    name: Some(name),
                    commit,
                })
            }
        }
    }

    /// One connection: list the refs matching `spec`, let `decide` look at them, and fetch a
    /// depth-1 pack of what `spec` matches only if it says so.
    fn session<R>(
        &self,
        repo: &gix::Repository,
        spec: &str,
        ssh: Option<&SshFiles>,
        interrupt: &AtomicBool,
        filter_on_remote: bool,
        decide: impl FnOnce(&[Ref]) -> (bool, R),
    ) -> Result<R, Error> {
        let remote = repo
            .remote_at(self.url.as_str())
            .and_then(|r| {
                r.with_fetch_tags(gix::remote::fetch::Tags::None)
                    .with_refspecs([spec], gix::remote::Direction::Fetch)
            })
            .map_err(|e| self.git_error(error_chain(&e)))?;
        let connection = if self.url.starts_with("git://") {
            remote.to_connection_with_transport(self.git_daemon_transport(&remote)?)
        } else {
            remote
                .connect(gix::remote::Direction::Fetch)
                .map_err(|e| self.remote_error(e, ssh))?
        };
        let auth = if self.plain_http() {
            Auth::None // sent as a header, see below
        } else {
            self.auth.clone()
        };
        let mut connection = connection.with_credentials(move |action| match action {
            gix::credentials::helper::Action::Get(ctx) => match &auth {
                Auth::Basic { username, password } => {
                    Ok(Some(gix::credentials::protocol::Outcome {
                        identity: gix::sec::identity::Account {
                            username: username.clone(),
                            password: String::from_utf8_lossy(password.expose()).into_owned(),
                            oauth_refresh_token: None,
                        },
                        next: ctx.into(),
                    }))
                }
                _ => Ok(None),
            },
            _ => Ok(None),
        });
        if self.url.starts_with("http") {
            let options = repo
                .transport_options(self.url.as_str(), None)
                .map_err(|e| self.git_error(error_chain(&e)))?;
            if let Some(mut options) = options {
                if let Some(http) = options
                    .downcast_mut::<gix::protocol::transport::client::blocking_io::http::Options>(
                ) {
                    match &self.auth {
                        Auth::Bearer { token } => http.extra_headers.push(format!(
                            "Authorization: Bearer {}",
                            String::from_utf8_lossy(token.expose())
                        )),
                        // gix never sends basic credentials over plain http; when the host opted
                        // in, send them preemptively as a header instead.
                        Auth::Basic { username, password } if self.plain_http() => {
                            use base64::Engine as _;
                            let mut raw = format!("{username}:").into_bytes();
                            raw.extend_from_slice(password.expose());
                            http.extra_headers.push(format!(
                                "Authorization: Basic {}",
                                base64::engine::general_purpose::STANDARD.encode(raw)
                            ));
                        }
                        _ => {}
                    }
                    http.connect_timeout = Some(self.timeout);
                    let timeout = self.timeout;
                    let configure: Box<
                        gix::protocol::transport::client::blocking_io::http::reqwest::ConfigureClientFn,
                    > = if self.plain_http() {
                        // No TLS on plain http: skip loading the platform's root certificates,
                        // which costs more than the whole ref listing.
                        Box::new(move |builder| {
                            Ok(builder.timeout(timeout).tls_certs_only(std::iter::empty()))
                        })
                    } else {
                        Box::new(move |builder| Ok(builder.timeout(timeout)))
                    };
                    http.backend = Some(std::sync::Arc::new(std::sync::Mutex::new(
                        gix::protocol::transport::client::blocking_io::http::reqwest::Options {
                            configure_client: Some(configure),
                            configure_request: None,
                        },
                    )));
                }
                connection = connection.with_transport_options(options);
            }
        }
        let options = gix::remote::ref_map::Options {
            prefix_from_spec_as_filter_on_remote: filter_on_remote,
            ..Default::default()
        };
        let prepare = connection
            .prepare_fetch(gix::progress::Discard, options)
            .map_err(|e| self.remote_error(e, ssh))?;
        let (receive, result) = decide(&prepare.ref_map().remote_refs);
        if receive {
            let depth = NonZeroU32::new(1).expect("1 is not zero");
            prepare
                .with_shallow(gix::remote::fetch::Shallow::DepthAtRemote(depth))
                .receive(gix::progress::Discard, interrupt)
                .map_err(|e| match self.remote_error(e, ssh) {
                    // The listing worked, so a commit the server will not send is unknown to it
                    // (upload-pack answers "not our ref" and hangs up).
                    Error::Unavailable { .. } | Error::Git { .. }
                        if matches!(self.reference, Reference::Commit(_)) =>
                    {
                        Error::ReferenceNotFound {
                            url: self.url.clone(),
                            reference: self.reference.to_string(),
                        }
                    }
                    other => other,
                })?;
        }
        Ok(result)
    }

    /// A `git://` connection whose socket has read and write timeouts, so a server that stops
    /// answering cannot hold the blocking thread forever.
    fn git_daemon_transport(
        &self,
        remote: &gix::Remote<'_>,
    ) -> Result<Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>, Error>
    {
        use std::net::ToSocketAddrs as _;
        let url = remote
            .url(gix::remote::Direction::Fetch)
            .ok_or_else(|| self.git_error("remote has no URL"))?;
        let host = url
            .host()
            .ok_or_else(|| self.git_error("git:// URL without host"))?;
        let port = url.port;
        let unavailable = |e: std::io::Error| Error::Unavailable {
            url: self.url.clone(),
            source: Box::new(e),
        };
        let addr = (host, port.unwrap_or(9418))
            .to_socket_addrs()
            .map_err(unavailable)?
            .next()
            .ok_or_else(|| unavailable(std::io::Error::other("host has no address")))?;
        let stream =
            std::net::TcpStream::connect_timeout(&addr, self.timeout.min(Duration::from_secs(30)))
                .map_err(unavailable)?;
        stream
            .set_read_timeout(Some(self.timeout))
            .map_err(unavailable)?;
        stream
            .set_write_timeout(Some(self.timeout))
            .map_err(unavailable)?;
        let _ = stream.set_nodelay(true);
        let write = stream.try_clone().map_err(unavailable)?;
        Ok(Box::new(
            gix::protocol::transport::client::git::blocking_io::Connection::new(
                stream,
                write,
                gix::protocol::transport::Protocol::V2,
                url.path.clone(),
                Some((host.to_owned(), port)),
                gix::protocol::transport::client::git::ConnectMode::Daemon,
                false,
            ),
        ))
    }

    /// Whether the remote has no refs at all (asked after a reference was not found).
    fn is_empty(
        &self,
        repo: &gix::Repository,
        ssh: Option<&SshFiles>,
        interrupt: &AtomicBool,
    ) -> bool {
        self.session(
            repo,
            "+refs/*:refs/gitops-probe/*",
            ssh,
            interrupt,
            false,
            |refs| (false, refs.iter().all(|r| matches!(r, Ref::Unborn { .. }))),
        )
        .unwrap_or(false)
    }

    fn plain_http(&self) -> bool {
        self.url.starts_with("http://")
    }

    /// Fetches the configured reference (blocking), honouring `interrupt`.
    pub(crate) fn run(
        &self,
        last: Option<&Revision>,
        interrupt: &AtomicBool,
    ) -> Result<Fetch, Error> {
        if self.plain_http() && !self.insecure_http && !matches!(self.auth, Auth::None) {
            return Err(Error::Config {
                message: format!(
                    "{}: refusing to send credentials over plain http (use https, or allow it explicitly)",
                    self.url
                ),
            });
        }
        let ssh = if self.url.starts_with("ssh://") || self.auth.is_ssh() || is_scp_like(&self.url)
        {
            std::fs::create_dir_all(&self.storage).map_err(self.storage_error(&self.storage))?;
            Some(
                SshFiles::new(&self.auth, &self.storage, self.timeout).map_err(|e| {
                    Error::Storage {
                        path: self.storage.display().to_string(),
                        source: std::io::Error::other(e.to_string()),
                    }
                })?,
            )
        } else {
            None
        };
        let ssh = ssh.as_ref();
        // A commit never moves: no need to ask the remote.
        if let (Reference::Commit(c), Some(last)) = (&self.reference, last) {
            if last.digest().hex() == c && last.reference().is_none() {
                if let Some(artifact) = self.stored(last) {
                    return Ok(Fetch::Unchanged(artifact));
                }
            }
        }
        let repo = self.open_cache(ssh)?;
        let spec = self.listing_spec();
        let unchanged = |target: &Target| -> Option<Artifact> {
            let last = last?;
            let revision = self.revision(target).ok()?;
            (&revision == last)
                .then(|| self.stored(&revision))
                .flatten()
        };
        let already_stored =
            |target: &Target| -> Option<Artifact> { self.stored(&self.revision(target).ok()?) };
        let one_shot = !matches!(self.reference, Reference::Semver(_));
        enum Found {
            Missing,
            Unchanged(Artifact),
            Stored(Artifact),
            Fetched(Target),
            Chosen(Target),
        }
        let found = self.session(&repo, &spec, ssh, interrupt, true, |refs| {
            let Some(target) = self.select(refs) else {
                return (false, Found::Missing);
            };
            if let Some(artifact) = unchanged(&target) {
                return (false, Found::Unchanged(artifact));
            }
            if let Some(artifact) = already_stored(&target) {
                return (false, Found::Stored(artifact));
            }
            if one_shot {
                (true, Found::Fetched(target))
            } else {
                (false, Found::Chosen(target))
            }
        })?;
        let target = match found {
            Found::Missing => {
                if self.is_empty(&repo, ssh, interrupt) {
                    return Err(Error::EmptyRepository {
                        url: self.url.clone(),
                    });
                }
                return Err(Error::ReferenceNotFound {
                    url: self.url.clone(),
                    reference: self.reference.to_string(),
                });
            }
            Found::Unchanged(artifact) => return Ok(Fetch::Unchanged(artifact)),
            Found::Stored(artifact) => return Ok(Fetch::Updated(artifact)),
            Found::Fetched(target) => target,
            Found::Chosen(target) => {
                // Semver: fetch just the chosen tag, on a second connection.
                let spec = target.spec.clone();
                let name = target.name.clone();
                self.session(&repo, &spec, ssh, interrupt, true, |refs| {
                    let moved = refs.iter().find_map(|r| match r {
                        Ref::Peeled {
                            full_ref_name,
                            object,
                            ..
                        }
                        | Ref::Direct {
                            full_ref_name,
                            object,
                        } if full_ref_name == spec.as_bytes() => Some(*object),
                        _ => None,
                    });
                    (
                        true,
                        Target {
                            name,
                            spec: spec.clone(),
                            commit: moved.unwrap_or(target.commit),
                        },
                    )
                })?
            }
        };
        let repo = self.open_cache(ssh)?; // see the objects the fetch wrote
        if repo.find_commit(target.commit).is_err() {
            return Err(Error::ReferenceNotFound {
                url: self.url.clone(),
                reference: self.reference.to_string(),
            });
        }
        let artifact = self.store(&repo, &target, last)?;
        Ok(Fetch::Updated(artifact))
    }

    /// Verifies and checks out `target` into a new artifact directory, then swaps it in.
    fn store(
        &self,
        repo: &gix::Repository,
        target: &Target,
        last: Option<&Revision>,
    ) -> Result<Artifact, Error> {
        let dir = self.artifacts_dir();
        std::fs::create_dir_all(&dir).map_err(self.storage_error(&dir))?;
        let commit_hex = target.commit.to_string();
        if let Some(keys) = &self.verify {
            let scratch = tempfile::Builder::new()
                .prefix(".verify-")
                .tempdir_in(&self.storage)
                .map_err(self.storage_error(&self.storage))?;
            verify::verify_commit(repo, target.commit, keys, scratch.path()).map_err(|source| {
                Error::Signature {
                    url: self.url.clone(),
                    source,
                }
            })?;
        }
        let commit = repo
            .find_commit(target.commit)
            .map_err(|e| self.git_error(error_chain(&e)))?;
        let tree = commit
            .tree_id()
            .map(|id| id.detach())
            .map_err(|e| self.git_error(error_chain(&e)))?;
        let subject = commit
            .message_raw()
            .ok()
            .map(|raw| subject_line(&String::from_utf8_lossy(raw)));
        let tmp = tempfile::Builder::new()
            .prefix(".checkout-")
            .tempdir_in(&dir)
            .map_err(self.storage_error(&dir))?;
        let digest = checkout::checkout(repo, tree, tmp.path(), &self.ignore, &self.includes)
            .map_err(|e| match e {
                checkout::Error::PathEscape { path } => Error::PathEscape {
                    url: self.url.clone(),
                    commit: commit_hex.clone(),
                    path,
                },
                checkout::Error::SymlinkEscape { path, target } => Error::SymlinkEscape {
                    url: self.url.clone(),
                    commit: commit_hex.clone(),
                    path,
                    target,
                },
                checkout::Error::Io { path, source } => Error::Storage {
                    path: path.display().to_string(),
                    source,
                },
                checkout::Error::Git { message } => self.git_error(message),
            })?;
        let revision = self.revision(target)?;
        let key = self.artifact_key(&commit_hex);
        let final_path = dir.join(&key);
        let digest_path = dir.join(format!("{key}.digest"));
        std::fs::write(&digest_path, digest.to_string())
            .map_err(self.storage_error(&digest_path))?;
        if let Some(subject) = &subject {
            let subject_path = dir.join(format!("{key}.subject"));
            std::fs::write(&subject_path, subject).map_err(self.storage_error(&subject_path))?;
        }
        if final_path.exists() {
            std::fs::remove_dir_all(&final_path).map_err(self.storage_error(&final_path))?;
        }
        let tmp = tmp.keep();
        std::fs::rename(&tmp, &final_path).map_err(self.storage_error(&final_path))?;
        self.prune(&key, last);
        Ok(Artifact {
            path: final_path,
            revision,
            digest,
            subject,
        })
    }

    /// Removes artifacts other than the new one and the previous one, and resets an overgrown
    /// cache. Best effort.
    fn prune(&self, keep: &str, last: Option<&Revision>) {
        let previous = last.map(|r| self.artifact_key(r.digest().hex()));
        let Ok(entries) = std::fs::read_dir(self.artifacts_dir()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stem = name
                .strip_suffix(".digest")
                .or_else(|| name.strip_suffix(".subject"))
                .unwrap_or(&name);
            if stem == keep || Some(stem) == previous.as_deref() || name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            let _ = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
        }
        let packs = std::fs::read_dir(self.storage.join("cache.git/objects/pack"))
            .map(|d| {
                d.flatten()
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
                    .count()
            })
            .unwrap_or(0);
        if packs > 16 {
            let _ = std::fs::remove_dir_all(self.storage.join("cache.git"));
        }
    }
}

fn is_scp_like(url: &str) -> bool {
    !url.contains("://")
        && url
            .split_once(':')
            .is_some_and(|(host, _)| !host.contains('/') && host.len() > 1)
}

/// Strips a password from a URL (and returns it with the user name); gix parses the URL.
pub(crate) fn sanitize_url(url: &str) -> Result<(String, Option<(String, String)>), Error> {
    let mut parsed = gix::url::parse(url.as_bytes().as_bstr()).map_err(|_| Error::Config {
        message: "the repository URL cannot be parsed".to_owned(),
    })?;
    let credentials = match (
        parsed.user().map(str::to_owned),
        parsed.password().map(str::to_owned),
    ) {
        (Some(user), Some(password)) => Some((user, password)),
        _ => None,
    };
    if credentials.is_some() {
        parsed.set_user(None);
        parsed.set_password(None);
    }
    let text = parsed.to_bstring();
    Ok((text.to_str_lossy().into_owned(), credentials))
}
/// A commit message's first line, cut after 50 characters with `...` as Flux shows it.
pub(crate) fn subject_line(message: &str) -> String {
    let first = message
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r');
    match first.char_indices().nth(50) {
        Some((cut, _)) => format!("{}...", &first[..cut]),
        None => first.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::subject_line;

    #[test]
    fn subjects_are_the_first_line_cut_after_fifty_characters() {
        assert_eq!(subject_line("fix: typo\n\nlonger body\n"), "fix: typo");
        assert_eq!(subject_line("windows line\r\nbody"), "windows line");
        assert_eq!(subject_line(""), "");
        let long = "é".repeat(60);
        assert_eq!(subject_line(&long), format!("{}...", "é".repeat(50)));
        assert_eq!(subject_line(&"x".repeat(50)), "x".repeat(50));
    }
}
