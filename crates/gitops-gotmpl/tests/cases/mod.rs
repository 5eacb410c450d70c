//! The differential cases: template texts over one shared set of values.

/// The chart's values, as JSON (so YAML parsing plays no part); Helm reads every number as a
/// float64.
pub const VALUES: &str = r#"{
  "str": "hello", "empty": "", "num": 42, "float": 3.5, "big": 1000000, "huge": 1e21,
  "small": 0.00001, "neg": -7, "zero": 0, "t": true, "f": false, "nul": null,
  "list": ["a", "b", "c"], "nums": [3, 1, 2], "emptyList": [], "mixed": [1, "two", true, null, {"k": "v"}],
  "map": {"b": 2, "a": 1, "c": {"d": "deep"}}, "emptyMap": {},
  "nested": {"x": {"y": {"z": "found"}}, "n": null, "l": [{"name": "first"}, {"name": "second"}]},
  "image": {"repository": "nginx", "tag": "1.25", "pullPolicy": "IfNotPresent"},
  "ports": [{"name": "http", "port": 80}, {"name": "https", "port": 443}],
  "labels": {"app": "web", "tier": "frontend", "z-last": "z"},
  "text": "line1\nline2\nline3", "spaces": "  padded  ", "quote": "say \"hi\" & <bye>",
  "unicode": "héllo wörld ✓", "pct": "50%", "csv": "a,b,,c", "intstr": "123", "floatstr": "1.5",
  "version": "1.2.3", "dup": ["a", "b", "a", "c", "b"], "nulls": [null, "", 0, false, "x"]
}"#;

/// Cases whose difference from Helm is known (by text), each with why.
pub const KNOWN_DIFFERENCES: &[&str] = &[
    // Unbounded recursion: Go stops at 100,000 nested calls ("exceeded maximum template depth
    // (100000)"); we stop earlier, at our stack budget, with our own message. Both fail.
    "{{ define \"t-6\" }}{{ template \"t-6\" . }}{{ end }}{{ template \"t-6\" . }}",
    // Complex numbers are not supported (a parse error here); Go prints (0+1i).
    "{{ 1i }}",
    "{{ 1+2i }}",
    // A map where Sprig wants its certificate struct: Go fails converting the argument (the
    // error names the argument node); we fail inside the call (`error calling
    // genSignedCert:`), with the same message. Both fail.
    "{{ genSignedCert \"x\" nil nil 1 (dict \"Cert\" \"a\" \"Key\" \"b\") }}",
];

mod language;
mod printing;
mod sprig;

/// Every case, numbered from 1.
pub fn all() -> Vec<(usize, String)> {
    let mut v: Vec<String> = Vec::new();
    v.extend(language::CASES.iter().map(|s| s.to_string()));
    v.extend(printing::cases());
    v.extend(sprig::CASES.iter().map(|s| s.to_string()));
    v.into_iter().enumerate().map(|(i, s)| (i + 1, s)).collect()
}
