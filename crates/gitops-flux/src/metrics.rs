//! Prometheus metrics under Flux's names.
//!
//! [`Metrics`] holds one registry with the series Flux's controllers expose (from `fluxcd/pkg`'s
//! `runtime/metrics`), so existing Flux dashboards and alerts work unchanged, plus a few of our
//! own under the `gitops_` prefix:
//!
//! | series | type | labels |
//! |---|---|---|
//! | `gotk_reconcile_duration_seconds` | histogram | `kind`, `name`, `namespace` |
//! | `gotk_reconcile_condition` | gauge | `kind`, `name`, `namespace`, `type`, `status` |
//! | `gotk_suspend_status` | gauge | `kind`, `name`, `namespace` |
//! | `gitops_objects_applied_total` | counter | `kind`, `name`, `namespace`, `action` |
//! | `gitops_kube_api_requests_total` | counter | none |
//! | `gitops_source_fetch_bytes_total` | counter | `kind`, `name`, `namespace` |
//! | `gitops_reconcile_total` | counter | `kind`, `name`, `namespace`, `result` (`success`, `failure`) |
//! | `gitops_drift_objects` | gauge | `kind`, `name`, `namespace` |
//! | `gitops_decryption_secret_missing` | gauge | `kind`, `name`, `namespace` |
//! | `gitops_image_automation_pushes_total` | counter | `kind`, `name`, `namespace` |
//!
//! A host serves [`Metrics::encode`] with [`CONTENT_TYPE`] (the controller's
//! `metrics_server` does, on `/metrics`).
//!
//! ```
//! use std::time::Duration;
//! use gitops_flux::metrics::Metrics;
//!
//! let metrics = Metrics::new();
//! metrics.record_duration("Kustomization", "flux-system", "apps", Duration::from_millis(840));
//! metrics.record_condition("Kustomization", "flux-system", "apps", "Ready", "True");
//! assert!(metrics.encode().contains("gotk_reconcile_condition"));
//! ```

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets_range};
use prometheus_client::registry::{Registry, Unit};

/// The `Content-Type` of [`Metrics::encode`]'s output, which Prometheus parses as OpenMetrics.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The condition statuses Flux writes a series for; the current one is 1, the others 0.
const STATUSES: [&str; 3] = ["True", "False", "Unknown"];

/// The status that stands for "the object is gone" in Flux's older recorders.
const DELETED: &str = "Deleted";

/// The labels identifying one Flux object, in Flux's order.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObjectLabels {
    kind: String,
    name: String,
    namespace: String,
}

impl ObjectLabels {
    fn new(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        }
    }
}

/// `gotk_reconcile_condition`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConditionLabels {
    #[prometheus(flatten)]
    object: ObjectLabels,
    r#type: String,
    status: String,
}

/// `gitops_reconcile_total`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    #[prometheus(flatten)]
    object: ObjectLabels,
    result: String,
}

/// `gitops_objects_applied_total`'s labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    #[prometheus(flatten)]
    object: ObjectLabels,
    action: String,
}

/// Makes each object's duration histogram with Flux's buckets.
#[derive(Clone, Copy, Debug)]
struct DurationBuckets;

impl MetricConstructor<Histogram> for DurationBuckets {
    fn new_metric(&self) -> Histogram {
        // Flux's buckets: ten exponential buckets from 10ms to 30 minutes.
        Histogram::new(exponential_buckets_range(10e-3, 1800.0, 10))
    }
}

/// The label values recorded per object in families whose other labels are open-ended, so that
/// [`Metrics::forget`] can remove every series of the object.
#[derive(Debug, Default)]
struct Recorded {
    condition_types: BTreeSet<String>,
    actions: BTreeSet<String>,
}

/// The controller's Prometheus metrics: Flux's `gotk_*` series and our `gitops_*` series.
///
/// All methods take `&self`; share one value in an [`Arc`](std::sync::Arc) between the reconcilers and
/// [`serve`]. Recording never fails and never blocks on I/O.
pub struct Metrics {
    registry: Registry,
    duration: Family<ObjectLabels, Histogram, DurationBuckets>,
    condition: Family<ConditionLabels, Gauge>,
    suspend: Family<ObjectLabels, Gauge>,
    objects_applied: Family<ActionLabels, Counter>,
    api_requests: Counter,
    api_requests_last_total: AtomicU64,
    fetch_bytes: Family<ObjectLabels, Counter>,
    reconciles: Family<ResultLabels, Counter>,
    drift: Family<ObjectLabels, Gauge>,
    decryption_secret_missing: Family<ObjectLabels, Gauge>,
    image_pushes: Family<ObjectLabels, Counter>,
    /// Also serialises updates to the open-ended families against [`Metrics::forget`].
    recorded: Mutex<HashMap<ObjectLabels, Recorded>>,
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("api_requests", &self.api_requests.get())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A registry with every series family registered and no series yet.
    pub fn new() -> Self {
        let duration = Family::new_with_constructor(DurationBuckets);
        let condition = Family::<ConditionLabels, Gauge>::default();
        let suspend = Family::<ObjectLabels, Gauge>::default();
        let objects_applied = Family::<ActionLabels, Counter>::default();
        let api_requests = Counter::default();
        let fetch_bytes = Family::<ObjectLabels, Counter>::default();
        let reconciles = Family::<ResultLabels, Counter>::default();
        let drift = Family::<ObjectLabels, Gauge>::default();
        let decryption_secret_missing = Family::<ObjectLabels, Gauge>::default();
        let image_pushes = Family::<ObjectLabels, Counter>::default();

        let mut registry = Registry::default();
        // Flux's help texts, so `# HELP` reads the same as a Flux controller's. The registry
        // appends the full stop to every help text.
        registry.register_with_unit(
            "gotk_reconcile_duration",
            "The duration in seconds of a GitOps Toolkit resource reconciliation",
            Unit::Seconds,
            duration.clone(),
        );
        registry.register(
            "gotk_reconcile_condition",
            "The current condition status of a GitOps Toolkit resource reconciliation",
            condition.clone(),
        );
        registry.register(
            "gotk_suspend_status",
            "The current suspend status of a GitOps Toolkit resource",
            suspend.clone(),
        );
        // Counters are registered without `_total`: the encoder appends it.
        registry.register(
            "gitops_objects_applied",
            "Objects applied by reconciliations of a resource, by the action the apply took",
            objects_applied.clone(),
        );
        registry.register(
            "gitops_kube_api_requests",
            "Requests the controller sent to the Kubernetes API server",
            api_requests.clone(),
        );
        registry.register_with_unit(
            "gitops_source_fetch",
            "Bytes a source resource fetched from its origin (Git, OCI registry, bucket)",
            Unit::Bytes,
            fetch_bytes.clone(),
        );
        registry.register(
            "gitops_reconcile",
            "Reconciliations of a resource that ended Ready (success) or not Ready (failure)",
            reconciles.clone(),
        );
        registry.register(
            "gitops_drift_objects",
            "Objects the last reconciliation of a resource found changed in the cluster at an unchanged revision and spec, and corrected",
            drift.clone(),
        );
        registry.register(
            "gitops_decryption_secret_missing",
            "Whether the Secret a resource names for decryption was missing on its last reconciliation",
            decryption_secret_missing.clone(),
        );
        registry.register(
            "gitops_image_automation_pushes",
            "Commits an image update automation pushed",
            image_pushes.clone(),
        );

        Self {
            registry,
            duration,
            condition,
            suspend,
            objects_applied,
            api_requests,
            api_requests_last_total: AtomicU64::new(0),
            fetch_bytes,
            reconciles,
            drift,
            decryption_secret_missing,
            image_pushes,
            recorded: Mutex::new(HashMap::new()),
        }
    }

    /// Observes one reconciliation of the object in `gotk_reconcile_duration_seconds`
    /// (labels `kind`, `name`, `namespace`; Flux's buckets, 10ms to 30 minutes).
    pub fn record_duration(&self, kind: &str, namespace: &str, name: &str, duration: Duration) {
        self.duration
            .get_or_create(&ObjectLabels::new(kind, namespace, name))
            .observe(duration.as_secs_f64());
    }

    /// Sets `gotk_reconcile_condition` (labels `kind`, `name`, `namespace`, `type`, `status`)
    /// for one condition type of the object, as Flux does: the series of the current status
    /// (`"True"`, `"False"` or `"Unknown"`) is 1 and the other two are 0.
    ///
    /// Any other status sets all three to 0, as Flux does, except `"Deleted"`, which removes the
    /// three series of this condition type (Flux's `DeleteCondition`). When the whole object is
    /// gone, call [`Metrics::forget`] instead.
    pub fn record_condition(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        condition_type: &str,
        status: &str,
    ) {
        let object = ObjectLabels::new(kind, namespace, name);
        let mut recorded = self.lock_recorded();
        if status == DELETED {
            self.remove_condition(&object, condition_type);
            if let Some(entry) = recorded.get_mut(&object) {
                entry.condition_types.remove(condition_type);
            }
            return;
        }
        for candidate in STATUSES {
            let labels = ConditionLabels {
                object: object.clone(),
                r#type: condition_type.to_owned(),
                status: candidate.to_owned(),
            };
            self.condition
                .get_or_create(&labels)
                .set(i64::from(candidate == status));
        }
        recorded
            .entry(object)
            .or_default()
            .condition_types
            .insert(condition_type.to_owned());
    }

    /// Sets `gotk_suspend_status` (labels `kind`, `name`, `namespace`) to 1 when the object is
    /// suspended, else 0.
    pub fn record_suspend(&self, kind: &str, namespace: &str, name: &str, suspended: bool) {
        self.suspend
            .get_or_create(&ObjectLabels::new(kind, namespace, name))
            .set(i64::from(suspended));
    }

    /// Adds `count` to `gitops_objects_applied_total` (labels `kind`, `name`, `namespace` of the
    /// reconciled resource, and `action`: `created`, `configured`, `unchanged`, `deleted` or
    /// `skipped`).
    pub fn add_objects(&self, kind: &str, namespace: &str, name: &str, action: &str, count: u64) {
        let object = ObjectLabels::new(kind, namespace, name);
        let labels = ActionLabels {
            object: object.clone(),
            action: action.to_owned(),
        };
        let mut recorded = self.lock_recorded();
        self.objects_applied.get_or_create(&labels).inc_by(count);
        recorded
            .entry(object)
            .or_default()
            .actions
            .insert(action.to_owned());
    }

    /// Brings `gitops_kube_api_requests_total` (no labels) up to date from a running total of
    /// requests kept elsewhere (a request counter in the Kubernetes client stack).
    ///
    /// The counter grows by the difference to the previous total. A total lower than the
    /// previous one means the source counter restarted from zero, so the counter grows by the
    /// whole new total; it never decreases.
    pub fn observe_api_requests_total(&self, total: u64) {
        let previous = self.api_requests_last_total.swap(total, Ordering::AcqRel);
        let increment = total.checked_sub(previous).unwrap_or(total);
        self.api_requests.inc_by(increment);
    }

    /// Adds `bytes` to `gitops_source_fetch_bytes_total` (labels `kind`, `name`, `namespace` of
    /// the source resource).
    pub fn add_fetch_bytes(&self, kind: &str, namespace: &str, name: &str, bytes: u64) {
        self.fetch_bytes
            .get_or_create(&ObjectLabels::new(kind, namespace, name))
            .inc_by(bytes);
    }

    /// Counts one reconciliation that ended Ready (`success`) or not Ready in
    /// `gitops_reconcile_total`, for the success rate.
    pub fn record_result(&self, kind: &str, namespace: &str, name: &str, success: bool) {
        let labels = ResultLabels {
            object: ObjectLabels::new(kind, namespace, name),
            result: if success { "success" } else { "failure" }.to_owned(),
        };
        self.reconciles.get_or_create(&labels).inc();
    }

    /// Sets `gitops_drift_objects`: how many objects the last pass found changed in the
    /// cluster, at the revision and spec it had already applied, and corrected.
    pub fn record_drift(&self, kind: &str, namespace: &str, name: &str, objects: u64) {
        self.drift
            .get_or_create(&ObjectLabels::new(kind, namespace, name))
            .set(i64::try_from(objects).unwrap_or(i64::MAX));
    }

    /// Sets `gitops_decryption_secret_missing` to 1 when the decryption Secret the object
    /// names was not found, else 0.
    pub fn record_decryption_secret(&self, kind: &str, namespace: &str, name: &str, missing: bool) {
        self.decryption_secret_missing
            .get_or_create(&ObjectLabels::new(kind, namespace, name))
            .set(i64::from(missing));
    }

    /// Counts a commit an image update automation pushed in
    /// `gitops_image_automation_pushes_total`.
    pub fn add_image_push(&self, kind: &str, namespace: &str, name: &str) {
        self.image_pushes
            .get_or_create(&ObjectLabels::new(kind, namespace, name))
            .inc();
    }

    /// The object was deleted: removes all of its series from every family keyed by object
    /// (duration, conditions of every type, suspend, applied objects of every action, fetched
    /// bytes, results, drift, decryption, pushes), so dashboards stop showing it.
    pub fn forget(&self, kind: &str, namespace: &str, name: &str) {
        let object = ObjectLabels::new(kind, namespace, name);
        let mut recorded = self.lock_recorded();
        self.duration.remove(&object);
        self.suspend.remove(&object);
        self.fetch_bytes.remove(&object);
        self.drift.remove(&object);
        self.decryption_secret_missing.remove(&object);
        self.image_pushes.remove(&object);
        for result in ["success", "failure"] {
            self.reconciles.remove(&ResultLabels {
                object: object.clone(),
                result: result.to_owned(),
            });
        }
        if let Some(entry) = recorded.remove(&object) {
            for condition_type in &entry.condition_types {
                self.remove_condition(&object, condition_type);
            }
            for action in entry.actions {
                self.objects_applied.remove(&ActionLabels {
                    object: object.clone(),
                    action,
                });
            }
        }
    }

    /// Every series in the OpenMetrics text format, ending in `# EOF`; serve it with
    /// [`CONTENT_TYPE`].
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail and every registered metric encodes in the text
        // format, so an error here would be a bug in the encoder; serve what was written.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn remove_condition(&self, object: &ObjectLabels, condition_type: &str) {
        for status in STATUSES {
            self.condition.remove(&ConditionLabels {
                object: object.clone(),
                r#type: condition_type.to_owned(),
                status: status.to_owned(),
            });
        }
    }

    fn lock_recorded(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectLabels, Recorded>> {
        // The map only lists label values; a panic elsewhere cannot leave it inconsistent.
        self.recorded.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line that starts with `series` (name and labels), if any.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.split(' ').next()?.parse().ok())
    }

    const OBJ: &str = r#"kind="Kustomization",name="apps",namespace="flux-system""#;

    fn condition_series(status: &str) -> String {
        format!(r#"gotk_reconcile_condition{{{OBJ},type="Ready",status="{status}"}}"#)
    }

    #[test]
    fn encodes_flux_names_and_label_sets() {
        let metrics = Metrics::new();
        let (kind, ns, name) = ("Kustomization", "flux-system", "apps");
        metrics.record_duration(kind, ns, name, Duration::from_millis(1500));
        metrics.record_condition(kind, ns, name, "Ready", "True");
        metrics.record_suspend(kind, ns, name, true);
        metrics.add_objects(kind, ns, name, "created", 3);
        metrics.observe_api_requests_total(7);
        metrics.add_fetch_bytes("GitRepository", ns, "repo", 4096);
        let text = metrics.encode();

        assert!(
            text.contains("# TYPE gotk_reconcile_duration_seconds histogram\n"),
            "{text}"
        );
        assert!(
            text.contains("# UNIT gotk_reconcile_duration_seconds seconds\n"),
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                &format!(r#"gotk_reconcile_duration_seconds_bucket{{le="+Inf",{OBJ}}}"#)
            ),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                &format!("gotk_reconcile_duration_seconds_sum{{{OBJ}}}")
            ),
            Some(1.5)
        );
        assert_eq!(
            sample(
                &text,
                &format!("gotk_reconcile_duration_seconds_count{{{OBJ}}}")
            ),
            Some(1.0)
        );
        // Flux's buckets: 10ms up to 30 minutes, ten of them plus +Inf.
        let buckets = text
            .lines()
            .filter(|l| l.starts_with("gotk_reconcile_duration_seconds_bucket{"))
            .count();
        assert_eq!(buckets, 11, "{text}");
        let bounds: Vec<f64> = text
            .lines()
            .filter_map(|l| l.strip_prefix(r#"gotk_reconcile_duration_seconds_bucket{le=""#))
            .filter_map(|l| l.split('"').next()?.parse().ok())
            .collect();
        assert_eq!(bounds.first(), Some(&0.01), "{text}");
        assert!((bounds[9] - 1800.0).abs() < 1e-6, "{bounds:?}");
        assert_eq!(bounds[10], f64::INFINITY);
        assert!(text.contains(
            "# HELP gotk_reconcile_condition The current condition status of a GitOps Toolkit \
             resource reconciliation.\n"
        ));

        assert!(text.contains("# TYPE gotk_reconcile_condition gauge\n"));
        assert_eq!(
            sample(&text, &condition_series("True")),
            Some(1.0),
            "{text}"
        );
        assert_eq!(sample(&text, &condition_series("False")), Some(0.0));
        assert_eq!(sample(&text, &condition_series("Unknown")), Some(0.0));

        assert!(text.contains("# TYPE gotk_suspend_status gauge\n"));
        assert_eq!(
            sample(&text, &format!("gotk_suspend_status{{{OBJ}}}")),
            Some(1.0)
        );

        assert!(text.contains("# TYPE gitops_objects_applied counter\n"));
        assert_eq!(
            sample(
                &text,
                &format!(r#"gitops_objects_applied_total{{{OBJ},action="created"}}"#)
            ),
            Some(3.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, "gitops_kube_api_requests_total"),
            Some(7.0),
            "{text}"
        );
        assert_eq!(
            sample(
                &text,
                r#"gitops_source_fetch_bytes_total{kind="GitRepository",name="repo",namespace="flux-system"}"#
            ),
            Some(4096.0),
            "{text}"
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(!text.contains("_total_total"), "{text}");
    }

    #[test]
    fn condition_flip_moves_the_one_to_the_new_status() {
        let metrics = Metrics::new();
        metrics.record_condition("Kustomization", "flux-system", "apps", "Ready", "True");
        metrics.record_condition("Kustomization", "flux-system", "apps", "Ready", "False");
        let text = metrics.encode();
        assert_eq!(
            sample(&text, &condition_series("True")),
            Some(0.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, &condition_series("False")),
            Some(1.0),
            "{text}"
        );
        assert_eq!(
            sample(&text, &condition_series("Unknown")),
            Some(0.0),
            "{text}"
        );

        metrics.record_condition("Kustomization", "flux-system", "apps", "Ready", "Deleted");
        let text = metrics.encode();
        assert!(!text.contains("gotk_reconcile_condition{"), "{text}");
    }

    #[test]
    fn tenancy_and_monitoring_series_carry_their_values() {
        let metrics = Metrics::new();
        metrics.record_result("Kustomization", "flux-system", "apps", true);
        metrics.record_result("Kustomization", "flux-system", "apps", true);
        metrics.record_result("Kustomization", "flux-system", "apps", false);
        metrics.record_drift("Kustomization", "flux-system", "apps", 3);
        metrics.record_decryption_secret("Kustomization", "flux-system", "apps", true);
        metrics.add_image_push("Kustomization", "flux-system", "apps");
        let text = metrics.encode();
        let value = |name: &str, extra: &str| sample(&text, &format!("{name}{{{OBJ}{extra}}}"));
        assert_eq!(
            value("gitops_reconcile_total", r#",result="success""#),
            Some(2.0)
        );
        assert_eq!(
            value("gitops_reconcile_total", r#",result="failure""#),
            Some(1.0)
        );
        assert_eq!(value("gitops_drift_objects", ""), Some(3.0));
        assert_eq!(value("gitops_decryption_secret_missing", ""), Some(1.0));
        assert_eq!(value("gitops_image_automation_pushes_total", ""), Some(1.0));
        metrics.record_decryption_secret("Kustomization", "flux-system", "apps", false);
        metrics.record_drift("Kustomization", "flux-system", "apps", 0);
        let text = metrics.encode();
        assert_eq!(
            sample(&text, &format!("gitops_decryption_secret_missing{{{OBJ}}}")),
            Some(0.0)
        );
        assert_eq!(
            sample(&text, &format!("gitops_drift_objects{{{OBJ}}}")),
            Some(0.0)
        );
    }

    #[test]
    fn forget_removes_every_series_of_the_object() {
        let metrics = Metrics::new();
        let (kind, ns) = ("Kustomization", "flux-system");
        for name in ["apps", "infra"] {
            metrics.record_duration(kind, ns, name, Duration::from_secs(2));
            metrics.record_condition(kind, ns, name, "Ready", "True");
            metrics.record_condition(kind, ns, name, "Healthy", "Unknown");
            metrics.record_suspend(kind, ns, name, false);
            metrics.add_objects(kind, ns, name, "created", 1);
            metrics.add_objects(kind, ns, name, "unchanged", 4);
            metrics.add_fetch_bytes(kind, ns, name, 10);
            metrics.record_result(kind, ns, name, true);
            metrics.record_result(kind, ns, name, false);
            metrics.record_drift(kind, ns, name, 2);
            metrics.record_decryption_secret(kind, ns, name, true);
            metrics.add_image_push(kind, ns, name);
        }
        metrics.forget(kind, ns, "apps");
        let text = metrics.encode();
        assert!(!text.contains(r#"name="apps""#), "{text}");
        // The other object keeps all of its series.
        let infra = text
            .lines()
            .filter(|l| l.contains(r#"name="infra""#))
            .count();
        // 13 histogram lines (11 buckets, sum, count), 6 condition, 1 suspend, 2 applied, 1 fetch,
        // 2 results, 1 drift, 1 decryption, 1 push.
        assert_eq!(infra, 13 + 6 + 1 + 2 + 1 + 2 + 1 + 1 + 1, "{text}");
        // Forgetting twice, or an object never seen, is harmless.
        metrics.forget(kind, ns, "apps");
        metrics.forget(kind, ns, "never");
    }

    #[test]
    fn api_request_totals_become_increments_that_never_decrease() {
        let metrics = Metrics::new();
        let value = |m: &Metrics| sample(&m.encode(), "gitops_kube_api_requests_total");
        assert_eq!(value(&metrics), Some(0.0));
        metrics.observe_api_requests_total(10);
        assert_eq!(value(&metrics), Some(10.0));
        metrics.observe_api_requests_total(25);
        assert_eq!(value(&metrics), Some(25.0));
        metrics.observe_api_requests_total(25);
        assert_eq!(value(&metrics), Some(25.0));
        // The source counter restarted and has counted 5 requests since.
        metrics.observe_api_requests_total(5);
        assert_eq!(value(&metrics), Some(30.0));
        metrics.observe_api_requests_total(8);
        assert_eq!(value(&metrics), Some(33.0));
    }

    #[test]
    fn metrics_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Metrics>();
    }
}
