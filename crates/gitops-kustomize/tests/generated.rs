//! Randomised differential tests: trees shaped like a fleet repository (a base of Deployments,
//! Services and ConfigMaps, overlays per environment, components with patches, a monitoring
//! component with custom kinds), generated from a seed, each overlay built by `kubectl kustomize`
//! (asked at test time) and by this crate. The bytes must be identical; where kubectl fails, we
//! must fail too.
//!
//! - `GITOPS_GENERATED_SEEDS=N` runs N seeds (default 100), `GITOPS_GENERATED_FIRST=S` starts at
//!   seed S (default 0): `GITOPS_GENERATED_FIRST=41 GITOPS_GENERATED_SEEDS=1` replays seed 41.
//! - Each seed's tree has one to three overlays; the suite builds one of them (the seed picks
//!   which), `GITOPS_GENERATED_ALL=1` builds all.
//! - A failing seed is printed with the path of its tree, which is kept for reproduction.
//! - `write_generated_trees` (ignored by default) writes the trees of those seeds under
//!   `GITOPS_GENERATED_OUT`, one folder per overlay with a `build.txt` as in `tests/corpus/`, for
//!   the corpus script and the peer benchmark.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use gitops_kustomize::{BuildOptions, build_to_string};
use serde_json::{Map, Value, json};

// --- A small deterministic PRNG (splitmix64) -----------------------------------------------

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// True with probability `percent`/100.
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// A non-empty random subset of `items`, in their order.
    fn some<T: Clone>(&mut self, items: &[T]) -> Vec<T> {
        loop {
            let chosen: Vec<T> = items.iter().filter(|_| self.chance(50)).cloned().collect();
            if !chosen.is_empty() {
                return chosen;
            }
        }
    }
}

// --- Writing YAML by hand (block style, varied quoting), so the reader sees what people write --

fn is_plain_safe(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-./_".contains(c))
        && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        )
}

fn scalar(v: &Value, rng: &mut Rng) -> String {
    match v {
        Value::String(s) if is_plain_safe(s) && rng.chance(70) => s.clone(),
        Value::String(s) if !s.contains(['\'', '\n']) && rng.chance(50) => format!("'{s}'"),
        other => other.to_string(),
    }
}

fn emit(v: &Value, indent: usize, rng: &mut Rng, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if is_plain_safe(k) {
                    k.clone()
                } else {
                    Value::String(k.clone()).to_string()
                };
                match v {
                    Value::Object(c) if !c.is_empty() => {
                        let _ = writeln!(out, "{pad}{key}:");
                        emit(v, indent + 2, rng, out);
                    }
                    Value::Array(c) if !c.is_empty() => {
                        let _ = writeln!(out, "{pad}{key}:");
                        // Lists under a key: indented or not, both are common.
                        let inner = if rng.chance(50) { indent } else { indent + 2 };
                        emit(v, inner, rng, out);
                    }
                    Value::String(s) if s.contains('\n') => {
                        let _ = writeln!(out, "{pad}{key}: |");
                        for line in s.lines() {
                            let _ = writeln!(out, "{pad}  {line}");
                        }
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}{key}: {}", flow(v, rng));
                    }
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(m) if !m.is_empty() => {
                        let mut inner = String::new();
                        emit(item, indent + 2, rng, &mut inner);
                        // The first line joins the dash.
                        let _ = write!(out, "{pad}- {}", &inner[indent + 2..]);
                    }
                    _ => {
                        let _ = writeln!(out, "{pad}- {}", flow(item, rng));
                    }
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", flow(other, rng));
        }
    }
}

fn flow(v: &Value, rng: &mut Rng) -> String {
    match v {
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(_) | Value::Array(_) => v.to_string(),
        other => scalar(other, rng),
    }
}

fn yaml(v: &Value, rng: &mut Rng) -> String {
    let mut out = String::new();
    emit(v, 0, rng, &mut out);
    out
}

// --- The tree ------------------------------------------------------------------------------

const APPS: [&str; 4] = ["web", "api", "worker", "cache"];
const ENVS: [&str; 3] = ["dev", "staging", "prod"];
const REGISTRY: &str = "registry.example.com/team";

/// One generated repository: files by path, and the overlays to build.
struct Tree {
    files: BTreeMap<PathBuf, String>,
    overlays: Vec<String>,
}

struct Gen {
    rng: Rng,
    files: BTreeMap<PathBuf, String>,
    apps: Vec<&'static str>,
    /// The base's namePrefix and nameSuffix: patches above the base name its objects so.
    base_prefix: String,
    base_suffix: String,
    /// Whether the base generates `<app>-config` / `<app>-secret`.
    generated: bool,
}

impl Gen {
    fn put(&mut self, path: &str, v: &Value) {
        let text = yaml(v, &mut self.rng);
        self.files.insert(PathBuf::from(path), text);
    }
    fn put_docs(&mut self, path: &str, docs: &[Value]) {
        let mut text = String::new();
        for (i, d) in docs.iter().enumerate() {
            if i > 0 || self.rng.chance(20) {
                text.push_str("---\n");
            }
            text.push_str(&yaml(d, &mut self.rng));
        }
        self.files.insert(PathBuf::from(path), text);
    }
    fn name(&self, app: &str) -> String {
        format!("{}{app}{}", self.base_prefix, self.base_suffix)
    }

    fn deployment(&mut self, app: &str) -> Value {
        let mut metadata = json!({ "name": app, "labels": { "app": app } });
        if self.rng.chance(50) {
            metadata["annotations"] = json!({ "team": "platform" });
        }
        let mut pod_metadata = json!({ "labels": { "app": app } });
        if self.rng.chance(30) {
            pod_metadata["annotations"] = json!({ "checksum/config": "abc" });
        }
        let mut container = json!({
            "name": app,
            "image": format!("{REGISTRY}/{app}:1.0.0"),
            "ports": [{ "containerPort": 8080, "name": "http" }],
        });
        if self.generated {
            container["envFrom"] = json!([{ "configMapRef": { "name": format!("{app}-config") } }]);
        }
        // JSON patches append to `env`, which must exist for kustomize too.
        container["env"] = json!([{ "name": "MODE", "value": "normal" }]);
        let mut spec = json!({ "containers": [container] });
        if self.generated {
            spec["volumes"] =
                json!([{ "name": "secret", "secret": { "secretName": format!("{app}-secret") } }]);
        }
        if self.rng.chance(30) {
            spec["initContainers"] = json!([{ "name": "init", "image": "busybox:1.36", "command": ["sh", "-c", "true"] }]);
        }
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata,
            "spec": {
                "replicas": 1,
                "selector": { "matchLabels": { "app": app } },
                "template": { "metadata": pod_metadata, "spec": spec },
            },
        })
    }

    fn service(&mut self, app: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": { "name": app, "labels": { "app": app } },
            "spec": {
                "selector": { "app": app },
                "ports": [{ "name": "http", "port": 80, "targetPort": "http" }],
            },
        })
    }

    /// A strategic-merge patch of `app`'s Deployment (named as the layer below names it).
    fn smp(&mut self, app: &str, name: &str) -> Value {
        match self.rng.below(5) {
            0 => json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": name },
                "spec": { "template": { "spec": { "containers": [{
                    "name": app,
                    "resources": { "limits": { "cpu": "500m", "memory": "256Mi" } },
                }]}}},
            }),
            1 => json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": name },
                "spec": { "template": { "spec": { "containers": [{
                    "name": app,
                    "env": [{ "name": "LOG_LEVEL", "value": "debug" }],
                }]}}},
            }),
            2 => json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": name,
                    "annotations": { "patched-by": "smp" } },
                "spec": { "template": { "metadata": { "annotations": { "rollme": "1" } } } },
            }),
            3 => json!({
                "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": name },
                "spec": { "template": { "spec": { "securityContext": { "runAsNonRoot": true },
                    "containers": [{ "name": "sidecar", "image": "envoy:v1.30" }] } } },
            }),
            _ => json!({
                "apiVersion": "v1", "kind": "Service", "metadata": { "name": name },
                "spec": { "ports": [{ "name": "metrics", "port": 9090, "targetPort": 9090 }] },
            }),
        }
    }

    /// JSON 6902 operations on a Deployment.
    fn ops(&mut self) -> Value {
        let mut ops = Vec::new();
        for _ in 0..1 + self.rng.below(3) {
            ops.push(match self.rng.below(7) {
                0 => {
                    json!({ "op": "add", "path": "/metadata/annotations/owner", "value": "team-a" })
                }
                // kustomize creates a missing `/metadata/annotations`, but no deeper parent:
                // the pod template's annotations are added whole.
                1 => json!({ "op": "add", "path": "/spec/template/metadata/annotations",
                    "value": { "prometheus.io/scrape": "true", "prometheus.io/port": "8080" } }),
                2 => json!({ "op": "replace", "path": "/spec/replicas", "value": 2 }),
                3 => json!({ "op": "add", "path": "/spec/template/spec/containers/0/env/-",
                    "value": { "name": "EXTRA", "value": "1" } }),
                4 => json!({ "op": "add", "path": "/metadata/labels/tier", "value": "backend" }),
                5 => json!({ "op": "add", "path": "/spec/revisionHistoryLimit", "value": 3 }),
                _ => json!({ "op": "replace", "path": "/spec/template/spec/containers/0/image",
                    "value": "registry.example.com/team/patched:2.0" }),
            });
        }
        Value::Array(ops)
    }

    /// A target selecting Deployments: by name, by kind, or by label selector.
    fn target(&mut self, app: &str) -> Value {
        match self.rng.below(4) {
            0 => json!({ "kind": "Deployment", "name": self.name(app) }),
            1 => json!({ "kind": "Deployment" }),
            2 => json!({ "labelSelector": format!("app={app}"), "kind": "Deployment" }),
            _ => {
                json!({ "group": "apps", "version": "v1", "kind": "Deployment", "name": format!("{}.*", &self.name(app)[..2]) })
            }
        }
    }

    /// Entries of `patches:` (inline or from files under `dir`), mixing both kinds.
    fn patches(&mut self, dir: &str, fields: &mut Map<String, Value>) {
        let mut entries = Vec::new();
        let mut legacy_smp = Vec::new();
        let mut legacy_json = Vec::new();
        for i in 0..1 + self.rng.below(3) {
            let app = *self.rng.pick(&self.apps.clone());
            let name = self.name(app);
            if self.rng.chance(50) {
                let patch = self.smp(app, &name);
                if self.rng.chance(15) {
                    let file = format!("smp-{i}.yaml");
                    self.put(&format!("{dir}/{file}"), &patch);
                    legacy_smp.push(json!(file));
                } else if self.rng.chance(50) {
                    let file = format!("smp-{i}.yaml");
                    self.put(&format!("{dir}/{file}"), &patch);
                    entries.push(json!({ "path": file }));
                } else {
                    let text = yaml(&patch, &mut self.rng);
                    let mut entry = json!({ "patch": text });
                    if self.rng.chance(30) && patch["kind"] == "Deployment" {
                        entry["target"] = self.target(app);
                    }
                    entries.push(entry);
                }
            } else {
                let ops = self.ops();
                let target = self.target(app);
                if self.rng.chance(15) {
                    let file = format!("json-{i}.yaml");
                    self.put(&format!("{dir}/{file}"), &ops);
                    let mut t = target.as_object().cloned().unwrap_or_default();
                    t.entry("group").or_insert(json!("apps"));
                    t.entry("version").or_insert(json!("v1"));
                    t.entry("name").or_insert(json!(name));
                    legacy_json.push(json!({ "target": t, "path": file }));
                } else if self.rng.chance(40) {
                    let file = format!("json-{i}.yaml");
                    self.put(&format!("{dir}/{file}"), &ops);
                    entries.push(json!({ "path": file, "target": target }));
                } else {
                    let text = if self.rng.chance(50) {
                        ops.to_string()
                    } else {
                        yaml(&ops, &mut self.rng)
                    };
                    entries.push(json!({ "patch": text, "target": target }));
                }
            }
        }
        if !entries.is_empty() {
            fields.insert("patches".into(), Value::Array(entries));
        }
        if !legacy_smp.is_empty() {
            fields.insert("patchesStrategicMerge".into(), Value::Array(legacy_smp));
        }
        if !legacy_json.is_empty() {
            fields.insert("patchesJson6902".into(), Value::Array(legacy_json));
        }
    }

    fn labels(&mut self, fields: &mut Map<String, Value>, key: &str, value: &str) {
        match self.rng.below(4) {
            0 => {
                fields.insert("commonLabels".into(), json!({ key: value }));
            }
            1 => {
                let mut entry = json!({ "pairs": { key: value } });
                if self.rng.chance(60) {
                    entry["includeSelectors"] = json!(self.rng.chance(50));
                }
                if self.rng.chance(40) {
                    entry["includeTemplates"] = json!(true);
                }
                fields.insert("labels".into(), json!([entry]));
            }
            _ => {}
        }
        if self.rng.chance(40) {
            fields.insert(
                "commonAnnotations".into(),
                json!({ format!("{key}-note"): value, "numeric": "8080" }),
            );
        }
    }

    fn base(&mut self) {
        let mut resources = Vec::new();
        for app in self.apps.clone() {
            let d = self.deployment(app);
            let s = self.service(app);
            if self.rng.chance(40) {
                self.put_docs(&format!("apps/base/{app}.yaml"), &[d, s]);
                resources.push(json!(format!("{app}.yaml")));
            } else {
                self.put(&format!("apps/base/{app}-deployment.yaml"), &d);
                self.put(&format!("apps/base/{app}-service.yaml"), &s);
                resources.push(json!(format!("{app}-deployment.yaml")));
                resources.push(json!(format!("{app}-service.yaml")));
            }
        }
        let settings = json!({ "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": { "name": "settings" },
            "data": { "region": "eu-west-1", "enabled": "true", "retries": "3" } });
        self.put("apps/base/settings.yaml", &settings);
        resources.push(json!("settings.yaml"));
        let mut fields = Map::new();
        fields.insert(
            "apiVersion".into(),
            json!("kustomize.config.k8s.io/v1beta1"),
        );
        fields.insert("kind".into(), json!("Kustomization"));
        fields.insert("resources".into(), Value::Array(resources));
        if self.generated {
            let mut cms = Vec::new();
            let mut secrets = Vec::new();
            for app in self.apps.clone() {
                if self.rng.chance(30) {
                    self.files.insert(
                        PathBuf::from(format!("apps/base/{app}.env")),
                        format!("PORT=8080\nNAME={app}\n"),
                    );
                    cms.push(
                        json!({ "name": format!("{app}-config"), "envs": [format!("{app}.env")] }),
                    );
                } else {
                    cms.push(json!({ "name": format!("{app}-config"), "literals": ["PORT=8080", format!("NAME={app}")] }));
                }
                secrets.push(
                    json!({ "name": format!("{app}-secret"), "literals": ["password=changeme"] }),
                );
            }
            fields.insert("configMapGenerator".into(), Value::Array(cms));
            fields.insert("secretGenerator".into(), Value::Array(secrets));
        }
        if !self.base_prefix.is_empty() {
            fields.insert("namePrefix".into(), json!(self.base_prefix));
        }
        if !self.base_suffix.is_empty() {
            fields.insert("nameSuffix".into(), json!(self.base_suffix));
        }
        self.labels(&mut fields, "app.kubernetes.io/part-of", "shop");
        if self.rng.chance(40) {
            // Patches in the base name the objects before the base's prefix.
            let (prefix, suffix) = (
                std::mem::take(&mut self.base_prefix),
                std::mem::take(&mut self.base_suffix),
            );
            self.patches("apps/base", &mut fields);
            (self.base_prefix, self.base_suffix) = (prefix, suffix);
        }
        self.put("apps/base/kustomization.yaml", &Value::Object(fields));
    }

    fn monitoring(&mut self) {
        let app = self.apps[0];
        let monitor = json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "ServiceMonitor",
            "metadata": { "name": app, "labels": { "release": "prometheus" } },
            "spec": {
                "selector": { "matchLabels": { "app": app } },
                "endpoints": [{ "port": "http", "interval": "30s", "path": "/metrics" }],
            },
        });
        let rule = json!({
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": { "name": format!("{app}-alerts") },
            "spec": { "groups": [{ "name": app, "rules": [{
                "alert": "HighErrorRate",
                "expr": format!("sum(rate(http_requests_total{{app=\"{app}\",code=~\"5..\"}}[5m])) > 0.1"),
                "for": "10m",
                "labels": { "severity": "warning" },
                "annotations": { "summary": "{{ $labels.instance }} fails: {{ $value }}\nsee the runbook" },
            }]}]},
        });
        self.put("components/monitoring/servicemonitor.yaml", &monitor);
        self.put("components/monitoring/prometheusrule.yaml", &rule);
        let mut fields = Map::new();
        fields.insert(
            "apiVersion".into(),
            json!("kustomize.config.k8s.io/v1alpha1"),
        );
        fields.insert("kind".into(), json!("Component"));
        fields.insert(
            "resources".into(),
            json!(["servicemonitor.yaml", "prometheusrule.yaml"]),
        );
        // Scrape annotations on every Deployment, which may have no annotations yet: the
        // object's by JSON patch (kustomize creates the map), the pod template's by either kind.
        let mut ops = vec![
            json!({ "op": "add", "path": "/metadata/annotations/monitoring", "value": "enabled" }),
        ];
        let mut patches = Vec::new();
        if self.rng.chance(50) {
            ops.push(
                json!({ "op": "add", "path": "/spec/template/metadata/annotations",
                "value": { "prometheus.io/scrape": "true" } }),
            );
        } else {
            for app in self.apps.clone() {
                let smp = json!({ "apiVersion": "apps/v1", "kind": "Deployment", "metadata": { "name": self.name(app) },
                    "spec": { "template": { "metadata": { "annotations": { "prometheus.io/scrape": "true" } } } } });
                patches.push(json!({ "patch": yaml(&smp, &mut self.rng) }));
            }
        }
        patches.push(json!({ "target": { "kind": "Deployment" }, "patch": yaml(&Value::Array(ops), &mut self.rng) }));
        if self.rng.chance(50) {
            let smp = json!({ "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
                "metadata": { "name": app }, "spec": { "endpoints": [{ "port": "http", "interval": "15s" }] } });
            patches.push(json!({ "patch": yaml(&smp, &mut self.rng) }));
        }
        fields.insert("patches".into(), Value::Array(patches));
        self.put(
            "components/monitoring/kustomization.yaml",
            &Value::Object(fields),
        );
    }

    fn hardening(&mut self) {
        let mut fields = Map::new();
        fields.insert(
            "apiVersion".into(),
            json!("kustomize.config.k8s.io/v1alpha1"),
        );
        fields.insert("kind".into(), json!("Component"));
        self.patches("components/hardening", &mut fields);
        if self.generated && self.rng.chance(60) {
            let app = *self.rng.pick(&self.apps.clone());
            let behavior = *self.rng.pick(&["merge", "merge", "replace"]);
            fields.insert(
                "configMapGenerator".into(),
                json!([{ "name": format!("{app}-config"), "behavior": behavior, "literals": ["HARDENED=true", "PORT=9090"] }]),
            );
        }
        self.put(
            "components/hardening/kustomization.yaml",
            &Value::Object(fields),
        );
    }

    fn overlay(&mut self, env: &str, components: &[&str]) {
        let dir = format!("clusters/{env}");
        let mut fields = Map::new();
        if self.rng.chance(70) {
            fields.insert(
                "apiVersion".into(),
                json!("kustomize.config.k8s.io/v1beta1"),
            );
            fields.insert("kind".into(), json!("Kustomization"));
        }
        let mut resources = vec![json!("../../apps/base")];
        if self.rng.chance(30) {
            let quota = json!({ "apiVersion": "v1", "kind": "ResourceQuota",
                "metadata": { "name": "quota" }, "spec": { "hard": { "pods": "20" } } });
            self.put(&format!("{dir}/quota.yaml"), &quota);
            resources.push(json!("quota.yaml"));
        }
        fields.insert("resources".into(), Value::Array(resources));
        let chosen: Vec<&str> = components
            .iter()
            .copied()
            .filter(|_| self.rng.chance(70))
            .collect();
        if !chosen.is_empty() {
            let list: Vec<Value> = chosen
                .iter()
                .map(|c| json!(format!("../../components/{c}")))
                .collect();
            fields.insert("components".into(), Value::Array(list));
        }
        if self.rng.chance(70) {
            fields.insert("namespace".into(), json!(env));
        }
        if self.rng.chance(40) {
            fields.insert("namePrefix".into(), json!(format!("{env}-")));
        }
        if self.rng.chance(25) {
            fields.insert("nameSuffix".into(), json!("-v2"));
        }
        let apps = self.rng.some(&self.apps.clone());
        if self.rng.chance(60) {
            let images: Vec<Value> = apps
                .iter()
                .map(|app| match self.rng.below(3) {
                    0 => json!({ "name": format!("{REGISTRY}/{app}"), "newTag": format!("1.{}.0", self.rng.below(9)) }),
                    1 => json!({ "name": format!("{REGISTRY}/{app}"), "newName": format!("mirror.example.com/{app}"), "newTag": "2.0" }),
                    _ => json!({ "name": format!("{REGISTRY}/{app}"), "digest": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" }),
                })
                .collect();
            fields.insert("images".into(), Value::Array(images));
        }
        if self.rng.chance(50) {
            let replicas: Vec<Value> = apps
                .iter()
                .map(|app| json!({ "name": self.name(app), "count": 1 + self.rng.below(5) }))
                .collect();
            fields.insert("replicas".into(), Value::Array(replicas));
        }
        self.labels(&mut fields, "env", env);
        if self.rng.chance(60) {
            self.patches(&dir, &mut fields);
        }
        if self.generated && self.rng.chance(60) {
            let app = *self.rng.pick(&self.apps.clone());
            let behavior = *self.rng.pick(&["merge", "replace"]);
            fields.insert(
                "configMapGenerator".into(),
                json!([
                    { "name": format!("{app}-config"), "behavior": behavior, "literals": [format!("ENV={env}")] },
                    { "name": "cluster-info", "literals": [format!("cluster={env}")] },
                ]),
            );
            if self.rng.chance(50) {
                let behavior = *self.rng.pick(&["merge", "replace"]);
                let mut secret = json!({ "name": format!("{app}-secret"), "behavior": behavior, "literals": ["token=t0ken"] });
                if self.rng.chance(30) {
                    secret["type"] = json!("Opaque");
                }
                fields.insert("secretGenerator".into(), json!([secret]));
            }
        }
        if self.rng.chance(15) {
            fields.insert(
                "generatorOptions".into(),
                json!({ "disableNameSuffixHash": true }),
            );
        }
        self.put(&format!("{dir}/kustomization.yaml"), &Value::Object(fields));
    }
}

fn generate(seed: u64) -> Tree {
    let mut rng = Rng::new(seed);
    let apps = rng.some(&APPS);
    let base_prefix = if rng.chance(20) {
        "shop-".to_owned()
    } else {
        String::new()
    };
    let base_suffix = if rng.chance(10) {
        "-svc".to_owned()
    } else {
        String::new()
    };
    let generated = rng.chance(75);
    let mut g = Gen {
        rng,
        files: BTreeMap::new(),
        apps,
        base_prefix,
        base_suffix,
        generated,
    };
    g.base();
    let mut components = Vec::new();
    if g.rng.chance(80) {
        g.monitoring();
        components.push("monitoring");
    }
    if g.rng.chance(60) {
        g.hardening();
        components.push("hardening");
    }
    let envs = g.rng.some(&ENVS);
    let mut overlays = Vec::new();
    for env in envs {
        g.overlay(env, &components);
        overlays.push(format!("clusters/{env}"));
    }
    Tree {
        files: g.files,
        overlays,
    }
}

fn write_tree(tree: &Tree, root: &Path) {
    for (path, text) in &tree.files {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().expect("generated files are in folders"))
            .expect("writable temporary folder");
        std::fs::write(&file, text).expect("writable temporary folder");
    }
}

fn seeds() -> std::ops::Range<u64> {
    let var = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .map(|v| {
                v.parse()
                    .unwrap_or_else(|_| panic!("{name} must be a number, got {v:?}"))
            })
            .unwrap_or(default)
    };
    let first = var("GITOPS_GENERATED_FIRST", 0);
    first..first + var("GITOPS_GENERATED_SEEDS", 100)
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds `dir` both ways: whether kubectl built it, or `Err` describing a disagreement.
fn compare(dir: &Path) -> Result<bool, String> {
    let reference = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|e| format!("cannot run kubectl: {e}"))?;
    let ours = build_to_string(dir, &BuildOptions::default());
    match (reference.status.success(), ours) {
        (true, Ok(text)) => {
            let expected = String::from_utf8_lossy(&reference.stdout);
            if expected == text {
                return Ok(true);
            }
            let at = expected
                .lines()
                .zip(text.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(expected.lines().count().min(text.lines().count()));
            let around = |s: &str| {
                s.lines()
                    .skip(at.saturating_sub(3))
                    .take(8)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Err(format!(
                "output differs at line {}\n--- kubectl\n{}\n--- ours\n{}",
                at + 1,
                around(&expected),
                around(&text)
            ))
        }
        (true, Err(e)) => Err(format!("kubectl succeeded but we failed: {e}")),
        (false, Ok(_)) => Err(format!(
            "kubectl failed ({}) but we succeeded",
            String::from_utf8_lossy(&reference.stderr).trim()
        )),
        (false, Err(_)) => Ok(false),
    }
}

#[test]
fn generated_trees_match_kubectl_kustomize() {
    if !kubectl_available() {
        if std::env::var("GITOPS_TESTENV_REQUIRED").as_deref() == Ok("1") {
            panic!("kubectl is required (GITOPS_TESTENV_REQUIRED=1) but not found");
        }
        eprintln!("skipping: kubectl not found");
        return;
    }
    let seeds: Vec<u64> = seeds().collect();
    let queue = Mutex::new(seeds.clone());
    let failures = Mutex::new(Vec::new());
    let built = Mutex::new((0usize, 0usize));
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let next = queue.lock().expect("queue lock").pop();
                    let Some(seed) = next else { break };
                    let tree = generate(seed);
                    let dir = tempfile::Builder::new()
                        .prefix(&format!("gitops-generated-{seed}-"))
                        .tempdir()
                        .expect("a temporary folder");
                    write_tree(&tree, dir.path());
                    let mut failed = Vec::new();
                    // One overlay per seed keeps the suite to one kubectl run per seed (about
                    // 80 ms each); the seed picks which. GITOPS_GENERATED_ALL=1 builds them all.
                    let all = std::env::var("GITOPS_GENERATED_ALL").as_deref() == Ok("1");
                    let one = (seed as usize) % tree.overlays.len();
                    for overlay in tree.overlays.iter().enumerate().filter(|(i, _)| all || *i == one).map(|(_, o)| o) {
                        let result = compare(&dir.path().join(overlay));
                        {
                            let mut b = built.lock().expect("count lock");
                            b.0 += 1;
                            b.1 += usize::from(result == Ok(true));
                        }
                        if let Err(e) = result {
                            failed.push(format!("{overlay}: {e}"));
                        }
                    }
                    if !failed.is_empty() {
                        let kept = dir.keep();
                        failures.lock().expect("failures lock").push(format!(
                            "seed {seed} (tree kept at {}; replay with GITOPS_GENERATED_FIRST={seed} GITOPS_GENERATED_SEEDS=1):\n{}",
                            kept.display(),
                            failed.join("\n")
                        ));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().expect("failures lock");
    let (builds, kubectl_ok) = built.into_inner().expect("count lock");
    assert!(
        failures.is_empty(),
        "{} of {} seeds differ:\n\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n\n")
    );
    eprintln!(
        "{} seeds, {builds} overlays identical to kubectl kustomize ({kubectl_ok} built by kubectl, the rest failed on both sides)",
        seeds.len()
    );
}

/// Writes the trees of the seeds under `GITOPS_GENERATED_OUT`, one folder per overlay with a
/// `build.txt` naming it, for `benches/kustomize-peer.sh` and the corpus script.
#[test]
#[ignore = "writes trees for the benchmark; run with --ignored"]
fn write_generated_trees() {
    let out = PathBuf::from(
        std::env::var("GITOPS_GENERATED_OUT")
            .expect("GITOPS_GENERATED_OUT names the folder to write"),
    );
    for seed in seeds() {
        let tree = generate(seed);
        for overlay in &tree.overlays {
            let case = out.join(format!("seed-{seed}-{}", overlay.replace('/', "-")));
            write_tree(&tree, &case);
            std::fs::write(case.join("build.txt"), format!("{overlay}\n"))
                .expect("writable output folder");
        }
    }
}
