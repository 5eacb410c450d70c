//! What several subcommands share.

use std::path::Path;

use anyhow::Context as _;
use gitops::{ObjectRef, Renderer};

/// A `NAME=VALUE` argument.
pub(crate) fn parse_var(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected NAME=VALUE, got {text:?}"))
}

/// Who owns what the CLI's `reconcile local` and `apply` write: the inventory and events name
/// this Kustomization.
pub(crate) fn cli_owner() -> ObjectRef {
    ObjectRef::new(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        None,
        "cli",
    )
}

/// The renderer of `reconcile local`, `diff` and `apply`.
pub(crate) fn renderer() -> impl Renderer {
    // Like Flux: a directory without a kustomization file is taken whole.
    gitops::kustomize::KustomizeRenderer::new()
}

/// Writes `text` to stdout. A reader that went away (`gitops build . | head`) ends the output
/// quietly instead of a panic, as `cat` does.
pub(crate) fn emit(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// A client for the cluster of `kubeconfig`, else of `KUBECONFIG`, `~/.kube/config` or the
/// in-cluster account.
pub(crate) async fn kube_client(kubeconfig: Option<&Path>) -> anyhow::Result<kube::Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kubeconfig = kube::config::Kubeconfig::read_from(path)
                .with_context(|| format!("cannot read kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
                .await
                .with_context(|| format!("kubeconfig {} is not usable", path.display()))?
        }
        None => kube::Config::infer()
            .await
            .context("no kubeconfig found: give --kubeconfig")?,
    };
    Ok(kube::Client::try_from(config)?)
}
