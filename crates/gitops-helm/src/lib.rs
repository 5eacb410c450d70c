//! Helm charts rendered natively: a chart from a directory or a `.tgz`, values as Helm reads
//! and coalesces them, Helm's template functions on [`gitops_gotmpl`], and the output
//! `helm template` v4.3.2 prints, byte for byte.
//!
//! # Where to start
//! - [`template`] with [`TemplateOptions`]: what `helm template NAME CHART` prints.
//! - [`HelmRenderer`]: the core [`Renderer`] for a chart plus values, composed by a host as
//!   the kustomize renderer is.
//! - [`chart::load`], [`values`], [`engine::render`] and [`output::print`]: the steps.
//! - `release` (feature `release`, on by default): install, upgrade, rollback and uninstall
//!   on a cluster, running the chart's hooks and tests, with release records the real `helm`
//!   v4 reads and writes.
//!
//! # Supported
//! - Charts: `Chart.yaml` (v2 and v1 fields read as Helm exposes them under `.Chart`),
//!   `values.yaml`, `templates/` with `_*.tpl` partials, `crds/`, `charts/` as directories or
//!   archives (nested), `.helmignore` (Helm's rules: base-name patterns, anchored `/x`,
//!   `dir/`, its odd `!` negation, the default `templates/.?*`), other files as `.Files`.
//!   `.tgz` input is bounded: paths escaping the root, links and devices are refused, and
//!   a chart may unpack to at most [`chart::MAX_TOTAL_BYTES`], [`chart::MAX_FILE_BYTES`] a
//!   file and [`chart::MAX_FILES`] files.
//! - Values: YAML as go-yaml v2 reads it through `sigs.k8s.io/yaml` (`yes`/`on` are
//!   booleans, numbers float64, anchors and merge keys, alias expansion bounded), `-f` files
//!   merged in order, `--set`/`--set-string`/`--set-json`/`--set-file`/`--set-literal` in
//!   Helm's order (Helm's strvals forms `a.b=c`, `a[0]=x`,
//!   `a={x,y}`, `\,` `\.`, several per argument, `null`; integers stay int64 as in Helm),
//!   coalescing over chart defaults with `null` deleting, subchart scoping with `global`,
//!   dependency `condition`, `tags`, `alias`, `import-values` (both forms; Helm's merge mode)
//!   and `.Chart.Dependencies` as Helm leaves it.
//! - Functions: Sprig (without `env`, `expandenv`) plus `include`, `tpl`, `required`, `fail`,
//!   `toYaml` (through JSON then go-yaml v2: sorted keys, v2's quoting, 80-column folding),
//!   `toYamlPretty` (go-yaml v3, indented lists), `mustToYaml`, `fromYaml`, `fromYamlArray`,
//!   `fromJson`, `fromJsonArray`, `toToml` (BurntSushi/toml's layout), `lookup` (through [`engine::Lookup`]; [`engine::NoCluster`] answers
//!   an empty map as `helm template` does). `include` nests at most 1,000 deep.
//! - Context: `.Values`, `.Release` (IsInstall/IsUpgrade, Revision 1, Service `Helm`),
//!   `.Chart`, `.Capabilities` (`KubeVersion` settable, default `v1.37.0`; `APIVersions.Has`
//!   with Helm v4.3.2's default list plus added ones), `.Files` (`Get`, `GetBytes`, `Glob`
//!   with `**` and `{a,b}`, `Lines`, `AsConfig`, `AsSecrets`, ranging), `.Template`,
//!   `.Subcharts`.
//! - Output: templates parsed deepest path first (a parent's `define` wins), `NOTES.txt`
//!   rendered but not printed, `<no value>` removed, documents split at lines starting `---`
//!   (Helm v4: leading whitespace dropped, trailing line breaks kept), blank ones dropped,
//!   `# Source:` headers, Helm's install order by kind (stable, files by path), hooks after
//!   the manifests (a document with an unknown hook event dropped), `--include-crds` (the
//!   chart's and enabled subcharts' `crds/*.yaml|yml|json`), `--skip-tests`, `--is-upgrade`.
//! - `values.schema.json` (the chart's and each enabled subchart's): `type`, `enum`,
//!   `const`, number bounds, `multipleOf`, string lengths and `pattern`, array bounds,
//!   `uniqueItems`, `items`/`prefixItems`/`additionalItems`, `required`, `properties`,
//!   `patternProperties`, `additionalProperties`, property counts, `allOf`/`anyOf`/`oneOf`/
//!   `not`, `if`/`then`/`else`, local `$ref`s; Helm's messages (`- at '/port': got string,
//!   want integer`). Formats are not asserted; a remote `$ref` is not followed; a schema
//!   needing more than 100,000 steps (a recursive `anyOf` of itself) is refused.
//! - `Chart.yaml`'s `kubeVersion` range checked against the Kubernetes version, with
//!   Helm's error.
//! - Errors: `fail` and `required` as `execution error at (FILE:L:C): MESSAGE`, other
//!   execution errors in Helm v4's one-part-per-line layout (an `include` chain nested),
//!   parse errors as `parse error at (FILE:L): …`, invalid output as `YAML parse error on
//!   FILE: …` — the text `helm template` prints after `Error: `.
//!
//! Checked byte for byte against `helm template` v4.3.2 by `tests/helm_diff.rs`: two charts
//! written there (58 argument sets), 12 failing charts and 16 schema cases, all identical; with
//! `GITOPS_HELM_SEED_CHARTS` set it compares charts found elsewhere (kube-prometheus-stack,
//! strimzi-kafka-operator and cert-manager were identical at Kubernetes 1.34.4 and 1.31.0,
//! with and without `--include-crds`).
//!
//! # Not supported
//! - `Chart.lock` checks and dependency version ranges (a listed
//!   subchart is taken whatever its version), `requirements.yaml` of `apiVersion: v1`
//!   charts, `--strict`, `--show-only`.
//!
//! # Known divergences
//! - `.Files.GetBytes` returns a string (the template engine has no byte slices), so `%v`
//!   prints text where Helm prints the bytes.
//! - YAML syntax errors in values and rendered documents are worded by saphyr's parser, not
//!   go-yaml's; the file and line match. (Values files and rendered documents written in the
//!   plain block style are read by line scanners, [`plain_yaml`] and [`head`], which leave
//!   anything else, errors included, to that parser.)
//! - `.Capabilities.HelmVersion` reports v4.3.2 with an empty Git commit.
//! - `fromToml` decodes as BurntSushi/toml does (int64, float64, `time.Time` in its
//!   `datetime-local`/`date-local`/`time-local` zones), but the text under `Error` for invalid
//!   TOML is worded by the `toml` crate (same line number); an array of tables is a
//!   `[]interface {}` where Go has `[]map[string]interface {}` (visible only through `%T`).
//! - `getHostByName` returns `""` unless [`TemplateOptions::enable_dns`] (`--enable-dns`), as
//!   in Helm; with it, the system resolver answers.
//! - A chart directory's plain files (not templates, `Chart.yaml`, values or schema) are read
//!   when `.Files` or `--include-crds` first asks for them ([`chart::Contents`]), not while
//!   loading: an unreadable one fails the render that reads it (naming it), not the load, and
//!   one no template reads is never read.
#![forbid(unsafe_code)]

pub mod chart;
pub mod engine;
pub mod head;
pub mod output;
mod pin;
pub mod plain_yaml;
pub mod planner;
#[cfg(feature = "release")]
pub mod release;
pub mod repository;
pub mod schema;
pub mod toml;
pub mod values;
pub mod yaml;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use gitops_core::render::{self, RenderRequest, Renderer};
use gitops_core::{Object, async_trait};

pub use chart::Chart;
pub use engine::{Lookup, NoCluster};

/// Errors from loading, valuing and rendering a chart.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The chart is malformed or too large.
    #[error("{path}: {message}")]
    Chart {
        /// The chart (or file) at fault.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A YAML file is not valid YAML.
    #[error("{path}:{line}:{column}: {message}")]
    Yaml {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Values cannot be used.
    #[error("{0}")]
    Values(String),
    /// A `--set` argument is malformed.
    #[error("failed parsing --set data {expr:?}: {message}")]
    Set {
        /// The argument.
        expr: String,
        /// strvals' message.
        message: String,
    },
    /// A template failed to parse or execute.
    #[error("{message}")]
    Template {
        /// Helm's message: the file, line and the failing function or node.
        message: String,
    },
    /// A rendered document is not valid YAML.
    #[error("{message}")]
    Manifest {
        /// The template file.
        path: String,
        /// Helm's message.
        message: String,
    },
}

impl Error {
    pub(crate) fn chart(path: &str, message: impl Into<String>) -> Self {
        Error::Chart {
            path: path.to_string(),
            message: message.into(),
        }
    }

    pub(crate) fn values(message: impl Into<String>) -> Self {
        Error::Values(message.into())
    }
}

/// The flags of `helm template` this crate follows.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TemplateOptions {
    /// The release name (`NAME`).
    pub release_name: String,
    /// `-n`/`--namespace` (default `default`).
    pub namespace: String,
    /// `-f` files, in order.
    pub value_files: Vec<PathBuf>,
    /// `--set` arguments, in order.
    pub set: Vec<String>,
    /// `--set-string` arguments, in order.
    pub set_string: Vec<String>,
    /// `--set-file` arguments, in order.
    pub set_file: Vec<String>,
    /// `--set-json` arguments, in order.
    pub set_json: Vec<String>,
    /// `--set-literal` arguments, in order.
    pub set_literal: Vec<String>,
    /// `--kube-version` (`1.31.0` or `v1.31.0`).
    pub kube_version: Option<String>,
    /// `--api-versions`, added to the defaults.
    pub api_versions: Vec<String>,
    /// `--include-crds`.
    pub include_crds: bool,
    /// `--skip-tests`.
    pub skip_tests: bool,
    /// `--is-upgrade`.
    pub is_upgrade: bool,
    /// What `lookup` asks (default: no cluster).
    pub lookup: Arc<dyn Lookup>,
    /// `--enable-dns`: `getHostByName` asks the system resolver. Off by default, as in Helm,
    /// where it then returns `""`: a render should not depend on the renderer's network.
    pub enable_dns: bool,
    /// How many threads may parse and execute a large chart's templates and read its output
    /// (default: the machine's cores, at most 4; 1 keeps all the work on the calling
    /// thread). They are the process's worker pool (rayon's global pool, started by the
    /// first render that asks for more than one; a host that built that pool keeps its
    /// own). The output is the same whatever the number: a chart whose templates change
    /// values they share is executed again in Helm's order on one thread.
    pub threads: usize,
    /// Whether the calling thread and the pool's threads are each pinned to a core of their
    /// own while the render runs (Linux; default: off). For a one-shot process such as
    /// `gitops helm template`: a scheduler that packs a young process's threads onto one
    /// core then cannot (measured in `benches/README.md`). The pool's threads stay pinned
    /// for the process (only a pool this render starts is pinned); the caller gets its own
    /// cores back when the render ends. A long-running host that shares its cores with
    /// other work should leave it off.
    pub pin_threads: bool,
}

impl TemplateOptions {
    /// Options for release `name` in namespace `default`.
    pub fn new(name: impl Into<String>) -> Self {
        TemplateOptions {
            release_name: name.into(),
            namespace: "default".into(),
            value_files: Vec::new(),
            set: Vec::new(),
            set_string: Vec::new(),
            set_file: Vec::new(),
            set_json: Vec::new(),
            set_literal: Vec::new(),
            kube_version: None,
            api_versions: Vec::new(),
            include_crds: false,
            skip_tests: false,
            is_upgrade: false,
            lookup: Arc::new(NoCluster),
            enable_dns: false,
            threads: engine::cores().min(4),
            pin_threads: false,
        }
    }

    /// Sets the namespace.
    pub fn with_namespace(mut self, ns: impl Into<String>) -> Self {
        self.namespace = ns.into();
        self
    }

    /// Adds a `-f` values file.
    pub fn with_values_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.value_files.push(path.into());
        self
    }

    /// Adds a `--set` argument.
    pub fn with_set(mut self, s: impl Into<String>) -> Self {
        self.set.push(s.into());
        self
    }

    /// Adds a `--set-string` argument.
    pub fn with_set_string(mut self, s: impl Into<String>) -> Self {
        self.set_string.push(s.into());
        self
    }

    /// Adds a `--set-file` argument (`key=path`).
    pub fn with_set_file(mut self, s: impl Into<String>) -> Self {
        self.set_file.push(s.into());
        self
    }

    /// Adds a `--set-json` argument.
    pub fn with_set_json(mut self, s: impl Into<String>) -> Self {
        self.set_json.push(s.into());
        self
    }

    /// Adds a `--set-literal` argument.
    pub fn with_set_literal(mut self, s: impl Into<String>) -> Self {
        self.set_literal.push(s.into());
        self
    }

    /// Sets `--kube-version`.
    pub fn with_kube_version(mut self, v: impl Into<String>) -> Self {
        self.kube_version = Some(v.into());
        self
    }

    /// Adds an `--api-versions` entry.
    pub fn with_api_version(mut self, v: impl Into<String>) -> Self {
        self.api_versions.push(v.into());
        self
    }

    /// Sets `--include-crds`.
    pub fn with_include_crds(mut self, yes: bool) -> Self {
        self.include_crds = yes;
        self
    }

    /// Sets `--skip-tests`.
    pub fn with_skip_tests(mut self, yes: bool) -> Self {
        self.skip_tests = yes;
        self
    }

    /// Sets `--is-upgrade`.
    pub fn with_is_upgrade(mut self, yes: bool) -> Self {
        self.is_upgrade = yes;
        self
    }

    /// Sets `--enable-dns`.
    pub fn with_enable_dns(mut self, yes: bool) -> Self {
        self.enable_dns = yes;
        self
    }

    /// Sets how many threads may render (see [`TemplateOptions::threads`]).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Sets what `lookup` asks.
    pub fn with_lookup(mut self, lookup: Arc<dyn Lookup>) -> Self {
        self.lookup = lookup;
        self
    }

    /// The user's values: `-f` files merged in order, then `--set-json`, `--set`,
    /// `--set-string`, `--set-file` and `--set-literal` arguments.
    ///
    /// # Errors
    /// A file that cannot be read or parsed, or a malformed `--set`.
    pub fn user_values(&self) -> Result<values::Table, Error> {
        let mut base = values::Table::new();
        for f in &self.value_files {
            let shown = f.display().to_string();
            let data = std::fs::read(f).map_err(|e| Error::Io {
                path: shown.clone(),
                source: e,
            })?;
            let v = values::parse_values(&shown, &data)?;
            values::merge_maps(&mut base, v);
        }
        // Helm's order: --set-json, --set, --set-string, --set-file, --set-literal.
        for (args, kind) in [
            (&self.set_json, values::SetKind::Json),
            (&self.set, values::SetKind::Typed),
            (&self.set_string, values::SetKind::String),
            (&self.set_file, values::SetKind::File),
            (&self.set_literal, values::SetKind::Literal),
        ] {
            for s in args {
                values::parse_set(s, &mut base, kind)?;
            }
        }
        Ok(base)
    }

    fn context(&self) -> Result<engine::Context, Error> {
        let kube_version = match &self.kube_version {
            None => engine::DEFAULT_KUBE_VERSION.to_string(),
            Some(v) => {
                let bare = v.trim_start_matches('v');
                let ok = bare.split('.').count() >= 2
                    && bare
                        .split(['.', '-', '+'])
                        .take(2)
                        .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
                if !ok {
                    return Err(Error::values(format!("invalid kube version {v:?}")));
                }
                format!("v{bare}")
            }
        };
        let mut api_versions: Vec<String> = engine::DEFAULT_API_VERSIONS
            .iter()
            .map(|s| s.to_string())
            .collect();
        api_versions.extend(self.api_versions.iter().cloned());
        Ok(engine::Context {
            release_name: self.release_name.clone(),
            namespace: self.namespace.clone(),
            is_upgrade: self.is_upgrade,
            revision: 1,
            kube_version,
            api_versions,
            lookup: self.lookup.clone(),
            enable_dns: self.enable_dns,
            threads: self.threads,
        })
    }
}

/// Renders a loaded chart with `options`: the text `helm template` prints.
///
/// # Errors
/// See [`Error`].
pub fn template_chart(chart: &Chart, options: &TemplateOptions) -> Result<String, Error> {
    let ctx = options.context();
    template_owned(chart.clone(), options, ctx, None, &mut Phases::default()).map(|(out, _)| out)
}

/// Where the time of one [`template`] went (for benchmarks: `benches/helm-peer.sh`).
#[derive(Clone, Copy, Debug, Default)]
#[non_exhaustive]
pub struct Phases {
    /// Reading the chart (files, archives, subcharts).
    pub load: std::time::Duration,
    /// User values, dependencies, imports, coalescing and schema validation.
    pub values: std::time::Duration,
    /// Parsing and executing the templates.
    pub render: std::time::Duration,
    /// Splitting, checking, sorting and printing the manifests.
    pub output: std::time::Duration,
}

/// What [`template_timed`] returns: the text, where the time went, and what the render built.
#[derive(Debug)]
#[non_exhaustive]
pub struct Timed {
    /// What `helm template` prints.
    pub output: String,
    /// Where the time went.
    pub phases: Phases,
    /// The chart, its values, parse trees and render contexts.
    pub retained: Retained,
}

/// The structures a render built (the loaded chart, its values, every parse tree and render
/// context): hundreds of thousands of small allocations for a large chart. Dropping this frees
/// them, which took kube-prometheus-stack 5–9 ms; a process that exits right after printing
/// may instead pass it to [`std::mem::forget`] and let the operating system reclaim the memory
/// at once (what the benchmark driver does).
pub struct Retained(
    // Never read: held only so that its owner decides when (or whether) it is dropped.
    #[allow(dead_code)] Box<dyn std::any::Any>,
);

impl std::fmt::Debug for Retained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Retained(..)")
    }
}

/// [`template`], also returning where its time went and, instead of freeing them, the
/// structures the render built ([`Retained`]).
///
/// # Errors
/// See [`Error`].
pub fn template_timed(chart_path: &Path, options: &TemplateOptions) -> Result<Timed, Error> {
    let _pinned = (options.pin_threads && options.threads > 1)
        .then(|| pin::PinnedCaller::new(engine::pool_started()))
        .flatten();
    if options.threads > 1 {
        engine::start_pool();
    }
    let mut phases = Phases::default();
    let start = std::time::Instant::now();
    // The templates start parsing on the pool as soon as the chart's files are listed and
    // read, while this thread reads the charts' YAML (an invalid option is reported after
    // the chart's errors, as before).
    let ctx = options.context();
    let mut ahead = None;
    let chart = chart::load_then(chart_path, |files| {
        let parse_ahead = engine::ParseAhead::of_files(files, ctx.as_ref().ok()?)?;
        let parser = Box::new(parse_ahead.parser());
        ahead = Some(parse_ahead);
        Some(parser)
    })?;
    phases.load = start.elapsed();
    let (output, retained) = template_owned(chart, options, ctx, ahead, &mut phases)?;
    Ok(Timed {
        output,
        phases,
        retained,
    })
}

/// Renders a chart it may change (dependencies processed in place): no copy of its files.
/// Returns the text and, unfreed, what it built. `ctx` is `options.context()`, whose error
/// is reported after the chart's own; `ahead` parses the chart's templates (when it does
/// not, they start parsing here).
fn template_owned(
    mut chart: Chart,
    options: &TemplateOptions,
    ctx: Result<engine::Context, Error>,
    ahead: Option<engine::ParseAhead>,
    phases: &mut Phases,
) -> Result<(String, Retained), Error> {
    let start = std::time::Instant::now();
    if chart.metadata.raw.get("type").and_then(|t| t.as_str()) == Some("library") {
        return Err(Error::chart(
            chart.name(),
            "library charts are not installable",
        ));
    }
    let ctx = ctx?;
    check_kube_version(&chart, &ctx.kube_version)?;
    // The templates parse on the worker pool while this thread works out the values.
    let ahead = ahead.or_else(|| engine::ParseAhead::start(&chart, &ctx));
    let user = options.user_values()?;
    values::process_dependencies(&mut chart, &user)?;
    values::process_imports(&mut chart);
    let vals = values::coalesce(&chart, user);
    validate_schemas(&chart, &vals)?;
    phases.values = start.elapsed();
    let start = std::time::Instant::now();
    let (files, parsed) = engine::render_keeping(&chart, &vals, &ctx, ahead.as_ref())?;
    phases.render = start.elapsed();
    let start = std::time::Instant::now();
    let out = output::print(
        &chart,
        &files,
        options.include_crds,
        options.skip_tests,
        options.threads,
    )?;
    phases.output = start.elapsed();
    Ok((out, Retained(Box::new((chart, vals, files, parsed)))))
}

/// Validates the values against the chart's `values.schema.json` and each enabled
/// subchart's section against its own, as Helm does before rendering.
fn validate_schemas(chart: &Chart, vals: &values::Table) -> Result<(), Error> {
    fn walk(chart: &Chart, vals: &values::Table, out: &mut String, depth: usize) {
        if let Some(schema) = &chart.schema {
            let failures = schema::validate(schema, &serde_json::Value::Object(vals.clone()));
            if !failures.is_empty() {
                out.push_str(&format!("{}:\n", chart.name()));
                out.push_str(&schema::render(&failures));
            }
        }
        if depth > chart::MAX_CHART_DEPTH {
            return;
        }
        for sub in &chart.dependencies {
            if let Some(serde_json::Value::Object(sv)) = vals.get(sub.name()) {
                walk(sub, sv, out, depth + 1);
            }
        }
    }
    let mut out = String::new();
    walk(chart, vals, &mut out, 0);
    if out.is_empty() {
        return Ok(());
    }
    Err(Error::Values(format!(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{out}"
    )))
}

/// Helm refuses a chart whose `kubeVersion` range excludes the Kubernetes version.
fn check_kube_version(chart: &Chart, kube_version: &str) -> Result<(), Error> {
    let Some(serde_json::Value::String(range)) = chart.metadata.raw.get("kubeVersion") else {
        return Ok(());
    };
    if range.is_empty() {
        return Ok(());
    }
    // Sprig's semverCompare is Masterminds/semver, which Helm's own check uses too.
    let t = gitops_gotmpl::Template::parse_with(
        "kubeVersion",
        "{{ semverCompare .range .version }}",
        gitops_gotmpl::Functions::sprig(),
    )
    .map_err(|e| Error::chart(chart.name(), e.to_string()))?;
    let mut m = std::collections::BTreeMap::new();
    m.insert(
        "range".to_string(),
        gitops_gotmpl::Value::string(range.clone()),
    );
    m.insert(
        "version".to_string(),
        gitops_gotmpl::Value::string(kube_version),
    );
    let ok = t.execute(&gitops_gotmpl::Value::map(m));
    if ok.as_deref() == Ok("true") {
        return Ok(());
    }
    Err(Error::Values(format!(
        "chart requires kubeVersion: {range} which is incompatible with Kubernetes {kube_version}"
    )))
}

/// What `helm template NAME CHART` prints for the chart directory or `.tgz` at `chart_path`.
///
/// # Errors
/// See [`Error`].
pub fn template(chart_path: &Path, options: &TemplateOptions) -> Result<String, Error> {
    template_timed(chart_path, options).map(|timed| timed.output)
}

/// The core [`Renderer`] for a chart plus values: renders the chart at the request's path
/// (inside its root) and returns the objects of its manifest, CRDs and hooks included as
/// `helm template` prints them.
#[derive(Clone, Debug)]
pub struct HelmRenderer {
    options: TemplateOptions,
}

impl HelmRenderer {
    /// A renderer using `options` (release name, namespace, values).
    pub fn new(options: TemplateOptions) -> Self {
        HelmRenderer { options }
    }

    /// Renders synchronously.
    ///
    /// # Errors
    /// [`render::Error`] naming the chart path.
    pub fn render_sync(&self, request: &RenderRequest) -> Result<Vec<Object>, render::Error> {
        let shown = request.path.display().to_string();
        let root = request.root.canonicalize().map_err(|e| render::Error::Io {
            path: ".".into(),
            source: e,
        })?;
        let dir = root
            .join(&request.path)
            .canonicalize()
            .map_err(|e| render::Error::Io {
                path: shown.clone(),
                source: e,
            })?;
        if !dir.starts_with(&root) {
            return Err(render::Error::PathEscape { path: shown });
        }
        let text = template(&dir, &self.options).map_err(|e| render::Error::Invalid {
            path: shown.clone(),
            message: e.to_string(),
            source: None,
        })?;
        Ok(gitops_core::object::parse_yaml(&shown, &text)?)
    }
}

#[async_trait]
impl Renderer for HelmRenderer {
    async fn render(&self, request: &RenderRequest) -> Result<Vec<Object>, render::Error> {
        self.render_sync(request)
    }
}
