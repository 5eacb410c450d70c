//! `configurations:`: transformer configurations that add field specs to kustomize's built-in
//! ones, so name references, namespaces, labels, annotations, images, replicas and vars reach
//! fields of custom kinds.
//!
//! As in kustomize, a kustomization's configuration also holds those of everything it
//! accumulated (its resources' kustomizations and its components): an overlay's transformers
//! see its bases' configurations, and the top-level one's name references and vars see all.

use serde_json::{Map, Value};

use crate::error::{Error, invalid};
use crate::kustomization::canonical_keys;
use crate::resource::Gvk;
use crate::transform::fieldspec::Spec;

/// Field specs added to the built-in ones.
#[derive(Clone, Debug, Default)]
pub(crate) struct Config {
    /// (referral, referrer field): the referrer's field names a resource of the referral kind.
    pub name_reference: Vec<(Gvk, Spec)>,
    pub namespace: Vec<Spec>,
    pub name_prefix: Vec<Spec>,
    pub name_suffix: Vec<Spec>,
    pub common_labels: Vec<Spec>,
    /// Field specs every `labels` entry uses, selectors or not.
    pub labels: Vec<Spec>,
    pub template_labels: Vec<Spec>,
    pub common_annotations: Vec<Spec>,
    pub var_reference: Vec<Spec>,
    pub images: Vec<Spec>,
    pub replicas: Vec<Spec>,
}

const FIELDS: &[&str] = &[
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "templateLabels",
    "commonAnnotations",
    "nameReference",
    "varReference",
    "images",
    "replicas",
];

fn same(a: &Spec, b: &Spec) -> bool {
    a.group == b.group && a.version == b.version && a.kind == b.kind && a.path == b.path
}

fn merge_specs(into: &mut Vec<Spec>, from: Vec<Spec>) {
    for s in from {
        if !into.iter().any(|x| same(x, &s)) {
            into.push(s);
        }
    }
}

impl Config {
    /// Adds `other`'s field specs that are not already here.
    pub fn merge(&mut self, other: Config) {
        for (referral, spec) in other.name_reference {
            if !self
                .name_reference
                .iter()
                .any(|(g, s)| *g == referral && same(s, &spec))
            {
                self.name_reference.push((referral, spec));
            }
        }
        merge_specs(&mut self.namespace, other.namespace);
        merge_specs(&mut self.name_prefix, other.name_prefix);
        merge_specs(&mut self.name_suffix, other.name_suffix);
        merge_specs(&mut self.common_labels, other.common_labels);
        merge_specs(&mut self.labels, other.labels);
        merge_specs(&mut self.template_labels, other.template_labels);
        merge_specs(&mut self.common_annotations, other.common_annotations);
        merge_specs(&mut self.var_reference, other.var_reference);
        merge_specs(&mut self.images, other.images);
        merge_specs(&mut self.replicas, other.replicas);
    }

    /// Reads one configuration file's value; `file` names it in errors.
    pub fn from_value(file: &str, value: &Value) -> Result<Self, Error> {
        let map = match value {
            Value::Object(m) => canonical_keys(m, FIELDS),
            Value::Null => Map::new(),
            _ => {
                return Err(invalid(
                    file,
                    "a transformer configuration must be a mapping",
                ));
            }
        };
        let mut c = Config::default();
        for (key, v) in &map {
            let list = match v {
                Value::Null => continue,
                Value::Array(a) => a,
                _ => return Err(invalid(file, format!("{key}: expected a list"))),
            };
            match key.as_str() {
                "nameReference" => {
                    for (i, item) in list.iter().enumerate() {
                        let field = format!("nameReference[{i}]");
                        let m = item
                            .as_object()
                            .map(|m| canonical_keys(m, &["group", "version", "kind", "fieldSpecs"]))
                            .ok_or_else(|| invalid(file, format!("{field}: expected a mapping")))?;
                        let s = |k: &str| text(file, &field, &m, k);
                        let referral = Gvk {
                            group: s("group")?,
                            version: s("version")?,
                            kind: s("kind")?,
                        };
                        let specs = match m.get("fieldSpecs") {
                            Some(Value::Array(a)) => a.as_slice(),
                            None | Some(Value::Null) => &[],
                            Some(_) => {
                                return Err(invalid(
                                    file,
                                    format!("{field}.fieldSpecs: expected a list"),
                                ));
                            }
                        };
                        for (j, fs) in specs.iter().enumerate() {
                            let spec = field_spec(file, &format!("{field}.fieldSpecs[{j}]"), fs)?;
                            c.name_reference.push((referral.clone(), spec));
                        }
                    }
                }
                other => {
                    let mut specs = Vec::new();
                    for (i, item) in list.iter().enumerate() {
                        specs.push(field_spec(file, &format!("{other}[{i}]"), item)?);
                    }
                    let slot = match other {
                        "namespace" => &mut c.namespace,
                        "namePrefix" => &mut c.name_prefix,
                        "nameSuffix" => &mut c.name_suffix,
                        "commonLabels" => &mut c.common_labels,
                        "labels" => &mut c.labels,
                        "templateLabels" => &mut c.template_labels,
                        "commonAnnotations" => &mut c.common_annotations,
                        "varReference" => &mut c.var_reference,
                        "images" => &mut c.images,
                        "replicas" => &mut c.replicas,
                        _ => return Err(invalid(file, format!("{other}: unknown field"))),
                    };
                    merge_specs(slot, specs);
                }
            }
        }
        Ok(c)
    }
}

fn text(file: &str, field: &str, m: &Map<String, Value>, k: &str) -> Result<String, Error> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(invalid(file, format!("{field}.{k}: expected a string"))),
    }
}

fn field_spec(file: &str, field: &str, v: &Value) -> Result<Spec, Error> {
    let m = v
        .as_object()
        .map(|m| canonical_keys(m, &["group", "version", "kind", "path", "create"]))
        .ok_or_else(|| invalid(file, format!("{field}: expected a mapping")))?;
    let s = |k: &str| text(file, field, &m, k);
    let path = s("path")?;
    if path.is_empty() {
        return Err(invalid(file, format!("{field}.path: a path is required")));
    }
    let create = match m.get("create") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid(file, format!("{field}.create: expected a boolean"))),
    };
    Ok(Spec::new(
        &s("group")?,
        &s("version")?,
        &s("kind")?,
        &path,
        create,
    ))
}
