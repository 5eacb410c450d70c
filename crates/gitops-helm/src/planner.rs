//! What a HelmRelease pass should do next, as Flux's helm-controller decides it: the release's
//! state is classified from Helm's storage and the object's status ([`classify`]), then the
//! state and the spec's remediation and retry settings choose one action ([`next_action`]).
//! Both are pure functions of an [`Observation`]; the controller gathers it (reading storage,
//! diffing the cluster) and carries the action out.

/// A Helm release's status in storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredStatus {
    /// `deployed`.
    Deployed,
    /// `failed`.
    Failed,
    /// `superseded`.
    Superseded,
    /// `uninstalled`.
    Uninstalled,
    /// `uninstalling`.
    Uninstalling,
    /// `pending-install`.
    PendingInstall,
    /// `pending-upgrade`.
    PendingUpgrade,
    /// `pending-rollback`.
    PendingRollback,
    /// Any other text.
    Unknown,
}

impl StoredStatus {
    /// The status Helm writes as `text`.
    pub fn parse(text: &str) -> Self {
        match text {
            "deployed" => Self::Deployed,
            "failed" => Self::Failed,
            "superseded" => Self::Superseded,
            "uninstalled" => Self::Uninstalled,
            "uninstalling" => Self::Uninstalling,
            "pending-install" => Self::PendingInstall,
            "pending-upgrade" => Self::PendingUpgrade,
            "pending-rollback" => Self::PendingRollback,
            _ => Self::Unknown,
        }
    }

    /// Whether an operation holds the release (`pending-*`).
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            Self::PendingInstall | Self::PendingUpgrade | Self::PendingRollback
        )
    }
}

/// The action a HelmRelease last attempted (`status.lastAttemptedReleaseAction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptedAction {
    /// `install`.
    Install,
    /// `upgrade`.
    Upgrade,
}

/// How a failed upgrade is remediated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// Roll back to the previous release (the default).
    #[default]
    Rollback,
    /// Uninstall the release.
    Uninstall,
}

/// An `install.remediation` or `upgrade.remediation` block.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Remediation {
    /// `retries`; negative is unlimited.
    pub retries: i64,
    /// `ignoreTestFailures`, when set.
    pub ignore_test_failures: Option<bool>,
    /// `remediateLastFailure`, when set.
    pub remediate_last_failure: Option<bool>,
    /// `strategy` (upgrade only; an install is always remediated by uninstalling).
    pub strategy: Strategy,
}

/// Whether the cluster is compared with the release (`driftDetection.mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DriftMode {
    /// Not compared (the default).
    #[default]
    Disabled,
    /// Compared and reported.
    Warn,
    /// Compared, reported and corrected.
    Enabled,
}

/// Whether the previous release, the rollback target, is usable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RollbackTarget {
    /// In storage and as recorded.
    #[default]
    Verified,
    /// Not in storage any more.
    Missing,
    /// In storage but not as recorded (another digest, never observed).
    Corrupt,
}

/// Everything the decision depends on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// The latest release in storage, if any.
    pub stored: Option<StoredStatus>,
    /// Whether `status.history` has entries.
    pub has_history: bool,
    /// Whether the latest history entry is the latest release in storage (same version and
    /// digest, observed by this controller).
    pub history_matches_storage: bool,
    /// Whether the chart (name or version) differs from the deployed release's.
    pub chart_changed: bool,
    /// Whether the values' digest differs from the deployed release's.
    pub values_changed: bool,
    /// Whether the spec's generation has not been observed yet.
    pub generation_changed: bool,
    /// Whether `postRenderers` changed since they were last observed.
    pub post_renderers_changed: bool,
    /// Whether `commonMetadata` changed since it was last observed.
    pub common_metadata_changed: bool,
    /// `test.enable`.
    pub test_enabled: bool,
    /// `test.ignoreFailures`.
    pub test_ignore_failures: bool,
    /// Whether the deployed release's tests have run.
    pub tested: bool,
    /// Whether one of them failed.
    pub test_failed: bool,
    /// `driftDetection.mode`.
    pub drift_mode: DriftMode,
    /// Whether the cluster differs from the release (only looked at with drift detection on).
    pub drifted: bool,
    /// `install.remediation`.
    pub install_remediation: Remediation,
    /// `upgrade.remediation`.
    pub upgrade_remediation: Remediation,
    /// Whether the install's (or upgrade's) strategy is to retry on failure instead of
    /// remediating (`install.strategy` / `upgrade.strategy` `RetryOnFailure`).
    pub install_retries_on_failure: bool,
    /// As `install_retries_on_failure`, for upgrades.
    pub upgrade_retries_on_failure: bool,
    /// `status.installFailures`.
    pub install_failures: i64,
    /// `status.upgradeFailures`.
    pub upgrade_failures: i64,
    /// `status.lastAttemptedReleaseAction`.
    pub last_attempted: Option<AttemptedAction>,
    /// The `reconcile.fluxcd.io/forceAt` annotation asks for a forced action now.
    pub force_requested: bool,
    /// The rollback target's state.
    pub rollback_target: RollbackTarget,
}

/// The release's state, as Flux names it, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    /// No release (or an uninstalled one).
    Absent(&'static str),
    /// A release this object did not make, or not as it recorded it.
    Unmanaged(&'static str),
    /// The chart or values (or post-renderers, common metadata) changed.
    OutOfSync(&'static str),
    /// The cluster differs from the release.
    Drifted,
    /// An operation holds the release (`pending-*`).
    Locked(StoredStatus),
    /// Deployed, tests enabled and not run yet.
    Untested,
    /// Nothing to do.
    InSync,
    /// The release failed (or its tests did, under an active remediation).
    Failed(&'static str),
    /// A stored status the planner does not know.
    Unknown(StoredStatus),
}

/// Classifies the release, in Flux's order of checks.
pub fn classify(o: &Observation) -> State {
    let Some(stored) = o.stored else {
        return State::Absent("no release in storage for object");
    };
    if stored.is_pending() {
        return State::Locked(stored);
    }
    if !o.has_history {
        return if stored == StoredStatus::Uninstalled {
            State::Absent("found uninstalled release in storage")
        } else {
            State::Unmanaged("found existing release in storage")
        };
    }
    if !o.history_matches_storage {
        return State::Unmanaged("release in storage is not the one the object recorded");
    }
    match stored {
        StoredStatus::Failed => State::Failed("release is in a failed state"),
        StoredStatus::Uninstalled => State::Absent("found uninstalled release in storage"),
        StoredStatus::Deployed => {
            if o.chart_changed {
                return State::OutOfSync("chart changed");
            }
            if o.values_changed {
                return State::OutOfSync("values changed");
            }
            if o.generation_changed && o.post_renderers_changed {
                return State::OutOfSync("postrenderers digest has changed");
            }
            if o.generation_changed && o.common_metadata_changed {
                return State::OutOfSync("common metadata digest has changed");
            }
            if o.test_enabled {
                if !o.tested {
                    return State::Untested;
                }
                let ignores = active_remediation(o)
                    .map(|r| r.ignore_test_failures.unwrap_or(o.test_ignore_failures));
                if ignores == Some(false) && o.test_failed {
                    return State::Failed("release has test in failed phase");
                }
            }
            if o.drift_mode != DriftMode::Disabled && o.drifted {
                return State::Drifted;
            }
            State::InSync
        }
        other => State::Unknown(other),
    }
}

/// What to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing: in sync, or drift only reported.
    Nothing,
    /// Install the release.
    Install,
    /// Upgrade (or adopt) the release.
    Upgrade,
    /// Run its tests.
    Test,
    /// Mark the stuck `pending-*` release failed so the next pass can act.
    Unlock,
    /// Roll back to the previous release.
    Rollback,
    /// Uninstall the release (remediation).
    Uninstall,
    /// Apply the release's manifest again where the cluster drifted.
    CorrectDrift,
    /// Stop until the object changes or a force is requested.
    Stop(Stop),
}

/// Why a pass stops without acting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The remediation's retries are used up (for this action).
    RetriesExhausted(&'static str),
    /// The rollback target is gone from storage.
    MissingRollbackTarget,
    /// The stored status is one the planner does not handle.
    UnknownStatus(StoredStatus),
}

/// The remediation of the last attempted action.
fn active_remediation(o: &Observation) -> Option<Remediation> {
    match o.last_attempted? {
        AttemptedAction::Install => Some(Remediation {
            // An install is always remediated by uninstalling.
            strategy: Strategy::Uninstall,
            ..o.install_remediation
        }),
        AttemptedAction::Upgrade => Some(o.upgrade_remediation),
    }
}

fn failures(o: &Observation, action: AttemptedAction) -> i64 {
    match action {
        AttemptedAction::Install => o.install_failures,
        AttemptedAction::Upgrade => o.upgrade_failures,
    }
}

/// Whether `remediation`'s retries are used up after `failures` failures.
pub fn retries_exhausted(remediation: &Remediation, failures: i64) -> bool {
    remediation.retries >= 0 && failures > remediation.retries
}

/// Whether the last failure is remediated when no retries remain: as set, else never for an
/// install and, for an upgrade, when it had retries.
pub fn remediates_last_failure(remediation: &Remediation, action: AttemptedAction) -> bool {
    remediation
        .remediate_last_failure
        .unwrap_or(action == AttemptedAction::Upgrade && remediation.retries > 0)
}

/// The action for `state`, as Flux's atomic release chooses it.
pub fn next_action(o: &Observation, state: &State) -> Next {
    match state {
        State::InSync if o.force_requested => Next::Upgrade,
        State::InSync => Next::Nothing,
        State::Locked(_) => Next::Unlock,
        State::Absent(_) => {
            if retries_exhausted(&o.install_remediation, o.install_failures) && !o.force_requested {
                Next::Stop(Stop::RetriesExhausted("cannot install release"))
            } else {
                Next::Install
            }
        }
        State::Unmanaged(_) => Next::Upgrade,
        State::OutOfSync(_) => {
            if retries_exhausted(&o.upgrade_remediation, o.upgrade_failures) && !o.force_requested {
                Next::Stop(Stop::RetriesExhausted("cannot upgrade release"))
            } else {
                Next::Upgrade
            }
        }
        State::Drifted if o.drift_mode == DriftMode::Enabled => Next::CorrectDrift,
        State::Drifted => Next::Nothing,
        State::Untested => Next::Test,
        State::Failed(_) => failed(o),
        State::Unknown(status) => Next::Stop(Stop::UnknownStatus(*status)),
    }
}

fn failed(o: &Observation) -> Next {
    let retries_on_failure = match o.last_attempted {
        Some(AttemptedAction::Install) => o.install_retries_on_failure,
        Some(AttemptedAction::Upgrade) => o.upgrade_retries_on_failure,
        None => false,
    };
    if retries_on_failure {
        return Next::Upgrade;
    }
    let (Some(action), Some(remediation)) = (o.last_attempted, active_remediation(o)) else {
        return Next::Upgrade;
    };
    // Conditions changed since the failure (the counter was reset): try again.
    if failures(o, action) <= 0 || o.force_requested {
        return Next::Upgrade;
    }
    if retries_exhausted(&remediation, failures(o, action))
        && !remediates_last_failure(&remediation, action)
    {
        return Next::Stop(Stop::RetriesExhausted("cannot remediate failed release"));
    }
    match remediation.strategy {
        Strategy::Rollback => match o.rollback_target {
            RollbackTarget::Verified => Next::Rollback,
            RollbackTarget::Missing => Next::Stop(Stop::MissingRollbackTarget),
            // A corrupt target cannot be trusted: upgrading again is the safer repair.
            RollbackTarget::Corrupt => Next::Upgrade,
        },
        Strategy::Uninstall => Next::Uninstall,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A managed, deployed, in-sync release.
    fn deployed() -> Observation {
        Observation {
            stored: Some(StoredStatus::Deployed),
            has_history: true,
            history_matches_storage: true,
            ..Observation::default()
        }
    }

    fn plan(o: &Observation) -> (State, Next) {
        let state = classify(o);
        let next = next_action(o, &state);
        (state, next)
    }

    #[test]
    fn stored_statuses_parse_as_helm_writes_them() {
        for (text, status) in [
            ("deployed", StoredStatus::Deployed),
            ("failed", StoredStatus::Failed),
            ("superseded", StoredStatus::Superseded),
            ("uninstalled", StoredStatus::Uninstalled),
            ("uninstalling", StoredStatus::Uninstalling),
            ("pending-install", StoredStatus::PendingInstall),
            ("pending-upgrade", StoredStatus::PendingUpgrade),
            ("pending-rollback", StoredStatus::PendingRollback),
            ("exploded", StoredStatus::Unknown),
        ] {
            assert_eq!(StoredStatus::parse(text), status, "{text}");
        }
    }

    /// Every branch of the classification and of the choice, one row each:
    /// (what the row checks, the observation, the state, the action).
    #[test]
    fn the_decision_table() {
        let upgrade_failed = |failures, remediation: Remediation| Observation {
            stored: Some(StoredStatus::Failed),
            last_attempted: Some(AttemptedAction::Upgrade),
            upgrade_failures: failures,
            upgrade_remediation: remediation,
            ..deployed()
        };
        let install_failed = |failures, retries| Observation {
            stored: Some(StoredStatus::Failed),
            last_attempted: Some(AttemptedAction::Install),
            install_failures: failures,
            install_remediation: Remediation {
                retries,
                ..Remediation::default()
            },
            ..deployed()
        };
        let retries = |retries| Remediation {
            retries,
            ..Remediation::default()
        };
        let rows: Vec<(&str, Observation, State, Next)> = vec![
            (
                "nothing stored: install",
                Observation::default(),
                State::Absent("no release in storage for object"),
                Next::Install,
            ),
            (
                "nothing stored, install retries used up: stop",
                Observation {
                    install_failures: 2,
                    install_remediation: retries(1),
                    ..Observation::default()
                },
                State::Absent("no release in storage for object"),
                Next::Stop(Stop::RetriesExhausted("cannot install release")),
            ),
            (
                "nothing stored, retries used up, forced: install",
                Observation {
                    install_failures: 2,
                    install_remediation: retries(1),
                    force_requested: true,
                    ..Observation::default()
                },
                State::Absent("no release in storage for object"),
                Next::Install,
            ),
            (
                "unlimited install retries never run out",
                Observation {
                    install_failures: 99,
                    install_remediation: retries(-1),
                    ..Observation::default()
                },
                State::Absent("no release in storage for object"),
                Next::Install,
            ),
            (
                "a pending release: unlock",
                Observation {
                    stored: Some(StoredStatus::PendingUpgrade),
                    ..deployed()
                },
                State::Locked(StoredStatus::PendingUpgrade),
                Next::Unlock,
            ),
            (
                "pending without history is still locked first",
                Observation {
                    stored: Some(StoredStatus::PendingInstall),
                    ..Observation::default()
                },
                State::Locked(StoredStatus::PendingInstall),
                Next::Unlock,
            ),
            (
                "no history, uninstalled in storage: install",
                Observation {
                    stored: Some(StoredStatus::Uninstalled),
                    ..Observation::default()
                },
                State::Absent("found uninstalled release in storage"),
                Next::Install,
            ),
            (
                "no history, a release made elsewhere: adopt by upgrading",
                Observation {
                    stored: Some(StoredStatus::Deployed),
                    ..Observation::default()
                },
                State::Unmanaged("found existing release in storage"),
                Next::Upgrade,
            ),
            (
                "history disagrees with storage (helm rollback by hand): upgrade",
                Observation {
                    history_matches_storage: false,
                    ..deployed()
                },
                State::Unmanaged("release in storage is not the one the object recorded"),
                Next::Upgrade,
            ),
            (
                "uninstalled with history: install",
                Observation {
                    stored: Some(StoredStatus::Uninstalled),
                    ..deployed()
                },
                State::Absent("found uninstalled release in storage"),
                Next::Install,
            ),
            ("in sync: nothing", deployed(), State::InSync, Next::Nothing),
            (
                "in sync, forced: upgrade",
                Observation {
                    force_requested: true,
                    ..deployed()
                },
                State::InSync,
                Next::Upgrade,
            ),
            (
                "new chart version: upgrade",
                Observation {
                    chart_changed: true,
                    ..deployed()
                },
                State::OutOfSync("chart changed"),
                Next::Upgrade,
            ),
            (
                "new values: upgrade",
                Observation {
                    values_changed: true,
                    ..deployed()
                },
                State::OutOfSync("values changed"),
                Next::Upgrade,
            ),
            (
                "out of sync, upgrade retries used up: stop",
                Observation {
                    values_changed: true,
                    upgrade_failures: 3,
                    upgrade_remediation: retries(2),
                    ..deployed()
                },
                State::OutOfSync("values changed"),
                Next::Stop(Stop::RetriesExhausted("cannot upgrade release")),
            ),
            (
                "out of sync, retries used up, forced: upgrade",
                Observation {
                    values_changed: true,
                    upgrade_failures: 3,
                    upgrade_remediation: retries(2),
                    force_requested: true,
                    ..deployed()
                },
                State::OutOfSync("values changed"),
                Next::Upgrade,
            ),
            (
                "post-renderers changed with a new generation: upgrade",
                Observation {
                    generation_changed: true,
                    post_renderers_changed: true,
                    ..deployed()
                },
                State::OutOfSync("postrenderers digest has changed"),
                Next::Upgrade,
            ),
            (
                "post-renderers digest alone, same generation: in sync",
                Observation {
                    post_renderers_changed: true,
                    ..deployed()
                },
                State::InSync,
                Next::Nothing,
            ),
            (
                "common metadata changed with a new generation: upgrade",
                Observation {
                    generation_changed: true,
                    common_metadata_changed: true,
                    ..deployed()
                },
                State::OutOfSync("common metadata digest has changed"),
                Next::Upgrade,
            ),
            (
                "tests enabled, not run: test",
                Observation {
                    test_enabled: true,
                    ..deployed()
                },
                State::Untested,
                Next::Test,
            ),
            (
                "a failed test under an active remediation: failed, rolled back",
                Observation {
                    test_enabled: true,
                    tested: true,
                    test_failed: true,
                    last_attempted: Some(AttemptedAction::Upgrade),
                    upgrade_failures: 1,
                    upgrade_remediation: retries(3),
                    ..deployed()
                },
                State::Failed("release has test in failed phase"),
                Next::Rollback,
            ),
            (
                "a failed test, failures ignored by the remediation: in sync",
                Observation {
                    test_enabled: true,
                    tested: true,
                    test_failed: true,
                    last_attempted: Some(AttemptedAction::Upgrade),
                    upgrade_remediation: Remediation {
                        ignore_test_failures: Some(true),
                        ..retries(3)
                    },
                    ..deployed()
                },
                State::InSync,
                Next::Nothing,
            ),
            (
                "a failed test, ignored by test.ignoreFailures: in sync",
                Observation {
                    test_enabled: true,
                    tested: true,
                    test_failed: true,
                    test_ignore_failures: true,
                    last_attempted: Some(AttemptedAction::Install),
                    ..deployed()
                },
                State::InSync,
                Next::Nothing,
            ),
            (
                "a failed test, no action attempted (no active remediation): in sync",
                Observation {
                    test_enabled: true,
                    tested: true,
                    test_failed: true,
                    ..deployed()
                },
                State::InSync,
                Next::Nothing,
            ),
            (
                "drift, detection enabled: correct it",
                Observation {
                    drift_mode: DriftMode::Enabled,
                    drifted: true,
                    ..deployed()
                },
                State::Drifted,
                Next::CorrectDrift,
            ),
            (
                "drift, detection warn: report only",
                Observation {
                    drift_mode: DriftMode::Warn,
                    drifted: true,
                    ..deployed()
                },
                State::Drifted,
                Next::Nothing,
            ),
            (
                "drift with detection disabled is not looked at",
                Observation {
                    drifted: true,
                    ..deployed()
                },
                State::InSync,
                Next::Nothing,
            ),
            (
                "failed, retry-on-failure strategy: upgrade again",
                Observation {
                    upgrade_retries_on_failure: true,
                    ..upgrade_failed(5, retries(1))
                },
                State::Failed("release is in a failed state"),
                Next::Upgrade,
            ),
            (
                "failed, no action attempted by this object: upgrade",
                Observation {
                    stored: Some(StoredStatus::Failed),
                    ..deployed()
                },
                State::Failed("release is in a failed state"),
                Next::Upgrade,
            ),
            (
                "failed, failure counter reset by a spec change: upgrade",
                upgrade_failed(0, retries(1)),
                State::Failed("release is in a failed state"),
                Next::Upgrade,
            ),
            (
                "failed, forced: upgrade",
                Observation {
                    force_requested: true,
                    ..upgrade_failed(5, retries(1))
                },
                State::Failed("release is in a failed state"),
                Next::Upgrade,
            ),
            (
                "failed upgrade with retries left: roll back",
                upgrade_failed(1, retries(3)),
                State::Failed("release is in a failed state"),
                Next::Rollback,
            ),
            (
                "failed upgrade, rollback target gone: stop",
                Observation {
                    rollback_target: RollbackTarget::Missing,
                    ..upgrade_failed(1, retries(3))
                },
                State::Failed("release is in a failed state"),
                Next::Stop(Stop::MissingRollbackTarget),
            ),
            (
                "failed upgrade, rollback target corrupt: upgrade instead",
                Observation {
                    rollback_target: RollbackTarget::Corrupt,
                    ..upgrade_failed(1, retries(3))
                },
                State::Failed("release is in a failed state"),
                Next::Upgrade,
            ),
            (
                "failed upgrade, uninstall strategy: uninstall",
                upgrade_failed(
                    1,
                    Remediation {
                        strategy: Strategy::Uninstall,
                        ..retries(3)
                    },
                ),
                State::Failed("release is in a failed state"),
                Next::Uninstall,
            ),
            (
                "failed upgrade, retries used up, last failure remediated (had retries): roll back",
                upgrade_failed(4, retries(3)),
                State::Failed("release is in a failed state"),
                Next::Rollback,
            ),
            (
                "failed upgrade, no retries configured, exhausted: stop",
                upgrade_failed(1, retries(0)),
                State::Failed("release is in a failed state"),
                Next::Stop(Stop::RetriesExhausted("cannot remediate failed release")),
            ),
            (
                "failed upgrade, exhausted, remediateLastFailure false: stop",
                upgrade_failed(
                    4,
                    Remediation {
                        remediate_last_failure: Some(false),
                        ..retries(3)
                    },
                ),
                State::Failed("release is in a failed state"),
                Next::Stop(Stop::RetriesExhausted("cannot remediate failed release")),
            ),
            (
                "failed install with retries left: uninstall",
                install_failed(1, 3),
                State::Failed("release is in a failed state"),
                Next::Uninstall,
            ),
            (
                "failed install, exhausted (installs never remediate the last by default): stop",
                install_failed(4, 3),
                State::Failed("release is in a failed state"),
                Next::Stop(Stop::RetriesExhausted("cannot remediate failed release")),
            ),
            (
                "failed install, exhausted, remediateLastFailure true: uninstall",
                Observation {
                    install_remediation: Remediation {
                        retries: 3,
                        remediate_last_failure: Some(true),
                        ..Remediation::default()
                    },
                    ..install_failed(4, 3)
                },
                State::Failed("release is in a failed state"),
                Next::Uninstall,
            ),
            (
                "superseded as the latest in storage: unknown, stop",
                Observation {
                    stored: Some(StoredStatus::Superseded),
                    ..deployed()
                },
                State::Unknown(StoredStatus::Superseded),
                Next::Stop(Stop::UnknownStatus(StoredStatus::Superseded)),
            ),
        ];
        for (what, observation, state, next) in rows {
            assert_eq!(plan(&observation), (state, next), "{what}");
        }
    }
}
