//! The benchmark driver of `benches/helm-peer.sh`: `helm template` natively, taking the same
//! arguments (`NAME CHART [-n NS] [-f FILE]... [--set K=V]... [--set-string K=V]...
//! [--set-file K=PATH]... [--set-json K=JSON]... [--set-literal K=V]... [--kube-version V]
//! [--api-versions V]... [--include-crds] [--skip-tests] [--is-upgrade]`), printing the
//! manifests on stdout. With `GITOPS_HELM_PHASES=1` it also prints where the time went
//! (load, values, render, output) on stderr. A binary rather than an example, so that a
//! release build needs no dev-dependency; the `gitops helm template` CLI is the user-facing
//! command.
#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use gitops_helm::TemplateOptions;

// The parse trees and values are hundreds of thousands of small allocations: mimalloc (without
// transparent huge pages, which raised the peak RSS by half) took kube-prometheus-stack from
// about 65 to 57 ms of CPU here (benches/README.md). The library leaves the allocator to its host.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("Error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut options = TemplateOptions::new("");
    // As `gitops helm template` renders: a one-shot process, its threads pinned to cores.
    options.pin_threads = true;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("flag needs an argument: {flag}"))
        };
        match flag.as_str() {
            "--include-crds" => options.include_crds = true,
            "--skip-tests" => options.skip_tests = true,
            "--is-upgrade" => options.is_upgrade = true,
            "--enable-dns" => options.enable_dns = true,
            "-n" | "--namespace" => options.namespace = value()?,
            "-f" | "--values" => options
                .value_files
                .extend(value()?.split(',').map(PathBuf::from)),
            "--set" => options.set.push(value()?),
            "--set-string" => options.set_string.push(value()?),
            "--set-file" => options.set_file.push(value()?),
            "--set-json" => options.set_json.push(value()?),
            "--set-literal" => options.set_literal.push(value()?),
            "--kube-version" => options.kube_version = Some(value()?),
            // Not a flag of `helm template`: how many threads render (the benchmarks compare).
            "--threads" => {
                let n = value()?;
                options.threads = n.parse().map_err(|_| format!("invalid --threads: {n}"))?;
            }
            // Not a flag of `helm template`: threads left where the scheduler puts them.
            "--no-pin" => options.pin_threads = false,
            "-a" | "--api-versions" => options
                .api_versions
                .extend(value()?.split(',').map(String::from)),
            f if f.starts_with('-') => return Err(format!("unknown flag: {f}")),
            _ => positional.push(arg),
        }
    }
    let [name, chart] = &positional[..] else {
        return Err("usage: helm-template-driver NAME CHART [flags]".into());
    };
    options.release_name = name.clone();
    let timed = gitops_helm::template_timed(PathBuf::from(chart).as_path(), &options)
        .map_err(|e| e.to_string())?;
    let phases = timed.phases;
    // The process exits right after printing: freeing the parse trees and contexts one
    // allocation at a time (5-9 ms on kube-prometheus-stack) would only delay the exit that
    // returns all of it to the operating system at once.
    std::mem::forget(timed.retained);
    let out = timed.output;
    let start = std::time::Instant::now();
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| format!("writing the output: {e}"))?;
    if std::env::var_os("GITOPS_HELM_PHASES").is_some() {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        eprintln!(
            "phases: load {:.1} ms, values {:.1} ms, render {:.1} ms, output {:.1} ms, write {:.1} ms",
            ms(phases.load),
            ms(phases.values),
            ms(phases.render),
            ms(phases.output),
            ms(start.elapsed())
        );
    }
    Ok(())
}
