//! Differential test against the real Go implementation: every case below is rendered by
//! `helm template` (v4.3.2, built from its Go module by `scripts/provision.sh`) and by this
//! crate, and the outputs (or errors) must be identical, byte for byte.
//!
//! All cases go into ONE generated chart: case N is `templates/_cN.tpl` (its text as is) and
//! `templates/cN.yaml` is `v: {{ include "gotmpl-diff/templates/_cN.tpl" . | toJson }}`, so any
//! output survives Helm's YAML handling and is split back by the `# Source:` headers. Cases that
//! fail (in our engine, or in Helm) are rendered one chart each, and the error texts compared.
//! Helm executes with `missingkey=zero`; so does our engine here.

mod cases;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use gitops_gotmpl::{Error, Functions, MissingKey, Options, Templates, Value};

const CHART: &str = "gotmpl-diff";

fn tpl_name(i: usize) -> String {
    format!("{CHART}/templates/_c{i}.tpl")
}

fn write_chart(dir: &Path, cases: &[(usize, &str)]) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("templates")).expect("chart dir");
    std::fs::write(
        dir.join("Chart.yaml"),
        format!("apiVersion: v2\nname: {CHART}\nversion: 0.1.0\n"),
    )
    .expect("Chart.yaml");
    std::fs::write(dir.join("values.yaml"), cases::VALUES).expect("values.yaml");
    for (i, text) in cases {
        std::fs::write(dir.join(format!("templates/_c{i}.tpl")), text).expect("case");
        std::fs::write(
            dir.join(format!("templates/c{i}.yaml")),
            format!("v: {{{{ include \"{}\" . | toJson }}}}\n", tpl_name(*i)),
        )
        .expect("wrapper");
    }
}

fn helm(helm: &Path, dir: &Path) -> Result<String, String> {
    let out = Command::new(helm)
        .arg("template")
        .arg("r")
        .arg(dir)
        .output()
        .expect("run helm");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The case number a Helm error names first (`templates/_c12.tpl` or `templates/c12.yaml`).
fn failing_case(stderr: &str) -> Option<usize> {
    let at = stderr.find("/templates/")?;
    let rest = &stderr[at + "/templates/".len()..];
    let rest = rest.strip_prefix('_').unwrap_or(rest).strip_prefix('c')?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

fn parse_outputs(stdout: &str) -> BTreeMap<usize, String> {
    let mut map = BTreeMap::new();
    let mut lines = stdout.lines();
    while let Some(line) = lines.next() {
        if let Some(src) = line.strip_prefix(&format!("# Source: {CHART}/templates/c")) {
            let i: usize = src.trim_end_matches(".yaml").parse().expect("case number");
            let v = lines.next().expect("value line");
            let json = v.strip_prefix("v: ").expect("v: line");
            let s: String = serde_json::from_str(json).expect("json string");
            map.insert(i, s);
        }
    }
    map
}

fn engine(cases: &[(usize, &str)]) -> Result<Templates, Error> {
    let mut set = Templates::new(Functions::sprig())
        .with_options(Options::default().with_missing_key(MissingKey::Zero));
    for (i, text) in cases {
        set.add(&tpl_name(*i), text)?;
    }
    Ok(set)
}

/// Helm drops `null` map entries when it reads values (a null deletes a key).
fn drop_nulls(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

fn dot() -> Value {
    let mut values: serde_json::Value = serde_json::from_str(cases::VALUES).expect("values json");
    drop_nulls(&mut values);
    let mut top = BTreeMap::new();
    top.insert("Values".to_string(), Value::from_json(&values));
    Value::map(top)
}

/// The texts Helm v4 may print for an error of ours: Helm keeps only the last `: `-separated
/// part of a parse error, and prints an execution error either in Go's form or reformatted
/// one line per part.
fn helm_texts(e: &Error) -> Vec<String> {
    match e {
        Error::Parse { name, line, .. } => {
            let go = e.to_string();
            let last = go.rsplit(": ").next().unwrap_or_default();
            vec![format!("parse error at ({name}:{line}): {last}")]
        }
        Error::Exec(x) => {
            let mut v = vec![e.to_string()];
            // Helm prints `fail`'s message alone: "execution error at (FILE:L:C): MESSAGE".
            if let Some(msg) = x.message.strip_prefix("error calling fail: ") {
                v.push(format!("): {msg}\n"));
            }
            if let Some(ctx) = &x.context {
                v.push(format!(
                    "{}\n  executing \"{}\" at <{}>:\n    {}",
                    x.location, x.template, ctx, x.message
                ));
            }
            v
        }
        other => vec![other.to_string()],
    }
}

fn helm_text(e: &Error) -> String {
    e.to_string()
}

#[test]
fn helm_template_matches_byte_for_byte() {
    let Some(helm_bin) = gitops_testenv::require_helm() else {
        return;
    };
    let all = cases::all();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dot = dot();

    // Our results, each case on its own (a parse error in one must not hide the others).
    let mut ours: BTreeMap<usize, Result<String, Error>> = BTreeMap::new();
    let started = std::time::Instant::now();
    for (i, text) in &all {
        let r = engine(&[(*i, text)]).and_then(|set| set.execute(&tpl_name(*i), &dot));
        ours.insert(*i, r);
    }
    let ours_took = started.elapsed();

    // Helm, all cases we render without error in one chart; a case Helm fails on moves out.
    let mut batch: Vec<(usize, &str)> = all
        .iter()
        .filter(|(i, _)| ours[i].is_ok())
        .map(|(i, t)| (*i, t.as_str()))
        .collect();
    let mut singles: Vec<(usize, &str)> = all
        .iter()
        .filter(|(i, _)| ours[i].is_err())
        .map(|(i, t)| (*i, t.as_str()))
        .collect();
    let chart = tmp.path().join(CHART);
    let mut theirs: BTreeMap<usize, Result<String, String>> = BTreeMap::new();
    let mut helm_took = None;
    loop {
        write_chart(&chart, &batch);
        let started = std::time::Instant::now();
        let result = helm(&helm_bin, &chart);
        helm_took = helm_took.or(Some((started.elapsed(), batch.len())));
        match result {
            Ok(out) => {
                for (i, s) in parse_outputs(&out) {
                    theirs.insert(i, Ok(s));
                }
                break;
            }
            Err(stderr) => {
                let i = failing_case(&stderr)
                    .unwrap_or_else(|| panic!("helm failed without naming a case: {stderr}"));
                let pos = batch
                    .iter()
                    .position(|(j, _)| *j == i)
                    .unwrap_or_else(|| panic!("helm named case {i} not in the batch: {stderr}"));
                singles.push(batch.remove(pos));
            }
        }
    }
    for (i, text) in &singles {
        write_chart(&chart, &[(*i, text)]);
        match helm(&helm_bin, &chart) {
            Ok(out) => {
                theirs.insert(*i, Ok(parse_outputs(&out).remove(i).unwrap_or_default()));
            }
            Err(stderr) => {
                theirs.insert(*i, Err(stderr));
            }
        }
    }

    let mut identical = 0;
    let mut different = Vec::new();
    for (i, text) in &all {
        let same = match (&ours[i], &theirs[i]) {
            (Ok(a), Ok(b)) => a == b,
            (Err(e), Err(stderr)) => helm_texts(e).iter().any(|t| stderr.contains(t)),
            _ => false,
        };
        if same {
            identical += 1;
        } else if !cases::KNOWN_DIFFERENCES.contains(&text.as_str()) {
            different.push(format!(
                "case {i}: {text:?}\n  ours: {:?}\n  helm: {:?}",
                ours[i].as_ref().map_err(helm_text),
                theirs[i]
            ));
        }
    }
    if let Some((took, n)) = helm_took {
        eprintln!(
            "timing: this engine parsed and executed {} cases in {ours_took:?} (this build's profile, one set per case); helm template rendered {n} of them as one chart in {took:?}",
            all.len()
        );
    }
    eprintln!(
        "{} cases: {identical} identical to helm template, {} different ({} known)",
        all.len(),
        all.len() - identical,
        cases::KNOWN_DIFFERENCES.len()
    );
    assert!(
        different.is_empty(),
        "{} cases differ from helm:\n{}",
        different.len(),
        different.join("\n")
    );
}
