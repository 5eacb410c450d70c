//! Helm's template functions, the render context and the rendering of every template of a
//! chart and its subcharts into one set.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gitops_gotmpl::{
    Call, Dict, Function, Functions, MissingKey, Object, Options, Templates, Ty, Value,
};

use crate::Error;
use crate::chart::{Chart, Contents, File};
use crate::yaml::{self, Node};

/// Kubernetes objects a template reads with `lookup`. Under `helm template` there is no
/// cluster, so every lookup is an empty map ([`NoCluster`]); a host may back it with a client.
pub trait Lookup: Send + Sync + std::fmt::Debug {
    /// The object (or, with an empty `name`, the list) as JSON; an empty map when absent.
    ///
    /// # Errors
    /// A message shown as the function's error.
    fn lookup(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
        name: &str,
    ) -> Result<serde_json::Value, String>;
}

/// No cluster: every `lookup` is an empty map, as under `helm template`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCluster;

impl Lookup for NoCluster {
    fn lookup(&self, _: &str, _: &str, _: &str, _: &str) -> Result<serde_json::Value, String> {
        Ok(serde_json::Value::Object(serde_json::Map::new()))
    }
}

/// The Kubernetes version `helm template` v4.3.2 assumes without `--kube-version`.
pub const DEFAULT_KUBE_VERSION: &str = "v1.37.0";

/// The API versions `helm template` v4.3.2 reports in `.Capabilities.APIVersions` without a
/// cluster (client-go's built-in scheme), in its order.
pub const DEFAULT_API_VERSIONS: &[&str] = &[
    "v1",
    "admissionregistration.k8s.io/v1",
    "admissionregistration.k8s.io/v1alpha1",
    "admissionregistration.k8s.io/v1beta1",
    "internal.apiserver.k8s.io/v1alpha1",
    "apps/v1",
    "apps/v1beta1",
    "apps/v1beta2",
    "authentication.k8s.io/v1",
    "authentication.k8s.io/v1alpha1",
    "authentication.k8s.io/v1beta1",
    "authorization.k8s.io/v1",
    "authorization.k8s.io/v1beta1",
    "autoscaling/v1",
    "autoscaling/v2",
    "batch/v1",
    "batch/v1beta1",
    "certificates.k8s.io/v1",
    "certificates.k8s.io/v1beta1",
    "certificates.k8s.io/v1alpha1",
    "coordination.k8s.io/v1alpha2",
    "coordination.k8s.io/v1beta1",
    "coordination.k8s.io/v1",
    "discovery.k8s.io/v1",
    "discovery.k8s.io/v1beta1",
    "events.k8s.io/v1",
    "events.k8s.io/v1beta1",
    "extensions/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1",
    "flowcontrol.apiserver.k8s.io/v1beta1",
    "flowcontrol.apiserver.k8s.io/v1beta2",
    "flowcontrol.apiserver.k8s.io/v1beta3",
    "lifecycle.k8s.io/v1alpha1",
    "networking.k8s.io/v1",
    "networking.k8s.io/v1beta1",
    "node.k8s.io/v1",
    "node.k8s.io/v1alpha1",
    "node.k8s.io/v1beta1",
    "policy/v1",
    "policy/v1beta1",
    "rbac.authorization.k8s.io/v1",
    "rbac.authorization.k8s.io/v1beta1",
    "rbac.authorization.k8s.io/v1alpha1",
    "resource.k8s.io/v1",
    "resource.k8s.io/v1beta2",
    "resource.k8s.io/v1beta1",
    "resource.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1alpha3",
    "scheduling.k8s.io/v1beta1",
    "scheduling.k8s.io/v1",
    "storage.k8s.io/v1beta1",
    "storage.k8s.io/v1",
    "storage.k8s.io/v1alpha1",
    "storagemigration.k8s.io/v1",
    "storagemigration.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1beta1",
    "apiextensions.k8s.io/v1",
];

/// What `.Release` and `.Capabilities` hold.
#[derive(Clone, Debug)]
pub struct Context {
    /// `.Release.Name`.
    pub release_name: String,
    /// `.Release.Namespace`.
    pub namespace: String,
    /// `.Release.IsUpgrade` (and `IsInstall` its opposite).
    pub is_upgrade: bool,
    /// `.Release.Revision` (`helm template` renders 1; a release its revision).
    pub revision: i64,
    /// `.Capabilities.KubeVersion`, with its `v`.
    pub kube_version: String,
    /// `.Capabilities.APIVersions`: the defaults plus any added.
    pub api_versions: Vec<String>,
    /// What `lookup` asks.
    pub lookup: Arc<dyn Lookup>,
    /// Whether `getHostByName` resolves names (`--enable-dns`) or returns `""`.
    pub enable_dns: bool,
    /// How many threads may parse and execute the templates (1: the calling thread only).
    pub threads: usize,
}

// ---- host objects ----

#[derive(Debug)]
struct Files {
    files: BTreeMap<String, Contents>,
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// A file's bytes for `.Files`, a failed (deferred) read as the template error.
fn file_bytes<'a>(name: &str, c: &'a Contents) -> Result<&'a [u8], String> {
    c.bytes().map_err(|e| format!("reading {name}: {e}"))
}

impl Files {
    fn glob(&self, pattern: &str) -> Files {
        Files {
            files: self
                .files
                .iter()
                .filter(|(k, _)| glob_all(pattern, k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    fn as_config(&self, secrets: bool) -> Result<String, String> {
        let mut entries: Vec<(String, Node)> = Vec::new();
        for (k, v) in &self.files {
            let base = k.rsplit('/').next().unwrap_or(k).to_string();
            let v = file_bytes(k, v)?;
            let value = if secrets {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD.encode(v)
            } else {
                text(v)
            };
            entries.retain(|(e, _)| *e != base);
            entries.push((base, Node::Str(value)));
        }
        let out = yaml::emit(&Node::Map(entries), false);
        Ok(out.trim_end_matches('\n').to_string())
    }
}

impl Object for Files {
    fn type_name(&self) -> &str {
        "files.Files"
    }

    fn method(&self, name: &str) -> Option<Function> {
        let files = self.files.clone();
        // A file's text, `None` for a name the chart does not have.
        let get = move |a: &[Value]| -> Result<Option<String>, String> {
            let Some((n, c)) = a[0].as_str().and_then(|n| files.get_key_value(n)) else {
                return Ok(None);
            };
            file_bytes(n, c).map(|b| Some(text(b)))
        };
        Some(match name {
            "Get" => Function::new(&[Ty::String], move |a| {
                Ok(Value::String(get(a)?.unwrap_or_default()))
            }),
            "GetBytes" => Function::new(&[Ty::String], move |a| {
                Ok(Value::String(get(a)?.unwrap_or_default()))
            }),
            "Lines" => Function::new(&[Ty::String], move |a| {
                let Some(s) = get(a)? else {
                    return Ok(Value::list(Vec::new()));
                };
                let s = s.strip_suffix('\n').unwrap_or(&s);
                Ok(Value::list(s.split('\n').map(Value::string).collect()))
            }),
            "Glob" => {
                let me = Files {
                    files: self.files.clone(),
                };
                Function::new(&[Ty::String], move |a| {
                    Ok(Value::Object(Arc::new(
                        me.glob(a[0].as_str().unwrap_or("")),
                    )))
                })
            }
            "AsConfig" | "AsSecrets" => {
                let me = Files {
                    files: self.files.clone(),
                };
                let secrets = name == "AsSecrets";
                Function::new(&[], move |_| Ok(Value::String(me.as_config(secrets)?)))
            }
            _ => return None,
        })
    }

    fn display(&self) -> String {
        let parts: Vec<String> = self
            .files
            .iter()
            .map(|(k, v)| {
                // Printing has no error path: an unreadable file (removed since the chart
                // was loaded) prints as empty.
                let v = v.bytes().unwrap_or_default();
                let bytes: Vec<String> = v.iter().map(|b| b.to_string()).collect();
                format!("{k}:[{}]", bytes.join(" "))
            })
            .collect();
        format!("map[{}]", parts.join(" "))
    }

    fn entries(&self) -> Option<Vec<(String, Value)>> {
        Some(
            self.files
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        Value::String(text(v.bytes().unwrap_or_default())),
                    )
                })
                .collect(),
        )
    }
}

/// gobwas/glob with `/` as separator: `*` and `?` stay within a path segment, `**` crosses
/// them, `[…]` classes and `{a,b}` alternatives.
fn glob_all(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let mut budget = GLOB_BUDGET;
    glob_from(&p, 0, &n, 0, 0, &mut HashSet::new(), &mut budget)
}

/// How many match steps one `.Files.Glob` test of a name may take: `{a,b}` alternatives multiply
/// (each builds a new pattern), so a chart's pattern could otherwise take exponential time.
/// Past it the name does not match.
const GLOB_BUDGET: usize = 100_000;

/// Matches `p[pi..]` against `n[ni..]`; `failed` remembers the `(pi, ni)` positions a `*`
/// already tried in this pattern, `budget` bounds the steps of the whole test.
fn glob_from(
    p: &[char],
    mut pi: usize,
    n: &[char],
    mut ni: usize,
    depth: usize,
    failed: &mut HashSet<(usize, usize)>,
    budget: &mut usize,
) -> bool {
    if depth > 32 || *budget == 0 {
        return false;
    }
    *budget -= 1;
    while pi < p.len() {
        match p[pi] {
            '*' => {
                let super_star = p.get(pi + 1) == Some(&'*');
                pi += if super_star { 2 } else { 1 };
                let mut k = ni;
                loop {
                    if !failed.contains(&(pi, k)) {
                        if glob_from(p, pi, n, k, depth + 1, failed, budget) {
                            return true;
                        }
                        failed.insert((pi, k));
                    }
                    if k >= n.len() || (!super_star && n[k] == '/') {
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
            '{' => {
                let Some(close) = p[pi..].iter().position(|c| *c == '}') else {
                    return false;
                };
                let rest: Vec<char> = p[pi + close + 1..].to_vec();
                for alt in p[pi + 1..pi + close].split(|c| *c == ',') {
                    let mut q = alt.to_vec();
                    q.extend_from_slice(&rest);
                    if glob_from(&q, 0, n, ni, depth + 1, &mut HashSet::new(), budget) {
                        return true;
                    }
                }
                return false;
            }
            '[' => {
                let Some(close) = p[pi..].iter().position(|c| *c == ']') else {
                    return false;
                };
                if ni >= n.len() {
                    return false;
                }
                let class = &p[pi + 1..pi + close];
                let (neg, class) = match class.first() {
                    Some('!') | Some('^') => (true, &class[1..]),
                    _ => (false, class),
                };
                let c = n[ni];
                let mut hit = false;
                let mut i = 0;
                while i < class.len() {
                    if i + 2 < class.len() && class[i + 1] == '-' {
                        hit |= class[i] <= c && c <= class[i + 2];
                        i += 3;
                    } else {
                        hit |= class[i] == c;
                        i += 1;
                    }
                }
                if hit == neg {
                    return false;
                }
                pi += close + 1;
                ni += 1;
            }
            '\\' if pi + 1 < p.len() => {
                if ni >= n.len() || n[ni] != p[pi + 1] {
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

#[derive(Debug)]
struct KubeVersion {
    version: String,
}

impl KubeVersion {
    fn parts(&self) -> (String, String) {
        let v = self.version.trim_start_matches('v');
        let mut it = v.split(['.', '-', '+']);
        let major = it.next().unwrap_or("").to_string();
        let minor = it.next().unwrap_or("").to_string();
        (major, minor)
    }
}

impl Object for KubeVersion {
    fn type_name(&self) -> &str {
        "common.KubeVersion"
    }
    fn field(&self, name: &str) -> Option<Value> {
        let (major, minor) = self.parts();
        Some(Value::String(match name {
            "Version" | "GitVersion" => self.version.clone(),
            "Major" => major,
            "Minor" => minor,
            _ => return None,
        }))
    }
    fn method(&self, name: &str) -> Option<Function> {
        let v = self.version.clone();
        (name == "String").then(|| Function::new(&[], move |_| Ok(Value::String(v.clone()))))
    }
    fn display(&self) -> String {
        self.version.clone()
    }
}

#[derive(Debug)]
struct VersionSet {
    versions: Arc<Vec<String>>,
}

impl Object for VersionSet {
    fn type_name(&self) -> &str {
        "common.VersionSet"
    }
    fn method(&self, name: &str) -> Option<Function> {
        let v = self.versions.clone();
        (name == "Has").then(|| {
            Function::new(&[Ty::String], move |a| {
                Ok(Value::Bool(
                    v.iter().any(|x| Some(x.as_str()) == a[0].as_str()),
                ))
            })
        })
    }
    fn display(&self) -> String {
        format!("[{}]", self.versions.join(" "))
    }
}

#[derive(Debug)]
struct Capabilities {
    kube: Arc<KubeVersion>,
    apis: Arc<VersionSet>,
}

impl Object for Capabilities {
    fn type_name(&self) -> &str {
        "common.Capabilities"
    }
    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "KubeVersion" => Some(Value::Object(self.kube.clone())),
            "APIVersions" => Some(Value::Object(self.apis.clone())),
            "HelmVersion" => {
                let mut m = BTreeMap::new();
                m.insert("Version".into(), Value::string("v4.3.2"));
                m.insert("GitCommit".into(), Value::string(""));
                m.insert("GitTreeState".into(), Value::string(""));
                m.insert("GoVersion".into(), Value::string("go1.26.8"));
                m.insert("KubeClientVersion".into(), Value::string("v1.37"));
                Some(Value::map(m))
            }
            _ => None,
        }
    }
    fn display(&self) -> String {
        format!(
            "{{{} {} {{v4.3.2   go1.26.8 v1.37}}}}",
            self.kube.version,
            self.apis.display()
        )
    }
}

// ---- functions ----

/// A template value as go-yaml v3 sees the Go value (Helm's `toYamlPretty` encodes the
/// values directly, so a float64 stays a float: `1.2345678e+07`).
fn value_node(v: &Value, depth: usize) -> Node {
    if depth > 1000 {
        return Node::Null;
    }
    match v {
        Value::Missing | Value::Nil => Node::Null,
        Value::Bool(b) => Node::Bool(*b),
        Value::Int(i) | Value::Int64(i) => Node::Int(*i),
        Value::Float(f) => Node::Float(*f),
        Value::String(s) => Node::Str(s.clone()),
        Value::List(l) => Node::Seq(l.iter().map(|x| value_node(x, depth + 1)).collect()),
        Value::Map(m) => Node::Map(
            m.entries()
                .into_iter()
                .map(|(k, x)| (k, value_node(&x, depth + 1)))
                .collect(),
        ),
        Value::Object(o) => match o.entries() {
            Some(e) => Node::Map(
                e.into_iter()
                    .map(|(k, x)| (k, value_node(&x, depth + 1)))
                    .collect(),
            ),
            None => Node::Str(o.display()),
        },
    }
}

fn to_yaml(v: &Value, pretty: bool) -> String {
    if pretty {
        return yaml::emit(&value_node(v, 0), true)
            .trim_end_matches('\n')
            .to_string();
    }
    let Ok(json) = gitops_gotmpl::sprig::to_json(v, true, None) else {
        return String::new();
    };
    match yaml::parse_one(&json) {
        Ok(node) => yaml::emit(&node, pretty).trim_end_matches('\n').to_string(),
        Err(_) => String::new(),
    }
}

fn from_yaml(s: &str) -> Result<serde_json::Value, String> {
    let node = yaml::parse_one(s).map_err(|e| format!("yaml: line {}: {}", e.line, e.message))?;
    node.to_json()
}

fn error_map(msg: String) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Error".to_string(), Value::String(msg));
    Value::map(m)
}

/// Go's `encoding/json` would not hand back a JSON number as anything but a float64.
fn json_text(s: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str::<serde_json::Value>(s).map_err(|e| e.to_string())
}

/// Sprig plus Helm's own functions (`include`, `tpl`, `required`, `toYaml`, `lookup`, …),
/// without `env` and `expandenv`, and with `getHostByName` returning `""` unless
/// `enable_dns`, as Helm registers them.
pub fn functions(lookup: Arc<dyn Lookup>, enable_dns: bool) -> Functions {
    let mut f = Functions::sprig();
    f.remove("env");
    f.remove("expandenv");
    if !enable_dns {
        f.insert(
            "getHostByName",
            Function::new(&[Ty::String], |_| Ok(Value::string(""))),
        );
    }
    f.insert(
        "include",
        Function::with_call(&[Ty::String, Ty::Any], None, |call: &mut Call<'_>, a| {
            let name = a[0].as_str().unwrap_or("");
            if !call.templates().contains(name) {
                return Err(format!(
                    "template: no template {} associated with template \"gotpl\"",
                    gitops_gotmpl::gofmt::quote(name, false)
                ));
            }
            call.execute_template(name, &a[1])
                .map(Value::String)
                .map_err(|e| e.to_string())
        }),
    );
    f.insert(
        "tpl",
        Function::with_call(&[Ty::String, Ty::Any], None, |call: &mut Call<'_>, a| {
            let mut set = call.templates().clone();
            set.add("gotpl", a[0].as_str().unwrap_or(""))
                .map_err(|e| e.to_string())?;
            let out = call
                .execute_in(&set, "gotpl", &a[1])
                .map_err(|e| e.to_string())?;
            Ok(Value::String(out.replace("<no value>", "")))
        }),
    );
    f.insert(
        "required",
        Function::new(&[Ty::String, Ty::Any], |a| match &a[1] {
            Value::Nil | Value::Missing => Err(marked(a[0].as_str().unwrap_or(""))),
            Value::String(s) if s.is_empty() => Err(marked(a[0].as_str().unwrap_or(""))),
            v => Ok(v.clone()),
        }),
    );
    f.insert(
        "fail",
        Function::new(&[Ty::String], |a| Err(marked(a[0].as_str().unwrap_or("")))),
    );
    f.insert(
        "toYaml",
        Function::new(&[Ty::Any], |a| Ok(Value::String(to_yaml(&a[0], false)))),
    );
    f.insert(
        "toYamlPretty",
        Function::new(&[Ty::Any], |a| Ok(Value::String(to_yaml(&a[0], true)))),
    );
    f.insert(
        "mustToYaml",
        Function::new(&[Ty::Any], |a| {
            gitops_gotmpl::sprig::to_json(&a[0], true, None)?;
            Ok(Value::String(to_yaml(&a[0], false)))
        }),
    );
    f.insert(
        "fromYaml",
        Function::new(&[Ty::String], |a| {
            Ok(match from_yaml(a[0].as_str().unwrap_or("")) {
                Ok(serde_json::Value::Object(m)) => Value::from_json(&serde_json::Value::Object(m)),
                Ok(serde_json::Value::Null) => Value::map(BTreeMap::new()),
                Ok(_) => error_map(
                    "error unmarshaling JSON: json: cannot unmarshal into Go value of type map[string]interface {}".into(),
                ),
                Err(e) => error_map(e),
            })
        }),
    );
    f.insert(
        "fromYamlArray",
        Function::new(&[Ty::String], |a| {
            Ok(match from_yaml(a[0].as_str().unwrap_or("")) {
                Ok(serde_json::Value::Array(l)) => Value::from_json(&serde_json::Value::Array(l)),
                Ok(serde_json::Value::Null) => Value::list(Vec::new()),
                Ok(_) => Value::list(vec![Value::string(
                    "error unmarshaling JSON: json: cannot unmarshal into Go value of type []interface {}",
                )]),
                Err(e) => Value::list(vec![Value::String(e)]),
            })
        }),
    );
    f.insert(
        "fromJson",
        Function::new(&[Ty::String], |a| {
            Ok(match json_text(a[0].as_str().unwrap_or("")) {
                Ok(v @ serde_json::Value::Object(_)) => Value::from_json(&v),
                Ok(serde_json::Value::Null) => Value::map(BTreeMap::new()),
                Ok(_) => error_map(
                    "json: cannot unmarshal into Go value of type map[string]interface {}".into(),
                ),
                Err(e) => error_map(e),
            })
        }),
    );
    f.insert(
        "fromJsonArray",
        Function::new(&[Ty::String], |a| {
            Ok(match json_text(a[0].as_str().unwrap_or("")) {
                Ok(v @ serde_json::Value::Array(_)) => Value::from_json(&v),
                Ok(serde_json::Value::Null) => Value::list(Vec::new()),
                Ok(_) => Value::list(vec![Value::string(
                    "json: cannot unmarshal into Go value of type []interface {}",
                )]),
                Err(e) => Value::list(vec![Value::String(e)]),
            })
        }),
    );
    f.insert(
        "toToml",
        Function::new(&[Ty::Any], |a| {
            Ok(Value::String(crate::toml::to_toml(&a[0])))
        }),
    );
    f.insert(
        "fromToml",
        Function::new(&[Ty::String], |a| {
            Ok(crate::toml::from_toml(a[0].as_str().unwrap_or("")))
        }),
    );
    f.insert(
        "lookup",
        Function::new(
            &[Ty::String, Ty::String, Ty::String, Ty::String],
            move |a| {
                let s = |i: usize| a[i].as_str().unwrap_or("").to_string();
                lookup
                    .lookup(&s(0), &s(1), &s(2), &s(3))
                    .map(|v| Value::from_json(&v))
            },
        ),
    );
    f
}

// ---- rendering ----

fn chart_value(chart: &Chart, is_root: bool) -> Value {
    let raw = &chart.metadata.raw;
    let s = |k: &str| match raw.get(k) {
        Some(serde_json::Value::String(s)) => Value::String(s.clone()),
        _ => Value::string(""),
    };
    let list = |k: &str| match raw.get(k) {
        Some(v @ serde_json::Value::Array(_)) => Value::from_json(v),
        _ => Value::list(Vec::new()),
    };
    let mut m = BTreeMap::new();
    m.insert("APIVersion".into(), s("apiVersion"));
    m.insert(
        "Annotations".into(),
        match raw.get("annotations") {
            Some(v @ serde_json::Value::Object(_)) => Value::from_json(v),
            _ => Value::map(BTreeMap::new()),
        },
    );
    m.insert("AppVersion".into(), s("appVersion"));
    m.insert("Condition".into(), s("condition"));
    let deps = chart
        .metadata
        .dependencies
        .iter()
        .map(|d| {
            let mut m = BTreeMap::new();
            m.insert("Alias".to_string(), Value::String(d.alias.clone()));
            m.insert("Condition".to_string(), Value::String(d.condition.clone()));
            m.insert("Enabled".to_string(), Value::Bool(true));
            let imports = d
                .import_values
                .iter()
                .map(|iv| {
                    let (child, parent) = match iv {
                        crate::chart::ImportValue::Exports(n) => {
                            (format!("exports.{n}"), ".".to_string())
                        }
                        crate::chart::ImportValue::Path { child, parent } => {
                            (child.clone(), parent.clone())
                        }
                    };
                    let mut m = BTreeMap::new();
                    m.insert("child".to_string(), Value::String(child));
                    m.insert("parent".to_string(), Value::String(parent));
                    Value::map(m)
                })
                .collect();
            m.insert("ImportValues".to_string(), Value::list(imports));
            m.insert("Name".to_string(), Value::String(d.name.clone()));
            m.insert(
                "Repository".to_string(),
                Value::String(d.repository.clone()),
            );
            m.insert(
                "Tags".to_string(),
                Value::list(d.tags.iter().map(Value::string).collect()),
            );
            m.insert("Version".to_string(), Value::String(d.version.clone()));
            Value::map(m)
        })
        .collect();
    m.insert("Dependencies".into(), Value::list(deps));
    m.insert(
        "Deprecated".into(),
        Value::Bool(matches!(
            raw.get("deprecated"),
            Some(serde_json::Value::Bool(true))
        )),
    );
    m.insert("Description".into(), s("description"));
    m.insert("Home".into(), s("home"));
    m.insert("Icon".into(), s("icon"));
    m.insert("IsRoot".into(), Value::Bool(is_root));
    m.insert("Keywords".into(), list("keywords"));
    m.insert("KubeVersion".into(), s("kubeVersion"));
    let maintainers = match raw.get("maintainers") {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|x| {
                let f =
                    |k: &str| Value::string(x.get(k).and_then(|v| v.as_str()).unwrap_or_default());
                let mut m = BTreeMap::new();
                m.insert("Email".to_string(), f("email"));
                m.insert("Name".to_string(), f("name"));
                m.insert("URL".to_string(), f("url"));
                Value::map(m)
            })
            .collect(),
        _ => Vec::new(),
    };
    m.insert("Maintainers".into(), Value::list(maintainers));
    m.insert("Name".into(), Value::String(chart.name().to_string()));
    m.insert("Sources".into(), list("sources"));
    m.insert("Tags".into(), s("tags"));
    m.insert("Type".into(), s("type"));
    m.insert("Version".into(), s("version"));
    Value::map(m)
}

struct Tpl {
    name: String,
    /// The template's bytes, shared with the chart (read when collected).
    data: Contents,
    /// Its chart's `.`, one map for all the chart's templates as in Helm (a template's
    /// `set . "k" v` is seen by those executed after it), `.Template` set before each runs.
    shared: Dict,
    /// `.Template`.
    template: Value,
    /// The position in which it was collected (before Helm's sort), which orders the
    /// "not valid UTF-8" errors as a check at collection would.
    order: usize,
}

impl Tpl {
    /// The text, or the error naming the template when it is not UTF-8.
    fn text(&self) -> Result<&str, Error> {
        let bytes = self.data.bytes().unwrap_or_default();
        std::str::from_utf8(bytes)
            .map_err(|_| Error::chart(&self.name, "template is not valid UTF-8"))
    }

    fn is_partial(&self) -> bool {
        is_partial(&self.name)
    }

    /// The template's size in bytes.
    fn size(&self) -> usize {
        self.data.bytes().map_or(0, <[u8]>::len)
    }
}

/// Partials (`_*.tpl`, named by their path) only define templates: they are neither
/// executed nor printed themselves.
pub(crate) fn is_partial(path: &str) -> bool {
    path.rsplit('/').next().unwrap_or(path).starts_with('_')
}

fn collect(
    chart: &Chart,
    path: &str,
    values: Value,
    top: &BTreeMap<String, Value>,
    out: &mut Vec<Tpl>,
    is_root: bool,
) -> Result<Value, Error> {
    let files = Files {
        files: chart
            .files
            .iter()
            .map(|File { name, data }| (name.clone(), data.clone()))
            .collect(),
    };
    let mut subcharts = BTreeMap::new();
    for sub in &chart.dependencies {
        let sub_values = match &values {
            Value::Map(m) => m.get(sub.name()).unwrap_or(Value::map(BTreeMap::new())),
            _ => Value::map(BTreeMap::new()),
        };
        let sub_values = match sub_values {
            v @ Value::Map(_) => v,
            _ => Value::map(BTreeMap::new()),
        };
        let ctx = collect(sub, &sub.path_under(path), sub_values, top, out, false)?;
        subcharts.insert(sub.name().to_string(), ctx);
    }
    let mut ctx = top.clone();
    ctx.insert("Chart".into(), chart_value(chart, is_root));
    ctx.insert("Files".into(), Value::Object(Arc::new(files)));
    ctx.insert("Values".into(), values);
    ctx.insert("Subcharts".into(), Value::map(subcharts));
    let shared = Dict::from(ctx.clone());
    for t in &chart.templates {
        let name = format!("{path}/{}", t.name);
        // Read now, so that a failed read is reported in this order; the bytes are checked
        // to be UTF-8 when the template is parsed.
        t.bytes(path)?;
        let mut tm = BTreeMap::new();
        tm.insert("Name".to_string(), Value::String(name.clone()));
        tm.insert(
            "BasePath".to_string(),
            Value::String(format!("{path}/templates")),
        );
        out.push(Tpl {
            name,
            data: t.data.clone(),
            shared: shared.clone(),
            template: Value::map(tm),
            order: out.len(),
        });
    }
    // The parent's `.Subcharts` holds the same map, as in Helm.
    Ok(Value::Map(shared))
}

/// Values as templates see them: numbers from files are float64 (read through JSON), while
/// integers `--set` typed stay int64, as in Helm.
fn values_to_value(j: &serde_json::Value, depth: usize) -> Value {
    match j {
        serde_json::Value::Number(n) if !n.is_f64() && n.as_i64().is_some() => {
            Value::Int64(n.as_i64().unwrap_or_default())
        }
        serde_json::Value::Array(a) if depth < 1000 => {
            Value::list(a.iter().map(|x| values_to_value(x, depth + 1)).collect())
        }
        serde_json::Value::Object(o) if depth < 1000 => Value::map(
            o.iter()
                .map(|(k, x)| (k.clone(), values_to_value(x, depth + 1)))
                .collect(),
        ),
        other => Value::from_json(other),
    }
}

/// Sorts templates in Helm's order: deeper paths first, then names in reverse (so a parent's
/// `define`, parsed later, wins). Each path's depth is counted once, not at every comparison.
fn sort_helm_order(tpls: &mut [Tpl]) {
    tpls.sort_by(|a, b| b.name.cmp(&a.name));
    // Stable: names stay in reverse order within a depth.
    tpls.sort_by_cached_key(|t| std::cmp::Reverse(t.name.bytes().filter(|&c| c == b'/').count()));
}

/// Renders every template of `chart` (with its processed subcharts) with the coalesced
/// `values`; returns file name → output, partials and `NOTES.txt` left out.
///
/// # Errors
/// [`Error::Template`] with the engine's message.
pub fn render(
    chart: &Chart,
    values: &serde_json::Map<String, serde_json::Value>,
    ctx: &Context,
) -> Result<BTreeMap<String, String>, Error> {
    render_keeping(chart, values, ctx, None).map(|(out, _parsed)| out)
}

/// The template set and render contexts of one render, kept alive by its owner.
pub(crate) type Parsed = Box<dyn std::any::Any>;

/// [`render`], also handing back the parse trees and render contexts instead of freeing them,
/// so that a one-shot caller can skip that work (see [`crate::Retained`]).
pub(crate) fn render_keeping(
    chart: &Chart,
    values: &serde_json::Map<String, serde_json::Value>,
    ctx: &Context,
    ahead: Option<&ParseAhead>,
) -> Result<(BTreeMap<String, String>, Parsed), Error> {
    render_all(chart, values, ctx, None, ahead)
}

/// Rendered outputs by template name.
#[cfg(feature = "release")]
pub(crate) type Outputs = BTreeMap<String, String>;

/// [`render`], also returning the rendered `NOTES.txt` files (of the chart and its
/// subcharts) by template name, as `helm install` renders them for the release's notes.
///
/// # Errors
/// As [`render`].
#[cfg(feature = "release")]
pub(crate) fn render_with_notes(
    chart: &Chart,
    values: &serde_json::Map<String, serde_json::Value>,
    ctx: &Context,
) -> Result<(Outputs, Outputs), Error> {
    let mut notes = BTreeMap::new();
    let (out, _parsed) = render_all(chart, values, ctx, Some(&mut notes), None)?;
    Ok((out, notes))
}

/// The render of [`render_keeping`]; `NOTES.txt` outputs go to `notes` when given.
fn render_all(
    chart: &Chart,
    values_json: &serde_json::Map<String, serde_json::Value>,
    ctx: &Context,
    mut notes: Option<&mut BTreeMap<String, String>>,
    ahead: Option<&ParseAhead>,
) -> Result<(BTreeMap<String, String>, Parsed), Error> {
    // The values and every template's `.` (rebuilt when the templates must run again).
    let contexts = || -> Result<Vec<Tpl>, Error> {
        let mut release = BTreeMap::new();
        release.insert("Name".to_string(), Value::String(ctx.release_name.clone()));
        release.insert(
            "Namespace".to_string(),
            Value::String(ctx.namespace.clone()),
        );
        release.insert("IsUpgrade".to_string(), Value::Bool(ctx.is_upgrade));
        release.insert("IsInstall".to_string(), Value::Bool(!ctx.is_upgrade));
        release.insert("Revision".to_string(), Value::Int(ctx.revision));
        release.insert("Service".to_string(), Value::string("Helm"));
        let caps = Capabilities {
            kube: Arc::new(KubeVersion {
                version: ctx.kube_version.clone(),
            }),
            apis: Arc::new(VersionSet {
                versions: Arc::new(ctx.api_versions.clone()),
            }),
        };
        let mut top = BTreeMap::new();
        top.insert("Release".to_string(), Value::map(release));
        top.insert("Capabilities".to_string(), Value::Object(Arc::new(caps)));
        let mut tpls = Vec::new();
        // Converted in place: wrapping the map in a JSON value first copied all of it.
        let values = Value::map(
            values_json
                .iter()
                .map(|(k, x)| (k.clone(), values_to_value(x, 1)))
                .collect(),
        );
        collect(chart, chart.name(), values, &top, &mut tpls, true)?;
        sort_helm_order(&mut tpls);
        Ok(tpls)
    };
    let mut tpls = contexts()?;
    let mut set = match ahead {
        Some(ahead) => ahead.0.set.empty_like(),
        None => new_set(ctx),
    };
    let threads = threads_for(tpls.iter().map(Tpl::size).sum(), ctx.threads);
    parse_all(&mut set, &tpls, threads, ahead)?;
    let side_by_side = if threads > 1 {
        execute_side_by_side(&set, &tpls, threads)
    } else {
        None
    };
    let executed = match side_by_side {
        Some(executed) => executed?,
        None => {
            if threads > 1 {
                // A template changed a map the others share: Helm executes one template
                // after another, each seeing the changes of the ones before, so they run
                // again in that order, from fresh values (the parsed templates are kept).
                tpls = contexts()?;
            }
            let mut executed = Vec::with_capacity(tpls.len());
            for (i, t) in tpls.iter().enumerate() {
                if !t.is_partial() {
                    executed.push((i, execute_in_order(&set, t)?));
                }
            }
            executed
        }
    };
    let mut out = BTreeMap::new();
    for (i, text) in executed {
        let t = &tpls[i];
        if t.name.ends_with("NOTES.txt") {
            if let Some(notes) = notes.as_deref_mut() {
                notes.insert(t.name.clone(), text.replace("<no value>", ""));
            }
            continue;
        }
        // `replace` copies every output; most have nothing to replace.
        let text = if text.contains("<no value>") {
            text.replace("<no value>", "")
        } else {
            text
        };
        out.insert(t.name.clone(), text);
    }
    Ok((out, Box::new((set, tpls))))
}

/// Below this many bytes of templates (or of rendered output), handing work to other
/// threads costs more than it saves.
const PARALLEL_MIN_BYTES: usize = 128 * 1024;

/// How many threads work on `bytes` of templates or output when `threads` are allowed.
pub(crate) fn threads_for(bytes: usize, threads: usize) -> usize {
    if bytes >= PARALLEL_MIN_BYTES {
        threads.max(1)
    } else {
        1
    }
}

/// The templates of a chart and all its subcharts, parsed on the worker pool ahead of the
/// render: parsing needs only the text, and it is about half of a large chart's work, which
/// otherwise waits for the chart to load and the values to be worked out. A template is
/// known by its file, not its name, since the names the render gives (which come from the
/// charts' `Chart.yaml`, aliases and conditions) are not known yet: each is parsed under a
/// name of its own and renamed when the render takes it ([`gitops_gotmpl::Parsed::renamed`]),
/// or parsed again by the render when it failed, so that the error names the template as
/// Helm does. Each is parsed once, by whichever thread claims it first: a pool thread ahead
/// of time or the render when it gets there.
pub(crate) struct ParseAhead(Arc<Ahead>);

struct Ahead {
    /// For the function names a parse checks; the render uses the same set.
    set: Templates,
    /// Largest first, as the render takes them.
    jobs: Vec<AheadJob>,
    /// Job by file ([`Contents::id`]).
    by_file: std::collections::HashMap<usize, usize>,
    /// How many threads parse: the pool's and the caller's.
    threads: usize,
    /// Set when the render begins parsing (or failed before): the pool stops parsing ahead.
    cancelled: AtomicBool,
}

struct AheadJob {
    name: String,
    data: Contents,
    claimed: AtomicBool,
    /// `None` until parsed; then `Some(None)` when not parsed here (unreadable, not UTF-8,
    /// or the parse panicked), left to the render, which reports it in Helm's order.
    parsed: Mutex<Option<Option<AheadResult>>>,
    /// Signalled when `parsed` is set.
    ready: std::sync::Condvar,
}

type AheadResult = Result<gitops_gotmpl::Parsed, gitops_gotmpl::Error>;

impl ParseAhead {
    /// The parse-ahead of `templates` (a name for each and its file), or `None` when the
    /// render would parse them on one thread anyway (see [`threads_for`]). Nothing is parsed
    /// before [`ParseAhead::parser`]'s job runs.
    pub(crate) fn new(templates: Vec<(String, Contents)>, ctx: &Context) -> Option<ParseAhead> {
        let mut jobs: Vec<AheadJob> = templates
            .into_iter()
            .map(|(name, data)| AheadJob {
                name,
                data,
                claimed: AtomicBool::new(false),
                parsed: Mutex::new(None),
                ready: std::sync::Condvar::new(),
            })
            .collect();
        let bytes = jobs.iter().map(|j| j.data.size_hint()).sum::<u64>();
        let threads = threads_for(usize::try_from(bytes).unwrap_or(usize::MAX), ctx.threads);
        if threads < 2 {
            return None;
        }
        jobs.sort_by_key(|j| std::cmp::Reverse(j.data.size_hint()));
        let by_file = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| (j.data.id(), i))
            .collect();
        Some(ParseAhead(Arc::new(Ahead {
            set: new_set(ctx),
            jobs,
            by_file,
            threads,
            cancelled: AtomicBool::new(false),
        })))
    }

    /// The templates of the files of a chart directory (named by their paths in it), as
    /// listed before the chart is loaded.
    pub(crate) fn of_files(files: &[crate::chart::File], ctx: &Context) -> Option<ParseAhead> {
        let templates = files
            .iter()
            .filter(|f| crate::chart::is_chart_template(&f.name))
            .map(|f| (f.name.clone(), f.data.clone()))
            .collect();
        ParseAhead::new(templates, ctx)
    }

    /// The templates of a loaded chart and its subcharts, parsing on the pool from now on.
    pub(crate) fn start(chart: &Chart, ctx: &Context) -> Option<ParseAhead> {
        fn walk(chart: &Chart, path: &str, out: &mut Vec<(String, Contents)>, depth: usize) {
            if depth > crate::chart::MAX_CHART_DEPTH {
                return;
            }
            for sub in &chart.dependencies {
                walk(sub, &sub.path_under(path), out, depth + 1);
            }
            out.extend(
                chart
                    .templates
                    .iter()
                    .map(|t| (format!("{path}/{}", t.name), t.data.clone())),
            );
        }
        let mut templates = Vec::new();
        walk(chart, chart.name(), &mut templates, 0);
        let ahead = ParseAhead::new(templates, ctx)?;
        start_pool();
        rayon_core::spawn(ahead.parser());
        Some(ahead)
    }

    /// The job that parses the templates on the pool, from the largest; it starts one job
    /// fewer than the threads that will parse, since the caller has other work meanwhile
    /// (loading the chart, the values) and a pool thread per core would take its core away.
    pub(crate) fn parser(&self) -> impl FnOnce() + Send + 'static {
        let ahead = Arc::clone(&self.0);
        move || {
            for _ in 2..ahead.threads {
                let ahead = Arc::clone(&ahead);
                rayon_core::spawn(move || ahead.parse_unclaimed());
            }
            ahead.parse_unclaimed();
        }
    }

    /// The result for the file `data`, as the template `name`, waiting if a pool thread is
    /// parsing it; `None` when it is not one of the templates parsed ahead, was already
    /// taken (one file rendered twice, under two aliases), or failed under another name.
    fn take(&self, name: &str, data: &Contents) -> Option<AheadResult> {
        let ahead = &self.0;
        let &i = ahead.by_file.get(&data.id())?;
        let job = &ahead.jobs[i];
        ahead.claim(i);
        // Claimed by this thread (and parsed above) or by one that is parsing it now.
        let mut parsed = job.parsed.lock().unwrap_or_else(|e| e.into_inner());
        while parsed.is_none() {
            parsed = job.ready.wait(parsed).unwrap_or_else(|e| e.into_inner());
        }
        match parsed.as_mut().and_then(Option::take)? {
            Ok(tree) => Some(Ok(tree.renamed(name))),
            Err(e) if job.name == name => Some(Err(e)),
            Err(_) => None,
        }
    }

    /// The jobs of the templates the render parses, in the order they are parsed ahead.
    fn jobs_of(&self, tpls: &[Tpl]) -> Vec<usize> {
        let mut jobs: Vec<usize> = tpls
            .iter()
            .filter_map(|t| self.0.by_file.get(&t.data.id()).copied())
            .collect();
        jobs.sort_unstable();
        jobs
    }
}

impl Drop for ParseAhead {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Ahead {
    /// Stops the pool's parsing ahead after the template it is on.
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Parses, one after another, the templates no thread has claimed, until cancelled.
    fn parse_unclaimed(&self) {
        for i in 0..self.jobs.len() {
            if self.cancelled.load(Ordering::Relaxed) {
                return;
            }
            self.claim(i);
        }
    }

    /// Parses job `i` unless a thread has claimed it.
    fn claim(&self, i: usize) {
        let job = &self.jobs[i];
        if job.claimed.swap(true, Ordering::AcqRel) {
            return;
        }
        // A panic must still leave a result, or `take` would wait for ever (the render then
        // parses the template itself).
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            parse_file(&self.set, &job.name, &job.data)
        }))
        .unwrap_or(None);
        *job.parsed.lock().unwrap_or_else(|e| e.into_inner()) = Some(parsed);
        job.ready.notify_all();
    }
}

/// Parses a template file as `name`, sharing its text when it was read as text; `None` when
/// its bytes are unreadable or not UTF-8.
fn parse_file(set: &Templates, name: &str, data: &Contents) -> Option<AheadResult> {
    if let Some(text) = data.text() {
        return Some(set.parse_shared(name, text));
    }
    let text = std::str::from_utf8(data.bytes().ok()?).ok()?;
    Some(set.parse_apart(name, text))
}

/// The template set of a render: Helm's functions, a missing key printing as empty.
fn new_set(ctx: &Context) -> Templates {
    Templates::new(functions(ctx.lookup.clone(), ctx.enable_dns))
        .with_options(Options::default().with_missing_key(MissingKey::Zero))
}

/// Parses every template into `set` in Helm's order (a later `define` replaces an earlier
/// one), on up to `threads` threads. The error is the one Helm reports: the first template
/// that is not UTF-8 in the order of collection, else the first parse error in Helm's order.
fn parse_all(
    set: &mut Templates,
    tpls: &[Tpl],
    threads: usize,
    ahead: Option<&ParseAhead>,
) -> Result<(), Error> {
    enum Failed {
        NotUtf8(Error),
        Parse(Error),
    }
    let shared: &Templates = set;
    if let Some(ahead) = ahead {
        // The pool stops parsing ahead (it may have templates the render leaves out, of a
        // subchart a condition disabled); what the render needs and nobody has parsed yet
        // is parsed now on every thread, since waiting for one template while another is
        // left unparsed would leave a thread idle.
        ahead.0.cancel();
        let jobs = ahead.jobs_of(tpls);
        let workers: Vec<usize> = (0..threads).collect();
        side_by_side(&workers, threads, false, |_| {
            for &i in &jobs {
                ahead.0.claim(i);
            }
            Ok::<(), ()>(())
        });
    }
    // Every template is parsed, failed or not: the error reported is decided afterwards.
    // Largest first, so that no thread is left with a large one at the end.
    let mut by_size: Vec<usize> = (0..tpls.len()).collect();
    by_size.sort_by_key(|&i| std::cmp::Reverse(tpls[i].size()));
    let parsed_by_size = side_by_side(&by_size, threads, false, |&i| {
        let t = &tpls[i];
        let parsed = match ahead
            .and_then(|a| a.take(&t.name, &t.data))
            .or_else(|| parse_file(shared, &t.name, &t.data))
        {
            Some(parsed) => parsed,
            // Not UTF-8: the error, naming the template.
            None => shared.parse_apart(&t.name, t.text().map_err(Failed::NotUtf8)?),
        };
        parsed.map_err(|e| {
            Failed::Parse(Error::Template {
                message: parse_error(&e),
            })
        })
    });
    let mut parsed: Vec<_> = std::iter::repeat_with(|| None).take(tpls.len()).collect();
    for (i, p) in by_size.into_iter().zip(parsed_by_size) {
        parsed[i] = p;
    }
    let mut first_not_utf8: Option<(usize, Error)> = None;
    let mut trees = Vec::with_capacity(parsed.len());
    for (t, p) in tpls.iter().zip(parsed) {
        match p {
            Some(Ok(p)) => trees.push(Ok(p)),
            Some(Err(Failed::Parse(e))) => trees.push(Err(e)),
            Some(Err(Failed::NotUtf8(e))) => {
                if first_not_utf8
                    .as_ref()
                    .is_none_or(|(order, _)| t.order < *order)
                {
                    first_not_utf8 = Some((t.order, e));
                }
            }
            // Without `stop_at_error`, `side_by_side` gives every item a result.
            None => trees.push(Err(Error::Template {
                message: format!("template {} was not parsed", t.name),
            })),
        }
    }
    if let Some((_, e)) = first_not_utf8 {
        return Err(e);
    }
    for tree in trees {
        set.insert(tree?);
    }
    Ok(())
}

/// Executes a template side by side with others: with its own copy of its chart's `.`,
/// watched by `changed` as the maps it reaches are (in Helm, the chart's templates share it).
fn execute_apart(set: &Templates, t: &Tpl, changed: &Arc<AtomicBool>) -> Result<String, Error> {
    let mut own = t.shared.to_map();
    own.insert("Template".into(), t.template.clone());
    let own = Dict::from(own);
    Value::Map(own.clone()).watch_writes(changed);
    execute_with(set, t, &own)
}

/// Executes a template with its chart's `.`, as Helm does one template after another.
fn execute_in_order(set: &Templates, t: &Tpl) -> Result<String, Error> {
    t.shared.insert("Template", t.template.clone());
    execute_with(set, t, &t.shared)
}

fn execute_with(set: &Templates, t: &Tpl, dot: &Dict) -> Result<String, Error> {
    set.execute(&t.name, &Value::Map(dot.clone()))
        .map_err(|e| Error::Template {
            message: exec_error(&e),
        })
}

/// Executes the templates that are not partials on up to `threads` threads, with the
/// outcome of executing them one after another in Helm's order: their outputs (by index in
/// `tpls`), or the first error in that order. `None` when that outcome could depend on the order: a template
/// changed a map the others can see (Sprig's `set`, `unset`, `merge`… on `.Values`, or on
/// `.` itself, which Helm shares between the templates of a chart), which in Helm the
/// templates after it see changed.
fn execute_side_by_side(
    set: &Templates,
    tpls: &[Tpl],
    threads: usize,
) -> Option<Result<Vec<(usize, String)>, Error>> {
    let changed = Arc::new(AtomicBool::new(false));
    // Every map a template can reach, before any runs (each template's own copy of `.` is
    // watched as it is made).
    for t in tpls {
        Value::Map(t.shared.clone()).watch_writes(&changed);
    }
    let runnable: Vec<usize> = (0..tpls.len()).filter(|&i| !tpls[i].is_partial()).collect();
    let outputs = side_by_side(&runnable, threads, true, |&i| {
        execute_apart(set, &tpls[i], &changed)
    });
    if changed.load(Ordering::Relaxed) {
        return None;
    }
    let mut executed = Vec::with_capacity(runnable.len());
    for (i, out) in runnable.into_iter().zip(outputs) {
        match out {
            Some(Ok(text)) => executed.push((i, text)),
            Some(Err(e)) => return Some(Err(e)),
            // Not taken after a failure earlier in the order, which returned above.
            None => return None,
        }
    }
    Some(Ok(executed))
}

/// `f` applied to every item on up to `threads` threads of the worker pool, each taking the
/// next item not yet taken; the results in the items' order. A panic in `f` reaches the
/// caller, as it would on one thread. With
/// `stop_at_error`, no item is taken after one has failed, so every item before a failure
/// has its result (items are taken in order) and the ones after may have none.
pub(crate) fn side_by_side<T: Sync, R: Send, E: Send>(
    items: &[T],
    threads: usize,
    stop_at_error: bool,
    f: impl Fn(&T) -> Result<R, E> + Sync,
) -> Vec<Option<Result<R, E>>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || {
        let mut done = Vec::new();
        while !(stop_at_error && failed.load(Ordering::Relaxed)) {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else {
                break;
            };
            let r = f(item);
            if r.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            done.push((i, r));
        }
        done
    };
    let mut results: Vec<Option<Result<R, E>>> =
        std::iter::repeat_with(|| None).take(items.len()).collect();
    let helpers = threads.min(items.len()).saturating_sub(1);
    let all = if helpers == 0 {
        // One thread: the caller's, without handing the work to the pool.
        work()
    } else {
        let all = Mutex::new(Vec::new());
        start_pool();
        // The caller works too, beside `helpers` pool threads (see `start_pool`).
        rayon_core::in_place_scope(|scope| {
            for _ in 0..helpers {
                scope.spawn(|_| {
                    let done = work();
                    all.lock().unwrap_or_else(|e| e.into_inner()).extend(done);
                });
            }
            let done = work();
            all.lock().unwrap_or_else(|e| e.into_inner()).extend(done);
        });
        all.into_inner().unwrap_or_else(|e| e.into_inner())
    };
    for (i, r) in all {
        results[i] = Some(r);
    }
    results
}

/// The stack of a helper thread: execution stops at its own budget (1 MiB by default,
/// `Options::max_stack_bytes`), and the parser at `parse::MAX_PARSE_STACK`, with room left.
const HELPER_STACK: usize = 4 << 20;

/// Starts the process's pool of worker threads (rayon's global pool, with stacks of
/// [`HELPER_STACK`]) if it is not running yet, without waiting for it. Work is then handed to
/// threads that are already there: starting threads for each step of a render cost up to a
/// few milliseconds of scheduling each, more than the work they took over. A host that built
/// the global pool itself keeps its own.
///
/// One thread fewer than the cores: the thread that hands work to the pool works beside it
/// (`side_by_side`), rather than sleeping while a pool thread runs its part. With a thread
/// more than the cores, a woken thread could wait milliseconds in one core's queue while the
/// other core went idle (seen with `perf sched timehist`: the scheduler keeps a thread
/// that just ran where it ran).
///
/// Its threads are pinned to cores when a render asked for it before the pool started
/// ([`crate::TemplateOptions::pin_threads`]).
pub(crate) fn start_pool() {
    POOL.call_once(|| {
        let _ = rayon_core::ThreadPoolBuilder::new()
            .num_threads(cores().saturating_sub(1).max(1))
            .stack_size(HELPER_STACK)
            .start_handler(|index| {
                if let Some(core) = crate::pin::pool_core(index) {
                    crate::pin::pin_current_thread(core);
                }
            })
            .build_global();
        rayon_core::spawn(|| {});
    });
}

static POOL: std::sync::Once = std::sync::Once::new();

/// Whether [`start_pool`] has run.
pub(crate) fn pool_started() -> bool {
    POOL.is_completed()
}

/// The cores this process may use, asked once (each asking reads the cgroup's files).
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Marks the message of `fail` and `required`, which Helm prints alone after the outermost
/// location, however deeply the call was included.
const MARK_START: &str = "HELM_ERR_START";
const MARK_END: &str = "HELM_ERR_END";

fn marked(msg: &str) -> String {
    format!("{MARK_START}{msg}{MARK_END}")
}

fn parse_error(e: &gitops_gotmpl::Error) -> String {
    match e {
        gitops_gotmpl::Error::Parse { name, line, .. } => {
            // Helm keeps the last `: `-separated part of Go's text.
            let go = e.to_string();
            let last = go.rsplit(": ").next().unwrap_or_default();
            format!("parse error at ({name}:{line}): {last}")
        }
        other => other.to_string(),
    }
}

fn exec_error(e: &gitops_gotmpl::Error) -> String {
    let text = e.to_string();
    if let gitops_gotmpl::Error::Exec(x) = e
        && let Some(start) = text.find(MARK_START)
    {
        let rest = &text[start + MARK_START.len()..];
        let msg = rest.split(MARK_END).next().unwrap_or(rest);
        return format!("execution error at ({}): {msg}", x.location);
    }
    helm_exec_text(&text, 0)
}

/// Helm v4's layout of Go's `template: LOC: executing "T" at <NODE>: MESSAGE`: one part per
/// line, and an `include`d template's own error laid out the same way below it.
fn helm_exec_text(text: &str, depth: usize) -> String {
    let parsed = (|| {
        let rest = text.strip_prefix("template: ")?;
        let (loc, rest) = rest.split_once(": executing \"")?;
        let (tpl, rest) = rest.split_once("\" at <")?;
        let (node, msg) = rest.split_once(">: ")?;
        Some((loc, tpl, node, msg))
    })();
    let Some((loc, tpl, node, msg)) = parsed else {
        return text.to_string();
    };
    // Helm leaves Go's text as it is when a function other than `include` or `tpl` failed.
    let mut chain = text;
    while let Some(i) = chain.find("error calling ") {
        let name = chain[i + "error calling ".len()..]
            .split(':')
            .next()
            .unwrap_or("");
        if name != "include" && name != "tpl" {
            return text.to_string();
        }
        chain = &chain[i + 1..];
    }
    let msg = match msg.split_once(": ") {
        Some((head, inner)) if head.starts_with("error calling ") && depth < 100 => {
            format!("{head}:\n{}", helm_exec_text(inner, depth + 1))
        }
        _ => msg.to_string(),
    };
    format!("{loc}\n  executing \"{tpl}\" at <{node}>:\n    {msg}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_glob_like_gobwas() {
        assert!(glob_all("files/*.txt", "files/a.txt"));
        assert!(!glob_all("files/*.txt", "files/d/a.txt"));
        assert!(glob_all("files/**.txt", "files/d/a.txt"));
        assert!(glob_all("**", ".helmignore"));
        assert!(glob_all("files/{a,b}.txt", "files/b.txt"));
    }

    #[test]
    fn to_yaml_matches_helm_for_numbers_and_strings() {
        let v = Value::from_json(&serde_json::json!({
            "n": 1000000, "f": 0.5, "s": "yes", "e": "", "l": [1, "a"], "m": {}
        }));
        assert_eq!(
            to_yaml(&v, false),
            "e: \"\"\nf: 0.5\nl:\n- 1\n- a\nm: {}\n\"n\": 1000000\ns: \"yes\""
        );
    }
}
