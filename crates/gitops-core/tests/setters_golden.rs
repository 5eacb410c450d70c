//! Golden files for the setters: `tests/setters/<case>.in.yaml` rewritten with the policies
//! below must equal `<case>.out.yaml` byte for byte. The outputs were reviewed one by one:
//! each differs from its input only in the marked values.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeMap;
use std::path::Path;

use gitops_core::image::setters;

fn policies() -> BTreeMap<String, String> {
    [
        ("flux-system:a", "ghcr.io/acme/a:1.2.0"),
        ("flux-system:b", "ghcr.io/acme/b:2.0.0"),
        ("flux-system:c", "ghcr.io/acme/c:3.0.0"),
        (
            "flux-system:worker",
            "registry.example.com:5000/acme/worker:1.1.0",
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

#[test]
fn golden_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/setters");
    let mut cases = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(case) = name.strip_suffix(".in.yaml") else {
            continue;
        };
        let input = std::fs::read_to_string(&path).unwrap();
        let expected = std::fs::read_to_string(dir.join(format!("{case}.out.yaml"))).unwrap();
        let result = setters::apply(&name, &input, &policies()).unwrap();
        let output = result.text.unwrap_or_else(|| input.clone());
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            // Regenerate, then review every diff before committing.
            std::fs::write(dir.join(format!("{case}.out.yaml")), &output).unwrap();
            cases += 1;
            continue;
        }
        assert_eq!(output, expected, "case {case}");
        cases += 1;
    }
    assert_eq!(cases, 4);
}
