//! Patches: strategic merge (with Kubernetes merge keys and `$patch` directives) and JSON 6902,
//! with kustomize's target selectors.

use std::collections::HashSet;

use regex::Regex;
use serde_json::{Map, Value};

use crate::error::{Error, invalid};
use crate::kustomization::{Patch, Target};
use crate::loader::{Layer, Loader};
use crate::openapi::{CustomSchema, ListMerge, Schema};
use crate::resource::{Gvk, ResId, Resource};
use crate::transform::growth::{Growth, size};

/// A compiled `target` selector.
struct Selector {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

impl Requirement {
    fn matches(&self, m: Option<&Map<String, Value>>) -> bool {
        let get = |k: &str| m.and_then(|m| m.get(k)).and_then(Value::as_str);
        match self {
            Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEq(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => get(k).is_none_or(|x| !vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some() || m.is_some_and(|m| m.contains_key(k)),
            Requirement::NotExists(k) => !m.is_some_and(|m| m.contains_key(k)),
        }
    }
}

fn parse_selector(s: &str) -> Result<Vec<Requirement>, String> {
    let mut out = Vec::new();
    let mut terms = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                terms.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    terms.push(cur);
    for t in terms {
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        let set = |rest: &str| -> Result<Vec<String>, String> {
            let rest = rest.trim();
            let inner = rest
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("invalid selector term {t:?}"))?;
            Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
        };
        if let Some(k) = t.strip_prefix('!') {
            out.push(Requirement::NotExists(k.trim().to_owned()));
        } else if let Some((k, v)) = t.split_once("!=") {
            out.push(Requirement::NotEq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = t.split_once("==") {
            out.push(Requirement::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = t.split_once('=') {
            out.push(Requirement::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, rest)) = t.split_once(" notin ") {
            out.push(Requirement::NotIn(k.trim().into(), set(rest)?));
        } else if let Some((k, rest)) = t.split_once(" in ") {
            out.push(Requirement::In(k.trim().into(), set(rest)?));
        } else {
            out.push(Requirement::Exists(t.to_owned()));
        }
    }
    Ok(out)
}

/// Whether a label or annotation map matches a selector in Kubernetes' syntax.
pub(crate) fn selector_matches(
    selector: &str,
    m: Option<&Map<String, Value>>,
) -> Result<bool, String> {
    Ok(parse_selector(selector)?.iter().all(|q| q.matches(m)))
}

fn anchored(p: &str) -> Result<Option<Regex>, String> {
    if p.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{p})$"))
        .map(Some)
        .map_err(|e| format!("invalid regular expression {p:?}: {e}"))
}

impl Selector {
    fn new(t: &Target) -> Result<Self, String> {
        Ok(Self {
            group: anchored(&t.group)?,
            version: anchored(&t.version)?,
            kind: anchored(&t.kind)?,
            name: anchored(&t.name)?,
            namespace: anchored(&t.namespace)?,
            labels: parse_selector(&t.label_selector)?,
            annotations: parse_selector(&t.annotation_selector)?,
        })
    }

    fn matches(&self, r: &Resource) -> bool {
        let cur = r.cur_id();
        let org = r.org_id();
        let m = |re: &Option<Regex>, s: &str| re.as_ref().is_none_or(|re| re.is_match(s));
        if !m(&self.namespace, org.effective_namespace())
            && !m(&self.namespace, cur.effective_namespace())
        {
            return false;
        }
        if !m(&self.name, &org.name) && !m(&self.name, &cur.name) {
            return false;
        }
        let gvk = r.gvk();
        if !m(&self.group, &gvk.group)
            || !m(&self.version, &gvk.version)
            || !m(&self.kind, &gvk.kind)
        {
            return false;
        }
        self.labels.iter().all(|q| q.matches(r.labels()))
            && self.annotations.iter().all(|q| q.matches(r.annotations()))
    }
}

pub(crate) fn select(
    file: &str,
    field: &str,
    t: &Target,
    ra: &[Resource],
) -> Result<Vec<usize>, Error> {
    let sel = Selector::new(t).map_err(|m| invalid(file, format!("{field}.target: {m}")))?;
    Ok(ra
        .iter()
        .enumerate()
        .filter(|(_, r)| sel.matches(r))
        .map(|(i, _)| i)
        .collect())
}

/// Loads a patch's text from `patch` or `path`.
fn patch_text(
    l: &Loader<'_>,
    layer: &Layer,
    p: &Patch,
    field: &str,
) -> Result<(String, String), Error> {
    match (&p.patch, &p.path) {
        (Some(_), Some(_)) => Err(invalid(
            layer.file.clone(),
            format!("{field}: patch and path can't be set at the same time"),
        )),
        (None, None) => Err(invalid(
            layer.file.clone(),
            format!("{field}: must specify one of patch and path"),
        )),
        (Some(text), None) => Ok((
            text.trim().to_owned(),
            format!("{} ({field}.patch)", layer.file),
        )),
        (None, Some(path)) => {
            let resolved = l.resolve(layer, path, true)?;
            let text = l.read_text(&resolved)?;
            Ok((text, l.show(&resolved)))
        }
    }
}

enum Parsed {
    Strategic(Vec<Value>),
    Json(Vec<Value>),
}

fn parse_patch(l: &Loader<'_>, text: &str, source: &str) -> Result<Parsed, Error> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        let ops: Value = serde_json::from_str(trimmed)
            .or_else(|_| {
                l.parse_yaml(source, text)
                    .map(|d| d.into_iter().next().unwrap_or(Value::Null))
                    .map_err(|e| e.to_string())
            })
            .map_err(|e| invalid(source, format!("invalid JSON patch: {e}")))?;
        return match ops {
            Value::Array(ops) => Ok(Parsed::Json(ops)),
            _ => Err(invalid(source, "a JSON patch must be a list of operations")),
        };
    }
    let docs: Vec<Value> = l
        .parse_yaml(source, text)?
        .into_iter()
        .filter(|d| !d.is_null())
        .collect();
    // kustomize reads a JSON patch from the first YAML document only.
    if let Some(Value::Array(ops)) = docs.first() {
        return Ok(Parsed::Json(ops.clone()));
    }
    if docs.is_empty() {
        return Err(invalid(source, "empty patch"));
    }
    for d in &docs {
        if !d.is_object() {
            return Err(invalid(source, "unable to parse SM or JSON patch"));
        }
    }
    Ok(Parsed::Strategic(docs))
}

/// `patchesStrategicMerge`: files or inline patches, each applied to the resource it names.
pub(crate) fn strategic_merge_files(
    l: &Loader<'_>,
    schema: &Schema,
    growth: &mut Growth,
    layer: &Layer,
    ra: &mut Vec<Resource>,
) -> Result<(), Error> {
    for (i, entry) in layer.k.patches_sm.iter().enumerate() {
        let field = format!("patchesStrategicMerge[{i}]");
        let is_inline = entry.contains('\n') || entry.trim_start().starts_with('{');
        let (text, source) = if is_inline {
            (entry.clone(), format!("{} ({field})", layer.file))
        } else {
            let resolved = l.resolve(layer, entry, true)?;
            (l.read_text(&resolved)?, l.show(&resolved))
        };
        let docs: Vec<Value> = l
            .parse_yaml(&source, &text)?
            .into_iter()
            .filter(|d| !d.is_null())
            .collect();
        for doc in docs {
            schema.note_use();
            apply_sm_by_id(&source, &doc, ra, false, false, growth, schema.custom())?;
        }
    }
    Ok(())
}

fn patch_id(source: &str, doc: &Value) -> Result<ResId, Error> {
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = doc.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    if kind.is_empty() || name.is_empty() {
        return Err(invalid(
            source,
            "a strategic merge patch without a target must name its kind and metadata.name",
        ));
    }
    Ok(ResId {
        gvk: Gvk::from_api_version(api, kind),
        namespace: doc
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        name: name.to_owned(),
    })
}

fn apply_sm_by_id(
    source: &str,
    doc: &Value,
    ra: &mut Vec<Resource>,
    allow_name: bool,
    allow_kind: bool,
    growth: &mut Growth,
    custom: Option<&CustomSchema>,
) -> Result<(), Error> {
    let id = patch_id(source, doc)?;
    let matches: Vec<usize> = ra
        .iter()
        .enumerate()
        .filter(|(_, r)| r.cur_id().same(&id) || r.prev_ids().iter().any(|p| p.same(&id)))
        .map(|(i, _)| i)
        .collect();
    match matches.len() {
        0 => Err(invalid(
            source,
            format!("no resource matches strategic merge patch {}", id.display()),
        )),
        1 => apply_sm(
            source, doc, ra, matches[0], allow_name, allow_kind, growth, custom,
        ),
        _ => Err(invalid(
            source,
            format!(
                "multiple resources match strategic merge patch {}",
                id.display()
            ),
        )),
    }
}

/// Applies a strategic merge patch to `ra[i]`, removing the resource when the patch deletes it.
// The flags and budgets of one application; a struct for them would only rename them.
#[allow(clippy::too_many_arguments)]
fn apply_sm(
    source: &str,
    patch: &Value,
    ra: &mut Vec<Resource>,
    i: usize,
    allow_name: bool,
    allow_kind: bool,
    growth: &mut Growth,
    custom: Option<&CustomSchema>,
) -> Result<(), Error> {
    // A merge adds at most the patch to the resource.
    growth.add(source, size(patch))?;
    let r = &mut ra[i];
    let (name, ns, kind) = (
        r.name().to_owned(),
        r.namespace().to_owned(),
        r.kind().to_owned(),
    );
    let api_version = r.value.get("apiVersion").cloned();
    if allow_name || allow_kind {
        r.store_previous_id();
    }
    let gvk = r.gvk();
    // A custom schema replaces the built-in one, or extends it (see `openapi`).
    let defined = custom.filter(|c| c.defines(&gvk));
    let ctx = SchemaCtx {
        builtin: gvk.is_builtin() && defined.is_none() && custom.is_none_or(|c| c.extends_builtin),
        kind: gvk.kind.clone(),
        custom: defined.map(|c| (c, gvk.clone())),
    };
    let mut path = Vec::new();
    // Fields written without a value go first, while their list indexes still hold.
    let empty: HashSet<Vec<String>> = std::mem::take(&mut r.empty_nulls).into_iter().collect();
    if !empty.is_empty() {
        normalize_merged(&mut r.value, &ctx, &empty, &mut path, &mut Vec::new());
    }
    let deleted = merge_value(&mut r.value, patch, &ctx, &mut path).map_err(|m| {
        invalid(
            source,
            format!("applying patch to {}: {m}", r.cur_id().display()),
        )
    })?;
    if deleted || r.value.as_object().is_none_or(Map::is_empty) {
        ra.remove(i);
        return Ok(());
    }
    normalize_merged(
        &mut r.value,
        &ctx,
        &HashSet::new(),
        &mut path,
        &mut Vec::new(),
    );
    if !allow_kind {
        // The target keeps its group and version too: a patch selected by `target` may name
        // another kind's apiVersion (`apps/v1` on a Service).
        if let Some(m) = r.value.as_object_mut() {
            m.insert("kind".into(), Value::String(kind));
            match api_version {
                Some(v) => m.insert("apiVersion".into(), v),
                None => m.remove("apiVersion"),
            };
        }
    }
    if !allow_name {
        r.set_name(&name);
    }
    if ns.is_empty() {
        if let Some(md) = r.value.get_mut("metadata").and_then(Value::as_object_mut) {
            md.remove("namespace");
        }
    } else {
        r.set_namespace(&ns);
    }
    Ok(())
}

/// `patches`: strategic merge or JSON 6902, by target selector or by the patch's own id.
pub(crate) fn patches(
    l: &Loader<'_>,
    schema: &Schema,
    growth: &mut Growth,
    layer: &Layer,
    ra: &mut Vec<Resource>,
) -> Result<(), Error> {
    for (n, p) in layer.k.patches.iter().enumerate() {
        let field = format!("patches[{n}]");
        let (text, source) = patch_text(l, layer, p, &field)?;
        match parse_patch(l, &text, &source)? {
            Parsed::Strategic(docs) => {
                if let Some(t) = &p.target {
                    if docs.len() > 1 {
                        return Err(invalid(
                            source,
                            format!(
                                "{field}: multiple strategic merge patches in one entry may not have a target"
                            ),
                        ));
                    }
                    let mut selected = select(&layer.file, &field, t, ra)?;
                    // Indices shift when a patch deletes a resource: apply from the end.
                    selected.reverse();
                    schema.note_use();
                    for i in selected {
                        apply_sm(
                            &source,
                            &docs[0],
                            ra,
                            i,
                            p.allow_name_change,
                            p.allow_kind_change,
                            growth,
                            schema.custom(),
                        )?;
                    }
                } else {
                    schema.note_use();
                    for doc in &docs {
                        apply_sm_by_id(
                            &source,
                            doc,
                            ra,
                            p.allow_name_change,
                            p.allow_kind_change,
                            growth,
                            schema.custom(),
                        )?;
                    }
                }
            }
            Parsed::Json(ops) => {
                let Some(t) = &p.target else {
                    return Err(invalid(
                        source,
                        format!("{field}: must specify a target for a JSON patch"),
                    ));
                };
                for i in select(&layer.file, &field, t, ra)? {
                    apply_json(&source, &ops, &mut ra[i], true, growth)?;
                }
            }
        }
    }
    Ok(())
}

/// `patchesJson6902`.
pub(crate) fn json6902_entries(
    l: &Loader<'_>,
    growth: &mut Growth,
    layer: &Layer,
    ra: &mut [Resource],
) -> Result<(), Error> {
    for (n, p) in layer.k.patches_json.iter().enumerate() {
        let field = format!("patchesJson6902[{n}]");
        let (text, source) = patch_text(l, layer, p, &field)?;
        let Some(t) = &p.target else {
            return Err(invalid(
                layer.file.clone(),
                format!("{field}: a target is required"),
            ));
        };
        let ops = match parse_patch(l, &text, &source)? {
            Parsed::Json(ops) => ops,
            Parsed::Strategic(_) => {
                return Err(invalid(
                    source,
                    "not a JSON 6902 patch (expected a list of operations)",
                ));
            }
        };
        for i in select(&layer.file, &field, t, ra)? {
            let annotations = ra[i].bookkeeping;
            apply_json(&source, &ops, &mut ra[i], annotations, growth)?;
        }
    }
    Ok(())
}

/// Applies JSON 6902 `ops` to `r`. With `annotations`, `metadata.annotations` exists while the
/// patch runs, as it does in kustomize when it keeps its bookkeeping there: always under
/// `patches:`, only on objects it generated or renamed under `patchesJson6902`.
fn apply_json(
    source: &str,
    ops: &[Value],
    r: &mut Resource,
    annotations: bool,
    growth: &mut Growth,
) -> Result<(), Error> {
    r.store_previous_id();
    // kustomize's bookkeeping stays on an object `patches:` patched, for `patchesJson6902`
    // later; its `patchesJson6902` leaves none.
    r.bookkeeping |= annotations;
    let id = r.cur_id().display();
    // An `add` or `replace` under that map then works on an object written without
    // annotations. Emulated by adding the map for the patch and dropping it again when the
    // patch leaves it empty.
    let added_annotations = match r.value.get_mut("metadata").filter(|_| annotations) {
        Some(Value::Object(md)) => match md.get("annotations") {
            None | Some(Value::Null) => {
                md.insert("annotations".into(), Value::Object(Map::new()));
                true
            }
            Some(_) => false,
        },
        _ => false,
    };
    let result = ops.iter().enumerate().try_for_each(|(i, op)| {
        let added = json_op(&mut r.value, op)
            .map_err(|m| invalid(source, format!("operation {i} on {id}: {m}")))?;
        growth.add(source, added)
    });
    if added_annotations
        && let Some(Value::Object(md)) = r.value.get_mut("metadata")
        && md
            .get("annotations")
            .is_some_and(|a| a.as_object().is_some_and(Map::is_empty))
    {
        md.remove("annotations");
    }
    result
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(p: &str) -> Result<Vec<String>, String> {
    if p.is_empty() {
        return Ok(Vec::new());
    }
    let rest = p
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {p:?}"))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn get_mut<'v>(v: &'v mut Value, tokens: &[String], path: &str) -> Result<&'v mut Value, String> {
    let mut cur = v;
    for t in tokens {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t.as_str())
                .ok_or_else(|| format!("path {path:?} does not exist"))?,
            Value::Array(a) => {
                let i: usize = t
                    .parse()
                    .map_err(|_| format!("path {path:?}: {t:?} is not an index"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("path {path:?}: index {i} out of range"))?
            }
            _ => return Err(format!("path {path:?} does not exist")),
        };
    }
    Ok(cur)
}

fn json_add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let tokens = split_pointer(path)?;
    let Some((last, parent)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent, path)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
                return Ok(());
            }
            let i: usize = last
                .parse()
                .map_err(|_| format!("path {path:?}: {last:?} is not an index"))?;
            if i > a.len() {
                return Err(format!("path {path:?}: index {i} out of range"));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(format!("path {path:?}: parent is not a mapping or list")),
    }
}

fn json_remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let tokens = split_pointer(path)?;
    let Some((last, parent)) = tokens.split_last() else {
        return Err("cannot remove the whole document".into());
    };
    match get_mut(doc, parent, path)? {
        Value::Object(m) => m
            .remove(last.as_str())
            .ok_or_else(|| format!("path {path:?} does not exist")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("path {path:?}: {last:?} is not an index"))?;
            if i >= a.len() {
                return Err(format!("path {path:?}: index {i} out of range"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("path {path:?} does not exist")),
    }
}

/// Applies one operation; returns what it wrote (a [`size`]), for the build's growth budget.
fn json_op(doc: &mut Value, op: &Value) -> Result<usize, String> {
    let o = op.as_object().ok_or("an operation must be a mapping")?;
    let kind = o.get("op").and_then(Value::as_str).ok_or("missing op")?;
    let path = o
        .get("path")
        .and_then(Value::as_str)
        .ok_or("missing path")?;
    let value = || {
        o.get("value")
            .cloned()
            .ok_or_else(|| format!("{kind}: missing value"))
    };
    match kind {
        "add" => {
            let v = value()?;
            let n = size(&v);
            json_add(doc, path, v).map(|()| n)
        }
        "remove" => json_remove(doc, path).map(|_| 0),
        "replace" => {
            let v = value()?;
            let n = size(&v);
            let tokens = split_pointer(path)?;
            // As kustomize's JSON patch library does, a missing key of an existing mapping is
            // added; a missing list index or a missing parent stays an error.
            match tokens.split_last() {
                Some((last, parent)) => match get_mut(doc, parent, path)? {
                    Value::Object(m) => {
                        m.insert(last.clone(), v);
                    }
                    other => *get_mut(other, std::slice::from_ref(last), path)? = v,
                },
                None => *doc = v,
            }
            Ok(n)
        }
        "move" => {
            let from = o
                .get("from")
                .and_then(Value::as_str)
                .ok_or("move: missing from")?;
            let v = json_remove(doc, from)?;
            json_add(doc, path, v).map(|()| 0)
        }
        "copy" => {
            let from = o
                .get("from")
                .and_then(Value::as_str)
                .ok_or("copy: missing from")?;
            let tokens = split_pointer(from)?;
            let source = get_mut(doc, &tokens, from)?;
            // The copy is at most as large as the resource already is, so a doubling chain
            // stops at the first copy past the budget.
            let n = size(source);
            let v = source.clone();
            json_add(doc, path, v).map(|()| n)
        }
        "test" => {
            let tokens = split_pointer(path)?;
            let cur = get_mut(doc, &tokens, path)?;
            if *cur == value()? {
                Ok(0)
            } else {
                Err(format!("test failed at {path:?}"))
            }
        }
        other => Err(format!("unknown operation {other:?}")),
    }
}

struct SchemaCtx<'a> {
    builtin: bool,
    kind: String,
    /// The custom schema (`openapi.path`) in force and the patched resource's type.
    custom: Option<(&'a CustomSchema, Gvk)>,
}

const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// The merge keys of the list at `path` (field names from the resource root), if it is merged
/// by key in Kubernetes' schema. The first key is the patch merge key; the others complete the
/// list's map keys.
fn merge_key<'a>(ctx: &SchemaCtx<'a>, path: &[String]) -> Option<Vec<&'a str>> {
    if let Some((schema, gvk)) = &ctx.custom {
        return match schema.list_merge(gvk, path) {
            ListMerge::Keyed(keys) => Some(keys),
            ListMerge::Replace | ListMerge::Scalars => None,
        };
    }
    builtin_merge_key(ctx, path).map(<[&str]>::to_vec)
}

fn builtin_merge_key(ctx: &SchemaCtx<'_>, path: &[String]) -> Option<&'static [&'static str]> {
    if !ctx.builtin {
        return None;
    }
    let n = path.len();
    let last = path.last()?.as_str();
    let parent = if n >= 2 { path[n - 2].as_str() } else { "" };
    let in_container = CONTAINER_LISTS.contains(&parent);
    let in_pod_spec = parent == "spec" && (n == 2 || (n >= 3 && path[n - 3] == "template"));
    match last {
        "containers" | "initContainers" | "ephemeralContainers" if in_pod_spec => Some(&["name"]),
        "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates" if in_pod_spec => {
            Some(&["name"])
        }
        "hostAliases" if in_pod_spec => Some(&["ip"]),
        "topologySpreadConstraints" if in_pod_spec => Some(&["topologyKey", "whenUnsatisfiable"]),
        "env" if in_container => Some(&["name"]),
        "ports" if in_container => Some(&["containerPort", "protocol"]),
        "ports" if ctx.kind == "Service" && path.len() == 2 && parent == "spec" => {
            Some(&["port", "protocol"])
        }
        "volumeMounts" if in_container => Some(&["mountPath"]),
        "volumeDevices" if in_container => Some(&["devicePath"]),
        "ownerReferences" if parent == "metadata" => Some(&["uid"]),
        "webhooks" if n == 1 && ctx.kind.ends_with("WebhookConfiguration") => Some(&["name"]),
        "secrets" if n == 1 && ctx.kind == "ServiceAccount" => Some(&["name"]),
        "conditions" if parent == "status" => Some(&["type"]),
        _ => None,
    }
}

#[derive(PartialEq)]
enum KeyMatch {
    /// Every key has the same value (or is missing on both sides).
    Same,
    /// No key conflicts and some agree, but one side lacks a key the other has: kustomize keeps
    /// the target's element and drops the patch's.
    Partial,
    Different,
}

fn key_match(keys: &[&str], a: &Value, b: &Value) -> KeyMatch {
    let mut common = false;
    let mut partial = false;
    for k in keys {
        match (a.get(*k), b.get(*k)) {
            (Some(x), Some(y)) if x == y => common = true,
            (Some(_), Some(_)) => return KeyMatch::Different,
            (None, None) => {}
            _ => partial = true,
        }
    }
    match (common, partial) {
        (true, false) => KeyMatch::Same,
        (true, true) => KeyMatch::Partial,
        _ => KeyMatch::Different,
    }
}

fn directive(v: &Value) -> Option<&str> {
    v.get("$patch").and_then(Value::as_str)
}

/// A patch value as it lands where the target has nothing: directives and nulls dropped.
fn clean(v: &Value) -> Option<Value> {
    match v {
        Value::Object(m) => {
            if directive(v) == Some("delete") {
                return None;
            }
            let mut out = Map::new();
            for (k, child) in m {
                if k.starts_with('$') || child.is_null() {
                    continue;
                }
                if let Some(c) = clean(child) {
                    out.insert(k.clone(), c);
                }
            }
            Some(Value::Object(out))
        }
        Value::Array(items) => Some(Value::Array(
            items
                .iter()
                .filter(|i| {
                    !(i.is_object()
                        && directive(i) == Some("replace")
                        && i.as_object().is_some_and(|m| m.len() == 1))
                })
                .filter_map(clean)
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// What kustomize's merge does to the whole of a patched object, not only to the fields the
/// patch names (it walks every field of the target): fields written without a value
/// (`empty`, by full path) are removed, while a null written as `null` or `~` stays; and in
/// lists merged by a single key, elements repeating a key collapse into one, at the first
/// one's place with the last one's value. Lists not merged by key are kept whole. `path` holds
/// field names (for the merge keys), `at` the full path with list indexes.
fn normalize_merged(
    v: &mut Value,
    ctx: &SchemaCtx,
    empty: &HashSet<Vec<String>>,
    path: &mut Vec<String>,
    at: &mut Vec<String>,
) {
    match v {
        Value::Object(m) => {
            if !empty.is_empty() {
                m.retain(|k, child| {
                    if !child.is_null() {
                        return true;
                    }
                    at.push(k.clone());
                    let keep = !empty.contains(at.as_slice());
                    at.pop();
                    keep
                });
            }
            for (k, child) in m.iter_mut() {
                path.push(k.clone());
                at.push(k.clone());
                normalize_merged(child, ctx, empty, path, at);
                at.pop();
                path.pop();
            }
        }
        Value::Array(items) => {
            let schema = ctx.builtin || ctx.custom.is_some();
            let key: Option<&str> = if schema {
                merge_key(ctx, path).map(|keys| keys[0])
            } else if !items.is_empty() && items.iter().all(|i| i.get("name").is_some()) {
                // Without a schema kustomize infers the key `name` when every element has it.
                Some("name")
            } else {
                None
            };
            let Some(key) = key else { return };
            for (i, item) in items.iter_mut().enumerate() {
                at.push(i.to_string());
                normalize_merged(item, ctx, empty, path, at);
                at.pop();
            }
            let single_key = !schema || merge_key(ctx, path).is_some_and(|k| k.len() == 1);
            if single_key {
                let mut out: Vec<Value> = Vec::with_capacity(items.len());
                let mut at: std::collections::HashMap<String, usize> =
                    std::collections::HashMap::new();
                for item in items.drain(..) {
                    match item.get(key).and_then(scalar_key) {
                        Some(k) => match at.get(&k) {
                            Some(&i) => out[i] = item,
                            None => {
                                at.insert(k, out.len());
                                out.push(item);
                            }
                        },
                        None => out.push(item),
                    }
                }
                *items = out;
            }
        }
        _ => {}
    }
}

/// The text of a merge key's value, as kustomize compares them.
fn scalar_key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Merges `patch` into `dest`; `true` when the patch deletes `dest` itself.
fn merge_value(
    dest: &mut Value,
    patch: &Value,
    ctx: &SchemaCtx,
    path: &mut Vec<String>,
) -> Result<bool, String> {
    match (dest, patch) {
        (dest @ Value::Object(_), Value::Object(pm)) => {
            match directive(patch) {
                Some("delete") => return Ok(true),
                Some("replace") => {
                    *dest = clean(patch).unwrap_or(Value::Null);
                    return Ok(false);
                }
                Some("merge") | None => {}
                Some(other) => return Err(format!("unknown $patch directive {other:?}")),
            }
            let dm = dest.as_object_mut().expect("matched as a mapping above");
            for (k, pv) in pm {
                if k.starts_with('$') {
                    continue;
                }
                if pv.is_null() {
                    dm.remove(k.as_str());
                    continue;
                }
                match dm.get_mut(k.as_str()) {
                    Some(dv) if !dv.is_null() => {
                        path.push(k.clone());
                        let deleted = merge_value(dv, pv, ctx, path)?;
                        path.pop();
                        if deleted {
                            dm.remove(k.as_str());
                        }
                    }
                    _ => {
                        if let Some(c) = clean(pv) {
                            dm.insert(k.clone(), c);
                        } else {
                            dm.remove(k.as_str());
                        }
                    }
                }
            }
            Ok(false)
        }
        (Value::Array(da), Value::Array(pa)) => {
            let is_replace_marker = |i: &Value| {
                directive(i) == Some("replace") && i.as_object().is_some_and(|m| m.len() == 1)
            };
            if pa.iter().any(is_replace_marker) {
                *da = pa
                    .iter()
                    .filter(|i| directive(i) != Some("replace"))
                    .filter_map(clean)
                    .collect();
                return Ok(false);
            }
            // kustomize skips elements that carry `$patch: replace` beside other fields.
            let pa: Vec<Value> = pa
                .iter()
                .filter(|i| directive(i) != Some("replace"))
                .cloned()
                .collect();
            let pa = &pa;
            let scalars = match &ctx.custom {
                Some((schema, gvk)) => {
                    matches!(schema.list_merge(gvk, path), ListMerge::Scalars)
                }
                None => {
                    path.last().is_some_and(|l| l == "finalizers")
                        && path.len() == 2
                        && path[0] == "metadata"
                        && ctx.builtin
                }
            };
            if scalars {
                // A merged list of strings: the patch's first, then the target's others.
                let mut out: Vec<Value> = pa.iter().filter(|v| !v.is_null()).cloned().collect();
                for d in da.iter() {
                    if !out.contains(d) {
                        out.push(d.clone());
                    }
                }
                *da = out;
                return Ok(false);
            }
            let keyed = merge_key(ctx, path);
            if let Some(keys) = &keyed
                && !pa.is_empty()
                && pa
                    .iter()
                    .any(|e| e.is_object() && e.get(keys[0]).is_none() && directive(e).is_none())
            {
                // A patch element without the merge key makes kustomize replace the list with
                // the patch's keyed elements, unmerged.
                *da = pa
                    .iter()
                    .filter(|e| e.get(keys[0]).is_some())
                    .filter_map(clean)
                    .collect();
                return Ok(false);
            }
            match &keyed {
                Some(all_keys) if pa.iter().all(Value::is_object) => {
                    // Keys no element of either list sets do not take part.
                    let valid: Vec<&str> = all_keys
                        .iter()
                        .enumerate()
                        .filter(|(i, k)| {
                            *i == 0 || da.iter().chain(pa.iter()).any(|e| e.get(**k).is_some())
                        })
                        .map(|(_, k)| *k)
                        .collect();
                    let keys = valid.as_slice();
                    let mut used = vec![false; da.len()];
                    let mut out = Vec::new();
                    for pe in pa {
                        let mut found = None;
                        let mut partial = false;
                        if pe.get(keys[0]).is_some() {
                            for (i, de) in da.iter().enumerate() {
                                if used[i] {
                                    continue;
                                }
                                match key_match(keys, pe, de) {
                                    KeyMatch::Same => {
                                        found = Some(i);
                                        break;
                                    }
                                    KeyMatch::Partial => {
                                        partial = true;
                                        break;
                                    }
                                    KeyMatch::Different => {}
                                }
                            }
                        }
                        if partial {
                            continue;
                        }
                        if directive(pe) == Some("delete") {
                            if let Some(i) = found {
                                used[i] = true;
                            }
                            continue;
                        }
                        match found {
                            // Lists keyed by several fields keep merged elements in place.
                            Some(i) if keys.len() > 1 => {
                                let deleted = merge_value(&mut da[i], pe, ctx, path)?;
                                if deleted {
                                    used[i] = true;
                                }
                            }
                            Some(i) => {
                                used[i] = true;
                                let mut merged = da[i].clone();
                                let deleted = merge_value(&mut merged, pe, ctx, path)?;
                                if !deleted {
                                    out.push(merged);
                                }
                            }
                            None => {
                                if let Some(c) = clean(pe) {
                                    out.push(c);
                                }
                            }
                        }
                    }
                    for (i, de) in da.iter().enumerate() {
                        if !used[i] {
                            out.push(de.clone());
                        }
                    }
                    *da = out;
                }
                _ => {
                    *da = pa.iter().filter_map(clean).collect();
                }
            }
            Ok(false)
        }
        (dest, patch) => {
            if directive(patch) == Some("delete") {
                return Ok(true);
            }
            let kind = |v: &Value| match v {
                Value::Object(_) => 2,
                Value::Array(_) => 1,
                Value::Null => 3,
                _ => 0,
            };
            if kind(dest) != 3 && kind(patch) != 3 && kind(dest) != kind(patch) {
                return Err(format!(
                    "wrong node kind at {}: the patch has a {} where the target has a {}",
                    path.join("."),
                    ["scalar", "list", "mapping", "null"][kind(patch)],
                    ["scalar", "list", "mapping", "null"][kind(dest)]
                ));
            }
            *dest = clean(patch).unwrap_or(Value::Null);
            Ok(false)
        }
    }
}
