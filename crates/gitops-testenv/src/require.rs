//! The uniform way for tests to get a component: start it once per test binary, skip when it is
//! not installed, fail instead when `GITOPS_TESTENV_REQUIRED=1`.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::{AgeTools, Error, GitEnv, KubeEnv, RegistryEnv};

/// The command that installs every component, named in skip and failure messages.
pub const PROVISION_COMMAND: &str = "bash scripts/provision.sh";

/// Whether missing components must fail tests (`GITOPS_TESTENV_REQUIRED=1`) instead of skipping.
pub fn required() -> bool {
    std::env::var("GITOPS_TESTENV_REQUIRED").is_ok_and(|v| v == "1" || v == "true")
}

/// Handles a component that could not be had: returns `None` (the caller skips its test) after
/// printing why, when the error only says "not installed" and skipping is allowed; panics
/// otherwise, so a broken environment or a missing component under `GITOPS_TESTENV_REQUIRED=1`
/// fails the test.
#[track_caller]
pub fn skip_or_fail<T>(component: &str, error: &Error) -> Option<T> {
    if error.is_missing() && !required() {
        eprintln!("skipping test: {component}: {error}");
        None
    } else if error.is_missing() {
        panic!("GITOPS_TESTENV_REQUIRED=1 and {component} is missing: {error}");
    } else {
        panic!("{component} could not be started: {error}");
    }
}

fn shared<T>(
    cell: &'static OnceLock<Result<T, Error>>,
    component: &str,
    start: fn() -> Result<T, Error>,
) -> Option<&'static T>
where
    T: Send + Sync + 'static,
{
    // Start on a separate thread: starting blocks, and may run its own async runtime, which must
    // not nest inside the caller's.
    let result = cell.get_or_init(|| {
        std::thread::spawn(start)
            .join()
            .unwrap_or_else(|_| panic!("starting {component} panicked"))
    });
    match result {
        Ok(env) => Some(env),
        Err(e) => skip_or_fail(component, e),
    }
}

/// The Kubernetes API server of this test binary (etcd + kube-apiserver), started on first use.
///
/// Returns `None` (skip the test) when the binaries are not provisioned and
/// `GITOPS_TESTENV_REQUIRED` is not set; panics when they are missing under it, or fail to start.
/// Blocks while starting (a few seconds); call it from any thread or async runtime.
pub fn require_kube() -> Option<&'static KubeEnv> {
    static KUBE: OnceLock<Result<KubeEnv, Error>> = OnceLock::new();
    shared(&KUBE, "kube-apiserver", KubeEnv::start)
}

/// The Git servers of this test binary (git daemon, http-backend behind lighttpd, sshd).
///
/// Same skip/fail rules as [`require_kube`].
pub fn require_git() -> Option<&'static GitEnv> {
    static GIT: OnceLock<Result<GitEnv, Error>> = OnceLock::new();
    shared(&GIT, "git servers", GitEnv::start)
}

/// The two OCI registries of this test binary (htpasswd and token auth).
///
/// Same skip/fail rules as [`require_kube`].
pub fn require_registry() -> Option<&'static RegistryEnv> {
    static REGISTRY: OnceLock<Result<RegistryEnv, Error>> = OnceLock::new();
    shared(&REGISTRY, "docker-registry", RegistryEnv::start)
}

/// The static file server of this test binary (nginx).
///
/// Same skip/fail rules as [`require_kube`].
pub fn require_static() -> Option<&'static crate::StaticEnv> {
    static STATIC: OnceLock<Result<crate::StaticEnv, Error>> = OnceLock::new();
    shared(&STATIC, "nginx", crate::StaticEnv::start)
}

/// The path of the real `sops` binary installed by the provisioning.
///
/// Same skip/fail rules as [`require_kube`].
pub fn require_sops() -> Option<PathBuf> {
    match crate::find_sops() {
        Ok(path) => Some(path),
        Err(e) => skip_or_fail("sops", &e),
    }
}

/// The path of the real `helm` binary (v4, built from its Go module by the provisioning).
///
/// Same skip/fail rules as [`require_kube`].
pub fn require_helm() -> Option<PathBuf> {
    match crate::find_helm() {
        Ok(path) => Some(path),
        Err(e) => skip_or_fail("helm", &e),
    }
}

/// The path of the real `helm` v3 binary (built from `helm.sh/helm/v3` by the provisioning),
/// the second reader of release records.
///
/// Same skip/fail rules as [`require_kube`].
pub fn require_helm3() -> Option<PathBuf> {
    match crate::find_helm3() {
        Ok(path) => Some(path),
        Err(e) => skip_or_fail("helm v3", &e),
    }
}

/// The `age` and `age-keygen` binaries.
///
/// Same skip/fail rules as [`require_kube`].
pub fn require_age() -> Option<AgeTools> {
    match crate::find_age() {
        Ok(tools) => Some(tools),
        Err(e) => skip_or_fail("age", &e),
    }
}
