//! The second chart of the differential test: nested subcharts with globals, a library
//! chart, `toYaml` of awkward strings and numbers, `tpl`, hooks of several kinds and weights.

use std::path::Path;

use super::{Case, write};

pub const OVERRIDE: &str = r#"strings:
  plain: overridden
mid:
  leaf:
    size: 9
    dropme: null
global:
  env: from-file
"#;

const VALUES: &str = r#"strings:
  empty: ""
  nullword: "null"
  tilde: "~"
  num: "123"
  float: "1.5"
  exp: "1e3"
  octal: "012"
  hex: "0x1F"
  bool: "true"
  yes: "yes"
  dash: "-"
  hash: "a #b"
  colon: "key: v"
  lead: " lead"
  trail: "trail "
  tab: "a\tb"
  unicode: "héllo ✓"
  html: "<a href=\"x\">&</a>"
  date: "2026-01-01"
  multi: "line1\nline2\n"
  multiNoEnd: "line1\n  line2"
  leadingNewline: "\nx"
  plain: simple
  long: "this is a rather long sentence with many words that goes on and on past the eighty column mark for sure"
  longNoSpace: "abcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghijabcdefghij"
numbers:
  big: 1e21
  small: 1e-7
  tenth: 0.1
  negzero: -0.0
  half: 123456789.5
  three: 3.0
  int: 42
  neg: -17
  large: 9007199254740993
keys:
  y: 1
  on: 2
  1: 3
  "quoted key": 4
  "": 5
  a-b: 6
  A: 7
  _x: 8
lists:
  - [1, [2, 3], []]
  - {a: [x, {b: c}], d: {}}
  - null
  - ""
toml:
  b: x
  a: 1
  f: 1.5
  big: 1000000
  yes: true
  list: [1, "a", 2.5, [1], {i: 1}]
  emptyList: []
  empty: {}
  c:
    d: "q\"uo\tte"
    e:
      g: [{x: 1, deep: {y: 2}}, {x: 2}]
  "key with space": v
  nul: null
tplText: "{{ .Release.Name }}-{{ .Values.strings.plain }}-{{ include \"lib.greet\" . }}"
mid:
  enabled: true
global:
  env: default
  region: eu
"#;

pub fn write_edge(dir: &Path) {
    write(
        dir,
        "Chart.yaml",
        r#"apiVersion: v2
name: edge
version: 0.0.1-rc.1+build.5
appVersion: 2.0.0
kubeVersion: ">=1.20.0-0"
description: Edge cases
home: https://example.org
icon: https://example.org/icon.png
sources: [https://example.org/src]
maintainers:
  - name: Someone
    email: someone@example.org
annotations:
  category: testing
deprecated: false
dependencies:
  - name: lib
    version: 1.0.0
  - name: mid
    version: 0.5.0
    condition: mid.enabled
    import-values:
      - shared
      - child: leaf
        parent: fromLeaf.nested
      - missing
"#,
    );
    write(dir, "values.yaml", VALUES);
    write(dir, ".helmignore", "*.tmp\n");
    write(
        dir,
        "templates/strings.yaml",
        r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-strings
data:
  strings: |
    {{- toYaml .Values.strings | nindent 4 }}
  numbers: |
    {{- toYaml .Values.numbers | nindent 4 }}
  keys: |
    {{- toYaml .Values.keys | nindent 4 }}
  lists: |
    {{- toYaml .Values.lists | nindent 4 }}
  pretty: |
    {{- toYamlPretty .Values.lists | nindent 4 }}
  scalar: {{ toYaml "just text" | quote }}
  number: {{ toYaml 3.5 | quote }}
  nil: {{ toYaml .Values.nothing | quote }}
  json: {{ toJson .Values.numbers | quote }}
  printed: {{ printf "%v" .Values.numbers | quote }}
  tpl: {{ tpl .Values.tplText . | quote }}
  tplDefine: {{ tpl "{{ define \"inner\" }}in{{ end }}{{ include \"inner\" . }}-{{ .Template.Name }}" . | quote }}
  chart: {{ .Chart | toJson | quote }}
  chartPrinted: {{ printf "%v" .Chart | quote }}
  helm: {{ .Capabilities.HelmVersion.Version }}
  globbed: {{ range $p, $_ := .Files.Glob "conf/{a,b}?.txt" }}{{ $p }} {{ end }}
  missingFile: {{ .Files.Get "nope" | quote }}
  emptyConfig: {{ (.Files.Glob "nothing/*").AsConfig | quote }}
  lib: {{ include "lib.greet" . }}
  toml: |
    {{- toToml .Values.toml | nindent 4 }}
  tomlScalar: {{ toToml "str" | quote }}
  {{- $fromToml := fromToml "n = 0x1F\nf = 2.5e3\nneg = -0.0\ns = 'lit'\nu = \"\\u00e9\"\nm = \"\"\"\nmulti\nline\"\"\"\nb = true\narr = [1, [\"x\", 2.0]]\ninline = { a = 1, b = { c = \"d\" } }\nz = 1979-05-27T07:32:00Z\noff = 1979-05-27T00:32:00.999-07:00\nldt = 1979-05-27T07:32:00\nld = 1979-05-27\nlt = 07:32:00.5\n[tab.sub]\nk = 1\n[[aot]]\nk = 1\n[[aot]]\nk = 2\n" }}
  fromToml: {{ printf "%v" $fromToml | quote }}
  fromTomlTypes: {{ printf "%T %T %T %T %T" $fromToml.n $fromToml.f $fromToml.z $fromToml.arr $fromToml.tab | quote }}
  fromTomlDate: {{ $fromToml.off | date "2006-01-02T15:04:05.000Z07:00 MST" | quote }}
  fromTomlJson: {{ fromToml "a = [1, 2]\n[t]\nb = 'c'" | toJson | quote }}
  fromTomlEmpty: {{ fromToml "" | toJson | quote }}
  fromTomlRoundTrip: {{ toToml .Values.toml | fromToml | toJson | quote }}
  fromTomlBad: {{ hasKey (fromToml "x = ") "Error" }}
  getHostByName: {{ getHostByName "localhost" | quote }}
  imported: {{ .Values.importedKey }} {{ .Values.strings.plain }} {{ .Values.strings.extra }} {{ toJson .Values.fromLeaf | quote }}
"#,
    );
    write(
        dir,
        "templates/order.yaml",
        r#"---
apiVersion: v1
kind: Secret
metadata:
  name: s-from-order
---


apiVersion: v1
kind: ConfigMap
metadata:
  name: after-blank-lines
{{- range $i, $w := list "5" "-1" "0" "3" }}
---
apiVersion: batch/v1
kind: Job
metadata:
  name: hook-{{ $i }}
  annotations:
    helm.sh/hook: post-install
    helm.sh/hook-weight: {{ $w | quote }}
{{- end }}
---
apiVersion: v1
kind: Secret
metadata:
  name: hook-secret
  annotations:
    helm.sh/hook: pre-install
---
apiVersion: v1
kind: Pod
metadata:
  name: tester
  annotations:
    helm.sh/hook: test-success
"#,
    );
    write(
        dir,
        "templates/a-first.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s-from-a\n",
    );
    write(dir, "conf/a1.txt", "a1");
    write(dir, "conf/b2.txt", "b2");
    write(dir, "conf/c3.txt", "c3");
    write(dir, "conf/a1.tmp", "ignored");
    // A library chart: only defines.
    write(
        dir,
        "charts/lib/Chart.yaml",
        "apiVersion: v2\nname: lib\nversion: 1.0.0\ntype: library\n",
    );
    write(
        dir,
        "charts/lib/templates/_greet.tpl",
        "{{- define \"lib.greet\" -}}hello from {{ .Chart.Name }}{{- end }}\n",
    );
    // mid has a nested leaf subchart, enabled by a condition relative to mid.
    write(
        dir,
        "charts/mid/Chart.yaml",
        "apiVersion: v2\nname: mid\nversion: 0.5.0\ndependencies:\n  - name: leaf\n    version: 0.1.0\n    condition: leaf.enabled\n",
    );
    write(
        dir,
        "charts/mid/values.yaml",
        "global:\n  region: mid-region\n  midOnly: m\nleaf:\n  size: 3\nexports:\n  shared:\n    importedKey: fromMid\n    strings:\n      plain: should-not-win\n      extra: imported\n",
    );
    write(
        dir,
        "charts/mid/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-mid\ndata:\n  values: {{ toJson .Values | quote }}\n  sub: {{ keys .Subcharts | join \",\" | quote }}\n",
    );
    write(
        dir,
        "charts/mid/charts/leaf/Chart.yaml",
        "apiVersion: v2\nname: leaf\nversion: 0.1.0\n",
    );
    write(
        dir,
        "charts/mid/charts/leaf/values.yaml",
        "enabled: true\nsize: 1\ndropme: keep\nglobal:\n  leafOnly: l\n",
    );
    write(
        dir,
        "charts/mid/charts/leaf/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-leaf\ndata:\n  values: {{ toJson .Values | quote }}\n  template: {{ .Template.Name }} {{ .Template.BasePath }}\n",
    );
}

pub fn cases() -> Vec<Case> {
    let c = |name, args: &[&'static str]| Case {
        name,
        args: args.to_vec(),
    };
    vec![
        c("edge-defaults", &[]),
        c("edge-file", &["-f", "VALUES_FILE"]),
        c("edge-leaf-off", &["--set", "mid.leaf.enabled=false"]),
        c("edge-mid-off", &["--set", "mid.enabled=false"]),
        c("edge-global", &["--set", "global.region=us,global.extra=x"]),
        c(
            "edge-set-types",
            &[
                "--set",
                "strings.plain=1.5,numbers.int=007,numbers.neg=-5,numbers.zero=0,numbers.huge=12345678901234567890",
                "--set",
                "lists[2]=replaced,strings.empty=",
                "--set",
                "keys.new[1].deep=v",
            ],
        ),
        c("edge-skip-tests", &["--skip-tests", "--include-crds"]),
    ]
}
