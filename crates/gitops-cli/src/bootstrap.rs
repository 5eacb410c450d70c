//! `gitops bootstrap git`: the installation and a sync of this cluster's folder committed to
//! the repository, applied once, and from then on managed by the controller from Git, as
//! `flux bootstrap git` does. A second run with the same arguments changes nothing.

use std::process::ExitCode;

use anyhow::Context as _;
use gitops::git::{Auth, CommitSpec, GitWriter, Identity, PushOutcome};
use gitops::install::bootstrap::{self, SYNC_NAME, SyncOptions};
use gitops::install::{InstallOptions, ReconcileRights};
use gitops::kube::{KubeApplier, KubeApplierOptions};
use gitops::{Applier, Object};
use serde_json::json;

use crate::cluster::ClusterArgs;

/// `gitops bootstrap`.
#[derive(clap::Subcommand)]
pub(crate) enum BootstrapCommand {
    /// Bootstrap from a Git repository over HTTP(S) or SSH.
    Git(GitArgs),
}

/// `gitops bootstrap git`.
#[derive(clap::Args)]
pub(crate) struct GitArgs {
    /// The repository URL.
    #[arg(long)]
    url: String,
    /// The branch to commit to and follow.
    #[arg(long, default_value = "main")]
    branch: String,
    /// This cluster's folder in the repository (`clusters/vps`).
    #[arg(long)]
    path: String,
    /// HTTP(S) user name; with `--password`, also stored in the Secret `flux-system` for the
    /// controller.
    #[arg(long, requires = "password")]
    username: Option<String>,
    /// HTTP(S) password or token.
    #[arg(long, requires = "username")]
    password: Option<String>,
    /// An existing Secret of the namespace with the Git credentials (`username`/`password`, or
    /// `identity`/`known_hosts`), used to push and by the controller.
    #[arg(long, conflicts_with = "username")]
    secret_ref: Option<String>,
    /// Allow a plain `http://` URL (a server on a private network).
    #[arg(long)]
    allow_insecure_http: bool,
    /// The commit author's name.
    #[arg(long, default_value = "gitops-rs")]
    author_name: String,
    /// The commit author's email.
    #[arg(long, default_value = "gitops@users.noreply.localhost")]
    author_email: String,
    /// The controller's image.
    #[arg(long, default_value_t = gitops::install::default_image())]
    image: String,
    /// Apply without waiting for the controller to become ready.
    #[arg(long)]
    no_wait: bool,
    #[command(flatten)]
    cluster: ClusterArgs,
}

pub(crate) async fn run(command: BootstrapCommand) -> anyhow::Result<ExitCode> {
    let BootstrapCommand::Git(args) = command;
    let options = InstallOptions {
        namespace: args.cluster.namespace.clone(),
        image: args.image.clone(),
        rights: ReconcileRights::Namespaced,
        bootstrap: true,
        ..InstallOptions::default()
    };
    let secret = match (&args.username, &args.secret_ref) {
        (Some(_), _) => Some(SYNC_NAME.to_string()),
        (None, Some(name)) => Some(name.clone()),
        (None, None) => None,
    };
    let mut sync = SyncOptions::new(&args.url, &args.branch, &args.path);
    if let Some(name) = &secret {
        sync = sync.with_secret(name);
    }
    let files = bootstrap::files(&options, &sync)?;
    let client = args.cluster.client().await?;

    // 1. Git: commit the manifests (nothing when they are already there).
    let auth = match (&args.username, &args.password, &args.secret_ref) {
        (Some(user), Some(password), _) => Some(Auth::basic(user, password)),
        (_, _, Some(name)) => {
            let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
                kube::Api::namespaced(client.clone(), &options.namespace);
            let stored = secrets
                .get(name)
                .await
                .with_context(|| format!("reading Secret {}/{name}", options.namespace))?;
            let data = stored
                .data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0));
            Some(Auth::from_secret_data(data)?)
        }
        _ => None,
    };
    let workdir = tempfile::tempdir()?;
    let mut writer =
        GitWriter::new(&args.url, workdir.path())?.with_insecure_http(args.allow_insecure_http);
    if let Some(auth) = auth {
        writer = writer.with_auth(auth);
    }
    let commit = CommitSpec::new(
        Identity::new(&args.author_name, &args.author_email),
        format!("Add gitops-rs sync manifests for {}", sync.path),
    );
    let written = files.clone();
    let outcome = writer
        .update(&args.branch, &args.branch, &commit, move |dir| {
            for (path, text) in &written {
                let file = dir.join(path);
                if let Some(parent) = file.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&file, text)?;
            }
            Ok(())
        })
        .await
        .with_context(|| format!("committing to {} ({})", args.url, args.branch))?;
    match &outcome {
        PushOutcome::Pushed { commit, branch, .. } => {
            println!("committed {commit} to {branch}: {}/flux-system", sync.path);
        }
        PushOutcome::NoChange { commit } => {
            println!("repository up to date at {commit}");
        }
        _ => {}
    }

    // 2. The cluster: the installation, labelled as the sync Kustomization will label it and
    //    with the controller's field manager, so the controller takes over without conflicts;
    //    then the credentials and the sync objects.
    let applier = KubeApplier::with_options(
        client,
        // The controller's default `--field-manager` is its name.
        KubeApplierOptions::default().with_field_manager(gitops::install::CONTROLLER),
    );
    let owner = bootstrap::sync_owner(&options);
    let wait = (!args.no_wait).then_some(args.cluster.timeout);
    let installed =
        gitops::install::install_owned(&applier, &options, Some(owner.clone()), None).await?;
    let mut rest: Vec<Object> = Vec::new();
    if let (Some(user), Some(password)) = (&args.username, &args.password) {
        rest.push(Object::new(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": SYNC_NAME, "namespace": options.namespace},
            "stringData": {"username": user, "password": password}
        }))?);
    }
    rest.extend(bootstrap::sync_objects(&options, &sync)?);
    let synced = applier
        .apply(
            &rest,
            &gitops::apply::ApplyOptions::default().with_owner(owner),
        )
        .await?;
    let changed = installed
        .changes
        .iter()
        .chain(&synced.changes)
        .filter(|c| c.action != gitops::apply::Action::Unchanged)
        .count();
    let total = installed.changes.len() + synced.changes.len();
    if let Some(timeout) = wait {
        gitops::install::wait_ready(&applier, &options, timeout).await?;
    }
    println!(
        "bootstrapped {} in {}: {changed} of {total} objects changed",
        sync.path, options.namespace
    );
    Ok(ExitCode::SUCCESS)
}
