//! Shared helpers of the integration tests.
#![allow(dead_code)]

use gitops_core::Object;
use gitops_kube::{ConnectOptions, KubeApplier, KubeApplierOptions, RequestCounter};
use gitops_testenv::KubeEnv;

/// Objects from YAML text, `{ns}` replaced by the namespace.
pub fn objects(ns: &str, yaml: &str) -> Vec<Object> {
    gitops_core::object::parse_yaml("test.yaml", &yaml.replace("{ns}", ns))
        .expect("test YAML parses")
}

/// An applier on the admin identity with a request counter.
pub async fn applier(kube: &KubeEnv, options: KubeApplierOptions) -> (KubeApplier, RequestCounter) {
    let counter = RequestCounter::default();
    let connect = ConnectOptions::default().with_counter(counter.clone());
    let config = kube.config().await.expect("admin config");
    let client = gitops_kube::client_from_config(config, &connect).expect("client");
    (KubeApplier::with_options(client, options), counter)
}

/// A live object as JSON, `None` when absent.
pub async fn live(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    plural: &str,
    ns: Option<&str>,
    name: &str,
) -> Option<serde_json::Value> {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    let resource = kube::api::ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    };
    let api: kube::Api<kube::api::DynamicObject> = match ns {
        Some(ns) => kube::Api::namespaced_with(client.clone(), ns, &resource),
        None => kube::Api::all_with(client.clone(), &resource),
    };
    api.get_opt(name)
        .await
        .expect("get")
        .map(|o| serde_json::to_value(o).expect("json"))
}
