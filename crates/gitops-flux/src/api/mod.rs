//! The Flux kinds as Rust types, readable from every API version the CRDs serve.
//!
//! The CRDs serve Flux's `v1beta2`/`v1beta3` versions and `v1` (`v2beta1`/`v2beta2` and `v2` for
//! `HelmRelease`) with one schema and no conversion, so the API server hands any object out
//! under any version. The types here are the union of the
//! fields of those versions that gitops-rs acts on; fields they do not name are kept by the API
//! server (the schemas preserve unknown fields) and ignored here.

use std::borrow::Cow;

use kube::Resource;
use serde::{Deserialize, Serialize};

use crate::status::FluxCondition;

/// The annotation that asks for a reconcile now; its value is an opaque token (Flux writes a time).
pub const REQUESTED_AT_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";

/// The label Flux's controllers shard on.
pub const SHARD_LABEL: &str = "sharding.fluxcd.io/key";

/// What every Flux kind offers the controller and the CLI, whatever its spec.
pub trait FluxObject:
    Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
{
    /// The status conditions.
    fn conditions(&self) -> &[FluxCondition];
    /// Whether `spec.suspend` is set.
    fn suspended(&self) -> bool;
    /// The status' `observedGeneration`.
    fn observed_generation(&self) -> Option<i64>;
    /// The last `reconcile.fluxcd.io/requestedAt` token handled.
    fn last_handled_reconcile_at(&self) -> Option<&str>;
    /// The revision to show in `get` (artifact, applied revision, latest image).
    fn revision(&self) -> Option<String>;

    /// The `Ready` condition, if any.
    fn ready(&self) -> Option<&FluxCondition> {
        self.conditions().iter().find(|c| c.type_ == "Ready")
    }

    /// Whether `Ready` is `True` for the current generation.
    fn is_ready(&self) -> bool {
        self.ready().is_some_and(|c| c.status == "True")
            && self.observed_generation() == self.meta().generation
    }

    /// The pending `requestedAt` token, when it differs from the last handled one.
    fn pending_request(&self) -> Option<&str> {
        let requested = self
            .meta()
            .annotations
            .as_ref()?
            .get(REQUESTED_AT_ANNOTATION)?;
        (Some(requested.as_str()) != self.last_handled_reconcile_at()).then_some(requested)
    }
}

macro_rules! flux_kind {
    ($(#[$doc:meta])* $kind:ident, $spec:ty, $status:ty, $group:literal, $plural:literal) => {
        flux_kind!($(#[$doc])* $kind, $spec, $status, $group, $plural, "v1");
    };
    ($(#[$doc:meta])* $kind:ident, $spec:ty, $status:ty, $group:literal, $plural:literal, $version:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, Default, Serialize, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub struct $kind {
            /// `apiVersion`, as the server sent it.
            #[serde(default)]
            pub api_version: String,
            /// `kind`.
            #[serde(default)]
            pub kind: String,
            /// Standard object metadata.
            pub metadata: ObjectMeta,
            /// What the user asked for.
            #[serde(default)]
            pub spec: $spec,
            /// What the controller observed.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub status: Option<$status>,
        }

        impl $kind {
            /// The group.
            pub const GROUP: &'static str = $group;
            /// The kind's name.
            pub const KIND: &'static str = stringify!($kind);
            /// The version the controller reads and writes (the CRD's storage version).
            pub const VERSION: &'static str = $version;

            /// A new object in `namespace`, with the current API version ([`Self::VERSION`]).
            pub fn new(namespace: &str, name: &str, spec: $spec) -> Self {
                Self {
                    api_version: format!("{}/{}", $group, $version),
                    kind: stringify!($kind).to_string(),
                    metadata: ObjectMeta {
                        name: Some(name.to_string()),
                        namespace: Some(namespace.to_string()),
                        ..ObjectMeta::default()
                    },
                    spec,
                    status: None,
                }
            }
        }

        impl Resource for $kind {
            type DynamicType = ();
            type Scope = k8s_openapi::NamespaceResourceScope;

            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(stringify!($kind))
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($group)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($version)
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl FluxObject for $kind {
            fn conditions(&self) -> &[FluxCondition] {
                self.status.as_ref().map_or(&[], |s| s.common.conditions.as_slice())
            }
            fn suspended(&self) -> bool {
                self.spec.suspend
            }
            fn observed_generation(&self) -> Option<i64> {
                self.status.as_ref().and_then(|s| s.common.observed_generation)
            }
            fn last_handled_reconcile_at(&self) -> Option<&str> {
                self.status
                    .as_ref()
                    .and_then(|s| s.common.last_handled_reconcile_at.as_deref())
            }
            fn revision(&self) -> Option<String> {
                self.status.as_ref().and_then(|s| s.revision())
            }
        }
    };
}

/// The status fields every Flux kind shares.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommonStatus {
    /// The generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions, `Ready` first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<FluxCondition>,
    /// The last `reconcile.fluxcd.io/requestedAt` token handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

/// A reference to a Secret or ConfigMap in the object's namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalObjectReference {
    /// Its name.
    pub name: String,
}

/// A reference to another object, by kind, optionally in another namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CrossNamespaceReference {
    /// The API version, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// The kind.
    #[serde(default)]
    pub kind: String,
    /// The name.
    pub name: String,
    /// The namespace; the referring object's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A reference to an object of a known kind, optionally in another namespace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespacedReference {
    /// The name.
    pub name: String,
    /// The namespace; the referring object's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

mod helm;
mod image;
mod kustomize;
mod notification;
mod source;

pub use helm::*;
pub use image::*;
pub use kustomize::*;
pub use notification::*;
pub use source::*;

/// Parses a Go duration (`1m30s`, `10m`, `1h`, `500ms`), as Flux's intervals are written.
///
/// The arithmetic is Go's `time.ParseDuration`: integer nanoseconds, fractions truncated, and
/// `None` for anything past Go's largest duration (`2562047h47m16.854775807s`, about 292 years)
/// instead of a panic. The Flux CRDs' pattern accepts far longer texts (`6000000000000000h`);
/// Go's controllers cannot read those either. A value inside that range can be added to an
/// `Instant` or a `SystemTime` on the platforms we run on, but callers that add it to a clock
/// should still use `checked_add`: 292 years from a `SystemTime` near the end of its range can
/// overflow.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    /// Go's `time.Duration` is an `int64` of nanoseconds.
    const MAX_NANOS: u128 = i64::MAX as u128;
    let text = text.trim();
    if text == "0" {
        return Some(std::time::Duration::ZERO);
    }
    let mut rest = text;
    if rest.is_empty() {
        return None;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(f) => {
                let n = f.find(|c: char| !c.is_ascii_digit()).unwrap_or(f.len());
                f.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let unit: u128 = match &after[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return None,
        };
        rest = &after[unit_len..];
        // Every step is checked: a long run of digits must end in `None`, not in an overflow.
        let mut whole: u128 = 0;
        for d in int_part.bytes() {
            whole = whole.checked_mul(10)?.checked_add(u128::from(d - b'0'))?;
            if whole > MAX_NANOS {
                return None;
            }
        }
        let mut nanos = whole.checked_mul(unit)?;
        // The fraction, truncated to whole nanoseconds as Go does.
        let mut scale = unit;
        for d in frac_part.bytes() {
            if scale < 10 {
                break;
            }
            scale /= 10;
            nanos = nanos.checked_add(u128::from(d - b'0') * scale)?;
        }
        total = total.checked_add(nanos)?;
        if total > MAX_NANOS {
            return None;
        }
    }
    let secs = u64::try_from(total / 1_000_000_000).ok()?;
    let sub = u32::try_from(total % 1_000_000_000).ok()?;
    Some(std::time::Duration::new(secs, sub))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn go_durations_parse_as_flux_writes_them() {
        assert_eq!(parse_duration("1m0s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("3d"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn durations_past_gos_range_are_none_not_a_panic() {
        // The CRD pattern accepts these; Go's ParseDuration refuses them ("invalid duration").
        assert_eq!(parse_duration("6000000000000000h"), None);
        assert_eq!(
            parse_duration("99999999999999999999999999999999999999999s"),
            None
        );
        assert_eq!(parse_duration("2562048h"), None);
        assert_eq!(parse_duration("1e400s"), None);
        // Go's largest duration still parses, and adding it to a clock is checked, not a panic.
        let max = parse_duration("2562047h47m16.854775807s").expect("Go's maximum");
        assert_eq!(max, Duration::new(9_223_372_036, 854_775_807));
        let _ = std::time::Instant::now().checked_add(max);
        let _ = std::time::SystemTime::now().checked_add(max);
        // Fractions are exact nanoseconds, as in Go.
        assert_eq!(parse_duration("0.1s"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration(".5s"), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_duration("1.0000000001s"),
            Some(Duration::from_secs(1))
        );
        assert_eq!(parse_duration("1.2.3s"), None);
        assert_eq!(parse_duration("."), None);
    }

    #[test]
    fn helm_kinds_read_from_their_beta_versions() {
        let release: HelmRelease = serde_yaml_ng::from_str(
            r#"
apiVersion: helm.toolkit.fluxcd.io/v2beta1
kind: HelmRelease
metadata: {name: podinfo, namespace: apps, generation: 2}
spec:
  interval: 5m
  chart:
    spec:
      chart: podinfo
      version: ">=6.0.0"
      sourceRef: {kind: HelmRepository, name: podinfo, namespace: flux-system}
      reconcileStrategy: Revision
  values: {replicaCount: 2}
  valuesFrom: [{kind: Secret, name: extra, valuesKey: v.yaml, targetPath: a.b, optional: true}]
  install: {remediation: {retries: 3}, crds: CreateReplace, createNamespace: true}
  upgrade: {remediation: {retries: -1, strategy: uninstall}, cleanupOnFail: true}
  test: {enable: true}
  driftDetection: {mode: warn}
  dependsOn: [{name: infra}]
  maxHistory: 3
  postRenderers: [{kustomize: {images: [{name: nginx, newTag: "1"}]}}]
status:
  observedGeneration: 2
  installFailures: 1
  lastAttemptedRevision: 6.1.0
  lastAttemptedReleaseAction: install
  history:
  - {name: podinfo, namespace: apps, version: 1, status: deployed, chartName: podinfo,
     chartVersion: 6.1.0, digest: "sha256:aa", configDigest: "sha256:bb",
     firstDeployed: "2026-01-01T00:00:00Z", lastDeployed: "2026-01-01T00:00:00Z"}
"#,
        )
        .expect("a v2beta1 HelmRelease");
        let chart = &release.spec.chart.as_ref().expect("spec.chart").spec;
        assert_eq!(chart.source_ref.namespace.as_deref(), Some("flux-system"));
        assert_eq!(chart.reconcile_strategy.as_deref(), Some("Revision"));
        assert_eq!(release.spec.values.as_ref().unwrap()["replicaCount"], 2);
        assert!(release.spec.values_from[0].optional);
        let install = release.spec.install.as_ref().unwrap();
        assert_eq!(install.remediation.as_ref().unwrap().retries, Some(3));
        assert_eq!(install.crds.as_deref(), Some("CreateReplace"));
        let upgrade = release.spec.upgrade.as_ref().unwrap();
        assert_eq!(
            upgrade.remediation.as_ref().unwrap().strategy.as_deref(),
            Some("uninstall")
        );
        assert_eq!(release.revision().as_deref(), Some("6.1.0"));
        assert_eq!(HelmRelease::VERSION, "v2");
        assert_eq!(
            HelmRelease::new("a", "b", HelmReleaseSpec::default()).api_version,
            "helm.toolkit.fluxcd.io/v2"
        );

        let chart: HelmChart = serde_yaml_ng::from_str(
            r#"
apiVersion: source.toolkit.fluxcd.io/v1beta2
kind: HelmChart
metadata: {name: podinfo, namespace: flux-system}
spec: {chart: ./charts/podinfo, sourceRef: {kind: GitRepository, name: repo}, interval: 1m,
       valuesFiles: [values.yaml, values-prod.yaml]}
status: {observedChartName: podinfo, artifact: {path: a.tgz, url: u, revision: 6.1.0+0123456789ab,
         lastUpdateTime: "2026-01-01T00:00:00Z"}}
"#,
        )
        .expect("a v1beta2 HelmChart");
        assert_eq!(chart.spec.values_files.len(), 2);
        assert_eq!(chart.spec.version, None);
        assert_eq!(chart.revision().as_deref(), Some("6.1.0+0123456789ab"));

        let repo: HelmRepository = serde_yaml_ng::from_str(
            "metadata: {name: r}\nspec: {url: 'oci://ghcr.io/x', type: oci, interval: 1m}\n",
        )
        .expect("a HelmRepository");
        assert!(repo.spec.is_oci());
        let oci: OCIRepository = serde_yaml_ng::from_str(
            "metadata: {name: o}\nspec: {url: 'oci://r/c', interval: 1m, ref: {semver: '>=1'},\n  layerSelector: {mediaType: m, operation: copy}}\n",
        )
        .expect("an OCIRepository");
        assert_eq!(oci.spec.reference.unwrap().semver.as_deref(), Some(">=1"));
    }

    #[test]
    fn a_v1beta2_kustomization_reads_into_the_union_type() {
        let yaml = r#"
apiVersion: kustomize.toolkit.fluxcd.io/v1beta2
kind: Kustomization
metadata: {name: apps, namespace: flux-system, generation: 3,
  annotations: {reconcile.fluxcd.io/requestedAt: "2026-01-01T00:00:00Z"}}
spec:
  interval: 10m0s
  dependsOn: [{name: infra}]
  sourceRef: {kind: GitRepository, name: flux-system}
  path: ./apps
  prune: true
  decryption: {provider: sops, secretRef: {name: sops-age}}
  postBuild:
    substitute: {cluster_name: vps}
    substituteFrom: [{kind: ConfigMap, name: vars, optional: true}]
  patchesStrategicMerge: []
status:
  observedGeneration: 2
  lastHandledReconcileAt: "2025-12-31T00:00:00Z"
  conditions:
  - {type: Ready, status: "True", reason: ReconciliationSucceeded, message: ok,
     lastTransitionTime: "2026-01-01T00:00:00Z"}
"#;
        let ks: Kustomization = serde_yaml_ng::from_str(yaml).unwrap();
        assert_eq!(ks.spec.depends_on[0].name, "infra");
        assert_eq!(ks.spec.path.as_deref(), Some("./apps"));
        assert_eq!(
            ks.spec
                .decryption
                .as_ref()
                .unwrap()
                .secret_ref
                .as_ref()
                .unwrap()
                .name,
            "sops-age"
        );
        let post = ks.spec.post_build.as_ref().unwrap();
        assert_eq!(post.substitute["cluster_name"], "vps");
        assert!(post.substitute_from[0].optional);
        // Ready, but for an older generation: not ready now.
        assert!(ks.ready().is_some());
        assert!(!ks.is_ready());
        assert_eq!(ks.pending_request(), Some("2026-01-01T00:00:00Z"));
    }
}
