//! `gitops-controller`: reconciles Flux's custom resources with gitops-rs. See the library's
//! documentation for what it watches and serves; `--help` lists the flags.
#![forbid(unsafe_code)]

use clap::Parser;
use gitops_controller::{LogEncoding, Settings};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let settings = Settings::parse();
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,kube=warn".into()),
        );
    match settings.log_encoding {
        LogEncoding::Console => logs.init(),
        // One JSON object a line, for log collectors; no colours.
        LogEncoding::Json => logs.json().with_ansi(false).init(),
    }
    gitops_controller::run(settings).await
}
