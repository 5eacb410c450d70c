//! A Kustomization's spec as a pass's options.

use std::time::Duration;

use gitops_core::ObjectRef;
use gitops_core::apply::ApplyOptions;
use gitops_core::reconcile::Options;
use gitops_flux::api::{CommonMetadata, KustomizationSpec, SubstituteReference};
use gitops_kustomize::{BuildOptions, Overrides};

use super::{Invalid, duration};
use crate::engine::{Key, Kind};

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
    /// `serviceAccountName`: the account of the Kustomization's namespace to apply as.
    pub service_account: Option<String>,
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
        service_account: spec
            .service_account_name
            .clone()
            .filter(|name| !name.trim().is_empty()),
    })
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

    #[test]
    fn service_account_name_is_carried_and_blank_means_none() {
        assert_eq!(plan(json!({})).service_account, None);
        assert_eq!(
            plan(json!({"serviceAccountName": "deployer"}))
                .service_account
                .as_deref(),
            Some("deployer")
        );
        assert_eq!(
            plan(json!({"serviceAccountName": " "})).service_account,
            None
        );
    }
}
