//! The scanner against the real `docker-registry` instances of the test environment: one with
//! htpasswd basic auth, one with bearer tokens verified by the registry itself.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gitops_core::ImageScanner;
use gitops_core::image::ScanError;
use gitops_core::image::policy::{Choice, Policy};
use gitops_registry::{Credentials, DockerConfig, RegistryScanner};
use gitops_testenv::RegistryServer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";

/// Pushes one small image and then `tags` more tags of the same manifest, 16 at a time.
async fn push_tags(
    registry: &'static RegistryServer,
    repo: &'static str,
    tags: Vec<String>,
) -> String {
    let config = registry.push_blob(repo, b"{}").await.unwrap();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": 2},
        "layers": [],
    }))
    .unwrap();
    let manifest: Arc<[u8]> = manifest.into();
    let mut digest = String::new();
    for chunk in tags.chunks(16) {
        let mut set = tokio::task::JoinSet::new();
        for tag in chunk {
            let (tag, manifest) = (tag.clone(), manifest.clone());
            set.spawn(async move {
                registry
                    .push_manifest(repo, &tag, OCI_MANIFEST, &manifest)
                    .await
                    .unwrap()
            });
        }
        while let Some(d) = set.join_next().await {
            digest = d.unwrap();
        }
    }
    digest
}

fn scanner(registry: &RegistryServer) -> RegistryScanner {
    RegistryScanner::new()
        .unwrap()
        .with_insecure(true)
        .with_retries(3, Duration::from_millis(20))
        .with_credentials(Credentials::basic(registry.username(), registry.password()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_thousands_of_tags_across_pages_on_both_registries() {
    let Some(env) = gitops_testenv::require_registry() else {
        return;
    };
    // The token registry costs a token request per push, so it gets fewer tags; both span pages.
    for (registry, count) in [(&env.basic, 1_200), (&env.token, 300)] {
        let mut pushed: Vec<String> = (0..count)
            .map(|i| format!("1.{}.{}", i / 100, i % 100))
            .collect();
        pushed.extend((0..5).map(|i| format!("sha256-{i:064}.sig")));
        pushed.push("latest".into());
        let digest = push_tags(registry, "team/many", pushed.clone()).await;

        let scanner = scanner(registry).with_page_size(100);
        let listed = scanner
            .list_tags(&format!("{}/team/many", registry.addr()))
            .await
            .unwrap();
        assert_eq!(
            listed.len(),
            pushed.len(),
            "every page followed ({:?})",
            registry.auth()
        );
        assert_eq!(
            listed.iter().collect::<BTreeSet<_>>(),
            pushed.iter().collect::<BTreeSet<_>>()
        );

        let result = scanner
            .scan(&format!("{}/team/many", registry.addr()))
            .await
            .unwrap();
        assert_eq!(
            result.tags.len(),
            pushed.len() - 5,
            "Flux's default exclusion drops .sig tags"
        );
        assert!(result.tags.iter().all(|t| !t.ends_with(".sig")));

        let policy = Policy::new(Choice::Semver(">=1.0.0".parse().unwrap()));
        let newest = format!("1.{}.99", count / 100 - 1);
        assert_eq!(
            policy
                .latest(result.tags.iter().map(String::as_str))
                .unwrap(),
            newest
        );

        let found = scanner
            .digest(&format!("{}/team/many", registry.addr()), &newest)
            .await
            .unwrap();
        assert_eq!(found, digest);
    }
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_auth_errors() {
    let Some(env) = gitops_testenv::require_registry() else {
        return;
    };
    for registry in env.servers() {
        registry
            .push_image(
                "team/private",
                "v1.0.0",
                "application/vnd.oci.image.config.v1+json",
                b"{}",
                &[],
            )
            .await
            .unwrap();
        let repo = format!("{}/team/private", registry.addr());
        let wrong = scanner(registry)
            .with_credentials(Credentials::basic(registry.username(), "wrong-password"));
        let err = wrong.scan(&repo).await.unwrap_err();
        assert!(
            matches!(err, ScanError::Auth { .. }),
            "{:?}: {err}",
            registry.auth()
        );
        assert!(!format!("{err:?}").contains("wrong-password"));
        let anonymous = scanner(registry).with_credentials(Credentials::Anonymous);
        assert!(matches!(
            anonymous.scan(&repo).await.unwrap_err(),
            ScanError::Auth { .. }
        ));
    }
}

#[tokio::test]
async fn docker_config_credentials_with_a_scheme_in_the_key() {
    let Some(env) = gitops_testenv::require_registry() else {
        return;
    };
    let registry = &env.token;
    registry
        .push_image(
            "team/cfg",
            "2.0.0",
            "application/vnd.oci.image.config.v1+json",
            b"{}",
            &[],
        )
        .await
        .unwrap();
    let config = serde_json::json!({"auths": {format!("http://{}/v1/", registry.addr()): {"username": registry.username(), "password": registry.password()}}});
    let config = DockerConfig::parse(config.to_string().as_bytes()).unwrap();
    let scanner = scanner(registry).with_credentials(Credentials::DockerConfig(config));
    let tags = scanner
        .list_tags(&format!("{}/team/cfg", registry.addr()))
        .await
        .unwrap();
    assert_eq!(tags, ["2.0.0"]);
}

#[tokio::test]
async fn unknown_repositories_and_stopped_registries() {
    let Some(env) = gitops_testenv::require_registry() else {
        return;
    };
    for registry in env.servers() {
        let err = scanner(registry)
            .scan(&format!("{}/team/does-not-exist", registry.addr()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, ScanError::NotFound { .. }),
            "{:?}: {err}",
            registry.auth()
        );
    }
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = scanner(&env.basic)
        .scan(&format!("127.0.0.1:{port}/team/app"))
        .await
        .unwrap_err();
    assert!(matches!(err, ScanError::Unavailable { .. }), "{err}");
    assert!(err.is_transient());
}

/// A fault injector in front of the real registry: answers the first `faults` requests itself
/// with `reply`, then forwards every connection to the registry untouched.
async fn faulty_proxy(
    upstream: String,
    faults: usize,
    reply: &'static str,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let upstream = upstream.clone();
            tokio::spawn(async move {
                if n < faults {
                    let mut buf = [0u8; 8192];
                    let _ = client.read(&mut buf).await;
                    let _ = client.write_all(reply.as_bytes()).await;
                    return;
                }
                let Ok(mut server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn rate_limits_are_honoured_and_bounded() {
    let Some(env) = gitops_testenv::require_registry() else {
        return;
    };
    let registry = &env.basic;
    registry
        .push_image(
            "team/limited",
            "1.0.0",
            "application/vnd.oci.image.config.v1+json",
            b"{}",
            &[],
        )
        .await
        .unwrap();
    let reply = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let (proxy, seen) = faulty_proxy(registry.addr(), 1, reply).await;
    let started = Instant::now();
    let tags = scanner(registry)
        .list_tags(&format!("{proxy}/team/limited"))
        .await
        .unwrap();
    assert_eq!(tags, ["1.0.0"]);
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "waited for Retry-After"
    );
    assert!(seen.load(Ordering::SeqCst) >= 2);

    let long = "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3600\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let (proxy, seen) = faulty_proxy(registry.addr(), usize::MAX, long).await;
    let err = scanner(registry)
        .list_tags(&format!("{proxy}/team/limited"))
        .await
        .unwrap_err();
    assert!(matches!(err, ScanError::Unavailable { .. }), "{err}");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "no hour-long wait, no hammering"
    );
}

#[tokio::test]
async fn malformed_answers_are_clear_errors() {
    let Some(env) = gitops_testenv::require_registry() else {
        return;
    };
    let reply = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{\"tags\":[";
    let (proxy, _) = faulty_proxy(env.basic.addr(), usize::MAX, reply).await;
    let err = scanner(&env.basic)
        .list_tags(&format!("{proxy}/team/any"))
        .await
        .unwrap_err();
    assert!(matches!(err, ScanError::InvalidResponse { .. }), "{err}");
    assert!(err.to_string().contains("not JSON"), "{err}");
}

#[tokio::test]
async fn server_errors_and_hostile_retry_after_end_in_bounded_time() {
    let Some(env) = gitops_testenv::require_registry() else {
        return;
    };
    let registry = &env.basic;
    registry
        .push_image(
            "team/flaky",
            "2.0.0",
            "application/vnd.oci.image.config.v1+json",
            b"{}",
            &[],
        )
        .await
        .unwrap();
    let error_500 =
        "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

    // A failure, then the real registry answers (its auth challenge takes an attempt too):
    // the scan succeeds.
    let (proxy, seen) = faulty_proxy(registry.addr(), 1, error_500).await;
    let tags = scanner(registry)
        .list_tags(&format!("{proxy}/team/flaky"))
        .await
        .unwrap();
    assert_eq!(tags, ["2.0.0"]);
    assert!(seen.load(Ordering::SeqCst) >= 2);

    // Failing for good: a transient error after exactly the configured attempts.
    let (proxy, seen) = faulty_proxy(registry.addr(), usize::MAX, error_500).await;
    let started = Instant::now();
    let err = scanner(registry)
        .list_tags(&format!("{proxy}/team/flaky"))
        .await
        .unwrap_err();
    assert!(matches!(err, ScanError::Unavailable { .. }), "{err}");
    assert!(err.is_transient(), "{err}");
    assert_eq!(seen.load(Ordering::SeqCst), 3, "3 attempts, no more");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // Values a registry may send in Retry-After: never a panic, never a long sleep.
    for value in [
        "1e300",
        "inf",
        "NaN",
        "-5",
        "99999999999999999999999999",
        "18446744073709551615",
    ] {
        let reply: &'static str = Box::leak(
            format!("HTTP/1.1 429 Too Many Requests\r\nRetry-After: {value}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .into_boxed_str(),
        );
        let (proxy, _) = faulty_proxy(registry.addr(), usize::MAX, reply).await;
        let started = Instant::now();
        let scan = tokio::spawn({
            let scanner = scanner(registry);
            let repository = format!("{proxy}/team/flaky");
            async move { scanner.list_tags(&repository).await }
        });
        let err = tokio::time::timeout(Duration::from_secs(10), scan)
            .await
            .unwrap_or_else(|_| panic!("Retry-After {value}: still waiting after 10 s"))
            .unwrap_or_else(|e| panic!("Retry-After {value}: the scan panicked: {e}"))
            .unwrap_err();
        assert!(
            matches!(err, ScanError::Unavailable { .. }),
            "Retry-After {value}: {err}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "Retry-After {value}"
        );
    }
}

/// A server that answers every tag list with `body_bytes` of a never-ending JSON string, sent
/// as `framing` says; returns its address and how many body bytes it managed to send.
async fn oversized_server(chunked: bool, token_realm: bool) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let realm = format!("http://{addr}/token");
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            let realm = realm.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 8192];
                let n = client.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                if token_realm && head.starts_with("GET /v2/") && !head.contains("Authorization") {
                    let challenge = format!(
                        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"{realm}\",service=\"big\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = client.write_all(challenge.as_bytes()).await;
                    return;
                }
                const GIB: usize = 1 << 30;
                let header = if chunked {
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_owned()
                } else {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {GIB}\r\nConnection: close\r\n\r\n"
                    )
                };
                if client.write_all(header.as_bytes()).await.is_err() {
                    return;
                }
                let piece = vec![b'a'; 64 << 10];
                let mut total = 0;
                while total < GIB {
                    let written = if chunked {
                        let mut framed = format!("{:x}\r\n", piece.len()).into_bytes();
                        framed.extend_from_slice(&piece);
                        framed.extend_from_slice(b"\r\n");
                        client.write_all(&framed).await
                    } else {
                        client.write_all(&piece).await
                    };
                    if written.is_err() {
                        return;
                    }
                    total += piece.len();
                    counter.fetch_add(piece.len(), Ordering::SeqCst);
                }
            });
        }
    });
    (addr, sent)
}

#[tokio::test]
async fn oversized_bodies_are_refused_without_reading_them_whole() {
    // No real registry sends a 1 GiB answer; a small local server does (see the brief on fakes:
    // this stands in for a hostile registry, not for the distribution API).
    for (chunked, token) in [(true, false), (false, false), (true, true)] {
        let (addr, sent) = oversized_server(chunked, token).await;
        let started = Instant::now();
        let scanner = RegistryScanner::new()
            .unwrap()
            .with_insecure(true)
            .with_retries(1, Duration::from_millis(10));
        let err = tokio::time::timeout(
            Duration::from_secs(60),
            scanner.list_tags(&format!("{addr}/team/huge")),
        )
        .await
        .expect("refused in bounded time")
        .unwrap_err();
        let case = format!("chunked={chunked} token={token}");
        assert!(
            matches!(err, ScanError::InvalidResponse { .. }),
            "{case}: {err}"
        );
        assert!(
            err.to_string().contains("byte limit"),
            "{case}: names the limit: {err}"
        );
        let read = sent.load(Ordering::SeqCst);
        assert!(
            read < 2 * gitops_registry::DEFAULT_MAX_BODY,
            "{case}: the server got {read} bytes out before the scanner stopped reading"
        );
        eprintln!(
            "{case}: refused after {:?}, {read} bytes sent",
            started.elapsed()
        );
    }
}
