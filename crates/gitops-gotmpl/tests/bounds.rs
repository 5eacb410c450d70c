//! Bad input ends quickly with a clear error: deep nesting, endless recursion, huge lists,
//! huge output, endless loops. Never a panic, a stack overflow or a hang.

use std::time::{Duration, Instant};

use gitops_gotmpl::{Error, Functions, Options, Template, Value};

/// Runs `f` on a thread with Rust's default 2 MiB stack, as a host's worker thread would.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("no panic, no stack overflow")
}

fn parse_err(text: String) -> String {
    on_small_stack(
        move || match Template::parse_with("deep.yaml", &text, Functions::sprig()) {
            Ok(_) => "parsed".into(),
            Err(e) => e.to_string(),
        },
    )
}

#[test]
fn deeply_nested_parentheses_are_a_parse_error_not_a_stack_overflow() {
    let n = 100_000;
    let err = parse_err(format!("{{{{ {}1{} }}}}", "(".repeat(n), ")".repeat(n)));
    assert_eq!(err, "template: deep.yaml:1: max expression depth exceeded");
}

#[test]
fn deeply_nested_ifs_are_a_parse_error_not_a_stack_overflow() {
    let n = 100_000;
    let err = parse_err(format!(
        "{}x{}",
        "{{ if true }}\n".repeat(n),
        "{{ end }}".repeat(n)
    ));
    assert!(err.starts_with("template: deep.yaml:"), "{err}");
    assert!(err.ends_with(": max nesting depth exceeded"), "{err}");
}

#[test]
fn endless_template_recursion_stops_with_an_error() {
    let err = on_small_stack(|| {
        let t = Template::parse(
            "loop.yaml",
            r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}"#,
        )
        .expect("parses");
        t.execute(&Value::Nil)
            .expect_err("must not succeed")
            .to_string()
    });
    assert!(err.starts_with("template: loop.yaml:1:"), "{err}");
    assert!(err.contains("exceeded maximum"), "{err}");
}

#[test]
fn template_depth_limit_uses_gos_message() {
    let t = Template::parse(
        "loop.yaml",
        r#"{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" . }}"#,
    )
    .expect("parses")
    .with_options(Options::default().with_max_depth(20));
    let err = t.execute(&Value::Nil).expect_err("fails").to_string();
    assert!(
        err.ends_with("exceeded maximum template depth (20)"),
        "{err}"
    );
}

#[test]
fn until_a_hundred_million_is_refused_quickly() {
    let start = Instant::now();
    let t = Template::parse_with("big.yaml", "{{ until 100000000 }}", Functions::sprig())
        .expect("parses");
    let err = t.execute(&Value::Nil).expect_err("refused");
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(
        err.to_string()
            .ends_with("error calling until: list longer than 1048576 elements"),
        "{err}"
    );
}

#[test]
fn output_beyond_the_budget_is_an_error() {
    let t = Template::parse_with(
        "out.yaml",
        "{{ range until 100000 }}0123456789{{ end }}",
        Functions::sprig(),
    )
    .expect("parses")
    .with_options(Options::default().with_max_output_bytes(1 << 16));
    let err = t.execute(&Value::Nil).expect_err("too big");
    assert!(
        err.to_string()
            .ends_with("output exceeds the limit of 65536 bytes"),
        "{err}"
    );
}

#[test]
fn repeat_beyond_the_string_budget_is_an_error() {
    let t = Template::parse_with(
        "rep.yaml",
        "{{ repeat 100000000 \"0123456789\" }}",
        Functions::sprig(),
    )
    .expect("parses");
    let err = t.execute(&Value::Nil).expect_err("too big").to_string();
    assert!(
        err.contains("error calling repeat: result longer than"),
        "{err}"
    );
}

#[test]
fn range_over_a_huge_integer_ends() {
    let start = Instant::now();
    let t = Template::parse("spin.yaml", "{{ range 100000000000 }}{{ end }}")
        .expect("parses")
        .with_options(Options::default().with_max_steps(1_000_000));
    let err = t.execute(&Value::Nil).expect_err("stops");
    assert!(start.elapsed() < Duration::from_secs(10));
    assert!(
        err.to_string()
            .ends_with("execution exceeded 1000000 steps"),
        "{err}"
    );
}

#[test]
fn unknown_function_is_a_parse_error_naming_it() {
    let err = Template::parse("x.yaml", "line\n{{ toYaml . }}").expect_err("unknown");
    assert_eq!(
        err.to_string(),
        r#"template: x.yaml:2: function "toYaml" not defined"#
    );
    assert!(matches!(err, Error::Parse { line: 2, .. }));
}

#[test]
fn a_map_holding_itself_does_not_overflow_when_printed_or_encoded() {
    let out = on_small_stack(|| {
        let t = Template::parse_with(
            "cycle.yaml",
            r#"{{ $d := dict }}{{ $_ := set $d "self" $d }}{{ $e := dict }}{{ $_ := set $e "self" $e }}{{ len (toJson $d) }}|{{ len (printf "%v" $d) }}|{{ deepEqual $d $e }}|{{ len (uniq (list $d $e)) }}"#,
            Functions::sprig(),
        )
        .expect("parses");
        t.execute(&Value::Nil).map_err(|e| e.to_string())
    });
    assert!(out.is_ok(), "{out:?}");
    let json = on_small_stack(|| {
        let d = gitops_gotmpl::Dict::new();
        d.insert("self", Value::Map(d.clone()));
        Value::Map(d).to_json().to_string().len()
    });
    assert!(json > 0);
}
