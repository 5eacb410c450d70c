//! Commit and push for image automation, through the `git` binary (gix cannot push yet; see the
//! crate docs).
//!
//! [`GitWriter::update`] is one transaction: bring a work tree to the tip of the branch to push
//! to (or of the checkout branch when that one does not exist yet), let the caller change files,
//! commit them, push. When the push is rejected because the branch moved meanwhile, it fetches
//! again, re-applies the change on the new tip and retries, a bounded number of times.

use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gitops_core::{BoxError, SecretBytes};

use crate::auth::{Auth, SshFailure, SshFiles, classify_ssh_log};
use crate::fetch::sanitize_url;

/// Errors from committing and pushing. Messages carry git's output (never credentials).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is unusable.
    #[error("invalid writer configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
    },
    /// The branch to start from does not exist on the remote.
    #[error("{url}: branch {branch} not found")]
    BranchNotFound {
        /// The repository URL.
        url: String,
        /// The branch.
        branch: String,
    },
    /// The server refused the credentials.
    #[error("{url}: authentication failed")]
    Auth {
        /// The repository URL.
        url: String,
    },
    /// The ssh host key is unknown or changed.
    #[error("{url}: ssh host key verification failed (unknown or changed host key)")]
    HostKey {
        /// The repository URL.
        url: String,
    },
    /// The push was still rejected after every retry.
    #[error("{url}: push to {branch} rejected after {attempts} attempts: {output}")]
    Rejected {
        /// The repository URL.
        url: String,
        /// The branch pushed to.
        branch: String,
        /// How many times it was tried.
        attempts: u32,
        /// git's last answer.
        output: String,
    },
    /// The caller's change failed.
    #[error("applying the change failed")]
    Apply(#[source] BoxError),
    /// A `git` command failed.
    #[error("{url}: `git {command}` failed: {output}")]
    Git {
        /// The repository URL.
        url: String,
        /// The subcommand.
        command: String,
        /// git's output (first lines).
        output: String,
    },
    /// A `git` command did not finish in time.
    #[error("{url}: `git {command}` did not finish within {timeout:?}")]
    Timeout {
        /// The repository URL.
        url: String,
        /// The subcommand.
        command: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// Local files could not be written.
    #[error("{path}: i/o error")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A name and e-mail address for author or committer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The name.
    pub name: String,
    /// The e-mail address.
    pub email: String,
}

impl Identity {
    /// An identity.
    pub fn new(name: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            email: email.into(),
        }
    }
}

/// A key to sign commits with. `Debug` never shows key material.
#[derive(Clone)]
#[non_exhaustive]
pub enum SigningKey {
    /// An unencrypted OpenSSH private key (`gpg.format=ssh`).
    Ssh {
        /// The private key.
        private_key: SecretBytes,
    },
    /// An ASCII-armored OpenPGP secret key, optionally with its passphrase.
    OpenPgp {
        /// The armored secret key.
        armored: SecretBytes,
        /// Its passphrase.
        passphrase: Option<SecretBytes>,
    },
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ssh { .. } => f.write_str("SigningKey::Ssh(<redacted>)"),
            Self::OpenPgp { .. } => f.write_str("SigningKey::OpenPgp(<redacted>)"),
        }
    }
}

/// What to commit with.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CommitSpec {
    /// The author.
    pub author: Identity,
    /// The committer; the author when `None`.
    pub committer: Option<Identity>,
    /// The commit message.
    pub message: String,
    /// Sign the commit with this key.
    pub signing_key: Option<SigningKey>,
}

impl CommitSpec {
    /// A commit by `author` with `message`, unsigned.
    pub fn new(author: Identity, message: impl Into<String>) -> Self {
        Self {
            author,
            committer: None,
            message: message.into(),
            signing_key: None,
        }
    }

    /// Sets the committer.
    pub fn with_committer(mut self, committer: Identity) -> Self {
        self.committer = Some(committer);
        self
    }

    /// Signs the commit.
    pub fn with_signing_key(mut self, key: SigningKey) -> Self {
        self.signing_key = Some(key);
        self
    }
}

/// What [`GitWriter::update`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PushOutcome {
    /// The change left the tree as it was: nothing was committed or pushed.
    NoChange {
        /// The commit the branch is at.
        commit: String,
    },
    /// A new commit was pushed.
    Pushed {
        /// The new commit.
        commit: String,
        /// The branch it was pushed to.
        branch: String,
        /// How many push attempts it took (1 without a concurrent update).
        attempts: u32,
    },
}

/// Writes to a repository through the `git` binary: clone, change, commit, push.
#[derive(Debug, Clone)]
pub struct GitWriter {
    url: String,
    auth: Auth,
    workdir: PathBuf,
    git: PathBuf,
    timeout: Duration,
    max_attempts: u32,
    insecure_http: bool,
}

struct Run<'a> {
    writer: &'a GitWriter,
    env: Vec<(String, String)>,
    ssh: Option<SshFiles>,
    _scratch: tempfile::TempDir,
    scratch: PathBuf,
}

fn first_lines(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .take(6)
        .collect::<Vec<_>>()
        .join("; ")
}

impl GitWriter {
    /// A writer for `url` that keeps its work tree in `workdir` (created on first use and reused
    /// afterwards).
    ///
    /// # Errors
    /// [`Error::Config`] when the URL cannot be parsed.
    pub fn new(url: &str, workdir: impl Into<PathBuf>) -> Result<Self, Error> {
        let (url, credentials) = sanitize_url(url).map_err(|e| Error::Config {
            message: e.to_string(),
        })?;
        Ok(Self {
            url,
            auth: credentials.map_or(Auth::None, |(u, p)| Auth::basic(u, p)),
            workdir: workdir.into(),
            git: PathBuf::from("git"),
            timeout: Duration::from_secs(120),
            max_attempts: 3,
            insecure_http: false,
        })
    }

    /// Allows sending credentials over plain `http://`, the same opt-in as
    /// [`GitSource::with_insecure_http`](crate::GitSource::with_insecure_http) (off by default:
    /// they would travel in clear text). Without it, a writer with credentials (from
    /// [`with_auth`](Self::with_auth) or in the URL) and an `http://` URL fails with
    /// [`Error::Config`] before running `git`.
    pub fn with_insecure_http(mut self, allow: bool) -> Self {
        self.insecure_http = allow;
        self
    }

    /// Credentials, as for [`GitSource`](crate::GitSource).
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// The `git` program to run (default: `git` on `PATH`).
    pub fn with_git_program(mut self, git: impl Into<PathBuf>) -> Self {
        self.git = git.into();
        self
    }

    /// The time each `git` command may take (default two minutes).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many times to push before giving up on concurrent updates (default 3, at least 1).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The work tree.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Brings the work tree to the tip of `push_branch` (or of `checkout_branch` when
    /// `push_branch` does not exist yet), runs `apply` on it, commits the result as `commit` and
    /// pushes it to `push_branch`. On a rejected push (the branch moved), fetches, re-runs
    /// `apply` on the new tip and tries again, up to the configured attempts.
    ///
    /// # Errors
    /// See [`Error`]; [`Error::Rejected`] when every attempt lost the race.
    pub async fn update<F>(
        &self,
        checkout_branch: &str,
        push_branch: &str,
        commit: &CommitSpec,
        apply: F,
    ) -> Result<PushOutcome, Error>
    where
        F: FnMut(&Path) -> Result<(), BoxError> + Send + 'static,
    {
        let this = self.clone();
        let (checkout_branch, push_branch, commit) = (
            checkout_branch.to_owned(),
            push_branch.to_owned(),
            commit.clone(),
        );
        tokio::task::spawn_blocking(move || {
            this.update_blocking(&checkout_branch, &push_branch, &commit, apply)
        })
        .await
        .map_err(|e| Error::Io {
            path: self.workdir.display().to_string(),
            source: std::io::Error::other(e.to_string()),
        })?
    }

    /// The blocking form of [`GitWriter::update`].
    ///
    /// # Errors
    /// As [`GitWriter::update`].
    pub fn update_blocking<F>(
        &self,
        checkout_branch: &str,
        push_branch: &str,
        commit: &CommitSpec,
        mut apply: F,
    ) -> Result<PushOutcome, Error>
    where
        F: FnMut(&Path) -> Result<(), BoxError>,
    {
        self.update_with_message_blocking(checkout_branch, push_branch, commit, |dir| {
            apply(dir).map(|()| None)
        })
    }

    /// [`GitWriter::update_blocking`] where `apply` may also return the commit message, for
    /// messages that describe the change (image automation renders one from its change report).
    /// `None` keeps the message of `commit`.
    ///
    /// # Errors
    /// As [`GitWriter::update`].
    pub fn update_with_message_blocking<F>(
        &self,
        checkout_branch: &str,
        push_branch: &str,
        commit: &CommitSpec,
        mut apply: F,
    ) -> Result<PushOutcome, Error>
    where
        F: FnMut(&Path) -> Result<Option<String>, BoxError>,
    {
        let run = Run::new(self, commit.signing_key.as_ref())?;
        run.ensure_repo()?;
        let mut last_output = String::new();
        for attempt in 1..=self.max_attempts {
            let base = if run.remote_has(push_branch)? {
                push_branch
            } else {
                checkout_branch
            };
            run.git(&[
                "fetch",
                "--quiet",
                "--no-tags",
                "--depth=1",
                "origin",
                &format!("+refs/heads/{base}:refs/remotes/origin/{base}"),
            ])
            .map_err(|e| match e {
                Error::Git { ref output, .. } if output.contains("couldn't find remote ref") => {
                    Error::BranchNotFound {
                        url: self.url.clone(),
                        branch: base.to_owned(),
                    }
                }
                other => other,
            })?;
            run.git(&[
                "checkout",
                "--quiet",
                "--force",
                "-B",
                push_branch,
                &format!("refs/remotes/origin/{base}"),
            ])?;
            run.git(&["clean", "-q", "-f", "-d", "-x"])?;
            let message = apply(&self.workdir).map_err(Error::Apply)?;
            run.git(&["add", "--all"])?;
            if run.git(&["diff", "--cached", "--quiet"]).is_ok() {
                let head = run.git(&["rev-parse", "HEAD"])?;
                return Ok(PushOutcome::NoChange {
                    commit: head.trim().to_owned(),
                });
            }
            match message {
                Some(message) => run.commit(&CommitSpec {
                    message,
                    ..commit.clone()
                })?,
                None => run.commit(commit)?,
            }
            let head = run.git(&["rev-parse", "HEAD"])?.trim().to_owned();
            match run.git(&[
                "push",
                "--porcelain",
                "origin",
                &format!("HEAD:refs/heads/{push_branch}"),
            ]) {
                Ok(_) => {
                    return Ok(PushOutcome::Pushed {
                        commit: head,
                        branch: push_branch.to_owned(),
                        attempts: attempt,
                    });
                }
                Err(Error::Git { output, .. })
                    if output.contains("[rejected]")
                        || output.contains("Updates were rejected")
                        || output.contains("remote contains work")
                        || output.contains("non-fast-forward")
                        || output.contains("fetch first")
                        || output.contains("cannot lock ref")
                        || output.contains("stale info") =>
                {
                    last_output = output;
                }
                Err(other) => return Err(other),
            }
        }
        Err(Error::Rejected {
            url: self.url.clone(),
            branch: push_branch.to_owned(),
            attempts: self.max_attempts,
            output: last_output,
        })
    }
}

impl<'a> Run<'a> {
    fn new(writer: &'a GitWriter, signing: Option<&SigningKey>) -> Result<Self, Error> {
        // Checked before any `git` runs: the first fetch would already send the header.
        let plain_http = writer
            .url
            .get(..7)
            .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"));
        if plain_http && !writer.insecure_http && !matches!(writer.auth, Auth::None) {
            return Err(Error::Config {
                message: format!(
                    "{}: refusing to send credentials over plain http (use https, or allow it explicitly with with_insecure_http)",
                    writer.url
                ),
            });
        }
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| Error::Io { path, source }
        };
        let parent = writer
            .workdir
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        std::fs::create_dir_all(&parent).map_err(io(&parent))?;
        let scratch_dir = tempfile::Builder::new()
            .prefix(".gitops-writer-")
            .tempdir_in(&parent)
            .map_err(io(&parent))?;
        let scratch = scratch_dir.path().to_path_buf();
        let mut env: Vec<(String, String)> = Vec::new();
        let mut config: Vec<(String, String)> = vec![
            ("core.hooksPath".into(), "/dev/null".into()),
            ("commit.gpgSign".into(), "false".into()),
            ("credential.helper".into(), String::new()),
            ("advice.detachedHead".into(), "false".into()),
        ];
        let auth_header = |value: String| ("http.extraHeader".to_owned(), value);
        let ssh = match &writer.auth {
            Auth::Basic { username, password } => {
                use base64::Engine as _;
                let mut raw = format!("{username}:").into_bytes();
                raw.extend_from_slice(password.expose());
                config.push(auth_header(format!(
                    "Authorization: Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )));
                None
            }
            Auth::Bearer { token } => {
                config.push(auth_header(format!(
                    "Authorization: Bearer {}",
                    String::from_utf8_lossy(token.expose())
                )));
                None
            }
            Auth::Ssh { .. } => Some(
                SshFiles::new(&writer.auth, &scratch, writer.timeout).map_err(|e| Error::Io {
                    path: scratch.display().to_string(),
                    source: std::io::Error::other(e.to_string()),
                })?,
            ),
            _ => None,
        };
        if let Some(ssh) = &ssh {
            env.push(("GIT_SSH_COMMAND".into(), ssh.command().to_owned()));
        }
        match signing {
            Some(SigningKey::Ssh { private_key }) => {
                let key = scratch.join("signing_key");
                write_private(&key, private_key.expose(), 0o600).map_err(io(&key))?;
                config.push(("gpg.format".into(), "ssh".into()));
                config.push(("user.signingKey".into(), key.display().to_string()));
                config.push(("commit.gpgSign".into(), "true".into()));
            }
            Some(SigningKey::OpenPgp {
                armored,
                passphrase,
            }) => {
                let home = scratch.join("gnupg");
                std::fs::create_dir(&home).map_err(io(&home))?;
                set_mode(&home, 0o700).map_err(io(&home))?;
                let key = scratch.join("secret.asc");
                write_private(&key, armored.expose(), 0o600).map_err(io(&key))?;
                let pass = scratch.join("passphrase");
                write_private(
                    &pass,
                    passphrase.as_ref().map_or(&[][..], SecretBytes::expose),
                    0o600,
                )
                .map_err(io(&pass))?;
                let gpg = |args: &[&str]| {
                    Command::new("gpg")
                        .arg("--homedir")
                        .arg(&home)
                        .args([
                            "--batch",
                            "--no-tty",
                            "--pinentry-mode",
                            "loopback",
                            "--passphrase-file",
                        ])
                        .arg(&pass)
                        .args(args)
                        .stdin(Stdio::null())
                        .output()
                };
                let imported = gpg(&["--import", &key.display().to_string()]).map_err(io(&key))?;
                if !imported.status.success() {
                    return Err(Error::Config {
                        message: "the OpenPGP signing key could not be imported".into(),
                    });
                }
                let listed = gpg(&["--with-colons", "--list-secret-keys"]).map_err(io(&key))?;
                let listing = String::from_utf8_lossy(&listed.stdout);
                let fingerprint = listing
                    .lines()
                    .find_map(|l| l.strip_prefix("fpr:"))
                    .and_then(|rest| rest.split(':').find(|f| !f.is_empty()))
                    .ok_or_else(|| Error::Config {
                        message: "the OpenPGP signing key holds no secret key".into(),
                    })?
                    .to_owned();
                let wrapper = scratch.join("gpg");
                let quote =
                    |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
                write_private(
                    &wrapper,
                    format!(
                        "#!/bin/sh\nexec gpg --homedir {} --batch --no-tty --pinentry-mode loopback --passphrase-file {} \"$@\"\n",
                        quote(&home),
                        quote(&pass)
                    )
                    .as_bytes(),
                    0o700,
                )
                .map_err(io(&wrapper))?;
                config.push(("gpg.format".into(), "openpgp".into()));
                config.push(("gpg.program".into(), wrapper.display().to_string()));
                config.push(("user.signingKey".into(), fingerprint));
                config.push(("commit.gpgSign".into(), "true".into()));
            }
            None => {}
        }
        env.push(("GIT_CONFIG_COUNT".into(), config.len().to_string()));
        for (i, (key, value)) in config.into_iter().enumerate() {
            env.push((format!("GIT_CONFIG_KEY_{i}"), key));
            env.push((format!("GIT_CONFIG_VALUE_{i}"), value));
        }
        Ok(Self {
            writer,
            env,
            ssh,
            _scratch: scratch_dir,
            scratch,
        })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.writer.git);
        for var in [
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
            "GIT_OBJECT_DIRECTORY",
            "GIT_ALTERNATE_OBJECT_DIRECTORIES",
            "GIT_SSH",
            "GIT_SSH_COMMAND",
            "GIT_ASKPASS",
            "SSH_ASKPASS",
            "GIT_CONFIG",
            "GIT_CONFIG_PARAMETERS",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GNUPGHOME", self.scratch.join("gnupg"))
            .env("LC_ALL", "C")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if self.writer.workdir.join(".git").exists() {
            cmd.current_dir(&self.writer.workdir);
        }
        cmd
    }

    /// Runs git with a deadline; returns stdout, or an error with stderr and stdout.
    fn git(&self, args: &[&str]) -> Result<String, Error> {
        let subcommand = args.first().copied().unwrap_or_default().to_owned();
        let url = self.writer.url.clone();
        let io = |source: std::io::Error| Error::Io {
            path: self.writer.workdir.display().to_string(),
            source,
        };
        let mut child = self.command(args).spawn().map_err(io)?;
        let mut stdout = child
            .stdout
            .take()
            .expect("stdout is piped because command() sets it");
        let mut stderr = child
            .stderr
            .take()
            .expect("stderr is piped because command() sets it");
        let out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + self.writer.timeout;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(io)? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Timeout {
                    url,
                    command: subcommand,
                    timeout: self.writer.timeout,
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if status.success() {
            return Ok(stdout);
        }
        if let Some(ssh) = &self.ssh {
            match classify_ssh_log(&ssh.log()) {
                Some(SshFailure::HostKey) => return Err(Error::HostKey { url }),
                Some(SshFailure::Auth) => return Err(Error::Auth { url }),
                None => {}
            }
        }
        let all = format!("{stderr}\n{stdout}");
        if all.contains("Authentication failed")
            || all.contains("could not read Username")
            || all.contains("could not read Password")
            || all.contains("The requested URL returned error: 401")
            || all.contains("The requested URL returned error: 403")
        {
            return Err(Error::Auth { url });
        }
        Err(Error::Git {
            url,
            command: subcommand,
            output: first_lines(&all),
        })
    }

    fn ensure_repo(&self) -> Result<(), Error> {
        let workdir = &self.writer.workdir;
        if workdir.join(".git").exists() {
            self.git(&["remote", "set-url", "origin", &self.writer.url])?;
            return Ok(());
        }
        std::fs::create_dir_all(workdir).map_err(|source| Error::Io {
            path: workdir.display().to_string(),
            source,
        })?;
        let path = workdir.display().to_string();
        self.git(&["init", "--quiet", &path])?;
        let mut cmd_args = vec!["-C", path.as_str()];
        cmd_args.extend(["remote", "add", "origin", self.writer.url.as_str()]);
        self.git(&cmd_args)?;
        Ok(())
    }

    fn remote_has(&self, branch: &str) -> Result<bool, Error> {
        let out = self.git(&[
            "ls-remote",
            "--heads",
            "origin",
            &format!("refs/heads/{branch}"),
        ])?;
        Ok(!out.trim().is_empty())
    }

    fn commit(&self, spec: &CommitSpec) -> Result<(), Error> {
        let committer = spec.committer.as_ref().unwrap_or(&spec.author);
        let mut cmd = self.command(&["commit", "--quiet", "--no-verify", "--file=-"]);
        cmd.env("GIT_AUTHOR_NAME", &spec.author.name)
            .env("GIT_AUTHOR_EMAIL", &spec.author.email)
            .env("GIT_COMMITTER_NAME", &committer.name)
            .env("GIT_COMMITTER_EMAIL", &committer.email)
            .stdin(Stdio::piped());
        let io = |source: std::io::Error| Error::Io {
            path: self.writer.workdir.display().to_string(),
            source,
        };
        let mut child = cmd.spawn().map_err(io)?;
        {
            use std::io::Write as _;
            let mut stdin = child.stdin.take().expect("stdin is piped above");
            stdin.write_all(spec.message.as_bytes()).map_err(io)?;
        }
        let output = child.wait_with_output().map_err(io)?;
        if output.status.success() {
            Ok(())
        } else {
            Err(Error::Git {
                url: self.writer.url.clone(),
                command: "commit".into(),
                output: first_lines(&format!(
                    "{}\n{}",
                    String::from_utf8_lossy(&output.stderr),
                    String::from_utf8_lossy(&output.stdout)
                )),
            })
        }
    }
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        let home = self.scratch.join("gnupg");
        if home.exists() {
            let _ = Command::new("gpgconf")
                .arg("--homedir")
                .arg(&home)
                .args(["--kill", "all"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

fn write_private(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    if !bytes.ends_with(b"\n")
        && mode == 0o600
        && path.file_name().is_some_and(|n| n == "signing_key")
    {
        file.write_all(b"\n")?;
    }
    Ok(())
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
