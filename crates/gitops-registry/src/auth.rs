//! Registry credentials: basic, from a Docker config JSON, and the bearer-token challenge.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

use crate::Error;

/// A username and password, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Login({}:<redacted>)", self.username)
    }
}

/// Logins per registry host, read from a Docker config JSON (`~/.docker/config.json` or a
/// `kubernetes.io/dockerconfigjson` Secret's `.dockerconfigjson`).
///
/// Keys of `auths` may be bare hosts (`ghcr.io`), hosts with a port, or URLs with a scheme and
/// path (`https://index.docker.io/v1/`); each entry has `auth` (base64 `user:password`) or
/// `username` and `password`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerConfig {
    logins: BTreeMap<String, Login>,
}

impl DockerConfig {
    /// Parses the JSON.
    pub fn parse(json: &[u8]) -> Result<Self, Error> {
        let value: Value =
            serde_json::from_slice(json).map_err(|e| Error::DockerConfig(e.to_string()))?;
        let auths = value
            .get("auths")
            .and_then(Value::as_object)
            .ok_or_else(|| Error::DockerConfig("no `auths` object".into()))?;
        let mut logins = BTreeMap::new();
        for (key, entry) in auths {
            let login = if let Some(auth) = entry
                .get("auth")
                .and_then(Value::as_str)
                .filter(|a| !a.is_empty())
            {
                let decoded = STANDARD
                    .decode(auth)
                    .map_err(|_| Error::DockerConfig(format!("`auth` of {key} is not base64")))?;
                let text = String::from_utf8(decoded)
                    .map_err(|_| Error::DockerConfig(format!("`auth` of {key} is not UTF-8")))?;
                let (username, password) = text.split_once(':').ok_or_else(|| {
                    Error::DockerConfig(format!("`auth` of {key} is not user:password"))
                })?;
                Login {
                    username: username.to_owned(),
                    password: password.to_owned(),
                }
            } else {
                let field = |name: &str| entry.get(name).and_then(Value::as_str).map(str::to_owned);
                match (field("username"), field("password")) {
                    (Some(username), Some(password)) => Login { username, password },
                    _ => continue,
                }
            };
            logins.insert(normalize_host(key), login);
        }
        Ok(Self { logins })
    }

    /// The login for a registry host.
    pub(crate) fn login_for(&self, host: &str) -> Option<&Login> {
        let host = normalize_host(host);
        self.logins.get(&host).or_else(|| {
            // Docker Hub is written in several ways.
            let hub = ["docker.io", "index.docker.io", "registry-1.docker.io"];
            if hub.contains(&host.as_str()) {
                hub.iter().find_map(|h| self.logins.get(*h))
            } else {
                None
            }
        })
    }
}

/// `https://index.docker.io/v1/` → `index.docker.io`.
fn normalize_host(key: &str) -> String {
    let without_scheme = key.split_once("://").map_or(key, |(_, rest)| rest);
    without_scheme
        .split('/')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// How the scanner authenticates.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub enum Credentials {
    /// No credentials (public repositories; anonymous tokens where the registry offers them).
    #[default]
    Anonymous,
    /// One login for every registry.
    Basic {
        /// User name.
        username: String,
        /// Password or token, redacted in `Debug` by the caller's care: use [`Credentials::basic`].
        password: Redacted,
    },
    /// Logins per host.
    DockerConfig(DockerConfig),
}

impl Credentials {
    /// A username and password.
    pub fn basic(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self::Basic {
            username: username.into(),
            password: Redacted(password.into()),
        }
    }

    pub(crate) fn login_for(&self, host: &str) -> Option<Login> {
        match self {
            Self::Anonymous => None,
            Self::Basic { username, password } => Some(Login {
                username: username.clone(),
                password: password.0.clone(),
            }),
            Self::DockerConfig(config) => config.login_for(host).cloned(),
        }
    }
}

/// A secret string whose `Debug` prints nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(pub(crate) String);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

impl Challenge {
    pub(crate) fn parse(header: &str) -> Option<Self> {
        let (scheme, params) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Self::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = parse_params(params);
        Some(Self::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        })
    }
}

/// `a="x",b="y,z",c=w` → map; commas inside quotes stay.
fn parse_params(text: &str) -> BTreeMap<String, String> {
    let mut params = BTreeMap::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            match quoted.find('"') {
                Some(end) => (&quoted[..end], &quoted[end + 1..]),
                None => (quoted, ""),
            }
        } else {
            match after.find(',') {
                Some(end) => (&after[..end], &after[end..]),
                None => (after, ""),
            }
        };
        params.insert(key, value.to_owned());
        rest = remaining.trim_start().trim_start_matches(',').trim_start();
    }
    params
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_keys_with_and_without_scheme() {
        let json = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "aHViOnNlY3JldA=="},
            "ghcr.io": {"username": "bot", "password": "ghp_x"},
            "localhost:5000": {"auth": "dTpw"},
            "empty.example.com": {}
        }}"#;
        let config = DockerConfig::parse(json).unwrap();
        assert_eq!(config.login_for("docker.io").unwrap().username, "hub");
        assert_eq!(
            config.login_for("registry-1.docker.io").unwrap().password,
            "secret"
        );
        assert_eq!(config.login_for("GHCR.io").unwrap().username, "bot");
        assert_eq!(config.login_for("localhost:5000").unwrap().password, "p");
        assert!(config.login_for("empty.example.com").is_none());
        assert!(config.login_for("quay.io").is_none());
        assert!(!format!("{config:?}").contains("secret"));
        assert!(DockerConfig::parse(b"{}").is_err());
        assert!(DockerConfig::parse(br#"{"auths":{"x":{"auth":"!!"}}}"#).is_err());
    }

    #[test]
    fn challenges() {
        assert_eq!(
            Challenge::parse("Basic realm=\"Registry\""),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
        assert_eq!(
            Challenge::parse("Bearer service=x"),
            None,
            "a realm is required"
        );
        assert_eq!(Challenge::parse("Negotiate abc"), None);
    }
}
