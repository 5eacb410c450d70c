//! The public API against texts produced by Go's `text/template` (Go 1.26, checked by hand
//! with a small Go program; the `helm_diff` test covers Helm's mode at scale).

use std::collections::BTreeMap;
use std::sync::Arc;

use gitops_gotmpl::{
    Function, Functions, MissingKey, Object, Options, Template, Templates, Ty, Value,
};

/// A host object like Helm's `.Files`: a method with an argument.
#[derive(Debug)]
struct Files;

impl Object for Files {
    fn type_name(&self) -> &str {
        "main.Files"
    }

    fn method(&self, name: &str) -> Option<Function> {
        match name {
            "Get" => Some(Function::new(&[Ty::String], |a| {
                Ok(Value::String(format!(
                    "content of {}",
                    a[0].as_str().unwrap_or_default()
                )))
            })),
            "Glob" => Some(Function::new(&[Ty::String, Ty::String], |a| {
                Ok(Value::String(format!(
                    "{}{}",
                    a[0].as_str().unwrap_or_default(),
                    a[1].as_str().unwrap_or_default()
                )))
            })),
            _ => None,
        }
    }
}

fn data() -> Value {
    let mut m = BTreeMap::new();
    m.insert(
        "a".to_string(),
        Value::from_json(&serde_json::json!({"n": null, "x": 1.0})),
    );
    m.insert("s".to_string(), Value::string("str"));
    m.insert("Files".to_string(), Value::Object(Arc::new(Files)));
    Value::map(m)
}

fn run(mode: MissingKey, text: &str) -> String {
    let t = Template::parse("t", text)
        .expect("parses")
        .with_options(Options::default().with_missing_key(mode));
    match t.execute(&data()) {
        Ok(s) => s,
        Err(e) => format!("ERR {e}"),
    }
}

#[test]
fn methods_with_arguments_on_host_objects() {
    let d = MissingKey::Default;
    assert_eq!(run(d, r#"{{ .Files.Get "x" }}"#), "content of x");
    assert_eq!(run(d, r#"{{ "y" | .Files.Get }}"#), "content of y");
    assert_eq!(run(d, r#"{{ .Files.Glob "a" "b" }}"#), "ab");
    assert_eq!(
        run(d, "{{ .Files.Get }}"),
        r#"ERR template: t:1:9: executing "t" at <.Files.Get>: wrong number of args for Get: want 1 got 0"#
    );
    assert_eq!(
        run(d, "{{ .Files.Get 1 }}"),
        r#"ERR template: t:1:14: executing "t" at <1>: expected string; found 1"#
    );
    assert_eq!(
        run(d, "{{ .Files.Nope }}"),
        r#"ERR template: t:1:9: executing "t" at <.Files.Nope>: can't evaluate field Nope in type interface {}"#
    );
}

#[test]
fn missing_keys_in_each_mode() {
    assert_eq!(run(MissingKey::Default, "{{ .missing }}"), "<no value>");
    assert_eq!(run(MissingKey::Default, "{{ .a.missing.x }}"), "<no value>");
    assert_eq!(
        run(MissingKey::Default, "{{ $x := .missing }}{{ $x.y }}"),
        "<no value>"
    );
    assert_eq!(
        run(MissingKey::Error, "{{ .a.missing }}"),
        r#"ERR template: t:1:5: executing "t" at <.a.missing>: map has no entry for key "missing""#
    );
    assert_eq!(
        run(MissingKey::Error, "{{ $x := .missing }}"),
        r#"ERR template: t:1:9: executing "t" at <.missing>: map has no entry for key "missing""#
    );
    assert_eq!(run(MissingKey::Zero, "{{ .missing }}"), "<no value>");
    assert_eq!(
        run(MissingKey::Zero, "{{ .missing.x }}"),
        r#"ERR template: t:1:11: executing "t" at <.missing.x>: nil pointer evaluating interface {}.x"#
    );
    assert_eq!(
        run(MissingKey::Default, "{{ .a.n.x }}"),
        r#"ERR template: t:1:5: executing "t" at <.a.n.x>: nil pointer evaluating interface {}.x"#
    );
}

#[test]
fn an_empty_redefinition_keeps_the_earlier_body() {
    let mut set = Templates::new(Functions::builtins());
    set.add("a.tpl", r#"{{ define "x" }}first{{ end }}"#)
        .expect("parses");
    set.add("b.tpl", r#"{{ define "x" }}  {{ end }}"#)
        .expect("parses");
    set.add("main", r#"{{ template "x" }}"#).expect("parses");
    assert_eq!(set.execute("main", &Value::Nil).expect("runs"), "first");
    set.add("c.tpl", r#"{{ define "x" }}second{{ end }}"#)
        .expect("parses");
    assert_eq!(set.execute("main", &Value::Nil).expect("runs"), "second");
    let err = set
        .execute("nope", &Value::Nil)
        .expect_err("no such template");
    assert_eq!(
        err.to_string(),
        r#"template: nope: no template "nope" associated with template "nope""#
    );
}

#[test]
fn registered_functions_get_gos_argument_checks() {
    let mut funcs = Functions::builtins();
    funcs.insert(
        "twice",
        Function::new(&[Ty::Int], |a| match a[0] {
            Value::Int(i) => Ok(Value::Int(i * 2)),
            _ => Err("unreachable: checked by the executor".into()),
        }),
    );
    funcs.insert("boom", Function::new(&[], |_| Err("it broke".to_string())));
    let run = |text: &str| {
        let t = Template::parse_with("f", text, funcs.clone()).expect("parses");
        t.execute(&Value::from_json(&serde_json::json!({"n": 2})))
            .map_err(|e| e.to_string())
    };
    assert_eq!(run("{{ twice 21 }}"), Ok("42".to_string()));
    assert_eq!(
        run("{{ twice .n }}"),
        Err(r#"template: f:1:9: executing "f" at <.n>: wrong type for value; expected int; got float64"#.to_string())
    );
    assert_eq!(
        run("{{ boom }}"),
        Err(
            r#"template: f:1:3: executing "f" at <boom>: error calling boom: it broke"#.to_string()
        )
    );
    let err = Template::parse("f", "{{ twice 1 }}").expect_err("not registered");
    assert_eq!(
        err.to_string(),
        r#"template: f:1: function "twice" not defined"#
    );
}

#[test]
fn values_from_json_are_float64_and_print_as_go() {
    let t = Template::parse("t", "{{ .n }} {{ .f }} {{ .big }} {{ printf \"%T\" .n }}")
        .expect("parses");
    let out = t
        .execute(&Value::from_json(
            &serde_json::json!({"n": 3, "f": 2.5, "big": 1000000}),
        ))
        .expect("runs");
    assert_eq!(out, "3 2.5 1e+06 float64");
}

#[test]
fn maps_are_shared_like_go_maps() {
    let t = Template::parse_with(
        "t",
        r#"{{ $d := dict "a" 1 }}{{ $e := $d }}{{ $_ := set $e "b" 2 }}{{ $d }}"#,
        Functions::sprig(),
    )
    .expect("parses");
    assert_eq!(t.execute(&Value::Nil).expect("runs"), "map[a:1 b:2]");
}

#[test]
fn functions_can_execute_templates_like_helms_include() {
    let mut funcs = Functions::sprig();
    funcs.insert(
        "include",
        Function::with_call(&[Ty::String, Ty::Any], None, |call, a| {
            call.execute_template(a[0].as_str().unwrap_or_default(), &a[1])
                .map(Value::String)
                .map_err(|e| e.to_string())
        }),
    );
    funcs.insert(
        "tpl",
        Function::with_call(&[Ty::String, Ty::Any], None, |call, a| {
            let mut set = call.templates().clone();
            set.add("tpl", a[0].as_str().unwrap_or_default())
                .map_err(|e| e.to_string())?;
            call.execute_in(&set, "tpl", &a[1])
                .map(Value::String)
                .map_err(|e| e.to_string())
        }),
    );
    let mut set = Templates::new(funcs);
    set.add(
        "_helpers.tpl",
        r#"{{ define "name" }}{{ .n | upper }}{{ end }}"#,
    )
    .expect("parses");
    set.add(
        "main",
        r#"{{ include "name" . | quote }} {{ tpl "{{ include \"name\" . }}!" . }}"#,
    )
    .expect("parses");
    let out = set
        .execute("main", &Value::from_json(&serde_json::json!({"n": "web"})))
        .expect("runs");
    assert_eq!(out, r#""WEB" WEB!"#);

    // Recursion through a function is bounded too.
    set.add(
        "loop",
        r#"{{ define "self" }}{{ include "self" . }}{{ end }}{{ include "self" . }}"#,
    )
    .expect("parses");
    let err = set.execute("loop", &Value::Nil).expect_err("bounded");
    assert!(err.to_string().contains("exceeded maximum"), "{err}");
}

#[test]
fn a_template_set_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Templates>();
    assert_send_sync::<Value>();
}

/// A host object that is a Go map with methods (Helm's `files.Files`): `range` and `len`
/// see its entries, in key order; an empty one takes `range`'s `else`.
#[derive(Debug)]
struct MapObject(Vec<(String, Value)>);

impl Object for MapObject {
    fn type_name(&self) -> &str {
        "main.MapObject"
    }

    fn entries(&self) -> Option<Vec<(String, Value)>> {
        Some(self.0.clone())
    }
}

#[test]
fn range_and_len_over_host_maps() {
    let full = MapObject(vec![
        ("a".into(), Value::string("1")),
        ("b".into(), Value::string("2")),
    ]);
    let mut top = BTreeMap::new();
    top.insert("m".to_string(), Value::Object(Arc::new(full)));
    top.insert(
        "e".to_string(),
        Value::Object(Arc::new(MapObject(Vec::new()))),
    );
    let t = Template::parse(
        "t",
        "{{ range $k, $v := .m }}{{ $k }}={{ $v }};{{ end }}{{ len .m }}{{ range .e }}x{{ else }}empty{{ end }}",
    )
    .expect("parse");
    assert_eq!(
        t.execute(&Value::map(top)).expect("execute"),
        "a=1;b=2;2empty"
    );
}

/// Sprig's `getHostByName` asks the system resolver (`localhost` is in every hosts file) and,
/// like Sprig indexing an empty answer, fails on a name that does not resolve.
#[test]
fn get_host_by_name_asks_the_system_resolver() {
    let run = |text: &str| {
        Template::parse_with("t", text, Functions::sprig())
            .expect("parses")
            .execute(&Value::Nil)
            .map_err(|e| e.to_string())
    };
    let out = run(r#"{{ getHostByName "localhost" }}"#).expect("localhost resolves");
    assert!(out == "127.0.0.1" || out == "::1", "{out}");
    let e = run(r#"{{ getHostByName "no-such-host.invalid" }}"#).expect_err("does not resolve");
    assert!(
        e.contains("error calling getHostByName: invalid argument to Intn"),
        "{e}"
    );
}

/// A template parsed under one name and renamed runs and fails as one parsed under the new
/// name: its own name, and the file named in the errors of the templates it defines.
#[test]
fn a_renamed_parse_is_the_parse_under_the_new_name() {
    let text = "{{ define \"inner\" }}{{ .x.y }}{{ end }}top {{ template \"inner\" . }}";
    let set = Templates::new(Functions::builtins());
    let dot = Value::map(BTreeMap::from([("x".to_string(), Value::Int(1))]));
    let outcome = |parsed: gitops_gotmpl::Parsed, name: &str| {
        let mut set = set.clone();
        set.insert(parsed);
        set.execute(name, &dot).map_err(|e| e.to_string())
    };
    let direct = set.parse_apart("chart/templates/b.yaml", text).unwrap();
    let renamed = set
        .parse_apart("templates/a.yaml", text)
        .unwrap()
        .renamed("chart/templates/b.yaml");
    assert_eq!(renamed.name(), "chart/templates/b.yaml");
    let expected = outcome(direct, "chart/templates/b.yaml");
    assert!(
        expected
            .as_ref()
            .is_err_and(|e| e.contains("chart/templates/b.yaml:1:")),
        "{expected:?}"
    );
    assert_eq!(outcome(renamed, "chart/templates/b.yaml"), expected);
}
