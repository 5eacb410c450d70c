//! Charts read from a directory or a `.tgz`, as Helm's loader reads them.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use crate::Error;
use crate::yaml::{self, Node};

/// The largest total size of a chart's files, archives unpacked (Helm's own bound).
pub const MAX_TOTAL_BYTES: u64 = 100 << 20;
/// The largest single file of a chart (Helm's own bound).
pub const MAX_FILE_BYTES: u64 = 5 << 20;
/// The most files a chart may hold, subcharts included.
pub const MAX_FILES: usize = 20_000;
/// How deeply subcharts may nest.
pub const MAX_CHART_DEPTH: usize = 20;

/// One file of a chart, named by its path inside the chart (`templates/deployment.yaml`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    /// The path inside the chart, `/`-separated.
    pub name: String,
    /// The contents, shared: `.Files` and aliased subcharts hold the same bytes, not copies.
    pub data: Contents,
}

impl File {
    /// The file's bytes ([`Contents::bytes`]), a failed read named as `chart/name`.
    ///
    /// # Errors
    /// [`Error::Io`] naming the file.
    pub fn bytes(&self, chart: &str) -> Result<&[u8], Error> {
        self.data.bytes().map_err(|e| Error::Io {
            path: format!("{chart}/{}", self.name),
            source: e,
        })
    }
}

/// A chart file's bytes. The plain files of a chart directory (neither templates nor
/// `Chart.yaml`, values or schema: what only `.Files` and `--include-crds` read, such as
/// kube-prometheus-stack's 4.5 MB of CRDs) are read when first asked for, the others when the
/// chart is loaded; archives are read whole. Reading them all up front cost that chart a
/// tenth of its time (benches/README.md).
#[derive(Clone)]
pub struct Contents(Arc<Lazy>);

struct Lazy {
    /// Where to read deferred bytes from, and at most how many (the size the budget counted).
    source: Option<(PathBuf, u64)>,
    /// Whether bytes read from `source` are kept as a string when they are UTF-8: a template,
    /// whose parse trees then share its text instead of copying it.
    text: bool,
    bytes: OnceLock<Result<Data, (std::io::ErrorKind, String)>>,
}

/// A file's bytes once read.
enum Data {
    Text(Arc<String>),
    Binary(Vec<u8>),
}

impl Data {
    fn as_bytes(&self) -> &[u8] {
        match self {
            Data::Text(text) => text.as_bytes(),
            Data::Binary(bytes) => bytes,
        }
    }
}

impl Contents {
    /// Bytes already in memory.
    pub fn new(bytes: Vec<u8>) -> Self {
        Contents(Arc::new(Lazy {
            source: None,
            text: false,
            bytes: OnceLock::from(Ok(Data::Binary(bytes))),
        }))
    }

    fn deferred(path: PathBuf, size: u64, text: bool) -> Self {
        Contents(Arc::new(Lazy {
            source: Some((path, size)),
            text,
            bytes: OnceLock::new(),
        }))
    }

    /// The text of a template read from a chart directory, shared; `None` for other files,
    /// for bytes that are not UTF-8 and for a failed read.
    pub(crate) fn text(&self) -> Option<&Arc<String>> {
        self.bytes().ok()?;
        match self.0.bytes.get() {
            Some(Ok(Data::Text(text))) => Some(text),
            _ => None,
        }
    }

    /// The size in bytes, without reading the file: its size when listed, for one not
    /// read yet.
    pub(crate) fn size_hint(&self) -> u64 {
        match (self.0.bytes.get(), &self.0.source) {
            (Some(Ok(b)), _) => b.as_bytes().len() as u64,
            (_, Some((_, size))) => *size,
            _ => 0,
        }
    }

    /// A number that tells these contents from any other held at the same time: the same
    /// for two handles of one file, different for two equal files.
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    /// The bytes, read now if they were deferred (once: later calls share them).
    ///
    /// # Errors
    /// A deferred read failing: the file was removed or made unreadable since the chart was
    /// loaded.
    pub fn bytes(&self) -> Result<&[u8], std::io::Error> {
        let read = || {
            let Some((path, size)) = &self.0.source else {
                return Ok(Data::Binary(Vec::new()));
            };
            let mut buf = Vec::with_capacity(usize::try_from(*size).unwrap_or(0));
            std::fs::File::open(path)
                .and_then(|f| f.take(*size).read_to_end(&mut buf))
                .map_err(|e| (e.kind(), e.to_string()))?;
            if !self.0.text {
                return Ok(Data::Binary(buf));
            }
            Ok(match String::from_utf8(buf) {
                Ok(text) => Data::Text(Arc::new(text)),
                Err(e) => Data::Binary(e.into_bytes()),
            })
        };
        match self.0.bytes.get_or_init(read) {
            Ok(b) => Ok(b.as_bytes()),
            Err((kind, message)) => Err(std::io::Error::new(*kind, message.clone())),
        }
    }
}

impl From<Vec<u8>> for Contents {
    fn from(bytes: Vec<u8>) -> Self {
        Contents::new(bytes)
    }
}

impl std::fmt::Debug for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0.bytes.get() {
            Some(Ok(b)) => write!(f, "Contents({} bytes)", b.as_bytes().len()),
            Some(Err((_, e))) => write!(f, "Contents(unreadable: {e})"),
            None => f.write_str("Contents(not read yet)"),
        }
    }
}

impl PartialEq for Contents {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.bytes().ok() == other.bytes().ok()
    }
}

impl Eq for Contents {}

/// A dependency as `Chart.yaml` lists it.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Dependency {
    /// The chart's name.
    pub name: String,
    /// The version range.
    pub version: String,
    /// The repository.
    pub repository: String,
    /// Comma-separated value paths whose first boolean enables the subchart.
    pub condition: String,
    /// Tags: the subchart is enabled when any of them is true under `tags`.
    pub tags: Vec<String>,
    /// The name the subchart takes in this chart.
    pub alias: String,
    /// `import-values`: what the parent takes from this subchart's values.
    pub import_values: Vec<ImportValue>,
}

/// One entry of a dependency's `import-values`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImportValue {
    /// `- name`: the subchart's `exports.name` table, merged at the parent's top level.
    Exports(String),
    /// `- child: a.b` / `parent: c`: the subchart's table `a.b` placed at the parent's `c`.
    Path {
        /// The table in the subchart's values.
        child: String,
        /// Where it goes in the parent's values (`.` is the top level).
        parent: String,
    },
}

/// `Chart.yaml`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Metadata {
    /// The whole file as JSON, for the fields not modelled here.
    pub raw: serde_json::Map<String, serde_json::Value>,
    /// `apiVersion` (`v2`, or `v1` for old charts).
    pub api_version: String,
    /// `name`.
    pub name: String,
    /// `version`.
    pub version: String,
    /// `dependencies`.
    pub dependencies: Vec<Dependency>,
}

/// A chart: its metadata, templates, other files, default values and subcharts.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Chart {
    /// `Chart.yaml`.
    pub metadata: Metadata,
    /// `templates/…`, in load order.
    pub templates: Vec<File>,
    /// Every other file but `Chart.yaml`, `Chart.lock`, `values.yaml` and `charts/…` (what
    /// `.Files` sees; `crds/…` are among them).
    pub files: Vec<File>,
    /// `values.yaml` as JSON.
    pub values: serde_json::Map<String, serde_json::Value>,
    /// The subcharts in `charts/`.
    pub dependencies: Vec<Chart>,
    /// `values.schema.json`, parsed.
    pub schema: Option<serde_json::Value>,
}

impl Chart {
    /// The chart's name (an alias, once dependencies are processed).
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    /// The path Helm gives this chart, a subchart of the chart at `parent`, in template
    /// names and `# Source:` lines (`parent/charts/NAME`).
    pub(crate) fn path_under(&self, parent: &str) -> String {
        format!("{parent}/charts/{}", self.name())
    }

    /// The CRD files: `crds/*.yaml`, `*.yml`, `*.json`.
    pub fn crds(&self) -> impl Iterator<Item = &File> {
        self.files.iter().filter(|f| {
            f.name.starts_with("crds/")
                && (f.name.ends_with(".yaml")
                    || f.name.ends_with(".yml")
                    || f.name.ends_with(".json"))
        })
    }
}

struct Budget {
    files: usize,
    bytes: u64,
}

impl Budget {
    fn take(&mut self, chart: &str, name: &str, size: u64) -> Result<(), Error> {
        self.files += 1;
        self.bytes = self.bytes.saturating_add(size);
        if self.files > MAX_FILES {
            return Err(Error::chart(chart, format!("more than {MAX_FILES} files")));
        }
        if size > MAX_FILE_BYTES {
            return Err(Error::chart(
                chart,
                format!("{name}: file larger than {MAX_FILE_BYTES} bytes"),
            ));
        }
        if self.bytes > MAX_TOTAL_BYTES {
            return Err(Error::chart(
                chart,
                format!("chart larger than {MAX_TOTAL_BYTES} bytes unpacked"),
            ));
        }
        Ok(())
    }
}

/// Loads a chart from a directory or a `.tgz` file.
///
/// # Errors
/// [`Error::Chart`] naming the path: a missing or invalid `Chart.yaml`, a path escaping the
/// archive, a chart past the size bounds, invalid YAML in `values.yaml`.
pub fn load(path: &Path) -> Result<Chart, Error> {
    load_then(path, |_| None)
}

/// Work started on the process's pool once a chart's files are read (see [`load_then`]).
pub(crate) type AfterReads = Box<dyn FnOnce() + Send>;

/// [`load`], giving `after_listing` the files of a chart directory as soon as they are
/// listed; the job it returns runs on the pool once the files the load reads are read, and
/// goes on while the caller works (the parse-ahead of the templates, which has a core to
/// itself while this thread reads the charts' YAML).
pub(crate) fn load_then(
    path: &Path,
    after_listing: impl FnOnce(&[File]) -> Option<AfterReads>,
) -> Result<Chart, Error> {
    let shown = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| Error::Io {
        path: shown.clone(),
        source: e,
    })?;
    let mut budget = Budget { files: 0, bytes: 0 };
    if meta.is_dir() {
        let files = read_dir(path, &mut budget)?;
        let ahead = files
            .iter()
            .filter(|f| read_at_load(&f.name))
            .map(|f| f.data.clone())
            .collect();
        let then = after_listing(&files);
        with_files_read_ahead(ahead, then, || from_files(&shown, files, &mut budget, 0))
    } else {
        let data = std::fs::read(path).map_err(|e| Error::Io {
            path: shown.clone(),
            source: e,
        })?;
        load_archive_bytes(&shown, &data, &mut budget, 0)
    }
}

/// Loads a chart from the bytes of a `.tgz`.
///
/// # Errors
/// As [`load`]; `name` names the archive in errors.
pub fn load_archive(name: &str, data: &[u8]) -> Result<Chart, Error> {
    let mut budget = Budget { files: 0, bytes: 0 };
    load_archive_bytes(name, data, &mut budget, 0)
}

/// Packs the chart in directory `dir` into a `.tgz` as `helm package` lays it out (every file
/// under `<name>/`, `.helmignore` honoured), with `build` (when given) as its version's build
/// metadata (`1.0.0` becomes `1.0.0+<build>`, replacing any there) written into its
/// `Chart.yaml`, and loads the packed chart. The archive is deterministic: entries in walk
/// order, no timestamps, mode 0644, so the same tree packs to the same digest.
///
/// `Chart.yaml` with a new version is written as JSON, which is YAML, with every field kept.
///
/// # Errors
/// As [`load`] for the directory; [`Error::Chart`] when the archive cannot be written.
pub fn package(dir: &Path, build: Option<&str>) -> Result<(Chart, Vec<u8>), Error> {
    let shown = dir.display().to_string();
    let mut budget = Budget { files: 0, bytes: 0 };
    let mut files = read_dir(dir, &mut budget)?;
    let metadata = files
        .iter()
        .find(|f| f.name == "Chart.yaml")
        .map(|f| parse_metadata(&shown, f.bytes(&shown)?))
        .transpose()?
        .ok_or_else(|| Error::chart(&shown, "Chart.yaml file is missing"))?;
    if let Some(build) = build {
        let core = metadata
            .version
            .split_once('+')
            .map_or(metadata.version.as_str(), |(core, _)| core);
        let version = format!("{core}+{build}");
        let mut raw = metadata.raw.clone();
        raw.insert("version".into(), serde_json::Value::String(version));
        let text = serde_json::to_vec_pretty(&raw)
            .map_err(|e| Error::chart(&shown, format!("Chart.yaml: {e}")))?;
        if let Some(file) = files.iter_mut().find(|f| f.name == "Chart.yaml") {
            file.data = text.into();
        }
    }
    let written = |e: std::io::Error| Error::chart(&shown, format!("packing the chart: {e}"));
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for file in &files {
        let data = file.bytes(&shown)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        archive
            .append_data(
                &mut header,
                format!("{}/{}", metadata.name, file.name),
                data,
            )
            .map_err(written)?;
    }
    let bytes = archive
        .into_inner()
        .and_then(flate2::write::GzEncoder::finish)
        .map_err(written)?;
    let chart = from_files(&shown, files, &mut budget, 0)?;
    Ok((chart, bytes))
}

fn load_archive_bytes(
    shown: &str,
    data: &[u8],
    budget: &mut Budget,
    depth: usize,
) -> Result<Chart, Error> {
    let files = read_archive(shown, data, budget)?;
    from_files(shown, files, budget, depth)
}

fn read_archive(shown: &str, data: &[u8], budget: &mut Budget) -> Result<Vec<File>, Error> {
    let bad = |m: String| Error::chart(shown, m);
    let gz = flate2::read::GzDecoder::new(data);
    let mut archive = tar::Archive::new(gz);
    let mut files: Vec<File> = Vec::new();
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a gzipped tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("not a gzipped tar archive: {e}")))?;
        let kind = entry.header().entry_type();
        if !kind.is_file() {
            if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
                continue;
            }
            let p = entry.path_bytes().into_owned();
            return Err(bad(format!(
                "{}: only regular files and directories are allowed",
                String::from_utf8_lossy(&p)
            )));
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = raw.replace('\\', "/");
        if name.starts_with('/') || name.split('/').any(|c| c == "..") {
            return Err(bad(format!("{raw}: path escapes the chart root")));
        }
        // The first component is the chart's directory.
        let Some((_, rest)) = name.trim_start_matches("./").split_once('/') else {
            continue;
        };
        let rest = rest.trim_start_matches('/');
        if rest.is_empty() {
            continue;
        }
        // The header's size is what the entry yields (the tar reader stops there), so the
        // bounds are checked before anything is decompressed.
        let size = entry.header().size().unwrap_or(u64::MAX);
        budget.take(shown, rest, size)?;
        let mut buf = Vec::new();
        (&mut entry)
            .take(MAX_FILE_BYTES)
            .read_to_end(&mut buf)
            .map_err(|e| bad(format!("{raw}: {e}")))?;
        if let Some(f) = files.iter_mut().find(|f| f.name == rest) {
            f.data = buf.into();
        } else {
            files.push(File {
                name: rest.to_string(),
                data: buf.into(),
            });
        }
    }
    Ok(files)
}

fn read_dir(root: &Path, budget: &mut Budget) -> Result<Vec<File>, Error> {
    let shown = root.display().to_string();
    let canonical_root = root.canonicalize().map_err(|e| Error::Io {
        path: shown.clone(),
        source: e,
    })?;
    let rules = match std::fs::read_to_string(root.join(".helmignore")) {
        Ok(text) => {
            Ignore::parse(&text).map_err(|m| Error::chart(&shown, format!(".helmignore: {m}")))?
        }
        Err(_) => Ignore::parse("").map_err(|m| Error::chart(&shown, m))?,
    };
    let mut files = Vec::new();
    walk(
        root,
        &canonical_root,
        "",
        &rules,
        budget,
        &mut files,
        &shown,
        0,
    )?;
    Ok(files)
}

#[allow(clippy::too_many_arguments)]
fn walk(
    dir: &Path,
    root: &Path,
    rel: &str,
    rules: &Ignore,
    budget: &mut Budget,
    files: &mut Vec<File>,
    shown: &str,
    depth: usize,
) -> Result<(), Error> {
    if depth > 64 {
        return Err(Error::chart(
            shown,
            format!("{rel}: directories nest too deeply"),
        ));
    }
    let io = |p: &str, e| Error::Io {
        path: format!("{shown}/{p}"),
        source: e,
    };
    let mut entries: Vec<(String, std::fs::DirEntry)> = std::fs::read_dir(dir)
        .map_err(|e| io(rel, e))?
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e))
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, entry) in entries {
        let path = dir.join(&name);
        let n = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        // Only a link can lead outside the root (the walk starts inside it and follows
        // directories by name); resolving every path cost several system calls per file.
        let kind = entry.file_type().map_err(|e| io(&n, e))?;
        let is_link = kind.is_symlink();
        let real = if is_link {
            let real = path.canonicalize().map_err(|e| io(&n, e))?;
            if !real.starts_with(root) {
                return Err(Error::chart(
                    shown,
                    format!("{n}: symlink escapes the chart root"),
                ));
            }
            real
        } else {
            path
        };
        // The entry's type comes with the directory listing; only a link's target, and a
        // file's size, take a system call (and not for what `.helmignore` leaves out).
        let target = if is_link {
            Some(std::fs::metadata(&real).map_err(|e| io(&n, e))?)
        } else {
            None
        };
        let kind = target.as_ref().map_or(kind, std::fs::Metadata::file_type);
        if kind.is_dir() {
            if rules.ignore(&n, true) {
                continue;
            }
            walk(&real, root, &n, rules, budget, files, shown, depth + 1)?;
        } else if kind.is_file() {
            if rules.ignore(&n, false) {
                continue;
            }
            let size = match target {
                Some(meta) => meta.len(),
                None => entry.metadata().map_err(|e| io(&n, e))?.len(),
            };
            budget.take(shown, &n, size)?;
            let data = Contents::deferred(real, size, is_chart_template(&n));
            files.push(File { name: n, data });
        } else {
            return Err(Error::chart(
                shown,
                format!("{n}: cannot load irregular file"),
            ));
        }
    }
    Ok(())
}

/// Runs `load` while a second thread reads `ahead`, the files that loading reads anyway
/// (see [`read_at_load`]), from the last one back, as `load` goes from the first on: a large
/// chart's few hundred small files cost two to three system calls each. Each file is read
/// once whichever thread comes first ([`Contents::bytes`]). Then that thread starts `then`,
/// which `load` does not wait for.
fn with_files_read_ahead<T>(
    ahead: Vec<Contents>,
    then: Option<AfterReads>,
    load: impl FnOnce() -> T,
) -> T {
    let worth_a_thread = ahead.len() >= READ_AHEAD_MIN_FILES && crate::engine::cores() > 1;
    if !worth_a_thread {
        if let Some(then) = then {
            crate::engine::start_pool();
            rayon_core::spawn(then);
        }
        return load();
    }
    let done = AtomicBool::new(false);
    // The caller loads while a thread of the process's pool (see `engine::start_pool`)
    // reads ahead.
    crate::engine::start_pool();
    rayon_core::in_place_scope(|scope| {
        scope.spawn(|_| {
            for data in ahead.iter().rev() {
                if done.load(Ordering::Relaxed) {
                    break;
                }
                // A failed read is kept and reported by `load` when it comes to the file.
                let _ = data.bytes();
            }
            if let Some(then) = then {
                rayon_core::spawn(then);
            }
        });
        let loaded = load();
        done.store(true, Ordering::Relaxed);
        loaded
    })
}

/// Below this many files to read, a thread costs about what it saves.
const READ_AHEAD_MIN_FILES: usize = 64;

/// Whether loading a chart directory reads the file (`from_files`): a chart's or
/// subchart's `Chart.yaml`, values, schema and templates, and subchart archives.
fn read_at_load(name: &str) -> bool {
    match path_in_own_chart(name) {
        Some(rest) => {
            matches!(rest, "Chart.yaml" | "values.yaml" | "values.schema.json")
                || rest.starts_with("templates/")
        }
        None => name.ends_with(".tgz") || name.ends_with(".tar.gz"),
    }
}

/// Whether a chart file (by its path in the chart) is a template of the chart or of a
/// subchart folder in its `charts/`, at any depth.
pub(crate) fn is_chart_template(name: &str) -> bool {
    path_in_own_chart(name).is_some_and(|rest| rest.starts_with("templates/"))
}

/// The path of a chart file inside the chart or subchart folder (`charts/NAME/`, at any
/// depth) that holds it; `None` for a file right in a `charts/` folder (an archive).
fn path_in_own_chart(name: &str) -> Option<&str> {
    let mut rest = name;
    while let Some(sub) = rest.strip_prefix("charts/") {
        rest = sub.split_once('/')?.1;
    }
    Some(rest)
}

fn from_files(
    shown: &str,
    files: Vec<File>,
    budget: &mut Budget,
    depth: usize,
) -> Result<Chart, Error> {
    if depth > MAX_CHART_DEPTH {
        return Err(Error::chart(shown, "subcharts nest too deeply"));
    }
    let mut metadata = None;
    let mut values = serde_json::Map::new();
    let mut templates = Vec::new();
    let mut other = Vec::new();
    let mut sub_dirs: Vec<(String, Vec<File>)> = Vec::new();
    let mut sub_archives: Vec<File> = Vec::new();
    let mut schema = None;
    for f in files {
        match f.name.as_str() {
            "Chart.yaml" => metadata = Some(parse_metadata(shown, f.bytes(shown)?)?),
            "values.yaml" => {
                values =
                    crate::values::parse_values(&format!("{shown}/values.yaml"), f.bytes(shown)?)?
            }
            "values.schema.json" => {
                schema = Some(serde_json::from_slice(f.bytes(shown)?).map_err(|e| {
                    Error::chart(
                        &format!("{shown}/values.schema.json"),
                        format!("line {}: {e}", e.line()),
                    )
                })?)
            }
            "Chart.lock" | "requirements.yaml" | "requirements.lock" => {}
            n if n.starts_with("templates/") => {
                // Every template is parsed: read now, so a failing read names the chart.
                f.bytes(shown)?;
                templates.push(f)
            }
            n if n.starts_with("charts/") => {
                let rest = &n["charts/".len()..];
                if rest.starts_with('.') || rest.starts_with('_') {
                    continue;
                }
                if let Some((dir, inner)) = rest.split_once('/') {
                    let file = File {
                        name: inner.to_string(),
                        data: f.data,
                    };
                    match sub_dirs.iter_mut().find(|(d, _)| d == dir) {
                        Some((_, v)) => v.push(file),
                        None => sub_dirs.push((dir.to_string(), vec![file])),
                    }
                } else if rest.ends_with(".tgz") || rest.ends_with(".tar.gz") {
                    sub_archives.push(f);
                }
            }
            _ => other.push(f),
        }
    }
    let Some(metadata) = metadata else {
        return Err(Error::chart(shown, "Chart.yaml file is missing"));
    };
    let mut dependencies = Vec::new();
    for (dir, files) in sub_dirs {
        dependencies.push(from_files(
            &format!("{shown}/charts/{dir}"),
            files,
            budget,
            depth + 1,
        )?);
    }
    for f in sub_archives {
        let name = format!("{shown}/{}", f.name);
        let inner = read_archive(&name, f.bytes(shown)?, budget)?;
        dependencies.push(from_files(&name, inner, budget, depth + 1)?);
    }
    Ok(Chart {
        metadata,
        templates,
        files: other,
        values,
        dependencies,
        schema,
    })
}

fn string_field(map: &serde_json::Map<String, serde_json::Value>, key: &str) -> String {
    match map.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => {
            gitops_gotmpl::gofmt::format_float(n.as_f64().unwrap_or_default())
        }
        _ => String::new(),
    }
}

fn parse_metadata(shown: &str, data: &[u8]) -> Result<Metadata, Error> {
    let path = format!("{shown}/Chart.yaml");
    let text = std::str::from_utf8(data).map_err(|_| Error::chart(&path, "invalid UTF-8"))?;
    let node = yaml::parse_one(text).map_err(|e| Error::Yaml {
        path: path.clone(),
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    // Chart.yaml is read into typed Go fields: a number written for `version` is kept as text.
    let raw = match keep_scalars_as_text(node).to_json() {
        Ok(serde_json::Value::Object(m)) => m,
        Ok(serde_json::Value::Null) => serde_json::Map::new(),
        Ok(_) => return Err(Error::chart(&path, "Chart.yaml is not a mapping")),
        Err(e) => return Err(Error::chart(&path, e)),
    };
    let name = string_field(&raw, "name");
    if name.is_empty() {
        return Err(Error::chart(
            &path,
            "validation: chart.metadata.name is required",
        ));
    }
    let api_version = string_field(&raw, "apiVersion");
    if !matches!(api_version.as_str(), "" | "v1" | "v2") {
        return Err(Error::chart(&path, "invalid chart apiVersion"));
    }
    let version = string_field(&raw, "version");
    if version.is_empty() {
        return Err(Error::chart(
            &path,
            "validation: chart.metadata.version is required",
        ));
    }
    if !is_semver(&version) {
        return Err(Error::chart(
            &path,
            format!("validation: chart.metadata.version {version:?} is invalid"),
        ));
    }
    if !matches!(
        string_field(&raw, "type").as_str(),
        "" | "application" | "library"
    ) {
        return Err(Error::chart(
            &path,
            "validation: chart.metadata.type must be application or library",
        ));
    }
    let mut dependencies = Vec::new();
    if let Some(serde_json::Value::Array(deps)) = raw.get("dependencies") {
        for d in deps {
            let Some(m) = d.as_object() else { continue };
            dependencies.push(Dependency {
                name: string_field(m, "name"),
                version: string_field(m, "version"),
                repository: string_field(m, "repository"),
                condition: string_field(m, "condition"),
                tags: m
                    .get("tags")
                    .and_then(|t| t.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|t| t.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default(),
                alias: string_field(m, "alias"),
                import_values: m
                    .get("import-values")
                    .and_then(|v| v.as_array())
                    .map(|a| {
                        a.iter()
                            .filter_map(|iv| match iv {
                                serde_json::Value::String(s) => {
                                    Some(ImportValue::Exports(s.clone()))
                                }
                                serde_json::Value::Object(o) => Some(ImportValue::Path {
                                    child: string_field(o, "child"),
                                    parent: string_field(o, "parent"),
                                }),
                                _ => None,
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
    }
    Ok(Metadata {
        api_version: string_field(&raw, "apiVersion"),
        version: string_field(&raw, "version"),
        name,
        dependencies,
        raw,
    })
}

/// Masterminds/semver's lenient `NewVersion`, as Helm validates a chart's version: `v`
/// optional, minor and patch optional, then `-prerelease` and `+metadata`.
fn is_semver(v: &str) -> bool {
    let v = v.strip_prefix('v').unwrap_or(v);
    let (core, meta) = match v.split_once('+') {
        Some((c, m)) => (c, Some(m)),
        None => (v, None),
    };
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (core, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let ident = |s: &str| {
        !s.is_empty()
            && s.split('.')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    (1..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && pre.is_none_or(ident)
        && meta.is_none_or(ident)
}

/// Chart.yaml's string fields read a plain `1.0` as the text `1.0`.
fn keep_scalars_as_text(node: Node) -> Node {
    match node {
        Node::Map(entries) => Node::Map(
            entries
                .into_iter()
                .map(|(k, v)| {
                    let v = match v {
                        Node::Int(i) if k != "deprecated" => Node::Str(i.to_string()),
                        Node::Float(f) => Node::Str(gitops_yaml::format_float(f)),
                        other => keep_scalars_as_text(other),
                    };
                    (k, v)
                })
                .collect(),
        ),
        Node::Seq(items) => Node::Seq(items.into_iter().map(keep_scalars_as_text).collect()),
        other => other,
    }
}

/// `.helmignore` rules, as Helm's `ignore` package reads them.
#[derive(Debug)]
pub struct Ignore {
    rules: Vec<Rule>,
}

#[derive(Debug)]
struct Rule {
    /// The pattern, as characters: matched against every path of the chart.
    pattern: Vec<char>,
    /// The same pattern when it is a plain name or `*` and a plain suffix (`.git`,
    /// `*.swp`: most rules), matched without the general matcher.
    quick: Quick,
    negate: bool,
    must_dir: bool,
    anchored: bool,
    with_slash: bool,
}

/// A rule's pattern when it needs no general matching.
#[derive(Debug)]
enum Quick {
    /// No wildcard, class or escape: the name itself.
    Name(String),
    /// `*` followed by such a name.
    Suffix(String),
    None,
}

impl Ignore {
    /// Parses the text of a `.helmignore`, adding Helm's default rule `templates/.?*`.
    ///
    /// # Errors
    /// A `**` pattern (Helm does not support it) or a malformed pattern.
    pub fn parse(text: &str) -> Result<Ignore, String> {
        let mut rules = Vec::new();
        for line in std::iter::once("templates/.?*").chain(text.lines()) {
            let mut p = line.trim();
            if p.is_empty() || p.starts_with('#') || p == "/" {
                continue;
            }
            if p.contains("**") {
                return Err("double-star (**) syntax is not supported".into());
            }
            let negate = p.starts_with('!');
            if negate {
                p = &p[1..];
            }
            let must_dir = p.ends_with('/');
            let p = p.trim_end_matches('/');
            if glob_match(p, "").is_err() {
                return Err(format!("syntax error in pattern {p:?}"));
            }
            let pattern = p.trim_start_matches('/');
            let plain = |s: &str| !s.contains(['*', '?', '[', '\\']);
            let quick = match pattern.strip_prefix('*') {
                _ if plain(pattern) => Quick::Name(pattern.to_string()),
                Some(suffix) if plain(suffix) && !suffix.contains('/') => {
                    Quick::Suffix(suffix.to_string())
                }
                _ => Quick::None,
            };
            rules.push(Rule {
                anchored: p.starts_with('/'),
                with_slash: p.contains('/'),
                pattern: pattern.chars().collect(),
                quick,
                negate,
                must_dir,
            });
        }
        Ok(Ignore { rules })
    }

    /// Whether the path `name` (relative to the chart, `/`-separated) is ignored.
    pub fn ignore(&self, name: &str, is_dir: bool) -> bool {
        if name.is_empty() || name == "." || name == "./" {
            return false;
        }
        // Every path of a chart meets every rule: the name is split into characters once.
        let full: Vec<char> = name.chars().collect();
        let base = match full.iter().rposition(|c| *c == '/') {
            Some(slash) => &full[slash + 1..],
            None => &full[..],
        };
        let base_text = name.rsplit('/').next().unwrap_or(name);
        for r in &self.rules {
            let (target, target_text) = if r.anchored || r.with_slash {
                (&full[..], name)
            } else {
                (base, base_text)
            };
            let m = match &r.quick {
                Quick::Name(plain) => target_text == plain,
                // `*` matches any run of characters but `/`.
                Quick::Suffix(suffix) => {
                    target_text.ends_with(suffix.as_str())
                        && !target_text[..target_text.len() - suffix.len()].contains('/')
                }
                // Patterns were validated by `parse`.
                Quick::None => match_from(&r.pattern, 0, target, 0, 0, &mut HashSet::new()),
            };
            if r.negate {
                if r.must_dir && !is_dir {
                    return true;
                }
                if !m {
                    return true;
                }
                continue;
            }
            if r.must_dir && !is_dir {
                continue;
            }
            if m {
                return true;
            }
        }
        false
    }
}

/// Go's `path.Match`: `*` and `?` stop at `/`, `[…]` classes with `^` negation and ranges,
/// `\` escapes.
///
/// # Errors
/// A malformed pattern (Go's `ErrBadPattern`), as `()`: the caller words the message.
#[allow(clippy::result_unit_err)]
pub fn glob_match(pattern: &str, name: &str) -> Result<bool, ()> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Validate the whole pattern first, as Go reports a bad pattern even on a mismatch.
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => {
                if i + 1 >= p.len() {
                    return Err(());
                }
                i += 2;
            }
            '[' => i = class_end(&p, i)?,
            _ => i += 1,
        }
    }
    Ok(match_from(&p, 0, &n, 0, 0, &mut HashSet::new()))
}

fn class_end(p: &[char], start: usize) -> Result<usize, ()> {
    let mut i = start + 1;
    if i < p.len() && p[i] == '^' {
        i += 1;
    }
    let mut first = true;
    loop {
        if i >= p.len() {
            return Err(());
        }
        if p[i] == ']' && !first {
            return Ok(i + 1);
        }
        first = false;
        let lo = if p[i] == '\\' {
            i += 1;
            *p.get(i).ok_or(())?
        } else {
            p[i]
        };
        i += 1;
        if i < p.len() && p[i] == '-' {
            i += 1;
            let hi = if p.get(i) == Some(&'\\') {
                i += 1;
                *p.get(i).ok_or(())?
            } else {
                *p.get(i).ok_or(())?
            };
            if hi == ']' && p.get(i - 1) != Some(&'\\') || hi < lo {
                return Err(());
            }
            i += 1;
        }
    }
}

fn class_match(p: &[char], start: usize, c: char) -> bool {
    let mut i = start + 1;
    let negate = i < p.len() && p[i] == '^';
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    while i < p.len() && (p[i] != ']' || first) {
        first = false;
        let lo = if p[i] == '\\' {
            i += 1;
            p[i]
        } else {
            p[i]
        };
        i += 1;
        let mut hi = lo;
        if i + 1 < p.len() && p[i] == '-' && p[i + 1] != ']' {
            i += 1;
            if p[i] == '\\' {
                i += 1;
            }
            hi = p[i];
            i += 1;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    matched != negate
}

/// Matches `p[pi..]` against `n[ni..]`. `failed` remembers the `(pi, ni)` positions a `*` already
/// tried without success: without it, a pattern such as `*a*a*a…b` backtracks exponentially.
fn match_from(
    p: &[char],
    mut pi: usize,
    n: &[char],
    mut ni: usize,
    depth: usize,
    failed: &mut HashSet<(usize, usize)>,
) -> bool {
    if depth > 64 {
        return false;
    }
    while pi < p.len() {
        match p[pi] {
            '*' => {
                while pi < p.len() && p[pi] == '*' {
                    pi += 1;
                }
                // Only a later `*` can reach the same position twice: a last star needs no
                // memory (and `*.yaml`, the usual pattern, allocates nothing).
                let remember = p[pi..].contains(&'*');
                let mut k = ni;
                loop {
                    if !remember {
                        if match_from(p, pi, n, k, depth + 1, failed) {
                            return true;
                        }
                    } else if !failed.contains(&(pi, k)) {
                        if match_from(p, pi, n, k, depth + 1, failed) {
                            return true;
                        }
                        failed.insert((pi, k));
                    }
                    if k >= n.len() || n[k] == '/' {
                        return false;
                    }
                    k += 1;
                }
            }
            '?' => {
                if ni >= n.len() || n[ni] == '/' {
                    return false;
                }
                pi += 1;
                ni += 1;
            }
            '[' => {
                if ni >= n.len() || n[ni] == '/' || !class_match(p, pi, n[ni]) {
                    return false;
                }
                pi = class_end(p, pi).unwrap_or(p.len());
                ni += 1;
            }
            '\\' => {
                if ni >= n.len() || p.get(pi + 1) != Some(&n[ni]) {
                    return false;
                }
                pi += 2;
                ni += 1;
            }
            c => {
                if ni >= n.len() || n[ni] != c {
                    return false;
                }
                pi += 1;
                ni += 1;
            }
        }
    }
    ni == n.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helmignore_rules() {
        let r = Ignore::parse("*.bak\n/secret.txt\ndocs/\n").expect("rules");
        assert!(r.ignore("templates/.hidden", false));
        assert!(r.ignore("docs", true));
        assert!(!r.ignore("docs", false));
        assert!(r.ignore("secret.txt", false));
        assert!(!r.ignore("values.yaml", false));
        assert!(Ignore::parse("a/**/b").is_err());
    }

    #[test]
    fn a_packed_directory_loads_back_with_its_new_version_and_packs_the_same_twice() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::write(
            root.join("Chart.yaml"),
            "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"2.0\"\n",
        )
        .expect("Chart.yaml");
        std::fs::write(root.join("values.yaml"), "replicas: 2\n").expect("values.yaml");
        std::fs::write(root.join(".helmignore"), "*.bak\n").expect(".helmignore");
        std::fs::write(root.join("notes.bak"), "left out").expect("notes.bak");
        std::fs::create_dir(root.join("templates")).expect("templates/");
        std::fs::write(root.join("templates/cm.yaml"), "kind: ConfigMap\n").expect("cm.yaml");

        let (chart, archive) = package(root, Some("0123456789ab")).expect("packed");
        assert_eq!(chart.metadata.version, "0.1.0+0123456789ab");
        let loaded = load_archive("web.tgz", &archive).expect("the archive loads");
        assert_eq!(loaded.metadata.version, "0.1.0+0123456789ab");
        assert_eq!(loaded.metadata.raw["appVersion"], "2.0");
        assert_eq!(loaded.values["replicas"], 2.0);
        assert_eq!(loaded.templates.len(), 1);
        assert!(loaded.files.iter().all(|f| f.name != "notes.bak"));
        assert_eq!(
            package(root, Some("0123456789ab")).expect("again").1,
            archive
        );

        let (unchanged, _) = package(root, None).expect("packed as it is");
        assert_eq!(unchanged.metadata.version, "0.1.0");
        std::fs::remove_file(root.join("Chart.yaml")).expect("removed");
        assert!(package(root, None).is_err());
    }

    #[test]
    fn chart_versions_as_helm_validates_them() {
        for ok in ["0.1.0", "v0.0.0", "1", "1.2", "0.0.1-rc.1+build.5"] {
            assert!(is_semver(ok), "{ok}");
        }
        for bad in ["abc", "1.2.3.4", "1.x", "", "1.0-"] {
            assert!(!is_semver(bad), "{bad}");
        }
    }

    #[test]
    fn plain_files_are_read_when_first_asked_for_and_a_failed_read_names_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::write(
            root.join("Chart.yaml"),
            "apiVersion: v2\nname: c\nversion: 0.1.0\n",
        )
        .expect("Chart.yaml");
        std::fs::create_dir(root.join("files")).expect("files/");
        std::fs::write(root.join("files/a.txt"), "alpha").expect("a.txt");
        std::fs::write(root.join("files/b.txt"), "beta").expect("b.txt");
        let chart = load(root).expect("chart");
        let file = |n: &str| chart.files.iter().find(|f| f.name == n).expect(n);
        assert_eq!(
            file("files/a.txt").bytes("c").expect("a.txt read"),
            b"alpha"
        );
        std::fs::remove_file(root.join("files/b.txt")).expect("remove b.txt");
        let err = file("files/b.txt").bytes("c").expect_err("b.txt is gone");
        assert!(err.to_string().contains("c/files/b.txt"), "{err}");
        // Read once: a file removed after its first read keeps its bytes.
        std::fs::remove_file(root.join("files/a.txt")).expect("remove a.txt");
        assert_eq!(
            file("files/a.txt").bytes("c").expect("a.txt kept"),
            b"alpha"
        );
    }

    #[test]
    fn go_path_match() {
        assert_eq!(glob_match("*.yaml", "a.yaml"), Ok(true));
        assert_eq!(glob_match("*.yaml", "d/a.yaml"), Ok(false));
        assert_eq!(glob_match("f[a-c]?", "fbx"), Ok(true));
        assert_eq!(glob_match("[", "x"), Err(()));
    }
}
