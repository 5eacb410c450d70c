//! The controller's HTTP endpoints for Prometheus and the kubelet: `/metrics` (the
//! [`Metrics`] registry under Flux's names), `/healthz` and `/readyz`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::sync::atomic::AtomicBool;
//! use gitops_controller::metrics_server::serve;
//! use gitops_flux::metrics::Metrics;
//!
//! # async fn run() -> std::io::Result<()> {
//! let metrics = Arc::new(Metrics::new());
//! let ready = Arc::new(AtomicBool::new(false));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! serve(listener, metrics, ready).await
//! # }
//! ```

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gitops_flux::metrics::{CONTENT_TYPE, Metrics};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE as CONTENT_TYPE_HEADER, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

/// How long a connection may take to send a request's headers before it is closed.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How long [`serve`] waits before accepting again after the process ran out of resources.
const ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Serves the controller's HTTP endpoints on `listener` until the returned future is dropped:
///
/// - `GET /metrics`: [`Metrics::encode`] with [`CONTENT_TYPE`];
/// - `GET /healthz`: 200 `ok`;
/// - `GET /readyz`: 200 `ok` while `ready` is true, else 503 `not ready`;
/// - anything else: 404. `HEAD` is answered like `GET`, without the body.
///
/// HTTP/1.1 with keep-alive; a client has 10 seconds to send a request's headers.
///
/// # Cancellation
/// Dropping the future closes the listener and every open connection.
///
/// # Errors
/// Failures of single connections are skipped, and running out of file descriptors or memory
/// is retried after a second. Only an error that says the listener itself is unusable
/// (`InvalidInput`, for example a socket that is not listening) ends the server.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
) -> io::Result<()> {
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    // Owning the connection tasks here ties their lifetime to this future: dropping it drops
    // the set, which aborts them.
    let mut connections = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _peer)) => stream,
            Err(error) if is_connection_error(&error) => continue,
            Err(error) if error.kind() == io::ErrorKind::InvalidInput => return Err(error),
            Err(_) => {
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        // Reap finished connections so the set holds only open ones.
        while connections.try_join_next().is_some() {}

        let metrics = metrics.clone();
        let ready = ready.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            let response = respond(&request, &metrics, &ready);
            async move { Ok::<_, Infallible>(response) }
        });
        let connection = http.serve_connection(TokioIo::new(stream), service);
        connections.spawn(async move {
            // A client that goes away mid-request is its own problem, not the server's.
            let _ = connection.await;
        });
    }
}

/// Accept errors that concern one connection only.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    )
}

/// The response to one request; [`serve`]'s routes.
fn respond<B>(
    request: &Request<B>,
    metrics: &Metrics,
    ready: &AtomicBool,
) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let readable = matches!(*request.method(), Method::GET | Method::HEAD);
    let (status, content_type, body) = match request.uri().path() {
        "/metrics" if readable => (StatusCode::OK, CONTENT_TYPE, metrics.encode()),
        "/healthz" if readable => (StatusCode::OK, TEXT, "ok\n".to_owned()),
        "/readyz" if readable && ready.load(Ordering::Acquire) => {
            (StatusCode::OK, TEXT, "ok\n".to_owned())
        }
        "/readyz" if readable => (
            StatusCode::SERVICE_UNAVAILABLE,
            TEXT,
            "not ready\n".to_owned(),
        ),
        _ => (StatusCode::NOT_FOUND, TEXT, "not found\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE_HEADER, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The value of the sample line that starts with `series` (name and labels), if any.
    fn sample(text: &str, series: &str) -> Option<f64> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|value| value.split(' ').next()?.parse().ok())
    }

    fn condition_series(status: &str) -> String {
        format!(
            r#"gotk_reconcile_condition{{kind="Kustomization",name="apps",namespace="flux-system",type="Ready",status="{status}"}}"#
        )
    }

    /// Sends one raw HTTP/1.1 request over a real TCP connection; returns status and the
    /// whole response (headers and body).
    async fn get(addr: std::net::SocketAddr, method: &str, path: &str) -> (u16, String) {
        let request =
            format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        let response = tokio::task::spawn_blocking(move || -> io::Result<String> {
            use std::io::{Read, Write};
            let mut stream = std::net::TcpStream::connect(addr)?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            stream.write_all(request.as_bytes())?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            Ok(response)
        })
        .await
        .expect("the request task does not panic")
        .expect("the server answers");
        let status = response
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {response:?}"));
        (status, response)
    }

    fn body(response: &str) -> &str {
        response.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }

    #[tokio::test]
    async fn serves_metrics_health_and_readiness_over_tcp() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let metrics = Arc::new(Metrics::new());
        let ready = Arc::new(AtomicBool::new(false));
        metrics.record_condition("Kustomization", "flux-system", "apps", "Ready", "True");
        let server = tokio::spawn(serve(listener, metrics.clone(), ready.clone()));

        let (status, response) = get(addr, "GET", "/metrics").await;
        assert_eq!(status, 200, "{response}");
        assert!(
            response
                .to_ascii_lowercase()
                .contains(&format!("content-type: {CONTENT_TYPE}\r\n")),
            "{response}"
        );
        assert_eq!(
            sample(body(&response), &condition_series("True")),
            Some(1.0)
        );
        assert!(body(&response).ends_with("# EOF\n"), "{response}");

        let (status, response) = get(addr, "GET", "/healthz").await;
        assert_eq!((status, body(&response)), (200, "ok\n"));

        let (status, response) = get(addr, "GET", "/readyz").await;
        assert_eq!((status, body(&response)), (503, "not ready\n"));
        ready.store(true, Ordering::Release);
        let (status, response) = get(addr, "GET", "/readyz").await;
        assert_eq!((status, body(&response)), (200, "ok\n"));

        let (status, response) = get(addr, "HEAD", "/healthz").await;
        assert_eq!((status, body(&response)), (200, ""));

        let (status, _) = get(addr, "GET", "/nope").await;
        assert_eq!(status, 404);
        let (status, _) = get(addr, "POST", "/metrics").await;
        assert_eq!(status, 404);

        server.abort();
        let _ = server.await;
        // The listener is closed once the server future is gone.
        let refused = tokio::task::spawn_blocking(move || std::net::TcpStream::connect(addr))
            .await
            .expect("the connect task does not panic");
        assert!(refused.is_err());
    }
}
