//! The image automation kinds' specs: ImagePolicy, ImageRepository, ImageUpdateAutomation.

use std::time::Duration;

use gitops_core::image::policy::{Choice, Order, Policy};
use gitops_flux::api::{ImagePolicySpec, ImageRepositorySpec, ImageUpdateAutomationSpec};
use gitops_registry::RegistryScanner;

use super::{Invalid, duration};
use crate::engine::{Key, Kind};

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

/// What an ImageRepository's spec asks of a scan, before its Secret is read.
#[derive(Debug)]
pub struct ImageRepositoryPlan {
    /// The image whose tags are listed (`spec.image`, without a tag).
    pub image: String,
    /// How often to scan (`interval`, five minutes when unset).
    pub interval: Duration,
    /// The timeout of each registry request (`timeout`, 30 s when unset).
    pub timeout: Duration,
    /// The Secret with a `.dockerconfigjson`, in the object's namespace.
    pub secret: Option<String>,
    /// A scanner with the timeout, `insecure` and `exclusionList` in force; credentials from
    /// the Secret are added by the pass.
    pub scanner: RegistryScanner,
}

/// Translates the spec of an ImageRepository.
///
/// # Errors
/// [`Invalid`] names the first field that cannot be honoured: an empty `image`, a malformed
/// duration, an `exclusionList` entry that is not a regular expression.
pub fn image_repository(spec: &ImageRepositorySpec) -> Result<ImageRepositoryPlan, Invalid> {
    let image = spec.image.trim();
    if image.is_empty() {
        return Err(Invalid::Value {
            field: "image",
            message: "the image to scan must be set".into(),
        });
    }
    let interval = duration("interval", Some(&spec.interval), Duration::from_secs(300))?;
    let timeout = duration("timeout", spec.timeout.as_deref(), Duration::from_secs(30))?;
    let client = |e: gitops_registry::Error| Invalid::Value {
        field: "timeout",
        message: format!("no HTTP client for this timeout: {e}"),
    };
    let mut scanner = RegistryScanner::with_timeout(timeout)
        .map_err(client)?
        .with_insecure(spec.insecure);
    if let Some(patterns) = &spec.exclusion_list {
        let patterns: Vec<&str> = patterns.iter().map(String::as_str).collect();
        scanner = scanner
            .with_exclusions(&patterns)
            .map_err(|e| Invalid::Pattern {
                field: "exclusionList",
                message: e.to_string(),
            })?;
    }
    Ok(ImageRepositoryPlan {
        image: image.to_string(),
        interval,
        timeout,
        secret: spec.secret_ref.as_ref().map(|s| s.name.clone()),
        scanner,
    })
}

/// What an ImageUpdateAutomation's spec asks of a run, before its GitRepository is read.
#[derive(Clone, Debug, PartialEq)]
pub struct AutomationPlan {
    /// The GitRepository whose branch is rewritten; always in the automation's namespace.
    pub source: Key,
    /// How often to run (`interval`, ten minutes when unset).
    pub interval: Duration,
    /// `git.checkout.ref.branch`, when set (else the GitRepository's branch).
    pub checkout_branch: Option<String>,
    /// `git.push.branch`, when set (else the checkout branch).
    pub push_branch: Option<String>,
    /// `update.path`, relative to the repository root, when set.
    pub path: Option<String>,
    /// The commit author's name and email.
    pub author: (String, String),
    /// `git.commit.messageTemplate`, when set.
    pub message_template: Option<String>,
}

/// Translates the spec of the ImageUpdateAutomation in `namespace`.
///
/// # Errors
/// [`Invalid`] names the first field that cannot be honoured. As in Flux, the source must be
/// a GitRepository in the automation's own namespace (its Secret is that namespace's), the
/// strategy `Setters`, and `update.path` a relative path that stays inside the checkout
/// (symlinks are checked in the checkout itself).
pub fn image_update_automation(
    namespace: &str,
    spec: &ImageUpdateAutomationSpec,
) -> Result<AutomationPlan, Invalid> {
    let source = &spec.source_ref;
    if !source.kind.is_empty() && source.kind != "GitRepository" {
        return Err(Invalid::SourceKind(source.kind.clone()));
    }
    let source_namespace = source.namespace.as_deref().unwrap_or(namespace);
    if source_namespace != namespace {
        return Err(Invalid::AccessDenied {
            field: "sourceRef",
            message: format!(
                "cannot use GitRepository {source_namespace}/{}: the sourceRef must be in the ImageUpdateAutomation's namespace {namespace}",
                source.name
            ),
        });
    }
    let interval = duration("interval", Some(&spec.interval), Duration::from_secs(600))?;
    let mut path = None;
    if let Some(update) = &spec.update {
        if !update.strategy.is_empty() && update.strategy != "Setters" {
            return Err(Invalid::Unsupported {
                field: "update.strategy",
                value: update.strategy.clone(),
                supported: "Setters",
            });
        }
        if let Some(written) = &update.path {
            if leaves_checkout(written) {
                return Err(Invalid::AccessDenied {
                    field: "update.path",
                    message: format!("'{written}' must be a relative path inside the repository"),
                });
            }
            path = Some(written.clone());
        }
    }
    let author = &spec.git.commit.author;
    Ok(AutomationPlan {
        source: Key::new(Kind::GitRepository, namespace, &source.name),
        interval,
        checkout_branch: spec
            .git
            .checkout
            .as_ref()
            .and_then(|c| c.reference.branch.clone()),
        push_branch: spec.git.push.as_ref().and_then(|p| p.branch.clone()),
        path,
        author: (author.name.clone(), author.email.clone()),
        message_template: spec.git.commit.message_template.clone(),
    })
}

/// Whether `path` leaves the checkout before any symlink is looked at: absolute, or `..`
/// climbing above its start.
fn leaves_checkout(path: &str) -> bool {
    let mut depth = 0usize;
    for component in std::path::Path::new(path).components() {
        match component {
            std::path::Component::Normal(_) => depth += 1,
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => match depth.checked_sub(1) {
                Some(up) => depth = up,
                None => return true,
            },
            std::path::Component::RootDir | std::path::Component::Prefix(_) => return true,
        }
    }
    false
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn update_paths_that_leave_the_checkout_are_refused() {
        for path in ["../..", "apps/../..", "/etc", "./../x"] {
            assert!(leaves_checkout(path), "{path}");
        }
        for path in [".", "./apps", "apps/../infra", "apps/x/.."] {
            assert!(!leaves_checkout(path), "{path}");
        }
    }

    fn repository(fields: serde_json::Value) -> Result<ImageRepositoryPlan, Invalid> {
        let mut spec = json!({"image": "registry.example/team/web", "interval": "5m"});
        if let (Some(spec), Some(fields)) = (spec.as_object_mut(), fields.as_object()) {
            spec.extend(fields.clone());
        }
        image_repository(&serde_json::from_value(spec).expect("an ImageRepositorySpec"))
    }

    #[test]
    fn image_repository_fields() {
        let p = repository(json!({})).expect("valid");
        assert_eq!(p.image, "registry.example/team/web");
        assert_eq!(p.interval, Duration::from_secs(300));
        assert_eq!(p.timeout, Duration::from_secs(30));
        assert_eq!(p.secret, None);
        let p = repository(json!({
            "interval": "1h", "timeout": "45s", "secretRef": {"name": "pull"},
            "insecure": true, "exclusionList": ["^dev-", "\\.sig$"]
        }))
        .expect("valid");
        assert_eq!(p.interval, Duration::from_secs(3600));
        assert_eq!(p.timeout, Duration::from_secs(45));
        assert_eq!(p.secret.as_deref(), Some("pull"));
    }

    #[test]
    fn image_repository_refusals_name_the_field() {
        let e = repository(json!({"image": "  "})).expect_err("no image");
        assert!(e.to_string().starts_with("spec.image:"), "{e}");
        let e = repository(json!({"interval": "often"})).expect_err("bad interval");
        assert_eq!(
            e,
            Invalid::Duration {
                field: "interval",
                value: "often".into()
            }
        );
        let e = repository(json!({"timeout": "10 parsecs"})).expect_err("bad timeout");
        assert!(
            matches!(
                e,
                Invalid::Duration {
                    field: "timeout",
                    ..
                }
            ),
            "{e}"
        );
        let e = repository(json!({"exclusionList": ["("]})).expect_err("bad pattern");
        assert!(
            matches!(
                e,
                Invalid::Pattern {
                    field: "exclusionList",
                    ..
                }
            ),
            "{e}"
        );
        assert_eq!(e.reason(), "ReconciliationFailed");
    }

    fn automation(fields: serde_json::Value) -> Result<AutomationPlan, Invalid> {
        let mut spec = json!({
            "sourceRef": {"kind": "GitRepository", "name": "fleet"},
            "interval": "30m",
            "git": {"commit": {"author": {"name": "bot", "email": "bot@example.org"}}}
        });
        if let (Some(spec), Some(fields)) = (spec.as_object_mut(), fields.as_object()) {
            spec.extend(fields.clone());
        }
        image_update_automation(
            "apps",
            &serde_json::from_value(spec).expect("an ImageUpdateAutomationSpec"),
        )
    }

    #[test]
    fn automation_defaults() {
        let p = automation(json!({})).expect("valid");
        assert_eq!(p.source, Key::new(Kind::GitRepository, "apps", "fleet"));
        assert_eq!(p.interval, Duration::from_secs(1800));
        assert_eq!(p.checkout_branch, None);
        assert_eq!(p.push_branch, None);
        assert_eq!(p.path, None);
        assert_eq!(p.author, ("bot".to_string(), "bot@example.org".to_string()));
        assert_eq!(p.message_template, None);
    }

    #[test]
    fn automation_git_and_update_fields() {
        let p = automation(json!({
            "git": {
                "checkout": {"ref": {"branch": "main"}},
                "commit": {"author": {"name": "bot", "email": "bot@example.org"},
                           "messageTemplate": "update images"},
                "push": {"branch": "image-updates"}
            },
            "update": {"strategy": "Setters", "path": "./clusters/vps"}
        }))
        .expect("valid");
        assert_eq!(p.checkout_branch.as_deref(), Some("main"));
        assert_eq!(p.push_branch.as_deref(), Some("image-updates"));
        assert_eq!(p.path.as_deref(), Some("./clusters/vps"));
        assert_eq!(p.message_template.as_deref(), Some("update images"));
    }

    #[test]
    fn automation_refusals() {
        let e = automation(json!({"sourceRef": {"kind": "GitRepository", "name": "fleet", "namespace": "flux-system"}}))
            .expect_err("another namespace");
        assert_eq!(e.reason(), "AccessDenied");
        assert!(e.to_string().contains("flux-system/fleet"), "{e}");
        let e = automation(json!({"sourceRef": {"kind": "OCIRepository", "name": "fleet"}}))
            .expect_err("not a GitRepository");
        assert_eq!(e, Invalid::SourceKind("OCIRepository".into()));
        let e = automation(json!({"update": {"strategy": "Rewrite"}})).expect_err("strategy");
        assert!(
            matches!(
                e,
                Invalid::Unsupported {
                    field: "update.strategy",
                    ..
                }
            ),
            "{e}"
        );
        let e = automation(json!({"update": {"strategy": "Setters", "path": "../other"}}))
            .expect_err("path out");
        assert_eq!(e.reason(), "AccessDenied");
        let e = automation(json!({"interval": "soon"})).expect_err("interval");
        assert!(
            matches!(
                e,
                Invalid::Duration {
                    field: "interval",
                    ..
                }
            ),
            "{e}"
        );
    }
}
