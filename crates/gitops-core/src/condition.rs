//! Flux-style status conditions and their transitions.
//!
//! Conditions follow kstatus: `Ready` is the summary, `Reconciling` is present and `True` while a
//! pass is in progress or retrying, `Stalled` is present and `True` when only a change to the
//! input can help. [`Conditions`] applies the transitions so the three never contradict.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Condition types used by Flux's objects.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ConditionType {
    /// The summary condition.
    Ready,
    /// A pass is in progress or will be retried.
    Reconciling,
    /// Progress is impossible until the input changes.
    Stalled,
    /// The applied objects passed their health checks.
    Healthy,
    /// Any other type.
    Other(String),
}

impl ConditionType {
    /// The type's name as written in `status.conditions[].type`.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ready => "Ready",
            Self::Reconciling => "Reconciling",
            Self::Stalled => "Stalled",
            Self::Healthy => "Healthy",
            Self::Other(name) => name,
        }
    }
}

impl fmt::Display for ConditionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConditionStatus {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

impl fmt::Display for ConditionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        })
    }
}

/// One condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    /// The type.
    pub type_: ConditionType,
    /// The status.
    pub status: ConditionStatus,
    /// A CamelCase reason.
    pub reason: String,
    /// What it means, for a person.
    pub message: String,
    /// The object generation the condition was computed for.
    pub observed_generation: i64,
    /// When the status last changed.
    pub last_transition_time: SystemTime,
}

/// The set of conditions of one object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    items: Vec<Condition>,
}

impl Conditions {
    /// No conditions.
    pub fn new() -> Self {
        Self::default()
    }

    /// The conditions, in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = &Condition> {
        self.items.iter()
    }

    /// The condition of a type.
    pub fn get(&self, type_: &ConditionType) -> Option<&Condition> {
        self.items.iter().find(|c| &c.type_ == type_)
    }

    /// Whether a condition of the type is present with status `True`.
    pub fn is_true(&self, type_: &ConditionType) -> bool {
        self.get(type_)
            .is_some_and(|c| c.status == ConditionStatus::True)
    }

    /// Sets a condition. Its transition time moves only when its status changes.
    pub fn set(
        &mut self,
        type_: ConditionType,
        status: ConditionStatus,
        reason: &str,
        message: &str,
        generation: i64,
        now: SystemTime,
    ) {
        match self.items.iter_mut().find(|c| c.type_ == type_) {
            Some(existing) => {
                if existing.status != status {
                    existing.last_transition_time = now;
                }
                existing.status = status;
                existing.reason = reason.to_owned();
                existing.message = message.to_owned();
                existing.observed_generation = generation;
            }
            None => self.items.push(Condition {
                type_,
                status,
                reason: reason.to_owned(),
                message: message.to_owned(),
                observed_generation: generation,
                last_transition_time: now,
            }),
        }
    }

    /// Removes a condition.
    pub fn remove(&mut self, type_: &ConditionType) {
        self.items.retain(|c| &c.type_ != type_);
    }

    /// A pass started: `Reconciling=True`, `Ready=Unknown` ("Reconciliation in progress", as Flux
    /// writes it), no `Stalled`.
    pub fn mark_reconciling(&mut self, message: &str, generation: i64, now: SystemTime) {
        self.set(
            ConditionType::Reconciling,
            ConditionStatus::True,
            "Progressing",
            message,
            generation,
            now,
        );
        self.set(
            ConditionType::Ready,
            ConditionStatus::Unknown,
            "Progressing",
            "Reconciliation in progress",
            generation,
            now,
        );
        self.remove(&ConditionType::Stalled);
    }

    /// A pass succeeded: `Ready=True`, neither `Reconciling` nor `Stalled`.
    pub fn mark_ready(&mut self, reason: &str, message: &str, generation: i64, now: SystemTime) {
        self.set(
            ConditionType::Ready,
            ConditionStatus::True,
            reason,
            message,
            generation,
            now,
        );
        self.remove(&ConditionType::Reconciling);
        self.remove(&ConditionType::Stalled);
    }

    /// A pass failed: `Ready=False`; a stalled failure sets `Stalled=True` and drops
    /// `Reconciling`, a transient one keeps `Reconciling=True` (a retry is coming).
    pub fn mark_failed(
        &mut self,
        reason: &str,
        message: &str,
        stalled: bool,
        generation: i64,
        now: SystemTime,
    ) {
        self.set(
            ConditionType::Ready,
            ConditionStatus::False,
            reason,
            message,
            generation,
            now,
        );
        if stalled {
            self.set(
                ConditionType::Stalled,
                ConditionStatus::True,
                reason,
                message,
                generation,
                now,
            );
            self.remove(&ConditionType::Reconciling);
        } else {
            self.set(
                ConditionType::Reconciling,
                ConditionStatus::True,
                "ProgressingWithRetry",
                message,
                generation,
                now,
            );
            self.remove(&ConditionType::Stalled);
        }
    }

    /// Records the health-check result as `Healthy`.
    pub fn mark_healthy(&mut self, healthy: bool, message: &str, generation: i64, now: SystemTime) {
        let (status, reason) = if healthy {
            (ConditionStatus::True, "Succeeded")
        } else {
            (ConditionStatus::False, "HealthCheckFailed")
        };
        self.set(
            ConditionType::Healthy,
            status,
            reason,
            message,
            generation,
            now,
        );
    }
}

/// Formats a time as RFC 3339 in UTC with second precision, as Kubernetes writes `metav1.Time`.
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm), valid for the whole proleptic calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn transitions_keep_the_three_consistent() {
        let mut c = Conditions::new();
        c.mark_reconciling("fetching", 1, at(10));
        assert!(c.is_true(&ConditionType::Reconciling));
        assert_eq!(
            c.get(&ConditionType::Ready).unwrap().status,
            ConditionStatus::Unknown
        );

        c.mark_failed("BuildFailed", "bad patch", true, 1, at(20));
        assert!(c.is_true(&ConditionType::Stalled));
        assert!(c.get(&ConditionType::Reconciling).is_none());
        assert_eq!(c.get(&ConditionType::Ready).unwrap().reason, "BuildFailed");

        c.mark_failed("ArtifactFailed", "timeout", false, 1, at(25));
        assert!(c.get(&ConditionType::Stalled).is_none());
        assert_eq!(
            c.get(&ConditionType::Reconciling).unwrap().reason,
            "ProgressingWithRetry"
        );

        c.mark_ready(
            "ReconciliationSucceeded",
            "Applied revision: main@sha1:abc",
            2,
            at(30),
        );
        assert!(c.is_true(&ConditionType::Ready));
        assert!(c.get(&ConditionType::Reconciling).is_none());
        assert!(c.get(&ConditionType::Stalled).is_none());
        assert_eq!(c.get(&ConditionType::Ready).unwrap().observed_generation, 2);
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let mut c = Conditions::new();
        c.mark_ready("ReconciliationSucceeded", "a", 1, at(10));
        c.mark_ready("ReconciliationSucceeded", "b", 1, at(20));
        let ready = c.get(&ConditionType::Ready).unwrap();
        assert_eq!(ready.last_transition_time, at(10));
        assert_eq!(ready.message, "b");
        c.mark_failed("BuildFailed", "x", true, 1, at(30));
        assert_eq!(
            c.get(&ConditionType::Ready).unwrap().last_transition_time,
            at(30)
        );
    }

    #[test]
    fn health_condition() {
        let mut c = Conditions::new();
        c.mark_healthy(false, "Deployment/web/api not ready", 1, at(1));
        assert_eq!(
            c.get(&ConditionType::Healthy).unwrap().reason,
            "HealthCheckFailed"
        );
        c.mark_healthy(true, "all healthy", 1, at(2));
        assert!(c.is_true(&ConditionType::Healthy));
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(at(0)), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(at(1_795_000_000)), "2026-11-18T11:06:40Z");
    }
}
