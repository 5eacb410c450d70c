//! Leader election against a real kube-apiserver: every assertion reads the Lease back from the
//! server. Durations are short (a 2 s lease, a 1.5 s renew deadline, a 200 ms retry period).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use gitops_kube::lease::{self, Error, Leadership, LeaseLock};
use gitops_kube::{ConnectOptions, RequestCounter};
use gitops_testenv::KubeEnv;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::PostParams;

const LEASE: Duration = Duration::from_secs(2);
const DEADLINE: Duration = Duration::from_millis(1500);
const RETRY: Duration = Duration::from_millis(200);

fn candidate(client: &kube::Client, ns: &str, name: &str, identity: &str) -> LeaseLock {
    LeaseLock::new(client.clone(), ns, name, identity)
        .with_lease_duration(LEASE)
        .with_renew_deadline(DEADLINE)
        .with_retry_period(RETRY)
}

/// The Lease's spec as the server holds it.
async fn spec(client: &kube::Client, ns: &str, name: &str) -> LeaseSpec {
    Api::<Lease>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .expect("the Lease exists")
        .spec
        .expect("the Lease has a spec")
}

fn holder(spec: &LeaseSpec) -> Option<&str> {
    spec.holder_identity.as_deref().filter(|h| !h.is_empty())
}

fn following(holder: &str) -> Leadership {
    Leadership::Following {
        holder: Some(holder.to_owned()),
    }
}

/// A client of its own (its own connections) counting its requests.
async fn counted_client(kube: &KubeEnv) -> (kube::Client, RequestCounter) {
    let counter = RequestCounter::default();
    let config = kube.config().await.expect("admin config");
    let options = ConnectOptions::default().with_counter(counter.clone());
    let client = gitops_kube::client_from_config(config, &options).expect("client");
    (client, counter)
}

#[tokio::test]
async fn the_first_candidate_leads_and_the_second_follows_naming_it() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let client = kube.client().await;
    let a = candidate(&client, &ns, "lead", "a");
    let b = candidate(&client, &ns, "lead", "b");
    assert_eq!(a.identity(), "a");

    assert_eq!(
        a.try_acquire_or_renew().await.expect("a"),
        Leadership::Leading
    );
    let first = spec(&client, &ns, "lead").await;
    assert_eq!(holder(&first), Some("a"));
    assert_eq!(first.lease_duration_seconds, Some(2));
    assert_eq!(first.lease_transitions, Some(0));
    assert!(first.acquire_time.is_some());
    assert_eq!(first.acquire_time, first.renew_time);

    assert_eq!(b.try_acquire_or_renew().await.expect("b"), following("a"));
    assert_eq!(
        spec(&client, &ns, "lead").await,
        first,
        "a follower writes nothing"
    );

    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        a.try_acquire_or_renew().await.expect("a"),
        Leadership::Leading
    );
    let renewed = spec(&client, &ns, "lead").await;
    assert_eq!(holder(&renewed), Some("a"));
    assert!(renewed.renew_time > first.renew_time, "{renewed:?}");
    assert_eq!(renewed.acquire_time, first.acquire_time);
    assert_eq!(renewed.lease_transitions, Some(0));

    // A live Lease stays with its holder, however often others ask.
    for _ in 0..3 {
        assert_eq!(b.try_acquire_or_renew().await.expect("b"), following("a"));
    }
    assert_eq!(spec(&client, &ns, "lead").await, renewed);
}

#[tokio::test]
async fn release_hands_the_lease_over_at_once_and_counts_the_transition() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let client = kube.client().await;
    let guard = lease::acquire(candidate(&client, &ns, "handover", "a"))
        .await
        .expect("a leads");
    assert!(guard.is_leading());
    assert_eq!(guard.lock().identity(), "a");
    let held = spec(&client, &ns, "handover").await;
    assert_eq!(holder(&held), Some("a"));

    let b = candidate(&client, &ns, "handover", "b");
    assert_eq!(b.try_acquire_or_renew().await.expect("b"), following("a"));

    guard.release().await.expect("release");
    let released = spec(&client, &ns, "handover").await;
    assert_eq!(holder(&released), None, "{released:?}");
    assert_eq!(released.lease_transitions, Some(0));

    let started = Instant::now();
    assert_eq!(
        b.try_acquire_or_renew().await.expect("b"),
        Leadership::Leading
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed < LEASE / 2,
        "took {elapsed:?}: no waiting for expiry"
    );
    let taken = spec(&client, &ns, "handover").await;
    assert_eq!(holder(&taken), Some("b"));
    assert_eq!(taken.lease_transitions, Some(1));
    assert!(taken.acquire_time > held.acquire_time, "{taken:?}");
    assert_eq!(taken.acquire_time, taken.renew_time);

    // The former holder follows now; releasing a Lease it does not hold changes nothing.
    let a = candidate(&client, &ns, "handover", "a");
    assert_eq!(a.try_acquire_or_renew().await.expect("a"), following("b"));
    a.release().await.expect("a release is a no-op");
    assert_eq!(spec(&client, &ns, "handover").await, taken);
}

#[tokio::test]
async fn a_lease_nobody_renews_is_taken_after_its_duration() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let client = kube.client().await;
    let guard = lease::acquire(candidate(&client, &ns, "expiry", "a"))
        .await
        .expect("a leads");
    let acquired = spec(&client, &ns, "expiry").await;
    tokio::time::sleep(RETRY * 3).await;
    let renewed = spec(&client, &ns, "expiry").await;
    assert!(
        renewed.renew_time > acquired.renew_time,
        "the guard renews: {renewed:?}"
    );

    // Dropping the guard stops the renewals (and does not release).
    drop(guard);
    tokio::time::sleep(RETRY * 2).await;
    let stopped = spec(&client, &ns, "expiry").await;
    tokio::time::sleep(RETRY * 3).await;
    assert_eq!(
        spec(&client, &ns, "expiry").await,
        stopped,
        "no renewal after drop"
    );
    assert_eq!(holder(&stopped), Some("a"));

    let b = candidate(&client, &ns, "expiry", "b");
    let started = Instant::now();
    assert_eq!(b.try_acquire_or_renew().await.expect("b"), following("a"));
    tokio::time::sleep(LEASE / 2).await;
    assert_eq!(
        b.try_acquire_or_renew().await.expect("b"),
        following("a"),
        "not expired after half the duration"
    );
    let guard = lease::acquire(b).await.expect("b leads");
    let elapsed = started.elapsed();
    assert!(
        elapsed >= LEASE && elapsed < LEASE + Duration::from_secs(2),
        "b took over after {elapsed:?}"
    );
    let taken = spec(&client, &ns, "expiry").await;
    assert_eq!(holder(&taken), Some("b"));
    assert_eq!(taken.lease_transitions, Some(1));
    assert!(taken.acquire_time > stopped.renew_time, "{taken:?}");
    println!("expiry: b took over {elapsed:?} after first seeing a's last renewal");

    // A holder that renewed once by hand (no guard) expires the same way.
    let c = candidate(&client, &ns, "expiry-once", "c");
    assert_eq!(
        c.try_acquire_or_renew().await.expect("c"),
        Leadership::Leading
    );
    let d = candidate(&client, &ns, "expiry-once", "d");
    let started = Instant::now();
    let mut outcome = d.try_acquire_or_renew().await.expect("d");
    while outcome != Leadership::Leading {
        assert_eq!(outcome, following("c"));
        assert!(
            started.elapsed() < LEASE + Duration::from_secs(2),
            "d never took over"
        );
        tokio::time::sleep(RETRY).await;
        outcome = d.try_acquire_or_renew().await.expect("d");
    }
    assert!(started.elapsed() >= LEASE, "{:?}", started.elapsed());
    let taken = spec(&client, &ns, "expiry-once").await;
    assert_eq!(holder(&taken), Some("d"));
    assert_eq!(taken.lease_transitions, Some(1));
    guard.release().await.expect("release");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_candidates_never_both_lead() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let (client_a, count_a) = counted_client(kube).await;
    let (client_b, count_b) = counted_client(kube).await;
    let client = kube.client().await;
    const ROUNDS: usize = 20;

    // Rounds on a fresh Lease each: both try to create it, one gets AlreadyExists. Then rounds on
    // one Lease released after each round: both replace the same version, one gets Conflict.
    // A candidate that lost a write makes 3 requests (read, write, read); one that read the
    // winner's Lease makes 1.
    let mut raced_writes = 0;
    let shared_a = candidate(&client_a, &ns, "race", "a");
    let shared_b = candidate(&client_b, &ns, "race", "b");
    for round in 0..2 * ROUNDS {
        let create = round < ROUNDS;
        let name = if create {
            format!("race-{round}")
        } else {
            "race".to_owned()
        };
        let fresh = (
            candidate(&client_a, &ns, &name, "a"),
            candidate(&client_b, &ns, &name, "b"),
        );
        let (a, b) = if create {
            (&fresh.0, &fresh.1)
        } else {
            (&shared_a, &shared_b)
        };
        count_a.take();
        count_b.take();
        let (outcome_a, outcome_b) =
            tokio::join!(a.try_acquire_or_renew(), b.try_acquire_or_renew());
        let (outcome_a, outcome_b) = (outcome_a.expect("a"), outcome_b.expect("b"));
        let (winner, loser, loser_outcome, loser_requests) = match (&outcome_a, &outcome_b) {
            (Leadership::Leading, Leadership::Following { .. }) => {
                (a, b, &outcome_b, count_b.take())
            }
            (Leadership::Following { .. }, Leadership::Leading) => {
                (b, a, &outcome_a, count_a.take())
            }
            _ => panic!("round {round}: exactly one leads, got {outcome_a:?} and {outcome_b:?}"),
        };
        let held = spec(&client, &ns, &name).await;
        assert_eq!(holder(&held), Some(winner.identity()), "round {round}");
        assert_eq!(
            *loser_outcome,
            following(winner.identity()),
            "round {round}: {} names the winner",
            loser.identity()
        );
        if loser_requests >= 3 {
            raced_writes += 1;
        }
        if create {
            assert_eq!(held.lease_transitions, Some(0), "round {round}");
        } else {
            // Created in the first shared round, then taken after each release.
            let expected = i32::try_from(round - ROUNDS).expect("few rounds");
            assert_eq!(held.lease_transitions, Some(expected), "round {round}");
            winner.release().await.expect("release");
            assert_eq!(holder(&spec(&client, &ns, &name).await), None);
        }
    }
    println!(
        "{raced_writes} of {} rounds were decided by a conflicting write",
        2 * ROUNDS
    );
    assert!(
        raced_writes > 0,
        "the candidates never wrote concurrently: the race was not exercised"
    );
}

#[tokio::test]
async fn the_guard_reports_the_loss_when_another_holder_overwrites_the_lease() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let client = kube.client().await;
    let mut guard = lease::acquire(candidate(&client, &ns, "usurped", "a"))
        .await
        .expect("a leads");

    // Written by hand, as another controller ignoring the election would.
    let api = Api::<Lease>::namespaced(client.clone(), &ns);
    loop {
        let mut lease = api.get("usurped").await.expect("lease");
        let spec = lease.spec.as_mut().expect("spec");
        spec.holder_identity = Some("intruder".into());
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match api.replace("usurped", &PostParams::default(), &lease).await {
            Ok(_) => break,
            // A renewal got in between: read again.
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            Err(e) => panic!("replace: {e}"),
        }
    }
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), guard.lost())
        .await
        .expect("the loss is reported");
    let elapsed = started.elapsed();
    // The next renewal notices, well before the renew deadline (1.5 s) would.
    assert!(
        elapsed < RETRY * 5,
        "noticed at the next renewal, took {elapsed:?}"
    );
    assert!(!guard.is_leading());
    guard.lost().await; // resolves again at once

    tokio::time::sleep(RETRY * 3).await;
    let after = spec(&client, &ns, "usurped").await;
    assert_eq!(
        holder(&after),
        Some("intruder"),
        "the old leader wrote nothing more"
    );
    guard
        .release()
        .await
        .expect("releasing a lost lease does nothing");
    assert_eq!(spec(&client, &ns, "usurped").await, after);
    println!("loss noticed {elapsed:?} after the overwrite");
}

#[tokio::test]
async fn renewals_that_stall_past_the_deadline_report_the_loss_before_the_lease_expires() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let ns = kube.namespace().await;
    let client = kube.client().await;
    let stall = Stall::default();
    let config = kube.config().await.expect("admin config");
    let stalling = kube::client::ClientBuilder::try_from(config)
        .expect("client builder")
        .with_layer(&stall)
        .build();
    let mut guard = lease::acquire(candidate(&stalling, &ns, "stalled", "a"))
        .await
        .expect("a leads");
    tokio::time::sleep(RETRY * 2).await;

    stall.0.store(true, Ordering::SeqCst);
    let started = Instant::now();
    tokio::time::timeout(Duration::from_secs(5), guard.lost())
        .await
        .expect("the loss is reported");
    let elapsed = started.elapsed();
    let last = spec(&client, &ns, "stalled").await;
    let since_renewal =
        Timestamp::now().duration_since(last.renew_time.as_ref().expect("renewTime").0);
    assert!(
        elapsed >= DEADLINE - RETRY - Duration::from_millis(100) && elapsed < DEADLINE + RETRY * 2,
        "loss reported {elapsed:?} after the stall"
    );
    assert!(
        since_renewal < LEASE.try_into().expect("a small duration"),
        "reported {since_renewal:?} after the last renewal the server holds: others may take over"
    );
    assert_eq!(holder(&last), Some("a"));

    let b = candidate(&client, &ns, "stalled", "b");
    assert_eq!(b.try_acquire_or_renew().await.expect("b"), following("a"));

    stall.0.store(false, Ordering::SeqCst);
    guard.release().await.expect("release");
    assert_eq!(holder(&spec(&client, &ns, "stalled").await), None);
    assert_eq!(
        b.try_acquire_or_renew().await.expect("b"),
        Leadership::Leading
    );
    println!("stall: loss reported {elapsed:?} after renewals stopped getting answers");
}

#[tokio::test]
async fn errors_name_the_lease_and_permanent_ones_end_the_wait() {
    let Some(kube) = gitops_testenv::require_kube() else {
        return;
    };
    let client = kube.client().await;

    let missing = candidate(&client, "no-such-namespace", "l", "a");
    let error = tokio::time::timeout(Duration::from_secs(5), lease::acquire(missing))
        .await
        .expect("a permanent error ends the wait")
        .expect_err("no namespace");
    assert!(matches!(error, Error::Request { .. }), "{error:?}");
    assert!(!error.is_transient());
    assert_eq!(
        error.to_string(),
        "lease no-such-namespace/l: cannot create the Lease"
    );

    let ns = kube.namespace().await;
    let inverted = candidate(&client, &ns, "l", "a").with_renew_deadline(LEASE * 2);
    let error = lease::acquire(inverted).await.expect_err("bad timings");
    assert!(matches!(error, Error::Timings { .. }), "{error:?}");
    assert!(
        error.to_string().starts_with(&format!("lease {ns}/l: ")),
        "{error}"
    );
    let absent = Api::<Lease>::namespaced(client, &ns).get_opt("l").await;
    assert!(absent.expect("get").is_none(), "nothing written");
}

/// A layer whose requests hang, never answered, while its flag is set.
#[derive(Clone, Default)]
struct Stall(Arc<AtomicBool>);

impl<S> tower::Layer<S> for Stall {
    type Service = Stalling<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Stalling {
            inner,
            stall: Arc::clone(&self.0),
        }
    }
}

struct Stalling<S> {
    inner: S,
    stall: Arc<AtomicBool>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, R> tower::Service<R> for Stalling<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
    S::Response: 'static,
    S::Error: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        if self.stall.load(Ordering::SeqCst) {
            Box::pin(std::future::pending())
        } else {
            Box::pin(self.inner.call(request))
        }
    }
}
