//! `gitops helm template` against the real `helm template` v4.3.2: the same arguments on a
//! chart written here, the same bytes on stdout; a failing chart fails in both with the same
//! message on stderr and exit code 1.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

mod support;

use std::path::Path;
use std::process::{Command, Output};

fn write(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// A chart using values, the release, capabilities, a subchart, CRDs, a hook and a test hook.
fn write_chart(dir: &Path) {
    write(
        dir,
        "Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 1.2.3\nappVersion: \"4.5\"\ndependencies:\n  - name: cache\n    version: 0.1.0\n    condition: cache.enabled\n",
    );
    write(
        dir,
        "values.yaml",
        "replicas: 2\nimage:\n  repository: nginx\n  tag: \"1.27\"\nports: [80, 443]\nlabels: {}\nnote: \"\"\ncache:\n  enabled: true\n  size: 1Gi\nglobal:\n  team: web\n",
    );
    // Resolves only with --enable-dns (`localhost` is in every hosts file); "" otherwise.
    write(
        dir,
        "templates/dns.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dns\ndata:\n  localhost: {{ getHostByName \"localhost\" | quote }}\n",
    );
    write(
        dir,
        "templates/_helpers.tpl",
        "{{- define \"web.name\" -}}{{ .Release.Name }}-{{ .Chart.Name }}{{- end -}}\n",
    );
    write(
        dir,
        "templates/deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "web.name" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- with .Values.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
    upgrade: {{ .Release.IsUpgrade | quote }}
spec:
  replicas: {{ .Values.replicas }}
  template:
    spec:
      containers:
        - name: web
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          ports:
            {{- range .Values.ports }}
            - containerPort: {{ . }}
            {{- end }}
"#,
    );
    write(
        dir,
        "templates/config.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "web.name" . }}
data:
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  policy: {{ .Capabilities.APIVersions.Has "policy.example.com/v1" | quote }}
  note: {{ .Values.note | quote }}
  values: |
    {{- toYaml .Values | nindent 4 }}
"#,
    );
    write(
        dir,
        "templates/hook.yaml",
        r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "web.name" . }}-migrate
  annotations:
    "helm.sh/hook": pre-install,pre-upgrade
    "helm.sh/hook-weight": "-5"
"#,
    );
    write(
        dir,
        "templates/tests/ping.yaml",
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {{ include "web.name" . }}-ping
  annotations:
    "helm.sh/hook": test
"#,
    );
    write(
        dir,
        "templates/NOTES.txt",
        "Installed {{ .Release.Name }}.\n",
    );
    write(
        dir,
        "crds/widgets.yaml",
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\n",
    );
    write(
        dir,
        "charts/cache/Chart.yaml",
        "apiVersion: v2\nname: cache\nversion: 0.1.0\n",
    );
    write(
        dir,
        "charts/cache/values.yaml",
        "size: 512Mi\nenabled: false\n",
    );
    write(
        dir,
        "charts/cache/templates/pvc.yaml",
        r#"apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ .Release.Name }}-cache
  labels:
    team: {{ .Values.global.team }}
spec:
  resources:
    requests:
      storage: {{ .Values.size }}
"#,
    );
}

fn ours(chart: &Path, args: &[&str]) -> Output {
    support::gitops()
        .args(["helm", "template", "rel"])
        .arg(chart)
        .args(args)
        .output()
        .unwrap()
}

fn helm(bin: &Path, chart: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(["template", "rel"])
        .arg(chart)
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn helm_template_cli_prints_what_helm_prints() {
    let Some(bin) = gitops_testenv::require_helm() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("web");
    write_chart(&chart);
    let values_a = tmp.path().join("a.yaml");
    std::fs::write(&values_a, "replicas: 3\nlabels:\n  tier: front\n").unwrap();
    let values_b = tmp.path().join("b.yaml");
    std::fs::write(&values_b, "replicas: 5\ncache:\n  enabled: false\n").unwrap();
    let note = tmp.path().join("note.txt");
    std::fs::write(&note, "from a file\nsecond line\n").unwrap();
    let (a, b, n) = (
        values_a.to_str().unwrap(),
        values_b.to_str().unwrap(),
        format!("note={}", note.to_str().unwrap()),
    );
    let sets: Vec<Vec<&str>> = vec![
        vec![],
        vec!["-n", "prod"],
        vec!["--namespace", "prod", "-f", a],
        vec!["-f", a, "-f", b],
        vec!["-f", a, "--values", b, "--set", "replicas=7"],
        vec![
            "--set",
            "image.tag=1.28,ports={8080,8443}",
            "--set",
            "labels.x=1",
        ],
        vec!["--set-string", "replicas=010", "--set", "note=null"],
        vec!["--set-file", &n],
        vec!["--set-json", r#"labels={"a":"b","n":1.5}"#],
        vec![
            "--kube-version",
            "1.31.0",
            "--api-versions",
            "policy.example.com/v1",
        ],
        vec![
            "--kube-version",
            "v1.34.4",
            "-a",
            "x/v1,policy.example.com/v1",
        ],
        vec!["--include-crds"],
        vec!["--skip-tests", "--is-upgrade"],
        vec!["--enable-dns"],
        vec![
            "--include-crds",
            "--skip-tests",
            "--set",
            "cache.enabled=false",
        ],
    ];
    for args in &sets {
        let want = helm(&bin, &chart, args);
        let got = ours(&chart, args);
        assert!(
            want.status.success(),
            "helm failed on {args:?}: {}",
            String::from_utf8_lossy(&want.stderr)
        );
        assert!(
            got.status.success(),
            "gitops failed on {args:?}: {}",
            String::from_utf8_lossy(&got.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&got.stdout),
            String::from_utf8_lossy(&want.stdout),
            "stdout differs for {args:?}"
        );
        assert_eq!(got.stdout, want.stdout, "bytes differ for {args:?}");
    }
}

#[test]
fn helm_template_cli_fails_as_helm_does() {
    let Some(bin) = gitops_testenv::require_helm() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("broken");
    write(
        &chart,
        "Chart.yaml",
        "apiVersion: v2\nname: broken\nversion: 0.1.0\n",
    );
    write(&chart, "values.yaml", "name: \"\"\n");
    write(
        &chart,
        "templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ required \"name is required\" .Values.name }}\n",
    );
    let mut cases: Vec<(std::path::PathBuf, Vec<&str>)> = vec![
        (chart.clone(), vec![]),
        (tmp.path().join("missing"), vec![]),
        (chart.clone(), vec!["-f", "/nonexistent/values.yaml"]),
    ];
    let bad_yaml = tmp.path().join("yaml");
    write(
        &bad_yaml,
        "Chart.yaml",
        "apiVersion: v2\nname: yaml\nversion: 0.1.0\n",
    );
    write(&bad_yaml, "templates/a.yaml", "a: [\n");
    cases.push((bad_yaml, vec![]));
    for (chart, args) in &cases {
        let want = helm(&bin, chart, args);
        let got = ours(chart, args);
        assert_eq!(want.status.code(), Some(1), "helm on {chart:?} {args:?}");
        assert_eq!(got.status.code(), Some(1), "gitops on {chart:?} {args:?}");
        assert!(got.stdout.is_empty(), "gitops printed output for {chart:?}");
        let (want_err, got_err) = (
            String::from_utf8_lossy(&want.stderr),
            String::from_utf8_lossy(&got.stderr),
        );
        if chart.ends_with("yaml") {
            // saphyr words YAML syntax errors differently (a known divergence): the file
            // and Helm's layout must match.
            assert!(
                got_err.starts_with("Error: YAML parse error on yaml/templates/a.yaml: "),
                "{got_err}"
            );
            assert!(
                got_err.ends_with("\n\nUse --debug flag to render out invalid YAML\n"),
                "{got_err}"
            );
        } else {
            assert_eq!(got_err, want_err, "stderr differs for {chart:?} {args:?}");
        }
    }
}
