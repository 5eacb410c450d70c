//! A release as Helm v4 stores it (`pkg/release/v1`): the JSON inside a release Secret.
//!
//! Field names, `omitempty` behaviour and status strings follow Helm's Go structs, so a record
//! written here is read by `helm` and one written by `helm` is read here. Fields this crate does
//! not model (those of a newer Helm, `info.resources`, `chart.lock`, `schemamodtime`, …) are kept
//! as read in `extra` and written back unchanged.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// A release's status (`pkg/release/common.Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Status {
    /// `deployed`: the release's current revision.
    Deployed,
    /// `uninstalled`: uninstalled with its history kept.
    Uninstalled,
    /// `superseded`: an older revision.
    Superseded,
    /// `failed`: an action on this revision failed.
    Failed,
    /// `uninstalling`: an uninstall is under way.
    Uninstalling,
    /// `pending-install`: an install is under way.
    PendingInstall,
    /// `pending-upgrade`: an upgrade is under way.
    PendingUpgrade,
    /// `pending-rollback`: a rollback is under way.
    PendingRollback,
    /// `unknown`, also what an unrecognised string reads as.
    #[default]
    #[serde(other)]
    Unknown,
}

impl Status {
    /// The string Helm writes (`pending-install`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Unknown => "unknown",
            Status::Deployed => "deployed",
            Status::Uninstalled => "uninstalled",
            Status::Superseded => "superseded",
            Status::Failed => "failed",
            Status::Uninstalling => "uninstalling",
            Status::PendingInstall => "pending-install",
            Status::PendingUpgrade => "pending-upgrade",
            Status::PendingRollback => "pending-rollback",
        }
    }

    /// Whether an action is under way (`pending-*`), as Helm's `IsPending`.
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            Status::PendingInstall | Status::PendingUpgrade | Status::PendingRollback
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One revision of a release (`pkg/release/v1.Release`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Release {
    /// The release name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Status, times, description and notes.
    #[serde(default)]
    pub info: Info,
    /// The chart this revision was rendered from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<StoredChart>,
    /// The values the user supplied (what `helm get values` prints).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub config: Map<String, Value>,
    /// The rendered manifest without hooks: `---\n# Source: PATH\nDOC\n` per document.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    /// The chart's hooks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Hook>,
    /// The revision, from 1.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub version: u32,
    /// The release's namespace.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// `ssa` (server-side apply) or `csa` (client-side apply).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub apply_method: String,
    /// Fields this crate does not model, kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A release's status and history fields (`pkg/release/v1.Info`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Info {
    /// When the release was first deployed (RFC 3339 as Go writes it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub first_deployed: Option<String>,
    /// When this revision was deployed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub last_deployed: Option<String>,
    /// When the release was uninstalled.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub deleted: Option<String>,
    /// What happened (`Install complete`, `Upgrade complete`, `Rollback to 1`, an error).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The status.
    #[serde(default)]
    pub status: Status,
    /// For a rollback, the revision it rolled back to.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub rollback_revision: u32,
    /// The rendered `NOTES.txt`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// Fields this crate does not model, kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The chart stored in a release (`pkg/chart/v2.Chart` as JSON): Helm keeps the chart's own
/// files, not its subcharts.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredChart {
    /// `Chart.yaml` (`name`, `version`, `appVersion`, …).
    #[serde(default)]
    pub metadata: Map<String, Value>,
    /// The templates, named `templates/x.yaml`.
    #[serde(default, deserialize_with = "null_as_default")]
    pub templates: Vec<StoredFile>,
    /// The chart's default values.
    #[serde(default, deserialize_with = "null_as_default")]
    pub values: Map<String, Value>,
    /// `values.schema.json`, base64 as Go writes a byte slice (`null` when there is none).
    #[serde(default)]
    pub schema: Option<String>,
    /// The other files.
    #[serde(default, deserialize_with = "null_as_default")]
    pub files: Vec<StoredFile>,
    /// Fields this crate does not model (`lock`, `schemamodtime`, …), kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl StoredChart {
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.meta("name")
    }

    /// `metadata.version`.
    pub fn version(&self) -> &str {
        self.meta("version")
    }

    /// `metadata.appVersion`.
    pub fn app_version(&self) -> &str {
        self.meta("appVersion")
    }

    fn meta(&self, key: &str) -> &str {
        self.metadata.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

/// A file of a stored chart (`pkg/chart/common.File`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredFile {
    /// The path inside the chart.
    pub name: String,
    /// The bytes, base64.
    #[serde(default)]
    pub data: String,
    /// Fields this crate does not model (`modtime`), kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A hook of a release (`pkg/release/v1.Hook`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Hook {
    /// The object's name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The object's kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// The template it came from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    /// The document.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub manifest: String,
    /// `pre-install`, `post-upgrade`, `test`, ….
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// The last execution.
    #[serde(default)]
    pub last_run: HookExecution,
    /// `helm.sh/hook-weight`.
    #[serde(default, skip_serializing_if = "is_zero_i64")]
    pub weight: i64,
    /// `helm.sh/hook-delete-policy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub delete_policies: Vec<String>,
    /// `helm.sh/hook-output-log-policy`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_log_policies: Vec<String>,
    /// Fields this crate does not model, kept as read.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// When a hook last ran and how it ended (`pkg/release/v1.HookExecution`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct HookExecution {
    /// When it started.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub started_at: Option<String>,
    /// When it ended.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "empty_as_none"
    )]
    pub completed_at: Option<String>,
    /// `Unknown`, `Running`, `Succeeded`, `Failed`, or empty when it never ran.
    #[serde(default)]
    pub phase: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_zero_i64(n: &i64) -> bool {
    *n == 0
}

/// Helm reads an empty time string as "not set".
fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    Ok(s.filter(|s| !s.is_empty()))
}

/// Go writes a nil slice or map as `null`.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Now, as Go's `time.Time` marshals a UTC time (RFC 3339 with nanoseconds, trailing zeros
/// dropped).
pub fn now() -> String {
    k8s_openapi::jiff::Timestamp::now().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_helms_json_and_keeps_unknown_fields() {
        let text = r#"{"name":"web","info":{"first_deployed":"2026-01-02T03:04:05.123Z",
            "last_deployed":"2026-01-02T03:04:05.123Z","deleted":"","description":"Install complete",
            "status":"pending-upgrade","resources":{"v1/ConfigMap":[]}},
            "chart":{"metadata":{"name":"app","version":"1.0.0","appVersion":"2"},"lock":null,
            "templates":[{"name":"templates/cm.yaml","data":"YQ=="}],"values":null,"schema":null,
            "files":null,"schemamodtime":"0001-01-01T00:00:00Z"},
            "manifest":"---\n","version":2,"namespace":"ns","apply_method":"ssa","future":1}"#;
        let r: Release = serde_json::from_str(text).expect("valid release");
        assert_eq!(r.info.status, Status::PendingUpgrade);
        assert!(r.info.status.is_pending());
        assert_eq!(r.info.deleted, None);
        let chart = r.chart.as_ref().expect("chart");
        assert_eq!(
            (chart.name(), chart.version(), chart.app_version()),
            ("app", "1.0.0", "2")
        );
        assert_eq!(r.extra.get("future"), Some(&Value::from(1)));
        let back: Value = serde_json::to_value(&r).expect("serialises");
        assert_eq!(
            back["info"]["resources"],
            serde_json::json!({"v1/ConfigMap": []})
        );
        assert_eq!(back["chart"]["lock"], Value::Null);
        assert_eq!(back["info"]["status"], "pending-upgrade");
        assert!(back["info"].get("deleted").is_none());
    }

    #[test]
    fn an_unknown_status_reads_as_unknown() {
        let i: Info = serde_json::from_str(r#"{"status":"paused"}"#).expect("valid info");
        assert_eq!(i.status, Status::Unknown);
    }
}
