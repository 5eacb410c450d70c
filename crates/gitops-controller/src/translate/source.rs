//! A GitRepository's or HelmRepository's spec as a fetch's options.

use std::time::Duration;

use gitops_flux::api::{GitRepositorySpec, HelmRepositorySpec};
use gitops_git::Reference;

use super::{Invalid, duration};

/// What a GitRepository's spec asks of a fetch.
#[derive(Clone, Debug)]
pub struct GitRepositoryPlan {
    /// The repository URL (`http`, `https` or `ssh`).
    pub url: String,
    /// `spec.ref` by Flux's precedence: commit, then name, semver, tag, branch; `master` when
    /// nothing is set.
    pub reference: Reference,
    /// How often to fetch (`interval`, a minute when unset).
    pub interval: Duration,
    /// The timeout of Git operations, when set.
    pub timeout: Option<Duration>,
    /// The Secret with credentials, in the object's namespace.
    pub secret: Option<String>,
    /// `spec.ignore`: gitignore-style patterns left out of the artifact.
    pub ignore: Option<String>,
}

/// Translates the spec of a GitRepository.
///
/// # Errors
/// [`Invalid`] names the first field that cannot be honoured.
pub fn git_repository(spec: &GitRepositorySpec) -> Result<GitRepositoryPlan, Invalid> {
    allowed_url(&spec.url).map_err(Invalid::Url)?;
    let r = spec.reference.clone().unwrap_or_default();
    let reference = if let Some(commit) = &r.commit {
        Reference::from_parts("commit", commit)?
    } else if let Some(name) = &r.name {
        Reference::from_parts("name", name)?
    } else if let Some(range) = &r.semver {
        Reference::from_parts("semver", range)?
    } else if let Some(tag) = &r.tag {
        Reference::from_parts("tag", tag)?
    } else {
        Reference::from_parts("branch", r.branch.as_deref().unwrap_or("master"))?
    };
    let interval = duration("interval", Some(&spec.interval), Duration::from_secs(60))?;
    let timeout = match spec.timeout.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(_) => Some(duration("timeout", spec.timeout.as_deref(), interval)?),
        None => None,
    };
    Ok(GitRepositoryPlan {
        url: spec.url.clone(),
        reference,
        interval,
        timeout,
        secret: spec.secret_ref.as_ref().map(|s| s.name.clone()),
        ignore: spec.ignore.clone(),
    })
}

/// What a HelmRepository's spec asks of an index fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HelmRepositoryPlan {
    /// The repository URL: `http(s)://` (the folder of `index.yaml`), or `oci://` for `type: oci`.
    pub url: String,
    /// `type: oci`: an OCI registry, which has no index to fetch.
    pub oci: bool,
    /// How often to fetch (`interval`, a minute when unset).
    pub interval: Duration,
    /// The timeout of one fetch (`timeout`, 60 s when unset, as in Flux).
    pub timeout: Duration,
    /// The Secret with `username`/`password` (and, as older Flux versions had it, `ca.crt`).
    pub secret: Option<String>,
    /// The Secret with `ca.crt`.
    pub cert_secret: Option<String>,
    /// Send the credentials to chart URLs on other hosts too.
    pub pass_credentials: bool,
}

/// Translates the spec of a HelmRepository.
///
/// # Errors
/// [`Invalid`] names the first field that cannot be honoured: a URL whose scheme does not fit
/// the type, or a duration that does not parse.
pub fn helm_repository(spec: &HelmRepositorySpec) -> Result<HelmRepositoryPlan, Invalid> {
    let scheme = spec
        .url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    let oci = spec.is_oci();
    match (scheme.as_deref(), oci) {
        (Some("http" | "https"), false) | (Some("oci"), true) => {}
        (_, false) => {
            return Err(Invalid::Url(format!(
                "'{}' is not an http:// or https:// URL: a HelmRepository of type default reads index.yaml over HTTP(S)",
                redact(&spec.url)
            )));
        }
        (_, true) => {
            return Err(Invalid::Url(format!(
                "'{}' is not an oci:// URL: a HelmRepository of type oci names a registry",
                redact(&spec.url)
            )));
        }
    }
    let interval = duration("interval", Some(&spec.interval), Duration::from_secs(60))?;
    let timeout = duration("timeout", spec.timeout.as_deref(), Duration::from_secs(60))?;
    Ok(HelmRepositoryPlan {
        url: spec.url.clone(),
        oci,
        interval,
        timeout,
        secret: spec.secret_ref.as_ref().map(|s| s.name.clone()),
        cert_secret: spec.cert_secret_ref.as_ref().map(|s| s.name.clone()),
        pass_credentials: spec.pass_credentials,
    })
}

/// `Ok` when `url` uses a scheme Flux's GitRepository accepts: `http`, `https` or `ssh`.
fn allowed_url(url: &str) -> Result<(), String> {
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https" | "ssh") => Ok(()),
        Some(other) => Err(format!(
            "URL scheme '{other}' in '{}' is not allowed: a GitRepository URL must be http, https or ssh",
            redact(url)
        )),
        None => Err(format!(
            "'{}' is not a URL: a GitRepository URL must be http://, https:// or ssh://",
            redact(url)
        )),
    }
}

/// `url` without user information (`user:password@`).
fn redact(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority
                .rsplit_once('@')
                .map_or(authority, |(_, host)| host);
            format!("{scheme}://{host}{path}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(fields: serde_json::Value) -> GitRepositorySpec {
        let mut spec = json!({"url": "https://git.example/org/repo", "interval": "1m"});
        if let (Some(spec), Some(fields)) = (spec.as_object_mut(), fields.as_object()) {
            spec.extend(fields.clone());
        }
        serde_json::from_value(spec).expect("a valid GitRepositorySpec")
    }

    fn plan(fields: serde_json::Value) -> GitRepositoryPlan {
        git_repository(&spec(fields)).expect("a valid spec")
    }

    fn helm(fields: serde_json::Value) -> Result<HelmRepositoryPlan, Invalid> {
        let mut spec = json!({"url": "https://charts.example.com/stable", "interval": "5m"});
        if let (Some(spec), Some(fields)) = (spec.as_object_mut(), fields.as_object()) {
            spec.extend(fields.clone());
        }
        helm_repository(&serde_json::from_value(spec).expect("a HelmRepositorySpec"))
    }

    #[test]
    fn a_helm_repository_plan_follows_its_type_and_flux_s_defaults() {
        let plan = helm(json!({})).expect("a valid spec");
        assert_eq!(
            plan,
            HelmRepositoryPlan {
                url: "https://charts.example.com/stable".into(),
                oci: false,
                interval: Duration::from_secs(300),
                timeout: Duration::from_secs(60),
                secret: None,
                cert_secret: None,
                pass_credentials: false,
            }
        );
        let plan = helm(json!({"timeout": "1m30s", "secretRef": {"name": "creds"},
                               "certSecretRef": {"name": "tls"}, "passCredentials": true}))
        .expect("a valid spec");
        assert_eq!(plan.timeout, Duration::from_secs(90));
        assert_eq!(plan.secret.as_deref(), Some("creds"));
        assert_eq!(plan.cert_secret.as_deref(), Some("tls"));
        assert!(plan.pass_credentials);
        assert!(
            helm(json!({"type": "oci", "url": "oci://ghcr.io/org/charts"}))
                .expect("an OCI repository")
                .oci
        );

        let wrong = helm(json!({"url": "oci://ghcr.io/org/charts"})).unwrap_err();
        assert!(
            wrong.to_string().contains("not an http:// or https:// URL"),
            "{wrong}"
        );
        let wrong = helm(json!({"type": "oci", "url": "https://u:secret@h/charts"})).unwrap_err();
        assert!(
            wrong
                .to_string()
                .contains("'https://h/charts' is not an oci://"),
            "{wrong}"
        );
        assert!(!wrong.to_string().contains("secret"));
        assert!(matches!(
            helm(json!({"timeout": "soon"})),
            Err(Invalid::Duration {
                field: "timeout",
                ..
            })
        ));
    }

    #[test]
    fn only_http_https_and_ssh_urls_are_allowed() {
        for url in [
            "https://github.com/a/b",
            "http://127.0.0.1/git/a.git",
            "ssh://git@h/a",
        ] {
            assert!(allowed_url(url).is_ok(), "{url}");
        }
        for url in [
            "file:///etc",
            "/var/lib/repo",
            "git://h/a.git",
            "git@github.com:a/b",
        ] {
            assert!(allowed_url(url).is_err(), "{url}");
        }
        let e =
            git_repository(&spec(json!({"url": "file://user:s3cret@host/x"}))).expect_err("file");
        assert_eq!(e.reason(), "URLInvalid");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn reference_precedence_is_commit_name_semver_tag_branch() {
        let sha = "0123456789abcdef0123456789abcdef01234567";
        let all = json!({"ref": {"commit": sha, "name": "refs/heads/x", "semver": ">=1.0.0",
                                  "tag": "v1", "branch": "dev"}});
        assert_eq!(plan(all).reference, Reference::commit(sha));
        let p =
            plan(json!({"ref": {"name": "refs/pull/1/head", "semver": ">=1.0.0", "tag": "v1"}}));
        assert_eq!(p.reference, Reference::RefName("refs/pull/1/head".into()));
        assert!(matches!(
            plan(json!({"ref": {"semver": ">=1.0.0", "tag": "v1"}})).reference,
            Reference::Semver(_)
        ));
        assert_eq!(
            plan(json!({"ref": {"tag": "v1", "branch": "dev"}})).reference,
            Reference::tag("v1")
        );
        assert_eq!(
            plan(json!({"ref": {"branch": "dev"}})).reference,
            Reference::branch("dev")
        );
        assert_eq!(plan(json!({})).reference, Reference::branch("master"));
    }

    #[test]
    fn an_invalid_reference_is_named() {
        let e = git_repository(&spec(json!({"ref": {"commit": "abc"}}))).expect_err("short commit");
        assert!(
            e.to_string().contains("spec.ref") && e.to_string().contains("40 hex"),
            "{e}"
        );
        assert!(git_repository(&spec(json!({"ref": {"branch": "a..b"}}))).is_err());
        assert!(git_repository(&spec(json!({"ref": {"semver": "not a range"}}))).is_err());
    }

    #[test]
    fn interval_timeout_secret_and_ignore() {
        let p = plan(
            json!({"interval": "10m", "timeout": "30s", "secretRef": {"name": "creds"},
                            "ignore": "/*\n!/deploy\n"}),
        );
        assert_eq!(p.interval, Duration::from_secs(600));
        assert_eq!(p.timeout, Some(Duration::from_secs(30)));
        assert_eq!(p.secret.as_deref(), Some("creds"));
        assert_eq!(p.ignore.as_deref(), Some("/*\n!/deploy\n"));
        let p = plan(json!({"interval": ""}));
        assert_eq!((p.interval, p.timeout), (Duration::from_secs(60), None));
        assert!(matches!(
            git_repository(&spec(json!({"timeout": "soon"}))),
            Err(Invalid::Duration {
                field: "timeout",
                ..
            })
        ));
    }
}
