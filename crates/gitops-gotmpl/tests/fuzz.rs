//! Property tests: arbitrary template text never panics or overflows the stack; parsing and
//! executing it ends with output or an error that names the template.

use gitops_gotmpl::{Functions, Options, Templates, Value};
use proptest::prelude::*;

/// Pieces that make up templates: delimiters, keywords, operands, punctuation, text.
const PIECES: &[&str] = &[
    "{{",
    "}}",
    "{{-",
    "-}}",
    " ",
    "\n",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "$",
    "$x",
    ":=",
    "=",
    "|",
    "(",
    ")",
    ".",
    ".a",
    ".b.c",
    "\"s\"",
    "`r`",
    "'c'",
    "1",
    "-2",
    "3.5",
    "1e6",
    "0x1F",
    "nil",
    "true",
    "len",
    "index",
    "slice",
    "printf",
    "\"%v %d %s\"",
    "eq",
    "lt",
    "and",
    "or",
    "not",
    "print",
    "default",
    "list",
    "dict",
    "set",
    "toJson",
    "until",
    "quote",
    "indent",
    "/*",
    "*/",
    ",",
    "x",
    "é",
    "\"t\"",
    "{{/* c */}}",
];

fn template_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|v| v.concat())
}

fn values() -> Value {
    Value::from_json(&serde_json::json!({
        "a": {"x": 1}, "b": {"c": [1, "two", null]}, "n": null, "s": "str", "f": 1.5
    }))
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        (-1000i64..1000).prop_map(|i| serde_json::json!(i)),
        "\\PC{0,8}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-c]{1,2}", inner, 0..5)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Templates that walk, print, compare, convert and merge whatever `.` is.
const OVER_VALUES: &[&str] = &[
    "{{ toJson . }}{{ toPrettyJson . }}{{ toRawJson . }}",
    "{{ range $k, $v := . }}{{ $k }}={{ $v }};{{ else }}none{{ end }}",
    "{{ printf \"%v %#v %q %x %d %s %T %+v %5.2f\" . . . . . . . . . }}",
    "{{ .a.b.c }}{{ index . \"a\" }}{{ len . }}{{ eq . . }}{{ lt . . }}",
    "{{ merge (dict) . }}{{ mergeOverwrite (dict \"a\" 1) . }}{{ deepCopy . | toJson }}",
    "{{ keys . | sortAlpha }}{{ values . }}{{ pick . \"a\" }}{{ dig \"a\" \"b\" 0 . }}",
    "{{ first . }}{{ last . }}{{ uniq . }}{{ compact . }}{{ reverse . }}{{ sortAlpha . }}",
    "{{ join \",\" . }}{{ has 1.0 . }}{{ without . 1.0 }}{{ concat . . }}{{ slice . 1 }}",
    "{{ default \"x\" . }}{{ empty . }}{{ toString . }}{{ int . }}{{ float64 . }}{{ quote . }}",
    "{{ typeOf . }}{{ kindOf . }}{{ deepEqual . . }}{{ html . }}{{ js . }}{{ urlquery . }}",
    "{{ with . }}{{ . }}{{ end }}{{ if . }}t{{ end }}{{ and . . }}{{ or . . }}{{ not . }}",
];

fn check(text: &str) -> Result<(), TestCaseError> {
    let mut set = Templates::new(Functions::sprig()).with_options(
        Options::default()
            .with_max_output_bytes(1 << 20)
            .with_max_steps(100_000),
    );
    match set.add("fuzz.tpl", text) {
        Ok(()) => match set.execute("fuzz.tpl", &values()) {
            Ok(_) => {}
            Err(e) => prop_assert!(e.to_string().starts_with("template: "), "{e}"),
        },
        Err(e) => prop_assert!(e.to_string().starts_with("template: fuzz.tpl:"), "{e}"),
    }
    Ok(())
}

proptest! {
    #[test]
    fn fuzz_template_pieces(text in template_text()) {
        check(&text)?;
    }

    #[test]
    fn fuzz_arbitrary_text(text in "\\PC{0,200}") {
        check(&text)?;
    }

    #[test]
    fn fuzz_date_layouts(
        layout in "(2006|01|02|Jan|January|Mon|15|03|04|05|PM|MST|Z07:00|-0700|\\.000|\\.999|_2|002|[ -/:éa-z0-9]){0,12}",
        value in "[ -/:éÉa-zA-Z0-9+]{0,30}",
    ) {
        let text = format!(
            "{{{{ mustToDate {} {} }}}}{{{{ toDate {} {} | date {} }}}}",
            gitops_gotmpl::gofmt::quote(&layout, false),
            gitops_gotmpl::gofmt::quote(&value, false),
            gitops_gotmpl::gofmt::quote(&layout, false),
            gitops_gotmpl::gofmt::quote(&value, false),
            gitops_gotmpl::gofmt::quote(&layout, false),
        );
        check(&text)?;
    }

    #[test]
    fn fuzz_string_functions(
        text in "\\PC{0,40}",
        other in "\\PC{0,6}",
        n in -5i64..50,
        m in -5i64..50,
    ) {
        let (t, o) = (
            gitops_gotmpl::gofmt::quote(&text, false),
            gitops_gotmpl::gofmt::quote(&other, false),
        );
        for call in [
            format!("substr {n} {m} {t}"), format!("trunc {n} {t}"), format!("abbrev {n} {t}"),
            format!("abbrevboth {n} {m} {t}"), format!("wrap {n} {t}"), format!("wrapWith {n} {o} {t}"),
            format!("indent {n} {t}"), format!("repeat {n} {t}"), format!("slice {t} {n} {m}"),
            format!("index {t} {n}"), format!("printf {t} {n} {o}"), format!("splitn {o} {n} {t}"),
            format!("regexSplit {o} {t} {n}"), format!("regexFindAll {o} {t} {n}"),
            format!("snakecase {t}"), format!("camelcase {t}"), format!("kebabcase {t}"),
            format!("title {t}"), format!("swapcase {t}"), format!("initials {t}"),
            format!("b64dec {t}"), format!("b32dec {t}"), format!("semverCompare {o} {t}"),
            format!("replace {o} {o} {t}"), format!("trimAll {o} {t}"), format!("toJson {t}"),
            format!("fromJson {t}"), format!("urlParse {t} | urlJoin"), format!("toDate {o} {t}"),
            format!("durationRound {t}"), format!("regexReplaceAll {o} {t} {o}"), format!("quote {t}"), format!("urlquery {t}"), format!("js {t}"),
        ] {
            check(&format!("{{{{ {call} }}}}"))?;
        }
    }

    #[test]
    fn fuzz_values(value in json_value()) {
        let dot = Value::from_json(&value);
        for text in OVER_VALUES {
            let mut set = Templates::new(Functions::sprig());
            set.add("values.tpl", text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            if let Err(e) = set.execute("values.tpl", &dot) {
                prop_assert!(e.to_string().starts_with("template: values.tpl:"), "{e}");
            }
        }
    }

    #[test]
    fn fuzz_actions(body in prop::collection::vec(prop::sample::select(&PIECES[4..]), 0..30)) {
        let text = format!("{{{{ {} }}}}", body.join(" "));
        check(&text)?;
    }
}
