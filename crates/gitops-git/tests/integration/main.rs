//! Integration tests against the real Git servers of `gitops-testenv`: git daemon, http-backend
//! behind lighttpd with basic auth, sshd with key and known_hosts, and file://.

#![allow(missing_docs)]
#![allow(clippy::unwrap_used)]

mod errors;
mod fetch;
mod push;
mod signatures;

use std::path::Path;
use std::process::Command;

use gitops_git::{Auth, GitSource, Reference};
use gitops_testenv::{GitEnv, TestRepo};

/// The servers, or `None` to skip (fails instead under `GITOPS_TESTENV_REQUIRED=1`).
pub fn servers() -> Option<&'static GitEnv> {
    gitops_testenv::require_git()
}

/// One way to reach a repository.
pub struct Transport {
    pub name: &'static str,
    pub url: String,
    pub auth: Auth,
}

pub fn ssh_auth(env: &GitEnv) -> Auth {
    Auth::ssh(env.ssh_identity(), format!("{}\n", env.known_hosts()))
}

pub fn http_auth(env: &GitEnv) -> Auth {
    Auth::basic(env.http_username(), env.http_password())
}

/// Every transport to `repo`.
pub fn transports(env: &GitEnv, repo: &TestRepo) -> Vec<Transport> {
    vec![
        Transport {
            name: "git",
            url: repo.git_url(),
            auth: Auth::None,
        },
        Transport {
            name: "http",
            url: repo.http_url(),
            auth: http_auth(env),
        },
        Transport {
            name: "ssh",
            url: repo.ssh_url(),
            auth: ssh_auth(env),
        },
        Transport {
            name: "file",
            url: format!("file://{}", repo.bare_path().display()),
            auth: Auth::None,
        },
    ]
}

pub fn source(t: &Transport, reference: Reference, storage: &Path) -> GitSource {
    GitSource::new(&t.url, reference, storage)
        .unwrap()
        .with_auth(t.auth.clone())
        .with_insecure_http(true)
}

/// Runs `git` against a bare repository of the test servers.
pub fn git_in(env: &GitEnv, git_dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> String {
    use std::io::Write as _;
    let mut cmd: Command = env.git_command();
    cmd.arg("--git-dir").arg(git_dir).args(args);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            input.write_all(bytes).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Lists the relative paths of the files under `dir`, sorted.
pub fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Packs in the cache repository of a source's storage.
pub fn cached_packs(storage: &Path) -> usize {
    std::fs::read_dir(storage.join("cache.git/objects/pack"))
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().ends_with(".pack"))
                .count()
        })
        .unwrap_or(0)
}
