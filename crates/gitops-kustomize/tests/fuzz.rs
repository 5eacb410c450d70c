//! Property tests: the YAML reader, kustomization files and patches never panic, overflow the
//! stack or hang; a failed build names a file. `PROPTEST_CASES` sets the number of cases;
//! `scripts/fuzz.sh` runs them for longer.

use gitops_kustomize::{BuildOptions, build, yaml};
use proptest::prelude::*;

fn yaml_soup() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a: ",
        "b: ",
        "- ",
        "  ",
        "\n",
        "---\n",
        "...\n",
        "&x ",
        "&y ",
        "*x",
        "*y",
        "[",
        "]",
        "{",
        "}",
        ", ",
        "? ",
        ": ",
        "'",
        "\"",
        "# c\n",
        "<<: *x\n",
        "<<: [*x, *y]\n",
        "%YAML 1.1\n",
        "%YAML 1.2\n",
        "!!binary ",
        "!!str ",
        "!!int ",
        "|\n  ",
        ">-\n  ",
        "9999999999999999999999999",
        "1e400",
        "-0x1F",
        "0o777",
        "~",
        "null",
        "é",
        "\t",
        "\r\n",
        "kind: List\nitems:\n",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\n",
    ]);
    prop::collection::vec(pieces, 0..60).prop_map(|v| v.concat())
}

/// Nested flow YAML with anchors and aliases.
fn yaml_tree() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("x".to_owned()),
        Just("*a".to_owned()),
        any::<i64>().prop_map(|i| i.to_string()),
        "[a-z0-9.-]{0,8}",
    ];
    leaf.prop_recursive(8, 256, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8)
                .prop_map(|v| format!("&a [{}]", v.join(", "))),
            prop::collection::vec(("[a-z]{1,3}", inner), 0..8).prop_map(|v| {
                let body: Vec<String> = v.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
    .prop_map(|v| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata: {v}\n"))
}

fn mutated(base: &'static str) -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            0u8..4,
            any::<u8>(),
            0usize..64,
        ),
        1..8,
    )
    .prop_map(move |edits| {
        let mut bytes = base.as_bytes().to_vec();
        for (at, kind, b, len) in edits {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 => bytes.insert(i, b),
                1 => {
                    let end = (i + len).min(bytes.len());
                    bytes.drain(i..end);
                }
                2 => {
                    let end = (i + len).min(bytes.len());
                    let copy = bytes[i..end].to_vec();
                    bytes.splice(i..i, copy);
                }
                _ => {
                    if let Some(x) = bytes.get_mut(i) {
                        *x ^= b;
                    }
                }
            }
        }
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  labels: {app: api}\nspec:\n  replicas: 1\n  template:\n    spec:\n      containers:\n        - name: api\n          image: nginx:1.0\n          env: [{name: A, value: b}]\n";

const KUSTOMIZATION: &str = "resources:\n- deploy.yaml\nnamePrefix: p-\nnamespace: ns\ncommonLabels: {team: a}\nimages:\n- name: nginx\n  newTag: '2.0'\nreplicas:\n- name: api\n  count: 3\nconfigMapGenerator:\n- name: cfg\n  literals: [a=b]\npatches:\n- path: patch.yaml\n- target: {kind: Deployment}\n  patch: |-\n    - op: add\n      path: /metadata/annotations\n      value: {x: y}\n";

const PATCH: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: nginx:3.0\n        - name: side\n          image: busybox\n";

const PLUGINS: &str = "apiVersion: builtin\nkind: NamespaceTransformer\nmetadata:\n  name: ns\n  namespace: x\nunsetOnly: true\nsetRoleBindingSubjects: allServiceAccounts\nfieldSpecs:\n- path: spec/template/spec/containers/env/value\n  kind: Deployment\n---\napiVersion: builtin\nkind: PrefixSuffixTransformer\nmetadata:\n  name: ps\nprefix: p-\nsuffix: 5\nfieldSpecs:\n- path: metadata/name\n- path: spec/template/spec/containers[]/name\n  create: true\n---\napiVersion: builtin\nkind: ValueAddTransformer\nmetadata:\n  name: va\nvalue: v\ntargets:\n- fieldPath: spec/template/spec/x\\/y\n  filePathPosition: 2\n---\napiVersion: builtin\nkind: ConfigMapGenerator\nmetadata:\n  name: cm\nliterals: [a=b, c=true]\n---\napiVersion: builtin\nkind: HashTransformer\nmetadata:\n  name: h\n";

const SCHEMA: &str = "definitions:\n  d:\n    x-kubernetes-group-version-kind: [{group: apps, version: v1, kind: Deployment}]\n    properties:\n      spec: {$ref: '#/definitions/s'}\n  s:\n    properties:\n      template:\n        properties:\n          spec:\n            properties:\n              containers:\n                type: array\n                items: {$ref: '#/definitions/c'}\n                x-kubernetes-patch-strategy: merge\n                x-kubernetes-list-map-keys: [name]\n  c:\n    properties:\n      env: {type: array, x-kubernetes-patch-strategy: 'retainKeys,merge'}\nt.K:\n  Schema:\n    properties:\n      apiVersion: {}\n      kind: {}\n      metadata: {}\n      ref: {x-kubernetes-object-ref-api-version: v1, x-kubernetes-object-ref-kind: Secret, $ref: t.K}\n";

fn any_yaml() -> impl Strategy<Value = String> {
    prop_oneof![
        yaml_soup(),
        yaml_tree(),
        mutated(DEPLOYMENT),
        (1usize..3000).prop_map(|n| format!("a: {}{}", "[".repeat(n), "]".repeat(n))),
    ]
}

/// Builds a tree of three files; a failure must be an error naming a file, never a panic.
fn build_tree(kustomization: &str, deploy: &str, patch: &str) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let root = dir.path();
    for (name, text) in [
        ("kustomization.yaml", kustomization),
        ("deploy.yaml", deploy),
        ("patch.yaml", patch),
    ] {
        std::fs::write(root.join(name), text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    if let Err(e) = build(root, &BuildOptions::default().with_root(root)) {
        let msg = e.to_string();
        prop_assert!(
            msg.contains(".yaml")
                || msg.contains(&root.display().to_string())
                || msg.starts_with(".: "),
            "an error that names no file: {msg}"
        );
    }
    Ok(())
}

fn json_ops() -> impl Strategy<Value = String> {
    let path = prop::sample::select(vec![
        "",
        "/",
        "/spec",
        "/spec/replicas",
        "/metadata/labels",
        "/metadata/labels/app",
        "/spec/template/spec/containers/0",
        "/spec/template/spec/containers/-",
        "/spec/template/spec/containers/99999999999999999999",
        "/a~1b",
        "/a~0",
        "/x/y/z",
        "/spec/template",
    ]);
    let op = (
        prop::sample::select(vec![
            "add", "remove", "replace", "move", "copy", "test", "bogus",
        ]),
        path.clone(),
        path,
        prop_oneof![
            Just("1"),
            Just("{a: b}"),
            Just("[1, 2]"),
            Just("null"),
            Just("'s'")
        ],
    )
        .prop_map(|(op, path, from, value)| {
            format!("- op: {op}\n  path: '{path}'\n  from: '{from}'\n  value: {value}\n")
        });
    prop::collection::vec(op, 0..50).prop_map(|v| v.concat())
}

/// proptest's configuration from its environment (`PROPTEST_CASES`, `PROPTEST_RNG_SEED`), with
/// a small default number of cases for the everyday suite.
fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn fuzz_kustomize_yaml_reader(text in any_yaml()) {
        let _ = yaml::parse_documents(&text, &yaml::Limits::default());
    }

    #[test]
    fn fuzz_kustomization_file(k in prop_oneof![mutated(KUSTOMIZATION), yaml_soup()]) {
        build_tree(&k, DEPLOYMENT, PATCH)?;
    }

    #[test]
    fn fuzz_resources(deploy in any_yaml()) {
        build_tree("resources:\n- deploy.yaml\n", &deploy, PATCH)?;
    }

    #[test]
    fn fuzz_json6902_patches(ops in json_ops()) {
        let indented: String = ops.lines().map(|l| format!("    {l}\n")).collect();
        let k = format!(
            "resources:\n- deploy.yaml\npatches:\n- target: {{kind: Deployment}}\n  patch: |-\n{indented}"
        );
        build_tree(&k, DEPLOYMENT, PATCH)?;
    }

    #[test]
    fn fuzz_plugin_configurations(
        configs in prop_oneof![mutated(PLUGINS), yaml_tree(), any_yaml()],
        field in prop::sample::select(vec!["transformers", "generators", "validators"]),
    ) {
        build_tree(&format!("resources:\n- deploy.yaml\n{field}:\n- patch.yaml\n"), DEPLOYMENT, &configs)?;
    }

    #[test]
    fn fuzz_custom_schemas(schema in prop_oneof![mutated(SCHEMA), yaml_tree(), any_yaml()]) {
        let patch: String = PATCH.lines().map(|l| format!("    {l}\n")).collect();
        let k = format!(
            "resources:\n- deploy.yaml\nopenapi:\n  path: patch.yaml\ncrds:\n- patch.yaml\nnamePrefix: p-\ncommonAnnotations: {{a: b}}\npatches:\n- patch: |-\n{patch}"
        );
        build_tree(&k, DEPLOYMENT, &schema)?;
    }

    #[test]
    fn fuzz_strategic_merge_patches(patch in prop_oneof![mutated(PATCH), yaml_tree(), any_yaml()]) {
        build_tree("resources:\n- deploy.yaml\npatchesStrategicMerge:\n- patch.yaml\n", DEPLOYMENT, &patch)?;
    }
}
