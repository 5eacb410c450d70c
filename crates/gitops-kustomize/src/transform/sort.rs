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
    struct Key {
        rank: i64,
        gvk: String,
        kind_is_ns_coreish: (bool, bool),
        id: String,
    }
    let keys: Vec<Key> = ra
        .iter()
        .map(|r| {
            let id = r.cur_id();
            Key {
                rank: rank(&id.gvk.kind),
                gvk: id.gvk.sort_string(),
                kind_is_ns_coreish: (id.gvk.kind == "Namespace", id.gvk.group.is_empty()),
                id: id_string(&id),
            }
        })
        .collect();
    let mut order: Vec<usize> = (0..ra.len()).collect();
    order.sort_by(|&a, &b| {
        let (ka, kb) = (&keys[a], &keys[b]);
        if ka.gvk != kb.gvk {
            if ka.rank != kb.rank {
                return ka.rank.cmp(&kb.rank);
            }
            if ka.kind_is_ns_coreish.0
                && kb.kind_is_ns_coreish.0
                && (ka.kind_is_ns_coreish.1 || kb.kind_is_ns_coreish.1)
            {
                return kb.gvk.cmp(&ka.gvk);
            }
            return ka.gvk.cmp(&kb.gvk);
        }
        ka.id.cmp(&kb.id).then(Ordering::Equal)
    });
    let mut taken: Vec<Option<Resource>> = ra
        .iter_mut()
        .map(|r| Some(std::mem::replace(r, Resource::new(serde_json::Value::Null))))
        .collect();
    for (slot, i) in ra.iter_mut().zip(order) {
        *slot = taken[i]
            .take()
            .expect("each index appears once in a permutation");
    }
}
