//! `server::serve` against clients that try to hold it: slow headers, slow bodies, big bodies,
//! more connections than it serves at once.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gitops_notify::server::{self, Limits, Reply};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Starts a server whose handler answers `200 <body length>` after `delay`, and counts how many
/// handlers run at once (the most ever seen).
async fn start(limits: Limits, delay: Duration) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let seen = most.clone();
    tokio::spawn(server::serve(listener, limits, move |request| {
        let (running, most) = (running.clone(), most.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            running.fetch_sub(1, Ordering::SeqCst);
            Reply::new(200, request.body.len().to_string())
        }
    }));
    (addr, seen)
}

/// Reads until the server closes; `None` when it is still open after `patience`. A reset is a
/// close too: a server that closes a socket with unread request bytes makes the kernel send an
/// RST instead of a FIN, which the read sees as an error.
async fn until_closed(stream: &mut TcpStream, patience: Duration) -> Option<String> {
    let mut answer = Vec::new();
    match tokio::time::timeout(patience, stream.read_to_end(&mut answer)).await {
        Err(_still_open) => None,
        Ok(_closed_or_reset) => Some(String::from_utf8_lossy(&answer).into_owned()),
    }
}

async fn post(addr: &str, body: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    until_closed(&mut stream, Duration::from_secs(10))
        .await
        .unwrap_or_default()
}

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    let limits = Limits::default()
        .with_header_timeout(Duration::from_millis(300))
        .with_request_timeout(Duration::from_secs(1));
    let (addr, _) = start(limits, Duration::ZERO).await;

    // Slowloris: a header line now and then, never the end of the head.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"POST /hook HTTP/1.1\r\n").await.unwrap();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _ = slow.write_all(b"X-A: b\r\n").await;
    }
    assert!(
        until_closed(&mut slow, Duration::from_secs(5))
            .await
            .is_some(),
        "still open after 5 s"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // A complete head, then a body that never finishes.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let started = Instant::now();
    slow.write_all(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        .await
        .unwrap();
    assert!(
        until_closed(&mut slow, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    assert!(post(&addr, b"hello").await.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn bodies_over_the_limit_get_413() {
    let (addr, _) = start(Limits::default().with_max_body(1024), Duration::ZERO).await;
    assert!(post(&addr, &[b'a'; 1024]).await.starts_with("HTTP/1.1 200"));
    let answer = post(&addr, &vec![b'a'; 4 << 20]).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer:?}");
}

#[tokio::test]
async fn connections_past_the_cap_wait_for_a_slot() {
    let limits = Limits::default()
        .with_max_connections(2)
        .with_header_timeout(Duration::from_millis(500));
    let (addr, most) = start(limits, Duration::from_millis(200)).await;
    let mut clients = tokio::task::JoinSet::new();
    for i in 0..8 {
        let addr = addr.clone();
        clients.spawn(async move { post(&addr, format!("{i}").as_bytes()).await });
    }
    while let Some(answer) = clients.join_next().await {
        assert!(answer.unwrap().starts_with("HTTP/1.1 200"));
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "never more than the cap at once"
    );

    // Two idle connections take both slots; a third request is served once the header
    // timeout frees one.
    let _idle: Vec<TcpStream> = vec![
        TcpStream::connect(&addr).await.unwrap(),
        TcpStream::connect(&addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(50)).await;
    let started = Instant::now();
    assert!(post(&addr, b"late").await.starts_with("HTTP/1.1 200"));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}
