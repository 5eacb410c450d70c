//! A small HTTP/1.1 server for [`receiver`](crate::receiver)s that a hostile client cannot hold
//! or starve (feature `server`).
//!
//! [`serve`] accepts connections on a listener and hands each request, its body read whole, to
//! a handler. A webhook endpoint faces the internet, so every resource a client can tie up is
//! bounded by [`Limits`]:
//! - **headers**: a client must send its request head within `header_timeout` (10 s): a
//!   slowloris client that trickles header bytes is disconnected;
//! - **body**: at most `max_body` bytes (1 MiB, answered `413`), received within
//!   `request_timeout` of the connection's start (30 s), which also bounds a slow body;
//! - **connections**: at most `max_connections` (256) are served at once; past that the
//!   server stops accepting and lets the kernel's backlog hold new ones, instead of spending a
//!   task and a file descriptor on each;
//! - **accept errors** (`EMFILE`, `ENFILE`, `ENOBUFS`…): the loop backs off, from 10 ms
//!   doubling to `max_accept_backoff` (1 s), instead of spinning on a failing `accept` at
//!   full CPU; the first success resets it;
//! - one request per connection (no keep-alive): webhook senders open a connection per
//!   delivery, and an idle kept-alive connection would be one more thing to time out.
//!
//! ```no_run
//! use gitops_notify::receiver::{Kind, Receiver};
//! use gitops_notify::server::{self, Limits, Reply};
//!
//! # async fn run() -> std::io::Result<()> {
//! let receiver = std::sync::Arc::new(Receiver::new(Kind::GitHub, "flux-system", "github", "s3cret", Vec::new()));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9292").await?;
//! server::serve(listener, Limits::default(), move |request| {
//!     let receiver = receiver.clone();
//!     async move {
//!         match receiver.handle(&request.as_request(&request.header_pairs())) {
//!             Ok(_) => Reply::new(200, "ok"),
//!             Err(refused) => Reply::new(refused.status(), refused.to_string()),
//!         }
//!     }
//! })
//! .await;
//! # Ok(())
//! # }
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::receiver::Request;

/// What one client may hold; see the [module docs](self).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Time to receive the request line and headers.
    pub header_timeout: Duration,
    /// Time from accepting a connection to having its whole request (headers and body).
    pub request_timeout: Duration,
    /// The largest body accepted.
    pub max_body: usize,
    /// Connections served at once.
    pub max_connections: usize,
    /// The longest pause after failing `accept`s.
    pub max_accept_backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_body: 1 << 20,
            max_connections: 256,
            max_accept_backoff: Duration::from_secs(1),
        }
    }
}

impl Limits {
    /// Sets the header timeout.
    pub fn with_header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Sets the whole-request timeout.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Sets the body limit.
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// Sets the number of connections served at once (at least 1).
    pub fn with_max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections.max(1);
        self
    }

    /// Sets the longest pause after failing `accept`s.
    pub fn with_max_accept_backoff(mut self, backoff: Duration) -> Self {
        self.max_accept_backoff = backoff;
        self
    }
}

/// A request as [`serve`] hands it over: who sent it, and all of it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServedRequest {
    /// The client's address.
    pub peer: SocketAddr,
    /// The method.
    pub method: String,
    /// The URL path.
    pub path: String,
    /// The headers with UTF-8 values (others are dropped), in order.
    pub headers: Vec<(String, String)>,
    /// The body, at most [`Limits::max_body`] bytes.
    pub body: Bytes,
}

impl ServedRequest {
    /// The headers as borrowed pairs, for [`ServedRequest::as_request`].
    pub fn header_pairs(&self) -> Vec<(&str, &str)> {
        self.headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// The request in the form [`Receiver::handle`](crate::receiver::Receiver::handle) takes.
    pub fn as_request<'a>(&'a self, headers: &'a [(&'a str, &'a str)]) -> Request<'a> {
        Request {
            method: &self.method,
            path: &self.path,
            headers,
            body: &self.body,
        }
    }
}

/// A handler's answer: a status and a plain-text body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The body, sent as text.
    pub body: String,
}

impl Reply {
    /// A reply.
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
        }
    }
}

/// Serves `listener` until the task is dropped, within `limits` (see the [module docs](self)).
pub async fn serve<H, F>(listener: TcpListener, limits: Limits, handler: H)
where
    H: Fn(ServedRequest) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Reply> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let first_backoff = Duration::from_millis(10).min(limits.max_accept_backoff);
    let mut backoff = first_backoff;
    loop {
        // Take a slot before accepting: at the cap, new connections wait in the kernel's
        // backlog instead of costing a task and a descriptor each.
        let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
            return; // The semaphore is never closed; this only ends the loop if it were.
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff = first_backoff;
                accepted
            }
            Err(_) => {
                // Out of descriptors or buffers, or a connection reset before we took it:
                // retrying at once would spin; waiting lets connections finish and free them.
                drop(slot);
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2).min(limits.max_accept_backoff);
                continue;
            }
        };
        let handler = handler.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            let _slot = slot;
            let service_limits = limits.clone();
            let service = service_fn(move |request| {
                let handler = handler.clone();
                let limits = service_limits.clone();
                async move { Ok::<_, Infallible>(answer(peer, request, &limits, handler).await) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            // Dropping the connection future closes the socket: the whole exchange, slow body
            // included, gets `request_timeout`.
            let _ = tokio::time::timeout(limits.request_timeout, connection).await;
        });
    }
}

async fn answer<H, F>(
    peer: SocketAddr,
    request: hyper::Request<Incoming>,
    limits: &Limits,
    handler: H,
) -> Response<Full<Bytes>>
where
    H: Fn(ServedRequest) -> F,
    F: Future<Output = Reply>,
{
    let (parts, body) = request.into_parts();
    // One byte over the limit is enough to know; the rest is never buffered.
    let body = match Limited::new(body, limits.max_body.saturating_add(1))
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "body too large or cut off"),
    };
    if body.len() > limits.max_body {
        return text(StatusCode::PAYLOAD_TOO_LARGE, "body too large");
    }
    let headers = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let reply = handler(ServedRequest {
        peer,
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        headers,
        body,
    })
    .await;
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    text(status, &reply.body)
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response
}
