//! Child processes: spawning servers in their own process groups, the watchdog that stops them
//! when the test process goes away, free ports, waiting for readiness, running commands.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::Error;

/// The watchdog: reads `pg <pgid>` and `dir <path>` lines until end of input, which comes when
/// every holder of the pipe's write end is gone, i.e. when the test process has exited however
/// it exited. It then stops each process group (TERM, then KILL after 5 s) and removes the
/// directories. It ignores terminal signals so that Ctrl-C reaches the test process, whose exit
/// then triggers the cleanup.
const WATCHDOG_SCRIPT: &str = r#"
trap '' INT HUP QUIT TERM PIPE
list=''
while IFS= read -r line; do
  list="$list$line
"
done
groups=$(printf '%s' "$list" | sed -n 's/^pg //p')
for g in $groups; do kill -s TERM -- "-$g" 2>/dev/null; done
i=0
while [ $i -lt 50 ]; do
  alive=''
  for g in $groups; do kill -s 0 -- "-$g" 2>/dev/null && alive=1; done
  [ -z "$alive" ] && break
  sleep 0.1
  i=$((i + 1))
done
for g in $groups; do kill -s KILL -- "-$g" 2>/dev/null; done
printf '%s' "$list" | sed -n 's/^dir //p' | while IFS= read -r d; do
  [ -n "$d" ] && rm -rf -- "$d"
done
"#;

struct Watchdog {
    input: Mutex<ChildStdin>,
    // Kept so that the handle lives as long as the process; never waited for.
    _child: Child,
}

static WATCHDOG: OnceLock<Result<Watchdog, String>> = OnceLock::new();

fn watchdog() -> Result<&'static Watchdog, Error> {
    let result = WATCHDOG.get_or_init(|| {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG_SCRIPT)
            .arg("gitops-testenv-watchdog")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: a terminal's Ctrl-C must not end it before the cleanup.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("could not start the watchdog (sh): {e}"))?;
        let input = child
            .stdin
            .take()
            .ok_or_else(|| "the watchdog has no standard input".to_string())?;
        Ok(Watchdog {
            input: Mutex::new(input),
            _child: child,
        })
    });
    result.as_ref().map_err(|e| Error::Start {
        server: "watchdog".into(),
        detail: e.clone(),
    })
}

fn tell_watchdog(line: &str) -> Result<(), Error> {
    let dog = watchdog()?;
    let mut input = dog
        .input
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    input
        .write_all(format!("{line}\n").as_bytes())
        .and_then(|()| input.flush())
        .map_err(|e| Error::io("could not talk to the watchdog", e))
}

/// Makes a temporary directory that the watchdog removes when the test process is gone.
pub(crate) fn temp_dir(prefix: &str) -> Result<PathBuf, Error> {
    watchdog()?;
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .map_err(|e| Error::io("could not create a temporary directory", e))?
        .keep();
    tell_watchdog(&format!("dir {}", dir.display()))?;
    Ok(dir)
}

/// A server process, the leader of its own process group.
pub(crate) struct Server {
    name: String,
    pid: u32,
    child: Mutex<Child>,
    log: PathBuf,
}

impl Server {
    /// Spawns `command` with its output going to `<log_dir>/<name>.log`.
    pub(crate) fn spawn(name: &str, mut command: Command, log_dir: &Path) -> Result<Self, Error> {
        watchdog()?;
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log)
            .map_err(|e| Error::io(format!("could not create {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::io("could not duplicate a log file handle", e))?;
        command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = command.spawn().map_err(|e| {
            Error::io(
                format!("could not start {name} ({:?})", command.get_program()),
                e,
            )
        })?;
        let pid = child.id();
        tell_watchdog(&format!("pg {pid}"))?;
        Ok(Self {
            name: name.to_string(),
            pid,
            child: Mutex::new(child),
            log,
        })
    }

    /// The process id (also the process group id).
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The file that holds the server's standard output and error.
    pub(crate) fn log_path(&self) -> &Path {
        &self.log
    }

    /// The last lines of the log, for error messages.
    pub(crate) fn log_tail(&self) -> String {
        let Ok(mut f) = File::open(&self.log) else {
            return String::new();
        };
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(4000)));
        let mut s = String::new();
        let _ = f.read_to_string(&mut s);
        s
    }

    /// An error if the process has exited.
    pub(crate) fn check_running(&self) -> Result<(), Error> {
        let mut child = self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(self.failed(&format!("exited with {status}"))),
            Err(e) => Err(Error::io(format!("could not check {}", self.name), e)),
        }
    }

    pub(crate) fn failed(&self, what: &str) -> Error {
        Error::Start {
            server: self.name.clone(),
            detail: format!("{what}; log {}:\n{}", self.log.display(), self.log_tail()),
        }
    }

    /// Stops the whole process group: TERM, then KILL after `grace`. Idempotent.
    pub(crate) fn stop(&self, grace: Duration) {
        let mut child = self
            .child
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if matches!(child.try_wait(), Ok(Some(_))) {
            signal_group(self.pid, "KILL");
            return;
        }
        signal_group(self.pid, "TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                // The leader is gone; make sure no helper in its group stays.
                signal_group(self.pid, "KILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(self.pid, "KILL");
        let _ = child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// A program under test run beside the servers (a controller binary, a benchmark's subject):
/// like a server, it leads its own process group with its output in a log file, is stopped when
/// dropped, and is stopped by the watchdog if the test process dies first.
pub struct Process {
    server: Server,
}

impl Process {
    /// Spawns `command` with standard output and error going to `<log_dir>/<name>.log`.
    pub fn spawn(name: &str, command: Command, log_dir: &Path) -> Result<Self, Error> {
        Server::spawn(name, command, log_dir).map(|server| Self { server })
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.server.log_path()).unwrap_or_default()
    }

    /// The end of the log, for error messages.
    pub fn log_tail(&self) -> String {
        self.server.log_tail()
    }

    /// An error naming the exit status and the log's end if the process has exited.
    pub fn check_running(&self) -> Result<(), Error> {
        self.server.check_running()
    }

    /// Sends `SIGINT`, the graceful stop a terminal's Ctrl-C asks for.
    pub fn interrupt(&self) {
        signal_group(self.server.pid(), "INT");
    }
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("name", &self.server.name)
            .field("pid", &self.server.pid)
            .field("log", &self.server.log)
            .finish()
    }
}

fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_port() -> Result<u16, Error> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| Error::io("could not find a free port on 127.0.0.1", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io("could not read a bound port", e))
}

/// Waits until `127.0.0.1:port` accepts connections, failing early if the server exits.
pub(crate) fn wait_for_port(server: &Server, port: u16, timeout: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        server.check_running()?;
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(server.failed(&format!("port {port} not open after {timeout:?}")));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Runs a command to completion and returns its standard output; fails on a non-zero exit.
pub(crate) fn run(command: &mut Command) -> Result<String, Error> {
    run_with_input(command, None)
}

/// Like [`run`], writing `input` to the command's standard input.
pub(crate) fn run_with_input(command: &mut Command, input: Option<&[u8]>) -> Result<String, Error> {
    let bytes = run_bytes(command, input)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Runs a command and returns its raw standard output.
pub(crate) fn run_bytes(command: &mut Command, input: Option<&[u8]>) -> Result<Vec<u8>, Error> {
    let line = describe(command);
    command
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command
        .spawn()
        .map_err(|e| Error::io(format!("could not run {line}"), e))?;
    if let (Some(data), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(data)
            .map_err(|e| Error::io(format!("could not write to {line}"), e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| Error::io(format!("could not run {line}"), e))?;
    if !out.status.success() {
        return Err(Error::Command {
            command: line,
            detail: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(out.stdout)
}

fn describe(command: &Command) -> String {
    let mut s = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args().take(6) {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Finds an executable on `PATH` or at one of the given absolute fallbacks.
pub(crate) fn find_program(name: &str, fallbacks: &[&str]) -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| is_executable(p))
    });
    from_path.or_else(|| {
        fallbacks
            .iter()
            .map(PathBuf::from)
            .find(|p| is_executable(p))
    })
}

pub(crate) fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

pub(crate) fn write_file(path: &Path, contents: impl AsRef<[u8]>) -> Result<(), Error> {
    std::fs::write(path, contents)
        .map_err(|e| Error::io(format!("could not write {}", path.display()), e))
}

pub(crate) fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| Error::io(format!("could not chmod {}", path.display()), e))
}

pub(crate) fn create_dir(path: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(path)
        .map_err(|e| Error::io(format!("could not create {}", path.display()), e))
}

/// A short name unique within this process: `<prefix>-<n>`.
pub(crate) fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{prefix}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The user name this process runs as (for sshd's `AllowUsers` and ssh URLs).
pub(crate) fn current_user() -> Result<String, Error> {
    Ok(run(Command::new("id").arg("-un"))?.trim().to_string())
}

/// Whether this process runs as root.
pub(crate) fn is_root() -> bool {
    run(Command::new("id").arg("-u"))
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

/// Runs `start` up to three times: ports are picked free but taken by the server a moment later,
/// so another process on the machine can take one in between. "Not installed" is not retried.
pub(crate) fn with_retries<T>(start: impl Fn() -> Result<T, Error>) -> Result<T, Error> {
    let mut attempt = 1;
    loop {
        match start() {
            Err(e) if !e.is_missing() && attempt < 3 => {
                eprintln!("gitops-testenv: start attempt {attempt} failed, retrying: {e}");
                attempt += 1;
            }
            result => return result,
        }
    }
}
