//! Property tests: the core parsers never panic, overflow the stack or hang on hostile input.
//! `PROPTEST_CASES` sets the number of cases; `scripts/fuzz.sh` runs them for longer.

use std::collections::BTreeMap;

use gitops_core::image::{message, setters};
use proptest::prelude::*;

/// Pieces of YAML that parsers trip on, glued in random order.
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
        "%YAML 1.1\n",
        "%YAML 1.2\n",
        "!!binary ",
        "!!str ",
        "!tag ",
        "|\n  ",
        ">-\n  ",
        "9999999999999999999999999",
        "1e400",
        "-0x1F",
        "0o777",
        "~",
        "null",
        "true",
        "é",
        "\t",
        "\r\n",
        "image: x:1 ",
        "# {\"$imagepolicy\": \"ns:p\"}",
        "# {\"$imagepolicy\": \"ns:p:tag\"}",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: n\n",
    ]);
    prop::collection::vec(pieces, 0..60).prop_map(|v| v.concat())
}

/// A structured document with nesting, anchors and aliases, written as YAML.
fn yaml_tree() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("x".to_owned()),
        Just("*a".to_owned()),
        Just("'q'".to_owned()),
        any::<i64>().prop_map(|i| i.to_string()),
        "[a-z0-9:./@-]{0,12}",
    ];
    leaf.prop_recursive(8, 128, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-z]{1,3}", inner), 0..6).prop_map(|v| {
                let body: Vec<String> = v.iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("&a {{{}}}", body.join(", "))
            }),
        ]
    })
    .prop_map(|v| format!("image: x:1 # {{\"$imagepolicy\": \"ns:p\"}}\nroot: {v}\nlast: *a\n"))
}

/// Random edits of a valid text: insertions, deletions, duplications, byte flips (kept UTF-8).
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

const DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  template:\n    spec:\n      containers:\n        - name: api\n          image: ghcr.io/acme/api:1.0.0 # {\"$imagepolicy\": \"ns:p\"}\n          args: ['a', \"b\"]\n---\nimages:\n- name: x\n  newTag: 1.0.0 # {\"$imagepolicy\": \"ns:p:tag\"}\n";

fn any_yaml() -> impl Strategy<Value = String> {
    prop_oneof![
        yaml_soup(),
        yaml_tree(),
        mutated(DEPLOYMENT),
        (1usize..3000).prop_map(|n| format!("a: {}{}", "[".repeat(n), "]".repeat(n))),
        (1usize..3000).prop_map(|n| {
            let mut s = String::new();
            for i in 0..n {
                s.push_str(&" ".repeat(i % 200));
                s.push_str("- \n");
            }
            s
        }),
    ]
}

fn policies() -> BTreeMap<String, String> {
    BTreeMap::from([("ns:p".to_owned(), "ghcr.io/acme/api:2.0.0".to_owned())])
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
    fn fuzz_core_parse_yaml(text in any_yaml()) {
        if let Err(e) = gitops_core::object::parse_yaml("f.yaml", &text) {
            prop_assert!(e.to_string().contains("f.yaml"), "{}", e);
        }
    }

    #[test]
    fn fuzz_setters(text in any_yaml()) {
        match setters::apply("f.yaml", &text, &policies()) {
            Ok(result) => {
                // Only the marked scalars change: the rest of the text stays.
                if let Some(new) = result.text {
                    prop_assert!(!result.changes.is_empty());
                    prop_assert!(new.contains("2.0.0"));
                }
            }
            Err(e) => prop_assert!(e.to_string().starts_with("f.yaml:"), "{}", e),
        }
    }

    #[test]
    fn fuzz_commit_template(
        parts in prop::collection::vec(prop::sample::select(vec![
            "{{#changes}}", "{{/changes}}", "{{#files}}", "{{/files}}", "{{#images}}",
            "{{/images}}", "{{old}}", "{{new}}", "{{file}}", "{{count}}", "{{automation}}",
            "{{image}}", "{{nope}}", "{{", "}}", "x", "\n", "{{#", "{{/",
        ]), 0..40),
        n in 0usize..200,
    ) {
        let template = parts.concat();
        let changes: Vec<setters::Change> = (0..n)
            .map(|i| setters::Change {
                file: format!("f{}.yaml", i % 7),
                line: i,
                policy: "ns:p".into(),
                part: setters::Part::Tag,
                old: "1".into(),
                new: format!("1.{i}"),
            })
            .collect();
        if let Ok(text) = message::render(&template, "ns/a", &changes) {
            prop_assert!(text.len() <= message::MAX_OUTPUT);
        }
    }
}
