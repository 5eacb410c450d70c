//! The CRDs against a real kube-apiserver: install (twice), objects written through Flux's beta
//! versions read back through the typed `v1` API, validation, the status subresource and the
//! printer columns.

use gitops_flux::api::{
    Alert, GitRepository, HelmChart, HelmRelease, HelmRepository, ImagePolicy, ImageRepository,
    ImageUpdateAutomation, Kustomization, OCIRepository, Provider,
};
use gitops_flux::{FluxObject, crds};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// A client and a fresh namespace, with the CRDs installed.
async fn setup() -> Option<(kube::Client, String)> {
    let kube = gitops_testenv::require_kube()?;
    let client = kube.client().await;
    let ns = kube.namespace().await;
    crds::install(&client).await.expect("install the CRDs");
    Some((client, ns))
}

/// The API of `plural` in `group/version`, untyped.
fn dynamic(
    client: &kube::Client,
    ns: &str,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let resource = ApiResource {
        group: group.to_string(),
        version: version.to_string(),
        api_version: format!("{group}/{version}"),
        kind: kind.to_string(),
        plural: plural.to_string(),
    };
    Api::namespaced_with(client.clone(), ns, &resource)
}

/// Creates `object` (a full manifest) through its own `apiVersion`.
async fn create(client: &kube::Client, ns: &str, plural: &str, object: Value) -> DynamicObject {
    let (group, version) = object["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/'))
        .expect("a grouped apiVersion");
    let kind = object["kind"].as_str().expect("a kind");
    let api = dynamic(client, ns, group, version, kind, plural);
    let object: DynamicObject = serde_json::from_value(object.clone()).expect("a DynamicObject");
    api.create(&PostParams::default(), &object)
        .await
        .unwrap_or_else(|e| panic!("create {kind} through {group}/{version}: {e}"))
}

/// The object's JSON read through `group/v1`.
async fn read_v1(client: &kube::Client, ns: &str, object: &DynamicObject, plural: &str) -> Value {
    let types = object.types.as_ref().expect("types");
    let (group, _) = types.api_version.split_once('/').expect("a group");
    let api = dynamic(client, ns, group, "v1", &types.kind, plural);
    let name = object.metadata.name.as_deref().expect("a name");
    serde_json::to_value(api.get(name).await.expect("get through v1")).expect("JSON")
}

/// The API server's status code for a failed call.
fn code(result: Result<DynamicObject, kube::Error>) -> u16 {
    match result {
        Err(kube::Error::Api(status)) => status.code,
        Err(e) => panic!("not an API error: {e}"),
        Ok(o) => panic!("accepted: {:?}", o.metadata.name),
    }
}

#[tokio::test]
async fn install_twice_changes_nothing_and_every_version_is_served() {
    let Some((client, _ns)) = setup().await else {
        return;
    };
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut before = Vec::new();
    for crd in crds::definitions() {
        let name = crd.metadata.name.clone().unwrap();
        before.push(api.get(&name).await.unwrap());
    }

    crds::install(&client).await.unwrap();

    for (crd, old) in crds::definitions().iter().zip(before) {
        let name = crd.metadata.name.clone().unwrap();
        let live = api.get(&name).await.unwrap();
        assert_eq!(live.metadata.generation, old.metadata.generation, "{name}");
        assert_eq!(live.spec, old.spec, "{name}");
        let managers: Vec<_> = live
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter(|m| m.operation.as_deref() == Some("Apply"))
            .filter_map(|m| m.manager.as_deref())
            .collect();
        assert_eq!(managers, [crds::FIELD_MANAGER], "{name}");

        let status = live.status.unwrap();
        let established = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Established" && c.status == "True");
        assert!(established, "{name}");
        let storage = if name.starts_with("helmreleases.") {
            "v2"
        } else {
            "v1"
        };
        assert_eq!(status.stored_versions.unwrap(), [storage], "{name}");
        assert_eq!(live.spec.names.categories.unwrap(), ["flux"], "{name}");
        for version in &live.spec.versions {
            assert!(version.served, "{name} {}", version.name);
        }
    }
}

#[tokio::test]
async fn printer_columns_are_flux_s_in_every_version() {
    let Some((client, _ns)) = setup().await else {
        return;
    };
    let ready = r#".status.conditions[?(@.type=="Ready")].status"#;
    let message = r#".status.conditions[?(@.type=="Ready")].message"#;
    let expected: &[(&str, &[(&str, &str)])] = &[
        (
            "gitrepositories.source.toolkit.fluxcd.io",
            &[
                ("URL", ".spec.url"),
                ("Age", ".metadata.creationTimestamp"),
                ("Ready", ready),
                ("Status", message),
            ],
        ),
        (
            "kustomizations.kustomize.toolkit.fluxcd.io",
            &[
                ("Age", ".metadata.creationTimestamp"),
                ("Ready", ready),
                ("Status", message),
            ],
        ),
        (
            "imagerepositories.image.toolkit.fluxcd.io",
            &[
                ("Image", ".spec.image"),
                ("Tags", ".status.lastScanResult.tagCount"),
                ("Last scan", ".status.lastScanResult.scanTime"),
                ("Ready", ready),
                ("Status", message),
                ("Age", ".metadata.creationTimestamp"),
            ],
        ),
        (
            "imagepolicies.image.toolkit.fluxcd.io",
            &[
                ("LatestImage", ".status.latestImage"),
                ("Ready", ready),
                ("Status", message),
                ("Age", ".metadata.creationTimestamp"),
            ],
        ),
        (
            "imageupdateautomations.image.toolkit.fluxcd.io",
            &[
                ("Last run", ".status.lastAutomationRunTime"),
                ("Ready", ready),
                ("Status", message),
                ("Age", ".metadata.creationTimestamp"),
            ],
        ),
        (
            "providers.notification.toolkit.fluxcd.io",
            &[
                ("Age", ".metadata.creationTimestamp"),
                ("Ready", ready),
                ("Status", message),
            ],
        ),
        (
            "alerts.notification.toolkit.fluxcd.io",
            &[
                ("Age", ".metadata.creationTimestamp"),
                ("Ready", ready),
                ("Status", message),
            ],
        ),
    ];
    let helm: &[(&str, &[(&str, &str)])] = &[
        (
            "helmrepositories.source.toolkit.fluxcd.io",
            &[
                ("URL", ".spec.url"),
                ("Age", ".metadata.creationTimestamp"),
                ("Ready", ready),
                ("Status", message),
            ],
        ),
        (
            "helmcharts.source.toolkit.fluxcd.io",
            &[
                ("Chart", ".spec.chart"),
                ("Version", ".spec.version"),
                ("Source Kind", ".spec.sourceRef.kind"),
                ("Source Name", ".spec.sourceRef.name"),
                ("Age", ".metadata.creationTimestamp"),
                ("Ready", ready),
                ("Status", message),
            ],
        ),
        (
            "ocirepositories.source.toolkit.fluxcd.io",
            &[
                ("URL", ".spec.url"),
                ("Age", ".metadata.creationTimestamp"),
                ("Ready", ready),
                ("Status", message),
            ],
        ),
        (
            "helmreleases.helm.toolkit.fluxcd.io",
            &[
                ("Age", ".metadata.creationTimestamp"),
                ("Ready", ready),
                ("Status", message),
            ],
        ),
    ];
    let api: Api<CustomResourceDefinition> = Api::all(client);
    for (name, columns) in expected.iter().chain(helm) {
        let crd = api.get(name).await.unwrap();
        let served = if name.starts_with("helmreleases.") {
            3
        } else {
            2
        };
        assert_eq!(crd.spec.versions.len(), served, "{name}");
        for version in &crd.spec.versions {
            let live: Vec<(&str, &str)> = version
                .additional_printer_columns
                .iter()
                .flatten()
                .map(|c| (c.name.as_str(), c.json_path.as_str()))
                .collect();
            assert_eq!(live, *columns, "{name} {}", version.name);
        }
    }
}

#[tokio::test]
async fn beta_objects_read_back_through_the_typed_v1_api() {
    let Some((client, ns)) = setup().await else {
        return;
    };

    // GitRepository through v1beta2, with v1beta2-only fields.
    let created = create(
        &client,
        &ns,
        "gitrepositories",
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1beta2",
            "kind": "GitRepository",
            "metadata": {"name": "flux-system"},
            "spec": {
                "url": "ssh://git@example.com/fleet.git",
                "interval": "1m0s",
                "timeout": "60s",
                "ref": {"branch": "main"},
                "secretRef": {"name": "flux-system"},
                "ignore": "/*\n!/clusters\n",
                "gitImplementation": "go-git",
                "accessFrom": {"namespaceSelectors": [{"matchLabels": {"team": "a"}}]}
            },
            "status": {"observedGeneration": 7}
        }),
    )
    .await;
    let repo = Api::<GitRepository>::namespaced(client.clone(), &ns)
        .get("flux-system")
        .await
        .unwrap();
    assert_eq!(repo.api_version, "source.toolkit.fluxcd.io/v1");
    assert_eq!(repo.spec.url, "ssh://git@example.com/fleet.git");
    assert_eq!(repo.spec.interval, "1m0s");
    assert_eq!(repo.spec.timeout.as_deref(), Some("60s"));
    let reference = repo.spec.reference.as_ref().unwrap();
    assert_eq!(reference.branch.as_deref(), Some("main"));
    assert_eq!(repo.spec.secret_ref.as_ref().unwrap().name, "flux-system");
    assert_eq!(repo.spec.ignore.as_deref(), Some("/*\n!/clusters\n"));
    // The status subresource: status sent with the object is dropped.
    assert!(repo.status.is_none());
    let v1 = read_v1(&client, &ns, &created, "gitrepositories").await;
    assert_eq!(v1["spec"]["gitImplementation"], "go-git");
    assert_eq!(
        v1["spec"]["accessFrom"]["namespaceSelectors"][0]["matchLabels"]["team"],
        "a"
    );

    // Kustomization through v1beta2, with v1beta2-only fields.
    let created = create(
        &client,
        &ns,
        "kustomizations",
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1beta2",
            "kind": "Kustomization",
            "metadata": {"name": "apps"},
            "spec": {
                "interval": "10m0s",
                "retryInterval": "1m",
                "timeout": "5m",
                "dependsOn": [{"name": "infra"}, {"name": "crds", "namespace": "flux-system"}],
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                "path": "./apps",
                "prune": true,
                "wait": true,
                "targetNamespace": "apps",
                "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
                "postBuild": {
                    "substitute": {"cluster_name": "vps"},
                    "substituteFrom": [{"kind": "ConfigMap", "name": "vars", "optional": true}]
                },
                "healthChecks": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "apps"}
                ],
                "patchesStrategicMerge": [
                    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}}
                ],
                "patchesJson6902": [{
                    "target": {"version": "v1", "kind": "Service", "name": "web"},
                    "patch": [{"op": "replace", "path": "/spec/type", "value": "NodePort"}]
                }],
                "images": [{"name": "ghcr.io/example/web", "newTag": "1.2.3"}],
                "validation": "client"
            }
        }),
    )
    .await;
    let ks = Api::<Kustomization>::namespaced(client.clone(), &ns)
        .get("apps")
        .await
        .unwrap();
    let spec = &ks.spec;
    let depends: Vec<(&str, Option<&str>)> = spec
        .depends_on
        .iter()
        .map(|d| (d.name.as_str(), d.namespace.as_deref()))
        .collect();
    assert_eq!(depends, [("infra", None), ("crds", Some("flux-system"))]);
    assert_eq!(spec.source_ref.kind, "GitRepository");
    assert_eq!(spec.source_ref.name, "flux-system");
    assert_eq!(spec.source_ref.namespace, None);
    assert_eq!(spec.path.as_deref(), Some("./apps"));
    assert_eq!(spec.interval, "10m0s");
    assert_eq!(spec.retry_interval.as_deref(), Some("1m"));
    assert_eq!(spec.timeout.as_deref(), Some("5m"));
    assert!(spec.prune && spec.wait && !spec.force && !spec.suspend);
    assert_eq!(spec.target_namespace.as_deref(), Some("apps"));
    let decryption = spec.decryption.as_ref().unwrap();
    assert_eq!(decryption.provider, "sops");
    assert_eq!(decryption.secret_ref.as_ref().unwrap().name, "sops-age");
    let post = spec.post_build.as_ref().unwrap();
    assert_eq!(post.substitute["cluster_name"], "vps");
    assert_eq!(post.substitute_from[0].kind, "ConfigMap");
    assert_eq!(post.substitute_from[0].name, "vars");
    assert!(post.substitute_from[0].optional);
    assert_eq!(spec.health_checks[0].kind, "Deployment");
    assert_eq!(
        spec.health_checks[0].api_version.as_deref(),
        Some("apps/v1")
    );
    let v1 = read_v1(&client, &ns, &created, "kustomizations").await;
    assert_eq!(
        v1["spec"]["patchesStrategicMerge"][0]["spec"]["replicas"], 2,
        "a patch object keeps its fields"
    );
    assert_eq!(spec.patches_json6902[0].patch[0]["value"], "NodePort");
    assert_eq!(spec.images[0].new_tag.as_deref(), Some("1.2.3"));
    assert_eq!(v1["spec"]["validation"], "client");

    // ImageRepository through v1beta2.
    let created = create(
        &client,
        &ns,
        "imagerepositories",
        json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1beta2",
            "kind": "ImageRepository",
            "metadata": {"name": "app"},
            "spec": {
                "image": "ghcr.io/example/app",
                "interval": "5m",
                "timeout": "30s",
                "secretRef": {"name": "ghcr"},
                "insecure": true,
                "exclusionList": ["^.*\\.sig$", "^dev-"],
                "provider": "generic"
            }
        }),
    )
    .await;
    let image = Api::<ImageRepository>::namespaced(client.clone(), &ns)
        .get("app")
        .await
        .unwrap();
    assert_eq!(image.spec.image, "ghcr.io/example/app");
    assert_eq!(image.spec.interval, "5m");
    assert_eq!(image.spec.timeout.as_deref(), Some("30s"));
    assert_eq!(image.spec.secret_ref.as_ref().unwrap().name, "ghcr");
    assert!(image.spec.insecure);
    assert_eq!(
        image.spec.exclusion_list.as_deref(),
        Some(&["^.*\\.sig$".to_string(), "^dev-".to_string()][..])
    );
    let v1 = read_v1(&client, &ns, &created, "imagerepositories").await;
    assert_eq!(v1["spec"]["provider"], "generic");

    // ImagePolicy through v1beta2; the other one leaves `order` to the schema's default.
    create(
        &client,
        &ns,
        "imagepolicies",
        json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1beta2",
            "kind": "ImagePolicy",
            "metadata": {"name": "app"},
            "spec": {
                "imageRepositoryRef": {"name": "app", "namespace": "images"},
                "policy": {"semver": {"range": ">=1.0.0 <2.0.0"}},
                "filterTags": {"pattern": "^v(?P<version>.*)$", "extract": "$version"}
            }
        }),
    )
    .await;
    create(
        &client,
        &ns,
        "imagepolicies",
        json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1beta2",
            "kind": "ImagePolicy",
            "metadata": {"name": "builds"},
            "spec": {"imageRepositoryRef": {"name": "app"}, "policy": {"numerical": {}}}
        }),
    )
    .await;
    let policies = Api::<ImagePolicy>::namespaced(client.clone(), &ns);
    let policy = policies.get("app").await.unwrap();
    assert_eq!(policy.spec.image_repository_ref.name, "app");
    assert_eq!(
        policy.spec.image_repository_ref.namespace.as_deref(),
        Some("images")
    );
    assert_eq!(
        policy.spec.policy.semver.as_ref().unwrap().range,
        ">=1.0.0 <2.0.0"
    );
    let filter = policy.spec.filter_tags.as_ref().unwrap();
    assert_eq!(filter.pattern, "^v(?P<version>.*)$");
    assert_eq!(filter.extract.as_deref(), Some("$version"));
    let builds = policies.get("builds").await.unwrap();
    assert_eq!(
        builds
            .spec
            .policy
            .numerical
            .as_ref()
            .unwrap()
            .order
            .as_deref(),
        Some("asc")
    );

    // ImageUpdateAutomation through v1beta2.
    let created = create(
        &client,
        &ns,
        "imageupdateautomations",
        json!({
            "apiVersion": "image.toolkit.fluxcd.io/v1beta2",
            "kind": "ImageUpdateAutomation",
            "metadata": {"name": "fleet"},
            "spec": {
                "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                "interval": "30m",
                "git": {
                    "checkout": {"ref": {"branch": "main"}},
                    "commit": {
                        "author": {"name": "fluxbot", "email": "fluxbot@example.com"},
                        "messageTemplate": "Update images",
                        "signingKey": {"secretRef": {"name": "signing"}}
                    },
                    "push": {"branch": "image-updates"}
                },
                "update": {"path": "./clusters/vps", "strategy": "Setters"},
                "policySelector": {"matchLabels": {"auto": "yes"}}
            }
        }),
    )
    .await;
    let automation = Api::<ImageUpdateAutomation>::namespaced(client.clone(), &ns)
        .get("fleet")
        .await
        .unwrap();
    let spec = &automation.spec;
    assert_eq!(spec.source_ref.name, "flux-system");
    assert_eq!(spec.interval, "30m");
    let checkout = spec.git.checkout.as_ref().unwrap();
    assert_eq!(checkout.reference.branch.as_deref(), Some("main"));
    assert_eq!(spec.git.commit.author.email, "fluxbot@example.com");
    assert_eq!(spec.git.commit.author.name, "fluxbot");
    assert_eq!(
        spec.git.commit.message_template.as_deref(),
        Some("Update images")
    );
    assert_eq!(
        spec.git.push.as_ref().unwrap().branch.as_deref(),
        Some("image-updates")
    );
    let update = spec.update.as_ref().unwrap();
    assert_eq!(update.path.as_deref(), Some("./clusters/vps"));
    assert_eq!(update.strategy, "Setters");
    let v1 = read_v1(&client, &ns, &created, "imageupdateautomations").await;
    assert_eq!(v1["spec"]["policySelector"]["matchLabels"]["auto"], "yes");
    assert_eq!(
        v1["spec"]["git"]["commit"]["signingKey"]["secretRef"]["name"],
        "signing"
    );

    // Provider through v1beta3.
    let created = create(
        &client,
        &ns,
        "providers",
        json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
            "kind": "Provider",
            "metadata": {"name": "slack"},
            "spec": {
                "type": "slack",
                "channel": "general",
                "username": "flux",
                "address": "https://hooks.slack.com/services/x",
                "secretRef": {"name": "slack-url"},
                "timeout": "15s",
                "proxy": "http://proxy.example.com:3128"
            }
        }),
    )
    .await;
    let provider = Api::<Provider>::namespaced(client.clone(), &ns)
        .get("slack")
        .await
        .unwrap();
    assert_eq!(provider.spec.type_, "slack");
    assert_eq!(provider.spec.channel.as_deref(), Some("general"));
    assert_eq!(provider.spec.username.as_deref(), Some("flux"));
    assert_eq!(
        provider.spec.address.as_deref(),
        Some("https://hooks.slack.com/services/x")
    );
    assert_eq!(provider.spec.secret_ref.as_ref().unwrap().name, "slack-url");
    assert_eq!(provider.spec.timeout.as_deref(), Some("15s"));
    let v1 = read_v1(&client, &ns, &created, "providers").await;
    assert_eq!(v1["spec"]["proxy"], "http://proxy.example.com:3128");

    // Alert through v1beta3.
    create(
        &client,
        &ns,
        "alerts",
        json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
            "kind": "Alert",
            "metadata": {"name": "on-call"},
            "spec": {
                "providerRef": {"name": "slack"},
                "eventSeverity": "error",
                "eventSources": [
                    {"kind": "Kustomization", "name": "*"},
                    {"kind": "GitRepository", "name": "flux-system", "namespace": "flux-system"}
                ],
                "inclusionList": [".*succeeded.*"],
                "exclusionList": ["^Dependencies"],
                "summary": "vps cluster",
                "eventMetadata": {"env": "prod"}
            }
        }),
    )
    .await;
    let alert = Api::<Alert>::namespaced(client.clone(), &ns)
        .get("on-call")
        .await
        .unwrap();
    let spec = &alert.spec;
    assert_eq!(spec.provider_ref.name, "slack");
    assert_eq!(spec.event_severity.as_deref(), Some("error"));
    let sources: Vec<(&str, &str, Option<&str>)> = spec
        .event_sources
        .iter()
        .map(|s| (s.kind.as_str(), s.name.as_str(), s.namespace.as_deref()))
        .collect();
    assert_eq!(
        sources,
        [
            ("Kustomization", "*", None),
            ("GitRepository", "flux-system", Some("flux-system"))
        ]
    );
    assert_eq!(spec.inclusion_list, [".*succeeded.*"]);
    assert_eq!(spec.exclusion_list, ["^Dependencies"]);
    assert_eq!(spec.summary.as_deref(), Some("vps cluster"));
    assert_eq!(spec.event_metadata["env"], "prod");
}

#[tokio::test]
async fn helm_kinds_written_through_beta_versions_read_back_typed() {
    let Some((client, ns)) = setup().await else {
        return;
    };
    create(
        &client,
        &ns,
        "helmrepositories",
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1beta2",
            "kind": "HelmRepository",
            "metadata": {"name": "podinfo"},
            "spec": {"url": "oci://ghcr.io/stefanprodan/charts", "type": "oci", "interval": "5m",
                     "secretRef": {"name": "creds"}, "insecure": true}
        }),
    )
    .await;
    let repo = Api::<HelmRepository>::namespaced(client.clone(), &ns)
        .get("podinfo")
        .await
        .unwrap();
    assert_eq!(repo.api_version, "source.toolkit.fluxcd.io/v1");
    assert!(repo.spec.is_oci() && repo.spec.insecure);
    assert_eq!(repo.spec.secret_ref.unwrap().name, "creds");

    create(
        &client,
        &ns,
        "helmcharts",
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1beta2",
            "kind": "HelmChart",
            "metadata": {"name": "podinfo"},
            "spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"},
                     "interval": "5m"}
        }),
    )
    .await;
    let chart = Api::<HelmChart>::namespaced(client.clone(), &ns)
        .get("podinfo")
        .await
        .unwrap();
    // The schema's defaults, as Flux's CRD has them.
    assert_eq!(chart.spec.version.as_deref(), Some("*"));
    assert_eq!(
        chart.spec.reconcile_strategy.as_deref(),
        Some("ChartVersion")
    );

    create(
        &client,
        &ns,
        "ocirepositories",
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1beta2",
            "kind": "OCIRepository",
            "metadata": {"name": "podinfo"},
            "spec": {"url": "oci://ghcr.io/stefanprodan/charts/podinfo", "interval": "5m",
                     "ref": {"semver": ">=6.0.0"},
                     "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                                       "operation": "copy"}}
        }),
    )
    .await;
    let oci = Api::<OCIRepository>::namespaced(client.clone(), &ns)
        .get("podinfo")
        .await
        .unwrap();
    assert_eq!(
        oci.spec.layer_selector.unwrap().operation.as_deref(),
        Some("copy")
    );

    for version in ["v2beta1", "v2beta2", "v2"] {
        let name = format!("app-{version}");
        create(
            &client,
            &ns,
            "helmreleases",
            json!({
                "apiVersion": format!("helm.toolkit.fluxcd.io/{version}"),
                "kind": "HelmRelease",
                "metadata": {"name": name},
                "spec": {
                    "interval": "10m",
                    "chart": {"spec": {"chart": "podinfo",
                              "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}},
                    "values": {"replicaCount": 2, "nested": {"list": [1, "two"]}},
                    "install": {"remediation": {"retries": 3}},
                    "upgrade": {"remediation": {"strategy": "rollback"}},
                    "valuesFrom": [{"kind": "ConfigMap", "name": "vals"}],
                    "someFutureField": {"kept": true}
                }
            }),
        )
        .await;
        let release = Api::<HelmRelease>::namespaced(client.clone(), &ns)
            .get(&name)
            .await
            .unwrap();
        assert_eq!(
            release.api_version, "helm.toolkit.fluxcd.io/v2",
            "{version}"
        );
        assert_eq!(
            release.spec.values.as_ref().unwrap()["nested"]["list"][1],
            "two"
        );
        assert_eq!(
            release.spec.install.unwrap().remediation.unwrap().retries,
            Some(3)
        );
        let stored = dynamic(
            &client,
            &ns,
            "helm.toolkit.fluxcd.io",
            "v2",
            "HelmRelease",
            "helmreleases",
        )
        .get(&name)
        .await
        .unwrap();
        assert_eq!(
            stored.data["spec"]["someFutureField"]["kept"], true,
            "{version}"
        );
    }

    // An unknown chartRef kind is refused, in every version.
    let releases = dynamic(
        &client,
        &ns,
        "helm.toolkit.fluxcd.io",
        "v2",
        "HelmRelease",
        "helmreleases",
    );
    let bad: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": "bad"},
        "spec": {"interval": "10m", "chartRef": {"kind": "Bucket", "name": "x"}}
    }))
    .unwrap();
    assert_eq!(
        code(releases.create(&PostParams::default(), &bad).await),
        422
    );
}

#[tokio::test]
async fn missing_required_fields_and_bad_values_are_rejected() {
    let Some((client, ns)) = setup().await else {
        return;
    };
    for version in ["v1beta2", "v1"] {
        let repos = dynamic(
            &client,
            &ns,
            "source.toolkit.fluxcd.io",
            version,
            "GitRepository",
            "gitrepositories",
        );
        let repo = |name: &str, spec: Value| -> DynamicObject {
            serde_json::from_value(json!({
                "apiVersion": format!("source.toolkit.fluxcd.io/{version}"),
                "kind": "GitRepository",
                "metadata": {"name": name},
                "spec": spec
            }))
            .unwrap()
        };
        let pp = PostParams::default();
        let no_url = repo("no-url", json!({"interval": "1m"}));
        assert_eq!(code(repos.create(&pp, &no_url).await), 422, "{version}");
        let no_interval = repo("no-interval", json!({"url": "https://example.com/x.git"}));
        assert_eq!(
            code(repos.create(&pp, &no_interval).await),
            422,
            "{version}"
        );
        let words = repo(
            "words",
            json!({"url": "https://example.com/x.git", "interval": "5 minutes"}),
        );
        let Err(kube::Error::Api(status)) = repos.create(&pp, &words).await else {
            panic!("{version}: an interval of 5 minutes was accepted");
        };
        assert_eq!(status.code, 422, "{version}");
        assert!(
            status.message.contains("spec.interval"),
            "{}",
            status.message
        );
    }

    let ks = dynamic(
        &client,
        &ns,
        "kustomize.toolkit.fluxcd.io",
        "v1beta2",
        "Kustomization",
        "kustomizations",
    );
    let bad: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1beta2",
        "kind": "Kustomization",
        "metadata": {"name": "bad"},
        "spec": {
            "interval": "10m",
            "sourceRef": {"kind": "GitRepository", "name": "x"},
            "decryption": {"provider": "vault"}
        }
    }))
    .unwrap();
    assert_eq!(code(ks.create(&PostParams::default(), &bad).await), 422);
    let bad_op: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1beta2",
        "kind": "Kustomization",
        "metadata": {"name": "bad-op"},
        "spec": {
            "interval": "10m",
            "sourceRef": {"kind": "GitRepository", "name": "x"},
            "patchesJson6902": [{"target": {"kind": "Service"}, "patch": [{"op": "merge", "path": "/spec"}]}],
            "images": [{"newTag": "no-name"}]
        }
    }))
    .unwrap();
    match ks.create(&PostParams::default(), &bad_op).await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 422);
            for field in ["patchesJson6902[0].patch[0].op", "images[0].name"] {
                assert!(
                    status.message.contains(field),
                    "{field}: {}",
                    status.message
                );
            }
        }
        other => panic!("a bad op and a nameless image are refused: {other:?}"),
    }

    let providers = dynamic(
        &client,
        &ns,
        "notification.toolkit.fluxcd.io",
        "v1beta3",
        "Provider",
        "providers",
    );
    let pigeon: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
        "kind": "Provider",
        "metadata": {"name": "pigeon"},
        "spec": {"type": "carrier-pigeon"}
    }))
    .unwrap();
    assert_eq!(
        code(providers.create(&PostParams::default(), &pigeon).await),
        422
    );
}

#[tokio::test]
async fn status_is_written_through_the_status_subresource() {
    let Some((client, ns)) = setup().await else {
        return;
    };
    let created = create(
        &client,
        &ns,
        "kustomizations",
        json!({
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1beta2",
            "kind": "Kustomization",
            "metadata": {"name": "apps"},
            "spec": {"interval": "10m", "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}
        }),
    )
    .await;
    let generation = created.metadata.generation;
    let api = Api::<Kustomization>::namespaced(client.clone(), &ns);
    let status = json!({
        "status": {
            "observedGeneration": generation,
            "lastHandledReconcileAt": "2026-01-01T00:00:00Z",
            "lastAppliedRevision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
            "lastAttemptedRevision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
            "conditions": [{
                "type": "Ready",
                "status": "True",
                "observedGeneration": generation,
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "reason": "ReconciliationSucceeded",
                "message": "Applied revision: main@sha1:0123456789abcdef0123456789abcdef01234567"
            }],
            "inventory": {"entries": [{"id": format!("{ns}_settings__ConfigMap"), "v": "v1"}]},
            "history": [{"digest": "sha256:abc", "totalReconciliations": 1}]
        }
    });
    api.patch_status("apps", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();

    let ks = api.get("apps").await.unwrap();
    assert!(ks.is_ready());
    assert_eq!(ks.observed_generation(), generation);
    assert_eq!(ks.last_handled_reconcile_at(), Some("2026-01-01T00:00:00Z"));
    assert_eq!(
        ks.revision().as_deref(),
        Some("main@sha1:0123456789abcdef0123456789abcdef01234567")
    );
    let ready = ks.ready().unwrap();
    assert_eq!(ready.reason, "ReconciliationSucceeded");
    assert!(ready.message.starts_with("Applied revision"));
    let status = ks.status.as_ref().unwrap();
    let entries = &status.inventory.as_ref().unwrap().entries;
    assert_eq!(entries[0].id, format!("{ns}_settings__ConfigMap"));
    assert_eq!(entries[0].v, "v1");
    let v1 = read_v1(&client, &ns, &created, "kustomizations").await;
    assert_eq!(v1["status"]["history"][0]["totalReconciliations"], 1);
    // The beta version sees the same status.
    let beta = dynamic(
        &client,
        &ns,
        "kustomize.toolkit.fluxcd.io",
        "v1beta2",
        "Kustomization",
        "kustomizations",
    )
    .get("apps")
    .await
    .unwrap();
    assert_eq!(beta.data["status"]["conditions"][0]["status"], "True");

    // A spec change through the status subresource is ignored.
    let spec = json!({"spec": {"path": "./elsewhere"}});
    api.patch_status("apps", &PatchParams::default(), &Patch::Merge(&spec))
        .await
        .unwrap();
    assert_eq!(api.get("apps").await.unwrap().spec.path, None);

    // The status schema is enforced too.
    let bad = json!({"status": {"conditions": [{"type": "Ready", "status": "Maybe"}]}});
    let Err(kube::Error::Api(answer)) = api
        .patch_status("apps", &PatchParams::default(), &Patch::Merge(&bad))
        .await
    else {
        panic!("a condition status of Maybe was accepted");
    };
    assert_eq!(answer.code, 422);

    // An artifact on a GitRepository, with Flux's metadata map.
    create(
        &client,
        &ns,
        "gitrepositories",
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1beta2",
            "kind": "GitRepository",
            "metadata": {"name": "flux-system"},
            "spec": {"url": "https://example.com/fleet.git", "interval": "1m"}
        }),
    )
    .await;
    let repos = Api::<GitRepository>::namespaced(client.clone(), &ns);
    let artifact = json!({
        "status": {
            "artifact": {
                "path": "gitrepository/ns/flux-system/0123.tar.gz",
                "url": "http://source-controller/gitrepository/ns/flux-system/0123.tar.gz",
                "revision": "main@sha1:0123",
                "digest": "sha256:feed",
                "lastUpdateTime": "2026-01-01T00:00:00Z",
                "size": 1234,
                "metadata": {"org.opencontainers.image.source": "x"}
            }
        }
    });
    repos
        .patch_status(
            "flux-system",
            &PatchParams::default(),
            &Patch::Merge(&artifact),
        )
        .await
        .unwrap();
    let repo = repos.get("flux-system").await.unwrap();
    let stored = repo.status.as_ref().unwrap().artifact.as_ref().unwrap();
    assert_eq!(stored.revision, "main@sha1:0123");
    assert_eq!(stored.digest.as_deref(), Some("sha256:feed"));
    assert_eq!(stored.size, Some(1234));
    assert_eq!(repo.revision().as_deref(), Some("main@sha1:0123"));
}

/// Writes `object` (every field its type knows, spec and status) through the typed storage
/// version and, as a second object, through `beta`; both read back identical through the typed
/// API and through `beta`.
async fn every_field_round_trips<K>(
    client: &kube::Client,
    ns: &str,
    plural: &str,
    beta: &str,
    object: Value,
) where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + std::fmt::Debug
        + serde::Serialize
        + serde::de::DeserializeOwned,
{
    let kind = object["kind"].as_str().expect("a kind").to_string();
    // Every field is typed: nothing is lost through the Rust type.
    let typed: K = serde_json::from_value(object.clone()).expect("the typed object");
    let value = serde_json::to_value(&typed).expect("serializable");
    for part in ["spec", "status"] {
        assert_eq!(
            value[part], object[part],
            "{kind} {part} through the Rust type"
        );
    }

    let group = K::group(&()).to_string();
    let storage = K::version(&()).to_string();
    let api = Api::<K>::namespaced(client.clone(), ns);
    for version in [storage.as_str(), beta] {
        let name = format!("every-field-{version}");
        let mut object = object.clone();
        object["apiVersion"] = json!(format!("{group}/{version}"));
        object["metadata"] = json!({"name": name});
        let status = object
            .as_object_mut()
            .expect("an object")
            .remove("status")
            .expect("a status");
        let through = dynamic(client, ns, &group, version, &kind, plural);
        through
            .create(
                &PostParams::default(),
                &serde_json::from_value(object.clone()).expect("a DynamicObject"),
            )
            .await
            .unwrap_or_else(|e| panic!("create {kind} through {version}: {e}"));
        through
            .patch_status(
                &name,
                &PatchParams::default(),
                &Patch::Merge(&json!({"status": status})),
            )
            .await
            .unwrap_or_else(|e| panic!("status of {kind} through {version}: {e}"));

        let read = api
            .get(&name)
            .await
            .unwrap_or_else(|e| panic!("read {kind} {name} typed: {e}"));
        let read = serde_json::to_value(read).expect("serializable");
        assert_eq!(read["apiVersion"], format!("{group}/{storage}"));
        assert_eq!(
            read["spec"], object["spec"],
            "{kind} spec written through {version}"
        );
        assert_eq!(
            read["status"], status,
            "{kind} status written through {version}"
        );
        for other in [storage.as_str(), beta] {
            let raw = dynamic(client, ns, &group, other, &kind, plural)
                .get(&name)
                .await
                .unwrap_or_else(|e| panic!("read {kind} {name} through {other}: {e}"));
            assert_eq!(
                raw.data["spec"], object["spec"],
                "{kind} {version} read through {other}"
            );
            assert_eq!(
                raw.data["status"], status,
                "{kind} {version} read through {other}"
            );
        }
    }
}

fn condition() -> Value {
    json!({"type": "Ready", "status": "True", "observedGeneration": 1,
           "lastTransitionTime": "2026-01-01T00:00:00Z", "reason": "Succeeded", "message": "ok"})
}

fn artifact(revision: &str) -> Value {
    json!({"path": "helmrepository/ns/name/index.yaml", "url": "http://source/index.yaml",
           "revision": revision, "digest": "sha256:0123", "lastUpdateTime": "2026-01-01T00:00:00Z",
           "size": 1234})
}

#[tokio::test]
async fn helm_kinds_round_trip_every_field_through_every_version() {
    let Some((client, ns)) = setup().await else {
        return;
    };
    let common = |extra: Value| {
        let mut status = json!({"observedGeneration": 1, "conditions": [condition()],
                                "lastHandledReconcileAt": "2026-01-01T00:00:00Z"});
        status
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        status
    };
    every_field_round_trips::<HelmRepository>(&client, &ns, "helmrepositories", "v1beta2", json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "x"},
        "spec": {"url": "https://charts.example.com/stable", "type": "default", "interval": "5m",
                 "timeout": "1m30s", "secretRef": {"name": "creds"}, "certSecretRef": {"name": "tls"},
                 "passCredentials": true, "insecure": true, "provider": "generic", "suspend": true},
        "status": common(json!({"url": "http://source/index.yaml",
                                "artifact": artifact("sha256:abcd")}))
    })).await;
    every_field_round_trips::<HelmChart>(&client, &ns, "helmcharts", "v1beta2", json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
        "metadata": {"name": "x"},
        "spec": {"chart": "podinfo", "version": "6.x",
                 "sourceRef": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository", "name": "podinfo"},
                 "interval": "5m", "reconcileStrategy": "Revision",
                 "valuesFiles": ["values.yaml", "values-prod.yaml"], "ignoreMissingValuesFiles": true,
                 "verify": {"provider": "cosign", "secretRef": {"name": "keys"}}, "suspend": true},
        "status": common(json!({"observedSourceArtifactRevision": "sha256:abcd",
                                "observedChartName": "podinfo",
                                "observedValuesFiles": ["values.yaml"],
                                "url": "http://source/podinfo-6.1.0.tgz",
                                "artifact": artifact("6.1.0")}))
    })).await;
    every_field_round_trips::<OCIRepository>(&client, &ns, "ocirepositories", "v1beta2", json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
        "metadata": {"name": "x"},
        "spec": {"url": "oci://ghcr.io/stefanprodan/charts/podinfo",
                 "ref": {"digest": "sha256:0123", "semver": ">=6.0.0", "semverFilter": ".*-rc.*", "tag": "6.1.0"},
                 "layerSelector": {"mediaType": "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
                                   "operation": "copy"},
                 "provider": "aws", "secretRef": {"name": "creds"}, "serviceAccountName": "puller",
                 "certSecretRef": {"name": "tls"}, "verify": {"provider": "notation"},
                 "interval": "5m", "timeout": "60s", "ignore": "/*\n!/manifests\n", "insecure": true,
                 "suspend": true},
        "status": common(json!({"url": "http://source/podinfo.tgz",
                                "artifact": artifact("6.1.0@sha256:0123"),
                                "observedLayerSelector": {"mediaType": "m", "operation": "extract"}}))
    })).await;
    let every_release_field = json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": {"name": "x"},
        "spec": {
            "chart": {"metadata": {"labels": {"team": "a"}},
                      "spec": {"chart": "podinfo", "version": ">=6.0.0",
                               "sourceRef": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                                             "name": "podinfo", "namespace": "flux-system"},
                               "interval": "1m", "reconcileStrategy": "ChartVersion",
                               "valuesFiles": ["values.yaml"], "ignoreMissingValuesFiles": true,
                               "verify": {"provider": "cosign"}}},
            "chartRef": {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                         "name": "podinfo", "namespace": "flux-system"},
            "interval": "10m",
            "kubeConfig": {"secretRef": {"name": "remote", "key": "value"}},
            "suspend": true,
            "releaseName": "podinfo",
            "targetNamespace": "apps",
            "storageNamespace": "helm-storage",
            "dependsOn": [{"name": "infra", "namespace": "flux-system"}],
            "timeout": "5m",
            "maxHistory": 3,
            "serviceAccountName": "deployer",
            "persistentClient": false,
            "driftDetection": {"mode": "enabled",
                               "ignore": [{"paths": ["/spec/replicas"], "target": {"kind": "Deployment"}}]},
            "install": {"timeout": "2m", "remediation": {"retries": 3, "ignoreTestFailures": true,
                                                           "remediateLastFailure": true},
                        "disableWait": true, "disableWaitForJobs": true, "disableHooks": true,
                        "disableOpenAPIValidation": true, "replace": true, "skipCRDs": true,
                        "crds": "CreateReplace", "createNamespace": true},
            "upgrade": {"timeout": "2m", "remediation": {"retries": -1, "ignoreTestFailures": false,
                                                           "remediateLastFailure": false, "strategy": "uninstall"},
                        "disableWait": true, "disableWaitForJobs": true, "disableHooks": true,
                        "disableOpenAPIValidation": true, "force": true, "preserveValues": true,
                        "cleanupOnFail": true, "crds": "Skip"},
            "test": {"enable": true, "timeout": "1m", "ignoreFailures": true,
                     "filters": [{"name": "smoke", "exclude": true}]},
            "rollback": {"timeout": "1m", "disableWait": true, "disableWaitForJobs": true,
                         "disableHooks": true, "recreate": true, "force": true, "cleanupOnFail": true},
            "uninstall": {"timeout": "1m", "disableHooks": true, "keepHistory": true,
                          "disableWait": true, "deletionPropagation": "foreground"},
            "valuesFrom": [{"kind": "Secret", "name": "extra", "valuesKey": "v.yaml",
                            "targetPath": "a.b", "optional": true}],
            "values": {"replicaCount": 2, "nested": {"list": [1, "two", null, {"x": 1.5}]}},
            "postRenderers": [{"kustomize": {"images": [{"name": "nginx", "newTag": "1"}],
                                              "patches": [{"patch": "- op: add", "target": {"kind": "Deployment"}}]}}]
        },
        "status": common(json!({
            "helmChart": "flux-system/apps-podinfo",
            "storageNamespace": "helm-storage",
            "history": [{"apiVersion": "v2", "digest": "sha256:aa", "name": "podinfo", "namespace": "apps",
                         "version": 2, "status": "deployed", "chartName": "podinfo", "chartVersion": "6.1.0",
                         "appVersion": "6.1.0", "configDigest": "sha256:bb",
                         "firstDeployed": "2026-01-01T00:00:00Z", "lastDeployed": "2026-01-02T00:00:00Z",
                         "deleted": "2026-01-03T00:00:00Z",
                         "testHooks": {"smoke": {"phase": "Succeeded"}}, "ociDigest": "sha256:cc"}],
            "lastAttemptedGeneration": 1,
            "failures": 2,
            "installFailures": 1,
            "upgradeFailures": 1,
            "lastAttemptedRevision": "6.1.0",
            "lastAttemptedRevisionDigest": "sha256:cc",
            "lastAttemptedValuesChecksum": "abc",
            "lastAttemptedConfigDigest": "sha256:bb",
            "lastAttemptedReleaseAction": "upgrade",
            "lastHandledForceAt": "1",
            "lastHandledResetAt": "2",
            "observedPostRenderersDigest": "sha256:dd"
        }))
    });
    for beta in ["v2beta1", "v2beta2"] {
        let mut release = every_release_field.clone();
        release["spec"]["releaseName"] = json!(format!("podinfo-{beta}"));
        every_field_round_trips::<HelmRelease>(&client, &ns, "helmreleases", beta, release).await;
        // The storage-version object is written again per beta; clean it up between rounds.
        Api::<HelmRelease>::namespaced(client.clone(), &ns)
            .delete_collection(&Default::default(), &Default::default())
            .await
            .unwrap();
    }
}
