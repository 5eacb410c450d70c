//! `gitops build`: a kustomization printed byte for byte as `kubectl kustomize` prints it.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use gitops::kustomize::{BuildOptions, LoadRestrictor, Reorder};

use crate::root::locate;

/// `gitops build DIR`.
#[derive(clap::Args)]
pub(crate) struct BuildArgs {
    /// The directory to build.
    dir: PathBuf,
    /// Refuse reads outside this directory (default: the enclosing Git work tree; outside
    /// one, no bound, as `kubectl kustomize`).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Which files a kustomization may read, kustomize's flag of that name.
    #[arg(long, value_enum, default_value = "LoadRestrictionsRootOnly")]
    load_restrictor: LoadRestrictorArg,
    /// The order of the output: kustomize's order by kind, or the input's.
    #[arg(long, value_enum, default_value = "legacy")]
    reorder: ReorderArg,
}

/// `--load-restrictor`, spelled as kustomize spells it.
#[derive(Clone, Copy, clap::ValueEnum)]
enum LoadRestrictorArg {
    /// Only files under the kustomization's directory.
    #[value(name = "LoadRestrictionsRootOnly")]
    RootOnly,
    /// Any file.
    #[value(name = "LoadRestrictionsNone")]
    None,
}

/// `--reorder`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum ReorderArg {
    /// kustomize's order by kind.
    Legacy,
    /// The input's order.
    None,
}

/// Builds and prints.
pub(crate) fn run(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let mut options = BuildOptions::default()
        .with_load_restrictor(match args.load_restrictor {
            LoadRestrictorArg::RootOnly => LoadRestrictor::RootOnly,
            LoadRestrictorArg::None => LoadRestrictor::None,
        })
        .with_reorder(match args.reorder {
            ReorderArg::Legacy => Reorder::Legacy,
            ReorderArg::None => Reorder::None,
        });
    let located = locate(&args.dir, args.root.as_deref())?;
    if let Some(located) = &located {
        options = options.with_root(&located.root);
    }
    let out = gitops::kustomize::build_to_string(&args.dir, &options);
    let out = match located {
        Some(located) => out.with_context(|| format!("build failed ({})", located.describe())),
        None => out.map_err(anyhow::Error::from),
    }?;
    crate::common::emit(&out)?;
    Ok(ExitCode::SUCCESS)
}
