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
use gitops::notifiers::receiver::{Kind, Outcome, Receiver};
use gitops::notifiers::server::{self, Limits, Reply, ServedRequest};

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
    // The server bounds what a client can hold: header and request timeouts, the body cap,
    // a connection cap, and backoff when `accept` fails (out of file descriptors).
    let limits = Limits::default().with_max_body(MAX_BODY);
    server::serve(listener, limits, move |request| {
        let receiver = Arc::clone(&receiver);
        async move { handle(&receiver, &request) }
    })
    .await;
    Ok(())
}

fn handle(receiver: &Receiver, request: &ServedRequest) -> Reply {
    let headers = request.header_pairs();
    match receiver.handle(&request.as_request(&headers)) {
        Ok(Outcome::Reconcile(objects)) => {
            for object in &objects {
                println!("reconcile {object}");
            }
            Reply::new(200, "reconciling")
        }
        Ok(Outcome::Pong) => Reply::new(200, "pong"),
        Ok(Outcome::Ignored { event }) => Reply::new(200, format!("ignored event {event:?}")),
        Err(error) => Reply::new(error.status(), error.to_string()),
    }
}
