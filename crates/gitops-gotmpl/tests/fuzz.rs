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
    fn fuzz_actions(body in prop::collection::vec(prop::sample::select(&PIECES[4..]), 0..30)) {
        let text = format!("{{{{ {} }}}}", body.join(" "));
        check(&text)?;
    }
}
