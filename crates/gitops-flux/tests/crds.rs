//! The CRDs against a real kube-apiserver: install (twice), objects written through Flux's beta
//! versions read back through the typed `v1` API, validation, the status subresource and the
//! printer columns.

use gitops_flux::api::{
    Alert, GitRepository, ImagePolicy, ImageRepository, ImageUpdateAutomation, Kustomization,
    Provider,
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
        assert_eq!(status.stored_versions.unwrap(), ["v1"], "{name}");
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
    let api: Api<CustomResourceDefinition> = Api::all(client);
    for (name, columns) in expected {
        let crd = api.get(name).await.unwrap();
        assert_eq!(crd.spec.versions.len(), 2, "{name}");
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
