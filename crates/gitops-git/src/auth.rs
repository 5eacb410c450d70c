//! Credentials from a Flux-style secret, and the private files that `ssh` needs.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gitops_core::SecretBytes;

/// Errors from reading credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The secret has keys for neither basic auth nor ssh.
    #[error(
        "secret has no usable credentials: expected username/password, bearerToken or identity/known_hosts"
    )]
    Empty,
    /// A value is not UTF-8 where it must be.
    #[error("secret key {key:?} is not valid UTF-8")]
    NotUtf8 {
        /// The key.
        key: String,
    },
    /// The secret file is not a Secret manifest nor a map of strings.
    #[error("secret file is not a Kubernetes Secret or a map of strings: {reason}")]
    Format {
        /// What is wrong (never a value).
        reason: String,
    },
    /// Writing the private ssh files failed.
    #[error("cannot write private ssh files")]
    Io(#[source] std::io::Error),
}

/// How to authenticate to a repository, read from a Flux-style secret.
///
/// `Debug` never shows a password, token, key or passphrase.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Auth {
    /// Anonymous access.
    #[default]
    None,
    /// HTTP basic auth; a token goes in `password` (any user name the server accepts).
    Basic {
        /// The user name.
        username: String,
        /// The password or token.
        password: SecretBytes,
    },
    /// HTTP bearer token (`Authorization: Bearer …`).
    Bearer {
        /// The token.
        token: SecretBytes,
    },
    /// SSH key authentication with strict host key checking.
    Ssh {
        /// The private key in OpenSSH or PEM format.
        identity: SecretBytes,
        /// The key's passphrase, if it is encrypted.
        passphrase: Option<SecretBytes>,
        /// `known_hosts` lines for the server. Empty means every host key is refused.
        known_hosts: String,
    },
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => f.write_str("Auth::None"),
            Self::Basic { username, .. } => f
                .debug_struct("Auth::Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Bearer { .. } => f.write_str("Auth::Bearer { token: <redacted> }"),
            Self::Ssh {
                passphrase,
                known_hosts,
                ..
            } => f
                .debug_struct("Auth::Ssh")
                .field("identity", &"<redacted>")
                .field("passphrase", &passphrase.as_ref().map(|_| "<redacted>"))
                .field("known_hosts_lines", &known_hosts.lines().count())
                .finish(),
        }
    }
}

impl Auth {
    /// Basic auth with a user name and a password or token.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: SecretBytes::from(password.into()),
        }
    }

    /// SSH auth with a private key and `known_hosts` lines.
    pub fn ssh(identity: impl Into<String>, known_hosts: impl Into<String>) -> Self {
        Self::Ssh {
            identity: SecretBytes::from(identity.into()),
            passphrase: None,
            known_hosts: known_hosts.into(),
        }
    }

    /// Reads a Flux `GitRepository` secret's data: `username` + `password` (http basic, a token as
    /// password), `bearerToken`, or `identity` (+ `password` as the key's passphrase) +
    /// `known_hosts` (ssh). Other keys are ignored.
    ///
    /// # Errors
    /// [`Error::Empty`] when no known combination is present, [`Error::NotUtf8`] for a user name
    /// or `known_hosts` that is not UTF-8.
    pub fn from_secret_data<K, V>(data: impl IntoIterator<Item = (K, V)>) -> Result<Self, Error>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let mut map: BTreeMap<String, SecretBytes> = data
            .into_iter()
            .map(|(k, v)| (k.as_ref().to_owned(), SecretBytes::new(v.as_ref().to_vec())))
            .collect();
        let text = |map: &mut BTreeMap<String, SecretBytes>, key: &str| {
            map.remove(key)
                .map(|v| {
                    String::from_utf8(v.expose().to_vec()).map_err(|_| Error::NotUtf8 {
                        key: key.to_owned(),
                    })
                })
                .transpose()
        };
        if let Some(identity) = map.remove("identity") {
            let known_hosts = text(&mut map, "known_hosts")?.unwrap_or_default();
            return Ok(Self::Ssh {
                identity,
                passphrase: map.remove("password").filter(|p| !p.is_empty()),
                known_hosts,
            });
        }
        if let Some(token) = map.remove("bearerToken") {
            return Ok(Self::Bearer { token });
        }
        match (text(&mut map, "username")?, map.remove("password")) {
            (Some(username), Some(password)) => Ok(Self::Basic { username, password }),
            // A token alone: most forges accept any user name with it.
            (None, Some(password)) => Ok(Self::Basic {
                username: "git".to_owned(),
                password,
            }),
            _ => Err(Error::Empty),
        }
    }

    /// Reads a secret file: a Kubernetes `Secret` manifest (YAML or JSON, `data` base64-encoded
    /// and/or `stringData`), or a plain YAML map of keys to strings.
    ///
    /// # Errors
    /// [`Error::Format`] when the text is neither; then as [`Auth::from_secret_data`].
    pub fn from_secret_yaml(text: &str) -> Result<Self, Error> {
        use base64::Engine as _;
        let format = |reason: &str| Error::Format {
            reason: reason.to_owned(),
        };
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|_| format("not YAML"))?;
        let mapping = value.as_mapping().ok_or_else(|| format("not a map"))?;
        let strings = |v: &serde_yaml_ng::Value| -> Result<Vec<(String, Vec<u8>)>, Error> {
            let m = v.as_mapping().ok_or_else(|| format("data is not a map"))?;
            m.iter()
                .map(|(k, v)| {
                    let k = k.as_str().ok_or_else(|| format("a key is not a string"))?;
                    let v = v
                        .as_str()
                        .ok_or_else(|| format("a value is not a string"))?;
                    Ok((k.to_owned(), v.as_bytes().to_vec()))
                })
                .collect()
        };
        let mut data = Vec::new();
        let is_manifest = mapping.contains_key("data") || mapping.contains_key("stringData");
        if is_manifest {
            if let Some(d) = mapping.get("data") {
                for (k, v) in strings(d)? {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(
                            v.iter()
                                .filter(|b| !b.is_ascii_whitespace())
                                .copied()
                                .collect::<Vec<u8>>(),
                        )
                        .map_err(|_| Error::Format {
                            reason: format!("data.{k} is not base64"),
                        })?;
                    data.push((k, decoded));
                }
            }
            if let Some(d) = mapping.get("stringData") {
                data.extend(strings(d)?);
            }
        } else {
            data = strings(&value)?;
        }
        Self::from_secret_data(data)
    }

    pub(crate) fn is_ssh(&self) -> bool {
        matches!(self, Self::Ssh { .. })
    }
}

/// Private files for one `ssh` invocation: the key, `known_hosts`, an askpass helper for a
/// passphrase and ssh's own log, in a fresh 0700 directory removed on drop.
pub(crate) struct SshFiles {
    dir: tempfile::TempDir,
    command: String,
    needs_askpass: bool,
}

fn write_private(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

fn quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

impl SshFiles {
    /// Writes the files for `auth` (which must be [`Auth::Ssh`]; anything else gets a `known_hosts`
    /// that refuses every host) under `parent`.
    pub(crate) fn new(
        auth: &Auth,
        parent: &Path,
        connect_timeout: Duration,
    ) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix(".ssh-")
            .tempdir_in(parent)
            .map_err(Error::Io)?;
        let identity_path = dir.path().join("identity");
        let known_hosts_path = dir.path().join("known_hosts");
        let log = dir.path().join("ssh.log");
        let mut needs_askpass = false;
        let mut command = String::from("ssh -F /dev/null");
        match auth {
            Auth::Ssh {
                identity,
                passphrase,
                known_hosts,
            } => {
                let mut key = identity.expose().to_vec();
                if !key.ends_with(b"\n") {
                    key.push(b'\n');
                }
                write_private(&identity_path, &key, 0o600).map_err(Error::Io)?;
                write_private(&known_hosts_path, known_hosts.as_bytes(), 0o600)
                    .map_err(Error::Io)?;
                command.push_str(&format!(
                    " -i {} -o IdentitiesOnly=yes",
                    quote(&identity_path)
                ));
                if let Some(passphrase) = passphrase {
                    let pass = dir.path().join("passphrase");
                    write_private(&pass, passphrase.expose(), 0o600).map_err(Error::Io)?;
                    let askpass = dir.path().join("askpass");
                    write_private(
                        &askpass,
                        format!("#!/bin/sh\nexec cat {}\n", quote(&pass)).as_bytes(),
                        0o700,
                    )
                    .map_err(Error::Io)?;
                    needs_askpass = true;
                    // ssh reads the passphrase from SSH_ASKPASS only outside batch mode.
                    command = format!(
                        "SSH_ASKPASS={} SSH_ASKPASS_REQUIRE=force DISPLAY=none {command} -o BatchMode=no -o PasswordAuthentication=no -o KbdInteractiveAuthentication=no -o NumberOfPasswordPrompts=1",
                        quote(&askpass)
                    );
                }
            }
            _ => {
                write_private(&known_hosts_path, b"", 0o600).map_err(Error::Io)?;
            }
        }
        if !needs_askpass {
            command.push_str(" -o BatchMode=yes");
        }
        command.push_str(&format!(
            " -o UserKnownHostsFile={} -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o UpdateHostKeys=no -o ConnectTimeout={} -o ServerAliveInterval=15 -o ServerAliveCountMax=2 -E {}",
            quote(&known_hosts_path),
            connect_timeout.as_secs().max(1),
            quote(&log)
        ));
        Ok(Self {
            dir,
            command,
            needs_askpass,
        })
    }

    /// The command line to run instead of `ssh` (for `core.sshCommand` or `GIT_SSH_COMMAND`).
    pub(crate) fn command(&self) -> &str {
        &self.command
    }

    /// What ssh logged (errors such as a refused key or a changed host key).
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("ssh.log")
    }

    /// Whether the key has a passphrase (ssh then needs `SSH_ASKPASS`, set in the command).
    #[allow(dead_code)]
    pub(crate) fn needs_askpass(&self) -> bool {
        self.needs_askpass
    }
}

/// What an ssh log says went wrong.
pub(crate) enum SshFailure {
    HostKey,
    Auth,
}

pub(crate) fn classify_ssh_log(log: &str) -> Option<SshFailure> {
    if log.contains("Host key verification failed")
        || log.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || log.contains("No ED25519 host key is known")
        || log.contains("host key is known for")
    {
        Some(SshFailure::HostKey)
    } else if log.contains("Permission denied") || log.contains("incorrect passphrase") {
        Some(SshFailure::Auth)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_flux_secret_data() {
        let auth =
            Auth::from_secret_data([("username", "u"), ("password", "hunter2")]).expect("basic");
        assert!(matches!(auth, Auth::Basic { ref username, .. } if username == "u"));
        let debug = format!("{auth:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        let auth = Auth::from_secret_data([
            ("identity", "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n"),
            ("known_hosts", "host ssh-ed25519 AAAA"),
            ("password", "pass-phrase"),
        ])
        .expect("ssh");
        let debug = format!("{auth:?}");
        assert!(
            !debug.contains("secret") && !debug.contains("pass-phrase"),
            "{debug}"
        );
        assert!(matches!(
            auth,
            Auth::Ssh {
                passphrase: Some(_),
                ..
            }
        ));
        assert!(matches!(
            Auth::from_secret_data([("other", "x")]),
            Err(Error::Empty)
        ));
    }

    #[test]
    fn reads_secret_manifests() {
        let yaml = "apiVersion: v1\nkind: Secret\nmetadata: {name: x}\ndata:\n  username: dXNlcg==\n  password: cHc=\n";
        let auth = Auth::from_secret_yaml(yaml).expect("manifest");
        assert!(
            matches!(auth, Auth::Basic { ref username, ref password } if username == "user" && password.expose() == b"pw")
        );
        let auth = Auth::from_secret_yaml("stringData:\n  bearerToken: t0k\n").expect("stringData");
        assert!(matches!(auth, Auth::Bearer { .. }));
        let auth = Auth::from_secret_yaml("username: a\npassword: b\n").expect("plain map");
        assert!(matches!(auth, Auth::Basic { .. }));
        let err = Auth::from_secret_yaml("data:\n  password: '%%%'\n").expect_err("bad base64");
        assert!(!err.to_string().contains("%%%"));
    }
}
