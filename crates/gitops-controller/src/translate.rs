//! Flux's objects as the library's options (Kustomization, GitRepository, ImagePolicy): plain functions from a spec to what a pass
//! composes, checked before anything is read from the cluster. A spec these functions refuse
//! is [`Invalid`]: its pass records a stalled failure and waits for the object to change,
//! since retrying the same spec cannot help.

use std::time::Duration;

use gitops_core::ObjectRef;
use gitops_core::apply::ApplyOptions;
use gitops_core::image::policy::{Choice, Order, Policy};
use gitops_core::reconcile::Options;
use gitops_flux::api::{
    CommonMetadata, GitRepositorySpec, ImagePolicySpec, KustomizationSpec, SubstituteReference,
};
use gitops_git::Reference;
use gitops_kustomize::{BuildOptions, Overrides};

use crate::engine::{Key, Kind};

/// A spec field the controller cannot honour, named by its path in the object.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Invalid {
    /// A duration field that is set but is not a Go duration.
    #[error("spec.{field}: {value:?} is not a duration (Go syntax: 30s, 5m, 1h30m)")]
    Duration {
        /// The field (`interval`, `retryInterval`, `timeout`).
        field: &'static str,
        /// Its text.
        value: String,
    },
    /// A source kind this controller does not serve.
    #[error("spec.sourceRef.kind: {0} is not supported (GitRepository is)")]
    SourceKind(String),
    /// A decryption provider other than SOPS.
    #[error("spec.decryption.provider: {0} is not supported (sops is)")]
    DecryptionProvider(String),
    /// A `substituteFrom` entry of a kind other than ConfigMap or Secret.
    #[error(
        "spec.postBuild.substituteFrom[{index}].kind: {kind} is not supported (ConfigMap or Secret)"
    )]
    SubstituteKind {
        /// The entry's position.
        index: usize,
        /// Its kind.
        kind: String,
    },
    /// A GitRepository URL of a scheme Flux does not allow (credentials left out).
    #[error("spec.url: {0}")]
    Url(String),
    /// A GitRepository `spec.ref` that does not name a valid reference.
    #[error("spec.ref: {0}")]
    Reference(#[from] gitops_git::reference::ParseError),
    /// An ImagePolicy whose choice or tag filter cannot be used.
    #[error("spec.{field}: {message}")]
    Policy {
        /// The field (`policy`, `policy.semver.range`, `filterTags.pattern`).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// A patch or image entry that does not convert to kustomize's form.
    #[error("spec.{field}: {message}")]
    Entry {
        /// The list (`patches`, `patchesJson6902`, `images`).
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Invalid {
    /// The condition reason Flux uses for a failure of this part of the spec.
    pub fn reason(&self) -> &'static str {
        match self {
            Invalid::SourceKind(_) => "ArtifactFailed",
            Invalid::Url(_) => "URLInvalid",
            Invalid::Reference(_) => "GitOperationFailed",
            Invalid::DecryptionProvider(_) => "DecryptionFailed",
            Invalid::SubstituteKind { .. } | Invalid::Entry { .. } => "BuildFailed",
            Invalid::Duration { .. } | Invalid::Policy { .. } => "ReconciliationFailed",
        }
    }
}

/// A duration field: `fallback` when unset or empty (or zero, which would spin), an error
/// when set to something that is not a Go duration.
fn duration(
    field: &'static str,
    text: Option<&str>,
    fallback: Duration,
) -> Result<Duration, Invalid> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(fallback),
        Some(text) => match gitops_flux::parse_duration(text) {
            Some(d) if d.is_zero() => Ok(fallback),
            Some(d) => Ok(d),
            None => Err(Invalid::Duration {
                field,
                value: text.to_string(),
            }),
        },
    }
}

/// What a Kustomization's spec asks of a pass, before its ConfigMaps and Secrets are read.
#[derive(Clone, Debug)]
pub struct KustomizationPlan {
    /// The GitRepository whose artifact is built.
    pub source: Key,
    /// The Kustomizations that must be ready first.
    pub dependencies: Vec<Key>,
    /// How often to reconcile (`interval`, 10 minutes when unset).
    pub interval: Duration,
    /// How soon to retry after a failure (`retryInterval`, else `interval`).
    pub retry_interval: Duration,
    /// The reconcile options: path, prune, wait, timeout, force, target namespace, intervals
    /// and the inline `postBuild.substitute` variables (`substituteFrom` is read later and
    /// merged under them).
    pub options: Options,
    /// The kustomize build with the spec's overrides (Flux's generated kustomization).
    pub build: BuildOptions,
    /// `commonMetadata`, set on every built object.
    pub common_metadata: Option<CommonMetadata>,
    /// `postBuild.substituteFrom`, kinds checked, in order (later ones win).
    pub substitute_from: Vec<SubstituteReference>,
    /// The Secret holding SOPS keys, when decryption is on and names one.
    pub decryption_secret: Option<String>,
    /// `healthChecks`, as object references (also in `options`).
    pub health_checks: Vec<ObjectRef>,
}

/// Translates the spec of the Kustomization in `namespace`.
///
/// # Errors
/// [`Invalid`] names the first field that cannot be honoured.
pub fn kustomization(
    namespace: &str,
    spec: &KustomizationSpec,
) -> Result<KustomizationPlan, Invalid> {
    fn values<T: serde::Serialize>(
        field: &'static str,
        items: &[T],
    ) -> Result<Vec<serde_json::Value>, Invalid> {
        items
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()
            .map_err(|e| Invalid::Entry {
                field,
                message: e.to_string(),
            })
    }

    let source = &spec.source_ref;
    if source.kind != "GitRepository" {
        return Err(Invalid::SourceKind(source.kind.clone()));
    }
    let interval = duration("interval", Some(&spec.interval), Duration::from_secs(600))?;
    let retry_interval = duration("retryInterval", spec.retry_interval.as_deref(), interval)?;
    let timeout = duration("timeout", spec.timeout.as_deref(), interval)?;

    let decryption_secret = match &spec.decryption {
        Some(d) if d.provider != "sops" => {
            return Err(Invalid::DecryptionProvider(d.provider.clone()));
        }
        Some(d) => d.secret_ref.as_ref().map(|s| s.name.clone()),
        None => None,
    };
    let (substitute, substitute_from) = match &spec.post_build {
        Some(post) => {
            for (index, from) in post.substitute_from.iter().enumerate() {
                if from.kind != "ConfigMap" && from.kind != "Secret" {
                    return Err(Invalid::SubstituteKind {
                        index,
                        kind: from.kind.clone(),
                    });
                }
            }
            (post.substitute.clone(), post.substitute_from.clone())
        }
        None => Default::default(),
    };

    let mut apply = ApplyOptions::default().with_force(spec.force);
    if let Some(target) = &spec.target_namespace {
        apply = apply.with_target_namespace(target);
    }
    let health_checks: Vec<ObjectRef> = spec
        .health_checks
        .iter()
        .map(|check| {
            ObjectRef::from_api_version(
                check.api_version.as_deref().unwrap_or("v1"),
                &check.kind,
                check.namespace.as_deref(),
                &check.name,
            )
        })
        .collect();
    let options = Options::default()
        .with_path(spec.path.clone().unwrap_or_else(|| ".".into()))
        .with_prune(spec.prune)
        .with_wait(spec.wait)
        .with_timeout(timeout)
        .with_health_checks(health_checks.clone())
        .with_apply(apply)
        .with_substitute(substitute)
        .with_interval(interval)
        .with_retry_interval(retry_interval);

    let mut overrides = Overrides::default();
    overrides.namespace = spec.target_namespace.clone();
    overrides.name_prefix = spec.name_prefix.clone();
    overrides.name_suffix = spec.name_suffix.clone();
    overrides.patches = values("patches", &spec.patches)?;
    overrides.patches_strategic_merge = spec.patches_strategic_merge.clone();
    overrides.patches_json6902 = values("patchesJson6902", &spec.patches_json6902)?;
    overrides.images = values("images", &spec.images)?;
    overrides.components = spec.components.clone();
    overrides.ignore_missing_components = spec.ignore_missing_components;

    Ok(KustomizationPlan {
        source: Key::new(
            Kind::GitRepository,
            source.namespace.as_deref().unwrap_or(namespace),
            &source.name,
        ),
        dependencies: spec
            .depends_on
            .iter()
            .map(|d| {
                Key::new(
                    Kind::Kustomization,
                    d.namespace.as_deref().unwrap_or(namespace),
                    &d.name,
                )
            })
            .collect(),
        interval,
        retry_interval,
        options,
        build: BuildOptions::default().with_overrides(overrides),
        common_metadata: spec.common_metadata.clone(),
        substitute_from,
        decryption_secret,
        health_checks,
    })
}

/// Translates an ImagePolicy's spec into the policy that picks the latest tag.
///
/// # Errors
/// [`Invalid::Policy`] when not exactly one of `semver`, `alphabetical` and `numerical` is
/// set, the semver range does not parse (Flux's range syntax), or the tag filter's pattern is
/// not a regular expression.
pub fn image_policy(spec: &ImagePolicySpec) -> Result<Policy, Invalid> {
    let order = |o: &Option<String>| match o.as_deref() {
        Some("desc") => Order::Desc,
        _ => Order::Asc,
    };
    let choice = match (
        &spec.policy.semver,
        &spec.policy.alphabetical,
        &spec.policy.numerical,
    ) {
        (Some(semver), None, None) => {
            Choice::Semver(semver.range.parse().map_err(|e| Invalid::Policy {
                field: "policy.semver.range",
                message: format!("{:?}: {e}", semver.range),
            })?)
        }
        (None, Some(a), None) => Choice::Alphabetical(order(&a.order)),
        (None, None, Some(n)) => Choice::Numerical(order(&n.order)),
        _ => {
            return Err(Invalid::Policy {
                field: "policy",
                message: "exactly one of semver, alphabetical and numerical must be set".into(),
            });
        }
    };
    let policy = Policy::new(choice);
    match &spec.filter_tags {
        Some(filter) => policy
            .with_filter(&filter.pattern, filter.extract.as_deref().unwrap_or("$0"))
            .map_err(|e| Invalid::Policy {
                field: "filterTags.pattern",
                message: e.to_string(),
            }),
        None => Ok(policy),
    }
}

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

    /// The spec of a Kustomization in `flux-system` with `fields` over a minimal one.
    fn spec(fields: serde_json::Value) -> KustomizationSpec {
        let mut spec =
            json!({"interval": "5m", "sourceRef": {"kind": "GitRepository", "name": "repo"}});
        if let (Some(spec), Some(fields)) = (spec.as_object_mut(), fields.as_object()) {
            spec.extend(fields.clone());
        }
        serde_json::from_value(spec).expect("a valid KustomizationSpec")
    }

    fn plan(fields: serde_json::Value) -> KustomizationPlan {
        kustomization("flux-system", &spec(fields)).expect("a valid spec")
    }

    fn refused(fields: serde_json::Value) -> Invalid {
        kustomization("flux-system", &spec(fields)).expect_err("an invalid spec")
    }

    #[test]
    fn defaults_of_a_minimal_spec() {
        let p = plan(json!({}));
        assert_eq!(
            p.source,
            Key::new(Kind::GitRepository, "flux-system", "repo")
        );
        assert_eq!(p.interval, Duration::from_secs(300));
        assert_eq!(p.retry_interval, p.interval);
        assert_eq!(p.options.timeout, p.interval);
        assert_eq!(p.options.path, std::path::PathBuf::from("."));
        assert!(!p.options.prune && !p.options.wait && !p.options.apply.force);
        assert_eq!(p.options.apply.target_namespace, None);
        assert!(p.dependencies.is_empty() && p.health_checks.is_empty());
        assert!(p.decryption_secret.is_none() && p.substitute_from.is_empty());
        assert_eq!(p.build.overrides, Overrides::default());
    }

    #[test]
    fn intervals_and_timeout() {
        let p = plan(json!({"interval": "1h", "retryInterval": "2m", "timeout": "90s"}));
        assert_eq!(p.interval, Duration::from_secs(3600));
        assert_eq!(p.options.interval, Duration::from_secs(3600));
        assert_eq!(p.retry_interval, Duration::from_secs(120));
        assert_eq!(p.options.retry_interval, Duration::from_secs(120));
        assert_eq!(p.options.timeout, Duration::from_secs(90));
        // Unset or zero means the default, never a pass in a tight loop.
        assert_eq!(
            plan(json!({"interval": ""})).interval,
            Duration::from_secs(600)
        );
        assert_eq!(
            plan(json!({"interval": "0s"})).interval,
            Duration::from_secs(600)
        );
        assert_eq!(
            refused(json!({"interval": "five minutes"})),
            Invalid::Duration {
                field: "interval",
                value: "five minutes".into()
            }
        );
        assert!(matches!(
            refused(json!({"retryInterval": "1d"})),
            Invalid::Duration {
                field: "retryInterval",
                ..
            }
        ));
        assert!(matches!(
            refused(json!({"timeout": "-"})),
            Invalid::Duration {
                field: "timeout",
                ..
            }
        ));
    }

    #[test]
    fn source_ref_defaults_to_the_objects_namespace_and_must_be_a_git_repository() {
        let p = plan(
            json!({"sourceRef": {"kind": "GitRepository", "name": "infra", "namespace": "shared"}}),
        );
        assert_eq!(p.source, Key::new(Kind::GitRepository, "shared", "infra"));
        let e = refused(json!({"sourceRef": {"kind": "OCIRepository", "name": "infra"}}));
        assert_eq!(e, Invalid::SourceKind("OCIRepository".into()));
        assert_eq!(e.reason(), "ArtifactFailed");
    }

    #[test]
    fn path_prune_wait_force_and_target_namespace() {
        let p = plan(
            json!({"path": "./apps/prod", "prune": true, "wait": true, "force": true,
                            "targetNamespace": "prod"}),
        );
        assert_eq!(p.options.path, std::path::PathBuf::from("./apps/prod"));
        assert!(p.options.prune && p.options.wait && p.options.apply.force);
        assert_eq!(p.options.apply.target_namespace.as_deref(), Some("prod"));
        assert_eq!(p.build.overrides.namespace.as_deref(), Some("prod"));
    }

    #[test]
    fn depends_on_defaults_to_the_objects_namespace() {
        let p = plan(
            json!({"dependsOn": [{"name": "infra"}, {"name": "crds", "namespace": "platform"}]}),
        );
        assert_eq!(
            p.dependencies,
            vec![
                Key::new(Kind::Kustomization, "flux-system", "infra"),
                Key::new(Kind::Kustomization, "platform", "crds"),
            ]
        );
    }

    #[test]
    fn decryption_is_sops_with_an_optional_secret() {
        let p =
            plan(json!({"decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}}}));
        assert_eq!(p.decryption_secret.as_deref(), Some("sops-age"));
        assert_eq!(
            plan(json!({"decryption": {"provider": "sops"}})).decryption_secret,
            None
        );
        let e = refused(json!({"decryption": {"provider": "vault"}}));
        assert_eq!(e, Invalid::DecryptionProvider("vault".into()));
        assert_eq!(e.reason(), "DecryptionFailed");
    }

    #[test]
    fn post_build_inline_variables_and_sources() {
        let p = plan(json!({"postBuild": {
            "substitute": {"cluster": "vps"},
            "substituteFrom": [{"kind": "ConfigMap", "name": "vars"},
                               {"kind": "Secret", "name": "secret-vars", "optional": true}]}}));
        assert_eq!(
            p.options.substitute.get("cluster").map(String::as_str),
            Some("vps")
        );
        assert_eq!(p.substitute_from.len(), 2);
        assert!(p.substitute_from[1].optional);
        let e = refused(json!({"postBuild": {"substituteFrom": [
            {"kind": "ConfigMap", "name": "ok"}, {"kind": "Bucket", "name": "x"}]}}));
        assert_eq!(
            e,
            Invalid::SubstituteKind {
                index: 1,
                kind: "Bucket".into()
            }
        );
        assert_eq!(e.reason(), "BuildFailed");
    }

    #[test]
    fn health_checks_become_object_references() {
        let p = plan(json!({"healthChecks": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "prod"},
            {"kind": "ConfigMap", "name": "settings"}]}));
        assert_eq!(
            p.health_checks,
            vec![
                ObjectRef::from_api_version("apps/v1", "Deployment", Some("prod"), "web"),
                ObjectRef::from_api_version("v1", "ConfigMap", None, "settings"),
            ]
        );
        assert_eq!(
            p.options.health_checks, p.health_checks,
            "the pass waits for them"
        );
    }

    #[test]
    fn build_fields_become_kustomize_overrides() {
        let p = plan(json!({
            "namePrefix": "pre-", "nameSuffix": "-suf",
            "patches": [{"patch": "- op: add\n  path: /x\n  value: 1", "target": {"kind": "Deployment"}}],
            "patchesStrategicMerge": [{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}],
            "patchesJson6902": [{"target": {"kind": "Service", "name": "s"},
                                 "patch": [{"op": "remove", "path": "/spec/ports"}]}],
            "images": [{"name": "nginx", "newTag": "1.27"}],
            "components": ["../components/monitoring"],
            "ignoreMissingComponents": true,
            "commonMetadata": {"labels": {"team": "web"}}
        }));
        let o = &p.build.overrides;
        assert_eq!(o.name_prefix.as_deref(), Some("pre-"));
        assert_eq!(o.name_suffix.as_deref(), Some("-suf"));
        assert_eq!(o.patches.len(), 1);
        assert_eq!(o.patches[0]["target"]["kind"], "Deployment");
        assert_eq!(o.patches_strategic_merge.len(), 1);
        assert_eq!(o.patches_json6902[0]["target"]["name"], "s");
        assert_eq!(o.images[0]["newTag"], "1.27");
        assert_eq!(o.components, vec!["../components/monitoring".to_string()]);
        assert!(o.ignore_missing_components);
        let metadata = p.common_metadata.expect("commonMetadata");
        assert_eq!(metadata.labels.get("team").map(String::as_str), Some("web"));
    }
}

#[cfg(test)]
mod git_repository_tests {
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

#[cfg(test)]
mod image_policy_tests {
    use super::*;
    use serde_json::json;

    fn spec(policy: serde_json::Value, filter: Option<serde_json::Value>) -> ImagePolicySpec {
        let mut spec = json!({"imageRepositoryRef": {"name": "web"}, "policy": policy});
        if let Some(filter) = filter {
            spec["filterTags"] = filter;
        }
        serde_json::from_value(spec).expect("a valid ImagePolicySpec")
    }

    fn latest(
        policy: serde_json::Value,
        filter: Option<serde_json::Value>,
        tags: &[&str],
    ) -> String {
        image_policy(&spec(policy, filter))
            .expect("a valid policy")
            .latest(tags.iter().copied())
            .expect("a tag matches")
            .to_string()
    }

    #[test]
    fn each_choice_picks_as_flux_does() {
        let tags = ["1.2.0", "1.10.0", "2.0.0-rc.1", "0.9.9"];
        assert_eq!(
            latest(json!({"semver": {"range": ">=1.0.0 <2.0.0"}}), None, &tags),
            "1.10.0"
        );
        assert_eq!(
            latest(json!({"alphabetical": {}}), None, &["a", "c", "b"]),
            "c"
        );
        assert_eq!(
            latest(
                json!({"alphabetical": {"order": "desc"}}),
                None,
                &["a", "c", "b"]
            ),
            "a"
        );
        assert_eq!(
            latest(json!({"numerical": {}}), None, &["9", "10", "2"]),
            "10"
        );
        assert_eq!(
            latest(
                json!({"numerical": {"order": "desc"}}),
                None,
                &["9", "10", "2"]
            ),
            "2"
        );
    }

    #[test]
    fn filter_tags_extract_the_compared_part() {
        let filter = json!({"pattern": "^main-[a-f0-9]+-(?P<ts>[0-9]+)$", "extract": "$ts"});
        let tags = ["main-abc-100", "main-def-20", "feature-x-999"];
        assert_eq!(
            latest(json!({"numerical": {}}), Some(filter), &tags),
            "main-abc-100"
        );
    }

    #[test]
    fn invalid_policies_name_the_field() {
        let e = image_policy(&spec(json!({}), None)).expect_err("no choice");
        assert!(
            matches!(
                e,
                Invalid::Policy {
                    field: "policy",
                    ..
                }
            ),
            "{e}"
        );
        let both = json!({"semver": {"range": "1.x"}, "numerical": {}});
        assert!(matches!(
            image_policy(&spec(both, None)),
            Err(Invalid::Policy {
                field: "policy",
                ..
            })
        ));
        let e = image_policy(&spec(json!({"semver": {"range": "not a range"}}), None))
            .expect_err("range");
        assert!(
            matches!(
                e,
                Invalid::Policy {
                    field: "policy.semver.range",
                    ..
                }
            ),
            "{e}"
        );
        let e = image_policy(&spec(
            json!({"alphabetical": {}}),
            Some(json!({"pattern": "(unclosed"})),
        ))
        .expect_err("pattern");
        assert!(
            matches!(
                e,
                Invalid::Policy {
                    field: "filterTags.pattern",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.reason(), "ReconciliationFailed");
    }
}
