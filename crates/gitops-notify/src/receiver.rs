//! Webhook receivers: verify an incoming request and say which objects to reconcile.
//!
//! Hosting is the caller's: pass the method, path, headers and body of a request to
//! [`Receiver::handle`] from any HTTP server, and map [`Error::status`] to the response.
//!
//! Like Flux, every receiver listens on a secret path, `/hook/<sha256(token + name + namespace)>`
//! ([`Receiver::path`]); on top of that GitHub requests must carry a valid
//! `X-Hub-Signature-256`, GitLab requests the token in `X-Gitlab-Token`, and generic HMAC
//! requests a valid `X-Signature`. Bodies over the size limit are refused before any work.
//!
//! # Replays
//! A GitHub delivery is refused when its body was handled before. The key is the SHA-256 of
//! the body, which the signature covers, and not `X-GitHub-Delivery`: that header is not signed,
//! so a replay with a fresh made-up id would pass a check keyed on it. GitHub signs no
//! timestamp, and every push payload differs (commits, `before`/`after`), so an identical signed
//! body is a replay; GitHub's own "redeliver" of a handled delivery is refused too, which is
//! harmless (the reconcile it asks for was requested). The last 4096 bodies are remembered.
//!
//! Generic HMAC and GitLab requests are not de-duplicated: their senders sign (or carry a token
//! with) the body alone, with no timestamp, and legitimately send the same body again to ask
//! for another reconcile. A replay there can only ask for a reconcile, which is idempotent.

use std::collections::VecDeque;
use std::sync::Mutex;

use gitops_core::ObjectRef;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a request was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Only POST is accepted.
    #[error("method {0} not allowed")]
    Method(String),
    /// The path is not this receiver's secret path.
    #[error("unknown path")]
    NotFound,
    /// The body is over the limit.
    #[error("body of {size} bytes is over the {limit} byte limit")]
    TooLarge {
        /// The body's size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The signature or token header is missing.
    #[error("missing {0} header")]
    MissingCredential(&'static str),
    /// The signature or token does not match.
    #[error("invalid signature or token")]
    Unauthorized,
    /// A signed body handled before (`sha256:<hex>` of the body).
    #[error("delivery {0} was already handled")]
    Replayed(String),
}

impl Error {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            Self::Method(_) => 405,
            Self::NotFound => 404,
            Self::TooLarge { .. } => 413,
            Self::MissingCredential(_) | Self::Unauthorized => 401,
            Self::Replayed(_) => 409,
        }
    }
}

/// The receiver types.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// GitHub: `X-Hub-Signature-256` HMAC of the body under the token.
    GitHub,
    /// GitLab: the token in `X-Gitlab-Token`.
    GitLab,
    /// Generic with `X-Signature: sha256=<hex>` HMAC of the body under the token.
    GenericHmac,
    /// Generic: the secret path alone.
    Generic,
}

/// What a verified request asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Reconcile these objects now.
    Reconcile(Vec<ObjectRef>),
    /// A GitHub ping: answer 200, do nothing.
    Pong,
    /// A verified event of a type this receiver does not act on.
    Ignored {
        /// The event type.
        event: String,
    },
}

/// An incoming request, as any HTTP server can describe it.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// `POST`, …
    pub method: &'a str,
    /// The URL path.
    pub path: &'a str,
    /// The headers, names in any case.
    pub headers: &'a [(&'a str, &'a str)],
    /// The body.
    pub body: &'a [u8],
}

impl Request<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// One receiver (Flux's `Receiver` object).
pub struct Receiver {
    kind: Kind,
    token: Vec<u8>,
    path: String,
    events: Vec<String>,
    resources: Vec<ObjectRef>,
    max_body: usize,
    deliveries: Mutex<VecDeque<String>>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("events", &self.events)
            .field("resources", &self.resources)
            .field("token", &"<redacted>")
            .finish()
    }
}

const REMEMBERED_DELIVERIES: usize = 4096;

impl Receiver {
    /// A receiver named `namespace/name` with the shared `token`, reconciling `resources`.
    ///
    /// The accepted event types default to pushes (`push` for GitHub, `Push Hook` and
    /// `Tag Push Hook` for GitLab); generic receivers take every request.
    pub fn new(
        kind: Kind,
        namespace: &str,
        name: &str,
        token: impl Into<Vec<u8>>,
        resources: Vec<ObjectRef>,
    ) -> Self {
        let token = token.into();
        let mut digest = Sha256::new();
        digest.update(&token);
        digest.update(name.as_bytes());
        digest.update(namespace.as_bytes());
        let events = match kind {
            Kind::GitHub => vec!["push".to_owned()],
            Kind::GitLab => vec!["Push Hook".to_owned(), "Tag Push Hook".to_owned()],
            Kind::GenericHmac | Kind::Generic => Vec::new(),
        };
        Self {
            kind,
            token,
            path: format!("/hook/{}", hex::encode(digest.finalize())),
            events,
            resources,
            max_body: 1 << 20,
            deliveries: Mutex::new(VecDeque::new()),
        }
    }

    /// Accepts these event types instead of the default.
    pub fn with_events(mut self, events: Vec<String>) -> Self {
        self.events = events;
        self
    }

    /// Sets the body size limit (1 MiB by default).
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The secret path this receiver answers on.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Verifies a request and says what to do.
    pub fn handle(&self, request: &Request<'_>) -> Result<Outcome, Error> {
        if !request.method.eq_ignore_ascii_case("POST") {
            return Err(Error::Method(request.method.to_owned()));
        }
        let path_ok: bool = request
            .path
            .trim_end_matches('/')
            .as_bytes()
            .ct_eq(self.path.as_bytes())
            .into();
        if !path_ok {
            return Err(Error::NotFound);
        }
        if request.body.len() > self.max_body {
            return Err(Error::TooLarge {
                size: request.body.len(),
                limit: self.max_body,
            });
        }
        let event = match self.kind {
            Kind::GitHub => {
                let signature = request
                    .header("X-Hub-Signature-256")
                    .ok_or(Error::MissingCredential("X-Hub-Signature-256"))?;
                verify_hmac(&self.token, request.body, signature)?;
                // Keyed on what the signature covers; see the module docs on replays.
                self.remember(&format!(
                    "sha256:{}",
                    hex::encode(Sha256::digest(request.body))
                ))?;
                let event = request.header("X-GitHub-Event").unwrap_or("").to_owned();
                if event == "ping" {
                    return Ok(Outcome::Pong);
                }
                event
            }
            Kind::GitLab => {
                let token = request
                    .header("X-Gitlab-Token")
                    .ok_or(Error::MissingCredential("X-Gitlab-Token"))?;
                if !bool::from(token.as_bytes().ct_eq(&self.token)) {
                    return Err(Error::Unauthorized);
                }
                request.header("X-Gitlab-Event").unwrap_or("").to_owned()
            }
            Kind::GenericHmac => {
                let signature = request
                    .header("X-Signature")
                    .ok_or(Error::MissingCredential("X-Signature"))?;
                verify_hmac(&self.token, request.body, signature)?;
                String::new()
            }
            Kind::Generic => String::new(),
        };
        if !self.events.is_empty() && !self.events.contains(&event) {
            return Ok(Outcome::Ignored { event });
        }
        Ok(Outcome::Reconcile(self.resources.clone()))
    }

    fn remember(&self, delivery: &str) -> Result<(), Error> {
        let mut seen = self
            .deliveries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.iter().any(|d| d == delivery) {
            return Err(Error::Replayed(delivery.to_owned()));
        }
        if seen.len() == REMEMBERED_DELIVERIES {
            seen.pop_front();
        }
        seen.push_back(delivery.to_owned());
        Ok(())
    }
}

/// Checks `sha256=<hex>` against the body's HMAC in constant time.
fn verify_hmac(key: &[u8], body: &[u8], signature: &str) -> Result<(), Error> {
    let hex_part = signature
        .strip_prefix("sha256=")
        .ok_or(Error::Unauthorized)?;
    let expected = hex::decode(hex_part).map_err(|_| Error::Unauthorized)?;
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    mac.verify_slice(&expected).map_err(|_| Error::Unauthorized)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::sign;

    fn target() -> Vec<ObjectRef> {
        vec![ObjectRef::new(
            "source.toolkit.fluxcd.io",
            "v1",
            "GitRepository",
            Some("flux-system"),
            "flux-system",
        )]
    }

    #[test]
    fn github_push_ping_replay_and_bad_signatures() {
        let r = Receiver::new(Kind::GitHub, "flux-system", "github", "s3cret", target());
        let request = |event: &str, delivery: &str, body: &[u8], sig: &str| {
            let headers = [
                ("X-Hub-Signature-256", sig),
                ("x-github-event", event),
                ("X-GitHub-Delivery", delivery),
            ];
            r.handle(&Request {
                method: "POST",
                path: r.path(),
                headers: &headers,
                body,
            })
        };
        let signed = |body: &[u8]| sign(b"s3cret", body);
        let push = br#"{"ref":"refs/heads/main","after":"1"}"#;
        assert_eq!(
            request("push", "d1", push, &signed(push)),
            Ok(Outcome::Reconcile(target()))
        );
        assert!(matches!(
            request("push", "d1", push, &signed(push)),
            Err(Error::Replayed(_))
        ));
        let ping = br#"{"zen":"ok"}"#;
        assert_eq!(
            request("ping", "d2", ping, &signed(ping)),
            Ok(Outcome::Pong)
        );
        let issue = br#"{"issue":1}"#;
        assert_eq!(
            request("issues", "d3", issue, &signed(issue)),
            Ok(Outcome::Ignored {
                event: "issues".into()
            })
        );
        let other = br#"{"ref":"refs/heads/main","after":"2"}"#;
        assert_eq!(
            request("push", "d4", other, &sign(b"wrong", other)),
            Err(Error::Unauthorized)
        );
        assert_eq!(
            request("push", "d5", other, "sha256=zz"),
            Err(Error::Unauthorized)
        );
        let headers = [("X-GitHub-Event", "push")];
        let missing = r.handle(&Request {
            method: "POST",
            path: r.path(),
            headers: &headers,
            body: other,
        });
        assert_eq!(missing.unwrap_err().status(), 401);
        assert_eq!(
            request("push", "d6", other, &signed(other)),
            Ok(Outcome::Reconcile(target())),
            "refused requests are not remembered"
        );
    }

    #[test]
    fn replays_with_a_fresh_unsigned_delivery_id_are_refused() {
        let r = Receiver::new(Kind::GitHub, "flux-system", "github", "s3cret", target());
        let body = br#"{"ref":"refs/heads/main","after":"abc"}"#;
        let sig = sign(b"s3cret", body);
        let send = |delivery: Option<&str>, event: &str| {
            let mut headers = vec![
                ("X-Hub-Signature-256", sig.as_str()),
                ("X-GitHub-Event", event),
            ];
            if let Some(delivery) = delivery {
                headers.push(("X-GitHub-Delivery", delivery));
            }
            r.handle(&Request {
                method: "POST",
                path: r.path(),
                headers: &headers,
                body,
            })
        };
        assert_eq!(
            send(Some("original"), "push"),
            Ok(Outcome::Reconcile(target()))
        );
        // An attacker who captured the request replays it with the unsigned headers changed.
        for (delivery, event) in [
            (Some("forged-1"), "push"),
            (None, "push"),
            (Some("forged-2"), "ping"),
        ] {
            let replay = send(delivery, event);
            assert!(
                matches!(replay, Err(Error::Replayed(ref key)) if key.starts_with("sha256:")),
                "{delivery:?}/{event}: {replay:?}"
            );
            assert_eq!(replay.unwrap_err().status(), 409);
        }
    }

    #[test]
    fn gitlab_generic_paths_methods_and_sizes() {
        let r = Receiver::new(Kind::GitLab, "ns", "gl", "tok", target());
        let ok = [("X-Gitlab-Token", "tok"), ("X-Gitlab-Event", "Push Hook")];
        assert!(matches!(
            r.handle(&Request {
                method: "POST",
                path: r.path(),
                headers: &ok,
                body: b"{}"
            }),
            Ok(Outcome::Reconcile(_))
        ));
        let bad = [("X-Gitlab-Token", "nope"), ("X-Gitlab-Event", "Push Hook")];
        assert_eq!(
            r.handle(&Request {
                method: "POST",
                path: r.path(),
                headers: &bad,
                body: b"{}"
            }),
            Err(Error::Unauthorized)
        );
        assert_eq!(
            r.handle(&Request {
                method: "GET",
                path: r.path(),
                headers: &ok,
                body: b""
            })
            .unwrap_err()
            .status(),
            405
        );
        assert_eq!(
            r.handle(&Request {
                method: "POST",
                path: "/hook/abc",
                headers: &ok,
                body: b""
            }),
            Err(Error::NotFound)
        );

        let h = Receiver::new(Kind::GenericHmac, "ns", "h", "key", target()).with_max_body(8);
        let body = b"{\"a\":1}";
        let sig = sign(b"key", body);
        let headers = [("X-Signature", sig.as_str())];
        assert!(
            h.handle(&Request {
                method: "POST",
                path: h.path(),
                headers: &headers,
                body
            })
            .is_ok()
        );
        let big = h.handle(&Request {
            method: "POST",
            path: h.path(),
            headers: &headers,
            body: b"0123456789",
        });
        assert_eq!(big.unwrap_err().status(), 413);

        let g = Receiver::new(Kind::Generic, "ns", "g", "t", target());
        assert!(
            g.handle(&Request {
                method: "POST",
                path: g.path(),
                headers: &[],
                body: b""
            })
            .is_ok()
        );
        assert_ne!(
            g.path(),
            Receiver::new(Kind::Generic, "ns", "other", "t", target()).path()
        );
    }
}
