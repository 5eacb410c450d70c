//! The webhook receiver example as a server facing hostile clients: a slowloris client is cut
//! off, running out of file descriptors neither kills the server nor spins it at full CPU, and
//! a signed push still gets through afterwards.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose
#![cfg(target_os = "linux")] // reads /proc for the CPU time

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    url: String,
    /// Kept open: the example prints a line per reconcile, and a closed pipe would fail it.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the example with at most `files` open file descriptors (`ulimit -n`).
fn start(files: u32) -> Server {
    let example = support::example("receiver", "notify");
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(format!("ulimit -n {files} && exec \"$0\" \"$@\""))
        .arg(example.get_program())
        .args(example.get_args())
        .args([
            "--kind",
            "github",
            "--token",
            "s3cret",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = command.spawn().unwrap();
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    stdout.read_line(&mut line).unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    Server {
        child,
        url,
        _stdout: stdout,
    }
}

impl Server {
    fn addr(&self) -> String {
        let rest = self.url.strip_prefix("http://").unwrap();
        rest[..rest.find('/').unwrap()].to_owned()
    }

    fn path(&self) -> String {
        let rest = self.url.strip_prefix("http://").unwrap();
        rest[rest.find('/').unwrap()..].to_owned()
    }

    /// utime + stime of the process, in clock ticks (100 per second on Linux).
    fn cpu_ticks(&mut self) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        Some(fields[11].parse::<u64>().ok()? + fields[12].parse::<u64>().ok()?)
    }

    fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// POSTs a signed GitHub push and returns the status line.
    fn push(&self, body: &str) -> String {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"s3cret").unwrap();
        mac.update(body.as_bytes());
        let signature = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let mut stream = TcpStream::connect(self.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        write!(
            stream,
            "POST {} HTTP/1.1\r\nHost: x\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.path(),
            body.len()
        )
        .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer.lines().next().unwrap_or("").to_owned()
    }
}

#[test]
fn receiver_cuts_off_clients_that_never_finish_their_headers() {
    let server = start(1024);
    let mut slow = TcpStream::connect(server.addr()).unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\nHost: x\r\n").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 256];
    // The server either closes (0 bytes) or answers 408; both end the exchange.
    let _ = slow.read(&mut buf);
    let waited = started.elapsed();
    eprintln!("slow client cut off after {waited:?}");
    assert!(
        waited < Duration::from_secs(20),
        "the connection was held for {waited:?}"
    );
    let status = server.push(r#"{"after":"1"}"#);
    assert!(status.contains("200"), "{status:?}");
}

#[test]
fn receiver_survives_running_out_of_file_descriptors_without_spinning() {
    let mut server = start(64);
    // Hold more connections than the process has descriptors for.
    let held: Vec<TcpStream> = (0..96)
        .filter_map(|_| TcpStream::connect(server.addr()).ok())
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let before = server.cpu_ticks();
    std::thread::sleep(Duration::from_secs(3));
    let after = server.cpu_ticks();
    assert!(server.alive(), "the server exited when accept failed");
    let spent = after.unwrap() - before.unwrap();
    eprintln!("{} connections held, {spent} CPU ticks in 3 s", held.len());
    assert!(
        spent < 100,
        "{spent} ticks of CPU in 3 s (100 = a full core for 1 s): accept errors make it spin"
    );
    drop(held);
    // Once descriptors are free again the server answers (after its header timeout at most).
    let deadline = Instant::now() + Duration::from_secs(30);
    for attempt in 0.. {
        // A fresh body each time: a signed body is accepted once.
        let status = server.push(&format!(r#"{{"after":"{attempt}"}}"#));
        if status.contains("200") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no answer after the storm: {status:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
