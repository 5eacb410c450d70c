//! The namespace, the controller's Deployment, its Services and its NetworkPolicy.
//!
//! The Deployment follows the restricted Pod Security profile: non-root, read-only root
//! filesystem (storage and `/tmp` are `emptyDir`s), no privilege escalation, every capability
//! dropped, seccomp `RuntimeDefault`. Probes hit `/healthz` and `/readyz` on the metrics port;
//! logs are JSON, as `gitops logs` reads them. Values are written in the form the API server
//! stores them (`cpu: "1"`, `fieldRef.apiVersion`), so a re-apply finds nothing to change.

use serde_json::{Value, json};

use crate::{CONTROLLER, InstallOptions};

/// The port of `/metrics`, `/healthz` and `/readyz`.
pub const METRICS_PORT: u16 = 8080;

/// The port the webhook receiver listens on inside the Pod.
pub const RECEIVER_PORT: u16 = 9292;

/// The name of the Service in front of the webhook receiver (Flux's name).
pub const RECEIVER_SERVICE: &str = "webhook-receiver";

/// The namespace, labelled for the restricted Pod Security profile.
pub fn namespace(options: &InstallOptions) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": options.namespace, "labels": {
               "pod-security.kubernetes.io/enforce": "restricted",
               "pod-security.kubernetes.io/warn": "restricted"}}})
}

/// The Deployment, the two Services and the NetworkPolicy.
pub fn objects(options: &InstallOptions) -> Vec<Value> {
    vec![
        deployment(options),
        service(
            options,
            CONTROLLER,
            "http-metrics",
            METRICS_PORT,
            METRICS_PORT,
        ),
        service(options, RECEIVER_SERVICE, "http", 80, RECEIVER_PORT),
        network_policy(options),
    ]
}

fn selector() -> Value {
    json!({"app": CONTROLLER})
}

/// One replica with leader election on, so a rollout hands the Lease over instead of running
/// two writers.
fn deployment(options: &InstallOptions) -> Value {
    let probe = |path: &str| {
        json!({"httpGet": {"path": path, "port": "http-metrics"},
               "periodSeconds": 10, "timeoutSeconds": 5})
    };
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": CONTROLLER, "namespace": options.namespace,
                     "labels": {"app.kubernetes.io/component": "controller"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector()},
            "strategy": {"type": "Recreate"},
            "template": {
                "metadata": {"labels": selector(),
                             "annotations": {"prometheus.io/scrape": "true",
                                             "prometheus.io/port": METRICS_PORT.to_string()}},
                "spec": {
                    "serviceAccountName": CONTROLLER,
                    "terminationGracePeriodSeconds": 10,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65532,
                                        "runAsGroup": 65532, "fsGroup": 65532,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "manager",
                        "image": options.image,
                        "imagePullPolicy": "IfNotPresent",
                        "args": [
                            "--storage-path=/data",
                            format!("--metrics-addr=0.0.0.0:{METRICS_PORT}"),
                            format!("--receiver-addr=0.0.0.0:{RECEIVER_PORT}"),
                            "--log-encoding=json",
                            format!("--lease-namespace={}", options.namespace),
                        ],
                        "env": [
                            {"name": "RUST_LOG", "value": options.log_level},
                            {"name": "POD_NAME",
                             "valueFrom": {"fieldRef": {"apiVersion": "v1",
                                                        "fieldPath": "metadata.name"}}},
                        ],
                        "ports": [
                            {"name": "http-metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                            {"name": "http-receiver", "containerPort": RECEIVER_PORT, "protocol": "TCP"},
                        ],
                        "livenessProbe": probe("/healthz"),
                        "readinessProbe": probe("/readyz"),
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                                      "limits": {"cpu": "1", "memory": "1Gi"}},
                        "securityContext": {"allowPrivilegeEscalation": false,
                                            "readOnlyRootFilesystem": true,
                                            "runAsNonRoot": true,
                                            "capabilities": {"drop": ["ALL"]},
                                            "seccompProfile": {"type": "RuntimeDefault"}},
                        "volumeMounts": [{"name": "data", "mountPath": "/data"},
                                         {"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [{"name": "data", "emptyDir": {}},
                                {"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    })
}

fn service(options: &InstallOptions, name: &str, port_name: &str, port: u16, target: u16) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": options.namespace},
           "spec": {"type": "ClusterIP", "selector": selector(),
                    "ports": [{"name": port_name, "port": port, "targetPort": target,
                               "protocol": "TCP"}]}})
}

/// Ingress to the controller only on its metrics and receiver ports (from any namespace, for
/// Prometheus and an ingress controller); egress stays open, as Git hosts, registries and the
/// API server live anywhere.
fn network_policy(options: &InstallOptions) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": CONTROLLER, "namespace": options.namespace},
           "spec": {"podSelector": {"matchLabels": selector()},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"ports": [
                        {"port": METRICS_PORT, "protocol": "TCP"},
                        {"port": RECEIVER_PORT, "protocol": "TCP"}]}]}})
}
