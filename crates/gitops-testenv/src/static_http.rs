//! A static file server: nginx serving a directory as a chart repository or an artifact
//! server does, with the validators clients rely on (`ETag`, `Last-Modified`, answering a
//! conditional GET with 304) and basic auth below `private/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::Error;
use crate::kube_env::random_hex;
use crate::process::{
    Server, create_dir, find_program, free_port, is_root, temp_dir, wait_for_port, write_file,
};

/// nginx on 127.0.0.1 serving [`StaticEnv::root`] at [`StaticEnv::url`].
pub struct StaticEnv {
    dir: PathBuf,
    root: PathBuf,
    port: u16,
    username: String,
    password: String,
    server: Server,
}

impl StaticEnv {
    /// Starts nginx (a few milliseconds).
    ///
    /// # Errors
    /// [`Error::Missing`] when nginx is not installed; [`Error::Io`] or a start error otherwise.
    pub fn start() -> Result<Self, Error> {
        crate::process::with_retries(Self::start_once)
    }

    fn start_once() -> Result<Self, Error> {
        let nginx = find_program("nginx", &["/usr/sbin/nginx"]).ok_or_else(|| Error::Missing {
            component: "nginx",
            detail: "not on PATH".into(),
        })?;
        let dir = temp_dir("static")?;
        let root = dir.join("root");
        let logs = dir.join("logs");
        let temp = dir.join("tmp");
        for d in [&root, &logs, &temp] {
            create_dir(d)?;
        }
        let port = free_port()?;
        let username = "gitops".to_string();
        let password = format!("pw-{}", random_hex(8));
        let users = dir.join("users");
        // nginx reads `{PLAIN}` passwords as they are.
        write_file(&users, format!("{username}:{{PLAIN}}{password}\n"))?;
        // As root, workers would drop to `nobody`, which cannot enter the private temp dir.
        let user = if is_root() { "user root;" } else { "" };
        let conf = dir.join("nginx.conf");
        write_file(
            &conf,
            format!(
                r#"{user}
daemon off;
master_process off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {logs}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log {logs}/access.log;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    types {{ application/x-yaml yaml yml; application/gzip tgz gz; application/json json; }}
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location /private/ {{
            auth_basic "gitops-testenv";
            auth_basic_user_file {users};
        }}
    }}
}}
"#,
                dir = dir.display(),
                logs = logs.display(),
                temp = temp.display(),
                root = root.display(),
                users = users.display(),
            ),
        )?;
        let mut command = Command::new(&nginx);
        command
            .arg("-e")
            .arg(logs.join("startup.log"))
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf);
        let server = Server::spawn("nginx", command, &logs)?;
        wait_for_port(&server, port, Duration::from_secs(10))?;
        Ok(Self {
            dir,
            root,
            port,
            username,
            password,
            server,
        })
    }

    /// The directory served: a file written at `root/a/b` is at `url/a/b`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The base URL, `http://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// The user name basic auth accepts below `private/`.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Its password.
    pub fn password(&self) -> &str {
        &self.password
    }
}

impl Drop for StaticEnv {
    fn drop(&mut self) {
        self.server.stop(Duration::from_secs(2));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
