//! The build: accumulating kustomizations into resources, running generators and
//! transformers in kustomize's order. Reads go through the [`Loader`]; this module is the
//! only one that builds a directory, so it also gathers the plugin configurations a
//! directory builds into before handing them to the plugins.

use std::path::{Path, PathBuf};

use crate::error::{Error, invalid};
use crate::fs::FileSystem;
use crate::loader::{Layer, Loader, go_join};
use crate::openapi::Schema;
use crate::options::BuildOptions;
use crate::resource::Resource;
use crate::transform::plugins::{self, Config, Configs, Role};
use crate::transform::{self, Annotate, growth::Growth};

/// One build: what kustomize's accumulation carries from one kustomization to the next.
pub(crate) struct Builder<'a> {
    /// Every read of the build.
    pub loader: Loader<'a>,
    /// Directories being built, for cycle detection.
    stack: Vec<PathBuf>,
    /// The `vars` of every kustomization built so far, resolved at the end.
    pub vars: Vec<transform::vars::Var>,
    /// The transformer configuration of the kustomization being built: its own
    /// `configurations` and those of everything it accumulated.
    pub config: transform::config::Config,
    /// What the top-level kustomization's `buildMetadata` asks resources to record.
    pub annotate: Annotate,
    /// What patches and replacements have added so far.
    growth: Growth,
    /// The schema strategic merge patches use, as chosen so far.
    schema: Schema,
}

impl<'a> Builder<'a> {
    pub fn new(fs: &'a dyn FileSystem, opts: &'a BuildOptions) -> Result<Self, Error> {
        Ok(Self {
            loader: Loader::new(fs, opts)?,
            stack: Vec::new(),
            vars: Vec::new(),
            config: transform::config::Config::default(),
            annotate: Annotate::default(),
            growth: Growth::new(opts.limits.max_patch_growth),
            schema: Schema::default(),
        })
    }

    /// Builds a kustomization directory into its resources (kustomize's `AccumulateTarget`).
    pub fn accumulate(
        &mut self,
        dir: &Path,
        top: bool,
        origin_dir: String,
    ) -> Result<(Layer, Vec<Resource>), Error> {
        if self.stack.iter().any(|d| d == dir) {
            return Err(invalid(
                self.loader.show(dir),
                format!(
                    "cycle detected: {} is already being built ({})",
                    self.loader.show(dir),
                    self.stack
                        .iter()
                        .map(|d| self.loader.show(d))
                        .collect::<Vec<_>>()
                        .join(" -> ")
                ),
            ));
        }
        let mut layer = self.loader.load_layer(dir, top)?;
        layer.origin_dir = origin_dir;
        crate::openapi::select(&mut self.schema, &self.loader, &layer, top)?;
        if top {
            let asks = |m: &str| layer.k.build_metadata.iter().any(|b| b == m);
            self.annotate.emit_origins = asks("originAnnotations");
            self.annotate.transformations = asks("transformerAnnotations");
            // Transformer annotations name where plugin configurations were read, which is
            // their origin.
            self.annotate.origins = self.annotate.emit_origins || self.annotate.transformations;
        }
        // A component built directly is built like a kustomization, as kubectl does; only
        // a component reached through `resources` is refused.
        if layer.k.is_component && !top {
            return Err(invalid(
                layer.file.clone(),
                "kind Component can only be used in components, not built or used as a resource",
            ));
        }
        self.stack.push(dir.to_owned());
        // This layer's configuration starts empty and gathers its own and its subtree's;
        // the caller's then gains it all, as kustomize merges a base's into the overlay's.
        let outer = std::mem::take(&mut self.config);
        let mut resources = Vec::new();
        let result = self.accumulate_layer(&layer, &mut resources);
        self.stack.pop();
        let inner = std::mem::replace(&mut self.config, outer);
        self.config.merge(inner);
        result?;
        Ok((layer, resources))
    }

    fn accumulate_layer(&mut self, layer: &Layer, ra: &mut Vec<Resource>) -> Result<(), Error> {
        self.accumulate_resources(layer, ra)?;
        for written in &layer.k.configurations {
            let path = self.loader.resolve(layer, written, true)?;
            let file = self.loader.show(&path);
            let text = self.loader.read_text(&path)?;
            let docs = self.loader.parse_yaml(&file, &text)?;
            for doc in &docs {
                let config = transform::config::Config::from_value(&file, doc)?;
                self.config.merge(config);
            }
        }
        let crds = transform::crds::load(&self.loader, layer)?;
        self.config.merge(crds);
        transform::generators::run(&self.loader, self.annotate, layer, ra)?;
        self.run_plugins(layer, Role::Generator, ra)?;
        for comp in &layer.k.components {
            let path = self.loader.resolve(layer, comp, false)?;
            if !self.loader.fs.is_dir(&path) {
                return Err(invalid(
                    layer.file.clone(),
                    format!("components: {comp} must be a directory"),
                ));
            }
            if self.stack.iter().any(|d| d == &path) {
                return Err(invalid(
                    layer.file.clone(),
                    format!("cycle detected at component {comp}"),
                ));
            }
            let mut clayer = self.loader.load_layer(&path, false)?;
            clayer.origin_dir = go_join(&layer.origin_dir, comp);
            crate::openapi::select(&mut self.schema, &self.loader, &clayer, false)?;
            if !clayer.k.is_component {
                return Err(invalid(
                    clayer.file.clone(),
                    "expected kind Component for a path listed in components",
                ));
            }
            self.stack.push(path.clone());
            let r = self.accumulate_layer(&clayer, ra);
            self.stack.pop();
            r?;
        }
        transform::run_transformers(
            &self.loader,
            &self.schema,
            &mut self.growth,
            &self.config,
            layer,
            ra,
        )?;
        let ran = self.run_plugins(layer, Role::Transformer, ra)?;
        transform::build_metadata(self.annotate, layer, ra, ran)?;
        self.run_plugins(layer, Role::Validator, ra)?;
        for var in transform::vars::parse(&layer.file, &layer.k.vars)? {
            if self.vars.iter().any(|v| v.name == var.name) {
                return Err(invalid(
                    layer.file.clone(),
                    format!("var '{}' already encountered", var.name),
                ));
            }
            transform::vars::bind(&var, ra)?;
            self.vars.push(var);
        }
        Ok(())
    }

    /// Gathers the layer's plugin configurations of `role` and runs them; returns the origins
    /// of the transformers that ran (none for generators and validators).
    fn run_plugins(
        &mut self,
        layer: &Layer,
        role: Role,
        ra: &mut Vec<Resource>,
    ) -> Result<Vec<String>, Error> {
        let configs = self.plugin_configs(layer, role)?;
        let (l, schema, growth) = (&self.loader, &self.schema, &mut self.growth);
        match role {
            Role::Generator => {
                plugins::generators(l, self.annotate, layer, configs, ra).map(|()| Vec::new())
            }
            Role::Transformer => plugins::run(l, schema, growth, layer, configs, ra),
            Role::Validator => {
                plugins::validators(l, schema, growth, layer, configs, ra).map(|()| Vec::new())
            }
        }
    }

    /// The configurations of a layer's `generators:`, `transformers:` or `validators:`,
    /// gathered when kustomize gathers them: inline entries, then files, and directories
    /// built here into the configurations they hold.
    fn plugin_configs(&mut self, layer: &Layer, role: Role) -> Result<Vec<Config>, Error> {
        let entries = role.entries(&layer.k);
        let mut configs = Configs::new(role);
        for (i, entry) in entries.iter().enumerate() {
            if Configs::is_inline(entry) {
                configs.add_inline(&self.loader, layer, i, entry)?;
            }
        }
        for entry in entries.iter().filter(|e| !Configs::is_inline(e)) {
            let path = self.loader.resolve(layer, entry, false)?;
            if self.loader.fs.is_dir(&path) {
                let origin = go_join(&layer.origin_dir, entry);
                let (sub, resources) = self.accumulate(&path, false, origin.clone())?;
                configs.add_built(&sub.file, &origin, resources)?;
            } else {
                configs.add_file(&self.loader, layer, entry)?;
            }
        }
        configs.finish()
    }

    fn accumulate_resources(&mut self, layer: &Layer, ra: &mut Vec<Resource>) -> Result<(), Error> {
        let mut seen: IdSet = ra.iter().map(|r| r.cur_id().key()).collect();
        for written in &layer.k.resources {
            let path = self.loader.resolve(layer, written, false)?;
            let new = if self.loader.fs.is_dir(&path) {
                let (_, res) =
                    self.accumulate(&path, false, go_join(&layer.origin_dir, written))?;
                res
            } else {
                let path = self.loader.resolve(layer, written, true)?;
                let file = self.loader.show(&path);
                let text = self.loader.read_text(&path)?;
                let mut res = self.loader.resources_from_text(&file, &text)?;
                self.schema.note_kinds(&res);
                if self.annotate.origins {
                    let origin = format!("path: {}\n", go_join(&layer.origin_dir, written));
                    for r in &mut res {
                        r.origin = Some(origin.clone());
                    }
                }
                res
            };
            append_all(&layer.file, ra, &mut seen, new)?;
        }
        Ok(())
    }
}

/// The ids of a list of resources, as kustomize compares them.
pub(crate) type IdSet = std::collections::HashSet<(String, String, String, String, String)>;

/// Adds resources, failing on an id that is already there; `seen` holds the ids of `ra`.
pub(crate) fn append_all(
    file: &str,
    ra: &mut Vec<Resource>,
    seen: &mut IdSet,
    new: Vec<Resource>,
) -> Result<(), Error> {
    for r in new {
        let id = r.cur_id();
        if !seen.insert(id.key()) {
            return Err(invalid(
                file,
                format!(
                    "may not add resource with an already registered id: {}",
                    id.display()
                ),
            ));
        }
        ra.push(r);
    }
    Ok(())
}
