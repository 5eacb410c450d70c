//! Differential test against the real `helm template` (v4.3.2, built by the test
//! environment's provisioning): charts written here, rendered by both with the same
//! arguments, compared byte for byte. A difference fails the test unless listed in `KNOWN`.

use std::path::Path;
use std::process::Command;

use gitops_helm::TemplateOptions;

#[path = "helm_diff/edge.rs"]
mod edge;

/// Cases whose difference is known and documented (none at the moment).
const KNOWN: &[&str] = &[];

pub(crate) fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

const HELPERS: &str = r#"{{/* Expand the name of the chart. */}}
{{- define "app.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "app.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "app.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "app.labels" -}}
helm.sh/chart: {{ include "app.chart" . }}
{{ include "app.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "app.selectorLabels" -}}
app.kubernetes.io/name: {{ include "app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "shared.banner" -}}
parent-banner
{{- end }}
"#;

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "app.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      {{- include "app.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      {{- with .Values.podAnnotations }}
      annotations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      labels:
        {{- include "app.selectorLabels" . | nindent 8 }}
    spec:
      containers:
        - name: {{ .Chart.Name }}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          args: {{ toJson .Values.args }}
          env:
            - name: GREETING
              value: {{ tpl .Values.greeting . | quote }}
            - name: REQUIRED
              value: {{ required "image.repository is required" .Values.image.repository | quote }}
          ports:
            - name: http
              containerPort: {{ .Values.service.port }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
"#;

const SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: {{ include "app.fullname" . }}
  labels:
    {{- include "app.labels" . | nindent 4 }}
spec:
  type: {{ .Values.service.type }}
  ports:
    - port: {{ .Values.service.port }}
      targetPort: http
  selector:
    {{- include "app.selectorLabels" . | nindent 4 }}
---
# a comment-only document
---

---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "app.fullname" . }}
"#;

const CONFIGMAP: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "app.fullname" . }}-files
data:
  {{- (.Files.Glob "files/*.conf").AsConfig | nindent 2 }}
  lines: {{ .Files.Lines "files/a.conf" | toJson | quote }}
  count: {{ len (.Files.Glob "files/**") | quote }}
  {{- range $path, $_ := .Files.Glob "files/**.txt" }}
  {{ base $path }}: {{ $.Files.Get $path | quote }}
  {{- end }}
  all: {{ toYaml .Values.config | quote }}
  pretty: |
    {{- toYamlPretty .Values.config | nindent 4 }}
  fromYaml: {{ (fromYaml "a: 1\nb: [x, y]").b | toJson | quote }}
  fromYamlArray: {{ fromYamlArray "- 1\n- two" | toJson | quote }}
  fromJson: {{ (fromJson "{\"k\": 1.5}").k | quote }}
  fromJsonArray: {{ fromJsonArray "[1, \"a\"]" | toJson | quote }}
  badJson: {{ (fromJson "{").Error | empty | quote }}
  lookup: {{ lookup "v1" "Secret" "default" "x" | toJson | quote }}
  caps: {{ .Capabilities.KubeVersion.Version }} {{ .Capabilities.KubeVersion.Major }}.{{ .Capabilities.KubeVersion.Minor }} {{ .Capabilities.APIVersions.Has "apps/v1" }} {{ .Capabilities.APIVersions.Has "example.com/v1" }}
  semver: {{ semverCompare ">=1.32-0" .Capabilities.KubeVersion.GitVersion | quote }}
  chart: {{ .Chart.Name }} {{ .Chart.Version }} {{ .Chart.AppVersion }} {{ .Chart.Type }} {{ .Chart.IsRoot }} {{ .Chart.Description | quote }}
  release: {{ .Release.Name }} {{ .Release.Namespace }} {{ .Release.IsInstall }} {{ .Release.IsUpgrade }} {{ .Release.Revision }} {{ .Release.Service }}
  template: {{ .Template.Name }} {{ .Template.BasePath }}
  subcharts: {{ keys .Subcharts | sortAlpha | join "," }}
  dbFromParent: {{ if .Subcharts.db }}{{ .Subcharts.db.Values.port | quote }}{{ end }}
  global: {{ .Values.global.domain }}
  missing: "{{ .Values.nothing }}"
  float: {{ .Values.big }} {{ .Values.ratio }} {{ .Values.yesWord }} {{ .Values.octal }}
  deleted: {{ hasKey .Values.image "pullSecret" | quote }}
  banner: {{ include "shared.banner" . }}
"#;

const SECRET: &str = r#"apiVersion: v1
kind: Secret
metadata:
  name: {{ include "app.fullname" . }}
data:
  {{- (.Files.Glob "files/secret.*").AsSecrets | nindent 2 }}
"#;

const HOOK_JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "app.fullname" . }}-migrate
  annotations:
    "helm.sh/hook": pre-install,pre-upgrade
    "helm.sh/hook-weight": "-5"
    "helm.sh/hook-delete-policy": before-hook-creation,hook-succeeded
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: busybox
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "app.fullname" . }}-hook-cm
  annotations:
    helm.sh/hook: post-install
data: {}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: dropped
  annotations:
    helm.sh/hook: no-such-event
"#;

const TEST_POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: "{{ include "app.fullname" . }}-test-connection"
  annotations:
    "helm.sh/hook": test
spec:
  containers:
    - name: wget
      image: busybox
      command: ['wget']
      args: ['{{ include "app.fullname" . }}:{{ .Values.service.port }}']
  restartPolicy: Never
"#;

const KINDS: &str = r#"{{- range $k := list "Widget" "Namespace" "ClusterRole" "Gadget" "PriorityClass" "Ingress" "CronJob" "RoleBinding" }}
---
apiVersion: example.com/v1
kind: {{ $k }}
metadata:
  name: {{ $k | lower }}
{{- end }}
"#;

const VALUES: &str = r#"replicaCount: 2
nameOverride: ""
fullnameOverride: ""
image:
  repository: nginx
  pullPolicy: IfNotPresent
  tag: ""
  pullSecret: secret-name
args: [--a, "--b=1"]
greeting: "hello {{ .Release.Name }} from {{ .Chart.Name }}"
podAnnotations: {}
service:
  type: ClusterIP
  port: 80
resources:
  limits:
    cpu: 100m
    memory: 128Mi
nodeSelector: {}
tolerations:
  - key: k
    operator: Exists
config:
  b: 2
  a10: x
  a9: y
  list: [1, 2.5, "3", true, null]
  nested: {z: {y: "multi\nline\n"}, empty: [], quoted: "on", colon: "a: b", star: "*x"}
  bigint: 12345678
big: 1000000
ratio: 0.25
yesWord: yes
octal: 0755
global:
  domain: example.org
  shared: parent
db:
  enabled: true
  port: 5432
worker:
  queue: default
tags:
  backend: true
"#;

fn write_app(dir: &Path) {
    write(
        dir,
        "Chart.yaml",
        r#"apiVersion: v2
name: app
description: A chart for the differential test
type: application
version: 1.2.3
appVersion: "4.5"
keywords: [a, b]
dependencies:
  - name: db
    version: 0.1.0
    condition: db.enabled
  - name: cache
    version: 0.2.0
    tags: [backend]
  - name: worker
    version: 0.3.0
    alias: w1
  - name: worker
    version: 0.3.0
    alias: w2
    condition: w2.enabled,worker.enabled
"#,
    );
    write(dir, "values.yaml", VALUES);
    write(
        dir,
        ".helmignore",
        "# ignore these\n*.bak\ndocs/\n/secret-notes.txt\n",
    );
    write(dir, "templates/_helpers.tpl", HELPERS);
    write(dir, "templates/deployment.yaml", DEPLOYMENT);
    write(dir, "templates/service.yaml", SERVICE);
    write(dir, "templates/configmap.yaml", CONFIGMAP);
    write(dir, "templates/secret.yaml", SECRET);
    write(dir, "templates/hooks.yaml", HOOK_JOB);
    write(dir, "templates/tests/test-connection.yaml", TEST_POD);
    write(dir, "templates/kinds.yaml", KINDS);
    write(
        dir,
        "templates/empty.yaml",
        "{{- if false }}\nx: 1\n{{- end }}\n",
    );
    write(
        dir,
        "templates/NOTES.txt",
        "Thanks for installing {{ .Chart.Name }}.\n",
    );
    write(dir, "templates/.hidden.yaml", "this: is ignored\n");
    write(dir, "files/a.conf", "a=1\nb=2\n");
    write(dir, "files/b.conf", "c=3");
    write(dir, "files/sub/deep.txt", "deep\n");
    write(dir, "files/top.txt", "top");
    write(dir, "files/secret.key", "s3cr3t");
    write(dir, "files/old.bak", "ignored");
    write(dir, "docs/readme.md", "ignored");
    write(dir, "secret-notes.txt", "ignored");
    write(
        dir,
        "crds/widgets.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n",
    );
    write(dir, "crds/notes.txt", "not a CRD");
    // db: a subchart directory with its own helpers, a define overridden by the parent and
    // a CRD of its own.
    write(
        dir,
        "charts/db/Chart.yaml",
        "apiVersion: v2\nname: db\nversion: 0.1.0\nappVersion: 16.1\n",
    );
    write(
        dir,
        "charts/db/values.yaml",
        "port: 5432\nuser: admin\nglobal:\n  shared: db\n  own: db-own\nenabled: false\n",
    );
    write(
        dir,
        "charts/db/templates/_helpers.tpl",
        "{{- define \"shared.banner\" -}}\ndb-banner\n{{- end }}\n{{- define \"db.name\" -}}\n{{ .Release.Name }}-{{ .Chart.Name }}\n{{- end }}\n",
    );
    write(
        dir,
        "charts/db/templates/statefulset.yaml",
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ include "db.name" . }}
  labels:
    banner: {{ include "shared.banner" . }}
    chart: {{ .Chart.Name }}-{{ .Chart.Version }}-{{ .Chart.AppVersion }}-{{ .Chart.IsRoot }}
spec:
  serviceName: {{ include "db.name" . }}
  template:
    metadata:
      annotations:
        global: {{ toYaml .Values.global | quote }}
        values: {{ toJson .Values | quote }}
        template: {{ .Template.Name }}
"#,
    );
    write(
        dir,
        "charts/db/crds/db-crd.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: dbs.example.com\n",
    );
    // worker: used twice under aliases.
    write(
        dir,
        "charts/worker/Chart.yaml",
        "apiVersion: v2\nname: worker\nversion: 0.3.0\n",
    );
    write(
        dir,
        "charts/worker/values.yaml",
        "queue: jobs\nenabled: true\n",
    );
    write(
        dir,
        "charts/worker/templates/deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
data:
  queue: {{ .Values.queue }}
  domain: {{ .Values.global.domain }}
"#,
    );
    // cache: a subchart archive.
    let cache = tempfile::tempdir().expect("tmp");
    let c = cache.path().join("cache");
    write(
        &c,
        "Chart.yaml",
        "apiVersion: v2\nname: cache\nversion: 0.2.0\n",
    );
    write(&c, "values.yaml", "size: 64\n");
    write(
        &c,
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cache\ndata:\n  size: {{ .Values.size | quote }}\n  global: {{ .Values.global.domain }}\n",
    );
    let tgz = std::fs::File::create(dir.join("charts/cache-0.2.0.tgz")).expect("tgz");
    let gz = flate2::write::GzEncoder::new(tgz, flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all("cache", &c).expect("tar");
    tar.into_inner().expect("tar").finish().expect("gz");
}

pub(crate) struct Case {
    pub(crate) name: &'static str,
    pub(crate) args: Vec<&'static str>,
}

fn cases() -> Vec<Case> {
    let c = |name, args: &[&'static str]| Case {
        name,
        args: args.to_vec(),
    };
    vec![
        c("defaults", &[]),
        c("include-crds", &["--include-crds"]),
        c("skip-tests", &["--skip-tests"]),
        c("namespace", &["-n", "prod"]),
        c("db-disabled", &["--set", "db.enabled=false"]),
        c("tags-off", &["--set", "tags.backend=false"]),
        c("w2-disabled", &["--set", "w2.enabled=false"]),
        c("worker-condition", &["--set", "worker.enabled=false"]),
        c(
            "set-forms",
            &[
                "--set",
                "replicaCount=3,image.tag=1.2\\,3,nodeSelector.disk\\.type=ssd",
                "--set",
                "tolerations[0].key=other,args={x,y,z}",
                "--set",
                "image.pullSecret=null",
            ],
        ),
        c(
            "set-string",
            &["--set-string", "replicaCount=5,service.port=8080"],
        ),
        c("values-file", &["-f", "VALUES_FILE"]),
        c("kube-1.31", &["--kube-version", "1.31.0"]),
        c("kube-v1.34.4", &["--kube-version", "v1.34.4"]),
        c("api-versions", &["--api-versions", "example.com/v1"]),
        c("fullname", &["--set", "fullnameOverride=custom"]),
        c("release-contains-name", &["--set", "global.domain=x.y"]),
        c("is-upgrade", &["--is-upgrade"]),
        c(
            "set-json-file-literal",
            &[
                "--set-json",
                r#"podAnnotations={"j":1,"k":[true,"x"]},replicaCount=4"#,
                "--set-file",
                "greeting=VALUES_FILE",
                "--set-literal",
                "nameOverride=a,b=c",
            ],
        ),
        c(
            "set-nested-lists",
            &[
                "--set",
                "config.list[0][1]=x,config.nested.z.y=",
                "--set-string",
                "config.list[3]=true,tolerations={}",
            ],
        ),
        c(
            "set-int64",
            &[
                "--set",
                "replicaCount=1000000,service.port=+80,config.b=FALSE,nodeSelector={}",
            ],
        ),
    ]
}

fn ours(chart: &Path, release: &str, args: &[String]) -> Result<String, String> {
    let mut o = TemplateOptions::new(release);
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--include-crds" => o = o.with_include_crds(true),
            "--is-upgrade" => o = o.with_is_upgrade(true),
            "--skip-tests" => o = o.with_skip_tests(true),
            "-n" => o = o.with_namespace(v),
            "--set" => o = o.with_set(v),
            "--set-string" => o = o.with_set_string(v),
            "--set-json" => o = o.with_set_json(v),
            "--set-file" => o = o.with_set_file(v),
            "--set-literal" => o = o.with_set_literal(v),
            "-f" => o = o.with_values_file(v),
            "--kube-version" => o = o.with_kube_version(v),
            "--api-versions" => o = o.with_api_version(v),
            other => panic!("unknown flag {other}"),
        }
        i += if args[i].starts_with("--include")
            || args[i].starts_with("--is")
            || args[i] == "--skip-tests"
        {
            1
        } else {
            2
        };
    }
    gitops_helm::template(chart, &o).map_err(|e| e.to_string())
}

fn helm(bin: &Path, chart: &Path, release: &str, args: &[String]) -> Result<String, String> {
    let out = Command::new(bin)
        .arg("template")
        .arg(release)
        .arg(chart)
        .args(args)
        .output()
        .expect("run helm");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// An output as is, an error as the text after Helm's `Error: ` without its `--debug` hint.
fn norm(r: &Result<String, String>) -> Result<String, String> {
    match r {
        Ok(s) => Ok(s.clone()),
        Err(e) => {
            let e = e.strip_prefix("Error: ").unwrap_or(e);
            Err(e
                .strip_suffix("\n\nUse --debug flag to render out invalid YAML\n")
                .unwrap_or(e)
                .trim_end()
                .to_string())
        }
    }
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}:\n  helm: {x}\n  ours: {y}", i + 1);
        }
    }
    format!("lengths {} vs {}", a.len(), b.len())
}

struct Tally {
    same: usize,
    both_failed: usize,
    different: usize,
    unexpected: Vec<String>,
    helm_time: std::time::Duration,
    our_time: std::time::Duration,
}

fn run_cases(bin: &Path, chart: &Path, cases: Vec<Case>, values_file: &Path, t: &mut Tally) {
    for case in cases {
        let args: Vec<String> = case
            .args
            .iter()
            .map(|a| a.replace("VALUES_FILE", &values_file.display().to_string()))
            .collect();
        for release in ["rel", "app-rel"] {
            let start = std::time::Instant::now();
            let want = helm(bin, chart, release, &args);
            t.helm_time += start.elapsed();
            let start = std::time::Instant::now();
            let got = ours(chart, release, &args);
            t.our_time += start.elapsed();
            let name = format!("{}/{release}", case.name);
            // GITOPS_HELM_DIFF_DUMP=DIR writes both outputs, to diff them by hand.
            if let Ok(dump) = std::env::var("GITOPS_HELM_DIFF_DUMP") {
                let base = Path::new(&dump).join(format!("{}-{release}", case.name));
                let text = |r: &Result<String, String>| match r {
                    Ok(s) | Err(s) => s.clone(),
                };
                std::fs::write(base.with_extension("helm"), text(&want)).expect("dump");
                std::fs::write(base.with_extension("ours"), text(&got)).expect("dump");
            }
            match (&want, &got) {
                (Ok(w), Ok(g)) if w == g => t.same += 1,
                (Err(_), Err(_)) => t.both_failed += 1,
                _ => {
                    t.different += 1;
                    let detail = match (&want, &got) {
                        (Ok(w), Ok(g)) => first_difference(w, g),
                        (w, g) => format!("helm: {w:?}\nours: {g:?}"),
                    };
                    if !KNOWN.contains(&case.name) {
                        t.unexpected.push(format!("{name}: {detail}"));
                    }
                }
            }
        }
    }
}

#[test]
fn helm_template_identical_on_our_charts() {
    let Some(bin) = gitops_testenv::require_helm() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let chart = tmp.path().join("app");
    write_app(&chart);
    let values_file = tmp.path().join("override.yaml");
    std::fs::write(
        &values_file,
        "replicaCount: 7\nimage:\n  tag: \"9.9\"\npodAnnotations:\n  a: \"1\"\n  b: yes\nconfig: null\nresources:\n  limits: null\n",
    )
    .expect("values");
    let mut t = Tally {
        same: 0,
        both_failed: 0,
        different: 0,
        unexpected: Vec::new(),
        helm_time: std::time::Duration::ZERO,
        our_time: std::time::Duration::ZERO,
    };
    run_cases(&bin, &chart, cases(), &values_file, &mut t);
    // The same chart packed as an archive (where Helm applies no .helmignore).
    let packed = tmp.path().join("app-1.2.3.tgz");
    {
        let f = std::fs::File::create(&packed).expect("tgz");
        let gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        tar.append_dir_all("app", &chart).expect("tar");
        tar.into_inner().expect("tar").finish().expect("gz");
    }
    run_cases(
        &bin,
        &packed,
        vec![
            Case {
                name: "archive",
                args: vec![],
            },
            Case {
                name: "archive-crds",
                args: vec!["--include-crds", "--set", "db.enabled=false"],
            },
        ],
        &values_file,
        &mut t,
    );
    let edge = tmp.path().join("edge");
    edge::write_edge(&edge);
    let edge_values = tmp.path().join("edge-override.yaml");
    std::fs::write(&edge_values, edge::OVERRIDE).expect("values");
    run_cases(&bin, &edge, edge::cases(), &edge_values, &mut t);
    eprintln!(
        "helm template differential: {} identical, {} failing in both, {} different \
         (helm {:?} in total, ours {:?}; ours is a debug build)",
        t.same, t.both_failed, t.different, t.helm_time, t.our_time
    );
    assert!(t.unexpected.is_empty(), "{}", t.unexpected.join("\n\n"));
    assert_eq!(t.both_failed, 0, "every case is meant to render");
}

/// Templates that fail: Helm's error text (after `Error: `, before its `--debug` hint) and
/// ours must be identical.
const ERROR_CASES: &[(&str, &str)] = &[
    ("required", "x: {{ required \"need .a\" .Values.a }}\n"),
    ("fail", "x: {{ fail \"boom\" }}\n"),
    (
        "required-in-include",
        "{{- define \"h\" }}{{ required \"deep need\" .Values.a }}{{ end }}\nx: {{ include \"h\" . }}\n",
    ),
    ("nil-pointer", "x: {{ .Values.a.b }}\n"),
    ("parse", "x: {{ if }}\n"),
    ("unknown-function", "x: {{ nosuch }}\n"),
    ("include-missing", "x: {{ include \"nope\" . }}\n"),
    (
        "include-nil-pointer",
        "{{- define \"h\" }}{{ .Values.a.b }}{{ end }}\nx: {{ include \"h\" . }}\n",
    ),
    ("bad-yaml-output", "a: b: c\n"),
    // go-yaml's wording and line numbers for malformed output (parser errors count lines
    // from 0, scanner errors from 1; the end of the stream is the document's end).
    ("yaml-open-flow-sequence", "x: [\n"),
    ("yaml-open-flow-sequence-top", "[1, 2\n"),
    ("yaml-open-flow-mapping", "x: {a: 1\n"),
    ("yaml-sequence-then-mapping", "- a\nb: c\n"),
    ("yaml-open-flow-on-line-3", "a: 1\nb: 2\nc: [\n"),
    ("yaml-unterminated-quote", "x: \"abc\n"),
    ("yaml-unterminated-single-quote", "a: 1\nx: 'abc\n"),
    ("yaml-tab-indentation", "a:\n\tb: 1\n"),
    ("yaml-key-without-colon", "a: 1\nb\n"),
    ("yaml-unknown-alias-in-flow", "a: 1\nb:\n  c: [*nope, 2]\n"),
    ("yaml-unknown-alias", "a: &x 1\nb: *y\n"),
    (
        "fail-in-tpl",
        "x: {{ tpl \"{{ fail \\\"in tpl\\\" }}\" . }}\n",
    ),
    ("divide-by-zero", "x: {{ div 1 0 }}\n"),
    ("kube-version", "KUBE_VERSION x: 1\n"),
];

#[test]
fn helm_template_errors_identical() {
    let Some(bin) = gitops_testenv::require_helm() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let (mut same, mut different) = (0, Vec::new());
    for (name, text) in ERROR_CASES {
        let dir = tmp.path().join(name);
        // A case starting KUBE_VERSION is a chart Kubernetes 1.37 does not satisfy.
        let (extra, text) = match text.strip_prefix("KUBE_VERSION ") {
            Some(t) => ("kubeVersion: \">=1.40.0-0\"\n", t),
            None => ("", *text),
        };
        write(
            &dir,
            "Chart.yaml",
            &format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n{extra}"),
        );
        write(&dir, "templates/t.yaml", text);
        let want = helm(&bin, &dir, "r", &[]).expect_err("helm must fail");
        let want = want.strip_prefix("Error: ").unwrap_or(&want);
        let want = want
            .strip_suffix("\n\nUse --debug flag to render out invalid YAML\n")
            .unwrap_or(want)
            .trim_end();
        let got = ours(&dir, "r", &[]).expect_err("ours must fail");
        if want == got {
            same += 1;
        } else {
            different.push(format!("{name}:\n  helm: {want:?}\n  ours: {got:?}"));
        }
    }
    eprintln!(
        "helm template errors: {same} identical, {} different",
        different.len()
    );
    assert!(different.is_empty(), "{}", different.join("\n"));
}

/// Opt-in: `GITOPS_HELM_SEED_CHARTS=/path/a:/path/b` compares charts found elsewhere (the
/// seed charts, never committed here) with the default values, with and without
/// `--include-crds`, at Kubernetes 1.34.4 and 1.31.0. Extra arguments for every run (such as
/// `--set grafana.adminPassword=x`) come from `GITOPS_HELM_SEED_ARGS`, space-separated.
#[test]
fn seed_charts_from_env() {
    let Ok(paths) = std::env::var("GITOPS_HELM_SEED_CHARTS") else {
        return;
    };
    let Some(bin) = gitops_testenv::require_helm() else {
        return;
    };
    let extra: Vec<String> = std::env::var("GITOPS_HELM_SEED_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(String::from)
        .collect();
    let mut different = Vec::new();
    for path in paths.split(':').filter(|p| !p.is_empty()) {
        let chart = Path::new(path);
        for flags in [
            vec!["--kube-version", "1.34.4"],
            vec!["--kube-version", "1.34.4", "--include-crds"],
            vec!["--kube-version", "1.31.0"],
            vec!["--kube-version", "1.31.0", "--include-crds"],
        ] {
            let mut args: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
            args.extend(extra.iter().cloned());
            let start = std::time::Instant::now();
            let want = helm(&bin, chart, "seed", &args);
            let helm_time = start.elapsed();
            let start = std::time::Instant::now();
            let got = ours(chart, "seed", &args);
            let our_time = start.elapsed();
            let verdict = match (&want, &got) {
                (Ok(w), Ok(g)) if w == g => "identical".to_string(),
                (Err(_), Err(_)) if norm(&want) == norm(&got) => "identical error".to_string(),
                (Ok(w), Ok(g)) => format!("different: {}", first_difference(w, g)),
                (w, g) => {
                    let short = |r: &Result<String, String>| {
                        let s = format!("{r:?}");
                        s.chars().take(400).collect::<String>()
                    };
                    format!("different:\n  helm: {}\n  ours: {}", short(w), short(g))
                }
            };
            eprintln!(
                "{path} {}: {verdict} (helm {helm_time:?}, ours {our_time:?}, {} bytes)",
                flags.join(" "),
                want.as_ref().map_or(0, |w| w.len())
            );
            if !verdict.starts_with("identical") {
                different.push(format!("{path} {}", flags.join(" ")));
            }
        }
    }
    assert!(different.is_empty(), "{}", different.join("\n"));
}

const SCHEMA: &str = r##"{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["port", "name"],
  "additionalProperties": false,
  "properties": {
    "port": {"type": "integer", "minimum": 1, "maximum": 65535},
    "name": {"type": "string", "maxLength": 5, "pattern": "^[a-z]+$"},
    "list": {"type": "array", "items": {"type": "integer"}, "maxItems": 3, "uniqueItems": true},
    "mode": {"enum": ["a", "b"]},
    "nested": {"$ref": "#/definitions/nested"},
    "extra": {"anyOf": [{"type": "string"}, {"type": "boolean"}]},
    "ratio": {"type": "number", "multipleOf": 0.5},
    "sub": {"type": "object"},
    "global": {"type": "object"}
  },
  "definitions": {
    "nested": {
      "type": "object",
      "properties": {"inner": {"type": "number", "exclusiveMaximum": 10}},
      "required": ["inner"]
    }
  }
}"##;

/// `values.schema.json` in a chart and its subchart: each `--set` below breaks one rule,
/// and Helm's error text and ours must be identical (or both render the same output).
#[test]
fn helm_schema_errors_identical() {
    let Some(bin) = gitops_testenv::require_helm() else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path().join("s");
    write(
        &dir,
        "Chart.yaml",
        "apiVersion: v2\nname: s\nversion: 0.1.0\n",
    );
    write(
        &dir,
        "values.yaml",
        "port: 80\nname: abc\nlist: [1, 2]\nmode: a\nnested:\n  inner: 5\nratio: 1.5\n",
    );
    write(&dir, "values.schema.json", SCHEMA);
    write(&dir, "templates/t.yaml", "x: {{ .Values.port }}\n");
    write(
        &dir,
        "charts/sub/Chart.yaml",
        "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
    );
    write(&dir, "charts/sub/values.yaml", "level: 3\n");
    write(
        &dir,
        "charts/sub/values.schema.json",
        r#"{"type": "object", "properties": {"level": {"type": "integer", "minimum": 1}}}"#,
    );
    let cases: &[&[&str]] = &[
        &[],
        &["--set", "port=abc"],
        &["--set", "port=0"],
        &["--set", "port=70000"],
        &["--set", "name=ABC"],
        &["--set", "list={1,x}"],
        &["--set", "list={1,1}"],
        &["--set", "mode=c"],
        &["--set", "nested.inner=20"],
        &["--set", "nested=null"],
        &["--set", "extra=1"],
        &["--set", "foo=1"],
        &["--set", "port=null"],
        &["--set", "ratio=0.3"],
        &["--set", "sub.level=0"],
        &["--set", "sub.level=x"],
    ];
    let (mut same, mut failing, mut different) = (0, 0, Vec::new());
    for args in cases {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let want = helm(&bin, &dir, "r", &args);
        let got = ours(&dir, "r", &args);
        if norm(&want) == norm(&got) {
            same += 1;
            failing += usize::from(want.is_err());
        } else {
            different.push(format!(
                "{args:?}:\n  helm: {:?}\n  ours: {:?}",
                norm(&want),
                norm(&got)
            ));
        }
    }
    eprintln!(
        "helm template schema cases: {same} identical ({failing} of them errors), {} different",
        different.len()
    );
    assert_eq!(failing, 14, "the cases are meant to fail but two");
    assert!(different.is_empty(), "{}", different.join("\n"));
}

/// A chart with enough template text and output (over 128 KiB each) to be parsed, executed
/// and read back on several threads: `count` templates, each a ConfigMap listing
/// `.Values.items` through a helper, padded with a comment, plus `extra` files.
fn write_large_chart(dir: &Path, count: usize, extra: &[(&str, &str)]) {
    write(
        dir,
        "Chart.yaml",
        "apiVersion: v2\nname: large\nversion: 0.1.0\n",
    );
    write(
        dir,
        "values.yaml",
        &format!(
            "items: [a, b, c]\nnote: original\nnested:\n  level: one\nblob: {}\ndisabled:\n  enabled: false\n",
            "x".repeat(3000)
        ),
    );
    write(
        dir,
        "templates/_helpers.tpl",
        "{{- define \"large.entry\" -}}\n{{ .k }}: {{ .v | quote }}\n{{- end }}\n",
    );
    let padding = format!("{{{{/* {} */}}}}\n", "padding ".repeat(400));
    for i in 0..count {
        write(
            dir,
            &format!("templates/cm-{i:03}.yaml"),
            &format!(
                "{padding}apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  blob: {{{{ .Values.blob | quote }}}}\n  note: {{{{ .Values.note | quote }}}}\n  level: {{{{ .Values.nested.level | quote }}}}\n{{{{- range $k, $v := .Values.items }}}}\n  {{{{ include \"large.entry\" (dict \"k\" (printf \"item%d\" $k) \"v\" $v) }}}}\n{{{{- end }}}}\n"
            ),
        );
    }
    for (name, text) in extra {
        write(dir, name, text);
    }
}

fn ours_with_threads(chart: &Path, threads: usize) -> Result<String, String> {
    let options = TemplateOptions::new("rel").with_threads(threads);
    gitops_helm::template(chart, &options).map_err(|e| e.to_string())
}

/// Large charts are rendered on several threads; the output must be the one of Helm's
/// one-after-another execution, also when a template changes values the templates after it
/// read (Sprig's `set` and `merge` on `.Values`), and the error the first in Helm's order.
#[test]
fn large_charts_render_side_by_side_as_helm_renders_them() {
    let tmp = tempfile::tempdir().expect("tmp");
    let shared_write = [(
        // Helm executes deeper paths first and names in reverse order: `zz-…` runs before
        // every `cm-…`, which must see the changed values.
        "templates/zz-changes-values.yaml",
        "{{- $_ := set .Values \"note\" \"changed\" }}\n{{- $_ := merge .Values.nested (dict \"level\" \"merged\") }}\n{{- $_ := set .Values.nested \"level\" \"set\" }}\n",
    )];
    let two_failures = [
        ("templates/zz-fails.yaml", "{{ fail \"zz fails first\" }}\n"),
        ("templates/aa-fails.yaml", "{{ fail \"aa fails later\" }}\n"),
    ];
    let two_bad_outputs = [
        ("templates/zz-bad.yaml", "a: b: c\n"),
        ("templates/aa-bad.yaml", "x: y: z\n"),
    ];
    // Helm gives the templates of a chart one `.` map: a key set on it is seen by the
    // templates executed after (`zz-…` runs before `aa-…`).
    let shared_dot = [
        (
            "templates/zz-sets-dot.yaml",
            "{{- $_ := set . \"fromZz\" \"seen\" }}\n",
        ),
        (
            "templates/aa-reads-dot.yaml",
            "kind: ConfigMap\napiVersion: v1\nmetadata:\n  name: reads\ndata:\n  fromZz: {{ .fromZz | quote }}\n",
        ),
    ];
    // The templates are parsed ahead under the names they have before dependencies are
    // processed: a subchart a condition turns off is never reported (its parse error
    // included), and one renamed by an alias is parsed under its new name.
    let subcharts = [
        (
            "Chart.yaml",
            "apiVersion: v2\nname: large\nversion: 0.1.0\ndependencies:\n- name: disabled\n  version: 0.1.0\n  condition: disabled.enabled\n- name: sub\n  version: 0.1.0\n  alias: renamed\n",
        ),
        (
            "charts/disabled/Chart.yaml",
            "apiVersion: v2\nname: disabled\nversion: 0.1.0\n",
        ),
        ("charts/disabled/templates/broken.yaml", "{{ if }}\n"),
        (
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
        ),
        (
            "charts/sub/templates/_helpers.tpl",
            "{{- define \"sub.where\" }}{{ .Chart.Name }} {{ .Template.BasePath }}{{ end }}\n",
        ),
        (
            "charts/sub/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sub\ndata:\n  where: {{ include \"sub.where\" . | quote }}\n",
        ),
    ];
    let aliased_broken: Vec<(&str, &str)> = subcharts
        .iter()
        .copied()
        .chain([("charts/sub/templates/zz-broken.yaml", "a: {{ end }}\n")])
        .collect();
    let charts: [(&str, &[(&str, &str)]); 7] = [
        ("plain", &[]),
        ("shared-write", &shared_write),
        ("two-failures", &two_failures),
        ("two-bad-outputs", &two_bad_outputs),
        ("shared-dot", &shared_dot),
        ("subcharts", &subcharts),
        ("aliased-broken", &aliased_broken),
    ];
    let helm_bin = gitops_testenv::require_helm();
    // Each also as a small chart, rendered on one thread whatever the option says.
    let sizes = charts
        .iter()
        .flat_map(|(name, extra)| [(*name, *extra, 48), (*name, *extra, 2)]);
    for (name, extra, count) in sizes {
        let chart = tmp.path().join(format!("{name}-{count}"));
        write_large_chart(&chart, count, extra);
        let one = ours_with_threads(&chart, 1);
        for threads in [2, 4] {
            assert_eq!(
                norm(&ours_with_threads(&chart, threads)),
                norm(&one),
                "{name}: {threads} threads against one"
            );
        }
        match name {
            "plain" => assert!(
                one.as_ref()
                    .is_ok_and(|out| out.contains("note: \"original\"")),
                "{one:?}"
            ),
            "shared-write" => {
                let out = one.as_ref().expect("renders");
                assert_eq!(out.matches("note: \"changed\"").count(), count, "{out}");
                assert_eq!(out.matches("level: \"set\"").count(), count, "{out}");
            }
            "shared-dot" => assert!(
                one.as_ref()
                    .is_ok_and(|out| out.contains("fromZz: \"seen\"")),
                "{one:?}"
            ),
            "subcharts" => assert!(
                one.as_ref().is_ok_and(|out| {
                    out.contains("where: \"renamed large/charts/renamed/templates\"")
                        && !out.contains("charts/disabled")
                }),
                "{one:?}"
            ),
            "aliased-broken" => assert!(
                one.as_ref().is_err_and(|e| {
                    e.contains("large/charts/renamed/templates/zz-broken.yaml")
                        && !e.contains("charts/disabled")
                }),
                "{one:?}"
            ),
            "two-failures" => assert!(
                one.as_ref()
                    .is_err_and(|e| e.contains("zz fails first") && !e.contains("aa fails")),
                "{one:?}"
            ),
            // Documents are read in file order: `aa-bad.yaml` is reported.
            _ => assert!(
                one.as_ref()
                    .is_err_and(|e| e.contains("aa-bad.yaml") && !e.contains("zz-bad")),
                "{one:?}"
            ),
        }
        if let Some(bin) = &helm_bin {
            assert_eq!(
                norm(&ours_with_threads(&chart, 4)),
                norm(&helm(bin, &chart, "rel", &[])),
                "{name}: against helm template"
            );
        }
    }
}
