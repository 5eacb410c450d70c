//! etcd + kube-apiserver, started the way controller-runtime's envtest does.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::Error;
use crate::process::{
    Server, create_dir, free_port, is_executable, run, temp_dir, wait_for_port, write_file,
};
use crate::versions::{etcd_binary, kube_apiserver_binary};

/// A running etcd + kube-apiserver pair on 127.0.0.1, with an admin identity in `system:masters`
/// (a bearer token) and RBAC authorization. No controllers run: Deployments get no pods, no
/// garbage collector runs, and namespaces get no default service account.
///
/// Tests normally get the shared instance with [`crate::require_kube`]; [`KubeEnv::start`] makes
/// an owned one that stops when dropped.
pub struct KubeEnv {
    dir: PathBuf,
    kubeconfig_path: PathBuf,
    kubeconfig: Kubeconfig,
    server_url: String,
    etcd_url: String,
    audit_log: Option<PathBuf>,
    // Field order matters for Drop: the API server stops before etcd.
    apiserver: Server,
    etcd: Server,
}

const CONTEXT: &str = "gitops-testenv";

impl KubeEnv {
    /// Starts etcd and kube-apiserver and waits until `/readyz` answers `ok` (about 5–10 s).
    ///
    /// Blocks; it runs a small async runtime on its own thread to poll readiness, so it may be
    /// called from inside another runtime.
    ///
    /// # Errors
    /// [`Error::Missing`] when the binaries are not provisioned; other variants when a server
    /// fails to start.
    pub fn start() -> Result<Self, Error> {
        crate::process::with_retries(|| Self::start_once(None))
    }

    /// Like [`KubeEnv::start`], with the API server writing an audit log (JSON, one event a
    /// line, see [`KubeEnv::audit_log_path`]) under `policy`, a YAML `audit.k8s.io/v1` Policy.
    /// Benchmarks count a client's requests by verb from it, on the server's side.
    ///
    /// # Errors
    /// As [`KubeEnv::start`].
    pub fn start_audited(policy: &str) -> Result<Self, Error> {
        crate::process::with_retries(|| Self::start_once(Some(policy)))
    }

    fn start_once(audit_policy: Option<&str>) -> Result<Self, Error> {
        let etcd_bin = etcd_binary();
        let apiserver_bin = kube_apiserver_binary();
        for (component, bin) in [("etcd", &etcd_bin), ("kube-apiserver", &apiserver_bin)] {
            if !is_executable(bin) {
                return Err(Error::Missing {
                    component,
                    detail: format!("no executable at {}", bin.display()),
                });
            }
        }
        let openssl = crate::process::find_program("openssl", &[]).ok_or(Error::Missing {
            component: "openssl",
            detail: "not on PATH".into(),
        })?;

        let dir = temp_dir("gitops-testenv-kube-")?;
        let logs = dir.join("logs");
        create_dir(&logs)?;

        // etcd
        let client_port = free_port()?;
        let peer_port = free_port()?;
        let etcd_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut cmd = Command::new(&etcd_bin);
        cmd.arg("--name=testenv")
            .arg(format!("--data-dir={}", dir.join("etcd").display()))
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=testenv={peer_url}"))
            .arg("--unsafe-no-fsync=true")
            .arg("--log-level=warn");
        let etcd = Server::spawn("etcd", cmd, &logs)?;
        wait_for_port(&etcd, client_port, Duration::from_secs(30))?;

        // kube-apiserver: service-account key, admin token, self-signed serving cert in cert-dir.
        let sa_key = dir.join("sa.key");
        run(Command::new(&openssl)
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
            ])
            .arg(&sa_key))?;
        let token = format!("testenv-admin-{}", random_hex(16));
        let tokens = dir.join("tokens.csv");
        write_file(
            &tokens,
            format!("{token},testenv-admin,testenv-admin,system:masters\n"),
        )?;
        let cert_dir = dir.join("certs");
        create_dir(&cert_dir)?;
        let secure_port = free_port()?;
        let mut cmd = Command::new(&apiserver_bin);
        cmd.arg(format!("--etcd-servers={etcd_url}"))
            .arg("--bind-address=127.0.0.1")
            .arg("--advertise-address=127.0.0.1")
            .arg(format!("--secure-port={secure_port}"))
            .arg(format!("--cert-dir={}", cert_dir.display()))
            .arg(format!("--token-auth-file={}", tokens.display()))
            .arg("--authorization-mode=RBAC")
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg(format!("--service-account-key-file={}", sa_key.display()))
            .arg(format!(
                "--service-account-signing-key-file={}",
                sa_key.display()
            ))
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg("--disable-admission-plugins=ServiceAccount")
            .arg("--allow-privileged=true")
            .arg("--enable-priority-and-fairness=false")
            .arg("--profiling=false")
            .arg("--v=0");
        let audit_log = match audit_policy {
            Some(policy) => {
                let policy_file = dir.join("audit-policy.yaml");
                write_file(&policy_file, policy)?;
                let log = logs.join("audit.log");
                cmd.arg(format!("--audit-policy-file={}", policy_file.display()))
                    .arg(format!("--audit-log-path={}", log.display()))
                    .arg("--audit-log-format=json")
                    // The log is read as one growing file: rotation (100 MB by default)
                    // would hide every request after it from a reader keeping an offset.
                    .arg("--audit-log-maxsize=1000000")
                    .arg("--audit-log-maxbackup=1");
                Some(log)
            }
            None => None,
        };
        let apiserver = Server::spawn("kube-apiserver", cmd, &logs)?;

        let server_url = format!("https://127.0.0.1:{secure_port}");
        let ca_file = cert_dir.join("apiserver.crt");
        let deadline = Instant::now() + Duration::from_secs(90);
        while !ca_file.exists() {
            apiserver.check_running()?;
            if Instant::now() > deadline {
                return Err(apiserver.failed("no serving certificate was written"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The serving certificate file also holds the CA that signed it.
        std::thread::sleep(Duration::from_millis(100));
        let kubeconfig_yaml = kubeconfig_yaml(&server_url, &ca_file, &token);
        let kubeconfig_path = dir.join("kubeconfig");
        write_file(&kubeconfig_path, &kubeconfig_yaml)?;
        let kubeconfig: Kubeconfig =
            serde_yaml_ng::from_str(&kubeconfig_yaml).map_err(|e| Error::Start {
                server: "kube-apiserver".into(),
                detail: format!("generated kubeconfig does not parse: {e}"),
            })?;

        let env = Self {
            dir,
            kubeconfig_path,
            kubeconfig,
            server_url,
            etcd_url,
            audit_log,
            apiserver,
            etcd,
        };
        env.wait_ready(deadline)?;
        Ok(env)
    }

    fn wait_ready(&self, deadline: Instant) -> Result<(), Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("could not build a tokio runtime", e))?;
        runtime.block_on(async {
            let mut last;
            loop {
                self.apiserver.check_running()?;
                self.etcd.check_running()?;
                match self.try_client().await {
                    Ok(client) => {
                        let request = http::Request::get("/readyz")
                            .body(Vec::new())
                            .expect("a GET request with an empty body is valid");
                        match client.request_text(request).await {
                            Ok(body) if body.trim() == "ok" => return Ok(()),
                            Ok(body) => last = body,
                            Err(e) => last = e.to_string(),
                        }
                    }
                    Err(e) => last = e.to_string(),
                }
                if Instant::now() > deadline {
                    return Err(self
                        .apiserver
                        .failed(&format!("/readyz not ok in time (last answer: {last})")));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }

    async fn try_client(&self) -> Result<kube::Client, Error> {
        let config = self.config().await?;
        kube::Client::try_from(config).map_err(|e| Error::Kube {
            context: "building a client".into(),
            source: e,
        })
    }

    /// The kubeconfig file (one cluster, user and context, all named `gitops-testenv`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }

    /// The kubeconfig, parsed.
    pub fn kubeconfig(&self) -> &Kubeconfig {
        &self.kubeconfig
    }

    /// The API server URL, `https://127.0.0.1:<port>`.
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// The etcd client URL, `http://127.0.0.1:<port>`.
    pub fn etcd_url(&self) -> &str {
        &self.etcd_url
    }

    /// The API server's audit log, when started with [`KubeEnv::start_audited`].
    pub fn audit_log_path(&self) -> Option<&Path> {
        self.audit_log.as_deref()
    }

    /// The temporary directory with the data, keys and logs (`logs/etcd.log`,
    /// `logs/kube-apiserver.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A [`kube::Config`] for the admin identity.
    ///
    /// # Errors
    /// When the kubeconfig cannot be turned into a config (should not happen).
    pub async fn config(&self) -> Result<kube::Config, Error> {
        kube::Config::from_custom_kubeconfig(self.kubeconfig.clone(), &KubeConfigOptions::default())
            .await
            .map_err(|e| Error::Start {
                server: "kube-apiserver".into(),
                detail: format!("kubeconfig not usable: {e}"),
            })
    }

    /// A new admin client. Make one per test: a client is bound to the async runtime it was made
    /// in, and each `#[tokio::test]` has its own runtime.
    ///
    /// # Panics
    /// When no client can be built (the environment is broken).
    pub async fn client(&self) -> kube::Client {
        self.try_client()
            .await
            .unwrap_or_else(|e| panic!("kube-testenv client: {e}"))
    }

    /// Creates a fresh namespace (`test-<n>`) and returns its name.
    ///
    /// # Panics
    /// When the namespace cannot be created.
    pub async fn namespace(&self) -> String {
        self.namespace_with_prefix("test").await
    }

    /// Creates a fresh namespace named `<prefix>-<n>` and returns its name.
    ///
    /// # Panics
    /// When the namespace cannot be created.
    pub async fn namespace_with_prefix(&self, prefix: &str) -> String {
        let name = crate::process::unique_name(prefix);
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        kube::Api::<Namespace>::all(self.client().await)
            .create(&PostParams::default(), &ns)
            .await
            .unwrap_or_else(|e| panic!("creating namespace {name}: {e}"));
        name
    }

    /// Process ids of the API server and etcd (each leads its own process group).
    pub fn pids(&self) -> Vec<u32> {
        vec![self.apiserver.pid(), self.etcd.pid()]
    }

    /// The log files of the API server and etcd.
    pub fn log_paths(&self) -> Vec<PathBuf> {
        vec![
            self.apiserver.log_path().to_path_buf(),
            self.etcd.log_path().to_path_buf(),
        ]
    }

    /// Stops both servers and removes the temporary directory. Dropping does the same.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for KubeEnv {
    fn drop(&mut self) {
        self.apiserver.stop(Duration::from_secs(5));
        self.etcd.stop(Duration::from_secs(5));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn kubeconfig_yaml(server: &str, ca_file: &Path, token: &str) -> String {
    let value = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": CONTEXT, "cluster": {
            "server": server,
            "certificate-authority": ca_file.display().to_string(),
        }}],
        "users": [{"name": CONTEXT, "user": {"token": token}}],
        "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": CONTEXT}}],
        "current-context": CONTEXT,
    });
    serde_yaml_ng::to_string(&value).expect("a JSON value always serializes as YAML")
}

/// Random hex from the OS (through the std hasher's random keys, mixed with time and pid).
pub(crate) fn random_hex(bytes: usize) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    let mut i = 0u64;
    while out.len() < bytes * 2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        h.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", h.finish()));
        i += 1;
    }
    out.truncate(bytes * 2);
    out
}
