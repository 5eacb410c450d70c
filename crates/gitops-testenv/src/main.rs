//! `gitops-testenv up`: starts the test servers in the foreground for people and scripts.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use gitops_testenv::{GitEnv, KubeEnv, RegistryEnv};

#[derive(Parser)]
#[command(name = "gitops-testenv", about = "Real servers for gitops-rs tests")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the servers, print how to reach them, and wait for Ctrl-C or SIGTERM.
    Up {
        /// Also copy the kubeconfig to this file.
        #[arg(long)]
        kubeconfig_out: Option<PathBuf>,
        /// Only these components (default: all).
        #[arg(long, value_delimiter = ',')]
        only: Vec<Component>,
    },
    /// Print the pinned versions and the cache directory.
    Versions,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Component {
    Kube,
    Git,
    Registry,
}

fn main() -> std::process::ExitCode {
    match Cli::parse().command {
        Cmd::Versions => {
            println!("kubernetes {}", gitops_testenv::kubernetes_version());
            println!("etcd {}", gitops_testenv::etcd_version());
            println!("sops {}", gitops_testenv::sops_version());
            println!("helm {}", gitops_testenv::helm_version());
            println!("cache {}", gitops_testenv::cache_dir().display());
            std::process::ExitCode::SUCCESS
        }
        Cmd::Up {
            kubeconfig_out,
            only,
        } => match up(kubeconfig_out, &only) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gitops-testenv: {e}");
                std::process::ExitCode::FAILURE
            }
        },
    }
}

fn up(
    kubeconfig_out: Option<PathBuf>,
    only: &[Component],
) -> Result<(), Box<dyn std::error::Error>> {
    let wants = |c| only.is_empty() || only.contains(&c);
    let started = std::time::Instant::now();

    let kube = if wants(Component::Kube) {
        let env = KubeEnv::start()?;
        println!(
            "kube-apiserver {}  {}",
            gitops_testenv::kubernetes_version(),
            env.server_url()
        );
        println!("  etcd         {}", env.etcd_url());
        println!("  kubeconfig   {}", env.kubeconfig_path().display());
        if let Some(out) = &kubeconfig_out {
            std::fs::copy(env.kubeconfig_path(), out)?;
            println!("  copied to    {}", out.display());
        }
        Some(env)
    } else {
        None
    };

    let git = if wants(Component::Git) {
        let env = GitEnv::start()?;
        let repo = env.create_repo("example")?;
        repo.commit_files(
            "main",
            &[("README.md", "example repository\n")],
            "first commit",
        )?;
        println!("git daemon     {}", env.git_daemon_url());
        println!(
            "git http       {} (user {} password {})",
            env.http_url(),
            env.http_username(),
            env.http_password()
        );
        println!(
            "git ssh        {} (key {}, known_hosts {})",
            env.ssh_url(),
            env.ssh_identity_file().display(),
            env.known_hosts_file().display()
        );
        println!("  example repo {}", repo.git_url());
        println!("               {}", repo.http_url_with_credentials());
        println!("               {}", repo.ssh_url());
        println!("  GIT_SSH_COMMAND=\"{}\"", env.git_ssh_command());
        Some(env)
    } else {
        None
    };

    let registry = if wants(Component::Registry) {
        let env = RegistryEnv::start()?;
        println!(
            "registry basic {} (user {} password {})",
            env.basic.addr(),
            env.basic.username(),
            env.basic.password()
        );
        println!(
            "registry token {} (token realm {}, same credentials)",
            env.token.addr(),
            env.token.token_realm().unwrap_or_default()
        );
        Some(env)
    } else {
        None
    };

    match gitops_testenv::find_sops() {
        Ok(path) => println!("sops           {}", path.display()),
        Err(e) => println!("sops           {e}"),
    }
    match gitops_testenv::find_helm() {
        Ok(path) => println!("helm           {}", path.display()),
        Err(e) => println!("helm           {e}"),
    }
    println!(
        "ready in {:.1?}; Ctrl-C or SIGTERM stops everything",
        started.elapsed()
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    })?;
    println!("stopping");
    drop(registry);
    drop(git);
    drop(kube);
    println!("stopped");
    Ok(())
}
