//! A native kustomize build for gitops-rs: the same objects, in the same order and with the same
//! bytes as `kubectl kustomize` (kustomize v5.5), without shelling out.
//!
//! # Where to start
//! - [`build_to_string`]: the exact text `kubectl kustomize DIR` prints.
//! - [`KustomizeRenderer`]: the [`gitops_core::Renderer`] of a reconcile pass. It bounds every
//!   read to the artifact root (symlinks included), generates a kustomization for directories
//!   without one as Flux does, and decrypts generator inputs through the request's decryptor.
//! - [`FileSystem`]: the trait every read goes through; [`DecryptingFs`] wraps one.
//! - [`Overrides`]: what a Flux `Kustomization` spec adds to the build of its path (target
//!   namespace, name prefix and suffix, patches, images, components), set through
//!   [`BuildOptions::with_overrides`].
//!
//! ```no_run
//! use gitops_kustomize::{BuildOptions, build_to_string};
//!
//! let text = build_to_string("deploy/overlays/production", &BuildOptions::default())?;
//! print!("{text}");
//! # Ok::<(), gitops_kustomize::Error>(())
//! ```
//!
//! # Supported
//! `resources` (files, directories, nested kustomizations), `bases`, `components` (and a
//! `kind: Component` directory built directly, as kubectl builds it), `namespace`,
//! `namePrefix`/`nameSuffix` with name-reference fix-ups, `commonLabels`, `labels`
//! (`includeSelectors`, `includeTemplates`, `fields`), `commonAnnotations`, `images`,
//! `images[].tagSuffix`,
//! `replicas`, `configMapGenerator`/`secretGenerator` (files, literals, envs, `behavior`,
//! `options`, `generatorOptions`, the content-hash suffix), `patches` (strategic merge and JSON
//! 6902, inline or from a file, with target selectors), `patchesStrategicMerge`,
//! `patchesJson6902`, `replacements` (inline or from a file; `[key=value]` selectors, `*`,
//! indexes, `delimiter`/`index`, `create`), the deprecated `vars` (`$(NAME)` in kustomize's
//! built-in var reference fields), `configurations` (transformer configuration files adding
//! field specs for `nameReference`, `namespace`, `namePrefix`, `nameSuffix`, `commonLabels`,
//! `labels`, `templateLabels`,
//! `commonAnnotations`, `varReference`, `images` and `replicas`; a base's configuration
//! reaches its overlays, as in kustomize), `sortOptions`, `buildMetadata: [managedByLabel,
//! originAnnotations, transformerAnnotations]` (plugin generators' origins name their
//! configuration file and name),
//! `generators`, `transformers` and `validators` naming kustomize's built-in plugins
//! (`apiVersion: builtin`; inline, from files, or a directory whose kustomization builds
//! into the configurations; inline entries first, then paths, as in kustomize):
//! `ConfigMapGenerator` and `SecretGenerator` as generators; `AnnotationsTransformer`,
//! `HashTransformer`, `ImageTagTransformer`, `LabelTransformer`, `NamespaceTransformer`
//! (`fieldSpecs`, `unsetOnly`, `setRoleBindingSubjects`), `PatchJson6902Transformer`,
//! `PatchStrategicMergeTransformer`, `PatchTransformer`, `PrefixSuffixTransformer`,
//! `PrefixTransformer`, `SuffixTransformer` (any field specs), `ReplacementTransformer`,
//! `ReplicaCountTransformer` and `ValueAddTransformer` as transformers and validators (a
//! validator that changes a resource fails the build), `crds` (kustomize's legacy OpenAPI
//! definition files: `x-kubernetes-annotation`, `x-kubernetes-label-selector`,
//! `x-kubernetes-identity` and `x-kubernetes-object-ref-*` become field specs of the custom
//! kinds), `openapi.path` (a custom schema, JSON or YAML, whose
//! `x-kubernetes-patch-strategy`/`x-kubernetes-patch-merge-key`/`x-kubernetes-list-map-keys`
//! decide how strategic merge patches merge lists of the kinds it defines; chosen and
//! combined with the built-in schema in kustomize's order, see below), `openapi.version`, the load
//! restrictor (`--load-restrictor`), `--reorder`, and `List`
//! documents. Bad input fails with an [`Error`] naming the file and the field: missing files,
//! cycles, paths out of the root (symlinks included), invalid patches (with the patch's file
//! and target), conflicting generators, duplicate ids, alias bombs, deep nesting, non-UTF-8.
//!
//! # Not supported (a clear [`Error::Unsupported`], never ignored)
//! Remote resources (git and HTTP URLs), helm charts (`helmCharts`, and the built-in
//! `HelmChartInflationGenerator`), exec/Go/container
//! plugins (any `generators`, `transformers` or `validators` entry whose `apiVersion` is not
//! `builtin`). Post-build
//! substitution (`${var}`) is not a kustomize feature; it lives in gitops-core.
//!
//! # Matched on purpose, though surprising
//! - An env-file line without `=` (`NAME`) gives `NAME` the empty value. kustomize documents
//!   such a line as read from the environment, but `kubectl kustomize` v5.5 prints the empty
//!   value whatever the environment holds; a library must not read its host's environment
//!   (Flux's build would read the controller's), so the empty value is also the right one here.
//!   One deliberate exception: in a file the decryptor changed (SOPS), such a line is refused,
//!   named by file and line without its text, because a stray secret value there would become
//!   a key name, which nothing redacts.
//! - A generator `behavior` other than `create`, `merge` or `replace` (`add`, `Merge`) means
//!   create, as in kustomize: an existing id then fails.
//! - `images[].tagSuffix` is appended twice on the images field specs kustomize runs after
//!   its container walk (`spec/containers`, `spec/template/spec/containers` and their
//!   `initContainers`, any kind) when the name stays the same, and drops the digest.
//! - JSON 6902 patches under `patches:` see `metadata.annotations` as an existing mapping
//!   (kustomize keeps its bookkeeping there), so `add /metadata/annotations/x` works on an
//!   object without annotations, while `add /metadata/labels/x` fails as it does in kubectl.
//!   Under `patchesJson6902` that holds only for objects kustomize generated, renamed, gave a
//!   namespace or JSON-patched under `patches:` before. `replace` on a missing key of an
//!   existing mapping adds it; a missing parent or list index fails.
//! - A strategic merge patch rebuilds the object's lists merged by one key (`env`, `containers`,
//!   `volumes`, …): an element whose key repeats an earlier one's replaces it, in the earlier
//!   one's place, as kustomize does.
//!
//! - A built-in transformer listed in `validators` fails the build when it changes a value,
//!   as kustomize's does; kustomize also refuses one that only rewrites a field with the
//!   value already there (its check compares YAML nodes, positions included), which this
//!   renderer accepts.
//!
//! - A custom schema (`openapi.path`) is chosen as kustomize chooses it: the top-level
//!   kustomization's `openapi` decides (a `version` keeps the built-in schema), else the first
//!   kustomization or component in build order that names a `path`. It replaces the built-in
//!   schema (lists of Kubernetes kinds are then replaced by a patch's, not merged), unless a
//!   strategic merge patch or a resource of a custom kind came first: kustomize has then
//!   loaded its built-in schema, and the custom kinds are added to it.
//!
//! - A resource's `metadata.annotations` values are strings holding the YAML text as written
//!   (`port: 8080` prints `"8080"`, `~` prints `"~"`, a nested value `""`), as kustomize reads
//!   them. Resources annotated `config.kubernetes.io/local-config` (other than `"false"`) take
//!   part in the build (replacements, vars) and are left out of its output.
//! - A strategic merge patch normalises the whole object it patches, as kustomize's merge walk
//!   does: fields written without a value (`key:`) disappear while a null written as `null`
//!   or `~` stays, and in lists merged by one key, repeated keys collapse into one element (at
//!   the first one's place, with the last one's value). A patch chosen by `target` keeps the
//!   target's `apiVersion` and `kind`.
//! - `vars` are bound to the resource their `objref` names (namespace included) among those of
//!   the kustomization declaring them, as kustomize binds them; a field holding one `$(VAR)` and
//!   nothing else takes the value with its type (a port stays a number).
//! - A kustomization's `apiVersion`, when given, must be `kustomize.config.k8s.io/v1beta1` for
//!   a `Kustomization` and `…/v1alpha1` for a `Component`; a `labels:` section of a
//!   transformer configuration adds field specs to every `labels` entry.
//! - A multi-line quoted scalar whose continuation lines sit at its key's column is read as
//!   go-yaml reads it (the strict YAML parser refuses it; such lines are indented, which
//!   folding makes invisible, and the text parsed again).
//!
//! - Which kinds are cluster-scoped (no namespace, no namespaced name references) follows
//!   kustomize's built-in schema of Kubernetes 1.21, by group, version and kind:
//!   `flowcontrol.apiserver.k8s.io/v1` `FlowSchema`, `ValidatingAdmissionPolicy` and other
//!   kinds newer than that schema are namespaced to kustomize, and so here.
//!
//! # Known divergences from kustomize
//! - A custom schema's `$ref` to a definition it does not hold (a Kubernetes type kustomize
//!   would find in its built-in schema once that is loaded) is treated as no schema: the
//!   lists below it are replaced.
//! - Strategic merge patches use a built-in table of Kubernetes merge keys (containers, volumes,
//!   env, ports, volume mounts, …) instead of the full OpenAPI schema; lists the table does not
//!   know are replaced, as kustomize does for lists without a merge strategy. The directives
//!   `$setElementOrder`, `$retainKeys` and `$deleteFromPrimitiveList` are dropped, not applied.
//!   Repeated keys in lists merged by two keys (container `ports`) are kept, where kustomize
//!   collapses them too.
//! - YAML anchors and aliases are expanded up to [`yaml::Limits`] (5,000,000 nodes per document,
//!   1,000 levels, and 4,000,000 nodes and bytes added by aliases in the whole build); past
//!   that the build fails. kustomize has no such bound: an alias bomb makes it exhaust memory.
//! - A `crds` file is walked through at most 1,000,000 properties and may add at most 10,000
//!   field specs; definitions that refer to each other many times over (2^n paths) fail with
//!   an error naming the file, where kustomize walks every path.
//! - `openapi.path` schemas are read eagerly: a schema kustomize would never consult (no
//!   strategic merge patch after it is chosen) but cannot parse fails here.
//! - Patches and replacements may add at most 4,000,000 nodes and bytes of text to one build
//!   ([`yaml::Limits::max_patch_growth`]); a chain of JSON 6902 `copy` operations that doubles an
//!   object fails with an error naming the patch, where kustomize exhausts memory.
//! - The generated kustomization (a directory without one, as Flux builds it) does not follow
//!   symlinked directories, as Flux's walk does not; a kustomization file that is a symlink out
//!   of the repository root is refused like any other read out of it.
//! - kustomize's printer orders keys with a comparison that is not transitive for some mixes
//!   of digits and letters (`a10`, `a1b`, `a9`); Go then picks an order that depends on map
//!   iteration, so no fixed order can match it. We sort consistently with the same comparison.
//! - Strings holding the Unicode line separators U+0085, U+2028 or U+2029 are printed as
//!   escaped double-quoted strings; kustomize folds or splits them across lines.
//! - Flux validates every file of a generated kustomization before building; here a file that
//!   is not a Kubernetes object fails the build itself, with the same effect.
//! - Timestamps are recognised in the forms `2006-01-02`, `2006-01-02T15:04:05Z`,
//!   `2006-01-02T15:04:05.999±07:00` and `2006-01-02 15:04:05` only.

mod build;
mod error;
mod fs;
mod kustomization;
mod loader;
mod openapi;
mod options;
mod overrides;
mod resource;
mod transform;
pub mod yaml;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use gitops_core::render::{self, RenderRequest, Renderer};
use gitops_core::{Decryptor, Object};
use serde_json::Value;

pub use error::Error;
pub use fs::{DecryptingFs, DiskFs, FileSystem};
pub use options::{BuildOptions, LoadRestrictor, Reorder};
pub use overrides::Overrides;

use build::Builder;
use loader::normalize;
use resource::Resource;

/// Builds the kustomization in `dir` from the local disk and returns the objects' values in
/// output order.
pub fn build(dir: impl AsRef<Path>, options: &BuildOptions) -> Result<Vec<Value>, Error> {
    build_with_fs(&DiskFs, dir.as_ref(), options)
}

/// Builds the kustomization in `dir`, reading through `fs`.
pub fn build_with_fs(
    fs: &dyn FileSystem,
    dir: &Path,
    options: &BuildOptions,
) -> Result<Vec<Value>, Error> {
    let mut b = Builder::new(fs, options)?;
    let dir = if dir.is_absolute() {
        dir.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|source| Error::Io {
                path: dir.display().to_string(),
                source,
            })?
            .join(dir)
    };
    let dir = normalize(&dir);
    let canonical = fs.canonicalize(&dir).map_err(|source| Error::Io {
        path: dir.display().to_string(),
        source,
    })?;
    if let Some(root) = &options.root {
        let root = fs.canonicalize(root).map_err(|source| Error::Io {
            path: root.display().to_string(),
            source,
        })?;
        if !canonical.starts_with(&root) {
            return Err(Error::PathEscape {
                path: dir.display().to_string(),
                message: "path escapes the repository root".into(),
            });
        }
    }
    if !fs.is_dir(&canonical) {
        return Err(error::invalid(
            b.loader.show(&canonical),
            "must build at a directory, not a file",
        ));
    }
    let (layer, mut ra) = b.accumulate(&canonical, true, String::new())?;
    finish(&layer, &mut ra, &b.vars, &b.config, options)?;
    // Local configuration (`config.kubernetes.io/local-config` other than "false") takes part
    // in the whole build, replacements and vars included, and is left out of its output.
    ra.retain(|r| {
        r.value
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get("config.kubernetes.io/local-config"))
            .is_none_or(|v| v.as_str() == Some("false"))
    });
    if b.annotate.transformations {
        for r in &mut ra {
            if r.transformations.is_empty() {
                continue;
            }
            let mut list = String::new();
            for t in std::mem::take(&mut r.transformations) {
                for (i, line) in t.lines().enumerate() {
                    list.push_str(if i == 0 { "- " } else { "  " });
                    list.push_str(line);
                    list.push('\n');
                }
            }
            let md = r.metadata_mut();
            let annotations = md
                .entry("annotations")
                .or_insert_with(|| Value::Object(serde_json::Map::new()));
            if let Value::Object(a) = annotations {
                a.insert(
                    "alpha.config.kubernetes.io/transformations".into(),
                    Value::String(list),
                );
            }
        }
    }
    if b.annotate.emit_origins {
        for r in &mut ra {
            if let Some(origin) = r.origin.take() {
                let md = r.metadata_mut();
                let annotations = md
                    .entry("annotations")
                    .or_insert_with(|| Value::Object(serde_json::Map::new()));
                if let Value::Object(a) = annotations {
                    a.insert("config.kubernetes.io/origin".into(), Value::String(origin));
                }
            }
        }
    }
    Ok(ra.into_iter().map(|r| r.value).collect())
}

/// The last steps of the top-level build: hash suffixes, name references, order, clean-up.
fn finish(
    layer: &loader::Layer,
    ra: &mut [Resource],
    vars: &[transform::vars::Var],
    config: &transform::config::Config,
    options: &BuildOptions,
) -> Result<(), Error> {
    for r in ra.iter_mut() {
        if r.needs_hash {
            let h = transform::generators::hash(r);
            r.store_previous_id();
            let name = format!("{}-{h}", r.name());
            r.set_name(&name);
        }
    }
    transform::nameref::fix(&layer.file, ra, config)?;
    transform::vars::resolve(vars, ra, &config.var_reference)?;
    match &layer.k.sort_options {
        Some(so) => match so.order.as_str() {
            "legacy" => transform::sort::legacy(ra, so.first.as_deref(), so.last.as_deref()),
            "fifo" if !so.has_legacy_options => {}
            "fifo" => {
                return Err(error::invalid(
                    layer.file.clone(),
                    "the field 'sortOptions.legacySortOptions' is set but the selected sort order is 'fifo', not 'legacy'",
                ));
            }
            _ => {
                return Err(error::invalid(
                    layer.file.clone(),
                    "the field 'sortOptions.order' must be one of [fifo, legacy]",
                ));
            }
        },
        None => {
            if options.reorder == Reorder::Legacy {
                transform::sort::legacy(ra, None, None);
            }
        }
    }
    for r in ra.iter_mut() {
        if let Some(md) = r.value.get_mut("metadata").and_then(Value::as_object_mut) {
            // kustomize keeps its bookkeeping in annotations and drops the field when nothing
            // else is left in it (an empty or null `annotations` included); labels it
            // leaves alone.
            if md
                .get("annotations")
                .is_some_and(|v| v.is_null() || v.as_object().is_some_and(|m| m.is_empty()))
            {
                md.remove("annotations");
            }
        }
    }
    Ok(())
}

/// Writes built values as `kubectl kustomize` prints them.
pub fn to_yaml(values: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        yaml::emit_document(v, &mut out);
    }
    out
}

/// Builds `dir` and returns the text `kubectl kustomize DIR` prints.
pub fn build_to_string(dir: impl AsRef<Path>, options: &BuildOptions) -> Result<String, Error> {
    Ok(to_yaml(&build(dir, options)?))
}

/// The [`Renderer`] backed by this crate.
///
/// Each render bounds reads to the request's root, generates a kustomization where the path has
/// none (as Flux does) and decrypts generator inputs (the files of `secretGenerator` and
/// `configMapGenerator`) with the request's decryptor. Rendered objects that are still
/// encrypted (a SOPS Secret listed as a resource) are returned as they are: the reconcile pass
/// decrypts them, for every renderer alike.
///
/// The build and the decryption are synchronous CPU and file work: inside a Tokio runtime,
/// [`Renderer::render`] runs them on the runtime's blocking pool, so one large build never
/// holds a runtime worker (lease renewal, watches and health endpoints keep answering). Outside
/// a Tokio runtime it runs them inline.
///
/// # Cancellation
/// Dropping the future stops waiting, not the build: a build already on a blocking thread runs
/// to its end and its result is discarded. A host bounds a render with a timeout around the
/// future.
#[derive(Clone, Debug, Default)]
pub struct KustomizeRenderer {
    options: BuildOptions,
}

impl KustomizeRenderer {
    /// A renderer with kustomize's defaults (root-only load restrictor, legacy order).
    pub fn new() -> Self {
        Self::default()
    }

    /// A renderer with these options; `root` and `generate_missing_kustomization` are set per
    /// request.
    pub fn with_options(options: BuildOptions) -> Self {
        Self { options }
    }

    fn render_sync(&self, request: &RenderRequest) -> Result<Vec<Object>, render::Error> {
        let mut options = self.options.clone();
        options.root = Some(request.root.clone());
        options.generate_missing_kustomization = true;
        let dir = request.root.join(&request.path);
        let values = match &request.decryptor {
            Some(d) => {
                let d: Arc<dyn Decryptor> = d.clone();
                let root = DiskFs
                    .canonicalize(&request.root)
                    .unwrap_or_else(|_| request.root.clone());
                build_with_fs(&DecryptingFs::new(DiskFs, d, root), &dir, &options)?
            }
            None => build_with_fs(&DiskFs, &dir, &options)?,
        };
        // Rendered objects stay as built: decrypting them is the pass's (the Reconciler's
        // decrypt stage), so a bad SOPS file fails the same way whatever the renderer.
        values
            .into_iter()
            .map(|v| Object::new(v).map_err(render::Error::from))
            .collect()
    }
}

#[async_trait]
impl Renderer for KustomizeRenderer {
    async fn render(&self, request: &RenderRequest) -> Result<Vec<Object>, render::Error> {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return self.render_sync(request);
        };
        let (renderer, owned) = (self.clone(), request.clone());
        match runtime
            .spawn_blocking(move || renderer.render_sync(&owned))
            .await
        {
            Ok(result) => result,
            // A panicking build panics in the caller's task, as it did inline.
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_) => Err(render::Error::Io {
                path: request.path.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::Interrupted,
                    "the runtime shut down during the build",
                ),
            }),
        }
    }
}
