//! A GitRepository's, HelmRepository's or OCIRepository's spec as a fetch's options.

use std::time::Duration;

use gitops_core::image::policy::SemverRange;
use gitops_flux::api::{GitRepositorySpec, HelmRepositorySpec, OciRepositorySpec};
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

/// What an OCIRepository's spec asks of a pull.
#[derive(Clone, Debug, PartialEq)]
pub struct OciRepositoryPlan {
    /// The URL as written (`oci://host/path`), for messages.
    pub url: String,
    /// The repository the registry client names: `host[:port]/path`, without the scheme.
    pub repository: String,
    /// `spec.ref` by Flux's precedence: digest, then semver, then tag; tag `latest` when
    /// nothing is set.
    pub reference: OciReference,
    /// `layerSelector.mediaType`: the layer kept; the first layer when unset.
    pub media_type: Option<String>,
    /// `layerSelector.operation`, `extract` when unset.
    pub operation: LayerOperation,
    /// How often to look for a new digest (`interval`, a minute when unset).
    pub interval: Duration,
    /// The timeout of one pull (`timeout`, 60 s when unset, as in Flux).
    pub timeout: Duration,
    /// The Secret with credentials (`.dockerconfigjson`, or `username` and `password`).
    pub secret: Option<String>,
    /// `insecure`: talk plain HTTP to the registry.
    pub insecure: bool,
}

/// The manifest an OCIRepository follows.
#[derive(Clone, Debug, PartialEq)]
pub enum OciReference {
    /// A manifest digest (`sha256:<64 hex>`); the revision is the digest alone.
    Digest(String),
    /// The newest tag that satisfies `range` (Masterminds semantics, as Helm and Flux), among
    /// the tags `filter` matches when set.
    Semver {
        /// The range as written.
        range: String,
        /// `semverFilter`.
        filter: Option<TagFilter>,
    },
    /// A tag.
    Tag(String),
}

/// `semverFilter`: a regular expression a tag must match to be considered; equal when the
/// patterns are.
#[derive(Clone, Debug)]
pub struct TagFilter(regex::Regex);

impl TagFilter {
    /// Whether `tag` is considered.
    pub fn matches(&self, tag: &str) -> bool {
        self.0.is_match(tag)
    }
}

impl PartialEq for TagFilter {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// What is done with the selected layer (`layerSelector.operation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayerOperation {
    /// `extract`, Flux's default.
    Extract,
    /// `copy`: the layer as it is.
    Copy,
}

impl LayerOperation {
    /// The spec's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LayerOperation::Extract => "extract",
            LayerOperation::Copy => "copy",
        }
    }
}

/// Translates the spec of an OCIRepository.
///
/// # Errors
/// [`Invalid`] names the first field that cannot be honoured: a URL that is not
/// `oci://<host>/<path>` (or carries a tag or digest), a malformed digest, range, filter or
/// tag, a duration that does not parse, and what this controller does not support: `verify`,
/// a `provider` other than `generic`, `certSecretRef`, `serviceAccountName`, `ignore`.
pub fn oci_repository(spec: &OciRepositorySpec) -> Result<OciRepositoryPlan, Invalid> {
    let repository = oci_repository_name(&spec.url).map_err(|message| {
        Invalid::Url(format!(
            "URL validation failed for '{}': {message}",
            redact(&spec.url)
        ))
    })?;
    let unsupported = |field: &'static str, message: &str| Invalid::Value {
        field,
        message: message.to_string(),
    };
    if spec.verify.is_some() {
        return Err(unsupported(
            "verify",
            "signature verification (cosign, notation) is not supported by this controller",
        ));
    }
    if let Some(provider) = spec.provider.as_deref().filter(|p| !p.is_empty()) {
        if provider != "generic" {
            return Err(Invalid::Unsupported {
                field: "provider",
                value: provider.to_string(),
                supported: "generic: cloud workload identity is not supported",
            });
        }
    }
    if spec.cert_secret_ref.is_some() {
        return Err(unsupported(
            "certSecretRef",
            "a custom CA or client certificate is not supported: the registry client trusts the system's roots only",
        ));
    }
    if spec.service_account_name.is_some() {
        return Err(unsupported(
            "serviceAccountName",
            "the image pull secrets of a ServiceAccount are not supported: name the Secret in spec.secretRef",
        ));
    }
    if spec.ignore.is_some() {
        return Err(unsupported(
            "ignore",
            "not supported: the selected layer is stored as it is, never unpacked and filtered",
        ));
    }
    let r = spec.reference.clone().unwrap_or_default();
    let set = |field: &Option<String>| field.clone().filter(|v| !v.trim().is_empty());
    let reference = if let Some(digest) = set(&r.digest) {
        let hex = digest.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Invalid::Value {
                field: "ref.digest",
                message: format!("{digest:?} is not a digest (sha256:<64 lower-case hex digits>)"),
            });
        }
        OciReference::Digest(digest)
    } else if let Some(range) = set(&r.semver) {
        range.parse::<SemverRange>().map_err(|e| Invalid::Value {
            field: "ref.semver",
            message: e.to_string(),
        })?;
        let filter = match set(&r.semver_filter) {
            Some(pattern) => Some(TagFilter(regex::Regex::new(&pattern).map_err(|e| {
                Invalid::Pattern {
                    field: "ref.semverFilter",
                    message: e.to_string(),
                }
            })?)),
            None => None,
        };
        OciReference::Semver { range, filter }
    } else {
        let tag = set(&r.tag).unwrap_or_else(|| "latest".into());
        if !valid_tag(&tag) {
            return Err(Invalid::Value {
                field: "ref.tag",
                message: format!(
                    "{tag:?} is not an OCI tag (up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-')"
                ),
            });
        }
        OciReference::Tag(tag)
    };
    let selector = spec.layer_selector.clone().unwrap_or_default();
    let operation = match selector.operation.as_deref().unwrap_or_default() {
        "" | "extract" => LayerOperation::Extract,
        "copy" => LayerOperation::Copy,
        other => {
            return Err(Invalid::Unsupported {
                field: "layerSelector.operation",
                value: other.to_string(),
                supported: "extract or copy",
            });
        }
    };
    let interval = duration("interval", Some(&spec.interval), Duration::from_secs(60))?;
    let timeout = duration("timeout", spec.timeout.as_deref(), Duration::from_secs(60))?;
    Ok(OciRepositoryPlan {
        url: spec.url.clone(),
        repository,
        reference,
        media_type: selector.media_type.filter(|m| !m.is_empty()),
        operation,
        interval,
        timeout,
        secret: spec.secret_ref.as_ref().map(|s| s.name.clone()),
        insecure: spec.insecure,
    })
}

/// The `host[:port]/path` of an `oci://` URL, or why it is not one Flux accepts.
fn oci_repository_name(url: &str) -> Result<String, String> {
    let format = "URL must be in format 'oci://<domain>/<org>/<repo>'";
    let rest = url
        .strip_prefix("oci://")
        .ok_or(format)?
        .trim_end_matches('/');
    let (_, path) = rest.split_once('/').ok_or(format)?;
    if let Some((_, tag)) = path.split_once(':') {
        return Err(format!("URL must not contain a tag; remove ':{tag}'"));
    }
    if path.contains('@') {
        return Err("URL must not contain a digest; set spec.ref.digest".into());
    }
    gitops_registry::Reference::parse(rest)
        .map(|reference| reference.to_string())
        .map_err(|_| format!("{format}, its path of lower-case letters, digits, '.', '_' and '-'"))
}

/// Whether `tag` is a valid OCI tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_';
    tag.len() <= 128
        && tag.starts_with(allowed)
        && tag.chars().all(|c| allowed(c) || c == '.' || c == '-')
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

    fn oci(fields: serde_json::Value) -> Result<OciRepositoryPlan, Invalid> {
        let mut spec = json!({"url": "oci://ghcr.io/org/charts/demo", "interval": "5m"});
        if let (Some(spec), Some(fields)) = (spec.as_object_mut(), fields.as_object()) {
            spec.extend(fields.clone());
        }
        oci_repository(&serde_json::from_value(spec).expect("an OciRepositorySpec"))
    }

    #[test]
    fn an_oci_repository_plan_follows_flux_s_defaults() {
        let plan = oci(json!({})).expect("a valid spec");
        assert_eq!(
            plan,
            OciRepositoryPlan {
                url: "oci://ghcr.io/org/charts/demo".into(),
                repository: "ghcr.io/org/charts/demo".into(),
                reference: OciReference::Tag("latest".into()),
                media_type: None,
                operation: LayerOperation::Extract,
                interval: Duration::from_secs(300),
                timeout: Duration::from_secs(60),
                secret: None,
                insecure: false,
            }
        );
        let plan = oci(json!({
            "url": "oci://127.0.0.1:5000/charts/demo/", "timeout": "2m", "insecure": true,
            "secretRef": {"name": "creds"}, "provider": "generic",
            "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                              "operation": "copy"}
        }))
        .expect("a valid spec");
        assert_eq!(plan.repository, "127.0.0.1:5000/charts/demo");
        assert_eq!(plan.timeout, Duration::from_secs(120));
        assert!(plan.insecure);
        assert_eq!(plan.secret.as_deref(), Some("creds"));
        assert_eq!(plan.operation, LayerOperation::Copy);
        assert_eq!(
            plan.media_type.as_deref(),
            Some("application/vnd.cncf.helm.chart.content.v1.tar+gzip")
        );
    }

    #[test]
    fn an_oci_reference_is_digest_then_semver_then_tag() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let all = json!({"ref": {"digest": digest, "semver": ">=1.0.0", "tag": "v1"}});
        assert_eq!(oci(all).unwrap().reference, OciReference::Digest(digest));
        let semver =
            oci(json!({"ref": {"semver": ">=1.0.0 <2", "semverFilter": "^1\\.", "tag": "v1"}}))
                .unwrap()
                .reference;
        let OciReference::Semver { range, filter } = semver else {
            panic!("a semver reference: {semver:?}");
        };
        assert_eq!(range, ">=1.0.0 <2");
        let filter = filter.expect("a filter");
        assert!(filter.matches("1.2.3") && !filter.matches("2.0.0"));
        assert_eq!(
            oci(json!({"ref": {"tag": "6.7.0", "semver": ""}}))
                .unwrap()
                .reference,
            OciReference::Tag("6.7.0".into())
        );

        let wrong = |fields| oci(fields).expect_err("refused").to_string();
        assert!(wrong(json!({"ref": {"digest": "sha256:abc"}})).contains("spec.ref.digest"));
        assert!(wrong(json!({"ref": {"semver": "not a range"}})).contains("spec.ref.semver"));
        assert!(
            wrong(json!({"ref": {"semver": "*", "semverFilter": "("}}))
                .contains("spec.ref.semverFilter")
        );
        assert!(wrong(json!({"ref": {"tag": "-bad"}})).contains("spec.ref.tag"));
    }

    #[test]
    fn an_oci_url_must_name_a_repository_without_tag_or_credentials() {
        let url = |url: &str| oci(json!({ "url": url })).expect_err("refused");
        let e = url("https://ghcr.io/org/demo");
        assert_eq!(e.reason(), "URLInvalid");
        assert!(e.to_string().contains("oci://<domain>/<org>/<repo>"), "{e}");
        let e = url("oci://ghcr.io/org/demo:1.0.0");
        assert!(e.to_string().contains("remove ':1.0.0'"), "{e}");
        assert!(url("oci://ghcr.io").to_string().contains("oci://<domain>"));
        assert!(
            url("oci://ghcr.io/Org/Demo")
                .to_string()
                .contains("lower-case")
        );
        let e = url("oci://user:s3cret@ghcr.io/org/demo");
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }

    #[test]
    fn what_is_not_supported_stalls_with_the_field_named() {
        for (fields, field) in [
            (json!({"verify": {"provider": "cosign"}}), "spec.verify"),
            (json!({"provider": "aws"}), "spec.provider"),
            (
                json!({"certSecretRef": {"name": "tls"}}),
                "spec.certSecretRef",
            ),
            (
                json!({"serviceAccountName": "puller"}),
                "spec.serviceAccountName",
            ),
            (json!({"ignore": "/*"}), "spec.ignore"),
            (
                json!({"layerSelector": {"operation": "move"}}),
                "spec.layerSelector.operation",
            ),
            (json!({"timeout": "soon"}), "spec.timeout"),
        ] {
            let e = oci(fields.clone()).expect_err("refused");
            assert!(e.to_string().starts_with(field), "{fields}: {e}");
        }
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
