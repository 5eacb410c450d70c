//! Which objects a pass wakes when what it produced changed: the one table of the
//! controller's dependencies between kinds, and the selection each row stands for.

use std::sync::Arc;
use std::time::Duration;

use gitops_flux::{HelmChart, HelmRelease, ImagePolicy, ImageUpdateAutomation, Kustomization};

use crate::context::Ctx;
use crate::engine::{Key, Kind, key_of};

/// A dependency between kinds: when an object of kind `changed` has a new result (an
/// artifact, tags, a chosen image, a push, an applied revision), the objects of kind `wakes`
/// that refer to it `through` a field are due at once instead of at their next interval;
/// `select` finds them among the watched objects.
#[derive(Clone, Copy, Debug)]
pub struct Wake {
    /// The kind whose result changed.
    pub changed: Kind,
    /// The kind to wake.
    pub wakes: Kind,
    /// How a woken object refers to the changed one.
    pub through: &'static str,
    /// The objects of kind `wakes` that refer to the changed one.
    pub select: fn(changed: &Key, watched: &Watched) -> Vec<Key>,
}

/// Every dependency the controller follows.
pub const TABLE: &[Wake] = &[
    Wake {
        changed: Kind::GitRepository,
        wakes: Kind::Kustomization,
        through: "spec.sourceRef names it",
        select: |changed, watched| {
            kustomizations_where(watched, |ks| {
                let source = &ks.spec.source_ref;
                source.kind == "GitRepository"
                    && names(
                        changed,
                        &source.name,
                        source.namespace.as_deref(),
                        namespace_of(ks),
                    )
            })
        },
    },
    Wake {
        changed: Kind::Kustomization,
        wakes: Kind::Kustomization,
        through: "spec.dependsOn names it",
        select: |changed, watched| {
            kustomizations_where(watched, |ks| {
                let own = namespace_of(ks);
                ks.spec
                    .depends_on
                    .iter()
                    .any(|d| names(changed, &d.name, d.namespace.as_deref(), own))
            })
        },
    },
    Wake {
        changed: Kind::ImageRepository,
        wakes: Kind::ImagePolicy,
        through: "spec.imageRepositoryRef names it",
        select: |changed, watched| {
            watched
                .image_policies
                .iter()
                .filter(|policy| {
                    let reference = &policy.spec.image_repository_ref;
                    names(
                        changed,
                        &reference.name,
                        reference.namespace.as_deref(),
                        namespace_of(&***policy),
                    )
                })
                .map(|policy| key_of(Kind::ImagePolicy, &**policy))
                .collect()
        },
    },
    Wake {
        changed: Kind::ImagePolicy,
        wakes: Kind::ImageUpdateAutomation,
        through: "it is in the same namespace (an automation reads every policy there)",
        select: |changed, watched| {
            watched
                .automations
                .iter()
                .filter(|automation| namespace_of(&***automation) == changed.namespace)
                .map(|automation| key_of(Kind::ImageUpdateAutomation, &**automation))
                .collect()
        },
    },
    Wake {
        changed: Kind::ImageUpdateAutomation,
        wakes: Kind::GitRepository,
        through: "the automation's spec.sourceRef names it (it pushed a commit there)",
        select: |changed, watched| {
            watched
                .automations
                .iter()
                .find(|a| {
                    a.metadata.name.as_deref() == Some(changed.name.as_str())
                        && namespace_of(&***a) == changed.namespace
                })
                .map(|automation| {
                    let source = &automation.spec.source_ref;
                    Key::new(
                        Kind::GitRepository,
                        source.namespace.as_deref().unwrap_or(&changed.namespace),
                        &source.name,
                    )
                })
                .into_iter()
                .collect()
        },
    },
    Wake {
        changed: Kind::HelmRepository,
        wakes: Kind::HelmRelease,
        through: "spec.chart.spec.sourceRef names it",
        select: helm_releases_charted_from,
    },
    Wake {
        changed: Kind::GitRepository,
        wakes: Kind::HelmRelease,
        through: "spec.chart.spec.sourceRef names it",
        select: helm_releases_charted_from,
    },
    Wake {
        changed: Kind::HelmChart,
        wakes: Kind::HelmRelease,
        through: "spec.chartRef names it",
        select: helm_releases_charted_from,
    },
    Wake {
        changed: Kind::OCIRepository,
        wakes: Kind::HelmRelease,
        through: "spec.chartRef names it",
        select: helm_releases_charted_from,
    },
    Wake {
        changed: Kind::HelmRepository,
        wakes: Kind::HelmChart,
        through: "spec.sourceRef names it (same namespace)",
        select: helm_charts_from,
    },
    Wake {
        changed: Kind::GitRepository,
        wakes: Kind::HelmChart,
        through: "spec.sourceRef names it (same namespace)",
        select: helm_charts_from,
    },
    Wake {
        changed: Kind::HelmRelease,
        wakes: Kind::HelmRelease,
        through: "spec.dependsOn names it",
        select: |changed, watched| {
            watched
                .helm_releases
                .iter()
                .filter(|hr| {
                    hr.spec.depends_on.iter().any(|d| {
                        names(
                            changed,
                            &d.name,
                            d.namespace.as_deref(),
                            namespace_of(&***hr),
                        )
                    })
                })
                .map(|hr| key_of(Kind::HelmRelease, &**hr))
                .collect()
        },
    },
];

/// What the dependents are chosen from: the watched objects of the kinds that refer to others.
pub struct Watched {
    /// Every Kustomization.
    pub kustomizations: Vec<Arc<Kustomization>>,
    /// Every ImagePolicy.
    pub image_policies: Vec<Arc<ImagePolicy>>,
    /// Every ImageUpdateAutomation.
    pub automations: Vec<Arc<ImageUpdateAutomation>>,
    /// Every HelmRelease.
    pub helm_releases: Vec<Arc<HelmRelease>>,
    /// Every HelmChart.
    pub helm_charts: Vec<Arc<HelmChart>>,
}

/// The HelmReleases whose chart comes from `changed`: `spec.chart.spec.sourceRef` or
/// `spec.chartRef` of its kind names it.
fn helm_releases_charted_from(changed: &Key, watched: &Watched) -> Vec<Key> {
    watched
        .helm_releases
        .iter()
        .filter(|hr| {
            let own = namespace_of(&***hr);
            let template = hr.spec.chart.as_ref().map(|chart| &chart.spec.source_ref);
            let reference = hr.spec.chart_ref.as_ref();
            template.is_some_and(|s| {
                s.kind == changed.kind.as_str()
                    && names(changed, &s.name, s.namespace.as_deref(), own)
            }) || reference.is_some_and(|r| {
                r.kind == changed.kind.as_str()
                    && names(changed, &r.name, r.namespace.as_deref(), own)
            })
        })
        .map(|hr| key_of(Kind::HelmRelease, &**hr))
        .collect()
}

/// The HelmCharts whose `spec.sourceRef` (always in their own namespace) names `changed`.
fn helm_charts_from(changed: &Key, watched: &Watched) -> Vec<Key> {
    watched
        .helm_charts
        .iter()
        .filter(|chart| {
            let source = &chart.spec.source_ref;
            source.kind == changed.kind.as_str()
                && names(changed, &source.name, None, namespace_of(&***chart))
        })
        .map(|chart| key_of(Kind::HelmChart, &**chart))
        .collect()
}

/// `reference` (name and optional namespace, defaulting to `own_namespace`) names `key`.
fn names(key: &Key, name: &str, namespace: Option<&str>, own_namespace: &str) -> bool {
    name == key.name && namespace.unwrap_or(own_namespace) == key.namespace
}

fn namespace_of<K: kube::Resource>(object: &K) -> &str {
    object.meta().namespace.as_deref().unwrap_or_default()
}

/// The Kustomizations for which `refers` holds.
fn kustomizations_where(watched: &Watched, refers: impl Fn(&Kustomization) -> bool) -> Vec<Key> {
    watched
        .kustomizations
        .iter()
        .filter(|ks| refers(ks))
        .map(|ks| key_of(Kind::Kustomization, &**ks))
        .collect()
}

/// The objects to wake after `changed` has a new result, by [`TABLE`].
pub fn dependents(changed: &Key, watched: &Watched) -> Vec<Key> {
    TABLE
        .iter()
        .filter(|w| w.changed == changed.kind)
        .flat_map(|w| (w.select)(changed, watched))
        .collect()
}

/// Makes due at once every object that depends on `changed`'s new result.
pub fn wake_dependents(ctx: &Ctx, changed: &Key) {
    let watched = Watched {
        kustomizations: ctx.kustomizations.state(),
        image_policies: ctx.image_policies.state(),
        automations: ctx.automations.state(),
        helm_releases: ctx.helm_releases.state(),
        helm_charts: ctx.helm_charts.state(),
    };
    for key in dependents(changed, &watched) {
        tracing::debug!(object = %key, by = %changed, "woken");
        ctx.queue.schedule(key, Duration::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ks(
        namespace: &str,
        name: &str,
        source: serde_json::Value,
        depends: serde_json::Value,
    ) -> Arc<Kustomization> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"interval": "5m", "prune": true, "sourceRef": source, "dependsOn": depends}
            }))
            .expect("a valid Kustomization"),
        )
    }

    fn policy(namespace: &str, name: &str, repository: serde_json::Value) -> Arc<ImagePolicy> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "image.toolkit.fluxcd.io/v1",
                "kind": "ImagePolicy",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"imageRepositoryRef": repository, "policy": {"semver": {"range": ">=1.0.0"}}}
            }))
            .expect("a valid ImagePolicy"),
        )
    }

    fn automation(
        namespace: &str,
        name: &str,
        source: serde_json::Value,
    ) -> Arc<ImageUpdateAutomation> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "image.toolkit.fluxcd.io/v1",
                "kind": "ImageUpdateAutomation",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"interval": "5m", "sourceRef": source,
                         "git": {"commit": {"author": {"name": "bot", "email": "bot@example.com"}}}}
            }))
            .expect("a valid ImageUpdateAutomation"),
        )
    }

    fn watched() -> Watched {
        Watched {
            kustomizations: vec![
                ks(
                    "flux-system",
                    "infra",
                    json!({"kind": "GitRepository", "name": "repo"}),
                    json!([]),
                ),
                ks(
                    "flux-system",
                    "apps",
                    json!({"kind": "GitRepository", "name": "repo"}),
                    json!([{"name": "infra"}]),
                ),
                ks(
                    "team",
                    "web",
                    json!({"kind": "GitRepository", "name": "repo", "namespace": "flux-system"}),
                    json!([{"name": "infra", "namespace": "flux-system"}]),
                ),
                ks(
                    "team",
                    "other",
                    json!({"kind": "GitRepository", "name": "repo"}),
                    json!([{"name": "infra"}]),
                ),
                ks(
                    "flux-system",
                    "bucket",
                    json!({"kind": "Bucket", "name": "repo"}),
                    json!([]),
                ),
            ],
            image_policies: vec![
                policy("flux-system", "web", json!({"name": "web"})),
                policy(
                    "team",
                    "web",
                    json!({"name": "web", "namespace": "flux-system"}),
                ),
                policy("flux-system", "api", json!({"name": "api"})),
            ],
            automations: vec![
                automation(
                    "flux-system",
                    "bump",
                    json!({"kind": "GitRepository", "name": "repo"}),
                ),
                automation(
                    "team",
                    "bump",
                    json!({"kind": "GitRepository", "name": "team-repo"}),
                ),
            ],
            helm_releases: vec![
                helm_release(
                    "apps",
                    "web",
                    json!({"kind": "HelmRepository", "name": "charts"}),
                ),
                helm_release(
                    "team",
                    "api",
                    json!({"kind": "HelmRepository", "name": "charts", "namespace": "apps"}),
                ),
                helm_release(
                    "team",
                    "db",
                    json!({"kind": "HelmRepository", "name": "charts"}),
                ),
                helm_release(
                    "apps",
                    "site",
                    json!({"kind": "GitRepository", "name": "sites"}),
                ),
                charted_by_reference(
                    "apps",
                    "web-ref",
                    json!({"kind": "HelmChart", "name": "web"}),
                ),
                charted_by_reference(
                    "team",
                    "podinfo",
                    json!({"kind": "OCIRepository", "name": "podinfo", "namespace": "apps"}),
                ),
            ],
            helm_charts: vec![
                helm_chart(
                    "apps",
                    "web",
                    json!({"kind": "HelmRepository", "name": "charts"}),
                ),
                helm_chart(
                    "apps",
                    "site",
                    json!({"kind": "GitRepository", "name": "sites"}),
                ),
                helm_chart(
                    "team",
                    "web",
                    json!({"kind": "HelmRepository", "name": "charts"}),
                ),
            ],
        }
    }

    fn charted_by_reference(
        namespace: &str,
        name: &str,
        reference: serde_json::Value,
    ) -> Arc<HelmRelease> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2",
                "kind": "HelmRelease",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"interval": "5m", "chartRef": reference}
            }))
            .expect("a valid HelmRelease"),
        )
    }

    fn helm_chart(namespace: &str, name: &str, source: serde_json::Value) -> Arc<HelmChart> {
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "HelmChart",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"interval": "5m", "chart": "web", "sourceRef": source}
            }))
            .expect("a valid HelmChart"),
        )
    }

    #[test]
    fn a_new_chart_wakes_the_helm_releases_naming_it_and_a_source_wakes_its_charts() {
        let woken = dependents(&Key::new(Kind::HelmChart, "apps", "web"), &watched());
        assert_eq!(
            names(woken),
            names(vec![Key::new(Kind::HelmRelease, "apps", "web-ref")])
        );
        let woken = dependents(
            &Key::new(Kind::OCIRepository, "apps", "podinfo"),
            &watched(),
        );
        assert_eq!(
            names(woken),
            names(vec![Key::new(Kind::HelmRelease, "team", "podinfo")])
        );
        let woken = dependents(&Key::new(Kind::GitRepository, "apps", "sites"), &watched());
        assert_eq!(
            names(woken),
            names(vec![
                Key::new(Kind::HelmRelease, "apps", "site"),
                Key::new(Kind::HelmChart, "apps", "site"),
            ])
        );
        assert!(dependents(&Key::new(Kind::HelmChart, "team", "web"), &watched()).is_empty());
    }

    fn helm_release(namespace: &str, name: &str, source: serde_json::Value) -> Arc<HelmRelease> {
        let depends = if name == "db" {
            json!([{"name": "web", "namespace": "apps"}])
        } else {
            json!([])
        };
        Arc::new(
            serde_json::from_value(json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2",
                "kind": "HelmRelease",
                "metadata": {"name": name, "namespace": namespace},
                "spec": {"interval": "5m", "dependsOn": depends,
                         "chart": {"spec": {"chart": "demo", "sourceRef": source}}}
            }))
            .expect("a valid HelmRelease"),
        )
    }

    #[test]
    fn a_released_helm_release_wakes_those_depending_on_it() {
        let woken = dependents(&Key::new(Kind::HelmRelease, "apps", "web"), &watched());
        assert_eq!(
            names(woken),
            names(vec![Key::new(Kind::HelmRelease, "team", "db")])
        );
        assert!(dependents(&Key::new(Kind::HelmRelease, "team", "web"), &watched()).is_empty());
    }

    #[test]
    fn a_new_index_wakes_the_helm_releases_charted_from_it() {
        let woken = dependents(
            &Key::new(Kind::HelmRepository, "apps", "charts"),
            &watched(),
        );
        assert_eq!(
            names(woken),
            names(vec![
                Key::new(Kind::HelmRelease, "apps", "web"),
                Key::new(Kind::HelmRelease, "team", "api"),
                Key::new(Kind::HelmChart, "apps", "web"),
            ])
        );
    }

    fn names(keys: Vec<Key>) -> Vec<String> {
        keys.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_new_artifact_wakes_the_kustomizations_built_from_it_in_any_namespace() {
        let woken = dependents(
            &Key::new(Kind::GitRepository, "flux-system", "repo"),
            &watched(),
        );
        assert_eq!(
            names(woken),
            names(vec![
                Key::new(Kind::Kustomization, "flux-system", "infra"),
                Key::new(Kind::Kustomization, "flux-system", "apps"),
                Key::new(Kind::Kustomization, "team", "web"),
            ])
        );
    }

    #[test]
    fn an_applied_kustomization_wakes_only_what_depends_on_it() {
        let woken = dependents(
            &Key::new(Kind::Kustomization, "flux-system", "infra"),
            &watched(),
        );
        assert_eq!(
            names(woken),
            names(vec![
                Key::new(Kind::Kustomization, "flux-system", "apps"),
                Key::new(Kind::Kustomization, "team", "web"),
            ])
        );
        assert!(
            dependents(
                &Key::new(Kind::Kustomization, "flux-system", "apps"),
                &watched()
            )
            .is_empty()
        );
    }

    #[test]
    fn new_tags_wake_the_policies_of_that_repository() {
        let woken = dependents(
            &Key::new(Kind::ImageRepository, "flux-system", "web"),
            &watched(),
        );
        assert_eq!(
            names(woken),
            names(vec![
                Key::new(Kind::ImagePolicy, "flux-system", "web"),
                Key::new(Kind::ImagePolicy, "team", "web"),
            ])
        );
    }

    #[test]
    fn a_new_image_wakes_the_automations_of_its_namespace_and_a_push_wakes_their_source() {
        let woken = dependents(&Key::new(Kind::ImagePolicy, "team", "web"), &watched());
        assert_eq!(
            names(woken),
            names(vec![Key::new(Kind::ImageUpdateAutomation, "team", "bump")])
        );
        let woken = dependents(
            &Key::new(Kind::ImageUpdateAutomation, "team", "bump"),
            &watched(),
        );
        assert_eq!(
            names(woken),
            names(vec![Key::new(Kind::GitRepository, "team", "team-repo")])
        );
    }

    #[test]
    fn kinds_nothing_depends_on_wake_nothing() {
        for kind in [Kind::Provider, Kind::Alert, Kind::Receiver] {
            assert!(TABLE.iter().all(|w| w.changed != kind));
            assert!(dependents(&Key::new(kind, "flux-system", "repo"), &watched()).is_empty());
        }
    }
}
