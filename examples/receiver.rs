//! A webhook receiver server: verifies pushes from GitHub, GitLab or a generic sender and says
//! which source to reconcile. A host wires the outcome to its reconcile loop; this example
//! prints it.
//!
//! ```text
//! cargo run --example receiver --features notify -- --kind github --token s3cret --listen 127.0.0.1:9292
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use gitops::ObjectRef;
use gitops::notifiers::receiver::{Kind, Outcome, Receiver, Request};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;

#[derive(Clone, Copy, ValueEnum)]
enum KindArg {
    Github,
    Gitlab,
    GenericHmac,
    Generic,
}

#[derive(Parser)]
struct Args {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:9292")]
    listen: SocketAddr,
    /// The receiver type.
    #[arg(long, value_enum, default_value = "github")]
    kind: KindArg,
    /// The shared token (HMAC key for GitHub and generic-hmac).
    #[arg(long)]
    token: String,
    /// The GitRepository to reconcile on a push, `namespace/name`.
    #[arg(long, default_value = "flux-system/flux-system")]
    source: String,
}

const MAX_BODY: usize = 1 << 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (namespace, name) = args
        .source
        .split_once('/')
        .unwrap_or(("flux-system", args.source.as_str()));
    let kind = match args.kind {
        KindArg::Github => Kind::GitHub,
        KindArg::Gitlab => Kind::GitLab,
        KindArg::GenericHmac => Kind::GenericHmac,
        KindArg::Generic => Kind::Generic,
    };
    let source = ObjectRef::new(
        "source.toolkit.fluxcd.io",
        "v1",
        "GitRepository",
        Some(namespace),
        name,
    );
    let receiver = Arc::new(
        Receiver::new(
            kind,
            namespace,
            "receiver",
            args.token.into_bytes(),
            vec![source],
        )
        .with_max_body(MAX_BODY),
    );
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    println!(
        "listening on http://{}{}",
        listener.local_addr()?,
        receiver.path()
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let receiver = receiver.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(receiver.clone(), request));
            if let Err(error) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                eprintln!("connection error: {error}");
            }
        });
    }
}

async fn handle(
    receiver: Arc<Receiver>,
    request: hyper::Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    // Read at most one byte over the limit, so oversized bodies are refused without buffering them.
    let body = match Limited::new(body, MAX_BODY + 1).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Ok(reply(StatusCode::PAYLOAD_TOO_LARGE, "body too large")),
    };
    let headers: Vec<(&str, &str)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.to_str().ok()?)))
        .collect();
    let request = Request {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        headers: &headers,
        body: &body,
    };
    Ok(match receiver.handle(&request) {
        Ok(Outcome::Reconcile(objects)) => {
            for object in &objects {
                println!("reconcile {object}");
            }
            reply(StatusCode::OK, "reconciling")
        }
        Ok(Outcome::Pong) => reply(StatusCode::OK, "pong"),
        Ok(Outcome::Ignored { event }) => {
            reply(StatusCode::OK, &format!("ignored event {event:?}"))
        }
        Err(error) => reply(
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::BAD_REQUEST),
            &error.to_string(),
        ),
    })
}

fn reply(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_owned())));
    *response.status_mut() = status;
    response
}
