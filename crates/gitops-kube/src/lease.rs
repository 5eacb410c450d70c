//! Leader election through a `coordination.k8s.io/v1` Lease, after client-go's `leaderelection`,
//! so that of several replicas of a controller only one reconciles at a time.
//!
//! # Where to start
//! [`acquire`] waits until a [`LeaseLock`] leads, then renews the Lease in the background and hands
//! back a [`LeaderGuard`]; reconcile while [`LeaderGuard::lost`] has not resolved, and give the
//! Lease up with [`LeaderGuard::release`] on shutdown so that a successor need not wait for it to
//! expire.
//!
//! ```no_run
//! # async fn reconcile_forever() {}
//! # async fn example(client: kube::Client) -> Result<(), gitops_kube::lease::Error> {
//! use gitops_kube::lease::{self, LeaseLock};
//!
//! let lock = LeaseLock::new(client, "flux-system", "gitops-controller", "pod-a");
//! let mut guard = lease::acquire(lock).await?;
//! tokio::select! {
//!     () = guard.lost() => {
//!         // Another replica leads now: stop reconciling (exiting is the usual answer).
//!         return Ok(());
//!     }
//!     () = reconcile_forever() => {}
//! }
//! guard.release().await?;
//! # Ok(()) }
//! ```
//! [`LeaseLock::try_acquire_or_renew`] is one attempt, for hosts that run their own loop.
//!
//! # The Lease
//! The record is the Lease's `spec`, as client-go writes it: `holderIdentity`,
//! `leaseDurationSeconds`, `acquireTime`, `renewTime` and `leaseTransitions` (incremented each
//! time the holder changes, a release followed by a new holder included). A candidate takes the
//! Lease when it does not exist, when it already holds it, when `holderIdentity` is empty
//! (released), or when the Lease has expired.
//!
//! **Expiry is measured on the candidate's own clock**, as client-go does: a Lease has expired when
//! its record has not changed for `leaseDurationSeconds` since this candidate first saw that
//! record. Comparing `renewTime` with the local wall clock instead would let a candidate whose
//! clock runs ahead take a Lease its holder is still renewing. The price is that a candidate that
//! starts next to a long-abandoned Lease waits one lease duration before taking it
//! ([`LeaseLock::release`] avoids that wait on orderly shutdown).
//!
//! # Guarantees
//! - Every write is a create, or a replace carrying the `resourceVersion` that was read, so two
//!   candidates racing for the same version cannot both win: the loser gets `409 Conflict` and
//!   reports [`Leadership::Following`].
//! - A [`LeaderGuard`] reports the loss of leadership when it has not renewed for the renew
//!   deadline, which is shorter than the lease duration other candidates wait: with the defaults
//!   (15 s lease, 10 s deadline, 2 s retry) the old leader learns of the loss at least 5 s before
//!   anybody else may take over, as long as both clocks run at about the same rate (their wall
//!   times need not agree).
//! - Like client-go's, this is not fencing: a leader paused for longer than the lease duration
//!   (a stopped process, a long stall) may act once more after it resumes, before it notices.
//!
//! # Cancellation
//! Every future here can be dropped at an `.await`; the candidate's state stays consistent. A write
//! already sent may still reach the server, which is harmless: the next attempt reads again.
//! Dropping a [`LeaderGuard`] stops its renewals; the Lease then expires instead of being released.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a Lease holds without renewal, unless set (client-go's default).
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long a leader keeps retrying a failed renewal before it gives up, unless set.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// How long a candidate waits between attempts, unless set.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A request to the API server failed.
    #[error("lease {namespace}/{name}: cannot {action} the Lease")]
    Request {
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
        /// What was tried: `read`, `create` or `update`.
        action: &'static str,
        /// The cause.
        #[source]
        source: kube::Error,
    },
    /// An attempt got no answer in time.
    #[error("lease {namespace}/{name}: no answer within {timeout:?}")]
    Timeout {
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
        /// The time allowed.
        timeout: Duration,
    },
    /// The candidate's identity is empty, which a Lease reads as "released".
    #[error("lease {namespace}/{name}: the candidate identity is empty")]
    EmptyIdentity {
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
    },
    /// The durations do not satisfy lease duration > renew deadline > retry period > 0.
    #[error(
        "lease {namespace}/{name}: the lease duration ({lease_duration:?}) must be longer than the \
         renew deadline ({renew_deadline:?}), which must be longer than the retry period \
         ({retry_period:?}), which must not be zero"
    )]
    Timings {
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
        /// The lease duration set.
        lease_duration: Duration,
        /// The renew deadline set.
        renew_deadline: Duration,
        /// The retry period set.
        retry_period: Duration,
    },
}

impl Error {
    /// Whether trying again may help: timeouts, lost connections, `429` and `5xx` answers. A
    /// forbidden request, a missing namespace or a rejected Lease are not transient.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Timeout { .. } => true,
            Error::Request { source, .. } => match source {
                kube::Error::Api(status) => matches!(status.code, 408 | 409 | 429 | 500..),
                kube::Error::BuildRequest(_) | kube::Error::SerdeError(_) => false,
                _ => true,
            },
            Error::EmptyIdentity { .. } | Error::Timings { .. } => false,
        }
    }
}

/// The outcome of one attempt ([`LeaseLock::try_acquire_or_renew`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Leadership {
    /// This candidate holds the Lease, renewed by this attempt.
    Leading,
    /// Another candidate holds the Lease, or won the race for it in this round.
    Following {
        /// The holder the Lease names, `None` when it names none (a lost race for a released
        /// Lease whose winner's write was not seen). It is this candidate's own identity only when
        /// another process writes under the same identity.
        holder: Option<String>,
    },
}

/// The Lease as last read or written, and when its record last changed on this candidate's clock.
struct Observed {
    lease: Lease,
    changed_at: Instant,
}

/// A candidate for the Lease `namespace/name` under an identity unique among the candidates (a pod
/// name, say).
///
/// The candidate remembers the record it last saw, to measure expiry on its own clock (see the
/// [module docs](self)), so keep one `LeaseLock` per candidate rather than making a new one for
/// each attempt.
pub struct LeaseLock {
    api: Api<Lease>,
    namespace: String,
    name: String,
    identity: String,
    lease_duration: Duration,
    renew_deadline: Duration,
    retry_period: Duration,
    observed: Mutex<Option<Observed>>,
}

impl std::fmt::Debug for LeaseLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseLock")
            .field("lease", &format_args!("{}/{}", self.namespace, self.name))
            .field("identity", &self.identity)
            .field("lease_duration", &self.lease_duration)
            .field("renew_deadline", &self.renew_deadline)
            .field("retry_period", &self.retry_period)
            .finish_non_exhaustive()
    }
}

impl LeaseLock {
    /// The candidate `identity` for the Lease `namespace/name` (created on the first attempt),
    /// with the default durations.
    pub fn new(
        client: kube::Client,
        namespace: impl Into<String>,
        name: impl Into<String>,
        identity: impl Into<String>,
    ) -> Self {
        let namespace = namespace.into();
        Self {
            api: Api::namespaced(client, &namespace),
            namespace,
            name: name.into(),
            identity: identity.into(),
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
            observed: Mutex::new(None),
        }
    }

    /// How long the Lease holds without renewal ([`DEFAULT_LEASE_DURATION`] unless set), written
    /// as `leaseDurationSeconds`, rounded up to whole seconds.
    pub fn with_lease_duration(mut self, duration: Duration) -> Self {
        self.lease_duration = duration;
        self
    }

    /// How long a leader retries failed renewals before it reports the loss of leadership
    /// ([`DEFAULT_RENEW_DEADLINE`] unless set); also bounds each attempt. Must be shorter than the
    /// lease duration.
    pub fn with_renew_deadline(mut self, deadline: Duration) -> Self {
        self.renew_deadline = deadline;
        self
    }

    /// The time between attempts ([`DEFAULT_RETRY_PERIOD`] unless set). Must be shorter than the
    /// renew deadline.
    pub fn with_retry_period(mut self, period: Duration) -> Self {
        self.retry_period = period;
        self
    }

    /// This candidate's identity, the `holderIdentity` it writes.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The Lease's namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The Lease's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// One attempt to take or renew the Lease: [`Leadership::Leading`] when this candidate holds
    /// it afterwards, [`Leadership::Following`] when another does or won this round. Takes one to
    /// three requests; a leader renewing a Lease nobody else touched takes one.
    ///
    /// # Errors
    /// [`Error::EmptyIdentity`]; [`Error::Request`] when the API server refuses or cannot be
    /// reached; [`Error::Timeout`] when the attempt takes longer than the renew deadline.
    pub async fn try_acquire_or_renew(&self) -> Result<Leadership, Error> {
        self.attempt_within(self.renew_deadline).await
    }

    /// Gives the Lease up if this candidate holds it: empties `holderIdentity`, so that another
    /// candidate may take it at once instead of waiting for it to expire. `leaseTransitions` is
    /// kept; the next holder increments it. Does nothing when another candidate holds the Lease or
    /// it does not exist.
    ///
    /// # Errors
    /// [`Error::Request`] when the API server refuses or cannot be reached; [`Error::Timeout`]
    /// after the renew deadline.
    pub async fn release(&self) -> Result<(), Error> {
        let timeout = self.renew_deadline;
        tokio::time::timeout(timeout, self.release_unbounded())
            .await
            .unwrap_or_else(|_| Err(self.timeout(timeout)))
    }

    async fn attempt_within(&self, timeout: Duration) -> Result<Leadership, Error> {
        if self.identity.is_empty() {
            return Err(Error::EmptyIdentity {
                namespace: self.namespace.clone(),
                name: self.name.clone(),
            });
        }
        tokio::time::timeout(timeout, self.attempt())
            .await
            .unwrap_or_else(|_| Err(self.timeout(timeout)))
    }

    async fn attempt(&self) -> Result<Leadership, Error> {
        let params = PostParams::default();
        // A leader renews with the version it wrote last, without reading first.
        if let Some(held) = self.held() {
            let renewed = self.record(held, now());
            match self.api.replace(&self.name, &params, &renewed).await {
                Ok(written) => {
                    self.observe(written);
                    return Ok(Leadership::Leading);
                }
                // Changed (409) or deleted (404) since: read what is there.
                Err(kube::Error::Api(status)) if matches!(status.code, 404 | 409) => {}
                Err(source) => return Err(self.request("update", source)),
            }
        }

        let current = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|source| self.request("read", source))?;
        let Some(current) = current else {
            let lease = self.record(
                Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        namespace: Some(self.namespace.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: None,
                },
                now(),
            );
            return match self.api.create(&params, &lease).await {
                Ok(created) => {
                    self.observe(created);
                    Ok(Leadership::Leading)
                }
                // AlreadyExists: another candidate created it first.
                Err(kube::Error::Api(status)) if status.code == 409 => self.lost_round().await,
                Err(source) => Err(self.request("create", source)),
            };
        };

        let holder = holder(&current);
        self.observe(current.clone());
        if let Some(holder) = holder {
            if holder != self.identity && !self.expired() {
                return Ok(Leadership::Following {
                    holder: Some(holder),
                });
            }
        }
        let taken = self.record(current, now());
        match self.api.replace(&self.name, &params, &taken).await {
            Ok(written) => {
                self.observe(written);
                Ok(Leadership::Leading)
            }
            Err(kube::Error::Api(status)) if status.code == 409 => self.lost_round().await,
            Err(source) => Err(self.request("update", source)),
        }
    }

    /// After a write lost to a concurrent one: reads the Lease to name the winner.
    async fn lost_round(&self) -> Result<Leadership, Error> {
        let current = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(|source| self.request("read", source))?;
        let holder = current.as_ref().and_then(holder);
        if let Some(current) = current {
            self.observe(current);
        }
        Ok(Leadership::Following { holder })
    }

    async fn release_unbounded(&self) -> Result<(), Error> {
        let params = PostParams::default();
        loop {
            let current = self
                .api
                .get_opt(&self.name)
                .await
                .map_err(|source| self.request("read", source))?;
            let Some(mut current) = current else {
                return Ok(());
            };
            if holder(&current).as_deref() != Some(self.identity.as_str()) {
                self.observe(current);
                return Ok(());
            }
            // As client-go: no holder, a one-second duration, the transitions kept.
            let stamp = now();
            let spec = current.spec.get_or_insert_with(LeaseSpec::default);
            spec.holder_identity = Some(String::new());
            spec.lease_duration_seconds = Some(1);
            spec.acquire_time = Some(stamp.clone());
            spec.renew_time = Some(stamp);
            match self.api.replace(&self.name, &params, &current).await {
                Ok(written) => {
                    self.observe(written);
                    return Ok(());
                }
                // Written meanwhile (a renewal still in flight, a hand edit): read again.
                Err(kube::Error::Api(status)) if status.code == 409 => {}
                Err(source) => return Err(self.request("update", source)),
            }
        }
    }

    /// `lease` with this candidate's record: renewed now, taken over (new acquire time, one more
    /// transition) unless this candidate already held it.
    fn record(&self, mut lease: Lease, now: MicroTime) -> Lease {
        let exists = lease.metadata.resource_version.is_some();
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !ours || spec.acquire_time.is_none() {
            spec.acquire_time = Some(now.clone());
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        spec.lease_transitions = Some(if ours || !exists {
            transitions
        } else {
            transitions.saturating_add(1)
        });
        spec.holder_identity = Some(self.identity.clone());
        spec.lease_duration_seconds = Some(whole_seconds(self.lease_duration));
        spec.renew_time = Some(now);
        lease
    }

    /// The Lease as last seen, when it names this candidate as holder.
    fn held(&self) -> Option<Lease> {
        let observed = self.observed();
        let lease = &observed.as_ref()?.lease;
        (holder(lease).as_deref() == Some(self.identity.as_str())
            && lease.metadata.resource_version.is_some())
        .then(|| lease.clone())
    }

    fn observe(&self, lease: Lease) {
        let mut observed = self.observed();
        let changed_at = match observed.as_ref() {
            Some(previous) if previous.lease.spec == lease.spec => previous.changed_at,
            _ => Instant::now(),
        };
        *observed = Some(Observed { lease, changed_at });
    }

    /// Whether the record last seen has stayed unchanged for its lease duration.
    fn expired(&self) -> bool {
        let observed = self.observed();
        let Some(observed) = observed.as_ref() else {
            return false;
        };
        let seconds = observed
            .lease
            .spec
            .as_ref()
            .and_then(|spec| spec.lease_duration_seconds)
            .and_then(|seconds| u64::try_from(seconds).ok())
            .filter(|seconds| *seconds > 0);
        let duration = seconds.map_or(self.lease_duration, Duration::from_secs);
        observed.changed_at.elapsed() >= duration
    }

    fn observed(&self) -> MutexGuard<'_, Option<Observed>> {
        // The state is replaced whole under the lock, so a panic elsewhere cannot leave it torn.
        self.observed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn check_timings(&self) -> Result<(), Error> {
        if self.lease_duration > self.renew_deadline
            && self.renew_deadline > self.retry_period
            && !self.retry_period.is_zero()
        {
            return Ok(());
        }
        Err(Error::Timings {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            lease_duration: self.lease_duration,
            renew_deadline: self.renew_deadline,
            retry_period: self.retry_period,
        })
    }

    fn request(&self, action: &'static str, source: kube::Error) -> Error {
        Error::Request {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            action,
            source,
        }
    }

    fn timeout(&self, timeout: Duration) -> Error {
        Error::Timeout {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            timeout,
        }
    }
}

/// Waits until `lock` leads, attempting every retry period (with up to 20 % jitter, so that
/// candidates started together spread out), then renews the Lease in a background task every retry
/// period and returns the guard of the leadership.
///
/// Must be called within a Tokio runtime (the renewals are a spawned task).
///
/// # Cancellation
/// Dropping the future stops waiting. If the Lease was taken in the attempt then in flight, it
/// expires as any unrenewed Lease does.
///
/// # Errors
/// [`Error::Timings`] unless lease duration > renew deadline > retry period > 0; the first error of
/// an attempt that trying again cannot help ([`Error::is_transient`] false: a forbidden request,
/// a missing namespace, an empty identity). Transient errors are retried.
pub async fn acquire(lock: LeaseLock) -> Result<LeaderGuard, Error> {
    lock.check_timings()?;
    let renewed = loop {
        let started = Instant::now();
        match lock.try_acquire_or_renew().await {
            Ok(Leadership::Leading) => break started,
            Ok(Leadership::Following { .. }) => {}
            Err(error) if error.is_transient() => {}
            Err(error) => return Err(error),
        }
        tokio::time::sleep(jittered(lock.retry_period)).await;
    };
    let lock = Arc::new(lock);
    let (lost_tx, lost) = watch::channel(false);
    let task = tokio::spawn(renew(Arc::clone(&lock), renewed, lost_tx));
    Ok(LeaderGuard { lock, lost, task })
}

/// Renews every retry period; reports the loss when another holder took the Lease or no renewal
/// succeeded for the renew deadline.
async fn renew(lock: Arc<LeaseLock>, mut renewed: Instant, lost: watch::Sender<bool>) {
    let mut next = renewed + lock.retry_period;
    loop {
        tokio::time::sleep_until(next.into()).await;
        let started = Instant::now();
        let deadline = renewed + lock.renew_deadline;
        let left = deadline.saturating_duration_since(started);
        if left.is_zero() {
            break;
        }
        match lock.attempt_within(left).await {
            Ok(Leadership::Leading) => {
                renewed = started;
                next = started + lock.retry_period;
            }
            Ok(Leadership::Following { holder }) if holder.as_deref() != Some(lock.identity()) => {
                break;
            }
            // A failed renewal: try again, and check the deadline no later than when it passes.
            _ => next = (started + lock.retry_period).min(deadline),
        }
    }
    lost.send_replace(true);
}

/// Leadership won by [`acquire`], renewed in the background until [`LeaderGuard::lost`] resolves.
///
/// Dropping the guard stops the renewals without releasing the Lease, which then expires after
/// the lease duration; [`LeaderGuard::release`] hands it over at once.
#[derive(Debug)]
pub struct LeaderGuard {
    lock: Arc<LeaseLock>,
    lost: watch::Receiver<bool>,
    task: JoinHandle<()>,
}

impl LeaderGuard {
    /// Resolves when leadership is lost: renewals failed for longer than the renew deadline, or
    /// another holder took the Lease. Stop reconciling then. Resolves at once if it already was.
    ///
    /// # Cancellation
    /// Cancel safe: drop it and call it again.
    pub async fn lost(&mut self) {
        // An error means the renew task is gone (it panicked): no renewals, so no leadership.
        let _ = self.lost.wait_for(|lost| *lost).await;
    }

    /// Whether this candidate still leads (leadership not lost yet), without waiting.
    pub fn is_leading(&self) -> bool {
        !*self.lost.borrow() && self.lost.has_changed().is_ok()
    }

    /// The candidate that leads.
    pub fn lock(&self) -> &LeaseLock {
        &self.lock
    }

    /// Stops renewing, then releases the Lease ([`LeaseLock::release`]) so that a successor may
    /// take it at once. Does nothing to a Lease another holder has taken meanwhile.
    ///
    /// # Errors
    /// As [`LeaseLock::release`]; the renewals are stopped either way.
    pub async fn release(mut self) -> Result<(), Error> {
        self.task.abort();
        // Wait until the task has stopped, so that no renewal of ours starts after the release.
        let _ = (&mut self.task).await;
        self.lock.release().await
    }
}

impl Drop for LeaderGuard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The holder a Lease names, `None` for none or an empty one.
fn holder(lease: &Lease) -> Option<String> {
    lease
        .spec
        .as_ref()
        .and_then(|spec| spec.holder_identity.clone())
        .filter(|holder| !holder.is_empty())
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

/// `duration` in whole seconds, rounded up, at least one.
fn whole_seconds(duration: Duration) -> i32 {
    let seconds = duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0));
    i32::try_from(seconds.max(1)).unwrap_or(i32::MAX)
}

/// `period` plus up to 20 % of it, at random.
fn jittered(period: Duration) -> Duration {
    let random = RandomState::new().hash_one(Instant::now());
    // The fraction is in [0, 0.2).
    let fraction = (random % 1_000) as f64 / 5_000.0;
    period + period.mul_f64(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock() -> LeaseLock {
        // A client that is never used: these tests touch no server.
        let config = kube::Config::new("http://127.0.0.1:1".parse().expect("a valid URL"));
        let client = kube::Client::try_from(config).expect("a client from a plain config");
        LeaseLock::new(client, "ns", "lease", "me")
            .with_lease_duration(Duration::from_millis(2500))
            .with_renew_deadline(Duration::from_secs(2))
            .with_retry_period(Duration::from_millis(500))
    }

    fn lease(holder: &str, transitions: Option<i32>, resource_version: Option<&str>) -> Lease {
        Lease {
            metadata: ObjectMeta {
                name: Some("lease".into()),
                resource_version: resource_version.map(Into::into),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(holder.into()),
                lease_duration_seconds: Some(15),
                acquire_time: Some(MicroTime(Timestamp::UNIX_EPOCH)),
                renew_time: Some(MicroTime(Timestamp::UNIX_EPOCH)),
                lease_transitions: transitions,
                ..LeaseSpec::default()
            }),
        }
    }

    #[tokio::test]
    async fn records_count_transitions_as_client_go() {
        let lock = lock();
        let stamp = now();
        let spec = |lease: Lease| lease.spec.expect("a record has a spec");

        let created = spec(lock.record(lease("", None, None), stamp.clone()));
        assert_eq!(created.holder_identity.as_deref(), Some("me"));
        assert_eq!(created.lease_transitions, Some(0));
        assert_eq!(created.lease_duration_seconds, Some(3), "2.5 s rounds up");
        assert_eq!(created.acquire_time.as_ref(), Some(&stamp));
        assert_eq!(created.renew_time.as_ref(), Some(&stamp));

        let renewed = spec(lock.record(lease("me", Some(4), Some("7")), stamp.clone()));
        assert_eq!(renewed.lease_transitions, Some(4));
        assert_eq!(renewed.acquire_time, Some(MicroTime(Timestamp::UNIX_EPOCH)));
        assert_eq!(renewed.renew_time.as_ref(), Some(&stamp));

        let taken = spec(lock.record(lease("other", Some(4), Some("7")), stamp.clone()));
        assert_eq!(taken.lease_transitions, Some(5));
        assert_eq!(taken.acquire_time.as_ref(), Some(&stamp));

        let after_release = spec(lock.record(lease("", Some(4), Some("7")), stamp));
        assert_eq!(after_release.lease_transitions, Some(5));
    }

    #[tokio::test]
    async fn expiry_runs_on_the_local_clock_from_the_last_change() {
        let lock = lock();
        assert!(!lock.expired(), "nothing seen, nothing expired");
        let mut seen = lease("other", Some(0), Some("1"));
        seen.spec.as_mut().expect("spec").lease_duration_seconds = Some(1);
        lock.observe(seen.clone());
        assert!(
            !lock.expired(),
            "an old renewTime alone does not expire a record just seen"
        );
        let backdate = |by: Duration| {
            let mut observed = lock.observed();
            let observed = observed.as_mut().expect("observed");
            observed.changed_at = observed
                .changed_at
                .checked_sub(by)
                .expect("the clock is past boot by a second");
        };
        backdate(Duration::from_millis(900));
        lock.observe(seen.clone());
        assert!(!lock.expired(), "the same record seen again keeps its time");
        backdate(Duration::from_millis(200));
        assert!(lock.expired(), "unchanged for its duration");
        seen.spec.as_mut().expect("spec").renew_time = Some(now());
        lock.observe(seen);
        assert!(!lock.expired(), "a renewal restarts the clock");
    }

    #[tokio::test]
    async fn timings_and_identity_are_checked() {
        let error = lock()
            .with_renew_deadline(Duration::from_secs(3))
            .check_timings()
            .expect_err("a deadline longer than the lease");
        assert!(error.to_string().starts_with("lease ns/lease: "), "{error}");
        assert!(!error.is_transient());
        assert!(lock().check_timings().is_ok());

        let nobody = LeaseLock {
            identity: String::new(),
            ..lock()
        };
        let error = nobody
            .try_acquire_or_renew()
            .await
            .expect_err("empty identity");
        assert!(matches!(error, Error::EmptyIdentity { .. }), "{error}");
        assert_eq!(
            error.to_string(),
            "lease ns/lease: the candidate identity is empty"
        );
    }

    #[test]
    fn whole_seconds_round_up_and_jitter_stays_within_a_fifth() {
        assert_eq!(whole_seconds(Duration::from_secs(15)), 15);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::MAX), i32::MAX);
        let period = Duration::from_secs(2);
        for _ in 0..100 {
            let jittered = jittered(period);
            assert!(
                jittered >= period && jittered < period.mul_f64(1.2),
                "{jittered:?}"
            );
        }
    }
}
