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

/// One line of a values file: mostly what charts write (keys, dashes, scalars, flow
/// collections, literal block scalars, comments), sometimes what the line reader must leave
/// to the full parser.
fn values_line() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("a: ".to_string()),
        Just("b:".to_string()),
        Just("\"c d\": ".to_string()),
        Just("'e': ".to_string()),
        Just("1: ".to_string()),
        Just("1.0: ".to_string()),
        Just("true: ".to_string()),
        Just("- ".to_string()),
        Just("-".to_string()),
        Just("x".to_string()),
        Just("yes".to_string()),
        Just("~".to_string()),
        Just("-1".to_string()),
        Just("0x1f".to_string()),
        Just("1e3".to_string()),
        Just(".inf".to_string()),
        Just("2001-12-14".to_string()),
        Just("\"q\"".to_string()),
        Just("'it''s'".to_string()),
        Just("\"\\n\"".to_string()),
        Just("'open".to_string()),
        Just("[a, \"b\", {c: 1, \"d\":2, c: 3}, []]".to_string()),
        Just("{}".to_string()),
        Just("[".to_string()),
        Just("|".to_string()),
        Just("|-".to_string()),
        Just("|+".to_string()),
        Just(">".to_string()),
        Just(" # c".to_string()),
        Just("#".to_string()),
        Just(": ".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("<<: ".to_string()),
        Just("---".to_string()),
        Just("\t".to_string()),
        Just("é".to_string()),
        "[ -~]{0,6}",
    ];
    (0usize..7, prop::collection::vec(piece, 0..4))
        .prop_map(|(indent, pieces)| format!("{}{}", " ".repeat(indent), pieces.concat()))
}

proptest! {
    /// The line reader of values files never reads a file differently from the full parse,
    /// and never accepts one the full parse refuses.
    #[test]
    fn fuzz_plain_values(lines in prop::collection::vec(values_line(), 0..14), end in any::<bool>()) {
        let text = lines.join("\n") + if end { "\n" } else { "" };
        if let Some(node) = gitops_helm::plain_yaml::parse(&text) {
            prop_assert_eq!(Ok(node), gitops_helm::yaml::parse_one(&text), "{:?}", text);
        }
    }
}

/// Writes a values file from a stream of choices: nested mappings and sequences in the block
/// style charts use (indentation varied, compact sequences, literal block scalars, flow
/// collections, comments, blank lines), with now and then a line indented one space off or a
/// piece YAML readers trip on.
struct ValuesWriter<'a> {
    choices: std::slice::Iter<'a, u8>,
    out: String,
}

impl ValuesWriter<'_> {
    fn pick(&mut self, n: usize) -> usize {
        self.choices.next().map_or(0, |c| usize::from(*c) % n)
    }

    fn line(&mut self, indent: usize, text: &str) {
        let off = match self.pick(24) {
            0 => indent + 1,
            1 => indent.saturating_sub(1),
            _ => indent,
        };
        self.out.push_str(&" ".repeat(off));
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn scalar(&mut self) -> &'static str {
        const SCALARS: &[&str] = &[
            "x",
            "yes",
            "-1",
            "~",
            "\"s t\"",
            "'it''s'",
            "[a, {b: 1}, \"c\"]",
            "{}",
            "[]",
            "http://x:1/#y",
            "x # c",
            "1.5",
            "0o17",
            "\"a\\tb\"",
            "\"\\\\ \\\" \\N \\/\"",
            "&a x",
            "*a",
            "x: y",
            "{a: 1, a: 2}",
            "'open",
            "- x",
            ">",
            "|+",
            "!!str 1",
            "2001-12-14t21:59:43.10-05:00",
        ];
        SCALARS[self.pick(SCALARS.len())]
    }

    fn key(&mut self) -> &'static str {
        const KEYS: &[&str] = &[
            "a", "b", "kind", "1", "1.0", "true", "\"q k\"", "'s'", "a.b/c", "a",
        ];
        KEYS[self.pick(KEYS.len())]
    }

    fn map(&mut self, indent: usize, depth: usize, first_on_dash: bool) {
        let n = 1 + self.pick(4);
        for i in 0..n {
            let at = if first_on_dash && i == 0 { 0 } else { indent };
            match self.pick(10) {
                0 => self.line(at.max(indent * usize::from(i > 0)), "# comment: x"),
                1 => self.out.push('\n'),
                _ => {}
            }
            let key = self.key();
            let prefix = if first_on_dash && i == 0 {
                String::new()
            } else {
                " ".repeat(indent)
            };
            match if depth > 3 { 0 } else { self.pick(8) } {
                0 | 7 => {
                    let v = self.scalar();
                    self.out.push_str(&format!("{prefix}{key}: {v}\n"));
                }
                1 => {
                    self.out.push_str(&format!("{prefix}{key}:\n"));
                    let step = 1 + self.pick(4);
                    self.map(indent + step, depth + 1, false);
                }
                2 => {
                    self.out.push_str(&format!("{prefix}{key}:\n"));
                    self.seq(indent + 2, depth + 1);
                }
                3 => {
                    self.out.push_str(&format!("{prefix}{key}:\n"));
                    self.seq(indent, depth + 1);
                }
                4 => {
                    let header = ["|", "|-", "| ", "|+", ">"][self.pick(5)];
                    self.out.push_str(&format!("{prefix}{key}: {header}\n"));
                    let step = 1 + self.pick(3);
                    for _ in 0..1 + self.pick(3) {
                        match self.pick(5) {
                            0 => self.out.push('\n'),
                            1 => self.line(indent + step + 2, "# more"),
                            _ => self.line(indent + step, "text: {{ x }}"),
                        }
                    }
                }
                5 => self.out.push_str(&format!("{prefix}{key}:\n")),
                _ => {
                    let v = self.scalar();
                    self.out.push_str(&format!("{prefix}{key}: {v} # why\n"));
                }
            }
        }
    }

    fn seq(&mut self, indent: usize, depth: usize) {
        for _ in 0..1 + self.pick(3) {
            let prefix = " ".repeat(indent);
            match if depth > 3 { 0 } else { self.pick(4) } {
                0 => {
                    let v = self.scalar();
                    self.out.push_str(&format!("{prefix}- {v}\n"));
                }
                1 => {
                    self.out.push_str(&format!("{prefix}- "));
                    self.map(indent + 2, depth + 1, true);
                }
                2 => {
                    let v = self.scalar();
                    self.out.push_str(&format!("{prefix}- - {v}\n"));
                }
                _ => self.line(indent, "-"),
            }
        }
    }
}

proptest! {
    /// The same property on values files written as charts write them (most of which the
    /// line reader reads).
    #[test]
    fn fuzz_plain_values_structured(choices in prop::collection::vec(any::<u8>(), 0..160)) {
        let mut w = ValuesWriter { choices: choices.iter(), out: String::new() };
        w.map(0, 0, false);
        let text = w.out;
        if let Some(node) = gitops_helm::plain_yaml::parse(&text) {
            prop_assert_eq!(Ok(node), gitops_helm::yaml::parse_one(&text), "{:?}", text);
        }
        // Rendered documents look the same: the head scan is held to the same bar.
        if let Some(head) = gitops_helm::head::scan(&text) {
            prop_assert_eq!(Ok(head), gitops_helm::head::parse(&text), "{:?}", text);
        }
    }
}
