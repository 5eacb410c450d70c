//! kustomize's legacy output order.

use std::cmp::Ordering;

use crate::resource::{ResId, Resource};

const ORDER_FIRST: [&str; 22] = [
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
];
const ORDER_LAST: [&str; 2] = [
    "MutatingWebhookConfiguration",
    "ValidatingWebhookConfiguration",
];

fn id_string(id: &ResId) -> String {
    format!(
        "{}|{}|{}",
        id.gvk.sort_string(),
        if id.namespace.is_empty() {
            "~X"
        } else {
            &id.namespace
        },
        if id.name.is_empty() { "~N" } else { &id.name }
    )
}

/// Sorts in the legacy order, with custom first and last kinds when given.
pub(crate) fn legacy(ra: &mut [Resource], first: Option<&[String]>, last: Option<&[String]>) {
    let rank = |kind: &str| -> i64 {
        let (f, l): (Vec<&str>, Vec<&str>) = match (first, last) {
            (None, None) => (ORDER_FIRST.to_vec(), ORDER_LAST.to_vec()),
            _ => (
                first.unwrap_or(&[]).iter().map(String::as_str).collect(),
                last.unwrap_or(&[]).iter().map(String::as_str).collect(),
            ),
        };
        let mut r = 0i64;
        if let Some(i) = f.iter().position(|k| *k == kind) {
            r = -(f.len() as i64) + i as i64;
        }
        if let Some(i) = l.iter().position(|k| *k == kind) {
            r = 1 + i as i64;
        }
        r
    };
    let mut keyed: Vec<(i64, String, String, Resource)> = ra
        .iter()
        .map(|r| {
            let id = r.cur_id();
            (
                rank(&id.gvk.kind),
                id.gvk.sort_string(),
                id_string(&id),
                r.clone(),
            )
        })
        .collect();
    keyed.sort_by(|a, b| {
        let ga = &a.3.gvk();
        let gb = &b.3.gvk();
        if ga != gb {
            if a.0 != b.0 {
                return a.0.cmp(&b.0);
            }
            if ga.kind == "Namespace"
                && gb.kind == "Namespace"
                && (ga.group.is_empty() || gb.group.is_empty())
            {
                return b.1.cmp(&a.1);
            }
            return a.1.cmp(&b.1);
        }
        a.2.cmp(&b.2).then(Ordering::Equal)
    });
    for (slot, (_, _, _, r)) in ra.iter_mut().zip(keyed) {
        *slot = r;
    }
}
