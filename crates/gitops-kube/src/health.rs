//! Readiness of live objects after the rules of kstatus (the library Flux uses): one function from
//! an object's JSON to a [`HealthStatus`] and a reason a person can read.
//!
//! Rules, in order:
//! 1. an object being deleted is in progress;
//! 2. `status.observedGeneration` behind `metadata.generation` is in progress (the controller has
//!    not seen the latest spec);
//!    A workload (Deployment, StatefulSet, DaemonSet, ReplicaSet) whose controller has not yet
//!    written `observedGeneration` is in progress too;
//! 3. the kind's own rule (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, Pod,
//!    PersistentVolumeClaim, Service, CustomResourceDefinition, Namespace);
//! 4. any other object with `status.conditions`: `Stalled=True` failed, `Reconciling=True` in
//!    progress, `Ready` decides; without a `Ready` condition or without a status it is current.
//!
//! One deliberate difference from kstatus: a Job is current only once it completed, because
//! waiting for a Job means waiting for its work.

use gitops_core::HealthStatus;
use serde_json::Value;

/// The readiness of one live object and why.
pub fn health(live: &Value) -> (HealthStatus, String) {
    use HealthStatus::{Current, InProgress};
    if live.pointer("/metadata/deletionTimestamp").is_some() {
        return (InProgress, "being deleted".into());
    }
    let group = live
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit_once('/').map(|(g, _)| g))
        .unwrap_or("");
    let kind = live.get("kind").and_then(Value::as_str).unwrap_or("");
    let generation = int(live, "/metadata/generation");
    let observed = int(live, "/status/observedGeneration");
    if let (Some(generation), Some(observed)) = (generation, observed) {
        if observed < generation {
            return (
                InProgress,
                format!("observed generation {observed} behind generation {generation}"),
            );
        }
    }
    let workload = group == "apps"
        && matches!(
            kind,
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
        );
    if workload && generation.is_some() && observed.is_none() {
        return (InProgress, "not yet observed by its controller".into());
    }
    match (group, kind) {
        ("apps", "Deployment") => deployment(live),
        ("apps", "StatefulSet") => stateful_set(live),
        ("apps", "DaemonSet") => daemon_set(live),
        ("apps", "ReplicaSet") => replica_set(live),
        ("batch", "Job") => job(live),
        ("", "Pod") => pod(live),
        ("", "PersistentVolumeClaim") => match str_at(live, "/status/phase") {
            Some("Bound") => (Current, "bound".into()),
            Some(phase) => (InProgress, format!("phase {phase}, not Bound")),
            None => (InProgress, "not bound yet".into()),
        },
        ("", "Service") => service(live),
        ("", "Namespace") => match str_at(live, "/status/phase") {
            Some("Terminating") => (InProgress, "terminating".into()),
            _ => (Current, "active".into()),
        },
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crd(live),
        _ => conditions(live),
    }
}

fn int(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer).and_then(Value::as_i64)
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// The status of condition `type_` (`"True"`, `"False"`, `"Unknown"`) with its reason and message.
fn condition<'a>(v: &'a Value, type_: &str) -> Option<(&'a str, &'a str, &'a str)> {
    v.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
        .map(|c| {
            let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or("");
            (s("status"), s("reason"), s("message"))
        })
}

fn deployment(live: &Value) -> (HealthStatus, String) {
    use HealthStatus::{Current, Failed, InProgress};
    if let Some((_, "ProgressDeadlineExceeded", message)) = condition(live, "Progressing") {
        return (Failed, format!("progress deadline exceeded: {message}"));
    }
    let want = int(live, "/spec/replicas").unwrap_or(1);
    let replicas = int(live, "/status/replicas").unwrap_or(0);
    let updated = int(live, "/status/updatedReplicas").unwrap_or(0);
    let ready = int(live, "/status/readyReplicas").unwrap_or(0);
    let available = int(live, "/status/availableReplicas").unwrap_or(0);
    if updated < want {
        return (InProgress, format!("{updated} of {want} replicas updated"));
    }
    if replicas > updated {
        return (
            InProgress,
            format!("{} old replicas pending termination", replicas - updated),
        );
    }
    if available < updated {
        return (
            InProgress,
            format!("{available} of {updated} replicas available"),
        );
    }
    if ready < want {
        return (InProgress, format!("{ready} of {want} replicas ready"));
    }
    (Current, format!("{ready} of {want} replicas ready"))
}

fn stateful_set(live: &Value) -> (HealthStatus, String) {
    use HealthStatus::{Current, InProgress};
    let want = int(live, "/spec/replicas").unwrap_or(1);
    let ready = int(live, "/status/readyReplicas").unwrap_or(0);
    let current = int(live, "/status/currentReplicas").unwrap_or(0);
    let updated = int(live, "/status/updatedReplicas").unwrap_or(0);
    if ready < want {
        return (InProgress, format!("{ready} of {want} replicas ready"));
    }
    let rolling = str_at(live, "/spec/updateStrategy/type").is_none_or(|t| t == "RollingUpdate");
    if rolling {
        let partition = int(live, "/spec/updateStrategy/rollingUpdate/partition").unwrap_or(0);
        if partition > 0 {
            if updated < want - partition {
                return (
                    InProgress,
                    format!(
                        "{updated} of {} replicas updated (partition {partition})",
                        want - partition
                    ),
                );
            }
            return (
                Current,
                format!("partitioned roll out complete ({updated} updated)"),
            );
        }
        let current_rev = str_at(live, "/status/currentRevision");
        let update_rev = str_at(live, "/status/updateRevision");
        if current_rev != update_rev {
            return (
                InProgress,
                format!("{updated} of {want} replicas updated to the new revision"),
            );
        }
        if current < want {
            return (InProgress, format!("{current} of {want} replicas current"));
        }
    }
    (Current, format!("{ready} of {want} replicas ready"))
}

fn daemon_set(live: &Value) -> (HealthStatus, String) {
    use HealthStatus::{Current, InProgress};
    let Some(desired) = int(live, "/status/desiredNumberScheduled") else {
        return (InProgress, "not scheduled yet".into());
    };
    let scheduled = int(live, "/status/currentNumberScheduled").unwrap_or(0);
    let updated = int(live, "/status/updatedNumberScheduled").unwrap_or(0);
    let available = int(live, "/status/numberAvailable").unwrap_or(0);
    let ready = int(live, "/status/numberReady").unwrap_or(0);
    for (n, what) in [
        (scheduled, "scheduled"),
        (updated, "updated"),
        (available, "available"),
        (ready, "ready"),
    ] {
        if n < desired {
            return (InProgress, format!("{n} of {desired} pods {what}"));
        }
    }
    (Current, format!("{ready} of {desired} pods ready"))
}

fn replica_set(live: &Value) -> (HealthStatus, String) {
    use HealthStatus::{Current, Failed, InProgress};
    if let Some(("True", reason, message)) = condition(live, "ReplicaFailure") {
        return (Failed, format!("replica failure {reason}: {message}"));
    }
    let want = int(live, "/spec/replicas").unwrap_or(1);
    let ready = int(live, "/status/readyReplicas").unwrap_or(0);
    let available = int(live, "/status/availableReplicas").unwrap_or(0);
    let labelled = int(live, "/status/fullyLabeledReplicas").unwrap_or(want);
    if labelled < want || available < want || ready < want {
        return (InProgress, format!("{ready} of {want} replicas ready"));
    }
    (Current, format!("{ready} of {want} replicas ready"))
}

fn job(live: &Value) -> (HealthStatus, String) {
    use HealthStatus::{Current, Failed, InProgress};
    if let Some(("True", reason, message)) = condition(live, "Failed") {
        return (Failed, format!("job failed ({reason}): {message}"));
    }
    if let Some(("True", _, _)) = condition(live, "Complete") {
        return (Current, "job completed".into());
    }
    let succeeded = int(live, "/status/succeeded").unwrap_or(0);
    let active = int(live, "/status/active").unwrap_or(0);
    (
        InProgress,
        format!("job running: {active} active, {succeeded} succeeded"),
    )
}

fn pod(live: &Value) -> (HealthStatus, String) {
    use HealthStatus::{Current, Failed, InProgress};
    match str_at(live, "/status/phase") {
        Some("Succeeded") => return (Current, "pod succeeded".into()),
        Some("Failed") => return (Failed, "pod failed".into()),
        _ => {}
    }
    if let Some(statuses) = live
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
    {
        for s in statuses {
            let reason = s.pointer("/state/waiting/reason").and_then(Value::as_str);
            if let Some(reason @ ("CrashLoopBackOff" | "ImagePullBackOff" | "ErrImagePull")) =
                reason
            {
                let name = s.get("name").and_then(Value::as_str).unwrap_or("?");
                return (Failed, format!("container {name}: {reason}"));
            }
        }
    }
    match condition(live, "Ready") {
        Some(("True", _, _)) => (Current, "pod ready".into()),
        _ => (
            InProgress,
            format!(
                "pod not ready (phase {})",
                str_at(live, "/status/phase").unwrap_or("unknown")
            ),
        ),
    }
}

fn service(live: &Value) -> (HealthStatus, String) {
    use HealthStatus::{Current, InProgress};
    if str_at(live, "/spec/type") == Some("LoadBalancer") {
        let has_ingress = live
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        if !has_ingress {
            return (
                InProgress,
                "load balancer has no ingress address yet".into(),
            );
        }
        return (Current, "load balancer ready".into());
    }
    (Current, "service ready".into())
}

fn crd(live: &Value) -> (HealthStatus, String) {
    use HealthStatus::{Current, Failed, InProgress};
    if let Some(("False", reason, message)) = condition(live, "NamesAccepted") {
        return (Failed, format!("names not accepted ({reason}): {message}"));
    }
    match condition(live, "Established") {
        Some(("True", _, _)) => (Current, "established".into()),
        _ => (InProgress, "not established yet".into()),
    }
}

fn conditions(live: &Value) -> (HealthStatus, String) {
    use HealthStatus::{Current, Failed, InProgress};
    if let Some(("True", reason, message)) = condition(live, "Stalled") {
        return (Failed, format!("stalled ({reason}): {message}"));
    }
    if let Some(("True", reason, message)) = condition(live, "Reconciling") {
        return (InProgress, format!("reconciling ({reason}): {message}"));
    }
    match condition(live, "Ready") {
        Some(("True", _, _)) => {
            if live.pointer("/status/observedGeneration").is_none()
                && live.pointer("/metadata/generation").and_then(Value::as_i64) > Some(1)
            {
                return (
                    InProgress,
                    "ready, but no observedGeneration to confirm the latest spec".into(),
                );
            }
            (Current, "ready".into())
        }
        Some((status, reason, message)) => {
            (InProgress, format!("Ready={status} ({reason}): {message}"))
        }
        None => (Current, "no readiness conditions".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(v: Value) -> HealthStatus {
        health(&v).0
    }

    #[test]
    fn deployment_rules() {
        let base = |status: Value| {
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"generation": 2}, "spec": {"replicas": 2}, "status": status})
        };
        assert_eq!(status(base(json!({}))), HealthStatus::InProgress);
        assert_eq!(
            status(base(
                json!({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2,
                "readyReplicas": 2, "availableReplicas": 2})
            )),
            HealthStatus::InProgress
        );
        assert_eq!(
            status(base(
                json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2,
                "readyReplicas": 2, "availableReplicas": 2})
            )),
            HealthStatus::Current
        );
        let (s, why) = health(&base(json!({"observedGeneration": 2, "conditions": [
            {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "slow"}]})));
        assert_eq!(s, HealthStatus::Failed);
        assert!(why.contains("slow"));
    }

    #[test]
    fn job_pod_pvc_service_crd_namespace() {
        let job = |c: Value| json!({"apiVersion": "batch/v1", "kind": "Job", "status": {"conditions": [c]}});
        assert_eq!(
            status(job(json!({"type": "Complete", "status": "True"}))),
            HealthStatus::Current
        );
        assert_eq!(
            status(job(json!({"type": "Failed", "status": "True"}))),
            HealthStatus::Failed
        );
        assert_eq!(
            status(
                json!({"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Running",
                "conditions": [{"type": "Ready", "status": "True"}]}})
            ),
            HealthStatus::Current
        );
        assert_eq!(
            status(
                json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "status": {"phase": "Pending"}})
            ),
            HealthStatus::InProgress
        );
        assert_eq!(
            status(
                json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer"}})
            ),
            HealthStatus::InProgress
        );
        assert_eq!(
            status(json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "ClusterIP"}})),
            HealthStatus::Current
        );
        assert_eq!(
            status(
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "status": {"conditions": [{"type": "Established", "status": "True"}]}})
            ),
            HealthStatus::Current
        );
        assert_eq!(
            status(json!({"apiVersion": "v1", "kind": "Namespace", "status": {"phase": "Active"}})),
            HealthStatus::Current
        );
    }

    #[test]
    fn custom_resources_use_ready_and_observed_generation() {
        let cr = |g: i64, og: i64, ready: &str| {
            json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"generation": g},
                "status": {"observedGeneration": og, "conditions": [{"type": "Ready", "status": ready, "reason": "R", "message": "m"}]}})
        };
        assert_eq!(status(cr(2, 2, "True")), HealthStatus::Current);
        assert_eq!(status(cr(2, 1, "True")), HealthStatus::InProgress);
        assert_eq!(status(cr(1, 1, "False")), HealthStatus::InProgress);
        assert_eq!(
            status(json!({"apiVersion": "example.com/v1", "kind": "Widget"})),
            HealthStatus::Current
        );
    }
}
