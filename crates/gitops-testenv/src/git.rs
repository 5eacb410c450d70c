//! Git servers: `git daemon` (git://), `git http-backend` behind lighttpd with basic auth
//! (http://), and `sshd` (ssh://), all serving the same directory of bare repositories.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::Error;
use crate::kube_env::random_hex;
use crate::process::{
    Server, create_dir, current_user, find_program, free_port, is_root, run, set_mode, temp_dir,
    unique_name, wait_for_port, write_file,
};

/// The three Git servers. Every repository made by [`GitEnv::create_repo`] is reachable through
/// each of them.
///
/// - `git://127.0.0.1:<port>/<name>.git` — anonymous, push enabled.
/// - `http://127.0.0.1:<port>/git/<name>.git` — basic auth ([`GitEnv::http_username`] /
///   [`GitEnv::http_password`]); requests are logged (see [`GitEnv::http_access_log`]).
///   The same repositories are served without authentication under `/public/`
///   ([`TestRepo::http_url_anonymous`]).
/// - `ssh://<user>@127.0.0.1:<port>/<abs path>/<name>.git` — key auth with
///   [`GitEnv::ssh_identity_file`], host key checked against [`GitEnv::known_hosts_file`].
///
/// Every pack any of them sends is counted per repository (an `uploadpack.packObjectsHook`), so a
/// test can prove that a no-change poll downloaded no pack: [`GitEnv::packs_served`].
pub struct GitEnv {
    dir: PathBuf,
    repos: PathBuf,
    work: PathBuf,
    git: PathBuf,
    client_config: PathBuf,
    pack_log: PathBuf,
    access_log: PathBuf,
    daemon_port: u16,
    http_port: u16,
    ssh_port: u16,
    ssh_user: String,
    http_user: String,
    http_password: String,
    client_key: PathBuf,
    known_hosts: PathBuf,
    known_hosts_line: String,
    servers: Vec<Server>,
}

impl GitEnv {
    /// Starts the three servers (about half a second).
    ///
    /// # Errors
    /// [`Error::Missing`] when `git`, `lighttpd`, `sshd` or `ssh-keygen` is not installed.
    pub fn start() -> Result<Self, Error> {
        crate::process::with_retries(Self::start_once)
    }

    fn start_once() -> Result<Self, Error> {
        let missing = |component: &'static str| Error::Missing {
            component,
            detail: "not on PATH".into(),
        };
        let git = find_program("git", &[]).ok_or_else(|| missing("git"))?;
        let lighttpd =
            find_program("lighttpd", &["/usr/sbin/lighttpd"]).ok_or_else(|| missing("lighttpd"))?;
        let sshd = find_program("sshd", &["/usr/sbin/sshd"]).ok_or_else(|| missing("sshd"))?;
        let ssh_keygen = find_program("ssh-keygen", &[]).ok_or_else(|| missing("ssh-keygen"))?;
        find_program("ssh", &[]).ok_or_else(|| missing("ssh"))?;
        let exec_path = PathBuf::from(run(Command::new(&git).arg("--exec-path"))?.trim());
        let http_backend = exec_path.join("git-http-backend");
        if !http_backend.exists() {
            return Err(Error::Missing {
                component: "git-http-backend",
                detail: format!("not at {}", http_backend.display()),
            });
        }
        // sshd needs absolute paths for itself (re-exec) and its privilege-separation directory.
        let sshd = std::fs::canonicalize(&sshd)
            .map_err(|e| Error::io(format!("could not resolve {}", sshd.display()), e))?;

        let dir = temp_dir("gitops-testenv-git-")?;
        let repos = dir.join("repos");
        let work = dir.join("work");
        let logs = dir.join("logs");
        for d in [&repos, &work, &logs] {
            create_dir(d)?;
        }

        // Config read by every server-side git process: counts the packs sent.
        let pack_log = dir.join("logs/packs.log");
        write_file(&pack_log, "")?;
        let hook = dir.join("pack-objects-hook");
        write_file(
            &hook,
            format!(
                "#!/bin/sh\n# Logs the repository of each pack sent, then builds it.\nprintf '%s\\n' \"$(pwd -P)\" >> '{}'\nexec \"$@\"\n",
                pack_log.display()
            ),
        )?;
        set_mode(&hook, 0o755)?;
        let server_config = dir.join("server.gitconfig");
        write_file(
            &server_config,
            format!(
                "[uploadpack]\n\tpackObjectsHook = {}\n[safe]\n\tdirectory = *\n[http]\n\treceivepack = true\n",
                hook.display()
            ),
        )?;
        let client_config = dir.join("client.gitconfig");
        write_file(
            &client_config,
            "[user]\n\tname = gitops-testenv\n\temail = testenv@example.invalid\n[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n[protocol \"file\"]\n\tallow = always\n",
        )?;

        let mut servers = Vec::new();

        // git daemon
        let daemon_port = free_port()?;
        let mut cmd = Command::new(&git);
        cmd.arg("daemon")
            .arg("--reuseaddr")
            .arg("--listen=127.0.0.1")
            .arg(format!("--port={daemon_port}"))
            .arg(format!("--base-path={}", repos.display()))
            .arg("--export-all")
            .arg("--enable=receive-pack")
            .arg("--informative-errors")
            .arg("--verbose")
            .arg("--log-destination=stderr")
            .arg(&repos)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", &server_config);
        let daemon = Server::spawn("git-daemon", cmd, &logs)?;
        wait_for_port(&daemon, daemon_port, Duration::from_secs(10))?;
        servers.push(daemon);

        // lighttpd + git http-backend with basic auth
        let http_port = free_port()?;
        let http_user = "gitops".to_string();
        let http_password = format!("pw-{}", random_hex(8));
        let users = dir.join("http-users");
        write_file(&users, format!("{http_user}:{http_password}\n"))?;
        let access_log = dir.join("logs/http-access.log");
        let www = dir.join("www");
        create_dir(&www)?;
        let conf = dir.join("lighttpd.conf");
        write_file(
            &conf,
            format!(
                r#"server.modules = ("mod_alias", "mod_auth", "mod_authn_file", "mod_setenv", "mod_cgi", "mod_accesslog")
server.document-root = "{www}"
server.bind = "127.0.0.1"
server.port = {http_port}
server.errorlog = "{logs}/lighttpd-error.log"
server.breakagelog = "{logs}/lighttpd-cgi-stderr.log"
# A piped logger: lighttpd buffers access logs written to files for up to a second.
accesslog.filename = "|exec cat >> '{access_log}'"
# remote user, request line, status, response bytes (body), bytes out (with headers)
accesslog.format = "%h %u \"%r\" %>s %b %O"
# /git/ needs basic auth, /public/ is anonymous; both serve the same repositories.
alias.url = ( "/git" => "{http_backend}", "/public" => "{http_backend}" )
$HTTP["url"] =~ "^/(git|public)/" {{
    cgi.assign = ( "" => "" )
    setenv.add-environment = (
        "GIT_PROJECT_ROOT" => "{repos}",
        "GIT_HTTP_EXPORT_ALL" => "1",
        "GIT_CONFIG_NOSYSTEM" => "1",
        "GIT_CONFIG_GLOBAL" => "{server_config}"
    )
}}
auth.backend = "plain"
auth.backend.plain.userfile = "{users}"
$HTTP["url"] =~ "^/git/" {{
    auth.require = ( "" => ( "method" => "basic", "realm" => "gitops-testenv", "require" => "valid-user" ) )
}}
"#,
                www = www.display(),
                logs = logs.display(),
                access_log = access_log.display(),
                http_backend = http_backend.display(),
                repos = repos.display(),
                server_config = server_config.display(),
                users = users.display(),
            ),
        )?;
        let mut cmd = Command::new(&lighttpd);
        cmd.arg("-D").arg("-f").arg(&conf);
        let http = Server::spawn("lighttpd", cmd, &logs)?;
        wait_for_port(&http, http_port, Duration::from_secs(10))?;
        servers.push(http);

        // sshd
        let ssh_dir = dir.join("ssh");
        create_dir(&ssh_dir)?;
        set_mode(&ssh_dir, 0o700)?;
        let host_key = ssh_dir.join("host_ed25519");
        let client_key = ssh_dir.join("client_ed25519");
        for (key, comment) in [
            (&host_key, "gitops-testenv-host"),
            (&client_key, "gitops-testenv"),
        ] {
            run(Command::new(&ssh_keygen)
                .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
                .arg(key))?;
        }
        let authorized_keys = ssh_dir.join("authorized_keys");
        let client_pub = read(&client_key.with_extension("pub"))?;
        write_file(&authorized_keys, &client_pub)?;
        set_mode(&authorized_keys, 0o600)?;
        let ssh_port = free_port()?;
        let host_pub = read(&host_key.with_extension("pub"))?;
        let mut host_pub_fields = host_pub.split_whitespace();
        let known_hosts_line = format!(
            "[127.0.0.1]:{ssh_port} {} {}",
            host_pub_fields.next().unwrap_or_default(),
            host_pub_fields.next().unwrap_or_default()
        );
        let known_hosts = ssh_dir.join("known_hosts");
        write_file(&known_hosts, format!("{known_hosts_line}\n"))?;
        let ssh_user = current_user()?;
        let root = is_root();
        if root {
            // Privilege separation needs this directory; it lives on a tmpfs.
            create_dir(Path::new("/run/sshd"))?;
            set_mode(Path::new("/run/sshd"), 0o755)?;
        }
        let sshd_config = ssh_dir.join("sshd_config");
        write_file(
            &sshd_config,
            format!(
                "Port {ssh_port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {pid}\nAuthorizedKeysFile {authorized_keys}\n\
                 AllowUsers {ssh_user}\nPubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin {permit_root}\nStrictModes no\nUsePAM no\nPrintMotd no\nPrintLastLog no\nX11Forwarding no\n\
                 AllowTcpForwarding no\nLogLevel VERBOSE\nAcceptEnv GIT_PROTOCOL\nSetEnv GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL={server_config}\n",
                host_key = host_key.display(),
                pid = ssh_dir.join("sshd.pid").display(),
                authorized_keys = authorized_keys.display(),
                permit_root = if root { "prohibit-password" } else { "no" },
                server_config = server_config.display(),
            ),
        )?;
        let mut cmd = Command::new(&sshd);
        cmd.arg("-D").arg("-e").arg("-f").arg(&sshd_config);
        let sshd = Server::spawn("sshd", cmd, &logs)?;
        wait_for_port(&sshd, ssh_port, Duration::from_secs(10))?;
        servers.push(sshd);

        Ok(Self {
            dir,
            repos,
            work,
            git,
            client_config,
            pack_log,
            access_log,
            daemon_port,
            http_port,
            ssh_port,
            ssh_user,
            http_user,
            http_password,
            client_key,
            known_hosts,
            known_hosts_line,
            servers,
        })
    }

    /// Creates an empty bare repository named `<prefix>-<n>` (unique in this process), with a
    /// work clone for the commit helpers.
    ///
    /// # Errors
    /// When `git init` or `git clone` fails.
    pub fn create_repo(&self, prefix: &str) -> Result<TestRepo, Error> {
        let name = unique_name(prefix);
        let bare = self.repos.join(format!("{name}.git"));
        run(self
            .git_command()
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&bare))?;
        let work = self.work.join(&name);
        run(self
            .git_command()
            .args(["init", "-q", "-b", "main"])
            .arg(&work))?;
        run(self
            .git_command()
            .arg("-C")
            .arg(&work)
            .args(["remote", "add", "origin"])
            .arg(&bare))?;
        Ok(TestRepo {
            name,
            bare,
            work,
            git_url: format!("git://127.0.0.1:{}/", self.daemon_port),
            http_base: format!("127.0.0.1:{}/git/", self.http_port),
            http_user: self.http_user.clone(),
            http_password: self.http_password.clone(),
            ssh_base: format!("ssh://{}@127.0.0.1:{}", self.ssh_user, self.ssh_port),
            git: self.git.clone(),
            client_config: self.client_config.clone(),
            ssh_command: self.git_ssh_command(),
        })
    }

    /// A `git` command set up for these servers: no system or user config (identity
    /// `gitops-testenv`), `GIT_SSH_COMMAND` with the test key and strict host key checking,
    /// no terminal prompts.
    pub fn git_command(&self) -> Command {
        git_command(&self.git, &self.client_config, &self.git_ssh_command())
    }

    /// The directory holding the bare repositories (`<name>.git`).
    pub fn repos_dir(&self) -> &Path {
        &self.repos
    }

    /// The git daemon's base URL, `git://127.0.0.1:<port>/`.
    pub fn git_daemon_url(&self) -> String {
        format!("git://127.0.0.1:{}/", self.daemon_port)
    }

    /// The smart-HTTP base URL, `http://127.0.0.1:<port>/git/` (basic auth required).
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}/git/", self.http_port)
    }

    /// The ssh server's address, `ssh://<user>@127.0.0.1:<port>`; repositories are addressed by
    /// absolute path ([`TestRepo::ssh_url`]).
    pub fn ssh_url(&self) -> String {
        format!("ssh://{}@127.0.0.1:{}", self.ssh_user, self.ssh_port)
    }

    /// The ssh server's port.
    pub fn ssh_port(&self) -> u16 {
        self.ssh_port
    }

    /// The user name for ssh URLs (the user the tests run as).
    pub fn ssh_user(&self) -> &str {
        &self.ssh_user
    }

    /// The basic-auth user name of the HTTP server.
    pub fn http_username(&self) -> &str {
        &self.http_user
    }

    /// The basic-auth password of the HTTP server.
    pub fn http_password(&self) -> &str {
        &self.http_password
    }

    /// The private key (OpenSSH format, ed25519, no passphrase) that the ssh server accepts.
    pub fn ssh_identity_file(&self) -> &Path {
        &self.client_key
    }

    /// The private key's contents.
    ///
    /// # Panics
    /// When the key file cannot be read.
    pub fn ssh_identity(&self) -> String {
        read(&self.client_key).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A `known_hosts` file holding only the ssh server's host key.
    pub fn known_hosts_file(&self) -> &Path {
        &self.known_hosts
    }

    /// The `known_hosts` line of the ssh server: `[127.0.0.1]:<port> ssh-ed25519 AAAA…`.
    pub fn known_hosts(&self) -> &str {
        &self.known_hosts_line
    }

    /// A `GIT_SSH_COMMAND` value using the test key with strict host key checking.
    pub fn git_ssh_command(&self) -> String {
        format!(
            "ssh -F /dev/null -i '{}' -o IdentitiesOnly=yes -o UserKnownHostsFile='{}' -o StrictHostKeyChecking=yes -o BatchMode=yes",
            self.client_key.display(),
            self.known_hosts.display()
        )
    }

    /// The HTTP server's access log so far, one request a line:
    /// `<client> <user> "<request line>" <status> <body bytes> <bytes out>`.
    ///
    /// lighttpd logs a request once it has answered it, so a client may finish a moment before
    /// its last line appears; this waits 100 ms before reading.
    pub fn http_access_log(&self) -> String {
        std::thread::sleep(Duration::from_millis(100));
        std::fs::read_to_string(&self.access_log).unwrap_or_default()
    }

    /// The access log file.
    pub fn http_access_log_path(&self) -> &Path {
        &self.access_log
    }

    /// How many packs any of the servers has sent for this repository so far (clones and fetches
    /// that found something to send; a fetch with nothing new sends none).
    pub fn packs_served(&self, repo: &TestRepo) -> usize {
        let bare = std::fs::canonicalize(&repo.bare).unwrap_or_else(|_| repo.bare.clone());
        let bare = bare.to_string_lossy();
        std::fs::read_to_string(&self.pack_log)
            .unwrap_or_default()
            .lines()
            .filter(|line| *line == bare)
            .count()
    }

    /// The temporary directory (repositories, keys, configs, `logs/`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Process ids of the servers (each leads its own process group).
    pub fn pids(&self) -> Vec<u32> {
        self.servers.iter().map(Server::pid).collect()
    }

    /// Stops the servers and removes the temporary directory. Dropping does the same.
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for GitEnv {
    fn drop(&mut self) {
        for server in &self.servers {
            server.stop(Duration::from_secs(3));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A bare repository served by every [`GitEnv`] server, plus a work clone used by the helpers to
/// make commits, branches and tags (with the real `git`).
#[derive(Debug, Clone)]
pub struct TestRepo {
    name: String,
    bare: PathBuf,
    work: PathBuf,
    git_url: String,
    http_base: String,
    http_user: String,
    http_password: String,
    ssh_base: String,
    git: PathBuf,
    client_config: PathBuf,
    ssh_command: String,
}

impl TestRepo {
    /// The repository's name (without `.git`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The bare repository on disk.
    pub fn bare_path(&self) -> &Path {
        &self.bare
    }

    /// `git://127.0.0.1:<port>/<name>.git`
    pub fn git_url(&self) -> String {
        format!("{}{}.git", self.git_url, self.name)
    }

    /// `http://127.0.0.1:<port>/git/<name>.git` (needs basic auth).
    pub fn http_url(&self) -> String {
        format!("http://{}{}.git", self.http_base, self.name)
    }

    /// `http://127.0.0.1:<port>/public/<name>.git`: the same repository over HTTP without
    /// authentication (anonymous clone, fetch and push).
    pub fn http_url_anonymous(&self) -> String {
        format!(
            "http://{}{}.git",
            self.http_base.replace("/git/", "/public/"),
            self.name
        )
    }

    /// `http://<user>:<password>@127.0.0.1:<port>/git/<name>.git`
    pub fn http_url_with_credentials(&self) -> String {
        format!(
            "http://{}:{}@{}{}.git",
            self.http_user, self.http_password, self.http_base, self.name
        )
    }

    /// `ssh://<user>@127.0.0.1:<port>/<absolute path>/<name>.git`
    pub fn ssh_url(&self) -> String {
        format!("{}{}", self.ssh_base, self.bare.display())
    }

    fn git(&self) -> Command {
        let mut cmd = git_command(&self.git, &self.client_config, &self.ssh_command);
        cmd.arg("-C").arg(&self.work);
        cmd
    }

    fn switch_to(&self, branch: &str) -> Result<(), Error> {
        let exists = self
            .git()
            .args(["rev-parse", "--verify", "-q"])
            .arg(format!("refs/heads/{branch}"))
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        let has_commits = self
            .git()
            .args(["rev-parse", "--verify", "-q", "HEAD"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if exists {
            run(self.git().args(["checkout", "-q", branch]))?;
        } else if has_commits {
            run(self.git().args(["checkout", "-q", "-b", branch]))?;
        } else {
            run(self.git().args(["checkout", "-q", "--orphan", branch]))?;
        }
        Ok(())
    }

    /// Writes `files` (path relative to the repository root, contents; `None` deletes the
    /// file) on `branch`, commits them with `message`, pushes the branch and returns the new
    /// commit id. A branch that does not exist yet starts from the current commit (or as the
    /// first commit of an empty repository).
    ///
    /// # Errors
    /// When a file cannot be written or a `git` command fails.
    pub fn commit(
        &self,
        branch: &str,
        files: &[(&str, Option<&str>)],
        message: &str,
    ) -> Result<String, Error> {
        self.switch_to(branch)?;
        for (path, contents) in files {
            let target = self.work.join(path);
            match contents {
                Some(contents) => {
                    if let Some(parent) = target.parent() {
                        create_dir(parent)?;
                    }
                    write_file(&target, contents)?;
                }
                None => {
                    if target.is_dir() {
                        std::fs::remove_dir_all(&target)
                    } else {
                        std::fs::remove_file(&target)
                    }
                    .map_err(|e| Error::io(format!("could not remove {}", target.display()), e))?;
                }
            }
        }
        run(self.git().args(["add", "-A"]))?;
        run(self
            .git()
            .args(["commit", "-q", "--allow-empty", "-m", message]))?;
        run(self
            .git()
            .args(["push", "-q", "--force", "origin"])
            .arg(format!("refs/heads/{branch}:refs/heads/{branch}")))?;
        self.rev_parse(branch)
    }

    /// Shorthand for [`TestRepo::commit`] with files that are all written.
    ///
    /// # Errors
    /// As [`TestRepo::commit`].
    pub fn commit_files(
        &self,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> Result<String, Error> {
        let files: Vec<(&str, Option<&str>)> = files.iter().map(|(p, c)| (*p, Some(*c))).collect();
        self.commit(branch, &files, message)
    }

    /// Creates (or moves) branch `name` at `start` (a branch, tag or commit id) and pushes it.
    ///
    /// # Errors
    /// When a `git` command fails.
    pub fn branch(&self, name: &str, start: &str) -> Result<String, Error> {
        run(self.git().args(["branch", "-f", name, start]))?;
        run(self
            .git()
            .args(["push", "-q", "--force", "origin"])
            .arg(format!("refs/heads/{name}:refs/heads/{name}")))?;
        self.rev_parse(name)
    }

    /// Creates (or moves) tag `name` at `target` and pushes it. With a message the tag is
    /// annotated, otherwise lightweight. Returns the commit id the tag points to.
    ///
    /// # Errors
    /// When a `git` command fails.
    pub fn tag(&self, name: &str, target: &str, message: Option<&str>) -> Result<String, Error> {
        let mut cmd = self.git();
        cmd.args(["tag", "-f"]);
        if let Some(message) = message {
            cmd.args(["-a", "-m", message]);
        }
        run(cmd.arg(name).arg(target))?;
        run(self
            .git()
            .args(["push", "-q", "--force", "origin"])
            .arg(format!("refs/tags/{name}:refs/tags/{name}")))?;
        self.rev_parse(&format!("refs/tags/{name}^{{commit}}"))
    }

    /// Deletes a branch or tag (`refs/heads/x`, `refs/tags/y`) from the served repository.
    ///
    /// # Errors
    /// When a `git` command fails.
    pub fn delete_ref(&self, full_name: &str) -> Result<(), Error> {
        run(self
            .git()
            .args(["push", "-q", "origin"])
            .arg(format!(":{full_name}")))?;
        Ok(())
    }

    /// The commit id `rev` resolves to in the work clone.
    ///
    /// # Errors
    /// When `git rev-parse` fails.
    pub fn rev_parse(&self, rev: &str) -> Result<String, Error> {
        Ok(run(self.git().args(["rev-parse", "--verify"]).arg(rev))?
            .trim()
            .to_string())
    }
}

fn git_command(git: &Path, client_config: &Path, ssh_command: &str) -> Command {
    let mut cmd = Command::new(git);
    cmd.env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", client_config)
        .env("GIT_SSH_COMMAND", ssh_command)
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE");
    cmd
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("could not read {}", path.display()), e))
}
