//! `wait` against a real kube-apiserver. No controllers run there, so the test writes each
//! object's status through the status subresource, as a controller would.

mod common;

use std::time::Duration;

use common::{applier, objects};
use gitops_core::apply::ApplyOptions;
use gitops_core::{Applier, HealthStatus, ObjectRef};
use gitops_kube::KubeApplierOptions;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use serde_json::json;

const WORKLOADS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: {ns}}
spec:
  replicas: 2
  selector: {matchLabels: {app: d}}
  template: {metadata: {labels: {app: d}}, spec: {containers: [{name: c, image: "nginx:1.27"}]}}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: s, namespace: {ns}}
spec:
  replicas: 1
  serviceName: s
  selector: {matchLabels: {app: s}}
  template: {metadata: {labels: {app: s}}, spec: {containers: [{name: c, image: "nginx:1.27"}]}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds, namespace: {ns}}
spec:
  selector: {matchLabels: {app: ds}}
  template: {metadata: {labels: {app: ds}}, spec: {containers: [{name: c, image: "nginx:1.27"}]}}
---
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs, namespace: {ns}}
spec:
  replicas: 1
  selector: {matchLabels: {app: rs}}
  template: {metadata: {labels: {app: rs}}, spec: {containers: [{name: c, image: "nginx:1.27"}]}}
---
apiVersion: batch/v1
kind: Job
metadata: {name: j, namespace: {ns}}
spec:
  template: {spec: {restartPolicy: Never, containers: [{name: c, image: "busybox:1"}]}}
---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: {ns}}
spec: {containers: [{name: c, image: "nginx:1.27"}]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: pvc, namespace: {ns}}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
---
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: {ns}}
spec: {type: LoadBalancer, selector: {app: d}, ports: [{port: 80}]}
---
apiVersion: {ns}.example.com/v1
kind: Thing
metadata: {name: t, namespace: {ns}}
spec: {a: 1}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: things.{ns}.example.com}
spec:
  group: {ns}.example.com
  scope: Namespaced
  names: {plural: things, singular: thing, kind: Thing, listKind: ThingList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#;

async fn set_status(
    client: &kube::Client,
    id: &ObjectRef,
    plural: &str,
    status: serde_json::Value,
) {
    let resource = ApiResource {
        group: id.group.clone(),
        version: id.version.clone(),
        api_version: id.api_version(),
        kind: id.kind.clone(),
        plural: plural.into(),
    };
    let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(
        client.clone(),
        id.namespace.as_deref().unwrap_or_default(),
        &resource,
    );
    api.patch_status(
        &id.name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": status})),
    )
    .await
    .unwrap_or_else(|e| panic!("status of {id}: {e}"));
}

#[tokio::test]
async fn wait_reports_why_objects_are_not_ready_until_their_status_says_so() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let objs = objects(&ns, WORKLOADS);
    let (applier, _) = applier(
        kube,
        KubeApplierOptions::default().with_poll_interval(Duration::from_millis(200)),
    )
    .await;
    applier
        .apply(&objs, &ApplyOptions::default())
        .await
        .unwrap();
    let mut ids: Vec<ObjectRef> = objs.iter().map(|o| o.id().clone()).collect();
    ids.push(ObjectRef::new("", "v1", "Namespace", None, &ns));

    let report = applier
        .wait(&ids, Duration::from_millis(600))
        .await
        .unwrap();
    assert!(!report.is_healthy());
    let status_of = |report: &gitops_core::HealthReport, kind: &str| {
        report
            .objects
            .iter()
            .find(|h| h.id.kind == kind)
            .map(|h| (h.status, h.message.clone()))
            .unwrap()
    };
    for kind in [
        "Deployment",
        "StatefulSet",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "Pod",
        "PersistentVolumeClaim",
        "Service",
    ] {
        let (status, message) = status_of(&report, kind);
        assert_eq!(status, HealthStatus::InProgress, "{kind}: {message}");
        assert!(!message.is_empty());
    }
    for kind in ["CustomResourceDefinition", "Namespace", "Thing"] {
        assert_eq!(status_of(&report, kind).0, HealthStatus::Current, "{kind}");
    }
    assert!(status_of(&report, "Deployment").1.contains("observed"));

    // The custom resource with a Ready=False condition is in progress, with the reason.
    let thing = ids.iter().find(|i| i.kind == "Thing").unwrap().clone();
    let client = applier.client().clone();
    set_status(&client, &thing, "things", json!({"observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "False", "reason": "Provisioning", "message": "waiting for disk",
            "lastTransitionTime": "2026-01-01T00:00:00Z"}]})).await;
    let report = applier
        .wait(std::slice::from_ref(&thing), Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(report.objects[0].status, HealthStatus::InProgress);
    assert!(report.objects[0].message.contains("waiting for disk"));

    // A roll-out halfway through says how far it got.
    let id = |kind: &str| ids.iter().find(|i| i.kind == kind).unwrap().clone();
    set_status(
        &client,
        &id("Deployment"),
        "deployments",
        json!({"observedGeneration": 1, "replicas": 1,
        "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}),
    )
    .await;
    let report = applier
        .wait(&[id("Deployment")], Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(report.objects[0].message, "1 of 2 replicas updated");

    // Statuses as controllers would write them once done.
    let now = "2026-01-01T00:00:00Z";
    set_status(
        &client,
        &id("Deployment"),
        "deployments",
        json!({"observedGeneration": 1, "replicas": 2,
        "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}),
    )
    .await;
    set_status(
        &client,
        &id("StatefulSet"),
        "statefulsets",
        json!({"observedGeneration": 1, "replicas": 1,
        "readyReplicas": 1, "currentReplicas": 1, "updatedReplicas": 1,
        "currentRevision": "s-1", "updateRevision": "s-1", "availableReplicas": 1}),
    )
    .await;
    set_status(
        &client,
        &id("DaemonSet"),
        "daemonsets",
        json!({"observedGeneration": 1,
        "desiredNumberScheduled": 1, "currentNumberScheduled": 1, "updatedNumberScheduled": 1,
        "numberAvailable": 1, "numberReady": 1, "numberMisscheduled": 0}),
    )
    .await;
    set_status(
        &client,
        &id("ReplicaSet"),
        "replicasets",
        json!({"observedGeneration": 1, "replicas": 1,
        "fullyLabeledReplicas": 1, "readyReplicas": 1, "availableReplicas": 1}),
    )
    .await;
    set_status(
        &client,
        &id("Job"),
        "jobs",
        json!({"startTime": now, "completionTime": now, "succeeded": 1,
        "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now}]}),
    )
    .await;
    set_status(
        &client,
        &id("Pod"),
        "pods",
        json!({"phase": "Running",
        "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now}]}),
    )
    .await;
    set_status(
        &client,
        &id("PersistentVolumeClaim"),
        "persistentvolumeclaims",
        json!({"phase": "Bound"}),
    )
    .await;
    set_status(
        &client,
        &id("Service"),
        "services",
        json!({"loadBalancer": {"ingress": [{"ip": "192.0.2.10"}]}}),
    )
    .await;
    set_status(
        &client,
        &thing,
        "things",
        json!({"observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Done", "message": "ok",
            "lastTransitionTime": now}]}),
    )
    .await;

    let report = applier.wait(&ids, Duration::from_secs(10)).await.unwrap();
    let not_ready: Vec<String> = report
        .not_ready()
        .map(|h| format!("{}: {}", h.id, h.message))
        .collect();
    assert!(report.is_healthy(), "{not_ready:?}");

    // A deleted object is reported as such.
    applier
        .delete(std::slice::from_ref(&id("Pod")), &Default::default())
        .await
        .unwrap();
    let report = applier
        .wait(&[id("Pod")], Duration::from_secs(5))
        .await
        .unwrap();
    assert!(matches!(
        report.objects[0].status,
        HealthStatus::NotFound | HealthStatus::InProgress
    ));
}
