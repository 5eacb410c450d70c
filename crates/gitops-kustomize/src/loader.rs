//! Reading a build's files: paths resolved and kept inside their bounds (the load restrictor,
//! the repository root), YAML parsed within the build's alias budget, kustomization files
//! loaded into [`Layer`]s, and paths shown relative to the repository in errors.
//!
//! The builder (`build.rs`) drives the accumulation; it and every transformer and generator
//! read through one [`Loader`], which knows nothing of what is being built.

use std::cell::Cell;
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use crate::error::{Error, invalid};
use crate::fs::{DecryptFailure, FileSystem};
use crate::kustomization::{FILE_NAMES, Kustomization};
use crate::options::{BuildOptions, LoadRestrictor};
use crate::resource::Resource;
use crate::yaml;

/// Reads the files of one build, within its bounds.
pub(crate) struct Loader<'a> {
    pub fs: &'a dyn FileSystem,
    opts: &'a BuildOptions,
    /// The canonical repository root, if bounded.
    boundary: Option<PathBuf>,
    /// Where error paths are made relative to.
    display_base: PathBuf,
    /// What aliases have added so far, all files of the build together.
    alias_expansion: Cell<usize>,
}

/// A kustomization directory being built: its loader root and file.
pub(crate) struct Layer {
    pub dir: PathBuf,
    pub file: String,
    pub k: Kustomization,
    /// The layer's directory relative to the top-level one, as the paths were written (for
    /// origin annotations).
    pub origin_dir: String,
    /// The kustomization file's name.
    pub file_name: String,
}

impl<'a> Loader<'a> {
    pub fn new(fs: &'a dyn FileSystem, opts: &'a BuildOptions) -> Result<Self, Error> {
        let boundary = match &opts.root {
            Some(r) => Some(fs.canonicalize(r).map_err(|source| Error::Io {
                path: r.display().to_string(),
                source,
            })?),
            None => None,
        };
        let display_base = boundary.clone().unwrap_or_default();
        Ok(Self {
            fs,
            opts,
            boundary,
            display_base,
            alias_expansion: Cell::new(0),
        })
    }

    /// A path for messages: relative to the repository root when there is one.
    pub fn show(&self, p: &Path) -> String {
        if !self.display_base.as_os_str().is_empty()
            && let Ok(rel) = p.strip_prefix(&self.display_base)
        {
            let s = rel.display().to_string();
            return if s.is_empty() { ".".into() } else { s };
        }
        p.display().to_string()
    }

    fn check_boundary(&self, canonical: &Path, written: &str, from: &Path) -> Result<(), Error> {
        if let Some(b) = &self.boundary
            && !canonical.starts_with(b)
        {
            return Err(Error::PathEscape {
                path: format!("{}: {written}", self.show(from)),
                message: "path escapes the repository root".into(),
            });
        }
        Ok(())
    }

    /// Resolves a path written in a kustomization in `dir`, checking the bounds. Files (not
    /// kustomization directories) must stay under `dir` unless the restrictor is lifted.
    pub fn resolve(&self, layer: &Layer, written: &str, is_file: bool) -> Result<PathBuf, Error> {
        if written.contains("://")
            || written.starts_with("git@")
            || written.starts_with("github.com/")
        {
            return Err(Error::Unsupported {
                path: layer.file.clone(),
                feature: format!("remote resource {written:?}"),
            });
        }
        let joined = normalize(&layer.dir.join(written));
        let canonical = self.fs.canonicalize(&joined).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                invalid(
                    layer.file.clone(),
                    format!("{written}: no such file or directory"),
                )
            } else {
                Error::Io {
                    path: self.show(&joined),
                    source,
                }
            }
        })?;
        self.check_boundary(&canonical, written, Path::new(&layer.file))?;
        if is_file
            && self.opts.load_restrictor == LoadRestrictor::RootOnly
            && !canonical.starts_with(&layer.dir)
        {
            return Err(Error::PathEscape {
                path: format!("{}: {written}", layer.file),
                message: format!(
                    "security; file '{}' is not in or below '{}' (use --load-restrictor LoadRestrictionsNone to allow it)",
                    canonical.display(),
                    layer.dir.display()
                ),
            });
        }
        Ok(canonical)
    }

    pub fn read_file(&self, path: &Path) -> Result<Vec<u8>, Error> {
        self.fs.read(path).map_err(|source| Error::Io {
            path: self.show(path),
            source,
        })
    }

    pub fn read_generator_input(&self, path: &Path) -> Result<Vec<u8>, Error> {
        let display = self.show(path);
        self.fs
            .read_generator_input(path, &display)
            .map_err(|source| match source.into_inner() {
                Some(inner) => match inner.downcast::<DecryptFailure>() {
                    Ok(d) => Error::Decrypt {
                        path: display,
                        source: d.0,
                    },
                    Err(other) => Error::Io {
                        path: display,
                        source: std::io::Error::other(other),
                    },
                },
                None => Error::Io {
                    path: display,
                    source: std::io::Error::other("read failed"),
                },
            })
    }

    pub fn read_text(&self, path: &Path) -> Result<String, Error> {
        let bytes = self.read_file(path)?;
        String::from_utf8(bytes).map_err(|e| {
            invalid(
                self.show(path),
                format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
            )
        })
    }

    /// Parses YAML text into documents, errors naming `file`.
    pub fn parse_yaml(&self, file: &str, text: &str) -> Result<Vec<Value>, Error> {
        self.parse_yaml_with(file, text, false, false, None)
    }

    /// Parses YAML text, counting its aliases against the build's budget.
    fn parse_yaml_with(
        &self,
        file: &str,
        text: &str,
        last_key_wins: bool,
        annotation_text: bool,
        empty_nulls: Option<&mut yaml::EmptyNulls>,
    ) -> Result<Vec<Value>, Error> {
        let mut expanded = self.alias_expansion.get();
        let docs = yaml::parse_documents_with(
            text,
            &self.opts.limits,
            last_key_wins,
            annotation_text,
            empty_nulls,
            &mut expanded,
        );
        self.alias_expansion.set(expanded);
        docs.map_err(|source| Error::Yaml {
            path: file.to_owned(),
            source,
        })
    }

    /// Reads resources from a file's text.
    pub fn resources_from_text(&self, file: &str, text: &str) -> Result<Vec<Resource>, Error> {
        let mut out = Vec::new();
        let mut empty_nulls = Vec::new();
        let docs = self.parse_yaml_with(file, text, false, true, Some(&mut empty_nulls))?;
        // In document order, as the parser found them.
        let mut empty_nulls = empty_nulls.into_iter().peekable();
        for (i, doc) in docs.into_iter().enumerate() {
            let mut mine = Vec::new();
            while let Some((_, path)) = empty_nulls.next_if(|(d, _)| *d == i) {
                mine.push(path);
            }
            if doc.is_null() {
                continue;
            }
            // A List's items went through JSON in kustomize: their nulls are all explicit.
            let is_list = doc
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && doc.get("items").is_some_and(Value::is_array);
            push_resource(file, i + 1, doc, &mut out)?;
            if !is_list && let Some(r) = out.last_mut() {
                r.empty_nulls = mine;
            }
        }
        Ok(out)
    }

    /// Loads the kustomization of a directory (canonical path).
    pub fn load_layer(&self, dir: &Path, top: bool) -> Result<Layer, Error> {
        let mut found = None;
        for name in FILE_NAMES {
            let p = dir.join(name);
            if self.fs.exists(&p) && !self.fs.is_dir(&p) {
                if found.is_some() {
                    return Err(invalid(
                        self.show(dir),
                        "found multiple kustomization files",
                    ));
                }
                found = Some(p);
            }
        }
        let Some(path) = found else {
            if top && self.opts.generate_missing_kustomization {
                let file = self.show(&dir.join("kustomization.yaml"));
                let generated = self.generate_kustomization(dir)?;
                let k = self.read_top_level(&file, dir, generated)?;
                return Ok(Layer {
                    dir: dir.to_owned(),
                    file,
                    k,
                    origin_dir: String::new(),
                    file_name: "kustomization.yaml".into(),
                });
            }
            return Err(invalid(
                self.show(dir),
                "unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory",
            ));
        };
        let file = self.show(&path);
        // The file itself may be a symlink out of the repository.
        let canonical = self.fs.canonicalize(&path).map_err(|source| Error::Io {
            path: file.clone(),
            source,
        })?;
        self.check_boundary(&canonical, &file, dir)?;
        let text = self.read_text(&path)?;
        let docs = self.parse_yaml_with(&file, &text, true, false, None)?;
        let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
        if docs.len() > 1 {
            return Err(invalid(file, "a kustomization file must hold one document"));
        }
        let value = docs.into_iter().next().unwrap_or(Value::Null);
        let k = if top {
            self.read_top_level(&file, dir, value)?
        } else {
            Kustomization::from_value(&file, &value)?
        };
        Ok(Layer {
            dir: dir.to_owned(),
            file,
            k,
            origin_dir: String::new(),
            file_name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        })
    }

    /// Reads the top-level kustomization after merging the overrides into it, so their fields
    /// get the checks of fields written in the file.
    fn read_top_level(&self, file: &str, dir: &Path, value: Value) -> Result<Kustomization, Error> {
        let overrides = &self.opts.overrides;
        if overrides.is_empty() {
            return Kustomization::from_value(file, &value);
        }
        let mut map = match value {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            _ => return Err(invalid(file, "a kustomization must be a mapping")),
        };
        overrides.merge_into(file, &mut map, |component| {
            self.fs.exists(&dir.join(component))
        })?;
        Kustomization::from_value(file, &Value::Object(map))
    }

    /// Flux's generated kustomization: every YAML file below `dir`, and every subdirectory that
    /// has a kustomization file (not descending into it), in lexical walk order.
    ///
    /// As Flux's walk (Go's `filepath.Walk`), symlinks to directories are not followed, so
    /// `a -> .` cannot loop; a symlink to a YAML file is listed, and reading it is then bound to
    /// the repository like every other read. For file systems that cannot tell a symlink, the
    /// walk also never enters a directory whose real path it has already entered.
    fn generate_kustomization(&self, dir: &Path) -> Result<Value, Error> {
        let mut resources = Vec::new();
        let mut entered = HashSet::new();
        self.scan(dir, dir, &mut resources, &mut entered)?;
        let resources = resources.into_iter().map(Value::String).collect();
        Ok(serde_json::json!({ "resources": Value::Array(resources) }))
    }

    fn scan(
        &self,
        base: &Path,
        dir: &Path,
        out: &mut Vec<String>,
        entered: &mut HashSet<PathBuf>,
    ) -> Result<(), Error> {
        let real = self.fs.canonicalize(dir).map_err(|source| Error::Io {
            path: self.show(dir),
            source,
        })?;
        if !entered.insert(real) {
            return Ok(());
        }
        let entries = self.fs.read_dir(dir).map_err(|source| Error::Io {
            path: self.show(dir),
            source,
        })?;
        for entry in entries {
            let rel = entry
                .strip_prefix(base)
                .unwrap_or(&entry)
                .display()
                .to_string();
            if self.fs.is_dir(&entry) {
                if self.fs.is_symlink(&entry) {
                    continue;
                }
                if FILE_NAMES.iter().any(|n| {
                    let p = entry.join(n);
                    self.fs.exists(&p) && !self.fs.is_dir(&p)
                }) {
                    out.push(rel);
                } else {
                    self.scan(base, &entry, out, entered)?;
                }
                continue;
            }
            let ext = entry.extension().and_then(|e| e.to_str()).unwrap_or("");
            if ext != "yaml" && ext != "yml" {
                continue;
            }
            out.push(rel);
        }
        Ok(())
    }
}

fn push_resource(
    file: &str,
    doc: usize,
    value: Value,
    out: &mut Vec<Resource>,
) -> Result<(), Error> {
    let Value::Object(map) = &value else {
        return Err(invalid(
            file,
            format!("document {doc}: a resource must be a mapping"),
        ));
    };
    let kind = map.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind.ends_with("List")
        && let Some(Value::Array(items)) = map.get("items")
    {
        for item in items.clone() {
            push_resource(file, doc, item, out)?;
        }
        return Ok(());
    }
    if kind.is_empty() {
        return Err(invalid(file, format!("document {doc}: missing kind")));
    }
    let name = map
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    if name.is_empty() {
        return Err(invalid(
            file,
            format!("document {doc}: missing metadata.name in {kind}"),
        ));
    }
    if matches!(kind, "Kustomization" | "Component")
        && map
            .get("apiVersion")
            .and_then(Value::as_str)
            .is_some_and(|a| a.starts_with("kustomize.config.k8s.io"))
    {
        return Err(invalid(
            file,
            format!("document {doc}: a {kind} file cannot be used as a resource file"),
        ));
    }
    out.push(Resource::new(value));
    Ok(())
}

/// Go's `filepath.Join` of relative paths: joined, then cleaned (`..` kept at the front).
pub(crate) fn go_join(a: &str, b: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in a.split('/').chain(b.split('/')) {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        ".".into()
    } else {
        parts.join("/")
    }
}

/// `a/./b/../c` → `a/c` without touching the disk.
pub(crate) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
