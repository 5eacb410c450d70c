//! Notifiers against a local HTTP receiver started by the test (the real services cannot be
//! reached from here): exact payloads, retries, `Retry-After`, timeouts, redaction.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gitops_core::notify::Error as NotifyError;
use gitops_core::{Digest, DigestAlgorithm, Event, Notifier, ObjectRef, Revision, Severity};
use gitops_notify::receiver::{Kind, Outcome, Receiver, Request};
use gitops_notify::{Delivery, Discord, GitHubStatus, Slack, Webhook};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone, Debug)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A scripted HTTP/1.1 server: answers each request with the next scripted reply (the last
/// one repeats); `None` means "accept and never answer".
struct Receiving {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

async fn serve(replies: Vec<Option<(u16, &'static str, &'static str)>>) -> Receiving {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let log = requests.clone();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let reply = replies[n.min(replies.len() - 1)];
            n += 1;
            let log = log.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, content_length) = loop {
                    let read = socket.read(&mut chunk).await.unwrap_or(0);
                    if read == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..read]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse::<usize>().unwrap())
                            })
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while buf.len() < head_end + content_length {
                    let read = socket.read(&mut chunk).await.unwrap_or(0);
                    if read == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..read]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.lines();
                let mut first = lines.next().unwrap().split(' ');
                let (method, path) = (
                    first.next().unwrap().to_owned(),
                    first.next().unwrap().to_owned(),
                );
                let headers = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .collect();
                log.lock().unwrap().push(Recorded {
                    method,
                    path,
                    headers,
                    body: buf[head_end..].to_vec(),
                });
                let Some((status, extra_header, body)) = reply else {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                };
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n{extra_header}\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
            });
        }
    });
    Receiving { url, requests }
}

fn fast() -> Delivery {
    Delivery::default()
        .with_backoff(Duration::from_millis(10))
        .with_timeout(Duration::from_secs(5))
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn event(severity: Severity, reason: &str, message: &str) -> Event {
    let me = ObjectRef::new(
        "kustomize.toolkit.fluxcd.io",
        "v1",
        "Kustomization",
        Some("flux-system"),
        "apps",
    );
    Event::new(severity, me, reason, message)
        .with_revision(Some(Revision::named(
            "main",
            Digest::new(DigestAlgorithm::Sha1, SHA).unwrap(),
        )))
        .with_metadata("duration", "1.2s")
}

#[tokio::test]
async fn slack_webhook_posts_fluxs_attachment() {
    let server = serve(vec![Some((200, "", "ok"))]).await;
    let slack = Slack::webhook(
        &format!("{}/services/T0/B0/secret-part", server.url),
        fast(),
    )
    .unwrap()
    .with_username("gitops");
    slack
        .notify(&event(
            Severity::Error,
            "HealthCheckFailed",
            "Deployment/apps/api not ready",
        ))
        .await
        .unwrap();
    let requests = server.requests.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/services/T0/B0/secret-part")
    );
    assert_eq!(r.header("content-type"), Some("application/json"));
    let body = r.json();
    assert_eq!(body["username"], "gitops");
    let attachment = &body["attachments"][0];
    assert_eq!(attachment["color"], "danger");
    assert_eq!(attachment["author_name"], "Kustomization/flux-system/apps");
    assert_eq!(attachment["text"], "Deployment/apps/api not ready");
    assert_eq!(attachment["mrkdwn_in"], json!(["text"]));
    assert_eq!(
        attachment["fields"][0],
        json!({"title": "revision", "value": format!("main@sha1:{SHA}"), "short": false})
    );
    assert_eq!(
        attachment["fields"][1],
        json!({"title": "duration", "value": "1.2s", "short": false})
    );
    assert!(!format!("{slack:?}").contains("secret-part"));
}

#[tokio::test]
async fn slack_api_uses_the_token_and_reads_ok_false() {
    let server = serve(vec![Some((
        200,
        "",
        r#"{"ok":false,"error":"channel_not_found"}"#,
    ))])
    .await;
    let slack = Slack::api(
        &format!("{}/api/chat.postMessage", server.url),
        "xoxb-token",
        "#ops",
        fast(),
    )
    .unwrap();
    let err = slack
        .notify(&event(Severity::Info, "ReconciliationSucceeded", "applied"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Undeliverable { .. }), "{err}");
    assert!(err.to_string().contains("channel_not_found"));
    assert!(!err.to_string().contains("xoxb"));
    let r = server.requests.lock().unwrap()[0].clone();
    assert_eq!(r.header("authorization"), Some("Bearer xoxb-token"));
    assert_eq!(r.json()["channel"], "#ops");
    assert_eq!(r.json()["attachments"][0]["color"], "good");
}

#[tokio::test]
async fn discord_embeds_are_coloured_by_severity() {
    let server = serve(vec![Some((204, "", ""))]).await;
    let discord = Discord::webhook(&format!("{}/api/webhooks/1/tok", server.url), fast()).unwrap();
    discord
        .notify(&event(
            Severity::Error,
            "BuildFailed",
            "kustomization.yaml: bad patch",
        ))
        .await
        .unwrap();
    discord
        .notify(&event(Severity::Info, "ReconciliationSucceeded", "applied"))
        .await
        .unwrap();
    let requests = server.requests.lock().unwrap();
    let embed = &requests[0].json()["embeds"][0];
    assert_eq!(embed["color"], 0xe74c3c);
    assert_eq!(embed["title"], "Kustomization/flux-system/apps");
    assert_eq!(embed["description"], "kustomization.yaml: bad patch");
    assert_eq!(embed["footer"]["text"], "BuildFailed");
    assert_eq!(embed["fields"][0]["name"], "revision");
    assert!(embed["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(requests[1].json()["embeds"][0]["color"], 0x2ecc71);
}

#[tokio::test]
async fn github_status_on_the_revision_sha() {
    let server = serve(vec![Some((201, "", "{}"))]).await;
    let github = GitHubStatus::new(
        &format!("{}/api/v3", server.url),
        "acme",
        "fleet",
        "ghp_token",
        fast(),
    )
    .unwrap();
    github
        .notify(&event(
            Severity::Error,
            "ReconciliationFailed",
            "apply failed\nsecond line",
        ))
        .await
        .unwrap();
    let r = server.requests.lock().unwrap()[0].clone();
    assert_eq!(r.path, format!("/api/v3/repos/acme/fleet/statuses/{SHA}"));
    assert_eq!(r.header("authorization"), Some("Bearer ghp_token"));
    assert_eq!(r.header("accept"), Some("application/vnd.github+json"));
    assert!(r.header("user-agent").unwrap().starts_with("gitops-rs/"));
    assert_eq!(
        r.json(),
        json!({"state": "failure", "description": "apply failed", "context": "kustomization/apps"})
    );

    let no_commit = Event::new(
        Severity::Info,
        event(Severity::Info, "x", "y").involved_object,
        "ReconciliationSucceeded",
        "ok",
    );
    assert!(matches!(
        github.notify(&no_commit).await,
        Err(NotifyError::Undeliverable { .. })
    ));
    assert_eq!(
        GitHubStatus::payload(&event(Severity::Info, "Progressing", "x"))["state"],
        "pending"
    );
    assert_eq!(
        GitHubStatus::payload(&event(Severity::Info, "ReconciliationSucceeded", "x"))["state"],
        "success"
    );
}

#[tokio::test]
async fn signed_webhooks_verify_with_the_generic_hmac_receiver() {
    let server = serve(vec![Some((200, "", ""))]).await;
    let hook = Webhook::new(&format!("{}/events", server.url), fast())
        .unwrap()
        .with_hmac_key("shared-key");
    hook.notify(&event(Severity::Info, "ReconciliationSucceeded", "applied"))
        .await
        .unwrap();
    let r = server.requests.lock().unwrap()[0].clone();
    let body = r.json();
    assert_eq!(
        body["involvedObject"],
        json!({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "namespace": "flux-system", "name": "apps"})
    );
    assert_eq!(body["severity"], "info");
    assert_eq!(body["reason"], "ReconciliationSucceeded");
    assert_eq!(body["metadata"]["revision"], format!("main@sha1:{SHA}"));

    let receiver = Receiver::new(
        Kind::GenericHmac,
        "flux-system",
        "events",
        "shared-key",
        vec![],
    );
    let signature = r.header("x-signature").unwrap().to_owned();
    let headers = [("X-Signature", signature.as_str())];
    let request = Request {
        method: "POST",
        path: receiver.path(),
        headers: &headers,
        body: &r.body,
    };
    assert_eq!(receiver.handle(&request), Ok(Outcome::Reconcile(vec![])));
    let tampered = Request {
        body: b"{}",
        ..request
    };
    assert!(receiver.handle(&tampered).is_err());
}

#[tokio::test]
async fn retries_server_errors_then_succeeds() {
    let server = serve(vec![
        Some((500, "", "")),
        Some((503, "", "")),
        Some((200, "", "")),
    ])
    .await;
    let hook = Webhook::new(&server.url, fast()).unwrap();
    hook.notify(&event(Severity::Info, "x", "y")).await.unwrap();
    assert_eq!(server.requests.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let server = serve(vec![
        Some((429, "Retry-After: 1\r\n", "")),
        Some((200, "", "")),
    ])
    .await;
    let hook = Webhook::new(&server.url, fast()).unwrap();
    let started = Instant::now();
    hook.notify(&event(Severity::Info, "x", "y")).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "retried before Retry-After: {:?}",
        started.elapsed()
    );
    assert_eq!(server.requests.lock().unwrap().len(), 2);

    let server = serve(vec![Some((429, "Retry-After: 3600\r\n", ""))]).await;
    let hook = Webhook::new(&server.url, fast()).unwrap();
    let err = hook
        .notify(&event(Severity::Info, "x", "y"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::Rejected { status: 429, .. }),
        "{err}"
    );
    assert_eq!(
        server.requests.lock().unwrap().len(),
        1,
        "a Retry-After over the cap is not waited for"
    );
}

#[tokio::test]
async fn client_errors_are_not_retried_and_urls_stay_secret() {
    let server = serve(vec![Some((400, "", "bad"))]).await;
    let hook = Slack::webhook(
        &format!("{}/services/T0/B0/very-secret", server.url),
        fast(),
    )
    .unwrap();
    let err = hook
        .notify(&event(Severity::Info, "x", "y"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::Rejected { status: 400, .. }),
        "{err}"
    );
    assert_eq!(server.requests.lock().unwrap().len(), 1);
    assert!(!format!("{err} {err:?}").contains("very-secret"));
}

#[tokio::test]
async fn timeouts_end_in_a_bounded_failure() {
    let server = serve(vec![None]).await;
    let delivery = Delivery::default()
        .with_timeout(Duration::from_millis(200))
        .with_attempts(2)
        .with_backoff(Duration::from_millis(10));
    let hook = Webhook::new(&format!("{}/secret-path", server.url), delivery).unwrap();
    let err = hook
        .notify(&event(Severity::Info, "x", "y"))
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Unavailable { .. }), "{err}");
    assert!(
        std::error::Error::source(&err)
            .unwrap()
            .to_string()
            .contains("gave up after 2 attempts")
    );
    assert_eq!(server.requests.lock().unwrap().len(), 2);
    assert!(!format!("{err:?}").contains("secret-path"));
}

#[tokio::test]
async fn unreachable_receivers_fail_after_retries() {
    // Bind then drop a listener: the port is closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hook = Webhook::new(
        &format!("http://127.0.0.1:{port}/x"),
        fast().with_attempts(2),
    )
    .unwrap();
    assert!(matches!(
        hook.notify(&event(Severity::Info, "x", "y")).await,
        Err(NotifyError::Unavailable { .. })
    ));
}

#[tokio::test]
async fn hostile_retry_after_values_never_panic_or_stall() {
    for header in [
        "Retry-After: 1e300\r\n",
        "Retry-After: inf\r\n",
        "Retry-After: NaN\r\n",
        "Retry-After: -1\r\n",
        "Retry-After: 99999999999999999999999999999\r\n",
    ] {
        let server = serve(vec![Some((429, header, ""))]).await;
        let hook = Webhook::new(&server.url, fast().with_attempts(2)).unwrap();
        let started = Instant::now();
        let sent = tokio::spawn(async move { hook.notify(&event(Severity::Info, "x", "y")).await });
        let result = tokio::time::timeout(Duration::from_secs(10), sent)
            .await
            .unwrap_or_else(|_| panic!("{header:?}: still waiting after 10 s"))
            .unwrap_or_else(|e| panic!("{header:?}: the notifier panicked: {e}"));
        assert!(result.is_err(), "{header:?}");
        assert!(started.elapsed() < Duration::from_secs(5), "{header:?}");
    }
}

/// Answers every request `200 OK` with a body of 1 GiB, chunked or with a `Content-Length`;
/// returns its URL and how many body bytes it got out.
async fn serve_huge(chunked: bool) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 16 << 10];
                let _ = socket.read(&mut buf).await;
                const GIB: usize = 1 << 30;
                let head = if chunked {
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                        .to_owned()
                } else {
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {GIB}\r\nConnection: close\r\n\r\n")
                };
                if socket.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let piece = vec![b'x'; 64 << 10];
                let mut total = 0;
                while total < GIB {
                    let mut framed = Vec::new();
                    if chunked {
                        framed.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                    }
                    framed.extend_from_slice(&piece);
                    if chunked {
                        framed.extend_from_slice(b"\r\n");
                    }
                    if socket.write_all(&framed).await.is_err() {
                        return;
                    }
                    total += piece.len();
                    counter.fetch_add(piece.len(), Ordering::SeqCst);
                }
                if chunked {
                    let _ = socket.write_all(b"0\r\n\r\n").await;
                }
            });
        }
    });
    (url, sent)
}

#[tokio::test]
async fn oversized_answers_are_refused_without_reading_them_whole() {
    for chunked in [true, false] {
        let (url, sent) = serve_huge(chunked).await;
        let slack = Slack::api(
            &format!("{url}/api/chat.postMessage"),
            "xoxb-token",
            "#ops",
            fast(),
        )
        .unwrap();
        let started = Instant::now();
        let err = tokio::time::timeout(
            Duration::from_secs(60),
            slack.notify(&event(Severity::Error, "x", "y")),
        )
        .await
        .expect("refused in bounded time")
        .unwrap_err();
        let chain = format!(
            "{err}: {}",
            std::error::Error::source(&err)
                .map(ToString::to_string)
                .unwrap_or_default()
        );
        assert!(chain.contains("byte limit"), "chunked={chunked}: {chain}");
        let out = sent.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            out < 64 << 20,
            "chunked={chunked}: {out} bytes sent before the notifier stopped"
        );
        eprintln!(
            "chunked={chunked}: refused after {:?}, {out} bytes sent",
            started.elapsed()
        );
    }
}
