//! `kustomize-build DIR [--load-restrictor LoadRestrictionsNone] [--reorder legacy|none]`:
//! prints what `kubectl kustomize DIR` prints. Used by the benchmark script.

use std::process::ExitCode;

use gitops_kustomize::{BuildOptions, LoadRestrictor, Reorder, build_to_string};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut dirs = Vec::new();
    let mut options = BuildOptions::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--load-restrictor" => match args.next().as_deref() {
                Some("LoadRestrictionsNone") => {
                    options = options.with_load_restrictor(LoadRestrictor::None)
                }
                Some("LoadRestrictionsRootOnly") => {}
                other => {
                    eprintln!("unknown load restrictor {other:?}");
                    return ExitCode::from(2);
                }
            },
            "--reorder" => match args.next().as_deref() {
                Some("legacy") => options = options.with_reorder(Reorder::Legacy),
                Some("none") => options = options.with_reorder(Reorder::None),
                other => {
                    eprintln!("unknown reorder {other:?}");
                    return ExitCode::from(2);
                }
            },
            _ => dirs.push(a),
        }
    }
    if dirs.is_empty() {
        dirs.push(".".into());
    }
    // Several directories: each printed in turn (the benchmark builds many in one process).
    let mut out = String::new();
    for dir in &dirs {
        match build_to_string(dir, &options) {
            Ok(text) => out.push_str(&text),
            Err(e) => {
                let mut msg = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    msg.push_str(": ");
                    msg.push_str(&s.to_string());
                    source = s.source();
                }
                eprintln!("error: {msg}");
                return ExitCode::FAILURE;
            }
        }
    }
    print!("{out}");
    ExitCode::SUCCESS
}
