//! Property tests of webhook verification: arbitrary requests never panic, and a valid
//! signature stops being valid when the body changes.
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use gitops_core::ObjectRef;
use gitops_notify::receiver::{Error, Kind, Outcome, Receiver, Request};
use hmac::{Hmac, Mac};
use proptest::prelude::*;

fn kinds() -> [Kind; 4] {
    [Kind::GitHub, Kind::GitLab, Kind::GenericHmac, Kind::Generic]
}

fn receiver(kind: Kind) -> Receiver {
    let target = ObjectRef::new(
        "source.toolkit.fluxcd.io",
        "v1",
        "GitRepository",
        Some("flux-system"),
        "flux-system",
    );
    Receiver::new(kind, "flux-system", "hook", "s3cret", vec![target]).with_max_body(4096)
}

fn sign(body: &[u8]) -> String {
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(b"s3cret").unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Header names the receivers read, and others.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(vec![
            "X-Hub-Signature-256",
            "x-hub-signature-256",
            "X-GitHub-Event",
            "X-GitHub-Delivery",
            "X-Gitlab-Token",
            "X-Gitlab-Event",
            "X-Signature",
        ])
        .prop_map(str::to_owned),
        "\\PC{0,16}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "sha256=[0-9a-f]{0,70}",
        "sha256=\\PC{0,70}",
        "\\PC{0,80}",
        Just("s3cret".to_owned()),
        Just("push".to_owned()),
    ]
}

proptest! {
    #[test]
    fn fuzz_receiver_requests(
        method in prop_oneof![Just("POST".to_owned()), "\\PC{0,8}"],
        right_path in any::<bool>(),
        path in "\\PC{0,80}",
        headers in proptest::collection::vec((header_name(), header_value()), 0..8),
        body in proptest::collection::vec(any::<u8>(), 0..6000),
    ) {
        for kind in kinds() {
            let generic = kind == Kind::Generic;
            let r = receiver(kind);
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let path = if right_path { r.path().to_owned() } else { path.clone() };
            let outcome = r.handle(&Request { method: &method, path: &path, headers: &headers, body: &body });
            if let Err(error) = &outcome {
                prop_assert!((400..500).contains(&error.status()), "{error}");
            }
            // Without the token or a signature made with it, only a generic receiver on its
            // secret path acts.
            if matches!(outcome, Ok(Outcome::Reconcile(_))) && !generic {
                let signed = sign(&body);
                prop_assert!(
                    headers.iter().any(|(_, v)| *v == signed || *v == "s3cret"),
                    "accepted without credentials: {headers:?}"
                );
            }
        }
    }

    #[test]
    fn fuzz_signature_over_a_mutated_body_fails(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        mutation in 0usize..3,
        at in any::<usize>(),
        byte in 1u8..=255,
    ) {
        let signature = sign(&body);
        let mut mutated = body.clone();
        match mutation {
            0 if !mutated.is_empty() => {
                let i = at % mutated.len();
                mutated[i] ^= byte;
            }
            1 if !mutated.is_empty() => {
                mutated.truncate(at % mutated.len());
            }
            _ => mutated.push(byte),
        }
        for (kind, header) in [(Kind::GitHub, "X-Hub-Signature-256"), (Kind::GenericHmac, "X-Signature")] {
            let r = receiver(kind);
            let headers = [(header, signature.as_str()), ("X-GitHub-Event", "push")];
            let outcome = r.handle(&Request { method: "POST", path: r.path(), headers: &headers, body: &mutated });
            prop_assert_eq!(outcome, Err(Error::Unauthorized));
            let valid = r.handle(&Request { method: "POST", path: r.path(), headers: &headers, body: &body });
            prop_assert!(valid.is_ok(), "{valid:?}");
        }
    }
}
