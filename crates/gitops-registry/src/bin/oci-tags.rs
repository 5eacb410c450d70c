//! `oci-tags`: lists the tags of an image repository: `oci-tags REPO [--insecure] [--auth-file CONFIG.json]`.
//! A small tool, and the binary of the registry peer benchmark (`benches/registry-peer.sh`).

use gitops_core::ImageScanner;
use gitops_registry::{Credentials, DockerConfig, RegistryScanner};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let repository = args
        .next()
        .ok_or("usage: tags REPO [--insecure] [--auth-file F]")?;
    let mut scanner = RegistryScanner::new()?;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--insecure" => scanner = scanner.with_insecure(true),
            "--auth-file" => {
                let file = args.next().ok_or("--auth-file needs a file")?;
                let config = DockerConfig::parse(&std::fs::read(file)?)?;
                scanner = scanner.with_credentials(Credentials::DockerConfig(config));
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let result = scanner.scan(&repository).await?;
    let mut out = String::with_capacity(result.tags.len() * 8);
    for tag in &result.tags {
        out.push_str(tag);
        out.push('\n');
    }
    print!("{out}");
    Ok(())
}
