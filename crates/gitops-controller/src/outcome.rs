//! What a pass tells its worker and the object's status: the next [`Action`] for the queue,
//! and a [`Failure`] to record when it could not do its work.

use std::time::Duration;

use gitops_core::schedule::Interval;

use crate::engine::Key;

/// What the queue does with an object after its pass (kube-runtime's `Action`, for this
/// controller's queue).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Look at the object again after this long.
    Requeue(Duration),
    /// Nothing is due until the object changes (a watch event wakes it) or something it
    /// depends on wakes it: it is suspended, gone, or waits for a change to its input.
    AwaitChange,
}

impl Action {
    /// The next pass of `key` after a successful one, its `pass`-th: `interval` moved by up to
    /// ±5 % (Flux's default jitter), a different amount for each object and pass, so objects
    /// created together do not all wake together.
    pub fn after_interval(key: &Key, interval: Duration, pass: u64) -> Action {
        Action::Requeue(Interval::new(interval).delay(&key.to_string(), pass))
    }

    /// The delay before the next pass, if any.
    pub fn delay(self) -> Option<Duration> {
        match self {
            Action::Requeue(delay) => Some(delay),
            Action::AwaitChange => None,
        }
    }
}

/// A failed pass as Flux's status records it: `Ready=False` with `reason` and `message`, and
/// either `Stalled=True` (only a change to the object or its inputs can help) or
/// `Reconciling=True` (a retry is coming).
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The condition reason, in Flux's words (`GitOperationFailed`, `BuildFailed`, …).
    pub reason: String,
    /// What went wrong, for a person; never a secret value.
    pub message: String,
    /// Whether retrying without a change is pointless.
    pub stalled: bool,
}

impl Failure {
    /// A failure that a retry may cure (a server away, a timeout).
    pub fn retry(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            reason: reason.into(),
            message: message.into(),
            stalled: false,
        }
    }

    /// A failure only a change to the object or its inputs can cure (an invalid spec, a
    /// build error).
    pub fn stalled(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            stalled: true,
            ..Failure::retry(reason, message)
        }
    }

    /// Stalled or not, as `stalled` says.
    pub fn new(reason: impl Into<String>, message: impl Into<String>, stalled: bool) -> Self {
        Failure {
            stalled,
            ..Failure::retry(reason, message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Kind;

    #[test]
    fn failures_say_whether_a_retry_can_help() {
        let transient = Failure::retry("GitOperationFailed", "connection refused");
        assert!(!transient.stalled);
        let spec = Failure::stalled("URLInvalid", "scheme 'file' is not allowed");
        assert!(spec.stalled);
        assert_eq!(spec.reason, "URLInvalid");
        assert_eq!(Failure::new("R", "m", true), Failure::stalled("R", "m"));
    }

    #[test]
    fn intervals_are_jittered_within_five_percent_and_spread_objects() {
        let every = Duration::from_secs(600);
        let delays: Vec<Duration> = (0..100)
            .map(|i| {
                let key = Key::new(Kind::Kustomization, "flux-system", &format!("app-{i}"));
                Action::after_interval(&key, every, 0)
                    .delay()
                    .expect("a requeue")
            })
            .collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= every.mul_f64(0.95) && *d <= every.mul_f64(1.05))
        );
        let distinct: std::collections::BTreeSet<Duration> = delays.iter().copied().collect();
        assert!(
            distinct.len() > 90,
            "only {} distinct delays",
            distinct.len()
        );
        // One object's delay changes from pass to pass too.
        let key = Key::new(Kind::GitRepository, "flux-system", "repo");
        assert_ne!(
            Action::after_interval(&key, every, 1),
            Action::after_interval(&key, every, 2)
        );
    }

    #[test]
    fn only_a_requeue_has_a_delay() {
        assert_eq!(
            Action::Requeue(Duration::from_secs(3)).delay(),
            Some(Duration::from_secs(3))
        );
        assert_eq!(Action::AwaitChange.delay(), None);
    }
}
