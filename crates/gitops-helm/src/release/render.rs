//! A chart rendered for a release: the manifest and hooks as Helm records them, the user's
//! values, and the chart as Helm stores it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value};

use super::model::{Hook, HookExecution, StoredChart, StoredFile};
use crate::{Chart, Error, TemplateOptions, engine, output, values};

/// What an install or upgrade records and applies.
#[derive(Clone, Debug)]
pub(crate) struct Rendered {
    /// `---\n# Source: PATH\nDOC\n` per document, in Helm's install order.
    pub manifest: String,
    /// The hooks, in Helm's order.
    pub hooks: Vec<Hook>,
    /// The user's values.
    pub config: Map<String, Value>,
    /// The chart as Helm stores it.
    pub chart: StoredChart,
    /// The top chart's rendered `templates/NOTES.txt` (subcharts' notes are left out, as
    /// without Helm's `--render-subchart-notes`); empty without one.
    pub notes: String,
    /// The CRDs of the `crds/` folders of the chart and of the subcharts its values enable
    /// (Helm's `CRDObjects`), as `(path, text)`; never part of the manifest.
    pub crds: Vec<(String, String)>,
}

/// Renders `chart` as revision `revision` the way `helm install`/`upgrade` does: the same
/// steps as [`crate::template`] (values, dependencies, schema, templates, sorting), keeping
/// manifests and hooks apart.
pub(crate) fn render(
    chart: &Chart,
    options: &TemplateOptions,
    revision: u32,
) -> Result<Rendered, Error> {
    let stored = stored_chart(chart)?;
    let mut chart = chart.clone();
    let mut ctx = options.context()?;
    ctx.revision = i64::from(revision);
    crate::check_kube_version(&chart, &ctx.kube_version)?;
    let user = options.user_values()?;
    values::process_dependencies(&mut chart, &user)?;
    values::process_imports(&mut chart);
    let vals = values::coalesce(&chart, user.clone());
    crate::validate_schemas(&chart, &vals)?;
    let (files, notes) = engine::render_with_notes(&chart, &vals, &ctx)?;
    let notes = notes
        .get(&format!("{}/templates/NOTES.txt", chart.name()))
        .cloned()
        .unwrap_or_default();
    let mut crds = Vec::new();
    crd_files(&chart, chart.name(), &mut crds)?;
    let (generic, hook_docs) = output::sort_manifests(&files)?;
    // Helm's `renderResources`: each document as `---\n# Source: %s\n%s\n`, untrimmed.
    let mut manifest = String::new();
    for m in &generic {
        manifest.push_str("---\n# Source: ");
        manifest.push_str(&m.path);
        manifest.push('\n');
        manifest.push_str(&m.content);
        manifest.push('\n');
    }
    let mut hooks = Vec::with_capacity(hook_docs.len());
    for h in hook_docs {
        let objects =
            gitops_core::object::parse_yaml(&h.path, &h.content).map_err(|e| Error::Manifest {
                path: h.path.clone(),
                message: e.to_string(),
            })?;
        let Some(object) = objects.first() else {
            continue;
        };
        let annotations = object.annotations();
        let list = |key: &str| -> Vec<String> {
            annotations
                .get(key)
                .map(|v| {
                    v.split(',')
                        .map(|p| p.trim().to_owned())
                        .filter(|p| !p.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        hooks.push(Hook {
            name: object.id().name.clone(),
            kind: h.kind.clone(),
            path: h.path.clone(),
            manifest: h.content.clone(),
            events: h.hook_events.clone().unwrap_or_default(),
            last_run: HookExecution::default(),
            // Helm ignores a weight that is not an integer.
            weight: annotations
                .get("helm.sh/hook-weight")
                .and_then(|w| w.trim().parse().ok())
                .unwrap_or(0),
            delete_policies: list("helm.sh/hook-delete-policy"),
            output_log_policies: list("helm.sh/hook-output-log-policy"),
            extra: Map::new(),
        });
    }
    Ok(Rendered {
        manifest,
        hooks,
        config: user,
        chart: stored,
        notes,
        crds,
    })
}

/// The `crds/` files of `chart` and its (enabled) subcharts, depth first, as Helm lists them.
fn crd_files(chart: &Chart, path: &str, out: &mut Vec<(String, String)>) -> Result<(), Error> {
    for file in chart.crds() {
        let text = String::from_utf8_lossy(file.bytes(path)?).into_owned();
        out.push((format!("{path}/{}", file.name), text));
    }
    for sub in &chart.dependencies {
        crd_files(sub, &sub.path_under(path), out)?;
    }
    Ok(())
}

/// The chart as Helm's JSON holds it: metadata, templates, values, schema and files, each file
/// base64; subcharts are not stored (Helm does not store them either).
pub(crate) fn stored_chart(chart: &Chart) -> Result<StoredChart, Error> {
    let file = |f: &crate::chart::File| -> Result<StoredFile, Error> {
        Ok(StoredFile {
            name: f.name.clone(),
            data: B64.encode(f.bytes(chart.name())?),
            extra: Map::new(),
        })
    };
    let schema = match &chart.schema {
        Some(s) => Some(
            B64.encode(
                serde_json::to_vec(s)
                    .map_err(|e| Error::chart(chart.name(), format!("values.schema.json: {e}")))?,
            ),
        ),
        None => None,
    };
    let mut extra = Map::new();
    extra.insert("lock".into(), Value::Null);
    Ok(StoredChart {
        metadata: chart.metadata.raw.clone(),
        templates: chart.templates.iter().map(file).collect::<Result<_, _>>()?,
        values: chart.values.clone(),
        schema,
        files: chart.files.iter().map(file).collect::<Result<_, _>>()?,
        extra,
    })
}
