//! Flux-style status conditions as the API server stores them.
//!
//! The transitions themselves (Ready/Reconciling/Stalled never contradicting) live in
//! [`gitops_core::condition::Conditions`]; this module only writes them in Kubernetes' form and
//! keeps a condition's `lastTransitionTime` when its status did not change.

use gitops_core::condition::{Conditions, rfc3339};
use serde::{Deserialize, Serialize};

/// One condition, as `status.conditions[]` holds it (`metav1.Condition`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FluxCondition {
    /// `Ready`, `Reconciling`, `Stalled`, `Healthy`, ...
    #[serde(rename = "type")]
    pub type_: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// The generation it was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When the status last changed (RFC 3339).
    #[serde(default)]
    pub last_transition_time: String,
    /// A CamelCase reason.
    #[serde(default)]
    pub reason: String,
    /// For a person.
    #[serde(default)]
    pub message: String,
}

/// The conditions to store: `next` in Kubernetes' form, `Ready` first, each keeping the
/// `lastTransitionTime` of `previous` when its status is unchanged.
pub fn merge(previous: &[FluxCondition], next: &Conditions) -> Vec<FluxCondition> {
    let mut merged: Vec<FluxCondition> = next
        .iter()
        .map(|c| {
            let type_ = c.type_.as_str().to_string();
            let status = c.status.to_string();
            let last_transition_time = previous
                .iter()
                .find(|p| p.type_ == type_ && p.status == status)
                .map(|p| p.last_transition_time.clone())
                .unwrap_or_else(|| rfc3339(c.last_transition_time));
            FluxCondition {
                type_,
                status,
                observed_generation: Some(c.observed_generation),
                last_transition_time,
                reason: c.reason.clone(),
                message: c.message.clone(),
            }
        })
        .collect();
    merged.sort_by_key(|c| c.type_ != "Ready");
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn transition_time_moves_only_when_the_status_changes() {
        let earlier = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let later = earlier + Duration::from_secs(3600);
        let mut first = Conditions::new();
        first.mark_ready("ReconciliationSucceeded", "Applied revision: a", 1, earlier);
        let stored = merge(&[], &first);
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].last_transition_time, "2023-11-14T22:13:20Z");

        let mut again = Conditions::new();
        again.mark_ready("ReconciliationSucceeded", "Applied revision: b", 2, later);
        let kept = merge(&stored, &again);
        assert_eq!(kept[0].last_transition_time, stored[0].last_transition_time);
        assert_eq!(kept[0].message, "Applied revision: b");
        assert_eq!(kept[0].observed_generation, Some(2));

        let mut failed = Conditions::new();
        failed.mark_failed("BuildFailed", "bad yaml", true, 2, later);
        let moved = merge(&kept, &failed);
        assert_eq!(moved[0].type_, "Ready");
        assert_eq!(moved[0].status, "False");
        assert_eq!(moved[0].last_transition_time, "2023-11-14T23:13:20Z");
        assert!(
            moved
                .iter()
                .any(|c| c.type_ == "Stalled" && c.status == "True")
        );
    }
}
