//! Real servers for gitops-rs tests, started on 127.0.0.1 by the tests themselves.
//!
//! `gitops-testenv` is a dev-dependency only (`publish = false`). It starts:
//!
//! - **Kubernetes**: `etcd` and `kube-apiserver` (built from their Go modules by
//!   `scripts/provision.sh`), with a token-authenticated admin in `system:masters` and RBAC on.
//!   See [`KubeEnv`].
//! - **Git**: `git daemon` (`git://`), `git http-backend` behind `lighttpd` with basic auth
//!   (`http://`), and `sshd` with a generated host key and client key (`ssh://`), all serving the
//!   same bare repositories. See [`GitEnv`] and [`TestRepo`].
//! - **OCI registries**: two `docker-registry` instances, one with htpasswd basic auth and one with
//!   bearer-token auth backed by a small token issuer in this crate. See [`RegistryEnv`].
//! - **sops** and **age**: paths to the real binaries. See [`require_sops`] and [`require_age`].
//! - **A static file server**: nginx serving a directory with `ETag`/`Last-Modified` and
//!   conditional GETs, basic auth below `private/` (a chart repository). See [`StaticEnv`].
//! - **helm** (v4, built from its Go module): the oracle of the Go-template and chart
//!   renderer's differential tests. See [`require_helm`]. **helm v3** (also built): a second
//!   reader of the release records gitops-helm writes. See [`require_helm3`].
//!
//! # Where to start
//!
//! Each `require_*` function starts its component once per test binary (lazily, shared by all
//! tests of that binary) and returns `None` when the component is not installed, after printing
//! which command installs it. With `GITOPS_TESTENV_REQUIRED=1` in the environment (the project's
//! test command sets it) a missing component panics instead, so CI cannot pass by skipping.
//!
//! ```no_run
//! # async fn example() {
//! use k8s_openapi::api::core::v1::ConfigMap;
//!
//! let Some(kube) = gitops_testenv::require_kube() else { return };
//! let ns = kube.namespace().await;           // a fresh namespace for this test
//! let client = kube.client().await;          // a client bound to the current runtime
//! let cms: kube::Api<ConfigMap> = kube::Api::namespaced(client, &ns);
//! # let _ = cms;
//! # }
//! ```
//!
//! Git, registries and sops the same way:
//!
//! ```no_run
//! # async fn example() -> Result<(), gitops_testenv::Error> {
//! let Some(git) = gitops_testenv::require_git() else { return Ok(()) };
//! let repo = git.create_repo("app")?;
//! let commit = repo.commit_files("main", &[("deploy/cm.yaml", "kind: ConfigMap\n")], "add")?;
//! repo.tag("v1.0.0", &commit, Some("release 1.0.0"))?;
//! let urls = [repo.git_url(), repo.http_url_with_credentials(), repo.ssh_url()];
//! assert_eq!(git.packs_served(&repo), 0); // no pack sent for it yet
//!
//! let Some(registries) = gitops_testenv::require_registry() else { return Ok(()) };
//! for registry in registries.servers() {
//!     registry
//!         .push_image("app", "v1.0.0", "application/vnd.oci.image.config.v1+json", b"{}", &[])
//!         .await?;
//!     assert_eq!(registry.list_tags("app").await?, ["v1.0.0"]);
//! }
//!
//! let Some(sops) = gitops_testenv::require_sops() else { return Ok(()) };
//! let Some(age) = gitops_testenv::require_age() else { return Ok(()) };
//! let key = age.keygen(std::path::Path::new("/tmp/example-age-key.txt"))?;
//! # let _ = (urls, sops, key);
//! # Ok(())
//! # }
//! ```
//!
//! # Processes
//!
//! Servers run in their own process groups. A watchdog process (a tiny `sh` script) holds the read
//! end of a pipe whose write end only the test process holds; when the test process ends in any
//! way (normal exit, panic, abort, `SIGKILL`), the pipe closes and the watchdog stops every server
//! group and removes the temporary directories. Owned environments (see the `up` binary) also stop
//! their servers when dropped. [`Process`] gives a program under test (a controller binary) the
//! same care.
//!
//! # Environment variables
//!
//! This crate is test infrastructure, so unlike the library crates it reads the environment:
//! `GITOPS_TESTENV_REQUIRED=1` turns skips into failures, and `GITOPS_TESTENV_CACHE` (default
//! `$XDG_CACHE_HOME/gitops-testenv` or `$HOME/.cache/gitops-testenv`) is where
//! `scripts/provision.sh` puts the binaries it builds.

mod error;
mod git;
mod kube_env;
mod process;
mod registry;
mod require;
mod sops;
mod static_http;
mod versions;

pub use error::Error;
pub use git::{GitEnv, TestRepo};
pub use kube_env::KubeEnv;
pub use process::Process;
pub use registry::{RegistryAuth, RegistryEnv, RegistryServer};
pub use require::{
    PROVISION_COMMAND, require_age, require_git, require_helm, require_helm3, require_kube,
    require_registry, require_sops, require_static, required, skip_or_fail,
};
pub use sops::{AgeKey, AgeTools, find_age, find_helm, find_helm3, find_sops};
pub use static_http::StaticEnv;
pub use versions::{
    cache_dir, etcd_version, helm_version, helm3_version, kubernetes_version, sops_version,
};
