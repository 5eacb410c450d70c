//! Property tests (the workspace's fuzz convention): arbitrary values files, `--set` strings
//! and chart archives never panic, and a failure names the file.

use std::io::Write;

use proptest::prelude::*;

fn yamlish() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("a: 1\n".to_string()),
            Just("- x\n".to_string()),
            Just("  b: &x [1, 2]\n".to_string()),
            Just("c: *x\n".to_string()),
            Just("<<: {d: 1}\n".to_string()),
            Just("y: yes\n".to_string()),
            Just("---\n".to_string()),
            Just("e: \"\\u00e9\"\n".to_string()),
            Just("f: |\n  text\n".to_string()),
            Just("g: .inf\n".to_string()),
            Just("? [k]\n: v\n".to_string()),
            "[ -~\n]{0,20}",
        ],
        0..12,
    )
    .prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn fuzz_values_file(text in yamlish()) {
        if let Err(e) = gitops_helm::values::parse_values("v.yaml", text.as_bytes()) {
            prop_assert!(e.to_string().contains("v.yaml"), "{}", e);
        }
    }

    #[test]
    fn fuzz_set(text in "[a-c.\\[\\]0-9={},\\\\=n-u ]{0,30}") {
        let mut base = serde_json::Map::new();
        for kind in [
            gitops_helm::values::SetKind::Typed,
            gitops_helm::values::SetKind::String,
            gitops_helm::values::SetKind::Json,
            gitops_helm::values::SetKind::Literal,
        ] {
            let _ = gitops_helm::values::parse_set(&text, &mut base, kind);
        }
    }

    #[test]
    fn fuzz_to_yaml_round_trip(text in yamlish()) {
        // Whatever reads, writes; and what toYaml writes reads back.
        if let Ok(node) = gitops_helm::yaml::parse_one(&text) {
            let out = gitops_helm::yaml::emit(&node, false);
            prop_assert!(gitops_helm::yaml::parse_one(&out).is_ok(), "{:?} -> {:?}", text, out);
            let _ = gitops_helm::yaml::emit(&node, true);
        }
    }

    #[test]
    fn fuzz_chart_archive(
        files in prop::collection::vec(
            (prop_oneof![
                Just("c/Chart.yaml".to_string()),
                Just("c/values.yaml".to_string()),
                Just("c/templates/t.yaml".to_string()),
                Just("c/charts/s.tgz".to_string()),
                Just("c/../x".to_string()),
                "c/[a-z/._]{0,12}",
            ],
            prop_oneof![
                Just(b"apiVersion: v2\nname: c\nversion: 1\n".to_vec()),
                Just(b"x: {{ .Values.a }}\n".to_vec()),
                prop::collection::vec(any::<u8>(), 0..64),
            ]),
            0..6,
        ),
        cut in any::<prop::sample::Index>(),
    ) {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for (name, data) in &files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            let bytes = name.as_bytes();
            let n = bytes.len().min(99);
            h.as_old_mut().name[..n].copy_from_slice(&bytes[..n]);
            h.set_cksum();
            tar.append(&h, data.as_slice()).expect("append");
        }
        let mut data = tar.into_inner().expect("tar").finish().expect("gz");
        for archive in [data.clone(), { data.truncate(cut.index(data.len() + 1)); data }] {
            match gitops_helm::chart::load_archive("in.tgz", &archive) {
                Ok(chart) => {
                    let _ = gitops_helm::template_chart(&chart, &gitops_helm::TemplateOptions::new("r"));
                }
                Err(e) => prop_assert!(e.to_string().contains("in.tgz"), "{}", e),
            }
        }
        let _ = std::io::sink().flush();
    }
}

proptest! {
    #[test]
    fn fuzz_helmignore(rules in "[!#*?/a-c.^\\[\\]\\\\\n-]{0,40}", path in "[a-c./_\\[\\]*]{0,20}") {
        if let Ok(ignore) = gitops_helm::chart::Ignore::parse(&rules) {
            let _ = ignore.ignore(&path, false);
            let _ = ignore.ignore(&path, true);
        }
        let _ = gitops_helm::chart::glob_match(&rules, &path);
    }
}

fn schema_strategy() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::json!({"type": "integer", "minimum": 1})),
        Just(serde_json::json!({"type": ["string", "null"], "pattern": "^a("})),
        Just(serde_json::json!({"$ref": "#"})),
        Just(serde_json::json!({"$ref": "#/nope"})),
        Just(serde_json::json!({"enum": [1, "a", null]})),
        Just(serde_json::json!(true)),
        Just(serde_json::json!(false)),
        Just(serde_json::json!({"multipleOf": 0})),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| serde_json::json!({"anyOf": v})),
            prop::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| serde_json::json!({"oneOf": v})),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| serde_json::json!({
                "properties": {"a": a}, "additionalProperties": b, "items": {"$ref": "#"}
            })),
            inner.prop_map(
                |n| serde_json::json!({"not": n, "if": {"$ref": "#"}, "then": {"$ref": "#"}})
            ),
        ]
    })
}

proptest! {
    #[test]
    fn fuzz_schema(schema in schema_strategy(), value in yamlish()) {
        if let Ok(node) = gitops_helm::yaml::parse_one(&value)
            && let Ok(json) = node.to_json()
        {
            let failures = gitops_helm::schema::validate(&schema, &json);
            let _ = gitops_helm::schema::render(&failures);
        }
    }
}

proptest! {
    #[test]
    fn fuzz_to_toml(text in yamlish()) {
        if let Ok(node) = gitops_helm::yaml::parse_one(&text)
            && let Ok(json) = node.to_json()
        {
            let _ = gitops_helm::toml::to_toml(&gitops_gotmpl::Value::from_json(&json));
        }
    }
}

/// One line of a rendered document: an indentation, then pieces that are mostly what
/// templates write (keys, dashes, scalars, flow collections, block scalar headers) and
/// sometimes what trips a YAML reader (indicators, tabs, anchors, quotes left open).
fn manifest_line() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("kind: ".to_string()),
        Just("kind:".to_string()),
        Just("metadata:".to_string()),
        Just("annotations:".to_string()),
        Just("helm.sh/hook: ".to_string()),
        Just("\"helm.sh/hook\": ".to_string()),
        Just("'kind': ".to_string()),
        Just("a: ".to_string()),
        Just("b:".to_string()),
        Just("- ".to_string()),
        Just("-".to_string()),
        Just("Job".to_string()),
        Just("test,pre-install".to_string()),
        Just("\"x\"".to_string()),
        Just("'x''y'".to_string()),
        Just("\"a\\\"b\\u00e9\"".to_string()),
        Just("'open".to_string()),
        Just("\"open".to_string()),
        Just("close'".to_string()),
        Just("close\"".to_string()),
        Just("[a, \"b\", {c: d, \"e\":1}]".to_string()),
        Just("{}".to_string()),
        Just("[".to_string()),
        Just("}".to_string()),
        Just("|".to_string()),
        Just("|-".to_string()),
        Just(">+".to_string()),
        Just("|2".to_string()),
        Just(" # c".to_string()),
        Just("#".to_string()),
        Just(": ".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("!!str ".to_string()),
        Just("? ".to_string()),
        Just("...".to_string()),
        Just("---".to_string()),
        Just("--x=1".to_string()),
        Just(":x".to_string()),
        Just("yes".to_string()),
        Just("~".to_string()),
        Just("1".to_string()),
        Just("\t".to_string()),
        Just("\u{feff}".to_string()),
        Just("é".to_string()),
        "[ -~]{0,6}",
    ];
    (0usize..7, prop::collection::vec(piece, 0..4))
        .prop_map(|(indent, pieces)| format!("{}{}", " ".repeat(indent), pieces.concat()))
}

/// A document as a template renders one: a head, then generated lines.
fn manifest() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just(String::new()),
            Just(
                "apiVersion: v1\nkind: Job\nmetadata:\n  annotations:\n    helm.sh/hook: test\n"
                    .to_string()
            ),
            Just("kind: ConfigMap\ndata:\n  a: |\n    x\n".to_string()),
        ],
        prop::collection::vec(manifest_line(), 0..12),
    )
        .prop_map(|(head, lines)| head + &lines.join("\n") + "\n")
}

proptest! {
    /// The cheap scan of a rendered document never accepts what the full YAML parse refuses,
    /// nor reads its kind or hook differently.
    #[test]
    fn fuzz_manifest_head(doc in manifest()) {
        if let Some(head) = gitops_helm::head::scan(&doc) {
            prop_assert_eq!(Ok(head), gitops_helm::head::parse(&doc), "{:?}", doc);
        }
    }
}
